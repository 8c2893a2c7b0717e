//! The readiness channel between the daemon and the original process.
//!
//! A `SOCK_SEQPACKET` socket pair, close-on-exec, created before the first fork.
//! Records are 8 bytes, so each `send` is atomic and each `recv` reads one record:
//! `[tag, step, aux (u16 LE), value (i32 LE)]`. A socket rather than a pipe because
//! `send(MSG_NOSIGNAL)` cannot kill the daemon with SIGPIPE (reset to its default by
//! then) if the original process is gone. End of file means every copy of the
//! daemon's end is closed: the daemon died (or exec'd) before reporting.

use core::mem::MaybeUninit;
use core::time::Duration;
use rustix::event::Timespec;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::io::{IoSlice, IoSliceMut};
use rustix::net::{
    recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
    RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::process::Pid;

/// One message from the intermediate process or the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// From the intermediate process: the daemon's PID.
    Started(Pid),
    /// From the daemon: ready, with its PID.
    Ready(Pid),
    /// From the intermediate process or the daemon: `step` (an index of
    /// `child::STEPS`) failed with the raw `errno` (0: no system call failed); `aux`
    /// says on what (a signal, a stream).
    Failed { step: u8, aux: u16, errno: i32 },
    /// From the daemon: [`Pending::fail`](crate::Pending::fail) with this code.
    Code(u8),
    /// End of file.
    Closed,
}

const STARTED: u8 = 1;
const READY: u8 = 2;
const FAILED: u8 = 3;
const CODE: u8 = 4;

/// Creates the pair: (the original process's end, the daemon's end).
pub(crate) fn pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
}

/// Sends `report`. Errors are ignored: nobody is left to tell.
pub(crate) fn send_report(fd: impl AsFd, report: Report) {
    send_with(fd, report, None);
}

/// Sends [`Report::Started`] with a pidfd for the daemon, when there is one: the
/// intermediate process opens it while the daemon, its child, cannot be reaped yet,
/// so it names the daemon and no other process, even if the daemon dies and its PID
/// is reused. The original process kills a daemon whose start failed through it.
pub(crate) fn send_started(fd: impl AsFd, daemon: Pid, pidfd: Option<BorrowedFd<'_>>) {
    send_with(fd, Report::Started(daemon), pidfd);
}

fn send_with(fd: impl AsFd, report: Report, attached: Option<BorrowedFd<'_>>) {
    let (tag, step, aux, value) = match report {
        Report::Started(pid) => (STARTED, 0, 0, pid.as_raw_nonzero().get()),
        Report::Ready(pid) => (READY, 0, 0, pid.as_raw_nonzero().get()),
        Report::Failed { step, aux, errno } => (FAILED, step, aux, errno),
        Report::Code(code) => (CODE, 0, 0, i32::from(code)),
        Report::Closed => return,
    };
    let aux = aux.to_le_bytes();
    let v = value.to_le_bytes();
    let record = [tag, step, aux[0], aux[1], v[0], v[1], v[2], v[3]];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = attached {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let _ = sendmsg(
        fd,
        &[IoSlice::new(&record)],
        &mut control,
        SendFlags::NOSIGNAL,
    );
}

/// Reads the s6 readiness pipe until a newline (`Ok(true)`) or end of file
/// (`Ok(false)`), waiting `timeout` at most for each read.
pub(crate) fn await_newline(fd: impl AsFd, timeout: Option<Duration>) -> Result<bool, Errno> {
    let fd = fd.as_fd();
    loop {
        wait_readable(fd, timeout)?;
        let mut buf = [0u8; 64];
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) if buf[..n].contains(&b'\n') => return Ok(true),
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Waits until `fd` is readable, `timeout` at most (forever if `None`).
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<(), Errno> {
    let Some(t) = timeout else {
        return Ok(());
    };
    let t = timespec(t);
    loop {
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&t)) {
            Ok(0) => return Err(Errno::TIMEDOUT),
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `d` as the kernel's `timespec` (seconds beyond `i64::MAX` saturate).
pub(crate) fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Sleeps for `d` (a signal may end it early; every caller loops anyway).
pub(crate) fn sleep(d: Duration) {
    let _ = rustix::thread::nanosleep(&timespec(d));
}

/// Receives the next report, waiting `timeout` at most (forever if `None`);
/// `Err(Errno::TIMEDOUT)` when it passes. A signal interrupting the wait restarts it
/// with the whole timeout: the original process handles none, so that never happens.
/// With [`Report::Started`] comes the daemon's pidfd, when the kernel has pidfds.
pub(crate) fn receive(
    fd: impl AsFd,
    timeout: Option<Duration>,
) -> Result<(Report, Option<OwnedFd>), Errno> {
    let fd = fd.as_fd();
    wait_readable(fd, timeout)?;
    let mut record = [0u8; 8];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let n = loop {
        let mut iov = [IoSliceMut::new(&mut record)];
        match recvmsg(fd, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(msg) => break msg.bytes,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    };
    let mut attached = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            attached = fds.next();
        }
    }
    if n == 0 {
        return Ok((Report::Closed, None));
    }
    if n != record.len() {
        return Err(Errno::PROTO);
    }
    let value = i32::from_le_bytes([record[4], record[5], record[6], record[7]]);
    let pid = || Pid::from_raw(value).ok_or(Errno::PROTO);
    let report = match record[0] {
        STARTED => Report::Started(pid()?),
        READY => Report::Ready(pid()?),
        FAILED => Report::Failed {
            step: record[1],
            aux: u16::from_le_bytes([record[2], record[3]]),
            errno: value,
        },
        CODE => Report::Code(value as u8),
        _ => return Err(Errno::PROTO),
    };
    Ok((report, attached))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let (ours, theirs) = pair().unwrap();
        let pid = Pid::from_raw(4242).unwrap();
        let reports = [
            Report::Started(pid),
            Report::Failed {
                step: 3,
                aux: 513,
                errno: 2,
            },
            Report::Failed {
                step: 10,
                aux: 0,
                errno: 0,
            },
            Report::Code(7),
            Report::Ready(pid),
        ];
        for r in reports {
            send_report(&theirs, r);
        }
        for r in reports {
            assert_eq!(receive(&ours, None).unwrap().0, r);
        }
        // A descriptor travels with `Started`.
        send_started(&theirs, pid, Some(ours.as_fd()));
        let (report, fd) = receive(&ours, None).unwrap();
        assert_eq!(report, Report::Started(pid));
        assert!(fd.is_some());
        drop(theirs);
        assert_eq!(receive(&ours, None).unwrap().0, Report::Closed);
    }

    #[test]
    fn times_out() {
        let (ours, _theirs) = pair().unwrap();
        let timeout = Duration::from_millis(20);
        assert!(matches!(
            receive(&ours, Some(timeout)),
            Err(Errno::TIMEDOUT)
        ));
    }
}
