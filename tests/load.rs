//! Load: 1,000 concurrent tcp peers on one PULL and on one PUB socket, every one of them
//! delivering or receiving. (Memory per connection is measured by `examples/memory.rs`, and
//! up to 10,000 peers in two processes by `examples/load_curve.rs`; see BENCHMARKS.md.)

mod util;

use std::collections::HashMap;
use std::time::Duration;

use ferromq::{Context, Error};
use util::eventually;

const PEERS: usize = 1000;
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn one_pull_takes_messages_from_a_thousand_tcp_peers() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(WAIT));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ep = pull.last_endpoint().unwrap().to_owned();

    // The peers live in their own context, so the two ends do not share an I/O thread.
    let peers_ctx = Context::new();
    let mut pushes = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        let mut push = peers_ctx.push().unwrap();
        push.set_send_timeout(Some(WAIT));
        push.connect(&ep).unwrap();
        pushes.push(push);
    }
    for (n, push) in pushes.iter_mut().enumerate() {
        for i in 0..5u32 {
            push.send([(n as u32).to_be_bytes().to_vec(), i.to_be_bytes().to_vec()])
                .unwrap();
        }
    }
    let mut next: HashMap<u32, u32> = HashMap::new();
    for _ in 0..PEERS * 5 {
        let m = pull.recv().unwrap();
        let n = u32::from_be_bytes(m[0][..].try_into().unwrap());
        let i = u32::from_be_bytes(m[1][..].try_into().unwrap());
        let expected = next.entry(n).or_insert(0);
        assert_eq!(i, *expected, "peer {n} out of order");
        *expected += 1;
    }
    assert_eq!(next.len(), PEERS, "every peer delivered");
    assert!(next.values().all(|&c| c == 5));
    assert_eq!(pull.peer_count(), PEERS);
    assert!(
        matches!(pull.try_recv(), Err(Error::WouldBlock)),
        "nothing extra"
    );
}

#[test]
fn one_pub_reaches_a_thousand_tcp_subscribers() {
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let ep = publisher.last_endpoint().unwrap().to_owned();

    let subs_ctx = Context::new();
    let mut subs = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        let mut sub = subs_ctx.subscriber().unwrap();
        sub.subscribe("load.");
        sub.connect(&ep).unwrap();
        subs.push(sub);
    }
    // A SUB sends its subscriptions to a new publisher at its next call; poll each one
    // until the publisher has heard from all of them.
    assert!(
        eventually(WAIT, || {
            for sub in &mut subs {
                let _ = sub.try_recv();
            }
            publisher.subscriber_count() == PEERS
        }),
        "only {} of {PEERS} subscribed",
        publisher.subscriber_count()
    );
    for i in 0..5u32 {
        let queued = publisher
            .send(["load.topic".as_bytes().to_vec(), i.to_be_bytes().to_vec()])
            .unwrap();
        assert_eq!(queued, PEERS);
        publisher.send("other.topic").unwrap();
    }
    for (n, sub) in subs.iter_mut().enumerate() {
        for i in 0..5u32 {
            let m = sub.recv_timeout(WAIT).unwrap();
            assert_eq!(&m[1][..], &i.to_be_bytes()[..], "subscriber {n}");
        }
        assert!(
            matches!(sub.try_recv(), Err(Error::WouldBlock)),
            "subscriber {n} got extra"
        );
    }
    assert_eq!(publisher.dropped(), 0);
}
