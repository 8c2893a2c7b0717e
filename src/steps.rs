//! The daemon's own steps, in daemon(7)'s order, between the fork and the return.
//!
//! Nothing here allocates, formats or takes a lock: after `fork` only
//! async-signal-safe calls are sound. The steps read only the [`Plan`]; a failure is
//! a plain [`Failure`] (the step, a detail, the errno), sent to the original process
//! as integers.

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::process::{chdir, chroot, setrlimit, umask, Pid, Resource, Rlimit};

use crate::error::ErrorKind;
use crate::failure::Failure;
use crate::plan::Plan;
use crate::{fds, sys};

/// Runs every step of the daemon after the fork(s), in order: signals, chroot,
/// working directory, umask, core limit, the PID, privileges, stdio, descriptors.
pub(crate) fn become_daemon(plan: &mut Plan<'_>, pid: Pid) -> Result<(), Failure> {
    let mut at = Failure::new(ErrorKind::Signals);
    match steps(plan, pid, &mut at) {
        Ok(()) => Ok(()),
        Err(errno) => Err(Failure { errno, ..at }),
    }
}

/// The steps of [`become_daemon`]. Each names itself in `at` before it runs, so a
/// failure is only its errno (`None`: no system call failed); one `Failure` is
/// built, by the caller, instead of one at each step.
fn steps(plan: &mut Plan<'_>, pid: Pid, at: &mut Failure) -> Result<(), Option<Errno>> {
    let ignored = plan.o.signals.ignored().bits();
    if let Err((sig, errno)) = sys::reset_signals(ignored, &plan.dispositions) {
        at.aux = sig as u16;
        return Err(Some(errno));
    }
    // chroot first, then chdir: the working directory is inside the new root, and a
    // chdir before the chroot would leave the process outside the jail.
    if let Some(root) = &plan.o.chroot {
        at.kind = ErrorKind::Chroot;
        chroot(root.as_c_str())?;
    }
    at.kind = ErrorKind::Chdir;
    chdir(plan.o.workdir.as_c_str())?;
    umask(Mode::from_raw_mode(plan.o.umask));
    if plan.o.prevent_core {
        let zero = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        at.kind = ErrorKind::CoreLimit;
        setrlimit(Resource::Core, zero)?;
    }
    if let Some((pidfile, _)) = &mut plan.pidfile {
        at.kind = ErrorKind::WritePidfile;
        pidfile.write_pid(pid)?;
    }
    // With `drop_privileges_at_ready` the start hands the creds to `Pending` instead.
    if let Some(creds) = plan.creds.as_ref().filter(|_| !plan.o.drop_at_ready) {
        // The daemon keeps only the lock: the descriptor that could rewrite the PID
        // goes before the daemon runs as a user who must not (a monitor keeps it,
        // which runs no one else's code).
        if let Some((pidfile, _)) = plan.pidfile.as_mut().filter(|_| !plan.keep_writer) {
            pidfile.close_writer();
        }
        if let Err(failure) = (creds.apply)(creds) {
            *at = failure;
            return Err(failure.errno);
        }
    }
    at.kind = ErrorKind::RedirectStdio;
    for (stream, &source) in plan.stdio.iter().enumerate() {
        if source >= 0 {
            at.aux = stream as u16;
            sys::redirect(source, stream as i32)?;
        }
    }
    at.kind = ErrorKind::CloseFds;
    at.aux = 0;
    Ok(fds::close_inherited(&plan.keep)?)
}
