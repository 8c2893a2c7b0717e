//! Daemonizes with `daemonic` (the full sequence, a locked pidfile), then sleeps until
//! SIGTERM. Usage: `std-daemonic PIDFILE`.
use std::time::Duration;

fn main() {
    let pidfile = std::env::args()
        .nth(1)
        .expect("usage: std-daemonic PIDFILE");
    let _running = daemonic::Daemon::new().pidfile(pidfile.as_str()).start();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
