//! Output without std and without `core::fmt`: a line composed on the stack from
//! static text, bytes shown as text, decimals and library errors, then written
//! whole, with its newline, in one `write`.

/// The longest line; longer ones are cut (the newline always fits).
const MAX: usize = 512;

/// A line being composed.
pub struct Line {
    len: usize,
    buf: [u8; MAX],
}

impl Line {
    pub const fn new() -> Line {
        Line {
            len: 0,
            buf: [0; MAX],
        }
    }

    /// Appends raw bytes, as many as fit before the room kept for the newline.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Line {
        for &b in bytes {
            if self.len == MAX - 1 {
                break;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }

    /// Appends static text.
    pub fn text(&mut self, text: &str) -> &mut Line {
        self.raw(text.as_bytes())
    }

    /// Appends bytes (an argument, a path) as text: valid UTF-8 as it is, any other
    /// byte and ASCII control characters as `\xNN`, so nothing can hide or break the
    /// line (as the library shows paths in its messages).
    pub fn shown(&mut self, bytes: &[u8]) -> &mut Line {
        daemonic::__show(bytes, &mut |piece| {
            self.raw(piece);
        });
        self
    }

    /// Appends `n` in decimal.
    pub fn number(&mut self, mut n: u32) -> &mut Line {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.raw(&digits[i..])
    }

    /// Appends a library error's message (rendered by the library, without `core::fmt`).
    pub fn error(&mut self, err: &daemonic::Error) -> &mut Line {
        let n = err.write_message(&mut self.buf[self.len..MAX - 1]).len();
        self.len += n;
        self
    }

    /// The line so far, without its newline.
    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The line and its newline.
    pub fn finish(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }

    /// Writes the line and a newline to `fd` (1, else 2) in one `write`.
    pub fn print(&mut self, fd: i32) {
        write_all(fd, self.finish());
    }
}

/// The length of the UTF-8 character `bytes` (not empty) starts with, ASCII control
/// characters included, or 0: the library's check, not `core::str::from_utf8` (500
/// bytes of code).
fn char_len(bytes: &[u8]) -> usize {
    match bytes[0] {
        0..=0x7f => 1,
        _ => daemonic::__printable_len(bytes),
    }
}

/// `bytes` as a `str` if they are UTF-8.
pub fn text(bytes: &[u8]) -> Option<&str> {
    let mut rest = bytes;
    while !rest.is_empty() {
        rest = match char_len(rest) {
            0 => return None,
            len => rest.get(len..)?,
        };
    }
    // SAFETY: every character of `bytes` was just checked to be UTF-8.
    Some(unsafe { core::str::from_utf8_unchecked(bytes) })
}

/// A line that starts `daemonic: `, for errors.
pub fn error_line() -> Line {
    let mut line = Line::new();
    line.text("daemonic: ");
    line
}

/// Writes all of `bytes` to `fd`, ignoring errors (a closed stderr has no remedy).
pub fn write_all(fd: i32, mut bytes: &[u8]) {
    let fd = crate::sys::stdio(fd);
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) | Err(_) => return,
            Ok(n) => bytes = &bytes[n..],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bytes_and_numbers() {
        let mut line = Line::new();
        line.text("pid ").number(0).text(" ").number(4_294_967_295);
        assert_eq!(line.as_bytes(), b"pid 0 4294967295");
    }

    #[test]
    fn odd_bytes_are_shown_as_hex() {
        let mut line = Line::new();
        line.shown(b"odd-\xff\xfe.pid ")
            .shown("caf\u{e9}\n\t\x7f".as_bytes());
        assert_eq!(
            line.as_bytes(),
            b"odd-\\xff\\xfe.pid caf\xc3\xa9\\x0a\\x09\\x7f"
        );
        // A lead byte without its continuation, and an overlong form.
        let mut line = Line::new();
        line.shown(b"\xc3(\xc0\xaf");
        assert_eq!(line.as_bytes(), b"\\xc3(\\xc0\\xaf");
    }

    #[test]
    fn text_accepts_what_from_utf8_accepts() {
        let same =
            |b: &[u8]| assert_eq!(text(b).is_some(), core::str::from_utf8(b).is_ok(), "{b:x?}");
        for a in 0..=255u8 {
            same(&[a]);
            for b in 0..=255u8 {
                same(&[a, b]);
                same(&[b'x', a, b, b'y']);
            }
        }
        for a in 0xe0..=0xefu8 {
            for b in 0..=255u8 {
                for c in [0x00, 0x7f, 0x80, 0xbf, 0xc0] {
                    same(&[a, b, c]);
                }
            }
        }
        for a in 0xf0..=0xf7u8 {
            for b in 0..=255u8 {
                for (c, d) in [(0x80, 0x80), (0xbf, 0xbf), (0x80, 0x7f), (0x00, 0x80)] {
                    same(&[a, b, c, d]);
                }
            }
        }
        assert_eq!(
            text("caf\u{e9} \u{1f600}".as_bytes()),
            Some("caf\u{e9} \u{1f600}")
        );
    }

    #[test]
    fn a_long_line_is_cut_and_keeps_room_for_the_newline() {
        let mut line = Line::new();
        for _ in 0..100 {
            line.text("0123456789");
        }
        assert_eq!(line.as_bytes().len(), MAX - 1);
        let whole = line.finish();
        assert_eq!(whole.len(), MAX);
        assert_eq!(whole[MAX - 1], b'\n');
    }

    #[test]
    fn a_library_error_is_its_message() {
        let err = daemonic::Daemon::new()
            .working_directory(c"srv")
            .check()
            .unwrap_err();
        let mut line = error_line();
        line.error(&err);
        let mut buf = [0u8; 256];
        let message = err.write_message(&mut buf);
        assert_eq!(&line.as_bytes()[..10], b"daemonic: ");
        assert_eq!(&line.as_bytes()[10..], message);
    }
}
