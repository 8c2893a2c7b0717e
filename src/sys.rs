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

/// The signal dispositions of the process, as `/proc/self/status` shows them: bit
/// `n - 1` of `ignored` is set when signal `n` is `SIG_IGN`, of `caught` when it has a
/// handler. A forked child has the same.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dispositions {
    pub(crate) ignored: u64,
    pub(crate) caught: u64,
    /// The signal mask (`SigBlk`), which the daemon inherits too.
    pub(crate) blocked: u64,
}

/// daemon(7) steps 2 and 3: every signal back to `SIG_DFL` (including SIGPIPE,
/// which Rust's runtime ignores), except those in `ignore` (bit `n - 1` for signal
/// `n`), which are set to `SIG_IGN`; then an empty signal mask.
///
/// With the current dispositions known (`now`), only the signals that differ from
/// the target are changed: a few syscalls instead of 64. libc refuses (EINVAL) to
/// touch the real-time signals it reserves for itself (glibc 32-33, musl 32-34): a
/// handler libc installed there stays, but an ignore inherited from the parent is
/// undone with the raw syscall, or the daemon would ignore it for good.
pub(crate) fn reset_signals(ignore: u64, now: Option<Dispositions>) -> Result<(), (i32, Errno)> {
    for sig in 1..NSIG {
        let bit = 1u64 << (sig - 1);
        let wanted_ignored = ignore & bit != 0;
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let (ignored, caught) = match now {
            Some(d) => (d.ignored & bit != 0, d.caught & bit != 0),
            None => (true, true), // unknown: set it
        };
        if wanted_ignored == ignored && !caught {
            continue;
        }
        match set_disposition(sig, wanted_ignored) {
            Ok(()) => {}
            Err(Errno::INVAL) if !wanted_ignored && ignored => raw_reset_if_ignored(sig),
            Err(Errno::INVAL) if !wanted_ignored => {}
            Err(errno) => return Err((sig, errno)),
        }
    }
    if now.is_some_and(|d| d.blocked == 0) {
        return Ok(());
    }
    // SAFETY: a zeroed sigset_t is a valid value and the pointers are to live locals.
    unsafe {
        let mut empty: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, core::ptr::null_mut()) == -1 {
            return Err((0, last_errno()));
        }
    }
    Ok(())
}

/// `sigaction(sig, SIG_IGN or SIG_DFL)` through libc.
fn set_disposition(sig: i32, ignore: bool) -> Result<(), Errno> {
    // SAFETY: a zeroed `sigaction` is a valid value (SIG_DFL, empty mask, no flags)
    // and the pointer is to a live local.
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
        if libc::sigaction(sig, &action, core::ptr::null_mut()) == -1 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// For a signal libc reserves: `SIG_IGN` becomes `SIG_DFL`; a handler stays.
fn raw_reset_if_ignored(sig: i32) {
    // The kernel's `struct sigaction` begins with the handler on every architecture
    // but MIPS; an all-zero one is SIG_DFL with no flags and an empty mask. The
    // fourth argument is the kernel's sigset size, 8 bytes.
    let mut old = [0u64; 4];
    let dfl = [0u64; 4];
    // SAFETY: both buffers are larger than the kernel's struct sigaction (32 bytes
    // on x86_64 and aarch64) and live for the calls.
    unsafe {
        if libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            core::ptr::null::<u64>(),
            old.as_mut_ptr(),
            8,
        ) == 0
            && old[0] == libc::SIG_IGN as u64
        {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                core::ptr::null_mut::<u64>(),
                8,
            );
        }
    }
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

/// `close(fd)` for a number that may not be open (the fallbacks of `fds`); EBADF is
/// expected and ignored. libc's `close`, because rustix's requires an open descriptor.
pub(crate) fn close(fd: i32) {
    // SAFETY: the caller owns `fd` by the close-everything contract: no `OwnedFd`
    // in this process refers to it any more (see `fds::close_inherited`).
    unsafe { libc::close(fd) };
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

/// `execve(path, argv, envp)`: returns only on failure, with the errno. libc's
/// `execve` is async-signal-safe (POSIX lists it); `execvp`, which searches `PATH`,
/// is not, so the path is resolved before the fork.
pub(crate) fn execve(
    path: &core::ffi::CStr,
    argv: &[*const core::ffi::c_char],
    envp: &[*const core::ffi::c_char],
) -> Errno {
    // SAFETY: `argv` and `envp` end with a null pointer (see `plan::Pointers`) and
    // every other entry points to a NUL-terminated string that outlives this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    last_errno()
}

/// Clears close-on-exec on `fd`, so an exec'd program inherits it.
pub(crate) fn inherit(fd: i32) -> Result<(), Errno> {
    rustix::io::fcntl_setfd(borrow(fd), rustix::io::FdFlags::empty())
}

/// `dup2(from, to)` for a descriptor number above 2 (`to` loses close-on-exec).
pub(crate) fn dup_onto(from: i32, to: i32) -> Result<(), Errno> {
    if from == to {
        // dup2 onto itself would leave close-on-exec set.
        return inherit(to);
    }
    // SAFETY: `to` is a number the caller reserved for this (the daemon's close step
    // closed whatever was there); wrapping it in an `OwnedFd` that is forgotten right
    // after never closes it.
    let mut target = core::mem::ManuallyDrop::new(unsafe {
        <rustix::fd::OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(to)
    });
    rustix::io::dup2(borrow(from), &mut target)
}

/// `getenv(name)`. The environment is libc's (`environ`), so rustix has no access
/// to it. Only called before the fork, where it is the caller's own data.
pub(crate) fn getenv(name: &core::ffi::CStr) -> Option<&'static core::ffi::CStr> {
    // SAFETY: `getenv` returns null or a NUL-terminated string in the environment;
    // callers copy it before anything could change the environment (see `unsetenv`).
    unsafe {
        let value = libc::getenv(name.as_ptr());
        (!value.is_null()).then(|| core::ffi::CStr::from_ptr(value))
    }
}

/// `unsetenv(name)`, so that the daemon's own children do not inherit a supervisor's
/// variables. Only called before the fork, once the process is known to have one
/// thread: `unsetenv` races with `getenv` in other threads.
pub(crate) fn unsetenv(name: &core::ffi::CStr) {
    // SAFETY: `name` is a valid C string, and no other thread can read the
    // environment meanwhile (see above).
    unsafe { libc::unsetenv(name.as_ptr()) };
}

/// The C library's text for `errno` (`strerror_r`), written into `buf`. Only for
/// builds without std, whose `Errno` display has no text; std's comes from the same
/// table.
#[cfg(not(feature = "std"))]
pub(crate) fn strerror(errno: Errno, buf: &mut [u8; 128]) -> &str {
    // SAFETY: `buf` is writable for its whole length, which is what we pass; the
    // XSI `strerror_r` (the one the libc crate binds) NUL-terminates on success.
    let ok =
        unsafe { libc::strerror_r(errno.raw_os_error(), buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let text = core::ffi::CStr::from_bytes_until_nul(buf)
        .map(core::ffi::CStr::to_bytes)
        .unwrap_or_default();
    if ok {
        core::str::from_utf8(text).unwrap_or("")
    } else {
        ""
    }
}
