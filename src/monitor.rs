//! Socket monitoring: a stream of connection events, like libzmq's `zmq_socket_monitor`.
//!
//! The I/O thread emits the events. It never blocks on a monitor: events go into an
//! unbounded channel, so a monitor nobody reads grows in memory (drop it to stop).

use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::error::{Error, Result};
use crate::socket_type::SocketType;

/// Something that happened to one of a socket's endpoints or connections.
///
/// `endpoint` is the endpoint as bound (as [`last_endpoint`] reports it) for listeners
/// and accepted connections, and as passed to `connect` for connected ones. libzmq's
/// equivalents are named on each variant.
///
/// [`last_endpoint`]: crate::Push::last_endpoint
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A tcp or ipc listener is accepting connections (`ZMQ_EVENT_LISTENING`).
    Listening {
        /// The endpoint bound.
        endpoint: String,
    },
    /// A bind failed (`ZMQ_EVENT_BIND_FAILED`); the same error was returned by `bind`.
    BindFailed {
        /// The endpoint as given to `bind`.
        endpoint: String,
        /// Why it failed.
        error: String,
    },
    /// An outgoing connection was established; the handshake follows
    /// (`ZMQ_EVENT_CONNECTED`).
    Connected {
        /// The endpoint connected to.
        endpoint: String,
        /// The peer's address, where the transport has one (tcp).
        peer_address: Option<SocketAddr>,
    },
    /// A connection attempt failed or a connection dropped; the next attempt comes after
    /// `retry_in` (`ZMQ_EVENT_CONNECT_RETRIED`).
    ConnectRetried {
        /// The endpoint connected to.
        endpoint: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// A connect attempt found no address to connect to: its host name did not resolve
    /// (or resolved to nothing), the lookup took too long, or its IPv6 zone names no
    /// interface. [`MonitorEvent::ConnectRetried`] follows, as for a refused connect. libzmq
    /// has no event for this (it only sends `ZMQ_EVENT_CONNECT_RETRIED`).
    ResolveFailed {
        /// The endpoint connected to.
        endpoint: String,
        /// Why no address was found, in words.
        error: String,
    },
    /// A listener accepted a connection; the handshake follows (`ZMQ_EVENT_ACCEPTED`).
    Accepted {
        /// The endpoint of the listener.
        endpoint: String,
        /// The peer's address, where the transport has one (tcp).
        peer_address: Option<SocketAddr>,
    },
    /// The ZMTP handshake finished: the peer is attached to the socket
    /// (`ZMQ_EVENT_HANDSHAKE_SUCCEEDED`).
    HandshakeSucceeded {
        /// The endpoint of the connection.
        endpoint: String,
        /// The socket type the peer announced.
        peer_type: SocketType,
    },
    /// The connection ended before its handshake finished: a protocol error, an
    /// incompatible socket type, the handshake timeout, or the peer closing
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_*`).
    HandshakeFailed {
        /// The endpoint of the connection.
        endpoint: String,
        /// What went wrong, in words.
        reason: String,
    },
    /// The security handshake ended in an authentication failure
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`): on a server, the ZAP handler refused the peer
    /// (300, 400 or 500); on a client, the server's ERROR command carried such a status
    /// code. Other handshake failures, such as a wrong CURVE key or a mechanism mismatch,
    /// are [`MonitorEvent::HandshakeFailed`].
    HandshakeFailedAuth {
        /// The endpoint of the connection.
        endpoint: String,
        /// The ZAP status code: 300, 400 or 500.
        status_code: u16,
    },
    /// A connection whose handshake had finished ended (`ZMQ_EVENT_DISCONNECTED`).
    Disconnected {
        /// The endpoint of the connection.
        endpoint: String,
        /// `None` when it closed normally (the peer closed, or we did); otherwise what
        /// went wrong, such as a heartbeat timeout or a protocol violation.
        reason: Option<String>,
    },
    /// A PUB or XPUB refused subscriptions from a peer because the peer already held as
    /// many as [`set_max_subscriptions`] or [`set_max_subscription_bytes`] allow (no libzmq
    /// equivalent: libzmq has no bound). The refused subscriptions are not held and not
    /// passed up; the peer stays connected and keeps what it held. Reported at the 1st,
    /// 2nd, 4th, 8th, ... refusal for each peer, so a flood cannot flood the monitor.
    ///
    /// [`set_max_subscriptions`]: crate::Pub::set_max_subscriptions
    /// [`set_max_subscription_bytes`]: crate::Pub::set_max_subscription_bytes
    SubscriptionsRefused {
        /// The endpoint connected to, for a connected peer; otherwise the local address of
        /// the connection (tcp, ipc), or `inproc`.
        endpoint: String,
        /// The peer's address, where the transport has one.
        peer_address: Option<String>,
        /// How many subscriptions from this peer were refused so far.
        refused: u64,
        /// How many distinct subscriptions the peer holds.
        held: usize,
        /// How many topic bytes those hold.
        held_bytes: usize,
    },
    /// A listener was closed by `unbind` or by closing the socket (`ZMQ_EVENT_CLOSED`).
    Closed {
        /// The endpoint that was bound.
        endpoint: String,
    },
    /// A connect gave up for good, as its socket's
    /// [`ReconnectStop`](crate::ReconnectStop) flags asked: no attempt follows (libzmq
    /// reports only its last `ZMQ_EVENT_CONNECT_RETRIED` or `ZMQ_EVENT_CLOSED`).
    ReconnectStopped {
        /// The endpoint connected to.
        endpoint: String,
        /// Why: the connect was refused, or the handshake failed.
        reason: String,
    },
}

/// The receiving end of a socket's monitor, made by the socket's `monitor()` method.
///
/// Events come in the order the I/O thread saw them. Only tcp and ipc endpoints produce
/// events; inproc connections have no handshake and are not reported.
#[derive(Debug)]
pub struct Monitor {
    rx: Receiver<MonitorEvent>,
}

impl Monitor {
    pub(crate) fn new(rx: Receiver<MonitorEvent>) -> Monitor {
        Monitor { rx }
    }

    /// Waits up to `timeout` for the next event.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when none came in time; [`Error::Closed`] once the socket is
    /// gone (or another `monitor()` call replaced this monitor) and every event was read.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<MonitorEvent> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => Error::TimedOut,
            RecvTimeoutError::Disconnected => Error::Closed,
        })
    }

    /// Takes the next event if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when none is waiting; [`Error::Closed`] as for
    /// [`Monitor::recv_timeout`].
    pub fn try_recv(&self) -> Result<MonitorEvent> {
        self.rx.try_recv().map_err(|e| match e {
            TryRecvError::Empty => Error::WouldBlock,
            TryRecvError::Disconnected => Error::Closed,
        })
    }

    /// A blocking iterator over events; it ends once the socket is gone (or the monitor
    /// replaced) and every event was read.
    pub fn iter(&self) -> impl Iterator<Item = MonitorEvent> + '_ {
        self.rx.iter()
    }
}
