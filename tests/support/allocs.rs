//! Counting allocations, to prove that the library allocates nothing between its fork
//! and its return in the daemon. Not through `pthread_atfork` handlers (musl's
//! `_Fork` runs none): the helper records its PID right before the library call, and
//! from then on every allocation made in a process with another PID is counted. The
//! daemon inherits the count of the intermediate process (up to its fork of the
//! daemon) with its memory, and adds its own: what it reads right after the library
//! returns is exactly what the forked processes allocated in the library.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};

/// Counts every allocation, in the runner and in helpers alike.
struct Counting;

/// Every allocation.
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// The count right before the library call.
static BEFORE: AtomicUsize = AtomicUsize::new(0);
/// The helper's PID, recorded right before the library call; 0 until then.
static LAUNCHER: AtomicI32 = AtomicI32::new(0);
/// The allocations made in a process whose PID is not `LAUNCHER`.
static FORKED: AtomicUsize = AtomicUsize::new(0);

/// The calling process's PID, from the kernel (no libc cache to go stale after a fork
/// that bypasses libc).
fn getpid() -> i32 {
    // SAFETY: getpid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

fn count() {
    ALLOCS.fetch_add(1, SeqCst);
    let launcher = LAUNCHER.load(SeqCst);
    if launcher != 0 && getpid() != launcher {
        FORKED.fetch_add(1, SeqCst);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, size)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Right before the library call, in the helper: from now on, allocations in any
/// other process (the library's forks) count.
pub(super) fn count_forks() {
    BEFORE.store(ALLOCS.load(SeqCst), SeqCst);
    LAUNCHER.store(getpid(), SeqCst);
}

/// What the counters say, read first thing after the library call returned.
pub(super) struct Counts {
    /// Every allocation up to the library call.
    pub before: usize,
    /// Every allocation up to now (the daemon's memory holds the original process's
    /// count up to the fork).
    pub after: usize,
    /// Allocations in the forked processes, up to now.
    pub forked: usize,
    /// The PID recorded before the call.
    pub launcher: i32,
}

pub(super) fn counts() -> Counts {
    Counts {
        after: ALLOCS.load(SeqCst),
        forked: FORKED.load(SeqCst),
        before: BEFORE.load(SeqCst),
        launcher: LAUNCHER.load(SeqCst),
    }
}

/// How many forked allocations one allocation made now adds: 1 in a forked process
/// if the counting works (or its 0 after the library call proves nothing).
pub(super) fn probe() -> usize {
    let counted = FORKED.load(SeqCst);
    let allocation = std::hint::black_box(Box::new(0u8));
    let probed = FORKED.load(SeqCst) - counted;
    drop(allocation);
    probed
}
