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
//! `fork` and the daemon's return: none allocates, locks or formats. The signal calls
//! are in `signals.rs`, the errno texts in `errno.rs`.

use rustix::fd::BorrowedFd;
use rustix::io::Errno;
use rustix::process::Pid;

mod errno;
mod signals;

pub(crate) use errno::strerror;
pub(crate) use signals::{mask_signals, reset_signals, signalfd, Dispositions};

/// Reads the calling thread's `errno` after a failed libc call.
pub(super) fn last_errno() -> Errno {
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
