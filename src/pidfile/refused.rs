//! Why a pidfile was not taken: [`Refused`], and the errors it becomes.

use rustix::io::Errno;
use rustix::process::Pid;

use crate::error::{frame, Error, ErrorKind, Failed};

/// Why a pidfile was not taken, until it becomes an [`Error`] naming the path: eight
/// bytes, so the steps return it in registers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refused {
    /// Opening, locking, reading or writing the file failed.
    Open(Errno),
    Lock(Errno),
    Read(Errno),
    Write(Errno),
    /// The file is not one to trust: the reason, an index of [`REFUSALS`].
    Insecure(u8),
    /// The daemon holds the lock: the PID the file names (none yet while it starts).
    Running(Option<Pid>),
    /// A process the file does not name holds the lock; the PID it names.
    Foreign(Option<Pid>),
    /// The path names no file (it ends with `/`, `.` or `..`).
    NoFile,
    /// The path changed under us: start over.
    Retry,
}

/// Why a file is not a pidfile to trust, each ended by a NUL ([`crate::text::nth`]).
pub(crate) const REFUSALS: &[u8] = concat!(
    ": it is a symbolic link\0",
    ": it is a directory\0",
    ": it is not a regular file\0",
    ": it has more than one hard link\0",
    ": it is owned by another user\0",
    ": it is writable by others\0",
    ": it is writable by its group\0",
    ": it holds something other than a PID\0",
)
.as_bytes();
pub(super) const SYMLINK: u8 = 0;
pub(super) const DIRECTORY: u8 = 1;
pub(super) const NOT_PIDLIKE: u8 = 7;

impl Refused {
    /// The failed system call's errno (`EINVAL` for a refusal that has none).
    pub(super) fn errno(self) -> Errno {
        match self {
            Refused::Open(e) | Refused::Lock(e) | Refused::Read(e) | Refused::Write(e) => e,
            _ => Errno::INVAL,
        }
    }

    /// The error, naming `path`, as a value (for the control functions, which
    /// return it).
    pub(crate) fn error(self, path: &[u8]) -> Error {
        let mut err = Error::new(ErrorKind::Died);
        let _ = self.put(path, &mut err);
        err
    }

    /// The error, naming `path`, made in `err`: every refusal is text, perhaps a
    /// PID, text, the path, and text, so one sequence of pushes makes them all.
    #[cold]
    #[inline(never)]
    pub(crate) fn put(self, path: &[u8], err: &mut Error) -> Failed {
        use ErrorKind as K;
        let os = |kind, e| (kind, Some(e), &b""[..], None, &b""[..], &b""[..]);
        let (kind, errno, head, pid, middle, tail) = match self {
            Refused::Open(e) => os(K::OpenPidfile, e),
            Refused::Lock(e) => os(K::LockPidfile, e),
            Refused::Read(e) => os(K::ReadPidfile, e),
            Refused::Write(e) => os(K::WritePidfile, e),
            Refused::Retry => os(K::LockPidfile, Errno::AGAIN),
            Refused::Insecure(why) => {
                let why = crate::text::nth(REFUSALS, usize::from(why));
                (K::InsecurePidfile, None, &b""[..], None, &b""[..], why)
            }
            Refused::Running(Some(pid)) => {
                let kind = K::AlreadyRunning { pid: Some(pid) };
                (
                    kind,
                    None,
                    &b"pid "[..],
                    Some(pid),
                    &b"; pidfile "[..],
                    &b""[..],
                )
            }
            Refused::Running(None) => (
                K::AlreadyRunning { pid: None },
                None,
                &b"pid unknown; pidfile "[..],
                None,
                &b""[..],
                &b" is locked"[..],
            ),
            Refused::Foreign(pid) => return crate::holder::put_foreign(path, pid, err),
            Refused::NoFile => (
                K::InvalidOption,
                None,
                &b"pidfile path "[..],
                None,
                &b""[..],
                &b" names no file"[..],
            ),
        };
        let frame = match kind {
            K::OpenPidfile => frame(K::OpenPidfile),
            K::LockPidfile => frame(K::LockPidfile),
            K::ReadPidfile => frame(K::ReadPidfile),
            K::WritePidfile => frame(K::WritePidfile),
            K::InsecurePidfile => frame(K::InsecurePidfile),
            K::AlreadyRunning { .. } => frame(K::AlreadyRunning { pid: None }),
            _ => frame(K::InvalidOption),
        };
        let e = Error::fill_framed(err, kind, errno, frame).push_text(head);
        if let Some(pid) = pid {
            e.push_number(pid.as_raw_nonzero().get() as u64)
                .push_text(middle);
        }
        e.push_path(path).push_text(tail).failed()
    }
}

/// The error for a pidfile refused for reason `why` (an index of [`REFUSALS`]).
pub(crate) fn insecure(path: &[u8], why: u8) -> Error {
    Refused::Insecure(why).error(path)
}
