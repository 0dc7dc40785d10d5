//! `ZMQ_IMMEDIATE=0` (the default) at its edges: wake-ups across the hand-over of pipes
//! made at connect, the receive direction after a reconnect, round robin over a peer
//! that never comes up, readiness before any connection, and closing while a connection
//! is down or in its handshake.

mod util;

use std::net::TcpListener;
use std::time::Duration;

use ferromq::{Context, Interest, MonitorEvent, PollItem};
use util::within;
use util::{expect_event as expect, free_port};

const LIMIT: Duration = Duration::from_secs(10);

/// A send blocked on a full queue of a connect that is not up goes through once a
/// connection comes and drains that queue.
#[test]
fn a_send_blocked_on_a_full_early_queue_wakes_when_a_connection_drains_it() {
    let ctx = Context::new();
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let mut push = ctx.push().unwrap();
    push.set_linger(Duration::ZERO);
    push.set_send_hwm(4);
    push.set_send_timeout(Some(LIMIT));
    push.connect(&endpoint).unwrap();
    for i in 0..4u8 {
        push.try_send(vec![i]).unwrap();
    }
    let (go, started) = std::sync::mpsc::channel::<()>();
    let ctx2 = ctx.clone();
    let ep = endpoint.clone();
    let puller = std::thread::spawn(move || {
        started.recv_timeout(LIMIT).unwrap();
        let mut pull = ctx2.pull().unwrap();
        pull.set_linger(Duration::ZERO);
        pull.set_recv_timeout(Some(LIMIT));
        pull.bind(&ep).unwrap();
        (0..6)
            .map(|_| pull.recv().unwrap()[0][0])
            .collect::<Vec<u8>>()
    });
    go.send(()).unwrap();
    // Blocks until the connection has taken some of the four queued.
    push.send(vec![4u8]).unwrap();
    push.send(vec![5u8]).unwrap();
    assert_eq!(puller.join().unwrap(), vec![0, 1, 2, 3, 4, 5]);
}

/// The receive direction survives a reconnect: a DEALER whose ROUTER went away and came
/// back gets the new ROUTER's replies, and what it queued meanwhile reaches the new one.
#[test]
fn a_dealer_receives_from_a_router_that_came_back() {
    let ctx = Context::new();
    let mut router = ctx.router().unwrap();
    router.set_linger(Duration::ZERO);
    router.set_recv_timeout(Some(LIMIT));
    router.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = router.last_endpoint().unwrap().to_owned();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_linger(Duration::ZERO);
    dealer.set_recv_timeout(Some(LIMIT));
    dealer.set_send_timeout(Some(LIMIT));
    let mon = dealer.monitor();
    dealer.connect(&endpoint).unwrap();
    for round in 0..3u8 {
        dealer.send(vec![b'q', round]).unwrap();
        let got = router.recv().unwrap();
        assert_eq!(got[1][..], [b'q', round]);
        router
            .send(vec![got[0].to_vec(), vec![b'a', round]])
            .unwrap();
        assert_eq!(dealer.recv().unwrap()[0][..], [b'a', round]);
        drop(router);
        expect(&mon, "disconnected", |e| {
            matches!(e, MonitorEvent::Disconnected { .. })
        });
        // Queued while no connection carries the queue.
        dealer.try_send(vec![b'w', round]).unwrap();
        router = ctx.router().unwrap();
        router.set_linger(Duration::ZERO);
        router.set_recv_timeout(Some(LIMIT));
        router.bind(&endpoint).unwrap();
        let got = router.recv().unwrap();
        assert_eq!(got[1][..], [b'w', round]);
        router
            .send(vec![got[0].to_vec(), vec![b'r', round]])
            .unwrap();
        assert_eq!(dealer.recv().unwrap()[0][..], [b'r', round]);
    }
}

/// libzmq's DEALER round-robins over a connect that never came up and a live one: the
/// sends do not block, every other message waits for the absent peer, and it gets them,
/// in order, once it binds; none is lost or doubled.
#[test]
fn a_dealer_round_robins_over_a_live_and_an_absent_peer() {
    let ctx = Context::new();
    let mut live = ctx.router().unwrap();
    live.set_linger(Duration::ZERO);
    live.set_recv_timeout(Some(LIMIT));
    live.bind("tcp://127.0.0.1:*").unwrap();
    let live_ep = live.last_endpoint().unwrap().to_owned();
    let absent_ep = format!("tcp://127.0.0.1:{}", free_port());
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_linger(Duration::ZERO);
    let mon = dealer.monitor();
    dealer.connect(&absent_ep).unwrap();
    dealer.connect(&live_ep).unwrap();
    expect(&mon, "handshake", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    for i in 0..10u8 {
        dealer.try_send(vec![i]).unwrap();
    }
    let mut got: Vec<u8> = (0..5).map(|_| live.recv().unwrap()[1][0]).collect();
    let mut late = ctx.router().unwrap();
    late.set_linger(Duration::ZERO);
    late.set_recv_timeout(Some(LIMIT));
    late.bind(&absent_ep).unwrap();
    let rest: Vec<u8> = (0..5).map(|_| late.recv().unwrap()[1][0]).collect();
    assert!(rest.windows(2).all(|w| w[0] < w[1]), "{rest:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    got.extend(rest);
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
}

/// A PUSH whose only connect is not up can queue, so it is writable, as in libzmq
/// (`ZMQ_EVENTS` has `ZMQ_POLLOUT`), in `events()` and in `poll`.
#[test]
fn a_push_with_a_queue_not_up_is_writable() {
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_linger(Duration::ZERO);
    push.connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    assert!(push.events().is_writable());
    let ready = ferromq::poll(
        &mut [PollItem::new(&mut push, Interest::WRITABLE)],
        Some(LIMIT),
    );
    assert!(ready.is_writable(0));
    // Full at its high-water mark: no longer writable.
    push.set_send_hwm(2);
    let mut push2 = ctx.push().unwrap();
    push2.set_linger(Duration::ZERO);
    push2.set_send_hwm(2);
    push2
        .connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    push2.try_send("a").unwrap();
    push2.try_send("b").unwrap();
    assert!(!push2.events().is_writable());
}

/// Closing a socket (linger 0, and the default linger) whose queue holds messages for a
/// connect that never came up, or that is stuck in its handshake with a peer that never
/// answers, and then dropping the context, returns.
#[test]
fn closing_with_a_queue_that_cannot_go_out_does_not_hang() {
    // A listener that accepts and never speaks: the handshake never ends.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_ep = format!("tcp://{}", silent.local_addr().unwrap());
    for linger in [Some(Duration::ZERO), None] {
        for endpoint in [
            format!("tcp://127.0.0.1:{}", free_port()),
            silent_ep.clone(),
            util::ipc_endpoint("review-never"),
            format!("inproc://{}", util::unique("review-never")),
        ] {
            within(Duration::from_secs(30), || {
                let ctx = Context::new();
                let mut push = ctx.push().unwrap();
                if let Some(l) = linger {
                    push.set_linger(l);
                }
                push.connect(&endpoint).unwrap();
                for i in 0..10u8 {
                    push.try_send(vec![i]).unwrap();
                }
                drop(push);
                drop(ctx);
            });
        }
    }
}

/// A DEALER's async send goes into the queue of a connect not up yet, and the peer gets
/// it once it binds.
#[test]
fn an_async_send_before_the_connection_is_queued() {
    let ctx = Context::new();
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_linger(Duration::ZERO);
    dealer.connect(&endpoint).unwrap();
    let _dealer = util::aio::Runtime::TokioCurrentThread.block_on(async move {
        let mut dealer = dealer;
        util::aio::bounded(dealer.send_async("early"))
            .await
            .unwrap();
        dealer
    });
    let mut router = ctx.router().unwrap();
    router.set_linger(Duration::ZERO);
    router.set_recv_timeout(Some(LIMIT));
    router.bind(&endpoint).unwrap();
    assert_eq!(&router.recv().unwrap()[1][..], b"early");
}

/// A disconnected inproc connect-before-bind leaves nothing in the registry: a later bind
/// of that name gets no stale peer and none of what it had queued, over many cycles.
#[test]
fn a_disconnected_inproc_connect_leaves_nothing_for_the_bind() {
    let ctx = Context::new();
    let name = format!("inproc://{}", util::unique("review-stale"));
    let mut push = ctx.push().unwrap();
    push.set_linger(Duration::ZERO);
    for i in 0..100u8 {
        push.connect(&name).unwrap();
        push.try_send(vec![b's', i]).unwrap();
        push.disconnect(&name).unwrap();
    }
    let mut pull = ctx.pull().unwrap();
    pull.set_linger(Duration::ZERO);
    pull.set_recv_timeout(Some(LIMIT));
    pull.bind(&name).unwrap();
    let mut fresh = ctx.push().unwrap();
    fresh.set_linger(Duration::ZERO);
    fresh.connect(&name).unwrap();
    fresh.try_send("fresh").unwrap();
    assert_eq!(&pull.recv().unwrap()[0][..], b"fresh");
    assert!(pull.try_recv().is_err());
    assert_eq!(push.peer_count(), 0);
}

/// libzmq's linger covers a connect that is not up yet: a PUSH closed with messages
/// queued for it (linger long enough) still delivers them when the peer binds within the
/// linger.
#[test]

fn a_closed_push_delivers_what_it_queued_when_the_peer_binds_within_its_linger() {
    for endpoint in [
        format!("tcp://127.0.0.1:{}", free_port()),
        util::ipc_endpoint("review-linger"),
    ] {
        let ctx = Context::new();
        let mut push = ctx.push().unwrap();
        push.set_linger(LIMIT);
        push.connect(&endpoint).unwrap();
        for i in 0..3u8 {
            push.try_send(vec![i]).unwrap();
        }
        drop(push);
        let mut pull = ctx.pull().unwrap();
        pull.set_linger(Duration::ZERO);
        pull.set_recv_timeout(Some(LIMIT));
        pull.bind(&endpoint).unwrap();
        for i in 0..3u8 {
            assert_eq!(pull.recv().unwrap()[0][..], [i], "{endpoint}");
        }
    }
}

/// A poll waiting for a PUSH whose queue (of a connect not up) is full to become
/// writable is woken when a connection comes and drains it.
#[test]
fn a_poll_on_a_full_early_queue_wakes_when_a_connection_drains_it() {
    let ctx = Context::new();
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let mut push = ctx.push().unwrap();
    push.set_linger(Duration::ZERO);
    push.set_send_hwm(3);
    push.connect(&endpoint).unwrap();
    for i in 0..3u8 {
        push.try_send(vec![i]).unwrap();
    }
    assert!(!push.events().is_writable());
    let ctx2 = ctx.clone();
    let puller = std::thread::spawn(move || {
        let mut pull = ctx2.pull().unwrap();
        pull.set_linger(Duration::ZERO);
        pull.set_recv_timeout(Some(LIMIT));
        pull.bind(&endpoint).unwrap();
        (0..4)
            .map(|_| pull.recv().unwrap()[0][0])
            .collect::<Vec<u8>>()
    });
    let ready = ferromq::poll(
        &mut [PollItem::new(&mut push, Interest::WRITABLE)],
        Some(LIMIT),
    );
    assert!(ready.is_writable(0));
    push.try_send(vec![3u8]).unwrap();
    assert_eq!(puller.join().unwrap(), vec![0, 1, 2, 3]);
}

/// A libzmq ROUTER restarted in the middle of a stream from a ferromq DEALER: what it
/// gets is in order, with no message twice and every multipart message whole (some sent
/// around the restart may be lost, as in libzmq), and all sent after it arrive.
#[test]
fn a_libzmq_router_restarted_mid_stream_sees_no_duplicate_or_reordering() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let ctx = Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_linger(Duration::ZERO);
    dealer.set_send_timeout(Some(LIMIT));
    let monitor = dealer.monitor();
    dealer.connect(&endpoint).unwrap();
    let (restarted, wait_restart) = std::sync::mpsc::channel::<()>();
    let ep = endpoint.clone();
    let receiver = std::thread::spawn(move || {
        let zctx = zmq::Context::new();
        let mut seen = Vec::new();
        let mut router = util::zmq_socket(&zctx, zmq::ROUTER);
        router.bind(&ep).unwrap();
        let mut restarted = Some(restarted);
        loop {
            let parts = router.recv_multipart(0).unwrap();
            assert_eq!(parts.len(), 3, "{parts:?}");
            assert_eq!(parts[2], b"tail");
            let seq = u32::from_be_bytes(parts[1][..].try_into().unwrap());
            seen.push(seq);
            if seq == 1099 {
                return seen;
            }
            if seq >= 300 {
                if let Some(tx) = restarted.take() {
                    drop(router);
                    router = util::zmq_socket(&zctx, zmq::ROUTER);
                    // libzmq closes the old listener on its own thread, a moment later.
                    assert!(util::eventually(LIMIT, || router.bind(&ep).is_ok()));
                    tx.send(()).unwrap();
                }
            }
        }
    });
    for i in 0..1000u32 {
        dealer
            .send(vec![i.to_be_bytes().to_vec(), b"tail".to_vec()])
            .unwrap();
    }
    wait_restart.recv_timeout(LIMIT).unwrap();
    // The old ROUTER's connection is closed by libzmq's own thread a moment after its
    // close, and until then takes what is written to it (lost with it, as from a libzmq
    // DEALER): "after the restart" means once the DEALER is connected to the new ROUTER.
    expect(&monitor, "old connection lost", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    expect(&monitor, "handshake with the new ROUTER", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    for i in 1000..1100u32 {
        dealer
            .send(vec![i.to_be_bytes().to_vec(), b"tail".to_vec()])
            .unwrap();
    }
    let seen = receiver.join().unwrap();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "out of order or twice"
    );
    assert!((1000..1100).all(|i| seen.contains(&i)));
}

/// A PAIR's connect keeps its queue across its peer's restart, both ways.
#[test]
fn a_pair_keeps_its_queue_across_its_peers_restart() {
    let ctx = Context::new();
    let mut bound = ctx.pair().unwrap();
    bound.set_linger(Duration::ZERO);
    bound.set_recv_timeout(Some(LIMIT));
    bound.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = bound.last_endpoint().unwrap().to_owned();
    let mut pair = ctx.pair().unwrap();
    pair.set_linger(Duration::ZERO);
    pair.set_recv_timeout(Some(LIMIT));
    let mon = pair.monitor();
    pair.connect(&endpoint).unwrap();
    pair.try_send("one").unwrap();
    assert_eq!(&bound.recv().unwrap()[0][..], b"one");
    drop(bound);
    expect(&mon, "disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    pair.try_send("two").unwrap();
    let mut bound = ctx.pair().unwrap();
    bound.set_linger(Duration::ZERO);
    bound.set_recv_timeout(Some(LIMIT));
    bound.bind(&endpoint).unwrap();
    assert_eq!(&bound.recv().unwrap()[0][..], b"two");
    bound.try_send("back").unwrap();
    assert_eq!(&pair.recv().unwrap()[0][..], b"back");
}

/// A drop never waits for a peer that never answers: a socket with an infinite linger
/// (and no handshake timeout) whose queue waits on a handshake that never ends lets its
/// context go within `MAX_LINGER_WITHOUT_PEER` (the guard only catches a hang).
#[test]
fn an_infinite_linger_does_not_wait_for_a_handshake_that_never_ends() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", silent.local_addr().unwrap());
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let mut push = ctx.push().unwrap();
        push.set_linger(Duration::MAX);
        push.set_handshake_timeout(None);
        let mon = push.monitor();
        push.connect(&endpoint).unwrap();
        expect(&mon, "connected", |e| {
            matches!(e, MonitorEvent::Connected { .. })
        });
        push.try_send("stuck").unwrap();
        drop(push);
        drop(ctx);
    });
}
