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

/// Signal names (without `SIG`) and numbers, as `kill -l` prints them.
const NAMES: [(&str, Signal); 31] = [
    ("SYS", Signal::SYS),
    ("HUP", Signal::HUP),
    ("INT", Signal::INT),
    ("QUIT", Signal::QUIT),
    ("ILL", Signal::ILL),
    ("TRAP", Signal::TRAP),
    ("ABRT", Signal::ABORT),
    ("BUS", Signal::BUS),
    ("FPE", Signal::FPE),
    ("KILL", Signal::KILL),
    ("USR1", Signal::USR1),
    ("SEGV", Signal::SEGV),
    ("USR2", Signal::USR2),
    ("PIPE", Signal::PIPE),
    ("ALRM", Signal::ALARM),
    ("TERM", Signal::TERM),
    ("STKFLT", Signal::STKFLT),
    ("CHLD", Signal::CHILD),
    ("CONT", Signal::CONT),
    ("STOP", Signal::STOP),
    ("TSTP", Signal::TSTP),
    ("TTIN", Signal::TTIN),
    ("TTOU", Signal::TTOU),
    ("URG", Signal::URG),
    ("XCPU", Signal::XCPU),
    ("XFSZ", Signal::XFSZ),
    ("VTALRM", Signal::VTALARM),
    ("PROF", Signal::PROF),
    ("WINCH", Signal::WINCH),
    ("IO", Signal::IO),
    ("PWR", Signal::POWER),
];

/// Parses a signal as `kill(1)` and start-stop-daemon take it: a name with or
/// without `SIG` (`TERM`, `SIGTERM`, any case) or a number (`15`), optionally after
/// a `-`.
///
/// ```
/// use daemonic::{parse_signal, Signal};
///
/// assert_eq!(parse_signal("TERM"), Some(Signal::TERM));
/// assert_eq!(parse_signal("-sigkill"), Some(Signal::KILL));
/// assert_eq!(parse_signal("1"), Some(Signal::HUP));
/// assert_eq!(parse_signal("NOPE"), None);
/// ```
pub fn parse_signal(text: &str) -> Option<Signal> {
    let text = text.strip_prefix('-').unwrap_or(text);
    if let Ok(n) = text.parse::<i32>() {
        return Signal::from_named_raw(n);
    }
    let upper = |b: &u8| b.to_ascii_uppercase();
    let bytes = text.as_bytes();
    let name = match bytes.get(..3).map(|p| p.iter().map(upper).eq(*b"SIG")) {
        Some(true) => &bytes[3..],
        _ => bytes,
    };
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes().iter().copied().eq(name.iter().map(upper)))
        .map(|&(_, s)| s)
}
