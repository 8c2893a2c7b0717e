//! The promises of the security model (README, "Who can do what to a pidfile") and the
//! failure paths of issue 11, each checked on the `daemonic` command in real
//! processes. Each test names the item it proves; each failed on 46783f4.

mod support {
    pub mod cli;
    pub mod files;
    pub mod output;
    pub mod proc;
    pub mod test;
    pub mod wait;
}

use support::cli::skip_unless_root;
use support::files::{find_tool, mode_of, pidfile_pid};
use support::output::Spawned;
use support::proc::Proc;
use support::test::Test;
use support::wait::{kill, wait_until, DEADLINE};

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `nobody`'s ids in Debian's /etc/passwd.
const NOBODY: u32 = 65534;

/// `flock(1)` run as `nobody` on `path` with `args`; `None` without util-linux's flock.
fn flock_as_nobody(path: &std::path::Path, args: &[&str]) -> Option<Command> {
    let mut cmd = Command::new(find_tool("flock")?);
    cmd.args(args)
        .arg(path)
        .args(["true"])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Some(cmd)
}

/// Item 1: the pidfile a start creates is 0600, so another user cannot open it, and
/// so cannot lock it (queued or shared) to fake or block the daemon.
#[test]
fn another_user_cannot_lock_the_pidfile() {
    if skip_unless_root(
        "another_user_cannot_lock_the_pidfile",
        "it runs flock(1) as nobody",
    ) {
        return;
    }
    let t = Test::new();
    t.start_sleep(&[]);
    assert_eq!(mode_of(&t.pidfile()) & 0o7777, 0o600);
    for args in [&["-x", "-n"][..], &["-s", "-n"], &["-x", "-w", "0.2"]] {
        let Some(mut flock) = flock_as_nobody(&t.pidfile(), args) else {
            println!("skipped: another_user_cannot_lock_the_pidfile needs util-linux's flock");
            return;
        };
        let out = flock.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("Permission denied"),
            "nobody's flock {args:?}: {:?} {stderr}",
            out.status
        );
    }
}

/// Item 5: SIGINT, SIGTERM or SIGHUP to a launcher waiting for readiness ends the
/// start as a failure would: the program is killed, the pidfile put back (here:
/// removed), and the launcher dies of that signal (a shell shows 128+N).
#[test]
fn interrupting_the_launcher_kills_the_program_and_restores_the_pidfile() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let t = Test::new();
        let cmd = t.start_cmd(&["--notify-fd", "5"], &t.pidfile(), &t.sleep());
        let launcher = Spawned::spawn(cmd);
        let marker = t.marker.clone();
        // The program itself, exec'd (the launcher's arguments carry the marker too): a
        // launcher killed before its fork cannot restore what it created (README).
        let program = wait_until("the program to run", || {
            t.live_processes()
                .into_iter()
                .find(|&p| Proc(p).cmdline() == [&b"/bin/sleep"[..], marker.as_bytes()])
                .ok_or_else(|| "not yet".to_string())
        });
        t.learn(program);
        kill(launcher.pid(), signal);
        let out = launcher.finish_within(DEADLINE).unwrap();
        assert_eq!(out.signal, Some(signal), "{out:#?}");
        t.assert_none_left(Duration::from_secs(5));
        // The intermediate process puts the pidfile back once the program is dead.
        wait_until(&format!("signal {signal}: the pidfile to go"), || {
            if t.pidfile().exists() {
                Err("the pidfile of an interrupted start is left".into())
            } else {
                Ok(())
            }
        });
    }
}

/// Item 12: `stop` removes the pidfile an exec'd program leaves even while other tools
/// probe it with shared locks (`flock -s`, start-stop-daemon's status): a reader
/// never makes the removal fail.
#[test]
fn stop_removes_the_pidfile_under_a_probe_loop() {
    let t = Test::new();
    let done = AtomicBool::new(false);
    // Ends the probe loop even when an assertion below fails.
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    std::thread::scope(|s| {
        let _done = Done(&done);
        s.spawn(|| {
            // flock(1) would create the file when stop has removed it: probe in-process.
            while !done.load(Ordering::SeqCst) {
                // A probe as status tools make them: lock, read, close, now and then.
                if let Ok(file) = fs::File::open(t.pidfile()) {
                    // SAFETY: flock on a descriptor we own; the lock goes with `file`.
                    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
                    let _ = fs::read(t.pidfile());
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        for cycle in 0..40 {
            let pid = t.start_sleep(&[]);
            let out = t.run([
                "stop".into(),
                "--retry".into(),
                "TERM/5".into(),
                "--pidfile".into(),
                t.pidfile().into_os_string(),
            ]);
            out.code(0);
            assert!(!Proc(pid).alive());
            assert!(
                !t.pidfile().exists(),
                "cycle {cycle}: stop said {:?} and left the pidfile",
                out.stdout
            );
        }
    });
}

/// Item 1: a stale pidfile another user locked (it was 0644, as older versions made
/// them), naming a live root process that does not hold the lock: `status` says
/// unknown (4), `stop` signals nothing, `start` says what blocks it.
#[test]
fn a_strangers_lock_is_never_believed() {
    if skip_unless_root("a_strangers_lock_is_never_believed", "it locks as nobody") {
        return;
    }
    let t = Test::new();
    let mut unrelated = t.command("/bin/sleep");
    unrelated.arg(&t.marker);
    let unrelated = unrelated.spawn().unwrap();
    let victim = unrelated.id() as i32;
    t.adopt(unrelated);
    fs::write(t.pidfile(), format!("{victim}\n")).unwrap();
    fs::set_permissions(t.pidfile(), fs::Permissions::from_mode(0o644)).unwrap();
    let Some(flock) = find_tool("flock") else {
        println!("skipped: a_strangers_lock_is_never_believed needs util-linux's flock");
        return;
    };
    let mut holder = Command::new(flock);
    holder
        .args(["-x", "-n"])
        .arg(t.pidfile())
        .args(["/bin/sleep", &t.marker])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null());
    let holder = holder.spawn().unwrap();
    t.adopt(holder);
    wait_until("nobody's lock", || {
        if support::files::is_locked(&t.pidfile()) {
            Ok(())
        } else {
            Err("not locked".into())
        }
    });
    let pidfile = t.pidfile().into_os_string();
    let status = t.run(["status".into(), "--pidfile".into(), pidfile.clone()]);
    status.code(4).one_error_line("is locked, but not by pid");
    let stop = t.run([
        "stop".into(),
        "--retry".into(),
        "TERM/1".into(),
        "--pidfile".into(),
        pidfile.clone(),
    ]);
    assert_ne!(stop.code, Some(0), "{stop:#?}");
    assert!(Proc(victim).alive(), "stop killed an unrelated process");
    let start = t.start(&[], &t.pidfile(), &t.sleep());
    start.code(3).one_error_line("is locked, but not by pid");
    assert_eq!(pidfile_pid(&t.pidfile()), victim);
}

/// A pipe whose reading end is already closed, as `cmd | (exec 0<&-; ...)` gives: its
/// writing end, for a child's stdout (set directly: `Spawned` would pipe it).
fn broken_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are ours, just created; the reading end is closed at once.
    unsafe {
        libc::close(fds[0]);
        Stdio::from(std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    }
}

/// As a shell starts a command: SIGPIPE at its default (the test harness ignores it,
/// and its children would inherit that).
fn default_sigpipe(cmd: &mut Command) {
    // SAFETY: signal(2) is async-signal-safe, as code between fork and exec must be.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            Ok(())
        });
    }
}

/// Item 8: a closed standard output kills neither `status` (its LSB code still comes)
/// nor `restart` halfway (the new daemon starts); the daemon it starts still gets
/// SIGPIPE's default disposition.
#[test]
fn a_closed_stdout_never_kills_the_command() {
    let t = Test::new();
    let old = t.start_sleep(&[]);
    let pidfile = t.pidfile().into_os_string();
    let mut status = t.cmd(["status".into(), "--pidfile".into(), pidfile.clone()]);
    status.stdout(broken_pipe());
    default_sigpipe(&mut status);
    let out = status.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "status: {out:?}");
    let mut restart = t.cmd(
        [
            "restart".into(),
            "--retry".into(),
            "TERM/5".into(),
            "--pidfile".into(),
            pidfile,
            "--".into(),
        ]
        .into_iter()
        .chain(t.sleep()),
    );
    restart.stdout(broken_pipe());
    default_sigpipe(&mut restart);
    let out = restart.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "restart: {out:?}");
    assert!(!Proc(old).alive());
    let new = t.daemon_pid(&t.pidfile());
    assert_ne!(new, old);
    let ignored = u64::from_str_radix(&Proc(new).status("SigIgn"), 16).unwrap();
    assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored");
}

/// Item 10 and the empty names: a `status` that cannot be asked is LSB's 4 (unknown),
/// never 3 (not running), even while the daemon runs; an empty name or path is named
/// as such, never "unknown user ".
#[test]
fn status_usage_errors_are_unknown_and_empty_names_are_refused() {
    let t = Test::new();
    t.start_sleep(&[]);
    let p = t.pidfile().into_os_string();
    let cases: [Vec<std::ffi::OsString>; 4] = [
        vec![
            "status".into(),
            "--oknodo".into(),
            "--pidfile".into(),
            p.clone(),
        ],
        vec!["status".into()],
        vec![
            "status".into(),
            "--pidfile".into(),
            p.clone(),
            "extra".into(),
        ],
        vec!["status".into(), "--pidfile".into(), "".into()],
    ];
    for args in cases {
        let out = t.run(&args);
        out.code(4).no_stdout();
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:#?}");
    }
    for (option, value) in [("--user", ""), ("--group", ""), ("--chdir", "")] {
        let out = t.start(&[option, value], &t.path("other.pid"), &t.sleep());
        out.code(3)
            .one_error_line(&format!("empty value for {option}"));
        assert!(!t.path("other.pid").exists());
    }
    let out = t.run(["stop", "--pidfile", ""]);
    out.code(3).one_error_line("empty value for --pidfile");
}

/// Item 4: a failed start kills everything it created, not only the program: here a
/// shell's background child, which would keep the lock on the removed pidfile.
#[test]
fn a_failed_start_kills_the_programs_children() {
    let t = Test::new();
    let program = t.script(r#"/bin/sleep "$0" & exec /bin/sleep "$0""#);
    assert_never_ready(&t, &program, "0.5", "not ready within 0.500 s");
}

/// Item 6: the timeout is one deadline for the whole start: bytes that never make a
/// line do not restart it.
#[test]
fn a_trickle_without_a_newline_does_not_restart_the_timeout() {
    let t = Test::new();
    let program = t.script(r#"while :; do printf x >&5; /bin/sleep 0.2; done"#);
    assert_never_ready(&t, &program, "1", "not ready within 1.000 s");
}

/// Starts `program` with `--notify-fd 5 --timeout <timeout>`: the start fails with
/// `message`, and nothing of it is left, not even the pidfile.
fn assert_never_ready(t: &Test, program: &[std::ffi::OsString], timeout: &str, message: &str) {
    let out = t.start(
        &["--notify-fd", "5", "--timeout", timeout],
        &t.pidfile(),
        program,
    );
    out.code(3).one_error_line(message);
    t.assert_none_left(Duration::from_secs(5));
    assert!(!t.pidfile().exists());
}

/// Item 7: a start refuses a file that does not hold a pidfile's content before it
/// changes anything: the file stays byte for byte (a big binary file, a text file).
#[test]
fn a_start_never_touches_a_file_that_is_not_a_pidfile() {
    let t = Test::new();
    let big: Vec<u8> = (0..4 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let text = b"first line\nsecond line\n12\n".to_vec();
    for content in [big, text] {
        fs::write(t.pidfile(), &content).unwrap();
        fs::set_permissions(t.pidfile(), fs::Permissions::from_mode(0o644)).unwrap();
        for program in [t.sleep(), vec!["/nonexistent/prog".into()]] {
            let out = t.start(&[], &t.pidfile(), &program);
            out.code(3)
                .one_error_line("it holds something other than a PID");
            assert!(
                fs::read(t.pidfile()).unwrap() == content,
                "the file changed"
            );
            assert_eq!(mode_of(&t.pidfile()) & 0o7777, 0o644);
        }
    }
    t.assert_none_left(Duration::from_secs(2));
}

/// Item 9: the notify socket's name is the kernel's pick, so no one can squat it in
/// advance. Here the name an earlier version derived from its PID is taken, and the
/// launcher is PID 1 of a new PID namespace (as in a container), as predictable as a
/// PID gets: the start still succeeds.
#[test]
fn a_squatted_notify_socket_name_cannot_block_a_start() {
    use std::os::linux::net::SocketAddrExt;
    if skip_unless_root(
        "a_squatted_notify_socket_name_cannot_block_a_start",
        "it makes a PID namespace with unshare(1)",
    ) {
        return;
    }
    let (Some(unshare), true) = (find_tool("unshare"), find_tool("python3").is_some()) else {
        println!(
            "skipped: a_squatted_notify_socket_name_cannot_block_a_start needs unshare and python3"
        );
        return;
    };
    let t = Test::new();
    let squatted =
        std::os::unix::net::SocketAddr::from_abstract_name(b"daemonic-notify-1").unwrap();
    let _squatter = std::os::unix::net::UnixDatagram::bind_addr(&squatted).unwrap();
    let program = t.script(&format!(
        r#"{} READY=1; exec /bin/sleep "$0""#,
        support::cli::SD_NOTIFY_SEND
    ));
    let mut args: Vec<std::ffi::OsString> = vec!["--pid".into(), "--fork".into()];
    args.extend(support::cli::invocation());
    args.extend([
        "start".into(),
        "--notify-socket".into(),
        "--timeout".into(),
        "5".into(),
        "--pidfile".into(),
        t.pidfile().into(),
        "--".into(),
    ]);
    args.extend(program);
    let mut cmd = Command::new(unshare);
    cmd.args(args).stdin(Stdio::null());
    // The namespace's processes die with its PID 1, the launcher, once it exits.
    let out = support::output::run_with_limit(cmd, DEADLINE);
    out.assert_success();
}

/// Item 10: `status` and `stop` do not read the environment, so its size cannot stop
/// them; `start` passes it on and says which limit a too big one hits (and a
/// `--clear-env` start does not pass it on at all).
#[test]
fn a_big_environment_limits_only_what_is_passed_on() {
    let t = Test::new();
    let big = |cmd: &mut Command| {
        for i in 0..600 {
            cmd.env(format!("DAEMONIC_TEST_FILLER_{i}"), "x");
        }
    };
    let mut start = t.start_cmd(&[], &t.pidfile(), &t.sleep());
    big(&mut start);
    let out = support::output::run_with_limit(start, DEADLINE);
    out.code(3)
        .one_error_line("more than 512 environment variables for the program");
    assert!(!t.pidfile().exists());
    let mut start = t.start_cmd(&["--clear-env"], &t.pidfile(), &t.sleep());
    big(&mut start);
    support::output::run_with_limit(start, DEADLINE).assert_success();
    let pid = t.daemon_pid(&t.pidfile());
    let pidfile = t.pidfile().into_os_string();
    let mut status = t.cmd(["status".into(), "--pidfile".into(), pidfile.clone()]);
    big(&mut status);
    support::output::run_with_limit(status, DEADLINE).code(0);
    let mut stop = t.cmd([
        "stop".into(),
        "--retry".into(),
        "TERM/5".into(),
        "--pidfile".into(),
        pidfile,
    ]);
    big(&mut stop);
    support::output::run_with_limit(stop, DEADLINE).code(0);
    assert!(!Proc(pid).alive());
}

/// Item 11 and the FIFO: output files are opened with the permissions of the user the
/// daemon becomes. `nobody`'s link to a root-only file is refused, the file left as
/// it was; `nobody`'s own log is created as `nobody`'s; a FIFO nobody reads fails the
/// start at once instead of hanging it.
#[test]
fn output_files_are_opened_as_the_daemons_user() {
    use std::os::unix::fs::{chown, MetadataExt};
    if skip_unless_root(
        "output_files_are_opened_as_the_daemons_user",
        "it starts a daemon as nobody",
    ) {
        return;
    }
    let t = Test::new();
    let secret = t.path("root-only");
    fs::write(&secret, "secret\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let theirs = t.path("nobodys");
    fs::create_dir(&theirs).unwrap();
    chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let link = theirs.join("app.log");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let link = link.to_str().unwrap();
    for stream in ["--stdout", "--stderr"] {
        let out = t.start(
            &["--user", "nobody", stream, link],
            &t.pidfile(),
            &t.sleep(),
        );
        out.code(3).error_line(&[link, "Permission denied"]);
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret\n");
        assert!(!t.pidfile().exists());
    }
    let own = theirs.join("own.log");
    let own_arg = own.to_str().unwrap();
    t.start_sleep(&["--user", "nobody", "--stdout", own_arg]);
    let meta = fs::metadata(&own).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
    // Root's own start still writes where root may.
    let fifo = t.path("fifo");
    support::files::mkfifo(&fifo);
    let out = t.start(
        &["--stdout", fifo.to_str().unwrap()],
        &t.path("other.pid"),
        &t.sleep(),
    );
    out.code(3).one_error_line("No such device or address");
    assert!(!t.path("other.pid").exists());
}

/// Kills `pid` with SIGKILL and waits until it is gone (its pidfile stays, stale).
fn kill_and_wait(pid: i32) {
    kill(pid, libc::SIGKILL);
    support::wait::wait_gone(pid);
}

/// Sets the soft and hard descriptor limit of `cmd`'s process to `n`.
fn nofile(cmd: &mut Command, n: u64) {
    // SAFETY: setrlimit(2) is async-signal-safe, as code between fork and exec must be.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The low item on descriptor numbers: a readiness descriptor with no room above it
/// under `RLIMIT_NOFILE` is named as such before anything is created; and a start
/// that runs out of descriptors right after creating the pidfile removes it.
#[test]
fn descriptor_limits_fail_a_start_cleanly() {
    let t = Test::new();
    for (limit, fd) in [(None, "1000000"), (Some(4), "3"), (Some(64), "63")] {
        let mut cmd = t.start_cmd(&["--notify-fd", fd], &t.pidfile(), &t.sleep());
        if let Some(n) = limit {
            nofile(&mut cmd, n);
        }
        let out = support::output::run_with_limit(cmd, DEADLINE);
        out.code(3).error_line(&[
            "readiness descriptor",
            "leaves no descriptor number above it",
        ]);
        assert!(
            !t.pidfile().exists(),
            "--notify-fd {fd}: a pidfile was left"
        );
    }
    // Descriptors 4 to 15 taken, the limit 16, fd 3 free: the pidfile opens as 3 and
    // cannot move above the readiness descriptor's number (EMFILE).
    let mut cmd = t.start_cmd(&["--notify-fd", "3"], &t.pidfile(), &t.sleep());
    // SAFETY: open, dup2 and close are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            for fd in 4..16 {
                libc::dup2(null, fd);
            }
            libc::close(3);
            Ok(())
        });
    }
    nofile(&mut cmd, 16);
    let out = support::output::run_with_limit(cmd, DEADLINE);
    out.code(3).one_error_line("(os error 24)");
    assert!(!t.pidfile().exists(), "a pidfile was left: {out:?}");
}

/// The low item: a user's start against root's running daemon says "already running"
/// (1), as start-stop-daemon does, since `/proc/locks` shows the lock on root's 0600
/// file; the same file unlocked is a plain "Permission denied" (3).
#[test]
fn a_users_start_against_roots_daemon_says_already_running() {
    if skip_unless_root(
        "a_users_start_against_roots_daemon_says_already_running",
        "it starts as nobody beside root's daemon",
    ) {
        return;
    }
    let t = Test::new();
    let pid = t.start_sleep(&[]);
    let as_nobody = || {
        let mut cmd = t.start_cmd(&[], &t.pidfile(), &t.sleep());
        cmd.uid(NOBODY).gid(NOBODY);
        support::output::run_with_limit(cmd, DEADLINE)
    };
    as_nobody().code(1).one_error_line("already running");
    kill_and_wait(pid);
    as_nobody().code(3).one_error_line("Permission denied");
    assert_eq!(pidfile_pid(&t.pidfile()), pid, "the stale file changed");
}

/// The low item on the create-to-lock window (and what a daemon that dropped
/// privileges leaves): an empty pidfile nobody locks names no dead program, so
/// `status` says not running (3), never stale (1); one naming a dead PID is stale.
#[test]
fn an_empty_unlocked_pidfile_is_not_running() {
    let t = Test::new();
    let pidfile = t.pidfile().into_os_string();
    fs::write(t.pidfile(), "").unwrap();
    fs::set_permissions(t.pidfile(), fs::Permissions::from_mode(0o600)).unwrap();
    let status = || t.run(["status".into(), "--pidfile".into(), pidfile.clone()]);
    let out = status();
    out.code(3).no_stderr();
    assert_eq!(out.stdout, "not running\n");
    let pid = t.start_sleep(&[]);
    kill_and_wait(pid);
    status().code(1);
}

/// Item 3: a start that fails for want of descriptors at any step, or times out with
/// just enough of them, kills what it started and says only what happened: at each
/// limit from 4 up to the first three that reach the readiness wait, nothing of the
/// test is left running and no pidfile stays.
#[test]
fn a_descriptor_starved_start_never_leaves_its_program() {
    let t = Test::new();
    let mut timed_out = 0;
    for n in 4..=64 {
        let mut cmd = t.start_cmd(
            &["--notify-fd", "3", "--timeout", "0.3"],
            &t.pidfile(),
            &t.sleep(),
        );
        nofile(&mut cmd, n);
        let out = support::output::run_with_limit(cmd, DEADLINE);
        out.code(3);
        t.assert_none_left(Duration::from_secs(5));
        assert!(
            !t.pidfile().exists(),
            "limit {n}: a pidfile was left: {out:?}"
        );
        if out.stderr.contains("not ready within") {
            assert!(out.stderr.contains("it was killed"), "{out:?}");
            timed_out += 1;
            if timed_out == 3 {
                return;
            }
        }
    }
    panic!("no limit up to 64 let the start reach its readiness wait");
}

/// Item 2: the daemon keeps only a read-only descriptor of its pidfile, so a program
/// run as another user cannot rewrite the PID that root's `stop` would signal: its
/// write through `DAEMONIC_PIDFILE_FD` fails, the file keeps the daemon's PID, and
/// every descriptor it has of the file is read-only.
#[test]
fn the_daemon_cannot_rewrite_its_pid() {
    if skip_unless_root(
        "the_daemon_cannot_rewrite_its_pid",
        "it starts a daemon as nobody",
    ) {
        return;
    }
    let t = Test::new();
    let program = t.script(r#"printf 1 >&"$DAEMONIC_PIDFILE_FD"; exec /bin/sleep "$0""#);
    let out = t.start(&["--user", "nobody"], &t.pidfile(), &program);
    out.code(0);
    let pid = pidfile_pid(&t.pidfile());
    t.learn(pid);
    let marker = t.marker.clone();
    wait_until("the program to reach its sleep", || {
        if Proc(pid).cmdline() == [&b"/bin/sleep"[..], marker.as_bytes()] {
            Ok(())
        } else {
            Err(Proc(pid).cmdline_text())
        }
    });
    assert_eq!(fs::read_to_string(t.pidfile()).unwrap(), format!("{pid}\n"));
    let ours: Vec<i32> = Proc(pid)
        .fds()
        .into_iter()
        .filter(|(_, target)| *target == t.pidfile())
        .map(|(fd, _)| fd)
        .collect();
    assert_eq!(ours.len(), 1, "descriptors of the pidfile: {ours:?}");
    for fd in ours {
        assert_eq!(Proc(pid).fd_flags(fd) & libc::O_ACCMODE, libc::O_RDONLY);
    }
}

/// The low item on cut messages: however long the path, the reason survives (the
/// path is shortened in its middle instead).
#[test]
fn a_long_paths_refusal_keeps_its_reason() {
    let t = Test::new();
    let dir = t.path(&"d".repeat(150));
    fs::create_dir(&dir).unwrap();
    let link = dir.join("app.pid");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let out = t.start(&[], &link, &t.sleep());
    out.code(3)
        .error_line(&["...", "app.pid: it is a symbolic link"]);
}
