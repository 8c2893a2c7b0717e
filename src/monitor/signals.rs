//! The monitor's signals: forwarded to the program, SIGCHLD reaped, and the end of
//! the service after a stop signal.

use rustix::io::Errno;
use rustix::process::{kill_process, kill_process_group, wait, Signal, WaitOptions};

use super::process::ended;
use super::{Alarm, Monitor, GRACE};
use crate::failure::Failure;

/// The forwarded signals that stop the service: once the program has exited after
/// one, nothing restarts it.
fn stops(sig: i32) -> bool {
    matches!(sig, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT)
}

impl Monitor<'_, '_> {
    /// Reads the signalfd dry: forwards what is forwarded, reaps on SIGCHLD.
    pub(super) fn take_signals(&mut self) -> Result<(), Failure> {
        // `struct signalfd_siginfo` is 128 bytes; the signal number comes first.
        let mut buf = [0u8; 128 * 8];
        loop {
            let n = match rustix::io::read(&self.signals, &mut buf) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(_) => return Ok(()), // EAGAIN: none left
            };
            for record in buf[..n].chunks_exact(128) {
                let signo = u32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
                match signo as i32 {
                    libc::SIGCHLD => self.reap()?,
                    sig => self.forward(sig)?,
                }
            }
        }
    }

    pub(super) fn forward(&mut self, sig: i32) -> Result<(), Failure> {
        if let (libc::SIGHUP, Some((sink, _, _))) = (sig, &mut self.log) {
            if sink.is_file() {
                // logrotate's: the monitor's, not the program's.
                sink.reopen();
                return Ok(());
            }
        }
        let signal = Signal::from_named_raw(sig);
        if let (Some(main), Some(signal)) = (self.main, signal) {
            match self.group.filter(|_| self.policy.forward_to_group) {
                Some(group) => drop(kill_process_group(group, signal)),
                None => drop(kill_process(main, signal)),
            }
        } else if let Some(signal) = signal {
            // The program is gone: its leftovers (a program that backgrounded
            // itself) are the service now.
            self.signal_all(signal);
        }
        if stops(sig) && !self.stopping {
            self.stopping = true;
            if self.main.is_none() {
                return self.end();
            }
        }
        Ok(())
    }

    /// Reaps every child that exited; the program's exit decides what comes next.
    pub(super) fn reap(&mut self) -> Result<(), Failure> {
        loop {
            // `wait`, not `waitpid(None)`: that is `waitpid(0)`, our process group only.
            match wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    if Some(pid) == self.main {
                        self.main = None;
                        self.last_exit = ended(status);
                        self.program_ended()?;
                    } else if self.ending {
                        // Reparented leftovers keep coming: signal them too.
                        self.signal_all(self.ending_signal());
                    }
                }
                Ok(None) => return Ok(()),
                Err(Errno::INTR) => {}
                Err(_) => {
                    // ECHILD: nothing of the service is left.
                    if self.main.is_none() && self.alarm != Alarm::Pause {
                        self.exit();
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Ends the service: SIGTERM to what is left, SIGKILL after the grace.
    pub(super) fn end(&mut self) -> Result<(), Failure> {
        if !self.ending {
            self.ending = true;
            self.set_alarm(Alarm::Grace, GRACE);
        }
        self.signal_all(Signal::TERM);
        self.reap()
    }

    pub(super) fn ending_signal(&self) -> Signal {
        if self.killing {
            Signal::KILL
        } else {
            Signal::TERM
        }
    }
}
