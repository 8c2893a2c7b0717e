//! The builder's options for supervisors (sd_notify, socket activation, s6) and for
//! an exec'd program's readiness.

use super::Daemon;
use crate::error::Error;
use crate::options::MAX_READINESS_FD;
use crate::supervisor::NotificationFd;

impl<'a> Daemon<'a> {
    /// systemd's readiness protocol: read `$NOTIFY_SOCKET` before the fork, and have
    /// [`Pending::ready`](crate::Pending::ready) send it `READY=1` (with `MAINPID=`
    /// when the daemon forked); [`Running::notify`](crate::Running::notify) sends more.
    /// Off by default: a daemon that is not run by systemd does not carry the code.
    ///
    /// ```no_run
    /// use daemonic::{Daemon, Detach};
    ///
    /// let pending = Daemon::new().detach(Detach::Never).sd_notify(true).start_pending();
    /// let _running = pending.ready()?; // systemd now knows the service is up
    /// # Ok::<(), daemonic::NotifyError>(())
    /// ```
    #[must_use]
    pub fn sd_notify(self, notify: bool) -> Self {
        self.supervisors(|s| {
            s.sd_notify = notify;
            s.find = crate::supervisor::find;
        })
    }

    /// systemd's socket activation: in the foreground, keep the descriptors
    /// `$LISTEN_FDS` says systemd passed to this process (3 and up), instead of
    /// closing them with the rest; [`listen_fds`](crate::listen_fds) lists them
    /// with their names.
    #[must_use]
    pub fn socket_activation(self, keep: bool) -> Self {
        self.supervisors(|s| s.socket_activation = keep)
    }

    /// s6's readiness protocol: [`Pending::ready`](crate::Pending::ready) writes a
    /// newline to this descriptor and closes it (s6-supervise's `notification-fd`).
    /// The descriptor is kept open until then.
    ///
    /// ```no_run
    /// use daemonic::{Daemon, Detach, NotificationFd};
    ///
    /// let pending = Daemon::new().detach(Detach::Never).s6_notification_fd(NotificationFd::Fd(3)).start_pending();
    /// let _running = pending.ready()?; // s6 now knows the service is up
    /// # Ok::<(), daemonic::NotifyError>(())
    /// ```
    #[must_use]
    pub fn s6_notification_fd(self, fd: NotificationFd<'a>) -> Self {
        self.supervisors(|s| {
            s.s6 = Some(fd);
            s.find = crate::supervisor::find;
        })
    }

    /// With [`sd_notify`](Daemon::sd_notify) or
    /// [`socket_activation`](Daemon::socket_activation): whether to remove the
    /// supervisor's variables (`NOTIFY_SOCKET`, `LISTEN_PID`, `LISTEN_FDS`,
    /// `LISTEN_FDNAMES`, `WATCHDOG_PID`, `WATCHDOG_USEC`) from the environment once
    /// they are read. A daemon that forked loses them whatever this says (they
    /// describe the process the supervisor started). In the foreground they stay by
    /// default, still true, for the program's own code ([`listen_fds`](crate::listen_fds),
    /// the `listenfd` and `sd-notify` crates); `true` removes them there too, so the
    /// daemon's children cannot inherit `NOTIFY_SOCKET`.
    #[must_use]
    pub fn clear_supervisor_env(self, clear: bool) -> Self {
        self.supervisors(|s| s.clear_env = clear)
    }

    /// For [`exec`](Daemon::exec): gives the program a pipe as descriptor `fd`, and
    /// makes the original process wait until the program writes a newline to it
    /// (s6's readiness protocol), instead of only for the exec. If the program closes
    /// the descriptor first, the start fails with
    /// [`ErrorKind::NotReady`](crate::ErrorKind::NotReady); with a
    /// [`timeout`](Daemon::timeout), it is killed when the time passes.
    #[must_use]
    pub fn readiness_fd(mut self, fd: i32) -> Self {
        if !(3..=MAX_READINESS_FD).contains(&fd) {
            return self.invalid(
                Error::invalid("readiness descriptor ")
                    .number(fd as u64)
                    .text(" is not between 3 and 1048576"),
            );
        }
        self.options.readiness = Some(fd);
        self
    }

    /// For [`exec`](Daemon::exec): be the receiving end of `sd_notify`, like
    /// start-stop-daemon's `--notify-await`. A private socket is created, the program
    /// gets it as `NOTIFY_SOCKET`, and the original process waits for `READY=1` (or
    /// fails on `ERRNO=`; `EXTEND_TIMEOUT_USEC=` extends the wait) for the
    /// [`timeout`](Daemon::timeout), 60 s if none is set. Only messages from root or
    /// the daemon's user count.
    #[must_use]
    pub fn await_notify_socket(mut self, await_it: bool) -> Self {
        self.options.await_notify = await_it;
        self
    }
}
