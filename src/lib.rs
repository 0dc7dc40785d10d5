//! ferromq: a pure-Rust, ZeroMQ-compatible messaging library.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod endpoint;
mod error;
mod message;
mod options;
mod socket_type;
mod transport;
mod zmtp;

pub use endpoint::{Endpoint, IpcEndpoint, TcpEndpoint};
pub use error::{Error, Result, SendError};
pub use message::{Message, Metadata};
pub use socket_type::SocketType;
