//! PLAIN and CURVE through [`Connection`]: two sides joined in memory, as the NULL tests
//! in `connection.rs` do, with ZAP answered by hand.

use bytes::{Bytes, BytesMut};
use zeroize::Zeroizing;

use super::connection::tests::{drain, drive, drive_chunked, msg, take_output, Side};
use super::connection::{Connection, ConnectionConfig, Event, USER_ID_PROPERTY};
use super::frame;
use super::mechanism::{MechanismConfig, ZapReply};
use crate::error::Error;
use crate::keys::CurveKeyPair;
use crate::message::Message;
use crate::socket_type::SocketType;

fn config(t: SocketType, mechanism: MechanismConfig, zap: bool) -> ConnectionConfig {
    ConnectionConfig {
        mechanism,
        zap,
        ..ConnectionConfig::new(t)
    }
}

fn plain_client(user: &str, pass: &str) -> MechanismConfig {
    MechanismConfig::PlainClient {
        username: Bytes::copy_from_slice(user.as_bytes()),
        password: Zeroizing::new(pass.as_bytes().to_vec()),
    }
}

struct Keys {
    server: CurveKeyPair,
    client: CurveKeyPair,
}

fn keys() -> Keys {
    Keys {
        server: CurveKeyPair::generate().unwrap(),
        client: CurveKeyPair::generate().unwrap(),
    }
}

fn curve_client(server: &CurveKeyPair, client: &CurveKeyPair) -> MechanismConfig {
    MechanismConfig::CurveClient {
        server_public: *server.public().as_bytes(),
        public: *client.public().as_bytes(),
        secret: Zeroizing::new(*client.secret().as_bytes()),
    }
}

fn curve_server(server: &CurveKeyPair) -> MechanismConfig {
    MechanismConfig::CurveServer {
        secret: Zeroizing::new(*server.secret().as_bytes()),
    }
}

fn accept(user_id: &str) -> ZapReply {
    ZapReply {
        status_code: 200,
        user_id: Bytes::copy_from_slice(user_id.as_bytes()),
        metadata: Bytes::new(),
    }
}

fn refuse(code: u16) -> ZapReply {
    ZapReply {
        status_code: code,
        user_id: Bytes::new(),
        metadata: Bytes::new(),
    }
}

/// The ZAP requests a side emitted, taken out of its events.
fn zap_requests(side: &mut Side) -> Vec<super::mechanism::ZapRequest> {
    let mut out = Vec::new();
    side.events.retain(|e| match e {
        Event::Zap(r) => {
            out.push(r.clone());
            false
        }
        _ => true,
    });
    out
}

fn ready_count(side: &Side) -> usize {
    side.events
        .iter()
        .filter(|e| matches!(e, Event::Ready(_)))
        .count()
}

fn peer_property(side: &Side, name: &str) -> Option<Vec<u8>> {
    side.events.iter().find_map(|e| match e {
        Event::Ready(info) => info.properties.get(name.as_bytes()).map(<[u8]>::to_vec),
        _ => None,
    })
}

/// Messages both ways, multipart and large, checked byte by byte.
fn exchange(a: &mut Side, b: &mut Side) {
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    let sent = [
        msg(&[b"hello"]),
        msg(&[b"", b"envelope", b"three parts"]),
        msg(&[&big[..]]),
        msg(&[b""]),
    ];
    for m in &sent {
        a.conn.send_message(m);
        b.conn.send_message(m);
    }
    drive(a, b);
    assert_eq!(a.messages(), sent, "{a:?}");
    assert_eq!(b.messages(), sent, "{b:?}");
}

#[test]
fn plain_handshake_asks_zap_and_passes_the_user_id_on() {
    let mut client = Side::new(config(
        SocketType::Dealer,
        plain_client("admin", "secret"),
        false,
    ));
    let mut server = Side::new(config(
        SocketType::Router,
        MechanismConfig::PlainServer,
        false,
    ));
    drive(&mut client, &mut server);
    let requests = zap_requests(&mut server);
    assert_eq!(requests.len(), 1, "{server:?}");
    assert_eq!(requests[0].mechanism, "PLAIN");
    assert_eq!(
        requests[0].credentials,
        [Bytes::from("admin"), Bytes::from("secret")]
    );
    assert_eq!(ready_count(&client) + ready_count(&server), 0);

    server.conn.zap_reply(accept("admin-id")).unwrap();
    drive(&mut client, &mut server);
    assert_eq!((ready_count(&client), ready_count(&server)), (1, 1));
    assert_eq!(
        peer_property(&server, USER_ID_PROPERTY),
        Some(b"admin-id".to_vec())
    );
    assert_eq!(peer_property(&client, USER_ID_PROPERTY), None);
    exchange(&mut client, &mut server);
}

#[test]
fn plain_greetings_announce_the_mechanism_and_role() {
    let mut client = Connection::new(config(SocketType::Req, plain_client("u", "p"), false));
    let mut server = Connection::new(config(SocketType::Rep, MechanismConfig::PlainServer, false));
    let (c, s) = (take_output(&mut client), take_output(&mut server));
    assert_eq!(&c[12..32], b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    assert_eq!((c[32], s[32]), (0, 1), "as-server byte");
}

#[test]
fn refused_credentials_end_both_sides_with_the_status_code() {
    for code in [400u16, 500] {
        let mut client = Side::new(config(SocketType::Req, plain_client("u", "wrong"), false));
        let mut server = Side::new(config(SocketType::Rep, MechanismConfig::PlainServer, false));
        drive(&mut client, &mut server);
        let err = server.conn.zap_reply(refuse(code)).unwrap_err();
        assert!(matches!(err, Error::AuthenticationFailed { status_code } if status_code == code));
        let out = take_output(&mut server.conn);
        let expected = format!("\x04\x0a\x05ERROR\x03{code}");
        assert_eq!(
            out,
            expected.as_bytes(),
            "libzmq's ERROR for a refused ZAP request"
        );
        client.conn.input().extend_from_slice(&out);
        client.poll_all();
        assert!(
            matches!(client.error, Some(Error::AuthenticationFailed { status_code }) if status_code == code),
            "{client:?}"
        );
        assert!(matches!(
            server.conn.poll_event(),
            Err(Error::AuthenticationFailed { .. })
        ));
    }
}

#[test]
fn a_temporary_zap_failure_closes_without_an_error_command() {
    let mut client = Side::new(config(SocketType::Req, plain_client("u", "p"), false));
    let mut server = Side::new(config(SocketType::Rep, MechanismConfig::PlainServer, false));
    drive(&mut client, &mut server);
    let err = server.conn.zap_reply(refuse(300)).unwrap_err();
    assert!(matches!(
        err,
        Error::AuthenticationFailed { status_code: 300 }
    ));
    assert!(!server.conn.has_output());
    assert!(
        server.conn.zap_reply(accept("late")).is_err(),
        "failures are sticky"
    );
}

#[test]
fn zap_answers_out_of_place_are_refused() {
    let mut server = Connection::new(config(SocketType::Rep, MechanismConfig::PlainServer, false));
    assert!(server.zap_reply(accept("x")).is_err());
    let mut client = Side::new(config(SocketType::Req, plain_client("u", "p"), false));
    let mut server = Side::new(config(SocketType::Rep, MechanismConfig::PlainServer, false));
    drive(&mut client, &mut server);
    assert!(matches!(
        server.conn.zap_reply(refuse(201)),
        Err(Error::Protocol(_))
    ));
}

#[test]
fn null_with_zap_waits_for_the_answer_before_ready() {
    let mut a = Side::new(config(SocketType::Pull, MechanismConfig::Null, true));
    let mut b = Side::new(config(SocketType::Push, MechanismConfig::Null, false));
    drive(&mut a, &mut b);
    let requests = zap_requests(&mut a);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].mechanism, "NULL");
    assert!(requests[0].credentials.is_empty());
    assert_eq!(
        ready_count(&a) + ready_count(&b),
        0,
        "no READY before ZAP answers"
    );
    a.conn.zap_reply(accept("anonymous")).unwrap();
    drive(&mut a, &mut b);
    assert_eq!((ready_count(&a), ready_count(&b)), (1, 1));
    assert_eq!(
        peer_property(&a, USER_ID_PROPERTY),
        Some(b"anonymous".to_vec())
    );
}

#[test]
fn zap_metadata_becomes_peer_properties() {
    let mut a = Side::new(config(SocketType::Pull, MechanismConfig::Null, true));
    let mut b = Side::new(config(SocketType::Push, MechanismConfig::Null, false));
    drive(&mut a, &mut b);
    let mut metadata = BytesMut::new();
    super::metadata::encode(&mut metadata, &[("X-Role", b"admin")]);
    a.conn
        .zap_reply(ZapReply {
            status_code: 200,
            user_id: Bytes::new(),
            metadata: metadata.freeze(),
        })
        .unwrap();
    drive(&mut a, &mut b);
    assert_eq!(peer_property(&a, "X-Role"), Some(b"admin".to_vec()));
    assert_eq!(
        peer_property(&a, USER_ID_PROPERTY),
        None,
        "empty user id: none"
    );
}

fn curve_pair(k: &Keys, zap: bool) -> (Side, Side) {
    let client = Side::new(config(
        SocketType::Dealer,
        curve_client(&k.server, &k.client),
        false,
    ));
    let server = Side::new(config(SocketType::Router, curve_server(&k.server), zap));
    (client, server)
}

#[test]
fn curve_handshake_and_traffic_without_zap() {
    let k = keys();
    let (mut client, mut server) = curve_pair(&k, false);
    drive(&mut client, &mut server);
    assert_eq!(
        (ready_count(&client), ready_count(&server)),
        (1, 1),
        "{client:?} {server:?}"
    );
    exchange(&mut client, &mut server);
}

#[test]
fn curve_decodes_the_same_at_every_chunk_size() {
    let k = keys();
    for chunk in [1, 7, 64, 199, 4096] {
        let (mut client, mut server) = curve_pair(&k, false);
        drive_chunked(&mut client, &mut server, chunk);
        assert_eq!(
            (ready_count(&client), ready_count(&server)),
            (1, 1),
            "chunk {chunk}"
        );
        let m = msg(&[b"a", b"bc", &[9u8; 3000][..]]);
        client.conn.send_message(&m);
        server.conn.send_message(&m);
        drive_chunked(&mut client, &mut server, chunk);
        assert_eq!(client.messages(), std::slice::from_ref(&m));
        assert_eq!(server.messages(), [m]);
    }
}

#[test]
fn curve_server_asks_zap_with_the_client_key() {
    let k = keys();
    let (mut client, mut server) = curve_pair(&k, true);
    drive(&mut client, &mut server);
    let requests = zap_requests(&mut server);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].mechanism, "CURVE");
    assert_eq!(
        requests[0].credentials,
        [Bytes::copy_from_slice(k.client.public().as_bytes())]
    );
    assert_eq!(ready_count(&client) + ready_count(&server), 0);
    server.conn.zap_reply(accept("alice")).unwrap();
    drive(&mut client, &mut server);
    assert_eq!((ready_count(&client), ready_count(&server)), (1, 1));
    assert_eq!(
        peer_property(&server, USER_ID_PROPERTY),
        Some(b"alice".to_vec())
    );
    exchange(&mut client, &mut server);
}

#[test]
fn curve_handshake_commands_have_libzmq_sizes() {
    let k = keys();
    let mut client = Connection::new(config(
        SocketType::Req,
        curve_client(&k.server, &k.client),
        false,
    ));
    let mut server = Connection::new(config(SocketType::Rep, curve_server(&k.server), false));
    let c = take_output(&mut client);
    let s = take_output(&mut server);
    assert_eq!(&c[12..17], b"CURVE");
    assert_eq!((c[32], s[32]), (0, 1), "as-server byte");
    server.input().extend_from_slice(&c);
    let _ = drain(&mut server);
    client.input().extend_from_slice(&s);
    let _ = drain(&mut client);
    let hello = take_output(&mut client);
    // A command frame with a long header? No: 200 bytes fits a short one.
    assert_eq!(&hello[..2], &[0x04, 200]);
    assert_eq!(&hello[2..10], b"\x05HELLO\x01\x00");
    assert!(hello[10..82].iter().all(|&b| b == 0), "72 bytes of padding");
    assert_eq!(
        &hello[114..122],
        &1u64.to_be_bytes(),
        "HELLO's short nonce is 1"
    );
    server.input().extend_from_slice(&hello);
    let _ = drain(&mut server);
    let welcome = take_output(&mut server);
    assert_eq!(&welcome[..2], &[0x04, 168]);
    assert_eq!(&welcome[2..10], b"\x07WELCOME");
    client.input().extend_from_slice(&welcome);
    let _ = drain(&mut client);
    let initiate = take_output(&mut client);
    let header = frame::decode_header(&initiate).unwrap().unwrap();
    assert!(header.is_command());
    assert!(header.size >= 257, "INITIATE of {}", header.size);
    assert_eq!(
        &initiate[header.header_len..header.header_len + 9],
        b"\x08INITIATE"
    );
    server.input().extend_from_slice(&initiate);
    let (events, error) = drain(&mut server);
    assert!(error.is_none() && matches!(events[..], [Event::Ready(_)]));
    let ready = take_output(&mut server);
    let header = frame::decode_header(&ready).unwrap().unwrap();
    assert_eq!(
        &ready[header.header_len..header.header_len + 6],
        b"\x05READY"
    );
    assert_eq!(
        &ready[header.header_len + 6..header.header_len + 14],
        &1u64.to_be_bytes()
    );
    client.input().extend_from_slice(&ready);
    let (events, error) = drain(&mut client);
    assert!(error.is_none() && matches!(events[..], [Event::Ready(_)]));

    // A MESSAGE: a frame without flags, name, nonce 3 (after HELLO and INITIATE), box.
    client.send_message(&msg(&[b"hi", b"there"]));
    let out = take_output(&mut client);
    assert_eq!(&out[..2], &[0x00, 8 + 8 + 16 + 1 + 2]);
    assert_eq!(&out[2..10], b"\x07MESSAGE");
    assert_eq!(&out[10..18], &3u64.to_be_bytes());
    let second = 2 + usize::from(out[1]);
    assert_eq!(
        out[second], 0x00,
        "MORE is inside the box, not on the frame"
    );
    assert_eq!(&out[second + 10..second + 18], &4u64.to_be_bytes());
    assert!(
        !out.windows(5).any(|w| w == b"there"),
        "the payload is encrypted"
    );
}

#[test]
fn curve_subscriptions_and_pings_travel_inside_messages() {
    let k = keys();
    let mut sub = Side::new(config(
        SocketType::Sub,
        curve_client(&k.server, &k.client),
        false,
    ));
    let mut publisher = Side::new(config(SocketType::Pub, curve_server(&k.server), false));
    drive(&mut sub, &mut publisher);
    assert_eq!((ready_count(&sub), ready_count(&publisher)), (1, 1));
    sub.conn
        .send_message(&Message::subscription(true, b"weather"));
    sub.conn
        .send_message(&Message::subscription(false, b"weather"));
    sub.conn.send_ping(30, b"ctx");
    let wire = take_output(&mut sub.conn);
    assert!(!wire.windows(9).any(|w| w == b"SUBSCRIBE"));
    assert!(!wire.windows(4).any(|w| w == b"PING"));
    publisher.conn.input().extend_from_slice(&wire);
    publisher.poll_all();
    assert!(publisher.error.is_none(), "{publisher:?}");
    assert!(publisher
        .events
        .iter()
        .any(|e| matches!(e, Event::Subscribe(t) if &t[..] == b"weather")));
    assert!(publisher
        .events
        .iter()
        .any(|e| matches!(e, Event::Cancel(t) if &t[..] == b"weather")));
    assert_eq!(publisher.conn.take_peer_ttl(), Some(30));
    // The PONG goes back inside a MESSAGE too, and the subscriber takes it.
    let pong = take_output(&mut publisher.conn);
    assert_eq!(&pong[2..10], b"\x07MESSAGE");
    sub.conn.input().extend_from_slice(&pong);
    sub.poll_all();
    assert!(sub.error.is_none(), "{sub:?}");
}

/// A CURVE pair after the handshake, and the wire bytes of one message from the client.
fn curve_message_bytes(k: &Keys) -> (Side, Side, Vec<u8>) {
    let (mut client, mut server) = curve_pair(k, false);
    drive(&mut client, &mut server);
    client.conn.send_message(&msg(&[b"payload"]));
    let wire = take_output(&mut client.conn);
    (client, server, wire)
}

fn fails_with(side: &mut Side, bytes: &[u8], what: &str) {
    let before = side.messages().len();
    side.conn.input().extend_from_slice(bytes);
    side.poll_all();
    assert!(
        matches!(&side.error, Some(Error::Protocol(m)) if m.contains(what)),
        "expected an error about {what:?}, got {:?}",
        side.error
    );
    assert_eq!(side.messages().len(), before, "nothing of it was delivered");
}

#[test]
fn a_flipped_bit_anywhere_in_a_box_closes_the_connection() {
    let k = keys();
    let (_, _, wire) = curve_message_bytes(&k);
    for at in 18..wire.len() {
        let (_, mut server, wire) = curve_message_bytes(&k);
        let mut bad = wire.clone();
        bad[at] ^= 0x10;
        fails_with(&mut server, &bad, "does not open");
    }
}

#[test]
fn replayed_or_older_nonces_close_the_connection() {
    let k = keys();
    let (mut client, mut server, first) = curve_message_bytes(&k);
    client.conn.send_message(&msg(&[b"second"]));
    let second = take_output(&mut client.conn);
    server.conn.input().extend_from_slice(&second);
    server.poll_all();
    assert_eq!(server.messages(), [msg(&[b"second"])]);
    // The first message, delivered late, has a lower nonce.
    fails_with(&mut server, &first, "not above");

    let (_, mut server, wire) = curve_message_bytes(&k);
    server.conn.input().extend_from_slice(&wire);
    server.poll_all();
    assert_eq!(server.messages().len(), 1);
    fails_with(&mut server, &wire, "not above");
}

#[test]
fn truncated_or_foreign_commands_are_refused() {
    let k = keys();
    // A MESSAGE shorter than its fixed part.
    let (_, mut server, _) = curve_message_bytes(&k);
    fails_with(
        &mut server,
        b"\x00\x0a\x07MESSAGE\x00\x01",
        "malformed CURVE MESSAGE",
    );
    // Something that is not a MESSAGE.
    let (_, mut server, _) = curve_message_bytes(&k);
    let mut clear = BytesMut::new();
    frame::encode_header(&mut clear, 0, 40);
    clear.extend_from_slice(&[b'x'; 40]);
    fails_with(&mut server, &clear, "expected a CURVE MESSAGE");
}

/// The server's side after the greeting, fed `hello` as the client's HELLO.
fn server_given_hello(k: &Keys, hello: &[u8]) -> Side {
    let mut client = Connection::new(config(
        SocketType::Req,
        curve_client(&k.server, &k.client),
        false,
    ));
    let mut server = Side::new(config(SocketType::Rep, curve_server(&k.server), false));
    let greeting = take_output(&mut client);
    server.conn.input().extend_from_slice(&greeting[..64]);
    server.conn.input().extend_from_slice(hello);
    server.poll_all();
    server
}

fn real_hello(k: &Keys) -> Vec<u8> {
    let mut client = Connection::new(config(
        SocketType::Req,
        curve_client(&k.server, &k.client),
        false,
    ));
    let server = Connection::new(config(SocketType::Rep, curve_server(&k.server), false));
    let mut server = server;
    client.input().extend_from_slice(&take_output(&mut server));
    let _ = drain(&mut client);
    take_output(&mut client)[64..].to_vec()
}

#[test]
fn bad_hellos_are_refused() {
    let k = keys();
    let hello = real_hello(&k);
    assert_eq!(hello.len(), 202);
    let good = server_given_hello(&k, &hello);
    assert!(good.error.is_none(), "{good:?}");

    let mut short = hello.clone();
    short[1] = 199;
    short.pop();
    let s = server_given_hello(&k, &short);
    assert!(
        matches!(&s.error, Some(Error::Protocol(m)) if m.contains("must be 200")),
        "{s:?}"
    );

    let mut version = hello.clone();
    version[8] = 2;
    let s = server_given_hello(&k, &version);
    assert!(
        matches!(&s.error, Some(Error::Protocol(m)) if m.contains("version")),
        "{s:?}"
    );

    // A client that does not know the server's key: its box does not open.
    let stranger = keys();
    let foreign = real_hello(&Keys {
        server: stranger.server,
        client: CurveKeyPair::generate().unwrap(),
    });
    let s = server_given_hello(&k, &foreign);
    assert!(
        matches!(&s.error, Some(Error::Protocol(m)) if m.contains("HELLO box")),
        "{s:?}"
    );
}

#[test]
fn a_wrong_server_key_never_connects() {
    let k = keys();
    let other = CurveKeyPair::generate().unwrap();
    let mut client = Side::new(config(
        SocketType::Dealer,
        curve_client(&other, &k.client),
        false,
    ));
    let mut server = Side::new(config(SocketType::Router, curve_server(&k.server), false));
    drive(&mut client, &mut server);
    assert_eq!(ready_count(&client) + ready_count(&server), 0);
    assert!(server.error.is_some());
}

#[test]
fn an_initiate_with_another_connections_cookie_is_refused() {
    let k = keys();
    // Two clients of one server key, each on its own server connection.
    let run_to_initiate = || {
        let mut client = Connection::new(config(
            SocketType::Req,
            curve_client(&k.server, &k.client),
            false,
        ));
        let mut server = Connection::new(config(SocketType::Rep, curve_server(&k.server), false));
        for _ in 0..2 {
            let c = take_output(&mut client);
            server.input().extend_from_slice(&c);
            let _ = drain(&mut server);
            let s = take_output(&mut server);
            client.input().extend_from_slice(&s);
            let _ = drain(&mut client);
        }
        let initiate = take_output(&mut client);
        (server, initiate)
    };
    let (mut server_a, initiate_a) = run_to_initiate();
    let (mut server_b, initiate_b) = run_to_initiate();
    server_a.input().extend_from_slice(&initiate_b);
    let err = drain(&mut server_a).1;
    assert!(
        matches!(&err, Some(Error::Protocol(m)) if m.contains("cookie")),
        "{err:?}"
    );
    server_b.input().extend_from_slice(&initiate_a);
    assert!(drain(&mut server_b).1.is_some());
}

#[test]
fn mechanism_mismatches_fail_both_sides_on_the_greeting() {
    let k = keys();
    let pairs = [
        (MechanismConfig::Null, curve_server(&k.server)),
        (plain_client("u", "p"), curve_server(&k.server)),
        (
            curve_client(&k.server, &k.client),
            MechanismConfig::PlainServer,
        ),
    ];
    for (a, b) in pairs {
        let mut a = Side::new(config(SocketType::Req, a, false));
        let mut b = Side::new(config(SocketType::Rep, b, false));
        drive(&mut a, &mut b);
        for side in [&a, &b] {
            assert!(
                matches!(&side.error, Some(Error::Protocol(m)) if m.contains("mechanism mismatch")),
                "{side:?}"
            );
        }
    }
}

#[test]
fn curve_respects_the_message_size_limit_before_the_body_arrives() {
    let k = keys();
    let mut server_config = config(SocketType::Router, curve_server(&k.server), false);
    server_config.max_msg_size = Some(100_000);
    let mut client = Side::new(config(
        SocketType::Dealer,
        curve_client(&k.server, &k.client),
        false,
    ));
    let mut server = Side::new(server_config);
    drive(&mut client, &mut server);
    let mut header = BytesMut::new();
    frame::encode_header(&mut header, 0, 10_000_000);
    fails_with(&mut server, &header, "larger than the maximum");
}

#[test]
fn libzmqs_misspelt_plain_error_is_read_as_the_refusal_it_means() {
    let mut client = Side::new(config(SocketType::Req, plain_client("u", "p"), false));
    let mut server = Connection::new(config(SocketType::Rep, MechanismConfig::PlainServer, false));
    client
        .conn
        .input()
        .extend_from_slice(&take_output(&mut server)[..64]);
    client.poll_all();
    // What libzmq 4.3.5 sends for ZAP 400: 04 09 "^RROR" 03 "400".
    client
        .conn
        .input()
        .extend_from_slice(b"\x04\x09^RROR\x03400");
    client.poll_all();
    assert!(
        matches!(
            client.error,
            Some(Error::AuthenticationFailed { status_code: 400 })
        ),
        "{client:?}"
    );
}
