//! Last value cache, as in the ZeroMQ guide's "lvcache": a SUB frontend (tcp://*:5557,
//! where a publisher such as the guide's pathopub connects) subscribed to everything, and
//! an XPUB backend (tcp://*:5558) for subscribers. Every update, `[topic, value]`, is
//! cached and forwarded; when a subscriber subscribes to a topic, the cached value is sent
//! at once, so a late joiner does not wait for the next update.
//!
//! The backend is in manual mode (`ZMQ_XPUB_MANUAL`): every subscription comes up, a second
//! subscriber to a topic included (the guide's plain XPUB passes up only the first, so a
//! second subscriber to a topic gets no cached value), and this program applies each one
//! to the subscriber it came from. The cached value then goes to every subscriber of the
//! topic, as in the guide.
//!
//! `cargo run --example lvcache [frontend] [backend] [updates]`: stops after forwarding
//! `updates` updates (the default, 0, runs forever as the guide's does). Prints `ready`
//! once both endpoints are bound.

use std::collections::HashMap;
use std::time::Duration;

use ferromq::{poll, Frame, PollItem};

fn main() -> Result<(), ferromq::Error> {
    let mut args = std::env::args().skip(1);
    let front = args.next().unwrap_or_else(|| "tcp://*:5557".into());
    let back = args.next().unwrap_or_else(|| "tcp://*:5558".into());
    let updates: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);

    let ctx = ferromq::Context::new();
    let mut frontend = ctx.subscriber()?;
    frontend.bind(&front)?;
    // Subscribe to every single topic from the publisher.
    frontend.subscribe("");
    let mut backend = ctx.xpublisher()?;
    backend.set_manual(true);
    backend.bind(&back)?;
    println!("ready");

    // The last value of each topic.
    let mut cache: HashMap<Vec<u8>, Frame> = HashMap::new();
    let mut forwarded = 0u64;
    while updates == 0 || forwarded < updates {
        let ready = poll(
            &mut [
                PollItem::readable(&mut frontend),
                PollItem::readable(&mut backend),
            ],
            Some(Duration::from_secs(1)),
        );
        // Any new topic data we cache and then forward.
        if ready.is_readable(0) {
            let update = frontend.recv()?;
            if let [topic, value] = update.frames() {
                cache.insert(topic.to_vec(), value.clone());
                backend.send(update)?;
                forwarded += 1;
            }
        }
        // When we get a new subscription, we apply it and send what we cached, if
        // anything. An event is one byte, 1 = subscribe or 0 = unsubscribe, then the topic.
        if ready.is_readable(1) {
            let event = backend.recv()?;
            match event[0].split_first() {
                Some((1, topic)) => {
                    backend.subscribe(topic)?;
                    println!("Sending cached topic {}", String::from_utf8_lossy(topic));
                    if let Some(previous) = cache.get(topic) {
                        backend.send([Frame::copy_from_slice(topic), previous.clone()])?;
                    }
                }
                Some((0, topic)) => {
                    backend.unsubscribe(topic)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
