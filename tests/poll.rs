//! The poller: readiness per pattern, waking without busy-waiting, timeouts, fairness and
//! the waker, over tcp, ipc and inproc.

mod util;

use std::time::{Duration, Instant};

use ferromq::{poll, Context, Interest, PollItem, Poller, Pull, Push, Ready, Socket, SocketType};
use util::Transport;

const WAIT: Duration = Duration::from_secs(10);

/// A bound PULL and a PUSH connected to it over `transport`, with the connection made.
fn pipeline(ctx: &Context, transport: Transport) -> (Pull, Push) {
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(WAIT));
    pull.bind(&transport.fresh_endpoint("poll")).unwrap();
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(WAIT));
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    assert!(util::eventually(WAIT, || push.peer_count() == 1));
    (pull, push)
}

#[test]
fn a_poll_with_nothing_ready_waits_out_its_timeout_without_spinning() {
    let ctx = Context::new();
    let (mut pull, _push) = pipeline(&ctx, Transport::Inproc);
    let timeout = Duration::from_millis(400);
    let cpu_before = util::cpu_ticks("/proc/thread-self/stat");
    let start = Instant::now();
    let ready = poll(&mut [PollItem::readable(&mut pull)], Some(timeout));
    let waited = start.elapsed();
    let cpu = util::cpu_ticks("/proc/thread-self/stat") - cpu_before;
    assert!(ready.is_empty() && !ready.woken());
    assert!(waited >= timeout, "returned after {waited:?}");
    // A spinning poll would use about 40 ticks here; a sleeping one uses none.
    assert!(cpu <= 10, "the poll used {cpu} ticks of CPU while waiting");
}

#[test]
fn a_zero_timeout_only_looks() {
    let ctx = Context::new();
    let (mut pull, mut push) = pipeline(&ctx, Transport::Inproc);
    let ready = poll(&mut [PollItem::readable(&mut pull)], Some(Duration::ZERO));
    assert!(ready.is_empty());
    push.send("x").unwrap();
    let ready = poll(&mut [PollItem::readable(&mut pull)], Some(Duration::ZERO));
    assert!(ready.is_readable(0));
    assert_eq!(ready.count(), 1);
}

#[test]
fn a_message_from_another_thread_ends_the_wait_on_every_transport() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let (mut pull, mut push) = pipeline(&ctx, transport);
        let mut idle = ctx.pull().unwrap();
        idle.bind(&Transport::Inproc.fresh_endpoint("idle"))
            .unwrap();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            push.send("wake up").unwrap();
            push
        });
        let ready = poll(
            &mut [PollItem::readable(&mut idle), PollItem::readable(&mut pull)],
            Some(WAIT),
        );
        assert!(!ready.is_readable(0), "{transport:?}");
        assert!(ready.is_readable(1), "{transport:?}: {ready:?}");
        assert_eq!(pull.try_recv().unwrap(), "wake up");
        drop(sender.join().unwrap());
    }
}

#[test]
fn writable_follows_peers_and_the_high_water_mark() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.set_recv_hwm(2);
        pull.bind(&transport.fresh_endpoint("hwm")).unwrap();
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(2);
        let none = Some(Duration::ZERO);
        // No peer: a send would block.
        assert!(poll(&mut [PollItem::writable(&mut push)], none).is_empty());
        push.connect(pull.last_endpoint().unwrap()).unwrap();
        // The peer attaching rings the doorbell.
        let ready = poll(&mut [PollItem::writable(&mut push)], Some(WAIT));
        assert!(ready.is_writable(0), "{transport:?}");
        // Fill every queue on the way until a send would block.
        // (Big messages, so the kernel's socket buffers fill quickly on tcp and ipc.)
        let fill = bytes::Bytes::from(vec![0u8; 64 * 1024]);
        let mut sent = 0;
        loop {
            while push.try_send(fill.clone()).is_ok() {
                sent += 1;
                assert!(sent < 10_000, "the high-water mark never held");
                if sent % 8 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            // On a loaded machine the I/O thread may still be moving the queue into the
            // kernel when a send first fails: the queues are full once they stay full.
            std::thread::sleep(Duration::from_millis(50));
            match push.try_send(fill.clone()) {
                Ok(()) => sent += 1,
                Err(_) => break,
            }
        }
        assert!(poll(&mut [PollItem::writable(&mut push)], none).is_empty());
        // The reader draining makes room, which wakes the poll.
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            for _ in 0..sent {
                pull.recv().unwrap();
            }
            pull
        });
        let ready = poll(&mut [PollItem::writable(&mut push)], Some(WAIT));
        assert!(ready.is_writable(0), "{transport:?}");
        drop(reader.join().unwrap());
    }
}

#[test]
fn every_ready_socket_is_reported_so_a_loop_serves_them_fairly() {
    let ctx = Context::new();
    let (mut a, mut push_a) = pipeline(&ctx, Transport::Inproc);
    let (mut b, mut push_b) = pipeline(&ctx, Transport::Inproc);
    for i in 0..100 {
        push_a.send(format!("a{i}")).unwrap();
        push_b.send(format!("b{i}")).unwrap();
    }
    let (mut from_a, mut from_b) = (0, 0);
    for _ in 0..100 {
        let ready = poll(
            &mut [PollItem::readable(&mut a), PollItem::readable(&mut b)],
            Some(WAIT),
        );
        assert_eq!(ready.count(), 2, "both stay ready while both have messages");
        if ready.is_readable(0) {
            assert_eq!(a.try_recv().unwrap(), format!("a{from_a}").as_str());
            from_a += 1;
        }
        if ready.is_readable(1) {
            assert_eq!(b.try_recv().unwrap(), format!("b{from_b}").as_str());
            from_b += 1;
        }
    }
    assert_eq!((from_a, from_b), (100, 100));
    assert!(poll(
        &mut [PollItem::readable(&mut a), PollItem::readable(&mut b)],
        Some(Duration::ZERO)
    )
    .is_empty());
}

#[test]
fn the_waker_ends_a_poll_from_another_thread_and_a_early_wake_is_kept() {
    let ctx = Context::new();
    let (mut pull, _push) = pipeline(&ctx, Transport::Inproc);
    let mut poller = Poller::new();
    let waker = poller.waker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        waker.wake();
    });
    let start = Instant::now();
    let ready = poller.poll(&mut [PollItem::readable(&mut pull)], Some(WAIT));
    assert!(ready.woken() && ready.is_empty());
    assert!(start.elapsed() < WAIT);
    t.join().unwrap();

    // A wake before the poll ends the next poll at once, and only that one.
    poller.waker().wake();
    poller.waker().wake();
    assert!(poller.poll(&mut [], Some(WAIT)).woken());
    let ready = poller.poll(
        &mut [PollItem::readable(&mut pull)],
        Some(Duration::from_millis(20)),
    );
    assert!(!ready.woken());
}

fn ready_of(socket: &mut Socket) -> Ready {
    poll(
        &mut [PollItem::new(socket, Interest::BOTH)],
        Some(Duration::from_millis(200)),
    )
}

#[test]
fn readiness_follows_the_req_and_rep_state_machines() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let mut rep = ctx.socket(SocketType::Rep).unwrap();
        rep.bind(&transport.fresh_endpoint("rr")).unwrap();
        let mut req = ctx.socket(SocketType::Req).unwrap();
        req.connect(rep.last_endpoint().unwrap()).unwrap();

        // REQ idle: may send, may not receive. REP idle with nothing queued: nothing.
        let r = ready_of(&mut req);
        assert_eq!(r.get(0), Interest::WRITABLE, "{transport:?}");
        assert!(ready_of(&mut rep).is_empty(), "{transport:?}");

        req.send("ping").unwrap();
        // REQ waiting, no reply yet: nothing. REP with a request: readable only.
        assert!(ready_of(&mut req).is_empty(), "{transport:?}");
        assert_eq!(
            ready_of(&mut rep).get(0),
            Interest::READABLE,
            "{transport:?}"
        );
        assert_eq!(rep.recv().unwrap(), "ping");
        // REP replying: writable only.
        assert_eq!(
            ready_of(&mut rep).get(0),
            Interest::WRITABLE,
            "{transport:?}"
        );
        rep.send("pong").unwrap();
        // REQ with its reply there: readable only.
        assert_eq!(
            ready_of(&mut req).get(0),
            Interest::READABLE,
            "{transport:?}"
        );
        assert_eq!(req.recv().unwrap(), "pong");
        assert_eq!(
            ready_of(&mut req).get(0),
            Interest::WRITABLE,
            "{transport:?}"
        );
    }
}

#[test]
fn a_typed_pending_request_is_readable_when_its_reply_is_there() {
    let ctx = Context::new();
    let mut rep = ctx.rep().unwrap();
    rep.bind("inproc://poll-pending").unwrap();
    let mut req = ctx.req().unwrap();
    req.connect("inproc://poll-pending").unwrap();
    let mut pending = req.send("ping").unwrap();
    assert!(poll(
        &mut [PollItem::readable(&mut pending)],
        Some(Duration::from_millis(50))
    )
    .is_empty());
    let request = rep.recv_timeout(WAIT).unwrap();
    request.reply("pong").unwrap();
    let ready = poll(&mut [PollItem::readable(&mut pending)], Some(WAIT));
    assert!(ready.is_readable(0));
    assert_eq!(pending.recv_timeout(WAIT).unwrap(), "pong");
}

#[test]
fn a_sub_that_is_only_polled_still_subscribes_new_publishers() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let mut publisher = ctx.publisher().unwrap();
        publisher.bind(&transport.fresh_endpoint("sub")).unwrap();
        let mut sub = ctx.subscriber().unwrap();
        sub.subscribe("news");
        sub.connect(publisher.last_endpoint().unwrap()).unwrap();
        // Poll (never recv) until the publisher has the subscription.
        let deadline = Instant::now() + WAIT;
        while publisher.subscriber_count() == 0 {
            assert!(Instant::now() < deadline, "{transport:?}: never subscribed");
            poll(
                &mut [PollItem::readable(&mut sub)],
                Some(Duration::from_millis(10)),
            );
        }
        publisher.send(["news", "it works"]).unwrap();
        let ready = poll(&mut [PollItem::readable(&mut sub)], Some(WAIT));
        assert!(ready.is_readable(0), "{transport:?}");
        assert_eq!(&sub.try_recv().unwrap()[1][..], b"it works");
    }
}

#[test]
fn router_dealer_and_pair_readiness() {
    let ctx = Context::new();
    let mut router = ctx.router().unwrap();
    router.bind("inproc://poll-router").unwrap();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_identity("d1").unwrap();
    dealer.connect("inproc://poll-router").unwrap();
    let zero = Some(Duration::ZERO);
    // A ROUTER never blocks on send: always writable.
    let r = poll(&mut [PollItem::new(&mut router, Interest::BOTH)], zero);
    assert_eq!(r.get(0), Interest::WRITABLE);
    let r = poll(
        &mut [PollItem::new(&mut dealer, Interest::BOTH)],
        Some(WAIT),
    );
    assert_eq!(r.get(0), Interest::WRITABLE);
    dealer.send("hello").unwrap();
    let r = poll(&mut [PollItem::readable(&mut router)], Some(WAIT));
    assert!(r.is_readable(0));
    let msg = router.try_recv().unwrap();
    assert_eq!(&msg[0][..], b"d1");
    router.send(["d1", "back"]).unwrap();
    let r = poll(&mut [PollItem::readable(&mut dealer)], Some(WAIT));
    assert!(r.is_readable(0));

    let mut a = ctx.pair().unwrap();
    a.bind("inproc://poll-pair").unwrap();
    let mut b = ctx.pair().unwrap();
    assert!(poll(&mut [PollItem::writable(&mut b)], zero).is_empty());
    b.connect("inproc://poll-pair").unwrap();
    assert!(poll(&mut [PollItem::writable(&mut b)], Some(WAIT)).is_writable(0));
    b.send("x").unwrap();
    assert!(poll(&mut [PollItem::readable(&mut a)], Some(WAIT)).is_readable(0));
}

#[test]
fn interop_a_poll_wakes_for_libzmq_peers() {
    let zctx = zmq::Context::new();
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut router = ctx.router().unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let push = util::zmq_socket(&zctx, zmq::PUSH);
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    let dealer = util::zmq_socket(&zctx, zmq::DEALER);
    dealer.set_identity(b"libzmq").unwrap();
    dealer.connect(router.last_endpoint().unwrap()).unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        dealer.send("to router", 0).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        push.send("to pull", 0).unwrap();
        (push, dealer)
    });
    let mut got = Vec::new();
    while got.len() < 2 {
        let ready = poll(
            &mut [
                PollItem::readable(&mut pull),
                PollItem::readable(&mut router),
            ],
            Some(WAIT),
        );
        assert!(!ready.is_empty(), "timed out with {got:?}");
        if ready.is_readable(0) {
            got.push(pull.try_recv().unwrap()[0].to_vec());
        }
        if ready.is_readable(1) {
            let msg = router.try_recv().unwrap();
            assert_eq!(&msg[0][..], b"libzmq");
            got.push(msg[1].to_vec());
        }
    }
    assert_eq!(got, vec![b"to router".to_vec(), b"to pull".to_vec()]);
    drop(t.join().unwrap());
}

#[test]
fn a_polled_router_sees_its_peers_come_and_go_with_notifications_on() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let mut router = ctx.router().unwrap();
        router.set_router_notify(true, true);
        router.bind(&transport.fresh_endpoint("notify")).unwrap();
        let mut dealer = ctx.dealer().unwrap();
        dealer.set_identity("w1").unwrap();
        dealer.connect(router.last_endpoint().unwrap()).unwrap();
        for what in ["connect", "disconnect"] {
            let ready = poll(&mut [PollItem::readable(&mut router)], Some(WAIT));
            assert!(ready.is_readable(0), "{transport:?}: no {what} notice");
            let notice = router.try_recv().unwrap();
            assert_eq!(
                notice,
                ferromq::Message::from(vec!["w1", ""]),
                "{transport:?}"
            );
            if what == "connect" {
                drop(std::mem::replace(&mut dealer, ctx.dealer().unwrap()));
            }
        }
    }
}
