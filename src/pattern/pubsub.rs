//! PUB and SUB (RFC 29, publish-subscribe). The spec with its tables is
//! `patterns/pubsub.md`.
//!
//! Subscriptions travel toward the publisher as one-frame messages, `01` + topic to
//! subscribe and `00` + topic to cancel, in every pipe: a SUB writes them into its peers'
//! pipes, and the engine turns them into SUBSCRIBE/CANCEL commands for ZMTP 3.1 peers (and
//! back, for a PUB). Over inproc the same messages go straight from the SUB to the PUB, so
//! one piece of PUB code handles every transport.
//!
//! PUB keeps what each peer subscribed to, filters every message by its first frame, and
//! drops a peer's copy when that peer's queue is full: it never blocks. SUB keeps its own
//! counted subscriptions, has the whole set written into every peer that attaches, by the
//! I/O thread or the inproc connect (so a reconnect re-subscribes by itself), and filters what arrives against them too.
//!
//! XPUB and XSUB (`src/pattern/xpubsub.rs`) run on the same two state structs: an XPUB is a
//! PUB whose state also keeps the topics of all peers together and a queue of what the
//! application is to receive ([`Upstream`]); an XSUB is a SUB that forwards what the
//! application sends and does not filter what it receives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smallvec::SmallVec;

use crate::context::Context;
use crate::error::{Error, Result, SendError};
use crate::message::{Message, Metadata};
use crate::monitor::MonitorEvent;
use crate::pattern::trie::Trie;
use crate::pattern::{socket_common, state_recv_variants, DISCARD_BUDGET};
use crate::pipe::{ReadError, WriteError};
use crate::poll::sealed::CoreRef;
use crate::poll::Interest;
use crate::socket::{PeerId, SocketCore, Wait};
use crate::socket_type::SocketType;

/// Generates what PUB and XPUB share beyond `send`: the drop counter and the subscriber
/// count and wait. Each socket struct must have `core: SocketCore` and `state: PubState`;
/// `$ctor` is the [`Context`] method that makes it, for the examples.
macro_rules! publisher_common {
    ($ty:ident, $ctor:ident) => {
        impl $ty {
            /// How many copies of messages were dropped since this socket was made, because the
            /// subscriber they were for had its queue at the high-water mark. A message dropped
            /// for three subscribers counts three.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::Context;
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.set_send_hwm(1);
            /// publisher.bind("inproc://ticks")?;
            /// let mut slow = ctx.subscriber()?;
            /// slow.set_recv_hwm(1);
            /// slow.connect("inproc://ticks")?;
            /// slow.subscribe("");
            /// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
            ///
            /// // The inproc queue holds send_hwm + recv_hwm = 2 messages; the rest is dropped.
            /// for tick in 0..5 {
            ///     publisher.send(format!("tick {tick}"))?;
            /// }
            /// assert_eq!(publisher.dropped(), 3);
            /// assert_eq!(slow.recv()?, "tick 0");
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn dropped(&self) -> u64 {
                self.state.dropped()
            }

            /// Sets the most distinct subscriptions this socket holds for one peer (default
            /// [`DEFAULT_MAX_SUBSCRIPTIONS`](crate::DEFAULT_MAX_SUBSCRIPTIONS), 100,000);
            /// `None` is no limit, as in libzmq. A new subscription past it is refused: not
            /// held, not passed up, counted in `refused_subscriptions`, and reported as
            /// [`MonitorEvent::SubscriptionsRefused`](crate::MonitorEvent::SubscriptionsRefused).
            /// The peer stays connected with what it holds. Applies to what arrives from now
            /// on; what a peer already holds is kept.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::Context;
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.set_max_subscriptions(Some(1));
            /// publisher.bind("inproc://bounded")?;
            /// let mut subscriber = ctx.subscriber()?;
            /// subscriber.connect("inproc://bounded")?;
            /// subscriber.subscribe("a");
            /// subscriber.subscribe("b"); // one too many for this publisher
            /// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
            /// assert_eq!(publisher.refused_subscriptions(), 1);
            /// assert_eq!(publisher.send("b.1")?, 0);
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn set_max_subscriptions(&mut self, max: Option<usize>) {
                self.core.options.max_subscriptions = max;
            }

            /// Sets the most topic bytes this socket holds for one peer, summed over its
            /// distinct subscriptions (default
            /// [`DEFAULT_MAX_SUBSCRIPTION_BYTES`](crate::DEFAULT_MAX_SUBSCRIPTION_BYTES),
            /// 16 MiB); `None` is no limit. Past it, a new subscription is refused as past
            /// [`Self::set_max_subscriptions`].
            pub fn set_max_subscription_bytes(&mut self, max: Option<usize>) {
                self.core.options.max_subscription_bytes = max;
            }

            /// The most distinct subscriptions held for one peer (`None`: no limit; no
            /// libzmq option, libzmq has no limit). See [`Self::set_max_subscriptions`].
            pub fn max_subscriptions(&self) -> Option<usize> {
                self.core.options.max_subscriptions
            }

            /// The most topic bytes held for one peer (`None`: no limit; no libzmq
            /// option). See [`Self::set_max_subscription_bytes`].
            pub fn max_subscription_bytes(&self) -> Option<usize> {
                self.core.options.max_subscription_bytes
            }

            /// How many subscriptions were refused since this socket was made, over all
            /// peers, because a peer held as many as [`Self::set_max_subscriptions`] and
            /// [`Self::set_max_subscription_bytes`] allow; after taking in what arrived.
            pub fn refused_subscriptions(&mut self) -> u64 {
                self.state.refused_subscriptions(&mut self.core)
            }

            /// How many connected peers have at least one subscription now, after taking in the
            /// subscriptions that arrived since the last call.
            ///
            /// # Examples
            ///
            /// ```
            /// use ferromq::Context;
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.bind("inproc://count")?;
            /// let mut subscriber = ctx.subscriber()?;
            /// subscriber.connect("inproc://count")?;
            /// assert_eq!(publisher.subscriber_count(), 0); // connected, but not subscribed
            /// subscriber.subscribe("a");
            /// assert_eq!(publisher.subscriber_count(), 1);
            /// subscriber.unsubscribe("a");
            /// assert_eq!(publisher.subscriber_count(), 0);
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn subscriber_count(&mut self) -> usize {
                self.state.subscriber_count(&mut self.core)
            }

            /// Waits until at least `n` connected peers have subscribed to something, at most
            /// `timeout`. This is the cure for the "slow joiner": publish only once the
            /// subscribers you expect are listening. The wait sleeps until a subscription or a
            /// peer arrives; it does not poll.
            ///
            /// A ferromq subscriber's subscriptions are written into a new connection as it
            /// attaches, whatever the subscriber's thread is doing.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::{Context, Error};
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.bind("inproc://lonely")?;
            /// let err = publisher.wait_for_subscribers(1, Duration::from_millis(10));
            /// assert!(matches!(err, Err(Error::TimedOut)));
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            ///
            /// # Errors
            ///
            /// [`Error::TimedOut`](crate::Error::TimedOut) when fewer than `n` peers have
            /// subscribed once `timeout` has passed.
            pub fn wait_for_subscribers(
                &mut self,
                n: usize,
                timeout: std::time::Duration,
            ) -> $crate::Result<()> {
                self.state.wait_for_subscribers(&mut self.core, n, timeout)
            }

            /// Waits instead of dropping (libzmq's `ZMQ_XPUB_NODROP`, default off): when a
            /// subscriber the message is for has its queue at the high-water mark, `send`
            /// waits for room, up to the send timeout (then
            /// [`Error::TimedOut`](crate::Error::TimedOut)), and `try_send` fails with
            /// [`Error::WouldBlock`](crate::Error::WouldBlock); the message comes back in
            /// the [`SendError`](crate::SendError) and no subscriber got it. Polling
            /// reports the socket writable again once the full subscriber has room. A
            /// slow subscriber then slows the publisher: the trade libzmq documents.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::{Context, Error};
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.set_nodrop(true);
            /// publisher.set_send_hwm(1);
            /// publisher.bind("inproc://nodrop-doc")?;
            /// let mut slow = ctx.subscriber()?;
            /// slow.set_recv_hwm(1);
            /// slow.connect("inproc://nodrop-doc")?;
            /// slow.subscribe("");
            /// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
            /// publisher.send("one")?;
            /// publisher.send("two")?; // the inproc queue holds 1 + 1
            /// let err = publisher.try_send("three").unwrap_err();
            /// assert!(matches!(err.error(), Error::WouldBlock));
            /// assert_eq!(publisher.dropped(), 0);
            /// assert_eq!(slow.recv()?, "one");
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn set_nodrop(&mut self, nodrop: bool) {
                self.state.set_nodrop(nodrop);
            }

            /// Whether a send waits at the high-water mark instead of dropping (libzmq's
            /// `ZMQ_XPUB_NODROP`). See [`Self::set_nodrop`].
            pub fn nodrop(&self) -> bool {
                self.state.flags().1
            }

            /// Sends each message to the subscribers whose subscriptions do **not** match
            /// it (libzmq's `ZMQ_INVERT_MATCHING`, default off). A peer with no
            /// subscription at all matches nothing, so it gets every message, as in
            /// libzmq. A subscriber must invert too
            /// ([`Sub::set_invert_matching`](crate::Sub::set_invert_matching)), or it drops
            /// what arrives as not subscribed to.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::Context;
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.set_invert_matching(true);
            /// publisher.bind("inproc://invert-doc")?;
            /// let mut subscriber = ctx.subscriber()?;
            /// subscriber.set_invert_matching(true);
            /// subscriber.connect("inproc://invert-doc")?;
            /// subscriber.subscribe("noise.");
            /// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
            /// assert_eq!(publisher.send("noise.hum")?, 0);
            /// assert_eq!(publisher.send("signal.beep")?, 1);
            /// assert_eq!(subscriber.recv_timeout(Duration::from_secs(5))?, "signal.beep");
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn set_invert_matching(&mut self, invert: bool) {
                self.state.set_invert(invert);
            }

            /// Whether matching is inverted (libzmq's `ZMQ_INVERT_MATCHING`). See
            /// [`Self::set_invert_matching`].
            pub fn invert_matching(&self) -> bool {
                self.state.flags().0
            }

            /// How many distinct topics the connected peers are subscribed to, over all
            /// of them (libzmq 4.3.5's `ZMQ_TOPICS_COUNT`), after taking in the
            /// subscriptions that arrived. In manual mode, the subscriptions the
            /// application applied.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::Context;
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.bind("inproc://topics-doc")?;
            /// let mut a = ctx.subscriber()?;
            /// a.connect("inproc://topics-doc")?;
            /// let mut b = ctx.subscriber()?;
            /// b.connect("inproc://topics-doc")?;
            /// a.subscribe("x");
            /// b.subscribe("x");
            /// b.subscribe("y");
            /// publisher.wait_for_subscribers(2, Duration::from_secs(5))?;
            /// assert_eq!(publisher.topics_count(), 2);
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn topics_count(&mut self) -> usize {
                self.state.topics_count(&mut self.core)
            }

            /// Sets the message written to every peer as it attaches (libzmq's
            /// `ZMQ_XPUB_WELCOME_MSG`, which libzmq's PUB takes too; default none, and an
            /// empty message is none). It is the peer's first message from this socket,
            /// ahead of anything published, and is written whatever the peer subscribes
            /// to, so a subscriber receives it only if it subscribed to a prefix of it (as
            /// with libzmq, whose SUB filters it like any message). It is written when this
            /// socket next takes in its peers' subscriptions (a send, `wait_for_subscribers`,
            /// a count; on an XPUB also a receive or a poll), to the peers seen to attach
            /// from the call on, on every endpoint.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::Context;
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.set_welcome_msg(Some("WELCOME".into()));
            /// publisher.bind("inproc://welcome-doc")?;
            /// let mut subscriber = ctx.subscriber()?;
            /// subscriber.connect("inproc://welcome-doc")?;
            /// subscriber.subscribe("WELCOME");
            /// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
            /// assert_eq!(subscriber.recv_timeout(Duration::from_secs(5))?, "WELCOME");
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn set_welcome_msg(&mut self, welcome: Option<bytes::Bytes>) {
                if welcome.is_some() {
                    self.core.track_attached();
                }
                self.state.set_welcome(welcome);
            }

            /// The welcome message in force (libzmq's `ZMQ_XPUB_WELCOME_MSG`, which libzmq
            /// cannot read back). See [`Self::set_welcome_msg`].
            pub fn welcome_msg(&self) -> Option<&bytes::Bytes> {
                self.state.welcome()
            }

            /// Treats a message from a peer as subscription changes only when its first
            /// frame is one (libzmq 4.3.5's `ZMQ_ONLY_FIRST_SUBSCRIBE`, which libzmq's PUB
            /// takes too; default off): a message that starts with another frame is data
            /// in all its frames, even those that start with `01` or `00` (an XPUB passes
            /// it up, a PUB discards it). (libzmq's code, which ferromq follows, still
            /// reads the later frames as changes when the first frame is one.)
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::Context;
            ///
            /// let ctx = Context::new();
            #[doc = concat!("let mut publisher = ctx.", stringify!($ctor), "()?;")]
            /// publisher.set_only_first_subscribe(true);
            /// publisher.bind("inproc://first-doc")?;
            /// let mut xsub = ctx.xsubscriber()?;
            /// xsub.connect("inproc://first-doc")?;
            /// xsub.send(["data", "\x01not a subscription"])?;
            /// xsub.send("\x01news")?;
            /// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
            /// assert_eq!(publisher.topics_count(), 1); // "news" only
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn set_only_first_subscribe(&mut self, on: bool) {
                self.state.set_only_first(on);
            }

            /// Whether only a message's first frame decides whether it holds subscription
            /// changes (libzmq's `ZMQ_ONLY_FIRST_SUBSCRIBE`). See
            /// [`Self::set_only_first_subscribe`].
            pub fn only_first_subscribe(&self) -> bool {
                self.state.flags().2
            }
        }
    };
}

pub(crate) use publisher_common;

/// The publishing end of publish-subscribe: sends each message to every subscriber whose
/// subscriptions match the message's first frame.
///
/// A subscription is a prefix: `"weather."` matches `"weather.paris 21°"`, and the empty
/// subscription matches every message. Filtering happens here, on the publisher, so
/// messages nobody asked for never leave the process.
///
/// **A PUB never blocks.** When a subscriber's queue is at its high-water mark
/// ([`Pub::set_send_hwm`]), that subscriber loses the whole message (never a part of a
/// multipart one) and the others get theirs as usual; [`Pub::dropped`] counts such losses.
/// A message that no peer subscribed to is discarded, as in libzmq.
///
/// Subscriptions reach the publisher a little after the subscriber asks for them (the
/// "slow joiner"), so whatever is sent before they arrive is not delivered to that
/// subscriber. [`Pub::wait_for_subscribers`] waits until enough peers have subscribed.
///
/// A PUB has no receive: what peers send other than subscriptions is discarded.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut publisher = ctx.publisher()?;
/// publisher.bind("inproc://weather")?;
///
/// let mut subscriber = ctx.subscriber()?;
/// subscriber.connect("inproc://weather")?;
/// subscriber.subscribe("10001 ");
///
/// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
/// assert_eq!(publisher.send("10001 21 40")?, 1); // queued for the one subscriber
/// assert_eq!(publisher.send("75001 23 50")?, 0); // nobody subscribed to Paris
/// assert_eq!(subscriber.recv()?, "10001 21 40");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Pub {
    core: SocketCore,
    state: PubState,
}

/// A map keyed by peer, hashed with [`IdHasher`].
type IdMap<V> = HashMap<PeerId, V, BuildHasherDefault<IdHasher>>;

/// Hashes a [`PeerId`] with one multiplication. Peer ids are numbers this process hands
/// out in sequence, never chosen by a peer, so they need none of the protection against
/// chosen collisions that the standard SipHash buys; and a PUB looks up every peer's
/// subscriptions for every message it sends, where SipHash was 6 % of all instructions
/// of a fan-out to ten subscribers (callgrind).
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // An odd constant (2^64 / golden ratio) spreads sequential ids over the high bits
        // the table's control bytes use, and keeps the low bits distinct.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// What a PUB knows beyond its peers, shared by [`Pub`] and the dynamic
/// [`Socket`](crate::Socket): the driver functions take the socket's core.
#[derive(Debug, Default)]
pub(crate) struct PubState {
    /// What each peer is subscribed to. A peer without an entry has no subscription.
    /// Entries of departed peers are pruned by `forget_departed`.
    subscriptions: IdMap<Trie>,
    /// What each peer's subscriptions cost, for the per-peer bound; boxed to keep the
    /// socket small.
    limits: Box<Limits>,
    /// Copies of messages not queued because the subscriber's queue was full.
    dropped: u64,
    /// What an XPUB tells its application; `None` for a PUB. Boxed to keep a PUB small.
    upstream: Option<Box<Upstream>>,
    /// `ZMQ_INVERT_MATCHING`: a message goes to the peers whose subscriptions do *not*
    /// match it (a peer with no subscription at all matches nothing, so it gets all).
    invert: bool,
    /// `ZMQ_XPUB_NODROP`: when a peer the message is for is at its high-water mark, the
    /// send waits (or fails with `WouldBlock`) instead of dropping that peer's copy.
    nodrop: bool,
    /// `ZMQ_ONLY_FIRST_SUBSCRIBE`: a message whose first frame is not a subscription
    /// change is data in all its frames.
    only_first: bool,
    /// `ZMQ_XPUB_MANUAL` (XPUB only): subscriptions from peers are passed up, every one,
    /// but not applied; the application applies them to `last_peer`.
    manual: bool,
    /// `ZMQ_XPUB_MANUAL_LAST_VALUE` (with `manual`): the next message sent after a
    /// subscription was received goes to `last_peer` only.
    last_value: bool,
    /// Manual mode's bookkeeping; boxed to keep the socket small.
    hand: Box<Manual>,
    /// `ZMQ_XPUB_WELCOME_MSG` (PUB and XPUB, as in libzmq): written to every peer seen to
    /// attach while it is set.
    welcome: Option<Bytes>,
}

/// What an XPUB in manual mode keeps.
#[derive(Debug, Default)]
struct Manual {
    /// What each peer asked for (not applied): bounded as `subscriptions` are, and
    /// cancelled upstream when the peer goes away.
    asked: IdMap<Trie>,
    /// The peer the subscription change received last came from (libzmq's `_last_pipe`):
    /// what `subscribe`/`unsubscribe` apply to.
    last_peer: Option<PeerId>,
}

/// The per-peer subscription bound's bookkeeping (`Options::max_subscriptions`,
/// `max_subscription_bytes`).
#[derive(Debug, Default)]
struct Limits {
    /// Per peer with subscriptions: topic bytes held and refusals. Pruned with
    /// `subscriptions`.
    usage: IdMap<Usage>,
    /// Subscriptions refused, over all peers, since the socket was made.
    refused: u64,
}

/// What one peer's subscriptions cost, for the per-peer bound.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    /// Topic bytes of the distinct subscriptions held.
    bytes: usize,
    /// Subscriptions refused because the bound was reached.
    refused: u64,
}

/// The per-peer subscription bound, taken from the options at each read.
#[derive(Debug, Clone, Copy)]
struct Bound {
    count: usize,
    bytes: usize,
}

/// What an XPUB keeps beyond a PUB: enough to pass each subscription up once, and the
/// queue the application receives from.
#[derive(Debug, Default)]
struct Upstream {
    /// Every topic some peer is subscribed to, counted once per peer that holds it, so the
    /// first subscription and the last cancel across all peers can be told apart.
    topics: Trie,
    /// `ZMQ_XPUB_VERBOSE`: pass up every subscription, not only a topic's first.
    verbose_subs: bool,
    /// `ZMQ_XPUB_VERBOSER` (with `verbose_subs`): pass up every cancel too, not only a
    /// topic's last.
    verbose_cancels: bool,
    /// Subscription changes (`01`/`00` + topic) and other messages from peers, waiting for
    /// the application. At most the receive high-water mark (0: no limit): past it, peers'
    /// pipes are not read until the application receives.
    queue: VecDeque<Pending>,
}

/// One message waiting for an XPUB's application.
#[derive(Debug)]
struct Pending {
    msg: Message,
    /// In manual mode, a subscription change: receiving it makes `from` the peer that
    /// `subscribe`/`unsubscribe` apply to (`None` for the cancels of a departed peer).
    sets_last: bool,
    from: Option<PeerId>,
}

impl Upstream {
    fn deliver(&mut self, msg: Message, meta: Option<&Arc<Metadata>>) {
        self.push(msg, meta, false, None);
    }

    /// Delivers a subscription change of manual mode, from `from`.
    fn deliver_from(&mut self, msg: Message, meta: Option<&Arc<Metadata>>, from: Option<PeerId>) {
        self.push(msg, meta, true, from);
    }

    fn push(
        &mut self,
        mut msg: Message,
        meta: Option<&Arc<Metadata>>,
        sets_last: bool,
        from: Option<PeerId>,
    ) {
        msg.set_metadata(meta.cloned());
        self.queue.push_back(Pending {
            msg,
            sets_last,
            from,
        });
    }

    /// True when the queue holds `limit` messages (0: never).
    fn is_full(&self, limit: usize) -> bool {
        limit != 0 && self.queue.len() >= limit
    }
}

socket_common!(Pub);
crate::pattern::getters::conflate_option!(Pub, publisher);
crate::aio::async_send!(Pub, usize, send);

impl Pub {
    /// A new PUB socket in `ctx`, with no endpoints yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Pub> {
        Ok(Pub {
            core: SocketCore::new(ctx, SocketType::Pub),
            state: PubState::default(),
        })
    }

    /// Publishes a message to every peer subscribed to a prefix of its first frame, and
    /// returns how many peers it was queued to.
    ///
    /// Never blocks. A matching peer whose queue is at its high-water mark loses this
    /// message, whole, and [`Pub::dropped`] goes up by one for it; other peers are not
    /// affected. With no matching peer the message is discarded and the result is `0`.
    /// Subscriptions that arrived since the last call take effect before the message is
    /// routed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut publisher = ctx.publisher()?;
    /// publisher.bind("inproc://nobody-listens")?;
    /// // No subscriber: the message is discarded, not queued, and send does not block.
    /// assert_eq!(publisher.send(["topic", "payload"])?, 0);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only [`Error::EmptyMessage`](crate::Error::EmptyMessage), for a message with no
    /// frames, handed back in the [`SendError`]: a PUB neither blocks nor fails on a slow
    /// or missing subscriber.
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<usize, SendError> {
        let msg = crate::pattern::refuse_empty(msg.into())?;
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        self.state.send(&mut self.core, msg, wait)
    }

    /// Publishes without waiting: the same as [`Pub::send`] unless
    /// [`Pub::set_nodrop`] is on, when a full subscriber makes it fail at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut publisher = ctx.publisher()?;
    /// assert_eq!(publisher.try_send("nobody listens")?, 0);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Pub::send`], with [`Error::WouldBlock`](crate::Error::WouldBlock) in place of
    /// the wait.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<usize, SendError> {
        let msg = crate::pattern::refuse_empty(msg.into())?;
        self.state.send(&mut self.core, msg, Wait::Never)
    }
}

publisher_common!(Pub, publisher);

impl PubState {
    /// The state of an XPUB: a PUB's, plus the queue of what its application receives.
    pub(crate) fn xpub() -> PubState {
        PubState {
            upstream: Some(Box::default()),
            ..PubState::default()
        }
    }

    /// `ZMQ_XPUB_VERBOSE`: with `on`, every subscription is passed up, not only the first
    /// to a topic; cancels go back to being passed up only when last (as libzmq, which
    /// clears its verbose-unsubscribe flag here too). Does nothing for a PUB.
    pub(crate) fn set_verbose(&mut self, on: bool) {
        if let Some(up) = &mut self.upstream {
            up.verbose_subs = on;
            up.verbose_cancels = false;
        }
    }

    /// `(verbose subscriptions, verbose cancels)`: both false for a PUB.
    pub(crate) fn verbosity(&self) -> (bool, bool) {
        self.upstream
            .as_ref()
            .map_or((false, false), |up| (up.verbose_subs, up.verbose_cancels))
    }

    /// `ZMQ_XPUB_VERBOSER`: with `on`, every subscription and every cancel is passed up.
    /// Off turns both off. Does nothing for a PUB.
    pub(crate) fn set_verboser(&mut self, on: bool) {
        if let Some(up) = &mut self.upstream {
            up.verbose_subs = on;
            up.verbose_cancels = on;
        }
    }

    /// `ZMQ_INVERT_MATCHING`.
    pub(crate) fn set_invert(&mut self, on: bool) {
        self.invert = on;
    }

    /// `ZMQ_XPUB_NODROP`.
    pub(crate) fn set_nodrop(&mut self, on: bool) {
        self.nodrop = on;
    }

    /// `ZMQ_ONLY_FIRST_SUBSCRIBE`.
    pub(crate) fn set_only_first(&mut self, on: bool) {
        self.only_first = on;
    }

    /// `ZMQ_XPUB_MANUAL`; as libzmq, leaves the last-value setting as it was.
    pub(crate) fn set_manual(&mut self, on: bool) {
        self.manual = on;
    }

    /// `ZMQ_XPUB_MANUAL_LAST_VALUE`: manual mode, and last-value sends, both on or off.
    pub(crate) fn set_manual_last_value(&mut self, on: bool) {
        self.manual = on;
        self.last_value = on;
    }

    /// `ZMQ_XPUB_WELCOME_MSG` (an empty message is none, as in libzmq). The caller makes
    /// the core track the peers that attach.
    pub(crate) fn set_welcome(&mut self, welcome: Option<Bytes>) {
        self.welcome = welcome.filter(|w| !w.is_empty());
    }

    /// `(invert, nodrop, only first subscribe, manual, last value)`.
    pub(crate) fn flags(&self) -> (bool, bool, bool, bool, bool) {
        (
            self.invert,
            self.nodrop,
            self.only_first,
            self.manual,
            self.manual && self.last_value,
        )
    }

    /// The welcome message in force.
    pub(crate) fn welcome(&self) -> Option<&Bytes> {
        self.welcome.as_ref()
    }

    /// In manual mode, applies (`subscribe`) or takes back a subscription to `topic` for
    /// the peer the subscription change received last came from; false when there is no
    /// such peer (none received yet, or it went away), and then nothing happens, as in
    /// libzmq. The caller checks manual mode.
    pub(crate) fn apply_manual(
        &mut self,
        core: &mut SocketCore,
        subscribe: bool,
        topic: &[u8],
    ) -> bool {
        let Some(id) = self.hand.last_peer.filter(|id| core.peer(*id).is_some()) else {
            self.hand.last_peer = None;
            return false;
        };
        if subscribe {
            let trie = self.subscriptions.entry(id).or_default();
            if !trie.contains(topic) {
                trie.add(topic);
            }
        } else if let Some(trie) = self.subscriptions.get_mut(&id) {
            trie.remove(topic);
            if trie.is_empty() {
                self.subscriptions.remove(&id);
            }
        }
        true
    }

    /// `ZMQ_TOPICS_COUNT`: the distinct topics the connected peers are subscribed to
    /// (as applied), after taking in what arrived.
    pub(crate) fn topics_count(&mut self, core: &mut SocketCore) -> usize {
        let (departed, _) = self.take_subscriptions(core, false);
        if departed {
            self.forget_departed(core);
        }
        if let Some(up) = self.upstream.as_ref().filter(|_| !self.manual) {
            return up.topics.len();
        }
        let mut topics: HashSet<Vec<u8>> = HashSet::new();
        for trie in self.subscriptions.values() {
            trie.for_each(|t| {
                topics.insert(t.to_vec());
            });
        }
        topics.len()
    }

    /// For an XPUB: the next subscription change or message from a peer, in the order
    /// they were taken in.
    pub(crate) fn recv(&mut self, core: &mut SocketCore, wait: Wait) -> Result<Message> {
        loop {
            let (departed, drained) = self.take_subscriptions(core, true);
            if departed {
                self.forget_departed(core);
            }
            let Some(up) = &mut self.upstream else {
                return Err(Error::WrongState("PUB sockets cannot receive"));
            };
            if let Some(pending) = up.queue.pop_front() {
                if self.manual && pending.sets_last {
                    // libzmq's `_last_pipe`: a peer that is gone cannot be subscribed.
                    self.hand.last_peer = pending.from.filter(|id| core.peer(*id).is_some());
                }
                return Ok(pending.msg);
            }
            if drained {
                // Every pipe was read until empty and parked: the next message or peer
                // rings the signal.
                core.wait(wait)?;
            } else {
                match wait {
                    Wait::Never => return Err(Error::WouldBlock),
                    Wait::Until(Some(deadline)) if Instant::now() >= deadline => {
                        return Err(Error::TimedOut)
                    }
                    Wait::Until(_) => {}
                }
            }
        }
    }

    /// Poll readiness: an XPUB is readable when a subscription change or a message from a
    /// peer waits for the application. Looking takes in what the peers sent, reading each
    /// pipe until empty, which parks it. Always writable (sending never blocks), except
    /// with `ZMQ_XPUB_NODROP` while a peer that could be sent to is full: that pipe is
    /// parked, so room appearing rings the socket.
    pub(crate) fn poll_ready(&mut self, core: &mut SocketCore, interest: Interest) -> Interest {
        let readable = interest.is_readable() && self.upstream.is_some() && {
            let (departed, _) = self.take_subscriptions(core, true);
            if departed {
                self.forget_departed(core);
            }
            self.upstream
                .as_ref()
                .is_some_and(|up| !up.queue.is_empty())
        };
        let writable = interest.is_writable() && {
            if self.nodrop {
                let (departed, _) = self.take_subscriptions(core, false);
                if departed {
                    self.forget_departed(core);
                }
                // Not knowing the next message's topic, a peer counts when it could take
                // some message: it has a subscription, or matching is inverted.
                !core.peers.iter().any(|p| {
                    (self.invert || self.subscriptions.contains_key(&p.id))
                        && !p.tx.is_closed()
                        && p.tx.is_full()
                })
            } else {
                true
            }
        };
        Interest::from_flags(readable, writable)
    }

    /// True when the peer `id` is to get a message on `topic`: it subscribed to a prefix of
    /// it (or, inverted, did not), and it is `only` when that is set.
    fn wants(&self, id: PeerId, topic: &[u8], only: Option<PeerId>) -> bool {
        if only.is_some_and(|o| o != id) {
            return false;
        }
        let matches = self
            .subscriptions
            .get(&id)
            .is_some_and(|t| t.matches(topic));
        matches != self.invert
    }

    /// Routes one message to the subscribed peers; returns how many took it.
    ///
    /// A peer whose queue is full loses its copy, counted in `dropped`; with
    /// `ZMQ_XPUB_NODROP` the send instead waits, as `wait` allows, until every peer the
    /// message is for has room, and fails with the message handed back when the wait ends
    /// (`WouldBlock`, `TimedOut`). With `ZMQ_XPUB_MANUAL_LAST_VALUE`, the first message
    /// sent after a subscription change was received goes to the peer it came from only.
    pub(crate) fn send(
        &mut self,
        core: &mut SocketCore,
        msg: Message,
        wait: Wait,
    ) -> Result<usize, SendError> {
        let only = if self.manual && self.last_value {
            self.hand.last_peer.take()
        } else {
            None
        };
        loop {
            let (mut departed, _) = self.take_subscriptions(core, false);
            let topic = topic(&msg);
            if self.nodrop {
                let blocked = core
                    .peers
                    .iter()
                    .any(|p| self.wants(p.id, topic, only) && !p.tx.is_closed() && p.tx.is_full());
                if blocked {
                    if departed {
                        self.forget_departed(core);
                    }
                    // `is_full` parked each full pipe: its reader's next credit rings us.
                    if let Err(e) = core.wait(wait) {
                        if self.hand.last_peer.is_none() {
                            self.hand.last_peer = only;
                        }
                        return Err(SendError::new(e, msg));
                    }
                    continue;
                }
            }
            let mut queued = 0;
            for peer in &core.peers {
                if !self.wants(peer.id, topic, only) {
                    continue;
                }
                match peer.tx.try_write(msg.clone()) {
                    Ok(()) => queued += 1,
                    Err(WriteError::Full(_)) => self.dropped += 1,
                    Err(WriteError::Closed(_)) => departed = true,
                }
            }
            if departed {
                self.forget_departed(core);
            }
            return Ok(queued);
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Subscriptions refused past the per-peer bound since the socket was made.
    pub(crate) fn refused_subscriptions(&mut self, core: &mut SocketCore) -> u64 {
        let (departed, _) = self.take_subscriptions(core, false);
        if departed {
            self.forget_departed(core);
        }
        self.limits.refused
    }

    /// How many connected peers have at least one subscription.
    pub(crate) fn subscriber_count(&mut self, core: &mut SocketCore) -> usize {
        let (departed, _) = self.take_subscriptions(core, false);
        if departed {
            self.forget_departed(core);
        }
        self.count_subscribers(core)
    }

    /// Waits until `n` connected peers have subscribed, at most `timeout`.
    pub(crate) fn wait_for_subscribers(
        &mut self,
        core: &mut SocketCore,
        n: usize,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let (departed, drained) = self.take_subscriptions(core, true);
            if departed {
                self.forget_departed(core);
            }
            if self.count_subscribers(core) >= n {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::TimedOut);
            }
            // Every pipe was read until empty, which parks its reader: the next
            // subscription, peer or departure rings the socket's signal.
            if drained {
                core.wait(Wait::Until(deadline))?;
            }
        }
    }

    /// Applies the subscriptions queued by every peer, after taking in new peers.
    ///
    /// Reads at most what each pipe held when it was looked at (plus one), so a peer that
    /// floods the socket cannot keep it here. Returns whether some peer was seen to be
    /// gone, and whether every pipe was read until empty.
    ///
    /// With `park`, every pipe is read until it says empty, which parks its reader so the
    /// next message rings the socket's signal (for a caller about to wait). Without it, an
    /// empty pipe costs two atomic loads, which keeps `send` cheap with many quiet peers.
    fn take_subscriptions(&mut self, core: &mut SocketCore, park: bool) -> (bool, bool) {
        core.process_mailbox();
        // An XPUB, and a PUB once given a welcome message, tracks the peers that attach,
        // for the welcome message (libzmq writes it as the pipe attaches, before anything
        // is published to it). Without tracking, this takes nothing and allocates nothing.
        let attached = core.take_attached();
        if let Some(welcome) = &self.welcome {
            for id in attached {
                if let Some(peer) = core.peer(id) {
                    let _ = peer.tx.try_write(Message::from(welcome.clone()));
                }
            }
        }
        let limit = core.options.recv_hwm;
        let bound = Bound {
            count: core.options.max_subscriptions.unwrap_or(usize::MAX),
            bytes: core.options.max_subscription_bytes.unwrap_or(usize::MAX),
        };
        let mut departed = false;
        let mut drained = true;
        'peers: for peer in &core.peers {
            if !park && peer.rx.seems_empty() {
                departed |= peer.rx.is_writer_closed();
                continue;
            }
            let mut budget = peer.rx.len() + 1;
            loop {
                if self.upstream.as_ref().is_some_and(|up| up.is_full(limit)) {
                    // The application must receive before more is read; what waits in the
                    // pipes pushes back on the peers. A wait sleeps until its deadline.
                    break 'peers;
                }
                if budget == 0 {
                    drained = false;
                    break;
                }
                budget -= 1;
                match peer.rx.try_read() {
                    Ok(msg) => {
                        if let Some(refusal) = self.take_in(peer.id, &peer.meta, &msg, bound) {
                            core.emit(|| MonitorEvent::SubscriptionsRefused {
                                endpoint: peer.endpoint.as_deref().map_or_else(
                                    || {
                                        peer.meta
                                            .local_address
                                            .clone()
                                            .unwrap_or_else(|| "inproc".into())
                                    },
                                    str::to_owned,
                                ),
                                peer_address: peer.meta.peer_address.clone(),
                                refused: refusal.refused,
                                held: refusal.held,
                                held_bytes: refusal.held_bytes,
                            });
                        }
                    }
                    Err(ReadError::Empty) => break,
                    Err(ReadError::Closed) => {
                        departed = true;
                        break;
                    }
                }
            }
        }
        // An XPUB must pass up the cancels of a peer that `peer_count` let go of
        // without us seeing its pipe close.
        if self.upstream.is_some()
            && (self.subscriptions.len() > self.count_subscribers(core)
                || self.hand.asked.len() > count_holders(core, &self.hand.asked))
        {
            departed = true;
        }
        (departed, drained)
    }

    /// Applies one message from a peer. Every frame that starts with `01` subscribes the
    /// peer to the rest of it and every frame that starts with `00` cancels, as libzmq's
    /// XPUB reads them (it looks at every frame unless `ZMQ_ONLY_FIRST_SUBSCRIBE` is set).
    /// A PUB discards the other frames; an XPUB passes them up, in order, as one message.
    ///
    /// A peer's subscriptions form a set: subscribing twice to a topic and cancelling once
    /// removes it. That is what libzmq's publishers do, and what its subscribers expect: a
    /// libzmq SUB sends SUBSCRIBE on every `ZMQ_SUBSCRIBE` but CANCEL only when its own
    /// count for the topic reaches zero. The counting belongs to the subscriber.
    ///
    /// A new subscription that would take the peer past `bound` (distinct subscriptions,
    /// or their topic bytes) is refused: not held, not passed up, counted. Returns what to
    /// report when this message brought the peer's refusals to a power of two.
    fn take_in(
        &mut self,
        peer: PeerId,
        meta: &Arc<Metadata>,
        msg: &Message,
        bound: Bound,
    ) -> Option<Refusal> {
        let mut other = Message::new();
        let mut report = None;
        let manual = self.manual;
        let mut process = true;
        for (i, frame) in msg.iter().enumerate() {
            let change = if process {
                subscription_change(frame)
            } else {
                None
            };
            if i == 0 {
                // libzmq's `_process_subscribe`: with ZMQ_ONLY_FIRST_SUBSCRIBE, a message
                // that does not start with a subscription change is data all through.
                process = !self.only_first || change.is_some();
            }
            // In manual mode what peers ask for is held apart, not applied.
            let held_map = if manual {
                &mut self.hand.asked
            } else {
                &mut self.subscriptions
            };
            match change {
                Some((true, topic)) => {
                    let trie = held_map.entry(peer).or_default();
                    let new_for_peer = !trie.contains(topic);
                    if new_for_peer {
                        let usage = self.limits.usage.entry(peer).or_default();
                        let bytes = usage.bytes.saturating_add(topic.len());
                        if trie.len() >= bound.count || bytes > bound.bytes {
                            usage.refused = usage.refused.saturating_add(1);
                            self.limits.refused = self.limits.refused.saturating_add(1);
                            if usage.refused.is_power_of_two() {
                                report = Some(Refusal {
                                    refused: usage.refused,
                                    held: trie.len(),
                                    held_bytes: usage.bytes,
                                });
                            }
                            if trie.is_empty() {
                                held_map.remove(&peer);
                            }
                            continue;
                        }
                        usage.bytes = bytes;
                        trie.add(topic);
                    }
                    if let Some(up) = &mut self.upstream {
                        if manual {
                            // Every one, for the application to decide on.
                            let msg = Message::from(frame.clone());
                            up.deliver_from(msg, Some(meta), Some(peer));
                        } else {
                            // libzmq passes up the first subscription to a topic across
                            // all peers, or every one when verbose.
                            let first = new_for_peer && up.topics.add(topic);
                            if first || up.verbose_subs {
                                up.deliver(Message::from(frame.clone()), Some(meta));
                            }
                        }
                    }
                }
                Some((false, topic)) => {
                    let mut held = false;
                    if let Some(trie) = held_map.get_mut(&peer) {
                        held = trie.remove(topic);
                        if held {
                            if let Some(usage) = self.limits.usage.get_mut(&peer) {
                                usage.bytes = usage.bytes.saturating_sub(topic.len());
                            }
                        }
                        if trie.is_empty() {
                            held_map.remove(&peer);
                        }
                    }
                    if let Some(up) = &mut self.upstream {
                        if manual {
                            let msg = Message::from(frame.clone());
                            up.deliver_from(msg, Some(meta), Some(peer));
                        } else {
                            // libzmq holds back only a cancel that leaves other peers on
                            // the topic; a cancel of a topic the peer did not hold is
                            // passed up.
                            let others_remain = held && !up.topics.remove(topic);
                            if !others_remain || up.verbose_cancels {
                                up.deliver(Message::from(frame.clone()), Some(meta));
                            }
                        }
                    }
                }
                None => {
                    if self.upstream.is_some() {
                        other.push(frame.clone());
                    }
                }
            }
        }
        if let Some(up) = &mut self.upstream {
            if !other.is_empty() {
                up.deliver(other, Some(meta));
            }
        }
        report
    }

    /// Drops the peers whose connection is gone, and their subscriptions.
    ///
    /// An XPUB passes up a cancel for each topic of theirs that no peer holds any more (for
    /// every topic of theirs when verboser), as libzmq does when a pipe terminates. These
    /// cancels carry no metadata.
    fn forget_departed(&mut self, core: &mut SocketCore) {
        core.peer_count();
        let live: HashSet<PeerId> = core.peers.iter().map(|p| p.id).collect();
        self.limits.usage.retain(|id, _| live.contains(id));
        if self.hand.last_peer.is_some_and(|id| !live.contains(&id)) {
            self.hand.last_peer = None;
        }
        let Some(up) = &mut self.upstream else {
            self.subscriptions.retain(|id, _| live.contains(id));
            return;
        };
        // Manual mode: what a departed peer had asked for is cancelled upstream, every
        // topic of it (libzmq's `_manual_subscriptions`); what the application applied
        // for it goes silently.
        let mut gone: Vec<PeerId> = self
            .hand
            .asked
            .keys()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        gone.sort_unstable();
        for id in gone {
            if let Some(trie) = self.hand.asked.remove(&id) {
                trie.for_each(|topic| {
                    up.deliver_from(Message::subscription(false, topic), None, None);
                });
            }
        }
        if self.manual {
            self.subscriptions.retain(|id, _| live.contains(id));
            return;
        }
        let mut gone: Vec<PeerId> = self
            .subscriptions
            .keys()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        gone.sort_unstable(); // oldest peer first, so the cancels come in a stable order
        for id in gone {
            let Some(trie) = self.subscriptions.remove(&id) else {
                continue;
            };
            trie.for_each(|topic| {
                let last = up.topics.remove(topic);
                if last || up.verbose_cancels {
                    up.deliver(Message::subscription(false, topic), None);
                }
            });
        }
    }

    fn count_subscribers(&self, core: &SocketCore) -> usize {
        count_holders(core, &self.subscriptions)
    }
}

/// How many attached peers have an entry in `map`.
fn count_holders(core: &SocketCore, map: &IdMap<Trie>) -> usize {
    if map.is_empty() {
        return 0;
    }
    core.peers
        .iter()
        .filter(|p| map.contains_key(&p.id))
        .count()
}

/// A frame that starts with `01` (subscribe) or `00` (cancel): whether it subscribes, and
/// the topic.
fn subscription_change(frame: &[u8]) -> Option<(bool, &[u8])> {
    match frame.split_first() {
        Some((&1, topic)) => Some((true, topic)),
        Some((&0, topic)) => Some((false, topic)),
        _ => None,
    }
}

/// What `take_in` hands back for the monitor when a peer's refusals reach a power of two.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    refused: u64,
    held: usize,
    held_bytes: usize,
}

/// What subscriptions are matched against: the message's first frame (empty when the
/// message has no frame).
fn topic(msg: &Message) -> &[u8] {
    msg.first().map_or(&[], |f| &f[..])
}

/// The subscribing end of publish-subscribe: receives the messages of its PUB peers whose
/// first frame starts with one of its subscriptions.
///
/// A new SUB is subscribed to nothing and receives nothing; [`Sub::subscribe`] adds a
/// topic prefix (the empty prefix means everything). Subscriptions are counted, as in
/// libzmq: subscribing twice to a topic takes two [`Sub::unsubscribe`] calls to undo.
///
/// The SUB sends its subscriptions to every publisher it is connected to, and the whole
/// set again to every publisher that connects or reconnects later, so a subscriber never
/// goes deaf after a publisher restarts. It also checks every message it receives against
/// its own subscriptions, so messages that were in flight when a topic was unsubscribed,
/// or that a misbehaving publisher sends unasked, are not delivered.
///
/// A SUB cannot send; its messages flow one way:
///
/// ```compile_fail
/// let ctx = ferromq::Context::new();
/// let mut sub = ctx.subscriber().unwrap();
/// sub.send("no such thing");
/// ```
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut subscriber = ctx.subscriber()?;
/// subscriber.bind("inproc://news")?;
/// subscriber.subscribe("sport.");
///
/// let mut publisher = ctx.publisher()?;
/// publisher.connect("inproc://news")?;
/// // The subscriptions are the first thing a new publisher hears from the subscriber.
///
/// publisher.send(["sport.tennis", "6-4 6-3"])?;
/// publisher.send(["politics", "..."])?;
/// let msg = subscriber.recv()?;
/// assert_eq!(&msg[0][..], b"sport.tennis");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Sub {
    core: SocketCore,
    state: SubState,
}

/// What a SUB knows beyond its peers, shared by [`Sub`] and the dynamic
/// [`Socket`](crate::Socket). The socket's core must track attached peers.
#[derive(Debug, Default)]
pub(crate) struct SubState {
    /// This socket's subscriptions, counted.
    subscriptions: Trie,
    /// An XSUB's: deliver every message, whatever its topic. libzmq's XSUB does not
    /// filter what it receives (only its SUB turns `options.filter` on).
    unfiltered: bool,
    /// A matching message a poll took in to be sure the socket is readable; the next
    /// receive returns it first.
    polled: Option<Message>,
    /// `ZMQ_INVERT_MATCHING` (SUB): deliver the messages that match no subscription.
    invert: bool,
    /// `ZMQ_ONLY_FIRST_SUBSCRIBE` (XSUB): a message sent whose first frame is not a
    /// subscription change goes upstream as data in all its frames.
    only_first: bool,
}

socket_common!(Sub);
crate::pattern::getters::conflate_option!(Sub, subscriber);

impl Sub {
    /// A new SUB socket in `ctx`, with no endpoints and no subscriptions yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Sub> {
        let mut core = SocketCore::new(ctx, SocketType::Sub);
        core.track_attached();
        Ok(Sub {
            core,
            state: SubState::default(),
        })
    }

    /// Subscribes to messages whose first frame starts with `topic`; the empty topic
    /// subscribes to everything.
    ///
    /// The subscription is sent to every connected publisher at once, every time, as
    /// libzmq's SUB does (a publisher holds it once; an XPUB with
    /// [`set_verbose`](crate::XPub::set_verbose) passes up each repeat). Repeats are
    /// counted here: the cancel goes out only with the last [`Sub::unsubscribe`]. Never blocks: a publisher whose queue from
    /// this socket is full ([`Sub::set_send_hwm`]) misses the subscription, as in
    /// libzmq, until it reconnects.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut subscriber = ctx.subscriber()?;
    /// subscriber.subscribe("A");
    /// subscriber.subscribe("A");
    /// assert!(!subscriber.unsubscribe("A")); // one subscription to "A" is left
    /// assert!(subscriber.unsubscribe("A"));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn subscribe(&mut self, topic: impl AsRef<[u8]>) {
        self.state.subscribe(&mut self.core, topic.as_ref());
    }

    /// Takes back one [`Sub::subscribe`] of `topic`. Returns true when that was the last
    /// one, so the topic is no longer subscribed and the publishers are told to stop
    /// sending it; false when subscriptions to it remain, or there were none (then
    /// nothing happens).
    ///
    /// Never blocks; like a subscription, a cancel is lost for a publisher whose queue
    /// from this socket is full. Messages on the topic that are already on their way are
    /// discarded on arrival.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut subscriber = ctx.subscriber()?;
    /// assert!(!subscriber.unsubscribe("never subscribed"));
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn unsubscribe(&mut self, topic: impl AsRef<[u8]>) -> bool {
        self.state.unsubscribe(&mut self.core, topic.as_ref())
    }

    /// Receives the next message that matches a subscription, waiting up to the receive
    /// timeout (forever by default). Messages are taken from the publishers in turn
    /// (fair-queued). The message's [`metadata`](Message::metadata) tells which
    /// connection it came on.
    ///
    /// While it waits, the socket sends its subscriptions to publishers that connect.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        self.state.recv(&mut self.core, wait)
    }

    /// Delivers the messages that match **none** of the subscriptions (libzmq's
    /// `ZMQ_INVERT_MATCHING`, default off). The subscriptions still go to the publishers
    /// as usual, so a publisher must invert too
    /// ([`Pub::set_invert_matching`]), or it sends only what matches, which this socket
    /// then drops.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::new();
    /// let mut publisher = ctx.publisher()?;
    /// publisher.set_invert_matching(true);
    /// publisher.bind("inproc://sub-invert-doc")?;
    /// let mut subscriber = ctx.subscriber()?;
    /// subscriber.set_invert_matching(true);
    /// assert!(subscriber.invert_matching());
    /// subscriber.connect("inproc://sub-invert-doc")?;
    /// subscriber.subscribe("debug.");
    /// publisher.wait_for_subscribers(1, Duration::from_secs(5))?;
    /// publisher.send("debug.trace")?;
    /// publisher.send("error.disk")?;
    /// assert_eq!(subscriber.recv_timeout(Duration::from_secs(5))?, "error.disk");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn set_invert_matching(&mut self, invert: bool) {
        self.state.set_invert(invert);
    }

    /// Whether matching is inverted (libzmq's `ZMQ_INVERT_MATCHING`). See
    /// [`Sub::set_invert_matching`].
    pub fn invert_matching(&self) -> bool {
        self.state.flags().0
    }

    /// How many distinct topics this socket is subscribed to (libzmq 4.3.5's
    /// `ZMQ_TOPICS_COUNT`); a topic subscribed to twice counts once.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::new();
    /// let mut subscriber = ctx.subscriber()?;
    /// subscriber.subscribe("a");
    /// subscriber.subscribe("a");
    /// subscriber.subscribe("b");
    /// assert_eq!(subscriber.topics_count(), 2);
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn topics_count(&self) -> usize {
        self.state.topics_count()
    }
}

state_recv_variants!(Sub, subscriber);
crate::aio::async_recv!(Sub, subscriber);

impl SubState {
    /// The state of an XSUB: no subscription, and no filtering on receive.
    pub(crate) fn xsub() -> SubState {
        SubState {
            unfiltered: true,
            ..SubState::default()
        }
    }

    /// `ZMQ_INVERT_MATCHING`. An XSUB does not filter, so it changes nothing there, as in
    /// libzmq.
    pub(crate) fn set_invert(&mut self, on: bool) {
        self.invert = on;
    }

    /// `ZMQ_ONLY_FIRST_SUBSCRIBE`.
    pub(crate) fn set_only_first(&mut self, on: bool) {
        self.only_first = on;
    }

    /// `(invert, only first subscribe)`.
    pub(crate) fn flags(&self) -> (bool, bool) {
        (self.invert, self.only_first)
    }

    /// `ZMQ_TOPICS_COUNT`: the distinct topics subscribed to.
    pub(crate) fn topics_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// True when `msg` is to be delivered: it matches a subscription (or, inverted, none),
    /// or the socket does not filter.
    fn wants(&self, msg: &Message) -> bool {
        self.unfiltered || self.subscriptions.matches(topic(msg)) != self.invert
    }

    /// An XSUB's send: every frame that starts with `01` adds a subscription to the rest of
    /// it and goes out; every frame that starts with `00` takes one back and goes out only
    /// when it was the last one; any other frame goes out as it is. What goes out is sent
    /// to every peer (as one message, frames in order); a peer whose queue is full misses
    /// it. Returns how many peers took it.
    ///
    /// That is libzmq 4.3's `xsub_t::xsend`: subscriptions are forwarded every time (an XPUB
    /// upstream with `ZMQ_XPUB_VERBOSE` must see repeats), cancels only for the last one, and
    /// the rest upstream unchanged.
    pub(crate) fn forward(&mut self, core: &mut SocketCore, msg: Message) -> usize {
        // Under the subscription lock: peers attached before it heard the old set from
        // whoever attached them, and are taken in to hear the change; later ones will
        // hear the new set.
        let shared = core.shared();
        let mut set = shared.subscriptions();
        core.process_mailbox();
        self.greet_new_peers(core);
        let only_first = self.only_first;
        let mut process = true;
        let keep: SmallVec<[bool; 4]> = msg
            .iter()
            .enumerate()
            .map(|(i, frame)| {
                let change = if process {
                    subscription_change(frame)
                } else {
                    None
                };
                if i == 0 {
                    // libzmq's `_process_subscribe`, as on the XPUB side.
                    process = !only_first || change.is_some();
                }
                change
            })
            .collect::<SmallVec<[Option<(bool, &[u8])>; 4]>>()
            .into_iter()
            .map(|change| match change {
                Some((true, topic)) => {
                    if self.subscriptions.add(topic) {
                        if let Some(set) = set.as_mut() {
                            set.insert(topic.to_vec());
                        }
                    }
                    true
                }
                Some((false, topic)) => {
                    let last = self.subscriptions.remove(topic);
                    if last {
                        if let Some(set) = set.as_mut() {
                            set.remove(topic);
                        }
                    }
                    last
                }
                _ => true,
            })
            .collect();
        let msg = if keep.iter().all(|&k| k) {
            msg
        } else {
            let frames = msg.into_frames().into_iter().zip(keep);
            Message::multipart(frames.filter_map(|(frame, k)| k.then_some(frame)))
        };
        if msg.is_empty() {
            return 0;
        }
        Self::tell_peers(core, &msg)
    }

    /// Adds one subscription to `topic` and tells every peer, each time: libzmq 4.x's SUB
    /// sends every subscription (its XSUB does), and leaves it to an XPUB upstream to pass
    /// up only the first unless it is verbose.
    ///
    /// Done under the socket's subscription lock, as `forward` is.
    pub(crate) fn subscribe(&mut self, core: &mut SocketCore, topic: &[u8]) {
        let shared = core.shared();
        let mut set = shared.subscriptions();
        core.process_mailbox();
        self.greet_new_peers(core);
        if self.subscriptions.add(topic) {
            if let Some(set) = set.as_mut() {
                set.insert(topic.to_vec());
            }
        }
        Self::tell_peers(core, &Message::subscription(true, topic));
    }

    /// Takes back one subscription to `topic`; true when it was the last one.
    pub(crate) fn unsubscribe(&mut self, core: &mut SocketCore, topic: &[u8]) -> bool {
        let shared = core.shared();
        let mut set = shared.subscriptions();
        core.process_mailbox();
        self.greet_new_peers(core);
        let removed = self.subscriptions.remove(topic);
        if removed {
            if let Some(set) = set.as_mut() {
                set.remove(topic);
            }
            Self::tell_peers(core, &Message::subscription(false, topic));
        }
        removed
    }

    /// Receives the next message that matches a subscription.
    pub(crate) fn recv(&mut self, core: &mut SocketCore, wait: Wait) -> Result<Message> {
        if let Some(msg) = self.polled.take() {
            return Ok(msg);
        }
        let mut discarded: usize = 0;
        loop {
            self.greet_new_peers(core);
            match core.recv_fair(Wait::Never) {
                Ok((_, msg)) => {
                    if self.wants(&msg) {
                        return Ok(msg);
                    }
                    // Not ours: drop it, but keep to the deadline even if such messages
                    // keep coming, and let a non-blocking call return after
                    // `DISCARD_BUDGET` of them (the same bound as the poll's look-ahead).
                    discarded = discarded.saturating_add(1);
                    match wait {
                        Wait::Until(Some(deadline)) if Instant::now() >= deadline => {
                            return Err(Error::TimedOut);
                        }
                        Wait::Never if discarded >= DISCARD_BUDGET => {
                            return Err(Error::WouldBlock);
                        }
                        _ => {}
                    }
                }
                // Every pipe was found empty and parked: a message or a new peer rings
                // the signal.
                Err(Error::WouldBlock) => core.wait(wait)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Forgets which peers attached since the last call: whoever attached them (the I/O
    /// thread, or the inproc registry) already wrote the subscription set into their pipes
    /// (`SocketShared::attach`), without waiting for this socket's thread.
    pub(crate) fn greet_new_peers(&self, core: &mut SocketCore) {
        let _ = core.take_attached();
    }

    /// Sends one message (a subscription change, or what an XSUB forwards) to every peer,
    /// dropping it for peers that are full; returns how many took it. A closed pipe is left
    /// for `recv` to notice.
    fn tell_peers(core: &SocketCore, msg: &Message) -> usize {
        core.peers
            .iter()
            .filter(|peer| peer.tx.try_write(msg.clone()).is_ok())
            .count()
    }
}

impl Context {
    /// A new PUB socket; see [`Pub`].
    ///
    /// # Errors
    ///
    /// As [`Pub::new`].
    pub fn publisher(&self) -> Result<Pub> {
        Pub::new(self)
    }

    /// A new SUB socket; see [`Sub`].
    ///
    /// # Errors
    ///
    /// As [`Sub::new`].
    pub fn subscriber(&self) -> Result<Sub> {
        Sub::new(self)
    }
}

impl crate::poll::sealed::Sealed for Pub {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    /// A PUB never blocks on send, so it is always writable, and never readable.
    fn poll_ready(&mut self, interest: Interest) -> Interest {
        self.state.poll_ready(&mut self.core, interest)
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        self.state.send(&mut self.core, msg, Wait::Never).map(drop)
    }
}

impl SubState {
    /// Poll readiness: sends the subscriptions to new peers first (a SUB that is only
    /// polled must still subscribe), then readable when a *matching* message is there. To
    /// know, it takes messages in, drops those that do not match (as a receive would) and
    /// keeps the first that does for the next receive, as libzmq's SUB does; a pipe found
    /// empty is parked, so the next message rings the socket.
    pub(crate) fn poll_ready(&mut self, core: &mut SocketCore, interest: Interest) -> Interest {
        self.greet_new_peers(core);
        if !interest.is_readable() {
            return Interest::NONE;
        }
        if self.polled.is_none() {
            // Bounded, so a flood of unmatched messages cannot keep a poll here.
            for _ in 0..DISCARD_BUDGET {
                match core.recv_fair(Wait::Never) {
                    Ok((_, msg)) if self.wants(&msg) => {
                        self.polled = Some(msg);
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        Interest::from_flags(self.polled.is_some(), false)
    }
}

impl crate::poll::sealed::Sealed for Sub {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        self.state.poll_ready(&mut self.core, interest)
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        self.state.recv(&mut self.core, Wait::Never)
    }
}
