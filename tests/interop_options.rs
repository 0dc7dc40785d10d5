//! The routing and connection options of issue 16 against real libzmq peers: the `zmq`
//! crate's vendored libzmq 4.3.4, and pyzmq's libzmq 4.3.5 where the `zmq` crate lacks the
//! option (`ZMQ_CONNECT_ROUTING_ID`). Tests that need pyzmq fail when it is missing under
//! `CI=true`, and say so and pass elsewhere. Every blocking call is bounded.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferromq::{Context, Error, Message};
use util::{eventually, zmq_socket};

const LIMIT: Duration = Duration::from_secs(10);

/// Sends on a ROUTER with mandatory routing until the peer named `id` is attached.
fn send_when_routable(router: &mut ferromq::Router, msg: [&str; 2]) {
    router.set_router_mandatory(true);
    let ok = eventually(LIMIT, || match router.try_send(msg) {
        Ok(()) => true,
        Err(e) if matches!(e.error(), Error::HostUnreachable | Error::WouldBlock) => false,
        Err(e) => panic!("{e}"),
    });
    assert!(ok, "{} never became routable", msg[0]);
}

#[test]
fn libzmq_reads_our_metadata_with_gets() {
    let zctx = zmq::Context::new();
    let pull = zmq_socket(&zctx, zmq::PULL);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.add_metadata("X-Colour:blue").unwrap();
    push.add_metadata("X-Empty:").unwrap();
    push.connect(&pull.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    push.send("with metadata").unwrap();
    let mut msg = zmq::Message::new();
    pull.recv(&mut msg, 0).unwrap();
    assert_eq!(&msg[..], b"with metadata");
    assert_eq!(msg.gets("X-Colour"), Some("blue"));
    assert_eq!(msg.gets("X-Empty"), Some(""));
    assert_eq!(msg.gets("Socket-Type"), Some("PUSH"));
}

#[test]
fn our_connect_routing_id_names_a_libzmq_router() {
    let zctx = zmq::Context::new();
    let server = zmq_socket(&zctx, zmq::ROUTER);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut client = ctx.router().unwrap();
    client.set_identity("fmq-client").unwrap();
    client
        .set_connect_routing_id(Some("libzmq-server".into()))
        .unwrap();
    client
        .connect(&server.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    send_when_routable(&mut client, ["libzmq-server", "hello"]);
    let got = server.recv_multipart(0).unwrap();
    assert_eq!(got, vec![b"fmq-client".to_vec(), b"hello".to_vec()]);
    server
        .send_multipart([&b"fmq-client"[..], b"back"], 0)
        .unwrap();
    assert_eq!(
        client.recv_timeout(LIMIT).unwrap(),
        Message::from(["libzmq-server", "back"])
    );
}

/// pyzmq, or why the test cannot run (see [`util::python_with_pyzmq`]).
fn python_with_pyzmq() -> Option<&'static str> {
    util::python_with_pyzmq(false)
}

/// A libzmq 4.3.5 ROUTER (pyzmq) that names our ROUTER with `ZMQ_CONNECT_ROUTING_ID`,
/// sends to it at once by that name, and prints what it receives back.
const PY_CONNECT_RID: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 1000)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.setsockopt(zmq.IDENTITY, b"py-router")
s.setsockopt(zmq.CONNECT_ROUTING_ID, b"ferromq-server")
s.connect(sys.argv[1])
s.send_multipart([b"ferromq-server", b"hello"])
frames = s.recv_multipart()
print(b"|".join(frames).decode(), flush=True)
"#;

#[test]
fn a_libzmq_connect_routing_id_names_our_router() {
    let Some(python) = python_with_pyzmq() else {
        return;
    };
    let ctx = Context::new();
    let mut server = ctx.router().unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let mut child = Command::new(python)
        .args(["-c", PY_CONNECT_RID, server.last_endpoint().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let msg = server.recv_timeout(LIMIT).unwrap();
    assert_eq!(msg, Message::from(["py-router", "hello"]));
    server.send(["py-router", "back"]).unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.wait();
    assert_eq!(
        line.trim(),
        "ferromq-server|back",
        "libzmq names us as it asked"
    );
}

#[test]
fn relaxed_and_correlated_req_against_a_libzmq_rep() {
    let zctx = zmq::Context::new();
    let rep = zmq_socket(&zctx, zmq::REP);
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut req = ctx.socket(ferromq::SocketType::Req).unwrap();
    req.set_relaxed(true).unwrap();
    req.set_correlate(true).unwrap();
    let monitor = req.monitor();
    req.connect(&rep.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    req.send("first").unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"first");
    // Sending again while "first" is unanswered gives it up, without hanging up.
    req.send("second").unwrap();
    rep.send("late answer to first", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"second");
    rep.send("answer to second", 0).unwrap();
    assert_eq!(req.recv_timeout(LIMIT).unwrap(), "answer to second");
    // A receive that times out gives the request up and keeps the connection too.
    req.send("third").unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"third");
    assert!(matches!(
        req.recv_timeout(Duration::from_millis(100)),
        Err(Error::TimedOut)
    ));
    rep.send("late answer to third", 0).unwrap();
    req.send("fourth").unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"fourth");
    rep.send("answer to fourth", 0).unwrap();
    assert_eq!(req.recv_timeout(LIMIT).unwrap(), "answer to fourth");
    let mut disconnects = 0;
    while let Ok(e) = monitor.try_recv() {
        if matches!(e, ferromq::MonitorEvent::Disconnected { .. }) {
            disconnects += 1;
        }
    }
    assert_eq!(disconnects, 0, "relaxed REQ never hangs up");
}

#[test]
fn default_req_hangs_up_where_relaxed_keeps_the_connection() {
    let zctx = zmq::Context::new();
    let rep = zmq_socket(&zctx, zmq::REP);
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut req = ctx.req().unwrap();
    let monitor = req.monitor();
    req.connect(&rep.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    let pending = req.send("q").unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"q");
    assert!(matches!(
        pending.recv_timeout(Duration::from_millis(100)),
        Err(Error::TimedOut)
    ));
    let hung_up = eventually(LIMIT, || {
        matches!(
            monitor.try_recv(),
            Ok(ferromq::MonitorEvent::Disconnected { .. })
        )
    });
    assert!(
        hung_up,
        "ferromq's default recovery hangs up on the silent peer"
    );
}

#[test]
fn a_libzmq_router_receives_our_hello_first_and_we_hear_its_peer_leave() {
    let zctx = zmq::Context::new();
    let zrouter = zmq_socket(&zctx, zmq::ROUTER);
    zrouter.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_identity("d").unwrap();
    dealer.set_hello_msg(Some("hello".into()));
    dealer
        .connect(&zrouter.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    dealer.send("then").unwrap();
    assert_eq!(
        zrouter.recv_multipart(0).unwrap(),
        vec![b"d".to_vec(), b"hello".to_vec()]
    );
    assert_eq!(
        zrouter.recv_multipart(0).unwrap(),
        vec![b"d".to_vec(), b"then".to_vec()]
    );

    // Our ROUTER's disconnect message for a libzmq DEALER that goes away.
    let mut router = ctx.router().unwrap();
    router.set_disconnect_msg(Some("bye".into()));
    router.bind("tcp://127.0.0.1:*").unwrap();
    let zdealer = zmq_socket(&zctx, zmq::DEALER);
    zdealer.set_identity(b"zd").unwrap();
    zdealer.connect(router.last_endpoint().unwrap()).unwrap();
    zdealer.send("hi", 0).unwrap();
    assert_eq!(
        router.recv_timeout(LIMIT).unwrap(),
        Message::from(["zd", "hi"])
    );
    drop(zdealer);
    assert_eq!(
        router.recv_timeout(LIMIT).unwrap(),
        Message::from(["zd", "bye"])
    );
    let _ = std::io::stdout().flush();
}
