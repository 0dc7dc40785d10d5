//! ZMTP heartbeats (PING/PONG) over real tcp connections: dead peers are dropped within
//! the heartbeat timeout, live ones (ferromq or libzmq) stay connected. Every wait is
//! bounded.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ferromq::Context;
use util::eventually;

/// Longest any single wait in this file may take.
const LIMIT: Duration = Duration::from_secs(10);

/// Does a NULL handshake by hand as `socket_type`, then reads until the peer closes.
/// Returns how long after the handshake the peer closed and everything read after it.
fn handshake_then_go_silent(mut stream: TcpStream, socket_type: &str) -> (Duration, Vec<u8>) {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready(socket_type));
    stream.write_all(&out).unwrap();
    // The peer's greeting (64 bytes) and READY (at least 27 bytes).
    let mut head = [0u8; 64 + 27];
    stream.read_exact(&mut head).unwrap();
    let since = Instant::now();
    let mut rest = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("peer not dropped within {LIMIT:?}: {e}"),
        }
        assert!(since.elapsed() < LIMIT, "peer not dropped");
    }
    (since.elapsed(), rest)
}

#[test]
fn a_silent_connected_peer_is_dropped_after_the_heartbeat_timeout() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_heartbeat_interval(Some(Duration::from_millis(100)));
    pull.set_heartbeat_timeout(Some(Duration::from_millis(300)));
    pull.set_heartbeat_ttl(Some(Duration::from_millis(2_000)));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let addr = pull.last_endpoint().unwrap().trim_start_matches("tcp://");
    let stream = TcpStream::connect(addr).unwrap();
    let (after, rest) = handshake_then_go_silent(stream, "PUSH");
    // First PING at 100 ms, its timeout 300 ms later.
    assert!(
        after >= Duration::from_millis(300) && after < Duration::from_secs(3),
        "dropped after {after:?}"
    );
    // Our PINGs announce the TTL: 20 deciseconds.
    let ping = b"\x04\x07\x04PING\x00\x14";
    assert!(
        rest.windows(ping.len()).any(|w| w == ping),
        "no PING with TTL 2 s in {rest:?}"
    );
    assert!(eventually(LIMIT, || pull.peer_count() == 0));
}

#[test]
fn a_silent_bound_peer_is_dropped_and_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_heartbeat_interval(Some(Duration::from_millis(100)));
    push.set_reconnect_interval(Some(Duration::from_millis(50)));
    push.connect(&format!("tcp://{}", listener.local_addr().unwrap()))
        .unwrap();
    let (first, _) = listener.accept().unwrap();
    let (after, _) = handshake_then_go_silent(first, "PULL");
    assert!(after < Duration::from_secs(3), "dropped after {after:?}");
    // The connecting side comes back.
    listener.set_nonblocking(true).unwrap();
    let mut again = None;
    assert!(eventually(LIMIT, || {
        again = listener.accept().ok();
        again.is_some()
    }));
}

#[test]
fn a_peer_that_announced_a_ttl_and_went_silent_is_dropped() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let addr = pull.last_endpoint().unwrap().trim_start_matches("tcp://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready("PUSH"));
    // A PING with TTL 0.3 s, then silence.
    out.extend_from_slice(b"\x04\x07\x04PING\x00\x03");
    stream.write_all(&out).unwrap();
    let since = Instant::now();
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not dropped: {e}"),
        }
    }
    let after = since.elapsed();
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_secs(3),
        "dropped after {after:?}"
    );
    // Our PONG came before.
    assert!(got.windows(7).any(|w| w == b"\x04\x05\x04PONG"));
}

#[test]
fn ferromq_peers_with_heartbeats_stay_connected_and_deliver() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    let mut push = ctx.push().unwrap();
    let hb = Duration::from_millis(50);
    pull.set_heartbeat_interval(Some(hb));
    push.set_heartbeat_interval(Some(hb));
    pull.set_heartbeat_ttl(Some(Duration::from_millis(500)));
    push.set_heartbeat_ttl(Some(Duration::from_millis(500)));
    pull.set_recv_timeout(Some(LIMIT));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    push.send("first").unwrap();
    assert_eq!(&pull.recv().unwrap()[0][..], b"first");
    // Ten intervals of silence from the application: PINGs keep both sides alive.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pull.peer_count(), 1);
    assert_eq!(push.peer_count(), 1);
    push.send("second").unwrap();
    assert_eq!(&pull.recv().unwrap()[0][..], b"second");
}

#[test]
fn libzmq_heartbeats_are_answered_and_ours_are_answered_by_libzmq() {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    for ferro_pings in [false, true] {
        let zpush = zctx.socket(zmq::PUSH).unwrap();
        zpush.set_linger(0).unwrap();
        zpush.set_sndtimeo(10_000).unwrap();
        // PINGs every 50 ms, but a PONG may take up to 400 ms and a TTL is 1 s: a loaded
        // CI machine can stall either side's I/O thread for 50 ms (with 50 and 200 ms
        // this test failed about once in 40 runs beside two busy loops). The silence
        // below is longer than all of them, so unanswered PINGs would still be caught.
        zpush.set_heartbeat_ivl(50).unwrap();
        zpush.set_heartbeat_timeout(400).unwrap();
        zpush.set_heartbeat_ttl(1_000).unwrap();
        let zmon = format!("inproc://hb-monitor-{ferro_pings}");
        zpush
            .monitor(&zmon, zmq::SocketEvent::DISCONNECTED as i32)
            .unwrap();
        let mon = zctx.socket(zmq::PAIR).unwrap();
        mon.connect(&zmon).unwrap();

        let mut pull = ctx.pull().unwrap();
        pull.set_recv_timeout(Some(LIMIT));
        let our_monitor = pull.monitor();
        if ferro_pings {
            pull.set_heartbeat_interval(Some(Duration::from_millis(50)));
            pull.set_heartbeat_timeout(Some(Duration::from_millis(400)));
            pull.set_heartbeat_ttl(Some(Duration::from_millis(1_000)));
        }
        pull.bind("tcp://127.0.0.1:*").unwrap();
        zpush.connect(pull.last_endpoint().unwrap()).unwrap();
        zpush.send("one", 0).unwrap();
        match pull.recv() {
            Ok(first) => assert_eq!(&first[0][..], b"one"),
            // Rare under load (about once in 30 runs of this file beside two busy loops),
            // cause not found yet: say what our side saw of the connection.
            Err(e) => {
                let seen: Vec<_> = std::iter::from_fn(|| our_monitor.try_recv().ok()).collect();
                panic!("no first message (ferro_pings={ferro_pings}): {e}; our events: {seen:?}");
            }
        }
        // Many heartbeat intervals with no application traffic, longer than every timeout.
        std::thread::sleep(Duration::from_millis(1_500));
        assert_eq!(pull.peer_count(), 1);
        assert_eq!(
            mon.poll(zmq::POLLIN, 0).unwrap(),
            0,
            "libzmq saw a disconnect (ferro_pings={ferro_pings})"
        );
        for i in 0..10 {
            zpush.send(format!("msg {i}").as_bytes(), 0).unwrap();
            assert_eq!(pull.recv().unwrap()[0], format!("msg {i}").as_bytes());
        }
    }
}

#[test]
fn a_receiver_that_stops_reading_does_not_drop_its_busy_peer() {
    // The PULL's queue is full, so it stops reading: the peer's bytes wait in the kernel.
    // That silence is ours, not the peer's, and must not count as a heartbeat timeout.
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_hwm(4);
    pull.set_heartbeat_interval(Some(Duration::from_millis(30)));
    pull.set_heartbeat_timeout(Some(Duration::from_millis(60)));
    pull.set_recv_timeout(Some(LIMIT));
    let monitor = pull.monitor();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(LIMIT));
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    const COUNT: usize = 200;
    let sender = std::thread::spawn(move || {
        for i in 0..COUNT {
            let mut body = vec![0u8; 64 * 1024];
            body[..8].copy_from_slice(&(i as u64).to_be_bytes());
            push.send(body).unwrap();
        }
        push
    });
    // Many heartbeat timeouts pass with the application not reading.
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..COUNT {
        let msg = pull.recv().unwrap();
        assert_eq!(msg[0][..8], (i as u64).to_be_bytes(), "message {i}");
    }
    let _push = sender.join().unwrap();
    while let Ok(event) = monitor.try_recv() {
        assert!(
            !matches!(event, ferromq::MonitorEvent::Disconnected { .. }),
            "{event:?}"
        );
    }
}
