//! DEALER, ROUTER and PAIR between ferromq sockets over tcp, ipc and inproc.

mod util;

use std::collections::HashSet;
use std::time::Duration;

use ferromq::{Context, Dealer, Error, Message, Pair, Router, Socket, SocketType};
use util::{eventually, Transport};

const WAIT: Duration = Duration::from_secs(10);

fn dealer(ctx: &Context) -> Dealer {
    let mut s = ctx.dealer().unwrap();
    s.set_send_timeout(Some(WAIT));
    s.set_recv_timeout(Some(WAIT));
    s
}

fn router(ctx: &Context) -> Router {
    let mut s = ctx.router().unwrap();
    s.set_send_timeout(Some(WAIT));
    s.set_recv_timeout(Some(WAIT));
    s
}

fn pair(ctx: &Context) -> Pair {
    let mut s = ctx.pair().unwrap();
    s.set_send_timeout(Some(WAIT));
    s.set_recv_timeout(Some(WAIT));
    s
}

/// Binds on a fresh endpoint of `t` and returns the endpoint to connect to.
macro_rules! bind_fresh {
    ($socket:expr, $t:expr) => {{
        $socket.bind(&$t.fresh_endpoint("routing")).unwrap();
        $socket.last_endpoint().unwrap().to_owned()
    }};
}

#[test]
fn dealer_and_router_talk_on_every_transport_with_a_generated_id() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut r = router(&ctx);
        let ep = bind_fresh!(r, t);
        let mut d = dealer(&ctx);
        d.connect(&ep).unwrap();

        d.send(["hello", "world"]).unwrap();
        let msg = r.recv().unwrap();
        assert_eq!(msg.len(), 3, "{t:?}");
        let id = msg[0].clone();
        assert_eq!(id.len(), 5, "{t:?}");
        assert_eq!(id[0], 0, "{t:?}");
        assert_eq!(&msg[1][..], b"hello");
        assert_eq!(&msg[2][..], b"world");

        r.send([id.clone(), "back".into(), "again".into()]).unwrap();
        assert_eq!(d.recv().unwrap(), Message::from(["back", "again"]), "{t:?}");
        // The id is stable for the connection.
        d.send("two").unwrap();
        assert_eq!(r.recv().unwrap()[0], id);
    }
}

#[test]
fn router_routes_to_three_dealers_by_identity() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut r = router(&ctx);
        let ep = bind_fresh!(r, t);
        let mut dealers: Vec<Dealer> = (0..3)
            .map(|i| {
                let mut d = dealer(&ctx);
                d.set_identity(format!("w{i}")).unwrap();
                d.connect(&ep).unwrap();
                d
            })
            .collect();
        // Each dealer says hello, so the router surely knows all three.
        for d in &mut dealers {
            d.send("ready").unwrap();
        }
        let mut seen = HashSet::new();
        for _ in 0..3 {
            let msg = r.recv().unwrap();
            assert_eq!(&msg[1][..], b"ready");
            seen.insert(msg[0].to_vec());
        }
        let expected: HashSet<Vec<u8>> = (0..3).map(|i| format!("w{i}").into_bytes()).collect();
        assert_eq!(seen, expected, "{t:?}");

        for round in 0..3 {
            for i in [2, 0, 1] {
                r.send([format!("w{i}"), format!("job {round} for {i}")])
                    .unwrap();
            }
        }
        for (i, d) in dealers.iter_mut().enumerate() {
            for round in 0..3 {
                assert_eq!(d.recv().unwrap(), format!("job {round} for {i}").as_str());
            }
            assert!(matches!(d.try_recv(), Err(Error::WouldBlock)));
        }
        assert_eq!(r.dropped(), 0);
    }
}

#[test]
fn dealer_round_robins_and_fair_queues_over_two_routers() {
    let ctx = Context::new();
    let mut r1 = router(&ctx);
    let mut r2 = router(&ctx);
    let ep1 = bind_fresh!(r1, Transport::Inproc);
    let ep2 = bind_fresh!(r2, Transport::Inproc);
    let mut d = dealer(&ctx);
    d.connect(&ep1).unwrap();
    d.connect(&ep2).unwrap();
    assert!(eventually(WAIT, || d.peer_count() == 2));
    for i in 0..4 {
        d.send(format!("m{i}")).unwrap();
    }
    let a: Vec<Message> = (0..2).map(|_| r1.recv().unwrap()).collect();
    let b: Vec<Message> = (0..2).map(|_| r2.recv().unwrap()).collect();
    assert!(matches!(r1.try_recv(), Err(Error::WouldBlock)));
    assert!(matches!(r2.try_recv(), Err(Error::WouldBlock)));
    // Replies from both come back to the dealer.
    r1.send([a[0][0].clone(), "from r1".into()]).unwrap();
    r2.send([b[0][0].clone(), "from r2".into()]).unwrap();
    let mut got = vec![d.recv().unwrap(), d.recv().unwrap()];
    got.sort_by(|x, y| x[0].cmp(&y[0]));
    assert_eq!(
        got,
        vec![Message::from("from r1"), Message::from("from r2")]
    );
}

#[test]
fn dealer_blocks_at_the_hwm_and_never_drops() {
    let ctx = Context::new();
    let mut r = ctx.router().unwrap();
    r.set_recv_hwm(1);
    r.bind("inproc://dealer-hwm").unwrap();
    let mut d = ctx.dealer().unwrap();
    d.set_send_hwm(1);
    d.connect("inproc://dealer-hwm").unwrap();
    let mut sent = 0;
    while d.try_send(format!("m{sent}")).is_ok() {
        sent += 1;
        assert!(sent < 100, "the queue never filled");
    }
    let err = d
        .send_timeout("late", Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(err.error(), Error::TimedOut));
    assert_eq!(err.into_message(), "late");
    for i in 0..sent {
        let msg = r.recv_timeout(WAIT).unwrap();
        assert_eq!(&msg[1][..], format!("m{i}").as_bytes());
    }
}

#[test]
fn dealer_talks_to_rep_with_an_explicit_delimiter() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut rep = ctx.rep().unwrap();
        rep.set_recv_timeout(Some(WAIT));
        let ep = bind_fresh!(rep, t);
        let mut d = dealer(&ctx);
        d.connect(&ep).unwrap();
        d.send(["", "question"]).unwrap();
        let request = rep.recv().unwrap();
        assert_eq!(request.body(), &Message::from("question"));
        request.reply("answer").unwrap();
        assert_eq!(d.recv().unwrap(), Message::from(["", "answer"]), "{t:?}");
    }
}

#[test]
fn req_talks_to_router_with_the_envelope() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut r = router(&ctx);
        let ep = bind_fresh!(r, t);
        let mut req = ctx.req().unwrap();
        req.set_recv_timeout(Some(WAIT));
        req.connect(&ep).unwrap();
        let pending = req.send("hi").unwrap();
        let msg = r.recv().unwrap();
        assert_eq!(msg.len(), 3, "{t:?}");
        assert!(msg[1].is_empty());
        assert_eq!(&msg[2][..], b"hi");
        r.send([msg[0].clone(), msg[1].clone(), "ho".into()])
            .unwrap();
        assert_eq!(pending.recv().unwrap(), "ho", "{t:?}");
    }
}

#[test]
fn routers_talk_to_each_other_by_identity() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut server = router(&ctx);
        server.set_identity("server").unwrap();
        let ep = bind_fresh!(server, t);
        let mut client = router(&ctx);
        client.set_identity("client").unwrap();
        client.set_router_mandatory(true);
        client.connect(&ep).unwrap();
        // The connecting router learns the server's id once the handshake is done.
        assert!(
            eventually(WAIT, || client.try_send(["server", "hello"]).is_ok()),
            "{t:?}"
        );
        let msg = server.recv().unwrap();
        assert_eq!(msg, Message::from(["client", "hello"]), "{t:?}");
        server.send(["client", "welcome"]).unwrap();
        assert_eq!(
            client.recv().unwrap(),
            Message::from(["server", "welcome"]),
            "{t:?}"
        );
    }
}

#[test]
fn router_drops_and_counts_unroutable_messages() {
    let ctx = Context::new();
    let mut r = router(&ctx);
    r.bind("inproc://router-drops").unwrap();
    r.send(["nobody", "x"]).unwrap();
    r.send(["nobody", "y"]).unwrap();
    assert_eq!(r.dropped(), 2);
    // A lone id frame is ignored, not counted.
    r.send("nobody").unwrap();
    assert_eq!(r.dropped(), 2);

    // A full peer loses the message without blocking.
    let mut d = ctx.dealer().unwrap();
    d.set_recv_hwm(1);
    d.set_identity("slow").unwrap();
    d.connect("inproc://router-drops").unwrap();
    d.send("hi").unwrap();
    r.recv().unwrap();
    let mut queued = 0;
    while r.dropped() == 2 {
        r.send(["slow", "data"]).unwrap();
        queued += 1;
        assert!(queued < 10_000, "never dropped");
    }
    assert_eq!(r.dropped(), 3);
    for _ in 0..queued - 1 {
        assert_eq!(d.recv_timeout(WAIT).unwrap(), "data");
    }
    assert!(matches!(d.try_recv(), Err(Error::WouldBlock)));
}

#[test]
fn mandatory_router_reports_unroutable_and_waits_at_the_hwm() {
    let ctx = Context::new();
    let mut r = ctx.router().unwrap();
    r.set_router_mandatory(true);
    r.set_send_hwm(1);
    r.bind("inproc://router-mandatory").unwrap();
    let err = r.send(["ghost", "boo"]).unwrap_err();
    assert!(matches!(err.error(), Error::HostUnreachable));
    assert_eq!(err.into_message(), Message::from(["ghost", "boo"]));
    assert_eq!(r.dropped(), 0);

    let mut d = ctx.dealer().unwrap();
    d.set_recv_hwm(1);
    d.set_identity("peer").unwrap();
    d.connect("inproc://router-mandatory").unwrap();
    d.send("hi").unwrap();
    r.recv_timeout(WAIT).unwrap();
    let mut sent = 0;
    loop {
        match r.try_send(["peer", "data"]) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert!(matches!(e.error(), Error::WouldBlock));
                break;
            }
        }
        assert!(sent < 100, "the queue never filled");
    }
    let err = r
        .send_timeout(["peer", "late"], Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(err.error(), Error::TimedOut));
    assert_eq!(err.into_message(), Message::from(["peer", "late"]));
    assert_eq!(r.dropped(), 0);
    for _ in 0..sent {
        assert_eq!(d.recv_timeout(WAIT).unwrap(), "data");
    }
}

#[test]
fn duplicate_identity_is_refused_and_handover_takes_it() {
    for handover in [false, true] {
        let ctx = Context::new();
        let mut r = router(&ctx);
        r.set_router_handover(handover);
        let ep = bind_fresh!(r, Transport::Tcp);
        let mut first = dealer(&ctx);
        first.set_identity("same").unwrap();
        first.connect(&ep).unwrap();
        first.send("first").unwrap();
        assert_eq!(r.recv().unwrap(), Message::from(["same", "first"]));

        let mut second = dealer(&ctx);
        second.set_identity("same").unwrap();
        second.set_reconnect_interval(None);
        second.connect(&ep).unwrap();
        assert!(eventually(WAIT, || second.peer_count() == 1));
        second.send("second").unwrap();
        if handover {
            assert_eq!(r.recv().unwrap(), Message::from(["same", "second"]));
        } else {
            // The newcomer is hung up and what it sent is gone.
            assert!(matches!(
                r.recv_timeout(Duration::from_millis(300)),
                Err(Error::TimedOut)
            ));
        }
        r.send(["same", "who?"]).unwrap();
        let (winner, loser) = if handover {
            (&mut second, &mut first)
        } else {
            (&mut first, &mut second)
        };
        assert_eq!(winner.recv().unwrap(), "who?", "handover={handover}");
        assert!(matches!(
            loser.recv_timeout(Duration::from_millis(50)),
            Err(Error::TimedOut)
        ));
    }
}

/// A ROUTER that connects to a second peer announcing a name it already holds keeps that
/// connection, unnamed, instead of hanging it up (which would make its own connect come
/// back at once with the same name, in a loop), and names it once the holder is gone.
#[test]
fn router_connecting_to_a_duplicate_name_keeps_it_waiting_without_reconnecting() {
    let ctx = Context::new();
    let mut first = dealer(&ctx);
    first.set_identity("same").unwrap();
    let ep_first = bind_fresh!(first, Transport::Tcp);
    let mut second = dealer(&ctx);
    second.set_identity("same").unwrap();
    let ep_second = bind_fresh!(second, Transport::Tcp);
    let events = second.monitor();

    let mut r = router(&ctx);
    r.connect(&ep_first).unwrap();
    // The first holds the name before the second connection is made.
    assert!(eventually(WAIT, || {
        let _ = r.send(["same", "to first"]);
        first.recv_timeout(Duration::from_millis(10)).is_ok()
    }));
    r.connect(&ep_second).unwrap();
    assert!(eventually(WAIT, || r.peer_count() == 2));

    // Over 600 ms (six reconnect intervals) of the ROUTER at work, the second connection
    // is made once and kept; the name still reaches the first, and what the second sends
    // is dropped.
    second.send("ignored").unwrap();
    let mut accepted = 0;
    let mut disconnected = 0;
    let until = std::time::Instant::now() + Duration::from_millis(600);
    while std::time::Instant::now() < until {
        r.send(["same", "still first"]).unwrap();
        assert_eq!(first.recv().unwrap(), "still first");
        assert!(matches!(
            r.recv_timeout(Duration::from_millis(20)),
            Err(Error::TimedOut)
        ));
        while let Ok(event) = events.recv_timeout(Duration::ZERO) {
            match event {
                ferromq::MonitorEvent::Accepted { .. } => accepted += 1,
                ferromq::MonitorEvent::Disconnected { .. } => disconnected += 1,
                _ => {}
            }
        }
    }
    assert_eq!(
        (accepted, disconnected),
        (1, 0),
        "the connection was not kept"
    );
    assert!(matches!(
        second.recv_timeout(Duration::from_millis(50)),
        Err(Error::TimedOut)
    ));

    // Once the holder leaves, the waiting connection takes the name.
    drop(first);
    assert!(eventually(WAIT, || {
        let _ = r.send(["same", "to second"]);
        second.recv_timeout(Duration::from_millis(10)).is_ok()
    }));
    second.send("now heard").unwrap();
    let mut got = r.recv().unwrap();
    while got.iter().nth(1).is_some_and(|f| &f[..] == b"ignored") {
        got = r.recv().unwrap();
    }
    assert_eq!(got, Message::from(["same", "now heard"]));
}

/// A PAIR that connects to a second PAIR while it has its peer hangs the newcomer up; its
/// connect comes back after the reconnect interval, not at once in a loop.
#[test]
fn pair_refusing_its_own_second_connect_does_not_loop() {
    let ctx = Context::new();
    let mut first = pair(&ctx);
    let ep_first = bind_fresh!(first, Transport::Tcp);
    let mut second = pair(&ctx);
    let ep_second = bind_fresh!(second, Transport::Tcp);
    let events = second.monitor();
    let mut p = pair(&ctx);
    p.connect(&ep_first).unwrap();
    p.send("hello").unwrap();
    assert_eq!(first.recv().unwrap(), "hello");
    p.connect(&ep_second).unwrap();
    // 600 ms of the PAIR at work: every call looks at newly attached peers.
    let mut accepted = 0;
    let until = std::time::Instant::now() + Duration::from_millis(600);
    while std::time::Instant::now() < until {
        p.send("ping").unwrap();
        assert_eq!(first.recv().unwrap(), "ping");
        while let Ok(event) = events.recv_timeout(Duration::ZERO) {
            if matches!(event, ferromq::MonitorEvent::Accepted { .. }) {
                accepted += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // One at once after each hang-up at most, then one per 100 ms interval.
    assert!(
        (1..=10).contains(&accepted),
        "{accepted} connections in 600 ms"
    );
}

#[test]
fn pair_talks_both_ways_on_every_transport() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut a = pair(&ctx);
        let ep = bind_fresh!(a, t);
        let mut b = pair(&ctx);
        b.connect(&ep).unwrap();
        for i in 0..5 {
            b.send(["ping".to_owned(), i.to_string()]).unwrap();
            assert_eq!(
                a.recv().unwrap(),
                Message::from(["ping".to_owned(), i.to_string()])
            );
            a.send("pong").unwrap();
            assert_eq!(b.recv().unwrap(), "pong", "{t:?}");
        }
    }
}

#[test]
fn pair_refuses_a_second_peer() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut a = pair(&ctx);
        let ep = bind_fresh!(a, t);
        let mut b = pair(&ctx);
        b.connect(&ep).unwrap();
        b.send("from b").unwrap();
        assert_eq!(a.recv().unwrap(), "from b");

        let mut c = pair(&ctx);
        c.set_reconnect_interval(None);
        c.connect(&ep).unwrap();
        let _ = c.try_send("from c");
        // Whatever c manages to queue, a only ever hears b.
        for i in 0..3 {
            let _ = a.try_recv();
            a.send(format!("to b {i}")).unwrap();
            assert_eq!(b.recv().unwrap(), format!("to b {i}").as_str(), "{t:?}");
        }
        assert!(matches!(
            c.recv_timeout(Duration::from_millis(50)),
            Err(Error::TimedOut)
        ));
        b.send("still b").unwrap();
        assert_eq!(a.recv().unwrap(), "still b", "{t:?}");
    }
}

#[test]
fn pair_send_blocks_at_the_hwm() {
    let ctx = Context::new();
    let mut a = ctx.pair().unwrap();
    a.set_send_hwm(1);
    a.bind("inproc://pair-hwm").unwrap();
    let mut b = ctx.pair().unwrap();
    b.set_recv_hwm(1);
    // No peer yet: nowhere to send.
    assert!(matches!(
        a.try_send("early").unwrap_err().error(),
        Error::WouldBlock
    ));
    b.connect("inproc://pair-hwm").unwrap();
    let mut sent = 0;
    while a.try_send(format!("m{sent}")).is_ok() {
        sent += 1;
        assert!(sent < 100, "the queue never filled");
    }
    let err = a
        .send_timeout("late", Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(err.error(), Error::TimedOut));
    for i in 0..sent {
        assert_eq!(b.recv_timeout(WAIT).unwrap(), format!("m{i}").as_str());
    }
}

#[test]
fn dynamic_sockets_of_the_routing_types_behave_like_the_typed_ones() {
    let ctx = Context::new();
    let mut r = Socket::new(&ctx, SocketType::Router).unwrap();
    r.set_recv_timeout(Some(WAIT));
    r.bind("inproc://dyn-routing").unwrap();
    let mut d = Socket::new(&ctx, SocketType::Dealer).unwrap();
    d.set_recv_timeout(Some(WAIT));
    d.set_identity("dyn").unwrap();
    d.connect("inproc://dyn-routing").unwrap();
    d.send("up").unwrap();
    assert_eq!(r.recv().unwrap(), Message::from(["dyn", "up"]));
    r.send(["dyn", "down"]).unwrap();
    assert_eq!(d.recv().unwrap(), "down");
    r.send(["ghost", "x"]).unwrap();
    assert_eq!(r.dropped(), 1);
    r.set_router_mandatory(true).unwrap();
    assert!(matches!(
        r.send(["ghost", "x"]).unwrap_err().error(),
        Error::HostUnreachable
    ));
    assert!(matches!(
        d.set_router_mandatory(true),
        Err(Error::InvalidOption(_))
    ));

    let mut p1 = ctx.socket(SocketType::Pair).unwrap();
    p1.set_recv_timeout(Some(WAIT));
    p1.bind("inproc://dyn-pair").unwrap();
    let mut p2 = ctx.socket(SocketType::Pair).unwrap();
    p2.set_recv_timeout(Some(WAIT));
    p2.connect("inproc://dyn-pair").unwrap();
    p1.send("a").unwrap();
    assert_eq!(p2.recv().unwrap(), "a");
    p2.send("b").unwrap();
    assert_eq!(p1.recv().unwrap(), "b");
}

/// A message with no frames is refused at send, the same way on every transport and for
/// every socket type, and nothing is queued: the peer's first message is the next real one.
#[test]
fn a_message_with_no_frames_is_refused_on_every_transport() {
    let cases: [(SocketType, SocketType, &[&str], &[&str]); 6] = [
        (SocketType::Push, SocketType::Pull, &["m"], &["m"]),
        (SocketType::Dealer, SocketType::Dealer, &["m"], &["m"]),
        (SocketType::Dealer, SocketType::Router, &["m"], &["d", "m"]),
        (SocketType::Router, SocketType::Dealer, &["d", "m"], &["m"]),
        (SocketType::Pair, SocketType::Pair, &["m"], &["m"]),
        (SocketType::Pub, SocketType::Sub, &["m"], &["m"]),
    ];
    for t in Transport::ALL {
        for (from, to, sent, received) in cases {
            let ctx = Context::new();
            let mut a = Socket::new(&ctx, from).unwrap();
            let mut b = Socket::new(&ctx, to).unwrap();
            b.set_recv_timeout(Some(WAIT));
            a.set_send_timeout(Some(WAIT));
            let (binder, connecter) = if from == SocketType::Router {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            connecter.set_identity("d").unwrap();
            let ep = bind_fresh!(binder, t);
            connecter.connect(&ep).unwrap();
            if to == SocketType::Sub {
                b.subscribe("").unwrap();
            }
            assert!(eventually(WAIT, || a.peer_count() == 1 && b.peer_count() == 1));
            let err = a.send(Message::new()).unwrap_err();
            assert!(
                matches!(err.error(), Error::EmptyMessage),
                "{t:?} {from:?}: {}",
                err.error()
            );
            assert!(err.into_message().is_empty());
            let real = Message::from(sent.to_vec());
            let first = if from == SocketType::Pub {
                // Until the subscription has arrived a PUB sends to nobody.
                let mut got = None;
                assert!(eventually(WAIT, || {
                    a.send(real.clone()).unwrap();
                    got = b.recv_timeout(Duration::from_millis(20)).ok();
                    got.is_some()
                }));
                got.unwrap()
            } else {
                a.send(real).unwrap();
                b.recv().unwrap()
            };
            assert_eq!(
                first,
                Message::from(received.to_vec()),
                "{t:?} {from:?} -> {to:?}"
            );
        }
    }
}

/// The typed publishing sockets refuse a message with no frames too, before routing it.
#[test]
fn typed_pub_xpub_and_xsub_refuse_a_message_with_no_frames() {
    let ctx = Context::new();
    let refused = |r: Result<usize, ferromq::SendError>| match r {
        Err(e) => matches!(e.error(), Error::EmptyMessage) && e.into_message().is_empty(),
        Ok(_) => false,
    };
    assert!(refused(ctx.publisher().unwrap().send(Message::new())));
    assert!(refused(ctx.xpublisher().unwrap().send(Message::new())));
    assert!(refused(ctx.xsubscriber().unwrap().send(Message::new())));
}
