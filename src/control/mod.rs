//! Control over a running daemon through its pidfile: `status`, `stop`, and the stop
//! schedule; `restart` is [`Daemon::restart`](crate::Daemon::restart).
//!
//! The pidfile's lock, not the PID in it, says whether the daemon lives: after a crash
//! the PID may belong to an unrelated process, and a signal sent to it would hit that
//! process. And a lock alone vouches for nothing (anyone who can open the file can
//! take one): a PID is believed only when that very process holds the lock on that
//! very file ([`crate::holder`]). Nothing here takes a lock, so asking never makes a
//! start or a removal fail.

mod look;
mod status;
mod stop;

pub use status::{status, Status};
pub use stop::{stop, Stopped};
