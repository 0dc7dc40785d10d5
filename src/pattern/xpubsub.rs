//! XPUB and XSUB (RFC 29): PUB and SUB with the subscriptions in the open, the building
//! blocks of proxies. The spec with its tables is `patterns/pubsub.md`.
//!
//! Both run on the PUB and SUB state of `pubsub.rs` ([`PubState::xpub`],
//! [`SubState::xsub`]), so routing, filtering, high-water marks and the greeting of new
//! peers are the same code; only what the application sees differs.

use crate::context::Context;
use crate::error::{Result, SendError};
use crate::message::Message;
use crate::pattern::pubsub::{publisher_common, PubState, SubState};
use crate::pattern::{socket_common, state_recv_variants};
use crate::poll::sealed::CoreRef;
use crate::poll::Interest;
use crate::socket::{SocketCore, Wait};
use crate::socket_type::SocketType;

/// A publisher that shows its application the subscriptions: sends like a [`Pub`](crate::Pub),
/// and receives what the subscribers ask for.
///
/// Sending is a PUB's: each message goes to every peer subscribed to a prefix of its first
/// frame, never blocks, and a peer whose queue is at its high-water mark loses the whole
/// message ([`XPub::dropped`] counts it).
///
/// Receiving returns the peers' subscriptions as one-frame messages, `01` + topic for a
/// subscription and `00` + topic for a cancel, as libzmq's XPUB does, with the
/// [`metadata`](Message::metadata) of the connection they came on. As in libzmq:
///
/// - by default only the **first** subscription to a topic across all peers and the
///   **last** cancel are passed up, so an XPUB that forwards them upstream asks for each
///   topic once ([`XPub::set_verbose`] passes up every subscription, [`XPub::set_verboser`]
///   every cancel too);
/// - a cancel of a topic the peer was not subscribed to is passed up too;
/// - when a peer goes away, its subscriptions are removed, and a cancel (without metadata)
///   is passed up for each topic nobody holds any more;
/// - anything else a peer sends (an XSUB forwards its application's messages upstream) is
///   passed up as it came. Every frame that starts with `01` or `00` counts as a
///   subscription change, in a multipart message too; the other frames of such a message
///   are passed up together, as one message.
///
/// What waits to be received is bounded by the receive high-water mark
/// ([`XPub::set_recv_hwm`], default 1000, 0 for no limit): once that many are queued, the
/// peers' queues are not read, and new subscriptions do not take effect, until the
/// application receives. Read what an XPUB gives you, or use a [`Pub`](crate::Pub).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut xpub = ctx.xpublisher()?;
/// xpub.bind("inproc://xpub-weather")?;
///
/// let mut subscriber = ctx.subscriber()?;
/// subscriber.connect("inproc://xpub-weather")?;
/// subscriber.subscribe("10001 ");
///
/// // The subscription arrives as a message: 01 + topic.
/// let wait = Duration::from_secs(5);
/// assert_eq!(xpub.recv_timeout(wait)?, "\x0110001 ");
/// assert_eq!(xpub.send("10001 21 40")?, 1);
/// assert_eq!(subscriber.recv_timeout(wait)?, "10001 21 40");
///
/// // The subscriber leaves: its subscription is cancelled on its behalf.
/// drop(subscriber);
/// assert_eq!(xpub.recv_timeout(wait)?, "\x0010001 ");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct XPub {
    core: SocketCore,
    state: PubState,
}

socket_common!(XPub);
state_recv_variants!(XPub, xpublisher);
crate::aio::async_send!(XPub, usize);
crate::aio::async_recv!(XPub, xpublisher);

impl XPub {
    /// A new XPUB socket in `ctx`, with no endpoints yet, not verbose.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, SocketType, XPub};
    ///
    /// let xpub = XPub::new(&Context::new())?;
    /// assert_eq!(xpub.socket_type(), SocketType::XPub);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<XPub> {
        let mut core = SocketCore::new(ctx, SocketType::XPub);
        // For the welcome message, written to each peer as it is seen to attach.
        core.track_attached();
        Ok(XPub {
            core,
            state: PubState::xpub(),
        })
    }

    /// Publishes a message to every peer subscribed to a prefix of its first frame, and
    /// returns how many peers it was queued to; exactly [`Pub::send`](crate::Pub::send).
    ///
    /// Never blocks: a matching peer whose queue is full loses this message, whole, and
    /// [`XPub::dropped`] counts it. Subscriptions that arrived since the last call take
    /// effect first (and are kept for [`XPub::recv`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.bind("inproc://xpub-send")?;
    /// let mut subscriber = ctx.subscriber()?;
    /// subscriber.connect("inproc://xpub-send")?;
    /// subscriber.subscribe("a");
    /// assert_eq!(xpub.send(["a.1", "payload"])?, 1);
    /// assert_eq!(xpub.send("b.1")?, 0); // nobody subscribed to it
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Pub::send`](crate::Pub::send): only
    /// [`Error::EmptyMessage`](crate::Error::EmptyMessage), for a message with no frames,
    /// handed back in the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<usize, SendError> {
        let msg = crate::pattern::refuse_empty(msg.into())?;
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        self.state.send(&mut self.core, msg, wait)
    }

    /// Publishes without waiting: the same as [`XPub::send`], which never blocks, unless
    /// [`XPub::set_nodrop`] is on, when a full subscriber makes it fail at once. Here
    /// also so that code forwarding between sockets (a proxy) can call `try_send` on
    /// every socket it holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// assert_eq!(xpub.try_send("nobody listens")?, 0);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`XPub::send`], with [`Error::WouldBlock`](crate::Error::WouldBlock) in place
    /// of the wait.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<usize, SendError> {
        let msg = crate::pattern::refuse_empty(msg.into())?;
        self.state.send(&mut self.core, msg, Wait::Never)
    }

    /// Receives the next subscription change (`01`/`00` + topic) or other message from a
    /// peer, waiting up to the receive timeout (forever by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.set_recv_timeout(Some(Duration::from_secs(5)));
    /// xpub.bind("inproc://xpub-recv")?;
    /// let mut first = ctx.subscriber()?;
    /// first.connect("inproc://xpub-recv")?;
    /// let mut second = ctx.subscriber()?;
    /// second.connect("inproc://xpub-recv")?;
    ///
    /// first.subscribe("A");
    /// second.subscribe("A"); // not the first to "A": not passed up
    /// second.subscribe("B");
    /// assert_eq!(xpub.recv()?, "\x01A");
    /// assert_eq!(xpub.recv()?, "\x01B");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut) when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        self.state.recv(&mut self.core, wait)
    }

    /// Passes up every subscription, not only the first to a topic (libzmq's
    /// `ZMQ_XPUB_VERBOSE`); cancels are still passed up only when they are a topic's last.
    /// Like libzmq, this also turns [`XPub::set_verboser`] off. Applies to what arrives
    /// from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.set_verbose(true);
    /// xpub.set_recv_timeout(Some(Duration::from_secs(5)));
    /// xpub.bind("inproc://xpub-verbose")?;
    /// let mut first = ctx.subscriber()?;
    /// first.connect("inproc://xpub-verbose")?;
    /// let mut second = ctx.subscriber()?;
    /// second.connect("inproc://xpub-verbose")?;
    /// first.subscribe("A");
    /// assert_eq!(xpub.recv()?, "\x01A");
    /// second.subscribe("A");
    /// assert_eq!(xpub.recv()?, "\x01A"); // the repeat is passed up too
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_verbose(&mut self, verbose: bool) {
        self.state.set_verbose(verbose);
    }

    /// Passes up every subscription and every cancel (libzmq's `ZMQ_XPUB_VERBOSER`),
    /// including, when a peer goes away, a cancel for each of its topics; `false` turns
    /// off both this and [`XPub::set_verbose`]. Applies to what arrives from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.set_verboser(true);
    /// xpub.set_recv_timeout(Some(Duration::from_secs(5)));
    /// xpub.bind("inproc://xpub-verboser")?;
    /// let mut first = ctx.subscriber()?;
    /// first.connect("inproc://xpub-verboser")?;
    /// let mut second = ctx.subscriber()?;
    /// second.connect("inproc://xpub-verboser")?;
    /// first.subscribe("A");
    /// assert_eq!(xpub.recv()?, "\x01A");
    /// second.subscribe("A");
    /// assert_eq!(xpub.recv()?, "\x01A");
    /// first.unsubscribe("A"); // `second` still wants "A": passed up anyway
    /// assert_eq!(xpub.recv()?, "\x00A");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_verboser(&mut self, verboser: bool) {
        self.state.set_verboser(verboser);
    }

    /// Whether every subscription is passed up (libzmq's `ZMQ_XPUB_VERBOSE`, which
    /// libzmq cannot read back). See [`XPub::set_verbose`].
    pub fn verbose(&self) -> bool {
        self.state.verbosity().0
    }

    /// Whether every subscription and every cancel is passed up (libzmq's
    /// `ZMQ_XPUB_VERBOSER`, which libzmq cannot read back). See [`XPub::set_verboser`].
    pub fn verboser(&self) -> bool {
        self.state.verbosity() == (true, true)
    }

    /// Lets the application decide the subscriptions (libzmq's `ZMQ_XPUB_MANUAL`,
    /// default off). Every subscription and every cancel a peer sends is passed up to
    /// [`XPub::recv`], repeats included, and none is applied: receiving one makes its
    /// peer the one that [`XPub::subscribe`] and [`XPub::unsubscribe`] apply to, until
    /// the next is received. When a peer goes away, a cancel (without metadata) is passed
    /// up for each topic it had asked for, and what was applied for it is dropped.
    /// Set it before peers connect: what arrived before is not carried over.
    /// [`XPub::subscriber_count`], [`XPub::wait_for_subscribers`] and
    /// [`XPub::topics_count`] count what was applied. What a peer asks for is bounded by
    /// [`XPub::set_max_subscriptions`] as applied subscriptions are.
    ///
    /// Setting it off leaves [`XPub::set_manual_last_value`]'s last-value part as it
    /// was, as in libzmq.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.set_manual(true);
    /// xpub.bind("inproc://manual-doc")?;
    /// let mut subscriber = ctx.subscriber()?;
    /// subscriber.connect("inproc://manual-doc")?;
    /// subscriber.subscribe("A");
    ///
    /// let wait = Duration::from_secs(5);
    /// assert_eq!(xpub.recv_timeout(wait)?, "\x01A");
    /// assert_eq!(xpub.send("A.1")?, 0); // asked for, not applied
    /// xpub.subscribe("A.")?; // applied for the peer it came from, as the app sees fit
    /// assert_eq!(xpub.send("A.2")?, 1);
    /// assert_eq!(subscriber.recv_timeout(wait)?, "A.2");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_manual(&mut self, manual: bool) {
        self.state.set_manual(manual);
    }

    /// Manual mode, and the last-value cache's rule (libzmq 4.3.5's draft
    /// `ZMQ_XPUB_MANUAL_LAST_VALUE`, default off): as [`XPub::set_manual`], and the
    /// first message sent after a subscription change was received goes only to the peer
    /// that change came from, if its applied subscriptions match, so the application can
    /// answer a new subscriber with the last value of its topic without repeating it to
    /// everyone. `false` turns both off.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.set_manual_last_value(true);
    /// xpub.bind("inproc://lvc-doc")?;
    /// let wait = Duration::from_secs(5);
    /// let mut old = ctx.subscriber()?;
    /// old.connect("inproc://lvc-doc")?;
    /// old.subscribe("T");
    /// assert_eq!(xpub.recv_timeout(wait)?, "\x01T");
    /// xpub.subscribe("T")?;
    /// xpub.send("T first")?; // to `old` only: it is the peer that just subscribed
    /// let mut new = ctx.subscriber()?;
    /// new.connect("inproc://lvc-doc")?;
    /// new.subscribe("T");
    /// assert_eq!(xpub.recv_timeout(wait)?, "\x01T");
    /// xpub.subscribe("T")?;
    /// assert_eq!(xpub.send("T cached")?, 1); // the last value, to `new` only
    /// assert_eq!(xpub.send("T next")?, 2); // then to both
    /// assert_eq!(old.recv_timeout(wait)?, "T first");
    /// assert_eq!(old.recv_timeout(wait)?, "T next");
    /// assert_eq!(new.recv_timeout(wait)?, "T cached");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_manual_last_value(&mut self, on: bool) {
        self.state.set_manual_last_value(on);
    }

    /// Whether manual mode is on (libzmq's `ZMQ_XPUB_MANUAL`). See [`XPub::set_manual`].
    pub fn manual(&self) -> bool {
        self.state.flags().3
    }

    /// Whether manual mode with last-value sends is on (libzmq's
    /// `ZMQ_XPUB_MANUAL_LAST_VALUE`). See [`XPub::set_manual_last_value`].
    pub fn manual_last_value(&self) -> bool {
        self.state.flags().4
    }

    /// In manual mode, subscribes the peer whose subscription change was received last
    /// to `topic` (libzmq's `ZMQ_SUBSCRIBE` on an XPUB). Returns false when there is no
    /// such peer (nothing received yet, the last was a departed peer's cancel, or it went
    /// away): then nothing happens, as in libzmq. A peer holds a topic once, however often
    /// it is applied.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`](crate::Error::InvalidOption) when manual mode is off, as
    /// libzmq refuses `ZMQ_SUBSCRIBE` then.
    pub fn subscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<bool> {
        self.manual_apply(true, topic.as_ref())
    }

    /// In manual mode, takes `topic` back from the peer whose subscription change was
    /// received last (libzmq's `ZMQ_UNSUBSCRIBE` on an XPUB); false when there is no such
    /// peer, as for [`XPub::subscribe`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`](crate::Error::InvalidOption) when manual mode is off.
    pub fn unsubscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<bool> {
        self.manual_apply(false, topic.as_ref())
    }

    fn manual_apply(&mut self, subscribe: bool, topic: &[u8]) -> Result<bool> {
        if !self.manual() {
            return Err(crate::Error::InvalidOption(
                "XPUB subscribe/unsubscribe needs manual mode (set_manual)".into(),
            ));
        }
        Ok(self.state.apply_manual(&mut self.core, subscribe, topic))
    }
}

publisher_common!(XPub, xpublisher);

/// A subscriber whose subscriptions are messages: receives like a [`Sub`](crate::Sub), but
/// unfiltered, and sends its subscriptions, and anything else, upstream.
///
/// Sending a one-frame message `01` + topic subscribes to the topic, and `00` + topic
/// cancels, as with libzmq's XSUB; [`XSub::subscribe`] and [`XSub::unsubscribe`] build
/// these messages. Following libzmq 4.3 exactly:
///
/// - subscriptions are counted, and **every** subscription is sent to every publisher (so an
///   XPUB upstream with [`set_verbose`](XPub::set_verbose) sees repeats), while a cancel is
///   sent only when it takes back a topic's last subscription (otherwise it is dropped);
/// - any other message goes to every publisher as it is (an [`XPub`] passes it up to its
///   application; a [`Pub`](crate::Pub) discards it). In a multipart message each frame
///   that starts with `01` or `00` counts as a subscription change;
/// - the whole subscription set is sent to every publisher that connects or reconnects
///   later, as its first messages, without a call on the XSUB, as for a SUB;
/// - sends never block: a publisher whose queue from this socket is full misses the message;
/// - **receiving does not filter**: every message the publishers send is delivered. The
///   publishers filter by the subscriptions they were sent; a libzmq XSUB filters nothing
///   either (only its SUB does), so messages in flight across a cancel still arrive.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut publisher = ctx.publisher()?;
/// publisher.bind("inproc://xsub-news")?;
/// let mut xsub = ctx.xsubscriber()?;
/// xsub.connect("inproc://xsub-news")?;
///
/// xsub.send("\x01sport.")?; // subscribes, as a message
/// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
/// publisher.send("sport.tennis 6-4")?;
/// publisher.send("politics ...")?; // filtered by the publisher
/// assert_eq!(xsub.recv_timeout(Duration::from_secs(5))?, "sport.tennis 6-4");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct XSub {
    core: SocketCore,
    state: SubState,
}

socket_common!(XSub);
state_recv_variants!(XSub, xsubscriber);
crate::aio::async_send!(XSub, usize);
crate::aio::async_recv!(XSub, xsubscriber);

impl XSub {
    /// A new XSUB socket in `ctx`, with no endpoints and no subscriptions yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, SocketType, XSub};
    ///
    /// let xsub = XSub::new(&Context::new())?;
    /// assert_eq!(xsub.socket_type(), SocketType::XSub);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<XSub> {
        let mut core = SocketCore::new(ctx, SocketType::XSub);
        core.track_attached();
        Ok(XSub {
            core,
            state: SubState::xsub(),
        })
    }

    /// Sends a message upstream to every publisher: a subscription (`01` + topic), a
    /// cancel (`00` + topic) or anything else, as described on [`XSub`]. Returns how many
    /// publishers took it (0 for a cancel that was not a topic's last, which is not sent).
    ///
    /// Publishers that connected since the last call are sent the subscription set first.
    /// Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.bind("inproc://xsub-send")?;
    /// let mut xsub = ctx.xsubscriber()?;
    /// xsub.connect("inproc://xsub-send")?;
    /// assert_eq!(xsub.send("\x01A")?, 1);
    /// assert_eq!(xsub.send("\x01A")?, 1); // repeats go out too
    /// assert_eq!(xsub.send("\x00A")?, 0); // one subscription to "A" remains
    /// assert_eq!(xsub.send(["hello", "upstream"])?, 1);
    /// assert_eq!(xpub.try_recv()?, "\x01A"); // the XPUB passes up the first only
    /// assert_eq!(&xpub.try_recv()?[0][..], b"hello");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only [`Error::EmptyMessage`](crate::Error::EmptyMessage), for a message with no
    /// frames, handed back in the [`SendError`]: an XSUB neither blocks nor fails on a
    /// slow or missing publisher.
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<usize, SendError> {
        let msg = crate::pattern::refuse_empty(msg.into())?;
        Ok(self.state.forward(&mut self.core, msg))
    }

    /// The same as [`XSub::send`], which never blocks; here so that code forwarding
    /// between sockets (a proxy) can call `try_send` on every socket it holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xsub = ctx.xsubscriber()?;
    /// assert_eq!(xsub.try_send("\x01no publisher yet")?, 0);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`XSub::send`].
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<usize, SendError> {
        self.send(msg)
    }

    /// Subscribes to `topic`: sends `01` + `topic`, as [`XSub::send`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xsub = ctx.xsubscriber()?;
    /// xsub.subscribe("A");
    /// xsub.subscribe("A");
    /// assert!(!xsub.unsubscribe("A"));
    /// assert!(xsub.unsubscribe("A"));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn subscribe(&mut self, topic: impl AsRef<[u8]>) {
        let msg = Message::subscription(true, topic.as_ref());
        self.state.forward(&mut self.core, msg);
    }

    /// Takes back one subscription to `topic`: sends `00` + `topic`, as [`XSub::send`]
    /// does. Returns true when that was the last one, so the cancel went out; false when
    /// subscriptions to it remain, or there were none (then nothing is sent).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xsub = ctx.xsubscriber()?;
    /// assert!(!xsub.unsubscribe("never subscribed"));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn unsubscribe(&mut self, topic: impl AsRef<[u8]>) -> bool {
        self.state.unsubscribe(&mut self.core, topic.as_ref())
    }

    /// Receives the next message from the publishers, unfiltered, waiting up to the
    /// receive timeout (forever by default). Messages are taken from the publishers in turn
    /// (fair-queued). While it waits, the socket sends its subscriptions to publishers that
    /// connect.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut xsub = ctx.xsubscriber()?;
    /// xsub.bind("inproc://xsub-recv")?;
    /// xsub.subscribe("");
    /// let mut publisher = ctx.publisher()?;
    /// publisher.connect("inproc://xsub-recv")?;
    /// publisher.send("anything")?;
    /// xsub.set_recv_timeout(Some(Duration::from_secs(5)));
    /// assert_eq!(xsub.recv()?, "anything");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut) when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        self.state.recv(&mut self.core, wait)
    }

    /// Accepted for libzmq's `ZMQ_INVERT_MATCHING` and read back, but an XSUB does not
    /// filter what it receives, so it changes nothing here (as in libzmq); the publisher
    /// upstream does the (inverted) matching.
    pub fn set_invert_matching(&mut self, invert: bool) {
        self.state.set_invert(invert);
    }

    /// Whether `ZMQ_INVERT_MATCHING` was set. See [`XSub::set_invert_matching`].
    pub fn invert_matching(&self) -> bool {
        self.state.flags().0
    }

    /// Treats a message sent as subscription changes only when its first frame is one
    /// (libzmq 4.3.5's `ZMQ_ONLY_FIRST_SUBSCRIBE`, default off): a message that starts
    /// with another frame goes upstream unchanged, even frames that start with `01` or
    /// `00`, and is not counted as subscriptions. As in libzmq, when the first frame is a
    /// change, the later ones are read as changes too.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xsub = ctx.xsubscriber()?;
    /// xsub.set_only_first_subscribe(true);
    /// xsub.send(["data", "\x01x"])?;
    /// assert_eq!(xsub.topics_count(), 0);
    /// xsub.send(["\x01x", "\x01y"])?;
    /// assert_eq!(xsub.topics_count(), 2);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_only_first_subscribe(&mut self, on: bool) {
        self.state.set_only_first(on);
    }

    /// Whether only the first frame decides (libzmq's `ZMQ_ONLY_FIRST_SUBSCRIBE`). See
    /// [`XSub::set_only_first_subscribe`].
    pub fn only_first_subscribe(&self) -> bool {
        self.state.flags().1
    }

    /// How many distinct topics this socket is subscribed to (libzmq 4.3.5's
    /// `ZMQ_TOPICS_COUNT`).
    pub fn topics_count(&self) -> usize {
        self.state.topics_count()
    }
}

impl Context {
    /// A new XPUB socket; see [`XPub`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xpub = ctx.xpublisher()?;
    /// xpub.bind("inproc://xpublisher")?;
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`XPub::new`].
    pub fn xpublisher(&self) -> Result<XPub> {
        XPub::new(self)
    }

    /// A new XSUB socket; see [`XSub`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut xsub = ctx.xsubscriber()?;
    /// xsub.connect("inproc://not-bound-yet")?; // an inproc connect may come first
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`XSub::new`].
    pub fn xsubscriber(&self) -> Result<XSub> {
        XSub::new(self)
    }
}

impl crate::poll::sealed::Sealed for XPub {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    /// Always writable; readable when a subscription change waits to be received.
    fn poll_ready(&mut self, interest: Interest) -> Interest {
        self.state.poll_ready(&mut self.core, interest)
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        self.state.recv(&mut self.core, Wait::Never)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        self.state.send(&mut self.core, msg, Wait::Never).map(drop)
    }
}

impl crate::poll::sealed::Sealed for XSub {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    /// Always writable (subscriptions and upstream messages never block); readable when
    /// a message is queued.
    fn poll_ready(&mut self, interest: Interest) -> Interest {
        let ready = self.state.poll_ready(&mut self.core, interest);
        Interest::from_flags(ready.is_readable(), interest.is_writable())
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        self.state.recv(&mut self.core, Wait::Never)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        self.state.forward(&mut self.core, msg);
        Ok(())
    }
}
