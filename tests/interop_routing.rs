//! DEALER, ROUTER and PAIR interop with the real libzmq over tcp and ipc, with ferromq
//! binding and connecting.

mod util;

use std::time::Duration;

use ferromq::{Context, Message};
use util::{ipc_endpoint, zmq_socket};

const WAIT: Duration = Duration::from_secs(10);

fn fresh(transport: &str) -> String {
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        _ => ipc_endpoint("interop-routing"),
    }
}

/// Joins a ferromq socket and a libzmq socket, one binding and the other connecting.
macro_rules! join {
    ($ferro:expr, $z:expr, $transport:expr, $ferro_binds:expr) => {
        if $ferro_binds {
            $ferro.bind(&fresh($transport)).unwrap();
            $z.connect($ferro.last_endpoint().unwrap()).unwrap();
        } else {
            $z.bind(&fresh($transport)).unwrap();
            $ferro
                .connect(&$z.get_last_endpoint().unwrap().unwrap())
                .unwrap();
        }
    };
}

#[test]
fn ferromq_router_with_libzmq_dealers_naming_themselves() {
    for transport in ["tcp", "ipc"] {
        for ferro_binds in [true, false] {
            let ctx = Context::new();
            let zctx = zmq::Context::new();
            let mut router = ctx.router().unwrap();
            router.set_recv_timeout(Some(WAIT));
            let dealer = zmq_socket(&zctx, zmq::DEALER);
            dealer.set_identity(b"libzmq-dealer").unwrap();
            join!(router, dealer, transport, ferro_binds);

            dealer.send_multipart([&b"hello"[..], b"there"], 0).unwrap();
            let msg = router.recv().unwrap();
            assert_eq!(
                msg,
                Message::from(["libzmq-dealer", "hello", "there"]),
                "{transport} {ferro_binds}"
            );
            router.send(["libzmq-dealer", "back"]).unwrap();
            assert_eq!(dealer.recv_multipart(0).unwrap(), vec![b"back".to_vec()]);
            assert_eq!(router.dropped(), 0);
        }
    }
}

#[test]
fn ferromq_dealer_with_libzmq_router() {
    for transport in ["tcp", "ipc"] {
        for ferro_binds in [true, false] {
            let ctx = Context::new();
            let zctx = zmq::Context::new();
            let mut dealer = ctx.dealer().unwrap();
            dealer.set_recv_timeout(Some(WAIT));
            dealer.set_send_timeout(Some(WAIT));
            dealer.set_identity("ferro-dealer").unwrap();
            let router = zmq_socket(&zctx, zmq::ROUTER);
            join!(dealer, router, transport, ferro_binds);

            dealer.send(["a", "b"]).unwrap();
            let frames = router.recv_multipart(0).unwrap();
            assert_eq!(
                frames,
                vec![b"ferro-dealer".to_vec(), b"a".to_vec(), b"b".to_vec()],
                "{transport} {ferro_binds}"
            );
            router
                .send_multipart([&b"ferro-dealer"[..], b"reply"], 0)
                .unwrap();
            assert_eq!(dealer.recv().unwrap(), "reply");
        }
    }
}

#[test]
fn ferromq_dealer_without_identity_gets_a_generated_id_from_libzmq_router() {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_send_timeout(Some(WAIT));
    let router = zmq_socket(&zctx, zmq::ROUTER);
    join!(dealer, router, "tcp", false);
    dealer.send("x").unwrap();
    let frames = router.recv_multipart(0).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].len(), 5);
    assert_eq!(frames[0][0], 0);
}

#[test]
fn ferromq_router_with_libzmq_req() {
    for transport in ["tcp", "ipc"] {
        for ferro_binds in [true, false] {
            let ctx = Context::new();
            let zctx = zmq::Context::new();
            let mut router = ctx.router().unwrap();
            router.set_recv_timeout(Some(WAIT));
            let req = zmq_socket(&zctx, zmq::REQ);
            join!(router, req, transport, ferro_binds);

            for i in 0..3u8 {
                req.send_multipart([&b"question"[..], &[i]], 0).unwrap();
                let msg = router.recv().unwrap();
                assert_eq!(msg.len(), 4, "{transport} {ferro_binds}");
                let id = msg[0].clone();
                assert_eq!(id.len(), 5);
                assert_eq!(id[0], 0);
                assert!(msg[1].is_empty());
                assert_eq!(&msg[2][..], b"question");
                router
                    .send(Message::from(vec![
                        id.to_vec(),
                        Vec::new(),
                        b"answer".to_vec(),
                        vec![i],
                    ]))
                    .unwrap();
                assert_eq!(
                    req.recv_multipart(0).unwrap(),
                    vec![b"answer".to_vec(), vec![i]]
                );
            }
        }
    }
}

#[test]
fn ferromq_pair_with_libzmq_pair() {
    for transport in ["tcp", "ipc"] {
        for ferro_binds in [true, false] {
            let ctx = Context::new();
            let zctx = zmq::Context::new();
            let mut pair = ctx.pair().unwrap();
            pair.set_recv_timeout(Some(WAIT));
            pair.set_send_timeout(Some(WAIT));
            let zpair = zmq_socket(&zctx, zmq::PAIR);
            join!(pair, zpair, transport, ferro_binds);

            pair.send(["one", "two"]).unwrap();
            assert_eq!(
                zpair.recv_multipart(0).unwrap(),
                vec![b"one".to_vec(), b"two".to_vec()],
                "{transport} {ferro_binds}"
            );
            zpair.send("three", 0).unwrap();
            assert_eq!(pair.recv().unwrap(), "three");
        }
    }
}

#[test]
fn ferromq_router_notifies_of_libzmq_peers_and_sees_their_probes() {
    for transport in ["tcp", "ipc"] {
        let zctx = zmq::Context::new();
        let ctx = Context::new();
        let mut router = ctx.router().unwrap();
        router.set_router_notify(true, true);
        router.bind(&fresh(transport)).unwrap();
        let ep = router.last_endpoint().unwrap().to_owned();

        // Connect and disconnect notifications for a libzmq DEALER.
        let dealer = zmq_socket(&zctx, zmq::DEALER);
        dealer.set_identity(b"lz-dealer").unwrap();
        dealer.connect(&ep).unwrap();
        let hello = router.recv_timeout(WAIT).unwrap();
        assert_eq!(hello, Message::from(vec!["lz-dealer", ""]), "{transport}");
        drop(dealer);
        let bye = router.recv_timeout(WAIT).unwrap();
        assert_eq!(bye, Message::from(vec!["lz-dealer", ""]), "{transport}");

        // A libzmq DEALER with ZMQ_PROBE_ROUTER: its probe arrives as [id, ""] too.
        router.set_router_notify(false, false);
        let prober = zmq_socket(&zctx, zmq::DEALER);
        prober.set_identity(b"lz-prober").unwrap();
        prober.set_probe_router(true).unwrap();
        prober.connect(&ep).unwrap();
        let probe = router.recv_timeout(WAIT).unwrap();
        assert_eq!(probe, Message::from(vec!["lz-prober", ""]), "{transport}");
    }
}

#[test]
fn ferromq_probes_reach_a_libzmq_router_before_anything_is_sent() {
    for transport in ["tcp", "ipc"] {
        let zctx = zmq::Context::new();
        let router = zmq_socket(&zctx, zmq::ROUTER);
        let ep = match transport {
            "tcp" => "tcp://127.0.0.1:*".to_owned(),
            _ => ipc_endpoint("probe"),
        };
        router.bind(&ep).unwrap();
        let ep = router.get_last_endpoint().unwrap().unwrap();
        let ctx = Context::new();
        let mut dealer = ctx.dealer().unwrap();
        dealer.set_identity("fm-dealer").unwrap();
        dealer.set_probe_router(true);
        dealer.connect(&ep).unwrap();
        // The dealer is never called again: the probe goes out on its own.
        let probe = router.recv_multipart(0).unwrap();
        assert_eq!(
            probe,
            vec![b"fm-dealer".to_vec(), Vec::new()],
            "{transport}"
        );
        let mut req = ctx.req().unwrap();
        req.set_identity("fm-req").unwrap();
        req.set_probe_router(true);
        req.connect(&ep).unwrap();
        let probe = router.recv_multipart(0).unwrap();
        assert_eq!(probe, vec![b"fm-req".to_vec(), Vec::new()], "{transport}");
        drop(dealer);
    }
}
