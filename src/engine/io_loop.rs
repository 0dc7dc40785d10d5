//! The event loop of one I/O thread.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::mailbox::{next_id, SocketShared};
use crate::monitor::MonitorEvent;
use crate::options::Options;
use crate::spin::Spin;
use crate::transport::{self, Listener, Stream};

use super::conn::{Conn, Drive, End, Origin};
use super::resolve::{Expiry, Pending};
use super::{Command, IoShared, IoWake, Target, WAKER_TOKEN};
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
}

/// How long to wait before accepting again when the process is out of descriptors.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Attempt the connecter (key, uid) again.
    Reconnect(usize, u64),
    /// End the connection (token, uid) if its handshake is still unfinished.
    Handshake(usize, u64),
    /// End the lingering connection (token, uid).
    Linger(usize, u64),
    /// Send a PING on the connection (token, uid) and arm the next one.
    Heartbeat(usize, u64),
    /// End the connection (token, uid) if nothing came since its PING.
    HeartbeatTimeout(usize, u64),
    /// End the connection (token, uid) if nothing came within the TTL the peer announced.
    Ttl(usize, u64),
    /// Try the listener (token) again after `accept` failed for lack of resources.
    Accept(usize),
    /// Stop waiting for the host-name lookup of the connecter (key, uid), if it is late.
    Resolve(usize, u64),
}

pub(super) struct Loop {
    poll: Poll,
    shared: Arc<IoShared>,
    commands: Receiver<Command>,
    entries: Slab<Entry>,
    connecters: Slab<Connecter>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Connections that stopped early to give others a turn.
    ready: VecDeque<(Token, u64)>,
    /// Sockets that have closed; late commands for them are ignored.
    closed_sockets: Vec<u64>,
    shutting_down: bool,
    /// How long the loop spins before it sleeps in `epoll_wait` (see
    /// [`Loop::spin_for_work`]).
    spin: Spin,
}

/// The loop spins only when it could otherwise sleep at least this long (a timer due
/// sooner is not delayed by a spin).
const SPIN_MIN_SLEEP: Duration = Duration::from_millis(1);

impl Loop {
    pub(super) fn new(poll: Poll, shared: Arc<IoShared>, commands: Receiver<Command>) -> Loop {
        Loop {
            poll,
            shared,
            commands,
            entries: Slab::new(),
            connecters: Slab::new(),
            timers: BinaryHeap::new(),
            ready: VecDeque::new(),
            closed_sockets: Vec::new(),
            shutting_down: false,
            spin: Spin::new(),
        }
    }

    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            while let Ok(cmd) = self.commands.try_recv() {
                self.command(cmd);
            }
            if self.shutting_down && self.entries.is_empty() {
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
                    .peek()
                    .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            // The last connection may have closed during this turn: leave now rather than
            // sleep until some stale timer.
            if self.shutting_down && self.entries.is_empty() {
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
                if self.closed_sockets.contains(&socket.id) {
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
            } => {
                if self.closed_sockets.contains(&socket.id) {
                    return;
                }
                let backoff = options.reconnect_ivl.unwrap_or(Duration::from_millis(100));
                let key = self.connecters.insert(Connecter {
                    uid: next_id(),
                    socket,
                    options,
                    target,
                    endpoint,
                    backoff,
                    next_addr: 0,
                    lookup: Pending::default(),
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
                    let c = self.connecters.remove(k);
                    self.linger_conns(
                        |conn| conn.origin == Origin::Connected(k, c.uid),
                        c.options.linger,
                    );
                }
            }
            Command::CloseSocket {
                socket_id,
                linger,
                done,
            } => {
                self.closed_sockets.push(socket_id);
                self.connecters.retain(|_, c| c.socket.id != socket_id);
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
        }
    }

    /// Puts the matching connections into linger: they flush what their socket queued,
    /// then close; a connection that never finished its handshake closes at once.
    fn linger_conns(&mut self, matches: impl Fn(&Conn) -> bool, linger: Duration) {
        let deadline = Instant::now() + linger;
        let mut chosen = Vec::new();
        for (k, e) in self.entries.iter_mut() {
            if let Entry::Conn(conn) = e {
                if matches(conn) && conn.linger_until.is_none() {
                    conn.start_linger(deadline);
                    chosen.push((k, conn.uid, conn.is_ready()));
                }
            }
        }
        for (k, uid, ready) in chosen {
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
                self.timers.push(Reverse((deadline, Timer::Linger(k, uid))));
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
                    let at = Instant::now() + ACCEPT_RETRY;
                    self.timers.push(Reverse((at, Timer::Accept(token.0))));
                    return;
                }
            };
            let (socket, options) = (l.socket.clone(), l.options.clone());
            let label: Arc<str> = Arc::from(l.endpoint.as_str());
            socket.emit(|| MonitorEvent::Accepted {
                endpoint: l.endpoint.clone(),
                peer_address: addrs.peer_socket_addr,
            });
            self.add_conn(stream, socket, options, Origin::Accepted, None, label);
        }
    }

    fn add_conn(
        &mut self,
        mut stream: Stream,
        socket: Arc<SocketShared>,
        options: Arc<Options>,
        origin: Origin,
        endpoint: Option<Arc<str>>,
        label: Arc<str>,
    ) -> bool {
        let connecting = matches!(origin, Origin::Connected(..));
        let entry = self.entries.vacant_entry();
        let token = Token(entry.key());
        if self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            return false;
        }
        // Buffer sizes and keepalive are a best effort, as in libzmq: a kernel that refuses
        // an option still carries the connection (heartbeats are the portable way to find
        // dead peers).
        let _ = stream.apply_options(&options);
        let handshake = options.handshake_timeout;
        let conn = Conn::new(stream, socket, options, origin, endpoint, label, connecting);
        let uid = conn.uid;
        entry.insert(Entry::Conn(Box::new(conn)));
        if let Some(t) = handshake {
            self.timers.push(Reverse((
                Instant::now() + t,
                Timer::Handshake(token.0, uid),
            )));
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
        let deadline = Instant::now() + tcp.resolver.timeout();
        let begin = c.lookup.begin(deadline);
        let uid = c.uid;
        if begin.arm {
            self.timers
                .push(Reverse((deadline, Timer::Resolve(key, uid))));
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
            Expiry::Rearm(at) => self.timers.push(Reverse((at, Timer::Resolve(key, uid)))),
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
            (Target::Tcp(_), Ok(addrs)) => match addrs.get(c.next_addr % addrs.len().max(1)) {
                Some(addr) => transport::connect_tcp(*addr),
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
            Ok(stream) => self.add_conn(
                stream,
                socket,
                options,
                Origin::Connected(key, uid),
                Some(endpoint.clone()),
                endpoint,
            ),
            Err(_) => false,
        };
        if !added {
            self.schedule_reconnect(key, false);
        }
    }

    /// Schedules the connecter's next attempt. After a connection that completed its
    /// handshake the back-off starts over.
    fn schedule_reconnect(&mut self, key: usize, was_up: bool) {
        let Some(c) = self.connecters.get_mut(key) else {
            return;
        };
        let Some(base) = c.options.reconnect_ivl else {
            self.connecters.remove(key);
            return;
        };
        if was_up {
            c.backoff = base;
        }
        let delay = c.backoff;
        c.backoff = (c.backoff * 2).min(c.options.reconnect_ivl_max.max(base));
        c.next_addr = c.next_addr.wrapping_add(1);
        let uid = c.uid;
        c.socket.emit(|| MonitorEvent::ConnectRetried {
            endpoint: c.endpoint.to_string(),
            retry_in: delay,
        });
        self.timers.push(Reverse((
            Instant::now() + delay,
            Timer::Reconnect(key, uid),
        )));
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                return;
            }
            self.timers.pop();
            match timer {
                Timer::Reconnect(key, uid) => {
                    if self.connecters.get(key).is_some_and(|c| c.uid == uid) {
                        self.start_connect(key);
                    }
                }
                Timer::Handshake(k, uid) => {
                    if matches!(self.entries.get(k), Some(Entry::Conn(c)) if c.uid == uid && !c.is_ready())
                    {
                        self.end_conn(Token(k), End::TimedOut("handshake timed out"));
                    }
                }
                Timer::Linger(k, uid) => {
                    if matches!(self.entries.get(k), Some(Entry::Conn(c)) if c.uid == uid) {
                        self.end_conn(Token(k), End::Closed);
                    }
                }
                Timer::Heartbeat(k, uid) => self.heartbeat(k, uid, now),
                // A listener unbound since is skipped by `accept` itself.
                Timer::Accept(k) => self.accept(Token(k)),
                Timer::Resolve(key, uid) => self.resolve_timed_out(key, uid, now),
                Timer::HeartbeatTimeout(k, uid) => {
                    if let Some(Entry::Conn(c)) = self.entries.get_mut(k) {
                        if c.uid == uid && c.ping_unanswered() {
                            self.end_conn(
                                Token(k),
                                End::TimedOut("heartbeat timed out: no traffic since our PING"),
                            );
                        }
                    }
                }
                Timer::Ttl(k, uid) => {
                    if matches!(self.entries.get(k), Some(Entry::Conn(c)) if c.uid == uid && c.ttl_expired(now))
                    {
                        self.end_conn(
                            Token(k),
                            End::TimedOut("heartbeat timed out: no traffic within the peer's TTL"),
                        );
                    }
                }
            }
        }
    }

    /// Sends a PING on a live connection, arms its timeout if none is pending, and arms
    /// the next PING.
    fn heartbeat(&mut self, k: usize, uid: u64, now: Instant) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(k) else {
            return;
        };
        if conn.uid != uid || !conn.is_ready() || conn.linger_until.is_some() {
            return;
        }
        let Some(ivl) = conn.options.heartbeat_ivl else {
            return;
        };
        if conn.send_ping(now) {
            if let Some(timeout) = conn.options.effective_heartbeat_timeout() {
                self.timers
                    .push(Reverse((now + timeout, Timer::HeartbeatTimeout(k, uid))));
            }
        }
        self.timers
            .push(Reverse((now + ivl, Timer::Heartbeat(k, uid))));
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
        if let Some(deadline) = conn.linger_timer.take() {
            self.timers
                .push(Reverse((deadline, Timer::Linger(token.0, uid))));
        }
        let now = Instant::now();
        if std::mem::take(&mut conn.heartbeat_timer) {
            if let Some(ivl) = conn.options.heartbeat_ivl {
                self.timers
                    .push(Reverse((now + ivl, Timer::Heartbeat(token.0, uid))));
            }
        }
        if std::mem::take(&mut conn.ttl_timer) {
            self.timers
                .push(Reverse((now + conn.peer_ttl, Timer::Ttl(token.0, uid))));
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
        // Before the connection (and with it the inbound pipe's writer) is dropped: a socket
        // that sees the peer gone then already has its messages back in the mailbox.
        if let Some(requeue) = conn.take_back() {
            conn.socket.post(requeue);
        }
        if conn.handshaken {
            conn.socket.emit(|| MonitorEvent::Disconnected {
                endpoint: conn.label.to_string(),
                reason: why.reason(),
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
            let live = (conn.linger_until.is_none() || conn.hung_up)
                && self.connecters.get(key).is_some_and(|c| c.uid == uid);
            if live && conn.hung_up {
                // Our own socket hung up; the peer is fine, so reconnect at once.
                if let Some(c) = self.connecters.get_mut(key) {
                    c.backoff = c.options.reconnect_ivl.unwrap_or_default();
                }
                self.start_connect(key);
            } else if live {
                self.schedule_reconnect(key, conn.is_ready());
            }
        }
    }

    fn remove_entry(&mut self, token: Token) -> Option<Entry> {
        let mut entry = self.entries.try_remove(token.0)?;
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
