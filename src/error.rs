//! Errors: which step failed, on what, and the OS error, without allocating.
//!
//! An [`Error`] owns a short copy of the path or name it refers to (truncated past
//! [`Error`]'s inline capacity), so it can be returned from the original process after
//! the daemon configuration is gone, and displayed with neither `std` nor `alloc`.

use core::fmt::{self, Write};
use rustix::io::Errno;
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
    /// The pidfile is not a safe file to trust (symlink, hard link, foreign owner, writable by others, not a regular file).
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
    /// A signal in the signal map could not be set.
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
    /// The daemon closed the readiness channel without reporting (it died or dropped its [`Pending`](crate::Pending)).
    Died,
    /// The daemon reported a failure with this exit code through [`Pending::fail`](crate::Pending::fail).
    Failed {
        /// The code the daemon passed.
        code: u8,
    },
    /// The daemon did not report readiness in time and was killed.
    Timeout,
}

/// How many bytes of context (a path, a user name) an [`Error`] keeps.
const CONTEXT: usize = 96;

/// An error from daemonizing or from a pidfile operation.
///
/// It says which step failed ([`kind`](Error::kind)), the OS error if there is one
/// ([`errno`](Error::errno)), and the path, user or value involved, and displays as one
/// line, e.g. `cannot change directory to /srv/x: No such file or directory (os error 2)`.
///
/// ```
/// use daemonic::{Daemon, ErrorKind};
///
/// let err = Daemon::new().working_directory("relative/dir").check().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidOption);
/// assert!(err.to_string().contains("relative/dir"));
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    errno: Option<Errno>,
    len: u8,
    truncated: bool,
    context: [u8; CONTEXT],
}

impl Error {
    /// An error of `kind` with `errno` and a context formatted from `args`.
    pub(crate) fn new(kind: ErrorKind, errno: Option<Errno>, args: fmt::Arguments<'_>) -> Error {
        let mut err = Error {
            kind,
            errno,
            len: 0,
            truncated: false,
            context: [0; CONTEXT],
        };
        // Writing into the inline buffer only truncates; it never fails.
        let _ = err.write_fmt(args);
        err
    }

    /// The step that failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The OS error, when the failure came from a system call.
    pub fn errno(&self) -> Option<Errno> {
        self.errno
    }

    /// The exit status the original process uses for this error, following
    /// start-stop-daemon: 1 when nothing was done because the daemon is already
    /// running, the daemon's own code for [`ErrorKind::Failed`], 3 for anything else.
    ///
    /// ```
    /// # use daemonic::{Daemon, ErrorKind};
    /// let err = Daemon::new().umask(0o1000).check().unwrap_err();
    /// assert_eq!(err.exit_code(), 3);
    /// ```
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::AlreadyRunning { .. } => 1,
            ErrorKind::Failed { code } if code != 0 => i32::from(code),
            _ => 3,
        }
    }

    fn context(&self) -> &str {
        // Only whole UTF-8 sequences are stored (see `write_str`).
        core::str::from_utf8(&self.context[..usize::from(self.len)]).unwrap_or("")
    }
}

impl Write for Error {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // The last three bytes are kept for "..." so a truncated context says so.
        let len = usize::from(self.len);
        if self.truncated {
            return Ok(());
        }
        let mut take = s.len().min(CONTEXT - 3 - len);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.context[len..len + take].copy_from_slice(&s.as_bytes()[..take]);
        let mut end = len + take;
        if take < s.len() {
            self.context[end..end + 3].copy_from_slice(b"...");
            end += 3;
            self.truncated = true;
        }
        self.len = end as u8;
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.context();
        match self.kind {
            ErrorKind::InvalidOption => write!(f, "invalid option: {c}"),
            ErrorKind::Threads => write!(
                f,
                "refusing to fork a process with {c} threads: only the calling thread would survive"
            ),
            ErrorKind::ReadAccounts => write!(f, "cannot read {c}"),
            ErrorKind::UnknownUser => write!(f, "unknown user {c}"),
            ErrorKind::UnknownGroup => write!(f, "unknown group {c}"),
            ErrorKind::OpenStdio => write!(f, "cannot open {c}"),
            ErrorKind::OpenPidfile => write!(f, "cannot open pidfile {c}"),
            ErrorKind::InsecurePidfile => write!(f, "refusing pidfile {c}"),
            ErrorKind::LockPidfile => write!(f, "cannot lock pidfile {c}"),
            ErrorKind::ReadPidfile => write!(f, "cannot read pidfile {c}"),
            ErrorKind::MalformedPidfile => write!(f, "pidfile {c} does not hold a valid PID"),
            ErrorKind::Kill => write!(f, "cannot signal {c}"),
            ErrorKind::StillRunning => write!(f, "the daemon (pid {c}) did not stop in time"),
            ErrorKind::AlreadyRunning { pid: Some(pid) } => {
                write!(
                    f,
                    "already running (pid {}; pidfile {c})",
                    pid.as_raw_nonzero()
                )
            }
            ErrorKind::AlreadyRunning { pid: None } => {
                write!(f, "already running (pid unknown; pidfile {c} is locked)")
            }
            ErrorKind::Channel => write!(f, "readiness channel failed: {c}"),
            ErrorKind::Fork => write!(f, "cannot fork"),
            ErrorKind::Setsid => write!(f, "cannot create a new session"),
            ErrorKind::Signals => write!(f, "cannot set signal {c} to ignore"),
            ErrorKind::Chroot => write!(f, "cannot change root to {c}"),
            ErrorKind::Chdir => write!(f, "cannot change directory to {c}"),
            ErrorKind::CoreLimit => write!(f, "cannot disable core dumps"),
            ErrorKind::WritePidfile => write!(f, "cannot write pidfile {c}"),
            ErrorKind::SetGroups => write!(f, "cannot set supplementary groups to {c}"),
            ErrorKind::SetGid => write!(f, "cannot set group id to {c}"),
            ErrorKind::SetUid => write!(f, "cannot set user id to {c}"),
            ErrorKind::PrivilegesRegained => {
                write!(
                    f,
                    "root privileges could be regained after dropping them to {c}"
                )
            }
            ErrorKind::RedirectStdio => write!(f, "cannot redirect {c}"),
            ErrorKind::CloseFds => write!(f, "cannot close inherited descriptors"),
            ErrorKind::PassFds => write!(f, "cannot pass descriptors to the program"),
            ErrorKind::Exec => write!(f, "cannot execute {c}"),
            ErrorKind::ReportedFailure => write!(f, "the program reported failure"),
            ErrorKind::Notify => write!(f, "cannot notify the supervisor at {c}"),
            ErrorKind::NotReady => {
                write!(
                    f,
                    "the program closed descriptor {c} without reporting readiness"
                )
            }
            ErrorKind::Died => write!(f, "the daemon exited before reporting readiness"),
            ErrorKind::Failed { code } => write!(f, "the daemon reported failure (code {code})"),
            ErrorKind::Timeout => write!(f, "the daemon was not ready within {c}; it was killed"),
        }?;
        match self.errno {
            Some(errno) => write!(f, ": {}", Described(errno)),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("errno", &self.errno)
            .field("context", &self.context())
            .finish()
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(err: Error) -> std::io::Error {
        match err.errno {
            Some(errno) => std::io::Error::new(std::io::Error::from(errno).kind(), err),
            None => std::io::Error::other(err),
        }
    }
}

/// An errno as std shows it, `No such file or directory (os error 2)`, with or
/// without std.
struct Described(Errno);

impl fmt::Display for Described {
    #[cfg(feature = "std")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // rustix's display with std is std's: the text and the number.
        write!(f, "{}", self.0)
    }

    #[cfg(not(feature = "std"))]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 128];
        match crate::sys::strerror(self.0, &mut buf) {
            "" => write!(f, "os error {}", self.0.raw_os_error()),
            text => write!(f, "{text} (os error {})", self.0.raw_os_error()),
        }
    }
}

/// Displays bytes (a path, a user name) as UTF-8, with invalid bytes as `\xNN`.
pub(crate) struct Shown<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}
