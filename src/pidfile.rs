//! The pidfile: created safely, locked with `flock` for the daemon's whole life.
//!
//! The lock, not the number inside, says whether the daemon lives: it is taken before
//! the fork, inherited by the daemon, and released by the kernel when the daemon's last
//! descriptor for it closes, however the daemon dies. The algorithm is FreeBSD's
//! `pidfile(3)`/`flopen(3)`: open without following a final symlink, check the file,
//! lock it, then check that the path still names the inode we locked (another process
//! may have removed or replaced it meanwhile) and start over if not.
//!
//! Two open file descriptions: the lock lives on a **read-only** one, the only one a
//! daemon keeps (an unprivileged daemon, or the program it execs, cannot rewrite the
//! PID that root's `stop` will signal); the PID is written through a **write-only**
//! one, which the daemon closes before it drops privileges or execs.

use core::ffi::CStr;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, FileType, FlockOperation, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;
use rustix::process::{geteuid, getpid, Pid};

use crate::error::{frame, Error, ErrorKind};
use crate::path::{CPath, IntoCPath};
use crate::stack::Stack;

/// Linux's longest path (`PATH_MAX`, with its NUL).
const PATH_CAP: usize = 4096;
/// The longest pidfile content we accept: a PID is at most 10 digits plus whitespace.
const CONTENT_CAP: usize = 32;
/// How many times we start over when the path stops naming the inode we locked.
const ATTEMPTS: usize = 64;
/// The default mode: nobody but the owner may open it, so nobody else can lock it
/// (`flock` works on any descriptor, even a read-only one). FreeBSD's `pidfile(3)`
/// uses the same.
pub(crate) const DEFAULT_MODE: u32 = 0o600;

/// A locked pidfile.
///
/// [`open`](Pidfile::open) creates the file if needed (mode 0600 whatever the umask),
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
pub struct Pidfile<'a> {
    /// Read-only; holds the lock.
    lock: OwnedFd,
    /// Write-only; `None` once given up.
    writer: Option<OwnedFd>,
    /// The directory, when the file must be found again after a chroot or a chdir
    /// (a relative path, or a daemon that chroots).
    dir: Option<OwnedFd>,
    /// The path the caller gave.
    path: CPath<'a>,
    /// Where the file's name starts in `path`.
    name_at: usize,
    /// False once the file is handed over: dropping then only closes descriptors.
    owner: bool,
}

/// What the pidfile held before we locked it, so a failed start can put it back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Previous {
    created: bool,
    content: Stack<u8, CONTENT_CAP>,
    /// The mode, when we changed it.
    mode: Option<u32>,
}

/// What a pidfile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Nothing (or only whitespace): a starting daemon, or one that left.
    Empty,
    /// A PID in FHS format.
    Pid(Pid),
    /// Anything else, or more than a PID's worth of bytes.
    Other,
}

impl<'a> Pidfile<'a> {
    /// Opens or creates the pidfile at `path` and locks it.
    ///
    /// Fails with [`ErrorKind::AlreadyRunning`] (carrying the PID the file names) when
    /// another process holds the lock, and with [`ErrorKind::InsecurePidfile`] when the
    /// path is a symlink, or names something other than a regular file with one link,
    /// owned by us or root, not writable by group or others, holding a PID or nothing.
    pub fn open(path: impl IntoCPath<'a>) -> Result<Pidfile<'a>, Error> {
        let path = path
            .into_c_path()
            .map_err(|_| Error::invalid("pidfile path contains a NUL byte"))?;
        let locate = locator(path.as_c_str(), false);
        let (mut pidfile, previous) = Pidfile::lock(path, DEFAULT_MODE, 3, locate)?;
        pidfile.open_writer(3, &previous)?;
        Ok(pidfile)
    }

    /// Opens and locks the pidfile with `mode`; its descriptors are placed at `floor`
    /// or above (see [`fds::at_or_above`](crate::fds::at_or_above)). With a `locate`
    /// (see [`locator`]) the directory is kept open, to find the file after a chroot
    /// or chdir.
    pub(crate) fn lock(
        path: CPath<'a>,
        mode: u32,
        floor: i32,
        locate: Option<Locate>,
    ) -> Result<(Pidfile<'a>, Previous), Error> {
        let mut previous = Previous {
            created: false,
            content: Stack::new(),
            mode: None,
        };
        match locate_and_take(path.as_c_str(), mode, floor, locate, &mut previous) {
            Ok((lock, dir, name_at)) => {
                let pidfile = Pidfile {
                    lock,
                    writer: None,
                    dir,
                    path,
                    name_at,
                    owner: true,
                };
                Ok((pidfile, previous))
            }
            Err(r) => Err(r.error(path.bytes())),
        }
    }

    /// Opens the write-only descriptor (at `floor` or above), and empties the file if
    /// it held an old PID: until the daemon writes its own, the old one (perhaps
    /// reused by an unrelated process by now) must not look like a live daemon's.
    pub(crate) fn open_writer(&mut self, floor: i32, previous: &Previous) -> Result<(), Error> {
        let at = self.dir.as_ref().map_or(CWD, |d| d.as_fd());
        match open_writer(&self.lock, at, self.name_c(), floor, previous) {
            Ok(writer) => {
                self.writer = Some(writer);
                Ok(())
            }
            Err(r) => Err(r.error(self.shown())),
        }
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
        // Truncate first: a shorter PID must not leave digits of a longer one behind.
        let writer = self.writer.as_ref().ok_or(Errno::BADF);
        writer
            .and_then(|w| fs::ftruncate(w, 0))
            .and_then(|()| self.write_pid(pid))
            .map_err(|e| Error::os(ErrorKind::WritePidfile, e).path(self.shown()))
    }

    /// Writes `pid` and a newline into the file, which the lock made empty: safe
    /// between fork and return.
    pub(crate) fn write_pid(&self, pid: Pid) -> Result<(), Errno> {
        let writer = self.writer.as_ref().ok_or(Errno::BADF)?;
        let mut digits = [0u8; 20];
        let mut text = Stack::<u8, 21>::new();
        let _ = text.extend(crate::text::decimal(
            pid.as_raw_nonzero().get() as u64,
            &mut digits,
        ));
        let _ = text.push(b'\n');
        let text = text.as_slice();
        if rustix::io::pwrite(writer, text, 0)? != text.len() {
            return Err(Errno::IO);
        }
        Ok(())
    }

    /// The PID the pidfile currently names, if it holds one in FHS format.
    pub fn read(&self) -> Option<Pid> {
        match read(&self.lock) {
            Ok(Content::Pid(pid)) => Some(pid),
            _ => None,
        }
    }

    /// Removes the pidfile, while still holding the lock, then unlocks it.
    ///
    /// The file is removed only if its path still names the locked file. When the
    /// directory no longer lets us remove it (the daemon dropped its privileges and the
    /// directory belongs to root), the file stays, unlocked: the next start reuses it.
    pub fn release(mut self) -> Result<(), Error> {
        self.remove()
            .map_err(|e| Error::os(ErrorKind::WritePidfile, e).path(self.shown()))
    }

    fn remove(&mut self) -> Result<(), Errno> {
        if !core::mem::replace(&mut self.owner, false) {
            return Ok(());
        }
        let st = fs::fstat(&self.lock)?;
        let name = self.name_c();
        let at = self.dir.as_ref().map_or(CWD, |d| d.as_fd());
        match fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) if same_file(&now, &st) => {}
            // Someone else's file now: leave it alone.
            Ok(_) | Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e),
        }
        match fs::unlinkat(at, name, AtFlags::empty()) {
            Err(Errno::ACCESS | Errno::PERM | Errno::ROFS) => match &self.writer {
                Some(writer) => fs::ftruncate(writer, 0),
                None => Ok(()),
            },
            other => other,
        }
    }

    /// The name to give `at()`: the file's name in `dir`, or the whole path.
    fn name_c(&self) -> &CStr {
        name_in(self.path.as_c_str(), self.dir.is_some(), self.name_at)
    }

    /// The path, for messages.
    pub(crate) fn shown(&self) -> &[u8] {
        self.path.bytes()
    }

    /// Puts back what the pidfile held before a failed start, and unlocks it. Errors
    /// are ignored: the start has failed already, and the file is left as near to
    /// its old self as the system allows.
    pub(crate) fn restore(mut self, previous: &Previous) {
        if previous.created {
            let _ = self.remove();
        } else {
            if let Some(writer) = &self.writer {
                let old = previous.content.as_slice();
                let _ = rustix::io::pwrite(writer, old, 0);
                let _ = fs::ftruncate(writer, old.len() as u64);
            }
            if let Some(mode) = previous.mode {
                let _ = fs::fchmod(&self.lock, Mode::from_raw_mode(mode));
            }
        }
        self.owner = false;
        // The lock belongs to the open file description, which the failed daemon's
        // processes may still share for a moment: unlock it for all of them now.
        let _ = fs::flock(&self.lock, FlockOperation::Unlock);
    }

    /// Closes this process's descriptors without touching the file: the original
    /// process does this once the daemon, which shares the lock, is ready.
    pub(crate) fn disown(mut self) {
        self.owner = false;
    }

    /// The locked descriptor, which the daemon keeps, and the directory's, which it
    /// keeps when there is one.
    pub(crate) fn kept_fds(&self) -> [i32; 2] {
        [
            self.lock.as_raw_fd(),
            self.dir.as_ref().map_or(-1, AsRawFd::as_raw_fd),
        ]
    }

    /// Forgets the writer without closing it: the daemon's close step closed it.
    pub(crate) fn forget_writer(&mut self) {
        if let Some(writer) = self.writer.take() {
            core::mem::forget(writer);
        }
    }

    /// Closes the writer (before dropping privileges or executing a program).
    pub(crate) fn close_writer(&mut self) {
        self.writer = None;
    }
}

impl Drop for Pidfile<'_> {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// Removes the pidfile at `path` if it names the daemon `pid` that just exited and
/// nobody holds its lock: a program that was exec'd cannot remove its own. A new
/// daemon that locked the path meanwhile keeps its file.
pub(crate) fn remove_stale(path: &CStr, pid: Pid) {
    let name_at = path
        .to_bytes()
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    let dir = match locator(path, false) {
        Some(locate) => match locate(path, name_at, 3) {
            Ok(dir) => Some(dir),
            Err(_) => return,
        },
        None => None,
    };
    let at = dir.as_ref().map_or(CWD, |d| d.as_fd());
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let name = name_in(path, dir.is_some(), name_at);
    let Ok(lock) = fs::openat(at, name, flags, Mode::empty()) else {
        return;
    };
    if fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err()
        || read(&lock) != Ok(Content::Pid(pid))
    {
        return;
    }
    let mut pidfile = Pidfile {
        lock,
        writer: None,
        dir,
        path: CPath::Borrowed(path),
        name_at,
        owner: true,
    };
    // `remove` checks that the path still names the file we locked.
    let _ = pidfile.remove();
}

/// Why a pidfile was not taken, until it becomes an [`Error`] naming the path: eight
/// bytes, so the steps return it in registers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refused {
    /// Opening, locking, reading or writing the file failed.
    Open(Errno),
    Lock(Errno),
    Read(Errno),
    Write(Errno),
    /// The file is not one to trust: the reason, an index of [`REFUSALS`].
    Insecure(u8),
    /// Another process holds the lock; the PID the file names.
    Running(Option<Pid>),
    /// The path names no file (it ends with `/`, `.` or `..`).
    NoFile,
    /// The path changed under us: start over.
    Retry,
}

/// Why a file is not a pidfile to trust.
pub(crate) const REFUSALS: [&str; 8] = [
    ": it is a symbolic link",
    ": it is a directory",
    ": it is not a regular file",
    ": it has more than one hard link",
    ": it is owned by another user",
    ": it is writable by others",
    ": it is writable by its group",
    ": it holds something other than a PID",
];
const SYMLINK: u8 = 0;
const DIRECTORY: u8 = 1;
const NOT_PIDLIKE: u8 = 7;

impl Refused {
    #[cold]
    #[inline(never)]
    fn error(self, path: &[u8]) -> Error {
        use ErrorKind as K;
        let (kind, frame, errno, why) = match self {
            Refused::Open(e) => (K::OpenPidfile, frame(K::OpenPidfile), Some(e), ""),
            Refused::Lock(e) => (K::LockPidfile, frame(K::LockPidfile), Some(e), ""),
            Refused::Read(e) => (K::ReadPidfile, frame(K::ReadPidfile), Some(e), ""),
            Refused::Write(e) => (K::WritePidfile, frame(K::WritePidfile), Some(e), ""),
            Refused::Retry => (
                K::LockPidfile,
                frame(K::LockPidfile),
                Some(Errno::AGAIN),
                "",
            ),
            Refused::Insecure(why) => return insecure(path, why),
            Refused::Running(pid) => return already_running(pid, path),
            Refused::NoFile => {
                return Error::invalid("pidfile path ")
                    .path(path)
                    .text(" names no file")
            }
        };
        Error::framed(kind, frame)
            .with_errno(errno)
            .path(path)
            .text(why)
    }
}

/// The error for a pidfile refused for reason `why` (an index of [`REFUSALS`]).
pub(crate) fn insecure(path: &[u8], why: u8) -> Error {
    let why = REFUSALS.get(usize::from(why)).copied().unwrap_or("");
    Error::new(ErrorKind::InsecurePidfile).path(path).text(why)
}

/// Finds the file's directory (see [`where_is`]) and takes the file, starting over
/// (64 times at most) while the path keeps changing under us.
#[inline(never)]
fn locate_and_take(
    path: &CStr,
    mode: u32,
    floor: i32,
    locate: Option<Locate>,
    previous: &mut Previous,
) -> Result<(OwnedFd, Option<OwnedFd>, usize), Refused> {
    let bytes = path.to_bytes();
    let name_at = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    if let b"" | b"." | b".." = &bytes[name_at..] {
        return Err(Refused::NoFile);
    }
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

pub(crate) fn already_running(pid: Option<Pid>, path: &[u8]) -> Error {
    let e = Error::new(ErrorKind::AlreadyRunning { pid });
    match pid {
        Some(pid) => e
            .text("pid ")
            .number(pid.as_raw_nonzero().get() as u64)
            .text("; pidfile ")
            .path(path),
        None => e
            .text("pid unknown; pidfile ")
            .path(path)
            .text(" is locked"),
    }
}

/// One attempt at taking the file: open (creating it exclusively with `mode` if
/// absent), check, lock, check that the path still names it, read what it held.
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
            Err(e) => return Err(refused_open(e)),
        },
        Err(e) => return Err(refused_open(e)),
    };
    let file = crate::fds::at_or_above(file, floor).map_err(Refused::Open)?;
    let st = fs::fstat(&file).map_err(Refused::Open)?;
    if st.st_nlink == 0 {
        return Err(Refused::Retry); // unlinked since our open
    }
    check(&st, if created { 0 } else { 0o022 }).map_err(Refused::Insecure)?;
    if !lock_exclusive(&file).map_err(Refused::Lock)? {
        let pid = match read(&file) {
            Ok(Content::Pid(pid)) if pid != getpid() => Some(pid),
            _ => None,
        };
        return Err(Refused::Running(pid));
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
        // Only a pidfile's content (at most 32 bytes of digits and whitespace) is
        // taken over: anything else is somebody's file, which a start must not touch.
        let mut buf = [0u8; CONTENT_CAP + 1];
        let n = rustix::io::pread(&file, &mut buf, 0).map_err(Refused::Read)?;
        let pidlike = |b: &u8| b.is_ascii_digit() || b.is_ascii_whitespace();
        if n > CONTENT_CAP || !buf[..n].iter().all(pidlike) {
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
fn open_writer(
    locked: &OwnedFd,
    at: BorrowedFd<'_>,
    name: &CStr,
    floor: i32,
    previous: &Previous,
) -> Result<OwnedFd, Refused> {
    let flags = OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let mut path = Stack::<u8, 32>::new();
    let mut digits = [0; 20];
    let _ = path.extend(b"/proc/self/fd/");
    let _ = path.extend(crate::text::decimal(locked.as_raw_fd() as u64, &mut digits));
    let _ = path.push(0);
    let via_proc = crate::text::c_str(path.as_slice()).unwrap_or_default();
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

/// Finds a pidfile's directory, for [`Pidfile::lock`]: only a relative path or a
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
fn open_parent(path: &CStr, name_at: usize, floor: i32) -> Result<OwnedFd, Refused> {
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
fn name_in(path: &CStr, in_dir: bool, name_at: usize) -> &CStr {
    crate::text::c_suffix(path, if in_dir { name_at } else { 0 })
}

fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// The checks of start-stop-daemon 1.19.3 and FreeBSD pidfile(3) on an opened pidfile:
/// a regular file with one link, owned by root or us, with none of the `writable`
/// mode bits (group and others for a starter, others for a reader) set.
/// `Err` holds the reason, an index of [`REFUSALS`].
pub(crate) fn check(st: &Stat, writable: u32) -> Result<(), u8> {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err(DIRECTORY),
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

/// Reads what a pidfile holds: the one reader of pidfile content.
pub(crate) fn read(file: impl AsFd) -> Result<Content, Errno> {
    let mut buf = [0u8; CONTENT_CAP + 1];
    let n = rustix::io::pread(file, &mut buf, 0)?;
    Ok(if n > CONTENT_CAP {
        Content::Other
    } else {
        parse(&buf[..n])
    })
}

/// Parses FHS pidfile content: a positive decimal PID, optionally surrounded by
/// whitespace. Anything else is [`Content::Other`], never PID 0 or -1 (which would
/// signal whole process groups).
pub(crate) fn parse(content: &[u8]) -> Content {
    let digits = crate::text::trim(content);
    if digits.is_empty() {
        return Content::Empty;
    }
    let pid = crate::text::parse_decimal(digits)
        .and_then(|n| i32::try_from(n).ok())
        .and_then(Pid::from_raw);
    pid.map_or(Content::Other, Content::Pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fhs_content() {
        let pid = |s: &[u8]| match parse(s) {
            Content::Pid(p) => Some(p.as_raw_nonzero().get()),
            _ => None,
        };
        assert_eq!(pid(b"123\n"), Some(123));
        assert_eq!(pid(b"  0042 \n"), Some(42));
        assert_eq!(pid(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse(b""), Content::Empty);
        assert_eq!(parse(b" \n"), Content::Empty);
        for bad in [
            &b"abc"[..],
            b"-1",
            b"0",
            b"12 34",
            b"99999999999",
            b"2147483648",
            b"12x",
        ] {
            assert_eq!(parse(bad), Content::Other, "{:?}", bad);
        }
    }

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
