//! Running a process to its end: its exit *and* the end of its stdout and stderr, as
//! `$(cmd)` waits, within a limit, so that a daemon holding a copy of the caller's
//! pipe shows up as a failure, not a hang. Then what it printed, and assertions on it.
#![allow(dead_code)] // a toolbox: each test binary uses part of it

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process started with its stdout and stderr piped to us.
pub struct Spawned {
    child: Child,
    /// Readable once the process has exited (`None` where the kernel has no pidfd:
    /// then its exit is looked for every 2 ms).
    pidfd: Option<OwnedFd>,
    start: Instant,
}

impl Spawned {
    /// Spawns `cmd` with stdout and stderr piped (stdin as the caller set it).
    pub fn spawn(mut cmd: Command) -> Spawned {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let start = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        // SAFETY: pidfd_open with integer arguments; the PID is our unreaped child's.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
        // SAFETY: a descriptor pidfd_open just returned, owned by nobody else.
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        Spawned {
            child,
            pidfd,
            start,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the exit and the end of both pipes, `limit` after the spawn at most:
    /// then the process is killed, and the error says what was still open.
    pub fn finish_within(mut self, limit: Duration) -> Result<Output, String> {
        let mut pipes = [
            Pipe::new(self.child.stdout.take().unwrap().into()),
            Pipe::new(self.child.stderr.take().unwrap().into()),
        ];
        let status = loop {
            // `try_wait` keeps the status once it has seen it.
            let exited = self.child.try_wait().unwrap();
            let open = pipes.iter().any(|p| p.open);
            match exited {
                Some(status) if !open => break status,
                _ if self.start.elapsed() > limit => {
                    let pid = self.pid();
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(match exited {
                        Some(_) => format!(
                            "process {pid} exited, but its stdout or stderr was still open \
                             {limit:?} after it started: some process (a daemon?) kept a copy"
                        ),
                        None => format!("process {pid} still running {limit:?} after it started"),
                    });
                }
                Some(_) => poll(&pipes, None),
                None if open || self.pidfd.is_some() => poll(&pipes, self.pidfd.as_ref()),
                None => std::thread::sleep(Duration::from_millis(2)),
            }
            pipes.iter_mut().for_each(Pipe::drain);
        };
        let elapsed = self.start.elapsed();
        let [stdout, stderr] = pipes.map(|p| {
            String::from_utf8(p.data).unwrap_or_else(|e| panic!("output is not UTF-8: {e}"))
        });
        Ok(Output {
            code: status.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&status),
            stdout,
            stderr,
            elapsed,
        })
    }
}

/// Runs `cmd` (its stdout and stderr piped; stdin as the caller set it) to its end,
/// `limit` at most (see [`Spawned::finish_within`]); panics past it.
#[track_caller]
pub fn run_with_limit(cmd: Command, limit: Duration) -> Output {
    Spawned::spawn(cmd)
        .finish_within(limit)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits (10 ms at most) for one of the open pipes to be readable or closed, or for
/// the `pidfd` to say that the process exited.
fn poll(pipes: &[Pipe], pidfd: Option<&OwnedFd>) {
    let mut polled: Vec<libc::pollfd> = pipes
        .iter()
        .filter(|p| p.open)
        .map(|p| p.fd.as_raw_fd())
        .chain(pidfd.map(AsRawFd::as_raw_fd))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polled` is a valid array of pollfd for the duration of the call.
    unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 10) };
}

/// One of a process's output pipes, read without blocking.
struct Pipe {
    fd: File,
    data: Vec<u8>,
    open: bool,
}

impl Pipe {
    fn new(fd: OwnedFd) -> Pipe {
        // SAFETY: F_SETFL on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        Pipe {
            fd: fd.into(),
            data: Vec::new(),
            open: true,
        }
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while self.open {
            match self.fd.read(&mut buf) {
                Ok(0) => self.open = false,
                Ok(n) => self.data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("reading a child's output: {e}"),
            }
        }
    }
}

/// How a process ended, and what it printed.
#[derive(Debug)]
pub struct Output {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From the spawn to the exit and the end of its output.
    pub elapsed: Duration,
}

impl Output {
    /// Asserts the exit code, showing everything on failure.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:#?}");
        self
    }

    #[track_caller]
    pub fn no_stdout(&self) -> &Self {
        assert_eq!(self.stdout, "", "unexpected stdout: {self:#?}");
        self
    }

    #[track_caller]
    pub fn no_stderr(&self) -> &Self {
        assert_eq!(self.stderr, "", "unexpected stderr: {self:#?}");
        self
    }

    /// Asserts that stderr is exactly one line, `daemonic: ...`, containing each of
    /// `fragments`.
    #[track_caller]
    pub fn error_line(&self, fragments: &[&str]) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1 && self.stderr.ends_with('\n'),
            "stderr is not exactly one line: {self:#?}"
        );
        assert!(
            lines[0].starts_with("daemonic: "),
            "the error line does not start with `daemonic: `: {self:#?}"
        );
        for fragment in fragments {
            assert!(
                lines[0].contains(fragment),
                "the error line does not contain {fragment:?}: {self:#?}"
            );
        }
        self
    }

    /// [`error_line`](Output::error_line) with one fragment.
    #[track_caller]
    pub fn one_error_line(&self, fragment: &str) -> &Self {
        self.error_line(&[fragment])
    }

    /// Exit 0, nothing on stderr.
    #[track_caller]
    pub fn assert_success(&self) {
        self.code(0).no_stderr();
    }

    /// Exit `code` and one `daemonic: ` line on stderr containing each of `fragments`.
    #[track_caller]
    pub fn assert_failure(&self, code: i32, fragments: &[&str]) {
        self.code(code).error_line(fragments);
    }
}
