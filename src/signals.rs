//! Signal sets, the signal map (which signals the daemon ignores) and signal names.

use rustix::process::Signal;

bitflags::bitflags! {
    /// A set of signals, one bit per signal number (bit `n - 1` for signal `n`), as
    /// the kernel's signal masks and `/proc/PID/status` are.
    ///
    /// ```
    /// use daemonic::SignalSet;
    ///
    /// let jobs = SignalSet::TSTP | SignalSet::TTIN | SignalSet::TTOU;
    /// assert!(jobs.contains(SignalSet::of(daemonic::Signal::TSTP)));
    /// assert_eq!(jobs.bits(), 0x38_0000);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct SignalSet: u64 {
        /// SIGHUP.
        const HUP = bit(libc::SIGHUP);
        /// SIGINT.
        const INT = bit(libc::SIGINT);
        /// SIGQUIT.
        const QUIT = bit(libc::SIGQUIT);
        /// SIGUSR1.
        const USR1 = bit(libc::SIGUSR1);
        /// SIGUSR2.
        const USR2 = bit(libc::SIGUSR2);
        /// SIGPIPE.
        const PIPE = bit(libc::SIGPIPE);
        /// SIGALRM.
        const ALRM = bit(libc::SIGALRM);
        /// SIGTERM.
        const TERM = bit(libc::SIGTERM);
        /// SIGCHLD.
        const CHLD = bit(libc::SIGCHLD);
        /// SIGKILL, which can be neither caught nor ignored.
        const KILL = bit(libc::SIGKILL);
        /// SIGSTOP, which can be neither caught nor ignored.
        const STOP = bit(libc::SIGSTOP);
        /// SIGTSTP (terminal stop).
        const TSTP = bit(libc::SIGTSTP);
        /// SIGTTIN (background read from the terminal).
        const TTIN = bit(libc::SIGTTIN);
        /// SIGTTOU (background write to the terminal).
        const TTOU = bit(libc::SIGTTOU);
        /// SIGWINCH.
        const WINCH = bit(libc::SIGWINCH);
        // Every other signal number is a member too, unnamed.
        const _ = !0;
    }
}

const fn bit(signal: i32) -> u64 {
    match signal {
        n @ 1..=64 => 1 << (n - 1),
        _ => 0,
    }
}

impl SignalSet {
    /// The set holding just `signal`.
    pub const fn of(signal: Signal) -> SignalSet {
        SignalSet::from_bits_retain(bit(signal.as_raw()))
    }
}

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
    ignored: SignalSet,
}

impl SignalMap {
    /// The default map: SIGTSTP, SIGTTIN and SIGTTOU ignored.
    pub const fn new() -> SignalMap {
        SignalMap {
            ignored: SignalSet::TSTP
                .union(SignalSet::TTIN)
                .union(SignalSet::TTOU),
        }
    }

    /// A map that ignores nothing: every signal keeps its default action.
    pub const fn empty() -> SignalMap {
        SignalMap {
            ignored: SignalSet::empty(),
        }
    }

    /// Sets `signal`'s disposition. SIGKILL and SIGSTOP cannot be ignored; the daemon
    /// refuses to start with such a map.
    #[must_use]
    pub const fn set(self, signal: Signal, disposition: Disposition) -> SignalMap {
        let ignored = match disposition {
            Disposition::Ignore => self.ignored.union(SignalSet::of(signal)),
            Disposition::Default => self.ignored.difference(SignalSet::of(signal)),
        };
        SignalMap { ignored }
    }

    /// Whether `signal` is ignored.
    pub const fn ignores(&self, signal: Signal) -> bool {
        self.ignored.contains(SignalSet::of(signal))
    }

    /// The signals ignored.
    pub const fn ignored(&self) -> SignalSet {
        self.ignored
    }
}

impl Default for SignalMap {
    fn default() -> SignalMap {
        SignalMap::new()
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
    let bytes = text.as_bytes();
    let bytes = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if let Some(n) = crate::text::parse_decimal(bytes) {
        return Signal::from_named_raw(i32::try_from(n).ok()?);
    }
    let name = match bytes.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"SIG") => &bytes[3..],
        _ => bytes,
    };
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|&(_, s)| s)
}
