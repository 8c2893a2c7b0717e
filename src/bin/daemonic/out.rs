//! Output without std: whole lines, each in one `write`, formatted on the stack.

use core::fmt::{self, Write};

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

/// A line being formatted: up to 512 bytes, then cut.
struct Line {
    len: usize,
    buf: [u8; 512],
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = s.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Prints `args` and a newline to `fd` in one write.
pub fn line(fd: i32, args: fmt::Arguments<'_>) {
    let mut line = Line {
        len: 0,
        buf: [0; 512],
    };
    let _ = line.write_fmt(args);
    line.buf[line.len] = b'\n';
    write_all(fd, &line.buf[..=line.len]);
}
