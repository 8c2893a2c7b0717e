//! `daemonic`: run any program as a daemon, with a locked pidfile, and control it.
//!
//! Written without std and without `core::fmt` (arguments are `CStr`s, output is
//! composed by `out::Line` and goes through `write`) so that a static musl build
//! stays small; see `daemonic --help` for the commands. Under `cargo test` it is an
//! ordinary std program whose unit tests cover the parser and the line writer.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod args;
mod environment;
mod help;
mod list;
mod out;
mod sys;

use core::ffi::CStr;
use daemonic::{
    status, stop, Daemon, Detach, ErrorKind, Exit, Facility, Pid, Program, RunState, Runs,
    Schedule, Status, Stdio, Stopped, Supervision, Syslog,
};

use args::{Command, Options};
use out::Line;

/// Runs the command line `args` (without the program name) with the environment `env`.
pub fn run(args: &[&CStr], env: sys::Environ) -> i32 {
    let o = match args::parse(args) {
        Ok(o) => o,
        Err(usage) => {
            let mut line = out::error_line();
            line.text(usage.what);
            if let Some(arg) = usage.arg {
                line.text(" ").shown(arg.to_bytes());
            }
            line.text(" (see daemonic --help)").print(2);
            // LSB: a status that cannot be asked is "unknown", never "not running".
            return if args.first() == Some(&c"status") {
                4
            } else {
                3
            };
        }
    };
    match o.command {
        Command::Help => {
            help::write(1);
            0
        }
        Command::Version => {
            let version = concat!("daemonic ", env!("CARGO_PKG_VERSION"), "\n");
            out::write_all(1, version.as_bytes());
            0
        }
        Command::Start => start(&o, env),
        Command::Stop => stop_command(&o, None),
        Command::Status => status_command(&o),
        Command::Restart => match stop_command(&o, Some("TERM/30/KILL/5")) {
            0 | 1 => start(&o, env),
            code => code,
        },
    }
}

/// Prints `line` on stdout unless `--quiet`.
fn info(o: &Options<'_>, line: &mut Line) {
    if !o.quiet {
        line.print(1);
    }
}

/// Prints `daemonic: ERROR` on stderr; returns the error's exit status.
fn fail(err: &daemonic::Error) -> i32 {
    out::error_line().error(err).print(2);
    err.exit_code()
}

/// The number of `pid`.
fn raw(pid: Pid) -> u32 {
    pid.as_raw_nonzero().get() as u32
}

/// `stop`; `default` is the schedule without `--retry` (restart's), else just `--signal`.
fn stop_command(o: &Options<'_>, default: Option<&str>) -> i32 {
    let pidfile = o.pidfile.unwrap_or_default();
    let stopped = match o.retry.or(default) {
        Some(text) => Schedule::parse(text, o.signal),
        None => Ok(Schedule::signal(o.signal)),
    }
    .and_then(|schedule| stop(pidfile, &schedule));
    let stopped = match &stopped {
        Ok(s) => *s,
        Err(e) => return fail(e),
    };
    let mut line = Line::new();
    match stopped {
        Stopped::Exited { pid } => line.text("stopped (pid ").number(raw(pid)),
        Stopped::Signalled { pid } => line.text("signalled (pid ").number(raw(pid)),
        Stopped::NotRunning if o.command == Command::Restart => return 0,
        Stopped::NotRunning => line.text("not running (pidfile ").shown(pidfile.to_bytes()),
        Stopped::StillRunning { pid } => {
            let mut line = out::error_line();
            line.text("pid ").number(raw(pid));
            line.text(" still runs after the stop schedule").print(2);
            return stopped.exit_code();
        }
    };
    info(o, line.text(")"));
    match stopped {
        Stopped::NotRunning if o.oknodo => 0,
        _ => stopped.exit_code(),
    }
}

fn status_command(o: &Options<'_>) -> i32 {
    let pidfile = o.pidfile.unwrap_or_default();
    let shown = pidfile.to_bytes();
    let state = status(pidfile);
    let mut line = Line::new();
    match &state {
        Status::Running {
            pid: Some(pid),
            runs,
        } => {
            line.text("running (pid ").number(raw(*pid));
            if let Some(runs) = runs {
                restarts(&mut line, runs);
            }
            &mut line
        }
        Status::Running { pid: None, .. } => line.text("running (starting; pidfile ").shown(shown),
        Status::Stale { pid } => {
            line.text("not running (stale pidfile ").shown(shown);
            if let Some(pid) = pid {
                line.text(" names pid ").number(raw(*pid));
            }
            &mut line
        }
        Status::NotRunning => {
            info(o, line.text("not running"));
            return state.exit_code();
        }
        Status::Unknown(e) => {
            out::error_line().error(e).print(2);
            return state.exit_code();
        }
    };
    info(o, line.text(")"));
    state.exit_code()
}

/// A monitor's runs, after its PID: `; 2 restarts, the last run exited 1`, and
/// where the program is unless up.
fn restarts(line: &mut Line, runs: &Runs) {
    line.text("; ")
        .number(runs.restarts)
        .text(match runs.restarts {
            1 => " restart, the last run ",
            _ => " restarts, the last run ",
        });
    match runs.last_exit {
        Exit::Code(code) => line.text("exited ").number(code.into()),
        Exit::Signal(sig) => line.text("was killed by signal ").number(sig.into()),
    };
    line.text(match runs.now {
        RunState::Up => "",
        RunState::Starting => "; the program is starting",
        RunState::Down => "; the program is not running",
    });
}

fn start(o: &Options<'_>, env: sys::Environ) -> i32 {
    let mut program_env = sys::Strings::new();
    if environment::build(o, env, &mut program_env).is_err() {
        let mut line = out::error_line();
        line.text("more than ").number(sys::MAX as u32);
        line.text(" environment variables for the program").print(2);
        return 3;
    }
    let program_env = program_env.as_slice();
    // A bare name is looked for in the program's PATH by the daemon, as execvp(3)
    // would: inside --chroot, from --chdir, as --user.
    let program = Program {
        path: o.program[0],
        args: o.program,
        env: program_env,
    };
    let d = daemon(o);
    let started = if o.supervise {
        let mut policy = Supervision::new();
        policy.restart = o.restart.unwrap_or(policy.restart);
        policy.delay = o.restart_delay.unwrap_or(policy.delay);
        policy.log_file = o.log_file;
        policy.log_max_size = o.log_max_size.and_then(core::num::NonZeroU64::new);
        policy.forward_to_group = o.forward_to_group;
        policy.syslog = o.syslog.map(|tag| Syslog {
            tag,
            facility: o.syslog_facility.unwrap_or(Facility::Daemon),
        });
        d.supervise(&program, policy)
    } else {
        d.exec(&program)
    };
    // By reference: the error is not moved out of the result (a copy).
    match &started {
        Ok(_) => 0,
        Err(e) if matches!(e.kind(), ErrorKind::AlreadyRunning { .. }) && o.oknodo => {
            info(o, Line::new().error(e));
            0
        }
        Err(e) => fail(e),
    }
}

/// `--stdout`/`--stderr`'s value: `inherit` (the stream the command was given; a
/// file of that name is `./inherit`); `/dev/stdout`, `/dev/stderr` or `/dev/fd/N`,
/// the command's own descriptor (opening the name would fail for a socket, as
/// journald's); else a file.
fn stream(value: &CStr) -> Stdio<'_> {
    // A table: one loop, not a comparison per name.
    let v = value.to_bytes();
    let fd = match args::find(b"inherit\0/dev/stdout\0/dev/stderr\0", v) {
        Some(0) => return Stdio::inherit(),
        Some(i) => Some(i as i32),
        None => v
            .strip_prefix(b"/dev/fd/")
            .and_then(|n| args::decimal(n, i32::MAX as u64))
            .map(|n| n as i32),
    };
    match fd {
        Some(fd) => Stdio::fd(fd),
        None => Stdio::file(value),
    }
}

/// The umask this process runs with (`umask(2)` can only swap: set it back).
fn current_umask() -> u32 {
    let mask = rustix::process::umask(rustix::fs::Mode::empty());
    rustix::process::umask(mask);
    mask.bits() as u32
}

/// The daemon the start options describe. Out of line: the builder's copies stay in
/// a frame that is gone before the start goes deeper (a resident monitor keeps every
/// stack page its start touched).
#[inline(never)]
fn daemon<'a>(o: &Options<'a>) -> Daemon<'a> {
    // Decided once: the streams' default depends on it. In the foreground (a
    // supervisor's or a container's child) the program keeps the streams it was
    // given, so its logs reach journald, svlogd or `docker logs`; detached (the
    // builder's default), they go to /dev/null.
    let mut d = Daemon::new();
    if !o.detach.detaches() {
        // Socket activation's descriptors too: LISTEN_PID stays true across the exec.
        d = d
            .detach(Detach::Never)
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .socket_activation(true);
    }
    if let Some(user) = o.user {
        d = d.user(user);
    }
    if let Some(group) = o.group {
        d = d.group(group);
    }
    if let Some(p) = o.pidfile {
        d = d.pidfile(p);
    }
    if let Some(p) = o.chdir {
        d = d.working_directory(p);
    }
    if let Some(p) = o.chroot {
        d = d.chroot_directory(p);
    }
    if let Some(p) = o.stdout {
        d = d.stdout(stream(p));
    }
    if let Some(p) = o.stderr {
        d = d.stderr(stream(p));
    }
    // start-stop-daemon keeps the caller's umask; so does the command, unless told.
    d = d.umask(o.umask.unwrap_or_else(current_umask));
    if o.keep_core_limit {
        d = d.prevent_core(false);
    }
    for &fd in o.keep.as_slice() {
        d = d.preserve_fd(fd);
    }
    if let Some(timeout) = o.timeout {
        d = d.timeout(timeout);
    }
    if let Some(fd) = o.notify_fd {
        d = d.readiness_fd(fd);
    }
    d.await_notify_socket(o.notify_socket)
}
