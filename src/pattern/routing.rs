//! DEALER, ROUTER (RFC 28, the routing half of request-reply) and PAIR (RFC 31). The
//! specs with their tables are `patterns/dealer-router.md` and `patterns/pair.md`.
//!
//! DEALER is PUSH and PULL in one socket: round-robin out, fair-queued in, frames
//! untouched. ROUTER names each peer by a routing id (the peer's `Identity`, or one made
//! up) and puts it in front of what it receives; on send, the first frame picks the peer.
//! PAIR talks to exactly one peer and refuses the others.
//!
//! The state lives in [`RouterState`] and [`PairState`], with driver functions taking the
//! [`SocketCore`], so the typed sockets and the dynamic [`Socket`](crate::Socket) share it.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::context::Context;
use crate::error::{Error, Result, SendError};
use crate::frame::Frame;
use crate::message::Message;
use crate::pattern::{refuse_empty, socket_common, Discards};
use crate::pipe::ReadError;
use crate::poll::sealed::CoreRef;
use crate::poll::Interest;
use crate::socket::{PeerId, SocketCore, Wait};
use crate::socket_type::SocketType;

// ---------------------------------------------------------------------------------------
// DEALER

/// Sends round-robin to the peers with room; blocks (as `wait` allows) while none has.
pub(crate) fn dealer_send(
    core: &mut SocketCore,
    msg: Message,
    wait: Wait,
) -> Result<(), SendError> {
    core.send_round_robin(msg, wait).map(drop)
}

/// Receives fair-queued from every peer, frames untouched.
pub(crate) fn dealer_recv(core: &mut SocketCore, wait: Wait) -> Result<Message> {
    core.recv_fair(wait).map(|(_, m)| m)
}

/// An asynchronous request-reply socket: sends to its peers in turn (round-robin) and
/// receives from them in turn (fair-queued), leaving every frame as it is.
///
/// A send blocks while no peer has room (no peer at all, or every queue at its high-water
/// mark), so nothing is ever dropped; [`Dealer::try_send`] returns
/// [`Error::WouldBlock`] instead. Talking to a REP, put the empty delimiter frame in front
/// yourself: `["", "body"]`.
///
/// Like a PUSH, a DEALER sends again, first and in order, what it had queued for a peer that
/// went away without receiving it (see [`Push`](crate::Push)).
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut router = ctx.router()?;
/// router.bind("inproc://dealer-doc")?;
/// let mut dealer = ctx.dealer()?;
/// dealer.set_identity("worker-1")?;
/// dealer.connect("inproc://dealer-doc")?;
///
/// dealer.send("ready")?;
/// let msg = router.recv()?;
/// assert_eq!(&msg[0][..], b"worker-1");
/// router.send(["worker-1", "job"])?;
/// assert_eq!(dealer.recv()?, "job");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Dealer {
    core: SocketCore,
}

socket_common!(Dealer);
crate::pattern::getters::conflate_option!(Dealer, dealer);
crate::aio::async_send!(Dealer, ());
crate::aio::async_recv!(Dealer, dealer);

impl Dealer {
    /// A new DEALER socket in `ctx`, with no endpoints yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Dealer> {
        Ok(Dealer {
            core: SocketCore::new(ctx, SocketType::Dealer),
        })
    }

    /// Sends a message to the next peer with room, waiting up to the send timeout
    /// (forever by default) while none has.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the send timeout expires; [`Error::EmptyMessage`] at once
    /// for a message with no frames, on every transport. The message comes back inside
    /// the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        dealer_send(&mut self.core, msg.into(), wait)
    }

    /// Sends without blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, Error};
    ///
    /// let ctx = Context::new();
    /// let mut dealer = ctx.dealer()?;
    /// let err = dealer.try_send("nobody there").unwrap_err();
    /// assert!(matches!(err.error(), Error::WouldBlock));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when no peer has room now, with the message handed back.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        dealer_send(&mut self.core, msg.into(), Wait::Never)
    }

    /// Sends, waiting at most `timeout` whatever the socket's send timeout is.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`], with the message handed back.
    pub fn send_timeout(
        &mut self,
        msg: impl Into<Message>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        dealer_send(
            &mut self.core,
            msg.into(),
            Wait::from_timeout(Some(timeout)),
        )
    }

    /// Receives the next message from any peer, waiting up to the receive timeout.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        dealer_recv(&mut self.core, wait)
    }

    /// Receives without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&mut self) -> Result<Message> {
        dealer_recv(&mut self.core, Wait::Never)
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message> {
        dealer_recv(&mut self.core, Wait::from_timeout(Some(timeout)))
    }

    /// Sends an empty message to every peer as it connects (libzmq's
    /// `ZMQ_PROBE_ROUTER`), so a ROUTER on the other end learns this socket's routing id
    /// before it sends anything. Applies to peers that attach after the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ctx = ferromq::Context::new();
    /// let mut router = ctx.router()?;
    /// router.bind("inproc://probe-doc")?;
    /// let mut dealer = ctx.dealer()?;
    /// dealer.set_identity("d1")?;
    /// dealer.set_probe_router(true);
    /// dealer.connect("inproc://probe-doc")?;
    /// let probe = router.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(probe.len(), 2);
    /// assert_eq!(&probe[0][..], b"d1");
    /// assert!(probe[1].is_empty());
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_probe_router(&mut self, probe: bool) {
        self.core.options.probe_router = probe;
    }

    /// Whether each new peer gets an empty message first (libzmq's `ZMQ_PROBE_ROUTER`,
    /// which libzmq cannot read back). See [`Dealer::set_probe_router`].
    pub fn probe_router(&self) -> bool {
        self.core.options.probe_router
    }

    /// Sends `hello` to every peer first, as it attaches (libzmq 4.3.5's draft
    /// `ZMQ_HELLO_MSG`; default `None`): a one-frame message, written before anything the
    /// application sends, on tcp, ipc and inproc. Applies to later connections; an empty
    /// message is `None`, as in libzmq.
    pub fn set_hello_msg(&mut self, hello: Option<bytes::Bytes>) {
        self.core.options.hello_msg = hello.filter(|h| !h.is_empty());
    }

    /// The hello message in force; see [`Dealer::set_hello_msg`].
    pub fn hello_msg(&self) -> Option<&bytes::Bytes> {
        self.core.options.hello_msg.as_ref()
    }

    /// Makes a receive return `hiccup` when the tcp or ipc connection made by one of this
    /// socket's connects ends after its handshake (libzmq 4.3.5's draft `ZMQ_HICCUP_MSG`;
    /// default `None`): it comes after whatever that peer sent, and the reconnect follows
    /// as usual. Not for connections this socket accepted, nor when this socket itself
    /// disconnects or closes, nor for inproc (libzmq does it for inproc too). An empty
    /// message is `None`, as in libzmq. Applies to later connects.
    pub fn set_hiccup_msg(&mut self, hiccup: Option<bytes::Bytes>) {
        self.core.options.hiccup_msg = hiccup.filter(|h| !h.is_empty());
    }

    /// The hiccup message in force; see [`Dealer::set_hiccup_msg`].
    pub fn hiccup_msg(&self) -> Option<&bytes::Bytes> {
        self.core.options.hiccup_msg.as_ref()
    }
}

// ---------------------------------------------------------------------------------------
// ROUTER

/// What a ROUTER knows beyond its peers: their routing ids, its options, its losses.
#[derive(Debug)]
pub(crate) struct RouterState {
    by_id: HashMap<Frame, PeerId>,
    ids: HashMap<PeerId, Frame>,
    /// The next generated id's counter (starts at a random value, as libzmq's).
    next_generated: u32,
    pub(crate) mandatory: bool,
    pub(crate) handover: bool,
    /// `ZMQ_ROUTER_NOTIFY`: tell the application of peers arriving / leaving.
    pub(crate) notify_connect: bool,
    pub(crate) notify_disconnect: bool,
    /// Notifications waiting for the application: `[routing id, ""]`.
    notices: VecDeque<Message>,
    /// Peers of our own connects refused for a name already held, waiting for it
    /// ([`RouterState::admit`]). At most one per connection the socket holds.
    refused: Vec<PeerId>,
    dropped: u64,
}

impl RouterState {
    /// A fresh state; call [`SocketCore::track_attached`] and
    /// [`SocketCore::track_departed`] on the socket's core too.
    pub(crate) fn new() -> RouterState {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(crate::mailbox::next_id());
        RouterState {
            by_id: HashMap::new(),
            ids: HashMap::new(),
            next_generated: h.finish() as u32,
            mandatory: false,
            handover: false,
            notify_connect: false,
            notify_disconnect: false,
            notices: VecDeque::new(),
            refused: Vec::new(),
            dropped: 0,
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Gives every newly attached peer its routing id, or refuses it when its identity
    /// is taken (unless handover is on, which hangs up the old holder instead).
    ///
    /// A refused peer that came from an accept is hung up; one that came from our own
    /// connect is kept, unnamed, and tried again once the name is free: hanging it up
    /// would make our connect come back with the same name at once, again and again.
    /// While it waits, it cannot be sent to, and what it sends is dropped (libzmq keeps
    /// such a connection unnamed too).
    fn admit(&mut self, core: &mut SocketCore) {
        for id in core.take_attached() {
            self.admit_one(core, id);
        }
        for id in core.take_departed() {
            self.forget(id);
        }
        if !self.refused.is_empty() {
            let waiting = std::mem::take(&mut self.refused);
            for id in waiting {
                if core.peer(id).is_some() {
                    self.admit_one(core, id);
                }
            }
        }
        // Forget departed peers now and then, so ids of peers long gone do not pile up.
        if self.ids.len() > 2 * core.peers.len() + 16 {
            self.ids.retain(|pid, _| core.peer(*pid).is_some());
            let ids = &self.ids;
            self.by_id.retain(|_, pid| ids.contains_key(pid));
        }
    }

    /// Names one peer, refuses it ([`RouterState::admit`]), or hands its name over.
    fn admit_one(&mut self, core: &mut SocketCore, id: PeerId) {
        let Some(peer) = core.peer(id) else {
            return;
        };
        let announced = peer.meta.identity();
        let ours = peer.endpoint.is_some();
        let named = peer.routing_id.as_ref().map(|n| Frame::from(n.to_vec()));
        // A name our own connect gave (`ZMQ_CONNECT_ROUTING_ID`) wins over what the
        // peer announced, unless a live peer holds it and handover is off: then the
        // newcomer is named as if unnamed (libzmq asserts), since hanging it up would
        // only make our connect come back with the same name at once.
        let named = named.filter(|n| {
            let held = |h: &PeerId| core.peer(*h).is_some_and(|p| !p.tx.is_closed());
            self.handover || self.by_id.get(n).is_none_or(|h| !held(h))
        });
        let routing_id = if let Some(named) = named {
            named
        } else if announced.first().is_some_and(|&b| b != 0) {
            // An allocation of its own, not a slab copy: the id lives as long as the
            // peer, and must not keep a whole slab alive.
            Frame::from(announced.to_vec())
        } else {
            self.generate()
        };
        if let Some(&holder) = self.by_id.get(&routing_id) {
            let holder_alive = core.peer(holder).is_some_and(|p| !p.tx.is_closed());
            if holder_alive && !self.handover {
                if ours {
                    self.refused.push(id);
                } else {
                    core.hang_up(id);
                }
                return;
            }
            core.hang_up(holder);
            self.ids.remove(&holder);
        }
        if self.notify_connect {
            self.notices
                .push_back(Message::from(vec![routing_id.clone(), Frame::new()]));
        }
        self.by_id.insert(routing_id.clone(), id);
        self.ids.insert(id, routing_id);
    }

    fn generate(&mut self) -> Frame {
        let n = self.next_generated;
        self.next_generated = n.wrapping_add(1);
        let [a, b, c, d] = n.to_be_bytes();
        Frame::copy_from_slice(&[0, a, b, c, d])
    }

    /// Forgets a peer that has gone (telling the application, with disconnect
    /// notifications on). Does nothing for a peer already forgotten or never admitted.
    fn forget(&mut self, peer: PeerId) {
        if let Some(rid) = self.ids.remove(&peer) {
            if self.by_id.get(&rid) == Some(&peer) {
                self.by_id.remove(&rid);
            }
            if self.notify_disconnect {
                self.notices
                    .push_back(Message::from(vec![rid, Frame::new()]));
            }
        }
    }
}

/// Receives the next message from any peer, with the peer's routing id put in front.
pub(crate) fn router_recv(
    core: &mut SocketCore,
    st: &mut RouterState,
    wait: Wait,
) -> Result<Message> {
    let mut discards = Discards::default();
    loop {
        st.admit(core);
        if let Some(notice) = st.notices.pop_front() {
            return Ok(notice);
        }
        // Looks without blocking and waits here, so that a peer arriving or leaving while
        // we wait (a notification to give) ends the wait too.
        let (peer, mut msg) = match core.recv_fair(Wait::Never) {
            Ok(got) => got,
            Err(Error::WouldBlock) => {
                // Looking may have let go of a peer whose connection is gone.
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
            // Attached while we waited: name it now (or refuse it, dropping this).
            st.admit(core);
        }
        if let Some(rid) = st.ids.get(&peer) {
            msg.push_front(rid.clone());
            return Ok(msg);
        }
        // From a peer refused meanwhile: dropped, within the caller's deadline.
        discards.one_more(wait)?;
    }
}

/// Sends the message's body to the peer its first frame names.
pub(crate) fn router_send(
    core: &mut SocketCore,
    st: &mut RouterState,
    msg: Message,
    wait: Wait,
) -> Result<(), SendError> {
    let mut msg = refuse_empty(msg)?;
    st.admit(core);
    if msg.len() < 2 {
        // An id with no body is ignored, as libzmq ignores a first frame sent without MORE.
        return Ok(());
    }
    let Some(rid) = msg.pop_front() else {
        return Ok(());
    };
    let unroutable = |st: &mut RouterState, msg: Message, rid: Frame| {
        if st.mandatory {
            let mut msg = msg;
            msg.push_front(rid);
            Err(SendError::new(Error::HostUnreachable, msg))
        } else {
            st.dropped += 1;
            Ok(())
        }
    };
    let Some(&peer) = st.by_id.get(&rid) else {
        return unroutable(st, msg, rid);
    };
    let wait = if st.mandatory { wait } else { Wait::Never };
    match core.send_to(peer, msg, wait) {
        Ok(()) => Ok(()),
        Err(e) => {
            let (error, msg) = e.into_parts();
            match error {
                Error::Closed => {
                    st.forget(peer);
                    unroutable(st, msg, rid)
                }
                error if st.mandatory => {
                    let mut msg = msg;
                    msg.push_front(rid);
                    Err(SendError::new(error, msg))
                }
                _ => {
                    st.dropped += 1;
                    Ok(())
                }
            }
        }
    }
}

/// The routing end of request-reply: names each peer by a routing id, puts that id in
/// front of every message it receives, and sends each message to the peer its first frame
/// names.
///
/// A peer's routing id is the identity it announced ([`Dealer::set_identity`] and the
/// like), or, when it announced none, five bytes made up here: `0x00` and a big-endian
/// counter, as libzmq makes them. A second connection announcing an identity already in
/// use is hung up (libzmq ignores it the same way), unless
/// [`Router::set_router_handover`] is on.
///
/// **A ROUTER never blocks by default**: a message for an unknown peer, or for a peer
/// whose queue is full, is dropped and counted in [`Router::dropped`]. With
/// [`Router::set_router_mandatory`] the first fails with [`Error::HostUnreachable`] and
/// the second waits (or fails with would-block / timed-out). A message of one frame (an
/// id with no body) is ignored.
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut router = ctx.router()?;
/// router.bind("inproc://router-doc")?;
/// let mut req = ctx.req()?;
/// req.connect("inproc://router-doc")?;
///
/// let pending = req.send("hello")?;
/// let msg = router.recv()?;         // [routing id]["" ]["hello"]
/// assert_eq!(msg.len(), 3);
/// assert!(msg[1].is_empty());
/// router.send([msg[0].clone(), msg[1].clone(), "world".into()])?;
/// assert_eq!(pending.recv()?, "world");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Router {
    core: SocketCore,
    state: RouterState,
}

socket_common!(Router);
crate::aio::async_send!(Router, ());
crate::aio::async_recv!(Router, router);

impl Router {
    /// A new ROUTER socket in `ctx`, with no endpoints yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Router> {
        let mut core = SocketCore::new(ctx, SocketType::Router);
        core.track_attached();
        core.track_departed();
        Ok(Router {
            core,
            state: RouterState::new(),
        })
    }

    /// Sends the rest of the message to the peer whose routing id is its first frame.
    ///
    /// Without mandatory routing this never blocks: an unknown id or a full peer drops the
    /// message (counted by [`Router::dropped`]). With it, a full peer is waited for up to
    /// the send timeout.
    ///
    /// # Errors
    ///
    /// With [`Router::set_router_mandatory`] on: [`Error::HostUnreachable`] for an unknown
    /// id, [`Error::TimedOut`] when the peer stays full. Always: [`Error::EmptyMessage`]
    /// for a message with no frames at all (one frame, an id with no body, is ignored, as
    /// libzmq does). The message, id included, comes back inside the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        router_send(&mut self.core, &mut self.state, msg.into(), wait)
    }

    /// Sends without blocking.
    ///
    /// # Errors
    ///
    /// As [`Router::send`], with [`Error::WouldBlock`] in place of a wait.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        router_send(&mut self.core, &mut self.state, msg.into(), Wait::Never)
    }

    /// Sends, waiting at most `timeout` (only mandatory routing ever waits).
    ///
    /// # Errors
    ///
    /// As [`Router::send`].
    pub fn send_timeout(
        &mut self,
        msg: impl Into<Message>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        let wait = Wait::from_timeout(Some(timeout));
        router_send(&mut self.core, &mut self.state, msg.into(), wait)
    }

    /// Receives the next message from any peer (fair-queued), with the peer's routing id
    /// as first frame, waiting up to the receive timeout.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        router_recv(&mut self.core, &mut self.state, wait)
    }

    /// Receives without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&mut self) -> Result<Message> {
        router_recv(&mut self.core, &mut self.state, Wait::Never)
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message> {
        router_recv(
            &mut self.core,
            &mut self.state,
            Wait::from_timeout(Some(timeout)),
        )
    }

    /// Makes unroutable messages an error instead of a silent drop (libzmq's
    /// `ZMQ_ROUTER_MANDATORY`): an unknown id fails with [`Error::HostUnreachable`], and a
    /// full peer is waited for as the send's wait allows.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, Error};
    ///
    /// let ctx = Context::new();
    /// let mut router = ctx.router()?;
    /// router.send(["nobody", "hi"])?; // dropped silently
    /// assert_eq!(router.dropped(), 1);
    /// router.set_router_mandatory(true);
    /// let err = router.send(["nobody", "hi"]).unwrap_err();
    /// assert!(matches!(err.error(), Error::HostUnreachable));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_router_mandatory(&mut self, mandatory: bool) {
        self.state.mandatory = mandatory;
    }

    /// Lets a new connection announcing an identity already in use take it over, hanging
    /// up the old one (libzmq's `ZMQ_ROUTER_HANDOVER`). Off by default: the newcomer is
    /// hung up instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut router = ctx.router()?;
    /// router.set_router_handover(true);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_router_handover(&mut self, handover: bool) {
        self.state.handover = handover;
    }

    /// Names the peer of the next [`Router::connect`] (libzmq's `ZMQ_CONNECT_ROUTING_ID`):
    /// messages from it arrive with `id` in front, and sending `[id, ...]` reaches it,
    /// whatever identity it announces. It names that one connect only (and its
    /// reconnects) and is cleared by it; `None` clears it without a connect. Useful for a
    /// ROUTER connecting to a ROUTER, which announces no identity to name it by.
    ///
    /// Where ferromq differs: libzmq binds the name to whichever connection of the socket
    /// completes next, ferromq to the connect it was set for (tcp and ipc reconnects keep
    /// it; an inproc connection joined afresh after a hang-up does not); and the name can
    /// be sent to once that connection's handshake is done (libzmq queues before it), so
    /// send with [`Router::set_router_mandatory`] and retry on
    /// [`Error::HostUnreachable`], or wait for [`Router::peer_count`] or a
    /// [`Router::set_router_notify`] notice. A name a connected peer already holds is
    /// taken over with [`Router::set_router_handover`]; without it the newcomer is named
    /// as if no name had been given (where libzmq asserts).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ctx = ferromq::Context::new();
    /// let mut server = ctx.router()?;
    /// server.bind("inproc://connect-rid-doc")?;
    /// let mut client = ctx.router()?;
    /// client.set_connect_routing_id(Some("server".into()))?;
    /// client.connect("inproc://connect-rid-doc")?;
    /// client.set_router_mandatory(true);
    /// client.set_send_timeout(Some(Duration::from_secs(5)));
    /// client.send(["server", "hello"])?;
    /// let msg = server.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(&msg[1][..], b"hello");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] unless `id` is 1 to 255 bytes and does not start with a
    /// zero byte.
    pub fn set_connect_routing_id(&mut self, id: Option<bytes::Bytes>) -> Result<()> {
        self.core.set_connect_routing_id(id)
    }

    /// The routing id the next connect will name its peer with; see
    /// [`Router::set_connect_routing_id`].
    pub fn connect_routing_id(&self) -> Option<&bytes::Bytes> {
        self.core.options.connect_routing_id.as_ref()
    }

    /// Sends `hello` to every peer first, as it attaches; see
    /// [`Dealer::set_hello_msg`] (libzmq's `ZMQ_HELLO_MSG`).
    pub fn set_hello_msg(&mut self, hello: Option<bytes::Bytes>) {
        self.core.options.hello_msg = hello.filter(|h| !h.is_empty());
    }

    /// The hello message in force; see [`Router::set_hello_msg`].
    pub fn hello_msg(&self) -> Option<&bytes::Bytes> {
        self.core.options.hello_msg.as_ref()
    }

    /// Makes a receive return `[routing id, disconnect]` when the tcp or ipc connection
    /// of a peer this socket accepted ends after its handshake (libzmq 4.3.5's draft
    /// `ZMQ_DISCONNECT_MSG`; default `None`): it comes after whatever that peer sent.
    /// Not for connections this socket made (see [`Dealer::set_hiccup_msg`] for those),
    /// nor when this socket itself lets the peer go, nor for inproc (libzmq does it for
    /// inproc too). With heartbeats on, a silent peer's drop is reported this way too. An
    /// empty message is `None`, as in libzmq. Applies to later binds.
    pub fn set_disconnect_msg(&mut self, disconnect: Option<bytes::Bytes>) {
        self.core.options.disconnect_msg = disconnect.filter(|d| !d.is_empty());
    }

    /// The disconnect message in force; see [`Router::set_disconnect_msg`].
    pub fn disconnect_msg(&self) -> Option<&bytes::Bytes> {
        self.core.options.disconnect_msg.as_ref()
    }

    /// Makes the ROUTER tell its application when a peer connects and/or disconnects
    /// (libzmq's `ZMQ_ROUTER_NOTIFY` with `ZMQ_NOTIFY_CONNECT` / `ZMQ_NOTIFY_DISCONNECT`):
    /// a receive then also returns `[routing id, ""]`, a message of the peer's routing id
    /// and one empty frame, once when the peer is admitted and once when its connection is
    /// seen to be gone. Off by default. A broker uses it to learn of workers without a
    /// protocol of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ctx = ferromq::Context::new();
    /// let mut router = ctx.router()?;
    /// router.set_router_notify(true, true);
    /// router.bind("inproc://router-notify")?;
    /// let mut dealer = ctx.dealer()?;
    /// dealer.set_identity("w1")?;
    /// dealer.connect("inproc://router-notify")?;
    /// let hello = router.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!((&hello[0][..], hello[1].is_empty()), (&b"w1"[..], true));
    /// drop(dealer);
    /// let bye = router.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(&bye[0][..], b"w1");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_router_notify(&mut self, connect: bool, disconnect: bool) {
        self.state.notify_connect = connect;
        self.state.notify_disconnect = disconnect;
    }

    /// Sends an empty message to every peer as it connects (libzmq's
    /// `ZMQ_PROBE_ROUTER`), so a ROUTER on the other end learns this socket's routing id
    /// at once. Applies to peers that attach after the call.
    pub fn set_probe_router(&mut self, probe: bool) {
        self.core.options.probe_router = probe;
    }

    /// How many messages were dropped since this socket was made because their peer was
    /// unknown or full (never counts with mandatory routing on).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut router = ctx.router()?;
    /// assert_eq!(router.dropped(), 0);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn dropped(&self) -> u64 {
        self.state.dropped()
    }

    /// Whether unroutable messages are an error (libzmq's `ZMQ_ROUTER_MANDATORY`, which
    /// libzmq cannot read back). See [`Router::set_router_mandatory`].
    pub fn router_mandatory(&self) -> bool {
        self.state.mandatory
    }

    /// Whether a newcomer takes over an identity in use (libzmq's
    /// `ZMQ_ROUTER_HANDOVER`, which libzmq cannot read back). See
    /// [`Router::set_router_handover`].
    pub fn router_handover(&self) -> bool {
        self.state.handover
    }

    /// `(connect, disconnect)`: which peer arrivals and departures are notified
    /// (libzmq's `ZMQ_ROUTER_NOTIFY`). See [`Router::set_router_notify`].
    pub fn router_notify(&self) -> (bool, bool) {
        (self.state.notify_connect, self.state.notify_disconnect)
    }

    /// Whether each new peer gets an empty message first (libzmq's `ZMQ_PROBE_ROUTER`,
    /// which libzmq cannot read back). See [`Router::set_probe_router`].
    pub fn probe_router(&self) -> bool {
        self.core.options.probe_router
    }
}

// ---------------------------------------------------------------------------------------
// PAIR

/// Which peer a PAIR talks to.
#[derive(Debug, Default)]
pub(crate) struct PairState {
    peer: Option<PeerId>,
}

impl PairState {
    pub(crate) fn new() -> PairState {
        PairState::default()
    }

    /// Accepts a newly attached peer when there is none (or the one there is has gone),
    /// and hangs up the others.
    fn admit(&mut self, core: &mut SocketCore) {
        for id in core.take_attached() {
            let current_alive = self
                .peer
                .and_then(|p| core.peer(p))
                .is_some_and(|p| !p.tx.is_closed());
            if current_alive {
                core.hang_up(id);
            } else {
                if let Some(old) = self.peer.take() {
                    core.hang_up(old);
                }
                self.peer = Some(id);
            }
        }
    }
}

/// Sends to the one peer, waiting (as `wait` allows) while there is none or it is full.
/// A message with no frames is refused at once ([`Error::EmptyMessage`]).
pub(crate) fn pair_send(
    core: &mut SocketCore,
    st: &mut PairState,
    msg: Message,
    wait: Wait,
) -> Result<(), SendError> {
    let mut msg = refuse_empty(msg)?;
    loop {
        st.admit(core);
        if let Some(peer) = st.peer {
            match core.send_to(peer, msg, wait) {
                Err(e) if matches!(e.error(), Error::Closed) => {
                    msg = e.into_message();
                    st.peer = None;
                    continue;
                }
                other => return other,
            }
        }
        if let Err(e) = core.wait(wait) {
            return Err(SendError::new(e, msg));
        }
    }
}

/// Receives from the one peer, waiting (as `wait` allows) while nothing is queued.
pub(crate) fn pair_recv(core: &mut SocketCore, st: &mut PairState, wait: Wait) -> Result<Message> {
    loop {
        st.admit(core);
        if let Some(id) = st.peer {
            match core.peer(id).map(|p| (p.rx.try_read(), p.meta.clone())) {
                Some((Ok(mut msg), meta)) => {
                    msg.set_metadata(Some(meta));
                    return Ok(msg);
                }
                Some((Err(ReadError::Empty), _)) => {}
                Some((Err(ReadError::Closed), _)) | None => {
                    core.hang_up(id);
                    st.peer = None;
                    continue;
                }
            }
        }
        core.wait(wait)?;
    }
}

/// One end of an exclusive pair: talks to exactly one PAIR peer, both ways.
///
/// While a peer is connected, further connection attempts are hung up. A send blocks
/// while there is no peer or its queue is full, so nothing is dropped. Meant above all
/// for inproc, between two threads.
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut a = ctx.pair()?;
/// a.bind("inproc://pair-doc")?;
/// let mut b = ctx.pair()?;
/// b.connect("inproc://pair-doc")?;
/// a.send("ping")?;
/// assert_eq!(b.recv()?, "ping");
/// b.send("pong")?;
/// assert_eq!(a.recv()?, "pong");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Pair {
    core: SocketCore,
    state: PairState,
}

socket_common!(Pair);
crate::aio::async_send!(Pair, ());
crate::aio::async_recv!(Pair, pair);

impl Pair {
    /// A new PAIR socket in `ctx`, with no endpoints yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Pair> {
        let mut core = SocketCore::new(ctx, SocketType::Pair);
        core.track_attached();
        Ok(Pair {
            core,
            state: PairState::new(),
        })
    }

    /// Sends to the peer, waiting up to the send timeout while there is none or it is
    /// full.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`]; [`Error::EmptyMessage`] at once for a message with no frames.
    /// The message comes back inside the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        pair_send(&mut self.core, &mut self.state, msg.into(), wait)
    }

    /// Sends without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`], with the message handed back.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        pair_send(&mut self.core, &mut self.state, msg.into(), Wait::Never)
    }

    /// Sends, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`], with the message handed back.
    pub fn send_timeout(
        &mut self,
        msg: impl Into<Message>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        let wait = Wait::from_timeout(Some(timeout));
        pair_send(&mut self.core, &mut self.state, msg.into(), wait)
    }

    /// Receives from the peer, waiting up to the receive timeout.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        pair_recv(&mut self.core, &mut self.state, wait)
    }

    /// Receives without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&mut self) -> Result<Message> {
        pair_recv(&mut self.core, &mut self.state, Wait::Never)
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message> {
        pair_recv(
            &mut self.core,
            &mut self.state,
            Wait::from_timeout(Some(timeout)),
        )
    }
}

impl Context {
    /// A new DEALER socket; see [`Dealer`].
    ///
    /// # Errors
    ///
    /// As [`Dealer::new`].
    pub fn dealer(&self) -> Result<Dealer> {
        Dealer::new(self)
    }

    /// A new ROUTER socket; see [`Router`].
    ///
    /// # Errors
    ///
    /// As [`Router::new`].
    pub fn router(&self) -> Result<Router> {
        Router::new(self)
    }

    /// A new PAIR socket; see [`Pair`].
    ///
    /// # Errors
    ///
    /// As [`Pair::new`].
    pub fn pair(&self) -> Result<Pair> {
        Pair::new(self)
    }
}

impl crate::poll::sealed::Sealed for Dealer {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        Interest::from_flags(
            interest.is_readable() && self.core.poll_readable(),
            interest.is_writable() && self.core.poll_writable(),
        )
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        dealer_recv(&mut self.core, Wait::Never)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        dealer_send(&mut self.core, msg, Wait::Never)
    }
}

impl RouterState {
    /// Poll readiness: readable when any peer has a message; always writable unless
    /// mandatory routing is on (a ROUTER drops instead of blocking), as libzmq's.
    pub(crate) fn poll_ready(&mut self, core: &mut SocketCore, interest: Interest) -> Interest {
        if self.notify_disconnect {
            // Let go of peers whose connection is seen to be gone, so their notices are
            // there to be read (a receive would find them the same way).
            core.peer_count();
        }
        self.admit(core);
        Interest::from_flags(
            interest.is_readable() && (!self.notices.is_empty() || core.poll_readable()),
            interest.is_writable() && (!self.mandatory || core.poll_writable()),
        )
    }
}

impl crate::poll::sealed::Sealed for Router {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        self.state.poll_ready(&mut self.core, interest)
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        router_recv(&mut self.core, &mut self.state, Wait::Never)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        router_send(&mut self.core, &mut self.state, msg, Wait::Never)
    }
}

impl PairState {
    /// Poll readiness: about the one peer, once admitted.
    pub(crate) fn poll_ready(&mut self, core: &mut SocketCore, interest: Interest) -> Interest {
        self.admit(core);
        let Some(peer) = self.peer else {
            return Interest::NONE;
        };
        Interest::from_flags(
            interest.is_readable() && core.poll_readable_from(peer),
            interest.is_writable() && core.poll_writable_to(peer),
        )
    }
}

impl crate::poll::sealed::Sealed for Pair {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        self.state.poll_ready(&mut self.core, interest)
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        pair_recv(&mut self.core, &mut self.state, Wait::Never)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        pair_send(&mut self.core, &mut self.state, msg, Wait::Never)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_five_bytes_zero_first_and_count_up() {
        let mut st = RouterState::new();
        let a = st.generate();
        let b = st.generate();
        assert_eq!(a.len(), 5);
        assert_eq!(a[0], 0);
        let n = |id: &Frame| u32::from_be_bytes([id[1], id[2], id[3], id[4]]);
        assert_eq!(n(&b), n(&a).wrapping_add(1));
    }
}
