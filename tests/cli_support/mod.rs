//! Helpers for the black-box tests of the `daemonic` command (`tests/cli.rs`): the
//! binary under test, per-test directories with a guard that kills what the test
//! started, running the command with a deadline, polling, and reading a daemon's
//! state from `/proc`.
//!
//! Nothing here forks in-process: every process is spawned with `std::process::Command`.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// The longest any condition may take to hold. Every wait ends as soon as its
/// condition holds, so only a failing test waits this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The binary under test: `$DAEMONIC_CLI` (CI points it at the static musl build), else
/// the one cargo built for this test.
pub fn bin() -> PathBuf {
    match std::env::var_os("DAEMONIC_CLI") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_daemonic")),
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Prints the skip line and says whether the test must stop here.
pub fn skip_unless_root(name: &str, why: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("skipped: {name} needs root because {why}");
    true
}

/// Polls `check` every 10 ms until it returns `Ok`; after `limit`, panics with `what`
/// and the last state seen.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// [`wait_for`] with [`DEADLINE`].
pub fn wait_until<T>(what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    wait_for(what, DEADLINE, check)
}

/// What one run of the command gave.
#[derive(Debug)]
pub struct Out {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    /// Asserts the exit code, showing everything on failure.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:#?}");
        self
    }

    /// Asserts that stderr is exactly one line, `daemonic: ...`, containing `part`.
    #[track_caller]
    pub fn one_error_line(&self, part: &str) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1 && self.stderr.ends_with('\n'),
            "stderr is not exactly one line: {self:#?}"
        );
        assert!(
            lines[0].starts_with("daemonic: "),
            "the error line does not start with `daemonic: `: {self:#?}"
        );
        assert!(
            lines[0].contains(part),
            "the error line does not contain {part:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn no_stdout(&self) -> &Self {
        assert_eq!(self.stdout, "", "unexpected stdout: {self:#?}");
        self
    }

    #[track_caller]
    pub fn no_stderr(&self) -> &Self {
        assert_eq!(self.stderr, "", "unexpected stderr: {self:#?}");
        self
    }
}

/// Reads a pipe to its end in a thread; the receiver gets the bytes.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Runs `cmd` (its stdout and stderr piped; stdin as the caller set it, else
/// `/dev/null`) and waits for it and for the end of both pipes, `limit` at most each:
/// a daemon that kept a copy of the caller's pipe shows up as a panic, not a hang.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Out {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let text = |rx: mpsc::Receiver<Vec<u8>>, which: &str| {
        let bytes = rx.recv_timeout(limit).unwrap_or_else(|_| {
            panic!("{which} of {cmd:?} still open {limit:?} after it exited: something kept it")
        });
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{which} is not UTF-8: {e}"))
    };
    Out {
        code: status.code(),
        stdout: text(stdout, "stdout"),
        stderr: text(stderr, "stderr"),
        elapsed,
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One test's world: a fresh directory `/tmp/daemonic-cli-<pid>-<n>`, a marker unique
/// to the test that every program it starts carries as an argument, and the PIDs it
/// learned. Dropping it (also when the test panics) SIGKILLs every learned PID and
/// every process carrying the marker, reaps the children it spawned, and removes the
/// directory.
pub struct Test {
    pub dir: PathBuf,
    /// A number of seconds unique to this test (`1000.<pid><n>`): the argument of every
    /// `sleep` the test starts, and `$0` of every script, so the test can find what
    /// it started (and what it should not have left) in `/proc`.
    pub marker: String,
    /// Learned PIDs, each with its start time (which an exec keeps and a reused PID
    /// does not have).
    pids: Mutex<Vec<(i32, Option<u64>)>>,
    children: Mutex<Vec<Child>>,
}

impl Test {
    pub fn new() -> Test {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/daemonic-cli-{pid}-{n}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // Not group- or world-writable whatever the umask.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Test {
            dir,
            marker: format!("1000.{pid}{n:04}"),
            pids: Mutex::new(Vec::new()),
            children: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The test's usual pidfile.
    pub fn pidfile(&self) -> PathBuf {
        self.path("daemon.pid")
    }

    /// `/bin/sleep <marker>`.
    pub fn sleep(&self) -> Vec<OsString> {
        vec!["/bin/sleep".into(), self.marker.clone().into()]
    }

    /// `/bin/sh -c <body> <marker>`: `$0` is the marker, so the body ends with
    /// `exec sleep "$0"` to leave a findable program running.
    pub fn script(&self, body: &str) -> Vec<OsString> {
        vec![
            "/bin/sh".into(),
            "-c".into(),
            body.into(),
            self.marker.clone().into(),
        ]
    }

    /// The command under test with `args`.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs the command under test with `args`.
    pub fn run<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Out {
        run_with_limit(self.cmd(args), DEADLINE)
    }

    /// `daemonic start [options] --pidfile <pidfile> -- <program>`.
    pub fn start(&self, options: &[&str], pidfile: &Path, program: &[OsString]) -> Out {
        run_with_limit(self.start_cmd(options, pidfile, program), DEADLINE)
    }

    pub fn start_cmd(&self, options: &[&str], pidfile: &Path, program: &[OsString]) -> Command {
        let mut args: Vec<OsString> = vec!["start".into()];
        args.extend(options.iter().map(OsString::from));
        args.extend([
            "--pidfile".into(),
            pidfile.as_os_str().to_owned(),
            "--".into(),
        ]);
        args.extend(program.iter().cloned());
        self.cmd(args)
    }

    /// Starts `/bin/sleep <marker>` with `options` and the usual pidfile, asserts it
    /// started, and returns its PID (read from the pidfile, and learned).
    pub fn start_sleep(&self, options: &[&str]) -> i32 {
        let out = self.start(options, &self.pidfile(), &self.sleep());
        out.code(0).no_stderr();
        self.daemon_pid(&self.pidfile())
    }

    /// The PID a pidfile names; panics if it names none. The PID is learned (killed
    /// at the end of the test).
    pub fn daemon_pid(&self, pidfile: &Path) -> i32 {
        let text = fs::read_to_string(pidfile)
            .unwrap_or_else(|e| panic!("cannot read pidfile {}: {e}", pidfile.display()));
        assert!(
            text.ends_with('\n'),
            "pidfile content {text:?} lacks its newline"
        );
        let pid: i32 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("pidfile content {text:?} is not a PID"));
        assert!(pid > 1, "pidfile names {pid}");
        self.learn(pid);
        // Right after the exec the kernel may not have set up the new cmdline and
        // environment yet: wait until /proc shows the program (all carry the marker).
        let marker = self.marker.as_bytes();
        wait_until(&format!("pid {pid} to show the test's program"), || {
            if cmdline(pid).iter().any(|a| a == marker) {
                Ok(())
            } else {
                Err(cmdline_text(pid))
            }
        });
        pid
    }

    pub fn learn(&self, pid: i32) {
        self.pids.lock().unwrap().push((pid, start_time(pid)));
    }

    /// Keeps a spawned child to kill and reap at the end of the test.
    pub fn adopt(&self, child: Child) {
        self.children.lock().unwrap().push(child);
    }

    /// Live (not zombie) processes that carry this test's marker as an argument.
    pub fn marked(&self) -> Vec<i32> {
        processes_with_arg(self.marker.as_bytes())
    }

    /// Waits until no live process carries the marker; panics listing them if some
    /// still do after `limit`.
    pub fn assert_none_left(&self, limit: Duration) {
        wait_for("no process of this test left running", limit, || {
            let left = self.marked();
            if left.is_empty() {
                Ok(())
            } else {
                let shown: Vec<String> = left
                    .iter()
                    .map(|p| format!("{p}: {}", cmdline_text(*p)))
                    .collect();
                Err(shown.join("; "))
            }
        });
    }
}

impl Default for Test {
    fn default() -> Self {
        Test::new()
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        for &(pid, started) in self.pids.lock().unwrap().iter() {
            // Only if it is still ours: the PID may have been reused since.
            if started.is_some() && start_time(pid) == started {
                kill(pid, libc::SIGKILL);
            }
        }
        // A process in the middle of an exec shows an empty cmdline for an instant:
        // look a few times.
        for _ in 0..3 {
            for pid in self.marked() {
                kill(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for mut child in self.children.lock().unwrap().drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn kill(pid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) };
}

/// `/proc/<pid>/cmdline` split at its NULs; empty when the process is gone.
pub fn cmdline(pid: i32) -> Vec<Vec<u8>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn cmdline_text(pid: i32) -> String {
    let args: Vec<String> = cmdline(pid)
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    args.join(" ")
}

/// Live processes with `arg` as one of their arguments.
pub fn processes_with_arg(arg: &[u8]) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if cmdline(pid).iter().any(|a| a == arg) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// The fields of `/proc/<pid>/stat` after the command name: `[state, ppid, pgrp,
/// session, tty_nr, ...]`; `None` when the process is gone.
pub fn stat(pid: i32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// When `pid` started (`starttime` of `/proc/<pid>/stat`), `None` when it is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid)?.get(19)?.parse().ok()
}

/// Whether `pid` runs: it exists and is not a zombie (an exited daemon waits for a
/// reaper that may be slow, as some container inits are).
pub fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|f| f[0] != "Z" && f[0] != "X")
}

/// `/proc/<pid>/status` as name → value (trimmed).
pub fn status(pid: i32) -> BTreeMap<String, String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// `/proc/<pid>/environ` entries.
pub fn environ(pid: i32) -> Vec<String> {
    let raw = fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/environ: {e}"));
    raw.split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

/// The open descriptors of `pid` and what each links to.
pub fn fds(pid: i32) -> BTreeMap<i32, PathBuf> {
    let dir = format!("/proc/{pid}/fd");
    fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            Some((fd, fs::read_link(e.path()).ok()?))
        })
        .collect()
}

pub fn link(pid: i32, name: &str) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/{name}"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/{name}: {e}"))
}

/// Whether `flock -n <path> true` succeeds (nobody holds a lock on the file).
pub fn flock_free(path: &Path) -> bool {
    let status = Command::new("flock")
        .arg("-n")
        .arg(path)
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run flock");
    status.success()
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", "command -v \"$1\" >/dev/null", "sh", tool])
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds an `OsString` from raw bytes (for arguments that are not UTF-8).
pub fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_owned()
}
