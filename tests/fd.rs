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
