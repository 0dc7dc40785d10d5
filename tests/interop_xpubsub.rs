//! XPUB/XSUB interop with the real libzmq (4.3.4, built by the `zmq` crate), over real tcp
//! and ipc connections on loopback, in both directions: libzmq SUB and XSUB feeding a
//! ferromq XPUB, a ferromq XSUB feeding a libzmq XPUB, a libzmq PUB feeding a ferromq
//! XSUB, a ferromq XPUB feeding a libzmq SUB, and a ferromq proxy between libzmq sockets.
//! Every blocking call has a timeout.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ferromq::{Context, Error, Message, SocketType, XPub, XSub};
use util::{eventually, forward, zmq_socket, Transport};

const WAIT: Duration = Duration::from_secs(10);
const QUIET_MS: i32 = 200;
const TRANSPORTS: [Transport; 2] = [Transport::Tcp, Transport::Ipc];

fn zmq_last_endpoint(s: &zmq::Socket) -> String {
    s.get_last_endpoint().unwrap().unwrap()
}

fn xpub(ctx: &Context) -> XPub {
    let mut s = ctx.xpublisher().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s
}

fn xsub(ctx: &Context) -> XSub {
    let mut s = ctx.xsubscriber().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s
}

/// Joins a ferromq socket and a libzmq socket over `t`, one binding and the other
/// connecting; returns the endpoint.
macro_rules! join {
    ($ferro:expr, $z:expr, $t:expr, $ferro_binds:expr) => {{
        if $ferro_binds {
            $ferro.bind(&$t.fresh_endpoint("interop-xpubsub")).unwrap();
            let ep = $ferro.last_endpoint().unwrap().to_owned();
            $z.connect(&ep).unwrap();
            ep
        } else {
            $z.bind(&$t.fresh_endpoint("interop-xpubsub")).unwrap();
            let ep = zmq_last_endpoint(&$z);
            $ferro.connect(&ep).unwrap();
            ep
        }
    }};
}

/// Runs `f` over tcp and ipc, with ferromq binding and with libzmq binding, and a label
/// naming the case for assertion messages.
fn each_way(mut f: impl FnMut(Transport, bool, &str)) {
    for t in TRANSPORTS {
        for ferro_binds in [true, false] {
            f(t, ferro_binds, &format!("{t:?} ferro_binds={ferro_binds}"));
        }
    }
}

/// Receives what a ferromq XPUB passes up until nothing comes for a while.
fn drain_up(up: &mut XPub) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while let Ok(m) = up.recv_timeout(Duration::from_millis(QUIET_MS as u64)) {
        assert_eq!(m.len(), 1, "a subscription change is one frame: {m:?}");
        got.push(m[0].to_vec());
    }
    got
}

/// The next thing the XPUB passes up, calling `poke` meanwhile (a bound libzmq socket
/// takes in a connection, and sends its subscriptions, only when its application calls it).
fn next_up(up: &mut XPub, poke: impl Fn()) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "nothing was passed up");
        poke();
        match up.recv_timeout(Duration::from_millis(20)) {
            Ok(m) => return m,
            Err(Error::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// libzmq SUBs → ferromq XPUB: the subscriptions are passed up as libzmq sends them,
/// deduplicated across peers (or not, when verbose), and cancelled when a SUB leaves.
fn libzmq_sub_to_ferro_xpub(t: Transport, ferro_binds: bool, verbose: bool) {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut up = xpub(&ctx);
    up.set_verbose(verbose);
    let zsub = zmq_socket(&zctx, zmq::SUB);
    let ep = join!(up, zsub, t, ferro_binds);
    let label = format!("{t:?} ferro_binds={ferro_binds} verbose={verbose}");

    zsub.set_subscribe(b"A").unwrap();
    let m = next_up(&mut up, || {
        let _ = zsub.get_events();
    });
    assert_eq!(m, "\x01A", "{label}");
    assert_eq!(
        m.metadata().unwrap().socket_type(),
        Some(SocketType::Sub),
        "{label}"
    );
    // libzmq's SUB sends a SUBSCRIBE for every ZMQ_SUBSCRIBE: a repeat from the same
    // peer is passed up only when verbose.
    zsub.set_subscribe(b"A").unwrap();
    zsub.set_subscribe(b"B").unwrap();
    let expected: Vec<&[u8]> = if verbose {
        vec![b"\x01A", b"\x01B"]
    } else {
        vec![b"\x01B"]
    };
    assert_eq!(drain_up(&mut up), expected, "{label}");

    // XPUB sends like a PUB, filtered by what libzmq subscribed to.
    assert_eq!(up.send(["C.1", "x"]).unwrap(), 0, "{label}");
    assert_eq!(up.send(["A.1", "payload"]).unwrap(), 1, "{label}");
    assert_eq!(
        zsub.recv_multipart(0).unwrap(),
        [b"A.1".to_vec(), b"payload".to_vec()],
        "{label}"
    );

    // A second libzmq SUB on "A": held back unless verbose.
    let zsub2 = zmq_socket(&zctx, zmq::SUB);
    if ferro_binds {
        zsub2.connect(&ep).unwrap();
    } else {
        // ferromq connected to zsub: connect it to a second bound libzmq SUB.
        zsub2.bind(&t.fresh_endpoint("interop-xpubsub")).unwrap();
        up.connect(&zmq_last_endpoint(&zsub2)).unwrap();
    }
    zsub2.set_subscribe(b"A").unwrap();
    zsub2.set_subscribe(b"second").unwrap();
    let m = next_up(&mut up, || {
        let _ = zsub2.get_events();
    });
    let mut got = vec![m[0].to_vec()];
    got.extend(drain_up(&mut up));
    let expected: Vec<&[u8]> = if verbose {
        vec![b"\x01A", b"\x01second"]
    } else {
        vec![b"\x01second"]
    };
    assert_eq!(got, expected, "{label}");

    // The first SUB takes "A" back (libzmq sends one CANCEL, for the last of its two):
    // zsub2 still holds it, so nothing is passed up.
    zsub.set_unsubscribe(b"A").unwrap();
    zsub.set_unsubscribe(b"A").unwrap();
    assert!(drain_up(&mut up).is_empty(), "{label}");

    // zsub2 leaves: "A" and "second" are nobody's any more.
    drop(zsub2);
    let mut cancels = Vec::new();
    let deadline = Instant::now() + WAIT;
    while cancels.len() < 2 && Instant::now() < deadline {
        if let Ok(m) = up.recv_timeout(Duration::from_millis(20)) {
            cancels.push(m[0].to_vec());
        }
    }
    cancels.sort();
    assert_eq!(
        cancels,
        [b"\x00A".to_vec(), b"\x00second".to_vec()],
        "{label}"
    );
    assert_eq!(up.subscriber_count(), 1, "{label}: zsub still holds B");
}

#[test]
fn libzmq_sub_to_ferromq_xpub() {
    for t in TRANSPORTS {
        for ferro_binds in [true, false] {
            libzmq_sub_to_ferro_xpub(t, ferro_binds, false);
        }
    }
}

#[test]
fn libzmq_sub_to_verbose_ferromq_xpub() {
    for t in TRANSPORTS {
        libzmq_sub_to_ferro_xpub(t, true, true);
    }
}

/// libzmq XSUB → ferromq XPUB: libzmq's XSUB sends what its application writes as plain
/// message frames (`01 topic` even to a ZMTP 3.1 peer); ferromq takes that form too, passes
/// up the subscriptions, and passes up the other messages as they came.
#[test]
fn libzmq_xsub_to_ferromq_xpub() {
    each_way(|t, ferro_binds, label| {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut up = xpub(&ctx);
        up.set_verboser(true);
        let zxsub = zmq_socket(&zctx, zmq::XSUB);
        join!(up, zxsub, t, ferro_binds);

        zxsub.send(&b"\x01news"[..], 0).unwrap();
        let m = next_up(&mut up, || {
            let _ = zxsub.get_events();
        });
        assert_eq!(m, "\x01news", "{label}");
        assert_eq!(
            m.metadata().unwrap().socket_type(),
            Some(SocketType::XSub),
            "{label}"
        );
        zxsub.send(&b"\x01news"[..], 0).unwrap(); // libzmq XSUB forwards repeats
        zxsub
            .send_multipart([&b"hello"[..], b"", b"upstream"], 0)
            .unwrap();
        zxsub.send(&b"\x00news"[..], 0).unwrap();
        assert_eq!(up.recv().unwrap(), "\x01news", "{label}");
        let m = up.recv().unwrap();
        let frames: Vec<&[u8]> = m.iter().map(|f| &f[..]).collect();
        assert_eq!(frames, [&b"hello"[..], b"", b"upstream"], "{label}");
        // The XSUB counted two subscriptions, so its one cancel was not sent.
        assert!(drain_up(&mut up).is_empty(), "{label}");

        assert_eq!(up.send("news.1").unwrap(), 1, "{label}");
        assert_eq!(up.send("sport.1").unwrap(), 0, "{label}");
        assert_eq!(zxsub.recv_bytes(0).unwrap(), b"news.1", "{label}");
    });
}

/// ferromq XSUB → libzmq XPUB: the libzmq XPUB (verbose) receives our `01 topic`
/// subscriptions (sent as SUBSCRIBE commands to its ZMTP 3.1 engine), every one, and our
/// cancel only for the last; it receives our other messages as they were sent.
#[test]
fn ferromq_xsub_to_libzmq_xpub() {
    each_way(|t, ferro_binds, label| {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut down = xsub(&ctx);
        let zxpub = zmq_socket(&zctx, zmq::XPUB);
        zxpub.set_xpub_verbose(true).unwrap();
        join!(down, zxpub, t, ferro_binds);
        assert!(
            eventually(WAIT, || {
                let _ = zxpub.get_events();
                down.peer_count() == 1
            }),
            "{label}: never connected"
        );

        assert_eq!(down.send("\x01news").unwrap(), 1);
        assert_eq!(zxpub.recv_bytes(0).unwrap(), b"\x01news", "{label}");
        down.subscribe("news");
        assert_eq!(zxpub.recv_bytes(0).unwrap(), b"\x01news", "{label}");
        assert_eq!(down.send(["hello", "", "upstream"]).unwrap(), 1);
        assert_eq!(
            zxpub.recv_multipart(0).unwrap(),
            [b"hello".to_vec(), Vec::new(), b"upstream".to_vec()],
            "{label}"
        );

        zxpub.send("news.1", 0).unwrap();
        zxpub.send("sport.1", 0).unwrap(); // filtered by libzmq
        zxpub.send("news.2", 0).unwrap();
        assert_eq!(down.recv().unwrap(), "news.1", "{label}");
        assert_eq!(down.recv().unwrap(), "news.2", "{label}");

        assert!(!down.unsubscribe("news"));
        zxpub.set_rcvtimeo(QUIET_MS).unwrap();
        assert_eq!(
            zxpub.recv_bytes(0),
            Err(zmq::Error::EAGAIN),
            "{label}: a cancel that is not the last is not sent"
        );
        zxpub.set_rcvtimeo(10_000).unwrap();
        assert_eq!(down.send("\x00news").unwrap(), 1);
        assert_eq!(zxpub.recv_bytes(0).unwrap(), b"\x00news", "{label}");
    });
}

/// libzmq PUB → ferromq XSUB: subscribing by message makes libzmq's PUB send what
/// matches, and only that.
#[test]
fn libzmq_pub_to_ferromq_xsub() {
    each_way(|t, ferro_binds, label| {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut down = xsub(&ctx);
        let zpub = zmq_socket(&zctx, zmq::PUB);
        join!(down, zpub, t, ferro_binds);
        down.send("\x01news").unwrap();

        // Slow joiner: publish until the subscription has reached libzmq.
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "{label}: never subscribed");
            zpub.send("news.hello", 0).unwrap();
            match down.recv_timeout(Duration::from_millis(20)) {
                Ok(m) => {
                    assert_eq!(m, "news.hello", "{label}");
                    break;
                }
                Err(Error::TimedOut) => {}
                Err(e) => panic!("{e}"),
            }
        }
        while down.recv_timeout(Duration::from_millis(100)).is_ok() {}

        zpub.send("sport.1", 0).unwrap();
        zpub.send_multipart([&b"news.1"[..], b"", b"part"], 0)
            .unwrap();
        let got = down.recv().unwrap();
        let frames: Vec<&[u8]> = got.iter().map(|f| &f[..]).collect();
        assert_eq!(frames, [&b"news.1"[..], b"", b"part"], "{label}");
        assert_eq!(
            got.metadata().unwrap().socket_type(),
            Some(SocketType::Pub),
            "{label}"
        );
        assert!(
            matches!(
                down.recv_timeout(Duration::from_millis(QUIET_MS as u64)),
                Err(Error::TimedOut)
            ),
            "{label}: libzmq filtered sport.1"
        );
    });
}

/// ferromq XPUB → libzmq SUB: the libzmq subscription is passed up, then what matches it
/// reaches libzmq.
#[test]
fn ferromq_xpub_to_libzmq_sub() {
    each_way(|t, ferro_binds, label| {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut up = xpub(&ctx);
        let zsub = zmq_socket(&zctx, zmq::SUB);
        zsub.set_subscribe(b"news").unwrap();
        join!(up, zsub, t, ferro_binds);
        let m = next_up(&mut up, || {
            let _ = zsub.get_events();
        });
        assert_eq!(m, "\x01news", "{label}");
        let big: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 253) as u8).collect();
        assert_eq!(up.send("other").unwrap(), 0, "{label}");
        let msg = Message::multipart([b"news.big".to_vec(), big.clone()]);
        assert_eq!(up.send(msg).unwrap(), 1, "{label}");
        assert_eq!(
            zsub.recv_multipart(0).unwrap(),
            [b"news.big".to_vec(), big],
            "{label}"
        );
    });
}

/// A ferromq proxy between libzmq sockets: libzmq SUB → [ferromq XPUB | XSUB] → libzmq PUB,
/// forwarding with non-blocking calls only.
#[test]
fn ferromq_proxy_between_libzmq_sub_and_pub() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let zpub = zmq_socket(&zctx, zmq::PUB);
        zpub.bind(&t.fresh_endpoint("interop-proxy")).unwrap();
        let mut front = ctx.xpublisher().unwrap();
        front.bind(&t.fresh_endpoint("interop-proxy")).unwrap();
        let front_ep = front.last_endpoint().unwrap().to_owned();
        let mut back = ctx.xsubscriber().unwrap();
        back.connect(&zmq_last_endpoint(&zpub)).unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let proxy = {
            let stop = stop.clone();
            thread::spawn(move || forward(front, back, &stop))
        };

        let zsub = zmq_socket(&zctx, zmq::SUB);
        zsub.set_subscribe(b"news").unwrap();
        zsub.connect(&front_ep).unwrap();
        zsub.set_rcvtimeo(20).unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "{t:?}: the chain never formed");
            zpub.send("news.probe", 0).unwrap();
            if zsub.recv_bytes(0).is_ok() {
                break;
            }
        }
        zsub.set_rcvtimeo(QUIET_MS).unwrap();
        while zsub.recv_bytes(0).is_ok() {}
        zsub.set_rcvtimeo(10_000).unwrap();
        zpub.send("sport.1", 0).unwrap();
        zpub.send("news.1", 0).unwrap();
        assert_eq!(zsub.recv_bytes(0).unwrap(), b"news.1", "{t:?}");
        stop.store(true, Ordering::Relaxed);
        proxy.join().unwrap();
    }
}

/// A short command frame: `name` (length-prefixed) then `data`.
fn command(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// Our half of a NULL handshake as `socket_type`: greeting and READY.
fn hello(socket_type: &str) -> Vec<u8> {
    let mut data = b"\x0bSocket-Type".to_vec();
    data.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    data.extend_from_slice(socket_type.as_bytes());
    let mut out = util::zmtp_greeting();
    out.extend(command("READY", &data));
    out
}

/// Reads one frame: (flags, body).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    let len = if head[0] & 0x02 != 0 {
        let mut rest = [0u8; 7];
        s.read_exact(&mut rest).unwrap();
        let mut be = [0u8; 8];
        be[0] = head[1];
        be[1..].copy_from_slice(&rest);
        u64::from_be_bytes(be) as usize
    } else {
        usize::from(head[1])
    };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head[0], body)
}

/// Accepts one connection on `listener` (within the timeout), completes the handshake as
/// an XPUB, and returns the stream positioned after the peer's READY.
fn accept_as_xpub(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "nobody connected");
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    };
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&hello("XPUB")).unwrap();
    let mut their_greeting = [0u8; 64];
    s.read_exact(&mut their_greeting).unwrap();
    assert_eq!(&their_greeting[10..12], &[3, 1], "a ZMTP 3.1 peer");
    let (flags, body) = read_frame(&mut s);
    assert_eq!(flags, 0x04);
    assert!(body.starts_with(b"\x05READY"));
    s
}

/// On the wire, libzmq 4.3.4's XSUB sends what its application writes as a message frame,
/// `01 topic` even to a ZMTP 3.1 peer; ferromq's XSUB sends a SUBSCRIBE command. A ferromq
/// XPUB takes both (`libzmq_xsub_to_ferromq_xpub`), as libzmq's does.
#[test]
fn on_the_wire_libzmq_xsub_sends_messages_and_ferromq_xsub_sends_commands() {
    let zctx = zmq::Context::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());

    let zxsub = zmq_socket(&zctx, zmq::XSUB);
    zxsub.connect(&ep).unwrap();
    let mut raw = accept_as_xpub(&listener);
    zxsub.send(&b"\x01news"[..], 0).unwrap();
    assert_eq!(read_frame(&mut raw), (0x00, b"\x01news".to_vec()));
    drop(zxsub);

    let ctx = Context::new();
    let mut down = xsub(&ctx);
    down.connect(&ep).unwrap();
    let mut raw = accept_as_xpub(&listener);
    assert!(eventually(WAIT, || down.peer_count() == 1));
    down.send("\x01news").unwrap();
    assert_eq!(read_frame(&mut raw), (0x04, b"\x09SUBSCRIBEnews".to_vec()));
}

/// libzmq 4.3.4's XPUB passes up a cancel of a topic the peer never subscribed to (its
/// `mtrie` answers `not_found`, which `xpub.cpp` does not hold back); ferromq's does too.
#[test]
fn a_cancel_of_a_topic_never_held_is_passed_up_by_libzmq_and_by_ferromq() {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let zxpub = zmq_socket(&zctx, zmq::XPUB);
    zxpub.bind("tcp://127.0.0.1:*").unwrap();
    let mut up = xpub(&ctx);
    up.bind("tcp://127.0.0.1:*").unwrap();
    let targets = [
        zmq_last_endpoint(&zxpub),
        up.last_endpoint().unwrap().to_owned(),
    ];
    let mut peers = Vec::new();
    for target in &targets {
        let addr = target.trim_start_matches("tcp://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(&hello("SUB")).unwrap();
        // Let the handshake finish before the commands.
        let mut their_greeting = [0u8; 64];
        s.read_exact(&mut their_greeting).unwrap();
        let (flags, body) = read_frame(&mut s);
        assert_eq!(flags, 0x04);
        assert!(body.starts_with(b"\x05READY"));
        s.write_all(&command("SUBSCRIBE", b"held")).unwrap();
        s.write_all(&command("CANCEL", b"never")).unwrap();
        s.write_all(&command("CANCEL", b"held")).unwrap();
        peers.push(s);
    }
    let from_libzmq: Vec<Vec<u8>> = (0..3).map(|_| zxpub.recv_bytes(0).unwrap()).collect();
    let from_ferromq: Vec<Vec<u8>> = (0..3).map(|_| up.recv().unwrap()[0].to_vec()).collect();
    let expected = [
        b"\x01held".to_vec(),
        b"\x00never".to_vec(),
        b"\x00held".to_vec(),
    ];
    assert_eq!(from_libzmq, expected);
    assert_eq!(from_ferromq, expected);
}
