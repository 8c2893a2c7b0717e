//! Command-line parsing over `argv` as `CStr`s: no allocation, bytes where bytes
//! suffice (UTF-8 is checked only for what the library takes as `&str`), and one
//! table of options instead of a `match` per question.
//!
//! `options.rs` holds what a command line says ([`Options`]) and its errors,
//! `values.rs` how each option's value is read; this file, the tables and the
//! checks across options.

mod options;
mod values;

use core::ffi::CStr;
use daemonic::{Detach, Signal};

use crate::list::List;
use options::Opt;
#[cfg(test)]
use options::MAX_REPEATS;
pub use options::{Command, Options, Usage};
use values::apply;
pub use values::{decimal, find, split};

/// The commands' names, each ended by a NUL, and what each names.
const COMMAND_NAMES: &[u8] = b"start\0stop\0status\0restart\0--help\0-h\0help\0--version\0-V\0";
const COMMANDS: [Command; 9] = [
    Command::Start,
    Command::Stop,
    Command::Status,
    Command::Restart,
    Command::Help,
    Command::Help,
    Command::Help,
    Command::Version,
    Command::Version,
];

const ANY: u8 = 1 | 2 | 4 | 8;
const STARTS: u8 = Command::Start as u8 | Command::Restart as u8;
const STOPS: u8 = Command::Stop as u8 | Command::Restart as u8;

/// Every option's name without `--`, each ended by a NUL, in the order of [`OPTIONS`].
const OPTION_NAMES: &[u8] = b"pidfile\0user\0group\0chdir\0chroot\0umask\0stdout\0stderr\0env\0\
    keep-fd\0timeout\0notify-fd\0signal\0retry\0restart\0restart-delay\0log-file\0log-max-size\0syslog\0syslog-facility\0clear-env\0\
    foreground\0detach\0auto\0oknodo\0quiet\0notify-socket\0keep-core-limit\0supervise\0forward-to-group\0";

/// Every option, and the commands that take it.
const OPTIONS: [(Opt, u8); 30] = [
    (Opt::Pidfile, ANY),
    (Opt::User, STARTS),
    (Opt::Group, STARTS),
    (Opt::Chdir, STARTS),
    (Opt::Chroot, STARTS),
    (Opt::Umask, STARTS),
    (Opt::Stdout, STARTS),
    (Opt::Stderr, STARTS),
    (Opt::Env, STARTS),
    (Opt::KeepFd, STARTS),
    (Opt::Timeout, STARTS),
    (Opt::NotifyFd, STARTS),
    (Opt::Signal, STOPS),
    (Opt::Retry, STOPS),
    (Opt::Restart, STARTS),
    (Opt::RestartDelay, STARTS),
    (Opt::LogFile, STARTS),
    (Opt::LogMaxSize, STARTS),
    (Opt::Syslog, STARTS),
    (Opt::SyslogFacility, STARTS),
    (Opt::ClearEnv, STARTS),
    (Opt::Foreground, STARTS),
    (Opt::Detach, STARTS),
    (Opt::Auto, STARTS),
    (Opt::Oknodo, STARTS | STOPS),
    (Opt::Quiet, ANY),
    (Opt::NotifySocket, STARTS),
    (Opt::KeepCoreLimit, STARTS),
    (Opt::Supervise, STARTS),
    (Opt::ForwardToGroup, STARTS),
];

/// Parses `args` (without the program name).
pub fn parse<'a>(args: &'a [&'a CStr]) -> Result<Options<'a>, Usage<'a>> {
    let (first, mut rest) = args
        .split_first()
        .ok_or(Usage::new("no command (start, stop, status, restart)"))?;
    let command = find(COMMAND_NAMES, first.to_bytes())
        .map(|i| COMMANDS[i])
        .ok_or(Usage::about("unknown command", first))?;
    let mut o = Options {
        command,
        pidfile: None,
        user: None,
        group: None,
        chdir: None,
        chroot: None,
        umask: None,
        stdout: None,
        stderr: None,
        env: List::new(),
        clear_env: false,
        detach: Detach::Always,
        detach_given: false,
        keep: List::new(),
        timeout: None,
        oknodo: false,
        quiet: false,
        notify_fd: None,
        notify_socket: false,
        keep_core_limit: false,
        supervise: false,
        restart: None,
        restart_delay: None,
        log_file: None,
        log_max_size: None,
        syslog: None,
        syslog_facility: None,
        forward_to_group: false,
        signal: Signal::TERM,
        retry: None,
        program: &[],
    };
    let mut separated = false;
    while let Some((&arg, tail)) = rest.split_first() {
        rest = tail;
        let bytes = arg.to_bytes();
        if bytes == b"--" {
            o.program = rest;
            separated = true;
            break;
        }
        if bytes == b"--help" || bytes == b"-h" {
            o.command = Command::Help;
            return Ok(o);
        }
        let Some(long) = bytes.strip_prefix(b"--") else {
            return Err(match bytes {
                [b'-', _, ..] => Usage::about("unknown option (options are long, as --user):", arg),
                _ if command as u8 & STARTS != 0 => {
                    Usage::about("unexpected argument (the program goes after --):", arg)
                }
                _ => Usage::about("unexpected argument (this command takes none):", arg),
            });
        };
        // `--name=value` or `--name value`; an inline value is the tail of this
        // very C string, so it is one too.
        let (name, inline) = match split(long, b'=') {
            Some((name, _)) => (name, Some(&arg[2 + name.len() + 1..])),
            None => (long, None),
        };
        let (opt, commands) = find(OPTION_NAMES, name)
            .map(|i| OPTIONS[i])
            .ok_or(Usage::about("unknown option", arg))?;
        if commands & command as u8 == 0 {
            return Err(Usage::about("option does not apply to this command", arg));
        }
        let value = match inline {
            _ if opt >= Opt::ClearEnv && inline.is_some() => {
                return Err(Usage::about("option takes no value", arg))
            }
            _ if opt >= Opt::ClearEnv => c"",
            Some(value) => value,
            None => {
                let (&value, tail) = rest
                    .split_first()
                    .ok_or(Usage::about("missing value for", arg))?;
                rest = tail;
                value
            }
        };
        apply(&mut o, opt, value, arg)?;
    }
    if o.timeout.is_some() && o.notify_fd.is_none() && !o.notify_socket {
        return Err(Usage::new(
            "--timeout needs --notify-fd or --notify-socket (it bounds the wait for readiness)",
        ));
    }
    let logs = o.log_file.is_some() || o.syslog.is_some();
    let monitored = o.restart.is_some() || o.restart_delay.is_some() || logs;
    if monitored && !o.supervise {
        return Err(Usage::new(
            "--restart, --restart-delay, --log-file and --syslog need --supervise",
        ));
    }
    if o.forward_to_group && !o.supervise {
        return Err(Usage::new("--forward-to-group needs --supervise"));
    }
    if o.log_max_size.is_some() && o.log_file.is_none() {
        return Err(Usage::new("--log-max-size needs --log-file"));
    }
    if o.log_file.is_some() && o.syslog.is_some() {
        return Err(Usage::new("--log-file and --syslog exclude each other"));
    }
    if o.syslog_facility.is_some() && o.syslog.is_none() {
        return Err(Usage::new("--syslog-facility needs --syslog"));
    }
    if logs && (o.stdout.is_some() || o.stderr.is_some()) {
        return Err(Usage::new(
            "--log-file and --syslog take PROGRAM's stdout and stderr: --stdout and --stderr \
             exclude them",
        ));
    }
    if o.supervise && o.notify_socket && o.notify_fd.is_some() {
        return Err(Usage::new(
            "--notify-fd and --notify-socket exclude each other with --supervise",
        ));
    }
    if command as u8 & STARTS != 0 {
        if !separated {
            return Err(Usage::new("missing -- before the program to run"));
        }
        match o.program.first() {
            None => return Err(Usage::new("missing program after --")),
            Some(p) if p.is_empty() => return Err(Usage::new("empty program name")),
            Some(_) => {}
        }
    } else if separated {
        return Err(Usage::new("only start and restart take a program"));
    }
    if command as u8 & (STOPS | Command::Status as u8) != 0 && o.pidfile.is_none() {
        return Err(Usage::new("missing --pidfile"));
    }
    Ok(o)
}

/// The fuzz target's check (`fuzz/fuzz_targets/args.rs` compiles this module; cargo-fuzz
/// sets `cfg(fuzzing)`): `data` split at NUL bytes into arguments, parsed. Any line may
/// be refused; an accepted start or restart has a non-empty program taken from the
/// line's end, and the others none.
#[cfg(any(test, fuzzing))]
pub fn check_arbitrary(data: &[u8]) {
    let owned = daemonic::fuzzing::split_args(data);
    let args: Vec<&CStr> = owned.iter().map(|a| a.as_c_str()).collect();
    let Ok(o) = parse(&args) else {
        return;
    };
    match o.command {
        Command::Start | Command::Restart => {
            assert!(!o.program.is_empty() && !o.program[0].is_empty());
            assert_eq!(o.program, &args[args.len() - o.program.len()..]);
        }
        _ => assert!(o.program.is_empty()),
    }
}

#[cfg(test)]
mod tests;
