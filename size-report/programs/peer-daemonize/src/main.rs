//! Peer: the `daemonize` crate 0.5 with its own pidfile (opened, `flock`ed and written
//! by the daemon), then sleeps until SIGTERM. Usage: `peer-daemonize PIDFILE`.
use std::time::Duration;

fn main() {
    let pidfile = std::env::args()
        .nth(1)
        .expect("usage: peer-daemonize PIDFILE");
    if let Err(e) = daemonize::Daemonize::new().pid_file(pidfile).start() {
        eprintln!("peer-daemonize: {e}");
        std::process::exit(1);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
