//! `std-daemonic` minus the daemonizing: the same argument handling, then the same
//! sleep. The bytes the others add to this are the cost of daemonizing.
use std::time::Duration;

fn main() {
    let pidfile = std::env::args()
        .nth(1)
        .expect("usage: std-baseline PIDFILE");
    // Keeps the argument alive, as the daemonizing programs use it.
    std::hint::black_box(pidfile);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
