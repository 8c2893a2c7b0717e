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
//! [`Daemon::start`], [`Daemon::start_pending`], [`Daemon::fork`] and
//! [`Daemon::exec`] all run these steps. Everything that can fail for a reason the
//! user can fix happens in the original process, before any fork, so that it can say
//! what went wrong:
//!
//! 1. Check the options ([`Daemon::check`]).
//! 2. Read `/proc/thread-self/status` once: the signal dispositions, and the thread
//!    count. Refuse if the process has more than one thread (except for `exec`):
//!    `fork` copies only the calling thread, and another thread may hold a lock (the
//!    allocator's) that the daemon would then wait on forever.
//! 3. Resolve the user and groups from `/etc/passwd` and `/etc/group`, with our own
//!    allocation-free parser (static musl binaries have no NSS).
//! 4. Open, check and lock the [`Pidfile`]: a held lock fails the start with
//!    [`ErrorKind::AlreadyRunning`] here, never after the fork. The lock is on a
//!    read-only descriptor; a second, write-only one is for writing the PID.
//! 5. Create the report channel (daemon → original process) and the verdict channel
//!    (original → intermediate process), two close-on-exec socket pairs.
//! 6. Open `/dev/null` and the files for stdin, stdout and stderr; read what the
//!    supervisors asked for need from the environment; arm the timeout's timer.
//! 7. Fork. The first child calls `setsid` and forks again; the grandchild is the
//!    daemon, which is not a session leader and can never acquire a controlling
//!    terminal. The first child stays, as the daemon's parent, until the original
//!    process tells it the outcome (see 16).
//!
//! Then, in the daemon, with no allocation, no formatting and no lock (only
//! async-signal-safe system calls), in daemon(7)'s order:
//!
//! 8. Reset every signal to its default disposition, SIGPIPE included, and empty the
//!    signal mask; then ignore the signals of the [`SignalMap`].
//! 9. `chroot` (if asked), then `chdir` to the working directory inside it.
//! 10. Set the umask; set `RLIMIT_CORE` to 0 (unless told not to).
//! 11. Write the daemon's PID into the locked pidfile.
//! 12. Drop privileges (after closing the pidfile's write-only descriptor):
//!     `setgroups`, `setresgid`, `setresuid`; then check that root cannot be
//!     regained.
//! 13. Point stdin, stdout and stderr at their targets.
//! 14. Close every other descriptor, but the preserved ones, the pidfile's lock and
//!     the report channel: `close_range` over the gaps, so the cost does not grow
//!     with `RLIMIT_NOFILE`; on any error a walk of `/proc/self/fd`; without `/proc`
//!     a loop up to the soft limit.
//!
//! A failing step sends its number and errno to the original process, and the daemon
//! `_exit`s. Otherwise the daemon gets control (or, with `exec`, becomes the program).
//!
//! 15. When it reports ready (at once with `start`, when it calls
//!     [`Pending::ready`] otherwise, at the `execve` with `exec`), the original
//!     process tells the intermediate process so, reaps it, and exits with status 0
//!     (or returns, with `fork`); the pidfile already holds the daemon's PID, as
//!     systemd's `Type=forking` expects.
//! 16. If the daemon fails, dies or times out, the intermediate process (whose
//!     unreaped child the daemon is, so its PID names nobody else) kills it and puts
//!     the pidfile back as it was; the original process kills the rest of the
//!     daemon's process group, then prints one line such as `daemonic: cannot change
//!     directory to /srv/x: No such file or directory (os error 2)` and exits
//!     non-zero. If the original process dies first (even by SIGKILL), the
//!     intermediate process does all of it.
//!
//! With [`Detach::Never`] (or [`Detach::Auto`] under init, inetd or as PID 1) there
//! is no fork and no channel: the process itself becomes the daemon.
//!
//! # Who can do what to a pidfile
//!
//! Another local user is assumed hostile, and the daemon careless:
//!
//! - A start creates the pidfile with mode 0600, so only its owner and root can open
//!   it, and so lock it; [`status`] and [`stop`] are for them. An existing file is
//!   refused if others may write it, if it is a symbolic link, a FIFO or a hard link,
//!   or holds anything but a PID.
//! - The daemon keeps the lock on a read-only descriptor; the PID is written through
//!   another, closed before privileges are dropped. It cannot rewrite its PID.
//! - [`status`], [`stop`] and a start believe a PID only when that process holds the
//!   lock on that very file (`/proc/PID/fdinfo`); anyone else's lock is a stranger's
//!   ([`ErrorKind::ForeignLock`]): nothing is signalled.
//! - Files for the streams ([`Stdio::file`]) are opened with the filesystem identity
//!   of the user the daemon becomes: what that user could not open is refused.
//!
//! # Pay for what you use
//!
//! The code for an option is reached only through its setter: a daemon that never
//! calls [`Daemon::user`] contains no `/etc/passwd` parser, one that never calls
//! [`Stdio::file`] no file opening, and so on for [`Daemon::timeout`],
//! [`Daemon::sd_notify`], [`Daemon::exec`] and the control functions [`status`] and
//! [`stop`]. Messages are composed from static text without `core::fmt`.
//! `size-report/REPORT.md` lists what each capability costs.
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

// Linux only: close_range, pidfd, /proc (fdinfo, locks), flock on open file
// descriptions and the abstract socket namespace are what the guarantees rest on.
#[cfg(not(target_os = "linux"))]
compile_error!("daemonic supports Linux only (close_range, pidfd, /proc, flock semantics)");

// Plain data and pieces that name no other part of the start.
mod error;
mod failure;
mod fds;
mod holder;
mod path;
mod procfs;
mod search;
mod signals;
mod stack;
mod sys;
mod text;
mod users;

// Each concern, over those.
mod activation;
mod channel;
mod creds;
mod pidfile;
mod schedule;
mod stdio;
mod supervisor;

// The start, from the bottom up: the owned plan, the steps that read it, the launch
// that forks, what it hands back, and the builder with its entry points on top.
mod argv;
mod control;
mod daemon;
mod exec;
mod handles;
mod launch;
mod monitor;
mod options;
mod plan;
mod prepare;
mod start;
mod steps;

#[cfg(feature = "std")]
#[doc(hidden)]
pub mod fuzzing;

/// For the `daemonic` command, which shows bytes as this crate does: the length of
/// the printable UTF-8 character `bytes` (not empty) starts with, or 0. Not part of
/// the API.
#[doc(hidden)]
pub fn __printable_len(bytes: &[u8]) -> usize {
    text::utf8_len(bytes)
}

/// For the `daemonic` command: gives `bytes` to `out` as this crate shows them in its
/// messages (UTF-8 as it is, anything else as `\xNN`). Not part of the API.
#[doc(hidden)]
pub fn __show(bytes: &[u8], out: &mut dyn FnMut(&[u8])) {
    text::show(bytes, out)
}

pub use activation::{listen_fds, watchdog_interval};
pub use argv::Program;
pub use control::{status, stop, Status, Stopped};
pub use creds::{Group, Groups, User};
pub use daemon::Daemon;
pub use error::{Error, ErrorKind};
pub use handles::{Fork, NotifyError, Pending, Running};
pub use monitor::{Facility, Restart, Supervision, Syslog};
pub use options::Detach;
pub use path::{CPath, IntoCPath, NulError};
pub use pidfile::{Exit, Pidfile, RunState, Runs};
pub use rustix::io::Errno;
pub use rustix::process::{Pid, Signal};
pub use schedule::{Schedule, Step};
pub use signals::{parse_signal, Disposition, SignalMap, SignalSet};
pub use stdio::Stdio;
pub use supervisor::NotificationFd;
