//! `cargo xtask size-report [--check]`: builds the programs of `size-report/`,
//! measures their bytes and system calls, and writes `size-report/REPORT.md`; with
//! `--check` (CI) it measures what the budgets need and fails on any budget not met,
//! unless `size-report/known-over-budget.txt` lists it.

use std::fmt::Write as _;
use std::process::Command;

use crate::programs::{self, Built, BASELINE, CLI, DAEMONIZE, NO_STD, STD};
use crate::strace::{self, Syscalls};
use crate::{bloat, ensure_musl_target, procs, root, run_with, Result};

const USAGE: &str = "usage: cargo xtask size-report [--check]";
const KNOWN: &str = "size-report/known-over-budget.txt";

/// One program, measured.
struct Row {
    built: Built,
    bytes: u64,
    /// At 1,024 and at the highest `RLIMIT_NOFILE`; `Err` says why there are none.
    syscalls: std::result::Result<[Syscalls; 2], String>,
}

struct Budget {
    name: &'static str,
    rule: String,
    measured: String,
    /// `None`: does not apply (yet).
    met: Option<bool>,
}

pub fn task(mut args: impl Iterator<Item = String>) -> Result {
    let check = match (args.next().as_deref(), args.next()) {
        (None, _) => false,
        (Some("--check"), None) => true,
        _ => return Err(USAGE.into()),
    };
    ensure_tools(!check)?;
    let _reaper = procs::Subreaper::new()?;
    let (rows, missing) = measure(check)?;
    let budgets = budgets(&rows);
    let known = known_over_budget()?;
    let verdicts: Vec<(String, bool)> = budgets.iter().map(|b| verdict(b, &known)).collect();
    for (budget, (verdict, _)) in budgets.iter().zip(&verdicts) {
        println!(
            "{}: {}: measured {}: {verdict}",
            budget.name, budget.rule, budget.measured
        );
    }
    if !check {
        let report = report(&rows, &missing, &budgets, &verdicts)?;
        let path = root().join("size-report/REPORT.md");
        std::fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
        return Ok(());
    }
    let failed: Vec<&str> = budgets
        .iter()
        .zip(&verdicts)
        .filter(|(_, (_, ok))| !ok)
        .map(|(b, _)| b.name)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("size budgets failed: {}", failed.join(", ")))
    }
}

/// Builds and measures every program (with `check`, only what the budgets are
/// about, and only the no_std program's system calls).
fn measure(check: bool) -> Result<(Vec<Row>, Vec<programs::Missing>)> {
    let names: Vec<&str> = if check {
        vec![NO_STD, STD, BASELINE, DAEMONIZE, CLI]
    } else {
        programs::ALL.iter().map(|p| p.name).collect()
    };
    let (built, missing) = programs::build_all(&names)?;
    let dir = procs::scratch_dir()?;
    let mut rows = Vec::new();
    for built in built {
        let bytes = built.bytes()?;
        let syscalls = if check && built.program.name != NO_STD {
            Err("not measured by --check".into())
        } else {
            match strace::count_both(&built, &dir) {
                // The CLI is another issue's work in progress: report, do not stop.
                Err(e) if built.program.name == CLI => Err(format!("could not run: {e}")),
                other => Ok(other?),
            }
        };
        rows.push(Row {
            built,
            bytes,
            syscalls,
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok((rows, missing))
}

/// The musl target, strace (and musl-gcc for the full report): installed with rustup
/// and, as root, apt-get, when missing.
pub fn ensure_tools(want_c: bool) -> Result {
    ensure_musl_target()?;
    let mut packages = Vec::new();
    if !programs::works("strace", &["-V"]) {
        packages.push("strace");
    }
    if want_c && !programs::works("musl-gcc", &["--version"]) {
        packages.push("musl-tools");
    }
    if packages.is_empty() || !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let install = || {
        run_with(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&packages)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(std::io::stderr()),
        )
    };
    // A fresh machine's package lists may be missing or stale.
    install().or_else(|_| {
        run_with(
            Command::new("apt-get")
                .arg("update")
                .stdout(std::io::stderr()),
        )?;
        install()
    })
}

fn row<'r>(rows: &'r [Row], name: &str) -> Option<&'r Row> {
    rows.iter().find(|r| r.built.program.name == name)
}

/// Bytes `name` adds to its baseline's.
fn added(rows: &[Row], name: &str) -> Option<i64> {
    let r = row(rows, name)?;
    let base = row(rows, r.built.program.baseline?)?;
    Some(r.bytes as i64 - base.bytes as i64)
}

/// The budgets of the issue, measured.
fn budgets(rows: &[Row]) -> Vec<Budget> {
    let no_std = row(rows, NO_STD);
    let traced = no_std.and_then(|r| r.syscalls.as_ref().ok());
    let [low, high] = strace::nofile_limits();
    let (ours, theirs) = (added(rows, STD), added(rows, DAEMONIZE));
    let cli = row(rows, CLI);
    vec![
        Budget {
            name: "nostd-bytes",
            rule: "no_std program <= 16384 bytes".into(),
            measured: no_std.map_or("-".into(), |r| format!("{} bytes", r.bytes)),
            met: no_std.map(|r| r.bytes <= 16_384),
        },
        Budget {
            name: "std-bytes-added",
            rule: "daemonic adds < daemonize 0.5".into(),
            measured: match (ours, theirs) {
                (Some(a), Some(b)) => format!("{a} vs {b} bytes"),
                _ => "-".into(),
            },
            met: ours.zip(theirs).map(|(a, b)| a < b),
        },
        Budget {
            name: "nostd-syscalls",
            rule: "no_std daemonizing <= 45 syscalls".into(),
            measured: traced.map_or("-".into(), |[l, h]| {
                format!("{} ({low}), {} ({high})", l.total(), h.total())
            }),
            met: traced.map(|[l, h]| l.total().max(h.total()) <= 45),
        },
        Budget {
            name: "nostd-syscalls-any-limit",
            rule: format!("no_std: same count at {low} and {high}"),
            measured: traced.map_or("-".into(), |[l, h]| {
                format!("{} vs {}", l.total(), h.total())
            }),
            met: traced.map(|[l, h]| l.total() == h.total()),
        },
        Budget {
            name: "cli-bytes",
            rule: "CLI <= 49152 bytes (48 KiB)".into(),
            measured: cli.map_or("not built yet".into(), |r| format!("{} bytes", r.bytes)),
            met: cli.map(|r| r.bytes <= 49_152),
        },
    ]
}

/// `size-report/known-over-budget.txt`: `budget-name reason` per line, `#` comments.
fn known_over_budget() -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(root().join(KNOWN)).unwrap_or_default();
    let known: Vec<(String, String)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (name.to_string(), reason.trim().to_string())
        })
        .collect();
    let names = budgets(&[]);
    match known
        .iter()
        .find(|(k, _)| !names.iter().any(|b| b.name == k))
    {
        Some((unknown, _)) => Err(format!("{KNOWN}: no budget is named {unknown:?}")),
        None => Ok(known),
    }
}

/// The verdict on `budget` and whether it passes the check. A listed budget may fail
/// (it is known), but must not pass: then the list is out of date and must shrink.
fn verdict(budget: &Budget, known: &[(String, String)]) -> (String, bool) {
    let listed = known.iter().find(|(name, _)| name == budget.name);
    match (budget.met, listed) {
        (None, _) => ("n/a".into(), true),
        (Some(true), None) => ("PASS".into(), true),
        (Some(true), Some(_)) => (format!("PASS, but listed in {KNOWN}: remove it"), false),
        (Some(false), Some((_, why))) => (format!("FAIL (known: {why})"), true),
        (Some(false), None) => ("FAIL".into(), false),
    }
}

fn report(
    rows: &[Row],
    missing: &[programs::Missing],
    budgets: &[Budget],
    verdicts: &[(String, bool)],
) -> Result<String> {
    let mut out = format!(
        "# Size report\n\n\
         Generated by `cargo xtask size-report`: {}. Do not edit; rerun it whenever the \
         library changes. CI runs `cargo xtask size-report --check`.\n\n\
         Every program does the same job: daemonize with a pidfile locked with `flock`, \
         then sleep until SIGTERM (sources in `size-report/programs/`). Built for {}.\n\n",
        programs::provenance(),
        programs::PROFILE_TEXT
    );
    out.push_str(&programs_table(rows, missing));
    out.push_str(&budgets_table(budgets, verdicts));
    if let Some(Row {
        syscalls: Ok([calls, _]),
        ..
    }) = row(rows, NO_STD)
    {
        out.push_str("## The no_std program's system calls, in order\n\n");
        for (who, list) in [
            ("launcher", &calls.launcher),
            ("intermediate", &calls.intermediate),
            ("daemon", &calls.daemon),
        ] {
            let _ = writeln!(out, "- **{who}** ({}): {}", list.len(), list.join(", "));
        }
        out.push('\n');
    }
    if let Some(r) = row(rows, NO_STD) {
        let baseline = row(rows, programs::NO_STD_BASELINE).map(|b| b.built.path.as_path());
        out.push_str("## Where the no_std program's bytes go\n\n");
        out.push_str(&bloat::report(&r.built.path, r.bytes, baseline)?);
    }
    if row(rows, STD).is_some() && row(rows, BASELINE).is_some() {
        out.push_str(&bloat::std_added()?);
    }
    let _ = write!(
        out,
        "## Method\n\n\
         - **Bytes**: the length of the stripped file.\n\
         - **System calls**: {}\n\
         - **Peers**: `daemonize` 0.5 opens, `flock`s and writes its pidfile in the daemon \
           (so the original process cannot report \"already running\"); `fork` 0.11 \
           `daemon(false, false)` gets a pidfile made the way daemonic makes its own \
           (opened and `flock`ed before the first fork, written by the daemon); the C \
           program does the classic double fork the same way, without stdio (the PID is \
           formatted by hand). None of them closes inherited descriptors, resets signals \
           or waits for the daemon to be ready: they do less than daemonic.\n\
         - Peers are dev-only: each program is its own cargo workspace under \
           `size-report/programs/`, never a dependency of the library.\n",
        strace::METHOD
    );
    Ok(out)
}

/// Bytes, bytes added and system calls, one row per program.
fn programs_table(rows: &[Row], missing: &[programs::Missing]) -> String {
    let [low, high] = strace::nofile_limits();
    let mut out = format!(
        "## Bytes and system calls\n\n\
         | program | what | bytes | added over its baseline | syscalls at RLIMIT_NOFILE \
         {low}: launcher + intermediate + daemon = total | at {high}: total | of which \
         startup |\n|---|---|---:|---:|---|---:|---:|\n"
    );
    for r in rows {
        let name = r.built.program.name;
        let added = added(rows, name).map_or("-".into(), |a| format!("{a:+}"));
        let syscalls = match &r.syscalls {
            Ok([l, h]) => format!("{} | {} | {}", l.split(), h.total(), l.startup()),
            Err(e) => format!("{} | | ", e.lines().next().unwrap_or_default()),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {added} | {syscalls} |",
            r.built.program.what, r.bytes
        );
    }
    for (name, why) in missing {
        let _ = writeln!(out, "| {name} | {why} | | | | | |");
    }
    let _ = write!(
        out,
        "\n*bytes*: the stripped file. *added*: bytes over the same program minus the \
         daemonizing (`nostd-baseline` for the no_std programs, `std-baseline` for the \
         std ones); the file grows by whole 4 KiB pages of segment alignment, so small \
         differences show as 0 or 4096. *RLIMIT_NOFILE*: {}. *startup*: see the method \
         below.\n\n",
        strace::high_limit_note()
    );
    out
}

fn budgets_table(budgets: &[Budget], verdicts: &[(String, bool)]) -> String {
    let mut out =
        String::from("## Budgets\n\n| budget | rule | measured | verdict |\n|---|---|---|---|\n");
    for (b, (verdict, _)) in budgets.iter().zip(verdicts) {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {verdict} |",
            b.name, b.rule, b.measured
        );
    }
    let _ = write!(
        out,
        "\n`cargo xtask size-report --check` (a step of `cargo xtask ci`) fails on any budget \
         not met, except those listed in `{KNOWN}` with the reason: those are shown as \
         *FAIL (known)* and keep CI green while the work to meet them is pending. A listed \
         budget that is met fails the check too, so the list can only shrink; a budget is \
         never moved.\n\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(met: Option<bool>) -> Budget {
        Budget {
            name: "nostd-bytes",
            rule: String::new(),
            measured: String::new(),
            met,
        }
    }

    #[test]
    fn the_known_list_only_excuses_unmet_budgets_and_must_shrink() {
        let known = [("nostd-bytes".to_string(), "why".to_string())];
        assert_eq!(verdict(&budget(Some(true)), &[]), ("PASS".into(), true));
        assert_eq!(verdict(&budget(Some(false)), &[]), ("FAIL".into(), false));
        assert_eq!(
            verdict(&budget(Some(false)), &known),
            ("FAIL (known: why)".into(), true)
        );
        assert!(!verdict(&budget(Some(true)), &known).1);
        assert!(verdict(&budget(None), &[]).1);
    }
}
