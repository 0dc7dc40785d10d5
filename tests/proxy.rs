//! The built-in proxy: ROUTER<->DEALER brokers, PULL->PUSH streamers, capture, pause and
//! stop, back-pressure, over tcp, ipc and inproc, with ferromq and libzmq peers.

mod util;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ferromq::{Context, Error, Proxy, ProxyStats, SocketType};
use util::Transport;

const WAIT: Duration = Duration::from_secs(10);

/// Runs `body` while a proxy between `frontend` and `backend` forwards in another thread;
/// stops it afterwards and returns its final counters.
fn with_proxy<F, B>(
    frontend: &mut F,
    backend: &mut B,
    capture: Option<&mut ferromq::Push>,
    body: impl FnOnce(&ferromq::ProxyControl),
) -> ProxyStats
where
    F: ferromq::Pollable,
    B: ferromq::Pollable,
{
    let mut proxy = Proxy::new(frontend, backend);
    if let Some(capture) = capture {
        proxy = proxy.with_capture(capture);
    }
    let control = proxy.control();
    /// Stops the proxy however the body ends, so a failing body fails the test instead
    /// of leaving the scope waiting for the proxy thread forever.
    struct StopOnDrop(ferromq::ProxyControl);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.stop();
        }
    }
    std::thread::scope(|s| {
        let running = s.spawn(move || proxy.run());
        let stop = StopOnDrop(control.clone());
        body(&control);
        drop(stop);
        running.join().unwrap().unwrap()
    })
}

#[test]
fn a_router_dealer_broker_serves_many_clients_and_workers_on_every_transport() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let mut frontend = ctx.router().unwrap();
        frontend.bind(&transport.fresh_endpoint("front")).unwrap();
        let mut backend = ctx.dealer().unwrap();
        backend.bind(&transport.fresh_endpoint("back")).unwrap();
        let front_ep = frontend.last_endpoint().unwrap().to_owned();
        let back_ep = backend.last_endpoint().unwrap().to_owned();
        const CLIENTS: usize = 4;
        const REQUESTS: usize = 50;

        let stats = with_proxy(&mut frontend, &mut backend, None, |_| {
            std::thread::scope(|s| {
                let mut workers = Vec::new();
                for w in 0..3 {
                    let ctx = ctx.clone();
                    let back_ep = back_ep.clone();
                    workers.push(s.spawn(move || {
                        let mut rep = ctx.socket(SocketType::Rep).unwrap();
                        rep.set_recv_timeout(Some(Duration::from_millis(500)));
                        rep.connect(&back_ep).unwrap();
                        let mut served = 0;
                        // Serve until the clients are done and the queue stays empty.
                        while let Ok(req) = rep.recv() {
                            let mut reply = req.clone();
                            reply.push(format!("worker {w}"));
                            rep.send(reply).unwrap();
                            served += 1;
                        }
                        served
                    }));
                }
                let clients: Vec<_> = (0..CLIENTS)
                    .map(|c| {
                        let ctx = ctx.clone();
                        let front_ep = front_ep.clone();
                        s.spawn(move || {
                            let mut req = ctx.req().unwrap();
                            req.connect(&front_ep).unwrap();
                            for i in 0..REQUESTS {
                                let body = format!("client {c} request {i}");
                                let reply =
                                    req.send(body.clone()).unwrap().recv_timeout(WAIT).unwrap();
                                assert_eq!(&reply[0][..], body.as_bytes());
                                assert!(reply[1].starts_with(b"worker "));
                            }
                        })
                    })
                    .collect();
                for c in clients {
                    c.join().unwrap();
                }
                let served: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
                assert_eq!(served, CLIENTS * REQUESTS, "{transport:?}");
            });
        });
        let total = (CLIENTS * REQUESTS) as u64;
        assert_eq!(stats.to_backend, total, "{transport:?}");
        assert_eq!(stats.to_frontend, total, "{transport:?}");
        assert!(stats.bytes_to_backend > 0 && stats.bytes_to_frontend > stats.bytes_to_backend);
        assert_eq!(stats.dropped, 0);
    }
}

#[test]
fn a_streamer_forwards_everything_in_order_and_the_capture_gets_copies() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let mut frontend = ctx.pull().unwrap();
        frontend.bind(&transport.fresh_endpoint("in")).unwrap();
        let mut backend = ctx.push().unwrap();
        backend.bind(&transport.fresh_endpoint("out")).unwrap();
        let mut capture = ctx.push().unwrap();
        capture.set_send_hwm(0); // unbounded: this test wants every copy
        capture.bind(&transport.fresh_endpoint("cap")).unwrap();

        let mut producer = ctx.push().unwrap();
        producer.connect(frontend.last_endpoint().unwrap()).unwrap();
        let mut consumer = ctx.pull().unwrap();
        consumer.set_recv_timeout(Some(WAIT));
        consumer.connect(backend.last_endpoint().unwrap()).unwrap();
        let mut tap = ctx.pull().unwrap();
        tap.set_recv_timeout(Some(WAIT));
        tap.connect(capture.last_endpoint().unwrap()).unwrap();
        assert!(util::eventually(WAIT, || capture.peer_count() == 1));
        const N: u32 = 5_000;

        producer.set_send_timeout(Some(WAIT));
        let stats = with_proxy(&mut frontend, &mut backend, Some(&mut capture), |_| {
            // More than all the queues on the way hold: send and receive at once.
            let sender = std::thread::spawn(move || {
                for i in 0..N {
                    producer.send(i.to_be_bytes().to_vec()).unwrap();
                }
                producer
            });
            for i in 0..N {
                let msg = consumer.recv().unwrap();
                assert_eq!(&msg[0][..], &i.to_be_bytes(), "{transport:?}");
            }
            for i in 0..N {
                let msg = tap.recv().unwrap();
                assert_eq!(&msg[0][..], &i.to_be_bytes(), "{transport:?} capture");
            }
            drop(sender.join().unwrap());
        });
        assert_eq!(stats.to_backend, u64::from(N));
        assert_eq!(
            stats.to_frontend, 0,
            "PUSH cannot receive: one direction only"
        );
        assert_eq!(stats.bytes_to_backend, 4 * u64::from(N));
        assert_eq!(stats.capture_dropped, 0);
    }
}

#[test]
fn a_capture_without_room_loses_copies_but_never_stalls_the_proxy() {
    let ctx = Context::new();
    let mut frontend = ctx.pull().unwrap();
    frontend.bind("inproc://cap-front").unwrap();
    let mut backend = ctx.push().unwrap();
    backend.bind("inproc://cap-back").unwrap();
    let mut capture = ctx.push().unwrap(); // no peer at all: never room
    let mut producer = ctx.push().unwrap();
    producer.connect("inproc://cap-front").unwrap();
    let mut consumer = ctx.pull().unwrap();
    consumer.set_recv_timeout(Some(WAIT));
    consumer.connect("inproc://cap-back").unwrap();
    let stats = with_proxy(&mut frontend, &mut backend, Some(&mut capture), |_| {
        for i in 0..100u32 {
            producer.send(i.to_be_bytes().to_vec()).unwrap();
            assert_eq!(&consumer.recv().unwrap()[0][..], &i.to_be_bytes());
        }
    });
    assert_eq!(stats.to_backend, 100);
    assert_eq!(stats.capture_dropped, 100);
}

#[test]
fn back_pressure_holds_senders_and_loses_nothing() {
    let ctx = Context::new();
    let mut frontend = ctx.pull().unwrap();
    frontend.set_recv_hwm(5);
    frontend.bind("inproc://bp-front").unwrap();
    let mut backend = ctx.push().unwrap();
    backend.set_send_hwm(5);
    backend.bind("inproc://bp-back").unwrap();
    let mut producer = ctx.push().unwrap();
    producer.set_send_hwm(5);
    producer.connect("inproc://bp-front").unwrap();
    let mut consumer = ctx.pull().unwrap();
    consumer.set_recv_hwm(5);
    consumer.set_recv_timeout(Some(WAIT));
    consumer.connect("inproc://bp-back").unwrap();

    with_proxy(&mut frontend, &mut backend, None, |_| {
        // Nobody reads: the queues on both sides of the proxy fill, then the producer
        // is refused instead of the proxy buffering without bound.
        let mut sent = 0u32;
        let deadline = Instant::now() + WAIT;
        loop {
            match producer.try_send(sent.to_be_bytes().to_vec()) {
                Ok(()) => sent += 1,
                Err(e) if matches!(e.error(), Error::WouldBlock) => {
                    // Let the proxy move what it can; stop once it cannot any more.
                    std::thread::sleep(Duration::from_millis(50));
                    if producer.try_send(sent.to_be_bytes().to_vec()).is_err() {
                        break;
                    }
                    sent += 1;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(
                Instant::now() < deadline && sent < 1_000,
                "never pushed back"
            );
        }
        // At most: producer queue, proxy frontend queue, one held, backend and consumer
        // queues (5 each) -- a bounded amount.
        assert!(
            (5..=30).contains(&sent),
            "sent {sent} before being held back"
        );
        // Now read everything: all of it, in order.
        for i in 0..sent {
            assert_eq!(&consumer.recv().unwrap()[0][..], &i.to_be_bytes());
        }
        // And the flow resumes.
        producer.send("after").unwrap();
        assert_eq!(consumer.recv().unwrap(), "after");
    });
}

#[test]
fn pause_holds_messages_and_resume_releases_them() {
    let ctx = Context::new();
    let mut frontend = ctx.pull().unwrap();
    frontend.bind("inproc://pause-front").unwrap();
    let mut backend = ctx.push().unwrap();
    backend.bind("inproc://pause-back").unwrap();
    let mut producer = ctx.push().unwrap();
    producer.connect("inproc://pause-front").unwrap();
    let mut consumer = ctx.pull().unwrap();
    consumer.connect("inproc://pause-back").unwrap();
    with_proxy(&mut frontend, &mut backend, None, |control| {
        producer.send("one").unwrap();
        assert_eq!(consumer.recv_timeout(WAIT).unwrap(), "one");
        control.pause();
        // Give the proxy a moment to see the pause before sending.
        std::thread::sleep(Duration::from_millis(50));
        producer.send("two").unwrap();
        assert!(matches!(
            consumer.recv_timeout(Duration::from_millis(200)),
            Err(Error::TimedOut)
        ));
        control.resume();
        assert_eq!(consumer.recv_timeout(WAIT).unwrap(), "two");
        // The consumer can have the message before the proxy counts it.
        assert!(
            util::eventually(WAIT, || control.stats().to_backend == 2),
            "to_backend: {}",
            control.stats().to_backend
        );
    });
}

#[test]
fn stop_returns_promptly_and_the_sockets_stay_usable() {
    let ctx = Context::new();
    let mut frontend = ctx.router().unwrap();
    frontend.bind("inproc://stop-front").unwrap();
    let mut backend = ctx.dealer().unwrap();
    backend.bind("inproc://stop-back").unwrap();
    let start = Instant::now();
    with_proxy(&mut frontend, &mut backend, None, |_| {
        std::thread::sleep(Duration::from_millis(50));
    });
    assert!(start.elapsed() < WAIT, "stop did not end the proxy");
    // The borrowed sockets are ours again.
    let mut dealer = ctx.dealer().unwrap();
    dealer.connect("inproc://stop-back").unwrap();
    backend.send("still works").unwrap();
    assert_eq!(dealer.recv_timeout(WAIT).unwrap(), "still works");
}

#[test]
fn a_proxy_that_cannot_forward_either_way_is_refused() {
    let ctx = Context::new();
    // Two senders: neither can receive, so nothing can flow either way.
    let mut push = ctx.push().unwrap();
    let mut publisher = ctx.publisher().unwrap();
    let err = Proxy::new(&mut push, &mut publisher).run().unwrap_err();
    assert!(matches!(err, Error::InvalidOption(_)), "{err}");
    let mut front = ctx.pull().unwrap();
    let mut back = ctx.push().unwrap();
    let mut capture = ctx.pull().unwrap();
    let err = Proxy::new(&mut front, &mut back)
        .with_capture(&mut capture)
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOption(_)), "{err}");
}

#[test]
fn interop_libzmq_clients_and_workers_through_a_ferromq_broker() {
    for transport in [Transport::Tcp, Transport::Ipc] {
        let zctx = zmq::Context::new();
        let ctx = Context::new();
        let mut frontend = ctx.router().unwrap();
        frontend.bind(&transport.fresh_endpoint("zfront")).unwrap();
        let mut backend = ctx.dealer().unwrap();
        backend.bind(&transport.fresh_endpoint("zback")).unwrap();
        let front_ep = frontend.last_endpoint().unwrap().to_owned();
        let back_ep = backend.last_endpoint().unwrap().to_owned();
        let stats = with_proxy(&mut frontend, &mut backend, None, |_| {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let worker = util::zmq_socket(&zctx, zmq::REP);
                    worker.set_rcvtimeo(500).unwrap();
                    worker.connect(&back_ep).unwrap();
                    s.spawn(move || {
                        while let Ok(parts) = worker.recv_multipart(0) {
                            let mut reply = parts.clone();
                            reply.push(b"done".to_vec());
                            worker.send_multipart(reply, 0).unwrap();
                        }
                    });
                }
                let mut seen = HashSet::new();
                for c in 0..3 {
                    let client = util::zmq_socket(&zctx, zmq::REQ);
                    client
                        .set_identity(format!("client-{c}").as_bytes())
                        .unwrap();
                    client.connect(&front_ep).unwrap();
                    for i in 0..20 {
                        let body = format!("{c}:{i}");
                        client.send(body.as_bytes(), 0).unwrap();
                        let reply = client.recv_multipart(0).unwrap();
                        assert_eq!(reply, vec![body.as_bytes().to_vec(), b"done".to_vec()]);
                        seen.insert(body);
                    }
                }
                assert_eq!(seen.len(), 60, "{transport:?}");
            });
        });
        assert_eq!((stats.to_backend, stats.to_frontend), (60, 60));
    }
}

#[test]
fn an_xsub_xpub_proxy_forwards_subscriptions_up_and_messages_down() {
    for transport in Transport::ALL {
        let ctx = Context::new();
        let mut publisher = ctx.publisher().unwrap();
        publisher.bind(&transport.fresh_endpoint("pub")).unwrap();
        let mut frontend = ctx.xsubscriber().unwrap();
        frontend
            .connect(publisher.last_endpoint().unwrap())
            .unwrap();
        let mut backend = ctx.xpublisher().unwrap();
        backend.bind(&transport.fresh_endpoint("xpub")).unwrap();
        let mut subscriber = ctx.subscriber().unwrap();
        subscriber.set_recv_timeout(Some(WAIT));
        subscriber.subscribe("weather.");
        subscriber
            .connect(backend.last_endpoint().unwrap())
            .unwrap();

        let mut kept = None;
        let stats = with_proxy(&mut frontend, &mut backend, None, |control| {
            // The subscriber waits in recv, as subscribers do: that is also when a SUB
            // tells a newly connected publisher its subscriptions.
            // (It comes back with the message, so its leaving sends no cancel up.)
            let listener = std::thread::spawn(move || {
                let msg = subscriber.recv();
                (subscriber, msg)
            });
            // The subscription travels SUB -> XPUB -> proxy -> XSUB -> PUB.
            let subscribed = publisher.wait_for_subscribers(1, WAIT);
            assert!(
                subscribed.is_ok(),
                "{transport:?}: {subscribed:?} {:?}",
                control.stats()
            );
            publisher.send(["sport.tennis", "6-4"]).unwrap();
            publisher.send(["weather.oslo", "-3C"]).unwrap();
            let (subscriber, msg) = listener.join().unwrap();
            let msg = msg.unwrap();
            assert_eq!(&msg[0][..], b"weather.oslo", "{transport:?}");
            assert_eq!(&msg[1][..], b"-3C");
            kept = Some(subscriber);
        });
        assert_eq!(stats.to_frontend, 1, "one subscription went up");
        assert_eq!(stats.to_backend, 1, "only the matching message came down");
        drop(kept);
    }
}

#[test]
fn interop_libzmq_pub_and_sub_through_a_ferromq_xsub_xpub_proxy() {
    let zctx = zmq::Context::new();
    let ctx = Context::new();
    let publisher = util::zmq_socket(&zctx, zmq::PUB);
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let mut frontend = ctx.xsubscriber().unwrap();
    frontend
        .connect(&publisher.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    let mut backend = ctx.xpublisher().unwrap();
    backend.bind(&util::ipc_endpoint("zxpub")).unwrap();
    let back_ep = backend.last_endpoint().unwrap().to_owned();
    let subscriber = util::zmq_socket(&zctx, zmq::SUB);
    subscriber.set_subscribe(b"weather.").unwrap();
    subscriber.connect(&back_ep).unwrap();
    with_proxy(&mut frontend, &mut backend, None, |_| {
        // libzmq's PUB says nothing of its subscribers: publish until one arrives.
        let deadline = Instant::now() + WAIT;
        subscriber.set_rcvtimeo(50).unwrap();
        loop {
            publisher
                .send_multipart(["sport.tennis", "6-4"], 0)
                .unwrap();
            publisher
                .send_multipart(["weather.oslo", "-3C"], 0)
                .unwrap();
            if let Ok(parts) = subscriber.recv_multipart(0) {
                assert_eq!(parts, vec![b"weather.oslo".to_vec(), b"-3C".to_vec()]);
                break;
            }
            assert!(Instant::now() < deadline, "nothing came through the proxy");
        }
    });
}
