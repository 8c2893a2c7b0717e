//! A process as `/proc` shows it: the one reader of `stat`, `status`, `fd/`, `cmdline`,
//! `environ` and the rest, for every test binary. Each binary reads only some of it.
#![allow(dead_code)] // a toolbox: each test binary uses part of it

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// The fields of `/proc/<pid>/stat` the tests look at.
#[derive(Debug)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    /// When the process started (clock ticks since boot): an exec keeps it, a reused
    /// PID does not have it.
    pub start_time: u64,
}

/// A process, seen through `/proc`.
#[derive(Clone, Copy, Debug)]
pub struct Proc(pub i32);

impl Proc {
    fn path(&self, file: &str) -> String {
        format!("/proc/{}/{file}", self.0)
    }

    fn read(&self, file: &str) -> String {
        let path = self.path(file);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    /// `None` when the process is gone (or was never there).
    pub fn try_stat(&self) -> Option<Stat> {
        let text = fs::read_to_string(self.path("stat")).ok()?;
        // The command name (field 2) may hold spaces and parentheses: skip past it.
        let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
        let num = |i: usize| fields.get(i)?.parse().ok();
        Some(Stat {
            state: fields.first()?.chars().next()?,
            ppid: num(1)?,
            pgrp: num(2)?,
            session: num(3)?,
            tty_nr: num(4)?,
            start_time: fields.get(19)?.parse().ok()?,
        })
    }

    pub fn stat(&self) -> Stat {
        self.try_stat()
            .unwrap_or_else(|| panic!("no process {}", self.0))
    }

    /// Exists and is not a zombie (an exited daemon may wait for a slow reaper, as
    /// some container inits are).
    pub fn alive(&self) -> bool {
        self.try_stat()
            .is_some_and(|s| !matches!(s.state, 'Z' | 'X'))
    }

    pub fn start_time(&self) -> Option<u64> {
        self.try_stat().map(|s| s.start_time)
    }

    /// `/proc/<pid>/status` as name → value (trimmed).
    pub fn status_map(&self) -> BTreeMap<String, String> {
        self.read("status")
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect()
    }

    /// The value of a `/proc/<pid>/status` line, e.g. `status("Umask")` is `"0027"`.
    pub fn status(&self, key: &str) -> String {
        self.status_map()
            .remove(key)
            .unwrap_or_else(|| panic!("no {key} in the status of {}", self.0))
    }

    /// A numeric list of `/proc/<pid>/status` (`Uid`, `Gid`, `Groups`), sorted.
    pub fn ids(&self, key: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .status(key)
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// A signal mask of `/proc/<pid>/status` (`SigIgn`, `SigBlk`, ...).
    pub fn sigmask(&self, key: &str) -> u64 {
        u64::from_str_radix(&self.status(key), 16).unwrap()
    }

    /// Each open descriptor and what it links to (`socket:[N]` for a socket).
    pub fn fds(&self) -> BTreeMap<i32, PathBuf> {
        let dir = self.path("fd");
        fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
            .flatten()
            .filter_map(|e| {
                let fd = e.file_name().to_str()?.parse().ok()?;
                Some((fd, fs::read_link(e.path()).ok()?))
            })
            .collect()
    }

    /// The open flags of a descriptor (`/proc/<pid>/fdinfo/<fd>`, octal).
    pub fn fd_flags(&self, fd: i32) -> i32 {
        let text = self.read(&format!("fdinfo/{fd}"));
        let flags = text.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
        i32::from_str_radix(flags.trim(), 8).unwrap()
    }

    /// Where `/proc/<pid>/<name>` links to (`cwd`, `root`, `exe`).
    pub fn link(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        fs::read_link(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    /// A line of `/proc/<pid>/limits` as "soft hard", e.g. `limit("Max core file size")`.
    pub fn limit(&self, name: &str) -> String {
        let text = self.read("limits");
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        let values: Vec<&str> = line[name.len()..].split_whitespace().collect();
        format!("{} {}", values[0], values[1])
    }

    /// The arguments; none when the process is gone (or in the middle of an exec).
    pub fn cmdline(&self) -> Vec<Vec<u8>> {
        nul_separated(fs::read(self.path("cmdline")).unwrap_or_default())
    }

    pub fn cmdline_text(&self) -> String {
        let args: Vec<String> = self
            .cmdline()
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        args.join(" ")
    }

    /// The environment's entries, panicking if it cannot be read.
    pub fn environ(&self) -> Vec<String> {
        let raw = fs::read(self.path("environ"))
            .unwrap_or_else(|e| panic!("cannot read /proc/{}/environ: {e}", self.0));
        nul_separated(raw)
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    /// Whether the environment holds `entry` (`NAME=value`); false if it cannot be read.
    pub fn has_env(&self, entry: &str) -> bool {
        fs::read(self.path("environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == entry.as_bytes()))
    }
}

fn nul_separated(raw: Vec<u8>) -> Vec<Vec<u8>> {
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether this process runs as root (many tests need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Every process there is.
pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Zombie children of `parent`: exited processes nobody reaped.
pub fn zombie_children(parent: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            Proc(pid)
                .try_stat()
                .is_some_and(|s| s.state == 'Z' && s.ppid == parent)
        })
        .collect()
}
