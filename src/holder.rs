//! Who holds a pidfile's lock, from `/proc`, without taking a lock of our own.
//!
//! `flock` works on any open file description, even a read-only one, so a lock alone
//! vouches for nothing: anyone who could open the file could have taken it. Control
//! believes a PID only when that very process holds the lock on that very file:
//! `/proc/PID/fdinfo/N` lists the locks of each of the process's open file
//! descriptions (`lock:` lines name the device and inode). Whether the file is
//! locked at all comes from `/proc/locks`, so that asking never makes a starter's or a
//! remover's lock attempt fail.

use core::ffi::CStr;
use core::ops::ControlFlow;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{self, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;
use rustix::process::Pid;

use crate::error::{Error, ErrorKind, Failed};
use crate::stack::Stack;

/// ` MAJ:MIN:INO ` as the kernel's lock lines show a file (`%02x:%02x:%lu`), with the
/// spaces that surround it there, so that it never matches a longer number: the
/// text is `buf[at..]`.
struct FileId {
    buf: [u8; 64],
    at: usize,
}

impl FileId {
    /// Written backwards, at most 1 + 8 + 1 + 8 + 1 + 20 + 1 = 40 bytes.
    fn of(st: &Stat) -> FileId {
        let dev = st.st_dev;
        let mut id = FileId {
            buf: [b' '; 64],
            at: 63,
        };
        id.put(st.st_ino, false, b':');
        id.put(fs::minor(dev).into(), true, b':');
        id.put(fs::major(dev).into(), true, b' ');
        id
    }

    /// Puts `n` and then `before` in front of the text: in decimal, or in at least two
    /// lowercase hexadecimal digits (`%02x`). (The mask spares the bounds checks: the
    /// text never comes near 64 bytes.)
    #[inline(never)]
    fn put(&mut self, mut n: u64, hex: bool, before: u8) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let (base, width) = if hex { (16, 2) } else { (10, 1) };
        let end = self.at;
        while n > 0 || end - self.at < width {
            self.at -= 1;
            self.buf[self.at & 63] = DIGITS[(n % base) as usize & 15];
            n /= base;
        }
        self.at -= 1;
        self.buf[self.at & 63] = before;
    }

    /// Whether a line of the file `name` in `at` that starts with `prefix` is a lock
    /// on this file ([`locked_by`](FileId::locked_by)); `None` when it does not open.
    /// One function for `/proc/locks` and the `fdinfo` files.
    fn listed_in(
        &self,
        at: BorrowedFd<'_>,
        name: &CStr,
        prefix: &[u8],
    ) -> Option<Result<bool, Errno>> {
        let file = fs::openat(at, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
        Some(any_line(file.as_fd(), &|line| {
            line.starts_with(prefix) && self.locked_by(line)
        }))
    }

    fn text(&self) -> &[u8] {
        // `split_at`, which the mask keeps in bounds: no call to a checked index.
        self.buf.split_at(self.at & 63).1
    }

    /// Whether `line` (one of `/proc/locks` or of a `fdinfo` file) is an exclusive
    /// `flock` on this file, `... FLOCK  ADVISORY  WRITE PID MAJ:MIN:INO START END`
    /// (the kernel's `lock_get_status`: every field between spaces). A request still
    /// waiting for the lock (`N: -> FLOCK ...`, in `/proc/locks`) holds nothing.
    fn locked_by(&self, line: &[u8]) -> bool {
        // (`max(1)`: every part is longer, and `windows` then has no zero to refuse.)
        let has = |part: &[u8]| line.windows(part.len().max(1)).any(|w| w == part);
        has(b" FLOCK ") && has(b" WRITE ") && has(self.text()) && !has(b" -> ")
    }
}

/// Whether process `pid` holds an exclusive `flock` on the file `st` describes.
/// `Err(ESRCH)` when there is no such process (or it exited while we looked);
/// `Err(EACCES)` when we may not look (another user's process, for anyone but root).
pub(crate) fn holds(pid: Pid, st: &Stat) -> Result<bool, Errno> {
    match holds_raw(pid, st) {
        Err(Errno::NOENT) => Err(Errno::SRCH),
        other => other,
    }
}

fn holds_raw(pid: Pid, st: &Stat) -> Result<bool, Errno> {
    let id = FileId::of(st);
    let mut path = Stack::new();
    let pid = pid.as_raw_nonzero().get() as u64;
    let dir_path = crate::procfs::path(&mut path, b"/proc/", pid, b"/fdinfo\0");
    let found = crate::procfs::numeric_entries(dir_path, |_, name, dir| {
        // A descriptor closed since the listing is not ours to worry about, whether
        // before our open or before our read (which then fails with ENOENT): the
        // process is not gone for that.
        match id.listed_in(dir, name, b"lock:") {
            None | Some(Ok(false) | Err(Errno::NOENT)) => ControlFlow::Continue(()),
            Some(done) => ControlFlow::Break(done),
        }
    })?;
    found.unwrap_or(Ok(false))
}

/// Whether anyone holds an exclusive `flock` on the file `st` describes, from
/// `/proc/locks`; `None` without `/proc`. A shared lock is a prober's, never a
/// daemon's, and does not count.
pub(crate) fn locked(st: &Stat) -> Option<bool> {
    FileId::of(st).listed_in(CWD, c"/proc/locks", b"")?.ok()
}

/// The longest line [`any_line`] looks at: a lock line is under 100 bytes, and a
/// longer one is not one we look for.
const LINE_CAP: usize = 128;

/// Reads `file` to its end in pieces and says whether `found` holds for any line.
/// (`dyn`: one loop, whatever the test.)
fn any_line(file: BorrowedFd<'_>, found: &dyn Fn(&[u8]) -> bool) -> Result<bool, Errno> {
    let mut buf = [0u8; 4096];
    let mut line = [0u8; LINE_CAP];
    // `LINE_CAP + 1` once the line is too long: skipped to its end.
    let mut len = 0;
    loop {
        let n = match rustix::io::read(file, &mut buf) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        // `take`, not `&buf[..n]`: no bounds check (`read` returns at most 4096).
        for &b in buf.iter().take(n) {
            if b == b'\n' {
                if len <= LINE_CAP && found(&line[..len]) {
                    return Ok(true);
                }
                len = 0;
            } else if len < LINE_CAP {
                line[len] = b;
                len += 1;
            } else {
                len = LINE_CAP + 1;
            }
        }
        if n == 0 {
            return Ok(len <= LINE_CAP && found(&line[..len]));
        }
    }
}

/// The error for a pidfile at `path` locked by a process other than the one it
/// names (`pid`), which status, stop and start all refuse to believe.
#[cold]
pub(crate) fn foreign(path: &[u8], pid: Option<Pid>) -> Error {
    let mut err = Error::new(ErrorKind::ForeignLock);
    let _ = put_foreign(path, pid, &mut err);
    err
}

/// [`foreign`], made in `err`.
#[cold]
pub(crate) fn put_foreign(path: &[u8], pid: Option<Pid>, err: &mut Error) -> Failed {
    let e = Error::fill(err, ErrorKind::ForeignLock, None).push_path(path);
    match pid {
        Some(pid) => e
            .push_text(b" is locked, but not by pid ")
            .push_number(pid.as_raw_nonzero().get() as u64),
        None => e.push_text(b" is locked by a process that wrote no PID"),
    }
    .failed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(dev: u64, ino: u64) -> Stat {
        // SAFETY: `Stat` is plain data; zero is a valid value of every field.
        let mut st: Stat = unsafe { core::mem::zeroed() };
        st.st_dev = dev;
        st.st_ino = ino;
        st
    }

    /// `any_line` on a file holding `text`.
    fn any_line_of(text: &[u8], found: &dyn Fn(&[u8]) -> bool) -> bool {
        extern crate std;
        let path = std::env::temp_dir().join(std::format!("holder-{}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        any_line(file.as_fd(), found).unwrap()
    }

    #[test]
    fn every_line_is_seen_whole_across_reads() {
        extern crate std;
        use std::vec::Vec;
        let is = |want: &'static [u8]| move |line: &[u8]| line == want;
        // A line that the first 4,096-byte read cuts in two.
        let mut text: Vec<u8> = [b'x'; 4090].into();
        text.extend_from_slice(b"\nthe lock line\nafter\n");
        assert!(any_line_of(&text, &is(b"the lock line")));
        assert!(any_line_of(&text, &is(b"after")));
        assert!(!any_line_of(&text, &is(b"the lock")));
        // The last line, with no newline after it.
        assert!(any_line_of(b"first\nlast", &is(b"last")));
        // A line too long to be a lock line is skipped, not cut into lines.
        let mut long: Vec<u8> = [b'y'; 300].into();
        long.extend_from_slice(b"tail\nnext\n");
        assert!(!any_line_of(&long, &|line: &[u8]| line.ends_with(b"tail")));
        assert!(any_line_of(&long, &is(b"next")));
    }

    #[test]
    fn a_lock_line_names_the_file() {
        let id = FileId::of(&stat(fs::makedev(0xfe, 0), 10010710));
        assert_eq!(id.text(), b" fe:00:10010710 ");
        assert!(id.locked_by(b"1: FLOCK  ADVISORY  WRITE 8139 fe:00:10010710 0 EOF"));
        assert!(id.locked_by(b"lock:\t1: FLOCK  ADVISORY  WRITE 8139 fe:00:10010710 0 EOF"));
        // A waiter, a prober's shared lock, a POSIX lock, another file, a longer inode.
        assert!(!id.locked_by(b"1: -> FLOCK  ADVISORY  WRITE 8140 fe:00:10010710 0 EOF"));
        assert!(!id.locked_by(b"1: FLOCK  ADVISORY  READ 8139 fe:00:10010710 0 EOF"));
        assert!(!id.locked_by(b"1: POSIX  ADVISORY  WRITE 8139 fe:00:10010710 0 EOF"));
        assert!(!id.locked_by(b"1: FLOCK  ADVISORY  WRITE 8139 fe:01:10010710 0 EOF"));
        assert!(!id.locked_by(b"1: FLOCK  ADVISORY  WRITE 8139 fe:00:100107100 0 EOF"));
        assert!(!id.locked_by(b"1: FLOCK  ADVISORY  WRITE 8139 fe:00:110010710 0 EOF"));
        let big = FileId::of(&stat(fs::makedev(259, 3), 7));
        assert_eq!(big.text(), b" 103:03:7 ");
        let most = FileId::of(&stat(fs::makedev(u32::MAX, u32::MAX), u64::MAX));
        assert_eq!(most.text(), b" ffffffff:ffffffff:18446744073709551615 ");
    }
}
