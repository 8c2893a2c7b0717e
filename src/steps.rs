//! The daemon's own steps, in daemon(7)'s order, between the fork and the return.
//!
//! Nothing here allocates, formats or takes a lock: after `fork` only
//! async-signal-safe calls are sound. The steps read only the [`Plan`]; a failure is
//! a plain [`Failure`] (the step, a detail, the errno), sent to the original process
//! as integers.

use rustix::fs::Mode;
use rustix::process::{chdir, chroot, setrlimit, umask, Pid, Resource, Rlimit};

use crate::error::ErrorKind;
use crate::failure::Failure;
use crate::plan::Plan;
use crate::{fds, sys};

/// Runs every step of the daemon after the fork(s), in order: signals, chroot,
/// working directory, umask, core limit, the PID, privileges, stdio, descriptors.
pub(crate) fn become_daemon(plan: &mut Plan<'_>, pid: Pid) -> Result<(), Failure> {
    sys::reset_signals(plan.o.signals.ignored().bits(), plan.dispositions).map_err(
        |(sig, errno)| Failure {
            kind: ErrorKind::Signals,
            aux: sig as u16,
            errno: Some(errno),
        },
    )?;
    // chroot first, then chdir: the working directory is inside the new root, and a
    // chdir before the chroot would leave the process outside the jail.
    if let Some(root) = &plan.o.chroot {
        chroot(root.as_c_str()).map_err(Failure::of(ErrorKind::Chroot))?;
    }
    chdir(plan.o.workdir.as_c_str()).map_err(Failure::of(ErrorKind::Chdir))?;
    umask(Mode::from_raw_mode(plan.o.umask));
    if plan.o.prevent_core {
        let zero = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        setrlimit(Resource::Core, zero).map_err(Failure::of(ErrorKind::CoreLimit))?;
    }
    if let Some((pidfile, _)) = &mut plan.pidfile {
        pidfile
            .write_pid(pid)
            .map_err(Failure::of(ErrorKind::WritePidfile))?;
    }
    // With `drop_privileges_at_ready` the start hands the creds to `Pending` instead.
    if let Some(creds) = plan.creds.as_ref().filter(|_| !plan.o.drop_at_ready) {
        // The daemon keeps only the lock: the descriptor that could rewrite the PID
        // goes before the daemon runs as a user who must not (a monitor keeps it,
        // which runs no one else's code).
        if let Some((pidfile, _)) = plan.pidfile.as_mut().filter(|_| !plan.keep_writer) {
            pidfile.close_writer();
        }
        (creds.apply)(creds)?;
    }
    for (stream, &source) in plan.stdio.iter().enumerate() {
        if source >= 0 {
            sys::redirect(source, stream as i32).map_err(|errno| Failure {
                kind: ErrorKind::RedirectStdio,
                aux: stream as u16,
                errno: Some(errno),
            })?;
        }
    }
    fds::close_inherited(&plan.keep).map_err(Failure::of(ErrorKind::CloseFds))
}
