//! Every pattern through the async face, on every runtime and transport, against blocking
//! and libzmq peers, with the cancellation rules of sends and receives.

mod util;

use std::time::Duration;

use ferromq::{Context, Message, SocketType};
use util::aio::{bounded, poll_once, within, Runtime};
use util::Transport;

const N: u32 = 200;

fn body(i: u32) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

fn number(msg: &Message, frame: usize) -> u32 {
    u32::from_be_bytes(msg[frame][..].try_into().unwrap())
}

/// PUSH → PULL with small queues, so the sender keeps finding them full and must be woken
/// for room, and the receiver keeps finding them empty.
#[test]
fn pipeline_with_full_and_empty_queues_on_every_runtime_and_transport() {
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            rt.block_on(async move {
                let ctx = Context::new();
                let mut pull = ctx.pull().unwrap();
                pull.set_recv_hwm(2);
                pull.bind(&t.fresh_endpoint("async-pipe")).unwrap();
                let mut push = ctx.push().unwrap();
                push.set_send_hwm(2);
                push.connect(pull.last_endpoint().unwrap()).unwrap();
                let sender = async {
                    for i in 0..N {
                        bounded(push.send_async(body(i))).await.unwrap();
                    }
                };
                let receiver = async {
                    for i in 0..N {
                        let msg = bounded(pull.recv_async()).await.unwrap();
                        assert_eq!(number(&msg, 0), i, "{rt:?} {t:?}");
                    }
                };
                futures::join!(sender, receiver);
            });
        }
    }
}

#[test]
fn dealer_router_and_pair_on_every_runtime_and_transport() {
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            rt.block_on(async move {
                let ctx = Context::new();
                let mut router = ctx.router().unwrap();
                router.bind(&t.fresh_endpoint("async-router")).unwrap();
                let mut dealer = ctx.dealer().unwrap();
                dealer.set_identity("d1").unwrap();
                dealer.connect(router.last_endpoint().unwrap()).unwrap();
                for i in 0..20 {
                    bounded(dealer.send_async(body(i))).await.unwrap();
                    let msg = bounded(router.recv_async()).await.unwrap();
                    assert_eq!(&msg[0][..], b"d1");
                    assert_eq!(number(&msg, 1), i);
                    bounded(router.send_async(vec![b"d1".to_vec(), body(i + 1)]))
                        .await
                        .unwrap();
                    let back = bounded(dealer.recv_async()).await.unwrap();
                    assert_eq!(number(&back, 0), i + 1, "{rt:?} {t:?}");
                }

                let mut a = ctx.pair().unwrap();
                a.bind(&t.fresh_endpoint("async-pair")).unwrap();
                let mut b = ctx.pair().unwrap();
                b.connect(a.last_endpoint().unwrap()).unwrap();
                for i in 0..20 {
                    bounded(a.send_async(body(i))).await.unwrap();
                    let got = bounded(b.recv_async()).await.unwrap();
                    bounded(b.send_async(got)).await.unwrap();
                    assert_eq!(number(&bounded(a.recv_async()).await.unwrap(), 0), i);
                }
            });
        }
    }
}

#[test]
fn pubsub_and_xpubsub_on_every_runtime_and_transport() {
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            rt.block_on(async move {
                let ctx = Context::new();
                let mut publisher = ctx.publisher().unwrap();
                publisher.bind(&t.fresh_endpoint("async-pub")).unwrap();
                let mut sub = ctx.subscriber().unwrap();
                sub.connect(publisher.last_endpoint().unwrap()).unwrap();
                sub.subscribe("weather");
                // The subscription travels to the PUB; until it is there the PUB drops.
                publisher
                    .wait_for_subscribers(1, Duration::from_secs(10))
                    .unwrap();
                bounded(publisher.send_async("sport 1")).await.unwrap();
                bounded(publisher.send_async("weather 1")).await.unwrap();
                assert_eq!(bounded(sub.recv_async()).await.unwrap(), "weather 1");

                let mut xpub = ctx.xpublisher().unwrap();
                xpub.bind(&t.fresh_endpoint("async-xpub")).unwrap();
                let mut xsub = ctx.xsubscriber().unwrap();
                xsub.connect(xpub.last_endpoint().unwrap()).unwrap();
                xsub.subscribe("t");
                // The XPUB receives the subscription message itself.
                let subscription = bounded(xpub.recv_async()).await.unwrap();
                assert_eq!(&subscription[0][..], b"\x01t", "{rt:?} {t:?}");
                assert_eq!(bounded(xpub.send_async("t.1")).await.unwrap(), 1);
                assert_eq!(bounded(xsub.recv_async()).await.unwrap(), "t.1");
                // An XSUB sends upstream too.
                bounded(xsub.send_async("\x01u")).await.unwrap();
                assert_eq!(&bounded(xpub.recv_async()).await.unwrap()[0][..], b"\x01u");
            });
        }
    }
}

#[test]
fn dynamic_sockets_of_each_pair_of_types() {
    let pairs = [
        (SocketType::Push, SocketType::Pull),
        (SocketType::Dealer, SocketType::Dealer),
        (SocketType::Pair, SocketType::Pair),
        (SocketType::Req, SocketType::Rep),
        (SocketType::Dealer, SocketType::Router),
    ];
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            rt.block_on(async move {
                let ctx = Context::new();
                for (client_type, server_type) in pairs {
                    let mut server = ctx.socket(server_type).unwrap();
                    server.bind(&t.fresh_endpoint("async-dyn")).unwrap();
                    let mut client = ctx.socket(client_type).unwrap();
                    client.connect(server.last_endpoint().unwrap()).unwrap();
                    for i in 0..5 {
                        bounded(client.send_async(body(i))).await.unwrap();
                        let got = bounded(server.recv_async()).await.unwrap();
                        let last = got.len() - 1;
                        assert_eq!(number(&got, last), i, "{client_type:?} {t:?} {rt:?}");
                        if client_type != SocketType::Push {
                            bounded(server.send_async(got)).await.unwrap();
                            let back = bounded(client.recv_async()).await.unwrap();
                            assert_eq!(number(&back, back.len() - 1), i);
                        }
                    }
                }
            });
        }
    }
}

#[test]
fn async_sockets_against_blocking_peers_on_other_threads() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.bind(&t.fresh_endpoint("async-vs-blocking")).unwrap();
        let ep = pull.last_endpoint().unwrap().to_owned();
        let pusher = {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let mut push = ctx.push().unwrap();
                push.set_send_timeout(Some(Duration::from_secs(10)));
                push.set_send_hwm(1);
                push.connect(&ep).unwrap();
                for i in 0..N {
                    push.send(body(i)).unwrap();
                }
            })
        };
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(1);
        let mut blocking_pull = ctx.pull().unwrap();
        blocking_pull.set_recv_timeout(Some(Duration::from_secs(10)));
        blocking_pull.set_recv_hwm(1);
        blocking_pull
            .bind(&t.fresh_endpoint("blocking-vs-async"))
            .unwrap();
        push.connect(blocking_pull.last_endpoint().unwrap())
            .unwrap();
        let puller = std::thread::spawn(move || {
            for i in 0..N {
                assert_eq!(number(&blocking_pull.recv().unwrap(), 0), i);
            }
        });
        Runtime::TokioMultiThread.block_on(async move {
            let receive = async {
                for i in 0..N {
                    assert_eq!(number(&bounded(pull.recv_async()).await.unwrap(), 0), i);
                }
            };
            let send = async {
                for i in 0..N {
                    bounded(push.send_async(body(i))).await.unwrap();
                }
            };
            futures::join!(receive, send);
        });
        pusher.join().unwrap();
        puller.join().unwrap();
    }
}

#[test]
fn async_sockets_against_libzmq_peers() {
    for t in [Transport::Tcp, Transport::Ipc] {
        let zctx = zmq::Context::new();
        let ctx = Context::new();
        // libzmq PUSH → async PULL.
        let mut pull = ctx.pull().unwrap();
        pull.bind(&t.fresh_endpoint("async-zpush")).unwrap();
        let ep = pull.last_endpoint().unwrap().to_owned();
        let zpush = util::zmq_socket(&zctx, zmq::PUSH);
        zpush.connect(&ep).unwrap();
        let sender = std::thread::spawn(move || {
            for i in 0..N {
                zpush.send(body(i), 0).unwrap();
            }
            zpush
        });
        // Async DEALER ↔ libzmq ROUTER.
        let zrouter = util::zmq_socket(&zctx, zmq::ROUTER);
        let rep_ep = match t {
            Transport::Tcp => {
                zrouter.bind("tcp://127.0.0.1:*").unwrap();
                zrouter.get_last_endpoint().unwrap().unwrap()
            }
            _ => {
                let ep = util::ipc_endpoint("async-zrouter");
                zrouter.bind(&ep).unwrap();
                ep
            }
        };
        let echo = std::thread::spawn(move || {
            for _ in 0..10 {
                let msg = zrouter.recv_multipart(0).unwrap();
                zrouter.send_multipart(msg, 0).unwrap();
            }
        });
        let mut dealer = ctx.dealer().unwrap();
        dealer.connect(&rep_ep).unwrap();
        Runtime::Smol.block_on(async move {
            for i in 0..N {
                assert_eq!(number(&bounded(pull.recv_async()).await.unwrap(), 0), i);
            }
            for i in 0..10 {
                bounded(dealer.send_async(body(i))).await.unwrap();
                assert_eq!(number(&bounded(dealer.recv_async()).await.unwrap(), 0), i);
            }
        });
        drop(sender.join().unwrap());
        echo.join().unwrap();
    }
}

/// Receive futures raced against a timer that often wins: every future dropped unfinished
/// must leave its message queued, so all messages arrive, in order, exactly once.
#[test]
fn dropped_receive_futures_lose_no_message() {
    for rt in Runtime::ALL {
        rt.block_on(async move {
            let ctx = Context::new();
            let ep = format!("inproc://{}", util::unique("async-cancel-recv"));
            let mut pull = ctx.pull().unwrap();
            pull.bind(&ep).unwrap();
            let mut push = ctx.push().unwrap();
            push.connect(&ep).unwrap();
            let producer = std::thread::spawn(move || {
                for i in 0..N {
                    push.send(body(i)).unwrap();
                    if i % 16 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                push
            });
            let mut next = 0;
            let mut cancelled = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while next < N {
                assert!(std::time::Instant::now() < deadline, "messages were lost");
                match within(Duration::from_micros(200), pull.recv_async()).await {
                    Some(msg) => {
                        assert_eq!(number(&msg.unwrap(), 0), next, "{rt:?}");
                        next += 1;
                    }
                    None => cancelled += 1,
                }
            }
            // Nothing more: every message came once.
            assert!(within(Duration::from_millis(20), pull.recv_async())
                .await
                .is_none());
            drop(producer.join().unwrap());
            let _ = cancelled;
        });
    }
}

/// A send future dropped while it waits for room queued nothing; one that completed
/// queued its whole multipart message.
#[test]
fn dropped_send_futures_queue_all_or_nothing() {
    for t in Transport::ALL {
        Runtime::TokioCurrentThread.block_on(async move {
            let ctx = Context::new();
            let mut pull = ctx.pull().unwrap();
            pull.set_recv_hwm(1);
            pull.bind(&t.fresh_endpoint("async-cancel-send")).unwrap();
            pull.set_recv_buffer_size(Some(4096));
            let mut push = ctx.push().unwrap();
            push.set_send_hwm(1);
            push.set_send_buffer_size(Some(4096));
            push.connect(pull.last_endpoint().unwrap()).unwrap();
            // Large enough that the kernel buffers of tcp and ipc fill within a few.
            let tail = vec![7u8; 16 * 1024];
            // Fill every queue between the two: sends that complete at once.
            let mut sent = 0u32;
            loop {
                let mut send = Box::pin(push.send_async(vec![body(sent), tail.clone()]));
                let first = poll_once(&mut send);
                let done = match first {
                    Some(r) => Some(r),
                    None => within(Duration::from_millis(100), send).await,
                };
                match done {
                    Some(r) => {
                        r.unwrap();
                        sent += 1;
                    }
                    // Full: this future was dropped waiting, its message not queued.
                    None => {
                        eprintln!("{t:?}: {sent} sends completed before the queues filled");
                        break;
                    }
                }
                assert!(sent < 2_000, "the queues never filled");
            }
            // The dropped send's message never shows up; all the others come whole.
            for i in 0..sent {
                let msg = bounded(pull.recv_async()).await.unwrap();
                assert_eq!(msg.len(), 2);
                assert_eq!(number(&msg, 0), i, "{t:?}");
                assert_eq!(msg[1][..], tail[..]);
            }
            assert!(within(Duration::from_millis(50), pull.recv_async())
                .await
                .is_none());
            // And the socket still sends: the next message goes through.
            bounded(push.send_async(vec![body(999), tail.clone()]))
                .await
                .unwrap();
            assert_eq!(number(&bounded(pull.recv_async()).await.unwrap(), 0), 999);
        });
    }
}

/// Many sockets served by one task: a select over all their receive futures.
#[test]
fn many_sockets_in_one_task() {
    const SOCKETS: usize = 50;
    for rt in [Runtime::TokioCurrentThread, Runtime::Smol] {
        rt.block_on(async move {
            let ctx = Context::new();
            let mut pulls = Vec::new();
            let mut pushes = Vec::new();
            for i in 0..SOCKETS {
                let t = Transport::ALL[i % 3];
                let mut pull = ctx.pull().unwrap();
                pull.bind(&t.fresh_endpoint("async-many")).unwrap();
                let mut push = ctx.push().unwrap();
                push.connect(pull.last_endpoint().unwrap()).unwrap();
                pulls.push(pull);
                pushes.push(push);
            }
            let senders = std::thread::spawn(move || {
                for round in 0..4u32 {
                    for push in pushes.iter_mut().rev() {
                        push.send(body(round)).unwrap();
                    }
                }
                pushes
            });
            let mut counts = [0u32; SOCKETS];
            let mut total = 0;
            while total < SOCKETS * 4 {
                let futures: Vec<_> = pulls.iter_mut().map(|p| Box::pin(p.recv_async())).collect();
                let (msg, index, _rest) = bounded(futures::future::select_all(futures)).await;
                assert_eq!(number(&msg.unwrap(), 0), counts[index], "socket {index}");
                counts[index] += 1;
                total += 1;
            }
            assert!(counts.iter().all(|&c| c == 4));
            drop(senders.join().unwrap());
        });
    }
}

/// A thousand tasks, each with its own REQ, against one ROUTER served by one more task.
#[test]
fn a_thousand_concurrent_requesters_against_one_router() {
    const CLIENTS: usize = 1000;
    for t in [Transport::Inproc, Transport::Tcp] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let ctx = Context::new();
            let mut router = ctx.router().unwrap();
            router.bind(&t.fresh_endpoint("async-thousand")).unwrap();
            let ep = router.last_endpoint().unwrap().to_owned();
            let server = tokio::spawn(async move {
                for _ in 0..CLIENTS {
                    let mut msg = bounded(router.recv_async()).await.unwrap();
                    // [id, "", n] back as [id, "", n + 1].
                    let n = number(&msg, 2);
                    let id = msg[0].clone();
                    msg = Message::multipart([id.to_vec(), Vec::new(), body(n + 1)]);
                    bounded(router.send_async(msg)).await.unwrap();
                }
            });
            let mut clients = Vec::new();
            for i in 0..CLIENTS as u32 {
                let mut req = ctx.req().unwrap();
                req.connect(&ep).unwrap();
                clients.push(tokio::spawn(async move {
                    let reply =
                        tokio::time::timeout(Duration::from_secs(60), req.request_async(body(i)))
                            .await
                            .expect("no reply in time")
                            .unwrap();
                    assert_eq!(number(&reply, 0), i + 1);
                }));
            }
            for c in clients {
                tokio::time::timeout(Duration::from_secs(60), c)
                    .await
                    .unwrap()
                    .unwrap();
            }
            tokio::time::timeout(Duration::from_secs(60), server)
                .await
                .unwrap()
                .unwrap();
        });
    }
}

#[test]
fn readable_and_writable_pair_with_the_try_calls() {
    for rt in Runtime::ALL {
        rt.block_on(async move {
            let ctx = Context::new();
            let ep = format!("inproc://{}", util::unique("async-ready"));
            let mut pull = ctx.pull().unwrap();
            pull.set_recv_hwm(1);
            pull.bind(&ep).unwrap();
            let mut push = ctx.push().unwrap();
            push.set_send_hwm(1);
            // No peer yet: not writable.
            assert!(within(Duration::from_millis(20), push.writable())
                .await
                .is_none());
            push.connect(&ep).unwrap();
            bounded(push.writable()).await.unwrap();
            // Not readable until something is sent.
            assert!(within(Duration::from_millis(20), pull.readable())
                .await
                .is_none());
            let mut sent = 0u32;
            while push.try_send(body(sent)).is_ok() {
                sent += 1;
            }
            assert!(sent >= 1);
            // Full now: writable waits until the reader makes room.
            let room = async {
                bounded(push.writable()).await.unwrap();
                push.try_send(body(sent)).unwrap();
            };
            let take = async {
                bounded(pull.readable()).await.unwrap();
                let mut got = 0;
                while got <= sent {
                    match pull.try_recv() {
                        Ok(msg) => {
                            assert_eq!(number(&msg, 0), got);
                            got += 1;
                        }
                        Err(ferromq::Error::WouldBlock) => bounded(pull.readable()).await.unwrap(),
                        Err(e) => panic!("{e}"),
                    }
                }
            };
            futures::join!(room, take);
        });
    }
}

/// A STREAM socket served in async beside a plain tokio TCP client: the raw peer's bytes
/// come in as `[id, bytes]`, and the answer goes back along the id.
#[test]
fn a_stream_socket_talks_to_a_tokio_tcp_client() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    Runtime::TokioMultiThread.block_on(async {
        let ctx = Context::new();
        let mut stream = ctx.stream().unwrap();
        stream.bind("tcp://127.0.0.1:*").unwrap();
        let addr = stream
            .last_endpoint()
            .unwrap()
            .trim_start_matches("tcp://")
            .to_owned();
        let client = async {
            let mut tcp = bounded(tokio::net::TcpStream::connect(&addr))
                .await
                .unwrap();
            bounded(tcp.write_all(b"ping")).await.unwrap();
            let mut buf = [0u8; 4];
            bounded(tcp.read_exact(&mut buf)).await.unwrap();
            buf
        };
        let server = async {
            // Skip the connect notice ([id, ""]); take the bytes.
            loop {
                let msg = bounded(stream.recv_async()).await.unwrap();
                if msg[1].is_empty() {
                    continue;
                }
                assert_eq!(&msg[1][..], b"ping");
                let id = msg[0].to_vec();
                bounded(stream.send_async(vec![id, b"pong".to_vec()]))
                    .await
                    .unwrap();
                break;
            }
        };
        let (got, ()) = futures::join!(client, server);
        assert_eq!(&got, b"pong");
    });
}

#[test]
fn libzmq_publisher_and_subscriber_with_async_ferromq() {
    let zctx = zmq::Context::new();
    // libzmq PUB → async ferromq SUB.
    let zpub = util::zmq_socket(&zctx, zmq::PUB);
    zpub.bind("tcp://127.0.0.1:*").unwrap();
    let ep = zpub.get_last_endpoint().unwrap().unwrap();
    let ctx = Context::new();
    let mut sub = ctx.subscriber().unwrap();
    sub.subscribe("a");
    sub.connect(&ep).unwrap();
    // Publish until the subscription has reached libzmq and a message comes through.
    let publishing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = publishing.clone();
    let publisher = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while flag.load(std::sync::atomic::Ordering::Relaxed)
            && std::time::Instant::now() < deadline
        {
            zpub.send("b skipped", 0).unwrap();
            zpub.send("a kept", 0).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    Runtime::AsyncStd.block_on(async move {
        for _ in 0..3 {
            assert_eq!(bounded(sub.recv_async()).await.unwrap(), "a kept");
        }
    });
    publishing.store(false, std::sync::atomic::Ordering::Relaxed);
    publisher.join().unwrap();

    // async ferromq PUB → libzmq SUB.
    let mut publisher = ctx.publisher().unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let ep = publisher.last_endpoint().unwrap().to_owned();
    let zsub = util::zmq_socket(&zctx, zmq::SUB);
    zsub.set_subscribe(b"x").unwrap();
    zsub.connect(&ep).unwrap();
    publisher
        .wait_for_subscribers(1, Duration::from_secs(10))
        .unwrap();
    Runtime::TokioCurrentThread.block_on(async move {
        bounded(publisher.send_async("y no")).await.unwrap();
        assert_eq!(bounded(publisher.send_async("x yes")).await.unwrap(), 1);
        publisher
    });
    assert_eq!(zsub.recv_bytes(0).unwrap(), b"x yes");
}
