//! The async face of every socket: futures that run the same non-blocking step the
//! blocking calls loop over, and wait on the same doorbell.
//!
//! A blocking call runs its pattern's step with [`Wait::Never`](crate::socket::Wait) and,
//! when the step would block, sleeps on the socket's [`Signal`](crate::wake::Signal) and
//! tries again. A future does the same with the task's `Waker` in place of the sleep
//! ([`poll_step`]): the step that found nothing left every pipe it looked at parked, so
//! the next message (or the next room) rings the signal, and the ring wakes the task.
//! Nothing else is needed: no helper thread, no timer, no runtime. Any executor that
//! honours `Waker` runs these futures, and timeouts come from the executor's own timers.
//!
//! Before it registers and returns `Pending`, a future looks for the ring a few times,
//! yielding the thread in between: the blocking wait's adaptive spin ([`crate::spin`]),
//! with the same count, so a message or room that comes within microseconds costs no
//! trip through the executor's parking (a futex wake from the ringing thread, a worker's
//! wake-up). The spin is bounded, halves each time it finds nothing (an idle socket soon
//! does not spin at all), and is off with the context's spin off.
//!
//! Cancellation: a step either completes (the message is taken, or queued whole) or
//! leaves everything as it was, and a future's only await point is between steps. So
//! dropping a receive future loses no message, and dropping a send future leaves its
//! message wholly queued (the step that queued it completed the future) or not queued at
//! all (the message is dropped with the future). The exceptions are the REQ reply futures,
//! whose drop gives the request up, as the blocking receive's timeout does.

use std::task::{Context as TaskContext, Poll};

use crate::error::{Error, Result, SendError};
use crate::message::Message;
use crate::poll::sealed::Sealed;
use crate::poll::Interest;

/// How many times one poll runs the step before it yields to the executor even though
/// something seems ready. A step can decline while the socket looks ready (a receive that
/// dropped its budget of messages that were not for it, messages handed back by a broken
/// connection that go out first): the task then wakes itself and lets others run, the
/// async counterpart of the blocking call's deadline check.
const LOOKS_PER_POLL: usize = 4;

/// Runs `step` until it gives a result, or registers the task on the socket's doorbell
/// and returns `Pending`. `step` returns `None` when it would block. `interest` is what
/// the step waits for, as the poller sees it: after registering, the socket is asked once
/// more (which parks whatever pipe it finds empty or full), so a change between the step's
/// look and the registration is never missed.
///
/// # Errors
///
/// [`Error::IoThreadStopped`] once the context's I/O is dead: what the step waits for
/// may never come then (the blocking wait fails the same way).
pub(crate) fn poll_step<S, R>(
    socket: &mut S,
    cx: &mut TaskContext<'_>,
    interest: Interest,
    mut step: impl FnMut(&mut S) -> Option<R>,
) -> Poll<Result<R>>
where
    S: Sealed + ?Sized,
{
    for _ in 0..LOOKS_PER_POLL {
        if let Some(done) = step(socket) {
            return Poll::Ready(Ok(done));
        }
        let core = socket.core_ref().0;
        if core.io_stopped() {
            return Poll::Ready(Err(Error::IoThreadStopped));
        }
        let signal = core.signal();
        // The step parked what it found empty or full, so the next change rings the
        // signal: wait for it a little before leaving the thread to the executor, as a
        // blocking wait spins before it sleeps (not at all with the context's spin off).
        if signal.spin_for_ring() {
            continue;
        }
        // Noted before the registration, so that a ring right after it sees the time.
        signal.async_sleeps();
        signal.register(cx.waker());
        // A ring since the step looked: something changed, look again. Otherwise ask the
        // pattern whether it is ready, which parks every pipe it finds not ready, so the
        // next change rings the signal and wakes the task registered above.
        if signal.take_ring() {
            continue;
        }
        if socket.poll_ready(interest).is_empty() {
            return Poll::Pending;
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// A receive step's result, with [`Error::WouldBlock`] as `None` (wait and look again).
pub(crate) fn blocked<T>(result: Result<T>) -> Option<Result<T>> {
    match result {
        Err(Error::WouldBlock) => None,
        other => Some(other),
    }
}

/// [`poll_step`] for a send: `slot` holds the message between polls, and `step` hands it
/// back on [`Error::WouldBlock`]. A slot found empty means the future already completed.
pub(crate) fn poll_send<S, T>(
    socket: &mut S,
    cx: &mut TaskContext<'_>,
    slot: &mut Option<Message>,
    mut step: impl FnMut(&mut S, Message) -> Result<T, SendError>,
) -> Poll<Result<T, SendError>>
where
    S: Sealed + ?Sized,
{
    if slot.is_none() {
        return Poll::Ready(Err(SendError::new(
            polled_after_completion(),
            Message::new(),
        )));
    }
    let polled = poll_step(socket, cx, Interest::WRITABLE, |s| {
        let msg = slot.take()?;
        match step(s, msg) {
            Err(e) if matches!(e.error(), Error::WouldBlock) => {
                *slot = Some(e.into_message());
                None
            }
            done => Some(done),
        }
    });
    match polled {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(done)) => Poll::Ready(done),
        Poll::Ready(Err(e)) => Poll::Ready(Err(SendError::new(e, slot.take().unwrap_or_default()))),
    }
}

/// The error of a future polled again after it completed (a misuse no executor makes).
pub(crate) fn polled_after_completion() -> Error {
    Error::WrongState("future polled after it completed")
}

/// Waits until `interest` (or part of it) holds on `socket`, as a [`Poller`] would see it.
///
/// [`Poller`]: crate::Poller
pub(crate) fn poll_interest<S: Sealed + ?Sized>(
    socket: &mut S,
    cx: &mut TaskContext<'_>,
    interest: Interest,
) -> Poll<Result<Interest>> {
    if interest.is_empty() {
        // Nothing could ever be ready; as a poll with nothing to wait for, say so at once.
        return Poll::Ready(Ok(Interest::NONE));
    }
    poll_step(socket, cx, interest, |s| {
        let ready = s.poll_ready(interest);
        (!ready.is_empty()).then_some(ready)
    })
}

/// Generates `recv_async` over the socket's own `try_recv`, for sockets whose receive
/// gives a [`Message`].
macro_rules! async_recv {
    ($ty:ident, $ctor:ident) => {
        impl $ty {
            /// Receives the next message without blocking the thread: the async form of
            /// [`Self::recv`], through the same step as [`Self::try_recv`], woken by the
            /// socket's doorbell. The socket's receive timeout does not apply: wrap the
            /// future in the runtime's timeout (`tokio::time::timeout`, ...) instead.
            ///
            /// Cancellation safe: dropping the future before it completes loses no
            /// message; whatever was queued stays queued for the next receive.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut socket = ferromq::Context::new().", stringify!($ctor), "()?;")]
            /// // Nothing to receive: the future waits, and dropping it loses nothing.
            /// let waiting = socket.recv_async();
            /// drop(waiting);
            /// assert!(matches!(socket.try_recv(), Err(ferromq::Error::WouldBlock)));
            /// # Ok::<(), ferromq::Error>(()) }).unwrap();
            /// ```
            ///
            /// # Errors
            ///
            /// As [`Self::try_recv`], except that it waits instead of returning
            /// [`Error::WouldBlock`](crate::Error::WouldBlock);
            /// [`Error::IoThreadStopped`](crate::Error::IoThreadStopped) if the context's
            /// I/O thread died.
            pub fn recv_async(
                &mut self,
            ) -> impl std::future::Future<Output = $crate::Result<$crate::Message>> + Send + '_
            {
                std::future::poll_fn(move |cx| {
                    $crate::aio::poll_step(self, cx, $crate::Interest::READABLE, |s| {
                        $crate::aio::blocked(s.try_recv())
                    })
                    .map(|r| r.and_then(|r| r))
                })
            }
        }

        $crate::aio::async_stream!($ty);
    };
}

pub(crate) use async_recv;

/// Generates the `futures_core::Stream` of a socket that receives messages (feature
/// `futures`): each item is what `try_recv` would give, waited for as `recv_async` waits.
#[cfg(feature = "futures")]
macro_rules! async_stream {
    ($ty:ident) => {
        /// The socket's messages, as [`recv_async`](Self::recv_async) gives them (feature
        /// `futures`). The stream never ends: an error is an item (after
        /// [`Error::IoThreadStopped`](crate::Error::IoThreadStopped) every item is that
        /// error). Dropping a `next()` future loses no message.
        impl futures_core::Stream for $ty {
            type Item = $crate::Result<$crate::Message>;

            fn poll_next(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                let this = self.get_mut();
                $crate::aio::poll_step(this, cx, $crate::Interest::READABLE, |s| {
                    $crate::aio::blocked(s.try_recv())
                })
                .map(|r| Some(r.and_then(|r| r)))
            }
        }
    };
}

#[cfg(not(feature = "futures"))]
macro_rules! async_stream {
    ($ty:ident) => {};
}

pub(crate) use async_stream;

/// Generates `send_async` over the socket's own `try_send` (or the non-blocking send
/// named), whose success value is `$out`.
macro_rules! async_send {
    ($ty:ident, $out:ty) => {
        $crate::aio::async_send!($ty, $out, try_send);
    };
    ($ty:ident, $out:ty, $step:ident) => {
        impl $ty {
            /// Sends a message without blocking the thread: the async form of
            /// [`Self::send`], through the same step as `try_send`, waiting for room
            /// on the socket's doorbell. The socket's send timeout does not apply: wrap the
            /// future in the runtime's timeout instead.
            ///
            /// Cancellation safe: the message is queued whole when the future completes,
            /// and not at all if the future is dropped before (it is dropped with it). A
            /// message with no frames is refused at once.
            ///
            /// # Errors
            ///
            /// As `try_send`, except that it waits instead of returning
            /// [`Error::WouldBlock`](crate::Error::WouldBlock);
            /// [`Error::IoThreadStopped`](crate::Error::IoThreadStopped) if the context's
            /// I/O thread died. The message comes back inside the
            /// [`SendError`](crate::SendError).
            pub fn send_async(
                &mut self,
                msg: impl Into<$crate::Message>,
            ) -> impl std::future::Future<Output = Result<$out, $crate::SendError>> + Send + '_
            {
                let mut slot = Some(msg.into());
                std::future::poll_fn(move |cx| {
                    $crate::aio::poll_send(self, cx, &mut slot, |s, m| s.$step(m))
                })
            }
        }
    };
}

pub(crate) use async_send;

/// Generates `readable` and `writable` for a socket (every type).
macro_rules! async_ready {
    ($ty:ident) => {
        impl $ty {
            /// Waits until a receive would not block, as a [`Poller`](crate::Poller)
            /// judges it (the pattern's rules: a REQ with no request outstanding never is),
            /// without blocking the thread. Pair it with `try_recv`, as tokio's
            /// `TcpStream::readable` pairs with `try_read`; a `try_recv` after it may still
            /// find nothing (a SUB's message that matched no subscription, say), so loop.
            ///
            /// Cancellation safe: it takes nothing.
            ///
            /// # Errors
            ///
            /// [`Error::IoThreadStopped`](crate::Error::IoThreadStopped) if the context's
            /// I/O thread died.
            pub fn readable(
                &mut self,
            ) -> impl std::future::Future<Output = $crate::Result<()>> + Send + '_ {
                std::future::poll_fn(move |cx| {
                    $crate::aio::poll_interest(self, cx, $crate::Interest::READABLE)
                        .map(|r| r.map(drop))
                })
            }

            /// Waits until a send would not block, as a [`Poller`](crate::Poller) judges it,
            /// without blocking the thread. Pair it with `try_send`, and loop: another
            /// peer's queue may fill between the two.
            ///
            /// Cancellation safe: it sends nothing.
            ///
            /// # Errors
            ///
            /// [`Error::IoThreadStopped`](crate::Error::IoThreadStopped) if the context's
            /// I/O thread died.
            pub fn writable(
                &mut self,
            ) -> impl std::future::Future<Output = $crate::Result<()>> + Send + '_ {
                std::future::poll_fn(move |cx| {
                    $crate::aio::poll_interest(self, cx, $crate::Interest::WRITABLE)
                        .map(|r| r.map(drop))
                })
            }
        }
    };
}

pub(crate) use async_ready;

/// A [`futures_sink::Sink`] of messages over any socket that sends (feature `futures`):
/// each message goes out through the socket's non-blocking send, waiting for room on its
/// doorbell as [`send_async`](crate::Push::send_async) does.
///
/// The sink holds at most one message that found no room (`start_send` then
/// `poll_ready`/`poll_flush` moves it on), so it never buffers more than the socket's own
/// queues allow. "Flushed" means handed to the socket's queues; the I/O thread writes
/// them out from there. When the wrapped socket also receives, the sink is its
/// `futures_core::Stream` too, so one value can be split with `StreamExt::split`.
///
/// Cancellation: a message given to `start_send` is queued whole or, if the sink is
/// dropped before it could be, not at all ([`MessageSink::into_inner`] hands it back).
///
/// # Examples
///
/// ```
/// use futures::{SinkExt, StreamExt};
/// use ferromq::{Context, Message, MessageSink};
/// # futures::executor::block_on(async {
/// let ctx = Context::new();
/// let mut pull = ctx.pull()?;
/// pull.bind("inproc://sink-doc")?;
/// let mut push = ctx.push()?;
/// push.connect("inproc://sink-doc")?;
///
/// let mut sink = MessageSink::new(push);
/// sink.send(Message::from("one")).await.unwrap();
/// sink.send(Message::from("two")).await.unwrap();
/// assert_eq!(pull.next().await.unwrap()?, "one");
/// assert_eq!(pull.next().await.unwrap()?, "two");
/// # Ok::<(), ferromq::Error>(()) }).unwrap();
/// ```
#[cfg(feature = "futures")]
#[derive(Debug)]
pub struct MessageSink<S> {
    socket: S,
    /// A message given to `start_send` that found no room yet.
    pending: Option<Message>,
}

#[cfg(feature = "futures")]
impl<S: crate::Pollable> MessageSink<S> {
    /// A sink over `socket`.
    pub fn new(socket: S) -> MessageSink<S> {
        MessageSink {
            socket,
            pending: None,
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        &self.socket
    }

    /// The socket, for its other calls (options, `recv_async`, ...).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.socket
    }

    /// The socket back, with the message given to the sink and not yet queued, if any.
    pub fn into_inner(self) -> (S, Option<Message>) {
        (self.socket, self.pending)
    }

    /// Moves the message held, if any, into the socket's queues.
    fn poll_pending(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), SendError>> {
        if self.pending.is_none() {
            return Poll::Ready(Ok(()));
        }
        poll_send(&mut self.socket, cx, &mut self.pending, |s, m| {
            s.proxy_send(m)
        })
    }
}

#[cfg(feature = "futures")]
impl<S: crate::Pollable + Unpin> futures_sink::Sink<Message> for MessageSink<S> {
    type Error = SendError;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), SendError>> {
        self.get_mut().poll_pending(cx)
    }

    fn start_send(self: std::pin::Pin<&mut Self>, item: Message) -> Result<(), SendError> {
        let this = self.get_mut();
        let item = crate::socket::refuse_empty(item)?;
        if this.pending.is_some() {
            return Err(SendError::new(
                Error::WrongState("start_send before poll_ready said the sink was ready"),
                item,
            ));
        }
        // Straight into the socket's queues when there is room; held otherwise.
        match this.socket.proxy_send(item) {
            Err(e) if matches!(e.error(), Error::WouldBlock) => {
                this.pending = Some(e.into_message());
                Ok(())
            }
            other => other,
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), SendError>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), SendError>> {
        self.get_mut().poll_pending(cx)
    }
}

/// The wrapped socket's stream of received messages.
#[cfg(feature = "futures")]
impl<S: futures_core::Stream + Unpin> futures_core::Stream for MessageSink<S> {
    type Item = S::Item;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<S::Item>> {
        std::pin::Pin::new(&mut self.get_mut().socket).poll_next(cx)
    }
}
