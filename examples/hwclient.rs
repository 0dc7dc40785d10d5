//! Hello World client, as in the ZeroMQ guide: connects REQ to tcp://localhost:5555,
//! sends "Hello" ten times and prints each "World". Works with the guide's hwserver in any
//! language.

fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    println!("Connecting to hello world server...");
    let mut requester = ctx.req()?;
    requester.connect("tcp://localhost:5555")?;

    for request_nbr in 0..10 {
        println!("Sending Hello {request_nbr}...");
        let reply = requester.request("Hello")?;
        println!(
            "Received {} {request_nbr}",
            String::from_utf8_lossy(&reply[0])
        );
    }
    Ok(())
}
