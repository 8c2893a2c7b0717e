//! Each option's value, read from its bytes: numbers, durations, users and groups.

use core::ffi::CStr;
use core::time::Duration;
use daemonic::{parse_signal, Detach, Facility, Group, Restart, User};

use super::options::{Opt, Options, Usage};

/// Records option `opt` with its `value` (`c""` for a flag), given by `arg`.
pub(super) fn apply<'a>(
    o: &mut Options<'a>,
    opt: Opt,
    c: &'a CStr,
    arg: &'a CStr,
) -> Result<(), Usage<'a>> {
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
            o.env.push(c).map_err(|()| repeated(arg))?;
        }
        Opt::KeepFd => match fd()? {
            0..=2 => return Err(Usage::about("--keep-fd takes a descriptor above 2 (for a standard stream: --stdout inherit), not", c)),
            fd => o.keep.push(fd).map_err(|()| repeated(arg))?,
        },
        Opt::NotifyFd => o.notify_fd = Some(fd()?),
        Opt::Timeout => {
            let why = "--timeout takes seconds, not";
            o.timeout = Some(seconds(bytes).ok_or(Usage::about(why, c))?);
        }
        Opt::Signal => {
            let signal = crate::out::text(bytes).and_then(parse_signal);
            o.signal = signal.ok_or(Usage::about("unknown signal", c))?;
        }
        Opt::Retry => o.retry = Some(utf8(bytes, c)?),
        Opt::Restart => {
            // A table, as for the facilities: one loop, not a comparison per name.
            const POLICIES: [Restart; 3] = [Restart::Never, Restart::OnFailure, Restart::Always];
            let why = "--restart takes never, on-failure or always, not";
            let i = find(b"never\0on-failure\0always\0", bytes).ok_or(Usage::about(why, c))?;
            o.restart = Some(POLICIES[i]);
        }
        Opt::LogFile => o.log_file = Some(c),
        Opt::LogMaxSize => {
            let why = "--log-max-size takes bytes above 0 (k, M, G: KiB, MiB, GiB), not";
            o.log_max_size = Some(size(bytes).ok_or(Usage::about(why, c))?);
        }
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
    crate::out::text(bytes).ok_or(Usage::about("not UTF-8:", c))
}

/// `bytes` around the first `at`, if there is one.
pub fn split(bytes: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == at)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// Digits in `radix` (up to 10), at least one, no sign, at most `max`.
#[inline(never)]
pub(super) fn number(bytes: &[u8], radix: u64, max: u64) -> Option<u64> {
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

/// A size above 0: bytes, or KiB, MiB or GiB with `k`, `M` or `G` after the number.
fn size(bytes: &[u8]) -> Option<u64> {
    let (digits, shift) = match bytes.split_last()? {
        (b'k', digits) => (digits, 10),
        (b'M', digits) => (digits, 20),
        (b'G', digits) => (digits, 30),
        _ => (bytes, 0),
    };
    let n = decimal(digits, u64::MAX >> shift)?;
    (n > 0).then_some(n << shift)
}

/// `SECS`, `SECS.FRACTION` or `.FRACTION` (digits past nanoseconds are checked, then
/// ignored).
#[inline(never)]
pub(super) fn seconds(bytes: &[u8]) -> Option<Duration> {
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

/// The position of `name` among `names`, each ended by a NUL.
pub fn find(names: &[u8], name: &[u8]) -> Option<usize> {
    let (mut rest, mut i) = (names, 0);
    while let Some((this, next)) = split(rest, 0) {
        if this == name {
            return Some(i);
        }
        (rest, i) = (next, i + 1);
    }
    None
}

/// A repeatable option given once too often.
fn repeated(arg: &CStr) -> Usage<'_> {
    Usage::about("an option is repeated more than 64 times", arg)
}
