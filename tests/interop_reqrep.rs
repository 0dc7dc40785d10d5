//! REQ/REP interop with the real libzmq over tcp and ipc: each of ferromq's REQ and REP
//! against libzmq's REQ, REP, ROUTER and DEALER, with ferromq binding and connecting.

mod util;

use std::thread;
use std::time::Duration;

use ferromq::{Context, Message};
use util::{ipc_endpoint, zmq_socket};

fn fresh(transport: &str) -> String {
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        _ => ipc_endpoint("interop-reqrep"),
    }
}

#[test]
fn ferromq_req_with_libzmq_rep() {
    for transport in ["tcp", "ipc"] {
        for ferro_binds in [true, false] {
            let ctx = Context::new();
            let zctx = zmq::Context::new();
            let mut req = ctx.req().unwrap();
            req.set_recv_timeout(Some(Duration::from_secs(10)));
            let rep = zmq_socket(&zctx, zmq::REP);
            if ferro_binds {
                req.bind(&fresh(transport)).unwrap();
                rep.connect(req.last_endpoint().unwrap()).unwrap();
            } else {
                rep.bind(&fresh(transport)).unwrap();
                req.connect(&rep.get_last_endpoint().unwrap().unwrap())
                    .unwrap();
            }
            let server = thread::spawn(move || {
                for _ in 0..10 {
                    let frames = rep.recv_multipart(0).unwrap();
                    assert_eq!(frames[0], b"Hello");
                    rep.send_multipart([&b"World"[..], &frames[1]], 0).unwrap();
                }
            });
            for i in 0..10u8 {
                let reply = req
                    .request(Message::from(vec![b"Hello".to_vec(), vec![i]]))
                    .unwrap();
                assert_eq!(
                    reply,
                    Message::from(vec![b"World".to_vec(), vec![i]]),
                    "{transport}"
                );
            }
            server.join().unwrap();
        }
    }
}

#[test]
fn libzmq_req_with_ferromq_rep() {
    for transport in ["tcp", "ipc"] {
        for ferro_binds in [true, false] {
            let ctx = Context::new();
            let zctx = zmq::Context::new();
            let mut rep = ctx.rep().unwrap();
            rep.set_recv_timeout(Some(Duration::from_secs(10)));
            let req = zmq_socket(&zctx, zmq::REQ);
            if ferro_binds {
                rep.bind(&fresh(transport)).unwrap();
                req.connect(rep.last_endpoint().unwrap()).unwrap();
            } else {
                req.bind(&fresh(transport)).unwrap();
                rep.connect(&req.get_last_endpoint().unwrap().unwrap())
                    .unwrap();
            }
            let client = thread::spawn(move || {
                for i in 0..10u8 {
                    req.send_multipart([&b"Hello"[..], &[i][..]], 0).unwrap();
                    let reply = req.recv_multipart(0).unwrap();
                    assert_eq!(reply, vec![b"World".to_vec(), vec![i]]);
                }
            });
            for _ in 0..10 {
                let request = rep.recv().unwrap();
                assert_eq!(request.body()[0], "Hello");
                let n = request.body()[1].clone();
                assert_eq!(
                    request.body().metadata().unwrap().socket_type(),
                    Some(ferromq::SocketType::Req)
                );
                request
                    .reply(Message::multipart([ferromq::Frame::from("World"), n]))
                    .unwrap();
            }
            client.join().unwrap();
        }
    }
}

#[test]
fn ferromq_req_to_libzmq_router_shows_the_envelope_frame_by_frame() {
    for transport in ["tcp", "ipc"] {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let router = zmq_socket(&zctx, zmq::ROUTER);
        router.bind(&fresh(transport)).unwrap();
        let ep = router.get_last_endpoint().unwrap().unwrap();

        // With an identity: the ROUTER names the peer by it.
        let mut named = ctx.req().unwrap();
        named.set_recv_timeout(Some(Duration::from_secs(10)));
        named.set_identity("client-1").unwrap();
        named.connect(&ep).unwrap();
        let pending = named.send(["part1", "part2"]).unwrap();
        let frames = router.recv_multipart(0).unwrap();
        assert_eq!(
            frames,
            vec![
                b"client-1".to_vec(),
                Vec::new(),
                b"part1".to_vec(),
                b"part2".to_vec()
            ],
            "{transport}"
        );
        router
            .send_multipart([&b"client-1"[..], b"", b"reply"], 0)
            .unwrap();
        assert_eq!(pending.recv().unwrap(), "reply");

        // Without one: libzmq makes up a 5-byte id starting with a zero byte.
        let mut anon = ctx.req().unwrap();
        anon.set_recv_timeout(Some(Duration::from_secs(10)));
        anon.connect(&ep).unwrap();
        let pending = anon.send("hi").unwrap();
        let frames = router.recv_multipart(0).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].len(), 5);
        assert_eq!(frames[0][0], 0);
        assert!(frames[1].is_empty());
        assert_eq!(frames[2], b"hi");
        router
            .send_multipart([&frames[0][..], b"", b"there"], 0)
            .unwrap();
        assert_eq!(pending.recv().unwrap(), "there");
    }
}

#[test]
fn libzmq_dealer_to_ferromq_rep_keeps_every_envelope_frame() {
    for transport in ["tcp", "ipc"] {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let mut rep = ctx.rep().unwrap();
        rep.set_recv_timeout(Some(Duration::from_secs(10)));
        rep.bind(&fresh(transport)).unwrap();
        let dealer = zmq_socket(&zctx, zmq::DEALER);
        dealer.connect(rep.last_endpoint().unwrap()).unwrap();

        dealer.send_multipart([&b""[..], b"plain"], 0).unwrap();
        let request = rep.recv().unwrap();
        assert_eq!(request.body(), "plain");
        request.reply("one").unwrap();
        assert_eq!(
            dealer.recv_multipart(0).unwrap(),
            vec![Vec::new(), b"one".to_vec()]
        );

        dealer
            .send_multipart([&b"hop1"[..], b"hop2", b"", b"routed"], 0)
            .unwrap();
        let request = rep.recv().unwrap();
        assert_eq!(request.body(), "routed");
        request.reply(["two", "frames"]).unwrap();
        assert_eq!(
            dealer.recv_multipart(0).unwrap(),
            vec![
                b"hop1".to_vec(),
                b"hop2".to_vec(),
                Vec::new(),
                b"two".to_vec(),
                b"frames".to_vec()
            ],
            "{transport}"
        );
    }
}

#[test]
fn correlated_requests_work_against_libzmq_rep() {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let rep = zmq_socket(&zctx, zmq::REP);
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let mut req = ctx.req().unwrap();
    req.set_correlate(true);
    req.set_recv_timeout(Some(Duration::from_secs(10)));
    req.connect(&rep.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    let server = thread::spawn(move || {
        for _ in 0..5 {
            let m = rep.recv_bytes(0).unwrap();
            rep.send(&m[..], 0).unwrap();
        }
    });
    for i in 0..5u8 {
        assert_eq!(req.request(vec![i]).unwrap(), &[i][..]);
    }
    server.join().unwrap();
}

#[test]
fn a_message_a_libzmq_router_sent_unasked_is_not_taken_for_the_reply() {
    for transport in ["tcp", "ipc"] {
        let ctx = Context::new();
        let zctx = zmq::Context::new();
        let router = zmq_socket(&zctx, zmq::ROUTER);
        router.set_router_mandatory(true).unwrap();
        router.bind(&fresh(transport)).unwrap();
        let mut req = ctx.req().unwrap();
        req.set_identity("asker").unwrap();
        req.set_recv_timeout(Some(Duration::from_secs(10)));
        req.connect(&router.get_last_endpoint().unwrap().unwrap())
            .unwrap();
        // Mandatory routing fails until the REQ's connection is known to the ROUTER.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while router
            .send_multipart([&b"asker"[..], b"", b"stale"], 0)
            .is_err()
        {
            assert!(std::time::Instant::now() < deadline, "REQ never connected");
            thread::sleep(Duration::from_millis(5));
        }
        // Give the stale message time to reach the REQ's queue.
        thread::sleep(Duration::from_millis(300));
        let pending = req.send("question").unwrap();
        let frames = router.recv_multipart(0).unwrap();
        assert_eq!(
            frames,
            vec![b"asker".to_vec(), Vec::new(), b"question".to_vec()]
        );
        router
            .send_multipart([&b"asker"[..], b"", b"answer"], 0)
            .unwrap();
        assert_eq!(pending.recv().unwrap(), "answer", "{transport}");
    }
}
