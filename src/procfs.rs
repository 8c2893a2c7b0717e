//! Allocation-free walks over `/proc` directories whose entries are numbers.

use core::ffi::CStr;
use core::mem::MaybeUninit;
use core::ops::ControlFlow;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{self, Mode, OFlags, RawDir};
use rustix::io::Errno;
use rustix::process::Pid;

use crate::stack::Stack;

/// Calls `each` with every numeric entry of the directory at `path` (its number and
/// its name) and the directory itself (so a walk over `/proc/self/fd` can skip it,
/// or open an entry), until `each` breaks: `Ok(Some(value))` then, else `Ok(None)`.
/// Reads with `getdents64` into a stack buffer: safe between fork and exec.
pub(crate) fn numeric_entries<T>(
    path: &CStr,
    mut each: impl FnMut(i32, &CStr, BorrowedFd<'_>) -> ControlFlow<T>,
) -> Result<Option<T>, Errno> {
    let dir = fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
    let mut entries = RawDir::new(&dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(n) = parse_number(name.to_bytes()) {
            if let ControlFlow::Break(value) = each(n, name, dir.as_fd()) {
                return Ok(Some(value));
            }
        }
    }
    Ok(None)
}

/// `head`, `n` in decimal and `tail` (which ends with the NUL) in `buf`, as a C
/// string: a path such as `/proc/PID/fdinfo`. One copy of the code for every such
/// path. Empty if it does not fit, which no caller's does.
pub(crate) fn path<'b>(buf: &'b mut Stack<u8, 40>, head: &[u8], n: u64, tail: &[u8]) -> &'b CStr {
    let mut digits = [0; 20];
    let _ = buf.extend(head);
    let _ = buf.extend(crate::text::decimal(n, &mut digits));
    let _ = buf.extend(tail);
    crate::text::c_str(buf.as_slice()).unwrap_or_default()
}

fn parse_number(name: &[u8]) -> Option<i32> {
    i32::try_from(crate::text::parse_decimal(name)?).ok()
}

/// What the daemon's start needs from `/proc/thread-self/status`, read once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Status {
    /// How many threads the process has (`Threads:`).
    pub(crate) threads: u64,
    /// The signal dispositions (`SigIgn:`, `SigCgt:`).
    pub(crate) dispositions: crate::sys::Dispositions,
}

/// Reads `/proc/thread-self/status` (Linux 3.17): the signal mask is the calling
/// thread's, which is the one a fork copies; the rest is the process's. `None`
/// without `/proc` or when a field is missing.
///
/// One `read`: the kernel renders the whole file (about 1.5 KiB) at once, and a
/// read of a larger buffer returns all of it. Not inlined: both entry points read it.
#[inline(never)]
pub(crate) fn status() -> Option<Status> {
    let file = fs::open(
        c"/proc/thread-self/status",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 4096];
    let read = loop {
        match rustix::io::read(&file, &mut buf) {
            Err(Errno::INTR) => continue,
            other => break other,
        }
    };
    // Closed here, at one place, rather than on each of the ways out below.
    drop(file);
    let text = buf.get(..read.ok()?)?;
    let field = |name: &[u8]| {
        let line = text
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(name))?;
        Some(crate::text::trim(line))
    };
    let mask = |name| crate::text::parse_hex(field(name)?);
    Some(Status {
        threads: crate::text::parse_decimal(field(b"Threads:")?)?,
        dispositions: crate::sys::Dispositions {
            ignored: mask(b"SigIgn:")?,
            caught: mask(b"SigCgt:")?,
            blocked: mask(b"SigBlk:")?,
        },
    })
}

/// Calls `each` with every child of the calling thread, from
/// `/proc/thread-self/children` (for a single-threaded process, all of its children);
/// nothing without `/proc` or `CONFIG_PROC_CHILDREN`.
pub(crate) fn children(mut each: impl FnMut(Pid)) {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let Ok(file) = fs::open(c"/proc/thread-self/children", flags, Mode::empty()) else {
        return;
    };
    let mut buf = [0u8; 4096];
    let Ok(len) = rustix::io::read(&file, &mut buf) else {
        return;
    };
    for word in buf[..len].split(|&b| b == b' ' || b == b'\n') {
        if let Some(pid) = parse_number(word).and_then(Pid::from_raw) {
            each(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_status() {
        let s = super::status().expect("/proc/self/status is readable");
        // Rust's runtime ignores SIGPIPE (13) in every test binary, and the test
        // harness runs this test on a thread of its own.
        assert_ne!(s.dispositions.ignored & (1 << 12), 0, "{s:?}");
        assert!(s.threads >= 2, "{s:?}");
    }

    #[test]
    fn parses_only_numbers() {
        assert_eq!(super::parse_number(b"17"), Some(17));
        assert_eq!(super::parse_number(b"."), None);
        assert_eq!(super::parse_number(b".."), None);
        assert_eq!(super::parse_number(b""), None);
        assert_eq!(super::parse_number(b"1a"), None);
    }
}
