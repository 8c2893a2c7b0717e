//! The few calls rustix deliberately leaves to the C library, and nothing else.
//!
//! rustix does not wrap `fork`, `_exit`, `sigaction` or `sigprocmask`: they interact
//! with libc's own state (atfork handlers, stdio, the signal numbers libc reserves for
//! threads), so they must go through libc. `close_range` has no wrapper in musl at all
//! (and `libc::close_range` is glibc-only), so it is issued as a raw syscall. Each
//! function here is safe to call between `fork` and the daemon's return: none
//! allocates, locks or formats.

use rustix::io::Errno;
use rustix::process::Pid;

/// Reads the calling thread's `errno` after a failed libc call.
fn last_errno() -> Errno {
    // SAFETY: `__errno_location` returns a valid pointer to this thread's errno.
    Errno::from_raw_os_error(unsafe { *libc::__errno_location() })
}

/// `fork()`: `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
///
/// Uses libc's `fork` (not a raw `clone`) so that libc resets its internal locks
/// and caches in the child. The caller guarantees the process is single-threaded,
/// or that the child only calls async-signal-safe functions.
pub(crate) fn fork() -> Result<Option<Pid>, Errno> {
    // SAFETY: fork has no memory-safety preconditions; the soundness of what the
    // child runs afterwards is the caller's contract (see the module docs).
    match unsafe { libc::fork() } {
        -1 => Err(last_errno()),
        0 => Ok(None),
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// `_exit(code)`: leaves without running atexit handlers or destructors, so an
/// intermediate process never flushes or cleans up what the original owns.
pub(crate) fn exit_immediately(code: i32) -> ! {
    // SAFETY: `_exit` is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}

/// The highest signal number plus one (Linux `_NSIG` on every architecture but
/// MIPS); one bit of a `u64` per signal.
const NSIG: i32 = 65;

/// daemon(7) steps 2 and 3: every catchable signal back to `SIG_DFL` (including
/// SIGPIPE, which Rust's runtime sets to ignore), then the signals in `ignored` (bit
/// `n - 1` for signal `n`) to `SIG_IGN`, then an empty signal mask.
///
/// `sigaction` fails with EINVAL for SIGKILL, SIGSTOP and the real-time signals libc
/// reserves for itself; those are skipped, as libdaemon does.
pub(crate) fn reset_signals(ignored: u64) -> Result<(), (i32, Errno)> {
    // SAFETY: a zeroed `sigaction` is a valid value (SIG_DFL, empty mask, no flags),
    // and every pointer passed below points to a live local.
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        for sig in 1..NSIG {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            action.sa_sigaction = if ignored & (1 << (sig - 1)) != 0 {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            let failed = libc::sigaction(sig, &action, core::ptr::null_mut()) == -1;
            // A reserved signal cannot be mapped, but one the caller asked to ignore must be.
            if failed && action.sa_sigaction == libc::SIG_IGN {
                return Err((sig, last_errno()));
            }
        }
        let mut empty: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, core::ptr::null_mut()) == -1 {
            return Err((0, last_errno()));
        }
    }
    Ok(())
}

/// `close_range(first, last, 0)` as a raw syscall (Linux 5.9; musl has no wrapper).
pub(crate) fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes integers only; closing descriptors is what the
    // caller asked for (it owns every descriptor in the range, see `fds`).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if ret == -1 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `close(fd)` for a descriptor known only by number (the fallbacks of `fds`).
pub(crate) fn close(fd: i32) {
    // SAFETY: the caller owns `fd` by the close-everything contract: no `OwnedFd`
    // in this process refers to it any more (see `fds::close_inherited`).
    unsafe { rustix::io::close(fd) }
}

/// `dup2(from, to)` onto a standard stream (`to` is 0, 1 or 2).
pub(crate) fn redirect(from: i32, to: i32) -> Result<(), Errno> {
    // SAFETY: `from` is open for as long as the daemon plan that names it lives
    // (`plan::Plan` owns or borrows it), which outlasts this call.
    let from = unsafe { rustix::fd::BorrowedFd::borrow_raw(from) };
    match to {
        0 => rustix::stdio::dup2_stdin(from),
        1 => rustix::stdio::dup2_stdout(from),
        _ => rustix::stdio::dup2_stderr(from),
    }
}

/// Writes `bytes` to stderr, ignoring errors (there is nowhere else to report them).
pub(crate) fn write_stderr(bytes: &[u8]) {
    // SAFETY: fd 2 is only borrowed for this call; if it is closed, write fails with EBADF.
    let stderr = unsafe { rustix::fd::BorrowedFd::borrow_raw(2) };
    let _ = rustix::io::write(stderr, bytes);
}

/// Whether `fd` is an open descriptor (`fcntl(F_GETFD)`).
pub(crate) fn is_open(fd: i32) -> bool {
    // SAFETY: the borrow lasts only for this query; a closed number gives EBADF.
    fd >= 0 && rustix::io::fcntl_getfd(unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) }).is_ok()
}

/// Borrows a descriptor known only by number, for a call that needs `AsFd`.
pub(crate) fn borrow(fd: i32) -> rustix::fd::BorrowedFd<'static> {
    // SAFETY: only used on numbers `is_open` just confirmed, for a single call.
    unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) }
}
