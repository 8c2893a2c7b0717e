//! The signal map: which signals the daemon ignores.

use rustix::process::Signal;

/// What the daemon does on a signal, once its dispositions are reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// `SIG_IGN`: the signal is discarded.
    Ignore,
    /// `SIG_DFL`: the kernel's default action (for SIGTERM, termination).
    Default,
}

/// PEP 3143's `signal_map`, restricted to what can be set before the daemon runs any
/// code of its own: every signal starts at its default disposition, and the map says
/// which to ignore. The default map ignores SIGTSTP, SIGTTIN and SIGTTOU (the job
/// control signals a daemon without a terminal must not stop on) and leaves SIGTERM
/// to terminate the process. Install handlers yourself once the daemon runs.
///
/// ```
/// use daemonic::{Disposition, Signal, SignalMap};
///
/// let map = SignalMap::new().set(Signal::HUP, Disposition::Ignore);
/// assert!(map.ignores(Signal::HUP) && map.ignores(Signal::TSTP));
/// assert!(!map.ignores(Signal::TERM));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalMap {
    /// Bit `n - 1` is set when signal `n` is ignored.
    ignored: u64,
}

impl SignalMap {
    /// The default map: SIGTSTP, SIGTTIN and SIGTTOU ignored.
    pub const fn new() -> SignalMap {
        SignalMap {
            ignored: bit(Signal::TSTP) | bit(Signal::TTIN) | bit(Signal::TTOU),
        }
    }

    /// A map that ignores nothing: every signal keeps its default action.
    pub const fn empty() -> SignalMap {
        SignalMap { ignored: 0 }
    }

    /// Sets `signal`'s disposition. SIGKILL and SIGSTOP cannot be ignored; the daemon
    /// refuses to start with such a map.
    #[must_use]
    pub const fn set(self, signal: Signal, disposition: Disposition) -> SignalMap {
        let ignored = match disposition {
            Disposition::Ignore => self.ignored | bit(signal),
            Disposition::Default => self.ignored & !bit(signal),
        };
        SignalMap { ignored }
    }

    /// Whether `signal` is ignored.
    pub const fn ignores(&self, signal: Signal) -> bool {
        self.ignored & bit(signal) != 0
    }

    /// The raw mask (bit `n - 1` for signal `n`).
    pub(crate) const fn mask(&self) -> u64 {
        self.ignored
    }

    /// A signal that cannot be ignored but is, if any.
    pub(crate) fn unignorable(&self) -> Option<Signal> {
        [Signal::KILL, Signal::STOP]
            .into_iter()
            .find(|&s| self.ignores(s))
    }
}

impl Default for SignalMap {
    fn default() -> SignalMap {
        SignalMap::new()
    }
}

const fn bit(signal: Signal) -> u64 {
    match signal.as_raw() {
        n @ 1..=64 => 1 << (n - 1),
        _ => 0,
    }
}
