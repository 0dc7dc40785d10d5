//! Sans-IO ZMTP 3.1 with the NULL, PLAIN and CURVE mechanisms: bytes in, events and bytes
//! out.
//!
//! This layer touches no socket and no clock. The engine reads bytes from a transport and
//! appends them to a [`Connection`]'s input, polls it for [`Event`]s, and writes whatever
//! output it has queued. Everything a peer can send is decoded here; everything the
//! patterns above see is a complete message, a subscription change, or an error.
//!
//! ```text
//!   engine (sockets, timers)          ── moves bytes, owns the transport
//!     │  input() / poll_event()  ▲  output_slices() / advance_output()
//!     ▼                          │
//!   connection.rs   handshake state machine, steady-state commands, subscription form
//!     ├── greeting.rs   64-byte greeting: build ours, check theirs as bytes arrive
//!     ├── frame.rs      frame headers; decoder (limits, multipart) and chunked encoder
//!     ├── command.rs    READY / ERROR / SUBSCRIBE / CANCEL / PING / PONG
//!     ├── metadata.rs   READY properties
//!     └── mechanism/    NULL, PLAIN (plain.rs), CURVE (curve.rs: handshake and MESSAGE
//!                       sealing); a server's ZAP question goes out as `Event::Zap`
//! ```
//!
//! Interoperability choices, all from libzmq's behaviour (see the project's ZMTP notes):
//! we send the full greeting at once advertising 3.1 and accept any 3.x or later peer;
//! we never look at the greeting padding or the as-server byte; we accept long-encoded
//! small frames and ignore reserved flag bits; subscriptions go out as commands to 3.1
//! peers and as `01`/`00` messages to 3.0 peers; property names are matched without regard
//! to case but sent in canonical spelling. ZMTP 1.0/2.0 peers, and peers whose greeting
//! names another mechanism than ours, are refused. Over CURVE, every frame after the
//! handshake is one MESSAGE, encrypted and opened in place.
//!
//! Received frames are slices of the input buffer, large outgoing bodies are queued without
//! copying (over NULL and PLAIN), and no memory is reserved for a size a peer merely declares.

mod command;
mod connection;
mod frame;
#[cfg(any(test, feature = "fuzzing"))]
mod fuzz_mechanism;
mod greeting;
mod mechanism;
mod metadata;

/// The fuzz bodies, for the `fuzzing` feature's entry points.
#[cfg(feature = "fuzzing")]
pub(crate) use connection::{fuzz_decode, fuzz_handshake};
pub(crate) use connection::{Connection, ConnectionConfig, Event, PeerInfo};
pub(crate) use frame::message_wire_len;
#[cfg(feature = "fuzzing")]
pub(crate) use fuzz_mechanism::{fuzz_mechanism, Role as FuzzRole};
pub(crate) use mechanism::{MechanismConfig, ZapReply, ZapRequest};
#[cfg(test)]
mod security_tests;
