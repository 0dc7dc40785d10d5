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
mod resolve;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::{Token, Waker};

use crate::endpoint::{IpcEndpoint, TcpEndpoint};
use crate::error::Result;
use crate::mailbox::SocketShared;
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
}

/// The half of an I/O thread that other threads hold.
pub(crate) struct IoShared {
    commands: Sender<Command>,
    waker: Waker,
    /// True while the loop is (about to be) blocked in `poll`; only then is the waker rung.
    sleeping: AtomicBool,
}

impl IoShared {
    fn send(&self, command: Command) {
        // The loop owns the receiver until it exits, and it exits only on Shutdown, which
        // is sent last; a failed send can only race with that and has nothing left to do.
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
    ) {
        self.shared.send(Command::Connect {
            socket: socket.clone(),
            options: Arc::new(options.clone()),
            target,
            endpoint,
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
    pub(crate) fn spawn(index: usize) -> Result<IoThread> {
        let poll = mio::Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(IoShared {
            commands: tx,
            waker,
            sleeping: AtomicBool::new(false),
        });
        let looped = io_loop::Loop::new(poll, shared.clone(), rx);
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
            // panic hook, and the context's drop must not panic in turn.
            let _ = join.join();
        }
    }
}
