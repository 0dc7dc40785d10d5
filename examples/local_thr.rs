//! Throughput test, receiving side, in the shape of libzmq's `local_thr`: binds a PULL to
//! `<bind-endpoint>`, receives `<message-count>` messages of `<message-size>` bytes, and
//! prints the mean throughput, timed from the first message to the last.
//!
//! ```sh
//! cargo run --release --example local_thr -- tcp://127.0.0.1:5555 16 1000000 &
//! cargo run --release --example remote_thr -- tcp://127.0.0.1:5555 16 1000000
//! ```
//!
//! Either side can be swapped for libzmq's own `local_thr`/`remote_thr` (built from libzmq's
//! `perf/` directory); the printed figures are computed the same way.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, size, count] = &args[..] else {
        eprintln!("usage: local_thr <bind-to> <message-size> <message-count>");
        return ExitCode::FAILURE;
    };
    let (Ok(size), Ok(count)) = (size.parse::<usize>(), count.parse::<u64>()) else {
        eprintln!("message size and count must be whole numbers");
        return ExitCode::FAILURE;
    };
    match run(endpoint, size, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local_thr: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(endpoint: &str, size: usize, count: u64) -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut pull = ctx.pull()?;
    pull.bind(endpoint)?;

    let check = |msg: &ferromq::Message| {
        if msg.byte_len() != size {
            eprintln!("message of incorrect size received: {}", msg.byte_len());
            std::process::exit(1);
        }
    };
    check(&pull.recv()?);
    let start = Instant::now();
    for _ in 1..count {
        check(&pull.recv()?);
    }
    let elapsed_us = (start.elapsed().as_micros() as f64).max(1.0);

    let throughput = (count as f64 / elapsed_us * 1_000_000.0) as u64;
    let megabits = (throughput * size as u64 * 8) as f64 / 1_000_000.0;
    println!("message size: {size} [B]");
    println!("message count: {count}");
    println!("mean throughput: {throughput} [msg/s]");
    println!("mean throughput: {megabits:.3} [Mb/s]");
    Ok(())
}
