//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod spec;

use std::time::{Duration, Instant};

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A name unique within this test process, for inproc names and ipc paths.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique ipc endpoint under the temp directory.
pub fn ipc_endpoint(prefix: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}.sock", unique(prefix)));
    format!("ipc://{}", path.display())
}

/// The transports every socket works over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Ipc,
    Inproc,
}

impl Transport {
    /// Every transport, for tests that run on each.
    pub const ALL: [Transport; 3] = [Transport::Tcp, Transport::Ipc, Transport::Inproc];

    /// A fresh endpoint to bind: an ephemeral loopback port, a unique ipc path or a unique
    /// inproc name. After binding, `last_endpoint` tells what to connect to.
    pub fn fresh_endpoint(self, prefix: &str) -> String {
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Transport::Ipc => ipc_endpoint(prefix),
            Transport::Inproc => format!("inproc://{}", unique(prefix)),
        }
    }
}

/// A libzmq socket for interop tests: every blocking call gives up after 10 s, and close
/// drops anything unsent (each test receives what it checks before closing).
pub fn zmq_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.set_sndtimeo(10_000).unwrap();
    s.set_linger(0).unwrap();
    s
}
