//! Hostile and broken peers against a ferromq PULL bound on tcp: each is dropped (within
//! the handshake timeout where that is what catches it), unknown commands are ignored,
//! and a well-behaved PUSH peer of the same PULL keeps delivering throughout. Every wait
//! is bounded.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferromq::Context;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(300);
const MAX_MSG: usize = 1024;
/// Longest any single wait in this file may take.
const LIMIT: Duration = Duration::from_secs(10);

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

/// Reads (and discards) until the peer closes; returns how long that took from `since`.
/// Panics if the connection is still open after [`LIMIT`].
fn dropped_after(stream: &mut TcpStream, since: Instant, what: &str) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return since.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return since.elapsed(),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("{what}: not dropped within {LIMIT:?} ({e})"),
        }
        assert!(since.elapsed() < LIMIT, "{what}: not dropped");
    }
}

/// Completes a NULL handshake by hand as a PUSH.
fn handshaken(addr: &str) -> TcpStream {
    let mut s = connect(addr);
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready("PUSH"));
    s.write_all(&out).unwrap();
    // The PULL's greeting and its 28-byte READY (Socket-Type PULL).
    let mut head = [0u8; 64 + 28];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[64 + 20..], b"\0\0\0\x04PULL");
    s
}

#[test]
fn hostile_peers_are_dropped_while_a_good_peer_keeps_delivering() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_handshake_timeout(Some(HANDSHAKE_TIMEOUT));
    pull.set_max_message_size(Some(MAX_MSG));
    pull.set_recv_timeout(Some(LIMIT));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.last_endpoint().unwrap().to_owned();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();

    // The receiving side collects everything until the good peer says "end".
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            let msg = pull
                .recv()
                .expect("the good peer's messages stopped arriving");
            let body = msg[0].to_vec();
            if body == b"end" {
                return got;
            }
            got.push(body);
        }
    });

    // The good peer sends a numbered message every 2 ms until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(LIMIT));
    push.connect(&endpoint).unwrap();
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) {
                push.send(sent.to_string()).unwrap();
                sent += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            push.send("end").unwrap();
            sent
        })
    };
    let upper = HANDSHAKE_TIMEOUT + Duration::from_secs(2);

    // (a) Connects and sends nothing: the handshake timeout ends it.
    let start = Instant::now();
    let mut a = connect(&addr);
    let t = dropped_after(&mut a, start, "silent peer");
    assert!(
        t >= HANDSHAKE_TIMEOUT - Duration::from_millis(50) && t < upper,
        "silent peer dropped after {t:?}"
    );

    // (b) Half a greeting, then nothing.
    let start = Instant::now();
    let mut b = connect(&addr);
    b.write_all(&util::zmtp_greeting()[..20]).unwrap();
    let t = dropped_after(&mut b, start, "half greeting");
    assert!(t < upper, "half greeting dropped after {t:?}");

    // (c) Garbage: not a ZMTP signature, refused at once.
    let start = Instant::now();
    let mut c = connect(&addr);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let t = dropped_after(&mut c, start, "garbage");
    assert!(t < HANDSHAKE_TIMEOUT, "garbage dropped after {t:?}");

    // (d) A frame larger than the maximum message size: dropped on its header, before
    // any body is sent (so nothing can have been allocated for it). Also a frame that
    // claims 2^62 bytes.
    for size in [MAX_MSG as u64 + 1, 1 << 62] {
        let mut d = handshaken(&addr);
        let start = Instant::now();
        let mut header = vec![0x02];
        header.extend_from_slice(&size.to_be_bytes());
        d.write_all(&header).unwrap();
        let t = dropped_after(&mut d, start, "oversize frame");
        assert!(t < HANDSHAKE_TIMEOUT, "oversize frame dropped after {t:?}");
    }

    // (e) An unknown command after the handshake is ignored: the connection stays, and
    // a message sent after it arrives.
    let mut e = handshaken(&addr);
    e.write_all(b"\x04\x0b\x07UNKNOWNabc").unwrap();
    e.write_all(b"\x00\x08from-raw").unwrap();
    e.set_read_timeout(Some(HANDSHAKE_TIMEOUT * 3)).unwrap();
    let mut buf = [0u8; 64];
    match e.read(&mut buf) {
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("unknown command: connection ended or sent data: {other:?}"),
    }

    // (f) The wrong socket type: refused after its READY.
    let start = Instant::now();
    let mut f = connect(&addr);
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready("PUB"));
    f.write_all(&out).unwrap();
    let t = dropped_after(&mut f, start, "wrong socket type");
    assert!(
        t < HANDSHAKE_TIMEOUT,
        "wrong socket type dropped after {t:?}"
    );

    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let got = receiver.join().unwrap();
    drop(e);
    assert!(sent > 10, "the good peer sent only {sent} messages");
    let from_good: Vec<&Vec<u8>> = got.iter().filter(|m| *m != b"from-raw").collect();
    let expected: Vec<Vec<u8>> = (0..sent).map(|i| i.to_string().into_bytes()).collect();
    assert_eq!(from_good.len(), expected.len(), "lost messages");
    assert!(from_good.iter().zip(&expected).all(|(a, b)| *a == b));
    assert!(
        got.iter().any(|m| m == b"from-raw"),
        "the message after the unknown command was lost"
    );
}

/// The metadata bounds are settings: a PULL that takes at most one READY property, or at
/// most 8 bytes of metadata, refuses a ferromq PUSH (whose READY carries `Socket-Type` and
/// more than 8 bytes) with a reason in the monitor; with the defaults the same PUSH is
/// served.
#[test]
fn the_metadata_bounds_are_settings() {
    for (max_bytes, max_properties, refused, why) in [
        (8, 256, true, "maximum metadata of 8 bytes"),
        (64 * 1024, 0, true, "maximum of 0 properties"),
        (64 * 1024, 256, false, ""),
    ] {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.set_max_metadata_size(max_bytes);
        pull.set_max_properties(max_properties);
        let monitor = pull.monitor();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let mut push = ctx.push().unwrap();
        push.connect(pull.last_endpoint().unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match monitor.recv_timeout(left).expect("a handshake outcome") {
                ferromq::MonitorEvent::HandshakeFailed { reason, .. } => {
                    assert!(refused, "refused with defaults: {reason}");
                    assert!(reason.contains(why), "{reason}");
                    break;
                }
                ferromq::MonitorEvent::HandshakeSucceeded { .. } => {
                    assert!(
                        !refused,
                        "accepted past a bound of {max_bytes} B / {max_properties}"
                    );
                    push.send("served").unwrap();
                    assert_eq!(
                        pull.recv_timeout(Duration::from_secs(10)).unwrap(),
                        "served"
                    );
                    break;
                }
                _ => {}
            }
        }
    }
}
