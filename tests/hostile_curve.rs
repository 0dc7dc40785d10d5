//! Hostile CURVE clients on real tcp connections: one that stops after HELLO, a flood of
//! replayed HELLOs, and garbage where INITIATE belongs. The server must close each by its
//! handshake timeout or at once, hold nothing for them beyond the connection, and keep
//! serving an honest client meanwhile. Every blocking call is bounded.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ferromq::{Context, CurveKeyPair, MonitorEvent};
use util::eventually;

const LIMIT: Duration = Duration::from_secs(10);

/// A CURVE server's greeting as libzmq and ferromq send it: ZMTP 3.1, CURVE, as-server.
fn server_greeting() -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12..17].copy_from_slice(b"CURVE");
    g[32] = 1;
    g
}

/// Reads exactly `n` bytes, within the limit.
fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// The greeting and HELLO a real ferromq CURVE client sends to `server_public`, recorded
/// by a plain listener that answers with a server greeting and nothing more.
fn recorded_hello(server_public: &ferromq::CurvePublicKey) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ctx = Context::new();
    let mut client = ctx.dealer().unwrap();
    client.set_curve_client(server_public, &CurveKeyPair::generate().unwrap());
    client
        .connect(&format!("tcp://{}", listener.local_addr().unwrap()))
        .unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream.write_all(&server_greeting()).unwrap();
    // Greeting (64) and HELLO (2-byte header + 200).
    read_n(&mut stream, 64 + 202)
}

/// A CURVE ROUTER server with a short handshake timeout, its monitor and its endpoint.
fn server(keys: &CurveKeyPair, ctx: &Context) -> (ferromq::Router, ferromq::Monitor, String) {
    let mut router = ctx.router().unwrap();
    router.set_curve_server(keys.secret());
    router.set_handshake_timeout(Some(Duration::from_millis(300)));
    let monitor = router.monitor();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = router.last_endpoint().unwrap().to_owned();
    (router, monitor, endpoint)
}

/// An honest CURVE client gets a message through `router` and its answer back.
fn honest_exchange(
    ctx: &Context,
    keys: &CurveKeyPair,
    router: &mut ferromq::Router,
    endpoint: &str,
) {
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_curve_client(keys.public(), &CurveKeyPair::generate().unwrap());
    dealer.connect(endpoint).unwrap();
    dealer.send("honest").unwrap();
    let got = router.recv_timeout(LIMIT).unwrap();
    assert_eq!(got[1], *b"honest");
    router.send([got[0].to_vec(), b"answer".to_vec()]).unwrap();
    assert_eq!(dealer.recv_timeout(LIMIT).unwrap(), "answer");
}

fn stream_to(endpoint: &str) -> TcpStream {
    let addr = endpoint.trim_start_matches("tcp://");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

/// Reads until the server closes the connection; returns how many bytes came first.
fn read_to_close(stream: &mut TcpStream) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("the server never closed: {e}"),
        }
    }
}

#[test]
fn a_client_that_stops_after_hello_is_closed_by_the_handshake_timeout() {
    let keys = CurveKeyPair::generate().unwrap();
    let ctx = Context::new();
    let (mut router, monitor, endpoint) = server(&keys, &ctx);
    let hello = recorded_hello(keys.public());
    let mut stalled = stream_to(&endpoint);
    stalled.write_all(&hello).unwrap();
    let started = Instant::now();
    // The server answers with its greeting and WELCOME (2 + 168), then waits for INITIATE.
    let got = read_to_close(&mut stalled);
    assert_eq!(got, 64 + 170, "greeting and WELCOME, nothing else");
    assert!(started.elapsed() < LIMIT);
    let timed_out = eventually(
        LIMIT,
        || matches!(monitor.try_recv(), Ok(MonitorEvent::HandshakeFailed { reason, .. }) if reason.contains("timed out")),
    );
    assert!(timed_out, "the monitor names the handshake timeout");
    honest_exchange(&ctx, &keys, &mut router, &endpoint);
}

#[test]
fn a_flood_of_replayed_hellos_leaves_honest_clients_served() {
    let keys = CurveKeyPair::generate().unwrap();
    let ctx = Context::new();
    let (mut router, _monitor, endpoint) = server(&keys, &ctx);
    let hello = recorded_hello(keys.public());
    // The same HELLO, replayed on many connections: each gets its own WELCOME (the box
    // opens), and nothing more, since no INITIATE follows.
    let mut flood: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = stream_to(&endpoint);
            s.write_all(&hello).unwrap();
            s
        })
        .collect();
    honest_exchange(&ctx, &keys, &mut router, &endpoint);
    for s in &mut flood {
        assert_eq!(read_to_close(s), 64 + 170);
    }
    // Replaying a HELLO gives an attacker nothing: the WELCOME it gets is for a short-term
    // key whose secret it does not hold. And the server is still there afterwards.
    honest_exchange(&ctx, &keys, &mut router, &endpoint);
}

#[test]
fn garbage_instead_of_initiate_closes_at_once() {
    let keys = CurveKeyPair::generate().unwrap();
    let ctx = Context::new();
    let (mut router, monitor, endpoint) = server(&keys, &ctx);
    router.set_handshake_timeout(None);
    let hello = recorded_hello(keys.public());
    for initiate in [
        // Too short to be an INITIATE.
        b"\x04\x0a\x08INITIATE\x00".to_vec(),
        // The right size, but no box in it opens.
        {
            let mut v = vec![0x04, 0xff];
            v.extend_from_slice(b"\x08INITIATE");
            v.resize(2 + 255, 0x5a);
            v
        },
        // A message frame during the handshake.
        b"\x00\x05hello".to_vec(),
    ] {
        let mut s = stream_to(&endpoint);
        s.write_all(&hello).unwrap();
        assert_eq!(read_n(&mut s, 64 + 170).len(), 234);
        s.write_all(&initiate).unwrap();
        assert_eq!(read_to_close(&mut s), 0, "closed without another byte");
    }
    let mut failures = 0;
    while let Ok(e) = monitor.recv_timeout(Duration::from_millis(500)) {
        if matches!(e, MonitorEvent::HandshakeFailed { .. }) {
            failures += 1;
        }
    }
    assert_eq!(failures, 3);
    honest_exchange(&ctx, &keys, &mut router, &endpoint);
}
