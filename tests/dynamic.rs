//! The dynamic `Socket` for every socket type ferromq offers.

mod util;

use std::time::Duration;

use ferromq::{Context, Error, Message, Socket, SocketType};
use util::{eventually, Transport};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn every_type_can_be_made_and_verbose_is_for_xpub_only() {
    let ctx = Context::new();
    for t in SocketType::ALL {
        let mut s = Socket::new(&ctx, t).unwrap();
        assert_eq!(s.socket_type(), t);
        let verbose = s.set_verbose(true);
        let verboser = s.set_verboser(true);
        if t == SocketType::XPub {
            assert!(verbose.is_ok() && verboser.is_ok());
        } else {
            assert!(matches!(verbose, Err(Error::InvalidOption(_))), "{t}");
            assert!(matches!(verboser, Err(Error::InvalidOption(_))), "{t}");
        }
    }
}

#[test]
fn dynamic_pub_and_sub_filter_by_topic_on_every_transport() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut publisher = ctx.socket(SocketType::Pub).unwrap();
        publisher.bind(&t.fresh_endpoint("dyn-pubsub")).unwrap();
        let ep = publisher.last_endpoint().unwrap().to_owned();
        let mut subscriber = ctx.socket(SocketType::Sub).unwrap();
        subscriber.set_recv_timeout(Some(WAIT));
        subscriber.subscribe("a.").unwrap();
        subscriber.connect(&ep).unwrap();
        // Keep publishing a marker until the subscription has reached the publisher.
        assert!(
            eventually(WAIT, || {
                publisher.send(["a.marker", ""]).unwrap();
                subscriber.recv_timeout(Duration::from_millis(5)).is_ok()
            }),
            "{t:?}"
        );
        while subscriber.try_recv().is_ok() {}
        publisher.send(["b.no", "x"]).unwrap();
        publisher.send(["a.yes", "y"]).unwrap();
        assert_eq!(
            subscriber.recv().unwrap(),
            Message::from(["a.yes", "y"]),
            "{t:?}"
        );
        assert!(subscriber.unsubscribe("a.").unwrap());
        assert!(matches!(
            publisher.subscribe("a."),
            Err(Error::InvalidOption(_))
        ));
        assert!(matches!(
            subscriber.send("no").unwrap_err().error(),
            Error::WrongState(_)
        ));
        assert!(matches!(publisher.try_recv(), Err(Error::WrongState(_))));
        assert_eq!(publisher.dropped(), 0);
    }
}
