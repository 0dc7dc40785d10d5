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

/// Sends on `topic` and describes what happened as the tables do: `ok(n)`, plus
/// `+n dropped` when the drop counter moved.
fn publish(publisher: &mut Pub, topic: &'static str) -> String {
    let before = publisher.dropped();
    let r: Result<usize, SendError> = publisher.send([topic, "payload"]);
    let queued = r.unwrap_or_else(|e| panic!("PUB send failed: {e}"));
    match publisher.dropped() - before {
        0 => format!("ok({queued})"),
        d => format!("ok({queued}) +{d} dropped"),
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
                w.fill();
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

    /// Publishes until a copy is dropped: the subscriber's queue is then at its mark.
    fn fill(&mut self) {
        let before = self.publisher.dropped();
        let mut sent = 0;
        while self.publisher.dropped() == before {
            self.publisher.send([TOPIC, "fill"]).unwrap();
            sent += 1;
            assert!(sent < 100, "high-water mark never reached");
        }
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
                self.fill();
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
            other => panic!("PUB harness does not know state `{other}`"),
        }
    }
}

struct SubWorld {
    ctx: Context,
    name: String,
    sub: Sub,
    pubs: Vec<Pub>,
}

impl SubWorld {
    fn new(state: &str) -> SubWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("sub-spec"));
        let mut sub = ctx.subscriber().unwrap();
        sub.set_recv_timeout(Some(SHORT));
        sub.bind(&name).unwrap();
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
            other => panic!("SUB harness does not know state `{other}`"),
        }
        w
    }

    fn new_pub(ctx: &Context, name: &str) -> Pub {
        let mut publisher = ctx.publisher().unwrap();
        publisher.connect(name).unwrap();
        publisher
    }

    /// Connects a new publisher; the SUB greets it at its next call.
    fn attach(&mut self) {
        self.pubs.push(Self::new_pub(&self.ctx, &self.name));
        let _ = self.sub.try_recv();
    }

    fn event(&mut self, event: &str) -> String {
        match event {
            "recv" => outcome(self.sub.recv()).into(),
            "try-recv" => outcome(self.sub.try_recv()).into(),
            "subscribe" => {
                self.sub.subscribe(TOPIC);
                "ok".into()
            }
            "unsubscribe" => self.sub.unsubscribe(TOPIC).to_string(),
            "peer-publishes" => publish(&mut self.pubs[0], TOPIC),
            "peer-publishes-other-topic" => publish(&mut self.pubs[0], "u"),
            "peer-attaches" => {
                self.pubs.push(Self::new_pub(&self.ctx, &self.name));
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
                    let mut publisher = Self::new_pub(&ctx, &name);
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
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pubsub.md lacks rows for {missing:?}");
}

#[test]
fn sub_follows_every_row_of_its_table() {
    let rows = table("pubsub.md", "SUB transition table");
    let covered = run_rows(&rows, |row| {
        let mut w = SubWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    let mut required = all_pairs(
        &["not-subscribed", "subscribed"],
        &[
            "recv",
            "try-recv",
            "subscribe",
            "unsubscribe",
            "peer-publishes",
            "peer-attaches",
        ],
    );
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
        &["unsubscribe", "peer-publishes"],
    ));
    required.extend(all_pairs(
        &["has-messages"],
        &["recv", "try-recv", "unsubscribe", "peer-detaches"],
    ));
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pubsub.md lacks rows for {missing:?}");
}

/// `XPub::send` on `topic`, described as `publish` describes a PUB's.
fn xpublish(xpub: &mut XPub, topic: &'static str) -> String {
    let before = xpub.dropped();
    let queued = xpub.send([topic, "payload"]).unwrap();
    match xpub.dropped() - before {
        0 => format!("ok({queued})"),
        d => format!("ok({queued}) +{d} dropped"),
    }
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
                w.fill();
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

    /// Attaches a peer and returns what the XPUB passed up for it.
    fn attach(&mut self, subscribed: bool) -> String {
        let before = self.xpub.peer_count();
        let peer = Self::new_peer(&self.ctx, &self.name, subscribed);
        self.peers.push((peer, subscribed));
        assert!(eventually(LONG, || self.xpub.peer_count() == before + 1));
        passed_up(&mut self.xpub)
    }

    /// Publishes until a copy is dropped: the subscriber's queue is then at its mark.
    fn fill(&mut self) {
        let before = self.xpub.dropped();
        let mut sent = 0;
        while self.xpub.dropped() == before {
            self.xpub.send([TOPIC, "fill"]).unwrap();
            sent += 1;
            assert!(sent < 100, "high-water mark never reached");
        }
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
            "send" => xpublish(&mut self.xpub, TOPIC),
            "send-other-topic" => xpublish(&mut self.xpub, "u"),
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
            "peer-fills" => {
                self.fill();
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
        let subscribers = self.xpub.subscriber_count();
        let peers = self.xpub.peer_count();
        assert_eq!(subscribers, self.subscribed_peers(), "{state}");
        assert_eq!(passed_up(&mut self.xpub), "none", "{state}");
        match state {
            "no-peers" => {
                assert_eq!(peers, 0);
                assert_eq!(xpublish(&mut self.xpub, TOPIC), "ok(0)");
            }
            "no-subscribers" => {
                assert!(peers > 0);
                assert_eq!(subscribers, 0);
                assert_eq!(xpublish(&mut self.xpub, TOPIC), "ok(0)");
            }
            "subscribed" | "shared" => {
                if state == "subscribed" {
                    assert_eq!(subscribers, 1);
                } else {
                    assert!(subscribers >= 2);
                }
                assert_eq!(
                    xpublish(&mut self.xpub, TOPIC),
                    format!("ok({subscribers})")
                );
                assert_eq!(outcome(self.subscribed_peer().recv()), "ok");
                // Not verbose: a repeat is held back.
                assert_eq!(self.probe_repeat(), "none");
            }
            "peer-full" => {
                assert_eq!(subscribers, 1);
                let r = xpublish(&mut self.xpub, TOPIC);
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

struct XSubWorld {
    ctx: Context,
    name: String,
    xsub: XSub,
    /// Verboser XPUBs: they pass up everything the XSUB sends.
    pubs: Vec<XPub>,
}

impl XSubWorld {
    fn new(state: &str) -> XSubWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("xsub-spec"));
        let mut xsub = ctx.xsubscriber().unwrap();
        xsub.set_recv_timeout(Some(SHORT));
        xsub.bind(&name).unwrap();
        let mut w = XSubWorld {
            ctx,
            name,
            xsub,
            pubs: Vec::new(),
        };
        w.attach();
        match state {
            "not-subscribed" => {}
            "subscribed" => {
                assert_eq!(w.xsub.send("\x01t").unwrap(), 1);
            }
            "subscribed-twice" => {
                assert_eq!(w.xsub.send("\x01t").unwrap(), 1);
                assert_eq!(w.xsub.send("\x01t").unwrap(), 1);
            }
            "has-messages" => {
                assert_eq!(w.xsub.send("\x01t").unwrap(), 1);
                assert_eq!(xpublish(&mut w.pubs[0], TOPIC), "ok(1)");
            }
            other => panic!("XSUB harness does not know state `{other}`"),
        }
        for publisher in &mut w.pubs {
            passed_up(publisher);
        }
        w
    }

    fn new_pub(ctx: &Context, name: &str) -> XPub {
        let mut publisher = ctx.xpublisher().unwrap();
        publisher.set_verboser(true);
        publisher.connect(name).unwrap();
        publisher
    }

    /// Connects a new publisher; the XSUB greets it at its next call.
    fn attach(&mut self) {
        self.pubs.push(Self::new_pub(&self.ctx, &self.name));
        let _ = self.xsub.try_recv();
    }

    /// Sends `msg` from the XSUB; checks that each publisher passes up exactly `expect`
    /// when it went out.
    fn send(&mut self, msg: &'static str, expect: &str) -> String {
        let n = self.xsub.send(msg).unwrap();
        for publisher in &mut self.pubs {
            let got = passed_up(publisher);
            assert_eq!(got, if n > 0 { expect } else { "none" });
        }
        format!("ok({n})")
    }

    fn event(&mut self, event: &str) -> String {
        match event {
            "recv" => outcome(self.xsub.recv()).into(),
            "try-recv" => outcome(self.xsub.try_recv()).into(),
            "send-subscribe" => self.send("\x01t", "sub(t)"),
            "send-cancel" => self.send("\x00t", "cancel(t)"),
            "send-message" => self.send("hello", "msg"),
            "peer-publishes" => xpublish(&mut self.pubs[0], TOPIC),
            "peer-publishes-other-topic" => xpublish(&mut self.pubs[0], "u"),
            "peer-attaches" => {
                self.pubs.push(Self::new_pub(&self.ctx, &self.name));
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
                    assert_eq!(xpublish(&mut publisher, TOPIC), "ok(1)");
                    publisher
                });
                let r = self.xsub.recv_timeout(LONG);
                self.pubs.push(late.join().unwrap());
                outcome(r).into()
            }
            "recv-then-peer-attaches" => {
                self.pubs.clear();
                let (ctx, name) = (self.ctx.clone(), self.name.clone());
                let late = thread::spawn(move || {
                    thread::sleep(SHORT);
                    let mut publisher = Self::new_pub(&ctx, &name);
                    publisher.wait_for_subscribers(1, LONG).unwrap();
                    assert_eq!(xpublish(&mut publisher, TOPIC), "ok(1)");
                    publisher
                });
                let r = self.xsub.recv_timeout(LONG);
                self.pubs.push(late.join().unwrap());
                outcome(r).into()
            }
            other => panic!("XSUB harness does not know event `{other}`"),
        }
    }

    /// Probes what every publisher sees of the XSUB's subscriptions, end to end.
    fn check_subscribed(&mut self, subscribed: bool) {
        // The XSUB greets publishers that attached since its last call.
        assert_eq!(outcome(self.xsub.try_recv()), "would-block");
        let expected = usize::from(subscribed);
        for publisher in &mut self.pubs {
            assert_eq!(publisher.subscriber_count(), expected);
            assert_eq!(xpublish(publisher, TOPIC), format!("ok({expected})"));
            let got = outcome(self.xsub.try_recv());
            assert_eq!(got, if subscribed { "ok" } else { "would-block" });
        }
    }

    fn check(&mut self, state: &str) {
        match state {
            "not-subscribed" => self.check_subscribed(false),
            "subscribed" => self.check_subscribed(true),
            "subscribed-twice" => {
                assert_eq!(self.xsub.send("\x00t").unwrap(), 0, "one must remain");
                self.check_subscribed(true);
            }
            "has-messages" => assert_eq!(outcome(self.xsub.try_recv()), "ok"),
            other => panic!("XSUB harness does not know state `{other}`"),
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
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pubsub.md lacks rows for {missing:?}");
}

#[test]
fn xsub_follows_every_row_of_its_table() {
    let rows = table("pubsub.md", "XSUB transition table");
    let covered = run_rows(&rows, |row| {
        let mut w = XSubWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    let mut required = all_pairs(
        &["not-subscribed", "subscribed"],
        &[
            "recv",
            "try-recv",
            "send-subscribe",
            "send-cancel",
            "send-message",
            "peer-publishes",
            "peer-attaches",
        ],
    );
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
        &["send-cancel", "peer-publishes"],
    ));
    required.extend(all_pairs(
        &["has-messages"],
        &["recv", "try-recv", "send-cancel", "peer-detaches"],
    ));
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pubsub.md lacks rows for {missing:?}");
}

#[test]
fn compatible_peers_table_matches_the_code() {
    check_compatible_peers("pubsub.md");
}
