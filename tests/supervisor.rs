//! Supervisors, with real sockets and processes: this test plays systemd (receives
//! `sd_notify` datagrams on a path and on an abstract name; passes socket activation
//! descriptors), s6 (reads the notification pipe), a PID namespace's init, and an
//! init script using the command's `--notify-socket`.
//!
//! `harness = false`: run with `DAEMONIC_SUPERVISED` set, this binary is the daemon
//! (a helper that must be single-threaded to daemonize); otherwise it runs the tests.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use daemonic::{Daemon, Detach, Fork, NotificationFd};

const HELPER: &str = "DAEMONIC_SUPERVISED";

/// A test: `Err` with why it failed, or with `skipped: ...`.
type Test = fn() -> Result<(), String>;

fn main() -> ExitCode {
    if let Ok(mode) = std::env::var(HELPER) {
        helper(&mode);
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tests: [(&str, Test); 8] = [
        (
            "systemd_path_socket_gets_ready_and_mainpid",
            systemd_path_socket,
        ),
        (
            "systemd_abstract_socket_in_the_foreground",
            systemd_abstract_socket,
        ),
        (
            "s6_notification_fd_gets_a_newline_then_eof",
            s6_notification_fd,
        ),
        (
            "socket_activation_fds_kept_others_closed",
            socket_activation,
        ),
        (
            "pid_1_in_a_new_namespace_stays_in_the_foreground",
            pid_1_stays_in_foreground,
        ),
        ("cli_notify_socket_ready_late", cli_ready_late),
        ("cli_notify_socket_errno", cli_errno),
        ("cli_notify_socket_never", cli_never),
    ];
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        match std::panic::catch_unwind(test) {
            Ok(Ok(())) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Ok(Err(why)) if why.starts_with("skipped:") => {
                println!("test {name} ... {why}");
                skipped += 1;
            }
            Ok(Err(why)) => {
                println!("test {name} ... FAILED: {why}");
                failed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED (panicked)");
                failed += 1;
            }
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!("\ntest result: {verdict}. {passed} passed; {failed} failed; {skipped} ignored; 0 measured; 0 filtered out");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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
        "pid={pid}\nvars={}\nfds={}\n",
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

/// A temporary directory and the daemons started in it, killed and removed on drop.
struct Scene {
    dir: PathBuf,
}

impl Scene {
    fn new(name: &str) -> Scene {
        let dir = std::env::temp_dir().join(format!("daemonic-sup-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scene { dir }
    }

    fn helper(&self, mode: &str) -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(HELPER, mode)
            .env("DAEMONIC_DIR", &self.dir)
            .stdin(Stdio::null());
        cmd
    }

    /// The report the daemon writes once it runs.
    fn report(&self) -> Result<Report, String> {
        let path = self.dir.join("report");
        wait_for(|| path.exists(), "the daemon's report")?;
        Ok(Report(fs::read_to_string(path).unwrap()))
    }

    fn pidfile(&self) -> Option<i32> {
        fs::read_to_string(self.dir.join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Scene {
    /// Kills a helper that stayed in the foreground (it is the daemon) and reaps it.
    fn end(&self, mut child: std::process::Child) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        // Kill the daemon this scene started, by the PID it wrote, if it still runs.
        let pid = fs::read_to_string(self.dir.join("report"))
            .ok()
            .and_then(|r| Report(r).field("pid").parse::<i32>().ok());
        if let Some(pid) = pid.filter(|p| *p > 1) {
            // SAFETY: kill takes plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

struct Report(String);

impl Report {
    fn field(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or("")
            .to_string()
    }
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn ensure(condition: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(why())
    }
}

/// Receives one datagram (5 s at most).
fn receive(socket: &UnixDatagram) -> Result<String, String> {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = socket
        .recv(&mut buf)
        .map_err(|e| format!("no datagram: {e}"))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------------
// The tests.

/// systemd with a path socket, detached daemon: `READY=1` and `MAINPID=` the daemon's
/// PID (the one in the pidfile), only once the daemon runs; NOTIFY_SOCKET cleared.
fn systemd_path_socket() -> Result<(), String> {
    let scene = Scene::new("path");
    let path = scene.dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let status = scene
        .helper("detached")
        .env("NOTIFY_SOCKET", &path)
        .status()
        .unwrap();
    ensure(status.success(), || format!("launcher: {status}"))?;
    let message = receive(&socket)?;
    let pid = scene.pidfile().ok_or("no pidfile")?;
    ensure(message == format!("READY=1\nMAINPID={pid}\n"), || {
        format!("received {message:?}, daemon {pid}")
    })?;
    let report = scene.report()?;
    ensure(report.field("pid") == pid.to_string(), || {
        format!("report {}", report.0)
    })?;
    ensure(report.field("vars").is_empty(), || {
        format!("supervisor variables left: {}", report.field("vars"))
    })
}

/// systemd with an abstract socket (`@name`), foreground: `READY=1` without
/// `MAINPID` (the main process is the one systemd started).
fn systemd_abstract_socket() -> Result<(), String> {
    let scene = Scene::new("abstract");
    let name = format!("daemonic-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    let child = scene
        .helper("foreground")
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .spawn()
        .unwrap();
    let message = receive(&socket);
    let report = scene.report();
    let pid = child.id().to_string();
    scene.end(child);
    let message = message?;
    ensure(message == "READY=1\n", || format!("received {message:?}"))?;
    let report = report?;
    ensure(report.field("pid") == pid, || {
        format!("not in the foreground: {}", report.0)
    })
}

/// s6: the notification descriptor (from `S6_FD`) gets one newline, then is closed.
fn s6_notification_fd() -> Result<(), String> {
    let scene = Scene::new("s6");
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 returns.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just returned these two descriptors; we own them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let raw = write.as_raw_fd();
    let mut cmd = scene.helper("s6");
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
    let child = cmd.spawn().unwrap();
    drop(write);
    let mut got = Vec::new();
    let mut file = fs::File::from(read);
    let reader = std::thread::spawn(move || file.read_to_end(&mut got).map(|_| got));
    let finished = wait_for(
        || reader.is_finished(),
        "the notification pipe's end of file",
    );
    let report = scene.report();
    scene.end(child);
    finished?;
    let got = reader.join().unwrap().map_err(|e| e.to_string())?;
    ensure(got == b"\n", || format!("read {got:?}"))?;
    let report = report?;
    ensure(!report.field("fds").contains("pipe:"), || {
        format!("the notification pipe is still open: {}", report.0)
    })
}

/// Socket activation in the foreground, under a subreaper (as a supervisor would be):
/// descriptors 3 and 4 (`LISTEN_FDS=2` for our PID) stay open, 5 is closed, and the
/// `LISTEN_*` variables are gone from the environment.
fn socket_activation() -> Result<(), String> {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let scene = Scene::new("activated");
    let null = fs::File::open("/dev/null").unwrap();
    let raw = null.as_raw_fd();
    let mut cmd = scene.helper("activated");
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
    let pid = child.id().to_string();
    let report = scene.report();
    scene.end(child);
    let report = report?;
    ensure(report.field("pid") == pid, || {
        format!("not in the foreground: {}", report.0)
    })?;
    let fds: Vec<String> = report.field("fds").split(',').map(str::to_string).collect();
    let has = |fd: &str| fds.iter().any(|f| f == fd);
    ensure(has("3:/dev/null") && has("4:/dev/null"), || {
        format!("activation fds closed: {fds:?}")
    })?;
    ensure(!has("5:/dev/null"), || format!("fd 5 leaked: {fds:?}"))?;
    ensure(report.field("vars").is_empty(), || {
        format!("variables left: {}", report.field("vars"))
    })
}

/// `Detach::Auto` as PID 1 of a new PID namespace (a container's entrypoint) stays in
/// the foreground: detaching would end the namespace.
fn pid_1_stays_in_foreground() -> Result<(), String> {
    if !is_root() {
        return Err("skipped: needs root because unshare --pid needs CAP_SYS_ADMIN".into());
    }
    if !Path::new("/usr/bin/unshare").exists() {
        return Err("skipped: needs /usr/bin/unshare (util-linux)".into());
    }
    let scene = Scene::new("pid1");
    let status = Command::new("/usr/bin/unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(std::env::current_exe().unwrap())
        .env(HELPER, "auto")
        .env("DAEMONIC_DIR", &scene.dir)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    ensure(status.success(), || format!("unshare: {status}"))?;
    let report = scene.report()?;
    ensure(report.field("pid") == "1", || {
        format!("detached (or not PID 1): {}", report.0)
    })
}

/// The command as the receiving end of sd_notify, with a program (a shell script with
/// python3 for the datagram) that reports as `script` says.
fn cli_notify(
    name: &str,
    script: &str,
    timeout: &str,
) -> Result<(Scene, std::process::Output, Duration), String> {
    if Command::new("python3")
        .arg("-c")
        .arg("")
        .status()
        .map_or(true, |s| !s.success())
    {
        return Err(
            "skipped: needs python3 to send sd_notify datagrams from a shell program".into(),
        );
    }
    let scene = Scene::new(name);
    let send = "python3 -c 'import os,socket,sys; a=os.environ[\"NOTIFY_SOCKET\"]; \
                s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); \
                s.sendto(sys.argv[1].encode(), \"\\0\"+a[1:] if a[0]==\"@\" else a)'";
    let program = script.replace("SEND", send);
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_daemonic"))
        .args([
            "start",
            "--notify-socket",
            "--timeout",
            timeout,
            "--pidfile",
        ])
        .arg(scene.dir.join("pid"))
        .args(["--", "/bin/sh", "-c", &program])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Ok((scene, output, started.elapsed()))
}

/// Whether a process runs the given command line fragment.
fn running(fragment: &str) -> bool {
    fs::read_dir("/proc").unwrap().flatten().any(|e| {
        fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(fragment))
    })
}

fn cli_ready_late() -> Result<(), String> {
    let marker = format!("sleep 1000.{}1", std::process::id());
    let script = format!("sleep 0.3; SEND READY=1; exec {marker}");
    let (scene, out, took) = cli_notify("ready", &script, "5")?;
    ensure(out.status.success(), || {
        format!("{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr))
    })?;
    ensure(took >= Duration::from_millis(250), || {
        format!("returned after {took:?}, before READY=1")
    })?;
    let pid = scene.pidfile().ok_or("no pidfile")?;
    ensure(Path::new(&format!("/proc/{pid}")).exists(), || {
        "the program is not running".into()
    })?;
    // SAFETY: kill takes plain integers.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    Ok(())
}

fn cli_errno() -> Result<(), String> {
    let marker = format!("sleep 1000.{}2", std::process::id());
    let script = format!("SEND ERRNO=5; exec {marker}");
    let (scene, out, _) = cli_notify("errno", &script, "5")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(3), || format!("{:?}", out.status))?;
    ensure(
        stderr.contains("reported failure") && stderr.contains("os error 5"),
        || format!("stderr {stderr:?}"),
    )?;
    wait_for(|| !running(&marker), "the failed program to be gone")?;
    ensure(scene.pidfile().is_none(), || {
        "the pidfile was left behind".into()
    })
}

fn cli_never() -> Result<(), String> {
    let marker = format!("sleep 1000.{}3", std::process::id());
    let (scene, out, took) = cli_notify("never", &format!("exec {marker}"), "0.4")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(3), || format!("{:?}", out.status))?;
    ensure(stderr.contains("not ready within"), || {
        format!("stderr {stderr:?}")
    })?;
    ensure(took >= Duration::from_millis(350), || {
        format!("gave up after {took:?}")
    })?;
    wait_for(|| !running(&marker), "the silent program to be killed")?;
    ensure(scene.pidfile().is_none(), || {
        "the pidfile was left behind".into()
    })
}
