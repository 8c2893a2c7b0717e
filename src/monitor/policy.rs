//! The restart policy of [`Daemon::supervise`](crate::Daemon::supervise), and the
//! pause it gives a failing program.

use core::time::Duration;

/// A run shorter than this doubles the next pause.
pub(super) const QUICK: Duration = Duration::from_secs(10);
/// The longest pause (unless the first is longer).
const LONGEST: Duration = Duration::from_secs(60);

/// When the monitor starts the program again after it exits.
///
/// ```
/// use daemonic::{Restart, Supervision};
///
/// let s = Supervision { restart: Restart::OnFailure, ..Supervision::new() };
/// assert_eq!(s.restart, Restart::OnFailure);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Never: the service ends with the program.
    Never,
    /// When it exits with a status other than 0 or is killed by a signal.
    OnFailure,
    /// Whenever it exits (except after a stop signal).
    Always,
}

/// How [`Daemon::supervise`](crate::Daemon::supervise) keeps the program running.
///
/// The pause before a restart starts at `delay`; after a run shorter than 10 s it
/// doubles, up to 60 s (or `delay`, if longer), so a program that keeps failing is
/// never restarted in a tight loop; a run of 10 s or more resets it.
///
/// With `log_file`, the program's stdout and stderr go through the monitor into that
/// file (appended to, created with [`Daemon::output_mode`](crate::Daemon::output_mode)),
/// which SIGHUP makes the monitor reopen by name (logrotate's `postrotate` sends it);
/// SIGHUP is then not forwarded. The file is opened before the fork, as the daemon's
/// user would be allowed to; a relative path is from the caller's directory. When a
/// write fails (a full disk), what did not fit is dropped: the program never blocks
/// on its log. With `log_max_size` as well, a file that would grow past that many
/// bytes is renamed `FILE.1` (replacing the last one) and a new `FILE` started, at
/// the end of a line (at most one read of the program's output, 4 KiB, past the
/// cap): the two hold the latest lines, whole. If the rename fails (the directory is
/// not writable by the daemon's user), the file grows on.
///
/// With `syslog` instead, they go to syslog (`/dev/log`) line by line, at severity
/// `notice` (as FreeBSD's daemon(8)), tagged `TAG[PID]`.
///
/// ```
/// use core::time::Duration;
/// use daemonic::{Restart, Supervision};
///
/// let s = Supervision {
///     restart: Restart::Always,
///     delay: Duration::from_millis(500),
///     log_file: Some(c"/var/log/app.log"),
///     log_max_size: core::num::NonZeroU64::new(10 << 20),
///     syslog: None,
///     forward_to_group: false,
/// };
/// assert_eq!(Supervision::new().restart, Restart::Never);
/// # let _ = s;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supervision<'a> {
    /// When to restart.
    pub restart: Restart,
    /// The first pause before a restart.
    pub delay: Duration,
    /// A file the program's stdout and stderr go to, through the monitor.
    pub log_file: Option<&'a core::ffi::CStr>,
    /// With `log_file`: the bytes at which the file is renamed `FILE.1` and a new one
    /// started; `None` lets it grow.
    pub log_max_size: Option<core::num::NonZeroU64>,
    /// Or syslog.
    pub syslog: Option<Syslog<'a>>,
    /// Forward signals to the program's whole process group (what it forked and kept
    /// there too), as tini's `-g`, rather than to the program alone.
    pub forward_to_group: bool,
}

/// Where [`Supervision::syslog`] sends the program's lines: its tag and facility.
///
/// ```
/// use daemonic::{Facility, Syslog};
///
/// let s = Syslog { tag: "app", facility: Facility::Local3 };
/// assert_eq!(s.facility as u8, 19);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syslog<'a> {
    /// The name each line is tagged with (`app[PID]: ...`).
    pub tag: &'a str,
    /// The facility; the severity is `notice`.
    pub facility: Facility,
}

/// A syslog facility (RFC 5424's numbers), for [`Syslog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the names are syslog's
pub enum Facility {
    User = 1,
    Daemon = 3,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

impl Supervision<'_> {
    /// No restarts (a pause of 1 s if restarts are turned on), no log.
    pub const fn new() -> Self {
        Supervision {
            restart: Restart::Never,
            delay: Duration::from_secs(1),
            log_file: None,
            log_max_size: None,
            syslog: None,
            forward_to_group: false,
        }
    }
}

impl Default for Supervision<'_> {
    fn default() -> Self {
        Supervision::new()
    }
}

/// The pause before the next run: `pause` doubled after a quick run (up to the
/// cap), reset to `first` after a `long` one.
pub(super) fn next_pause(pause: &mut Duration, first: Duration, long: bool) -> Duration {
    if long {
        *pause = first;
    }
    let this = *pause;
    *pause = (this * 2).min(LONGEST.max(first));
    this
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_after_quick_runs_up_to_the_cap_and_reset_after_a_long_one() {
        let first = Duration::from_millis(200);
        let mut pause = first;
        let seen: [Duration; 12] = core::array::from_fn(|_| next_pause(&mut pause, first, false));
        assert_eq!(seen[0], first);
        assert_eq!(seen[1], first * 2);
        assert_eq!(seen[2], first * 4);
        assert_eq!(seen[11], LONGEST);
        assert_eq!(next_pause(&mut pause, first, true), first);
        // A first pause longer than the cap is kept.
        let long = Duration::from_secs(90);
        let mut pause = long;
        assert_eq!(next_pause(&mut pause, long, false), long);
        assert_eq!(next_pause(&mut pause, long, false), long);
    }
}
