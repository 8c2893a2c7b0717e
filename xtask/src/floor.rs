//! What each of the start's checks beyond the classic sequence costs in the minimal
//! example: the example rebuilt from a copy of the tree with one check taken out (a
//! patch of `size-report/floor/`), then with all of them out.
//!
//! A measurement only, of where the 16 KiB budget's bytes go: the patched copies are
//! built, never run, and the library keeps every check. A patch that no longer
//! applies is reported as such, not skipped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::profile::{self, Cargo, Target};
use crate::programs::{file_bytes, EXAMPLE, NO_STD};
use crate::{root, Result};

/// One check, and the patch that takes it out.
pub struct Check {
    /// `size-report/floor/<name>.patch`.
    pub name: &'static str,
    /// What the check does, and what the patch leaves instead.
    pub what: &'static str,
}

pub const ALL: [Check; 8] = [
    Check {
        name: "holder",
        what: "`/proc` says who holds the lock (`/proc/locks`, `/proc/PID/fdinfo`); \
               without it the PID the file names is believed",
    },
    Check {
        name: "restore",
        what: "a failed start puts back the old content and mode; without it only a \
               file it created is removed",
    },
    Check {
        name: "probe-retries",
        what: "a status probe's shared lock is waited out (100 ms); without it the start \
               is refused as running",
    },
    Check {
        name: "path-retries",
        what: "after the lock, the path must still name the locked file, else start over \
               (64 times)",
    },
    Check {
        name: "proc-status",
        what: "`/proc/thread-self/status`: the thread check, and the dispositions the \
               signal reset needs",
    },
    Check {
        name: "proc-writer",
        what: "the writer opened through `/proc/self/fd` (the very inode); without it \
               by name, compared with `fstat`",
    },
    Check {
        name: "escaping",
        what: "bytes that are not UTF-8 are shown as `\\xNN` in the error line",
    },
    Check {
        name: "checks",
        what: "the pidfile checks of start-stop-daemon and pidfile(3): regular file, one \
               link, owner, mode, content",
    },
];

/// The minimal example's file bytes without each check (in the order of [`ALL`];
/// `Err` when the patch no longer applies or the copy does not build), and without
/// all of them.
pub struct Table {
    pub without: Vec<std::result::Result<u64, String>>,
    pub without_all: std::result::Result<u64, String>,
}

/// Builds the example from copies of the working tree, patched.
pub fn measure() -> Table {
    let tree = std::env::temp_dir().join(format!("daemonic-floor-{}", std::process::id()));
    let table = measure_in(&tree);
    let _ = std::fs::remove_dir_all(&tree);
    table
}

fn measure_in(tree: &Path) -> Table {
    let mut without = Vec::new();
    for check in &ALL {
        without.push(build(tree, &[check.name], check.name));
    }
    let names: Vec<&str> = ALL.iter().map(|c| c.name).collect();
    let without_all = build(tree, &names, "without-all");
    Table {
        without,
        without_all,
    }
}

/// A fresh copy of the tree at `tree`, with `patches` applied, built.
fn build(tree: &Path, patches: &[&str], label: &str) -> std::result::Result<u64, String> {
    let _ = std::fs::remove_dir_all(tree);
    copy_tree(&root(), tree)?;
    for name in patches {
        let patch = root()
            .join("size-report/floor")
            .join(format!("{name}.patch"));
        // Outside any repository `git apply` is a plain patch program, applying to
        // its working directory: the copy, never the tree it came from.
        let applied = Command::new("git")
            .arg("apply")
            .arg(&patch)
            .current_dir(tree)
            .status()
            .map_err(|e| format!("git apply: {e}"))?;
        if !applied.success() {
            return Err(format!("the patch {name}.patch no longer applies"));
        }
    }
    let manifest = tree.join(EXAMPLE);
    let cargo = Cargo {
        manifest: manifest
            .to_str()
            .ok_or("a temporary directory that is not UTF-8")?,
        bin: NO_STD,
        args: &[],
    };
    let out = profile::out_dir(Target::X86_64).join("floor").join(label);
    profile::build(&cargo, Target::X86_64, &out)?;
    file_bytes(&out)
}

/// Copies the working tree's sources (not `.git`, any `target` or the fuzz targets).
fn copy_tree(from: &Path, to: &Path) -> Result {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let name = entry.file_name();
        if [".git", "target", "fuzz"].iter().any(|&skip| name == skip) {
            continue;
        }
        let (source, dest): (PathBuf, PathBuf) = (entry.path(), to.join(&name));
        if entry.path().is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            std::fs::copy(&source, &dest).map_err(|e| format!("{}: {e}", source.display()))?;
        }
    }
    Ok(())
}

impl Table {
    /// The Markdown section; `whole` is the minimal example's bytes as it is (the
    /// report's own measurement), `budget` its budget.
    pub fn markdown(&self, whole: u64, budget: u64) -> String {
        let mut out = format!(
            "### What the checks beyond the classic sequence cost\n\n\
             The minimal example rebuilt from a copy of the tree with one check taken out \
             by a patch of `size-report/floor/` (built, never run; the library keeps every \
             check), then with all of them out.\n\n\
             | check | what it does | bytes without it | saved |\n|---|---|---:|---:|\n\
             | none taken out | the example as it is | {} | |\n",
            whole
        );
        let saved = |b: u64| format!("{}", whole as i64 - b as i64);
        for (check, bytes) in ALL.iter().zip(&self.without) {
            let cells = match bytes {
                Ok(b) => format!("{b} | {}", saved(*b)),
                Err(e) => format!("{e} | "),
            };
            let _ = writeln!(out, "| `{}` | {} | {cells} |", check.name, check.what);
        }
        let all = match &self.without_all {
            Ok(b) if *b > budget => format!(
                "{b} | {} |\n\nWithout all of them the example is {b} bytes, {} over the \
                 budget of {budget}: that part of the gap is in how the sequence itself \
                 is written, not in the checks.\n\n",
                saved(*b),
                b - budget
            ),
            Ok(b) => format!(
                "{b} | {} |\n\nWithout all of them the example is {b} bytes, within the \
                 budget of {budget}.\n\n",
                saved(*b)
            ),
            Err(e) => format!("{e} | |\n\n"),
        };
        let _ = write!(out, "| all of them | | {all}");
        out
    }
}
