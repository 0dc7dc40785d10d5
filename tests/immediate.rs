//! `ZMQ_IMMEDIATE`: with `false` (libzmq's default) a connect has its peer's queue at
//! once, before the connection is up, and keeps it across reconnects; with `true` only
//! peers whose handshake is done take messages. After libzmq's `test_immediate.cpp` and
//! the inproc cases of `test_hwm.cpp`, with libzmq peers where the wire matters.

mod util;

use std::net::TcpListener;
use std::time::Duration;

use ferromq::{Context, Error, MonitorEvent, SocketType};
use util::{expect_event as expect, free_port, ipc_endpoint, unique, zmq_socket};

const LIMIT: Duration = Duration::from_secs(10);

fn would_block<T: std::fmt::Debug>(r: Result<T, ferromq::SendError>) -> bool {
    matches!(r, Err(e) if matches!(e.error(), Error::WouldBlock))
}

#[test]
fn the_setter_is_read_back_on_typed_and_dynamic_sockets() {
    let ctx = Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_immediate(false).unwrap();
    assert!(!dealer.immediate());
    dealer.set_immediate(true).unwrap();
    assert!(dealer.immediate());
    for t in [SocketType::Push, SocketType::Pub, SocketType::Router] {
        let mut s = ctx.socket(t).unwrap();
        s.set_immediate(false).unwrap();
        assert!(!s.immediate());
        s.set_immediate(true).unwrap();
        assert!(s.immediate());
    }
}

/// `test_immediate_1`: a PUSH connected to an endpoint nobody listens on and to a live
/// PULL round-robins into both; the messages for the first wait until it comes up.
#[test]
fn a_push_queues_into_a_connect_that_is_not_up() {
    let ctx = Context::new();
    let mut live = ctx.pull().unwrap();
    live.set_recv_timeout(Some(LIMIT));
    live.bind("tcp://127.0.0.1:*").unwrap();
    let port = free_port();
    let mut push = ctx.push().unwrap();
    push.set_immediate(false).unwrap();
    push.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    push.connect(live.last_endpoint().unwrap()).unwrap();
    // Neither connection need be up: both queues exist from the connect.
    for i in 0..10u8 {
        push.try_send(vec![i]).unwrap();
    }
    let mut seen: Vec<u8> = (0..5).map(|_| live.recv().unwrap()[0][0]).collect();
    assert_eq!(seen, [1, 3, 5, 7, 9]);
    // The other half waited for the endpoint nobody listened on.
    let mut late = ctx.pull().unwrap();
    late.set_recv_timeout(Some(LIMIT));
    late.bind(&format!("tcp://127.0.0.1:{port}")).unwrap();
    seen = (0..5).map(|_| late.recv().unwrap()[0][0]).collect();
    assert_eq!(seen, [0, 2, 4, 6, 8]);
}

/// `test_immediate_2`: with `IMMEDIATE=1` only the live connection takes messages.
#[test]
fn with_immediate_on_only_live_connections_take_messages() {
    let ctx = Context::new();
    let mut live = ctx.pull().unwrap();
    live.set_recv_timeout(Some(LIMIT));
    live.bind("tcp://127.0.0.1:*").unwrap();
    let mut push = ctx.push().unwrap();
    push.set_immediate(true).unwrap();
    push.set_send_timeout(Some(LIMIT));
    push.connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    assert!(would_block(push.try_send("nobody yet")));
    push.connect(live.last_endpoint().unwrap()).unwrap();
    for i in 0..10u8 {
        push.send(vec![i]).unwrap();
    }
    let seen: Vec<u8> = (0..10).map(|_| live.recv().unwrap()[0][0]).collect();
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
}

/// `test_immediate_3`: with `IMMEDIATE=1` a broken connection takes nothing until it is
/// back.
#[test]
fn with_immediate_on_a_broken_connection_takes_nothing_until_it_is_back() {
    let ctx = Context::new();
    let mut backend = ctx.dealer().unwrap();
    backend.set_linger(Duration::ZERO);
    backend.set_recv_timeout(Some(LIMIT));
    backend.set_send_timeout(Some(LIMIT));
    backend.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = backend.last_endpoint().unwrap().to_owned();
    let mut frontend = ctx.dealer().unwrap();
    frontend.set_immediate(true).unwrap();
    frontend.set_linger(Duration::ZERO);
    frontend.set_recv_timeout(Some(LIMIT));
    let mon = frontend.monitor();
    frontend.connect(&endpoint).unwrap();
    backend.send("ping").unwrap();
    assert_eq!(&frontend.recv().unwrap()[0][..], b"ping");
    frontend.try_send("hello").unwrap();
    drop(backend);
    expect(&mon, "disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    assert!(would_block(frontend.try_send("hello")));
    let mut backend = ctx.dealer().unwrap();
    backend.set_linger(Duration::ZERO);
    backend.set_send_timeout(Some(LIMIT));
    backend.bind(&endpoint).unwrap();
    backend.send("ping").unwrap();
    assert_eq!(&frontend.recv().unwrap()[0][..], b"ping");
    frontend.try_send("hello").unwrap();
}

/// `test_immediate_3` with `IMMEDIATE=0`: the broken connection's queue stays and takes
/// messages, which the next connection delivers.
#[test]
fn a_reconnect_keeps_the_queue_and_what_it_holds() {
    let ctx = Context::new();
    let mut backend = ctx.dealer().unwrap();
    backend.set_linger(Duration::ZERO);
    backend.set_recv_timeout(Some(LIMIT));
    backend.set_send_timeout(Some(LIMIT));
    backend.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = backend.last_endpoint().unwrap().to_owned();
    let mut frontend = ctx.dealer().unwrap();
    frontend.set_immediate(false).unwrap();
    frontend.set_linger(Duration::ZERO);
    frontend.set_recv_timeout(Some(LIMIT));
    frontend.set_send_hwm(4);
    let mon = frontend.monitor();
    frontend.connect(&endpoint).unwrap();
    backend.send("ping").unwrap();
    assert_eq!(&frontend.recv().unwrap()[0][..], b"ping");
    drop(backend);
    expect(&mon, "disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    // The queue is still there, bounded by the send high-water mark.
    for i in 0..4u8 {
        frontend.try_send(vec![b'm', i]).unwrap();
    }
    assert!(would_block(frontend.try_send("one too many")));
    let mut backend = ctx.dealer().unwrap();
    backend.set_linger(Duration::ZERO);
    backend.set_recv_timeout(Some(LIMIT));
    backend.bind(&endpoint).unwrap();
    for i in 0..4u8 {
        assert_eq!(backend.recv().unwrap()[0][..], [b'm', i]);
    }
    // And it goes on working both ways.
    frontend.try_send("after").unwrap();
    assert_eq!(&backend.recv().unwrap()[0][..], b"after");
}

/// A ferromq PUSH queues up to its high-water mark before a libzmq PULL binds, and the
/// libzmq peer gets all of it, in order, multipart messages whole.
#[test]
fn queued_before_a_libzmq_bind_reaches_it() {
    for transport in ["tcp", "ipc"] {
        let endpoint = match transport {
            "tcp" => format!("tcp://127.0.0.1:{}", free_port()),
            _ => ipc_endpoint("immediate"),
        };
        let ctx = Context::new();
        let mut push = ctx.push().unwrap();
        push.set_immediate(false).unwrap();
        push.set_send_hwm(10);
        push.connect(&endpoint).unwrap();
        let mut sent = 0;
        while push
            .try_send(vec![vec![sent as u8], b"second part".to_vec()])
            .is_ok()
        {
            sent += 1;
            assert!(sent <= 10, "{transport}: past the high-water mark");
        }
        assert_eq!(sent, 10, "{transport}");
        let zctx = zmq::Context::new();
        let pull = zmq_socket(&zctx, zmq::PULL);
        pull.bind(&endpoint).unwrap();
        for i in 0..10u8 {
            let got = pull.recv_multipart(0).unwrap();
            assert_eq!(got, vec![vec![i], b"second part".to_vec()], "{transport}");
        }
    }
}

/// A libzmq PULL that goes away and comes back at the same endpoint gets what was
/// queued for it meanwhile.
#[test]
fn a_libzmq_peer_that_comes_back_gets_what_waited() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_immediate(false).unwrap();
    push.set_send_timeout(Some(LIMIT));
    let mon = push.monitor();
    push.connect(&endpoint).unwrap();
    let zctx = zmq::Context::new();
    let pull = zmq_socket(&zctx, zmq::PULL);
    pull.bind(&endpoint).unwrap();
    push.send("first").unwrap();
    assert_eq!(pull.recv_bytes(0).unwrap(), b"first");
    drop(pull);
    expect(&mon, "disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    for i in 0..5u8 {
        push.try_send(vec![i]).unwrap();
    }
    let pull = zmq_socket(&zctx, zmq::PULL);
    pull.bind(&endpoint).unwrap();
    for i in 0..5u8 {
        assert_eq!(pull.recv_bytes(0).unwrap(), [i]);
    }
}

/// A DEALER talking to a libzmq ROUTER: what is queued before the bind carries the
/// DEALER's routing id like anything later.
#[test]
fn a_dealer_queues_for_a_libzmq_router_not_bound_yet() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let ctx = Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_immediate(false).unwrap();
    dealer.set_identity(&b"early"[..]).unwrap();
    dealer.set_recv_timeout(Some(LIMIT));
    dealer.connect(&endpoint).unwrap();
    dealer.try_send("before").unwrap();
    let zctx = zmq::Context::new();
    let router = zmq_socket(&zctx, zmq::ROUTER);
    router.bind(&endpoint).unwrap();
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got, vec![b"early".to_vec(), b"before".to_vec()]);
    router.send_multipart([&b"early"[..], b"reply"], 0).unwrap();
    let reply = dealer.recv().unwrap();
    assert_eq!(&reply[0][..], b"reply");
    // What the handshake said about the peer now comes with its messages.
    let meta = reply.metadata().expect("metadata");
    assert_eq!(meta.get("Socket-Type"), Some(&b"ROUTER"[..]));
}

fn inproc_count(send_hwm: usize, recv_hwm: usize, close_first: bool) -> (usize, usize) {
    const MAX_SENDS: usize = 10_000;
    let ctx = Context::new();
    let name = format!("inproc://{}", unique("hwm"));
    let mut push = ctx.push().unwrap();
    push.set_immediate(false).unwrap();
    push.set_send_hwm(send_hwm);
    push.connect(&name).unwrap();
    let mut sent = 0;
    let mut push = Some(push);
    if close_first {
        while sent < MAX_SENDS && push.as_mut().unwrap().try_send("m").is_ok() {
            sent += 1;
        }
        push = None;
    }
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_hwm(recv_hwm);
    pull.bind(&name).unwrap();
    if let Some(push) = push.as_mut() {
        while sent < MAX_SENDS && push.try_send("m").is_ok() {
            sent += 1;
        }
    }
    let mut received = 0;
    while pull.try_recv().is_ok() {
        received += 1;
    }
    (sent, received)
}

/// `test_hwm.cpp`'s inproc cases with the connect first: the queue made at connect takes
/// the two marks combined once the bind comes, and what a connect queued before its bind
/// reaches the binder even when the connecting socket closed first.
#[test]
fn inproc_connects_before_the_bind_queue_as_libzmq() {
    // test_finite_both_connect_first
    assert_eq!(inproc_count(1, 1, false), (2, 2));
    // test_infinite_both_inproc_connect_first and the one-sided infinite ones
    assert_eq!(inproc_count(0, 0, false), (10_000, 10_000));
    assert_eq!(inproc_count(1, 0, false), (10_000, 10_000));
    assert_eq!(inproc_count(0, 1, false), (10_000, 10_000));
    // test_infinite_recv_connect_and_close_first: the send mark alone before the bind
    assert_eq!(inproc_count(1, 0, true), (1, 1));
    assert_eq!(inproc_count(5, 1, true), (5, 5));
}

/// An inproc connect before the bind: a send queues at once, and after the bind both
/// ways work, with the binder's type in the received messages' metadata.
#[test]
fn an_inproc_pair_queues_before_the_bind() {
    let ctx = Context::new();
    let name = format!("inproc://{}", unique("pair"));
    let mut a = ctx.pair().unwrap();
    a.set_immediate(false).unwrap();
    a.set_recv_timeout(Some(LIMIT));
    a.connect(&name).unwrap();
    a.try_send("early").unwrap();
    let mut b = ctx.pair().unwrap();
    b.set_recv_timeout(Some(LIMIT));
    b.bind(&name).unwrap();
    assert_eq!(&b.recv().unwrap()[0][..], b"early");
    b.send("back").unwrap();
    assert_eq!(&a.recv().unwrap()[0][..], b"back");
}

/// With `IMMEDIATE=1`, an inproc connect before the bind takes nothing.
#[test]
fn with_immediate_on_an_inproc_connect_before_the_bind_takes_nothing() {
    let ctx = Context::new();
    let name = format!("inproc://{}", unique("imm"));
    let mut push = ctx.push().unwrap();
    push.set_immediate(true).unwrap();
    push.connect(&name).unwrap();
    assert!(would_block(push.try_send("nobody")));
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(LIMIT));
    pull.bind(&name).unwrap();
    push.set_send_timeout(Some(LIMIT));
    push.send("now").unwrap();
    assert_eq!(&pull.recv().unwrap()[0][..], b"now");
}

/// REQ is not affected: its peer still comes and goes with the connection, so that a
/// request whose peer is lost fails with `Disconnected` (RELIABILITY.md).
#[test]
fn a_req_still_queues_only_to_live_peers() {
    let ctx = Context::new();
    let mut req = ctx.req().unwrap();
    req.set_immediate(false).unwrap();
    req.set_send_timeout(Some(Duration::ZERO));
    req.connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    assert!(req.send("question").is_err());
    assert_eq!(req.peer_count(), 0);
}

/// A connection that breaks in the middle of a multipart message: the next connection
/// sends that message again whole, first, then what followed it (`IMMEDIATE=0`).
#[test]
fn a_message_cut_by_a_broken_connection_goes_out_whole_on_the_next() {
    use std::io::{Read, Write};
    const PART: usize = 8 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_immediate(false).unwrap();
    push.set_reconnect_interval(Some(Duration::from_millis(20)));
    push.connect(&format!("tcp://{addr}")).unwrap();
    let parts: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; PART]).collect();
    push.try_send(parts.clone()).unwrap();
    push.try_send("after").unwrap();
    // A raw PULL that reads the greeting, READY and a little of the message, then goes.
    let (mut raw, _) = listener.accept().unwrap();
    raw.set_read_timeout(Some(LIMIT)).unwrap();
    let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0];
    greeting.extend_from_slice(b"NULL");
    greeting.resize(64, 0);
    greeting.extend_from_slice(b"\x04\x1a\x05READY\x0bSocket-Type\0\0\0\x04PULL");
    raw.write_all(&greeting).unwrap();
    let mut some = vec![0u8; 64 * 1024];
    raw.read_exact(&mut some).unwrap();
    drop(raw);
    drop(listener);
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(LIMIT));
    pull.set_max_message_size(None);
    let deadline = std::time::Instant::now() + LIMIT;
    while let Err(e) = pull.bind(&format!("tcp://{addr}")) {
        assert!(std::time::Instant::now() < deadline, "rebind: {e}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let first = pull.recv().unwrap();
    assert_eq!(first.len(), 3);
    for (got, want) in first.iter().zip(&parts) {
        assert!(got[..] == want[..], "a part came back changed");
    }
    assert_eq!(&pull.recv().unwrap()[0][..], b"after");
}

/// A disconnect drops the connect's queue with what it holds: later sends have no peer.
#[test]
fn a_disconnect_drops_the_queue_of_a_connect_that_never_came_up() {
    let ctx = Context::new();
    for endpoint in [
        format!("tcp://127.0.0.1:{}", free_port()),
        ipc_endpoint("immediate-gone"),
        format!("inproc://{}", unique("gone")),
    ] {
        let mut push = ctx.push().unwrap();
        push.connect(&endpoint).unwrap();
        push.try_send("queued").unwrap();
        push.disconnect(&endpoint).unwrap();
        assert!(would_block(push.try_send("nobody")), "{endpoint}");
        assert_eq!(push.peer_count(), 0, "{endpoint}");
    }
}

/// The default is libzmq's: `IMMEDIATE=0`.
#[test]
fn the_default_is_libzmqs() {
    let ctx = Context::new();
    assert!(!ctx.push().unwrap().immediate());
    assert!(!ctx.socket(SocketType::Dealer).unwrap().immediate());
    let mut push = ctx.push().unwrap();
    push.connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    push.try_send("queued").unwrap();
}
