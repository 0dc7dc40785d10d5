//! Socket types as they appear in ZMTP's `Socket-Type` property, and which pairs may talk.

use std::fmt;

/// The ZeroMQ socket types.
///
/// The names are the `Socket-Type` strings of ZMTP (uppercase, compared exactly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// Exclusive pair.
    Pair,
    /// Publisher.
    Pub,
    /// Subscriber.
    Sub,
    /// Request (client side of request-reply).
    Req,
    /// Reply (server side of request-reply).
    Rep,
    /// Asynchronous request side.
    Dealer,
    /// Asynchronous reply side, routing by peer identity.
    Router,
    /// Pipeline receiver.
    Pull,
    /// Pipeline sender.
    Push,
    /// Publisher that sees subscriptions.
    XPub,
    /// Subscriber that sends subscriptions as messages.
    XSub,
    /// Raw stream to plain tcp or ipc peers that speak no ZMTP (libzmq's `ZMQ_STREAM`;
    /// the typed socket is [`StreamSocket`](crate::StreamSocket)). Not a ZMTP wire type:
    /// no peer can announce it, so it is not in [`SocketType::ALL`] and
    /// [`SocketType::from_wire`] never returns it.
    Stream,
}

impl SocketType {
    /// Every socket type of ZMTP's table, for tables and tests ([`SocketType::Stream`],
    /// which speaks no ZMTP, is not among them).
    pub const ALL: [SocketType; 11] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
    ];

    /// The name sent in the `Socket-Type` property.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }

    /// Parses a `Socket-Type` value. Matching is exact, as libzmq's is.
    pub fn from_wire(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == name)
    }

    /// True when a socket of this type may talk to a peer of type `peer`
    /// (ZMTP 3.x's table, as libzmq's `check_socket_type` applies it).
    pub fn is_compatible_with(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
        )
    }

    /// True for the types whose READY carries an `Identity` property
    /// (libzmq sends one for REQ, DEALER and ROUTER).
    pub(crate) fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }

    /// True for the types that send subscriptions upstream (SUB, XSUB).
    pub(crate) fn is_subscriber(self) -> bool {
        matches!(self, SocketType::Sub | SocketType::XSub)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_are_exact() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_wire(t.as_str().as_bytes()), Some(t));
        }
        assert_eq!(SocketType::from_wire(b"push"), None);
        assert_eq!(SocketType::from_wire(b""), None);
        assert_eq!(SocketType::from_wire(b"CLIENT"), None);
        assert_eq!(SocketType::from_wire(b"STREAM"), None, "not a wire type");
    }

    #[test]
    fn compatibility_is_symmetric_and_matches_the_rfc_table() {
        let mut legal = 0;
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible_with(b), b.is_compatible_with(a), "{a}-{b}");
                legal += usize::from(a.is_compatible_with(b));
            }
        }
        // REQ:2 REP:2 DEALER:3 ROUTER:3 PUB:2 XPUB:2 SUB:2 XSUB:2 PUSH:1 PULL:1 PAIR:1
        assert_eq!(legal, 21);
        assert!(!SocketType::Push.is_compatible_with(SocketType::Push));
        assert!(!SocketType::Req.is_compatible_with(SocketType::Dealer));
        for t in SocketType::ALL {
            assert!(!SocketType::Stream.is_compatible_with(t), "STREAM-{t}");
        }
    }
}
