//! Credentials: the user and groups to run as, resolved before the fork from
//! `/etc/passwd` and `/etc/group` ([`crate::users`]), and dropped to in the daemon.

use core::ffi::CStr;
use rustix::io::Errno;
use rustix::process::{getegid, geteuid, getgid, getuid, Gid, Uid};
use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid, set_thread_uid};

use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::failure::Failure;
use crate::users::{self, GroupList, LookupError, UserKey};

const PASSWD: &CStr = c"/etc/passwd";
const GROUP: &CStr = c"/etc/group";

/// The user to run as: a name looked up in `/etc/passwd`, or a numeric id.
///
/// ```
/// use daemonic::User;
/// assert_eq!(User::from("nobody"), User::Name("nobody"));
/// assert_eq!(User::from(65534), User::Id(65534));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User<'a> {
    /// A login name.
    Name(&'a str),
    /// A numeric uid; it needs no `/etc/passwd` entry if a group is also given.
    Id(u32),
}

impl<'a> From<&'a str> for User<'a> {
    fn from(name: &'a str) -> User<'a> {
        User::Name(name)
    }
}

impl From<u32> for User<'_> {
    fn from(uid: u32) -> Self {
        User::Id(uid)
    }
}

/// The group to run as: a name looked up in `/etc/group`, or a numeric id.
///
/// ```
/// use daemonic::Group;
/// assert_eq!(Group::from("daemon"), Group::Name("daemon"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group<'a> {
    /// A group name.
    Name(&'a str),
    /// A numeric gid.
    Id(u32),
}

impl<'a> From<&'a str> for Group<'a> {
    fn from(name: &'a str) -> Group<'a> {
        Group::Name(name)
    }
}

impl From<u32> for Group<'_> {
    fn from(gid: u32) -> Self {
        Group::Id(gid)
    }
}

/// The supplementary groups the daemon gets when it changes user or group. Whatever
/// the choice, the groups of the process that started it (often root's) never remain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Groups<'a> {
    /// `initgroups(3)`: the target group plus every group of `/etc/group` that lists
    /// the user as a member. Without a user (or for a uid with no passwd entry), just
    /// the target group. The default.
    #[default]
    Initgroups,
    /// Exactly these gids.
    List(&'a [u32]),
    /// None at all.
    Empty,
}

/// The identity options, and the code that resolves them: only the setters that
/// change identity name [`resolve`], so a daemon that keeps its identity does not
/// contain the `/etc/passwd` parser.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Credentials<'a> {
    pub(crate) user: Option<User<'a>>,
    pub(crate) group: Option<Group<'a>>,
    pub(crate) groups: Groups<'a>,
    /// Puts a failure in the slot it is given.
    pub(crate) resolve: fn(&Credentials<'_>, &mut Error) -> Result<Option<Creds>, Failed>,
}

impl Credentials<'_> {
    pub(crate) const fn new() -> Self {
        Credentials {
            user: None,
            group: None,
            groups: Groups::Initgroups,
            resolve,
        }
    }
}

/// The identity the daemon switches to, and the step that does it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Creds {
    pub(crate) uid: Option<Uid>,
    pub(crate) gid: Gid,
    pub(crate) groups: GroupList,
    pub(crate) apply: fn(&Creds) -> Result<(), Failure>,
    pub(crate) describe: fn(&Creds, Failure, &mut Error) -> Failed,
}

/// Resolves the user, group and supplementary groups, before any chroot; `None`
/// when there is nothing to change. Errors are made in `err` (a value would be
/// copied into it).
fn resolve(c: &Credentials<'_>, err: &mut Error) -> Result<Option<Creds>, Failed> {
    if c.user.is_none() && c.group.is_none() {
        return Ok(None);
    }
    let account = match c.user {
        Some(User::Name(name)) => Some(
            match or_return!(
                users::find_user(PASSWD, UserKey::Name(name.as_bytes())),
                |e| lookup(PASSWD, e, err)
            ) {
                Some(account) => account,
                None => {
                    Error::fill(err, ErrorKind::UnknownUser, None).push_path(name.as_bytes());
                    return Err(err.failed());
                }
            },
        ),
        // A numeric user needs no file: a scratch image may have no /etc/passwd.
        Some(User::Id(uid)) => match users::find_user(PASSWD, UserKey::Id(Uid::from_raw(uid))) {
            Err(LookupError::Io(Errno::NOENT)) => None,
            found => or_return!(found, |e| lookup(PASSWD, e, err)),
        },
        None => None,
    };
    let uid = match c.user {
        Some(User::Id(u)) => Some(Uid::from_raw(u)),
        Some(User::Name(_)) => account.map(|a| a.uid()),
        None => None,
    };
    let gid = match c.group {
        Some(Group::Name(name)) => {
            match or_return!(users::find_group(GROUP, name.as_bytes()), |e| lookup(
                GROUP, e, err
            )) {
                Some(gid) => gid,
                None => {
                    Error::fill(err, ErrorKind::UnknownGroup, None).push_path(name.as_bytes());
                    return Err(err.failed());
                }
            }
        }
        Some(Group::Id(g)) => Gid::from_raw(g),
        None => match account {
            Some(a) => a.gid(),
            None => {
                Error::fill(err, ErrorKind::UnknownUser, None)
                    .push_number(uid.map_or(0, Uid::as_raw).into())
                    .push_text(b": no /etc/passwd entry to take a group from; set a group");
                return Err(err.failed());
            }
        },
    };
    // Nothing to drop, and nothing we could change without privileges.
    if !geteuid().is_root() && uid.map_or(true, |u| u == geteuid()) && gid == getegid() {
        return Ok(None);
    }
    let mut groups = GroupList::new();
    match c.groups {
        Groups::List(list) => {
            for &g in list {
                or_return!(groups.push(Gid::from_raw(g)), |e| lookup(GROUP, e, err));
            }
        }
        Groups::Empty => {}
        Groups::Initgroups => {
            let found = match account {
                Some(a) => users::supplementary_groups(GROUP, a.name(), gid, &mut groups),
                None => Err(LookupError::Io(Errno::NOENT)),
            };
            match found {
                Ok(()) => {}
                // No entry, or no /etc/group: the group alone.
                Err(LookupError::Io(Errno::NOENT)) => {
                    groups.clear();
                    or_return!(groups.push(gid), |e| lookup(GROUP, e, err));
                }
                Err(e) => return Err(lookup(GROUP, e, err)),
            }
        }
    }
    Ok(Some(Creds {
        uid,
        gid,
        groups,
        apply,
        describe,
    }))
}

/// A failed read of the accounts `file`, in `err`.
#[cold]
#[inline(never)]
fn lookup(file: &CStr, e: LookupError, err: &mut Error) -> Failed {
    match e {
        LookupError::Io(errno) => {
            Error::fill(err, ErrorKind::ReadAccounts, Some(errno)).push_path(file.to_bytes())
        }
        LookupError::LineTooLong => Error::fill(err, ErrorKind::ReadAccounts, None)
            .push_path(file.to_bytes())
            .push_text(b": a line is too long"),
        LookupError::TooManyGroups => Error::fill(err, ErrorKind::InvalidOption, None)
            .push_text(b"more than ")
            .push_number(users::MAX_GROUPS as u64)
            .push_text(b" supplementary groups"),
    }
    .failed()
}

/// The privilege drop, after the fork: groups first (needs CAP_SETGID), then the gid,
/// then the uid, which gives up the capabilities the other two need; then a check
/// that root cannot be regained. The process has one thread here, so the
/// per-thread calls change the whole process.
fn apply(creds: &Creds) -> Result<(), Failure> {
    set_thread_groups(creds.groups.as_slice()).map_err(Failure::of(ErrorKind::SetGroups))?;
    let gid = creds.gid;
    set_thread_res_gid(gid, gid, gid).map_err(Failure::of(ErrorKind::SetGid))?;
    let Some(uid) = creds.uid else {
        return Ok(());
    };
    set_thread_res_uid(uid, uid, uid).map_err(Failure::of(ErrorKind::SetUid))?;
    let regained = Failure {
        kind: ErrorKind::PrivilegesRegained,
        aux: 0,
        errno: None,
    };
    if getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid {
        return Err(regained);
    }
    if !uid.is_root() && set_thread_uid(Uid::ROOT).is_ok() {
        return Err(regained);
    }
    Ok(())
}

/// Runs `open` with the filesystem identity of the user the daemon becomes (fsuid,
/// fsgid and supplementary groups, on this thread only), so that a root launcher
/// opens only what that user could: never a user's symlink to a root-only file.
/// The caller's identity comes back before it returns. Without a user to become, or
/// when not root (the open is then the caller's own), `open` runs as it is.
pub(crate) fn as_daemon_user<T>(
    creds: Option<&Creds>,
    open: impl FnOnce() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let Some(creds) = creds.filter(|_| geteuid().is_root()) else {
        return open();
    };
    let mut buf = [0u32; users::MAX_GROUPS];
    let saved = crate::sys::thread_groups(&mut buf)?;
    set_thread_groups(creds.groups.as_slice())?;
    let uid = creds.uid.map(Uid::as_raw);
    let (old_uid, old_gid) = crate::sys::set_fs_ids(uid, creds.gid.as_raw());
    let opened = match crate::sys::set_fs_ids(uid, creds.gid.as_raw()) {
        (now_uid, now_gid) if now_uid == uid && now_gid == creds.gid.as_raw() => open(),
        _ => Err(Errno::PERM),
    };
    // Root's fsuid back first: it restores the capabilities setgroups needs.
    crate::sys::set_fs_ids(old_uid, old_gid);
    set_thread_groups(saved)?;
    opened
}

/// The error for a failed step of [`apply`], naming the ids it failed on.
fn describe(creds: &Creds, f: Failure, err: &mut Error) -> Failed {
    use ErrorKind as K;
    let kind = match f.kind {
        K::SetGroups | K::SetGid | K::SetUid => f.kind,
        _ => K::PrivilegesRegained,
    };
    let e = match kind {
        K::SetGroups => Error::fill(err, K::SetGroups, f.errno),
        K::SetGid => Error::fill(err, K::SetGid, f.errno),
        K::SetUid => Error::fill(err, K::SetUid, f.errno),
        _ => Error::fill(err, K::PrivilegesRegained, f.errno),
    };
    match kind {
        K::SetGroups => {
            for (i, gid) in creds.groups.as_slice().iter().enumerate() {
                if i > 0 {
                    e.push_text(b",");
                }
                e.push_number(gid.as_raw().into());
            }
            e
        }
        K::SetGid => e.push_number(creds.gid.as_raw().into()),
        _ => e.push_number(creds.uid.map_or(0, Uid::as_raw).into()),
    }
    .failed()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn a_failed_switch_names_the_ids() {
        let mut groups = GroupList::new();
        for gid in [100, 27, 4] {
            groups.push(Gid::from_raw(gid)).unwrap();
        }
        let creds = Creds {
            uid: Some(Uid::from_raw(1000)),
            gid: Gid::from_raw(100),
            groups,
            apply,
            describe,
        };
        let failed = |kind, errno| {
            let mut err = Error::new(ErrorKind::Died);
            let _ = describe(
                &creds,
                Failure {
                    kind,
                    aux: 0,
                    errno,
                },
                &mut err,
            );
            err
        };
        let eperm = Some(Errno::PERM);
        let cases = [
            (
                ErrorKind::SetGroups,
                eperm,
                "cannot set supplementary groups to 100,27,4: ",
            ),
            (ErrorKind::SetGid, eperm, "cannot set group id to 100: "),
            (ErrorKind::SetUid, eperm, "cannot set user id to 1000: "),
            (
                ErrorKind::PrivilegesRegained,
                None,
                "root privileges could be regained after dropping them to 1000",
            ),
        ];
        for (kind, errno, start) in cases {
            let text = failed(kind, errno).to_string();
            assert!(text.starts_with(start), "{text}");
            assert_eq!(errno.is_some(), text.contains("(os error 1)"), "{text}");
        }
    }
}
