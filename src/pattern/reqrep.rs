//! REQ and REP (RFC 28): the state machines, the drivers that run them over a
//! [`SocketCore`], and the typed API. The spec with its tables is `patterns/reqrep.md`.
//!
//! The machines ([`ReqMachine`], [`RepMachine`]) are pure: they decide what a message
//! means and what may happen next, and touch no pipe. The drivers (`req_send`, `req_recv`,
//! `rep_recv`, `rep_send`) move messages through the core according to them. The typed
//! sockets ([`Req`], [`Rep`]) and the dynamic [`Socket`](crate::Socket) both go through
//! the same drivers, so there is one implementation of each rule.

use std::task::Poll;
use std::time::Duration;

use crate::aio;
use crate::context::Context;
use crate::error::{Error, Result, SendError};
use crate::frame::Frame;
use crate::message::{Frames, Message};
use crate::pattern::{refuse_empty, socket_common, Discards};
use crate::poll::sealed::CoreRef;
use crate::poll::Interest;
use crate::socket::{PeerId, SocketCore, Wait};
use crate::socket_type::SocketType;

/// Where a REQ socket is in its request-reply cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReqState {
    /// No request outstanding: the next operation must be a send.
    Idle,
    /// A request went to `peer`; only its reply (with `id`, when correlating) counts.
    Waiting { peer: PeerId, id: Option<u32> },
}

/// What the REQ machine makes of an incoming message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReqVerdict {
    /// The reply to the outstanding request: hand this body to the application.
    Deliver(Message),
    /// Not the reply (another peer, an old request, no delimiter, nothing after the
    /// delimiter): drop it.
    Discard,
}

/// REQ's state machine (RFC 28, with libzmq's REQ_CORRELATE as an option).
#[derive(Debug, Clone)]
pub(crate) struct ReqMachine {
    pub(crate) state: ReqState,
    /// Prefix each request with a 4-byte id and accept only the reply that echoes it.
    pub(crate) correlate: bool,
    /// libzmq's `ZMQ_REQ_RELAXED`: a send while waiting gives the outstanding request up,
    /// and giving a request up never hangs up on its peer.
    pub(crate) relaxed: bool,
    next_id: u32,
    /// The outstanding request as it went on the wire, to recognise it should a broken
    /// connection hand it back unsent.
    request: Option<Message>,
}

impl ReqMachine {
    pub(crate) fn new() -> ReqMachine {
        // Start ids somewhere unpredictable, as libzmq does, so two sockets of one process
        // do not share a sequence.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        ReqMachine {
            state: ReqState::Idle,
            correlate: false,
            relaxed: false,
            next_id: seed ^ (crate::mailbox::next_id() as u32).rotate_left(16),
            request: None,
        }
    }

    /// Wraps a request in its envelope. Fails when a request is outstanding.
    pub(crate) fn wrap(&mut self, body: Message) -> Result<(Message, Option<u32>), SendError> {
        if self.relaxed {
            // libzmq's relaxed REQ: the outstanding request is simply given up; its peer
            // stays connected (a late reply from it is told apart only by correlation).
            self.state = ReqState::Idle;
            self.request = None;
        }
        if self.state != ReqState::Idle {
            return Err(SendError::new(
                Error::WrongState("REQ must receive the reply before sending again"),
                body,
            ));
        }
        let mut wire = body;
        wire.push_front(Frame::new());
        let id = self.correlate.then(|| {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            // libzmq copies the id in host byte order; both ends are ours or libzmq on
            // little-endian hosts in practice, and the REP side never looks inside it.
            wire.push_front(Frame::copy_from_slice(&id.to_ne_bytes()));
            id
        });
        Ok((wire, id))
    }

    /// The request `wire` went out to `peer`.
    pub(crate) fn sent(&mut self, peer: PeerId, id: Option<u32>, wire: Message) {
        self.state = ReqState::Waiting { peer, id };
        self.request = Some(wire);
    }

    /// True when `msg`, handed back unsent by `from`'s broken connection, is the
    /// outstanding request: it never reached that peer, so it may go to another.
    pub(crate) fn came_back(&self, from: PeerId, msg: &Message) -> bool {
        matches!(self.state, ReqState::Waiting { peer, .. } if peer == from)
            && self.request.as_ref() == Some(msg)
    }

    /// The outstanding request, handed back unsent, went out again to `peer`: only its
    /// reply counts now.
    pub(crate) fn resent(&mut self, to: PeerId) {
        if let ReqState::Waiting { peer, .. } = &mut self.state {
            *peer = to;
        }
    }

    /// The outstanding request as it went on the wire.
    pub(crate) fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    /// Judges a message from `from`.
    pub(crate) fn on_message(&mut self, from: PeerId, msg: Message) -> ReqVerdict {
        let ReqState::Waiting { peer, id } = self.state else {
            return ReqVerdict::Discard;
        };
        if from != peer {
            return ReqVerdict::Discard;
        }
        let mut frames = msg.into_frames().into_iter();
        if let Some(id) = id {
            match frames.next() {
                Some(f) if f[..] == id.to_ne_bytes() => {}
                _ => return ReqVerdict::Discard,
            }
        }
        match frames.next() {
            Some(delimiter) if delimiter.is_empty() => {}
            _ => return ReqVerdict::Discard,
        }
        let body: Message = frames.collect();
        if body.is_empty() {
            // libzmq's REQ wants a frame after the delimiter too: a reply of nothing but
            // the envelope is not a reply.
            return ReqVerdict::Discard;
        }
        self.state = ReqState::Idle;
        self.request = None;
        ReqVerdict::Deliver(body)
    }

    /// The outstanding request is given up (timeout, or the caller dropped it). Returns the
    /// peer to hang up on, so its late reply cannot surface; none when correlating, since
    /// the ids already tell a late reply apart, and none when relaxed, which keeps
    /// libzmq's behaviour of never hanging up.
    pub(crate) fn abandon(&mut self) -> Option<PeerId> {
        self.request = None;
        let ReqState::Waiting { peer, .. } = std::mem::replace(&mut self.state, ReqState::Idle)
        else {
            return None;
        };
        (!self.correlate && !self.relaxed).then_some(peer)
    }

    /// The peer the request is waiting on.
    pub(crate) fn waiting_on(&self) -> Option<PeerId> {
        match self.state {
            ReqState::Waiting { peer, .. } => Some(peer),
            ReqState::Idle => None,
        }
    }
}

/// Where a REP socket is in its cycle. The state carries the envelope it must answer
/// along, so a reply can only go back the way its request came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepState {
    /// Waiting for a request: the next operation must be a receive.
    Idle,
    /// Holding a request from `peer`; the reply goes back with `envelope` in front.
    Replying { peer: PeerId, envelope: Frames },
}

/// REP's state machine (RFC 28).
#[derive(Debug, Clone)]
pub(crate) struct RepMachine {
    pub(crate) state: RepState,
}

impl RepMachine {
    pub(crate) fn new() -> RepMachine {
        RepMachine {
            state: RepState::Idle,
        }
    }

    /// Splits a request into envelope (every frame up to and including the first empty
    /// one) and body, and remembers the envelope. A message without a delimiter, or with
    /// nothing after it, is not a request and gives `None` (libzmq drops both too).
    pub(crate) fn on_request(&mut self, from: PeerId, msg: Message) -> Option<Message> {
        if self.state != RepState::Idle {
            return None;
        }
        let mut frames = msg.into_frames();
        let split = frames.iter().position(|f| f.is_empty())? + 1;
        if split >= frames.len() {
            return None;
        }
        let body = frames.split_off(split);
        self.state = RepState::Replying {
            peer: from,
            envelope: Frames::from_vec(frames),
        };
        Some(Message::multipart(body))
    }

    /// Wraps a reply in the saved envelope; tells which peer it goes to. The request is
    /// used up: the machine is idle again, whatever becomes of the reply.
    pub(crate) fn wrap(&mut self, body: Message) -> Result<(PeerId, Message), SendError> {
        let wrapped = self.wrap_keeping(body)?;
        self.state = RepState::Idle;
        Ok(wrapped)
    }

    /// As [`RepMachine::wrap`], but the request stays in hand (the envelope's frames are
    /// shared, not copied), for a reply that may have to wait for room and be tried
    /// again; [`RepMachine::abandon`] settles it once the reply went out.
    pub(crate) fn wrap_keeping(&self, body: Message) -> Result<(PeerId, Message), SendError> {
        match &self.state {
            RepState::Idle => Err(SendError::new(
                Error::WrongState("REP must receive a request before sending a reply"),
                body,
            )),
            RepState::Replying { peer, envelope } => {
                let mut frames = envelope.clone();
                frames.extend(body);
                Ok((*peer, Message::from_frames(frames)))
            }
        }
    }

    /// The application dropped the request without answering.
    pub(crate) fn abandon(&mut self) {
        self.state = RepState::Idle;
    }
}

/// Sends a request: round-robin to the next peer with room. A body with no frames is
/// refused ([`Error::EmptyMessage`]) and the socket stays idle.
pub(crate) fn req_send(
    core: &mut SocketCore,
    machine: &mut ReqMachine,
    body: Message,
    wait: Wait,
) -> Result<(), SendError> {
    let body = refuse_empty(body)?;
    // Frames are reference-counted, so keeping the body to hand back on failure, and the
    // wire form to recognise the request if it comes back unsent, is cheap.
    let (wire, id) = machine.wrap(body.clone())?;
    // Whatever a broken connection handed back belongs to requests given up already.
    drop(core.take_held());
    match send_request(core, wire.clone(), wait) {
        Ok(peer) => {
            machine.sent(peer, id, wire);
            Ok(())
        }
        Err(e) => Err(SendError::new(e.into_parts().0, body)),
    }
}

/// Puts a request on the wire, round-robin, waiting for room as `wait` allows. Right
/// before each try it drops whatever the peers have queued for us, as libzmq's REQ does
/// before each request: no peer has this request yet, so nothing it sent can be the
/// reply, and left queued it would be taken for the reply by the next receive. (A message
/// still on its way from the peer when the request leaves is not caught here; only
/// [`Req::set_correlate`] tells such a one apart.)
fn send_request(core: &mut SocketCore, mut wire: Message, wait: Wait) -> Result<PeerId, SendError> {
    loop {
        core.discard_queued();
        match core.send_round_robin(wire, Wait::Never) {
            Ok(peer) => return Ok(peer),
            Err(e) if matches!(e.error(), Error::WouldBlock) => wire = e.into_message(),
            Err(e) => return Err(e),
        }
        if let Err(e) = core.wait(wait) {
            return Err(SendError::new(e, wire));
        }
    }
}

/// If the connection to the peer asked broke before the request was wholly written to the
/// kernel, the request never reached it: send it to the next peer in turn (waiting for
/// room as `wait` allows) and wait on that one instead. Returns whether it was resent;
/// other handed-back messages (requests given up earlier) are dropped.
fn resend_returned(core: &mut SocketCore, machine: &mut ReqMachine, wait: Wait) -> Result<bool> {
    let held = core.take_held();
    let Some((from, _)) = held.iter().find(|(from, m)| machine.came_back(*from, m)) else {
        return Ok(false);
    };
    let from = *from;
    let Some(request) = machine.request().cloned() else {
        return Ok(false);
    };
    match send_request(core, request, wait) {
        Ok(peer) => {
            machine.resent(peer);
            Ok(true)
        }
        Err(e) => {
            let (error, request) = e.into_parts();
            // Not sent yet: keep it for the next look (a non-blocking receive comes back).
            core.hold_front(from, request);
            Err(error)
        }
    }
}

/// Waits for the reply to the outstanding request, as `wait` allows. On a timeout or a
/// lost peer the request is abandoned (hanging up on a silent peer), so the socket can send
/// again at once; a non-blocking call that finds no reply yet keeps the request outstanding.
pub(crate) fn req_recv(
    core: &mut SocketCore,
    machine: &mut ReqMachine,
    wait: Wait,
) -> Result<Message> {
    if machine.waiting_on().is_none() {
        return Err(Error::WrongState(
            "REQ must send a request before receiving",
        ));
    }
    let mut discards = Discards::default();
    loop {
        match core.recv_fair(Wait::Never) {
            Ok((from, mut msg)) => {
                let meta = msg.take_metadata();
                match machine.on_message(from, msg) {
                    ReqVerdict::Deliver(mut body) => {
                        body.set_metadata(meta);
                        return Ok(body);
                    }
                    // A flood of messages that are not the reply must not keep the call
                    // past its deadline, nor a non-blocking one going.
                    ReqVerdict::Discard => match discards.one_more(wait) {
                        Ok(()) => {}
                        Err(Error::WouldBlock) => return Err(Error::WouldBlock),
                        Err(e) => {
                            req_abandon(core, machine);
                            return Err(e);
                        }
                    },
                }
            }
            Err(Error::WouldBlock) => {
                match resend_returned(core, machine, wait) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(Error::WouldBlock) => return Err(Error::WouldBlock),
                    Err(e) => {
                        req_abandon(core, machine);
                        return Err(e);
                    }
                }
                let Some(asked) = machine.waiting_on() else {
                    return Err(Error::WrongState(
                        "REQ must send a request before receiving",
                    ));
                };
                if core.peer(asked).is_none() {
                    machine.abandon();
                    return Err(Error::Disconnected);
                }
                match core.wait(wait) {
                    Ok(()) => {}
                    Err(Error::WouldBlock) => return Err(Error::WouldBlock),
                    Err(e) => {
                        req_abandon(core, machine);
                        return Err(e);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Gives up the outstanding request, if any.
pub(crate) fn req_abandon(core: &mut SocketCore, machine: &mut ReqMachine) {
    if let Some(peer) = machine.abandon() {
        core.hang_up(peer);
    }
}

/// Waits for a request; returns its body (the envelope stays in the machine).
pub(crate) fn rep_recv(
    core: &mut SocketCore,
    machine: &mut RepMachine,
    wait: Wait,
) -> Result<Message> {
    if machine.state != RepState::Idle {
        return Err(Error::WrongState(
            "REP must send the reply before receiving again",
        ));
    }
    let mut discards = Discards::default();
    loop {
        let (from, mut msg) = core.recv_fair(wait)?;
        // The peer's metadata is shared, not copied: the body gets the same `Arc`.
        let meta = msg.take_metadata();
        if let Some(mut body) = machine.on_request(from, msg) {
            body.set_metadata(meta);
            return Ok(body);
        }
        // Not a request: dropped, within the caller's deadline however many come.
        discards.one_more(wait)?;
    }
}

/// Sends the reply back along the saved envelope. A peer that has gone is an
/// [`Error::Disconnected`]; the REP is ready for the next request either way. A body with
/// no frames is refused ([`Error::EmptyMessage`]) and the request stays in hand.
pub(crate) fn rep_send(
    core: &mut SocketCore,
    machine: &mut RepMachine,
    body: Message,
    wait: Wait,
) -> Result<(), SendError> {
    let body = refuse_empty(body)?;
    let (peer, wire) = machine.wrap(body.clone())?;
    core.send_to(peer, wire, wait)
        .map_err(|e| SendError::new(reply_error(e.into_parts().0), body))
}

/// A reply's peer that has gone is [`Error::Disconnected`] to the REP's caller.
fn reply_error(error: Error) -> Error {
    match error {
        Error::Closed => Error::Disconnected,
        other => other,
    }
}

/// One non-blocking try at [`rep_send`] that keeps the request in hand when the
/// requester has no room ([`Error::WouldBlock`], the body handed back), so the async
/// reply can wait and try again. Any other outcome settles the request as [`rep_send`]
/// does.
pub(crate) fn rep_try_reply(
    core: &mut SocketCore,
    machine: &mut RepMachine,
    body: Message,
) -> Result<(), SendError> {
    let body = refuse_empty(body)?;
    let (peer, wire) = machine.wrap_keeping(body.clone())?;
    match core.send_to(peer, wire, Wait::Never) {
        Ok(()) => {
            machine.abandon();
            Ok(())
        }
        Err(e) if matches!(e.error(), Error::WouldBlock) => {
            Err(SendError::new(Error::WouldBlock, body))
        }
        Err(e) => {
            machine.abandon();
            Err(SendError::new(reply_error(e.into_parts().0), body))
        }
    }
}

/// The client side of request-reply: sends a request, then receives its reply.
///
/// The alternation is enforced by the types. [`Req::send`] returns a [`Pending`] request that
/// borrows the socket, so nothing else can be sent until the reply is received or the
/// request is given up; and there is no way to receive without a pending request:
///
/// | state | what you hold | what you can do |
/// |---|---|---|
/// | idle | `Req` | `send` (→ waiting), `request` (send and wait in one call) |
/// | waiting | `Pending<'_>` | `recv`/`recv_timeout` (→ idle, with the reply or an error), `abandon`/drop (→ idle) |
///
/// Requests go round-robin to the connected REP (or ROUTER) peers, and only the peer asked
/// can answer. When no reply comes in time the request is given up: the socket hangs up on
/// the silent peer (tcp/ipc reconnect at once) so that a late reply can never be taken for
/// the answer to a later request, and the next send goes to the next peer — the Lazy Pirate
/// pattern with no socket to close and reopen. With [`Req::set_correlate`], requests carry
/// libzmq's REQ_CORRELATE id instead and connections stay up.
///
/// For sockets kept in structs or chosen at run time, see [`Socket`](crate::Socket), which
/// checks the same rules when called.
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut rep = ctx.rep()?;
/// rep.bind("inproc://hello")?;
/// let mut req = ctx.req()?;
/// req.connect("inproc://hello")?;
///
/// let pending = req.send("Hello")?;
/// let request = rep.recv()?;
/// assert_eq!(request.body(), "Hello");
/// request.reply("World")?;
/// assert_eq!(pending.recv()?, "World");
/// # Ok::<(), ferromq::Error>(())
/// ```
///
/// Misuse does not compile:
///
/// ```compile_fail
/// # let ctx = ferromq::Context::new();
/// let mut req = ctx.req().unwrap();
/// let first = req.send("one").unwrap();
/// let second = req.send("two"); // error: `req` is still borrowed by `first`
/// first.recv();
/// ```
#[derive(Debug)]
pub struct Req {
    core: SocketCore,
    machine: ReqMachine,
}

socket_common!(Req);

impl Req {
    /// A new REQ socket in `ctx`.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Req> {
        Ok(Req {
            core: SocketCore::new(ctx, SocketType::Req),
            machine: ReqMachine::new(),
        })
    }

    /// Sends a request to the next peer in turn, waiting up to the send timeout while no
    /// peer can take it, and returns the pending request to receive the reply from.
    ///
    /// First it drops every message the peers sent since the last reply (as libzmq's REQ
    /// does): none of them can be the answer to this request, and kept they would be taken
    /// for it.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when no peer could take the request in time;
    /// [`Error::EmptyMessage`] for a message with no frames. The message comes back inside
    /// the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<Pending<'_>, SendError> {
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        req_send(&mut self.core, &mut self.machine, msg.into(), wait)?;
        Ok(Pending {
            req: self,
            done: false,
        })
    }

    /// Sends a request and waits for its reply: [`Req::send`] then [`Pending::recv`].
    ///
    /// # Errors
    ///
    /// As those two; after any error the socket is ready to send again.
    pub fn request(&mut self, msg: impl Into<Message>) -> Result<Message> {
        self.send(msg)?.recv()
    }

    /// Sends a request without blocking the thread, and gives the pending request to
    /// await the reply from: the async form of [`Req::send`], through the same step,
    /// waiting for a peer with room on the socket's doorbell. The send timeout does not
    /// apply; wrap the future in the runtime's timeout instead.
    ///
    /// Cancellation safe: when the future completes the request is on its way and the
    /// [`Pending`] it gives holds it; dropped before, nothing was sent and the socket
    /// stays idle.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let ctx = ferromq::Context::new();
    /// let mut rep = ctx.rep()?;
    /// rep.bind("inproc://req-async-doc")?;
    /// let mut req = ctx.req()?;
    /// req.connect("inproc://req-async-doc")?;
    ///
    /// let pending = req.send_async("Hello").await?;
    /// let request = rep.recv_async().await?;
    /// assert_eq!(request.body(), "Hello");
    /// request.reply_async("World").await?;
    /// assert_eq!(pending.recv_async().await?, "World");
    /// # Ok::<(), ferromq::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Req::send`], with no timeout;
    /// [`Error::IoThreadStopped`] if the context's I/O thread died. The message comes back
    /// inside the [`SendError`].
    pub fn send_async(
        &mut self,
        msg: impl Into<Message>,
    ) -> impl std::future::Future<Output = Result<Pending<'_>, SendError>> + Send + '_ {
        let mut slot = Some(msg.into());
        let mut req = Some(self);
        std::future::poll_fn(move |cx| {
            let Some(socket) = req.as_deref_mut() else {
                return Poll::Ready(Err(SendError::new(
                    aio::polled_after_completion(),
                    Message::new(),
                )));
            };
            let sent = std::task::ready!(aio::poll_send(socket, cx, &mut slot, |s, m| {
                req_send(&mut s.core, &mut s.machine, m, Wait::Never)
            }));
            Poll::Ready(match (sent, req.take()) {
                (Ok(()), Some(req)) => Ok(Pending { req, done: false }),
                (Err(e), _) => Err(e),
                (Ok(()), None) => Err(SendError::new(
                    aio::polled_after_completion(),
                    Message::new(),
                )),
            })
        })
    }

    /// Sends a request and awaits its reply: [`Req::send_async`] then
    /// [`Pending::recv_async`]. Dropping the future before the reply gives the request
    /// up, as [`Pending::recv_async`] says.
    ///
    /// # Errors
    ///
    /// As those two; after any error the socket is ready to send again.
    pub fn request_async(
        &mut self,
        msg: impl Into<Message>,
    ) -> impl std::future::Future<Output = Result<Message>> + Send + '_ {
        let send = self.send_async(msg);
        async move { send.await?.recv_async().await }
    }

    /// Makes requests carry a 4-byte id that the reply must echo (libzmq's
    /// `ZMQ_REQ_CORRELATE` wire form). A late reply is then recognised by its id and the
    /// connection to a slow peer stays up. A libzmq or ferromq REP, and a ROUTER that passes
    /// envelopes through, handle this; an application on a ROUTER that expects exactly
    /// `[identity, "", body]` does not. Off by default.
    pub fn set_correlate(&mut self, correlate: bool) {
        self.machine.correlate = correlate;
    }

    /// Behaves as libzmq's REQ with `ZMQ_REQ_RELAXED` (off by default): a request given up
    /// (a receive that times out, [`Pending::abandon`], dropping the [`Pending`]) leaves
    /// the connection to its peer up instead of hanging up on it, and the next request goes
    /// to the next peer in turn. On the dynamic [`Socket`](crate::Socket) a send while a
    /// request is outstanding is then allowed: it gives that request up, as libzmq's.
    ///
    /// Without hanging up, a late reply to a request given up may be taken for the reply
    /// to the next request sent to the same peer, as in libzmq: pair it with
    /// [`Req::set_correlate`], as libzmq's documentation advises, so late replies are told
    /// apart by their id. ferromq's default (hang up on the silent peer) needs neither.
    pub fn set_relaxed(&mut self, relaxed: bool) {
        self.machine.relaxed = relaxed;
    }

    /// Whether libzmq's relaxed REQ behaviour is on; see [`Req::set_relaxed`].
    pub fn relaxed(&self) -> bool {
        self.machine.relaxed
    }

    /// Sends an empty message to every peer as it connects (libzmq's
    /// `ZMQ_PROBE_ROUTER`), so a ROUTER on the other end learns this socket's routing id
    /// before the first request. The ROUTER's application must expect it. Applies to peers
    /// that attach after the call.
    pub fn set_probe_router(&mut self, probe: bool) {
        self.core.options.probe_router = probe;
    }

    /// Whether requests carry an id the reply must echo (libzmq's `ZMQ_REQ_CORRELATE`,
    /// which libzmq cannot read back). See [`Req::set_correlate`].
    pub fn correlate(&self) -> bool {
        self.machine.correlate
    }

    /// Whether each new peer gets an empty message first (libzmq's `ZMQ_PROBE_ROUTER`,
    /// which libzmq cannot read back). See [`Req::set_probe_router`].
    pub fn probe_router(&self) -> bool {
        self.core.options.probe_router
    }
}

/// A request that has been sent and awaits its reply. It borrows its [`Req`], so no other
/// request can be sent meanwhile. Dropping it gives the request up, like
/// [`Pending::abandon`].
#[derive(Debug)]
#[must_use = "a pending request does nothing unless you receive its reply"]
pub struct Pending<'a> {
    req: &'a mut Req,
    /// Set once the reply was asked for: the request is settled, nothing to give up.
    done: bool,
}

impl Pending<'_> {
    /// Waits for the reply up to the socket's receive timeout (forever by default).
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when no reply came in time, [`Error::Disconnected`] when the peer
    /// went away after the request reached it (was wholly written to its connection). Either
    /// way the request is given up and the socket can send again. A request that the peer
    /// never got whole, because its connection broke first (or, inproc, it closed without
    /// taking it), is not an error: it goes to the next peer, or to the reconnection, and
    /// the wait goes on for that one's reply.
    pub fn recv(self) -> Result<Message> {
        let wait = Wait::from_timeout(self.req.core.options.recv_timeout);
        self.recv_with(wait)
    }

    /// Waits for the reply at most `timeout`, whatever the socket's receive timeout is.
    ///
    /// # Errors
    ///
    /// As [`Pending::recv`].
    pub fn recv_timeout(self, timeout: Duration) -> Result<Message> {
        self.recv_with(Wait::from_timeout(Some(timeout)))
    }

    fn recv_with(mut self, wait: Wait) -> Result<Message> {
        // `req_recv` itself gives the request up on a timeout or a lost peer.
        self.done = true;
        req_recv(&mut self.req.core, &mut self.req.machine, wait)
    }

    /// Gives the request up without waiting: a reply that comes later is never delivered.
    pub fn abandon(self) {}
}

impl<'a> Pending<'a> {
    /// Awaits the reply without blocking the thread: the async form of [`Pending::recv`],
    /// through the same step, woken by the socket's doorbell. The socket's receive timeout
    /// does not apply; wrap the future in the runtime's timeout instead.
    ///
    /// Dropping the future before the reply comes gives the request up exactly as a
    /// blocking receive that times out does: the socket hangs up on the peer asked (unless
    /// [`Req::set_relaxed`]), so a late reply can never be taken for the answer to the
    /// next request, and the socket can send again at once. So
    /// `tokio::time::timeout(d, pending.recv_async())` is [`Pending::recv_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Pending::recv`], with no timeout; [`Error::IoThreadStopped`] if the context's
    /// I/O thread died (the request is given up).
    pub fn recv_async(mut self) -> impl std::future::Future<Output = Result<Message>> + Send + 'a {
        std::future::poll_fn(move |cx| {
            if self.done {
                return Poll::Ready(Err(aio::polled_after_completion()));
            }
            let got = std::task::ready!(aio::poll_step(&mut self, cx, Interest::READABLE, |p| {
                aio::blocked(req_recv(&mut p.req.core, &mut p.req.machine, Wait::Never))
            }));
            match got {
                // `req_recv` settled the request: replied, or given up on an error.
                Ok(result) => {
                    self.done = true;
                    Poll::Ready(result)
                }
                Err(e) => {
                    self.done = true;
                    req_abandon(&mut self.req.core, &mut self.req.machine);
                    Poll::Ready(Err(e))
                }
            }
        })
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            req_abandon(&mut self.req.core, &mut self.req.machine);
        }
    }
}

/// The server side of request-reply: receives a request, then answers it.
///
/// [`Rep::recv`] returns a [`Request`] that borrows the socket and holds the way back to the
/// client (every envelope frame a broker may have added). [`Request::reply`] consumes it,
/// so a request cannot be answered twice, and nothing can be received before it is
/// answered or dropped. Dropping a request without replying frees the socket for the
/// next one (libzmq's REP would be stuck until it sent something).
///
/// | state | what you hold | what you can do |
/// |---|---|---|
/// | idle | `Rep` | `recv`/`try_recv`/`recv_timeout` (→ replying) |
/// | replying | `Request<'_>` | `reply` (→ idle), drop (→ idle, no reply) |
///
/// Requests are fair-queued across the connected REQ (or DEALER) peers.
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut rep = ctx.rep()?;
/// rep.bind("tcp://127.0.0.1:*")?;
/// let mut req = ctx.req()?;
/// req.connect(rep.last_endpoint().unwrap())?;
///
/// let server = std::thread::spawn(move || -> ferromq::Result<()> {
///     let request = rep.recv()?;
///     let name = String::from_utf8_lossy(&request.body()[0]).into_owned();
///     request.reply(format!("Hello, {name}"))?;
///     Ok(())
/// });
/// assert_eq!(req.request("Ada")?, "Hello, Ada");
/// server.join().unwrap()?;
/// # Ok::<(), ferromq::Error>(())
/// ```
///
/// Answering twice does not compile:
///
/// ```compile_fail
/// # let ctx = ferromq::Context::new();
/// let mut rep = ctx.rep().unwrap();
/// let request = rep.recv().unwrap();
/// request.reply("one").unwrap();
/// request.reply("two").unwrap(); // error: use of moved value `request`
/// ```
#[derive(Debug)]
pub struct Rep {
    core: SocketCore,
    machine: RepMachine,
}

socket_common!(Rep);

impl Rep {
    /// A new REP socket in `ctx`.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Rep> {
        Ok(Rep {
            core: SocketCore::new(ctx, SocketType::Rep),
            machine: RepMachine::new(),
        })
    }

    /// Waits for the next request, up to the receive timeout (forever by default).
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Request<'_>> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        self.recv_with(wait)
    }

    /// Takes a request if one is queued.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when none is.
    pub fn try_recv(&mut self) -> Result<Request<'_>> {
        self.recv_with(Wait::Never)
    }

    /// Waits for a request at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Request<'_>> {
        self.recv_with(Wait::from_timeout(Some(timeout)))
    }

    /// Awaits the next request without blocking the thread: the async form of
    /// [`Rep::recv`], through the same step, woken by the socket's doorbell. The receive
    /// timeout does not apply; wrap the future in the runtime's timeout instead.
    ///
    /// Cancellation safe: a request is taken only when the future completes, and is then
    /// in the [`Request`] it gives; dropped before, nothing was taken.
    ///
    /// # Errors
    ///
    /// As [`Rep::try_recv`], except that it waits instead of returning
    /// [`Error::WouldBlock`]; [`Error::IoThreadStopped`] if the context's I/O thread died.
    pub fn recv_async(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Request<'_>>> + Send + '_ {
        let mut rep = Some(self);
        std::future::poll_fn(move |cx| {
            let Some(socket) = rep.as_deref_mut() else {
                return Poll::Ready(Err(aio::polled_after_completion()));
            };
            let got = std::task::ready!(aio::poll_step(socket, cx, Interest::READABLE, |s| {
                aio::blocked(rep_recv(&mut s.core, &mut s.machine, Wait::Never))
            }));
            Poll::Ready(match (got.and_then(|r| r), rep.take()) {
                (Ok(body), Some(rep)) => Ok(Request {
                    rep,
                    body,
                    done: false,
                }),
                (Err(e), _) => Err(e),
                (Ok(_), None) => Err(aio::polled_after_completion()),
            })
        })
    }

    fn recv_with(&mut self, wait: Wait) -> Result<Request<'_>> {
        let body = rep_recv(&mut self.core, &mut self.machine, wait)?;
        Ok(Request {
            rep: self,
            body,
            done: false,
        })
    }
}

/// A request received by a [`Rep`], holding the way back to its sender.
#[derive(Debug)]
#[must_use = "a request should be answered with `reply`"]
pub struct Request<'a> {
    rep: &'a mut Rep,
    body: Message,
    /// Set once the reply was sent (or tried): nothing to give up on drop.
    done: bool,
}

impl Request<'_> {
    /// The request's frames, without the envelope.
    pub fn body(&self) -> &Message {
        &self.body
    }

    /// Takes the body out, e.g. to keep it after replying. The request is still answerable.
    pub fn take_body(&mut self) -> Message {
        std::mem::take(&mut self.body)
    }

    /// Sends the reply back to the peer the request came from, along its envelope.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when that peer has gone; [`Error::TimedOut`] when its queue
    /// stayed full past the send timeout; [`Error::EmptyMessage`] for a reply with no frames
    /// (nothing is sent). The REP is ready for the next request either way.
    pub fn reply(mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        let wait = Wait::from_timeout(self.rep.core.options.send_timeout);
        let sent = rep_send(&mut self.rep.core, &mut self.rep.machine, msg.into(), wait);
        // A refused reply leaves the request in the machine; this one is used up, so
        // `drop` gives it up.
        self.done = sent.is_ok();
        sent
    }
}

impl<'a> Request<'a> {
    /// Sends the reply without blocking the thread: the async form of
    /// [`Request::reply`], waiting on the socket's doorbell while the requester's queue
    /// is full. The send timeout does not apply; wrap the future in the runtime's timeout
    /// instead.
    ///
    /// Cancellation: the reply is queued whole when the future completes. Dropped before,
    /// nothing was queued, and the request is given up as dropping the [`Request`] does
    /// (the REP is free for the next one; the requester gets no reply).
    ///
    /// # Errors
    ///
    /// As [`Request::reply`], with no timeout; [`Error::IoThreadStopped`] if the
    /// context's I/O thread died. The REP is ready for the next request either way.
    pub fn reply_async(
        mut self,
        msg: impl Into<Message>,
    ) -> impl std::future::Future<Output = Result<(), SendError>> + Send + 'a {
        let mut slot = Some(msg.into());
        std::future::poll_fn(move |cx| {
            if self.done {
                return Poll::Ready(Err(SendError::new(
                    aio::polled_after_completion(),
                    Message::new(),
                )));
            }
            let sent = std::task::ready!(aio::poll_send(&mut self, cx, &mut slot, |r, m| {
                rep_try_reply(&mut r.rep.core, &mut r.rep.machine, m)
            }));
            // Settled either way (`rep_try_reply` or the drop below gives it up).
            self.done = true;
            if sent.is_err() {
                self.rep.machine.abandon();
            }
            Poll::Ready(sent)
        })
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.rep.machine.abandon();
        }
    }
}

impl crate::poll::sealed::Sealed for Req {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    /// A `Req` that can be polled has no request outstanding (a [`Pending`] borrows it):
    /// writable when a peer has room, never readable.
    fn poll_ready(&mut self, interest: Interest) -> Interest {
        req_poll_ready(&mut self.core, &mut self.machine, interest)
    }
}

impl crate::poll::sealed::Sealed for Pending<'_> {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.req.core)
    }

    /// Readable when the peer asked has sent something (the reply, normally).
    fn poll_ready(&mut self, interest: Interest) -> Interest {
        req_poll_ready(&mut self.req.core, &mut self.req.machine, interest)
    }
}

impl crate::poll::sealed::Sealed for Rep {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    /// A `Rep` that can be polled holds no request (a [`Request`] borrows it).
    fn poll_ready(&mut self, interest: Interest) -> Interest {
        rep_poll_ready(&mut self.core, &self.machine, interest)
    }
}

impl crate::poll::sealed::Sealed for Request<'_> {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.rep.core)
    }

    /// Writable when the requester has room for the reply.
    fn poll_ready(&mut self, interest: Interest) -> Interest {
        rep_poll_ready(&mut self.rep.core, &self.rep.machine, interest)
    }
}

/// REQ's poll readiness: readable only while waiting, for the peer asked; writable only
/// when idle and a peer has room.
pub(crate) fn req_poll_ready(
    core: &mut SocketCore,
    machine: &mut ReqMachine,
    interest: Interest,
) -> Interest {
    if machine.waiting_on().is_some() && interest.is_readable() {
        // A request handed back by a broken connection goes out again now, as a receive
        // would send it, or a REQ that is only polled would wait forever.
        let _ = resend_returned(core, machine, Wait::Never);
    }
    match machine.waiting_on() {
        // Readable when the reply is there, or when the peer asked has gone (a receive
        // then returns `Disconnected` at once rather than blocking).
        Some(peer) => Interest::from_flags(
            interest.is_readable()
                && (core.poll_readable_from(peer)
                    || core.peer(peer).is_none_or(|p| p.rx.is_writer_closed())),
            false,
        ),
        None => Interest::from_flags(false, interest.is_writable() && core.poll_writable()),
    }
}

/// REP's poll readiness: readable when idle and a request is queued; writable while
/// replying, when the requester has room.
pub(crate) fn rep_poll_ready(
    core: &mut SocketCore,
    machine: &RepMachine,
    interest: Interest,
) -> Interest {
    match &machine.state {
        RepState::Idle => {
            Interest::from_flags(interest.is_readable() && core.poll_readable(), false)
        }
        RepState::Replying { peer, .. } => Interest::from_flags(
            false,
            interest.is_writable() && core.poll_writable_to(*peer),
        ),
    }
}

impl Context {
    /// A new REQ socket; see [`Req`].
    ///
    /// # Errors
    ///
    /// As [`Req::new`].
    pub fn req(&self) -> Result<Req> {
        Req::new(self)
    }

    /// A new REP socket; see [`Rep`].
    ///
    /// # Errors
    ///
    /// As [`Rep::new`].
    pub fn rep(&self) -> Result<Rep> {
        Rep::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(frames: &[&'static str]) -> Message {
        Message::multipart(frames.iter().copied())
    }

    #[test]
    fn req_wraps_with_a_delimiter_and_only_accepts_the_asked_peer() {
        let mut m = ReqMachine::new();
        let (wire, id) = m.wrap(msg(&["Hi"])).unwrap();
        assert_eq!(wire, msg(&["", "Hi"]));
        assert_eq!(id, None);
        m.sent(7, id, wire);
        assert!(
            m.wrap(msg(&["again"])).is_err(),
            "second send while waiting"
        );
        assert_eq!(
            m.on_message(8, msg(&["", "other peer"])),
            ReqVerdict::Discard
        );
        assert_eq!(m.on_message(7, msg(&["no delimiter"])), ReqVerdict::Discard);
        assert_eq!(
            m.on_message(7, msg(&["", "a", "b"])),
            ReqVerdict::Deliver(msg(&["a", "b"]))
        );
        assert_eq!(m.state, ReqState::Idle);
        assert_eq!(m.on_message(7, msg(&["", "late"])), ReqVerdict::Discard);
    }

    #[test]
    fn req_correlation_drops_replies_to_old_requests() {
        let mut m = ReqMachine::new();
        m.correlate = true;
        let (wire1, id1) = m.wrap(msg(&["one"])).unwrap();
        assert_eq!(wire1.len(), 3);
        m.sent(1, id1, wire1.clone());
        assert_eq!(m.abandon(), None, "correlating needs no hang-up");
        let (wire2, id2) = m.wrap(msg(&["two"])).unwrap();
        assert_ne!(id1, id2);
        m.sent(1, id2, wire2);
        let late = Message::multipart([wire1[0].clone(), Frame::new(), Frame::from("r1")]);
        assert_eq!(m.on_message(1, late), ReqVerdict::Discard);
        let id2 = id2.unwrap().to_ne_bytes().to_vec();
        let good = Message::multipart([id2, Vec::new(), b"r2".to_vec()]);
        assert_eq!(m.on_message(1, good), ReqVerdict::Deliver(msg(&["r2"])));
    }

    #[test]
    fn req_recognises_its_request_handed_back_and_follows_it() {
        let mut m = ReqMachine::new();
        m.correlate = true;
        let (old, id) = m.wrap(msg(&["old"])).unwrap();
        m.sent(4, id, old.clone());
        m.abandon();
        let (wire, id) = m.wrap(msg(&["new"])).unwrap();
        m.sent(4, id, wire.clone());
        assert!(!m.came_back(4, &old), "a request given up is not resent");
        assert!(!m.came_back(5, &wire), "only from the peer asked");
        assert!(m.came_back(4, &wire));
        m.resent(9);
        assert_eq!(m.waiting_on(), Some(9));
        let reply = Message::multipart(
            wire.clone()
                .into_frames()
                .into_iter()
                .chain([Frame::from("r")]),
        );
        assert_eq!(m.on_message(4, reply.clone()), ReqVerdict::Discard);
        assert_eq!(
            m.on_message(9, reply),
            ReqVerdict::Deliver(msg(&["new", "r"]))
        );
        assert!(!m.came_back(9, &wire), "answered: nothing outstanding");
    }

    #[test]
    fn req_abandon_names_the_peer_to_hang_up_on() {
        let mut m = ReqMachine::new();
        let (wire, id) = m.wrap(msg(&["x"])).unwrap();
        m.sent(3, id, wire);
        assert_eq!(m.abandon(), Some(3));
        assert_eq!(m.abandon(), None);
        assert!(m.wrap(msg(&["y"])).is_ok());
    }

    #[test]
    fn rep_keeps_the_whole_envelope_and_answers_along_it() {
        let mut m = RepMachine::new();
        let body = m
            .on_request(5, msg(&["router-a", "router-b", "", "q1", "q2"]))
            .unwrap();
        assert_eq!(body, msg(&["q1", "q2"]));
        assert!(
            m.on_request(6, msg(&["", "second"])).is_none(),
            "one at a time"
        );
        let (peer, wire) = m.wrap(msg(&["answer"])).unwrap();
        assert_eq!(peer, 5);
        assert_eq!(wire, msg(&["router-a", "router-b", "", "answer"]));
        assert!(m.wrap(msg(&["twice"])).is_err());
    }

    #[test]
    fn rep_drops_requests_without_a_delimiter_or_a_body() {
        let mut m = RepMachine::new();
        assert!(m.on_request(1, msg(&["no", "delimiter"])).is_none());
        assert_eq!(m.state, RepState::Idle);
        assert!(m.on_request(1, msg(&[""])).is_none(), "nothing after it");
        assert!(m.on_request(1, msg(&["router", ""])).is_none());
        assert_eq!(m.state, RepState::Idle);
        assert_eq!(m.on_request(1, msg(&["", ""])).unwrap(), msg(&[""]));
    }

    #[test]
    fn req_drops_a_reply_with_nothing_after_the_delimiter() {
        let mut m = ReqMachine::new();
        let (wire, id) = m.wrap(msg(&["q"])).unwrap();
        m.sent(2, id, wire);
        assert_eq!(m.on_message(2, msg(&[""])), ReqVerdict::Discard);
        assert_eq!(m.waiting_on(), Some(2), "still waiting for the reply");
        assert_eq!(
            m.on_message(2, msg(&["", ""])),
            ReqVerdict::Deliver(msg(&[""]))
        );
    }

    #[test]
    fn rep_shares_the_peer_metadata_between_requests() {
        let ctx = Context::new();
        let mut rep = ctx.rep().unwrap();
        rep.bind("inproc://rep-shares-metadata").unwrap();
        let mut req = ctx.req().unwrap();
        req.set_identity("asker").unwrap();
        req.connect("inproc://rep-shares-metadata").unwrap();
        let timeout = Duration::from_secs(10);
        let mut metas = Vec::new();
        for _ in 0..2 {
            let pending = req.send("q").unwrap();
            let request = rep.recv_timeout(timeout).unwrap();
            let meta = request.body().metadata_arc().cloned().unwrap();
            assert_eq!(meta.identity(), b"asker");
            metas.push(meta);
            request.reply("a").unwrap();
            assert_eq!(pending.recv_timeout(timeout).unwrap(), "a");
        }
        assert!(
            std::sync::Arc::ptr_eq(&metas[0], &metas[1]),
            "each request copied the peer's metadata"
        );
    }
}
