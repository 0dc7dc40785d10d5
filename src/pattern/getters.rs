//! Getters for the options every socket type shares: each returns what is in force, as
//! libzmq's `zmq_getsockopt` does. Kept apart from the setters of
//! [`socket_common!`](super::socket_common) so each list can grow on its own.

/// Generates the option getters of a socket type with a `core: SocketCore` field.
macro_rules! option_getters {
    ($ty:ident) => {
        impl $ty {
            /// The per-peer outgoing queue limit, in messages (libzmq's `ZMQ_SNDHWM`;
            /// 0 is no limit). See [`Self::set_send_hwm`].
            pub fn send_hwm(&self) -> usize {
                self.core.options.send_hwm
            }

            /// The per-peer incoming queue limit, in messages (libzmq's `ZMQ_RCVHWM`;
            /// 0 is no limit). See [`Self::set_recv_hwm`].
            pub fn recv_hwm(&self) -> usize {
                self.core.options.recv_hwm
            }

            /// How long a blocking send waits (libzmq's `ZMQ_SNDTIMEO`; `None` is
            /// forever, libzmq's -1). See [`Self::set_send_timeout`]. Named `get_` because
            /// `send_timeout` is the send with a timeout.
            pub fn get_send_timeout(&self) -> Option<std::time::Duration> {
                self.core.options.send_timeout
            }

            /// How long a blocking receive waits (libzmq's `ZMQ_RCVTIMEO`; `None` is
            /// forever, libzmq's -1). See [`Self::set_recv_timeout`]. Named `get_` because
            /// `recv_timeout` is the receive with a timeout.
            pub fn get_recv_timeout(&self) -> Option<std::time::Duration> {
                self.core.options.recv_timeout
            }

            /// How long queued messages are still sent after the socket is dropped
            /// (libzmq's `ZMQ_LINGER`; default one second, where libzmq's is infinite).
            /// See [`Self::set_linger`].
            pub fn linger(&self) -> std::time::Duration {
                self.core.options.linger
            }

            /// The first delay before a dropped or refused connection is retried
            /// (libzmq's `ZMQ_RECONNECT_IVL`; `None`: no reconnection, libzmq's -1). See
            /// [`Self::set_reconnect_interval`].
            pub fn reconnect_interval(&self) -> Option<std::time::Duration> {
                self.core.options.reconnect_ivl
            }

            /// The cap the reconnect delay doubles up to (libzmq's
            /// `ZMQ_RECONNECT_IVL_MAX`; default 2 s, where libzmq's 0 means no doubling).
            /// See [`Self::set_reconnect_interval_max`].
            pub fn reconnect_interval_max(&self) -> std::time::Duration {
                self.core.options.reconnect_ivl_max
            }

            /// The largest message accepted from a peer (libzmq's `ZMQ_MAXMSGSIZE`;
            /// `None` is any size, libzmq's -1 and its default; ferromq's default is
            /// 64 MiB). See [`Self::set_max_message_size`].
            pub fn max_message_size(&self) -> Option<usize> {
                self.core.options.max_msg_size
            }

            /// The largest READY metadata accepted from a peer, in bytes (no libzmq
            /// option). See [`Self::set_max_metadata_size`].
            pub fn max_metadata_size(&self) -> usize {
                self.core.options.max_metadata_size
            }

            /// The most properties accepted in a peer's READY (no libzmq option). See
            /// [`Self::set_max_properties`].
            pub fn max_properties(&self) -> usize {
                self.core.options.max_properties
            }

            /// How long a new connection may take to finish its handshake (libzmq's
            /// `ZMQ_HANDSHAKE_IVL`; `None` is no limit, libzmq's 0). See
            /// [`Self::set_handshake_timeout`].
            pub fn handshake_timeout(&self) -> Option<std::time::Duration> {
                self.core.options.handshake_timeout
            }

            /// Whether `[::]` listeners are IPv6-only (`IPV6_V6ONLY`; the opposite of
            /// libzmq's `ZMQ_IPV6`). See [`Self::set_ipv6_only`].
            pub fn ipv6_only(&self) -> bool {
                self.core.options.ipv6_only
            }

            /// The permission bits of later ipc socket files (no libzmq option: libzmq
            /// leaves them to the umask). See [`Self::set_ipc_permissions`].
            pub fn ipc_permissions(&self) -> Option<u32> {
                self.core.options.ipc_permissions
            }

            /// The listen backlog of later binds (libzmq's `ZMQ_BACKLOG`, default 100).
            /// See [`Self::set_backlog`].
            pub fn backlog(&self) -> i32 {
                self.core.options.backlog
            }

            /// The interval between PINGs (libzmq's `ZMQ_HEARTBEAT_IVL`; `None`: no
            /// heartbeats, libzmq's 0). See [`Self::set_heartbeat_interval`].
            pub fn heartbeat_interval(&self) -> Option<std::time::Duration> {
                self.core.options.heartbeat_ivl
            }

            /// The TTL set for our PINGs (libzmq's `ZMQ_HEARTBEAT_TTL`), as set: what is
            /// announced is rounded down to tenths of a second and capped at 65.5 s. See
            /// [`Self::set_heartbeat_ttl`].
            pub fn heartbeat_ttl(&self) -> Option<std::time::Duration> {
                self.core.options.heartbeat_ttl
            }

            /// How long to wait for traffic after a PING, as set (libzmq's
            /// `ZMQ_HEARTBEAT_TIMEOUT`; `None` uses the interval). See
            /// [`Self::set_heartbeat_timeout`].
            pub fn heartbeat_timeout(&self) -> Option<std::time::Duration> {
                self.core.options.heartbeat_timeout
            }

            /// `SO_KEEPALIVE` for tcp connections (libzmq's `ZMQ_TCP_KEEPALIVE`; `None`
            /// is the OS default, libzmq's -1). See [`Self::set_tcp_keepalive`].
            pub fn tcp_keepalive(&self) -> Option<bool> {
                self.core.options.tcp_keepalive
            }

            /// `TCP_KEEPIDLE` in force, in whole seconds as clamped (libzmq's
            /// `ZMQ_TCP_KEEPALIVE_IDLE`; `None` is the OS default). See
            /// [`Self::set_tcp_keepalive_idle`].
            pub fn tcp_keepalive_idle(&self) -> Option<std::time::Duration> {
                self.core.options.tcp_keepalive_idle
            }

            /// `TCP_KEEPINTVL` in force, in whole seconds as clamped (libzmq's
            /// `ZMQ_TCP_KEEPALIVE_INTVL`; `None` is the OS default). See
            /// [`Self::set_tcp_keepalive_interval`].
            pub fn tcp_keepalive_interval(&self) -> Option<std::time::Duration> {
                self.core.options.tcp_keepalive_interval
            }

            /// `TCP_KEEPCNT` (libzmq's `ZMQ_TCP_KEEPALIVE_CNT`; `None` is the OS
            /// default). See [`Self::set_tcp_keepalive_count`].
            pub fn tcp_keepalive_count(&self) -> Option<u32> {
                self.core.options.tcp_keepalive_count
            }

            /// The kernel send buffer asked for later connections (libzmq's `ZMQ_SNDBUF`;
            /// `None` is the OS default, libzmq's -1). What the kernel grants may differ
            /// (Linux doubles it). See [`Self::set_send_buffer_size`].
            pub fn send_buffer_size(&self) -> Option<usize> {
                self.core.options.send_buffer
            }

            /// The kernel receive buffer asked for later connections (libzmq's
            /// `ZMQ_RCVBUF`; `None` is the OS default). See
            /// [`Self::set_recv_buffer_size`].
            pub fn recv_buffer_size(&self) -> Option<usize> {
                self.core.options.recv_buffer
            }

            /// The identity announced to peers (libzmq's `ZMQ_ROUTING_ID`; empty when none
            /// is set). See [`Self::set_identity`].
            pub fn identity(&self) -> &[u8] {
                &self.core.options.identity
            }
        }
    };
}

pub(crate) use option_getters;

/// Generates `fd` (`ZMQ_FD`) and `events` (`ZMQ_EVENTS`) for a socket type with a `core:
/// SocketCore` field that implements the poll trait.
macro_rules! readiness_fd {
    ($ty:ident) => {
        impl $ty {
            /// A file descriptor that becomes readable when this socket may have something
            /// to do (libzmq's `ZMQ_FD`), for event loops outside Rust's async world
            /// (`poll(2)`, epoll, mio, a C or Python loop). Made on first call; the socket
            /// owns it, and it lives as long as the socket.
            ///
            /// As libzmq's, it is **edge-triggered** and says only that something may have
            /// changed, not that a message is there:
            ///
            /// - it is readable at first, so look before the first wait;
            /// - when it turns readable, call [`Self::events`], which makes it not readable
            ///   again and tells what can be done now; then receive with `try_recv` until
            ///   [`Error::WouldBlock`](crate::Error::WouldBlock) (and send with `try_send`
            ///   while it goes through) before waiting again. A message that arrived while
            ///   others were still queued rings no more: waiting on the descriptor with
            ///   messages left unread can wait forever;
            /// - it may turn readable with nothing to do (a peer came or went, room
            ///   appeared): `events` then says so, and the loop waits again;
            /// - never read from or write to it yourself: wait for it to be readable only.
            ///
            /// # Errors
            ///
            /// [`Error::Io`](crate::Error::Io) when the process is out of descriptors.
            pub fn fd(&self) -> $crate::Result<std::os::fd::BorrowedFd<'_>> {
                Ok(self.core.signal().fd()?)
            }

            /// What the socket can do now, without blocking (libzmq's `ZMQ_EVENTS`):
            /// [`Interest::READABLE`](crate::Interest::READABLE) when a receive would
            /// return something, [`Interest::WRITABLE`](crate::Interest::WRITABLE) when a
            /// send would go through, by the socket's pattern, as [`poll`](crate::poll)
            /// judges. Makes the descriptor of [`Self::fd`] not readable until something
            /// changes again, so call it each time that descriptor turns readable.
            pub fn events(&mut self) -> $crate::Interest {
                self.core.signal().clear_fd();
                $crate::poll::sealed::Sealed::poll_ready(self, $crate::Interest::BOTH)
            }
        }
    };
}

pub(crate) use readiness_fd;

/// Generates `set_conflate` and `conflate` (`ZMQ_CONFLATE`) for the socket types libzmq
/// takes it on: PUB, SUB, PUSH, PULL and DEALER. `$ctor` is the [`Context`] method that
/// makes the socket, for the example.
///
/// [`Context`]: crate::Context
macro_rules! conflate_option {
    ($ty:ident, $ctor:ident) => {
        impl $ty {
            /// Keeps only the newest message in each peer's queue (libzmq's
            /// `ZMQ_CONFLATE`, default off): a message queued while an older one is still
            /// there replaces it, and the high-water marks no longer matter, as the queue
            /// never holds more than one. For status feeds where only the last value counts.
            ///
            /// Which queues: the outgoing ones on PUB and PUSH, the incoming ones on SUB
            /// and PULL, both on DEALER. A subscriber's subscriptions and a publisher's
            /// incoming subscriptions are never conflated (libzmq conflates both queues of
            /// every peer, so a SUB with many topics can lose some). Over inproc there is
            /// one queue between the two sockets, which conflates when either side does.
            /// Messages are conflated whole: a multipart message is kept or replaced as a
            /// unit, where libzmq supports only single-part messages with conflate (its
            /// queue keeps the last frame). Applies to connections made after the call.
            ///
            /// # Examples
            ///
            /// ```
            /// let ctx = ferromq::Context::new();
            #[doc = concat!("let mut socket = ctx.", stringify!($ctor), "()?;")]
            /// socket.set_conflate(true);
            /// assert!(socket.conflate());
            /// # Ok::<(), ferromq::Error>(())
            /// ```
            pub fn set_conflate(&mut self, conflate: bool) {
                self.core.set_conflate(conflate);
            }

            /// Whether each peer's queue keeps only the newest message (libzmq's
            /// `ZMQ_CONFLATE`). See [`Self::set_conflate`].
            pub fn conflate(&self) -> bool {
                self.core.options.conflate
            }
        }
    };
}

pub(crate) use conflate_option;
