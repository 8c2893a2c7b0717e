//! `stop`: the schedule's signals to the daemon a pidfile names, once the lock
//! vouches for it.

use core::ffi::CStr;
use core::time::Duration;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::Stat;
use rustix::io::Errno;
use rustix::process::{kill_process, pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};

use crate::channel;
use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::holder;
use crate::path::IntoCPath;
use crate::pidfile::{self, Content};
use crate::schedule::{Schedule, Step};

use super::look::{look, nul_error, read_error, unseen, Holder};

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
    let path = or_return!(path.into_c_path(), |_| nul_error());
    let mut err = Error::new(ErrorKind::Died);
    match stop_in(path.as_c_str(), schedule, &mut err) {
        Ok(stopped) => Ok(stopped),
        Err(_) => Err(err),
    }
}

/// [`stop`], its error made in `err`: returned by value, each `?` copied one.
fn stop_in(path: &CStr, schedule: &Schedule, err: &mut Error) -> Result<Stopped, Failed> {
    let Some(target) = find_target(path, err)? else {
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
                Err(Errno::SRCH) => return target.exited(path, err),
                Err(e) => return Err(kill_error(e, pid, err)),
            },
            Step::Wait(wait) => match target.wait_exit(wait) {
                Ok(true) => return target.exited(path, err),
                Ok(false) => {}
                Err(e) => return Err(read_error(path, e, err).failed()),
            },
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

fn kill_error(e: Errno, pid: Pid, err: &mut Error) -> Failed {
    Error::fill(err, ErrorKind::Kill, Some(e))
        .push_text(b"pid ")
        .push_number(pid.as_raw_nonzero().get() as u64)
        .failed()
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
fn find_target(path: &CStr, err: &mut Error) -> Result<Option<Target>, Failed> {
    let mut waited = Duration::ZERO;
    let mut again = || {
        let more = waited < PID_WAIT;
        channel::sleep(PAUSE);
        waited += PAUSE;
        more
    };
    loop {
        let Some(seen) = look(path, err)? else {
            return Ok(None);
        };
        let pid = match seen.holder {
            Holder::Nobody => return Ok(None),
            Holder::Other => return Err(holder::foreign(path.to_bytes(), seen.pid).put(err)),
            // A daemon is starting and has not written its PID yet.
            Holder::Starting if again() => continue,
            Holder::Starting => return Err(starting(path, err)),
            Holder::Named(pid) => pid,
        };
        let pidfd = match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => Some(fd),
            Err(Errno::NOSYS) => None,
            // Gone since we looked: look again.
            Err(Errno::SRCH) => continue,
            Err(e) => return Err(kill_error(e, pid, err)),
        };
        // Now that the pidfd pins the process, check that the pidfile still vouches
        // for it: the same file names it, and it still holds the lock.
        let read = or_return!(pidfile::read(&seen.file), |e| read_error(path, e, err)
            .failed());
        let same = read == Content::Pid(pid);
        let holds = or_return!(holder::holds(pid, &seen.st), |e| unseen(path, e, err));
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

fn starting(path: &CStr, err: &mut Error) -> Failed {
    Error::fill(err, ErrorKind::MalformedPidfile, None)
        .push_path(path.to_bytes())
        .push_text(b" names no PID yet: the daemon is still starting")
        .failed()
}

impl Target {
    /// The daemon is gone: remove the pidfile it left, or say why it stays.
    fn exited(self, path: &CStr, err: &mut Error) -> Result<Stopped, Failed> {
        match pidfile::remove_stale(path, self.pid) {
            Ok(()) => Ok(Stopped::Exited { pid: self.pid }),
            // By value, as `with_errno` (its last user) makes it.
            Err(e) => Err(Error::new(ErrorKind::RemovePidfile)
                .with_errno(Some(e))
                .path(path.to_bytes())
                .text(" (the daemon, pid ")
                .number(self.pid.as_raw_nonzero().get() as u64)
                .text(", stopped)")
                .put(err)),
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
