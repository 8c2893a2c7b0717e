//! Integration tests of controlling a daemon through its pidfile: `status`, `stop` and
//! its schedules, `Daemon::restart`, `ok_if_running`, and the pidfile's hardening (PID
//! reuse, insecure and malformed files, concurrent starters, status probes), each with
//! real processes.
//!
//! Like `tests/daemon.rs`, a `harness = false` binary that is its own helper
//! (`support/helper.rs`): daemons are started by single-threaded helper processes,
//! since the library refuses to fork a multithreaded one. `status` and `stop` do not
//! fork, so the runner calls them directly, from threads too. A `stop` that, were the
//! library wrong, could signal process group 0 or its own caller runs in a `Stop`
//! helper that is its own process group instead: such a signal would kill only that
//! helper, and the runner sees the death.
//!
//! The runner is a child subreaper, so daemons are its children: a killed daemon stays
//! a zombie until the runner reaps it (init would at once). `stop` sees the exit
//! through its pidfd either way; start-stop-daemon, which takes a zombie for a live
//! process, runs while the runner reaps.

mod support {
    pub mod allocs;
    pub mod controller;
    pub mod files;
    pub mod helper;
    pub mod launch;
    pub mod output;
    pub mod proc;
    pub mod runner;
    pub mod scenario;
    pub mod seccomp;
    pub mod test;
    pub mod wait;
}

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{chown, symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use daemonic::{
    parse_signal, status, stop, Disposition, Error, ErrorKind, Pid, Schedule, Signal, Status,
    Stopped,
};
use support::files::{
    chmod, file_state, find_tool, flock_n, is_locked, mkfifo, mode_of, passwd_entry, pidfile_pid,
};
use support::launch::{runner_pid, Launched};
use support::output::Output;
use support::proc::{is_root, Proc};
use support::runner::{require_root, tests, Outcome, Outcome::Passed};
use support::scenario::{Call, Call::*, Scenario};
use support::seccomp::require_x86_64;
use support::test::{reap_children, Test};
use support::wait::{kill, wait_gone, wait_until, DEADLINE};

const TESTS: &[(&str, support::runner::TestFn)] = tests![
    status_follows_a_daemons_life,
    stop_terminates_a_daemon,
    stop_graceful_daemon_leaves_no_pidfile,
    a_daemon_that_dropped_root_removes_its_pidfile_from_its_directory,
    stop_without_wait_only_signals,
    stop_escalates_to_kill,
    stop_forever_repeats_its_tail,
    stop_without_pidfd_uses_kill,
    stale_pidfile_naming_unrelated_process,
    shared_lock_is_not_a_daemon,
    a_waiting_writer_holds_no_lock,
    a_daemon_closing_descriptors_is_still_running,
    stop_during_a_start_signals_no_stale_pid,
    own_pid_is_never_running,
    malformed_unlocked_status_unknown,
    malformed_unlocked_stop_refused,
    malformed_locked_never_signalled,
    empty_pidfile_names_nobody,
    tolerant_formats_accepted,
    long_leading_zeros_accepted,
    garbage_past_32_bytes_refused,
    insecure_symlink,
    insecure_hard_link,
    insecure_world_writable,
    insecure_foreign_owner,
    insecure_fifo,
    insecure_directory,
    interop_start_stop_daemon_and_flock,
    concurrent_starts_one_daemon,
    pidfile_mode_after_its_creator_lost,
    probes_never_make_a_start_fail,
    status_during_a_release_is_never_insecure,
    starters_race_a_stopping_daemon,
    starters_race_a_releasing_lock_holder,
    starts_during_releases_never_refused,
    restart_replaces_the_daemon,
    restart_without_daemon_starts_one,
    restart_fails_when_the_daemon_survives,
    ok_if_running_succeeds_without_change,
];

fn main() {
    support::helper::run_if_helper();
    support::runner::main(TESTS);
}

// ---------------------------------------------------------------------------------
// Shared checks

/// What `status` said, as a value tests can compare (PIDs as plain numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Running(Option<i32>),
    Stale(Option<i32>),
    NotRunning,
    Unknown(ErrorKind),
}

impl Seen {
    /// The LSB code the issue assigns to each state.
    fn lsb_code(&self) -> i32 {
        match self {
            Seen::Running(_) => 0,
            Seen::Stale(_) => 1,
            Seen::NotRunning => 3,
            Seen::Unknown(_) => 4,
        }
    }
}

fn raw(pid: Option<Pid>) -> Option<i32> {
    pid.map(|p| p.as_raw_nonzero().get())
}

fn pid(n: i32) -> Pid {
    Pid::from_raw(n).unwrap()
}

/// `status(path)`: what it says, its exit code, and its error's message if any.
fn look(path: &Path) -> (Seen, i32, String) {
    let status = status(path);
    let code = status.exit_code();
    let (seen, message) = match status {
        Status::Running { pid, .. } => (Seen::Running(raw(pid)), String::new()),
        Status::Stale { pid } => (Seen::Stale(raw(pid)), String::new()),
        Status::NotRunning => (Seen::NotRunning, String::new()),
        Status::Unknown(e) => (Seen::Unknown(e.kind()), e.to_string()),
    };
    (seen, code, message)
}

fn seen(path: &Path) -> Seen {
    look(path).0
}

/// `status(path)` is `expected`, with the LSB exit code of that state.
#[track_caller]
fn assert_status(path: &Path, expected: Seen) {
    let (seen, code, message) = look(path);
    assert_eq!(seen, expected, "status of {}: {message}", path.display());
    assert_eq!(code, expected.lsb_code(), "exit code of {seen:?}");
}

fn schedule(text: &str) -> Schedule {
    Schedule::parse(text, Signal::TERM).unwrap_or_else(|e| panic!("schedule {text}: {e}"))
}

fn stop_with(path: &Path, text: &str) -> Result<Stopped, Error> {
    stop(path, &schedule(text))
}

/// A daemon started with the test's pidfile (default signal map: SIGTERM kills it).
fn daemon(t: &Test) -> i32 {
    t.launch(Start).pidfile().start()
}

/// A pending daemon that handles SIGTERM: it releases its pidfile (removes it while
/// locked) and exits.
fn graceful() -> Scenario {
    Scenario {
        call: StartPending,
        term_releases: true,
        ..Scenario::default()
    }
}

fn graceful_daemon(t: &Test) -> i32 {
    t.launch(graceful()).pidfile().start()
}

/// A daemon of `call` that waits at the barrier `fifo` before its library call.
fn at_barrier(call: Call, fifo: &Path) -> Scenario {
    Scenario {
        call,
        go_fifo: Some(fifo.to_owned()),
        ..Scenario::default()
    }
}

/// Every signal `parse_signal` names, but KILL and STOP (which cannot be ignored).
const ALL_BUT_KILL: [&str; 28] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "USR1", "SEGV", "USR2", "PIPE",
    "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
    "VTALRM", "PROF", "WINCH", "IO", "PWR",
];

/// A daemon that ignores every signal but SIGKILL (and SIGSTOP).
fn stubborn_daemon(t: &Test) -> i32 {
    let signals = ALL_BUT_KILL
        .iter()
        .map(|name| (parse_signal(name).unwrap(), Disposition::Ignore))
        .collect();
    let stubborn = Scenario {
        signals,
        ..Scenario::default()
    };
    let pid = t.launch(stubborn).pidfile().start();
    // The premise: SIGTERM (15), SIGINT (2) and SIGHUP (1) are ignored.
    let ignored = Proc(pid).sigmask("SigIgn");
    let needed = (1 << 14) | (1 << 1) | 1;
    assert_eq!(ignored & needed, needed, "SigIgn {ignored:#x}");
    pid
}

/// SIGKILLs the runner's child `pid` and reaps it, as init would.
fn kill_and_reap(pid: i32) {
    kill(pid, libc::SIGKILL);
    // SAFETY: a null status pointer is allowed.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

/// An unrelated live process (a `sleep`), killed by the guard at the end.
// The guard kills it and reaps it with the other children (waitpid(-1)).
#[allow(clippy::zombie_processes)]
fn unrelated_process(t: &Test) -> i32 {
    let child = t.command("sleep").arg("300").spawn().unwrap();
    let pid = child.id() as i32;
    t.learn(pid);
    // `spawn` may return before the kernel has set up the new program's environment:
    // until then /proc shows none, and the guard's scan for the test's processes by
    // their tag would miss this one.
    wait_until(&format!("the tag in the environment of {pid}"), || {
        t.owns(pid)
            .then_some(())
            .ok_or_else(|| Proc(pid).cmdline_text())
    });
    pid
}

fn pid_max() -> i64 {
    fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The pidfile is gone, or nobody holds its lock.
#[track_caller]
fn assert_unlocked_or_gone(p: &Path) {
    assert!(
        !p.exists() || !is_locked(p),
        "the stopped daemon's pidfile {} is still locked",
        p.display()
    );
}

/// `pid` runs as the daemon of `p`: the pidfile is in the directory, names it, is
/// locked, and `pid` holds a descriptor for that very path (not an unlinked file);
/// `flock -n P true` (util-linux) agrees that it is locked.
#[track_caller]
fn assert_holds_pidfile(p: &Path, pid: i32) {
    assert!(
        p.exists(),
        "daemon {pid} runs but its pidfile {} is gone from the directory",
        p.display()
    );
    assert_eq!(pidfile_pid(p), pid, "the pidfile names another process");
    assert!(is_locked(p), "the pidfile is not locked");
    let name = p.display();
    let fds = Proc(pid).fds();
    assert!(
        fds.values().any(|target| target == p),
        "daemon {pid} has no descriptor for {name} (it locked another file): {fds:?}"
    );
    if let Some(code) = flock_n(p) {
        assert_eq!(code, 1, "flock -n {name} true succeeded while {pid} runs");
    }
}

/// Runs the `Stop` helper (with `extra`): one `stop` on `path` with `schedule`, from a
/// process that is its own process group. It must exit normally: a death by signal
/// means the library signalled its own process group or itself. Returns its
/// `key=value` lines.
fn stop_in_helper(
    t: &Test,
    path: &Path,
    schedule: &str,
    extra: Scenario,
) -> BTreeMap<String, String> {
    let stop = Scenario {
        call: Call::Stop,
        pidfile: Some(path.to_owned()),
        schedule: Some(schedule.into()),
        ..extra
    };
    let out = t.launch(stop).run();
    assert_eq!(
        out.code,
        Some(0),
        "the helper stopping {} died (a signal sent to its own process group or to \
         itself?); stderr: {:?}",
        path.display(),
        out.stderr
    );
    assert!(
        out.stdout.ends_with("end\n"),
        "stop helper output: {:?}",
        out.stdout
    );
    fields(&out.stdout)
}

/// The `key=value` lines of a helper's output.
fn fields(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A FIFO the helpers launched with `go_fifo` wait on.
fn barrier(t: &Test) -> PathBuf {
    let fifo = t.path("go");
    mkfifo(&fifo);
    fifo
}

/// Waits until `n` helpers wait at the barrier `fifo`, then releases them all at once.
/// The returned descriptor must stay open until they have all passed: a helper that
/// reaches the FIFO after it closed would wait for another writer.
fn release(t: &Test, fifo: &Path, n: usize) -> fs::File {
    let prefix = format!("{}.waiting.", fifo.file_name().unwrap().to_str().unwrap());
    wait_until(&format!("{n} helpers at the barrier"), || {
        let waiting = fs::read_dir(&t.dir)
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.file_name().to_string_lossy().starts_with(&prefix)
            })
            .count();
        if waiting >= n {
            Ok(())
        } else {
            Err(format!("{waiting} waiting"))
        }
    });
    // Read-write: opening never blocks, and it counts as the writer the readers wait for.
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo)
        .unwrap()
}

/// Sets the flag when dropped, so a looping thread ends even if the test panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------
// 1. status and stop, the basic states

/// No file: NotRunning (3). A running daemon: Running with its PID (0). SIGKILLed (its
/// lock gone with it): Stale with its PID (1). Removed: NotRunning again. `stop` on
/// the missing and the stale pidfile: NotRunning (1), the stale file untouched.
fn status_follows_a_daemons_life() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    assert_status(&p, Seen::NotRunning);
    let stopped = stop_with(&p, "TERM/5").unwrap();
    assert_eq!(stopped, Stopped::NotRunning);
    assert_eq!(stopped.exit_code(), 1);
    let d = daemon(&t);
    assert_status(&p, Seen::Running(Some(d)));
    kill_and_reap(d);
    assert_status(&p, Seen::Stale(Some(d)));
    let before = file_state(&p);
    let stopped = stop_with(&p, "TERM/5").unwrap();
    assert_eq!(
        stopped,
        Stopped::NotRunning,
        "a stale pidfile names no daemon"
    );
    assert_eq!(stopped.exit_code(), 1);
    assert_eq!(file_state(&p), before, "stop changed a stale pidfile");
    fs::remove_file(&p).unwrap();
    assert_status(&p, Seen::NotRunning);
    Passed
}

/// `TERM/5/KILL/1` on a daemon SIGTERM kills: Exited (0) as soon as it died (not after
/// the 5 s), the daemon gone, its pidfile gone or unlocked, status no longer Running.
fn stop_terminates_a_daemon() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    let began = Instant::now();
    let stopped = stop_with(&p, "TERM/5/KILL/1").unwrap();
    let took = began.elapsed();
    assert_eq!(stopped, Stopped::Exited { pid: pid(d) });
    assert_eq!(stopped.exit_code(), 0);
    assert!(
        !Proc(d).alive(),
        "stop said Exited while the daemon {d} lives"
    );
    assert!(
        took < Duration::from_secs(3),
        "the wait did not end at the exit: {took:?}"
    );
    assert_unlocked_or_gone(&p);
    assert!(!matches!(seen(&p), Seen::Running(_)));
    Passed
}

/// A daemon that handles SIGTERM removes its pidfile while still holding the lock,
/// then exits: after the stop, there is no pidfile, and status says NotRunning.
fn stop_graceful_daemon_leaves_no_pidfile() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = graceful_daemon(&t);
    assert_status(&p, Seen::Running(Some(d)));
    let stopped = stop_with(&p, "TERM/5").unwrap();
    assert_eq!(stopped, Stopped::Exited { pid: pid(d) });
    assert!(
        !p.exists(),
        "the daemon's release did not remove its pidfile"
    );
    assert_status(&p, Seen::NotRunning);
    Passed
}

/// Issue 12, item 5: a daemon that runs as `nobody` can remove its pidfile at its
/// clean exit when the pidfile's directory is `nobody`'s (as `/run/app/` made for the
/// service): nothing is left, and status says not running (3). In root's directory it
/// cannot (its one descriptor of the file is read-only, so it cannot even empty it),
/// and the file, naming its dead PID, is stale (1) for the next start to take over,
/// as the README says.
fn a_daemon_that_dropped_root_removes_its_pidfile_from_its_directory() -> Outcome {
    if !is_root() {
        return Outcome::Skipped("needs root to start a daemon as nobody".into());
    }
    let t = Test::new();
    let dir = t.path("run");
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    for (p, removed) in [(dir.join("app.pid"), true), (t.path("root.pid"), false)] {
        let scenario = Scenario {
            user: Some("nobody".into()),
            pidfile: Some(p.clone()),
            ..graceful()
        };
        let d = t.launch(scenario).start();
        assert_status(&p, Seen::Running(Some(d)));
        kill(d, libc::SIGTERM);
        wait_gone(d);
        if removed {
            assert!(
                !p.exists(),
                "the daemon's release did not remove its pidfile"
            );
            assert_status(&p, Seen::NotRunning);
        } else {
            assert_status(&p, Seen::Stale(Some(d)));
        }
    }
    Passed
}

/// `Schedule::signal(TERM)`, no wait (start-stop-daemon `--stop` without `--retry`):
/// Signalled (0), and the daemon dies of it.
fn stop_without_wait_only_signals() -> Outcome {
    let t = Test::new();
    let d = daemon(&t);
    let stopped = stop(t.pidfile(), &Schedule::signal(Signal::TERM)).unwrap();
    assert_eq!(stopped, Stopped::Signalled { pid: pid(d) });
    assert_eq!(stopped.exit_code(), 0);
    wait_gone(d);
    Passed
}

/// A daemon that ignores every signal but SIGKILL: `TERM/1` runs out, StillRunning
/// (2) after the whole second, the daemon alive and still Running; then `TERM/1/KILL/5`
/// kills it in the KILL step: Exited (0), after the TERM step's second and well
/// before the KILL step's five.
fn stop_escalates_to_kill() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = stubborn_daemon(&t);
    let began = Instant::now();
    let stopped = stop_with(&p, "TERM/1").unwrap();
    let took = began.elapsed();
    assert_eq!(stopped, Stopped::StillRunning { pid: pid(d) });
    assert_eq!(stopped.exit_code(), 2);
    assert!(took >= Duration::from_millis(990), "waited only {took:?}");
    assert!(Proc(d).alive(), "the daemon ignores SIGTERM yet died");
    assert_status(&p, Seen::Running(Some(d)));

    let began = Instant::now();
    let stopped = stop_with(&p, "TERM/1/KILL/5").unwrap();
    let took = began.elapsed();
    assert_eq!(stopped, Stopped::Exited { pid: pid(d) });
    assert_eq!(stopped.exit_code(), 0);
    assert!(
        took >= Duration::from_millis(990) && took < Duration::from_secs(4),
        "the KILL step came after {took:?}"
    );
    assert!(!Proc(d).alive());
    assert_unlocked_or_gone(&p);
    Passed
}

/// `TERM/forever/1`: after SIGTERM (ignored), the one-second wait repeats until the
/// daemon exits; here something else kills it after 1.3 s, and the stop reports
/// Exited then, not StillRunning after the first second.
fn stop_forever_repeats_its_tail() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = stubborn_daemon(&t);
    let killed_at = Duration::from_millis(1300);
    let began = Instant::now();
    let (stopped, took) = std::thread::scope(|s| {
        s.spawn(|| {
            // The scenario's clock, not a wait for a condition: the kill must come
            // after the schedule's first wait has run out.
            std::thread::sleep(killed_at.saturating_sub(began.elapsed()));
            kill(d, libc::SIGKILL);
        });
        let stopped = stop_with(&p, "TERM/forever/1");
        (stopped, began.elapsed())
    });
    assert_eq!(stopped.unwrap(), Stopped::Exited { pid: pid(d) });
    assert!(took >= killed_at, "returned after {took:?}");
    Passed
}

/// Without pidfd (a seccomp filter makes `pidfd_open` and `pidfd_send_signal` fail
/// with ENOSYS in the stop helper): `kill` and polling the lock still stop a daemon,
/// and still wait out the schedule for one that ignores SIGTERM.
fn stop_without_pidfd_uses_kill() -> Outcome {
    require_x86_64!();
    let t = Test::new();
    let p = t.pidfile();
    let no_pidfd = || Scenario {
        deny_pidfd: true,
        ..Scenario::default()
    };
    let d = daemon(&t);
    let out = stop_in_helper(&t, &p, "TERM/5", no_pidfd());
    assert_eq!(
        (out["outcome"].as_str(), out["code"].as_str()),
        ("exited", "0"),
        "{out:?}"
    );
    assert_eq!(out["pid"], d.to_string());
    // Without pidfd the exit is seen as the lock's release, a moment before the
    // process is a zombie.
    wait_gone(d);

    let d = stubborn_daemon(&t);
    let out = stop_in_helper(&t, &p, "TERM/1", no_pidfd());
    assert_eq!(
        (out["outcome"].as_str(), out["code"].as_str()),
        ("still_running", "2"),
        "{out:?}"
    );
    assert!(out["ms"].parse::<u64>().unwrap() >= 990, "{out:?}");
    assert!(Proc(d).alive());
    let out = stop_in_helper(&t, &p, "KILL/2", no_pidfd());
    assert_eq!(out["outcome"], "exited", "{out:?}");
    wait_gone(d);
    Passed
}

// ---------------------------------------------------------------------------------
// 2. PID reuse

/// A pidfile nobody locks naming a live, unrelated process (a `sleep`: the daemon
/// died and its PID was reused): status says Stale, stop signals nothing (NotRunning)
/// and the process lives on.
fn stale_pidfile_naming_unrelated_process() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let other = unrelated_process(&t);
    fs::write(&p, format!("{other}\n")).unwrap();
    assert_status(&p, Seen::Stale(Some(other)));
    let before = file_state(&p);
    // Had it signalled, the schedule would have waited for (and seen) the death.
    let stopped = stop_with(&p, "TERM/1/KILL/1").unwrap();
    assert_eq!(stopped, Stopped::NotRunning);
    assert_eq!(stopped.exit_code(), 1);
    assert!(Proc(other).alive(), "stop killed an unrelated process");
    assert_eq!(file_state(&p), before);
    Passed
}

/// A shared lock is what a status probe takes, never a daemon: while another process
/// holds one on a stale pidfile (a slow probe, `flock -s`), status still says Stale,
/// and stop signals nothing.
fn shared_lock_is_not_a_daemon() -> Outcome {
    let t = Test::new();
    let (p, other, probe) = stale_with_a_shared_lock(&t);
    assert_stale_and_unsignalled(&p, other);
    drop(probe);
    Passed
}

/// A pidfile naming an unrelated live process, and a prober's shared lock on it (the
/// descriptor holding it is returned).
fn stale_with_a_shared_lock(t: &Test) -> (PathBuf, i32, fs::File) {
    let p = t.pidfile();
    let other = unrelated_process(t);
    fs::write(&p, format!("{other}\n")).unwrap();
    let probe = fs::File::open(&p).unwrap();
    // SAFETY: flock on a descriptor we own.
    let shared = unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    assert_eq!(shared, 0);
    (p, other, probe)
}

/// Status says Stale (naming `other`), and stop signals nothing.
fn assert_stale_and_unsignalled(p: &Path, other: i32) {
    assert_status(p, Seen::Stale(Some(other)));
    assert_eq!(stop_with(p, "TERM/1").unwrap(), Stopped::NotRunning);
    assert!(Proc(other).alive());
}

/// A request waiting for a lock holds none: while a prober holds a shared lock on a
/// stale pidfile and `flock -x` waits behind it, `/proc/locks` lists the waiter as
/// `-> FLOCK  ADVISORY  WRITE ...`, and status must still say Stale, not "locked by
/// another process", and stop signal nothing.
fn a_waiting_writer_holds_no_lock() -> Outcome {
    let Some(flock) = find_tool("flock") else {
        return Outcome::Skipped("needs flock (util-linux) to wait for the lock".into());
    };
    let t = Test::new();
    let (p, other, probe) = stale_with_a_shared_lock(&t);
    let mut waiter = Command::new(flock)
        .arg("-x")
        .arg(&p)
        .arg("true")
        .spawn()
        .unwrap();
    let st = fs::metadata(&p).unwrap();
    let id = format!(
        " {:02x}:{:02x}:{} ",
        libc::major(st.dev()),
        libc::minor(st.dev()),
        st.ino()
    );
    wait_until("flock -x to wait for the lock", || {
        let locks = fs::read_to_string("/proc/locks").map_err(|e| e.to_string())?;
        let waiting = locks.lines().any(|l| l.contains("->") && l.contains(&id));
        waiting.then_some(()).ok_or_else(|| locks.clone())
    });
    assert_stale_and_unsignalled(&p, other);
    let _ = waiter.kill();
    let _ = waiter.wait();
    drop(probe);
    Passed
}

/// A daemon that opens and closes descriptors while status reads its
/// `/proc/PID/fdinfo` (as any real daemon does): a descriptor closed between the
/// listing and the read is not the daemon gone, and status says Running every time.
fn a_daemon_closing_descriptors_is_still_running() -> Outcome {
    let Some(flock) = find_tool("flock") else {
        return Outcome::Skipped("needs flock (util-linux) to hold the lock".into());
    };
    let t = Test::new();
    let p = t.pidfile();
    fs::write(&p, "").unwrap();
    chmod(&p, 0o644);
    // flock(1) locks the file and its shell inherits the descriptor; the shell writes
    // its own PID, so it is the daemon the file names, then opens and closes
    // /dev/null without a pause.
    let script = format!(
        "echo $$ > '{}'; while :; do : < /dev/null; done",
        p.display()
    );
    let daemon = Command::new(flock)
        .arg(&p)
        .args(["sh", "-c", &script])
        .spawn()
        .unwrap();
    t.adopt(daemon);
    let shell = wait_until("the shell's PID in the pidfile", || {
        let text = fs::read_to_string(&p).map_err(|e| e.to_string())?;
        text.trim().parse::<i32>().map_err(|_| text.clone())
    });
    // Killed with flock(1) at the end, or when an assertion fails.
    t.learn(shell);
    for _ in 0..300 {
        assert_status(&p, Seen::Running(Some(shell)));
    }
    Passed
}

/// A crashed daemon's pidfile names a PID now reused by an unrelated process; a new
/// start has locked the file but not yet written its own PID (`Pidfile::open`, as a
/// starter is between its lock and its write). The lock is held, but the PID in the
/// file is the dead daemon's: stop must not signal it, nor status report it running.
fn stop_during_a_start_signals_no_stale_pid() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let other = unrelated_process(&t);
    fs::write(&p, format!("{other}\n")).unwrap();
    let marker = t.path("locked");
    let hold = Scenario {
        call: HoldPidfile,
        marker: Some(marker.clone()),
        ..Scenario::default()
    };
    let _starter = t.launch(hold).pidfile().spawn();
    wait_until("the starter to lock the pidfile", || {
        marker.exists().then_some(()).ok_or_else(String::new)
    });
    let (seen, _, _) = look(&p);
    let stopped = stop_with(&p, "TERM/1");
    assert!(
        Proc(other).alive(),
        "stop signalled {other}, an unrelated process named by the previous daemon's \
         pidfile, because a new starter holds the lock before writing its PID (stop: \
         {stopped:?}; status: {seen:?})"
    );
    assert_ne!(
        seen,
        Seen::Running(Some(other)),
        "status reports an unrelated process as the running daemon"
    );
    Passed
}

/// Our own PID in the pidfile names no daemon (containers reuse small PIDs). Unlocked:
/// Stale without a PID, never Running. Locked by a live daemon while naming the
/// runner: observed `Running { pid: None }` (the lock says a daemon runs; the PID is
/// dropped). `stop` from a process whose own PID the locked file names: it waits for
/// a real PID, then fails with MalformedPidfile; it signals neither itself (the stop
/// helper lives) nor the lock holder.
fn own_pid_is_never_running() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let me = runner_pid();
    fs::write(&p, format!("{me}\n")).unwrap();
    assert_status(&p, Seen::Stale(None));
    assert_eq!(stop_with(&p, "TERM/1").unwrap(), Stopped::NotRunning);
    fs::remove_file(&p).unwrap();

    let d = daemon(&t);
    fs::write(&p, format!("{me}\n")).unwrap(); // same file: the daemon keeps its lock
    assert_status(&p, Seen::Running(None));
    let own_pid = Scenario {
        write_own_pid: true,
        ..Scenario::default()
    };
    let out = stop_in_helper(&t, &p, "TERM/1", own_pid);
    assert_eq!(out["outcome"], "error", "{out:?}");
    assert_eq!(out["kind"], "MalformedPidfile", "{out:?}");
    assert!(Proc(d).alive(), "stop signalled the lock holder");
    Passed
}

// ---------------------------------------------------------------------------------
// 3. Malformed contents

/// Contents that name no PID; `pid` is a live process a lenient parser would find
/// in some of them (and then signal).
fn malformed_contents(pid: i32) -> Vec<(&'static str, String)> {
    vec![
        ("letters", "abc\n".into()),
        ("negative", "-1\n".into()),
        ("zero", "0\n".into()),
        ("eleven digits", "99999999999\n".into()),
        ("above i32", "2147483648\n".into()),
        ("above pid_max", format!("{}\n", pid_max() + 1)),
        ("trailing garbage", format!("{pid}x\n")),
        ("two numbers", format!("{pid} 1\n")),
        ("sign", format!("+{pid}\n")),
        ("hexadecimal", "0x10\n".into()),
        ("decimal point", format!("{pid}.0\n")),
    ]
}

/// Unlocked malformed pidfiles: status Unknown (4), MalformedPidfile, with a message
/// naming the pidfile; the file untouched.
fn malformed_unlocked_status_unknown() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let other = unrelated_process(&t);
    let expected = format!("pidfile {} does not hold a valid PID", p.display());
    for (what, content) in malformed_contents(other) {
        fs::write(&p, &content).unwrap();
        let (seen, code, message) = look(&p);
        assert_eq!(
            (seen, code),
            (Seen::Unknown(ErrorKind::MalformedPidfile), 4),
            "{what}: {content:?}"
        );
        assert_eq!(message, expected, "{what}");
        assert_eq!(fs::read_to_string(&p).unwrap(), content);
    }
    Passed
}

/// Unlocked malformed pidfiles: stop refuses them (MalformedPidfile), as status does,
/// rather than calling them "not running"; nothing is signalled or written.
fn malformed_unlocked_stop_refused() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let other = unrelated_process(&t);
    for (what, content) in malformed_contents(other) {
        fs::write(&p, &content).unwrap();
        let stopped = stop_with(&p, "TERM/1");
        assert!(Proc(other).alive(), "{what}: stop signalled {other}");
        assert_eq!(fs::read_to_string(&p).unwrap(), content, "{what}");
        assert!(
            matches!(&stopped, Err(e) if e.kind() == ErrorKind::MalformedPidfile),
            "{what} ({content:?}): stop gave {stopped:?}, not a MalformedPidfile error \
             (status says Unknown for the same file)"
        );
    }
    Passed
}

/// The same contents written into a pidfile a live daemon has locked: status Unknown
/// (4); stop, from a stop helper in its own process group (so a signal to "0" would
/// show), fails with MalformedPidfile; the daemon, which some contents name with
/// garbage around, lives; the file is as written.
fn malformed_locked_never_signalled() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    for (what, content) in malformed_contents(d) {
        fs::write(&p, &content).unwrap(); // same inode: still locked by the daemon
        let (seen, code, _) = look(&p);
        assert_eq!(
            (seen, code),
            (Seen::Unknown(ErrorKind::MalformedPidfile), 4),
            "{what}"
        );
        let out = stop_in_helper(&t, &p, "TERM/1", Scenario::default());
        assert_eq!(
            (out["outcome"].as_str(), out.get("kind").map(String::as_str)),
            ("error", Some("MalformedPidfile")),
            "{what}: {out:?}"
        );
        assert!(Proc(d).alive(), "{what}: the daemon was signalled");
        assert_eq!(fs::read_to_string(&p).unwrap(), content, "{what}");
    }
    Passed
}

/// An empty (or blank) pidfile names no PID. What the library does, by design: unlocked,
/// it is NotRunning (what `release` leaves when it may not unlink: LSB's 1 is for a dead
/// program, and this one left) and stop says NotRunning; locked, a daemon is starting: Running without a PID, and stop waits
/// for a PID (500 ms), then fails with MalformedPidfile, signalling nothing.
fn empty_pidfile_names_nobody() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    for content in ["", "\n", " \n\t\n"] {
        fs::write(&p, content).unwrap();
        assert_status(&p, Seen::NotRunning);
        assert_eq!(stop_with(&p, "TERM/1").unwrap(), Stopped::NotRunning);
    }
    fs::remove_file(&p).unwrap();
    let d = daemon(&t);
    fs::write(&p, "").unwrap();
    assert_status(&p, Seen::Running(None));
    let out = stop_in_helper(&t, &p, "TERM/1", Scenario::default());
    assert_eq!(
        out.get("kind").map(String::as_str),
        Some("MalformedPidfile"),
        "{out:?}"
    );
    assert!(
        out["ms"].parse::<u64>().unwrap() >= 400,
        "did not wait for a PID: {out:?}"
    );
    assert!(Proc(d).alive());
    Passed
}

/// FHS format, read tolerantly: no newline, surrounding whitespace (CR too), leading
/// zeros, blank lines around.
fn tolerant_formats_accepted() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    for content in [
        format!("{d}"),
        format!("  {d}  \n"),
        format!("\t{d}\r\n"),
        format!("000{d}\n"),
        format!("\n\n{d}\n\n"),
    ] {
        fs::write(&p, &content).unwrap();
        let (seen, _, message) = look(&p);
        assert_eq!(seen, Seen::Running(Some(d)), "{content:?}: {message}");
    }
    Passed
}

/// Leading zeros whatever their number: sixteen digits of `0...0<pid>` are one PID.
fn long_leading_zeros_accepted() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    let content = format!("{d:0>16}\n");
    fs::write(&p, &content).unwrap();
    let (seen, _, message) = look(&p);
    assert_eq!(
        seen,
        Seen::Running(Some(d)),
        "{content:?} is the PID {d} with leading zeros: {message}"
    );
    Passed
}

/// A PID, spaces, then garbage past the 32nd byte: malformed ("a PID with trailing
/// garbage") wherever the garbage is. Status must say Unknown, and stop (from a stop
/// helper) must not signal the daemon the PID names.
fn garbage_past_32_bytes_refused() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    let content = format!("{d}{}junk\n", " ".repeat(40));
    fs::write(&p, &content).unwrap();
    let (seen, _, _) = look(&p);
    let out = stop_in_helper(&t, &p, "TERM/1", Scenario::default());
    assert_eq!(
        (&seen, Proc(d).alive()),
        (&Seen::Unknown(ErrorKind::MalformedPidfile), true),
        "{content:?}: status {seen:?}, stop {out:?}: only the first 32 bytes were read"
    );
    Passed
}

// ---------------------------------------------------------------------------------
// 4. Insecure pidfiles

/// `status` and `stop` both refuse `path` with "refusing pidfile <path>: it <why>"
/// (Unknown, 4; InsecurePidfile), without hanging (a FIFO), writing (`path` and
/// `watched` keep their state) or signalling (`alive` processes live).
#[track_caller]
fn assert_refused_by_control(path: &Path, why: &str, watched: &[&Path], alive: &[i32]) {
    let mut watched: Vec<PathBuf> = watched.iter().map(|w| w.to_path_buf()).collect();
    watched.push(path.to_path_buf());
    let before: Vec<_> = watched.iter().map(|w| file_state(w)).collect();
    let target = path.to_path_buf();
    let (tx, rx) = mpsc::channel();
    // Detached: if the library hangs (in a FIFO's open), the test fails, not hangs.
    std::thread::spawn(move || {
        let looked = look(&target);
        let stopped = stop_with(&target, "TERM/1");
        let _ = tx.send((looked, stopped));
    });
    let ((seen, code, message), stopped) = rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("status or stop on {} hung", path.display()));
    let expected = format!("refusing pidfile {}: it {why}", path.display());
    assert_eq!(
        (seen, code),
        (Seen::Unknown(ErrorKind::InsecurePidfile), 4),
        "status of {}: {message}",
        path.display()
    );
    assert_eq!(message, expected);
    match stopped {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InsecurePidfile, "{e}");
            assert_eq!(e.to_string(), expected);
        }
        Ok(stopped) => panic!("stop accepted {}: {stopped:?}", path.display()),
    }
    let after: Vec<_> = watched.iter().map(|w| file_state(w)).collect();
    assert_eq!(after, before, "something was written");
    for &pid in alive {
        assert!(Proc(pid).alive(), "{pid} was signalled");
    }
}

/// A start refuses the test's pidfile ("refusing pidfile <path>: it <why>", exit 3),
/// leaves it as it was, and no daemon runs.
fn assert_start_refused(t: &Test, why: &str) {
    let p = t.pidfile();
    let before = file_state(&p);
    let out = t.launch(Start).pidfile().run();
    out.assert_failure(3, &[&format!("refusing pidfile {}: it {why}", p.display())]);
    t.assert_none_left(DEADLINE);
    assert_eq!(file_state(&p), before, "the start changed the pidfile");
}

/// Symlinks: to a live daemon's locked pidfile, to a victim file naming that daemon,
/// dangling. All refused by status and stop; the daemon lives, nothing is written or
/// created, and the real pidfile still says Running.
fn insecure_symlink() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    let why = "is a symbolic link";
    let to_pidfile = t.path("link.pid");
    symlink(&p, &to_pidfile).unwrap();
    assert_refused_by_control(&to_pidfile, why, &[&p], &[d]);
    let victim = t.path("victim");
    fs::write(&victim, format!("{d}\n")).unwrap();
    let to_victim = t.path("victim.pid");
    symlink(&victim, &to_victim).unwrap();
    assert_refused_by_control(&to_victim, why, &[&victim], &[d]);
    let nowhere = t.path("nowhere");
    let dangling = t.path("dangling.pid");
    symlink(&nowhere, &dangling).unwrap();
    assert_refused_by_control(&dangling, why, &[&nowhere], &[]);
    assert_status(&p, Seen::Running(Some(d)));
    Passed
}

/// A second hard link to a live daemon's pidfile: both names refused (nlink 2), the
/// daemon lives; with the link gone, Running again. A start refuses a hard-linked
/// stale pidfile.
fn insecure_hard_link() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    let why = "has more than one hard link";
    let other = t.path("other.pid");
    fs::hard_link(&p, &other).unwrap();
    assert_refused_by_control(&other, why, &[&p], &[d]);
    assert_refused_by_control(&p, why, &[&other], &[d]);
    fs::remove_file(&other).unwrap();
    assert_status(&p, Seen::Running(Some(d)));

    let t = Test::new();
    fs::write(t.pidfile(), "4242\n").unwrap();
    fs::hard_link(t.pidfile(), t.path("copy")).unwrap();
    assert_start_refused(&t, why);
    Passed
}

/// A world-writable pidfile (0666) is refused, as start-stop-daemon 1.19.3 does;
/// group-writable (0664) is not: start-stop-daemon reads it too.
fn insecure_world_writable() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    chmod(&p, 0o666);
    assert_refused_by_control(&p, "is writable by others", &[], &[d]);
    chmod(&p, 0o664);
    assert_status(&p, Seen::Running(Some(d)));
    chmod(&p, 0o644);
    Passed
}

/// A pidfile owned by a user other than root and us (nobody) is refused by status,
/// stop and start.
fn insecure_foreign_owner() -> Outcome {
    require_root!("only root can give a file to another user");
    let (uid, gid) = passwd_entry("nobody");
    let why = "is owned by another user";
    let t = Test::new();
    let p = t.pidfile();
    let d = daemon(&t);
    chown(&p, Some(uid), Some(gid)).unwrap();
    assert_refused_by_control(&p, why, &[], &[d]);
    chown(&p, Some(0), Some(0)).unwrap();
    assert_status(&p, Seen::Running(Some(d)));

    let t = Test::new();
    fs::write(t.pidfile(), "4242\n").unwrap();
    chown(t.pidfile(), Some(uid), Some(gid)).unwrap();
    assert_start_refused(&t, why);
    Passed
}

/// A FIFO at the path: refused, without hanging in its open; still a FIFO after.
fn insecure_fifo() -> Outcome {
    let t = Test::new();
    let fifo = t.path("fifo.pid");
    mkfifo(&fifo);
    assert_refused_by_control(&fifo, "is not a regular file", &[], &[]);
    Passed
}

/// A directory at the path: refused by status and stop, and by a start.
fn insecure_directory() -> Outcome {
    let t = Test::new();
    fs::create_dir(t.pidfile()).unwrap();
    assert_refused_by_control(&t.pidfile(), "is a directory", &[], &[]);
    assert_start_refused(&t, "is a directory");
    Passed
}

// ---------------------------------------------------------------------------------
// 5. Interoperability

/// start-stop-daemon (Debian dpkg) and `flock -n P true` (util-linux) agree with
/// status: running (0; flock fails), stale after a SIGKILL (1; flock succeeds),
/// malformed (4), world-writable (4), no file (3). `start-stop-daemon --stop --retry
/// TERM/5` stops our daemon (0); then status is no longer Running and flock succeeds.
fn interop_start_stop_daemon_and_flock() -> Outcome {
    let Some(ssd) = find_tool("start-stop-daemon") else {
        return Outcome::Skipped(
            "needs start-stop-daemon (dpkg) because it is the reference to agree with".into(),
        );
    };
    if find_tool("flock").is_none() {
        return Outcome::Skipped("needs flock (util-linux) because it is checked too".into());
    }
    let ssd_status = |p: &Path| {
        Command::new(&ssd)
            .args(["--status", "--pidfile"])
            .arg(p)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    let t = Test::new();
    let p = t.pidfile();
    let agree = |state: &str, expected: Seen| {
        assert_status(&p, expected.clone());
        assert_eq!(
            ssd_status(&p),
            Some(expected.lsb_code()),
            "start-stop-daemon --status disagrees with status on a {state} pidfile"
        );
    };
    agree("missing", Seen::NotRunning);
    let d = daemon(&t);
    agree("running", Seen::Running(Some(d)));
    assert_eq!(
        flock_n(&p),
        Some(1),
        "flock -n succeeded on a running daemon's pidfile"
    );
    // start-stop-daemon takes a zombie for a live process: reap it, as init would.
    kill_and_reap(d);
    agree("stale", Seen::Stale(Some(d)));
    assert_eq!(flock_n(&p), Some(0), "flock -n failed on a stale pidfile");
    fs::write(&p, "abc\n").unwrap();
    agree("malformed", Seen::Unknown(ErrorKind::MalformedPidfile));
    fs::write(&p, format!("{d}\n")).unwrap();
    chmod(&p, 0o666);
    agree("world-writable", Seen::Unknown(ErrorKind::InsecurePidfile));
    fs::remove_file(&p).unwrap();

    let d = daemon(&t);
    let mut ssd_stop = Command::new(&ssd)
        .args(["--stop", "--pidfile"])
        .arg(&p)
        .args(["--retry", "TERM/5"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    let code = loop {
        // Reap the daemon when it dies (we are its parent, as init would be).
        // SAFETY: a null status pointer is allowed.
        unsafe { libc::waitpid(d, std::ptr::null_mut(), libc::WNOHANG) };
        if let Some(status) = ssd_stop.try_wait().unwrap() {
            break status.code();
        }
        if began.elapsed() > DEADLINE {
            let _ = ssd_stop.kill();
            panic!("start-stop-daemon --stop still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        code,
        Some(0),
        "start-stop-daemon --stop failed on our daemon"
    );
    assert!(!Proc(d).alive());
    let after = seen(&p);
    assert!(!matches!(after, Seen::Running(_)), "{after:?}");
    assert_eq!(
        ssd_status(&p),
        Some(after.lsb_code()),
        "start-stop-daemon --status disagrees after the stop"
    );
    if p.exists() {
        assert_eq!(flock_n(&p), Some(0), "flock -n failed after the stop");
    }
    Passed
}

// ---------------------------------------------------------------------------------
// 6. Concurrency

/// 64 starters released at once (a FIFO barrier) on one pidfile: exactly one daemon,
/// 63 clean "already running" failures (exit 1, one line), and the pidfile names the
/// survivor, which holds its lock.
fn concurrent_starts_one_daemon() -> Outcome {
    const STARTERS: usize = 64;
    let t = Test::new();
    let p = t.pidfile();
    let fifo = barrier(&t);
    let launched: Vec<Launched<'_>> = (0..STARTERS)
        .map(|i| {
            t.launch(at_barrier(Start, &fifo))
                .pidfile()
                .report_to(t.path(&format!("report{i}")))
                .spawn()
        })
        .collect();
    let go = release(&t, &fifo, STARTERS);
    let outs: Vec<Output> = launched.into_iter().map(Launched::finish).collect();
    drop(go);
    let (won, lost): (Vec<&Output>, Vec<&Output>) = outs.iter().partition(|o| o.code == Some(0));
    let codes: Vec<_> = outs.iter().map(|o| o.code).collect();
    assert_eq!(won.len(), 1, "{} starters succeeded: {codes:?}", won.len());
    for out in &lost {
        out.assert_failure(1, &["already running (", &p.display().to_string()]);
    }
    let live = t.live_processes();
    assert_eq!(live.len(), 1, "daemons running: {live:?}");
    assert_holds_pidfile(&p, live[0]);
    assert_status(&p, Seen::Running(Some(live[0])));
    Passed
}

/// The pidfile a starter creates is 0600 whatever the umask (the launcher's is 077),
/// even when that starter loses the lock to another process and a later start
/// (which did not create the file) becomes the daemon. Here the other process is a
/// runner thread that locks the file as soon as it appears; a round where the
/// creator locked first anyway proves nothing and is run again (up to 100 times).
fn pidfile_mode_after_its_creator_lost() -> Outcome {
    for _ in 0..100 {
        let t = Test::new();
        let p = t.pidfile();
        let done = AtomicBool::new(false);
        let (out, lock) = std::thread::scope(|s| {
            let grabber = s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if let Ok(file) = fs::File::open(&p) {
                        // SAFETY: flock on a descriptor we own.
                        let locked =
                            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
                        if locked == 0 {
                            return Some(file);
                        }
                    }
                }
                None
            });
            let _end = SetOnDrop(&done);
            let out = t.launch(Start).pidfile().run();
            done.store(true, Ordering::SeqCst);
            (out, grabber.join().unwrap())
        });
        if out.code == Some(0) {
            continue; // the creator won the lock: not the case under test
        }
        out.assert_failure(1, &["already running (pid unknown"]);
        assert!(lock.is_some());
        drop(lock);
        let d = daemon(&t);
        assert_holds_pidfile(&p, d);
        assert_eq!(
            mode_of(&p),
            0o600,
            "the pidfile created under umask 077 by a starter that lost the lock"
        );
        return Passed;
    }
    Outcome::Skipped(
        "needs a creator that loses the lock race, which 100 rounds did not give".into(),
    )
}

/// What a prober saw beside start/stop cycles, and what went wrong in the cycles.
struct ProbeRun {
    probes: usize,
    /// How often status said each state.
    counts: BTreeMap<&'static str, usize>,
    /// Each Unknown's message, and how often.
    unknown: BTreeMap<String, usize>,
    failed_starts: Vec<String>,
    odd_stops: Vec<String>,
}

/// `cycles` times: a helper start (`launch`), then `stop` with `TERM/5/KILL/1`; all the
/// while, a thread calls `status` on the pidfile in a tight loop (at least 1,000 times).
fn probe_cycles(t: &Test, cycles: usize, launch: impl Fn() -> Output) -> ProbeRun {
    const MIN_PROBES: usize = 1000;
    let p = t.pidfile();
    let schedule = schedule("TERM/5/KILL/1");
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let prober = s.spawn(|| {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
            let mut probes = 0;
            while probes < MIN_PROBES || !done.load(Ordering::SeqCst) {
                let state = match status(p.as_path()) {
                    Status::Running { .. } => "running",
                    Status::Stale { .. } => "stale",
                    Status::NotRunning => "not running",
                    Status::Unknown(e) => {
                        *unknown.entry(e.to_string()).or_default() += 1;
                        "unknown"
                    }
                };
                *counts.entry(state).or_default() += 1;
                probes += 1;
            }
            (probes, counts, unknown)
        });
        let _end_probes = SetOnDrop(&done);
        let mut failed_starts = Vec::new();
        let mut odd_stops = Vec::new();
        for cycle in 0..cycles {
            let out = launch();
            if out.code != Some(0) {
                let stderr = out.stderr.trim();
                failed_starts.push(format!("cycle {cycle}: exit {:?} {stderr}", out.code));
                continue;
            }
            match stop(p.as_path(), &schedule) {
                Ok(Stopped::Exited { .. }) => {}
                other => odd_stops.push(format!("cycle {cycle}: {other:?}")),
            }
            reap_children();
        }
        done.store(true, Ordering::SeqCst);
        let (probes, counts, unknown) = prober.join().unwrap();
        println!("    {probes} probes beside {cycles} start/stop cycles saw {counts:?}");
        ProbeRun {
            probes,
            counts,
            unknown,
            failed_starts,
            odd_stops,
        }
    })
}

/// 100 start/stop cycles (helper start, then `stop` with `TERM/5/KILL/1`) while a
/// thread calls `status` in a tight loop (at least 1,000 times): no start fails with
/// "already running" (a probe's shared lock is waited out), every stop ends in Exited,
/// and the prober saw both Running and not running, so the two overlapped.
fn probes_never_make_a_start_fail() -> Outcome {
    const CYCLES: usize = 100;
    let t = Test::new();
    let run = probe_cycles(&t, CYCLES, || t.launch(Start).pidfile().run());
    assert!(
        run.failed_starts.is_empty(),
        "{} of {CYCLES} starts failed beside {} probes: {:#?}",
        run.failed_starts.len(),
        run.probes,
        run.failed_starts
    );
    assert!(run.odd_stops.is_empty(), "{:#?}", run.odd_stops);
    assert!(run.probes >= 1000);
    let count = |state| run.counts.get(state).copied().unwrap_or(0);
    assert!(
        count("running") > 0 && count("stale") + count("not running") > 0,
        "the probes did not overlap the cycles: {:?}",
        run.counts
    );
    Passed
}

/// Status probes beside 100 cycles of a daemon that releases its pidfile (unlinks it
/// while locked) on SIGTERM: a probe that opened the file just before the unlink sees
/// a file with no name left (`st_nlink` 0). That is a daemon going away, never an
/// insecure pidfile: status must not say Unknown ("more than one hard link").
fn status_during_a_release_is_never_insecure() -> Outcome {
    const CYCLES: usize = 100;
    let t = Test::new();
    let run = probe_cycles(&t, CYCLES, || t.launch(graceful()).pidfile().run());
    assert!(run.failed_starts.is_empty(), "{:#?}", run.failed_starts);
    assert!(
        run.unknown.is_empty(),
        "{} of {} probes said Unknown: {:?}",
        run.unknown.values().sum::<usize>(),
        run.probes,
        run.unknown
    );
    Passed
}

/// 50 rounds: a daemon that releases its pidfile on SIGTERM (unlink while locked, then
/// exit) is stopped while 8 starters are released at once. However the race goes, it
/// never ends with two daemons, nor with a daemon whose pidfile is gone from the
/// directory (it locked an unlinked file): a survivor holds the pidfile at its path,
/// which names it. Every starter succeeded or failed cleanly with "already running".
fn starters_race_a_stopping_daemon() -> Outcome {
    const ROUNDS: usize = 50;
    const STARTERS: usize = 8;
    let mut survivors = 0;
    for round in 0..ROUNDS {
        let t = Test::new();
        let p = t.pidfile();
        let first = graceful_daemon(&t);
        let fifo = barrier(&t);
        let launched: Vec<Launched<'_>> = (0..STARTERS)
            .map(|i| {
                let graceful = Scenario {
                    go_fifo: Some(fifo.clone()),
                    ..graceful()
                };
                t.launch(graceful)
                    .pidfile()
                    .report_to(t.path(&format!("report{i}")))
                    .spawn()
            })
            .collect();
        let (stopped, outs) = std::thread::scope(|s| {
            let stopper = s.spawn(|| stop_with(&p, "TERM/5/KILL/1"));
            let go = release(&t, &fifo, STARTERS);
            let outs: Vec<Output> = launched.into_iter().map(Launched::finish).collect();
            drop(go);
            (stopper.join().unwrap(), outs)
        });
        assert_eq!(
            stopped.unwrap(),
            Stopped::Exited { pid: pid(first) },
            "round {round}"
        );
        let mut started = 0;
        for out in &outs {
            if out.code == Some(0) {
                started += 1;
            } else {
                out.assert_failure(1, &["already running ("]);
            }
        }
        let live = t.live_processes();
        assert!(live.len() <= 1, "round {round}: two daemons: {live:?}");
        assert_eq!(
            live.len(),
            started,
            "round {round}: {started} starts succeeded, {live:?} run"
        );
        match live[..] {
            [survivor] => {
                survivors += 1;
                assert_holds_pidfile(&p, survivor);
            }
            _ => assert_unlocked_or_gone(&p),
        }
    }
    println!("    {survivors} of {ROUNDS} rounds ended with a new daemon");
    Passed
}

/// 30 rounds of the same race, made dense: a helper plays a daemon releasing its
/// pidfile over and over through the library (`Pidfile::open`, then drop: unlink while
/// locked, then close; it stops once another process holds the lock) while 8 starters
/// are released at once. Starters keep opening a file that is unlinked and unlocked
/// right after, so each must check, once locked, that the path still names what it
/// locked, and start over if not; and the release must unlink before it unlocks. The
/// same end state must hold: at most one daemon, holding the pidfile at its path;
/// every starter succeeded or failed with "already running".
fn starters_race_a_releasing_lock_holder() -> Outcome {
    const ROUNDS: usize = 30;
    const STARTERS: usize = 8;
    let (mut survivors, mut releases, mut refused) = (0, 0, 0);
    for round in 0..ROUNDS {
        let t = Test::new();
        let p = t.pidfile();
        let fifo = barrier(&t);
        let until = t.path("until");
        let churn = Scenario {
            call: ChurnPidfile,
            until: Some(until.clone()),
            ..Scenario::default()
        };
        let churner = t.launch(churn).pidfile().spawn();
        let launched: Vec<Launched<'_>> = (0..STARTERS)
            .map(|i| {
                t.launch(at_barrier(Start, &fifo))
                    .pidfile()
                    .report_to(t.path(&format!("report{i}")))
                    .spawn()
            })
            .collect();
        let go = release(&t, &fifo, STARTERS);
        let outs: Vec<Output> = launched.into_iter().map(Launched::finish).collect();
        drop(go);
        fs::write(&until, "").unwrap();
        let churned = churner.finish();
        assert_eq!(churned.code, Some(0), "the churner: {:?}", churned.stderr);
        releases += fields(&churned.stdout)["released"].parse::<u64>().unwrap();
        let mut started = 0;
        for out in &outs {
            if out.code == Some(0) {
                started += 1;
            } else if out.stderr.contains(UNLINKED_REFUSED) {
                // Bug (a file unlinked since the open is called insecure), shown
                // reliably by `starts_during_releases_never_refused`; here only the
                // end state counts.
                refused += 1;
            } else {
                out.assert_failure(1, &["already running ("]);
            }
        }
        let live = t.live_processes();
        assert!(live.len() <= 1, "round {round}: two daemons: {live:?}");
        assert_eq!(
            live.len(),
            started,
            "round {round}: {started} starts succeeded, {live:?} run"
        );
        if let [survivor] = live[..] {
            survivors += 1;
            assert_holds_pidfile(&p, survivor);
        }
    }
    println!(
        "    {survivors} of {ROUNDS} rounds ended with a daemon; {releases} releases; \
         {refused} starts refused the pidfile as insecure"
    );
    Passed
}

/// What a start says when the pidfile it opened was unlinked before its checks
/// (`st_nlink` 0).
const UNLINKED_REFUSED: &str = "it has more than one hard link";

/// Two processes start and release the pidfile through the library 3,000 times each,
/// at once (`Pidfile::open`, then drop: unlink while locked, then close). A start that
/// opened the file just before the other's release unlinked it finds a file with no
/// name (`st_nlink` 0): it must start over (or report "already running"), never
/// refuse the pidfile as insecure ("more than one hard link").
fn starts_during_releases_never_refused() -> Outcome {
    let t = Test::new();
    let fifo = barrier(&t);
    let churners: Vec<Launched<'_>> = (0..2)
        .map(|_| {
            let churn = Scenario {
                rounds: Some(3000),
                contend: true,
                ..at_barrier(ChurnPidfile, &fifo)
            };
            t.launch(churn).pidfile().spawn()
        })
        .collect();
    let go = release(&t, &fifo, 2);
    let outs: Vec<Output> = churners.into_iter().map(Launched::finish).collect();
    drop(go);
    let counts: Vec<BTreeMap<String, String>> = outs
        .iter()
        .map(|out| {
            assert_eq!(out.code, Some(0), "{:?}", out.stderr);
            fields(&out.stdout)
        })
        .collect();
    println!("    {counts:?}");
    let sum = |key: &str| -> u64 { counts.iter().map(|c| c[key].parse::<u64>().unwrap()).sum() };
    assert!(sum("already") > 0, "the two never contended: {counts:?}");
    assert_eq!(
        sum("refused"),
        0,
        "starts refused the pidfile while the other process released it: {counts:?}"
    );
    Passed
}

// ---------------------------------------------------------------------------------
// 7. restart and ok_if_running

/// `Daemon::restart` with this stop schedule.
fn restart(schedule: &str) -> Scenario {
    Scenario {
        call: Restart,
        schedule: Some(schedule.into()),
        ..Scenario::default()
    }
}

/// `Daemon::restart` on a running daemon A: the launcher exits 0 with a new daemon B,
/// A is gone, the pidfile names B, and B alone runs.
fn restart_replaces_the_daemon() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let a = daemon(&t);
    let launched = t.launch(restart("TERM/5/KILL/1")).pidfile().spawn();
    let b = launched.report().pid();
    let out = launched.finish();
    out.assert_success();
    assert_eq!(out.stdout.trim(), b.to_string(), "the PID restart returned");
    assert_ne!(a, b);
    assert!(!Proc(a).alive(), "the old daemon {a} survived the restart");
    assert_holds_pidfile(&p, b);
    assert_status(&p, Seen::Running(Some(b)));
    assert_eq!(t.live_processes(), [b]);
    Passed
}

/// `restart` with no daemon (no pidfile, then a stale one) simply starts one.
fn restart_without_daemon_starts_one() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let restart = || {
        let launched = t.launch(restart("TERM/5")).pidfile().spawn();
        let pid = launched.report().pid();
        launched.finish().assert_success();
        pid
    };
    let a = restart();
    assert_holds_pidfile(&p, a);
    kill_and_reap(a);
    let b = restart();
    assert_holds_pidfile(&p, b);
    assert_eq!(t.live_processes(), [b]);
    Passed
}

/// `restart` on a daemon that outlives the schedule (`TERM/1`, SIGTERM ignored): the
/// launcher fails (exit 3, "did not stop in time"), the daemon still runs, its
/// pidfile unchanged, and no second daemon was started.
fn restart_fails_when_the_daemon_survives() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let a = stubborn_daemon(&t);
    let before = file_state(&p);
    let out = t.launch(restart("TERM/1")).pidfile().run();
    out.assert_failure(3, &[&format!("the daemon (pid {a}) did not stop in time")]);
    assert!(Proc(a).alive());
    assert_eq!(file_state(&p), before);
    assert_eq!(t.live_processes(), [a]);
    Passed
}

/// `ok_if_running(true)` on a running daemon: `start` exits 0, silently, and changes
/// nothing (same daemon, same pidfile). Without it the same start fails with
/// "already running" (exit 1); `fork` still returns the error to its caller.
fn ok_if_running_succeeds_without_change() -> Outcome {
    let t = Test::new();
    let p = t.pidfile();
    let a = daemon(&t);
    let before = file_state(&p);
    let ok = |call| Scenario {
        call,
        ok_if_running: true,
        ..Scenario::default()
    };
    let out = t.launch(ok(Start)).pidfile().run();
    out.assert_success();
    assert_eq!(out.stdout, "");
    assert_eq!(file_state(&p), before, "the pidfile changed");
    assert_eq!(t.live_processes(), [a]);
    let already = format!("already running (pid {a}");
    t.launch(Start)
        .pidfile()
        .run()
        .assert_failure(1, &[&already]);
    t.launch(ok(Fork))
        .pidfile()
        .run()
        .assert_failure(1, &[&already]);
    assert_eq!(t.live_processes(), [a]);
    assert_holds_pidfile(&p, a);
    Passed
}
