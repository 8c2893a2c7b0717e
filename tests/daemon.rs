//! Integration tests of daemonizing, each in real processes.
//!
//! The library refuses to fork a multithreaded process, and libtest runs tests on
//! threads, so this binary has its own `main` (`harness = false`). With
//! `DAEMONIC_SCENARIO` set it is a *helper*: a single-threaded launcher that makes
//! itself dirty, daemonizes as told and, in the daemon, writes a report and waits to
//! be killed (`support/helper.rs`). Otherwise it is the *runner*: it runs each test
//! below, which starts helpers and checks the daemons through `/proc`.
//!
//! The runner makes itself a child subreaper, so every daemon is reparented to it: the
//! daemons' parent is known, and the runner reaps them when it kills them.

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
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use daemonic::{Detach, Disposition, Signal};

use support::files::{
    file_state, initgroups, is_locked, mode_of, other_group, passwd_entry, pidfile_pid, ROOT_GROUPS,
};
use support::launch::{runner_pid, Launch, Launched};
use support::output::run_with_limit;
use support::proc::{is_root, Proc};
use support::runner::{require_root, tests, Outcome, Outcome::Passed};
use support::scenario::{Call::*, Scenario, Then};
use support::seccomp::require_x86_64;
use support::test::{reap_children, Test};
use support::wait::{kill, wait_until, DEADLINE};

/// SIGTSTP, SIGTTIN and SIGTTOU: what the default signal map ignores.
const JOB_CONTROL: u64 = (1 << 19) | (1 << 20) | (1 << 21);

/// The signals a daemon ignores (bit `n - 1` for signal `n`). All of them count,
/// the ones libc reserves for itself included (32 and 33 for glibc, up to 34 for
/// musl): a glibc program's `posix_spawn` (which `Command` uses) can leave them
/// ignored in the launcher, and the daemon must not inherit that.
fn ignored_signals(pid: i32) -> u64 {
    Proc(pid).sigmask("SigIgn")
}
const NOBODY: &str = "nobody";
const DEV_NULL: &str = "/dev/null";

const TESTS: &[(&str, support::runner::TestFn)] = tests![
    topology_double_fork,
    descriptors_closed,
    descriptors_preserved,
    command_substitution_returns,
    pipe_check_detects_a_kept_copy,
    closed_stdio_in_launcher,
    stdout_and_stderr_share_a_file,
    output_file_modes,
    stdin_from_file,
    working_directory_and_umask,
    chroot_then_working_directory,
    signals_reset,
    signal_map_applied,
    ignoring_sigkill_refused,
    core_dumps_disabled,
    core_limit_kept_on_request,
    user_drops_root_groups,
    user_and_group,
    privileges_dropped_at_ready,
    start_drops_at_once_with_drop_at_ready,
    exec_drops_at_once_with_drop_at_ready,
    supervise_drops_at_once_with_drop_at_ready,
    a_failed_drop_at_ready_fails_the_start,
    group_only_as_root,
    supplementary_groups_list,
    pidfile_written_before_launcher_exits,
    pidfile_longer_stale_content_replaced,
    second_start_already_running,
    stale_pidfile_reused,
    fail_missing_working_directory,
    fail_unknown_user,
    fail_pidfile_directory_missing,
    fail_pidfile_directory_unwritable,
    fail_pidfile_symlink,
    fail_pidfile_fifo,
    fail_pidfile_world_writable,
    fail_chroot_missing,
    fail_nul_in_path,
    fail_multithreaded,
    ready_waits_for_daemon,
    pending_fail_reports_code,
    pending_dropped_reports_death,
    readiness_timeout_kills_daemon,
    fork_returns_in_parent,
    no_allocation_after_fork,
    foreground_never,
    socket_activation_kept_in_the_foreground,
    watchdog_interval_is_ours_only,
    foreground_auto_with_socket_stdin,
    auto_detaches_otherwise,
    close_range_denied_walks_proc,
    close_range_denied_without_proc,
    scenario_typos_are_refused,
];

fn main() {
    support::helper::run_if_helper();
    support::runner::main(TESTS);
}

// ---------------------------------------------------------------------------------
// Shared checks

/// The daemon's descriptors 0-2 point to `stdio`, and the others (whose numbers the
/// library picks) to exactly `others`, in any order.
fn assert_descriptors(pid: i32, stdio: [&str; 3], others: &[&str]) {
    let expected = descriptor_layout(stdio, others);
    wait_until(&format!("descriptors of {pid} to be {expected:?}"), || {
        let actual = layout_of(pid);
        if actual == expected {
            Ok(())
        } else {
            Err(format!("{actual:?}"))
        }
    })
}

type Layout = (Vec<String>, Vec<String>);

fn descriptor_layout(stdio: [&str; 3], others: &[&str]) -> Layout {
    let mut others: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    others.sort();
    (stdio.map(str::to_owned).to_vec(), others)
}

/// Each descriptor's target as text, any socket as just `socket`.
fn layout_of(pid: i32) -> Layout {
    let fds: BTreeMap<i32, String> = Proc(pid)
        .fds()
        .into_iter()
        .map(|(fd, target)| match target.to_string_lossy() {
            t if t.starts_with("socket:") => (fd, "socket".to_owned()),
            t => (fd, t.into_owned()),
        })
        .collect();
    let stdio = (0..3)
        .map(|fd| fds.get(&fd).cloned().unwrap_or_else(|| "closed".into()))
        .collect();
    let mut others: Vec<String> = fds.range(3..).map(|(_, t)| t.clone()).collect();
    others.sort();
    (stdio, others)
}

/// The pidfile: the one descriptor the library keeps for it (its directory only
/// with a chroot, to find the file again).
fn pidfile_fd(t: &Test) -> String {
    t.pidfile().display().to_string()
}

fn assert_pidfile_fds_only(t: &Test, pid: i32) {
    assert_descriptors(pid, [DEV_NULL; 3], &[&pidfile_fd(t)]);
}

/// A failed start left nothing behind: no daemon, the pidfile as `before` and unlocked.
fn assert_nothing_left(t: &Test, before: &Option<String>) {
    t.assert_none_left(DEADLINE);
    let pidfile = t.pidfile();
    assert_eq!(&file_state(&pidfile), before, "the pidfile changed");
    if fs::symlink_metadata(&pidfile).is_ok_and(|m| m.is_file()) {
        assert!(!is_locked(&pidfile), "the pidfile is still locked");
    }
}

/// A start the library refuses, before the fork or in a daemon step after it: exit 3
/// with `fragments` on stderr, the scenario's daemon code never ran (no report),
/// nothing left behind.
fn assert_refused(t: &Test, launch: Launch<'_>, fragments: &[&str]) {
    let before = file_state(&t.pidfile());
    let out = launch.run();
    out.assert_failure(3, fragments);
    assert_eq!(fs::read_to_string(t.path("report")).unwrap(), "");
    assert_nothing_left(t, &before);
}

/// A fresh test whose `scenario` (with the test's pidfile unless it names one) must
/// be refused.
fn refused(scenario: Scenario, fragments: &[&str]) -> Outcome {
    let t = Test::new();
    let scenario = Scenario {
        pidfile: Some(scenario.pidfile.clone().unwrap_or_else(|| t.pidfile())),
        ..scenario
    };
    assert_refused(&t, t.launch(scenario), fragments);
    Passed
}

fn write_pidfile(t: &Test, content: &str, mode: u32) {
    fs::write(t.pidfile(), content).unwrap();
    fs::set_permissions(t.pidfile(), fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------
// 1. Process topology

/// Double fork: the daemon is reparented, neither session nor group leader, has no
/// terminal, and the intermediate process was reaped.
fn topology_double_fork() -> Outcome {
    let t = Test::new();
    let launched = t.launch(Start).pidfile().spawn();
    let launcher = launched.pid();
    launched.finish().assert_success();
    let pid = pidfile_pid(&t.pidfile());
    assert_ne!(pid, launcher);
    // The session is the intermediate process's (it called setsid). The launcher exits
    // as soon as the daemon is ready, and the intermediate process a moment later by
    // itself (it must not stay): a zombie of the subreaper runner, which reaps it, as
    // init would. The daemon is then the runner's.
    let session = Proc(pid).stat().session;
    assert_ne!(session, pid, "a session leader could acquire a terminal");
    wait_until(
        &format!("the intermediate process {session} to exit"),
        || match Proc(session).try_stat() {
            Some(s) if s.state != 'Z' => Err(format!("state {}", s.state)),
            _ => Ok(()),
        },
    );
    reap_children();
    let stat = Proc(pid).stat();
    assert_eq!(
        stat.ppid,
        runner_pid(),
        "reparented to the subreaper runner"
    );
    assert_ne!(stat.pgrp, pid, "a process-group leader");
    assert_ne!(stat.session, Proc(runner_pid()).stat().session, "no setsid");
    assert_eq!(stat.tty_nr, 0, "has a controlling terminal");
    Passed
}

// ---------------------------------------------------------------------------------
// 2. Descriptors

/// Leaked descriptors 7 and 250 are closed; while pending the daemon also holds the
/// readiness socket, which `ready()` closes.
fn descriptors_closed() -> Outcome {
    let t = Test::new();
    let go = t.path("go");
    let hold = Scenario {
        call: StartPending,
        hold: Some(go.clone()),
        ..Scenario::default()
    };
    let launched = t.launch(hold).pidfile().spawn();
    let pid = launched.report().pid();
    assert_descriptors(pid, [DEV_NULL; 3], &[&pidfile_fd(&t), "socket"]);
    fs::write(&go, "").unwrap();
    launched.finish().assert_success();
    assert_pidfile_fds_only(&t, pid);
    Passed
}

/// A daemon that keeps descriptor `fd`.
fn preserve(fd: i32) -> Scenario {
    Scenario {
        preserve: Some(fd),
        ..Scenario::default()
    }
}

/// `preserve_fd(7)`: 7 survives (still /dev/zero), 250 does not.
fn descriptors_preserved() -> Outcome {
    let t = Test::new();
    let pid = t.launch(preserve(7)).pidfile().start();
    assert_descriptors(pid, [DEV_NULL; 3], &["/dev/zero", &pidfile_fd(&t)]);
    assert_eq!(Proc(pid).fds()[&7], Path::new("/dev/zero"));
    Passed
}

/// The `$(cmd)` pitfall: the launcher's stdout is a pipe, and its descriptor 250 is a
/// copy of it; reading the pipe to its end returns as soon as the launcher exits.
fn command_substitution_returns() -> Outcome {
    let t = Test::new();
    let out = t
        .launch(Start)
        .pidfile()
        .spawn()
        .finish_within(Duration::from_secs(5))
        .unwrap();
    out.assert_success();
    assert!(Proc(pidfile_pid(&t.pidfile())).alive());
    Passed
}

/// The check above can fail: a daemon told to keep descriptor 250 keeps the pipe open,
/// and the runner notices.
fn pipe_check_detects_a_kept_copy() -> Outcome {
    let t = Test::new();
    let launched = t.launch(preserve(250)).pidfile().spawn();
    let err = launched
        .finish_within(Duration::from_millis(500))
        .expect_err("the pipe should still be open in the daemon");
    assert!(err.contains("kept a copy"), "{err}");
    Passed
}

/// A launcher with 0, 1 and 2 closed: the library's own descriptors must not land on
/// them, and the daemon gets /dev/null on all three.
fn closed_stdio_in_launcher() -> Outcome {
    let t = Test::new();
    let closed = Scenario {
        close_stdio: true,
        ..Scenario::default()
    };
    let pid = t.launch(closed).pidfile().start();
    assert_pidfile_fds_only(&t, pid);
    Passed
}

// ---------------------------------------------------------------------------------
// 3. Standard streams

/// stdout and stderr to one file share it, appending in the order written; a new
/// file gets the default mode 0640 (under a launcher umask of 022).
fn stdout_and_stderr_share_a_file() -> Outcome {
    let t = Test::new();
    let log = t.path("out.log");
    let shared = Scenario {
        stdout: Some(log.clone()),
        stderr: Some(log.clone()),
        launcher_umask: Some(0o022),
        write_stdio: true,
        ..Scenario::default()
    };
    let pid = t.launch(shared).pidfile().start();
    let fds = Proc(pid).fds();
    assert_eq!((&fds[&1], &fds[&2]), (&log, &log));
    let flags = Proc(pid).fd_flags(1);
    assert_eq!(flags & libc::O_ACCMODE, libc::O_WRONLY);
    assert_ne!(flags & libc::O_APPEND, 0, "not opened for appending");
    let expected = "out1\nerr1\nout2\n";
    let content = wait_until("the daemon's output", || {
        let text = fs::read_to_string(&log).unwrap();
        if text.len() >= expected.len() {
            Ok(text)
        } else {
            Err(text)
        }
    });
    assert_eq!(content, expected);
    assert_eq!(mode_of(&log), 0o640);
    Passed
}

/// `output_mode` sets a new file's mode, and the launcher's umask applies to it (as
/// documented): 0604 under umask 022, the default 0640 becomes 0600 under 077.
fn output_file_modes() -> Outcome {
    let t = Test::new();
    t.launch(Scenario {
        stdout: Some(t.path("a.log")),
        output_mode: Some(0o604),
        launcher_umask: Some(0o022),
        ..Scenario::default()
    })
    .start();
    t.launch(Scenario {
        stdout: Some(t.path("b.log")),
        ..Scenario::default()
    })
    .start();
    assert_eq!(mode_of(&t.path("a.log")), 0o604);
    assert_eq!(mode_of(&t.path("b.log")), 0o600);
    Passed
}

fn stdin_from_file() -> Outcome {
    let t = Test::new();
    let input = t.path("input.txt");
    fs::write(&input, "hello\n").unwrap();
    let from_file = Scenario {
        stdin: Some(input.clone()),
        ..Scenario::default()
    };
    let pid = t.launch(from_file).pidfile().start();
    let input = input.display().to_string();
    assert_descriptors(pid, [&input, DEV_NULL, DEV_NULL], &[&pidfile_fd(&t)]);
    assert_eq!(Proc(pid).fd_flags(0) & libc::O_ACCMODE, libc::O_RDONLY);
    Passed
}

// ---------------------------------------------------------------------------------
// 4. Working directory, root, umask

/// The working directory is set, and the umask is the daemon's (default 0), not the
/// launcher's 077.
fn working_directory_and_umask() -> Outcome {
    let t = Test::new();
    let work = t.path("work");
    fs::create_dir(&work).unwrap();
    let pid = t
        .launch(Scenario {
            workdir: Some(work.clone()),
            umask: Some(0o027),
            ..Scenario::default()
        })
        .start();
    assert_eq!(Proc(pid).link("cwd"), work);
    assert_eq!(Proc(pid).status("Umask"), "0027");
    let pid = t.launch(Start).start();
    assert_eq!(Proc(pid).link("cwd"), Path::new("/"));
    assert_eq!(Proc(pid).status("Umask"), "0000");
    Passed
}

/// chroot, then chdir inside the new root (a chdir before the chroot would fail here,
/// or leave the daemon outside the jail).
fn chroot_then_working_directory() -> Outcome {
    require_root!("chroot needs CAP_SYS_CHROOT");
    let t = Test::new();
    let jail = t.jail();
    let sub = Scenario {
        workdir: Some("/sub".into()),
        ..Scenario::default()
    };
    let pid = t.launch(sub).pidfile().chroot(&jail).start();
    assert_eq!(Proc(pid).link("root"), jail);
    assert_eq!(Proc(pid).link("cwd"), jail.join("sub"));
    Passed
}

// ---------------------------------------------------------------------------------
// 5. Signals

/// The launcher blocked SIGUSR1 and ignored SIGUSR2, SIGHUP and (Rust) SIGPIPE, and
/// Rust's runtime catches SIGSEGV and SIGBUS: the daemon has an empty mask, no
/// handler, and ignores exactly the job-control signals.
fn signals_reset() -> Outcome {
    let t = Test::new();
    let pid = t.launch(Start).start();
    let p = Proc(pid);
    assert_eq!(p.sigmask("SigBlk"), 0);
    assert_eq!(
        ignored_signals(pid),
        JOB_CONTROL,
        "{:#x}",
        ignored_signals(pid)
    );
    assert_eq!(p.sigmask("SigCgt"), 0);
    Passed
}

fn signal_map_applied() -> Outcome {
    let t = Test::new();
    let map = Scenario {
        signals: vec![
            (Signal::HUP, Disposition::Ignore),
            (Signal::TSTP, Disposition::Default),
        ],
        ..Scenario::default()
    };
    let pid = t.launch(map).start();
    let expected = (JOB_CONTROL & !(1 << 19)) | 1;
    let ignored = ignored_signals(pid);
    assert_eq!(ignored, expected, "{ignored:#x}");
    Passed
}

fn ignoring_sigkill_refused() -> Outcome {
    let fragments = ["invalid option", "signal 9 cannot be ignored"];
    let kill_ignored = Scenario {
        signals: vec![(Signal::KILL, Disposition::Ignore)],
        ..Scenario::default()
    };
    refused(kill_ignored, &fragments)
}

// ---------------------------------------------------------------------------------
// 6. Core dumps

/// The core limit of a daemon of `scenario` whose launcher had 1 MiB.
fn core_limit(scenario: Scenario) -> String {
    let t = Test::new();
    let scenario = Scenario {
        core_limit: Some(1048576),
        ..scenario
    };
    let pid = t.launch(scenario).start();
    Proc(pid).limit("Max core file size")
}

fn core_dumps_disabled() -> Outcome {
    assert_eq!(core_limit(Scenario::default()), "0 0");
    Passed
}

fn core_limit_kept_on_request() -> Outcome {
    let keep = Scenario {
        keep_core: true,
        ..Scenario::default()
    };
    assert_eq!(core_limit(keep), "1048576 1048576");
    Passed
}

// ---------------------------------------------------------------------------------
// 7. Privileges

const SETID: &str = "changing users and groups needs CAP_SETUID and CAP_SETGID";

/// A daemon that runs as `nobody`.
fn nobody() -> Scenario {
    Scenario {
        user: Some(NOBODY.into()),
        ..Scenario::default()
    }
}

/// Starts the daemon of `scenario` from a root launcher that has root's supplementary
/// groups (root, adm, sudo), and checks the daemon's uid, gid and groups.
fn assert_identity(scenario: Scenario, uid: u32, gid: u32, groups: &[u32]) {
    let t = Test::new();
    let scenario = Scenario {
        launcher_groups: Some(ROOT_GROUPS.to_vec()),
        ..scenario
    };
    let p = Proc(t.launch(scenario).start());
    assert_eq!(p.ids("Uid"), [uid; 4]);
    assert_eq!(p.ids("Gid"), [gid; 4]);
    assert_eq!(p.ids("Groups"), groups, "root's groups were 0, 4, 27");
}

fn user_drops_root_groups() -> Outcome {
    require_root!(SETID);
    let (uid, gid) = passwd_entry(NOBODY);
    assert_identity(nobody(), uid, gid, &initgroups(NOBODY, gid));
    Passed
}

/// Issue 12, item 4: with `drop_privileges_at_ready` the daemon is still root after
/// `start_pending` (its report says so), and runs as nobody, with nobody's groups and a
/// read-only pidfile descriptor only, once `ready` returned.
fn privileges_dropped_at_ready() -> Outcome {
    require_root!(SETID);
    let (uid, gid) = passwd_entry(NOBODY);
    let t = Test::new();
    let scenario = Scenario {
        call: StartPending,
        drop_at_ready: true,
        ..nobody()
    };
    let launched = t.launch(scenario).pidfile().spawn();
    let report = launched.report();
    launched.finish().assert_success();
    assert_eq!(report.get("euid"), 0, "dropped before ready");
    let p = Proc(report.pid());
    assert_eq!(p.ids("Uid"), [uid; 4]);
    assert_eq!(p.ids("Gid"), [gid; 4]);
    assert_eq!(p.ids("Groups"), initgroups(NOBODY, gid));
    for (fd, target) in p.fds() {
        if target == t.pidfile() {
            assert_eq!(p.fd_flags(fd) & libc::O_ACCMODE, libc::O_RDONLY, "fd {fd}");
        }
    }
    Passed
}

/// `drop_privileges_at_ready` gives only `start_pending` and `fork` a moment as root:
/// with `start` the drop comes at once, as without the option. (`start` used to defer
/// the drop and never make it: the daemon ran on as root.)
fn start_drops_at_once_with_drop_at_ready() -> Outcome {
    require_root!(SETID);
    let (uid, gid) = passwd_entry(NOBODY);
    let scenario = Scenario {
        call: Start,
        drop_at_ready: true,
        ..nobody()
    };
    assert_identity(scenario, uid, gid, &initgroups(NOBODY, gid));
    Passed
}

/// Starts `/bin/sleep MARKER` through `start` (exec or supervise) as nobody with
/// `drop_privileges_at_ready(true)`; the PID it returns.
fn start_sleep_as_nobody_deferred(
    t: &Test,
    start: impl FnOnce(
        daemonic::Daemon<'_>,
        &daemonic::Program<'_>,
    ) -> Result<daemonic::Pid, daemonic::Error>,
) -> i32 {
    let pidfile = std::ffi::CString::new(t.pidfile().to_str().unwrap()).unwrap();
    let marker = std::ffi::CString::new(t.marker.as_str()).unwrap();
    let args = [c"sleep", marker.as_c_str()];
    let program = daemonic::Program {
        path: c"/bin/sleep",
        args: &args,
        env: &[],
    };
    let daemon = daemonic::Daemon::new()
        .pidfile(pidfile.as_c_str())
        .user(NOBODY)
        .drop_privileges_at_ready(true);
    start(daemon, &program)
        .expect("the start")
        .as_raw_nonzero()
        .get()
}

/// The uid and gid lines of `pid` (real, effective, saved, filesystem).
fn ids_of(pid: i32) -> (Vec<u32>, Vec<u32>) {
    (Proc(pid).ids("Uid"), Proc(pid).ids("Gid"))
}

/// The same for `exec`: the program runs as the user from its first instruction.
/// (The steps deferred the drop, and nothing made it: the program ran as root.)
fn exec_drops_at_once_with_drop_at_ready() -> Outcome {
    require_root!(SETID);
    let (uid, gid) = passwd_entry(NOBODY);
    let t = Test::new();
    let pid = start_sleep_as_nobody_deferred(&t, |d, program| d.exec(program));
    let ids = ids_of(pid);
    kill(pid, libc::SIGKILL);
    assert_eq!(
        ids,
        (vec![uid; 4], vec![gid; 4]),
        "the program's uid and gid"
    );
    Passed
}

/// And for `supervise`: the monitor and the program it runs are the user's. (Both
/// ran as root.)
fn supervise_drops_at_once_with_drop_at_ready() -> Outcome {
    require_root!(SETID);
    let (uid, gid) = passwd_entry(NOBODY);
    let t = Test::new();
    let monitor = start_sleep_as_nobody_deferred(&t, |d, program| {
        d.supervise(program, daemonic::Supervision::new())
    });
    let child = wait_until("the monitor's program", || {
        support::proc::all_pids()
            .into_iter()
            .find(|&pid| Proc(pid).try_stat().is_some_and(|s| s.ppid == monitor))
            .ok_or_else(|| "none yet".to_string())
    });
    let (of_monitor, of_program) = (ids_of(monitor), ids_of(child));
    kill(monitor, libc::SIGTERM);
    support::wait::wait_gone(monitor);
    let nobody = (vec![uid; 4], vec![gid; 4]);
    assert_eq!(of_monitor, nobody, "the monitor's uid and gid");
    assert_eq!(of_program, nobody, "the program's uid and gid");
    Passed
}

/// Issue 12, item 4: a deferred drop that fails (a launcher that is not root cannot
/// become root's user) fails the start as a failed step would: the original process
/// names it, nothing is left, the pidfile is as it was.
fn a_failed_drop_at_ready_fails_the_start() -> Outcome {
    require_root!("it makes a launcher that is not root");
    let t = Test::new();
    let (uid, gid) = passwd_entry(NOBODY);
    // The launcher's own directory, for its pidfile.
    let dir = t.path("run");
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    let pidfile = dir.join("app.pid");
    let scenario = Scenario {
        call: StartPending,
        pidfile: Some(pidfile.clone()),
        user: Some("root".into()),
        launcher_uid: Some(uid),
        drop_at_ready: true,
        ..Scenario::default()
    };
    let launched = t.launch(scenario).spawn();
    let report = launched.report();
    assert_eq!(report.get("euid") as u32, uid);
    launched
        .finish()
        .assert_failure(3, &["cannot set", "Operation not permitted"]);
    assert!(!pidfile.exists(), "the pidfile was left");
    support::wait::wait_gone(report.pid());
    Passed
}

/// Issue 12, item 3: in the foreground the activated descriptor is kept, and so are
/// the variables, still true (`LISTEN_PID` is the daemon's: no fork), for the
/// daemon's own code: `daemonic::listen_fds` lists it with its name.
fn socket_activation_kept_in_the_foreground() -> Outcome {
    let t = Test::new();
    let scenario = Scenario {
        call: StartPending,
        detach: Some(Detach::Never),
        socket_activation: true,
        ..Scenario::default()
    };
    let launched = t.launch(scenario).spawn();
    let report = launched.report();
    let pid = report.pid();
    assert_eq!(report.field("listen"), "3:web");
    assert_eq!(report.field("listen_pid"), pid.to_string());
    assert_eq!(Proc(pid).fds()[&3], std::path::Path::new(DEV_NULL));
    kill(pid, libc::SIGKILL);
    let _ = launched.finish();
    Passed
}

/// Issue 12, item 3: `watchdog_interval` reads `WATCHDOG_USEC` only for the process
/// `WATCHDOG_PID` names (or when it names none), as sd_watchdog_enabled(3).
fn watchdog_interval_is_ours_only() -> Outcome {
    let me = std::process::id().to_string();
    let cases = [
        (
            Some("30000000"),
            Some(me.as_str()),
            Some(Duration::from_secs(30)),
        ),
        (Some("30000000"), None, Some(Duration::from_secs(30))),
        (Some("30000000"), Some("1"), None),
        (Some("0"), None, None),
        (Some("x"), None, None),
        (None, None, None),
    ];
    for (usec, pid, expected) in cases {
        for (name, value) in [("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)] {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
        assert_eq!(daemonic::watchdog_interval(), expected, "{usec:?} {pid:?}");
    }
    std::env::remove_var("WATCHDOG_USEC");
    Passed
}

fn user_and_group() -> Outcome {
    require_root!(SETID);
    let (uid, _) = passwd_entry(NOBODY);
    let (group, gid) = other_group();
    let with_group = Scenario {
        group: Some(group),
        ..nobody()
    };
    assert_identity(with_group, uid, gid, &initgroups(NOBODY, gid));
    Passed
}

/// A group but no user: root stays root, but only with that group.
fn group_only_as_root() -> Outcome {
    require_root!(SETID);
    let (group, gid) = other_group();
    let group_only = Scenario {
        group: Some(group),
        ..Scenario::default()
    };
    assert_identity(group_only, 0, gid, &[gid]);
    Passed
}

fn supplementary_groups_list() -> Outcome {
    require_root!(SETID);
    let (uid, gid) = passwd_entry(NOBODY);
    let list = Scenario {
        groups: Some(vec![4321, 1234]),
        ..nobody()
    };
    assert_identity(list, uid, gid, &[1234, 4321]);
    let empty = Scenario {
        groups: Some(vec![]),
        ..nobody()
    };
    assert_identity(empty, uid, gid, &[]);
    Passed
}

// ---------------------------------------------------------------------------------
// 8-10. The pidfile

/// When the launcher exits 0 the pidfile already names the live daemon, as
/// `"<pid>\n"`, with mode 0644 despite the launcher's umask 077.
fn pidfile_written_before_launcher_exits() -> Outcome {
    let t = Test::new();
    let out = t.launch(Start).pidfile().run();
    // Read once, at once: systemd's Type=forking reads it at this moment.
    let content = fs::read_to_string(t.pidfile());
    out.assert_success();
    let content = content.expect("no pidfile when the launcher exited");
    let pid: i32 = content.trim_end().parse().unwrap();
    assert_eq!(content, format!("{pid}\n"));
    assert!(Proc(pid).alive(), "the pidfile names a dead process");
    assert_eq!(
        t.live_processes(),
        [pid],
        "the pidfile names another process"
    );
    // Nobody but its owner may open it, so nobody else can lock it.
    assert_eq!(mode_of(&t.pidfile()), 0o600);
    Passed
}

/// A stale pidfile with a longer PID is truncated, not overwritten in place.
fn pidfile_longer_stale_content_replaced() -> Outcome {
    let t = Test::new();
    write_pidfile(&t, "12769999999\n", 0o644);
    let pid = t.launch(Start).pidfile().start();
    assert_eq!(fs::read_to_string(t.pidfile()).unwrap(), format!("{pid}\n"));
    Passed
}

/// A second start while the daemon runs: exit 1, "already running (pid N", the
/// pidfile untouched, no second daemon.
fn second_start_already_running() -> Outcome {
    let t = Test::new();
    let pid = t.launch(Start).pidfile().start();
    let before = file_state(&t.pidfile());
    let out = t.launch(Start).pidfile().run();
    out.assert_failure(1, &[&format!("already running (pid {pid}")]);
    assert_eq!(file_state(&t.pidfile()), before);
    assert_eq!(t.live_processes(), [pid]);
    Passed
}

/// After the daemon is killed (its lock gone with it), a new start reuses the pidfile.
fn stale_pidfile_reused() -> Outcome {
    let t = Test::new();
    let old = t.launch(Start).pidfile().start();
    kill(old, libc::SIGKILL);
    wait_until("the killed daemon to die", || match Proc(old).alive() {
        true => Err("alive".to_owned()),
        false => Ok(()),
    });
    let new = t.launch(Start).pidfile().start();
    assert_ne!(new, old);
    assert_eq!(pidfile_pid(&t.pidfile()), new);
    assert!(Proc(new).alive());
    Passed
}

// ---------------------------------------------------------------------------------
// 11-12. Failures, reported by the launcher with nothing left behind

/// A failure after the fork (chdir runs in the daemon): a stale pidfile is put back.
fn fail_missing_working_directory() -> Outcome {
    let t = Test::new();
    write_pidfile(&t, "4242\n", 0o644);
    let missing = Scenario {
        workdir: Some("/nonexistent".into()),
        ..Scenario::default()
    };
    let launch = t.launch(missing).pidfile();
    assert_refused(
        &t,
        launch,
        &[
            "cannot change directory to /nonexistent",
            "No such file or directory",
        ],
    );
    Passed
}

fn fail_unknown_user() -> Outcome {
    let unknown = Scenario {
        user: Some("nosuchuser".into()),
        ..Scenario::default()
    };
    refused(unknown, &["unknown user nosuchuser"])
}

fn fail_pidfile_directory_missing() -> Outcome {
    let missing = Scenario {
        pidfile: Some("/nonexistent/app.pid".into()),
        ..Scenario::default()
    };
    refused(missing, &["cannot open pidfile /nonexistent/app.pid"])
}

/// A launcher that may not create files in the pidfile's directory (read-only, mode
/// 0555; as root, the helper first becomes `nobody`, for whom root's permission
/// checks apply).
fn fail_pidfile_directory_unwritable() -> Outcome {
    let t = Test::new();
    let dir = t.path("ro");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let pidfile = dir.join("app.pid");
    let unwritable = Scenario {
        pidfile: Some(pidfile.clone()),
        launcher_uid: is_root().then(|| passwd_entry(NOBODY).0),
        ..Scenario::default()
    };
    let opening = format!("cannot open pidfile {}", pidfile.display());
    assert_refused(&t, t.launch(unwritable), &[&opening, "Permission denied"]);
    assert!(!pidfile.exists());
    Passed
}

/// A symlink planted at the pidfile path is refused; its target is not written.
fn fail_pidfile_symlink() -> Outcome {
    let t = Test::new();
    let victim = t.path("victim");
    fs::write(&victim, "precious\n").unwrap();
    symlink(&victim, t.pidfile()).unwrap();
    let launch = t.launch(Start).pidfile();
    assert_refused(&t, launch, &["refusing pidfile", "symbolic link"]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    Passed
}

/// A FIFO at the pidfile path is refused, without hanging on its open.
fn fail_pidfile_fifo() -> Outcome {
    let t = Test::new();
    let path = std::ffi::CString::new(t.pidfile().display().to_string()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    let launch = t.launch(Start).pidfile();
    assert_refused(&t, launch, &["refusing pidfile", "not a regular file"]);
    Passed
}

fn fail_pidfile_world_writable() -> Outcome {
    let t = Test::new();
    write_pidfile(&t, "4242\n", 0o666);
    let launch = t.launch(Start).pidfile();
    assert_refused(&t, launch, &["refusing pidfile", "is writable by others"]);
    Passed
}

fn fail_chroot_missing() -> Outcome {
    refused(
        Scenario {
            chroot: Some("/nonexistent".into()),
            ..Scenario::default()
        },
        &["cannot change root to /nonexistent"],
    )
}

fn fail_nul_in_path() -> Outcome {
    let fragments = ["invalid option", "working directory contains a NUL byte"];
    let nul = Scenario {
        workdir: Some("/tmp\0x".into()),
        ..Scenario::default()
    };
    refused(nul, &fragments)
}

fn fail_multithreaded() -> Outcome {
    refused(
        Scenario {
            thread: true,
            ..Scenario::default()
        },
        &["refusing to fork a process with 2 threads"],
    )
}

// ---------------------------------------------------------------------------------
// 13. Readiness

/// The launcher exits only once the daemon reports ready.
fn ready_waits_for_daemon() -> Outcome {
    let t = Test::new();
    let marker = t.path("marker");
    let slow = Scenario {
        call: StartPending,
        delay: Some(Duration::from_millis(300)),
        marker: Some(marker.clone()),
        ..Scenario::default()
    };
    let out = t.launch(slow).pidfile().run();
    let marked = marker.exists();
    out.assert_success();
    assert!(marked, "the launcher exited before the daemon was ready");
    assert!(
        out.elapsed >= Duration::from_millis(250),
        "{:?}",
        out.elapsed
    );
    Passed
}

/// A start where the daemon ran but did not become ready (it did `then`): the
/// launcher fails with `code` and `fragments`, the daemon is gone, and the stale
/// pidfile is put back.
fn assert_daemon_failed(then: Then, extra: Scenario, code: i32, fragments: &[&str]) {
    let t = Test::new();
    write_pidfile(&t, "4242\n", 0o644);
    let before = file_state(&t.pidfile());
    let scenario = Scenario {
        call: StartPending,
        then,
        ..extra
    };
    let launched = t.launch(scenario).pidfile().spawn();
    let daemon = launched.report().pid();
    launched.finish().assert_failure(code, fragments);
    assert_nothing_left(&t, &before);
    assert!(!Proc(daemon).alive());
}

fn pending_fail_reports_code() -> Outcome {
    let fragments = ["reported failure (code 4)"];
    assert_daemon_failed(Then::Fail(4), Scenario::default(), 4, &fragments);
    Passed
}

fn pending_dropped_reports_death() -> Outcome {
    let fragments = ["exited before reporting"];
    assert_daemon_failed(Then::Drop, Scenario::default(), 3, &fragments);
    Passed
}

fn readiness_timeout_kills_daemon() -> Outcome {
    let timeout = Scenario {
        timeout: Some(Duration::from_millis(300)),
        ..Scenario::default()
    };
    assert_daemon_failed(Then::Hang, timeout, 3, &["not ready within", "killed"]);
    Passed
}

// ---------------------------------------------------------------------------------
// 14. fork()

/// `fork()` returns `Fork::Parent(pid)` in the original process, which goes on (here:
/// prints the PID and exits 0).
fn fork_returns_in_parent() -> Outcome {
    let t = Test::new();
    let launched = t.launch(Fork).pidfile().spawn();
    let report = launched.report();
    let out = launched.finish();
    out.assert_success();
    let pid: i32 = out.stdout.trim().parse().unwrap();
    assert_eq!(pid, report.pid());
    assert_eq!(pidfile_pid(&t.pidfile()), pid);
    assert!(Proc(pid).alive());
    Passed
}

// ---------------------------------------------------------------------------------
// 15. No allocation between fork and return

/// With a full configuration (as root: a user change and a chroot too), nothing is
/// allocated between the fork and the return in the daemon: neither in the
/// intermediate process before it forks the daemon, nor in the daemon (see
/// `support/allocs.rs`; no atfork handler is involved).
fn no_allocation_after_fork() -> Outcome {
    let t = Test::new();
    if is_root() {
        // The log is opened as the daemon's user would be allowed to: it must be
        // theirs (root's directory is not). 65534: nobody in Debian's /etc/passwd.
        fs::write(t.path("out.log"), "").unwrap();
        std::os::unix::fs::chown(t.path("out.log"), Some(65534), Some(65534)).unwrap();
    }
    let full = Scenario {
        call: StartPending,
        stdout: Some(t.path("out.log")),
        umask: Some(0o027),
        preserve: Some(7),
        user: is_root().then(|| NOBODY.into()),
        ..Scenario::default()
    };
    let mut launch = t.launch(full).pidfile();
    if is_root() {
        launch = launch.chroot(&t.jail());
    }
    let launched = launch.spawn();
    let launcher = launched.pid();
    let report = launched.report();
    launched.finish().assert_success();
    let (before, after) = (report.get("before"), report.get("after"));
    // The counter must be live, counting forked processes, and the daemon one of them,
    // or its 0 proves nothing.
    assert!(before > 0, "the allocation counter counted nothing");
    assert_eq!(
        report.get("launcher") as i32,
        launcher,
        "the launcher's PID"
    );
    assert_ne!(report.pid(), launcher, "the daemon was not forked");
    assert_eq!(
        report.get("probe"),
        1,
        "an allocation in the daemon was not counted"
    );
    assert_eq!(
        report.get("forked"),
        0,
        "allocations between fork and return (whole call: {})",
        after - before
    );
    Passed
}

// ---------------------------------------------------------------------------------
// 16. Foreground

/// A helper meant to become the daemon itself: its report says so, it is still the
/// runner's child (no fork), and it holds only the pidfile besides /dev/null.
fn assert_foreground(t: &Test, launched: Launched<'_>) {
    let pid = launched.report().pid();
    assert_eq!(pid, launched.pid(), "the daemon is not the helper process");
    assert_eq!(Proc(pid).stat().ppid, runner_pid());
    assert_eq!(pidfile_pid(&t.pidfile()), pid);
    assert_pidfile_fds_only(t, pid);
    assert_eq!(ignored_signals(pid), JOB_CONTROL);
}

/// A pending daemon with this `detach`.
fn detach(detach: Detach) -> Scenario {
    Scenario {
        call: StartPending,
        detach: Some(detach),
        ..Scenario::default()
    }
}

fn foreground_never() -> Outcome {
    let t = Test::new();
    let launched = t.launch(detach(Detach::Never)).pidfile().spawn();
    assert_foreground(&t, launched);
    Passed
}

/// `Detach::Auto` with a socket on stdin (as under inetd) stays in the foreground.
fn foreground_auto_with_socket_stdin() -> Outcome {
    let t = Test::new();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let launched = t
        .launch(detach(Detach::Auto))
        .pidfile()
        .stdin(std::os::fd::OwnedFd::from(theirs))
        .spawn();
    assert_foreground(&t, launched);
    // Our end stays open until here, so stdin is a connected socket throughout.
    drop(ours);
    Passed
}

/// `Detach::Auto` under a parent that is not init, stdin not a socket: detaches.
fn auto_detaches_otherwise() -> Outcome {
    let t = Test::new();
    let launched = t.launch(detach(Detach::Auto)).pidfile().spawn();
    let launcher = launched.pid();
    let pid = launched.report().pid();
    launched.finish().assert_success();
    assert_ne!(pid, launcher);
    assert_eq!(pidfile_pid(&t.pidfile()), pid);
    Passed
}

// ---------------------------------------------------------------------------------
// 17. Closing descriptors when close_range is denied

/// The launcher's seccomp filter makes `close_range` fail with EPERM.
fn deny_close_range(nofile: Option<u64>) -> Scenario {
    Scenario {
        deny_close_range: true,
        nofile,
        ..Scenario::default()
    }
}

/// The `/proc/self/fd` walk closes the leaked descriptors.
fn close_range_denied_walks_proc() -> Outcome {
    require_x86_64!();
    let t = Test::new();
    let pid = t.launch(deny_close_range(None)).pidfile().start();
    assert_pidfile_fds_only(&t, pid);
    Passed
}

/// In a chroot without `/proc`, the loop up to the soft `RLIMIT_NOFILE` (4096 here,
/// above the leaked 250) closes them.
fn close_range_denied_without_proc() -> Outcome {
    require_root!("chroot needs CAP_SYS_CHROOT");
    require_x86_64!();
    let t = Test::new();
    let pid = t
        .launch(deny_close_range(Some(4096)))
        .pidfile()
        .chroot(&t.jail())
        .start();
    // With a chroot the directory stays open too, to find the pidfile again.
    let dir = t.dir.display().to_string();
    assert_descriptors(pid, [DEV_NULL; 3], &[&dir, &pidfile_fd(&t)]);
    Passed
}

// ---------------------------------------------------------------------------------
// 18. The scenario's encoding

/// A helper told something its `Scenario` does not have, or a value of the wrong
/// kind, refuses to run (exit 99, the reason on stderr) rather than ignore it.
fn scenario_typos_are_refused() -> Outcome {
    let t = Test::new();
    for (text, reason) in [
        ("pidfle=/tmp/x.pid\n", "unknown key \"pidfle\""),
        ("umask=0o27\n", "invalid digit"),
        ("keep_core=1\n", "provided string was not `true` or `false`"),
        ("detach=sometimes\n", "no Detach \"sometimes\""),
        ("signals=9:ignor\n", "no disposition \"ignor\""),
        ("timeout=0.3\n", "not nine digits of nanoseconds"),
        ("user=a\nuser=b\n", "user given twice"),
        ("workdir=/tmp\\x\n", "bad escape"),
        ("no equals sign\n", "not a key=value line"),
    ] {
        let mut cmd = t.command(std::env::current_exe().unwrap());
        cmd.env(support::scenario::VAR, text);
        let out = run_with_limit(cmd, DEADLINE);
        assert_eq!(out.code, Some(99), "{text:?}: {out:#?}");
        assert!(
            out.stderr.starts_with("helper: DAEMONIC_SCENARIO: ") && out.stderr.contains(reason),
            "{text:?}: {out:#?}"
        );
    }
    Passed
}
