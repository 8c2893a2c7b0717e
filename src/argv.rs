//! The program's `argv` and `envp`: null-terminated pointer arrays built on the stack
//! before the fork (after it nothing allocates), with the variables daemonic adds.

use core::ffi::{c_char, CStr};

use crate::error::{Error, ErrorKind, Failed};
use crate::stack::Stack;

/// A program for [`Daemon::exec`](crate::Daemon::exec): its path, its arguments
/// (`args[0]` is its name) and its whole environment.
///
/// A path with a `/` is executed as it is (a relative one from the daemon's working
/// directory, inside its chroot); a bare name is looked for in the `PATH` of `env`
/// (else `/usr/local/bin:/bin:/usr/bin`) as `execvp(3)` does, by the daemon once it
/// is in its root, its directory and its user's identity.
///
/// ```
/// let program = daemonic::Program { path: c"/bin/sleep", args: &[c"sleep", c"60"], env: &[] };
/// assert_eq!(program.args.len(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Program<'p> {
    /// The file to execute.
    pub path: &'p CStr,
    /// `argv`, starting with the program's name.
    pub args: &'p [&'p CStr],
    /// `envp`: `NAME=VALUE` entries.
    pub env: &'p [&'p CStr],
}

/// The most arguments and environment entries, together, a program can be given.
pub(crate) const MAX_POINTERS: usize = 1024;

/// The program's `argv` and `envp`, each null-terminated, one after the other in one
/// array on the stack, built before the fork. One array, not two: every stack page a
/// start touches stays resident in a monitor that lives on top of it.
pub(crate) struct Pointers {
    ptrs: Stack<*const c_char, { MAX_POINTERS + 2 }>,
    /// Where `envp` starts, after `argv`'s null; 0 while `argv` is being filled.
    envp_at: usize,
}

impl Pointers {
    pub(crate) fn new() -> Pointers {
        Pointers {
            ptrs: Stack::new(),
            envp_at: 0,
        }
    }

    /// The error, if any, is made in `err`: built as a value it would be copied.
    fn push(&mut self, s: &CStr, err: &mut Error) -> Result<(), Failed> {
        // The slots for the two nulls are not counted.
        let nulls = usize::from(self.envp_at != 0);
        let why: &[u8] = if self.ptrs.len() - nulls == MAX_POINTERS {
            b"more than 1024 arguments and environment entries"
        } else if self.ptrs.push(s.as_ptr()).is_err() {
            b"too many arguments"
        } else {
            return Ok(());
        };
        Err(Error::fill(err, ErrorKind::InvalidOption, None)
            .push_text(why)
            .failed())
    }

    fn end_argv(&mut self) {
        let _ = self.ptrs.push(core::ptr::null());
        self.envp_at = self.ptrs.len();
    }

    /// `argv` and `envp`, each with its terminating null.
    pub(crate) fn arrays(&mut self) -> (&[*const c_char], &[*const c_char]) {
        let _ = self.ptrs.push(core::ptr::null());
        self.ptrs.as_slice().split_at(self.envp_at)
    }
}

/// The variable that tells an exec'd program which descriptor holds the pidfile lock.
const PIDFILE_FD_VAR: &[u8] = b"DAEMONIC_PIDFILE_FD=";

/// What the program's environment gets besides the caller's entries.
pub(crate) struct Additions<'v> {
    /// `DAEMONIC_PIDFILE_FD=N`.
    pub(crate) pidfile_fd: Option<&'v CStr>,
    /// `NOTIFY_SOCKET=...` of the notify listener, replacing the caller's.
    pub(crate) notify_socket: Option<&'v CStr>,
    /// Whether the program runs under another PID than ours, so socket activation's
    /// `LISTEN_*` (which name our PID) do not apply to it.
    pub(crate) detached: bool,
}

/// Fills `argv` and `envp` for `program`, with the `additions`.
pub(crate) fn fill(
    program: &Program<'_>,
    additions: &Additions<'_>,
    pointers: &mut Pointers,
    err: &mut Error,
) -> Result<(), Failed> {
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
        pointers.push(arg, err)?;
    }
    pointers.end_argv();
    let ours = additions.notify_socket.iter().chain(&additions.pidfile_fd);
    for entry in program.env.iter().filter(|e| !replaced(e)).chain(ours) {
        pointers.push(entry, err)?;
    }
    Ok(())
}

/// `DAEMONIC_PIDFILE_FD=N` in `buf`.
pub(crate) fn pidfile_var(fd: i32, buf: &mut Stack<u8, 48>) -> &CStr {
    let mut digits = [0; 20];
    let _ = buf.extend(PIDFILE_FD_VAR);
    let _ = buf.extend(crate::text::decimal(fd as u64, &mut digits));
    let _ = buf.push(0);
    crate::text::c_str(buf.as_slice()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn strings(ptrs: &[*const c_char]) -> std::vec::Vec<&CStr> {
        let (last, rest) = ptrs.split_last().unwrap();
        assert!(last.is_null(), "the array ends with a null pointer");
        // SAFETY: every other pointer came from a live `&CStr` of the test.
        rest.iter().map(|&p| unsafe { CStr::from_ptr(p) }).collect()
    }

    #[test]
    fn argv_and_envp_are_null_terminated_with_our_variables_replacing_the_callers() {
        let program = Program {
            path: c"/bin/true",
            args: &[c"true", c"-x"],
            env: &[
                c"A=1",
                c"DAEMONIC_PIDFILE_FD=99",
                c"NOTIFY_SOCKET=/old",
                c"LISTEN_FDS=2",
            ],
        };
        let additions = Additions {
            pidfile_fd: Some(c"DAEMONIC_PIDFILE_FD=4"),
            notify_socket: Some(c"NOTIFY_SOCKET=@x"),
            detached: true,
        };
        let mut pointers = Pointers::new();
        let mut err = Error::new(ErrorKind::Died);
        fill(&program, &additions, &mut pointers, &mut err).unwrap();
        let (argv, envp) = pointers.arrays();
        assert_eq!(strings(argv), [c"true", c"-x"]);
        assert_eq!(
            strings(envp),
            [c"A=1", c"NOTIFY_SOCKET=@x", c"DAEMONIC_PIDFILE_FD=4"]
        );
    }

    #[test]
    fn too_many_entries_are_an_error_not_a_cut() {
        let many = [c"X=1"; MAX_POINTERS];
        let additions = Additions {
            pidfile_fd: None,
            notify_socket: None,
            detached: false,
        };
        // 1024 in all fit, the arguments counted with the entries; one more does not.
        for (args, fits) in [(&many[..1], true), (&many[..2], false)] {
            let program = Program {
                path: c"/bin/true",
                args,
                env: &many[1..],
            };
            let mut pointers = Pointers::new();
            let mut err = Error::new(ErrorKind::Died);
            match fill(&program, &additions, &mut pointers, &mut err) {
                Ok(()) => {
                    assert!(fits);
                    let (argv, envp) = pointers.arrays();
                    assert_eq!((argv.len(), envp.len()), (2, MAX_POINTERS));
                }
                Err(_) => {
                    assert!(!fits);
                    assert_eq!(err.kind(), ErrorKind::InvalidOption);
                }
            }
        }
    }

    #[test]
    fn the_pidfile_variable_names_the_descriptor() {
        let mut buf = Stack::new();
        assert_eq!(pidfile_var(17, &mut buf), c"DAEMONIC_PIDFILE_FD=17");
    }
}
