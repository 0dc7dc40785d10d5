//! The engine: I/O threads that move bytes between tcp/ipc streams and pipes.
//!
//! Each I/O thread runs one mio event loop over every listener and connection of the
//! sockets assigned to it, so the thread count does not grow with the number of peers.
//! Sockets talk to their thread through a command queue plus a mio waker; pipes wake it
//! about one connection at a time ([`IoWake`]). All protocol work happens in the sans-IO
//! [`crate::zmtp::Connection`]; this module only reads, writes, accepts, connects and keeps
//! time (reconnect back-off, handshake timeouts, heartbeats, linger). It also applies tcp
//! keepalive options and emits socket monitor events.

mod conn;
mod io_loop;
mod raw;
mod resolve;
mod timers;
mod zap;

pub(crate) use zap::ZapHub;
pub use zap::{MAX_PENDING_ZAP_REQUESTS, ZAP_ENDPOINT};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::{Token, Waker};

use crate::endpoint::{IpcEndpoint, TcpEndpoint};
use crate::error::Result;
use crate::mailbox::{EarlyEnds, SocketShared};
use crate::options::Options;
use crate::transport::Listener;

use resolve::{Resolver, TcpTarget};

/// Where a connecting socket connects to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A tcp endpoint. Each attempt finds its addresses again: a host name is resolved on a
    /// helper thread ([`resolve`]), a zone's interface looked up; attempts rotate through
    /// the addresses found.
    Tcp(TcpTarget),
    /// A unix-domain socket path or abstract name.
    Ipc(IpcEndpoint),
}

impl Target {
    /// A tcp target resolved with the system resolver.
    pub(crate) fn tcp(endpoint: TcpEndpoint) -> Target {
        Target::Tcp(TcpTarget {
            endpoint,
            resolver: Resolver::system(),
        })
    }
}

/// What a socket asks of its I/O thread.
pub(crate) enum Command {
    Bind {
        socket: Arc<SocketShared>,
        options: Arc<Options>,
        listener: Listener,
        endpoint: String,
    },
    Connect {
        socket: Arc<SocketShared>,
        options: Arc<Options>,
        target: Target,
        endpoint: Arc<str>,
        /// The pipes made at connect (`ZMQ_IMMEDIATE=0`): every connection of this
        /// connect carries them in turn.
        early: Option<EarlyEnds>,
    },
    Unbind {
        socket_id: u64,
        endpoint: String,
        done: Sender<()>,
    },
    Disconnect {
        socket_id: u64,
        endpoint: Arc<str>,
    },
    CloseSocket {
        socket_id: u64,
        linger: Duration,
        done: Sender<()>,
    },
    /// The host-name lookup for the connecter (`key`, `uid`) finished (sent by its helper
    /// thread, see [`resolve`]).
    Resolved {
        key: usize,
        uid: u64,
        result: std::result::Result<Vec<SocketAddr>, String>,
    },
    /// A pipe of the connection at `token` changed state.
    Wake {
        token: Token,
        uid: u64,
    },
    Shutdown,
    /// Makes the loop panic: the test hook behind [`IoHandle::inject_panic`].
    InjectPanic,
    /// Reports (pending timers, listeners and connections) to the tests of their bounds.
    #[cfg(test)]
    Probe(Sender<(usize, usize)>),
}

/// The half of an I/O thread that other threads hold.
pub(crate) struct IoShared {
    commands: Sender<Command>,
    waker: Waker,
    /// True while the loop is (about to be) blocked in `poll`; only then is the waker rung.
    sleeping: AtomicBool,
    /// Shared by every I/O thread of a context: set when one of them stopped other than
    /// by Shutdown (a panic, or a failed poll). Nothing clears it.
    dead: Arc<AtomicBool>,
}

impl IoShared {
    fn send(&self, command: Command) {
        // The loop owns the receiver until it exits: after Shutdown, which is sent last,
        // or when it died, which `dead` reports to the callers that can tell theirs. A
        // failed send has nothing left to do.
        let _ = self.commands.send(command);
        if self.sleeping.load(SeqCst) && self.sleeping.swap(false, SeqCst) {
            let _ = self.waker.wake();
        }
    }
}

/// Wakes an I/O thread about one connection. Held by the pipes of that connection.
#[derive(Clone)]
pub(crate) struct IoWake {
    shared: Arc<IoShared>,
    token: Token,
    uid: u64,
}

impl crate::wake::Wake for IoWake {
    fn wake(&self) {
        self.shared.send(Command::Wake {
            token: self.token,
            uid: self.uid,
        });
    }
}

/// A handle a socket uses to reach its I/O thread.
#[derive(Clone)]
pub(crate) struct IoHandle {
    shared: Arc<IoShared>,
}

impl std::fmt::Debug for IoHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoHandle")
    }
}

impl IoHandle {
    /// Test hook: makes the I/O thread panic, as a bug in it would.
    pub(crate) fn inject_panic(&self) {
        self.shared.send(Command::InjectPanic);
    }

    pub(crate) fn bind(
        &self,
        socket: &Arc<SocketShared>,
        options: &Options,
        listener: Listener,
        endpoint: String,
    ) {
        self.shared.send(Command::Bind {
            socket: socket.clone(),
            options: Arc::new(options.clone()),
            listener,
            endpoint,
        });
    }

    pub(crate) fn connect(
        &self,
        socket: &Arc<SocketShared>,
        options: &Options,
        target: Target,
        endpoint: Arc<str>,
        early: Option<EarlyEnds>,
    ) {
        self.shared.send(Command::Connect {
            socket: socket.clone(),
            options: Arc::new(options.clone()),
            target,
            endpoint,
            early,
        });
    }

    /// Stops a listener; returns once its port or file is free (or after a second, should
    /// the I/O thread be unresponsive: a caller must never hang here).
    pub(crate) fn unbind(&self, socket_id: u64, endpoint: String) {
        let (done, wait) = crossbeam_channel::bounded(1);
        self.shared.send(Command::Unbind {
            socket_id,
            endpoint,
            done,
        });
        let _ = wait.recv_timeout(ACK_TIMEOUT);
    }

    pub(crate) fn disconnect(&self, socket_id: u64, endpoint: Arc<str>) {
        self.shared.send(Command::Disconnect {
            socket_id,
            endpoint,
        });
    }

    /// Closes a socket's listeners and connecters and puts its connections into linger;
    /// returns once the listeners are closed, so their addresses can be bound again at
    /// once (bounded, like [`IoHandle::unbind`]).
    pub(crate) fn close_socket(&self, socket_id: u64, linger: Duration) {
        let (done, wait) = crossbeam_channel::bounded(1);
        self.shared.send(Command::CloseSocket {
            socket_id,
            linger,
            done,
        });
        let _ = wait.recv_timeout(ACK_TIMEOUT);
    }
}

/// An I/O thread and the handle to stop it.
pub(crate) struct IoThread {
    handle: IoHandle,
    join: Option<JoinHandle<()>>,
}

const WAKER_TOKEN: Token = Token(usize::MAX);

/// Longest a caller waits for the I/O thread to confirm an unbind or close.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);

impl IoThread {
    /// Starts I/O thread number `index` of a context whose threads share `dead`.
    /// `zap` tells its connections where the context's ZAP handler is; `spin` whether
    /// its loop spins before it sleeps (see `crate::spin`).
    pub(crate) fn spawn(
        index: usize,
        dead: Arc<AtomicBool>,
        zap: Arc<ZapHub>,
        spin: bool,
    ) -> Result<IoThread> {
        let poll = mio::Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(IoShared {
            commands: tx,
            waker,
            sleeping: AtomicBool::new(false),
            dead,
        });
        let looped = io_loop::Loop::new(poll, shared.clone(), rx, zap, spin);
        let join = std::thread::Builder::new()
            .name(format!("ferromq-io-{index}"))
            .spawn(move || looped.run())?;
        Ok(IoThread {
            handle: IoHandle { shared },
            join: Some(join),
        })
    }

    pub(crate) fn handle(&self) -> IoHandle {
        self.handle.clone()
    }

    /// Asks the thread to finish (after its lingering connections) and waits for it.
    pub(crate) fn shutdown(mut self) {
        self.handle.shared.send(Command::Shutdown);
        if let Some(join) = self.join.take() {
            // A panic on the I/O thread is a bug; it has already been reported by the
            // panic hook (and through `dead` to the sockets), and the context's drop must
            // not panic in turn.
            let _ = join.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{IoSlice, Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::endpoint::Endpoint;
    use crate::mailbox::SocketEvent;
    use crate::socket_type::SocketType;
    use crate::zmtp::{Connection, ConnectionConfig, Event};

    const LIMIT: Duration = Duration::from_secs(20);

    fn probe(io: &IoHandle) -> (usize, usize) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        io.shared.send(Command::Probe(tx));
        rx.recv_timeout(LIMIT).expect("the I/O thread answers")
    }

    /// Waits until `probe` satisfies `ok`; returns the last answer.
    fn probe_until(io: &IoHandle, ok: impl Fn((usize, usize)) -> bool) -> (usize, usize) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let got = probe(io);
            if ok(got) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A PULL socket bound on loopback tcp through a fresh I/O thread.
    fn bound_pull() -> (
        IoThread,
        Arc<SocketShared>,
        crossbeam_channel::Receiver<SocketEvent>,
        String,
    ) {
        let io =
            IoThread::spawn(0, Arc::new(AtomicBool::new(false)), Arc::default(), true).unwrap();
        let (socket, mailbox) = SocketShared::new(SocketType::Pull, true);
        let options = Options::default();
        let ep = Endpoint::parse("tcp://127.0.0.1:0").unwrap();
        let (listener, resolved) = crate::transport::bind(&ep, &options).unwrap();
        io.handle()
            .bind(&socket, &options, listener, resolved.clone());
        let addr = resolved.trim_start_matches("tcp://").to_owned();
        (io, socket, mailbox, addr)
    }

    /// A blocking ZMTP PUSH peer over a std stream, driven by the sans-IO connection.
    struct Peer {
        stream: TcpStream,
        zmtp: Connection,
    }

    impl Peer {
        fn connect(addr: &str) -> Peer {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(LIMIT)).unwrap();
            let zmtp = Connection::new(ConnectionConfig {
                max_msg_size: None,
                ..ConnectionConfig::new(SocketType::Push)
            });
            let mut peer = Peer { stream, zmtp };
            loop {
                peer.flush();
                match peer.zmtp.poll_event().unwrap() {
                    Some(Event::Ready(_)) => return peer,
                    Some(_) => {}
                    None => peer.read(),
                }
            }
        }

        fn flush(&mut self) {
            while self.zmtp.has_output() {
                let mut slices = [IoSlice::new(&[]); 64];
                let n = self.zmtp.output_slices(&mut slices);
                let wrote = self.stream.write_vectored(&slices[..n]).unwrap();
                self.zmtp.advance_output(wrote);
            }
        }

        fn read(&mut self) {
            let mut buf = [0u8; 4096];
            let n = self.stream.read(&mut buf).unwrap();
            assert!(n > 0, "the engine closed the connection");
            self.zmtp.feed(&buf[..n]);
        }
    }

    /// The PONGs the engine sends back are read on another thread, so its writes never
    /// stall on our full receive buffer while we keep sending PINGs.
    fn drain_in_background(stream: &TcpStream) {
        let mut reader = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
    }

    /// Takes the attached peer (keep it: dropping it hangs up) and waits for one message
    /// from it.
    fn recv_one(
        mailbox: &crossbeam_channel::Receiver<SocketEvent>,
    ) -> (crate::mailbox::Peer, crate::message::Message) {
        let Ok(SocketEvent::Attach(peer)) = mailbox.recv_timeout(LIMIT) else {
            panic!("no peer attached");
        };
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Ok(m) = peer.rx.try_read() {
                return (peer, m);
            }
            assert!(Instant::now() < deadline, "no message arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_ping_flood_with_ttl_keeps_one_ttl_timer_per_connection() {
        let (io, socket, mailbox, addr) = bound_pull();
        let mut peer = Peer::connect(&addr);
        drain_in_background(&peer.stream);
        for _ in 0..20_000 {
            peer.zmtp.send_ping(600, b"ping");
        }
        // After the PINGs, a message: once it is in the pipe, every PING was handled.
        peer.zmtp
            .send_message(&crate::message::Message::from("after"));
        peer.flush();
        let (_attached, msg) = recv_one(&mailbox);
        assert_eq!(msg, "after");
        let (timers, entries) = probe(&io.handle());
        assert_eq!(entries, 2, "the listener and the connection");
        // The connection's one TTL timer (its handshake timer went with the handshake);
        // before, each PING added a TTL timer: 20,000 of them.
        assert_eq!(timers, 1, "timers pending for one connection");
        // (The PONG reader holds a clone of the stream: shut it, not just drop ours.)
        let _ = peer.stream.shutdown(std::net::Shutdown::Both);
        drop(peer);
        let (timers, entries) = probe_until(&io.handle(), |(t, e)| t == 0 && e == 1);
        assert_eq!(
            (timers, entries),
            (0, 1),
            "a closed connection's timers are gone"
        );
        io.handle().close_socket(socket.id, Duration::ZERO);
        io.shutdown();
    }

    #[test]
    fn ten_thousand_connections_opened_and_closed_leave_no_timers_behind() {
        let (io, socket, _mailbox, addr) = bound_pull();
        // Each accepted connection arms its 30 s handshake timer; each closes unshaken.
        for _ in 0..200 {
            let streams: Vec<TcpStream> = (0..50)
                .map(|_| TcpStream::connect(&addr).unwrap())
                .collect();
            drop(streams);
            // Let the engine keep up, so the listen backlog (100) never overflows.
            probe_until(&io.handle(), |(_, e)| e == 1);
        }
        let (timers, entries) = probe_until(&io.handle(), |(t, e)| t == 0 && e == 1);
        assert_eq!(entries, 1, "only the listener is left");
        // Before, each closed connection left its handshake timer queued for 30 s.
        assert_eq!(timers, 0, "timers of closed connections are released");
        io.handle().close_socket(socket.id, Duration::ZERO);
        io.shutdown();
    }

    #[test]
    fn a_huge_handshake_timeout_and_heartbeat_do_not_panic_the_loop() {
        let dead = Arc::new(AtomicBool::new(false));
        let io = IoThread::spawn(0, dead.clone(), Arc::default(), true).unwrap();
        let (socket, mailbox) = SocketShared::new(SocketType::Pull, true);
        let options = Options {
            handshake_timeout: Some(Duration::MAX),
            heartbeat_ivl: Some(Duration::MAX),
            heartbeat_timeout: Some(Duration::MAX),
            linger: Duration::MAX,
            ..Options::default()
        };
        let ep = Endpoint::parse("tcp://127.0.0.1:0").unwrap();
        let (listener, resolved) = crate::transport::bind(&ep, &options).unwrap();
        io.handle()
            .bind(&socket, &options, listener, resolved.clone());
        let mut peer = Peer::connect(resolved.trim_start_matches("tcp://"));
        peer.zmtp.send_message(&crate::message::Message::from("hi"));
        peer.flush();
        let (attached, msg) = recv_one(&mailbox);
        assert_eq!(msg, "hi");
        let (timers, _) = probe(&io.handle());
        assert_eq!(timers, 1, "the heartbeat");
        assert!(!dead.load(SeqCst), "the loop is alive");
        drop(attached);
        io.handle().close_socket(socket.id, Duration::MAX);
        drop(peer);
        io.shutdown();
        assert!(!dead.load(SeqCst), "the loop stopped by its shutdown");
    }
}
