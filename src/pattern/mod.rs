//! Socket patterns: the routing rules and state machines on top of [`SocketCore`].
//!
//! [`SocketCore`]: crate::socket::SocketCore

pub(crate) mod connopts;
pub(crate) mod dynamic;
pub(crate) mod getters;
pub(crate) mod pipeline;
pub(crate) mod pubsub;
pub(crate) mod reqrep;
pub(crate) mod routing;
pub(crate) mod security;
pub(crate) mod stream;
pub(crate) mod trie;
pub(crate) mod xpubsub;

use std::time::Instant;

use crate::error::{Error, Result};
use crate::socket::Wait;

pub(crate) use crate::socket::refuse_empty;

/// How many messages one receive may discard in a row (a REQ's replies that are not the
/// answer, a REP's requests without a delimiter, ...) before it looks at its deadline. A
/// non-blocking receive then returns [`Error::WouldBlock`], a timed one [`Error::TimedOut`]
/// once its deadline has passed, so a peer flooding garbage cannot keep a call busy past
/// what the caller allowed. A blocking receive with no deadline goes on.
pub(crate) const DISCARD_BUDGET: usize = 1024;

/// Counts the messages a receive discards, against [`DISCARD_BUDGET`].
#[derive(Debug, Default)]
pub(crate) struct Discards {
    count: usize,
}

impl Discards {
    /// Counts one more discarded message; an error when the call must stop now.
    pub(crate) fn one_more(&mut self, wait: Wait) -> Result<()> {
        self.count = self.count.saturating_add(1);
        if self.count < DISCARD_BUDGET {
            return Ok(());
        }
        self.count = 0;
        match wait {
            Wait::Never => Err(Error::WouldBlock),
            Wait::Until(Some(deadline)) if Instant::now() >= deadline => Err(Error::TimedOut),
            Wait::Until(_) => Ok(()),
        }
    }
}

/// Generates the methods every socket type shares: bind/connect, endpoints and options.
/// Each socket struct must have a `core: SocketCore` field.
macro_rules! socket_common {
    ($ty:ident) => {
        impl $ty {
            /// Starts accepting peers on `endpoint` (`tcp://…`, `ipc://…` or `inproc://…`).
            ///
            /// For tcp, `*` as host binds every IPv4 interface, and `*` or `0` as port picks
            /// a free port; [`Self::last_endpoint`] tells which. An ipc path is a socket file,
            /// removed again when the socket unbinds or closes; `ipc://@name` is in Linux's
            /// abstract namespace. A tcp host that names a network interface
            /// (`tcp://eth0:5555`) binds that interface's address, and `ipc://*` a fresh
            /// path in a new private directory, reported by [`Self::last_endpoint`] and
            /// removed with its directory on unbind or close.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidEndpoint`](crate::Error::InvalidEndpoint) for a malformed
            /// endpoint, [`Error::AddressInUse`](crate::Error::AddressInUse) when the address
            /// is taken, [`Error::Io`](crate::Error::Io) for other failures.
            pub fn bind(&mut self, endpoint: &str) -> $crate::Result<()> {
                self.core.bind(endpoint)
            }

            /// Connects to `endpoint`. For tcp and ipc this returns at once: the connection
            /// is made in the background, retried while nobody listens (100 ms, doubling up
            /// to the reconnect maximum), and remade if it drops. An inproc connect may come
            /// before the bind. `tcp://source;host:port` (libzmq's source-address form)
            /// binds the local side to `source` (an IP address or an interface name, with
            /// a port, `*` or 0 for any) before each attempt.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidEndpoint`](crate::Error::InvalidEndpoint) for a malformed
            /// endpoint or a host name that does not resolve;
            /// [`Error::IncompatiblePeer`](crate::Error::IncompatiblePeer) for an inproc peer
            /// of the wrong type.
            pub fn connect(&mut self, endpoint: &str) -> $crate::Result<()> {
                self.core.connect(endpoint)
            }

            /// Stops listening on an endpoint, given as [`Self::last_endpoint`] reported it.
            /// Peers already connected stay connected.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidEndpoint`](crate::Error::InvalidEndpoint) when this socket
            /// has not bound it.
            pub fn unbind(&mut self, endpoint: &str) -> $crate::Result<()> {
                self.core.unbind(endpoint)
            }

            /// Closes the connection made by `connect(endpoint)` (after flushing, within the
            /// linger time) and stops reconnecting to it.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidEndpoint`](crate::Error::InvalidEndpoint) for a malformed
            /// endpoint or an inproc endpoint this socket did not connect.
            pub fn disconnect(&mut self, endpoint: &str) -> $crate::Result<()> {
                self.core.disconnect(endpoint)
            }

            /// The endpoint the last successful bind actually bound, with wildcards and
            /// ephemeral ports resolved (libzmq's `ZMQ_LAST_ENDPOINT`), such as
            /// `tcp://127.0.0.1:49153`.
            pub fn last_endpoint(&self) -> Option<&str> {
                self.core.last_endpoint()
            }

            /// This socket's type.
            pub fn socket_type(&self) -> $crate::SocketType {
                self.core.socket_type()
            }

            /// How many peers are connected now (handshake done, connection not yet seen
            /// to close).
            pub fn peer_count(&mut self) -> usize {
                self.core.peer_count()
            }

            /// Sets the per-peer outgoing queue limit, in messages (libzmq's `ZMQ_SNDHWM`,
            /// default 1000; 0 means no limit). Applies to the peers connected now, as in
            /// libzmq 4.3, and to every later one, whenever its endpoint was bound or
            /// connected (libzmq gives peers accepted later on an earlier bind the mark of
            /// the bind). Messages already queued past a lowered mark stay queued. An
            /// inproc queue holds this mark plus the peer's receive mark, as in libzmq.
            pub fn set_send_hwm(&mut self, messages: usize) {
                self.core.set_send_hwm(messages);
            }

            /// Sets the per-peer incoming queue limit, in messages (libzmq's `ZMQ_RCVHWM`,
            /// default 1000; 0 means no limit). Applies to the peers connected now and to
            /// every later one, as [`Self::set_send_hwm`] does; a peer held back at the old
            /// mark is read again at once when it is raised.
            pub fn set_recv_hwm(&mut self, messages: usize) {
                self.core.set_recv_hwm(messages);
            }

            /// Sets libzmq's `ZMQ_IMMEDIATE` for the connects made from now on.
            ///
            /// With `false`, the default as in libzmq, a PUSH, DEALER or PAIR has its peer's
            /// queue from the moment it connects (tcp, ipc, or an inproc name not bound
            /// yet): a send queues into it, up to the send high-water mark, while the
            /// connection is being made, and what it holds goes out once the handshake is
            /// done. The queue is kept across reconnects, with what is still in it; a
            /// message a PUSH or DEALER was writing when the connection broke is sent
            /// again whole, first, on the next connection. Round-robin counts such a
            /// peer like any other, so with two connects, one never up, half the
            /// messages wait for it (as in libzmq); `peer_count` counts it only while
            /// a connection carries it. A socket closed with messages waiting keeps
            /// trying to connect within its linger, but at most 5 s whatever the linger,
            /// so a peer that comes in that time gets them; then they are dropped.
            /// Other types are not affected: a PUB sends only to subscribers that have
            /// told it their topics, SUB and XSUB tell each new connection their
            /// subscriptions, ROUTER and STREAM name a peer only once its connection is
            /// up, and a REQ's peer comes and goes with its connection so that a
            /// request whose peer is lost fails with `Disconnected`.
            ///
            /// With `true`, messages are queued only for peers whose handshake is done:
            /// a connect that is not up takes none, and a send waits (or, for a PUB,
            /// drops) as with no peer at all; a broken connection's queue is handed back
            /// and its messages sent again to the other peers (PUSH, DEALER).
            ///
            /// # Examples
            ///
            /// ```
            /// use ferromq::{Context, Error};
            ///
            /// let mut push = Context::new().push()?;
            /// assert!(!push.immediate());
            /// // Nothing listens there; the message waits in the connect's queue.
            /// push.connect("tcp://127.0.0.1:1")?;
            /// push.try_send("queued")?;
            /// push.set_immediate(true)?;
            /// assert!(push.immediate());
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            ///
            /// # Errors
            ///
            /// None today; the `Result` leaves room for a refusal.
            pub fn set_immediate(&mut self, immediate: bool) -> $crate::Result<()> {
                self.core.options.immediate = immediate;
                Ok(())
            }

            /// libzmq's `ZMQ_IMMEDIATE`; see [`Self::set_immediate`].
            pub fn immediate(&self) -> bool {
                self.core.options.immediate
            }

            /// Sets how long a blocking send waits before failing with
            /// [`Error::TimedOut`](crate::Error::TimedOut); `None` (the default) waits forever,
            /// and so does a timeout too long to represent (up to `Duration::MAX`).
            pub fn set_send_timeout(&mut self, timeout: Option<std::time::Duration>) {
                self.core.options.send_timeout = timeout;
            }

            /// Sets how long a blocking receive waits before failing with
            /// [`Error::TimedOut`](crate::Error::TimedOut); `None` (the default) waits forever,
            /// and so does a timeout too long to represent (up to `Duration::MAX`).
            pub fn set_recv_timeout(&mut self, timeout: Option<std::time::Duration>) {
                self.core.options.recv_timeout = timeout;
            }

            /// Sets how long, after this socket is dropped, its queued messages are still
            /// sent (libzmq's `ZMQ_LINGER`; default [`DEFAULT_LINGER`](crate::DEFAULT_LINGER),
            /// one second, where libzmq's is infinite; zero drops them at once).
            ///
            /// Any value is accepted; a huge one, up to `Duration::MAX`, is libzmq's
            /// infinite linger (-1): each connected peer gets everything queued for it, for
            /// as long as its connection stays up. Whatever the linger, dropping never waits
            /// for a peer that is not there, so a program does not hang at exit on a peer
            /// that went away:
            ///
            /// - a connection that has not finished its handshake is closed at once, and no
            ///   reconnect is made after the drop;
            /// - a connection that breaks or times out while flushing ends the wait for it,
            ///   and what it had not sent is dropped;
            /// - messages handed back by a peer that went away wait for another peer with
            ///   room at most [`MAX_LINGER_WITHOUT_PEER`](crate::MAX_LINGER_WITHOUT_PEER)
            ///   (5 s) while none is attached.
            ///
            /// What a long linger can wait for is a peer that stays connected but does not
            /// read; heartbeats ([`Self::set_heartbeat_interval`]), which go on while a
            /// connection lingers, drop such a peer. The context's drop waits for its
            /// sockets' lingering connections in the same way.
            pub fn set_linger(&mut self, linger: std::time::Duration) {
                self.core.options.linger = linger;
            }

            /// Sets the first delay before a dropped or refused connection is retried
            /// (default 100 ms); `None` turns reconnection off. Applies to later connects.
            /// Any value is accepted: one too far to wait for (up to `Duration::MAX`) means
            /// about a century.
            pub fn set_reconnect_interval(&mut self, interval: Option<std::time::Duration>) {
                self.core.options.reconnect_ivl = interval;
            }

            /// Sets the cap the reconnect delay doubles up to (default 2 s; a cap below the
            /// first delay is the first delay). Doubling saturates, so any value up to
            /// `Duration::MAX` is accepted.
            pub fn set_reconnect_interval_max(&mut self, max: std::time::Duration) {
                self.core.options.reconnect_ivl_max = max;
            }

            /// Sets the largest message accepted from a peer, summed over its frames
            /// (default [`DEFAULT_MAX_MSG_SIZE`](crate::DEFAULT_MAX_MSG_SIZE), 64 MiB);
            /// `None` accepts any size, as libzmq does. A peer that sends more is
            /// disconnected before anything is allocated for the excess.
            pub fn set_max_message_size(&mut self, max: Option<usize>) {
                self.core.options.max_msg_size = max;
            }

            /// Sets the largest handshake metadata (the body of a peer's READY) accepted,
            /// in bytes (default
            /// [`DEFAULT_MAX_METADATA_SIZE`](crate::DEFAULT_MAX_METADATA_SIZE), 64 KiB;
            /// libzmq takes whatever fits in a frame). A larger READY is refused from its
            /// header, with an ERROR, and the peer dropped. Applies to later connections.
            pub fn set_max_metadata_size(&mut self, max: usize) {
                self.core.options.max_metadata_size = max;
            }

            /// Sets the most properties accepted in a peer's READY (default
            /// [`DEFAULT_MAX_PROPERTIES`](crate::DEFAULT_MAX_PROPERTIES), 256). A READY
            /// with more is refused, with an ERROR, before anything of it is kept.
            /// Applies to later connections.
            pub fn set_max_properties(&mut self, max: usize) {
                self.core.options.max_properties = max;
            }

            /// Sets how long a new connection may take to finish its ZMTP handshake
            /// before it is dropped (default 30 s, as libzmq); `None` is no limit, and a
            /// timeout too long to wait for (up to `Duration::MAX`) is about a century.
            pub fn set_handshake_timeout(&mut self, timeout: Option<std::time::Duration>) {
                self.core.options.handshake_timeout = timeout;
            }

            /// Makes `[::]` listeners IPv6-only (`IPV6_V6ONLY`). Off by default, so a
            /// listener on `[::]` accepts IPv4 too where the system allows dual stack.
            pub fn set_ipv6_only(&mut self, only: bool) {
                self.core.options.ipv6_only = only;
            }

            /// Sets the permission bits of the socket file of later ipc binds, such as
            /// `0o600` (default: as the process umask leaves them).
            pub fn set_ipc_permissions(&mut self, mode: Option<u32>) {
                self.core.options.ipc_permissions = mode;
            }

            /// Sets the listen backlog of later binds (default 100).
            pub fn set_backlog(&mut self, backlog: i32) {
                self.core.options.backlog = backlog;
            }

            /// Starts monitoring this socket: the returned [`Monitor`](crate::Monitor)
            /// receives a [`MonitorEvent`](crate::MonitorEvent) for each listener, connect
            /// attempt, handshake and disconnect on tcp and ipc endpoints from now on
            /// (libzmq's `zmq_socket_monitor`). Calling it again replaces the previous
            /// monitor, whose stream then ends. Events are never dropped and the I/O
            /// thread never waits for them: read them, or drop the monitor.
            pub fn monitor(&mut self) -> crate::Monitor {
                self.core.monitor()
            }

            /// Sends a PING to each tcp or ipc peer this often once its handshake is done
            /// (libzmq's `ZMQ_HEARTBEAT_IVL`; default `None`, no heartbeats). A peer from
            /// which no traffic at all arrives within the heartbeat timeout after a PING is
            /// dropped, and a connecting socket reconnects as usual. Heartbeats go on while a
            /// connection lingers after the drop. Applies to later connections. Zero is
            /// `None`; an interval too long to wait for (up to `Duration::MAX`) is about a
            /// century.
            pub fn set_heartbeat_interval(&mut self, interval: Option<std::time::Duration>) {
                self.core.options.heartbeat_ivl = interval.filter(|i| !i.is_zero());
            }

            /// Sets the TTL announced in our PINGs (libzmq's `ZMQ_HEARTBEAT_TTL`; default
            /// `None`, announced as 0 = no TTL): the peer may drop the connection when it
            /// hears nothing from us for that long. Sent in tenths of a second, rounded
            /// down, and capped at 65.5 s because libzmq's timer overflows above that (so
            /// any value up to `Duration::MAX` is accepted). Only matters when [`Self::set_heartbeat_interval`] is set.
            pub fn set_heartbeat_ttl(&mut self, ttl: Option<std::time::Duration>) {
                self.core.options.heartbeat_ttl = ttl;
            }

            /// Sets how long to wait for any traffic after a PING before dropping the
            /// connection (libzmq's `ZMQ_HEARTBEAT_TIMEOUT`; default `None`, which uses the
            /// heartbeat interval). A timeout too long to wait for (up to `Duration::MAX`)
            /// is about a century.
            pub fn set_heartbeat_timeout(&mut self, timeout: Option<std::time::Duration>) {
                self.core.options.heartbeat_timeout = timeout;
            }

            /// Turns `SO_KEEPALIVE` on or off for tcp connections (libzmq's
            /// `ZMQ_TCP_KEEPALIVE`; default `None`, the OS default, which is off on
            /// Linux). Applies to later connections.
            pub fn set_tcp_keepalive(&mut self, keepalive: Option<bool>) {
                self.core.options.tcp_keepalive = keepalive;
            }

            /// Sets how long a tcp connection is idle before the first keepalive probe
            /// (`TCP_KEEPIDLE`, libzmq's `ZMQ_TCP_KEEPALIVE_IDLE`; default `None`, the OS
            /// default, 2 hours on Linux). Whole seconds are used, clamped to what Linux
            /// takes (1 s to 32767 s), so any value up to `Duration::MAX` is accepted.
            pub fn set_tcp_keepalive_idle(&mut self, idle: Option<std::time::Duration>) {
                self.core.options.tcp_keepalive_idle = idle.map(crate::options::keepalive_secs);
            }

            /// Sets the time between keepalive probes (`TCP_KEEPINTVL`, libzmq's
            /// `ZMQ_TCP_KEEPALIVE_INTVL`; default `None`, the OS default, 75 s on Linux).
            /// Whole seconds are used, clamped to what Linux takes (1 s to 32767 s), so any
            /// value up to `Duration::MAX` is accepted.
            pub fn set_tcp_keepalive_interval(&mut self, interval: Option<std::time::Duration>) {
                self.core.options.tcp_keepalive_interval =
                    interval.map(crate::options::keepalive_secs);
            }

            /// Sets how many unanswered keepalive probes drop the connection
            /// (`TCP_KEEPCNT`, libzmq's `ZMQ_TCP_KEEPALIVE_CNT`; default `None`, the OS
            /// default, 9 on Linux).
            pub fn set_tcp_keepalive_count(&mut self, count: Option<u32>) {
                self.core.options.tcp_keepalive_count = count;
            }

            /// Sets the kernel send buffer of later tcp and ipc connections, in bytes
            /// (`SO_SNDBUF`, libzmq's `ZMQ_SNDBUF`; default `None`, the OS default, which
            /// for tcp on Linux grows by autotuning). Linux doubles the value for its own
            /// bookkeeping. A small buffer bounds what a dead connection can take with it.
            pub fn set_send_buffer_size(&mut self, bytes: Option<usize>) {
                self.core.options.send_buffer = bytes;
            }

            /// Sets the kernel receive buffer of later tcp and ipc connections, in bytes
            /// (`SO_RCVBUF`, libzmq's `ZMQ_RCVBUF`; default `None`, the OS default, which
            /// for tcp on Linux grows by autotuning).
            pub fn set_recv_buffer_size(&mut self, bytes: Option<usize>) {
                self.core.options.recv_buffer = bytes;
            }

            /// Sets the identity announced to peers (libzmq's `ZMQ_ROUTING_ID`), used by a
            /// ROUTER peer to address this socket. Applies to later connections.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidOption`](crate::Error::InvalidOption) unless it is 1 to 255
            /// bytes and does not start with a zero byte.
            pub fn set_identity(
                &mut self,
                identity: impl Into<bytes::Bytes>,
            ) -> $crate::Result<()> {
                self.core.set_identity(identity.into())
            }
        }

        $crate::aio::async_ready!($ty);
        $crate::pattern::getters::option_getters!($ty);
        $crate::pattern::getters::readiness_fd!($ty);
        $crate::pattern::connopts::connection_options!($ty);
        $crate::pattern::security::security_options!($ty);
    };
}

pub(crate) use socket_common;

/// Generates `try_recv` and `recv_timeout` for a socket whose `state` receives with
/// `recv(&mut SocketCore, Wait) -> Result<Message>` (SUB, XSUB, XPUB); each type writes its
/// own `recv`, whose docs say what it receives. `$ctor` is the [`Context`] method that makes
/// the socket, for the examples.
///
/// [`Context`]: crate::Context
macro_rules! state_recv_variants {
    ($ty:ident, $ctor:ident) => {
        impl $ty {
            /// Receives without blocking, as [`Self::recv`] does otherwise.
            ///
            /// # Examples
            ///
            /// ```
            /// use ferromq::{Context, Error};
            ///
            #[doc = concat!("let mut socket = Context::new().", stringify!($ctor), "()?;")]
            /// assert!(matches!(socket.try_recv(), Err(Error::WouldBlock)));
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            ///
            /// # Errors
            ///
            /// [`Error::WouldBlock`](crate::Error::WouldBlock) when nothing is there to
            /// receive.
            pub fn try_recv(&mut self) -> $crate::Result<$crate::Message> {
                self.state.recv(&mut self.core, $crate::socket::Wait::Never)
            }

            /// Receives, waiting at most `timeout` whatever the socket's receive timeout is.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use ferromq::{Context, Error};
            ///
            #[doc = concat!("let mut socket = Context::new().", stringify!($ctor), "()?;")]
            /// let r = socket.recv_timeout(Duration::from_millis(10));
            /// assert!(matches!(r, Err(Error::TimedOut)));
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            ///
            /// # Errors
            ///
            /// [`Error::TimedOut`](crate::Error::TimedOut).
            pub fn recv_timeout(
                &mut self,
                timeout: std::time::Duration,
            ) -> $crate::Result<$crate::Message> {
                let wait = $crate::socket::Wait::from_timeout(Some(timeout));
                self.state.recv(&mut self.core, wait)
            }
        }
    };
}

pub(crate) use state_recv_variants;
