//! A profiling driver for PUSH → PULL throughput: one process, sender and receiver on two
//! threads, ferromq or libzmq (the `zmq` dev-dependency) with equal settings (one I/O
//! thread, high-water marks 1000, default kernel socket buffers), for a fixed time. Meant
//! to be run under `perf stat`, `perf record` or `strace -c -f`, one library at a time.
//!
//! ```sh
//! cargo run --release --example thr_drive -- ferromq tcp 65536 3
//! cargo run --release --example thr_drive -- libzmq tcp 65536 3
//! ```
//!
//! Prints the messages received per second and the process's CPU seconds (user + system,
//! all threads, from `/proc/self/stat`) per million messages.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lib, transport, size, secs] = &args[..] else {
        eprintln!(
            "usage: thr_drive <ferromq|ferromq-nospin|libzmq> <tcp|ipc> <message-size> <seconds>"
        );
        return ExitCode::FAILURE;
    };
    let (Ok(size), Ok(secs)) = (size.parse::<usize>(), secs.parse::<f64>()) else {
        eprintln!("message size and seconds must be numbers");
        return ExitCode::FAILURE;
    };
    let endpoint = match transport.as_str() {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        "ipc" => format!("ipc:///tmp/thr-drive-{}.sock", std::process::id()),
        _ => {
            eprintln!("transport must be tcp or ipc");
            return ExitCode::FAILURE;
        }
    };
    let run_for = Duration::from_secs_f64(secs);
    let cpu0 = cpu_seconds();
    let result = match lib.as_str() {
        "ferromq" => run_ferromq(ferromq::Context::new(), &endpoint, size, run_for),
        "ferromq-nospin" => run_ferromq(
            ferromq::Context::builder().spin(false).build(),
            &endpoint,
            size,
            run_for,
        ),
        "libzmq" => run_libzmq(&endpoint, size, run_for),
        _ => Err("library must be ferromq, ferromq-nospin or libzmq".to_owned()),
    };
    let cpu = cpu_seconds() - cpu0;
    match result {
        Ok((count, elapsed)) => {
            let rate = count as f64 / elapsed.as_secs_f64();
            let per_million = cpu / count as f64 * 1e6;
            println!(
                "{lib} {transport} {size} B: {count} msgs in {:.2} s, {rate:.0} msg/s, \
                 cpu {cpu:.2} s, {per_million:.2} cpu-s per 1M msgs",
                elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("thr_drive: {e}");
            ExitCode::FAILURE
        }
    }
}

/// User + system CPU seconds of this process so far (all threads), or 0 if unreadable.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime
    // the 13th of those, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

fn run_ferromq(
    ctx: ferromq::Context,
    endpoint: &str,
    size: usize,
    run_for: Duration,
) -> Result<(u64, Duration), String> {
    let mut pull = ctx.pull().map_err(|e| e.to_string())?;
    pull.bind(endpoint).map_err(|e| e.to_string())?;
    let bound = pull
        .last_endpoint()
        .ok_or_else(|| "no bound endpoint".to_owned())?
        .to_owned();
    let mut push = ctx.push().map_err(|e| e.to_string())?;
    push.connect(&bound).map_err(|e| e.to_string())?;
    pull.set_recv_timeout(Some(Duration::from_secs(5)));
    let stop = Arc::new(AtomicBool::new(false));
    let stop_sender = Arc::clone(&stop);
    let payload = vec![0u8; size];
    push.set_send_timeout(Some(Duration::from_millis(200)));
    let sender = std::thread::spawn(move || {
        while !stop_sender.load(Ordering::Relaxed) {
            let _ = push.send(&payload[..]);
        }
    });
    pull.recv().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < run_for {
        for _ in 0..64 {
            pull.recv().map_err(|e| e.to_string())?;
            count += 1;
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    pull.set_recv_timeout(Some(Duration::from_millis(50)));
    while pull.recv().is_ok() {}
    let _ = sender.join();
    Ok((count, elapsed))
}

fn run_libzmq(endpoint: &str, size: usize, run_for: Duration) -> Result<(u64, Duration), String> {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).map_err(|e| e.to_string())?;
    pull.bind(endpoint).map_err(|e| e.to_string())?;
    let bound = pull
        .get_last_endpoint()
        .map_err(|e| e.to_string())?
        .map_err(|_| "endpoint not utf-8".to_owned())?;
    let push = ctx.socket(zmq::PUSH).map_err(|e| e.to_string())?;
    push.connect(&bound).map_err(|e| e.to_string())?;
    push.set_sndtimeo(200).map_err(|e| e.to_string())?;
    pull.set_rcvtimeo(5000).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_sender = Arc::clone(&stop);
    let payload = vec![0u8; size];
    let sender = std::thread::spawn(move || {
        while !stop_sender.load(Ordering::Relaxed) {
            let _ = push.send(&payload[..], 0);
        }
        let _ = push.set_linger(0);
    });
    let mut buf = zmq::Message::new();
    pull.recv(&mut buf, 0).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < run_for {
        for _ in 0..64 {
            pull.recv(&mut buf, 0).map_err(|e| e.to_string())?;
            count += 1;
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    pull.set_rcvtimeo(50).map_err(|e| e.to_string())?;
    while pull.recv(&mut buf, 0).is_ok() {}
    let _ = sender.join();
    Ok((count, elapsed))
}
