//! Hello World client in async Rust: connects REQ to tcp://localhost:5555, sends "Hello"
//! ten times and prints each "World". Each reply is awaited under tokio's timeout; a
//! request whose reply does not come in time is given up (the future's drop does what the
//! blocking receive timeout does), and the next one goes out at once.

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    println!("Connecting to hello world server...");
    let mut requester = ctx.req()?;
    requester.connect("tcp://localhost:5555")?;

    for request_nbr in 0..10 {
        println!("Sending Hello {request_nbr}...");
        let pending = requester.send_async("Hello").await?;
        match tokio::time::timeout(Duration::from_secs(5), pending.recv_async()).await {
            Ok(reply) => println!(
                "Received {} {request_nbr}",
                String::from_utf8_lossy(&reply?[0])
            ),
            Err(_) => println!("No reply in 5 s to {request_nbr}: given up"),
        }
    }
    Ok(())
}
