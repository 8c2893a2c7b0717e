//! The runner of the `harness = false` test binaries: libtest runs tests on threads,
//! and the library (rightly) refuses to fork a multithreaded process, so these
//! binaries run their own tests, one at a time, and act as their own helper processes
//! (their `main` first checks whether it is one).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// How a test ended, if it did not panic.
pub enum Outcome {
    Passed,
    /// Skipped: what it needs, and why (`needs root because ...`).
    Skipped(String),
}

pub type TestFn = fn() -> Outcome;

/// The tests, named after their functions.
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as $crate::support::runner::TestFn)),*]
    };
}
pub(crate) use tests;

/// Returns early from a test that cannot run without root.
macro_rules! require_root {
    ($why:expr) => {
        if !$crate::support::proc::is_root() {
            return $crate::support::runner::Outcome::Skipped(format!(
                "needs root because {}",
                $why
            ));
        }
    };
}
pub(crate) use require_root;

/// Runs `tests`, filtered by the first argument that is not a flag, and exits 101 if
/// one failed.
pub fn main(tests: &[(&str, TestFn)]) {
    let (filter, list) = parse_args();
    let selected: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filter.as_ref().map_or(true, |f| name.contains(f.as_str())))
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return;
    }
    // Orphaned daemons become our children: a test sees its daemon's parent, and an
    // unreaped intermediate process shows up as our zombie.
    // SAFETY: prctl with integer arguments.
    let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) };
    assert_eq!(subreaper, 0, "PR_SET_CHILD_SUBREAPER");
    let start = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for (name, test) in &selected {
        let began = Instant::now();
        match catch_unwind(AssertUnwindSafe(test)) {
            Ok(Outcome::Passed) => {
                passed += 1;
                println!("test {name} ... ok ({:.2}s)", began.elapsed().as_secs_f64());
            }
            Ok(Outcome::Skipped(why)) => {
                skipped += 1;
                println!("skipped: {name} {why}");
                println!("test {name} ... skipped");
            }
            Err(_) => {
                failed.push(*name);
                println!("test {name} ... FAILED");
            }
        }
    }
    if !failed.is_empty() {
        println!("\nfailures (their panic messages are above):");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!("\nfinished in {:.2}s", start.elapsed().as_secs_f64());
    println!(
        "test result: {}. {passed} passed; {} failed; {skipped} ignored; 0 measured; {} filtered out",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        tests.len() - selected.len(),
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

/// The name filter (the first argument that is not a flag) and `--list`; the flags
/// cargo and libtest users pass (`--nocapture`, `--test-threads=N`, `-q`, ...) are
/// accepted and ignored.
fn parse_args() -> (Option<String>, bool) {
    let mut filter = None;
    let mut list = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            // Flags whose value is the next argument.
            "--color" | "--format" | "--test-threads" | "--skip" | "--logfile" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            name if filter.is_none() => filter = Some(name.to_owned()),
            _ => {}
        }
    }
    (filter, list)
}
