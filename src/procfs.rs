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

/// How many threads this process has (entries of `/proc/self/task`).
pub(crate) fn thread_count() -> Result<usize, Errno> {
    let mut count = 0;
    numeric_entries(c"/proc/self/task", |_, _| count += 1)?;
    Ok(count)
}

/// The signal dispositions from `/proc/self/status` (`SigIgn`, `SigCgt`).
pub(crate) fn dispositions() -> Option<crate::sys::Dispositions> {
    let file = fs::open(
        c"/proc/self/status",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // The file is about 1.5 KiB; the signal lines come well before 4 KiB.
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
    let field = |name: &[u8]| {
        let line = buf[..len]
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(name))?;
        u64::from_str_radix(core::str::from_utf8(line).ok()?.trim(), 16).ok()
    };
    Some(crate::sys::Dispositions {
        ignored: field(b"SigIgn:")?,
        caught: field(b"SigCgt:")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_dispositions() {
        // Rust's runtime ignores SIGPIPE (13) in every test binary.
        let d = super::dispositions().expect("/proc/self/status is readable");
        assert_ne!(d.ignored & (1 << 12), 0, "{d:?}");
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
