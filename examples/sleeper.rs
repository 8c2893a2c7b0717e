//! A daemon that writes a pidfile and sleeps until SIGTERM.
//!
//! ```text
//! cargo run --example sleeper -- /tmp/sleeper.pid
//! ```
use std::time::Duration;

fn main() {
    let pidfile = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/sleeper.pid".into());
    let _running = daemonic::Daemon::new()
        .pidfile(pidfile.as_str())
        .umask(0o022)
        .start();
    // The daemon: SIGTERM has its default action (terminate); sleep until it comes.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
