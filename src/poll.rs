//! Waiting on several sockets at once: [`poll`], [`Poller`] and its [`Waker`].
//!
//! Every socket has a doorbell (a one-slot channel) that its pipes ring on the
//! transitions a waiter cares about: a message arriving in an empty pipe whose reader
//! looked and found nothing, room appearing in a full pipe whose writer looked and found
//! none, and a peer attaching or leaving. Polling asks each socket whether it is ready,
//! which leaves every pipe it looked at in that "looked and found nothing" state, then
//! waits on all the doorbells (and the poller's own waker) with one crossbeam `Select`.
//! So a poll that finds nothing sleeps until something changes: no busy-waiting, and no
//! thread per socket.
//!
//! Readiness follows each pattern's rules, as libzmq's `ZMQ_POLLIN`/`ZMQ_POLLOUT` do: a
//! REQ with no request outstanding is writable, never readable; a PUB and a ROUTER are
//! always writable because they never block on send; a SUB is readable only for a
//! message that matches its subscriptions.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use crossbeam_channel::{Receiver, Select, Sender};

/// What a poll waits for on one socket: to receive, to send, or either.
///
/// # Examples
///
/// ```
/// use ferromq::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert!(Interest::NONE.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// Nothing.
    pub const NONE: Interest = Interest(0);
    /// A receive would not block (libzmq's `ZMQ_POLLIN`).
    pub const READABLE: Interest = Interest(1);
    /// A send would not block (libzmq's `ZMQ_POLLOUT`).
    pub const WRITABLE: Interest = Interest(2);
    /// Either.
    pub const BOTH: Interest = Interest(3);

    /// True when this includes [`Interest::READABLE`].
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// True when this includes [`Interest::WRITABLE`].
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// True for [`Interest::NONE`].
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// An interest from its two flags.
    pub(crate) fn from_flags(readable: bool, writable: bool) -> Interest {
        Interest(u8::from(readable) | (u8::from(writable) << 1))
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("READABLE | WRITABLE"),
        }
    }
}

/// A socket that [`poll`] and [`Poller`] can wait on, and that a
/// [`Proxy`](crate::Proxy) can forward through: every ferromq socket type, the dynamic
/// [`Socket`](crate::Socket), and a [`Pending`](crate::Pending) request (readable when
/// its reply is there).
///
/// The trait is sealed: only ferromq's sockets implement it.
pub trait Pollable: sealed::Sealed {}

impl<T: sealed::Sealed + ?Sized> Pollable for T {}

pub(crate) mod sealed {
    use crate::error::{Error, Result, SendError};
    use crate::message::Message;
    use crate::socket::SocketCore;

    use super::Interest;

    /// A socket's core, handed out opaquely (the type is public only so that the sealed
    /// trait's signature may name it; nothing outside the crate can use it).
    #[derive(Debug)]
    pub struct CoreRef<'a>(pub(crate) &'a SocketCore);

    /// What polling and proxying need from a socket; implemented by each pattern module.
    pub trait Sealed: Send {
        /// The socket's core (its doorbell and type).
        fn core_ref(&self) -> CoreRef<'_>;

        /// Which part of `interest` holds now. What it finds not ready is left parked,
        /// so a change rings the socket's doorbell.
        fn poll_ready(&mut self, interest: Interest) -> Interest;

        /// Receives without blocking, as the socket's own `try_recv` would; for the proxy.
        fn proxy_recv(&mut self) -> Result<Message> {
            Err(Error::WrongState("this socket cannot receive in a proxy"))
        }

        /// Sends without blocking, as the socket's own `try_send` would; for the proxy.
        fn proxy_send(&mut self, msg: Message) -> Result<(), SendError> {
            Err(SendError::new(
                Error::WrongState("this socket cannot send in a proxy"),
                msg,
            ))
        }
    }
}

/// One socket to poll and what to wait for on it.
///
/// # Examples
///
/// ```
/// use ferromq::{Context, PollItem};
///
/// let ctx = Context::new();
/// let mut pull = ctx.pull()?;
/// let mut push = ctx.push()?;
/// let items = [PollItem::readable(&mut pull), PollItem::writable(&mut push)];
/// assert_eq!(items.len(), 2);
/// # Ok::<(), ferromq::Error>(())
/// ```
pub struct PollItem<'a> {
    socket: &'a mut dyn Pollable,
    interest: Interest,
}

impl<'a> PollItem<'a> {
    /// Waits for `interest` on `socket`.
    pub fn new<S: Pollable + 'a>(socket: &'a mut S, interest: Interest) -> PollItem<'a> {
        PollItem { socket, interest }
    }

    /// An item for a socket already seen as a trait object (the proxy's).
    pub(crate) fn from_dyn(socket: &'a mut dyn Pollable, interest: Interest) -> PollItem<'a> {
        PollItem { socket, interest }
    }

    /// Waits until `socket` can receive without blocking.
    pub fn readable<S: Pollable + 'a>(socket: &'a mut S) -> PollItem<'a> {
        PollItem::new(socket, Interest::READABLE)
    }

    /// Waits until `socket` can send without blocking.
    pub fn writable<S: Pollable + 'a>(socket: &'a mut S) -> PollItem<'a> {
        PollItem::new(socket, Interest::WRITABLE)
    }
}

impl fmt::Debug for PollItem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollItem")
            .field("socket_type", &self.socket.core_ref().0.socket_type())
            .field("interest", &self.interest)
            .finish()
    }
}

/// What a poll found: per item (in the order given), which of its interests hold.
///
/// Every ready item is reported, not just the first, so a loop that serves each ready
/// socket once per poll serves them all fairly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    ready: Vec<Interest>,
    woken: bool,
}

impl Ready {
    /// What holds for item `index` ([`Interest::NONE`] for an index out of range).
    pub fn get(&self, index: usize) -> Interest {
        self.ready.get(index).copied().unwrap_or_default()
    }

    /// True when item `index` can receive without blocking.
    pub fn is_readable(&self, index: usize) -> bool {
        self.get(index).is_readable()
    }

    /// True when item `index` can send without blocking.
    pub fn is_writable(&self, index: usize) -> bool {
        self.get(index).is_writable()
    }

    /// How many items are ready (libzmq's `zmq_poll` return value).
    pub fn count(&self) -> usize {
        self.ready.iter().filter(|r| !r.is_empty()).count()
    }

    /// True when no item is ready: the timeout passed or the poller was woken.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// True when [`Waker::wake`] ended (or was pending at the start of) this poll.
    pub fn woken(&self) -> bool {
        self.woken
    }
}

/// Waits until at least one item is ready or `timeout` passes (`None`: no limit), and
/// says which are ready. A zero timeout only looks; a timeout too long to represent (up
/// to [`Duration::MAX`]) is no limit. This is libzmq's `zmq_poll`; use a [`Poller`] to be
/// able to interrupt the wait from another thread.
///
/// With no items it sleeps for the timeout and returns an empty [`Ready`]; with no items
/// and no timeout it blocks for ever, as `zmq_poll(NULL, 0, -1)` does (nothing could end
/// the wait; a [`Poller`]'s waker can end its own).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferromq::{poll, Context, PollItem};
///
/// let ctx = Context::new();
/// let mut quiet = ctx.pull()?;
/// quiet.bind("inproc://poll-quiet")?;
/// let mut busy = ctx.pull()?;
/// busy.bind("inproc://poll-busy")?;
/// let mut push = ctx.push()?;
/// push.connect("inproc://poll-busy")?;
/// push.send("work")?;
///
/// let ready = poll(
///     &mut [PollItem::readable(&mut quiet), PollItem::readable(&mut busy)],
///     Some(Duration::from_secs(5)),
/// );
/// assert!(!ready.is_readable(0));
/// assert!(ready.is_readable(1));
/// assert_eq!(busy.try_recv()?, "work");
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Ready {
    poll_until(items, None, deadline(timeout))
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    // A timeout too far to represent is no timeout.
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// A poll that another thread can interrupt with the poller's [`Waker`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferromq::{Context, PollItem, Poller};
///
/// let ctx = Context::new();
/// let mut pull = ctx.pull()?;
/// pull.bind("inproc://poller-doc")?;
///
/// let mut poller = Poller::new();
/// let waker = poller.waker();
/// std::thread::spawn(move || waker.wake());
///
/// // Nothing to read: the poll returns when the other thread wakes it.
/// let ready = poller.poll(&mut [PollItem::readable(&mut pull)], Some(Duration::from_secs(10)));
/// assert!(ready.woken());
/// assert!(ready.is_empty());
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Poller {
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    /// The task of a [`Poller::poll_async`] under way, woken by the [`Waker`].
    task: Arc<AtomicWaker>,
}

impl Poller {
    /// A new poller.
    pub fn new() -> Poller {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        Poller {
            wake_tx,
            wake_rx,
            task: Arc::new(AtomicWaker::new()),
        }
    }

    /// A handle that interrupts this poller's current or next poll, from any thread.
    pub fn waker(&self) -> Waker {
        Waker {
            tx: self.wake_tx.clone(),
            task: self.task.clone(),
        }
    }

    /// Waits, without blocking the thread, until at least one item is ready or the
    /// poller's [`Waker`] is used: the async form of [`Poller::poll`], through the same
    /// readiness checks, woken by the items' doorbells. There is no timeout argument:
    /// wrap the future in the runtime's timeout.
    ///
    /// Cancellation safe: polling takes and sends nothing; a wake that comes after the
    /// future is dropped ends the next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::{Context, PollItem, Poller};
    /// # futures::executor::block_on(async {
    /// let ctx = Context::new();
    /// let mut pull = ctx.pull()?;
    /// pull.bind("inproc://poll-async-doc")?;
    /// let mut push = ctx.push()?;
    /// push.connect("inproc://poll-async-doc")?;
    /// push.send("work")?;
    ///
    /// let mut poller = Poller::new();
    /// let ready = poller.poll_async(&mut [PollItem::readable(&mut pull)]).await;
    /// assert!(ready.is_readable(0));
    /// assert_eq!(pull.try_recv()?, "work");
    /// # Ok::<(), ferromq::Error>(()) }).unwrap();
    /// ```
    pub fn poll_async<'p, 'i>(&'p mut self, items: &'p mut [PollItem<'i>]) -> PollAsync<'p, 'i> {
        PollAsync {
            poller: self,
            items,
        }
    }

    /// As [`poll`], and also returns (with [`Ready::woken`] set) when the poller's
    /// [`Waker`] is used. A wake that comes while nobody polls ends the next poll at once.
    pub fn poll(&mut self, items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Ready {
        poll_until(items, Some(&self.wake_rx), deadline(timeout))
    }

    /// As [`Poller::poll`] with a deadline instead of a timeout (`None`: no limit).
    pub fn poll_until(&mut self, items: &mut [PollItem<'_>], deadline: Option<Instant>) -> Ready {
        poll_until(items, Some(&self.wake_rx), deadline)
    }
}

impl Poller {
    /// The receiving side of the waker, for the proxy's own waits.
    pub(crate) fn wake_receiver(&self) -> &Receiver<()> {
        &self.wake_rx
    }
}

impl Default for Poller {
    fn default() -> Self {
        Poller::new()
    }
}

/// Interrupts a [`Poller`]'s poll from another thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Waker {
    tx: Sender<()>,
    task: Arc<AtomicWaker>,
}

impl Waker {
    /// Ends the poller's current poll (blocking or async), or its next one if none is
    /// under way. Wakes that come before the poll notices them count once. Never blocks.
    pub fn wake(&self) {
        let _ = self.tx.try_send(());
        self.task.wake();
    }
}

/// The future of [`Poller::poll_async`]: what a poll found, once something is ready or
/// the poller was woken.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct PollAsync<'p, 'i> {
    poller: &'p mut Poller,
    items: &'p mut [PollItem<'i>],
}

impl Future for PollAsync<'_, '_> {
    type Output = Ready;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Ready> {
        let this = self.get_mut();
        for _ in 0..4 {
            let woken = this.poller.wake_rx.try_recv().is_ok();
            // Looking parks every pipe found not ready, as the blocking poll's does.
            let ready: Vec<Interest> = this
                .items
                .iter_mut()
                .map(|item| item.socket.poll_ready(item.interest))
                .collect();
            if woken || ready.iter().any(|r| !r.is_empty()) {
                return Poll::Ready(Ready { ready, woken });
            }
            // Register on every doorbell and the waker, then look for a ring that came
            // since the look: found, look again; otherwise the next ring wakes the task.
            this.poller.task.register(cx.waker());
            let mut rung = !this.poller.wake_rx.is_empty();
            for item in this.items.iter() {
                let signal = item.socket.core_ref().0.signal();
                signal.register(cx.waker());
                rung |= signal.take_ring();
            }
            if !rung {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The poll loop: look, and if nothing is ready, wait on every doorbell and the waker.
pub(crate) fn poll_until(
    items: &mut [PollItem<'_>],
    waker: Option<&Receiver<()>>,
    deadline: Option<Instant>,
) -> Ready {
    let mut woken = waker.is_some_and(|w| w.try_recv().is_ok());
    loop {
        let ready: Vec<Interest> = items
            .iter_mut()
            .map(|item| item.socket.poll_ready(item.interest))
            .collect();
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        if woken || expired || ready.iter().any(|r| !r.is_empty()) {
            return Ready { ready, woken };
        }
        // Every pipe looked at is parked now: wait for a doorbell. The socket's `Arc` to
        // its signal is cloned out so the items stay free to be looked at again.
        let signals: Vec<_> = items
            .iter()
            .map(|item| item.socket.core_ref().0.signal().clone())
            .collect();
        if signals.is_empty() && waker.is_none() {
            // Nothing can ever become ready: wait out the timeout, as libzmq's `zmq_poll`
            // sleeps with no items (a `Select` with nothing in it would panic).
            wait_for_nothing(deadline);
            continue;
        }
        let mut select = Select::new();
        for signal in &signals {
            select.recv(signal.receiver());
        }
        let waker_index = waker.map(|w| select.recv(w));
        let index = match deadline {
            None => select.ready(),
            Some(d) => match select.ready_deadline(d) {
                Ok(index) => index,
                Err(_) => continue, // expired: look once more and return
            },
        };
        if Some(index) == waker_index {
            woken = waker.is_some_and(|w| w.try_recv().is_ok());
        } else if let Some(signal) = signals.get(index) {
            // Take the ring so the next wait does not return for it again.
            let _ = signal.receiver().try_recv();
        }
    }
}

/// Sleeps until `deadline`; with none, for ever (libzmq's `zmq_poll` with no items and an
/// infinite timeout blocks the same way: nothing can end the wait).
fn wait_for_nothing(deadline: Option<Instant>) {
    match deadline {
        Some(d) => std::thread::sleep(d.saturating_duration_since(Instant::now())),
        None => loop {
            std::thread::park();
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_with_no_items_waits_for_its_timeout() {
        let start = Instant::now();
        let ready = poll(&mut [], Some(Duration::from_millis(30)));
        assert!(ready.is_empty());
        assert!(!ready.woken());
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(poll(&mut [], Some(Duration::ZERO)).is_empty());
        // A timeout too far to represent, with nothing to poll, must not panic either; it
        // would wait for ever, so only the poller's waker ends it here.
        let mut poller = Poller::new();
        poller.waker().wake();
        let ready = poller.poll(&mut [], Some(Duration::MAX));
        assert!(ready.woken() && ready.is_empty());
    }

    #[test]
    fn poller_with_no_items_and_no_timeout_returns_when_woken() {
        let mut poller = Poller::new();
        let waker = poller.waker();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let ready = poller.poll(&mut [], None);
            let _ = tx.send(ready.woken());
        });
        std::thread::sleep(Duration::from_millis(20));
        waker.wake();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    }

    #[test]
    fn poll_with_no_items_and_no_timeout_blocks_like_libzmq() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        // Left blocked for the rest of the test process: nothing can wake it, by design.
        std::thread::spawn(move || {
            poll(&mut [], None);
            let _ = tx.send(());
        });
        // (`tx` moved into the thread: a panic there disconnects the channel.)
        // Still blocked, not ended: an empty `Select` used to panic here.
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(100)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout)
        );
    }
}
