//! Request-reply client, as in the ZeroMQ guide's "rrclient": connects REQ to the broker's
//! frontend (tcp://localhost:5559), sends "Hello" ten times and prints each reply. Works
//! with the guide's rrbroker/msgqueue and rrworker in any language.
//!
//! `cargo run --example rrclient [endpoint] [requests]`

fn main() -> Result<(), ferromq::Error> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://localhost:5559".into());
    let requests: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);

    let ctx = ferromq::Context::new();
    let mut requester = ctx.req()?;
    requester.connect(&endpoint)?;

    for request_nbr in 0..requests {
        let reply = requester.request(format!("Hello {request_nbr}"))?;
        println!(
            "Received reply {request_nbr} [{}]",
            String::from_utf8_lossy(&reply[0])
        );
    }
    Ok(())
}
