//! One ZMTP connection: greeting, handshake (any mechanism) and traffic, without I/O.
//!
//! The caller owns the socket. It drives a [`Connection`] like this:
//!
//! 1. After [`Connection::new`], our greeting is already queued: write the output.
//! 2. Append whatever it reads to [`Connection::input`], then call
//!    [`Connection::poll_event`] until it returns `Ok(None)`. The first event is
//!    [`Event::Ready`]; messages and subscriptions follow.
//! 3. Call [`Connection::send_message`] (only after `Ready`), [`Connection::send_ping`] and
//!    [`Connection::send_error`] as needed; each only queues bytes.
//! 4. Whenever [`Connection::has_output`], write what [`Connection::output_slices`] gives with
//!    `write_vectored` and report the count to [`Connection::advance_output`]. Polling can
//!    queue output too (our READY, a PONG, an ERROR), so check after each round of polling.
//! 5. Read from the peer only while [`Connection::wants_read`]: once the connection owes the
//!    peer [`MAX_OWED_COMMANDS`] unwritten commands (PONGs), it decodes no more commands and
//!    wants no more input until the peer reads what it is owed. [`Connection::read_hint`]
//!    says how much room the next read should have.
//!
//! An error from `poll_event` is fatal and sticky: every later call returns an equivalent
//! error, so the caller may close the connection whenever it likes.
//!
//! Decoding depends only on the bytes, never on how they were chunked: the same stream fed
//! whole or one byte at a time gives the same events.

use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use super::command::{self, Command};
use super::frame::{self, Decoded, FrameDecoder, FrameEncoder};
use super::greeting::{self as greeting_mod, Greeting, GREETING_LEN, OUR_MINOR};
use super::mechanism::{
    self, CurveCipher, Handshake, MechanismConfig, Progress, ZapReply, ZapRequest, MESSAGE_COMMAND,
    MESSAGE_MORE, MESSAGE_OVERHEAD,
};
use super::metadata;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::message::{Frames, Message, Properties};
#[cfg(any(test, feature = "fuzzing"))]
use crate::options::{DEFAULT_MAX_METADATA_SIZE, DEFAULT_MAX_PROPERTIES};
use crate::options::{MAX_FRAMES_PER_MESSAGE, MAX_OWED_COMMANDS};
use crate::socket_type::SocketType;

/// Name of the property that carries the socket type (canonical spelling, as libzmq
/// matches it case-sensitively).
pub(crate) const SOCKET_TYPE_PROPERTY: &str = "Socket-Type";
/// Name of the property that carries the identity (canonical spelling).
pub(crate) const IDENTITY_PROPERTY: &str = "Identity";
/// Reason of the ERROR we send to a peer of an incompatible socket type.
pub(crate) const INVALID_SOCKET_TYPE: &str = "Invalid socket type";
/// Reason of the ERROR we send to a peer whose READY we refuse for its size or contents.
pub(crate) const INVALID_METADATA: &str = "Invalid metadata";
/// Longest identity (routing id) a peer may announce, as ZMTP allows.
pub(crate) const MAX_IDENTITY_LEN: usize = 255;
/// How libzmq 4.3's PLAIN server starts its ERROR command (see `next_handshake_command`).
const LIBZMQ_PLAIN_ERROR: &[u8] = b"^RROR";
/// Name of the property that carries the user id a ZAP handler gave the peer.
pub(crate) const USER_ID_PROPERTY: &str = "User-Id";
/// Bytes a handshake command of `mechanism` may have beyond the metadata it carries: NULL's
/// READY has its 6-byte name; PLAIN's HELLO is at most 518 bytes in all; CURVE's INITIATE
/// has 257 bytes before its metadata.
fn handshake_overhead(mechanism: &MechanismConfig) -> usize {
    match mechanism {
        MechanismConfig::Null => 1 + command::READY.len(),
        MechanismConfig::PlainClient { .. } | MechanismConfig::PlainServer => 518,
        MechanismConfig::CurveClient { .. } | MechanismConfig::CurveServer { .. } => 257,
    }
}

/// What our side of a connection announces and accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectionConfig {
    /// Our socket type, sent as `Socket-Type` and checked against the peer's.
    pub(crate) socket_type: SocketType,
    /// Sent as the `Identity` property iff `socket_type.sends_identity()`; may be empty.
    pub(crate) identity: Bytes,
    /// Cap on the cost of one incoming message (its bytes, or
    /// [`MIN_FRAME_COST`](crate::options::MIN_FRAME_COST) per frame if more); `None` is
    /// unlimited.
    pub(crate) max_msg_size: Option<usize>,
    /// Cap on the peer's READY metadata, in bytes (checked on the frame header).
    pub(crate) max_metadata_size: usize,
    /// Cap on the number of properties in the peer's READY.
    pub(crate) max_properties: usize,
    /// Extra READY properties (application `X-...` ones), sent after the standard ones.
    /// Names that collide with `Socket-Type` or `Identity`, and properties that cannot be
    /// encoded (empty name, name over 255 bytes), are not sent.
    pub(crate) properties: Vec<(String, Bytes)>,
    /// The security mechanism and our role in it.
    pub(crate) mechanism: MechanismConfig,
    /// Whether to ask ZAP about the peer: for a NULL or CURVE socket, whether a handler is
    /// there to ask (and for NULL, a ZAP domain set). A PLAIN server always asks.
    pub(crate) zap: bool,
}

impl ConnectionConfig {
    /// A configuration with an empty identity, no message size limit, the default metadata
    /// limits and no extra properties.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn new(socket_type: SocketType) -> Self {
        ConnectionConfig {
            socket_type,
            identity: Bytes::new(),
            max_msg_size: None,
            max_metadata_size: DEFAULT_MAX_METADATA_SIZE,
            max_properties: DEFAULT_MAX_PROPERTIES,
            properties: Vec::new(),
            mechanism: MechanismConfig::Null,
            zap: false,
        }
    }
}

/// What the peer announced during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerInfo {
    /// The peer's socket type (compatible with ours).
    pub(crate) socket_type: SocketType,
    /// The peer's `Identity` property (at most 255 bytes); empty when it sent none.
    pub(crate) identity: Bytes,
    /// The peer's greeting minor version: 0 for ZMTP 3.0, 1 for 3.1 (1 for any major > 3).
    pub(crate) minor: u8,
    /// All other READY properties, names as received. They and `identity` share one copy of
    /// the READY metadata, detached from the input buffer.
    pub(crate) properties: Properties,
}

/// What decoding the peer's bytes produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The handshake is done: messages may flow both ways. Emitted exactly once, first.
    Ready(PeerInfo),
    /// One complete multipart message; its frames are split from the input buffer.
    Message(Message),
    /// A SUBSCRIBE command with its topic. (A ZMTP 3.0 peer's `01`-prefixed subscription
    /// message arrives as [`Event::Message`].)
    Subscribe(Bytes),
    /// A CANCEL command with its topic.
    Cancel(Bytes),
    /// The handshake needs the ZAP handler's verdict on the peer: send it the request and
    /// pass the answer to [`Connection::zap_reply`]. Until then the connection decodes
    /// nothing more.
    Zap(ZapRequest),
}

/// Where the handshake stands. Each state holds only what is valid in it.
#[derive(Debug)]
enum State {
    /// Our greeting is queued; the peer's is not complete yet.
    ExpectGreeting,
    /// The peer's greeting is in; the mechanism's commands are under way.
    Handshake {
        /// The minor version the peer's greeting announced (after the major > 3 rule).
        minor: u8,
        /// The mechanism's state.
        mechanism: Handshake,
        /// A ZAP request was emitted and its answer is awaited.
        zap_pending: bool,
        /// The mechanism finished in [`Connection::zap_reply`]: the peer's metadata and
        /// cipher, for the next poll to check and report.
        done: Option<(Bytes, Option<CurveCipher>)>,
    },
    /// Handshake done: messages and commands flow.
    Traffic,
    /// A fatal error happened; it is reported again by every later poll.
    Failed(Error),
}

/// A sans-IO ZMTP 3.1 connection with any of the mechanisms. See the module documentation
/// for how to drive it.
pub(crate) struct Connection {
    /// Our settings.
    config: ConnectionConfig,
    /// Handshake progress.
    state: State,
    /// What the peer announced, once its READY is in.
    peer: Option<PeerInfo>,
    /// Bytes received and not yet decoded.
    input: BytesMut,
    /// Frame decoding and multipart assembly.
    decoder: FrameDecoder,
    /// Bytes to send.
    output: FrameEncoder,
    /// The non-zero TTL (deciseconds) of a PING received since the engine last asked.
    peer_ttl: Option<u16>,
    /// Bytes of output written so far ([`Connection::advance_output`]).
    written: u64,
    /// For each command we owe the peer (PONG, ERROR) that is not wholly written yet, the
    /// output offset where it ends, oldest first; at most [`MAX_OWED_COMMANDS`] (plus one
    /// ERROR), because commands that could add one are not decoded while it is full.
    owed: VecDeque<u64>,
    /// CURVE: the keys and nonces of every frame after the handshake.
    cipher: Option<CurveCipher>,
    /// CURVE: the decrypted frames of the message under assembly, and their bytes.
    partial: Frames,
    partial_size: usize,
    /// The ZAP handler's user id and metadata for this peer, once it accepted it.
    zap_result: Option<(Bytes, Bytes)>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("socket_type", &self.config.socket_type)
            .field("state", &self.state)
            .field("peer", &self.peer)
            .field("input_len", &self.input.len())
            .field("output_len", &self.output.len())
            .field("owed", &self.owed.len())
            .finish()
    }
}

impl Connection {
    /// A new connection; our full 64-byte greeting is queued in the output at once.
    pub(crate) fn new(config: ConnectionConfig) -> Self {
        let mut output = FrameEncoder::new();
        let ours = Greeting::ours_with(
            greeting_mod::mechanism(config.mechanism.name().as_bytes()),
            config.mechanism.is_server(),
        );
        output.staging().extend_from_slice(&ours.to_bytes());
        Connection {
            decoder: FrameDecoder::new(config.max_msg_size),
            config,
            state: State::ExpectGreeting,
            peer: None,
            input: BytesMut::new(),
            output,
            peer_ttl: None,
            written: 0,
            owed: VecDeque::new(),
            cipher: None,
            partial: Frames::new(),
            partial_size: 0,
            zap_result: None,
        }
    }

    /// The input buffer: append bytes read from the peer here, then call
    /// [`Connection::poll_event`].
    pub(crate) fn input(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Appends a copy of `data` to the input buffer.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// Bytes received and not yet decoded.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn input_len(&self) -> usize {
        self.input.len()
    }

    /// True while the connection takes more input: false once it failed, or while it owes
    /// the peer [`MAX_OWED_COMMANDS`] commands it has not written (the peer is not reading:
    /// decoding more PINGs would only pile up PONGs). Write the output, then ask again.
    pub(crate) fn wants_read(&self) -> bool {
        !matches!(self.state, State::Failed(_)) && self.owed.len() < MAX_OWED_COMMANDS
    }

    /// How much spare room the input buffer should have for a read that offers the kernel
    /// `room` bytes: `room`, or more while the input holds the start of a frame that is
    /// longer. Then it is as much as has arrived of the buffered input (never more than the
    /// frame still lacks), so a large body's buffer grows by doubling, in amortised linear
    /// copies, and memory follows what the peer sent, never what a header declares.
    pub(crate) fn read_hint(&self, room: usize) -> usize {
        if matches!(self.state, State::ExpectGreeting | State::Failed(_)) {
            return room;
        }
        let Ok(Some(header)) = frame::decode_header(&self.input) else {
            return room;
        };
        let arrived = self.input.len();
        let missing = header.total_len().saturating_sub(arrived);
        room.max(missing.min(arrived))
    }

    /// Queues a command we owe the peer (a PONG, an ERROR), written by `encode` into the
    /// output, and remembers where it ends until it is written.
    fn queue_owed(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        self.queue_command(encode);
        let end = self.written.saturating_add(self.output.len() as u64);
        self.owed.push_back(end);
    }

    /// How many bytes the buffered input lacks to end on a frame boundary: 0 when it is
    /// empty, what the frame under way still lacks when its header has arrived, `None` when
    /// that is not known (a header cut short, or the handshake not done).
    pub(crate) fn frame_rest(&self) -> Option<usize> {
        if !matches!(self.state, State::Traffic) {
            return None;
        }
        if self.input.is_empty() {
            return Some(0);
        }
        let Ok(Some(header)) = frame::decode_header(&self.input) else {
            return None;
        };
        Some(header.total_len().saturating_sub(self.input.len()))
    }

    /// Decodes the next event from the buffered input.
    ///
    /// Returns `Ok(None)` when more bytes are needed. Handles the handshake on the way:
    /// queues our READY once the peer's greeting is in, checks the peer's READY, and emits
    /// [`Event::Ready`]. Afterwards it answers PING by queueing a PONG (echoing at most 16
    /// context bytes) and ignores PONG and unknown commands. Consumed bytes leave the input
    /// buffer. While the connection owes [`MAX_OWED_COMMANDS`] unwritten commands, it stops
    /// in front of the next command (returning `Ok(None)`) until output is written.
    ///
    /// # Errors
    ///
    /// All errors are sticky: once one is returned, every later call returns an equivalent
    /// one.
    /// - [`Error::Protocol`]: a bad greeting (not ZMTP 3.x, other mechanism), anything but
    ///   READY or ERROR during the handshake, malformed READY metadata, READY over
    ///   `max_metadata_size` (found from its header) or with over `max_properties`
    ///   properties, an identity over 255 bytes (those three queue an ERROR "Invalid
    ///   metadata" first), missing or unknown `Socket-Type`, a malformed frame or command,
    ///   READY after the handshake, a message over `max_msg_size` or with too many frames
    ///   (found from the headers, before the bodies arrive).
    /// - [`Error::IncompatiblePeer`]: the peer's socket type cannot talk to ours. An ERROR
    ///   command ("Invalid socket type") is queued for the peer first.
    /// - [`Error::PeerError`]: the peer sent an ERROR command.
    pub(crate) fn poll_event(&mut self) -> Result<Option<Event>> {
        if let State::Failed(e) = &self.state {
            return Err(replay(e));
        }
        self.step().map_err(|e| {
            let copy = replay(&e);
            self.state = State::Failed(e);
            copy
        })
    }

    /// One call's worth of decoding; errors are made sticky by the caller.
    fn step(&mut self) -> Result<Option<Event>> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(replay(e)),
                State::ExpectGreeting => {
                    let expected = greeting_mod::mechanism(self.config.mechanism.name().as_bytes());
                    let Some(greeting) = Greeting::parse(&self.input, &expected)? else {
                        return Ok(None);
                    };
                    self.input.advance(GREETING_LEN);
                    let metadata = self.our_metadata();
                    let (mechanism, progress) = Handshake::start(
                        &self.config.mechanism,
                        self.config.zap,
                        self.output.staging(),
                        &metadata,
                    )?;
                    self.state = State::Handshake {
                        minor: greeting.effective_minor(),
                        mechanism,
                        zap_pending: false,
                        done: None,
                    };
                    if let Some(event) = self.progress(progress)? {
                        return Ok(Some(event));
                    }
                }
                State::Handshake {
                    zap_pending: true, ..
                } => return Ok(None),
                State::Handshake { done, .. } if done.is_some() => {
                    let finished = done.take();
                    if let Some((metadata, cipher)) = finished {
                        return self.finish_handshake(&metadata, cipher).map(Some);
                    }
                }
                State::Handshake { .. } => {
                    let Some((name, data)) = self.next_handshake_command()? else {
                        return Ok(None);
                    };
                    if name == command::ERROR {
                        let reason = command::decode_error_reason(&data);
                        return Err(match mechanism::status_code_of(&reason) {
                            Some(status_code) => Error::AuthenticationFailed { status_code },
                            None => Error::PeerError(reason),
                        });
                    }
                    let metadata = self.our_metadata();
                    let State::Handshake { mechanism, .. } = &mut self.state else {
                        continue;
                    };
                    let progress =
                        mechanism.on_command(&name, data, self.output.staging(), &metadata)?;
                    if let Some(event) = self.progress(progress)? {
                        return Ok(Some(event));
                    }
                }
                State::Traffic if self.cipher.is_some() => return self.step_curve(),
                State::Traffic => {
                    self.decoder.hold_commands = self.owed.len() >= MAX_OWED_COMMANDS;
                    let body = match self.decoder.decode(&mut self.input)? {
                        None => return Ok(None),
                        Some(Decoded::Message(frames)) => {
                            return Ok(Some(Event::Message(Message::from_frames(frames))))
                        }
                        Some(Decoded::Command(body)) => body,
                    };
                    if let Some(event) = self.on_command(Command::decode(body)?)? {
                        return Ok(Some(event));
                    }
                }
            }
        }
    }

    /// The next complete handshake command from the input, split into name and data;
    /// `None` while it has not wholly arrived.
    ///
    /// A command larger than the metadata limit allows (plus the mechanism's own bytes) is
    /// refused from its header, with an ERROR "Invalid metadata" queued first.
    fn next_handshake_command(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        let Some(header) = frame::decode_header(&self.input)? else {
            return Ok(None);
        };
        if !header.is_command() {
            return Err(Error::Protocol(
                "expected a handshake command from the peer, got a message frame".into(),
            ));
        }
        let max = self
            .config
            .max_metadata_size
            .saturating_add(handshake_overhead(&self.config.mechanism));
        if header.size > max {
            self.send_error(INVALID_METADATA);
            return Err(Error::Protocol(format!(
                "peer's handshake command of {} bytes is larger than the \
                 maximum metadata of {} bytes",
                header.size, self.config.max_metadata_size
            )));
        }
        let body = match self.decoder.decode(&mut self.input)? {
            None => return Ok(None),
            Some(Decoded::Command(body)) => body,
            Some(Decoded::Message(_)) => {
                return Err(Error::Protocol(
                    "expected a handshake command from the peer, got a message".into(),
                ))
            }
        };
        // libzmq 4.3's PLAIN writes its ERROR as `^RROR` + reason: the C escape "\x05E"
        // swallowed the name's length byte. Read it as the ERROR it means.
        if matches!(self.config.mechanism, MechanismConfig::PlainClient { .. })
            && body.starts_with(LIBZMQ_PLAIN_ERROR)
        {
            return Ok(Some((
                Bytes::from_static(command::ERROR),
                body.slice(LIBZMQ_PLAIN_ERROR.len()..),
            )));
        }
        command::split(&body).map(Some)
    }

    /// Acts on what a handshake step came to: an event to report, or `None` to go on.
    fn progress(&mut self, progress: Progress) -> Result<Option<Event>> {
        match progress {
            Progress::Pending => Ok(None),
            Progress::Zap(request) => {
                if let State::Handshake { zap_pending, .. } = &mut self.state {
                    *zap_pending = true;
                }
                Ok(Some(Event::Zap(request)))
            }
            Progress::Done { metadata, cipher } => {
                self.finish_handshake(&metadata, cipher).map(Some)
            }
        }
    }

    /// Checks the peer's metadata and enters traffic.
    fn finish_handshake(&mut self, metadata: &Bytes, cipher: Option<CurveCipher>) -> Result<Event> {
        let State::Handshake { minor, .. } = self.state else {
            return Err(Error::Protocol("handshake finished twice".into()));
        };
        let max = self.config.max_metadata_size;
        if metadata.len() > max {
            self.send_error(INVALID_METADATA);
            return Err(Error::Protocol(format!(
                "peer's metadata of {} bytes is larger than the maximum of {max} bytes",
                metadata.len()
            )));
        }
        let peer = self.accept_ready(metadata, minor)?;
        self.peer = Some(peer.clone());
        self.cipher = cipher;
        self.state = State::Traffic;
        Ok(Event::Ready(peer))
    }

    /// Hands the ZAP handler's answer to the handshake that asked ([`Event::Zap`]).
    ///
    /// 200 lets the handshake go on (poll again: it queues the next command, and may
    /// finish); its user id and metadata become properties of the peer, `User-Id` among
    /// them. 300 fails the connection without a word to the peer; 400 and 500 queue an
    /// ERROR carrying the code first (as libzmq does), so write the output before closing.
    ///
    /// # Errors
    ///
    /// [`Error::AuthenticationFailed`] for 300, 400 and 500; [`Error::Protocol`] for any
    /// other code, or when no ZAP request is pending. Every failure is sticky, as for
    /// [`Connection::poll_event`].
    pub(crate) fn zap_reply(&mut self, reply: ZapReply) -> Result<()> {
        let result = self.take_zap_reply(reply);
        if let Err(e) = &result {
            if !matches!(self.state, State::Failed(_)) {
                self.state = State::Failed(replay(e));
            }
        }
        result
    }

    fn take_zap_reply(&mut self, reply: ZapReply) -> Result<()> {
        if !matches!(
            self.state,
            State::Handshake {
                zap_pending: true,
                ..
            }
        ) {
            return Err(Error::Protocol(
                "ZAP answer without a pending request".into(),
            ));
        }
        match reply.status_code {
            200 => {}
            300 => return Err(Error::AuthenticationFailed { status_code: 300 }),
            code @ (400 | 500) => {
                self.send_error(&code.to_string());
                return Err(Error::AuthenticationFailed { status_code: code });
            }
            other => {
                return Err(Error::Protocol(format!(
                    "ZAP handler answered with the invalid status code {other}"
                )))
            }
        }
        self.zap_result = Some((reply.user_id, reply.metadata));
        let metadata = self.our_metadata();
        let State::Handshake {
            mechanism,
            zap_pending,
            done,
            ..
        } = &mut self.state
        else {
            return Err(Error::Protocol(
                "ZAP answer without a pending request".into(),
            ));
        };
        *zap_pending = false;
        if let Progress::Done { metadata, cipher } =
            mechanism.on_zap_accepted(self.output.staging(), &metadata)?
        {
            *done = Some((metadata, cipher));
        }
        Ok(())
    }

    /// Acts on a command received in traffic: the event it makes, or `None` to go on.
    fn on_command(&mut self, command: Command) -> Result<Option<Event>> {
        match command {
            Command::Ping { ttl, context } => {
                self.queue_owed(|out| command::encode_pong(out, &context));
                if ttl > 0 {
                    self.peer_ttl = Some(ttl);
                }
                Ok(None)
            }
            Command::Pong(_) | Command::Unknown(_) => Ok(None),
            Command::Subscribe(topic) => Ok(Some(Event::Subscribe(topic))),
            Command::Cancel(topic) => Ok(Some(Event::Cancel(topic))),
            Command::Error(reason) => Err(Error::PeerError(reason)),
            Command::Ready(_) => Err(Error::Protocol(
                "peer sent READY again after the handshake".into(),
            )),
        }
    }

    /// Traffic over CURVE: every frame is a MESSAGE to open, then a command or one frame
    /// of a message.
    ///
    /// Limits are checked on each frame's header before its body is waited for: a frame
    /// over the message size limit (or, for a command, over
    /// [`MIN_COMMAND_LIMIT`](frame::MIN_COMMAND_LIMIT)) is refused; after opening, the
    /// message's frame count and cost are checked as for NULL traffic. While the
    /// connection owes the peer too many commands, nothing more is decoded (what the peer
    /// sent cannot be told apart before it is opened).
    fn step_curve(&mut self) -> Result<Option<Event>> {
        loop {
            if self.owed.len() >= MAX_OWED_COMMANDS {
                return Ok(None);
            }
            let Some(header) = frame::decode_header(&self.input)? else {
                return Ok(None);
            };
            let Some(carried) = header.size.checked_sub(MESSAGE_OVERHEAD) else {
                return Err(Error::Protocol(format!(
                    "malformed CURVE MESSAGE of {} bytes",
                    header.size
                )));
            };
            if let Some(max) = self.config.max_msg_size {
                let limit = max.max(frame::MIN_COMMAND_LIMIT);
                if carried > limit {
                    return Err(Error::Protocol(format!(
                        "message larger than the maximum of {max} bytes \
                         ({carried} bytes announced in one frame)"
                    )));
                }
            }
            if self.input.len() < header.total_len() {
                return Ok(None);
            }
            self.input.advance(header.header_len);
            let body = self.input.split_to(header.size);
            let Some(cipher) = self.cipher.as_mut() else {
                return Ok(None);
            };
            let (flags, payload) = cipher.open_frame(body)?;
            if flags & MESSAGE_COMMAND != 0 {
                if let Some(event) = self.on_command(Command::decode(payload)?)? {
                    return Ok(Some(event));
                }
                continue;
            }
            if self.partial.len() >= MAX_FRAMES_PER_MESSAGE {
                return Err(Error::Protocol(format!(
                    "message has more than the maximum of {MAX_FRAMES_PER_MESSAGE} frames"
                )));
            }
            let total = self.partial_size.saturating_add(payload.len());
            if let Some(max) = self.config.max_msg_size {
                let cost = frame::message_cost(self.partial.len() + 1, total);
                if cost > max {
                    return Err(Error::Protocol(format!(
                        "message larger than the maximum of {max} bytes (at least {cost})"
                    )));
                }
            }
            self.partial
                .push(if payload.len() <= Frame::INLINE_CAPACITY {
                    Frame::copy_from_slice(&payload)
                } else {
                    Frame::from(payload)
                });
            self.partial_size = total;
            if flags & MESSAGE_MORE == 0 {
                self.partial_size = 0;
                let frames = std::mem::take(&mut self.partial);
                return Ok(Some(Event::Message(Message::from_frames(frames))));
            }
        }
    }

    /// Our properties in wire form: `Socket-Type`, then `Identity` if our type sends one,
    /// then the configured extra properties.
    fn our_metadata(&self) -> BytesMut {
        let config = &self.config;
        let mut properties: Vec<(&str, &[u8])> = Vec::with_capacity(2 + config.properties.len());
        properties.push((SOCKET_TYPE_PROPERTY, config.socket_type.as_str().as_bytes()));
        if config.socket_type.sends_identity() {
            properties.push((IDENTITY_PROPERTY, &config.identity));
        }
        properties.extend(
            config
                .properties
                .iter()
                .filter(|(name, _)| {
                    !name.eq_ignore_ascii_case(SOCKET_TYPE_PROPERTY)
                        && !name.eq_ignore_ascii_case(IDENTITY_PROPERTY)
                })
                .map(|(name, value)| (name.as_str(), &value[..])),
        );
        let mut out = BytesMut::with_capacity(metadata::encoded_len(&properties));
        metadata::encode(&mut out, &properties);
        out
    }

    /// Checks the peer's READY metadata and builds its [`PeerInfo`].
    ///
    /// Names are matched without regard to case; the first `Socket-Type` and the first
    /// `Identity` count, later duplicates are dropped. What is kept is one copy of the
    /// metadata and a 16-byte index entry per other property.
    fn accept_ready(&mut self, data: &Bytes, minor: u8) -> Result<PeerInfo> {
        let spans = match metadata::parse(data, self.config.max_properties) {
            Ok(spans) => spans,
            Err(e) => {
                self.send_error(INVALID_METADATA);
                return Err(e);
            }
        };
        // Detached from the input buffer, so the connection keeps only what it accepted.
        // What a ZAP handler said about the peer follows the peer's own properties: its
        // metadata, then `User-Id` (when it gave one).
        let mut raw = BytesMut::from(&data[..]);
        let mut zap_spans = Vec::new();
        if let Some((user_id, zap_metadata)) = &self.zap_result {
            let base = raw.len();
            // Malformed ZAP metadata is left out rather than failing the peer.
            if let Ok(found) = metadata::parse(zap_metadata, self.config.max_properties) {
                raw.extend_from_slice(zap_metadata);
                zap_spans.extend(found.into_iter().map(|span| {
                    (
                        span.name.start + base..span.name.end + base,
                        span.value.start + base..span.value.end + base,
                    )
                }));
            }
            if !user_id.is_empty() {
                let at = raw.len();
                metadata::encode(&mut raw, &[(USER_ID_PROPERTY, &user_id[..])]);
                let name_at = at + 1;
                let value_at = name_at + USER_ID_PROPERTY.len() + 4;
                zap_spans.push((
                    name_at..name_at + USER_ID_PROPERTY.len(),
                    value_at..value_at + user_id.len(),
                ));
            }
        }
        let raw = raw.freeze();
        let mut socket_type = None;
        let mut identity = None;
        let mut others = Vec::new();
        for span in spans {
            let name = &raw[span.name.clone()];
            if name.eq_ignore_ascii_case(SOCKET_TYPE_PROPERTY.as_bytes()) {
                socket_type.get_or_insert(span.value);
            } else if name.eq_ignore_ascii_case(IDENTITY_PROPERTY.as_bytes()) {
                identity.get_or_insert(span.value);
            } else {
                others.push((span.name, span.value));
            }
        }
        let Some(raw_type) = socket_type else {
            return Err(Error::Protocol(
                "peer's READY has no Socket-Type property".into(),
            ));
        };
        let raw_type = &raw[raw_type];
        let Some(theirs) = SocketType::from_wire(raw_type) else {
            return Err(Error::Protocol(format!(
                "peer announced an unknown socket type `{}`",
                raw_type.escape_ascii()
            )));
        };
        if let Some(id) = &identity {
            if id.len() > MAX_IDENTITY_LEN {
                self.send_error(INVALID_METADATA);
                return Err(Error::Protocol(format!(
                    "peer announced an identity of {} bytes (at most {MAX_IDENTITY_LEN})",
                    id.len()
                )));
            }
        }
        let ours = self.config.socket_type;
        if !ours.is_compatible_with(theirs) {
            self.send_error(INVALID_SOCKET_TYPE);
            return Err(Error::IncompatiblePeer {
                ours: ours.as_str(),
                theirs: theirs.as_str().to_owned(),
            });
        }
        Ok(PeerInfo {
            socket_type: theirs,
            identity: identity.map_or_else(Bytes::new, |id| raw.slice(id)),
            minor,
            properties: Properties::new(raw, others.into_iter().chain(zap_spans)),
        })
    }

    /// True once the handshake is done and no error has happened.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.state, State::Traffic)
    }

    /// What the peer announced, once [`Event::Ready`] has been emitted (kept after errors).
    #[cfg(test)]
    pub(crate) fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// Queues all frames of `msg`, MORE on all but the last. A message without frames
    /// queues nothing.
    ///
    /// Call only after [`Event::Ready`]: earlier, the frames would precede our READY and
    /// the peer would reject them.
    ///
    /// Subscriptions follow libzmq's rule: when our socket type is a subscriber and `msg`
    /// is one frame starting with `01` (subscribe) or `00` (cancel), a peer that announced
    /// minor ≥ 1 gets a SUBSCRIBE/CANCEL command with the rest of the frame as topic, and a
    /// ZMTP 3.0 peer gets the message unchanged.
    ///
    /// Bodies of at least 8 KiB are queued without copying (a clone of the frame's
    /// [`Bytes`]); smaller ones are copied so many go out in one write.
    pub(crate) fn send_message(&mut self, msg: &Message) {
        if self.cipher.is_some() {
            self.send_sealed(msg);
            return;
        }
        if let Some((subscribe, topic)) = self.as_subscription_command(msg) {
            let staging = self.output.staging();
            if subscribe {
                command::encode_subscribe(staging, topic);
            } else {
                command::encode_cancel(staging, topic);
            }
            return;
        }
        let frames = msg.frames();
        let last = frames.len().saturating_sub(1);
        for (i, frame) in frames.iter().enumerate() {
            self.output.push_frame(i < last, frame);
        }
    }

    /// [`Connection::send_message`] over CURVE: each frame (or the subscription command)
    /// becomes one MESSAGE, encrypted in place in the output.
    fn send_sealed(&mut self, msg: &Message) {
        let subscription = self.as_subscription_command(msg);
        let Some(cipher) = self.cipher.as_mut() else {
            return;
        };
        let out = self.output.staging();
        let result = if let Some((subscribe, topic)) = subscription {
            let name = if subscribe {
                command::SUBSCRIBE
            } else {
                command::CANCEL
            };
            cipher.seal_frame(out, MESSAGE_COMMAND, &[&[name.len() as u8], name, topic])
        } else {
            let frames = msg.frames();
            let last = frames.len().saturating_sub(1);
            frames.iter().enumerate().try_for_each(|(i, frame)| {
                let flags = if i < last { MESSAGE_MORE } else { 0 };
                cipher.seal_frame(out, flags, &[frame])
            })
        };
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
    }

    /// Queues a command frame written by `encode`: as it is, or inside a MESSAGE over
    /// CURVE after the handshake.
    fn queue_command(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        let Some(cipher) = self.cipher.as_mut() else {
            encode(self.output.staging());
            return;
        };
        let mut scratch = BytesMut::new();
        encode(&mut scratch);
        let Ok(Some(header)) = frame::decode_header(&scratch) else {
            return;
        };
        let body = scratch.get(header.header_len..).unwrap_or_default();
        if let Err(e) = cipher.seal_frame(self.output.staging(), MESSAGE_COMMAND, &[body]) {
            self.state = State::Failed(e);
        }
    }

    /// `Some((true, topic))` for a subscription and `Some((false, topic))` for a
    /// cancellation that must go out as a command; `None` to send `msg` as it is.
    fn as_subscription_command<'m>(&self, msg: &'m Message) -> Option<(bool, &'m [u8])> {
        if !self.config.socket_type.is_subscriber() {
            return None;
        }
        // Before the handshake (a caller error) assume a peer of our own version.
        let peer_minor = self.peer.as_ref().map_or(OUR_MINOR, |p| p.minor);
        if peer_minor < 1 {
            return None;
        }
        let [frame] = msg.frames() else {
            return None;
        };
        match frame.split_first() {
            Some((&1, topic)) => Some((true, topic)),
            Some((&0, topic)) => Some((false, topic)),
            _ => None,
        }
    }

    /// Queues a PING with a TTL in tenths of a second (0 = none) and at most the first 16
    /// bytes of `context`. Keep the TTL ≤ 655 for libzmq peers, whose timer overflows above.
    pub(crate) fn send_ping(&mut self, ttl_deciseconds: u16, context: &[u8]) {
        self.queue_command(|out| command::encode_ping(out, ttl_deciseconds, context));
    }

    /// The TTL, in tenths of a second, announced by the latest PING with a non-zero TTL
    /// received since the last call; `None` if there was none. The caller keeps the clock:
    /// it should drop the connection when no traffic at all arrives within that time.
    pub(crate) fn take_peer_ttl(&mut self) -> Option<u16> {
        self.peer_ttl.take()
    }

    /// Queues an ERROR command; `reason` is cut to 255 bytes (at a character boundary).
    /// The connection itself stays as it was; the caller closes it once the output is out.
    pub(crate) fn send_error(&mut self, reason: &str) {
        self.queue_owed(|out| command::encode_error(out, reason));
    }

    /// True when bytes are waiting to be written.
    pub(crate) fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Number of bytes queued and not yet written.
    pub(crate) fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Fills up to `out.len()` slices with pending output, in order, and returns how many
    /// it filled. Large message bodies are their own slices, pointing at the caller's
    /// buffers.
    pub(crate) fn output_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        self.output.slices(out)
    }

    /// Drops the first `n` bytes of pending output after they were written; a write may
    /// end anywhere, even inside a slice. `n` beyond [`Connection::output_len`] drops all.
    pub(crate) fn advance_output(&mut self, n: usize) {
        let n = n.min(self.output.len());
        self.output.advance(n);
        self.written = self.written.saturating_add(n as u64);
        while self.owed.front().is_some_and(|&end| end <= self.written) {
            self.owed.pop_front();
        }
    }
}

/// An equivalent copy of an error this module produced, for sticky reporting.
fn replay(e: &Error) -> Error {
    match e {
        Error::Protocol(s) => Error::Protocol(s.clone()),
        Error::PeerError(s) => Error::PeerError(s.clone()),
        Error::IncompatiblePeer { ours, theirs } => Error::IncompatiblePeer {
            ours,
            theirs: theirs.clone(),
        },
        Error::AuthenticationFailed { status_code } => Error::AuthenticationFailed {
            status_code: *status_code,
        },
        other => Error::Protocol(other.to_string()),
    }
}

#[cfg(any(test, feature = "fuzzing"))]
/// Largest frame a PONG we owe takes: header, name and 16 context bytes.
const MAX_PONG_LEN: usize = 2 + 1 + 4 + command::MAX_PING_CONTEXT;
#[cfg(any(test, feature = "fuzzing"))]
/// Largest frame an ERROR we send takes: long header, name, length byte and reason.
const MAX_ERROR_LEN: usize = frame::MAX_HEADER_LEN + 1 + 5 + 1 + command::MAX_ERROR_REASON;
/// Message size limit of the fuzz bodies.
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_MAX_MSG: usize = 1 << 20;
/// Bytes the fuzz bodies hand the connection at a time, as a read would.
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_READ: usize = 4096;

/// Drives `conn` like the engine does over a peer that sends `stream` (in `pieces`) and reads
/// our output only when the connection stops wanting input: it hands over at most
/// [`FUZZ_READ`] bytes at a time and only while [`Connection::wants_read`], polls every
/// event, answers messages like a publisher would (so the encoding side runs too), and
/// writes no output between polls. After every round it checks what the connection holds
/// against the documented bounds, and panics if one is broken:
/// - owed output (PONGs, ERROR): at most [`MAX_OWED_COMMANDS`] PONGs and one ERROR;
/// - undecoded input: at most one frame (of the size limits) and one read;
/// - the message under assembly: at most the message size limit;
/// - the peer's metadata: at most the metadata limit plus 16 bytes per property, and an
///   identity of at most 255 bytes.
#[cfg(any(test, feature = "fuzzing"))]
fn fuzz_drive(conn: &mut Connection, pieces: &[&[u8]]) {
    let mut ready = BytesMut::new();
    command::encode_command(&mut ready, command::READY, &[&conn.our_metadata()]);
    // Output that is not owed: our greeting and READY, and our echoes.
    let mut ours = conn.output_len();
    let mut ready_counted = false;
    let max_frame = FUZZ_MAX_MSG.max(frame::MIN_COMMAND_LIMIT) + frame::MAX_HEADER_LEN;
    let max_owed = MAX_OWED_COMMANDS * MAX_PONG_LEN + MAX_ERROR_LEN;
    for piece in pieces {
        let mut rest = *piece;
        loop {
            if conn.wants_read() && !rest.is_empty() {
                let (now, later) = rest.split_at(rest.len().min(FUZZ_READ));
                conn.feed(now);
                rest = later;
            }
            while let Ok(Some(event)) = conn.poll_event() {
                if let Event::Message(msg) = event {
                    let before = conn.output_len();
                    conn.send_message(&msg);
                    ours += conn.output_len() - before;
                }
            }
            if !ready_counted && !matches!(conn.state, State::ExpectGreeting) {
                ready_counted = true;
                ours += ready.len();
            }
            let owed = conn.output_len().saturating_sub(ours);
            assert!(owed <= max_owed, "{owed} bytes of owed output");
            assert!(conn.owed.len() <= MAX_OWED_COMMANDS + 1);
            let input = conn.input_len();
            assert!(input <= max_frame + FUZZ_READ, "{input} bytes of input");
            assert!(conn.decoder.partial_cost() <= FUZZ_MAX_MSG);
            if let Some(peer) = &conn.peer {
                let held = peer.properties.held_bytes();
                let max = conn.config.max_metadata_size + 16 * conn.config.max_properties;
                assert!(held <= max, "{held} bytes of metadata");
                assert!(peer.identity.len() <= MAX_IDENTITY_LEN);
            }
            if rest.is_empty() || matches!(conn.state, State::Failed(_)) {
                break;
            }
            if !conn.wants_read() {
                // The peer reads at last: everything queued goes out.
                conn.advance_output(conn.output_len());
                ours = 0;
            }
        }
    }
    let _ = conn.take_peer_ttl();
}

/// Decodes arbitrary bytes as traffic from a peer after a valid handshake (see
/// [`fuzz_drive`] for how, and for the bounds it checks). Must never panic, whatever `data`
/// holds; a fuzz target and the tests run it.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_decode(data: &[u8]) {
    let mut conn = Connection::new(ConnectionConfig {
        max_msg_size: Some(FUZZ_MAX_MSG),
        ..ConnectionConfig::new(SocketType::XPub)
    });
    let mut peer = BytesMut::new();
    peer.extend_from_slice(&Greeting::ours().to_bytes());
    command::encode_ready(&mut peer, &[(SOCKET_TYPE_PROPERTY, b"SUB")]);
    fuzz_drive(&mut conn, &[&peer, data]);
}

/// Decodes arbitrary bytes as everything a peer sends from the first byte on: greeting,
/// READY, then traffic. The first byte picks our socket type (so every type's handshake
/// checks run); the rest is the peer's stream, cut in two pieces at a point the first byte
/// also picks (so a split inside the greeting or a frame is exercised too). Driven and
/// checked as [`fuzz_drive`] says. Must never panic, whatever `data` holds.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_handshake(data: &[u8]) {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let ours = SocketType::ALL[usize::from(pick) % SocketType::ALL.len()];
    let mut conn = Connection::new(ConnectionConfig {
        max_msg_size: Some(FUZZ_MAX_MSG),
        ..ConnectionConfig::new(ours)
    });
    let cut = usize::from(pick) % (stream.len() + 1);
    fuzz_drive(&mut conn, &[&stream[..cut], &stream[cut..]]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The checked-in fuzz corpus `fuzz/corpus/<target>/`, file name and bytes.
    fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_fuzz_corpus_replays_without_panics() {
        let decode = corpus("decode");
        let handshake = corpus("handshake");
        assert!(decode.len() >= 8 && handshake.len() >= 4);
        for (_, data) in &decode {
            fuzz_decode(data);
        }
        for (_, data) in &handshake {
            fuzz_handshake(data);
        }
    }

    #[test]
    fn the_handshake_corpus_holds_real_handshakes() {
        // Seeds that do not complete a handshake teach the fuzzer little: check that the
        // ones meant to do so still do: `ok-*` (written from the notes) and `live-*`
        // (libzmq's traffic captured by `examples/capture_zmtp.rs`).
        let mut live = 0;
        for (name, data) in corpus("handshake") {
            if !(name.starts_with("ok-") || name.starts_with("live-")) {
                continue;
            }
            live += usize::from(name.starts_with("live-"));
            let ours = SocketType::ALL[usize::from(data[0]) % SocketType::ALL.len()];
            let mut conn = Connection::new(ConnectionConfig::new(ours));
            conn.feed(&data[1..]);
            let (events, err) = drain(&mut conn);
            assert!(err.is_none(), "{name}: {err:?}");
            assert!(matches!(events.first(), Some(Event::Ready(_))), "{name}");
        }
        assert!(live >= 7, "the live libzmq captures are in the corpus");
    }

    #[test]
    fn the_live_libzmq_captures_decode_to_what_libzmq_sent() {
        // (seed, messages, SUBSCRIBE commands, CANCEL commands), as recorded by
        // `examples/capture_zmtp.rs`; PINGs and the PONG never surface as events.
        let expected = [
            ("live-libzmq-push-to-pull", 4, 0, 0),
            ("live-libzmq-req-to-rep", 2, 0, 0),
            ("live-libzmq-dealer-identity-to-router", 3, 0, 0),
            ("live-libzmq-sub-to-pub", 0, 3, 1),
            ("live-libzmq-sub-to-zmtp30-pub", 4, 0, 0),
            ("live-libzmq-pub-to-sub", 2, 0, 0),
            ("live-libzmq-router-to-dealer", 2, 0, 0),
            ("live-libzmq-push-heartbeat-to-pull", 1, 0, 0),
        ];
        let seeds = corpus("handshake");
        for (seed, messages, subscribes, cancels) in expected {
            let (_, data) = seeds
                .iter()
                .find(|(name, _)| name == seed)
                .unwrap_or_else(|| panic!("{seed} missing"));
            let ours = SocketType::ALL[usize::from(data[0]) % SocketType::ALL.len()];
            let mut conn = Connection::new(ConnectionConfig::new(ours));
            conn.feed(&data[1..]);
            let (events, err) = drain(&mut conn);
            assert!(err.is_none(), "{seed}: {err:?}");
            let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
            assert_eq!(
                count(|e| matches!(e, Event::Message(_))),
                messages,
                "{seed}"
            );
            assert_eq!(
                count(|e| matches!(e, Event::Subscribe(_))),
                subscribes,
                "{seed}"
            );
            assert_eq!(count(|e| matches!(e, Event::Cancel(_))), cancels, "{seed}");
        }
    }
    use proptest::prelude::*;

    // ---- helpers -------------------------------------------------------------------------

    /// A greeting as a peer would send it.
    fn greeting(major: u8, minor: u8) -> Vec<u8> {
        let mut g = Greeting::ours().to_bytes();
        g[10] = major;
        g[11] = minor;
        g.to_vec()
    }

    /// libzmq's greeting: ZMTP 3.1, NULL, padding `00 .. 01`.
    fn libzmq_greeting() -> Vec<u8> {
        let mut g = greeting(3, 1);
        g[8] = 0x01;
        g
    }

    fn ready_frame(properties: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = BytesMut::new();
        command::encode_ready(&mut b, properties);
        b.to_vec()
    }

    /// Greeting plus READY, as a ZMTP 3.1 peer of type `t` sends them.
    fn peer_handshake(t: SocketType) -> Vec<u8> {
        let mut v = libzmq_greeting();
        v.extend(ready_frame(&[(
            SOCKET_TYPE_PROPERTY,
            t.as_str().as_bytes(),
        )]));
        v
    }

    /// Polls until more bytes are needed or an error comes.
    pub(crate) fn drain(conn: &mut Connection) -> (Vec<Event>, Option<Error>) {
        let mut events = Vec::new();
        loop {
            match conn.poll_event() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => return (events, None),
                Err(e) => return (events, Some(e)),
            }
        }
    }

    /// Takes all pending output, through `output_slices` and `advance_output`.
    pub(crate) fn take_output(conn: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        while conn.has_output() {
            let mut slices = [IoSlice::new(&[]); 3];
            let n = conn.output_slices(&mut slices);
            let before = out.len();
            for s in &slices[..n] {
                out.extend_from_slice(s);
            }
            let k = out.len() - before;
            conn.advance_output(k);
        }
        assert_eq!(conn.output_len(), 0);
        out
    }

    /// A connection of type `ours` that has completed a handshake with a 3.1 peer of type
    /// `theirs`, its own output discarded.
    fn handshaken(ours: SocketType, theirs: SocketType) -> Connection {
        handshaken_with(ConnectionConfig::new(ours), theirs)
    }

    fn handshaken_with(config: ConnectionConfig, theirs: SocketType) -> Connection {
        let mut conn = Connection::new(config);
        conn.feed(&peer_handshake(theirs));
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        assert!(matches!(events.as_slice(), [Event::Ready(_)]));
        take_output(&mut conn);
        conn
    }

    pub(crate) fn msg(frames: &[&[u8]]) -> Message {
        frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
    }

    /// One side of an in-memory pair.
    pub(crate) struct Side {
        pub(crate) conn: Connection,
        pub(crate) events: Vec<Event>,
        pub(crate) error: Option<Error>,
    }

    impl Side {
        pub(crate) fn new(config: ConnectionConfig) -> Self {
            Side {
                conn: Connection::new(config),
                events: Vec::new(),
                error: None,
            }
        }

        fn of(t: SocketType) -> Self {
            Side::new(ConnectionConfig::new(t))
        }

        pub(crate) fn poll_all(&mut self) {
            if self.error.is_some() {
                return;
            }
            let (events, error) = drain(&mut self.conn);
            self.events.extend(events);
            self.error = error;
        }

        pub(crate) fn messages(&self) -> Vec<Message> {
            self.events
                .iter()
                .filter_map(|e| match e {
                    Event::Message(m) => Some(m.clone()),
                    _ => None,
                })
                .collect()
        }
    }

    /// Moves at most `max_write` bytes per "write" from `from`'s output to `to`'s input,
    /// until `from` has nothing left. Returns how many bytes moved.
    pub(crate) fn transfer(from: &mut Side, to: &mut Side, max_write: usize) -> usize {
        let mut moved = 0;
        while from.conn.has_output() {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = from.conn.output_slices(&mut slices);
            let mut written = 0;
            for s in &slices[..n] {
                let take = s.len().min(max_write - written);
                to.conn.input().extend_from_slice(&s[..take]);
                written += take;
                if written == max_write {
                    break;
                }
            }
            from.conn.advance_output(written);
            moved += written;
        }
        moved
    }

    /// Runs both sides until neither has anything to send (quinn's `Pair::drive`).
    pub(crate) fn drive(a: &mut Side, b: &mut Side) {
        drive_chunked(a, b, usize::MAX);
    }

    pub(crate) fn drive_chunked(a: &mut Side, b: &mut Side, max_write: usize) {
        loop {
            let moved = transfer(a, b, max_write) + transfer(b, a, max_write);
            a.poll_all();
            b.poll_all();
            if moved == 0 && !a.conn.has_output() && !b.conn.has_output() {
                return;
            }
        }
    }

    /// A pair of the given types, handshake done, events cleared.
    fn pair(a: SocketType, b: SocketType) -> (Side, Side) {
        let (mut a, mut b) = (Side::of(a), Side::of(b));
        drive(&mut a, &mut b);
        assert!(a.error.is_none() && b.error.is_none(), "{a:?} {b:?}");
        assert!(a.conn.is_ready() && b.conn.is_ready());
        a.events.clear();
        b.events.clear();
        (a, b)
    }

    impl fmt::Debug for Side {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "{:?} events={:?} error={:?}",
                self.conn, self.events, self.error
            )
        }
    }

    // ---- handshake -----------------------------------------------------------------------

    #[test]
    fn new_connection_queues_exactly_our_greeting() {
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Push));
        assert_eq!(conn.output_len(), 64);
        assert!(!conn.is_ready());
        assert!(conn.peer().is_none());
        assert_eq!(take_output(&mut conn), Greeting::ours().to_bytes());
        assert_eq!(conn.poll_event().unwrap(), None);
        assert!(!conn.has_output());
    }

    #[test]
    fn push_pull_handshake() {
        let (mut push, mut pull) = (Side::of(SocketType::Push), Side::of(SocketType::Pull));
        drive(&mut push, &mut pull);
        let expect = |t| {
            vec![Event::Ready(PeerInfo {
                socket_type: t,
                identity: Bytes::new(),
                minor: 1,
                properties: Properties::default(),
            })]
        };
        assert_eq!(push.events, expect(SocketType::Pull));
        assert_eq!(pull.events, expect(SocketType::Push));
        assert_eq!(push.conn.peer().unwrap().socket_type, SocketType::Pull);
        assert!(push.error.is_none() && pull.error.is_none());
    }

    #[test]
    fn identity_and_extra_properties_reach_the_peer() {
        let dealer = ConnectionConfig {
            identity: Bytes::from_static(b"me"),
            properties: vec![
                ("X-Color".into(), Bytes::from_static(b"blue")),
                ("socket-type".into(), Bytes::from_static(b"PUB")), // collides: not sent
            ],
            ..ConnectionConfig::new(SocketType::Dealer)
        };
        let router = ConnectionConfig {
            identity: Bytes::from_static(b"router-id"),
            ..ConnectionConfig::new(SocketType::Router)
        };
        let pub_ = ConnectionConfig {
            identity: Bytes::from_static(b"ignored"), // PUB sends no Identity
            ..ConnectionConfig::new(SocketType::Pub)
        };
        let (mut d, mut r) = (Side::new(dealer.clone()), Side::new(router));
        drive(&mut d, &mut r);
        let Event::Ready(seen_by_router) = &r.events[0] else {
            panic!("{r:?}")
        };
        assert_eq!(seen_by_router.socket_type, SocketType::Dealer);
        assert_eq!(&seen_by_router.identity[..], b"me");
        let props: Vec<_> = seen_by_router.properties.iter().collect();
        assert_eq!(props, [(&b"X-Color"[..], &b"blue"[..])]);
        assert_eq!(&d.conn.peer().unwrap().identity[..], b"router-id");

        let (mut p, mut s) = (Side::new(pub_), Side::of(SocketType::Sub));
        drive(&mut p, &mut s);
        assert!(s.conn.peer().unwrap().identity.is_empty());
    }

    #[test]
    fn our_ready_follows_the_peer_greeting_byte_exact() {
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Req));
        take_output(&mut conn);
        let g = libzmq_greeting();
        conn.feed(&g[..63]);
        assert_eq!(conn.poll_event().unwrap(), None);
        assert!(!conn.has_output(), "READY must wait for the full greeting");
        conn.feed(&g[63..]);
        assert_eq!(conn.poll_event().unwrap(), None);
        let mut expected = vec![0x04, 0x26, 0x05];
        expected.extend_from_slice(b"READY\x0bSocket-Type\x00\x00\x00\x03REQ");
        expected.extend_from_slice(b"\x08Identity\x00\x00\x00\x00");
        assert_eq!(take_output(&mut conn), expected);
    }

    #[test]
    fn greeting_errors_come_early() {
        // A bad signature fails at byte 10, before any 64 bytes.
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Pull));
        let mut g = greeting(3, 1);
        g[9] = 0x00;
        conn.feed(&g[..10]);
        let err = conn.poll_event().unwrap_err().to_string();
        assert!(err.contains("does not speak ZMTP 3.x"), "{err}");

        // ZMTP 2.0 (major 1) fails at byte 11.
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Pull));
        conn.feed(&greeting(1, 0)[..11]);
        assert!(matches!(conn.poll_event(), Err(Error::Protocol(_))));

        // PLAIN is refused, naming both mechanisms.
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Pull));
        let mut g = greeting(3, 1);
        g[12..17].copy_from_slice(b"PLAIN");
        conn.feed(&g);
        let err = conn.poll_event().unwrap_err().to_string();
        assert!(err.contains("NULL") && err.contains("PLAIN"), "{err}");
        // Nothing but our greeting was ever queued.
        assert_eq!(conn.output_len(), 64);
    }

    #[test]
    fn peer_minor_version_is_recorded() {
        for (major, minor, expected) in [(3, 0, 0), (3, 1, 1), (3, 2, 2), (4, 0, 1), (9, 7, 1)] {
            let mut conn = Connection::new(ConnectionConfig::new(SocketType::Pull));
            conn.feed(&greeting(major, minor));
            conn.feed(&ready_frame(&[(SOCKET_TYPE_PROPERTY, b"PUSH")]));
            let (events, err) = drain(&mut conn);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(events.len(), 1);
            assert_eq!(conn.peer().unwrap().minor, expected, "{major}.{minor}");
        }
    }

    #[test]
    fn property_names_match_in_any_case() {
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Router));
        conn.feed(&libzmq_greeting());
        conn.feed(&ready_frame(&[
            ("X-First", b"1"),
            ("identity", b"abc"),
            ("SOCKET-TYPE", b"DEALER"),
            ("Socket-Type", b"PUB"), // a duplicate: the first one counts
        ]));
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        let [Event::Ready(info)] = &events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(info.socket_type, SocketType::Dealer);
        assert_eq!(&info.identity[..], b"abc");
        assert_eq!(info.minor, 1);
        let props: Vec<_> = info.properties.iter().collect();
        assert_eq!(props, [(&b"X-First"[..], &b"1"[..])]);
        assert_eq!(info.properties.get(b"x-first"), Some(&b"1"[..]));
    }

    /// A READY body (name and metadata) with `count` properties named `N<i>` and valued `v`.
    fn many_properties(count: usize) -> Vec<u8> {
        let mut props = BytesMut::new();
        metadata::encode(&mut props, &[(SOCKET_TYPE_PROPERTY, b"PUSH")]);
        for i in 0..count {
            let name = format!("N{i}");
            metadata::encode(&mut props, &[(&name, b"v")]);
        }
        let mut frame = BytesMut::new();
        command::encode_command(&mut frame, command::READY, &[&props]);
        frame.to_vec()
    }

    #[test]
    fn a_ready_with_a_million_properties_is_refused_on_its_header() {
        let ready = many_properties(1_000_000);
        assert!(ready.len() > 5_000_000);
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Pull));
        take_output(&mut conn);
        conn.feed(&libzmq_greeting());
        // Only the header and a few bytes of the body: refused before the rest arrives.
        conn.feed(&ready[..64]);
        let err = conn.poll_event().unwrap_err().to_string();
        assert!(
            err.contains("larger than the maximum metadata of 65536 bytes"),
            "{err}"
        );
        assert!(conn.input().capacity() < 1 << 16);
        // Our READY, then an ERROR for the peer.
        let out = take_output(&mut conn);
        assert!(out.ends_with(b"\x05ERROR\x10Invalid metadata"), "{out:?}");
    }

    #[test]
    fn the_property_count_and_identity_length_are_capped() {
        let config = ConnectionConfig {
            max_metadata_size: 16 << 20,
            ..ConnectionConfig::new(SocketType::Pull)
        };
        // 256 properties besides Socket-Type: too many (the default is 256 in all).
        let mut conn = Connection::new(config.clone());
        conn.feed(&libzmq_greeting());
        conn.feed(&many_properties(DEFAULT_MAX_PROPERTIES));
        let err = drain(&mut conn).1.expect("an error").to_string();
        assert!(
            err.contains("more than the maximum of 256 properties"),
            "{err}"
        );
        assert!(take_output(&mut conn).ends_with(b"Invalid metadata"));

        // 255 of them are kept, as one copy of the metadata and an index; lookups ignore case.
        let mut conn = Connection::new(config.clone());
        conn.feed(&libzmq_greeting());
        let ready = many_properties(DEFAULT_MAX_PROPERTIES - 1);
        conn.feed(&ready);
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        let [Event::Ready(info)] = &events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(info.properties.len(), 255);
        assert_eq!(info.properties.get(b"n254"), Some(&b"v"[..]));
        assert_eq!(info.properties.get(b"N0"), Some(&b"v"[..]));
        assert_eq!(info.properties.get(b"N255"), None);
        assert_eq!(info.properties.get(b"socket-type"), None);
        let body = ready.len() - frame::MAX_HEADER_LEN - 1 - command::READY.len();
        assert_eq!(info.properties.held_bytes(), body + 16 * 255);

        // An identity of 255 bytes is fine, 256 is not (ZMTP's limit on routing ids).
        for (len, ok) in [(255, true), (256, false)] {
            let mut conn = Connection::new(ConnectionConfig::new(SocketType::Router));
            take_output(&mut conn);
            conn.feed(&libzmq_greeting());
            let id = vec![b'i'; len];
            conn.feed(&ready_frame(&[
                (SOCKET_TYPE_PROPERTY, b"DEALER"),
                (IDENTITY_PROPERTY, &id),
            ]));
            let (events, err) = drain(&mut conn);
            if ok {
                assert!(err.is_none(), "{err:?}");
                assert!(matches!(&events[..], [Event::Ready(i)] if i.identity.len() == 255));
            } else {
                let err = err.expect("an error").to_string();
                assert!(err.contains("identity of 256 bytes"), "{err}");
                assert!(take_output(&mut conn).ends_with(b"Invalid metadata"));
            }
        }
    }

    #[test]
    fn a_flood_of_pings_never_read_stops_decoding_at_the_owed_limit() {
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        let mut ping = BytesMut::new();
        command::encode_ping(&mut ping, 0, b"0123456789abcdef");
        let pings = ping.repeat((8 << 20) / ping.len());
        // Many MiB of PINGs fed as reads come, the output never written.
        for chunk in pings.chunks(128 * 1024) {
            conn.feed(chunk);
            assert_eq!(drain(&mut conn).1.map(|e| e.to_string()), None);
            assert!(conn.output_len() <= MAX_OWED_COMMANDS * MAX_PONG_LEN);
        }
        assert_eq!(conn.owed.len(), MAX_OWED_COMMANDS);
        assert!(!conn.wants_read());
        assert_eq!(conn.output_len(), MAX_OWED_COMMANDS * (2 + 5 + 16));
        // The input stops being consumed: all but the first 64 PINGs wait undecoded.
        assert_eq!(
            conn.input_len(),
            pings.len() - MAX_OWED_COMMANDS * ping.len()
        );
        let before = conn.input_len();
        assert_eq!(drain(&mut conn).0, []);
        assert_eq!(conn.input_len(), before);
        // Writing part of one PONG frees nothing; writing it whole frees one slot.
        conn.advance_output(MAX_PONG_LEN - 1);
        assert!(!conn.wants_read());
        conn.advance_output(1);
        assert!(conn.wants_read());
        assert_eq!(drain(&mut conn).0, []);
        assert_eq!(conn.owed.len(), MAX_OWED_COMMANDS);
        assert_eq!(conn.input_len(), before - ping.len());
        // Once the peer reads everything, decoding goes on.
        conn.advance_output(conn.output_len());
        assert!(conn.wants_read());
    }

    #[test]
    fn messages_before_held_commands_are_decoded() {
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        let mut ping = BytesMut::new();
        command::encode_ping(&mut ping, 0, b"");
        conn.feed(&ping.repeat(MAX_OWED_COMMANDS));
        conn.feed(b"\x00\x01a");
        conn.feed(&ping);
        conn.feed(b"\x00\x01b");
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(events, [Event::Message(msg(&[b"a"]))]);
        take_output(&mut conn);
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(events, [Event::Message(msg(&[b"b"]))]);
        assert_eq!(take_output(&mut conn), b"\x04\x05\x04PONG");
    }

    #[test]
    fn the_read_hint_follows_what_arrived_never_what_is_declared() {
        let room = 128 * 1024;
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        assert_eq!(conn.read_hint(room), room);
        // A frame header declaring 1 GiB, and nothing else: no more than a normal read.
        conn.feed(&[0x02, 0, 0, 0, 0, 0x40, 0, 0, 0]);
        assert_eq!(conn.poll_event().unwrap(), None);
        assert_eq!(conn.read_hint(room), room);
        assert!(conn.input().capacity() < 1 << 16);
        // As the body arrives, the hint is what arrived (the buffer may double)...
        conn.feed(&vec![7; 1 << 20]);
        assert_eq!(conn.read_hint(room), (1 << 20) + 9);
        // ...but never more than the frame still lacks.
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        conn.feed(&[0x02, 0, 0, 0, 0, 0, 0x30, 0, 0]);
        conn.feed(&vec![7; 2 << 20]);
        assert_eq!(conn.read_hint(room), 1 << 20);
    }

    #[test]
    fn frame_rest_is_what_the_frame_under_way_lacks() {
        let conn = Connection::new(ConnectionConfig::new(SocketType::Pull));
        // Before the handshake nothing is known.
        assert_eq!(conn.frame_rest(), None);
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        assert_eq!(conn.frame_rest(), Some(0));
        // A header cut short: unknown.
        conn.feed(&[0x02, 0, 0]);
        assert_eq!(conn.poll_event().unwrap(), None);
        assert_eq!(conn.frame_rest(), None);
        // A long frame of 1000 bytes with 100 of them in: 900 to go.
        conn.feed(&[0, 0, 0, 0, 0x03, 0xe8]);
        conn.feed(&[7; 100]);
        assert_eq!(conn.poll_event().unwrap(), None);
        assert_eq!(conn.frame_rest(), Some(900));
        // The rest of it: decoded, and the input ends on a boundary again.
        conn.feed(&[7; 900]);
        assert!(matches!(
            conn.poll_event().unwrap(),
            Some(Event::Message(_))
        ));
        assert_eq!(conn.frame_rest(), Some(0));
    }

    /// Feeds a 3.1 greeting then `after`; returns the first error.
    fn handshake_error(ours: SocketType, after: &[u8]) -> Error {
        let mut conn = Connection::new(ConnectionConfig::new(ours));
        conn.feed(&libzmq_greeting());
        conn.feed(after);
        let (events, err) = drain(&mut conn);
        assert!(events.is_empty(), "{events:?}");
        err.expect("an error")
    }

    #[test]
    fn bad_handshakes_are_refused() {
        let protocol = |after: &[u8], needle: &str| {
            let err = handshake_error(SocketType::Pull, after);
            assert!(
                matches!(&err, Error::Protocol(m) if m.contains(needle)),
                "{after:?}: {err}"
            );
        };
        // A data frame instead of READY fails on its header alone.
        protocol(&[0x00, 0x05], "got a message frame");
        protocol(&[0x02, 0, 0, 0, 0, 0, 0, 0, 0], "got a message frame");
        // Other commands before READY.
        let mut ping = BytesMut::new();
        command::encode_ping(&mut ping, 0, b"");
        protocol(&ping, "got PING");
        protocol(b"\x04\x05\x04JOIN", "got JOIN");
        protocol(b"\x04\x00", "empty command");
        protocol(b"\x04\x03\x05REA", "malformed command");
        // Metadata problems.
        protocol(&ready_frame(&[]), "no Socket-Type");
        protocol(&ready_frame(&[("X-Other", b"PUSH")]), "no Socket-Type");
        protocol(
            &ready_frame(&[(SOCKET_TYPE_PROPERTY, b"CLIENT")]),
            "unknown socket type",
        );
        protocol(
            &ready_frame(&[(SOCKET_TYPE_PROPERTY, b"push")]),
            "unknown socket type",
        );
        protocol(b"\x04\x07\x05READY\x00", "empty name");
        protocol(b"\x04\x08\x05READY\x01A", "middle of a property");

        // An ERROR with a ZAP status code is an authentication failure, as libzmq reports
        // it (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH); any other reason is the peer's error.
        let err = handshake_error(SocketType::Pull, b"\x04\x0a\x05ERROR\x03400");
        assert!(
            matches!(&err, Error::AuthenticationFailed { status_code: 400 }),
            "{err}"
        );
        let err = handshake_error(SocketType::Pull, b"\x04\x0a\x05ERROR\x03bad");
        assert!(matches!(&err, Error::PeerError(r) if r == "bad"), "{err}");
    }

    #[test]
    fn incompatible_peers_are_refused_on_both_sides() {
        let (mut req, mut push) = (Side::of(SocketType::Req), Side::of(SocketType::Push));
        drive(&mut req, &mut push);
        assert!(req.events.is_empty() && push.events.is_empty());
        assert!(
            matches!(&req.error, Some(Error::IncompatiblePeer { ours: "REQ", theirs }) if theirs == "PUSH"),
            "{req:?}"
        );
        assert!(
            matches!(
                &push.error,
                Some(Error::IncompatiblePeer { ours: "PUSH", theirs }) if theirs == "REQ"
            ) || matches!(&push.error, Some(Error::PeerError(r)) if r == INVALID_SOCKET_TYPE),
            "{push:?}"
        );
        assert!(!req.conn.is_ready() && !push.conn.is_ready());

        // The ERROR command on the wire, byte-exact.
        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Req));
        conn.feed(&peer_handshake(SocketType::Push));
        let err = conn.poll_event().unwrap_err();
        assert!(matches!(err, Error::IncompatiblePeer { .. }));
        let out = take_output(&mut conn);
        let mut error_frame = vec![0x04, 0x1a, 0x05];
        error_frame.extend_from_slice(b"ERROR\x13Invalid socket type");
        assert!(out.ends_with(&error_frame), "{out:x?}");
        // Sticky, and no second ERROR.
        assert!(matches!(
            conn.poll_event(),
            Err(Error::IncompatiblePeer { .. })
        ));
        assert!(!conn.has_output());
    }

    // ---- steady state --------------------------------------------------------------------

    #[test]
    fn multipart_messages_flow_both_ways() {
        let (mut push, mut pull) = pair(SocketType::Push, SocketType::Pull);
        let m1 = msg(&[b"a", b"", b"ccc"]);
        let m2 = msg(&[b""]);
        let m3 = msg(&[&[5u8; 300][..], b"tail"]);
        for m in [&m1, &m2, &m3] {
            push.conn.send_message(m);
        }
        pull.conn.send_message(&m1);
        // An empty message sends nothing.
        pull.conn.send_message(&Message::new());
        drive_chunked(&mut push, &mut pull, 7);
        assert_eq!(pull.messages(), [m1.clone(), m2, m3]);
        assert_eq!(push.messages(), [m1]);
        assert!(push.error.is_none() && pull.error.is_none());
    }

    #[test]
    fn message_frames_are_byte_exact_on_the_wire() {
        let mut conn = handshaken(SocketType::Req, SocketType::Rep);
        conn.send_message(&msg(&[b"", b"hello"]));
        assert_eq!(take_output(&mut conn), b"\x01\x00\x00\x05hello");
        conn.send_message(&msg(&[&[0u8; 300][..]]));
        let out = take_output(&mut conn);
        assert_eq!(out[..9], [0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x2c]);
        assert_eq!(out.len(), 309);
    }

    #[test]
    fn large_messages_are_not_copied() {
        let (mut push, mut pull) = pair(SocketType::Push, SocketType::Pull);
        let body = Bytes::from((0..1 << 20).map(|i: u32| i as u8).collect::<Vec<u8>>());
        let m = Message::from(vec![Bytes::from_static(b"head"), body.clone()]);
        push.conn.send_message(&m);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = push.conn.output_slices(&mut slices);
        assert!(
            slices[..n]
                .iter()
                .any(|s| s.as_ptr() == body.as_ptr() && s.len() == body.len()),
            "the 1 MiB body must be queued as the caller's own buffer"
        );
        assert_eq!(push.conn.output_len(), 2 + 4 + 9 + (1 << 20));
        drive_chunked(&mut push, &mut pull, 100_000);
        assert_eq!(pull.messages(), [m]);
    }

    #[test]
    fn received_frames_share_the_input_buffer_unless_small() {
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        let mut wire = b"\x01\x03abc\x00\x64".to_vec();
        wire.extend_from_slice(&[7; 100]);
        conn.feed(&wire);
        let base = conn.input().as_ptr() as usize;
        let (events, _) = drain(&mut conn);
        let [Event::Message(m)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert!(m[0].is_inline(), "3 bytes are copied into the frame");
        assert_eq!(m[0], "abc");
        assert_eq!(m[1].as_ptr() as usize, base + 7, "100 bytes are not copied");
    }

    #[test]
    fn subscriptions_go_out_as_commands_to_31_peers() {
        for sub_type in [SocketType::Sub, SocketType::XSub] {
            let (mut sub, mut publ) = pair(sub_type, SocketType::XPub);
            sub.conn.send_message(&msg(&[b"\x01A"]));
            let mut wire = Vec::new();
            let mut probe = Side::of(SocketType::Pub);
            transfer(&mut sub, &mut probe, usize::MAX);
            wire.extend_from_slice(probe.conn.input());
            assert_eq!(wire, b"\x04\x0b\x09SUBSCRIBE\x41");
            publ.conn.feed(&wire);

            sub.conn.send_message(&msg(&[b"\x00A"]));
            sub.conn.send_message(&msg(&[b"\x01"])); // subscribe to everything
            sub.conn.send_message(&msg(&[b"\x01A", b"x"])); // multipart: a message
            sub.conn.send_message(&msg(&[b"\x02A"])); // not a subscription: a message
            sub.conn.send_message(&msg(&[b""])); // empty: a message
            drive(&mut sub, &mut publ);
            assert_eq!(
                publ.events,
                [
                    Event::Subscribe(Bytes::from_static(b"A")),
                    Event::Cancel(Bytes::from_static(b"A")),
                    Event::Subscribe(Bytes::new()),
                    Event::Message(msg(&[b"\x01A", b"x"])),
                    Event::Message(msg(&[b"\x02A"])),
                    Event::Message(msg(&[b""])),
                ]
            );
        }
    }

    #[test]
    fn subscriptions_go_out_as_messages_to_30_peers() {
        let mut sub = Connection::new(ConnectionConfig::new(SocketType::Sub));
        sub.feed(&greeting(3, 0));
        sub.feed(&ready_frame(&[(SOCKET_TYPE_PROPERTY, b"PUB")]));
        let (events, err) = drain(&mut sub);
        assert!(err.is_none());
        assert!(matches!(&events[..], [Event::Ready(p)] if p.minor == 0));
        take_output(&mut sub);
        sub.send_message(&msg(&[b"\x01A"]));
        sub.send_message(&msg(&[b"\x00A"]));
        assert_eq!(take_output(&mut sub), b"\x00\x02\x01A\x00\x02\x00A");
    }

    #[test]
    fn publishers_accept_both_subscription_forms() {
        let mut publ = handshaken(SocketType::Pub, SocketType::Sub);
        publ.feed(b"\x00\x02\x01A\x04\x0b\x09SUBSCRIBE\x41");
        let (events, err) = drain(&mut publ);
        assert!(err.is_none());
        assert_eq!(
            events,
            [
                Event::Message(msg(&[b"\x01A"])),
                Event::Subscribe(Bytes::from_static(b"A")),
            ]
        );
    }

    #[test]
    fn non_subscribers_send_01_messages_unchanged() {
        let mut dealer = handshaken(SocketType::Dealer, SocketType::Dealer);
        dealer.send_message(&msg(&[b"\x01A"]));
        assert_eq!(take_output(&mut dealer), b"\x00\x02\x01A");
    }

    #[test]
    fn ping_is_answered_with_a_pong_echoing_16_bytes() {
        let (mut a, mut b) = pair(SocketType::Pair, SocketType::Pair);
        let context: Vec<u8> = (0u8..20).collect();
        a.conn.send_ping(100, &context);
        transfer(&mut a, &mut b, usize::MAX);
        b.poll_all();
        assert!(b.events.is_empty() && b.error.is_none());
        let mut pong = vec![0x04, 0x15, 0x04];
        pong.extend_from_slice(b"PONG");
        pong.extend_from_slice(&context[..16]);
        let mut probe = Side::of(SocketType::Pair);
        transfer(&mut b, &mut probe, usize::MAX);
        assert_eq!(&probe.conn.input()[..], pong);

        // A PING built by hand with a 20-byte context (libzmq would not send one).
        let mut conn = handshaken(SocketType::Pair, SocketType::Pair);
        let mut ping = vec![0x04, 0x1b, 0x04];
        ping.extend_from_slice(b"PING\x00\x00");
        ping.extend_from_slice(&context);
        conn.feed(&ping);
        assert_eq!(drain(&mut conn).0, []);
        assert_eq!(take_output(&mut conn), pong);

        // libzmq's PING: TTL 10 s, no context; answered with an empty PONG, which the
        // other side ignores.
        conn.feed(&[0x04, 0x07, 0x04, 0x50, 0x49, 0x4e, 0x47, 0x00, 0x64]);
        assert_eq!(drain(&mut conn).0, []);
        let empty_pong = take_output(&mut conn);
        assert_eq!(empty_pong, [0x04, 0x05, 0x04, 0x50, 0x4f, 0x4e, 0x47]);
        conn.feed(&empty_pong);
        let (events, err) = drain(&mut conn);
        assert!(events.is_empty() && err.is_none());
        assert!(!conn.has_output());
    }

    #[test]
    fn the_ttl_of_received_pings_is_reported_once() {
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        assert_eq!(conn.take_peer_ttl(), None);
        // libzmq's PING with TTL 10 s, then one with no TTL.
        conn.feed(&[0x04, 0x07, 0x04, 0x50, 0x49, 0x4e, 0x47, 0x00, 0x64]);
        conn.feed(&[0x04, 0x07, 0x04, 0x50, 0x49, 0x4e, 0x47, 0x00, 0x00]);
        assert_eq!(drain(&mut conn).0, []);
        assert_eq!(conn.take_peer_ttl(), Some(100));
        assert_eq!(conn.take_peer_ttl(), None);
        conn.feed(&[0x04, 0x07, 0x04, 0x50, 0x49, 0x4e, 0x47, 0x00, 0x00]);
        assert_eq!(drain(&mut conn).0, []);
        assert_eq!(conn.take_peer_ttl(), None);
    }

    #[test]
    fn commands_between_frames_leave_the_message_alone() {
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        conn.feed(b"\x01\x01a");
        conn.feed(b"\x04\x07\x04PING\x00\x00");
        conn.feed(b"\x04\x05\x04JOIN"); // unknown: ignored
        conn.feed(b"\x04\x0a\x09SUBSCRIBE");
        conn.feed(b"\x00\x01b");
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            events,
            [
                Event::Subscribe(Bytes::new()),
                Event::Message(msg(&[b"a", b"b"])),
            ]
        );
        assert_eq!(take_output(&mut conn), b"\x04\x05\x04PONG");
    }

    #[test]
    fn errors_are_sticky() {
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        conn.feed(b"\x00\x01a\x04\x00\x00\x01b");
        assert_eq!(
            conn.poll_event().unwrap(),
            Some(Event::Message(msg(&[b"a"])))
        );
        let first = conn.poll_event().unwrap_err().to_string();
        assert!(first.contains("empty command"), "{first}");
        conn.feed(b"\x00\x01c");
        for _ in 0..3 {
            assert_eq!(conn.poll_event().unwrap_err().to_string(), first);
        }
        assert!(!conn.is_ready());
        assert!(conn.peer().is_some());

        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        conn.feed(b"\x04\x0a\x05ERROR\x03bye\x00\x01a");
        for _ in 0..2 {
            assert!(matches!(conn.poll_event(), Err(Error::PeerError(r)) if r == "bye"));
        }

        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        conn.feed(&ready_frame(&[(SOCKET_TYPE_PROPERTY, b"PUSH")]));
        for _ in 0..2 {
            let err = conn.poll_event().unwrap_err().to_string();
            assert!(err.contains("READY again"), "{err}");
        }

        let mut conn = Connection::new(ConnectionConfig::new(SocketType::Pull));
        conn.feed(b"GET / HTTP/1.1\r\n");
        for _ in 0..2 {
            assert!(matches!(conn.poll_event(), Err(Error::Protocol(_))));
        }
    }

    #[test]
    fn oversize_messages_are_refused_before_their_body_arrives() {
        let config = ConnectionConfig {
            max_msg_size: Some(1000),
            ..ConnectionConfig::new(SocketType::Pull)
        };
        // One 1001-byte frame: only its header is fed.
        let mut conn = handshaken_with(config.clone(), SocketType::Push);
        conn.feed(&[0x02, 0, 0, 0, 0, 0, 0, 0x03, 0xe9]);
        let err = conn.poll_event().unwrap_err().to_string();
        assert!(err.contains("message larger than the maximum"), "{err}");

        // A 2^62-byte frame: no allocation follows.
        let mut conn = handshaken_with(config.clone(), SocketType::Push);
        conn.feed(&[0x02, 0x40, 0, 0, 0, 0, 0, 0, 0]);
        assert!(conn.poll_event().is_err());
        assert!(conn.input().capacity() < 1 << 16);

        // The sum of a message's frames counts.
        let mut conn = handshaken_with(config.clone(), SocketType::Push);
        let mut bytes = Vec::new();
        for _ in 0..3 {
            bytes.extend_from_slice(&[0x01, 250]);
            bytes.extend_from_slice(&[b'x'; 250]);
        }
        bytes.extend_from_slice(&[0x00, 251]);
        conn.feed(&bytes);
        let err = conn.poll_event().unwrap_err().to_string();
        assert!(err.contains("message larger than the maximum"), "{err}");

        // Exactly the maximum is fine.
        let mut conn = handshaken_with(config, SocketType::Push);
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(&[0x00, 250]);
        bytes.extend_from_slice(&[b'y'; 250]);
        conn.feed(&bytes);
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        assert!(matches!(&events[..], [Event::Message(m)] if m.byte_len() == 1000));
    }

    #[test]
    fn frames_per_message_are_capped() {
        let mut conn = handshaken(SocketType::Pull, SocketType::Push);
        let mut ok = [0x01u8, 0x00].repeat(MAX_FRAMES_PER_MESSAGE - 1);
        ok.extend_from_slice(&[0x00, 0x00]);
        conn.feed(&ok);
        let (events, err) = drain(&mut conn);
        assert!(err.is_none(), "{err:?}");
        assert!(matches!(&events[..], [Event::Message(m)] if m.len() == MAX_FRAMES_PER_MESSAGE));

        let mut too_many = [0x01u8, 0x00].repeat(MAX_FRAMES_PER_MESSAGE);
        too_many.extend_from_slice(&[0x00, 0x00]);
        conn.feed(&too_many);
        let (events, err) = drain(&mut conn);
        assert!(events.is_empty());
        let err = err.expect("an error").to_string();
        assert!(err.contains("frames"), "{err}");
    }

    // ---- split points --------------------------------------------------------------------

    /// Feeds `stream` in pieces cut at `cuts` (sorted offsets), polling after each piece.
    fn feed_split(t: SocketType, stream: &[u8], cuts: &[usize]) -> (Vec<Event>, Option<String>) {
        let mut conn = Connection::new(ConnectionConfig::new(t));
        let mut events = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
            conn.feed(&stream[start..end]);
            start = end;
            let (more, err) = drain(&mut conn);
            events.extend(more);
            if let Some(e) = err {
                return (events, Some(e.to_string()));
            }
        }
        (events, None)
    }

    /// Checks that `stream` gives the same result fed whole, byte by byte, and split at
    /// every offset; returns that result.
    fn same_at_every_split(t: SocketType, stream: &[u8]) -> (Vec<Event>, Option<String>) {
        let whole = feed_split(t, stream, &[]);
        let bytewise: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(feed_split(t, stream, &bytewise), whole, "byte by byte");
        for cut in 0..=stream.len() {
            assert_eq!(feed_split(t, stream, &[cut]), whole, "split at {cut}");
        }
        for cut in (0..stream.len()).step_by(7) {
            let cuts = [
                cut,
                (cut + 3).min(stream.len()),
                (cut + 50).min(stream.len()),
            ];
            assert_eq!(feed_split(t, stream, &cuts), whole, "split at {cuts:?}");
        }
        whole
    }

    /// libzmq ≥ 4.3.3 REP → REQ, as in the notes' "complete exchange".
    fn libzmq_rep_to_req() -> Vec<u8> {
        let mut s = libzmq_greeting();
        s.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP");
        s.extend_from_slice(b"\x01\x00\x00\x05world");
        s
    }

    /// libzmq ≥ 4.3.3 REQ → REP, as in the notes' "complete exchange".
    fn libzmq_req_to_rep() -> Vec<u8> {
        let mut s = libzmq_greeting();
        s.extend_from_slice(b"\x04\x26\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ");
        s.extend_from_slice(b"\x08Identity\x00\x00\x00\x00");
        s.extend_from_slice(b"\x01\x00\x00\x05hello");
        s
    }

    #[test]
    fn libzmq_exchange_decodes_the_same_at_every_split() {
        let ready = |t| {
            Event::Ready(PeerInfo {
                socket_type: t,
                identity: Bytes::new(),
                minor: 1,
                properties: Properties::default(),
            })
        };
        assert_eq!(
            same_at_every_split(SocketType::Req, &libzmq_rep_to_req()),
            (
                vec![
                    ready(SocketType::Rep),
                    Event::Message(msg(&[b"", b"world"]))
                ],
                None
            )
        );
        assert_eq!(
            same_at_every_split(SocketType::Rep, &libzmq_req_to_rep()),
            (
                vec![
                    ready(SocketType::Req),
                    Event::Message(msg(&[b"", b"hello"]))
                ],
                None
            )
        );

        // More traffic after the exchange: heartbeats, a long-encoded small frame, a command
        // inside a message, then a malformed header that ends it all.
        let mut stream = libzmq_rep_to_req();
        stream.extend_from_slice(&[0x04, 0x07, 0x04, 0x50, 0x49, 0x4e, 0x47, 0x00, 0x64]);
        stream.extend_from_slice(b"\x04\x05\x04PONG");
        stream.extend_from_slice(b"\x03\x00\x00\x00\x00\x00\x00\x00\x00");
        stream.extend_from_slice(b"\x04\x0b\x09SUBSCRIBEx");
        stream.extend_from_slice(b"\x02\x00\x00\x00\x00\x00\x00\x00\x02ok");
        stream.extend_from_slice(b"\x00\x00\x02\x80\x00\x00\x00\x00\x00\x00\x00\x00");
        let (events, err) = same_at_every_split(SocketType::Req, &stream);
        assert_eq!(
            events[1..],
            [
                Event::Message(msg(&[b"", b"world"])),
                Event::Subscribe(Bytes::from_static(b"x")),
                Event::Message(msg(&[b"", b"ok"])),
                Event::Message(msg(&[b""])),
            ]
        );
        assert!(err.expect("an error").contains("top bit"));
    }

    #[test]
    fn our_side_of_the_libzmq_exchange_is_byte_exact() {
        // Our greeting differs from libzmq's only in the padding (byte 8).
        let mut req = Connection::new(ConnectionConfig::new(SocketType::Req));
        req.feed(&libzmq_rep_to_req());
        assert_eq!(drain(&mut req).0.len(), 2);
        req.send_message(&msg(&[b"", b"hello"]));
        let mut expected = libzmq_req_to_rep();
        expected[8] = 0x00;
        assert_eq!(take_output(&mut req), expected);

        let mut rep = Connection::new(ConnectionConfig::new(SocketType::Rep));
        rep.feed(&libzmq_req_to_rep());
        assert_eq!(drain(&mut rep).0.len(), 2);
        rep.send_message(&msg(&[b"", b"world"]));
        let mut expected = libzmq_rep_to_req();
        expected[8] = 0x00;
        assert_eq!(take_output(&mut rep), expected);
    }

    // ---- fuzz body -----------------------------------------------------------------------

    #[test]
    fn fuzz_decode_survives_interesting_inputs() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x06, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x02, 0, 0, 0, 0, 0, 0x10, 0, 1],
            b"\x04\x00".to_vec(),
            b"\x04\x01\xff".to_vec(),
            b"\x04\x05\x05READ".to_vec(),
            b"\x04\x06\x04PING\x00".to_vec(),
            b"\x04\x05\x04PING".to_vec(),
            b"\x04\x0a\x05ERROR\xffabc".to_vec(),
            b"\x04\x0b\x05READY\x01A\x7f\xff\xff".to_vec(),
            b"\x04\x0b\x09SUBSCRIBE\x01".to_vec(),
            b"\x01\x00\x04\x06\x06CANCEL\x00\x02\x01A".to_vec(),
            [0x01u8, 0].repeat(70_000),
            [0xffu8; 300].to_vec(),
        ];
        inputs.push(libzmq_req_to_rep());
        for input in &inputs {
            fuzz_decode(input);
        }
    }

    // ---- properties ----------------------------------------------------------------------

    proptest! {
        #[test]
        fn any_multipart_message_round_trips(
            frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..8),
            max_write in 1usize..2000,
        ) {
            let (mut a, mut b) = pair(SocketType::Dealer, SocketType::Dealer);
            let m: Message = frames.iter().cloned().collect();
            a.conn.send_message(&m);
            a.conn.send_message(&m);
            drive_chunked(&mut a, &mut b, max_write);
            prop_assert!(b.error.is_none());
            let expected = if m.is_empty() { vec![] } else { vec![m.clone(), m] };
            prop_assert_eq!(b.messages(), expected);
        }
    }

    /// Pieces of a hostile stream: random bytes, or well-formed frames that reach deeper.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        let frame = (0u8..8, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(f, body)| {
            let mut b = BytesMut::new();
            frame::encode_header(&mut b, f, body.len());
            b.extend_from_slice(&body);
            b.to_vec()
        });
        let cmd = (
            prop::sample::select(vec![
                &b"PING"[..],
                b"PONG",
                b"SUBSCRIBE",
                b"CANCEL",
                b"ERROR",
                b"READY",
                b"X",
            ]),
            prop::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(name, data)| {
                let mut b = BytesMut::new();
                command::encode_command(&mut b, name, &[&data]);
                b.to_vec()
            });
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..64),
            4 => frame,
            2 => cmd,
        ]
    }

    proptest! {
        #[test]
        fn hostile_input_never_panics_or_overallocates(
            pieces in prop::collection::vec(piece(), 0..24),
            chunks in prop::collection::vec(1usize..200, 1..16),
        ) {
            let data: Vec<u8> = pieces.concat();
            let mut stream = peer_handshake(SocketType::Push);
            let handshake_len = stream.len();
            stream.extend_from_slice(&data);

            let config = ConnectionConfig {
                max_msg_size: Some(4096),
                ..ConnectionConfig::new(SocketType::Pull)
            };
            let mut conn = Connection::new(config.clone());
            let mut events = Vec::new();
            let mut error = None;
            let mut fed = 0;
            let mut sizes = chunks.iter().cycle();
            while fed < stream.len() {
                let n = (*sizes.next().unwrap()).min(stream.len() - fed);
                conn.input().extend_from_slice(&stream[fed..fed + n]);
                fed += n;
                let (more, err) = drain(&mut conn);
                events.extend(more);
                prop_assert!(conn.input().capacity() <= fed.max(64 * 1024) * 2);
                if let Some(e) = err {
                    error = Some(e.to_string());
                    break;
                }
            }
            prop_assert!(fed >= handshake_len);
            prop_assert!(matches!(events.first(), Some(Event::Ready(_))));

            // Chunking never changes the outcome.
            let mut whole = Connection::new(config);
            whole.feed(&stream);
            let (whole_events, whole_err) = drain(&mut whole);
            prop_assert_eq!(&whole_events, &events);
            prop_assert_eq!(whole_err.map(|e| e.to_string()), error);

            fuzz_decode(&data);
        }
    }
}
