//! The size floor of daemonic's minimal start (`Daemon::new().pidfile(p).umask(0o022)
//! .start()`): the same steps and checks, flat, without the library's structure.
//! Usage: no_std_floor [PIDFILE] (default /tmp/floor.pid).
#![no_std]
#![no_main]
#![allow(static_mut_refs)]

use core::ffi::{c_char, c_int, CStr};
use core::mem::MaybeUninit;
use rustix::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use rustix::fs::{self, AtFlags, FlockOperation as Fl, Mode, OFlags, Stat};
use rustix::io::{self as rio, Errno};
use rustix::process::{self as pr, Pid, Signal};

#[link(name = "c")]
extern "C" {
    fn _Fork() -> c_int;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

// ---- failures: a text's index (low byte) and a value (errno, PID, count) above ----
type F = u32;
const RETRY: F = u32::MAX;
const NOFILE: u8 = 0;
const OPEN: u8 = 1;
const LOCK: u8 = 2;
const READ: u8 = 3;
const WRITE: u8 = 4;
const RUNNING_PID: u8 = 5;
const RUNNING: u8 = 6;
const FOREIGN_PID: u8 = 7;
const FOREIGN: u8 = 8;
const SYMLINK: u8 = 9;
const DIRECTORY: u8 = 10;
#[cfg(feature = "checks")]
const NOT_REGULAR: u8 = 11;
const NOT_PIDLIKE: u8 = 16;
const PATHFUL: u8 = 16; // texts up to here name the pidfile
#[cfg(feature = "proc-status")]
const THREADS: u8 = 17;
const SOCKETPAIR: u8 = 18;
const DEVNULL: u8 = 19;
const FORK: u8 = 20;
const SETSID: u8 = 21;
const SIGNALS: u8 = 22;
const CHDIR: u8 = 23;
const CORE: u8 = 24;
const STDIO: u8 = 25;
const DIED: u8 = 26;
const CHANNEL: u8 = 27;

/// The texts, NUL-separated; `\x01` is where the value goes, else a nonzero value is
/// an errno.
const TEXTS: &[u8] = b"pidfile path names no file\0cannot open pidfile\0cannot lock pidfile\0\
cannot read pidfile\0cannot write pidfile\0already running (pid \x01)\0already running\0\
pidfile is locked, but not by pid \x01\0pidfile is locked by a process that wrote no PID\0\
refusing pidfile: a symbolic link\0refusing pidfile: a directory\0\
refusing pidfile: not a regular file\0refusing pidfile: more than one hard link\0\
refusing pidfile: owned by another user\0refusing pidfile: writable by others\0\
refusing pidfile: writable by its group\0refusing pidfile: holds something other than a PID\0\
refusing to fork a process with \x01 threads\0socketpair\0cannot open /dev/null\0\
cannot fork\0cannot create a new session\0cannot reset signals\0\
cannot change directory to /\0cannot disable core dumps\0cannot redirect stdio\0\
the daemon exited before reporting readiness\0\
readiness channel failed\0";

/// errno 1..=40's names.
const ENAMES: &[u8] = b"EPERM\0ENOENT\0ESRCH\0EINTR\0EIO\0ENXIO\0E2BIG\0ENOEXEC\0EBADF\0ECHILD\0\
EAGAIN\0ENOMEM\0EACCES\0EFAULT\0ENOTBLK\0EBUSY\0EEXIST\0EXDEV\0ENODEV\0ENOTDIR\0EISDIR\0\
EINVAL\0ENFILE\0EMFILE\0ENOTTY\0ETXTBSY\0EFBIG\0ENOSPC\0ESPIPE\0EROFS\0EMLINK\0EPIPE\0EDOM\0\
ERANGE\0EDEADLK\0ENAMETOOLONG\0ENOLCK\0ENOSYS\0ENOTEMPTY\0ELOOP\0";

fn fail(code: u8, val: u32) -> F {
    code as u32 | val << 8
}
fn os(code: u8, e: Errno) -> F {
    fail(code, e.raw_os_error() as u32)
}

// ---- what the start keeps ----
const CAP: usize = 48;
static mut PATH: &CStr = c"/tmp/floor.pid";
static mut NAME: &CStr = c"";
static mut DIR: i32 = libc::AT_FDCWD;
static mut LOCK_FD: i32 = -1;
static mut WRITER: i32 = -1;
static mut NULL: i32 = -1;
static mut CREATED: bool = false;
static mut CONTENT: [u8; CAP + 1] = [0; CAP + 1];
static mut CLEN: usize = 0;
static mut OLD_MODE: u32 = 0; // 0: unchanged
static mut CH: [i32; 4] = [-1; 4]; // reports (daemon's, ours), verdicts (ours, intermediate's)
#[cfg(feature = "proc-status")]
static mut DISP: Option<[u64; 3]> = None; // SigIgn, SigCgt, SigBlk

fn b<'a>(fd: i32) -> BorrowedFd<'a> {
    // repr(transparent) over the number; borrow_raw would assert on every call.
    // SAFETY: BorrowedFd is repr(transparent) over the number; every number passed here is an open descriptor this process owns while the borrow is used.
    unsafe { core::mem::transmute(fd) }
}
fn at<'a>() -> BorrowedFd<'a> {
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    b(unsafe { DIR })
}
fn name() -> &'static CStr {
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    unsafe { NAME }
}
fn errno() -> Errno {
    // SAFETY: the pointer is this thread's errno, valid to read.
    Errno::from_raw_os_error(unsafe { *libc::__errno_location() })
}
fn sys(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}
fn same(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}
fn above(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() >= 3 {
        return Ok(fd);
    }
    rio::fcntl_dupfd_cloexec(&fd, 3)
}
fn dec(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = 20;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}
/// Digits in `radix`, at least one, no overflow.
fn num(t: &[u8], radix: u32) -> Option<u64> {
    if t.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in t {
        let d = (c as char).to_digit(radix)?;
        n = n.checked_mul(radix as u64)?.checked_add(d as u64)?;
    }
    Some(n)
}
/// An appender for the line on stderr and the paths and ids we build.
struct Buf {
    b: [u8; 512],
    n: usize,
}

impl Buf {
    #[inline(never)]
    fn new() -> Buf {
        Buf { b: [0; 512], n: 0 }
    }
    #[inline(never)]
    fn put(&mut self, s: &[u8]) -> &mut Buf {
        for &c in s {
            if self.n < 511 {
                self.b[self.n] = c;
                self.n += 1;
            }
        }
        self
    }
    fn num(&mut self, n: u64) -> &mut Buf {
        let mut d = [0; 20];
        self.put(dec(n, &mut d))
    }
    fn bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }
    /// What was put, which ends with its only NUL, as a C string.
    fn c(&self) -> &CStr {
        // SAFETY: callers put one NUL, last (the paths come from C strings).
        unsafe { CStr::from_bytes_with_nul_unchecked(self.bytes()) }
    }
}

fn nth(list: &'static [u8], mut i: usize) -> &'static [u8] {
    let mut start = 0;
    for (j, &c) in list.iter().enumerate() {
        if c == 0 {
            if i == 0 {
                return &list[start..j];
            }
            i -= 1;
            start = j + 1;
        }
    }
    b""
}

// ---- /proc/thread-self/status ----
#[cfg(feature = "proc-status")]
fn status() -> Option<(u64, [u64; 3])> {
    let f = fs::open(c"/proc/thread-self/status", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut buf = [0u8; 4096];
    let n = loop {
        match rio::read(&f, &mut buf) {
            Err(Errno::INTR) => continue,
            r => break r.ok()?,
        }
    };
    let t = &buf[..n];
    let field = |key: &[u8], radix| {
        let v = t.split(|&c| c == b'\n').find_map(|l| l.strip_prefix(key))?;
        num(v.trim_ascii(), radix)
    };
    Some((
        field(b"Threads:", 10)?,
        [field(b"SigIgn:", 16)?, field(b"SigCgt:", 16)?, field(b"SigBlk:", 16)?],
    ))
}

// ---- who holds the lock, from /proc (holder.rs) ----
#[cfg(feature = "holder")]
fn has(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

/// ` MAJ:MIN:INO ` as lock lines show a file (`%02x:%02x:%lu`).
#[cfg(feature = "holder")]
fn file_id(st: &Stat) -> Buf {
    let mut id = Buf::new();
    id.put(b" ");
    for v in [fs::major(st.st_dev), fs::minor(st.st_dev)] {
        let mut shift = 28;
        while shift > 4 && v >> shift == 0 {
            shift -= 4;
        }
        loop {
            id.put(&[b"0123456789abcdef"[(v >> shift & 15) as usize]]);
            if shift == 0 {
                break;
            }
            shift -= 4;
        }
        id.put(b":");
    }
    id.num(st.st_ino).put(b" ");
    id
}

/// Whether a line of `fd` (with `lock:` first, for fdinfo) is an exclusive flock on `id`.
#[cfg(feature = "holder")]
fn any_line(fd: BorrowedFd<'_>, id: &[u8], fdinfo: bool) -> Result<bool, Errno> {
    let mut buf = [0u8; 4096];
    let mut line = [0u8; 128];
    let mut len = 0;
    let found = |l: &[u8]| {
        (!fdinfo || l.starts_with(b"lock:"))
            && has(l, b" FLOCK ")
            && has(l, b" WRITE ")
            && has(l, id)
            && !has(l, b" -> ")
    };
    loop {
        let n = match rio::read(fd, &mut buf) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        for &c in &buf[..n] {
            if c == b'\n' {
                if len <= 128 && found(&line[..len]) {
                    return Ok(true);
                }
                len = 0;
            } else if len < 128 {
                line[len] = c;
                len += 1;
            } else {
                len = 129;
            }
        }
        if n == 0 {
            return Ok(len <= 128 && found(&line[..len]));
        }
    }
}

/// Calls `each` with every numeric entry of the directory `path` until it says stop
/// (a nonzero value, returned).
fn entries(path: &CStr, each: &mut dyn FnMut(i32, &CStr, BorrowedFd<'_>) -> u8) -> Result<u8, Errno> {
    let dir = fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
    let mut it = fs::RawDir::new(&dir, &mut buf);
    while let Some(e) = it.next() {
        let e = e?;
        let name = e.file_name();
        if let Some(n) = num(name.to_bytes(), 10).filter(|&n| n <= i32::MAX as u64) {
            let r = each(n as i32, name, b(dir.as_raw_fd()));
            if r != 0 {
                return Ok(r);
            }
        }
    }
    Ok(0)
}

/// Whether process `pid` holds an exclusive flock on the file `st` describes.
#[cfg(feature = "holder")]
fn holds(pid: i32, st: &Stat) -> Result<bool, Errno> {
    let id = file_id(st);
    let mut path = Buf::new();
    path.put(b"/proc/").num(pid as u64).put(b"/fdinfo\0");
    let mut err = Errno::NOENT;
    let r = entries(path.c(), &mut |_, name, dir| {
        let Ok(info) = fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
            return 0;
        };
        match any_line(b(info.as_raw_fd()), id.bytes(), true) {
            Ok(false) | Err(Errno::NOENT) => 0,
            Ok(true) => 1,
            Err(e) => {
                err = e;
                2
            }
        }
    });
    match r {
        Ok(0) => Ok(false),
        Ok(1) => Ok(true),
        Err(Errno::NOENT) => Err(Errno::SRCH),
        Err(e) => Err(e),
        Ok(_) => Err(err),
    }
}
#[cfg(not(feature = "holder"))]
fn holds(_: i32, _: &Stat) -> Result<bool, Errno> {
    Ok(true)
}

/// Whether anyone holds an exclusive flock on the file, from /proc/locks.
#[cfg(feature = "holder")]
fn locked(st: &Stat) -> Option<bool> {
    let id = file_id(st);
    let f = fs::open(c"/proc/locks", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    any_line(b(f.as_raw_fd()), id.bytes(), false).ok()
}
#[cfg(not(feature = "holder"))]
fn locked(_: &Stat) -> Option<bool> {
    None
}

// ---- the pidfile (pidfile/take.rs, pidfile/mod.rs) ----

/// The PID the file names (FHS: blank lines, the PID's, digits and blanks after).
fn read_pid(fd: BorrowedFd<'_>) -> Option<i32> {
    let mut buf = [0u8; CAP + 1];
    let n = rio::pread(fd, &mut buf, 0).ok()?;
    if n > CAP {
        return None;
    }
    let s = buf[..n].trim_ascii_start();
    let end = s.iter().position(|&c| c == b'\n').unwrap_or(s.len());
    let pid = num(s[..end].trim_ascii(), 10).filter(|&p| p > 0 && p <= i32::MAX as u64)?;
    s[end..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_whitespace()).then_some(pid as i32)
}

fn refused_open(e: Errno) -> F {
    match e {
        Errno::LOOP => fail(SYMLINK, 0),
        Errno::ISDIR => fail(DIRECTORY, 0),
        e => os(OPEN, e),
    }
}

/// A pidfile we may not open: "running" when only its owner may and it is locked.
#[cold]
fn not_ours() -> F {
    match fs::statat(at(), name(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if st.st_mode & 0o077 == 0 && locked(&st) == Some(true) => fail(RUNNING, 0),
        _ => os(OPEN, Errno::ACCESS),
    }
}

#[cold]
fn locked_by(file: BorrowedFd<'_>, st: &Stat) -> F {
    let pid = read_pid(file);
    if let Some(p) = pid {
        if p != pr::getpid().as_raw_nonzero().get() {
            match holds(p, st) {
                Ok(false) | Err(Errno::SRCH) => {}
                _ => return fail(RUNNING_PID, p as u32),
            }
        }
    }
    if st.st_mode & 0o077 == 0 {
        fail(RUNNING, 0)
    } else {
        match pid {
            Some(p) => fail(FOREIGN_PID, p as u32),
            None => fail(FOREIGN, 0),
        }
    }
}

#[cfg(feature = "checks")]
fn check(st: &Stat, created: bool) -> Result<(), F> {
    let why = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG if st.st_nlink != 1 => 12,
        libc::S_IFREG if st.st_uid != 0 && st.st_uid != pr::geteuid().as_raw() => 13,
        libc::S_IFREG if !created && st.st_mode & 0o002 != 0 => 14,
        libc::S_IFREG if !created && st.st_mode & 0o020 != 0 => 15,
        libc::S_IFREG => return Ok(()),
        libc::S_IFDIR => DIRECTORY,
        _ => NOT_REGULAR,
    };
    Err(fail(why, 0))
}

/// Takes the exclusive lock; `Ok(false)` when a daemon holds it. A prober's shared
/// lock is waited out (500 × 200 µs).
fn lock_exclusive(f: BorrowedFd<'_>) -> Result<bool, Errno> {
    #[cfg(feature = "probe-retries")]
    {
        for _ in 0..500 {
            match fs::flock(f, Fl::NonBlockingLockExclusive) {
                Ok(()) => return Ok(true),
                Err(Errno::WOULDBLOCK) => {}
                Err(e) => return Err(e),
            }
            match fs::flock(f, Fl::NonBlockingLockShared) {
                Err(Errno::WOULDBLOCK) => return Ok(false),
                Err(e) => return Err(e),
                Ok(()) => fs::flock(f, Fl::Unlock)?,
            }
            let _ = rustix::thread::nanosleep(&rustix::thread::Timespec { tv_sec: 0, tv_nsec: 200_000 });
        }
        Err(Errno::AGAIN)
    }
    #[cfg(not(feature = "probe-retries"))]
    match fs::flock(f, Fl::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cold]
fn unlink_created(ours: &Stat) {
    if let Ok(now) = fs::statat(at(), name(), AtFlags::SYMLINK_NOFOLLOW) {
        if same(&now, ours) {
            let _ = fs::unlinkat(at(), name(), AtFlags::empty());
        }
    }
}

/// One attempt: open (creating it exclusively), check, lock, check the path still
/// names it, remember what it held, set its mode.
fn take() -> Result<(), F> {
    let fl = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let (file, created) = match fs::openat(at(), name(), fl | OFlags::CREATE | OFlags::EXCL, Mode::from_raw_mode(0o600)) {
        Ok(f) => (f, true),
        Err(Errno::EXIST) => match fs::openat(at(), name(), fl, Mode::empty()) {
            Ok(f) => (f, false),
            Err(Errno::NOENT) => return Err(RETRY),
            Err(Errno::ACCESS) => return Err(not_ours()),
            Err(e) => return Err(refused_open(e)),
        },
        Err(e) => return Err(refused_open(e)),
    };
    let st = fs::fstat(&file).map_err(|e| os(OPEN, e))?;
    let file = match above(file) {
        Ok(f) => f,
        Err(e) => {
            if created {
                unlink_created(&st);
            }
            return Err(os(OPEN, e));
        }
    };
    if st.st_nlink == 0 {
        return Err(RETRY);
    }
    #[cfg(feature = "checks")]
    check(&st, created)?;
    let fd = b(file.as_raw_fd());
    if !lock_exclusive(fd).map_err(|e| os(LOCK, e))? {
        return Err(locked_by(fd, &st));
    }
    #[cfg(feature = "path-retries")]
    match fs::statat(at(), name(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now) if same(&now, &st) => {}
        Ok(_) | Err(Errno::NOENT) => return Err(RETRY),
        Err(e) => return Err(os(OPEN, e)),
    }
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    unsafe {
        CREATED = created;
        CLEN = 0;
        OLD_MODE = 0;
        if st.st_size > 0 {
            let n = rio::pread(fd, &mut CONTENT, 0).map_err(|e| os(READ, e))?;
            #[cfg(feature = "checks")]
            if n > CAP || !CONTENT[..n].iter().all(|c| c.is_ascii_digit() || c.is_ascii_whitespace()) {
                return Err(fail(NOT_PIDLIKE, 0));
            }
            CLEN = n.min(CAP);
        }
        let mode = st.st_mode & 0o7777;
        if mode != 0o600 {
            fs::fchmod(fd, Mode::from_raw_mode(0o600)).map_err(|e| os(OPEN, e))?;
            OLD_MODE = mode | 0o10000;
        }
        LOCK_FD = file.into_raw_fd();
    }
    Ok(())
}

/// Finds the file's directory (a relative path: the daemon changes directory) and
/// takes the file, starting over (64 times) while the path changes under us.
fn take_pidfile() -> Result<(), F> {
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    let path = unsafe { PATH }.to_bytes_with_nul();
    let at = path.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
    if let [0] | [b'.', 0] | [b'.', b'.', 0] = path[at..] {
        return Err(fail(NOFILE, 0));
    }
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    unsafe {
        NAME = PATH;
        if path[0] != b'/' {
            let mut dir = [0u8; 4097];
            let part = &path[..at.saturating_sub(1).min(4096)];
            dir[..part.len()].copy_from_slice(part);
            if part.is_empty() {
                dir[0] = b'.';
            }
            let len = part.len().max(1);
            let d = fs::open(
                CStr::from_bytes_with_nul_unchecked(&dir[..=len]),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            );
            DIR = d.and_then(above).map_err(|e| os(OPEN, e))?.into_raw_fd();
            NAME = CStr::from_bytes_with_nul_unchecked(&path[at..]);
        }
    }
    let attempts = if cfg!(feature = "path-retries") { 64 } else { 1 };
    for _ in 0..attempts {
        match take() {
            Err(RETRY) => {}
            r => return r,
        }
    }
    Err(os(LOCK, Errno::AGAIN))
}

/// The write-only descriptor, through /proc/self/fd (the very inode), else by name
/// checked with fstat; emptied if the file held an old PID.
fn open_writer() -> Result<(), F> {
    let fl = OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let by_name = || {
        let w = fs::openat(at(), name(), fl | OFlags::NOFOLLOW, Mode::empty()).map_err(|e| os(OPEN, e))?;
        // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
        match (fs::fstat(&w), fs::fstat(b(unsafe { LOCK_FD }))) {
            (Ok(x), Ok(y)) if same(&x, &y) => Ok(w),
            _ => Err(os(OPEN, Errno::STALE)),
        }
    };
    #[cfg(feature = "proc-writer")]
    let w = {
        let mut p = Buf::new();
        // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
        p.put(b"/proc/self/fd/").num(unsafe { LOCK_FD } as u64).put(b"\0");
        match fs::open(p.c(), fl, Mode::empty()) {
            Ok(w) => w,
            Err(Errno::NOENT | Errno::NOTDIR) => by_name()?,
            Err(e) => return Err(os(OPEN, e)),
        }
    };
    #[cfg(not(feature = "proc-writer"))]
    let w = by_name()?;
    let w = above(w).map_err(|e| os(OPEN, e))?;
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    if unsafe { CLEN } > 0 {
        fs::ftruncate(&w, 0).map_err(|e| os(WRITE, e))?;
    }
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    unsafe { WRITER = w.into_raw_fd() };
    Ok(())
}

/// Puts back what the pidfile held before a failed start, and unlocks it.
fn restore() {
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    unsafe {
        let lock = b(LOCK_FD);
        if CREATED {
            if let Ok(st) = fs::fstat(lock) {
                if matches!(fs::statat(at(), name(), AtFlags::SYMLINK_NOFOLLOW), Ok(now) if same(&now, &st)) {
                    if let Err(Errno::ACCESS | Errno::PERM | Errno::ROFS) = fs::unlinkat(at(), name(), AtFlags::empty()) {
                        if WRITER >= 0 {
                            let _ = fs::ftruncate(b(WRITER), 0);
                        }
                    }
                }
            }
        } else {
            #[cfg(feature = "restore")]
            {
                if WRITER >= 0 {
                    let _ = rio::pwrite(b(WRITER), &CONTENT[..CLEN], 0);
                    let _ = fs::ftruncate(b(WRITER), CLEN as u64);
                }
                if OLD_MODE != 0 {
                    let _ = fs::fchmod(lock, Mode::from_raw_mode(OLD_MODE & 0o7777));
                }
            }
        }
        let _ = fs::flock(lock, Fl::Unlock);
    }
}

// ---- the daemon's steps (steps.rs, sys/signals.rs, fds.rs) ----
const IGNORE: u64 = 0b111 << 19; // SIGTSTP, SIGTTIN, SIGTTOU

fn reset_signals() -> Result<(), Errno> {
    #[cfg(feature = "proc-status")]
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    let now = unsafe { DISP };
    #[cfg(not(feature = "proc-status"))]
    let now: Option<[u64; 3]> = None;
    for sig in 1..65 {
        let bit = 1u64 << (sig - 1);
        let want = IGNORE & bit != 0;
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let (ign, cgt) = match now {
            Some(d) => (d[0] & bit != 0, d[1] & bit != 0),
            None => (true, true),
        };
        if want == ign && !cgt {
            continue;
        }
        if (32..=34).contains(&sig) && !ign {
            continue; // musl's own (nothing here asks to ignore them)
        }
        let action = [if want { libc::SIG_IGN as u64 } else { 0 }, 0, 0, 0];
        // SAFETY: a raw system call whose pointers are to live locals of the right size.
        sys(unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, action.as_ptr(), 0usize, 8usize) })?;
    }
    if matches!(now, Some(d) if d[2] == 0) {
        return Ok(());
    }
    let set = 0u64;
    // SAFETY: a raw system call whose pointers are to live locals of the right size.
    sys(unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &set, 0usize, 8usize) })
}

fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: a raw system call whose pointers are to live locals of the right size.
    sys(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) })
}

/// Closes every descriptor above 2 but the lock, its directory and the report end:
/// close_range over the gaps; else a walk of /proc/self/fd; else every number below
/// RLIMIT_NOFILE.
fn close_inherited() {
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    let mut keep = unsafe { [LOCK_FD, DIR, CH[0]] };
    keep.sort_unstable();
    let kept = |fd: i32| fd < 3 || keep.contains(&fd);
    let gaps = || {
        let mut first = 3u32;
        for &fd in &keep {
            if fd >= first as i32 {
                if fd as u32 > first {
                    close_range(first, fd as u32 - 1)?;
                }
                first = fd as u32 + 1;
            }
        }
        close_range(first, u32::MAX)
    };
    if gaps().is_ok() {
        return;
    }
    let walked = entries(c"/proc/self/fd", &mut |fd, _, dir| {
        if fd != dir.as_raw_fd() && !kept(fd) {
            // SAFETY: closes a descriptor this process owns and no longer uses.
            unsafe { libc::close(fd) };
        }
        0
    });
    if walked.is_ok() {
        return;
    }
    let end = pr::getrlimit(pr::Resource::Nofile).current.unwrap_or(1 << 20).min(i32::MAX as u64) as i32;
    for fd in 3..end {
        if !kept(fd) {
            // SAFETY: closes a descriptor this process owns and no longer uses.
            unsafe { libc::close(fd) };
        }
    }
}

fn daemon_steps(pid: Pid) -> Result<(), F> {
    reset_signals().map_err(|e| os(SIGNALS, e))?;
    pr::chdir(c"/").map_err(|e| os(CHDIR, e))?;
    pr::umask(Mode::from_raw_mode(0o022));
    let zero = pr::Rlimit { current: Some(0), maximum: Some(0) };
    pr::setrlimit(pr::Resource::Core, zero).map_err(|e| os(CORE, e))?;
    let mut d = [0u8; 21];
    d[20] = b'\n';
    let n = dec(pid.as_raw_nonzero().get() as u64, (&mut d[..20]).try_into().unwrap()).len() + 1;
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    match rio::pwrite(b(unsafe { WRITER }), &d[21 - n..], 0) {
        Ok(w) if w == n => {}
        Ok(_) => return Err(os(WRITE, Errno::IO)),
        Err(e) => return Err(os(WRITE, e)),
    }
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    let null = b(unsafe { NULL });
    let r = rustix::stdio::dup2_stdin(null)
        .and_then(|()| rustix::stdio::dup2_stdout(null))
        .and_then(|()| rustix::stdio::dup2_stderr(null));
    r.map_err(|e| os(STDIO, e))?;
    close_inherited();
    Ok(())
}

// ---- the channels and the forks (channel.rs, launch.rs) ----
fn send(fd: i32, bytes: &[u8]) {
    let _ = rustix::net::send(b(fd), bytes, rustix::net::SendFlags::NOSIGNAL);
}

/// The 8-byte report: [tag (2 ready, 3 failed), text, 0, 0, value LE].
fn report(tag: u8, f: F) {
    let v = (f >> 8).to_le_bytes();
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    send(unsafe { CH[0] }, &[tag, f as u8, 0, 0, v[0], v[1], v[2], v[3]]);
}

fn recv(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        match rustix::net::recv(b(fd), &mut *buf, rustix::net::RecvFlags::empty()) {
            Err(Errno::INTR) => continue,
            r => return r.map(|(n, _)| n),
        }
    }
}

fn fork() -> Result<Option<Pid>, Errno> {
    #[cfg(not(feature = "libc-fork"))]
    // SAFETY: the program has one thread; the child makes only async-signal-safe calls.
    let pid = unsafe { _Fork() };
    #[cfg(feature = "libc-fork")]
    // SAFETY: the program has one thread; the child makes only async-signal-safe calls.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(errno());
    }
    Ok(Pid::from_raw(pid))
}

fn exit(code: c_int) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// The intermediate process after the second fork: waits for the verdict; kills the
/// daemon and puts the pidfile back unless it was ready.
fn guard(daemon: Pid) -> ! {
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    let ch = unsafe { CH };
    let (lo, hi) = (ch[0].min(ch[1]).min(ch[2]), ch[0].max(ch[1]).max(ch[2]));
    if hi - lo != 2 || ch[0] == ch[1] || close_range(lo as u32, hi as u32).is_err() {
        for fd in &ch[..3] {
            // SAFETY: closes a descriptor this process owns and no longer uses.
            unsafe { libc::close(*fd) };
        }
    }
    let mut v = [0u8];
    let verdict = match recv(ch[3], &mut v) {
        Ok(1) => v[0],
        _ => 0,
    };
    if verdict == b'y' {
        exit(0);
    }
    if verdict != b'f' {
        let _ = pr::kill_process(daemon, Signal::KILL);
        let _ = pr::waitpid(Some(daemon), pr::WaitOptions::empty());
    }
    restore();
    if verdict != b'f' && verdict != b'k' {
        let _ = pr::kill_current_process_group(Signal::KILL);
    }
    exit(0)
}

/// Opens everything before the fork: returns `Err` in the original process, with the
/// pidfile put back when it had been taken.
fn prepare() -> Result<(), F> {
    #[cfg(feature = "proc-status")]
    {
        let st = status();
        if let Some((n, _)) = st.filter(|s| s.0 > 1) {
            return Err(fail(THREADS, n as u32));
        }
        // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
        unsafe { DISP = st.map(|s| s.1) };
    }
    take_pidfile()?;
    let opened = (|| {
        for i in [0, 2] {
            let (x, y) = rustix::net::socketpair(
                rustix::net::AddressFamily::UNIX,
                rustix::net::SocketType::SEQPACKET,
                rustix::net::SocketFlags::CLOEXEC,
                None,
            )
            .and_then(|(x, y)| Ok((above(x)?, above(y)?)))
            .map_err(|e| os(SOCKETPAIR, e))?;
            // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
            unsafe { CH[i] = x.into_raw_fd() };
            // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
            unsafe { CH[i + 1] = y.into_raw_fd() };
        }
        open_writer()?;
        let fl = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY;
        let null = fs::open(c"/dev/null", fl, Mode::empty()).and_then(above);
        // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
        unsafe { NULL = null.map_err(|e| os(DEVNULL, e))?.into_raw_fd() };
        Ok(())
    })();
    if opened.is_err() {
        restore();
    }
    opened
}

/// Daemonizes; returns only in the daemon. In the original process: `Err` to report,
/// or exit 0 once the daemon is ready.
fn start() -> Result<(), F> {
    prepare()?;
    // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
    let ch = unsafe { CH };
    match fork() {
        Err(e) => {
            restore();
            Err(os(FORK, e))
        }
        Ok(None) => {
            // The intermediate process.
            if let Err(e) = pr::setsid() {
                report(3, os(SETSID, e));
                exit(1);
            }
            match fork() {
                Err(e) => {
                    report(3, os(FORK, e));
                    exit(1)
                }
                Ok(Some(daemon)) => guard(daemon),
                Ok(None) => {}
            }
            let pid = pr::getpid();
            if let Err(f) = daemon_steps(pid) {
                report(3, f);
                exit(1);
            }
            report(2, (pid.as_raw_nonzero().get() as u32) << 8);
            Ok(())
        }
        Ok(Some(child)) => {
            // SAFETY: closes a descriptor this process owns and no longer uses.
            unsafe { libc::close(ch[0]) };
            let mut r = [0u8; 8];
            let f = match recv(ch[1], &mut r) {
                Ok(0) => fail(DIED, 0),
                Ok(8) => {
                    let v = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
                    match r[0] {
                        2 if v as i32 > 0 => {
                            send(ch[2], b"y");
                            exit(0);
                        }
                        3 => fail(r[1], v),
                        _ => os(CHANNEL, Errno::PROTO),
                    }
                }
                Ok(_) => os(CHANNEL, Errno::PROTO),
                Err(e) => os(CHANNEL, e),
            };
            send(ch[2], b"k");
            let id = pr::WaitId::Pid(child);
            if pr::waitid(id, pr::WaitIdOptions::EXITED | pr::WaitIdOptions::NOWAIT).is_ok() {
                let _ = pr::kill_process_group(child, Signal::KILL);
            }
            let status = loop {
                match pr::waitpid(Some(child), pr::WaitOptions::empty()) {
                    Err(Errno::INTR) => continue,
                    s => break s,
                }
            };
            if !matches!(status, Ok(Some((_, s))) if s.exit_status() == Some(0)) {
                restore();
            }
            Err(f)
        }
    }
}

// ---- the one line on stderr ----
impl Buf {
    /// Valid UTF-8 as it is; other bytes and control characters as `\xNN`.
    #[cfg(feature = "escaping")]
    fn shown(&mut self, s: &[u8]) {
        let mut i = 0;
        while i < s.len() {
            let len = utf8_len(&s[i..]);
            if len > 0 {
                self.put(&s[i..i + len]);
                i += len;
            } else {
                let h = b"0123456789abcdef";
                self.put(&[b'\\', b'x', h[(s[i] >> 4) as usize], h[(s[i] & 15) as usize]]);
                i += 1;
            }
        }
    }
    #[cfg(not(feature = "escaping"))]
    fn shown(&mut self, s: &[u8]) {
        self.put(s);
    }
}

#[cfg(feature = "escaping")]
fn utf8_len(s: &[u8]) -> usize {
    let (len, min) = match s[0] {
        0x20..=0x7e => return 1,
        0xc2..=0xdf => (2, 0x80),
        0xe0..=0xef => (3, 0x800),
        0xf0..=0xf4 => (4, 0x1_0000),
        _ => return 0,
    };
    let Some(seq) = s.get(..len) else { return 0 };
    let mut c = u32::from(seq[0]) & (0x7f >> len);
    for &x in &seq[1..] {
        if x & 0xc0 != 0x80 {
            return 0;
        }
        c = c << 6 | u32::from(x & 0x3f);
    }
    if c < min || (0xd800..0xe000).contains(&c) || c > 0x10_ffff {
        return 0;
    }
    len
}

#[inline(never)]
fn tell(f: F) -> c_int {
    let (code, val) = (f as u8, f >> 8);
    let mut l = Buf::new();
    l.put(b"no_std_floor: ");
    let text = nth(TEXTS, code as usize);
    let mut hole = false;
    for &c in text {
        if c == 1 {
            hole = true;
            l.num(val as u64);
        } else {
            l.put(&[c]);
        }
    }
    if !hole && val != 0 {
        l.put(b": ").num(val as u64).put(b" ").put(nth(ENAMES, val.wrapping_sub(1) as usize));
    }
    if code <= PATHFUL || code == WRITE {
        l.put(b" (");
        // SAFETY: one thread: this program's statics are touched only by its start, in order, never concurrently.
        l.shown(unsafe { PATH }.to_bytes());
        l.put(b")");
    }
    l.put(b"\n");
    let _ = rio::write(b(2), l.bytes());
    if code == RUNNING || code == RUNNING_PID {
        1
    } else {
        3
    }
}

#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    if argc > 1 {
        // SAFETY: the C runtime passes argc valid NUL-terminated strings; one thread: this program's statics are touched only by its start, in order, never concurrently.
        unsafe { PATH = CStr::from_ptr(*argv.add(1)) };
    }
    if let Err(f) = start() {
        return tell(f);
    }
    loop {
        let _ = rustix::thread::nanosleep(&rustix::thread::Timespec { tv_sec: 3600, tv_nsec: 0 });
    }
}
