//! The start of a supervised service ([`Daemon::supervise`](crate::Daemon::supervise)),
//! from the exec path once the program's arrays are built: the log opened, the
//! launch, and then the monitor in the daemon and the wait in the original process.
//! Reached only through the function pointer that `supervise` passes, so a program
//! that only calls `exec` links none of it.

use core::ffi::c_char;
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Uid};

use super::log::{LogFile, Sink, SyslogSink, DEV_LOG};
use super::policy::Supervision;
use crate::argv::Program;
use crate::error::{Error, ErrorKind, Failed};
use crate::launch::{self, Mode, Side};
use crate::plan::Plan;
use crate::supervisor::{Notified, NotifyListener};
use crate::sys;

/// How much longer than the program's readiness timeout the original process waits:
/// the monitor enforces it, and the original process should hear its verdict rather
/// than race it.
const MARGIN: core::time::Duration = core::time::Duration::from_secs(2);

/// What `supervise` hands the exec path: the policy, its own path, and what opens
/// the log when the policy asks for one.
#[derive(Clone, Copy)]
pub(crate) struct Supervised<'s> {
    pub(crate) policy: Supervision<'s>,
    pub(crate) launch: Launch,
    open_log: Option<OpenLog>,
}

/// The supervised path's entry: [`launch()`].
pub(crate) type Launch = fn(Plan<'_>, Parts<'_>, Supervised<'_>, &mut Error) -> Result<Pid, Failed>;

/// [`open_log`].
/// `Some` always: the sink is made in the place it is kept (an `Option` made by the
/// caller would be a second copy, on the frame the monitor runs on).
type OpenLog = for<'s> fn(
    &mut Plan<'_>,
    &Supervision<'s>,
    Option<i32>,
    &mut Error,
) -> Result<Option<Sink<'s>>, Failed>;

impl<'s> Supervised<'s> {
    /// Inlined into `supervise`'s caller: a policy without a log there links none of
    /// the log's code.
    #[inline(always)]
    pub(crate) fn new(policy: Supervision<'s>) -> Supervised<'s> {
        let log =
            policy.log_file.is_some() || policy.syslog.is_some() || policy.log_max_size.is_some();
        Supervised {
            policy,
            launch,
            open_log: log.then_some(open_log as OpenLog),
        }
    }
}

/// The notify socket and the function that reads it: a pointer, set where the socket
/// is made, so that a monitor without sd_notify links no reader.
pub(crate) struct Notify {
    pub(crate) listener: NotifyListener,
    pub(crate) receive: Receive,
}

/// [`NotifyListener::receive`].
pub(crate) type Receive = fn(&NotifyListener, Uid) -> Result<Option<Notified>, Errno>;

/// What the exec path prepared: the program, its `argv` and `envp` (on the exec path's
/// stack frame, which outlives this call), where to search it, its readiness number or
/// notify socket, and in the foreground a copy of stderr for the failure message.
pub(crate) struct Parts<'p> {
    pub(crate) program: &'p Program<'p>,
    pub(crate) argv: &'p [*const c_char],
    pub(crate) envp: &'p [*const c_char],
    pub(crate) search: &'p [u8],
    pub(crate) readiness: Option<i32>,
    /// The socket the program's `sd_notify` messages come to, and its reader.
    pub(crate) notify: Option<Notify>,
    pub(crate) stderr: Option<OwnedFd>,
}

/// Opens the log, launches, and runs the monitor (in the daemon) or waits for its
/// report (in the original process, where it returns).
fn launch(
    mut plan: Plan<'_>,
    parts: Parts<'_>,
    supervised: Supervised<'_>,
    err: &mut Error,
) -> Result<Pid, Failed> {
    let policy = supervised.policy;
    let path = parts.program.path;
    // The monitor keeps the writer: it empties the pidfile when it may not remove it.
    if let Some(fd) = plan.pidfile.as_ref().and_then(|(p, _)| p.writer_fd()) {
        plan.keep_writer = true;
        plan.keep(fd);
    }
    let timeout = plan.o.timeout.as_ref().map(|t| t.duration);
    if let Some(t) = timeout {
        if let Err(e) = plan.deadline.extend(t + MARGIN) {
            let _ = crate::channel::failed(e, b"timer", err);
            return Err(plan.abandon(err));
        }
    }
    // The monitor, not the original process, hears the program's sd_notify.
    if let Some(notify) = &parts.notify {
        plan.keep(notify.listener.socket().as_raw_fd());
    }
    let log = match supervised.open_log {
        Some(open) => match open(&mut plan, &policy, parts.readiness, err) {
            Ok(log) => log,
            Err(_) => return Err(plan.abandon(err)),
        },
        None => None,
    };
    let mode = Mode::Supervise(path);
    let side = match launch::run(&mut plan) {
        Ok(side) => side,
        Err(failure) => return Err(plan.fail(failure, Some(path), err)),
    };
    match side {
        Side::Daemon { reports, pid } => {
            let watched = super::Program {
                path,
                search: parts.search,
                argv: parts.argv,
                envp: parts.envp,
                preserve: plan.o.preserve.as_slice(),
                readiness: parts.readiness,
                notify: parts.notify.as_ref(),
                timeout,
            };
            // The monitor holds the lock; a first run that fails in the foreground
            // gives the pidfile back, to be put back as it was.
            let (pidfile, previous) = match plan.pidfile.take() {
                Some((p, previous)) => (Some(p), Some(previous)),
                None => (None, None),
            };
            let (failure, back) = super::run(pid, reports, pidfile, log, &watched, policy);
            if let (Some(p), Some(previous)) = (back, previous) {
                plan.pidfile = Some((p, previous));
            }
            if let Some(stderr) = &parts.stderr {
                let _ = sys::redirect(stderr.as_raw_fd(), 2);
            }
            Err(plan.fail(failure, Some(path), err))
        }
        Side::Original(launched) => {
            let outcome = launched.wait(&plan, mode);
            launched.conclude(&mut plan, outcome, mode, err)
        }
    }
}

/// The log the policy asks for, opened before the fork (its descriptors kept above
/// the readiness number). The error is made in the slot: a value would be copied.
fn open_log<'s>(
    plan: &mut Plan<'_>,
    policy: &Supervision<'s>,
    readiness: Option<i32>,
    err: &mut Error,
) -> Result<Option<Sink<'s>>, Failed> {
    let floor = readiness.map_or(3, |n| n.saturating_add(1));
    let why: &[u8] = match (policy.log_file, &policy.syslog) {
        (Some(_), Some(_)) => b"a log file or syslog, not both",
        (Some(path), None) => {
            let (mode, creds) = (plan.o.output_mode, plan.creds.as_ref());
            let cap = policy.log_max_size.map_or(u64::MAX, |cap| cap.get());
            match LogFile::open(path, mode, cap, creds, floor) {
                Ok(file) => return Ok(Some(kept(plan, Sink::file(file)))),
                Err(e) => return Err(log_error(err, e, path.to_bytes(), b" (the log)")),
            }
        }
        (None, Some(syslog)) if policy.log_max_size.is_none() => {
            match SyslogSink::open(syslog, floor) {
                Ok(socket) => return Ok(Some(kept(plan, Sink::syslog(socket)))),
                Err(e) => return Err(log_error(err, e, DEV_LOG.to_bytes(), b" (syslog)")),
            }
        }
        // `Supervised::new` asks for a log only when the policy names one: what is
        // left is a cap, with syslog or with nothing.
        (None, _) => b"a log size cap without a log file",
    };
    Err(Error::fill(err, ErrorKind::InvalidOption, None)
        .push_text(why)
        .failed())
}

/// A log that could not be opened, in the slot.
fn log_error(err: &mut Error, e: Errno, path: &[u8], what: &[u8]) -> Failed {
    Error::fill(err, ErrorKind::OpenStdio, Some(e))
        .push_path(path)
        .push_text(what)
        .failed()
}

/// The sink, its descriptors kept.
fn kept<'s>(plan: &mut Plan<'_>, sink: Sink<'s>) -> Sink<'s> {
    for fd in sink.fds().into_iter().filter(|&fd| fd >= 0) {
        plan.keep(fd);
    }
    sink
}
