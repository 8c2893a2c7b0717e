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

/// Linker options: no page of padding between the read-only and the code segments,
/// no build-id note, no RELRO segment (and its page alignment).
const LINK: [&str; 3] = ["-z,noseparate-code", "--build-id=none", "-z,norelro"];

/// After linking: the unwind tables the precompiled `core` and the C library still
/// bring; nothing reads them when nothing unwinds.
pub const OBJCOPY_ARGS: [&str; 2] = [
    "--remove-section=.eh_frame",
    "--remove-section=.eh_frame_hdr",
];

/// The C programs: the same choices in `gcc`'s words.
pub const C_FLAGS: [&str; 7] = [
    "-Os",
    "-static",
    "-s",
    "-fno-asynchronous-unwind-tables",
    "-Wl,-z,noseparate-code",
    "-Wl,--build-id=none",
    "-Wl,-z,norelro",
];

/// The targets measured, and how each links. Another `rust-lld` target (i686)
/// would take the aarch64 forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    X86_64,
    Aarch64,
}

impl Target {
    pub fn triple(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-linux-musl",
            Target::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }

    /// `rust-lld` for the cross targets (no cross C compiler needed); the host's `cc`
    /// for x86_64, as rustc does by default.
    fn lld(self) -> bool {
        self != Target::X86_64
    }

    /// The options in `RUSTFLAGS`: `-Wl,` forms through `cc`, bare ones for `rust-lld`.
    pub fn rustflags(self) -> Vec<String> {
        let mut flags: Vec<String> = CODEGEN.iter().map(|c| format!("-C {c}")).collect();
        for arg in LINK {
            if self.lld() {
                // `-z,norelro` is `-z norelro`: two arguments for the linker itself.
                flags.extend(arg.split(',').map(|a| format!("-C link-arg={a}")));
            } else {
                flags.push(format!("-C link-arg=-Wl,{arg}"));
            }
        }
        flags
    }

    /// The objcopy that understands this target's ELF files (binutils builds one per
    /// architecture: Debian's `binutils-aarch64-linux-gnu` for aarch64).
    pub fn objcopy(self) -> &'static str {
        match self {
            Target::Aarch64 => "aarch64-linux-gnu-objcopy",
            Target::X86_64 => "objcopy",
        }
    }

    fn linker_env(self) -> Option<(String, &'static str)> {
        let var = self.triple().to_uppercase().replace('-', "_");
        self.lld()
            .then(|| (format!("CARGO_TARGET_{var}_LINKER"), "rust-lld"))
    }
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

/// Builds `what` with the size profile, keeps the linked file as [`linked`]`(out)`
/// (cargo's own is overwritten by the next build of the same binary with other
/// features), then removes the unwind tables into `out`.
pub fn build(what: &Cargo, target: Target, out: &Path) -> Result {
    let built = cargo(what, target, &target_dir(), true)?;
    create_parent(out)?;
    std::fs::copy(&built, linked(out)).map_err(|e| format!("{}: {e}", built.display()))?;
    objcopy(target, &linked(out), out)
}

/// The linked file that the profile's objcopy made `out` from.
pub fn linked(out: &Path) -> PathBuf {
    out.with_extension("linked")
}

/// `cargo build --release` of `what` for `target` with the size profile, stripped or
/// not, into `dir`; returns cargo's binary (before objcopy).
pub fn cargo(what: &Cargo, target: Target, dir: &Path, strip: bool) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "--target", target.triple()])
        .args(["--bin", what.bin])
        .args(what.args)
        .arg("--manifest-path")
        .arg(root().join(what.manifest))
        .env("CARGO_TARGET_DIR", dir)
        .env("RUSTFLAGS", target.rustflags().join(" "))
        // It would win over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for (var, _, value) in CARGO_PROFILE {
        cmd.env(var, value.trim_matches('"'));
    }
    if !strip {
        cmd.env("CARGO_PROFILE_RELEASE_STRIP", "false");
    }
    if let Some((var, linker)) = target.linker_env() {
        cmd.env(var, linker);
    }
    run_with(&mut cmd)?;
    Ok(dir.join(target.triple()).join("release").join(what.bin))
}

/// `musl-gcc` with the profile's flags, then objcopy, into `out`.
pub fn build_c(source: &Path, out: &Path) -> Result {
    create_parent(out)?;
    run_with(
        Command::new("musl-gcc")
            .args(C_FLAGS)
            .arg("-o")
            .arg(linked(out))
            .arg(source),
    )?;
    objcopy(Target::X86_64, &linked(out), out)
}

/// The profile's last step: `objcopy OBJCOPY_ARGS input out`.
fn objcopy(target: Target, input: &Path, out: &Path) -> Result {
    create_parent(out)?;
    run_with(
        Command::new(target.objcopy())
            .args(OBJCOPY_ARGS)
            .arg(input)
            .arg(out),
    )
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
         - `RUSTFLAGS` for x86_64 (linked by `cc`): `{}`\n\
         - `RUSTFLAGS` for aarch64 and i686 (linked by `rust-lld`, \
           `CARGO_TARGET_<TRIPLE>_LINKER=rust-lld`): `{}`\n\
         - then: `objcopy {} BINARY` (`{}` for aarch64)\n\
         - C: `musl-gcc {}`, then the same `objcopy`\n",
        profile.join(", "),
        Target::X86_64.rustflags().join(" "),
        Target::Aarch64.rustflags().join(" "),
        OBJCOPY_ARGS.join(" "),
        Target::Aarch64.objcopy(),
        C_FLAGS.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lld_gets_the_link_options_without_wl() {
        let x86 = Target::X86_64.rustflags().join(" ");
        assert!(x86.contains("-C link-arg=-Wl,-z,noseparate-code"));
        let arm = Target::Aarch64.rustflags().join(" ");
        assert!(arm.contains("-C link-arg=-z -C link-arg=norelro"));
        assert!(arm.contains("-C link-arg=--build-id=none"));
        assert!(!arm.contains("-Wl"));
    }
}
