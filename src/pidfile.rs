//! The pidfile: created safely, locked with `flock` for the daemon's whole life.
//!
//! The lock, not the number inside, says whether the daemon lives: it is taken before
//! the fork, inherited by the daemon, and released by the kernel when the daemon's last
//! descriptor for it closes, however the daemon dies. The algorithm is FreeBSD's
//! `pidfile(3)`/`flopen(3)`: open without following a final symlink, check the file,
//! lock it, then check that the path still names the inode we locked (another process
//! may have removed or replaced it meanwhile) and start over if not.

use core::ffi::CStr;
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::fs::{self, AtFlags, FileType, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;
use rustix::process::{geteuid, getpid, Pid};

use crate::error::{Error, ErrorKind, Shown};
use crate::path::IntoCPath;

/// Linux's longest file name (`NAME_MAX`) plus its NUL.
const NAME_CAP: usize = 256;
/// Linux's longest path (`PATH_MAX`, with its NUL).
const PATH_CAP: usize = 4096;
/// The longest pidfile content we read: a PID is at most 10 digits plus whitespace.
const CONTENT_CAP: usize = 32;
/// How many times we start over when the path stops naming the inode we locked.
const ATTEMPTS: usize = 64;

/// A locked pidfile.
///
/// [`open`](Pidfile::open) creates the file if needed (mode 0644 whatever the umask),
/// refuses an insecure one, and takes an exclusive `flock`; the lock lasts until this
/// value and every descriptor inherited from it are gone. Dropping it
/// [`release`](Pidfile::release)s it: the file is removed while still locked.
///
/// The daemon builder uses this type for you ([`Daemon::pidfile`](crate::Daemon::pidfile));
/// use it on its own to guard a program that does not daemonize.
///
/// ```no_run
/// use daemonic::{ErrorKind, Pidfile};
///
/// match Pidfile::open("/run/app.pid") {
///     Ok(pidfile) => {
///         pidfile.write(rustix::process::getpid())?;
///         // ... run; the pidfile is removed when `pidfile` is dropped.
///     }
///     Err(e) if matches!(e.kind(), ErrorKind::AlreadyRunning { .. }) => eprintln!("{e}"),
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pidfile {
    file: OwnedFd,
    /// The directory, so the file can be removed by name after a chroot or chdir.
    dir: OwnedFd,
    name: [u8; NAME_CAP],
    /// False in the original process after the fork: it closes its copy of the
    /// descriptor on drop but leaves the file to the daemon.
    owner: bool,
}

/// What the pidfile held before we locked it, so a failed start can put it back.
pub(crate) struct Previous {
    created: bool,
    len: usize,
    content: [u8; CONTENT_CAP],
}

impl Pidfile {
    /// Opens or creates the pidfile at `path` and locks it.
    ///
    /// Fails with [`ErrorKind::AlreadyRunning`] (carrying the PID the file names) when
    /// another process holds the lock, and with [`ErrorKind::InsecurePidfile`] when the
    /// path is a symlink, or names something other than a regular file with one link,
    /// owned by us or root and not writable by group or others.
    pub fn open<'a>(path: impl IntoCPath<'a>) -> Result<Pidfile, Error> {
        let path = path.into_c_path().map_err(|_| {
            Error::new(
                ErrorKind::InvalidOption,
                None,
                format_args!("pidfile path contains a NUL byte"),
            )
        })?;
        Pidfile::lock(path.as_c_str(), 3).map(|(pidfile, _)| pidfile)
    }

    /// Opens and locks the pidfile; both descriptors (file and directory) are placed
    /// at `floor` or above (see [`fds::at_or_above`](crate::fds::at_or_above)).
    pub(crate) fn lock(path: &CStr, floor: i32) -> Result<(Pidfile, Previous), Error> {
        let shown = Shown(path.to_bytes());
        let fail = |kind, errno| Error::new(kind, errno, format_args!("{shown}"));
        let (dir_path, name) = split(path).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOption,
                None,
                format_args!("pidfile path {shown} names no file"),
            )
        })?;
        let dir_path = dir_path.as_c_str();
        let dir = fs::open(
            dir_path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(ErrorKind::OpenPidfile, Some(e)))?;
        let dir = crate::fds::at_or_above(dir, floor)
            .map_err(|e| fail(ErrorKind::OpenPidfile, Some(e)))?;
        let name_c = CStr::from_bytes_until_nul(&name).unwrap_or_default();
        for _ in 0..ATTEMPTS {
            let (file, created) = open_file(&dir, name_c).map_err(|e| match e {
                Errno::LOOP => insecure(&shown, "is a symbolic link"),
                Errno::ISDIR => insecure(&shown, "is a directory"),
                e => fail(ErrorKind::OpenPidfile, Some(e)),
            })?;
            let file = crate::fds::at_or_above(file, floor)
                .map_err(|e| fail(ErrorKind::OpenPidfile, Some(e)))?;
            let st = fs::fstat(&file).map_err(|e| fail(ErrorKind::OpenPidfile, Some(e)))?;
            if st.st_nlink == 0 {
                continue; // unlinked since our open: start over
            }
            let writable = if created { 0 } else { 0o022 };
            check(&st, writable).map_err(|why| insecure(&shown, why))?;
            // Before locking: the creator may lose the lock to another starter,
            // and the file must not stay as the umask made it.
            if created && st.st_mode & 0o7777 != 0o644 {
                // The umask shaped the new file's mode; the pidfile must be 0644 regardless.
                fs::fchmod(&file, Mode::from_raw_mode(0o644))
                    .map_err(|e| fail(ErrorKind::OpenPidfile, Some(e)))?;
            }

            match lock_exclusive(&file) {
                Ok(true) => {}
                Ok(false) => {
                    let pid = read_pid(&file).filter(|&pid| pid != getpid());
                    return Err(Error::new(
                        ErrorKind::AlreadyRunning { pid },
                        None,
                        format_args!("{shown}"),
                    ));
                }
                Err(e) => return Err(fail(ErrorKind::LockPidfile, Some(e))),
            }
            // The path may have been unlinked or replaced between our open and our lock.
            match fs::statat(&dir, name_c, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(now) if now.st_dev == st.st_dev && now.st_ino == st.st_ino => {}
                Ok(_) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(fail(ErrorKind::OpenPidfile, Some(e))),
            }
            let mut previous = Previous {
                created,
                len: 0,
                content: [0; CONTENT_CAP],
            };
            if st.st_size > 0 {
                previous.len = rustix::io::pread(&file, &mut previous.content, 0).unwrap_or(0);
                // Empty from the moment we hold the lock: until the daemon writes its
                // PID, the old one (perhaps reused by an unrelated process by now) must
                // not look like a live daemon's to `stop` or `status`.
                fs::ftruncate(&file, 0).map_err(|e| fail(ErrorKind::WritePidfile, Some(e)))?;
            }
            return Ok((
                Pidfile {
                    file,
                    dir,
                    name,
                    owner: true,
                },
                previous,
            ));
        }
        Err(fail(ErrorKind::LockPidfile, Some(Errno::AGAIN)))
    }

    /// Replaces the pidfile's content with `pid` and a newline.
    ///
    /// ```no_run
    /// # let pidfile = daemonic::Pidfile::open("/run/app.pid")?;
    /// pidfile.write(rustix::process::getpid())?;
    /// assert_eq!(pidfile.read(), Some(rustix::process::getpid()));
    /// # Ok::<(), daemonic::Error>(())
    /// ```
    pub fn write(&self, pid: Pid) -> Result<(), Error> {
        self.write_pid(pid).map_err(|e| {
            Error::new(
                ErrorKind::WritePidfile,
                Some(e),
                format_args!("{}", Shown(self.name().to_bytes())),
            )
        })
    }

    /// `write` without building an [`Error`]: safe between fork and return.
    pub(crate) fn write_pid(&self, pid: Pid) -> Result<(), Errno> {
        let mut buf = [0u8; 12];
        let text = decimal(pid.as_raw_nonzero().get() as u32, &mut buf);
        // Truncate first: a shorter PID must not leave digits of a longer one behind.
        fs::ftruncate(&self.file, 0)?;
        if rustix::io::pwrite(&self.file, text, 0)? != text.len() {
            return Err(Errno::IO);
        }
        Ok(())
    }

    /// The PID the pidfile currently names, if it holds one in FHS format.
    pub fn read(&self) -> Option<Pid> {
        read_pid(&self.file)
    }

    /// Removes the pidfile, while still holding the lock, then unlocks it.
    ///
    /// The file is removed only if its path still names the locked file. When the
    /// directory no longer lets us remove it (the daemon dropped its privileges and the
    /// directory belongs to root), the file is emptied instead: an unlocked, empty
    /// pidfile names nobody, and the next start reuses it.
    pub fn release(mut self) -> Result<(), Error> {
        self.remove().map_err(|e| {
            Error::new(
                ErrorKind::WritePidfile,
                Some(e),
                format_args!("{}", Shown(self.name().to_bytes())),
            )
        })
    }

    fn remove(&mut self) -> Result<(), Errno> {
        if !core::mem::replace(&mut self.owner, false) {
            return Ok(());
        }
        let st = fs::fstat(&self.file)?;
        let name = CStr::from_bytes_until_nul(&self.name).unwrap_or_default();
        match fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) if now.st_dev == st.st_dev && now.st_ino == st.st_ino => {}
            // Someone else's file now: leave it alone.
            Ok(_) | Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e),
        }
        match fs::unlinkat(&self.dir, name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::ACCESS | Errno::PERM | Errno::ROFS) => fs::ftruncate(&self.file, 0),
            Err(e) => Err(e),
        }
    }

    /// The file name of the pidfile inside its directory.
    fn name(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.name).unwrap_or_default()
    }

    /// Puts back what the pidfile held before a failed start, and unlocks it.
    pub(crate) fn restore(mut self, previous: &Previous) {
        if previous.created {
            let _ = self.remove();
        } else {
            self.owner = false;
            let _ = fs::ftruncate(&self.file, 0);
            let _ = rustix::io::pwrite(&self.file, &previous.content[..previous.len], 0);
        }
    }

    /// Closes this process's descriptor without touching the file: the original
    /// process does this once the daemon, which shares the lock, is ready.
    pub(crate) fn disown(mut self) {
        self.owner = false;
    }

    /// The descriptors the daemon must keep open: the locked file and its directory.
    pub(crate) fn raw_fds(&self) -> [i32; 2] {
        [self.file.as_raw_fd(), self.dir.as_raw_fd()]
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

fn insecure(shown: &Shown<'_>, why: &str) -> Error {
    Error::new(
        ErrorKind::InsecurePidfile,
        None,
        format_args!("{shown}: it {why}"),
    )
}

/// Opens the file, creating it exclusively if absent, and says whether we created it.
fn open_file(dir: &OwnedFd, name: &CStr) -> Result<(OwnedFd, bool), Errno> {
    // NOFOLLOW: never write through a planted symlink. NONBLOCK: a FIFO planted at the
    // path must not hang us; fstat then refuses it. NOCTTY: never acquire a terminal.
    let flags =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    loop {
        match fs::openat(
            dir,
            name,
            flags | OFlags::CREATE | OFlags::EXCL,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(fd) => return Ok((fd, true)),
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
        match fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => return Ok((fd, false)),
            // Removed between our two opens: create it after all.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The checks of start-stop-daemon 1.19.3 and FreeBSD pidfile(3) on an opened pidfile:
/// a regular file with one link, owned by root or us, with none of the `writable`
/// mode bits (group and others for a starter, others for a reader) set.
fn check(st: &Stat, writable: u32) -> Result<(), &'static str> {
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err("is not a regular file");
    }
    if st.st_nlink != 1 {
        return Err("has more than one hard link");
    }
    if st.st_uid != 0 && st.st_uid != geteuid().as_raw() {
        return Err("is owned by another user");
    }
    if st.st_mode & writable & 0o022 != 0 {
        return Err(if st.st_mode & 0o002 != 0 {
            "is writable by others"
        } else {
            "is writable by its group"
        });
    }
    Ok(())
}

/// How long a starter waits out status probes' shared locks before giving up:
/// `PROBE_RETRIES` attempts, `PROBE_PAUSE` apart (100 ms in all).
const PROBE_RETRIES: usize = 500;
const PROBE_PAUSE: core::time::Duration = core::time::Duration::from_micros(200);

/// Takes the exclusive lock; `Ok(false)` when a daemon holds it.
///
/// A status probe ([`status`](crate::status)) holds a *shared* lock for an instant.
/// When the exclusive lock is refused, a shared one tells the two holders apart: if it
/// is granted, only probes hold the file and we try again shortly; if it is refused,
/// an exclusive holder, a daemon (or a starter about to become one), has it.
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

/// Whether another process holds a lock on `file`, tested with a shared lock that is
/// released at once (so a starter's exclusive attempt meanwhile is retried, see
/// [`lock_exclusive`]).
pub(crate) fn is_locked(file: &OwnedFd) -> Result<bool, Errno> {
    match fs::flock(file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => fs::flock(file, FlockOperation::Unlock).map(|()| false),
        Err(Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

/// What a pidfile says, for status and stop: its descriptor, and its content, which
/// is `Ok(None)` when empty and `Err(())` when malformed.
pub(crate) struct Contents {
    pub(crate) file: OwnedFd,
    pub(crate) pid: Result<Option<Pid>, ()>,
}

/// Opens a pidfile to read it: `Ok(None)` when there is none. Refuses, as
/// start-stop-daemon does, a symlink, a hard link, something other than a regular
/// file, a file owned by a user other than root or us, or one writable by others.
pub(crate) fn inspect(path: &CStr) -> Result<Option<Contents>, Error> {
    let shown = Shown(path.to_bytes());
    let fail = |e| Error::new(ErrorKind::ReadPidfile, Some(e), format_args!("{shown}"));
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let file = match fs::open(path, flags, Mode::empty()) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => return Err(insecure(&shown, "is a symbolic link")),
        Err(e) => return Err(fail(e)),
    };
    let st = fs::fstat(&file).map_err(fail)?;
    if st.st_nlink == 0 {
        return Ok(None); // removed since our open
    }
    check(&st, 0o002).map_err(|why| insecure(&shown, why))?;
    let pid = read_content(&file).map_err(fail)?;
    Ok(Some(Contents { file, pid }))
}

/// Reads and parses a pidfile's content (see [`parse_pid`]); a PID above the
/// kernel's `pid_max`, or our own PID (a container restarted with the same small
/// PIDs), names no daemon.
pub(crate) fn read_content(file: &OwnedFd) -> Result<Result<Option<Pid>, ()>, Errno> {
    let mut buf = [0u8; CONTENT_CAP + 1];
    let n = rustix::io::pread(file, &mut buf, 0)?;
    if n > CONTENT_CAP {
        return Ok(Err(()));
    }
    let content = &buf[..n];
    if content.trim_ascii().is_empty() {
        return Ok(Ok(None));
    }
    let pid = parse_pid(content).filter(|pid| pid.as_raw_nonzero().get() <= pid_max());
    Ok(match pid {
        Some(pid) if pid == getpid() => Ok(None),
        Some(pid) => Ok(Some(pid)),
        None => Err(()),
    })
}

/// Removes the pidfile at `path` if it names the daemon `pid` that just exited and
/// nobody holds its lock: a program that was exec'd cannot remove its own. A new
/// daemon that locked the path meanwhile keeps its file.
pub(crate) fn remove_stale(path: &CStr, pid: Pid) {
    let Some((dir_path, name)) = split(path) else {
        return;
    };
    let name = CStr::from_bytes_until_nul(&name).unwrap_or_default();
    let Ok(dir) = fs::open(
        dir_path.as_c_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let Ok(file) = fs::openat(&dir, name, flags, Mode::empty()) else {
        return;
    };
    if fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err()
        || read_pid(&file) != Some(pid)
    {
        return;
    }
    let mut pidfile = Pidfile {
        file,
        dir,
        name: [0; NAME_CAP],
        owner: true,
    };
    pidfile.name[..name.to_bytes().len()].copy_from_slice(name.to_bytes());
    // `remove` checks that the path still names the file we locked.
    let _ = pidfile.remove();
}

/// The kernel's largest PID (`/proc/sys/kernel/pid_max`), or its ceiling, 2^22.
fn pid_max() -> i32 {
    const CEILING: i32 = 1 << 22;
    let Ok(file) = fs::open(
        c"/proc/sys/kernel/pid_max",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return CEILING;
    };
    let mut buf = [0u8; 16];
    let n = rustix::io::read(&file, &mut buf).unwrap_or(0);
    parse_pid(&buf[..n]).map_or(CEILING, |max| max.as_raw_nonzero().get())
}

/// Splits `path` into its directory (as a C string) and its file name (NUL-terminated).
fn split(path: &CStr) -> Option<(Buf<PATH_CAP>, [u8; NAME_CAP])> {
    let bytes = path.to_bytes();
    let (dir, name) = match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &bytes[1..]),
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (&b"."[..], bytes),
    };
    if name.is_empty()
        || name == b"."
        || name == b".."
        || name.len() >= NAME_CAP
        || dir.len() >= PATH_CAP
    {
        return None;
    }
    let mut name_buf = [0u8; NAME_CAP];
    name_buf[..name.len()].copy_from_slice(name);
    Some((Buf::new(dir), name_buf))
}

/// A NUL-terminated copy of a short byte string on the stack.
struct Buf<const N: usize> {
    bytes: [u8; N],
}

impl<const N: usize> Buf<N> {
    /// `src` must be shorter than `N` and contain no NUL (it comes from a `CStr`).
    fn new(src: &[u8]) -> Self {
        let mut bytes = [0u8; N];
        bytes[..src.len()].copy_from_slice(src);
        Buf { bytes }
    }

    fn as_c_str(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.bytes).unwrap_or_default()
    }
}

/// Reads and parses the PID a pidfile descriptor holds.
fn read_pid(file: &OwnedFd) -> Option<Pid> {
    let mut buf = [0u8; CONTENT_CAP];
    let n = rustix::io::pread(file, &mut buf, 0).ok()?;
    parse_pid(&buf[..n])
}

/// Parses FHS pidfile content: a positive decimal PID, optionally surrounded by
/// whitespace. Anything else is `None`, never 0 or -1 (which would signal whole
/// process groups).
pub(crate) fn parse_pid(content: &[u8]) -> Option<Pid> {
    let digits = content.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let start = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    let digits = &digits[start..];
    if digits.len() > 10 {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Pid::from_raw(i32::try_from(value).ok()?)
}

/// `n` in decimal, without the newline [`decimal`] adds.
pub(crate) fn digits(n: u32, buf: &mut [u8; 12]) -> &[u8] {
    let text = decimal(n, buf);
    &text[..text.len() - 1]
}

/// Formats `n` in decimal with a trailing newline into `buf`, without `core::fmt`.
pub(crate) fn decimal(mut n: u32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len() - 1;
    buf[i] = b'\n';
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::borrow::ToOwned;
    use std::string::ToString;

    #[test]
    fn parses_fhs_content() {
        let pid = |s: &[u8]| parse_pid(s).map(|p| p.as_raw_nonzero().get());
        assert_eq!(pid(b"123\n"), Some(123));
        assert_eq!(pid(b"  0042 \n"), Some(42));
        assert_eq!(pid(b"2147483647"), Some(i32::MAX));
        for bad in [
            &b""[..],
            b"\n",
            b"abc",
            b"-1",
            b"0",
            b"12 34",
            b"99999999999",
            b"2147483648",
            b"12x",
        ] {
            assert_eq!(pid(bad), None, "{:?}", bad.escape_ascii().to_string());
        }
    }

    #[test]
    fn formats_decimal() {
        let mut buf = [0; 12];
        assert_eq!(decimal(0, &mut buf), b"0\n");
        assert_eq!(decimal(7, &mut buf), b"7\n");
        assert_eq!(decimal(4294967295, &mut buf), b"4294967295\n");
    }

    #[test]
    fn splits_paths() {
        let parts = |p: &CStr| {
            split(p).map(|(d, n)| {
                (
                    d.as_c_str().to_owned(),
                    CStr::from_bytes_until_nul(&n).unwrap().to_owned(),
                )
            })
        };
        assert_eq!(
            parts(c"/run/a.pid"),
            Some((c"/run".into(), c"a.pid".into()))
        );
        assert_eq!(parts(c"/a.pid"), Some((c"/".into(), c"a.pid".into())));
        assert_eq!(parts(c"a.pid"), Some((c".".into(), c"a.pid".into())));
        assert_eq!(parts(c"/run/"), None);
        assert_eq!(parts(c"/run/.."), None);
    }
}
