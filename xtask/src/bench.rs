//! `cargo xtask bench [--runs N] [--check]`: launch-to-ready latency of every
//! daemonizing program of `size-report/`, interleaved run by run, and their system
//! calls at both `RLIMIT_NOFILE` values, and the resident memory of the command's
//! `--supervise` monitor (see `memory.rs`); prints the tables and writes
//! `size-report/BENCH.md`. With `--check` (CI), only the latency budget: the
//! minimal example against the C fair limit, and nothing is written.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{getrlimit, Resource};

use crate::profile::Target;
use crate::programs::{self, Built, CLI, C_FAIR, NO_STD};
use crate::size::ensure_tools;
use crate::{memory, procs, root, strace, Result};

const USAGE: &str = "usage: cargo xtask bench [--runs N] [--check]  (N >= 1; default \
    200, with --check 600)";

/// The budget: the minimal example's median launch-to-ready time over the C fair
/// limit's, measured in the same run.
const RATIO_LIMIT: f64 = 1.10;

/// The runs are cut into this many consecutive blocks, and the ratio is also given
/// per block: their spread shows, within the run, how much the ratio is to trust.
const BLOCKS: usize = 5;

/// How often the pidfile and the launcher are looked at while waiting.
const POLL: Duration = Duration::from_micros(100);

pub fn task(args: impl Iterator<Item = String>) -> Result {
    let (mut runs, mut check_only) = (None, false);
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check_only = true,
            "--runs" => {
                let n = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0);
                runs = Some(n.ok_or(USAGE)?);
            }
            _ => return Err(USAGE.into()),
        }
    }
    if check_only {
        return check_with(runs.unwrap_or(CHECK_RUNS), true);
    }
    bench(runs.unwrap_or(200))
}

/// Runs of each program for `--check`: enough that, on a loaded 2-core machine, the
/// ratio of one run's medians stays within about 2 % of the next run's (the blocks
/// printed with it show the spread within the run), in well under a minute.
const CHECK_RUNS: usize = 2000;

/// The latency budget alone (`cargo xtask ci`); with `enforce`, failing when unmet.
pub fn check(enforce: bool) -> Result {
    check_with(CHECK_RUNS, enforce)
}

fn check_with(runs: usize, enforce: bool) -> Result {
    ensure_tools(true)?;
    let _reaper = procs::Subreaper::new()?;
    let (built, missing) = programs::build_all(&[NO_STD, C_FAIR], Target::X86_64)?;
    if let Some((name, why)) = missing.first() {
        return Err(format!("the latency budget needs {name}: {why}"));
    }
    let dir = procs::scratch_dir()?;
    let mut samples = sample(&built, runs, &dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    let names: Vec<&str> = built.iter().map(|b| b.program.name).collect();
    let verdict = budget(&names, &mut samples).ok_or("no ratio: a program is missing")?;
    println!("{}", verdict.line);
    match (verdict.met, enforce) {
        (true, _) => Ok(()),
        (false, true) => Err("latency budget not met".into()),
        (false, false) => {
            println!(
                "latency budget not met (not enforced: see ENFORCE_BUDGETS in xtask/src/main.rs)"
            );
            Ok(())
        }
    }
}

/// `runs` launches of each of `built`, interleaved: A B C, then C B A, so that
/// neither drift in the machine's load nor the place in the round favours one.
fn sample(built: &[Built], runs: usize, dir: &Path) -> Result<Vec<Vec<Duration>>> {
    let mut samples = vec![Vec::with_capacity(runs); built.len()];
    for program in built {
        launch(program, dir)?; // warm the page cache
    }
    for round in 0..runs {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..built.len()).collect()
        } else {
            (0..built.len()).rev().collect()
        };
        for i in order {
            samples[i].push(launch(&built[i], dir)?);
        }
    }
    Ok(samples)
}

pub struct Verdict {
    pub line: String,
    pub met: bool,
}

/// The latency budget over unsorted `samples` (in run order) of `names`.
fn budget(names: &[&str], samples: &mut [Vec<Duration>]) -> Option<Verdict> {
    let (ours, theirs) = (
        names.iter().position(|&n| n == NO_STD)?,
        names.iter().position(|&n| n == C_FAIR)?,
    );
    let ratio = |a: &[Duration], b: &[Duration]| median(a).as_secs_f64() / median(b).as_secs_f64();
    let whole = ratio(&samples[ours], &samples[theirs]);
    let block = samples[ours].len().div_ceil(BLOCKS).max(1);
    let blocks: Vec<f64> = samples[ours]
        .chunks(block)
        .zip(samples[theirs].chunks(block))
        .map(|(a, b)| ratio(a, b))
        .collect();
    let (low, high) = blocks
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
    let met = whole <= RATIO_LIMIT;
    Some(Verdict {
        line: format!(
            "latency: {NO_STD} median / {C_FAIR} median <= {RATIO_LIMIT:.2}: measured \
             {whole:.3} ({} / {}) over {} runs each ({} blocks: {low:.3} to {high:.3}): {}",
            micros(median(&samples[ours])),
            micros(median(&samples[theirs])),
            samples[ours].len(),
            blocks.len(),
            if met { "PASS" } else { "FAIL" }
        ),
        met,
    })
}

fn bench(runs: usize) -> Result {
    ensure_tools(true)?;
    memory::ensure_tools();
    let _reaper = procs::Subreaper::new()?;
    let daemonizing: Vec<&str> = programs::ALL
        .iter()
        .filter(|p| p.daemonizes)
        .map(|p| p.name)
        .collect();
    let (built, missing) = programs::build_all(&daemonizing, Target::X86_64)?;
    let dir = procs::scratch_dir()?;
    let (built, mut notes) = usable(built, &dir)?;
    notes.extend(missing.iter().map(|(name, why)| format!("{name}: {why}")));
    let mut samples = sample(&built, runs, &dir)?;
    // The budget as `--check` measures it: the two programs alone, CHECK_RUNS each.
    let pair: Vec<Built> = built
        .iter()
        .filter(|b| [NO_STD, C_FAIR].contains(&b.program.name))
        .map(|b| programs::build(b.program, Target::X86_64))
        .collect::<Result<_>>()?;
    let names: Vec<&str> = pair.iter().map(|b| b.program.name).collect();
    let verdict = budget(&names, &mut sample(&pair, CHECK_RUNS, &dir)?);
    let mut counts = Vec::new();
    for program in &built {
        counts.push((program.program.name, strace::count_both(program, &dir)?));
    }
    let resident = memory::measure(&built, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file("/tmp/no_std_full.log");
    let mut report = report(&built, &mut samples, &counts, &notes, runs, verdict);
    report.push_str(&memory::section(&resident));
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
///
/// The launcher's exit is waited for on a pidfd, which wakes us the moment it
/// happens: a daemonizer that waits for readiness (daemonic, the C fair limit) has
/// written the pidfile by then, so its time has no polling in it. For those that
/// exit first (the peers), the pidfile is then polled every [`POLL`].
fn launch(program: &Built, dir: &Path) -> Result<Duration> {
    let name = program.program.name;
    let pidfile = dir.join(format!("{name}.pid"));
    let _ = std::fs::remove_file(&pidfile);
    let deadline = Instant::now() + Duration::from_secs(5);
    let start = Instant::now();
    let mut launcher = procs::as_from_shell(&mut program.command(&pidfile))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.path.display()))?;
    if !procs::wait_exit(&launcher, Duration::from_secs(5))? {
        procs::abandon(&mut launcher, &pidfile);
        return Err(format!("{name}: the launcher did not exit within 5 s"));
    }
    let exited = start.elapsed();
    let status = launcher.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        procs::abandon(&mut launcher, &pidfile);
        return Err(format!("{name} exited with {status}"));
    }
    let (elapsed, daemon) = loop {
        if let Some(pid) = procs::live_pid(&pidfile) {
            break (start.elapsed().max(exited), pid);
        }
        if Instant::now() > deadline {
            procs::abandon(&mut launcher, &pidfile);
            return Err(format!("{name} not ready after 5 s"));
        }
        std::thread::sleep(POLL);
    };
    // Taken after the first look: only the peers' times depend on the polling.
    let elapsed = if elapsed - exited < POLL {
        exited
    } else {
        elapsed
    };
    procs::terminate(daemon)?;
    procs::reap_until_gone(daemon)?;
    // The lock went with the daemon; the file stays (SIGTERM runs no destructor).
    let _ = std::fs::remove_file(&pidfile);
    Ok(elapsed)
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    percentile(&sorted, 50)
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
    verdict: Option<Verdict>,
) -> String {
    let names: Vec<&str> = built.iter().map(|b| b.program.name).collect();
    // The ratio's reference: the C fair limit (left out only without musl-gcc).
    let reference = [C_FAIR].into_iter().find(|r| names.contains(r));
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
         (A B C, then C B A); RLIMIT_NOFILE {} (soft) / {} (hard), as inherited.\n\n\
         Time from spawning the program until the original process has exited **and** \
         the pidfile names the live daemon: the exit is waited for on a pidfd (no \
         polling: daemonic and `c-fair-limit` exit only once their daemon is ready), \
         the pidfile is then polled every {} µs for those whose launcher exits first; \
         then the daemon is sent SIGTERM by PID and reaped, and the pidfile removed, \
         before the next run.\n\n\
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
    let _ = write!(
        out,
        "\n## The latency budget\n\n{}\n\n\
         Measured here as CI measures it with `cargo xtask bench --check`: \
         {CHECK_RUNS} launches of each of the two alone, interleaved (so the ratio may \
         differ from the table's, where ten programs share the rounds), failing when \
         the ratio of the medians is over {RATIO_LIMIT:.2}. Medians ignore the long tail a busy machine adds, \
         interleaving spreads its drift over both programs, and the ratio cancels the \
         machine's speed. The per-block ratios (the runs cut into {BLOCKS} consecutive \
         blocks) show how far one block's verdict could stray; their spread is \
         measured anew in each run, never assumed.\n",
        verdict.map_or("No ratio: a program is missing.".into(), |v| v.line),
    );
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
