//! Where the daemon's standard streams go, and opening their targets before the fork.

use core::ffi::CStr;
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::{fcntl_dupfd_cloexec, Errno};

use crate::creds::Creds;
use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::path::{CPath, IntoCPath};

/// The standard streams, by number.
pub(crate) const STREAMS: &[u8] = b"stdin\0stdout\0stderr\0";

/// Where a standard stream of the daemon goes.
///
/// ```
/// use daemonic::{Daemon, Stdio};
///
/// let daemon = Daemon::new()
///     .stdout(Stdio::file("/var/log/app.log"))
///     .stderr(Stdio::file("/var/log/app.log")); // one shared descriptor
/// # let _ = daemon;
/// ```
#[derive(Clone, Debug)]
pub struct Stdio<'a>(pub(crate) Target<'a>);

#[derive(Clone, Debug)]
pub(crate) enum Target<'a> {
    Null,
    Inherit,
    /// A file or a caller's descriptor, and the function that opens it: only
    /// [`Stdio::file`] and [`Stdio::fd`] name one, so a daemon whose streams all go
    /// to `/dev/null` does not contain the code.
    Open(Source<'a>, Open),
    /// A path with a NUL byte, refused by the setter.
    Invalid,
}

#[derive(Clone, Debug)]
pub(crate) enum Source<'a> {
    File(CPath<'a>),
    Fd(i32),
}

/// Opens stream `n` of `all`, whose source is `source`; a failure is put in the
/// last argument.
pub(crate) type Open = fn(
    &[Stdio<'_>; 3],
    usize,
    &Source<'_>,
    u32,
    Option<&Creds>,
    &mut Error,
) -> Result<Opened, Failed>;

/// What a stream gets.
pub(crate) enum Opened {
    /// A descriptor we opened.
    Own(OwnedFd),
    /// The caller's descriptor, as it is.
    Theirs(i32),
    /// The same descriptor as this earlier stream.
    SameAs(usize),
}

impl<'a> Stdio<'a> {
    /// `/dev/null`, the default for all three.
    pub const fn null() -> Stdio<'a> {
        Stdio(Target::Null)
    }

    /// Whatever the original process had.
    pub const fn inherit() -> Stdio<'a> {
        Stdio(Target::Inherit)
    }

    /// A file: opened for reading as stdin; as stdout or stderr, opened for appending
    /// and created with [`Daemon::output_mode`](crate::Daemon::output_mode) if missing.
    /// Opened before the fork, so a path inside a chroot is given as seen from
    /// outside it, and with the permissions of the user the daemon becomes
    /// ([`Daemon::user`](crate::Daemon::user)): a file that user could not open,
    /// through a symbolic link or not, is refused. A FIFO must have a reader already
    /// (else the start fails with `ENXIO` rather than wait).
    pub fn file(path: impl IntoCPath<'a>) -> Stdio<'a> {
        match path.into_c_path() {
            Ok(path) => Stdio(Target::Open(Source::File(path), open)),
            Err(_) => Stdio(Target::Invalid),
        }
    }

    /// A descriptor of the original process (duplicated onto the stream).
    pub const fn fd(fd: i32) -> Stdio<'a> {
        Stdio(Target::Open(Source::Fd(fd), open))
    }
}

/// Opens a file or takes a descriptor, for [`Stdio::file`] and [`Stdio::fd`].
fn open(
    all: &[Stdio<'_>; 3],
    n: usize,
    source: &Source<'_>,
    mode: u32,
    creds: Option<&Creds>,
    err: &mut Error,
) -> Result<Opened, Failed> {
    match source {
        Source::File(path) => {
            // stdout and stderr to one file share one descriptor, so their writes
            // interleave in order.
            let same = |s: &Stdio<'_>| matches!(&s.0, Target::Open(Source::File(p), _) if p.bytes() == path.bytes());
            if n == 2 && same(&all[1]) {
                return Ok(Opened::SameAs(1));
            }
            let flags = match n {
                0 => OFlags::RDONLY,
                _ => OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE,
            };
            let opened =
                crate::creds::as_daemon_user(creds, || open_file(path.as_c_str(), flags, mode));
            Ok(Opened::Own(or_return!(opened, |e| {
                Error::fill(err, ErrorKind::OpenStdio, Some(e))
                    .push_path(path.bytes())
                    .push_text(b" for ")
                    .push_text(crate::text::nth(STREAMS, n))
                    .failed()
            })))
        }
        &Source::Fd(fd) => {
            if !crate::sys::is_open(fd) {
                return Err(fd_error(Errno::BADF, fd, n, err)
                    .push_text(b" is not open")
                    .failed());
            }
            if fd < 3 && fd as usize != n {
                // Another stream's number: redirecting that stream first would lose it.
                // SAFETY: `is_open` just confirmed `fd`; the borrow ends with the call.
                let copy = fcntl_dupfd_cloexec(unsafe { crate::sys::borrow(fd) }, 3);
                return Ok(Opened::Own(
                    or_return!(copy, |e| fd_error(e, fd, n, err).failed())
                ));
            }
            Ok(Opened::Theirs(fd))
        }
    }
}

/// Opens a stream's file without waiting: a FIFO with no reader is `ENXIO`, not a
/// start that hangs; the stream itself then blocks as usual.
fn open_file(path: &CStr, flags: OFlags, mode: u32) -> Result<OwnedFd, Errno> {
    let file = open_path(path, flags | OFlags::NONBLOCK, mode)?;
    rustix::fs::fcntl_setfl(&file, rustix::fs::fcntl_getfl(&file)? - OFlags::NONBLOCK)?;
    Ok(file)
}

fn open_path(path: &CStr, flags: OFlags, mode: u32) -> Result<OwnedFd, Errno> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOCTTY;
    crate::fds::above_stdio(rustix::fs::open(path, flags, Mode::from_raw_mode(mode))?)
}

/// Opens `/dev/null` (once, for every stream that goes there) and the streams' files,
/// into the plan's `sources` (the descriptor each stream gets; -1: left as it is) and
/// `opened` (those we opened), in place: a returned pair would be copied in.
/// Files are opened as the daemon's user would be allowed to (`creds`).
pub(crate) fn open_streams(
    stdio: &[Stdio<'_>; 3],
    mode: u32,
    creds: Option<&Creds>,
    sources: &mut [i32; 3],
    opened_fds: &mut [Option<OwnedFd>; 3],
    err: &mut Error,
) -> Result<(), Failed> {
    let mut null = -1;
    for n in 0..3 {
        let opened = match &stdio[n].0 {
            Target::Null if null >= 0 => Opened::Theirs(null),
            Target::Null => match open_path(c"/dev/null", OFlags::RDWR, 0) {
                Ok(fd) => {
                    null = fd.as_raw_fd();
                    Opened::Own(fd)
                }
                Err(e) => return Err(null_error(e, n, err)),
            },
            Target::Open(source, open) => open(stdio, n, source, mode, creds, err)?,
            Target::Inherit | Target::Invalid => continue,
        };
        sources[n] = match opened {
            Opened::Own(fd) => {
                let raw = fd.as_raw_fd();
                // Each slot starts empty and is filled once: nothing to drop.
                core::mem::forget(opened_fds[n].replace(fd));
                raw
            }
            Opened::Theirs(fd) => fd,
            Opened::SameAs(other) => sources[other],
        };
    }
    Ok(())
}

/// The error for descriptor `fd`, given for stream `n`. Out of line: two paths
/// give it.
#[cold]
#[inline(never)]
fn fd_error(e: Errno, fd: i32, n: usize, err: &mut Error) -> &mut Error {
    Error::fill(err, ErrorKind::InvalidOption, Some(e))
        .push_text(b"descriptor ")
        .push_number(fd as u64)
        .push_text(b" for ")
        .push_text(crate::text::nth(STREAMS, n))
}

#[cold]
#[inline(never)]
fn null_error(e: Errno, n: usize, err: &mut Error) -> Failed {
    Error::fill(err, ErrorKind::OpenStdio, Some(e))
        .push_text(b"/dev/null for ")
        .push_text(crate::text::nth(STREAMS, n))
        .failed()
}
