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
mod timers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::{Token, Waker};

use crate::endpoint::IpcEndpoint;
use crate::error::Result;
use crate::mailbox::SocketShared;
use crate::options::Options;
use crate::transport::Listener;

/// Where a connecting socket connects to, resolved once at `connect()`.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The addresses a tcp host resolved to; attempts rotate through them.
    Tcp(Vec<SocketAddr>),
    /// A unix-domain socket path or abstract name.
    Ipc(IpcEndpoint),
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
    /// A pipe of the connection at `token` changed state.
    Wake {
        token: Token,
        uid: u64,
    },
    Shutdown,
    /// Makes the loop panic: the test hook behind [`IoHandle::inject_panic`].
    InjectPanic,
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
    /// Starts I/O thread number `index` of a context whose threads share `dead`.
    pub(crate) fn spawn(index: usize, dead: Arc<AtomicBool>) -> Result<IoThread> {
        let poll = mio::Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(IoShared {
            commands: tx,
            waker,
            sleeping: AtomicBool::new(false),
            dead,
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
            // panic hook (and through `dead` to the sockets), and the context's drop must
            // not panic in turn.
            let _ = join.join();
        }
    }
}
