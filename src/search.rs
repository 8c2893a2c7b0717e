//! Finding the program as `execvp(3)` does, but in the daemon and without
//! allocating: after the chroot, the working directory and the privilege drop, so a
//! relative name or `PATH` entry means what it means to the program, inside its root,
//! and a file its user may not execute is passed over.

use core::ffi::{c_char, CStr};
use rustix::io::Errno;

use crate::sys;

/// The search path of a program whose environment has no `PATH` (musl's default).
const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/bin:/usr/bin";

/// The `PATH` in `env`, or the default; read before the fork.
pub(crate) fn path_of<'p>(env: &[&'p CStr]) -> &'p [u8] {
    env.iter()
        .find_map(|e| e.to_bytes().strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// Executes `name`: as it is if it has a `/` (relative to the working directory),
/// else each `DIR/name` of `path` in turn, as `execvp` does: on past a directory that
/// lacks it (`ENOENT`, `ENOTDIR`) or a file we may not execute (`EACCES`,
/// remembered), stopping at any other failure. Returns only on failure, with the
/// errno `execvp` would leave.
pub(crate) fn execvp(
    name: &CStr,
    path: &[u8],
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> Errno {
    let bytes = name.to_bytes();
    // A byte loop: `contains` inlines a `memchr`, several hundred bytes.
    #[allow(clippy::manual_contains)]
    if bytes.is_empty() || bytes.iter().any(|&b| b == b'/') {
        return sys::execve(name, argv, envp);
    }
    let mut denied = false;
    let mut buf = [0u8; 4096];
    for dir in path.split(|&b| b == b':') {
        // An empty entry is the working directory, as in every shell.
        let slash = usize::from(!dir.is_empty());
        let len = dir.len() + slash + bytes.len();
        if len >= buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()..dir.len() + slash].fill(b'/');
        buf[dir.len() + slash..len].copy_from_slice(bytes);
        buf[len] = 0;
        // `text::c_str`, not `from_bytes_with_nul`, for the same reason.
        let Some(candidate) = crate::text::c_str(&buf[..=len]) else {
            continue; // a NUL inside PATH's entry: no such directory
        };
        match sys::execve(candidate, argv, envp) {
            Errno::ACCESS => denied = true,
            Errno::NOENT | Errno::NOTDIR => {}
            other => return other,
        }
    }
    if denied {
        Errno::ACCESS
    } else {
        Errno::NOENT
    }
}
