//! Running the `daemonic` command for a [`Test`]: the binary under test, the programs
//! it starts (found later by the test's marker), and the PIDs they get.
#![allow(dead_code)] // a toolbox: each test binary uses part of it

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use super::files::pidfile_pid;
use super::output::{run_with_limit, Output};
use super::proc::{is_root, Proc};
use super::test::Test;
use super::wait::{wait_until, DEADLINE};

/// The binary under test: `$DAEMONIC_CLI` (CI points it at the static musl build), else
/// the one cargo built for this test.
pub fn bin() -> PathBuf {
    match std::env::var_os("DAEMONIC_CLI") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_daemonic")),
    }
}

/// How to run the binary under test: `$DAEMONIC_CLI_RUNNER` first if set (CI's
/// `qemu-aarch64-static` for the aarch64 build: there is no binfmt_misc, and a shell
/// wrapper would add `PWD` to the environment), then [`bin`].
pub fn invocation() -> Vec<OsString> {
    let runner = std::env::var_os("DAEMONIC_CLI_RUNNER").filter(|r| !r.is_empty());
    runner.into_iter().chain([bin().into_os_string()]).collect()
}

/// Signals qemu-user keeps for itself and its guest cannot un-ignore (host signal 32,
/// the one glibc and musl reserve), as a `SigIgn` mask: none without qemu. The one
/// difference the tests allow an emulated command.
pub fn qemu_reserved_signals() -> u64 {
    let qemu = std::env::var_os("DAEMONIC_CLI_RUNNER")
        .is_some_and(|r| r.to_string_lossy().contains("qemu"));
    if qemu {
        1 << (32 - 1)
    } else {
        0
    }
}

/// A shell command that sends its argument to `$NOTIFY_SOCKET` as one datagram (with
/// python3, which tests that use it check for first).
pub const SD_NOTIFY_SEND: &str =
    "python3 -c 'import os,socket,sys; a=os.environ[\"NOTIFY_SOCKET\"]; \
     s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); \
     s.sendto(sys.argv[1].encode(), \"\\0\"+a[1:] if a[0]==\"@\" else a)'";

/// For libtest's tests, which cannot say "skipped": prints the skip line and says
/// whether the test must stop here.
pub fn skip_unless_root(name: &str, why: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("skipped: {name} needs root because {why}");
    true
}

/// Builds an `OsString` from raw bytes (for arguments that are not UTF-8).
pub fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_owned()
}

impl Test {
    /// `/bin/sleep <marker>`.
    pub fn sleep(&self) -> Vec<OsString> {
        vec!["/bin/sleep".into(), self.marker.clone().into()]
    }

    /// `/bin/sh -c <body> <marker>`: `$0` is the marker, so the body ends with
    /// `exec sleep "$0"` to leave a findable program running.
    pub fn script(&self, body: &str) -> Vec<OsString> {
        vec![
            "/bin/sh".into(),
            "-c".into(),
            body.into(),
            self.marker.clone().into(),
        ]
    }

    /// The command under test with `args`, stdin `/dev/null`.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Command {
        self.execs.store(true, Ordering::SeqCst);
        let invocation = invocation();
        let mut cmd = Command::new(&invocation[0]);
        cmd.args(&invocation[1..]).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs the command under test with `args`.
    pub fn run<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Output {
        run_with_limit(self.cmd(args), DEADLINE)
    }

    /// `daemonic start [options] --pidfile <pidfile> -- <program>`.
    pub fn start(&self, options: &[&str], pidfile: &Path, program: &[OsString]) -> Output {
        run_with_limit(self.start_cmd(options, pidfile, program), DEADLINE)
    }

    pub fn start_cmd(&self, options: &[&str], pidfile: &Path, program: &[OsString]) -> Command {
        let mut args: Vec<OsString> = vec!["start".into()];
        args.extend(options.iter().map(OsString::from));
        args.extend([
            "--pidfile".into(),
            pidfile.as_os_str().to_owned(),
            "--".into(),
        ]);
        args.extend(program.iter().cloned());
        self.cmd(args)
    }

    /// Starts `/bin/sleep <marker>` with `options` and the usual pidfile, asserts it
    /// started, and returns its PID (read from the pidfile, and learned).
    pub fn start_sleep(&self, options: &[&str]) -> i32 {
        let out = self.start(options, &self.pidfile(), &self.sleep());
        out.code(0).no_stderr();
        self.daemon_pid(&self.pidfile())
    }

    /// The PID a pidfile names (`<pid>\n`); panics if it names none. The PID is
    /// learned (killed at the end of the test).
    #[track_caller]
    pub fn daemon_pid(&self, pidfile: &Path) -> i32 {
        let pid = pidfile_pid(pidfile);
        assert!(pid > 1, "pidfile names {pid}");
        self.learn(pid);
        // Right after the exec the kernel may not have set up the new cmdline and
        // environment yet: wait until /proc shows the program (all carry the marker).
        let marker = self.marker.as_bytes();
        wait_until(&format!("pid {pid} to show the test's program"), || {
            if Proc(pid).cmdline().iter().any(|a| a == marker) {
                Ok(())
            } else {
                Err(Proc(pid).cmdline_text())
            }
        });
        pid
    }
}
