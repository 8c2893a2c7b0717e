//! The monitor's log file ([`Supervision::log_file`](crate::Supervision::log_file)):
//! the program's stdout and stderr come through one pipe (so their lines keep their
//! order) and the monitor appends them to the file, which SIGHUP reopens by name, as
//! logrotate expects.
//!
//! The file is opened before the fork, as the daemon's user would be allowed to,
//! with its directory, so that the monitor can reopen the name after a chroot, as
//! that user. A write that fails (a full disk) drops what it could not write: the
//! program is never blocked by its log.

use core::ffi::CStr;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::creds::Creds;
use crate::error::{Error, ErrorKind};
use crate::fds;

/// The log file, its directory and its name in it.
pub(crate) struct LogFile<'x> {
    dir: OwnedFd,
    name: &'x CStr,
    file: OwnedFd,
    mode: u32,
}

impl<'x> LogFile<'x> {
    /// Opens `path` for appending (created with `mode` if missing), and its
    /// directory, at `floor` or above: before the fork, with the daemon's `creds`.
    pub(crate) fn open(
        path: &'x CStr,
        mode: u32,
        creds: Option<&Creds>,
        floor: i32,
    ) -> Result<LogFile<'x>, Error> {
        let fail = |e| {
            Error::os(ErrorKind::OpenStdio, e)
                .path(path.to_bytes())
                .text(" (the log)")
        };
        let bytes = path.to_bytes();
        let name_at = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        let name = crate::text::c_suffix(path, name_at);
        if name.is_empty() || name == c"." || name == c".." {
            return Err(fail(Errno::ISDIR));
        }
        let dir = crate::pidfile::open_parent(path, name_at, floor).map_err(fail)?;
        let file = crate::creds::as_daemon_user(creds, || open_in(&dir, name, mode, floor))
            .map_err(fail)?;
        Ok(LogFile {
            dir,
            name,
            file,
            mode,
        })
    }

    /// The descriptors the daemon keeps for it.
    pub(crate) fn fds(&self) -> [i32; 2] {
        [self.dir.as_raw_fd(), self.file.as_raw_fd()]
    }

    /// Opens the name again (after logrotate moved the file) onto the same number;
    /// if that fails, the old file stays.
    pub(super) fn reopen(&mut self) {
        let floor = self.file.as_raw_fd();
        if let Ok(new) = open_in(&self.dir, self.name, self.mode, floor) {
            self.file = new;
        }
    }

    /// Writes all of `bytes`, or drops what the file does not take.
    pub(super) fn write(&self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match rustix::io::write(&self.file, bytes) {
                Ok(0) => return,
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

fn open_in(dir: &OwnedFd, name: &CStr, mode: u32, floor: i32) -> Result<OwnedFd, Errno> {
    let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOCTTY;
    let file = rustix::fs::openat(dir.as_fd(), name, flags, Mode::from_raw_mode(mode))?;
    fds::at_or_above(file, floor)
}

/// Copies what the pipe holds into the log, until the pipe is empty (it is
/// non-blocking).
pub(super) fn drain(pipe: &OwnedFd, log: &LogFile<'_>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match rustix::io::read(pipe, &mut buf) {
            Ok(0) => return,
            Ok(n) => log.write(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(_) => return, // EAGAIN: empty
        }
    }
}
