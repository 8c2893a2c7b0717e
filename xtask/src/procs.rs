//! The processes a measurement starts: finding the daemon through its pidfile,
//! telling when it sleeps, and ending it by PID (never by name).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{
    getpid, kill_process, pidfd_open, set_child_subreaper, wait, Pid, PidfdFlags, Signal,
    WaitOptions,
};

use crate::Result;

/// While it lives, orphaned daemons become our children rather than init's, so that
/// we reap them and no zombie outlives a measurement. Dropped before `ci()` goes on
/// to the tests, whose daemons must not become our zombies.
pub struct Subreaper(());

impl Subreaper {
    pub fn new() -> Result<Subreaper> {
        set_child_subreaper(Some(getpid())).map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
        Ok(Subreaper(()))
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        let _ = set_child_subreaper(None);
        reap_zombies();
    }
}

/// Makes `cmd` start its program as a shell does: fork, then exec with every signal
/// at its default action. Otherwise std's `posix_spawn` leaves glibc's internal
/// signals 32 and 33 ignored in the child, and a background shell leaves SIGINT and
/// SIGQUIT ignored; daemonic resets each such signal with one `rt_sigaction`, so its
/// counts would depend on how `cargo xtask` was started.
pub fn as_from_shell(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure makes only async-signal-safe system calls.
    unsafe { cmd.pre_exec(default_signals) }
}

/// Every signal but SIGKILL and SIGSTOP to its default action, with the raw system
/// call: the C library's `signal` refuses to touch its internal signals.
fn default_signals() -> std::io::Result<()> {
    // The kernel's `struct sigaction`, all zero: SIG_DFL, no flags, an empty mask.
    let default = [0u64; 4];
    let old: *mut u64 = std::ptr::null_mut();
    for signal in (1..=64).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP) {
        // SAFETY: `default` is a valid kernel sigaction, the old one is not asked
        // for, and 8 is the kernel's signal set size.
        unsafe { libc::syscall(libc::SYS_rt_sigaction, signal, default.as_ptr(), old, 8) };
    }
    Ok(())
}

/// The PID `pidfile` names, if that process is alive (not a zombie).
pub fn live_pid(pidfile: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let pid = Pid::from_raw(text.trim().parse().ok()?)?;
    alive(pid).then_some(pid)
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: Pid) -> bool {
    state(pid).is_some_and(|s| s != 'Z')
}

/// The state letter of `/proc/PID/stat` (R, S, Z...), or `None` once it is gone.
fn state(pid: Pid) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).ok()?;
    // The command name is in parentheses and may hold anything: skip past the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether `pid` runs the executable `path` (not, say, a probe strace forked).
pub fn runs(pid: Pid, path: &Path) -> bool {
    let exe = std::fs::read_link(format!("/proc/{}/exe", pid.as_raw_nonzero()));
    exe.is_ok_and(|exe| std::fs::canonicalize(path).is_ok_and(|p| p == exe))
}

/// Whether `pid` is blocked in `nanosleep`, `clock_nanosleep` or `pause` (x86_64
/// numbers), which all the programs end in once their daemon is ready.
pub fn sleeping(pid: Pid) -> bool {
    let path = format!("/proc/{}/syscall", pid.as_raw_nonzero());
    let syscall = std::fs::read_to_string(path).unwrap_or_default();
    matches!(syscall.split(' ').next(), Some("35" | "230" | "34"))
}

/// The live processes whose parent is `parent`.
pub fn children(parent: u32) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid = Pid::from_raw(entry.ok()?.file_name().to_str()?.parse().ok()?)?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()));
        let ppid: u32 = stat
            .ok()?
            .rsplit_once(')')?
            .1
            .split(' ')
            .nth(2)?
            .parse()
            .ok()?;
        (ppid == parent && alive(pid)).then_some(pid)
    })
    .collect()
}

/// Waits until `child` has exited (it stays a zombie, to be reaped), at most
/// `timeout`; false if it has not. A pidfd wakes us at the exit itself.
pub fn wait_exit(child: &Child, timeout: Duration) -> Result<bool> {
    let pid = Pid::from_raw(child.id() as i32).ok_or("a child without a PID")?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).map_err(|e| format!("pidfd_open: {e}"))?;
    let timeout = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let ready = poll(&mut fds, Some(&timeout)).map_err(|e| format!("poll: {e}"))?;
    Ok(ready > 0)
}

/// Sends SIGTERM to `pid`, which every program leaves at its default action.
pub fn terminate(pid: Pid) -> Result {
    kill_process(pid, Signal::TERM).map_err(|e| format!("kill {}: {e}", pid.as_raw_nonzero()))
}

/// After a failure: kills what `child` started (its children and the daemon
/// `pidfile` names), then `child` itself, by PID, and reaps them.
pub fn abandon(child: &mut Child, pidfile: &Path) {
    let mut started = children(child.id());
    started.extend(live_pid(pidfile));
    for &pid in &started {
        let _ = kill_process(pid, Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    for pid in started {
        let _ = reap_until_gone(pid);
    }
}

/// Waits until `pid` has died, reaping every zombie child of ours on the way (the
/// daemons and intermediate processes that were reparented to us). Call it only
/// while no `std::process::Child` is waiting to be reaped.
pub fn reap_until_gone(pid: Pid) -> Result {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        reap_zombies();
        if state(pid).is_none_or(|s| s == 'Z') {
            reap_zombies();
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{} survived SIGTERM", pid.as_raw_nonzero()));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Reaps every child of ours that has ended, whatever its process group: rustix's
/// `waitpid(None, ..)` is `wait4(0, ..)`, our own group only, which never reaps a
/// daemon (it made its own session), so `wait` (`wait4(-1, ..)`) it is.
fn reap_zombies() {
    while let Ok(Some(_)) = wait(WaitOptions::NOHANG) {}
}

/// A scratch directory for pidfiles and logs, unique to this run.
pub fn scratch_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("daemonic-xtask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
