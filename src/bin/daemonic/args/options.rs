//! What a command line says: the command, the options and their values, and what
//! is wrong with it.

use core::ffi::CStr;
use core::time::Duration;
use daemonic::{Detach, Facility, Group, Restart, Signal, User};

use crate::list::List;

/// The most `--env` and `--keep-fd` options.
pub const MAX_REPEATS: usize = 64;

/// The command; each is a bit, so that an option's table entry says where it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    Start = 1,
    Stop = 2,
    Status = 4,
    Restart = 8,
    /// No option applies to these two.
    Help = 16,
    Version = 32,
}

/// An option; the ones before `ClearEnv` take a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd)]
pub enum Opt {
    Pidfile,
    User,
    Group,
    Chdir,
    Chroot,
    Umask,
    Stdout,
    Stderr,
    Env,
    KeepFd,
    Timeout,
    NotifyFd,
    Signal,
    Retry,
    Restart,
    RestartDelay,
    LogFile,
    LogMaxSize,
    Syslog,
    SyslogFacility,
    ClearEnv,
    Foreground,
    Detach,
    Auto,
    Oknodo,
    Quiet,
    NotifySocket,
    KeepCoreLimit,
    Supervise,
    ForwardToGroup,
}

/// Everything the command line says.
pub struct Options<'a> {
    pub command: Command,
    pub pidfile: Option<&'a CStr>,
    pub user: Option<User<'a>>,
    pub group: Option<Group<'a>>,
    pub chdir: Option<&'a CStr>,
    pub chroot: Option<&'a CStr>,
    pub umask: Option<u32>,
    pub stdout: Option<&'a CStr>,
    pub stderr: Option<&'a CStr>,
    pub env: List<&'a CStr, MAX_REPEATS>,
    pub clear_env: bool,
    pub detach: Detach,
    /// Whether `--foreground`, `--detach` or `--auto` was given.
    pub detach_given: bool,
    pub keep: List<i32, MAX_REPEATS>,
    pub timeout: Option<Duration>,
    pub oknodo: bool,
    pub quiet: bool,
    pub notify_fd: Option<i32>,
    pub notify_socket: bool,
    /// Leave `RLIMIT_CORE` as it is (by default 0: no core dumps).
    pub keep_core_limit: bool,
    /// Run PROGRAM under daemonic's monitor, with this restart policy and first pause.
    pub supervise: bool,
    pub restart: Option<Restart>,
    pub restart_delay: Option<Duration>,
    /// The file the monitor writes PROGRAM's stdout and stderr to, or the syslog tag
    /// and facility.
    pub log_file: Option<&'a CStr>,
    /// The bytes at which the monitor renames the log `FILE.1` and starts a new one.
    pub log_max_size: Option<u64>,
    pub syslog: Option<&'a str>,
    pub syslog_facility: Option<Facility>,
    /// Forward signals to PROGRAM's process group.
    pub forward_to_group: bool,
    pub signal: Signal,
    pub retry: Option<&'a str>,
    /// The program and its arguments, after `--`.
    pub program: &'a [&'a CStr],
}

/// A usage error: what is wrong, and the argument it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage<'a> {
    pub what: &'static str,
    pub arg: Option<&'a CStr>,
}

impl Usage<'static> {
    pub(super) const fn new(what: &'static str) -> Self {
        Usage { what, arg: None }
    }
}

impl<'a> Usage<'a> {
    pub(super) const fn about(what: &'static str, arg: &'a CStr) -> Self {
        Usage {
            what,
            arg: Some(arg),
        }
    }
}
