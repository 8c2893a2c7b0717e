//! The builder's option data and its checks: plain values, no system calls.

use crate::channel::Timeout;
use crate::creds::Credentials;
use crate::error::{Error, Failed};
use crate::fds::Keep;
use crate::path::CPath;
use crate::pidfile::Locate;
use crate::signals::{SignalMap, SignalSet};
use rustix::fs::{fstat, FileType};
use rustix::process::{getpid, getppid};

use crate::stdio::Stdio;
use crate::supervisor::Supervisors;

/// A check of the preserved descriptors (see [`Options::preserved_open`]).
pub(crate) type CheckPreserved = fn(&Keep, &mut Error) -> Result<(), Failed>;

/// Whether to fork into the background.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detach {
    /// Fork, `setsid`, fork again (SysV style): the daemon is reparented and can never
    /// reacquire a controlling terminal. The default.
    #[default]
    Always,
    /// Stay in the foreground: the right choice under systemd (other than
    /// `Type=forking`), s6, runit or a container runtime, which supervise the process
    /// they started and want no fork.
    Never,
    /// PEP 3143's `detach_process=None`: stay in the foreground when the parent is
    /// PID 1 (started by init), when we *are* PID 1 (a container's entrypoint, where
    /// detaching would end the container), or when stdin is a socket (started by
    /// inetd); detach otherwise.
    ///
    /// These are heuristics: under a subreaper (systemd user managers, `tini -s`,
    /// `docker run --init`) the parent is not PID 1 although a supervisor is there,
    /// and in a PID namespace "PID 1" is the namespace's init. Prefer telling the
    /// daemon explicitly, e.g. from a command-line flag.
    Auto,
}

impl Detach {
    /// Whether a start with this choice forks: [`Auto`](Detach::Auto) decides now,
    /// from the parent, our PID and stdin. A caller that picks other settings by the
    /// outcome (the command keeps its streams in the foreground) asks once, then
    /// passes [`Always`](Detach::Always) or [`Never`](Detach::Never).
    ///
    /// ```
    /// use daemonic::Detach;
    ///
    /// assert!(Detach::Always.detaches());
    /// assert!(!Detach::Never.detaches());
    /// ```
    pub fn detaches(self) -> bool {
        match self {
            Detach::Always => true,
            Detach::Never => false,
            Detach::Auto => {
                let by_init = getppid().is_some_and(|p| p.is_init());
                // SAFETY: fstat accepts a closed number (EBADF); the borrow ends with it.
                let stdin_socket = fstat(unsafe { crate::sys::borrow(0) })
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Socket);
                !(by_init || getpid().is_init() || stdin_socket)
            }
        }
    }
}

/// Every option of [`Daemon`](crate::Daemon).
///
/// In this order (`repr(C)`): what the daemon's steps read first, the large values
/// last, so that most fields sit within a short (8-bit) displacement of the plan's
/// options; measured smaller in every binary than the compiler's order.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct Options<'a> {
    pub(crate) signals: SignalMap,
    pub(crate) workdir: CPath<'a>,
    pub(crate) chroot: Option<CPath<'a>>,
    /// For an exec'd program: the readiness descriptor's number.
    pub(crate) readiness: Option<i32>,
    pub(crate) umask: u32,
    pub(crate) prevent_core: bool,
    /// The user and groups change at `Pending::ready` (or `drop_privileges`), not
    /// among the daemon's steps.
    pub(crate) drop_at_ready: bool,
    pub(crate) detach: Detach,
    pub(crate) ok_if_running: bool,
    /// For an exec'd program: be the receiving end of `sd_notify`.
    pub(crate) await_notify: bool,
    pub(crate) pidfile: Option<CPath<'a>>,
    /// What finds the pidfile's directory, when the daemon needs it kept open (a
    /// relative path, a chroot): set by those setters.
    pub(crate) pidfile_dir: Option<Locate>,
    pub(crate) pidfile_mode: u32,
    pub(crate) output_mode: u32,
    /// What checks that the preserved descriptors are open: set with the first one
    /// ([`prepare::check_preserved`](crate::prepare::check_preserved)).
    pub(crate) preserved_open: Option<CheckPreserved>,
    pub(crate) timeout: Option<Timeout>,
    pub(crate) supervisors: Option<Supervisors<'a>>,
    pub(crate) creds: Option<Credentials<'a>>,
    pub(crate) stdio: [Stdio<'a>; 3],
    pub(crate) preserve: Keep,
    /// The first invalid option, reported when the daemon starts.
    pub(crate) invalid: Option<Error>,
}

#[cold]
#[inline(never)]
fn unignorable(signal: u64) -> Error {
    Error::invalid("signal ")
        .number(signal)
        .text(" cannot be ignored")
}

/// The highest descriptor number the program's readiness descriptor may have: the
/// daemon's own descriptors go above it.
pub(crate) const MAX_READINESS_FD: i32 = 1 << 20;

impl<'a> Options<'a> {
    /// PEP 3143's defaults.
    pub(crate) const fn new() -> Options<'a> {
        Options {
            chroot: None,
            workdir: CPath::Borrowed(c"/"),
            umask: 0,
            creds: None,
            prevent_core: true,
            drop_at_ready: false,
            detach: Detach::Always,
            preserve: Keep::new(),
            preserved_open: None,
            pidfile: None,
            pidfile_dir: None,
            pidfile_mode: crate::pidfile::DEFAULT_MODE,
            stdio: [Stdio::null(), Stdio::null(), Stdio::null()],
            output_mode: 0o640,
            signals: SignalMap::new(),
            timeout: None,
            ok_if_running: false,
            supervisors: None,
            readiness: None,
            await_notify: false,
            invalid: None,
        }
    }

    /// Checks the options without touching the system: each setter checks its own
    /// value and records the first invalid one.
    pub(crate) fn check(&self, err: &mut Error) -> Result<(), Failed> {
        if let Some(invalid) = &self.invalid {
            return Err(invalid.clone().put(err));
        }
        // The last disposition given counts, so this is checked here, not by the setter.
        let ignored = self.signals.ignored();
        let signal = if ignored.contains(SignalSet::KILL) {
            9
        } else if ignored.contains(SignalSet::STOP) {
            19
        } else {
            return Ok(());
        };
        Err(unignorable(signal).put(err))
    }

    /// The lowest number for a descriptor the daemon keeps until it execs: above the
    /// readiness descriptor's number, so the caller's choice never collides with ours.
    pub(crate) fn floor(&self) -> i32 {
        self.readiness
            .map_or(3, |n| n.clamp(2, MAX_READINESS_FD) + 1)
    }
}
