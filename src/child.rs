//! The daemon's own steps, in daemon(7)'s order, between the fork and the return.
//!
//! Nothing here allocates, formats or takes a lock: after `fork` only
//! async-signal-safe calls are sound. A failure is a plain [`Failure`] (the step, a
//! detail, the errno), sent to the original process as integers.

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::process::{
    chdir, chroot, getegid, geteuid, getgid, getuid, setrlimit, umask, Pid, Resource, Rlimit, Uid,
};
use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid, set_thread_uid};

use crate::error::ErrorKind;
use rustix::fd::AsRawFd;

use crate::plan::{Exec, Plan};
use crate::{fds, sys};

/// The steps that can fail after the fork; a step travels as its index here.
pub(crate) const STEPS: [ErrorKind; 15] = [
    ErrorKind::Setsid,
    ErrorKind::Fork,
    ErrorKind::Signals,
    ErrorKind::Chroot,
    ErrorKind::Chdir,
    ErrorKind::CoreLimit,
    ErrorKind::WritePidfile,
    ErrorKind::SetGroups,
    ErrorKind::SetGid,
    ErrorKind::SetUid,
    ErrorKind::PrivilegesRegained,
    ErrorKind::RedirectStdio,
    ErrorKind::CloseFds,
    ErrorKind::PassFds,
    ErrorKind::Exec,
];

/// A failed step: `aux` names a signal or a stream where that matters; `errno` is
/// `None` when no system call failed (privileges that could be regained).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) aux: u16,
    pub(crate) errno: Option<Errno>,
}

impl Failure {
    fn new(kind: ErrorKind) -> impl FnOnce(Errno) -> Failure {
        move |errno| Failure {
            kind,
            aux: 0,
            errno: Some(errno),
        }
    }

    /// The index of this step in [`STEPS`].
    pub(crate) fn step(&self) -> u8 {
        STEPS.iter().position(|&k| k == self.kind).unwrap_or(0) as u8
    }
}

/// Runs every step of the daemon after the fork(s), in order: signals, chroot,
/// working directory, umask, core limit, the PID, privileges, stdio, descriptors.
pub(crate) fn become_daemon(plan: &Plan<'_, '_>, pid: Pid) -> Result<(), Failure> {
    let daemon = plan.daemon;
    sys::reset_signals(daemon.signals.mask(), plan.dispositions).map_err(|(sig, errno)| {
        Failure {
            kind: ErrorKind::Signals,
            aux: sig as u16,
            errno: Some(errno),
        }
    })?;
    // chroot first, then chdir: the working directory is inside the new root, and a
    // chdir before the chroot would leave the process outside the jail.
    if let Some(root) = &daemon.chroot {
        chroot(root.as_c_str()).map_err(Failure::new(ErrorKind::Chroot))?;
    }
    chdir(daemon.workdir.as_c_str()).map_err(Failure::new(ErrorKind::Chdir))?;
    umask(Mode::from_raw_mode(daemon.umask));
    if daemon.prevent_core {
        let zero = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        setrlimit(Resource::Core, zero).map_err(Failure::new(ErrorKind::CoreLimit))?;
    }
    if let Some((pidfile, _)) = &plan.pidfile {
        pidfile
            .write_pid(pid)
            .map_err(Failure::new(ErrorKind::WritePidfile))?;
    }
    if let Some(creds) = &plan.creds {
        // Groups first (needs CAP_SETGID), then the gid, then the uid, which gives up
        // the capabilities the other two need. The process has one thread here, so the
        // per-thread syscalls change the whole process.
        set_thread_groups(creds.groups.as_slice()).map_err(Failure::new(ErrorKind::SetGroups))?;
        set_thread_res_gid(creds.gid, creds.gid, creds.gid)
            .map_err(Failure::new(ErrorKind::SetGid))?;
        if let Some(uid) = creds.uid {
            set_thread_res_uid(uid, uid, uid).map_err(Failure::new(ErrorKind::SetUid))?;
            let regained = Failure {
                kind: ErrorKind::PrivilegesRegained,
                aux: 0,
                errno: None,
            };
            if getuid() != uid
                || geteuid() != uid
                || getgid() != creds.gid
                || getegid() != creds.gid
            {
                return Err(regained);
            }
            if !uid.is_root() && set_thread_uid(Uid::ROOT).is_ok() {
                return Err(regained);
            }
        }
    }
    for (stream, &source) in plan.sources.iter().enumerate() {
        if source >= 0 {
            sys::redirect(source, stream as i32).map_err(|errno| Failure {
                kind: ErrorKind::RedirectStdio,
                aux: stream as u16,
                errno: Some(errno),
            })?;
        }
    }
    fds::close_inherited(&plan.keep).map_err(Failure::new(ErrorKind::CloseFds))
}

/// After [`become_daemon`], for [`Daemon::exec`](crate::Daemon::exec): hand the
/// pidfile, the preserved descriptors and the readiness pipe to the program, and
/// execute it. Returns only on failure.
pub(crate) fn exec(plan: &Plan<'_, '_>, exec: &Exec<'_>) -> Failure {
    let pass = |fd| sys::inherit(fd).map_err(Failure::new(ErrorKind::PassFds));
    let passed = (|| {
        // The lock must live exactly as long as the program: it inherits the locked
        // descriptor (not the directory's, which only our own release needs).
        if let Some((pidfile, _)) = &plan.pidfile {
            pass(pidfile.raw_fds()[0])?;
        }
        for &fd in plan.daemon.preserve.as_slice() {
            pass(fd)?;
        }
        if let Some(notify) = &plan.notify {
            sys::dup_onto(
                notify.write.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                notify.number,
            )
            .map_err(Failure::new(ErrorKind::PassFds))?;
        }
        Ok(())
    })();
    if let Err(failure) = passed {
        return failure;
    }
    Failure {
        kind: ErrorKind::Exec,
        aux: 0,
        errno: Some(sys::execve(exec.path, exec.argv, exec.envp)),
    }
}
