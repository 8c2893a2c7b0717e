//! [`Failure`]: a failed step of a start, small enough to return in registers and to
//! send over the readiness channel as integers. After the fork nothing may allocate
//! or format; before it, small errors keep the code small. It becomes an
//! [`Error`](crate::Error) once, where the start knows what it was about
//! ([`Plan::describe`](crate::plan::Plan::describe)).

use rustix::io::Errno;

use crate::error::ErrorKind;

/// The steps that can fail after the fork; a step travels as its index here.
pub(crate) const STEPS: [ErrorKind; 19] = [
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
    // The monitor's, for a first run that failed.
    ErrorKind::Supervise,
    ErrorKind::NotReady,
    ErrorKind::Timeout,
    ErrorKind::ReportedFailure,
];

/// A step that failed after the fork, as plain integers: nothing there may allocate
/// or format. `aux` names a signal or a stream where that matters; `errno` is `None`
/// when no system call failed (privileges that could be regained).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) aux: u16,
    pub(crate) errno: Option<Errno>,
}

impl Failure {
    /// A failure of `kind` with no system call to blame.
    pub(crate) const fn new(kind: ErrorKind) -> Failure {
        Failure {
            kind,
            aux: 0,
            errno: None,
        }
    }

    /// A failed system call of step `kind`.
    pub(crate) const fn os(kind: ErrorKind, errno: Errno) -> Failure {
        Failure {
            kind,
            aux: 0,
            errno: Some(errno),
        }
    }

    /// The failure of step `kind` with `errno`, for `map_err`.
    pub(crate) fn of(kind: ErrorKind) -> impl FnOnce(Errno) -> Failure {
        move |errno| Failure {
            kind,
            aux: 0,
            errno: Some(errno),
        }
    }

    /// The index of this step in [`STEPS`]; past its end (read back as
    /// [`ErrorKind::Died`]) for a kind that is not a step.
    pub(crate) fn step(&self) -> u8 {
        let at = STEPS.iter().position(|&k| k == self.kind);
        at.unwrap_or(STEPS.len()) as u8
    }

    /// The failure a report names; an unknown step is [`ErrorKind::Died`].
    pub(crate) fn from_report(step: u8, aux: u16, errno: i32) -> Failure {
        Failure {
            kind: STEPS
                .get(usize::from(step))
                .copied()
                .unwrap_or(ErrorKind::Died),
            aux,
            // 1..4095 are errnos; 0 says no system call failed.
            errno: (1..4096)
                .contains(&errno)
                .then(|| Errno::from_raw_os_error(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_failure_reads_back_as_its_step() {
        for kind in STEPS.into_iter().chain([ErrorKind::Died]) {
            let f = Failure::os(kind, Errno::IO);
            let back = Failure::from_report(f.step(), 7, Errno::IO.raw_os_error());
            assert_eq!(back.kind, kind);
            assert_eq!(back.errno, Some(Errno::IO));
        }
    }
}
