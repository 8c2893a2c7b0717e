//! The builder: PEP 3143's `DaemonContext` options (the supervisors' and the
//! program's readiness in `supervisors.rs`). The ways to start are in
//! [`crate::start`].

use core::time::Duration;
use rustix::process::Signal;

use crate::channel::Timeout;
use crate::creds::{Credentials, Group, Groups, User};
use crate::error::{Error, ErrorKind};
use crate::options::{Detach, Options};
use crate::path::{CPath, IntoCPath, NulError};
use crate::signals::{Disposition, SignalMap};
use crate::stdio::{Stdio, Target, STREAMS};
use crate::supervisor::Supervisors;

mod supervisors;

/// u32::MAX is -1 to the kernel: "leave unchanged", never an identity.
const NO_ID: &str = "id 4294967295 is not a user or group";

/// How to turn this process into a daemon: the options of PEP 3143's `DaemonContext`.
///
/// Build it, then call one of:
/// - [`start`](Daemon::start): returns only in the daemon, already reported ready;
/// - [`start_pending`](Daemon::start_pending): returns in the daemon with a
///   [`Pending`](crate::Pending) handle, so it can bind sockets or load configuration
///   and then report [`ready`](crate::Pending::ready) or [`fail`](crate::Pending::fail);
/// - [`fork`](Daemon::fork): returns in the original process too, with the daemon's
///   PID or the error, instead of exiting;
/// - [`exec`](Daemon::exec): runs another program as the daemon.
///
/// With `start` and `start_pending` the original process exits when the daemon is
/// ready (status 0), or prints one line naming the failed step and exits non-zero
/// ([`Error::exit_code`]).
///
/// Each option costs bytes only when it is set: the code for changing user, opening
/// files, telling supervisors and so on is reached only through its setter.
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
    pub(crate) options: Options<'a>,
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
    pub const fn new() -> Daemon<'a> {
        Daemon {
            options: Options::new(),
        }
    }

    /// Remembers the first invalid option; the start reports it.
    fn invalid(mut self, err: Error) -> Self {
        if self.options.invalid.is_none() {
            self.options.invalid = Some(err);
        }
        self
    }

    fn path(
        self,
        option: &'static str,
        path: impl IntoCPath<'a>,
        set: impl FnOnce(&mut Options<'a>, CPath<'a>),
    ) -> Self {
        match path.into_c_path() {
            Ok(p) => {
                let mut this = self;
                set(&mut this.options, p);
                this
            }
            Err(NulError) => self.invalid(Error::invalid(option).text(" contains a NUL byte")),
        }
    }

    fn credentials(mut self, set: impl FnOnce(&mut Credentials<'a>)) -> Self {
        set(self.options.creds.get_or_insert(Credentials::new()));
        self
    }

    fn supervisors(mut self, set: impl FnOnce(&mut Supervisors<'a>)) -> Self {
        set(self.options.supervisors.get_or_insert(Supervisors::new()));
        self
    }

    /// `chroot` into this directory before changing to the working directory.
    /// Everything opened before the fork (the pidfile, output files, `/dev/null`)
    /// is opened outside it; `/etc/passwd` is read outside it too.
    #[must_use]
    pub fn chroot_directory(self, dir: impl IntoCPath<'a>) -> Self {
        self.path("chroot directory", dir, |o, p| o.chroot = Some(p))
            .locate_pidfile()
    }

    /// The pidfile's directory is kept open when the path alone will not find the
    /// file in the daemon: after a chroot, or for a relative path after the chdir.
    fn locate_pidfile(mut self) -> Self {
        if let Some(path) = &self.options.pidfile {
            let chroot = self.options.chroot.is_some();
            self.options.pidfile_dir = crate::pidfile::locator(path.as_c_str(), chroot);
        }
        self
    }

    /// The working directory, an absolute path, inside the chroot if there is one
    /// (default `/`, so the daemon keeps no file system busy).
    #[must_use]
    pub fn working_directory(self, dir: impl IntoCPath<'a>) -> Self {
        let this = self.path("working directory", dir, |o, p| o.workdir = p);
        let workdir = this.options.workdir.bytes();
        if workdir.first() == Some(&b'/') {
            return this;
        }
        let err = Error::invalid("working directory ")
            .path(workdir)
            .text(" is not an absolute path");
        this.invalid(err)
    }

    /// The umask (default 0, as PEP 3143 and daemon(7)). With 0, every file the
    /// daemon creates with a default mode of 0666 is world-writable: pass modes
    /// explicitly, or set 0o022 or 0o027 here. The pidfile and output files have
    /// explicit modes and are created before the umask changes.
    #[must_use]
    pub fn umask(mut self, mask: u32) -> Self {
        if mask > 0o777 {
            return self.invalid(
                Error::invalid("umask ")
                    .octal(mask)
                    .text(" is not between 0 and 0777"),
            );
        }
        self.options.umask = mask;
        self
    }

    /// The user to switch to, by name or uid. Its primary group is used unless
    /// [`group`](Daemon::group) is set; supplementary groups follow
    /// [`supplementary_groups`](Daemon::supplementary_groups).
    ///
    /// A name needs `/etc/passwd` (and `/etc/group` for its groups). A uid needs no
    /// file, as in a `FROM scratch` image: with no entry for it, it needs a
    /// [`group`](Daemon::group) and gets no supplementary groups but that one.
    #[must_use]
    pub fn user(self, user: impl Into<User<'a>>) -> Self {
        let user = user.into();
        if user == User::Id(u32::MAX) {
            return self.invalid(Error::invalid(NO_ID));
        }
        self.credentials(|c| c.user = Some(user))
    }

    /// The group to switch to, by name or gid.
    #[must_use]
    pub fn group(self, group: impl Into<Group<'a>>) -> Self {
        let group = group.into();
        if group == Group::Id(u32::MAX) {
            return self.invalid(Error::invalid(NO_ID));
        }
        self.credentials(|c| c.group = Some(group))
    }

    /// The supplementary groups (default [`Groups::Initgroups`]); used only when a
    /// user or group is set.
    #[must_use]
    pub fn supplementary_groups(self, groups: Groups<'a>) -> Self {
        self.credentials(|c| c.groups = groups)
    }

    /// Keeps root's privileges past the daemon's steps, for set-up that needs them
    /// (binding port 80, opening a root-only key), and drops them (user, groups, gid)
    /// when the daemon calls [`Pending::drop_privileges`](crate::Pending::drop_privileges)
    /// or, at the latest, [`Pending::ready`](crate::Pending::ready): what
    /// python-daemon's order and `daemonize`'s `privileged_action` allow. A drop that
    /// fails fails the start: the original process says why, the daemon exits.
    /// Only [`start_pending`](Daemon::start_pending) and [`fork`](Daemon::fork) give
    /// the daemon that moment; with [`start`](Daemon::start), [`exec`](Daemon::exec)
    /// and [`supervise`](Daemon::supervise) the drop comes at once, among the steps,
    /// as without this option.
    ///
    /// ```no_run
    /// let pending = daemonic::Daemon::new()
    ///     .user("www-data")
    ///     .drop_privileges_at_ready(true)
    ///     .start_pending();
    /// // Still root here, in the daemon:
    /// let listener = std::net::TcpListener::bind("0.0.0.0:80");
    /// let running = pending.ready(); // now www-data
    /// # drop((listener, running));
    /// ```
    #[must_use]
    pub fn drop_privileges_at_ready(mut self, later: bool) -> Self {
        self.options.drop_at_ready = later;
        self
    }

    /// Whether to set `RLIMIT_CORE` to 0/0, so a crash cannot dump secrets (default true).
    #[must_use]
    pub fn prevent_core(mut self, prevent: bool) -> Self {
        self.options.prevent_core = prevent;
        self
    }

    /// Whether to fork into the background (default [`Detach::Always`]).
    #[must_use]
    pub fn detach(mut self, detach: Detach) -> Self {
        self.options.detach = detach;
        self
    }

    /// Keeps this descriptor open in the daemon (PEP 3143's `files_preserve`); every
    /// other descriptor above 2 is closed. It must be open when the daemon starts.
    #[must_use]
    pub fn preserve_fd(mut self, fd: i32) -> Self {
        let preserve = &mut self.options.preserve;
        let full = preserve.as_slice().len() >= crate::fds::MAX_PRESERVED && !preserve.contains(fd);
        if fd < 0 || full || preserve.insert(fd).is_err() {
            let mut e = Error::invalid("cannot preserve descriptor ");
            if fd < 0 {
                e.push_text(b"-");
            }
            e.push_number(fd.unsigned_abs().into());
            return self.invalid(e);
        }
        self.options.preserved_open = Some(crate::prepare::check_preserved);
        self
    }

    /// Creates, checks and locks this pidfile before forking, and writes the daemon's
    /// PID into it before the original process exits. See [`Pidfile`](crate::Pidfile).
    ///
    /// A daemon that runs as another [`user`](Daemon::user) keeps only a read-only
    /// descriptor of it, so at its exit it can remove the file only from a directory
    /// that user may write: give it one (`/run/app/`, owned by the user, as systemd's
    /// `RuntimeDirectory=` makes). In root's directory the file stays, naming the
    /// dead PID: [`status`](crate::status) says stale and the next start takes it over.
    #[must_use]
    pub fn pidfile(self, path: impl IntoCPath<'a>) -> Self {
        self.path("pidfile path", path, |o, p| o.pidfile = Some(p))
            .locate_pidfile()
    }

    /// The pidfile's mode (default 0o600: only its owner may open it, so no other
    /// user can lock it; `flock` works on read-only descriptors). 0o644 lets every
    /// user read the PID, and so also lock the file; 0o640 lets the file's group.
    /// Modes writable by group or others are refused.
    #[must_use]
    pub fn pidfile_mode(mut self, mode: u32) -> Self {
        if mode & !0o644 != 0 || mode & 0o600 != 0o600 {
            return self.invalid(Error::invalid(
                "pidfile mode must give its owner read and write, and nobody else write",
            ));
        }
        self.options.pidfile_mode = mode;
        self
    }

    fn stream(mut self, n: usize, stdio: Stdio<'a>) -> Self {
        if let Target::Invalid = stdio.0 {
            let name = crate::text::nth(STREAMS, n);
            return self.invalid(
                Error::new(crate::ErrorKind::InvalidOption)
                    .text(name)
                    .text(" path contains a NUL byte"),
            );
        }
        self.options.stdio[n] = stdio;
        self
    }

    /// Where stdin comes from (default `/dev/null`).
    #[must_use]
    pub fn stdin(self, stdio: Stdio<'a>) -> Self {
        self.stream(0, stdio)
    }

    /// Where stdout goes (default `/dev/null`).
    #[must_use]
    pub fn stdout(self, stdio: Stdio<'a>) -> Self {
        self.stream(1, stdio)
    }

    /// Where stderr goes (default `/dev/null`).
    #[must_use]
    pub fn stderr(self, stdio: Stdio<'a>) -> Self {
        self.stream(2, stdio)
    }

    /// The mode of output files created for stdout and stderr (default 0o640; the
    /// original process's umask applies, as to any `open`).
    #[must_use]
    pub fn output_mode(mut self, mode: u32) -> Self {
        if mode > 0o7777 {
            return self.invalid(
                Error::invalid("output mode ")
                    .octal(mode)
                    .text(" is not a file mode"),
            );
        }
        self.options.output_mode = mode;
        self
    }

    /// The whole signal map; see [`SignalMap`] for the default.
    #[must_use]
    pub fn signal_map(mut self, map: SignalMap) -> Self {
        self.options.signals = map;
        self
    }

    /// Sets one signal's disposition in the daemon; see [`SignalMap`] for the default.
    #[must_use]
    pub fn signal(mut self, signal: Signal, disposition: Disposition) -> Self {
        self.options.signals = self.options.signals.set(signal, disposition);
        self
    }

    /// How long the whole start may take until the daemon is ready. When it passes,
    /// the daemon is killed and the start fails with
    /// [`ErrorKind::Timeout`]. Default: no limit.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(Timeout::new(timeout));
        self
    }

    /// When the daemon already runs (its pidfile is locked by another process), let
    /// [`start`](Daemon::start) and [`start_pending`](Daemon::start_pending) end the
    /// original process with status 0 instead of 1, like start-stop-daemon's
    /// `--oknodo`. [`fork`](Daemon::fork) still returns the error, for the caller to judge.
    #[must_use]
    pub fn ok_if_running(mut self, ok: bool) -> Self {
        self.options.ok_if_running = ok;
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
        let mut err = Error::new(ErrorKind::Died);
        self.options.check(&mut err).map_err(|_| err)
    }
}
