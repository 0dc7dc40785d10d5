//! Weather update server, as in the ZeroMQ guide: binds PUB to tcp://*:5556 and publishes
//! random "zipcode temperature relhumidity" updates, forever, as fast as it can.
//!
//! Run it, then one or more `wuclient`s (or the guide's wuclient in any language).
//! A PUB never blocks: updates nobody subscribed to are discarded at once, and a client
//! that falls behind loses updates instead of slowing the server down.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    let mut publisher = ctx.publisher()?;
    publisher.bind("tcp://*:5556")?;

    let mut rng = seed();
    loop {
        // Made-up weather: any zipcode, -80..135 °F, 10..60 % humidity.
        let zipcode = next(&mut rng) % 100_000;
        let temperature = (next(&mut rng) % 215) as i64 - 80;
        let relhumidity = next(&mut rng) % 50 + 10;
        publisher.send(format!("{zipcode:05} {temperature} {relhumidity}"))?;
    }
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 | 1
}

/// xorshift64: enough randomness for made-up weather.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
