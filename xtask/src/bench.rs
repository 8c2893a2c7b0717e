//! `cargo xtask bench [--runs N]`: launch-to-ready latency of every daemonizing
//! program of `size-report/`, interleaved run by run, and their system calls at both
//! `RLIMIT_NOFILE` values; prints the tables and writes `size-report/BENCH.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{getrlimit, Resource};

use crate::programs::{self, Built, C, CLI, FORK};
use crate::size::ensure_tools;
use crate::{procs, root, strace, Result};

const USAGE: &str = "usage: cargo xtask bench [--runs N]  (N >= 1, default 200)";

/// How often the pidfile and the launcher are looked at while waiting.
const POLL: Duration = Duration::from_micros(100);

pub fn task(mut args: impl Iterator<Item = String>) -> Result {
    let runs = match (args.next().as_deref(), args.next(), args.next()) {
        (None, ..) => 200,
        (Some("--runs"), Some(n), None) => n.parse().ok().filter(|&n| n > 0).ok_or(USAGE)?,
        _ => return Err(USAGE.into()),
    };
    ensure_tools(true)?;
    let _reaper = procs::Subreaper::new()?;
    let daemonizing: Vec<&str> = programs::ALL
        .iter()
        .filter(|p| p.daemonizes)
        .map(|p| p.name)
        .collect();
    let (built, missing) = programs::build_all(&daemonizing)?;
    let dir = procs::scratch_dir()?;
    let (built, mut notes) = usable(built, &dir)?;
    notes.extend(missing.iter().map(|(name, why)| format!("{name}: {why}")));
    let mut samples = vec![Vec::with_capacity(runs); built.len()];
    // Round-robin (A B C A B C ...): drift in the machine's load hits all alike.
    for _ in 0..runs {
        for (program, times) in built.iter().zip(&mut samples) {
            times.push(launch(program, &dir)?);
        }
    }
    let mut counts = Vec::new();
    for program in &built {
        counts.push((program.program.name, strace::count_both(program, &dir)?));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let report = report(&built, &mut samples, &counts, &notes, runs);
    print!("{report}");
    let path = root().join("size-report/BENCH.md");
    std::fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Starts each program once (a warm-up); the CLI is another issue's work in
/// progress, so when it does not start it is left out with a note.
fn usable(built: Vec<Built>, dir: &Path) -> Result<(Vec<Built>, Vec<String>)> {
    let (mut usable, mut notes) = (Vec::new(), Vec::new());
    for program in built {
        match launch(&program, dir) {
            Ok(_) => usable.push(program),
            Err(e) if program.program.name == CLI => {
                notes.push(format!("{CLI}: left out, it did not start: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((usable, notes))
}

/// Starts `program` once and returns the time from spawning it until the launcher has
/// exited and the pidfile names the live daemon; then ends the daemon, by PID.
fn launch(program: &Built, dir: &Path) -> Result<Duration> {
    let pidfile = dir.join(format!("{}.pid", program.program.name));
    let _ = std::fs::remove_file(&pidfile);
    let deadline = Instant::now() + Duration::from_secs(5);
    let start = Instant::now();
    let mut launcher = procs::as_from_shell(&mut program.command(&pidfile))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.path.display()))?;
    let mut exited = false;
    let (elapsed, daemon) = loop {
        if !exited {
            if let Some(status) = launcher.try_wait().map_err(|e| e.to_string())? {
                if !status.success() {
                    procs::abandon(&mut launcher, &pidfile);
                    return Err(format!("{} exited with {status}", program.program.name));
                }
                exited = true;
            }
        }
        if let Some(pid) = procs::live_pid(&pidfile).filter(|_| exited) {
            break (start.elapsed(), pid);
        }
        if Instant::now() > deadline {
            procs::abandon(&mut launcher, &pidfile);
            return Err(format!("{} not ready after 5 s", program.program.name));
        }
        std::thread::sleep(POLL);
    };
    procs::terminate(daemon)?;
    procs::reap_until_gone(daemon)?;
    // The lock went with the daemon; the file stays (SIGTERM runs no destructor).
    let _ = std::fs::remove_file(&pidfile);
    Ok(elapsed)
}

/// The value below which `p` percent of the sorted `samples` lie (nearest rank).
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn report(
    built: &[Built],
    samples: &mut [Vec<Duration>],
    counts: &[(&str, [strace::Syscalls; 2])],
    notes: &[String],
    runs: usize,
) -> String {
    let names: Vec<&str> = built.iter().map(|b| b.program.name).collect();
    // The ratio's reference: the C program, else the `fork` peer.
    let reference = [C, FORK].into_iter().find(|r| names.contains(r));
    for times in samples.iter_mut() {
        times.sort();
    }
    let median_of = |name| {
        let i = names.iter().position(|&n| n == name)?;
        Some(percentile(&samples[i], 50))
    };
    let reference_median = reference.and_then(median_of);
    let nofile = getrlimit(Resource::Nofile);
    let limit = |l: Option<u64>| l.map_or("unlimited".into(), |l| l.to_string());
    let mut out = format!(
        "# Launch-to-ready latency\n\n\
         Generated by `cargo xtask bench`: {}. {runs} runs of each program, interleaved \
         round-robin; RLIMIT_NOFILE {} (soft) / {} (hard), as inherited.\n\n\
         Time from spawning the program until the original process has exited **and** \
         the pidfile names the live daemon (polled every {} µs); then the daemon is sent \
         SIGTERM by PID and reaped, and the pidfile removed, before the next run.\n\n\
         | program | median | p10 | p90 | median / {} |\n|---|---:|---:|---:|---:|\n",
        programs::provenance(),
        limit(nofile.current),
        limit(nofile.maximum),
        POLL.as_micros(),
        reference.unwrap_or("-"),
    );
    for (name, times) in names.iter().zip(samples.iter()) {
        let median = percentile(times, 50);
        let ratio = reference_median.map_or("-".into(), |r| {
            format!("{:.2}", median.as_secs_f64() / r.as_secs_f64())
        });
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {ratio} |",
            micros(median),
            micros(percentile(times, 10)),
            micros(percentile(times, 90))
        );
    }
    for note in notes {
        let _ = writeln!(out, "\n- {note}");
    }
    let [low, high] = strace::nofile_limits();
    let _ = write!(
        out,
        "\n## System calls at RLIMIT_NOFILE {low} and {high}\n\n\
         {}. Closing descriptors must cost the same at any limit.\n\n{}\n\
         Counted as in `size-report/REPORT.md`: {}\n",
        strace::high_limit_note(),
        strace::table(counts),
        strace::METHOD
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_millis(5));
        assert_eq!(percentile(&sorted, 10), Duration::from_millis(1));
        assert_eq!(percentile(&sorted, 90), Duration::from_millis(9));
    }
}
