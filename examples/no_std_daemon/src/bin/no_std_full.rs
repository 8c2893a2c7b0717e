//! The no_std example with every option of the builder: what a daemon that uses all
//! of them pays. Runs as root (it changes to `nobody`/`nogroup` and chroots to `/`).
//!
//! ```text
//! cargo build --release --target x86_64-unknown-linux-musl \
//!     --manifest-path examples/no_std_daemon/Cargo.toml --bin no_std_full
//! ```
#![no_std]
#![no_main]

#[path = "../common.rs"]
mod common;

use core::ffi::{c_char, c_int};
use core::time::Duration;

use daemonic::{Daemon, Groups, Stdio};

#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let pidfile = common::pidfile(argc, argv, c"/tmp/no_std_full.pid");
    let log = c"/tmp/no_std_full.log";
    // Returns only in the daemon; the original process exits 0 once it is ready.
    let pending = Daemon::new()
        .pidfile(pidfile)
        .user("nobody")
        .group("nogroup")
        .supplementary_groups(Groups::Empty)
        .chroot_directory(c"/")
        .working_directory(c"/")
        .umask(0o022)
        .stdout(Stdio::file(log))
        .stderr(Stdio::file(log))
        .sd_notify(true)
        .timeout(Duration::from_secs(5))
        .start_pending();
    let _running = pending.ready();
    common::sleep_forever()
}
