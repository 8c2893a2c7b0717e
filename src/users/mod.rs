//! User and group lookup without NSS.
//!
//! Static musl binaries have no NSS, so `getpwnam(3)` and friends cannot be
//! relied on; instead we parse `/etc/passwd` and `/etc/group` ourselves, in the
//! original process before it forks. Limits: only these flat files are read
//! (no NSS modules, no LDAP, no NIS `+`/`-` entries), and they are read as the
//! original process sees them, before any chroot. Parsing never allocates: the
//! file is streamed through a fixed stack buffer of [`LINE_MAX`] bytes, and a
//! longer line is an error rather than skipped, since a skipped group line
//! could hide a membership; likewise more than [`MAX_GROUPS`] groups is an
//! error rather than a truncated list.

use core::ffi::CStr;
use core::ops::ControlFlow;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::stack::Stack;

/// Maximum supplementary groups we collect (Linux `NGROUPS_MAX` is 65536; 256 covers real systems).
pub(crate) const MAX_GROUPS: usize = 256;
/// Longest user name we keep (Linux `LOGIN_NAME_MAX` is 256 including NUL).
pub(crate) const NAME_MAX: usize = 255;
/// Size of the read buffer, and so the longest line (newline included) we accept.
const LINE_MAX: usize = 16 * 1024;

/// Why a lookup failed. A missing entry is not an error (`Ok(None)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// Opening or reading the file failed (`Errno::NOENT` if it does not exist).
    Io(Errno),
    /// A line does not fit in [`LINE_MAX`] bytes.
    LineTooLong,
    /// The user is in more than [`MAX_GROUPS`] distinct groups.
    TooManyGroups,
}

/// What to look a user up by.
#[derive(Clone, Copy)]
pub(crate) enum UserKey<'a> {
    Name(&'a [u8]),
    Id(Uid),
}

/// A passwd entry: uid, primary gid and the login name (copied into an inline buffer).
#[derive(Clone, Copy)]
pub(crate) struct Account {
    uid: Uid,
    gid: Gid,
    name: Stack<u8, NAME_MAX>,
}

impl Account {
    pub(crate) fn uid(&self) -> Uid {
        self.uid
    }

    pub(crate) fn gid(&self) -> Gid {
        self.gid
    }

    pub(crate) fn name(&self) -> &[u8] {
        self.name.as_slice()
    }
}

/// Looks a user up in `passwd` (normally c"/etc/passwd") by name or by uid; first match wins. Ok(None) if absent.
pub(crate) fn find_user(passwd: &CStr, key: UserKey<'_>) -> Result<Option<Account>, LookupError> {
    let mut found = None;
    for_each_line(passwd, &mut |[name, _, uid, gid]| {
        let (Some(uid), Some(gid)) = (parse_id(uid), parse_id(gid)) else {
            return ControlFlow::Continue(());
        };
        let hit = match key {
            UserKey::Name(key) => key == name,
            UserKey::Id(key) => key.as_raw() == uid,
        };
        let mut stored = Stack::new();
        // A name we could not store is treated like any other malformed line.
        if !hit || stored.extend(name).is_err() {
            return ControlFlow::Continue(());
        }
        found = Some(Account {
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
            name: stored,
        });
        ControlFlow::Break(Ok(()))
    })?;
    Ok(found)
}

/// Looks a group up in `group` (normally c"/etc/group") by name; returns its gid. Ok(None) if absent.
pub(crate) fn find_group(group: &CStr, name: &[u8]) -> Result<Option<Gid>, LookupError> {
    let mut found = None;
    for_each_line(group, &mut |[group_name, _, gid, _]| match parse_id(gid) {
        Some(gid) if group_name == name => {
            found = Some(Gid::from_raw(gid));
            ControlFlow::Break(Ok(()))
        }
        _ => ControlFlow::Continue(()),
    })?;
    Ok(found)
}

/// A fixed-capacity, duplicate-free list of gids.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupList {
    gids: Stack<Gid, MAX_GROUPS>,
}

impl GroupList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self { gids: Stack::new() }
    }

    /// Appends `gid` unless already present; `TooManyGroups` when full.
    pub(crate) fn push(&mut self, gid: Gid) -> Result<(), LookupError> {
        if self.as_slice().contains(&gid) {
            return Ok(());
        }
        self.gids.push(gid).map_err(|_| LookupError::TooManyGroups)
    }

    pub(crate) fn clear(&mut self) {
        self.gids.truncate(0);
    }

    pub(crate) fn as_slice(&self) -> &[Gid] {
        self.gids.as_slice()
    }
}

/// initgroups(3) without NSS: `primary` first, then the gid of every group in `group` whose member list
/// (4th field, comma-separated) contains `user` exactly.
///
/// `out` is cleared first, so `primary` is always its first element.
pub(crate) fn supplementary_groups(
    group: &CStr,
    user: &[u8],
    primary: Gid,
    out: &mut GroupList,
) -> Result<(), LookupError> {
    out.clear();
    out.push(primary)?;
    // An empty name would match the empty member list of every group.
    if user.is_empty() {
        return Ok(());
    }
    for_each_line(group, &mut |[_, _, gid, members]| match parse_id(gid) {
        Some(gid) if members.split(|&b| b == b',').any(|m| m == user) => {
            match out.push(Gid::from_raw(gid)) {
                Ok(()) => ControlFlow::Continue(()),
                full => ControlFlow::Break(full),
            }
        }
        _ => ControlFlow::Continue(()),
    })
}

/// What a line callback says: go on, or stop with this result.
type Step = ControlFlow<Result<(), LookupError>>;

/// Calls `f` with the first four `:`-separated fields of each entry line of
/// `path` (missing fields are empty) until it breaks, returning the break value.
///
/// Comments, blank lines, NIS `+`/`-` entries and entries with an empty name
/// are skipped here; callers skip lines whose ids do not parse. `f` is `dyn`
/// so that this loop, and its 16 KiB buffer, exist once in the binary.
fn for_each_line(path: &CStr, f: &mut dyn FnMut([&[u8]; 4]) -> Step) -> Result<(), LookupError> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(LookupError::Io)?;
    let mut buf = [0u8; LINE_MAX];
    // Bytes at the start of `buf` holding a line not yet ended by a newline.
    let mut kept = 0;
    loop {
        // `get` rather than indexing: the ranges are always in bounds, and
        // this keeps panic paths out of the binary.
        let Some(free) = buf.get_mut(kept..) else {
            return Ok(());
        };
        // A full buffer without a newline: reading on would drop part of a line.
        if free.is_empty() {
            return Err(LookupError::LineTooLong);
        }
        let n = match rustix::io::read(&fd, free) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(LookupError::Io(e)),
        };
        let Some(data) = buf.get(..kept + n) else {
            return Ok(());
        };
        let mut lines = data.split(|&b| b == b'\n');
        // The last piece has no newline after it: carried over, or at EOF the
        // final line of a file without a trailing newline.
        let rest = lines.next_back().unwrap_or(&[]);
        for line in lines.chain(if n == 0 { Some(rest) } else { None }) {
            if let ControlFlow::Break(result) = entry(line, f) {
                return result;
            }
        }
        if n == 0 {
            return Ok(());
        }
        kept = rest.len();
        let end = data.len();
        // Never saturates, but spares a bounds check and its panic path.
        buf.copy_within(end.saturating_sub(kept)..end, 0);
    }
}

/// Feeds one line to `f` unless it is not an entry.
fn entry(mut line: &[u8], f: &mut dyn FnMut([&[u8]; 4]) -> Step) -> Step {
    // Like glibc, ignore leading blanks.
    while let [b' ' | b'\t', rest @ ..] = line {
        line = rest;
    }
    if let None | Some(b'#' | b'+' | b'-' | b':') = line.first() {
        return ControlFlow::Continue(());
    }
    let mut fields: [&[u8]; 4] = [&[]; 4];
    for (slot, field) in fields.iter_mut().zip(line.split(|&b| b == b':')) {
        *slot = field;
    }
    f(fields)
}

/// Parses a decimal id; `None` for anything else, including `u32::MAX`,
/// which is `(uid_t)-1` ("no change" to setuid & co.) and never a real id.
fn parse_id(field: &[u8]) -> Option<u32> {
    let id = u32::try_from(crate::text::parse_decimal(field)?).ok()?;
    (id != u32::MAX).then_some(id)
}

#[cfg(test)]
mod tests;
