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

/// Signal names (without `SIG`), as `kill -l` prints them, each ended by a NUL; the
/// signals are [`SIGNALS`], in the same order.
const NAMES: &[u8] = concat!(
    "SYS\0", "HUP\0", "INT\0", "QUIT\0", "ILL\0", "TRAP\0", "ABRT\0", "BUS\0", "FPE\0", "KILL\0",
    "USR1\0", "SEGV\0", "USR2\0", "PIPE\0", "ALRM\0", "TERM\0", "STKFLT\0", "CHLD\0", "CONT\0",
    "STOP\0", "TSTP\0", "TTIN\0", "TTOU\0", "URG\0", "XCPU\0", "XFSZ\0", "VTALRM\0", "PROF\0",
    "WINCH\0", "IO\0", "PWR\0",
)
.as_bytes();

const _: () = assert!(crate::text::count(NAMES) == SIGNALS.len());

/// The signals [`NAMES`] names.
const SIGNALS: [Signal; 31] = [
    Signal::SYS,
    Signal::HUP,
    Signal::INT,
    Signal::QUIT,
    Signal::ILL,
    Signal::TRAP,
    Signal::ABORT,
    Signal::BUS,
    Signal::FPE,
    Signal::KILL,
    Signal::USR1,
    Signal::SEGV,
    Signal::USR2,
    Signal::PIPE,
    Signal::ALARM,
    Signal::TERM,
    Signal::STKFLT,
    Signal::CHILD,
    Signal::CONT,
    Signal::STOP,
    Signal::TSTP,
    Signal::TTIN,
    Signal::TTOU,
    Signal::URG,
    Signal::XCPU,
    Signal::XFSZ,
    Signal::VTALARM,
    Signal::PROF,
    Signal::WINCH,
    Signal::IO,
    Signal::POWER,
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
    let name = match bytes.split_at_checked(3) {
        Some((p, rest)) if same_letters(p, b"SIG") => rest,
        _ => bytes,
    };
    let at = NAMES
        .split(|&b| b == 0)
        .position(|n| !n.is_empty() && same_letters(name, n))?;
    SIGNALS.get(at).copied()
}

/// Whether `text` is `upper` (capitals and digits) in either case. By hand: core's
/// `eq_ignore_ascii_case` is 300 bytes of vector code, for names of a few letters.
fn same_letters(text: &[u8], upper: &[u8]) -> bool {
    text.len() == upper.len()
        && text
            .iter()
            .zip(upper)
            .all(|(&t, &u)| t.to_ascii_uppercase() == u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_in_any_case_with_or_without_sig() {
        for (text, signal) in [
            ("term", Signal::TERM),
            ("SigHup", Signal::HUP),
            ("-usr1", Signal::USR1),
            ("sigvtalrm", Signal::VTALARM),
            ("IO", Signal::IO),
        ] {
            assert_eq!(parse_signal(text), Some(signal), "{text}");
        }
        for text in ["", "SIG", "TERMX", "TER", "sig-term", "usr3", "\u{e9}"] {
            assert_eq!(parse_signal(text), None, "{text:?}");
        }
    }
}
