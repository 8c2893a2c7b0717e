//! Supervisors, with real sockets and processes: this test plays systemd (receives
//! `sd_notify` datagrams on a path and on an abstract name; passes socket activation
//! descriptors), s6 (reads the notification pipe), a PID namespace's init, and an
//! init script using the command's `--notify-socket`.
//!
//! `harness = false`: run with `DAEMONIC_SUPERVISED` set, this binary is the daemon
//! (a helper that must be single-threaded to daemonize); otherwise it runs the tests
//! (`support/runner.rs`), as a child subreaper, as a supervisor would be.

mod support {
    pub mod cli;
    pub mod files;
    pub mod output;
    pub mod proc;
    pub mod runner;
    pub mod test;
    pub mod wait;
}

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use daemonic::{Daemon, Detach, Fork, NotificationFd};
use support::files::pidfile_pid;
use support::output::{run_with_limit, Output};
use support::proc::Proc;
use support::runner::{require_root, tests, Outcome, Outcome::Passed};
use support::test::{Report, Test};
use support::wait::{wait_until, DEADLINE};

const HELPER: &str = "DAEMONIC_SUPERVISED";

const TESTS: &[(&str, support::runner::TestFn)] = tests![
    systemd_path_socket_gets_ready_and_mainpid,
    systemd_abstract_socket_in_the_foreground,
    s6_notification_fd_gets_a_newline_then_eof,
    socket_activation_fds_kept_others_closed,
    pid_1_in_a_new_namespace_stays_in_the_foreground,
    cli_notify_socket_ready_late,
    cli_notify_socket_errno,
    cli_notify_socket_never,
];

fn main() {
    if let Ok(mode) = std::env::var(HELPER) {
        helper(&mode);
    }
    support::runner::main(TESTS);
}

// ---------------------------------------------------------------------------------
// The helper: daemonizes as `mode` says, reports what it sees, then sleeps.

fn helper(mode: &str) -> ! {
    let dir = PathBuf::from(std::env::var("DAEMONIC_DIR").expect("DAEMONIC_DIR"));
    let pidfile = dir.join("pid");
    if mode == "activated" {
        // What systemd does between fork and exec: name this process in LISTEN_PID.
        std::env::set_var("LISTEN_PID", std::process::id().to_string());
        std::env::set_var("LISTEN_FDS", "2");
    }
    // Asked for, as a systemd service would: READY=1 and the activation descriptors.
    let mut daemon = Daemon::new()
        .pidfile(pidfile.as_path())
        .sd_notify(true)
        .socket_activation(true);
    daemon = match mode {
        "detached" => daemon,
        "foreground" | "activated" => daemon.detach(Detach::Never),
        "s6" => daemon
            .detach(Detach::Never)
            .s6_notification_fd(NotificationFd::Env(c"S6_FD")),
        "auto" => daemon.detach(Detach::Auto),
        other => panic!("unknown mode {other}"),
    };
    let pending = match daemon.fork() {
        Ok(Fork::Daemon(pending)) => pending,
        Ok(Fork::Parent(_)) => std::process::exit(0),
        Err(e) => {
            eprintln!("helper: {e}");
            std::process::exit(e.exit_code());
        }
    };
    let pid = pending.pid().as_raw_nonzero().get();
    let running = match pending.ready() {
        Ok(running) => running,
        Err(e) => {
            let _ = fs::write(dir.join("notify-error"), e.to_string());
            e.into_running()
        }
    };
    // What the daemon's own children would inherit, and what it holds.
    let vars: Vec<String> = ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "S6_FD"]
        .iter()
        .filter(|v| std::env::var_os(v).is_some())
        .map(|v| v.to_string())
        .collect();
    // Each descriptor with what it links to; the listing's own directory shows as
    // the one that no longer resolves once the listing is done.
    let fds: Vec<String> = fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|fd| {
            fs::read_link(format!("/proc/self/fd/{fd}"))
                .ok()
                .map(|l| format!("{fd}:{}", l.display()))
        })
        .collect();
    let report = format!(
        "pid={pid}\nvars={}\nfds={}\nend\n",
        vars.join(","),
        fds.join(",")
    );
    let _ = fs::write(dir.join("report.tmp"), report);
    let _ = fs::rename(dir.join("report.tmp"), dir.join("report"));
    if mode == "auto" {
        // Under `unshare --pid`, only report; the namespace ends with us.
        std::process::exit(0);
    }
    let _keep = running;
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

// ---------------------------------------------------------------------------------
// Helpers of the runner.

/// The helper daemonizing as `mode` says, in the test's directory (its pidfile is
/// `pid`, its report `report`).
fn helper_cmd(t: &Test, mode: &str) -> Command {
    let mut cmd = t.command(std::env::current_exe().unwrap());
    cmd.env(HELPER, mode).env("DAEMONIC_DIR", &t.dir);
    cmd
}

/// The report the daemon writes once it runs (its PID is learned).
fn report(t: &Test) -> Report {
    t.wait_report(&t.path("report"))
}

/// Receives one datagram (5 s at most).
fn receive(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no datagram: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

// ---------------------------------------------------------------------------------
// The tests.

/// systemd with a path socket, detached daemon: `READY=1` and `MAINPID=` the daemon's
/// PID (the one in the pidfile), only once the daemon runs; NOTIFY_SOCKET cleared.
fn systemd_path_socket_gets_ready_and_mainpid() -> Outcome {
    let t = Test::new();
    let path = t.path("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut cmd = helper_cmd(&t, "detached");
    cmd.env("NOTIFY_SOCKET", &path);
    run_with_limit(cmd, DEADLINE).code(0);
    let message = receive(&socket);
    let pid = pidfile_pid(&t.path("pid"));
    assert_eq!(message, format!("READY=1\nMAINPID={pid}\n"), "daemon {pid}");
    let report = report(&t);
    assert_eq!(report.pid(), pid, "{report:?}");
    assert_eq!(report.field("vars"), "", "supervisor variables left");
    Passed
}

/// systemd with an abstract socket (`@name`), foreground: `READY=1` without
/// `MAINPID` (the main process is the one systemd started).
fn systemd_abstract_socket_in_the_foreground() -> Outcome {
    let t = Test::new();
    let name = format!("daemonic-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    let child = helper_cmd(&t, "foreground")
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    t.adopt(child);
    assert_eq!(receive(&socket), "READY=1\n");
    let report = report(&t);
    assert_eq!(report.pid(), pid, "not in the foreground: {report:?}");
    Passed
}

/// s6: the notification descriptor (from `S6_FD`) gets one newline, then is closed.
fn s6_notification_fd_gets_a_newline_then_eof() -> Outcome {
    let t = Test::new();
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 returns.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just returned these two descriptors; we own them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let raw = write.as_raw_fd();
    let mut cmd = helper_cmd(&t, "s6");
    cmd.env("S6_FD", "3");
    // SAFETY: dup2 is async-signal-safe; it gives the child the pipe as fd 3, as
    // s6-supervise gives its service the notification-fd.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) == 3 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    t.adopt(cmd.spawn().unwrap());
    drop(write);
    let mut got = Vec::new();
    let mut file = fs::File::from(read);
    let reader = std::thread::spawn(move || file.read_to_end(&mut got).map(|_| got));
    wait_until("the notification pipe's end of file", || {
        reader.is_finished().then_some(()).ok_or_else(String::new)
    });
    let got = reader.join().unwrap().unwrap();
    assert_eq!(got, b"\n");
    let report = report(&t);
    assert!(
        !report.field("fds").contains("pipe:"),
        "the notification pipe is still open: {report:?}"
    );
    Passed
}

/// Socket activation in the foreground, under a subreaper (the runner, as a supervisor
/// would be): descriptors 3 and 4 (`LISTEN_FDS=2` for our PID) stay open, 5 is
/// closed, and the `LISTEN_*` variables stay, still true, for the daemon's own code
/// (issue 12, item 3; a detached daemon loses them, as the test above shows).
fn socket_activation_fds_kept_others_closed() -> Outcome {
    let t = Test::new();
    let null = fs::File::open("/dev/null").unwrap();
    let raw = null.as_raw_fd();
    let mut cmd = helper_cmd(&t, "activated");
    // SAFETY: fcntl, dup2 and close are async-signal-safe. The copy goes above 10
    // first: `raw` may itself be 3, 4 or 5, and dup2 onto itself would keep its
    // close-on-exec flag.
    unsafe {
        cmd.pre_exec(move || {
            let src = libc::fcntl(raw, libc::F_DUPFD, 10);
            for fd in [3, 4, 5] {
                if src < 0 || libc::dup2(src, fd) != fd {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::close(src);
            Ok(())
        })
    };
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    t.adopt(child);
    let report = report(&t);
    assert_eq!(report.pid(), pid, "not in the foreground: {report:?}");
    let fds: Vec<&str> = report.field("fds").split(',').collect();
    let has = |fd: &str| fds.contains(&fd);
    assert!(
        has("3:/dev/null") && has("4:/dev/null"),
        "activation fds closed: {fds:?}"
    );
    assert!(!has("5:/dev/null"), "fd 5 leaked: {fds:?}");
    assert_eq!(
        report.field("vars"),
        "LISTEN_PID,LISTEN_FDS",
        "variables lost"
    );
    Passed
}

/// `Detach::Auto` as PID 1 of a new PID namespace (a container's entrypoint) stays in
/// the foreground: detaching would end the namespace.
fn pid_1_in_a_new_namespace_stays_in_the_foreground() -> Outcome {
    require_root!("unshare --pid needs CAP_SYS_ADMIN");
    let unshare = Path::new("/usr/bin/unshare");
    if !unshare.exists() {
        return Outcome::Skipped("needs /usr/bin/unshare (util-linux)".into());
    }
    let t = Test::new();
    let status = t
        .command(unshare)
        .args(["--pid", "--fork", "--kill-child"])
        .arg(std::env::current_exe().unwrap())
        .env(HELPER, "auto")
        .env("DAEMONIC_DIR", &t.dir)
        .status()
        .unwrap();
    assert!(status.success(), "unshare: {status}");
    // Its PID is 1 in its namespace: nothing to learn (it has exited anyway).
    let text = fs::read_to_string(t.path("report")).unwrap();
    assert!(text.ends_with("end\n"), "{text:?}");
    assert!(
        text.lines().any(|l| l == "pid=1"),
        "detached (or not PID 1): {text:?}"
    );
    Passed
}

/// The command as the receiving end of sd_notify, with a program (a shell script with
/// python3 for the datagram) that reports as `script` says (`SEND` stands for the
/// sending command; `$0` is the test's marker). The output, and where the pidfile is.
fn cli_notify(t: &Test, script: &str, timeout: &str) -> Result<(Output, PathBuf), Outcome> {
    if Command::new("python3")
        .arg("-c")
        .arg("")
        .status()
        .map_or(true, |s| !s.success())
    {
        return Err(Outcome::Skipped(
            "needs python3 to send sd_notify datagrams from a shell program".into(),
        ));
    }
    let program = t.script(&script.replace("SEND", support::cli::SD_NOTIFY_SEND));
    let pidfile = t.pidfile();
    let options = ["--notify-socket", "--timeout", timeout];
    Ok((t.start(&options, &pidfile, &program), pidfile))
}

fn cli_notify_socket_ready_late() -> Outcome {
    let t = Test::new();
    let script = "sleep 0.3; SEND READY=1; exec sleep \"$0\"";
    let (out, pidfile) = match cli_notify(&t, script, "5") {
        Ok(run) => run,
        Err(skipped) => return skipped,
    };
    out.code(0);
    assert!(
        out.elapsed >= Duration::from_millis(250),
        "returned after {:?}, before READY=1",
        out.elapsed
    );
    let pid = t.daemon_pid(&pidfile);
    assert!(Proc(pid).alive(), "the program is not running");
    Passed
}

fn cli_notify_socket_errno() -> Outcome {
    let fragments = ["reported failure", "os error 5"];
    assert_notify_failure(
        "SEND ERRNO=5; exec sleep \"$0\"",
        "5",
        &fragments,
        Duration::ZERO,
    )
}

fn cli_notify_socket_never() -> Outcome {
    let at_least = Duration::from_millis(350);
    assert_notify_failure("exec sleep \"$0\"", "0.4", &["not ready within"], at_least)
}

/// A start that `script` makes fail: exit 3, `fragments` in the one error line, not
/// before `at_least`; the program is gone and so is the pidfile.
fn assert_notify_failure(
    script: &str,
    timeout: &str,
    fragments: &[&str],
    at_least: Duration,
) -> Outcome {
    let t = Test::new();
    let (out, pidfile) = match cli_notify(&t, script, timeout) {
        Ok(run) => run,
        Err(skipped) => return skipped,
    };
    out.assert_failure(3, fragments);
    assert!(out.elapsed >= at_least, "gave up after {:?}", out.elapsed);
    t.assert_none_left(DEADLINE);
    assert!(!pidfile.exists(), "the pidfile was left behind");
    Passed
}
