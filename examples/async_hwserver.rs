//! Hello World server in async Rust: the guide's hwserver on a tokio runtime. Binds REP to
//! tcp://*:5555 and answers "World" to each "Hello", with no thread blocked: the waits are
//! futures woken by the socket's doorbell. Works with the guide's hwclient in any
//! language, and with `async_hwclient`.

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut responder = ctx.rep()?;
    responder.bind("tcp://*:5555")?;

    loop {
        let request = responder.recv_async().await?;
        println!("Received {}", String::from_utf8_lossy(&request.body()[0]));
        // Do some 'work', without blocking the runtime.
        tokio::time::sleep(Duration::from_secs(1)).await;
        request.reply_async("World").await?;
    }
}
