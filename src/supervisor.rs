//! Readiness for supervisors: systemd's `sd_notify` (a datagram to `$NOTIFY_SOCKET`),
//! s6's notification descriptor (a newline, then close), and systemd's socket
//! activation descriptors (`$LISTEN_FDS`). Also the receiving end of `sd_notify`, for
//! a program the `daemonic` command executes.
//!
//! Everything is read from the environment before the fork, into fixed buffers: the
//! daemon needs no allocation and no environment to notify. Only the builder's
//! supervisor setters name [`find`], so a daemon that tells no supervisor does not
//! contain any of it.

use core::ffi::CStr;
use core::mem::MaybeUninit;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    bind, getsockname, recvmsg, sendto, socket_with, sockopt, AddressFamily, RecvAncillaryBuffer,
    RecvAncillaryMessage, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use rustix::process::{Pid, Uid};

use crate::channel::Deadline;
use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::fds::Keep;
use crate::stack::Stack;
use crate::sys;

/// The longest `AF_UNIX` address (`sun_path`).
const SUN_PATH: usize = 108;

/// Where s6's notification descriptor comes from
/// ([`Daemon::s6_notification_fd`](crate::Daemon::s6_notification_fd)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationFd<'a> {
    /// This descriptor number.
    Fd(i32),
    /// The number in this environment variable (read before the fork).
    Env(&'a CStr),
}

/// Finds the supervisors: `(options, detach, exec, descriptors to keep, error
/// slot)`. [`find`] for sd_notify and s6, or `find_activation` for socket activation
/// alone.
pub(crate) type Find =
    fn(&Supervisors<'_>, bool, bool, &mut Keep, &mut Error) -> Result<Option<Tellers>, Failed>;

/// The supervisor options of the builder, and the code that acts on them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Supervisors<'a> {
    pub(crate) sd_notify: bool,
    pub(crate) s6: Option<NotificationFd<'a>>,
    pub(crate) socket_activation: bool,
    pub(crate) clear_env: bool,
    pub(crate) find: Find,
}

impl Supervisors<'_> {
    pub(crate) const fn new() -> Self {
        Supervisors {
            sd_notify: false,
            s6: None,
            socket_activation: false,
            clear_env: false,
            // The light finder: `sd_notify` and `s6_notification_fd` put in the full one.
            find: find_activation,
        }
    }
}

/// The supervisors the daemon tells when it is ready, found before the fork.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tellers {
    /// `$NOTIFY_SOCKET` (systemd).
    pub(crate) socket: Option<NotifySocket>,
    /// s6's notification descriptor, until it is used.
    pub(crate) s6_fd: Option<i32>,
    /// Whether the daemon forked: then `MAINPID=` tells systemd who it is.
    pub(crate) detached: bool,
    pub(crate) ready: fn(&mut Tellers, Pid) -> Result<(), Error>,
}

/// Finds what the daemon must tell or keep for its supervisor: `$NOTIFY_SOCKET` and
/// s6's descriptor (for a daemon that returns into Rust: an exec'd program gets the
/// environment and talks to them itself), and in the foreground the socket
/// activation descriptors, which are kept. Then removes the supervisor's variables
/// from the environment, unless told not to.
pub(crate) fn find(
    s: &Supervisors<'_>,
    detach: bool,
    exec: bool,
    keep: &mut Keep,
    err: &mut Error,
) -> Result<Option<Tellers>, Failed> {
    let mut tellers = Tellers {
        socket: None,
        s6_fd: None,
        detached: detach,
        ready,
    };
    if !exec && s.sd_notify {
        tellers.socket = match NotifySocket::from_env() {
            Some(Ok(socket)) => Some(socket),
            Some(Err(())) => {
                let why = "NOTIFY_SOCKET is neither a path nor an @abstract name";
                return Err(Error::invalid(why).put(err));
            }
            None => None,
        };
    }
    if let (false, Some(s6)) = (exec, s.s6) {
        let fd = match s6 {
            NotificationFd::Fd(fd) => fd,
            NotificationFd::Env(name) => {
                let number = crate::activation::number(name).and_then(|n| i32::try_from(n).ok());
                match number {
                    Some(fd) => fd,
                    None => {
                        return Err(Error::invalid("")
                            .path(name.to_bytes())
                            .text(" does not hold a descriptor number")
                            .put(err))
                    }
                }
            }
        };
        if fd < 3 || !sys::is_open(fd) {
            return Err(Error::invalid("s6 notification descriptor ")
                .number(fd as u64)
                .text(" is not open")
                .put(err));
        }
        or_return!(keep.insert(fd), |_| too_many().put(err));
        tellers.s6_fd = Some(fd);
    }
    find_activation(s, detach, exec, keep, err)?;
    Ok(Some(tellers))
}

/// The finder for socket activation alone (and `clear_supervisor_env`): in the
/// foreground keeps the descriptors `$LISTEN_FDS` names, and removes the
/// supervisor's variables where they no longer hold. Nothing to tell.
fn find_activation(
    s: &Supervisors<'_>,
    detach: bool,
    exec: bool,
    keep: &mut Keep,
    err: &mut Error,
) -> Result<Option<Tellers>, Failed> {
    if s.socket_activation && !detach {
        for fd in 3..3 + crate::activation::activated_count().unwrap_or(0) {
            or_return!(keep.insert(fd), |_| too_many().put(err));
        }
    }
    // The thread check made sure no other thread reads the environment meanwhile;
    // an exec'd program gets its environment explicitly instead. In the foreground
    // the variables stay true (`LISTEN_PID` is still our PID), so they stay for the
    // program's own sd_notify and socket activation code, unless told otherwise.
    if (s.clear_env || detach) && !exec {
        for name in SUPERVISOR_VARIABLES {
            sys::unsetenv(name);
        }
    }
    Ok(None)
}

#[cold]
fn too_many() -> Error {
    Error::invalid("too many descriptors to preserve")
}

/// `READY=1` to systemd, a newline to s6. Both are tried; the first error is returned.
fn ready(t: &mut Tellers, pid: Pid) -> Result<(), Error> {
    let systemd = match &t.socket {
        Some(socket) => {
            let mut message = Stack::<u8, 32>::new();
            ready_message(t.detached.then_some(pid), &mut message);
            socket.send(message.as_slice())
        }
        None => Ok(()),
    };
    let s6 = match t.s6_fd.take() {
        Some(fd) => {
            // SAFETY: the descriptor was checked open and kept through the close step.
            let written = rustix::io::write(unsafe { sys::borrow(fd) }, b"\n");
            sys::close(fd);
            written.map(drop).map_err(|e| {
                Error::os(ErrorKind::Notify, e)
                    .text("s6 descriptor ")
                    .number(fd as u64)
            })
        }
        None => Ok(()),
    };
    systemd.and(s6)
}

/// `READY=1`, and `MAINPID=<pid>` for a daemon that forked.
pub(crate) fn ready_message(pid: Option<Pid>, buf: &mut Stack<u8, 32>) {
    let _ = buf.extend(b"READY=1\n");
    if let Some(pid) = pid {
        let mut digits = [0u8; 20];
        let _ = buf.extend(b"MAINPID=");
        let _ = buf.extend(crate::text::decimal(
            pid.as_raw_nonzero().get() as u64,
            &mut digits,
        ));
        let _ = buf.push(b'\n');
    }
}

/// `$NOTIFY_SOCKET`, copied out of the environment: a path, or `@name` for Linux's
/// abstract namespace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotifySocket {
    /// The address, NUL-terminated.
    addr: Stack<u8, { SUN_PATH + 1 }>,
}

impl NotifySocket {
    /// Reads `$NOTIFY_SOCKET`. `Err` for a value we cannot use (too long, not a path or
    /// an abstract name: systemd's `vsock:` addresses are not supported).
    pub(crate) fn from_env() -> Option<Result<NotifySocket, ()>> {
        let value = sys::getenv(c"NOTIFY_SOCKET")?.to_bytes();
        let mut addr = Stack::new();
        let usable = matches!(value.first(), Some(b'/' | b'@'))
            && value.len() < SUN_PATH
            && addr.extend(value).is_ok()
            && addr.push(0).is_ok();
        Some(if usable {
            Ok(NotifySocket { addr })
        } else {
            Err(())
        })
    }

    /// Sends one `sd_notify` message (`READY=1`, `STATUS=...`, `STOPPING=1`, ...).
    pub(crate) fn send(&self, message: &[u8]) -> Result<(), Error> {
        self.send_raw(message).map_err(|e| {
            Error::os(ErrorKind::Notify, e)
                .text("NOTIFY_SOCKET=")
                .path(self.shown())
        })
    }

    fn send_raw(&self, message: &[u8]) -> Result<(), Errno> {
        let socket = datagram_socket()?;
        let shown = self.shown();
        let addr = match shown.first() {
            Some(b'@') => SocketAddrUnix::new_abstract_name(&shown[1..])?,
            _ => {
                SocketAddrUnix::new(crate::text::c_str(self.addr.as_slice()).ok_or(Errno::INVAL)?)?
            }
        };
        let sent = sendto(&socket, message, SendFlags::NOSIGNAL, &addr)?;
        if sent == message.len() {
            Ok(())
        } else {
            Err(Errno::MSGSIZE)
        }
    }

    /// The address as text, for messages.
    pub(crate) fn shown(&self) -> &[u8] {
        let a = self.addr.as_slice();
        &a[..a.len().saturating_sub(1)]
    }
}

/// The variables a supervisor sets for the process it starts, and that the daemon's
/// own children must not inherit.
pub(crate) const SUPERVISOR_VARIABLES: [&CStr; 6] = [
    c"NOTIFY_SOCKET",
    c"LISTEN_PID",
    c"LISTEN_FDS",
    c"LISTEN_FDNAMES",
    c"WATCHDOG_PID",
    c"WATCHDOG_USEC",
];

/// The receiving end of `sd_notify` for an exec'd program (start-stop-daemon's
/// `--notify-await`): an abstract datagram socket passing credentials, so that only
/// messages from root or the daemon's user count. The kernel picks its name
/// (autobind: `bind` with only the address family), so no one can squat it in advance
/// and two launchers sharing a network namespace never collide.
pub(crate) struct NotifyListener {
    socket: OwnedFd,
    /// The abstract name the kernel gave, without its leading NUL.
    name: Stack<u8, 16>,
}

/// What the program said.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notified {
    /// `READY=1`.
    Ready,
    /// `ERRNO=n`: it failed.
    Failed(Errno),
    /// `EXTEND_TIMEOUT_USEC=n`: this much longer, from now on.
    Extend(core::time::Duration),
}

impl NotifyListener {
    pub(crate) fn new() -> Result<NotifyListener, Errno> {
        let socket = crate::fds::above_stdio(datagram_socket()?)?;
        sockopt::set_socket_passcred(&socket, true)?;
        bind(&socket, &SocketAddrUnix::new_unnamed())?;
        let bound = getsockname(&socket)?;
        // An abstract address: the family (2 bytes), a NUL, the name (five hex digits
        // from autobind); read in place rather than through a general conversion.
        let len = bound.addr_len() as usize;
        // SAFETY: the kernel wrote `len` bytes of address into the storage, which
        // holds at least that many.
        let raw = unsafe { core::slice::from_raw_parts(bound.as_ptr().cast::<u8>(), len) };
        let mut name = Stack::new();
        match raw.get(2..) {
            Some([0, given @ ..]) if !given.is_empty() && name.extend(given).is_ok() => {}
            _ => return Err(Errno::ADDRNOTAVAIL),
        }
        Ok(NotifyListener { socket, name })
    }

    /// Writes the program's `NOTIFY_SOCKET=@name` entry into `buf`.
    pub(crate) fn variable<'b>(&self, buf: &'b mut Stack<u8, 64>) -> &'b CStr {
        let _ = buf.extend(b"NOTIFY_SOCKET=@");
        let _ = buf.extend(self.name.as_slice());
        let _ = buf.push(0);
        crate::text::c_str(buf.as_slice()).unwrap_or_default()
    }

    /// The socket, to wait on.
    pub(crate) fn socket(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Waits for `READY=1` or `ERRNO=` until the `deadline`; `EXTEND_TIMEOUT_USEC=`
    /// moves the deadline. Messages from other users than root and `uid` are ignored.
    pub(crate) fn wait(&self, uid: Uid, deadline: &Deadline) -> Result<Notified, Errno> {
        loop {
            deadline.wait(self.socket.as_fd())?;
            match self.receive(uid)? {
                Some(Notified::Extend(more)) => deadline.extend(more)?,
                Some(said) => return Ok(said),
                None => {}
            }
        }
    }

    /// Reads one message, without waiting: what it says (`READY=1` or `ERRNO=` before
    /// an extension), or `None` for nothing of interest, no message, or one from
    /// another user than root and `uid`.
    pub(crate) fn receive(&self, uid: Uid) -> Result<Option<Notified>, Errno> {
        let mut buf = [0u8; 4096];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [rustix::io::IoSliceMut::new(&mut buf)];
        let len = match recvmsg(&self.socket, &mut iov, &mut control, RecvFlags::DONTWAIT) {
            Ok(msg) => msg.bytes,
            Err(Errno::INTR | Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e),
        };
        let trusted = control.drain().any(|m| {
            matches!(m, RecvAncillaryMessage::ScmCredentials(c) if c.uid.is_root() || c.uid == uid)
        });
        if !trusted {
            return Ok(None);
        }
        let mut said = None;
        for line in buf[..len].split(|&b| b == b'\n') {
            if line == b"READY=1" {
                return Ok(Some(Notified::Ready));
            }
            let number = |prefix: &[u8]| crate::text::parse_decimal(line.strip_prefix(prefix)?);
            if let Some(n) = number(b"ERRNO=") {
                let errno = Errno::from_raw_os_error(n.clamp(1, 4095) as i32);
                return Ok(Some(Notified::Failed(errno)));
            }
            if let Some(usec) = number(b"EXTEND_TIMEOUT_USEC=") {
                said = Some(Notified::Extend(core::time::Duration::from_micros(usec)));
            }
        }
        Ok(said)
    }
}

/// A close-on-exec `AF_UNIX` datagram socket, sd_notify's transport.
fn datagram_socket() -> Result<OwnedFd, Errno> {
    socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_message_names_the_main_pid_of_a_forked_daemon() {
        let mut m = Stack::new();
        ready_message(None, &mut m);
        assert_eq!(m.as_slice(), b"READY=1\n");
        let mut m = Stack::new();
        ready_message(Pid::from_raw(4242), &mut m);
        assert_eq!(m.as_slice(), b"READY=1\nMAINPID=4242\n");
    }
}
