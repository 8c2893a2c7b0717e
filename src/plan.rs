//! The plan: everything the daemon's steps need, resolved and opened before the
//! fork, owned (no borrow of the builder), so that after the fork nothing is looked
//! up, allocated or formatted.

use core::ffi::CStr;
use rustix::fd::OwnedFd;

use crate::channel::Deadline;
use crate::creds::Creds;
use crate::error::{frame, Error, ErrorKind, Failed, Frame};
use crate::failure::Failure;
use crate::fds::Keep;
use crate::options::Options;
use crate::path::CPath;
use crate::pidfile::{Pidfile, Previous};
use crate::stack::Stack;
use crate::supervisor::Tellers;
use crate::sys::Dispositions;

/// The frames of the steps only a start that runs a program has: the exec'd and
/// supervised starts put this in [`Plan::program_frames`], so a plain start links
/// none of their messages.
pub(crate) fn program_frame(kind: ErrorKind) -> Frame {
    use ErrorKind as K;
    match kind {
        K::PassFds => frame(K::PassFds),
        K::Exec => frame(K::Exec),
        K::NotReady => frame(K::NotReady),
        K::ReportedFailure => frame(K::ReportedFailure),
        K::Supervise => frame(K::Supervise),
        _ => frame(K::Died),
    }
}

/// The two socket pairs of a detached start (see [`crate::channel`]).
pub(crate) struct Channels {
    /// Reports: the daemon's end, and the original process's.
    pub(crate) reports: (OwnedFd, OwnedFd),
    /// Verdicts: the original process's end, and the intermediate process's.
    pub(crate) verdicts: (OwnedFd, OwnedFd),
}

/// Everything the daemon's steps need: the options, and what was resolved and opened
/// from them.
///
/// In this order (`repr(C)`): the small fields every start reads first, the options
/// and the credentials (1 KB) last, so that most accesses take a short displacement.
#[repr(C)]
pub(crate) struct Plan<'a> {
    /// Whether the daemon forks away from the original process.
    pub(crate) detach: bool,
    /// Whether the daemon keeps the pidfile's writer (a monitor, which never hands it
    /// to the program, empties the file with it when it may not remove it).
    pub(crate) keep_writer: bool,
    /// The descriptor to put on each standard stream, or -1 to leave it.
    pub(crate) stdio: [i32; 3],
    /// The channels, when detaching.
    pub(crate) channels: Option<Channels>,
    pub(crate) pidfile: Option<(Pidfile<'a>, Previous)>,
    /// The whole start's deadline.
    pub(crate) deadline: Deadline,
    /// The frames of a program's steps ([`program_frame`]), for a start that runs one.
    pub(crate) program_frames: Option<fn(ErrorKind) -> Frame>,
    /// Descriptors the intermediate process closes besides the channels' (an exec'd
    /// program's readiness pipe), so their end of file is the daemon's alone.
    pub(crate) guard_closes: Stack<i32, 2>,
    /// The signal dispositions now, which the daemon inherits; `None` without `/proc`.
    pub(crate) dispositions: Option<Dispositions>,
    /// Descriptors we opened for the streams; the daemon's close step closes them.
    pub(crate) opened: [Option<OwnedFd>; 3],
    /// The descriptors the daemon keeps, besides 0-2: the preserved ones (in
    /// `o.preserve`) and our own.
    pub(crate) keep: Keep,
    pub(crate) tellers: Option<Tellers>,
    /// The builder's options, moved here whole (the pidfile's path is in `pidfile`).
    pub(crate) o: Options<'a>,
    pub(crate) creds: Option<Creds>,
}

impl<'a> Plan<'a> {
    /// The plan before [`prepare`](crate::prepare::prepare) fills it: the options, and
    /// nothing resolved or opened. Inlined, so that the caller builds it in place.
    #[inline(always)]
    pub(crate) fn new(o: Options<'a>) -> Plan<'a> {
        Plan {
            keep: o.preserve,
            o,
            dispositions: None,
            pidfile: None,
            creds: None,
            stdio: [-1; 3],
            opened: [None, None, None],
            guard_closes: Stack::new(),
            tellers: None,
            deadline: Deadline::none(),
            detach: false,
            keep_writer: false,
            channels: None,
            program_frames: None,
        }
    }

    /// After a failed start, in the original process, the error already made in
    /// `err`: the pidfile is put back as it was and unlocked.
    pub(crate) fn abandon(&mut self, err: &mut Error) -> Failed {
        self.put_back();
        err.failed()
    }

    #[inline(never)]
    pub(crate) fn put_back(&mut self) {
        if let Some((pidfile, previous)) = self.pidfile.take() {
            pidfile.restore(&previous);
        }
    }

    /// After a failure of the start in the original process: the error that names
    /// what failed, and the pidfile put back.
    pub(crate) fn fail(&mut self, f: Failure, program: Option<&CStr>, err: &mut Error) -> Failed {
        let _ = self.describe(f, program, err);
        self.abandon(err)
    }

    /// Adds one of our own descriptors to those the daemon keeps.
    /// There is always room: the caller may preserve 64, and the set holds more.
    pub(crate) fn keep(&mut self, fd: i32) {
        let _ = self.keep.insert(fd);
    }

    /// After the daemon's close step: the descriptors we opened for the streams and
    /// the pidfile's writer are closed already; closing them again could close one
    /// the daemon opened since.
    pub(crate) fn forget_closed(&mut self) {
        for fd in self.opened.iter_mut().filter_map(Option::take) {
            core::mem::forget(fd);
        }
        if let Some((pidfile, _)) = self.pidfile.as_mut().filter(|_| !self.keep_writer) {
            pidfile.forget_writer();
        }
        if let Some(channels) = self.channels.take() {
            core::mem::forget(channels);
        }
        core::mem::forget(core::mem::replace(&mut self.deadline, Deadline::none()));
    }

    /// The error for a start that ran out of time (only a start with a timeout
    /// does).
    pub(crate) fn timed_out(&self, err: &mut Error) -> Failed {
        match &self.o.timeout {
            Some(t) => t.expired(err),
            None => Error::fill(err, ErrorKind::Died, None).failed(),
        }
    }

    /// The pidfile is the daemon's now: this process lets go of its copy. Out of
    /// line: both ends of a start that waited call it.
    #[inline(never)]
    pub(crate) fn disown_pidfile(&mut self) {
        if let Some(pidfile) = self.take_pidfile() {
            pidfile.disown();
        }
    }

    /// The pidfile, for the daemon to own: the lock (and directory) stay open.
    pub(crate) fn take_pidfile(&mut self) -> Option<Pidfile<'a>> {
        self.pidfile.take().map(|(pidfile, _)| pidfile)
    }

    /// The error for a step that failed after the fork, naming what it failed on
    /// (`program` is the path an exec'd program was given).
    pub(crate) fn describe(&self, f: Failure, program: Option<&CStr>, err: &mut Error) -> Failed {
        use ErrorKind as K;
        if let K::SetGroups | K::SetGid | K::SetUid | K::PrivilegesRegained = f.kind {
            if let Some(creds) = &self.creds {
                return (creds.describe)(creds, f, err);
            }
        }
        // The frame from a match over the kinds every start reports, not every kind:
        // the messages of the steps are all this links; those of a program's steps
        // come with it.
        let frame = match f.kind {
            K::Setsid => frame(K::Setsid),
            K::Fork => frame(K::Fork),
            K::Signals => frame(K::Signals),
            K::Chroot => frame(K::Chroot),
            K::Chdir => frame(K::Chdir),
            K::CoreLimit => frame(K::CoreLimit),
            K::WritePidfile => frame(K::WritePidfile),
            K::RedirectStdio => frame(K::RedirectStdio),
            K::CloseFds => frame(K::CloseFds),
            K::Channel => frame(K::Channel),
            K::Failed { .. } => frame(K::Failed { code: 0 }),
            K::Timeout => return self.timed_out(err),
            _ => self
                .program_frames
                .map_or(frame(K::Died), |frames| frames(f.kind)),
        };
        // The context as bytes, then one path or text call: one place the error moves.
        let path: &[u8] = match f.kind {
            K::Chroot => self.o.chroot.as_ref().map_or(&[][..], CPath::bytes),
            K::Chdir => self.o.workdir.bytes(),
            K::WritePidfile => self.pidfile.as_ref().map_or(&[][..], |(p, _)| p.shown()),
            K::Exec => program.map_or(&[][..], CStr::to_bytes),
            K::Channel => b"receiving",
            K::RedirectStdio => match crate::text::nth(crate::stdio::STREAMS, f.aux.into()) {
                b"" => b"stdio",
                name => name,
            },
            _ => &[],
        };
        let e = Error::fill_framed(err, f.kind, f.errno, frame).push_path(path);
        match f.kind {
            K::Failed { code } => e.push_number(code.into()),
            K::Signals | K::NotReady => e.push_number(f.aux.into()),
            _ => e,
        }
        .failed()
    }
}
