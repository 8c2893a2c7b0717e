//! The runner's side: per-test directories and a guard that kills what a test started,
//! launching helper processes, and reading a daemon's state from `/proc`.

pub mod runner;
pub mod scenario;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a condition may take to hold. Generous: every wait ends as soon as the
/// condition holds, so only a failing test ever waits this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The runner's own PID: it is the child subreaper, so orphaned daemons become its children.
pub fn runner_pid() -> i32 {
    std::process::id() as i32
}

/// Polls `check` until it returns `Ok`; after [`DEADLINE`], panics with `what` and the
/// last `Err` (the state seen, for the failure message).
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > DEADLINE => {
                panic!("timed out after {DEADLINE:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// One test's world: a fresh directory under /tmp, and every process started for the
/// test, killed (and reaped) when it is dropped, even if the test panicked.
pub struct Test {
    pub dir: PathBuf,
    /// `DAEMONIC_TAG=<dir>`: every helper of this test, and so every daemon it forks,
    /// carries it in its environment; that is how the runner finds them in `/proc`.
    tag: String,
    pids: RefCell<Vec<i32>>,
}

impl Test {
    pub fn new() -> Test {
        let n = NEXT_DIR.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/daemonic-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        // Daemons that switch to `nobody` still write their reports here.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let tag = format!("DAEMONIC_TAG={}", dir.display());
        Test {
            dir,
            tag,
            pids: RefCell::new(Vec::new()),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn pidfile(&self) -> PathBuf {
        self.path("app.pid")
    }

    /// A directory to chroot into, with `sub/` and no `/proc`.
    pub fn jail(&self) -> PathBuf {
        let jail = self.path("jail");
        fs::create_dir_all(jail.join("sub")).unwrap();
        jail
    }

    /// A helper process running `scenario` ("start", "pending" or "fork").
    pub fn launch(&self, scenario: &str) -> Launch<'_> {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        let (key, value) = self.tag.split_once('=').unwrap();
        cmd.env("DAEMONIC_SCENARIO", scenario)
            .env(key, value)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Launch {
            test: self,
            cmd,
            report: self.path("report"),
        }
        .opt("report", self.path("report"))
    }

    /// A command for a process that belongs to this test: it carries the tag, so the
    /// guard kills it at the end (e.g. an unrelated `sleep` a pidfile names).
    #[allow(dead_code)] // tests/control.rs only
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let (key, value) = self.tag.split_once('=').unwrap();
        cmd.env(key, value).stdin(Stdio::null());
        cmd
    }

    /// Records a PID to kill at the end of the test.
    pub fn track(&self, pid: i32) {
        self.pids.borrow_mut().push(pid);
    }

    /// The live (not zombie) processes started for this test.
    pub fn live_processes(&self) -> Vec<i32> {
        all_pids()
            .into_iter()
            .filter(|&pid| self.owns(pid) && Proc(pid).alive())
            .collect()
    }

    fn owns(&self, pid: i32) -> bool {
        fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == self.tag.as_bytes()))
    }

    /// Waits until no process of this test is alive (a daemon that reported failure
    /// may take a moment to exit after the launcher did).
    pub fn assert_no_daemon(&self) {
        wait_until("no daemon left running", || {
            let live = self.live_processes();
            live.is_empty()
                .then_some(())
                .ok_or(format!("live: {live:?}"))
        });
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        // Only processes that still carry our tag: a recorded PID whose process died
        // may have been reused by an unrelated one.
        let mut pids: Vec<i32> = self.pids.take();
        pids.extend(self.live_processes());
        pids.retain(|&pid| self.owns(pid));
        for &pid in &pids {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // No panic here (this may run while unwinding): a bounded wait, then on.
        let start = Instant::now();
        while pids.iter().any(|&pid| Proc(pid).alive()) && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(5));
        }
        reap_children();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Reaps every child that has exited: daemons reparented to the runner (a subreaper)
/// and foreground helpers. Tests run one at a time, so no `Command` is waiting.
pub fn reap_children() {
    loop {
        // SAFETY: a null status pointer is allowed.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Zombie children of the runner: exited processes nobody reaped.
pub fn zombie_children() -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            Proc(pid)
                .try_stat()
                .is_some_and(|s| s.state == 'Z' && s.ppid == runner_pid())
        })
        .collect()
}

/// A helper process to be started: the scenario's options go in `DAEMONIC_OPT_*`.
pub struct Launch<'t> {
    test: &'t Test,
    cmd: Command,
    /// Where the daemon's report appears, as the runner sees it.
    report: PathBuf,
}

impl<'t> Launch<'t> {
    pub fn opt(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd
            .env(format!("DAEMONIC_OPT_{}", key.to_uppercase()), value);
        self
    }

    /// The default pidfile of the test.
    pub fn pidfile(self) -> Self {
        let path = self.test.pidfile();
        self.opt("pidfile", path)
    }

    /// Chroots the daemon into `jail`; its report goes to the jail's `/report`.
    pub fn chroot(mut self, jail: &Path) -> Self {
        self.report = jail.join("report");
        self.opt("chroot", jail).opt("report", "/report")
    }

    /// Where the daemon writes its report: helpers launched at the same time need one
    /// each, as `spawn` recreates the file.
    #[allow(dead_code)] // tests/control.rs only
    pub fn report_to(mut self, path: PathBuf) -> Self {
        self.report = path.clone();
        self.opt("report", path)
    }

    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Self {
        self.cmd.stdin(stdin);
        self
    }

    pub fn spawn(mut self) -> Launched<'t> {
        // A fresh, empty report any user can write: daemons that dropped root too.
        let _ = fs::remove_file(&self.report);
        File::create(&self.report).unwrap();
        fs::set_permissions(&self.report, fs::Permissions::from_mode(0o666)).unwrap();
        Launched {
            test: self.test,
            child: self.cmd.spawn().unwrap(),
            start: Instant::now(),
            report: self.report,
        }
    }

    /// Runs the launcher to its end (see [`Launched::finish`]).
    pub fn run(self) -> Output<'t> {
        self.spawn().finish()
    }

    /// Runs the launcher, expects it to succeed, and returns the daemon's PID.
    pub fn start(self) -> i32 {
        let launched = self.spawn();
        let report = launched.report.clone();
        let out = launched.finish();
        out.assert_success();
        wait_report(out.test, &report).pid()
    }
}

/// A running helper process.
pub struct Launched<'t> {
    test: &'t Test,
    child: Child,
    start: Instant,
    report: PathBuf,
}

impl<'t> Launched<'t> {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the daemon's report (written before it reports ready).
    pub fn report(&self) -> Report {
        wait_report(self.test, &self.report)
    }

    /// Waits for the launcher to exit *and* for its stdout and stderr pipes to reach end
    /// of file, as `$(cmd)` does: a daemon holding a copy of a pipe hangs it.
    pub fn finish(self) -> Output<'t> {
        self.finish_within(DEADLINE)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`finish`](Launched::finish), giving up after `limit`: the launcher is killed
    /// then and the error says what was still open.
    pub fn finish_within(mut self, limit: Duration) -> Result<Output<'t>, String> {
        let mut pipes = [
            Pipe::new(self.child.stdout.take().unwrap().into()),
            Pipe::new(self.child.stderr.take().unwrap().into()),
        ];
        while pipes.iter().any(|p| p.open) {
            if self.start.elapsed() > limit {
                let exited = self.child.try_wait().ok().flatten().is_some();
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(if exited {
                    format!(
                        "launcher {} exited, but its stdout/stderr pipe was still open \
                         {limit:?} after it started: some process (the daemon?) kept a copy",
                        self.pid()
                    )
                } else {
                    format!("launcher {} still running after {limit:?}", self.pid())
                });
            }
            let mut polled: Vec<libc::pollfd> = pipes
                .iter()
                .filter(|p| p.open)
                .map(|p| libc::pollfd {
                    fd: p.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: `polled` is a valid array of pollfd for the duration of the call.
            unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 10) };
            pipes.iter_mut().for_each(Pipe::drain);
        }
        let status = self.child.wait().unwrap();
        let [out, err] = pipes.map(|p| String::from_utf8_lossy(&p.data).into_owned());
        Ok(Output {
            test: self.test,
            code: status.code(),
            stdout: out,
            stderr: err,
            elapsed: self.start.elapsed(),
        })
    }
}

/// One of a launcher's output pipes, read without blocking.
struct Pipe {
    fd: File,
    data: Vec<u8>,
    open: bool,
}

impl Pipe {
    fn new(fd: OwnedFd) -> Pipe {
        // SAFETY: F_SETFL on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        Pipe {
            fd: fd.into(),
            data: Vec::new(),
            open: true,
        }
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while self.open {
            match self.fd.read(&mut buf) {
                Ok(0) => self.open = false,
                Ok(n) => self.data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("reading a launcher's output: {e}"),
            }
        }
    }
}

/// How a launcher ended.
pub struct Output<'t> {
    test: &'t Test,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From the spawn to the exit (and the end of its output).
    pub elapsed: Duration,
}

impl Output<'_> {
    pub fn assert_success(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "launcher failed; stderr: {:?}",
            self.stderr
        );
        assert_eq!(
            self.stderr, "",
            "the launcher succeeded but wrote to stderr"
        );
    }

    /// The launcher failed with `code` and printed exactly one `daemonic: ` line on
    /// stderr, containing each of `fragments`.
    pub fn assert_failure(&self, code: i32, fragments: &[&str]) {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stderr: {:?}",
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {:?}", self.stderr);
        assert!(lines[0].starts_with("daemonic: "), "{:?}", lines[0]);
        for fragment in fragments {
            assert!(
                lines[0].contains(fragment),
                "{:?} should contain {fragment:?}",
                lines[0]
            );
        }
    }
}

/// What a daemon wrote about itself: `key=value` lines, then `end`.
pub struct Report(BTreeMap<String, String>);

impl Report {
    pub fn get(&self, key: &str) -> usize {
        self.0[key].parse().unwrap()
    }

    pub fn pid(&self) -> i32 {
        self.get("pid") as i32
    }
}

fn wait_report(test: &Test, path: &Path) -> Report {
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
    test.track(report.pid());
    report
}

/// The few fields of `/proc/<pid>/stat` the tests look at.
#[derive(Debug)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
}

/// A process, seen through `/proc`.
#[derive(Clone, Copy, Debug)]
pub struct Proc(pub i32);

impl Proc {
    fn read(&self, file: &str) -> String {
        let path = format!("/proc/{}/{file}", self.0);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn try_stat(&self) -> Option<Stat> {
        let text = fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?;
        // The command name (field 2) may hold spaces and parentheses: skip past it.
        let fields: Vec<&str> = text[text.rfind(')')? + 2..].split(' ').collect();
        let num = |i: usize| fields[i].parse().unwrap();
        Some(Stat {
            state: fields[0].chars().next()?,
            ppid: num(1),
            pgrp: num(2),
            session: num(3),
            tty_nr: num(4),
        })
    }

    pub fn stat(&self) -> Stat {
        self.try_stat()
            .unwrap_or_else(|| panic!("no process {}", self.0))
    }

    /// Exists and is not a zombie.
    pub fn alive(&self) -> bool {
        self.try_stat().is_some_and(|s| s.state != 'Z')
    }

    /// The value of a `/proc/<pid>/status` line, e.g. `status("Umask")` is `"0027"`.
    pub fn status(&self, key: &str) -> String {
        let text = self.read("status");
        let prefix = format!("{key}:");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key} in status of {}", self.0))
            .trim()
            .to_owned()
    }

    /// A numeric list of `/proc/<pid>/status` (`Uid`, `Gid`, `Groups`), sorted.
    pub fn ids(&self, key: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .status(key)
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// A signal mask of `/proc/<pid>/status` (`SigIgn`, `SigBlk`, ...).
    pub fn sigmask(&self, key: &str) -> u64 {
        u64::from_str_radix(&self.status(key), 16).unwrap()
    }

    /// Each open descriptor and what it points to (any socket as just `socket`).
    pub fn fds(&self) -> BTreeMap<i32, String> {
        let dir = format!("/proc/{}/fd", self.0);
        fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| {
                let e = e.ok()?;
                let fd = e.file_name().to_str()?.parse().ok()?;
                let target = fs::read_link(e.path()).ok()?.display().to_string();
                let target = if target.starts_with("socket:") {
                    "socket".to_owned()
                } else {
                    target
                };
                Some((fd, target))
            })
            .collect()
    }

    /// The open flags of a descriptor (`/proc/<pid>/fdinfo/<fd>`, octal).
    pub fn fd_flags(&self, fd: i32) -> i32 {
        let text = self.read(&format!("fdinfo/{fd}"));
        let flags = text.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
        i32::from_str_radix(flags.trim(), 8).unwrap()
    }

    pub fn link(&self, name: &str) -> PathBuf {
        fs::read_link(format!("/proc/{}/{name}", self.0)).unwrap()
    }

    /// A line of `/proc/<pid>/limits` as "soft hard", e.g. `limit("Max core file size")`.
    pub fn limit(&self, name: &str) -> String {
        let text = self.read("limits");
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        let values: Vec<&str> = line[name.len()..].split_whitespace().collect();
        format!("{} {}", values[0], values[1])
    }
}

/// What is at `path` (type, mode, inode and, for a regular file, its bytes), to show
/// that a failed start left it as it was. `None` if nothing is there.
pub fn file_state(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    let kind = meta.file_type();
    let content = if kind.is_file() {
        format!("{:?}", fs::read_to_string(path).unwrap())
    } else if kind.is_symlink() {
        format!("symlink to {:?}", fs::read_link(path).unwrap())
    } else if kind.is_fifo() {
        "fifo".to_owned()
    } else {
        "other".to_owned()
    };
    Some(format!(
        "mode {:o} inode {} {content}",
        meta.mode(),
        meta.ino()
    ))
}

/// Whether some process holds an `flock` on the file at `path`.
pub fn is_locked(path: &Path) -> bool {
    let file = File::open(path).unwrap();
    // SAFETY: flock on a descriptor we own; the lock goes with `file`.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
}

/// The PID a pidfile holds, checking its format: decimal digits and one newline.
pub fn pidfile_pid(path: &Path) -> i32 {
    let text = fs::read_to_string(path).unwrap();
    let digits = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("pidfile content {text:?} lacks its newline"));
    digits
        .parse()
        .unwrap_or_else(|_| panic!("pidfile content {text:?} is not a PID"))
}

/// An account of /etc/passwd: (uid, primary gid).
pub fn passwd_entry(name: &str) -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("no user {name} in /etc/passwd"))
}

/// The groups of /etc/group: (name, gid, members).
pub fn groups() -> Vec<(String, u32, Vec<String>)> {
    fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() > 3 && !f[0].starts_with('#'))
        .filter_map(|f| {
            let members = f[3].split(',').filter(|m| !m.is_empty());
            Some((
                f[0].to_owned(),
                f[2].parse().ok()?,
                members.map(str::to_owned).collect(),
            ))
        })
        .collect()
}

/// What initgroups(3) gives `user` with primary group `gid`, sorted.
pub fn initgroups(user: &str, gid: u32) -> Vec<u32> {
    let mut set: Vec<u32> = groups()
        .into_iter()
        .filter(|(_, _, members)| members.iter().any(|m| m == user))
        .map(|(_, g, _)| g)
        .chain([gid])
        .collect();
    set.sort_unstable();
    set.dedup();
    set
}
