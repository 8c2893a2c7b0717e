//! Counting the system calls from exec until the daemon is ready, process by process,
//! with `strace -f` under a given `RLIMIT_NOFILE`.
//!
//! `strace -f -c` would never end (it follows the daemon), so the log is written line
//! by line (`strace -f -o LOG`), the daemon is killed by PID once it sleeps, and the
//! log is read afterwards: see [`METHOD`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::process::{getrlimit, Pid, Resource};

use crate::procs;
use crate::programs::{self, Built};
use crate::Result;

pub const METHOD: &str = "\
Each program runs under `prlimit --nofile=N:N strace -f -o LOG`, started as a shell \
would (fork and exec, every signal at its default action). Once the original process \
has exited and the pidfile names a live process blocked in its sleep (`nanosleep`, \
`clock_nanosleep`, `pause`), the daemon is sent SIGTERM by PID and the log is read. \
Each figure is the largest of 3 runs: the order in which the daemon's and the \
intermediate process's reports reach daemonic's original process varies, and the \
rarer order saves it a call or two. The launcher is the process strace \
started, the daemon the one the pidfile names, intermediate any other. Counted: every \
system call from the launcher's `execve` on, each once (strace's `<... resumed>` \
halves, `---` signal and `+++` exit lines are not calls); not counted: `exit_group`, \
and in the daemon its sleep and anything after it, or anything after the call that \
makes it ready: the `sendto`/`sendmsg` of daemonic's ready record, or an `execve` \
(the CLI). So the launcher's calls after the daemon is ready (closing its ends, \
freeing memory) count: readiness is the launcher's exit, as for systemd's \
`Type=forking`. *startup* is the launcher's leading run of C runtime and Rust runtime \
calls (`execve`, `arch_prctl`, `set_tid_address`; std adds its stdio `poll`, \
`SIGPIPE` and stack-guard `rt_sigaction`s, `sigaltstack`, `mmap`, `mprotect`, \
`rt_sigprocmask`) before the program's first own call; it is included in the totals. \
musl's `fork` adds 4 `rt_sigprocmask` (2 per side) and a `set_tid_address` in the \
child, also included.";

/// Runtime start-up calls (musl, then Rust's std) that precede `main`'s first call.
const STARTUP: [&str; 9] = [
    "execve",
    "arch_prctl",
    "set_tid_address",
    "poll",
    "rt_sigaction",
    "sigaltstack",
    "mmap",
    "mprotect",
    "rt_sigprocmask",
];

/// The calls of one run, by process, in order.
#[derive(Clone, Debug, Default)]
pub struct Syscalls {
    pub launcher: Vec<String>,
    pub intermediate: Vec<String>,
    pub daemon: Vec<String>,
}

impl Syscalls {
    pub fn total(&self) -> usize {
        self.launcher.len() + self.intermediate.len() + self.daemon.len()
    }

    /// The launcher's leading runtime start-up calls.
    pub fn startup(&self) -> usize {
        let runtime = |name: &&String| STARTUP.contains(&name.as_str());
        self.launcher.iter().take_while(runtime).count()
    }

    /// "launcher + intermediate + daemon = total".
    pub fn split(&self) -> String {
        format!(
            "{} + {} + {} = **{}**",
            self.launcher.len(),
            self.intermediate.len(),
            self.daemon.len(),
            self.total()
        )
    }
}

/// The two `RLIMIT_NOFILE` values measured: 1,024 and the highest this machine
/// allows: `fs.nr_open` if the hard limit can be raised that far, else the hard limit.
pub fn nofile_limits() -> [u64; 2] {
    static HIGH: OnceLock<u64> = OnceLock::new();
    let high = *HIGH.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/sys/fs/nr_open").unwrap_or_default();
        let nr_open = text.trim().parse().unwrap_or(1 << 20);
        let hard = getrlimit(Resource::Nofile).maximum.unwrap_or(nr_open);
        let raise = format!("--nofile={nr_open}:{nr_open}");
        if hard < nr_open && programs::works("prlimit", &[&raise, "true"]) {
            nr_open
        } else {
            hard
        }
    });
    [1024, high]
}

/// How the high limit was chosen, for the reports.
pub fn high_limit_note() -> String {
    let [_, high] = nofile_limits();
    if Some(high) == getrlimit(Resource::Nofile).maximum {
        format!("{high} is this machine's hard limit, which could not be raised")
    } else {
        format!("{high} is `fs.nr_open`, the kernel's ceiling")
    }
}

/// Runs `built` under strace at both limits.
pub fn count_both(built: &Built, dir: &Path) -> Result<[Syscalls; 2]> {
    let [low, high] = nofile_limits();
    Ok([count(built, low, dir)?, count(built, high, dir)?])
}

/// Runs per count (the method in [`METHOD`] says 3).
const RUNS: usize = 3;

/// The largest count of [`RUNS`] runs of `built` under strace with `RLIMIT_NOFILE` =
/// `nofile`: the daemon's ready report may reach the original process before the
/// intermediate process's report, which then goes unread (a call or two fewer).
pub fn count(built: &Built, nofile: u64, dir: &Path) -> Result<Syscalls> {
    let mut most = count_once(built, nofile, dir)?;
    for _ in 1..RUNS {
        let calls = count_once(built, nofile, dir)?;
        if calls.total() > most.total() {
            most = calls;
        }
    }
    Ok(most)
}

/// Runs `built` once under strace with `RLIMIT_NOFILE` = `nofile` and counts.
fn count_once(built: &Built, nofile: u64, dir: &Path) -> Result<Syscalls> {
    let name = built.program.name;
    let (pidfile, log) = (
        dir.join(format!("{name}.pid")),
        dir.join(format!("{name}.strace")),
    );
    let _ = std::fs::remove_file(&pidfile);
    let mut strace = procs::as_from_shell(&mut Command::new("prlimit"))
        .arg(format!("--nofile={nofile}:{nofile}"))
        .args(["strace", "-f", "-o"])
        .arg(&log)
        .arg("--")
        .arg(&built.path)
        .args(built.args(&pidfile))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("prlimit strace: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    // Ready: for a daemonizing program, the launcher (strace's child) has exited and
    // the daemon the pidfile names sleeps; for a baseline, the launcher sleeps.
    // strace's children also include, at first, its own short-lived probes, one of
    // which waits in `pause` too: only the program's own process counts.
    let ready = loop {
        let children = procs::children(strace.id());
        let ready = if built.program.daemonizes {
            procs::live_pid(&pidfile).filter(|_| children.is_empty())
        } else {
            let program = |&pid: &Pid| procs::runs(pid, &built.path);
            children
                .into_iter()
                .find(|pid| procs::sleeping(*pid) && program(pid))
        };
        if let Some(pid) = ready.filter(|&pid| procs::sleeping(pid)) {
            break pid;
        }
        let ended = strace.try_wait().map_err(|e| e.to_string())?;
        if ended.is_some() || Instant::now() > deadline {
            procs::abandon(&mut strace, &pidfile);
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{name} never became ready under strace:\n{text}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    procs::terminate(ready)?;
    // strace ends once every process it follows has ended; reap ours after it.
    strace.wait().map_err(|e| e.to_string())?;
    procs::reap_until_gone(ready)?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let _ = (std::fs::remove_file(&log), std::fs::remove_file(&pidfile));
    Ok(parse(&text, ready))
}

/// Splits a `strace -f` log by process; `ready` is the process whose readiness ends
/// the count (the daemon, or the launcher of a program that does not fork).
pub fn parse(log: &str, ready: Pid) -> Syscalls {
    let ready = ready.as_raw_nonzero().get().to_string();
    let mut calls: HashMap<&str, Vec<String>> = HashMap::new();
    let mut done: Vec<&str> = Vec::new();
    let mut launcher = None;
    for line in log.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        launcher.get_or_insert(pid);
        if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let name = rest.split('(').next().unwrap_or(rest);
        if done.contains(&pid) || name == "exit_group" || name == "exit" {
            continue;
        }
        let mine = calls.entry(pid).or_default();
        if pid != ready {
            mine.push(name.to_string());
            continue;
        }
        if matches!(name, "nanosleep" | "clock_nanosleep" | "pause") {
            done.push(pid);
            continue;
        }
        // The ready report, or the exec of the program the CLI starts, is the last.
        let last = matches!(name, "sendto" | "sendmsg") || (name == "execve" && !mine.is_empty());
        mine.push(name.to_string());
        if last {
            done.push(pid);
        }
    }
    let launcher = launcher.unwrap_or_default();
    let mut syscalls = Syscalls {
        launcher: calls.remove(launcher).unwrap_or_default(),
        daemon: calls.remove(ready.as_str()).unwrap_or_default(),
        intermediate: Vec::new(),
    };
    for (_, mut rest) in calls {
        syscalls.intermediate.append(&mut rest);
    }
    syscalls
}

/// The Markdown table of syscall counts at both limits, one row per program.
pub fn table(rows: &[(&str, [Syscalls; 2])]) -> String {
    let [low, high] = nofile_limits();
    let mut out = format!(
        "| program | RLIMIT_NOFILE {low}: launcher + intermediate + daemon = total | \
         RLIMIT_NOFILE {high}: total | of which startup |\n|---|---|---|---|\n"
    );
    for (name, [at_low, at_high]) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            at_low.split(),
            at_high.total(),
            at_low.startup()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_process_and_stops_at_readiness() {
        let log = "\
10 execve(\"./p\", [\"./p\"], 0x1 /* 3 vars */) = 0
10 arch_prctl(ARCH_SET_FS, 0x1) = 0
10 open(\"/tmp/p.pid\", O_RDWR) = 3
10 fork() = 11
11 setsid( <unfinished ...>
10 exit_group(0 <unfinished ...>
11 <... setsid resumed>) = 11
10 <... exit_group resumed>) = ?
10 +++ exited with 0 +++
11 fork() = 12
11 exit_group(0) = ?
12 chdir(\"/\") = 0
12 sendto(4, \"\\2\", 8, MSG_NOSIGNAL, NULL, 0) = 8
12 close(4) = 0
12 nanosleep({tv_sec=3600, tv_nsec=0},  <unfinished ...>
12 --- SIGTERM {si_signo=SIGTERM} ---
12 +++ killed by SIGTERM +++
";
        let s = parse(log, Pid::from_raw(12).unwrap());
        assert_eq!(s.launcher, ["execve", "arch_prctl", "open", "fork"]);
        assert_eq!(s.intermediate, ["setsid", "fork"]);
        assert_eq!(s.daemon, ["chdir", "sendto"]);
        assert_eq!((s.total(), s.startup()), (8, 2));
    }

    #[test]
    fn a_foreground_program_stops_at_its_sleep() {
        let log = "7 execve(\"./b\") = 0\n7 brk(NULL) = 0x1\n7 clock_nanosleep(0) = ?\n";
        let s = parse(log, Pid::from_raw(7).unwrap());
        assert_eq!(s.launcher, ["execve", "brk"]);
        assert_eq!(s.total(), 2);
    }
}
