//! The context: I/O threads and the inproc namespace that a group of sockets share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use crate::engine::{IoThread, ZapHub};
use crate::error::{Error, Result};
use crate::mailbox::{
    early_pipes, next_id, queues_before_connect, EarlyEnds, Partner, Peer, SocketEvent,
    SocketShared,
};
use crate::message::Metadata;
use crate::options::Options;
use crate::pipe::{combined_hwm, pipe, write_probe, Notify};

/// The owner of ferromq's I/O threads and of the `inproc://` namespace.
///
/// Create one per process (or per independent part of a program) and make every socket
/// from it. A context is cheap to clone: clones share the same threads. The I/O threads
/// (one by default) start when the first tcp or ipc endpoint is bound or connected, and
/// serve every connection of every socket: there is no thread per connection.
///
/// Dropping the last clone, after every socket made from it is gone, waits while the
/// sockets' connections flush what they queued, each at most for its socket's linger time
/// (1 s by default, see `set_linger` on any socket), then stops the threads. It never waits
/// for a peer that is not there: a connection that never finished its handshake, or that
/// broke, is not waited for, nor is a reconnect after the socket was dropped. Only a
/// linger longer than the default lets it wait longer, and then only on a connected peer
/// that keeps its connection open without reading (heartbeats, see
/// `set_heartbeat_interval`, find such a peer out).
///
/// Should an I/O thread die (a bug, or the operating system's poller failing), every
/// socket of the context reports [`Error::IoThreadStopped`] from then on, and dropping the
/// context still returns.
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// let ctx = Context::new();
/// let mut pull = ctx.pull()?;
/// pull.bind("inproc://jobs")?;
/// let mut push = ctx.push()?;
/// push.connect("inproc://jobs")?;
/// push.send("job 1")?;
/// assert_eq!(pull.recv()?, "job 1");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    io_threads: usize,
    /// Whether waiting threads spin before they sleep; see [`ContextBuilder::spin`].
    spin: bool,
    io: Mutex<Vec<IoThread>>,
    /// Set by an I/O thread that stopped other than by Shutdown; see [`Error::IoThreadStopped`].
    io_dead: Arc<AtomicBool>,
    inproc: Mutex<Inproc>,
    /// The socket bound at [`ZAP_ENDPOINT`](crate::engine::ZAP_ENDPOINT), for the I/O
    /// threads' ZAP clients; kept in step with `inproc` under its lock.
    zap: Arc<ZapHub>,
}

/// One side of an inproc connection, as the registry keeps it.
struct InprocSide {
    shared: Arc<SocketShared>,
    identity: Bytes,
    /// `ZMQ_PROBE_ROUTER`: starts its pipe toward the other side with an empty message.
    probe_router: bool,
    /// For a connecting side: the endpoint string it connected with.
    endpoint: Option<Arc<str>>,
    /// `ZMQ_HELLO_MSG`: the first message on its pipe toward the other side.
    hello: Option<Bytes>,
    /// For a connecting side: the routing id it names the bound side with
    /// (`ZMQ_CONNECT_ROUTING_ID`).
    routing_id: Option<Bytes>,
    /// For a connect waiting for its bind under `ZMQ_IMMEDIATE=0`: the far ends of the
    /// pipes its socket already queues into (up to its send high-water mark), which the
    /// binder gets when it comes, even if the connecting socket has closed since.
    early: Option<EarlyEnds>,
}

impl InprocSide {
    /// Writes what this side's pipe toward the other starts with: the probe
    /// (`ZMQ_PROBE_ROUTER`), then the hello message (`ZMQ_HELLO_MSG`). A fresh pipe has
    /// room for both.
    fn greet(&self, toward_peer: &crate::pipe::PipeWriter) {
        if self.probe_router {
            write_probe(toward_peer);
        }
        if let Some(hello) = &self.hello {
            let _ = toward_peer.try_write(crate::message::Message::from(hello.clone()));
        }
    }
}

#[derive(Default)]
struct Inproc {
    bound: HashMap<String, InprocSide>,
    /// Connects made before the bind, as libzmq 4.x allows.
    pending: HashMap<String, Vec<InprocSide>>,
}

/// The settings of a [`Context`] to be made: how many I/O threads, and whether waiting
/// threads spin before they sleep. Made by [`Context::builder`]; each setting left alone
/// keeps the default of [`Context::new`].
///
/// # Examples
///
/// ```
/// use ferromq::Context;
///
/// // Two I/O threads, and no thread spends CPU looking for work before it sleeps.
/// let ctx = Context::builder().io_threads(2).spin(false).build();
/// assert_eq!(ctx.io_threads(), 2);
/// assert!(!ctx.spin());
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ContextBuilder {
    io_threads: usize,
    spin: bool,
}

impl ContextBuilder {
    /// How many I/O threads the context runs (at least one; 0 counts as 1). One by
    /// default. More than one helps only when many connections are busy at once; sockets
    /// are spread over the threads in turn.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::builder().io_threads(0).build();
    /// assert_eq!(ctx.io_threads(), 1);
    /// ```
    pub fn io_threads(mut self, n: usize) -> Self {
        self.io_threads = n.max(1);
        self
    }

    /// Whether a thread about to sleep first spins: yields the CPU and looks for work a
    /// few times (at most 20), so that a reply that comes within microseconds costs no
    /// wake-up. On by default. This applies to every kind of wait of the context's
    /// sockets: a caller blocked in a send or receive, a future about to return `Pending`
    /// (it holds its executor's thread for the spin, as a blocked caller holds its own),
    /// and the I/O threads' loops. With the spin off, a future returns `Pending` at once.
    ///
    /// The spin shortens round trips at the price of CPU time; it adapts (a spin that
    /// finds nothing halves the next one), so an idle socket stops spinning on its own.
    /// libzmq does not spin. Turn it off where CPU time is paid for or shared, or where
    /// threads outnumber cores; see BENCHMARKS.md for what it costs and buys.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromq::Context;
    ///
    /// let ctx = Context::builder().spin(false).build();
    /// let mut rep = ctx.rep()?;
    /// rep.bind("inproc://no-spin")?;
    /// let mut req = ctx.req()?;
    /// req.connect("inproc://no-spin")?;
    /// let waiting = req.send("ping")?;
    /// let request = rep.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(request.body(), "ping");
    /// request.reply("pong")?;
    /// assert_eq!(waiting.recv_timeout(Duration::from_secs(5))?, "pong");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spin(mut self, on: bool) -> Self {
        self.spin = on;
        self
    }

    /// Makes the context. Its I/O threads start when the first tcp or ipc endpoint is
    /// bound or connected.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::builder().build();
    /// assert_eq!(ctx.io_threads(), 1);
    /// assert!(ctx.spin());
    /// ```
    pub fn build(self) -> Context {
        Context {
            inner: Arc::new(ContextInner {
                io_threads: self.io_threads,
                spin: self.spin,
                io: Mutex::new(Vec::new()),
                io_dead: Arc::new(AtomicBool::new(false)),
                inproc: Mutex::new(Inproc::default()),
                zap: Arc::new(ZapHub::default()),
            }),
        }
    }
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder {
            io_threads: 1,
            spin: true,
        }
    }
}

impl Context {
    /// A context with one I/O thread and the spin on: `Context::builder().build()`.
    pub fn new() -> Self {
        Context::builder().build()
    }

    /// A context with `n` I/O threads (at least one): shorthand for
    /// `Context::builder().io_threads(n).build()`. More than one helps only when many
    /// connections are busy at once; sockets are spread over the threads in turn.
    pub fn with_io_threads(n: usize) -> Self {
        Context::builder().io_threads(n).build()
    }

    /// The settings of a new context, to change and then [`build`](ContextBuilder::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = ferromq::Context::builder().io_threads(2).spin(false).build();
    /// assert_eq!((ctx.io_threads(), ctx.spin()), (2, false));
    /// ```
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// How many I/O threads this context runs (or will run once tcp or ipc is used).
    pub fn io_threads(&self) -> usize {
        self.inner.io_threads
    }

    /// Whether this context's waiting threads spin before they sleep (see
    /// [`ContextBuilder::spin`]). True unless the context was built with `spin(false)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::Context;
    ///
    /// assert!(Context::new().spin());
    /// assert!(!Context::builder().spin(false).build().spin());
    /// ```
    pub fn spin(&self) -> bool {
        self.inner.spin
    }

    /// The I/O thread that serves the socket with this id, started on first use.
    ///
    /// # Errors
    ///
    /// [`Error::IoThreadStopped`] once any I/O thread of the context has died;
    /// [`Error::Io`] when a thread or its poller cannot be made.
    pub(crate) fn io_for(&self, socket_id: u64) -> Result<crate::engine::IoHandle> {
        if self.io_stopped() {
            return Err(Error::IoThreadStopped);
        }
        let mut io = lock(&self.inner.io);
        if io.is_empty() {
            for i in 0..self.inner.io_threads {
                io.push(IoThread::spawn(
                    i,
                    self.inner.io_dead.clone(),
                    self.inner.zap.clone(),
                    self.inner.spin,
                )?);
            }
        }
        let index = (socket_id % io.len() as u64) as usize;
        Ok(io[index].handle())
    }

    /// True once an I/O thread of this context stopped other than by its shutdown.
    pub(crate) fn io_stopped(&self) -> bool {
        self.inner.io_dead.load(Ordering::SeqCst)
    }

    /// Test hook: makes this context's I/O threads panic, as a bug in one would, so tests
    /// can check that every socket then reports [`Error::IoThreadStopped`]. Starts the
    /// threads if none runs yet. Not part of the API: never call it outside tests.
    #[doc(hidden)]
    pub fn test_hook_panic_io_threads(&self) {
        let io = {
            let mut io = lock(&self.inner.io);
            if io.is_empty() {
                for i in 0..self.inner.io_threads {
                    let (dead, zap) = (self.inner.io_dead.clone(), self.inner.zap.clone());
                    match IoThread::spawn(i, dead, zap, self.inner.spin) {
                        Ok(t) => io.push(t),
                        Err(_) => return,
                    }
                }
            }
            io.iter().map(IoThread::handle).collect::<Vec<_>>()
        };
        for handle in &io {
            handle.inject_panic();
        }
        // Return once the loops are gone, so the caller sees the effect at once.
        let deadline = crate::time::deadline(std::time::Instant::now(), Duration::from_secs(10));
        while !self.io_stopped() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub(crate) fn inproc_bind(
        &self,
        name: &str,
        shared: &Arc<SocketShared>,
        options: &Options,
    ) -> Result<()> {
        let mut reg = lock(&self.inner.inproc);
        if reg.bound.contains_key(name) {
            return Err(Error::AddressInUse(format!("inproc://{name}")));
        }
        let binder = InprocSide::new(shared, options, None);
        for connecter in reg.pending.remove(name).unwrap_or_default() {
            // A pending connect of an incompatible type is dropped: it has nobody to tell,
            // and a tcp peer of the wrong type would be refused at the handshake the same way.
            if connecter
                .shared
                .socket_type
                .is_compatible_with(binder.shared.socket_type)
            {
                join(connecter, &binder);
            }
        }
        reg.bound.insert(name.to_owned(), binder);
        sync_zap(&reg, &self.inner.zap);
        Ok(())
    }

    pub(crate) fn inproc_connect(
        &self,
        name: &str,
        shared: &Arc<SocketShared>,
        options: &Options,
        endpoint: Arc<str>,
    ) -> Result<()> {
        let mut reg = lock(&self.inner.inproc);
        let mut connecter = InprocSide::new(shared, options, Some(endpoint));
        match reg.bound.get(name) {
            Some(binder) => {
                let (ours, theirs) = (shared.socket_type, binder.shared.socket_type);
                if !ours.is_compatible_with(theirs) {
                    return Err(Error::IncompatiblePeer {
                        ours: ours.as_str(),
                        theirs: theirs.as_str().to_owned(),
                    });
                }
                join(connecter, binder);
            }
            None => {
                if !options.immediate && queues_before_connect(shared.socket_type) {
                    let (peer, ends) = early_pipes(
                        shared,
                        connecter.endpoint.clone(),
                        connecter.routing_id.clone(),
                    );
                    // The connecter's probe and hello lead its queue, as when it joins.
                    connecter.greet(&peer.tx);
                    shared.attach(peer);
                    connecter.early = Some(ends);
                }
                reg.pending
                    .entry(name.to_owned())
                    .or_default()
                    .push(connecter)
            }
        }
        Ok(())
    }

    pub(crate) fn inproc_unbind(&self, name: &str, socket_id: u64) {
        let mut reg = lock(&self.inner.inproc);
        if reg
            .bound
            .get(name)
            .is_some_and(|b| b.shared.id == socket_id)
        {
            reg.bound.remove(name);
        }
        sync_zap(&reg, &self.inner.zap);
    }

    /// Forgets a connect still waiting for its bind; true if there was one.
    pub(crate) fn inproc_cancel_pending(&self, endpoint: &str, socket_id: u64) -> bool {
        let mut reg = lock(&self.inner.inproc);
        let mut found = false;
        for waiting in reg.pending.values_mut() {
            waiting.retain(|s| {
                let mine = s.shared.id == socket_id && s.endpoint.as_deref() == Some(endpoint);
                found |= mine;
                !mine
            });
        }
        found
    }

    /// A socket is being dropped: forget its inproc names and tell its I/O thread.
    pub(crate) fn socket_closed(&self, shared: &Arc<SocketShared>, linger: Duration) {
        {
            let mut reg = lock(&self.inner.inproc);
            reg.bound.retain(|_, b| b.shared.id != shared.id);
            // A connect that queued before its bind keeps what it queued for the binder
            // (libzmq's `test_inproc_connect_and_close_first`); the rest are forgotten.
            for waiting in reg.pending.values_mut() {
                waiting.retain(|s| {
                    s.shared.id != shared.id || s.early.as_ref().is_some_and(|e| e.out.len() > 0)
                });
            }
            reg.pending.retain(|_, waiting| !waiting.is_empty());
            sync_zap(&reg, &self.inner.zap);
        }
        let io = lock(&self.inner.io);
        if !io.is_empty() {
            let index = (shared.id % io.len() as u64) as usize;
            io[index].handle().close_socket(shared.id, linger);
        }
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("io_threads", &self.inner.io_threads)
            .field("spin", &self.inner.spin)
            .finish_non_exhaustive()
    }
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        // Every socket is gone (each held a clone). Each I/O thread finishes its lingering
        // connections, bounded by their linger deadlines, and exits.
        let threads = std::mem::take(&mut *lock(&self.io));
        for t in threads {
            t.shutdown();
        }
    }
}

impl InprocSide {
    fn new(shared: &Arc<SocketShared>, options: &Options, endpoint: Option<Arc<str>>) -> Self {
        InprocSide {
            shared: shared.clone(),
            identity: options.identity.clone(),
            probe_router: options.probe_router,
            hello: options.hello_msg.clone(),
            routing_id: endpoint
                .is_some()
                .then(|| options.connect_routing_id.clone())
                .flatten(),
            endpoint,
            early: None,
        }
    }
}

/// Joins two inproc sockets with a pair of pipes and tells both.
fn join(mut connecter: InprocSide, binder: &InprocSide) {
    if let Some(ends) = connecter.early.take() {
        return join_early(&connecter, ends, binder);
    }
    let (c, b) = (&connecter.shared, &binder.shared);
    // The marks in force now (an inproc pipe holds the sender's SNDHWM plus the
    // receiver's RCVHWM), and one queue conflates when either side conflates it.
    let (c_to_b, from_c) = pipe(
        combined_hwm(c.send_hwm(), b.recv_hwm()),
        Notify::Signal(b.signal.clone()),
        Notify::Signal(c.signal.clone()),
    );
    let (b_to_c, from_b) = pipe(
        combined_hwm(b.send_hwm(), c.recv_hwm()),
        Notify::Signal(c.signal.clone()),
        Notify::Signal(b.signal.clone()),
    );
    if c.conflate_out() || b.conflate_in() {
        c_to_b.set_conflate();
    }
    if b.conflate_out() || c.conflate_in() {
        b_to_c.set_conflate();
    }
    connecter.greet(&c_to_b);
    binder.greet(&b_to_c);
    let meta = |side: &InprocSide| {
        Arc::new(Metadata {
            socket_type: Some(side.shared.socket_type),
            identity: side.identity.clone(),
            ..Metadata::default()
        })
    };
    // Each side knows the other's id for it, so that whichever lets go first can hand
    // back what the other queued and it never took.
    let (c_id, b_id) = (next_id(), next_id());
    c.attach(Peer {
        id: c_id,
        tx: c_to_b,
        rx: from_b,
        meta: meta(binder),
        endpoint: connecter.endpoint.clone(),
        routing_id: connecter.routing_id.clone(),
        partner: Some(Partner {
            socket: Arc::downgrade(b),
            peer: b_id,
        }),
        link: None,
    });
    b.attach(Peer {
        id: b_id,
        tx: b_to_c,
        rx: from_c,
        meta: meta(&connecter),
        endpoint: None,
        routing_id: None,
        partner: Some(Partner {
            socket: Arc::downgrade(c),
            peer: c_id,
        }),
        link: None,
    });
}

fn side_meta(side: &InprocSide) -> Arc<Metadata> {
    Arc::new(Metadata {
        socket_type: Some(side.shared.socket_type),
        identity: side.identity.clone(),
        ..Metadata::default()
    })
}

/// [`join`] for a connect that made its pipes at once (`ZMQ_IMMEDIATE=0`): the binder
/// gets their far ends, with what the connecter queued in them, and the marks become the
/// two sockets' combined, as for pipes made now.
fn join_early(connecter: &InprocSide, ends: EarlyEnds, binder: &InprocSide) {
    let (c, b) = (&connecter.shared, &binder.shared);
    ends.out
        .set_capacity(combined_hwm(c.send_hwm(), b.recv_hwm()));
    ends.inp
        .set_capacity(combined_hwm(b.send_hwm(), c.recv_hwm()));
    binder.greet(&ends.inp);
    let b_id = next_id();
    c.post(SocketEvent::Joined {
        peer: ends.peer,
        partner: Partner {
            socket: Arc::downgrade(b),
            peer: b_id,
        },
        meta: side_meta(binder),
    });
    let EarlyEnds {
        peer,
        out,
        inp,
        slot,
        ..
    } = ends;
    // From now on the binder is who these ends wake; it looks at them once it takes
    // them in, so nothing rung before is missed.
    slot.hold(Some(b.signal.clone()));
    b.attach(Peer {
        id: b_id,
        tx: inp,
        rx: out,
        meta: side_meta(connecter),
        endpoint: None,
        routing_id: None,
        partner: Some(Partner {
            socket: Arc::downgrade(c),
            peer,
        }),
        link: None,
    });
}

/// Tells the I/O threads which socket (if any) is bound at the ZAP endpoint now.
fn sync_zap(reg: &Inproc, zap: &ZapHub) {
    let name = crate::engine::ZAP_ENDPOINT.trim_start_matches("inproc://");
    zap.set_handler(reg.bound.get(name).map(|b| b.shared.clone()));
}

/// Locks a mutex, ignoring poisoning: the registries stay consistent across a panic
/// elsewhere because every update is a single insert or remove.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
