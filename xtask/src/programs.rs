//! The programs that `size-report` and `bench` compare: what each is, how it is built
//! (all with one size profile, in one target directory) and how it is started.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{root, run_with, Result, MUSL};

/// Where a program comes from.
pub enum Source {
    /// A cargo package (its own workspace root); the binary has the program's name.
    Cargo(&'static str),
    /// One C file, built with `musl-gcc -Os -static -s`.
    C(&'static str),
    /// The `daemonic` binary target of the root package, if it exists yet; built
    /// without the default `std` feature, which it does not need and which would
    /// link all of std into it.
    Cli,
}

pub struct Program {
    /// The binary's name, and the program's name in the tables.
    pub name: &'static str,
    pub what: &'static str,
    pub source: Source,
    /// False for the baselines, which only sleep, in the foreground.
    pub daemonizes: bool,
    /// The program that does the same minus the daemonizing, for "bytes added".
    pub baseline: Option<&'static str>,
}

pub const NO_STD: &str = "no_std_daemon";
pub const STD: &str = "std-daemonic";
pub const BASELINE: &str = "std-baseline";
pub const NO_STD_BASELINE: &str = "nostd-baseline";
pub const DAEMONIZE: &str = "peer-daemonize";
pub const FORK: &str = "peer-fork";
pub const C: &str = "c-double-fork";
pub const CLI: &str = "daemonic";

pub const ALL: [Program; 8] = [
    Program {
        name: NO_STD,
        what: "daemonic from `#![no_std]` `#![no_main]` (`examples/no_std_daemon`)",
        source: Source::Cargo("examples/no_std_daemon/Cargo.toml"),
        daemonizes: true,
        baseline: Some(NO_STD_BASELINE),
    },
    Program {
        name: NO_STD_BASELINE,
        what: "the same no_std program, not daemonizing (baseline)",
        source: Source::Cargo("size-report/programs/nostd-baseline/Cargo.toml"),
        daemonizes: false,
        baseline: None,
    },
    Program {
        name: STD,
        what: "daemonic from an ordinary std program",
        source: Source::Cargo("size-report/programs/std-daemonic/Cargo.toml"),
        daemonizes: true,
        baseline: Some(BASELINE),
    },
    Program {
        name: BASELINE,
        what: "the same std program, not daemonizing (baseline)",
        source: Source::Cargo("size-report/programs/std-baseline/Cargo.toml"),
        daemonizes: false,
        baseline: None,
    },
    Program {
        name: DAEMONIZE,
        what: "peer: `daemonize` 0.5, its own flock'ed pidfile",
        source: Source::Cargo("size-report/programs/peer-daemonize/Cargo.toml"),
        daemonizes: true,
        baseline: Some(BASELINE),
    },
    Program {
        name: FORK,
        what: "peer: `fork` 0.11 `daemon()` + a flock'ed pidfile",
        source: Source::Cargo("size-report/programs/peer-fork/Cargo.toml"),
        daemonizes: true,
        baseline: Some(BASELINE),
    },
    Program {
        name: C,
        what: "C, hand-rolled double fork + flock'ed pidfile, `musl-gcc -Os -static`",
        source: Source::C("size-report/programs/c-double-fork/main.c"),
        daemonizes: true,
        baseline: None,
    },
    Program {
        name: CLI,
        what:
            "the `daemonic` CLI, `--no-default-features` (`start --pidfile P -- /bin/sleep 1000`)",
        source: Source::Cli,
        daemonizes: true,
        baseline: Some(NO_STD_BASELINE),
    },
];

/// The size profile, applied to every Rust program through cargo's environment
/// (which overrides each manifest's own `[profile.release]`).
const SIZE_PROFILE: [(&str, &str); 5] = [
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z"),
    ("CARGO_PROFILE_RELEASE_LTO", "true"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
    ("CARGO_PROFILE_RELEASE_PANIC", "abort"),
    ("CARGO_PROFILE_RELEASE_STRIP", "true"),
];

pub const PROFILE_TEXT: &str = "`x86_64-unknown-linux-musl` (static), opt-level \"z\", LTO, \
    codegen-units 1, panic=abort, strip; C: `musl-gcc -Os -static -s`";

/// One directory for every program's build, so shared crates build once.
pub fn target_dir() -> PathBuf {
    root().join("target/size-report")
}

pub struct Built {
    pub program: &'static Program,
    pub path: PathBuf,
}

impl Built {
    /// The arguments that make the program daemonize with `pidfile`.
    pub fn args(&self, pidfile: &Path) -> Vec<OsString> {
        match self.program.source {
            Source::Cli => {
                let sleeper = ["--", "/bin/sleep", "1000"].map(OsString::from);
                let start = ["start".into(), "--pidfile".into(), pidfile.into()];
                start.into_iter().chain(sleeper).collect()
            }
            _ => vec![pidfile.into()],
        }
    }

    pub fn command(&self, pidfile: &Path) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(self.args(pidfile));
        cmd
    }

    /// The stripped file's size.
    pub fn bytes(&self) -> Result<u64> {
        let meta = std::fs::metadata(&self.path);
        Ok(meta
            .map_err(|e| format!("{}: {e}", self.path.display()))?
            .len())
    }
}

/// Why `program` cannot be built on this machine, if it cannot.
pub fn unavailable(program: &Program) -> Option<&'static str> {
    match program.source {
        Source::C(_) if !works("musl-gcc", &["--version"]) => {
            Some("musl-gcc not found (Debian `musl-tools`)")
        }
        Source::Cli if !cli_exists() => Some("not built yet (no `daemonic` binary target)"),
        _ => None,
    }
}

/// Whether `program args` runs and exits 0.
pub fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A binary target named `daemonic`: `src/main.rs`, `src/bin/daemonic.rs`,
/// `src/bin/daemonic/main.rs`, or a `[[bin]]` of that name.
fn cli_exists() -> bool {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    [
        "src/main.rs",
        "src/bin/daemonic.rs",
        "src/bin/daemonic/main.rs",
    ]
    .iter()
    .any(|p| root.join(p).exists())
        || manifest
            .split("[[bin]]")
            .skip(1)
            .any(|bin| bin.lines().any(|l| l.trim() == "name = \"daemonic\""))
}

/// Builds `program` with the size profile into [`target_dir`].
pub fn build(program: &'static Program) -> Result<Built> {
    let path = match program.source {
        Source::Cargo(manifest) => cargo_build(manifest, program.name, &[], &target_dir(), true)?,
        Source::Cli => cargo_build(
            "Cargo.toml",
            CLI,
            &["--no-default-features"],
            &target_dir(),
            true,
        )?,
        Source::C(source) => {
            let out = target_dir().join(program.name);
            std::fs::create_dir_all(target_dir()).map_err(|e| e.to_string())?;
            run_with(
                Command::new("musl-gcc")
                    .args(["-Os", "-static", "-s", "-o"])
                    .arg(&out)
                    .arg(root().join(source)),
            )?;
            out
        }
    };
    Ok(Built { program, path })
}

/// `cargo build --release --bin bin args...` of `manifest` (relative to the root)
/// for musl with the size profile, stripped or not; returns the binary's path.
pub fn cargo_build(
    manifest: &str,
    bin: &str,
    args: &[&str],
    target_dir: &Path,
    strip: bool,
) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "--target", MUSL, "--bin", bin])
        .args(args)
        .arg("--manifest-path")
        .arg(root().join(manifest))
        .env("CARGO_TARGET_DIR", target_dir)
        .envs(SIZE_PROFILE);
    if !strip {
        cmd.env("CARGO_PROFILE_RELEASE_STRIP", "false");
    }
    run_with(&mut cmd)?;
    Ok(target_dir.join(MUSL).join("release").join(bin))
}

/// A program this machine cannot build, and why.
pub type Missing = (&'static str, &'static str);

/// Builds each of `names` that this machine can build; the others come back with
/// the reason.
pub fn build_all(names: &[&str]) -> Result<(Vec<Built>, Vec<Missing>)> {
    let (mut built, mut missing) = (Vec::new(), Vec::new());
    for program in ALL.iter().filter(|p| names.contains(&p.name)) {
        match unavailable(program) {
            Some(why) => missing.push((program.name, why)),
            None => built.push(build(program)?),
        }
    }
    Ok((built, missing))
}

/// The first line of `program args`' output, or "?".
pub fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Date, toolchain, kernel and C compiler: the line every generated file starts with.
pub fn provenance() -> String {
    let musl_gcc = if works("musl-gcc", &["--version"]) {
        format!(
            "musl-gcc (gcc {})",
            first_line("musl-gcc", &["-dumpversion"])
        )
    } else {
        "no musl-gcc".into()
    };
    format!(
        "{} · {} · {} · {}",
        first_line("date", &["-u", "+%Y-%m-%d"]),
        first_line("rustc", &["-V"]),
        first_line("uname", &["-sr"]),
        musl_gcc
    )
}
