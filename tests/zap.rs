//! ZAP (RFC 27) end to end: real server sockets over tcp and ipc asking the handler bound
//! at `inproc://zeromq.zap.01` about their PLAIN, CURVE and NULL peers — the built-in
//! [`Authenticator`], a hand-written REP or ROUTER handler, or none — and the monitor
//! events and message properties that follow. Then the same against libzmq: the `zmq`
//! crate's vendored libzmq for PLAIN, pyzmq (libzmq 4.3.5 with CURVE) for CURVE.

mod util;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferromq::auth::ZAP_ENDPOINT;
use ferromq::{
    Authenticator, Context, CurveKeyPair, Error, Message, Monitor, MonitorEvent, Pull, Push,
};
use util::{zmq_socket, Transport};

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long a message that must not arrive is waited for.
const QUIET: Duration = Duration::from_millis(300);
/// Every test as a whole.
const TEST_LIMIT: Duration = Duration::from_secs(60);

const NET: [Transport; 2] = [Transport::Tcp, Transport::Ipc];

/// Waits for the first monitor event `pick` accepts; panics after [`WAIT`] with what came.
fn wait_event<T>(monitor: &Monitor, mut pick: impl FnMut(&MonitorEvent) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monitor.recv_timeout(left) {
            Ok(e) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
                seen.push(e);
            }
            Err(e) => panic!("no such event ({e}); saw {seen:?}"),
        }
    }
}

fn auth_failed(monitor: &Monitor) -> u16 {
    wait_event(monitor, |e| match e {
        MonitorEvent::HandshakeFailedAuth { status_code, .. } => Some(*status_code),
        _ => None,
    })
}

fn handshake_failed(monitor: &Monitor) -> String {
    wait_event(monitor, |e| match e {
        MonitorEvent::HandshakeFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// A PULL server bound on `t`, with its monitor and the endpoint to connect to.
fn server(ctx: &Context, t: Transport, setup: impl FnOnce(&mut Pull)) -> (Pull, Monitor, String) {
    server_at(ctx, &t.fresh_endpoint("zap"), setup)
}

/// A PULL server bound at `endpoint`, as [`server`].
fn server_at(
    ctx: &Context,
    endpoint: &str,
    setup: impl FnOnce(&mut Pull),
) -> (Pull, Monitor, String) {
    let mut pull = ctx.pull().unwrap();
    setup(&mut pull);
    let monitor = pull.monitor();
    pull.bind(endpoint).unwrap();
    let ep = pull.last_endpoint().unwrap().to_owned();
    (pull, monitor, ep)
}

/// A PUSH client connected to `ep`, with its monitor.
fn client(ctx: &Context, ep: &str, setup: impl FnOnce(&mut Push)) -> (Push, Monitor) {
    let mut push = ctx.push().unwrap();
    setup(&mut push);
    let monitor = push.monitor();
    push.connect(ep).unwrap();
    (push, monitor)
}

/// Sends one message and checks it arrives; returns it.
fn gets_through(push: &mut Push, pull: &mut Pull, text: &str) -> Message {
    push.send_timeout(text, WAIT).unwrap();
    let msg = pull.recv_timeout(WAIT).unwrap();
    assert_eq!(msg, text);
    msg
}

/// Queues a message and checks that nothing arrives.
fn nothing_gets_through(push: &mut Push, pull: &mut Pull) {
    // The PUSH has no peer: the message waits in the socket (or the send times out).
    let _ = push.send_timeout("must not arrive", Duration::from_millis(50));
    assert!(matches!(pull.recv_timeout(QUIET), Err(Error::TimedOut)));
}

fn user_id(msg: &Message) -> Option<Vec<u8>> {
    msg.metadata()
        .and_then(|m| m.get("User-Id"))
        .map(<[u8]>::to_vec)
}

fn plain_users() -> HashMap<String, String> {
    HashMap::from([("admin".to_owned(), "secret".to_owned())])
}

#[test]
fn plain_client_admitted_by_the_authenticator_carries_its_user_id() {
    util::within(TEST_LIMIT, || {
        for t in NET {
            let ctx = Context::new();
            let auth = Authenticator::start(&ctx).unwrap();
            auth.configure_plain(ferromq::auth::ANY_DOMAIN, plain_users());
            let (mut pull, smon, ep) = server(&ctx, t, |s| s.set_plain_server());
            let (mut push, _cmon) = client(&ctx, &ep, |c| {
                c.set_plain_client("admin", "secret").unwrap()
            });
            let msg = gets_through(&mut push, &mut pull, "hello");
            assert_eq!(user_id(&msg).as_deref(), Some(&b"admin"[..]), "{t:?}");
            wait_event(&smon, |e| {
                matches!(e, MonitorEvent::HandshakeSucceeded { .. }).then_some(())
            });
        }
    });
}

#[test]
fn plain_wrong_password_is_refused_with_400_on_both_sides() {
    util::within(TEST_LIMIT, || {
        for t in NET {
            let ctx = Context::new();
            let auth = Authenticator::start(&ctx).unwrap();
            auth.configure_plain(ferromq::auth::ANY_DOMAIN, plain_users());
            let (mut pull, smon, ep) = server(&ctx, t, |s| s.set_plain_server());
            let (mut push, cmon) =
                client(&ctx, &ep, |c| c.set_plain_client("admin", "wrong").unwrap());
            assert_eq!(auth_failed(&smon), 400, "server, {t:?}");
            assert_eq!(auth_failed(&cmon), 400, "client, {t:?}");
            nothing_gets_through(&mut push, &mut pull);
        }
    });
}

#[test]
fn curve_client_keys_allowed_refused_and_any() {
    util::within(TEST_LIMIT, || {
        for t in NET {
            let ctx = Context::new();
            let auth = Authenticator::start(&ctx).unwrap();
            let server_keys = CurveKeyPair::generate().unwrap();
            let allowed = CurveKeyPair::generate().unwrap();
            let stranger = CurveKeyPair::generate().unwrap();
            auth.configure_curve(ferromq::auth::ANY_DOMAIN, [*allowed.public()]);
            let (mut pull, smon, ep) =
                server(&ctx, t, |s| s.set_curve_server(server_keys.secret()));

            let (mut good, _) = client(&ctx, &ep, |c| {
                c.set_curve_client(server_keys.public(), &allowed)
            });
            let msg = gets_through(&mut good, &mut pull, "allowed");
            // The authenticator names a CURVE client by its key in Z85, as pyzmq's does.
            assert_eq!(
                user_id(&msg),
                Some(allowed.public().to_z85().into_bytes()),
                "{t:?}"
            );

            let (mut bad, cmon) = client(&ctx, &ep, |c| {
                c.set_curve_client(server_keys.public(), &stranger)
            });
            assert_eq!(auth_failed(&smon), 400, "server, {t:?}");
            assert_eq!(auth_failed(&cmon), 400, "client, {t:?}");
            nothing_gets_through(&mut bad, &mut pull);
            drop(bad);

            auth.allow_any_curve();
            let (mut any, _) = client(&ctx, &ep, |c| {
                c.set_curve_client(server_keys.public(), &stranger)
            });
            gets_through(&mut any, &mut pull, "any key that knows the server");
        }
    });
}

#[test]
fn a_wrong_curve_server_key_fails_the_handshake_without_auth_or_fallback() {
    util::within(TEST_LIMIT, || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        auth.allow_any_curve();
        let server_keys = CurveKeyPair::generate().unwrap();
        let not_the_server = CurveKeyPair::generate().unwrap();
        let (mut pull, smon, ep) = server(&ctx, Transport::Tcp, |s| {
            s.set_curve_server(server_keys.secret())
        });
        let (mut push, _) = client(&ctx, &ep, |c| {
            c.set_curve_client(not_the_server.public(), &CurveKeyPair::generate().unwrap())
        });
        let reason = handshake_failed(&smon);
        assert!(!reason.is_empty());
        nothing_gets_through(&mut push, &mut pull);
    });
}

#[test]
fn null_with_a_zap_domain_is_refused_and_admitted_by_address() {
    util::within(TEST_LIMIT, || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        auth.deny("127.0.0.1");
        let (mut pull, smon, ep) = server(&ctx, Transport::Tcp, |s| {
            s.set_zap_domain("global").unwrap()
        });
        let (mut push, cmon) = client(&ctx, &ep, |_| {});
        assert_eq!(auth_failed(&smon), 400);
        assert_eq!(auth_failed(&cmon), 400);
        nothing_gets_through(&mut push, &mut pull);
        drop(push);

        auth.clear_addresses();
        auth.allow("127.0.0.1");
        let (mut push, _) = client(&ctx, &ep, |_| {});
        gets_through(&mut push, &mut pull, "allowed by address");

        // Without a ZAP domain, NULL never asks: a denied address gets in.
        auth.clear_addresses();
        auth.deny("127.0.0.1");
        let (mut open, _, ep) = server(&ctx, Transport::Tcp, |_| {});
        let (mut push, _) = client(&ctx, &ep, |_| {});
        gets_through(&mut push, &mut open, "no domain, no ZAP");
    });
}

/// What a hand-written handler saw, and the ZAP reply frames it answers with.
fn check_request(body: &[Vec<u8>], address: &[u8], server_id: &[u8]) {
    let text: Vec<&[u8]> = body.iter().map(Vec::as_slice).collect();
    assert_eq!(
        text,
        [
            &b"1.0"[..],
            b"1",
            b"payments",
            address,
            server_id,
            b"PLAIN",
            b"alice",
            b"pw"
        ]
    );
}

/// The ZAP metadata a handler returns: one property, `X-Role: teller`.
const ROLE: &[u8] = b"\x06X-Role\x00\x00\x00\x06teller";

/// Runs a PLAIN server with ZAP domain "payments" and routing id "server-7" against a
/// client alice/pw, with `handle` serving the handler side; checks the properties.
///
/// `handle` gets the address the request must name: the peer's IP for tcp, the socket's
/// path for ipc.
fn plain_with_handler(ctx: &Context, t: Transport, handle: impl FnOnce(Vec<u8>) + Send + 'static) {
    let endpoint = t.fresh_endpoint("zap-handler");
    let address = match t {
        Transport::Tcp => b"127.0.0.1".to_vec(),
        _ => endpoint.trim_start_matches("ipc://").as_bytes().to_vec(),
    };
    let handler = std::thread::spawn(move || handle(address));
    let (mut pull, _smon, ep) = server_at(ctx, &endpoint, |s| {
        s.set_plain_server();
        s.set_zap_domain("payments").unwrap();
        s.set_identity("server-7").unwrap();
    });
    let (mut push, _) = client(ctx, &ep, |c| c.set_plain_client("alice", "pw").unwrap());
    let msg = gets_through(&mut push, &mut pull, "through a hand-written handler");
    let meta = msg.metadata().unwrap();
    assert_eq!(meta.get("User-Id"), Some(&b"alice-id"[..]));
    assert_eq!(meta.get("X-Role"), Some(&b"teller"[..]));
    handler.join().unwrap();
}

#[test]
fn a_hand_written_rep_handler_authenticates() {
    util::within(TEST_LIMIT, || {
        for t in NET {
            let ctx = Context::new();
            let mut rep = ctx.rep().unwrap();
            rep.bind(ZAP_ENDPOINT).unwrap();
            plain_with_handler(&ctx, t, move |address| {
                let request = rep.recv_timeout(WAIT).unwrap();
                let body: Vec<Vec<u8>> = request.body().iter().map(|f| f.to_vec()).collect();
                check_request(&body, &address, b"server-7");
                request
                    .reply(Message::multipart([
                        &b"1.0"[..],
                        b"1",
                        b"200",
                        b"OK",
                        b"alice-id",
                        ROLE,
                    ]))
                    .unwrap();
            });
        }
    });
}

#[test]
fn a_hand_written_router_handler_authenticates() {
    util::within(TEST_LIMIT, || {
        for t in NET {
            let ctx = Context::new();
            let mut router = ctx.router().unwrap();
            router.bind(ZAP_ENDPOINT).unwrap();
            plain_with_handler(&ctx, t, move |address| {
                let msg = router.recv_timeout(WAIT).unwrap();
                assert!(
                    msg[1].is_empty(),
                    "an empty delimiter follows the routing id"
                );
                let body: Vec<Vec<u8>> = msg.iter().skip(2).map(|f| f.to_vec()).collect();
                check_request(&body, &address, b"server-7");
                let mut reply = Message::multipart([msg[0].clone(), msg[1].clone()]);
                for part in [&b"1.0"[..], b"1", b"200", b"OK", b"alice-id", ROLE] {
                    reply.push(part.to_vec());
                }
                router.send_timeout(reply, WAIT).unwrap();
            });
        }
    });
}

#[test]
fn malformed_handler_replies_and_300_fail_the_handshake() {
    util::within(TEST_LIMIT, || {
        // (status code, reply body after the delimiter, expected auth status or None for a
        // protocol failure)
        let cases: [(&[&[u8]], Option<u16>); 4] = [
            (&[b"1.0", b"1", b"300", b"later", b"", b""], Some(300)),
            (&[b"1.0", b"1", b"500", b"oops", b"", b""], Some(500)),
            (&[b"1.0", b"2", b"200", b"OK", b"", b""], None),
            (&[b"1.0", b"1", b"200", b"OK", b""], None),
        ];
        for (body, expected) in cases {
            let ctx = Context::new();
            let mut rep = ctx.rep().unwrap();
            rep.bind(ZAP_ENDPOINT).unwrap();
            let body: Vec<Vec<u8>> = body.iter().map(|f| f.to_vec()).collect();
            let handler = std::thread::spawn(move || {
                let request = rep.recv_timeout(WAIT).unwrap();
                request.reply(Message::multipart(body)).unwrap();
                rep
            });
            let (mut pull, smon, ep) = server(&ctx, Transport::Tcp, |s| s.set_plain_server());
            let (mut push, _) = client(&ctx, &ep, |c| c.set_plain_client("u", "p").unwrap());
            match expected {
                Some(code) => assert_eq!(auth_failed(&smon), code),
                None => assert!(handshake_failed(&smon).contains("malformed ZAP reply")),
            }
            nothing_gets_through(&mut push, &mut pull);
            drop(handler.join().unwrap());
        }
    });
}

#[test]
fn without_a_handler_plain_is_refused_and_curve_admitted_unless_enforced() {
    util::within(TEST_LIMIT, || {
        let ctx = Context::new();
        let (mut pull, smon, ep) = server(&ctx, Transport::Tcp, |s| s.set_plain_server());
        let (mut push, _) = client(&ctx, &ep, |c| c.set_plain_client("a", "b").unwrap());
        assert!(handshake_failed(&smon).contains("no ZAP handler"));
        nothing_gets_through(&mut push, &mut pull);

        // CURVE with no handler: every client that knows the server key ("Stonehouse").
        let keys = CurveKeyPair::generate().unwrap();
        let (mut pull, _, ep) = server(&ctx, Transport::Tcp, |s| s.set_curve_server(keys.secret()));
        let (mut push, _) = client(&ctx, &ep, |c| {
            c.set_curve_client(keys.public(), &CurveKeyPair::generate().unwrap())
        });
        let msg = gets_through(&mut push, &mut pull, "stonehouse");
        assert_eq!(user_id(&msg), None);

        let (mut pull, smon, ep) = server(&ctx, Transport::Tcp, |s| {
            s.set_curve_server(keys.secret());
            s.set_zap_enforce_domain(true);
        });
        let (mut push, _) = client(&ctx, &ep, |c| {
            c.set_curve_client(keys.public(), &CurveKeyPair::generate().unwrap())
        });
        assert!(handshake_failed(&smon).contains("no ZAP handler"));
        nothing_gets_through(&mut push, &mut pull);
    });
}

#[test]
fn a_handler_that_never_answers_ends_in_the_handshake_timeout() {
    util::within(TEST_LIMIT, || {
        let ctx = Context::new();
        let mut rep = ctx.rep().unwrap();
        rep.bind(ZAP_ENDPOINT).unwrap();
        let (mut pull, smon, ep) = server(&ctx, Transport::Tcp, |s| {
            s.set_plain_server();
            s.set_handshake_timeout(Some(Duration::from_millis(200)));
        });
        let (mut push, _) = client(&ctx, &ep, |c| c.set_plain_client("u", "p").unwrap());
        // The handler takes the request and sits on it.
        let _request = rep.recv_timeout(WAIT).unwrap();
        assert!(handshake_failed(&smon).contains("timed out"));
        nothing_gets_through(&mut push, &mut pull);
    });
}

// ---------------------------------------------------------------------------------------
// libzmq (the `zmq` crate's vendored libzmq: PLAIN, no CURVE)

#[test]
fn libzmq_plain_clients_are_judged_by_our_authenticator() {
    util::within(TEST_LIMIT, || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        auth.configure_plain(ferromq::auth::ANY_DOMAIN, plain_users());
        let zctx = zmq::Context::new();
        for t in NET {
            let (mut pull, smon, ep) = server(&ctx, t, |s| s.set_plain_server());
            let good = zmq_socket(&zctx, zmq::PUSH);
            good.set_plain_username(Some("admin")).unwrap();
            good.set_plain_password(Some("secret")).unwrap();
            good.connect(&ep).unwrap();
            good.send("from libzmq", 0).unwrap();
            let msg = pull.recv_timeout(WAIT).unwrap();
            assert_eq!(msg, "from libzmq");
            assert_eq!(user_id(&msg).as_deref(), Some(&b"admin"[..]));

            let bad = zmq_socket(&zctx, zmq::PUSH);
            bad.set_plain_username(Some("admin")).unwrap();
            bad.set_plain_password(Some("guess")).unwrap();
            let bad_mon = libzmq_monitor(&zctx, &bad, zmq::SocketEvent::ALL);
            bad.connect(&ep).unwrap();
            assert_eq!(auth_failed(&smon), 400);
            // libzmq's PLAIN client fails its handshake on our ERROR "400". (libzmq spells
            // the ERROR name "\x05ERROR" in C, where the hex escape swallows the "E": it
            // sends and expects `^RROR`, so it reports our RFC 24 ERROR as an unexpected
            // command rather than as ZMQ_EVENT_HANDSHAKE_FAILED_AUTH.)
            let (event, value) = libzmq_event(&bad_mon, |e| {
                e == zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as u16
                    || e == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as u16
            });
            assert!(
                value == 400 || event == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as u16,
                "libzmq event {event:#x} value {value}"
            );
            bad.set_sndtimeo(0).unwrap();
            let _ = bad.send("must not arrive", zmq::DONTWAIT);
            assert!(matches!(pull.recv_timeout(QUIET), Err(Error::TimedOut)));
        }
    });
}

/// A libzmq monitor PAIR for `socket`, for the events in `mask`.
fn libzmq_monitor(
    zctx: &zmq::Context,
    socket: &zmq::Socket,
    mask: zmq::SocketEvent,
) -> zmq::Socket {
    let name = format!("inproc://{}", util::unique("zmon"));
    socket.monitor(&name, mask as i32).unwrap();
    let pair = zmq_socket(zctx, zmq::PAIR);
    pair.connect(&name).unwrap();
    pair
}

/// The next libzmq monitor event whose id `pick` accepts: its id and value.
fn libzmq_event(monitor: &zmq::Socket, pick: impl Fn(u16) -> bool) -> (u16, u32) {
    loop {
        let frames = monitor.recv_multipart(0).unwrap();
        let event = u16::from_ne_bytes([frames[0][0], frames[0][1]]);
        let value = u32::from_ne_bytes([frames[0][2], frames[0][3], frames[0][4], frames[0][5]]);
        if pick(event) {
            return (event, value);
        }
    }
}

/// A refusal seen by one of our clients of a libzmq PLAIN server: libzmq sends its ERROR
/// as `^RROR` (see above), which our PLAIN client reads as the ERROR it means; returns the
/// status code (`None` if the handshake failed some other way).
fn refused_by_libzmq(monitor: &Monitor) -> Option<u16> {
    wait_event(monitor, |e| match e {
        MonitorEvent::HandshakeFailedAuth { status_code, .. } => Some(Some(*status_code)),
        MonitorEvent::HandshakeFailed { .. } => Some(None),
        _ => None,
    })
}

/// A libzmq ZAP handler: a REP bound at the ZAP endpoint of `zctx`, answering requests on
/// a thread (admin/secret → 200 with user id "libzmq-admin", else 400) until `stop` is
/// set. It returns the requests it saw.
fn libzmq_zap_handler(
    zctx: &zmq::Context,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Vec<Vec<u8>>>> {
    let rep = zmq_socket(zctx, zmq::REP);
    rep.set_rcvtimeo(50).unwrap();
    rep.bind(ZAP_ENDPOINT).unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok(req) = rep.recv_multipart(0) else {
                continue;
            };
            let ok = req.len() == 8 && req[6] == b"admin" && req[7] == b"secret";
            let (code, user): (&[u8], &[u8]) = if ok {
                (b"200", b"libzmq-admin")
            } else {
                (b"400", b"")
            };
            rep.send_multipart([&b"1.0"[..], &req[1], code, b"", user, b""], 0)
                .unwrap();
            seen.push(req);
        }
        seen
    })
}

#[test]
fn a_libzmq_zap_handler_judges_our_plain_clients_both_bind_directions() {
    util::within(TEST_LIMIT, || {
        let zctx = zmq::Context::new();
        // Two requests per transport: one accepted, one refused; times two directions.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handler = libzmq_zap_handler(&zctx, stop.clone());
        let ctx = Context::new();
        for t in NET {
            // libzmq binds, we connect.
            let pull = zmq_socket(&zctx, zmq::PULL);
            pull.set_plain_server(true).unwrap();
            let ep = match t {
                Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
                _ => util::ipc_endpoint("zap-libzmq"),
            };
            pull.bind(&ep).unwrap();
            let ep = pull.get_last_endpoint().unwrap().unwrap();
            let (mut push, _) = client(&ctx, &ep, |c| {
                c.set_plain_client("admin", "secret").unwrap()
            });
            push.send_timeout("to libzmq", WAIT).unwrap();
            let mut msg = pull.recv_msg(0).unwrap();
            assert_eq!(&msg[..], b"to libzmq");
            assert_eq!(msg.gets("User-Id"), Some("libzmq-admin"));
            let (mut bad, cmon) = client(&ctx, &ep, |c| c.set_plain_client("admin", "no").unwrap());
            assert_eq!(refused_by_libzmq(&cmon), Some(400));
            let _ = bad.send_timeout("must not arrive", Duration::from_millis(50));
            pull.set_rcvtimeo(QUIET.as_millis() as i32).unwrap();
            assert!(pull.recv_bytes(0).is_err());
            drop(bad);

            // We bind, libzmq connects: the libzmq server socket is the connecting PULL.
            let mut push = ctx.push().unwrap();
            push.set_plain_client("admin", "secret").unwrap();
            push.bind(&t.fresh_endpoint("zap-rev")).unwrap();
            let ep = push.last_endpoint().unwrap().to_owned();
            let pull = zmq_socket(&zctx, zmq::PULL);
            pull.set_plain_server(true).unwrap();
            pull.connect(&ep).unwrap();
            push.send_timeout("to a connecting libzmq", WAIT).unwrap();
            assert_eq!(pull.recv_bytes(0).unwrap(), b"to a connecting libzmq");
            let mut bad = ctx.push().unwrap();
            bad.set_plain_client("admin", "no").unwrap();
            let bmon = bad.monitor();
            bad.bind(&t.fresh_endpoint("zap-rev-bad")).unwrap();
            let ep = bad.last_endpoint().unwrap().to_owned();
            let pull = zmq_socket(&zctx, zmq::PULL);
            pull.set_plain_server(true).unwrap();
            pull.set_rcvtimeo(QUIET.as_millis() as i32).unwrap();
            pull.connect(&ep).unwrap();
            assert_eq!(refused_by_libzmq(&bmon), Some(400));
            let _ = bad.send_timeout("must not arrive", Duration::from_millis(50));
            assert!(pull.recv_bytes(0).is_err());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = handler.join().unwrap();
        assert!(seen.len() >= 8, "an accepted and a refused client per case");
        for req in &seen {
            // (A REP takes the delimiter off.)
            assert_eq!(req[0], b"1.0");
            assert_eq!(req[1], b"1", "libzmq's request id");
            assert_eq!(req[5], b"PLAIN");
        }
    });
}

// ---------------------------------------------------------------------------------------
// pyzmq (libzmq 4.3.5 with CURVE)

/// pyzmq, or why the test cannot run (see [`util::python_with_pyzmq`]).
fn python_with_pyzmq() -> Option<&'static str> {
    util::python_with_pyzmq(true)
}

/// Runs a python script with `args`; returns its stdout lines once it exits (killed after
/// [`WAIT`] and more).
fn run_python(python: &str, script: &str, args: &[&str]) -> Vec<String> {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + WAIT * 2;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the python script ran too long");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(child.stdin.take().map(|mut s| s.flush()));
    reader.join().unwrap()
}

/// A pyzmq CURVE PUSH client: connects to argv[1] with server key argv[2] and its own
/// pair argv[3]/argv[4] (Z85), sends one message, waits for a monitor event saying
/// whether the handshake worked, and prints it.
const PY_CURVE_CLIENT: &str = r#"
import sys, zmq
from zmq.utils.monitor import recv_monitor_message
ctx = zmq.Context()
s = ctx.socket(zmq.PUSH)
s.setsockopt(zmq.LINGER, 2000)
s.curve_serverkey = sys.argv[2].encode()
s.curve_publickey = sys.argv[3].encode()
s.curve_secretkey = sys.argv[4].encode()
mon = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
mon.setsockopt(zmq.RCVTIMEO, 10000)
s.connect(sys.argv[1])
e = recv_monitor_message(mon)
if e["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
    s.send(b"from pyzmq")
    print("ok", flush=True)
else:
    print("auth %d" % e["value"], flush=True)
s.disable_monitor()
mon.close()
s.close()
ctx.term()
"#;

#[test]
fn pyzmq_curve_clients_are_judged_by_our_authenticator() {
    let Some(python) = python_with_pyzmq() else {
        return;
    };
    util::within(TEST_LIMIT, || {
        for t in NET {
            let ctx = Context::new();
            let auth = Authenticator::start(&ctx).unwrap();
            let server_keys = CurveKeyPair::generate().unwrap();
            let allowed = CurveKeyPair::generate().unwrap();
            let stranger = CurveKeyPair::generate().unwrap();
            auth.configure_curve(ferromq::auth::ANY_DOMAIN, [*allowed.public()]);
            let (mut pull, smon, ep) =
                server(&ctx, t, |s| s.set_curve_server(server_keys.secret()));
            let server_z85 = server_keys.public().to_z85();
            let lines = run_python(
                python,
                PY_CURVE_CLIENT,
                &[
                    &ep,
                    &server_z85,
                    &allowed.public().to_z85(),
                    &allowed.secret().to_z85(),
                ],
            );
            assert_eq!(lines, ["ok"], "{t:?}");
            let msg = pull.recv_timeout(WAIT).unwrap();
            assert_eq!(msg, "from pyzmq");
            assert_eq!(user_id(&msg), Some(allowed.public().to_z85().into_bytes()));

            let lines = run_python(
                python,
                PY_CURVE_CLIENT,
                &[
                    &ep,
                    &server_z85,
                    &stranger.public().to_z85(),
                    &stranger.secret().to_z85(),
                ],
            );
            assert_eq!(lines, ["auth 400"], "pyzmq saw our ERROR 400, {t:?}");
            assert_eq!(auth_failed(&smon), 400);
            assert!(matches!(pull.recv_timeout(QUIET), Err(Error::TimedOut)));
        }
    });
}

/// A pyzmq CURVE PULL server with `ThreadAuthenticator` allowing the client key argv[3]
/// (Z85): binds argv[1] with secret key argv[2], prints the endpoint, then prints each
/// message it gets with its User-Id, until it gets "stop" or 10 s pass.
const PY_CURVE_SERVER: &str = r#"
import sys, zmq
from zmq.auth.thread import ThreadAuthenticator
ctx = zmq.Context()
auth = ThreadAuthenticator(ctx)
auth.start()
import os, tempfile
certs = tempfile.mkdtemp()
with open(os.path.join(certs, "client.key"), "w") as f:
    f.write('metadata\ncurve\n    public-key = "%s"\n' % sys.argv[3])
auth.configure_curve(domain="*", location=certs)
s = ctx.socket(zmq.PULL)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.curve_server = True
s.curve_secretkey = sys.argv[2].encode()
s.bind(sys.argv[1])
print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
try:
    while True:
        m = s.recv(copy=False)
        if m.bytes == b"stop":
            break
        print("%s %s" % (m.bytes.decode(), m.get("User-Id")), flush=True)
except zmq.Again:
    print("timeout", flush=True)
s.close()
auth.stop()
ctx.term()
"#;

#[test]
fn a_pyzmq_thread_authenticator_judges_our_curve_clients() {
    let Some(python) = python_with_pyzmq() else {
        return;
    };
    util::within(TEST_LIMIT, || {
        for t in NET {
            let ep = match t {
                Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
                _ => util::ipc_endpoint("zap-py"),
            };
            let server_keys = CurveKeyPair::generate().unwrap();
            let allowed = CurveKeyPair::generate().unwrap();
            let stranger = CurveKeyPair::generate().unwrap();
            let mut child = Command::new(python)
                .arg("-c")
                .arg(PY_CURVE_SERVER)
                .args([
                    ep.as_str(),
                    &server_keys.secret().to_z85(),
                    &allowed.public().to_z85(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let ep = lines.next().unwrap().unwrap();
            let ctx = Context::new();
            let (mut bad, bmon) = client(&ctx, &ep, |c| {
                c.set_curve_client(server_keys.public(), &stranger)
            });
            assert_eq!(auth_failed(&bmon), 400, "{t:?}");
            let _ = bad.send_timeout("must not arrive", Duration::from_millis(50));
            drop(bad);
            let (mut good, _) = client(&ctx, &ep, |c| {
                c.set_curve_client(server_keys.public(), &allowed)
            });
            good.send_timeout("from ferromq", WAIT).unwrap();
            good.send_timeout("stop", WAIT).unwrap();
            let line = lines.next().unwrap().unwrap();
            assert_eq!(line, format!("from ferromq {}", allowed.public().to_z85()));
            let _ = child.wait();
        }
    });
}
