//! Why a pidfile was not taken: [`Refused`], and the errors it becomes.

use rustix::io::Errno;
use rustix::process::Pid;

use crate::error::{frame, Error, ErrorKind};

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

    #[cold]
    #[inline(never)]
    pub(crate) fn error(self, path: &[u8]) -> Error {
        use ErrorKind as K;
        let (kind, frame, errno, why) = match self {
            Refused::Open(e) => (K::OpenPidfile, frame(K::OpenPidfile), Some(e), ""),
            Refused::Lock(e) => (K::LockPidfile, frame(K::LockPidfile), Some(e), ""),
            Refused::Read(e) => (K::ReadPidfile, frame(K::ReadPidfile), Some(e), ""),
            Refused::Write(e) => (K::WritePidfile, frame(K::WritePidfile), Some(e), ""),
            Refused::Retry => (
                K::LockPidfile,
                frame(K::LockPidfile),
                Some(Errno::AGAIN),
                "",
            ),
            Refused::Insecure(why) => return insecure(path, why),
            Refused::Running(pid) => return already_running(pid, path),
            Refused::Foreign(pid) => return crate::holder::foreign(path, pid),
            Refused::NoFile => {
                return Error::invalid("pidfile path ")
                    .path(path)
                    .text(" names no file")
            }
        };
        Error::framed(kind, frame)
            .with_errno(errno)
            .path(path)
            .text(why)
    }
}

/// The error for a pidfile refused for reason `why` (an index of [`REFUSALS`]).
pub(crate) fn insecure(path: &[u8], why: u8) -> Error {
    let why = crate::text::nth(REFUSALS, usize::from(why));
    Error::new(ErrorKind::InsecurePidfile).path(path).text(why)
}

pub(crate) fn already_running(pid: Option<Pid>, path: &[u8]) -> Error {
    let e = Error::new(ErrorKind::AlreadyRunning { pid });
    match pid {
        Some(pid) => e
            .text("pid ")
            .number(pid.as_raw_nonzero().get() as u64)
            .text("; pidfile ")
            .path(path),
        None => e
            .text("pid unknown; pidfile ")
            .path(path)
            .text(" is locked"),
    }
}
