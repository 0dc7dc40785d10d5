//! REQ ↔ REP between ferromq sockets over tcp, ipc and inproc.

mod util;

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use ferromq::{Context, Error, Message, Rep, Req};
use util::{eventually, Transport};

const WAIT: Duration = Duration::from_secs(10);

const ALL: [Transport; 3] = Transport::ALL;

fn rep_on(ctx: &Context, t: Transport) -> (Rep, String) {
    let mut rep = ctx.rep().unwrap();
    rep.set_recv_timeout(Some(WAIT));
    rep.bind(&t.fresh_endpoint("reqrep")).unwrap();
    let ep = rep.last_endpoint().unwrap().to_owned();
    (rep, ep)
}

fn req_to(ctx: &Context, ep: &str) -> Req {
    let mut req = ctx.req().unwrap();
    req.set_recv_timeout(Some(WAIT));
    req.set_send_timeout(Some(WAIT));
    req.connect(ep).unwrap();
    req
}

/// Answers every request with `prefix` + the request, until told to stop by "stop".
fn echo_server(mut rep: Rep, prefix: &'static str) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut served = 0;
        loop {
            let Ok(request) = rep.recv() else {
                return served;
            };
            let body = request.body().clone();
            if body == "stop" {
                let _ = request.reply("stopped");
                return served;
            }
            let mut reply = Message::from(prefix);
            reply.extend(body.into_frames());
            request.reply(reply).unwrap();
            served += 1;
        }
    })
}

#[test]
fn request_reply_works_on_every_transport_and_keeps_frames() {
    for t in ALL {
        let ctx = Context::new();
        let (rep, ep) = rep_on(&ctx, t);
        let server = echo_server(rep, "echo");
        let mut req = req_to(&ctx, &ep);
        for i in 0..10 {
            let reply = req.request(format!("Hello {i}")).unwrap();
            assert_eq!(
                reply,
                Message::multipart(["echo".to_owned(), format!("Hello {i}")]),
                "{t:?}"
            );
        }
        let reply = req.send(["a", "", "c"]).unwrap().recv().unwrap();
        assert_eq!(reply, Message::from(["echo", "a", "", "c"]), "{t:?}");
        assert_eq!(req.request("stop").unwrap(), "stopped");
        assert_eq!(server.join().unwrap(), 11);
    }
}

#[test]
fn req_round_robins_over_three_reps() {
    for t in ALL {
        let ctx = Context::new();
        let mut req = ctx.req().unwrap();
        req.set_recv_timeout(Some(WAIT));
        let mut servers = Vec::new();
        for name in ["A", "B", "C"] {
            let (rep, ep) = rep_on(&ctx, t);
            req.connect(&ep).unwrap();
            servers.push(echo_server(rep, name));
        }
        assert!(eventually(WAIT, || req.peer_count() == 3), "{t:?}");
        let mut shares: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..30 {
            let reply = req.request("x").unwrap();
            *shares.entry(reply[0].to_vec()).or_default() += 1;
        }
        for name in ["A", "B", "C"] {
            assert_eq!(shares.get(name.as_bytes()), Some(&10), "{t:?}: {shares:?}");
        }
        for _ in 0..3 {
            req.request("stop").unwrap();
        }
        for s in servers {
            s.join().unwrap();
        }
    }
}

#[test]
fn rep_serves_three_reqs_fairly() {
    for t in ALL {
        let ctx = Context::new();
        let (mut rep, ep) = rep_on(&ctx, t);
        // Three requesters that each queue all their requests at once (DEALERs with the
        // REQ envelope), so every peer always has one waiting: the order the REP serves
        // them in is then its fair queue alone, not the clients' scheduling. (With REQs,
        // one request in flight each, a client the scheduler runs late misses turns.)
        let mut clients: Vec<_> = (0..3)
            .map(|n| {
                let mut dealer = ctx.dealer().unwrap();
                dealer.set_recv_timeout(Some(WAIT));
                dealer.connect(&ep).unwrap();
                (n, dealer)
            })
            .collect();
        assert!(eventually(WAIT, || rep.peer_count() == 3), "{t:?}");
        for (n, dealer) in &mut clients {
            for _ in 0..40 {
                dealer.send(vec![String::new(), n.to_string()]).unwrap();
            }
        }
        // Let every request reach the REP's queues before the first is served.
        thread::sleep(Duration::from_millis(300));
        let mut order = Vec::new();
        for _ in 0..120 {
            let request = rep.recv().unwrap();
            order.push(request.body()[0].to_vec());
            request.reply("ok").unwrap();
        }
        let mut shares: HashMap<Vec<u8>, usize> = HashMap::new();
        for who in &order[..60] {
            *shares.entry(who.clone()).or_default() += 1;
        }
        for n in 0..3 {
            let got = shares.get(n.to_string().as_bytes()).copied().unwrap_or(0);
            assert!(
                (19..=21).contains(&got),
                "{t:?}: client {n} got {got} of the first 60: {shares:?}"
            );
        }
        // Every request was answered, to the right requester.
        for (n, dealer) in &mut clients {
            for _ in 0..40 {
                let reply = dealer.recv().unwrap();
                assert_eq!(reply.frames().len(), 2, "{t:?} client {n}");
                assert_eq!(&reply[1][..], b"ok");
            }
        }
    }
}

#[test]
fn a_silent_rep_does_not_wedge_its_req_and_the_retry_reaches_another() {
    for t in ALL {
        let ctx = Context::new();
        let (mut silent, silent_ep) = rep_on(&ctx, t);
        let (good, good_ep) = rep_on(&ctx, t);
        let server = echo_server(good, "good");
        let mut req = ctx.req().unwrap();
        req.connect(&silent_ep).unwrap();
        req.connect(&good_ep).unwrap();
        assert!(eventually(WAIT, || req.peer_count() == 2), "{t:?}");

        let mut answered = 0;
        let mut timeouts = 0;
        for i in 0..4 {
            // Lazy Pirate: wait a little, retry on timeout.
            match req
                .send(format!("r{i}"))
                .unwrap()
                .recv_timeout(Duration::from_millis(200))
            {
                Ok(reply) => {
                    assert_eq!(reply[0], "good");
                    answered += 1;
                }
                Err(Error::TimedOut) => timeouts += 1,
                Err(e) => panic!("{t:?}: {e}"),
            }
            // The silent REP takes its request and never answers.
            if let Ok(r) = silent.try_recv() {
                drop(r);
            }
        }
        assert!(
            answered >= 2 && timeouts >= 1,
            "{t:?}: answered {answered}, timeouts {timeouts}"
        );
        // Stop the good server; a "stop" that lands on the silent one times out and is
        // retried, which goes to the other peer.
        let mut stopped = false;
        for _ in 0..6 {
            let reply = req
                .send("stop")
                .unwrap()
                .recv_timeout(Duration::from_millis(200));
            if let Ok(r) = reply {
                assert_eq!(r, "stopped");
                stopped = true;
                break;
            }
            if let Ok(r) = silent.try_recv() {
                drop(r);
            }
        }
        assert!(stopped, "{t:?}: the good server never got its stop");
        server.join().unwrap();
    }
}

#[test]
fn a_rep_that_dies_mid_request_is_reported_and_the_retry_reaches_another() {
    for t in [Transport::Tcp, Transport::Ipc] {
        let ctx = Context::new();
        let doomed_ctx = Context::new();
        let (mut doomed, doomed_ep) = rep_on(&doomed_ctx, t);
        let (good, good_ep) = rep_on(&ctx, t);
        let server = echo_server(good, "good");
        let mut req = ctx.req().unwrap();
        req.set_recv_timeout(Some(WAIT));
        req.connect(&doomed_ep).unwrap();
        assert!(eventually(WAIT, || req.peer_count() == 1));
        req.connect(&good_ep).unwrap();
        assert!(eventually(WAIT, || req.peer_count() == 2));

        let pending = req.send("first").unwrap();
        // The first request goes to the first peer: the doomed one takes it and dies.
        let taken = doomed.recv().unwrap();
        assert_eq!(taken.body(), "first");
        drop(taken);
        drop(doomed);
        drop(doomed_ctx);
        match pending.recv() {
            Err(Error::Disconnected) => {}
            other => panic!("{t:?}: expected Disconnected, got {other:?}"),
        }
        assert_eq!(
            req.request("second").unwrap(),
            Message::from(["good", "second"])
        );
        req.request("stop").unwrap();
        server.join().unwrap();
    }
}

#[test]
fn a_late_reply_is_never_taken_for_the_next_request() {
    for correlate in [false, true] {
        for t in ALL {
            let ctx = Context::new();
            let (mut rep, ep) = rep_on(&ctx, t);
            let mut req = req_to(&ctx, &ep);
            req.set_correlate(correlate);
            let slow = thread::spawn(move || {
                // Answer the first request too late, then the second at once.
                let first = rep.recv().unwrap();
                thread::sleep(Duration::from_millis(300));
                let _ = first.reply("late answer to the first");
                loop {
                    let r = rep.recv().unwrap();
                    if r.body() == "second" {
                        r.reply("answer to the second").unwrap();
                        return;
                    }
                    drop(r);
                }
            });
            let first = req.send("first").unwrap();
            assert!(matches!(
                first.recv_timeout(Duration::from_millis(100)),
                Err(Error::TimedOut)
            ));
            thread::sleep(Duration::from_millis(400));
            let reply = req.request("second").unwrap();
            assert_eq!(reply, "answer to the second", "{t:?} correlate={correlate}");
            slow.join().unwrap();
        }
    }
}

#[test]
fn dropping_a_request_unanswered_frees_the_rep() {
    let ctx = Context::new();
    let (mut rep, ep) = rep_on(&ctx, Transport::Inproc);
    let mut a = req_to(&ctx, &ep);
    let mut b = req_to(&ctx, &ep);
    let pa = a.send("from a").unwrap();
    let pb = b.send("from b").unwrap();
    drop(rep.recv().unwrap());
    let second = rep.recv().unwrap();
    let who = second.body().clone();
    second.reply("answered").unwrap();
    let (answered, dropped) = if who == "from b" { (pb, pa) } else { (pa, pb) };
    assert_eq!(answered.recv().unwrap(), "answered");
    assert!(matches!(
        dropped.recv_timeout(Duration::from_millis(100)),
        Err(Error::TimedOut)
    ));
}

#[test]
fn a_req_with_no_peer_times_out_on_send_and_hands_the_request_back() {
    let ctx = Context::new();
    let mut req = ctx.req().unwrap();
    req.set_send_timeout(Some(Duration::from_millis(50)));
    let err = req.send("nobody").unwrap_err();
    assert!(matches!(err.error(), Error::TimedOut));
    assert_eq!(err.into_message(), "nobody");
}

#[test]
fn a_req_drops_what_a_peer_sent_unasked_before_its_next_request() {
    // Over inproc a send is in the REQ's queue when it returns, so the stale message is
    // certainly waiting when the request goes.
    let ctx = Context::new();
    let mut router = ctx.router().unwrap();
    router.bind("inproc://req-unasked").unwrap();
    let mut req = ctx.req().unwrap();
    req.set_recv_timeout(Some(WAIT));
    req.set_identity("asker").unwrap();
    req.connect("inproc://req-unasked").unwrap();
    assert!(eventually(WAIT, || router.peer_count() == 1));
    router.send(["asker", "", "stale"]).unwrap();
    assert_eq!(
        router.dropped(),
        0,
        "the stale message is queued for the REQ"
    );
    for round in 0..2 {
        let pending = req.send("question").unwrap();
        let got = router.recv_timeout(WAIT).unwrap();
        assert_eq!(got, Message::from(["asker", "", "question"]));
        router.send(["asker", "", "answer"]).unwrap();
        assert_eq!(pending.recv().unwrap(), "answer", "round {round}");
        // Something unasked again, before the next request.
        router.send(["asker", "", "stale again"]).unwrap();
    }
}

/// A peer that queued `garbage` messages the REQ must discard, then the reply: one
/// `try_recv` does a bounded amount of work and says would-block, later ones get there.
#[test]
fn try_recv_behind_a_pile_of_garbage_does_bounded_work() {
    let ctx = Context::new();
    let mut router = ctx.router().unwrap();
    router.set_send_hwm(0);
    router.bind("inproc://req-garbage").unwrap();
    let mut req = ctx.socket(ferromq::SocketType::Req).unwrap();
    req.set_recv_hwm(0);
    req.set_identity("asker").unwrap();
    req.connect("inproc://req-garbage").unwrap();
    req.send("question").unwrap();
    assert_eq!(router.recv_timeout(WAIT).unwrap().len(), 3);
    for _ in 0..5000 {
        router.send(["asker", "no delimiter"]).unwrap();
    }
    router.send(["asker", "", "answer"]).unwrap();
    assert_eq!(router.dropped(), 0);
    assert!(
        matches!(req.try_recv(), Err(Error::WouldBlock)),
        "one try_recv went through 5000 discards"
    );
    let mut tries = 1;
    let reply = loop {
        match req.try_recv() {
            Ok(m) => break m,
            Err(Error::WouldBlock) => tries += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(tries < 100, "no progress");
    };
    assert_eq!(reply, "answer");
    assert!(
        tries >= 4,
        "about 1024 discards per call, took {tries} calls"
    );
}

#[test]
fn rep_try_recv_behind_a_pile_of_non_requests_does_bounded_work() {
    let ctx = Context::new();
    let mut rep = ctx.socket(ferromq::SocketType::Rep).unwrap();
    rep.set_recv_hwm(0);
    rep.bind("inproc://rep-garbage").unwrap();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_send_hwm(0);
    dealer.connect("inproc://rep-garbage").unwrap();
    for _ in 0..5000 {
        dealer.send(["no", "delimiter"]).unwrap();
    }
    dealer.send(["", "request"]).unwrap();
    assert!(matches!(rep.try_recv(), Err(Error::WouldBlock)));
    let mut tries = 1;
    let request = loop {
        match rep.try_recv() {
            Ok(m) => break m,
            Err(Error::WouldBlock) => tries += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(tries < 100, "no progress");
    };
    assert_eq!(request, "request");
}

#[test]
fn empty_requests_and_replies_are_refused_on_every_transport() {
    for t in ALL {
        let ctx = Context::new();
        let (mut rep, ep) = rep_on(&ctx, t);
        let mut req = req_to(&ctx, &ep);
        assert!(eventually(WAIT, || req.peer_count() == 1));
        let err = req.send(Message::new()).unwrap_err();
        assert!(matches!(err.error(), Error::EmptyMessage), "{t:?}");
        assert!(err.into_message().is_empty());
        // Nothing went out, and the REQ is still idle: a real request goes through.
        let pending = req.send("real").unwrap();
        let request = rep.recv().unwrap();
        assert_eq!(request.body(), "real", "{t:?}");
        let err = request.reply(Message::new()).unwrap_err();
        assert!(matches!(err.error(), Error::EmptyMessage), "{t:?}");
        // The typed request was used up: the REP takes the next one, and the REQ hears
        // nothing for the first.
        assert!(matches!(
            pending.recv_timeout(Duration::from_millis(200)),
            Err(Error::TimedOut)
        ));
        let pending = req.send("again").unwrap();
        let request = rep.recv().unwrap();
        assert_eq!(request.body(), "again", "{t:?}");
        request.reply("answer").unwrap();
        assert_eq!(pending.recv().unwrap(), "answer", "{t:?}");
    }
}

/// A timed receive checks its deadline while it discards, not only while it waits: with
/// its time already up, a receive behind a pile of garbage stops (here after about 1024
/// discards) instead of going through the whole pile, whatever a flooding peer keeps adding.
#[test]
fn a_timed_recv_whose_time_is_up_stops_discarding() {
    let ctx = Context::new();
    let mut router = ctx.router().unwrap();
    router.set_send_hwm(0);
    router.bind("inproc://req-garbage-timed").unwrap();
    let mut req = ctx.socket(ferromq::SocketType::Req).unwrap();
    req.set_recv_hwm(0);
    req.set_identity("asker").unwrap();
    req.connect("inproc://req-garbage-timed").unwrap();
    req.send("question").unwrap();
    assert_eq!(router.recv_timeout(WAIT).unwrap().len(), 3);
    for _ in 0..5000 {
        router.send(["asker", "no delimiter"]).unwrap();
    }
    router.send(["asker", "", "answer"]).unwrap();
    assert!(matches!(
        req.recv_timeout(Duration::ZERO),
        Err(Error::TimedOut)
    ));
    // Timed out: the request is given up, as after any timeout.
    assert!(matches!(req.try_recv(), Err(Error::WrongState(_))));

    let mut rep = ctx.socket(ferromq::SocketType::Rep).unwrap();
    rep.set_recv_hwm(0);
    rep.bind("inproc://rep-garbage-timed").unwrap();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_send_hwm(0);
    dealer.connect("inproc://rep-garbage-timed").unwrap();
    for _ in 0..5000 {
        dealer.send(["no", "delimiter"]).unwrap();
    }
    dealer.send(["", "request"]).unwrap();
    assert!(matches!(
        rep.recv_timeout(Duration::ZERO),
        Err(Error::TimedOut)
    ));
}
