//! Descriptors: keeping ours away from 0-2, and closing everything inherited.
//!
//! Closing costs the same whatever `RLIMIT_NOFILE` is: `close_range` (Linux 5.9)
//! closes the gaps between the descriptors to keep in a handful of syscalls. If it
//! fails for *any* reason (ENOSYS on old kernels, EPERM under some seccomp profiles),
//! we walk `/proc/self/fd` and close what is open; only without `/proc` (a chroot
//! without it) do we loop up to the soft limit, the one fallback whose cost grows.

use rustix::fd::{AsRawFd, OwnedFd};
use rustix::io::{fcntl_dupfd_cloexec, Errno};
use rustix::process::{getrlimit, Resource};

use crate::stack::{Full, Stack};
use crate::{procfs, sys};

/// How many descriptors the caller can ask the daemon to keep.
pub(crate) const MAX_PRESERVED: usize = 64;
/// How many the daemon keeps at most: the preserved ones and a few of its own (the
/// pidfile's, the report channel's, a supervisor's), which therefore always fit.
pub(crate) const MAX_KEEP: usize = MAX_PRESERVED + 8;

/// Moves `fd` to 3 or above if it landed on 0, 1 or 2 (the launcher had a standard
/// stream closed), so that redirecting stdio in the daemon can never overwrite it.
pub(crate) fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    at_or_above(fd, 3)
}

/// Moves `fd` to `floor` or above if it is below: a descriptor the daemon keeps
/// until it execs must stay clear of the number the program's readiness pipe gets.
#[inline(never)]
pub(crate) fn at_or_above(fd: OwnedFd, floor: i32) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() >= floor {
        return Ok(fd);
    }
    fcntl_dupfd_cloexec(&fd, floor)
}

/// Whether a descriptor number above `number` exists under `RLIMIT_NOFILE`, where the
/// start places what it keeps (`fcntl(F_DUPFD)` beyond the limit is an `EINVAL` that
/// would name the wrong thing): `Err(limit)` if not. Running out of descriptors later
/// is an `EMFILE`, reported by the step that met it.
#[cold]
pub(crate) fn room_above(number: i32) -> Result<(), u64> {
    match getrlimit(Resource::Nofile).current {
        Some(limit) if number as u64 + 1 >= limit => Err(limit),
        _ => Ok(()),
    }
}

/// A sorted, duplicate-free set of descriptors above 2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keep {
    fds: Stack<i32, MAX_KEEP>,
}

impl Keep {
    pub(crate) const fn new() -> Keep {
        Keep { fds: Stack::new() }
    }

    /// Adds `fd`; 0-2 are always kept and need no entry. Fails when full.
    pub(crate) fn insert(&mut self, fd: i32) -> Result<(), Full> {
        if fd < 3 {
            return Ok(());
        }
        match self.as_slice().binary_search(&fd) {
            Ok(_) => Ok(()),
            Err(at) => self.fds.insert(at, fd),
        }
    }

    pub(crate) fn as_slice(&self) -> &[i32] {
        self.fds.as_slice()
    }

    pub(crate) fn contains(&self, fd: i32) -> bool {
        fd < 3 || self.as_slice().binary_search(&fd).is_ok()
    }
}

/// Closes every descriptor above 2 that is not in `keep`. Safe between fork and exec.
pub(crate) fn close_inherited(keep: &Keep) -> Result<(), Errno> {
    if close_gaps(keep).is_ok() {
        return Ok(());
    }
    let walked = procfs::numeric_entries(c"/proc/self/fd", |fd, _, dir| {
        if fd != dir.as_raw_fd() && !keep.contains(fd) {
            sys::close(fd);
        }
        core::ops::ControlFlow::<()>::Continue(())
    });
    if walked.is_ok() {
        return Ok(());
    }
    close_up_to_limit(keep)
}

/// Right before `execve`: the program inherits the `preserve`d descriptors (their
/// close-on-exec flag cleared) and, as `readiness` says, the readiness pipe's write
/// end `from` under its number `to`. Safe between fork and exec.
pub(crate) fn hand_over(preserve: &[i32], readiness: Option<(i32, i32)>) -> Result<(), Errno> {
    for &fd in preserve {
        sys::inherit(fd)?;
    }
    match readiness {
        Some((from, to)) => sys::dup_onto(from, to),
        None => Ok(()),
    }
}

/// Closes the few descriptors `fds` (negative numbers are none; no number twice,
/// which the range test below relies on): with one `close_range` when they are
/// consecutive numbers, as the channels' usually are, else one by one. Safe between
/// fork and exec; the caller owns them and never uses them again.
pub(crate) fn close_these(fds: &[i32]) {
    let (mut low, mut high, mut count) = (i32::MAX, -1, 0);
    for &fd in fds.iter().filter(|&&fd| fd >= 0) {
        low = low.min(fd);
        high = high.max(fd);
        count += 1;
    }
    if count > 0 && high - low + 1 == count && sys::close_range(low as u32, high as u32).is_ok() {
        return;
    }
    for &fd in fds.iter().filter(|&&fd| fd >= 0) {
        sys::close(fd);
    }
}

/// `close_range` over the gaps between the kept descriptors.
fn close_gaps(keep: &Keep) -> Result<(), Errno> {
    let mut first = 3u32;
    for &fd in keep.as_slice() {
        let fd = fd as u32;
        if fd > first {
            sys::close_range(first, fd - 1)?;
        }
        first = fd + 1;
    }
    sys::close_range(first, u32::MAX)
}

/// The last resort: `close` every number below the soft `RLIMIT_NOFILE`.
fn close_up_to_limit(keep: &Keep) -> Result<(), Errno> {
    // No descriptor is opened at or above the soft limit (one opened before the limit
    // was lowered could be, but the hard limit may be a billion: see the module docs).
    let end = getrlimit(Resource::Nofile)
        .current
        .unwrap_or(1 << 20)
        .min(i32::MAX as u64) as i32;
    for fd in 3..end {
        if !keep.contains(fd) {
            sys::close(fd);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Keep;

    #[test]
    fn keep_is_sorted_and_unique() {
        let mut keep = Keep::new();
        for fd in [9, 3, 0, 2, 9, 5] {
            keep.insert(fd).unwrap();
        }
        assert_eq!(keep.as_slice(), &[3, 5, 9]);
        assert!(keep.contains(1) && keep.contains(5) && !keep.contains(4));
    }

    #[test]
    fn keep_refuses_more_than_its_capacity() {
        let mut keep = Keep::new();
        for fd in 3..3 + super::MAX_KEEP as i32 {
            keep.insert(fd).unwrap();
        }
        assert!(keep.insert(1000).is_err());
        assert!(keep.insert(3).is_ok(), "a duplicate needs no room");
    }
}
