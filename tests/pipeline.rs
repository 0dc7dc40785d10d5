//! PUSH → PULL between ferromq sockets over tcp, ipc and inproc.

mod util;

use std::collections::HashMap;
use std::time::Duration;

use ferromq::{Context, Error, Message, Pull, Push};
use util::{eventually, ipc_endpoint, unique, Transport};

const WAIT: Duration = Duration::from_secs(10);

const ALL: [Transport; 3] = Transport::ALL;

/// Binds `socket` on a fresh endpoint of `t` and returns the endpoint to connect to.
macro_rules! bind_fresh {
    ($socket:expr, $t:expr) => {{
        $socket.bind(&$t.fresh_endpoint("pipeline")).unwrap();
        $socket.last_endpoint().unwrap().to_owned()
    }};
}

fn pull(ctx: &Context) -> Pull {
    let mut p = ctx.pull().unwrap();
    p.set_recv_timeout(Some(WAIT));
    p
}

fn push(ctx: &Context) -> Push {
    let mut p = ctx.push().unwrap();
    p.set_send_timeout(Some(WAIT));
    p
}

#[test]
fn single_and_multipart_messages_arrive_whole_on_every_transport() {
    for t in ALL {
        let ctx = Context::new();
        let mut rx = pull(&ctx);
        let ep = bind_fresh!(rx, t);
        let mut tx = push(&ctx);
        tx.connect(&ep).unwrap();

        tx.send("hello").unwrap();
        tx.send(["multi", "", "part"]).unwrap();
        let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
        tx.send(big.clone()).unwrap();

        assert_eq!(rx.recv().unwrap(), "hello", "{t:?}");
        assert_eq!(
            rx.recv().unwrap(),
            Message::from(["multi", "", "part"]),
            "{t:?}"
        );
        let got = rx.recv().unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0] == big[..], "{t:?}: 1 MiB message differs");
    }
}

#[test]
fn push_round_robins_evenly_over_its_peers() {
    for t in ALL {
        let ctx = Context::new();
        let mut tx = push(&ctx);
        let ep = bind_fresh!(tx, t);
        let mut pulls: Vec<Pull> = (0..3).map(|_| pull(&ctx)).collect();
        for p in &mut pulls {
            p.connect(&ep).unwrap();
        }
        assert!(eventually(WAIT, || tx.peer_count() == 3), "{t:?}");
        for i in 0..300u32 {
            tx.send(i.to_string()).unwrap();
        }
        for (n, p) in pulls.iter_mut().enumerate() {
            for _ in 0..100 {
                p.recv().unwrap();
            }
            assert!(
                matches!(
                    p.recv_timeout(Duration::from_millis(50)),
                    Err(Error::TimedOut)
                ),
                "{t:?}: peer {n} got more than its share"
            );
        }
    }
}

#[test]
fn pull_fair_queues_across_its_peers() {
    for t in ALL {
        let ctx = Context::new();
        let mut rx = pull(&ctx);
        // Small receive queues fill up at once, so every sender has messages waiting
        // when receiving starts.
        rx.set_recv_hwm(10);
        let ep = bind_fresh!(rx, t);
        let mut pushes: Vec<Push> = (0..3).map(|_| push(&ctx)).collect();
        for p in &mut pushes {
            p.connect(&ep).unwrap();
        }
        assert!(eventually(WAIT, || rx.peer_count() == 3), "{t:?}");
        for (n, p) in pushes.iter_mut().enumerate() {
            for _ in 0..50 {
                p.send(n.to_string()).unwrap();
            }
        }
        // Let the I/O thread fill every receive queue.
        std::thread::sleep(Duration::from_millis(300));
        let mut shares: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..30 {
            let m = rx.recv().unwrap();
            *shares.entry(m[0].to_vec()).or_default() += 1;
        }
        for n in 0..3 {
            let got = shares.get(n.to_string().as_bytes()).copied().unwrap_or(0);
            assert!(
                (9..=11).contains(&got),
                "{t:?}: sender {n} got {got} of 30: {shares:?}"
            );
        }
        for _ in 30..150 {
            rx.recv().unwrap();
        }
    }
}

#[test]
fn push_blocks_at_the_high_water_mark_and_resumes_when_drained() {
    for t in ALL {
        let ctx = Context::new();
        let mut rx = pull(&ctx);
        rx.set_recv_hwm(2);
        let ep = bind_fresh!(rx, t);
        let mut tx = push(&ctx);
        tx.set_send_hwm(2);
        tx.connect(&ep).unwrap();
        assert!(eventually(WAIT, || tx.peer_count() == 1), "{t:?}");

        // Large messages fill the kernel's socket buffers quickly over tcp and ipc.
        let chunk = vec![7u8; 256 * 1024];
        let mut sent = 0usize;
        let mut blocked = false;
        for _ in 0..2000 {
            match tx.send_timeout(chunk.clone(), Duration::from_millis(200)) {
                Ok(()) => sent += 1,
                Err(e) => {
                    assert!(matches!(e.error(), Error::TimedOut), "{t:?}: {e}");
                    assert_eq!(
                        e.into_message().byte_len(),
                        chunk.len(),
                        "message handed back"
                    );
                    blocked = true;
                    break;
                }
            }
        }
        assert!(blocked, "{t:?}: PUSH never blocked after {sent} messages");
        assert!(matches!(
            tx.try_send("x").unwrap_err().error(),
            Error::WouldBlock
        ));
        // Drain everything: the sender must be able to continue, and nothing was lost.
        for _ in 0..sent {
            rx.recv().unwrap();
        }
        tx.send("after").unwrap();
        assert_eq!(rx.recv().unwrap(), "after", "{t:?}");
    }
}

#[test]
fn several_pushers_and_pullers_lose_nothing() {
    for t in [Transport::Tcp, Transport::Ipc] {
        let ctx = Context::new();
        let mut rx = pull(&ctx);
        let ep = bind_fresh!(rx, t);
        let handles: Vec<_> = (0..4u32)
            .map(|n| {
                let ctx = ctx.clone();
                let ep = ep.clone();
                std::thread::spawn(move || {
                    let mut tx = push(&ctx);
                    tx.connect(&ep).unwrap();
                    for i in 0..2500u32 {
                        tx.send([n.to_be_bytes().to_vec(), i.to_be_bytes().to_vec()])
                            .unwrap();
                    }
                    tx
                })
            })
            .collect();
        let mut next = [0u32; 4];
        for _ in 0..10_000 {
            let m = rx.recv().unwrap();
            let n = u32::from_be_bytes(m[0][..].try_into().unwrap()) as usize;
            let i = u32::from_be_bytes(m[1][..].try_into().unwrap());
            assert_eq!(i, next[n], "{t:?}: sender {n} out of order");
            next[n] += 1;
        }
        for h in handles {
            drop(h.join().unwrap());
        }
    }
}

#[test]
fn messages_carry_the_connection_addresses() {
    let ctx = Context::new();
    let mut rx = pull(&ctx);
    rx.bind("tcp://127.0.0.1:*").unwrap();
    let ep = rx.last_endpoint().unwrap().to_owned();
    let mut tx = push(&ctx);
    tx.connect(&ep).unwrap();
    tx.send("x").unwrap();
    let m = rx.recv().unwrap();
    let meta = m.metadata().expect("received messages have metadata");
    assert_eq!(m.peer_address(), Some("127.0.0.1"));
    assert_eq!(meta.get("Socket-Type"), Some(&b"PUSH"[..]));
    let local = meta.local_address().unwrap();
    assert!(ep.ends_with(local), "local {local} vs bound {ep}");
    assert!(meta.peer_socket_addr().unwrap().port() > 0);
}

#[test]
fn a_connect_before_the_bind_is_retried_until_it_succeeds() {
    let ctx = Context::new();
    // Find a free port, then release it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut tx = push(&ctx);
    tx.connect(&ep).unwrap();
    std::thread::sleep(Duration::from_millis(250));
    let mut rx = pull(&ctx);
    rx.bind(&ep).unwrap();
    tx.send("late bind").unwrap();
    assert_eq!(rx.recv().unwrap(), "late bind");
}

#[test]
fn a_dropped_connection_is_remade_by_the_connecting_side() {
    let ctx = Context::new();
    let mut tx = push(&ctx);
    tx.set_reconnect_interval_max(Duration::from_millis(200));
    let mut rx = pull(&ctx);
    rx.bind("tcp://127.0.0.1:*").unwrap();
    let ep = rx.last_endpoint().unwrap().to_owned();
    tx.connect(&ep).unwrap();
    tx.send("one").unwrap();
    assert_eq!(rx.recv().unwrap(), "one");
    drop(rx);
    assert!(eventually(WAIT, || tx.peer_count() == 0));
    let mut rx = pull(&ctx);
    rx.bind(&ep).unwrap();
    tx.send("two").unwrap();
    assert_eq!(rx.recv().unwrap(), "two");
}

#[test]
fn second_bind_of_an_address_fails_and_rebinding_after_close_works() {
    for t in ALL {
        let ctx = Context::new();
        let mut a = pull(&ctx);
        let ep = bind_fresh!(a, t);
        let mut b = pull(&ctx);
        match b.bind(&ep) {
            Err(Error::AddressInUse(_)) => {}
            // libzmq semantics for ipc paths: a second bind takes the path over.
            Ok(()) if matches!(t, Transport::Ipc) => {}
            other => panic!("{t:?}: second bind gave {other:?}"),
        }
        drop(b);
        drop(a);
        let mut c = pull(&ctx);
        c.bind(&ep).unwrap();
    }
}

#[test]
fn ipc_socket_file_is_removed_on_unbind_and_on_close() {
    let ctx = Context::new();
    let ep = ipc_endpoint("unlink");
    let path = std::path::PathBuf::from(ep.trim_start_matches("ipc://"));
    let mut a = pull(&ctx);
    a.bind(&ep).unwrap();
    assert!(path.exists());
    a.unbind(&ep).unwrap();
    assert!(
        eventually(WAIT, || !path.exists()),
        "unbind leaves the file"
    );
    a.bind(&ep).unwrap();
    assert!(path.exists());
    drop(a);
    assert!(eventually(WAIT, || !path.exists()), "close leaves the file");
}

#[test]
fn abstract_ipc_names_work() {
    let ctx = Context::new();
    let ep = format!("ipc://@{}", unique("ferromq-abstract"));
    let mut rx = pull(&ctx);
    rx.bind(&ep).unwrap();
    let mut tx = push(&ctx);
    tx.connect(&ep).unwrap();
    tx.send("abstract").unwrap();
    assert_eq!(rx.recv().unwrap(), "abstract");
}

#[test]
fn inproc_connect_may_come_before_bind_and_wrong_types_are_refused() {
    let ctx = Context::new();
    let ep = format!("inproc://{}", unique("early"));
    let mut tx = push(&ctx);
    tx.connect(&ep).unwrap();
    let mut rx = pull(&ctx);
    rx.bind(&ep).unwrap();
    tx.send("early").unwrap();
    assert_eq!(rx.recv().unwrap(), "early");

    let mut wrong = push(&ctx);
    let mut other = push(&ctx);
    let ep2 = format!("inproc://{}", unique("wrong"));
    other.bind(&ep2).unwrap();
    assert!(matches!(
        wrong.connect(&ep2),
        Err(Error::IncompatiblePeer { .. })
    ));
}

#[test]
fn incompatible_tcp_peers_never_exchange_messages() {
    let ctx = Context::new();
    let mut a = push(&ctx);
    a.bind("tcp://127.0.0.1:*").unwrap();
    let ep = a.last_endpoint().unwrap().to_owned();
    let mut b = push(&ctx);
    b.connect(&ep).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(a.peer_count(), 0);
    assert_eq!(b.peer_count(), 0);
    assert!(matches!(
        a.try_send("x").unwrap_err().error(),
        Error::WouldBlock
    ));
}

#[test]
fn malformed_endpoints_are_errors_not_panics() {
    let ctx = Context::new();
    let mut s = pull(&ctx);
    for bad in [
        "",
        "tcp://",
        "tcp://127.0.0.1",
        "tcp://:5555",
        "udp://x:1",
        "ipc://",
        "inproc://",
        "tcp://[::1:5",
    ] {
        assert!(
            matches!(s.bind(bad), Err(Error::InvalidEndpoint { .. })),
            "bind {bad:?}"
        );
        assert!(
            matches!(s.connect(bad), Err(Error::InvalidEndpoint { .. })),
            "connect {bad:?}"
        );
    }
    assert!(matches!(
        s.connect("tcp://*:5555"),
        Err(Error::InvalidEndpoint { .. })
    ));
}

#[test]
fn dropping_sockets_and_context_with_queued_messages_returns_promptly() {
    let ctx = Context::new();
    let mut tx = push(&ctx);
    tx.set_linger(Duration::from_millis(100));
    // A connect to nowhere: nothing will ever take the messages.
    tx.connect("tcp://127.0.0.1:1").unwrap();
    // Queued for the connect (`IMMEDIATE=0`), which never comes up.
    tx.try_send("stuck").unwrap();
    let started = std::time::Instant::now();
    drop(tx);
    drop(ctx);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn dropping_a_context_with_a_live_peer_returns_within_the_linger_time() {
    // The peer stays up, so nothing ends the connection but our own close. A bound of
    // several times the linger catches an engine that waits for some unrelated timer.
    let other = Context::new();
    let mut rx = pull(&other);
    rx.bind("tcp://127.0.0.1:*").unwrap();
    let ep = rx.last_endpoint().unwrap().to_owned();
    for queued in [false, true] {
        let ctx = Context::new();
        let mut tx = push(&ctx);
        tx.set_linger(Duration::from_millis(200));
        tx.connect(&ep).unwrap();
        assert!(eventually(WAIT, || tx.peer_count() == 1));
        if queued {
            tx.send("flushed on close").unwrap();
        }
        let started = std::time::Instant::now();
        drop(tx);
        drop(ctx);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        if queued {
            assert_eq!(rx.recv().unwrap(), "flushed on close");
        }
    }
}
