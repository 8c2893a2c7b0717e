//! Text without `core::fmt`: decimal numbers both ways, hexadecimal in, and a line
//! buffer that shows arbitrary bytes (paths, names) as text.
//!
//! `core::fmt` costs several kilobytes in a `#![no_std]` binary; everything daemonic
//! prints or parses on its start path goes through these few functions instead.

use core::ffi::CStr;

use crate::stack::Stack;

/// `n` in decimal, into the end of `buf`; returns the digits.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Parses a decimal number with no sign, no blanks and at least one digit.
pub(crate) fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in text {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(n)
}

/// Parses hexadecimal digits (as `/proc/PID/status` shows signal masks).
pub(crate) fn parse_hex(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in text {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        n = n << 4 | u64::from(digit);
    }
    Some(n)
}

/// `bytes` as a C string: it must end with its only NUL. A plain loop, not
/// `CStr::from_bytes_with_nul`, whose fast search is several hundred bytes of code.
// `contains` would search with `memchr`: faster, and much larger.
#[allow(clippy::manual_contains)]
pub(crate) fn c_str(bytes: &[u8]) -> Option<&CStr> {
    let (&last, body) = bytes.split_last()?;
    if last != 0 || body.iter().any(|&b| b == 0) {
        return None;
    }
    // SAFETY: just checked: the slice ends with a NUL and has no other.
    Some(unsafe { CStr::from_bytes_with_nul_unchecked(bytes) })
}

/// The C string that starts `at` bytes into `c` (a suffix of a C string is one).
pub(crate) fn c_suffix(c: &CStr, at: usize) -> &CStr {
    let bytes = c.to_bytes_with_nul();
    let at = at.min(bytes.len() - 1);
    // SAFETY: the suffix of a C string's bytes still ends with its only NUL.
    unsafe { CStr::from_bytes_with_nul_unchecked(&bytes[at..]) }
}

/// Item `i` of `list`, texts each ended by a NUL (empty past the end). A table of
/// names as one string costs its letters; as `[&str; N]` it costs 16 bytes more a
/// name.
pub(crate) fn nth(list: &'static [u8], i: usize) -> &'static [u8] {
    list.split(|&b| b == 0).nth(i).unwrap_or_default()
}

/// How many texts a packed list (see [`nth`]) holds: its NULs. For compile-time
/// checks that a list and the table beside it agree.
pub(crate) const fn count(list: &[u8]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < list.len() {
        if list[i] == 0 {
            n += 1;
        }
        i += 1;
    }
    n
}

/// `text` without leading and trailing ASCII whitespace.
pub(crate) fn trim(text: &[u8]) -> &[u8] {
    text.trim_ascii()
}

/// Whether `bytes` hold a newline: a byte loop, not `contains`, which links a
/// `memchr` of several hundred bytes.
#[allow(clippy::manual_contains)]
#[inline(never)]
pub(crate) fn has_newline(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == b'\n')
}

/// The length of the printable character `bytes` (not empty) starts with (UTF-8, but
/// no ASCII control character), or 0. A few lines instead of `core::str::from_utf8`.
pub(crate) fn utf8_len(bytes: &[u8]) -> usize {
    let (len, min) = match bytes[0] {
        0x20..=0x7e => return 1,
        0xc2..=0xdf => (2, 0x80),
        0xe0..=0xef => (3, 0x800),
        0xf0..=0xf4 => (4, 0x1_0000),
        _ => return 0,
    };
    let Some(seq) = bytes.get(..len) else {
        return 0;
    };
    let mut c = u32::from(seq[0]) & (0x7f >> len);
    for &b in &seq[1..] {
        if b & 0xc0 != 0x80 {
            return 0;
        }
        c = c << 6 | u32::from(b & 0x3f);
    }
    // Overlong forms, surrogates and beyond U+10FFFF are not characters.
    if c < min || (0xd800..0xe000).contains(&c) || c > 0x10_ffff {
        return 0;
    }
    len
}

/// Gives `bytes` to `out` as text, piece by piece: valid UTF-8 as it is, other bytes
/// and ASCII control characters as `\xNN`, so nothing can hide or break a line.
pub(crate) fn show(bytes: &[u8], mut out: impl FnMut(&[u8])) {
    // Over the rest as a slice, split where a character ends: no index to check.
    let mut rest = bytes;
    while let Some((&b, after)) = rest.split_first() {
        match rest.split_at_checked(utf8_len(rest)) {
            Some((char, more)) if !char.is_empty() => {
                out(char);
                rest = more;
            }
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let (hi, lo) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]);
                out(&[b'\\', b'x', hi, lo]);
                rest = after;
            }
        }
    }
}

/// A line being composed, cut at `N - 1` bytes so the newline always fits.
pub(crate) struct Line<const N: usize> {
    bytes: Stack<u8, N>,
}

impl<const N: usize> Line<N> {
    pub(crate) const fn new() -> Self {
        Line {
            bytes: Stack::new(),
        }
    }

    /// Appends raw bytes, as many as fit.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            if self.bytes.len() + 1 >= N || self.bytes.push(b).is_err() {
                break;
            }
        }
        self
    }

    pub(crate) fn str(&mut self, text: &str) -> &mut Self {
        self.raw(text.as_bytes())
    }

    /// Appends bytes as text (see [`show`]).
    pub(crate) fn shown(&mut self, bytes: &[u8]) -> &mut Self {
        show(bytes, |piece| {
            self.raw(piece);
        });
        self
    }

    pub(crate) fn number(&mut self, n: u64) -> &mut Self {
        let mut buf = [0; 20];
        self.raw(decimal(n, &mut buf))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The line so far as text: `shown` and `str` only ever add UTF-8, but a cut may
    /// have split a character, which is dropped.
    pub(crate) fn as_str(&self) -> &str {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(text) => text,
            Err(e) => core::str::from_utf8(&self.as_bytes()[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// The line and its newline.
    pub(crate) fn finish(&mut self) -> &[u8] {
        let _ = self.bytes.push(b'\n');
        self.bytes.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_picks_one_text_of_a_packed_list() {
        let list = b"one\0two\0\0four\0";
        assert_eq!(nth(list, 0), b"one");
        assert_eq!(nth(list, 1), b"two");
        assert_eq!(nth(list, 2), b"");
        assert_eq!(nth(list, 3), b"four");
        assert_eq!(nth(list, 4), b"");
        assert_eq!(nth(list, 99), b"");
    }

    #[test]
    fn decimal_both_ways() {
        let mut buf = [0; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
        assert_eq!(parse_decimal(b"0042"), Some(42));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        for bad in [&b""[..], b"-1", b"+1", b" 1", b"1a"] {
            assert_eq!(parse_decimal(bad), None);
        }
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex(b"0000000000380000"), Some(0x380000));
        assert_eq!(parse_hex(b"fFfF"), Some(0xffff));
        assert_eq!(parse_hex(b"12345678901234567"), None);
        assert_eq!(parse_hex(b"g"), None);
    }

    #[test]
    fn line_shows_bytes_and_keeps_room_for_the_newline() {
        let mut line = Line::<16>::new();
        line.str("a ").shown(b"b\xffc").str(" ").number(7);
        assert_eq!(line.as_str(), "a b\\xffc 7");
        let mut line = Line::<32>::new();
        line.shown("caf\u{e9}\n\t".as_bytes());
        assert_eq!(line.as_str(), "caf\u{e9}\\x0a\\x09");
        let mut short = Line::<4>::new();
        short.str("abcdef");
        assert_eq!(short.finish(), b"abc\n");
        let mut cut = Line::<4>::new();
        cut.str("a\u{e9}\u{e9}");
        assert_eq!(cut.as_str(), "a\u{e9}");
        // Not characters: an overlong slash, a surrogate, a cut sequence.
        let mut odd = Line::<64>::new();
        odd.shown(b"\xc0\xaf \xed\xa0\x80 \xe6\x97");
        assert_eq!(odd.as_str(), "\\xc0\\xaf \\xed\\xa0\\x80 \\xe6\\x97");
    }
}
