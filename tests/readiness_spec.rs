//! Drives every row of the "Poll readiness" tables in `patterns/*.md`: builds the row's
//! situation over inproc with real sockets (STREAM's over tcp, with plain `TcpStream`
//! clients, as STREAM takes no inproc), polls the socket for both interests and
//! compares with the row. A row whose situation has no driver here fails the test, so the
//! tables cannot list what is not checked.

mod util;

use std::time::Duration;

use ferromq::{poll, Context, Interest, PollItem, Socket, SocketType};
use util::spec::{socket_type, table};

const YES: Duration = Duration::from_secs(5);
const NO: Duration = Duration::from_millis(50);
const SPECS: [&str; 6] = [
    "pipeline.md",
    "reqrep.md",
    "dealer-router.md",
    "pair.md",
    "pubsub.md",
    "stream.md",
];

/// The socket under test, bound, and whatever must stay alive with it.
struct Scene {
    socket: Socket,
    _keep: Vec<Socket>,
    /// A STREAM's plain clients.
    _clients: Vec<std::net::TcpStream>,
}

fn socket(ctx: &Context, kind: SocketType) -> Socket {
    let mut s = ctx.socket(kind).unwrap();
    s.set_send_timeout(Some(YES));
    s.set_recv_timeout(Some(YES));
    s
}

/// The socket under test bound on a fresh inproc name; `peer` (if any) connected to it.
fn bound_with(ctx: &Context, kind: SocketType, peer: Option<Socket>) -> (Socket, Option<Socket>) {
    let mut s = socket(ctx, kind);
    let name = format!("inproc://{}", util::unique("readiness"));
    s.bind(&name).unwrap();
    let peer = peer.map(|mut p| {
        p.connect(&name).unwrap();
        p
    });
    (s, peer)
}

/// Builds the situation a row describes.
fn scene(ctx: &Context, kind: SocketType, situation: &str) -> Scene {
    use SocketType::*;
    let peer_of = |kind: SocketType| match kind {
        Push => Pull,
        Pull => Push,
        Req => Rep,
        Rep => Req,
        Dealer => Router,
        Router => Dealer,
        Pair => Pair,
        Pub => Sub,
        Sub => Pub,
        XPub => Sub,
        XSub => Pub,
        other => panic!("no peer type for {other}"),
    };
    let alone = |s: Socket| Scene {
        socket: s,
        _keep: Vec::new(),
        _clients: Vec::new(),
    };
    let with_peer = || {
        let (s, p) = bound_with(ctx, kind, Some(socket(ctx, peer_of(kind))));
        (s, p.unwrap())
    };
    let scene = |s: Socket, p: Socket| Scene {
        socket: s,
        _keep: vec![p],
        _clients: Vec::new(),
    };
    if kind == Stream {
        return stream_scene(ctx, situation);
    }
    match (kind, situation) {
        (_, "no peer" | "idle, no peer") => alone(bound_with(ctx, kind, None).0),
        (
            _,
            "peer with room"
            | "idle, peer with room"
            | "peer, nothing queued"
            | "nothing queued"
            | "idle, nothing queued",
        ) => {
            let (s, p) = with_peer();
            scene(s, p)
        }
        (Push, "every peer full") => {
            let mut s = socket(ctx, Push);
            s.set_send_hwm(1);
            let mut p = socket(ctx, Pull);
            p.set_recv_hwm(1);
            let (mut s, p) = bound_with_socket(s, p);
            while s.try_send("fill").is_ok() {}
            scene(s, p)
        }
        (Pull | Pair, "message queued") => {
            let (s, mut p) = with_peer();
            p.send("m").unwrap();
            scene(s, p)
        }
        (Dealer, "message queued") => {
            // The ROUTER peer needs the dealer's routing id: it learns it from a hello.
            let (mut s, mut p) = with_peer();
            s.send("hello").unwrap();
            let hello = p.recv().unwrap();
            p.send(vec![hello[0].clone(), ferromq::Frame::from("m")])
                .unwrap();
            scene(s, p)
        }
        (Router, "message queued") => {
            let (s, mut p) = with_peer();
            p.send("m").unwrap();
            scene(s, p)
        }
        (Router, "mandatory, no peer") => {
            let (mut s, _) = bound_with(ctx, Router, None);
            s.set_router_mandatory(true).unwrap();
            alone(s)
        }
        (Router, "mandatory, peer with room") => {
            let (mut s, p) = with_peer();
            s.set_router_mandatory(true).unwrap();
            scene(s, p)
        }
        (Req, "request sent, no reply yet") => {
            let (mut s, p) = with_peer();
            s.send("q").unwrap();
            scene(s, p)
        }
        (Req, "reply queued") => {
            let (mut s, mut p) = with_peer();
            s.send("q").unwrap();
            p.recv().unwrap();
            p.send("a").unwrap();
            scene(s, p)
        }
        (Req, "asked peer left after taking the request") => {
            let (mut s, mut p) = with_peer();
            s.send("q").unwrap();
            p.recv().unwrap();
            drop(p);
            alone(s)
        }
        (Rep, "request queued") => {
            let (s, mut p) = with_peer();
            p.send("q").unwrap();
            scene(s, p)
        }
        (Rep, "request received, requester has room") => {
            let (mut s, mut p) = with_peer();
            p.send("q").unwrap();
            s.recv().unwrap();
            scene(s, p)
        }
        (Sub, "only unmatched messages queued" | "matching message queued") => {
            // The publisher filters too, so a message the SUB no longer wants is made by
            // cancelling its topic after the message has arrived.
            let mut publisher = socket(ctx, Pub);
            let name = format!("inproc://{}", util::unique("readiness-pub"));
            publisher.bind(&name).unwrap();
            let mut s = socket(ctx, Sub);
            s.subscribe("keep").unwrap();
            s.subscribe("drop").unwrap();
            s.connect(&name).unwrap();
            // Over inproc the subscriptions are in the publisher's queue once the SUB has
            // greeted it (on its next call), and the publisher applies them before routing.
            let _ = s.try_recv();
            if situation == "matching message queued" {
                publisher.send("keep 1").unwrap();
            } else {
                publisher.send("drop 1").unwrap();
                s.unsubscribe("drop").unwrap();
            }
            scene(s, publisher)
        }
        (Pub | XPub, "nodrop, a subscriber full") => {
            let mut s = socket(ctx, kind);
            s.set_xpub_nodrop(true).unwrap();
            s.set_send_hwm(1);
            let mut p = socket(ctx, Sub);
            p.set_recv_hwm(1);
            p.subscribe("").unwrap();
            let (mut s, p) = bound_with_socket(s, p);
            while s.try_send("fill").is_ok() {}
            // Taken in, so only the full queue is left to judge.
            let _ = s.try_recv();
            scene(s, p)
        }
        (XPub, "subscription queued") => {
            let (s, mut p) = with_peer();
            p.subscribe("t").unwrap();
            scene(s, p)
        }
        (XSub, "message queued") => {
            let mut publisher = socket(ctx, Pub);
            let name = format!("inproc://{}", util::unique("readiness-xsub"));
            publisher.bind(&name).unwrap();
            let mut s = socket(ctx, XSub);
            s.connect(&name).unwrap();
            s.send("\x01").unwrap(); // subscribe to everything
            publisher.send("m").unwrap();
            scene(s, publisher)
        }
        _ => panic!("no driver for the row `{kind} | {situation}`: add one to this test"),
    }
}

/// A STREAM bound on loopback tcp, in the situation a row of `stream.md` describes.
fn stream_scene(ctx: &Context, situation: &str) -> Scene {
    use std::io::Write;
    let mut s = socket(ctx, SocketType::Stream);
    s.bind("tcp://127.0.0.1:*").unwrap();
    let addr = s.last_endpoint().unwrap()["tcp://".len()..].to_owned();
    let mut clients = Vec::new();
    let mut connect = || {
        let c = std::net::TcpStream::connect(&addr).unwrap();
        c.set_write_timeout(Some(YES)).unwrap();
        clients.push(c);
    };
    match situation {
        "no connection" => {}
        "connection notice waiting" => {
            connect();
            // Wait for the connection to be taken in (its notice is then queued).
            assert!(util::eventually(YES, || s.peer_count() == 1));
        }
        "notice read, nothing queued" => {
            connect();
            let notice = s.recv().unwrap();
            assert!(notice[1].is_empty());
        }
        "bytes queued" => {
            connect();
            let notice = s.recv().unwrap();
            assert!(notice[1].is_empty());
            clients[0].write_all(b"bytes").unwrap();
            // Peek by polling until the bytes are in; the row's poll then looks again.
            assert!(util::eventually(YES, || {
                poll(&mut [PollItem::new(&mut s, Interest::READABLE)], Some(NO)).is_readable(0)
            }));
        }
        _ => panic!("no driver for the row `STREAM | {situation}`: add one to this test"),
    }
    Scene {
        socket: s,
        _keep: Vec::new(),
        _clients: clients,
    }
}

/// Binds `s`, connects `p` to it.
fn bound_with_socket(mut s: Socket, mut p: Socket) -> (Socket, Socket) {
    let name = format!("inproc://{}", util::unique("readiness"));
    s.bind(&name).unwrap();
    p.connect(&name).unwrap();
    (s, p)
}

fn flag(cell: &str) -> bool {
    match cell {
        "yes" => true,
        "no" => false,
        other => panic!("readiness cell `{other}` must be yes or no"),
    }
}

#[test]
fn every_poll_readiness_row_holds() {
    let mut rows = 0;
    for file in SPECS {
        for row in table(file, "Poll readiness") {
            let kind = socket_type(&row["socket"]);
            let situation = row["situation"].as_str();
            let mut expected = Interest::NONE;
            if flag(&row["readable"]) {
                expected = expected | Interest::READABLE;
            }
            if flag(&row["writable"]) {
                expected = expected | Interest::WRITABLE;
            }
            let ctx = Context::new();
            let mut scene = scene(&ctx, kind, situation);
            let wait = if expected.is_empty() { NO } else { YES };
            let ready = poll(
                &mut [PollItem::new(&mut scene.socket, Interest::BOTH)],
                Some(wait),
            );
            // A poll returns as soon as one interest holds; look again at once for the
            // other, so a row expecting both is judged on both.
            let again = poll(
                &mut [PollItem::new(&mut scene.socket, Interest::BOTH)],
                Some(Duration::ZERO),
            );
            let got = ready.get(0) | again.get(0);
            assert_eq!(got, expected, "{file}: {kind} | {situation}");
            rows += 1;
        }
    }
    assert!(rows >= 30, "only {rows} readiness rows found");
}
