//! The README's supervisor sections (issue 12), each run as it is written: the code
//! blocks tagged `systemd-forking`, `systemd-notify`, `init-script`, `s6-run`,
//! `runit-run`, `docker` and the `--supervise` ones (`supervise-init`,
//! `supervise-docker`, `supervise-appliance`; issue 13) are read from README.md, and only names are replaced: the
//! command's path by the binary under test, `/usr/local/bin/app` (`/app`) by a test
//! program, the user `app` by `nobody`, `/run/app.pid` by the test's pidfile and
//! `/var/log/app/app.log` by a file in a directory of `nobody`'s.
//! s6 and runit are the real ones (`s6-svscan`, `runsv`); systemd, which cannot run
//! here as PID 1, is played by the test: it runs `ExecStart=`, reads `PIDFile=`,
//! binds `NOTIFY_SOCKET`, runs `ExecStop=`.

mod support {
    pub mod cli;
    pub mod files;
    pub mod output;
    pub mod proc;
    pub mod test;
    pub mod wait;
}

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::cli::{bin, skip_unless_root, SD_NOTIFY_SEND};
use support::files::{find_tool, pidfile_pid, write_executable};
use support::output::{run_with_limit, Output, Spawned};
use support::proc::Proc;
use support::test::Test;
use support::wait::{wait_gone, wait_until, DEADLINE};

/// `nobody`'s uid in Debian's /etc/passwd.
const NOBODY: u32 = 65534;

/// The code block of README.md whose info string is `<language> <tag>`.
fn block(tag: &str) -> String {
    let readme = include_str!("../README.md");
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let info = line.strip_prefix("```").unwrap_or("");
        if info.split_whitespace().nth(1) == Some(tag) {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            return body.join("\n") + "\n";
        }
    }
    panic!("README.md has no code block tagged {tag}");
}

/// The test program standing for `/usr/local/bin/app`: two lines of output (one on
/// stderr), readiness as the supervisor asks (sd_notify when `NOTIFY_SOCKET` is set,
/// a newline on descriptor 3 when `APP_S6` is), a line saying whom it runs as, then
/// `sleep <marker>` (found by the test's guard).
fn app(t: &Test) -> PathBuf {
    let path = t.path("app");
    let script = format!(
        "#!/bin/sh\n\
         echo 'app: out line'\n\
         echo 'app: err line' >&2\n\
         if [ -n \"$NOTIFY_SOCKET\" ]; then {SD_NOTIFY_SEND} READY=1; fi\n\
         if [ -n \"$APP_S6\" ]; then echo >&3; exec 3>&-; fi\n\
         echo \"app: ready as $(id -u)\"\n\
         exec /bin/sleep {}\n",
        t.marker
    );
    write_executable(&path, &script, 0o755);
    path
}

/// `text` with the README's names replaced by the test's.
fn substitute(t: &Test, text: &str) -> String {
    let bin = bin().display().to_string();
    let app = app(t).display().to_string();
    let pidfile = t.pidfile().display().to_string();
    let line = |line: &str| {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| match w {
                "daemonic" | "/usr/local/bin/daemonic" => bin.clone(),
                "/usr/local/bin/app" => app.clone(),
                _ => w.to_owned(),
            })
            .collect();
        words.join(" ")
    };
    let lines: Vec<String> = text.split('\n').map(line).collect();
    lines
        .join("\n")
        .replace("--user app", "--user nobody")
        .replace("/run/app.pid", &pidfile)
        .replace("/var/log/app/app.log", &log_file(t).display().to_string())
}

/// The test's `/var/log/app/app.log`: in a directory `nobody` owns, as an
/// administrator makes for the service's user.
fn log_file(t: &Test) -> PathBuf {
    let dir = t.path("log");
    let _ = fs::create_dir(&dir);
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    dir.join("app.log")
}

/// The value of `Key=` in a unit's text, substituted.
fn unit_line(t: &Test, unit: &str, key: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {unit}"));
    substitute(t, line).split(' ').map(str::to_owned).collect()
}

fn command(args: &[String]) -> Command {
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]).stdin(Stdio::null());
    cmd
}

/// Learns `pid` and waits until it runs the app's `sleep`.
fn wait_app(t: &Test, pid: i32) {
    t.learn(pid);
    let marker = t.marker.clone();
    wait_until(&format!("{pid} to run the app's sleep"), || {
        if Proc(pid).cmdline() == [&b"/bin/sleep"[..], marker.as_bytes()] {
            Ok(())
        } else {
            Err(Proc(pid).cmdline_text())
        }
    });
}

/// [`wait_app`], and the app runs as `nobody`.
fn assert_app(t: &Test, pid: i32) {
    wait_app(t, pid);
    assert_eq!(Proc(pid).ids("Uid"), [NOBODY; 4], "not run as nobody");
}

/// The first `(pid N)` of a supervisor's status line (s6-svstat, `sv status`).
fn pid_in(status: &str) -> Option<i32> {
    let rest = status.split("(pid ").nth(1)?;
    rest.split(')').next()?.trim().parse().ok()
}

/// Waits until `file` holds every one of `lines`.
fn assert_logged(file: &Path, lines: &[&str]) {
    wait_until(&format!("{} to log {lines:?}", file.display()), || {
        let text = fs::read_to_string(file).unwrap_or_default();
        match lines.iter().find(|l| !text.contains(*l)) {
            None => Ok(()),
            Some(missing) => Err(format!("{missing:?} missing from {text:?}")),
        }
    });
}

/// `Type=forking`: `ExecStart=` exits 0 once the program runs and `PIDFile=` names it;
/// `ExecStop=` stops it and removes the file.
#[test]
fn systemd_forking() {
    if skip_unless_root(
        "systemd_forking",
        "the unit runs the program as another user",
    ) {
        return;
    }
    let t = Test::new();
    let unit = block("systemd-forking");
    let pidfile = PathBuf::from(&unit_line(&t, &unit, "PIDFile")[0]);
    run_with_limit(command(&unit_line(&t, &unit, "ExecStart")), DEADLINE).code(0);
    let pid = pidfile_pid(&pidfile);
    assert_app(&t, pid);
    run_with_limit(command(&unit_line(&t, &unit, "ExecStop")), DEADLINE).code(0);
    wait_gone(pid);
    assert!(!pidfile.exists(), "ExecStop left the pidfile");
}

/// `Type=notify`: the process systemd starts stays the service's main process (the
/// command execs the program in place), says `READY=1` on `NOTIFY_SOCKET`, and its
/// output reaches the journal (here: the pipe systemd would give it).
#[test]
fn systemd_notify() {
    if skip_unless_root(
        "systemd_notify",
        "the unit runs the program as another user",
    ) {
        return;
    }
    let t = Test::new();
    let unit = block("systemd-notify");
    let socket_path = t.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    fs::set_permissions(&socket_path, fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = command(&unit_line(&t, &unit, "ExecStart"));
    cmd.env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let main_pid = child.id() as i32;
    t.adopt(child);
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("no READY=1");
    assert_eq!(&buf[..n], b"READY=1");
    assert_app(&t, main_pid);
}

/// The init script: `--notify-socket` makes the command wait for the program's
/// `READY=1`; it exits 0 with the pidfile naming the program.
#[test]
fn init_script_with_sd_notify() {
    let t = Test::new();
    let line = substitute(&t, block("init-script").trim());
    let args: Vec<String> = line.split(' ').map(str::to_owned).collect();
    run_with_limit(command(&args), DEADLINE).code(0);
    wait_app(&t, pidfile_pid(&t.pidfile()));
}

/// A service directory for s6 or runit in `dir`: `run` is the README's script, `log/run`
/// the logger.
fn service_dir(t: &Test, dir: &Path, run: &str, log_run: &str) {
    fs::create_dir_all(dir.join("log")).unwrap();
    for (file, text) in [
        (dir.join("run"), substitute(t, run)),
        (dir.join("log/run"), log_run.into()),
    ] {
        write_executable(&file, &text, 0o755);
    }
}

fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = find_tool(name);
    if found.is_none() {
        println!("skipped: {test} needs {name} (Debian's s6, runit and execline packages)");
    }
    found
}

/// s6: the real s6-svscan and s6-supervise, with `notification-fd` 3 and an s6-log
/// logger: `s6-svwait -U` returns once the program wrote its newline, `s6-svstat`
/// names the program's PID, both streams reach the log, `s6-svc -d` stops it.
#[test]
fn s6_supervises_the_program() {
    if skip_unless_root("s6_supervises_the_program", "the run script switches user") {
        return;
    }
    let (Some(svscan), Some(svwait), Some(svstat), Some(svc), Some(_), Some(_)) = (
        tool("s6-svscan", "s6"),
        tool("s6-svwait", "s6"),
        tool("s6-svstat", "s6"),
        tool("s6-svc", "s6"),
        tool("s6-log", "s6"),
        tool("execlineb", "s6"),
    ) else {
        return;
    };
    let t = Test::new();
    let scan = t.path("scan");
    let service = scan.join("app");
    service_dir(
        &t,
        &service,
        &block("s6-run"),
        "#!/bin/sh\nexec s6-log ./logs\n",
    );
    fs::write(service.join("notification-fd"), "3\n").unwrap();
    let mut scanner = Command::new(svscan);
    scanner.arg(&scan).env("APP_S6", "1").stdin(Stdio::null());
    let scanner = scanner.spawn().unwrap();
    let scanner_pid = scanner.id() as i32;
    t.adopt(scanner);
    // Ends the scanner, its supervisors and the logger whatever happens.
    struct Stop(PathBuf, i32);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("s6-svscanctl").arg("-t").arg(&self.0).status();
            support::wait::wait_for("s6-svscan to exit", Duration::from_secs(10), || {
                if Proc(self.1).alive() {
                    Err("alive".to_string())
                } else {
                    Ok(())
                }
            });
        }
    }
    let _stop = Stop(scan.clone(), scanner_pid);
    wait_until("s6-supervise to run", || {
        if service.join("supervise/status").exists() {
            Ok(())
        } else {
            Err("no supervise/status yet".into())
        }
    });
    // Up and ready: the program wrote its newline on descriptor 3.
    let mut wait_up = Command::new(&svwait);
    wait_up.args(["-U", "-t", "5000"]).arg(&service);
    let waited = run_with_limit(wait_up, DEADLINE);
    let log = fs::read_to_string(service.join("log/logs/current")).unwrap_or_default();
    assert_eq!(waited.code, Some(0), "{waited:?}; log: {log:?}");
    let mut svstat = Command::new(&svstat);
    svstat.arg(&service);
    let status = run_with_limit(svstat, DEADLINE);
    let pid = pid_in(&status.stdout).unwrap_or_else(|| panic!("no pid in {status:?}"));
    assert!(status.stdout.contains("ready"), "{status:?}");
    assert_app(&t, pid);
    assert_logged(
        &service.join("log/logs/current"),
        &["app: out line", "app: err line", "app: ready as 65534"],
    );
    let mut down = Command::new(&svc);
    down.arg("-d").arg(&service);
    run_with_limit(down, DEADLINE).code(0);
    wait_gone(pid);
}

/// runit: the real runsv with an svlogd logger: `sv status` names the program's PID,
/// both streams reach the log, `sv down` stops it.
#[test]
fn runit_supervises_the_program() {
    if skip_unless_root(
        "runit_supervises_the_program",
        "the run script switches user",
    ) {
        return;
    }
    let (Some(runsv), Some(sv), Some(_)) = (
        tool("runsv", "runit"),
        tool("sv", "runit"),
        tool("svlogd", "runit"),
    ) else {
        return;
    };
    let t = Test::new();
    let service = t.path("sv/app");
    service_dir(
        &t,
        &service,
        &block("runit-run"),
        "#!/bin/sh\nexec svlogd ./main\n",
    );
    fs::create_dir_all(service.join("log/main")).unwrap();
    let mut supervisor = Command::new(runsv);
    supervisor.arg(&service).stdin(Stdio::null());
    let supervisor = supervisor.spawn().unwrap();
    t.adopt(supervisor);
    let sv_cmd = |verb: &str| -> Output {
        let mut c = Command::new(&sv);
        c.arg(verb).arg(&service);
        run_with_limit(c, DEADLINE)
    };
    let pid = wait_until("runsv to start the program", || {
        let out = sv_cmd("status");
        // `run: <dir>: (pid N) ...; run: log: (pid M) ...`: the first is the program's.
        if !out.stdout.starts_with("run:") {
            return Err(out.stdout);
        }
        pid_in(&out.stdout).ok_or(out.stdout)
    });
    assert_app(&t, pid);
    assert_logged(
        &service.join("log/main/current"),
        &["app: out line", "app: err line", "app: ready as 65534"],
    );
    sv_cmd("down").code(0);
    wait_gone(pid);
    sv_cmd("exit");
}

/// Runs the `ENTRYPOINT [...]` of the block tagged `tag` as PID 1 of a new PID
/// namespace, its output piped: the binary under test for `/daemonic`, the test's app
/// for `/app`, `nobody` for the user `app`. `None` (test `name` skipped, said why)
/// without root or `unshare`.
fn entrypoint_in_a_pid_namespace(name: &str, t: &Test, tag: &str) -> Option<Spawned> {
    if skip_unless_root(name, "unshare --pid needs CAP_SYS_ADMIN") {
        return None;
    }
    let Some(unshare) = find_tool("unshare") else {
        println!("skipped: {name} needs unshare");
        return None;
    };
    let text = block(tag);
    let array = text
        .trim()
        .strip_prefix("ENTRYPOINT [")
        .and_then(|r| r.strip_suffix(']'))
        .expect("an ENTRYPOINT array");
    let app = app(t).display().to_string();
    let mut args: Vec<OsString> = vec!["--pid".into(), "--fork".into(), "--kill-child".into()];
    for word in array.split(", ") {
        args.push(match word.trim_matches('"') {
            "/daemonic" => bin().into_os_string(),
            "/app" => app.clone().into(),
            "app" => "nobody".into(),
            w => w.into(),
        });
    }
    let mut cmd = Command::new(unshare);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Some(Spawned::spawn(cmd))
}

/// The Docker entrypoint: as PID 1 of a new PID namespace, `--auto` stays in the
/// foreground (the program is the namespace's PID 1) and its output reaches the
/// container's log (here: the pipe).
#[test]
fn docker_entrypoint_stays_in_the_foreground() {
    let t = Test::new();
    let name = "docker_entrypoint_stays_in_the_foreground";
    let Some(spawned) = entrypoint_in_a_pid_namespace(name, &t, "docker") else {
        return;
    };
    let unshare_pid = spawned.pid();
    let marker = t.marker.clone();
    let pid = wait_until("the program in the namespace", || {
        t.live_processes()
            .into_iter()
            .find(|&p| Proc(p).cmdline() == [&b"/bin/sleep"[..], marker.as_bytes()])
            .ok_or_else(|| "not yet".to_string())
    });
    assert_app(&t, pid);
    let nspid = Proc(pid).status("NSpid");
    assert!(
        nspid.ends_with("\t1"),
        "not PID 1 of its namespace: {nspid:?}"
    );
    // The container ends with its PID 1 (the program runs as nobody, so unshare's
    // --kill-child, a parent-death signal, is cleared by the change of user).
    support::wait::kill(pid, libc::SIGKILL);
    let out = spawned.finish_within(Duration::from_secs(10)).unwrap();
    let _ = unshare_pid;
    assert!(out.stdout.contains("app: out line"), "{out:?}");
    assert!(out.stderr.contains("app: err line"), "{out:?}");
}

/// The app's `sleep` among `monitor`'s children, once it runs.
fn supervised_app(t: &Test, monitor: i32) -> i32 {
    t.learn(monitor);
    let marker = t.marker.clone();
    let pid = wait_until(&format!("monitor {monitor} to run the app"), || {
        let children = fs::read_to_string(format!("/proc/{monitor}/task/{monitor}/children"))
            .map_err(|e| e.to_string())?;
        children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .find(|&p| Proc(p).cmdline() == [&b"/bin/sleep"[..], marker.as_bytes()])
            .ok_or(children)
    });
    t.learn(pid);
    pid
}

/// `daemonic stop` on the test's pidfile ends the service: the monitor, the app, and
/// the pidfile (removed, or emptied by a monitor running as a user who may not remove
/// it), so that `status` says "not running" (3).
fn stop_supervised(t: &Test, monitor: i32, app: i32) {
    let control = |verb: &str| {
        let pidfile = t.pidfile().display().to_string();
        let args = [
            bin().display().to_string(),
            verb.into(),
            "--pidfile".into(),
            pidfile,
        ];
        run_with_limit(command(&args), DEADLINE)
    };
    control("stop").code(0);
    wait_gone(monitor);
    wait_gone(app);
    let left = fs::read(t.pidfile()).unwrap_or_default();
    assert!(left.is_empty(), "the pidfile still names {left:?}");
    control("status").code(3);
}

/// The init script with `--supervise`: the pidfile names the monitor, whose child is
/// the app, as `nobody`; both of the app's streams reach the log; `stop` ends both
/// and empties the pidfile.
#[test]
fn supervise_init_script() {
    let t = Test::new();
    let line = substitute(&t, block("supervise-init").trim());
    let args: Vec<String> = line.split(' ').map(str::to_owned).collect();
    run_with_limit(command(&args), DEADLINE).code(0);
    let monitor = pidfile_pid(&t.pidfile());
    let app = supervised_app(&t, monitor);
    assert_app(&t, app);
    assert_logged(&log_file(&t), &["app: out line", "app: err line"]);
    stop_supervised(&t, monitor, app);
}

/// The appliance's line: `start` returns once the app wrote its newline on fd 3, and
/// an app that dies is started again.
#[test]
fn supervise_appliance_restarts_a_crashed_app() {
    let t = Test::new();
    let line = substitute(&t, block("supervise-appliance").trim());
    let args: Vec<String> = line.split(' ').map(str::to_owned).collect();
    let mut cmd = command(&args);
    cmd.env("APP_S6", "1");
    run_with_limit(cmd, DEADLINE).code(0);
    let monitor = pidfile_pid(&t.pidfile());
    let first = supervised_app(&t, monitor);
    support::wait::kill(first, libc::SIGKILL);
    wait_gone(first);
    let second = supervised_app(&t, monitor);
    assert_ne!(first, second, "the app was not started again");
    stop_supervised(&t, monitor, second);
}

/// The container entry point with `--supervise`: the monitor is PID 1 of a new PID
/// namespace, the app its child; `docker stop`'s SIGTERM reaches the app and the
/// container exits 143, with the app's output on its log (the pipes).
#[test]
fn supervise_docker_entrypoint_forwards_sigterm() {
    let t = Test::new();
    let name = "supervise_docker_entrypoint_forwards_sigterm";
    let Some(spawned) = entrypoint_in_a_pid_namespace(name, &t, "supervise-docker") else {
        return;
    };
    let unshare_pid = spawned.pid();
    let monitor = wait_until("the monitor in the namespace", || {
        fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children"))
            .map_err(|e| e.to_string())?
            .split_whitespace()
            .find_map(|p| p.parse::<i32>().ok())
            .ok_or_else(|| "not yet".to_string())
    });
    let app_pid = supervised_app(&t, monitor);
    assert!(
        Proc(monitor).status("NSpid").ends_with("\t1"),
        "the monitor is not PID 1"
    );
    support::wait::kill(monitor, libc::SIGTERM);
    let out = spawned.finish_within(DEADLINE).unwrap();
    assert_eq!(out.code, Some(143), "{out:?}");
    assert!(out.stdout.contains("app: out line"), "{out:?}");
    assert!(out.stderr.contains("app: err line"), "{out:?}");
    wait_gone(app_pid);
}
