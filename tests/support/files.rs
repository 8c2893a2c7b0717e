//! Files the tests make or look at (pidfiles, FIFOs, modes, locks), the accounts of
//! `/etc/passwd` and `/etc/group`, and the tools found on the machine. Each binary
//! uses only some of it.
#![allow(dead_code)] // a toolbox: each test binary uses part of it

use std::ffi::CString;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What is at `path` (type, mode, inode and, for a regular file, its bytes), to show
/// that a failed start left it as it was. `None` if nothing is there.
pub fn file_state(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    let kind = meta.file_type();
    let content = if kind.is_file() {
        format!("{:?}", fs::read_to_string(path).unwrap())
    } else if kind.is_symlink() {
        format!("symlink to {:?}", fs::read_link(path).unwrap())
    } else if kind.is_fifo() {
        "fifo".to_owned()
    } else {
        "other".to_owned()
    };
    Some(format!(
        "mode {:o} inode {} {content}",
        meta.mode(),
        meta.ino()
    ))
}

/// The permission bits of what is at `path` (a symlink's own, not its target's).
pub fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Whether some process holds an `flock` on the file at `path`.
pub fn is_locked(path: &Path) -> bool {
    let file = File::open(path).unwrap();
    // SAFETY: flock on a descriptor we own; the lock goes with `file`.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
}

/// The PID a pidfile holds, checking its format: decimal digits and a newline, then
/// nothing or a monitor's runs line (`RESTARTS HOW N STATE`, zero-padded to 10, 1, 3
/// and 1 digits, the line padded to 23 bytes).
#[track_caller]
pub fn pidfile_pid(path: &Path) -> i32 {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read pidfile {}: {e}", path.display()));
    let (digits, runs) = text
        .split_once('\n')
        .unwrap_or_else(|| panic!("pidfile content {text:?} lacks its newline"));
    let words: Vec<&str> = runs.trim_end().split(' ').collect();
    let runs_line = matches!(words[..], [n, "0" | "1", c, "0" | "1" | "2"]
        if n.len() == 10 && n.parse::<u32>().is_ok() && c.len() == 3 && c.parse::<u8>().is_ok());
    assert!(
        runs.is_empty() || (runs.len() == 24 && runs.ends_with('\n') && runs_line),
        "pidfile content {text:?}: its second line is not a runs line"
    );
    digits
        .parse()
        .unwrap_or_else(|_| panic!("pidfile content {text:?} is not a PID"))
}

/// A program from PATH or the sbin directories (start-stop-daemon lives in /sbin).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `flock -n P true`'s exit code (1: locked), or `None` without util-linux's flock.
/// Note that flock(1) creates a missing file: call it only on an existing one.
pub fn flock_n(p: &Path) -> Option<i32> {
    let status = Command::new(find_tool("flock")?)
        .arg("-n")
        .arg(p)
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run flock");
    status.code()
}

/// Whether `flock -n P true` succeeds (nobody holds a lock on the file).
#[track_caller]
pub fn flock_free(p: &Path) -> bool {
    flock_n(p).expect("flock(1) (util-linux) is needed") == 0
}

/// An account of /etc/passwd: (uid, primary gid).
pub fn passwd_entry(name: &str) -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("no user {name} in /etc/passwd"))
}

/// The groups of /etc/group: (name, gid, members).
pub fn groups() -> Vec<(String, u32, Vec<String>)> {
    fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() > 3 && !f[0].starts_with('#'))
        .filter_map(|f| {
            let members = f[3].split(',').filter(|m| !m.is_empty());
            Some((
                f[0].to_owned(),
                f[2].parse().ok()?,
                members.map(str::to_owned).collect(),
            ))
        })
        .collect()
}

/// What initgroups(3) gives `user` with primary group `gid`, sorted.
pub fn initgroups(user: &str, gid: u32) -> Vec<u32> {
    let mut set: Vec<u32> = groups()
        .into_iter()
        .filter(|(_, _, members)| members.iter().any(|m| m == user))
        .map(|(_, g, _)| g)
        .chain([gid])
        .collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// The supplementary groups root's launchers have in the tests: root, adm, sudo.
pub const ROOT_GROUPS: [u32; 3] = [0, 4, 27];

/// A group to switch to that is none of [`ROOT_GROUPS`] nor `nobody`'s primary group:
/// (name, gid).
pub fn other_group() -> (String, u32) {
    let (_, nobody_gid) = passwd_entry("nobody");
    groups()
        .into_iter()
        .find(|(_, gid, _)| !ROOT_GROUPS.contains(gid) && *gid != nobody_gid)
        .map(|(name, gid, _)| (name, gid))
        .expect("a group in /etc/group other than 0, 4, 27 and nobody's")
}

/// Writes an executable file (`mode`) holding `text`, through sh(1), so that no
/// descriptor writing it ever exists in the test process. One would leak into any
/// child another test thread forks meanwhile (close-on-exec closes it only at that
/// child's exec), and executing a file someone has open for writing fails with
/// ETXTBSY ("Text file busy"), as CI once saw.
pub fn write_executable(path: &Path, text: &str, mode: u32) {
    let status = Command::new("/bin/sh")
        .args([
            "-c",
            "printf '%s' \"$1\" > \"$2\" && chmod \"$3\" \"$2\"",
            "sh",
            text,
        ])
        .arg(path)
        .arg(format!("{mode:o}"))
        .status()
        .unwrap();
    assert!(status.success(), "writing {}: {status}", path.display());
}

/// Copies the executable `from` to `to` with cp(1), for the same reason as
/// [`write_executable`]. False if it could not.
pub fn copy_executable(from: &Path, to: &Path) -> bool {
    let status = Command::new("cp").arg(from).arg(to).status();
    status.is_ok_and(|s| s.success())
}
