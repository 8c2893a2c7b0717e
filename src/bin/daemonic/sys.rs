//! The command's contact with the C runtime: `main`'s arguments as `CStr`s, the
//! panic handler without std, and the C library link without std.

use core::ffi::{c_char, CStr};

use crate::list::List;

/// The most command-line arguments the command reads, and the most environment
/// entries it passes to a program it starts (its own environment is never counted:
/// `stop` and `status` do not read it).
pub const MAX: usize = 512;

/// A list of C strings: the command's arguments, or the program's environment.
pub type Strings<'a> = List<&'a CStr, MAX>;

/// Appends the strings of the null-terminated array `ptrs` to `list`; `false` when
/// there are more than fit.
///
/// # Safety
/// `ptrs` is null or a null-terminated array of pointers to NUL-terminated strings
/// that live for `'a`, as C's `argv` and `envp` are for the process.
pub unsafe fn fill<'a>(list: &mut Strings<'a>, ptrs: *const *const c_char) -> bool {
    if ptrs.is_null() {
        return true;
    }
    let mut at = 0;
    loop {
        // SAFETY: by the contract, every entry up to the null one is readable.
        let p = unsafe { *ptrs.add(at) };
        if p.is_null() {
            return true;
        }
        // SAFETY: by the contract, `p` is a NUL-terminated string living for 'a.
        if list.push(unsafe { CStr::from_ptr(p) }).is_err() {
            return false;
        }
        at += 1;
    }
}

/// The process's environment, C's `envp`, read only by a command that passes it on
/// (`start`), and only then: its size limits nothing else.
#[derive(Clone, Copy)]
pub struct Environ(*const *const c_char);

impl Environ {
    /// # Safety
    /// As for [`fill`], with strings that live as long as the process.
    pub unsafe fn from_raw(envp: *const *const c_char) -> Environ {
        Environ(envp)
    }

    /// Each `NAME=VALUE` entry, in order.
    pub fn iter(self) -> impl Iterator<Item = &'static CStr> {
        let mut at = 0;
        core::iter::from_fn(move || {
            if self.0.is_null() {
                return None;
            }
            // SAFETY: by `from_raw`'s contract, every entry up to the null one is
            // readable, and each is a NUL-terminated string living for the process.
            let p = unsafe { *self.0.add(at) };
            if p.is_null() {
                return None;
            }
            at += 1;
            // SAFETY: as above.
            Some(unsafe { CStr::from_ptr(p) })
        })
    }
}

// Without std nothing else links the C library, which provides `fork`, `execve`,
// `_exit`, `sigaction` and the C runtime that calls `main`.
#[cfg(not(feature = "std"))]
#[link(name = "c")]
extern "C" {}

#[cfg(not(any(feature = "std", test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // No unwinding and nothing to report to: end at once, as panic=abort would.
    crate::out::write_all(2, b"daemonic: internal error\n");
    exit(70)
}

/// Exits the process with `code`; output is never buffered, so nothing is lost.
#[cfg(not(any(feature = "std", test)))]
fn exit(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// Standard output (1) or standard error (anything else), borrowed for one call.
pub fn stdio(fd: i32) -> rustix::fd::BorrowedFd<'static> {
    // SAFETY: 1 and 2 are only borrowed for a `write`; if closed, it fails with EBADF.
    unsafe { rustix::fd::BorrowedFd::borrow_raw(if fd == 1 { 1 } else { 2 }) }
}

/// The C entry point: `argv` as a `CStr` list, and `envp`, then [`crate::run`]. Not
/// under `cargo test`, where libtest's `main` runs the unit tests.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(
    _argc: core::ffi::c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> core::ffi::c_int {
    // The command finishes its work whatever becomes of its output: a closed pipe is an
    // EPIPE from `write`, not a death halfway through a restart (without std's runtime
    // nothing else ignores SIGPIPE). The daemon still gets the default: a start resets
    // every signal it finds ignored.
    // SAFETY: setting a disposition to SIG_IGN runs no code of ours.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: the C runtime passes null-terminated arrays of NUL-terminated strings
    // that live as long as the process.
    let (mut args, env) = (Strings::new(), unsafe { Environ::from_raw(envp) });
    // SAFETY: as above.
    if !unsafe { fill(&mut args, argv) } {
        crate::out::write_all(2, b"daemonic: more than 512 arguments\n");
        return 3;
    }
    let args = args.as_slice();
    crate::run(args.get(1..).unwrap_or_default(), env)
}
