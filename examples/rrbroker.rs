//! Request-reply broker, as in the ZeroMQ guide's "rrbroker": a ROUTER for clients
//! (tcp://*:5559) and a DEALER for workers (tcp://*:5560), forwarding both ways with the
//! poller. Every frame, the clients' routing envelope included, passes through untouched,
//! so replies find their way back. Works with the guide's rrclient and rrworker in any
//! language; `msgqueue` does the same with the built-in proxy.
//!
//! `cargo run --example rrbroker [frontend] [backend]`

use ferromq::{poll, PollItem};

fn main() -> Result<(), ferromq::Error> {
    let mut args = std::env::args().skip(1);
    let front = args.next().unwrap_or_else(|| "tcp://*:5559".into());
    let back = args.next().unwrap_or_else(|| "tcp://*:5560".into());

    let ctx = ferromq::Context::new();
    let mut frontend = ctx.router()?;
    let mut backend = ctx.dealer()?;
    frontend.bind(&front)?;
    backend.bind(&back)?;

    // Switch messages between sockets.
    loop {
        let ready = poll(
            &mut [
                PollItem::readable(&mut frontend),
                PollItem::readable(&mut backend),
            ],
            None,
        );
        if ready.is_readable(0) {
            // [client id, "", request] -> a worker, which answers along the envelope.
            let msg = frontend.recv()?;
            backend.send(msg)?;
        }
        if ready.is_readable(1) {
            // [client id, "", reply] -> back to that client.
            let msg = backend.recv()?;
            frontend.send(msg)?;
        }
    }
}
