//! The text of an errno, without `core::fmt`: the C library's with std, else our
//! own table of the errnos a start can meet.

use rustix::io::Errno;

/// The text for `errno`; empty when there is none. With std, the C library's
/// (`strerror_r`), which std links anyway for its own errors.
#[cfg(feature = "std")]
pub(crate) fn strerror(errno: Errno, buf: &mut [u8; 128]) -> &[u8] {
    // SAFETY: `buf` is writable for its whole length, which is what we pass; the
    // XSI `strerror_r` (the one the libc crate binds) NUL-terminates on success.
    let ok =
        unsafe { libc::strerror_r(errno.raw_os_error(), buf.as_mut_ptr().cast(), buf.len()) } == 0;
    if !ok {
        return &[];
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
    &buf[..len]
}

/// The text for `errno`; empty when there is none. Without std, our own table of the
/// errors a start can meet, in musl's words: the C library's table of every errno
/// is 2 KB, a quarter of a small daemon; any other errno is shown by number.
#[cfg(not(feature = "std"))]
pub(crate) fn strerror(errno: Errno, _buf: &mut [u8; 128]) -> &[u8] {
    let n = errno.raw_os_error();
    match ERRNOS.iter().position(|&e| i32::from(e) == n) {
        Some(i) => crate::text::nth(ERRNO_TEXTS, i),
        None => &[],
    }
}

/// The errnos of the system calls a start makes (all below 256); their texts are
/// [`ERRNO_TEXTS`].
#[cfg(not(feature = "std"))]
const ERRNOS: [u8; 33] = [
    libc::EPERM as u8,
    libc::ENOENT as u8,
    libc::ESRCH as u8,
    libc::EINTR as u8,
    libc::EIO as u8,
    libc::ENXIO as u8,
    libc::E2BIG as u8,
    libc::ENOEXEC as u8,
    libc::EBADF as u8,
    libc::ECHILD as u8,
    libc::EAGAIN as u8,
    libc::ENOMEM as u8,
    libc::EACCES as u8,
    libc::EFAULT as u8,
    libc::EBUSY as u8,
    libc::EEXIST as u8,
    libc::EXDEV as u8,
    libc::ENOTDIR as u8,
    libc::EISDIR as u8,
    libc::EINVAL as u8,
    libc::ENFILE as u8,
    libc::EMFILE as u8,
    libc::ETXTBSY as u8,
    libc::EFBIG as u8,
    libc::ENOSPC as u8,
    libc::EROFS as u8,
    libc::EMLINK as u8,
    libc::ENAMETOOLONG as u8,
    libc::ENOSYS as u8,
    libc::ELOOP as u8,
    libc::EPROTO as u8,
    libc::ETIMEDOUT as u8,
    libc::ESTALE as u8,
];

/// The texts of [`ERRNOS`] in musl's words, in the same order, each ended by a NUL:
/// one string rather than a table of slices, which would cost 16 bytes an entry.
#[cfg(not(feature = "std"))]
const _: () = assert!(crate::text::count(ERRNO_TEXTS) == ERRNOS.len());

#[cfg(not(feature = "std"))]
const ERRNO_TEXTS: &[u8] = concat!(
    "Operation not permitted\0",
    "No such file or directory\0",
    "No such process\0",
    "Interrupted system call\0",
    "I/O error\0",
    "No such device or address\0",
    "Argument list too long\0",
    "Exec format error\0",
    "Bad file descriptor\0",
    "No child process\0",
    "Resource temporarily unavailable\0",
    "Out of memory\0",
    "Permission denied\0",
    "Bad address\0",
    "Resource busy\0",
    "File exists\0",
    "Cross-device link\0",
    "Not a directory\0",
    "Is a directory\0",
    "Invalid argument\0",
    "Too many open files in system\0",
    "No file descriptors available\0",
    "Text file busy\0",
    "File too large\0",
    "No space left on device\0",
    "Read-only file system\0",
    "Too many links\0",
    "Filename too long\0",
    "Function not implemented\0",
    "Symbolic link loop\0",
    "Protocol error\0",
    "Operation timed out\0",
    "Stale file handle\0",
)
.as_bytes();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_errno_has_its_text_and_no_other() {
        let mut buf = [0; 128];
        let text = |e| strerror(e, &mut [0; 128]).to_vec();
        assert_eq!(text(rustix::io::Errno::NOENT), b"No such file or directory");
        assert_eq!(text(rustix::io::Errno::STALE), b"Stale file handle");
        assert_eq!(
            strerror(rustix::io::Errno::ACCESS, &mut buf),
            b"Permission denied"
        );
        // Without std the table is ours: each errno has its own text.
        #[cfg(not(feature = "std"))]
        assert_eq!(
            strerror(rustix::io::Errno::from_raw_os_error(4000), &mut buf),
            b""
        );
    }
}
