//! CURVE against real libzmq 4.3.5 (pyzmq's, which is built with CURVE; the `zmq` crate's
//! vendored libzmq is not): both roles, both bind directions, tcp and ipc, multipart and
//! 1 MiB messages checked byte by byte, PUB/SUB subscriptions and heartbeats inside
//! MESSAGE, and a wrong server key failing on both sides. The pyzmq peer runs in a python3
//! subprocess; under `CI=true` a missing pyzmq fails the tests, elsewhere they say so and
//! pass. Every blocking call is bounded.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use ferromq::{Context, CurveKeyPair, Message, MonitorEvent, Socket, SocketType};
use util::{eventually, ipc_endpoint};

const LIMIT: Duration = Duration::from_secs(10);

/// pyzmq with CURVE, or why the test cannot run (see [`util::python_with_pyzmq`]).
fn python_with_curve() -> bool {
    util::python_with_pyzmq(true).is_some()
}

/// The libzmq peer. Its one argument is `key=value` pairs separated by `;`:
/// `type` (REP, ROUTER, PUB, SUB, DEALER), `bind` or `connect` (an endpoint; after a bind
/// it prints the endpoint it got), `server` (its CURVE secret key: it is the server) or
/// `serverkey`/`public`/`secret` (it is a client), `count` (messages to handle),
/// `heartbeat` (ZMQ_HEARTBEAT_IVL in ms), `topic` (SUB: what to subscribe to).
/// REP and ROUTER echo `count` messages; PUB publishes `topic`-prefixed messages until a
/// line arrives on stdin; SUB prints what it receives. Each event it prints is one line.
const PY_PEER: &str = r#"
import sys, time, zmq, zmq.utils.monitor
cfg = dict(kv.split("=", 1) for kv in sys.argv[1].split(";") if kv)
ctx = zmq.Context()
s = ctx.socket(getattr(zmq, cfg["type"]))
s.setsockopt(zmq.LINGER, 2000)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.setsockopt(zmq.SNDTIMEO, 10000)
if "heartbeat" in cfg:
    s.setsockopt(zmq.HEARTBEAT_IVL, int(cfg["heartbeat"]))
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * int(cfg["heartbeat"]))
if "server" in cfg:
    s.curve_server = True
    s.curve_secretkey = cfg["server"].encode()
if "serverkey" in cfg:
    s.curve_serverkey = cfg["serverkey"].encode()
    s.curve_publickey = cfg["public"].encode()
    s.curve_secretkey = cfg["secret"].encode()
mon = s.get_monitor_socket()
if "bind" in cfg:
    s.bind(cfg["bind"])
    print("endpoint " + s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
else:
    s.connect(cfg["connect"])
count = int(cfg.get("count", "0"))
kind = cfg["type"]
try:
    if kind in ("REP", "ROUTER"):
        for _ in range(count):
            s.send_multipart(s.recv_multipart(copy=True))
        print("echoed %d" % count, flush=True)
    elif kind == "SUB":
        s.setsockopt(zmq.SUBSCRIBE, cfg["topic"].encode())
        for _ in range(count):
            print("got " + s.recv().decode(), flush=True)
    elif kind == "DEALER":
        time.sleep(1)
    elif kind == "PUB":
        import select
        n = 0
        while True:
            r, _, _ = select.select([sys.stdin], [], [], 0.02)
            if r:
                break
            s.send(b"news %d" % n)
            s.send(b"other %d" % n)
            n += 1
except zmq.Again:
    print("timed out", flush=True)
# Report the handshake events seen.
while mon.poll(100):
    ev = zmq.utils.monitor.recv_monitor_message(mon)
    print("event %d" % ev["event"], flush=True)
s.disable_monitor()
mon.close()
s.close()
ctx.term()
"#;

/// A running pyzmq peer and its output lines.
struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Peer {
    fn start(config: &str) -> Peer {
        let mut child = Command::new("python3")
            .args(["-c", PY_PEER, config])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        Peer { child, out }
    }

    /// The next line the peer prints (empty once it ended).
    fn line(&mut self) -> String {
        let mut line = String::new();
        let _ = self.out.read_line(&mut line);
        line.trim().to_owned()
    }

    /// The endpoint a binding peer printed.
    fn endpoint(&mut self) -> String {
        let line = self.line();
        line.strip_prefix("endpoint ")
            .unwrap_or_else(|| panic!("expected the endpoint, got {line:?}"))
            .to_owned()
    }

    /// Everything else it prints, until it exits.
    fn rest(mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        let _ = self.child.wait();
        lines
    }
}

/// libzmq's ZMQ_EVENT_HANDSHAKE_SUCCEEDED and ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL.
const ZMQ_EVENT_HANDSHAKE_SUCCEEDED: u32 = 0x1000;
const ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: u32 = 0x2000;

fn events(lines: &[String]) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("event ")?.parse().ok())
        .collect()
}

/// Keys for one run: the server's pair and the client's pair.
struct Keys {
    server: CurveKeyPair,
    client: CurveKeyPair,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            server: CurveKeyPair::generate().unwrap(),
            client: CurveKeyPair::generate().unwrap(),
        }
    }

    /// The pyzmq settings of a CURVE server.
    fn py_server(&self) -> String {
        format!("server={}", &*self.server.secret().to_z85())
    }

    /// The pyzmq settings of a CURVE client of this server.
    fn py_client(&self) -> String {
        format!(
            "serverkey={};public={};secret={}",
            self.server.public(),
            self.client.public(),
            &*self.client.secret().to_z85()
        )
    }

    /// Makes our socket the server or the client.
    fn apply(&self, socket: &mut Socket, server: bool) {
        if server {
            socket.set_curve_server(self.server.secret());
        } else {
            socket.set_curve_client(self.server.public(), &self.client);
        }
    }
}

/// Messages checked byte by byte after the round trip: one frame, several frames (one of
/// them empty), and 1 MiB of varied bytes.
fn messages() -> Vec<Message> {
    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i * 31 % 253) as u8).collect();
    vec![
        Message::from("hello over curve"),
        Message::from(["first", "", "third part"]),
        Message::from(big),
    ]
}

/// Our initiator (REQ or DEALER) against a pyzmq echo (REP or ROUTER), with the given
/// CURVE roles, bind direction and transport.
fn echo_case(ours: SocketType, we_are_server: bool, we_bind: bool, ipc: bool) {
    let keys = Keys::new();
    let theirs = if ours == SocketType::Req {
        "REP"
    } else {
        "ROUTER"
    };
    let ctx = Context::new();
    let mut socket = ctx.socket(ours).unwrap();
    keys.apply(&mut socket, we_are_server);
    let monitor = socket.monitor();
    let py_role = if we_are_server {
        keys.py_client()
    } else {
        keys.py_server()
    };
    let sent = messages();
    let count = sent.len();
    let mut peer;
    if we_bind {
        let at = if ipc {
            ipc_endpoint("curve")
        } else {
            "tcp://127.0.0.1:*".into()
        };
        socket.bind(&at).unwrap();
        let endpoint = socket.last_endpoint().unwrap().to_owned();
        peer = Peer::start(&format!(
            "type={theirs};connect={endpoint};count={count};{py_role}"
        ));
    } else {
        let at = if ipc {
            ipc_endpoint("curve")
        } else {
            "tcp://127.0.0.1:0".into()
        };
        peer = Peer::start(&format!("type={theirs};bind={at};count={count};{py_role}"));
        socket.connect(&peer.endpoint()).unwrap();
    }
    socket.set_recv_timeout(Some(LIMIT));
    for m in &sent {
        socket.send(m.clone()).unwrap();
        let back = socket.recv().unwrap();
        assert_eq!(
            &back, m,
            "{ours:?} server={we_are_server} bind={we_bind} ipc={ipc}"
        );
    }
    let lines = peer.rest();
    assert!(lines.contains(&format!("echoed {count}")), "{lines:?}");
    assert!(
        events(&lines).contains(&ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
        "{lines:?}"
    );
    let succeeded = eventually(LIMIT, || {
        matches!(
            monitor.try_recv(),
            Ok(MonitorEvent::HandshakeSucceeded { .. })
        )
    });
    assert!(succeeded, "our monitor saw the handshake succeed");
}

#[test]
fn req_rep_over_curve_with_libzmq_in_every_role_and_direction() {
    if !python_with_curve() {
        return;
    }
    for we_are_server in [false, true] {
        for we_bind in [false, true] {
            for ipc in [false, true] {
                echo_case(SocketType::Req, we_are_server, we_bind, ipc);
            }
        }
    }
}

#[test]
fn dealer_router_over_curve_with_libzmq_in_every_role_and_direction() {
    if !python_with_curve() {
        return;
    }
    for we_are_server in [false, true] {
        for we_bind in [false, true] {
            for ipc in [false, true] {
                echo_case(SocketType::Dealer, we_are_server, we_bind, ipc);
            }
        }
    }
}

#[test]
fn our_subscriber_filters_a_libzmq_curve_publisher() {
    if !python_with_curve() {
        return;
    }
    let keys = Keys::new();
    let mut peer = Peer::start(&format!(
        "type=PUB;bind=tcp://127.0.0.1:0;{}",
        keys.py_server()
    ));
    let ctx = Context::new();
    let mut sub = ctx.subscriber().unwrap();
    sub.set_curve_client(keys.server.public(), &keys.client);
    sub.connect(&peer.endpoint()).unwrap();
    sub.subscribe("news");
    // The subscription travels inside MESSAGE; only "news" messages come back.
    for _ in 0..20 {
        let m = sub.recv_timeout(LIMIT).unwrap();
        assert!(m.first().is_some_and(|f| f.starts_with(b"news ")), "{m:?}");
    }
    sub.unsubscribe("news");
    use std::io::Write;
    let _ = peer.child.stdin.as_mut().map(|i| i.write_all(b"stop\n"));
    let lines = peer.rest();
    assert!(
        events(&lines).contains(&ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
        "{lines:?}"
    );
}

#[test]
fn a_libzmq_curve_subscriber_gets_what_it_asked_our_publisher_for() {
    if !python_with_curve() {
        return;
    }
    let keys = Keys::new();
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.set_curve_server(keys.server.secret());
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publisher.last_endpoint().unwrap().to_owned();
    let peer = Peer::start(&format!(
        "type=SUB;connect={endpoint};topic=wanted;count=5;{}",
        keys.py_client()
    ));
    publisher
        .wait_for_subscribers(1, LIMIT)
        .expect("the subscription arrived inside a MESSAGE");
    for i in 0..5 {
        publisher.send(format!("unwanted {i}")).unwrap();
        publisher.send(format!("wanted {i}")).unwrap();
    }
    let lines = peer.rest();
    let got: Vec<&String> = lines.iter().filter(|l| l.starts_with("got ")).collect();
    assert_eq!(
        got,
        (0..5)
            .map(|i| format!("got wanted {i}"))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
}

#[test]
fn heartbeats_inside_curve_keep_an_idle_connection_up() {
    if !python_with_curve() {
        return;
    }
    let keys = Keys::new();
    let mut peer = Peer::start(&format!(
        "type=ROUTER;bind=tcp://127.0.0.1:0;count=3;heartbeat=100;{}",
        keys.py_server()
    ));
    let ctx = Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_curve_client(keys.server.public(), &keys.client);
    dealer.set_heartbeat_interval(Some(Duration::from_millis(100)));
    dealer.set_heartbeat_timeout(Some(Duration::from_millis(300)));
    let monitor = dealer.monitor();
    dealer.connect(&peer.endpoint()).unwrap();
    dealer.send("before").unwrap();
    assert_eq!(dealer.recv_timeout(LIMIT).unwrap(), "before");
    // Idle for many heartbeat intervals: PINGs and PONGs go both ways inside MESSAGE.
    std::thread::sleep(Duration::from_millis(1500));
    dealer.send("after").unwrap();
    assert_eq!(dealer.recv_timeout(LIMIT).unwrap(), "after");
    // The peer is still there (it waits for a third message): nothing dropped meanwhile.
    while let Ok(e) = monitor.try_recv() {
        assert!(
            !matches!(e, MonitorEvent::Disconnected { .. }),
            "the connection dropped: {e:?}"
        );
    }
    dealer.send("last").unwrap();
    assert_eq!(dealer.recv_timeout(LIMIT).unwrap(), "last");
    let lines = peer.rest();
    assert!(lines.contains(&"echoed 3".to_owned()), "{lines:?}");
}

#[test]
fn a_wrong_server_key_gives_no_connection_on_either_side() {
    if !python_with_curve() {
        return;
    }
    // Our client with the wrong key for a libzmq server.
    let keys = Keys::new();
    let wrong = CurveKeyPair::generate().unwrap();
    let mut peer = Peer::start(&format!(
        "type=REP;bind=tcp://127.0.0.1:0;count=1;{}",
        keys.py_server()
    ));
    let ctx = Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_curve_client(wrong.public(), &keys.client);
    let monitor = dealer.monitor();
    dealer.connect(&peer.endpoint()).unwrap();
    let failed = eventually(LIMIT, || {
        matches!(monitor.try_recv(), Ok(MonitorEvent::HandshakeFailed { .. }))
    });
    assert!(failed, "our monitor reports the failed handshake");
    let lines = peer.rest();
    assert!(
        lines.contains(&"timed out".to_owned()),
        "nothing got through: {lines:?}"
    );
    assert!(
        events(&lines).contains(&ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL),
        "{lines:?}"
    );
    assert!(
        !events(&lines).contains(&ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
        "{lines:?}"
    );

    // A libzmq client with the wrong key for our server.
    let mut router = ctx.router().unwrap();
    router.set_curve_server(keys.server.secret());
    let monitor = router.monitor();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = router.last_endpoint().unwrap().to_owned();
    let stranger = Keys {
        server: wrong,
        client: CurveKeyPair::generate().unwrap(),
    };
    let peer = Peer::start(&format!(
        "type=DEALER;connect={endpoint};{}",
        stranger.py_client()
    ));
    let failed = eventually(
        LIMIT,
        || matches!(monitor.try_recv(), Ok(MonitorEvent::HandshakeFailed { reason, .. }) if reason.contains("HELLO")),
    );
    assert!(failed, "our server reports a HELLO that does not open");
    assert!(router.recv_timeout(Duration::from_millis(200)).is_err());
    let _ = peer.rest();
}
