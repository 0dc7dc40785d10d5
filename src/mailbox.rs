//! The mailbox: what the I/O threads and the inproc registry tell a socket, and the
//! part of a socket they may hold to tell it.
//!
//! Below the engine and the sockets, so the engine can attach peers and hand back
//! messages without knowing anything of the socket that will take them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crossbeam_channel::{Receiver, Sender};

use crate::message::{Message, Metadata};
use crate::monitor::{Monitor, MonitorEvent};
use crate::pipe::{PipeReader, PipeWriter};
use crate::socket_type::SocketType;
use crate::wake::Signal;

/// Identifies one peer of one socket for as long as the connection lasts.
pub(crate) type PeerId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique id, for sockets and peers.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The part of a socket that other threads may hold: how to reach its caller.
#[derive(Debug)]
pub(crate) struct SocketShared {
    pub(crate) id: u64,
    pub(crate) socket_type: SocketType,
    pub(crate) signal: Arc<Signal>,
    mailbox: Sender<SocketEvent>,
    /// Set by a poster after each event it sends to the mailbox, cleared by the socket
    /// before it empties the mailbox. The socket looks at its mailbox on every send and
    /// receive; this lets it skip the channel, whose empty check costs a full memory
    /// fence, when nothing was posted.
    mail: AtomicBool,
    /// Where monitor events go, once `monitor()` was called.
    monitor: Mutex<Option<Sender<MonitorEvent>>>,
    /// Set when the socket is dropped: the I/O thread ignores any command of its that
    /// comes later, with no list of closed sockets to keep.
    closed: AtomicBool,
    /// A SUB's or XSUB's distinct subscriptions (`None` for other sockets). Whoever
    /// attaches a peer ([`SocketShared::attach`]) writes them into the peer's pipe first,
    /// under this lock, and posts the peer before letting go; the socket changes them
    /// under the same lock, taking in posted peers and telling every peer it holds. So
    /// each peer hears each subscription once, without the application's thread.
    subscriptions: Mutex<Option<BTreeSet<Vec<u8>>>>,
    /// The socket's high-water marks and `ZMQ_CONFLATE` as they are now, read by whoever
    /// makes a peer's pipes (the I/O thread, the inproc registry), so a change applies
    /// to every later peer whatever endpoint it comes on.
    send_hwm: AtomicUsize,
    recv_hwm: AtomicUsize,
    conflate: AtomicBool,
}

/// The locked subscription set of a SUB or XSUB; see [`SocketShared::subscriptions`].
pub(crate) type Subscriptions<'a> = MutexGuard<'a, Option<BTreeSet<Vec<u8>>>>;

impl SocketShared {
    /// A new socket's shared half, with the receiving end of its mailbox. `spin`: whether
    /// a caller's blocking wait spins before it sleeps (the context's setting).
    pub(crate) fn new(
        socket_type: SocketType,
        spin: bool,
    ) -> (Arc<SocketShared>, Receiver<SocketEvent>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(SocketShared {
            id: next_id(),
            socket_type,
            signal: Arc::new(Signal::new(spin)),
            mailbox: tx,
            mail: AtomicBool::new(false),
            monitor: Mutex::new(None),
            closed: AtomicBool::new(false),
            subscriptions: Mutex::new(
                matches!(socket_type, SocketType::Sub | SocketType::XSub).then(BTreeSet::new),
            ),
            send_hwm: AtomicUsize::new(crate::options::DEFAULT_HWM),
            recv_hwm: AtomicUsize::new(crate::options::DEFAULT_HWM),
            conflate: AtomicBool::new(false),
        });
        (shared, rx)
    }

    /// True if an event was posted since the last call: only then is the mailbox worth
    /// a look. An event whose poster has not yet raised the flag is seen by a later call:
    /// the poster rings the signal after raising it, so no waiter misses the event.
    pub(crate) fn take_mail(&self) -> bool {
        self.mail.load(Ordering::Relaxed) && self.mail.swap(false, Ordering::Acquire)
    }

    /// The send high-water mark in force (0: no limit).
    pub(crate) fn send_hwm(&self) -> usize {
        self.send_hwm.load(Ordering::SeqCst)
    }

    /// The receive high-water mark in force (0: no limit).
    pub(crate) fn recv_hwm(&self) -> usize {
        self.recv_hwm.load(Ordering::SeqCst)
    }

    /// Records the high-water marks for later peers.
    pub(crate) fn set_hwms(&self, send: usize, recv: usize) {
        self.send_hwm.store(send, Ordering::SeqCst);
        self.recv_hwm.store(recv, Ordering::SeqCst);
    }

    /// Records `ZMQ_CONFLATE` for later peers.
    pub(crate) fn set_conflate(&self, on: bool) {
        self.conflate.store(on, Ordering::SeqCst);
    }

    /// Whether the pipe to a new peer conflates: `ZMQ_CONFLATE` is on and this type's
    /// messages go out that way (PUB, PUSH, DEALER). A SUB's outgoing pipe carries its
    /// subscriptions, which must all arrive, so it never conflates; libzmq conflates both
    /// pipes of every peer and can lose subscriptions so.
    pub(crate) fn conflate_out(&self) -> bool {
        self.conflate.load(Ordering::SeqCst)
            && matches!(
                self.socket_type,
                SocketType::Pub | SocketType::Push | SocketType::Dealer
            )
    }

    /// Whether the pipe from a new peer conflates: `ZMQ_CONFLATE` is on and this type
    /// receives messages that way (SUB, PULL, DEALER); a PUB's incoming pipe carries
    /// subscriptions and never conflates.
    pub(crate) fn conflate_in(&self) -> bool {
        self.conflate.load(Ordering::SeqCst)
            && matches!(
                self.socket_type,
                SocketType::Sub | SocketType::Pull | SocketType::Dealer
            )
    }

    /// Marks the socket closed (it is being dropped).
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// True once the socket is being dropped.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends a monitor event, built only if a monitor is set. Never blocks: the channel
    /// is unbounded, and a dropped monitor is forgotten.
    pub(crate) fn emit(&self, event: impl FnOnce() -> MonitorEvent) {
        let mut monitor = self.monitor.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = monitor.as_ref() {
            if tx.send(event()).is_err() {
                *monitor = None;
            }
        }
    }

    /// Starts a new monitor, replacing any previous one.
    pub(crate) fn monitor(&self) -> Monitor {
        let (tx, rx) = crossbeam_channel::unbounded();
        *self.monitor.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        Monitor::new(rx)
    }

    /// Locks the subscription set (`None` inside for sockets that do not subscribe). Hold
    /// it while changing the set, taking in attached peers and telling them the change.
    pub(crate) fn subscriptions(&self) -> Subscriptions<'_> {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a new peer to the socket. A SUB or XSUB's subscriptions are written into the
    /// peer's pipe first (`01` + topic each, so they are the peer's first messages), under
    /// the subscription lock, which is held until the peer is posted. A subscription that
    /// finds the pipe full is lost, as one sent later would be.
    pub(crate) fn attach(&self, peer: Peer) {
        let subscriptions = self.subscriptions();
        if let Some(set) = subscriptions.as_ref() {
            for topic in set {
                let _ = peer.tx.try_write(Message::subscription(true, topic));
            }
        }
        self.post(SocketEvent::Attach(peer));
        drop(subscriptions);
    }

    /// Delivers an event to the socket and wakes its caller.
    pub(crate) fn post(&self, event: SocketEvent) {
        // The receiver lives as long as the socket; once the socket is gone the event has
        // nobody to matter to, and dropping it closes its pipes, which is what we want.
        if self.mailbox.send(event).is_ok() {
            self.mail.store(true, Ordering::Release);
        }
        self.signal.notify();
    }
}

/// What the I/O thread or the inproc registry tells a socket.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    /// A peer completed its handshake; here are the socket's ends of its pipes.
    Attach(Peer),
    /// `peer` went away without our socket asking (its connection broke or timed out, or
    /// an inproc peer closed), and these messages for it never reached it whole: `taken`
    /// were already out of the pipe (encoded, or partly written to the kernel), oldest
    /// first; `rest` is the pipe itself, with whatever is still queued after them. The
    /// socket drains `rest` on its own thread, where it is the pipe's only writer, so no
    /// message can slip in between the drain and the close.
    Requeue {
        peer: PeerId,
        taken: Vec<Message>,
        rest: Option<PipeReader>,
    },
    /// A peer whose pipes were made at connect (`ZMQ_IMMEDIATE=0`) completed a handshake
    /// (its first, or one after a reconnect): this is what it announced, for the messages
    /// it sends from now on.
    Reattached { peer: PeerId, meta: Arc<Metadata> },
    /// A pending inproc connect whose pipes were made at connect found its binder: the
    /// peer's partner, what the binder is, and the capacity of the pipe to it now (the
    /// two sockets' marks combined).
    Joined {
        peer: PeerId,
        partner: Partner,
        meta: Arc<Metadata>,
    },
}

/// The far ends of the pipes a connect makes at once under `ZMQ_IMMEDIATE=0`, before
/// any connection exists: kept by whoever will complete the connection (the I/O thread's
/// connecter, or the inproc registry until the bind), and across reconnects, so what the
/// socket queued waits in them, up to its send high-water mark.
#[derive(Debug)]
pub(crate) struct EarlyEnds {
    /// The socket's id for the peer these pipes belong to.
    pub(crate) peer: PeerId,
    /// Messages the socket queued for the peer.
    pub(crate) out: PipeReader,
    /// Where messages from the peer go.
    pub(crate) inp: PipeWriter,
    /// Whom these two ends wake, and whether a connection carries them now.
    pub(crate) slot: Arc<EarlyLink>,
    /// Messages the last connection took out of `out` and did not wholly write, oldest
    /// first: the next connection sends them first, whole, so the order is kept. At most
    /// what one connection encodes ahead of the kernel.
    pub(crate) resend: Vec<Message>,
}

/// What the socket's and the far ends of pipes made at connect share beside the pipes.
#[derive(Debug, Default)]
pub(crate) struct EarlyLink {
    /// Whom the far ends wake: whoever holds them now.
    wake: crate::wake::WakeSlot,
    /// True while a connection (or, inproc, the binder) carries the pipes: the socket
    /// counts the peer as connected ([`Peer::is_up`]).
    up: AtomicBool,
}

impl EarlyLink {
    /// A connection took the far ends over (`Some`, with whom to wake), or gave them
    /// back (`None`).
    pub(crate) fn hold(&self, wake: Option<Arc<dyn crate::wake::Wake>>) {
        self.up.store(wake.is_some(), Ordering::SeqCst);
        self.wake.set(wake);
    }
}

impl crate::wake::Wake for EarlyLink {
    fn wake(&self) {
        self.wake.wake();
    }
}

impl EarlyEnds {
    /// True while the socket still holds its ends: it has not let go of the peer
    /// (a disconnect, a hang-up, or its close).
    pub(crate) fn alive(&self) -> bool {
        !self.out.is_writer_closed() && !self.inp.is_closed()
    }
}

/// Whether a connect of this type makes its peer's pipes at once under
/// `ZMQ_IMMEDIATE=0`: the types that queue outgoing messages to any peer in turn or to
/// their one peer (PUSH, DEALER, PAIR). The others keep making pipes at the handshake: a
/// PUB sends to subscribers only, which a connection still being made has not told it
/// of; SUB and XSUB send subscriptions, which every new connection is told afresh; PULL
/// and REP only answer what comes; ROUTER names its peers by the routing id the
/// handshake brings; STREAM has no handshake. REQ keeps its own rule for a peer that
/// goes away with the request (it fails the receive with `Disconnected`, or sends the
/// request again when it never left), which needs the peer to go with its connection.
pub(crate) fn queues_before_connect(socket_type: SocketType) -> bool {
    matches!(
        socket_type,
        SocketType::Push | SocketType::Dealer | SocketType::Pair
    )
}

/// Makes the pipes of a connect under `ZMQ_IMMEDIATE=0`: the socket's [`Peer`] (not yet
/// known: empty metadata until a handshake tells) and the far ends, which wake nobody
/// until their holder sets itself in their slot. The socket's marks and conflation as
/// they are now.
pub(crate) fn early_pipes(
    socket: &SocketShared,
    endpoint: Option<Arc<str>>,
    routing_id: Option<bytes::Bytes>,
) -> (Peer, EarlyEnds) {
    let slot = Arc::new(EarlyLink::default());
    let (tx, out) = crate::pipe::pipe(
        socket.send_hwm(),
        crate::pipe::Notify::Io(slot.clone()),
        crate::pipe::Notify::Signal(socket.signal.clone()),
    );
    let (inp, rx) = crate::pipe::pipe(
        socket.recv_hwm(),
        crate::pipe::Notify::Signal(socket.signal.clone()),
        crate::pipe::Notify::Io(slot.clone()),
    );
    if socket.conflate_out() {
        tx.set_conflate();
    }
    if socket.conflate_in() {
        inp.set_conflate();
    }
    let id = next_id();
    let peer = Peer {
        id,
        tx,
        rx,
        meta: Arc::new(Metadata::default()),
        endpoint,
        routing_id,
        partner: None,
        link: Some(slot.clone()),
    };
    (
        peer,
        EarlyEnds {
            peer: id,
            out,
            inp,
            slot,
            resend: Vec::new(),
        },
    )
}

/// What a socket does with the messages a departed peer hands back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requeue {
    /// Drop them, as libzmq does: PUB (lossy by design), ROUTER (they were addressed to
    /// that peer), PAIR, REP (a reply to a requester that is gone), and the receive-only
    /// types, which send nothing.
    Drop,
    /// Send them again, oldest first and ahead of any newer message, to the next peers in
    /// turn with room, holding them until one has (PUSH, DEALER).
    RoundRobin,
    /// Keep them for the pattern to judge (REQ resends its current request, if it came
    /// back, and drops older ones).
    Keep,
}

impl Requeue {
    /// The policy for a socket type.
    pub(crate) fn for_type(socket_type: SocketType) -> Requeue {
        match socket_type {
            SocketType::Push | SocketType::Dealer => Requeue::RoundRobin,
            SocketType::Req => Requeue::Keep,
            _ => Requeue::Drop,
        }
    }
}

/// A connected peer, as the socket sees it.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    /// Messages to the peer.
    pub(crate) tx: PipeWriter,
    /// Messages from the peer.
    pub(crate) rx: PipeReader,
    /// What the peer announced, and the connection's addresses.
    pub(crate) meta: Arc<Metadata>,
    /// The endpoint this socket connected to, when this peer came from a connect.
    pub(crate) endpoint: Option<Arc<str>>,
    /// The routing id our socket named this peer with at connect time
    /// (`ZMQ_CONNECT_ROUTING_ID`), in place of the identity the peer announces.
    pub(crate) routing_id: Option<bytes::Bytes>,
    /// For an inproc peer: the other socket and its id for us, so that when we let go of
    /// the peer, what it queued for us and we did not take goes back to it.
    pub(crate) partner: Option<Partner>,
    /// For a peer whose pipes were made at connect (`ZMQ_IMMEDIATE=0`): what tells
    /// whether a connection carries them now. `None`: the peer came with its connection.
    pub(crate) link: Option<Arc<EarlyLink>>,
}

/// The other side of an inproc connection.
#[derive(Debug)]
pub(crate) struct Partner {
    pub(crate) socket: Weak<SocketShared>,
    pub(crate) peer: PeerId,
}

impl Peer {
    /// True when a connection carries the peer's pipes now (always, for a peer that
    /// came with its connection).
    pub(crate) fn is_up(&self) -> bool {
        self.link
            .as_ref()
            .is_none_or(|l| l.up.load(Ordering::SeqCst))
    }

    /// Lets go of the peer. An inproc partner gets back the messages it queued for us that
    /// we never took ([`SocketEvent::Requeue`]); its policy decides whether they matter.
    pub(crate) fn release(self) {
        let Peer {
            tx, rx, partner, ..
        } = self;
        if let Some(partner) = partner {
            // Posted even when the pipe looks empty: the partner may be writing to it right
            // now, and only its own thread can close it without losing that message.
            if let Some(socket) = partner.socket.upgrade() {
                socket.post(SocketEvent::Requeue {
                    peer: partner.peer,
                    taken: Vec::new(),
                    rest: Some(rx),
                });
            }
        }
        // Only now does the partner see our end close: its messages are already on the way
        // back when it looks.
        drop(tx);
    }
}
