//! The resident memory of the command's `--supervise` monitor, beside anchors
//! measured in the same run: an idle static musl C daemon, and `tini` and
//! `dumb-init` each supervising the same `/bin/sleep 1000`. A section of
//! `size-report/BENCH.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::programs::{Built, C, CLI};
use crate::size::apt_install;
use crate::{procs, Result};

/// The budget: the monitor's VmRSS, in KiB (reported, never enforced).
const MONITOR_LIMIT_KIB: u64 = 64;

/// How long a process is left alone once it is ready, before its memory is read.
const SETTLE: Duration = Duration::from_millis(100);

/// How long a start, a readiness or an end is waited for.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The program every supervisor supervises.
const SLEEPER: [&str; 2] = ["/bin/sleep", "1000"];

const METHOD: &str = "\
Each supervisor is started on `/bin/sleep 1000`; once \
`/proc` shows the sleep as its child (for the idle C daemon: once the \
pidfile names it and it is blocked in its sleep) and 100 ms more, `VmRSS` (resident \
now) and `VmHWM` (its peak) are read from the supervisor's own `/proc/PID/status`, \
its child not included; then it is stopped (the monitor with `daemonic stop \
--pidfile P --retry TERM/5`, the others with SIGTERM by PID) and every process it had \
is checked gone.";

/// The tini binaries, best first (Debian's `tini` ships both), and dumb-init.
const TINI: [&str; 2] = ["tini-static", "tini"];
const DUMB_INIT: &str = "dumb-init";

/// VmRSS and VmHWM of one process, in KiB.
#[derive(Clone, Copy)]
pub struct Memory {
    rss: u64,
    hwm: u64,
}

/// One line of the table: what was measured, and its memory or why there is none.
pub struct Row {
    name: String,
    memory: Result<Memory>,
}

/// As root, installs Debian's `tini` and `dumb-init` when missing; a failure is only
/// told: their rows then say "not installed".
pub fn ensure_tools() {
    let mut packages = Vec::new();
    if which(&TINI).is_none() {
        packages.push("tini");
    }
    if which(&[DUMB_INIT]).is_none() {
        packages.push("dumb-init");
    }
    if packages.is_empty() || !rustix::process::geteuid().is_root() {
        return;
    }
    if let Err(e) = apt_install(&packages) {
        eprintln!("xtask: could not install {}: {e}", packages.join(", "));
    }
}

/// The first of `names` found on PATH (`command -v`).
fn which(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .ok()?;
        let path = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
    })
}

/// Measures the monitor (from `built`'s `daemonic`) and the anchors, one after the
/// other, in `dir`.
pub fn measure(built: &[Built], dir: &Path) -> Vec<Row> {
    let find = |name| built.iter().find(|b| b.program.name == name);
    let not_built = |name| Err(format!("{name} not built or left out of this run"));
    let mut rows = vec![
        Row {
            name: format!("`{CLI} start --supervise` (the monitor)"),
            memory: find(CLI).map_or_else(|| not_built(CLI), |cli| monitor(cli, dir)),
        },
        Row {
            name: format!("`{C}`'s daemon, sleeping (the idle C process)"),
            memory: find(C).map_or_else(|| not_built(C), |c| idle_c(c, dir)),
        },
    ];
    let tini = which(&TINI);
    rows.push(Row {
        name: tool_name(tini.as_deref(), TINI[0], " -s"),
        memory: tini.map_or(Err("not installed".into()), |t| {
            supervisor(Command::new(t).args(["-s", "--"]))
        }),
    });
    let dumb_init = which(&[DUMB_INIT]);
    rows.push(Row {
        name: tool_name(dumb_init.as_deref(), DUMB_INIT, ""),
        memory: dumb_init.map_or(Err("not installed".into()), |d| {
            supervisor(&mut Command::new(d))
        }),
    });
    rows
}

/// "`tini-static -s` (/usr/bin/tini-static, static)": the tool's name, its flags,
/// and where it was found and how it is linked.
fn tool_name(path: Option<&Path>, default: &str, flags: &str) -> String {
    let Some(path) = path else {
        return format!("`{default}{flags}`");
    };
    let name = path
        .file_name()
        .map_or(default.into(), |n| n.to_string_lossy());
    let linked = match crate::bloat::sections(path) {
        Ok(s) if s.iter().any(|(section, _)| section == ".interp") => "dynamically linked",
        Ok(_) => "static",
        Err(_) => "linkage unknown",
    };
    format!("`{name}{flags}` ({}, {linked})", path.display())
}

/// `daemonic start --supervise --pidfile DIR/m.pid -- /bin/sleep 1000`: the monitor
/// is the process the pidfile names once the launcher has exited 0.
fn monitor(cli: &Built, dir: &Path) -> Result<Memory> {
    let pidfile = dir.join("m.pid");
    let _ = std::fs::remove_file(&pidfile);
    let mut start = Command::new(&cli.path);
    start.args(["start", "--supervise", "--pidfile"]);
    start.arg(&pidfile).arg("--").args(SLEEPER);
    let mut launcher = spawn(&mut start)?;
    let status = exit_status(&mut launcher, &pidfile)?;
    let monitor = procs::live_pid(&pidfile);
    let (true, Some(monitor)) = (status.success(), monitor) else {
        procs::abandon(&mut launcher, &pidfile);
        return Err(format!(
            "`{CLI} start --supervise` exited with {status}, no monitor"
        ));
    };
    let measured = sleeper_of(monitor).and_then(|sleep| Ok((read(monitor)?, sleep)));
    let stopped = stop(cli, &pidfile);
    let sleep = measured.as_ref().ok().map(|&(_, sleep)| sleep);
    let ended = end(&[Some(monitor), sleep]);
    let _ = std::fs::remove_file(&pidfile);
    let (memory, _) = measured?;
    stopped.and(ended).map(|()| memory)
}

/// `daemonic stop --pidfile PIDFILE --retry TERM/5`, which must exit 0.
fn stop(cli: &Built, pidfile: &Path) -> Result {
    let mut stop = Command::new(&cli.path);
    stop.args(["stop", "--pidfile"]).arg(pidfile);
    let status = stop
        .args(["--retry", "TERM/5"])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", cli.path.display()))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("`{CLI} stop --retry TERM/5` exited with {status}")),
    }
}

/// The C anchor: `c-double-fork PIDFILE`'s daemon, once it sleeps.
fn idle_c(c: &Built, dir: &Path) -> Result<Memory> {
    let pidfile = dir.join("c.pid");
    let _ = std::fs::remove_file(&pidfile);
    let mut launcher = spawn(&mut c.command(&pidfile))?;
    let status = exit_status(&mut launcher, &pidfile)?;
    let daemon = wait_for(|| procs::live_pid(&pidfile).filter(|&pid| procs::sleeping(pid)));
    let (true, Some(daemon)) = (status.success(), daemon) else {
        procs::abandon(&mut launcher, &pidfile);
        return Err(format!("{C} exited with {status}, no sleeping daemon"));
    };
    std::thread::sleep(SETTLE);
    let memory = read(daemon);
    let ended = procs::terminate(daemon).and_then(|()| end(&[Some(daemon)]));
    let _ = std::fs::remove_file(&pidfile);
    ended.and(memory)
}

/// A supervisor that stays in the foreground, `cmd /bin/sleep 1000`, ended with
/// SIGTERM (which tini and dumb-init forward to the sleep).
fn supervisor(cmd: &mut Command) -> Result<Memory> {
    let mut child = spawn(cmd.args(SLEEPER))?;
    let pid = Pid::from_raw(child.id() as i32).ok_or("a child without a PID")?;
    let measured = sleeper_of(pid).and_then(|sleep| Ok((read(pid)?, sleep)));
    let _ = procs::terminate(pid);
    let exited = procs::wait_exit(&child, TIMEOUT)?;
    if !exited {
        let _ = child.kill();
    }
    let _ = child.wait();
    let sleep = measured.as_ref().ok().map(|&(_, sleep)| sleep);
    let ended = end(&[sleep]);
    let (memory, _) = measured?;
    match exited {
        true => ended.map(|()| memory),
        false => Err("it did not exit within 5 s of SIGTERM".into()),
    }
}

/// `launcher`'s exit status, once it has exited, at most [`TIMEOUT`] from now; if it
/// has not, it and what it started are killed.
fn exit_status(launcher: &mut Child, pidfile: &Path) -> Result<ExitStatus> {
    if !procs::wait_exit(launcher, TIMEOUT)? {
        procs::abandon(launcher, pidfile);
        return Err("the launcher did not exit within 5 s".into());
    }
    launcher.wait().map_err(|e| e.to_string())
}

/// Spawns `cmd` as a shell would, its output to /dev/null.
fn spawn(cmd: &mut Command) -> Result<Child> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    procs::as_from_shell(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))
}

/// Waits until `parent`'s first child runs `/bin/sleep`, then [`SETTLE`] more.
fn sleeper_of(parent: Pid) -> Result<Pid> {
    let sleep = wait_for(|| {
        let children = procs::children(parent.as_raw_nonzero().get() as u32);
        children
            .into_iter()
            .find(|&child| procs::runs(child, Path::new(SLEEPER[0])))
    });
    let sleep = sleep.ok_or_else(|| {
        let pid = parent.as_raw_nonzero();
        format!("{pid} did not start /bin/sleep within 5 s")
    })?;
    std::thread::sleep(SETTLE);
    Ok(sleep)
}

/// Polls `ready` every 100 µs until it gives something, at most [`TIMEOUT`].
fn wait_for<T>(ready: impl Fn() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(found) = ready() {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Waits until each of `pids` has gone, reaping them; one still there after
/// [`TIMEOUT`] is killed (by PID) and reported.
fn end(pids: &[Option<Pid>]) -> Result {
    let mut left = Vec::new();
    for &pid in pids.iter().flatten() {
        if procs::reap_until_gone(pid).is_err() {
            let _ = kill_process(pid, Signal::KILL);
            let _ = procs::reap_until_gone(pid);
            left.push(pid.as_raw_nonzero().to_string());
        }
    }
    match left.is_empty() {
        true => Ok(()),
        false => Err(format!("left running, killed: {}", left.join(", "))),
    }
}

/// VmRSS and VmHWM from `/proc/PID/status`.
fn read(pid: Pid) -> Result<Memory> {
    let path = format!("/proc/{}/status", pid.as_raw_nonzero());
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let kib = |field| {
        let line = status.lines().find_map(|l| l.strip_prefix(field));
        let value = line.and_then(|l| l.trim().strip_suffix("kB")?.trim().parse().ok());
        value.ok_or_else(|| format!("{path}: no {field}"))
    };
    Ok(Memory {
        rss: kib("VmRSS:")?,
        hwm: kib("VmHWM:")?,
    })
}

/// The section of `BENCH.md`: the table, the budget line, how it is measured. The
/// ratios are to the second row's VmRSS, the idle C process ([`measure`]'s order).
pub fn section(rows: &[Row]) -> String {
    let reference = rows
        .get(1)
        .and_then(|r| r.memory.as_ref().ok())
        .map(|m| m.rss);
    let mut out = format!(
        "\n## Resident memory of the `--supervise` monitor\n\n\
         The monitor and two common supervisors, each supervising `/bin/sleep 1000`, \
         beside an idle static musl C process (`{C}`'s daemon, built with `musl-gcc` and the size \
         profile like the other C programs), all measured in this run.\n\n\
         | program | VmRSS KiB | VmHWM KiB | VmRSS / idle C |\n|---|---:|---:|---:|\n"
    );
    for row in rows {
        let _ = match &row.memory {
            Ok(m) => {
                let ratio = reference.map_or("-".into(), |r| ratio(m.rss, r));
                writeln!(out, "| {} | {} | {} | {ratio} |", row.name, m.rss, m.hwm)
            }
            Err(why) => writeln!(out, "| {} | {why} | - | - |", row.name),
        };
    }
    let _ = write!(out, "\n{}\n\n{METHOD}\n", budget(rows));
    out
}

fn ratio(kib: u64, reference: u64) -> String {
    format!("{:.1}", kib as f64 / reference as f64)
}

/// "monitor VmRSS <= 64 KiB: measured N KiB: PASS/FAIL" (the monitor is the first row).
fn budget(rows: &[Row]) -> String {
    let monitor = rows.first().and_then(|r| r.memory.as_ref().ok());
    let (measured, met) = monitor.map_or(("not measured".into(), false), |m| {
        (
            format!("measured {} KiB", m.rss),
            m.rss <= MONITOR_LIMIT_KIB,
        )
    });
    let verdict = if met { "PASS" } else { "FAIL" };
    format!("monitor VmRSS <= {MONITOR_LIMIT_KIB} KiB: {measured}: {verdict}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, memory: Result<Memory>) -> Row {
        let name = name.into();
        Row { name, memory }
    }

    #[test]
    fn reads_this_process() {
        let memory = read(rustix::process::getpid()).unwrap();
        assert!(memory.rss > 0 && memory.hwm >= memory.rss);
    }

    #[test]
    fn budget_is_the_monitors_rss() {
        let at = |rss| [row("m", Ok(Memory { rss, hwm: rss }))];
        let line = "monitor VmRSS <= 64 KiB: measured 64 KiB: PASS";
        assert_eq!(budget(&at(64)), line);
        assert!(budget(&at(65)).ends_with("measured 65 KiB: FAIL"));
        let missing = [row("m", Err("not built".into()))];
        assert!(budget(&missing).ends_with("KiB: not measured: FAIL"));
    }

    #[test]
    fn absent_tools_are_rows() {
        let rows = [
            row("m", Ok(Memory { rss: 176, hwm: 180 })),
            row("c", Ok(Memory { rss: 28, hwm: 28 })),
            row("t", Err("not installed".into())),
        ];
        let text = section(&rows);
        assert!(text.contains("| m | 176 | 180 | 6.3 |"), "{text}");
        assert!(text.contains("| t | not installed | - | - |"), "{text}");
    }
}
