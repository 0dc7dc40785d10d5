//! STREAM sockets (libzmq's `ZMQ_STREAM`) against plain tcp and ipc peers: std sockets
//! that speak no ZMTP, and libzmq's own STREAM for comparison.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ferromq::{
    poll, Context, Error, Frame, Interest, Message, MonitorEvent, PollItem, Proxy, Socket,
    SocketType, StreamSocket,
};
use util::within;

const WAIT: Duration = Duration::from_secs(10);

fn server(ctx: &Context) -> (StreamSocket, String) {
    let mut s = ctx.stream().unwrap();
    s.set_recv_timeout(Some(WAIT));
    s.set_send_timeout(Some(WAIT));
    s.bind("tcp://127.0.0.1:*").unwrap();
    let addr = s
        .last_endpoint()
        .unwrap()
        .trim_start_matches("tcp://")
        .to_owned();
    (s, addr)
}

fn client(addr: &str) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.set_write_timeout(Some(WAIT)).unwrap();
    c
}

/// Receives until the bytes of one connection add up to `want` (reads may split them).
fn recv_bytes(s: &mut StreamSocket, id: &Frame, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let m = s.recv().unwrap();
        assert_eq!(&m[0], id, "bytes of another connection");
        assert!(!m[1].is_empty(), "the connection closed early");
        got.extend_from_slice(&m[1]);
    }
    got
}

#[test]
fn serves_http_1_0_to_a_plain_tcp_client() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let (mut s, addr) = server(&ctx);
        let mut c = client(&addr);
        c.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();

        let hello = s.recv().unwrap();
        assert_eq!(hello.len(), 2);
        assert_eq!(hello[0].len(), 5, "libzmq's id form");
        assert_eq!(hello[0][0], 0);
        assert!(hello[1].is_empty(), "the connect notification");
        let id = hello[0].clone();
        let mut request = Vec::new();
        while !request.ends_with(b"\r\n\r\n") {
            let m = s.recv().unwrap();
            assert_eq!(m[0], id);
            request.extend_from_slice(&m[1]);
        }
        assert!(request.starts_with(b"GET / HTTP/1.0"));
        s.send([
            id.clone(),
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nHello, World!".into(),
        ])
        .unwrap();
        s.send([id.clone(), Frame::new()]).unwrap();

        let mut response = String::new();
        c.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.0 200 OK\r\n"), "{response}");
        assert!(response.ends_with("Hello, World!"));
        // Closed by us: no disconnect notice, and the id is gone.
        assert!(matches!(
            s.recv_timeout(Duration::from_millis(200)),
            Err(Error::TimedOut)
        ));
        let err = s.send([id, "late".into()]).unwrap_err();
        assert!(matches!(err.error(), Error::HostUnreachable));
    });
}

#[test]
fn talks_to_a_raw_tcp_server_as_a_client() {
    within(Duration::from_secs(60), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(WAIT)).unwrap();
            conn.write_all(b"220 welcome\r\n").unwrap();
            let mut buf = [0u8; 6];
            conn.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"QUIT\r\n");
            conn.write_all(b"221 bye\r\n").unwrap();
            // Then the server hangs up.
        });
        let ctx = Context::new();
        let mut s = ctx.stream().unwrap();
        s.set_recv_timeout(Some(WAIT));
        s.connect(&format!("tcp://{addr}")).unwrap();
        let hello = s.recv().unwrap();
        assert!(
            hello[1].is_empty(),
            "the connection's id comes with its notice"
        );
        let id = hello[0].clone();
        assert_eq!(recv_bytes(&mut s, &id, 13), b"220 welcome\r\n");
        s.send([id.clone(), "QUIT\r\n".into()]).unwrap();
        assert_eq!(recv_bytes(&mut s, &id, 9), b"221 bye\r\n");
        let bye = s.recv().unwrap();
        assert_eq!(bye[0], id);
        assert!(bye[1].is_empty(), "the disconnect notification");
        peer.join().unwrap();
    });
}

#[test]
fn a_connect_routing_id_names_the_connection_before_it_is_made() {
    within(Duration::from_secs(60), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = [0u8; 5];
            conn.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
        });
        let ctx = Context::new();
        let mut s = ctx.stream().unwrap();
        s.set_recv_timeout(Some(WAIT));
        s.set_send_timeout(Some(WAIT));
        s.set_connect_routing_id(Some("web".into())).unwrap();
        assert_eq!(s.connect_routing_id().map(|b| &b[..]), Some(&b"web"[..]));
        s.connect(&format!("tcp://{addr}")).unwrap();
        let notice = s.recv().unwrap();
        assert_eq!(
            &notice[0][..],
            b"web",
            "the connect notice carries our name"
        );
        assert!(notice[1].is_empty());
        s.send(["web", "hello"]).unwrap();
        peer.join().unwrap();

        let mut dynamic = Socket::new(&ctx, SocketType::Stream).unwrap();
        dynamic
            .set_connect_routing_id(Some("x".into()))
            .expect("STREAM takes CONNECT_ROUTING_ID");
        let mut pull = Socket::new(&ctx, SocketType::Pull).unwrap();
        assert!(matches!(
            pull.set_connect_routing_id(Some("x".into())),
            Err(Error::InvalidOption(_))
        ));
    });
}

#[test]
fn connections_and_disconnections_are_notified_unless_turned_off() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let (mut s, addr) = server(&ctx);
        assert!(s.stream_notify());
        let a = client(&addr);
        let b = client(&addr);
        let ida = s.recv().unwrap();
        let idb = s.recv().unwrap();
        assert!(ida[1].is_empty() && idb[1].is_empty());
        assert_ne!(ida[0], idb[0], "each connection its own id");
        drop(a);
        let gone = s.recv().unwrap();
        assert!(gone[1].is_empty());
        assert!(gone[0] == ida[0] || gone[0] == idb[0]);
        drop(b);
        let gone2 = s.recv().unwrap();
        assert!(gone2[1].is_empty());
        assert_ne!(gone[0], gone2[0]);

        s.set_stream_notify(false);
        let mut c = client(&addr);
        c.write_all(b"data").unwrap();
        let m = s.recv().unwrap();
        assert_eq!(&m[1][..], b"data", "no notice before the data");
        drop(c);
        assert!(matches!(
            s.recv_timeout(Duration::from_millis(300)),
            Err(Error::TimedOut)
        ));
    });
}

#[test]
fn routing_to_an_unknown_id_fails_and_hands_the_message_back() {
    let ctx = Context::new();
    let mut s = ctx.stream().unwrap();
    let err = s.try_send(["nobody", "hi"]).unwrap_err();
    assert!(matches!(err.error(), Error::HostUnreachable));
    assert_eq!(err.into_message(), Message::from(vec!["nobody", "hi"]));
    // An id with no data part is ignored, as libzmq does.
    s.try_send("alone").unwrap();
    // STREAM speaks to byte streams only.
    assert!(matches!(
        s.bind("inproc://stream"),
        Err(Error::InvalidEndpoint { .. })
    ));
}

#[test]
fn a_peer_sending_without_end_is_held_back_at_the_high_water_mark() {
    within(Duration::from_secs(120), || {
        let ctx = Context::new();
        let mut s = ctx.stream().unwrap();
        s.set_recv_hwm(4);
        s.set_recv_buffer_size(Some(64 * 1024));
        s.set_recv_timeout(Some(WAIT));
        s.bind("tcp://127.0.0.1:*").unwrap();
        let addr = s.last_endpoint().unwrap()[6..].to_owned();
        let writer = std::thread::spawn(move || {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let chunk = vec![7u8; 64 * 1024];
            let mut sent = 0usize;
            // 1 GiB unless something stops us.
            while sent < 1 << 30 {
                match c.write(&chunk) {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            (c, sent)
        });
        let hello = s.recv().unwrap();
        assert!(hello[1].is_empty());
        // Nobody reads: the writer stalls once the pipe, the engine's batch and the
        // kernel buffers are full.
        let (c, sent) = writer.join().unwrap();
        eprintln!("taken from a peer nobody reads, hwm 4: {sent} bytes");
        assert!(
            sent < 64 << 20,
            "{sent} bytes taken from a peer nobody reads (hwm 4)"
        );
        // What was taken arrives in order, in messages of at most one read (128 KiB).
        let mut got = 0usize;
        while got < sent {
            let m = s.recv().unwrap();
            assert!(
                m[1].len() <= 128 * 1024,
                "{} bytes in one message",
                m[1].len()
            );
            assert!(m[1].iter().all(|&b| b == 7));
            got += m[1].len();
        }
        assert_eq!(got, sent);
        drop(c);
    });
}

#[test]
fn works_with_poll_proxy_style_readiness_and_the_monitor() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let mut s = ctx.stream().unwrap();
        let monitor = s.monitor();
        s.bind("tcp://127.0.0.1:*").unwrap();
        let addr = s.last_endpoint().unwrap()[6..].to_owned();
        let mut items = [PollItem::new(&mut s, Interest::READABLE)];
        assert!(poll(&mut items, Some(Duration::from_millis(50))).is_empty());
        let mut c = client(&addr);
        let ready = poll(&mut items, Some(WAIT));
        assert!(ready.is_readable(0), "a connection notice to read");
        let _ = items;
        let hello = s.try_recv().unwrap();
        c.write_all(b"x").unwrap();
        let mut items = [PollItem::new(
            &mut s,
            Interest::READABLE | Interest::WRITABLE,
        )];
        let ready = poll(&mut items, Some(WAIT));
        assert!(ready.is_writable(0), "always writable, as libzmq's");
        assert!(util::eventually(WAIT, || poll(
            &mut items,
            Some(Duration::from_millis(10))
        )
        .is_readable(0)));
        let _ = items;
        assert_eq!(
            s.try_recv().unwrap(),
            Message::from(vec![hello[0].clone(), "x".into()])
        );

        let mut saw = Vec::new();
        while let Ok(e) = monitor.recv_timeout(Duration::from_secs(2)) {
            let done = matches!(e, MonitorEvent::HandshakeSucceeded { .. });
            saw.push(e);
            if done {
                break;
            }
        }
        assert!(
            saw.iter()
                .any(|e| matches!(e, MonitorEvent::Accepted { .. })),
            "{saw:?}"
        );
        assert!(saw.iter().any(|e| matches!(
            e,
            MonitorEvent::HandshakeSucceeded {
                peer_type: SocketType::Stream,
                ..
            }
        )));
    });
}

#[test]
fn a_dynamic_stream_socket_over_ipc() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let mut s = Socket::new(&ctx, SocketType::Stream).unwrap();
        s.set_recv_timeout(Some(WAIT));
        let path = std::env::temp_dir().join(util::unique("ferromq-stream"));
        s.bind(&format!("ipc://{}", path.display())).unwrap();
        let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        let hello = s.recv().unwrap();
        assert!(hello[1].is_empty());
        c.write_all(b"over ipc").unwrap();
        let m = s.recv().unwrap();
        assert_eq!(&m[1][..], b"over ipc");
        s.send([m[0].clone(), "back".into()]).unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"back");
    });
}

/// libzmq's STREAM talks to ours through plain tcp: its connect sends nothing ZMTP, and
/// bytes pass both ways untouched.
#[test]
fn libzmq_stream_and_ours_exchange_bytes() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let (mut ours, addr) = server(&ctx);
        let zctx = zmq::Context::new();
        let theirs = zctx.socket(zmq::STREAM).unwrap();
        theirs.set_rcvtimeo(10_000).unwrap();
        theirs.connect(&format!("tcp://{addr}")).unwrap();
        // libzmq 4.3 notifies its connect too: [id, ""].
        let their_id = theirs.recv_bytes(0).unwrap();
        assert!(theirs.recv_bytes(0).unwrap().is_empty());
        let hello = ours.recv().unwrap();
        assert!(hello[1].is_empty());
        theirs.send(&their_id, zmq::SNDMORE).unwrap();
        theirs.send("from libzmq", 0).unwrap();
        assert_eq!(recv_bytes(&mut ours, &hello[0], 11), b"from libzmq");
        ours.send([hello[0].clone(), "from ferromq".into()])
            .unwrap();
        let mut got = Vec::new();
        while got.len() < 12 {
            assert_eq!(theirs.recv_bytes(0).unwrap(), their_id);
            got.extend(theirs.recv_bytes(0).unwrap());
        }
        assert_eq!(got, b"from ferromq");
        // Our close reaches libzmq as its disconnect notice.
        ours.send([hello[0].clone(), Frame::new()]).unwrap();
        assert_eq!(theirs.recv_bytes(0).unwrap(), their_id);
        assert!(theirs.recv_bytes(0).unwrap().is_empty());
    });
}

/// A STREAM frontend behind a proxy: a PAIR backend sees `[id, bytes]` and answers
/// through it, as a broker in front of plain tcp clients would.
#[test]
fn a_proxy_forwards_between_a_stream_and_a_pair() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let (mut front, addr) = server(&ctx);
        let mut back = ctx.pair().unwrap();
        back.bind("inproc://stream-proxy").unwrap();
        let mut app = ctx.pair().unwrap();
        app.set_recv_timeout(Some(WAIT));
        app.connect("inproc://stream-proxy").unwrap();
        let proxy = Proxy::new(&mut front, &mut back);
        let control = proxy.control();
        std::thread::scope(|s| {
            let running = s.spawn(move || proxy.run());
            let mut c = client(&addr);
            let hello = app.recv().unwrap();
            assert!(hello[1].is_empty(), "the notice crosses the proxy");
            c.write_all(b"hello").unwrap();
            let mut got = Vec::new();
            while got.len() < 5 {
                let m = app.recv().unwrap();
                assert_eq!(m[0], hello[0]);
                got.extend_from_slice(&m[1]);
            }
            assert_eq!(got, b"hello");
            app.send([hello[0].clone(), "world".into()]).unwrap();
            app.send([hello[0].clone(), Frame::new()]).unwrap();
            let mut reply = String::new();
            c.read_to_string(&mut reply).unwrap();
            assert_eq!(reply, "world");
            control.stop();
            running.join().unwrap().unwrap();
        });
    });
}

/// A connection our connect made and the application closed with `[id, ""]` is not made
/// again (libzmq's raw session ends), while one the peer closed is.
#[test]
fn a_connection_closed_by_the_application_is_not_remade() {
    within(Duration::from_secs(60), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = Context::new();
        let mut s = ctx.stream().unwrap();
        s.set_recv_timeout(Some(WAIT));
        s.set_reconnect_interval(Some(Duration::from_millis(10)));
        s.connect(&format!("tcp://{addr}")).unwrap();
        let (first, _) = listener.accept().unwrap();
        first.set_read_timeout(Some(WAIT)).unwrap();
        let hello = s.recv().unwrap();
        assert!(hello[1].is_empty());

        // The peer closes: the connect is remade, under a new id.
        drop(first);
        let bye = s.recv().unwrap();
        assert_eq!(bye[0], hello[0]);
        let (mut second, _) = listener.accept().unwrap();
        second.set_read_timeout(Some(WAIT)).unwrap();
        let again = s.recv().unwrap();
        assert!(again[1].is_empty());
        assert_ne!(again[0], hello[0]);

        // We close: the peer sees the end, and no new connection comes.
        s.send([again[0].clone(), Frame::new()]).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(second.read(&mut buf).unwrap(), 0);
        listener.set_nonblocking(true).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            listener.accept().is_err(),
            "reconnected after the application closed"
        );
    });
}

/// The same plain client against libzmq's STREAM and ours: connect, send, close. Both
/// report the same sequence: a connect notice, the bytes, a disconnect notice, each
/// under the connection's one 5-byte id.
#[test]
fn a_plain_client_sees_the_same_sequence_from_libzmq_and_from_us() {
    within(Duration::from_secs(60), || {
        fn play(addr: &str) {
            let mut c = client(addr);
            c.write_all(b"abc").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            drop(c);
        }
        let collect = |mut next: Box<dyn FnMut() -> Vec<Vec<u8>> + '_>| {
            let mut seen = Vec::new();
            let mut id = None;
            let mut bytes = Vec::new();
            while seen.len() < 3 {
                let m = next();
                assert_eq!(m.len(), 2);
                assert_eq!(m[0].len(), 5);
                assert_eq!(*id.get_or_insert_with(|| m[0].clone()), m[0]);
                if m[1].is_empty() {
                    if !bytes.is_empty() {
                        seen.push(std::mem::take(&mut bytes));
                    }
                    seen.push(Vec::new());
                } else {
                    bytes.extend_from_slice(&m[1]);
                }
            }
            seen
        };

        let zctx = zmq::Context::new();
        let theirs = zctx.socket(zmq::STREAM).unwrap();
        theirs.set_rcvtimeo(10_000).unwrap();
        theirs.bind("tcp://127.0.0.1:*").unwrap();
        let their_addr = theirs.get_last_endpoint().unwrap().unwrap()[6..].to_owned();
        play(&their_addr);
        let libzmq = collect(Box::new(|| theirs.recv_multipart(0).unwrap()));

        let ctx = Context::new();
        let (mut ours, addr) = server(&ctx);
        play(&addr);
        let ferromq = collect(Box::new(|| {
            ours.recv().unwrap().iter().map(|f| f.to_vec()).collect()
        }));
        assert_eq!(libzmq, vec![Vec::new(), b"abc".to_vec(), Vec::new()]);
        assert_eq!(ferromq, libzmq);
    });
}
