//! Latency test, echo side, in the shape of libzmq's `local_lat`: binds a REP to
//! `<bind-endpoint>` and sends each of `<roundtrip-count>` requests of `<message-size>` bytes
//! straight back.
//!
//! ```sh
//! cargo run --release --example local_lat -- tcp://127.0.0.1:5556 16 10000 &
//! cargo run --release --example remote_lat -- tcp://127.0.0.1:5556 16 10000
//! ```
//!
//! Either side can be swapped for libzmq's own `local_lat`/`remote_lat`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, size, count] = &args[..] else {
        eprintln!("usage: local_lat <bind-to> <message-size> <roundtrip-count>");
        return ExitCode::FAILURE;
    };
    let (Ok(size), Ok(count)) = (size.parse::<usize>(), count.parse::<u64>()) else {
        eprintln!("message size and roundtrip count must be whole numbers");
        return ExitCode::FAILURE;
    };
    match run(endpoint, size, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local_lat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(endpoint: &str, size: usize, count: u64) -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut rep = ctx.rep()?;
    rep.bind(endpoint)?;
    for _ in 0..count {
        let mut request = rep.recv()?;
        let body = request.take_body();
        if body.byte_len() != size {
            eprintln!("message of incorrect size received: {}", body.byte_len());
            std::process::exit(1);
        }
        request.reply(body)?;
    }
    Ok(())
}
