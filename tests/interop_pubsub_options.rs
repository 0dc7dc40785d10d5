//! The publish-subscribe and queueing options of issue 16 against real libzmq peers: the
//! `zmq` crate's vendored libzmq 4.3.x, and pyzmq's libzmq 4.3.5 where the `zmq` crate
//! lacks the option (`ZMQ_INVERT_MATCHING`). Tests that need pyzmq fail when it is missing
//! under `CI=true`, and say so and pass elsewhere. Every blocking call is bounded.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferromq::{Context, Error, Message};
use util::{eventually, zmq_socket};

const LIMIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(200);
const N: u32 = 1_000;

/// Receives numbered messages until `last`, checking that they never get older; returns
/// how many arrived.
fn drain_until(mut recv: impl FnMut() -> ferromq::Result<Message>, last: u32) -> u32 {
    let mut seen = 0;
    let mut prev = None;
    loop {
        let m = recv().unwrap();
        let v: u32 = std::str::from_utf8(&m[0]).unwrap().parse().unwrap();
        assert!(prev.is_none_or(|p| v >= p), "{v} after {prev:?}");
        prev = Some(v);
        seen += 1;
        if v == last {
            return seen;
        }
    }
}

#[test]
fn our_conflating_pull_keeps_the_newest_from_a_libzmq_push() {
    let zctx = zmq::Context::new();
    let push = zmq_socket(&zctx, zmq::PUSH);
    push.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_conflate(true);
    pull.set_recv_timeout(Some(LIMIT));
    pull.connect(&push.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    assert!(eventually(LIMIT, || pull.peer_count() == 1));
    for i in 0..N {
        push.send(format!("{i}").as_str(), 0).unwrap();
    }
    let seen = drain_until(|| pull.recv(), N - 1);
    assert!(seen <= N);
    assert!(matches!(pull.recv_timeout(QUIET), Err(Error::TimedOut)));
}

#[test]
fn our_conflating_sub_keeps_the_newest_from_a_libzmq_pub() {
    let zctx = zmq::Context::new();
    let publisher = zmq_socket(&zctx, zmq::PUB);
    // No mark on libzmq's side, so it drops nothing on the way: any loss is conflation.
    publisher.set_sndhwm(0).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut sub = ctx.subscriber().unwrap();
    sub.set_conflate(true);
    sub.subscribe("");
    sub.connect(&publisher.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    // libzmq's PUB cannot say when the subscription has arrived: publish until one lands.
    let joined = eventually(LIMIT, || {
        publisher.send("0", 0).unwrap();
        sub.try_recv().is_ok()
    });
    assert!(joined, "the subscription never reached libzmq");
    for i in 1..N {
        publisher.send(format!("{i}").as_str(), 0).unwrap();
    }
    sub.set_recv_timeout(Some(LIMIT));
    drain_until(|| sub.recv(), N - 1);
}

#[test]
fn a_libzmq_conflating_pull_and_our_push_agree() {
    let zctx = zmq::Context::new();
    let pull = zmq_socket(&zctx, zmq::PULL);
    pull.set_conflate(true).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut push = ctx.push().unwrap();
    push.connect(&pull.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    assert!(eventually(LIMIT, || push.peer_count() == 1));
    for i in 0..N {
        push.send(format!("{i}")).unwrap();
    }
    let mut prev = None;
    loop {
        let v: u32 = pull.recv_string(0).unwrap().unwrap().parse().unwrap();
        assert!(prev.is_none_or(|p| v > p));
        prev = Some(v);
        if v == N - 1 {
            break;
        }
    }
}

#[test]
fn our_manual_xpub_decides_for_libzmq_subscribers() {
    let ctx = Context::new();
    let mut xpub = ctx.xpublisher().unwrap();
    xpub.set_manual(true);
    xpub.set_recv_timeout(Some(LIMIT));
    xpub.bind("tcp://127.0.0.1:*").unwrap();
    let ep = xpub.last_endpoint().unwrap().to_owned();
    let zctx = zmq::Context::new();

    let first = zmq_socket(&zctx, zmq::SUB);
    first.connect(&ep).unwrap();
    first.set_subscribe(b"A").unwrap();
    assert_eq!(xpub.recv().unwrap(), "\x01A");
    // Applied for `first` as a narrower topic than it asked for.
    assert!(xpub.subscribe("A.1").unwrap());

    let second = zmq_socket(&zctx, zmq::SUB);
    second.set_rcvtimeo(200).unwrap();
    second.connect(&ep).unwrap();
    second.set_subscribe(b"A").unwrap();
    // Every subscription is passed up, the repeat of a topic included; not applied.
    assert_eq!(xpub.recv().unwrap(), "\x01A");

    assert_eq!(xpub.send("A.1 x").unwrap(), 1);
    assert_eq!(xpub.send("A.2 x").unwrap(), 0);
    assert_eq!(first.recv_bytes(0).unwrap(), b"A.1 x");
    assert!(second.recv_bytes(0).is_err(), "nothing was applied for it");

    // The application now applies what `second` asked for.
    assert!(xpub.subscribe("A").unwrap());
    assert_eq!(xpub.send("A.2 y").unwrap(), 1);
    assert_eq!(second.recv_bytes(0).unwrap(), b"A.2 y");

    // libzmq's SUB leaves: a cancel for what it had asked for.
    drop(first);
    assert_eq!(xpub.recv().unwrap(), "\x00A");
    assert!(!xpub.subscribe("A").unwrap(), "no peer to apply to");
}

#[test]
fn our_last_value_xpub_answers_each_new_libzmq_subscriber_alone() {
    let ctx = Context::new();
    let mut xpub = ctx.xpublisher().unwrap();
    xpub.set_manual_last_value(true);
    xpub.set_recv_timeout(Some(LIMIT));
    xpub.bind("tcp://127.0.0.1:*").unwrap();
    let ep = xpub.last_endpoint().unwrap().to_owned();
    let zctx = zmq::Context::new();
    let mut subs = Vec::new();
    for n in 0..3 {
        let s = zmq_socket(&zctx, zmq::SUB);
        s.set_rcvtimeo(200).unwrap();
        s.connect(&ep).unwrap();
        s.set_subscribe(b"price").unwrap();
        assert_eq!(xpub.recv().unwrap(), "\x01price");
        assert!(xpub.subscribe("price").unwrap());
        // The cached value goes to the newcomer only.
        assert_eq!(xpub.send(format!("price cached {n}")).unwrap(), 1);
        subs.push(s);
    }
    for (n, s) in subs.iter().enumerate() {
        assert_eq!(
            s.recv_string(0).unwrap().unwrap(),
            format!("price cached {n}")
        );
        assert!(s.recv_bytes(0).is_err(), "only its own cached value");
    }
    assert_eq!(xpub.send("price live").unwrap(), 3);
    for s in &subs {
        assert_eq!(s.recv_string(0).unwrap().unwrap(), "price live");
    }
}

#[test]
fn a_libzmq_sub_receives_our_welcome_message() {
    let ctx = Context::new();
    let mut xpub = ctx.xpublisher().unwrap();
    xpub.set_welcome_msg(Some("WELCOME".into()));
    xpub.set_recv_timeout(Some(LIMIT));
    xpub.bind("tcp://127.0.0.1:*").unwrap();
    let zctx = zmq::Context::new();
    let sub = zmq_socket(&zctx, zmq::SUB);
    sub.set_subscribe(b"WELCOME").unwrap();
    sub.set_subscribe(b"news").unwrap();
    sub.connect(xpub.last_endpoint().unwrap()).unwrap();
    assert_eq!(xpub.recv().unwrap(), "\x01WELCOME");
    assert_eq!(xpub.recv().unwrap(), "\x01news");
    xpub.send("news 1").unwrap();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"WELCOME");
    assert_eq!(sub.recv_bytes(0).unwrap(), b"news 1");
}

#[test]
fn a_pub_welcome_message_crosses_both_ways_as_libzmqs_pub_takes_it_too() {
    // Ours to a libzmq SUB.
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.set_welcome_msg(Some("WELCOME".into()));
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let zctx = zmq::Context::new();
    let sub = zmq_socket(&zctx, zmq::SUB);
    sub.set_subscribe(b"").unwrap();
    sub.connect(publisher.last_endpoint().unwrap()).unwrap();
    publisher.wait_for_subscribers(1, LIMIT).unwrap();
    publisher.send("news 1").unwrap();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"WELCOME");
    assert_eq!(sub.recv_bytes(0).unwrap(), b"news 1");

    // libzmq's PUB (not only its XPUB) takes the option and writes the welcome.
    let zpub = zmq_socket(&zctx, zmq::PUB);
    zpub.set_xpub_welcome_msg(Some("from a libzmq PUB"))
        .unwrap();
    zpub.bind("tcp://127.0.0.1:*").unwrap();
    let mut ours = ctx.subscriber().unwrap();
    ours.subscribe("from");
    ours.connect(&zpub.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    // libzmq's PUB writes it when it takes the peer in, at its next call: keep calling.
    let mut got = None;
    assert!(eventually(LIMIT, || {
        zpub.send("tick", 0).unwrap();
        match ours.recv_timeout(Duration::from_millis(50)) {
            Ok(m) => got = Some(m),
            Err(Error::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        got.is_some()
    }));
    assert_eq!(got.unwrap(), "from a libzmq PUB");
}

#[test]
fn our_sub_receives_a_libzmq_welcome_message() {
    let zctx = zmq::Context::new();
    let xpub = zmq_socket(&zctx, zmq::XPUB);
    xpub.set_xpub_welcome_msg(Some("hello from libzmq"))
        .unwrap();
    xpub.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let mut sub = ctx.subscriber().unwrap();
    sub.subscribe("hello");
    sub.connect(&xpub.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    // libzmq writes the welcome when it takes the peer in, on its next call.
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01hello");
    assert_eq!(sub.recv_timeout(LIMIT).unwrap(), "hello from libzmq");
}

/// pyzmq, or why the test cannot run (see [`util::python_with_pyzmq`]).
fn python_with_pyzmq() -> Option<&'static str> {
    util::python_with_pyzmq(false)
}

/// A libzmq 4.3.5 PUB (pyzmq) with `ZMQ_INVERT_MATCHING`: prints its endpoint, then
/// publishes `debug n` and `info n` in turn for at most 20 s (the test kills it sooner).
const PY_INVERTED_PUB: &str = r#"
import time, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.PUB)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.INVERT_MATCHING, 1)
s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
deadline = time.time() + 20
n = 0
while time.time() < deadline:
    s.send(b"debug %d" % n)
    s.send(b"info %d" % n)
    n += 1
    time.sleep(0.005)
"#;

/// A libzmq 4.3.5 SUB (pyzmq) with `ZMQ_INVERT_MATCHING`, subscribed to `debug`: prints
/// the first message it receives.
const PY_INVERTED_SUB: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.setsockopt(zmq.INVERT_MATCHING, 1)
s.setsockopt(zmq.SUBSCRIBE, b"debug")
s.connect(sys.argv[1])
print(s.recv().decode(), flush=True)
"#;

/// Kills the child when the test ends, however it ends.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn our_inverting_sub_and_a_libzmq_inverting_pub() {
    let Some(python) = python_with_pyzmq() else {
        return;
    };
    let mut child = Reap(
        Command::new(python)
            .args(["-c", PY_INVERTED_PUB])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut endpoint = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut endpoint)
        .unwrap();
    let ctx = Context::new();
    let mut sub = ctx.subscriber().unwrap();
    sub.set_invert_matching(true);
    sub.set_recv_timeout(Some(LIMIT));
    sub.subscribe("debug");
    sub.connect(endpoint.trim()).unwrap();
    for _ in 0..20 {
        let m = sub.recv().unwrap();
        assert!(m[0].starts_with(b"info "), "{m:?}");
    }
}

#[test]
fn our_inverting_pub_and_a_libzmq_inverting_sub() {
    let Some(python) = python_with_pyzmq() else {
        return;
    };
    let ctx = Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.set_invert_matching(true);
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let mut child = Reap(
        Command::new(python)
            .args(["-c", PY_INVERTED_SUB, publisher.last_endpoint().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    publisher.wait_for_subscribers(1, LIMIT).unwrap();
    assert_eq!(publisher.topics_count(), 1);
    assert_eq!(publisher.send("debug 1").unwrap(), 0);
    assert_eq!(publisher.send("info 1").unwrap(), 1);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "info 1");
}
