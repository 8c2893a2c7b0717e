//! The forks, and who does what until the start's outcome is known.
//!
//! Three processes take part in a detached start:
//! - the **original** process waits for the daemon's report, decides the outcome,
//!   and tells it to the intermediate process (a [`Verdict`]);
//! - the **intermediate** process calls `setsid`, forks the daemon, and then stays,
//!   as the daemon's parent and its new session's group leader, until the verdict:
//!   while the daemon is its unreaped child, the daemon's PID cannot name another
//!   process, so killing it by PID is safe; it is the one that kills the daemon and
//!   puts the pidfile back when the start fails, or when the original process dies
//!   before deciding (its end of the verdict channel closes, even on SIGKILL);
//! - the **daemon** runs its steps and reports.
//!
//! In the foreground this process runs the daemon's steps itself.

use core::ffi::CStr;
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{
    getpid, setsid, waitid, waitpid, Pid, Signal, WaitId, WaitIdOptions, WaitOptions,
};

use crate::channel::{self, Report, Verdict};
use crate::error::{Error, ErrorKind, Failed};
use crate::failure::Failure;
use crate::plan::Plan;
use crate::{fds, steps, sys};

/// What the start is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode<'p> {
    /// Return in both processes ([`Daemon::fork`](crate::Daemon::fork)).
    Return,
    /// The original process exits with status 0 once the daemon is ready
    /// ([`Daemon::start_pending`](crate::Daemon::start_pending)).
    ExitWhenReady,
    /// The daemon executes the program at this path
    /// ([`Daemon::exec`](crate::Daemon::exec)): the end of the report channel,
    /// close-on-exec, is its signal of success.
    Exec(&'p CStr),
    /// The daemon supervises the program at this path
    /// ([`Daemon::supervise`](crate::Daemon::supervise)): the monitor reports it
    /// ready.
    Supervise(&'p CStr),
}

/// Where [`run`] returns.
pub(crate) enum Side {
    /// In the original process, while the intermediate process waits for the verdict.
    Original(Launched),
    /// In the daemon, its steps done: its PID, and its end of the report channel
    /// (`None` in the foreground).
    Daemon { pid: Pid, reports: Option<OwnedFd> },
}

/// Becomes the daemon: in the foreground by running the steps here; detached by
/// forking. A failure is returned in the original process, which then abandons the
/// plan ([`Plan::fail`]). Out of line: inlined, its `Side` is built and matched
/// in the caller's frame, which costs more than the call.
#[inline(never)]
pub(crate) fn run(plan: &mut Plan<'_>) -> Result<Side, Failure> {
    if !plan.detach {
        let pid = getpid();
        steps::become_daemon(plan, pid)?;
        plan.forget_closed();
        return Ok(Side::Daemon { pid, reports: None });
    }
    flush_std();
    match sys::fork() {
        Err(e) => Err(Failure::os(ErrorKind::Fork, e)),
        Ok(None) => Ok(intermediate(plan)),
        Ok(Some(child)) => {
            let Some(channels) = plan.channels.take() else {
                return Err(Failure::new(ErrorKind::Died));
            };
            // Our copy of the daemon's end goes, or its end of file never comes.
            let (daemons_end, reports) = channels.reports;
            drop(daemons_end);
            Ok(Side::Original(Launched {
                intermediate: child,
                reports,
                verdicts: channels.verdicts,
            }))
        }
    }
}

/// The first child: a new session, the second fork; then the daemon's steps in the
/// grandchild, and the wait for the verdict here. Returns only in the daemon.
fn intermediate(plan: &mut Plan<'_>) -> Side {
    let Some(channels) = &plan.channels else {
        sys::exit_immediately(1);
    };
    let reports = channels.reports.0.as_raw_fd();
    let before_fork = |kind, errno| -> ! {
        report_failure(reports, Failure::os(kind, errno));
        sys::exit_immediately(1)
    };
    if let Err(errno) = setsid() {
        before_fork(ErrorKind::Setsid, errno);
    }
    match sys::fork() {
        Err(errno) => before_fork(ErrorKind::Fork, errno),
        Ok(Some(daemon)) => guard(plan, daemon),
        Ok(None) => {}
    }
    let pid = getpid();
    if let Err(failure) = steps::become_daemon(plan, pid) {
        report_failure(reports, failure);
        sys::exit_immediately(1);
    }
    // The close step closed every channel descriptor but the daemon's end of the
    // report channel: keep that one, forget the others.
    let Some(channels) = plan.channels.take() else {
        sys::exit_immediately(1);
    };
    let (reports, originals_end) = channels.reports;
    core::mem::forget((originals_end, channels.verdicts));
    plan.forget_closed();
    Side::Daemon {
        pid,
        reports: Some(reports),
    }
}

/// Reports a failed step of the daemon (or of the intermediate process).
pub(crate) fn report_failure(reports: i32, failure: Failure) {
    let report = Report::Failed {
        step: failure.step(),
        aux: failure.aux,
        errno: failure.errno.map_or(0, Errno::raw_os_error),
    };
    // SAFETY: the report channel stays open in this process until it exits.
    channel::send_report(unsafe { sys::borrow(reports) }, report);
}

/// The intermediate process after the second fork: waits for the verdict and acts
/// on it. Never returns.
fn guard(plan: &mut Plan<'_>, daemon: Pid) -> ! {
    let Some(channels) = &plan.channels else {
        sys::exit_immediately(1);
    };
    // The end of file the original process watches for must come when the daemon's
    // copies close: drop ours of the report channel, and our copy of the original's
    // end of the verdict channel, whose end of file is our news of its death.
    let mut ours = [-1; 5];
    ours[..3].copy_from_slice(&[
        channels.reports.0.as_raw_fd(),
        channels.reports.1.as_raw_fd(),
        channels.verdicts.0.as_raw_fd(),
    ]);
    for (slot, &fd) in ours[3..].iter_mut().zip(plan.guard_closes.as_slice()) {
        *slot = fd;
    }
    fds::close_these(&ours);
    let verdict = channel::receive_verdict(&channels.verdicts.1);
    if verdict == Verdict::Ready {
        sys::exit_immediately(0);
    }
    if verdict != Verdict::Failed {
        // Our unreaped child: this PID is the daemon's, whatever it is doing.
        let _ = rustix::process::kill_process(daemon, Signal::KILL);
        let _ = waitpid(Some(daemon), WaitOptions::empty());
    }
    plan.put_back();
    if verdict == Verdict::Gone {
        // Nobody is left to kill what the daemon forked: our process group is its,
        // and the signal ends us too, which is all that is left to do.
        let _ = rustix::process::kill_current_process_group(Signal::KILL);
    }
    sys::exit_immediately(0)
}

/// The original process's side of a detached start.
pub(crate) struct Launched {
    intermediate: Pid,
    reports: OwnedFd,
    /// Ours, and the intermediate process's (kept until we are done, so that closing
    /// it costs no system call before a start that exits at once).
    verdicts: (OwnedFd, OwnedFd),
}

impl Launched {
    /// Waits for the daemon's report: `Ok` with the daemon's PID once it is ready, or
    /// for a program to execute (`exec`, its path), once it executed: the program
    /// reports its PID right before `execve`, and the end of file says it succeeded.
    pub(crate) fn wait(&self, plan: &Plan<'_>, mode: Mode<'_>) -> Result<Pid, Failure> {
        let mut executing = None;
        loop {
            return match channel::receive(&self.reports, &plan.deadline) {
                Ok(Report::Ready(pid)) if matches!(mode, Mode::Exec(_)) => {
                    executing = Some(pid);
                    continue;
                }
                Ok(Report::Ready(pid)) => Ok(pid),
                Ok(Report::Failed { step, aux, errno }) => {
                    Err(Failure::from_report(step, aux, errno))
                }
                Ok(Report::Code(code)) => Err(Failure::new(ErrorKind::Failed { code })),
                Ok(Report::Closed) => executing.ok_or(Failure::new(ErrorKind::Died)),
                Err(Errno::TIMEDOUT) => Err(Failure::new(ErrorKind::Timeout)),
                Err(e) => Err(Failure::os(ErrorKind::Channel, e)),
            };
        }
    }

    /// Ends the start: tells the intermediate process the outcome and reaps it. On
    /// failure the daemon and its process group are killed and the pidfile is put
    /// back before this returns, with the error that says why. On success the
    /// pidfile is the daemon's: this process disowns its copy (or, exiting when ready,
    /// exits with it).
    pub(crate) fn conclude(
        &self,
        plan: &mut Plan<'_>,
        outcome: Result<Pid, Failure>,
        mode: Mode<'_>,
        err: &mut Error,
    ) -> Result<Pid, Failed> {
        let verdict = match &outcome {
            Ok(_) => Verdict::Ready,
            Err(f) if matches!(f.kind, ErrorKind::Failed { .. }) => Verdict::Failed,
            Err(_) => Verdict::Kill,
        };
        channel::send_verdict(&self.verdicts.0, verdict);
        if verdict == Verdict::Ready && mode == Mode::ExitWhenReady {
            // The intermediate process exits at once and its parent, init or a
            // subreaper, reaps it: waiting here would only delay the start's end.
            sys::exit_immediately(0);
        }
        let id = WaitId::Pid(self.intermediate);
        if verdict == Verdict::Kill {
            // Exited but not reaped, the intermediate process still holds its process
            // group's number, so the group (the daemon and whatever it forked) can be
            // killed by number without hitting anyone else.
            let exited = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
            if waitid(id, exited).is_ok() {
                let _ = rustix::process::kill_process_group(self.intermediate, Signal::KILL);
            }
        }
        let status = loop {
            match waitpid(Some(self.intermediate), WaitOptions::empty()) {
                Err(Errno::INTR) => continue,
                other => break other,
            }
        };
        let failure = match outcome {
            Ok(pid) => {
                plan.disown_pidfile();
                return Ok(pid);
            }
            Err(failure) => failure,
        };
        let program = match mode {
            Mode::Exec(path) | Mode::Supervise(path) => Some(path),
            _ => None,
        };
        let failed = plan.describe(failure, program, err);
        // Exit status 0: the intermediate process acted on the verdict. Anything else
        // (it failed before the second fork, or was killed): the pidfile is ours to
        // put back. ECHILD: the caller ignores SIGCHLD and the kernel reaped it.
        if matches!(&status, Ok(Some((_, s))) if s.exit_status() == Some(0)) {
            plan.disown_pidfile();
            return Err(failed);
        }
        plan.put_back();
        Err(failed)
    }
}

/// Rust's stdout is line-buffered: what it holds would be written twice, once by each
/// process, or lost at `_exit`.
fn flush_std() {
    #[cfg(feature = "std")]
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }
}
