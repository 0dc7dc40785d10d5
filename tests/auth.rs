//! The built-in ZAP handler at the protocol level (RFC 27): a DEALER or REQ in the same
//! context plays the server socket's engine, sends hand-built requests to
//! `inproc://zeromq.zap.01` and checks the reply frames byte for byte. Also: a user's own
//! REP handler bound there gets the same requests.

mod util;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferromq::auth::{create_certificates, ZAP_ENDPOINT};
use ferromq::{Authenticator, Context, CurveKeyPair, CurvePublicKey, Dealer, Error, Message};

const WAIT: Duration = Duration::from_secs(5);
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

/// A request as a DEALER sends it: empty delimiter first.
fn request(id: &str, domain: &str, address: &str, mechanism: &str, creds: &[&[u8]]) -> Message {
    let mut msg = Message::multipart(["", "1.0", id, domain, address, "server-id", mechanism]);
    for c in creds {
        msg.push(c.to_vec());
    }
    msg
}

fn client(ctx: &Context) -> Dealer {
    let mut dealer = ctx.dealer().unwrap();
    dealer.connect(ZAP_ENDPOINT).unwrap();
    dealer
}

/// Sends `msg`, returns the reply's frames as byte strings.
fn ask(dealer: &mut Dealer, msg: Message) -> Vec<Vec<u8>> {
    dealer.send_timeout(msg, WAIT).unwrap();
    let reply = dealer.recv_timeout(WAIT).unwrap();
    reply.into_iter().map(Vec::from).collect()
}

fn frames(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

#[test]
fn null_peer_admitted_with_exact_reply_frames() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let _auth = Authenticator::start(&ctx).unwrap();
        let mut dealer = client(&ctx);
        let reply = ask(
            &mut dealer,
            request("1", "global", "127.0.0.1", "NULL", &[]),
        );
        assert_eq!(reply, frames(&["", "1.0", "1", "200", "OK", "", ""]));
    });
}

#[test]
fn addresses_allowed_and_denied_while_running() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        let mut dealer = client(&ctx);
        let null = |id: &str, addr: &str| request(id, "d", addr, "NULL", &[]);

        auth.deny("10.0.0.9");
        assert_eq!(
            ask(&mut dealer, null("a", "10.0.0.9")),
            frames(&["", "1.0", "a", "400", "Address denied", "", ""])
        );
        assert_eq!(ask(&mut dealer, null("b", "10.0.0.8"))[3], b"200");

        auth.clear_addresses();
        auth.allow("127.0.0.1");
        assert_eq!(ask(&mut dealer, null("c", "127.0.0.1"))[3], b"200");
        assert_eq!(
            ask(&mut dealer, null("d", "10.0.0.8")),
            frames(&["", "1.0", "d", "400", "Address not allowed", "", ""])
        );
        // An IPv4-mapped IPv6 address is the same peer.
        assert_eq!(ask(&mut dealer, null("e", "::ffff:127.0.0.1"))[3], b"200");
    });
}

#[test]
fn plain_users_from_a_map() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        let mut dealer = client(&ctx);
        let plain = |domain: &str, user: &str, pw: &str| {
            request(
                "7",
                domain,
                "127.0.0.1",
                "PLAIN",
                &[user.as_bytes(), pw.as_bytes()],
            )
        };
        assert_eq!(
            ask(&mut dealer, plain("", "admin", "secret")),
            frames(&["", "1.0", "7", "400", "No passwords defined", "", ""])
        );
        auth.configure_plain(
            "*",
            HashMap::from([("admin".to_owned(), "secret".to_owned())]),
        );
        assert_eq!(
            ask(&mut dealer, plain("", "admin", "secret")),
            frames(&["", "1.0", "7", "200", "OK", "admin", ""])
        );
        assert_eq!(
            ask(&mut dealer, plain("", "admin", "wrong")),
            frames(&["", "1.0", "7", "400", "Invalid password", "", ""])
        );
        assert_eq!(
            ask(&mut dealer, plain("", "eve", "secret"))[4],
            b"Invalid username"
        );

        // A domain with users of its own; an unknown domain falls back to "*", and
        // without "*" it is refused.
        auth.configure_plain(
            "billing",
            HashMap::from([("bob".to_owned(), "pw".to_owned())]),
        );
        assert_eq!(ask(&mut dealer, plain("billing", "bob", "pw"))[5], b"bob");
        assert_eq!(
            ask(&mut dealer, plain("billing", "admin", "secret"))[3],
            b"400"
        );
        assert_eq!(
            ask(&mut dealer, plain("other", "admin", "secret"))[3],
            b"200"
        );
        auth.configure_plain("*", HashMap::new());
        assert_eq!(
            ask(&mut dealer, plain("other", "admin", "secret")),
            frames(&["", "1.0", "7", "400", "Invalid domain", "", ""])
        );
        // An allowed address does not excuse a bad password.
        auth.allow("127.0.0.1");
        assert_eq!(ask(&mut dealer, plain("billing", "bob", "nope"))[3], b"400");
    });
}

#[test]
fn curve_keys_from_a_list_a_directory_or_any() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        let mut dealer = client(&ctx);
        let known = CurvePublicKey::from_z85(CLIENT_PUBLIC).unwrap();
        let stranger = CurveKeyPair::generate().unwrap();
        let curve = |k: &CurvePublicKey| request("9", "", "127.0.0.1", "CURVE", &[k.as_bytes()]);

        assert_eq!(
            ask(&mut dealer, curve(&known)),
            frames(&["", "1.0", "9", "400", "Unknown domain", "", ""])
        );
        auth.configure_curve("*", [known]);
        assert_eq!(
            ask(&mut dealer, curve(&known)),
            frames(&["", "1.0", "9", "200", "OK", CLIENT_PUBLIC, ""])
        );
        assert_eq!(
            ask(&mut dealer, curve(stranger.public())),
            frames(&["", "1.0", "9", "400", "Unknown key", "", ""])
        );

        // Any client that knows the server key.
        auth.allow_any_curve();
        let reply = ask(&mut dealer, curve(stranger.public()));
        assert_eq!(reply[3], b"200");
        assert_eq!(reply[5], stranger.public().to_z85().as_bytes());

        // From a directory of certificates: configure_curve_dir turns "any" off again.
        let dir = std::env::temp_dir().join(format!("ferromq-auth-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (public_file, _) = create_certificates(&dir, "alice").unwrap();
        let (alice, _) = ferromq::auth::load_certificate(&public_file).unwrap();
        assert_eq!(auth.configure_curve_dir("*", &dir).unwrap(), 1);
        assert_eq!(ask(&mut dealer, curve(&alice))[3], b"200");
        assert_eq!(ask(&mut dealer, curve(stranger.public()))[3], b"400");
        assert_eq!(ask(&mut dealer, curve(&known))[3], b"400");
        // A bad directory is an error and leaves the rules as they were.
        std::fs::write(dir.join("broken.key"), "curve\n").unwrap();
        assert!(matches!(
            auth.configure_curve_dir("*", &dir),
            Err(Error::InvalidKey(_))
        ));
        assert_eq!(ask(&mut dealer, curve(&alice))[3], b"200");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn malformed_requests_get_500_or_are_dropped() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = log.clone();
        auth.set_log(Some(Box::new(move |line: &str| {
            sink.lock().unwrap().push(line.to_owned())
        })));
        let mut dealer = client(&ctx);

        let mut bad_version = request("v", "", "127.0.0.1", "NULL", &[]);
        let mut parts: Vec<_> = bad_version.into_frames();
        parts[1] = "2.0".into();
        bad_version = parts.into_iter().collect();
        assert_eq!(
            ask(&mut dealer, bad_version),
            frames(&["", "1.0", "v", "500", "Unsupported ZAP version", "", ""])
        );
        assert_eq!(
            ask(
                &mut dealer,
                Message::multipart(["", "1.0", "short", "domain"])
            ),
            frames(&["", "1.0", "short", "500", "Malformed request", "", ""])
        );
        assert_eq!(
            ask(
                &mut dealer,
                request("c", "", "127.0.0.1", "CURVE", &[b"short key"])
            ),
            frames(&["", "1.0", "c", "500", "Malformed credentials", "", ""])
        );
        assert_eq!(
            ask(
                &mut dealer,
                request("p", "", "127.0.0.1", "PLAIN", &[b"only-user"])
            ),
            frames(&["", "1.0", "p", "500", "Malformed credentials", "", ""])
        );
        assert_eq!(
            ask(
                &mut dealer,
                request("g", "", "127.0.0.1", "GSSAPI", &[b"x"])
            )[4],
            b"Unsupported mechanism"
        );

        // No delimiter, or no request id: dropped. The next good request is answered,
        // and its reply is the first thing that comes back.
        dealer
            .send_timeout(Message::multipart(["1.0", "x"]), WAIT)
            .unwrap();
        dealer
            .send_timeout(Message::multipart(["", "1.0"]), WAIT)
            .unwrap();
        let reply = ask(&mut dealer, request("ok", "", "127.0.0.1", "NULL", &[]));
        assert_eq!(reply, frames(&["", "1.0", "ok", "200", "OK", "", ""]));
        assert!(matches!(
            dealer.recv_timeout(Duration::from_millis(100)),
            Err(Error::TimedOut)
        ));
        let lines = log.lock().unwrap();
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("dropped")).count(),
            2,
            "{lines:?}"
        );
    });
}

#[test]
fn a_req_server_gets_answers_too() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let _auth = Authenticator::start(&ctx).unwrap();
        let mut req = ctx.req().unwrap();
        req.connect(ZAP_ENDPOINT).unwrap();
        // REQ adds the delimiter itself.
        let pending = req
            .send(["1.0", "42", "", "192.168.1.1", "", "NULL"])
            .unwrap();
        let reply: Vec<Vec<u8>> = pending
            .recv_timeout(WAIT)
            .unwrap()
            .into_iter()
            .map(Vec::from)
            .collect();
        assert_eq!(reply, frames(&["1.0", "42", "200", "OK", "", ""]));
    });
}

#[test]
fn one_handler_per_context_and_stop_frees_the_endpoint() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        assert!(auth.is_running());
        assert!(matches!(
            Authenticator::start(&ctx),
            Err(Error::AddressInUse(_))
        ));
        // Another context has its own inproc namespace.
        let other = Context::new();
        let _other_auth = Authenticator::start(&other).unwrap();

        auth.stop().unwrap();
        let again = Authenticator::start(&ctx).unwrap();
        let mut dealer = client(&ctx);
        assert_eq!(
            ask(&mut dealer, request("r", "", "::1", "NULL", &[]))[3],
            b"200"
        );
        // Dropping with a client still connected and a request unanswered does not hang.
        dealer
            .send_timeout(request("s", "", "::1", "NULL", &[]), WAIT)
            .unwrap();
        drop(again);
        let mut rep = ctx.rep().unwrap();
        rep.bind(ZAP_ENDPOINT).unwrap();
    });
}

#[test]
fn a_users_own_rep_handler_gets_the_request() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let mut rep = ctx.rep().unwrap();
        rep.bind(ZAP_ENDPOINT).unwrap();
        // The built-in one cannot take the endpoint from it.
        assert!(matches!(
            Authenticator::start(&ctx),
            Err(Error::AddressInUse(_))
        ));
        let mut dealer = client(&ctx);
        dealer
            .send_timeout(
                request("1", "dom", "10.1.2.3", "PLAIN", &[b"u", b"p"]),
                WAIT,
            )
            .unwrap();
        let request = rep.recv_timeout(WAIT).unwrap();
        let body: Vec<Vec<u8>> = request.body().iter().map(|f| f.to_vec()).collect();
        assert_eq!(
            body,
            frames(&[
                "1.0",
                "1",
                "dom",
                "10.1.2.3",
                "server-id",
                "PLAIN",
                "u",
                "p"
            ])
        );
        request.reply(["1.0", "1", "200", "OK", "u", ""]).unwrap();
        let reply: Vec<Vec<u8>> = dealer
            .recv_timeout(WAIT)
            .unwrap()
            .into_iter()
            .map(Vec::from)
            .collect();
        assert_eq!(reply, frames(&["", "1.0", "1", "200", "OK", "u", ""]));
    });
}

#[test]
fn a_users_own_router_handler_sees_the_envelope() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let mut router = ctx.router().unwrap();
        router.bind(ZAP_ENDPOINT).unwrap();
        let mut dealer = client(&ctx);
        dealer
            .send_timeout(request("5", "", "10.1.2.3", "NULL", &[]), WAIT)
            .unwrap();
        let msg = router.recv_timeout(WAIT).unwrap();
        assert_eq!(msg.len(), 8);
        assert!(msg[1].is_empty());
        assert_eq!(&msg[2][..], b"1.0");
        let mut reply = Message::multipart([msg[0].clone(), msg[1].clone()]);
        for part in ["1.0", "5", "400", "No", "", ""] {
            reply.push(part);
        }
        router.send_timeout(reply, WAIT).unwrap();
        assert_eq!(
            dealer
                .recv_timeout(WAIT)
                .unwrap()
                .into_iter()
                .map(Vec::from)
                .collect::<Vec<_>>(),
            frames(&["", "1.0", "5", "400", "No", "", ""])
        );
    });
}

#[test]
fn stop_does_not_hang_on_a_stuck_log_callback() {
    util::within(Duration::from_secs(30), || {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).unwrap();
        let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Mutex::new(released);
        auth.set_log(Some(Box::new(move |line: &str| {
            if line.starts_with("200") {
                let _ = entered_tx.send(());
                // Stuck until the test lets go (or gives up after 20 s).
                let _ = released
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(20));
            }
        })));
        let mut dealer = client(&ctx);
        dealer
            .send_timeout(request("1", "", "127.0.0.1", "NULL", &[]), WAIT)
            .unwrap();
        entered.recv_timeout(WAIT).unwrap();
        // The thread is inside the callback: stop gives up after STOP_TIMEOUT.
        assert!(matches!(auth.stop(), Err(Error::TimedOut)));
        release.send(()).unwrap();
        // Once the callback returns, the thread ends and the endpoint is free again.
        assert!(util::eventually(WAIT, || Authenticator::start(&ctx).is_ok()));
    });
}
