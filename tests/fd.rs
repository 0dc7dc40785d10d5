//! `fd()` (libzmq's `ZMQ_FD`) and `events()` (`ZMQ_EVENTS`): a descriptor an outside event
//! loop waits on, edge-triggered, and the readiness to check when it fires.

mod util;

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use ferromq::{Context, Error, Interest};
use util::within;

/// Waits up to `timeout` for `fd` to be readable, with mio (epoll), as an outside loop.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut poll = mio::Poll::new().unwrap();
    let raw = fd.as_raw_fd();
    poll.registry()
        .register(
            &mut mio::unix::SourceFd(&raw),
            mio::Token(7),
            mio::Interest::READABLE,
        )
        .unwrap();
    let mut events = mio::Events::with_capacity(4);
    poll.poll(&mut events, Some(timeout)).unwrap();
    events.iter().any(|e| e.token() == mio::Token(7))
}

#[test]
fn the_fd_turns_readable_when_a_message_arrives_and_not_after_draining() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let ep = pull.last_endpoint().unwrap().to_owned();
        let mut push = ctx.push().unwrap();
        push.connect(&ep).unwrap();

        let raw = pull.fd().unwrap().as_raw_fd();
        assert!(
            wait_readable(pull.fd().unwrap(), Duration::ZERO),
            "readable at first"
        );
        // The peer's arrival rings too (something changed); let it come first.
        assert!(util::eventually(Duration::from_secs(10), || pull
            .peer_count()
            == 1));
        // Looked at: nothing to read yet, and the descriptor quiet after the look.
        assert_eq!(pull.events(), Interest::NONE);
        assert!(!wait_readable(
            pull.fd().unwrap(),
            Duration::from_millis(50)
        ));

        for round in 0..3 {
            push.send(["m", "1"]).unwrap();
            push.send(["m", "2"]).unwrap();
            // An outside loop: wait on the descriptor, check events, drain, repeat.
            let mut got = 0;
            while got < 2 {
                assert!(
                    wait_readable(pull.fd().unwrap(), Duration::from_secs(10)),
                    "round {round}: the descriptor never turned readable"
                );
                if !pull.events().is_readable() {
                    continue;
                }
                loop {
                    match pull.try_recv() {
                        Ok(_) => got += 1,
                        Err(Error::WouldBlock) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            assert_eq!(got, 2);
            // Drained: after events() the descriptor does not stay readable.
            assert!(!pull.events().is_readable());
            assert!(
                !wait_readable(pull.fd().unwrap(), Duration::from_millis(100)),
                "round {round}: still readable after draining"
            );
        }
        assert_eq!(
            pull.fd().unwrap().as_raw_fd(),
            raw,
            "one descriptor for life"
        );
    });
}

#[test]
fn events_tells_what_can_be_done_now() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(1);
        assert!(push.events().is_empty(), "no peer: a send would block");
        let mut pull = ctx.pull().unwrap();
        pull.set_recv_hwm(1);
        pull.bind("inproc://fd-events").unwrap();
        push.connect("inproc://fd-events").unwrap();
        assert!(push.events().is_writable());
        assert!(!push.events().is_readable(), "a PUSH never receives");
        assert!(!pull.events().is_readable());
        push.send("a").unwrap();
        assert!(pull.events().is_readable());
        assert!(!pull.events().is_writable(), "a PULL never sends");
        // The PUSH's descriptor rings when room appears again.
        while push.try_send("fill").is_ok() {}
        assert!(!push.events().is_writable());
        while pull.try_recv().is_ok() {}
        assert!(wait_readable(push.fd().unwrap(), Duration::from_secs(10)));
        assert!(push.events().is_writable());
    });
}

#[test]
fn a_dynamic_sub_and_a_req_ring_their_descriptor_in_an_outside_loop() {
    within(Duration::from_secs(60), || {
        let ctx = Context::new();
        let mut publisher = ctx.publisher().unwrap();
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let ep = publisher.last_endpoint().unwrap().to_owned();
        let mut sub = ctx.socket(ferromq::SocketType::Sub).unwrap();
        sub.subscribe("").unwrap();
        sub.connect(&ep).unwrap();
        publisher
            .wait_for_subscribers(1, Duration::from_secs(10))
            .unwrap();
        let _ = sub.events();
        publisher.send("news").unwrap();
        // Wait, look, drain: as a C or Python loop would.
        let mut got = Vec::new();
        while got.is_empty() {
            assert!(
                wait_readable(sub.fd().unwrap(), Duration::from_secs(10)),
                "the SUB's descriptor never turned readable"
            );
            if sub.events().is_readable() {
                while let Ok(m) = sub.try_recv() {
                    got.push(m);
                }
            }
        }
        assert_eq!(got, vec![ferromq::Message::from("news")]);
        assert!(!sub.events().is_readable());
        assert!(!wait_readable(
            sub.fd().unwrap(),
            Duration::from_millis(100)
        ));

        // A REQ's readiness follows its state: writable before the request, readable once
        // the reply is in.
        let mut rep = ctx.rep().unwrap();
        rep.bind("inproc://fd-req").unwrap();
        let mut req = ctx.socket(ferromq::SocketType::Req).unwrap();
        req.connect("inproc://fd-req").unwrap();
        assert!(req.events().is_writable());
        req.send("ping").unwrap();
        assert!(!req.events().is_writable(), "a request is outstanding");
        let request = rep.recv_timeout(Duration::from_secs(10)).unwrap();
        request.reply("pong").unwrap();
        assert!(wait_readable(req.fd().unwrap(), Duration::from_secs(10)));
        assert!(req.events().is_readable());
        assert_eq!(req.try_recv().unwrap(), "pong");
    });
}
