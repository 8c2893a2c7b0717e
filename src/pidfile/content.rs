//! Pidfile content: the one reader, and FHS's format.

use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::process::Pid;

/// The longest pidfile content we accept: a PID is at most 10 digits plus whitespace.
pub(crate) const CONTENT_CAP: usize = 32;

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

/// Reads what a pidfile holds: the one reader of pidfile content.
pub(crate) fn read(file: impl AsFd) -> Result<Content, Errno> {
    let mut buf = [0u8; CONTENT_CAP + 1];
    let n = rustix::io::pread(file, &mut buf, 0)?;
    Ok(if n > CONTENT_CAP {
        Content::Other
    } else {
        parse(&buf[..n])
    })
}

/// Parses FHS pidfile content: a positive decimal PID, optionally surrounded by
/// whitespace. Anything else is [`Content::Other`], never PID 0 or -1 (which would
/// signal whole process groups).
pub(crate) fn parse(content: &[u8]) -> Content {
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
        ] {
            assert_eq!(parse(bad), Content::Other, "{:?}", bad);
        }
    }
}
