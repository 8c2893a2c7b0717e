//! A std service: it starts with `start_pending`, loads its configuration in the
//! daemon and either fails the start with a code (the original process exits with
//! it) or reports ready, tells systemd if it runs under it, and on SIGTERM releases
//! its pidfile and exits.
//!
//! ```text
//! cargo run --example service -- /tmp/service.pid /etc/service.conf
//! ```
fn main() {
    let mut args = std::env::args().skip(1);
    let pidfile = args.next().unwrap_or_else(|| "/tmp/service.pid".into());
    let config = args.next().unwrap_or_else(|| "/etc/service.conf".into());
    // SIGTERM is handled: blocked now, so that it waits for `sigwait` below.
    // SAFETY: an all-zero sigset_t is a valid value to start from, and the calls
    // work on a set we own.
    let term = unsafe {
        let mut term: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut term);
        libc::sigaddset(&mut term, libc::SIGTERM);
        term
    };
    let pending = daemonic::Daemon::new()
        .pidfile(pidfile.as_str())
        .umask(0o027)
        .sd_notify(true)
        .start_pending();
    // Only the daemon gets here.
    // SAFETY: blocking a signal in this, the daemon's only thread.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &term, std::ptr::null_mut()) };
    let settings = match std::fs::read_to_string(&config) {
        Ok(text) => text,
        Err(_) => {
            pending.fail(2); // the original process exits with status 2
            std::process::exit(2);
        }
    };
    let running = pending
        .ready()
        .unwrap_or_else(daemonic::NotifyError::into_running);
    let _ = running.notify(&format!(
        "STATUS=serving with {} bytes of settings",
        settings.len()
    ));
    let mut signal = 0;
    // SAFETY: waits for the blocked SIGTERM.
    unsafe { libc::sigwait(&term, &mut signal) };
    let _ = running.notify("STOPPING=1");
    drop(running); // removes the pidfile
}
