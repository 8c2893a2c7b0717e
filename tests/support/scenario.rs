//! The helper's side: one scenario in a fresh, single-threaded process. The runner
//! chooses the start function in `DAEMONIC_SCENARIO` ("start", "pending" or "fork") and
//! everything else in `DAEMONIC_OPT_*` variables. The helper first makes itself a
//! "dirty" launcher (leaked descriptors, blocked and ignored signals, a strict umask),
//! so the runner's checks of the daemon prove the library cleaned up.
//!
//! `tests/control.rs` adds four scenarios: "restart" (`Daemon::restart`, otherwise as
//! "fork"), "ctl" (no daemon: one `status` or `stop` call, from a process of its own
//! process group, its outcome printed as `key=value` lines), "hold_pidfile"
//! (`Pidfile::open`, then hold the lock without writing, as a starter between its lock
//! and its write) and "churn_pidfile" (`Pidfile::open` and release, in a loop).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use daemonic::{
    parse_signal, Daemon, Detach, Disposition, Fork, Groups, Pending, Pidfile, Running, Schedule,
    Signal, Status, Stdio, Stopped,
};

/// Counts every allocation, in the runner and in helpers alike.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// The count right before the library call.
static BEFORE: AtomicUsize = AtomicUsize::new(0);
/// The count at the first `fork` (set by a `pthread_atfork` handler in the launcher,
/// so the daemon inherits it): `after - AT_FORK` is exactly what was allocated
/// between the fork and the library's return.
static AT_FORK: AtomicUsize = AtomicUsize::new(usize::MAX);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, SeqCst);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, SeqCst);
        System.realloc(ptr, layout, size)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

extern "C" fn record_fork() {
    // Only the first fork: the intermediate process's fork must not move it.
    let _ = AT_FORK.compare_exchange(usize::MAX, ALLOCS.load(SeqCst), SeqCst, SeqCst);
}

/// A scenario option, from `DAEMONIC_OPT_<KEY>`.
fn opt(key: &str) -> Option<String> {
    std::env::var(format!("DAEMONIC_OPT_{}", key.to_uppercase())).ok()
}

/// A helper-side problem (not the library's): exit 99 so the runner's assertion on
/// the exit code shows the message.
fn die(what: &str) -> ! {
    eprintln!("helper: {what}");
    std::process::exit(99)
}

fn check(ok: bool, what: &str) {
    if !ok {
        die(&format!("{what}: {}", std::io::Error::last_os_error()));
    }
}

/// Returns early from a test on architectures the seccomp filters here do not know.
macro_rules! require_x86_64 {
    () => {
        if !cfg!(target_arch = "x86_64") {
            return $crate::support::runner::Outcome::Skipped(
                "needs x86_64 because the seccomp filter is written for it".into(),
            );
        }
    };
}
pub(crate) use require_x86_64;

/// In a helper process (`DAEMONIC_SCENARIO` set), runs the scenario and never
/// returns; in the runner, returns at once.
pub fn run_if_helper() {
    if let Ok(scenario) = std::env::var("DAEMONIC_SCENARIO") {
        run(&scenario);
    }
}

/// Runs the scenario; never returns.
fn run(scenario: &str) -> ! {
    match scenario {
        "ctl" => ctl(),
        "hold_pidfile" => hold_pidfile(),
        "churn_pidfile" => churn_pidfile(),
        _ => {}
    }
    // SAFETY: registers a plain function; no other thread exists yet.
    check(
        unsafe { libc::pthread_atfork(Some(record_fork), None, None) } == 0,
        "pthread_atfork",
    );
    make_dirty();
    prepare_launcher();
    let daemon = configure();
    if let Some(fifo) = opt("go_fifo") {
        wait_for_go(&fifo);
    }
    // Rust's stdout allocates its buffer on first use; the library flushes it before
    // forking. Touch it now so that allocation is not counted in the library call.
    let _ = std::io::stdout().flush();
    BEFORE.store(ALLOCS.load(SeqCst), SeqCst);
    let started = match scenario {
        "start" => Started::Running(daemon.start()),
        "pending" => Started::Pending(daemon.start_pending()),
        "fork" => from_fork(daemon.fork()),
        "restart" => {
            let text = opt("schedule").unwrap_or_else(|| die("no schedule"));
            let schedule = Schedule::parse(&text, Signal::TERM)
                .unwrap_or_else(|e| die(&format!("schedule {text}: {e}")));
            from_fork(daemon.restart(&schedule))
        }
        other => die(&format!("unknown scenario {other}")),
    };
    // First thing in the daemon, before anything can allocate.
    let after = ALLOCS.load(SeqCst);
    in_daemon(started, after)
}

enum Started {
    Pending(Pending),
    Running(Running),
}

/// For the calls that return in both processes: the original process prints the
/// daemon's PID and exits 0 (or prints the error and exits with its code); the
/// daemon carries on.
fn from_fork(forked: Result<Fork, daemonic::Error>) -> Started {
    match forked {
        Ok(Fork::Daemon(pending)) => Started::Pending(pending),
        Ok(Fork::Parent(pid)) => {
            println!("{}", pid.as_raw_nonzero());
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("daemonic: {e}");
            std::process::exit(e.exit_code())
        }
    }
}

/// Leaks descriptors 7 (/dev/zero) and 250 (a copy of stdout: the runner's pipe, the
/// `$(cmd)` pitfall), blocks SIGUSR1, ignores SIGUSR2, SIGHUP and the libc-reserved
/// signal 32 (Rust already ignores SIGPIPE) and sets the umask to 077 (or
/// `launcher_umask`).
fn make_dirty() {
    let umask = opt("launcher_umask").map_or(0o077, |m| octal(&m));
    // SAFETY: plain system calls on descriptors and signal state we own; every
    // pointer is to a live local.
    unsafe {
        let zero = libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY);
        check(zero >= 0 && libc::dup2(zero, 7) == 7, "leak fd 7");
        if zero != 7 {
            libc::close(zero);
        }
        // dup2 never sets close-on-exec: both leak into any child.
        check(libc::dup2(1, 250) == 250, "leak fd 250");
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        check(
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0,
            "block SIGUSR1",
        );
        libc::signal(libc::SIGUSR2, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        // Signal 32 is one glibc reserves and its sigaction refuses; the raw syscall
        // (kernel struct: handler, flags, restorer, mask) can still ignore it.
        let ignore = [libc::SIG_IGN as u64, 0, 0, 0];
        let set = libc::syscall(
            libc::SYS_rt_sigaction,
            32,
            ignore.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8,
        );
        check(set == 0, "ignore signal 32");
        libc::umask(umask as libc::mode_t);
    }
}

/// The launcher's identity and limits, and the traps some scenarios set.
fn prepare_launcher() {
    // SAFETY: plain system calls; every pointer is to a live local.
    unsafe {
        if let Some(list) = opt("launcher_groups") {
            let gids: Vec<libc::gid_t> = list.split(',').map(|g| g.parse().unwrap()).collect();
            check(libc::setgroups(gids.len(), gids.as_ptr()) == 0, "setgroups");
        }
        let rlimit = |soft: String, hard: Option<libc::rlim_t>| {
            let soft = soft.parse().unwrap();
            libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard.unwrap_or(soft),
            }
        };
        if let Some(limit) = opt("core_limit") {
            let core = rlimit(limit, None);
            check(libc::setrlimit(libc::RLIMIT_CORE, &core) == 0, "core limit");
        }
        if let Some(soft) = opt("nofile") {
            let mut old: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut old);
            let nofile = rlimit(soft, Some(old.rlim_max));
            check(libc::setrlimit(libc::RLIMIT_NOFILE, &nofile) == 0, "nofile");
        }
        if let Some(uid) = opt("launcher_uid") {
            let id = uid.parse().unwrap();
            check(libc::setgroups(0, std::ptr::null()) == 0, "drop groups");
            check(libc::setgid(id) == 0, "setgid");
            check(libc::setuid(id) == 0, "setuid");
        }
        if opt("close_stdio").is_some() {
            for fd in 0..3 {
                libc::close(fd);
            }
        }
    }
    if opt("deny_close_range").is_some() {
        deny_close_range();
    }
    if opt("thread").is_some() {
        // A second thread, parked for good on a channel nobody sends to.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || rx.recv());
        std::mem::forget(tx);
    }
}

/// A seccomp filter under which `close_range` fails with EPERM, as under some
/// container profiles, so the library must fall back to its other ways of closing.
#[cfg(target_arch = "x86_64")]
fn deny_close_range() {
    deny_syscalls(&[libc::SYS_close_range], libc::EPERM);
    // The filter must bite, or the test would prove nothing.
    // SAFETY: close_range on a range where nothing is open.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, 100_000u32, 100_000u32, 0u32) };
    if ret != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        die("close_range still works under the seccomp filter");
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn deny_close_range() {
    die("the seccomp filter is written for x86_64")
}

/// How each option changes the `Daemon`.
type Setter = fn(Daemon<'static>, String) -> Daemon<'static>;

const SETTERS: &[(&str, Setter)] = &[
    ("pidfile", |d, v| d.pidfile(v)),
    ("workdir", |d, v| d.working_directory(v)),
    ("nul_workdir", |d, v| d.working_directory(format!("{v}\0x"))),
    ("chroot", |d, v| d.chroot_directory(v)),
    ("umask", |d, v| d.umask(octal(&v))),
    ("output_mode", |d, v| d.output_mode(octal(&v))),
    ("user", |d, v| d.user(&*v.leak())),
    ("group", |d, v| d.group(&*v.leak())),
    ("groups", |d, v| d.supplementary_groups(groups(v))),
    ("keep_core", |d, _| d.prevent_core(false)),
    ("preserve", |d, v| d.preserve_fd(v.parse().unwrap())),
    ("stdin", |d, v| d.stdin(file(&v))),
    ("stdout", |d, v| d.stdout(file(&v))),
    ("stderr", |d, v| d.stderr(file(&v))),
    ("signals", signals),
    ("detach", |d, v| d.detach(detach(&v))),
    ("timeout_ms", |d, v| {
        d.timeout(Duration::from_millis(v.parse().unwrap()))
    }),
    ("ok_if_running", |d, _| d.ok_if_running(true)),
];

/// The `Daemon` the options describe.
fn configure() -> Daemon<'static> {
    SETTERS
        .iter()
        .fold(Daemon::new(), |d, (key, set)| match opt(key) {
            Some(value) => set(d, value),
            None => d,
        })
}

fn octal(value: &str) -> u32 {
    u32::from_str_radix(value, 8).unwrap()
}

/// `empty`, or a comma-separated list of gids.
fn groups(spec: String) -> Groups<'static> {
    if spec == "empty" {
        return Groups::Empty;
    }
    let gids: Vec<u32> = spec.split(',').map(|g| g.parse().unwrap()).collect();
    Groups::List(gids.leak())
}

/// `file:<path>`.
fn file(spec: &str) -> Stdio<'static> {
    match spec.strip_prefix("file:") {
        Some(path) => Stdio::file(path.to_owned()),
        None => die(&format!("bad stream {spec}")),
    }
}

/// `NAME:ignore` or `NAME:default`, comma-separated (any name `parse_signal` takes).
fn signals(d: Daemon<'static>, spec: String) -> Daemon<'static> {
    spec.split(',').fold(d, |d, entry| {
        let (name, disposition) = entry.split_once(':').unwrap();
        let signal = parse_signal(name).unwrap_or_else(|| die(&format!("unknown signal {name}")));
        let disposition = match disposition {
            "ignore" => Disposition::Ignore,
            _ => Disposition::Default,
        };
        d.signal(signal, disposition)
    })
}

fn detach(spec: &str) -> Detach {
    match spec {
        "never" => Detach::Never,
        "auto" => Detach::Auto,
        _ => Detach::Always,
    }
}

/// The daemon: writes its report, then does what `then` says (default: report ready
/// and sleep until killed).
fn in_daemon(started: Started, after: usize) -> ! {
    // `term_releases`: SIGTERM is blocked before anything lets the runner see the
    // daemon, and awaited at the end; then `Running` is dropped (the pidfile is removed
    // while still locked) and the daemon exits, as a daemon that handles SIGTERM does.
    // Use it with the "pending" scenario ("start" reports ready before this runs).
    let graceful = opt("term_releases").is_some();
    if graceful {
        term_blocked();
    }
    let report = format!(
        "pid={}\nbefore={}\nat_fork={}\nafter={after}\nend\n",
        std::process::id(),
        BEFORE.load(SeqCst),
        AT_FORK.load(SeqCst),
    );
    // The runner created the file, writable by anyone, for daemons that dropped root.
    let path = opt("report").unwrap_or_else(|| die("no report path"));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(report.as_bytes()));
    if let Err(e) = written {
        die(&format!("cannot write report {path}: {e}"));
    }
    let running = match started {
        Started::Running(running) => running,
        Started::Pending(pending) => match opt("then").as_deref().unwrap_or("ready") {
            "ready" => {
                before_ready();
                pending
                    .ready()
                    .unwrap_or_else(|e| die(&format!("cannot notify the supervisor: {e}")))
            }
            "drop" => {
                drop(pending);
                std::process::exit(0)
            }
            "hang" => {
                let _pending = pending;
                sleep_forever()
            }
            other => {
                let code = other.strip_prefix("fail:").and_then(|c| c.parse().ok());
                pending.fail(code.unwrap_or_else(|| die(&format!("bad then {other}"))));
                std::process::exit(0)
            }
        },
    };
    if opt("write_stdio").is_some() {
        // Through Rust's own handles, as a daemon would log.
        let _ = std::io::stdout().write_all(b"out1\n");
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().write_all(b"err1\n");
        let _ = std::io::stdout().write_all(b"out2\n");
        let _ = std::io::stdout().flush();
    }
    if graceful {
        wait_for_term();
        drop(running);
        std::process::exit(0)
    }
    let _running = running;
    sleep_forever()
}

/// The set holding only SIGTERM, now blocked.
fn term_blocked() -> libc::sigset_t {
    // SAFETY: plain calls on a local signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        check(
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0,
            "block SIGTERM",
        );
        set
    }
}

fn wait_for_term() {
    let set = term_blocked();
    let mut signal = 0;
    // SAFETY: `set` and `signal` are live locals.
    while unsafe { libc::sigwait(&set, &mut signal) } != 0 || signal != libc::SIGTERM {}
}

/// `go_fifo`: a start barrier. Leave `<fifo>.waiting.<pid>` for the runner to count,
/// then block in the FIFO's open until the runner opens it for writing, which
/// releases every waiting helper at once.
fn wait_for_go(fifo: &str) {
    let marker = format!("{fifo}.waiting.{}", std::process::id());
    if let Err(e) = std::fs::write(&marker, "") {
        die(&format!("{marker}: {e}"));
    }
    if let Err(e) = std::fs::File::open(fifo) {
        die(&format!("{fifo}: {e}"));
    }
}

/// The "ctl" scenario: one `status` (`verb=status`) or `stop` (`verb=stop`, with
/// `schedule`) on `pidfile`, from a process that is its own process group, so that a
/// signal wrongly sent to "process group 0" or to the caller kills only this helper
/// (the runner sees a death by signal). Options: `write_own_pid` writes this process's
/// PID into the pidfile first; `deny_pidfd` makes `pidfd_open` and
/// `pidfd_send_signal` fail with ENOSYS (a seccomp filter), as on kernels before 5.3.
/// Prints `outcome=`, `code=`, `pid=`, `kind=`, `error=` and `ms=` lines, then `end`.
fn ctl() -> ! {
    // SAFETY: setpgid on ourselves.
    check(unsafe { libc::setpgid(0, 0) } == 0, "setpgid");
    let path = opt("pidfile").unwrap_or_else(|| die("no pidfile"));
    if opt("deny_pidfd").is_some() {
        deny_pidfd();
    }
    if opt("write_own_pid").is_some() {
        if let Err(e) = std::fs::write(&path, format!("{}\n", std::process::id())) {
            die(&format!("{path}: {e}"));
        }
    }
    let raw = |pid: Option<daemonic::Pid>| pid.map_or(0, |p| p.as_raw_nonzero().get());
    let start = std::time::Instant::now();
    let lines = match opt("verb").as_deref() {
        Some("status") => {
            let status = daemonic::status(&*path);
            let (outcome, pid) = match &status {
                Status::Running { pid } => ("running", raw(*pid)),
                Status::Stale { pid } => ("stale", raw(*pid)),
                Status::NotRunning => ("not_running", 0),
                Status::Unknown(e) => {
                    println!("kind={:?}\nerror={e}", e.kind());
                    ("unknown", 0)
                }
            };
            format!("outcome={outcome}\npid={pid}\ncode={}", status.exit_code())
        }
        Some("stop") => {
            let text = opt("schedule").unwrap_or_else(|| die("no schedule"));
            let schedule = Schedule::parse(&text, Signal::TERM)
                .unwrap_or_else(|e| die(&format!("schedule {text}: {e}")));
            match daemonic::stop(&*path, &schedule) {
                Ok(stopped) => {
                    let (outcome, pid) = match stopped {
                        Stopped::Exited { pid } => ("exited", raw(Some(pid))),
                        Stopped::Signalled { pid } => ("signalled", raw(Some(pid))),
                        Stopped::NotRunning => ("not_running", 0),
                        Stopped::StillRunning { pid } => ("still_running", raw(Some(pid))),
                    };
                    format!("outcome={outcome}\npid={pid}\ncode={}", stopped.exit_code())
                }
                Err(e) => format!("outcome=error\nkind={:?}\nerror={e}", e.kind()),
            }
        }
        other => die(&format!("bad verb {other:?}")),
    };
    println!("{lines}\nms={}\nend", start.elapsed().as_millis());
    std::process::exit(0)
}

/// The "hold_pidfile" scenario: `Pidfile::open` on `pidfile` (which locks it and, as
/// its documentation shows, is then to be written), then hold the lock without writing,
/// leaving `marker` once locked.
fn hold_pidfile() -> ! {
    let path = opt("pidfile").unwrap_or_else(|| die("no pidfile"));
    let _pidfile = match Pidfile::open(&*path) {
        Ok(pidfile) => pidfile,
        Err(e) => {
            eprintln!("daemonic: {e}");
            std::process::exit(e.exit_code())
        }
    };
    if let Some(marker) = opt("marker") {
        std::fs::write(marker, "").unwrap();
    }
    sleep_forever()
}

/// The "churn_pidfile" scenario: a daemon starting and releasing its pidfile over and
/// over, through the library: `Pidfile::open`, then drop it (which removes the file
/// while still locked, then closes it). It stops when `until` exists, after `rounds`
/// attempts, or (unless `contend`) when another process holds the lock; any other
/// error ends it too unless `contend`, which counts the errors instead. Waits at
/// `go_fifo` first if given. Prints `released=`, `already=`, `refused=` (other errors)
/// and `first_refusal=` lines, then `end`.
fn churn_pidfile() -> ! {
    let path = opt("pidfile").unwrap_or_else(|| die("no pidfile"));
    let until = opt("until");
    let rounds: Option<u64> = opt("rounds").map(|r| r.parse().unwrap());
    let contend = opt("contend").is_some();
    if let Some(fifo) = opt("go_fifo") {
        wait_for_go(&fifo);
    }
    let (mut released, mut already, mut refused) = (0u64, 0u64, 0u64);
    let mut first_refusal = String::new();
    for attempt in 0.. {
        if rounds.is_some_and(|r| attempt >= r)
            || until.as_ref().is_some_and(|u| Path::new(u).exists())
        {
            break;
        }
        match Pidfile::open(&*path) {
            Ok(pidfile) => {
                drop(pidfile);
                released += 1;
            }
            Err(e) if matches!(e.kind(), daemonic::ErrorKind::AlreadyRunning { .. }) => {
                already += 1;
                if !contend {
                    break;
                }
            }
            Err(e) if contend => {
                refused += 1;
                if first_refusal.is_empty() {
                    first_refusal = e.to_string();
                }
            }
            Err(e) => {
                eprintln!("daemonic: {e}");
                std::process::exit(e.exit_code())
            }
        }
    }
    println!(
        "released={released}\nalready={already}\nrefused={refused}\nfirst_refusal={first_refusal}\nend"
    );
    std::process::exit(0)
}

/// A seccomp filter under which `pidfd_open` and `pidfd_send_signal` fail with ENOSYS.
#[cfg(target_arch = "x86_64")]
fn deny_pidfd() {
    deny_syscalls(
        &[libc::SYS_pidfd_open, libc::SYS_pidfd_send_signal],
        libc::ENOSYS,
    );
    // SAFETY: pidfd_open with integer arguments; a success would leak one descriptor.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if ret != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
        die("pidfd_open still works under the seccomp filter");
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn deny_pidfd() {
    die("the seccomp filter is written for x86_64")
}

/// Installs a seccomp filter making each of `syscalls` fail with `errno` (x86_64).
#[cfg(target_arch = "x86_64")]
fn deny_syscalls(syscalls: &[libc::c_long], errno: i32) {
    use libc::{sock_filter, BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump_if = |k: u32, jt: u8, jf: u8| sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let allow = stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW);
    let deny = stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ERRNO | errno as u32);
    let mut filter = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, 4), // seccomp_data.arch
        jump_if(AUDIT_ARCH_X86_64, 1, 0),
        allow,
        stmt(BPF_LD | BPF_W | BPF_ABS, 0), // seccomp_data.nr
    ];
    for &nr in syscalls {
        // Equal: fall through to the denial; otherwise skip it.
        filter.push(jump_if(nr as u32, 0, 1));
        filter.push(deny);
    }
    filter.push(allow);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `prog` points to `filter`, both alive for the calls; the kernel copies them.
    unsafe {
        check(
            libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ) == 0,
            "no_new_privs",
        );
        check(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::c_ulong::from(libc::SECCOMP_MODE_FILTER),
                &prog as *const libc::sock_fprog,
            ) == 0,
            "seccomp",
        );
    }
}

/// What the daemon does before `ready()`: wait for the runner's go-ahead (so it can
/// look at the daemon while the launcher still waits), sleep, leave a marker.
fn before_ready() {
    if let Some(go) = opt("hold") {
        while !Path::new(&go).exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if let Some(ms) = opt("delay_ms") {
        std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
    }
    if let Some(marker) = opt("marker") {
        std::fs::write(marker, "").unwrap();
    }
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
