//! The monitor's log: the program's stdout and stderr come through one pipe (so their
//! lines keep their order) and the monitor appends them to a file
//! ([`Supervision::log_file`](crate::Supervision::log_file)), which SIGHUP reopens by
//! name, as logrotate expects, or sends them to syslog line by line
//! ([`Supervision::syslog`](crate::Supervision::syslog)).
//!
//! The file is opened before the fork, as the daemon's user would be allowed to,
//! with its directory, so that the monitor can reopen the name after a chroot, as
//! that user. A write that fails (a full disk) drops what it could not write: the
//! program is never blocked by its log. A file with a size cap is renamed `NAME.1`
//! at the end of the line that takes it past the cap, and a new one started.

use core::ffi::CStr;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::policy::Syslog;
use crate::creds::Creds;
use crate::fds;
use crate::stack::Stack;

/// Where the program's lines go, and the functions that send them there: pointers,
/// set where the sink is opened ([`Sink::file`], [`Sink::syslog`]), so that a
/// monitor without a log links none of the log's code.
pub(crate) struct Sink<'x> {
    out: Out<'x>,
    ops: Ops,
}

// One per monitor, made once: boxing the syslog line buffer would need an allocator.
#[allow(clippy::large_enum_variant)]
enum Out<'x> {
    File(LogFile<'x>),
    Syslog(SyslogSink<'x>),
}

/// [`drain`], [`Out::reopen`] and [`Out::flush`].
#[derive(Clone, Copy)]
struct Ops {
    drain: fn(&OwnedFd, &mut Out<'_>, i32),
    reopen: fn(&mut Out<'_>),
    flush: fn(&mut Out<'_>, i32),
}

const OPS: Ops = Ops {
    drain,
    reopen: |out| out.reopen(),
    flush: |out, pid| out.flush(pid),
};

impl<'x> Sink<'x> {
    pub(crate) fn file(file: LogFile<'x>) -> Sink<'x> {
        Sink {
            out: Out::File(file),
            ops: OPS,
        }
    }

    pub(crate) fn syslog(syslog: SyslogSink<'x>) -> Sink<'x> {
        Sink {
            out: Out::Syslog(syslog),
            ops: OPS,
        }
    }

    /// The descriptors the daemon keeps for it.
    pub(crate) fn fds(&self) -> [i32; 2] {
        match &self.out {
            Out::File(f) => [f.dir.as_raw_fd(), f.file.as_raw_fd()],
            Out::Syslog(s) => [s.socket.as_raw_fd(), -1],
        }
    }

    /// Whether SIGHUP is the sink's (a file, which it reopens) rather than the
    /// program's.
    pub(super) fn is_file(&self) -> bool {
        matches!(self.out, Out::File(_))
    }

    /// After logrotate moved a file: opens it again by name.
    pub(super) fn reopen(&mut self) {
        (self.ops.reopen)(&mut self.out);
    }

    /// Copies what `pipe` holds into the log; `pid` is the program's.
    pub(super) fn drain(&mut self, pipe: &OwnedFd, pid: i32) {
        (self.ops.drain)(pipe, &mut self.out, pid);
    }

    /// The end of the output: a last line without a newline goes too.
    pub(super) fn flush(&mut self, pid: i32) {
        (self.ops.flush)(&mut self.out, pid);
    }
}

impl Out<'_> {
    fn reopen(&mut self) {
        if let Out::File(f) = self {
            f.reopen();
        }
    }

    /// What the program wrote, from process `pid`.
    fn take(&mut self, bytes: &[u8], pid: i32) {
        match self {
            Out::File(f) => f.write(bytes),
            Out::Syslog(s) => s.take(bytes, pid),
        }
    }

    fn flush(&mut self, pid: i32) {
        if let Out::Syslog(s) = self {
            s.send(pid);
        }
    }
}

/// The log file, its directory and its name in it; its size, and the size at which
/// it is rotated (`u64::MAX`: never).
pub(crate) struct LogFile<'x> {
    dir: OwnedFd,
    name: &'x CStr,
    file: OwnedFd,
    mode: u32,
    size: u64,
    cap: u64,
    /// Whether the last byte written ended a line (at the start: taken as true).
    ends_line: bool,
}

/// The longest file name (Linux's `NAME_MAX`), with room for `.1` and the NUL.
const NAME_CAP: usize = 255 + 3;

impl<'x> LogFile<'x> {
    /// Opens `path` for appending (created with `mode` if missing), and its
    /// directory, at `floor` or above: before the fork, with the daemon's `creds`.
    pub(crate) fn open(
        path: &'x CStr,
        mode: u32,
        cap: u64,
        creds: Option<&Creds>,
        floor: i32,
    ) -> Result<LogFile<'x>, Errno> {
        let name_at = crate::pidfile::name_at(path).ok_or(Errno::ISDIR)?;
        let name = crate::text::c_suffix(path, name_at);
        let dir = crate::pidfile::open_parent(path, name_at, floor)?;
        let file = crate::creds::as_daemon_user(creds, || open_in(&dir, name, mode, floor))?;
        Ok(LogFile {
            ends_line: true,
            size: size_of(&file),
            dir,
            name,
            file,
            mode,
            cap,
        })
    }

    /// Opens the name again (after logrotate moved the file) onto the same number;
    /// if that fails, the old file stays.
    pub(super) fn reopen(&mut self) {
        let floor = self.file.as_raw_fd();
        if let Ok(new) = open_in(&self.dir, self.name, self.mode, floor) {
            self.size = size_of(&new);
            self.file = new;
        }
    }

    /// Writes all of `bytes`, or drops what the file does not take. When they would
    /// take the file past its cap, the line the file ends in is finished in it, and a
    /// new file is started for the rest, only if there is a rest: no line is cut in
    /// two (unless it spans reads), and a rotation never leaves the new file empty.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if self.size > 0 && self.size.saturating_add(bytes.len() as u64) > self.cap {
            let end = if self.ends_line {
                0
            } else {
                bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| i + 1)
            };
            self.append(&bytes[..end]);
            rest = &bytes[end..];
            if !rest.is_empty() {
                self.rotate();
            }
        }
        self.append(rest);
    }

    fn append(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        crate::sys::write_all(self.file.as_raw_fd(), bytes);
        self.size = self.size.saturating_add(bytes.len() as u64);
        self.ends_line = last == b'\n';
    }

    /// Renames the file `NAME.1` (replacing the last one) and opens `NAME` anew. If
    /// the rename fails (the directory is not writable), the file grows on: no more
    /// attempts, each a failing system call.
    #[cold]
    fn rotate(&mut self) {
        let mut old = Stack::<u8, NAME_CAP>::new();
        let _ = old.extend(self.name.to_bytes());
        let _ = old.extend(b".1\0");
        let renamed = crate::text::c_str(old.as_slice())
            .map(|old| rustix::fs::renameat(&self.dir, self.name, &self.dir, old));
        match renamed {
            Some(Ok(())) => self.reopen(),
            _ => self.cap = u64::MAX,
        }
    }
}

/// The size of an open file (0 if `fstat` fails: the cap then counts from here).
fn size_of(file: &OwnedFd) -> u64 {
    rustix::fs::fstat(file).map_or(0, |st| st.st_size as u64)
}

fn open_in(dir: &OwnedFd, name: &CStr, mode: u32, floor: i32) -> Result<OwnedFd, Errno> {
    let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOCTTY;
    let file = rustix::fs::openat(dir.as_fd(), name, flags, Mode::from_raw_mode(mode))?;
    fds::at_or_above(file, floor)
}

/// Copies what the pipe holds into the log, until the pipe is empty (it is
/// non-blocking); `pid` is the program's. A page at a time: the pipe holds a burst,
/// and a bigger buffer would stay resident on the monitor's stack.
fn drain(pipe: &OwnedFd, sink: &mut Out<'_>, pid: i32) {
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(pipe, &mut buf) {
            Ok(0) => return,
            Ok(n) => sink.take(&buf[..n], pid),
            Err(Errno::INTR) => {}
            Err(_) => return, // EAGAIN: empty
        }
    }
}

/// The longest line sent as one message; a longer one is cut into several.
const LINE: usize = 1024;
/// Where syslog listens.
pub(super) const DEV_LOG: &CStr = c"/dev/log";
/// Every line's severity (as FreeBSD's daemon(8)).
const NOTICE: u8 = 5;

/// Syslog over `/dev/log`: a datagram socket, connected before the fork (a chroot
/// has no `/dev/log`), and the line being gathered.
pub(crate) struct SyslogSink<'x> {
    socket: OwnedFd,
    tag: &'x str,
    /// `<PRI>`'s number: facility and severity.
    priority: u8,
    line: Stack<u8, LINE>,
}

impl<'x> SyslogSink<'x> {
    /// Connects to `/dev/log`, at `floor` or above.
    pub(crate) fn open(syslog: &Syslog<'x>, floor: i32) -> Result<SyslogSink<'x>, Errno> {
        Ok(SyslogSink {
            socket: connect().and_then(|s| fds::at_or_above(s, floor))?,
            tag: syslog.tag,
            priority: (syslog.facility as u8) << 3 | NOTICE,
            line: Stack::new(),
        })
    }

    fn take(&mut self, bytes: &[u8], pid: i32) {
        for &b in bytes {
            if b == b'\n' {
                self.send(pid);
            } else if self.line.push(b).is_err() {
                self.send(pid);
                let _ = self.line.push(b);
            }
        }
    }

    /// Sends the line gathered so far (if any) as `<PRI>TAG[PID]: LINE`, RFC 3164's
    /// form for the local socket (syslogd adds the time and host). When syslogd was
    /// restarted, connects again once.
    fn send(&mut self, pid: i32) {
        if self.line.as_slice().is_empty() {
            return;
        }
        let mut message = Stack::<u8, { LINE + 128 }>::new();
        let mut digits = [0; 20];
        let _ = message.push(b'<');
        let _ = message.extend(crate::text::decimal(self.priority.into(), &mut digits));
        let _ = message.push(b'>');
        let _ = message.extend(&self.tag.as_bytes()[..self.tag.len().min(64)]);
        let _ = message.push(b'[');
        let _ = message.extend(crate::text::decimal(pid as u64, &mut digits));
        let _ = message.extend(b"]: ");
        let _ = message.extend(self.line.as_slice());
        self.line.truncate(0);
        let flags = rustix::net::SendFlags::NOSIGNAL;
        if rustix::net::send(&self.socket, message.as_slice(), flags).is_err() {
            if let Ok(socket) = connect() {
                let number = self.socket.as_raw_fd();
                if let Ok(socket) = fds::at_or_above(socket, number) {
                    self.socket = socket;
                    let _ = rustix::net::send(&self.socket, message.as_slice(), flags);
                }
            }
        }
    }
}

/// A close-on-exec datagram socket connected to `/dev/log`.
fn connect() -> Result<OwnedFd, Errno> {
    use rustix::net::{socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let socket = socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::connect(&socket, &SocketAddrUnix::new(DEV_LOG)?)?;
    Ok(socket)
}
