//! Streams, sinks and the async poll: the `futures` feature's Stream of every receiving
//! socket, `MessageSink` over every sending one, and `Poller::poll_async`.

mod util;

use std::time::Duration;

use futures::{SinkExt, StreamExt};

use ferromq::{Context, Message, MessageSink, PollItem, Poller, SocketType};
use util::aio::{bounded, within, Runtime};
use util::Transport;

fn number(msg: &Message) -> u32 {
    u32::from_be_bytes(msg[0][..].try_into().unwrap())
}

#[test]
fn a_sink_feeds_a_stream_on_every_runtime_and_transport() {
    for rt in Runtime::ALL {
        for t in Transport::ALL {
            rt.block_on(async move {
                let ctx = Context::new();
                let mut pull = ctx.pull().unwrap();
                pull.set_recv_hwm(4);
                pull.bind(&t.fresh_endpoint("async-stream")).unwrap();
                let mut push = ctx.push().unwrap();
                push.set_send_hwm(4);
                push.connect(pull.last_endpoint().unwrap()).unwrap();
                let mut sink = MessageSink::new(push);
                let send = async {
                    let mut items = futures::stream::iter(
                        (0..300u32).map(|i| Ok(Message::from(i.to_be_bytes().to_vec()))),
                    );
                    bounded(sink.send_all(&mut items)).await.unwrap();
                    bounded(sink.flush()).await.unwrap();
                };
                let receive = async {
                    let got: Vec<u32> = bounded(
                        pull.by_ref()
                            .take(300)
                            .map(|m| number(&m.unwrap()))
                            .collect(),
                    )
                    .await;
                    assert_eq!(got, (0..300).collect::<Vec<_>>(), "{rt:?} {t:?}");
                };
                futures::join!(send, receive);
            });
        }
    }
}

#[test]
fn every_receiving_type_is_a_stream_and_every_sending_one_a_sink() {
    Runtime::TokioMultiThread.block_on(async {
        let ctx = Context::new();
        // DEALER both ways through one MessageSink, split into its halves.
        let mut router = ctx.router().unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let mut dealer = ctx.dealer().unwrap();
        dealer.set_identity("d").unwrap();
        dealer.connect(router.last_endpoint().unwrap()).unwrap();
        let (mut tx, mut rx) = MessageSink::new(dealer).split();
        bounded(tx.send(Message::from("hi"))).await.unwrap();
        let msg = bounded(router.next()).await.unwrap().unwrap();
        assert_eq!(&msg[0][..], b"d");
        let mut router = MessageSink::new(router);
        bounded(router.send(Message::multipart(["d", "back"])))
            .await
            .unwrap();
        assert_eq!(bounded(rx.next()).await.unwrap().unwrap(), "back");

        // PUB sink → SUB stream, XPUB/XSUB both ways, PAIR, and dynamic sockets.
        let mut publisher = ctx.publisher().unwrap();
        publisher.bind("inproc://stream-pub").unwrap();
        let mut sub = ctx.subscriber().unwrap();
        sub.connect("inproc://stream-pub").unwrap();
        sub.subscribe("");
        publisher
            .wait_for_subscribers(1, Duration::from_secs(10))
            .unwrap();
        let mut publisher = MessageSink::new(publisher);
        bounded(publisher.send(Message::from("news")))
            .await
            .unwrap();
        assert_eq!(bounded(sub.next()).await.unwrap().unwrap(), "news");

        let mut xpub = ctx.xpublisher().unwrap();
        xpub.bind("inproc://stream-xpub").unwrap();
        let mut xsub = MessageSink::new(ctx.xsubscriber().unwrap());
        xsub.get_mut().connect("inproc://stream-xpub").unwrap();
        bounded(xsub.send(Message::from("\x01a"))).await.unwrap();
        assert_eq!(
            &bounded(xpub.next()).await.unwrap().unwrap()[0][..],
            b"\x01a"
        );
        let mut xpub = MessageSink::new(xpub);
        bounded(xpub.send(Message::from("a1"))).await.unwrap();
        assert_eq!(bounded(xsub.next()).await.unwrap().unwrap(), "a1");

        let mut a = MessageSink::new(ctx.socket(SocketType::Pair).unwrap());
        a.get_mut().bind("inproc://stream-pair").unwrap();
        let mut b = MessageSink::new(ctx.pair().unwrap());
        b.get_mut().connect("inproc://stream-pair").unwrap();
        bounded(a.send(Message::from("ping"))).await.unwrap();
        assert_eq!(bounded(b.next()).await.unwrap().unwrap(), "ping");
        bounded(b.send(Message::from("pong"))).await.unwrap();
        assert_eq!(bounded(a.next()).await.unwrap().unwrap(), "pong");

        // A dynamic REP through its sink: the reply keeps its request while it waits.
        let mut rep = MessageSink::new(ctx.socket(SocketType::Rep).unwrap());
        rep.get_mut().bind("inproc://stream-rep").unwrap();
        let mut req = ctx.req().unwrap();
        req.connect("inproc://stream-rep").unwrap();
        let pending = bounded(req.send_async("q")).await.unwrap();
        assert_eq!(bounded(rep.next()).await.unwrap().unwrap(), "q");
        bounded(rep.send(Message::from("a"))).await.unwrap();
        assert_eq!(bounded(pending.recv_async()).await.unwrap(), "a");

        // An empty message is refused by the sink, as by every send.
        let err = bounded(b.send(Message::new())).await.unwrap_err();
        assert!(matches!(err.error(), ferromq::Error::EmptyMessage));
    });
}

#[test]
fn a_sink_that_finds_no_room_holds_one_message_and_hands_it_back() {
    Runtime::TokioCurrentThread.block_on(async {
        let ctx = Context::new();
        let ep = format!("inproc://{}", util::unique("sink-full"));
        let mut pull = ctx.pull().unwrap();
        pull.set_recv_hwm(1);
        pull.bind(&ep).unwrap();
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(1);
        push.connect(&ep).unwrap();
        let mut sink = MessageSink::new(push);
        let mut sent = 0u32;
        // Feed until a send has to wait for room, then give up on it.
        loop {
            let msg = Message::from(sent.to_be_bytes().to_vec());
            match within(Duration::from_millis(50), sink.send(msg)).await {
                Some(r) => {
                    r.unwrap();
                    sent += 1;
                }
                None => break,
            }
            assert!(sent < 100, "the queues never filled");
        }
        // The message that found no room is handed back whole, not queued.
        let (_push, held) = sink.into_inner();
        assert_eq!(number(&held.expect("the waiting message is held")), sent);
        for i in 0..sent {
            assert_eq!(number(&bounded(pull.recv_async()).await.unwrap()), i);
        }
        assert!(within(Duration::from_millis(30), pull.recv_async())
            .await
            .is_none());
    });
}

#[test]
fn the_async_poll_wakes_for_a_message_a_room_or_the_waker() {
    for rt in Runtime::ALL {
        rt.block_on(async move {
            let ctx = Context::new();
            let ep = format!("inproc://{}", util::unique("poll-async"));
            let mut quiet = ctx.pull().unwrap();
            quiet.bind(&format!("{ep}-quiet")).unwrap();
            let mut busy = ctx.pull().unwrap();
            busy.bind(&ep).unwrap();
            let mut push = ctx.push().unwrap();
            push.connect(&ep).unwrap();
            let mut poller = Poller::new();

            // A message sent from another thread while the poll waits.
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                push.send("late").unwrap();
                push
            });
            let ready = bounded(poller.poll_async(&mut [
                PollItem::readable(&mut quiet),
                PollItem::readable(&mut busy),
            ]))
            .await;
            assert!(!ready.is_readable(0) && ready.is_readable(1), "{rt:?}");
            assert_eq!(busy.try_recv().unwrap(), "late");
            drop(sender.join().unwrap());

            // The waker from another thread ends a poll that nothing else would.
            let waker = poller.waker();
            let waking = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                waker.wake();
            });
            let ready = bounded(poller.poll_async(&mut [PollItem::readable(&mut quiet)])).await;
            assert!(ready.woken() && ready.is_empty());
            waking.join().unwrap();

            // Nothing ready and nobody wakes it: the poll waits (and the runtime's timeout
            // ends it).
            let waited = within(
                Duration::from_millis(30),
                poller.poll_async(&mut [PollItem::readable(&mut quiet)]),
            )
            .await;
            assert!(waited.is_none());
        });
    }
}
