//! What systemd passes a service it starts, read for the daemon's own code: socket
//! activation's descriptors with their names, and the watchdog's interval.
//!
//! Both follow sd_listen_fds(3) and sd_watchdog_enabled(3): the variables count only
//! for the process whose PID they name.

use core::time::Duration;
use rustix::process::{getpid, Pid};

use crate::sys;

/// The first descriptor of socket activation (`SD_LISTEN_FDS_START`).
const FIRST: i32 = 3;

/// The descriptors systemd passed to this process (`$LISTEN_FDS` from 3, when
/// `$LISTEN_PID` is ours), each with its name from `$LISTEN_FDNAMES` (`"unknown"`
/// where it names none, as `sd_listen_fds_with_names` says). Empty otherwise. Keep
/// them through the start with [`Daemon::socket_activation`](crate::Daemon::socket_activation),
/// in the foreground.
///
/// The names are read from the environment: do not change it while iterating.
///
/// ```no_run
/// let pending = daemonic::Daemon::new()
///     .detach(daemonic::Detach::Never)
///     .socket_activation(true)
///     .start_pending();
/// for (fd, name) in daemonic::listen_fds() {
///     println!("{name}: descriptor {fd}");
/// }
/// # drop(pending);
/// ```
pub fn listen_fds() -> impl Iterator<Item = (i32, &'static str)> {
    let count = activated_count().unwrap_or(0);
    let names = sys::getenv(c"LISTEN_FDNAMES")
        .and_then(|v| core::str::from_utf8(v.to_bytes()).ok())
        .unwrap_or("");
    let mut names = names.split(':').filter(|n| !n.is_empty());
    (FIRST..FIRST.saturating_add(count)).map(move |fd| (fd, names.next().unwrap_or("unknown")))
}

/// How many descriptors (from 3) systemd passed to *this* process, per `$LISTEN_PID`
/// and `$LISTEN_FDS`: what [`Daemon::socket_activation`](crate::Daemon::socket_activation)
/// keeps.
pub(crate) fn activated_count() -> Option<i32> {
    let fds = i32::try_from(number(c"LISTEN_FDS")?).ok()?;
    (ours(c"LISTEN_PID") && fds > 0).then_some(fds)
}

/// How often systemd's watchdog wants `WATCHDOG=1` (`$WATCHDOG_USEC`, when
/// `$WATCHDOG_PID` is ours or unset); send it with
/// [`Running::watchdog_ping`](crate::Running::watchdog_ping), at about half this
/// interval. `None` without a watchdog.
///
/// ```no_run
/// if let Some(interval) = daemonic::watchdog_interval() {
///     println!("ping every {:?}", interval / 2);
/// }
/// ```
pub fn watchdog_interval() -> Option<Duration> {
    let pid_ok = sys::getenv(c"WATCHDOG_PID").is_none() || ours(c"WATCHDOG_PID");
    let usec = number(c"WATCHDOG_USEC").filter(|&u| u > 0)?;
    pid_ok.then(|| Duration::from_micros(usec))
}

/// The decimal number in variable `name` (also s6's notification descriptor's).
pub(crate) fn number(name: &core::ffi::CStr) -> Option<u64> {
    crate::text::parse_decimal(sys::getenv(name)?.to_bytes())
}

/// Whether variable `name` holds our PID.
fn ours(name: &core::ffi::CStr) -> bool {
    number(name)
        .and_then(|n| i32::try_from(n).ok())
        .and_then(Pid::from_raw)
        == Some(getpid())
}
