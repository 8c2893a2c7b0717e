//! Issue 12: the command and the library as containers, supervisors and Rust users run
//! them, checked from the user's side (what reaches their terminal, their logs,
//! `/proc`). Each test names the item it proves; each failed on 46783f4.

mod support {
    pub mod cli;
    pub mod files;
    pub mod output;
    pub mod proc;
    pub mod test;
    pub mod wait;
}

use support::output::run_with_limit;
use support::test::Test;
use support::wait::DEADLINE;

use std::ffi::OsString;

/// Item 1: in the foreground the program keeps the streams it was given, so a
/// supervisor's log (journald, svlogd, `docker logs`) gets its lines.
#[test]
fn the_foreground_keeps_the_logs() {
    let t = Test::new();
    let program = t.script("echo out; echo err >&2");
    let mut args: Vec<OsString> = vec!["start".into(), "--foreground".into(), "--".into()];
    args.extend(program);
    let out = t.run(&args);
    out.code(0);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("out\n", "err\n")
    );
}

/// Item 1: `--stdout inherit` and `--stderr inherit` keep a stream in every mode,
/// detached too; `--keep-fd` of a standard stream, which could do nothing, is refused.
#[test]
fn streams_can_be_inherited_when_detached() {
    let t = Test::new();
    let program = t.script("echo detached-out; echo detached-err >&2");
    let out = t.start(
        &["--stdout", "inherit", "--stderr", "inherit"],
        &t.pidfile(),
        &program,
    );
    out.code(0);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("detached-out\n", "detached-err\n")
    );
    for fd in ["0", "1", "2"] {
        let out = t.start(&["--keep-fd", fd], &t.path("other.pid"), &t.sleep());
        out.code(3)
            .one_error_line("--keep-fd takes a descriptor above 2");
    }
}

/// Item 6: the command keeps the caller's umask (start-stop-daemon does), unless
/// `--umask` says otherwise: `touch` makes `-rw-r-----` under umask 027.
#[test]
fn the_callers_umask_is_kept() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let t = Test::new();
    for (options, file, mode) in [
        (&[][..], "kept", 0o640),
        (&["--umask", "0"][..], "zero", 0o666),
    ] {
        let path = t.path(file);
        let program = t.script(&format!("touch {}", path.display()));
        let mut cmd = t.start_cmd(options, &t.path(&format!("{file}.pid")), &program);
        // SAFETY: umask(2) is async-signal-safe, as code between fork and exec must be.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o027);
                Ok(())
            });
        }
        run_with_limit(cmd, DEADLINE).code(0);
        support::wait::wait_until(&format!("{file} to be made"), || {
            std::fs::metadata(&path).map_err(|e| e.to_string())
        });
        let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "{options:?}: {got:o}");
    }
}

/// Item 7: each meaningless or conflicting command line gets one clear line (exit 3,
/// 4 for status) and changes nothing.
#[test]
fn meaningless_command_lines_are_refused_in_words() {
    let t = Test::new();
    let p = t.pidfile().display().to_string();
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["start", "-u", "nobody", "--", "/bin/true"],
            3,
            "unknown option (options are long, as --user): -u",
        ),
        (
            &["status", "--pidfile", &p, "extra"],
            4,
            "unexpected argument (this command takes none): extra",
        ),
        (
            &["start", "--foreground", "--detach", "--", "/bin/true"],
            3,
            "--foreground, --detach and --auto exclude each other",
        ),
        (
            &["start", "--foreground", "--timeout", "1", "--", "/bin/true"],
            3,
            "--timeout needs --notify-fd or --notify-socket",
        ),
        (
            &[
                "start",
                "--timeout",
                "1",
                "--pidfile",
                &p,
                "--",
                "/bin/true",
            ],
            3,
            "--timeout needs --notify-fd or --notify-socket",
        ),
        (
            &["start", "--pidfile=", "--", "/bin/true"],
            3,
            "empty value for --pidfile",
        ),
    ];
    for (args, code, message) in cases {
        let out = t.run(args);
        out.code(code).no_stdout().one_error_line(message);
        assert!(!t.pidfile().exists(), "{args:?}");
    }
}

/// Runs the command with `args` where `/etc` is an empty tmpfs (a mount namespace of
/// its own), as in a `FROM scratch` image: no /etc/passwd, no /etc/group.
fn without_etc(args: &[std::ffi::OsString]) -> support::output::Output {
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs none /etc && exec "$@""#)
        .arg("sh")
        .args(support::cli::invocation())
        .args(args)
        .stdin(std::process::Stdio::null());
    run_with_limit(cmd, DEADLINE)
}

/// Item 2: numeric ids need no file: `--user 1000:1000` works with no /etc/passwd,
/// with no supplementary groups but its own; a uid alone, with no entry to take a
/// group from, and a name, which needs the file, are refused in words.
#[test]
fn numeric_ids_need_no_passwd_file() {
    if support::cli::skip_unless_root(
        "numeric_ids_need_no_passwd_file",
        "it mounts a tmpfs over /etc in a mount namespace",
    ) {
        return;
    }
    let t = Test::new();
    let start = |user: &str, pidfile: &str| {
        let mut args: Vec<OsString> = vec![
            "start".into(),
            "--user".into(),
            user.into(),
            "--pidfile".into(),
            t.path(pidfile).into(),
            "--".into(),
        ];
        args.extend(t.sleep());
        without_etc(&args)
    };
    start("1000:1000", "a.pid").code(0);
    let pid = t.daemon_pid(&t.path("a.pid"));
    let p = support::proc::Proc(pid);
    assert_eq!(p.ids("Uid"), [1000; 4]);
    assert_eq!(p.ids("Gid"), [1000; 4]);
    assert_eq!(p.ids("Groups"), [1000]);
    start("1000", "b.pid")
        .code(3)
        .one_error_line("unknown user 1000: no /etc/passwd entry to take a group from");
    start("nobody", "c.pid")
        .code(3)
        .one_error_line("cannot read /etc/passwd: No such file or directory");
    assert!(!t.path("b.pid").exists() && !t.path("c.pid").exists());
}

/// An example program, as `cargo test` built it (beside this test's own binary).
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built (cargo test builds the examples)",
        path.display()
    );
    path
}

/// Starts the example server `name` with the test's pidfile on `port`; its PID.
fn start_server(t: &Test, name: &str, port: u16) -> i32 {
    let mut cmd = t.command(example(name));
    cmd.arg(t.pidfile()).arg(port.to_string());
    run_with_limit(cmd, DEADLINE).assert_success();
    let pid = support::files::pidfile_pid(&t.pidfile());
    t.learn(pid);
    pid
}

/// What the server on `port` of this host says to a connection, to its end.
fn answer(port: u16) -> String {
    use std::io::Read;
    let mut answer = String::new();
    std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap()
        .read_to_string(&mut answer)
        .unwrap();
    answer
}

/// Item 4 and the examples: `examples/privileged_port.rs` binds port 80 as root in
/// the daemon, then runs as nobody (`drop_privileges_at_ready`): the port answers,
/// from uid 65534.
#[test]
fn a_privileged_port_is_bound_before_the_privilege_drop() {
    if support::cli::skip_unless_root(
        "a_privileged_port_is_bound_before_the_privilege_drop",
        "binding port 80 and switching to nobody need root",
    ) {
        return;
    }
    let t = Test::new();
    let pid = start_server(&t, "privileged_port", 80);
    assert_eq!(support::proc::Proc(pid).ids("Uid"), [65534; 4]);
    assert_eq!(answer(80), "hello from uid 65534\n");
}

/// The examples: `examples/service.rs` fails its start with its own code when its
/// configuration is missing (nothing left, no pidfile), and otherwise runs until
/// SIGTERM, when it removes its pidfile.
#[test]
fn the_service_example_fails_or_runs_as_it_says() {
    let t = Test::new();
    let mut cmd = t.command(example("service"));
    cmd.arg(t.pidfile()).arg(t.path("missing.conf"));
    let out = run_with_limit(cmd, DEADLINE);
    out.code(2);
    assert!(!t.pidfile().exists());
    std::fs::write(t.path("service.conf"), "x = 1\n").unwrap();
    let mut cmd = t.command(example("service"));
    cmd.arg(t.pidfile()).arg(t.path("service.conf"));
    run_with_limit(cmd, DEADLINE).assert_success();
    let pid = support::files::pidfile_pid(&t.pidfile());
    t.learn(pid);
    support::wait::kill(pid, libc::SIGTERM);
    support::wait::wait_until("the service to remove its pidfile and exit", || {
        if t.pidfile().exists() || support::proc::Proc(pid).alive() {
            Err("not yet".to_string())
        } else {
            Ok(())
        }
    });
}

/// Item 3: in the foreground the program gets systemd's socket activation as systemd
/// gave it: descriptor 3 kept, `LISTEN_FDS` and `LISTEN_FDNAMES` kept, and
/// `LISTEN_PID` naming the program (the command execs in place).
#[test]
fn socket_activation_reaches_the_program_in_the_foreground() {
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(r#"exec 3</dev/null; export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web; exec "$@""#)
        .arg("sh")
        .args(support::cli::invocation())
        .args(["start", "--foreground", "--", "/bin/sh", "-c"])
        .arg(r#"readlink /proc/$$/fd/3; echo "$LISTEN_PID=$$ $LISTEN_FDS $LISTEN_FDNAMES""#)
        .stdin(std::process::Stdio::null());
    let out = run_with_limit(cmd, DEADLINE);
    out.code(0).no_stderr();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"/dev/null"), "{out:?}");
    let (pids, rest) = lines[1].split_once(' ').unwrap();
    let (listen_pid, pid) = pids.split_once('=').unwrap();
    assert_eq!(listen_pid, pid, "LISTEN_PID names another process");
    assert_eq!(rest, "1 web");
}

/// Item 8: `examples/tokio_service.rs`, the pattern for threaded programs: daemonize
/// in `main`, then start the runtime. The daemon serves from its runtime's threads.
#[test]
fn a_tokio_service_daemonizes_before_its_runtime() {
    let t = Test::new();
    // A port of its own: 20000 plus a number from this test's PID.
    let port = 20000 + (std::process::id() % 20000) as u16;
    let pid = start_server(&t, "tokio_service", port);
    assert_eq!(answer(port), "hello from tokio\n");
    let threads: u32 = support::proc::Proc(pid).status("Threads").parse().unwrap();
    assert!(threads >= 3, "the runtime's workers: {threads} threads");
}

/// Item 1: `--stdout /dev/stdout` (and `/dev/stderr`, `/dev/fd/N`) mean the command's
/// own descriptors, so they work when stdout is a socket, as journald's is (opening
/// the name fails there with ENXIO).
#[test]
fn dev_stdout_works_on_a_socket() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let t = Test::new();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let program = t.script("echo to-stdout; echo to-stderr >&2");
    let mut cmd = t.start_cmd(
        &["--stdout", "/dev/stdout", "--stderr", "/dev/stdout"],
        &t.pidfile(),
        &program,
    );
    // Not `run_with_limit`, which gives the command a pipe of its own.
    cmd.stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(
        theirs,
    )));
    let status = cmd.status().unwrap();
    assert!(status.success(), "{status}");
    drop(cmd); // its copy of the socket, or no end of file comes
    ours.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = String::new();
    ours.read_to_string(&mut got).unwrap();
    assert_eq!(got, "to-stdout\nto-stderr\n");
}
