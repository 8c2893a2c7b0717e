//! The helper's side: one [`Scenario`] in a fresh, single-threaded process (this very
//! binary, started by the runner with `DAEMONIC_SCENARIO` set). The helper first makes
//! itself a "dirty" launcher (leaked descriptors, blocked and ignored signals, a strict
//! umask), so the runner's checks of the daemon prove the library cleaned up; then it
//! makes the library call, and in the daemon writes a report and does what the
//! scenario says. The calls that start no daemon are in `controller.rs`.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use daemonic::{Daemon, Fork, Groups, Pending, Running, Schedule, Signal, Stdio};

use super::allocs::{self, Counts};
use super::controller;
use super::scenario::{Call, Scenario, Then, VAR};
use super::seccomp;

/// A helper-side problem (not the library's): exit 99 so the runner's assertion on
/// the exit code shows the message.
pub(super) fn die(what: &str) -> ! {
    eprintln!("helper: {what}");
    std::process::exit(99)
}

pub(super) fn check(ok: bool, what: &str) {
    if !ok {
        die(&format!("{what}: {}", std::io::Error::last_os_error()));
    }
}

/// In a helper process (`DAEMONIC_SCENARIO` set), runs its scenario and never
/// returns; in the runner, returns at once.
pub fn run_if_helper() {
    if let Some(text) = std::env::var_os(VAR) {
        match Scenario::decode(text.as_bytes()) {
            Ok(scenario) => run(&scenario),
            Err(e) => die(&format!("{VAR}: {e}")),
        }
    }
}

fn run(s: &Scenario) -> ! {
    match s.call {
        Call::Stop => controller::stop(s),
        Call::HoldPidfile => controller::hold_pidfile(s),
        Call::ChurnPidfile => controller::churn_pidfile(s),
        Call::Start | Call::StartPending | Call::Fork | Call::Restart => {}
    }
    make_dirty(s);
    prepare_launcher(s);
    let daemon = configure(s);
    if let Some(fifo) = &s.go_fifo {
        wait_for_go(fifo);
    }
    // Rust's stdout allocates its buffer on first use; the library flushes it before
    // forking. Touch it now so that allocation is not counted in the library call.
    let _ = std::io::stdout().flush();
    allocs::count_forks();
    let started = match s.call {
        Call::Start => Started::Running(daemon.start()),
        Call::Fork => from_fork(daemon.fork()),
        Call::Restart => from_fork(daemon.restart(&schedule(s))),
        _ => Started::Pending(daemon.start_pending()),
    };
    // First thing in the daemon, before anything can allocate.
    let counts = allocs::counts();
    in_daemon(s, started, counts)
}

/// The scenario's stop schedule, which `Restart` and `Stop` need.
pub(super) fn schedule(s: &Scenario) -> Schedule {
    let text = s.schedule.as_deref().unwrap_or_else(|| die("no schedule"));
    Schedule::parse(text, Signal::TERM).unwrap_or_else(|e| die(&format!("schedule {text}: {e}")))
}

// `Pending` carries a deferred identity (its group list inline); one per process.
#[allow(clippy::large_enum_variant)]
enum Started<'a> {
    Pending(Pending<'a>),
    Running(Running<'a>),
}

/// For the calls that return in both processes: the original process prints the
/// daemon's PID and exits 0 (or prints the error and exits with its code); the
/// daemon carries on.
fn from_fork(forked: Result<Fork<'_>, daemonic::Error>) -> Started<'_> {
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
fn make_dirty(s: &Scenario) {
    let umask = s.launcher_umask.unwrap_or(0o077);
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
        block(libc::SIGUSR1);
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
fn prepare_launcher(s: &Scenario) {
    // SAFETY: plain system calls; every pointer is to a live local.
    unsafe {
        if let Some(gids) = &s.launcher_groups {
            check(libc::setgroups(gids.len(), gids.as_ptr()) == 0, "setgroups");
        }
        if let Some(limit) = s.core_limit {
            let core = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            check(libc::setrlimit(libc::RLIMIT_CORE, &core) == 0, "core limit");
        }
        if let Some(soft) = s.nofile {
            let mut nofile: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut nofile);
            nofile.rlim_cur = soft;
            check(libc::setrlimit(libc::RLIMIT_NOFILE, &nofile) == 0, "nofile");
        }
        if let Some(id) = s.launcher_uid {
            check(libc::setgroups(0, std::ptr::null()) == 0, "drop groups");
            check(libc::setgid(id) == 0, "setgid");
            check(libc::setuid(id) == 0, "setuid");
        }
        if s.close_stdio {
            for fd in 0..3 {
                libc::close(fd);
            }
        }
    }
    if s.deny_close_range {
        seccomp::deny_close_range();
    }
    if s.thread {
        // A second thread, parked for good on a channel nobody sends to.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || rx.recv());
        std::mem::forget(tx);
    }
}

/// The `Daemon` the scenario describes.
fn configure(s: &Scenario) -> Daemon<'_> {
    let mut d = Daemon::new();
    if let Some(path) = &s.pidfile {
        d = d.pidfile(path.as_path());
    }
    if let Some(dir) = &s.workdir {
        d = d.working_directory(dir.as_path());
    }
    if let Some(dir) = &s.chroot {
        d = d.chroot_directory(dir.as_path());
    }
    if let Some(mask) = s.umask {
        d = d.umask(mask);
    }
    if let Some(mode) = s.output_mode {
        d = d.output_mode(mode);
    }
    if let Some(user) = &s.user {
        d = d.user(user.as_str());
    }
    if let Some(group) = &s.group {
        d = d.group(group.as_str());
    }
    match s.groups.as_deref() {
        Some([]) => d = d.supplementary_groups(Groups::Empty),
        Some(gids) => d = d.supplementary_groups(Groups::List(gids)),
        None => {}
    }
    if s.keep_core {
        d = d.prevent_core(false);
    }
    if s.drop_at_ready {
        d = d.drop_privileges_at_ready(true);
    }
    if s.socket_activation {
        // As systemd passes a socket: descriptor 3 and the variables naming us.
        let null = std::fs::File::open("/dev/null").unwrap_or_else(|e| die(&format!("{e}")));
        // SAFETY: dup2 onto 3, which this single-threaded helper does not use.
        check(
            unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 3) } == 3,
            "dup2 onto 3",
        );
        std::env::set_var("LISTEN_PID", std::process::id().to_string());
        std::env::set_var("LISTEN_FDS", "1");
        std::env::set_var("LISTEN_FDNAMES", "web");
        d = d.socket_activation(true);
    }
    if let Some(fd) = s.preserve {
        d = d.preserve_fd(fd);
    }
    if let Some(path) = &s.stdin {
        d = d.stdin(Stdio::file(path.as_path()));
    }
    if let Some(path) = &s.stdout {
        d = d.stdout(Stdio::file(path.as_path()));
    }
    if let Some(path) = &s.stderr {
        d = d.stderr(Stdio::file(path.as_path()));
    }
    for &(signal, disposition) in &s.signals {
        d = d.signal(signal, disposition);
    }
    if let Some(detach) = s.detach {
        d = d.detach(detach);
    }
    if let Some(timeout) = s.timeout {
        d = d.timeout(timeout);
    }
    if s.ok_if_running {
        d = d.ok_if_running(true);
    }
    d
}

/// The daemon: writes its report, then does what the scenario says.
fn in_daemon(s: &Scenario, started: Started<'_>, counts: Counts) -> ! {
    // `term_releases`: SIGTERM is blocked before anything lets the runner see the
    // daemon. Use it with `StartPending` (`Start` reports ready before this runs).
    if s.term_releases {
        block(libc::SIGTERM);
    }
    let Counts {
        before,
        after,
        forked,
        launcher,
    } = counts;
    let report = format!(
        "pid={}\nlauncher={launcher}\nbefore={before}\nafter={after}\nforked={forked}\n\
         probe={}\neuid={}\nlisten={}\nlisten_pid={}\nend\n",
        std::process::id(),
        allocs::probe(),
        // SAFETY: geteuid(2) has no preconditions.
        unsafe { libc::geteuid() },
        daemonic::listen_fds()
            .map(|(fd, name)| format!("{fd}:{name}"))
            .collect::<Vec<_>>()
            .join(","),
        std::env::var("LISTEN_PID").unwrap_or_default(),
    );
    // The runner created the file, writable by anyone, for daemons that dropped root.
    let path = s.report.as_deref().unwrap_or_else(|| die("no report path"));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(report.as_bytes()));
    if let Err(e) = written {
        die(&format!("cannot write report {}: {e}", path.display()));
    }
    let running = match started {
        Started::Running(running) => running,
        Started::Pending(pending) => match s.then {
            Then::Ready => {
                before_ready(s);
                pending
                    .ready()
                    .unwrap_or_else(|e| die(&format!("cannot notify the supervisor: {e}")))
            }
            Then::Drop => {
                drop(pending);
                std::process::exit(0)
            }
            Then::Hang => {
                let _pending = pending;
                sleep_forever()
            }
            Then::Fail(code) => {
                pending.fail(code);
                std::process::exit(0)
            }
        },
    };
    if s.write_stdio {
        // Through Rust's own handles, as a daemon would log.
        let _ = std::io::stdout().write_all(b"out1\n");
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().write_all(b"err1\n");
        let _ = std::io::stdout().write_all(b"out2\n");
        let _ = std::io::stdout().flush();
    }
    if s.term_releases {
        wait_for_term();
        drop(running);
        std::process::exit(0)
    }
    let _running = running;
    sleep_forever()
}

/// Blocks `signal`; returns the set holding only it.
fn block(signal: libc::c_int) -> libc::sigset_t {
    // SAFETY: plain calls on a local signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        check(
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0,
            &format!("block signal {signal}"),
        );
        set
    }
}

fn wait_for_term() {
    let set = block(libc::SIGTERM);
    let mut signal = 0;
    // SAFETY: `set` and `signal` are live locals.
    while unsafe { libc::sigwait(&set, &mut signal) } != 0 || signal != libc::SIGTERM {}
}

/// `go_fifo`: a start barrier. Leave `<fifo>.waiting.<pid>` for the runner to count,
/// then block in the FIFO's open until the runner opens it for writing, which
/// releases every waiting helper at once.
pub(super) fn wait_for_go(fifo: &Path) {
    let mut marker = fifo.as_os_str().to_owned();
    marker.push(format!(".waiting.{}", std::process::id()));
    if let Err(e) = std::fs::write(&marker, "") {
        die(&format!("{}: {e}", Path::new(&marker).display()));
    }
    if let Err(e) = std::fs::File::open(fifo) {
        die(&format!("{}: {e}", fifo.display()));
    }
}

/// What the daemon does before `ready()`: wait for the runner's go-ahead (so it can
/// look at the daemon while the launcher still waits), sleep, leave a marker.
fn before_ready(s: &Scenario) {
    if let Some(go) = &s.hold {
        while !go.exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if let Some(delay) = s.delay {
        std::thread::sleep(delay);
    }
    if let Some(marker) = &s.marker {
        std::fs::write(marker, "").unwrap();
    }
}

pub(super) fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
