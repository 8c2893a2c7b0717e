//! Where the bytes go: the no_std program's sections (stripped, as shipped) and
//! symbols by origin (the same build, unstripped: `nm --size-sort -S -C`); and the
//! symbols daemonic adds to the std program.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::profile::{self, Cargo, Target};
use crate::programs::{BASELINE, CLI, EXAMPLE, NO_STD, NO_STD_BASELINE, STD};
use crate::{root, Result};

/// The Markdown section on `stripped` (the no_std program as measured), its sections
/// next to those of `baseline` (the same program minus the daemonizing).
pub fn report(stripped: &Path, bytes: u64, baseline: Option<&Path>) -> Result<String> {
    let unstripped = unstripped(EXAMPLE, NO_STD)?;
    let ours = sections(stripped)?;
    let theirs = baseline.map(sections).transpose()?.unwrap_or_default();
    let size_in = |list: &[(String, u64)], name: &str| {
        let found = list.iter().find(|(n, _)| n == name);
        found.map_or(0, |&(_, size)| size)
    };
    let mut out = format!(
        "### Sections of the stripped file\n\n| section | {NO_STD} | {NO_STD_BASELINE} |\n\
         |---|---:|---:|\n"
    );
    for (name, size) in &ours {
        let _ = writeln!(out, "| `{name}` | {size} | {} |", size_in(&theirs, name));
    }
    let padding = |list: &[(String, u64)], file: u64| {
        file.saturating_sub(list.iter().map(|(_, s)| s).sum::<u64>())
    };
    let base_bytes = baseline
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let _ = writeln!(
        out,
        "| ELF and program headers, page-alignment padding | {} | {} |\n\
         | **file** | **{bytes}** | **{base_bytes}** |\n",
        padding(&ours, bytes),
        padding(&theirs, base_bytes),
    );
    out.push_str("### Code and data by origin (symbol sizes, unstripped build)\n\n");
    out.push_str(&by_origin(&symbols(&unstripped)?, 15));
    Ok(out)
}

/// The Markdown section on what daemonic adds to the std program: the symbols of
/// `std-daemonic` that `std-baseline` does not have (both built unstripped).
pub fn std_added() -> Result<String> {
    let build = |name: &str| unstripped(&format!("size-report/programs/{name}/Cargo.toml"), name);
    let baseline = symbols(&build(BASELINE)?)?;
    let names: HashSet<&str> = baseline.iter().map(|(_, n)| n.as_str()).collect();
    let mut added = symbols(&build(STD)?)?;
    added.retain(|(_, name)| !names.contains(name.as_str()));
    Ok(format!(
        "## What daemonic adds to the std program\n\n\
         Symbols of `{STD}` that `{BASELINE}` does not have (unstripped builds):\n\n{}",
        by_origin(&added, 10)
    ))
}

/// The symbols of the command (`--no-default-features`, x86_64, unstripped).
pub fn command_symbols() -> Result<Vec<(u64, String)>> {
    symbols(&unstripped_with(
        "Cargo.toml",
        CLI,
        &["--no-default-features"],
    )?)
}

/// How many of `symbols` are `core::fmt`'s (the command must have none).
pub fn fmt_symbols(symbols: &[(u64, String)]) -> usize {
    symbols
        .iter()
        .filter(|(_, n)| n.contains("core::fmt"))
        .count()
}

/// The Markdown section on the command's symbols. With LTO the library's entry
/// points are inlined into the command's functions that call them (`start` holds
/// `Daemon::exec`, `stop_command` holds `stop`), so "the command" is its own code
/// with what it inlined.
pub fn command_report(symbols: &[(u64, String)]) -> String {
    let mut sums: BTreeMap<&str, u64> = BTreeMap::new();
    for (size, name) in symbols {
        *sums.entry(command_origin(name)).or_default() += size;
    }
    let mut out = String::from(
        "## Where the command's bytes go\n\n\
         Symbol sizes of the command's unstripped build (`--no-default-features`). With \
         LTO the library's entry points are inlined into the command's functions that \
         call them (`start` holds `Daemon::exec` and the launch, `stop_command` holds \
         `stop`, `main` holds the parser and `status`).\n\n\
         | origin | bytes |\n|---|---:|\n",
    );
    let mut rows: Vec<_> = sums.into_iter().collect();
    rows.sort_by_key(|&(_, size)| std::cmp::Reverse(size));
    for (origin, size) in &rows {
        let _ = writeln!(out, "| {origin} | {size} |");
    }
    let _ = writeln!(
        out,
        "\n`core::fmt` symbols: {}.\n\nThe 15 largest:\n\n| bytes | symbol |\n|---:|---|",
        fmt_symbols(symbols)
    );
    for (size, name) in symbols.iter().rev().take(15) {
        let _ = writeln!(out, "| {size} | `{}` |", name.replace('|', "\\|"));
    }
    out.push('\n');
    out
}

/// The command's functions: its modules and its top-level functions (the library
/// has a `sys` and a `start` module too, but not these items).
fn command_origin(name: &str) -> &'static str {
    const MODULES: [&str; 4] = ["args::", "out::", "sys::Strings", "sys::stdio"];
    const FUNCTIONS: [&str; 11] = [
        "run",
        "start",
        "stop_command",
        "status_command",
        "resolve",
        "environment",
        "daemon",
        "info",
        "fail",
        "raw",
        "name_of",
    ];
    let own = name == "main"
        || name.strip_prefix("daemonic::").is_some_and(|rest| {
            MODULES.iter().any(|m| rest.starts_with(m)) || FUNCTIONS.contains(&rest)
        });
    if own {
        "the command (its own code, with what it inlined)"
    } else if name.contains("daemonic::") {
        "daemonic, the library (not inlined)"
    } else if name.contains("rustix::") {
        "rustix"
    } else if name.contains("::") || name.starts_with('<') {
        "core"
    } else {
        "musl: C runtime and libc"
    }
}

/// `bin` of `manifest` for x86_64 with the size profile but its symbols kept.
fn unstripped(manifest: &str, bin: &str) -> Result<std::path::PathBuf> {
    unstripped_with(manifest, bin, &[])
}

fn unstripped_with(manifest: &str, bin: &str, args: &[&str]) -> Result<std::path::PathBuf> {
    let dir = root().join("target/size-report-unstripped");
    let what = Cargo {
        manifest,
        bin,
        args,
    };
    profile::cargo(&what, Target::X86_64, &dir, false)
}

/// `symbols` summed by origin, then the `top` largest.
fn by_origin(symbols: &[(u64, String)], top: usize) -> String {
    let mut sums: BTreeMap<&str, u64> = BTreeMap::new();
    for (size, name) in symbols {
        *sums.entry(origin(name)).or_default() += size;
    }
    let mut sums: Vec<_> = sums.into_iter().collect();
    sums.sort_by_key(|&(_, size)| std::cmp::Reverse(size));
    let mut out = String::from("| origin | bytes |\n|---|---:|\n");
    for (origin, size) in &sums {
        let _ = writeln!(out, "| {origin} | {size} |");
    }
    let total: u64 = sums.iter().map(|(_, s)| s).sum();
    let _ = writeln!(
        out,
        "| **all** | **{total}** |\n\n\
         The {top} largest:\n\n| bytes | symbol |\n|---:|---|"
    );
    for (size, name) in symbols.iter().rev().take(top) {
        let _ = writeln!(out, "| {size} | `{}` |", name.replace('|', "\\|"));
    }
    out.push('\n');
    out
}

/// Where a symbol comes from, by its demangled name.
fn origin(name: &str) -> &'static str {
    let rust = name.contains("::");
    if name.contains("daemonic::users") {
        "daemonic: `/etc/passwd` and `/etc/group` parser (`users`)"
    } else if name.contains("daemonic::") && name.contains("fmt") {
        "daemonic: error messages (`Display`/`Write` impls)"
    } else if name.contains("daemonic::") {
        "daemonic: the sequence (plan, child, pidfile, channel, fds, …)"
    } else if name.contains("rustix::backend::vdso") || name.contains("clock_gettime") {
        "rustix: vDSO lookup (`clock_gettime`)"
    } else if name.contains("rustix::") {
        "rustix: other"
    } else if name.contains("std::") || name.contains("alloc::") {
        "std and alloc"
    } else if name.contains("core::fmt") {
        "core::fmt (formatting, integer `Display`)"
    } else if rust {
        "core: `str`, integer parsing, Unicode tables"
    } else if name == "main" {
        "`main`: the example, daemonic's builder and start inlined"
    } else {
        "musl: C runtime and libc (startup, `fork`, `sigaction`, `abort`, …)"
    }
}

/// The sections that take room in the file (not `.bss`, `.tbss`), largest first.
/// `readelf` reads any architecture's ELF (`size` only its own).
pub fn sections(path: &Path) -> Result<Vec<(String, u64)>> {
    let out = output(Command::new("readelf").arg("-SW").arg(path))?;
    let mut sections: Vec<(String, u64)> = out
        .lines()
        .filter_map(|l| {
            // `  [ 1] .text PROGBITS 0000000000401000 001000 00a7e9 00 AX 0 0 16`
            let mut fields = l.split_once("] ")?.1.split_whitespace();
            let (name, kind) = (fields.next()?, fields.next()?);
            let size = u64::from_str_radix(fields.nth(2)?, 16).ok()?;
            (name.starts_with('.') && kind != "NOBITS").then(|| (name.to_string(), size))
        })
        .collect();
    sections.sort_by_key(|&(_, size)| std::cmp::Reverse(size));
    Ok(sections)
}

/// The bytes of code and data the program loads: the sections with the alloc flag
/// that take room in the file. Unlike the file's length, this counts no headers
/// and no segment alignment.
pub fn loaded_bytes(path: &Path) -> Result<u64> {
    let out = output(Command::new("readelf").arg("-SW").arg(path))?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_once("] ")?.1.split_whitespace().collect();
            // name type address offset size entsize flags ...
            let (kind, size, flags) = (fields.get(1)?, fields.get(4)?, fields.get(6)?);
            let size = u64::from_str_radix(size, 16).ok()?;
            (*kind != "NOBITS" && flags.contains('A')).then_some(size)
        })
        .sum())
}

/// `(size, demangled name)` of every sized symbol, smallest first; aliases (one
/// address, several names, as musl's weak symbols) count once.
fn symbols(path: &Path) -> Result<Vec<(u64, String)>> {
    let out = output(
        Command::new("nm")
            .args(["--size-sort", "-S", "-C"])
            .arg(path),
    )?;
    let mut seen = HashSet::new();
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut fields = l.splitn(4, ' ');
            let (addr, size, _kind, name) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let size = u64::from_str_radix(size, 16).ok()?;
            seen.insert(addr).then(|| (size, name.to_string()))
        })
        .collect())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}
