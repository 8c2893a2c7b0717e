//! The programs that `size-report` and `bench` compare: what each is, how it is built
//! (all with the size profile of `profile.rs`) and how it is started.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::profile::{self, Cargo, Target};
use crate::{root, Result};

/// Where a program comes from.
pub enum Source {
    /// A binary of a cargo package (its own workspace root).
    Cargo {
        manifest: &'static str,
        bin: &'static str,
    },
    /// One C file, built with `musl-gcc` (x86_64 only: there is no cross musl-gcc).
    C(&'static str),
    /// The `daemonic` binary target of the root package, built without the default
    /// `std` feature, which it does not need and which would link all of std into it.
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
pub const NO_STD_FULL: &str = "no_std_full";
pub const STD: &str = "std-daemonic";
pub const BASELINE: &str = "std-baseline";
pub const NO_STD_BASELINE: &str = "nostd-baseline";
pub const DAEMONIZE: &str = "peer-daemonize";
pub const FORK: &str = "peer-fork";
pub const C: &str = "c-double-fork";
pub const C_FAIR: &str = "c-fair-limit";
pub const FLOOR: &str = "no_std_floor";
pub const CLI: &str = "daemonic";

/// The example package: the minimal program, the full one, the capability variants.
pub const EXAMPLE: &str = "examples/no_std_daemon/Cargo.toml";

const fn cargo(manifest: &'static str, bin: &'static str) -> Source {
    Source::Cargo { manifest, bin }
}

pub const ALL: [Program; 11] = [
    Program {
        name: NO_STD,
        what: "daemonic from `#![no_std]` `#![no_main]`: pidfile, defaults, `start()` \
               (`examples/no_std_daemon`)",
        source: cargo(EXAMPLE, NO_STD),
        daemonizes: true,
        baseline: Some(NO_STD_BASELINE),
    },
    Program {
        name: NO_STD_FULL,
        what: "the same with every option: user, group, chroot, files, timeout, \
               `start_pending()` + `ready()` (`--bin no_std_full`)",
        source: cargo(EXAMPLE, NO_STD_FULL),
        daemonizes: true,
        baseline: Some(NO_STD_BASELINE),
    },
    Program {
        name: NO_STD_BASELINE,
        what: "the same no_std program, not daemonizing (baseline)",
        source: cargo(
            "size-report/programs/nostd-baseline/Cargo.toml",
            NO_STD_BASELINE,
        ),
        daemonizes: false,
        baseline: None,
    },
    Program {
        name: STD,
        what: "daemonic from an ordinary std program",
        source: cargo("size-report/programs/std-daemonic/Cargo.toml", STD),
        daemonizes: true,
        baseline: Some(BASELINE),
    },
    Program {
        name: BASELINE,
        what: "the same std program, not daemonizing (baseline)",
        source: cargo("size-report/programs/std-baseline/Cargo.toml", BASELINE),
        daemonizes: false,
        baseline: None,
    },
    Program {
        name: DAEMONIZE,
        what: "peer: `daemonize` 0.5, its own flock'ed pidfile",
        source: cargo("size-report/programs/peer-daemonize/Cargo.toml", DAEMONIZE),
        daemonizes: true,
        baseline: Some(BASELINE),
    },
    Program {
        name: FORK,
        what: "peer: `fork` 0.11 `daemon()` + a flock'ed pidfile",
        source: cargo("size-report/programs/peer-fork/Cargo.toml", FORK),
        daemonizes: true,
        baseline: Some(BASELINE),
    },
    Program {
        name: C,
        what: "C, the classic double fork + flock'ed pidfile (does less than daemonic)",
        source: Source::C("size-report/programs/c-double-fork/main.c"),
        daemonizes: true,
        baseline: None,
    },
    Program {
        name: C_FAIR,
        what: "C, the fair limit: what daemonic's minimal start does (readiness pipe, \
               signals, rlimit, `close_range`), nothing more",
        source: Source::C("size-report/programs/c-fair-limit/main.c"),
        daemonizes: true,
        baseline: None,
    },
    Program {
        name: FLOOR,
        what: "Rust, the floor: what `no_std_daemon` does, with the same checks, written \
               flat for this report (`size-report/programs/no_std_floor`)",
        source: cargo("size-report/programs/no_std_floor/Cargo.toml", FLOOR),
        daemonizes: true,
        baseline: Some(NO_STD_BASELINE),
    },
    Program {
        name: CLI,
        what: "the `daemonic` command, `--no-default-features` \
               (`start --pidfile P -- /bin/sleep 1000`)",
        source: Source::Cli,
        daemonizes: true,
        baseline: Some(NO_STD_BASELINE),
    },
];

pub fn program(name: &str) -> &'static Program {
    ALL.iter()
        .find(|p| p.name == name)
        .expect("a program of ALL")
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

    /// The finished file's size.
    pub fn bytes(&self) -> Result<u64> {
        file_bytes(&self.path)
    }
}

pub fn file_bytes(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(meta.len())
}

/// Why `program` cannot be built for `target` on this machine, if it cannot.
pub fn unavailable(program: &Program, target: Target) -> Option<&'static str> {
    match program.source {
        Source::C(_) if target != Target::X86_64 => {
            Some("no C compiler for this target here (Debian's musl-gcc is x86_64 only)")
        }
        Source::C(_) if !works("musl-gcc", &["--version"]) => {
            Some("musl-gcc not found (Debian `musl-tools`)")
        }
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

/// What cargo builds for `program` (`None` for C).
pub fn cargo_of(program: &Program) -> Option<Cargo<'static>> {
    match program.source {
        Source::Cargo { manifest, bin } => Some(Cargo {
            manifest,
            bin,
            args: &[],
        }),
        Source::Cli => Some(Cargo {
            manifest: "Cargo.toml",
            bin: CLI,
            args: &["--no-default-features"],
        }),
        Source::C(_) => None,
    }
}

/// Builds `program` for `target` with the size profile (see `profile.rs`).
pub fn build(program: &'static Program, target: Target) -> Result<Built> {
    let path = profile::out_dir(target).join(program.name);
    match (&program.source, cargo_of(program)) {
        (_, Some(cargo)) => profile::build(&cargo, target, &path)?,
        (Source::C(source), None) => profile::build_c(&root().join(source), &path)?,
        (_, None) => unreachable!("only C programs have no cargo build"),
    }
    Ok(Built { program, path })
}

/// A program this machine cannot build, and why.
pub type Missing = (&'static str, &'static str);

/// Builds each of `names` that this machine can build for `target`; the others come
/// back with the reason.
pub fn build_all(names: &[&str], target: Target) -> Result<(Vec<Built>, Vec<Missing>)> {
    let (mut built, mut missing) = (Vec::new(), Vec::new());
    for program in ALL.iter().filter(|p| names.contains(&p.name)) {
        match unavailable(program, target) {
            Some(why) => missing.push((program.name, why)),
            None => built.push(build(program, target)?),
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
