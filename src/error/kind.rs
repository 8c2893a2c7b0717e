//! [`ErrorKind`]: every step that can fail, and every way a start can end.

use rustix::process::Pid;

/// The step that failed, or how the start-up ended.
///
/// The first group of variants happens in the original process before any fork; the
/// second in the daemon (reported back to the original process through the readiness
/// channel); the third is what the original process observes of the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An option is invalid (a path with a NUL byte, a relative working directory, ...).
    InvalidOption,
    /// The process has more than one thread, so forking it would be unsound.
    Threads,
    /// `/etc/passwd` or `/etc/group` could not be read.
    ReadAccounts,
    /// The user name or id is not in `/etc/passwd`.
    UnknownUser,
    /// The group name is not in `/etc/group`.
    UnknownGroup,
    /// A file for stdin, stdout or stderr (or `/dev/null`) could not be opened.
    OpenStdio,
    /// The pidfile could not be opened or created.
    OpenPidfile,
    /// The pidfile is not a safe file to trust (symlink, hard link, foreign owner,
    /// writable by others, not a regular file, content that is not a PID).
    InsecurePidfile,
    /// `flock` on the pidfile failed for a reason other than another holder.
    LockPidfile,
    /// The pidfile could not be read (for status or stop).
    ReadPidfile,
    /// The pidfile holds something other than a PID, or a PID above `pid_max`.
    MalformedPidfile,
    /// A signal could not be sent to the daemon.
    Kill,
    /// The daemon did not stop within the stop schedule (for a restart).
    StillRunning,
    /// Another process holds the pidfile's lock: the daemon is already running.
    AlreadyRunning {
        /// The PID the pidfile names, if it names one.
        pid: Option<Pid>,
    },
    /// The readiness channel could not be created, read or waited on.
    Channel,
    /// `fork` failed.
    Fork,
    /// `setsid` failed in the first child.
    Setsid,
    /// A signal's disposition could not be set.
    Signals,
    /// `chroot` failed.
    Chroot,
    /// `chdir` to the working directory failed.
    Chdir,
    /// `setrlimit(RLIMIT_CORE)` failed.
    CoreLimit,
    /// Writing the daemon's PID into the pidfile failed.
    WritePidfile,
    /// `setgroups` failed.
    SetGroups,
    /// `setresgid` failed.
    SetGid,
    /// `setresuid` failed.
    SetUid,
    /// After dropping privileges, they could be regained.
    PrivilegesRegained,
    /// `dup2` onto stdin, stdout or stderr failed.
    RedirectStdio,
    /// Closing inherited descriptors failed.
    CloseFds,
    // The ends of a start next to the steps: `Plan::describe`'s matches over both
    // then jump through shorter tables.
    /// The daemon closed the readiness channel without reporting (it died or dropped
    /// its [`Pending`](crate::Pending)).
    Died,
    /// The daemon reported a failure with this exit code through
    /// [`Pending::fail`](crate::Pending::fail).
    Failed {
        /// The code the daemon passed.
        code: u8,
    },
    /// The daemon did not report readiness in time and was killed.
    Timeout,
    /// Handing descriptors to the program ([`Daemon::exec`](crate::Daemon::exec)) failed.
    PassFds,
    /// `execve` failed: the program is missing, not executable, or its interpreter is.
    Exec,
    /// The program closed its readiness descriptor without writing a newline.
    NotReady,
    /// The program reported failure through `sd_notify`'s `ERRNO=`.
    ReportedFailure,
    /// A supervisor (systemd, s6) could not be told the daemon's state.
    Notify,
    /// The pidfile is locked, but not by the process it names: nothing it says can be
    /// believed (by status, stop and start).
    ForeignLock,
    /// The daemon stopped, but the pidfile it left could not be removed.
    RemovePidfile,
    /// The monitor of [`Daemon::supervise`](crate::Daemon::supervise) could not set
    /// itself up (signals, timer, pipes) or start the program.
    Supervise,
}
