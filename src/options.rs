//! Socket options and their defaults.

use std::time::Duration;

use bytes::Bytes;

/// Default high-water mark, in messages, for each peer's send and receive queue (libzmq's).
pub const DEFAULT_HWM: usize = 1000;

/// Default linger: how long a closed socket keeps sending what it had queued.
///
/// libzmq's default is infinite, which makes programs hang at exit when a peer is gone.
/// One second lets a healthy connection flush its queue and bounds the wait when it cannot.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// Default largest message accepted from a peer, summed over its frames: 64 MiB.
///
/// libzmq accepts any size by default, so one hostile or broken peer can make it allocate
/// without bound. `set_max_message_size(None)` on a socket restores libzmq's behaviour.
pub const DEFAULT_MAX_MSG_SIZE: usize = 64 * 1024 * 1024;

/// Most frames accepted in one message from a peer. Each frame costs memory even when
/// empty, so without a cap a peer could grow one message forever with empty frames.
pub const MAX_FRAMES_PER_MESSAGE: usize = 1 << 16;

/// The settings of one socket. Sockets expose setters for each; this struct is how the
/// layers below receive them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// Per-peer outgoing queue limit in messages; 0 means no limit.
    pub(crate) send_hwm: usize,
    /// Per-peer incoming queue limit in messages; 0 means no limit.
    pub(crate) recv_hwm: usize,
    /// How long a blocking send waits; `None` waits forever.
    pub(crate) send_timeout: Option<Duration>,
    /// How long a blocking receive waits; `None` waits forever.
    pub(crate) recv_timeout: Option<Duration>,
    /// How long queued messages are still sent after close.
    pub(crate) linger: Duration,
    /// First delay before reconnecting; `None` turns reconnection off.
    pub(crate) reconnect_ivl: Option<Duration>,
    /// The delay doubles after each failed attempt up to this cap.
    pub(crate) reconnect_ivl_max: Duration,
    /// Largest message accepted from a peer; `None` is unlimited.
    pub(crate) max_msg_size: Option<usize>,
    /// Identity sent in READY (REQ, DEALER, ROUTER).
    pub(crate) identity: Bytes,
    /// Restrict `[::]` listeners to IPv6 (IPV6_V6ONLY); off by default, so they take IPv4 too.
    pub(crate) ipv6_only: bool,
    /// Mode bits for the file of an ipc listener (for example `0o600`).
    pub(crate) ipc_permissions: Option<u32>,
    /// The greeting and mechanism handshake must finish within this time; `None` is no limit.
    pub(crate) handshake_timeout: Option<Duration>,
    /// Listen backlog.
    pub(crate) backlog: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            send_hwm: DEFAULT_HWM,
            recv_hwm: DEFAULT_HWM,
            send_timeout: None,
            recv_timeout: None,
            linger: DEFAULT_LINGER,
            reconnect_ivl: Some(Duration::from_millis(100)),
            reconnect_ivl_max: Duration::from_secs(2),
            max_msg_size: Some(DEFAULT_MAX_MSG_SIZE),
            identity: Bytes::new(),
            ipv6_only: false,
            ipc_permissions: None,
            handshake_timeout: Some(Duration::from_secs(30)),
            backlog: 100,
        }
    }
}
