//! `examples/no_std_daemon` minus the daemonizing: the same C runtime, the same
//! sleep, nothing else. The bytes the example adds to this are the cost of
//! daemonizing without std. Usage: `nostd-baseline PIDFILE` (the argument is unused).
#![no_std]
#![no_main]

use core::ffi::{c_char, c_int};

// The C runtime, which calls `main`, and `abort` come from the C library.
#[link(name = "c")]
extern "C" {}

#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let hour = rustix::thread::Timespec {
        tv_sec: 3600,
        tv_nsec: 0,
    };
    loop {
        let _ = rustix::thread::nanosleep(&hour);
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
