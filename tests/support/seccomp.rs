//! Seccomp filters that make some system calls fail, as old kernels and some
//! container profiles do, so the library's fallbacks run (x86_64 only).

use super::helper::{check, die};

/// Returns early from a test on architectures these filters do not know.
macro_rules! require_x86_64 {
    () => {
        if !cfg!(target_arch = "x86_64") {
            return $crate::support::runner::Outcome::Skipped(
                "needs x86_64 because the seccomp filter is written for it".into(),
            );
        }
    };
}
pub(crate) use require_x86_64;

/// A seccomp filter under which `close_range` fails with EPERM, as under some
/// container profiles, so the library must fall back to its other ways of closing.
#[cfg(target_arch = "x86_64")]
pub(super) fn deny_close_range() {
    deny_syscalls(&[libc::SYS_close_range], libc::EPERM);
    // The filter must bite, or the test would prove nothing.
    // SAFETY: close_range on a range where nothing is open.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, 100_000u32, 100_000u32, 0u32) };
    if ret != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        die("close_range still works under the seccomp filter");
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn deny_close_range() {
    die("the seccomp filter is written for x86_64")
}

/// A seccomp filter under which `pidfd_open` and `pidfd_send_signal` fail with ENOSYS.
#[cfg(target_arch = "x86_64")]
pub(super) fn deny_pidfd() {
    deny_syscalls(
        &[libc::SYS_pidfd_open, libc::SYS_pidfd_send_signal],
        libc::ENOSYS,
    );
    // SAFETY: pidfd_open with integer arguments; a success would leak one descriptor.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if ret != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
        die("pidfd_open still works under the seccomp filter");
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn deny_pidfd() {
    die("the seccomp filter is written for x86_64")
}

/// Installs a seccomp filter making each of `syscalls` fail with `errno` (x86_64).
#[cfg(target_arch = "x86_64")]
fn deny_syscalls(syscalls: &[libc::c_long], errno: i32) {
    use libc::{sock_filter, BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump_if = |k: u32, jt: u8, jf: u8| sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let allow = stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW);
    let deny = stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ERRNO | errno as u32);
    let mut filter = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, 4), // seccomp_data.arch
        jump_if(AUDIT_ARCH_X86_64, 1, 0),
        allow,
        stmt(BPF_LD | BPF_W | BPF_ABS, 0), // seccomp_data.nr
    ];
    for &nr in syscalls {
        // Equal: fall through to the denial; otherwise skip it.
        filter.push(jump_if(nr as u32, 0, 1));
        filter.push(deny);
    }
    filter.push(allow);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `prog` points to `filter`, both alive for the calls; the kernel copies them.
    unsafe {
        check(
            libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ) == 0,
            "no_new_privs",
        );
        check(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::c_ulong::from(libc::SECCOMP_MODE_FILTER),
                &prog as *const libc::sock_fprog,
            ) == 0,
            "seccomp",
        );
    }
}
