//! Readiness for supervisors: systemd's `sd_notify` (a datagram to `$NOTIFY_SOCKET`),
//! s6's notification descriptor (a newline, then close), and systemd's socket
//! activation descriptors (`$LISTEN_FDS`). Also the receiving end of `sd_notify`, for
//! a program the `daemonic` command executes.
//!
//! Everything is read from the environment before the fork, into fixed buffers: the
//! daemon needs no allocation and no environment to notify.

use core::ffi::CStr;
use core::mem::MaybeUninit;
use core::time::Duration;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    bind, recvmsg, sendto, socket_with, sockopt, AddressFamily, RecvAncillaryBuffer,
    RecvAncillaryMessage, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use rustix::process::{getpid, Pid, Uid};

use crate::sys;

/// The longest `AF_UNIX` address (`sun_path`).
const SUN_PATH: usize = 108;

/// `$NOTIFY_SOCKET`, copied out of the environment: a path, or `@name` for Linux's
/// abstract namespace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotifySocket {
    len: usize,
    /// The address, NUL-terminated for a path.
    addr: [u8; SUN_PATH + 1],
}

impl NotifySocket {
    /// Reads `$NOTIFY_SOCKET`. `Err` for a value we cannot use (too long, not a path or
    /// an abstract name: systemd's `vsock:` addresses are not supported).
    pub(crate) fn from_env() -> Option<Result<NotifySocket, ()>> {
        let value = sys::getenv(c"NOTIFY_SOCKET")?.to_bytes();
        let usable = matches!(value.first(), Some(b'/' | b'@')) && value.len() < SUN_PATH;
        Some(if usable {
            let mut addr = [0; SUN_PATH + 1];
            addr[..value.len()].copy_from_slice(value);
            Ok(NotifySocket {
                len: value.len(),
                addr,
            })
        } else {
            Err(())
        })
    }

    /// Sends one `sd_notify` message (`READY=1`, `STATUS=...`, `STOPPING=1`, ...).
    pub(crate) fn send(&self, message: &[u8]) -> Result<(), Errno> {
        let socket = datagram_socket()?;
        let addr = match self.addr[0] {
            b'@' => SocketAddrUnix::new_abstract_name(&self.addr[1..self.len])?,
            _ => SocketAddrUnix::new(
                CStr::from_bytes_until_nul(&self.addr).map_err(|_| Errno::INVAL)?,
            )?,
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
        &self.addr[..self.len]
    }
}

/// Socket activation: how many descriptors (from 3) systemd passed to *this* process,
/// per `$LISTEN_PID` and `$LISTEN_FDS`.
pub(crate) fn listen_fds() -> Option<i32> {
    let number = |name| {
        core::str::from_utf8(sys::getenv(name)?.to_bytes())
            .ok()?
            .parse::<i32>()
            .ok()
    };
    let pid = number(c"LISTEN_PID")?;
    let fds = number(c"LISTEN_FDS")?;
    (Pid::from_raw(pid) == Some(getpid()) && fds > 0).then_some(fds)
}

/// The variables a supervisor sets for the process it starts, and that the daemon's
/// own children must not inherit.
pub(crate) const SUPERVISOR_VARIABLES: [&CStr; 4] = [
    c"NOTIFY_SOCKET",
    c"LISTEN_PID",
    c"LISTEN_FDS",
    c"LISTEN_FDNAMES",
];

/// Reads the number in the environment variable `name` (s6's notification fd).
pub(crate) fn fd_from_env(name: &CStr) -> Option<i32> {
    core::str::from_utf8(sys::getenv(name)?.to_bytes())
        .ok()?
        .parse::<i32>()
        .ok()
        .filter(|fd| *fd >= 0)
}

/// The receiving end of `sd_notify` for an exec'd program (start-stop-daemon's
/// `--notify-await`): an abstract datagram socket named after our PID, passing
/// credentials so that only messages from root or the daemon's user count.
pub(crate) struct NotifyListener {
    socket: OwnedFd,
    len: usize,
    name: [u8; 40],
}

/// What the program said.
pub(crate) enum Notified {
    Ready,
    Failed(Errno),
}

impl NotifyListener {
    pub(crate) fn new() -> Result<NotifyListener, Errno> {
        const LABEL: &[u8] = b"daemonic-notify-";
        let mut name = [0u8; 40];
        let mut digits = [0u8; 12];
        let pid = crate::pidfile::digits(getpid().as_raw_nonzero().get() as u32, &mut digits);
        name[..LABEL.len()].copy_from_slice(LABEL);
        name[LABEL.len()..LABEL.len() + pid.len()].copy_from_slice(pid);
        let len = LABEL.len() + pid.len();
        let socket = datagram_socket()?;
        let socket = crate::fds::above_stdio(socket)?;
        sockopt::set_socket_passcred(&socket, true)?;
        bind(&socket, &SocketAddrUnix::new_abstract_name(&name[..len])?)?;
        Ok(NotifyListener { socket, len, name })
    }

    /// Writes the program's `NOTIFY_SOCKET=@name` entry into `buf`.
    pub(crate) fn variable<'b>(&self, buf: &'b mut [u8; 64]) -> &'b CStr {
        const PREFIX: &[u8] = b"NOTIFY_SOCKET=@";
        buf[..PREFIX.len()].copy_from_slice(PREFIX);
        buf[PREFIX.len()..PREFIX.len() + self.len].copy_from_slice(&self.name[..self.len]);
        buf[PREFIX.len() + self.len] = 0;
        CStr::from_bytes_until_nul(&buf[..]).unwrap_or_default()
    }

    /// Waits for `READY=1` or `ERRNO=`; `EXTEND_TIMEOUT_USEC=` sets the time left.
    /// Messages from other users than root and `uid` are ignored.
    pub(crate) fn wait(&self, uid: Uid, mut timeout: Duration) -> Result<Notified, Errno> {
        loop {
            let start = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            crate::channel::wait_readable(self.socket.as_fd(), Some(timeout))?;
            let mut buf = [0u8; 4096];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [rustix::io::IoSliceMut::new(&mut buf)];
            let received = recvmsg(&self.socket, &mut iov, &mut control, RecvFlags::DONTWAIT);
            let len = match received {
                Ok(msg) => msg.bytes,
                Err(Errno::INTR | Errno::AGAIN) => 0,
                Err(e) => return Err(e),
            };
            let trusted = control.drain().any(|m| {
                matches!(m, RecvAncillaryMessage::ScmCredentials(c) if c.uid.is_root() || c.uid == uid)
            });
            let mut extended = false;
            if trusted {
                for line in buf[..len].split(|&b| b == b'\n') {
                    if line == b"READY=1" {
                        return Ok(Notified::Ready);
                    }
                    if let Some(n) = line.strip_prefix(b"ERRNO=").and_then(number) {
                        return Ok(Notified::Failed(Errno::from_raw_os_error(
                            n.clamp(1, 4095) as i32
                        )));
                    }
                    if let Some(usec) = line.strip_prefix(b"EXTEND_TIMEOUT_USEC=").and_then(number)
                    {
                        // systemd's meaning: this much time from now on.
                        timeout = Duration::from_micros(usec);
                        extended = true;
                    }
                }
            }
            if !extended {
                // Whatever else arrived, the time spent waiting for it is gone.
                timeout = timeout.saturating_sub(elapsed(start));
            }
        }
    }
}

/// The time since `start` on the monotonic clock.
fn elapsed(start: rustix::time::Timespec) -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let nanos = i128::from(now.tv_sec - start.tv_sec) * 1_000_000_000
        + i128::from(now.tv_nsec - start.tv_nsec);
    Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
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

fn number(text: &[u8]) -> Option<u64> {
    core::str::from_utf8(text).ok()?.trim().parse().ok()
}
