//! The crate's one error type.

use std::io;

use crate::message::Message;

/// Everything that can go wrong in ferromq.
///
/// Variants are split by cause, so a caller can match on what matters to it:
/// a malformed endpoint or misuse by the caller, a valid operation at the wrong time,
/// a peer that sent bad bytes or is of an incompatible type, and plain I/O.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string could not be parsed or is not usable for this operation.
    /// The message names what is wrong.
    #[error("invalid endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given by the caller.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address is already bound, by this process or another one.
    #[error("address in use: {0}")]
    AddressInUse(String),
    /// A blocking operation did not complete before its timeout expired.
    #[error("operation timed out")]
    TimedOut,
    /// A non-blocking operation could not complete at once.
    #[error("operation would block")]
    WouldBlock,
    /// The operation is not allowed in the socket's current state
    /// (for example a dynamic REQ socket asked to send twice). libzmq calls this EFSM.
    #[error("operation not valid in the current state: {0}")]
    WrongState(&'static str),
    /// The peer's socket type cannot talk to ours (for example PUSH to PUSH).
    #[error("incompatible peer: {ours} cannot talk to {theirs}")]
    IncompatiblePeer {
        /// Our socket type.
        ours: &'static str,
        /// The socket type the peer announced.
        theirs: String,
    },
    /// The peer sent bytes that break ZMTP, or a frame larger than the maximum message size.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer sent an ERROR command with this reason.
    #[error("peer reported an error: {0}")]
    PeerError(String),
    /// An option value is out of its allowed range.
    #[error("invalid option value: {0}")]
    InvalidOption(String),
    /// The peer a request went to (or a reply was for) disconnected before it could
    /// complete. The socket itself is fine: send again to reach another peer.
    #[error("peer disconnected")]
    Disconnected,
    /// A ROUTER with mandatory routing was asked to send to a routing id no connected
    /// peer has (libzmq's EHOSTUNREACH).
    #[error("no peer with that routing id")]
    HostUnreachable,
    /// The caller tried to send a message with no frames ([`Message::new`] with nothing
    /// pushed). ZMTP cannot carry one and libzmq cannot send one, so every socket refuses
    /// it at send, on every transport, before anything is queued; the message comes back
    /// in the [`SendError`](crate::SendError).
    #[error("a message must have at least one frame")]
    EmptyMessage,
    /// The socket or context is closed.
    #[error("socket or context closed")]
    Closed,
    /// An I/O thread of the socket's context stopped (a bug in ferromq made it panic, or
    /// the operating system's poller failed), so tcp and ipc no longer work anywhere in
    /// that context: `bind` and `connect` fail with this, and so do blocking sends and
    /// receives that would wait. Drop the context's sockets and make a new context.
    #[error("the context's I/O thread stopped; tcp and ipc no longer work in it")]
    IoThreadStopped,
    /// Text given as Z85 (ZeroMQ RFC 32) is not valid Z85: a length that is not a multiple
    /// of 5 characters (or, to encode, of 4 bytes), a character outside the 85, or a group
    /// worth more than 2^32 − 1. The message says which.
    #[error("invalid Z85: {0}")]
    InvalidZ85(String),
    /// A CURVE key is malformed: the wrong length in bytes or Z85 characters, bad Z85, or a
    /// key file that does not hold a key. The message says which.
    #[error("invalid CURVE key: {0}")]
    InvalidKey(String),
    /// The security handshake refused the peer, or the peer refused us: a ZAP handler
    /// answered with `status_code` (300 temporary, 400 authentication failed, 500 internal
    /// error), or the peer's ERROR command carried such a code. Reported for the connection
    /// (in the monitor as [`MonitorEvent::HandshakeFailedAuth`](crate::MonitorEvent)),
    /// never by a send or receive.
    #[error("authentication failed with ZAP status {status_code}")]
    AuthenticationFailed {
        /// The ZAP status code: 300, 400 or 500.
        status_code: u16,
    },
    /// An operating-system I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// Builds an [`Error::InvalidEndpoint`].
    pub(crate) fn endpoint(endpoint: &str, reason: impl Into<String>) -> Self {
        Error::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: reason.into(),
        }
    }
}

/// `Result` with ferromq's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A send that failed, handing the message back to the caller.
///
/// Nothing is lost on a failed send: [`SendError::into_message`] returns the message so it
/// can be retried. `SendError` converts into [`Error`], so `?` works in functions
/// returning [`Result`].
///
/// # Examples
///
/// ```
/// use ferromq::{Context, Error};
///
/// let ctx = Context::new();
/// let mut push = ctx.push().unwrap();
/// // No peer yet: a non-blocking send cannot complete, and the message comes back.
/// let err = push.try_send("hello").unwrap_err();
/// assert!(matches!(err.error(), Error::WouldBlock));
/// assert_eq!(err.into_message(), "hello");
/// ```
#[derive(Debug)]
pub struct SendError {
    // Boxed: the failure path may allocate, the success path's `Result` stays small.
    inner: Box<(Error, Message)>,
}

impl SendError {
    pub(crate) fn new(error: Error, message: Message) -> Self {
        SendError {
            inner: Box::new((error, message)),
        }
    }

    /// Why the send failed.
    pub fn error(&self) -> &Error {
        &self.inner.0
    }

    /// Takes the message back.
    pub fn into_message(self) -> Message {
        self.inner.1
    }

    /// Splits into the error and the message.
    pub fn into_parts(self) -> (Error, Message) {
        *self.inner
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "send failed: {}", self.inner.0)
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner.0)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        e.inner.0
    }
}
