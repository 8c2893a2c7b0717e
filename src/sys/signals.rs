//! Signal dispositions and masks: `rt_sigaction` and `rt_sigprocmask` as raw
//! syscalls (libc's wrappers would filter its reserved signals), and the monitor's
//! `signalfd4`.

use rustix::io::Errno;

use super::last_errno;

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
/// signals it reserves, which we handle ourselves. `now` by reference: read where
/// the plan keeps it, not copied out first.
pub(crate) fn reset_signals(ignore: u64, now: &Option<Dispositions>) -> Result<(), (i32, Errno)> {
    for sig in 1..NSIG {
        let bit = 1u64 << (sig - 1);
        let wanted_ignored = ignore & bit != 0;
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let (ignored, caught) = match *now {
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
