//! The size report for aarch64 (`rust-lld`, no cross C compiler): bytes of the Rust
//! programs, the byte budgets, whether they run, and whether system calls can be
//! counted under `qemu-aarch64-static` (this machine has no binfmt_misc,
//! so qemu is run explicitly, with its own `-strace` log).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bloat::loaded_bytes;
use crate::procs;
use crate::profile::Target;
use crate::programs::{self, Built, Missing, CLI, NO_STD};
use crate::Result;

pub const QEMU: &str = "qemu-aarch64-static";

/// One aarch64 program: its finished bytes, and the code and data it loads.
pub struct Row {
    pub built: Built,
    pub bytes: u64,
    pub loaded: u64,
}

pub struct Report {
    pub rows: Vec<Row>,
    pub missing: Vec<Missing>,
    /// What running the minimal example under qemu showed.
    pub qemu: String,
    /// What running the command under qemu showed.
    pub qemu_cli: String,
}

/// Builds `names` for aarch64 and tries the minimal example under qemu.
pub fn measure(names: &[&str], dir: &Path) -> Result<Report> {
    let target = Target::Aarch64;
    let (built, missing) = programs::build_all(names, target)?;
    let mut rows = Vec::new();
    for built in built {
        rows.push(Row {
            bytes: built.bytes()?,
            loaded: loaded_bytes(&built.path)?,
            built,
        });
    }
    let qemu = match rows.iter().find(|r| r.built.program.name == NO_STD) {
        Some(row) => try_qemu(&row.built, dir),
        None => "not tried: the minimal example was not built".into(),
    };
    let qemu_cli = match rows.iter().find(|r| r.built.program.name == CLI) {
        Some(row) => try_cli(&row.built, dir),
        None => "not tried: the command was not built".into(),
    };
    Ok(Report {
        rows,
        missing,
        qemu,
        qemu_cli,
    })
}

/// Runs the command under qemu: `--version`, then `start` (which only execs, so
/// qemu's helper thread does not stop it) and `status`; says what each did, and ends
/// the daemon by PID.
fn try_cli(built: &Built, dir: &Path) -> String {
    if !programs::works(QEMU, &["--version"]) {
        return format!("not tried: `{QEMU}` not found");
    }
    let pidfile = dir.join("qemu-cli.pid");
    let _ = std::fs::remove_file(&pidfile);
    let run = |args: Vec<std::ffi::OsString>| {
        let out = procs::as_from_shell(&mut Command::new(QEMU))
            .arg(&built.path)
            .args(args)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => {
                let text = String::from_utf8_lossy(if o.status.success() {
                    &o.stdout
                } else {
                    &o.stderr
                });
                format!("{}, printed `{}`", o.status, text.trim())
            }
            Err(e) => format!("did not start: {e}"),
        }
    };
    let version = run(vec!["--version".into()]);
    let start = run(built.args(&pidfile));
    let daemon = procs::live_pid(&pidfile);
    let status = run(vec![
        "status".into(),
        "--pidfile".into(),
        pidfile.clone().into(),
    ]);
    if let Some(pid) = daemon {
        let _ = procs::terminate(pid).and_then(|()| procs::reap_until_gone(pid));
    }
    let _ = std::fs::remove_file(&pidfile);
    format!(
        "`daemonic --version`: {version}; `daemonic start --pidfile P -- /bin/sleep 1000`: \
         {start}, {}; `daemonic status --pidfile P`: {status}",
        match daemon {
            Some(_) => "the daemon came up (ended by PID)",
            None => "no daemon came up",
        }
    )
}

/// Runs the minimal example under `qemu-aarch64-static -d strace -D LOG` and says
/// what happened: how it exited, its last line on stderr, which processes the log
/// shows, and whether a daemon came up (then it is ended by PID).
fn try_qemu(built: &Built, dir: &Path) -> String {
    if !programs::works(QEMU, &["--version"]) {
        return format!("not tried: `{QEMU}` not found (Debian `qemu-user-static`)");
    }
    let (pidfile, log) = (dir.join("qemu.pid"), dir.join("qemu.strace"));
    let _ = (std::fs::remove_file(&pidfile), std::fs::remove_file(&log));
    let child = procs::as_from_shell(&mut Command::new(QEMU))
        .args(["-d", "strace", "-D"])
        .arg(&log)
        .arg(&built.path)
        .arg(&pidfile)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return format!("`{QEMU}` did not start: {e}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let daemon = procs::live_pid(&pidfile);
    if let Some(pid) = daemon {
        let _ = procs::terminate(pid).and_then(|()| procs::reap_until_gone(pid));
    }
    procs::abandon(&mut child, &pidfile);
    let stderr = child
        .stderr
        .take()
        .and_then(|mut e| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).ok()?;
            Some(text)
        })
        .unwrap_or_default();
    let status = child.wait().map_or("?".into(), |s| s.to_string());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut pids: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
    pids.dedup();
    pids.sort();
    pids.dedup();
    let _ = (std::fs::remove_file(&log), std::fs::remove_file(&pidfile));
    let mut out = format!(
        "`{QEMU} -d strace -D LOG no_std_daemon PIDFILE`: {status}, {} line(s) of log \
         from {} process(es)",
        text.lines().count(),
        pids.len()
    );
    if let Some(last) = stderr.lines().last() {
        let _ = write!(out, "; it said: `{}`", last.trim());
    }
    out.push_str(match daemon {
        Some(_) => "; a daemon came up (ended by PID)",
        None => "; no daemon came up",
    });
    out
}

/// The aarch64 section of REPORT.md; `budgets` is its rows of the budget table.
pub fn markdown(report: &Report, budgets: &str) -> String {
    let mut out = format!(
        "## aarch64 (`{}`)\n\n\
         Built with the same profile (`rust-lld` and the same script: no unwind tables, \
         no hole where they were). The C programs are left out: {}.\n\n\
         | program | bytes | code and data |\n|---|---:|---:|\n",
        Target::Aarch64.triple(),
        programs::unavailable(programs::program(programs::C), Target::Aarch64).unwrap_or("-"),
    );
    for r in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            r.built.program.name, r.bytes, r.loaded
        );
    }
    for (name, why) in &report.missing {
        let _ = writeln!(out, "| {name} | {why} | |");
    }
    let _ = write!(
        out,
        "\n*code and data*: the bytes of the sections the program loads; the rest of the \
         file is the ELF, program and section headers and the sections' alignment.\n\n\
         {budgets}\n\
         **The command under qemu**: {}.\n\n\
         **System calls** are not counted on aarch64, bytes only: {}.{}\n\n",
        report.qemu_cli,
        report.qemu,
        if report.qemu.contains("thread") {
            " daemonic refuses to fork a process with more than one thread (R5), and \
             qemu-user runs a helper thread in every emulated process: under qemu the \
             count would be that of a refusal, not of a start."
        } else {
            " Counting under qemu is not implemented beyond this attempt."
        }
    );
    out
}
