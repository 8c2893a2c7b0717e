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

use crate::channel::Deadline;
use crate::error::{Error, ErrorKind};
use crate::failure::Failure;
use crate::launch::{self, Mode, Side};
use crate::plan::Plan;
use crate::stack::Stack;
use crate::supervisor::{Notified, NotifyListener};
use crate::{fds, sys};

/// A program for [`Daemon::exec`](crate::Daemon::exec): its path, its arguments
/// (`args[0]` is its name) and its whole environment.
///
/// A path with a `/` is executed as it is (a relative one from the daemon's working
/// directory, inside its chroot); a bare name is looked for in the `PATH` of `env`
/// (else `/usr/local/bin:/bin:/usr/bin`) as `execvp(3)` does, by the daemon once it
/// is in its root, its directory and its user's identity.
///
/// ```
/// let program = daemonic::Program { path: c"/bin/sleep", args: &[c"sleep", c"60"], env: &[] };
/// assert_eq!(program.args.len(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Program<'p> {
    /// The file to execute.
    pub path: &'p CStr,
    /// `argv`, starting with the program's name.
    pub args: &'p [&'p CStr],
    /// `envp`: `NAME=VALUE` entries.
    pub env: &'p [&'p CStr],
}

/// The most arguments, or environment entries, a program can be given.
pub(crate) const MAX_POINTERS: usize = 1024;

/// A null-terminated array of C string pointers, on the stack, built before the fork.
struct Pointers {
    ptrs: Stack<*const c_char, { MAX_POINTERS + 1 }>,
}

impl Pointers {
    fn new() -> Pointers {
        Pointers { ptrs: Stack::new() }
    }

    fn push(&mut self, s: &CStr) -> Result<(), Error> {
        // One slot stays free for the terminating null.
        if self.ptrs.len() == MAX_POINTERS {
            return Err(Error::invalid(
                "more than 1024 arguments or environment entries",
            ));
        }
        self.ptrs
            .push(s.as_ptr())
            .map_err(|_| Error::invalid("too many arguments"))
    }

    /// The pointers and the terminating null.
    fn terminated(&mut self) -> &[*const c_char] {
        let _ = self.ptrs.push(core::ptr::null());
        self.ptrs.as_slice()
    }
}

/// The variable that tells an exec'd program which descriptor holds the pidfile lock.
const PIDFILE_FD_VAR: &[u8] = b"DAEMONIC_PIDFILE_FD=";

/// What the program's environment gets besides the caller's entries.
struct Additions<'v> {
    /// `DAEMONIC_PIDFILE_FD=N`.
    pidfile_fd: Option<&'v CStr>,
    /// `NOTIFY_SOCKET=...` of the notify listener, replacing the caller's.
    notify_socket: Option<&'v CStr>,
    /// Whether the program runs under another PID than ours, so socket activation's
    /// `LISTEN_*` (which name our PID) do not apply to it.
    detached: bool,
}

/// Fills `argv` and `envp` for `program`, with the `additions`.
fn fill(
    program: &Program<'_>,
    additions: &Additions<'_>,
    argv: &mut Pointers,
    envp: &mut Pointers,
) -> Result<(), Error> {
    let replaced = |entry: &&CStr| {
        let e = entry.to_bytes();
        e.starts_with(PIDFILE_FD_VAR)
            || (additions.notify_socket.is_some() && e.starts_with(b"NOTIFY_SOCKET="))
            || (additions.detached
                && [&b"LISTEN_PID="[..], b"LISTEN_FDS=", b"LISTEN_FDNAMES="]
                    .iter()
                    .any(|v| e.starts_with(v)))
    };
    for arg in program.args {
        argv.push(arg)?;
    }
    let ours = additions.notify_socket.iter().chain(&additions.pidfile_fd);
    for entry in program.env.iter().filter(|e| !replaced(e)).chain(ours) {
        envp.push(entry)?;
    }
    Ok(())
}

/// The program's readiness pipe: it gets the write end as descriptor `number`.
struct Readiness {
    read: OwnedFd,
    write: OwnedFd,
    number: i32,
}

/// Before the plan is made (nothing created yet): the readiness descriptor's number
/// must leave a number above it under `RLIMIT_NOFILE`, where the start puts what it
/// keeps.
pub(crate) fn check_readiness(readiness: Option<i32>) -> Result<(), Error> {
    match readiness {
        Some(number) => fds::room_above(number).map_err(|limit| no_room(number, limit)),
        None => Ok(()),
    }
}

/// [`Daemon::exec`](crate::Daemon::exec) once the plan is made: returns in the
/// original process only.
pub(crate) fn run(
    mut plan: Plan<'_>,
    program: &Program<'_>,
    readiness: Option<i32>,
    await_notify: bool,
) -> Result<Pid, Error> {
    if (readiness.is_some() || await_notify) && !plan.detach {
        let why = "waiting for a program's readiness needs a detached daemon";
        return Err(plan.abandon(Error::invalid(why)));
    }
    let pipe = match readiness.map(|n| open_readiness(&mut plan, n)).transpose() {
        Ok(pipe) => pipe,
        Err(e) => return Err(plan.abandon(e)),
    };
    let listener = match await_notify.then(NotifyListener::new).transpose() {
        Ok(listener) => listener,
        Err(e) => return Err(plan.abandon(Error::os(ErrorKind::Channel, e).text("notify socket"))),
    };
    // Built here, on this stack frame, which lives until `execve`: `envp` points
    // into these buffers.
    let (mut argv, mut envp) = (Pointers::new(), Pointers::new());
    let (mut fd_var, mut socket_var) = (Stack::<u8, 48>::new(), Stack::<u8, 64>::new());
    let additions = Additions {
        pidfile_fd: plan
            .pidfile
            .as_ref()
            .map(|(p, _)| pidfile_var(p.kept_fds()[0], &mut fd_var)),
        notify_socket: listener.as_ref().map(|l| l.variable(&mut socket_var)),
        detached: plan.detach,
    };
    if let Err(e) = fill(program, &additions, &mut argv, &mut envp) {
        return Err(plan.abandon(e));
    }
    let (argv, envp) = (argv.terminated(), envp.terminated());
    let search = crate::search::path_of(program.env);
    // In the foreground this process becomes the program: if that fails, the error
    // must reach the caller's stderr, which the steps redirect. Keep a copy.
    let stderr = if plan.detach {
        None
    } else {
        save_stderr(&mut plan)?
    };
    if let Some(pipe) = &pipe {
        plan.keep(pipe.write.as_raw_fd());
        let _ = plan.guard_closes.push(pipe.write.as_raw_fd());
    }
    let side = match launch::run(&mut plan) {
        Ok(side) => side,
        Err(failure) => return Err(plan.fail(failure, Some(program.path))),
    };
    match side {
        Side::Daemon { reports, pid } => {
            let reports_fd = reports.as_ref().map(AsFd::as_fd);
            let failure = exec(
                &plan,
                pid,
                reports_fd,
                (program.path, search),
                argv,
                envp,
                pipe.as_ref(),
            );
            if let Some(reports) = &reports {
                launch::report_failure(reports.as_raw_fd(), failure);
                sys::exit_immediately(1);
            }
            if let Some(stderr) = &stderr {
                let _ = sys::redirect(stderr.as_raw_fd(), 2);
            }
            Err(plan.fail(failure, Some(program.path)))
        }
        Side::Original(launched) => {
            // Our copy of the write end must go, or its end of file never comes.
            let pipe = pipe.map(|p| (p.read, p.number));
            let outcome = launched
                .wait(&plan, Mode::Exec(program.path))
                .and_then(|pid| {
                    await_program(&plan, pipe.as_ref(), listener.as_ref()).map(|()| pid)
                });
            let pid = launched.conclude(&mut plan, outcome, Mode::Exec(program.path))?;
            if let Some(pidfile) = plan.take_pidfile() {
                pidfile.disown();
            }
            Ok(pid)
        }
    }
}

#[cold]
#[inline(never)]
fn no_room(number: i32, limit: u64) -> Error {
    Error::invalid("readiness descriptor ")
        .number(number as u64)
        .text(" leaves no descriptor number above it below the limit of ")
        .number(limit)
        .text(" (ulimit -n)")
}

/// `DAEMONIC_PIDFILE_FD=N` in `buf`.
fn pidfile_var(fd: i32, buf: &mut Stack<u8, 48>) -> &CStr {
    let mut digits = [0; 20];
    let _ = buf.extend(PIDFILE_FD_VAR);
    let _ = buf.extend(crate::text::decimal(fd as u64, &mut digits));
    let _ = buf.push(0);
    crate::text::c_str(buf.as_slice()).unwrap_or_default()
}

/// Creates the readiness pipe; its number must be free: not a standard stream, not a
/// descriptor the daemon keeps.
fn open_readiness(plan: &mut Plan<'_>, number: i32) -> Result<Readiness, Error> {
    if plan.keep.contains(number) {
        return Err(Error::invalid("readiness descriptor ")
            .number(number as u64)
            .text(" is a standard stream or a kept descriptor"));
    }
    let floor = number.saturating_add(1);
    let pipe = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .and_then(|(r, w)| Ok((fds::above_stdio(r)?, fds::at_or_above(w, floor)?)));
    let (read, write) = pipe.map_err(|e| Error::os(ErrorKind::Channel, e).text("pipe"))?;
    Ok(Readiness {
        read,
        write,
        number,
    })
}

/// A close-on-exec copy of stderr, kept through the close step; `None` when stderr
/// is closed.
fn save_stderr(plan: &mut Plan<'_>) -> Result<Option<OwnedFd>, Error> {
    if !sys::is_open(2) {
        return Ok(None);
    }
    // SAFETY: stderr was just seen open; the borrow ends with the call.
    let copy = fcntl_dupfd_cloexec(unsafe { sys::borrow(2) }, 3)
        .map_err(|e| plan.abandon(Error::os(ErrorKind::Channel, e).text("copying stderr")))?;
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
    let pass = |fd| sys::inherit(fd).map_err(Failure::of(ErrorKind::PassFds));
    let passed = (|| {
        // The lock must live exactly as long as the program: it inherits the locked
        // descriptor (not the directory's, which only our own release needs).
        if let Some((pidfile, _)) = &plan.pidfile {
            pass(pidfile.kept_fds()[0])?;
        }
        for &fd in plan.o.preserve.as_slice() {
            pass(fd)?;
        }
        if let Some(pipe) = pipe {
            sys::dup_onto(pipe.write.as_raw_fd(), pipe.number)
                .map_err(Failure::of(ErrorKind::PassFds))?;
        }
        Ok(())
    })();
    if let Err(failure) = passed {
        return failure;
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
            Ok(n) if buf[..n].contains(&b'\n') => return Ok(true),
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn strings(ptrs: &[*const c_char]) -> std::vec::Vec<&CStr> {
        let (last, rest) = ptrs.split_last().unwrap();
        assert!(last.is_null(), "the array ends with a null pointer");
        // SAFETY: every other pointer came from a live `&CStr` of the test.
        rest.iter().map(|&p| unsafe { CStr::from_ptr(p) }).collect()
    }

    #[test]
    fn argv_and_envp_are_null_terminated_with_our_variables_replacing_the_callers() {
        let program = Program {
            path: c"/bin/true",
            args: &[c"true", c"-x"],
            env: &[
                c"A=1",
                c"DAEMONIC_PIDFILE_FD=99",
                c"NOTIFY_SOCKET=/old",
                c"LISTEN_FDS=2",
            ],
        };
        let additions = Additions {
            pidfile_fd: Some(c"DAEMONIC_PIDFILE_FD=4"),
            notify_socket: Some(c"NOTIFY_SOCKET=@x"),
            detached: true,
        };
        let (mut argv, mut envp) = (Pointers::new(), Pointers::new());
        fill(&program, &additions, &mut argv, &mut envp).unwrap();
        assert_eq!(strings(argv.terminated()), [c"true", c"-x"]);
        assert_eq!(
            strings(envp.terminated()),
            [c"A=1", c"NOTIFY_SOCKET=@x", c"DAEMONIC_PIDFILE_FD=4"]
        );
    }

    #[test]
    fn too_many_entries_are_an_error_not_a_cut() {
        let many = [c"X=1"; MAX_POINTERS + 1];
        let program = Program {
            path: c"/bin/true",
            args: &[c"true"],
            env: &many,
        };
        let additions = Additions {
            pidfile_fd: None,
            notify_socket: None,
            detached: false,
        };
        let (mut argv, mut envp) = (Pointers::new(), Pointers::new());
        let err = fill(&program, &additions, &mut argv, &mut envp).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidOption);
    }

    #[test]
    fn the_pidfile_variable_names_the_descriptor() {
        let mut buf = Stack::new();
        assert_eq!(pidfile_var(17, &mut buf), c"DAEMONIC_PIDFILE_FD=17");
    }
}
