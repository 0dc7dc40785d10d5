//! ferromq: a pure-Rust, ZeroMQ-compatible messaging library.
//!
//! Sockets talk in patterns over `tcp://`, `ipc://` and `inproc://` endpoints and speak
//! ZMTP 3.1 on the wire, so the other end can be libzmq, pyzmq, or any ZeroMQ library.
//!
//! # Getting started
//!
//! ```
//! use ferromq::Context;
//!
//! let ctx = Context::new();
//! let mut sink = ctx.pull()?;
//! sink.bind("tcp://127.0.0.1:*")?;
//! let endpoint = sink.last_endpoint().unwrap().to_owned();
//!
//! let mut source = ctx.push()?;
//! source.connect(&endpoint)?;
//! source.send(["job", "42"])?;
//!
//! let job = sink.recv()?;
//! assert_eq!(&job[1][..], b"42");
//! # Ok::<(), ferromq::Error>(())
//! ```
//!
//! # Async
//!
//! Every socket has async calls beside the blocking ones, over the same pattern code:
//! `recv_async`, `send_async`, `readable`, `writable`, and [`Poller::poll_async`]. They
//! work on any executor (tokio, smol, async-std, ...): the socket's doorbell wakes the
//! task's `Waker`, with no helper thread and no timer. Each method's docs say what
//! dropping its future does. With the `futures` feature, every receiving socket is a
//! `futures_core::Stream`, and `MessageSink` makes any sending one a `futures_sink::Sink`.
//!
//! ```
//! # futures::executor::block_on(async {
//! let ctx = ferromq::Context::new();
//! let mut sink = ctx.pull()?;
//! sink.bind("inproc://async-start")?;
//! let mut source = ctx.push()?;
//! source.connect("inproc://async-start")?;
//! source.send_async(["job", "42"]).await?;
//! assert_eq!(&sink.recv_async().await?[1][..], b"42");
//! # Ok::<(), ferromq::Error>(()) }).unwrap();
//! ```
//!
//! # Layers
//!
//! ```text
//!   brokers          poll / Poller (wait on several sockets), Proxy (forward between two)
//!   typed API        Push, Pull, Pub, Sub, XPub, XSub, Req, Rep, Dealer, Router, Pair,
//!                    Context; Socket (any type at run time)
//!   pattern          routing rules and state machines (round-robin, fair queue, ...)
//!   pipes            bounded queues between a socket and each peer
//!   engine           I/O threads: one mio event loop each, no thread per connection
//!   transports       tcp and ipc streams (inproc bypasses the engine)
//!   ZMTP (sans-IO)   greeting, NULL handshake, frames and commands: bytes in, events out
//! ```
//!
//! Each layer is tested on its own; `ARCHITECTURE.md` in the repository follows a message
//! through them.
//!
//! # Errors
//!
//! Every fallible call returns [`Error`], one enum whose variants say what went wrong:
//! a bad endpoint, a timeout, a would-block, a peer of the wrong type, a protocol violation,
//! I/O. A failed send returns a [`SendError`] that hands the message back.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod aio;
pub mod auth;
mod context;
mod endpoint;
mod engine;
mod error;
mod frame;
mod keys;
mod mailbox;
mod message;
mod monitor;
mod options;
mod pattern;
mod pipe;
mod poll;
mod proxy;
mod socket;
mod socket_type;
mod spin;
mod time;
mod transport;
mod wake;
pub mod z85;
mod zmtp;

#[cfg(feature = "futures")]
pub use aio::MessageSink;
pub use auth::Authenticator;
pub use context::{Context, ContextBuilder};
pub use endpoint::{Endpoint, IpcEndpoint, TcpEndpoint};
pub use error::{Error, Result, SendError};
pub use frame::Frame;
pub use keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
pub use message::{Message, Metadata};
pub use monitor::{Monitor, MonitorEvent};
pub use options::ReconnectStop;
pub use options::{
    DEFAULT_HWM, DEFAULT_LINGER, DEFAULT_MAX_METADATA_SIZE, DEFAULT_MAX_MSG_SIZE,
    DEFAULT_MAX_PROPERTIES, DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_MAX_SUBSCRIPTION_BYTES,
    MAX_FRAMES_PER_MESSAGE, MAX_LINGER_WITHOUT_PEER,
};
pub use pattern::dynamic::Socket;
pub use pattern::pipeline::{Pull, Push};
pub use pattern::pubsub::{Pub, Sub};
pub use pattern::reqrep::{Pending, Rep, Req, Request};
pub use pattern::routing::{Dealer, Pair, Router};
pub use pattern::security::{Mechanism, MAX_CREDENTIAL_LEN};
pub use pattern::stream::StreamSocket;
pub use pattern::xpubsub::{XPub, XSub};
pub use poll::{poll, Interest, PollAsync, PollItem, Pollable, Poller, Ready, Waker};
pub use proxy::{Proxy, ProxyControl, ProxyStats};
pub use socket_type::SocketType;

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`). Not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz {
    /// Decodes `data` as a peer's traffic after a completed handshake. Never panics.
    pub fn decode(data: &[u8]) {
        crate::zmtp::fuzz_decode(data);
    }

    /// Decodes `data[1..]` as a peer's whole stream from the greeting on, with our socket
    /// type picked by `data[0]`. Never panics.
    pub fn handshake(data: &[u8]) {
        crate::zmtp::fuzz_handshake(data);
    }

    /// Runs a PLAIN server against an honest PLAIN client whose stream `data` tampers
    /// with (see `src/zmtp/fuzz_mechanism.rs`). Never panics.
    pub fn plain_server(data: &[u8]) {
        crate::zmtp::fuzz_mechanism(crate::zmtp::FuzzRole::PlainServer, data);
    }

    /// Runs a PLAIN client against an honest, tampered-with PLAIN server. Never panics.
    pub fn plain_client(data: &[u8]) {
        crate::zmtp::fuzz_mechanism(crate::zmtp::FuzzRole::PlainClient, data);
    }

    /// Runs a CURVE server (asking ZAP) against an honest, tampered-with CURVE client.
    /// Never panics.
    pub fn curve_server(data: &[u8]) {
        crate::zmtp::fuzz_mechanism(crate::zmtp::FuzzRole::CurveServer, data);
    }

    /// Runs a CURVE client against an honest, tampered-with CURVE server. Never panics.
    pub fn curve_client(data: &[u8]) {
        crate::zmtp::fuzz_mechanism(crate::zmtp::FuzzRole::CurveClient, data);
    }
}

/// The README's code blocks, run as doctests so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The code blocks of the publish-subscribe spec, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../patterns/pubsub.md")]
pub struct PubsubSpecDoctests;
