//! ferromq: a pure-Rust, ZeroMQ-compatible messaging library.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod context;
mod endpoint;
mod engine;
mod error;
mod message;
mod options;
mod pattern;
mod pipe;
mod socket;
mod socket_type;
mod transport;
mod zmtp;

pub use context::Context;
pub use error::{Error, Result, SendError};
pub use message::{Message, Metadata};
pub use options::{DEFAULT_HWM, DEFAULT_LINGER, DEFAULT_MAX_MSG_SIZE, MAX_FRAMES_PER_MESSAGE};
pub use pattern::pipeline::{Pull, Push};
pub use socket_type::SocketType;
