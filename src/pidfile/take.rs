//! Taking a pidfile: open it (creating it exclusively if absent), check it, lock it,
//! check that the path still names it, and open the write-only descriptor. Failures
//! are [`Refused`], eight bytes, until they become an
//! [`Error`](crate::Error) naming the path.

use core::ffi::CStr;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, FlockOperation, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;
use rustix::process::{geteuid, getpid};

use super::content::{pidlike, read, Content, CONTENT_CAP};
use super::refused::{Refused, DIRECTORY, NOT_PIDLIKE, SYMLINK};
use crate::stack::Stack;

/// Linux's longest path (`PATH_MAX`, with its NUL).
const PATH_CAP: usize = 4096;
/// How many times we start over when the path stops naming the inode we locked.
const ATTEMPTS: usize = 64;

/// What the pidfile held before we locked it, so a failed start can put it back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Previous {
    pub(super) created: bool,
    pub(super) content: Stack<u8, CONTENT_CAP>,
    /// The mode, when we changed it.
    pub(super) mode: Option<u32>,
}

/// Finds the file's directory (see [`locator`]) and takes the file, starting over
/// (64 times at most) while the path keeps changing under us.
#[inline(never)]
pub(super) fn locate_and_take(
    path: &CStr,
    mode: u32,
    floor: i32,
    locate: Option<Locate>,
    previous: &mut Previous,
) -> Result<(OwnedFd, Option<OwnedFd>, usize), Refused> {
    let name_at = super::name_at(path).ok_or(Refused::NoFile)?;
    let dir = match locate {
        Some(locate) => Some(locate(path, name_at, floor)?),
        None => None,
    };
    let at = dir.as_ref().map_or(CWD, |d| d.as_fd());
    let name = name_in(path, dir.is_some(), name_at);
    for _ in 0..ATTEMPTS {
        match take(at, name, mode, floor, previous) {
            Ok(lock) => return Ok((lock, dir, name_at)),
            Err(Refused::Retry) => {}
            Err(r) => return Err(r),
        }
    }
    Err(Refused::Lock(Errno::AGAIN))
}

/// One attempt at taking the file: open (creating it exclusively with `mode` if
/// absent), check, lock, check that the path still names it, read what it held.
// Out of line, like the cold paths below: inlined into the retry loop, each makes
// the loop spill more registers than its call costs.
#[inline(never)]
fn take(
    at: BorrowedFd<'_>,
    name: &CStr,
    mode: u32,
    floor: i32,
    previous: &mut Previous,
) -> Result<OwnedFd, Refused> {
    // NOFOLLOW: never write through a planted symlink. NONBLOCK: a FIFO planted at the
    // path must not hang us; fstat then refuses it. NOCTTY: never acquire a terminal.
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let create = flags | OFlags::CREATE | OFlags::EXCL;
    let (file, created) = match fs::openat(at, name, create, Mode::from_raw_mode(mode)) {
        Ok(fd) => (fd, true),
        Err(Errno::EXIST) => match fs::openat(at, name, flags, Mode::empty()) {
            Ok(fd) => (fd, false),
            // Removed between our two opens.
            Err(Errno::NOENT) => return Err(Refused::Retry),
            Err(Errno::ACCESS) => return Err(not_ours(at, name)),
            Err(e) => return Err(refused_open(e)),
        },
        Err(e) => return Err(refused_open(e)),
    };
    // A match: `map_err(..)?` copies the whole `Stat` out of one `Result` into another.
    let st = match fs::fstat(&file) {
        Ok(st) => st,
        Err(e) => return Err(Refused::Open(e)),
    };
    let file = match crate::fds::at_or_above(file, floor) {
        Ok(file) => file,
        Err(e) => {
            if created {
                unlink_created(at, name, &st);
            }
            return Err(Refused::Open(e));
        }
    };
    if st.st_nlink == 0 {
        return Err(Refused::Retry); // unlinked since our open
    }
    check(&st, if created { 0 } else { 0o022 }).map_err(Refused::Insecure)?;
    if !lock_exclusive(&file).map_err(Refused::Lock)? {
        return Err(locked_by(&file, &st));
    }
    // The path may have been unlinked or replaced between our open and our lock.
    match fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now) if same_file(&now, &st) => {}
        Ok(_) | Err(Errno::NOENT) => return Err(Refused::Retry),
        Err(e) => return Err(Refused::Open(e)),
    }
    previous.created = created;
    previous.content.truncate(0);
    previous.mode = None;
    if st.st_size > 0 {
        // Only a pidfile's content (digits and whitespace: a PID, and a monitor's
        // runs line) is taken over: anything else is somebody's file, which a start
        // must not touch.
        let mut buf = [0u8; CONTENT_CAP + 1];
        let n = rustix::io::pread(&file, &mut buf, 0).map_err(Refused::Read)?;
        if n > CONTENT_CAP || !pidlike(&buf[..n]) {
            return Err(Refused::Insecure(NOT_PIDLIKE));
        }
        let _ = previous.content.extend(&buf[..n]);
    }
    if st.st_mode & 0o7777 != mode {
        fs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(Refused::Open)?;
        previous.mode = Some(st.st_mode & 0o7777);
    }
    Ok(file)
}

/// A pidfile we may not open (another user's daemon, root's for a user): when only
/// its owner can open it and someone holds it locked (`/proc/locks` tells anyone),
/// that is its daemon, already running.
#[cold]
#[inline(never)]
fn not_ours(at: BorrowedFd<'_>, name: &CStr) -> Refused {
    match fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if st.st_mode & 0o077 == 0 && crate::holder::locked(&st) == Some(true) => {
            Refused::Running(None)
        }
        _ => Refused::Open(Errno::ACCESS),
    }
}

/// Removes the file we just created and could not keep, if the path still names it
/// (a starter that opened it meanwhile sees it unlinked after its lock and retries).
#[cold]
#[inline(never)]
fn unlink_created(at: BorrowedFd<'_>, name: &CStr, ours: &Stat) {
    if let Ok(now) = fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        if same_file(&now, ours) {
            let _ = fs::unlinkat(at, name, AtFlags::empty());
        }
    }
}

/// Who holds the lock we could not take: the daemon the file names, when that very
/// process holds it (or when `/proc` cannot tell, as before it existed); a starter
/// that has not written its PID yet; or a stranger, whom nothing believes.
///
/// Only its owner and root can open a file no one else may read: a lock on it that the
/// named PID does not hold is a starter's, which has not written its PID yet (or not
/// yet replaced a dead daemon's). As `control` judges it.
#[cold]
#[inline(never)]
fn locked_by(file: &OwnedFd, st: &Stat) -> Refused {
    let content = read(file);
    if let Ok(Content::Pid(pid)) = content {
        if pid != getpid() {
            match crate::holder::holds(pid, st) {
                Ok(false) | Err(Errno::SRCH) => {}
                Ok(true) | Err(_) => return Refused::Running(Some(pid)),
            }
        }
    }
    let pid = match content {
        Ok(Content::Pid(pid)) => Some(pid),
        _ => None,
    };
    if st.st_mode & 0o077 == 0 {
        Refused::Running(None)
    } else {
        Refused::Foreign(pid)
    }
}

fn refused_open(errno: Errno) -> Refused {
    match errno {
        Errno::LOOP => Refused::Insecure(SYMLINK),
        Errno::ISDIR => Refused::Insecure(DIRECTORY),
        e => Refused::Open(e),
    }
}

/// A second, write-only open of the locked file: through `/proc/self/fd`, which
/// reaches the very inode, or without `/proc` by name, checked to be the same file;
/// emptied if it held an old PID.
pub(super) fn open_writer(
    locked: &OwnedFd,
    at: BorrowedFd<'_>,
    name: &CStr,
    floor: i32,
    previous: &Previous,
) -> Result<OwnedFd, Refused> {
    let flags = OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let mut path = Stack::new();
    let fd = locked.as_raw_fd() as u64;
    let via_proc = crate::procfs::path(&mut path, b"/proc/self/fd/", fd, b"\0");
    let writer = match fs::open(via_proc, flags, Mode::empty()) {
        Ok(writer) => writer,
        Err(Errno::NOENT | Errno::NOTDIR) => {
            let writer = fs::openat(at, name, flags | OFlags::NOFOLLOW, Mode::empty())
                .map_err(Refused::Open)?;
            let (a, b) = (fs::fstat(&writer), fs::fstat(locked));
            match (a, b) {
                (Ok(a), Ok(b)) if same_file(&a, &b) => writer,
                _ => return Err(Refused::Open(Errno::STALE)),
            }
        }
        Err(e) => return Err(Refused::Open(e)),
    };
    let writer = crate::fds::at_or_above(writer, floor).map_err(Refused::Open)?;
    if !previous.content.as_slice().is_empty() {
        fs::ftruncate(&writer, 0).map_err(Refused::Write)?;
    }
    Ok(writer)
}

/// Finds a pidfile's directory, for [`Pidfile::lock`](super::Pidfile::lock): only a relative path or a
/// daemon that chroots needs one (see [`locator`]).
pub(crate) type Locate = fn(&CStr, usize, i32) -> Result<OwnedFd, Refused>;

/// What finds `path`'s directory, if anything must: a relative path (the daemon
/// changes directory) or a daemon that chroots. Only these reach the code.
pub(crate) fn locator(path: &CStr, chroot: bool) -> Option<Locate> {
    let relative = path.to_bytes().first() != Some(&b'/');
    (relative || chroot).then_some(open_parent as Locate)
}

/// Opens the directory of `path` (whose file name starts at `name_at`), at `floor`
/// or above.
pub(super) fn open_parent(path: &CStr, name_at: usize, floor: i32) -> Result<OwnedFd, Refused> {
    let bytes = path.to_bytes();
    let dir = match name_at {
        0 => open_dir(c"."),
        1 => open_dir(c"/"),
        _ => {
            // The directory's part of the path, NUL-terminated (shorter than the
            // path, which the kernel takes, so shorter than PATH_MAX).
            let mut dir = [0u8; PATH_CAP + 1];
            let part = &bytes[..(name_at - 1).min(PATH_CAP)];
            dir[..part.len()].copy_from_slice(part);
            open_dir(crate::text::c_str(&dir[..=part.len()]).unwrap_or_default())
        }
    };
    dir.and_then(|d| crate::fds::at_or_above(d, floor))
        .map_err(Refused::Open)
}

fn open_dir(path: &CStr) -> Result<OwnedFd, Errno> {
    fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The name of the file in its directory (`in_dir`), or the whole path.
pub(super) fn name_in(path: &CStr, in_dir: bool, name_at: usize) -> &CStr {
    crate::text::c_suffix(path, if in_dir { name_at } else { 0 })
}

pub(super) fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// The checks of start-stop-daemon 1.19.3 and FreeBSD pidfile(3) on an opened pidfile:
/// a regular file with one link, owned by root or us, with none of the `writable`
/// mode bits (group and others for a starter, others for a reader) set.
/// `Err` holds the reason, an index of [`REFUSALS`](super::refused::REFUSALS).
pub(crate) fn check(st: &Stat, writable: u32) -> Result<(), u8> {
    // The type bits compared as numbers: `FileType::from_raw_mode` is a call.
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFDIR => return Err(DIRECTORY),
        _ => return Err(2),
    }
    if st.st_nlink != 1 {
        return Err(3);
    }
    if st.st_uid != 0 && st.st_uid != geteuid().as_raw() {
        return Err(4);
    }
    if st.st_mode & writable & 0o022 != 0 {
        return Err(if st.st_mode & 0o002 != 0 { 5 } else { 6 });
    }
    Ok(())
}

/// How long a starter waits out status probes' shared locks before giving up:
/// `PROBE_RETRIES` attempts, `PROBE_PAUSE` apart (100 ms in all).
const PROBE_RETRIES: usize = 500;
const PROBE_PAUSE: core::time::Duration = core::time::Duration::from_micros(200);

/// Takes the exclusive lock; `Ok(false)` when a daemon holds it.
///
/// A prober (another tool's `status`) may hold a *shared* lock for an instant. When
/// the exclusive lock is refused, a shared one tells the two holders apart: if it is
/// granted, only probes hold the file and we try again shortly; if it is refused, an
/// exclusive holder, a daemon (or a starter about to become one), has it.
fn lock_exclusive(file: &OwnedFd) -> Result<bool, Errno> {
    for _ in 0..PROBE_RETRIES {
        match fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(Errno::WOULDBLOCK) => {}
            Err(e) => return Err(e),
        }
        match fs::flock(file, FlockOperation::NonBlockingLockShared) {
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(e) => return Err(e),
            Ok(()) => fs::flock(file, FlockOperation::Unlock)?,
        }
        crate::channel::sleep(PROBE_PAUSE);
    }
    Err(Errno::AGAIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_a_file() {
        let mut previous = Previous {
            created: false,
            content: Stack::new(),
            mode: None,
        };
        for bad in [c"/run/", c"/run/..", c"."] {
            let taken = locate_and_take(bad, 0o600, 3, None, &mut previous);
            assert!(matches!(taken, Err(Refused::NoFile)), "{bad:?}");
        }
        assert!(locator(c"/run/a.pid", false).is_none());
        assert!(locator(c"/run/a.pid", true).is_some());
        assert!(locator(c"a.pid", false).is_some());
        assert_eq!(name_in(c"/run/a.pid", false, 5), c"/run/a.pid");
        assert_eq!(name_in(c"/run/a.pid", true, 5), c"a.pid");
    }
}
