//! The two channels of a detached start, and the start's deadline.
//!
//! **Reports** go from the daemon (or the intermediate process, when it fails before
//! the second fork) to the original process: a `SOCK_SEQPACKET` socket pair, so each
//! 8-byte record `[tag, step, aux (u16 LE), value (i32 LE)]` arrives whole, and
//! `send(MSG_NOSIGNAL)` cannot kill the daemon with SIGPIPE (reset to its default by
//! then) if the original process is gone. End of file means every copy of the
//! daemon's end is closed: the daemon died, or exec'd (the end is close-on-exec).
//!
//! **Verdicts** go the other way, from the original process to the intermediate
//! process, which waits as the daemon's parent until it knows the start's outcome:
//! one byte, or end of file when the original process died (see [`Verdict`]).
//!
//! The **deadline** is a `timerfd` armed once, when the start begins: every wait of
//! the start polls it, so the timeout bounds the whole start, needs no clock reads,
//! and is inherited by the intermediate process unchanged.

use core::time::Duration;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    recv, send, socketpair, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};
use rustix::process::Pid;

use crate::error::{or_return, Error, ErrorKind, Failed};
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};

/// One message from the intermediate process or the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// From the daemon: ready, with its PID.
    Ready(Pid),
    /// `step` (an index of `steps::STEPS`) failed with the raw `errno` (0: no system
    /// call failed); `aux` says on what (a signal, a stream).
    Failed { step: u8, aux: u16, errno: i32 },
    /// From the daemon: [`Pending::fail`](crate::Pending::fail) with this code.
    Code(u8),
    /// End of file.
    Closed,
}

const READY: u8 = 2;
const FAILED: u8 = 3;
const CODE: u8 = 4;

/// Creates a socket pair, both ends at `floor` or above: (one end, the other end).
/// Out of line: each channel's pair shares one copy.
#[inline(never)]
pub(crate) fn pair(floor: i32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((
        crate::fds::at_or_above(a, floor)?,
        crate::fds::at_or_above(b, floor)?,
    ))
}

/// Sends `report`. Errors are ignored: nobody is left to tell.
pub(crate) fn send_report(fd: impl AsFd, report: Report) {
    let (tag, step, aux, value) = match report {
        Report::Ready(pid) => (READY, 0, 0, pid.as_raw_nonzero().get()),
        Report::Failed { step, aux, errno } => (FAILED, step, aux, errno),
        Report::Code(code) => (CODE, 0, 0, i32::from(code)),
        Report::Closed => return,
    };
    let aux = aux.to_le_bytes();
    let v = value.to_le_bytes();
    let record = [tag, step, aux[0], aux[1], v[0], v[1], v[2], v[3]];
    let _ = send(fd, &record, SendFlags::NOSIGNAL);
}

/// Receives the next report, waiting until the `deadline` at most.
pub(crate) fn receive(fd: impl AsFd, deadline: &Deadline) -> Result<Report, Errno> {
    let fd = fd.as_fd();
    deadline.wait(fd)?;
    let mut record = [0u8; 8];
    let n = loop {
        match recv(fd, &mut record, RecvFlags::empty()) {
            Ok((n, _)) => break n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    };
    if n == 0 {
        return Ok(Report::Closed);
    }
    if n != record.len() {
        return Err(Errno::PROTO);
    }
    let value = i32::from_le_bytes([record[4], record[5], record[6], record[7]]);
    Ok(match record[0] {
        READY => Report::Ready(Pid::from_raw(value).ok_or(Errno::PROTO)?),
        FAILED => Report::Failed {
            step: record[1],
            aux: u16::from_le_bytes([record[2], record[3]]),
            errno: value,
        },
        CODE => Report::Code(value as u8),
        _ => return Err(Errno::PROTO),
    })
}

/// What the original process tells the intermediate process once the outcome is
/// known; [`Verdict::Gone`] when it died first (even by SIGKILL), so a start nobody
/// waits for any more leaves nothing behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The daemon is ready: leave it be.
    Ready = b'y' as isize,
    /// The daemon reported its own failure and exits by itself: put the pidfile
    /// back, kill nothing.
    Failed = b'f' as isize,
    /// The start failed: kill the daemon, put the pidfile back (the original process
    /// kills the rest of the process group).
    Kill = b'k' as isize,
    /// End of file: the original process is gone. Kill the daemon and the process
    /// group, put the pidfile back.
    Gone = 0,
}

pub(crate) fn send_verdict(fd: impl AsFd, verdict: Verdict) {
    let _ = send(fd, &[verdict as u8], SendFlags::NOSIGNAL);
}

/// Waits for the verdict; anything but a known one (end of file, an error) is
/// [`Verdict::Gone`].
pub(crate) fn receive_verdict(fd: impl AsFd) -> Verdict {
    let mut byte = [0u8];
    loop {
        return match recv(&fd, &mut byte, RecvFlags::empty()) {
            Err(Errno::INTR) => continue,
            Ok((1, _)) if byte[0] == Verdict::Ready as u8 => Verdict::Ready,
            Ok((1, _)) if byte[0] == Verdict::Failed as u8 => Verdict::Failed,
            Ok((1, _)) if byte[0] == Verdict::Kill as u8 => Verdict::Kill,
            _ => Verdict::Gone,
        };
    }
}

/// The start's timeout, and the code that enforces it: only
/// [`Daemon::timeout`](crate::Daemon::timeout) names it, so a start without one
/// contains no timer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeout {
    pub(crate) duration: Duration,
    arm: fn(Duration, &mut Error) -> Result<Deadline, Failed>,
    expired: fn(Duration, &mut Error) -> Failed,
}

impl Timeout {
    pub(crate) fn new(duration: Duration) -> Timeout {
        Timeout {
            duration,
            arm: arm_timer,
            expired: |d, err| {
                Error::fill(err, ErrorKind::Timeout, None)
                    .push_seconds(d)
                    .failed()
            },
        }
    }

    /// The deadline, `duration` from now.
    pub(crate) fn arm(&self, err: &mut Error) -> Result<Deadline, Failed> {
        (self.arm)(self.duration, err)
    }

    /// The error once it has passed.
    pub(crate) fn expired(&self, err: &mut Error) -> Failed {
        (self.expired)(self.duration, err)
    }
}

/// [`Deadline::after`], its failure put in `err`: reached only through a [`Timeout`].
fn arm_timer(duration: Duration, err: &mut Error) -> Result<Deadline, Failed> {
    Ok(or_return!(Deadline::after(duration), |e| failed(
        e, b"timer", err
    )))
}

/// The error for a channel (a socket pair, a pipe, a timer: `what`) that could not
/// be made, in `err`. The one maker of [`ErrorKind::Channel`] errors before a fork.
#[cold]
#[inline(never)]
pub(crate) fn failed(e: Errno, what: &[u8], err: &mut Error) -> Failed {
    Error::fill(err, ErrorKind::Channel, Some(e))
        .push_text(what)
        .failed()
}

/// The start's deadline: a timer armed once, or none.
#[derive(Debug)]
pub(crate) struct Deadline(Option<Timer>);

#[derive(Debug)]
struct Timer {
    fd: OwnedFd,
    wait: fn(&OwnedFd, BorrowedFd<'_>) -> Result<(), Errno>,
}

impl Deadline {
    /// No deadline: every wait waits as long as it takes.
    pub(crate) const fn none() -> Deadline {
        Deadline(None)
    }

    /// A deadline `timeout` from now.
    fn after(timeout: Duration) -> Result<Deadline, Errno> {
        let timer = Timer {
            fd: timer(3)?,
            wait: wait_for,
        };
        let deadline = Deadline(Some(timer));
        deadline.extend(timeout)?;
        Ok(deadline)
    }

    /// Moves the deadline to `timeout` from now (sd_notify's `EXTEND_TIMEOUT_USEC=`).
    pub(crate) fn extend(&self, timeout: Duration) -> Result<(), Errno> {
        match &self.0 {
            Some(timer) => set_timer(&timer.fd, Some(timeout)),
            None => Ok(()),
        }
    }

    /// Waits until `fd` is readable: `Err(TIMEDOUT)` once the deadline has passed.
    /// Without a deadline, returns at once (the caller's read then blocks).
    pub(crate) fn wait(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        match &self.0 {
            Some(timer) => (timer.wait)(&timer.fd, fd),
            None => Ok(()),
        }
    }
}

/// A close-on-exec monotonic `timerfd`, at `floor` or above (the deadline's, the
/// monitor's).
pub(crate) fn timer(floor: i32) -> Result<OwnedFd, Errno> {
    let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::CLOEXEC)?;
    crate::fds::at_or_above(fd, floor)
}

/// Sets `timer` to go off `after` from now, once; `None` disarms it.
pub(crate) fn set_timer(timer: &OwnedFd, after: Option<Duration>) -> Result<(), Errno> {
    // A zero `it_value` would disarm the timer: the shortest wait is 1 ns.
    let after = after.map_or(Duration::ZERO, |d| d.max(Duration::from_nanos(1)));
    let value = Itimerspec {
        it_interval: timespec(Duration::ZERO),
        it_value: timespec(after),
    };
    timerfd_settime(timer, TimerfdTimerFlags::empty(), &value).map(drop)
}

/// Polls `fd` and the `timer`: `Ok` when `fd` is readable, `TIMEDOUT` when the timer
/// has expired.
fn wait_for(timer: &OwnedFd, fd: BorrowedFd<'_>) -> Result<(), Errno> {
    loop {
        let mut fds = [
            PollFd::from_borrowed_fd(fd, PollFlags::IN),
            PollFd::new(timer, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) if !fds[0].revents().is_empty() => return Ok(()),
            Ok(_) => return Err(Errno::TIMEDOUT),
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

/// Waits up to `d` for `fd` to become readable; `Ok(false)` when the time passed.
/// (For `stop`, which waits on a pidfd; a signal restarts the whole wait, and `stop`
/// handles none.)
pub(crate) fn readable_within(fd: BorrowedFd<'_>, d: Duration) -> Result<bool, Errno> {
    let t = timespec(d);
    loop {
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&t)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let (ours, theirs) = pair(3).unwrap();
        let pid = Pid::from_raw(4242).unwrap();
        let reports = [
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
            assert_eq!(receive(&ours, &Deadline::none()).unwrap(), r);
        }
        drop(theirs);
        assert_eq!(receive(&ours, &Deadline::none()).unwrap(), Report::Closed);
    }

    #[test]
    fn verdicts_and_their_end_of_file() {
        let (a, b) = pair(3).unwrap();
        send_verdict(&a, Verdict::Ready);
        send_verdict(&a, Verdict::Failed);
        send_verdict(&a, Verdict::Kill);
        assert_eq!(receive_verdict(&b), Verdict::Ready);
        assert_eq!(receive_verdict(&b), Verdict::Failed);
        assert_eq!(receive_verdict(&b), Verdict::Kill);
        drop(a);
        assert_eq!(receive_verdict(&b), Verdict::Gone);
    }

    #[test]
    fn the_deadline_bounds_every_wait_together() {
        let (ours, _theirs) = pair(3).unwrap();
        let deadline = Timeout::new(Duration::from_millis(20))
            .arm(&mut Error::new(ErrorKind::Died))
            .unwrap();
        assert_eq!(receive(&ours, &deadline), Err(Errno::TIMEDOUT));
        // Passed once, passed for good: a second wait does not start over.
        assert_eq!(receive(&ours, &deadline), Err(Errno::TIMEDOUT));
        deadline.extend(Duration::from_secs(60)).unwrap();
        let (a, b) = pair(3).unwrap();
        send_report(&a, Report::Code(1));
        assert_eq!(receive(&b, &deadline), Ok(Report::Code(1)));
    }
}
