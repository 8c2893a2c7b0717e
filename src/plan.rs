//! Starting: everything that can fail for a reason the user can fix happens here,
//! before the first fork, in the original process; then the forks, and the original
//! process's wait for the daemon's report.

use core::ffi::{c_char, CStr};
use core::time::Duration;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{fstat, FileType, Mode, OFlags};
use rustix::io::{fcntl_dupfd_cloexec, Errno};
use rustix::process::{
    getegid, geteuid, getpid, getppid, setsid, waitpid, Gid, Pid, Signal, Uid, WaitOptions,
};

use crate::channel::{self, Report};
use crate::child::{self, Failure, STEPS};
use crate::daemon::{
    Daemon, Detach, Fork, Group, Groups, NotificationFd, Pending, Program, Supervisor, Target, User,
};
use crate::error::{Error, ErrorKind, Shown};
use crate::fds::{self, Keep};
use crate::path::CPath;
use crate::pidfile::{Pidfile, Previous};
use crate::supervisor::{self, Notified, NotifyListener, NotifySocket};
use crate::users::{self, GroupList, LookupError, UserKey};
use crate::{procfs, sys};

/// The standard streams, by number.
pub(crate) const STREAMS: [&str; 3] = ["stdin", "stdout", "stderr"];

const PASSWD: &CStr = c"/etc/passwd";
const GROUP: &CStr = c"/etc/group";

/// The identity the daemon switches to.
pub(crate) struct Creds {
    pub(crate) uid: Option<Uid>,
    pub(crate) gid: Gid,
    pub(crate) groups: GroupList,
}

/// Everything the daemon's steps need, resolved and opened before the fork.
pub(crate) struct Plan<'d, 'a> {
    pub(crate) daemon: &'d Daemon<'a>,
    pub(crate) creds: Option<Creds>,
    /// The descriptor to put on each standard stream, or -1 to leave it.
    pub(crate) sources: [i32; 3],
    /// Descriptors we opened for the streams; they stay open until the daemon's steps
    /// are done (the daemon's close step closes them).
    opened: [Option<OwnedFd>; 3],
    pub(crate) keep: Keep,
    pub(crate) pidfile: Option<(Pidfile, Previous)>,
    /// The signal dispositions now, which the daemon inherits; `None` without `/proc`.
    pub(crate) dispositions: Option<sys::Dispositions>,
    /// The readiness pipe of [`Daemon::readiness_fd`], for an exec'd program.
    pub(crate) notify: Option<Notify>,
    /// The supervisors the daemon tells when it is ready.
    pub(crate) supervisor: Supervisor,
    /// The `sd_notify` socket of [`Daemon::await_notify_socket`].
    listener: Option<NotifyListener>,
    /// The readiness channel (the original's end, the daemon's end) when detaching.
    channel: Option<(OwnedFd, OwnedFd)>,
}

/// A pipe whose write end the program gets as descriptor `number`.
pub(crate) struct Notify {
    read: OwnedFd,
    /// Closed in the original process right after the fork, so that it sees EOF.
    pub(crate) write: Option<OwnedFd>,
    pub(crate) number: i32,
}

/// The program to execute, as `execve` takes it.
pub(crate) struct Exec<'x> {
    pub(crate) path: &'x CStr,
    pub(crate) argv: &'x [*const c_char],
    pub(crate) envp: &'x [*const c_char],
}

/// The most arguments, or environment entries, a program can be given.
const MAX_POINTERS: usize = 512;

/// A null-terminated array of C string pointers, on the stack, built before the fork.
struct Pointers {
    len: usize,
    ptrs: [*const c_char; MAX_POINTERS + 1],
}

impl Pointers {
    fn new() -> Pointers {
        Pointers {
            len: 0,
            ptrs: [core::ptr::null(); MAX_POINTERS + 1],
        }
    }

    fn push(&mut self, s: &CStr) -> Result<(), ()> {
        if self.len == MAX_POINTERS {
            return Err(());
        }
        self.ptrs[self.len] = s.as_ptr();
        self.len += 1;
        Ok(())
    }

    /// The pointers and the terminating null.
    fn as_slice(&self) -> &[*const c_char] {
        &self.ptrs[..=self.len]
    }
}

/// The variable that tells an exec'd program which descriptor holds the pidfile lock.
const PIDFILE_FD_VAR: &[u8] = b"DAEMONIC_PIDFILE_FD=";

/// What `fill` puts into the program's environment besides the caller's entries.
struct Additions<'v> {
    /// The locked pidfile's descriptor, for `DAEMONIC_PIDFILE_FD`.
    pidfile_fd: Option<i32>,
    /// `NOTIFY_SOCKET=...` of [`Daemon::await_notify_socket`], replacing the caller's.
    notify_socket: Option<&'v CStr>,
    /// Whether the program runs under another PID than ours, so socket activation's
    /// `LISTEN_*` (which name our PID) do not apply to it.
    detached: bool,
}

/// Fills `argv` and `envp` for `program`, with the `additions`; the pidfile's
/// variable is written into `var`.
fn fill(
    program: &Program<'_>,
    additions: &Additions<'_>,
    argv: &mut Pointers,
    envp: &mut Pointers,
    var: &mut [u8; 32],
) -> Result<(), Error> {
    let too_many = |what| {
        Error::new(
            ErrorKind::InvalidOption,
            None,
            format_args!("more than {MAX_POINTERS} {what}"),
        )
    };
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
        argv.push(arg).map_err(|()| too_many("arguments"))?;
    }
    for entry in program
        .env
        .iter()
        .filter(|e| !replaced(e))
        .chain(&additions.notify_socket)
    {
        envp.push(entry)
            .map_err(|()| too_many("environment variables"))?;
    }
    if let Some(fd) = additions.pidfile_fd {
        var[..PIDFILE_FD_VAR.len()].copy_from_slice(PIDFILE_FD_VAR);
        let mut buf = [0u8; 12];
        let n = crate::pidfile::digits(fd as u32, &mut buf);
        let end = PIDFILE_FD_VAR.len() + n.len();
        var[PIDFILE_FD_VAR.len()..end].copy_from_slice(n);
        var[end] = 0;
        let entry = CStr::from_bytes_until_nul(&var[..]).map_err(|_| too_many("digits"))?;
        envp.push(entry)
            .map_err(|()| too_many("environment variables"))?;
    }
    Ok(())
}

/// [`Daemon::fork`] and [`Daemon::exec`]: check, prepare, fork, and wait, or become
/// the daemon (and, with a `program`, execute it).
///
/// With `exit_when_ready`, the original process exits with status 0 as soon as the
/// daemon is ready, without closing its descriptors one by one (the kernel does).
pub(crate) fn run(
    daemon: &Daemon<'_>,
    program: Option<&Program<'_>>,
    exit_when_ready: bool,
) -> Result<Fork, Error> {
    daemon.check()?;
    let detach = detaches(daemon.detach);
    // Both readiness receivers wait in the original process for a program it started.
    if (daemon.notify.is_some() || daemon.await_notify_socket) && (program.is_none() || !detach) {
        let why =
            "waiting for a program's readiness needs a program to execute and a detached daemon";
        return Err(Error::new(
            ErrorKind::InvalidOption,
            None,
            format_args!("{why}"),
        ));
    }
    // A program that execs runs only async-signal-safe code until `execve`, which is
    // sound in a multithreaded process; returning into Rust code is not.
    let status = procfs::status();
    if program.is_none() {
        check_threads(status)?;
    }
    let mut plan = prepare(
        daemon,
        detach,
        program.is_some(),
        status.map(|s| s.dispositions),
    )?;
    if daemon.await_notify_socket {
        match NotifyListener::new() {
            Ok(listener) => plan.listener = Some(listener),
            Err(e) => {
                return Err(plan.abandon(Error::new(
                    ErrorKind::Channel,
                    Some(e),
                    format_args!("notify socket"),
                )))
            }
        }
    }
    // Built here, not in `plan`: `envp` points into them, and `plan` moves.
    let (mut argv, mut envp, mut var, mut socket_var) =
        (Pointers::new(), Pointers::new(), [0u8; 32], [0u8; 64]);
    if let Some(program) = program {
        let additions = Additions {
            pidfile_fd: plan.pidfile.as_ref().map(|(p, _)| p.raw_fds()[0]),
            notify_socket: plan.listener.as_ref().map(|l| l.variable(&mut socket_var)),
            detached: detach,
        };
        if let Err(err) = fill(program, &additions, &mut argv, &mut envp, &mut var) {
            return Err(plan.abandon(err));
        }
    }
    let exec = program.map(|p| Exec {
        path: p.path,
        argv: argv.as_slice(),
        envp: envp.as_slice(),
    });
    if !detach {
        // This process becomes the program: if that fails, the error must reach the
        // caller's stderr, which the steps redirect. Keep a copy to put back.
        let stderr = match exec.is_some().then(|| plan.save_stderr()).transpose() {
            Ok(saved) => saved.flatten(),
            Err(err) => return Err(plan.abandon(err)),
        };
        let pid = getpid();
        let failure = match (child::become_daemon(&plan, pid), &exec) {
            (Ok(()), None) => return Ok(Fork::Daemon(plan.into_daemon(None, pid))),
            (Ok(()), Some(exec)) => {
                // The close step closed what we opened: never close it again.
                plan.forget_opened();
                child::exec(&plan, exec)
            }
            (Err(failure), _) => failure,
        };
        if let Some(stderr) = &stderr {
            let _ = sys::redirect(stderr.as_raw_fd(), 2);
        }
        return Err(plan.fail(failure, program.map(|p| p.path)));
    }
    let Some((ours, theirs)) = plan.channel.take() else {
        // `prepare` creates the channel for every detaching start.
        return Err(plan.abandon(Error::new(
            ErrorKind::Channel,
            None,
            format_args!("missing"),
        )));
    };
    if let Err(err) = plan.open_notify() {
        return Err(plan.abandon(err));
    }
    flush_std();
    match sys::fork() {
        Err(e) => Err(plan.abandon(Error::new(ErrorKind::Fork, Some(e), format_args!("")))),
        Ok(None) => {
            // The original's end: the daemon's close step closes it, so it must not be
            // dropped (closed a second time) here.
            core::mem::forget(ours);
            Ok(Fork::Daemon(intermediate(plan, theirs, exec.as_ref())))
        }
        Ok(Some(child)) => {
            drop(theirs);
            if let Some(notify) = &mut plan.notify {
                notify.write = None;
            }
            let mut daemon = None;
            let ready = await_ready(&plan, &ours, child, program.map(|p| p.path), &mut daemon)
                .and_then(|pid| plan.await_program(pid));
            match ready {
                Ok(_) if exit_when_ready => crate::daemon::exit(0),
                Ok(pid) => {
                    if let Some((pidfile, _)) = plan.pidfile.take() {
                        pidfile.disown();
                    }
                    Ok(Fork::Parent(pid))
                }
                Err(err) => {
                    // A daemon that reported failure exits by itself; any other may
                    // still run (it timed out, dropped its `Pending`, or is a program
                    // that failed to report ready): it must not outlive the start.
                    if !matches!(err.kind(), ErrorKind::Failed { .. }) {
                        if let Some(daemon) = &daemon {
                            daemon.kill();
                        }
                    }
                    Err(plan.abandon(err))
                }
            }
        }
    }
}

/// The first child: a new session, the second fork, then the daemon's steps in the
/// grandchild. Returns only in the daemon; every other path ends in `_exit`.
fn intermediate(plan: Plan<'_, '_>, channel: OwnedFd, exec: Option<&Exec<'_>>) -> Pending {
    let fail = |failure: Failure| -> ! {
        let report = Report::Failed {
            step: failure.step(),
            aux: failure.aux,
            errno: failure.errno.map_or(0, Errno::raw_os_error),
        };
        channel::send_report(&channel, report);
        sys::exit_immediately(1)
    };
    if let Err(errno) = setsid() {
        fail(Failure {
            kind: ErrorKind::Setsid,
            aux: 0,
            errno: Some(errno),
        });
    }
    match sys::fork() {
        Err(errno) => fail(Failure {
            kind: ErrorKind::Fork,
            aux: 0,
            errno: Some(errno),
        }),
        Ok(Some(daemon)) => {
            // Tell the original process who the daemon is (for a timeout), then leave
            // without running destructors: the daemon owns the pidfile now.
            let pidfd =
                rustix::process::pidfd_open(daemon, rustix::process::PidfdFlags::empty()).ok();
            channel::send_started(&channel, daemon, pidfd.as_ref().map(AsFd::as_fd));
            sys::exit_immediately(0)
        }
        Ok(None) => {}
    }
    let pid = getpid();
    if let Err(failure) = child::become_daemon(&plan, pid) {
        fail(failure)
    }
    if let Some(exec) = exec {
        // On success the channel closes with the exec (it is close-on-exec).
        fail(child::exec(&plan, exec))
    }
    plan.into_daemon(Some(channel), pid)
}

/// The daemon as the original process knows it: its PID, and a pidfd for it from
/// the intermediate process (see [`channel::send_started`]), where the kernel has them.
struct Child {
    pid: Pid,
    pidfd: Option<OwnedFd>,
}

impl Child {
    /// Kills a daemon whose start failed and waits (a second at most) until it is gone,
    /// so that nothing is left running. Only through the pidfd: by now the bare PID
    /// could name another process.
    fn kill(&self) {
        if let Some(pidfd) = &self.pidfd {
            if rustix::process::pidfd_send_signal(pidfd, Signal::KILL).is_ok() {
                let _ = channel::wait_readable(pidfd.as_fd(), Some(Duration::from_secs(1)));
            }
        }
    }
}

fn timed_out(timeout: Option<Duration>) -> Error {
    let t = timeout.unwrap_or_default();
    Error::new(
        ErrorKind::Timeout,
        None,
        format_args!("{}.{:03} s", t.as_secs(), t.subsec_millis()),
    )
}

/// In the original process: reaps the intermediate process, then waits for the
/// daemon's report, or, for an exec'd program, for the exec (the channel closes).
/// Returns the daemon's PID once it is ready; `daemon` learns who it is as soon as
/// the intermediate process tells.
fn await_ready(
    plan: &Plan<'_, '_>,
    channel: &OwnedFd,
    intermediate: Pid,
    exec: Option<&CStr>,
    daemon: &mut Option<Child>,
) -> Result<Pid, Error> {
    // ECHILD is fine: the caller ignores SIGCHLD, so the kernel reaped it for us.
    while let Err(Errno::INTR) = waitpid(Some(intermediate), WaitOptions::empty()) {}
    // The intermediate process sent the daemon's PID (or its own failure) before it
    // exited, so this first report is already there: the timeout covers one wait.
    let mut timeout = None;
    loop {
        let (report, pidfd) = match channel::receive(channel, timeout) {
            Ok(received) => received,
            Err(Errno::TIMEDOUT) => return Err(timed_out(plan.daemon.timeout)),
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Channel,
                    Some(e),
                    format_args!("receiving"),
                ))
            }
        };
        match report {
            Report::Started(pid) => {
                *daemon = Some(Child { pid, pidfd });
                timeout = plan.daemon.timeout;
            }
            Report::Ready(pid) => return Ok(pid),
            Report::Failed { step, aux, errno } => {
                let kind = STEPS
                    .get(usize::from(step))
                    .copied()
                    .unwrap_or(ErrorKind::Died);
                // 1..4095 are errnos; 0 says no system call failed.
                let errno = (1..4096)
                    .contains(&errno)
                    .then(|| Errno::from_raw_os_error(errno));
                return Err(plan.describe(Failure { kind, aux, errno }, exec));
            }
            Report::Code(code) => {
                return Err(Error::new(
                    ErrorKind::Failed { code },
                    None,
                    format_args!(""),
                ))
            }
            Report::Closed => {
                return match (exec, daemon.as_ref()) {
                    (Some(_), Some(child)) => Ok(child.pid),
                    _ => Err(Error::new(ErrorKind::Died, None, format_args!(""))),
                }
            }
        }
    }
}

impl<'d, 'a> Plan<'d, 'a> {
    /// After a failed start, in the original process: the pidfile is put back as it
    /// was and unlocked.
    fn abandon(&mut self, err: Error) -> Error {
        if let Some((pidfile, previous)) = self.pidfile.take() {
            pidfile.restore(&previous);
        }
        err
    }

    /// A failure of the daemon's steps in the foreground.
    fn fail(mut self, failure: Failure, program: Option<&CStr>) -> Error {
        let err = self.describe(failure, program);
        self.abandon(err)
    }

    /// The daemon's steps succeeded: hand over the pidfile and the channel.
    fn into_daemon(mut self, channel: Option<OwnedFd>, pid: Pid) -> Pending {
        self.forget_opened();
        let pidfile = self.pidfile.take().map(|(pidfile, _)| pidfile);
        Pending {
            channel,
            pid,
            pidfile,
            supervisor: self.supervisor,
        }
    }

    /// After the daemon's close step: the descriptors we opened for the streams are
    /// closed already; closing them again could close one the daemon opened since.
    fn forget_opened(&mut self) {
        for fd in self.opened.iter_mut().filter_map(Option::take) {
            core::mem::forget(fd);
        }
    }

    /// The lowest number for a descriptor the daemon keeps until it execs: above the
    /// readiness descriptor's number, so the user's choice never collides with ours.
    fn floor(&self) -> i32 {
        self.daemon.notify.map_or(3, |n| n.max(2) + 1)
    }

    /// Creates the readiness pipe of [`Daemon::readiness_fd`], if asked for. Its
    /// number must be free: not a standard stream, not a descriptor the daemon keeps.
    fn open_notify(&mut self) -> Result<(), Error> {
        let Some(number) = self.daemon.notify else {
            return Ok(());
        };
        if number < 3 || self.keep.contains(number) {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                None,
                format_args!(
                    "readiness descriptor {number} is a standard stream or a kept descriptor"
                ),
            ));
        }
        let pipe = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .and_then(|(r, w)| Ok((fds::above_stdio(r)?, fds::at_or_above(w, self.floor())?)));
        let (read, write) =
            pipe.map_err(|e| Error::new(ErrorKind::Channel, Some(e), format_args!("pipe")))?;
        self.keep_internal(write.as_raw_fd())?;
        self.notify = Some(Notify {
            read,
            write: Some(write),
            number,
        });
        Ok(())
    }

    /// Finds what the daemon must tell or keep for its supervisor: `$NOTIFY_SOCKET`
    /// and s6's descriptor (for a daemon that returns into Rust; an exec'd program
    /// gets the environment and talks to them itself), and in the foreground the
    /// socket activation descriptors, which are kept. Then removes the supervisor's
    /// variables from the environment, unless told not to.
    fn find_supervisors(&mut self, detach: bool, exec: bool) -> Result<(), Error> {
        let d = self.daemon;
        fn invalid(args: core::fmt::Arguments<'_>) -> Error {
            Error::new(ErrorKind::InvalidOption, None, args)
        }
        if !exec {
            self.supervisor.socket = match NotifySocket::from_env() {
                Some(Ok(socket)) => Some(socket),
                Some(Err(())) => {
                    return Err(invalid(format_args!(
                        "NOTIFY_SOCKET is neither a path nor an @abstract name"
                    )))
                }
                None => None,
            };
            let s6 = match d.s6_fd {
                Some(NotificationFd::Fd(fd)) => Some(fd),
                Some(NotificationFd::Env(name)) => {
                    Some(supervisor::fd_from_env(name).ok_or_else(|| {
                        invalid(format_args!(
                            "{} does not hold a descriptor number",
                            Shown(name.to_bytes())
                        ))
                    })?)
                }
                None => None,
            };
            if let Some(fd) = s6 {
                if fd < 3 || !sys::is_open(fd) {
                    return Err(invalid(format_args!(
                        "s6 notification descriptor {fd} is not open"
                    )));
                }
                self.keep_internal(fd)?;
                self.supervisor.s6_fd = Some(fd);
            }
        }
        if !detach {
            for fd in 3..3 + supervisor::listen_fds().unwrap_or(0) {
                self.keep_internal(fd)?;
            }
        }
        // The thread check made sure no other thread reads the environment meanwhile;
        // an exec'd program gets its environment explicitly instead.
        if d.clear_supervisor_env && !exec {
            for name in supervisor::SUPERVISOR_VARIABLES {
                sys::unsetenv(name);
            }
        }
        Ok(())
    }

    /// For an exec'd program: waits for its newline on the readiness pipe
    /// ([`Daemon::readiness_fd`]) or its `READY=1` on the notify socket
    /// ([`Daemon::await_notify_socket`]), if asked to.
    fn await_program(&self, pid: Pid) -> Result<Pid, Error> {
        let timeout = self.daemon.timeout;
        if let Some(notify) = &self.notify {
            match channel::await_newline(&notify.read, timeout) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Error::new(
                        ErrorKind::NotReady,
                        None,
                        format_args!("{}", notify.number),
                    ))
                }
                Err(Errno::TIMEDOUT) => return Err(timed_out(timeout)),
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Channel,
                        Some(e),
                        format_args!("readiness pipe"),
                    ))
                }
            }
        }
        if let Some(listener) = &self.listener {
            let uid = self
                .creds
                .as_ref()
                .and_then(|c| c.uid)
                .unwrap_or_else(geteuid);
            let timeout = timeout.unwrap_or(Duration::from_secs(60));
            match listener.wait(uid, timeout) {
                Ok(Notified::Ready) => {}
                Ok(Notified::Failed(errno)) => {
                    return Err(Error::new(
                        ErrorKind::ReportedFailure,
                        Some(errno),
                        format_args!(""),
                    ))
                }
                Err(Errno::TIMEDOUT) => return Err(timed_out(Some(timeout))),
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Channel,
                        Some(e),
                        format_args!("notify socket"),
                    ))
                }
            }
        }
        Ok(pid)
    }

    /// A close-on-exec copy of stderr, kept through the close step; `None` when stderr
    /// is closed.
    fn save_stderr(&mut self) -> Result<Option<OwnedFd>, Error> {
        if !sys::is_open(2) {
            return Ok(None);
        }
        let copy = fcntl_dupfd_cloexec(sys::borrow(2), self.floor())
            .map_err(|e| Error::new(ErrorKind::Channel, Some(e), format_args!("copying stderr")))?;
        self.keep_internal(copy.as_raw_fd())?;
        Ok(Some(copy))
    }

    /// Keeps one of our own descriptors open in the daemon.
    fn keep_internal(&mut self, fd: i32) -> Result<(), Error> {
        self.keep.insert(fd).map_err(|()| {
            Error::new(
                ErrorKind::InvalidOption,
                None,
                format_args!("too many descriptors to preserve"),
            )
        })
    }

    /// The error for a failed step of the daemon, naming what it failed on
    /// (`program` is the path [`Daemon::exec`] was given).
    fn describe(&self, f: Failure, program: Option<&CStr>) -> Error {
        let d = self.daemon;
        fn path<'p>(p: Option<&'p CPath<'_>>) -> Shown<'p> {
            Shown(p.map_or(&b""[..], CPath::bytes))
        }
        let creds = self.creds.as_ref();
        let uid = creds.and_then(|c| c.uid).map_or(0, Uid::as_raw);
        let gid = creds.map_or(0, |c| c.gid.as_raw());
        let new = |args| Error::new(f.kind, f.errno, args);
        match f.kind {
            ErrorKind::Signals => new(format_args!("{}", f.aux)),
            ErrorKind::Chroot => new(format_args!("{}", path(d.chroot.as_ref()))),
            ErrorKind::Chdir => new(format_args!("{}", path(Some(&d.workdir)))),
            ErrorKind::WritePidfile => new(format_args!("{}", path(d.pidfile.as_ref()))),
            ErrorKind::Exec => new(format_args!(
                "{}",
                Shown(program.map_or(&b""[..], CStr::to_bytes))
            )),
            ErrorKind::SetGroups => new(format_args!(
                "{}",
                GidsShown(creds.map_or(&[][..], |c| c.groups.as_slice()))
            )),
            ErrorKind::SetGid => new(format_args!("{gid}")),
            ErrorKind::SetUid | ErrorKind::PrivilegesRegained => new(format_args!("{uid}")),
            ErrorKind::RedirectStdio => new(format_args!(
                "{}",
                STREAMS.get(usize::from(f.aux)).unwrap_or(&"stdio")
            )),
            _ => new(format_args!("")),
        }
    }
}

/// Gids shown as `1,2,3` (without `Debug`'s list machinery, which costs bytes).
struct GidsShown<'g>(&'g [Gid]);

impl core::fmt::Display for GidsShown<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, gid) in self.0.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(f, "{comma}{}", gid.as_raw())?;
        }
        Ok(())
    }
}

/// R5: forking a multithreaded process and then running Rust code is unsound (the
/// other threads may hold the allocator's lock). Without `/proc` we cannot count
/// threads, and proceed.
fn check_threads(status: Option<procfs::Status>) -> Result<(), Error> {
    match status {
        Some(s) if s.threads > 1 => Err(Error::new(
            ErrorKind::Threads,
            None,
            format_args!("{}", s.threads),
        )),
        _ => Ok(()),
    }
}

/// Whether to fork, for [`Detach::Auto`]: not when started by init, when we are init,
/// or when stdin is a socket (inetd).
fn detaches(detach: Detach) -> bool {
    match detach {
        Detach::Always => true,
        Detach::Never => false,
        Detach::Auto => {
            let by_init = getppid().is_some_and(|p| p.is_init());
            let stdin_socket = fstat(sys::borrow(0))
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Socket);
            !(by_init || getpid().is_init() || stdin_socket)
        }
    }
}

/// Rust's stdout is line-buffered: what it holds would be written twice, once by each
/// process, or lost at `_exit`.
fn flush_std() {
    #[cfg(feature = "std")]
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }
}

/// R4: look up names, open the streams' files and the pidfile, before any fork.
fn prepare<'d, 'a>(
    daemon: &'d Daemon<'a>,
    detach: bool,
    exec: bool,
    dispositions: Option<sys::Dispositions>,
) -> Result<Plan<'d, 'a>, Error> {
    let creds = resolve_creds(daemon)?;
    let mut plan = Plan {
        daemon,
        creds,
        sources: [-1; 3],
        opened: [None, None, None],
        keep: Keep::new(),
        pidfile: None,
        dispositions,
        notify: None,
        supervisor: Supervisor {
            detached: detach,
            ..Supervisor::default()
        },
        listener: None,
        channel: None,
    };
    for fd in daemon.preserve.as_slice() {
        if !sys::is_open(*fd) {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                Some(Errno::BADF),
                format_args!("descriptor {fd} to preserve is not open"),
            ));
        }
    }
    plan.keep = daemon.preserve;
    // The pidfile first: a start refused as "already running" must not have created
    // output files. Then the channel, the daemon's end first, so that the descriptors
    // the daemon keeps sit next to each other (fewer `close_range` calls).
    if let Some(path) = &daemon.pidfile {
        let (pidfile, previous) = Pidfile::lock(path.as_c_str(), plan.floor())?;
        plan.pidfile = Some((pidfile, previous));
        for fd in plan.pidfile.as_ref().map_or([-1; 2], |(p, _)| p.raw_fds()) {
            plan.keep_internal(fd).map_err(|err| plan.abandon(err))?;
        }
    }
    if detach {
        let floor = plan.floor();
        let pair = channel::pair()
            .and_then(|(a, b)| Ok((fds::above_stdio(b)?, fds::at_or_above(a, floor)?)));
        match pair {
            Ok((ours, theirs)) => {
                plan.keep_internal(theirs.as_raw_fd())
                    .map_err(|err| plan.abandon(err))?;
                plan.channel = Some((ours, theirs));
            }
            Err(e) => {
                return Err(plan.abandon(Error::new(
                    ErrorKind::Channel,
                    Some(e),
                    format_args!("socketpair"),
                )))
            }
        }
    }
    open_streams(&mut plan).map_err(|err| plan.abandon(err))?;
    if let Err(err) = plan.find_supervisors(detach, exec) {
        return Err(plan.abandon(err));
    }
    Ok(plan)
}

/// Opens `/dev/null` and the files for the standard streams.
fn open_streams(plan: &mut Plan<'_, '_>) -> Result<(), Error> {
    let stdio = &plan.daemon.stdio;
    let mut null = -1;
    for (n, stream) in stdio.iter().enumerate() {
        let fail = |e, what: &dyn core::fmt::Display| {
            Error::new(
                ErrorKind::OpenStdio,
                Some(e),
                format_args!("{} for {}", what, STREAMS[n]),
            )
        };
        let opened = match &stream.0 {
            Target::Inherit => None,
            Target::Null if null >= 0 => {
                plan.sources[n] = null;
                None
            }
            Target::Null => {
                let flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY;
                Some(open(c"/dev/null", flags, 0).map_err(|e| fail(e, &"/dev/null"))?)
            }
            Target::File(Ok(path)) => {
                // stdout and stderr to one file share one descriptor, so their writes interleave in order.
                let same = n == 2
                    && matches!(&stdio[1].0, Target::File(Ok(p)) if p.bytes() == path.bytes());
                if same {
                    plan.sources[2] = plan.sources[1];
                    None
                } else {
                    let flags = match n {
                        0 => OFlags::RDONLY,
                        _ => OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE,
                    } | OFlags::CLOEXEC
                        | OFlags::NOCTTY;
                    Some(
                        open(path.as_c_str(), flags, plan.daemon.output_mode)
                            .map_err(|e| fail(e, &Shown(path.bytes())))?,
                    )
                }
            }
            Target::File(Err(_)) => None, // refused by `check`
            Target::Fd(fd) => {
                if !sys::is_open(*fd) {
                    return Err(Error::new(
                        ErrorKind::InvalidOption,
                        Some(Errno::BADF),
                        format_args!("descriptor {fd} for {} is not open", STREAMS[n]),
                    ));
                }
                if *fd < 3 && *fd as usize != n {
                    // Another stream's number: redirecting that stream first would lose it.
                    let copy = fcntl_dupfd_cloexec(crate::sys::borrow(*fd), 3)
                        .map_err(|e| fail(e, &format_args!("descriptor {fd}")))?;
                    Some(copy)
                } else {
                    plan.sources[n] = *fd;
                    None
                }
            }
        };
        if let Some(fd) = opened {
            plan.sources[n] = fd.as_raw_fd();
            if matches!(stream.0, Target::Null) {
                null = fd.as_raw_fd();
            }
            plan.opened[n] = Some(fd);
        }
    }
    Ok(())
}

fn open(path: &CStr, flags: OFlags, mode: u32) -> Result<OwnedFd, Errno> {
    fds::above_stdio(rustix::fs::open(path, flags, Mode::from_raw_mode(mode))?)
}

/// Resolves the user, group and supplementary groups from `/etc/passwd` and
/// `/etc/group`, before any chroot.
fn resolve_creds(daemon: &Daemon<'_>) -> Result<Option<Creds>, Error> {
    if daemon.user.is_none() && daemon.group.is_none() {
        return Ok(None);
    }
    let lookup = |file: &CStr, e: LookupError| match e {
        LookupError::Io(errno) => Error::new(
            ErrorKind::ReadAccounts,
            Some(errno),
            format_args!("{}", Shown(file.to_bytes())),
        ),
        LookupError::LineTooLong => Error::new(
            ErrorKind::ReadAccounts,
            None,
            format_args!("{}: a line is too long", Shown(file.to_bytes())),
        ),
        LookupError::TooManyGroups => Error::new(
            ErrorKind::InvalidOption,
            None,
            format_args!("more than {} supplementary groups", users::MAX_GROUPS),
        ),
    };
    let account = match daemon.user {
        Some(User::Name(name)) => Some(
            users::find_user(PASSWD, UserKey::Name(name.as_bytes()))
                .map_err(|e| lookup(PASSWD, e))?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::UnknownUser,
                        None,
                        format_args!("{}", Shown(name.as_bytes())),
                    )
                })?,
        ),
        Some(User::Id(uid)) => users::find_user(PASSWD, UserKey::Id(Uid::from_raw(uid)))
            .map_err(|e| lookup(PASSWD, e))?,
        None => None,
    };
    let uid = match daemon.user {
        Some(User::Id(u)) => Some(Uid::from_raw(u)),
        Some(User::Name(_)) => account.map(|a| a.uid()),
        None => None,
    };
    let gid = match daemon.group {
        Some(Group::Name(name)) => users::find_group(GROUP, name.as_bytes())
            .map_err(|e| lookup(GROUP, e))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownGroup,
                    None,
                    format_args!("{}", Shown(name.as_bytes())),
                )
            })?,
        Some(Group::Id(g)) => Gid::from_raw(g),
        None => match account {
            Some(a) => a.gid(),
            None => {
                return Err(Error::new(
                    ErrorKind::UnknownUser,
                    None,
                    format_args!(
                        "{}: no /etc/passwd entry to take a group from; set a group",
                        uid.map_or(0, Uid::as_raw)
                    ),
                ));
            }
        },
    };
    // Nothing to drop, and nothing we could change without privileges.
    if !geteuid().is_root() && uid.map_or(true, |u| u == geteuid()) && gid == getegid() {
        return Ok(None);
    }
    let mut groups = GroupList::new();
    let push = |groups: &mut GroupList, gid| groups.push(gid).map_err(|e| lookup(GROUP, e));
    match daemon.groups {
        Groups::List(list) => {
            for &g in list {
                push(&mut groups, Gid::from_raw(g))?;
            }
        }
        Groups::Empty => {}
        Groups::Initgroups => match account {
            Some(a) => users::supplementary_groups(GROUP, a.name(), gid, &mut groups)
                .map_err(|e| lookup(GROUP, e))?,
            None => push(&mut groups, gid)?,
        },
    }
    Ok(Some(Creds { uid, gid, groups }))
}
