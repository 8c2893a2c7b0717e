//! Daemonizes with neither `std` nor `alloc`: a locked pidfile, the readiness channel,
//! descriptors closed, signals reset; then sleeps until SIGTERM.
//!
//! ```text
//! cargo build --release --target x86_64-unknown-linux-musl \
//!     --manifest-path examples/no_std_daemon/Cargo.toml
//! examples/no_std_daemon/target/x86_64-unknown-linux-musl/release/no_std_daemon /tmp/nostd.pid
//! ```
#![no_std]
#![no_main]

use core::ffi::{c_char, c_int, CStr};

// Without std nothing links the C library, which provides `fork`, `_exit`,
// `sigaction` and the C runtime that calls `main`.
#[link(name = "c")]
extern "C" {}

#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let pidfile = if argc > 1 {
        // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`.
        unsafe { CStr::from_ptr(*argv.add(1)) }
    } else {
        c"/tmp/no_std_daemon.pid"
    };
    // Returns only in the daemon; the original process exits 0 once it is ready.
    let _running = daemonic::Daemon::new().pidfile(pidfile).umask(0o022).start();
    loop {
        // SIGTERM keeps its default action: it ends the daemon in this sleep.
        let _ = rustix::thread::nanosleep(&rustix::thread::Timespec { tv_sec: 3600, tv_nsec: 0 });
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
