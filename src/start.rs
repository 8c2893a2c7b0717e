//! The ways to start: the entry points sit above everything they use. Each checks
//! the options, makes the plan, and hands it to the launch; what differs is what
//! happens once the daemon is ready.

use rustix::process::Pid;

use crate::argv::Program;
use crate::control::Stopped;
use crate::daemon::Daemon;
use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::handles::{Fork, Pending, Running};
use crate::launch::{self, Mode, Side};
use crate::monitor::{Supervised, Supervision};
use crate::plan::Plan;
use crate::prepare::prepare;
use crate::schedule::Schedule;

impl<'a> Daemon<'a> {
    /// Daemonizes; returns only in the daemon, which is reported ready at once.
    ///
    /// The original process exits with status 0 once the daemon is ready, or prints
    /// `daemonic: <error>` on stderr and exits with [`Error::exit_code`]. In the
    /// foreground ([`Detach::Never`](crate::Detach::Never)) this process is the
    /// daemon: on failure it prints the same line and exits.
    ///
    /// ```no_run
    /// let _running = daemonic::Daemon::new().pidfile("/run/app.pid").start();
    /// // Only the daemon gets here.
    /// ```
    pub fn start(mut self) -> Running<'a> {
        // No moment as root here: the steps drop privileges, as without the option.
        self.options.drop_at_ready = false;
        let mut pending = self.start_pending();
        // Nothing to report a supervisor's failure to here: `start_pending` shows it.
        let _ = pending.tell();
        pending.into_running()
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
    pub fn start_pending(self) -> Pending<'a> {
        let ok_if_running = self.options.ok_if_running;
        let mut err = Error::new(ErrorKind::Died);
        match self.begin(Mode::ExitWhenReady, &mut err) {
            Ok(Started::Daemon(pending)) => pending,
            Ok(Started::Parent(_)) => exit(0),
            Err(_) if ok_if_running && matches!(err.kind(), ErrorKind::AlreadyRunning { .. }) => {
                exit(0)
            }
            Err(_) => {
                crate::error::report(&err);
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
    pub fn fork(self) -> Result<Fork<'a>, Error> {
        let mut err = Error::new(ErrorKind::Died);
        match self.begin(Mode::Return, &mut err) {
            Ok(Started::Daemon(pending)) => Ok(Fork::Daemon(pending)),
            Ok(Started::Parent(pid)) => Ok(Fork::Parent(pid)),
            Err(_) => Err(err),
        }
    }

    /// Daemonizes, then executes `program` in the daemon (the `daemonic` command's
    /// path). Returns in the original process only: `Ok` with the daemon's PID once
    /// `execve` succeeded (and, with [`readiness_fd`](Daemon::readiness_fd) or
    /// [`await_notify_socket`](Daemon::await_notify_socket), once the program said it
    /// is ready), or the error, after which nothing runs and the pidfile is as it was.
    ///
    /// The pidfile's locked descriptor (read-only: the program cannot rewrite the PID)
    /// is passed to the program (its close-on-exec flag is cleared), and its number is
    /// in the environment variable `DAEMONIC_PIDFILE_FD`: the lock lasts exactly as
    /// long as the program, which must not close that descriptor. Preserved
    /// descriptors are passed the same way. Between the fork and `execve` nothing
    /// allocates, so unlike [`fork`](Daemon::fork) this is sound from a multithreaded
    /// process.
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
        self.exec_as(program, None)
    }

    /// Daemonizes, then runs `program` under a resident monitor: daemonic's daemon
    /// process stays, as the program's parent, for the service's whole life. Returns
    /// in the original process only, as [`exec`](Daemon::exec) does: `Ok` with the
    /// monitor's PID once the program executed (with
    /// [`readiness_fd`](Daemon::readiness_fd), once it said it is ready).
    ///
    /// The monitor:
    /// - **holds the pidfile's lock** (the pidfile names the monitor); the program
    ///   gets no descriptor of it, and may close or fork anything;
    /// - **forwards** SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
    ///   SIGVTALRM, SIGPROF, SIGWINCH, SIGURG, SIGIO and SIGPWR to the
    ///   program (or its process group, [`Supervision::forward_to_group`]). Once the program has exited after SIGTERM, SIGINT or SIGQUIT (what
    ///   [`stop`](crate::stop) sends), it ends what is left of the service (SIGTERM,
    ///   SIGKILL 5 s later), removes the pidfile and exits;
    /// - **reaps**: outside PID 1 it is a child subreaper, so what the program forks
    ///   and abandons is its own to reap and to stop; the service lasts while any of
    ///   it runs. As PID 1 (a container's entry point, in the foreground) it reaps
    ///   every orphan and ends with the program;
    /// - **restarts** the program as `policy` says, after a pause that grows while
    ///   runs are short ([`Supervision`]);
    /// - **enforces the readiness timeout** ([`timeout`](Daemon::timeout) with
    ///   [`readiness_fd`](Daemon::readiness_fd) or
    ///   [`await_notify_socket`](Daemon::await_notify_socket), one of them) itself, at
    ///   every run: a program that is not ready in time is killed, even if the original
    ///   process is gone. The notify socket is the monitor's;
    /// - **records its runs** in the pidfile's second line once a run has ended:
    ///   [`status`](crate::status) gives them as [`Runs`](crate::Runs);
    /// - with [`Supervision::log_file`], **logs** the program's stdout and stderr to a
    ///   file it reopens on SIGHUP;
    /// - exits with the program's status (128 + n after signal n).
    ///
    /// The program runs in its own process group, and is killed if the monitor dies
    /// (`PR_SET_PDEATHSIG`). In the foreground this process is the monitor: it returns only if the first
    /// run fails, and otherwise exits with the program's status.
    ///
    /// ```no_run
    /// use daemonic::{Daemon, Program, Restart, Supervision};
    ///
    /// let program = Program { path: c"/usr/sbin/app", args: &[c"app"], env: &[] };
    /// let policy = Supervision { restart: Restart::OnFailure, ..Supervision::new() };
    /// match Daemon::new().pidfile("/run/app.pid").supervise(&program, policy) {
    ///     Ok(pid) => println!("app runs under monitor {}", pid.as_raw_nonzero()),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    #[inline]
    pub fn supervise(self, program: &Program<'_>, policy: Supervision<'_>) -> Result<Pid, Error> {
        self.exec_as(program, Some(Supervised::new(policy)))
    }

    /// [`exec`](Daemon::exec), or with `supervised` [`supervise`](Daemon::supervise).
    fn exec_as(
        self,
        program: &Program<'_>,
        supervised: Option<Supervised<'_>>,
    ) -> Result<Pid, Error> {
        let mut o = self.options;
        let mut err = Error::new(ErrorKind::Died);
        if o.check(&mut err).is_err() {
            return Err(err);
        }
        // The program (or the monitor) gets no moment as root: the steps drop
        // privileges before it runs, as without `drop_privileges_at_ready`.
        o.drop_at_ready = false;
        if o.await_notify && o.timeout.is_none() {
            o.timeout = Some(crate::channel::Timeout::new(
                core::time::Duration::from_secs(60),
            ));
        }
        let (readiness, await_notify) = (o.readiness, o.await_notify);
        if let Some(number) = readiness {
            or_return!(crate::fds::room_above(number), |limit| {
                crate::exec::no_room(number, limit)
            });
        }
        // No thread check (see `prepare`): the monitor, too, makes only system calls.
        let mut plan = Plan::new(o);
        if prepare(&mut plan, true, &mut err).is_err() {
            return Err(err);
        }
        plan.program_frames = Some(crate::plan::program_frame);
        match crate::exec::run(plan, program, readiness, await_notify, supervised, &mut err) {
            Ok(pid) => Ok(pid),
            Err(_) => Err(err),
        }
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
    pub fn restart(self, schedule: &Schedule) -> Result<Fork<'a>, Error> {
        let Some(path) = &self.options.pidfile else {
            return Err(Error::invalid("restart needs a pidfile"));
        };
        if let Stopped::StillRunning { pid } = crate::control::stop(path.as_c_str(), schedule)? {
            return Err(
                Error::new(ErrorKind::StillRunning).number(pid.as_raw_nonzero().get() as u64)
            );
        }
        self.fork()
    }

    /// The common start of [`start_pending`](Daemon::start_pending) and
    /// [`fork`](Daemon::fork): check, prepare, launch, and wait for the daemon.
    /// A failure is put in `err`.
    fn begin(self, mode: Mode<'_>, err: &mut Error) -> Result<Started<'a>, Failed> {
        self.options.check(err)?;
        let mut plan = Plan::new(self.options);
        prepare(&mut plan, false, err)?;
        match launch::run(&mut plan) {
            Err(failure) => Err(plan.fail(failure, None, err)),
            Ok(Side::Daemon { pid, reports }) => {
                let pidfile = plan.take_pidfile();
                // Not `take().filter()`, which copies the 1 KB credentials once more.
                let deferred = match plan.o.drop_at_ready {
                    true => plan.creds.take(),
                    false => None,
                };
                Ok(Started::Daemon(Pending::new(
                    reports,
                    pid,
                    pidfile,
                    plan.tellers.take(),
                    deferred,
                )))
            }
            Ok(Side::Original(launched)) => {
                let outcome = launched.wait(&plan, mode);
                // With `ExitWhenReady` a ready start ends this process in there.
                let pid = launched.conclude(&mut plan, outcome, mode, err)?;
                Ok(Started::Parent(pid))
            }
        }
    }
}

/// Where [`Daemon::begin`] returns.
// Returned once per process: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Started<'a> {
    Daemon(Pending<'a>),
    Parent(Pid),
}

/// Ends the original process.
fn exit(code: i32) -> ! {
    #[cfg(feature = "std")]
    std::process::exit(code);
    #[cfg(not(feature = "std"))]
    crate::sys::exit_immediately(code)
}
