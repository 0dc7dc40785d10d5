//! The socket monitor: events for listeners, connects, handshakes and disconnects over
//! real tcp connections. Every wait is bounded.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ferromq::{Context, Error, MonitorEvent, SocketType};
use util::expect_event as expect;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_connection_lifecycle_is_reported_on_both_sides() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    let pull_mon = pull.monitor();
    assert!(matches!(pull_mon.try_recv(), Err(Error::WouldBlock)));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.last_endpoint().unwrap().to_owned();
    assert_eq!(
        pull_mon.recv_timeout(LIMIT).unwrap(),
        MonitorEvent::Listening {
            endpoint: endpoint.clone()
        }
    );

    let mut push = ctx.push().unwrap();
    let push_mon = push.monitor();
    push.connect(&endpoint).unwrap();
    let connected = expect(&push_mon, "connected", |e| {
        matches!(e, MonitorEvent::Connected { .. })
    });
    let MonitorEvent::Connected {
        endpoint: ep,
        peer_address,
    } = connected
    else {
        unreachable!()
    };
    assert_eq!(ep, endpoint);
    assert_eq!(
        format!("tcp://{}", peer_address.expect("tcp has a peer address")),
        endpoint
    );
    assert_eq!(
        expect(&push_mon, "handshake", |e| matches!(
            e,
            MonitorEvent::HandshakeSucceeded { .. }
        )),
        MonitorEvent::HandshakeSucceeded {
            endpoint: endpoint.clone(),
            peer_type: SocketType::Pull
        }
    );
    let accepted = expect(&pull_mon, "accepted", |e| {
        matches!(e, MonitorEvent::Accepted { .. })
    });
    assert!(
        matches!(&accepted, MonitorEvent::Accepted { endpoint: ep, peer_address: Some(_) } if *ep == endpoint)
    );
    assert_eq!(
        expect(&pull_mon, "handshake", |e| matches!(
            e,
            MonitorEvent::HandshakeSucceeded { .. }
        )),
        MonitorEvent::HandshakeSucceeded {
            endpoint: endpoint.clone(),
            peer_type: SocketType::Push
        }
    );

    // The pusher goes away: a normal disconnect, with no reason.
    drop(push);
    assert_eq!(
        expect(&pull_mon, "disconnected", |e| matches!(
            e,
            MonitorEvent::Disconnected { .. }
        )),
        MonitorEvent::Disconnected {
            endpoint: endpoint.clone(),
            reason: None
        }
    );
    // The pusher's monitor ends once its socket is gone.
    let deadline = Instant::now() + LIMIT;
    let mut rest = Vec::new();
    loop {
        match push_mon.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) => rest.push(e),
            Err(Error::Closed) => break,
            Err(e) => panic!("the monitor did not end with its socket: {e}; saw {rest:?}"),
        }
    }
    assert!(push_mon.iter().next().is_none());
    assert!(
        !rest
            .iter()
            .any(|e| matches!(e, MonitorEvent::HandshakeFailed { .. })),
        "{rest:?}"
    );

    pull.unbind(&endpoint).unwrap();
    assert_eq!(
        expect(&pull_mon, "closed", |e| matches!(
            e,
            MonitorEvent::Closed { .. }
        )),
        MonitorEvent::Closed { endpoint }
    );
}

#[test]
fn refused_connects_are_retried_with_growing_delays() {
    // A port nobody listens on any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.set_reconnect_interval(Some(Duration::from_millis(20)));
    push.set_reconnect_interval_max(Duration::from_millis(80));
    let mon = push.monitor();
    push.connect(&endpoint).unwrap();
    let mut delays = Vec::new();
    while delays.len() < 4 {
        match expect(&mon, "connect retried", |e| {
            matches!(e, MonitorEvent::ConnectRetried { .. })
        }) {
            MonitorEvent::ConnectRetried {
                endpoint: ep,
                retry_in,
            } => {
                assert_eq!(ep, endpoint);
                delays.push(retry_in.as_millis());
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(delays, [20, 40, 80, 80]);
}

#[test]
fn a_wrong_socket_type_fails_the_handshake_with_a_reason() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    let mon = pull.monitor();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.last_endpoint().unwrap().to_owned();
    let mut other = ctx.pull().unwrap();
    other.connect(&endpoint).unwrap();
    let failed = expect(&mon, "handshake failed", |e| {
        matches!(e, MonitorEvent::HandshakeFailed { .. })
    });
    let MonitorEvent::HandshakeFailed {
        endpoint: ep,
        reason,
    } = failed
    else {
        unreachable!()
    };
    assert_eq!(ep, endpoint);
    assert!(reason.contains("incompatible peer"), "{reason}");
    assert!(reason.contains("PULL"), "{reason}");
}

#[test]
fn the_handshake_timeout_and_heartbeat_timeout_are_reported() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_handshake_timeout(Some(Duration::from_millis(100)));
    pull.set_heartbeat_interval(Some(Duration::from_millis(50)));
    let mon = pull.monitor();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let addr = pull
        .last_endpoint()
        .unwrap()
        .trim_start_matches("tcp://")
        .to_owned();

    // Silent from the start: the handshake times out.
    let _silent = TcpStream::connect(&addr).unwrap();
    let failed = expect(&mon, "handshake failed", |e| {
        matches!(e, MonitorEvent::HandshakeFailed { .. })
    });
    assert!(
        matches!(&failed, MonitorEvent::HandshakeFailed { reason, .. } if reason.contains("handshake timed out")),
        "{failed:?}"
    );

    // Handshakes, then falls silent: the heartbeat drops it.
    let mut peer = TcpStream::connect(&addr).unwrap();
    let mut hello = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    hello.extend_from_slice(b"NULL");
    hello.resize(64, 0);
    hello.extend_from_slice(b"\x04\x1a\x05READY\x0bSocket-Type\0\0\0\x04PUSH");
    peer.write_all(&hello).unwrap();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    let mut head = [0u8; 64];
    peer.read_exact(&mut head).unwrap();
    expect(&mon, "handshake", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    let gone = expect(&mon, "disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    assert!(
        matches!(&gone, MonitorEvent::Disconnected { reason: Some(r), .. } if r.contains("heartbeat")),
        "{gone:?}"
    );
}

#[test]
fn a_failed_bind_is_reported() {
    let ctx = Context::new();
    let mut first = ctx.pull().unwrap();
    first.bind("tcp://127.0.0.1:*").unwrap();
    let taken = first.last_endpoint().unwrap().to_owned();
    let mut second = ctx.pull().unwrap();
    let mon = second.monitor();
    assert!(second.bind(&taken).is_err());
    assert!(matches!(
        mon.try_recv().unwrap(),
        MonitorEvent::BindFailed { endpoint, .. } if endpoint == taken
    ));
}
