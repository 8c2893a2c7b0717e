//! `status`: what a pidfile says about its daemon.

use rustix::process::Pid;

use crate::error::{Error, ErrorKind};
use crate::holder;
use crate::path::IntoCPath;
use crate::pidfile::Runs;

use super::look::{look, nul_error, Holder};

/// What a pidfile says about its daemon, with the LSB exit codes of an init script's
/// `status` action ([`exit_code`](Status::exit_code)).
#[derive(Debug)]
pub enum Status {
    /// The pidfile is locked: the daemon runs. `pid` is `None` while a starting daemon
    /// has not written it yet. LSB code 0.
    Running {
        /// The PID the pidfile names.
        pid: Option<Pid>,
        /// Under a monitor ([`Daemon::supervise`](crate::Daemon::supervise)), once the
        /// program's first run has ended: its restarts and how the last run ended.
        runs: Option<Runs>,
    },
    /// The pidfile names a PID but nobody holds its lock: the daemon died without
    /// removing it. The PID may now belong to an unrelated process. LSB code 1.
    Stale {
        /// The PID the pidfile names.
        pid: Option<Pid>,
    },
    /// There is no pidfile, or an empty one nobody locks (left by a daemon that could
    /// not remove it, such as one that dropped privileges). LSB code 3.
    NotRunning,
    /// The pidfile cannot be trusted or read: a symlink, a hard link, not a regular
    /// file, owned by another user, writable by others, unreadable, or holding
    /// something other than a PID. LSB code 4.
    Unknown(Error),
}

impl Status {
    /// The LSB exit code: 0 running, 1 stale pidfile, 3 not running, 4 unknown.
    pub fn exit_code(&self) -> i32 {
        match self {
            Status::Running { .. } => 0,
            Status::Stale { .. } => 1,
            Status::NotRunning => 3,
            Status::Unknown(_) => 4,
        }
    }
}

/// Reports whether the daemon of the pidfile at `path` runs.
///
/// Running means: the pidfile names a process, and that process holds the pidfile's
/// lock (`/proc/PID/fdinfo` shows it). A lock held by anyone else is
/// [`Status::Unknown`] ([`ErrorKind::ForeignLock`](crate::ErrorKind::ForeignLock)), never "running". A locked file
/// that names no PID yet is a daemon starting. Nothing is locked to find out. A PID
/// equal to our own is treated as no PID (a container restarted with the same small
/// PIDs).
///
/// Who can ask: root, and the pidfile's owner for their own daemons (the default mode,
/// 0600, lets nobody else open the file).
///
/// ```no_run
/// use daemonic::{status, Status};
///
/// match status("/run/app.pid") {
///     Status::Running { pid: Some(pid), .. } => println!("running as {}", pid.as_raw_nonzero()),
///     other => std::process::exit(other.exit_code()),
/// }
/// ```
pub fn status<'a>(path: impl IntoCPath<'a>) -> Status {
    let path = match path.into_c_path() {
        Ok(path) => path,
        Err(_) => return Status::Unknown(nul_error()),
    };
    let path = path.as_c_str();
    let mut err = Error::new(ErrorKind::Died);
    match look(path, &mut err) {
        Ok(None) => Status::NotRunning,
        Ok(Some(seen)) => match seen.holder {
            Holder::Named(pid) => Status::Running {
                pid: Some(pid),
                runs: seen.runs,
            },
            Holder::Starting => Status::Running {
                pid: None,
                runs: None,
            },
            // No PID, no dead daemon to speak of: an empty file is what a daemon that
            // dropped privileges leaves (it may not remove a root-owned pidfile), and
            // what a start holds for an instant before its lock.
            Holder::Nobody if seen.empty => Status::NotRunning,
            Holder::Nobody => Status::Stale { pid: seen.pid },
            Holder::Other => Status::Unknown(holder::foreign(path.to_bytes(), seen.pid)),
        },
        Err(_) => Status::Unknown(err),
    }
}
