//! REQ/REP through the async face: every runtime, every transport, against blocking and
//! libzmq peers, and the cancellation rules of the typed state.

mod util;

use std::time::Duration;

use ferromq::{Context, Error};
use util::aio::{bounded, within, Runtime};
use util::Transport;

/// A bound REP and a REQ connected to it, over `t`.
fn req_rep(ctx: &Context, t: Transport) -> (ferromq::Req, ferromq::Rep) {
    let mut rep = ctx.rep().unwrap();
    rep.bind(&t.fresh_endpoint("async-reqrep")).unwrap();
    let mut req = ctx.req().unwrap();
    req.connect(rep.last_endpoint().unwrap()).unwrap();
    (req, rep)
}

#[test]
fn request_reply_on_every_runtime_and_transport() {
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            rt.block_on(async move {
                let ctx = Context::new();
                let (mut req, mut rep) = req_rep(&ctx, t);
                let client = async {
                    for i in 0..20u32 {
                        let pending = bounded(req.send_async(format!("ask {i}"))).await.unwrap();
                        let reply = bounded(pending.recv_async()).await.unwrap();
                        assert_eq!(reply, format!("answer {i}").as_str(), "{rt:?} {t:?}");
                    }
                };
                let server = async {
                    for i in 0..20u32 {
                        let request = bounded(rep.recv_async()).await.unwrap();
                        assert_eq!(request.body(), format!("ask {i}").as_str());
                        bounded(request.reply_async(format!("answer {i}")))
                            .await
                            .unwrap();
                    }
                };
                futures::join!(client, server);
            });
        }
    }
}

#[test]
fn the_reply_future_wakes_when_the_reply_comes_from_another_thread() {
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            let ctx = Context::new();
            let (mut req, mut rep) = req_rep(&ctx, t);
            // A blocking REP on its own thread, replying after a pause, so the async REQ is
            // parked on its doorbell when the reply comes.
            let server = std::thread::spawn(move || {
                rep.set_recv_timeout(Some(Duration::from_secs(10)));
                for _ in 0..5 {
                    let request = rep.recv().unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                    let body = request.body().clone();
                    request.reply(body).unwrap();
                }
            });
            rt.block_on(async move {
                for i in 0..5u32 {
                    let reply = bounded(req.request_async(format!("echo {i}")))
                        .await
                        .unwrap();
                    assert_eq!(reply, format!("echo {i}").as_str(), "{rt:?} {t:?}");
                }
            });
            server.join().unwrap();
        }
    }
}

#[test]
fn an_async_rep_serves_a_blocking_req() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let (mut req, mut rep) = req_rep(&ctx, t);
        let client = std::thread::spawn(move || {
            req.set_recv_timeout(Some(Duration::from_secs(10)));
            req.set_send_timeout(Some(Duration::from_secs(10)));
            for i in 0..10u32 {
                assert_eq!(
                    req.request(format!("{i}")).unwrap(),
                    format!("{}", i * 2).as_str()
                );
            }
        });
        Runtime::TokioMultiThread.block_on(async move {
            for _ in 0..10 {
                let request = bounded(rep.recv_async()).await.unwrap();
                let n: u32 = std::str::from_utf8(&request.body()[0])
                    .unwrap()
                    .parse()
                    .unwrap();
                bounded(request.reply_async(format!("{}", n * 2)))
                    .await
                    .unwrap();
            }
        });
        client.join().unwrap();
    }
}

#[test]
fn libzmq_rep_and_req_talk_to_async_ferromq() {
    for t in [Transport::Tcp, Transport::Ipc] {
        // libzmq's REP, ferromq's async REQ.
        let zctx = zmq::Context::new();
        let zrep = util::zmq_socket(&zctx, zmq::REP);
        let ep = match t {
            Transport::Tcp => {
                zrep.bind("tcp://127.0.0.1:*").unwrap();
                zrep.get_last_endpoint().unwrap().unwrap()
            }
            _ => {
                let ep = util::ipc_endpoint("async-zrep");
                zrep.bind(&ep).unwrap();
                ep
            }
        };
        let server = std::thread::spawn(move || {
            for _ in 0..5 {
                let msg = zrep.recv_multipart(0).unwrap();
                let mut reply = b"re: ".to_vec();
                reply.extend_from_slice(&msg[0]);
                zrep.send(reply, 0).unwrap();
            }
        });
        let ctx = Context::new();
        let mut req = ctx.req().unwrap();
        req.connect(&ep).unwrap();
        Runtime::TokioCurrentThread.block_on(async move {
            for i in 0..5u32 {
                let reply = bounded(req.request_async(format!("{i}"))).await.unwrap();
                assert_eq!(reply, format!("re: {i}").as_str());
            }
        });
        server.join().unwrap();

        // libzmq's REQ, ferromq's async REP.
        let mut rep = ctx.rep().unwrap();
        rep.bind(&t.fresh_endpoint("async-zreq")).unwrap();
        let ep = rep.last_endpoint().unwrap().to_owned();
        let client = std::thread::spawn(move || {
            let zreq = util::zmq_socket(&zctx, zmq::REQ);
            zreq.connect(&ep).unwrap();
            for i in 0..5u32 {
                zreq.send(format!("{i}").as_bytes(), 0).unwrap();
                let reply = zreq.recv_bytes(0).unwrap();
                assert_eq!(reply, format!("ok {i}").into_bytes());
            }
        });
        Runtime::Smol.block_on(async move {
            for _ in 0..5 {
                let request = bounded(rep.recv_async()).await.unwrap();
                let body = String::from_utf8(request.body()[0].to_vec()).unwrap();
                bounded(request.reply_async(format!("ok {body}")))
                    .await
                    .unwrap();
            }
        });
        client.join().unwrap();
    }
}

/// Dropping the reply future is the blocking receive's timeout: the request is given up,
/// and the late reply to it is never taken for the next request's.
#[test]
fn a_dropped_reply_future_gives_the_request_up_like_a_timeout() {
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            rt.block_on(async move {
                let ctx = Context::new();
                let (mut req, mut rep) = req_rep(&ctx, t);
                let pending = bounded(req.send_async("first")).await.unwrap();
                let first = bounded(rep.recv_async()).await.unwrap();
                // The runtime's timeout ends the wait and drops the future.
                let waited = within(Duration::from_millis(50), pending.recv_async()).await;
                assert!(waited.is_none(), "no reply was sent yet");
                // The late reply: its requester gave up, so it must never surface.
                let _ = first.reply_async("late").await;
                let pending = bounded(req.send_async("second")).await.unwrap();
                let second = bounded(rep.recv_async()).await.unwrap();
                assert_eq!(second.body(), "second");
                bounded(second.reply_async("on time")).await.unwrap();
                let reply = bounded(pending.recv_async()).await.unwrap();
                assert_eq!(reply, "on time", "{rt:?} {t:?}");
            });
        }
    }
}

#[test]
fn a_dropped_request_future_sent_nothing_and_a_dropped_receive_took_nothing() {
    Runtime::TokioCurrentThread.block_on(async {
        let ctx = Context::new();
        // No peer: the send waits, and dropping it leaves the REQ idle.
        let mut req = ctx.req().unwrap();
        let mut send = Box::pin(req.send_async("never"));
        assert!(util::aio::poll_once(&mut send).is_none());
        drop(send);
        let mut rep = ctx.rep().unwrap();
        let ep = format!("inproc://{}", util::unique("async-drop"));
        rep.bind(&ep).unwrap();
        // A receive with nothing queued, dropped: it took nothing.
        let mut recv = Box::pin(rep.recv_async());
        assert!(util::aio::poll_once(&mut recv).is_none());
        drop(recv);
        req.connect(&ep).unwrap();
        let pending = bounded(req.send_async("real")).await.unwrap();
        let request = bounded(rep.recv_async()).await.unwrap();
        assert_eq!(request.body(), "real", "the dropped send queued nothing");
        bounded(request.reply_async("done")).await.unwrap();
        assert_eq!(bounded(pending.recv_async()).await.unwrap(), "done");
    });
}

/// A REP whose reply waits for room keeps the request in hand: when room comes, the
/// reply goes out along the saved envelope.
#[test]
fn a_reply_that_waits_for_room_goes_out_when_room_comes() {
    Runtime::TokioMultiThread.block_on(async {
        let ctx = Context::new();
        let ep = format!("inproc://{}", util::unique("async-reply-room"));
        let mut rep = ctx.rep().unwrap();
        rep.set_send_hwm(1);
        rep.bind(&ep).unwrap();
        // A DEALER asks twice and reads only later, so the REP's queue back to it fills.
        let mut dealer = ctx.dealer().unwrap();
        dealer.set_recv_hwm(1);
        dealer.connect(&ep).unwrap();
        for i in 0..3u32 {
            bounded(dealer.send_async(vec![vec![], format!("{i}").into_bytes()]))
                .await
                .unwrap();
        }
        let reader = async {
            // Let the replies pile up first.
            smol::Timer::after(Duration::from_millis(50)).await;
            let mut got = Vec::new();
            for _ in 0..3 {
                let msg = bounded(dealer.recv_async()).await.unwrap();
                got.push(String::from_utf8(msg[1].to_vec()).unwrap());
            }
            got
        };
        let server = async {
            for _ in 0..3 {
                let request = bounded(rep.recv_async()).await.unwrap();
                let body = request.body().clone();
                bounded(request.reply_async(body)).await.unwrap();
            }
        };
        let (got, ()) = futures::join!(reader, server);
        assert_eq!(got, ["0", "1", "2"]);
    });
}

#[test]
fn the_dynamic_req_gives_its_request_up_when_the_receive_future_is_dropped() {
    Runtime::AsyncStd.block_on(async {
        let ctx = Context::new();
        let ep = format!("inproc://{}", util::unique("async-dyn-req"));
        let mut rep = ctx.socket(ferromq::SocketType::Rep).unwrap();
        rep.bind(&ep).unwrap();
        let mut req = ctx.socket(ferromq::SocketType::Req).unwrap();
        req.connect(&ep).unwrap();
        bounded(req.send_async("first")).await.unwrap();
        assert_eq!(bounded(rep.recv_async()).await.unwrap(), "first");
        assert!(within(Duration::from_millis(30), req.recv_async())
            .await
            .is_none());
        // Given up: the REQ hung up on the REP's connection, so the late reply has
        // nowhere to go (inproc: `Disconnected`), and the REQ may send again at once.
        let _ = bounded(rep.send_async("late")).await;
        bounded(req.send_async("second")).await.unwrap();
        assert_eq!(bounded(rep.recv_async()).await.unwrap(), "second");
        bounded(rep.send_async("on time")).await.unwrap();
        assert_eq!(bounded(req.recv_async()).await.unwrap(), "on time");
        // Receiving with no request outstanding is refused at once, as blocking.
        assert!(matches!(
            bounded(req.recv_async()).await,
            Err(Error::WrongState(_))
        ));
    });
}

#[test]
fn the_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let ctx = Context::new();
    let mut req = ctx.req().unwrap();
    let mut rep = ctx.rep().unwrap();
    is_send(&req.send_async("x"));
    is_send(&req.request_async("x"));
    is_send(&rep.recv_async());
    is_send(&rep.readable());
    let mut pull = ctx.pull().unwrap();
    is_send(&pull.recv_async());
    let mut socket = ctx.socket(ferromq::SocketType::Dealer).unwrap();
    is_send(&socket.recv_async());
    is_send(&socket.send_async("x"));
}
