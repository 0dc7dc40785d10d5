//! Latency test, measuring side, in the shape of libzmq's `remote_lat`: connects a REQ to
//! `<connect-endpoint>`, makes `<roundtrip-count>` round trips with `<message-size>`-byte
//! messages, and prints the average one-way latency (half a round trip), as libzmq does.
//! Run `local_lat` first; see there.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, size, count] = &args[..] else {
        eprintln!("usage: remote_lat <connect-to> <message-size> <roundtrip-count>");
        return ExitCode::FAILURE;
    };
    let (Ok(size), Ok(count)) = (size.parse::<usize>(), count.parse::<u64>()) else {
        eprintln!("message size and roundtrip count must be whole numbers");
        return ExitCode::FAILURE;
    };
    match run(endpoint, size, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remote_lat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(endpoint: &str, size: usize, count: u64) -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut req = ctx.req()?;
    req.connect(endpoint)?;
    let request = ferromq::Message::from(vec![0u8; size]);

    let start = Instant::now();
    for _ in 0..count {
        let reply = req.request(request.clone())?;
        if reply.byte_len() != size {
            eprintln!("message of incorrect size received: {}", reply.byte_len());
            std::process::exit(1);
        }
    }
    let elapsed_us = start.elapsed().as_secs_f64() * 1_000_000.0;

    let latency = elapsed_us / (count as f64 * 2.0);
    println!("message size: {size} [B]");
    println!("roundtrip count: {count}");
    println!("average latency: {latency:.3} [us]");
    Ok(())
}
