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

/// Why a file is not a pidfile to trust, each ended by a NUL ([`crate::text::nth`]),
/// and after them the other texts of [`Refused::put`]'s errors, by index.
pub(crate) const REFUSALS: &[u8] = concat!(
    ": it is a symbolic link\0",
    ": it is a directory\0",
    ": it is not a regular file\0",
    ": it has more than one hard link\0",
    ": it is owned by another user\0",
    ": it is writable by others\0",
    ": it is writable by its group\0",
    ": it holds something other than a PID\0",
    "\0",
    "pid \0",
    "pid unknown; pidfile \0",
    "pidfile path \0",
    " is locked\0",
    " names no file\0",
)
.as_bytes();
pub(super) const SYMLINK: u8 = 0;
pub(super) const DIRECTORY: u8 = 1;
pub(super) const NOT_PIDLIKE: u8 = 7;
const NONE: u8 = 8;
const PID: u8 = 9;
const PID_UNKNOWN: u8 = 10;
const PATH: u8 = 11;
const LOCKED: u8 = 12;
const NO_FILE: u8 = 13;
const _: () = assert!(crate::text::count(REFUSALS) == 14);

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

    /// The error, naming `path`, made in `err`: every refusal is its kind's frame,
    /// a text (perhaps followed by a PID), the path and a text, the texts picked
    /// by their index in [`REFUSALS`], so that one sequence of pushes makes them all.
    #[cold]
    #[inline(never)]
    pub(crate) fn put(self, path: &[u8], err: &mut Error) -> Failed {
        use ErrorKind as K;
        let os = |kind, e| (kind, frame(kind), Some(e), NONE, NONE);
        let (kind, frame, errno, head, tail) = match self {
            Refused::Open(e) => os(K::OpenPidfile, e),
            Refused::Lock(e) => os(K::LockPidfile, e),
            Refused::Read(e) => os(K::ReadPidfile, e),
            Refused::Write(e) => os(K::WritePidfile, e),
            Refused::Retry => os(K::LockPidfile, Errno::AGAIN),
            Refused::Insecure(why) => {
                let kind = K::InsecurePidfile;
                (kind, frame(kind), None, NONE, why)
            }
            Refused::Running(pid) => {
                let frame = frame(K::AlreadyRunning { pid: None });
                let head = if pid.is_some() { PID } else { PID_UNKNOWN };
                let tail = if pid.is_some() { NONE } else { LOCKED };
                (K::AlreadyRunning { pid }, frame, None, head, tail)
            }
            Refused::Foreign(pid) => return crate::holder::put_foreign(path, pid, err),
            Refused::NoFile => {
                let kind = K::InvalidOption;
                (kind, frame(kind), None, PATH, NO_FILE)
            }
        };
        let text = |i: u8| crate::text::nth(REFUSALS, usize::from(i));
        let e = Error::fill_framed(err, kind, errno, frame).push_text(text(head));
        if let Refused::Running(Some(pid)) = self {
            e.push_number(pid.as_raw_nonzero().get() as u64)
                .push_text(b"; pidfile ");
        }
        e.push_path(path).push_text(text(tail)).failed()
    }
}

/// The error for a pidfile refused for reason `why` (an index of [`REFUSALS`]).
pub(crate) fn insecure(path: &[u8], why: u8) -> Error {
    Refused::Insecure(why).error(path)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn each_refusal_reads_as_it_always_has() {
        let pid = Pid::from_raw(42);
        let shown = |r: Refused| r.error(b"/run/a.pid").to_string();
        let cases = [
            (
                Refused::Running(pid),
                "already running (pid 42; pidfile /run/a.pid)",
            ),
            (
                Refused::Running(None),
                "already running (pid unknown; pidfile /run/a.pid is locked)",
            ),
            (
                Refused::NoFile,
                "invalid option: pidfile path /run/a.pid names no file",
            ),
            (
                Refused::Insecure(NOT_PIDLIKE),
                "refusing pidfile /run/a.pid: it holds something other than a PID",
            ),
            (
                Refused::Foreign(pid),
                "pidfile /run/a.pid is locked, but not by pid 42",
            ),
        ];
        for (refused, text) in cases {
            assert_eq!(shown(refused), text);
        }
        let open = shown(Refused::Open(Errno::ACCESS));
        assert!(
            open.starts_with("cannot open pidfile /run/a.pid: "),
            "{open}"
        );
        let retry = shown(Refused::Retry);
        assert!(
            retry.starts_with("cannot lock pidfile /run/a.pid: "),
            "{retry}"
        );
    }
}
