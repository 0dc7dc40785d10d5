//! Lazy Pirate client, as in the ZeroMQ guide: sends numbered requests to
//! tcp://localhost:5555, waits 2.5 s for each reply, retries up to three times, then gives
//! up. Pair it with the guide's lpserver (which simulates crashes and slowness) or
//! with `hwserver`.
//!
//! The guide's version has to close and reopen its REQ socket after every timeout,
//! because libzmq's REQ is stuck once a reply is lost. A ferromq REQ gives the request up
//! when the wait times out, hangs up on the silent server, and can send again at once.

use std::time::Duration;

use ferromq::Error;

const REQUEST_TIMEOUT: Duration = Duration::from_millis(2500);
const REQUEST_RETRIES: usize = 3;
const SERVER_ENDPOINT: &str = "tcp://localhost:5555";

fn main() -> Result<(), Error> {
    let ctx = ferromq::Context::new();
    println!("I: connecting to server...");
    let mut client = ctx.req()?;
    client.connect(SERVER_ENDPOINT)?;

    let mut sequence = 0u64;
    loop {
        sequence += 1;
        let request = sequence.to_string();
        let mut retries_left = REQUEST_RETRIES;
        loop {
            match client.send(request.clone())?.recv_timeout(REQUEST_TIMEOUT) {
                Ok(reply) if reply == request.as_str() => {
                    println!("I: server replied OK ({request})");
                    break;
                }
                Ok(reply) => println!("E: malformed reply from server: {reply:?}"),
                Err(Error::TimedOut | Error::Disconnected) => {
                    retries_left -= 1;
                    if retries_left == 0 {
                        println!("E: server seems to be offline, abandoning");
                        return Ok(());
                    }
                    println!("W: no response from server, retrying...");
                }
                Err(e) => return Err(e),
            }
        }
    }
}
