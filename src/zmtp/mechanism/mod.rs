//! Security mechanisms (NULL, PLAIN, CURVE): what our side announces in the greeting, the
//! handshake commands between the greeting and the first message, and for CURVE the
//! encryption of every frame after it.
//!
//! Each mechanism is a sans-IO state machine driven by [`Connection`](super::Connection):
//! it gets the peer's handshake commands one by one (bodies of command frames), writes its
//! own commands into the output, and reports when it needs a ZAP answer or when the
//! handshake is done. Nothing here touches a socket or a clock.
//!
//! ```text
//!   NULL          C,S: READY ─────────────────────────────────────── READY
//!   PLAIN         C: HELLO ─▶ S: WELCOME ─▶ C: INITIATE ─▶ S: READY
//!   CURVE         C: HELLO ─▶ S: WELCOME ─▶ C: INITIATE ─▶ S: READY, then MESSAGE both ways
//! ```
//!
//! A server asks ZAP (when the connection is configured to) once it knows the peer's
//! credentials: NULL before sending READY, PLAIN on HELLO before WELCOME, CURVE on INITIATE
//! before READY. The connection emits [`Event::Zap`](super::Event::Zap) and waits for
//! [`Connection::zap_reply`](super::Connection::zap_reply).

use bytes::{Bytes, BytesMut};

use super::command::{encode_command, READY};

mod curve;
mod plain;

pub(crate) use curve::{
    CurveCipher, CurveClient, CurveServer, MESSAGE_COMMAND, MESSAGE_MORE, MESSAGE_OVERHEAD,
};
pub(crate) use plain::{PlainClient, PlainServer};

/// Length of a CURVE key in bytes.
pub(crate) use crate::keys::CURVE_KEY_LEN as KEY_LEN;

pub(crate) use crate::options::MechanismConfig;

/// What a server's handshake asks the ZAP handler about a peer; the engine adds the
/// version, request id, domain, address and routing id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZapRequest {
    /// `NULL`, `PLAIN` or `CURVE`.
    pub(crate) mechanism: &'static str,
    /// None for NULL, `[username, password]` for PLAIN, `[client public key]` for CURVE.
    pub(crate) credentials: Vec<Bytes>,
}

/// The ZAP handler's answer, as the engine passes it to
/// [`Connection::zap_reply`](super::Connection::zap_reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZapReply {
    /// 200 accepted; 300 temporary failure; 400 refused; 500 internal error. Anything else
    /// counts as 500.
    pub(crate) status_code: u16,
    /// The user id the handler gave, at most 255 bytes (sent to the application as the
    /// `User-Id` property of every message from this peer); may be empty.
    pub(crate) user_id: Bytes,
    /// ZAP metadata in ZMTP property encoding, merged into the peer's properties.
    pub(crate) metadata: Bytes,
}

/// A 3-digit status code carried by an ERROR reason (`"400"`), as libzmq sends one after a
/// refused ZAP request.
pub(crate) fn status_code_of(reason: &str) -> Option<u16> {
    let code: u16 = (reason.len() == 3 && reason.bytes().all(|b| b.is_ascii_digit()))
        .then(|| reason.parse().ok())
        .flatten()?;
    (300..600).contains(&code).then_some(code)
}

/// What a handshake step came to.
#[derive(Debug)]
pub(crate) enum Progress {
    /// More commands from the peer are needed.
    Pending,
    /// Ask ZAP about the peer and call back with the answer before decoding more.
    Zap(ZapRequest),
    /// The handshake is done: the peer's metadata (not yet checked), and for CURVE the
    /// cipher for all further frames.
    Done {
        /// The peer's properties in wire form.
        metadata: Bytes,
        /// Present for CURVE.
        cipher: Option<CurveCipher>,
    },
}

/// The NULL handshake: both sides send READY; a server with a ZAP domain asks ZAP first.
#[derive(Debug)]
pub(crate) struct Null {
    /// Our READY is queued.
    sent_ready: bool,
}

/// One connection's handshake, of whichever mechanism it uses.
#[derive(Debug)]
pub(crate) enum Handshake {
    /// NULL.
    Null(Null),
    /// PLAIN, client role.
    PlainClient(PlainClient),
    /// PLAIN, server role.
    PlainServer(PlainServer),
    /// CURVE, client role.
    CurveClient(Box<CurveClient>),
    /// CURVE, server role.
    CurveServer(Box<CurveServer>),
}

impl Handshake {
    /// Starts the handshake once the peer's greeting is in: queues our first command (if
    /// our role speaks first) into `out`. `metadata` is our properties in wire form;
    /// `zap` says whether to ask ZAP about the peer (NULL and CURVE; a PLAIN server always
    /// asks).
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) if the random source fails (CURVE).
    pub(crate) fn start(
        config: &MechanismConfig,
        zap: bool,
        out: &mut BytesMut,
        metadata: &[u8],
    ) -> crate::Result<(Handshake, Progress)> {
        Ok(match config {
            MechanismConfig::Null if zap => (
                Handshake::Null(Null { sent_ready: false }),
                Progress::Zap(ZapRequest {
                    mechanism: "NULL",
                    credentials: Vec::new(),
                }),
            ),
            MechanismConfig::Null => {
                encode_command(out, READY, &[metadata]);
                (
                    Handshake::Null(Null { sent_ready: true }),
                    Progress::Pending,
                )
            }
            MechanismConfig::PlainClient { username, password } => (
                Handshake::PlainClient(PlainClient::start(out, username, password)),
                Progress::Pending,
            ),
            MechanismConfig::PlainServer => (
                Handshake::PlainServer(PlainServer::new()),
                Progress::Pending,
            ),
            MechanismConfig::CurveClient {
                server_public,
                public,
                secret,
            } => (
                Handshake::CurveClient(Box::new(CurveClient::start(
                    out,
                    server_public,
                    public,
                    secret,
                )?)),
                Progress::Pending,
            ),
            MechanismConfig::CurveServer { secret } => (
                Handshake::CurveServer(Box::new(CurveServer::new(secret, zap))),
                Progress::Pending,
            ),
        })
    }

    /// Handles one handshake command from the peer (its name and data; ERROR is handled
    /// by the caller).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) for a command out of place, of the wrong
    /// size, or whose box does not open.
    pub(crate) fn on_command(
        &mut self,
        name: &[u8],
        data: Bytes,
        out: &mut BytesMut,
        metadata: &[u8],
    ) -> crate::Result<Progress> {
        match self {
            Handshake::Null(null) => {
                if name != READY {
                    return Err(plain::unexpected(name, "READY"));
                }
                if !null.sent_ready {
                    return Err(crate::Error::Protocol(
                        "READY decoded while a ZAP answer is awaited".into(),
                    ));
                }
                Ok(Progress::Done {
                    metadata: data,
                    cipher: None,
                })
            }
            Handshake::PlainClient(c) => c.on_command(name, data, out, metadata),
            Handshake::PlainServer(s) => s.on_command(name, data, out, metadata),
            Handshake::CurveClient(c) => c.on_command(name, data, out, metadata),
            Handshake::CurveServer(s) => s.on_command(name, data, out, metadata),
        }
    }

    /// ZAP accepted the peer: go on with the handshake.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) when no ZAP request was pending.
    pub(crate) fn on_zap_accepted(
        &mut self,
        out: &mut BytesMut,
        metadata: &[u8],
    ) -> crate::Result<Progress> {
        match self {
            Handshake::Null(null) if !null.sent_ready => {
                encode_command(out, READY, &[metadata]);
                null.sent_ready = true;
                Ok(Progress::Pending)
            }
            Handshake::PlainServer(s) => s.on_zap_accepted(out),
            Handshake::CurveServer(s) => s.on_zap_accepted(out, metadata),
            _ => Err(crate::Error::Protocol(
                "ZAP answer without a pending request".into(),
            )),
        }
    }
}
