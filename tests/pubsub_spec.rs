//! Drives PUB and SUB through every row of the tables in `patterns/pubsub.md`.
//!
//! Each state is built for real over inproc with tiny high-water marks; each event is an
//! operation on the real sockets (or on a real peer socket); the next state is then checked
//! by probing the sockets end to end. A row naming a state or event this harness does not
//! know fails, and so does a (state, event) pair the harness knows that the table does not
//! list.

mod util;

use std::thread;
use std::time::Duration;

use ferromq::{Context, Pub, SendError, Sub};
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

#[test]
fn compatible_peers_table_matches_the_code() {
    check_compatible_peers("pubsub.md");
}
