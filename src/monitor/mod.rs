//! The monitor ([`Daemon::supervise`](crate::Daemon::supervise)): the daemon stays
//! resident as the program's parent instead of becoming it.
//!
//! It holds the pidfile's lock for the service's whole life (the program gets no
//! descriptor of it), forwards signals, reaps (as a child subreaper, or as PID 1),
//! restarts the program with a growing pause, and enforces the readiness timeout
//! itself. Everything after the fork is system calls on stack memory: no allocation,
//! in the loop or anywhere else.

use core::ffi::{c_char, CStr};
use core::time::Duration;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{wait, Pid, Signal, WaitOptions};

mod launch;
mod log;
mod policy;
mod process;
mod runs;
mod signals;

pub(crate) use launch::{Notify, Parts, Supervised};
use log::Sink;
pub use policy::{Facility, Restart, Supervision, Syslog};

use process::{floor, shell_status};

use crate::channel;
use crate::error::ErrorKind;
use crate::failure::Failure;
use crate::pidfile::{Exit, Pidfile};
use crate::{fds, sys};

/// How long what is left of a stopped service has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The signals the monitor forwards (read, with SIGCHLD, from a signalfd): every
/// signal that `stop --signal` or `kill` may send it and that its default would end
/// or ignore, as tini forwards them. Not the ones the kernel raises for the monitor's
/// own doing (SIGPIPE, SIGXFSZ, SIGXCPU, faults), which must not reach the program,
/// nor the job-control ones.
const FORWARDED: [i32; 13] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGWINCH,
    libc::SIGURG,
    libc::SIGIO,
    libc::SIGPWR,
];

/// What the monitor starts: the program as the exec path prepared it.
pub(crate) struct Program<'x> {
    pub(crate) path: &'x CStr,
    /// Where a bare name is searched (`PATH`).
    pub(crate) search: &'x [u8],
    pub(crate) argv: &'x [*const c_char],
    pub(crate) envp: &'x [*const c_char],
    /// Descriptors the program inherits.
    pub(crate) preserve: &'x [i32],
    /// The readiness descriptor's number in the program.
    pub(crate) readiness: Option<i32>,
    /// Where the program's `sd_notify` messages come (its `NOTIFY_SOCKET`).
    pub(crate) notify: Option<&'x Notify>,
    /// How long the program has to become ready.
    pub(crate) timeout: Option<Duration>,
}

/// What the timer is set for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alarm {
    None,
    /// The program's readiness timeout.
    Readiness,
    /// The pause before a restart.
    Pause,
    /// The end of the grace a stopped service's leftovers have.
    Grace,
}

struct Monitor<'x, 'f> {
    me: Pid,
    program: &'x Program<'x>,
    policy: Supervision<'x>,
    signals: OwnedFd,
    timer: OwnedFd,
    alarm: Alarm,
    /// The signal mask before ours, which the program gets back.
    mask: u64,
    /// The report channel, until the first readiness is reported (`None` in the
    /// foreground, or once reported).
    reports: Option<OwnedFd>,
    /// Whether the first run was reported ready (in the foreground: became ready).
    ready: bool,
    /// The running program, and its process group (its own).
    main: Option<Pid>,
    group: Option<Pid>,
    /// The read end of the program's readiness pipe, until it reports.
    readiness: Option<OwnedFd>,
    /// Whether this run's `READY=1` is awaited on the notify socket.
    awaiting_notify: bool,
    /// How the last run ended, and how many runs followed the first (the pidfile has a
    /// runs line from the first run's end on: at every restart it is there).
    last_exit: Exit,
    restarts: u32,
    /// Whether the last run was killed for not being ready in time.
    timed_out: bool,
    stopping: bool,
    /// Ending the service: what is left is being signalled (SIGKILL once `killing`).
    ending: bool,
    killing: bool,
    /// Armed for [`QUICK`](policy::QUICK) at each run: still running at its end means a quick run.
    /// (A timer, not a clock: reading the clock would link the vDSO's parser.)
    run_timer: OwnedFd,
    pause: Duration,
    pidfile: Option<Pidfile<'f>>,
    /// The log, and the read end of the pipe the program writes its streams to
    /// (non-blocking) and the write end, which each run gets as stdout and stderr.
    log: Option<(Sink<'x>, OwnedFd, OwnedFd)>,
    /// The PID the log's lines are from: the last run's.
    logged_pid: i32,
}

/// Runs the service. Detached (`reports` given), never returns: a first run that
/// fails is reported to the original process, which puts the pidfile back. In the
/// foreground returns the failure of a first run that did not start or never became
/// ready, with nothing left, and the pidfile for the caller to put back.
pub(crate) fn run<'x, 'f>(
    me: Pid,
    reports: Option<OwnedFd>,
    pidfile: Option<Pidfile<'f>>,
    log: Option<Sink<'x>>,
    program: &'x Program<'x>,
    policy: Supervision<'x>,
) -> (Failure, Option<Pidfile<'f>>) {
    let setup = Monitor::set_up(me, program).and_then(|parts| {
        let pipe = match log {
            Some(log) => Some(log_pipe(program).map(|(r, w)| (log, r, w))?),
            None => None,
        };
        Ok((parts, pipe))
    });
    let ((signals, timer, run_timer, mask), log) = match setup {
        Ok(parts) => parts,
        Err(errno) => {
            let failure = give_up(reports, Failure::os(ErrorKind::Supervise, errno));
            return (failure, pidfile);
        }
    };
    let mut m = Monitor {
        me,
        program,
        policy,
        signals,
        timer,
        alarm: Alarm::None,
        mask,
        reports,
        ready: false,
        main: None,
        group: None,
        readiness: None,
        awaiting_notify: false,
        last_exit: Exit::Code(0),
        restarts: 0,
        timed_out: false,
        stopping: false,
        ending: false,
        killing: false,
        run_timer,
        pause: policy.delay,
        pidfile,
        log,
        logged_pid: 0,
    };
    if let Err(failure) = m.spawn() {
        return m.fail_start(failure);
    }
    loop {
        if let Err(failure) = m.turn() {
            return m.fail_start(failure);
        }
    }
}

/// The pipe the program's stdout and stderr go into: the monitor's end non-blocking
/// (the program's stays blocking: it waits rather than loses lines), made as large as
/// allowed (1 MiB by default), so a burst does not even make it wait.
fn log_pipe(program: &Program<'_>) -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = process::pipe(floor(program))?;
    rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK)?;
    let _ = rustix::pipe::fcntl_setpipe_size(&r, 1 << 20);
    Ok((r, w))
}

/// A first run that could not even be set up: reported (detached) or returned.
fn give_up(reports: Option<OwnedFd>, failure: Failure) -> Failure {
    if let Some(reports) = reports {
        crate::launch::report_failure(reports.as_raw_fd(), failure);
        sys::exit_immediately(1);
    }
    failure
}

impl<'x, 'f> Monitor<'x, 'f> {
    /// The child subreaper flag (outside PID 1), the blocked signals and their
    /// signalfd, and the timer.
    fn set_up(me: Pid, program: &Program<'_>) -> Result<(OwnedFd, OwnedFd, OwnedFd, u64), Errno> {
        if !me.is_init() {
            rustix::process::set_child_subreaper(Some(me))?;
        }
        let mut set = 1u64 << (libc::SIGCHLD - 1);
        for sig in FORWARDED {
            set |= 1 << (sig - 1);
        }
        let mask = sys::mask_signals(libc::SIG_BLOCK, set)?;
        // Everything of ours sits above the program's readiness number, so that its
        // copy never lands on one.
        let floor = floor(program);
        let signals = fds::at_or_above(sys::signalfd(set)?, floor)?;
        let (timer, run_timer) = (channel::timer(floor)?, channel::timer(floor)?);
        Ok((signals, timer, run_timer, mask))
    }

    /// One wait for a signal, the timer or the program's readiness, and what follows.
    fn turn(&mut self) -> Result<(), Failure> {
        let (signals, timer) = (self.signals.as_fd(), self.timer.as_fd());
        // Absent sources are the signalfd again, asking for no event.
        let idle = |fd| PollFd::from_borrowed_fd(fd, PollFlags::empty());
        let mut fds = [
            PollFd::from_borrowed_fd(signals, PollFlags::IN),
            PollFd::from_borrowed_fd(timer, PollFlags::IN),
            idle(signals),
            idle(signals),
            idle(signals),
        ];
        if let Some(r) = &self.readiness {
            fds[2] = PollFd::new(r, PollFlags::IN);
        }
        if let Some(notify) = self.program.notify {
            // Always read, so that no run's message waits for the next run.
            fds[4] = PollFd::from_borrowed_fd(notify.listener.socket(), PollFlags::IN);
        }
        if let Some((_, pipe, _)) = &self.log {
            fds[3] = PollFd::new(pipe, PollFlags::IN);
        }
        match poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(Failure::os(ErrorKind::Supervise, e)),
        }
        let [sig, alarm, ready, output, notified] = fds.map(|fd| !fd.revents().is_empty());
        // The output first: lines written before an exit are logged before it.
        if output {
            self.drain();
        }
        if ready {
            self.read_readiness()?;
        }
        if notified {
            self.read_notify()?;
        }
        if alarm {
            self.ring()?;
        }
        if sig {
            self.take_signals()?;
        }
        Ok(())
    }

    fn drain(&mut self) {
        if let Some((sink, pipe, _)) = &mut self.log {
            sink.drain(pipe, self.logged_pid);
        }
    }

    /// The last of the output, at the end of the service.
    fn drain_all(&mut self) {
        self.drain();
        if let Some((sink, _, _)) = &mut self.log {
            sink.flush(self.logged_pid);
        }
    }

    fn set_alarm(&mut self, alarm: Alarm, after: Duration) {
        self.alarm = alarm;
        let after = (alarm != Alarm::None).then_some(after);
        let _ = channel::set_timer(&self.timer, after);
    }

    /// A first run that failed: nothing of it is left, the failure is reported (the
    /// intermediate process then puts the pidfile back) or, in the foreground,
    /// returned with the pidfile.
    fn fail_start(mut self, failure: Failure) -> (Failure, Option<Pidfile<'f>>) {
        self.killing = true;
        loop {
            self.signal_all(Signal::KILL);
            match wait(WaitOptions::empty()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => break,
            }
        }
        self.drain_all();
        let pidfile = self.pidfile.take();
        if self.reports.is_some() {
            // Dropping it would remove it: the intermediate process puts it back.
            core::mem::forget(pidfile);
            let failure = give_up(self.reports.take(), failure);
            return (failure, None);
        }
        (failure, pidfile)
    }

    /// The service is over: the pidfile goes, and we exit with the program's status.
    fn exit(&mut self) -> ! {
        self.drain_all();
        if let Some(pidfile) = self.pidfile.take() {
            // Removed, or emptied through the writer when the directory does not let
            // us remove it (a monitor that dropped its privileges): "not running".
            let _ = pidfile.release();
        }
        sys::exit_immediately(shell_status(self.last_exit))
    }
}
