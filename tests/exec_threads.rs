//! `Daemon::exec` from a process whose 8 other threads allocate and take locks the
//! whole time: the fork copies whatever state their locks are in, and the child must
//! run only async-signal-safe code until `execve`. Every start must succeed, none may
//! hang. `DAEMONIC_STRESS_STARTS` starts (100 here; `cargo xtask stress` runs 1,000).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daemonic::{Daemon, Program};

#[test]
fn exec_from_a_busy_multithreaded_process() {
    let starts: u64 = std::env::var("DAEMONIC_STRESS_STARTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let work = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (stop, shared, work) = (stop.clone(), shared.clone(), work.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let block = vec![i as u8; 64 + (work.load(Ordering::Relaxed) % 4096) as usize];
                    let mut list = shared.lock().unwrap();
                    list.push(block);
                    if list.len() > 64 {
                        list.clear();
                    }
                    drop(list);
                    work.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // A hang is a failure: nothing else could end this test.
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let limit = Instant::now() + Duration::from_secs(30 + starts / 10);
            while !done.load(Ordering::SeqCst) {
                if Instant::now() > limit {
                    eprintln!("exec_from_a_busy_multithreaded_process: a start hung");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let program = Program {
        path: c"/bin/true",
        args: &[c"true"],
        env: &[],
    };
    let began = Instant::now();
    for n in 0..starts {
        if let Err(e) = Daemon::new().exec(&program) {
            panic!("start {n} of {starts}: {e}");
        }
    }
    let elapsed = began.elapsed();
    done.store(true, Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    watchdog.join().unwrap();
    assert!(work.load(Ordering::Relaxed) > 0, "the threads did no work");
    println!(
        "{starts} starts from a process with 8 busy threads: 0 failed, 0 hung, {:.1} ms each",
        elapsed.as_secs_f64() * 1000.0 / starts as f64
    );
}
