//! Command-line parsing over `argv` as `CStr`s: no allocation, bytes where bytes
//! suffice (UTF-8 is checked only for what the library takes as `&str`), and one
//! table of options instead of a `match` per question.

use core::ffi::CStr;
use core::time::Duration;
use daemonic::{parse_signal, Detach, Facility, Group, Restart, Signal, User};

/// The most `--env` and `--keep-fd` options.
pub const MAX_REPEATS: usize = 64;

/// The command; each is a bit, so that an option's table entry says where it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    Start = 1,
    Stop = 2,
    Status = 4,
    Restart = 8,
    /// No option applies to these two.
    Help = 16,
    Version = 32,
}

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

/// An option; the ones before `ClearEnv` take a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd)]
enum Opt {
    Pidfile,
    User,
    Group,
    Chdir,
    Chroot,
    Umask,
    Stdout,
    Stderr,
    Env,
    KeepFd,
    Timeout,
    NotifyFd,
    Signal,
    Retry,
    Restart,
    RestartDelay,
    LogFile,
    Syslog,
    SyslogFacility,
    ClearEnv,
    Foreground,
    Detach,
    Auto,
    Oknodo,
    Quiet,
    NotifySocket,
    KeepCoreLimit,
    Supervise,
    ForwardToGroup,
}

const ANY: u8 = 1 | 2 | 4 | 8;
const STARTS: u8 = Command::Start as u8 | Command::Restart as u8;
const STOPS: u8 = Command::Stop as u8 | Command::Restart as u8;

/// Every option's name without `--`, each ended by a NUL, in the order of [`OPTIONS`].
const OPTION_NAMES: &[u8] = b"pidfile\0user\0group\0chdir\0chroot\0umask\0stdout\0stderr\0env\0\
    keep-fd\0timeout\0notify-fd\0signal\0retry\0restart\0restart-delay\0log-file\0syslog\0syslog-facility\0clear-env\0\
    foreground\0detach\0auto\0oknodo\0quiet\0notify-socket\0keep-core-limit\0supervise\0forward-to-group\0";

/// Every option, and the commands that take it.
const OPTIONS: [(Opt, u8); 29] = [
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

/// The position of `name` among `names`, each ended by a NUL.
fn find(names: &[u8], name: &[u8]) -> Option<usize> {
    let (mut rest, mut i) = (names, 0);
    while let Some((this, next)) = split(rest, 0) {
        if this == name {
            return Some(i);
        }
        (rest, i) = (next, i + 1);
    }
    None
}

/// A fixed-capacity list for repeatable options.
#[derive(Clone, Copy)]
pub struct List<T: Copy + Default> {
    len: usize,
    items: [T; MAX_REPEATS],
}

impl<T: Copy + Default> List<T> {
    fn new() -> Self {
        List {
            len: 0,
            items: [T::default(); MAX_REPEATS],
        }
    }

    /// Adds `item`, given by option `arg`.
    fn push<'a>(&mut self, item: T, arg: &'a CStr) -> Result<(), Usage<'a>> {
        let slot = self.items.get_mut(self.len).ok_or(Usage::about(
            "an option is repeated more than 64 times",
            arg,
        ))?;
        *slot = item;
        self.len += 1;
        Ok(())
    }

    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }
}

/// Everything the command line says.
pub struct Options<'a> {
    pub command: Command,
    pub pidfile: Option<&'a CStr>,
    pub user: Option<User<'a>>,
    pub group: Option<Group<'a>>,
    pub chdir: Option<&'a CStr>,
    pub chroot: Option<&'a CStr>,
    pub umask: Option<u32>,
    pub stdout: Option<&'a CStr>,
    pub stderr: Option<&'a CStr>,
    pub env: List<&'a CStr>,
    pub clear_env: bool,
    pub detach: Detach,
    /// Whether `--foreground`, `--detach` or `--auto` was given.
    pub detach_given: bool,
    pub keep: List<i32>,
    pub timeout: Option<Duration>,
    pub oknodo: bool,
    pub quiet: bool,
    pub notify_fd: Option<i32>,
    pub notify_socket: bool,
    /// Leave `RLIMIT_CORE` as it is (by default 0: no core dumps).
    pub keep_core_limit: bool,
    /// Run PROGRAM under daemonic's monitor, with this restart policy and first pause.
    pub supervise: bool,
    pub restart: Option<Restart>,
    pub restart_delay: Option<Duration>,
    /// The file the monitor writes PROGRAM's stdout and stderr to, or the syslog tag
    /// and facility.
    pub log_file: Option<&'a CStr>,
    pub syslog: Option<&'a str>,
    pub syslog_facility: Option<Facility>,
    /// Forward signals to PROGRAM's process group.
    pub forward_to_group: bool,
    pub signal: Signal,
    pub retry: Option<&'a str>,
    /// The program and its arguments, after `--`.
    pub program: &'a [&'a CStr],
}

/// A usage error: what is wrong, and the argument it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage<'a> {
    pub what: &'static str,
    pub arg: Option<&'a CStr>,
}

impl Usage<'static> {
    const fn new(what: &'static str) -> Self {
        Usage { what, arg: None }
    }
}

impl<'a> Usage<'a> {
    const fn about(what: &'static str, arg: &'a CStr) -> Self {
        Usage {
            what,
            arg: Some(arg),
        }
    }
}

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

/// Records option `opt` with its `value` (`c""` for a flag), given by `arg`.
fn apply<'a>(o: &mut Options<'a>, opt: Opt, c: &'a CStr, arg: &'a CStr) -> Result<(), Usage<'a>> {
    let bytes = c.to_bytes();
    let fd = || {
        decimal(bytes, i32::MAX as u64)
            .map(|n| n as i32)
            .ok_or(Usage::about("not a descriptor number:", c))
    };
    // A name or a path cannot be empty: say so, rather than "unknown user " or a
    // pidfile that names nothing.
    let named = matches!(
        opt,
        Opt::Pidfile
            | Opt::User
            | Opt::Group
            | Opt::Chdir
            | Opt::Chroot
            | Opt::LogFile
            | Opt::Syslog
    );
    if named && bytes.is_empty() {
        return Err(Usage::about("empty value for", arg));
    }
    match opt {
        Opt::Pidfile => o.pidfile = Some(c),
        Opt::User => {
            let (user, group) = split(bytes, b':').map_or((bytes, None), |(u, g)| (u, Some(g)));
            o.user = Some(match decimal(user, u32::MAX.into()) {
                Some(uid) => User::Id(uid as u32),
                None => User::Name(utf8(user, c)?),
            });
            if let Some(group) = group {
                o.group = Some(group_of(group, c)?);
            }
        }
        Opt::Group => o.group = Some(group_of(bytes, c)?),
        Opt::Chdir => o.chdir = Some(c),
        Opt::Chroot => o.chroot = Some(c),
        Opt::Umask => {
            let mask = number(bytes, 8, 0o777);
            let why = "--umask takes an octal mask up to 777, not";
            o.umask = Some(mask.ok_or(Usage::about(why, c))? as u32);
        }
        Opt::Stdout => o.stdout = Some(c),
        Opt::Stderr => o.stderr = Some(c),
        Opt::Env => {
            if !split(bytes, b'=').is_some_and(|(name, _)| !name.is_empty()) {
                return Err(Usage::about("--env takes NAME=VALUE, not", c));
            }
            o.env.push(c, arg)?;
        }
        Opt::KeepFd => match fd()? {
            0..=2 => return Err(Usage::about("--keep-fd takes a descriptor above 2 (for a standard stream: --stdout inherit), not", c)),
            fd => o.keep.push(fd, arg)?,
        },
        Opt::NotifyFd => o.notify_fd = Some(fd()?),
        Opt::Timeout => {
            let why = "--timeout takes seconds, not";
            o.timeout = Some(seconds(bytes).ok_or(Usage::about(why, c))?);
        }
        Opt::Signal => {
            let signal = core::str::from_utf8(bytes).ok().and_then(parse_signal);
            o.signal = signal.ok_or(Usage::about("unknown signal", c))?;
        }
        Opt::Retry => o.retry = Some(utf8(bytes, c)?),
        Opt::Restart => {
            o.restart = Some(match bytes {
                b"never" => Restart::Never,
                b"on-failure" => Restart::OnFailure,
                b"always" => Restart::Always,
                _ => return Err(Usage::about("--restart takes never, on-failure or always, not", c)),
            })
        }
        Opt::LogFile => o.log_file = Some(c),
        Opt::Syslog => o.syslog = Some(utf8(bytes, c)?),
        Opt::SyslogFacility => {
            const NAMES: &[u8] = b"user\0daemon\0local0\0local1\0local2\0local3\0local4\0\
                local5\0local6\0local7\0";
            const FACILITIES: [Facility; 10] = [
                Facility::User,
                Facility::Daemon,
                Facility::Local0,
                Facility::Local1,
                Facility::Local2,
                Facility::Local3,
                Facility::Local4,
                Facility::Local5,
                Facility::Local6,
                Facility::Local7,
            ];
            let why = "--syslog-facility takes user, daemon or local0 to local7, not";
            let i = find(NAMES, bytes).ok_or(Usage::about(why, c))?;
            o.syslog_facility = Some(FACILITIES[i]);
        }
        Opt::RestartDelay => {
            let why = "--restart-delay takes seconds, not";
            o.restart_delay = Some(seconds(bytes).ok_or(Usage::about(why, c))?);
        }
        Opt::ClearEnv => o.clear_env = true,
        Opt::Foreground | Opt::Detach | Opt::Auto => {
            let detach = match opt {
                Opt::Foreground => Detach::Never,
                Opt::Detach => Detach::Always,
                _ => Detach::Auto,
            };
            if o.detach_given && o.detach != detach {
                return Err(Usage::new("--foreground, --detach and --auto exclude each other"));
            }
            o.detach = detach;
            o.detach_given = true;
        }
        Opt::Oknodo => o.oknodo = true,
        Opt::Quiet => o.quiet = true,
        Opt::NotifySocket => o.notify_socket = true,
        Opt::KeepCoreLimit => o.keep_core_limit = true,
        Opt::Supervise => o.supervise = true,
        Opt::ForwardToGroup => o.forward_to_group = true,
    }
    Ok(())
}

/// A group: a gid if all digits, else a name.
fn group_of<'a>(bytes: &'a [u8], c: &'a CStr) -> Result<Group<'a>, Usage<'a>> {
    Ok(match decimal(bytes, u32::MAX.into()) {
        Some(gid) => Group::Id(gid as u32),
        None => Group::Name(utf8(bytes, c)?),
    })
}

/// `bytes` (part of argument `c`) as text, for the library's `&str` parameters.
fn utf8<'a>(bytes: &'a [u8], c: &'a CStr) -> Result<&'a str, Usage<'a>> {
    core::str::from_utf8(bytes).map_err(|_| Usage::about("not UTF-8:", c))
}

/// `bytes` around the first `at`, if there is one.
pub fn split(bytes: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == at)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// Digits in `radix` (up to 10), at least one, no sign, at most `max`.
#[inline(never)]
fn number(bytes: &[u8], radix: u64, max: u64) -> Option<u64> {
    let mut n: u64 = 0;
    for &b in bytes {
        let digit = u64::from(b.wrapping_sub(b'0'));
        if digit >= radix {
            return None;
        }
        n = n.checked_mul(radix)?.checked_add(digit)?;
    }
    (!bytes.is_empty() && n <= max).then_some(n)
}

pub fn decimal(bytes: &[u8], max: u64) -> Option<u64> {
    number(bytes, 10, max)
}

/// `SECS`, `SECS.FRACTION` or `.FRACTION` (digits past nanoseconds are checked, then
/// ignored).
#[inline(never)]
fn seconds(bytes: &[u8]) -> Option<Duration> {
    let (whole, fraction) = split(bytes, b'.').unwrap_or((bytes, b""));
    let secs = match whole {
        b"" if fraction.is_empty() => return None,
        b"" => 0,
        _ => decimal(whole, u64::MAX)?,
    };
    let (mut nanos, mut scale) = (0, 100_000_000);
    for &b in fraction {
        nanos += decimal(&[b], 9)? as u32 * scale;
        scale /= 10;
    }
    Some(Duration::new(secs, nanos))
}

/// The fuzz target's check (`fuzz/fuzz_targets/args.rs` includes this file; cargo-fuzz
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
#[path = "args_tests.rs"]
mod tests;
