//! Each kind's message: the static text around an error's context.

use super::kind::ErrorKind;

/// The static text around an error's context: before and after [`HOLE`], or all
/// before it when there is no hole. One string, not two: each frame a program can give
/// costs its words and no table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame(&'static str);

/// Where the context goes in a [`Frame`].
const HOLE: u8 = 1;

impl Frame {
    /// The text before the context and the text after it.
    pub(super) fn parts(self) -> (&'static [u8], &'static [u8]) {
        let text = self.0.as_bytes();
        match text.iter().position(|&b| b == HOLE) {
            Some(at) => (&text[..at], &text[at + 1..]),
            None => (text, &[]),
        }
    }
}

/// The frame of each kind. Inlined, so that an error
/// made with a known kind links only its own words.
#[inline(always)]
pub(crate) const fn frame(kind: ErrorKind) -> Frame {
    use ErrorKind as K;
    match kind {
        K::InvalidOption => Frame("invalid option: "),
        K::Threads => Frame(
            "refusing to fork a process with \u{1} threads: only the calling thread would \
             survive (start before any thread or async runtime, or use Daemon::exec)",
        ),
        K::ReadAccounts => Frame("cannot read "),
        K::UnknownUser => Frame("unknown user "),
        K::UnknownGroup => Frame("unknown group "),
        K::OpenStdio => Frame("cannot open "),
        K::OpenPidfile => Frame("cannot open pidfile "),
        K::InsecurePidfile => Frame("refusing pidfile "),
        K::LockPidfile => Frame("cannot lock pidfile "),
        K::ReadPidfile => Frame("cannot read pidfile "),
        K::MalformedPidfile => Frame("pidfile \u{1} does not hold a valid PID"),
        K::Kill => Frame("cannot signal "),
        K::StillRunning => Frame("the daemon (pid \u{1}) did not stop in time"),
        K::AlreadyRunning { .. } => Frame("already running (\u{1})"),
        K::Channel => Frame("readiness channel failed: "),
        K::Fork => Frame("cannot fork"),
        K::Setsid => Frame("cannot create a new session"),
        K::Signals => Frame("cannot reset the disposition of signal "),
        K::Chroot => Frame("cannot change root to "),
        K::Chdir => Frame("cannot change directory to "),
        K::CoreLimit => Frame("cannot disable core dumps"),
        K::WritePidfile => Frame("cannot write pidfile "),
        K::SetGroups => Frame("cannot set supplementary groups to "),
        K::SetGid => Frame("cannot set group id to "),
        K::SetUid => Frame("cannot set user id to "),
        K::PrivilegesRegained => Frame("root privileges could be regained after dropping them to "),
        K::RedirectStdio => Frame("cannot redirect "),
        K::CloseFds => Frame("cannot close inherited descriptors"),
        K::PassFds => Frame("cannot pass descriptors to the program"),
        K::Exec => Frame("cannot execute "),
        K::NotReady => Frame("the program closed descriptor \u{1} without reporting readiness"),
        K::ReportedFailure => Frame("the program reported failure"),
        K::Notify => Frame("cannot notify the supervisor at "),
        K::Died => Frame("the daemon exited before reporting readiness"),
        K::Failed { .. } => Frame("the daemon reported failure (code \u{1})"),
        K::Timeout => Frame("the daemon was not ready within \u{1}; it was killed"),
        K::ForeignLock => Frame("pidfile "),
        K::RemovePidfile => Frame("cannot remove pidfile "),
        K::Supervise => Frame("cannot supervise the program"),
    }
}
