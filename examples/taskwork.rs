//! Task worker, as in the ZeroMQ guide: PULLs tasks from tcp://localhost:5557, "works"
//! for the number of milliseconds each task names, and PUSHes a result to the sink at
//! tcp://localhost:5558.

use std::io::Write;
use std::time::Duration;

fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut receiver = ctx.pull()?;
    receiver.connect("tcp://localhost:5557")?;
    let mut sender = ctx.push()?;
    sender.connect("tcp://localhost:5558")?;

    loop {
        let task = receiver.recv()?;
        let text = String::from_utf8_lossy(&task[0]);
        let msec: u64 = text.trim().parse().unwrap_or(0);
        print!("{text}.");
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(msec));
        sender.send("")?;
    }
}
