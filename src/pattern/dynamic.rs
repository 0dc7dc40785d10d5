//! A socket whose type is chosen at run time.

use std::time::Duration;

use crate::context::Context;
use crate::error::{Error, Result, SendError};
use crate::message::Message;
use crate::pattern::pubsub::{PubState, SubState};
use crate::pattern::reqrep::{self, RepMachine, ReqMachine};
use crate::pattern::routing::{self, PairState, RouterState};
use crate::pattern::stream::{self, StreamState};
use crate::pattern::{refuse_empty, socket_common};
use crate::poll::sealed::CoreRef;
use crate::poll::Interest;
use crate::socket::{SocketCore, Wait};
use crate::socket_type::SocketType;

/// The pattern state a dynamic socket carries: the same machines the typed sockets use.
#[derive(Debug)]
enum Machine {
    Push,
    Pull,
    Req(ReqMachine),
    Rep(RepMachine),
    Dealer,
    Router(RouterState),
    Pair(PairState),
    Pub(PubState),
    Sub(SubState),
    XPub(PubState),
    XSub(SubState),
    Stream(StreamState),
}

/// A socket of any type, chosen at run time: for generic code, proxies, tools, and
/// sockets kept in structs or collections.
///
/// It follows the same patterns as the typed sockets ([`Push`](crate::Push),
/// [`Req`](crate::Req), ...), through the same code, but checks the rules when called
/// instead of when compiling: a REQ asked to send twice, or a PULL asked to send, returns
/// [`Error::WrongState`]. Prefer the typed sockets where the type is known.
///
/// # Examples
///
/// ```
/// use ferromq::{Context, Error, Socket, SocketType};
///
/// let ctx = Context::new();
/// let mut rep = Socket::new(&ctx, SocketType::Rep)?;
/// rep.bind("inproc://dyn")?;
/// let mut req = ctx.socket(SocketType::Req)?;
/// req.connect("inproc://dyn")?;
///
/// req.send("ping")?;
/// assert!(matches!(req.send("again").unwrap_err().error(), Error::WrongState(_)));
/// assert_eq!(rep.recv()?, "ping");
/// rep.send("pong")?;
/// assert_eq!(req.recv()?, "pong");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Socket {
    core: SocketCore,
    machine: Machine,
}

socket_common!(Socket);
crate::aio::async_stream!(Socket);

impl Socket {
    /// A new socket of type `kind` in `ctx`.
    ///
    /// # Errors
    ///
    /// None today: every [`SocketType`] is offered. The `Result` leaves room for types
    /// ferromq may not offer.
    pub fn new(ctx: &Context, kind: SocketType) -> Result<Socket> {
        let machine = match kind {
            SocketType::Push => Machine::Push,
            SocketType::Pull => Machine::Pull,
            SocketType::Req => Machine::Req(ReqMachine::new()),
            SocketType::Rep => Machine::Rep(RepMachine::new()),
            SocketType::Dealer => Machine::Dealer,
            SocketType::Router => Machine::Router(RouterState::new()),
            SocketType::Pair => Machine::Pair(PairState::new()),
            SocketType::Pub => Machine::Pub(PubState::default()),
            SocketType::Sub => Machine::Sub(SubState::default()),
            SocketType::XPub => Machine::XPub(PubState::xpub()),
            SocketType::XSub => Machine::XSub(SubState::xsub()),
            SocketType::Stream => Machine::Stream(StreamState::new()),
        };
        let mut core = SocketCore::new(ctx, kind);
        if matches!(
            machine,
            Machine::Router(_)
                | Machine::Pair(_)
                | Machine::Sub(_)
                | Machine::XSub(_)
                | Machine::XPub(_)
                | Machine::Stream(_)
        ) {
            core.track_attached();
        }
        if matches!(machine, Machine::Router(_) | Machine::Stream(_)) {
            core.track_departed();
        }
        Ok(Socket { core, machine })
    }

    /// Sends a message as the socket's pattern directs, waiting up to the send timeout.
    ///
    /// # Errors
    ///
    /// [`Error::WrongState`] when the pattern does not allow a send now (or ever, for
    /// PULL); [`Error::EmptyMessage`] for a message with no frames, whatever the type (a
    /// REP keeps its request in hand to answer properly); [`Error::TimedOut`] when the
    /// wait expires. The message comes back inside the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        self.send_with(msg.into(), wait)
    }

    /// Sends without blocking.
    ///
    /// # Errors
    ///
    /// As [`Socket::send`], with [`Error::WouldBlock`] in place of a wait.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.send_with(msg.into(), Wait::Never)
    }

    /// Sends, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Socket::send`].
    pub fn send_timeout(
        &mut self,
        msg: impl Into<Message>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        self.send_with(msg.into(), Wait::from_timeout(Some(timeout)))
    }

    /// Receives a message as the socket's pattern directs, waiting up to the receive
    /// timeout. For REQ this is the reply to the request sent last; for REP, the body of
    /// the next request.
    ///
    /// # Errors
    ///
    /// [`Error::WrongState`] when the pattern does not allow a receive now (or ever, for
    /// PUSH); [`Error::TimedOut`] when the wait expires (a REQ then gives its request up).
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        self.recv_with(wait)
    }

    /// Receives without blocking.
    ///
    /// # Errors
    ///
    /// As [`Socket::recv`], with [`Error::WouldBlock`] in place of a wait. A REQ keeps its
    /// request outstanding after a would-block.
    pub fn try_recv(&mut self) -> Result<Message> {
        self.recv_with(Wait::Never)
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Socket::recv`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message> {
        self.recv_with(Wait::from_timeout(Some(timeout)))
    }

    /// Receives without blocking the thread: the async form of [`Socket::recv`],
    /// through the same step as [`Socket::try_recv`], woken by the socket's doorbell. The
    /// receive timeout does not apply; wrap the future in the runtime's timeout instead.
    ///
    /// Cancellation: dropping the future before it completes loses no message. For a
    /// REQ it gives the outstanding request up, as a blocking receive that times out
    /// does (and as dropping a typed [`Pending`](crate::Pending)'s
    /// [`recv_async`](crate::Pending::recv_async) does), so a late reply is never taken
    /// for the next request's.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, SocketType};
    /// # futures::executor::block_on(async {
    /// let ctx = Context::new();
    /// let mut pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://dyn-async-doc")?;
    /// let mut push = ctx.socket(SocketType::Push)?;
    /// push.connect("inproc://dyn-async-doc")?;
    /// push.send_async("job").await?;
    /// assert_eq!(pull.recv_async().await?, "job");
    /// # Ok::<(), ferromq::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Socket::try_recv`], except that it waits instead of returning
    /// [`Error::WouldBlock`]; [`Error::IoThreadStopped`] if the context's I/O thread died.
    pub fn recv_async(&mut self) -> impl std::future::Future<Output = Result<Message>> + Send + '_ {
        let mut guard = AbandonOnDrop {
            socket: self,
            armed: true,
        };
        std::future::poll_fn(move |cx| {
            if !guard.armed {
                return std::task::Poll::Ready(Err(crate::aio::polled_after_completion()));
            }
            let got = std::task::ready!(crate::aio::poll_step(
                &mut *guard.socket,
                cx,
                Interest::READABLE,
                |s| crate::aio::blocked(s.recv_with(Wait::Never)),
            ));
            guard.armed = false;
            if got.is_err() {
                // The I/O thread died: a blocking receive gives the request up then too.
                guard.socket.abandon_request_if_req();
            }
            std::task::Poll::Ready(got.and_then(|r| r))
        })
    }

    /// Sends without blocking the thread: the async form of [`Socket::send`], through
    /// the same step as [`Socket::try_send`], waiting for room on the socket's doorbell.
    /// The send timeout does not apply; wrap the future in the runtime's timeout instead.
    ///
    /// Cancellation safe: the message is queued whole when the future completes, and not
    /// at all if it is dropped before. A REP keeps its request in hand while the reply
    /// waits for room, and gives it up if the future is dropped.
    ///
    /// # Errors
    ///
    /// As [`Socket::try_send`], except that it waits instead of returning
    /// [`Error::WouldBlock`]; [`Error::IoThreadStopped`] if the context's I/O thread died.
    /// The message comes back inside the [`SendError`].
    pub fn send_async(
        &mut self,
        msg: impl Into<Message>,
    ) -> impl std::future::Future<Output = Result<(), SendError>> + Send + '_ {
        let mut slot = Some(msg.into());
        std::future::poll_fn(move |cx| {
            crate::aio::poll_send(self, cx, &mut slot, |s, m| s.send_step(m))
        })
    }

    /// One non-blocking send, as [`Socket::try_send`], except that a REP's reply that
    /// finds no room keeps the request in hand, so the async send can try again.
    pub(crate) fn send_step(&mut self, msg: Message) -> Result<(), SendError> {
        match &mut self.machine {
            Machine::Rep(m) => reqrep::rep_try_reply(&mut self.core, m, msg),
            _ => self.send_with(msg, Wait::Never),
        }
    }

    /// Gives a REQ's outstanding request up (only a REQ's: a REP's request in hand is
    /// not the receive's to give up).
    fn abandon_request_if_req(&mut self) {
        if let Machine::Req(m) = &mut self.machine {
            reqrep::req_abandon(&mut self.core, m);
        }
    }

    /// Gives up the request in hand: for REQ the outstanding request, as a typed
    /// [`Pending`](crate::Pending) does when dropped; for REP the request received and not
    /// yet answered, as a typed [`Request`](crate::Request) does when dropped. Does nothing
    /// for other types or with no request in hand.
    pub fn abandon_request(&mut self) {
        match &mut self.machine {
            Machine::Req(m) => reqrep::req_abandon(&mut self.core, m),
            Machine::Rep(m) => m.abandon(),
            _ => {}
        }
    }

    /// For REQ: see [`Req::set_correlate`](crate::Req::set_correlate).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_correlate(&mut self, correlate: bool) -> Result<()> {
        match &mut self.machine {
            Machine::Req(m) => {
                m.correlate = correlate;
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "correlate applies to REQ sockets only".into(),
            )),
        }
    }

    /// For REQ: see [`Req::set_relaxed`](crate::Req::set_relaxed). Here a send while a
    /// request is outstanding is then allowed: it gives that request up, as libzmq's
    /// relaxed REQ does.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut rep = ctx.socket(SocketType::Rep)?;
    /// rep.bind("inproc://relaxed-doc")?;
    /// let mut req = ctx.socket(SocketType::Req)?;
    /// req.set_relaxed(true)?;
    /// req.set_correlate(true)?;
    /// req.connect("inproc://relaxed-doc")?;
    /// req.send("first")?;
    /// req.send("second")?; // gives "first" up
    /// assert_eq!(rep.recv()?, "first");
    /// rep.send("late")?; // the reply to "first": told apart by its id, dropped
    /// assert_eq!(rep.recv()?, "second");
    /// rep.send("answer")?;
    /// assert_eq!(req.recv()?, "answer");
    /// assert!(ctx.socket(SocketType::Dealer)?.set_relaxed(true).is_err());
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_relaxed(&mut self, relaxed: bool) -> Result<()> {
        match &mut self.machine {
            Machine::Req(m) => {
                m.relaxed = relaxed;
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "relaxed applies to REQ sockets only".into(),
            )),
        }
    }

    /// For REQ: whether relaxed and correlate are on, as `(relaxed, correlate)`; `None`
    /// for other types.
    pub fn req_options(&self) -> Option<(bool, bool)> {
        match &self.machine {
            Machine::Req(m) => Some((m.relaxed, m.correlate)),
            _ => None,
        }
    }

    /// For ROUTER and STREAM: see
    /// [`Router::set_connect_routing_id`](crate::Router::set_connect_routing_id) and
    /// [`StreamSocket::set_connect_routing_id`](crate::StreamSocket::set_connect_routing_id).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types (libzmq takes it on ROUTER and
    /// STREAM only), or for an id that is not 1 to 255 bytes or starts with a zero byte.
    pub fn set_connect_routing_id(&mut self, id: Option<bytes::Bytes>) -> Result<()> {
        if !matches!(self.machine, Machine::Router(_) | Machine::Stream(_)) {
            return Err(Error::InvalidOption(
                "CONNECT_ROUTING_ID applies to ROUTER and STREAM sockets only".into(),
            ));
        }
        self.core.set_connect_routing_id(id)
    }

    /// For ROUTER and STREAM: the routing id the next connect names its peer with (`None`
    /// for the other types, which refuse the setting).
    pub fn connect_routing_id(&self) -> Option<&bytes::Bytes> {
        self.core.options.connect_routing_id.as_ref()
    }

    /// For DEALER and ROUTER: see [`Dealer::set_hello_msg`](crate::Dealer::set_hello_msg).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types. libzmq takes it on every type and
    /// acts on it on DEALER, ROUTER and REQ (which inherits DEALER's setting); a REQ's hello
    /// is not a request, and a REP drops it as malformed, so ferromq's REQ refuses it.
    pub fn set_hello_msg(&mut self, hello: Option<bytes::Bytes>) -> Result<()> {
        match self.machine {
            Machine::Dealer | Machine::Router(_) => {
                self.core.options.hello_msg = hello.filter(|h| !h.is_empty());
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "hello_msg applies to DEALER and ROUTER sockets only".into(),
            )),
        }
    }

    /// For ROUTER: see
    /// [`Router::set_disconnect_msg`](crate::Router::set_disconnect_msg).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types, where it would do nothing
    /// (libzmq takes it on every type, and acts on it on ROUTER only).
    pub fn set_disconnect_msg(&mut self, disconnect: Option<bytes::Bytes>) -> Result<()> {
        self.router_state()?;
        self.core.options.disconnect_msg = disconnect.filter(|d| !d.is_empty());
        Ok(())
    }

    /// For DEALER: see [`Dealer::set_hiccup_msg`](crate::Dealer::set_hiccup_msg).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types. libzmq takes it on every type and
    /// acts on it on DEALER and REQ (which inherits DEALER's setting), whose application
    /// never sees it: a REQ drops it as a malformed reply. So ferromq's REQ refuses it.
    pub fn set_hiccup_msg(&mut self, hiccup: Option<bytes::Bytes>) -> Result<()> {
        match self.machine {
            Machine::Dealer => {
                self.core.options.hiccup_msg = hiccup.filter(|h| !h.is_empty());
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "hiccup_msg applies to DEALER sockets only".into(),
            )),
        }
    }

    /// The hello, disconnect and hiccup messages in force, in that order (for the types
    /// that take them; `None` otherwise).
    pub fn lifecycle_msgs(
        &self,
    ) -> (
        Option<&bytes::Bytes>,
        Option<&bytes::Bytes>,
        Option<&bytes::Bytes>,
    ) {
        let o = &self.core.options;
        (
            o.hello_msg.as_ref(),
            o.disconnect_msg.as_ref(),
            o.hiccup_msg.as_ref(),
        )
    }

    /// For ROUTER: see [`Router::set_router_mandatory`](crate::Router::set_router_mandatory).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut router = ctx.socket(SocketType::Router)?;
    /// router.set_router_mandatory(true)?;
    /// let err = router.send(["nobody", "hi"]).unwrap_err();
    /// assert!(matches!(err.error(), Error::HostUnreachable));
    /// assert!(ctx.socket(SocketType::Dealer)?.set_router_mandatory(true).is_err());
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_router_mandatory(&mut self, mandatory: bool) -> Result<()> {
        self.router_state()?.mandatory = mandatory;
        Ok(())
    }

    /// For ROUTER: see [`Router::set_router_handover`](crate::Router::set_router_handover).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_router_handover(&mut self, handover: bool) -> Result<()> {
        self.router_state()?.handover = handover;
        Ok(())
    }

    /// For ROUTER: see [`Router::set_router_notify`](crate::Router::set_router_notify).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_router_notify(&mut self, connect: bool, disconnect: bool) -> Result<()> {
        let st = self.router_state()?;
        st.notify_connect = connect;
        st.notify_disconnect = disconnect;
        Ok(())
    }

    /// For REQ, DEALER and ROUTER: see
    /// [`Dealer::set_probe_router`](crate::Dealer::set_probe_router).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types, as in libzmq.
    pub fn set_probe_router(&mut self, probe: bool) -> Result<()> {
        match self.machine {
            Machine::Req(_) | Machine::Dealer | Machine::Router(_) => {
                self.core.options.probe_router = probe;
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "probe_router applies to REQ, DEALER and ROUTER sockets only".into(),
            )),
        }
    }

    /// For ROUTER: see [`Router::dropped`](crate::Router::dropped); for PUB and XPUB: see
    /// [`Pub::dropped`](crate::Pub::dropped); 0 for other types.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut router = ctx.socket(SocketType::Router)?;
    /// router.send(["nobody", "hi"])?;
    /// assert_eq!(router.dropped(), 1);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn dropped(&self) -> u64 {
        match &self.machine {
            Machine::Router(st) => st.dropped(),
            Machine::Pub(st) | Machine::XPub(st) => st.dropped(),
            _ => 0,
        }
    }

    /// For SUB: see [`Sub::subscribe`](crate::Sub::subscribe); for XSUB: see
    /// [`XSub::subscribe`](crate::XSub::subscribe).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut publisher = ctx.socket(SocketType::Pub)?;
    /// publisher.bind("inproc://dyn-news")?;
    /// let mut subscriber = ctx.socket(SocketType::Sub)?;
    /// subscriber.connect("inproc://dyn-news")?;
    /// subscriber.subscribe("sport.")?;
    /// publisher.send(["sport.tennis", "6-4"])?;
    /// publisher.send(["politics", "..."])?;
    /// assert_eq!(&subscriber.recv()?[0][..], b"sport.tennis");
    /// assert!(matches!(publisher.subscribe("x"), Err(Error::InvalidOption(_))));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn subscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<()> {
        match &mut self.machine {
            Machine::Sub(st) => {
                st.subscribe(&mut self.core, topic.as_ref());
                Ok(())
            }
            Machine::XSub(st) => {
                st.forward(&mut self.core, Message::subscription(true, topic.as_ref()));
                Ok(())
            }
            Machine::XPub(st) if st.flags().3 => {
                st.apply_manual(&mut self.core, true, topic.as_ref());
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "subscribe applies to SUB and XSUB sockets, and XPUB in manual mode, only".into(),
            )),
        }
    }

    /// For SUB and XSUB: see [`Sub::unsubscribe`](crate::Sub::unsubscribe) and
    /// [`XSub::unsubscribe`](crate::XSub::unsubscribe); true when that was the last
    /// subscription to `topic`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn unsubscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<bool> {
        match &mut self.machine {
            Machine::Sub(st) | Machine::XSub(st) => {
                Ok(st.unsubscribe(&mut self.core, topic.as_ref()))
            }
            Machine::XPub(st) if st.flags().3 => {
                Ok(st.apply_manual(&mut self.core, false, topic.as_ref()))
            }
            _ => Err(Error::InvalidOption(
                "unsubscribe applies to SUB and XSUB sockets, and XPUB in manual mode, only".into(),
            )),
        }
    }

    /// For XPUB: see [`XPub::set_verbose`](crate::XPub::set_verbose).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut xpub = ctx.socket(SocketType::XPub)?;
    /// xpub.set_verbose(true)?;
    /// xpub.bind("inproc://dyn-verbose")?;
    /// let mut xsub = ctx.socket(SocketType::XSub)?;
    /// xsub.connect("inproc://dyn-verbose")?;
    /// xsub.send("\x01A")?;
    /// xsub.send("\x01A")?;
    /// assert_eq!(xpub.recv_timeout(Duration::from_secs(5))?, "\x01A");
    /// assert_eq!(xpub.recv_timeout(Duration::from_secs(5))?, "\x01A");
    /// let mut publisher = ctx.socket(SocketType::Pub)?;
    /// assert!(matches!(publisher.set_verbose(true), Err(Error::InvalidOption(_))));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_verbose(&mut self, verbose: bool) -> Result<()> {
        self.xpub_state()?.set_verbose(verbose);
        Ok(())
    }

    /// For XPUB: see [`XPub::set_verboser`](crate::XPub::set_verboser).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_verboser(&mut self, verboser: bool) -> Result<()> {
        self.xpub_state()?.set_verboser(verboser);
        Ok(())
    }

    /// For PUB, SUB, PUSH, PULL and DEALER: see
    /// [`Pull::set_conflate`](crate::Pull::set_conflate).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut pull = ctx.socket(SocketType::Pull)?;
    /// pull.set_conflate(true)?;
    /// assert!(pull.conflate());
    /// let mut router = ctx.socket(SocketType::Router)?;
    /// assert!(matches!(router.set_conflate(true), Err(Error::InvalidOption(_))));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types, where it would change nothing
    /// (libzmq accepts it there and ignores it).
    pub fn set_conflate(&mut self, conflate: bool) -> Result<()> {
        match self.machine {
            Machine::Pub(_) | Machine::Sub(_) | Machine::Push | Machine::Pull | Machine::Dealer => {
                self.core.set_conflate(conflate);
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "CONFLATE applies to PUB, SUB, PUSH, PULL and DEALER sockets only".into(),
            )),
        }
    }

    /// Whether `ZMQ_CONFLATE` is on (false for the types that do not take it).
    pub fn conflate(&self) -> bool {
        self.core.options.conflate
    }

    /// For PUB and XPUB: see [`XPub::set_nodrop`](crate::XPub::set_nodrop). A send then
    /// waits at a full subscriber, as the send timeout allows.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut publisher = ctx.socket(SocketType::Pub)?;
    /// publisher.set_xpub_nodrop(true)?;
    /// assert!(publisher.xpub_nodrop()?);
    /// let mut sub = ctx.socket(SocketType::Sub)?;
    /// assert!(matches!(sub.set_xpub_nodrop(true), Err(Error::InvalidOption(_))));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_xpub_nodrop(&mut self, nodrop: bool) -> Result<()> {
        self.publisher_state("XPUB_NODROP")?.set_nodrop(nodrop);
        Ok(())
    }

    /// For PUB and XPUB: whether sends wait at the high-water mark.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn xpub_nodrop(&mut self) -> Result<bool> {
        Ok(self.publisher_state("XPUB_NODROP")?.flags().1)
    }

    /// For XPUB: see [`XPub::set_manual`](crate::XPub::set_manual); the application then
    /// applies subscriptions with [`Socket::subscribe`] and [`Socket::unsubscribe`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types. libzmq's PUB takes it too, but a
    /// PUB cannot receive the subscriptions it would then have to apply: libzmq's holds
    /// them unread, without bound, and sends to nobody.
    pub fn set_xpub_manual(&mut self, manual: bool) -> Result<()> {
        self.xpub_state()?.set_manual(manual);
        Ok(())
    }

    /// For XPUB: see
    /// [`XPub::set_manual_last_value`](crate::XPub::set_manual_last_value).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types, PUB included, as
    /// [`Socket::set_xpub_manual`].
    pub fn set_xpub_manual_last_value(&mut self, on: bool) -> Result<()> {
        self.xpub_state()?.set_manual_last_value(on);
        Ok(())
    }

    /// For XPUB: `(manual, manual with last value)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn xpub_manual(&mut self) -> Result<(bool, bool)> {
        let f = self.xpub_state()?.flags();
        Ok((f.3, f.4))
    }

    /// For PUB and XPUB (as in libzmq): see
    /// [`XPub::set_welcome_msg`](crate::XPub::set_welcome_msg).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_xpub_welcome_msg(&mut self, welcome: Option<bytes::Bytes>) -> Result<()> {
        let track = welcome.is_some();
        self.publisher_state("XPUB_WELCOME_MSG")?
            .set_welcome(welcome);
        if track {
            self.core.track_attached();
        }
        Ok(())
    }

    /// For PUB and XPUB: the welcome message in force.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn xpub_welcome_msg(&mut self) -> Result<Option<bytes::Bytes>> {
        Ok(self.publisher_state("XPUB_WELCOME_MSG")?.welcome().cloned())
    }

    /// For PUB, XPUB, SUB and XSUB: see
    /// [`Pub::set_invert_matching`](crate::Pub::set_invert_matching) and
    /// [`Sub::set_invert_matching`](crate::Sub::set_invert_matching).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let mut sub = ctx.socket(SocketType::Sub)?;
    /// sub.set_invert_matching(true)?;
    /// assert!(sub.invert_matching()?);
    /// let mut push = ctx.socket(SocketType::Push)?;
    /// assert!(matches!(push.set_invert_matching(true), Err(Error::InvalidOption(_))));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_invert_matching(&mut self, invert: bool) -> Result<()> {
        match &mut self.machine {
            Machine::Pub(st) | Machine::XPub(st) => st.set_invert(invert),
            Machine::Sub(st) | Machine::XSub(st) => st.set_invert(invert),
            _ => return Err(pubsub_only("INVERT_MATCHING")),
        }
        Ok(())
    }

    /// For PUB, XPUB, SUB and XSUB: whether matching is inverted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn invert_matching(&self) -> Result<bool> {
        match &self.machine {
            Machine::Pub(st) | Machine::XPub(st) => Ok(st.flags().0),
            Machine::Sub(st) | Machine::XSub(st) => Ok(st.flags().0),
            _ => Err(pubsub_only("INVERT_MATCHING")),
        }
    }

    /// For PUB, XPUB and XSUB (as in libzmq): see
    /// [`XPub::set_only_first_subscribe`](crate::XPub::set_only_first_subscribe) and
    /// [`XSub::set_only_first_subscribe`](crate::XSub::set_only_first_subscribe).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types (libzmq's SUB refuses it too).
    pub fn set_only_first_subscribe(&mut self, on: bool) -> Result<()> {
        match &mut self.machine {
            Machine::Pub(st) | Machine::XPub(st) => st.set_only_first(on),
            Machine::XSub(st) => st.set_only_first(on),
            _ => {
                return Err(Error::InvalidOption(
                    "ONLY_FIRST_SUBSCRIBE applies to PUB, XPUB and XSUB sockets only".into(),
                ))
            }
        }
        Ok(())
    }

    /// For PUB, XPUB and XSUB: whether only the first frame decides.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn only_first_subscribe(&self) -> Result<bool> {
        match &self.machine {
            Machine::Pub(st) | Machine::XPub(st) => Ok(st.flags().2),
            Machine::XSub(st) => Ok(st.flags().1),
            _ => Err(Error::InvalidOption(
                "ONLY_FIRST_SUBSCRIBE applies to PUB, XPUB and XSUB sockets only".into(),
            )),
        }
    }

    /// For PUB, XPUB, SUB and XSUB: see [`Sub::topics_count`](crate::Sub::topics_count)
    /// and [`Pub::topics_count`](crate::Pub::topics_count).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn topics_count(&mut self) -> Result<usize> {
        match &mut self.machine {
            Machine::Pub(st) | Machine::XPub(st) => Ok(st.topics_count(&mut self.core)),
            Machine::Sub(st) | Machine::XSub(st) => Ok(st.topics_count()),
            _ => Err(pubsub_only("TOPICS_COUNT")),
        }
    }

    /// For STREAM: see [`StreamSocket::set_stream_notify`](crate::StreamSocket::set_stream_notify).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn set_stream_notify(&mut self, notify: bool) -> Result<()> {
        match &mut self.machine {
            Machine::Stream(st) => {
                st.notify = notify;
                Ok(())
            }
            _ => Err(Error::InvalidOption(
                "stream_notify applies to STREAM sockets only".into(),
            )),
        }
    }

    /// For STREAM: see [`StreamSocket::stream_notify`](crate::StreamSocket::stream_notify).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn stream_notify(&self) -> Result<bool> {
        match &self.machine {
            Machine::Stream(st) => Ok(st.notify),
            _ => Err(Error::InvalidOption(
                "stream_notify applies to STREAM sockets only".into(),
            )),
        }
    }

    /// For REQ: see [`Req::correlate`](crate::Req::correlate).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn correlate(&self) -> Result<bool> {
        match &self.machine {
            Machine::Req(m) => Ok(m.correlate),
            _ => Err(Error::InvalidOption(
                "correlate applies to REQ sockets only".into(),
            )),
        }
    }

    /// For ROUTER: `(mandatory, handover, (notify connect, notify disconnect))`; see
    /// [`Router::router_mandatory`](crate::Router::router_mandatory) and the others.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn router_options(&self) -> Result<(bool, bool, (bool, bool))> {
        match &self.machine {
            Machine::Router(st) => Ok((
                st.mandatory,
                st.handover,
                (st.notify_connect, st.notify_disconnect),
            )),
            _ => Err(Error::InvalidOption(
                "this option applies to ROUTER sockets only".into(),
            )),
        }
    }

    /// For REQ, DEALER and ROUTER: see [`Dealer::probe_router`](crate::Dealer::probe_router).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn probe_router(&self) -> Result<bool> {
        match self.machine {
            Machine::Req(_) | Machine::Dealer | Machine::Router(_) => {
                Ok(self.core.options.probe_router)
            }
            _ => Err(Error::InvalidOption(
                "probe_router applies to REQ, DEALER and ROUTER sockets only".into(),
            )),
        }
    }

    /// For XPUB: `(verbose, verboser)`; see [`XPub::verbose`](crate::XPub::verbose) and
    /// [`XPub::verboser`](crate::XPub::verboser).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for other socket types.
    pub fn xpub_verbosity(&self) -> Result<(bool, bool)> {
        match &self.machine {
            Machine::XPub(st) => {
                let v = st.verbosity();
                Ok((v.0, v == (true, true)))
            }
            _ => Err(Error::InvalidOption(
                "this option applies to XPUB sockets only".into(),
            )),
        }
    }

    fn xpub_state(&mut self) -> Result<&mut PubState> {
        match &mut self.machine {
            Machine::XPub(st) => Ok(st),
            _ => Err(Error::InvalidOption(
                "this option applies to XPUB sockets only".into(),
            )),
        }
    }

    fn publisher_state(&mut self, option: &str) -> Result<&mut PubState> {
        match &mut self.machine {
            Machine::Pub(st) | Machine::XPub(st) => Ok(st),
            _ => Err(Error::InvalidOption(format!(
                "{option} applies to PUB and XPUB sockets only"
            ))),
        }
    }

    fn router_state(&mut self) -> Result<&mut RouterState> {
        match &mut self.machine {
            Machine::Router(st) => Ok(st),
            _ => Err(Error::InvalidOption(
                "this option applies to ROUTER sockets only".into(),
            )),
        }
    }

    fn send_with(&mut self, msg: Message, wait: Wait) -> Result<(), SendError> {
        match &mut self.machine {
            Machine::Push => self.core.send_round_robin(msg, wait).map(drop),
            Machine::Req(m) => reqrep::req_send(&mut self.core, m, msg, wait),
            Machine::Rep(m) => reqrep::rep_send(&mut self.core, m, msg, wait),
            Machine::Dealer => routing::dealer_send(&mut self.core, msg, wait),
            Machine::Router(st) => routing::router_send(&mut self.core, st, msg, wait),
            Machine::Stream(st) => stream::stream_send(&mut self.core, st, msg, wait),
            Machine::Pair(st) => routing::pair_send(&mut self.core, st, msg, wait),
            Machine::Pub(st) | Machine::XPub(st) => {
                st.send(&mut self.core, refuse_empty(msg)?, wait).map(drop)
            }
            Machine::XSub(st) => {
                st.forward(&mut self.core, refuse_empty(msg)?);
                Ok(())
            }
            Machine::Sub(_) => Err(SendError::new(
                Error::WrongState("SUB sockets cannot send"),
                msg,
            )),
            Machine::Pull => Err(SendError::new(
                Error::WrongState("PULL sockets cannot send"),
                msg,
            )),
        }
    }

    fn recv_with(&mut self, wait: Wait) -> Result<Message> {
        match &mut self.machine {
            Machine::Pull => self.core.recv_fair(wait).map(|(_, m)| m),
            Machine::Req(m) => reqrep::req_recv(&mut self.core, m, wait),
            Machine::Rep(m) => reqrep::rep_recv(&mut self.core, m, wait),
            Machine::Dealer => routing::dealer_recv(&mut self.core, wait),
            Machine::Router(st) => routing::router_recv(&mut self.core, st, wait),
            Machine::Stream(st) => stream::stream_recv(&mut self.core, st, wait),
            Machine::Pair(st) => routing::pair_recv(&mut self.core, st, wait),
            Machine::Sub(st) | Machine::XSub(st) => st.recv(&mut self.core, wait),
            Machine::XPub(st) => st.recv(&mut self.core, wait),
            Machine::Pub(_) => Err(Error::WrongState("PUB sockets cannot receive")),
            Machine::Push => Err(Error::WrongState("PUSH sockets cannot receive")),
        }
    }
}

/// The error for a publish-subscribe option on another socket type.
fn pubsub_only(option: &str) -> Error {
    Error::InvalidOption(format!(
        "{option} applies to PUB, XPUB, SUB and XSUB sockets only"
    ))
}

/// Holds a socket for [`Socket::recv_async`]: dropped while armed (the future dropped
/// before it completed), it gives a REQ's outstanding request up.
#[derive(Debug)]
struct AbandonOnDrop<'a> {
    socket: &'a mut Socket,
    armed: bool,
}

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.socket.abandon_request_if_req();
        }
    }
}

impl Context {
    /// A new socket of type `kind`; see [`Socket`].
    ///
    /// # Errors
    ///
    /// As [`Socket::new`].
    pub fn socket(&self, kind: SocketType) -> Result<Socket> {
        Socket::new(self, kind)
    }
}

impl crate::poll::sealed::Sealed for Socket {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        let core = &mut self.core;
        let readable = interest.is_readable();
        let writable = interest.is_writable();
        match &mut self.machine {
            Machine::Push => Interest::from_flags(false, writable && core.poll_writable()),
            Machine::Pull => Interest::from_flags(readable && core.poll_readable(), false),
            Machine::Dealer => Interest::from_flags(
                readable && core.poll_readable(),
                writable && core.poll_writable(),
            ),
            Machine::Req(m) => reqrep::req_poll_ready(core, m, interest),
            Machine::Rep(m) => reqrep::rep_poll_ready(core, m, interest),
            Machine::Router(st) => st.poll_ready(core, interest),
            Machine::Stream(st) => st.poll_ready(core, interest),
            Machine::Pair(st) => st.poll_ready(core, interest),
            Machine::Pub(st) | Machine::XPub(st) => st.poll_ready(core, interest),
            Machine::Sub(st) => st.poll_ready(core, interest),
            // An XSUB's sends (subscriptions, upstream messages) never block.
            Machine::XSub(st) => {
                Interest::from_flags(st.poll_ready(core, interest).is_readable(), writable)
            }
        }
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        self.recv_with(Wait::Never)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        // A REP's reply that finds no room keeps the request, to be tried again.
        self.send_step(msg)
    }
}
