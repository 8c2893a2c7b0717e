//! `daemonic`: run any program as a daemon, with a locked pidfile, and control it.
//!
//! Written without std (arguments are `CStr`s, output goes through `write`) so that
//! a static musl build stays small; see `daemonic --help` for the commands.
#![no_std]
#![no_main]

mod args;
mod out;
mod sys;

use core::ffi::CStr;
use daemonic::{
    status, stop, Daemon, ErrorKind, Group, Program, Schedule, Status, Stdio, Stopped, User,
};

use args::{Command, Options};

const HELP: &str = "\
Usage: daemonic start [OPTIONS] [--pidfile P] -- PROGRAM [ARGS...]
       daemonic stop --pidfile P [--signal SIG] [--retry SCHEDULE] [--oknodo] [--quiet]
       daemonic status --pidfile P [--quiet]
       daemonic restart [OPTIONS] --pidfile P [--signal SIG] [--retry SCHEDULE] -- PROGRAM [ARGS...]

Runs PROGRAM as a daemon: double fork, new session, signals reset, descriptors
closed, stdio to /dev/null; the pidfile is locked before the fork and stays locked
for as long as PROGRAM runs (PROGRAM inherits the locked descriptor; its number is in
DAEMONIC_PIDFILE_FD, and PROGRAM must not close it). daemonic exits once PROGRAM was
executed (or, with --notify-fd, once it reported ready), or says what failed.

Start options:
  --pidfile P          create, check and lock pidfile P; write the daemon's PID into it
  --user USER[:GROUP]  run as USER (name or uid), with its groups; GROUP overrides
  --group GROUP        run as GROUP (name or gid); supplementary groups are reset
  --chdir DIR          working directory (default /), inside --chroot if given
  --chroot DIR         change the root directory first
  --umask MASK         octal umask (default 0)
  --stdout FILE        append stdout to FILE (default /dev/null)
  --stderr FILE        append stderr to FILE; the same FILE as --stdout shares one descriptor
  --env NAME=VALUE     set a variable for PROGRAM (repeatable)
  --clear-env          pass only the --env variables and a safe PATH
  --foreground         do not fork (under a supervisor); --detach forks (the default);
  --auto               stays in the foreground when started by init or inetd, or as PID 1
  --keep-fd N          pass descriptor N to PROGRAM (repeatable)
  --notify-fd N        give PROGRAM a pipe as descriptor N and wait until it writes a
                       newline there (s6 readiness)
  --notify-socket      give PROGRAM a private NOTIFY_SOCKET and wait for its sd_notify
                       READY=1 (ERRNO= fails, EXTEND_TIMEOUT_USEC= extends; 60 s default)
  --timeout SECS       give up (and kill PROGRAM) if it is not ready within SECS
  --oknodo             exit 0 when already running (start) or not running (stop)
  --quiet              print errors only
Stop options:
  --signal SIG         signal to send (default TERM)
  --retry SCHEDULE     e.g. TERM/30/KILL/5; a number N means SIG/N/KILL/N; 'forever'
                       repeats the rest; without it the signal is sent and not waited on
                       (restart defaults to TERM/30/KILL/5)

Exit status of start, stop and restart (as start-stop-daemon):
  0  done (or nothing to do, with --oknodo)
  1  nothing done: already running (start) or not running (stop)
  2  stop: the --retry schedule ran out and the daemon still runs
  3  any other error, usage errors included
Exit status of status (LSB):
  0  running   1  not running, stale pidfile   3  not running   4  unknown (unreadable,
  insecure or malformed pidfile)";

/// Runs the command line `args` (without the program name) with the environment `env`.
pub fn run(args: &[&CStr], env: &[&CStr]) -> i32 {
    let o = match args::parse(args) {
        Ok(o) => o,
        Err(usage) => {
            let arg = usage.arg.map(|a| daemonic_shown(a.to_bytes()));
            match arg {
                Some(a) => out::line(
                    2,
                    format_args!("daemonic: {} {a} (see daemonic --help)", usage.what),
                ),
                None => out::line(
                    2,
                    format_args!("daemonic: {} (see daemonic --help)", usage.what),
                ),
            }
            return 3;
        }
    };
    match o.command {
        Command::Help => {
            out::write_all(1, HELP.as_bytes());
            out::write_all(1, b"\n");
            0
        }
        Command::Version => {
            out::line(1, format_args!("daemonic {}", env!("CARGO_PKG_VERSION")));
            0
        }
        Command::Start => start(&o, env),
        Command::Stop => stop_command(&o, &schedule_or(&o, None)),
        Command::Status => status_command(&o),
        Command::Restart => match stop_command(&o, &schedule_or(&o, Some("TERM/30/KILL/5"))) {
            0 | 1 => start(&o, env),
            code => code,
        },
    }
}

/// Shows bytes of an argument as text (invalid UTF-8 as `\xNN`).
fn daemonic_shown(bytes: &[u8]) -> impl core::fmt::Display + '_ {
    struct Shown<'b>(&'b [u8]);
    impl core::fmt::Display for Shown<'_> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            for chunk in self.0.utf8_chunks() {
                f.write_str(chunk.valid())?;
                for b in chunk.invalid() {
                    write!(f, "\\x{b:02x}")?;
                }
            }
            Ok(())
        }
    }
    Shown(bytes)
}

/// The stop schedule: `--retry`, else `default` for restart, else just `--signal`.
fn schedule_or(o: &Options<'_>, default: Option<&str>) -> Result<Schedule, daemonic::Error> {
    match o.retry.or(default) {
        Some(text) => Schedule::parse(text, o.signal),
        None => Ok(Schedule::signal(o.signal)),
    }
}

fn info(o: &Options<'_>, args: core::fmt::Arguments<'_>) {
    if !o.quiet {
        out::line(1, args);
    }
}

fn fail(err: &daemonic::Error) -> i32 {
    out::line(2, format_args!("daemonic: {err}"));
    err.exit_code()
}

fn stop_command(o: &Options<'_>, schedule: &Result<Schedule, daemonic::Error>) -> i32 {
    let schedule = match schedule {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let pidfile = o.pidfile.unwrap_or_default();
    let stopped = match stop(pidfile, schedule) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let shown = daemonic_shown(pidfile.to_bytes());
    match stopped {
        Stopped::Exited { pid } => info(o, format_args!("stopped (pid {})", pid.as_raw_nonzero())),
        Stopped::Signalled { pid } => {
            info(o, format_args!("signalled (pid {})", pid.as_raw_nonzero()))
        }
        Stopped::NotRunning if o.oknodo || o.command == Command::Restart => {
            if o.command != Command::Restart {
                info(o, format_args!("not running (pidfile {shown})"));
            }
            return 0;
        }
        Stopped::NotRunning => info(o, format_args!("not running (pidfile {shown})")),
        Stopped::StillRunning { pid } => out::line(
            2,
            format_args!(
                "daemonic: pid {} still runs after the stop schedule",
                pid.as_raw_nonzero()
            ),
        ),
    }
    stopped.exit_code()
}

fn status_command(o: &Options<'_>) -> i32 {
    let pidfile = o.pidfile.unwrap_or_default();
    let shown = daemonic_shown(pidfile.to_bytes());
    let state = status(pidfile);
    match &state {
        Status::Running { pid: Some(pid) } => {
            info(o, format_args!("running (pid {})", pid.as_raw_nonzero()))
        }
        Status::Running { pid: None } => {
            info(o, format_args!("running (starting; pidfile {shown})"))
        }
        Status::Stale { pid: Some(pid) } => info(
            o,
            format_args!(
                "not running (stale pidfile {shown} names pid {})",
                pid.as_raw_nonzero()
            ),
        ),
        Status::Stale { pid: None } => info(o, format_args!("not running (stale pidfile {shown})")),
        Status::NotRunning => info(o, format_args!("not running")),
        Status::Unknown(e) => out::line(2, format_args!("daemonic: {e}")),
    }
    state.exit_code()
}

/// A path to execute: `name` itself if it has a `/`, else the first regular file
/// `DIR/name` for DIR in `PATH` (looked for under `--chroot`), written into `buf`.
fn resolve<'b>(
    name: &'b CStr,
    path_var: &[u8],
    chroot: Option<&CStr>,
    buf: &'b mut [u8; 4096],
) -> Option<&'b CStr> {
    if name.to_bytes().contains(&b'/') {
        return Some(name);
    }
    let root = chroot.map_or(&b""[..], CStr::to_bytes);
    for dir in path_var.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let candidate = [root, dir, b"/", name.to_bytes()];
        let len: usize = candidate.iter().map(|p| p.len()).sum();
        if len >= buf.len() {
            continue;
        }
        let mut at = 0;
        for part in candidate {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        buf[at] = 0;
        let Ok(full) = CStr::from_bytes_until_nul(&buf[..=at]) else {
            continue;
        };
        let regular = rustix::fs::stat(full)
            .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_file());
        if regular {
            // Executed inside the chroot: drop the prefix.
            return CStr::from_bytes_until_nul(&buf[root.len()..=at]).ok();
        }
    }
    None
}

/// `PATH` for `--clear-env`: the usual system directories.
const SAFE_PATH: &CStr = c"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program's environment: ours (or only a safe `PATH` with `--clear-env`), then
/// every `--env`, each replacing a variable of the same name.
fn environment<'e>(
    o: &Options<'e>,
    ours: &[&'e CStr],
    list: &mut sys::Strings<'e>,
) -> Result<(), ()> {
    let overridden = |entry: &&CStr| {
        o.env
            .iter()
            .any(|e| name_of(e.to_bytes()) == name_of(entry.to_bytes()))
    };
    let base: &[&CStr] = if o.clear_env { &[SAFE_PATH] } else { ours };
    for entry in base
        .iter()
        .filter(|e| !overridden(e))
        .copied()
        .chain(o.env.iter())
    {
        *list.items.get_mut(list.len).ok_or(())? = entry;
        list.len += 1;
    }
    Ok(())
}

/// The `NAME` of a `NAME=VALUE` entry.
fn name_of(entry: &[u8]) -> &[u8] {
    entry.split(|&b| b == b'=').next().unwrap_or_default()
}

fn start(o: &Options<'_>, env: &[&CStr]) -> i32 {
    let mut program_env = sys::Strings {
        len: 0,
        items: [c""; sys::MAX],
    };
    if environment(o, env, &mut program_env).is_err() {
        out::line(
            2,
            format_args!("daemonic: more than {} environment variables", sys::MAX),
        );
        return 3;
    }
    let program_env = program_env.as_slice();
    let path_var = program_env
        .iter()
        .find_map(|e| e.to_bytes().strip_prefix(b"PATH="))
        .unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
    let name = o.program[0];
    let mut buf = [0u8; 4096];
    let Some(path) = resolve(name, path_var, o.chroot, &mut buf) else {
        out::line(
            2,
            format_args!(
                "daemonic: cannot find {} in PATH",
                daemonic_shown(name.to_bytes())
            ),
        );
        return 3;
    };
    let program = Program {
        path,
        args: o.program,
        env: program_env,
    };
    match daemon(o).exec(&program) {
        Ok(_) => 0,
        Err(e) if matches!(e.kind(), ErrorKind::AlreadyRunning { .. }) && o.oknodo => {
            info(o, format_args!("{e}"));
            0
        }
        Err(e) => fail(&e),
    }
}

/// A builder method that takes a path.
type Setter<'a> = fn(Daemon<'a>, &'a CStr) -> Daemon<'a>;

/// The daemon the start options describe.
fn daemon<'a>(o: &Options<'a>) -> Daemon<'a> {
    let mut d = Daemon::new().detach(o.detach);
    let id = |text: &str| text.parse::<u32>().ok();
    if let Some(user) = o.user {
        d = d.user(id(user).map_or(User::Name(user), User::Id));
    }
    if let Some(group) = o.group {
        d = d.group(id(group).map_or(Group::Name(group), Group::Id));
    }
    let optional: [(Option<&'a CStr>, Setter<'a>); 5] = [
        (o.pidfile, |d, p| d.pidfile(p)),
        (o.chdir, |d, p| d.working_directory(p)),
        (o.chroot, |d, p| d.chroot_directory(p)),
        (o.stdout, |d, p| d.stdout(Stdio::file(p))),
        (o.stderr, |d, p| d.stderr(Stdio::file(p))),
    ];
    for (value, set) in optional {
        if let Some(value) = value {
            d = set(d, value);
        }
    }
    if let Some(mask) = o.umask {
        d = d.umask(mask);
    }
    for fd in o.keep.iter() {
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
