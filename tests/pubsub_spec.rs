//! Drives PUB, SUB, XPUB and XSUB through every row of the tables in `patterns/pubsub.md`.
//!
//! Each state is built for real over inproc with tiny high-water marks; each event is an
//! operation on the real sockets (or on a real peer socket); the next state is then checked
//! by probing the sockets end to end. A row naming a state or event this harness does not
//! know fails, and so does a (state, event) pair the harness knows that the table does not
//! list.

mod util;

use std::thread;
use std::time::Duration;

use ferromq::{Context, Error, Message, Pub, SendError, Sub, XPub, XSub};
use util::spec::{all_pairs, check_compatible_peers, outcome, run_rows, table};
use util::{eventually, unique};

const SHORT: Duration = Duration::from_millis(60);
const LONG: Duration = Duration::from_secs(10);
const TOPIC: &str = "t";

/// A publishing socket as the harnesses use it: PUB, or XPUB (which also passes up what its
/// peers send, seen through `passed_up`).
trait Publisher: Send + 'static {
    /// A new one connected to `name`.
    fn connected(ctx: &Context, name: &str) -> Self;
    fn send_counted(&mut self, msg: Message) -> Result<usize, SendError>;
    fn try_send_counted(&mut self, msg: Message) -> Result<usize, SendError>;
    fn dropped(&self) -> u64;
    fn subscriber_count(&mut self) -> usize;
    fn wait_for_subscribers(&mut self, n: usize, timeout: Duration) -> ferromq::Result<()>;
    /// What the socket passed up since the last look (`none` for a PUB).
    fn passed_up(&mut self) -> String;
}

/// The `Publisher` methods PUB and XPUB have under the same names.
macro_rules! publisher_methods {
    ($ty:ident) => {
        fn send_counted(&mut self, msg: Message) -> Result<usize, SendError> {
            $ty::send(self, msg)
        }
        fn try_send_counted(&mut self, msg: Message) -> Result<usize, SendError> {
            $ty::try_send(self, msg)
        }
        fn dropped(&self) -> u64 {
            $ty::dropped(self)
        }
        fn subscriber_count(&mut self) -> usize {
            $ty::subscriber_count(self)
        }
        fn wait_for_subscribers(&mut self, n: usize, timeout: Duration) -> ferromq::Result<()> {
            $ty::wait_for_subscribers(self, n, timeout)
        }
    };
}

impl Publisher for Pub {
    fn connected(ctx: &Context, name: &str) -> Self {
        let mut publisher = ctx.publisher().unwrap();
        publisher.connect(name).unwrap();
        publisher
    }
    publisher_methods!(Pub);
    fn passed_up(&mut self) -> String {
        "none".into()
    }
}

impl Publisher for XPub {
    /// Verboser, so that it passes up everything its peer sends.
    fn connected(ctx: &Context, name: &str) -> Self {
        let mut publisher = ctx.xpublisher().unwrap();
        publisher.set_verboser(true);
        publisher.connect(name).unwrap();
        publisher
    }
    publisher_methods!(XPub);
    fn passed_up(&mut self) -> String {
        passed_up(self)
    }
}

/// Sends on `topic` and describes what happened as the tables do: `ok(n)`, plus
/// `+n dropped` when the drop counter moved.
fn publish(publisher: &mut impl Publisher, topic: &'static str) -> String {
    let before = publisher.dropped();
    let r = publisher.send_counted(Message::from([topic, "payload"]));
    counted(publisher, before, r)
}

/// Publishes `[t, "1"]` to `[t, "n"]`; `ok` when each was queued for one peer.
fn publish_numbered(publisher: &mut impl Publisher, n: u32) -> String {
    for i in 1..=n {
        let sent = publisher.send_counted(Message::from([TOPIC.to_owned(), i.to_string()]));
        assert_eq!(sent.map_err(|e| e.to_string()), Ok(1), "message {i}");
    }
    "ok".into()
}

/// As `publish`, without waiting.
fn try_publish(publisher: &mut impl Publisher, topic: &'static str) -> String {
    let before = publisher.dropped();
    let r = publisher.try_send_counted(Message::from([topic, "payload"]));
    counted(publisher, before, r)
}

/// A send's result as the tables write it: `ok(n)` (`+n dropped`), or the error (a send
/// that waits at the mark, with `XPUB_NODROP`).
fn counted(publisher: &mut impl Publisher, before: u64, r: Result<usize, SendError>) -> String {
    let queued = match r {
        Ok(queued) => queued,
        Err(e) => return outcome(Err::<(), _>(e.into_parts().0)).into(),
    };
    match publisher.dropped() - before {
        0 => format!("ok({queued})"),
        d => format!("ok({queued}) +{d} dropped"),
    }
}

/// With `XPUB_NODROP`: publishes until a send would block; nothing is dropped.
fn fill_nodrop(publisher: &mut impl Publisher) {
    let mut sent = 0;
    while publisher
        .try_send_counted(Message::from([TOPIC, "fill"]))
        .is_ok()
    {
        sent += 1;
        assert!(sent < 100, "high-water mark never reached");
    }
    assert_eq!(publisher.dropped(), 0);
}

/// Publishes until a copy is dropped: the subscriber's queue is then at its mark.
fn fill(publisher: &mut impl Publisher) {
    let before = publisher.dropped();
    let mut sent = 0;
    while publisher.dropped() == before {
        publisher
            .send_counted(Message::from([TOPIC, "fill"]))
            .unwrap();
        sent += 1;
        assert!(sent < 100, "high-water mark never reached");
    }
}

struct PubWorld {
    ctx: Context,
    name: String,
    publisher: Pub,
    /// The peers, each with whether it subscribed to `TOPIC`.
    subs: Vec<(Sub, bool)>,
}

impl PubWorld {
    fn new(state: &str) -> PubWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("pub-spec"));
        let mut publisher = ctx.publisher().unwrap();
        publisher.set_send_hwm(1);
        publisher.bind(&name).unwrap();
        let mut w = PubWorld {
            ctx,
            name,
            publisher,
            subs: Vec::new(),
        };
        match state {
            "no-peers" => {}
            "no-subscribers" => w.attach(false),
            "subscribed" => w.attach(true),
            "peer-full" => {
                w.attach(true);
                fill(&mut w.publisher);
            }
            "nodrop-full" => {
                w.publisher.set_nodrop(true);
                w.publisher.set_send_timeout(Some(SHORT));
                w.attach(true);
                fill_nodrop(&mut w.publisher);
            }
            "inverted" => {
                w.publisher.set_invert_matching(true);
                w.attach(true);
                w.subs[0].0.set_invert_matching(true);
            }
            other => panic!("PUB harness does not know state `{other}`"),
        }
        w
    }

    fn new_sub(ctx: &Context, name: &str, subscribed: bool) -> Sub {
        let mut sub = ctx.subscriber().unwrap();
        sub.set_recv_hwm(1);
        sub.set_recv_timeout(Some(LONG));
        sub.connect(name).unwrap();
        if subscribed {
            sub.subscribe(TOPIC);
        }
        sub
    }

    fn attach(&mut self, subscribed: bool) {
        let before = self.publisher.peer_count();
        let subscribers = self.publisher.subscriber_count();
        let sub = Self::new_sub(&self.ctx, &self.name, subscribed);
        self.subs.push((sub, subscribed));
        assert!(eventually(LONG, || self.publisher.peer_count() == before + 1));
        let expected = subscribers + usize::from(subscribed);
        assert_eq!(self.publisher.subscriber_count(), expected);
    }

    /// The first peer that subscribed to `TOPIC`.
    fn subscribed_peer(&mut self) -> &mut Sub {
        self.subs
            .iter_mut()
            .find_map(|(sub, subscribed)| subscribed.then_some(sub))
            .expect("a subscribed peer")
    }

    fn event(&mut self, event: &str) -> String {
        match event {
            "send" => publish(&mut self.publisher, TOPIC),
            "try-send" => try_publish(&mut self.publisher, TOPIC),
            "send-other-topic" => publish(&mut self.publisher, "u"),
            "wait-for-subscribers" => outcome(self.publisher.wait_for_subscribers(1, SHORT)).into(),
            "peer-attaches" => {
                self.attach(false);
                "ok".into()
            }
            "peer-subscribes" => {
                self.attach(true);
                "ok".into()
            }
            "peer-subscribes-again" => {
                self.subscribed_peer().subscribe(TOPIC);
                "ok".into()
            }
            "peer-cancels" => {
                assert!(self.subscribed_peer().unsubscribe(TOPIC));
                "ok".into()
            }
            "peer-fills" => {
                fill(&mut self.publisher);
                "ok".into()
            }
            "peer-drains" => outcome(self.subscribed_peer().recv()).into(),
            "peer-detaches" => {
                self.subs.clear();
                "ok".into()
            }
            "wait-then-peer-subscribes" => {
                let (ctx, name) = (self.ctx.clone(), self.name.clone());
                let late = thread::spawn(move || {
                    thread::sleep(SHORT);
                    Self::new_sub(&ctx, &name, true)
                });
                let r = outcome(self.publisher.wait_for_subscribers(1, LONG)).into();
                self.subs.push((late.join().unwrap(), true));
                r
            }
            other => panic!("PUB harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str) {
        let subscribers = self.publisher.subscriber_count();
        let peers = self.publisher.peer_count();
        match state {
            "no-peers" => {
                assert_eq!(peers, 0);
                assert_eq!(subscribers, 0);
                assert_eq!(publish(&mut self.publisher, TOPIC), "ok(0)");
            }
            "no-subscribers" => {
                assert!(peers > 0);
                assert_eq!(subscribers, 0);
                assert_eq!(publish(&mut self.publisher, TOPIC), "ok(0)");
            }
            "subscribed" => {
                assert!(subscribers > 0);
                assert_eq!(
                    publish(&mut self.publisher, TOPIC),
                    format!("ok({subscribers})")
                );
                // End to end: the subscriber gets what was just published.
                let got = self.subscribed_peer().recv();
                assert_eq!(outcome(got), "ok");
            }
            "peer-full" => {
                assert!(subscribers > 0);
                let r = publish(&mut self.publisher, TOPIC);
                assert!(r.ends_with("+1 dropped"), "{r}");
            }
            "nodrop-full" => {
                assert!(subscribers > 0);
                assert_eq!(try_publish(&mut self.publisher, TOPIC), "would-block");
                assert_eq!(self.publisher.dropped(), 0);
            }
            "inverted" => {
                assert!(subscribers > 0);
                assert_eq!(publish(&mut self.publisher, TOPIC), "ok(0)");
                assert_eq!(publish(&mut self.publisher, "u"), "ok(1)");
                // End to end: the inverted subscriber keeps what it did not subscribe to.
                let got = self.subscribed_peer().recv().unwrap();
                assert_eq!(&got[0][..], b"u");
            }
            other => panic!("PUB harness does not know state `{other}`"),
        }
    }
}

/// A subscribing socket as the SUB and XSUB harness uses it. An XSUB also sends, which
/// `event` covers.
trait Subscriber: Sized {
    /// The publishers its harness connects: PUB for SUB, a verboser XPUB for XSUB.
    type Peer: Publisher;
    fn make(ctx: &Context) -> Self;
    fn bind(&mut self, name: &str);
    fn subscribe(&mut self, topic: &str);
    fn unsubscribe(&mut self, topic: &str) -> bool;
    fn recv_timeout(&mut self, timeout: Duration) -> ferromq::Result<Message>;
    fn try_recv(&mut self) -> ferromq::Result<Message>;
    /// `set_invert_matching(true)`.
    fn invert(&mut self);
    /// `set_conflate(true)`, before any peer connects.
    fn conflate(&mut self);
    /// The events only this type has; `None` for any other.
    fn event(_w: &mut SubWorld<Self>, _event: &str) -> Option<String> {
        None
    }
}

impl Subscriber for Sub {
    type Peer = Pub;
    fn make(ctx: &Context) -> Self {
        ctx.subscriber().unwrap()
    }
    fn bind(&mut self, name: &str) {
        Sub::bind(self, name).unwrap();
    }
    fn subscribe(&mut self, topic: &str) {
        Sub::subscribe(self, topic);
    }
    fn unsubscribe(&mut self, topic: &str) -> bool {
        Sub::unsubscribe(self, topic)
    }
    fn recv_timeout(&mut self, timeout: Duration) -> ferromq::Result<Message> {
        Sub::recv_timeout(self, timeout)
    }
    fn try_recv(&mut self) -> ferromq::Result<Message> {
        Sub::try_recv(self)
    }
    fn invert(&mut self) {
        Sub::set_invert_matching(self, true);
    }
    fn conflate(&mut self) {
        Sub::set_conflate(self, true);
    }
    fn event(w: &mut SubWorld<Self>, event: &str) -> Option<String> {
        match event {
            "subscribe" => w.sub.subscribe(TOPIC),
            "unsubscribe" => return Some(w.sub.unsubscribe(TOPIC).to_string()),
            "subscribe-seen-upstream" | "unsubscribe-seen-upstream" => {
                // A verboser XPUB connects and is greeted with the set; then the call, and
                // what the XPUB was sent for it.
                let mut xpub = XPub::connected(&w.ctx, &w.name);
                assert_eq!(outcome(w.sub.try_recv()), "would-block");
                let held = xpub.passed_up();
                assert!(held == "none" || held == "sub(t)", "greeting {held}");
                if event == "subscribe-seen-upstream" {
                    w.sub.subscribe(TOPIC);
                } else {
                    w.sub.unsubscribe(TOPIC);
                }
                return Some(xpub.passed_up());
            }
            _ => return None,
        }
        Some("ok".into())
    }
}

impl Subscriber for XSub {
    type Peer = XPub;
    fn make(ctx: &Context) -> Self {
        ctx.xsubscriber().unwrap()
    }
    fn bind(&mut self, name: &str) {
        XSub::bind(self, name).unwrap();
    }
    /// As the application of an XSUB does it: by sending `01 t`.
    fn subscribe(&mut self, topic: &str) {
        assert_eq!(self.send(format!("\x01{topic}")).unwrap(), 1);
    }
    fn unsubscribe(&mut self, topic: &str) -> bool {
        self.send(format!("\x00{topic}")).unwrap() > 0
    }
    fn recv_timeout(&mut self, timeout: Duration) -> ferromq::Result<Message> {
        XSub::recv_timeout(self, timeout)
    }
    fn try_recv(&mut self) -> ferromq::Result<Message> {
        XSub::try_recv(self)
    }
    fn invert(&mut self) {
        XSub::set_invert_matching(self, true);
    }
    fn conflate(&mut self) {
        panic!("an XSUB does not conflate (libzmq's neither): no XSUB row may use it");
    }
    /// Sends from the XSUB; checks that each publisher passes up exactly `expect` when it
    /// went out (they are verboser).
    fn event(w: &mut SubWorld<Self>, event: &str) -> Option<String> {
        let (msg, expect) = match event {
            "send-subscribe" => ("\x01t", "sub(t)"),
            "send-cancel" => ("\x00t", "cancel(t)"),
            "send-message" => ("hello", "msg"),
            _ => return None,
        };
        let n = w.sub.send(msg).unwrap();
        for publisher in &mut w.pubs {
            let got = publisher.passed_up();
            assert_eq!(got, if n > 0 { expect } else { "none" });
        }
        Some(format!("ok({n})"))
    }
}

struct SubWorld<S: Subscriber> {
    ctx: Context,
    name: String,
    sub: S,
    pubs: Vec<S::Peer>,
}

impl<S: Subscriber> SubWorld<S> {
    fn new(state: &str) -> SubWorld<S> {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("sub-spec"));
        let mut sub = S::make(&ctx);
        if matches!(state, "conflating" | "has-newest") {
            sub.conflate();
        }
        sub.bind(&name);
        let mut w = SubWorld {
            ctx,
            name,
            sub,
            pubs: Vec::new(),
        };
        w.attach();
        match state {
            "not-subscribed" => {}
            "subscribed" => w.sub.subscribe(TOPIC),
            "subscribed-twice" => {
                w.sub.subscribe(TOPIC);
                w.sub.subscribe(TOPIC);
            }
            "has-messages" => {
                w.sub.subscribe(TOPIC);
                assert_eq!(publish(&mut w.pubs[0], TOPIC), "ok(1)");
            }
            "inverted" => {
                w.sub.invert();
                w.sub.subscribe(TOPIC);
            }
            "conflating" => w.sub.subscribe(TOPIC),
            "has-newest" => {
                w.sub.subscribe(TOPIC);
                assert_eq!(publish_numbered(&mut w.pubs[0], 3), "ok");
            }
            other => panic!("SUB harness does not know state `{other}`"),
        }
        for publisher in &mut w.pubs {
            publisher.passed_up();
        }
        w
    }

    /// Connects a new publisher; the SUB greets it at its next call.
    fn attach(&mut self) {
        self.pubs.push(S::Peer::connected(&self.ctx, &self.name));
        let _ = self.sub.try_recv();
    }

    fn event(&mut self, event: &str) -> String {
        if let Some(result) = S::event(self, event) {
            return result;
        }
        match event {
            "recv" => outcome(self.sub.recv_timeout(SHORT)).into(),
            "try-recv" => outcome(self.sub.try_recv()).into(),
            "peer-publishes" => publish(&mut self.pubs[0], TOPIC),
            "peer-publishes-other-topic" => publish(&mut self.pubs[0], "u"),
            "peer-publishes-many" => publish_numbered(&mut self.pubs[0], 3),
            "peer-attaches" => {
                self.pubs.push(S::Peer::connected(&self.ctx, &self.name));
                "ok".into()
            }
            "peer-detaches" => {
                self.pubs.clear();
                "ok".into()
            }
            "recv-then-peer-publishes" => {
                let mut publisher = self.pubs.pop().unwrap();
                let late = thread::spawn(move || {
                    thread::sleep(SHORT);
                    assert_eq!(publish(&mut publisher, TOPIC), "ok(1)");
                    publisher
                });
                let r = self.sub.recv_timeout(LONG);
                self.pubs.push(late.join().unwrap());
                outcome(r).into()
            }
            "recv-then-peer-attaches" => {
                // No publisher at all while the SUB blocks; one connects, waits for the
                // subscription the blocked SUB sends it, then publishes.
                self.pubs.clear();
                let (ctx, name) = (self.ctx.clone(), self.name.clone());
                let late = thread::spawn(move || {
                    thread::sleep(SHORT);
                    let mut publisher = S::Peer::connected(&ctx, &name);
                    publisher.wait_for_subscribers(1, LONG).unwrap();
                    assert_eq!(publish(&mut publisher, TOPIC), "ok(1)");
                    publisher
                });
                let r = self.sub.recv_timeout(LONG);
                self.pubs.push(late.join().unwrap());
                outcome(r).into()
            }
            other => panic!("SUB harness does not know event `{other}`"),
        }
    }

    /// Probes what every publisher sees of the SUB's subscriptions, end to end.
    fn check_subscribed(&mut self, subscribed: bool) {
        // The SUB greets publishers that attached since its last call.
        assert_eq!(outcome(self.sub.try_recv()), "would-block");
        let expected = usize::from(subscribed);
        for publisher in &mut self.pubs {
            assert_eq!(publisher.subscriber_count(), expected);
            assert_eq!(publish(publisher, TOPIC), format!("ok({expected})"));
            let got = outcome(self.sub.try_recv());
            assert_eq!(got, if subscribed { "ok" } else { "would-block" });
        }
    }

    fn check(&mut self, state: &str) {
        match state {
            "not-subscribed" => self.check_subscribed(false),
            "subscribed" => self.check_subscribed(true),
            "subscribed-twice" => {
                assert!(!self.sub.unsubscribe(TOPIC), "one subscription must remain");
                self.check_subscribed(true);
            }
            "has-messages" => assert_eq!(outcome(self.sub.try_recv()), "ok"),
            "inverted" => {
                // The publisher sends what matches; the inverted SUB keeps none of it.
                assert_eq!(outcome(self.sub.try_recv()), "would-block");
                for publisher in &mut self.pubs {
                    assert_eq!(publish(publisher, TOPIC), "ok(1)");
                }
                assert_eq!(outcome(self.sub.try_recv()), "would-block");
            }
            "conflating" => self.check_subscribed(true),
            "has-newest" => {
                // The newest of the messages published, and nothing older.
                let newest = self.sub.try_recv().unwrap();
                assert_eq!(&newest[1][..], b"3", "{newest:?}");
                assert_eq!(outcome(self.sub.try_recv()), "would-block");
            }
            other => panic!("SUB harness does not know state `{other}`"),
        }
    }
}

#[test]
fn pub_follows_every_row_of_its_table() {
    let rows = table("pubsub.md", "PUB transition table");
    let covered = run_rows(&rows, |row| {
        let mut w = PubWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    // Every event the harness can perform, in every state where it means something,
    // must have a row: the spec may not silently omit a behaviour.
    let all_states = ["no-peers", "no-subscribers", "subscribed", "peer-full"];
    let mut required = all_pairs(
        &all_states,
        &["send", "wait-for-subscribers", "peer-attaches"],
    );
    required.extend(all_pairs(
        &["no-peers", "no-subscribers", "subscribed"],
        &["peer-subscribes"],
    ));
    required.extend(all_pairs(
        &["no-peers", "no-subscribers"],
        &["wait-then-peer-subscribes"],
    ));
    required.extend(all_pairs(
        &["no-subscribers", "subscribed", "peer-full"],
        &["peer-detaches"],
    ));
    required.extend(all_pairs(&["subscribed", "peer-full"], &["peer-cancels"]));
    required.extend(all_pairs(
        &["subscribed"],
        &["send-other-topic", "peer-subscribes-again", "peer-fills"],
    ));
    required.extend(all_pairs(&["peer-full"], &["peer-drains"]));
    required.extend(all_pairs(
        &["nodrop-full"],
        &["send", "try-send", "peer-drains", "peer-cancels"],
    ));
    required.extend(all_pairs(&["inverted"], &["send", "send-other-topic"]));
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pubsub.md lacks rows for {missing:?}");
}

/// Runs every row of the SUB or XSUB table, and checks that every pair the harness knows
/// has a row. `own` are the events only `S` has, `cancel` the one that takes `t` back.
/// `extra`: (state, event) pairs the table must have beyond the common ones.
fn follow_sub_table<S: Subscriber>(
    heading: &str,
    own: &[&str],
    cancel: &str,
    extra: &[(&str, &str)],
) {
    let rows = table("pubsub.md", heading);
    let covered = run_rows(&rows, |row| {
        let mut w = SubWorld::<S>::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    let mut events = vec!["recv", "try-recv", "peer-publishes", "peer-attaches"];
    events.extend(own);
    let mut required = all_pairs(&["not-subscribed", "subscribed"], &events);
    required.extend(all_pairs(
        &["subscribed"],
        &[
            "peer-publishes-other-topic",
            "recv-then-peer-publishes",
            "recv-then-peer-attaches",
            "peer-detaches",
        ],
    ));
    required.extend(all_pairs(
        &["subscribed-twice"],
        &[cancel, "peer-publishes"],
    ));
    required.extend(extra.iter().map(|&(a, b)| (a.to_string(), b.to_string())));
    required.extend(all_pairs(
        &["has-messages"],
        &["recv", "try-recv", cancel, "peer-detaches"],
    ));
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pubsub.md lacks rows for {missing:?}");
}

#[test]
fn sub_follows_every_row_of_its_table() {
    follow_sub_table::<Sub>(
        "SUB transition table",
        &["subscribe", "unsubscribe"],
        "unsubscribe",
        &[
            ("not-subscribed", "subscribe-seen-upstream"),
            ("subscribed", "subscribe-seen-upstream"),
            ("subscribed", "unsubscribe-seen-upstream"),
            ("subscribed-twice", "unsubscribe-seen-upstream"),
            ("inverted", "peer-publishes"),
            ("inverted", "try-recv"),
            ("conflating", "peer-publishes-many"),
            ("has-newest", "recv"),
            ("has-newest", "try-recv"),
        ],
    );
}

#[test]
fn xsub_follows_every_row_of_its_table() {
    follow_sub_table::<XSub>(
        "XSUB transition table",
        &["send-subscribe", "send-cancel", "send-message"],
        "send-cancel",
        &[],
    );
}

/// One message an XPUB passed up, as the tables write it.
fn notice(msg: &Message) -> String {
    let t = TOPIC.as_bytes();
    match msg.frames() {
        [f] if f.first() == Some(&1) && &f[1..] == t => "sub(t)".into(),
        [f] if f.first() == Some(&0) && &f[1..] == t => "cancel(t)".into(),
        _ if msg.first().is_some_and(|f| f.first() > Some(&1)) => "msg".into(),
        _ => panic!("unexpected message passed up: {msg:?}"),
    }
}

/// Everything the XPUB passes up now, in order: `sub(t) cancel(t) msg`, or `none`.
fn passed_up(xpub: &mut XPub) -> String {
    let mut seen = Vec::new();
    loop {
        match xpub.try_recv() {
            Ok(m) => seen.push(notice(&m)),
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("XPUB try_recv failed: {e}"),
        }
    }
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(" ")
    }
}

struct XPubWorld {
    ctx: Context,
    name: String,
    xpub: XPub,
    /// The peers, oldest first, each with whether it subscribed to `TOPIC`.
    peers: Vec<(XSub, bool)>,
}

impl XPubWorld {
    fn new(state: &str) -> XPubWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("xpub-spec"));
        let mut xpub = ctx.xpublisher().unwrap();
        xpub.set_send_hwm(1);
        xpub.set_recv_timeout(Some(SHORT));
        xpub.bind(&name).unwrap();
        let mut w = XPubWorld {
            ctx,
            name,
            xpub,
            peers: Vec::new(),
        };
        match state {
            "no-peers" => {}
            "no-subscribers" => {
                w.attach(false);
            }
            "subscribed" => {
                w.attach(true);
            }
            "shared" => {
                w.attach(true);
                w.attach(true);
            }
            "peer-full" => {
                w.attach(true);
                fill(&mut w.xpub);
            }
            "verbose" => {
                w.xpub.set_verbose(true);
                w.attach(true);
            }
            "verbose-shared" => {
                w.xpub.set_verbose(true);
                w.attach(true);
                w.attach(true);
            }
            "verboser" => {
                w.xpub.set_verboser(true);
                w.attach(true);
                w.attach(true);
            }
            "manual" => {
                w.xpub.set_manual(true);
                w.attach(true);
            }
            "manual-applied" => {
                w.xpub.set_manual(true);
                assert_eq!(w.attach(true), "sub(t)");
                assert!(w.xpub.subscribe(TOPIC).unwrap());
            }
            "last-value" => {
                w.xpub.set_manual_last_value(true);
                for _ in 0..2 {
                    assert_eq!(w.attach(true), "sub(t)");
                    assert!(w.xpub.subscribe(TOPIC).unwrap());
                }
            }
            "welcome" => w.xpub.set_welcome_msg(Some("welcome".into())),
            "only-first" => {
                w.xpub.set_only_first_subscribe(true);
                w.attach(false);
                // Its XSUB peer reads only the first frame too, as libzmq asks of both.
                w.peers[0].0.set_only_first_subscribe(true);
            }
            other => panic!("XPUB harness does not know state `{other}`"),
        }
        // In every state the application has received everything passed up.
        passed_up(&mut w.xpub);
        w
    }

    fn new_peer(ctx: &Context, name: &str, subscribed: bool) -> XSub {
        let mut peer = ctx.xsubscriber().unwrap();
        peer.set_recv_hwm(1);
        peer.set_recv_timeout(Some(LONG));
        peer.connect(name).unwrap();
        if subscribed {
            peer.subscribe(TOPIC);
        }
        peer
    }

    /// Attaches a peer and returns what the XPUB passed up for it (in manual mode,
    /// receiving it makes this peer the one `subscribe` applies to).
    fn attach(&mut self, subscribed: bool) -> String {
        let before = self.xpub.peer_count();
        let peer = Self::new_peer(&self.ctx, &self.name, subscribed);
        self.peers.push((peer, subscribed));
        assert!(eventually(LONG, || self.xpub.peer_count() == before + 1));
        passed_up(&mut self.xpub)
    }

    /// The checks of the manual and welcome states; false for the others.
    fn manual_check(&mut self, state: &str) -> bool {
        let subscribers = self.xpub.subscriber_count();
        match state {
            "manual" => {
                assert!(self.xpub.peer_count() > 0);
                assert_eq!(subscribers, 0, "nothing applied");
                assert_eq!(publish(&mut self.xpub, TOPIC), "ok(0)");
            }
            "manual-applied" => {
                assert!(subscribers >= 1);
                assert_eq!(publish(&mut self.xpub, TOPIC), format!("ok({subscribers})"));
                assert_eq!(outcome(self.subscribed_peer().recv()), "ok");
            }
            "welcome" => {
                // Every peer's first message is the welcome.
                for (peer, _) in &mut self.peers {
                    assert_eq!(peer.recv().unwrap(), "welcome");
                }
            }
            _ => return false,
        }
        assert_eq!(passed_up(&mut self.xpub), "none", "{state}");
        true
    }

    /// The newest peer subscribed to `TOPIC`.
    fn subscribed_peer(&mut self) -> &mut XSub {
        self.peers
            .iter_mut()
            .rev()
            .find_map(|(peer, subscribed)| subscribed.then_some(peer))
            .expect("a subscribed peer")
    }

    fn subscribed_peers(&self) -> usize {
        self.peers.iter().filter(|(_, s)| *s).count()
    }

    fn event(&mut self, event: &str) -> String {
        match event {
            "send" => publish(&mut self.xpub, TOPIC),
            "send-other-topic" => publish(&mut self.xpub, "u"),
            "apply-subscribe" => outcome(self.xpub.subscribe(TOPIC)).into(),
            "apply-unsubscribe" => outcome(self.xpub.unsubscribe(TOPIC)).into(),
            "recv" => outcome(self.xpub.recv()).into(),
            "try-recv" => outcome(self.xpub.try_recv()).into(),
            "peer-attaches" => self.attach(false),
            "peer-subscribes" => self.attach(true),
            "peer-subscribes-again" => {
                self.subscribed_peer().subscribe(TOPIC);
                passed_up(&mut self.xpub)
            }
            "peer-cancels" => {
                assert!(self.subscribed_peer().unsubscribe(TOPIC));
                if let Some(p) = self.peers.iter_mut().rev().find(|(_, s)| *s) {
                    p.1 = false;
                }
                passed_up(&mut self.xpub)
            }
            "peer-sends" => {
                let (peer, _) = self.peers.last_mut().expect("a peer");
                assert_eq!(peer.send(["hello", "upstream"]).unwrap(), 1);
                passed_up(&mut self.xpub)
            }
            "peer-sends-mixed" => {
                // Data first, then a frame that reads as a subscription to `t`.
                let only_first = self.xpub.only_first_subscribe();
                let (peer, subscribed) = self.peers.last_mut().expect("a peer");
                assert_eq!(peer.send(["hello", "\x01t"]).unwrap(), 1);
                *subscribed |= !only_first;
                passed_up(&mut self.xpub)
            }
            "peer-fills" => {
                fill(&mut self.xpub);
                passed_up(&mut self.xpub)
            }
            "peer-drains" => {
                assert_eq!(outcome(self.subscribed_peer().recv()), "ok");
                passed_up(&mut self.xpub)
            }
            "peer-detaches" => {
                let before = self.xpub.peer_count();
                self.peers.pop().expect("a peer");
                assert!(eventually(LONG, || self.xpub.peer_count() == before - 1));
                passed_up(&mut self.xpub)
            }
            "recv-then-peer-subscribes" => {
                let (ctx, name) = (self.ctx.clone(), self.name.clone());
                let late = thread::spawn(move || {
                    thread::sleep(SHORT);
                    Self::new_peer(&ctx, &name, true)
                });
                let got = self.xpub.recv_timeout(LONG);
                self.peers.push((late.join().unwrap(), true));
                let got = got.unwrap_or_else(|e| panic!("blocked recv failed: {e}"));
                assert_eq!(passed_up(&mut self.xpub), "none");
                notice(&got)
            }
            other => panic!("XPUB harness does not know event `{other}`"),
        }
    }

    /// The subscribed peer sends `01 t` again: `sub(t)` comes up only when verbose.
    fn probe_repeat(&mut self) -> String {
        self.subscribed_peer().subscribe(TOPIC);
        passed_up(&mut self.xpub)
    }

    /// The newest subscribed peer takes `t` back entirely (it holds several subscriptions
    /// after `probe_repeat`; only the last one sends a cancel); returns what was passed up.
    fn probe_cancel(&mut self) -> String {
        let peer = self.subscribed_peer();
        let mut tries = 0;
        while !peer.unsubscribe(TOPIC) {
            tries += 1;
            assert!(tries < 5, "the peer never held `t`");
        }
        passed_up(&mut self.xpub)
    }

    fn check(&mut self, state: &str) {
        if self.manual_check(state) {
            return;
        }
        let subscribers = self.xpub.subscriber_count();
        let peers = self.xpub.peer_count();
        assert_eq!(subscribers, self.subscribed_peers(), "{state}");
        assert_eq!(passed_up(&mut self.xpub), "none", "{state}");
        match state {
            "no-peers" => {
                assert_eq!(peers, 0);
                assert_eq!(publish(&mut self.xpub, TOPIC), "ok(0)");
            }
            "no-subscribers" => {
                assert!(peers > 0);
                assert_eq!(subscribers, 0);
                assert_eq!(publish(&mut self.xpub, TOPIC), "ok(0)");
            }
            "only-first" => {
                assert!(self.xpub.only_first_subscribe());
                assert!(peers > 0);
                assert_eq!(subscribers, 0);
                assert_eq!(self.xpub.topics_count(), 0);
                assert_eq!(publish(&mut self.xpub, TOPIC), "ok(0)");
            }
            "subscribed" | "shared" => {
                if state == "subscribed" {
                    assert_eq!(subscribers, 1);
                } else {
                    assert!(subscribers >= 2);
                }
                assert_eq!(publish(&mut self.xpub, TOPIC), format!("ok({subscribers})"));
                assert_eq!(outcome(self.subscribed_peer().recv()), "ok");
                // Not verbose: a repeat is held back.
                assert_eq!(self.probe_repeat(), "none");
            }
            "peer-full" => {
                assert_eq!(subscribers, 1);
                let r = publish(&mut self.xpub, TOPIC);
                assert!(r.ends_with("+1 dropped"), "{r}");
            }
            "verbose" => {
                assert_eq!(subscribers, 1);
                assert_eq!(self.probe_repeat(), "sub(t)");
                assert_eq!(self.probe_cancel(), "cancel(t)");
            }
            "verbose-shared" => {
                assert_eq!(subscribers, 2);
                assert_eq!(self.probe_repeat(), "sub(t)");
                // Another peer holds `t`: verbose holds the cancel back.
                assert_eq!(self.probe_cancel(), "none");
            }
            "verboser" => {
                assert!(subscribers >= 1);
                assert_eq!(self.probe_repeat(), "sub(t)");
                // Passed up whether or not another peer holds `t`.
                assert_eq!(self.probe_cancel(), "cancel(t)");
            }
            other => panic!("XPUB harness does not know state `{other}`"),
        }
    }
}

#[test]
fn xpub_follows_every_row_of_its_table() {
    let rows = table("pubsub.md", "XPUB transition table");
    let covered = run_rows(&rows, |row| {
        let mut w = XPubWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    let mut required = all_pairs(
        &[
            "no-peers",
            "no-subscribers",
            "subscribed",
            "shared",
            "peer-full",
        ],
        &["send"],
    );
    required.extend(all_pairs(
        &["no-peers", "no-subscribers", "subscribed", "shared"],
        &["try-recv"],
    ));
    required.extend(all_pairs(
        &["no-peers", "no-subscribers", "subscribed"],
        &["peer-attaches"],
    ));
    required.extend(all_pairs(
        &[
            "no-peers",
            "no-subscribers",
            "subscribed",
            "shared",
            "verbose",
            "verboser",
        ],
        &["peer-subscribes"],
    ));
    required.extend(all_pairs(
        &[
            "no-subscribers",
            "subscribed",
            "shared",
            "peer-full",
            "verbose",
            "verbose-shared",
            "verboser",
        ],
        &["peer-detaches"],
    ));
    required.extend(all_pairs(
        &[
            "subscribed",
            "shared",
            "peer-full",
            "verbose",
            "verbose-shared",
            "verboser",
        ],
        &["peer-cancels"],
    ));
    required.extend(all_pairs(
        &["subscribed", "verbose"],
        &["peer-subscribes-again"],
    ));
    required.extend(all_pairs(
        &["no-subscribers", "subscribed"],
        &["peer-sends"],
    ));
    required.extend(all_pairs(
        &["no-peers"],
        &["recv", "recv-then-peer-subscribes"],
    ));
    required.extend(all_pairs(
        &["subscribed"],
        &["send-other-topic", "peer-fills"],
    ));
    required.extend(all_pairs(&["peer-full"], &["peer-drains"]));
    required.extend(all_pairs(
        &["manual"],
        &[
            "send",
            "peer-subscribes",
            "peer-subscribes-again",
            "peer-cancels",
            "peer-detaches",
            "apply-subscribe",
        ],
    ));
    required.extend(all_pairs(
        &["manual-applied"],
        &["send", "apply-unsubscribe", "peer-detaches"],
    ));
    required.extend(all_pairs(&["last-value"], &["send"]));
    required.extend(all_pairs(
        &["welcome"],
        &["peer-attaches", "peer-subscribes"],
    ));
    required.extend(all_pairs(
        &["no-subscribers", "only-first"],
        &["peer-sends-mixed"],
    ));
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pubsub.md lacks rows for {missing:?}");
}

#[test]
fn compatible_peers_table_matches_the_code() {
    check_compatible_peers("pubsub.md");
}
