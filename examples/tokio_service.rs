//! A Tokio service: daemonize first, in a plain `main`, while the process still has
//! one thread; then build the runtime (its worker threads start here) and serve.
//! `#[tokio::main]` would start the runtime before `main`'s body runs, and the start
//! would be refused ("refusing to fork a process with N threads"): a fork keeps
//! only the calling thread. (A program that must start threads first can `exec`
//! instead: `Daemon::exec` is sound from any number of threads.)
//!
//! ```text
//! cargo run --example tokio_service -- /tmp/tokio_service.pid 8080
//! ```
use tokio::io::AsyncWriteExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let pidfile = args
        .next()
        .unwrap_or_else(|| "/tmp/tokio_service.pid".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let pending = daemonic::Daemon::new()
        .pidfile(pidfile.as_str())
        .start_pending();
    // The daemon, with one thread: now the runtime.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => {
            pending.fail(5);
            std::process::exit(5);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => listener,
            Err(_) => {
                pending.fail(4);
                std::process::exit(4);
            }
        };
        let _running = pending
            .ready()
            .unwrap_or_else(daemonic::NotifyError::into_running);
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.write_all(b"hello from tokio\n").await;
            });
        }
    });
}
