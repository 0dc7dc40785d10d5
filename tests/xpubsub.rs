//! XPUB and XSUB between ferromq sockets over tcp, ipc and inproc: what an XPUB passes up
//! (deduplicated, verbose, verboser, cancels for departed peers), what an XSUB sends and
//! receives, and a proxy `SUB → [XPUB | XSUB] → PUB` built from a plain forwarding loop,
//! over the typed sockets and over the dynamic `Socket`.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ferromq::{Context, Error, Message, Pub, SocketType, Sub, XPub, XSub};
use util::{eventually, forward, unique, Hop, Transport};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(100);

/// Binds `socket` on a fresh endpoint of `t` and returns the endpoint to connect to.
macro_rules! bind_fresh {
    ($socket:expr, $t:expr) => {{
        $socket.bind(&$t.fresh_endpoint("xpubsub")).unwrap();
        $socket.last_endpoint().unwrap().to_owned()
    }};
}

fn xpub(ctx: &Context) -> XPub {
    let mut s = ctx.xpublisher().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s
}

fn sub(ctx: &Context) -> Sub {
    let mut s = ctx.subscriber().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s
}

fn xsub(ctx: &Context) -> XSub {
    let mut s = ctx.xsubscriber().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s
}

/// Connects a new SUB to `ep` and returns once both ends see the connection, so its next
/// subscription goes straight out.
fn joined_sub(ctx: &Context, ep: &str, xpub: &mut XPub) -> Sub {
    let before = xpub.peer_count();
    let mut s = sub(ctx);
    s.connect(ep).unwrap();
    assert!(eventually(WAIT, || xpub.peer_count() == before + 1
        && s.peer_count() == 1));
    s
}

/// One passed-up message as text: `+topic` for `01 topic`, `-topic` for `00 topic`.
fn describe(m: &Message) -> String {
    match m.frames() {
        [f] if f.first() == Some(&1) => format!("+{}", String::from_utf8_lossy(&f[1..])),
        [f] if f.first() == Some(&0) => format!("-{}", String::from_utf8_lossy(&f[1..])),
        _ => format!("{m:?}"),
    }
}

/// What the XPUB passes up until the marker subscription `+marker` arrives (excluded).
/// Changes from one peer arrive in order, so when `from` subscribes to a fresh marker after
/// doing something, this is everything that something produced.
fn up_until_marker(xpub: &mut XPub, from: &mut Sub) -> Vec<String> {
    let marker = unique("!marker");
    from.subscribe(&marker);
    let mut got = Vec::new();
    loop {
        let m = xpub
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("marker never arrived ({got:?}): {e}"));
        let d = describe(&m);
        if d == format!("+{marker}") {
            return got;
        }
        got.push(d);
    }
}

/// Over `t`, two SUBs on one XPUB (set up by `mode`) subscribe to "news" in turn and then
/// cancel it in turn; `expected` is what the XPUB passes up after each of the four steps.
/// Returns the sockets for more checks.
fn two_peers_on_one_topic(
    t: Transport,
    mode: impl FnOnce(&mut XPub),
    expected: [&[&str]; 4],
) -> (Context, XPub, Sub, Sub) {
    let ctx = Context::new();
    let mut up = xpub(&ctx);
    mode(&mut up);
    let ep = bind_fresh!(up, t);
    let mut a = joined_sub(&ctx, &ep, &mut up);
    let mut b = joined_sub(&ctx, &ep, &mut up);
    a.subscribe("news");
    assert_eq!(
        up_until_marker(&mut up, &mut a),
        expected[0],
        "{t:?} a subscribes"
    );
    b.subscribe("news");
    assert_eq!(
        up_until_marker(&mut up, &mut b),
        expected[1],
        "{t:?} b subscribes"
    );
    a.unsubscribe("news");
    assert_eq!(
        up_until_marker(&mut up, &mut a),
        expected[2],
        "{t:?} a cancels"
    );
    b.unsubscribe("news");
    assert_eq!(
        up_until_marker(&mut up, &mut b),
        expected[3],
        "{t:?} b cancels"
    );
    (ctx, up, a, b)
}

#[test]
fn xpub_passes_up_the_first_subscription_and_the_last_cancel() {
    for t in Transport::ALL {
        // The second peer on "news" and the first cancel are held back.
        let expected: [&[&str]; 4] = [&["+news"], &[], &[], &["-news"]];
        let (_ctx, mut up, _a, mut b) = two_peers_on_one_topic(t, |_| {}, expected);

        // The metadata says which connection a subscription came on.
        b.subscribe("meta");
        let m = up.recv_timeout(WAIT).unwrap();
        assert_eq!(describe(&m), "+meta");
        let meta = m.metadata().expect("metadata");
        assert_eq!(meta.socket_type(), Some(SocketType::Sub), "{t:?}");
    }
}

#[test]
fn verbose_xpub_passes_up_every_subscription_but_only_the_last_cancel() {
    for t in Transport::ALL {
        let expected: [&[&str]; 4] = [&["+news"], &["+news"], &[], &["-news"]];
        two_peers_on_one_topic(t, |up| up.set_verbose(true), expected);
    }
}

#[test]
fn verboser_xpub_passes_up_every_subscription_and_every_cancel() {
    for t in Transport::ALL {
        let expected: [&[&str]; 4] = [&["+news"], &["+news"], &["-news"], &["-news"]];
        let (_ctx, mut up, mut a, mut b) =
            two_peers_on_one_topic(t, |up| up.set_verboser(true), expected);

        // set_verbose turns verboser off, as ZMQ_XPUB_VERBOSE does in libzmq.
        up.set_verbose(true);
        // One peer at a time: what two peers send has no order between them, so b's
        // subscription could otherwise arrive before a's marker.
        a.subscribe("x");
        assert_eq!(up_until_marker(&mut up, &mut a), ["+x"], "{t:?}");
        b.subscribe("x");
        assert_eq!(up_until_marker(&mut up, &mut b), ["+x"], "{t:?}");
        a.unsubscribe("x");
        assert!(up_until_marker(&mut up, &mut a).is_empty(), "{t:?}");
    }
}

/// Receives what the XPUB passes up until nothing comes for a while.
fn drain_up(up: &mut XPub) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(m) = up.recv_timeout(QUIET) {
        got.push(describe(&m));
    }
    got
}

#[test]
fn xpub_cancels_the_topics_nobody_holds_when_a_peer_leaves() {
    for verboser in [false, true] {
        for t in Transport::ALL {
            let ctx = Context::new();
            let mut up = xpub(&ctx);
            up.set_verboser(verboser);
            let ep = bind_fresh!(up, t);
            let mut stays = joined_sub(&ctx, &ep, &mut up);
            let mut leaves = joined_sub(&ctx, &ep, &mut up);
            // One peer at a time: two peers' messages have no order between them, so a
            // marker of one could otherwise overtake the other's.
            stays.subscribe("shared");
            let mut seen = up_until_marker(&mut up, &mut stays);
            leaves.subscribe("shared");
            leaves.subscribe("own.a");
            leaves.subscribe("own.b");
            seen.extend(up_until_marker(&mut up, &mut leaves));
            seen.sort();
            let expected_subs: &[&str] = if verboser {
                &["+own.a", "+own.b", "+shared", "+shared"]
            } else {
                &["+own.a", "+own.b", "+shared"]
            };
            assert_eq!(seen, expected_subs, "{t:?} verboser={verboser}");

            drop(leaves);
            let mut cancels = Vec::new();
            let deadline = Instant::now() + WAIT;
            // The departed peer's marker goes too; it is the only one it held alone
            // besides its own topics.
            let expected: usize = if verboser { 4 } else { 3 };
            while cancels.len() < expected && Instant::now() < deadline {
                if let Ok(m) = up.recv_timeout(QUIET) {
                    cancels.push(describe(&m));
                }
            }
            cancels.extend(drain_up(&mut up));
            cancels.retain(|c| !c.starts_with("-!marker"));
            cancels.sort();
            let expected_cancels: &[&str] = if verboser {
                &["-own.a", "-own.b", "-shared"]
            } else {
                &["-own.a", "-own.b"]
            };
            assert_eq!(cancels, expected_cancels, "{t:?} verboser={verboser}");
            assert_eq!(up.subscriber_count(), 1, "{t:?}");
            assert_eq!(up.send("shared.x").unwrap(), 1);
            assert_eq!(stays.recv_timeout(WAIT).unwrap(), "shared.x");
        }
    }
}

#[test]
fn xpub_sends_like_a_pub() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut up = xpub(&ctx);
        let ep = bind_fresh!(up, t);
        let mut a = joined_sub(&ctx, &ep, &mut up);
        a.subscribe("a.");
        up.wait_for_subscribers(1, WAIT).unwrap();
        assert_eq!(up.subscriber_count(), 1);
        assert_eq!(up.send(["b.1", "x"]).unwrap(), 0);
        assert_eq!(up.try_send(["a.1", "", "multi"]).unwrap(), 1);
        let got = a.recv_timeout(WAIT).unwrap();
        let frames: Vec<&[u8]> = got.iter().map(|f| &f[..]).collect();
        assert_eq!(frames, [&b"a.1"[..], b"", b"multi"], "{t:?}");
        assert_eq!(up.dropped(), 0);
        // wait_for_subscribers took the subscription in, and kept it for recv.
        assert_eq!(describe(&up.try_recv().unwrap()), "+a.");
    }
}

#[test]
fn xpub_passes_up_what_an_xsub_sends_that_is_not_a_subscription() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut up = xpub(&ctx);
        let ep = bind_fresh!(up, t);
        let mut down = xsub(&ctx);
        down.connect(&ep).unwrap();
        assert!(eventually(WAIT, || up.peer_count() == 1 && down.peer_count() == 1));
        assert_eq!(down.send(["hello", "", "upstream"]).unwrap(), 1);
        assert_eq!(down.send("\x01topic").unwrap(), 1);
        let m = up.recv_timeout(WAIT).unwrap();
        let frames: Vec<&[u8]> = m.iter().map(|f| &f[..]).collect();
        assert_eq!(frames, [&b"hello"[..], b"", b"upstream"], "{t:?}");
        assert_eq!(
            m.metadata().unwrap().socket_type(),
            Some(SocketType::XSub),
            "{t:?}"
        );
        assert_eq!(describe(&up.recv_timeout(WAIT).unwrap()), "+topic");
    }
}

#[test]
fn multipart_subscription_frames_count_one_by_one_as_in_libzmq() {
    let ctx = Context::new();
    let mut up = xpub(&ctx);
    up.set_verboser(true);
    up.bind("inproc://xpubsub-multipart").unwrap();
    let mut down = xsub(&ctx);
    down.connect("inproc://xpubsub-multipart").unwrap();
    // A subscription frame, a message frame and a cancel of something never held: the
    // XSUB drops the cancel frame and sends the rest as one message.
    assert_eq!(down.send(["\x01A", "data", "\x00B"]).unwrap(), 1);
    assert_eq!(describe(&up.try_recv().unwrap()), "+A");
    assert_eq!(up.try_recv().unwrap(), "data");
    assert!(matches!(up.try_recv(), Err(Error::WouldBlock)));
    assert_eq!(up.subscriber_count(), 1);
    assert!(down.unsubscribe("A"));
    assert_eq!(describe(&up.try_recv().unwrap()), "-A");
}

#[test]
fn xpub_receive_queue_is_bounded_and_loses_nothing() {
    let ctx = Context::new();
    let mut up = xpub(&ctx);
    up.set_recv_hwm(2);
    up.bind("inproc://xpubsub-bounded").unwrap();
    let mut subs: Vec<Sub> = (0..3)
        .map(|_| {
            let mut s = sub(&ctx);
            s.connect("inproc://xpubsub-bounded").unwrap();
            s
        })
        .collect();
    for (i, s) in subs.iter_mut().enumerate() {
        s.subscribe(format!("t{i}"));
    }
    // Two are queued; the third waits in its pipe and does not take effect yet.
    assert_eq!(up.send("t0").unwrap(), 1);
    assert_eq!(up.send("t2").unwrap(), 0);
    assert_eq!(describe(&up.try_recv().unwrap()), "+t0");
    assert_eq!(describe(&up.try_recv().unwrap()), "+t1");
    assert_eq!(describe(&up.try_recv().unwrap()), "+t2");
    assert!(matches!(up.try_recv(), Err(Error::WouldBlock)));
    assert_eq!(up.send("t2").unwrap(), 1);
    assert_eq!(subs[2].recv_timeout(WAIT).unwrap(), "t2");
}

#[test]
fn xsub_subscribes_a_pub_by_message_and_receives_what_matches() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut publisher: Pub = ctx.publisher().unwrap();
        let ep = bind_fresh!(publisher, t);
        let mut down = xsub(&ctx);
        down.connect(&ep).unwrap();
        assert!(eventually(WAIT, || publisher.peer_count() == 1
            && down.peer_count() == 1));
        assert_eq!(down.send("\x01a.").unwrap(), 1);
        publisher.wait_for_subscribers(1, WAIT).unwrap();
        for m in ["b.1", "a.1", "c.1", "a.2"] {
            publisher.send(m).unwrap();
        }
        assert_eq!(down.recv().unwrap(), "a.1", "{t:?}");
        assert_eq!(down.recv().unwrap(), "a.2", "{t:?}");
        assert!(matches!(down.recv_timeout(QUIET), Err(Error::TimedOut)));

        // Cancel: the PUB stops sending "a.".
        assert!(down.unsubscribe("a."));
        assert!(
            eventually(WAIT, || publisher.subscriber_count() == 0),
            "{t:?}"
        );
        assert_eq!(publisher.send("a.3").unwrap(), 0);
    }
}

#[test]
fn xsub_does_not_filter_messages_in_flight_across_a_cancel() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut up = xpub(&ctx);
        let ep = bind_fresh!(up, t);
        let mut down = xsub(&ctx);
        down.connect(&ep).unwrap();
        assert!(eventually(WAIT, || up.peer_count() == 1 && down.peer_count() == 1));
        down.subscribe("a");
        up.wait_for_subscribers(1, WAIT).unwrap();
        for i in 0..3 {
            assert_eq!(up.send(format!("a{i}")).unwrap(), 1);
        }
        // A SUB would discard these on arrival; an XSUB, like libzmq's, delivers them.
        assert!(down.unsubscribe("a"));
        for i in 0..3 {
            assert_eq!(down.recv().unwrap(), format!("a{i}").as_str(), "{t:?}");
        }
        assert!(eventually(WAIT, || up.subscriber_count() == 0), "{t:?}");
    }
}

#[test]
fn xsub_forwards_every_subscription_and_only_the_last_cancel() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut up = xpub(&ctx);
        up.set_verboser(true); // shows everything that arrives
        let ep = bind_fresh!(up, t);
        let mut down = xsub(&ctx);
        down.connect(&ep).unwrap();
        assert!(eventually(WAIT, || up.peer_count() == 1 && down.peer_count() == 1));
        down.subscribe("x");
        down.subscribe("x");
        assert!(!down.unsubscribe("x"));
        assert!(down.unsubscribe("x"));
        assert!(!down.unsubscribe("x"));
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(describe(&up.recv_timeout(WAIT).unwrap()));
        }
        got.extend(drain_up(&mut up));
        assert_eq!(got, ["+x", "+x", "-x"], "{t:?}");
    }
}

#[test]
fn xsub_sends_its_subscriptions_to_publishers_that_connect_later() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut down = xsub(&ctx);
        let ep = bind_fresh!(down, t);
        down.subscribe("late.");
        let mut up = xpub(&ctx);
        up.connect(&ep).unwrap();
        // The XSUB greets the new publisher at its next call.
        assert!(
            eventually(WAIT, || {
                let _ = down.try_recv();
                up.subscriber_count() == 1
            }),
            "{t:?}"
        );
        assert_eq!(describe(&up.try_recv().unwrap()), "+late.");
        up.send("late.news").unwrap();
        assert_eq!(down.recv().unwrap(), "late.news");
    }
}

/// Drives a `SUB → [XPUB | XSUB] → PUB` chain whose proxy sockets are bound/connected to
/// `front_ep` and `back_ep`: subscriptions flow up, messages flow down, filtered.
fn check_chain(ctx: &Context, t: Transport, front_ep: &str, publisher: &mut Pub) {
    let mut a = sub(ctx);
    a.connect(front_ep).unwrap();
    let mut b = sub(ctx);
    b.connect(front_ep).unwrap();
    a.subscribe("news.");
    b.subscribe("sport.");
    // The subscriptions travel SUB → XPUB → loop → XSUB → PUB.
    let ready = eventually(WAIT, || {
        let _ = a.try_recv();
        let _ = b.try_recv();
        publisher.subscriber_count() == 1
            && publisher.send("news.probe").unwrap() == 1
            && publisher.send("sport.probe").unwrap() == 1
    });
    assert!(ready, "{t:?}: subscriptions never reached the publisher");
    // Probes sent while settling are not checked; drain them.
    while a.recv_timeout(QUIET).is_ok() {}
    while b.recv_timeout(QUIET).is_ok() {}

    for m in ["weather.x", "news.1", "sport.1", "news.2"] {
        publisher.send(m).unwrap();
    }
    assert_eq!(a.recv().unwrap(), "news.1", "{t:?}");
    assert_eq!(a.recv().unwrap(), "news.2", "{t:?}");
    assert_eq!(b.recv().unwrap(), "sport.1", "{t:?}");
    assert!(matches!(a.recv_timeout(QUIET), Err(Error::TimedOut)));
    assert!(matches!(b.recv_timeout(QUIET), Err(Error::TimedOut)));

    // Cancels travel up too: once both leave their topics, the publisher has nobody.
    assert!(a.unsubscribe("news."));
    assert!(b.unsubscribe("sport."));
    assert!(
        eventually(WAIT, || publisher.subscriber_count() == 0),
        "{t:?}: cancels never reached the publisher"
    );
}

/// Over every transport: a PUB, a proxy whose sockets `make` builds (front XPUB, back
/// XSUB) running `forward` in a thread, and SUBs on its front, checked by `check_chain`.
fn proxy_chain<F: Hop, B: Hop>(make: impl Fn(&Context) -> (F, B)) {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut publisher: Pub = ctx.publisher().unwrap();
        let back_ep = bind_fresh!(publisher, t);
        let (mut front, mut back) = make(&ctx);
        let front_ep = front.bind_fresh(t);
        back.connect_to(&back_ep);
        let stop = Arc::new(AtomicBool::new(false));
        let proxy = {
            let stop = stop.clone();
            thread::spawn(move || forward(front, back, &stop))
        };
        check_chain(&ctx, t, &front_ep, &mut publisher);
        stop.store(true, Ordering::Relaxed);
        proxy.join().unwrap();
    }
}

#[test]
fn a_proxy_of_typed_xpub_and_xsub_forwards_subscriptions_and_messages() {
    proxy_chain(|ctx| (ctx.xpublisher().unwrap(), ctx.xsubscriber().unwrap()));
}

#[test]
fn a_proxy_of_dynamic_sockets_forwards_subscriptions_and_messages() {
    proxy_chain(|ctx| {
        (
            ctx.socket(SocketType::XPub).unwrap(),
            ctx.socket(SocketType::XSub).unwrap(),
        )
    });
}

#[test]
fn xpub_and_xsub_refuse_incompatible_inproc_peers() {
    let ctx = Context::new();
    let mut up = ctx.xpublisher().unwrap();
    up.bind("inproc://xpubsub-compat-up").unwrap();
    let mut push = ctx.push().unwrap();
    assert!(matches!(
        push.connect("inproc://xpubsub-compat-up"),
        Err(Error::IncompatiblePeer { .. })
    ));
    let mut down = ctx.xsubscriber().unwrap();
    down.bind("inproc://xpubsub-compat-down").unwrap();
    let mut other = ctx.subscriber().unwrap();
    assert!(matches!(
        other.connect("inproc://xpubsub-compat-down"),
        Err(Error::IncompatiblePeer { .. })
    ));
    let mut publisher = ctx.publisher().unwrap();
    publisher.connect("inproc://xpubsub-compat-down").unwrap();
    let mut xsub_peer = ctx.xsubscriber().unwrap();
    xsub_peer.connect("inproc://xpubsub-compat-up").unwrap();
}

/// What the XPUB of `xpub_agrees_with_a_model_of_libzmq` does, step by step.
#[derive(Clone, Debug)]
enum Op {
    /// Peer `p` sends `01 topic`.
    Subscribe(usize, &'static str),
    /// Peer `p` takes one subscription to `topic` back (the XSUB sends the cancel only
    /// for the last one).
    Cancel(usize, &'static str),
    /// Peer `p` goes away; a new peer takes its place.
    Detach(usize),
}

/// libzmq 4.3.4's rules (xsub.cpp counting, xpub.cpp dedup and verbose flags, mtrie
/// removal on pipe termination), written out plainly.
#[derive(Default)]
struct Model {
    verbose_subs: bool,
    verbose_cancels: bool,
    /// Each XSUB's count per topic.
    counts: Vec<std::collections::BTreeMap<&'static str, usize>>,
    /// The XPUB's set per peer.
    sets: Vec<std::collections::BTreeSet<&'static str>>,
}

impl Model {
    fn holders(&self, topic: &str) -> usize {
        self.sets.iter().filter(|s| s.contains(topic)).count()
    }

    /// What the XPUB passes up for `op`.
    fn apply(&mut self, op: &Op) -> Vec<String> {
        let mut up = Vec::new();
        match *op {
            Op::Subscribe(p, t) => {
                *self.counts[p].entry(t).or_default() += 1;
                let first = !self.sets[p].contains(t) && self.holders(t) == 0;
                self.sets[p].insert(t);
                if first || self.verbose_subs {
                    up.push(format!("+{t}"));
                }
            }
            Op::Cancel(p, t) => {
                let count = self.counts[p].entry(t).or_default();
                let last = *count == 1;
                *count = count.saturating_sub(1);
                // Only the last is sent by the XSUB; the XPUB held it for this peer.
                if last {
                    self.sets[p].remove(t);
                    if self.holders(t) == 0 || self.verbose_cancels {
                        up.push(format!("-{t}"));
                    }
                }
            }
            Op::Detach(p) => {
                let gone = std::mem::take(&mut self.sets[p]);
                self.counts[p].clear();
                for t in gone {
                    if self.holders(t) == 0 || self.verbose_cancels {
                        up.push(format!("-{t}"));
                    }
                }
            }
        }
        up
    }
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let topic = prop::sample::select(vec!["", "a", "ab", "b"]);
    prop_oneof![
        4 => (0..3usize, topic.clone()).prop_map(|(p, t)| Op::Subscribe(p, t)),
        3 => (0..3usize, topic).prop_map(|(p, t)| Op::Cancel(p, t)),
        1 => (0..3usize).prop_map(Op::Detach),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Any sequence of subscriptions, cancels and departures from three XSUB peers makes
    /// the XPUB pass up exactly what libzmq's rules say, in each of the three modes.
    #[test]
    fn xpub_agrees_with_a_model_of_libzmq(
        mode in 0..3u8,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("xpub-model"));
        let mut up = ctx.xpublisher().unwrap();
        match mode {
            1 => up.set_verbose(true),
            2 => up.set_verboser(true),
            _ => {}
        }
        up.bind(&name).unwrap();
        let mut model = Model {
            verbose_subs: mode > 0,
            verbose_cancels: mode == 2,
            counts: vec![Default::default(); 3],
            sets: vec![Default::default(); 3],
        };
        let connect = || {
            let mut peer = ctx.xsubscriber().unwrap();
            peer.connect(&name).unwrap();
            peer
        };
        let mut peers: Vec<XSub> = (0..3).map(|_| connect()).collect();
        for op in &ops {
            let expected = model.apply(op);
            match *op {
                Op::Subscribe(p, t) => peers[p].subscribe(t),
                Op::Cancel(p, t) => {
                    peers[p].unsubscribe(t);
                }
                Op::Detach(p) => {
                    let before = up.peer_count();
                    peers[p] = connect();
                    assert!(eventually(WAIT, || up.peer_count() == before));
                }
            }
            let mut got = Vec::new();
            while let Ok(m) = up.try_recv() {
                got.push(describe(&m));
            }
            proptest::prop_assert_eq!(got, expected, "after {:?} in {:?}", op, ops);
        }
    }
}
