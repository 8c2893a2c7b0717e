//! Bytes per capability: the minimal example plus one option or call of the library,
//! one variant per Cargo feature of `examples/no_std_daemon` (`src/bin/no_std_caps.rs`),
//! each built with the size profile. A capability a program does not use must cost
//! it nothing; this table is what shows whether it does.

use std::fmt::Write as _;

use crate::bloat::loaded_bytes;
use crate::profile::{self, Cargo, Target};
use crate::programs::{file_bytes, EXAMPLE};
use crate::Result;

const BIN: &str = "no_std_caps";

pub struct Capability {
    /// The Cargo feature, `cap-...`.
    pub feature: &'static str,
    /// The code the feature adds (or puts in the place of `start()`).
    pub api: &'static str,
    /// The variant this one builds on, when it is not the minimal example alone.
    pub base: Option<&'static str>,
}

const fn cap(feature: &'static str, api: &'static str) -> Capability {
    Capability {
        feature,
        api,
        base: None,
    }
}

const EXEC: &str = "cap-exec";

const USER: &str = "cap-user";

pub const ALL: [Capability; 30] = [
    cap("cap-user", "`.user(\"nobody\")`"),
    cap("cap-group", "`.group(\"nogroup\")`"),
    cap(
        "cap-supplementary-groups",
        "`.supplementary_groups(Groups::List(&[65534]))`",
    ),
    cap("cap-chroot", "`.chroot_directory(c\"/\")`"),
    cap("cap-working-directory", "`.working_directory(c\"/tmp\")`"),
    cap(
        "cap-stdout-file",
        "`.stdout(Stdio::file(c\"/tmp/no_std_caps.log\"))`",
    ),
    cap("cap-stdin-fd", "`.stdin(Stdio::fd(0))`"),
    cap("cap-stdin-inherit", "`.stdin(Stdio::inherit())`"),
    cap("cap-timeout", "`.timeout(Duration::from_secs(5))`"),
    cap(
        "cap-start-pending",
        "`start_pending()` + `ready()` instead of `start()`",
    ),
    cap(
        "cap-fork",
        "`fork()` (returns in both processes) instead of `start()`",
    ),
    cap("cap-sd-notify", "`.sd_notify(true)`"),
    cap(
        "cap-s6-notification-fd",
        "`.s6_notification_fd(NotificationFd::Fd(3))`",
    ),
    cap("cap-preserve-fd", "`.preserve_fd(3)`"),
    cap("cap-detach-never", "`.detach(Detach::Never)`"),
    cap("cap-detach-auto", "`.detach(Detach::Auto)`"),
    cap("cap-signal", "`.signal(Signal::HUP, Disposition::Ignore)`"),
    cap("cap-prevent-core-off", "`.prevent_core(false)`"),
    cap("cap-ok-if-running", "`.ok_if_running(true)`"),
    cap("cap-exec", "`exec(&Program { .. })` instead of `start()`"),
    Capability {
        feature: "cap-exec-readiness-fd",
        api: "`exec` + `.readiness_fd(3)`",
        base: Some(EXEC),
    },
    Capability {
        feature: "cap-exec-await-notify-socket",
        api: "`exec` + `.await_notify_socket(true)`",
        base: Some(EXEC),
    },
    Capability {
        feature: "cap-supervise",
        api: "`supervise(&Program { .. }, Supervision::new())` instead of `exec`: the monitor",
        base: Some(EXEC),
    },
    cap("cap-status", "`daemonic::status(p)` before `start()`"),
    cap(
        "cap-stop",
        "`daemonic::stop(p, &Schedule::signal(Signal::TERM))` before `start()`",
    ),
    cap(
        "cap-restart",
        "`restart(&Schedule::signal(Signal::TERM))` instead of `start()`",
    ),
    cap(
        "cap-pidfile-open",
        "`Pidfile::open(p)` + `write(pid)` alone, no `Daemon`",
    ),
    Capability {
        feature: "cap-user-stdout-file",
        api: "`.user(\"nobody\")` + `.stdout(Stdio::file(..))`: the file opened as nobody",
        base: Some(USER),
    },
    Capability {
        feature: "cap-drop-at-ready",
        api:
            "`.user(\"nobody\")` + `.drop_privileges_at_ready(true)`, `start_pending()` + `ready()`",
        base: Some(USER),
    },
    cap(
        "cap-socket-activation",
        "`.detach(Detach::Never).socket_activation(true)` + `listen_fds()`",
    ),
];

/// A variant's file bytes and loaded bytes (code and data, see [`loaded_bytes`]).
#[derive(Clone, Copy)]
pub struct Size {
    pub file: u64,
    pub loaded: u64,
}

/// Every variant, measured: the minimal one (no feature) first.
pub struct Table {
    pub target: Target,
    /// `no_std_caps` without a feature.
    pub minimal: Size,
    /// In the order of [`ALL`]; `Err` is why the variant did not build.
    pub bytes: Vec<std::result::Result<Size, String>>,
}

/// Builds the minimal variant and every capability's, for `target`.
pub fn measure(target: Target) -> Result<Table> {
    let minimal = build(None, target)?;
    let mut bytes = Vec::new();
    for cap in &ALL {
        // The library is being reshaped: a variant that does not build is reported,
        // and fails the budget, rather than stopping the whole report.
        bytes.push(build(Some(cap.feature), target));
    }
    Ok(Table {
        target,
        minimal,
        bytes,
    })
}

fn build(feature: Option<&str>, target: Target) -> std::result::Result<Size, String> {
    let args: Vec<&str> = feature.map_or(vec![], |f| vec!["--features", f]);
    let out = profile::out_dir(target)
        .join("caps")
        .join(feature.unwrap_or("minimal"));
    let cargo = Cargo {
        manifest: EXAMPLE,
        bin: BIN,
        args: &args,
    };
    profile::build(&cargo, target, &out)?;
    Ok(Size {
        file: file_bytes(&out)?,
        loaded: loaded_bytes(&out)?,
    })
}

impl Table {
    /// The capabilities whose variant did not build.
    pub fn failed(&self) -> Vec<&'static str> {
        let failed = ALL.iter().zip(&self.bytes).filter(|(_, b)| b.is_err());
        failed.map(|(cap, _)| cap.feature).collect()
    }

    fn size_of(&self, feature: &str) -> Option<Size> {
        let i = ALL.iter().position(|c| c.feature == feature)?;
        self.bytes[i].as_ref().ok().copied()
    }

    /// The Markdown table; `no_std` is the minimal example's own loaded bytes, which
    /// the variant without a feature should equal.
    pub fn markdown(&self, no_std: Option<u64>) -> String {
        let min = self.minimal;
        let mut out = format!(
            "| capability (feature of `examples/no_std_daemon`) | what the variant adds | \
             code and data | over the minimal example | file bytes | over the minimal \
             example |\n|---|---|---:|---:|---:|---:|\n\
             | none: the minimal example (`{BIN}` without a feature) | pidfile, \
             `.umask(0o022)`, `start()` | {} | | {} | |\n",
            min.loaded, min.file
        );
        let diff = |a: u64, b: u64| format!("{:+}", a as i64 - b as i64);
        for (cap, size) in ALL.iter().zip(&self.bytes) {
            let cells = match size {
                Ok(s) => {
                    let mut over = diff(s.loaded, min.loaded);
                    if let Some(base) = cap.base.and_then(|f| self.size_of(f)) {
                        let base_name = cap.base.unwrap_or_default();
                        let _ = write!(
                            over,
                            " ({} over `{base_name}`)",
                            diff(s.loaded, base.loaded)
                        );
                    }
                    format!(
                        "{} | {over} | {} | {}",
                        s.loaded,
                        s.file,
                        diff(s.file, min.file)
                    )
                }
                Err(e) => format!("does not build: {} | | |", first_error(e)),
            };
            let _ = writeln!(out, "| `{}` | {} | {cells} |", cap.feature, cap.api);
        }
        let same = match no_std {
            Some(b) if b == min.loaded => "exactly the minimal example's code and data".into(),
            Some(b) => format!(
                "{} bytes of code and data away from `no_std_daemon`'s {b} (they differ \
                 only in how the source is laid out)",
                diff(min.loaded, b)
            ),
            None => String::new(),
        };
        let _ = write!(
            out,
            "\nFor `{}`, with the size profile. *code and data*: the bytes of the sections \
             the program loads; *file bytes* also count headers and section \
             alignment. The variant without a feature is {same}. \
             Each variant is `src/bin/{BIN}.rs` with one feature, e.g. \
             `cargo build --release --manifest-path {EXAMPLE} --bin {BIN} --features \
             cap-user`; none but the minimal and full examples is run.\n\n",
            self.target.triple()
        );
        out
    }
}

/// The first `error` line of a failed build's message, for a table cell.
fn first_error(message: &str) -> String {
    let line = message
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or_else(|| message.lines().next().unwrap_or_default());
    line.replace('|', "\\|").chars().take(120).collect()
}
