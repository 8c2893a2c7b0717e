//! Black-box tests of `daemonic start --supervise`: the daemon stays resident as the
//! program's *monitor* (the pidfile names it, it holds the pidfile's lock, the program
//! is its child), forwards signals, reaps and stops what the program leaves behind
//! (as a child subreaper, or as PID 1 of a PID namespace), restarts the program with a
//! growing pause, and enforces the readiness timeout on every run. Like `cli.rs`, each
//! test spawns the built command and reads the effects from `/proc`; each has its own
//! directory, pidfile and marker (see `support/test.rs`), so they run in parallel.

mod support {
    pub mod cli;
    pub mod files;
    pub mod output;
    pub mod proc;
    pub mod test;
    pub mod wait;
}

use support::cli::{invocation, skip_unless_root, SD_NOTIFY_SEND};
use support::files::{find_tool, is_locked, pidfile_pid};
use support::output::{run_with_limit, Output, Spawned};
use support::proc::{all_pids, zombie_children, Proc};
use support::test::Test;
use support::wait::{kill, wait_for, wait_gone, wait_until, DEADLINE};

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The readiness descriptor of the tests; `sh` (dash) redirects single digits only.
const NOTIFY_FD: &str = "5";

// --- the monitor holds the service ---------------------------------------------------

/// Without `--supervise` the program holds the pidfile's lock, so closing its
/// descriptors would end the service's protection; under a monitor it changes nothing.
#[test]
fn a_program_that_closes_every_descriptor_stays_supervised() {
    let t = Test::new();
    let program =
        t.script("for fd in 0 1 2 3 4 5 6 7 8 9; do eval \"exec $fd>&-\"; done; exec sleep \"$0\"");
    let monitor = supervise(&t, &[], &program);
    let pid = program_of(&t, monitor, "sleep");
    wait_until("the program to close its descriptors 0 to 9", || {
        let fds = Proc(pid).fds();
        if fds.keys().any(|&fd| (0..=9).contains(&fd)) {
            Err(format!("open: {fds:?}"))
        } else {
            Ok(())
        }
    });
    assert!(is_locked(&t.pidfile()), "the pidfile's lock was released");
    let out = status_of(&t);
    out.code(0).no_stderr();
    assert_eq!(out.stdout, format!("running (pid {monitor})\n"));

    let out = t.start(&["--supervise"], &t.pidfile(), &t.sleep());
    out.code(1)
        .one_error_line(&format!("already running (pid {monitor}"))
        .no_stdout();
    assert_eq!(
        pidfile_pid(&t.pidfile()),
        monitor,
        "a refused start touched the pidfile"
    );

    stop_service(&t, monitor);
}

#[test]
fn the_program_gets_no_pidfile_descriptor_and_is_the_monitors_child_in_its_own_group() {
    let t = Test::new();
    let monitor = supervise(&t, &[], &t.sleep());
    let pid = program_of(&t, monitor, "/bin/sleep");
    assert_ne!(pid, monitor, "the pidfile names the program, not a monitor");
    assert!(is_locked(&t.pidfile()), "nobody holds the pidfile's lock");

    let env = Proc(pid).environ();
    assert!(
        !env.iter().any(|e| e.starts_with("DAEMONIC_PIDFILE_FD=")),
        "the program was told of a pidfile descriptor: {env:?}"
    );
    let pidfile = t.pidfile();
    let fds = Proc(pid).fds();
    assert!(
        !fds.values().any(|target| *target == pidfile),
        "a descriptor of the program links to the pidfile: {fds:?}"
    );

    let stat = Proc(pid).stat();
    assert_eq!(
        stat.ppid, monitor,
        "the program's parent is not the monitor"
    );
    assert_eq!(stat.pgrp, pid, "the program is not its own process group");
    assert_ne!(
        Proc(monitor).stat().pgrp,
        pid,
        "the monitor is in the program's process group"
    );

    stop_service(&t, monitor);
}

// --- what the program leaves behind ------------------------------------------------

/// One worker stays in the program's process group, the other leaves it (`setsid`):
/// the stop must reach both, not only the group.
#[test]
fn workers_a_program_abandons_are_the_monitors_and_are_stopped_with_it() {
    let t = Test::new();
    let setsid = find_tool("setsid").expect("setsid(1) (util-linux) is needed");
    let program = t.script(&format!(
        "sleep \"$0\" & {} sleep \"$0\" & exit 0",
        quoted(&setsid)
    ));
    let monitor = supervise(&t, &[], &program);
    let workers = wait_until("two workers adopted by the monitor", || {
        let children = live_children(monitor);
        let workers: Vec<i32> = children
            .iter()
            .copied()
            .filter(|&c| runs(c, "sleep", &t.marker))
            .collect();
        if workers.len() == 2 && children.len() == 2 {
            Ok(workers)
        } else {
            Err(describe(&children))
        }
    });
    for &w in &workers {
        t.learn(w);
    }
    let groups: Vec<i32> = workers.iter().map(|&w| Proc(w).stat().pgrp).collect();
    assert_ne!(
        groups[0], groups[1],
        "setsid did not take a worker out of the group"
    );
    assert!(Proc(monitor).alive(), "the monitor left with workers alive");
    // The service runs on while its workers do; the program's exit is on record.
    assert_status_becomes(
        &t,
        &format!(
            "running (pid {monitor}; 0 restarts, the last run exited 0; \
             the program is not running)\n"
        ),
    );

    stop_service(&t, monitor);
    for w in workers {
        assert!(!Proc(w).alive(), "worker {w} survived the stop");
    }
}

#[test]
fn the_monitor_exits_once_the_last_adopted_worker_is_gone() {
    let t = Test::new();
    let program = t.script("sleep \"$0\" & exit 0");
    let monitor = supervise(&t, &[], &program);
    let worker = wait_until(
        "the worker adopted by the monitor",
        || match live_children(monitor)[..] {
            [w] if runs(w, "sleep", &t.marker) => Ok(w),
            ref other => Err(describe(other)),
        },
    );
    t.learn(worker);
    status_of(&t).code(0);
    kill(worker, libc::SIGKILL);
    wait_gone(monitor);
    assert!(!t.pidfile().exists(), "the monitor left its pidfile");
    let out = status_of(&t);
    out.code(3).no_stderr();
    assert_eq!(out.stdout, "not running\n");
}

// --- signals -----------------------------------------------------------------------

#[test]
fn signals_sent_to_the_monitor_reach_the_program() {
    let t = Test::new();
    let log = t.path("signals");
    let ready = t.path("ready");
    let program = t.script(&format!(
        "trap 'echo hup >> {log}' HUP; trap 'echo usr1 >> {log}' USR1; \
         trap 'echo usr2 >> {log}' USR2; trap 'echo alrm >> {log}' ALRM; \
         trap 'echo winch >> {log}' WINCH; trap 'echo pwr >> {log}' PWR; \
         : > {ready}; while :; do sleep 0.1; done",
        log = quoted(&log),
        ready = quoted(&ready),
    ));
    let monitor = supervise(&t, &[], &program);
    let pid = program_of(&t, monitor, "/bin/sh");
    wait_until("the program to set its traps", || {
        ready.exists().then_some(()).ok_or_else(|| "no".into())
    });
    let mut expected: Vec<String> = Vec::new();
    for (signal, line) in [
        (libc::SIGHUP, "hup"),
        (libc::SIGUSR1, "usr1"),
        (libc::SIGUSR2, "usr2"),
        (libc::SIGALRM, "alrm"),
        (libc::SIGWINCH, "winch"),
        (libc::SIGPWR, "pwr"),
    ] {
        kill(monitor, signal);
        expected.push(line.to_owned());
        wait_until(&format!("the program to get {line}"), || {
            let seen = lines_of(&log);
            (seen == expected).then_some(()).ok_or(format!("{seen:?}"))
        });
        assert!(Proc(monitor).alive(), "{line} ended the monitor");
    }
    assert!(Proc(pid).alive(), "the program died of a trapped signal");
    // `stop`'s own signal, whichever it is, is the program's too.
    let out = t.run([
        OsString::from("stop"),
        "--pidfile".into(),
        t.pidfile().into(),
        "--signal".into(),
        "ALRM".into(),
    ]);
    out.code(0).no_stderr();
    expected.push("alrm".to_owned());
    wait_until("the program to get stop's ALRM", || {
        let seen = lines_of(&log);
        (seen == expected).then_some(()).ok_or(format!("{seen:?}"))
    });
    assert!(
        Proc(monitor).alive(),
        "stop --signal ALRM ended the monitor"
    );
    stop_service(&t, monitor);
}

/// A worker the program keeps in its process group gets forwarded signals only with
/// `--forward-to-group` (tini's `-g`); without it, the program alone does.
#[test]
fn forward_to_group_reaches_the_programs_workers() {
    for (options, expected) in [
        (&["--forward-to-group"][..], &["main", "worker"][..]),
        (&[][..], &["main"][..]),
    ] {
        let t = Test::new();
        let log = t.path("signals");
        let ready = t.path("ready");
        let program = t.script(&format!(
            "(trap 'echo worker >> {log}' USR1; : > {ready}; while :; do sleep 0.05; done) & \
             trap 'echo main >> {log}' USR1; while [ ! -e {ready} ]; do sleep 0.05; done; \
             : > {ready}.main; while :; do sleep 0.05; done",
            log = quoted(&log),
            ready = quoted(&ready),
        ));
        let monitor = supervise(&t, options, &program);
        let main_ready = t.path("ready.main");
        wait_until("both traps set", || {
            main_ready.exists().then_some(()).ok_or_else(|| "no".into())
        });
        kill(monitor, libc::SIGUSR1);
        wait_until(&format!("{expected:?} to get USR1"), || {
            let mut seen = lines_of(&log);
            seen.sort();
            (seen == expected).then_some(()).ok_or(format!("{seen:?}"))
        });
        // Nothing more arrives late.
        std::thread::sleep(Duration::from_millis(200));
        let mut seen = lines_of(&log);
        seen.sort();
        assert_eq!(seen, expected, "with {options:?}");
        stop_service(&t, monitor);
    }
}

// --- exit status and PID 1 ---------------------------------------------------------

/// In the foreground the command is the monitor: its exit status is the program's.
#[test]
fn a_foreground_monitor_exits_with_the_programs_status() {
    let t = Test::new();
    for (body, code) in [("exit 7", 7), ("kill -USR1 $$", 128 + libc::SIGUSR1)] {
        let out = t.start(
            &["--foreground", "--supervise"],
            &t.pidfile(),
            &t.script(body),
        );
        assert_eq!(out.code, Some(code), "{body}: {out:#?}");
        assert!(!t.pidfile().exists(), "{body}: the pidfile was left");
    }
    t.assert_none_left(Duration::from_secs(2));
}

#[test]
fn as_pid_1_of_a_pid_namespace_it_reaps_orphans_and_forwards_sigterm() {
    let name = "as_pid_1_of_a_pid_namespace_it_reaps_orphans_and_forwards_sigterm";
    let Some(unshare) = pid_namespaces(name) else {
        return;
    };
    let t = Test::new();
    let done = t.path("orphans");
    let program = t.script(&format!(
        "for i in $(seq 50); do ( {{ sleep 0.2; echo >> {done}; }} & ); done; exec sleep \"$0\"",
        done = quoted(&done),
    ));
    let spawned = Spawned::spawn(in_pid_namespace(&t, &unshare, &[], &program));
    let unshare_pid = spawned.pid();
    let monitor = wait_until("the monitor in the namespace", || {
        match live_children(unshare_pid)[..] {
            [m] if t.owns(m) => Ok(m),
            ref other => Err(describe(other)),
        }
    });
    t.learn(monitor);
    let nspid = Proc(monitor).status("NSpid");
    assert!(
        nspid.ends_with("\t1"),
        "the monitor is not PID 1 of its namespace: {nspid:?}"
    );
    let pid = program_of(&t, monitor, "sleep");
    assert_eq!(
        pidfile_pid(&t.pidfile()),
        1,
        "the pidfile does not name the namespace's PID 1"
    );

    wait_until("the 50 orphans to finish", || {
        let n = lines_of(&done).len();
        (n == 50).then_some(()).ok_or(format!("{n} finished"))
    });
    wait_until("the orphans to be reaped", || {
        let zombies = zombie_children(monitor);
        let children = children_of(monitor);
        if zombies.is_empty() && children == [pid] {
            Ok(())
        } else {
            Err(format!("zombies {zombies:?}, children {children:?}"))
        }
    });
    assert!(
        zombie_children(pid).is_empty(),
        "the orphans stayed the program's"
    );

    kill(monitor, libc::SIGTERM);
    let out = spawned.finish_within(DEADLINE).unwrap();
    out.code(128 + libc::SIGTERM);
    assert!(!t.pidfile().exists(), "the pidfile was left");
    t.assert_none_left(Duration::from_secs(2));
}

#[test]
fn as_pid_1_of_a_pid_namespace_it_exits_with_the_programs_code() {
    let name = "as_pid_1_of_a_pid_namespace_it_exits_with_the_programs_code";
    let Some(unshare) = pid_namespaces(name) else {
        return;
    };
    let t = Test::new();
    let out = run_with_limit(
        in_pid_namespace(&t, &unshare, &[], &t.script("exit 7")),
        DEADLINE,
    );
    out.code(7);
    assert!(!t.pidfile().exists(), "the pidfile was left");
    t.assert_none_left(Duration::from_secs(2));
}

/// The restart policy holds for PID 1 too (a container's entrypoint that restarts
/// its service).
#[test]
fn as_pid_1_of_a_pid_namespace_it_restarts_a_failed_program() {
    let name = "as_pid_1_of_a_pid_namespace_it_restarts_a_failed_program";
    let Some(unshare) = pid_namespaces(name) else {
        return;
    };
    let t = Test::new();
    let runs = t.path("runs");
    let program = t.script(&format!("echo run >> {}; exit 1", quoted(&runs)));
    let options = ["--restart", "on-failure", "--restart-delay", "0.1"];
    let spawned = Spawned::spawn(in_pid_namespace(&t, &unshare, &options, &program));
    let unshare_pid = spawned.pid();
    let ran = wait_until("a restart in the namespace", || {
        let lines = lines_of(&runs);
        let monitor = live_children(unshare_pid);
        match monitor[..] {
            [m] if lines.len() >= 2 => Ok(m),
            _ => Err(format!("runs {lines:?}, monitor {}", describe(&monitor))),
        }
    });
    kill(ran, libc::SIGTERM);
    let out = spawned.finish_within(DEADLINE).unwrap();
    assert!(!t.pidfile().exists(), "the pidfile was left: {out:#?}");
    t.assert_none_left(Duration::from_secs(2));
}

// --- restarts ------------------------------------------------------------------------

#[test]
fn restart_on_failure_pauses_longer_each_time_and_stop_ends_a_pause_at_once() {
    let t = Test::new();
    let runs = t.path("runs");
    let program = t.script(&format!("date +%s.%N >> {}; exit 1", quoted(&runs)));
    let monitor = supervise(
        &t,
        &["--restart", "on-failure", "--restart-delay", "0.2"],
        &program,
    );
    let stamps = wait_until("4 runs", || {
        let lines = lines_of(&runs);
        if lines.len() >= 4 {
            Ok(lines)
        } else {
            Err(format!("{lines:?}"))
        }
    });
    let times: Vec<f64> = stamps
        .iter()
        .map(|s| s.parse().unwrap_or_else(|_| panic!("bad stamp {s:?}")))
        .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).take(3).collect();
    for pair in gaps.windows(2) {
        assert!(
            pair[1] >= pair[0] * 1.5,
            "the pause did not grow (gaps between runs: {gaps:?} s)"
        );
    }

    // In the pause after the 4th run (1.6 s): the stop must not wait for its end.
    wait_until("the 4th run to end", || {
        let children = live_children(monitor);
        children.is_empty().then_some(()).ok_or(describe(&children))
    });
    let before = lines_of(&runs).len();
    let out = stop(&t);
    out.code(0).no_stderr();
    let start = Instant::now();
    wait_for(
        "the monitor to stop in its pause at once",
        Duration::from_secs(1),
        || {
            (!Proc(monitor).alive())
                .then_some(())
                .ok_or(format!("alive {:?} after the stop", start.elapsed()))
        },
    );
    assert_eq!(
        lines_of(&runs).len(),
        before,
        "the program ran again after the stop"
    );
    assert!(!t.pidfile().exists(), "the pidfile was left");
    t.assert_none_left(Duration::from_secs(2));
}

#[test]
fn without_restart_or_with_restart_never_a_failing_program_runs_once() {
    for options in [&[][..], &["--restart", "never"]] {
        let t = Test::new();
        let (monitor, runs) = run_once(&t, options, 1);
        wait_gone(monitor);
        assert_eq!(lines_of(&runs), ["run"], "{options:?}");
        assert!(!t.pidfile().exists(), "{options:?}: the pidfile was left");
        // The monitor removed its pidfile: not "stale" (1) but "not running" (3).
        let out = status_of(&t);
        out.code(3).no_stderr();
        assert_eq!(out.stdout, "not running\n");
        t.assert_none_left(Duration::from_secs(2));
    }
}

#[test]
fn restart_on_failure_ignores_a_clean_exit_and_restart_always_does_not() {
    let t = Test::new();
    let (monitor, runs) = run_once(
        &t,
        &["--restart", "on-failure", "--restart-delay", "0.1"],
        0,
    );
    wait_gone(monitor);
    assert_eq!(lines_of(&runs), ["run"], "on-failure restarted exit 0");
    assert!(!t.pidfile().exists());

    let t = Test::new();
    let runs = t.path("runs");
    let program = t.script(&format!("echo run >> {}; exit 0", quoted(&runs)));
    let monitor = supervise(
        &t,
        &["--restart", "always", "--restart-delay", "0.1"],
        &program,
    );
    wait_until("always to restart after exit 0", || {
        let lines = lines_of(&runs);
        (lines.len() >= 2).then_some(()).ok_or(format!("{lines:?}"))
    });
    stop_service(&t, monitor);
}

/// The pidfile's second line, written by the monitor, tells `status` how the runs went;
/// its first line still names the monitor.
#[test]
fn status_shows_the_restarts_and_how_the_last_run_ended() {
    let t = Test::new();
    let runs = t.path("runs");
    let program = t.script(&format!(
        "echo run >> {runs}; n=$(wc -l < {runs}); \
         case $n in 1|2) exit 3;; 3) kill -KILL $$;; esac; exec sleep \"$0\"",
        runs = quoted(&runs),
    ));
    let monitor = supervise(
        &t,
        &["--restart", "on-failure", "--restart-delay", "0.1"],
        &program,
    );
    program_of(&t, monitor, "sleep");
    // The monitor records a restart once its exec is known to have worked.
    assert_status_becomes(
        &t,
        &format!("running (pid {monitor}; 3 restarts, the last run was killed by signal 9)\n"),
    );
    assert_eq!(pidfile_pid(&t.pidfile()), monitor);
    stop_service(&t, monitor);

    let t = Test::new();
    let program = t.script("exit 3");
    let monitor = supervise(
        &t,
        &["--restart", "on-failure", "--restart-delay", "10"],
        &program,
    );
    assert_status_becomes(
        &t,
        &format!(
            "running (pid {monitor}; 0 restarts, the last run exited 3; \
             the program is not running)\n"
        ),
    );
    stop_service(&t, monitor);

    // A restarted run is "starting" until it reports readiness.
    let t = Test::new();
    let first = t.path("first");
    let go = t.path("go");
    let program = t.script(&format!(
        "if [ ! -e {first} ]; then : > {first}; echo >&{NOTIFY_FD}; exit 1; fi; \
         while [ ! -e {go} ]; do sleep 0.05; done; echo >&{NOTIFY_FD}; exec sleep \"$0\"",
        first = quoted(&first),
        go = quoted(&go),
    ));
    let options = [
        "--notify-fd",
        NOTIFY_FD,
        "--timeout",
        "60",
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.1",
    ];
    let monitor = supervise(&t, &options, &program);
    assert_status_becomes(
        &t,
        &format!(
            "running (pid {monitor}; 1 restart, the last run exited 1; the program is starting)\n"
        ),
    );
    fs::write(&go, "").unwrap();
    assert_status_becomes(
        &t,
        &format!("running (pid {monitor}; 1 restart, the last run exited 1)\n"),
    );
    stop_service(&t, monitor);
}

// --- readiness -------------------------------------------------------------------------

#[test]
fn a_supervised_program_not_ready_in_time_fails_the_start() {
    let t = Test::new();
    let out = t.start(
        &["--supervise", "--notify-fd", NOTIFY_FD, "--timeout", "0.3"],
        &t.pidfile(),
        &t.sleep(),
    );
    out.code(3).one_error_line("not ready within");
    assert!(
        !t.pidfile().exists(),
        "the pidfile of a failed start is left"
    );
    t.assert_none_left(Duration::from_secs(5));
}

/// The first run is ready (so the start succeeds), then fails; every later run never
/// becomes ready: only the monitor's own timeout can end it and bring the next run.
#[test]
fn the_monitor_enforces_the_readiness_timeout_after_a_restart() {
    let t = Test::new();
    let first = t.path("first");
    let later = t.path("later");
    let program = t.script(&format!(
        "if [ ! -e {first} ]; then : > {first}; echo >&{NOTIFY_FD}; sleep 0.3; exit 1; fi; \
         date +%s.%N >> {later}; exec sleep \"$0\"",
        first = quoted(&first),
        later = quoted(&later),
    ));
    let options = [
        "--notify-fd",
        NOTIFY_FD,
        "--timeout",
        "1",
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.1",
    ];
    let monitor = supervise(&t, &options, &program);
    assert_never_ready_runs_time_out(&later);
    stop_service(&t, monitor);
}

/// `--notify-socket` under the monitor: it, not the launcher, owns the socket; the start
/// waits for the first run's `READY=1`, and each later run must say it again in time.
#[test]
fn the_monitor_awaits_sd_notify_readiness_at_every_run() {
    let t = Test::new();
    let first = t.path("first");
    let later = t.path("later");
    let program = t.script(&format!(
        "if [ ! -e {first} ]; then : > {first}; sleep 0.3; {send} READY=1; sleep 0.3; exit 1; fi; \
         date +%s.%N >> {later}; exec sleep \"$0\"",
        first = quoted(&first),
        later = quoted(&later),
        send = SD_NOTIFY_SEND,
    ));
    let options = [
        "--supervise",
        "--notify-socket",
        "--timeout",
        "1",
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.1",
    ];
    let out = t.start(&options, &t.pidfile(), &program);
    out.code(0).no_stderr();
    assert!(
        out.elapsed >= Duration::from_millis(250),
        "the start returned after {:?}, before READY=1",
        out.elapsed
    );
    let monitor = t.daemon_pid(&t.pidfile());
    assert_never_ready_runs_time_out(&later);
    stop_service(&t, monitor);
}

#[test]
fn an_errno_or_an_exit_before_ready_fails_a_supervised_notify_start() {
    let t = Test::new();
    let program = t.script(&format!("{SD_NOTIFY_SEND} ERRNO=5; exec sleep \"$0\""));
    let out = t.start(
        &["--supervise", "--notify-socket", "--timeout", "5"],
        &t.pidfile(),
        &program,
    );
    out.code(3)
        .one_error_line("reported failure")
        .one_error_line("os error 5");
    assert!(
        !t.pidfile().exists(),
        "the pidfile of a failed start is left"
    );
    t.assert_none_left(Duration::from_secs(5));

    // A program that exits before it said READY=1.
    let t = Test::new();
    let program = t.script("exit 0");
    let out = t.start(
        &["--supervise", "--notify-socket", "--timeout", "5"],
        &t.pidfile(),
        &program,
    );
    out.code(3)
        .one_error_line("exited before reporting readiness");
    assert!(!t.pidfile().exists());
}

// --- the monitor's death -----------------------------------------------------------------

#[test]
fn killing_the_monitor_kills_the_program_and_releases_the_lock() {
    let t = Test::new();
    let monitor = supervise(&t, &[], &t.sleep());
    let pid = program_of(&t, monitor, "/bin/sleep");
    kill(monitor, libc::SIGKILL);
    wait_gone(pid);
    // The lock went with the monitor; the file stays, stale.
    wait_until("status 1 (stale) after SIGKILL", || {
        let out = status_of(&t);
        (out.code == Some(1))
            .then_some(())
            .ok_or(format!("{out:?}"))
    });

    let again = supervise(&t, &[], &t.sleep());
    assert_ne!(again, monitor);
    program_of(&t, again, "/bin/sleep");
    stop_service(&t, again);
}

/// A monitor killed after a restart leaves its runs line in the pidfile: the file is
/// still a pidfile, stale, and the next start takes it over.
#[test]
fn a_pidfile_with_a_runs_line_left_by_a_killed_monitor_is_taken_over() {
    let t = Test::new();
    let first = t.path("first");
    let program = t.script(&format!(
        "if [ ! -e {first} ]; then : > {first}; exit 1; fi; exec sleep \"$0\"",
        first = quoted(&first),
    ));
    let options = ["--restart", "on-failure", "--restart-delay", "0.1"];
    let monitor = supervise(&t, &options, &program);
    let pid = program_of(&t, monitor, "sleep");
    wait_until("the restart in the pidfile", || {
        let text = fs::read_to_string(t.pidfile()).unwrap_or_default();
        match text.contains("\n0000000001 0 001 0 ") {
            true => Ok(()),
            false => Err(text),
        }
    });
    kill(monitor, libc::SIGKILL);
    wait_gone(pid);
    wait_until("status 1 (stale) after SIGKILL", || {
        let out = status_of(&t);
        (out.code == Some(1) && out.stdout.contains(&format!("names pid {monitor}")))
            .then_some(())
            .ok_or(format!("{out:?}"))
    });
    let again = supervise(&t, &[], &t.sleep());
    assert_ne!(again, monitor);
    assert_eq!(
        fs::read_to_string(t.pidfile()).unwrap(),
        format!("{again}\n"),
        "the old runs line was left"
    );
    stop_service(&t, again);
}

// --- usage ---------------------------------------------------------------------------

#[test]
fn restart_options_without_supervise_are_refused() {
    let t = Test::new();
    let p = t.pidfile();
    let p = p.to_str().unwrap();
    let m = t.marker.as_str();
    let cases: [(&[&str], &str); 3] = [
        (&["--restart", "on-failure"], "--supervise"),
        (&["--restart-delay", "1"], "--supervise"),
        (&["--supervise", "--restart", "sometimes"], "--restart"),
    ];
    for (options, message) in cases {
        let mut args = vec!["start"];
        args.extend(options);
        args.extend(["--pidfile", p, "--", "/bin/sleep", m]);
        let out = t.run(&args);
        out.code(3).no_stdout().one_error_line(message);
        assert!(!t.pidfile().exists(), "{args:?}: a pidfile was created");
        t.assert_none_left(Duration::from_secs(2));
    }
}

// --- helpers ---------------------------------------------------------------------------

/// `stop --retry` keeps its meaning on a monitor: TERM, wait, and "stopped" once the
/// service is gone; a program that ignores TERM is ended by the schedule's KILL of
/// the monitor (the program dies with it) within the schedule, exit 0.
#[test]
fn stop_retry_waits_for_the_whole_service() {
    let t = Test::new();
    let monitor = supervise(&t, &[], &t.script("sleep \"$0\" & wait"));
    let program = program_of(&t, monitor, "/bin/sh");
    let retry = |schedule: &str| {
        t.run([
            OsString::from("stop"),
            "--pidfile".into(),
            t.pidfile().into(),
            "--retry".into(),
            schedule.into(),
        ])
    };
    let out = retry("TERM/5");
    out.code(0).no_stderr();
    assert!(out.stdout.contains("stopped"), "{out:#?}");
    assert!(!Proc(monitor).alive() && !Proc(program).alive());
    t.assert_none_left(Duration::from_secs(2));

    let stubborn = t.script("trap '' TERM; while :; do sleep 0.05; done");
    let monitor = supervise(&t, &[], &stubborn);
    let program = program_of(&t, monitor, "/bin/sh");
    let out = retry("TERM/1/KILL/5");
    out.code(0).no_stderr();
    wait_gone(program);
    t.assert_none_left(Duration::from_secs(2));
}

// --- the log file ----------------------------------------------------------------------

/// Both streams reach the log in order; after logrotate's move and SIGHUP the
/// monitor writes to a new file of the same name, and no line is lost or doubled
/// across the two; SIGHUP is the monitor's then, not the program's.
#[test]
fn the_log_file_gets_both_streams_and_reopens_on_sighup_losing_nothing() {
    let t = Test::new();
    let log = t.path("app.log");
    let hup = t.path("hup");
    let program = t.script(&format!(
        "trap 'echo hup >> {hup}' HUP; echo first; echo second >&2; i=0; \
         while :; do echo \"line $i\"; i=$((i+1)); sleep 0.001; done",
        hup = quoted(&hup),
    ));
    let log_arg = log.display().to_string();
    let monitor = supervise(&t, &["--log-file", &log_arg], &program);
    let has = |path: &Path, n: usize| {
        let count = lines_of(path)
            .iter()
            .filter(|l| l.starts_with("line "))
            .count();
        (count >= n).then_some(()).ok_or(format!("{count} lines"))
    };
    wait_until("50 lines in the log", || has(&log, 50));
    assert_eq!(lines_of(&log)[..2], ["first", "second"]);
    let moved = t.path("app.log.1");
    fs::rename(&log, &moved).unwrap();
    kill(monitor, libc::SIGHUP);
    wait_until("50 lines in the reopened log", || has(&log, 50));
    stop_service(&t, monitor);
    assert!(!hup.exists(), "SIGHUP reached the program");
    let mut numbers: Vec<u64> = lines_of(&moved)
        .into_iter()
        .chain(lines_of(&log))
        .filter_map(|l| l.strip_prefix("line ").and_then(|n| n.parse().ok()))
        .collect();
    let written = numbers.len() as u64;
    numbers.dedup();
    assert_eq!(numbers.len() as u64, written, "a line was logged twice");
    assert!(
        numbers.iter().copied().eq(0..written),
        "lines lost or out of order: {:?}",
        numbers.windows(2).find(|w| w[1] != w[0] + 1)
    );
}

/// With a size cap the log is renamed `FILE.1` (replacing the last) each time it would
/// grow past the cap, at a line's end: the two files stay within it (and a pipe read)
/// and hold the latest lines, whole, in order, with none lost between them.
#[test]
fn a_log_with_a_size_cap_rotates_to_file_1_keeping_the_latest_lines() {
    let t = Test::new();
    let log = t.path("app.log");
    let done = t.path("done");
    let program = t.script(&format!(
        "i=0; while [ $i -lt 3000 ]; do printf 'line %05d\\n' $i; i=$((i+1)); done; \
         touch {done}; exec sleep 1000",
        done = quoted(&done),
    ));
    let log_arg = log.display().to_string();
    let options = ["--log-file", &log_arg, "--log-max-size", "4k"];
    let monitor = supervise(&t, &options, &program);
    let rotated = t.path("app.log.1");
    wait_until("the last line in the log", || {
        let last = lines_of(&log).last().cloned().unwrap_or_default();
        (done.exists() && last == "line 02999")
            .then_some(())
            .ok_or(last)
    });
    stop_service(&t, monitor);
    // The cap, and at most the rest of one read of the pipe (4 KiB).
    for file in [&log, &rotated] {
        let bytes = fs::metadata(file).unwrap().len();
        assert!(
            bytes > 0 && bytes <= 8192,
            "{}: {bytes} bytes",
            file.display()
        );
    }
    let older = fs::read_to_string(&rotated).unwrap();
    assert!(older.ends_with('\n'), "a line was cut");
    let text = older + &fs::read_to_string(&log).unwrap();
    let numbers: Vec<u64> = text
        .lines()
        .map(|l| l.strip_prefix("line ").and_then(|n| n.parse().ok()))
        .collect::<Option<_>>()
        .unwrap_or_else(|| panic!("not a line the program wrote in:\n{text}"));
    let first = numbers[0];
    assert!(
        first > 0,
        "nothing was rotated away: 36 KB in two 4 KiB files?"
    );
    assert!(
        numbers.iter().copied().eq(first..3000),
        "lines lost or out of order after line {first}"
    );
}

/// A read that would take the log past its cap starts the new file only when it has
/// something for it: a last line that arrives alone (a whole read) is in the log, not
/// in `FILE.1` with an empty log left behind.
#[test]
fn a_rotation_leaves_the_line_that_caused_it_in_the_new_log() {
    let t = Test::new();
    let log = t.path("app.log");
    let go = t.path("go");
    // 3,000 bytes of lines, then (once the test saw them) one line that passes 4 KiB.
    let program = t.script(&format!(
        "i=0; while [ $i -lt 250 ]; do printf 'line %05d\\n' $i; i=$((i+1)); done; \
         while [ ! -e {go} ]; do sleep 0.01; done; printf '%01500d\\n' 0; exec sleep 1000",
        go = quoted(&go),
    ));
    let log_arg = log.display().to_string();
    let options = ["--log-file", &log_arg, "--log-max-size", "4k"];
    let monitor = supervise(&t, &options, &program);
    wait_until("250 lines in the log", || {
        let n = lines_of(&log).len();
        (n == 250).then_some(()).ok_or(format!("{n} lines"))
    });
    fs::write(&go, "").unwrap();
    let rotated = t.path("app.log.1");
    let long = "0".repeat(1500);
    wait_until("the long line in a log file", || {
        let last = |p: &Path| lines_of(p).last().is_some_and(|l| *l == long);
        (last(&log) || last(&rotated))
            .then_some(())
            .ok_or(String::new())
    });
    stop_service(&t, monitor);
    assert_eq!(
        lines_of(&rotated).len(),
        250,
        "FILE.1 holds the first lines"
    );
    assert_eq!(
        lines_of(&log),
        [long],
        "the new log holds the line past the cap"
    );
}

/// The library refuses a log size cap without a log file (or with syslog), before
/// anything runs, and leaves the pidfile as it was: here, absent.
#[test]
fn the_library_refuses_a_log_size_cap_without_a_log_file() {
    use daemonic::{Daemon, ErrorKind, Program, Supervision, Syslog};
    let t = Test::new();
    let p = t.pidfile();
    let program = Program {
        path: c"/bin/true",
        args: &[c"true"],
        env: &[],
    };
    let cap = std::num::NonZeroU64::new(1 << 20);
    let syslog = Some(Syslog {
        tag: "app",
        facility: daemonic::Facility::Daemon,
    });
    for syslog in [None, syslog] {
        let policy = Supervision {
            log_max_size: cap,
            syslog,
            ..Supervision::new()
        };
        let err = Daemon::new()
            .pidfile(p.as_path())
            .supervise(&program, policy)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidOption);
        assert_eq!(
            err.to_string(),
            "invalid option: a log size cap without a log file"
        );
        assert!(!p.exists(), "the refused start left a pidfile");
    }
}

/// On a full disk the monitor drops what does not fit, and the program never blocks:
/// it writes 4 MiB (more than the pipe holds) into a log on a 64 KiB filesystem and
/// still finishes, and the log is full.
#[test]
fn a_full_disk_drops_log_lines_but_never_blocks_the_program() {
    let name = "a_full_disk_drops_log_lines_but_never_blocks_the_program";
    if skip_unless_root(name, "mounting a small tmpfs needs CAP_SYS_ADMIN") {
        return;
    }
    let Some(unshare) = find_tool("unshare") else {
        println!("skipped: {name} needs unshare (util-linux)");
        return;
    };
    let t = Test::new();
    let disk = t.path("disk");
    fs::create_dir(&disk).unwrap();
    let done = t.path("done");
    let size = t.path("size");
    let daemonic: Vec<String> = invocation()
        .iter()
        .map(|a| a.to_str().unwrap().to_owned())
        .collect();
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs {disk} && {daemonic} start --foreground \
         --supervise --log-file {disk}/log --pidfile {pidfile} -- sh -c \
         'head -c 4194304 /dev/zero | tr \"\\\\0\" x; echo done > {done}' {marker}; \
         code=$?; stat -c %s {disk}/log > {size}; exit $code",
        disk = quoted(&disk),
        daemonic = daemonic.join(" "),
        pidfile = quoted(&t.pidfile()),
        done = quoted(&done),
        marker = t.marker,
        size = quoted(&size),
    );
    let mut cmd = Command::new(unshare);
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let out = run_with_limit(cmd, DEADLINE);
    out.code(0);
    assert_eq!(
        fs::read_to_string(&done).unwrap(),
        "done\n",
        "the program did not finish"
    );
    let logged: u64 = fs::read_to_string(&size).unwrap().trim().parse().unwrap();
    assert!(
        (32 * 1024..=64 * 1024).contains(&logged),
        "the log holds {logged} bytes"
    );
    t.assert_none_left(Duration::from_secs(2));
}

/// Syslog: each line of either stream, and a last one without a newline, reaches
/// `/dev/log` (a test socket bound over it in a mount namespace) as one datagram
/// `<PRI>TAG[PID]: LINE`, with the facility asked for and severity notice.
#[test]
fn syslog_lines_reach_dev_log_with_the_tag_and_facility() {
    let name = "syslog_lines_reach_dev_log_with_the_tag_and_facility";
    if skip_unless_root(name, "mounting over /dev needs CAP_SYS_ADMIN") {
        return;
    }
    let Some(unshare) = find_tool("unshare") else {
        println!("skipped: {name} needs unshare (util-linux)");
        return;
    };
    let t = Test::new();
    let socket_path = t.path("log.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let old_dev = t.path("dev");
    fs::create_dir(&old_dev).unwrap();
    let daemonic: Vec<String> = invocation()
        .iter()
        .map(|a| a.to_str().unwrap().to_owned())
        .collect();
    // A /dev of our own: the real one's null, zero and urandom, and the socket as log.
    let script = format!(
        "mount --bind /dev {old} && mount -t tmpfs tmpfs /dev && \
         for n in null zero urandom; do touch /dev/$n && mount --bind {old}/$n /dev/$n; done && \
         touch /dev/log && mount --bind {socket} /dev/log && \
         exec {daemonic} start --foreground --supervise --syslog app --syslog-facility local3 \
         --pidfile {pidfile} -- sh -c 'echo out line; echo err line >&2; printf partial' {marker}",
        old = quoted(&old_dev),
        socket = quoted(&socket_path),
        daemonic = daemonic.join(" "),
        pidfile = quoted(&t.pidfile()),
        marker = t.marker,
    );
    let mut cmd = Command::new(unshare);
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    run_with_limit(cmd, DEADLINE).code(0);
    let mut buf = [0u8; 2048];
    let mut messages = Vec::new();
    for _ in 0..3 {
        let n = socket.recv(&mut buf).expect("a syslog datagram");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    // local3 (19) * 8 + notice (5)
    let pid = messages[0]
        .strip_prefix("<157>app[")
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("not <157>app[PID]: {messages:?}"));
    let expected: Vec<String> = ["out line", "err line", "partial"]
        .iter()
        .map(|line| format!("<157>app[{pid}]: {line}"))
        .collect();
    assert_eq!(messages, expected);
}

/// The log is opened as `--user` would be allowed to: a directory only root may
/// write to fails the start, with the path, and nothing runs.
#[test]
fn the_log_file_is_opened_as_the_daemons_user() {
    if skip_unless_root(
        "the_log_file_is_opened_as_the_daemons_user",
        "switching to nobody needs root",
    ) {
        return;
    }
    let t = Test::new();
    let private = t.path("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let log = private.join("app.log").display().to_string();
    let out = t.start(
        &["--supervise", "--user", "nobody", "--log-file", &log],
        &t.pidfile(),
        &t.sleep(),
    );
    out.code(3)
        .one_error_line(&format!("cannot open {log} (the log): Permission denied"));
    assert!(!t.pidfile().exists(), "the pidfile was left");
    assert!(!Path::new(&log).exists(), "the log was created as root");
    t.assert_none_left(Duration::from_secs(2));
}

/// Waits for two later runs (each writes a time stamp to `later` and is never ready)
/// and checks that the first lasted the whole 1 s readiness timeout.
fn assert_never_ready_runs_time_out(later: &Path) {
    let stamps = wait_until("a second never-ready run", || {
        let lines = lines_of(later);
        if lines.len() >= 2 {
            Ok(lines)
        } else {
            Err(format!("{lines:?}"))
        }
    });
    let times: Vec<f64> = stamps.iter().map(|s| s.parse().unwrap()).collect();
    assert!(
        times[1] - times[0] >= 0.9,
        "the never-ready run ended before the 1 s timeout: {stamps:?}"
    );
}

/// Starts `program` under a monitor with `options` and the test's pidfile, asserts
/// that the start succeeded, and returns the monitor's PID (from the pidfile).
fn supervise(t: &Test, options: &[&str], program: &[OsString]) -> i32 {
    let mut all = vec!["--supervise"];
    all.extend(options);
    t.start(&all, &t.pidfile(), program).code(0).no_stderr();
    t.daemon_pid(&t.pidfile())
}

/// Starts a program that appends `run` to a file, waits for a go file, then exits
/// with `code`; lets it go once it ran. Returns the monitor's PID and the file.
fn run_once(t: &Test, options: &[&str], code: i32) -> (i32, PathBuf) {
    let runs = t.path("runs");
    let go = t.path("go");
    let program = t.script(&format!(
        "echo run >> {runs}; while [ ! -e {go} ]; do sleep 0.05; done; exit {code}",
        runs = quoted(&runs),
        go = quoted(&go),
    ));
    let monitor = supervise(t, options, &program);
    wait_until("the program's run", || {
        let lines = lines_of(&runs);
        (!lines.is_empty()).then_some(()).ok_or("none".to_owned())
    });
    fs::write(&go, "").unwrap();
    (monitor, runs)
}

/// Waits until `monitor` has a live child running `argv0 ... <marker>` (after its
/// exec); learns and returns its PID.
fn program_of(t: &Test, monitor: i32, argv0: &str) -> i32 {
    let pid = wait_until(&format!("the monitor's child {argv0}"), || {
        let children = live_children(monitor);
        children
            .iter()
            .copied()
            .find(|&c| runs(c, argv0, &t.marker))
            .ok_or(describe(&children))
    });
    t.learn(pid);
    pid
}

/// Whether `pid` runs `argv0 ... marker`.
fn runs(pid: i32, argv0: &str, marker: &str) -> bool {
    let args = Proc(pid).cmdline();
    args.first().is_some_and(|a| a == argv0.as_bytes())
        && args.last().is_some_and(|a| a == marker.as_bytes())
}

/// Every child of `pid`, zombies included (from each process's `stat`, which works
/// without `/proc/<pid>/task/<tid>/children` and for every thread of `pid`).
fn children_of(pid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&c| Proc(c).try_stat().is_some_and(|s| s.ppid == pid))
        .collect()
}

fn live_children(pid: i32) -> Vec<i32> {
    children_of(pid)
        .into_iter()
        .filter(|&c| Proc(c).alive())
        .collect()
}

/// PIDs with their command lines, for failure messages.
fn describe(pids: &[i32]) -> String {
    let shown: Vec<String> = pids
        .iter()
        .map(|&p| format!("{p}: {}", Proc(p).cmdline_text()))
        .collect();
    format!("[{}]", shown.join("; "))
}

/// The lines of a file; none if it does not exist yet.
fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `path` quoted for `sh`.
fn quoted(path: &Path) -> String {
    let text = path.to_str().unwrap();
    assert!(!text.contains('\''), "{text:?}");
    format!("'{text}'")
}

fn status_of(t: &Test) -> Output {
    t.run([
        OsString::from("status"),
        "--pidfile".into(),
        t.pidfile().into(),
    ])
}

/// Waits until `status` prints `expected` (the monitor records its runs as they
/// happen), and checks that it says so as a running service: code 0, no stderr.
fn assert_status_becomes(t: &Test, expected: &str) {
    let out = wait_until(&format!("status to say {expected:?}"), || {
        let out = status_of(t);
        match out.stdout == expected {
            true => Ok(out),
            false => Err(out.stdout),
        }
    });
    out.code(0).no_stderr();
}

/// `daemonic stop --pidfile P`: TERM to the monitor, no waiting.
fn stop(t: &Test) -> Output {
    t.run([
        OsString::from("stop"),
        "--pidfile".into(),
        t.pidfile().into(),
    ])
}

/// Stops the service of `monitor` and asserts that nothing of it is left: the
/// monitor gone, its pidfile removed, no process of the test alive.
fn stop_service(t: &Test, monitor: i32) {
    let out = stop(t);
    out.code(0).no_stderr();
    assert!(
        out.stdout.contains(&format!("(pid {monitor})")),
        "stop did not signal the monitor {monitor}: {out:#?}"
    );
    wait_gone(monitor);
    assert!(!t.pidfile().exists(), "the monitor left its pidfile");
    t.assert_none_left(Duration::from_secs(2));
}

/// `unshare` if this test can make PID namespaces (root, util-linux, and a kernel or
/// container that allows it); else prints why it is skipped.
fn pid_namespaces(name: &str) -> Option<PathBuf> {
    if skip_unless_root(name, "unshare --pid needs CAP_SYS_ADMIN") {
        return None;
    }
    let Some(unshare) = find_tool("unshare") else {
        println!("skipped: {name} needs unshare (util-linux)");
        return None;
    };
    let probe = Command::new(&unshare)
        .args(["--pid", "--fork", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        println!("skipped: {name}: unshare --pid --fork does not work here");
        return None;
    }
    Some(unshare)
}

/// `unshare --pid --fork --kill-child daemonic start --foreground --supervise
/// OPTIONS --pidfile P -- PROGRAM`: the monitor is the new namespace's PID 1; `unshare` exits
/// with its status. Every process of it carries the marker (in its arguments).
fn in_pid_namespace(t: &Test, unshare: &Path, options: &[&str], program: &[OsString]) -> Command {
    let mut cmd = Command::new(unshare);
    cmd.args(["--pid", "--fork", "--kill-child"])
        .args(invocation())
        .args(["start", "--foreground", "--supervise"])
        .args(options)
        .arg("--pidfile")
        .arg(t.pidfile())
        .arg("--")
        .args(program)
        .stdin(Stdio::null());
    cmd
}
