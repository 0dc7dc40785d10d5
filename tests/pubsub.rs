//! PUB → SUB between ferromq sockets over tcp, ipc and inproc.

mod util;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ferromq::{Context, Error, Message, Pub, Sub};
use util::{unique, Transport};

const WAIT: Duration = Duration::from_secs(10);

fn publisher(ctx: &Context) -> Pub {
    ctx.publisher().unwrap()
}

fn subscriber(ctx: &Context) -> Sub {
    let mut s = ctx.subscriber().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s
}

/// Binds `socket` on a fresh endpoint of `t` and returns the endpoint to connect to.
macro_rules! bind_fresh {
    ($socket:expr, $t:expr) => {{
        $socket.bind(&$t.fresh_endpoint("pubsub")).unwrap();
        $socket.last_endpoint().unwrap().to_owned()
    }};
}

/// Returns once every subscription change `sub` made so far has reached `publisher`.
///
/// Subscription changes travel in order, so the SUB subscribes to a marker topic of its
/// own and the PUB publishes the marker until it arrives; by then everything sent before
/// it has been applied. The marker is then unsubscribed; copies still on their way are
/// discarded by the SUB's own filter. The SUB's calls also send its subscriptions to a
/// publisher that connected since its last call.
fn settle(publisher: &mut Pub, sub: &mut Sub) {
    let marker = unique("!marker");
    sub.subscribe(&marker);
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "subscriptions never reached the PUB"
        );
        publisher.send(marker.clone()).unwrap();
        match sub.recv_timeout(Duration::from_millis(10)) {
            Ok(m) if m == marker.as_str() => break,
            Ok(other) => panic!("unexpected message while settling: {other:?}"),
            Err(Error::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    sub.unsubscribe(&marker);
    // A marker sent before the one that came may still be on its way: a wider
    // subscription ("") would deliver it to the test. Take those that come soon now...
    while let Ok(m) = sub.recv_timeout(Duration::from_millis(20)) {
        assert!(is_marker(&m), "unexpected message while settling: {m:?}");
    }
}

/// A message `settle` sent (...and [`drain`] skips any that come later still).
fn is_marker(m: &Message) -> bool {
    m.len() == 1 && m.first().is_some_and(|f| f.starts_with(b"!marker"))
}

/// Receives what is queued now, until nothing arrives for a short while.
fn drain(sub: &mut Sub) -> Vec<Message> {
    let mut got = Vec::new();
    while let Ok(m) = sub.recv_timeout(Duration::from_millis(100)) {
        if !is_marker(&m) {
            got.push(m);
        }
    }
    got
}

#[test]
fn fan_out_reaches_every_subscriber_on_every_transport() {
    const SUBSCRIBERS: usize = 5;
    const MESSAGES: u32 = 200;
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut tx = publisher(&ctx);
        let ep = bind_fresh!(tx, t);
        let receivers: Vec<_> = (0..SUBSCRIBERS)
            .map(|_| {
                let (ctx, ep) = (ctx.clone(), ep.clone());
                thread::spawn(move || {
                    let mut rx = subscriber(&ctx);
                    rx.connect(&ep).unwrap();
                    rx.subscribe("");
                    (0..MESSAGES)
                        .map(|_| rx.recv().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // Each SUB is blocked in recv, so it sends its subscription as soon as it connects.
        tx.wait_for_subscribers(SUBSCRIBERS, WAIT).unwrap();
        for i in 0..MESSAGES {
            let queued = tx.send(["tick".to_owned(), i.to_string()]).unwrap();
            assert_eq!(queued, SUBSCRIBERS, "{t:?}");
        }
        for r in receivers {
            let got = r.join().unwrap();
            for (i, m) in got.iter().enumerate() {
                assert_eq!(
                    *m,
                    Message::from(["tick".to_owned(), i.to_string()]),
                    "{t:?}"
                );
            }
        }
        assert_eq!(tx.dropped(), 0, "{t:?}");
    }
}

#[test]
fn overlapping_prefixes_deliver_each_message_once_filtered_by_the_first_frame() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut tx = publisher(&ctx);
        let ep = bind_fresh!(tx, t);
        let mut nested = subscriber(&ctx);
        nested.connect(&ep).unwrap();
        for topic in ["a", "ab", "abc"] {
            nested.subscribe(topic);
        }
        let mut narrow = subscriber(&ctx);
        narrow.connect(&ep).unwrap();
        narrow.subscribe("ab");
        settle(&mut tx, &mut nested);
        settle(&mut tx, &mut narrow);

        assert_eq!(tx.send("abcd").unwrap(), 2, "{t:?}");
        assert_eq!(tx.send("ax").unwrap(), 1, "{t:?}");
        assert_eq!(tx.send("b").unwrap(), 0, "{t:?}");
        // Only the first frame is the topic.
        assert_eq!(tx.send(["z", "abc"]).unwrap(), 0, "{t:?}");
        assert_eq!(tx.send(["ab", "body"]).unwrap(), 2, "{t:?}");

        let got: Vec<Message> = drain(&mut nested);
        let expected = [
            Message::from("abcd"),
            Message::from("ax"),
            Message::from(["ab", "body"]),
        ];
        assert_eq!(got, expected, "{t:?}: each message exactly once");
        let got = drain(&mut narrow);
        assert_eq!(
            got,
            [Message::from("abcd"), Message::from(["ab", "body"])],
            "{t:?}"
        );
    }
}

#[test]
fn cancel_stops_delivery_of_that_topic_only() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut tx = publisher(&ctx);
        let ep = bind_fresh!(tx, t);
        let mut rx = subscriber(&ctx);
        rx.connect(&ep).unwrap();
        rx.subscribe("A");
        rx.subscribe("B");
        settle(&mut tx, &mut rx);
        assert_eq!(tx.send("A1").unwrap(), 1);
        assert_eq!(rx.recv().unwrap(), "A1");

        assert!(rx.unsubscribe("A"));
        settle(&mut tx, &mut rx);
        assert_eq!(tx.send("A2").unwrap(), 0, "{t:?}: the PUB stops sending A");
        assert_eq!(tx.send("B2").unwrap(), 1, "{t:?}");
        assert_eq!(rx.recv().unwrap(), "B2");

        assert!(rx.unsubscribe("B"));
        settle(&mut tx, &mut rx);
        // The settle marker's own cancel may still be on its way.
        assert!(
            util::eventually(WAIT, || tx.subscriber_count() == 0),
            "{t:?}"
        );
        assert_eq!(tx.send("B3").unwrap(), 0, "{t:?}");
        assert!(drain(&mut rx).is_empty(), "{t:?}");
    }
}

#[test]
fn subscribing_twice_and_cancelling_once_keeps_the_subscription() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut tx = publisher(&ctx);
        let ep = bind_fresh!(tx, t);
        let mut rx = subscriber(&ctx);
        rx.connect(&ep).unwrap();
        rx.subscribe("A");
        rx.subscribe("A");
        assert!(!rx.unsubscribe("A"), "one subscription to A remains");
        settle(&mut tx, &mut rx);
        assert_eq!(tx.send("A1").unwrap(), 1, "{t:?}");
        assert_eq!(rx.recv().unwrap(), "A1");

        assert!(rx.unsubscribe("A"));
        settle(&mut tx, &mut rx);
        assert_eq!(tx.send("A2").unwrap(), 0, "{t:?}");
        assert!(!rx.unsubscribe("A"), "nothing left to cancel");
    }
}

#[test]
fn the_empty_topic_subscribes_to_everything_and_absorbs_narrower_ones() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut tx = publisher(&ctx);
        let ep = bind_fresh!(tx, t);
        let mut rx = subscriber(&ctx);
        rx.connect(&ep).unwrap();
        rx.subscribe("A");
        rx.subscribe("");
        settle(&mut tx, &mut rx);
        for m in ["A", "B", ""] {
            assert_eq!(tx.send(m).unwrap(), 1, "{t:?}");
        }
        assert_eq!(drain(&mut rx).len(), 3, "{t:?}: A+\"\" still delivers once");
    }
}

/// One subscriber never reads; the other reads everything. The PUB never blocks, the
/// slow one loses whole messages only, the fast one loses nothing, and every copy not
/// delivered is counted.
#[test]
fn a_slow_subscriber_loses_whole_messages_while_a_fast_one_gets_everything() {
    const MESSAGES: u64 = 3000;
    const PAYLOAD: usize = 8 * 1024;
    // How far the PUB may get ahead of the fast subscriber: well below any queue size,
    // so the fast one can never be the one at its high-water mark.
    const WINDOW: u64 = 4;
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut tx = publisher(&ctx);
        tx.set_send_hwm(10);
        let ep = bind_fresh!(tx, t);

        let mut slow = subscriber(&ctx);
        slow.set_recv_hwm(10);
        slow.connect(&ep).unwrap();
        slow.subscribe("data");
        settle(&mut tx, &mut slow);

        let (progress_tx, progress) = mpsc::channel();
        let fast = {
            let (ctx, ep) = (ctx.clone(), ep.clone());
            thread::spawn(move || {
                let mut rx = subscriber(&ctx);
                rx.connect(&ep).unwrap();
                rx.subscribe("data");
                let mut got = Vec::new();
                for n in 1..=MESSAGES {
                    got.push(rx.recv().unwrap());
                    progress_tx.send(n).unwrap();
                }
                got
            })
        };
        tx.wait_for_subscribers(2, WAIT).unwrap();

        let started = Instant::now();
        let mut fast_has = 0;
        for seq in 0..MESSAGES {
            while seq - fast_has >= WINDOW {
                fast_has = progress
                    .recv_timeout(WAIT)
                    .expect("fast subscriber stalled");
            }
            let frames = [
                b"data".to_vec(),
                seq.to_be_bytes().to_vec(),
                vec![(seq % 251) as u8; PAYLOAD],
            ];
            tx.send(Message::from(frames.to_vec())).unwrap();
        }
        let dropped = tx.dropped();
        assert!(
            dropped > 0,
            "{t:?}: the slow subscriber never reached its mark"
        );
        assert!(started.elapsed() < WAIT, "{t:?}: publishing took too long");

        let got = fast.join().unwrap();
        assert_eq!(got.len() as u64, MESSAGES, "{t:?}");
        for (seq, m) in got.iter().enumerate() {
            assert_eq!(m.len(), 3, "{t:?}: partial message");
            assert_eq!(
                m[1][..],
                (seq as u64).to_be_bytes(),
                "{t:?}: fast lost or reordered"
            );
        }

        // The slow one gets what fit in its queues (and, over tcp or ipc, the kernel's
        // buffers), in order, each message whole; every other copy was counted as dropped.
        let mut slow_got = 0u64;
        let mut last = None;
        let deadline = Instant::now() + WAIT;
        while slow_got + dropped < MESSAGES {
            assert!(
                Instant::now() < deadline,
                "{t:?}: {slow_got} + {dropped} != {MESSAGES}"
            );
            let m = slow.recv().unwrap();
            assert_eq!(m.len(), 3, "{t:?}: partial message");
            let seq = u64::from_be_bytes(m[1][..].try_into().unwrap());
            assert_eq!(m[2].len(), PAYLOAD, "{t:?}");
            assert!(
                m[2].iter().all(|&b| b == (seq % 251) as u8),
                "{t:?}: torn payload"
            );
            assert!(last < Some(seq), "{t:?}: out of order");
            last = Some(seq);
            slow_got += 1;
        }
        assert!(
            drain(&mut slow).is_empty(),
            "{t:?}: more arrived than was counted"
        );
    }
}

#[test]
fn a_subscriber_hears_every_publisher_it_connects_to() {
    for t in [Transport::Tcp, Transport::Ipc] {
        let ctx = Context::new();
        let mut pubs: Vec<Pub> = (0..3).map(|_| publisher(&ctx)).collect();
        let mut rx = subscriber(&ctx);
        // Subscribed before any connection exists: every publisher must still hear it.
        rx.subscribe("x");
        for p in &mut pubs {
            let ep = bind_fresh!(p, t);
            rx.connect(&ep).unwrap();
        }
        let receiver = thread::spawn(move || {
            let got: Vec<Message> = (0..30).map(|_| rx.recv().unwrap()).collect();
            (rx, got)
        });
        for p in &mut pubs {
            p.wait_for_subscribers(1, WAIT).unwrap();
        }
        for i in 0..10 {
            for (n, p) in pubs.iter_mut().enumerate() {
                assert_eq!(p.send(["x".to_owned(), format!("{n}:{i}")]).unwrap(), 1);
            }
        }
        let (_rx, got) = receiver.join().unwrap();
        for n in 0..3 {
            let from_n: Vec<String> = got
                .iter()
                .map(|m| String::from_utf8(m[1].to_vec()).unwrap())
                .filter(|s| s.starts_with(&format!("{n}:")))
                .collect();
            let expected: Vec<String> = (0..10).map(|i| format!("{n}:{i}")).collect();
            assert_eq!(from_n, expected, "{t:?}: publisher {n}");
        }
    }
}

/// The publisher goes away and a new one binds the same endpoint: the subscriber, blocked
/// in `recv`, reconnects and subscribes again with no call from the application.
#[test]
fn a_reconnecting_subscriber_subscribes_again_by_itself() {
    for t in [Transport::Tcp, Transport::Ipc] {
        let ctx = Context::new();
        let mut first = publisher(&ctx);
        let ep = bind_fresh!(first, t);

        let (got_tx, got) = mpsc::channel();
        let receiver = {
            let (ctx, ep) = (ctx.clone(), ep.clone());
            thread::spawn(move || {
                let mut rx = subscriber(&ctx);
                rx.set_reconnect_interval(Some(Duration::from_millis(20)));
                rx.set_reconnect_interval_max(Duration::from_millis(50));
                rx.connect(&ep).unwrap();
                rx.subscribe("news");
                for _ in 0..2 {
                    got_tx.send(rx.recv().unwrap()).unwrap();
                }
            })
        };
        first.wait_for_subscribers(1, WAIT).unwrap();
        assert_eq!(first.send("news 1").unwrap(), 1);
        assert_eq!(got.recv_timeout(WAIT).unwrap(), "news 1", "{t:?}");
        drop(first);

        // The old listener closes in the background; over tcp the port is free once it has.
        let mut second = publisher(&ctx);
        assert!(
            util::eventually(WAIT, || second.bind(&ep).is_ok()),
            "{t:?}: rebind"
        );
        second.wait_for_subscribers(1, WAIT).unwrap();
        assert_eq!(second.send("news 2").unwrap(), 1, "{t:?}");
        assert_eq!(got.recv_timeout(WAIT).unwrap(), "news 2", "{t:?}");
        receiver.join().unwrap();
    }
}

#[test]
fn a_departed_subscriber_is_forgotten() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut tx = publisher(&ctx);
        let ep = bind_fresh!(tx, t);
        let mut rx = subscriber(&ctx);
        rx.connect(&ep).unwrap();
        rx.subscribe("");
        settle(&mut tx, &mut rx);
        assert_eq!(tx.subscriber_count(), 1);
        drop(rx);
        assert!(
            util::eventually(WAIT, || tx.subscriber_count() == 0 && tx.peer_count() == 0),
            "{t:?}"
        );
        assert_eq!(tx.send("anyone?").unwrap(), 0);
    }
}

#[test]
fn incompatible_inproc_peers_are_refused() {
    let ctx = Context::new();
    let name = format!("inproc://{}", unique("wrong"));
    let mut pull = ctx.pull().unwrap();
    pull.bind(&name).unwrap();
    let mut rx = subscriber(&ctx);
    assert!(matches!(
        rx.connect(&name),
        Err(Error::IncompatiblePeer { .. })
    ));
    let mut tx = publisher(&ctx);
    assert!(matches!(
        tx.connect(&name),
        Err(Error::IncompatiblePeer { .. })
    ));

    let name = format!("inproc://{}", unique("pubpub"));
    let mut a = publisher(&ctx);
    a.bind(&name).unwrap();
    let mut b = publisher(&ctx);
    assert!(matches!(
        b.connect(&name),
        Err(Error::IncompatiblePeer { .. })
    ));
}

/// A raw ZMTP 3.1 SUB over tcp: greeting and READY sent, the PUB's greeting and 27-byte
/// READY read.
fn raw_sub(endpoint: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("tcp://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready("SUB"));
    s.write_all(&out).unwrap();
    let mut head = [0u8; 64 + 27];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[64 + 20..], b"\0\0\0\x03PUB");
    s
}

#[test]
fn a_peer_flooding_subscriptions_is_bounded_reported_and_harms_nobody() {
    use std::io::Write;
    const BOUND: usize = 1000;
    const SENT: usize = 5000;
    let ctx = Context::new();
    let mut publisher = publisher(&ctx);
    publisher.set_max_subscriptions(Some(BOUND));
    let monitor = publisher.monitor();
    let endpoint = bind_fresh!(publisher, Transport::Tcp);

    let mut good = subscriber(&ctx);
    good.connect(&endpoint).unwrap();
    good.subscribe("good");
    settle(&mut publisher, &mut good);

    // SENT distinct SUBSCRIBE commands of 6-byte topics, in one write.
    let mut raw = raw_sub(&endpoint);
    let mut flood = Vec::new();
    for i in 0..SENT {
        let topic = format!("t{i:05}");
        flood.extend_from_slice(&[0x04, (10 + topic.len()) as u8, 9]);
        flood.extend_from_slice(b"SUBSCRIBE");
        flood.extend_from_slice(topic.as_bytes());
    }
    raw.write_all(&flood).unwrap();

    let refused = (SENT - BOUND) as u64;
    assert!(
        util::eventually(WAIT, || publisher.refused_subscriptions() == refused),
        "refused {} of {SENT}, bound {BOUND}",
        publisher.refused_subscriptions()
    );
    // Held: the first BOUND topics; the rest were refused.
    assert_eq!(publisher.send("t00000").unwrap(), 1);
    assert_eq!(publisher.send(format!("t{:05}", BOUND - 1)).unwrap(), 1);
    assert_eq!(publisher.send(format!("t{BOUND:05}")).unwrap(), 0);
    assert_eq!(publisher.send(format!("t{:05}", SENT - 1)).unwrap(), 0);
    // The good subscriber is unaffected.
    assert_eq!(publisher.send(["good", "news"]).unwrap(), 1);
    assert_eq!(&good.recv().unwrap()[1][..], b"news");

    // The monitor saw refusals 1, 2, 4, ... 2048, each with the held count and bytes at
    // the bound.
    let mut reported = Vec::new();
    while let Ok(event) = monitor.recv_timeout(Duration::from_millis(200)) {
        if let ferromq::MonitorEvent::SubscriptionsRefused {
            refused,
            held,
            held_bytes,
            peer_address,
            ..
        } = event
        {
            assert_eq!((held, held_bytes), (BOUND, BOUND * 6));
            assert!(peer_address.is_some());
            reported.push(refused);
        }
    }
    let powers: Vec<u64> = (0..12).map(|k| 1u64 << k).collect();
    assert_eq!(reported, powers);
}

#[test]
fn subscription_bytes_are_bounded_per_peer() {
    let ctx = Context::new();
    let mut publisher = publisher(&ctx);
    publisher.set_max_subscription_bytes(Some(100));
    let name = format!("inproc://{}", unique("sub-bytes"));
    publisher.bind(&name).unwrap();
    let mut sub = subscriber(&ctx);
    sub.connect(&name).unwrap();
    for i in 0..20 {
        sub.subscribe(format!("topic-{i:04}")); // 10 bytes each
    }
    assert_eq!(publisher.refused_subscriptions(), 10);
    assert_eq!(publisher.send("topic-0009").unwrap(), 1);
    assert_eq!(publisher.send("topic-0010").unwrap(), 0);
    // A cancel frees room for another topic.
    assert!(sub.unsubscribe("topic-0000"));
    sub.subscribe("topic-0010");
    assert_eq!(publisher.send("topic-0010").unwrap(), 1);
    assert_eq!(publisher.refused_subscriptions(), 10);
}

#[test]
fn a_flood_of_unmatched_messages_cannot_hold_a_receive_past_its_deadline() {
    let ctx = Context::new();
    let name = format!("inproc://{}", unique("unmatched-flood"));
    let mut sub = subscriber(&ctx);
    sub.bind(&name).unwrap();
    sub.subscribe("wanted");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let floods: Vec<_> = (0..3)
        .map(|_| {
            let (ctx, name, stop) = (ctx.clone(), name.clone(), stop.clone());
            thread::spawn(move || {
                let mut publisher = publisher(&ctx);
                publisher.set_send_hwm(100_000);
                publisher.connect(&name).unwrap();
                publisher.wait_for_subscribers(1, WAIT).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = publisher.send("unwanted");
                }
            })
        })
        .collect();
    // Let the floods start (the SUB greets them at its calls).
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        let _ = sub.try_recv();
    }
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        for _ in 0..20 {
            let r = sub.try_recv();
            assert!(matches!(r, Err(Error::WouldBlock)), "{r:?}");
        }
        tx.send("try_recv").unwrap();
        let r = sub.recv_timeout(Duration::from_millis(100));
        assert!(matches!(r, Err(Error::TimedOut)), "{r:?}");
        tx.send("recv_timeout").unwrap();
    });
    // A generous watchdog, not a speed assertion.
    let got = rx.recv_timeout(WAIT);
    let got2 = rx.recv_timeout(WAIT);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    worker.join().unwrap();
    for f in floods {
        f.join().unwrap();
    }
    assert_eq!(got, Ok("try_recv"));
    assert_eq!(got2, Ok("recv_timeout"));
}

#[test]
fn a_publisher_connecting_to_a_sub_that_makes_no_call_hears_its_subscriptions() {
    for t in [Transport::Inproc, Transport::Tcp] {
        let ctx = Context::new();
        let mut sub = subscriber(&ctx);
        let endpoint = bind_fresh!(sub, t);
        sub.subscribe("a");
        sub.subscribe("b");
        let sleeper = thread::spawn(move || {
            thread::sleep(Duration::from_secs(2));
            sub
        });
        let mut publisher = publisher(&ctx);
        publisher.connect(&endpoint).unwrap();
        // The SUB's thread sleeps: whoever attached the connection greeted it.
        publisher.wait_for_subscribers(1, WAIT).unwrap();
        assert!(util::eventually(WAIT, || publisher.send("b.1").unwrap() == 1));
        let mut sub = sleeper.join().unwrap();
        assert_eq!(sub.recv().unwrap(), "b.1");
        // Greeted once: no duplicate subscription was sent by a later call either.
        assert!(sub.unsubscribe("b"));
        settle(&mut publisher, &mut sub);
        assert_eq!(publisher.send("b.2").unwrap(), 0);
    }
}

#[test]
fn a_non_blocking_receive_discards_a_bounded_number_of_unmatched_messages() {
    let ctx = Context::new();
    let name = format!("inproc://{}", unique("unmatched-backlog"));
    let mut sub = subscriber(&ctx);
    sub.set_recv_hwm(0);
    sub.bind(&name).unwrap();
    sub.subscribe("");
    let mut publisher = publisher(&ctx);
    publisher.set_send_hwm(0);
    publisher.connect(&name).unwrap();
    publisher.wait_for_subscribers(1, WAIT).unwrap();
    // 5000 messages queued, then the SUB narrows its subscription: they no longer match.
    for _ in 0..5000 {
        assert_eq!(publisher.send("unwanted").unwrap(), 1);
    }
    sub.subscribe("wanted");
    assert!(sub.unsubscribe(""));
    assert!(util::eventually(WAIT, || publisher.send("wanted").unwrap() == 1));
    // One try_recv does a bounded amount of work, then says it would block...
    assert!(matches!(sub.try_recv(), Err(Error::WouldBlock)));
    // ...and later calls get through the backlog to the message.
    let mut calls = 1;
    let got = loop {
        match sub.try_recv() {
            Ok(m) => break m,
            Err(Error::WouldBlock) => calls += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(calls < 100, "backlog never drained");
    };
    assert_eq!(got, "wanted");
    assert!(calls >= 5000 / 1024, "{calls} calls");
}
