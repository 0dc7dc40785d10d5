//! Shared message queue, as in the ZeroMQ guide's "msgqueue": the rrbroker's ROUTER
//! (tcp://*:5559) and DEALER (tcp://*:5560), joined by the built-in [`ferromq::Proxy`]
//! instead of a hand-written poll loop. Works with the guide's rrclient and rrworker in any
//! language.
//!
//! `cargo run --example msgqueue [frontend] [backend]`

fn main() -> Result<(), ferromq::Error> {
    let mut args = std::env::args().skip(1);
    let front = args.next().unwrap_or_else(|| "tcp://*:5559".into());
    let back = args.next().unwrap_or_else(|| "tcp://*:5560".into());

    let ctx = ferromq::Context::new();
    let mut frontend = ctx.router()?;
    frontend.bind(&front)?;
    let mut backend = ctx.dealer()?;
    backend.bind(&back)?;

    // Runs until stopped through its control handle; nothing stops this one.
    ferromq::Proxy::new(&mut frontend, &mut backend).run()?;
    Ok(())
}
