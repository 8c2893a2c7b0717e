//! Peer: the `fork` crate 0.11's `daemon()` (fork, `setsid`, chdir `/`, stdio to
//! `/dev/null`, fork again) with a pidfile made the way daemonic makes its own: opened
//! and `flock`ed before the fork (so the original process reports "already running"),
//! truncated and written with `<pid>\n` by the daemon, locked for the daemon's life.
//! Usage: `peer-fork PIDFILE`.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

fn main() {
    let path = std::env::args().nth(1).expect("usage: peer-fork PIDFILE");
    let pidfile = lock(&path).unwrap_or_else(|e| {
        eprintln!("peer-fork: {path}: {e}");
        std::process::exit(1);
    });
    match fork::daemon(false, false) {
        // Only the daemon returns: both parents `_exit(0)` inside `daemon()`.
        Ok(_) => write_pid(pidfile),
        Err(e) => {
            eprintln!("peer-fork: daemon: {e}");
            std::process::exit(1);
        }
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Opens (creating it 0644, refusing a symlink) and locks the pidfile; the lock lives
/// as long as the returned file's description, which the daemon inherits.
fn lock(path: &str) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(0o400000) // O_NOFOLLOW
        .open(path)?;
    file.try_lock()?; // flock(LOCK_EX | LOCK_NB)
    Ok(file)
}

/// The daemon's half: truncate, write `<pid>\n`, keep the file (and its lock) open.
fn write_pid(mut pidfile: File) {
    let written = pidfile
        .set_len(0)
        .and_then(|()| writeln!(pidfile, "{}", std::process::id()));
    if written.is_err() {
        std::process::exit(1);
    }
    std::mem::forget(pidfile);
}
