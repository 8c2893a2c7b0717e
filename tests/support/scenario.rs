//! What a helper process does, as one typed value: the runner fills a [`Scenario`],
//! [`Scenario::encode`] makes it the value of `DAEMONIC_SCENARIO`, and the helper gets
//! it back with [`Scenario::decode`], which refuses an unknown key, a key given twice
//! and a bad value. The encoding is `key=value` lines, one for each field that is not
//! its default; in values `\` escapes a backslash, a newline (`\n`) and a NUL (`\0`).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use daemonic::{Detach, Disposition, Signal};

mod text;
use text::Field;

/// The variable that carries the scenario; a process with it set is a helper.
pub const VAR: &str = "DAEMONIC_SCENARIO";

/// Which library call the helper makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Call {
    /// `Daemon::start`: the daemon is reported ready at once.
    #[default]
    Start,
    /// `Daemon::start_pending`; the daemon then does what [`Then`] says.
    StartPending,
    /// `Daemon::fork`: the original process prints the daemon's PID and exits 0.
    Fork,
    /// `Daemon::restart` with the `schedule`, otherwise as `Fork`.
    Restart,
    /// No daemon: one `daemonic::stop` on the `pidfile` with the `schedule`, from a
    /// process that is its own process group (see `controller.rs`).
    Stop,
    /// `Pidfile::open` on the `pidfile`, then hold the lock without writing.
    HoldPidfile,
    /// `Pidfile::open`, then drop it, in a loop (see `controller.rs`).
    ChurnPidfile,
}

/// What a pending daemon does once it has written its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Then {
    /// `Pending::ready` (after `hold`, `delay` and `marker`), then sleep until killed.
    #[default]
    Ready,
    /// Drop the `Pending` and exit 0.
    Drop,
    /// Keep the `Pending`, never report, sleep.
    Hang,
    /// `Pending::fail` with this code.
    Fail(u8),
}

/// Everything a helper is told. `Default` is a plain `Daemon::start` from a dirty
/// launcher (see `helper.rs`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    pub call: Call,
    /// Where the daemon writes its report, as the daemon sees it (inside a chroot).
    pub report: Option<PathBuf>,

    // The `Daemon`'s options, each passed to its builder method.
    pub pidfile: Option<PathBuf>,
    /// May hold a NUL, to see the option refused.
    pub workdir: Option<PathBuf>,
    pub chroot: Option<PathBuf>,
    pub umask: Option<u32>,
    pub output_mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// `Groups::List`, or `Groups::Empty` for an empty list.
    pub groups: Option<Vec<u32>>,
    /// `prevent_core(false)`.
    pub keep_core: bool,
    /// `drop_privileges_at_ready(true)`.
    pub drop_at_ready: bool,
    /// `socket_activation(true)`, with /dev/null as descriptor 3 and `LISTEN_PID`
    /// (the launcher's), `LISTEN_FDS=1`, `LISTEN_FDNAMES=web` set by the launcher.
    pub socket_activation: bool,
    pub preserve: Option<i32>,
    /// `Stdio::file` for each standard stream.
    pub stdin: Option<PathBuf>,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    /// `signal(signal, disposition)`, in this order.
    pub signals: Vec<(Signal, Disposition)>,
    pub detach: Option<Detach>,
    pub timeout: Option<Duration>,
    pub ok_if_running: bool,
    /// For `Restart` and `Stop`: start-stop-daemon's syntax (`Schedule::parse`).
    pub schedule: Option<String>,

    // The launcher, before the call.
    /// Its umask (default 077).
    pub launcher_umask: Option<u32>,
    /// Its supplementary groups.
    pub launcher_groups: Option<Vec<u32>>,
    /// Become this uid and gid, with no supplementary groups.
    pub launcher_uid: Option<u32>,
    /// `RLIMIT_CORE`, soft and hard.
    pub core_limit: Option<u64>,
    /// The soft `RLIMIT_NOFILE` (the hard one stays).
    pub nofile: Option<u64>,
    /// Close descriptors 0, 1 and 2.
    pub close_stdio: bool,
    /// A seccomp filter makes `close_range` fail with EPERM.
    pub deny_close_range: bool,
    /// A second thread, parked.
    pub thread: bool,
    /// A start barrier: wait at this FIFO (see `helper.rs`).
    pub go_fifo: Option<PathBuf>,

    // The daemon.
    pub then: Then,
    /// Before `ready`: wait until this file exists.
    pub hold: Option<PathBuf>,
    /// Before `ready`: sleep this long.
    pub delay: Option<Duration>,
    /// Before `ready` (for `HoldPidfile`: once locked), create this file.
    pub marker: Option<PathBuf>,
    /// After `ready`: write to stdout and stderr through Rust's own handles.
    pub write_stdio: bool,
    /// Block SIGTERM at once, wait for it at the end, then drop `Running` (which
    /// removes the pidfile) and exit, as a daemon that handles SIGTERM does.
    pub term_releases: bool,

    // `Stop`.
    /// Write this process's own PID into the pidfile first.
    pub write_own_pid: bool,
    /// A seccomp filter makes `pidfd_open` and `pidfd_send_signal` fail with ENOSYS.
    pub deny_pidfd: bool,

    // `ChurnPidfile`.
    /// Stop once this file exists.
    pub until: Option<PathBuf>,
    /// Stop after this many attempts.
    pub rounds: Option<u64>,
    /// Go on while another process holds the lock, and count other errors.
    pub contend: bool,
}

impl From<Call> for Scenario {
    fn from(call: Call) -> Scenario {
        Scenario {
            call,
            ..Scenario::default()
        }
    }
}

impl Scenario {
    /// Each field with its key: the one list both `encode` and `decode` go by.
    fn fields(&mut self) -> Vec<(&'static str, &mut dyn Field)> {
        vec![
            ("call", &mut self.call),
            ("report", &mut self.report),
            ("pidfile", &mut self.pidfile),
            ("workdir", &mut self.workdir),
            ("chroot", &mut self.chroot),
            ("umask", &mut self.umask),
            ("output_mode", &mut self.output_mode),
            ("user", &mut self.user),
            ("group", &mut self.group),
            ("groups", &mut self.groups),
            ("keep_core", &mut self.keep_core),
            ("drop_at_ready", &mut self.drop_at_ready),
            ("socket_activation", &mut self.socket_activation),
            ("preserve", &mut self.preserve),
            ("stdin", &mut self.stdin),
            ("stdout", &mut self.stdout),
            ("stderr", &mut self.stderr),
            ("signals", &mut self.signals),
            ("detach", &mut self.detach),
            ("timeout", &mut self.timeout),
            ("ok_if_running", &mut self.ok_if_running),
            ("schedule", &mut self.schedule),
            ("launcher_umask", &mut self.launcher_umask),
            ("launcher_groups", &mut self.launcher_groups),
            ("launcher_uid", &mut self.launcher_uid),
            ("core_limit", &mut self.core_limit),
            ("nofile", &mut self.nofile),
            ("close_stdio", &mut self.close_stdio),
            ("deny_close_range", &mut self.deny_close_range),
            ("thread", &mut self.thread),
            ("go_fifo", &mut self.go_fifo),
            ("then", &mut self.then),
            ("hold", &mut self.hold),
            ("delay", &mut self.delay),
            ("marker", &mut self.marker),
            ("write_stdio", &mut self.write_stdio),
            ("term_releases", &mut self.term_releases),
            ("write_own_pid", &mut self.write_own_pid),
            ("deny_pidfd", &mut self.deny_pidfd),
            ("until", &mut self.until),
            ("rounds", &mut self.rounds),
            ("contend", &mut self.contend),
        ]
    }

    /// The value of [`VAR`]: a `key=value` line for each field that is not its default.
    pub fn encode(&self) -> OsString {
        let mut out = Vec::new();
        for (key, field) in self.clone().fields() {
            if let Some(value) = field.put() {
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                for &b in &value {
                    match b {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        0 => out.extend_from_slice(b"\\0"),
                        b => out.push(b),
                    }
                }
                out.push(b'\n');
            }
        }
        OsString::from_vec(out)
    }

    /// The scenario `encode` gave `text`; an error for anything `encode` does not write.
    pub fn decode(text: &[u8]) -> Result<Scenario, String> {
        let mut scenario = Scenario::default();
        let mut seen: Vec<String> = Vec::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let shown = String::from_utf8_lossy(line);
            let eq = line.iter().position(|&b| b == b'=');
            let (key, escaped) = match eq.map(|i| line.split_at(i)) {
                Some((key, rest)) => (String::from_utf8_lossy(key).into_owned(), &rest[1..]),
                None => return Err(format!("not a key=value line: {shown:?}")),
            };
            if seen.contains(&key) {
                return Err(format!("{key} given twice"));
            }
            let value = unescape(escaped).map_err(|e| format!("{shown:?}: {e}"))?;
            let mut fields = scenario.fields();
            let (_, field) = fields
                .iter_mut()
                .find(|(k, _)| *k == key)
                .ok_or_else(|| format!("unknown key {key:?}"))?;
            field.take(&value).map_err(|e| format!("{shown:?}: {e}"))?;
            seen.push(key);
        }
        Ok(scenario)
    }
}

fn unescape(escaped: &[u8]) -> Result<Vec<u8>, String> {
    let mut value = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            value.push(b);
            continue;
        }
        value.push(match bytes.next() {
            Some(b'\\') => b'\\',
            Some(b'n') => b'\n',
            Some(b'0') => 0,
            other => return Err(format!("bad escape \\{:?}", other.map(|&c| c as char))),
        });
    }
    Ok(value)
}
