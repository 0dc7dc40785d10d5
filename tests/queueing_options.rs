//! Queueing options: `ZMQ_CONFLATE` on PUB, SUB, PUSH, PULL and DEALER over every
//! transport, high-water marks that change while peers are connected, and `ZMQ_IMMEDIATE`
//! as ferromq has it.

mod util;

use std::time::Duration;

use ferromq::{Context, Error, Message, SocketType};
use util::{eventually, Transport};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(100);
const N: u32 = 2_000;

/// Receives until `last` arrives, checking that what arrives only ever gets newer;
/// returns how many were received.
fn drain_until(mut recv: impl FnMut() -> ferromq::Result<Message>, last: u32) -> u32 {
    let mut seen = 0;
    let mut prev = None;
    loop {
        let m = recv().unwrap();
        let v: u32 = std::str::from_utf8(&m[0]).unwrap().parse().unwrap();
        assert!(prev.is_none_or(|p| v > p), "{v} after {prev:?}");
        prev = Some(v);
        seen += 1;
        if v == last {
            return seen;
        }
    }
}

#[test]
fn a_conflating_pull_keeps_only_the_newest_message() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.set_conflate(true);
        pull.set_recv_timeout(Some(WAIT));
        pull.bind(&t.fresh_endpoint("conflate-pull")).unwrap();
        let ep = pull.last_endpoint().unwrap().to_owned();
        let mut push = ctx.push().unwrap();
        push.connect(&ep).unwrap();
        assert!(eventually(WAIT, || push.peer_count() == 1));
        for i in 0..N {
            push.send(format!("{i}")).unwrap();
        }
        let seen = drain_until(|| pull.recv(), N - 1);
        if t == Transport::Inproc {
            // One queue, written in full before the first read: the newest only.
            assert_eq!(seen, 1);
        }
        assert!(seen <= N, "{t:?}");
        assert!(matches!(pull.recv_timeout(QUIET), Err(Error::TimedOut)));
    }
}

#[test]
fn a_conflating_push_never_blocks_whatever_the_mark() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.set_conflate(true);
        pull.set_recv_hwm(1);
        pull.set_recv_timeout(Some(WAIT));
        pull.bind(&t.fresh_endpoint("conflate-push")).unwrap();
        let ep = pull.last_endpoint().unwrap().to_owned();
        let mut push = ctx.push().unwrap();
        push.set_conflate(true);
        push.set_send_hwm(1);
        push.connect(&ep).unwrap();
        assert!(eventually(WAIT, || push.peer_count() == 1));
        // Without conflate, a mark of 1 on both sides refuses the third message.
        for i in 0..N {
            push.try_send(format!("{i}")).unwrap();
        }
        drain_until(|| pull.recv(), N - 1);
    }
}

#[test]
fn a_conflating_sub_keeps_the_newest_and_all_its_subscriptions_arrive() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut publisher = ctx.publisher().unwrap();
        // No mark on the publisher's side: a PUB drops at its mark, and over tcp the
        // sender can outrun the I/O thread, so the last message could be dropped there
        // (as libzmq's PUB would) before the conflating SUB ever sees it.
        publisher.set_send_hwm(0);
        publisher.bind(&t.fresh_endpoint("conflate-sub")).unwrap();
        let ep = publisher.last_endpoint().unwrap().to_owned();
        let mut sub = ctx.subscriber().unwrap();
        sub.set_conflate(true);
        sub.set_recv_timeout(Some(WAIT));
        for topic in 0..50 {
            sub.subscribe(format!("t{topic}"));
        }
        sub.subscribe("");
        sub.connect(&ep).unwrap();
        // The subscriptions go out on a queue that does not conflate: all 51 arrive.
        assert!(
            eventually(WAIT, || publisher.topics_count() == 51),
            "{t:?}: {}",
            publisher.topics_count()
        );
        for i in 0..N {
            publisher.send(format!("{i}")).unwrap();
        }
        let seen = drain_until(|| sub.recv(), N - 1);
        if t == Transport::Inproc {
            assert_eq!(seen, 1);
        }
        assert_eq!(publisher.dropped(), 0, "{t:?}");
    }
}

#[test]
fn a_conflating_pub_never_drops_for_a_full_queue() {
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.set_conflate(true);
    publisher.set_send_hwm(1);
    publisher.bind("inproc://conflate-pub").unwrap();
    let mut sub = ctx.subscriber().unwrap();
    sub.set_recv_hwm(1);
    sub.connect("inproc://conflate-pub").unwrap();
    sub.subscribe("");
    publisher.wait_for_subscribers(1, WAIT).unwrap();
    for i in 0..N {
        assert_eq!(publisher.send(format!("{i}")).unwrap(), 1);
    }
    assert_eq!(publisher.dropped(), 0);
    assert_eq!(
        sub.recv_timeout(WAIT).unwrap(),
        format!("{}", N - 1).as_str()
    );
}

#[test]
fn a_conflating_dealer_conflates_both_ways_and_keeps_multipart_messages_whole() {
    let ctx = Context::new();
    let mut router = ctx.router().unwrap();
    router.set_recv_timeout(Some(WAIT));
    router.bind("inproc://conflate-dealer").unwrap();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_conflate(true);
    dealer.set_recv_timeout(Some(WAIT));
    dealer.connect("inproc://conflate-dealer").unwrap();
    for i in 0..10 {
        dealer.send(["part one", &format!("part two {i}")]).unwrap();
    }
    let got = router.recv().unwrap();
    assert_eq!(got.len(), 3, "identity + both parts");
    assert_eq!(&got[2][..], b"part two 9");
    assert!(matches!(router.recv_timeout(QUIET), Err(Error::TimedOut)));
    let id = got[0].clone();
    for i in 0..10 {
        router
            .send([id.clone(), format!("reply {i}").into()])
            .unwrap();
    }
    assert_eq!(dealer.recv().unwrap(), "reply 9");
    assert!(matches!(dealer.recv_timeout(QUIET), Err(Error::TimedOut)));
}

#[test]
fn conflate_is_refused_on_the_types_it_does_not_apply_to() {
    let ctx = Context::new();
    for kind in [
        SocketType::Req,
        SocketType::Rep,
        SocketType::Router,
        SocketType::Pair,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Stream,
    ] {
        let mut s = ctx.socket(kind).unwrap();
        assert!(
            matches!(s.set_conflate(true), Err(Error::InvalidOption(_))),
            "{kind:?}"
        );
        assert!(!s.conflate());
    }
    for kind in [
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Push,
        SocketType::Pull,
        SocketType::Dealer,
    ] {
        let mut s = ctx.socket(kind).unwrap();
        s.set_conflate(true).unwrap();
        assert!(s.conflate(), "{kind:?}");
    }
}

#[test]
fn a_raised_send_mark_applies_to_a_connected_inproc_peer() {
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_hwm(1);
    pull.bind("inproc://hwm-live").unwrap();
    let mut push = ctx.push().unwrap();
    push.set_send_hwm(1);
    push.connect("inproc://hwm-live").unwrap();
    // The queue holds 1 + 1.
    push.try_send("a").unwrap();
    push.try_send("b").unwrap();
    assert!(matches!(
        push.try_send("c").unwrap_err().error(),
        Error::WouldBlock
    ));
    push.set_send_hwm(3);
    assert_eq!(push.send_hwm(), 3);
    push.try_send("c").unwrap();
    push.try_send("d").unwrap();
    assert!(matches!(
        push.try_send("e").unwrap_err().error(),
        Error::WouldBlock
    ));
    // Lowered: what is queued stays, nothing more goes in until the queue is below it.
    push.set_send_hwm(1);
    assert!(matches!(
        push.try_send("e").unwrap_err().error(),
        Error::WouldBlock
    ));
    for expect in ["a", "b", "c", "d"] {
        assert_eq!(pull.recv_timeout(WAIT).unwrap(), expect);
    }
    push.try_send("e").unwrap();
    // The receiver raises its own mark: the same queue grows.
    pull.set_recv_hwm(10);
    for i in 0..10 {
        push.try_send(format!("{i}")).unwrap();
    }
}

/// Sends until a send that may wait 50 ms gives up; returns how many went.
fn fill(push: &mut ferromq::Push) -> usize {
    push.set_send_timeout(Some(Duration::from_millis(50)));
    let mut sent = 0;
    while push.send("x").is_ok() {
        sent += 1;
        assert!(sent < 10_000_000, "never full");
    }
    sent
}

#[test]
fn raised_marks_apply_to_a_connected_tcp_peer() {
    for t in [Transport::Tcp, Transport::Ipc] {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.set_recv_hwm(1);
        pull.bind(&t.fresh_endpoint("hwm-live-tcp")).unwrap();
        let ep = pull.last_endpoint().unwrap().to_owned();
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(1);
        push.set_send_buffer_size(Some(4096));
        push.connect(&ep).unwrap();
        assert!(eventually(WAIT, || push.peer_count() == 1));
        let before = fill(&mut push);

        // The sender's own queue takes 100 more at once.
        push.set_send_hwm(101);
        for _ in 0..100 {
            push.try_send("x").unwrap();
        }
        // Once the receiver's mark is raised, its connection is read again: room
        // appears on the sender's side without anyone receiving.
        pull.set_recv_hwm(100_000);
        push.set_send_timeout(Some(WAIT));
        for _ in 0..1000 {
            push.send("x").unwrap();
        }
        let total = before + 100 + 1000;
        pull.set_recv_timeout(Some(WAIT));
        for _ in 0..total {
            pull.recv().unwrap();
        }
    }
}

#[test]
fn immediate_on_queues_only_to_live_connections() {
    let ctx = Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_immediate(true).unwrap();
    assert!(dealer.immediate());
    // What IMMEDIATE=1 means: nothing is queued for a connect that is not up.
    dealer.connect("tcp://127.0.0.1:1").unwrap();
    assert!(matches!(
        dealer.try_send("nobody").unwrap_err().error(),
        Error::WouldBlock
    ));
    // And IMMEDIATE=0 (tests/immediate.rs): the connect's queue takes it.
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_immediate(false).unwrap();
    assert!(!dealer.immediate());
    dealer.connect("tcp://127.0.0.1:1").unwrap();
    dealer.try_send("queued").unwrap();
    let mut s = ctx.socket(SocketType::Pub).unwrap();
    s.set_immediate(false).unwrap();
    assert!(!s.immediate());
}
