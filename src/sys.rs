//! The few calls rustix deliberately leaves to the C library, and nothing else.
//!
//! rustix does not wrap `fork`, `_exit`, `sigaction` or `sigprocmask`: they interact
//! with libc's own state (its thread list, stdio, the signal numbers libc reserves
//! for threads), so they must go through libc. It has no `setfsuid`/`setfsgid`, and
//! its `getgroups` needs an allocator; libc's are plain system calls. `close_range`,
//! `rt_sigaction` for libc's reserved signals, `rt_sigprocmask` and `signalfd4` (the
//! monitor's) are raw syscalls: musl has no wrapper for the first, and the others'
//! wrappers would only add libc's reserved-signal filtering. The
//! environment is libc's (`environ`). Each function here is safe to call between
//! `fork` and the daemon's return: none allocates, locks or formats.

use rustix::fd::BorrowedFd;
use rustix::io::Errno;
use rustix::process::Pid;

/// Reads the calling thread's `errno` after a failed libc call.
fn last_errno() -> Errno {
    // SAFETY: `__errno_location` returns a valid pointer to this thread's errno.
    Errno::from_raw_os_error(unsafe { *libc::__errno_location() })
}

#[cfg(target_env = "musl")]
extern "C" {
    /// musl's async-signal-safe fork (musl 1.2.2+, in every Rust musl target).
    fn _Fork() -> libc::pid_t;
}

/// `fork()`: `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
///
/// On musl this is `_Fork`, the async-signal-safe fork: it resets libc's thread list
/// and thread id in the child like `fork`, but runs no `pthread_atfork` handlers and
/// takes none of libc's internal locks (malloc's, stdio's), which `fork` does to
/// keep them consistent for a multithreaded parent. daemonic forks only a
/// single-threaded process, or one whose child only makes async-signal-safe calls
/// before `execve`, so the locks cannot be held; `_Fork` spares their code and four
/// system calls per fork. Handlers registered with `pthread_atfork` do not run.
/// Elsewhere (glibc) it is `fork`.
pub(crate) fn fork() -> Result<Option<Pid>, Errno> {
    // SAFETY: (_)fork has no memory-safety preconditions; the soundness of what the
    // child runs afterwards is the caller's contract (see above).
    #[cfg(target_env = "musl")]
    let pid = unsafe { _Fork() };
    // SAFETY: as above.
    #[cfg(not(target_env = "musl"))]
    let pid = unsafe { libc::fork() };
    match pid {
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

/// The real-time signals the C library reserves for itself (thread cancellation,
/// `setxid` broadcasts): glibc 32-33, musl 32-34. A handler it installed there is
/// its business and stays; an ignore inherited from the parent is undone.
#[cfg(target_env = "musl")]
const LIBC_RESERVED: core::ops::RangeInclusive<i32> = 32..=34;
#[cfg(not(target_env = "musl"))]
const LIBC_RESERVED: core::ops::RangeInclusive<i32> = 32..=33;

/// daemon(7) steps 2 and 3: every signal back to `SIG_DFL` (including SIGPIPE,
/// which Rust's runtime ignores), except those in `ignore` (bit `n - 1` for signal
/// `n`), which are set to `SIG_IGN`; then an empty signal mask.
///
/// With the current dispositions known (`now`), only the signals that differ from
/// the target are changed: a few syscalls instead of 64.
///
/// Raw `rt_sigaction`, not libc's `sigaction`: for `SIG_DFL` and `SIG_IGN` libc adds
/// nothing (no handler, so no restorer trampoline), and its wrapper refuses the
/// signals it reserves, which we handle ourselves.
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
        if LIBC_RESERVED.contains(&sig) {
            if wanted_ignored {
                return Err((sig, Errno::INVAL)); // as libc's sigaction says
            }
            if !ignored {
                continue;
            }
        }
        set_disposition(sig, wanted_ignored).map_err(|e| (sig, e))?;
    }
    if now.is_some_and(|d| d.blocked == 0) {
        return Ok(());
    }
    mask_signals(libc::SIG_SETMASK, 0)
        .map(drop)
        .map_err(|e| (0, e))
}

/// `rt_sigaction(sig, SIG_IGN or SIG_DFL)`.
fn set_disposition(sig: i32, ignore: bool) -> Result<(), Errno> {
    // The kernel's `struct sigaction` begins with the handler on every architecture
    // but MIPS; the flags, restorer and mask that follow are all zero here. The
    // fourth argument is the kernel's sigset size, 8 bytes.
    let action = [if ignore { libc::SIG_IGN as u64 } else { 0 }, 0, 0, 0];
    // SAFETY: the buffer is larger than the kernel's struct sigaction (32 bytes on
    // x86_64 and aarch64, 20 on i686) and lives for the call; no old action is asked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            action.as_ptr(),
            core::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if ret == -1 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `rt_sigprocmask(how, set)` (`libc::SIG_BLOCK` or `SIG_SETMASK`) on the calling
/// thread, raw (libc's filters the signals it reserves); returns the mask before.
pub(crate) fn mask_signals(how: i32, set: u64) -> Result<u64, Errno> {
    let mut old = 0u64;
    // SAFETY: both masks are live 8-byte locals, the kernel's sigset size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &set as *const u64,
            &mut old as *mut u64,
            8usize,
        )
    };
    if ret == -1 {
        return Err(last_errno());
    }
    Ok(old)
}

/// `signalfd4(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK)`: the signals of `mask` (blocked
/// by the caller) read as records instead of run as handlers. Raw, like the masks.
pub(crate) fn signalfd(mask: u64) -> Result<rustix::fd::OwnedFd, Errno> {
    let flags = libc::SFD_CLOEXEC | libc::SFD_NONBLOCK;
    // SAFETY: the mask is a live 8-byte local; the call creates a descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_signalfd4, -1, &mask as *const u64, 8usize, flags) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: the kernel just returned this new descriptor, which nothing else owns.
    Ok(unsafe { <rustix::fd::OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd as i32) })
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
/// expected and ignored. libc's `close`, because rustix's requires an owned descriptor.
pub(crate) fn close(fd: i32) {
    // SAFETY: the caller owns `fd` by the close-everything contract: no `OwnedFd`
    // in this process refers to it any more (see `fds::close_inherited`).
    unsafe { libc::close(fd) };
}

/// Borrows a descriptor known only by number, for one call.
///
/// # Safety
/// `fd` must be open for the whole borrow, or the call it is passed to must accept
/// a closed number (failing with EBADF) and the borrow must end with that call.
pub(crate) unsafe fn borrow<'a>(fd: i32) -> BorrowedFd<'a> {
    // SAFETY: the caller's contract.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// `setfsuid(2)`, `setfsgid(2)`: this thread's filesystem identity; each returns the
/// previous one (they report no error: the caller checks with a second call).
pub(crate) fn set_fs_ids(uid: Option<u32>, gid: u32) -> (Option<u32>, u32) {
    // SAFETY: plain system calls on this thread's credentials, with no memory passed.
    unsafe {
        let old_gid = libc::setfsgid(gid) as u32;
        let old_uid = uid.map(|uid| libc::setfsuid(uid) as u32);
        (old_uid, old_gid)
    }
}

/// `getgroups(2)` into `buf`: this thread's supplementary groups.
pub(crate) fn thread_groups(buf: &mut [u32]) -> Result<&[rustix::process::Gid], Errno> {
    let room = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: `buf` has room for `room` gids, as getgroups(2) is told.
    let n = unsafe { libc::getgroups(room, buf.as_mut_ptr()) };
    if n < 0 {
        return Err(last_errno());
    }
    // SAFETY: `Gid` is a transparent wrapper of `gid_t` (u32 on Linux), and getgroups
    // filled the first `n` entries.
    Ok(unsafe { core::slice::from_raw_parts(buf.as_ptr().cast(), n as usize) })
}

/// `dup2(from, to)` onto a standard stream (`to` is 0, 1 or 2).
pub(crate) fn redirect(from: i32, to: i32) -> Result<(), Errno> {
    // SAFETY: `from` is open for as long as the plan that names it lives (the plan
    // owns or was handed it), which outlasts this call.
    let from = unsafe { borrow(from) };
    match to {
        0 => rustix::stdio::dup2_stdin(from),
        1 => rustix::stdio::dup2_stdout(from),
        _ => rustix::stdio::dup2_stderr(from),
    }
}

/// Writes all of `bytes` to `fd` (stderr, a monitor's log), ignoring errors: there
/// is nowhere else to report them.
pub(crate) fn write_all(fd: i32, mut bytes: &[u8]) {
    // SAFETY: a write to a closed number fails with EBADF; the borrow ends with it.
    let out = unsafe { borrow(fd) };
    while !bytes.is_empty() {
        match rustix::io::write(out, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Whether `fd` is an open descriptor (`fcntl(F_GETFD)`).
pub(crate) fn is_open(fd: i32) -> bool {
    // SAFETY: the query accepts a closed number (EBADF) and the borrow ends with it.
    fd >= 0 && rustix::io::fcntl_getfd(unsafe { borrow(fd) }).is_ok()
}

/// `execve(path, argv, envp)`: returns only on failure, with the errno. libc's
/// `execve` is async-signal-safe (POSIX lists it); `execvp`, which searches `PATH`,
/// is not, so the path is resolved before the fork.
pub(crate) fn execve(
    path: &core::ffi::CStr,
    argv: &[*const core::ffi::c_char],
    envp: &[*const core::ffi::c_char],
) -> Errno {
    // SAFETY: `argv` and `envp` end with a null pointer (see `exec::Pointers`) and
    // every other entry points to a NUL-terminated string that outlives this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    last_errno()
}

/// Clears close-on-exec on `fd`, so an exec'd program inherits it.
pub(crate) fn inherit(fd: i32) -> Result<(), Errno> {
    // SAFETY: the call accepts a closed number (EBADF) and the borrow ends with it.
    rustix::io::fcntl_setfd(unsafe { borrow(fd) }, rustix::io::FdFlags::empty())
}

/// `dup2(from, to)` for a descriptor number above 2 (`to` loses close-on-exec).
pub(crate) fn dup_onto(from: i32, to: i32) -> Result<(), Errno> {
    if from == to {
        // dup2 onto itself would leave close-on-exec set.
        return inherit(to);
    }
    // SAFETY: `to` is a number the caller reserved for this (the daemon's close step
    // closed whatever was there); wrapping it in an `OwnedFd` that is never dropped
    // never closes it.
    let mut target = core::mem::ManuallyDrop::new(unsafe {
        <rustix::fd::OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(to)
    });
    // SAFETY: `from` is the caller's open descriptor, borrowed for this call.
    rustix::io::dup2(unsafe { borrow(from) }, &mut target)
}

/// `getenv(name)`. Only called before the fork, where the environment is the
/// caller's own data.
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
