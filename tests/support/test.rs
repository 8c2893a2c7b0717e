//! One test's world: a fresh directory, a tag and a marker that the processes it
//! starts carry, and a guard that kills them all when the test ends, even if it
//! panicked. The same for the helpers of the `harness = false` binaries (found by
//! their tag) and the programs the CLI tests start (found by their marker).
#![allow(dead_code)] // a toolbox: each test binary uses part of it

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::proc::{all_pids, Proc};
use super::wait::{kill, wait_for, wait_until, DEADLINE};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Test {
    /// `/tmp/daemonic-test-<pid>-<n>`, mode 0755 (daemons that became `nobody` write
    /// their reports here).
    pub dir: PathBuf,
    /// `DAEMONIC_TAG=<dir>`: every helper of this test, and so every daemon it forks,
    /// carries it in its environment (see [`Test::command`]).
    tag: String,
    /// A number of seconds unique to this test (`1000.<pid><n>`): the argument of every
    /// `sleep` the CLI tests start, and `$0` of every script, so the test can find what
    /// it started (and what it should not have left) in `/proc`.
    pub marker: String,
    /// Learned PIDs, each with its start time (which an exec keeps and a reused PID
    /// does not have).
    pids: Mutex<Vec<(i32, Option<u64>)>>,
    children: Mutex<Vec<Child>>,
    /// Whether the test ran the command, whose programs exec: a look at `/proc` may
    /// catch one in the middle of its exec, with no arguments yet.
    pub(super) execs: AtomicBool,
}

impl Test {
    pub fn new() -> Test {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/daemonic-test-{pid}-{n}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // Not group- or world-writable whatever the umask; readable by `nobody`.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Test {
            tag: format!("DAEMONIC_TAG={}", dir.display()),
            dir,
            marker: format!("1000.{pid}{n:04}"),
            pids: Mutex::new(Vec::new()),
            children: Mutex::new(Vec::new()),
            execs: AtomicBool::new(false),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The test's usual pidfile.
    pub fn pidfile(&self) -> PathBuf {
        self.path("app.pid")
    }

    /// A command for a process that belongs to this test: it carries the tag, so the
    /// guard kills it at the end (a helper, or an unrelated `sleep` a pidfile names).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let (key, value) = self.tag.split_once('=').unwrap();
        cmd.env(key, value).stdin(Stdio::null());
        cmd
    }

    /// Records a PID to kill at the end of the test.
    pub fn learn(&self, pid: i32) {
        let started = Proc(pid).start_time();
        self.pids.lock().unwrap().push((pid, started));
    }

    /// Keeps a spawned child to kill and reap at the end of the test.
    pub fn adopt(&self, child: Child) {
        self.children.lock().unwrap().push(child);
    }

    /// The live (not zombie) processes of this test: those with its tag in their
    /// environment or its marker among their arguments.
    pub fn live_processes(&self) -> Vec<i32> {
        all_pids()
            .into_iter()
            .filter(|&pid| self.owns(pid) && Proc(pid).alive())
            .collect()
    }

    /// Whether `pid` carries the test's tag or marker.
    pub fn owns(&self, pid: i32) -> bool {
        let p = Proc(pid);
        p.cmdline().iter().any(|a| a == self.marker.as_bytes()) || p.has_env(&self.tag)
    }

    /// Waits until no process of this test is alive (a daemon whose start failed may
    /// take a moment to exit after the launcher did); panics listing them if some
    /// still are after `limit`.
    pub fn assert_none_left(&self, limit: Duration) {
        wait_for("no process of this test left running", limit, || {
            let left = self.live_processes();
            if left.is_empty() {
                return Ok(());
            }
            let shown: Vec<String> = left
                .iter()
                .map(|&p| format!("{p}: {}", Proc(p).cmdline_text()))
                .collect();
            Err(shown.join("; "))
        });
    }

    /// Waits for the report a daemon writes at `path`, and learns its PID.
    pub fn wait_report(&self, path: &Path) -> Report {
        let text = wait_until(
            &format!("the daemon's report in {}", path.display()),
            || {
                let text = fs::read_to_string(path).unwrap_or_default();
                if text.ends_with("end\n") {
                    Ok(text)
                } else {
                    Err(format!("{text:?}"))
                }
            },
        );
        let report = Report(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        self.learn(report.pid());
        report
    }
}

impl Default for Test {
    fn default() -> Self {
        Test::new()
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        let mut killed = Vec::new();
        let learned = self.pids.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (pid, started) in learned.drain(..) {
            // Only if it is still ours: the PID may have been reused since.
            if started.is_some() && Proc(pid).start_time() == started {
                kill(pid, libc::SIGKILL);
                killed.push(pid);
            }
        }
        // A program in the middle of an exec shows no arguments for an instant: after
        // the command ran, look a few times.
        let looks = if self.execs.load(Ordering::SeqCst) {
            3
        } else {
            1
        };
        for look in 0..looks {
            if look > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            for pid in self.live_processes() {
                kill(pid, libc::SIGKILL);
                killed.push(pid);
            }
        }
        let children = self
            .children
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for mut child in children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        // No panic here (this may run while unwinding): a bounded wait, then on.
        let start = Instant::now();
        while killed.iter().any(|&pid| Proc(pid).alive()) && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(5));
        }
        if is_subreaper() {
            reap_children();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether this process is a child subreaper: the runner of a `harness = false`
/// binary, which runs one test at a time and adopts the daemons it starts.
fn is_subreaper() -> bool {
    let mut set: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer.
    let ret = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut set as *mut libc::c_int) };
    ret == 0 && set != 0
}

/// Reaps every child that has exited: daemons reparented to the runner (a subreaper)
/// and foreground helpers. Only where tests run one at a time, so that no `Command`
/// of another test is waiting.
pub fn reap_children() {
    loop {
        // SAFETY: a null status pointer is allowed.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

/// What a daemon wrote about itself: `key=value` lines, then `end`.
#[derive(Debug)]
pub struct Report(BTreeMap<String, String>);

impl Report {
    /// A value, as written (panics if the report lacks the key).
    pub fn field(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in the report {:?}", self.0))
    }

    /// A numeric value.
    pub fn get(&self, key: &str) -> usize {
        self.field(key).parse().unwrap()
    }

    pub fn pid(&self) -> i32 {
        self.get("pid") as i32
    }
}
