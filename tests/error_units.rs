//! Unit tests of the errors the public API gives before anything is forked: what
//! `Daemon::check` refuses, and with which words; how an `Error` shows its context
//! (bytes that are not UTF-8, a context too long for it), its exit code and its
//! `std::io::Error`; and the errors of `Pidfile::open` and `Daemon::restart` that need
//! no daemon.

mod support {
    pub mod proc;
    pub mod test;
    pub mod wait;
}

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use daemonic::{Daemon, Disposition, Errno, Error, ErrorKind, Pidfile, Schedule, Signal, Stdio};
use support::test::Test;

/// The error `check` gives, after checking what every invalid option shares: its
/// kind, no errno, exit code 3.
#[track_caller]
fn refused(daemon: Daemon<'_>) -> Error {
    let err = daemon.check().expect_err("check accepted the options");
    assert_eq!(err.kind(), ErrorKind::InvalidOption, "{err}");
    assert_eq!(err.errno(), None, "{err}");
    assert_eq!(err.exit_code(), 3, "{err}");
    err
}

#[test]
fn check_accepts_the_defaults_and_the_limits_of_each_option() {
    let valid = [
        Daemon::new(),
        Daemon::new().working_directory("/srv"),
        Daemon::new().umask(0o777),
        Daemon::new().output_mode(0o7777),
        Daemon::new().user(u32::MAX - 1).group(u32::MAX - 1),
        // 0, 1 and 2 are always kept: preserving them is no error.
        Daemon::new().preserve_fd(0).preserve_fd(1).preserve_fd(2),
        // The last disposition given counts.
        Daemon::new()
            .signal(Signal::KILL, Disposition::Ignore)
            .signal(Signal::KILL, Disposition::Default),
        Daemon::new().signal(Signal::STOP, Disposition::Default),
        Daemon::new().stdout(Stdio::file("/var/log/app.log")),
    ];
    for (i, daemon) in valid.into_iter().enumerate() {
        assert!(daemon.check().is_ok(), "case {i}: {:?}", daemon.check());
    }
}

#[test]
fn check_refuses_each_invalid_option_in_words() {
    let cases = [
        (
            Daemon::new().working_directory("relative/dir"),
            "working directory relative/dir is not an absolute path",
        ),
        (
            Daemon::new().working_directory("/srv/\0x"),
            "working directory contains a NUL byte",
        ),
        (
            Daemon::new().chroot_directory("/jail\0"),
            "chroot directory contains a NUL byte",
        ),
        (
            Daemon::new().pidfile("/run/\0x"),
            "pidfile path contains a NUL byte",
        ),
        (
            Daemon::new().umask(0o1000),
            "umask 1000 is not between 0 and 0777",
        ),
        (
            Daemon::new().output_mode(0o10000),
            "output mode 10000 is not a file mode",
        ),
        (
            Daemon::new().preserve_fd(-1),
            "cannot preserve descriptor -1",
        ),
        (
            Daemon::new().signal(Signal::KILL, Disposition::Ignore),
            "signal 9 cannot be ignored",
        ),
        (
            Daemon::new().signal(Signal::STOP, Disposition::Ignore),
            "signal 19 cannot be ignored",
        ),
        (
            Daemon::new().user(u32::MAX),
            "id 4294967295 is not a user or group",
        ),
        (
            Daemon::new().group(u32::MAX),
            "id 4294967295 is not a user or group",
        ),
        (
            Daemon::new().stdin(Stdio::file("/in\0")),
            "stdin path contains a NUL byte",
        ),
        (
            Daemon::new().stdout(Stdio::file("/out\0")),
            "stdout path contains a NUL byte",
        ),
        (
            Daemon::new().stderr(Stdio::file("/err\0")),
            "stderr path contains a NUL byte",
        ),
    ];
    for (daemon, why) in cases {
        assert_eq!(
            refused(daemon).to_string(),
            format!("invalid option: {why}")
        );
    }
}

/// The builder remembers the first invalid option it was given; a later valid value
/// for the same option does not clear it.
#[test]
fn the_first_invalid_option_is_the_one_reported() {
    let err = refused(Daemon::new().umask(0o1000).output_mode(0o10000));
    assert!(err.to_string().contains("umask 1000"), "{err}");
    let err = refused(Daemon::new().umask(0o1000).umask(0o022));
    assert!(err.to_string().contains("umask 1000"), "{err}");
}

/// The daemon keeps at most 64 descriptors besides 0-2; the same one twice is one.
#[test]
fn at_most_64_descriptors_are_preserved() {
    let daemon = (100..164).fold(Daemon::new(), Daemon::preserve_fd);
    assert!(daemon.check().is_ok(), "{:?}", daemon.check());
    let again = (100..164).fold(daemon, Daemon::preserve_fd);
    assert!(again.check().is_ok(), "{:?}", again.check());
    let err = refused(again.preserve_fd(164));
    assert_eq!(
        err.to_string(),
        "invalid option: cannot preserve descriptor 164"
    );
}

/// Bytes that are not UTF-8 show as `\xNN`; a context longer than the error holds is
/// cut at a character boundary and ends with `...`.
#[test]
fn the_context_shows_odd_bytes_and_is_cut_whole() {
    let odd = OsStr::from_bytes(b"rel\xffdir");
    let err = refused(Daemon::new().working_directory(odd));
    assert_eq!(
        err.to_string(),
        "invalid option: working directory rel\\xffdir is not an absolute path"
    );

    // A long path keeps its start and its end, cut between whole characters, and
    // the words after it survive.
    for unit in ["a", "é", "日"] {
        let long = unit.repeat(200);
        let shown = refused(Daemon::new().working_directory(long.as_str())).to_string();
        let kept = shown
            .strip_prefix("invalid option: working directory ")
            .and_then(|rest| rest.strip_suffix(" is not an absolute path"))
            .unwrap_or_else(|| panic!("the reason is lost: {shown:?}"));
        let (head, tail) = kept
            .split_once("...")
            .unwrap_or_else(|| panic!("not shortened with `...`: {shown:?}"));
        for part in [head, tail] {
            assert!(
                !part.is_empty()
                    && part.len() < long.len() / 2
                    && part.chars().all(|c| c.to_string() == unit),
                "{unit:?}: {shown:?}"
            );
        }
    }
    let debug = format!("{:?}", refused(Daemon::new().umask(0o1000)));
    assert!(
        debug.contains("InvalidOption") && debug.contains("umask 1000"),
        "{debug}"
    );
}

#[test]
fn errors_become_io_errors_with_their_text() {
    let err = refused(Daemon::new().umask(0o1000));
    let text = err.to_string();
    let io = std::io::Error::from(err);
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
    assert_eq!(io.to_string(), text);

    // With an errno, the kind follows it and the text shows it.
    let err = Pidfile::open("/nonexistent-dir/app.pid").expect_err("opened");
    assert_eq!(err.kind(), ErrorKind::OpenPidfile);
    assert_eq!(err.errno(), Some(Errno::NOENT));
    assert_eq!(err.exit_code(), 3);
    let text = err.to_string();
    assert_eq!(
        text,
        "cannot open pidfile /nonexistent-dir/app.pid: No such file or directory (os error 2)"
    );
    let io = std::io::Error::from(err);
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(io.to_string(), text);
}

#[test]
fn pidfile_open_refuses_paths_that_name_no_file() {
    let err = Pidfile::open("/run/\0x").expect_err("opened");
    assert_eq!(err.kind(), ErrorKind::InvalidOption);
    assert_eq!(
        err.to_string(),
        "invalid option: pidfile path contains a NUL byte"
    );
    let t = Test::new();
    let dir = t.dir.display();
    for path in [format!("{dir}/"), format!("{dir}/."), format!("{dir}/..")] {
        let err = Pidfile::open(path.as_str()).expect_err(&path);
        assert_eq!(err.kind(), ErrorKind::InvalidOption, "{err}");
        assert_eq!(
            err.to_string(),
            format!("invalid option: pidfile path {path} names no file")
        );
    }
}

/// The test's pidfile, naming 4242, locked with `operation` (`LOCK_EX` or `LOCK_SH`)
/// through a file of its own: the lock stays while the file is open.
fn locked_pidfile(t: &Test, operation: i32) -> (PathBuf, File) {
    let path = t.pidfile();
    std::fs::write(&path, "4242\n").unwrap();
    let file = File::open(&path).unwrap();
    // SAFETY: flock on a descriptor we own; the lock goes with `file`.
    assert_eq!(unsafe { libc::flock(file.as_raw_fd(), operation) }, 0);
    (path, file)
}

/// `flock` locks belong to open files, so a second open in this process contends
/// like another process: a lock the named PID does not hold is a stranger's; an
/// empty 0600 file's is a starter's, "already running" (exit code 1).
#[test]
fn pidfile_open_on_a_locked_file_says_already_running() {
    let t = Test::new();
    let (path, _holder) = locked_pidfile(&t, libc::LOCK_EX);
    let err = Pidfile::open(path.as_path()).expect_err("locked twice");
    // 4242 does not hold the lock (this process does): nothing it says is believed.
    assert_eq!(err.kind(), ErrorKind::ForeignLock);
    assert_eq!(err.exit_code(), 3);
    assert_eq!(
        err.to_string(),
        format!("pidfile {} is locked, but not by pid 4242", path.display())
    );

    // Empty and 0600: a starter that has not written its PID yet.
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let err = Pidfile::open(path.as_path()).expect_err("locked twice");
    assert_eq!(err.kind(), ErrorKind::AlreadyRunning { pid: None });
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.to_string(),
        format!(
            "already running (pid unknown; pidfile {} is locked)",
            path.display()
        )
    );
}

/// A shared lock is a status probe, waited out for 100 ms; one that stays is a lock
/// error, not "already running".
#[test]
fn pidfile_open_beside_a_probe_that_stays_is_a_lock_error() {
    let t = Test::new();
    let (path, _probe) = locked_pidfile(&t, libc::LOCK_SH);
    let err = Pidfile::open(path.as_path()).expect_err("locked beside a shared lock");
    assert_eq!(err.kind(), ErrorKind::LockPidfile, "{err}");
    assert_eq!(err.errno(), Some(Errno::AGAIN));
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string()
            .starts_with(&format!("cannot lock pidfile {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn restart_needs_a_pidfile() {
    let err = Daemon::new()
        .restart(&Schedule::signal(Signal::TERM))
        .expect_err("restarted without a pidfile");
    assert_eq!(err.kind(), ErrorKind::InvalidOption);
    assert_eq!(err.exit_code(), 3);
    assert_eq!(err.to_string(), "invalid option: restart needs a pidfile");
}
