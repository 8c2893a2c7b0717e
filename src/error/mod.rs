//! Errors: which step failed, on what, and the OS error, without allocating and
//! without `core::fmt`.
//!
//! An [`Error`] keeps a short copy of what it is about (a path, a name, a number), so
//! it can be returned after the daemon's configuration is gone. It renders itself
//! into a fixed buffer from static text and hand-written decimals ([`crate::text`]);
//! `Display` is that same rendering, for std users.

use core::fmt;
use rustix::io::Errno;

use crate::stack::Stack;
use crate::text::Line;

mod frame;
mod kind;

/// `result.map_err(make)?`, with the [`Error`] built right in the caller's return
/// slot: `map_err` builds it in a temporary `Result` first and `?` moves it out, a
/// hundred bytes and more of code at each site, for a 200-byte error.
macro_rules! or_return {
    ($result:expr, $make:expr) => {
        match $result {
            Ok(value) => value,
            Err(e) => return Err($make(e)),
        }
    };
}
pub(crate) use or_return;

/// A step failed and put its [`Error`] in the slot its caller passed: `?` on a
/// `Result<T, Failed>` moves no error. (Returned by value, the 200-byte error was
/// copied again at every `?` between the step and the start: 728 bytes of the
/// minimal daemon.) Only [`Error::put`] and [`Error::failed`] (after
/// [`Error::fill`] made the error in the slot) make one, so the slot always holds
/// the error that was made.
#[derive(Debug)]
pub(crate) struct Failed(());

pub(crate) use frame::{frame, Frame};
pub use kind::ErrorKind;

/// How many bytes of context an [`Error`] keeps. Paths are shortened to
/// [`PATH_SHOWN`] bytes, so the numbers and words around them always fit.
const CONTEXT: usize = 160;
/// The longest path shown whole; longer ones keep their start and end.
const PATH_SHOWN: usize = 112;
/// The one length of a rendered message (with `daemonic: ` and the errno's text):
/// one size, so one copy of the rendering code.
const LINE: usize = 384;

/// An error from daemonizing or from a pidfile operation.
///
/// It says which step failed ([`kind`](Error::kind)), the OS error if there is one
/// ([`errno`](Error::errno)), and the path, user or value involved, and displays as one
/// line, e.g. `cannot change directory to /srv/x: No such file or directory (os error 2)`.
///
/// ```
/// use daemonic::{Daemon, ErrorKind};
///
/// let err = Daemon::new().working_directory("relative/dir").check().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidOption);
/// assert!(err.to_string().contains("relative/dir"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    errno: Option<Errno>,
    /// The static text before and after the context: chosen where the error is made,
    /// so a program contains only the messages it can give.
    frame: Frame,
    context: Stack<u8, CONTEXT>,
}

impl Error {
    /// An error of `kind`, with no context yet. Inlined, so the frame is picked where
    /// `kind` is known: only the words of the errors a program can give are in it.
    #[inline(always)]
    pub(crate) const fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            errno: None,
            frame: frame(kind),
            context: Stack::new(),
        }
    }

    /// A failed system call of step `kind`.
    #[inline(always)]
    pub(crate) const fn os(kind: ErrorKind, errno: Errno) -> Error {
        Error {
            kind,
            errno: Some(errno),
            frame: frame(kind),
            context: Stack::new(),
        }
    }

    /// An invalid option, explained by `why`.
    pub(crate) fn invalid(why: &'static str) -> Error {
        Error::new(ErrorKind::InvalidOption).text(why)
    }

    /// Makes `slot` a new error of `kind` with `errno`, in place (a 200-byte value
    /// built elsewhere and put would be copied), for pushes and then
    /// [`failed`](Error::failed). Inlined, so the frame is picked where `kind` is known.
    #[inline(always)]
    pub(crate) fn fill(slot: &mut Error, kind: ErrorKind, errno: Option<Errno>) -> &mut Error {
        Error::fill_framed(slot, kind, errno, frame(kind))
    }

    /// [`fill`](Error::fill) with a frame the caller picked.
    #[inline(always)]
    pub(crate) fn fill_framed(
        slot: &mut Error,
        kind: ErrorKind,
        errno: Option<Errno>,
        frame: Frame,
    ) -> &mut Error {
        slot.kind = kind;
        slot.errno = errno;
        slot.frame = frame;
        slot.context.truncate(0);
        slot
    }

    /// The [`Failed`] that says this error is filled in.
    pub(crate) fn failed(&mut self) -> Failed {
        Failed(())
    }

    /// Puts this error in `slot`, for `return Err(error.put(slot))`.
    #[inline(always)]
    pub(crate) fn put(self, slot: &mut Error) -> Failed {
        *slot = self;
        Failed(())
    }

    /// Sets the OS error.
    pub(crate) const fn with_errno(mut self, errno: Option<Errno>) -> Error {
        self.errno = errno;
        self
    }

    /// Appends text (a `str` or bytes) to the context.
    #[inline(always)]
    pub(crate) fn text<T: AsRef<[u8]> + ?Sized>(mut self, text: &T) -> Error {
        self.push_text(text.as_ref());
        self
    }

    /// [`text`](Error::text) in place, for an error built in branches.
    #[inline(never)]
    pub(crate) fn push_text(&mut self, text: &[u8]) -> &mut Error {
        let _ = self.context.extend(text);
        self
    }

    /// Appends a path or a name, shortened in the middle if it is long.
    #[inline(always)]
    pub(crate) fn path(mut self, bytes: &[u8]) -> Error {
        self.push_path(bytes);
        self
    }

    // Out of line and by reference: a 200-byte error passed by value would be copied
    // in and out at every call.
    /// [`path`](Error::path) in place.
    #[inline(never)]
    pub(crate) fn push_path(&mut self, bytes: &[u8]) -> &mut Error {
        if bytes.len() <= PATH_SHOWN {
            let _ = self.context.extend(bytes);
        } else {
            // Keep the start and the end, cut between whole UTF-8 characters.
            let continues = |i: usize| bytes[i] & 0xc0 == 0x80;
            let mut head = PATH_SHOWN / 2;
            while head > 0 && continues(head) {
                head -= 1;
            }
            let mut tail = bytes.len() - PATH_SHOWN / 2;
            while tail < bytes.len() && continues(tail) {
                tail += 1;
            }
            let _ = self.context.extend(&bytes[..head]);
            let _ = self.context.extend(b"...");
            let _ = self.context.extend(&bytes[tail..]);
        }
        self
    }

    /// Appends a number in decimal.
    #[inline(always)]
    pub(crate) fn number(mut self, n: u64) -> Error {
        self.push_number(n);
        self
    }

    /// [`number`](Error::number) in place.
    #[inline(never)]
    pub(crate) fn push_number(&mut self, n: u64) -> &mut Error {
        let mut buf = [0; 20];
        let _ = self.context.extend(crate::text::decimal(n, &mut buf));
        self
    }

    /// Appends a number in octal (a umask, a mode).
    pub(crate) fn octal(mut self, mut n: u32) -> Error {
        let mut digits = [0u8; 11];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n & 7) as u8;
            n >>= 3;
            if n == 0 {
                break;
            }
        }
        let _ = self.context.extend(&digits[i..]);
        self
    }

    /// Appends a duration as seconds with milliseconds, `2.500 s`.
    pub(crate) fn push_seconds(&mut self, d: core::time::Duration) -> &mut Error {
        let millis = d.subsec_millis();
        self.push_number(d.as_secs())
            .push_text(match millis {
                0..=9 => b".00",
                10..=99 => b".0",
                _ => b".",
            })
            .push_number(millis.into())
            .push_text(b" s")
    }

    /// The step that failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The OS error, when the failure came from a system call.
    pub fn errno(&self) -> Option<Errno> {
        self.errno
    }

    /// The exit status the original process uses for this error, following
    /// start-stop-daemon: 1 when nothing was done because the daemon is already
    /// running, the daemon's own code for [`ErrorKind::Failed`], 3 for anything else.
    ///
    /// ```
    /// # use daemonic::{Daemon, ErrorKind};
    /// let err = Daemon::new().umask(0o1000).check().unwrap_err();
    /// assert_eq!(err.exit_code(), 3);
    /// ```
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::AlreadyRunning { .. } => 1,
            ErrorKind::Failed { code } if code != 0 => i32::from(code),
            _ => 3,
        }
    }

    /// The message, as [`Display`](core::fmt::Display) shows it, written into `buf`
    /// (cut if it does not fit) without `core::fmt`: for programs that leave the
    /// formatting machinery out of their binary.
    ///
    /// ```
    /// let err = daemonic::Daemon::new().working_directory("srv").check().unwrap_err();
    /// let mut buf = [0u8; 128];
    /// let line = err.write_message(&mut buf);
    /// assert_eq!(line, err.to_string().as_bytes());
    /// ```
    pub fn write_message<'b>(&self, buf: &'b mut [u8]) -> &'b [u8] {
        let mut line = Line::<LINE>::new();
        self.render(&mut line);
        let text = line.as_bytes();
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text[..n]);
        &buf[..n]
    }

    /// Writes the message into `line`: the step's text around the context, then the
    /// OS error as std shows it, `No such file or directory (os error 2)`.
    pub(crate) fn render<const N: usize>(&self, line: &mut Line<N>) {
        let (before, after) = self.frame.parts();
        line.raw(before).shown(self.context.as_slice()).raw(after);
        if let Some(errno) = self.errno {
            let mut buf = [0u8; 128];
            let text = crate::sys::strerror(errno, &mut buf);
            let n = errno.raw_os_error() as u64;
            line.str(": ");
            if text.is_empty() {
                line.str("os error ").number(n);
            } else {
                line.shown(text).str(" (os error ").number(n).str(")");
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = Line::<LINE>::new();
        self.render(&mut line);
        f.write_str(line.as_str())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut context = Line::<{ CONTEXT + 1 }>::new();
        context.shown(self.context.as_slice());
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("errno", &self.errno)
            .field("context", &context.as_str())
            .finish()
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(err: Error) -> std::io::Error {
        match err.errno {
            Some(errno) => std::io::Error::new(std::io::Error::from(errno).kind(), err),
            None => std::io::Error::other(err),
        }
    }
}

/// Writes `daemonic: <err>` to stderr in one `write`, without allocating or
/// formatting.
pub(crate) fn report(err: &Error) {
    let mut line = Line::<LINE>::new();
    line.str("daemonic: ");
    err.render(&mut line);
    crate::sys::write_all(2, line.finish());
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn renders_static_text_around_the_context() {
        let e = Error::os(ErrorKind::Chdir, Errno::NOENT).path(b"/srv/x");
        assert_eq!(
            e.to_string(),
            "cannot change directory to /srv/x: No such file or directory (os error 2)"
        );
        let e = Error::new(ErrorKind::Threads).number(3);
        assert_eq!(
            e.to_string(),
            "refusing to fork a process with 3 threads: only the calling thread would survive \
             (start before any thread or async runtime, or use Daemon::exec)"
        );
        let e = Error::new(ErrorKind::Failed { code: 4 }).number(4);
        assert_eq!(e.to_string(), "the daemon reported failure (code 4)");
    }

    #[test]
    fn a_long_path_is_shortened_and_the_reason_survives() {
        let long = [b'a'; 300];
        let e = Error::new(ErrorKind::InsecurePidfile)
            .path(&long)
            .text(": it is a symbolic link");
        let text = e.to_string();
        assert!(text.ends_with("aaa: it is a symbolic link"), "{text}");
        assert!(text.contains("aaa...aaa"), "{text}");
        assert!(text.len() < 160, "{text}");
    }

    #[test]
    fn seconds_show_three_decimals() {
        use core::time::Duration;
        for (millis, shown) in [
            (5, "2.005 s"),
            (50, "2.050 s"),
            (500, "2.500 s"),
            (0, "2.000 s"),
        ] {
            let mut e = Error::new(ErrorKind::InvalidOption);
            e.push_seconds(Duration::from_millis(2000 + millis));
            assert!(e.to_string().ends_with(shown), "{e}");
        }
    }

    #[test]
    fn invalid_bytes_are_escaped() {
        let e = Error::new(ErrorKind::UnknownUser).path(b"b\xffd");
        assert_eq!(e.to_string(), "unknown user b\\xffd");
    }
}
