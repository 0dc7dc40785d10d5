//! Task sink, as in the ZeroMQ guide: binds PULL to tcp://*:5558, waits for the start of
//! a batch, collects 100 results and prints how long the batch took.

use std::io::Write;
use std::time::Instant;

fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut receiver = ctx.pull()?;
    receiver.bind("tcp://*:5558")?;

    // Wait for the start of the batch.
    receiver.recv()?;
    let start = Instant::now();
    for task in 0..100 {
        receiver.recv()?;
        print!("{}", if task % 10 == 0 { ":" } else { "." });
        let _ = std::io::stdout().flush();
    }
    println!("\nTotal elapsed time: {} msec", start.elapsed().as_millis());
    Ok(())
}
