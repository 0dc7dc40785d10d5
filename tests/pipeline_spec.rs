//! Drives PUSH and PULL through every row of the tables in `patterns/pipeline.md`.
//!
//! Each state is built for real over inproc with tiny high-water marks; each event is an
//! operation on the real sockets; the next state is then checked by probing the socket.
//! A row naming a state or event this harness does not know fails, and so does a
//! (state, event) pair the harness knows that the table does not list.

mod util;

use std::thread;
use std::time::Duration;

use ferromq::{Context, Error, Message, Pull, Push};
use util::spec::{all_pairs, check_compatible_peers, outcome, run_rows, table};
use util::{eventually, unique};

const SHORT: Duration = Duration::from_millis(60);
const LONG: Duration = Duration::from_secs(10);

struct PushWorld {
    ctx: Context,
    name: String,
    push: Push,
    pulls: Vec<Pull>,
}

impl PushWorld {
    fn new(state: &str) -> PushWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("push-spec"));
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(1);
        push.set_send_timeout(Some(SHORT));
        push.bind(&name).unwrap();
        let mut w = PushWorld {
            ctx,
            name,
            push,
            pulls: Vec::new(),
        };
        match state {
            "no-peers" => {}
            "has-room" => w.attach(),
            "all-full" => {
                w.attach();
                w.fill();
            }
            "conflating" => {
                w.push.set_conflate(true);
                w.attach();
                w.push.try_send("unread").unwrap();
            }
            other => panic!("PUSH harness does not know state `{other}`"),
        }
        w
    }

    fn new_pull(ctx: &Context, name: &str) -> Pull {
        let mut pull = ctx.pull().unwrap();
        pull.set_recv_hwm(1);
        pull.set_recv_timeout(Some(LONG));
        pull.connect(name).unwrap();
        pull
    }

    fn attach(&mut self) {
        let before = self.push.peer_count();
        self.pulls.push(Self::new_pull(&self.ctx, &self.name));
        assert!(eventually(LONG, || self.push.peer_count() == before + 1));
    }

    fn fill(&mut self) {
        let mut sent = 0;
        while self.push.try_send("fill").is_ok() {
            sent += 1;
            assert!(sent < 100, "high-water mark never reached");
        }
    }

    fn event(&mut self, event: &str) -> &'static str {
        match event {
            "send" => outcome(self.push.send("m")),
            "try-send" => outcome(self.push.try_send("m")),
            "send-empty" => {
                let r = self.push.send(Message::new());
                if let Err(e) = &r {
                    assert!(matches!(e.error(), Error::EmptyMessage), "{e}");
                }
                outcome(r.map_err(|e| {
                    let (error, msg) = e.into_parts();
                    assert!(msg.is_empty(), "the message comes back");
                    error
                }))
            }
            "peer-attaches" => {
                self.attach();
                "ok"
            }
            "peer-fills" => {
                self.fill();
                "ok"
            }
            "peer-detaches" => {
                self.pulls.clear();
                assert!(eventually(LONG, || self.push.peer_count() == 0));
                "ok"
            }
            "peer-drains" => outcome(self.pulls[0].recv()),
            "send-then-peer-attaches" => {
                let (ctx, name) = (self.ctx.clone(), self.name.clone());
                let late = thread::spawn(move || {
                    thread::sleep(SHORT);
                    Self::new_pull(&ctx, &name)
                });
                let r = outcome(self.push.send_timeout("m", LONG));
                self.pulls.push(late.join().unwrap());
                r
            }
            "send-then-peer-drains" => {
                let mut pull = self.pulls.pop().unwrap();
                let drainer = thread::spawn(move || {
                    thread::sleep(SHORT);
                    pull.recv().unwrap();
                    pull
                });
                let r = outcome(self.push.send_timeout("m", LONG));
                self.pulls.push(drainer.join().unwrap());
                r
            }
            other => panic!("PUSH harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str) {
        let peers = self.push.peer_count();
        match state {
            "no-peers" => {
                assert_eq!(peers, 0);
                assert_eq!(outcome(self.push.try_send("probe")), "would-block");
            }
            "has-room" => {
                assert!(peers > 0);
                assert_eq!(outcome(self.push.try_send("probe")), "ok");
            }
            "all-full" => {
                assert!(peers > 0);
                assert_eq!(outcome(self.push.try_send("probe")), "would-block");
            }
            "conflating" => {
                assert!(peers > 0);
                for probe in ["probe 1", "probe 2", "probe 3"] {
                    assert_eq!(outcome(self.push.try_send(probe)), "ok");
                }
                assert_eq!(self.pulls[0].recv().unwrap(), "probe 3");
                let r = self.pulls[0].recv_timeout(SHORT);
                assert_eq!(outcome(r), "timed-out");
            }
            other => panic!("PUSH harness does not know state `{other}`"),
        }
    }
}

struct PullWorld {
    pull: Pull,
    push: Option<Push>,
    ctx: Context,
}

impl PullWorld {
    fn new(state: &str) -> PullWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("pull-spec"));
        let mut pull = ctx.pull().unwrap();
        pull.set_recv_timeout(Some(SHORT));
        pull.bind(&name).unwrap();
        let mut push = ctx.push().unwrap();
        push.set_send_timeout(Some(LONG));
        push.connect(&name).unwrap();
        assert!(eventually(LONG, || pull.peer_count() == 1));
        let mut w = PullWorld {
            pull,
            push: Some(push),
            ctx,
        };
        match state {
            "empty" => {}
            "has-messages" => w.push.as_mut().unwrap().send("queued").unwrap(),
            "conflating" | "has-newest" => {
                // Conflation is decided when the peer attaches: attach a fresh one.
                w.pull.set_conflate(true);
                w.push = None;
                assert!(eventually(LONG, || w.pull.peer_count() == 0));
                let mut push = w.ctx.push().unwrap();
                push.set_send_timeout(Some(LONG));
                push.connect(&name).unwrap();
                assert!(eventually(LONG, || w.pull.peer_count() == 1));
                w.push = Some(push);
                if state == "has-newest" {
                    w.send_many();
                }
            }
            other => panic!("PULL harness does not know state `{other}`"),
        }
        w
    }

    /// The peer sends `m1`, `m2`, `m3`.
    fn send_many(&mut self) {
        let push = self.push.as_mut().unwrap();
        for m in ["m1", "m2", "m3"] {
            push.send(m).unwrap();
        }
    }

    fn event(&mut self, event: &str) -> &'static str {
        match event {
            "recv" => {
                let r = self.pull.recv();
                if let Ok(m) = &r {
                    assert!(m == "queued" || m == "m3", "{m:?}");
                }
                outcome(r)
            }
            "try-recv" => outcome(self.pull.try_recv()),
            "peer-sends-many" => {
                self.send_many();
                "ok"
            }
            "peer-sends" => outcome(self.push.as_mut().unwrap().send("m")),
            "peer-detaches" => {
                self.push = None;
                "ok"
            }
            "recv-then-peer-sends" => {
                let mut push = self.push.take().unwrap();
                let sender = thread::spawn(move || {
                    thread::sleep(SHORT);
                    push.send("late").unwrap();
                    push
                });
                let r = self.pull.recv_timeout(LONG);
                self.push = Some(sender.join().unwrap());
                assert_eq!(r.as_ref().ok().map(|m| m == "late"), Some(true));
                outcome(r)
            }
            other => panic!("PULL harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str) {
        let _ = &self.ctx;
        match state {
            "empty" => assert_eq!(outcome(self.pull.try_recv()), "would-block"),
            "has-messages" => assert_eq!(outcome(self.pull.try_recv()), "ok"),
            "conflating" => {
                assert_eq!(outcome(self.pull.try_recv()), "would-block");
                self.send_many();
                assert_eq!(self.pull.try_recv().unwrap(), "m3");
                assert_eq!(outcome(self.pull.try_recv()), "would-block");
            }
            "has-newest" => {
                assert_eq!(self.pull.try_recv().unwrap(), "m3");
                assert_eq!(outcome(self.pull.try_recv()), "would-block");
            }
            other => panic!("PULL harness does not know state `{other}`"),
        }
    }
}

#[test]
fn push_follows_every_row_of_its_table() {
    let rows = table("pipeline.md", "PUSH transition table");
    let covered = run_rows(&rows, |row| {
        let mut w = PushWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    // Every event the harness can perform, in every state where it means something,
    // must have a row: the spec may not silently omit a behaviour.
    let mut required = all_pairs(
        &["no-peers", "has-room", "all-full"],
        &["send", "try-send", "peer-attaches"],
    );
    required.extend(all_pairs(&["has-room"], &["peer-fills", "peer-detaches"]));
    required.extend(all_pairs(
        &["no-peers", "has-room", "all-full"],
        &["send-empty"],
    ));
    required.extend(all_pairs(
        &["all-full"],
        &["peer-drains", "send-then-peer-drains"],
    ));
    required.extend(all_pairs(&["no-peers"], &["send-then-peer-attaches"]));
    required.extend(all_pairs(
        &["conflating"],
        &["send", "try-send", "peer-drains"],
    ));
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pipeline.md lacks rows for {missing:?}");
}

#[test]
fn pull_follows_every_row_of_its_table() {
    let rows = table("pipeline.md", "PULL transition table");
    let covered = run_rows(&rows, |row| {
        let mut w = PullWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    let mut required = all_pairs(&["empty", "has-messages"], &["recv", "try-recv"]);
    required.extend(all_pairs(
        &["empty"],
        &["peer-sends", "recv-then-peer-sends"],
    ));
    required.extend(all_pairs(&["has-messages"], &["peer-detaches"]));
    required.extend(all_pairs(&["conflating"], &["peer-sends-many"]));
    required.extend(all_pairs(&["has-newest"], &["recv"]));
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "pipeline.md lacks rows for {missing:?}");
}

#[test]
fn compatible_peers_table_matches_the_code() {
    check_compatible_peers("pipeline.md");
}
