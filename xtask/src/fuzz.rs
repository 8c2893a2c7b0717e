//! `cargo xtask fuzz [SECS]`: each target of `fuzz/` under libFuzzer for SECS seconds
//! (600 unless given), with cargo-fuzz on the nightly toolchain, both installed if
//! missing. CI runs the same checks on fixed inputs (`tests/fuzz_smoke.rs` and the
//! command's `generated_command_lines_are_parsed_or_refused`); this is the long run.

use std::process::Command;

use crate::{root, run, run_with, Result};

/// The targets, as `fuzz/Cargo.toml` names them.
const TARGETS: [&str; 5] = ["pidfile_content", "users", "schedule", "signal", "args"];

pub fn task(mut args: impl Iterator<Item = String>) -> Result {
    let secs: u64 = match args.next() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("fuzz takes seconds, not {s:?}"))?,
        None => 600,
    };
    ensure_cargo_fuzz()?;
    for target in TARGETS {
        run_with(
            Command::new("cargo")
                .args(["+nightly", "fuzz", "run", target, "--"])
                .arg(format!("-max_total_time={secs}"))
                .current_dir(root().join("fuzz")),
        )?;
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result {
    let works = |args: &[&str]| {
        Command::new("cargo")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !works(&["+nightly", "--version"]) {
        run(
            "rustup",
            &["toolchain", "install", "nightly", "--profile", "minimal"],
        )?;
    }
    if !works(&["fuzz", "--version"]) {
        run("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    Ok(())
}
