//! Allocation-free walks over `/proc` directories whose entries are numbers.

use core::ffi::CStr;
use core::mem::MaybeUninit;
use rustix::fd::AsRawFd;
use rustix::fs::{self, Mode, OFlags, RawDir};
use rustix::io::Errno;

/// Calls `each` with every numeric entry of the directory at `path` and the raw
/// descriptor of the directory itself (so a walk over `/proc/self/fd` can skip it).
/// Reads with `getdents64` into a stack buffer: safe between fork and exec.
pub(crate) fn numeric_entries(path: &CStr, mut each: impl FnMut(i32, i32)) -> Result<(), Errno> {
    let dir = fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
    let mut entries = RawDir::new(&dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry?;
        if let Some(n) = parse_number(entry.file_name().to_bytes()) {
            each(n, dir.as_raw_fd());
        }
    }
    Ok(())
}

fn parse_number(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 9 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(name.iter().fold(0, |n, d| n * 10 + i32::from(d - b'0')))
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
pub(crate) fn status() -> Option<Status> {
    let file = fs::open(
        c"/proc/thread-self/status",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // The file is about 1.5 KiB; the lines we want come well before 4 KiB.
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&file, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    let field = |name: &[u8], radix| {
        let line = buf[..len]
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(name))?;
        u64::from_str_radix(core::str::from_utf8(line).ok()?.trim(), radix).ok()
    };
    Some(Status {
        threads: field(b"Threads:", 10)?,
        dispositions: crate::sys::Dispositions {
            ignored: field(b"SigIgn:", 16)?,
            caught: field(b"SigCgt:", 16)?,
            blocked: field(b"SigBlk:", 16)?,
        },
    })
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
