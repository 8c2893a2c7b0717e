//! The stop schedule: start-stop-daemon's `--retry`.

use core::time::Duration;
use rustix::process::Signal;

use crate::error::{or_return, Error};
use crate::signals::parse_signal;
use crate::stack::Stack;

/// The longest stop schedule.
const MAX_STEPS: usize = 16;

/// One step of a stop [`Schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this signal.
    Signal(Signal),
    /// Wait this long for the daemon to exit.
    Wait(Duration),
}

/// How to stop a daemon: start-stop-daemon's `--retry` schedule, e.g. `TERM/30/KILL/5`
/// (send SIGTERM, wait up to 30 s, send SIGKILL, wait up to 5 s).
///
/// ```
/// use core::time::Duration;
/// use daemonic::{Schedule, Signal, Step};
///
/// let s = Schedule::parse("TERM/30/KILL/5", Signal::TERM)?;
/// assert_eq!(s.steps(), &[
///     Step::Signal(Signal::TERM), Step::Wait(Duration::from_secs(30)),
///     Step::Signal(Signal::KILL), Step::Wait(Duration::from_secs(5)),
/// ]);
/// // A bare number N means SIGNAL/N/KILL/N.
/// assert_eq!(Schedule::parse("5", Signal::INT)?.steps()[0], Step::Signal(Signal::INT));
/// # Ok::<(), daemonic::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    steps: Stack<Step, MAX_STEPS>,
    /// Where `forever` stood: the steps from here on repeat until the daemon exits.
    pub(crate) forever: Option<usize>,
}

impl Schedule {
    /// Just send `signal`, and do not wait (start-stop-daemon `--stop` without `--retry`).
    pub fn signal(signal: Signal) -> Schedule {
        let mut schedule = Schedule::empty();
        let _ = schedule.steps.push(Step::Signal(signal));
        schedule
    }

    const fn empty() -> Schedule {
        Schedule {
            steps: Stack::new(),
            forever: None,
        }
    }

    /// Parses start-stop-daemon's syntax: items separated by `/`, each a signal (`TERM`,
    /// `SIGTERM`, `-15`), a number of seconds to wait, or `forever` (repeat the rest of
    /// the schedule until the daemon exits). A lone number N is `signal/N/KILL/N`.
    pub fn parse(text: &str, signal: Signal) -> Result<Schedule, Error> {
        let invalid = |why: &'static str| {
            Error::invalid("stop schedule \"")
                .path(text.as_bytes())
                .text("\": ")
                .text(why)
        };
        let mut schedule = Schedule::empty();
        let seconds = |item: &str| crate::text::parse_decimal(item.as_bytes());
        if let Some(secs) = seconds(text) {
            let wait = Step::Wait(Duration::from_secs(secs));
            for step in [Step::Signal(signal), wait, Step::Signal(Signal::KILL), wait] {
                or_return!(schedule.steps.push(step), |_| invalid("too long"));
            }
            return Ok(schedule);
        }
        // Split by hand: `split('/')` searches with `memchr`, several hundred bytes.
        let mut rest = Some(text);
        while let Some(part) = rest {
            // Checked splits, not indexing: a `str` index links its panic's formatting.
            let split = part.bytes().position(|b| b == b'/');
            let (item, tail) = match split.and_then(|at| part.split_at_checked(at)) {
                Some((item, tail)) => (item, tail.get(1..)),
                None => (part, None),
            };
            rest = tail;
            let step = if item == "forever" {
                if schedule.forever.replace(schedule.steps.len()).is_some() {
                    return Err(invalid("forever appears twice"));
                }
                continue;
            } else if let Some(secs) = seconds(item) {
                Step::Wait(Duration::from_secs(secs))
            } else if let Some(signal) = parse_signal(item) {
                Step::Signal(signal)
            } else {
                return Err(invalid(
                    "each item must be a signal, a number of seconds or forever",
                ));
            };
            or_return!(schedule.steps.push(step), |_| invalid("too long"));
        }
        if schedule.steps.len() == 0 {
            return Err(invalid("empty"));
        }
        if let Some(from) = schedule.forever {
            // Repeating signals without a wait would spin.
            if !schedule.steps()[from..]
                .iter()
                .any(|s| matches!(s, Step::Wait(_)))
            {
                return Err(invalid("forever must repeat at least one wait"));
            }
        }
        Ok(schedule)
    }

    /// The steps, in order (without `forever`).
    pub fn steps(&self) -> &[Step] {
        self.steps.as_slice()
    }

    /// Whether any step waits: without one, [`stop`](crate::stop) cannot tell whether
    /// the daemon exited.
    pub(crate) fn waits(&self) -> bool {
        self.steps().iter().any(|s| matches!(s, Step::Wait(_)))
    }
}
