//! PUSH and PULL (RFC 30, the pipeline pattern). The spec with its tables is
//! `patterns/pipeline.md`.
//!
//! PUSH has no state of its own beyond its peers: a send goes to the next peer in turn
//! that has room, and blocks (or fails, as asked) while none has. PULL takes messages from
//! its peers in turn. Neither ever drops a message.

use std::time::Duration;

use crate::context::Context;
use crate::error::{Result, SendError};
use crate::message::Message;
use crate::pattern::socket_common;
use crate::poll::sealed::CoreRef;
use crate::poll::Interest;
use crate::socket::{SocketCore, Wait};
use crate::socket_type::SocketType;

/// The sending end of a pipeline: distributes messages to its PULL peers in turn.
///
/// `send` blocks while every peer's queue is at its high-water mark, or while there is no
/// peer at all, so no message is ever dropped; [`Push::try_send`] returns
/// [`Error::WouldBlock`](crate::Error::WouldBlock) instead, and a send timeout
/// ([`Push::set_send_timeout`]) bounds the wait. A failed send hands the message back.
///
/// When a peer goes away on its own (its connection breaks or times out, or an inproc peer
/// closes), the messages queued for it that it never received whole come back and go out
/// again first, in order, to the other peers or to the reconnection; sends wait meanwhile.
/// They move on with the socket's next call, or within the linger time at close. Only what
/// was already in the dead connection's kernel buffers, or in the dead peer, is lost; see
/// RELIABILITY.md.
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut push = ctx.push()?;
/// push.bind("tcp://127.0.0.1:*")?;
/// let endpoint = push.last_endpoint().unwrap().to_owned();
///
/// let mut pull = ctx.pull()?;
/// pull.connect(&endpoint)?;
/// push.send(["task", "42"])?;
/// let msg = pull.recv()?;
/// assert_eq!(&msg[1][..], b"42");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Push {
    core: SocketCore,
}

socket_common!(Push);
crate::pattern::getters::conflate_option!(Push, push);

impl Push {
    /// A new PUSH socket in `ctx`, with no endpoints yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Push> {
        Ok(Push {
            core: SocketCore::new(ctx, SocketType::Push),
        })
    }

    /// Sends a message to the next peer with room, waiting up to the send timeout
    /// (forever by default) while none has.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut) when the send timeout expires;
    /// [`Error::EmptyMessage`](crate::Error::EmptyMessage) at once for a message with no
    /// frames, on every transport. The message comes back inside the [`SendError`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        let wait = Wait::from_timeout(self.core.options.send_timeout);
        self.core.send_round_robin(msg.into(), wait).map(drop)
    }

    /// Sends without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`](crate::Error::WouldBlock) when no peer has room now; the
    /// message comes back inside the [`SendError`].
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.core
            .send_round_robin(msg.into(), Wait::Never)
            .map(drop)
    }

    /// Sends, waiting at most `timeout` whatever the socket's send timeout is.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut), with the message handed back.
    pub fn send_timeout(
        &mut self,
        msg: impl Into<Message>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        self.core
            .send_round_robin(msg.into(), Wait::from_timeout(Some(timeout)))
            .map(drop)
    }
}

/// The receiving end of a pipeline: takes messages from its PUSH peers in turn
/// (fair-queued), so one busy sender cannot starve the others.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferromq::{Context, Error};
///
/// let ctx = Context::new();
/// let mut pull = ctx.pull()?;
/// pull.bind("inproc://results")?;
/// pull.set_recv_timeout(Some(Duration::from_millis(10)));
/// assert!(matches!(pull.recv(), Err(Error::TimedOut)));
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Pull {
    core: SocketCore,
}

socket_common!(Pull);
crate::pattern::getters::conflate_option!(Pull, pull);

impl Pull {
    /// A new PULL socket in `ctx`, with no endpoints yet.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a context that refuses new sockets.
    pub fn new(ctx: &Context) -> Result<Pull> {
        Ok(Pull {
            core: SocketCore::new(ctx, SocketType::Pull),
        })
    }

    /// Receives the next message, waiting up to the receive timeout (forever by default).
    /// The message's [`metadata`](Message::metadata) tells which connection it came on.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut) when the receive timeout expires.
    pub fn recv(&mut self) -> Result<Message> {
        let wait = Wait::from_timeout(self.core.options.recv_timeout);
        self.core.recv_fair(wait).map(|(_, m)| m)
    }

    /// Receives without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`](crate::Error::WouldBlock) when nothing is queued.
    pub fn try_recv(&mut self) -> Result<Message> {
        self.core.recv_fair(Wait::Never).map(|(_, m)| m)
    }

    /// Receives, waiting at most `timeout` whatever the socket's receive timeout is.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message> {
        self.core
            .recv_fair(Wait::from_timeout(Some(timeout)))
            .map(|(_, m)| m)
    }
}

impl Context {
    /// A new PUSH socket; see [`Push`].
    ///
    /// # Errors
    ///
    /// As [`Push::new`].
    pub fn push(&self) -> Result<Push> {
        Push::new(self)
    }

    /// A new PULL socket; see [`Pull`].
    ///
    /// # Errors
    ///
    /// As [`Pull::new`].
    pub fn pull(&self) -> Result<Pull> {
        Pull::new(self)
    }
}

impl crate::poll::sealed::Sealed for Push {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        Interest::from_flags(false, interest.is_writable() && self.core.poll_writable())
    }

    fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
        self.core.send_round_robin(msg, Wait::Never).map(drop)
    }
}

impl crate::poll::sealed::Sealed for Pull {
    fn core_ref(&self) -> CoreRef<'_> {
        CoreRef(&self.core)
    }

    fn poll_ready(&mut self, interest: Interest) -> Interest {
        Interest::from_flags(interest.is_readable() && self.core.poll_readable(), false)
    }

    fn proxy_recv(&mut self) -> Result<Message> {
        self.try_recv()
    }
}
