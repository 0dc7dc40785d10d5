//! Throughput test, sending side, in the shape of libzmq's `remote_thr`: connects a PUSH to
//! `<connect-endpoint>` and sends `<message-count>` messages of `<message-size>` bytes as fast
//! as the receiver takes them. Run `local_thr` first; see there.

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, size, count] = &args[..] else {
        eprintln!("usage: remote_thr <connect-to> <message-size> <message-count>");
        return ExitCode::FAILURE;
    };
    let (Ok(size), Ok(count)) = (size.parse::<usize>(), count.parse::<u64>()) else {
        eprintln!("message size and count must be whole numbers");
        return ExitCode::FAILURE;
    };
    match run(endpoint, size, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remote_thr: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(endpoint: &str, size: usize, count: u64) -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut push = ctx.push()?;
    // The last messages must reach the receiver before the process exits.
    push.set_linger(Duration::from_secs(60));
    push.connect(endpoint)?;
    for _ in 0..count {
        // A fresh buffer per message, as libzmq's remote_thr builds a fresh zmq_msg_t.
        push.send(vec![0u8; size])?;
    }
    Ok(())
}
