//! Command-line parsing over `argv` as `CStr`s, without allocating.

use core::ffi::CStr;
use core::time::Duration;
use daemonic::{parse_signal, Detach, Signal};

/// The most `--env` and `--keep-fd` options.
const MAX_REPEATS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Status,
    Restart,
    Help,
    Version,
}

/// A fixed-capacity list for repeatable options.
#[derive(Clone, Copy)]
pub struct List<T: Copy> {
    len: usize,
    items: [Option<T>; MAX_REPEATS],
}

impl<T: Copy> List<T> {
    fn new() -> Self {
        List {
            len: 0,
            items: [None; MAX_REPEATS],
        }
    }

    fn push(&mut self, item: T) -> Result<(), Usage<'static>> {
        *self
            .items
            .get_mut(self.len)
            .ok_or(Usage::new("an option is repeated more than 64 times"))? = Some(item);
        self.len += 1;
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }
}

/// Everything the command line says.
pub struct Options<'a> {
    pub command: Command,
    pub pidfile: Option<&'a CStr>,
    pub user: Option<&'a str>,
    pub group: Option<&'a str>,
    pub chdir: Option<&'a CStr>,
    pub chroot: Option<&'a CStr>,
    pub umask: Option<u32>,
    pub stdout: Option<&'a CStr>,
    pub stderr: Option<&'a CStr>,
    pub env: List<&'a CStr>,
    pub clear_env: bool,
    pub detach: Detach,
    pub keep: List<i32>,
    pub timeout: Option<Duration>,
    pub oknodo: bool,
    pub quiet: bool,
    pub notify_fd: Option<i32>,
    pub notify_socket: bool,
    pub signal: Signal,
    pub retry: Option<&'a str>,
    /// The program and its arguments, after `--`.
    pub program: &'a [&'a CStr],
}

/// A usage error: what is wrong, and the argument it is about.
#[derive(Clone, Copy, Debug)]
pub struct Usage<'a> {
    pub what: &'static str,
    pub arg: Option<&'a CStr>,
}

impl Usage<'static> {
    fn new(what: &'static str) -> Self {
        Usage { what, arg: None }
    }
}

impl<'a> Usage<'a> {
    fn about(what: &'static str, arg: &'a CStr) -> Self {
        Usage {
            what,
            arg: Some(arg),
        }
    }
}

/// Which options each command takes.
fn applies(option: &str, command: Command) -> bool {
    const CONTROL: [&str; 4] = ["--pidfile", "--quiet", "--signal", "--retry"];
    match command {
        Command::Status => matches!(option, "--pidfile" | "--quiet"),
        Command::Stop => CONTROL.contains(&option) || option == "--oknodo",
        Command::Start => !matches!(option, "--signal" | "--retry"),
        Command::Restart => true,
        Command::Help | Command::Version => false,
    }
}

/// Options that take a value.
const WITH_VALUE: [&str; 14] = [
    "--pidfile",
    "--user",
    "--group",
    "--chdir",
    "--chroot",
    "--umask",
    "--stdout",
    "--stderr",
    "--env",
    "--keep-fd",
    "--timeout",
    "--notify-fd",
    "--signal",
    "--retry",
];

/// Parses `args` (without the program name).
pub fn parse<'a>(args: &'a [&'a CStr]) -> Result<Options<'a>, Usage<'a>> {
    let (first, mut rest) = args
        .split_first()
        .ok_or(Usage::new("no command (start, stop, status, restart)"))?;
    let command = match first.to_bytes() {
        b"start" => Command::Start,
        b"stop" => Command::Stop,
        b"status" => Command::Status,
        b"restart" => Command::Restart,
        b"--help" | b"-h" | b"help" => Command::Help,
        b"--version" | b"-V" => Command::Version,
        _ => return Err(Usage::about("unknown command", first)),
    };
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
        keep: List::new(),
        timeout: None,
        oknodo: false,
        quiet: false,
        notify_fd: None,
        notify_socket: false,
        signal: Signal::TERM,
        retry: None,
        program: &[],
    };
    let mut separated = false;
    while let Some((arg, tail)) = rest.split_first() {
        rest = tail;
        let bytes = arg.to_bytes();
        if bytes == b"--" {
            o.program = rest;
            separated = true;
            break;
        }
        if matches!(bytes, b"--help" | b"-h") {
            o.command = Command::Help;
            return Ok(o);
        }
        let text = arg
            .to_str()
            .map_err(|_| Usage::about("invalid option", arg))?;
        // `--name=value` or `--name value`.
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (text, None),
        };
        if !name.starts_with("--") {
            return Err(Usage::about(
                "unexpected argument (the program goes after --):",
                arg,
            ));
        }
        if !(WITH_VALUE.contains(&name) || is_flag(name)) {
            return Err(Usage::about("unknown option", arg));
        }
        if !applies(name, command) {
            return Err(Usage::about("option does not apply to this command", arg));
        }
        let value: Option<&'a CStr> = if WITH_VALUE.contains(&name) {
            match inline {
                // The value is the tail of this very C string, so it is one too.
                Some(v) => Some(&arg[bytes.len() - v.len()..]),
                None => {
                    let (v, tail) = rest
                        .split_first()
                        .ok_or(Usage::about("missing value for", arg))?;
                    rest = tail;
                    Some(*v)
                }
            }
        } else if inline.is_some() {
            return Err(Usage::about("option takes no value", arg));
        } else {
            None
        };
        apply(&mut o, name, value, arg)?;
    }
    if matches!(command, Command::Start | Command::Restart) {
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
    if matches!(command, Command::Stop | Command::Status | Command::Restart) && o.pidfile.is_none()
    {
        return Err(Usage::new("missing --pidfile"));
    }
    Ok(o)
}

fn is_flag(name: &str) -> bool {
    matches!(
        name,
        "--clear-env"
            | "--foreground"
            | "--detach"
            | "--auto"
            | "--oknodo"
            | "--quiet"
            | "--notify-socket"
    )
}

/// Records one option.
fn apply<'a>(
    o: &mut Options<'a>,
    name: &str,
    value: Option<&'a CStr>,
    arg: &'a CStr,
) -> Result<(), Usage<'a>> {
    let c = value.unwrap_or_default();
    let text = || c.to_str().map_err(|_| Usage::about("not UTF-8:", c));
    match name {
        "--pidfile" => o.pidfile = Some(c),
        "--user" => match text()?.split_once(':') {
            Some((user, group)) => {
                o.user = Some(user);
                o.group = Some(group);
            }
            None => o.user = Some(text()?),
        },
        "--group" => o.group = Some(text()?),
        "--chdir" => o.chdir = Some(c),
        "--chroot" => o.chroot = Some(c),
        "--umask" => {
            let mask = u32::from_str_radix(text()?, 8).ok().filter(|m| *m <= 0o777);
            o.umask = Some(mask.ok_or(Usage::about(
                "--umask takes an octal mask up to 777, not",
                c,
            ))?);
        }
        "--stdout" => o.stdout = Some(c),
        "--stderr" => o.stderr = Some(c),
        "--env" => {
            if !matches!(c.to_bytes().iter().position(|&b| b == b'='), Some(i) if i > 0) {
                return Err(Usage::about("--env takes NAME=VALUE, not", c));
            }
            o.env.push(c).map_err(|u| Usage {
                arg: Some(arg),
                ..u
            })?;
        }
        "--keep-fd" => o.keep.push(fd(text()?, c)?).map_err(|u| Usage {
            arg: Some(arg),
            ..u
        })?,
        "--notify-fd" => o.notify_fd = Some(fd(text()?, c)?),
        "--timeout" => {
            o.timeout =
                Some(seconds(text()?).ok_or(Usage::about("--timeout takes seconds, not", c))?)
        }
        "--signal" => o.signal = parse_signal(text()?).ok_or(Usage::about("unknown signal", c))?,
        "--retry" => o.retry = Some(text()?),
        "--clear-env" => o.clear_env = true,
        "--foreground" => o.detach = Detach::Never,
        "--detach" => o.detach = Detach::Always,
        "--auto" => o.detach = Detach::Auto,
        "--oknodo" => o.oknodo = true,
        "--notify-socket" => o.notify_socket = true,
        _ => o.quiet = true, // "--quiet", the only flag left
    }
    Ok(())
}

fn fd<'a>(text: &str, arg: &'a CStr) -> Result<i32, Usage<'a>> {
    text.parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or(Usage::about("not a descriptor number:", arg))
}

/// `SECS` or `SECS.FRACTION`.
fn seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = 0u32;
    for (i, d) in fraction.bytes().enumerate() {
        let digit = u32::from(d.checked_sub(b'0').filter(|d| *d <= 9)?);
        if i < 9 {
            nanos += digit * 10u32.pow(8 - i as u32);
        }
    }
    Some(Duration::new(secs, nanos))
}
