//! Black-box tests of the `daemonic` command: every test spawns the built binary
//! (`$DAEMONIC_CLI`, else cargo's) with `std::process::Command` and reads the effects
//! from `/proc` of the program it started. Each test has its own directory, pidfile
//! and marker (see `support/test.rs`), so they run in parallel threads.

mod support {
    pub mod cli;
    pub mod files;
    pub mod output;
    pub mod proc;
    pub mod test;
    pub mod wait;
}

use support::cli::{invocation, os, qemu_reserved_signals, skip_unless_root};
use support::files::{copy_executable, find_tool, flock_free, other_group, write_executable};
use support::output::{run_with_limit, Output};
use support::proc::{is_root, Proc};
use support::test::Test;
use support::wait::{kill, wait_until, DEADLINE};

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// SIGTSTP, SIGTTIN and SIGTTOU (bits 19-21): the only signals a daemon ignores.
const JOB_CONTROL_IGNORED: &str = "0000000000380000";

/// The readiness descriptor of the tests (the example); `sh` (dash) redirects
/// single digits only. `notify_fd_accepts_any_free_descriptor_number` tries 3 to 9.
const NOTIFY_FD: &str = "5";

/// `--clear-env`'s `PATH`.
const SAFE_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The number `DAEMONIC_PIDFILE_FD` gives, if `pid`'s environment has it exactly once.
fn try_pidfile_fd(pid: i32) -> Result<i32, String> {
    let env = Proc(pid).environ();
    let vars: Vec<&String> = env
        .iter()
        .filter(|e| e.starts_with("DAEMONIC_PIDFILE_FD="))
        .collect();
    match vars[..] {
        [var] => var["DAEMONIC_PIDFILE_FD=".len()..]
            .parse()
            .map_err(|_| format!("not a number: {env:?}")),
        _ => Err(format!("DAEMONIC_PIDFILE_FD not once in {env:?}")),
    }
}

#[track_caller]
fn pidfile_fd_from_environ(pid: i32) -> i32 {
    try_pidfile_fd(pid).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts that `pid` has exactly 0, 1, 2, the pidfile's descriptor (named by
/// `DAEMONIC_PIDFILE_FD`) and `extra`; returns the pidfile's descriptor. Polls: a
/// program may still be in an `exec` (a script's, or the dynamic loader holding a
/// library open), when /proc shows a passing state.
#[track_caller]
fn assert_fds(pid: i32, pidfile: &Path, extra: &[i32]) -> i32 {
    wait_until("the program's descriptors", || {
        let number = try_pidfile_fd(pid)?;
        let mut expected: BTreeSet<i32> = [0, 1, 2, number].into();
        expected.extend(extra);
        let fds = Proc(pid).fds();
        let linked = fds.get(&number).map(PathBuf::as_path) == Some(pidfile);
        let numbers: BTreeSet<i32> = fds.keys().copied().collect();
        if linked && numbers == expected {
            Ok(number)
        } else {
            Err(format!(
                "DAEMONIC_PIDFILE_FD={number}, expected {expected:?}, open: {fds:?}"
            ))
        }
    })
}

/// `(ppid, pgrp, session, tty_nr)` of `pid`.
fn ids(pid: i32) -> (i32, i32, i32, i32) {
    let s = Proc(pid).stat();
    (s.ppid, s.pgrp, s.session, s.tty_nr)
}

/// Waits until `pid` runs `argv0 marker` (a script's own `exec` comes after the one
/// start waits for).
fn wait_exec(pid: i32, argv0: &str, marker: &str) {
    let wanted = [argv0.as_bytes().to_vec(), marker.as_bytes().to_vec()];
    wait_until(&format!("{pid} to run {argv0} {marker}"), || {
        (Proc(pid).cmdline() == wanted)
            .then_some(())
            .ok_or(Proc(pid).cmdline_text())
    });
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

// --- help and version -------------------------------------------------------------

#[test]
fn help_lists_every_option_and_exit_code() {
    let t = Test::new();
    for args in [&["--help"][..], &["-h"], &["help"], &["start", "--help"]] {
        let out = t.run(args);
        out.code(0).no_stderr();
        assert!(
            out.stdout.contains("Exit status of status"),
            "{args:?}: help cut short after {} bytes: ...{:?}",
            out.stdout.len(),
            &out.stdout[out.stdout.len().saturating_sub(60)..]
        );
        for option in [
            "--pidfile",
            "--user",
            "--group",
            "--chdir",
            "--chroot",
            "--umask",
            "--stdout",
            "--stderr",
            "--env",
            "--clear-env",
            "--foreground",
            "--detach",
            "--auto",
            "--keep-fd",
            "--notify-fd",
            "--notify-socket",
            "--timeout",
            "--oknodo",
            "--quiet",
            "--keep-core-limit",
            "--signal",
            "--retry",
            "DAEMONIC_PIDFILE_FD",
        ] {
            assert!(out.stdout.contains(option), "{args:?}: help lacks {option}");
        }
        for command in ["start", "stop", "status", "restart"] {
            assert!(out.stdout.contains(&format!("daemonic {command}")));
        }
        // start-stop-daemon's codes, then LSB's for status.
        for code in [
            "0  done",
            "1  nothing done",
            "2  stop",
            "3  any other error",
            "0  running",
            "1  not running, stale pidfile",
            "3  not running",
            "4  unknown",
        ] {
            assert!(out.stdout.contains(code), "{args:?}: help lacks {code:?}");
        }
    }
}

#[test]
fn version_prints_the_package_version() {
    let t = Test::new();
    for flag in ["--version", "-V"] {
        let out = t.run([flag]);
        out.code(0).no_stderr();
        assert_eq!(
            out.stdout,
            format!("daemonic {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

// --- what start sets up ---------------------------------------------------------------

/// The default start: a detached, clean process, whatever state the caller was in
/// (ignored and blocked signals, an inherited DAEMONIC_PIDFILE_FD).
#[test]
fn start_runs_a_clean_detached_program() {
    let t = Test::new();
    let pidfile = t.pidfile();
    let mut cmd = t.start_cmd(&[], &pidfile, &t.sleep());
    cmd.env("DAEMONIC_PIDFILE_FD", "77");
    // SAFETY: only async-signal-safe calls (sigaction, sigprocmask) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            // The caller's umask is kept, as start-stop-daemon keeps it.
            libc::umask(0o027);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let out = run_with_limit(cmd, DEADLINE);
    out.code(0).no_stderr().no_stdout();
    let pid = t.daemon_pid(&pidfile);
    assert!(Proc(pid).alive(), "the program is not running");
    assert_eq!(
        Proc(pid).cmdline(),
        [b"/bin/sleep".to_vec(), t.marker.clone().into()]
    );
    assert_eq!(read(&pidfile), format!("{pid}\n"));

    // Descriptors: the standard ones to /dev/null, and the locked pidfile.
    let fd = assert_fds(pid, &pidfile, &[]);
    assert!(fd > 2);
    let fds = Proc(pid).fds();
    for n in 0..3 {
        assert_eq!(fds[&n], Path::new("/dev/null"), "fd {n}: {fds:?}");
    }
    assert!(!flock_free(&pidfile), "the pidfile is not locked");

    // Detached: a new session it does not lead, no terminal, reparented.
    let (ppid, pgrp, session, tty) = ids(pid);
    let (_, _, our_session, _) = ids(std::process::id() as i32);
    assert_ne!(
        session, pid,
        "the program leads its session (could get a tty)"
    );
    assert_ne!(pgrp, pid, "the program leads a process group");
    assert_ne!(session, our_session, "no new session");
    assert_eq!(tty, 0, "the program has a controlling terminal");
    assert_ne!(ppid, std::process::id() as i32);
    assert_ne!(
        ppid, session,
        "the intermediate process is still its parent"
    );

    // Signals back to defaults, nothing blocked, the caller's umask, no core dumps.
    let st = Proc(pid).status_map();
    let ignored = u64::from_str_radix(&st["SigIgn"], 16).unwrap() & !qemu_reserved_signals();
    assert_eq!(format!("{ignored:016x}"), JOB_CONTROL_IGNORED, "{st:?}");
    assert_eq!(st["SigBlk"], "0000000000000000", "{st:?}");
    assert_eq!(st["Umask"], "0027", "{st:?}");
    assert_eq!(Proc(pid).limit("Max core file size"), "0 0");

    assert_eq!(Proc(pid).link("cwd"), Path::new("/"));
    assert_eq!(Proc(pid).link("root"), Path::new("/"));
}

/// `--keep-core-limit` leaves the caller's core limit to the program (the default is
/// PEP 3143's: none).
#[test]
fn keep_core_limit_leaves_the_core_limit_as_it_was() {
    let t = Test::new();
    let mut cmd = t.start_cmd(&["--keep-core-limit"], &t.pidfile(), &t.sleep());
    // SAFETY: setrlimit(2) is async-signal-safe, as code between fork and exec must be.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 8192,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
            Ok(())
        });
    }
    run_with_limit(cmd, DEADLINE).code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    assert_eq!(Proc(pid).limit("Max core file size"), "4096 8192");
}

#[test]
fn start_without_pidfile_exports_no_pidfile_descriptor() {
    let t = Test::new();
    let mut args = os_args(&["start", "--"]);
    args.extend(t.sleep());
    let mut cmd = t.cmd(args);
    cmd.env("DAEMONIC_PIDFILE_FD", "77");
    run_with_limit(cmd, DEADLINE).code(0).no_stderr();
    let pids = wait_until("the program", || {
        let pids = t.live_processes();
        (!pids.is_empty()).then_some(pids).ok_or(String::new())
    });
    assert_eq!(pids.len(), 1, "one program runs: {pids:?}");
    let env = Proc(pids[0]).environ();
    assert!(
        !env.iter().any(|e| e.starts_with("DAEMONIC_PIDFILE_FD=")),
        "{env:?}"
    );
    wait_until("descriptors 0, 1 and 2 only", || {
        let fds = Proc(pids[0]).fds();
        (fds.keys().copied().collect::<Vec<_>>() == [0, 1, 2])
            .then_some(())
            .ok_or(format!("{fds:?}"))
    });
}

/// The caller's stdin and stdout closed: the command's own descriptors must not land
/// on 0-2 and end up as the program's standard streams.
#[test]
fn start_with_closed_standard_streams() {
    let t = Test::new();
    let mut cmd = t.start_cmd(&[], &t.pidfile(), &t.sleep());
    // SAFETY: only close(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(0);
            libc::close(1);
            Ok(())
        });
    }
    run_with_limit(cmd, DEADLINE).code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    let fd = assert_fds(pid, &t.pidfile(), &[]);
    assert!(fd > 2, "the pidfile is a standard stream ({fd})");
    let fds = Proc(pid).fds();
    for n in 0..3 {
        assert_eq!(fds[&n], Path::new("/dev/null"), "fd {n}: {fds:?}");
    }
}

/// A relative pidfile path is relative to the caller's directory, for every command
/// (the daemon itself moves to /).
#[test]
fn a_relative_pidfile_path_works() {
    let t = Test::new();
    let run_in_dir = |args: &[&str]| {
        let mut cmd = t.cmd(args);
        cmd.current_dir(&t.dir);
        run_with_limit(cmd, DEADLINE)
    };
    let mut start = vec!["start", "--pidfile", "rel.pid", "--"];
    start.extend(["/bin/sleep", &t.marker]);
    run_in_dir(&start).code(0).no_stderr();
    let pid = t.daemon_pid(&t.path("rel.pid"));
    assert_fds(pid, &t.path("rel.pid"), &[]);
    let out = run_in_dir(&["status", "--pidfile", "rel.pid"]);
    out.code(0);
    assert_eq!(out.stdout, format!("running (pid {pid})\n"));
    run_in_dir(&["stop", "--pidfile", "rel.pid", "--retry", "TERM/5"]).code(0);
    assert!(!Proc(pid).alive());
    assert!(!t.path("rel.pid").exists());
}

#[test]
fn chdir_and_umask_apply() {
    let t = Test::new();
    let work = t.path("work dir");
    fs::create_dir(&work).unwrap();
    let pid = t.start_sleep(&[
        "--detach",
        "--chdir",
        work.to_str().unwrap(),
        "--umask",
        "027",
    ]);
    assert_eq!(Proc(pid).link("cwd"), work);
    assert_eq!(Proc(pid).status("Umask"), "0027");

    let t = Test::new();
    let pid = t.start_sleep(&["--umask=0777"]);
    assert_eq!(Proc(pid).status("Umask"), "0777");
}

#[test]
fn stdout_and_stderr_share_one_appended_file() {
    let t = Test::new();
    let log = t.path("out.log");
    fs::write(&log, "old\n").unwrap();
    let log_s = log.to_str().unwrap();
    let out = t.start(
        &["--stdout", log_s, "--stderr", log_s],
        &t.pidfile(),
        &t.script("echo out; echo err >&2; exec sleep \"$0\""),
    );
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    wait_until("both lines in the log", || {
        let text = read(&log);
        (text == "old\nout\nerr\n").then_some(()).ok_or(text)
    });
    let fds = Proc(pid).fds();
    assert_eq!(fds[&1], log, "{fds:?}");
    assert_eq!(fds[&2], log, "{fds:?}");
    assert_eq!(fds[&0], Path::new("/dev/null"));
    assert_ne!(
        Proc(pid).fd_flags(1) & libc::O_APPEND,
        0,
        "stdout not in append mode"
    );
    // One descriptor: kcmp says fd 1 and fd 2 are the same open file description.
    // SAFETY: kcmp takes integers only.
    let same = unsafe {
        libc::syscall(libc::SYS_kcmp, pid, pid, 0 /* KCMP_FILE */, 1, 2)
    };
    match same {
        0 => {}
        -1 => println!(
            "note: kcmp unavailable ({})",
            std::io::Error::last_os_error()
        ),
        other => panic!("stdout and stderr are different open files (kcmp {other})"),
    }
}

#[test]
fn stdout_and_stderr_to_separate_files() {
    let t = Test::new();
    let (o, e) = (t.path("o.log"), t.path("e.log"));
    let out = t.start(
        &[
            "--stdout",
            o.to_str().unwrap(),
            "--stderr",
            e.to_str().unwrap(),
        ],
        &t.pidfile(),
        &t.script("echo out; echo err >&2; exec sleep \"$0\""),
    );
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    wait_until("the logs", || {
        let (a, b) = (read(&o), read(&e));
        (a == "out\n" && b == "err\n")
            .then_some(())
            .ok_or(format!("{a:?} {b:?}"))
    });
    let fds = Proc(pid).fds();
    assert_eq!((&fds[&1], &fds[&2]), (&o, &e));
}

#[test]
fn env_adds_and_overrides_variables() {
    let t = Test::new();
    let mut args = os_args(&[
        "start",
        "--env",
        "ADDED=1",
        "--env",
        "KEPT=overridden",
        "--env",
        "EQ=a=b",
        "--env",
        "TWICE=first",
        "--env",
        "TWICE=last",
        "--pidfile",
    ]);
    args.push(t.pidfile().into());
    args.push("--".into());
    args.extend(t.sleep());
    let mut cmd = t.cmd(args);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("KEPT", "1")
        .env("OTHER", "x")
        .env("DAEMONIC_PIDFILE_FD", "77");
    run_with_limit(cmd, DEADLINE).code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    let fd = assert_fds(pid, &t.pidfile(), &[]);
    let env: BTreeSet<String> = Proc(pid).environ().into_iter().collect();
    let expected: BTreeSet<String> = [
        "PATH=/usr/bin:/bin".to_owned(),
        "KEPT=overridden".to_owned(),
        "OTHER=x".to_owned(),
        "ADDED=1".to_owned(),
        "EQ=a=b".to_owned(),
        // The last of two `--env` wins, as with env(1).
        "TWICE=last".to_owned(),
        format!("DAEMONIC_PIDFILE_FD={fd}"),
    ]
    .into();
    assert_eq!(env, expected);
    assert_eq!(
        Proc(pid).environ().len(),
        expected.len(),
        "a variable twice"
    );
}

#[test]
fn clear_env_keeps_only_env_options_and_a_safe_path() {
    let t = Test::new();
    let mut cmd = t.start_cmd(
        &["--clear-env", "--env", "A=1", "--env", "B=two words"],
        &t.pidfile(),
        &t.sleep(),
    );
    cmd.env("SECRET", "leak");
    run_with_limit(cmd, DEADLINE).code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    let fd = pidfile_fd_from_environ(pid);
    let mut env = Proc(pid).environ();
    env.sort();
    let mut expected = vec![
        "A=1".to_owned(),
        "B=two words".to_owned(),
        SAFE_PATH.to_owned(),
        format!("DAEMONIC_PIDFILE_FD={fd}"),
    ];
    expected.sort();
    assert_eq!(env, expected);

    // An --env PATH replaces the safe one.
    let t = Test::new();
    let out = t.start(
        &["--clear-env", "--env", "PATH=/bin"],
        &t.pidfile(),
        &t.sleep(),
    );
    out.code(0);
    let pid = t.daemon_pid(&t.pidfile());
    let paths: Vec<String> = Proc(pid)
        .environ()
        .into_iter()
        .filter(|e| e.starts_with("PATH="))
        .collect();
    assert_eq!(paths, ["PATH=/bin"]);
}

#[test]
fn a_bare_program_name_is_looked_up_in_the_programs_path() {
    let t = Test::new();
    let bin = t.path("bin");
    fs::create_dir(&bin).unwrap();
    let prog = bin.join("myprog");
    write_executable(&prog, "#!/bin/sh\nexec /bin/sleep \"$1\"\n", 0o755);
    let path = format!("PATH=/nonexistent:{}", bin.display());
    let out = t.start(
        &["--env", &path],
        &t.pidfile(),
        &os_args(&["myprog", &t.marker]),
    );
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    // The script execs sleep after start returned (start waits for its own exec only).
    wait_exec(pid, "/bin/sleep", &t.marker);
}

/// The program is found as execvp(3) finds it, by the daemon: a file its user may not
/// execute is passed over, a relative name is relative to `--chdir`, and a relative
/// PATH entry to the working directory inside `--chroot`.
#[test]
fn the_program_is_found_as_execvp_finds_it() {
    let t = Test::new();
    let (a, b) = (t.path("a"), t.path("b"));
    for dir in [&a, &b] {
        fs::create_dir(dir).unwrap();
    }
    let script = "#!/bin/sh\nexec /bin/sleep \"$1\"\n";
    write_executable(&a.join("myprog"), script, 0o644);
    write_executable(&b.join("myprog"), script, 0o755);
    let path = format!("PATH={}:{}", a.display(), b.display());
    let mut cases = vec![
        // Not executable at all in a: b's.
        (vec![path.clone()], "myprog", t.path("1.pid")),
        // A name with a slash, from the working directory.
        (
            vec!["--chdir".into(), b.display().to_string()],
            "./myprog",
            t.path("2.pid"),
        ),
    ];
    if is_root() {
        // Executable by its owner, root, only: nobody's start takes b's.
        fs::set_permissions(a.join("myprog"), fs::Permissions::from_mode(0o744)).unwrap();
        cases.push((
            vec!["--user".into(), "nobody".into(), path.clone()],
            "myprog",
            t.path("3.pid"),
        ));
    }
    for (options, name, pidfile) in cases {
        let mut all: Vec<&str> = vec![];
        for o in &options {
            if o.starts_with("PATH=") {
                all.push("--env");
            }
            all.push(o);
        }
        let out = t.start(&all, &pidfile, &os_args(&[name, &t.marker]));
        out.code(0).no_stderr();
        let pid = t.daemon_pid(&pidfile);
        wait_exec(pid, "/bin/sleep", &t.marker);
    }
    let out = t.start(&[], &t.path("4.pid"), &os_args(&["./myprog", &t.marker]));
    out.code(3)
        .one_error_line("cannot execute ./myprog: No such file or directory");
    if !is_root() {
        return;
    }
    let root = t.path("root");
    if !build_chroot(&root) {
        println!("skipped: the chroot case: cannot copy /bin/sleep and its libraries");
        return;
    }
    let out = t.start(
        &["--chroot", root.to_str().unwrap(), "--env", "PATH=bin"],
        &t.path("5.pid"),
        &os_args(&["sleep", &t.marker]),
    );
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&t.path("5.pid"));
    assert_eq!(Proc(pid).link("root"), root);
}

/// Spawns the command with `file` as descriptor `n` (not close-on-exec).
fn with_fd(cmd: &mut Command, file: &fs::File, n: i32) {
    let raw = file.as_raw_fd();
    // SAFETY: only dup2/fcntl between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let r = if raw == n {
                libc::fcntl(raw, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, n)
            };
            if r == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn keep_fd_passes_a_descriptor_and_others_are_closed() {
    let t = Test::new();
    let shared = t.path("shared");
    let file = fs::File::create(&shared).unwrap();

    let mut cmd = t.start_cmd(&["--keep-fd", "9"], &t.pidfile(), &t.sleep());
    with_fd(&mut cmd, &file, 9);
    run_with_limit(cmd, DEADLINE).code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    assert_fds(pid, &t.pidfile(), &[9]);
    assert_eq!(Proc(pid).fds()[&9], shared);

    // Without --keep-fd the same inherited descriptor is closed.
    let t2 = Test::new();
    let mut cmd = t2.start_cmd(&[], &t2.pidfile(), &t2.sleep());
    with_fd(&mut cmd, &file, 9);
    run_with_limit(cmd, DEADLINE).code(0).no_stderr();
    let pid = t2.daemon_pid(&t2.pidfile());
    let fd = assert_fds(pid, &t2.pidfile(), &[]);
    assert_ne!(
        fd, 9,
        "the pidfile landed on the number of the inherited descriptor"
    );
}

#[test]
fn foreground_becomes_the_program() {
    let t = Test::new();
    let pidfile = t.pidfile();
    let mut cmd = t.start_cmd(&["--foreground"], &pidfile, &t.sleep());
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    t.adopt(child);
    wait_exec(pid, "/bin/sleep", &t.marker);
    assert_eq!(
        t.daemon_pid(&pidfile),
        pid,
        "the pidfile names the command itself"
    );
    assert_fds(pid, &pidfile, &[]);
    assert!(!flock_free(&pidfile));
    let (ppid, _, _, _) = ids(pid);
    assert_eq!(ppid, std::process::id() as i32, "it forked");
}

#[test]
fn auto_stays_in_the_foreground_under_inetd_and_detaches_otherwise() {
    // stdin a socket: started by inetd, so no fork.
    let t = Test::new();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut cmd = t.start_cmd(&["--auto"], &t.pidfile(), &t.sleep());
    cmd.stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    t.adopt(child);
    wait_exec(pid, "/bin/sleep", &t.marker);
    assert_eq!(t.daemon_pid(&t.pidfile()), pid);
    drop(ours);

    // stdin /dev/null and a parent that is not init: detach.
    let t = Test::new();
    let out = run_with_limit(
        t.start_cmd(&["--auto"], &t.pidfile(), &t.sleep()),
        Duration::from_secs(5),
    );
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    assert!(Proc(pid).alive());
    assert_ne!(ids(pid).0, std::process::id() as i32);
}

// --- users, groups, chroot (root) ---------------------------------------------------

#[test]
fn user_switches_uid_gid_and_groups() {
    if skip_unless_root(
        "user_switches_uid_gid_and_groups",
        "only root can change its uid",
    ) {
        return;
    }
    let t = Test::new();
    let pid = t.start_sleep(&["--user", "nobody"]);
    let st = Proc(pid).status_map();
    assert_eq!(
        st["Uid"].split_whitespace().collect::<Vec<_>>(),
        ["65534"; 4],
        "{st:?}"
    );
    assert_eq!(
        st["Gid"].split_whitespace().collect::<Vec<_>>(),
        ["65534"; 4],
        "{st:?}"
    );
    let groups: Vec<&str> = st["Groups"].split_whitespace().collect();
    assert!(!groups.contains(&"0"), "root's group kept: {groups:?}");
    assert!(groups.contains(&"65534"), "{groups:?}");
    // The program still holds the lock root took.
    assert_fds(pid, &t.pidfile(), &[]);
    assert!(!flock_free(&t.pidfile()));
    // And it can be stopped (the pidfile is root's).
    t.run([
        "stop",
        "--pidfile",
        t.pidfile().to_str().unwrap(),
        "--retry",
        "TERM/5",
    ])
    .code(0);
    assert!(!Proc(pid).alive());
    assert!(!t.pidfile().exists());
}

#[test]
fn user_with_group_and_group_alone() {
    if skip_unless_root(
        "user_with_group_and_group_alone",
        "only root can change its ids",
    ) {
        return;
    }
    let (name, gid) = other_group();
    let gid = gid.to_string();
    let t = Test::new();
    let pid = t.start_sleep(&["--user", &format!("nobody:{name}")]);
    let st = Proc(pid).status_map();
    assert_eq!(st["Uid"].split_whitespace().next(), Some("65534"));
    assert_eq!(
        st["Gid"].split_whitespace().collect::<Vec<_>>(),
        [gid.as_str(); 4],
        "{st:?}"
    );
    assert!(!st["Groups"].split_whitespace().any(|g| g == "0"), "{st:?}");

    // --group alone: the uid stays, the gid changes, supplementary groups reset.
    let t = Test::new();
    let pid = t.start_sleep(&["--group", &name]);
    let st = Proc(pid).status_map();
    assert_eq!(st["Uid"].split_whitespace().next(), Some("0"));
    assert_eq!(
        st["Gid"].split_whitespace().collect::<Vec<_>>(),
        [gid.as_str(); 4],
        "{st:?}"
    );
    assert_eq!(st["Groups"], gid, "{st:?}");
}

/// Copies `/bin/sleep` and the libraries `ldd` names into `root`; `false` if that
/// cannot be done here.
fn build_chroot(root: &Path) -> bool {
    let Ok(out) = Command::new("ldd").arg("/bin/sleep").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut files = vec![PathBuf::from("/bin/sleep")];
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux... (0x...)"
        if let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(PathBuf::from(path));
        }
    }
    if !out.status.success() && !text.contains("not a dynamic executable") {
        return false;
    }
    for file in files {
        let target = root.join(file.strip_prefix("/").unwrap());
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        if !copy_executable(&file, &target) {
            return false;
        }
    }
    true
}

#[test]
fn chroot_and_chdir_inside_it() {
    if skip_unless_root(
        "chroot_and_chdir_inside_it",
        "chroot(2) needs CAP_SYS_CHROOT",
    ) {
        return;
    }
    let t = Test::new();
    let root = t.path("root");
    fs::create_dir_all(root.join("work")).unwrap();
    if !build_chroot(&root) {
        println!("skipped: chroot_and_chdir_inside_it: cannot copy /bin/sleep and its libraries (no ldd?)");
        return;
    }
    // A bare name, looked up in the safe PATH inside the chroot (/bin/sleep there;
    // the host's /usr/bin/sleep does not exist inside).
    let out = t.start(
        &[
            "--chroot",
            root.to_str().unwrap(),
            "--chdir",
            "/work",
            "--clear-env",
        ],
        &t.pidfile(),
        &os_args(&["sleep", &t.marker]),
    );
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    assert!(Proc(pid).alive());
    assert_eq!(Proc(pid).link("root"), root);
    assert_eq!(Proc(pid).link("cwd"), root.join("work"));
    assert_eq!(
        Proc(pid).cmdline(),
        [b"sleep".to_vec(), t.marker.clone().into()]
    );
    // The pidfile was opened outside the chroot.
    assert_fds(pid, &t.pidfile(), &[]);

    // Default working directory: the new root.
    let t2 = Test::new();
    let out = t2.start(
        &["--chroot", root.to_str().unwrap()],
        &t2.pidfile(),
        &t2.sleep(),
    );
    out.code(0).no_stderr();
    let pid = t2.daemon_pid(&t2.pidfile());
    assert_eq!(Proc(pid).link("cwd"), root);
}

// --- readiness ------------------------------------------------------------------------

#[test]
fn notify_fd_waits_for_the_newline() {
    // Without a timeout (a blocking read) and with one (a poll first).
    for timeout in [&[][..], &["--timeout", "10"]] {
        let t = Test::new();
        let mut options = vec!["--notify-fd", NOTIFY_FD];
        options.extend(timeout);
        let out = t.start(
            &options,
            &t.pidfile(),
            &t.script(&format!("sleep 0.3; echo >&{NOTIFY_FD}; exec sleep \"$0\"")),
        );
        out.code(0).no_stderr();
        assert!(
            out.elapsed >= Duration::from_millis(250),
            "{options:?}: start returned after {:?}, before the program was ready",
            out.elapsed
        );
        let pid = t.daemon_pid(&t.pidfile());
        assert!(Proc(pid).alive());
        wait_exec(pid, "sleep", &t.marker);
        // The readiness descriptor is a pipe's write end, and not the pidfile's number.
        let number: i32 = NOTIFY_FD.parse().unwrap();
        let pidfile_fd = assert_fds(pid, &t.pidfile(), &[number]);
        assert_ne!(pidfile_fd, number);
        let pipe = Proc(pid).fds()[&number].to_string_lossy().into_owned();
        assert!(pipe.starts_with("pipe:"), "fd {number} is {pipe}");
    }
}

#[test]
fn notify_fd_closed_without_newline_fails_and_leaves_nothing_running() {
    let t = Test::new();
    let out = t.start(
        &["--notify-fd", NOTIFY_FD],
        &t.pidfile(),
        &t.script(&format!("exec {NOTIFY_FD}>&-; exec sleep \"$0\"")),
    );
    assert_ne!(out.code, Some(0), "{out:#?}");
    out.one_error_line(&format!(
        "closed descriptor {NOTIFY_FD} without reporting readiness"
    ));
    assert!(
        !t.pidfile().exists(),
        "the pidfile of a failed start is left"
    );
    // The issue: non-zero on EOF, and nothing left behind.
    t.assert_none_left(Duration::from_secs(2));
}

#[test]
fn notify_fd_timeout_kills_the_program() {
    let t = Test::new();
    let out = t.start(
        &["--notify-fd", NOTIFY_FD, "--timeout", "0.3"],
        &t.pidfile(),
        &t.sleep(),
    );
    assert_ne!(out.code, Some(0), "{out:#?}");
    out.one_error_line("not ready within 0.300 s");
    assert!(
        out.elapsed >= Duration::from_millis(250),
        "{:?}",
        out.elapsed
    );
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    assert!(!t.pidfile().exists());
    t.assert_none_left(Duration::from_secs(5));
}

/// The brief's `--notify-fd 5` (and any other free number a shell can redirect) must
/// work whatever numbers the command uses internally.
#[test]
fn notify_fd_accepts_any_free_descriptor_number() {
    let t = Test::new();
    let mut refused = Vec::new();
    for n in 3..=9 {
        let pidfile = t.path(&format!("n{n}.pid"));
        let out = t.start(
            &["--notify-fd", &n.to_string()],
            &pidfile,
            &t.script(&format!("echo >&{n}; exec sleep \"$0\"")),
        );
        if out.code == Some(0) {
            let pid = t.daemon_pid(&pidfile);
            assert_fds(pid, &pidfile, &[n]);
        } else {
            refused.push(format!("--notify-fd {n}: {}", out.stderr.trim()));
        }
    }
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

// --- exec failures ----------------------------------------------------------------------

fn bad_interpreter(t: &Test) -> PathBuf {
    let script = t.path("bad-interp.sh");
    write_executable(&script, "#!/nonexistent/interpreter\n", 0o755);
    script
}

/// Each failure: code 3, one line, nothing running, the pidfile as it was
/// (absent, or its old content, unlocked).
#[test]
fn exec_failures_print_one_line_and_leave_nothing() {
    let t = Test::new();
    let script = bad_interpreter(&t);
    let script = script.to_str().unwrap();
    let cases = [
        (
            "nosuchprog",
            "cannot execute nosuchprog: No such file or directory",
        ),
        ("/etc/passwd", "cannot execute /etc/passwd: "),
        (script, &format!("cannot execute {script}: ")),
        ("/nonexistent/prog", "cannot execute /nonexistent/prog: "),
    ];
    for (program, message) in &cases {
        for previous in [None, Some("4242\n")] {
            let pidfile = t.pidfile();
            let _ = fs::remove_file(&pidfile);
            if let Some(content) = previous {
                fs::write(&pidfile, content).unwrap();
            }
            let out = t.start(&[], &pidfile, &os_args(&[program, &t.marker]));
            out.code(3).one_error_line(message).no_stdout();
            match previous {
                None => assert!(!pidfile.exists(), "{program}: pidfile left"),
                Some(content) => {
                    assert_eq!(read(&pidfile), content, "{program}: pidfile changed");
                    assert!(flock_free(&pidfile), "{program}: pidfile still locked");
                }
            }
            t.assert_none_left(Duration::from_secs(2));
        }
    }
}

/// The errno of an exec failure is described in words, in every build.
#[test]
fn exec_failure_messages_describe_the_errno() {
    let t = Test::new();
    let script = bad_interpreter(&t);
    let out = t.start(&[], &t.pidfile(), &os_args(&["/etc/passwd", &t.marker]));
    out.code(3)
        .one_error_line("cannot execute /etc/passwd: Permission denied");
    let out = t.start(
        &[],
        &t.pidfile(),
        &[script.clone().into(), t.marker.clone().into()],
    );
    out.code(3).one_error_line(&format!(
        "cannot execute {}: No such file or directory",
        script.display()
    ));
}

/// In the foreground the command is the program: a failed exec must still be told on
/// the caller's stderr (not on the /dev/null the program's stderr became).
#[test]
fn foreground_exec_failure_prints_one_line() {
    let t = Test::new();
    let out = t.start(
        &["--foreground"],
        &t.pidfile(),
        &os_args(&["/etc/passwd", &t.marker]),
    );
    assert!(!t.pidfile().exists(), "pidfile left");
    out.code(3).one_error_line("cannot execute /etc/passwd");
}

// --- already running ------------------------------------------------------------------

#[test]
fn start_twice_says_already_running() {
    let t = Test::new();
    let pid = t.start_sleep(&[]);
    let out = t.start(&[], &t.pidfile(), &t.sleep());
    out.code(1)
        .one_error_line(&format!("already running (pid {pid}"))
        .no_stdout();
    assert_eq!(read(&t.pidfile()), format!("{pid}\n"));
    assert_eq!(t.live_processes(), [pid], "a second program runs");

    let out = t.start(&["--oknodo"], &t.pidfile(), &t.sleep());
    out.code(0).no_stderr();
    assert!(
        out.stdout.contains(&format!("already running (pid {pid}")),
        "{out:#?}"
    );
    let out = t.start(&["--oknodo", "--quiet"], &t.pidfile(), &t.sleep());
    out.code(0).no_stderr().no_stdout();
    assert_eq!(t.live_processes(), [pid], "a second program runs");
}

#[test]
fn start_over_a_stale_pidfile_reuses_it() {
    let t = Test::new();
    fs::write(t.pidfile(), "999999\n").unwrap();
    let pid = t.start_sleep(&[]);
    assert_eq!(read(&t.pidfile()), format!("{pid}\n"));
    assert!(!flock_free(&t.pidfile()));
}

// --- stop -------------------------------------------------------------------------------

fn stop(t: &Test, extra: &[&str]) -> Output {
    let mut args = os_args(&["stop", "--pidfile"]);
    args.push(t.pidfile().into());
    args.extend(extra.iter().map(OsString::from));
    t.run(args)
}

fn status_of(t: &Test, pidfile: &Path) -> Output {
    t.run([OsString::from("status"), "--pidfile".into(), pidfile.into()])
}

#[test]
fn stop_with_retry_stops_and_removes_the_pidfile() {
    let t = Test::new();
    let pid = t.start_sleep(&[]);
    let out = stop(&t, &["--retry", "TERM/5"]);
    out.code(0).no_stderr();
    assert_eq!(out.stdout, format!("stopped (pid {pid})\n"));
    assert!(!Proc(pid).alive(), "still running after stop");
    assert!(!t.pidfile().exists(), "the pidfile was left");
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);

    let t = Test::new();
    let pid = t.start_sleep(&[]);
    stop(&t, &["--retry", "5", "--quiet"])
        .code(0)
        .no_stdout()
        .no_stderr();
    assert!(!Proc(pid).alive());
}

#[test]
fn stop_schedule_exhausted_gives_2_and_kill_step_gives_0() {
    let t = Test::new();
    let out = t.start(
        &[],
        &t.pidfile(),
        &t.script("trap '' TERM; exec sleep \"$0\""),
    );
    out.code(0);
    let pid = t.daemon_pid(&t.pidfile());
    wait_exec(pid, "sleep", &t.marker);
    assert_ne!(
        Proc(pid).status("SigIgn"),
        JOB_CONTROL_IGNORED,
        "TERM not ignored"
    );

    let out = stop(&t, &["--retry", "TERM/1"]);
    out.code(2)
        .one_error_line(&format!("pid {pid} still runs"))
        .no_stdout();
    assert!(
        out.elapsed >= Duration::from_millis(900),
        "{:?}",
        out.elapsed
    );
    assert!(Proc(pid).alive(), "the program died of an ignored signal");
    assert_eq!(read(&t.pidfile()), format!("{pid}\n"));

    let out = stop(&t, &["--retry", "TERM/1/KILL/5"]);
    out.code(0).no_stderr();
    assert_eq!(out.stdout, format!("stopped (pid {pid})\n"));
    assert!(!Proc(pid).alive());
    assert!(!t.pidfile().exists());
}

#[test]
fn stop_with_a_signal_and_no_retry_only_signals() {
    let t = Test::new();
    let pid = t.start_sleep(&[]);
    let out = stop(&t, &["--signal", "KILL"]);
    out.code(0).no_stderr();
    assert_eq!(out.stdout, format!("signalled (pid {pid})\n"));
    wait_until("the program to die", || {
        (!Proc(pid).alive())
            .then_some(())
            .ok_or(Proc(pid).cmdline_text())
    });
    // Not waited on: the pidfile stays, stale.
    let st = status_of(&t, &t.pidfile());
    st.code(1);

    // --signal with a number schedule: SIG/N/KILL/N.
    let t = Test::new();
    let pid = t.start_sleep(&[]);
    stop(&t, &["--signal", "INT", "--retry", "5"]).code(0);
    assert!(!Proc(pid).alive());
}

#[test]
fn stop_when_not_running_gives_1_or_0_with_oknodo() {
    let t = Test::new();
    // No pidfile.
    let out = stop(&t, &[]);
    out.code(1).no_stderr();
    assert!(out.stdout.contains("not running"), "{out:#?}");
    stop(&t, &["--oknodo"]).code(0).no_stderr();
    stop(&t, &["--oknodo", "--quiet"])
        .code(0)
        .no_stderr()
        .no_stdout();

    // A stale pidfile naming a live process that is not ours: nothing is signalled.
    let victim = Command::new("/bin/sleep").arg(&t.marker).spawn().unwrap();
    let victim_pid = victim.id() as i32;
    t.adopt(victim);
    fs::write(t.pidfile(), format!("{victim_pid}\n")).unwrap();
    stop(&t, &["--retry", "KILL/1"]).code(1);
    stop(&t, &["--retry", "KILL/1", "--oknodo"]).code(0);
    assert!(
        Proc(victim_pid).alive(),
        "a process named by a stale pidfile was killed"
    );
}

// --- status -------------------------------------------------------------------------

#[test]
fn status_codes() {
    let t = Test::new();
    let pidfile = t.pidfile();
    let out = status_of(&t, &pidfile);
    out.code(3).no_stderr();
    assert_eq!(out.stdout, "not running\n");

    let pid = t.start_sleep(&[]);
    let out = status_of(&t, &pidfile);
    out.code(0).no_stderr();
    assert_eq!(out.stdout, format!("running (pid {pid})\n"));
    t.run([
        OsString::from("status"),
        "--quiet".into(),
        "--pidfile".into(),
        pidfile.clone().into(),
    ])
    .code(0)
    .no_stdout();

    // SIGKILL: the lock goes with the process, the file stays.
    kill(pid, libc::SIGKILL);
    let out = wait_until("status 1 after SIGKILL", || {
        let out = status_of(&t, &pidfile);
        if out.code == Some(1) {
            Ok(out)
        } else {
            Err(format!("{out:?}"))
        }
    });
    assert!(out.stdout.contains(&format!("names pid {pid}")), "{out:#?}");
    assert!(pidfile.exists());

    // Cannot tell: world-writable, or not a PID.
    let t = Test::new();
    let pidfile = t.pidfile();
    fs::write(&pidfile, "12345\n").unwrap();
    fs::set_permissions(&pidfile, fs::Permissions::from_mode(0o666)).unwrap();
    status_of(&t, &pidfile)
        .code(4)
        .one_error_line("writable by others")
        .no_stdout();
    fs::remove_file(&pidfile).unwrap();
    fs::write(&pidfile, "not a pid\n").unwrap();
    status_of(&t, &pidfile)
        .code(4)
        .one_error_line("does not hold a valid PID");
    fs::remove_file(&pidfile).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &pidfile).unwrap();
    status_of(&t, &pidfile)
        .code(4)
        .one_error_line("symbolic link");
}

// --- restart ------------------------------------------------------------------------

fn restart(t: &Test, options: &[&str], program: &[OsString]) -> Output {
    let mut args = os_args(&["restart"]);
    args.extend(options.iter().map(OsString::from));
    args.extend(["--pidfile".into(), t.pidfile().into(), "--".into()]);
    args.extend(program.iter().cloned());
    t.run(args)
}

#[test]
fn restart_replaces_a_running_daemon() {
    let t = Test::new();
    let a = t.start_sleep(&[]);
    let out = restart(
        &t,
        &["--retry", "TERM/5", "--umask", "027", "--env", "GEN=2"],
        &t.sleep(),
    );
    out.code(0).no_stderr();
    let b = t.daemon_pid(&t.pidfile());
    assert_ne!(a, b);
    assert!(!Proc(a).alive(), "the old daemon runs on");
    assert!(Proc(b).alive());
    assert_eq!(t.live_processes(), [b]);
    assert!(!flock_free(&t.pidfile()));
    assert_fds(b, &t.pidfile(), &[]);
    // The start options of the restart apply to the new daemon.
    assert_eq!(Proc(b).status("Umask"), "0027");
    assert!(Proc(b).environ().contains(&"GEN=2".to_owned()));
}

#[test]
fn restart_when_not_running_just_starts() {
    let t = Test::new();
    let out = restart(&t, &[], &t.sleep());
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&t.pidfile());
    assert!(Proc(pid).alive());
}

#[test]
fn restart_that_cannot_stop_starts_nothing() {
    let t = Test::new();
    t.start(
        &[],
        &t.pidfile(),
        &t.script("trap '' TERM; exec sleep \"$0\""),
    )
    .code(0);
    let a = t.daemon_pid(&t.pidfile());
    // TERM is ignored only once the script has run `trap`.
    wait_exec(a, "sleep", &t.marker);
    let out = restart(&t, &["--retry", "TERM/1"], &t.sleep());
    out.code(2).one_error_line("still runs");
    assert!(Proc(a).alive());
    assert_eq!(read(&t.pidfile()), format!("{a}\n"));
    assert_eq!(t.live_processes(), [a], "a second daemon was started");
}

// --- the caller's pipes -------------------------------------------------------------

#[test]
fn command_substitution_returns_at_once() {
    let t = Test::new();
    let mut sh = Command::new("/bin/sh");
    sh.args([
        "-c",
        "x=$(\"$@\" start --pidfile \"$P\" -- /bin/sleep \"$M\"); echo \"done:$?:$x\"",
        "sh",
    ])
    .args(invocation())
    .env("P", t.pidfile())
    .env("M", &t.marker)
    .stdin(Stdio::null());
    let out = run_with_limit(sh, Duration::from_secs(5));
    out.code(0).no_stderr();
    assert_eq!(out.stdout, "done:0:\n");
    let pid = t.daemon_pid(&t.pidfile());
    assert!(Proc(pid).alive(), "the daemon did not survive");
}

// --- interoperability ------------------------------------------------------------------

fn ssd_status(ssd: &Path, pidfile: &Path) -> Option<i32> {
    Command::new(ssd)
        .args(["--status", "--pidfile"])
        .arg(pidfile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .code()
}

#[test]
fn start_stop_daemon_status_agrees() {
    let Some(ssd) = find_tool("start-stop-daemon") else {
        println!("skipped: start_stop_daemon_status_agrees: no start-stop-daemon here");
        return;
    };
    let t = Test::new();
    let pidfile = t.pidfile();
    t.start_sleep(&[]);
    let codes = |state| {
        let ours = status_of(&t, &pidfile).code;
        assert_eq!(ssd_status(&ssd, &pidfile), ours, "{state}");
        ours
    };
    assert_eq!(codes("running"), Some(0));
    stop(&t, &["--retry", "TERM/5"]).code(0);
    assert_eq!(codes("absent"), Some(3));

    // Stale: a foreground daemon we reap ourselves, so no zombie can look alive to
    // start-stop-daemon (whose check is kill(pid, 0)) however slow init is.
    let mut cmd = t.start_cmd(&["--foreground"], &pidfile, &t.sleep());
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    wait_exec(pid, "/bin/sleep", &t.marker);
    assert_eq!(t.daemon_pid(&pidfile), pid);
    assert_eq!(codes("running in the foreground"), Some(0));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(codes("stale"), Some(1));
}

#[test]
fn start_stop_daemon_stops_our_daemon() {
    let Some(ssd) = find_tool("start-stop-daemon") else {
        println!("skipped: start_stop_daemon_stops_our_daemon: no start-stop-daemon here");
        return;
    };
    let t = Test::new();
    let pidfile = t.pidfile();
    // In the foreground, reaped by a thread of ours at once: start-stop-daemon waits
    // with kill(pid, 0), which a zombie left for a slow init would pass.
    let mut cmd = t.start_cmd(&["--foreground"], &pidfile, &t.sleep());
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    t.learn(pid);
    let reaper = std::thread::spawn(move || child.wait().unwrap());
    wait_until("the pidfile", || {
        (fs::read_to_string(&pidfile).unwrap_or_default() == format!("{pid}\n"))
            .then_some(())
            .ok_or_else(|| Proc(pid).cmdline_text())
    });
    let out = Command::new(&ssd)
        .args(["--stop", "--retry", "TERM/5", "--pidfile"])
        .arg(&pidfile)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let status = reaper.join().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // Left behind by the program, unlocked: stale for both.
    status_of(&t, &pidfile).code(1);
    assert!(flock_free(&pidfile));

    // A detached daemon: start-stop-daemon signals the PID our pidfile names.
    let t = Test::new();
    let pid = t.start_sleep(&[]);
    let out = Command::new(&ssd)
        .args(["--stop", "--signal", "TERM", "--pidfile"])
        .arg(t.pidfile())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    wait_until("the daemon to die", || {
        (!Proc(pid).alive())
            .then_some(())
            .ok_or(Proc(pid).cmdline_text())
    });
}

#[test]
fn flock_sees_the_lock() {
    let Some(flock) = find_tool("flock") else {
        println!("skipped: flock_sees_the_lock: no flock(1) here");
        return;
    };
    let t = Test::new();
    let pid = t.start_sleep(&[]);
    assert!(
        !flock_free(&t.pidfile()),
        "flock -n got the lock of a running daemon"
    );
    // A lock that flock(1) holds on a file it created (0644, empty) blocks a start,
    // which says what blocks it: not a daemon of ours, which names itself.
    // Blocking (no -n): the probe below may hold the lock for an instant.
    let mut holder = Command::new(flock)
        .arg(t.path("held.pid"))
        .args(["/bin/sleep", &t.marker])
        .spawn()
        .unwrap();
    wait_until("flock to hold the lock", || {
        (!flock_free(&t.path("held.pid")))
            .then_some(())
            .ok_or(String::new())
    });
    let out = t.start(&[], &t.path("held.pid"), &t.sleep());
    out.code(3)
        .one_error_line("is locked by a process that wrote no PID");
    holder.kill().unwrap();
    holder.wait().unwrap();

    kill(pid, libc::SIGKILL);
    wait_until("the lock to go with the daemon", || {
        flock_free(&t.pidfile()).then_some(()).ok_or(String::new())
    });
}

// --- bad input ---------------------------------------------------------------------

/// Every case: code 3 (4 for status, LSB's unknown), one line `daemonic: ...` on
/// stderr, nothing on stdout, nothing running, and the pidfile untouched (absent, or
/// as it was).
///
/// An interior NUL cannot be tested: argv entries are C strings, so no argument can
/// contain one, and the command reads no file-based arguments.
#[test]
fn bad_input_gives_one_line_and_code_3() {
    let t = Test::new();
    let p = t.pidfile();
    let p = p.to_str().unwrap();
    let m = t.marker.as_str();
    let dir_pidfile = format!("{}/", t.dir.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "no command"),
        (vec!["bogus"], "unknown command bogus"),
        (
            vec!["start", "--bogus", "--pidfile", p, "--", "/bin/sleep", m],
            "unknown option --bogus",
        ),
        (
            vec!["start", "--pidfile", p],
            "missing -- before the program",
        ),
        (
            vec!["start", "--pidfile", p, "/bin/sleep", m],
            "the program goes after --",
        ),
        (
            vec!["start", "--pidfile", p, "--"],
            "missing program after --",
        ),
        (
            vec!["start", "--pidfile", p, "--", "", m],
            "empty program name",
        ),
        (vec!["start", "--pidfile"], "missing value for --pidfile"),
        (
            vec![
                "start",
                "--umask",
                "9",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "--umask takes an octal mask",
        ),
        (
            vec![
                "start",
                "--umask",
                "0x1f",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "--umask takes an octal mask",
        ),
        (
            vec![
                "start",
                "--umask",
                "1000",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "--umask takes an octal mask",
        ),
        (
            vec![
                "start",
                "--user",
                "no-such-user-x",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "unknown user no-such-user-x",
        ),
        (
            vec![
                "start",
                "--group",
                "no-such-group-x",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "unknown group no-such-group-x",
        ),
        (
            vec![
                "start",
                "--keep-fd",
                "57",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "descriptor 57 to preserve is not open",
        ),
        (
            vec![
                "start",
                "--keep-fd",
                "x",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "not a descriptor number",
        ),
        (
            vec![
                "start",
                "--notify-fd",
                "1",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "readiness descriptor 1",
        ),
        (
            vec![
                "start",
                "--notify-fd",
                "9",
                "--foreground",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "detached",
        ),
        (
            vec![
                "start",
                "--env",
                "NOEQUALS",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "--env takes NAME=VALUE",
        ),
        (
            vec![
                "start",
                "--env",
                "=x",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "--env takes NAME=VALUE",
        ),
        (
            vec![
                "start",
                "--timeout",
                "soon",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "--timeout takes seconds",
        ),
        (
            vec![
                "start",
                "--chdir",
                "relative",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "not an absolute path",
        ),
        (
            vec![
                "start",
                "--chdir",
                "/nonexistent-x",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "cannot change directory to /nonexistent-x",
        ),
        (
            vec![
                "start",
                "--stdout",
                "/nonexistent-x/log",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "cannot open /nonexistent-x/log for stdout",
        ),
        (
            vec![
                "start",
                "--quiet=yes",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "option takes no value",
        ),
        (
            vec![
                "start",
                "--signal",
                "KILL",
                "--pidfile",
                p,
                "--",
                "/bin/sleep",
                m,
            ],
            "does not apply",
        ),
        (
            vec!["start", "--pidfile", &dir_pidfile, "--", "/bin/sleep", m],
            "names no file",
        ),
        (
            vec![
                "start",
                "--pidfile",
                "/nonexistent-x/a.pid",
                "--",
                "/bin/sleep",
                m,
            ],
            "cannot open pidfile",
        ),
        (vec!["stop"], "missing --pidfile"),
        (
            vec!["stop", "--pidfile", p, "--signal", "NOPE"],
            "unknown signal NOPE",
        ),
        (
            vec!["stop", "--pidfile", p, "--retry", "TERM/x"],
            "stop schedule",
        ),
        (
            vec!["stop", "--pidfile", p, "--retry", "forever/TERM"],
            "forever",
        ),
        (
            vec!["stop", "--pidfile", p, "--", "/bin/sleep", m],
            "only start and restart take a program",
        ),
        (vec!["status"], "missing --pidfile"),
        (
            vec!["status", "--pidfile", p, "--retry", "5"],
            "does not apply",
        ),
        (vec!["restart", "--", "/bin/sleep", m], "missing --pidfile"),
    ];
    for (args, message) in &cases {
        for previous in [None, Some("4242\n")] {
            let pidfile = t.pidfile();
            let _ = fs::remove_file(&pidfile);
            if let Some(content) = previous {
                fs::write(&pidfile, content).unwrap();
            }
            let out = t.run(args);
            // status's usage errors are LSB's 4 (unknown); the others', 3.
            let code = if args.first() == Some(&"status") {
                4
            } else {
                3
            };
            assert_eq!(out.code, Some(code), "{args:?}: {out:#?}");
            out.one_error_line(message).no_stdout();
            match previous {
                None => assert!(!pidfile.exists(), "{args:?}: a pidfile was created"),
                Some(content) => {
                    assert_eq!(read(&pidfile), content, "{args:?}: the pidfile changed");
                    assert!(flock_free(&pidfile), "{args:?}: the pidfile is locked");
                }
            }
            // A daemon whose step failed may still be exiting: poll.
            t.assert_none_left(Duration::from_secs(2));
        }
    }
    // --user with bytes that are not UTF-8.
    let out = t.run([
        os("start".as_bytes()),
        os(b"--user"),
        os(b"n\xffbody"),
        os(b"--"),
        os(b"/bin/sleep"),
        os(m.as_bytes()),
    ]);
    out.code(3).one_error_line("n\\xffbody");
}

#[test]
fn insecure_pidfile_is_refused_and_left_alone() {
    let t = Test::new();
    let pidfile = t.pidfile();
    fs::write(&pidfile, "4242\n").unwrap();
    fs::set_permissions(&pidfile, fs::Permissions::from_mode(0o666)).unwrap();
    let out = t.start(&[], &pidfile, &t.sleep());
    out.code(3).one_error_line("refusing pidfile").no_stdout();
    assert_eq!(read(&pidfile), "4242\n");
    t.assert_none_left(Duration::from_secs(2));

    fs::remove_file(&pidfile).unwrap();
    std::os::unix::fs::symlink(t.path("elsewhere"), &pidfile).unwrap();
    let out = t.start(&[], &pidfile, &t.sleep());
    out.code(3).one_error_line("symbolic link");
    assert!(!t.path("elsewhere").exists(), "created through a symlink");
}

/// Paths are bytes: a pidfile name that is not UTF-8 works for start, status and stop,
/// and messages show its odd bytes as `\xNN`.
#[test]
fn a_pidfile_path_that_is_not_utf8_works() {
    let t = Test::new();
    let mut raw = t.dir.as_os_str().as_encoded_bytes().to_vec();
    raw.extend_from_slice(b"/odd-\xff\xfe.pid");
    let pidfile = PathBuf::from(os(&raw));
    let out = t.start(&[], &pidfile, &t.sleep());
    out.code(0).no_stderr();
    let pid = t.daemon_pid(&pidfile);
    assert_fds(pid, &pidfile, &[]);
    let out = status_of(&t, &pidfile);
    out.code(0);
    assert_eq!(out.stdout, format!("running (pid {pid})\n"));
    let out = t.run([
        OsString::from("stop"),
        "--retry".into(),
        "TERM/5".into(),
        "--pidfile".into(),
        pidfile.clone().into(),
    ]);
    out.code(0);
    assert!(!Proc(pid).alive());
    assert!(!pidfile.exists());

    fs::write(&pidfile, "garbage\n").unwrap();
    let out = status_of(&t, &pidfile);
    out.code(4).one_error_line("odd-\\xff\\xfe.pid");
}
