//! The resolver against a real I/O thread, with injected lookup functions: every attempt
//! looks the name up again, and a stuck lookup blocks neither the caller nor the loop.
//! Every wait is bounded.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::endpoint::Endpoint;
use crate::engine::{IoThread, Target};
use crate::mailbox::SocketShared;
use crate::monitor::{Monitor, MonitorEvent};
use crate::options::Options;
use crate::socket_type::SocketType;

const LIMIT: Duration = Duration::from_secs(10);

fn local(port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
}

/// A port nobody listens on any more.
fn free_port() -> u16 {
    TcpListener::bind(local(0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A non-blocking listener on an ephemeral loopback port.
fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind(local(0)).unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Waits for a connection on `l`; panics after [`LIMIT`].
fn accept(l: &TcpListener, what: &str) -> TcpStream {
    let deadline = Instant::now() + LIMIT;
    loop {
        match l.accept() {
            Ok((s, _)) => return s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        assert!(Instant::now() < deadline, "no connection: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads events until one matches `want`; panics with everything seen after [`LIMIT`].
fn expect(monitor: &Monitor, what: &str, want: impl Fn(&MonitorEvent) -> bool) -> MonitorEvent {
    let deadline = Instant::now() + LIMIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monitor.recv_timeout(left) {
            Ok(e) if want(&e) => return e,
            Ok(e) => seen.push(e),
            Err(err) => panic!("no {what} event ({err}); saw {seen:?}"),
        }
    }
}

fn options() -> Options {
    Options {
        reconnect_ivl: Some(Duration::from_millis(10)),
        reconnect_ivl_max: Duration::from_millis(20),
        ..Options::default()
    }
}

/// A tcp target for `endpoint` resolved by `resolver`.
fn target(endpoint: &str, resolver: Resolver) -> Target {
    let Ok(Endpoint::Tcp(endpoint)) = Endpoint::parse(endpoint) else {
        panic!("{endpoint}")
    };
    Target::Tcp(TcpTarget { endpoint, resolver })
}

/// Connects a new PUSH socket's state on `io` to `target`; returns it with its monitor.
fn connect(io: &IoThread, endpoint: &str, target: Target) -> (Arc<SocketShared>, Monitor) {
    let (socket, _mailbox) = SocketShared::new(SocketType::Push, true);
    let monitor = socket.monitor();
    io.handle()
        .connect(&socket, &options(), target, Arc::from(endpoint), None);
    (socket, monitor)
}

/// Closes the sockets' connections at once (the raw listeners never answer the greeting)
/// and stops the thread.
fn finish(io: IoThread, sockets: &[&Arc<SocketShared>]) {
    for s in sockets {
        io.handle().close_socket(s.id, Duration::ZERO);
    }
    io.shutdown();
}

#[test]
fn every_attempt_resolves_the_name_again() {
    // The name first points at a port where nothing listens, then moves to one that does:
    // only a connecter that looks it up again finds the listener.
    let (moved_to, port) = listener();
    let refused = free_port();
    let calls = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let resolver = {
        let (calls, asked) = (calls.clone(), asked.clone());
        Resolver::with(
            move |name, p| {
                asked.lock().unwrap().push((name.to_owned(), p));
                match calls.fetch_add(1, SeqCst) {
                    0 => Ok(vec![local(refused)]),
                    _ => Ok(vec![local(port)]),
                }
            },
            LIMIT,
        )
    };
    let io = IoThread::spawn(
        0,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        std::sync::Arc::default(),
        true,
    )
    .unwrap();
    let endpoint = "tcp://moving.example:5555";
    let (socket, monitor) = connect(&io, endpoint, target(endpoint, resolver));
    expect(&monitor, "retried after the refused port", |e| {
        matches!(e, MonitorEvent::ConnectRetried { .. })
    });
    let _conn = accept(&moved_to, "the second lookup's address");
    assert!(calls.load(SeqCst) >= 2);
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .all(|(n, p)| n == "moving.example" && *p == 5555),
        "{asked:?}"
    );
    finish(io, &[&socket]);
}

#[test]
fn a_failed_lookup_is_reported_and_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = {
        let calls = calls.clone();
        Resolver::with(
            move |name, _| {
                calls.fetch_add(1, SeqCst);
                Err(format!("no such host `{name}`"))
            },
            LIMIT,
        )
    };
    let io = IoThread::spawn(
        0,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        std::sync::Arc::default(),
        true,
    )
    .unwrap();
    let endpoint = "tcp://down.example:5555";
    let (socket, monitor) = connect(&io, endpoint, target(endpoint, resolver));
    for _ in 0..3 {
        let failed = expect(&monitor, "resolve failed", |e| {
            matches!(e, MonitorEvent::ResolveFailed { .. })
        });
        assert_eq!(
            failed,
            MonitorEvent::ResolveFailed {
                endpoint: endpoint.into(),
                error: "no such host `down.example`".into()
            }
        );
        // The back-off applies, as for a refused connect.
        expect(&monitor, "connect retried", |e| {
            matches!(e, MonitorEvent::ConnectRetried { .. })
        });
    }
    assert!(calls.load(SeqCst) >= 3);
    finish(io, &[&socket]);
}

#[test]
fn a_stuck_lookup_blocks_neither_the_loop_nor_a_second_lookup() {
    let (server, port) = listener();
    // The lookup blocks until the test says so, then answers with the listener.
    let (release, released) = crossbeam_channel::bounded::<()>(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = {
        let calls = calls.clone();
        Resolver::with(
            move |_, _| {
                if calls.fetch_add(1, SeqCst) == 0 {
                    let _ = released.recv_timeout(LIMIT);
                }
                Ok(vec![local(port)])
            },
            Duration::from_millis(30),
        )
    };
    let io = IoThread::spawn(
        0,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        std::sync::Arc::default(),
        true,
    )
    .unwrap();
    let stuck_ep = "tcp://stuck.example:5555";
    let (stuck, monitor) = connect(&io, stuck_ep, target(stuck_ep, resolver));

    // The attempts give up waiting, and back off; no second lookup starts meanwhile.
    for _ in 0..3 {
        let failed = expect(&monitor, "resolve timed out", |e| {
            matches!(e, MonitorEvent::ResolveFailed { .. })
        });
        let MonitorEvent::ResolveFailed { error, .. } = failed else {
            unreachable!()
        };
        assert!(error.contains("took longer than 30ms"), "{error}");
    }
    assert_eq!(calls.load(SeqCst), 1, "at most one lookup in flight");

    // Meanwhile the I/O thread serves other connecters.
    let numeric_ep = format!("tcp://127.0.0.1:{port}");
    let (numeric, _) = connect(&io, &numeric_ep, target(&numeric_ep, Resolver::system()));
    let _first = accept(&server, "the numeric connecter, while a lookup is stuck");

    // Once the lookup answers, the stuck connecter connects too.
    release.send(()).unwrap();
    let _second = accept(&server, "the connecter whose lookup was stuck");
    finish(io, &[&stuck, &numeric]);
}

#[test]
fn pending_tracks_one_lookup_one_timer_and_the_waiting_attempt() {
    let start_arm = Begin {
        start: true,
        arm: true,
    };
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let t2 = t1 + Duration::from_secs(1);
    let mut p = Pending::default();
    // First attempt: start a lookup and arm a timer.
    assert_eq!(p.begin(t1), start_arm);
    // The answer comes in time.
    assert!(p.finished());
    // The next attempt starts a lookup, but its timer is the one still armed.
    assert_eq!(
        p.begin(t2),
        Begin {
            start: true,
            arm: false
        }
    );
    // That timer goes off at t1, early for this attempt: armed again for t2.
    assert_eq!(p.expired(t1), Expiry::Rearm(t2));
    // At t2 the attempt fails; the lookup still runs.
    assert_eq!(p.expired(t2), Expiry::TimedOut);
    // The next attempt waits for the same lookup rather than starting one.
    let t3 = t2 + Duration::from_secs(1);
    assert_eq!(
        p.begin(t3),
        Begin {
            start: false,
            arm: true
        }
    );
    // Its result serves that attempt; the timer then finds nothing to do.
    assert!(p.finished());
    assert_eq!(p.expired(t3), Expiry::Idle);
    // A result nobody waits for is dropped.
    assert_eq!(p.begin(t3), start_arm);
    assert_eq!(p.expired(t3), Expiry::TimedOut);
    assert!(!p.finished());
    // A lookup that could not start leaves nothing in flight.
    assert_eq!(p.begin(t3), start_arm);
    p.not_started();
    assert_eq!(p.expired(t3), Expiry::Idle);
    assert_eq!(p.begin(t3), start_arm);
}
