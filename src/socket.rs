//! The part every socket shares: options, peers and their pipes, bind/connect, and the
//! two routing primitives the patterns are built from (round-robin out, fair-queue in).
//!
//! A socket learns about peers through its mailbox: the I/O thread (tcp, ipc) or the
//! context's inproc registry posts an [`SocketEvent::Attach`] with the socket's ends of
//! two fresh pipes. A peer's departure needs no message: its pipes close, and the socket
//! notices the next time it touches them. When a peer goes away on its own (the connection
//! broke, or an inproc peer closed) with messages for it still unsent, a
//! [`SocketEvent::Requeue`] hands them back, and the socket's [`Requeue`] policy says what
//! becomes of them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;

use crate::context::Context;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result, SendError};
pub(crate) use crate::mailbox::PeerId;
use crate::mailbox::{
    early_pipes, queues_before_connect, EarlyEnds, Peer, Requeue, SocketEvent, SocketShared,
};
use crate::message::Message;
use crate::monitor::{Monitor, MonitorEvent};
use crate::options::{Options, MAX_LINGER_WITHOUT_PEER};
use crate::pipe::{combined_hwm, PipeReader, ReadError, WriteError};
use crate::socket_type::SocketType;
use crate::wake::Signal;

/// When a blocking operation gives up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Do not block: fail with [`Error::WouldBlock`].
    Never,
    /// Block until this instant, then fail with [`Error::TimedOut`]; `None` is forever.
    Until(Option<Instant>),
}

impl Wait {
    /// Waits `timeout` from now; `None`, or a timeout too far to represent, is forever.
    pub(crate) fn from_timeout(timeout: Option<Duration>) -> Wait {
        Wait::Until(timeout.and_then(|t| Instant::now().checked_add(t)))
    }
}

/// Refuses a message with no frames, handing it back: ZMTP cannot carry one (libzmq cannot
/// send one), so every socket refuses it the same way on every transport, before anything
/// is queued. Internal messages (probes, notifications, subscriptions) never come here.
pub(crate) fn refuse_empty(msg: Message) -> Result<Message, SendError> {
    if msg.is_empty() {
        Err(SendError::new(Error::EmptyMessage, msg))
    } else {
        Ok(msg)
    }
}

/// State and plumbing shared by every socket type.
#[derive(Debug)]
pub(crate) struct SocketCore {
    ctx: Context,
    shared: Arc<SocketShared>,
    mailbox: Receiver<SocketEvent>,
    pub(crate) options: Options,
    pub(crate) peers: Vec<Peer>,
    send_cursor: usize,
    recv_cursor: usize,
    last_endpoint: Option<String>,
    /// Endpoints bound over tcp or ipc (as resolved) and inproc names, for unbind.
    bound: Vec<String>,
    /// Peers attached since the pattern last asked, when the pattern tracks them.
    attached: Option<Vec<PeerId>>,
    /// Peers let go of since the pattern last asked, when the pattern tracks them.
    departed: Option<Vec<PeerId>>,
    /// What becomes of messages handed back by peers that went away.
    requeue: Requeue,
    /// Messages handed back, oldest first, with the peer they had been queued for. Under
    /// [`Requeue::RoundRobin`] they go out before any new message, so a send waits while
    /// any is held: they take the place they had in the dead peer's queue, and memory
    /// never grows past what the send high-water marks already allowed.
    held: VecDeque<(PeerId, Message)>,
}

impl SocketCore {
    pub(crate) fn new(ctx: &Context, socket_type: SocketType) -> Self {
        let (shared, rx) = SocketShared::new(socket_type, ctx.spin());
        SocketCore {
            ctx: ctx.clone(),
            shared,
            mailbox: rx,
            options: Options::default(),
            peers: Vec::new(),
            send_cursor: 0,
            recv_cursor: 0,
            last_endpoint: None,
            bound: Vec::new(),
            attached: None,
            departed: None,
            requeue: Requeue::for_type(socket_type),
            held: VecDeque::new(),
        }
    }

    /// Makes the core remember peers as they attach, for [`Self::take_attached`]
    /// (a SUB socket sends its subscriptions to each new peer).
    pub(crate) fn track_attached(&mut self) {
        self.attached.get_or_insert_with(Vec::new);
    }

    /// The peers attached since the last call (after taking in new ones), oldest first.
    /// Empty unless [`Self::track_attached`] was called.
    pub(crate) fn take_attached(&mut self) -> Vec<PeerId> {
        self.process_mailbox();
        self.attached
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Makes the core remember peers as it lets go of them, for [`Self::take_departed`]
    /// (a ROUTER with disconnect notifications).
    pub(crate) fn track_departed(&mut self) {
        self.departed.get_or_insert_with(Vec::new);
    }

    /// The peers let go of since the last call, oldest first. Empty unless
    /// [`Self::track_departed`] was called.
    pub(crate) fn take_departed(&mut self) -> Vec<PeerId> {
        self.departed
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The peer with this id, if still attached.
    pub(crate) fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == id)
    }

    pub(crate) fn socket_type(&self) -> SocketType {
        self.shared.socket_type
    }

    pub(crate) fn last_endpoint(&self) -> Option<&str> {
        self.last_endpoint.as_deref()
    }

    /// Binds to an endpoint and starts accepting peers there.
    pub(crate) fn bind(&mut self, endpoint: &str) -> Result<()> {
        let ep = Endpoint::parse(endpoint)?;
        self.refuse_raw_inproc(&ep, endpoint)?;
        let resolved = match &ep {
            Endpoint::Inproc(name) => {
                self.ctx.inproc_bind(name, &self.shared, &self.options)?;
                endpoint.to_owned()
            }
            Endpoint::Tcp(_) | Endpoint::Ipc(_) => {
                let (listener, resolved) =
                    crate::transport::bind(&ep, &self.options).inspect_err(|e| {
                        self.shared.emit(|| MonitorEvent::BindFailed {
                            endpoint: endpoint.to_owned(),
                            error: e.to_string(),
                        })
                    })?;
                self.ctx.io_for(self.shared.id)?.bind(
                    &self.shared,
                    &self.options,
                    listener,
                    resolved.clone(),
                );
                resolved
            }
        };
        self.bound.push(resolved.clone());
        self.last_endpoint = Some(resolved);
        Ok(())
    }

    /// Connects to an endpoint; for tcp and ipc the connection is made, and remade after a
    /// drop, in the background (a tcp host name is resolved again at every attempt).
    pub(crate) fn connect(&mut self, endpoint: &str) -> Result<()> {
        let ep = Endpoint::parse(endpoint)?;
        self.refuse_raw_inproc(&ep, endpoint)?;
        let key: Arc<str> = Arc::from(endpoint);
        match &ep {
            Endpoint::Inproc(name) => {
                self.ctx
                    .inproc_connect(name, &self.shared, &self.options, key)?;
            }
            Endpoint::Tcp(tcp) => {
                // The syntax only, as libzmq: a host name is resolved at each attempt, on
                // the I/O thread's helper, so an unresolvable name is not an error here.
                tcp.connect_lookup()?;
                let io = self.ctx.io_for(self.shared.id)?;
                let early = self.early_pipes(&key);
                io.connect(
                    &self.shared,
                    &self.options,
                    crate::engine::Target::tcp(tcp.clone()),
                    key,
                    early,
                );
            }
            Endpoint::Ipc(crate::endpoint::IpcEndpoint::Unique) => {
                return Err(Error::endpoint(
                    endpoint,
                    "`ipc://*` is only valid for bind",
                ));
            }
            Endpoint::Ipc(ipc) => {
                let io = self.ctx.io_for(self.shared.id)?;
                let early = self.early_pipes(&key);
                io.connect(
                    &self.shared,
                    &self.options,
                    crate::engine::Target::Ipc(ipc.clone()),
                    key,
                    early,
                );
            }
        }
        // `ZMQ_CONNECT_ROUTING_ID` names the peer of one connect only.
        self.options.connect_routing_id = None;
        Ok(())
    }

    /// Under `ZMQ_IMMEDIATE=0`, for the types that queue before a connection is up: makes
    /// the peer of a tcp or ipc connect now, so a send can queue to it at once, and
    /// returns the ends the I/O thread will join each connection of this connect to.
    fn early_pipes(&mut self, endpoint: &Arc<str>) -> Option<EarlyEnds> {
        if self.options.immediate || !queues_before_connect(self.shared.socket_type) {
            return None;
        }
        let (peer, ends) = early_pipes(
            &self.shared,
            Some(endpoint.clone()),
            self.options.connect_routing_id.clone(),
        );
        self.shared.attach(peer);
        Some(ends)
    }

    /// A STREAM socket's peers are byte streams: inproc has none to offer (libzmq refuses
    /// it too).
    fn refuse_raw_inproc(&self, ep: &Endpoint, endpoint: &str) -> Result<()> {
        if self.shared.socket_type == SocketType::Stream && matches!(ep, Endpoint::Inproc(_)) {
            return Err(Error::endpoint(
                endpoint,
                "STREAM sockets speak to tcp and ipc peers only",
            ));
        }
        Ok(())
    }

    /// Stops listening on an endpoint given as bound (the string [`Self::last_endpoint`]
    /// reports for tcp wildcards and ephemeral ports). Peers already connected stay.
    pub(crate) fn unbind(&mut self, endpoint: &str) -> Result<()> {
        let Some(pos) = self.bound.iter().position(|b| b == endpoint) else {
            return Err(Error::endpoint(endpoint, "not bound by this socket"));
        };
        let resolved = self.bound.remove(pos);
        if let Ok(Endpoint::Inproc(name)) = Endpoint::parse(&resolved) {
            self.ctx.inproc_unbind(&name, self.shared.id);
        } else {
            self.ctx
                .io_for(self.shared.id)?
                .unbind(self.shared.id, resolved);
        }
        Ok(())
    }

    /// Drops the connection(s) made by `connect(endpoint)` and stops reconnecting.
    pub(crate) fn disconnect(&mut self, endpoint: &str) -> Result<()> {
        let before = self.peers.len();
        self.process_mailbox();
        let (gone, kept) = std::mem::take(&mut self.peers)
            .into_iter()
            .partition(|p| p.endpoint.as_deref() == Some(endpoint));
        self.peers = kept;
        for peer in gone {
            if let Some(departed) = &mut self.departed {
                departed.push(peer.id);
            }
            peer.release();
        }
        self.send_cursor = 0;
        self.recv_cursor = 0;
        let found_inproc = self.ctx.inproc_cancel_pending(endpoint, self.shared.id);
        match Endpoint::parse(endpoint)? {
            Endpoint::Inproc(_) => {
                if before == self.peers.len() && !found_inproc {
                    return Err(Error::endpoint(endpoint, "not connected by this socket"));
                }
            }
            _ => self
                .ctx
                .io_for(self.shared.id)?
                .disconnect(self.shared.id, Arc::from(endpoint)),
        }
        Ok(())
    }

    /// Takes in peers that attached and messages handed back since the last look; held
    /// messages move on to peers with room.
    pub(crate) fn process_mailbox(&mut self) -> bool {
        let mut any = false;
        if self.shared.take_mail() {
            while let Ok(event) = self.mailbox.try_recv() {
                match event {
                    SocketEvent::Attach(peer) => {
                        if let Some(attached) = &mut self.attached {
                            attached.push(peer.id);
                        }
                        self.peers.push(peer);
                    }
                    SocketEvent::Requeue { peer, taken, rest } => self.take_back(peer, taken, rest),
                    SocketEvent::Reattached { peer, meta } => {
                        if let Some(p) = self.peers.iter_mut().find(|p| p.id == peer) {
                            p.meta = meta;
                        }
                    }
                    SocketEvent::Joined {
                        peer,
                        partner,
                        meta,
                    } => {
                        if let Some(p) = self.peers.iter_mut().find(|p| p.id == peer) {
                            p.meta = meta;
                            p.partner = Some(partner);
                        }
                    }
                }
                any = true;
            }
        }
        if self.requeue == Requeue::RoundRobin && !self.held.is_empty() {
            self.flush_held();
        }
        any
    }

    /// Takes back what a departed peer never received: first the messages already out of
    /// its pipe, then the pipe's contents. Dropping `rest` afterwards closes the pipe, so
    /// the peer's writer end fails from now on and the peer leaves through `remove_peer`.
    fn take_back(&mut self, peer: PeerId, taken: Vec<Message>, rest: Option<PipeReader>) {
        if self.requeue == Requeue::Drop {
            return;
        }
        self.held.extend(taken.into_iter().map(|m| (peer, m)));
        if let Some(rest) = rest {
            while let Ok(m) = rest.try_read() {
                self.held.push_back((peer, m));
            }
        }
    }

    /// Moves held messages, oldest first, to the next peers in turn with room; stops at
    /// the first that no peer can take.
    fn flush_held(&mut self) {
        while let Some((from, msg)) = self.held.pop_front() {
            if let Err(msg) = self.try_round_robin(msg) {
                self.held.push_front((from, msg));
                return;
            }
        }
    }

    /// Takes every held message (for a pattern with [`Requeue::Keep`]), after taking in
    /// new events.
    pub(crate) fn take_held(&mut self) -> VecDeque<(PeerId, Message)> {
        self.process_mailbox();
        std::mem::take(&mut self.held)
    }

    /// Holds a message again, at the front (a pattern that could not resend it yet).
    pub(crate) fn hold_front(&mut self, peer: PeerId, msg: Message) {
        self.held.push_front((peer, msg));
    }

    fn remove_peer(&mut self, index: usize) {
        let peer = self.peers.remove(index);
        if let Some(departed) = &mut self.departed {
            departed.push(peer.id);
        }
        self.rejoin_inproc(&peer);
        peer.release();
        if self.send_cursor > index {
            self.send_cursor -= 1;
        }
        if self.recv_cursor > index {
            self.recv_cursor -= 1;
        }
        // Wrap now rather than at the next use: a peer that re-attaches lands at the end,
        // and must not be next in turn just because the one it replaces was.
        if self.send_cursor >= self.peers.len() {
            self.send_cursor = 0;
        }
        if self.recv_cursor >= self.peers.len() {
            self.recv_cursor = 0;
        }
    }

    /// An inproc connection made by our `connect` ended while we stay open: connect again,
    /// as the engine reconnects tcp and ipc. If the bound socket is still there this joins it
    /// at once; if not, the connect waits for the next bind of the name.
    fn rejoin_inproc(&mut self, peer: &Peer) {
        let Some(endpoint) = &peer.endpoint else {
            return;
        };
        if let Some(name) = endpoint.strip_prefix("inproc://") {
            // The only failure is an incompatible bound socket, which the first connect
            // already ruled out for this name; a new binder of another type is refused
            // the same way a tcp peer of the wrong type would be: by not attaching.
            let _ = self
                .ctx
                .inproc_connect(name, &self.shared, &self.options, endpoint.clone());
        }
    }

    /// Lets go of a peer while staying open. A tcp or ipc connection is flushed and closed
    /// (and remade at once if we connected it); an inproc one is joined afresh if we
    /// connected it. Whatever the peer had queued for us is gone, which is the point: a
    /// REQ hangs up on a peer that did not answer so that a late reply cannot surface.
    pub(crate) fn hang_up(&mut self, peer: PeerId) {
        if let Some(index) = self.peers.iter().position(|p| p.id == peer) {
            self.remove_peer(index);
        }
    }

    /// Blocks until something may have changed, or the deadline passes.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] for [`Wait::Never`], [`Error::TimedOut`] past the deadline,
    /// and [`Error::IoThreadStopped`] once the context's I/O is dead: what the caller
    /// waits for may never come then, and a wait with no deadline would hang.
    pub(crate) fn wait(&self, wait: Wait) -> Result<()> {
        match wait {
            Wait::Never => Err(Error::WouldBlock),
            Wait::Until(deadline) => {
                if self.ctx.io_stopped() {
                    return Err(Error::IoThreadStopped);
                }
                let woken = self.shared.signal.wait(deadline);
                if self.ctx.io_stopped() {
                    Err(Error::IoThreadStopped)
                } else if woken {
                    Ok(())
                } else {
                    Err(Error::TimedOut)
                }
            }
        }
    }

    /// Sends to the next peer, in turn, that has room (RFC 30's round-robin). Blocks while
    /// no peer has room, or while messages handed back by a departed peer are still held
    /// (they go first), as `wait` allows. Returns the peer that took it. A message with no
    /// frames is refused ([`Error::EmptyMessage`]) before anything is queued.
    pub(crate) fn send_round_robin(
        &mut self,
        msg: Message,
        wait: Wait,
    ) -> Result<PeerId, SendError> {
        let mut msg = refuse_empty(msg)?;
        loop {
            // Also moves held messages on, under `Requeue::RoundRobin`.
            self.process_mailbox();
            if self.requeue != Requeue::RoundRobin || self.held.is_empty() {
                match self.try_round_robin(msg) {
                    Ok(id) => return Ok(id),
                    Err(m) => msg = m,
                }
            }
            if let Err(e) = self.wait(wait) {
                return Err(SendError::new(e, msg));
            }
        }
    }

    /// One round of [`Self::send_round_robin`]: the message goes to the next peer with room,
    /// or comes back when none has.
    fn try_round_robin(&mut self, mut msg: Message) -> Result<PeerId, Message> {
        let mut i = 0;
        while i < self.peers.len() {
            let index = (self.send_cursor + i) % self.peers.len();
            match self.peers[index].tx.try_write(msg) {
                Ok(()) => {
                    let id = self.peers[index].id;
                    self.send_cursor = index + 1;
                    return Ok(id);
                }
                Err(WriteError::Full(m)) => {
                    msg = m;
                    i += 1;
                }
                Err(WriteError::Closed(m)) => {
                    msg = m;
                    self.remove_peer(index);
                }
            }
        }
        Err(msg)
    }

    /// Sends to one particular peer. Blocks while that peer is full, as `wait` allows.
    /// Fails with [`Error::Closed`] when the peer is gone, and with
    /// [`Error::EmptyMessage`] for a message with no frames, before anything is queued.
    pub(crate) fn send_to(
        &mut self,
        peer: PeerId,
        msg: Message,
        wait: Wait,
    ) -> Result<(), SendError> {
        let mut msg = refuse_empty(msg)?;
        loop {
            self.process_mailbox();
            let Some(index) = self.peers.iter().position(|p| p.id == peer) else {
                return Err(SendError::new(Error::Closed, msg));
            };
            match self.peers[index].tx.try_write(msg) {
                Ok(()) => return Ok(()),
                Err(WriteError::Full(m)) => msg = m,
                Err(WriteError::Closed(m)) => {
                    self.remove_peer(index);
                    return Err(SendError::new(Error::Closed, m));
                }
            }
            if let Err(e) = self.wait(wait) {
                return Err(SendError::new(e, msg));
            }
        }
    }

    /// Receives the next message, taking peers in turn so a busy one cannot starve the
    /// others (RFC 30's fair queue). Blocks while nothing is queued, as `wait` allows.
    pub(crate) fn recv_fair(&mut self, wait: Wait) -> Result<(PeerId, Message)> {
        loop {
            self.process_mailbox();
            let mut i = 0;
            while i < self.peers.len() {
                let index = (self.recv_cursor + i) % self.peers.len();
                let peer = &self.peers[index];
                match peer.rx.try_read() {
                    Ok(mut msg) => {
                        let id = peer.id;
                        self.recv_cursor = index + 1;
                        let meta = if peer.link.is_some() {
                            // Pipes made at connect: what the peer announced was posted
                            // before its first message was written, and may have come
                            // since the mailbox was looked at.
                            self.process_mailbox();
                            self.peer(id).map(|p| p.meta.clone())
                        } else {
                            Some(peer.meta.clone())
                        };
                        msg.set_metadata(meta);
                        return Ok((id, msg));
                    }
                    Err(ReadError::Empty) => i += 1,
                    Err(ReadError::Closed) => self.remove_peer(index),
                }
            }
            self.wait(wait)?;
        }
    }

    /// Drops every message queued from any peer at the time of the call, and returns how
    /// many. Only what is there when it starts is looked at, so a peer that keeps sending
    /// cannot keep it going. A REQ calls it before each request, as libzmq's REQ does, so
    /// that nothing a peer sent while no request was outstanding is taken for the reply.
    pub(crate) fn discard_queued(&mut self) -> usize {
        self.process_mailbox();
        let mut dropped = 0usize;
        for peer in &self.peers {
            for _ in 0..peer.rx.len() {
                if peer.rx.try_read().is_err() {
                    break;
                }
                dropped = dropped.saturating_add(1);
            }
        }
        dropped
    }

    /// True once the context's I/O is dead (see [`Self::wait`]).
    pub(crate) fn io_stopped(&self) -> bool {
        self.ctx.io_stopped()
    }

    /// The socket's doorbell: rung by its pipes and its mailbox.
    pub(crate) fn signal(&self) -> &Arc<Signal> {
        &self.shared.signal
    }

    /// True when some peer has a message queued for us (after taking in new peers). When
    /// none has, every pipe is parked first, so the next message rings [`Self::signal`].
    pub(crate) fn poll_readable(&mut self) -> bool {
        self.process_mailbox();
        self.peers.iter().any(|p| p.rx.poll_readable())
    }

    /// True when some live peer has room for a message (after taking in new peers). When
    /// none has, every full pipe is parked first, so room appearing rings [`Self::signal`].
    pub(crate) fn poll_writable(&mut self) -> bool {
        self.process_mailbox();
        self.peers
            .iter()
            .any(|p| !p.tx.is_closed() && !p.tx.is_full())
    }

    /// [`Self::poll_readable`] for one peer only.
    pub(crate) fn poll_readable_from(&mut self, peer: PeerId) -> bool {
        self.process_mailbox();
        self.peer(peer).is_some_and(|p| p.rx.poll_readable())
    }

    /// [`Self::poll_writable`] for one peer only.
    pub(crate) fn poll_writable_to(&mut self, peer: PeerId) -> bool {
        self.process_mailbox();
        self.peer(peer)
            .is_some_and(|p| !p.tx.is_closed() && !p.tx.is_full())
    }

    /// The number of peers currently attached (after taking in new ones).
    pub(crate) fn peer_count(&mut self) -> usize {
        self.process_mailbox();
        // Gone peers leave through `remove_peer`, like everywhere else, so cursors wrap and
        // inproc connecters re-join.
        let mut index = self.peers.len();
        while index > 0 {
            index -= 1;
            let p = &self.peers[index];
            if p.tx.is_closed() && p.rx.len() == 0 {
                self.remove_peer(index);
            }
        }
        // A peer whose pipes were made at connect counts while a connection carries them.
        self.peers.iter().filter(|p| p.is_up()).count()
    }

    /// The socket's shared half (for a SUB's subscription lock).
    pub(crate) fn shared(&self) -> Arc<SocketShared> {
        self.shared.clone()
    }

    /// Sends a monitor event from the pattern layer, built only if a monitor is set.
    pub(crate) fn emit(&self, event: impl FnOnce() -> MonitorEvent) {
        self.shared.emit(event);
    }

    /// Starts monitoring this socket's tcp and ipc endpoints and connections.
    pub(crate) fn monitor(&self) -> Monitor {
        self.shared.monitor()
    }

    /// Sets the send high-water mark (`ZMQ_SNDHWM`) for later peers and for every peer
    /// connected now, as libzmq 4.3 does: each peer's outgoing pipe takes the new mark
    /// (an inproc one, the new mark plus its partner's receive mark).
    pub(crate) fn set_send_hwm(&mut self, messages: usize) {
        self.options.send_hwm = messages;
        // Recorded first: a peer attached from here on is made with the new mark, and one
        // made before is in the mailbox or in `peers`.
        self.shared.set_hwms(messages, self.options.recv_hwm);
        self.process_mailbox();
        for peer in &self.peers {
            let partner = peer.partner.as_ref().and_then(|p| p.socket.upgrade());
            let capacity = match partner {
                Some(other) => combined_hwm(messages, other.recv_hwm()),
                None => messages,
            };
            peer.tx.set_capacity(capacity);
        }
    }

    /// Sets the receive high-water mark (`ZMQ_RCVHWM`) for later peers and for every
    /// peer connected now; a peer held back by the old mark may send again at once.
    pub(crate) fn set_recv_hwm(&mut self, messages: usize) {
        self.options.recv_hwm = messages;
        self.shared.set_hwms(self.options.send_hwm, messages);
        self.process_mailbox();
        for peer in &self.peers {
            let partner = peer.partner.as_ref().and_then(|p| p.socket.upgrade());
            let capacity = match partner {
                Some(other) => combined_hwm(other.send_hwm(), messages),
                None => messages,
            };
            peer.rx.set_capacity(capacity);
        }
    }

    /// Sets `ZMQ_CONFLATE` for the connections made from now on.
    pub(crate) fn set_conflate(&mut self, on: bool) {
        self.options.conflate = on;
        self.shared.set_conflate(on);
    }

    /// Checks and sets the routing id the next connect names its peer with.
    pub(crate) fn set_connect_routing_id(&mut self, id: Option<Bytes>) -> Result<()> {
        if let Some(id) = &id {
            check_routing_id(id, "connect routing id")?;
        }
        self.options.connect_routing_id = id;
        Ok(())
    }

    /// Checks and sets the identity announced to peers.
    pub(crate) fn set_identity(&mut self, identity: Bytes) -> Result<()> {
        check_routing_id(&identity, "identity")?;
        self.options.identity = identity;
        Ok(())
    }
}

/// A routing id is 1 to 255 bytes and does not start with a zero byte (those are the ids a
/// ROUTER makes up), as libzmq requires of `ZMQ_ROUTING_ID` and `ZMQ_CONNECT_ROUTING_ID`.
fn check_routing_id(id: &[u8], what: &str) -> Result<()> {
    if id.is_empty() || id.len() > 255 {
        return Err(Error::InvalidOption(format!(
            "{what} must be 1 to 255 bytes"
        )));
    }
    if id[0] == 0 {
        return Err(Error::InvalidOption(format!(
            "{what} must not start with a zero byte (reserved for generated ids)"
        )));
    }
    Ok(())
}

impl SocketCore {
    /// At close, gives messages handed back by a departed peer the linger time to find a
    /// peer with room, but waits at most [`MAX_LINGER_WITHOUT_PEER`] while no peer at all
    /// is attached: a program must not hang at exit on a peer that went away.
    fn linger_held(&mut self) {
        let linger = crate::time::deadline(Instant::now(), self.options.linger);
        let mut peerless_since = None;
        loop {
            self.process_mailbox();
            if self.held.is_empty() || self.ctx.io_stopped() {
                return;
            }
            let now = Instant::now();
            let until = if self.peers.is_empty() {
                let since = *peerless_since.get_or_insert(now);
                linger.min(crate::time::deadline(since, MAX_LINGER_WITHOUT_PEER))
            } else {
                // An attached peer may still take them as it reads: only the linger
                // bounds the wait then, as in libzmq.
                peerless_since = None;
                linger
            };
            if now >= until {
                return;
            }
            self.shared.signal.wait(Some(until));
        }
    }
}

impl Drop for SocketCore {
    fn drop(&mut self) {
        // From here on the I/O thread ignores anything this socket might still have sent.
        self.shared.mark_closed();
        // Take in peers that attached unseen, so that their inproc partners get back what
        // they queued for us, like the others'.
        self.process_mailbox();
        // Messages handed back by a departed peer are queued messages like any other: they
        // get the linger time to find a peer with room (a reconnect, say), then are dropped.
        if self.requeue == Requeue::RoundRobin && !self.held.is_empty() {
            self.linger_held();
        }
        for peer in std::mem::take(&mut self.peers) {
            peer.release();
        }
        self.ctx.socket_closed(&self.shared, self.options.linger);
    }
}
