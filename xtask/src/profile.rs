//! The size profile: the one place that says how every measured program is built,
//! Rust (the examples, the command, the baselines, the peers) and C alike. The
//! reports print it from here, and `size-report/README.md` tells users to copy it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{root, run_with, Result};

/// `[profile.release]`, set through cargo's environment, which overrides each
/// manifest's own profile (the peers' manifests have none).
const CARGO_PROFILE: [(&str, &str, &str); 5] = [
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "opt-level", "\"z\""),
    ("CARGO_PROFILE_RELEASE_LTO", "lto", "true"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "codegen-units", "1"),
    ("CARGO_PROFILE_RELEASE_PANIC", "panic", "\"abort\""),
    ("CARGO_PROFILE_RELEASE_STRIP", "strip", "true"),
];

/// Code generation: absolute addresses (no PIE relocations or GOT for a static
/// binary) and no unwind tables asked for (a `panic = "abort"` program never unwinds).
const CODEGEN: [&str; 2] = ["relocation-model=static", "force-unwind-tables=no"];

/// Every target links with `rust-lld`, the linker rustup ships with every toolchain:
/// one linker, one set of options and one script for x86_64, aarch64 and i686.
pub const LINKER: &str = "rust-lld";

/// Linker options: no page of padding between the read-only and the code segments,
/// no build-id note, no RELRO segment (and its page alignment); then [`SCRIPT`].
const LINK: [&str; 3] = ["-znoseparate-code", "--build-id=none", "-znorelro"];

/// The linker script, relative to the repository root: it discards the unwind
/// tables (which the precompiled `core` and the C library bring, and which nothing
/// reads when nothing unwinds) and `.comment` at link time, so they leave no hole.
pub const SCRIPT: &str = "size-report/discard.ld";

/// The C programs: the same choices in `gcc`'s words, linked by the same `rust-lld`
/// (as `ld.lld`, see [`lld_dir`]) with the same options and script. musl-gcc's specs
/// pass `-dynamic-linker`, which GNU ld ignores in a `-static` link but `lld` turns
/// into a `PT_INTERP` (the binary then crashes at start): hence `--no-dynamic-linker`.
pub const C_FLAGS: [&str; 9] = [
    "-Os",
    "-static",
    "-s",
    "-fno-asynchronous-unwind-tables",
    "-fuse-ld=lld",
    "-Wl,--no-dynamic-linker",
    "-Wl,-z,noseparate-code",
    "-Wl,--build-id=none",
    "-Wl,-z,norelro",
];

/// The targets measured. i686 links the same way (every target takes the same
/// flags); the reports measure these two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    X86_64,
    /// Runs natively on x86_64 (CI runs the command's tests on it).
    I686,
    Aarch64,
}

impl Target {
    pub fn triple(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-linux-musl",
            Target::I686 => "i686-unknown-linux-musl",
            Target::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }

    fn linker_var(self) -> String {
        let var = self.triple().to_uppercase().replace('-', "_");
        format!("CARGO_TARGET_{var}_LINKER")
    }
}

/// The `RUSTFLAGS` of the profile, with the linker script at `script`: the same for
/// every target.
pub fn rustflags(script: &str) -> Vec<String> {
    let codegen = CODEGEN.iter().map(|c| format!("-C {c}"));
    let link = LINK.iter().map(|l| format!("-C link-arg={l}"));
    codegen
        .chain(link)
        .chain([format!("-C link-arg=--script={script}")])
        .collect()
}

/// The linker script as the builds use it: a copy of [`SCRIPT`] named by its
/// content, since cargo does not know a link argument names a file and would not
/// relink when only the script changed (a new name is a new `RUSTFLAGS`).
fn script() -> Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let source = root().join(SCRIPT);
    let text = std::fs::read(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let copy = target_dir().join(format!("discard-{:016x}.ld", hasher.finish()));
    if !copy.exists() {
        create_parent(&copy)?;
        std::fs::write(&copy, text).map_err(|e| format!("{}: {e}", copy.display()))?;
    }
    Ok(copy)
}

/// A directory holding `ld.lld`, a link to the toolchain's `rust-lld`, for
/// `gcc -B DIR -fuse-ld=lld` (`rust-lld` picks its flavour from the name it is run by).
fn lld_dir() -> Result<PathBuf> {
    let dir = target_dir().join("lld");
    let link = dir.join("ld.lld");
    if link.exists() {
        return Ok(dir);
    }
    let sysroot = crate::programs::first_line("rustc", &["--print", "sysroot"]);
    let host = crate::programs::first_line("rustc", &["--print", "host-tuple"]);
    let lld = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-lld");
    if !lld.exists() {
        return Err(format!("{} not found", lld.display()));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // A link left by another toolchain points nowhere now (`exists` said so).
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&lld, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    Ok(dir)
}

/// What `cargo build` is asked for: a binary of a package, with extra arguments.
pub struct Cargo<'a> {
    /// Relative to the repository root.
    pub manifest: &'a str,
    pub bin: &'a str,
    pub args: &'a [&'a str],
}

/// One directory for every program's build, so shared crates build once.
pub fn target_dir() -> PathBuf {
    root().join("target/size-report")
}

/// Where the finished binaries of `target` go (named by program, not by cargo bin).
pub fn out_dir(target: Target) -> PathBuf {
    target_dir().join("out").join(target.triple())
}

/// Builds `what` with the size profile into `out` (cargo's own file is overwritten
/// by the next build of the same binary with other features).
pub fn build(what: &Cargo, target: Target, out: &Path) -> Result {
    let built = cargo(what, target, &target_dir(), true)?;
    create_parent(out)?;
    std::fs::copy(&built, out).map_err(|e| format!("{}: {e}", built.display()))?;
    no_unwind_tables(out)
}

/// `cargo build --release` of `what` for `target` with the size profile, stripped or
/// not, into `dir`; returns cargo's binary.
pub fn cargo(what: &Cargo, target: Target, dir: &Path, strip: bool) -> Result<PathBuf> {
    let script = script()?;
    let script = script
        .to_str()
        .ok_or("a target directory that is not UTF-8")?;
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "--target", target.triple()])
        .args(["--bin", what.bin])
        .args(what.args)
        .arg("--manifest-path")
        .arg(root().join(what.manifest))
        .env("CARGO_TARGET_DIR", dir)
        .env("RUSTFLAGS", rustflags(script).join(" "))
        .env(target.linker_var(), LINKER)
        // It would win over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for (var, _, value) in CARGO_PROFILE {
        cmd.env(var, value.trim_matches('"'));
    }
    if !strip {
        cmd.env("CARGO_PROFILE_RELEASE_STRIP", "false");
    }
    run_with(&mut cmd)?;
    Ok(dir.join(target.triple()).join("release").join(what.bin))
}

/// `musl-gcc` with the profile's flags, linked by `rust-lld` with the script, into
/// `out` (x86_64: Debian's musl-gcc has no other target).
pub fn build_c(source: &Path, out: &Path) -> Result {
    create_parent(out)?;
    run_with(
        Command::new("musl-gcc")
            .arg("-B")
            .arg(lld_dir()?)
            .args(C_FLAGS)
            .arg(format!("-Wl,--script={}", script()?.display()))
            .arg("-o")
            .arg(out)
            .arg(source),
    )?;
    no_unwind_tables(out)
}

/// The profile's promise, checked on every file it makes: no unwind tables left.
fn no_unwind_tables(out: &Path) -> Result {
    let left: Vec<String> = crate::bloat::sections(out)?
        .into_iter()
        .filter(|(name, _)| name.starts_with(".eh_frame"))
        .map(|(name, size)| format!("{name} ({size} bytes)"))
        .collect();
    match left.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{}: the size profile left {}",
            out.display(),
            left.join(", ")
        )),
    }
}

fn create_parent(path: &Path) -> Result {
    let dir = path.parent().ok_or("a path without a parent")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// The profile in Markdown, from the constants above: REPORT.md's header.
pub fn markdown() -> String {
    let profile: Vec<String> = CARGO_PROFILE
        .iter()
        .map(|(_, key, value)| format!("`{key} = {value}`"))
        .collect();
    format!(
        "- `[profile.release]`: {}\n\
         - the linker, for every target (x86_64, aarch64, i686): `{LINKER}` \
           (`CARGO_TARGET_<TRIPLE>_LINKER={LINKER}`)\n\
         - `RUSTFLAGS`: `{}`\n\
         - `{SCRIPT}`: `{}`\n\
         - C: `musl-gcc -B DIR {} -Wl,--script={SCRIPT}`, where `DIR/ld.lld` is a link \
           to the toolchain's `rust-lld`\n",
        profile.join(", "),
        rustflags(SCRIPT).join(" "),
        script_rules(),
        C_FLAGS.join(" "),
    )
}

/// The script's rules on one line, without its comments.
fn script_rules() -> String {
    let text = std::fs::read_to_string(root().join(SCRIPT)).unwrap_or_default();
    let body = text.rsplit_once("*/").map_or(text.as_str(), |(_, b)| b);
    body.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_options_go_to_lld_bare_and_name_the_script() {
        let flags = rustflags("x.ld").join(" ");
        assert!(flags.contains("-C link-arg=-znoseparate-code"));
        assert!(flags.contains("-C link-arg=-znorelro"));
        assert!(flags.ends_with("-C link-arg=--script=x.ld"));
        assert!(!flags.contains("-Wl"));
    }

    #[test]
    fn the_script_discards_the_unwind_tables() {
        let rules = script_rules();
        assert!(rules.starts_with("SECTIONS { /DISCARD/ : {"), "{rules}");
        assert!(rules.contains("*(.eh_frame) *(.eh_frame_hdr)"), "{rules}");
        assert!(rules.ends_with("INSERT AFTER .text;"), "{rules}");
    }

    #[test]
    fn each_target_names_its_linker_variable() {
        assert_eq!(
            Target::Aarch64.linker_var(),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"
        );
    }
}
