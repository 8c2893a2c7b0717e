//! The builder: PEP 3143's `DaemonContext` options, and the ways to start.

use core::ffi::CStr;
use core::time::Duration;
use rustix::process::{Pid, Signal};

use crate::control::{Schedule, Stopped};
use crate::error::{Error, ErrorKind, Shown};
use crate::fds::Keep;
use crate::path::{CPath, IntoCPath, NulError};
use crate::pidfile::Pidfile;
use crate::signals::{Disposition, SignalMap};
use crate::supervisor::NotifySocket;

/// Whether to fork into the background.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detach {
    /// Fork, `setsid`, fork again (SysV style): the daemon is reparented and can never
    /// reacquire a controlling terminal. The default.
    #[default]
    Always,
    /// Stay in the foreground: the right choice under systemd (other than
    /// `Type=forking`), s6, runit or a container runtime, which supervise the process
    /// they started and want no fork.
    Never,
    /// PEP 3143's `detach_process=None`: stay in the foreground when the parent is
    /// PID 1 (started by init), when we *are* PID 1 (a container's entrypoint, where
    /// detaching would end the container), or when stdin is a socket (started by
    /// inetd); detach otherwise.
    ///
    /// These are heuristics: under a subreaper (systemd user managers, `tini -s`,
    /// `docker run --init`) the parent is not PID 1 although a supervisor is there,
    /// and in a PID namespace "PID 1" is the namespace's init. Prefer telling the
    /// daemon explicitly, e.g. from a command-line flag.
    Auto,
}

/// The user to run as: a name looked up in `/etc/passwd`, or a numeric id.
///
/// ```
/// use daemonic::User;
/// assert_eq!(User::from("nobody"), User::Name("nobody"));
/// assert_eq!(User::from(65534), User::Id(65534));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User<'a> {
    /// A login name.
    Name(&'a str),
    /// A numeric uid; it needs no `/etc/passwd` entry if a group is also given.
    Id(u32),
}

impl<'a> From<&'a str> for User<'a> {
    fn from(name: &'a str) -> User<'a> {
        User::Name(name)
    }
}

impl From<u32> for User<'_> {
    fn from(uid: u32) -> Self {
        User::Id(uid)
    }
}

/// The group to run as: a name looked up in `/etc/group`, or a numeric id.
///
/// ```
/// use daemonic::Group;
/// assert_eq!(Group::from("daemon"), Group::Name("daemon"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group<'a> {
    /// A group name.
    Name(&'a str),
    /// A numeric gid.
    Id(u32),
}

impl<'a> From<&'a str> for Group<'a> {
    fn from(name: &'a str) -> Group<'a> {
        Group::Name(name)
    }
}

impl From<u32> for Group<'_> {
    fn from(gid: u32) -> Self {
        Group::Id(gid)
    }
}

/// The supplementary groups the daemon gets when it changes user or group. Whatever
/// the choice, the groups of the process that started it (often root's) never remain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Groups<'a> {
    /// `initgroups(3)`: the target group plus every group of `/etc/group` that lists
    /// the user as a member. Without a user (or for a uid with no passwd entry), just
    /// the target group. The default.
    #[default]
    Initgroups,
    /// Exactly these gids.
    List(&'a [u32]),
    /// None at all.
    Empty,
}

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
    File(Result<CPath<'a>, NulError>),
    Fd(i32),
}

impl<'a> Stdio<'a> {
    /// `/dev/null`, the default for all three.
    pub fn null() -> Stdio<'a> {
        Stdio(Target::Null)
    }

    /// Whatever the original process had.
    pub fn inherit() -> Stdio<'a> {
        Stdio(Target::Inherit)
    }

    /// A file: opened for reading as stdin; as stdout or stderr, opened for appending
    /// and created with [`Daemon::output_mode`] if missing. Opened before the fork, so
    /// a path inside a chroot is given as seen from outside it.
    pub fn file(path: impl IntoCPath<'a>) -> Stdio<'a> {
        Stdio(Target::File(path.into_c_path()))
    }

    /// A descriptor of the original process (duplicated onto the stream).
    pub fn fd(fd: i32) -> Stdio<'a> {
        Stdio(Target::Fd(fd))
    }
}

/// How to turn this process into a daemon: the options of PEP 3143's `DaemonContext`.
///
/// Build it, then call one of:
/// - [`start`](Daemon::start): returns only in the daemon, already reported ready;
/// - [`start_pending`](Daemon::start_pending): returns in the daemon with a
///   [`Pending`] handle, so it can bind sockets or load configuration and then report
///   [`ready`](Pending::ready) or [`fail`](Pending::fail);
/// - [`fork`](Daemon::fork): returns in the original process too, with the daemon's
///   PID or the error, instead of exiting.
///
/// With `start` and `start_pending` the original process exits when the daemon is
/// ready (status 0), or prints one line naming the failed step and exits non-zero
/// ([`Error::exit_code`]).
///
/// ```no_run
/// use daemonic::{Daemon, Stdio};
///
/// let daemon = Daemon::new()
///     .pidfile("/run/app.pid")
///     .working_directory("/var/lib/app")
///     .user("nobody")
///     .umask(0o027)
///     .stderr(Stdio::file("/var/log/app.err"))
///     .start_pending();
/// // In the daemon: initialize, then report.
/// let running = daemon.ready();
/// // ... serve; the pidfile is removed when `running` is dropped.
/// # drop(running);
/// ```
#[derive(Clone, Debug)]
pub struct Daemon<'a> {
    pub(crate) chroot: Option<CPath<'a>>,
    pub(crate) workdir: CPath<'a>,
    pub(crate) umask: u32,
    pub(crate) user: Option<User<'a>>,
    pub(crate) group: Option<Group<'a>>,
    pub(crate) groups: Groups<'a>,
    pub(crate) prevent_core: bool,
    pub(crate) detach: Detach,
    pub(crate) preserve: Keep,
    pub(crate) pidfile: Option<CPath<'a>>,
    pub(crate) stdio: [Stdio<'a>; 3],
    pub(crate) output_mode: u32,
    pub(crate) signals: SignalMap,
    pub(crate) timeout: Option<Duration>,
    pub(crate) ok_if_running: bool,
    pub(crate) notify: Option<i32>,
    pub(crate) s6_fd: Option<NotificationFd<'a>>,
    pub(crate) clear_supervisor_env: bool,
    pub(crate) await_notify_socket: bool,
    /// The first invalid option, reported when the daemon starts.
    pub(crate) invalid: Option<Error>,
}

impl Default for Daemon<'_> {
    fn default() -> Self {
        Daemon::new()
    }
}

impl<'a> Daemon<'a> {
    /// PEP 3143's defaults: no chroot, working directory `/`, umask 0, no user or
    /// group change, core dumps prevented, detach, no descriptors preserved, no
    /// pidfile, all three streams to `/dev/null`, SIGTSTP/SIGTTIN/SIGTTOU ignored.
    pub fn new() -> Daemon<'a> {
        Daemon {
            chroot: None,
            workdir: CPath::Borrowed(c"/"),
            umask: 0,
            user: None,
            group: None,
            groups: Groups::Initgroups,
            prevent_core: true,
            detach: Detach::Always,
            preserve: Keep::new(),
            pidfile: None,
            stdio: [Stdio::null(), Stdio::null(), Stdio::null()],
            output_mode: 0o640,
            signals: SignalMap::new(),
            timeout: None,
            ok_if_running: false,
            notify: None,
            s6_fd: None,
            clear_supervisor_env: true,
            await_notify_socket: false,
            invalid: None,
        }
    }

    /// Remembers the first invalid option; the start reports it.
    fn invalid(mut self, args: core::fmt::Arguments<'_>) -> Self {
        if self.invalid.is_none() {
            self.invalid = Some(Error::new(ErrorKind::InvalidOption, None, args));
        }
        self
    }

    fn path(
        self,
        option: &str,
        path: impl IntoCPath<'a>,
        set: impl FnOnce(&mut Self, CPath<'a>),
    ) -> Self {
        match path.into_c_path() {
            Ok(p) => {
                let mut this = self;
                set(&mut this, p);
                this
            }
            Err(NulError) => self.invalid(format_args!("{option} contains a NUL byte")),
        }
    }

    /// `chroot` into this directory before changing to the working directory.
    /// Everything opened before the fork (the pidfile, output files, `/dev/null`)
    /// is opened outside it; `/etc/passwd` is read outside it too.
    #[must_use]
    pub fn chroot_directory(self, dir: impl IntoCPath<'a>) -> Self {
        self.path("chroot directory", dir, |d, p| d.chroot = Some(p))
    }

    /// The working directory, an absolute path, inside the chroot if there is one
    /// (default `/`, so the daemon keeps no file system busy).
    #[must_use]
    pub fn working_directory(self, dir: impl IntoCPath<'a>) -> Self {
        self.path("working directory", dir, |d, p| d.workdir = p)
    }

    /// The umask (default 0, as PEP 3143 and daemon(7)). With 0, every file the
    /// daemon creates with a default mode of 0666 is world-writable: pass modes
    /// explicitly, or set 0o022 or 0o027 here. The pidfile and output files have
    /// explicit modes and are created before the umask changes.
    #[must_use]
    pub fn umask(mut self, mask: u32) -> Self {
        if mask > 0o777 {
            return self.invalid(format_args!("umask {mask:o} is not between 0 and 0777"));
        }
        self.umask = mask;
        self
    }

    /// The user to switch to, by name or uid. Its primary group is used unless
    /// [`group`](Daemon::group) is set; supplementary groups follow
    /// [`supplementary_groups`](Daemon::supplementary_groups).
    #[must_use]
    pub fn user(mut self, user: impl Into<User<'a>>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The group to switch to, by name or gid.
    #[must_use]
    pub fn group(mut self, group: impl Into<Group<'a>>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The supplementary groups (default [`Groups::Initgroups`]); used only when a
    /// user or group is set.
    #[must_use]
    pub fn supplementary_groups(mut self, groups: Groups<'a>) -> Self {
        self.groups = groups;
        self
    }

    /// Whether to set `RLIMIT_CORE` to 0/0, so a crash cannot dump secrets (default true).
    #[must_use]
    pub fn prevent_core(mut self, prevent: bool) -> Self {
        self.prevent_core = prevent;
        self
    }

    /// Whether to fork into the background (default [`Detach::Always`]).
    #[must_use]
    pub fn detach(mut self, detach: Detach) -> Self {
        self.detach = detach;
        self
    }

    /// Keeps this descriptor open in the daemon (PEP 3143's `files_preserve`); every
    /// other descriptor above 2 is closed. It must be open when the daemon starts.
    #[must_use]
    pub fn preserve_fd(mut self, fd: i32) -> Self {
        if fd < 0 || self.preserve.insert(fd).is_err() {
            return self.invalid(format_args!("cannot preserve descriptor {fd}"));
        }
        self
    }

    /// Creates, checks and locks this pidfile before forking, and writes the daemon's
    /// PID into it before the original process exits. See [`Pidfile`].
    #[must_use]
    pub fn pidfile(self, path: impl IntoCPath<'a>) -> Self {
        self.path("pidfile path", path, |d, p| d.pidfile = Some(p))
    }

    /// Where stdin comes from (default `/dev/null`).
    #[must_use]
    pub fn stdin(mut self, stdio: Stdio<'a>) -> Self {
        self.stdio[0] = stdio;
        self
    }

    /// Where stdout goes (default `/dev/null`).
    #[must_use]
    pub fn stdout(mut self, stdio: Stdio<'a>) -> Self {
        self.stdio[1] = stdio;
        self
    }

    /// Where stderr goes (default `/dev/null`).
    #[must_use]
    pub fn stderr(mut self, stdio: Stdio<'a>) -> Self {
        self.stdio[2] = stdio;
        self
    }

    /// The mode of output files created for stdout and stderr (default 0o640; the
    /// original process's umask applies, as to any `open`).
    #[must_use]
    pub fn output_mode(mut self, mode: u32) -> Self {
        if mode > 0o7777 {
            return self.invalid(format_args!("output mode {mode:o} is not a file mode"));
        }
        self.output_mode = mode;
        self
    }

    /// Sets one signal's disposition in the daemon; see [`SignalMap`] for the default.
    #[must_use]
    pub fn signal(mut self, signal: Signal, disposition: Disposition) -> Self {
        self.signals = self.signals.set(signal, disposition);
        self
    }

    /// How long the original process waits for the daemon to be ready. When it
    /// passes, the daemon is killed and the start fails with [`ErrorKind::Timeout`].
    /// Default: no limit.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// s6's readiness protocol: [`Pending::ready`] writes a newline to this descriptor
    /// and closes it (s6-supervise's `notification-fd`). The descriptor is kept open
    /// until then.
    ///
    /// ```no_run
    /// use daemonic::{Daemon, Detach, NotificationFd};
    ///
    /// let pending = Daemon::new().detach(Detach::Never).s6_notification_fd(NotificationFd::Fd(3)).start_pending();
    /// let _running = pending.ready()?; // s6 now knows the service is up
    /// # Ok::<(), daemonic::NotifyError>(())
    /// ```
    #[must_use]
    pub fn s6_notification_fd(mut self, fd: NotificationFd<'a>) -> Self {
        self.s6_fd = Some(fd);
        self
    }

    /// Whether to remove the supervisor's variables (`NOTIFY_SOCKET`, `LISTEN_PID`,
    /// `LISTEN_FDS`, `LISTEN_FDNAMES`) from the environment once they are read, so
    /// the daemon's own children do not inherit them (default true). Without it, a
    /// child could send `READY=1` on the daemon's behalf.
    #[must_use]
    pub fn clear_supervisor_env(mut self, clear: bool) -> Self {
        self.clear_supervisor_env = clear;
        self
    }

    /// For [`exec`](Daemon::exec): be the receiving end of `sd_notify`, like
    /// start-stop-daemon's `--notify-await`. A private socket is created, the program
    /// gets it as `NOTIFY_SOCKET`, and the original process waits for `READY=1` (or
    /// fails on `ERRNO=`; `EXTEND_TIMEOUT_USEC=` extends the wait) for the
    /// [`timeout`](Daemon::timeout), 60 s if none is set. Only messages from root or
    /// the daemon's user count.
    #[must_use]
    pub fn await_notify_socket(mut self, await_it: bool) -> Self {
        self.await_notify_socket = await_it;
        self
    }

    /// When the daemon already runs (its pidfile is locked by another process), let
    /// [`start`](Daemon::start) and [`start_pending`](Daemon::start_pending) end the
    /// original process with status 0 instead of 1, like start-stop-daemon's
    /// `--oknodo`. [`fork`](Daemon::fork) still returns the error, for the caller to judge.
    #[must_use]
    pub fn ok_if_running(mut self, ok: bool) -> Self {
        self.ok_if_running = ok;
        self
    }

    /// Checks the options without touching the system (no file is opened, no name is
    /// looked up); starting checks them again.
    ///
    /// ```
    /// use daemonic::Daemon;
    ///
    /// assert!(Daemon::new().working_directory("/srv").check().is_ok());
    /// let err = Daemon::new().pidfile("/run/\0x").check().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid option: pidfile path contains a NUL byte");
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |args| Err(Error::new(ErrorKind::InvalidOption, None, args));
        if let Some(err) = &self.invalid {
            return Err(err.clone());
        }
        if self.workdir.bytes().first() != Some(&b'/') {
            return invalid(format_args!(
                "working directory {} is not an absolute path",
                Shown(self.workdir.bytes())
            ));
        }
        if let Some(signal) = self.signals.unignorable() {
            return invalid(format_args!("signal {} cannot be ignored", signal.as_raw()));
        }
        // u32::MAX is -1 to the kernel: "leave unchanged", never an identity.
        if self.user == Some(User::Id(u32::MAX)) || self.group == Some(Group::Id(u32::MAX)) {
            return invalid(format_args!("id {} is not a user or group", u32::MAX));
        }
        for (stdio, name) in self.stdio.iter().zip(crate::plan::STREAMS) {
            if let Target::File(Err(NulError)) = stdio.0 {
                return invalid(format_args!("{name} path contains a NUL byte"));
            }
        }
        Ok(())
    }

    /// Daemonizes; returns only in the daemon, which is reported ready at once.
    ///
    /// The original process exits with status 0 once the daemon is ready, or prints
    /// `daemonic: <error>` on stderr and exits with [`Error::exit_code`]. In the
    /// foreground ([`Detach::Never`]) this process is the daemon: on failure it prints
    /// the same line and exits.
    ///
    /// ```no_run
    /// let _running = daemonic::Daemon::new().pidfile("/run/app.pid").start();
    /// // Only the daemon gets here.
    /// ```
    pub fn start(self) -> Running {
        // Nothing to report a supervisor's failure to here: `start_pending` shows it.
        self.start_pending()
            .ready()
            .unwrap_or_else(NotifyError::into_running)
    }

    /// Daemonizes; returns only in the daemon, which must then report
    /// [`ready`](Pending::ready) or [`fail`](Pending::fail). The original process
    /// waits for that report and exits as [`start`](Daemon::start) describes.
    ///
    /// ```no_run
    /// let pending = daemonic::Daemon::new().pidfile("/run/app.pid").start_pending();
    /// match std::net::TcpListener::bind("127.0.0.1:8080") {
    ///     Ok(listener) => {
    ///         let _running = pending.ready();
    ///         // serve on `listener`
    /// #       drop(listener);
    ///     }
    ///     Err(_) => pending.fail(4), // the original process exits with status 4
    /// }
    /// ```
    pub fn start_pending(self) -> Pending {
        match crate::plan::run(&self, None, true) {
            Ok(Fork::Daemon(pending)) => pending,
            Ok(Fork::Parent(_)) => exit(0),
            Err(err)
                if self.ok_if_running && matches!(err.kind(), ErrorKind::AlreadyRunning { .. }) =>
            {
                exit(0)
            }
            Err(err) => {
                report(&err);
                exit(err.exit_code())
            }
        }
    }

    /// Daemonizes, returning in both processes: [`Fork::Parent`] with the daemon's PID
    /// in the original process once the daemon is ready, [`Fork::Daemon`] in the
    /// daemon. An `Err` is always returned in the original process, and means no
    /// daemon is running and the pidfile is as it was. In the foreground there is no
    /// original process: `Fork::Daemon` comes back in this one.
    ///
    /// ```no_run
    /// use daemonic::{Daemon, Fork};
    ///
    /// match Daemon::new().pidfile("/run/app.pid").fork() {
    ///     Ok(Fork::Parent(pid)) => println!("daemon {} is ready", pid.as_raw_nonzero()),
    ///     Ok(Fork::Daemon(pending)) => {
    ///         let _running = pending.ready();
    ///         // ... serve
    ///     }
    ///     Err(e) => eprintln!("cannot start: {e}"),
    /// }
    /// ```
    pub fn fork(self) -> Result<Fork, Error> {
        crate::plan::run(&self, None, false)
    }

    /// Daemonizes, then executes `program` in the daemon (the `daemonic` command's
    /// path). Returns in the original process only: `Ok` with the daemon's PID once
    /// `execve` succeeded (and, with [`readiness_fd`](Daemon::readiness_fd), once the
    /// program wrote a newline), or the error, after which nothing runs and the pidfile
    /// is as it was.
    ///
    /// The pidfile's locked descriptor is passed to the program (its close-on-exec
    /// flag is cleared), and its number is in the environment variable
    /// `DAEMONIC_PIDFILE_FD`: the lock lasts exactly as long as the program, which
    /// must not close that descriptor. Preserved descriptors are passed the same way.
    /// Between the fork and `execve` nothing allocates, so unlike
    /// [`fork`](Daemon::fork) this is sound from a multithreaded process.
    ///
    /// In the foreground this process becomes the program; `exec` returns only on
    /// failure (with stdio possibly redirected already).
    ///
    /// ```no_run
    /// use daemonic::{Daemon, Program};
    ///
    /// let program = Program { path: c"/usr/sbin/nginx", args: &[c"nginx", c"-g", c"daemon off;"], env: &[] };
    /// match Daemon::new().pidfile("/run/nginx.pid").exec(&program) {
    ///     Ok(pid) => println!("nginx runs as {}", pid.as_raw_nonzero()),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    pub fn exec(self, program: &Program<'_>) -> Result<Pid, Error> {
        match crate::plan::run(&self, Some(program), false)? {
            Fork::Parent(pid) => Ok(pid),
            // `run` execs or fails in the daemon; it never hands it back.
            Fork::Daemon(pending) => Ok(pending.pid),
        }
    }

    /// For [`exec`](Daemon::exec): gives the program a pipe as descriptor `fd`, and
    /// makes the original process wait until the program writes a newline to it
    /// (s6's readiness protocol), instead of only for the exec. If the program closes
    /// the descriptor first, the start fails with [`ErrorKind::NotReady`]; with a
    /// [`timeout`](Daemon::timeout), it is killed when the time passes.
    #[must_use]
    pub fn readiness_fd(mut self, fd: i32) -> Self {
        self.notify = Some(fd);
        self
    }

    /// Stops the daemon that holds this daemon's pidfile, following `schedule`, then
    /// starts as [`fork`](Daemon::fork) does. A daemon that is not running is simply
    /// started; one that outlives the schedule fails the restart with
    /// [`ErrorKind::StillRunning`]. See [`stop`](crate::stop) for what stopping guarantees.
    ///
    /// ```no_run
    /// use daemonic::{Daemon, Fork, Schedule, Signal};
    ///
    /// let schedule = Schedule::parse("TERM/30/KILL/5", Signal::TERM)?;
    /// if let Fork::Daemon(pending) = Daemon::new().pidfile("/run/app.pid").restart(&schedule)? {
    ///     let _running = pending.ready();
    /// }
    /// # Ok::<(), daemonic::Error>(())
    /// ```
    pub fn restart(self, schedule: &Schedule) -> Result<Fork, Error> {
        let Some(path) = &self.pidfile else {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                None,
                format_args!("restart needs a pidfile"),
            ));
        };
        if let Stopped::StillRunning { pid } = crate::control::stop(path.as_c_str(), schedule)? {
            return Err(Error::new(
                ErrorKind::StillRunning,
                None,
                format_args!("{}", pid.as_raw_nonzero()),
            ));
        }
        self.fork()
    }
}

/// Where s6's notification descriptor comes from ([`Daemon::s6_notification_fd`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationFd<'a> {
    /// This descriptor number.
    Fd(i32),
    /// The number in this environment variable (read before the fork).
    Env(&'a CStr),
}

/// A program for [`Daemon::exec`]: its path (absolute, or relative to the working
/// directory; `PATH` is not searched), its arguments (`args[0]` is its name) and its
/// whole environment.
#[derive(Clone, Copy, Debug)]
pub struct Program<'p> {
    /// The file to execute.
    pub path: &'p CStr,
    /// `argv`, starting with the program's name.
    pub args: &'p [&'p CStr],
    /// `envp`: `NAME=VALUE` entries.
    pub env: &'p [&'p CStr],
}

/// What [`Daemon::fork`] returns.
// `Daemon` is large because the pidfile keeps its file name inline (no allocation);
// it is returned once per process, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Fork {
    /// In the original process: the daemon is ready, with this PID.
    Parent(Pid),
    /// In the daemon: report readiness with the handle.
    Daemon(Pending),
}

/// The daemon before it has reported readiness.
///
/// Report with [`ready`](Pending::ready) or [`fail`](Pending::fail). Dropping it
/// without either closes the channel: the original process then says the daemon
/// exited before reporting readiness, and puts the pidfile back as it was.
#[derive(Debug)]
#[must_use = "the original process waits until the daemon reports ready() or fail()"]
pub struct Pending {
    /// The daemon's end of the channel; `None` in the foreground.
    pub(crate) channel: Option<rustix::fd::OwnedFd>,
    pub(crate) pid: Pid,
    pub(crate) pidfile: Option<Pidfile>,
    pub(crate) supervisor: Supervisor,
}

/// The supervisors to tell about readiness, found before the fork.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Supervisor {
    /// `$NOTIFY_SOCKET` (systemd).
    pub(crate) socket: Option<NotifySocket>,
    /// s6's notification descriptor, until it is used.
    pub(crate) s6_fd: Option<i32>,
    /// Whether the daemon forked: then `MAINPID=` tells systemd who it is.
    pub(crate) detached: bool,
}

impl Supervisor {
    /// `READY=1` to systemd, a newline to s6. Both are tried; the first error is returned.
    fn ready(&mut self, pid: Pid) -> Result<(), Error> {
        let systemd = match &self.socket {
            Some(socket) => {
                let mut message = [0u8; 32];
                let text = ready_message(self.detached.then_some(pid), &mut message);
                socket.send(text).map_err(|e| {
                    Error::new(
                        ErrorKind::Notify,
                        Some(e),
                        format_args!("NOTIFY_SOCKET={}", Shown(socket.shown())),
                    )
                })
            }
            None => Ok(()),
        };
        let s6 = match self.s6_fd.take() {
            Some(fd) => {
                let written = rustix::io::write(crate::sys::borrow(fd), b"\n");
                crate::sys::close(fd);
                written.map(drop).map_err(|e| {
                    Error::new(
                        ErrorKind::Notify,
                        Some(e),
                        format_args!("s6 descriptor {fd}"),
                    )
                })
            }
            None => Ok(()),
        };
        systemd.and(s6)
    }
}

/// `READY=1`, and `MAINPID=<pid>` for a daemon that forked, in `buf`.
fn ready_message(pid: Option<Pid>, buf: &mut [u8; 32]) -> &[u8] {
    const READY: &[u8] = b"READY=1\n";
    const MAINPID: &[u8] = b"MAINPID=";
    buf[..READY.len()].copy_from_slice(READY);
    let mut len = READY.len();
    if let Some(pid) = pid {
        let mut digits = [0u8; 12];
        let n = crate::pidfile::decimal(pid.as_raw_nonzero().get() as u32, &mut digits);
        buf[len..len + MAINPID.len()].copy_from_slice(MAINPID);
        len += MAINPID.len();
        buf[len..len + n.len()].copy_from_slice(n);
        len += n.len();
    }
    &buf[..len]
}

impl Pending {
    /// Tells the original process the daemon is ready (it exits with status 0), and
    /// the supervisors there are: `READY=1` to `$NOTIFY_SOCKET` (with `MAINPID=` when
    /// the daemon forked), a newline to s6's notification descriptor.
    ///
    /// A supervisor that cannot be told is an error, which carries the [`Running`]
    /// daemon all the same ([`NotifyError::into_running`]).
    // The error carries the `Running` daemon (the pidfile's name is inline, for
    // no_std); it is built at most once, so its size costs nothing.
    #[allow(clippy::result_large_err)]
    pub fn ready(mut self) -> Result<Running, NotifyError> {
        if let Some(channel) = self.channel.take() {
            crate::channel::send_report(&channel, crate::channel::Report::Ready(self.pid));
        }
        let told = self.supervisor.ready(self.pid);
        let running = Running {
            pidfile: self.pidfile.take(),
            supervisor: self.supervisor,
        };
        match told {
            Ok(()) => Ok(running),
            Err(error) => Err(NotifyError { running, error }),
        }
    }

    /// Tells the original process the daemon failed to start; it prints the code and
    /// exits with it (or 3 for 0), after putting the pidfile back as it was. In the
    /// foreground the pidfile is released here. The daemon should exit next.
    pub fn fail(self, code: u8) {
        if let Some(channel) = &self.channel {
            crate::channel::send_report(channel, crate::channel::Report::Code(code));
        }
    }

    /// The daemon's PID.
    pub fn pid(&self) -> Pid {
        self.pid
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Not ready: the original process restores the pidfile (it shares the lock);
        // removing it here too would race with that.
        if self.channel.is_some() {
            if let Some(pidfile) = self.pidfile.take() {
                pidfile.disown();
            }
        }
    }
}

/// A supervisor could not be told the daemon is ready; the daemon runs all the same.
///
/// ```no_run
/// let pending = daemonic::Daemon::new().start_pending();
/// let running = pending.ready().unwrap_or_else(|e| {
///     // log e.error() somewhere the daemon can write to
///     e.into_running()
/// });
/// # drop(running);
/// ```
#[derive(Debug)]
pub struct NotifyError {
    running: Running,
    error: Error,
}

impl NotifyError {
    /// What failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The running daemon, to carry on with.
    pub fn into_running(self) -> Running {
        self.running
    }
}

impl core::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.error.fmt(f)
    }
}

impl core::error::Error for NotifyError {}

/// A started daemon. Dropping it releases the pidfile (removes it while locked).
#[derive(Debug)]
pub struct Running {
    pub(crate) pidfile: Option<Pidfile>,
    pub(crate) supervisor: Supervisor,
}

impl Running {
    /// The locked pidfile, if one was configured.
    pub fn pidfile(&self) -> Option<&Pidfile> {
        self.pidfile.as_ref()
    }

    /// Sends an `sd_notify` message to systemd, e.g. `"STATUS=serving 12 clients"`,
    /// `"RELOADING=1"` or `"STOPPING=1"`. Without `$NOTIFY_SOCKET` (when the daemon
    /// started) there is no one to tell, and this does nothing.
    ///
    /// ```no_run
    /// # let running = daemonic::Daemon::new().start();
    /// running.notify("STOPPING=1")?;
    /// # Ok::<(), daemonic::Error>(())
    /// ```
    pub fn notify(&self, message: &str) -> Result<(), Error> {
        match &self.supervisor.socket {
            Some(socket) => socket.send(message.as_bytes()).map_err(|e| {
                Error::new(
                    ErrorKind::Notify,
                    Some(e),
                    format_args!("NOTIFY_SOCKET={}", Shown(socket.shown())),
                )
            }),
            None => Ok(()),
        }
    }
}

/// Writes `daemonic: <err>` to stderr in one `write`, without allocating.
fn report(err: &Error) {
    struct Line {
        len: usize,
        buf: [u8; 256],
    }
    impl core::fmt::Write for Line {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            // Keep the last byte for the newline; an overlong line is cut, not lost.
            let take = s.len().min(self.buf.len() - 1 - self.len);
            self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
            self.len += take;
            Ok(())
        }
    }
    let mut line = Line {
        len: 0,
        buf: [0; 256],
    };
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("daemonic: {err}"));
    line.buf[line.len] = b'\n';
    crate::sys::write_stderr(&line.buf[..=line.len]);
}

/// Ends the original process.
pub(crate) fn exit(code: i32) -> ! {
    #[cfg(feature = "std")]
    std::process::exit(code);
    #[cfg(not(feature = "std"))]
    crate::sys::exit_immediately(code)
}
