//! R4: everything that can fail for a reason the user can fix, before any fork, in
//! the original process: the options become an owned [`Plan`].

use rustix::fd::AsRawFd;
use rustix::io::Errno;

use crate::channel;
use crate::error::{or_return, Error, ErrorKind, Failed};
use crate::fds::Keep;
use crate::pidfile::{Pidfile, Refused};
use crate::plan::{Channels, Plan};
use crate::procfs;
use crate::stdio;
use crate::sys;

/// Reads the signal dispositions (and, unless the daemon will `exec`, checks that
/// this process has one thread), resolves names, opens the pidfile (locked), the
/// channels and the streams' files, and reads what the daemon needs from the
/// environment. `exec`: the daemon will execute a program (which gets its
/// environment and talks to supervisors itself): it runs only async-signal-safe code
/// until `execve`, which is sound in a multithreaded process.
/// Fills `plan` (made by [`Plan::new`] in the caller's frame, so that neither the
/// options nor the plan are copied on the way) or fails with the pidfile put back.
pub(crate) fn prepare(plan: &mut Plan<'_>, exec: bool, err: &mut Error) -> Result<(), Failed> {
    // One read of /proc for both: here, so that the callers pass their options on
    // at once rather than building them in each of the branches before.
    let status = procfs::status();
    if !exec {
        check_threads(status.map(|s| s.threads), err)?;
    }
    // Only when known: `Plan::new` left `None`, and the copy of a mapped option costs.
    if let Some(s) = &status {
        plan.dispositions = Some(s.dispositions);
    }
    let o = &mut plan.o;
    plan.detach = o.detach.detaches();
    let floor = o.floor();
    if let Some(c) = &o.creds {
        fill_empty(&mut plan.creds, (c.resolve)(c, err)?);
    }
    if let Some(check) = o.preserved_open {
        check(&o.preserve, err)?;
    }
    // The pidfile first: a start refused as "already running" must not have created
    // output files.
    if let Some(path) = o.pidfile.take() {
        let taken = Pidfile::lock(path, o.pidfile_mode, floor, o.pidfile_dir, err)?;
        fill_empty(&mut plan.pidfile, Some(taken));
    }
    // From here on a failure puts the pidfile back.
    open_all(plan, floor, exec, err).inspect_err(|_| plan.put_back())
}

/// Fails unless every descriptor in `preserve` is open: only
/// [`Daemon::preserve_fd`](crate::Daemon::preserve_fd) reaches it.
pub(crate) fn check_preserved(preserve: &Keep, err: &mut Error) -> Result<(), Failed> {
    match preserve.as_slice().iter().find(|&&fd| !sys::is_open(fd)) {
        Some(&fd) => Err(not_open(fd, err)),
        None => Ok(()),
    }
}

#[cold]
#[inline(never)]
fn not_open(fd: i32, err: &mut Error) -> Failed {
    Error::fill(err, ErrorKind::InvalidOption, Some(Errno::BADF))
        .push_text(b"descriptor ")
        .push_number(fd as u64)
        .push_text(b" to preserve is not open")
        .failed()
}

/// What the daemon keeps of the pidfile, the channels (the daemon's end right after
/// the lock, so that what it keeps sits together: one `close_range`), the pidfile's
/// writer, the streams, what the supervisors need, and the deadline.
#[inline(never)]
fn open_all(plan: &mut Plan<'_>, floor: i32, exec: bool, err: &mut Error) -> Result<(), Failed> {
    if let Some((pidfile, _)) = &plan.pidfile {
        let [lock, dir] = pidfile.kept_fds();
        plan.keep(lock);
        plan.keep(dir);
    }
    if plan.detach {
        let channels = or_return!(open_channels(floor), |e| channel::failed(
            e,
            b"socketpair",
            err
        ));
        plan.keep(channels.reports.0.as_raw_fd());
        fill_empty(&mut plan.channels, Some(channels));
    }
    if let Some((pidfile, previous)) = &mut plan.pidfile {
        or_return!(pidfile.open_writer(floor, previous), |r: Refused| r
            .put(pidfile.shown(), err));
    }
    stdio::open_streams(
        &plan.o.stdio,
        plan.o.output_mode,
        plan.creds.as_ref(),
        &mut plan.stdio,
        &mut plan.opened,
        err,
    )?;
    if let Some(s) = &plan.o.supervisors {
        let tellers = (s.find)(s, plan.detach, exec, &mut plan.keep, err)?;
        fill_empty(&mut plan.tellers, tellers);
    }
    if let Some(timeout) = &plan.o.timeout {
        fill_empty(&mut plan.deadline, timeout.arm(err)?);
    }
    Ok(())
}

/// Puts `value` in a slot of the plan that [`Plan::new`] left empty: forgetting
/// what was there, nothing, spares the code that would drop it.
fn fill_empty<T>(slot: &mut T, value: T) {
    core::mem::forget(core::mem::replace(slot, value));
}

/// The report channel (the daemon's end below the original's) and the verdict
/// channel, at `floor` or above.
fn open_channels(floor: i32) -> Result<Channels, Errno> {
    let reports = channel::pair(floor)?;
    let verdicts = channel::pair(floor)?;
    Ok(Channels { reports, verdicts })
}

/// R5: forking a multithreaded process and then running Rust code is unsound (the
/// other threads may hold the allocator's lock). Without `/proc` we cannot count
/// threads, and proceed.
fn check_threads(threads: Option<u64>, err: &mut Error) -> Result<(), Failed> {
    match threads {
        Some(n) if n > 1 => Err(Error::fill(err, ErrorKind::Threads, None)
            .push_number(n)
            .failed()),
        _ => Ok(()),
    }
}
