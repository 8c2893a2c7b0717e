//! Pidfile content: the one reader, and its format: FHS's PID line, and under a
//! monitor ([`Daemon::supervise`](crate::Daemon::supervise)) a second line saying how
//! the program's runs went.

use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::process::Pid;

use crate::stack::Stack;

/// The longest pidfile content we accept: a PID line (at most 10 digits plus
/// whitespace) and the runs line ([`RUNS_LINE`] bytes).
// 11 + 24 = 35: room for both.
pub(crate) const CONTENT_CAP: usize = 48;

/// The runs line's length, newline included: always the same, so that the monitor
/// rewrites it in place with one `pwrite`, never leaving a longer line's tail.
pub(crate) const RUNS_LINE: usize = 24;

/// How a supervised program's runs went, as its monitor records them in the pidfile's
/// second line ([`Status::Running`](crate::Status::Running)'s `runs`). It appears when
/// the first run ends.
///
/// ```
/// use daemonic::{Exit, RunState, Runs};
///
/// let runs = Runs { restarts: 2, last_exit: Exit::Code(1), now: RunState::Starting };
/// assert_eq!(runs.restarts, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Runs {
    /// How often the program was started again.
    pub restarts: u32,
    /// How its last finished run ended.
    pub last_exit: Exit,
    /// Where the program is now.
    pub now: RunState,
}

/// Where a supervised program is ([`Runs::now`]).
///
/// ```
/// use daemonic::RunState;
///
/// assert_ne!(RunState::Up, RunState::Down);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Running, and ready if it has a readiness option to say so.
    Up,
    /// Started again, and not ready yet.
    Starting,
    /// Not running: in the pause before a restart, or ended for good while the
    /// service lasts in what it left running.
    Down,
}

/// How a process ended.
///
/// ```
/// use daemonic::Exit;
///
/// assert_ne!(Exit::Code(9), Exit::Signal(9));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(u8),
    /// This signal killed it.
    Signal(u8),
}

impl Runs {
    /// The line as the monitor writes it: four numbers, `RESTARTS HOW N STATE` (`HOW`
    /// 0 when the last run exited with code `N`, 1 when signal `N` killed it; `STATE`
    /// 0 up, 1 starting, 2 down), each zero-padded to a fixed width and the line to
    /// [`RUNS_LINE`]: a reader that races a rewrite sees digits where digits were,
    /// never a malformed line. Digits and spaces only, like the PID line: a start takes
    /// the file over as a pidfile.
    pub(crate) fn line(&self, buf: &mut Stack<u8, RUNS_LINE>) {
        let (how, n) = match self.last_exit {
            Exit::Code(c) => (0, c),
            Exit::Signal(s) => (1, s),
        };
        let fields = [
            (u64::from(self.restarts), 10),
            (how, 1),
            (u64::from(n), 3),
            (self.now as u64, 1),
        ];
        let mut digits = [0u8; 20];
        for (field, width) in fields {
            let text = crate::text::decimal(field, &mut digits);
            for _ in text.len()..width {
                let _ = buf.push(b'0');
            }
            let _ = buf.extend(text);
            let _ = buf.push(b' ');
        }
        while buf.len() < RUNS_LINE - 1 {
            let _ = buf.push(b' ');
        }
        let _ = buf.push(b'\n');
    }

    fn parse(line: &[u8]) -> Option<Runs> {
        let mut fields = [0u64; 4];
        let mut words = line.split(|&b| b == b' ');
        for field in &mut fields {
            *field = crate::text::parse_decimal(words.next()?)?;
        }
        let [restarts, how, n, now] = fields;
        let n = u8::try_from(n).ok()?;
        let last_exit = match how {
            0 => Exit::Code(n),
            1 if n != 0 => Exit::Signal(n),
            _ => return None,
        };
        let now = match now {
            0 => RunState::Up,
            1 => RunState::Starting,
            2 => RunState::Down,
            _ => return None,
        };
        Some(Runs {
            restarts: u32::try_from(restarts).ok()?,
            last_exit,
            now,
        })
        .filter(|_| words.next().is_none())
    }
}

/// What a pidfile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Nothing (or only whitespace): a starting daemon, or one that left.
    Empty,
    /// A PID in FHS format.
    Pid(Pid),
    /// Anything else, or more than a PID's worth of bytes.
    Other,
}

/// Reads what a pidfile holds: the one reader of pidfile content. Only [`read_all`]
/// parses a runs line: the starter's and stop's reads want none.
pub(crate) fn read(file: impl AsFd) -> Result<Content, Errno> {
    let mut buf = [0u8; CONTENT_CAP + 1];
    let n = rustix::io::pread(file, &mut buf, 0)?;
    Ok(match buf.get(..n).filter(|_| n <= CONTENT_CAP) {
        Some(content) => split(content).0,
        None => Content::Other,
    })
}

/// [`read`], and the runs line if there is one.
pub(crate) fn read_all(file: impl AsFd) -> Result<(Content, Option<Runs>), Errno> {
    let mut buf = [0u8; CONTENT_CAP + 1];
    let n = rustix::io::pread(file, &mut buf, 0)?;
    Ok(if n > CONTENT_CAP {
        (Content::Other, None)
    } else {
        parse_all(&buf[..n])
    })
}

/// Parses FHS pidfile content: a positive decimal PID, optionally surrounded by
/// whitespace, and optionally more lines of digits and whitespace after it (what a
/// start takes over as a pidfile), which are a monitor's runs when they are a runs
/// line. Anything else is [`Content::Other`], never PID 0 or -1 (which would signal
/// whole process groups).
#[cfg(any(test, feature = "std"))]
pub(crate) fn parse(content: &[u8]) -> Content {
    parse_all(content).0
}

fn parse_all(content: &[u8]) -> (Content, Option<Runs>) {
    match split(content) {
        (Content::Pid(pid), rest) => (Content::Pid(pid), Runs::parse(rest)),
        (content, _) => (content, None),
    }
}

/// The content, and the lines after a PID's (digits and whitespace), unparsed.
fn split(content: &[u8]) -> (Content, &[u8]) {
    // Blank lines may come before the PID's (FHS readers are tolerant). Trimmed at
    // both ends by the one `trim`: what follows the first line is trimmed anyway.
    let content = crate::text::trim(content);
    let (first, rest) = match content.iter().position(|&b| b == b'\n') {
        // The newline stays with the rest, which the trim drops it from.
        Some(at) => {
            let (first, rest) = content.split_at(at);
            (first, crate::text::trim(rest))
        }
        None => (content, &[][..]),
    };
    // The runs line is the monitor's record, rewritten in place: a read racing a
    // rewrite may see a mix of two lines, digits where digits were. It says how runs
    // went, no more; only the PID line must be exact.
    match parse_pid(first) {
        Content::Pid(pid) if pidlike(rest) => (Content::Pid(pid), rest),
        Content::Empty if rest.is_empty() => (Content::Empty, rest),
        Content::Pid(_) | Content::Empty | Content::Other => (Content::Other, rest),
    }
}

/// Whether `bytes` are only digits and whitespace, as a pidfile's lines are. Out of
/// line: the start's check and the reader share it.
#[inline(never)]
pub(crate) fn pidlike(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_whitespace())
}

fn parse_pid(content: &[u8]) -> Content {
    let digits = crate::text::trim(content);
    if digits.is_empty() {
        return Content::Empty;
    }
    let pid = crate::text::parse_decimal(digits)
        .and_then(|n| i32::try_from(n).ok())
        .and_then(Pid::from_raw);
    pid.map_or(Content::Other, Content::Pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fhs_content() {
        let pid = |s: &[u8]| match parse(s) {
            Content::Pid(p) => Some(p.as_raw_nonzero().get()),
            _ => None,
        };
        assert_eq!(pid(b"123\n"), Some(123));
        assert_eq!(pid(b"  0042 \n"), Some(42));
        assert_eq!(pid(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse(b""), Content::Empty);
        assert_eq!(parse(b" \n"), Content::Empty);
        for bad in [
            &b"abc"[..],
            b"-1",
            b"0",
            b"12 34",
            b"99999999999",
            b"2147483648",
            b"12x",
            b"12\nx",
            b"12\n1 0 0 0 up",
        ] {
            assert_eq!(parse(bad), Content::Other, "{:?}", bad);
        }
        // Lines of digits after the PID's that are no runs line: the PID, no runs.
        for odd in [
            &b"12\n34"[..],
            b"12\n1 0 0",
            b"12\n1 0 256 0",
            b"12\n1 2 0 0",
            b"12\n1 0 0 3",
            b"12\n1 0 0 0 0",
            b"12\n4294967296 0 0 0",
            b"12\n1 0 0 0\n5",
        ] {
            let pid = Pid::from_raw(12).unwrap();
            assert_eq!(parse_all(odd), (Content::Pid(pid), None), "{:?}", odd);
        }
    }

    #[test]
    fn a_read_that_races_a_rewrite_still_sees_a_runs_line() {
        let line = |restarts, last_exit, now| {
            let mut line = Stack::new();
            Runs {
                restarts,
                last_exit,
                now,
            }
            .line(&mut line);
            line.as_slice().to_vec()
        };
        let old = line(9, Exit::Code(0), RunState::Up);
        let new = line(10, Exit::Signal(15), RunState::Down);
        for cut in 0..=RUNS_LINE {
            for (first, then) in [(&old, &new), (&new, &old)] {
                let mut file = b"4242\n".to_vec();
                file.extend_from_slice(&first[..cut]);
                file.extend_from_slice(&then[cut..]);
                // Whatever the mix, the PID stands: the file is a pidfile.
                let pid = Pid::from_raw(4242).unwrap();
                assert_eq!(parse_all(&file).0, Content::Pid(pid), "{file:?}");
            }
        }
    }

    #[test]
    fn the_runs_line_is_read_back_as_written() {
        for (restarts, last_exit, now) in [
            (0, Exit::Code(0), RunState::Up),
            (u32::MAX, Exit::Code(255), RunState::Starting),
            (7, Exit::Signal(9), RunState::Down),
        ] {
            let runs = Runs {
                restarts,
                last_exit,
                now,
            };
            let mut line = Stack::new();
            runs.line(&mut line);
            assert_eq!(line.len(), RUNS_LINE);
            let mut file = b"4242\n".to_vec();
            file.extend_from_slice(line.as_slice());
            // The longest PID line and the line fit.
            assert!(file.len() + 6 <= CONTENT_CAP);
            let pid = Pid::from_raw(4242).unwrap();
            assert_eq!(parse_all(&file), (Content::Pid(pid), Some(runs)));
        }
    }
}
