//! Task ventilator, as in the ZeroMQ guide: binds PUSH to tcp://*:5557 and sends a batch
//! of 100 tasks to the workers; tells the sink (tcp://localhost:5558) a batch started.
//!
//! Run `tasksink`, then some `taskwork`ers (any language's version of the guide's
//! examples works), then this; press Enter once the workers are up.

use std::io::BufRead;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut sender = ctx.push()?;
    sender.bind("tcp://*:5557")?;
    let mut sink = ctx.push()?;
    sink.connect("tcp://localhost:5558")?;

    println!("Press Enter when the workers are ready: ");
    let mut line = String::new();
    // With no terminal (stdin closed) go straight on.
    let _ = std::io::stdin().lock().read_line(&mut line);
    println!("Sending tasks to workers...");

    // The first message is "0" and signals the start of the batch.
    sink.send("0")?;

    let mut rng = seed();
    let mut total_msec = 0u64;
    for _ in 0..100 {
        // A random workload from 1 to 100 ms.
        let workload = next(&mut rng) % 100 + 1;
        total_msec += workload;
        sender.send(workload.to_string())?;
    }
    println!("Total expected cost: {total_msec} msec");
    // Give the messages time to leave (linger would also flush them on exit).
    std::thread::sleep(Duration::from_secs(1));
    Ok(())
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 | 1
}

/// xorshift64: enough randomness for made-up workloads.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
