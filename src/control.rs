//! Control over a running daemon through its pidfile: `status`, `stop`, and the stop
//! schedule; `restart` is [`Daemon::restart`](crate::Daemon::restart).
//!
//! The pidfile's lock, not the PID in it, says whether the daemon lives: after a crash
//! the PID may belong to an unrelated process, and a signal sent to it would hit that
//! process. And a lock alone vouches for nothing (anyone who can open the file can
//! take one): a PID is believed only when that very process holds the lock on that
//! very file ([`crate::holder`]). Nothing here takes a lock, so asking never makes a
//! start or a removal fail.

use core::ffi::CStr;
use core::time::Duration;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;
use rustix::process::{
    getpid, kill_process, pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal,
};

use crate::channel;
use crate::error::{Error, ErrorKind};
use crate::holder;
use crate::path::IntoCPath;
use crate::pidfile::{self, Content, Runs};
use crate::schedule::{Schedule, Step};

/// What a pidfile says about its daemon, with the LSB exit codes of an init script's
/// `status` action ([`exit_code`](Status::exit_code)).
#[derive(Debug)]
pub enum Status {
    /// The pidfile is locked: the daemon runs. `pid` is `None` while a starting daemon
    /// has not written it yet. LSB code 0.
    Running {
        /// The PID the pidfile names.
        pid: Option<Pid>,
        /// Under a monitor ([`Daemon::supervise`](crate::Daemon::supervise)), once the
        /// program's first run has ended: its restarts and how the last run ended.
        runs: Option<Runs>,
    },
    /// The pidfile names a PID but nobody holds its lock: the daemon died without
    /// removing it. The PID may now belong to an unrelated process. LSB code 1.
    Stale {
        /// The PID the pidfile names.
        pid: Option<Pid>,
    },
    /// There is no pidfile, or an empty one nobody locks (left by a daemon that could
    /// not remove it, such as one that dropped privileges). LSB code 3.
    NotRunning,
    /// The pidfile cannot be trusted or read: a symlink, a hard link, not a regular
    /// file, owned by another user, writable by others, unreadable, or holding
    /// something other than a PID. LSB code 4.
    Unknown(Error),
}

impl Status {
    /// The LSB exit code: 0 running, 1 stale pidfile, 3 not running, 4 unknown.
    pub fn exit_code(&self) -> i32 {
        match self {
            Status::Running { .. } => 0,
            Status::Stale { .. } => 1,
            Status::NotRunning => 3,
            Status::Unknown(_) => 4,
        }
    }
}

/// Reports whether the daemon of the pidfile at `path` runs.
///
/// Running means: the pidfile names a process, and that process holds the pidfile's
/// lock (`/proc/PID/fdinfo` shows it). A lock held by anyone else is
/// [`Status::Unknown`] ([`ErrorKind::ForeignLock`]), never "running". A locked file
/// that names no PID yet is a daemon starting. Nothing is locked to find out. A PID
/// equal to our own is treated as no PID (a container restarted with the same small
/// PIDs).
///
/// Who can ask: root, and the pidfile's owner for their own daemons (the default mode,
/// 0600, lets nobody else open the file).
///
/// ```no_run
/// use daemonic::{status, Status};
///
/// match status("/run/app.pid") {
///     Status::Running { pid: Some(pid), .. } => println!("running as {}", pid.as_raw_nonzero()),
///     other => std::process::exit(other.exit_code()),
/// }
/// ```
pub fn status<'a>(path: impl IntoCPath<'a>) -> Status {
    let path = match path.into_c_path() {
        Ok(path) => path,
        Err(_) => return Status::Unknown(nul_error()),
    };
    let path = path.as_c_str();
    match look(path) {
        Ok(None) => Status::NotRunning,
        Ok(Some(seen)) => match seen.holder {
            Holder::Named(pid) => Status::Running {
                pid: Some(pid),
                runs: seen.runs,
            },
            Holder::Starting => Status::Running {
                pid: None,
                runs: None,
            },
            // No PID, no dead daemon to speak of: an empty file is what a daemon that
            // dropped privileges leaves (it may not remove a root-owned pidfile), and
            // what a start holds for an instant before its lock.
            Holder::Nobody if seen.empty => Status::NotRunning,
            Holder::Nobody => Status::Stale { pid: seen.pid },
            Holder::Other => Status::Unknown(holder::foreign(path.to_bytes(), seen.pid)),
        },
        Err(err) => Status::Unknown(err),
    }
}

fn nul_error() -> Error {
    Error::invalid("pidfile path contains a NUL byte")
}

/// Who holds a pidfile's lock.
enum Holder {
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
struct Seen {
    file: OwnedFd,
    st: Stat,
    /// The PID it names.
    pid: Option<Pid>,
    /// Whether it holds nothing but whitespace.
    empty: bool,
    /// The monitor's runs line.
    runs: Option<Runs>,
    holder: Holder,
}

/// Opens the pidfile and says which PID it names and who holds its lock.
fn look(path: &CStr) -> Result<Option<Seen>, Error> {
    let Some((file, st, (content, runs))) = open_pidfile(path)? else {
        return Ok(None);
    };
    let pid = named(content).map_err(|()| malformed(path))?;
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
            Err(e) => return Err(unseen(path, e)),
        }
    }
    let locked = match holder::locked(&st) {
        Some(locked) => locked,
        // Without /proc: a shared lock for an instant (a starter waits it out).
        None => {
            probe(&file).map_err(|e| Error::os(ErrorKind::LockPidfile, e).path(path.to_bytes()))?
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
fn unseen(path: &CStr, e: Errno) -> Error {
    Error::os(ErrorKind::ReadPidfile, e)
        .path(path.to_bytes())
        .text(": cannot see who holds its lock")
}

fn malformed(path: &CStr) -> Error {
    Error::new(ErrorKind::MalformedPidfile).path(path.to_bytes())
}

/// What a pidfile holds: its content, and a monitor's runs line.
type Read = (Content, Option<Runs>);

/// Opens a pidfile to read it: `Ok(None)` when there is none. Refuses, as
/// start-stop-daemon does, a symlink, a hard link, something other than a regular
/// file, a file owned by a user other than root or us, or one writable by others.
fn open_pidfile(path: &CStr) -> Result<Option<(OwnedFd, Stat, Read)>, Error> {
    let bytes = path.to_bytes();
    let fail = |e| Error::os(ErrorKind::ReadPidfile, e).path(bytes);
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let file = match fs::open(path, flags, Mode::empty()) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => return Err(pidfile::insecure(bytes, 0)),
        Err(e) => return Err(fail(e)),
    };
    let st = fs::fstat(&file).map_err(fail)?;
    if st.st_nlink == 0 {
        return Ok(None); // removed since our open
    }
    pidfile::check(&st, 0o002).map_err(|why| pidfile::insecure(bytes, why))?;
    let content = pidfile::read_all(&file).map_err(fail)?;
    Ok(Some((file, st, content)))
}

/// The PID a pidfile's content names: `Ok(None)` when empty, `Err` when it is not a
/// PID, or a PID above the kernel's `pid_max`. Our own PID names no daemon (a
/// container restarted with the same small PIDs).
fn named(content: Content) -> Result<Option<Pid>, ()> {
    match content {
        Content::Empty => Ok(None),
        Content::Pid(pid) if pid.as_raw_nonzero().get() > pid_max() => Err(()),
        Content::Pid(pid) if pid == getpid() => Ok(None),
        Content::Pid(pid) => Ok(Some(pid)),
        Content::Other => Err(()),
    }
}

/// The kernel's largest PID (`/proc/sys/kernel/pid_max`), or its ceiling, 2^22.
fn pid_max() -> i32 {
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
fn probe(file: &OwnedFd) -> Result<bool, Errno> {
    match fs::flock(file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => fs::flock(file, FlockOperation::Unlock).map(|()| false),
        Err(Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

/// How a [`stop`] ended, with start-stop-daemon's exit codes
/// ([`exit_code`](Stopped::exit_code)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The daemon exited. Code 0.
    Exited {
        /// Its PID.
        pid: Pid,
    },
    /// The schedule had no wait: the signal was sent, and that is all we know. Code 0.
    Signalled {
        /// The PID signalled.
        pid: Pid,
    },
    /// No daemon ran: no pidfile, or an unlocked (stale) one. Nothing was signalled.
    /// Code 1.
    NotRunning,
    /// The schedule ran out and the daemon still runs. Code 2.
    StillRunning {
        /// Its PID.
        pid: Pid,
    },
}

impl Stopped {
    /// start-stop-daemon's code: 0 stopped (or signalled), 1 nothing done, 2 the
    /// schedule ran out.
    pub fn exit_code(&self) -> i32 {
        match self {
            Stopped::Exited { .. } | Stopped::Signalled { .. } => 0,
            Stopped::NotRunning => 1,
            Stopped::StillRunning { .. } => 2,
        }
    }
}

/// How long to wait for a starting daemon to write its PID into a locked pidfile.
const PID_WAIT: Duration = Duration::from_millis(500);
/// The pause between two looks at a pidfile or a process.
const PAUSE: Duration = Duration::from_millis(10);

/// Stops the daemon of the pidfile at `path` following `schedule`.
///
/// What it guarantees:
/// - It signals only a PID named by a pidfile whose lock is held. A stale pidfile
///   (nobody holds the lock) gives [`Stopped::NotRunning`] and nothing is signalled,
///   even if a process with that PID exists.
/// - It opens a pidfd for the PID (Linux 5.3), then checks again that the lock is held
///   and the file still names that PID, and signals through the pidfd: once opened,
///   the pidfd names that process and no other, even if the PID is reused.
/// - It waits for the exit by polling the pidfd, which becomes readable when the
///   process exits; the daemon's lock is gone by then (unless a child of the daemon
///   inherited the pidfile's descriptor).
///
/// When the daemon exited and left its pidfile behind (an exec'd program cannot
/// remove it), the file is removed, if it still names that PID and nobody locked it.
///
/// What it cannot guarantee: between reading the PID and opening the pidfd, the daemon
/// could exit, its PID be reused, and the lock be held by a new daemon that has not
/// yet written its own PID; the re-check then still sees the old PID in the file. This
/// needs a PID reuse within microseconds and is not otherwise detectable. Where pidfd
/// is missing (ENOSYS), `kill` is used, and the exit is detected by the lock's release,
/// checked every 10 ms.
///
/// ```no_run
/// use daemonic::{stop, Schedule, Signal, Stopped};
///
/// let schedule = Schedule::parse("TERM/30/KILL/5", Signal::TERM)?;
/// match stop("/run/app.pid", &schedule)? {
///     Stopped::Exited { .. } | Stopped::NotRunning => {}
///     other => std::process::exit(other.exit_code()),
/// }
/// # Ok::<(), daemonic::Error>(())
/// ```
pub fn stop<'a>(path: impl IntoCPath<'a>, schedule: &Schedule) -> Result<Stopped, Error> {
    let path = path.into_c_path().map_err(|_| nul_error())?;
    let path = path.as_c_str();
    let Some(target) = find_target(path)? else {
        return Ok(Stopped::NotRunning);
    };
    let pid = target.pid;
    let mut position = 0;
    let steps = schedule.steps();
    while position < steps.len() {
        match steps[position] {
            Step::Signal(signal) => match target.signal(signal) {
                Ok(()) => {}
                // Gone already: a stop is what we wanted.
                Err(Errno::SRCH) => return target.exited(path),
                Err(e) => return Err(kill_error(e, pid)),
            },
            Step::Wait(wait) => {
                if target.wait_exit(wait).map_err(|e| read_error(path, e))? {
                    return target.exited(path);
                }
            }
        }
        position += 1;
        if position == steps.len() {
            if let Some(from) = schedule.forever {
                position = from;
            }
        }
    }
    Ok(if schedule.waits() {
        Stopped::StillRunning { pid }
    } else {
        Stopped::Signalled { pid }
    })
}

fn read_error(path: &CStr, e: Errno) -> Error {
    Error::os(ErrorKind::ReadPidfile, e).path(path.to_bytes())
}

fn kill_error(e: Errno, pid: Pid) -> Error {
    Error::os(ErrorKind::Kill, e)
        .text("pid ")
        .number(pid.as_raw_nonzero().get() as u64)
}

/// A daemon found through its locked pidfile.
struct Target {
    pid: Pid,
    /// `None` where the kernel has no pidfd (before 5.3).
    pidfd: Option<OwnedFd>,
    /// The pidfile, whose lock tells when the daemon is gone where there is no pidfd.
    st: Stat,
}

/// Finds the daemon to stop: `None` if there is no pidfile or nobody holds its lock.
/// Only a process that holds the lock on the very file that names it is a target.
fn find_target(path: &CStr) -> Result<Option<Target>, Error> {
    let mut waited = Duration::ZERO;
    let mut again = || {
        let more = waited < PID_WAIT;
        channel::sleep(PAUSE);
        waited += PAUSE;
        more
    };
    loop {
        let Some(seen) = look(path)? else {
            return Ok(None);
        };
        let pid = match seen.holder {
            Holder::Nobody => return Ok(None),
            Holder::Other => return Err(holder::foreign(path.to_bytes(), seen.pid)),
            // A daemon is starting and has not written its PID yet.
            Holder::Starting if again() => continue,
            Holder::Starting => return Err(starting(path)),
            Holder::Named(pid) => pid,
        };
        let pidfd = match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => Some(fd),
            Err(Errno::NOSYS) => None,
            // Gone since we looked: look again.
            Err(Errno::SRCH) => continue,
            Err(e) => return Err(kill_error(e, pid)),
        };
        // Now that the pidfd pins the process, check that the pidfile still vouches
        // for it: the same file names it, and it still holds the lock.
        let same = pidfile::read(&seen.file).map_err(|e| read_error(path, e))? == Content::Pid(pid);
        let holds = holder::holds(pid, &seen.st).map_err(|e| unseen(path, e))?;
        if same && holds {
            return Ok(Some(Target {
                pid,
                pidfd,
                st: seen.st,
            }));
        }
        // The daemon exited or the file changed meanwhile: look again.
        if !again() {
            return Ok(None);
        }
    }
}

fn starting(path: &CStr) -> Error {
    Error::new(ErrorKind::MalformedPidfile)
        .path(path.to_bytes())
        .text(" names no PID yet: the daemon is still starting")
}

impl Target {
    /// The daemon is gone: remove the pidfile it left, or say why it stays.
    fn exited(self, path: &CStr) -> Result<Stopped, Error> {
        match pidfile::remove_stale(path, self.pid) {
            Ok(()) => Ok(Stopped::Exited { pid: self.pid }),
            Err(e) => Err(Error::new(ErrorKind::RemovePidfile)
                .with_errno(Some(e))
                .path(path.to_bytes())
                .text(" (the daemon, pid ")
                .number(self.pid.as_raw_nonzero().get() as u64)
                .text(", stopped)")),
        }
    }

    fn signal(&self, signal: Signal) -> Result<(), Errno> {
        match &self.pidfd {
            Some(pidfd) => pidfd_send_signal(pidfd, signal),
            None => kill_process(self.pid, signal),
        }
    }

    /// Waits up to `wait` for the daemon to exit; `true` if it did.
    fn wait_exit(&self, wait: Duration) -> Result<bool, Errno> {
        if let Some(pidfd) = &self.pidfd {
            // A pidfd becomes readable when its process exits.
            return channel::readable_within(pidfd.as_fd(), wait);
        }
        let mut waited = Duration::ZERO;
        loop {
            if !holder::holds(self.pid, &self.st).or_else(|e| match e {
                Errno::SRCH => Ok(false),
                e => Err(e),
            })? {
                return Ok(true);
            }
            if waited >= wait {
                return Ok(false);
            }
            channel::sleep(PAUSE);
            waited += PAUSE;
        }
    }
}
