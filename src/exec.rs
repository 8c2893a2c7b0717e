//! The exec path ([`Daemon::exec`](crate::Daemon::exec)): the daemon becomes another
//! program. Its `argv` and `envp` are pointer arrays built before the fork; after the
//! fork only `fcntl`, `dup2` and `execve` run, so this path is sound even from a
//! multithreaded process. The original process waits for the exec, and optionally
//! for the program's own readiness (a newline on a pipe, or `READY=1` over
//! `sd_notify`).

use core::ffi::{c_char, CStr};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::io::{fcntl_dupfd_cloexec, Errno};
use rustix::process::{geteuid, Pid};

use crate::argv::{fill, pidfile_var, Additions, Pointers, Program};
use crate::channel::Deadline;
use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::failure::Failure;
use crate::launch::{self, Mode, Side};
use crate::monitor::{self, Supervised};
use crate::plan::Plan;
use crate::stack::Stack;
use crate::supervisor::{Notified, NotifyListener};
use crate::{fds, sys};

/// The program's readiness pipe: it gets the write end as descriptor `number`.
struct Readiness {
    read: OwnedFd,
    write: OwnedFd,
    number: i32,
}

/// [`Daemon::exec`](crate::Daemon::exec) (and with `supervise`,
/// [`Daemon::supervise`](crate::Daemon::supervise), whose own path it hands over to
/// once the program's arrays are built) once the plan is made: returns in the
/// original process only.
pub(crate) fn run(
    mut plan: Plan<'_>,
    program: &Program<'_>,
    readiness: Option<i32>,
    await_notify: bool,
    supervise: Option<Supervised<'_>>,
    err: &mut Error,
) -> Result<Pid, Failed> {
    // Each error is made in the slot (built as a value it would be copied), then the
    // pidfile is put back.
    if (readiness.is_some() || await_notify) && !plan.detach {
        let why = "waiting for a program's readiness needs a detached daemon";
        return Err(invalid(&mut plan, why, err));
    }
    if await_notify && readiness.is_some() && supervise.is_some() {
        let why =
            "a supervised program reports readiness on a descriptor or over sd_notify, not both";
        return Err(invalid(&mut plan, why, err));
    }
    // A supervised program gets a new pipe from the monitor at each run.
    let mut pipe = None;
    if let Some(n) = readiness {
        if plan.keep.contains(n) {
            Error::fill(err, ErrorKind::InvalidOption, None)
                .push_text(b"readiness descriptor ")
                .push_number(n as u64)
                .push_text(b" is a standard stream or a kept descriptor");
            return Err(plan.abandon(err));
        }
        if supervise.is_none() {
            match open_readiness(n) {
                Ok(made) => pipe = Some(made),
                Err(e) => return Err(channel_error(&mut plan, e, b"pipe", err)),
            }
        }
    }
    let listener = match await_notify.then(NotifyListener::new).transpose() {
        Ok(listener) => listener,
        Err(e) => return Err(channel_error(&mut plan, e, b"notify socket", err)),
    };
    // Built here, on this stack frame, which lives until `execve`: `envp` points
    // into these buffers.
    let mut pointers = Pointers::new();
    let (mut fd_var, mut socket_var) = (Stack::<u8, 48>::new(), Stack::<u8, 64>::new());
    let additions = Additions {
        // A supervised program has no descriptor of the pidfile: the monitor holds it.
        pidfile_fd: plan
            .pidfile
            .as_ref()
            .filter(|_| supervise.is_none())
            .map(|(p, _)| pidfile_var(p.kept_fds()[0], &mut fd_var)),
        notify_socket: listener.as_ref().map(|l| l.variable(&mut socket_var)),
        detached: plan.detach,
    };
    if fill(program, &additions, &mut pointers, err).is_err() {
        return Err(plan.abandon(err));
    }
    let (argv, envp) = pointers.arrays();
    let search = crate::search::path_of(program.env);
    // In the foreground this process becomes the program (or its monitor): if that
    // fails, the error must reach the caller's stderr, which the steps redirect.
    let stderr = if plan.detach {
        None
    } else {
        save_stderr(&mut plan, err)?
    };
    if let Some(pipe) = &pipe {
        plan.keep(pipe.write.as_raw_fd());
        let _ = plan.guard_closes.push(pipe.write.as_raw_fd());
    }
    if let Some(supervised) = supervise {
        let parts = monitor::Parts {
            program,
            argv,
            envp,
            search,
            readiness,
            notify: listener.map(|listener| monitor::Notify {
                listener,
                receive: NotifyListener::receive,
            }),
            stderr,
        };
        return (supervised.launch)(plan, parts, supervised, err);
    }
    let mode = Mode::Exec(program.path);
    let side = match launch::run(&mut plan) {
        Ok(side) => side,
        Err(failure) => return Err(plan.fail(failure, Some(program.path), err)),
    };
    match side {
        Side::Daemon { reports, pid } => {
            let reports_fd = reports.as_ref().map(AsFd::as_fd);
            let exe = (program.path, search);
            let failure = exec(&plan, pid, reports_fd, exe, argv, envp, pipe.as_ref());
            if let Some(reports) = &reports {
                launch::report_failure(reports.as_raw_fd(), failure);
                sys::exit_immediately(1);
            }
            if let Some(stderr) = &stderr {
                let _ = sys::redirect(stderr.as_raw_fd(), 2);
            }
            Err(plan.fail(failure, Some(program.path), err))
        }
        Side::Original(launched) => {
            // Our copy of the write end must go, or its end of file never comes.
            let pipe = pipe.map(|p| (p.read, p.number));
            let outcome = launched.wait(&plan, mode).and_then(|pid| {
                await_program(&plan, pipe.as_ref(), listener.as_ref()).map(|()| pid)
            });
            launched.conclude(&mut plan, outcome, mode, err)
        }
    }
}

/// The readiness descriptor's number must leave a number above it under
/// `RLIMIT_NOFILE`, where the start puts what it keeps (checked before the plan is
/// made, nothing created yet).
#[cold]
#[inline(never)]
pub(crate) fn no_room(number: i32, limit: u64) -> Error {
    Error::invalid("readiness descriptor ")
        .number(number as u64)
        .text(" leaves no descriptor number above it below the limit of ")
        .number(limit)
        .text(" (ulimit -n)")
}

/// Creates the readiness pipe for a free `number`; its write end above it.
fn open_readiness(number: i32) -> Result<Readiness, Errno> {
    let floor = number.saturating_add(1);
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok(Readiness {
        read: fds::above_stdio(r)?,
        write: fds::at_or_above(w, floor)?,
        number,
    })
}

/// An invalid combination, explained by `why`, in the slot; the pidfile put back.
#[cold]
#[inline(never)]
fn invalid(plan: &mut Plan<'_>, why: &str, err: &mut Error) -> Failed {
    Error::fill(err, ErrorKind::InvalidOption, None).push_text(why.as_bytes());
    plan.abandon(err)
}

/// A channel that could not be made, `what`, in the slot; the pidfile put back.
#[cold]
#[inline(never)]
fn channel_error(plan: &mut Plan<'_>, e: Errno, what: &[u8], err: &mut Error) -> Failed {
    let _ = crate::channel::failed(e, what, err);
    plan.abandon(err)
}

/// A close-on-exec copy of stderr, kept through the close step; `None` when stderr
/// is closed.
fn save_stderr(plan: &mut Plan<'_>, err: &mut Error) -> Result<Option<OwnedFd>, Failed> {
    if !sys::is_open(2) {
        return Ok(None);
    }
    // SAFETY: stderr was just seen open; the borrow ends with the call.
    let copy = or_return!(fcntl_dupfd_cloexec(unsafe { sys::borrow(2) }, 3), |e| {
        channel_error(plan, e, b"copying stderr", err)
    });
    plan.keep(copy.as_raw_fd());
    Ok(Some(copy))
}

/// After the daemon's steps: hand the pidfile's lock, the preserved descriptors and
/// the readiness pipe to the program, tell the original process who is about to
/// exec, and execute it. Returns only on failure.
fn exec(
    plan: &Plan<'_>,
    pid: Pid,
    reports: Option<rustix::fd::BorrowedFd<'_>>,
    (path, search): (&CStr, &[u8]),
    argv: &[*const c_char],
    envp: &[*const c_char],
    pipe: Option<&Readiness>,
) -> Failure {
    let passed = (|| {
        // The lock must live exactly as long as the program: it inherits the locked
        // descriptor (not the directory's, which only our own release needs).
        if let Some((pidfile, _)) = &plan.pidfile {
            sys::inherit(pidfile.kept_fds()[0])?;
        }
        let readiness = pipe.map(|p| (p.write.as_raw_fd(), p.number));
        fds::hand_over(plan.o.preserve.as_slice(), readiness)
    })();
    if let Err(errno) = passed {
        return Failure::os(ErrorKind::PassFds, errno);
    }
    if let Some(reports) = reports {
        crate::channel::send_report(reports, crate::channel::Report::Ready(pid));
    }
    Failure {
        kind: ErrorKind::Exec,
        aux: 0,
        errno: Some(crate::search::execvp(path, search, argv, envp)),
    }
}

/// Waits for the exec'd program's own readiness: its newline on the pipe, or its
/// `READY=1` on the notify socket, until the start's deadline.
fn await_program(
    plan: &Plan<'_>,
    pipe: Option<&(OwnedFd, i32)>,
    listener: Option<&NotifyListener>,
) -> Result<(), Failure> {
    let fail = |e| match e {
        Errno::TIMEDOUT => Failure::new(ErrorKind::Timeout),
        e => Failure::os(ErrorKind::Channel, e),
    };
    if let Some((read, number)) = pipe {
        if !await_newline(read, &plan.deadline).map_err(fail)? {
            let mut f = Failure::new(ErrorKind::NotReady);
            f.aux = *number as u16;
            return Err(f);
        }
    }
    if let Some(listener) = listener {
        let uid = plan
            .creds
            .as_ref()
            .and_then(|c| c.uid)
            .unwrap_or_else(geteuid);
        if let Notified::Failed(errno) = listener.wait(uid, &plan.deadline).map_err(fail)? {
            return Err(Failure::os(ErrorKind::ReportedFailure, errno));
        }
    }
    Ok(())
}

/// Reads the readiness pipe until a newline (`Ok(true)`) or end of file
/// (`Ok(false)`), until the deadline.
fn await_newline(fd: impl AsFd, deadline: &Deadline) -> Result<bool, Errno> {
    let fd = fd.as_fd();
    loop {
        deadline.wait(fd)?;
        let mut buf = [0u8; 64];
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) if crate::text::has_newline(&buf[..n]) => return Ok(true),
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}
