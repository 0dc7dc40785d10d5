//! Hello World server, as in the ZeroMQ guide: binds REP to tcp://*:5555 and answers
//! "World" to each "Hello". Works with the guide's hwclient in any language.

use std::time::Duration;

fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut responder = ctx.rep()?;
    responder.bind("tcp://*:5555")?;

    loop {
        let request = responder.recv()?;
        println!("Received {}", String::from_utf8_lossy(&request.body()[0]));
        // Do some 'work'.
        std::thread::sleep(Duration::from_secs(1));
        request.reply("World")?;
    }
}
