//! Socket options and their defaults.

use std::time::Duration;

use bytes::Bytes;
use zeroize::Zeroizing;

use crate::keys::CURVE_KEY_LEN;

/// Default high-water mark, in messages, for each peer's send and receive queue (libzmq's).
pub const DEFAULT_HWM: usize = 1000;

/// Default linger: how long a closed socket keeps sending what it had queued.
///
/// libzmq's default is infinite, which makes programs hang at exit when a peer is gone.
/// One second lets a healthy connection flush its queue and bounds the wait when it cannot.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// The longest a dropped socket waits, whatever its linger, for a peer to appear when
/// none is attached and it still holds messages handed back by a peer that went away.
///
/// libzmq with an infinite linger waits for a reconnect forever; ferromq gives the
/// reconnect this long (or the linger, if shorter) and then drops what is left, so a
/// socket with [`Duration::MAX`] linger and a dead peer never hangs its program.
pub const MAX_LINGER_WITHOUT_PEER: Duration = Duration::from_secs(5);

/// Default largest message accepted from a peer, summed over its frames: 64 MiB.
///
/// libzmq accepts any size by default, so one hostile or broken peer can make it allocate
/// without bound. `set_max_message_size(None)` on a socket restores libzmq's behaviour.
pub const DEFAULT_MAX_MSG_SIZE: usize = 64 * 1024 * 1024;

/// Default most distinct subscriptions a PUB or XPUB holds for one peer: 100,000.
///
/// libzmq has no limit, so one peer sending distinct SUBSCRIBEs makes a publisher grow
/// without bound (about 110 bytes per short topic). Past the bound a new subscription is
/// refused: not held, not passed up by an XPUB, counted, and reported to the monitor as
/// [`MonitorEvent::SubscriptionsRefused`](crate::MonitorEvent::SubscriptionsRefused).
/// `set_max_subscriptions(None)` restores libzmq's behaviour.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 100_000;

/// Default most topic bytes a PUB or XPUB holds for one peer, summed over its distinct
/// subscriptions: 16 MiB. Past it a new subscription is refused, as past
/// [`DEFAULT_MAX_SUBSCRIPTIONS`]. `set_max_subscription_bytes(None)` removes the bound.
pub const DEFAULT_MAX_SUBSCRIPTION_BYTES: usize = 16 * 1024 * 1024;

/// Most frames accepted in one message from a peer. Each frame costs memory even when
/// empty, so without a cap a peer could grow one message forever with empty frames.
pub const MAX_FRAMES_PER_MESSAGE: usize = 1 << 16;

/// What each frame of a received message counts toward the maximum message size at the
/// least: a message counts its bytes or this much per frame, whichever is more. A frame
/// takes this much memory (`size_of::<Frame>()`) even when empty, so a message of many
/// empty frames is limited by what it costs to hold, not by its few bytes on the wire,
/// while a message of exactly the limit's bytes still fits with its envelope frames.
pub(crate) const MIN_FRAME_COST: usize = 32;

/// Default largest READY metadata (the command's body) accepted from a peer: 64 KiB.
///
/// libzmq takes whatever fits in a command frame. Standard properties need a few hundred
/// bytes (`Socket-Type`, an `Identity` of at most 255 bytes); 64 KiB leaves ample room for
/// application `X-` properties.
pub const DEFAULT_MAX_METADATA_SIZE: usize = 64 * 1024;

/// Default most properties accepted in one READY: 256.
pub const DEFAULT_MAX_PROPERTIES: usize = 256;

/// Most commands a connection owes its peer (PONGs, an ERROR) that may wait unwritten. Past
/// it the connection stops decoding commands and stops reading, until the peer reads what it
/// is owed, as libzmq does with its one slot for a PONG. So a peer that sends PINGs and never
/// reads makes us hold at most this many PONGs (23 bytes each at most).
pub(crate) const MAX_OWED_COMMANDS: usize = 64;

/// `ZMQ_IMMEDIATE`'s default.
pub(crate) const DEFAULT_IMMEDIATE: bool = false;

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
    /// Largest READY metadata accepted from a peer, in bytes.
    pub(crate) max_metadata_size: usize,
    /// Most properties accepted in a peer's READY.
    pub(crate) max_properties: usize,
    /// PUB/XPUB: most distinct subscriptions held per peer; `None` is unlimited.
    pub(crate) max_subscriptions: Option<usize>,
    /// PUB/XPUB: most topic bytes held per peer; `None` is unlimited.
    pub(crate) max_subscription_bytes: Option<usize>,
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
    /// Time between our PINGs once the handshake is done; `None` sends none.
    pub(crate) heartbeat_ivl: Option<Duration>,
    /// TTL announced in our PINGs (the peer may drop us after that long without traffic).
    pub(crate) heartbeat_ttl: Option<Duration>,
    /// How long to wait for any traffic after a PING; `None` uses the interval.
    pub(crate) heartbeat_timeout: Option<Duration>,
    /// `SO_KEEPALIVE` on tcp streams; `None` leaves the OS default.
    pub(crate) tcp_keepalive: Option<bool>,
    /// `TCP_KEEPIDLE`: idle time before the first probe; `None` leaves the OS default.
    pub(crate) tcp_keepalive_idle: Option<Duration>,
    /// `TCP_KEEPINTVL`: time between probes; `None` leaves the OS default.
    pub(crate) tcp_keepalive_interval: Option<Duration>,
    /// `TCP_KEEPCNT`: unanswered probes before the connection drops; `None` leaves the OS
    /// default.
    pub(crate) tcp_keepalive_count: Option<u32>,
    /// `ZMQ_PROBE_ROUTER`: send an empty message to every peer as it attaches.
    pub(crate) probe_router: bool,
    /// `ZMQ_IMMEDIATE`: queue only to peers whose handshake is done (`true`), or, as
    /// libzmq by default (`false`), make a connect's pipes at once and keep them across
    /// reconnects (for the types of [`crate::mailbox::queues_before_connect`]).
    pub(crate) immediate: bool,
    /// `SO_SNDBUF` of tcp and ipc streams; `None` leaves the OS default.
    pub(crate) send_buffer: Option<usize>,
    /// `SO_RCVBUF` of tcp and ipc streams; `None` leaves the OS default.
    pub(crate) recv_buffer: Option<usize>,
    /// `ZMQ_CONNECT_ROUTING_ID`: the routing id a ROUTER gives the peer of its next
    /// connect; taken (and cleared) by that connect.
    pub(crate) connect_routing_id: Option<Bytes>,
    /// `ZMQ_CONNECT_TIMEOUT`: how long a tcp connect may take; `None` leaves it to the OS.
    pub(crate) connect_timeout: Option<Duration>,
    /// `ZMQ_RECONNECT_STOP`: when a connecter gives up instead of retrying.
    pub(crate) reconnect_stop: ReconnectStop,
    /// `ZMQ_TCP_MAXRT` (`TCP_USER_TIMEOUT` on Linux); `None` leaves the OS default.
    pub(crate) tcp_maxrt: Option<Duration>,
    /// `ZMQ_TOS`: the IP type-of-service byte of tcp streams; `None` leaves the OS default.
    pub(crate) tos: Option<u32>,
    /// `ZMQ_BINDTODEVICE`: the interface tcp sockets are bound to (`SO_BINDTODEVICE`).
    pub(crate) bind_to_device: Option<String>,
    /// `ZMQ_METADATA`: our own `X-` properties, sent in READY after the standard ones.
    pub(crate) metadata: Vec<(String, Bytes)>,
    /// `ZMQ_MECHANISM` with its role and credentials (`ZMQ_PLAIN_*`, `ZMQ_CURVE_*`).
    pub(crate) mechanism: MechanismConfig,
    /// `ZMQ_ZAP_DOMAIN`: the domain ZAP requests name; when set, NULL peers are asked
    /// about too.
    pub(crate) zap_domain: String,
    /// `ZMQ_ZAP_ENFORCE_DOMAIN`: with no ZAP handler, refuse CURVE clients instead of
    /// accepting every one that knows the server key.
    pub(crate) zap_enforce_domain: bool,
    /// `ZMQ_HELLO_MSG`: a message sent to every peer first, as it attaches.
    pub(crate) hello_msg: Option<Bytes>,
    /// `ZMQ_DISCONNECT_MSG`: a message our application receives from an accepted peer
    /// whose connection ended after its handshake.
    pub(crate) disconnect_msg: Option<Bytes>,
    /// `ZMQ_HICCUP_MSG`: a message our application receives from a connected peer whose
    /// connection ended after its handshake (a reconnect follows).
    pub(crate) hiccup_msg: Option<Bytes>,
    /// `ZMQ_CONFLATE` (PUB, SUB, PUSH, PULL, DEALER): each peer's queue keeps the newest
    /// message only. The pipes read it from `SocketShared`; this copy is for the getter.
    pub(crate) conflate: bool,
}

/// When a connecting socket stops retrying (libzmq's `ZMQ_RECONNECT_STOP` flags). The
/// default, [`ReconnectStop::NEVER`], retries forever, as libzmq does.
///
/// Combine flags with `|`:
///
/// ```
/// use ferromq::ReconnectStop;
///
/// let stop = ReconnectStop::CONN_REFUSED | ReconnectStop::HANDSHAKE_FAILED;
/// assert!(stop.contains(ReconnectStop::CONN_REFUSED));
/// assert!(!stop.contains(ReconnectStop::AFTER_DISCONNECT));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReconnectStop(u8);

impl ReconnectStop {
    /// Never stop: retry until `disconnect` or close (the default).
    pub const NEVER: ReconnectStop = ReconnectStop(0);
    /// Stop when a connect is refused (`ECONNREFUSED`: nothing listens there;
    /// `ZMQ_RECONNECT_STOP_CONN_REFUSED`).
    pub const CONN_REFUSED: ReconnectStop = ReconnectStop(1);
    /// Stop when the ZMTP handshake fails: a protocol error, an incompatible peer, the
    /// handshake timeout, or the peer closing during it
    /// (`ZMQ_RECONNECT_STOP_HANDSHAKE_FAILED`).
    pub const HANDSHAKE_FAILED: ReconnectStop = ReconnectStop(2);
    /// Once `disconnect` has been called on the socket, stop the socket's other connects
    /// when they are refused (`ZMQ_RECONNECT_STOP_AFTER_DISCONNECT`). libzmq applies this
    /// to ipc only; ferromq to tcp and ipc alike.
    pub const AFTER_DISCONNECT: ReconnectStop = ReconnectStop(4);

    /// True when every flag of `other` is set here.
    pub fn contains(self, other: ReconnectStop) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags as libzmq's integer value (`ZMQ_RECONNECT_STOP_*` OR-ed together).
    pub fn bits(self) -> i32 {
        i32::from(self.0)
    }
}

impl std::ops::BitOr for ReconnectStop {
    type Output = ReconnectStop;

    fn bitor(self, rhs: ReconnectStop) -> ReconnectStop {
        ReconnectStop(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for ReconnectStop {
    fn bitor_assign(&mut self, rhs: ReconnectStop) {
        self.0 |= rhs.0;
    }
}

/// Longest property name `ZMQ_METADATA` takes, as libzmq: 255 bytes.
const MAX_PROPERTY_NAME_LEN: usize = 255;

/// Parses one `ZMQ_METADATA` property, `"X-name:value"`, as libzmq: the name must start
/// with `X-` (any case), be at most 255 bytes and have something after `X-`; the value is
/// everything after the first `:` (it may be empty).
pub(crate) fn parse_metadata(property: &str) -> crate::Result<(String, Bytes)> {
    let bad = |why: &str| crate::Error::InvalidOption(format!("metadata `{property}`: {why}"));
    let Some((name, value)) = property.split_once(':') else {
        return Err(bad("expected `X-name:value`"));
    };
    if name.len() <= 2 || !name.as_bytes()[..2].eq_ignore_ascii_case(b"x-") {
        return Err(bad("the name must start with `X-` and have more after it"));
    }
    if name.len() > MAX_PROPERTY_NAME_LEN {
        return Err(bad("the name is longer than 255 bytes"));
    }
    Ok((name.to_owned(), Bytes::copy_from_slice(value.as_bytes())))
}

/// Largest TTL announced in a PING, in tenths of a second. libzmq multiplies the received
/// TTL by 100 in a 16-bit variable, so 656 ds and above would wrap to a tiny timer there.
pub(crate) const MAX_ANNOUNCED_TTL_DS: u16 = 655;

/// Largest `TCP_KEEPIDLE` and `TCP_KEEPINTVL` Linux accepts, in seconds.
const MAX_KEEPALIVE_SECS: u64 = 32_767;

/// A keepalive time as the kernel takes it: whole seconds from 1 to
/// [`MAX_KEEPALIVE_SECS`], so that no value a caller passes makes `setsockopt` fail.
pub(crate) fn keepalive_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().clamp(1, MAX_KEEPALIVE_SECS))
}

impl Options {
    /// The TTL to put in our PINGs, in tenths of a second (rounded down, capped at
    /// [`MAX_ANNOUNCED_TTL_DS`]); 0 when none is set.
    pub(crate) fn ping_ttl_deciseconds(&self) -> u16 {
        let ds = self.heartbeat_ttl.map_or(0, |t| t.as_millis() / 100);
        u16::try_from(ds)
            .unwrap_or(u16::MAX)
            .min(MAX_ANNOUNCED_TTL_DS)
    }

    /// How long to wait for traffic after a PING: the timeout, or else the interval.
    pub(crate) fn effective_heartbeat_timeout(&self) -> Option<Duration> {
        self.heartbeat_timeout.or(self.heartbeat_ivl)
    }
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
            max_metadata_size: DEFAULT_MAX_METADATA_SIZE,
            max_properties: DEFAULT_MAX_PROPERTIES,
            max_subscriptions: Some(DEFAULT_MAX_SUBSCRIPTIONS),
            max_subscription_bytes: Some(DEFAULT_MAX_SUBSCRIPTION_BYTES),
            identity: Bytes::new(),
            ipv6_only: false,
            ipc_permissions: None,
            handshake_timeout: Some(Duration::from_secs(30)),
            backlog: 100,
            heartbeat_ivl: None,
            heartbeat_ttl: None,
            heartbeat_timeout: None,
            tcp_keepalive: None,
            tcp_keepalive_idle: None,
            tcp_keepalive_interval: None,
            tcp_keepalive_count: None,
            probe_router: false,
            immediate: DEFAULT_IMMEDIATE,
            send_buffer: None,
            recv_buffer: None,
            connect_routing_id: None,
            connect_timeout: None,
            reconnect_stop: ReconnectStop::NEVER,
            tcp_maxrt: None,
            tos: None,
            bind_to_device: None,
            metadata: Vec::new(),
            mechanism: MechanismConfig::Null,
            zap_domain: String::new(),
            zap_enforce_domain: false,
            hello_msg: None,
            disconnect_msg: None,
            hiccup_msg: None,
            conflate: false,
        }
    }
}

/// The security mechanism of a socket (`ZMQ_MECHANISM` with its role and credentials),
/// as the sans-IO handshake in `zmtp` takes it.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) enum MechanismConfig {
    /// No security (ZMTP's NULL): anyone may connect; nothing is encrypted.
    #[default]
    Null,
    /// PLAIN client: sends a user name and password (in clear) in HELLO.
    PlainClient {
        /// At most 255 bytes (longer is cut when encoding; the setter refuses it).
        username: Bytes,
        /// At most 255 bytes.
        password: Zeroizing<Vec<u8>>,
    },
    /// PLAIN server: takes HELLO and asks ZAP whether the credentials are good.
    PlainServer,
    /// CURVE client: knows the server's long-term public key and has its own key pair.
    CurveClient {
        /// The server's long-term public key.
        server_public: [u8; CURVE_KEY_LEN],
        /// Our long-term public key.
        public: [u8; CURVE_KEY_LEN],
        /// Our long-term secret key.
        secret: Zeroizing<[u8; CURVE_KEY_LEN]>,
    },
    /// CURVE server: has its long-term secret key.
    CurveServer {
        /// Our long-term secret key.
        secret: Zeroizing<[u8; CURVE_KEY_LEN]>,
    },
}

impl std::fmt::Debug for MechanismConfig {
    /// Names the mechanism and role; never shows a password or secret key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MechanismConfig::Null => "Null",
            MechanismConfig::PlainClient { .. } => "PlainClient",
            MechanismConfig::PlainServer => "PlainServer",
            MechanismConfig::CurveClient { .. } => "CurveClient",
            MechanismConfig::CurveServer { .. } => "CurveServer",
        })
    }
}

impl MechanismConfig {
    /// The mechanism's name as the greeting and ZAP spell it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            MechanismConfig::Null => "NULL",
            MechanismConfig::PlainClient { .. } | MechanismConfig::PlainServer => "PLAIN",
            MechanismConfig::CurveClient { .. } | MechanismConfig::CurveServer { .. } => "CURVE",
        }
    }

    /// True for the roles that authenticate peers (and so may ask ZAP): the PLAIN and CURVE
    /// servers. A NULL socket asks ZAP only when a ZAP domain is set.
    pub(crate) fn is_server(&self) -> bool {
        matches!(
            self,
            MechanismConfig::PlainServer | MechanismConfig::CurveServer { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_ttl_is_rounded_down_and_capped_for_libzmq() {
        let with = |ms: u64| Options {
            heartbeat_ttl: Some(Duration::from_millis(ms)),
            ..Options::default()
        };
        assert_eq!(Options::default().ping_ttl_deciseconds(), 0);
        assert_eq!(with(99).ping_ttl_deciseconds(), 0);
        assert_eq!(with(1_999).ping_ttl_deciseconds(), 19);
        assert_eq!(with(65_500).ping_ttl_deciseconds(), 655);
        assert_eq!(with(65_600).ping_ttl_deciseconds(), 655);
        assert_eq!(with(u64::MAX / 2).ping_ttl_deciseconds(), 655);
    }

    #[test]
    fn keepalive_times_are_clamped_to_what_linux_takes() {
        assert_eq!(keepalive_secs(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            keepalive_secs(Duration::from_millis(2_500)),
            Duration::from_secs(2)
        );
        assert_eq!(keepalive_secs(Duration::MAX), Duration::from_secs(32_767));
    }

    #[test]
    fn metadata_properties_parse_as_libzmq_takes_them() {
        let (name, value) = parse_metadata("X-colour:blue:ish").unwrap();
        assert_eq!((name.as_str(), &value[..]), ("X-colour", &b"blue:ish"[..]));
        assert_eq!(&parse_metadata("x-empty:").unwrap().1[..], b"");
        for bad in ["colour:blue", "X-:v", "X-novalue", "", ":", "Y-a:b"] {
            assert!(parse_metadata(bad).is_err(), "{bad}");
        }
        let long = format!("X-{}:v", "n".repeat(254));
        assert!(parse_metadata(&long).is_err());
        assert!(parse_metadata(&format!("X-{}:v", "n".repeat(253))).is_ok());
    }

    #[test]
    fn reconnect_stop_flags_combine_as_libzmqs_bits() {
        let all = ReconnectStop::CONN_REFUSED
            | ReconnectStop::HANDSHAKE_FAILED
            | ReconnectStop::AFTER_DISCONNECT;
        assert_eq!(all.bits(), 7);
        assert!(all.contains(ReconnectStop::HANDSHAKE_FAILED));
        assert!(!ReconnectStop::NEVER.contains(ReconnectStop::CONN_REFUSED));
        assert_eq!(ReconnectStop::default(), ReconnectStop::NEVER);
    }

    #[test]
    fn heartbeat_timeout_defaults_to_the_interval() {
        let mut o = Options::default();
        assert_eq!(o.effective_heartbeat_timeout(), None);
        o.heartbeat_ivl = Some(Duration::from_secs(1));
        assert_eq!(
            o.effective_heartbeat_timeout(),
            Some(Duration::from_secs(1))
        );
        o.heartbeat_timeout = Some(Duration::from_secs(3));
        assert_eq!(
            o.effective_heartbeat_timeout(),
            Some(Duration::from_secs(3))
        );
    }
}
