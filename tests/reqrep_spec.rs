//! Drives REQ and REP through every row of the tables in `patterns/reqrep.md`, using the
//! dynamic `Socket` (which shares its state machines with the typed `Req`/`Rep`) against
//! real libzmq peers: two ROUTERs for REQ, a DEALER for REP, so rows can send what a
//! well-behaved peer never would.

mod util;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ferromq::{Context, Error, Message, Socket, SocketType};
use util::spec::{check_compatible_peers, outcome, table, Row};
use util::{eventually, within, zmq_socket};

const SHORT: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_secs(10);
const ID: &[u8] = b"req-under-test";
/// How long a receive under a flood may take before the test calls it hung.
const WATCHDOG: Duration = Duration::from_secs(20);

/// Sends `frames` from `socket` as fast as it will take them, until `stop`; gives the
/// socket back.
fn flood(
    socket: zmq::Socket,
    frames: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<zmq::Socket> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match socket.send_multipart(&frames, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => thread::yield_now(),
                Err(e) => panic!("flood: {e}"),
            }
        }
        socket
    })
}

/// Runs `recv` while `socket` floods `frames` at the socket under test, with a watchdog.
fn under_flood<T>(
    socket: zmq::Socket,
    frames: &[&[u8]],
    recv: impl FnOnce() -> T,
) -> (T, zmq::Socket) {
    let stop = Arc::new(AtomicBool::new(false));
    let frames = frames.iter().map(|f| f.to_vec()).collect();
    let flooder = flood(socket, frames, stop.clone());
    // Let the flood get going before the receive starts.
    thread::sleep(Duration::from_millis(100));
    let r = within(WATCHDOG, recv);
    stop.store(true, Ordering::Relaxed);
    (r, flooder.join().unwrap())
}

/// Checks that a refused send handed back exactly the message it was given.
fn empty_refused(r: Result<(), ferromq::SendError>) -> &'static str {
    match r {
        Err(e) if matches!(e.error(), Error::EmptyMessage) => {
            assert!(e.into_message().is_empty());
            "empty-message"
        }
        other => outcome(other),
    }
}

struct ReqWorld {
    _ctx: Context,
    zctx: zmq::Context,
    req: Socket,
    routers: Vec<Option<zmq::Socket>>,
    asked: usize,
}

impl ReqWorld {
    fn new(state: &str) -> ReqWorld {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut req = ctx.socket(SocketType::Req).unwrap();
        req.set_identity(ID).unwrap();
        let routers: Vec<Option<zmq::Socket>> = (0..2)
            .map(|_| {
                let r = zmq_socket(&zctx, zmq::ROUTER);
                r.bind("tcp://127.0.0.1:*").unwrap();
                req.connect(&r.get_last_endpoint().unwrap().unwrap())
                    .unwrap();
                Some(r)
            })
            .collect();
        assert!(eventually(LONG, || req.peer_count() == 2));
        let mut w = ReqWorld {
            _ctx: ctx,
            zctx,
            req,
            routers,
            asked: 0,
        };
        match state {
            "idle" => {}
            "waiting" => assert_eq!(w.send(), "ok"),
            other => panic!("REQ harness does not know state `{other}`"),
        }
        w
    }

    fn router(&self, i: usize) -> &zmq::Socket {
        self.routers[i].as_ref().unwrap()
    }

    /// Sends a request and finds out which ROUTER it went to, checking the envelope.
    fn send(&mut self) -> &'static str {
        let r = outcome(self.req.send("request"));
        if r == "ok" {
            let mut items: Vec<_> = (0..2)
                .map(|i| self.router(i).as_poll_item(zmq::POLLIN))
                .collect();
            assert_eq!(
                zmq::poll(&mut items, 10_000).unwrap(),
                1,
                "exactly one ROUTER gets it"
            );
            self.asked = usize::from(!items[0].is_readable());
            let frames = self.router(self.asked).recv_multipart(0).unwrap();
            assert_eq!(frames, vec![ID.to_vec(), Vec::new(), b"request".to_vec()]);
        }
        r
    }

    fn event(&mut self, event: &str) -> &'static str {
        let other = 1 - self.asked;
        match event {
            "send" => self.send(),
            "send-after-unsolicited-message" => {
                // Both peers send what looks like a reply while nothing is asked; the
                // next request goes to one of them. (The check then sends the real reply.)
                for i in 0..2 {
                    self.router(i)
                        .send_multipart([ID, b"", b"stale"], 0)
                        .unwrap();
                }
                thread::sleep(Duration::from_millis(300));
                self.send()
            }
            "send-empty" => {
                let r = empty_refused(self.req.send(Message::new()));
                let mut items: Vec<_> = (0..2)
                    .map(|i| self.router(i).as_poll_item(zmq::POLLIN))
                    .collect();
                assert_eq!(zmq::poll(&mut items, 200).unwrap(), 0, "nothing sent");
                r
            }
            "recv" => outcome(self.req.recv_timeout(SHORT)),
            "reply-from-asked-peer" => {
                self.router(self.asked)
                    .send_multipart([ID, b"", b"reply"], 0)
                    .unwrap();
                let r = self.req.recv_timeout(LONG);
                if let Ok(m) = &r {
                    assert_eq!(*m, "reply");
                }
                outcome(r)
            }
            "reply-from-other-peer" => {
                self.router(other)
                    .send_multipart([ID, b"", b"bogus"], 0)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                outcome(self.req.try_recv())
            }
            "reply-without-delimiter" => {
                self.router(self.asked)
                    .send_multipart([ID, b"bogus"], 0)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                outcome(self.req.try_recv())
            }
            "reply-without-body" => {
                self.router(self.asked)
                    .send_multipart([ID, b""], 0)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                outcome(self.req.try_recv())
            }
            "flood-without-delimiter" => {
                let router = self.routers[self.asked].take().unwrap();
                let req = &mut self.req;
                let (r, router) =
                    under_flood(router, &[ID, b"bogus"], || outcome(req.recv_timeout(SHORT)));
                self.routers[self.asked] = Some(router);
                r
            }
            "recv-times-out" => outcome(self.req.recv_timeout(SHORT)),
            "abandon" => {
                self.req.abandon_request();
                "ok"
            }
            "asked-peer-disconnects" => {
                self.routers[self.asked] = None;
                outcome(self.req.recv_timeout(LONG))
            }
            other => panic!("REQ harness does not know event `{other}`"),
        }
    }

    /// For the rows that discard a reply, the check then sends the genuine reply: it must
    /// still be delivered, which also shows the bogus one arrived and was dropped (for the
    /// asked peer, by the ordering of one connection) rather than merely delayed.
    fn check(&mut self, state: &str, event: &str) {
        match state {
            "idle" => assert_eq!(outcome(self.req.try_recv()), "wrong-state"),
            "waiting" => {
                assert_eq!(outcome(self.req.try_recv()), "would-block");
                if event.starts_with("reply-") || event == "send-after-unsolicited-message" {
                    self.router(self.asked)
                        .send_multipart([ID, b"", b"genuine"], 0)
                        .unwrap();
                    assert_eq!(self.req.recv_timeout(LONG).unwrap(), "genuine");
                }
            }
            other => panic!("REQ harness does not know state `{other}`"),
        }
        let _ = &self.zctx;
    }
}

struct RepWorld {
    _ctx: Context,
    _zctx: zmq::Context,
    rep: Socket,
    dealer: Option<zmq::Socket>,
}

impl RepWorld {
    fn new(state: &str) -> RepWorld {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut rep = ctx.socket(SocketType::Rep).unwrap();
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let dealer = zmq_socket(&zctx, zmq::DEALER);
        dealer.connect(rep.last_endpoint().unwrap()).unwrap();
        assert!(eventually(LONG, || rep.peer_count() == 1));
        let mut w = RepWorld {
            _ctx: ctx,
            _zctx: zctx,
            rep,
            dealer: Some(dealer),
        };
        match state {
            "idle" => {}
            "replying" => {
                // A request that came through two brokers: the reply must go back along both.
                w.dealer()
                    .send_multipart([&b"r1"[..], b"r2", b"", b"q"], 0)
                    .unwrap();
                assert_eq!(w.rep.recv_timeout(LONG).unwrap(), "q");
            }
            other => panic!("REP harness does not know state `{other}`"),
        }
        w
    }

    fn dealer(&self) -> &zmq::Socket {
        self.dealer.as_ref().unwrap()
    }

    fn event(&mut self, event: &str) -> &'static str {
        match event {
            "request-arrives" => {
                self.dealer()
                    .send_multipart([&b""[..], b"q1", b"q2"], 0)
                    .unwrap();
                let r = self.rep.recv_timeout(LONG);
                if let Ok(m) = &r {
                    assert_eq!(*m, ferromq::Message::from(["q1", "q2"]));
                }
                outcome(r)
            }
            "routed-request-arrives" => {
                self.dealer()
                    .send_multipart([&b"a"[..], b"b", b"c", b"", b"q"], 0)
                    .unwrap();
                let r = self.rep.recv_timeout(LONG);
                if let Ok(m) = &r {
                    assert_eq!(*m, "q");
                }
                outcome(r)
            }
            "request-without-delimiter" => {
                self.dealer()
                    .send_multipart([&b"no"[..], b"delimiter"], 0)
                    .unwrap();
                let r = outcome(self.rep.recv_timeout(Duration::from_millis(300)));
                // A valid request sent after it on the same connection arrives next: the
                // bad one was dropped, not merely slow.
                self.dealer()
                    .send_multipart([&b""[..], b"valid"], 0)
                    .unwrap();
                assert_eq!(self.rep.recv_timeout(LONG).unwrap(), "valid");
                self.rep.abandon_request();
                r
            }
            "request-without-body" => {
                self.dealer().send_multipart([&b""[..]], 0).unwrap();
                self.dealer().send_multipart([&b"r1"[..], b""], 0).unwrap();
                let r = outcome(self.rep.recv_timeout(Duration::from_millis(300)));
                self.dealer()
                    .send_multipart([&b""[..], b"valid"], 0)
                    .unwrap();
                assert_eq!(self.rep.recv_timeout(LONG).unwrap(), "valid");
                self.rep.abandon_request();
                r
            }
            "flood-without-delimiter" => {
                let dealer = self.dealer.take().unwrap();
                let rep = &mut self.rep;
                let (r, dealer) = under_flood(dealer, &[b"no", b"delimiter"], || {
                    outcome(rep.recv_timeout(SHORT))
                });
                self.dealer = Some(dealer);
                r
            }
            "send-empty" => empty_refused(self.rep.send(Message::new())),
            "send" => {
                let r = outcome(self.rep.send("a"));
                if r == "ok" {
                    let frames = self.dealer().recv_multipart(0).unwrap();
                    assert_eq!(
                        frames,
                        vec![b"r1".to_vec(), b"r2".to_vec(), Vec::new(), b"a".to_vec()]
                    );
                }
                r
            }
            "recv" => outcome(self.rep.try_recv()),
            "abandon" => {
                self.rep.abandon_request();
                "ok"
            }
            "requester-disconnects" => {
                self.dealer = None;
                assert!(eventually(LONG, || self.rep.peer_count() == 0));
                outcome(self.rep.send("a"))
            }
            other => panic!("REP harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str) {
        match state {
            "idle" => assert_eq!(outcome(self.rep.send("probe")), "wrong-state"),
            "replying" => assert_eq!(outcome(self.rep.try_recv()), "wrong-state"),
            other => panic!("REP harness does not know state `{other}`"),
        }
    }
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(s, e)| (s.to_string(), e.to_string()))
        .collect()
}

fn covered(rows: &[Row]) -> BTreeSet<(String, String)> {
    rows.iter()
        .map(|r| (r["state"].clone(), r["event"].clone()))
        .collect()
}

#[test]
fn req_follows_every_row_of_its_table() {
    let rows = table("reqrep.md", "REQ transition table");
    for row in &rows {
        let mut w = ReqWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"], &row["event"]);
    }
    let required = pairs(&[
        ("idle", "send"),
        ("idle", "send-after-unsolicited-message"),
        ("idle", "send-empty"),
        ("idle", "recv"),
        ("waiting", "send"),
        ("waiting", "reply-from-asked-peer"),
        ("waiting", "reply-from-other-peer"),
        ("waiting", "reply-without-delimiter"),
        ("waiting", "reply-without-body"),
        ("waiting", "flood-without-delimiter"),
        ("waiting", "recv-times-out"),
        ("waiting", "abandon"),
        ("waiting", "asked-peer-disconnects"),
    ]);
    let covered = covered(&rows);
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "reqrep.md lacks rows for {missing:?}");
}

#[test]
fn rep_follows_every_row_of_its_table() {
    let rows = table("reqrep.md", "REP transition table");
    for row in &rows {
        let mut w = RepWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    }
    let required = pairs(&[
        ("idle", "request-arrives"),
        ("idle", "routed-request-arrives"),
        ("idle", "request-without-delimiter"),
        ("idle", "request-without-body"),
        ("idle", "flood-without-delimiter"),
        ("idle", "send"),
        ("replying", "recv"),
        ("replying", "send"),
        ("replying", "send-empty"),
        ("replying", "abandon"),
        ("replying", "requester-disconnects"),
    ]);
    let covered = covered(&rows);
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "reqrep.md lacks rows for {missing:?}");
}

#[test]
fn compatible_peers_table_matches_the_code() {
    check_compatible_peers("reqrep.md");
}

/// A relaxed REQ (libzmq's `ZMQ_REQ_RELAXED`) against libzmq ROUTERs, for the
/// "REQ_RELAXED transition table".
struct RelaxedWorld {
    _ctx: Context,
    _zctx: zmq::Context,
    req: Socket,
    monitor: ferromq::Monitor,
    routers: Vec<Option<zmq::Socket>>,
    asked: usize,
    /// The envelope (every frame before the body) of each request sent, oldest first.
    envelopes: Vec<Vec<Vec<u8>>>,
}

impl RelaxedWorld {
    fn new(correlate: bool, peers: usize) -> RelaxedWorld {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut req = ctx.socket(SocketType::Req).unwrap();
        req.set_identity(ID).unwrap();
        req.set_relaxed(true).unwrap();
        req.set_correlate(correlate).unwrap();
        assert_eq!(req.req_options(), Some((true, correlate)));
        let monitor = req.monitor();
        let routers: Vec<Option<zmq::Socket>> = (0..peers)
            .map(|_| {
                let r = zmq_socket(&zctx, zmq::ROUTER);
                r.bind("tcp://127.0.0.1:*").unwrap();
                req.connect(&r.get_last_endpoint().unwrap().unwrap())
                    .unwrap();
                Some(r)
            })
            .collect();
        assert!(eventually(LONG, || req.peer_count() == peers));
        let mut w = RelaxedWorld {
            _ctx: ctx,
            _zctx: zctx,
            req,
            monitor,
            routers,
            asked: 0,
            envelopes: Vec::new(),
        };
        assert_eq!(w.send("request"), "ok");
        w
    }

    fn router(&self, i: usize) -> &zmq::Socket {
        self.routers[i].as_ref().unwrap()
    }

    /// Sends a request and finds out which ROUTER it went to, keeping its envelope.
    fn send(&mut self, body: &str) -> &'static str {
        let r = outcome(self.req.send(body));
        if r == "ok" {
            let live: Vec<usize> = (0..self.routers.len())
                .filter(|&i| self.routers[i].is_some())
                .collect();
            let mut items: Vec<_> = live
                .iter()
                .map(|&i| self.router(i).as_poll_item(zmq::POLLIN))
                .collect();
            assert_eq!(
                zmq::poll(&mut items, 10_000).unwrap(),
                1,
                "one ROUTER gets it"
            );
            let at = items.iter().position(|i| i.is_readable()).unwrap();
            self.asked = live[at];
            let mut frames = self.router(self.asked).recv_multipart(0).unwrap();
            assert_eq!(frames.pop().unwrap(), body.as_bytes());
            assert_eq!(frames[0], ID);
            self.envelopes.push(frames);
        }
        r
    }

    /// The asked ROUTER answers request number `n` (0 is the first) with `body`.
    fn answer(&self, n: usize, body: &[u8]) {
        let mut frames = self.envelopes[n].clone();
        frames.push(body.to_vec());
        self.router(self.asked).send_multipart(frames, 0).unwrap();
    }

    fn event(&mut self, event: &str) -> &'static str {
        match event {
            "send" => {
                let before = self.asked;
                let r = self.send("second");
                assert_ne!(self.asked, before, "the next peer in turn gets it");
                r
            }
            "send-then-late-reply" | "send-then-late-reply-uncorrelated" => {
                let r = self.send("second");
                // The reply to the request given up arrives after the new request left.
                self.answer(0, b"late");
                thread::sleep(Duration::from_millis(200));
                r
            }
            "recv-times-out" => outcome(self.req.recv_timeout(SHORT)),
            "abandon" => {
                self.req.abandon_request();
                "ok"
            }
            "asked-peer-disconnects" => {
                self.routers[self.asked] = None;
                outcome(self.req.recv_timeout(LONG))
            }
            other => panic!("relaxed REQ harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str, event: &str) {
        match state {
            "idle" => assert_eq!(outcome(self.req.try_recv()), "wrong-state"),
            "waiting" => {
                let last = self.envelopes.len() - 1;
                self.answer(last, b"genuine");
                let expected = if event == "send-then-late-reply-uncorrelated" {
                    "late"
                } else {
                    "genuine"
                };
                assert_eq!(self.req.recv_timeout(LONG).unwrap(), expected, "{event}");
            }
            other => panic!("relaxed REQ harness does not know state `{other}`"),
        }
        if event != "asked-peer-disconnects" {
            thread::sleep(Duration::from_millis(100));
            while let Ok(e) = self.monitor.try_recv() {
                assert!(
                    !matches!(e, ferromq::MonitorEvent::Disconnected { .. }),
                    "{event}: a relaxed REQ keeps its connections ({e:?})"
                );
            }
        }
    }
}

#[test]
fn relaxed_req_follows_every_row_of_its_table() {
    let rows = table("reqrep.md", "REQ_RELAXED transition table");
    for row in &rows {
        let event = row["event"].as_str();
        let correlate = !event.ends_with("-uncorrelated");
        let peers = if event.starts_with("send-then-late-reply") {
            1
        } else {
            2
        };
        let mut w = RelaxedWorld::new(correlate, peers);
        let got = w.event(event);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"], event);
    }
    let required = pairs(&[
        ("waiting", "send"),
        ("waiting", "send-then-late-reply"),
        ("waiting", "send-then-late-reply-uncorrelated"),
        ("waiting", "recv-times-out"),
        ("waiting", "abandon"),
        ("waiting", "asked-peer-disconnects"),
    ]);
    let covered = covered(&rows);
    let missing: Vec<_> = required.difference(&covered).collect();
    assert!(missing.is_empty(), "reqrep.md lacks rows for {missing:?}");
}
