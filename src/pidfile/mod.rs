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

mod content;
mod refused;
mod take;

use core::ffi::CStr;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{self, AtFlags, FlockOperation, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::process::Pid;

use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::path::{CPath, IntoCPath};
use crate::stack::Stack;

#[cfg(feature = "std")]
pub(crate) use content::parse as parse_content;
pub(crate) use content::{read, read_all, Content};
pub use content::{Exit, RunState, Runs};
pub(crate) use refused::insecure;
pub(crate) use refused::Refused;
pub(crate) use take::{check, locator, Locate, Previous};
use take::{locate_and_take, name_in, open_writer, same_file};

/// The default mode: nobody but the owner may open it, so nobody else can lock it
/// (`flock` works on any descriptor, even a read-only one). FreeBSD's `pidfile(3)`
/// uses the same.
pub(crate) const DEFAULT_MODE: u32 = 0o600;

/// Where the file name starts in `path`: after its last `/`.
fn name_start(path: &CStr) -> usize {
    let bytes = path.to_bytes();
    bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)
}

/// [`name_start`], or `None` when the path names no file (it ends with `/`, `.` or
/// `..`).
pub(crate) fn name_at(path: &CStr) -> Option<usize> {
    let at = name_start(path);
    match &path.to_bytes()[at..] {
        b"" | b"." | b".." => None,
        _ => Some(at),
    }
}

/// Opens the directory of `path` (whose file name starts at `name_at`) as an
/// `O_PATH` descriptor at `floor` or above: the pidfile's when it must be found
/// again after a chroot or chdir, and the monitor's log file's.
pub(crate) fn open_parent(path: &CStr, name_at: usize, floor: i32) -> Result<OwnedFd, Errno> {
    take::open_parent(path, name_at, floor).map_err(Refused::errno)
}

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

impl<'a> Pidfile<'a> {
    /// Opens or creates the pidfile at `path` and locks it.
    ///
    /// Fails with [`ErrorKind::AlreadyRunning`] (carrying the PID the file names) when
    /// another process holds the lock, and with [`ErrorKind::InsecurePidfile`] when the
    /// path is a symlink, or names something other than a regular file with one link,
    /// owned by us or root, not writable by group or others, holding a PID or nothing.
    pub fn open(path: impl IntoCPath<'a>) -> Result<Pidfile<'a>, Error> {
        let path = or_return!(path.into_c_path(), |_| Error::invalid(
            "pidfile path contains a NUL byte"
        ));
        let locate = locator(path.as_c_str(), false);
        let mut err = Error::new(ErrorKind::Died);
        let Ok((mut pidfile, previous)) = Pidfile::lock(path, DEFAULT_MODE, 3, locate, &mut err)
        else {
            return Err(err);
        };
        or_return!(pidfile.open_writer(3, &previous), |r: Refused| r
            .error(pidfile.shown()));
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
        err: &mut Error,
    ) -> Result<(Pidfile<'a>, Previous), Failed> {
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
            Err(r) => Err(r.put(path.bytes(), err)),
        }
    }

    /// Opens the write-only descriptor (at `floor` or above), and empties the file if
    /// it held an old PID: until the daemon writes its own, the old one (perhaps
    /// reused by an unrelated process by now) must not look like a live daemon's.
    /// A refusal becomes an error with [`Refused::error`] and [`Pidfile::shown`].
    pub(crate) fn open_writer(&mut self, floor: i32, previous: &Previous) -> Result<(), Refused> {
        let at = self.dir.as_ref().map_or(CWD, |d| d.as_fd());
        self.writer = Some(open_writer(&self.lock, at, self.name_c(), floor, previous)?);
        Ok(())
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
        // The digits end where the newline starts: no copy.
        let mut line = [b'\n'; 21];
        let Some((digits, _)) = line.split_first_chunk_mut::<20>() else {
            unreachable!("21 bytes hold 20")
        };
        let n = crate::text::decimal(pid.as_raw_nonzero().get() as u64, digits).len();
        let text = &line[20 - n..];
        if rustix::io::pwrite(writer, text, 0)? != text.len() {
            return Err(Errno::IO);
        }
        Ok(())
    }

    /// Writes the runs line after the PID line of `pid` (a monitor's): in place, at
    /// its fixed length, so a reader sees the old line or the new one.
    pub(crate) fn write_runs(&self, pid: Pid, runs: Runs) -> Result<(), Errno> {
        let writer = self.writer.as_ref().ok_or(Errno::BADF)?;
        let mut digits = [0u8; 20];
        let at = crate::text::decimal(pid.as_raw_nonzero().get() as u64, &mut digits).len() + 1;
        let mut line = Stack::new();
        runs.line(&mut line);
        let line = line.as_slice();
        if rustix::io::pwrite(writer, line, at as u64)? != line.len() {
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
    /// directory belongs to root), the file stays, unlocked, and emptied if we still
    /// hold its writer: the next start reuses it.
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

    /// The write-only descriptor's number, while it is open.
    pub(crate) fn writer_fd(&self) -> Option<i32> {
        self.writer.as_ref().map(AsRawFd::as_raw_fd)
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

/// Removes the pidfile a stopped daemon left, if it still names `pid` and nobody
/// else locked it since. A prober's shared lock (another tool's `status`) never makes
/// the removal fail. `Err` only when a
/// system call really failed; the file is then left as it was.
pub(crate) fn remove_stale(path: &CStr, pid: Pid) -> Result<(), Errno> {
    let name_at = name_start(path);
    let dir = match locator(path, false) {
        Some(locate) => Some(locate(path, name_at, 3).map_err(Refused::errno)?),
        None => None,
    };
    let at = dir.as_ref().map_or(CWD, |d| d.as_fd());
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let name = name_in(path, dir.is_some(), name_at);
    let lock = match fs::openat(at, name, flags, Mode::empty()) {
        Ok(lock) => lock,
        Err(Errno::NOENT) => return Ok(()), // removed already
        Err(e) => return Err(e),
    };
    // A shared lock: granted beside probes' shared locks, refused while a daemon (a
    // restart's) holds the exclusive one, and it keeps starters out as an exclusive
    // one would (a starter takes a shared lock it is granted for a probe's, and waits).
    match fs::flock(&lock, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(()),
        Err(e) => return Err(e),
    }
    if read(&lock) != Ok(Content::Pid(pid)) {
        return Ok(()); // another daemon's PID now: not ours to remove
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
    pidfile.remove()
}
