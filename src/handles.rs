//! What a start hands back: [`Fork`] in both processes, [`Pending`] and [`Running`]
//! in the daemon.

use rustix::fd::{AsRawFd, OwnedFd};
use rustix::process::Pid;

use crate::channel::{self, Report};
use crate::creds::Creds;
use crate::error::{Error, ErrorKind};
use crate::pidfile::Pidfile;
use crate::supervisor::Tellers;
use crate::sys;

/// What [`Daemon::fork`](crate::Daemon::fork) returns.
// `Pending` is large because the pidfile keeps its path inline (no allocation); it
// is returned once per process, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Fork<'a> {
    /// In the original process: the daemon is ready, with this PID.
    Parent(Pid),
    /// In the daemon: report readiness with the handle.
    Daemon(Pending<'a>),
}

/// The daemon before it has reported readiness.
///
/// Report with [`ready`](Pending::ready) or [`fail`](Pending::fail). Dropping it
/// without either closes the channel: the original process then says the daemon
/// exited before reporting readiness, and puts the pidfile back as it was.
///
/// ```no_run
/// let pending = daemonic::Daemon::new().pidfile("/run/app.pid").start_pending();
/// // Only the daemon gets here: load configuration, then
/// let _running = pending.ready();
/// ```
#[derive(Debug)]
#[must_use = "the original process waits until the daemon reports ready() or fail()"]
pub struct Pending<'a> {
    /// The daemon's end of the report channel; `None` in the foreground.
    reports: Option<OwnedFd>,
    pid: Pid,
    pidfile: Option<Pidfile<'a>>,
    tellers: Option<Tellers>,
    /// The identity to switch to, with `drop_privileges_at_ready`.
    deferred: Option<Creds>,
}

impl<'a> Pending<'a> {
    pub(crate) fn new(
        reports: Option<OwnedFd>,
        pid: Pid,
        pidfile: Option<Pidfile<'a>>,
        tellers: Option<Tellers>,
        deferred: Option<Creds>,
    ) -> Pending<'a> {
        Pending {
            reports,
            pid,
            pidfile,
            tellers,
            deferred,
        }
    }

    /// With [`Daemon::drop_privileges_at_ready`](crate::Daemon::drop_privileges_at_ready):
    /// switches to the user and groups now (else [`ready`](Pending::ready) does).
    /// Never returns with the privileges it was told to drop: if the switch fails,
    /// the original process is told (it prints why and puts the pidfile back) and
    /// this process exits with status 1. Without that option it does nothing.
    ///
    /// ```no_run
    /// let mut pending = daemonic::Daemon::new()
    ///     .user("app")
    ///     .drop_privileges_at_ready(true)
    ///     .start_pending();
    /// let key = std::fs::read("/etc/app/root-only.key"); // as root
    /// pending.drop_privileges(); // as app from here on
    /// # drop((key, pending.ready()));
    /// ```
    pub fn drop_privileges(&mut self) {
        let Some(creds) = self.deferred.take() else {
            return;
        };
        // As the steps do: the descriptor that could rewrite the PID goes first.
        if let Some(pidfile) = &mut self.pidfile {
            pidfile.close_writer();
        }
        if let Err(failure) = (creds.apply)(&creds) {
            match &self.reports {
                Some(reports) => crate::launch::report_failure(reports.as_raw_fd(), failure),
                None => {
                    let mut err = Error::new(ErrorKind::Died);
                    let _ = (creds.describe)(&creds, failure, &mut err);
                    crate::error::report(&err)
                }
            }
            sys::exit_immediately(1);
        }
    }

    /// Tells the original process the daemon is ready (it exits with status 0), and
    /// the supervisors it was asked to tell ([`Daemon::sd_notify`](crate::Daemon::sd_notify),
    /// [`Daemon::s6_notification_fd`](crate::Daemon::s6_notification_fd)).
    ///
    /// A supervisor that cannot be told is an error, which carries the [`Running`]
    /// daemon all the same ([`NotifyError::into_running`]).
    ///
    /// ```no_run
    /// let pending = daemonic::Daemon::new().start_pending();
    /// let running = pending.ready().unwrap_or_else(daemonic::NotifyError::into_running);
    /// # drop(running);
    /// ```
    // The error carries the `Running` daemon (the pidfile's path is inline, for
    // no_std); it is built at most once, so its size costs nothing.
    #[allow(clippy::result_large_err)]
    pub fn ready(mut self) -> Result<Running<'a>, NotifyError<'a>> {
        self.drop_privileges();
        let told = self.tell();
        let running = self.into_running();
        match told {
            Ok(()) => Ok(running),
            Err(error) => Err(NotifyError { running, error }),
        }
    }

    /// Tells the original process, then the supervisors.
    pub(crate) fn tell(&mut self) -> Result<(), Error> {
        if let Some(reports) = self.reports.take() {
            channel::send_report(&reports, Report::Ready(self.pid));
        }
        match &mut self.tellers {
            Some(t) => (t.ready)(t, self.pid),
            None => Ok(()),
        }
    }

    pub(crate) fn into_running(mut self) -> Running<'a> {
        Running {
            pidfile: self.pidfile.take(),
            tellers: self.tellers.take(),
        }
    }

    /// Tells the original process the daemon failed to start; it prints the code and
    /// exits with it (or 3 for 0), after putting the pidfile back as it was. In the
    /// foreground the pidfile is released here. The daemon should exit next.
    ///
    /// ```no_run
    /// let pending = daemonic::Daemon::new().start_pending();
    /// pending.fail(4); // the original process exits with status 4
    /// std::process::exit(4);
    /// ```
    pub fn fail(self, code: u8) {
        if let Some(reports) = &self.reports {
            channel::send_report(reports, Report::Code(code));
        }
    }

    /// The daemon's PID.
    pub fn pid(&self) -> Pid {
        self.pid
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // Not ready: the intermediate process restores the pidfile (it shares the
        // lock); removing it here too would race with that.
        if self.reports.is_some() {
            if let Some(pidfile) = self.pidfile.take() {
                pidfile.disown();
            }
        }
    }
}

/// A supervisor could not be told the daemon is ready; the daemon runs all the same.
///
/// ```no_run
/// let pending = daemonic::Daemon::new().start_pending();
/// let running = pending.ready().unwrap_or_else(|e| {
///     // log e.error() somewhere the daemon can write to
///     e.into_running()
/// });
/// # drop(running);
/// ```
#[derive(Debug)]
pub struct NotifyError<'a> {
    running: Running<'a>,
    error: Error,
}

impl<'a> NotifyError<'a> {
    /// What failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The running daemon, to carry on with.
    pub fn into_running(self) -> Running<'a> {
        self.running
    }
}

impl core::fmt::Display for NotifyError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.error.fmt(f)
    }
}

impl core::error::Error for NotifyError<'_> {}

/// A started daemon. Dropping it releases the pidfile (removes it while locked).
///
/// ```no_run
/// let running = daemonic::Daemon::new().pidfile("/run/app.pid").start();
/// assert!(running.pidfile().is_some());
/// ```
#[derive(Debug)]
pub struct Running<'a> {
    pidfile: Option<Pidfile<'a>>,
    tellers: Option<Tellers>,
}

impl<'a> Running<'a> {
    /// The locked pidfile, if one was configured.
    pub fn pidfile(&self) -> Option<&Pidfile<'a>> {
        self.pidfile.as_ref()
    }

    /// Sends an `sd_notify` message to systemd, e.g. `"STATUS=serving 12 clients"`,
    /// `"RELOADING=1"` or `"STOPPING=1"`. Without [`Daemon::sd_notify`](crate::Daemon::sd_notify),
    /// or without `$NOTIFY_SOCKET` when the daemon started, there is no one to tell,
    /// and this does nothing.
    ///
    /// ```no_run
    /// # let running = daemonic::Daemon::new().sd_notify(true).start();
    /// running.notify("STOPPING=1")?;
    /// # Ok::<(), daemonic::Error>(())
    /// ```
    pub fn notify(&self, message: &str) -> Result<(), Error> {
        match self.tellers.as_ref().and_then(|t| t.socket.as_ref()) {
            Some(socket) => socket.send(message.as_bytes()),
            None => Ok(()),
        }
    }

    /// Tells systemd's watchdog the daemon is alive (`WATCHDOG=1`); send it at about
    /// half of [`watchdog_interval`](crate::watchdog_interval). As with
    /// [`notify`](Running::notify), nothing happens without
    /// [`Daemon::sd_notify`](crate::Daemon::sd_notify) and `$NOTIFY_SOCKET`.
    ///
    /// ```no_run
    /// # let running = daemonic::Daemon::new().sd_notify(true).start();
    /// if let Some(interval) = daemonic::watchdog_interval() {
    ///     loop {
    ///         running.watchdog_ping()?;
    ///         std::thread::sleep(interval / 2);
    ///     }
    /// }
    /// # Ok::<(), daemonic::Error>(())
    /// ```
    pub fn watchdog_ping(&self) -> Result<(), Error> {
        self.notify("WATCHDOG=1")
    }
}
