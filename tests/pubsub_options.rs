//! The publish-subscribe options of libzmq 4.3.5 between ferromq sockets, over every
//! transport: XPUB_NODROP, XPUB_MANUAL, XPUB_MANUAL_LAST_VALUE, XPUB_WELCOME_MSG,
//! INVERT_MATCHING, ONLY_FIRST_SUBSCRIBE and TOPICS_COUNT, on the typed sockets and on the
//! dynamic `Socket` (which refuses them on the other types).

mod util;

use std::time::Duration;

use ferromq::{Context, Error, Socket, SocketType, Sub, XPub};
use util::{eventually, Transport};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(100);

fn bind_fresh(s: &mut impl Bindable, t: Transport) -> String {
    s.bind_to(&t.fresh_endpoint("pubsub-opts"))
}

/// What the tests need of every socket type: bind and report the endpoint.
trait Bindable {
    fn bind_to(&mut self, ep: &str) -> String;
}

macro_rules! bindable {
    ($($ty:ty),*) => {$(
        impl Bindable for $ty {
            fn bind_to(&mut self, ep: &str) -> String {
                self.bind(ep).unwrap();
                self.last_endpoint().unwrap().to_owned()
            }
        }
    )*};
}
bindable!(ferromq::Pub, XPub, Sub, ferromq::XSub, Socket);

fn sub(ctx: &Context, ep: &str, topic: &str) -> Sub {
    let mut s = ctx.subscriber().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s.connect(ep).unwrap();
    s.subscribe(topic);
    s
}

#[test]
fn nodrop_waits_for_room_instead_of_dropping_on_every_transport() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut publisher = ctx.publisher().unwrap();
        publisher.set_nodrop(true);
        assert!(publisher.nodrop());
        publisher.set_send_hwm(2);
        let ep = bind_fresh(&mut publisher, t);
        let mut slow = ctx.subscriber().unwrap();
        slow.set_recv_hwm(2);
        slow.set_recv_timeout(Some(WAIT));
        slow.connect(&ep).unwrap();
        slow.subscribe("");
        publisher.wait_for_subscribers(1, WAIT).unwrap();

        // Fill every queue on the way (pipes, and over tcp/ipc the kernel buffers, which
        // the I/O thread keeps draining into) until a send that may wait a little gives up:
        // nothing is dropped on the way, and a refused message comes back.
        publisher.set_send_timeout(Some(Duration::from_millis(50)));
        let mut sent = 0u32;
        loop {
            match publisher.try_send(format!("m{sent}")) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    sent += 1;
                    continue;
                }
                Err(e) => {
                    assert!(matches!(e.error(), Error::WouldBlock), "{t:?}: {e:?}");
                    assert_eq!(e.into_message(), format!("m{sent}").as_str());
                }
            }
            match publisher.send(format!("m{sent}")) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    sent += 1;
                }
                Err(e) => {
                    assert!(matches!(e.error(), Error::TimedOut), "{t:?}: {e:?}");
                    break;
                }
            }
            assert!(sent < 1_000_000, "{t:?}: never refused");
        }
        assert_eq!(publisher.dropped(), 0);

        // Once the subscriber reads, a waiting send goes through; every message arrives
        // in order.
        publisher.set_send_timeout(Some(WAIT));
        let reader = std::thread::spawn(move || {
            for i in 0..=sent {
                assert_eq!(slow.recv().unwrap(), format!("m{i}").as_str());
            }
            slow
        });
        assert_eq!(publisher.send(format!("m{sent}")).unwrap(), 1);
        reader.join().unwrap();
        assert_eq!(publisher.dropped(), 0);
    }
}

#[test]
fn without_nodrop_a_full_subscriber_loses_its_copy() {
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.set_send_hwm(1);
    let ep = bind_fresh(&mut publisher, Transport::Inproc);
    let mut slow = ctx.subscriber().unwrap();
    slow.set_recv_hwm(1);
    slow.connect(&ep).unwrap();
    slow.subscribe("");
    publisher.wait_for_subscribers(1, WAIT).unwrap();
    for i in 0..5 {
        publisher.try_send(format!("{i}")).unwrap();
    }
    assert_eq!(publisher.dropped(), 3);
}

#[test]
fn manual_mode_passes_every_change_up_and_applies_only_what_the_application_says() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut xpub = ctx.xpublisher().unwrap();
        xpub.set_manual(true);
        assert!(xpub.manual() && !xpub.manual_last_value());
        xpub.set_recv_timeout(Some(WAIT));
        let ep = bind_fresh(&mut xpub, t);

        let mut a = sub(&ctx, &ep, "A");
        assert_eq!(xpub.recv().unwrap(), "\x01A");
        let mut b = sub(&ctx, &ep, "A");
        // A repeat of a topic another peer holds is passed up too: nothing is deduplicated.
        assert_eq!(xpub.recv().unwrap(), "\x01A");
        // Applied for `b` only (the last change came from it), and under another topic.
        assert!(xpub.subscribe("A").unwrap());
        assert_eq!(xpub.topics_count(), 1);
        assert_eq!(xpub.send("A1").unwrap(), 1);
        assert_eq!(b.recv().unwrap(), "A1");
        assert!(matches!(a.recv_timeout(QUIET), Err(Error::TimedOut)));

        // `b` cancels: passed up; the application takes it back from `b`.
        b.unsubscribe("A");
        assert_eq!(xpub.recv().unwrap(), "\x00A");
        assert!(xpub.unsubscribe("A").unwrap());
        assert_eq!(xpub.send("A2").unwrap(), 0);
        assert_eq!(xpub.topics_count(), 0);

        // `a` leaves: a cancel for what it had asked for, with no peer to apply to.
        drop(a);
        assert_eq!(xpub.recv().unwrap(), "\x00A");
        assert!(!xpub.subscribe("A").unwrap());
        drop(b);
    }
}

#[test]
fn xpub_subscribe_is_refused_outside_manual_mode() {
    let ctx = Context::new();
    let mut xpub = ctx.xpublisher().unwrap();
    assert!(matches!(xpub.subscribe("x"), Err(Error::InvalidOption(_))));
    assert!(matches!(
        xpub.unsubscribe("x"),
        Err(Error::InvalidOption(_))
    ));
    let mut dynamic = ctx.socket(SocketType::XPub).unwrap();
    assert!(matches!(
        dynamic.subscribe("x"),
        Err(Error::InvalidOption(_))
    ));
    dynamic.set_xpub_manual(true).unwrap();
    dynamic.subscribe("x").unwrap(); // nobody to apply it to: nothing happens
    assert!(!dynamic.unsubscribe("x").unwrap());
}

#[test]
fn manual_last_value_sends_the_cached_value_to_the_new_subscriber_only() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut xpub = ctx.xpublisher().unwrap();
        xpub.set_manual_last_value(true);
        assert!(xpub.manual() && xpub.manual_last_value());
        xpub.set_recv_timeout(Some(WAIT));
        let ep = bind_fresh(&mut xpub, t);

        let mut first = sub(&ctx, &ep, "price.");
        assert_eq!(xpub.recv().unwrap(), "\x01price.");
        xpub.subscribe("price.").unwrap();
        assert_eq!(xpub.send("price. 1").unwrap(), 1);

        let mut second = sub(&ctx, &ep, "price.");
        assert_eq!(xpub.recv().unwrap(), "\x01price.");
        xpub.subscribe("price.").unwrap();
        assert_eq!(
            xpub.send("price. 1").unwrap(),
            1,
            "{t:?}: to the newcomer only"
        );
        assert_eq!(xpub.send("price. 2").unwrap(), 2, "{t:?}: then to everyone");

        assert_eq!(first.recv().unwrap(), "price. 1");
        assert_eq!(first.recv().unwrap(), "price. 2");
        assert!(matches!(first.recv_timeout(QUIET), Err(Error::TimedOut)));
        assert_eq!(second.recv().unwrap(), "price. 1");
        assert_eq!(second.recv().unwrap(), "price. 2");

        xpub.set_manual_last_value(false);
        assert!(!xpub.manual() && !xpub.manual_last_value());
    }
}

#[test]
fn welcome_message_reaches_each_subscriber_that_subscribes_to_it() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut xpub = ctx.xpublisher().unwrap();
        xpub.set_welcome_msg(Some("WELCOME".into()));
        assert_eq!(xpub.welcome_msg().map(|w| &w[..]), Some(&b"WELCOME"[..]));
        xpub.set_recv_timeout(Some(WAIT));
        let ep = bind_fresh(&mut xpub, t);

        let mut greeted = sub(&ctx, &ep, "WELCOME");
        assert_eq!(xpub.recv().unwrap(), "\x01WELCOME");
        assert_eq!(greeted.recv().unwrap(), "WELCOME");

        // Written to every peer; one that did not subscribe to it filters it out.
        let mut other = sub(&ctx, &ep, "news");
        assert_eq!(xpub.recv().unwrap(), "\x01news");
        assert_eq!(xpub.send("news 1").unwrap(), 1);
        assert_eq!(other.recv().unwrap(), "news 1");

        // An XSUB does not filter: it sees the welcome first.
        let mut xsub = ctx.xsubscriber().unwrap();
        xsub.connect(&ep).unwrap();
        xsub.subscribe("news");
        assert!(eventually(WAIT, || xpub.peer_count() == 3));
        let _ = xpub.try_recv();
        assert_eq!(xsub.recv_timeout(WAIT).unwrap(), "WELCOME");

        // An empty welcome is none.
        xpub.set_welcome_msg(Some(bytes::Bytes::new()));
        assert_eq!(xpub.welcome_msg(), None);
    }
}

#[test]
fn a_pub_takes_the_welcome_message_and_only_first_subscribe_as_libzmqs_does() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut publisher = ctx.publisher().unwrap();
        publisher.set_welcome_msg(Some("WELCOME".into()));
        assert_eq!(
            publisher.welcome_msg().map(|w| &w[..]),
            Some(&b"WELCOME"[..])
        );
        publisher.set_only_first_subscribe(true);
        assert!(publisher.only_first_subscribe());
        let ep = bind_fresh(&mut publisher, t);

        // The welcome goes ahead of anything published, to a subscriber that wants it.
        let mut greeted = sub(&ctx, &ep, "WELCOME");
        greeted.subscribe("news");
        publisher.wait_for_subscribers(1, WAIT).unwrap();
        assert_eq!(publisher.send("news 1").unwrap(), 1);
        assert_eq!(greeted.recv().unwrap(), "WELCOME");
        assert_eq!(greeted.recv().unwrap(), "news 1");

        // Only the first frame decides: a data message's later frames change nothing (the
        // XSUB must not read them as changes either, or it sends them as SUBSCRIBEs).
        let mut xsub = ctx.xsubscriber().unwrap();
        xsub.set_only_first_subscribe(true);
        xsub.connect(&ep).unwrap();
        xsub.send(["data", "\x01hidden"]).unwrap();
        xsub.subscribe("seen");
        publisher.wait_for_subscribers(2, WAIT).unwrap();
        assert_eq!(publisher.topics_count(), 3, "{t:?}"); // WELCOME, news, seen
        assert_eq!(xsub.recv_timeout(WAIT).unwrap(), "WELCOME");
        assert_eq!(publisher.send("hidden").unwrap(), 0);
    }
}

#[test]
fn invert_matching_delivers_what_does_not_match_on_every_transport() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut publisher = ctx.publisher().unwrap();
        publisher.set_invert_matching(true);
        assert!(publisher.invert_matching());
        let ep = bind_fresh(&mut publisher, t);
        let mut s = ctx.subscriber().unwrap();
        s.set_invert_matching(true);
        s.set_recv_timeout(Some(WAIT));
        s.connect(&ep).unwrap();
        s.subscribe("debug");
        publisher.wait_for_subscribers(1, WAIT).unwrap();
        assert_eq!(publisher.send("debug 1").unwrap(), 0);
        assert_eq!(publisher.send("info 1").unwrap(), 1);
        assert_eq!(s.recv().unwrap(), "info 1");
        assert!(matches!(s.recv_timeout(QUIET), Err(Error::TimedOut)));
    }
}

#[test]
fn an_inverting_subscriber_drops_what_matches_even_when_sent() {
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    let ep = bind_fresh(&mut publisher, Transport::Inproc);
    let mut s = ctx.subscriber().unwrap();
    s.set_invert_matching(true);
    s.connect(&ep).unwrap();
    s.subscribe("");
    s.subscribe("x");
    publisher.wait_for_subscribers(1, WAIT).unwrap();
    // The publisher does not invert: it sends everything (the empty subscription), and
    // the subscriber keeps nothing, since everything matches "".
    publisher.send("x1").unwrap();
    publisher.send("y1").unwrap();
    assert!(matches!(s.recv_timeout(QUIET), Err(Error::TimedOut)));
}

#[test]
fn an_inverting_publisher_sends_everything_to_a_peer_with_no_subscription() {
    let ctx = Context::new();
    let mut xpub = ctx.xpublisher().unwrap();
    xpub.set_invert_matching(true);
    let ep = bind_fresh(&mut xpub, Transport::Inproc);
    let mut xsub = ctx.xsubscriber().unwrap();
    xsub.connect(&ep).unwrap();
    assert!(eventually(WAIT, || xpub.peer_count() == 1));
    assert_eq!(xpub.send("anything").unwrap(), 1);
    assert_eq!(xsub.recv_timeout(WAIT).unwrap(), "anything");
}

#[test]
fn only_first_subscribe_on_xpub_and_xsub() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut xpub = ctx.xpublisher().unwrap();
        xpub.set_only_first_subscribe(true);
        assert!(xpub.only_first_subscribe());
        xpub.set_recv_timeout(Some(WAIT));
        let ep = bind_fresh(&mut xpub, t);
        let mut xsub = ctx.xsubscriber().unwrap();
        xsub.set_only_first_subscribe(true);
        xsub.connect(&ep).unwrap();
        assert!(eventually(WAIT, || xpub.peer_count() == 1 && xsub.peer_count() == 1));

        // Data first: every frame is data, on both sides.
        xsub.send(["payload", "\x01hidden", "\x00hidden"]).unwrap();
        let up = xpub.recv().unwrap();
        assert_eq!(up.len(), 3, "{t:?}");
        assert_eq!(&up[1][..], b"\x01hidden");
        assert_eq!(xsub.topics_count(), 0);
        assert_eq!(xpub.topics_count(), 0);

        // A change first: the later frames are read as changes too, as libzmq does.
        xsub.send(["\x01a", "\x01b"]).unwrap();
        assert_eq!(xpub.recv().unwrap(), "\x01a");
        assert_eq!(xpub.recv().unwrap(), "\x01b");
        assert_eq!(xsub.topics_count(), 2);
        assert_eq!(xpub.topics_count(), 2);
    }
}

#[test]
fn without_only_first_every_frame_is_a_change() {
    let ctx = Context::new();
    let mut xpub = ctx.xpublisher().unwrap();
    xpub.set_recv_timeout(Some(WAIT));
    let ep = bind_fresh(&mut xpub, Transport::Inproc);
    let mut xsub = ctx.xsubscriber().unwrap();
    xsub.connect(&ep).unwrap();
    xsub.send(["payload", "\x01seen"]).unwrap();
    assert_eq!(xpub.recv().unwrap(), "\x01seen");
    assert_eq!(xpub.recv().unwrap(), "payload");
    assert_eq!(xsub.topics_count(), 1);
}

#[test]
fn topics_count_counts_distinct_topics_on_every_side() {
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    let ep = bind_fresh(&mut publisher, Transport::Tcp);
    let mut a = sub(&ctx, &ep, "x");
    a.subscribe("x");
    a.subscribe("y");
    let b = sub(&ctx, &ep, "y");
    assert_eq!(a.topics_count(), 2);
    assert_eq!(b.topics_count(), 1);
    assert!(eventually(WAIT, || publisher.topics_count() == 2));
    a.unsubscribe("y");
    drop(b);
    assert!(eventually(WAIT, || publisher.topics_count() == 1));

    let mut dynamic = ctx.socket(SocketType::Sub).unwrap();
    dynamic.subscribe("q").unwrap();
    assert_eq!(dynamic.topics_count().unwrap(), 1);
}

#[test]
fn dynamic_socket_refuses_the_options_on_other_types_and_reads_them_back() {
    let ctx = Context::new();
    for kind in [
        SocketType::Push,
        SocketType::Pull,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pair,
        SocketType::Stream,
    ] {
        let mut s = ctx.socket(kind).unwrap();
        let refused = |r: Result<(), Error>| matches!(r, Err(Error::InvalidOption(_)));
        assert!(refused(s.set_xpub_nodrop(true)), "{kind:?}");
        assert!(refused(s.set_xpub_manual(true)), "{kind:?}");
        assert!(refused(s.set_xpub_manual_last_value(true)), "{kind:?}");
        assert!(refused(s.set_xpub_welcome_msg(None)), "{kind:?}");
        assert!(refused(s.set_invert_matching(true)), "{kind:?}");
        assert!(refused(s.set_only_first_subscribe(true)), "{kind:?}");
        assert!(s.topics_count().is_err(), "{kind:?}");
        assert!(s.invert_matching().is_err(), "{kind:?}");
    }
    let mut sub = ctx.socket(SocketType::Sub).unwrap();
    assert!(sub.set_xpub_nodrop(true).is_err());
    assert!(sub.set_only_first_subscribe(true).is_err());
    let mut publisher = ctx.socket(SocketType::Pub).unwrap();
    // libzmq's PUB takes XPUB_MANUAL and holds what it cannot pass up; ours refuses it.
    assert!(publisher.set_xpub_manual(true).is_err());
    assert!(publisher.set_xpub_manual_last_value(true).is_err());
    // The welcome message and ONLY_FIRST_SUBSCRIBE work on a PUB, as in libzmq.
    publisher.set_xpub_welcome_msg(Some("w".into())).unwrap();
    assert_eq!(
        publisher.xpub_welcome_msg().unwrap().as_deref(),
        Some(&b"w"[..])
    );
    publisher.set_only_first_subscribe(true).unwrap();
    assert!(publisher.only_first_subscribe().unwrap());
    publisher.set_xpub_nodrop(true).unwrap();
    assert!(publisher.xpub_nodrop().unwrap());

    let mut xpub = ctx.socket(SocketType::XPub).unwrap();
    xpub.set_xpub_manual_last_value(true).unwrap();
    assert_eq!(xpub.xpub_manual().unwrap(), (true, true));
    xpub.set_xpub_manual(false).unwrap();
    assert_eq!(xpub.xpub_manual().unwrap(), (false, false));
    xpub.set_xpub_welcome_msg(Some("hi".into())).unwrap();
    assert_eq!(
        xpub.xpub_welcome_msg().unwrap().as_deref(),
        Some(&b"hi"[..])
    );
    xpub.set_only_first_subscribe(true).unwrap();
    assert!(xpub.only_first_subscribe().unwrap());
    xpub.set_invert_matching(true).unwrap();
    assert!(xpub.invert_matching().unwrap());
}

#[test]
fn dynamic_xpub_welcome_and_manual_work_like_the_typed_one() {
    let ctx = Context::new();
    let mut xpub = ctx.socket(SocketType::XPub).unwrap();
    xpub.set_xpub_manual(true).unwrap();
    xpub.set_xpub_welcome_msg(Some("hello".into())).unwrap();
    let ep = bind_fresh(&mut xpub, Transport::Tcp);
    let mut s = sub(&ctx, &ep, "");
    assert_eq!(xpub.recv_timeout(WAIT).unwrap(), "\x01");
    assert_eq!(s.recv().unwrap(), "hello");
    xpub.subscribe("").unwrap();
    xpub.send("data").unwrap();
    assert_eq!(s.recv().unwrap(), "data");

    // A dynamic PUB writes its welcome message too.
    let mut publisher = ctx.socket(SocketType::Pub).unwrap();
    publisher.set_xpub_welcome_msg(Some("hi".into())).unwrap();
    let ep = bind_fresh(&mut publisher, Transport::Tcp);
    let mut s = sub(&ctx, &ep, "");
    assert!(eventually(WAIT, || publisher.peer_count() == 1));
    publisher.send("after").unwrap();
    assert_eq!(s.recv().unwrap(), "hi");
}
