//! One tcp or ipc connection: a stream, its sans-IO ZMTP state, and its two pipes.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::mailbox::{next_id, EarlyEnds, Peer, PeerId, Requeue, SocketEvent, SocketShared};
use crate::message::{Message, Metadata};
use crate::monitor::MonitorEvent;
use crate::options::{Options, MIN_FRAME_COST};
use crate::pipe::{pipe, Notify, PipeReader, PipeWriter, ReadError};
use crate::transport::{ConnAddrs, Stream};
use crate::zmtp::{message_wire_len, Connection, ConnectionConfig, Event, MechanismConfig};

use super::raw::Raw;
use super::zap::{self, ZapCall, ZapHub};
use super::IoWake;

/// What a connection speaks: ZMTP, or raw bytes for a STREAM socket ([`Raw`]). The
/// driver below is the same for both; each method forwards to the mode's own.
#[allow(clippy::large_enum_variant)]
enum Codec {
    Zmtp(Connection),
    Raw(Raw),
}

impl Codec {
    fn is_ready(&self) -> bool {
        match self {
            Codec::Zmtp(z) => z.is_ready(),
            Codec::Raw(r) => r.is_ready(),
        }
    }

    fn send_ping(&mut self, ttl_deciseconds: u16, context: &[u8]) {
        if let Codec::Zmtp(z) = self {
            z.send_ping(ttl_deciseconds, context);
        }
    }

    fn poll_event(&mut self) -> crate::Result<Option<Event>> {
        match self {
            Codec::Zmtp(z) => z.poll_event(),
            Codec::Raw(r) => Ok(r.poll_event()),
        }
    }

    fn zap_reply(&mut self, reply: crate::zmtp::ZapReply) -> crate::Result<()> {
        match self {
            Codec::Zmtp(z) => z.zap_reply(reply),
            Codec::Raw(_) => Err(crate::Error::Protocol(
                "a raw connection has no ZAP handshake".into(),
            )),
        }
    }

    fn take_peer_ttl(&mut self) -> Option<u16> {
        match self {
            Codec::Zmtp(z) => z.take_peer_ttl(),
            Codec::Raw(_) => None,
        }
    }

    fn wants_read(&self) -> bool {
        match self {
            Codec::Zmtp(z) => z.wants_read(),
            Codec::Raw(_) => true,
        }
    }

    fn send_message(&mut self, msg: &Message) {
        match self {
            Codec::Zmtp(z) => z.send_message(msg),
            Codec::Raw(r) => r.send_message(msg),
        }
    }

    fn output_len(&self) -> usize {
        match self {
            Codec::Zmtp(z) => z.output_len(),
            Codec::Raw(r) => r.output_len(),
        }
    }

    fn has_output(&self) -> bool {
        match self {
            Codec::Zmtp(z) => z.has_output(),
            Codec::Raw(r) => r.has_output(),
        }
    }

    fn output_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        match self {
            Codec::Zmtp(z) => z.output_slices(out),
            Codec::Raw(r) => r.output_slices(out),
        }
    }

    fn advance_output(&mut self, n: usize) {
        match self {
            Codec::Zmtp(z) => z.advance_output(n),
            Codec::Raw(r) => r.advance_output(n),
        }
    }
}

/// The input side [`read_into`] reads into.
trait ReadInput {
    /// How much room the next read should have beyond `room` (see
    /// [`Connection::read_hint`]).
    fn read_hint(&self, room: usize) -> usize;
    /// What the buffered input lacks to end on a frame boundary, if known (see
    /// [`Connection::frame_rest`]).
    fn frame_rest(&self) -> Option<usize>;
    /// The input buffer.
    fn input(&mut self) -> &mut BytesMut;
}

impl ReadInput for Connection {
    fn read_hint(&self, room: usize) -> usize {
        Connection::read_hint(self, room)
    }
    fn frame_rest(&self) -> Option<usize> {
        Connection::frame_rest(self)
    }
    fn input(&mut self) -> &mut BytesMut {
        Connection::input(self)
    }
}

impl ReadInput for Codec {
    fn read_hint(&self, room: usize) -> usize {
        match self {
            Codec::Zmtp(z) => z.read_hint(room),
            Codec::Raw(r) => r.read_hint(room),
        }
    }
    fn frame_rest(&self) -> Option<usize> {
        match self {
            Codec::Zmtp(z) => z.frame_rest(),
            // A raw stream has no frames to align reads to.
            Codec::Raw(_) => None,
        }
    }
    fn input(&mut self) -> &mut BytesMut {
        match self {
            Codec::Zmtp(z) => z.input(),
            Codec::Raw(r) => r.input(),
        }
    }
}

/// Most messages decoded before they are handed to the socket's pipe in one go (and so
/// most held back here, beyond the pipe's high-water mark, while the pipe is full).
///
/// Each hand-over rings the receiving socket, and a receiver faster than the decoding
/// empties the pipe between hand-overs and spins for the next. With 64, an async PULL
/// over tcp at 16 B spent most cells in a mode with ~300,000 `sched_yield` a second on
/// its runtime's workers; 256 cut that to ~100,000, raised async PUSH/PULL over ipc at
/// 16 B by 12-20 % and the 256 B rows (both faces, tcp and ipc) by 8-16 %, and left
/// round trips as they were (BENCHMARKS.md, issue 14 point 7, evening).
const DECODE_BATCH: usize = 256;
/// Most bytes of messages decoded in one batch, each frame counting at least
/// [`MIN_FRAME_COST`]: a batch stops once it holds this much, so what is held back beyond
/// the pipe's high-water mark is at most this plus one message (of at most `max_msg_size`).
const DECODE_BUDGET: usize = 1024 * 1024;
/// Most bytes read from one connection before others get a turn.
const READ_BUDGET: usize = 256 * 1024;
/// Smallest read: what an idle or quiet connection's buffer holds (libzmq reads 8 KiB).
const READ_MIN: usize = 8 * 1024;
/// Largest read, reached by doubling while reads keep filling what they are offered.
const READ_MAX: usize = 128 * 1024;
/// Encoded output kept ready before the pipe is left alone until the kernel takes some.
const OUTPUT_HIGH: usize = 256 * 1024;
/// Reads of at least this many bytes go into a fresh buffer the kernel fills unzeroed
/// ([`Conn::read_unzeroed`]); smaller ones zero what they offer, which costs less than
/// the extra system call of the unzeroed way (after a short read it reads once more, to
/// see the kernel buffer empty).
const UNZEROED_READ_MIN: usize = 32 * 1024;
/// Most slices handed to one vectored write.
const MAX_SLICES: usize = 64;
/// Most bytes written to one tcp connection before others get a turn (ipc has no limit:
/// see [`write_budget`]).
const TCP_WRITE_BUDGET: usize = 128 * 1024;

/// How many bytes one drive may write to `stream` before it lets other connections run.
///
/// A Unix socket refuses more once about its send buffer (~208 KiB by default) waits
/// unread, so writing until the kernel says `WouldBlock` keeps little in flight. A tcp
/// connection's buffers grow with the traffic: on loopback the send buffer and the peer's
/// receive window reach megabytes, so writing until `WouldBlock` puts megabytes between the
/// writer and a reader on the same I/O thread, which then finds them cold in the cache.
/// PUSH to PULL over loopback tcp on one I/O thread, 64 KiB messages: about 20 k msg/s
/// writing until `WouldBlock`, about 50 k msg/s with 128 KiB per turn.
///
/// While the latest message queued is between half the budget and the budget on the wire,
/// the budget is that one message instead. Loopback tcp on a kernel that paces (BBR, as on
/// the machine of BENCHMARKS.md) measures the connection's bandwidth from how the writes
/// arrive: 128 KiB writes of 64 KiB messages left its pacing rate at 45-260 Gbit/s, low
/// enough that pacing timers and softirqs cost ~8 us a message in the slow runs (the
/// row's bimodality), while one message per write keeps it at ~1500 Gbit/s, out of the
/// way. Smaller messages keep the whole budget: one 64 KiB write of them cost more CPU
/// per message than 128 KiB.
fn write_budget(stream: &Stream, last_unit: usize) -> usize {
    match stream {
        Stream::Tcp(_) if (TCP_WRITE_BUDGET / 2..TCP_WRITE_BUDGET).contains(&last_unit) => {
            last_unit
        }
        Stream::Tcp(_) => TCP_WRITE_BUDGET,
        Stream::Ipc(_) => usize::MAX,
    }
}

/// Where a connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    Accepted,
    /// The connecter with this key and uid.
    Connected(usize, u64),
}

/// Why a connection ended.
#[derive(Debug)]
pub(super) enum End {
    /// The peer closed, or we finished lingering.
    Closed,
    /// The handshake or the stream broke; the monitor reports the reason.
    Failed(crate::Error),
    /// The handshake or the heartbeat timed out; the monitor reports this reason.
    TimedOut(&'static str),
}

impl End {
    /// The reason a monitor reports; `None` for a normal close.
    pub(super) fn reason(&self) -> Option<String> {
        match self {
            End::Closed => None,
            End::Failed(e) => Some(e.to_string()),
            End::TimedOut(why) => Some((*why).to_owned()),
        }
    }
}

/// How a drive left the connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Drive {
    /// Waiting for readiness or a pipe.
    Idle,
    /// Stopped early to let other connections run; drive again soon.
    More,
}

pub(super) struct Conn {
    pub(super) uid: u64,
    pub(super) stream: Stream,
    pub(super) socket: Arc<SocketShared>,
    pub(super) options: Arc<Options>,
    pub(super) origin: Origin,
    pub(super) endpoint: Option<Arc<str>>,
    /// The endpoint monitor events name: the connect endpoint or the listener's.
    pub(super) label: Arc<str>,
    /// The peer's READY came: the handshake succeeded.
    pub(super) handshaken: bool,
    zmtp: Codec,
    /// A STREAM socket's connection: raw bytes, no ZMTP (see [`Raw`]).
    pub(super) raw: bool,
    pub(super) connecting: bool,
    addrs: Option<ConnAddrs>,
    /// The pipe the socket writes messages for the peer into.
    out: Option<PipeReader>,
    /// The pipe this connection writes received messages into.
    inp: Option<PipeWriter>,
    /// Messages decoded but not yet in the inbound pipe: collected while decoding so a
    /// read's worth of messages goes in with at most one ring, and kept here while the pipe is
    /// full. Outside `decode`, any left here were refused by a full pipe (see
    /// [`Conn::stalled`]), and reading stops until the socket takes some.
    decoded: VecDeque<Message>,
    /// The socket's id for the peer, once attached.
    peer_id: Option<PeerId>,
    /// Whether the socket takes back what a broken connection did not deliver (see
    /// [`Conn::take_back`]); only then are sent messages kept in `unsent`.
    requeue: bool,
    /// Messages taken from `out` and encoded but not yet wholly written to the kernel.
    unsent: Unsent,
    /// How much the next read offers the kernel; see `read`.
    read_size: usize,
    /// Encoded size of the latest message decoded (see [`Conn::aligned_room`]).
    last_unit: usize,
    /// Encoded size of the latest message queued for the peer (see [`write_budget`]).
    last_out_unit: usize,
    pub(super) readable: bool,
    pub(super) writable: bool,
    /// The poller reported the peer's side closed (or an error): the end of the stream is
    /// already in the kernel, so a short read must not stop reading before it is seen.
    pub(super) read_closed: bool,
    /// Set once the socket closed or hung up: flush what is owed, then end by this deadline.
    pub(super) linger_until: Option<Instant>,
    /// The socket dropped this peer while staying open (a REQ abandoning a request hangs
    /// up on the silent peer): after the flush, a connecting side reconnects at once.
    pub(super) hung_up: bool,
    /// A linger deadline the loop has yet to arm a timer for.
    pub(super) linger_timer: Option<Instant>,
    eof: bool,
    /// When bytes last arrived from the peer: any traffic is proof of life.
    pub(super) last_recv: Instant,
    /// When the oldest PING still waiting for traffic in return was sent.
    pub(super) ping_sent: Option<Instant>,
    /// The TTL the peer announced in its latest PING (zero until one comes).
    pub(super) peer_ttl: Duration,
    /// The peer announced a TTL the loop has yet to arm a timer for.
    pub(super) ttl_timer: bool,
    /// The handshake just finished; the loop has yet to start the heartbeat.
    pub(super) heartbeat_timer: bool,
    /// Where the context's ZAP handler is.
    zap_hub: Arc<ZapHub>,
    /// The ZAP request under way: the handshake waits for its answer, and nothing more is
    /// read from the peer meanwhile (the handshake timeout still runs).
    zap_call: Option<ZapCall>,
    /// The pipes its connecter made at connect (`ZMQ_IMMEDIATE=0`), until the handshake
    /// puts them in `out` and `inp`.
    early: Option<EarlyEnds>,
    /// The slot of those pipes once they are in `out` and `inp`: they go back to the
    /// connecter when the connection ends ([`Conn::take_early`]).
    early_slot: Option<Arc<crate::mailbox::EarlyLink>>,
    /// What this connection took from those pipes and did not wholly write, once it has
    /// ended: the next connection sends it first.
    early_resend: Vec<Message>,
}

impl Conn {
    // The parts of a connection come from the loop one by one; a struct for them would
    // only be unpacked here.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        stream: Stream,
        socket: Arc<SocketShared>,
        options: Arc<Options>,
        origin: Origin,
        endpoint: Option<Arc<str>>,
        label: Arc<str>,
        connecting: bool,
        zap_hub: Arc<ZapHub>,
        early: Option<EarlyEnds>,
    ) -> Conn {
        let raw = socket.socket_type == crate::SocketType::Stream;
        // Whether the handshake asks ZAP, as libzmq decides: a PLAIN server always, a
        // CURVE server always (with no handler bound, `ask_zap` then admits the peer,
        // unless the ZAP domain is enforced), NULL when a ZAP domain is set.
        let zap = match &options.mechanism {
            MechanismConfig::PlainServer | MechanismConfig::CurveServer { .. } => true,
            MechanismConfig::Null => !options.zap_domain.is_empty(),
            _ => false,
        };
        let zmtp = if raw {
            Codec::Raw(Raw::new())
        } else {
            Codec::Zmtp(Connection::new(ConnectionConfig {
                socket_type: socket.socket_type,
                identity: options.identity.clone(),
                max_msg_size: options.max_msg_size,
                max_metadata_size: options.max_metadata_size,
                max_properties: options.max_properties,
                properties: options.metadata.clone(),
                mechanism: options.mechanism.clone(),
                zap,
            }))
        };
        let addrs = (!connecting).then(|| stream.addrs());
        let requeue = Requeue::for_type(socket.socket_type) != Requeue::Drop;
        Conn {
            uid: next_id(),
            stream,
            socket,
            options,
            origin,
            endpoint,
            label,
            handshaken: false,
            zmtp,
            raw,
            connecting,
            addrs,
            out: None,
            inp: None,
            decoded: VecDeque::new(),
            peer_id: None,
            requeue,
            unsent: Unsent::default(),
            read_size: READ_MIN,
            last_unit: 0,
            last_out_unit: 0,
            // Edge-triggered readiness: assume ready until the kernel says otherwise.
            readable: !connecting,
            writable: !connecting,
            read_closed: false,
            linger_until: None,
            hung_up: false,
            linger_timer: None,
            eof: false,
            last_recv: Instant::now(),
            ping_sent: None,
            peer_ttl: Duration::ZERO,
            ttl_timer: false,
            heartbeat_timer: false,
            zap_hub,
            zap_call: None,
            early,
            early_slot: None,
            early_resend: Vec::new(),
        }
    }

    pub(super) fn is_ready(&self) -> bool {
        self.zmtp.is_ready()
    }

    /// True while the handshake runs with pipes made at connect that hold messages: a
    /// socket that closes lets it finish, to flush them within its linger.
    pub(super) fn has_early_queued(&self) -> bool {
        self.early.as_ref().is_some_and(|e| e.out.len() > 0)
    }

    /// Queues a PING (with our TTL) and, unless an earlier one is still waiting for
    /// traffic in return, remembers when it went out. Returns true when a heartbeat
    /// timeout should be armed (or moved) for this PING: traffic since the last PING
    /// answered it, so its timeout no longer counts, as libzmq cancels it on traffic.
    pub(super) fn send_ping(&mut self, now: Instant) -> bool {
        self.zmtp
            .send_ping(self.options.ping_ttl_deciseconds(), b"");
        if self.ping_sent.is_some_and(|sent| self.last_recv < sent) {
            return false;
        }
        self.ping_sent = Some(now);
        true
    }

    /// Called when the heartbeat timeout of the PING sent at `ping_sent` fires: true if
    /// nothing arrived since, so the peer is presumed dead. A connection we stopped reading
    /// because the socket's inbound queue is full is not judged: its silence is ours.
    pub(super) fn ping_unanswered(&mut self) -> bool {
        let sent = self.ping_sent.take();
        !self.stalled() && matches!(sent, Some(sent) if self.last_recv < sent)
    }

    /// True if the peer announced a TTL and nothing arrived for that long (not judged
    /// while we are not reading, as for [`Conn::ping_unanswered`]).
    pub(super) fn ttl_expired(&self, now: Instant) -> bool {
        !self.stalled()
            && !self.peer_ttl.is_zero()
            && now.saturating_duration_since(self.last_recv) >= self.peer_ttl
    }

    /// Starts lingering: deliver nothing more to the socket, flush what it queued.
    pub(super) fn start_linger(&mut self, deadline: Instant) {
        self.linger_until = Some(deadline);
        self.inp = None;
        self.decoded.clear();
    }

    /// Does all the work the connection can do now.
    pub(super) fn drive(&mut self, wake: &dyn Fn() -> IoWake) -> Result<Drive, End> {
        let result = self.drive_inner(wake);
        if matches!(result, Err(End::Failed(_))) && !self.handshaken && !self.connecting {
            self.flush_error();
        }
        result
    }

    /// A handshake failed: writes what the connection still owes the peer, as far as the
    /// kernel takes it now, so an ERROR command (a refused ZAP request's "400", say)
    /// reaches the peer before the connection closes. Never waits.
    fn flush_error(&mut self) {
        self.zap_call = None;
        self.writable = true;
        let mut budget = 64 * 1024;
        let _ = self.write(&mut budget);
    }

    fn drive_inner(&mut self, wake: &dyn Fn() -> IoWake) -> Result<Drive, End> {
        if self.connecting {
            if !self.writable {
                return Ok(Drive::Idle);
            }
            match self.stream.finish_connect() {
                Ok(true) => {
                    self.connecting = false;
                    let addrs = self.stream.addrs();
                    self.socket.emit(|| MonitorEvent::Connected {
                        endpoint: self.label.to_string(),
                        peer_address: addrs.peer_socket_addr,
                    });
                    self.addrs = Some(addrs);
                    self.readable = true;
                }
                Ok(false) => {
                    self.writable = false;
                    return Ok(Drive::Idle);
                }
                Err(e) => return Err(End::Failed(e.into())),
            }
        }
        let mut budget = READ_BUDGET;
        let mut write_budget = write_budget(&self.stream, self.last_out_unit);
        loop {
            self.poll_zap()?;
            if !self.deliver_stalled() {
                // Inbound pipe full: reading waits until the socket takes messages.
            } else {
                self.decode(wake)?;
            }
            let read_some = self.read(&mut budget)?;
            if read_some {
                continue;
            }
            self.fill_output();
            let wrote = self.write(&mut write_budget)?;
            if self.finished() {
                let _ = self.stream.shutdown_write();
                return Err(End::Closed);
            }
            if budget == 0 || write_budget == 0 {
                return Ok(Drive::More);
            }
            if !wrote {
                return Ok(Drive::Idle);
            }
        }
    }

    /// True while the inbound pipe is full and decoded messages wait here for room. Every
    /// `decode` ends by handing over what fits, so outside it, anything left means that.
    fn stalled(&self) -> bool {
        !self.decoded.is_empty()
    }

    /// Hands decoded messages to the socket, as many as its pipe has room for; false while
    /// some are still refused.
    fn deliver_stalled(&mut self) -> bool {
        if self.decoded.is_empty() {
            return true;
        }
        match &self.inp {
            Some(inp) if inp.write_batch(&mut self.decoded) => {}
            // The socket let go of this peer (or never took it): nobody will read these.
            _ => {
                self.inp = None;
                self.decoded.clear();
            }
        }
        self.decoded.is_empty()
    }

    /// Turns buffered input into events until it runs dry or the socket's pipe is full.
    fn decode(&mut self, wake: &dyn Fn() -> IoWake) -> Result<(), End> {
        loop {
            let result = self.decode_batch(wake);
            let delivered = self.deliver_stalled();
            match result {
                Ok(true) if delivered => continue,
                Ok(_) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Decodes up to [`DECODE_BATCH`] messages, or [`DECODE_BUDGET`] bytes of them, into
    /// `decoded`; true when it stopped at a limit (more input may be buffered), false when
    /// the input ran dry (or the connection wants its output written first).
    fn decode_batch(&mut self, wake: &dyn Fn() -> IoWake) -> Result<bool, End> {
        let mut cost = 0usize;
        while self.decoded.len() < DECODE_BATCH && cost < DECODE_BUDGET {
            let polled = self.zmtp.poll_event();
            if let Some(ttl) = self.zmtp.take_peer_ttl() {
                self.peer_ttl = Duration::from_millis(u64::from(ttl) * 100);
                self.ttl_timer = true;
            }
            let event = match polled {
                Ok(Some(e)) => e,
                Ok(None) => return Ok(false),
                Err(e) => return Err(End::Failed(e)),
            };
            let msg = match event {
                Event::Ready(info) => {
                    self.handshaken = true;
                    // (Nothing is decoded before the handshake, so `decoded` is empty.)
                    self.socket.emit(|| MonitorEvent::HandshakeSucceeded {
                        endpoint: self.label.to_string(),
                        peer_type: info.socket_type,
                    });
                    self.attach(info, wake());
                    continue;
                }
                Event::Message(m) => {
                    self.last_unit = message_wire_len(&m);
                    m
                }
                Event::Subscribe(topic) => Message::subscription(true, &topic),
                Event::Cancel(topic) => Message::subscription(false, &topic),
                Event::Zap(request) => {
                    if self.ask_zap(request, wake)? {
                        continue;
                    }
                    // Nothing more to decode until the handler answers.
                    return Ok(false);
                }
            };
            if self.inp.is_some() {
                cost = cost.saturating_add(message_cost(&msg));
                self.decoded.push_back(msg);
            }
        }
        Ok(true)
    }

    /// Asks the context's ZAP handler about the peer, as libzmq's `zap_client_t` does.
    /// True when the answer is already given (no handler: a NULL or CURVE peer is admitted,
    /// libzmq's "Stonehouse"), false while the handler's answer is awaited.
    ///
    /// With no handler bound, a PLAIN peer, and any peer of a socket that enforces its
    /// ZAP domain, is refused: the handshake fails (`HandshakeFailed`, as libzmq's
    /// `EFAULT` event) without an ERROR to the peer.
    fn ask_zap(
        &mut self,
        request: crate::zmtp::ZapRequest,
        wake: &dyn Fn() -> IoWake,
    ) -> Result<bool, End> {
        let mechanism = request.mechanism;
        let address = self
            .addrs
            .as_ref()
            .and_then(|a| a.peer_address.clone())
            .unwrap_or_default();
        // libzmq puts the server socket's own routing id in the identity frame.
        let msg = zap::request(
            &self.options.zap_domain,
            &address,
            &self.options.identity,
            request,
        );
        match self.zap_hub.call(msg, wake()) {
            Ok(Some(call)) => {
                self.zap_call = Some(call);
                // Looking once parks the reply pipe's reader, so the answer rings us;
                // an answer already there lets the handshake go on at once.
                self.poll_zap()?;
                Ok(self.zap_call.is_none())
            }
            Ok(None) if mechanism == "PLAIN" || self.options.zap_enforce_domain => {
                Err(End::Failed(crate::Error::Protocol(format!(
                    "no ZAP handler is bound at {} to authenticate the {mechanism} peer",
                    crate::engine::ZAP_ENDPOINT
                ))))
            }
            Ok(None) => {
                let admit = crate::zmtp::ZapReply {
                    status_code: 200,
                    user_id: Bytes::new(),
                    metadata: Bytes::new(),
                };
                self.zmtp.zap_reply(admit).map_err(End::Failed)?;
                Ok(true)
            }
            Err(e) => Err(End::Failed(e)),
        }
    }

    /// Takes the ZAP handler's answer, if it came, and hands it to the handshake.
    fn poll_zap(&mut self) -> Result<(), End> {
        let Some(call) = &self.zap_call else {
            return Ok(());
        };
        let reply = match call.poll() {
            Ok(None) => return Ok(()),
            Ok(Some(reply)) => reply,
            Err(e) => return Err(End::Failed(e)),
        };
        // The pipes close; the handler forgets this peer.
        self.zap_call = None;
        self.zmtp.zap_reply(reply).map_err(End::Failed)
    }

    /// The handshake is done: make the pipes and hand the socket its ends (or, for a
    /// connect whose pipes were made at once, take them over and tell the socket who the
    /// peer is).
    fn attach(&mut self, info: crate::zmtp::PeerInfo, wake: IoWake) {
        if self.linger_until.is_some() {
            // The socket closed or let go while the handshake ran: what it had queued
            // in the pipes made at connect is flushed, as from any lingering connection.
            if let Some(early) = self.early.take() {
                self.resend_first(early.resend);
                early.slot.hold(Some(Arc::new(wake)));
                self.out = Some(early.out);
            }
            return;
        }
        if let Some(early) = self.early.take() {
            if early.alive() {
                return self.attach_early(early, info, wake);
            }
            if early.out.len() > 0 || !early.resend.is_empty() {
                // The socket let go of the peer with messages queued: it closed, or
                // disconnected this endpoint, and the command that puts this connection
                // into linger is on its way (a socket's pipes close before its close
                // command is read). What it queued is flushed meanwhile, as from a
                // lingering connection; no peer is made for a socket that has gone.
                self.resend_first(early.resend);
                early.slot.hold(Some(Arc::new(wake)));
                self.out = Some(early.out);
                return;
            }
            // The socket let go of the peer since: this connection gets pipes of its own.
        }
        let signal = &self.socket.signal;
        // The socket's marks and conflation as they are now, not as they were when this
        // endpoint was bound or connected.
        let (out_w, out_r) = pipe(
            self.socket.send_hwm(),
            Notify::Io(Arc::new(wake.clone())),
            Notify::Signal(signal.clone()),
        );
        let (in_w, in_r) = pipe(
            self.socket.recv_hwm(),
            Notify::Signal(signal.clone()),
            Notify::Io(Arc::new(wake)),
        );
        if self.socket.conflate_out() {
            out_w.set_conflate();
        }
        if self.socket.conflate_in() {
            in_w.set_conflate();
        }
        if self.options.probe_router {
            crate::pipe::write_probe(&out_w);
        }
        if let Some(hello) = &self.options.hello_msg {
            // A fresh pipe has room: the hello goes out first, before anything the
            // application sends.
            let _ = out_w.try_write(Message::from(hello.clone()));
        }
        // The name given at connect time; a listener's options never name its peers.
        let routing_id = match self.origin {
            Origin::Connected(..) => self.options.connect_routing_id.clone(),
            Origin::Accepted => None,
        };
        let meta = self.meta(info);
        self.out = Some(out_r);
        self.inp = Some(in_w);
        self.heartbeat_timer = true;
        let id = next_id();
        self.peer_id = Some(id);
        // A SUB's subscriptions go first, written here by the I/O thread.
        self.socket.attach(Peer {
            id,
            tx: out_w,
            rx: in_r,
            meta: Arc::new(meta),
            endpoint: self.endpoint.clone(),
            routing_id,
            partner: None,
            link: None,
        });
    }

    /// [`Conn::attach`] with the pipes made at connect: what waits in them goes out after
    /// the probe and hello messages this connection owes its peer.
    fn attach_early(&mut self, early: EarlyEnds, info: crate::zmtp::PeerInfo, wake: IoWake) {
        if self.options.probe_router {
            self.zmtp
                .send_message(&Message::from(vec![crate::Frame::new()]));
        }
        if let Some(hello) = &self.options.hello_msg {
            self.zmtp.send_message(&Message::from(hello.clone()));
        }
        let meta = self.meta(info);
        let EarlyEnds {
            peer,
            out,
            inp,
            slot,
            resend,
        } = early;
        self.resend_first(resend);
        slot.hold(Some(Arc::new(wake)));
        self.out = Some(out);
        self.inp = Some(inp);
        self.early_slot = Some(slot);
        self.heartbeat_timer = true;
        self.peer_id = Some(peer);
        self.socket.post(SocketEvent::Reattached {
            peer,
            meta: Arc::new(meta),
        });
    }

    /// Encodes what the previous connection of pipes made at connect left unwritten,
    /// before anything newer from the pipe.
    fn resend_first(&mut self, resend: Vec<Message>) {
        for msg in resend {
            self.zmtp.send_message(&msg);
            if self.requeue {
                self.unsent.encoded(msg, self.zmtp.output_len());
            }
        }
    }

    /// What the peer announced, with the connection's addresses.
    fn meta(&self, info: crate::zmtp::PeerInfo) -> Metadata {
        let addrs = self.addrs.clone().unwrap_or_default();
        Metadata {
            // A raw peer announced nothing.
            socket_type: (!self.raw).then_some(info.socket_type),
            identity: info.identity,
            peer_address: addrs.peer_address,
            peer_socket_addr: addrs.peer_socket_addr,
            local_address: addrs.local_address,
            properties: info.properties,
        }
    }

    /// The connection ends: the pipes made at connect, for the connecter's next
    /// connection (whether this one took them over or never got that far). None when the
    /// connection had pipes of its own, or lingers (its socket let go of the peer).
    pub(super) fn take_early(&mut self) -> Option<EarlyEnds> {
        if let Some(early) = self.early.take() {
            return Some(early);
        }
        let slot = self.early_slot.take()?;
        if self.linger_until.is_some() {
            return None;
        }
        let (out, inp, peer) = (self.out.take()?, self.inp.take()?, self.peer_id?);
        Some(EarlyEnds {
            peer,
            out,
            inp,
            slot,
            resend: std::mem::take(&mut self.early_resend),
        })
    }

    /// Reads once if the stream may have bytes, the socket can take them and the ZMTP
    /// connection wants them (not while it owes the peer output the peer does not read).
    /// Returns true when bytes were read.
    fn read(&mut self, budget: &mut usize) -> Result<bool, End> {
        if !self.readable
            || self.stalled()
            || self.eof
            || *budget == 0
            || self.zap_call.is_some()
            || !self.zmtp.wants_read()
        {
            return Ok(false);
        }
        let room = self.aligned_room(self.read_size.min(*budget));
        let (result, _copied) = read_into(&mut self.stream, &mut self.zmtp, room);
        let n = *result.as_ref().unwrap_or(&0);
        if n == room && self.read_size < READ_MAX {
            self.read_size *= 2;
        } else if n < room / 4 && self.read_size > READ_MIN {
            self.read_size /= 2;
        }
        match result {
            Ok(0) => {
                self.eof = true;
                self.readable = false;
                Err(End::Closed)
            }
            Ok(n) => {
                self.last_recv = Instant::now();
                *budget = budget.saturating_sub(n);
                if n < room && !self.read_closed {
                    // A short read drained the kernel buffer. On epoll (edge-triggered)
                    // any byte that arrives later raises a new readiness event, so the
                    // read that would only return WouldBlock can be skipped. Not when the
                    // event that made us read also said the peer closed: no new event
                    // will come for that, and only the next read returns the end.
                    self.readable = false;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(End::Failed(e.into())),
        }
    }

    /// How many bytes to offer the kernel in a read of about `room`: enough to end on a
    /// message boundary when the messages are large and alike.
    ///
    /// A read that ends inside a frame leaves that frame's head to be copied in front of
    /// the next read (a fresh buffer; see [`read_into`]): with 64 KiB messages and 128 KiB
    /// reads, about half a message copied per read. So while the latest message was
    /// between [`UNZEROED_READ_MIN`] and [`READ_MAX`] bytes encoded, and the buffered input
    /// is empty or a frame whose header has arrived, the read offers what that frame lacks
    /// plus whole messages of the same size, rounded up past `room` (so at most one
    /// message, at most [`READ_MAX`], more than `room`). A stream of equal messages then
    /// reads whole messages each time and copies nothing; anything else is only a read of
    /// a different size. Bounded by what the peer sent: the size is one it delivered.
    fn aligned_room(&self, room: usize) -> usize {
        let unit = self.last_unit;
        if !(UNZEROED_READ_MIN..=READ_MAX).contains(&unit) {
            return room;
        }
        match self.zmtp.frame_rest() {
            Some(rest) if rest < room => rest + (room - rest).div_ceil(unit) * unit,
            _ => room,
        }
    }

    /// Moves messages from the socket's pipe into encoded output, up to a limit.
    fn fill_output(&mut self) {
        if !self.zmtp.is_ready() {
            return;
        }
        let Some(out) = &self.out else { return };
        while self.zmtp.output_len() < OUTPUT_HIGH {
            match out.try_read() {
                Ok(msg) => {
                    self.last_out_unit = message_wire_len(&msg);
                    self.zmtp.send_message(&msg);
                    if self.requeue {
                        self.unsent.encoded(msg, self.zmtp.output_len());
                    }
                }
                Err(ReadError::Empty) => return,
                Err(ReadError::Closed) => {
                    self.out = None;
                    if self.linger_until.is_none() {
                        // The socket let go of this peer but is still open: it hung up.
                        let deadline = crate::time::deadline(Instant::now(), self.options.linger);
                        self.hung_up = true;
                        self.start_linger(deadline);
                        self.linger_timer = Some(deadline);
                    }
                    return;
                }
            }
        }
    }

    /// Writes queued output while the kernel takes it, up to `budget` bytes (which it counts
    /// down). Returns true if anything was written.
    fn write(&mut self, budget: &mut usize) -> Result<bool, End> {
        let mut wrote = false;
        while self.writable && self.zmtp.has_output() && *budget > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = self.zmtp.output_slices(&mut slices);
            let mut capped = [IoSlice::new(&[]); MAX_SLICES];
            let count = cap_slices(&slices[..count], *budget, &mut capped);
            match self.stream.write_vectored(&capped[..count]) {
                Ok(0) => {
                    return Err(End::Failed(
                        io::Error::from(io::ErrorKind::WriteZero).into(),
                    ))
                }
                Ok(n) => {
                    self.zmtp.advance_output(n);
                    self.unsent.wrote(n);
                    *budget = budget.saturating_sub(n);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::Failed(e.into())),
            }
        }
        Ok(wrote)
    }

    /// The connection is ending without our socket asking (the peer closed or reset it, or
    /// it timed out): hands the socket every message it queued for the peer that was not
    /// wholly written to the kernel, in order, for its [`Requeue`] policy. Nothing when the
    /// socket itself closed, disconnected or hung up (it lingers then), or never had the
    /// peer.
    pub(super) fn take_back(&mut self) -> Option<SocketEvent> {
        if !self.requeue || self.linger_until.is_some() {
            return None;
        }
        let peer = self.peer_id?;
        let taken = self.unsent.take();
        if self.early_slot.is_some() {
            // Pipes made at connect stay, with what they hold, for the next connection,
            // which sends what this one took first.
            self.early_resend = taken;
            return None;
        }
        Some(SocketEvent::Requeue {
            peer,
            taken,
            rest: self.out.take(),
        })
    }

    /// The connection ends after its handshake, without our socket asking: hands the
    /// socket libzmq's `ZMQ_DISCONNECT_MSG` (for an accepted peer) or `ZMQ_HICCUP_MSG` (for
    /// a connected one, which reconnects), when set, as the peer's last message. It goes
    /// past the high-water mark, as in libzmq, once per connection.
    pub(super) fn deliver_farewell(&mut self) {
        if !self.handshaken || self.linger_until.is_some() {
            return;
        }
        let farewell = match self.origin {
            Origin::Accepted => &self.options.disconnect_msg,
            Origin::Connected(..) => &self.options.hiccup_msg,
        };
        let (Some(farewell), Some(inp)) = (farewell, &self.inp) else {
            return;
        };
        // What was decoded but not yet taken goes first: the farewell comes last.
        let _ = inp.write_batch(&mut self.decoded);
        self.decoded.clear();
        inp.write_past_mark(Message::from(farewell.clone()));
    }

    /// True when a lingering connection has flushed everything the socket queued.
    fn finished(&self) -> bool {
        self.linger_until.is_some()
            && self.early.as_ref().is_none_or(|e| e.out.len() == 0)
            && self
                .out
                .as_ref()
                .is_none_or(|o| o.is_writer_closed() && o.len() == 0)
            && !self.zmtp.has_output()
    }
}

/// What a decoded message counts toward [`DECODE_BUDGET`], about what holding it costs: its
/// frame sizes, each at least [`MIN_FRAME_COST`].
fn message_cost(msg: &Message) -> usize {
    msg.iter().fold(0usize, |sum, f| {
        sum.saturating_add(f.len().max(MIN_FRAME_COST))
    })
}

/// Reads at most `room` bytes from `stream` into the input buffer of `zmtp`; returns the
/// read's result and how many bytes already in the buffer were copied to make room.
///
/// The kernel is offered `room` bytes zeroed first (no unsafe, so no uninitialised
/// buffers): only what one read may fill is zeroed, and a quiet connection keeps a small
/// buffer. A buffer with room, or whose frames were all dropped, is reused: zeroing it
/// costs less than a fresh allocation. Otherwise a large read gets a fresh buffer that the
/// kernel fills unzeroed ([`Stream::read_behind`]), behind a copy of the unconsumed input
/// (the head of a frame cut off by the previous read); the old buffer's frames live on.
/// The fresh buffer has the spare room [`Connection::read_hint`] asks for: while a large
/// frame arrives, as much again as has arrived, so its body is copied about once in all
/// (the buffer doubles) rather than once per read.
fn read_into(
    stream: &mut Stream,
    zmtp: &mut impl ReadInput,
    room: usize,
) -> (io::Result<usize>, usize) {
    let spare = zmtp.read_hint(room);
    let buf = zmtp.input();
    let len = buf.len();
    let at = buf.as_ptr();
    let reuse = buf.capacity() - len >= room || buf.try_reclaim(room);
    // `try_reclaim` may have moved the buffered bytes to the front of their allocation.
    let mut copied = if buf.as_ptr() == at { 0 } else { len };
    // A fresh buffer for a frame under way is made exactly as large as asked, whatever
    // the read's size (`reserve` would double it once more, or not grow it at all when
    // frames still share the buffer).
    if !reuse && (room >= UNZEROED_READ_MIN || spare > room) {
        let (fresh, result) = stream.read_behind(buf, room, spare);
        copied += len;
        // Both conversions keep the allocation (a unique `Bytes` becomes a `BytesMut` as is).
        *buf = BytesMut::from(Bytes::from(fresh));
        return (result, copied);
    }
    let at = buf.as_ptr();
    buf.reserve(room);
    if buf.as_ptr() != at {
        copied += len;
    }
    let start = buf.len();
    buf.put_bytes(0, room);
    let result = stream.read(&mut buf[start..]);
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    (result, copied)
}

/// Fills `out` with the first `max` bytes of `slices` (cutting the last slice taken if
/// needed) and returns how many slices it filled.
fn cap_slices<'s>(slices: &'s [IoSlice<'_>], max: usize, out: &mut [IoSlice<'s>]) -> usize {
    let mut left = max;
    let mut filled = 0;
    for (slot, slice) in out.iter_mut().zip(slices) {
        if left == 0 {
            break;
        }
        let take = slice.len().min(left);
        *slot = IoSlice::new(&slice[..take]);
        left -= take;
        filled += 1;
    }
    filled
}

/// The messages a connection has encoded but not yet wholly written to the kernel, oldest
/// first, each with the output offset where its last byte lies. A message leaves only once
/// that byte is written: one cut off mid-frame never reached the peer whole (the peer
/// discards the partial frame), so it is handed back whole. Offsets count every byte of
/// output, greeting and commands included, so interleaved PINGs and PONGs do not matter.
#[derive(Debug, Default)]
struct Unsent {
    queue: VecDeque<(u64, Message)>,
    /// Bytes of output written to the kernel so far.
    written: u64,
}

impl Unsent {
    /// `msg` was just encoded, and `pending` bytes of output now wait to be written.
    fn encoded(&mut self, msg: Message, pending: usize) {
        self.queue.push_back((self.written + pending as u64, msg));
    }

    /// `n` more bytes of output were written to the kernel.
    fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        while self
            .queue
            .front()
            .is_some_and(|(end, _)| *end <= self.written)
        {
            self.queue.pop_front();
        }
    }

    /// Every message not wholly written, oldest first.
    fn take(&mut self) -> Vec<Message> {
        self.queue.drain(..).map(|(_, m)| m).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Three messages of 10, 20 and 30 bytes of output behind a 64-byte greeting, written
    /// in two pieces split at every offset: a message comes back exactly when its last
    /// byte is not in the first piece.
    #[test]
    fn a_message_counts_as_sent_only_once_its_last_byte_is_written() {
        let sizes = [10usize, 20, 30];
        let greeting = 64;
        let total = greeting + sizes.iter().sum::<usize>();
        for split in 0..=total {
            let mut unsent = Unsent::default();
            let mut pending = greeting;
            for (i, size) in sizes.iter().enumerate() {
                pending += size;
                unsent.encoded(Message::from(vec![i as u8]), pending);
            }
            unsent.wrote(split);
            let back: Vec<u8> = unsent.take().iter().map(|m| m[0][0]).collect();
            let mut end = greeting;
            let expected: Vec<u8> = sizes
                .iter()
                .enumerate()
                .filter_map(|(i, size)| {
                    end += size;
                    (end > split).then_some(i as u8)
                })
                .collect();
            assert_eq!(back, expected, "written {split} of {total}");
        }
    }

    /// Slices of 3, 0, 5 and 2 bytes capped at every size from 0 to past their total: the
    /// capped slices hold exactly the first `max` bytes, in order.
    #[test]
    fn capped_slices_hold_exactly_the_first_bytes() {
        let data: Vec<u8> = (0..10).collect();
        let parts = [&data[0..3], &data[3..3], &data[3..8], &data[8..10]];
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        for max in 0..=12 {
            let mut out = [IoSlice::new(&[]); 4];
            let count = cap_slices(&slices, max, &mut out);
            let got: Vec<u8> = out[..count].iter().flat_map(|s| s.to_vec()).collect();
            assert_eq!(got, data[..max.min(10)], "max {max}");
            assert!(
                count == 0 || !out[count - 1].is_empty() || max >= 10,
                "max {max}"
            );
        }
    }

    /// A ZMTP connection of a PULL that has done its handshake with a PUSH, output dropped.
    fn handshaken_pull() -> Connection {
        let mut zmtp = Connection::new(ConnectionConfig::new(crate::SocketType::Pull));
        // A ZMTP 3.1 NULL greeting, then READY with Socket-Type PUSH.
        let mut peer = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
        peer.extend_from_slice(b"NULL");
        peer.resize(64, 0);
        peer.extend_from_slice(b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH");
        zmtp.feed(&peer);
        assert!(matches!(zmtp.poll_event(), Ok(Some(Event::Ready(_)))));
        zmtp.advance_output(zmtp.output_len());
        zmtp
    }

    /// One 64 MiB message arrives over a Unix socket pair in reads of 128 KiB: the buffered
    /// head of the frame is copied about once in all (the buffer doubles as it arrives), not
    /// once per read, and the buffer never holds much more than what arrived.
    #[test]
    fn a_large_frame_is_received_in_linear_copies() {
        const BODY: usize = 64 << 20;
        const ROOM: usize = 128 * 1024;
        let (mut writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
        reader.set_nonblocking(true).unwrap();
        let mut stream = Stream::Ipc(reader);
        let sender = std::thread::spawn(move || {
            let mut header = vec![0x02];
            header.extend_from_slice(&(BODY as u64).to_be_bytes());
            writer.write_all(&header).unwrap();
            let chunk = vec![7u8; ROOM];
            for _ in 0..BODY / ROOM {
                writer.write_all(&chunk).unwrap();
            }
            writer
        });
        let mut zmtp = handshaken_pull();
        let (mut received, mut copied) = (0usize, 0usize);
        let deadline = Instant::now() + Duration::from_secs(60);
        let msg = loop {
            assert!(Instant::now() < deadline, "{received} bytes in a minute");
            let (result, copies) = read_into(&mut stream, &mut zmtp, ROOM);
            copied += copies;
            match result {
                Ok(0) => panic!("the stream ended after {received} bytes"),
                Ok(n) => received += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
            let capacity = zmtp.input().capacity();
            assert!(
                capacity <= 2 * received + 2 * ROOM + 16 * 1024,
                "{capacity} bytes reserved for {received} received"
            );
            if let Some(Event::Message(m)) = zmtp.poll_event().unwrap() {
                break m;
            }
        };
        let _writer = sender.join().unwrap();
        assert_eq!(msg.byte_len(), BODY);
        assert!(msg[0].iter().all(|&b| b == 7));
        assert_eq!(received, BODY + 9);
        assert!(
            copied <= 3 * received,
            "{copied} bytes copied for {received} received"
        );
    }

    #[test]
    fn decoded_batches_stop_at_their_byte_budget() {
        let empty = Message::from(vec![Bytes::new(); 1000]);
        assert_eq!(message_cost(&empty), 1000 * MIN_FRAME_COST);
        assert_eq!(message_cost(&Message::from(vec![1u8; 100])), 100);
        assert!(DECODE_BUDGET / message_cost(&empty) < DECODE_BATCH);
    }

    #[test]
    fn writes_interleaved_with_encoding_keep_offsets_right() {
        let mut unsent = Unsent::default();
        unsent.encoded(Message::from("a"), 100);
        unsent.wrote(60); // 40 bytes of "a" still pending
        unsent.encoded(Message::from("b"), 40 + 50);
        unsent.wrote(40); // "a" is out
        assert_eq!(unsent.queue.len(), 1);
        unsent.wrote(49);
        assert_eq!(unsent.take(), vec![Message::from("b")], "one byte short");
        assert!(unsent.take().is_empty());
    }
}
