//! The helpers that start no daemon: one `stop` from a process of its own, and two
//! that play a daemon's pidfile through `Pidfile` (holding its lock, or taking and
//! releasing it in a loop). Each prints its outcome as `key=value` lines, then `end`.

use std::path::Path;

use daemonic::{ErrorKind, Pid, Pidfile, Stopped};

use super::helper::{check, die, schedule, sleep_forever, wait_for_go};
use super::scenario::Scenario;
use super::seccomp;

fn pidfile(s: &Scenario) -> &Path {
    s.pidfile.as_deref().unwrap_or_else(|| die("no pidfile"))
}

/// `Call::Stop`: one `stop` with the `schedule` on the `pidfile`, from a process that
/// is its own process group, so that a signal wrongly sent to "process group 0" or to
/// the caller kills only this helper (the runner sees a death by signal).
/// `write_own_pid` writes this process's PID into the pidfile first; `deny_pidfd`
/// makes `pidfd_open` and `pidfd_send_signal` fail with ENOSYS, as on kernels before
/// 5.3. Prints `outcome=`, `code=`, `pid=`, `kind=`, `error=` and `ms=` lines.
pub(super) fn stop(s: &Scenario) -> ! {
    // SAFETY: setpgid on ourselves.
    check(unsafe { libc::setpgid(0, 0) } == 0, "setpgid");
    let path = pidfile(s);
    if s.deny_pidfd {
        seccomp::deny_pidfd();
    }
    if s.write_own_pid {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            die(&format!("{}: {e}", path.display()));
        }
    }
    let schedule = schedule(s);
    let raw = |pid: Pid| pid.as_raw_nonzero().get();
    let start = std::time::Instant::now();
    let lines = match daemonic::stop(path, &schedule) {
        Ok(stopped) => {
            let (outcome, pid) = match stopped {
                Stopped::Exited { pid } => ("exited", raw(pid)),
                Stopped::Signalled { pid } => ("signalled", raw(pid)),
                Stopped::NotRunning => ("not_running", 0),
                Stopped::StillRunning { pid } => ("still_running", raw(pid)),
            };
            format!("outcome={outcome}\npid={pid}\ncode={}", stopped.exit_code())
        }
        Err(e) => format!("outcome=error\nkind={:?}\nerror={e}", e.kind()),
    };
    println!("{lines}\nms={}\nend", start.elapsed().as_millis());
    std::process::exit(0)
}

/// `Call::HoldPidfile`: `Pidfile::open` on the `pidfile` (which locks it and, as its
/// documentation shows, is then to be written), then hold the lock without writing,
/// leaving the `marker` once locked.
pub(super) fn hold_pidfile(s: &Scenario) -> ! {
    let _pidfile = match Pidfile::open(pidfile(s)) {
        Ok(pidfile) => pidfile,
        Err(e) => {
            eprintln!("daemonic: {e}");
            std::process::exit(e.exit_code())
        }
    };
    if let Some(marker) = &s.marker {
        std::fs::write(marker, "").unwrap();
    }
    sleep_forever()
}

/// `Call::ChurnPidfile`: a daemon starting and releasing its pidfile over and over,
/// through the library: `Pidfile::open`, then drop it (which removes the file while
/// still locked, then closes it). It stops when `until` exists, after `rounds`
/// attempts, or (unless `contend`) when another process holds the lock; any other
/// error ends it too unless `contend`, which counts the errors instead. Waits at
/// `go_fifo` first if given. Prints `released=`, `already=`, `refused=` (other errors)
/// and `first_refusal=` lines.
pub(super) fn churn_pidfile(s: &Scenario) -> ! {
    let path = pidfile(s);
    if let Some(fifo) = &s.go_fifo {
        wait_for_go(fifo);
    }
    let (mut released, mut already, mut refused) = (0u64, 0u64, 0u64);
    let mut first_refusal = String::new();
    for attempt in 0.. {
        if s.rounds.is_some_and(|r| attempt >= r) || s.until.as_ref().is_some_and(|u| u.exists()) {
            break;
        }
        match Pidfile::open(path) {
            Ok(pidfile) => {
                drop(pidfile);
                released += 1;
            }
            Err(e) if matches!(e.kind(), ErrorKind::AlreadyRunning { .. }) => {
                already += 1;
                if !s.contend {
                    break;
                }
            }
            Err(e) if s.contend => {
                refused += 1;
                if first_refusal.is_empty() {
                    first_refusal = e.to_string();
                }
            }
            Err(e) => {
                eprintln!("daemonic: {e}");
                std::process::exit(e.exit_code())
            }
        }
    }
    println!(
        "released={released}\nalready={already}\nrefused={refused}\nfirst_refusal={first_refusal}\nend"
    );
    std::process::exit(0)
}
