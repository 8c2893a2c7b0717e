//! A service on a privileged port: the daemon binds the port as root, then runs as
//! `nobody` (`drop_privileges_at_ready`), and answers each connection with the user
//! it runs as.
//!
//! ```text
//! cargo run --example privileged_port -- /tmp/privileged_port.pid 80
//! ```
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let pidfile = args
        .next()
        .unwrap_or_else(|| "/tmp/privileged_port.pid".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(80);
    let pending = daemonic::Daemon::new()
        .pidfile(pidfile.as_str())
        .user("nobody")
        .drop_privileges_at_ready(true)
        .start_pending();
    // The daemon, still root: bind the port. A failure fails the start: the original
    // process exits with status 4 and puts the pidfile back.
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(_) => {
            pending.fail(4);
            std::process::exit(4);
        }
    };
    // Privileges go here, before the original process exits 0.
    let _running = pending
        .ready()
        .unwrap_or_else(daemonic::NotifyError::into_running);
    for mut stream in listener.incoming().flatten() {
        // SAFETY: getuid(2) has no preconditions.
        let uid = unsafe { libc::getuid() };
        let _ = writeln!(stream, "hello from uid {uid}");
    }
}
