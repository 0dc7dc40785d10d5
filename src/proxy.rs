//! The built-in proxy: forwards messages between a frontend and a backend socket, both
//! ways where the socket types allow, with an optional capture socket (libzmq's
//! `zmq_proxy_steerable`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::poll::{poll_until, Interest, PollItem, Pollable, Poller, Waker};
use crate::socket_type::SocketType;

/// How many messages one direction forwards before the other gets its turn.
const BATCH: usize = 1024;

/// A proxy between two sockets, as libzmq's `zmq_proxy`: what the frontend receives goes
/// out of the backend and, where both types allow it, what the backend receives goes out
/// of the frontend. The classic pairs are ROUTER↔DEALER (a request-reply broker),
/// XSUB↔XPUB (a pub-sub forwarder: subscriptions flow back upstream) and PULL→PUSH (a
/// streamer). Messages are forwarded whole, every frame as received, so a ROUTER's
/// routing-id envelope travels with the request and routes the reply back.
///
/// [`Proxy::run`] forwards in the calling thread until [`ProxyControl::stop`] is called
/// from another one; the sockets are only borrowed, so they are usable again afterwards.
///
/// Unlike libzmq's proxy it never blocks on one socket while the other has work: a
/// message that the destination cannot take yet (high-water mark) waits inside the proxy
/// and the proxy stops reading that direction until there is room, so back-pressure
/// reaches the sender without stalling the other direction. A capture socket gets a copy
/// of every message forwarded either way, but only when it has room: a slow or absent
/// capture reader loses copies (counted in [`ProxyStats::capture_dropped`]) instead of
/// stalling the proxy, as it would in libzmq.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferromq::{Context, Proxy};
///
/// let ctx = Context::new();
/// let mut frontend = ctx.router()?;
/// frontend.bind("inproc://proxy-front")?;
/// let mut backend = ctx.dealer()?;
/// backend.bind("inproc://proxy-back")?;
///
/// let proxy = Proxy::new(&mut frontend, &mut backend);
/// let control = proxy.control();
/// std::thread::scope(|s| -> ferromq::Result<()> {
///     let running = s.spawn(move || proxy.run());
///
///     let mut worker = ctx.rep()?;
///     worker.connect("inproc://proxy-back")?;
///     let mut client = ctx.req()?;
///     client.connect("inproc://proxy-front")?;
///
///     let pending = client.send("ping")?;
///     let request = worker.recv_timeout(Duration::from_secs(5))?;
///     assert_eq!(request.body(), &"ping");
///     request.reply("pong")?;
///     assert_eq!(pending.recv_timeout(Duration::from_secs(5))?, "pong");
///
///     control.stop();
///     let stats = running.join().expect("proxy thread")?;
///     assert_eq!((stats.to_backend, stats.to_frontend), (1, 1));
///     Ok(())
/// })?;
/// # Ok::<(), ferromq::Error>(())
/// ```
pub struct Proxy<'a> {
    frontend: &'a mut dyn Pollable,
    backend: &'a mut dyn Pollable,
    capture: Option<&'a mut dyn Pollable>,
    poller: Poller,
    control: ProxyControl,
}

impl std::fmt::Debug for Proxy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("frontend", &self.frontend.core_ref().0.socket_type())
            .field("backend", &self.backend.core_ref().0.socket_type())
            .field(
                "capture",
                &self.capture.as_ref().map(|c| c.core_ref().0.socket_type()),
            )
            .field("stats", &self.control.stats())
            .finish()
    }
}

/// Steers a running [`Proxy`] from any thread: stop, pause, resume, read its counters.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProxyControl {
    shared: Arc<ControlShared>,
    waker: Waker,
}

#[derive(Debug, Default)]
struct ControlShared {
    stop: AtomicBool,
    paused: AtomicBool,
    to_backend: AtomicU64,
    bytes_to_backend: AtomicU64,
    to_frontend: AtomicU64,
    bytes_to_frontend: AtomicU64,
    dropped: AtomicU64,
    capture_dropped: AtomicU64,
}

impl ControlShared {
    /// Adds one batch to the counters; true when it moved anything.
    fn record(&self, moved: &Moved, to_backend: bool) -> bool {
        let (messages, bytes) = if to_backend {
            (&self.to_backend, &self.bytes_to_backend)
        } else {
            (&self.to_frontend, &self.bytes_to_frontend)
        };
        messages.fetch_add(moved.messages, Relaxed);
        bytes.fetch_add(moved.bytes, Relaxed);
        self.dropped.fetch_add(moved.dropped, Relaxed);
        self.capture_dropped
            .fetch_add(moved.capture_dropped, Relaxed);
        moved.messages + moved.dropped > 0
    }
}

/// What a proxy has forwarded (libzmq's `STATISTICS` reply, in messages and bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Messages received on the frontend and sent out of the backend.
    pub to_backend: u64,
    /// Their bytes, all frames summed.
    pub bytes_to_backend: u64,
    /// Messages received on the backend and sent out of the frontend.
    pub to_frontend: u64,
    /// Their bytes, all frames summed.
    pub bytes_to_frontend: u64,
    /// Messages the destination refused for good and the proxy discarded: a reply for a
    /// peer that has gone (a mandatory ROUTER's unroutable message, a REP's vanished
    /// requester).
    pub dropped: u64,
    /// Copies the capture socket had no room for.
    pub capture_dropped: u64,
}

impl ProxyControl {
    /// Ends [`Proxy::run`] soon: after the batch under way, never in the middle of a
    /// message. A message held back by back-pressure stays unsent.
    pub fn stop(&self) {
        self.shared.stop.store(true, Relaxed);
        self.waker.wake();
    }

    /// Stops forwarding until [`ProxyControl::resume`]; messages wait in the sockets'
    /// queues (and, at their high-water marks, hold their senders back).
    pub fn pause(&self) {
        self.shared.paused.store(true, Relaxed);
        self.waker.wake();
    }

    /// Forwards again after [`ProxyControl::pause`].
    pub fn resume(&self) {
        self.shared.paused.store(false, Relaxed);
        self.waker.wake();
    }

    /// The counters so far (updated after every batch).
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        ProxyStats {
            to_backend: s.to_backend.load(Relaxed),
            bytes_to_backend: s.bytes_to_backend.load(Relaxed),
            to_frontend: s.to_frontend.load(Relaxed),
            bytes_to_frontend: s.bytes_to_frontend.load(Relaxed),
            dropped: s.dropped.load(Relaxed),
            capture_dropped: s.capture_dropped.load(Relaxed),
        }
    }
}

/// Whether a socket type receives and sends at all (its proxy directions).
fn receives(t: SocketType) -> bool {
    !matches!(t, SocketType::Push | SocketType::Pub)
}

fn sends(t: SocketType) -> bool {
    !matches!(t, SocketType::Pull | SocketType::Sub)
}

/// One direction's state: whether it exists, and the message held back by back-pressure.
#[derive(Default)]
struct Flow {
    enabled: bool,
    held: Option<Message>,
}

/// What moving one batch achieved.
struct Moved {
    messages: u64,
    bytes: u64,
    dropped: u64,
    capture_dropped: u64,
}

impl<'a> Proxy<'a> {
    /// A proxy from `frontend` to `backend` (and back, where both types allow).
    pub fn new<F, B>(frontend: &'a mut F, backend: &'a mut B) -> Proxy<'a>
    where
        F: Pollable + 'a,
        B: Pollable + 'a,
    {
        let poller = Poller::new();
        let control = ProxyControl {
            shared: Arc::default(),
            waker: poller.waker(),
        };
        Proxy {
            frontend,
            backend,
            capture: None,
            poller,
            control,
        }
    }

    /// Sends a copy of every forwarded message to `capture` too (libzmq's capture
    /// socket), when it has room.
    pub fn with_capture<C: Pollable + 'a>(mut self, capture: &'a mut C) -> Proxy<'a> {
        self.capture = Some(capture);
        self
    }

    /// A handle to stop, pause, resume and watch the proxy from other threads.
    pub fn control(&self) -> ProxyControl {
        self.control.clone()
    }

    /// Forwards until stopped, then returns the final counters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when no direction can be forwarded (say PUSH→PULL: the
    /// frontend cannot receive) or the capture socket cannot send; otherwise any error
    /// a socket reports other than "nothing now" or "peer gone".
    pub fn run(mut self) -> Result<ProxyStats> {
        let front_type = self.frontend.core_ref().0.socket_type();
        let back_type = self.backend.core_ref().0.socket_type();
        let mut forward = Flow {
            enabled: receives(front_type) && sends(back_type),
            held: None,
        };
        let mut backward = Flow {
            enabled: receives(back_type) && sends(front_type),
            held: None,
        };
        if !forward.enabled && !backward.enabled {
            return Err(Error::InvalidOption(format!(
                "a proxy cannot forward between {front_type} and {back_type}"
            )));
        }
        if let Some(capture) = &self.capture {
            let t = capture.core_ref().0.socket_type();
            if !sends(t) {
                return Err(Error::InvalidOption(format!(
                    "a {t} socket cannot capture: it does not send"
                )));
            }
        }
        let shared = self.control.shared.clone();
        while !shared.stop.load(Relaxed) {
            if shared.paused.load(Relaxed) {
                poll_until(&mut [], Some(self.poller.wake_receiver()), None);
                continue;
            }
            let mut progress = false;
            if forward.enabled {
                let moved = pump(
                    &mut *self.frontend,
                    &mut *self.backend,
                    self.capture.as_deref_mut(),
                    &mut forward.held,
                )?;
                progress |= shared.record(&moved, true);
            }
            if backward.enabled {
                let moved = pump(
                    &mut *self.backend,
                    &mut *self.frontend,
                    self.capture.as_deref_mut(),
                    &mut backward.held,
                )?;
                progress |= shared.record(&moved, false);
            }
            if progress {
                continue;
            }
            // Nothing moved: wait until a source can be read (for a direction with nothing
            // held back) or a destination has room (for one with a message held back).
            let front = interest(&forward, true) | interest(&backward, false);
            let back = interest(&forward, false) | interest(&backward, true);
            poll_until(
                &mut [
                    PollItem::from_dyn(&mut *self.frontend, front),
                    PollItem::from_dyn(&mut *self.backend, back),
                ],
                Some(self.poller.wake_receiver()),
                None,
            );
        }
        Ok(self.control.stats())
    }
}

/// What a flow waits for on its source (`source == true`) or its destination.
fn interest(flow: &Flow, source: bool) -> Interest {
    match (flow.enabled, flow.held.is_some(), source) {
        (false, _, _) => Interest::NONE,
        (true, false, true) => Interest::READABLE,
        (true, true, false) => Interest::WRITABLE,
        _ => Interest::NONE,
    }
}

/// Moves up to a batch from `src` to `dst`, copying each message to `capture`. A message
/// `dst` cannot take yet is kept in `held` and ends the batch.
fn pump<'o>(
    src: &mut (dyn Pollable + 'o),
    dst: &mut (dyn Pollable + 'o),
    mut capture: Option<&mut (dyn Pollable + 'o)>,
    held: &mut Option<Message>,
) -> Result<Moved> {
    let mut moved = Moved {
        messages: 0,
        bytes: 0,
        dropped: 0,
        capture_dropped: 0,
    };
    for _ in 0..BATCH {
        let msg = match held.take() {
            Some(msg) => msg,
            None => match src.proxy_recv() {
                Ok(msg) => {
                    if let Some(capture) = capture.as_deref_mut() {
                        if capture.proxy_send(msg.clone()).is_err() {
                            moved.capture_dropped += 1;
                        }
                    }
                    msg
                }
                // Nothing queued, or not now for this pattern (a REP holding a request).
                Err(Error::WouldBlock | Error::WrongState(_)) => break,
                // A REQ whose peer left: its request is gone, nothing to forward.
                Err(Error::Disconnected) => continue,
                Err(e) => return Err(e),
            },
        };
        let bytes = msg.byte_len();
        match dst.proxy_send(msg) {
            Ok(()) => {
                moved.messages += 1;
                moved.bytes += bytes as u64;
            }
            Err(e) => match e.error() {
                Error::WouldBlock | Error::WrongState(_) => {
                    *held = Some(e.into_message());
                    break;
                }
                Error::HostUnreachable | Error::Disconnected | Error::Closed => {
                    moved.dropped += 1;
                }
                _ => return Err(e.into_parts().0),
            },
        }
    }
    Ok(moved)
}
