//! The minimal example (`main.rs`) plus one capability, chosen by a Cargo feature
//! (`cap-*`, listed in Cargo.toml): `cargo xtask size-report` builds it once per
//! feature and shows what each capability adds. Without a feature it is the minimal
//! example. Turn on one feature at a time; each variant must build and link, none
//! needs to run.
//!
//! ```text
//! cargo build --release --target x86_64-unknown-linux-musl \
//!     --manifest-path examples/no_std_daemon/Cargo.toml --bin no_std_caps --features cap-user
//! ```
#![no_std]
#![no_main]

#[path = "../common.rs"]
mod common;

use core::ffi::{c_char, c_int, CStr};

#[allow(unused_imports)]
use daemonic::{
    Daemon, Detach, Disposition, Fork, Groups, NotificationFd, Pidfile, Program, Schedule, Signal,
    Stdio,
};

/// What `exec` runs.
#[allow(dead_code)]
const SLEEP: Program<'static> = Program {
    path: c"/bin/sleep",
    args: &[c"sleep", c"1000"],
    env: &[],
};

// `#[cfg]`, not `if cfg!()`: without a feature this must be the minimal example's
// code exactly, with nothing else to leave to the optimizer.
#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // As in main.rs, inline: without a feature the optimizer must see the same code.
    let pidfile = if argc > 1 {
        // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`.
        unsafe { CStr::from_ptr(*argv.add(1)) }
    } else {
        c"/tmp/no_std_daemon.pid"
    };
    #[cfg(feature = "cap-pidfile-open")]
    return pidfile_alone(pidfile);
    #[cfg(feature = "cap-status")]
    if let daemonic::Status::Running { .. } = daemonic::status(pidfile) {
        return 0;
    }
    #[cfg(feature = "cap-stop")]
    if daemonic::stop(pidfile, &Schedule::signal(Signal::TERM)).is_err() {
        return 1;
    }
    #[cfg(not(feature = "cap-pidfile-open"))]
    {
        let daemon = Daemon::new().pidfile(pidfile).umask(0o022);
        #[cfg(any(
            feature = "cap-user",
            feature = "cap-user-stdout-file",
            feature = "cap-drop-at-ready"
        ))]
        let daemon = daemon.user("nobody");
        #[cfg(feature = "cap-user-stdout-file")]
        let daemon = daemon.stdout(Stdio::file(c"/tmp/no_std_caps.log"));
        #[cfg(feature = "cap-drop-at-ready")]
        let daemon = daemon.drop_privileges_at_ready(true);
        #[cfg(feature = "cap-socket-activation")]
        let daemon = daemon.detach(Detach::Never).socket_activation(true);
        #[cfg(feature = "cap-group")]
        let daemon = daemon.group("nogroup");
        #[cfg(feature = "cap-supplementary-groups")]
        let daemon = daemon.supplementary_groups(Groups::List(&[65534]));
        #[cfg(feature = "cap-chroot")]
        let daemon = daemon.chroot_directory(c"/");
        #[cfg(feature = "cap-working-directory")]
        let daemon = daemon.working_directory(c"/tmp");
        #[cfg(feature = "cap-stdout-file")]
        let daemon = daemon.stdout(Stdio::file(c"/tmp/no_std_caps.log"));
        #[cfg(feature = "cap-stdin-fd")]
        let daemon = daemon.stdin(Stdio::fd(0));
        #[cfg(feature = "cap-stdin-inherit")]
        let daemon = daemon.stdin(Stdio::inherit());
        #[cfg(feature = "cap-timeout")]
        let daemon = daemon.timeout(core::time::Duration::from_secs(5));
        #[cfg(feature = "cap-sd-notify")]
        let daemon = daemon.sd_notify(true);
        #[cfg(feature = "cap-s6-notification-fd")]
        let daemon = daemon.s6_notification_fd(NotificationFd::Fd(3));
        #[cfg(feature = "cap-preserve-fd")]
        let daemon = daemon.preserve_fd(3);
        #[cfg(feature = "cap-detach-never")]
        let daemon = daemon.detach(Detach::Never);
        #[cfg(feature = "cap-detach-auto")]
        let daemon = daemon.detach(Detach::Auto);
        #[cfg(feature = "cap-signal")]
        let daemon = daemon.signal(Signal::HUP, Disposition::Ignore);
        #[cfg(feature = "cap-prevent-core-off")]
        let daemon = daemon.prevent_core(false);
        #[cfg(feature = "cap-ok-if-running")]
        let daemon = daemon.ok_if_running(true);
        #[cfg(feature = "cap-exec-readiness-fd")]
        let daemon = daemon.readiness_fd(3);
        #[cfg(feature = "cap-exec-await-notify-socket")]
        let daemon = daemon.await_notify_socket(true);

        #[cfg(not(feature = "other-start"))]
        let _running = daemon.start();
        #[cfg(any(feature = "cap-start-pending", feature = "cap-drop-at-ready"))]
        let _running = daemon.start_pending().ready();
        #[cfg(feature = "cap-socket-activation")]
        if daemonic::listen_fds().count() == 0 {
            return 1;
        }
        #[cfg(feature = "cap-fork")]
        return forked(daemon.fork());
        #[cfg(feature = "cap-restart")]
        return forked(daemon.restart(&Schedule::signal(Signal::TERM)));
        #[cfg(any(
            feature = "cap-exec",
            feature = "cap-exec-readiness-fd",
            feature = "cap-exec-await-notify-socket"
        ))]
        return daemon.exec(&SLEEP).map_or(1, |_| 0);
        #[cfg(feature = "cap-supervise")]
        return daemon
            .supervise(&SLEEP, daemonic::Supervision::new())
            .map_or(1, |_| 0);
        #[allow(unreachable_code)]
        loop {
            let hour = rustix::thread::Timespec {
                tv_sec: 3600,
                tv_nsec: 0,
            };
            let _ = rustix::thread::nanosleep(&hour);
        }
    }
}

/// After `fork()` or `restart()`: the original process returns, the daemon reports
/// ready and sleeps.
#[allow(dead_code)]
fn forked(fork: Result<Fork, daemonic::Error>) -> c_int {
    match fork {
        Ok(Fork::Parent(_)) => 0,
        Ok(Fork::Daemon(pending)) => {
            let _running = pending.ready();
            common::sleep_forever()
        }
        Err(_) => 1,
    }
}

/// `Pidfile::open` on its own, without `Daemon`: lock, write our PID, sleep.
#[allow(dead_code)]
fn pidfile_alone(path: &'static CStr) -> c_int {
    let Ok(pidfile) = Pidfile::open(path) else {
        return 1;
    };
    // SAFETY: getpid has no preconditions.
    let pid = daemonic::Pid::from_raw(unsafe { libc::getpid() });
    if pid.is_none_or(|pid| pidfile.write(pid).is_err()) {
        return 1;
    }
    common::sleep_forever()
}
