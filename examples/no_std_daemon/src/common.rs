//! What the example's other programs (`no_std_full`, `no_std_caps`) share with
//! `main.rs`: the C library, the pidfile argument, the sleep, the panic handler.
//! `main.rs` repeats it so that the minimal example reads on its own.

use core::ffi::{c_char, c_int, CStr};

// Without std nothing links the C library, which provides `fork`, `_exit`,
// `sigaction` and the C runtime that calls `main`.
#[link(name = "c")]
extern "C" {}

/// `argv[1]`, or `default`.
#[allow(dead_code)] // `no_std_caps` parses inline, as `main.rs` does.
pub fn pidfile(argc: c_int, argv: *const *const c_char, default: &'static CStr) -> &'static CStr {
    if argc > 1 {
        // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`,
        // alive until the process ends.
        unsafe { CStr::from_ptr(*argv.add(1)) }
    } else {
        default
    }
}

/// The daemon's work: sleep until SIGTERM (default action) ends it.
pub fn sleep_forever() -> ! {
    loop {
        let _ = rustix::thread::nanosleep(&rustix::thread::Timespec {
            tv_sec: 3600,
            tv_nsec: 0,
        });
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
