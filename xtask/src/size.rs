//! `cargo xtask size-report [--check]`: builds the programs of `size-report/` with
//! the size profile, for x86_64 and aarch64, measures their bytes and system calls
//! and the bytes of each capability, and checks the budgets.
//!
//! - without `--check`: writes `size-report/REPORT.md` and `size-report/sizes.svg`
//!   whatever the verdicts (the way to see them without failing);
//! - `--check` (CI): measures what the budgets need, writes nothing, fails on any
//!   budget not met.

use std::process::Command;

use crate::caps;
use crate::cross;
use crate::profile::Target;
use crate::programs::{self, Built, BASELINE, CLI, DAEMONIZE, NO_STD, NO_STD_FULL, STD};
use crate::strace::{self, Syscalls};
use crate::{procs, report, root, run_with, Result};

const USAGE: &str = "usage: cargo xtask size-report [--check]";

/// One x86_64 program, measured.
pub struct Row {
    pub built: Built,
    pub bytes: u64,
    /// At 1,024 and at the highest `RLIMIT_NOFILE`; `Err` says why there are none.
    pub syscalls: std::result::Result<[Syscalls; 2], String>,
}

/// Everything one run measured.
pub struct Measured {
    pub rows: Vec<Row>,
    pub missing: Vec<programs::Missing>,
    pub caps: caps::Table,
    pub aarch64: cross::Report,
    /// The command's symbols (unstripped x86_64 build).
    pub command: Vec<(u64, String)>,
    /// What the minimal example's checks cost (not measured by `--check`).
    pub floor: Option<crate::floor::Table>,
}

pub struct Budget {
    pub name: &'static str,
    pub rule: String,
    pub measured: String,
    pub met: bool,
}

pub fn task(mut args: impl Iterator<Item = String>) -> Result {
    match (args.next().as_deref(), args.next()) {
        (None, _) => write_report(),
        (Some("--check"), None) => check(true),
        _ => Err(USAGE.into()),
    }
}

/// Measures everything, prints the verdicts, writes REPORT.md and sizes.svg.
fn write_report() -> Result {
    let measured = measure(false)?;
    let budgets = budgets(&measured);
    print_verdicts(&budgets);
    let (markdown, svg) = report::render(&measured, &budgets)?;
    for (name, text) in [("REPORT.md", markdown), ("sizes.svg", svg)] {
        let path = root().join("size-report").join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The budgets alone. With `enforce`, an unmet budget fails; without, the verdicts
/// are only printed (`cargo xtask ci` while the library is being made small).
pub fn check(enforce: bool) -> Result {
    let measured = measure(true)?;
    let budgets = budgets(&measured);
    // The chart must come out of the same figures, even though --check writes nothing.
    let _ = report::render(&measured, &budgets)?;
    print_verdicts(&budgets);
    let failed: Vec<&str> = budgets.iter().filter(|b| !b.met).map(|b| b.name).collect();
    match (failed.is_empty(), enforce) {
        (true, _) => Ok(()),
        (false, true) => Err(format!("size budgets not met: {}", failed.join(", "))),
        (false, false) => {
            println!(
                "size budgets not met: {} (not enforced: see ENFORCE_BUDGETS in \
                 xtask/src/main.rs)",
                failed.join(", ")
            );
            Ok(())
        }
    }
}

fn print_verdicts(budgets: &[Budget]) {
    for b in budgets {
        let verdict = if b.met { "PASS" } else { "FAIL" };
        println!("{}: {}: measured {}: {verdict}", b.name, b.rule, b.measured);
    }
}

/// Builds and measures every program (with `check`, the system calls of the minimal
/// example only: the others are no budget's).
fn measure(check: bool) -> Result<Measured> {
    ensure_tools(true)?;
    let _reaper = procs::Subreaper::new()?;
    let names: Vec<&str> = programs::ALL.iter().map(|p| p.name).collect();
    let (built, missing) = programs::build_all(&names, Target::X86_64)?;
    let dir = procs::scratch_dir()?;
    let mut rows = Vec::new();
    for built in built {
        let name = built.program.name;
        let syscalls = if check && name != NO_STD {
            Err("not measured by --check".into())
        } else if name == NO_STD_FULL && !rustix::process::geteuid().is_root() {
            Err("not measured: it changes user, so it runs as root only".into())
        } else {
            strace::count_both(&built, &dir).map_err(|e| format!("could not run: {e}"))
        };
        rows.push(Row {
            bytes: built.bytes()?,
            built,
            syscalls,
        });
    }
    // The full example's log file, made by its runs.
    let _ = std::fs::remove_file("/tmp/no_std_full.log");
    let caps = caps::measure(Target::X86_64)?;
    let cross_names: &[&str] = if check {
        &[NO_STD, NO_STD_FULL, CLI]
    } else {
        &names
    };
    let aarch64 = cross::measure(cross_names, &dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    let command = crate::bloat::command_symbols()?;
    let floor = if check {
        None
    } else {
        Some(crate::floor::measure())
    };
    Ok(Measured {
        rows,
        missing,
        caps,
        aarch64,
        command,
        floor,
    })
}

/// The targets (rustup) and, as root, the packages (apt-get) the reports need:
/// strace, musl-gcc (`want_c`), qemu-user.
pub fn ensure_tools(want_c: bool) -> Result {
    crate::ensure_targets()?;
    let mut packages = Vec::new();
    let wanted = [
        ("strace", &["-V"][..], "strace", true),
        ("musl-gcc", &["--version"], "musl-tools", want_c),
        (cross::QEMU, &["--version"], "qemu-user-static", true),
    ];
    for (tool, args, package, want) in wanted {
        if want && !programs::works(tool, args) {
            packages.push(package);
        }
    }
    if packages.is_empty() || !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    apt_install(&packages)
}

/// `apt-get install` (after `apt-get update` if the lists are missing or stale).
pub fn apt_install(packages: &[&str]) -> Result {
    let install = || {
        run_with(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(std::io::stderr()),
        )
    };
    install().or_else(|_| {
        run_with(
            Command::new("apt-get")
                .arg("update")
                .stdout(std::io::stderr()),
        )?;
        install()
    })
}

pub fn row<'r>(rows: &'r [Row], name: &str) -> Option<&'r Row> {
    rows.iter().find(|r| r.built.program.name == name)
}

/// Bytes `name` adds to its baseline's.
pub fn added(rows: &[Row], name: &str) -> Option<i64> {
    let r = row(rows, name)?;
    let base = row(rows, r.built.program.baseline?)?;
    Some(r.bytes as i64 - base.bytes as i64)
}

/// A byte budget: `bytes <= limit`; `bytes` is `None` when the program was not built.
fn bytes_budget(name: &'static str, what: &str, bytes: Option<u64>, limit: u64) -> Budget {
    Budget {
        name,
        rule: format!("{what} <= {limit} bytes"),
        measured: bytes.map_or("not built".into(), |b| format!("{b} bytes")),
        met: bytes.is_some_and(|b| b <= limit),
    }
}

pub const NO_STD_LIMIT: u64 = 16_384;
pub const FULL_LIMIT: u64 = 24_576;
pub const CLI_LIMIT: u64 = 49_152;
const SYSCALL_LIMIT: usize = 45;

/// The budgets of "Pay only for what you use", measured. None may be moved.
pub fn budgets(m: &Measured) -> Vec<Budget> {
    let bytes = |name| row(&m.rows, name).map(|r| r.bytes);
    let traced = row(&m.rows, NO_STD).and_then(|r| r.syscalls.as_ref().ok());
    let [low, high] = strace::nofile_limits();
    let (ours, theirs) = (added(&m.rows, STD), added(&m.rows, DAEMONIZE));
    let failed = m.caps.failed();
    let arm = |name| {
        let rows = &m.aarch64.rows;
        rows.iter()
            .find(|r| r.built.program.name == name)
            .map(|r| r.bytes)
    };
    vec![
        bytes_budget("nostd-bytes", "no_std_daemon", bytes(NO_STD), NO_STD_LIMIT),
        bytes_budget(
            "nostd-full-bytes",
            "no_std_full",
            bytes(NO_STD_FULL),
            FULL_LIMIT,
        ),
        bytes_budget("cli-bytes", "the command", bytes(CLI), CLI_LIMIT),
        Budget {
            name: "cli-no-core-fmt",
            rule: "the command links no `core::fmt` symbol".into(),
            measured: format!("{} symbols", crate::bloat::fmt_symbols(&m.command)),
            met: !m.command.is_empty() && crate::bloat::fmt_symbols(&m.command) == 0,
        },
        Budget {
            name: "std-bytes-added",
            rule: format!("bytes daemonic adds to {BASELINE} < bytes daemonize 0.5 adds"),
            measured: match (ours, theirs) {
                (Some(a), Some(b)) => format!("{a} vs {b} bytes"),
                _ => "not built".into(),
            },
            met: ours.zip(theirs).is_some_and(|(a, b)| a < b),
        },
        Budget {
            name: "nostd-syscalls",
            rule: format!("no_std_daemon <= {SYSCALL_LIMIT} system calls"),
            measured: traced.map_or("not measured".into(), |[l, h]| {
                format!("{} ({low}), {} ({high})", l.total(), h.total())
            }),
            met: traced.is_some_and(|[l, h]| l.total().max(h.total()) <= SYSCALL_LIMIT),
        },
        Budget {
            name: "nostd-syscalls-any-limit",
            rule: format!("no_std_daemon: the same count at RLIMIT_NOFILE {low} and {high}"),
            measured: traced.map_or("not measured".into(), |[l, h]| {
                format!("{} vs {}", l.total(), h.total())
            }),
            met: traced.is_some_and(|[l, h]| l.total() == h.total()),
        },
        Budget {
            name: "capability-table",
            rule: "every capability variant builds; the table and sizes.svg are made".into(),
            measured: if failed.is_empty() {
                format!("{} of {} variants built", caps::ALL.len(), caps::ALL.len())
            } else {
                format!("did not build: {}", failed.join(", "))
            },
            met: failed.is_empty(),
        },
        bytes_budget(
            "aarch64-nostd-bytes",
            "aarch64 no_std_daemon",
            arm(NO_STD),
            NO_STD_LIMIT,
        ),
        bytes_budget(
            "aarch64-nostd-full-bytes",
            "aarch64 no_std_full",
            arm(NO_STD_FULL),
            FULL_LIMIT,
        ),
        bytes_budget("aarch64-cli-bytes", "aarch64 command", arm(CLI), CLI_LIMIT),
    ]
}
