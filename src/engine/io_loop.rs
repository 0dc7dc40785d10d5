//! The event loop of one I/O thread.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::mailbox::{next_id, EarlyEnds, SocketShared};
use crate::monitor::MonitorEvent;
use crate::options::{Options, ReconnectStop, MAX_LINGER_WITHOUT_PEER};
use crate::spin::Spin;
use crate::time::deadline;
use crate::transport::{self, Listener, Stream};

use super::conn::{Conn, Drive, End, Origin};
use super::resolve::{Expiry, Pending};
use super::timers::{Fired, Kind, Owner, Timers};
use super::{Command, IoShared, IoWake, Target, WAKER_TOKEN};

/// The reconnect interval of a socket whose `ZMQ_RECONNECT_IVL` is off, where one is needed
/// all the same (libzmq's default interval).
const DEFAULT_RECONNECT_IVL: Duration = Duration::from_millis(100);
use crate::endpoint::ConnectLookup;

/// A listener or a connection, registered under its slab key as mio token.
enum Entry {
    Listener(ListenerEntry),
    Conn(Box<Conn>),
}

struct ListenerEntry {
    listener: Listener,
    socket: Arc<SocketShared>,
    options: Arc<Options>,
    endpoint: String,
}

/// A connect() in force: it makes a connection, and remakes it after each drop.
struct Connecter {
    uid: u64,
    socket: Arc<SocketShared>,
    options: Arc<Options>,
    target: Target,
    endpoint: Arc<str>,
    /// Delay before the next attempt; doubles per failure up to the option's cap.
    backoff: Duration,
    /// Which resolved address to try next.
    next_addr: usize,
    /// The host-name lookup of a tcp target (see `resolve.rs`).
    lookup: Pending,
    /// The socket called `disconnect` on another endpoint while its options held
    /// [`ReconnectStop::AFTER_DISCONNECT`]: a refused attempt stops this connecter.
    after_disconnect: bool,
    /// When our own socket last hung up this connecter's connection (see
    /// `end_conn`'s reconnect at once).
    hung_up_at: Option<Instant>,
    /// The pipes made at connect (`ZMQ_IMMEDIATE=0`), while no connection carries them:
    /// the next connection takes them, and gives them back when it ends.
    early: Option<EarlyEnds>,
    /// Set when its socket closed while those pipes held messages: the connecter goes
    /// on trying until this deadline (the socket's linger, at most
    /// [`MAX_LINGER_WITHOUT_PEER`]), and a connection it makes only flushes them.
    closing: Option<Instant>,
}

impl Connecter {
    /// Why this connecter must stop instead of retrying, per its `ZMQ_RECONNECT_STOP`
    /// flags, after an attempt that was `refused` or whose `handshake_failed`.
    fn stop_reason(&self, refused: bool, handshake_failed: bool) -> Option<&'static str> {
        let stop = self.options.reconnect_stop;
        if refused && stop.contains(ReconnectStop::CONN_REFUSED) {
            Some("the connect was refused")
        } else if refused && self.after_disconnect {
            Some("the connect was refused after a disconnect")
        } else if handshake_failed && stop.contains(ReconnectStop::HANDSHAKE_FAILED) {
            Some("the handshake failed")
        } else {
            None
        }
    }
}

/// How long to wait before accepting again when the process is out of descriptors.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

pub(super) struct Loop {
    poll: Poll,
    shared: Arc<IoShared>,
    commands: Receiver<Command>,
    entries: Slab<Entry>,
    connecters: Slab<Connecter>,
    /// At most one pending timer per owner and kind; an owner's go with it.
    timers: Timers,
    /// Connections that stopped early to give others a turn.
    ready: VecDeque<(Token, u64)>,
    shutting_down: bool,
    /// Set when `run` returns after a Shutdown; a loop dropped without it (a panic, or a
    /// failed poll) marks its context's I/O as stopped.
    finished: bool,
    /// How long the loop spins before it sleeps in `epoll_wait` (see
    /// [`Loop::spin_for_work`]); never, in a context with the spin off.
    spin: Spin,
    /// Where the context's ZAP handler is, for the connections' ZAP requests.
    zap: Arc<super::ZapHub>,
}

/// The loop spins only when it could otherwise sleep at least this long (a timer due
/// sooner is not delayed by a spin).
const SPIN_MIN_SLEEP: Duration = Duration::from_millis(1);

impl Loop {
    pub(super) fn new(
        poll: Poll,
        shared: Arc<IoShared>,
        commands: Receiver<Command>,
        zap: Arc<super::ZapHub>,
        spin: bool,
    ) -> Loop {
        Loop {
            poll,
            shared,
            commands,
            entries: Slab::new(),
            connecters: Slab::new(),
            timers: Timers::default(),
            ready: VecDeque::new(),
            shutting_down: false,
            finished: false,
            spin: Spin::new(spin),
            zap,
        }
    }

    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            while let Ok(cmd) = self.commands.try_recv() {
                self.command(cmd);
            }
            if self.shutting_down && self.entries.is_empty() {
                self.finished = true;
                return;
            }
            self.fire_timers();
            for _ in 0..self.ready.len() {
                if let Some((token, uid)) = self.ready.pop_front() {
                    self.drive(token, uid);
                }
            }
            let timeout = if self.ready.is_empty() {
                self.timers
                    .next_deadline()
                    .map(|at| at.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            // The last connection may have closed during this turn: leave now rather than
            // sleep until some stale timer.
            if self.shutting_down && self.entries.is_empty() {
                self.finished = true;
                return;
            }
            if timeout.is_none_or(|t| t >= SPIN_MIN_SLEEP) && self.spin_for_work(&mut events) {
                self.handle_events(&events);
                continue;
            }
            // Park: announce sleep, then look at the queue once more, so a command sent
            // between the drain above and the poll below is never missed.
            self.shared.sleeping.store(true, SeqCst);
            let timeout = if self.commands.is_empty() {
                timeout
            } else {
                Some(Duration::ZERO)
            };
            let slept = Instant::now();
            let polled = self.poll.poll(&mut events, timeout);
            self.shared.sleeping.store(false, SeqCst);
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    // epoll_wait fails only on programming errors; stop rather than spin.
                    // (Dropping the loop unfinished tells every socket: see `Drop`.)
                    return;
                }
            }
            if !events.is_empty() || !self.commands.is_empty() {
                self.spin.woke_with_work(slept);
            }
            self.handle_events(&events);
        }
    }

    /// Before sleeping, yields and looks for work (a command, or a readiness event with a
    /// zero-timeout poll): the adaptive spin of [`crate::spin`], so an event that comes
    /// within microseconds costs no write to the waker and no trip through the scheduler.
    /// True when work came (`events` holds what the poll saw).
    fn spin_for_work(&mut self, events: &mut Events) -> bool {
        for _ in 0..self.spin.rounds() {
            std::thread::yield_now();
            if !self.commands.is_empty() {
                events.clear();
                return true;
            }
            match self.poll.poll(events, Some(Duration::ZERO)) {
                Ok(()) if !events.is_empty() => return true,
                _ => {}
            }
        }
        self.spin.missed();
        false
    }

    /// Marks the connections an event names as readable or writable and drives them.
    fn handle_events(&mut self, events: &Events) {
        for event in events.iter() {
            let token = event.token();
            if token == WAKER_TOKEN {
                continue;
            }
            match self.entries.get_mut(token.0) {
                Some(Entry::Listener(_)) => self.accept(token),
                Some(Entry::Conn(conn)) => {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        conn.readable = true;
                    }
                    if event.is_read_closed() || event.is_error() {
                        conn.read_closed = true;
                    }
                    if event.is_writable() || event.is_write_closed() || event.is_error() {
                        conn.writable = true;
                    }
                    let uid = conn.uid;
                    self.drive(token, uid);
                }
                None => {}
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Bind {
                socket,
                options,
                listener,
                endpoint,
            } => {
                if socket.is_closed() {
                    return;
                }
                let entry = self.entries.vacant_entry();
                let token = Token(entry.key());
                let mut listener = listener;
                if self
                    .poll
                    .registry()
                    .register(&mut listener, token, Interest::READABLE)
                    .is_ok()
                {
                    socket.emit(|| MonitorEvent::Listening {
                        endpoint: endpoint.clone(),
                    });
                    entry.insert(Entry::Listener(ListenerEntry {
                        listener,
                        socket,
                        options,
                        endpoint,
                    }));
                    // Connections may already be waiting in the backlog.
                    self.accept(token);
                } else {
                    socket.emit(|| MonitorEvent::BindFailed {
                        endpoint,
                        error: "cannot register the listener with the poller".into(),
                    });
                }
            }
            Command::Connect {
                socket,
                options,
                target,
                endpoint,
                early,
            } => {
                // A socket closed since is done with this connect, unless it queued into
                // it: its close, which follows, then lets it deliver within the linger.
                if socket.is_closed() && early.as_ref().is_none_or(|e| e.out.len() == 0) {
                    return;
                }
                let backoff = options.reconnect_ivl.unwrap_or(DEFAULT_RECONNECT_IVL);
                let key = self.connecters.insert(Connecter {
                    uid: next_id(),
                    socket,
                    options,
                    target,
                    endpoint,
                    backoff,
                    next_addr: 0,
                    lookup: Pending::default(),
                    after_disconnect: false,
                    hung_up_at: None,
                    early,
                    closing: None,
                });
                self.start_connect(key);
            }
            Command::Unbind {
                socket_id,
                endpoint,
                done,
            } => {
                let keys: Vec<usize> = self
                    .entries
                    .iter()
                    .filter_map(|(k, e)| match e {
                        Entry::Listener(l)
                            if l.socket.id == socket_id && l.endpoint == endpoint =>
                        {
                            Some(k)
                        }
                        _ => None,
                    })
                    .collect();
                for k in keys {
                    self.remove_entry(Token(k));
                }
                let _ = done.send(());
            }
            Command::Disconnect {
                socket_id,
                endpoint,
            } => {
                let keys: Vec<usize> = self
                    .connecters
                    .iter()
                    .filter(|(_, c)| c.socket.id == socket_id && c.endpoint == endpoint)
                    .map(|(k, _)| k)
                    .collect();
                for k in keys {
                    let c = self.remove_connecter(k);
                    self.linger_conns(
                        |conn| conn.origin == Origin::Connected(k, c.uid),
                        c.options.linger,
                    );
                }
                for (_, c) in self.connecters.iter_mut() {
                    if c.socket.id == socket_id
                        && c.options
                            .reconnect_stop
                            .contains(ReconnectStop::AFTER_DISCONNECT)
                    {
                        c.after_disconnect = true;
                    }
                }
            }
            Command::CloseSocket {
                socket_id,
                linger,
                done,
            } => {
                // (The socket marked itself closed before sending this, so a command of
                // its that is somehow late is recognised by `SocketShared::is_closed`.)
                let connecters: Vec<usize> = self
                    .connecters
                    .iter()
                    .filter(|(_, c)| c.socket.id == socket_id)
                    .map(|(k, _)| k)
                    .collect();
                let closing = deadline(Instant::now(), linger.min(MAX_LINGER_WITHOUT_PEER));
                for k in connecters {
                    // A connect not up yet whose pipes hold messages keeps trying within
                    // the linger, as in libzmq, so a peer that comes in time gets them.
                    // (The pipes are with the connecter, or with an attempt under way.)
                    let in_flight = self.entries.iter().any(|(_, e)| {
                        matches!(e, Entry::Conn(conn)
                            if matches!(conn.origin, Origin::Connected(key, _) if key == k)
                                && conn.has_early_queued())
                    });
                    match self.connecters.get_mut(k) {
                        Some(c)
                            if !linger.is_zero()
                                && (in_flight
                                    || c.early.as_ref().is_some_and(|e| e.out.len() > 0)) =>
                        {
                            c.closing = Some(closing);
                            let uid = c.uid;
                            self.timers
                                .arm(Owner::Connecter(k), Kind::Linger, uid, closing);
                        }
                        _ => {
                            self.remove_connecter(k);
                        }
                    }
                }
                let listeners: Vec<usize> = self
                    .entries
                    .iter()
                    .filter_map(|(k, e)| match e {
                        Entry::Listener(l) if l.socket.id == socket_id => Some(k),
                        _ => None,
                    })
                    .collect();
                for k in listeners {
                    self.remove_entry(Token(k));
                }
                let _ = done.send(());
                self.linger_conns(|conn| conn.socket.id == socket_id, linger);
            }
            Command::Resolved { key, uid, result } => {
                // A connecter removed since, or an attempt that stopped waiting, drops it.
                if let Some(c) = self.connecters.get_mut(key) {
                    if c.uid == uid && c.lookup.finished() {
                        self.connect_to(key, result);
                    }
                }
            }
            Command::Wake { token, uid } => self.drive(token, uid),
            Command::Shutdown => self.shutting_down = true,
            Command::InjectPanic => panic!("ferromq test hook: I/O thread panic injected"),
            #[cfg(test)]
            Command::Probe(answer) => {
                let _ = answer.send((self.timers.len(), self.entries.len()));
            }
        }
    }

    /// Puts the matching connections into linger: they flush what their socket queued,
    /// then close; a connection that never finished its handshake closes at once.
    fn linger_conns(&mut self, matches: impl Fn(&Conn) -> bool, linger: Duration) {
        let capped = deadline(Instant::now(), linger.min(MAX_LINGER_WITHOUT_PEER));
        let deadline = deadline(Instant::now(), linger);
        let mut chosen = Vec::new();
        for (k, e) in self.entries.iter_mut() {
            if let Entry::Conn(conn) = e {
                if matches(conn) && conn.linger_until.is_none() {
                    // A handshake that will carry messages queued before it lingers too,
                    // but a peer that may never answer is not waited for past
                    // `MAX_LINGER_WITHOUT_PEER`.
                    let at = if conn.is_ready() { deadline } else { capped };
                    conn.start_linger(at);
                    let flushes = conn.is_ready() || conn.has_early_queued();
                    chosen.push((k, conn.uid, flushes, at));
                }
            }
        }
        for (k, uid, ready, deadline) in chosen {
            if !ready || linger.is_zero() {
                if let Some(Entry::Conn(c)) = self.remove_entry(Token(k)) {
                    if c.handshaken {
                        c.socket.emit(|| MonitorEvent::Disconnected {
                            endpoint: c.label.to_string(),
                            reason: None,
                        });
                    }
                }
            } else {
                self.timers
                    .arm(Owner::Entry(k), Kind::Linger, uid, deadline);
                self.drive(Token(k), uid);
            }
        }
    }

    fn accept(&mut self, token: Token) {
        loop {
            let Some(Entry::Listener(l)) = self.entries.get(token.0) else {
                return;
            };
            let (stream, addrs) = match l.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A connection that died in the backlog: take the next one.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue
                }
                // Out of descriptors or memory: the listener is fine, but its readiness is
                // edge-triggered, so connections already waiting would not be announced
                // again until a new one arrived. Look again a little later.
                Err(_) => {
                    let at = deadline(Instant::now(), ACCEPT_RETRY);
                    self.timers.arm(Owner::Entry(token.0), Kind::Accept, 0, at);
                    return;
                }
            };
            let (socket, options) = (l.socket.clone(), l.options.clone());
            let label: Arc<str> = Arc::from(l.endpoint.as_str());
            socket.emit(|| MonitorEvent::Accepted {
                endpoint: l.endpoint.clone(),
                peer_address: addrs.peer_socket_addr,
            });
            self.add_conn(stream, socket, options, Origin::Accepted, None, label, None);
        }
    }

    // The parts of a connection, as `Conn::new` takes them.
    #[allow(clippy::too_many_arguments)]
    fn add_conn(
        &mut self,
        mut stream: Stream,
        socket: Arc<SocketShared>,
        options: Arc<Options>,
        origin: Origin,
        endpoint: Option<Arc<str>>,
        label: Arc<str>,
        early: Option<EarlyEnds>,
    ) -> bool {
        let connecting = matches!(origin, Origin::Connected(..));
        let connect_timeout = match (&stream, connecting) {
            (Stream::Tcp(_), true) => options.connect_timeout,
            _ => None,
        };
        let entry = self.entries.vacant_entry();
        let token = Token(entry.key());
        if self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.give_back_early(origin, early);
            return false;
        }
        // Buffer sizes and keepalive are a best effort, as in libzmq: a kernel that refuses
        // an option still carries the connection (heartbeats are the portable way to find
        // dead peers).
        let _ = stream.apply_options(&options);
        let handshake = options.handshake_timeout;
        let mut conn = Conn::new(
            stream,
            socket,
            options,
            origin,
            endpoint,
            label,
            connecting,
            self.zap.clone(),
            early,
        );
        let uid = conn.uid;
        let closing = match origin {
            Origin::Connected(key, _) => self.connecters.get(key).and_then(|c| c.closing),
            Origin::Accepted => None,
        };
        if let Some(at) = closing {
            // Its socket closed: it only flushes what the pipes made at connect hold.
            conn.start_linger(at);
            self.timers
                .arm(Owner::Entry(token.0), Kind::Linger, uid, at);
        }
        entry.insert(Entry::Conn(Box::new(conn)));
        if let Some(t) = handshake {
            let at = deadline(Instant::now(), t);
            self.timers
                .arm(Owner::Entry(token.0), Kind::Handshake, uid, at);
        }
        if let Some(t) = connect_timeout {
            let at = deadline(Instant::now(), t);
            self.timers
                .arm(Owner::Entry(token.0), Kind::ConnectTimeout, uid, at);
        }
        self.drive(token, uid);
        true
    }

    /// Starts an attempt of the connecter: at once for ipc and numeric tcp hosts; after a
    /// lookup on a helper thread for a host name ([`Command::Resolved`] continues it).
    fn start_connect(&mut self, key: usize) {
        let Some(c) = self.connecters.get_mut(key) else {
            return;
        };
        if c.closing.is_some() && c.early.is_none() {
            // Its socket closed and nothing it queued is left to deliver.
            self.remove_connecter(key);
            return;
        }
        let tcp = match &c.target {
            Target::Ipc(_) => return self.connect_to(key, Ok(Vec::new())),
            Target::Tcp(tcp) => tcp,
        };
        // Bind-only forms were refused by connect(); should one come, it fails like a
        // lookup, and backs off.
        let (name, port) = match tcp.endpoint.connect_lookup() {
            Ok(ConnectLookup::Numeric(addr)) => return self.connect_to(key, addr.map(|a| vec![a])),
            Ok(ConnectLookup::Name(name, port)) => (name.to_owned(), port),
            Err(e) => return self.connect_to(key, Err(e.to_string())),
        };
        let at = deadline(Instant::now(), tcp.resolver.timeout());
        let begin = c.lookup.begin(at);
        let uid = c.uid;
        if begin.arm {
            self.timers
                .arm(Owner::Connecter(key), Kind::Resolve, uid, at);
        }
        if begin.start {
            if let Err(e) = tcp.resolver.start(&self.shared, key, uid, &name, port) {
                c.lookup.not_started();
                self.connect_to(key, Err(e));
            }
        }
    }

    /// The attempt of a connecter whose lookup is late gives up and backs off.
    fn resolve_timed_out(&mut self, key: usize, uid: u64, now: Instant) {
        let Some(c) = self.connecters.get_mut(key).filter(|c| c.uid == uid) else {
            return;
        };
        match c.lookup.expired(now) {
            Expiry::TimedOut => {
                let timeout = match &c.target {
                    Target::Tcp(tcp) => tcp.resolver.timeout(),
                    Target::Ipc(_) => Duration::ZERO,
                };
                let why = format!("resolving the host name took longer than {timeout:?}");
                self.connect_to(key, Err(why));
            }
            Expiry::Rearm(at) => self
                .timers
                .arm(Owner::Connecter(key), Kind::Resolve, uid, at),
            Expiry::Idle => {}
        }
    }

    /// Continues an attempt with the addresses found (a tcp target; ipc ignores them): it
    /// connects to the next one in turn, or, when there is none or the connect fails at
    /// once, schedules the next attempt. A failed lookup is reported first.
    fn connect_to(&mut self, key: usize, addrs: Result<Vec<SocketAddr>, String>) {
        let Some(c) = self.connecters.get_mut(key) else {
            return;
        };
        let attempt = match (&c.target, addrs) {
            (Target::Ipc(ep), _) => transport::connect_ipc(ep),
            (Target::Tcp(tcp), Ok(addrs)) => match addrs.get(c.next_addr % addrs.len().max(1)) {
                Some(addr) => match tcp.endpoint.source_addr(addr.is_ipv6()) {
                    Ok(source) => transport::connect_tcp(*addr, source, &c.options),
                    Err(e) => {
                        c.socket.emit(|| MonitorEvent::ResolveFailed {
                            endpoint: c.endpoint.to_string(),
                            error: e.to_string(),
                        });
                        return self.schedule_reconnect(key, false);
                    }
                },
                None => Err(io::Error::from(io::ErrorKind::AddrNotAvailable)),
            },
            (Target::Tcp(_), Err(error)) => {
                c.socket.emit(|| MonitorEvent::ResolveFailed {
                    endpoint: c.endpoint.to_string(),
                    error,
                });
                return self.schedule_reconnect(key, false);
            }
        };
        let (socket, options, endpoint, uid) = (
            c.socket.clone(),
            c.options.clone(),
            c.endpoint.clone(),
            c.uid,
        );
        let added = match attempt {
            Ok(stream) => {
                let early = c.early.take();
                self.add_conn(
                    stream,
                    socket,
                    options,
                    Origin::Connected(key, uid),
                    Some(endpoint.clone()),
                    endpoint,
                    early,
                )
            }
            Err(e) => {
                let refused = e.kind() == io::ErrorKind::ConnectionRefused;
                if let Some(why) = c_stop_reason(&self.connecters, key, refused, false) {
                    return self.stop_reconnecting(key, why);
                }
                false
            }
        };
        if !added {
            self.schedule_reconnect(key, false);
        }
    }

    /// Forgets a connecter for good, as its `ZMQ_RECONNECT_STOP` flags asked, and tells
    /// the monitor.
    fn stop_reconnecting(&mut self, key: usize, why: &'static str) {
        let c = self.remove_connecter(key);
        c.socket.emit(|| MonitorEvent::ReconnectStopped {
            endpoint: c.endpoint.to_string(),
            reason: why.to_owned(),
        });
    }

    /// Schedules the connecter's next attempt. After a connection that completed its
    /// handshake the back-off starts over.
    fn schedule_reconnect(&mut self, key: usize, was_up: bool) {
        let Some(c) = self.connecters.get_mut(key) else {
            return;
        };
        let Some(base) = c.options.reconnect_ivl else {
            self.remove_connecter(key);
            return;
        };
        if was_up {
            c.backoff = base;
        }
        let delay = c.backoff;
        c.backoff = c
            .backoff
            .saturating_mul(2)
            .min(c.options.reconnect_ivl_max.max(base));
        c.next_addr = c.next_addr.wrapping_add(1);
        let uid = c.uid;
        c.socket.emit(|| MonitorEvent::ConnectRetried {
            endpoint: c.endpoint.to_string(),
            retry_in: delay,
        });
        let at = deadline(Instant::now(), delay);
        self.timers
            .arm(Owner::Connecter(key), Kind::Reconnect, uid, at);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Fired { owner, kind, uid }) = self.timers.pop_due(now) {
            let k = match owner {
                Owner::Connecter(key) => {
                    match kind {
                        Kind::Reconnect
                            if self.connecters.get(key).is_some_and(|c| c.uid == uid) =>
                        {
                            self.start_connect(key)
                        }
                        Kind::Resolve => self.resolve_timed_out(key, uid, now),
                        // A closed socket's linger ran out before its peer came.
                        Kind::Linger if self.connecters.get(key).is_some_and(|c| c.uid == uid) => {
                            self.remove_connecter(key);
                        }
                        _ => {}
                    }
                    continue;
                }
                Owner::Entry(k) => k,
            };
            match kind {
                // A listener unbound since is skipped by `accept` itself.
                Kind::Accept => self.accept(Token(k)),
                Kind::Heartbeat => self.heartbeat(k, uid, now),
                _ => self.conn_timer(k, uid, kind, now),
            }
        }
    }

    /// A deadline of the connection (k, uid) passed: end it if the reason still holds.
    fn conn_timer(&mut self, k: usize, uid: u64, kind: Kind, now: Instant) {
        let Some(Entry::Conn(c)) = self.entries.get_mut(k) else {
            return;
        };
        if c.uid != uid {
            return;
        }
        let why = match kind {
            Kind::Handshake if !c.is_ready() => End::TimedOut("handshake timed out"),
            Kind::ConnectTimeout if c.connecting => End::TimedOut("connect timed out"),
            Kind::Linger => End::Closed,
            Kind::HeartbeatTimeout if c.ping_unanswered() => {
                End::TimedOut("heartbeat timed out: no traffic since our PING")
            }
            Kind::Ttl if c.ttl_expired(now) => {
                End::TimedOut("heartbeat timed out: no traffic within the peer's TTL")
            }
            Kind::Ttl if !c.peer_ttl.is_zero() => {
                // Traffic came since: look again a TTL after the latest of it.
                // (While we do not read, a TTL later than now, so as not to spin.)
                let at = deadline(c.last_recv, c.peer_ttl);
                let at = if at > now {
                    at
                } else {
                    deadline(now, c.peer_ttl)
                };
                self.timers.arm(Owner::Entry(k), Kind::Ttl, uid, at);
                return;
            }
            _ => return,
        };
        self.end_conn(Token(k), why);
    }

    /// Sends a PING on a live connection (lingering ones too: a peer that stopped reading
    /// while we flush is found out as when we are open), arms its timeout if none is
    /// pending, and arms the next PING.
    fn heartbeat(&mut self, k: usize, uid: u64, now: Instant) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(k) else {
            return;
        };
        if conn.uid != uid || !conn.is_ready() {
            return;
        }
        let Some(ivl) = conn.options.heartbeat_ivl else {
            return;
        };
        if conn.send_ping(now) {
            if let Some(timeout) = conn.options.effective_heartbeat_timeout() {
                let at = deadline(now, timeout);
                self.timers
                    .arm(Owner::Entry(k), Kind::HeartbeatTimeout, uid, at);
            }
        }
        self.timers
            .arm(Owner::Entry(k), Kind::Heartbeat, uid, deadline(now, ivl));
        self.drive(Token(k), uid);
    }

    fn drive(&mut self, token: Token, uid: u64) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(token.0) else {
            return;
        };
        if conn.uid != uid {
            return;
        }
        let shared = &self.shared;
        let wake = || IoWake {
            shared: shared.clone(),
            token,
            uid,
        };
        let result = conn.drive(&wake);
        let owner = Owner::Entry(token.0);
        if let Some(at) = conn.linger_timer.take() {
            self.timers.arm(owner, Kind::Linger, uid, at);
        }
        let now = Instant::now();
        if std::mem::take(&mut conn.heartbeat_timer) {
            // The handshake is done (this flag is raised as the peer attaches).
            self.timers.cancel(owner, Kind::Handshake);
            // A raw (STREAM) peer speaks no ZMTP: no PINGs, as libzmq's raw engine.
            if let Some(ivl) = conn.options.heartbeat_ivl.filter(|_| !conn.raw) {
                self.timers
                    .arm(owner, Kind::Heartbeat, uid, deadline(now, ivl));
            }
        }
        // Each PING with a TTL moves the one TTL timer (libzmq restarts its timer too).
        if std::mem::take(&mut conn.ttl_timer) {
            let at = deadline(now, conn.peer_ttl);
            self.timers.arm(owner, Kind::Ttl, uid, at);
        }
        match result {
            Ok(Drive::Idle) => {}
            Ok(Drive::More) => self.ready.push_back((token, uid)),
            Err(end) => self.end_conn(token, end),
        }
    }

    /// Closes a connection; a connecting side schedules its reconnect.
    fn end_conn(&mut self, token: Token, why: End) {
        let Some(Entry::Conn(mut conn)) = self.remove_entry(token) else {
            return;
        };
        // The peer's last message, when the socket asked for one: before the pipe closes.
        conn.deliver_farewell();
        let refused = conn.connecting
            && matches!(&why, End::Failed(crate::Error::Io(e))
                if e.kind() == io::ErrorKind::ConnectionRefused);
        let handshake_failed = !conn.connecting && !conn.handshaken;
        // Before the connection (and with it the inbound pipe's writer) is dropped: a socket
        // that sees the peer gone then already has its messages back in the mailbox.
        if let Some(requeue) = conn.take_back() {
            conn.socket.post(requeue);
        }
        // Pipes made at connect outlive the connection: back to their connecter, for the
        // next one (or dropped with it, when the connect was given up).
        let early = conn.take_early();
        self.give_back_early(conn.origin, early);
        if conn.handshaken {
            conn.socket.emit(|| MonitorEvent::Disconnected {
                endpoint: conn.label.to_string(),
                reason: why.reason(),
            });
        } else if let (false, End::Failed(crate::Error::AuthenticationFailed { status_code })) =
            (conn.connecting, &why)
        {
            conn.socket.emit(|| MonitorEvent::HandshakeFailedAuth {
                endpoint: conn.label.to_string(),
                status_code: *status_code,
            });
        } else if !conn.connecting {
            conn.socket.emit(|| MonitorEvent::HandshakeFailed {
                endpoint: conn.label.to_string(),
                reason: why
                    .reason()
                    .unwrap_or_else(|| "the peer closed during the handshake".into()),
            });
        }
        if let Origin::Connected(key, uid) = conn.origin {
            // A closed socket's connecter that still has messages to deliver tries again.
            let live = self.connecters.get(key).is_some_and(|c| {
                c.uid == uid && (conn.linger_until.is_none() || conn.hung_up || c.closing.is_some())
            });
            if live && conn.hung_up && conn.raw {
                // A STREAM socket closed this connection (`[id, ""]`): the application
                // is done with it, so it is not remade, as libzmq's raw session ends.
                self.remove_connecter(key);
            } else if live && conn.hung_up {
                // Our own socket hung up; the peer is fine, so reconnect at once. But a
                // second hang-up soon after the first means the pattern keeps refusing what
                // this connect brings back (a PAIR that already has its peer): wait and
                // back off then, or the two would loop as fast as the loopback goes.
                let now = Instant::now();
                let again = self.connecters.get_mut(key).is_some_and(|c| {
                    // Within twice the wait that follows a hang-up counts as again.
                    let ivl = c.options.reconnect_ivl.unwrap_or(DEFAULT_RECONNECT_IVL);
                    let window = ivl.max(c.backoff).saturating_mul(2);
                    let again = c
                        .hung_up_at
                        .is_some_and(|t| now.saturating_duration_since(t) < window);
                    c.hung_up_at = Some(now);
                    if !again {
                        c.backoff = c.options.reconnect_ivl.unwrap_or_default();
                    }
                    again && c.options.reconnect_ivl.is_some()
                });
                if again {
                    self.schedule_reconnect(key, false);
                } else {
                    self.start_connect(key);
                }
            } else if live {
                match c_stop_reason(&self.connecters, key, refused, handshake_failed) {
                    Some(why) => self.stop_reconnecting(key, why),
                    None => self.schedule_reconnect(key, conn.is_ready()),
                }
            }
        }
    }

    /// Hands the pipes made at connect back to the connecter of `origin`, if it is still
    /// the one that lent them; otherwise they are dropped, and the socket sees its peer
    /// gone.
    fn give_back_early(&mut self, origin: Origin, early: Option<EarlyEnds>) {
        let Some(early) = early else {
            return;
        };
        // No connection carries them now, whatever becomes of them.
        early.slot.hold(None);
        let Origin::Connected(key, uid) = origin else {
            return;
        };
        if let Some(c) = self.connecters.get_mut(key).filter(|c| c.uid == uid) {
            if early.alive() || (c.closing.is_some() && early.out.len() > 0) {
                c.early = Some(early);
            }
        }
    }

    /// Forgets a connecter and its reconnect timer.
    fn remove_connecter(&mut self, key: usize) -> Connecter {
        self.timers.cancel_owner(Owner::Connecter(key));
        self.connecters.remove(key)
    }

    /// Takes a listener or connection out of the poller, the slab and the timers.
    fn remove_entry(&mut self, token: Token) -> Option<Entry> {
        let mut entry = self.entries.try_remove(token.0)?;
        self.timers.cancel_owner(Owner::Entry(token.0));
        let registry = self.poll.registry();
        let _ = match &mut entry {
            Entry::Listener(l) => {
                l.socket.emit(|| MonitorEvent::Closed {
                    endpoint: l.endpoint.clone(),
                });
                registry.deregister(&mut l.listener)
            }
            Entry::Conn(c) => registry.deregister(&mut c.stream),
        };
        Some(entry)
    }
}

/// [`Connecter::stop_reason`] of the connecter at `key`, if it is still there.
fn c_stop_reason(
    connecters: &Slab<Connecter>,
    key: usize,
    refused: bool,
    handshake_failed: bool,
) -> Option<&'static str> {
    connecters
        .get(key)
        .and_then(|c| c.stop_reason(refused, handshake_failed))
}

impl Drop for Loop {
    /// A loop that ends other than by Shutdown (a panic unwinding through `run`, or a
    /// failed poll) marks its context's I/O as stopped, so every socket's `bind`, `connect`
    /// and blocking wait report [`crate::Error::IoThreadStopped`] instead of waiting for
    /// connections that can never come; the sockets it served are woken to see it.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.shared.dead.store(true, SeqCst);
        for (_, e) in self.entries.iter() {
            match e {
                Entry::Listener(l) => l.socket.signal.notify(),
                Entry::Conn(c) => c.socket.signal.notify(),
            }
        }
        for (_, c) in self.connecters.iter() {
            c.socket.signal.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::SPIN_MAX;
    use std::sync::atomic::AtomicBool;

    /// A loop that is never run, with the sending end of its command queue.
    fn idle_loop(spin: bool) -> (Loop, crossbeam_channel::Sender<Command>) {
        let poll = Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(IoShared {
            commands: tx.clone(),
            waker,
            sleeping: AtomicBool::new(false),
            dead: Arc::new(AtomicBool::new(false)),
        });
        (Loop::new(poll, shared, rx, Arc::default(), spin), tx)
    }

    #[test]
    fn with_the_spin_on_the_loop_finds_a_waiting_command_before_it_sleeps() {
        let (mut looped, commands) = idle_loop(true);
        let mut events = Events::with_capacity(8);
        assert_eq!(looped.spin.rounds(), SPIN_MAX);
        assert!(!looped.spin_for_work(&mut events), "nothing to find");
        assert_eq!(looped.spin.rounds(), SPIN_MAX / 2);
        let (probe, _answer) = crossbeam_channel::bounded(1);
        commands.send(Command::Probe(probe)).unwrap();
        assert!(
            looped.spin_for_work(&mut events),
            "the spin sees the command"
        );
    }

    #[test]
    fn with_the_spin_off_the_loop_never_looks_before_it_sleeps() {
        let (mut looped, commands) = idle_loop(false);
        let mut events = Events::with_capacity(8);
        assert_eq!(looped.spin.rounds(), 0);
        let (probe, _answer) = crossbeam_channel::bounded(1);
        commands.send(Command::Probe(probe)).unwrap();
        // Work is waiting, but a loop that does not spin goes straight to its poll (which
        // sees the command: `run` polls with no timeout when the queue is not empty).
        assert!(!looped.spin_for_work(&mut events));
        looped.spin.woke_with_work(Instant::now());
        assert_eq!(
            looped.spin.rounds(),
            0,
            "a quick wake-up does not turn it on"
        );
    }
}
