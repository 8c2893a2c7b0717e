//! One run of the program, as the monitor sees it: its readiness, the timer, its
//! end, and whether and when it runs again.

use core::time::Duration;
use rustix::process::{kill_process_group, Signal};
use rustix::time::timerfd_gettime;

use super::policy::{next_pause, Restart};
use super::{Alarm, Monitor};
use crate::channel::{self, Report};
use crate::error::ErrorKind;
use crate::failure::Failure;
use crate::pidfile::{Exit, RunState, Runs};
use crate::supervisor::Notified;

impl Monitor<'_, '_> {
    pub(super) fn program_ended(&mut self) -> Result<(), Failure> {
        self.awaiting_notify = false;
        let was_waiting = self.readiness.take().is_some();
        if self.alarm == Alarm::Readiness {
            self.set_alarm(Alarm::None, Duration::ZERO);
        }
        if !self.ready {
            return Err(self.not_ready(was_waiting));
        }
        if self.stopping {
            return self.end();
        }
        let failed = self.last_exit != Exit::Code(0);
        let again = match self.policy.restart {
            Restart::Never => false,
            Restart::OnFailure => failed,
            Restart::Always => true,
        };
        self.record();
        if again {
            // What the last run left in its group goes with it.
            if let Some(group) = self.group.take() {
                let _ = kill_process_group(group, Signal::TERM);
            }
            let pause = self.next_pause();
            self.set_alarm(Alarm::Pause, pause);
        }
        // Else, as PID 1, the service ends with the program (the container with
        // it); otherwise it lasts while anything the program left runs (`reap` sees
        // ECHILD and exits).
        if !again && self.me.is_init() {
            return self.end();
        }
        Ok(())
    }

    /// Why a first run ended before it was ready.
    pub(super) fn not_ready(&self, was_waiting: bool) -> Failure {
        match self.program.readiness {
            _ if self.timed_out => Failure::new(ErrorKind::Timeout),
            Some(n) if was_waiting => {
                let mut f = Failure::new(ErrorKind::NotReady);
                f.aux = n as u16;
                f
            }
            _ => Failure::new(ErrorKind::Died),
        }
    }

    pub(super) fn next_pause(&mut self) -> Duration {
        let quick = timerfd_gettime(&self.run_timer)
            .is_ok_and(|t| t.it_value.tv_sec != 0 || t.it_value.tv_nsec != 0);
        next_pause(&mut self.pause, self.policy.delay, !quick)
    }

    /// The timer went off.
    pub(super) fn ring(&mut self) -> Result<(), Failure> {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.timer, &mut buf);
        let alarm = core::mem::replace(&mut self.alarm, Alarm::None);
        match alarm {
            Alarm::Readiness => {
                self.timed_out = true;
                self.kill_run();
            }
            Alarm::Pause if self.stopping => self.end()?,
            Alarm::Pause => {
                self.restarts = self.restarts.saturating_add(1);
                if let Err(f) = self.spawn() {
                    // A restart that cannot execute is one more failed run.
                    self.last_exit = Exit::Code(127);
                    if f.kind != ErrorKind::Exec {
                        return Err(f);
                    }
                    self.program_ended()?;
                }
            }
            Alarm::Grace => {
                self.killing = true;
                self.signal_all(Signal::KILL);
            }
            Alarm::None => {}
        }
        Ok(())
    }

    /// Reads the readiness pipe: a newline is readiness, end of file its refusal.
    pub(super) fn read_readiness(&mut self) -> Result<(), Failure> {
        let Some(pipe) = &self.readiness else {
            return Ok(());
        };
        let mut buf = [0u8; 64];
        match rustix::io::read(pipe, &mut buf) {
            Ok(n) if crate::text::has_newline(&buf[..n]) => {
                self.readiness = None;
                self.ready_in_time();
            }
            Ok(0) => {
                // Closed without a newline: a run that will never be ready.
                self.readiness = None;
                return self.refused(self.not_ready(true));
            }
            Ok(_) | Err(_) => {}
        }
        Ok(())
    }

    /// The runs line in the pidfile, for `status`: after each end, each restart and
    /// each readiness once a run has ended.
    pub(super) fn record(&mut self) {
        let now = match self.main {
            None => RunState::Down,
            Some(_) if self.readiness.is_some() || self.awaiting_notify => RunState::Starting,
            Some(_) => RunState::Up,
        };
        if let Some(pidfile) = &self.pidfile {
            let runs = Runs {
                restarts: self.restarts,
                last_exit: self.last_exit,
                now,
            };
            let _ = pidfile.write_runs(self.me, runs);
        }
    }

    /// Reads a message from the notify socket: `READY=1` is readiness, `ERRNO=` its
    /// refusal, `EXTEND_TIMEOUT_USEC=` more time. Only while a run awaits readiness;
    /// otherwise read and let go.
    pub(super) fn read_notify(&mut self) -> Result<(), Failure> {
        let Some(notify) = self.program.notify else {
            return Ok(());
        };
        let said = match (notify.receive)(&notify.listener, rustix::process::geteuid()) {
            Ok(said) => said.filter(|_| self.awaiting_notify),
            Err(e) => return Err(Failure::os(ErrorKind::Supervise, e)),
        };
        match said {
            Some(Notified::Ready) => {
                self.awaiting_notify = false;
                self.ready_in_time();
            }
            Some(Notified::Failed(errno)) => {
                self.awaiting_notify = false;
                return self.refused(Failure::os(ErrorKind::ReportedFailure, errno));
            }
            Some(Notified::Extend(more)) if self.alarm == Alarm::Readiness => {
                self.set_alarm(Alarm::Readiness, more);
            }
            Some(Notified::Extend(_)) | None => {}
        }
        Ok(())
    }

    /// The run said it is ready (a newline, or `READY=1`): its timeout is off.
    fn ready_in_time(&mut self) {
        self.set_alarm(Alarm::None, Duration::ZERO);
        self.became_ready();
    }

    /// The run said it will never be ready (its pipe closed, or `ERRNO=`): it is
    /// killed; for the first run that is the start's `failure`.
    fn refused(&mut self, failure: Failure) -> Result<(), Failure> {
        self.kill_run();
        if self.ready {
            Ok(())
        } else {
            Err(failure)
        }
    }

    /// SIGKILL to the run's process group.
    fn kill_run(&self) {
        if let Some(group) = self.group {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }

    pub(super) fn became_ready(&mut self) {
        // A restarted run: the runs line, there since the first run's end, says so.
        if self.restarts > 0 {
            self.record();
        }
        self.ready = true;
        if let Some(reports) = self.reports.take() {
            channel::send_report(&reports, Report::Ready(self.me));
        }
    }
}
