//! Turn a process into a well-behaved Unix daemon: PEP 3143's `DaemonContext`, done
//! with raw [`rustix`] syscalls, sound to call from Rust, and usable without `std`.
//!
//! ```no_run
//! use daemonic::Daemon;
//!
//! let pending = Daemon::new()
//!     .pidfile("/run/app.pid")
//!     .user("nobody")
//!     .umask(0o027)
//!     .start_pending();
//! // Only the daemon gets here; the original process waits for the report.
//! let _running = pending.ready(); // the original process exits 0 now
//! ```
//!
//! # The sequence
//!
//! [`Daemon::start`], [`Daemon::start_pending`] and [`Daemon::fork`] all run these
//! steps. Everything that can fail for a reason the user can fix happens in the
//! original process, before any fork, so that it can say what went wrong:
//!
//! 1. Check the options ([`Daemon::check`]).
//! 2. Refuse if the process has more than one thread (`/proc/thread-self/status`):
//!    `fork` copies only the calling thread, and another thread may hold a lock (the
//!    allocator's) that the daemon would then wait on forever.
//! 3. Resolve the user and groups from `/etc/passwd` and `/etc/group`, with our own
//!    allocation-free parser (static musl binaries have no NSS).
//! 4. Open `/dev/null` and the files for stdin, stdout and stderr.
//! 5. Open, check and lock the [`Pidfile`]: a held lock fails the start with
//!    [`ErrorKind::AlreadyRunning`] here, never after the fork.
//! 6. Create the readiness channel (a close-on-exec socket pair) and flush Rust's
//!    stdout and stderr.
//! 7. Fork. The first child calls `setsid` and forks again, then leaves with `_exit`
//!    (running no destructor); the original process reaps it. The grandchild, the
//!    daemon, is not a session leader and can never acquire a controlling terminal.
//!
//! Then, in the daemon, with no allocation, no formatting and no lock (only
//! async-signal-safe system calls), in daemon(7)'s order:
//!
//! 8. Reset every signal to its default disposition, SIGPIPE included, and empty the
//!    signal mask; then ignore the signals of the [`SignalMap`].
//! 9. `chroot` (if asked), then `chdir` to the working directory inside it.
//! 10. Set the umask; set `RLIMIT_CORE` to 0 (unless told not to).
//! 11. Write the daemon's PID into the locked pidfile.
//! 12. Drop privileges: `setgroups`, `setresgid`, `setresuid`; then check that root
//!     cannot be regained.
//! 13. Point stdin, stdout and stderr at their targets.
//! 14. Close every other descriptor, but the preserved ones, the pidfile and the
//!     channel: `close_range` over the gaps, so the cost does not grow with
//!     `RLIMIT_NOFILE`; on any error a walk of `/proc/self/fd`; without `/proc` a loop
//!     up to the soft limit.
//!
//! A failing step sends its number and errno to the original process, and the daemon
//! `_exit`s. Otherwise the daemon gets control. When it reports ready (at once with
//! `start`, when it calls [`Pending::ready`] otherwise) the original process exits
//! with status 0; the pidfile already holds the daemon's PID, as systemd's
//! `Type=forking` expects. If the daemon fails, dies or times out, the original
//! process prints one line such as `daemonic: cannot change directory to /srv/x: No
//! such file or directory (os error 2)` and exits non-zero, and the pidfile is left
//! as it was.
//!
//! With [`Detach::Never`] (or [`Detach::Auto`] under init, inetd or as PID 1) steps
//! 6 and 7 are skipped and the process itself becomes the daemon.
//!
//! # Features
//!
//! - `std` (default): `Path`, `OsStr` and `String` paths; stdout is flushed before
//!   forking; [`Error`] converts into `std::io::Error`.
//! - `alloc`: `&str` and `String` paths.
//!
//! Without either, the crate is `#![no_std]` and paths are `&CStr`:
//!
//! ```no_run
//! let _running = daemonic::Daemon::new().pidfile(c"/run/app.pid").start();
//! ```

#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod channel;
mod child;
mod control;
mod daemon;
mod error;
mod fds;
mod path;
mod pidfile;
mod plan;
mod procfs;
mod signals;
mod supervisor;
mod sys;
mod users;

pub use control::{status, stop, Schedule, Status, Step, Stopped};
pub use daemon::{
    Daemon, Detach, Fork, Group, Groups, NotificationFd, NotifyError, Pending, Program, Running,
    Stdio, User,
};
pub use error::{Error, ErrorKind};
pub use path::{CPath, IntoCPath, NulError};
pub use pidfile::Pidfile;
pub use rustix::io::Errno;
pub use rustix::process::{Pid, Signal};
pub use signals::{parse_signal, Disposition, SignalMap};
