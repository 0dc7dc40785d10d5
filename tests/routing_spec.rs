//! Drives DEALER, ROUTER and PAIR through every row of the tables in
//! `patterns/dealer-router.md` and `patterns/pair.md`.
//!
//! Each state is built for real over inproc with tiny high-water marks; each event is an
//! operation on the real sockets; the next state is then checked by probing the socket.
//! A row naming a state or event this harness does not know fails, and so does a
//! (state, event) pair the harness knows that the table does not list.

mod util;

use std::time::Duration;

use ferromq::{Context, Dealer, Error, Message, Pair, Router, SendError};
use util::spec::{all_pairs, check_compatible_peers, outcome, run_rows, table};
use util::{eventually, unique};

const SHORT: Duration = Duration::from_millis(60);
const LONG: Duration = Duration::from_secs(10);

/// A send's result as the ROUTER table writes it.
fn route_outcome(
    r: Result<(), SendError>,
    dropped_before: u64,
    dropped_after: u64,
) -> &'static str {
    match r {
        Ok(()) if dropped_after == dropped_before + 1 => "dropped",
        Ok(()) => {
            assert_eq!(dropped_after, dropped_before, "dropped more than one");
            "ok"
        }
        Err(e) if matches!(e.error(), Error::HostUnreachable) => "host-unreachable",
        Err(e) => outcome(Err::<(), _>(e)),
    }
}

fn missing_rows(
    file: &str,
    covered: &std::collections::BTreeSet<(String, String)>,
    required: std::collections::BTreeSet<(String, String)>,
) {
    let missing: Vec<_> = required.difference(covered).collect();
    assert!(missing.is_empty(), "{file} lacks rows for {missing:?}");
}

// ---------------------------------------------------------------------------------------
// Sending sides: DEALER (peers are ROUTERs), PAIR (peer is a PAIR).

/// The socket under test on the sending side.
enum Sender {
    Dealer(Dealer),
    Pair(Pair),
}

enum Peer {
    Router(Router),
    Pair(Pair),
}

impl Peer {
    fn recv(&mut self) -> ferromq::Result<Message> {
        match self {
            Peer::Router(r) => r.recv_timeout(LONG),
            Peer::Pair(p) => p.recv_timeout(LONG),
        }
    }
}

struct SendWorld {
    ctx: Context,
    name: String,
    sock: Sender,
    peers: Vec<Peer>,
    /// A conflating DEALER (`set_conflate(true)`): its peer holds the newest message only.
    conflating: bool,
}

impl SendWorld {
    fn new(kind: &str, state: &str) -> SendWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("routing-spec"));
        let sock = match kind {
            "DEALER" => {
                let mut s = ctx.dealer().unwrap();
                s.set_send_hwm(1);
                s.set_send_timeout(Some(SHORT));
                s.set_conflate(state == "conflating");
                s.bind(&name).unwrap();
                Sender::Dealer(s)
            }
            _ => {
                let mut s = ctx.pair().unwrap();
                s.set_send_hwm(1);
                s.set_send_timeout(Some(SHORT));
                s.bind(&name).unwrap();
                Sender::Pair(s)
            }
        };
        let mut w = SendWorld {
            ctx,
            name,
            sock,
            peers: Vec::new(),
            conflating: state == "conflating",
        };
        match state {
            "no-peers" | "no-peer" => {}
            "has-room" => w.attach(),
            "conflating" => {
                w.attach();
                assert_eq!(w.try_send_this("old"), "ok");
                assert_eq!(w.try_send(), "ok");
            }
            "all-full" | "peer-full" => {
                w.attach();
                w.fill();
            }
            other => panic!("{kind} harness does not know state `{other}`"),
        }
        w
    }

    fn peer_count(&mut self) -> usize {
        match &mut self.sock {
            Sender::Dealer(s) => s.peer_count(),
            Sender::Pair(s) => s.peer_count(),
        }
    }

    fn send(&mut self) -> &'static str {
        match &mut self.sock {
            Sender::Dealer(s) => outcome(s.send("m")),
            Sender::Pair(s) => outcome(s.send("m")),
        }
    }

    fn try_send(&mut self) -> &'static str {
        self.try_send_this("m")
    }

    fn try_send_this(&mut self, body: &'static str) -> &'static str {
        match &mut self.sock {
            Sender::Dealer(s) => outcome(s.try_send(body)),
            Sender::Pair(s) => outcome(s.try_send(body)),
        }
    }

    fn send_empty(&mut self) -> &'static str {
        let r = match &mut self.sock {
            Sender::Dealer(s) => s.send(Message::new()),
            Sender::Pair(s) => s.send(Message::new()),
        };
        if let Err(e) = &r {
            assert!(matches!(e.error(), Error::EmptyMessage), "{e}");
        }
        outcome(r.map_err(|e| {
            let (error, msg) = e.into_parts();
            assert!(msg.is_empty(), "the message comes back");
            error
        }))
    }

    fn new_peer(&self) -> Peer {
        match self.sock {
            Sender::Dealer(_) => {
                let mut r = self.ctx.router().unwrap();
                r.set_recv_hwm(1);
                r.connect(&self.name).unwrap();
                Peer::Router(r)
            }
            Sender::Pair(_) => {
                let mut p = self.ctx.pair().unwrap();
                p.set_recv_hwm(1);
                p.connect(&self.name).unwrap();
                Peer::Pair(p)
            }
        }
    }

    fn attach(&mut self) {
        let before = self.peer_count();
        let peer = self.new_peer();
        self.peers.push(peer);
        assert!(eventually(LONG, || self.peer_count() == before + 1));
    }

    fn fill(&mut self) {
        let mut sent = 0;
        while self.try_send() == "ok" {
            sent += 1;
            assert!(sent < 100, "high-water mark never reached");
        }
    }

    fn event(&mut self, event: &str) -> &'static str {
        match event {
            "send" => self.send(),
            "try-send" => self.try_send(),
            "send-empty" => self.send_empty(),
            "peer-attaches" => {
                self.attach();
                "ok"
            }
            "second-peer-attaches" => {
                let Peer::Pair(mut second) = self.new_peer() else {
                    panic!("second-peer-attaches is a PAIR event");
                };
                assert!(eventually(LONG, || second.peer_count() == 1));
                // The PAIR meets (and hangs up) the newcomer on its next call.
                if let Sender::Pair(s) = &mut self.sock {
                    let _ = s.try_recv();
                }
                assert!(matches!(second.recv_timeout(SHORT), Err(Error::TimedOut)));
                "ok"
            }
            "peer-fills" => {
                self.fill();
                "ok"
            }
            "peer-detaches" => {
                self.peers.clear();
                assert!(eventually(LONG, || self.peer_count() == 0));
                "ok"
            }
            "peer-drains" if self.conflating => {
                // The peer gets the newest message only: the one sent last replaced "old".
                let r = self.peers[0].recv();
                if let Ok(msg) = &r {
                    assert_eq!(&msg[msg.len() - 1][..], b"m", "{msg:?}");
                }
                let Peer::Router(router) = &mut self.peers[0] else {
                    unreachable!("a DEALER's peers are ROUTERs")
                };
                assert!(matches!(router.try_recv(), Err(Error::WouldBlock)));
                outcome(r)
            }
            "peer-drains" => outcome(self.peers[0].recv()),
            other => panic!("send harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str) {
        let peers = self.peer_count();
        match state {
            "no-peers" | "no-peer" => {
                assert_eq!(peers, 0);
                assert_eq!(self.try_send(), "would-block");
            }
            "has-room" => {
                assert!(peers > 0);
                assert_eq!(self.try_send(), "ok");
            }
            "all-full" | "peer-full" => {
                assert!(peers > 0);
                assert_eq!(self.try_send(), "would-block");
            }
            "conflating" => {
                // Never full: however many are sent, each send goes through.
                assert!(peers > 0);
                for _ in 0..3 {
                    assert_eq!(self.try_send(), "ok");
                }
            }
            other => panic!("send harness does not know state `{other}`"),
        }
    }
}

fn run_send_table(
    file: &str,
    heading: &str,
    kind: &str,
) -> std::collections::BTreeSet<(String, String)> {
    let rows = table(file, heading);
    run_rows(&rows, |row| {
        let mut w = SendWorld::new(kind, &row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    })
}

#[test]
fn dealer_send_follows_every_row_of_its_table() {
    let covered = run_send_table("dealer-router.md", "DEALER send table", "DEALER");
    let mut required = all_pairs(&["no-peers", "has-room", "all-full"], &["send", "try-send"]);
    required.extend(all_pairs(&["no-peers"], &["peer-attaches"]));
    required.extend(all_pairs(&["has-room"], &["peer-fills", "peer-detaches"]));
    required.extend(all_pairs(&["all-full"], &["peer-drains"]));
    required.extend(all_pairs(&["no-peers", "has-room"], &["send-empty"]));
    required.extend(all_pairs(
        &["conflating"],
        &["send", "try-send", "peer-drains"],
    ));
    missing_rows("dealer-router.md", &covered, required);
}

#[test]
fn pair_send_follows_every_row_of_its_table() {
    let covered = run_send_table("pair.md", "PAIR send table", "PAIR");
    let mut required = all_pairs(&["no-peer", "has-room", "peer-full"], &["send", "try-send"]);
    required.extend(all_pairs(&["no-peer"], &["peer-attaches"]));
    required.extend(all_pairs(
        &["has-room"],
        &["peer-fills", "peer-detaches", "second-peer-attaches"],
    ));
    required.extend(all_pairs(&["peer-full"], &["peer-drains"]));
    required.extend(all_pairs(&["no-peer", "has-room"], &["send-empty"]));
    missing_rows("pair.md", &covered, required);
}

// ---------------------------------------------------------------------------------------
// ROUTER sending: the state is that of the peer named `peer`.

struct RouterSendWorld {
    ctx: Context,
    name: String,
    router: Router,
    peer: Option<Dealer>,
}

impl RouterSendWorld {
    fn new(state: &str) -> RouterSendWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("router-spec"));
        let mut router = ctx.router().unwrap();
        router.set_send_hwm(1);
        router.set_send_timeout(Some(SHORT));
        router.bind(&name).unwrap();
        let mut w = RouterSendWorld {
            ctx,
            name,
            router,
            peer: None,
        };
        match state {
            "unknown-id" => {}
            "has-room" => w.attach(),
            "peer-full" => {
                w.attach();
                w.fill();
            }
            other => panic!("ROUTER harness does not know state `{other}`"),
        }
        w
    }

    fn attach(&mut self) {
        let mut d = self.ctx.dealer().unwrap();
        d.set_recv_hwm(1);
        d.set_identity("peer").unwrap();
        d.connect(&self.name).unwrap();
        self.peer = Some(d);
        assert!(eventually(LONG, || self.router.peer_count() == 1));
    }

    fn send_as(&mut self, mandatory: bool, wait: bool, msg: Message) -> &'static str {
        self.router.set_router_mandatory(mandatory);
        let before = self.router.dropped();
        let r = if wait {
            self.router.send(msg)
        } else {
            self.router.try_send(msg)
        };
        let after = self.router.dropped();
        self.router.set_router_mandatory(false);
        route_outcome(r, before, after)
    }

    fn probe(&mut self) -> &'static str {
        self.send_as(true, false, Message::from(["peer", "probe"]))
    }

    fn fill(&mut self) {
        let mut sent = 0;
        while self.probe() == "ok" {
            sent += 1;
            assert!(sent < 100, "high-water mark never reached");
        }
    }

    fn event(&mut self, event: &str) -> &'static str {
        let m = || Message::from(["peer", "m"]);
        match event {
            "send" => self.send_as(false, true, m()),
            "send-mandatory" => self.send_as(true, true, m()),
            "try-send-mandatory" => self.send_as(true, false, m()),
            "send-lone-id" => self.send_as(false, true, Message::from("peer")),
            "send-empty" => self.send_as(false, true, Message::new()),
            "peer-attaches" => {
                self.attach();
                "ok"
            }
            "peer-fills" => {
                self.fill();
                "ok"
            }
            "peer-detaches" => {
                self.peer = None;
                assert!(eventually(LONG, || self.router.peer_count() == 0));
                "ok"
            }
            "peer-drains" => {
                let peer = self.peer.as_mut().unwrap();
                outcome(peer.recv_timeout(LONG))
            }
            other => panic!("ROUTER harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str) {
        let expected = match state {
            "unknown-id" => "host-unreachable",
            "has-room" => "ok",
            "peer-full" => "would-block",
            other => panic!("ROUTER harness does not know state `{other}`"),
        };
        assert_eq!(self.probe(), expected, "state {state}");
    }
}

#[test]
fn router_send_follows_every_row_of_its_table() {
    let rows = table("dealer-router.md", "ROUTER send table");
    let covered = run_rows(&rows, |row| {
        let mut w = RouterSendWorld::new(&row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    let mut required = all_pairs(
        &["unknown-id", "has-room", "peer-full"],
        &["send", "send-mandatory"],
    );
    required.extend(all_pairs(&["unknown-id"], &["peer-attaches"]));
    required.extend(all_pairs(
        &["has-room"],
        &["send-lone-id", "send-empty", "peer-fills", "peer-detaches"],
    ));
    required.extend(all_pairs(
        &["peer-full"],
        &["try-send-mandatory", "peer-drains"],
    ));
    missing_rows("dealer-router.md", &covered, required);
}

// ---------------------------------------------------------------------------------------
// Receiving sides: DEALER and ROUTER (peer is a DEALER named `peer`), PAIR (peer is a PAIR).

enum Receiver {
    Dealer(Dealer),
    Router(Router),
    Pair(Pair),
}

struct RecvWorld {
    _ctx: Context,
    sock: Receiver,
    peer: Receiver,
}

impl RecvWorld {
    fn new(kind: &str, state: &str) -> RecvWorld {
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("recv-spec"));
        let sock = match kind {
            "DEALER" => {
                let mut s = ctx.dealer().unwrap();
                s.set_recv_timeout(Some(SHORT));
                s.set_conflate(matches!(state, "conflating" | "has-newest"));
                s.bind(&name).unwrap();
                Receiver::Dealer(s)
            }
            "ROUTER" => {
                let mut s = ctx.router().unwrap();
                s.set_recv_timeout(Some(SHORT));
                s.bind(&name).unwrap();
                Receiver::Router(s)
            }
            _ => {
                let mut s = ctx.pair().unwrap();
                s.set_recv_timeout(Some(SHORT));
                s.bind(&name).unwrap();
                Receiver::Pair(s)
            }
        };
        let peer = if kind == "PAIR" {
            let mut p = ctx.pair().unwrap();
            p.set_send_timeout(Some(LONG));
            p.connect(&name).unwrap();
            Receiver::Pair(p)
        } else {
            let mut d = ctx.dealer().unwrap();
            d.set_identity("peer").unwrap();
            d.set_send_timeout(Some(LONG));
            d.connect(&name).unwrap();
            Receiver::Dealer(d)
        };
        let mut w = RecvWorld {
            _ctx: ctx,
            sock,
            peer,
        };
        match state {
            "empty" | "conflating" => {}
            "has-messages" => assert_eq!(w.peer_sends(), "ok"),
            "has-newest" => assert_eq!(w.peer_sends_many(), "ok"),
            other => panic!("{kind} receive harness does not know state `{other}`"),
        }
        w
    }

    fn peer_sends(&mut self) -> &'static str {
        match &mut self.peer {
            Receiver::Dealer(d) => outcome(d.send(["m", "n"])),
            Receiver::Pair(p) => outcome(p.send(["m", "n"])),
            Receiver::Router(_) => unreachable!("peers are DEALER or PAIR"),
        }
    }

    /// Two older messages, then the one `recv` checks for.
    fn peer_sends_many(&mut self) -> &'static str {
        let Receiver::Dealer(d) = &mut self.peer else {
            unreachable!("only the DEALER's table has conflating rows")
        };
        for old in ["old 1", "old 2"] {
            assert_eq!(outcome(d.send([old, "n"])), "ok");
        }
        self.peer_sends()
    }

    /// Receives and checks the message is the one sent, with the routing id for ROUTER.
    fn recv(&mut self, wait: bool) -> &'static str {
        let (r, prefix): (_, &[&str]) = match &mut self.sock {
            Receiver::Dealer(s) => (if wait { s.recv() } else { s.try_recv() }, &[]),
            Receiver::Pair(s) => (if wait { s.recv() } else { s.try_recv() }, &[]),
            Receiver::Router(s) => (if wait { s.recv() } else { s.try_recv() }, &["peer"]),
        };
        if let Ok(msg) = &r {
            let expected: Vec<&str> = prefix.iter().copied().chain(["m", "n"]).collect();
            assert_eq!(msg, &Message::from(expected));
        }
        outcome(r)
    }

    fn event(&mut self, event: &str) -> &'static str {
        match event {
            "recv" => self.recv(true),
            "try-recv" => self.recv(false),
            "peer-sends" => self.peer_sends(),
            "peer-sends-many" => self.peer_sends_many(),
            other => panic!("receive harness does not know event `{other}`"),
        }
    }

    fn check(&mut self, state: &str) {
        match state {
            "empty" => assert_eq!(self.recv(false), "would-block"),
            // Over inproc the peer's message is queued as soon as its send returns.
            "has-messages" => assert_eq!(self.recv(false), "ok"),
            "conflating" => assert_eq!(self.recv(false), "would-block"),
            // The newest only: `recv` checks it is the last one sent, and nothing is left.
            "has-newest" => {
                assert_eq!(self.recv(false), "ok");
                assert_eq!(self.recv(false), "would-block");
            }
            other => panic!("receive harness does not know state `{other}`"),
        }
    }
}

fn run_recv_table(file: &str, heading: &str, kind: &str, extra: &[(&str, &str)]) {
    let rows = table(file, heading);
    let covered = run_rows(&rows, |row| {
        let mut w = RecvWorld::new(kind, &row["state"]);
        let got = w.event(&row["event"]);
        assert_eq!(got, row["result"], "row {row:?}");
        w.check(&row["next state"]);
    });
    let mut required = all_pairs(&["empty", "has-messages"], &["recv", "try-recv"]);
    required.extend(all_pairs(&["empty"], &["peer-sends"]));
    required.extend(extra.iter().map(|&(a, b)| (a.to_string(), b.to_string())));
    missing_rows(file, &covered, required);
}

#[test]
fn dealer_receive_follows_every_row_of_its_table() {
    run_recv_table(
        "dealer-router.md",
        "DEALER receive table",
        "DEALER",
        &[
            ("conflating", "peer-sends-many"),
            ("has-newest", "recv"),
            ("has-newest", "try-recv"),
        ],
    );
}

#[test]
fn router_receive_follows_every_row_of_its_table() {
    run_recv_table("dealer-router.md", "ROUTER receive table", "ROUTER", &[]);
}

#[test]
fn pair_receive_follows_every_row_of_its_table() {
    run_recv_table("pair.md", "PAIR receive table", "PAIR", &[]);
}

#[test]
fn compatible_peers_tables_match_the_code() {
    check_compatible_peers("dealer-router.md");
    check_compatible_peers("pair.md");
}

/// What the ROUTER receives within a short wait: `id-and-empty` or `nothing`.
fn router_sees(router: &mut Router) -> &'static str {
    match router.recv_timeout(SHORT) {
        Ok(msg) => {
            assert_eq!(msg.len(), 2, "{msg:?}");
            assert_eq!(&msg[0][..], b"peer");
            assert!(msg[1].is_empty(), "{msg:?}");
            "id-and-empty"
        }
        Err(Error::TimedOut) => "nothing",
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn router_notifications_and_probes_follow_every_row_of_their_table() {
    let rows = table("dealer-router.md", "ROUTER notifications and probes");
    let mut covered = Vec::new();
    for row in &rows {
        let (option, event) = (row["option"].as_str(), row["event"].as_str());
        let ctx = Context::new();
        let name = format!("inproc://{}", unique("notify-spec"));
        let mut router = ctx.router().unwrap();
        match option {
            "none" | "peer-probes" => {}
            "notify-connect" => router.set_router_notify(true, false),
            "notify-disconnect" => router.set_router_notify(false, true),
            other => panic!("notification harness does not know option `{other}`"),
        }
        router.bind(&name).unwrap();
        let mut dealer = ctx.dealer().unwrap();
        dealer.set_identity("peer").unwrap();
        dealer.set_probe_router(option == "peer-probes");
        dealer.connect(&name).unwrap();
        let got = match event {
            "peer-attaches" => router_sees(&mut router),
            "peer-detaches" => {
                // Whatever the attach brought is not this row's business.
                let _ = router_sees(&mut router);
                drop(dealer);
                router_sees(&mut router)
            }
            other => panic!("notification harness does not know event `{other}`"),
        };
        assert_eq!(got, row["the ROUTER receives"], "row {row:?}");
        covered.push((option.to_owned(), event.to_owned()));
    }
    for option in ["none", "notify-connect", "notify-disconnect"] {
        for event in ["peer-attaches", "peer-detaches"] {
            assert!(
                covered.contains(&(option.to_owned(), event.to_owned())),
                "no row for {option} / {event}"
            );
        }
    }
}

/// What routing id a ROUTER gives the DEALER it connected to: `announced`, `given` or
/// `generated`, from the first message the DEALER sends.
fn name_of_first_sender(router: &mut Router, expected_body: &str) -> &'static str {
    let msg = router.recv_timeout(LONG).unwrap();
    assert_eq!(&msg[1][..], expected_body.as_bytes());
    match &msg[0][..] {
        b"announced" => "announced",
        b"given-id" => "given",
        id if id.len() == 5 && id[0] == 0 => "generated",
        other => panic!("unexpected routing id {other:?}"),
    }
}

#[test]
fn connect_routing_ids_follow_every_row_of_their_table() {
    let rows = table("dealer-router.md", "Naming the peer of a connect");
    let mut covered = Vec::new();
    for row in &rows {
        let (option, announces) = (row["option"].as_str(), row["peer announces"].as_str());
        let ctx = Context::new();
        let mut router = ctx.router().unwrap();
        router.set_router_handover(option.ends_with("-handover"));
        // Another peer holding the name first stays connected for the row.
        let mut _holder = None;
        if option.starts_with("connect-routing-id-taken") {
            // Another peer holds the name first.
            let name = format!("inproc://{}", unique("rid-holder"));
            let mut holder = ctx.dealer().unwrap();
            holder.bind(&name).unwrap();
            router
                .set_connect_routing_id(Some("given-id".into()))
                .unwrap();
            router.connect(&name).unwrap();
            holder.send("holder").unwrap();
            assert_eq!(name_of_first_sender(&mut router, "holder"), "given");
            _holder = Some(holder);
        }
        let name = format!("inproc://{}", unique("rid-spec"));
        let mut dealer = ctx.dealer().unwrap();
        if announces == "identity" {
            dealer.set_identity("announced").unwrap();
        }
        dealer.bind(&name).unwrap();
        if option != "none" {
            router
                .set_connect_routing_id(Some("given-id".into()))
                .unwrap();
        }
        router.connect(&name).unwrap();
        assert!(
            router.connect_routing_id().is_none(),
            "used up by the connect"
        );
        dealer.set_send_timeout(Some(LONG));
        dealer.send("hi").unwrap();
        let got = name_of_first_sender(&mut router, "hi");
        assert_eq!(got, row["the ROUTER names it"], "row {row:?}");
        covered.push((option.to_owned(), announces.to_owned()));
    }
    for option in ["none", "connect-routing-id"] {
        for announces in ["identity", "nothing"] {
            assert!(
                covered.contains(&(option.to_owned(), announces.to_owned())),
                "no row for {option} / {announces}"
            );
        }
    }
}

/// What a socket receives within a short wait, as the lifecycle table writes it.
fn lifecycle_seen(msg: ferromq::Result<Message>) -> String {
    match msg {
        Ok(m) => {
            let frames: Vec<String> = m
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            match frames.as_slice() {
                [id, body] if id == "peer" => format!("id-and-{body}"),
                [body] => body.clone(),
                other => panic!("unexpected {other:?}"),
            }
        }
        Err(Error::TimedOut) => "nothing".to_owned(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn hello_disconnect_and_hiccup_messages_follow_every_row_of_their_table() {
    const WAIT: Duration = Duration::from_millis(300);
    let rows = table("dealer-router.md", "Hello, disconnect and hiccup messages");
    let mut covered = Vec::new();
    for row in &rows {
        let (socket, option, event) = (
            row["socket"].as_str(),
            row["option"].as_str(),
            row["event"].as_str(),
        );
        let ctx = Context::new();
        let got = match socket {
            "ROUTER" => {
                // The ROUTER under test binds; its peer is a DEALER named "peer".
                let mut router = ctx.router().unwrap();
                if option == "disconnect-msg" {
                    router.set_disconnect_msg(Some("bye".into()));
                }
                router.bind("tcp://127.0.0.1:*").unwrap();
                let mut dealer = ctx.dealer().unwrap();
                dealer.set_identity("peer").unwrap();
                if option == "peer-hello" {
                    dealer.set_hello_msg(Some("hello".into()));
                }
                dealer.connect(router.last_endpoint().unwrap()).unwrap();
                assert!(eventually(LONG, || router.peer_count() == 1));
                match event {
                    "peer-attaches" => lifecycle_seen(router.recv_timeout(WAIT)),
                    "accepted-peer-detaches" => {
                        let _ = router.recv_timeout(WAIT);
                        drop(dealer);
                        lifecycle_seen(router.recv_timeout(WAIT.max(LONG / 10)))
                    }
                    other => panic!("lifecycle harness does not know event `{other}`"),
                }
            }
            "DEALER" => {
                // The DEALER under test connects to a ROUTER.
                let mut router = ctx.router().unwrap();
                if option == "peer-hello" {
                    router.set_hello_msg(Some("hello".into()));
                }
                router.bind("tcp://127.0.0.1:*").unwrap();
                let mut dealer = ctx.dealer().unwrap();
                if option == "hiccup-msg" {
                    dealer.set_hiccup_msg(Some("hiccup".into()));
                }
                dealer.connect(router.last_endpoint().unwrap()).unwrap();
                assert!(eventually(LONG, || dealer.peer_count() == 1));
                match event {
                    "peer-attaches" => lifecycle_seen(dealer.recv_timeout(WAIT)),
                    "connection-drops" => {
                        let _ = dealer.recv_timeout(WAIT);
                        drop(router);
                        lifecycle_seen(dealer.recv_timeout(WAIT.max(LONG / 10)))
                    }
                    other => panic!("lifecycle harness does not know event `{other}`"),
                }
            }
            other => panic!("lifecycle harness does not know socket `{other}`"),
        };
        assert_eq!(got, row["the socket receives"], "row {row:?}");
        covered.push(option.to_owned());
    }
    for option in ["peer-hello", "disconnect-msg", "hiccup-msg", "none"] {
        assert!(covered.iter().any(|c| c == option), "no row for {option}");
    }
}
