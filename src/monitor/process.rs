//! The monitor's program: starting it as a child of its own, and finding and
//! signalling what it leaves.

use rustix::fd::{AsRawFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{
    getppid, kill_process, kill_process_group, waitpid, Signal, WaitOptions, WaitStatus,
};

use super::policy::QUICK;
use super::{Alarm, Monitor, Program};
use crate::error::ErrorKind;
use crate::failure::Failure;
use crate::pidfile::Exit;
use crate::{fds, sys};

impl Monitor<'_, '_> {
    /// Starts the program: a child in its own process group that dies with us,
    /// with our signal mask undone, its descriptors passed, executed. The exec's
    /// outcome comes back on a close-on-exec pipe: end of file is success.
    pub(super) fn spawn(&mut self) -> Result<(), Failure> {
        let fail = |e| Failure::os(ErrorKind::Supervise, e);
        let p = self.program;
        let floor = floor(p);
        let (status_r, status_w) = pipe(floor).map_err(fail)?;
        let readiness = match p.readiness {
            Some(n) => {
                let (r, w) = pipe(floor).map_err(fail)?;
                Some((r, w, n))
            }
            None => None,
        };
        let child = sys::fork().map_err(Failure::of(ErrorKind::Fork))?;
        let Some(child) = child else {
            let ready = readiness.as_ref().map(|(_, w, n)| (w.as_raw_fd(), *n));
            let errno = self.become_program(ready);
            let _ = rustix::io::write(&status_w, &errno.raw_os_error().to_ne_bytes());
            sys::exit_immediately(127);
        };
        drop(status_w);
        let readiness = readiness.map(|(r, _, _)| r);
        let mut errno = [0u8; 4];
        let n = loop {
            match rustix::io::read(&status_r, &mut errno) {
                Err(Errno::INTR) => {}
                other => break other.unwrap_or(0),
            }
        };
        if n == errno.len() {
            // It never ran: reap it here, not in the loop.
            let _ = waitpid(Some(child), WaitOptions::empty());
            let errno = Errno::from_raw_os_error(i32::from_ne_bytes(errno));
            return Err(Failure::os(ErrorKind::Exec, errno));
        }
        self.main = Some(child);
        self.group = Some(child);
        self.logged_pid = child.as_raw_nonzero().get();
        let _ = crate::channel::set_timer(&self.run_timer, Some(QUICK));
        self.timed_out = false;
        self.awaiting_notify = p.notify.is_some();
        if readiness.is_none() && !self.awaiting_notify {
            self.became_ready();
            return Ok(());
        }
        self.readiness = readiness;
        if let Some(t) = p.timeout {
            self.set_alarm(Alarm::Readiness, t);
        }
        if self.restarts > 0 {
            self.record();
        }
        Ok(())
    }

    /// In the child: everything but the exec. Returns the errno that ended it.
    fn become_program(&self, readiness: Option<(i32, i32)>) -> Errno {
        let p = self.program;
        let step = || -> Result<(), Errno> {
            rustix::process::setpgid(None, None)?;
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The monitor may have died before the line above: then we go too.
            if getppid() != Some(self.me) {
                return Err(Errno::SRCH);
            }
            sys::mask_signals(libc::SIG_SETMASK, self.mask)?;
            fds::hand_over(p.preserve, readiness)?;
            if let Some((_, _, out)) = &self.log {
                sys::redirect(out.as_raw_fd(), 1)?;
                sys::redirect(out.as_raw_fd(), 2)?;
            }
            Ok(())
        };
        if let Err(e) = step() {
            return e;
        }
        crate::search::execvp(p.path, p.search, p.argv, p.envp)
    }

    /// Signals the program's process group and each of our children (what the
    /// program forked and left, adopted by us as subreaper or PID 1). Our unreaped
    /// children: their PIDs cannot name anyone else.
    pub(super) fn signal_all(&self, signal: Signal) {
        if let Some(group) = self.group {
            let _ = kill_process_group(group, signal);
        }
        crate::procfs::children(|pid| {
            let _ = kill_process(pid, signal);
        });
    }
}

/// The lowest descriptor number the monitor's own may take: above the standard
/// streams and above the program's readiness number.
pub(super) fn floor(program: &Program<'_>) -> i32 {
    program.readiness.map_or(3, |n| n.saturating_add(1).max(3))
}

/// A close-on-exec pipe at `floor` or above.
pub(super) fn pipe(floor: i32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok((fds::at_or_above(r, floor)?, fds::at_or_above(w, floor)?))
}

/// How a reaped process ended.
pub(super) fn ended(status: WaitStatus) -> Exit {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => Exit::Code(code as u8),
        (None, Some(sig)) => Exit::Signal(sig as u8),
        _ => Exit::Code(1),
    }
}

/// An exit as a shell shows it: the code, or 128 + the signal.
pub(super) fn shell_status(exit: Exit) -> i32 {
    match exit {
        Exit::Code(code) => i32::from(code),
        Exit::Signal(sig) => 128 + i32::from(sig),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_the_shells() {
        assert_eq!(shell_status(Exit::Code(7)), 7);
        assert_eq!(shell_status(Exit::Signal(15)), 143);
    }
}
