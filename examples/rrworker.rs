//! Request-reply worker, as in the ZeroMQ guide's "rrworker": connects REP to the broker's
//! backend (tcp://localhost:5560) and answers "World" to every request. Works with the
//! guide's rrbroker/msgqueue and rrclient in any language.
//!
//! `cargo run --example rrworker [endpoint] [work-ms]` (the guide's worker works 1 s)

use std::time::Duration;

fn main() -> Result<(), ferromq::Error> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://localhost:5560".into());
    let work = Duration::from_millis(args.next().and_then(|n| n.parse().ok()).unwrap_or(1000));

    let ctx = ferromq::Context::new();
    let mut responder = ctx.rep()?;
    responder.connect(&endpoint)?;

    loop {
        let request = responder.recv()?;
        println!(
            "Received request: [{}]",
            String::from_utf8_lossy(&request.body()[0])
        );
        // Do some 'work'.
        std::thread::sleep(work);
        request.reply("World")?;
    }
}
