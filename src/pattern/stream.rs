//! STREAM (libzmq's `ZMQ_STREAM`): a ROUTER-like socket whose peers are plain tcp or ipc
//! streams that speak no ZMTP. The engine runs their connections in raw mode
//! (`engine::raw`); this module names each connection by a routing id and turns the
//! socket's messages into `[id, bytes]`.
//!
//! The state lives in [`StreamState`], with driver functions taking the [`SocketCore`], so
//! the typed [`StreamSocket`] and the dynamic [`Socket`](crate::Socket) share it.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::context::Context;
use crate::error::{Error, Result, SendError};
use crate::frame::Frame;
use crate::message::Message;
use crate::pattern::{refuse_empty, socket_common};
use crate::poll::sealed::CoreRef;
use crate::poll::Interest;
use crate::socket::{PeerId, SocketCore, Wait};
use crate::socket_type::SocketType;

/// What a STREAM socket knows beyond its peers: their routing ids and its notifications.
#[derive(Debug)]
pub(crate) struct StreamState {
    by_id: HashMap<Frame, PeerId>,
    ids: HashMap<PeerId, Frame>,
    /// The next generated id's counter (starts at a random value, as libzmq's).
    next_generated: u32,
    /// `ZMQ_STREAM_NOTIFY`: tell the application of connections made and lost.
    pub(crate) notify: bool,
    /// Notifications waiting for the application: `[routing id, ""]`.
    notices: VecDeque<Message>,
}

impl StreamState {
    /// A fresh state; call [`SocketCore::track_attached`] and
    /// [`SocketCore::track_departed`] on the socket's core too.
    pub(crate) fn new() -> StreamState {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(crate::mailbox::next_id());
        StreamState {
            by_id: HashMap::new(),
            ids: HashMap::new(),
            next_generated: h.finish() as u32,
            notify: true,
            notices: VecDeque::new(),
        }
    }

    /// Names every newly attached connection and forgets departed ones, queueing a
    /// notification for each with notifications on.
    fn admit(&mut self, core: &mut SocketCore) {
        for id in core.take_attached() {
            // A name our own connect gave (`ZMQ_CONNECT_ROUTING_ID`) is used unless a
            // live connection holds it already; otherwise a fresh id, as libzmq's.
            let named = core
                .peer(id)
                .and_then(|p| p.routing_id.as_ref())
                .map(|n| Frame::from(n.to_vec()))
                .filter(|n| !self.by_id.contains_key(n));
            let rid = match named {
                Some(n) => n,
                None => self.generate(),
            };
            if self.notify {
                self.notices
                    .push_back(Message::from(vec![rid.clone(), Frame::new()]));
            }
            self.by_id.insert(rid.clone(), id);
            self.ids.insert(id, rid);
        }
        for id in core.take_departed() {
            if let Some(rid) = self.ids.remove(&id) {
                self.by_id.remove(&rid);
                if self.notify {
                    self.notices
                        .push_back(Message::from(vec![rid, Frame::new()]));
                }
            }
        }
    }

    /// A fresh routing id: `0x00` and a big-endian counter, as libzmq makes them. Skips
    /// one in use (after the counter wrapped around a long-lived connection).
    fn generate(&mut self) -> Frame {
        loop {
            let n = self.next_generated;
            self.next_generated = n.wrapping_add(1);
            let [a, b, c, d] = n.to_be_bytes();
            let rid = Frame::copy_from_slice(&[0, a, b, c, d]);
            if !self.by_id.contains_key(&rid) {
                return rid;
            }
        }
    }

    /// Closes a connection at the application's request: no notification follows.
    fn close(&mut self, core: &mut SocketCore, peer: PeerId) {
        if let Some(rid) = self.ids.remove(&peer) {
            self.by_id.remove(&rid);
        }
        core.hang_up(peer);
    }

    /// Poll readiness: readable when a notification or bytes wait; always writable, as
    /// libzmq's STREAM (whether a send can go depends on the connection it names).
    pub(crate) fn poll_ready(&mut self, core: &mut SocketCore, interest: Interest) -> Interest {
        // Let go of connections seen to be gone, so their notices are there to be read.
        core.peer_count();
        self.admit(core);
        Interest::from_flags(
            interest.is_readable() && (!self.notices.is_empty() || core.poll_readable()),
            interest.is_writable(),
        )
    }
}

/// Receives `[routing id, bytes]` from any connection, or a notification `[routing id,
/// ""]` for a connection made or lost.
pub(crate) fn stream_recv(
    core: &mut SocketCore,
    st: &mut StreamState,
    wait: Wait,
) -> Result<Message> {
    loop {
        st.admit(core);
        if let Some(notice) = st.notices.pop_front() {
            return Ok(notice);
        }
        let (peer, mut msg) = match core.recv_fair(Wait::Never) {
            Ok(got) => got,
            Err(Error::WouldBlock) => {
                // Looking may have let go of a connection that is gone: its notice.
                st.admit(core);
                if let Some(notice) = st.notices.pop_front() {
                    return Ok(notice);
                }
                core.wait(wait)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if !st.ids.contains_key(&peer) {
            // Attached while we looked: name it now (its notice comes first).
            st.admit(core);
            if let Some(rid) = st.ids.get(&peer).cloned() {
                msg.push_front(rid);
                st.notices.push_back(msg);
                continue;
            }
        }
        if let Some(rid) = st.ids.get(&peer) {
            msg.push_front(rid.clone());
            return Ok(msg);
        }
        // From a connection closed by the application meanwhile: nobody wants it.
    }
}

/// Sends `[routing id, bytes...]`: the bytes are written to that connection as they are;
/// with no bytes at all, the connection is closed.
pub(crate) fn stream_send(
    core: &mut SocketCore,
    st: &mut StreamState,
    msg: Message,
    wait: Wait,
) -> Result<(), SendError> {
    let mut msg = refuse_empty(msg)?;
    st.admit(core);
    if msg.len() < 2 {
        // An id with no data part is ignored, as libzmq ignores a malformed message.
        return Ok(());
    }
    let Some(rid) = msg.pop_front() else {
        return Ok(());
    };
    let unreachable = |msg: Message, rid: Frame| {
        let mut msg = msg;
        msg.push_front(rid);
        Err(SendError::new(Error::HostUnreachable, msg))
    };
    let Some(&peer) = st.by_id.get(&rid) else {
        return unreachable(msg, rid);
    };
    if msg.iter().all(|f| f.is_empty()) {
        st.close(core, peer);
        return Ok(());
    }
    match core.send_to(peer, msg, wait) {
        Ok(()) => Ok(()),
        Err(e) => {
            let (error, msg) = e.into_parts();
            match error {
                Error::Closed => unreachable(msg, rid),
                error => {
                    let mut msg = msg;
                    msg.push_front(rid);
                    Err(SendError::new(error, msg))
                }
            }
        }
    }
}

/// A socket for plain tcp and ipc peers that speak no ZMTP: libzmq's `ZMQ_STREAM` (named
/// `StreamSocket` so as not to clash with the `Stream` of futures in user code).
///
/// Each connection, accepted by a bind or made by a connect, gets a routing id (five
/// bytes: `0x00` and a counter, as libzmq's). Everything is a message of two frames:
///
/// - received: `[id, bytes]`, the bytes one read took from that connection (at most
///   128 KiB; a peer's stream is cut where the reads fell, not where it meant);
/// - received with [`StreamSocket::set_stream_notify`] on (the default): `[id, ""]` when
///   a connection is made (before any of its bytes) and when it is lost (after them);
///   the notice of a connect is how the application learns the new connection's id;
/// - sent: `[id, bytes]` writes the bytes to that connection as they are (more than one
///   data frame are written one after the other);
/// - sent: `[id, ""]` closes that connection, after what was sent to it before has
///   been written (within the linger time; libzmq drops it instead). No notice follows,
///   and a connection closed so is not made again.
///
/// Routing is ROUTER's with mandatory routing: an unknown id fails with
/// [`Error::HostUnreachable`], and a connection whose queue is at its high-water mark is
/// waited for as the send allows. Inbound, at most the receive high-water mark of
/// messages (each at most 128 KiB) waits per connection; past it, the connection is not
/// read until the application takes some, so a peer sending without end is held back by
/// tcp's own flow control. There are no heartbeats and no handshake (timeouts of either
/// do not apply). tcp and ipc only, as libzmq: inproc endpoints are refused.
///
/// # Examples
///
/// A tiny server, and a plain std client:
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut server = ctx.stream()?;
/// server.set_recv_timeout(Some(Duration::from_secs(10)));
/// server.bind("tcp://127.0.0.1:*")?;
/// let addr = server.last_endpoint().unwrap().trim_start_matches("tcp://").to_owned();
///
/// let mut client = std::net::TcpStream::connect(&addr)?;
/// client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// let hello = server.recv()?; // [id, ""]: a connection
/// assert!(hello[1].is_empty());
/// client.write_all(b"ping")?;
/// let msg = server.recv()?;
/// assert_eq!(&msg[1][..], b"ping");
/// server.send([msg[0].clone(), "pong".into()])?;
/// server.send([msg[0].clone(), ferromq::Frame::new()])?; // close it
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert_eq!(reply, "pong");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StreamSocket {
    core: SocketCore,
    state: StreamState,
}

socket_common!(StreamSocket);
crate::aio::async_send!(StreamSocket, ());
crate::aio::async_recv!(StreamSocket, stream);

impl StreamSocket {
    /// A new STREAM socket in `ctx`, with no endpoints yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<StreamSocket> {
        let mut core = SocketCore::new(ctx, SocketType::Stream);
        core.track_attached();
        core.track_departed();
        Ok(StreamSocket {
            core,
            state: StreamState::new(),
        })
    }

    /// Sends `[id, bytes]` to that connection, or closes it with `[id, ""]`, waiting up
    /// to the send timeout while the connection's queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::HostUnreachable`] for an id naming no connection (never made, lost or
    /// closed); [`Error::TimedOut`] when the queue stays full; [`Error::EmptyMessage`]
    /// for a message with no frames (one frame, an id alone, is ignored, as libzmq
    /// does). The message, id included, comes back inside the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        stream_send(&mut self.core, &mut self.state, msg.into(), wait)
    }

    /// Sends without blocking.
    ///
    /// # Errors
    ///
    /// As [`StreamSocket::send`], with [`Error::WouldBlock`] in place of a wait.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        stream_send(&mut self.core, &mut self.state, msg.into(), Wait::Never)
    }

    /// Sends, waiting at most `timeout` whatever the socket's send timeout is.
    ///
    /// # Errors
    ///
    /// As [`StreamSocket::send`].
    pub fn send_timeout(
        &mut self,
        msg: impl Into<Message>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        let wait = Wait::from_timeout(Some(timeout));
        stream_send(&mut self.core, &mut self.state, msg.into(), wait)
    }

    /// Receives `[id, bytes]`, or a notification `[id, ""]`, waiting up to the receive
    /// timeout.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        stream_recv(&mut self.core, &mut self.state, wait)
    }

    /// Receives without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when nothing is there.
    pub fn try_recv(&mut self) -> Result<Message> {
        stream_recv(&mut self.core, &mut self.state, Wait::Never)
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message> {
        let wait = Wait::from_timeout(Some(timeout));
        stream_recv(&mut self.core, &mut self.state, wait)
    }

    /// Turns the `[id, ""]` notifications of connections made and lost on or off
    /// (libzmq's `ZMQ_STREAM_NOTIFY`; default on, as libzmq).
    pub fn set_stream_notify(&mut self, notify: bool) {
        self.state.notify = notify;
    }

    /// Whether connections made and lost are notified (libzmq's `ZMQ_STREAM_NOTIFY`).
    pub fn stream_notify(&self) -> bool {
        self.state.notify
    }

    /// Names the connection of the next [`StreamSocket::connect`] (libzmq's
    /// `ZMQ_CONNECT_ROUTING_ID`), so the application knows its id before the connect
    /// notice arrives; `None` lets the socket generate one. Used by that one connect and
    /// its reconnects; a name already in use falls back to a generated id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for an id that is not 1 to 255 bytes or starts with a zero
    /// byte.
    pub fn set_connect_routing_id(&mut self, id: Option<bytes::Bytes>) -> Result<()> {
        self.core.set_connect_routing_id(id)
    }

    /// The routing id the next connect names its connection with.
    pub fn connect_routing_id(&self) -> Option<&bytes::Bytes> {
        self.core.options.connect_routing_id.as_ref()
    }
}

impl Context {
    /// A new STREAM socket; see [`StreamSocket`].
    ///
    /// # Errors
    ///
    /// As [`StreamSocket::new`].
    pub fn stream(&self) -> Result<StreamSocket> {
        StreamSocket::new(self)
    }
}

impl crate::poll::sealed::Sealed for StreamSocket {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        self.state.poll_ready(&mut self.core, interest)
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        stream_recv(&mut self.core, &mut self.state, Wait::Never)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        stream_send(&mut self.core, &mut self.state, msg, Wait::Never)
    }
}
