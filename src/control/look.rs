//! A look at a pidfile, as `status` and `stop` take it: the file checked and read,
//! the PID it names, and who holds its lock. Nothing is locked to find out.

use core::ffi::CStr;
use rustix::fd::OwnedFd;
use rustix::fs::{self, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;
use rustix::process::{getpid, Pid};

use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::holder;
use crate::pidfile::{self, Content, Runs};

pub(super) fn nul_error() -> Error {
    Error::invalid("pidfile path contains a NUL byte")
}

/// Who holds a pidfile's lock.
pub(super) enum Holder {
    /// The process the pidfile names.
    Named(Pid),
    /// Someone not named, on a file whose mode lets nobody but its owner (and root)
    /// open it, and so lock it: a starting daemon that has not written its PID yet.
    Starting,
    /// Nobody: the daemon is gone.
    Nobody,
    /// A process the file does not name.
    Other,
}

/// What a look at a pidfile found.
pub(super) struct Seen {
    pub(super) file: OwnedFd,
    pub(super) st: Stat,
    /// The PID it names.
    pub(super) pid: Option<Pid>,
    /// Whether it holds nothing but whitespace.
    pub(super) empty: bool,
    /// The monitor's runs line.
    pub(super) runs: Option<Runs>,
    pub(super) holder: Holder,
}

/// Opens the pidfile and says which PID it names and who holds its lock. Errors are
/// made in `err`, the caller's slot: returned by value, each `?` copied one.
pub(super) fn look(path: &CStr, err: &mut Error) -> Result<Option<Seen>, Failed> {
    let Some((file, st, (content, runs))) = open_pidfile(path, err)? else {
        return Ok(None);
    };
    let pid = or_return!(named(content), |()| Error::fill(
        err,
        ErrorKind::MalformedPidfile,
        None
    )
    .push_path(path.to_bytes())
    .failed());
    let empty = content == Content::Empty;
    if let Some(pid) = pid {
        match holder::holds(pid, &st) {
            Ok(true) => {
                let holder = Holder::Named(pid);
                return Ok(Some(Seen {
                    file,
                    st,
                    pid: Some(pid),
                    empty,
                    runs,
                    holder,
                }));
            }
            Ok(false) | Err(Errno::SRCH) => {}
            Err(e) => return Err(unseen(path, e, err)),
        }
    }
    let locked = match holder::locked(&st) {
        Some(locked) => locked,
        // Without /proc: a shared lock for an instant (a starter waits it out).
        None => {
            or_return!(probe(&file), |e| Error::fill(
                err,
                ErrorKind::LockPidfile,
                Some(e)
            )
            .push_path(path.to_bytes())
            .failed())
        }
    };
    // Only its owner and root can open a file no one else may read, so a lock on it
    // that the named PID does not hold is a starter's that has not written its PID yet
    // (or not yet replaced a dead daemon's); on any other file, a stranger's.
    let holder = match locked {
        false => Holder::Nobody,
        true if st.st_mode & 0o077 == 0 => Holder::Starting,
        true => Holder::Other,
    };
    Ok(Some(Seen {
        file,
        st,
        pid,
        empty,
        runs,
        holder,
    }))
}

/// We may not look at who holds the lock (another user's daemon, for anyone but root).
pub(super) fn unseen(path: &CStr, e: Errno, err: &mut Error) -> Failed {
    read_error(path, e, err)
        .push_text(b": cannot see who holds its lock")
        .failed()
}

/// The pidfile could not be read.
pub(super) fn read_error<'e>(path: &CStr, e: Errno, err: &'e mut Error) -> &'e mut Error {
    Error::fill(err, ErrorKind::ReadPidfile, Some(e)).push_path(path.to_bytes())
}

/// What a pidfile holds: its content, and a monitor's runs line.
pub(super) type Read = (Content, Option<Runs>);

/// Opens a pidfile to read it: `Ok(None)` when there is none. Refuses, as
/// start-stop-daemon does, a symlink, a hard link, something other than a regular
/// file, a file owned by a user other than root or us, or one writable by others.
fn open_pidfile(path: &CStr, err: &mut Error) -> Result<Option<(OwnedFd, Stat, Read)>, Failed> {
    let bytes = path.to_bytes();
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let file = match fs::open(path, flags, Mode::empty()) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => return Err(pidfile::insecure(bytes, 0).put(err)),
        Err(e) => return Err(read_error(path, e, err).failed()),
    };
    let st = or_return!(fs::fstat(&file), |e| read_error(path, e, err).failed());
    if st.st_nlink == 0 {
        return Ok(None); // removed since our open
    }
    if let Err(why) = pidfile::check(&st, 0o002) {
        return Err(pidfile::insecure(bytes, why).put(err));
    }
    let content = or_return!(pidfile::read_all(&file), |e| read_error(path, e, err)
        .failed());
    Ok(Some((file, st, content)))
}

/// The PID a pidfile's content names: `Ok(None)` when empty, `Err` when it is not a
/// PID, or a PID above the kernel's `pid_max`. Our own PID names no daemon (a
/// container restarted with the same small PIDs).
pub(super) fn named(content: Content) -> Result<Option<Pid>, ()> {
    match content {
        Content::Empty => Ok(None),
        Content::Pid(pid) if pid.as_raw_nonzero().get() > pid_max() => Err(()),
        Content::Pid(pid) if pid == getpid() => Ok(None),
        Content::Pid(pid) => Ok(Some(pid)),
        Content::Other => Err(()),
    }
}

/// The kernel's largest PID (`/proc/sys/kernel/pid_max`), or its ceiling, 2^22.
pub(super) fn pid_max() -> i32 {
    const CEILING: i32 = 1 << 22;
    let Ok(file) = fs::open(
        c"/proc/sys/kernel/pid_max",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return CEILING;
    };
    let mut buf = [0u8; 16];
    let n = rustix::io::read(&file, &mut buf).unwrap_or(0);
    crate::text::parse_decimal(crate::text::trim(&buf[..n]))
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(CEILING)
}

/// Whether another process holds a lock on `file`, tested with a shared lock that is
/// released at once (a starter's exclusive attempt meanwhile is retried): only where
/// `/proc/locks` cannot say.
pub(super) fn probe(file: &OwnedFd) -> Result<bool, Errno> {
    match fs::flock(file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => fs::flock(file, FlockOperation::Unlock).map(|()| false),
        Err(Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}
