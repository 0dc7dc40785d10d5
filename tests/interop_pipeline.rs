//! PUSH/PULL interop with the real libzmq (the `zmq` crate builds it from source), over
//! real tcp and ipc connections on loopback, with ferromq on either end and either role.

mod util;

use std::time::Duration;

use ferromq::{Context, Message};
use util::{ipc_endpoint, zmq_socket};

fn zmq_last_endpoint(s: &zmq::Socket) -> String {
    s.get_last_endpoint().unwrap().unwrap()
}

/// The messages each test sends: single, multipart with an empty frame, and 1 MiB.
fn messages() -> Vec<Vec<Vec<u8>>> {
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 253) as u8).collect();
    vec![
        vec![b"hello".to_vec()],
        vec![b"multi".to_vec(), Vec::new(), b"part".to_vec()],
        vec![big],
        (0..20u8).map(|i| vec![i; usize::from(i)]).collect(),
    ]
}

fn endpoint_for(transport: &str) -> String {
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        _ => ipc_endpoint("interop"),
    }
}

fn ferro_push_to_zmq_pull(transport: &str, ferro_binds: bool) {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(Duration::from_secs(10)));
    let pull = zmq_socket(&zctx, zmq::PULL);
    if ferro_binds {
        push.bind(&endpoint_for(transport)).unwrap();
        pull.connect(push.last_endpoint().unwrap()).unwrap();
    } else {
        pull.bind(&endpoint_for(transport)).unwrap();
        push.connect(&zmq_last_endpoint(&pull)).unwrap();
    }
    for m in messages() {
        push.send(Message::from(m.clone())).unwrap();
        let got = pull.recv_multipart(0).unwrap();
        assert_eq!(got, m, "{transport} ferro_binds={ferro_binds}");
    }
}

fn zmq_push_to_ferro_pull(transport: &str, ferro_binds: bool) {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(Duration::from_secs(10)));
    let push = zmq_socket(&zctx, zmq::PUSH);
    if ferro_binds {
        pull.bind(&endpoint_for(transport)).unwrap();
        push.connect(pull.last_endpoint().unwrap()).unwrap();
    } else {
        push.bind(&endpoint_for(transport)).unwrap();
        pull.connect(&zmq_last_endpoint(&push)).unwrap();
    }
    for m in messages() {
        push.send_multipart(&m, 0).unwrap();
        let got = pull.recv().unwrap();
        let frames: Vec<Vec<u8>> = got.iter().map(|f| f.to_vec()).collect();
        assert_eq!(frames, m, "{transport} ferro_binds={ferro_binds}");
        let meta = got.metadata().unwrap();
        assert_eq!(meta.socket_type(), Some(ferromq::SocketType::Push));
    }
}

#[test]
fn ferromq_push_to_libzmq_pull_tcp_ferromq_binds() {
    ferro_push_to_zmq_pull("tcp", true);
}

#[test]
fn ferromq_push_to_libzmq_pull_tcp_ferromq_connects() {
    ferro_push_to_zmq_pull("tcp", false);
}

#[test]
fn ferromq_push_to_libzmq_pull_ipc_ferromq_binds() {
    ferro_push_to_zmq_pull("ipc", true);
}

#[test]
fn ferromq_push_to_libzmq_pull_ipc_ferromq_connects() {
    ferro_push_to_zmq_pull("ipc", false);
}

#[test]
fn libzmq_push_to_ferromq_pull_tcp_ferromq_binds() {
    zmq_push_to_ferro_pull("tcp", true);
}

#[test]
fn libzmq_push_to_ferromq_pull_tcp_ferromq_connects() {
    zmq_push_to_ferro_pull("tcp", false);
}

#[test]
fn libzmq_push_to_ferromq_pull_ipc_ferromq_binds() {
    zmq_push_to_ferro_pull("ipc", true);
}

#[test]
fn libzmq_push_to_ferromq_pull_ipc_ferromq_connects() {
    zmq_push_to_ferro_pull("ipc", false);
}

#[test]
fn many_small_messages_cross_in_order_both_ways() {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut push = ctx.push().unwrap();
    push.bind("tcp://127.0.0.1:*").unwrap();
    let zpull = zmq_socket(&zctx, zmq::PULL);
    zpull.connect(push.last_endpoint().unwrap()).unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..50_000u32 {
            push.send(i.to_be_bytes().to_vec()).unwrap();
        }
        push
    });
    for i in 0..50_000u32 {
        assert_eq!(zpull.recv_bytes(0).unwrap(), i.to_be_bytes());
    }
    drop(sender.join().unwrap());

    let zpush = zmq_socket(&zctx, zmq::PUSH);
    zpush.bind("tcp://127.0.0.1:*").unwrap();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(Duration::from_secs(10)));
    pull.connect(&zmq_last_endpoint(&zpush)).unwrap();
    let ep = zmq_last_endpoint(&zpush);
    let zsender = std::thread::spawn(move || {
        for i in 0..50_000u32 {
            zpush.send(&i.to_be_bytes()[..], 0).unwrap();
        }
        zpush
    });
    for i in 0..50_000u32 {
        assert_eq!(pull.recv().unwrap(), &i.to_be_bytes()[..], "from {ep}");
    }
    drop(zsender.join().unwrap());
}

#[test]
fn libzmq_refuses_an_incompatible_ferromq_peer() {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let zpush = zmq_socket(&zctx, zmq::PUSH);
    zpush.bind("tcp://127.0.0.1:*").unwrap();
    let mut push = ctx.push().unwrap();
    push.connect(&zmq_last_endpoint(&zpush)).unwrap();
    zpush.set_sndtimeo(300).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // No handshake completes, so neither side has a peer to send to.
    assert_eq!(zpush.send("x", 0), Err(zmq::Error::EAGAIN));
    assert_eq!(push.peer_count(), 0);
}
