//! PUB/SUB interop with the real libzmq (the `zmq` crate builds it from source), over real
//! tcp and ipc connections on loopback, with ferromq on either end and either role, and a
//! libzmq XPUB that shows what a ferromq SUB sends upstream.

mod util;

use std::time::{Duration, Instant};

use ferromq::{Context, Error, Message};
use util::{eventually, zmq_socket, Transport};

const TIMEOUT_MS: i32 = 10_000;
const WAIT: Duration = Duration::from_secs(10);

fn zmq_last_endpoint(s: &zmq::Socket) -> String {
    s.get_last_endpoint().unwrap().unwrap()
}

/// The messages each test publishes on the topic "news": single, multipart with an empty
/// frame, and 1 MiB.
fn messages() -> Vec<Vec<Vec<u8>>> {
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 253) as u8).collect();
    vec![
        vec![b"news".to_vec()],
        vec![b"news.multi".to_vec(), Vec::new(), b"part".to_vec()],
        vec![b"news.big".to_vec(), big],
    ]
}

fn libzmq_pub_to_ferro_sub(t: Transport, ferro_binds: bool) {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut sub = ctx.subscriber().unwrap();
    let zpub = zmq_socket(&zctx, zmq::PUB);
    if ferro_binds {
        sub.bind(&t.fresh_endpoint("interop-pubsub")).unwrap();
        zpub.connect(sub.last_endpoint().unwrap()).unwrap();
    } else {
        zpub.bind(&t.fresh_endpoint("interop-pubsub")).unwrap();
        sub.connect(&zmq_last_endpoint(&zpub)).unwrap();
    }
    sub.subscribe("news");

    // Slow joiner: publish a first message until the subscription has reached libzmq,
    // which the first delivery proves.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "{t:?}: subscription never reached libzmq"
        );
        zpub.send("news.hello", 0).unwrap();
        match sub.recv_timeout(Duration::from_millis(20)) {
            Ok(m) => {
                assert_eq!(m, "news.hello");
                break;
            }
            Err(Error::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    // Drop extra hellos that were already on their way.
    while sub.recv_timeout(Duration::from_millis(100)).is_ok() {}

    for m in messages() {
        zpub.send("other topic", 0).unwrap(); // libzmq filters it out
        zpub.send_multipart(&m, 0).unwrap();
        let got = sub.recv_timeout(WAIT).unwrap();
        let frames: Vec<Vec<u8>> = got.iter().map(|f| f.to_vec()).collect();
        assert_eq!(frames, m, "{t:?} ferro_binds={ferro_binds}");
        let meta = got.metadata().unwrap();
        assert_eq!(meta.socket_type(), Some(ferromq::SocketType::Pub));
    }

    // After unsubscribing, libzmq stops sending "news" (and anything already on its way
    // is filtered by the SUB itself).
    assert!(sub.unsubscribe("news"));
    sub.subscribe("late");
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "{t:?}: new subscription never took effect"
        );
        zpub.send("news.after", 0).unwrap();
        zpub.send("late", 0).unwrap();
        match sub.recv_timeout(Duration::from_millis(20)) {
            Ok(m) => {
                assert_eq!(m, "late", "{t:?}: unsubscribed topic delivered");
                break;
            }
            Err(Error::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

fn ferro_pub_to_libzmq_sub(t: Transport, ferro_binds: bool) {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut publisher = ctx.publisher().unwrap();
    let zsub = zmq_socket(&zctx, zmq::SUB);
    zsub.set_subscribe(b"news").unwrap();
    if ferro_binds {
        publisher.bind(&t.fresh_endpoint("interop-pubsub")).unwrap();
        zsub.connect(publisher.last_endpoint().unwrap()).unwrap();
    } else {
        zsub.bind(&t.fresh_endpoint("interop-pubsub")).unwrap();
        publisher.connect(&zmq_last_endpoint(&zsub)).unwrap();
    }
    // A bound libzmq SUB takes in a new connection, and sends it its subscriptions, only
    // when its application next calls into the socket (here: asks for its events), just
    // as a ferromq SUB does. A connecting libzmq SUB has them queued from connect() on.
    assert!(
        eventually(WAIT, || {
            let _ = zsub.get_events();
            publisher.subscriber_count() == 1
        }),
        "{t:?}: libzmq's subscription never arrived"
    );
    for m in messages() {
        assert_eq!(publisher.send("other topic").unwrap(), 0, "{t:?}");
        assert_eq!(
            publisher.send(Message::from(m.clone())).unwrap(),
            1,
            "{t:?}"
        );
        let got = zsub.recv_multipart(0).unwrap();
        assert_eq!(got, m, "{t:?} ferro_binds={ferro_binds}");
    }
}

#[test]
fn libzmq_pub_to_ferromq_sub_tcp_ferromq_binds() {
    libzmq_pub_to_ferro_sub(Transport::Tcp, true);
}

#[test]
fn libzmq_pub_to_ferromq_sub_tcp_ferromq_connects() {
    libzmq_pub_to_ferro_sub(Transport::Tcp, false);
}

#[test]
fn libzmq_pub_to_ferromq_sub_ipc_ferromq_binds() {
    libzmq_pub_to_ferro_sub(Transport::Ipc, true);
}

#[test]
fn libzmq_pub_to_ferromq_sub_ipc_ferromq_connects() {
    libzmq_pub_to_ferro_sub(Transport::Ipc, false);
}

#[test]
fn ferromq_pub_to_libzmq_sub_tcp_ferromq_binds() {
    ferro_pub_to_libzmq_sub(Transport::Tcp, true);
}

#[test]
fn ferromq_pub_to_libzmq_sub_tcp_ferromq_connects() {
    ferro_pub_to_libzmq_sub(Transport::Tcp, false);
}

#[test]
fn ferromq_pub_to_libzmq_sub_ipc_ferromq_binds() {
    ferro_pub_to_libzmq_sub(Transport::Ipc, true);
}

#[test]
fn ferromq_pub_to_libzmq_sub_ipc_ferromq_connects() {
    ferro_pub_to_libzmq_sub(Transport::Ipc, false);
}

/// What a ferromq SUB sends upstream, as a verbose libzmq XPUB hands it to its
/// application: `01`+topic for the first subscription to a topic, `00`+topic when the last
/// one is taken back, and nothing for the ones in between.
#[test]
fn libzmq_xpub_sees_the_subscriptions_of_a_ferromq_sub() {
    for t in [Transport::Tcp, Transport::Ipc] {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let xpub = zmq_socket(&zctx, zmq::XPUB);
        // Verbose: libzmq would otherwise hide repeated subscriptions itself.
        xpub.set_xpub_verbose(true).unwrap();
        xpub.bind(&t.fresh_endpoint("interop-xpub")).unwrap();
        xpub.set_rcvtimeo(20).unwrap();

        let mut sub = ctx.subscriber().unwrap();
        sub.connect(&zmq_last_endpoint(&xpub)).unwrap();
        sub.subscribe("topic");
        sub.subscribe("topic");

        // The SUB sends its subscriptions to the XPUB once it has seen the connection,
        // at its next call.
        let mut first = None;
        assert!(
            eventually(WAIT, || {
                let _ = sub.try_recv();
                first = xpub.recv_bytes(0).ok();
                first.is_some()
            }),
            "{t:?}: no subscription reached libzmq"
        );
        assert_eq!(first.unwrap(), b"\x01topic", "{t:?}");

        xpub.set_rcvtimeo(200).unwrap();
        assert!(!sub.unsubscribe("topic"));
        assert_eq!(
            xpub.recv_bytes(0),
            Err(zmq::Error::EAGAIN),
            "{t:?}: only one subscribe was owed, and no cancel yet"
        );
        assert!(sub.unsubscribe("topic"));
        xpub.set_rcvtimeo(TIMEOUT_MS).unwrap();
        assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x00topic", "{t:?}");

        // A topic with every byte value survives the trip.
        let binary: Vec<u8> = (0..=255u8).collect();
        sub.subscribe(&binary);
        let mut expected = vec![1u8];
        expected.extend_from_slice(&binary);
        assert_eq!(xpub.recv_bytes(0).unwrap(), expected, "{t:?}");

        // And messages come back through the XPUB, filtered by it.
        xpub.send_multipart([&binary[..], &b"payload"[..]], 0)
            .unwrap();
        let got = sub.recv_timeout(WAIT).unwrap();
        assert_eq!(&got[0][..], &binary[..], "{t:?}");
    }
}

/// A libzmq SUB sends SUBSCRIBE on every `ZMQ_SUBSCRIBE` but CANCEL only for the last
/// `ZMQ_UNSUBSCRIBE` of a topic. A ferromq PUB keeps a set per peer, as libzmq's does, so the
/// topic goes away with that one CANCEL.
#[test]
fn a_libzmq_sub_that_subscribes_twice_is_unsubscribed_by_its_one_cancel() {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher
        .bind(&Transport::Tcp.fresh_endpoint("interop-twice"))
        .unwrap();
    let zsub = zmq_socket(&zctx, zmq::SUB);
    zsub.connect(publisher.last_endpoint().unwrap()).unwrap();
    zsub.set_subscribe(b"A").unwrap();
    zsub.set_subscribe(b"A").unwrap();
    publisher.wait_for_subscribers(1, WAIT).unwrap();

    zsub.set_unsubscribe(b"A").unwrap();
    // libzmq sent nothing for that one: the topic is still delivered.
    zsub.set_subscribe(b"marker").unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "marker subscription never arrived"
        );
        if publisher.send("marker").unwrap() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(zsub.recv_bytes(0).unwrap(), b"marker");
    assert_eq!(publisher.send("A1").unwrap(), 1);
    assert_eq!(zsub.recv_bytes(0).unwrap(), b"A1");

    zsub.set_unsubscribe(b"A").unwrap();
    zsub.set_unsubscribe(b"marker").unwrap();
    assert!(
        eventually(WAIT, || publisher.subscriber_count() == 0),
        "the CANCELs did not remove the topics"
    );
    assert_eq!(publisher.send("A2").unwrap(), 0);
}

/// libzmq 4.x's SUB sends every subscription upstream, repeats included, and a libzmq XPUB
/// with `ZMQ_XPUB_VERBOSE` passes each one up: a ferromq SUB must do the same, or a verbose
/// proxy upstream never sees the repeat.
#[test]
fn a_ferro_sub_that_subscribes_twice_is_seen_twice_by_a_verbose_libzmq_xpub() {
    let zctx = zmq::Context::new();
    let xpub = zmq_socket(&zctx, zmq::XPUB);
    xpub.set_xpub_verbose(true).unwrap();
    xpub.set_rcvtimeo(100).unwrap();
    xpub.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = zmq_last_endpoint(&xpub);

    let ctx = Context::new();
    let mut sub = ctx.subscriber().unwrap();
    sub.connect(&endpoint).unwrap();
    sub.subscribe("a");
    // The first arrives once the connection is up (the SUB's calls send it).
    let deadline = Instant::now() + WAIT;
    let first = loop {
        let _ = sub.try_recv();
        match xpub.recv_bytes(0) {
            Ok(m) => break m,
            Err(zmq::Error::EAGAIN) => assert!(Instant::now() < deadline, "no subscription"),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(first, b"\x01a");
    sub.subscribe("a");
    xpub.set_rcvtimeo(TIMEOUT_MS).unwrap();
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01a");
    // One cancel leaves a subscription: nothing goes upstream; the second sends it.
    assert!(!sub.unsubscribe("a"));
    assert!(sub.unsubscribe("a"));
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x00a");
}

/// The I/O thread sends a SUB's subscriptions to a new connection itself: a libzmq XPUB
/// hears them while the SUB's thread makes no call at all (here: sleeps), and hears them
/// again when it restarts and the SUB reconnects.
#[test]
fn a_libzmq_xpub_hears_a_ferro_sub_that_makes_no_call() {
    let zctx = zmq::Context::new();
    let xpub = zmq_socket(&zctx, zmq::XPUB);
    xpub.set_rcvtimeo(TIMEOUT_MS).unwrap();
    xpub.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = zmq_last_endpoint(&xpub);

    let ctx = Context::new();
    let mut sub = ctx.subscriber().unwrap();
    sub.subscribe("quiet");
    sub.connect(&endpoint).unwrap();
    let sleeper = std::thread::spawn(move || {
        // No call on the SUB while the XPUB waits for the subscription.
        std::thread::sleep(Duration::from_secs(3));
        sub
    });
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01quiet");
    drop(sleeper.join().unwrap());
}
