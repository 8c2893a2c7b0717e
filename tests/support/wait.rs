//! Waiting for a condition, and signalling a process.
#![allow(dead_code)] // a toolbox: each test binary uses part of it

use std::time::{Duration, Instant};

/// How long a condition may take to hold. Generous: every wait ends as soon as the
/// condition holds, so only a failing test ever waits this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `check` every 5 ms until it returns `Ok`; after `limit`, panics with `what`
/// and the last `Err` (the state seen, for the failure message).
#[track_caller]
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// [`wait_for`] with [`DEADLINE`].
#[track_caller]
pub fn wait_until<T>(what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    wait_for(what, DEADLINE, check)
}

/// Waits until process `pid` is gone (dead, or a zombie).
#[track_caller]
pub fn wait_gone(pid: i32) {
    wait_until(&format!("process {pid} to exit"), || {
        if super::proc::Proc(pid).alive() {
            Err("alive".into())
        } else {
            Ok(())
        }
    })
}

pub fn kill(pid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) };
}
