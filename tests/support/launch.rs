//! The runner's side of a scenario: launching a helper process (this very binary,
//! with the [`Scenario`] in `DAEMONIC_SCENARIO`), waiting for it, and for its daemon's
//! report.
#![allow(dead_code)] // a toolbox: each test binary uses part of it

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::output::{Output, Spawned};
use super::scenario::{Scenario, VAR};
use super::test::{Report, Test};
use super::wait::DEADLINE;

/// The runner's own PID: it is the child subreaper, so orphaned daemons become its children.
pub fn runner_pid() -> i32 {
    std::process::id() as i32
}

impl Test {
    /// A directory to chroot into, with `sub/` and no `/proc`.
    pub fn jail(&self) -> PathBuf {
        let jail = self.path("jail");
        fs::create_dir_all(jail.join("sub")).unwrap();
        jail
    }

    /// A helper process running `scenario` (a `Scenario`, or just a `Call`), whose
    /// daemon reports in the test's `report` file unless the scenario names another.
    pub fn launch(&self, scenario: impl Into<Scenario>) -> Launch<'_> {
        let scenario = scenario.into();
        Launch {
            test: self,
            cmd: self.command(std::env::current_exe().unwrap()),
            report: scenario
                .report
                .clone()
                .unwrap_or_else(|| self.path("report")),
            scenario,
        }
    }
}

/// A helper process to be started.
pub struct Launch<'t> {
    test: &'t Test,
    cmd: Command,
    scenario: Scenario,
    /// Where the daemon's report appears, as the runner sees it.
    report: PathBuf,
}

impl<'t> Launch<'t> {
    /// The default pidfile of the test.
    pub fn pidfile(mut self) -> Self {
        self.scenario.pidfile = Some(self.test.pidfile());
        self
    }

    /// Chroots the daemon into `jail`; its report goes to the jail's `/report`.
    pub fn chroot(mut self, jail: &Path) -> Self {
        self.report = jail.join("report");
        self.scenario.chroot = Some(jail.to_owned());
        self.scenario.report = Some("/report".into());
        self
    }

    /// Where the daemon writes its report: helpers launched at the same time need one
    /// each, as `spawn` recreates the file.
    pub fn report_to(mut self, path: PathBuf) -> Self {
        self.scenario.report = Some(path.clone());
        self.report = path;
        self
    }

    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Self {
        self.cmd.stdin(stdin);
        self
    }

    pub fn spawn(mut self) -> Launched<'t> {
        // A fresh, empty report any user can write: daemons that dropped root too.
        let _ = fs::remove_file(&self.report);
        File::create(&self.report).unwrap();
        fs::set_permissions(&self.report, fs::Permissions::from_mode(0o666)).unwrap();
        let scenario = Scenario {
            report: Some(self.scenario.report.take().unwrap_or(self.report.clone())),
            ..self.scenario
        };
        let encoded = scenario.encode();
        // Whatever is set must reach the helper: a field `encode` forgot fails here.
        assert_eq!(
            Scenario::decode(encoded.as_encoded_bytes()),
            Ok(scenario),
            "the scenario does not survive its encoding"
        );
        self.cmd.env(VAR, encoded);
        Launched {
            test: self.test,
            spawned: Spawned::spawn(self.cmd),
            report: self.report,
        }
    }

    /// Runs the launcher to its end (see [`Launched::finish`]).
    pub fn run(self) -> Output {
        self.spawn().finish()
    }

    /// Runs the launcher, expects it to succeed, and returns the daemon's PID.
    pub fn start(self) -> i32 {
        let launched = self.spawn();
        let (test, report) = (launched.test, launched.report.clone());
        launched.finish().assert_success();
        test.wait_report(&report).pid()
    }
}

/// A running helper process.
pub struct Launched<'t> {
    test: &'t Test,
    spawned: Spawned,
    report: PathBuf,
}

impl Launched<'_> {
    pub fn pid(&self) -> i32 {
        self.spawned.pid()
    }

    /// Waits for the daemon's report (written before it reports ready).
    pub fn report(&self) -> Report {
        self.test.wait_report(&self.report)
    }

    /// Waits for the launcher to exit *and* for its stdout and stderr pipes to reach end
    /// of file, as `$(cmd)` does: a daemon holding a copy of a pipe hangs it.
    pub fn finish(self) -> Output {
        self.finish_within(DEADLINE)
            .unwrap_or_else(|e| panic!("the launcher: {e}"))
    }

    /// [`finish`](Launched::finish), giving up after `limit`: the launcher is killed
    /// then and the error says what was still open.
    pub fn finish_within(self, limit: Duration) -> Result<Output, String> {
        self.spawned.finish_within(limit)
    }
}
