//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod aio;
pub mod spec;

use std::time::{Duration, Instant};

use ferromq::{Monitor, MonitorEvent};

/// Reads `monitor`'s events until one matches `want` and returns it; panics with every
/// event seen when none has matched within 10 s.
pub fn expect_event(
    monitor: &Monitor,
    what: &str,
    want: impl Fn(&MonitorEvent) -> bool,
) -> MonitorEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monitor.recv_timeout(left) {
            Ok(e) if want(&e) => return e,
            Ok(e) => seen.push(e),
            Err(err) => panic!("no {what} event ({err}); saw {seen:?}"),
        }
    }
}

/// A tcp port on 127.0.0.1 that nothing listens on right now (bound once, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

/// Runs `f`, aborting the whole test process if it has not returned within `limit`: for a
/// call that a bug would keep running forever, so the test fails instead of hanging. Not a
/// speed check: give `limit` seconds of slack.
pub fn within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let guard = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(limit) {
            eprintln!("watchdog: the call was still running after {limit:?}");
            std::process::abort();
        }
    });
    let r = f();
    drop(done);
    guard.join().unwrap();
    r
}

/// CPU time used so far (user + system, in clock ticks of 10 ms), read from a `stat` file
/// of /proc: `/proc/self/stat` for the whole process, `/proc/thread-self/stat` for the
/// calling thread.
pub fn cpu_ticks(stat_file: &str) -> u64 {
    let stat = std::fs::read_to_string(stat_file).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
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

/// One side of a proxy: the typed XPUB or XSUB, or a dynamic `Socket` of either type.
pub trait Hop: Send + 'static {
    fn bind_fresh(&mut self, t: Transport) -> String;
    fn connect_to(&mut self, ep: &str);
    /// A message if one is there, without blocking.
    fn take(&mut self) -> Option<ferromq::Message>;
    /// Sends without blocking (these types never block on send).
    fn give(&mut self, m: ferromq::Message);
}

macro_rules! hop {
    ($($ty:ty),*) => {$(
        impl Hop for $ty {
            fn bind_fresh(&mut self, t: Transport) -> String {
                self.bind(&t.fresh_endpoint("proxy")).unwrap();
                self.last_endpoint().unwrap().to_owned()
            }
            fn connect_to(&mut self, ep: &str) {
                self.connect(ep).unwrap();
            }
            fn take(&mut self) -> Option<ferromq::Message> {
                self.try_recv().ok()
            }
            fn give(&mut self, m: ferromq::Message) {
                self.try_send(m).unwrap();
            }
        }
    )*};
}
hop!(ferromq::XPub, ferromq::XSub, ferromq::Socket);

/// Runs a forwarding loop between the proxy's two sockets until `stop` (or a minute),
/// with every call non-blocking: subscriptions (and anything else) from the front (XPUB)
/// go to the back (XSUB), messages from the back to the front.
pub fn forward(mut front: impl Hop, mut back: impl Hop, stop: &std::sync::atomic::AtomicBool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < deadline {
        let mut idle = true;
        if let Some(m) = front.take() {
            back.give(m);
            idle = false;
        }
        if let Some(m) = back.take() {
            front.give(m);
            idle = false;
        }
        if idle {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// A NULL-mechanism ZMTP 3.1 greeting, as libzmq sends it (padding aside), for tests that
/// play a peer by hand.
pub fn zmtp_greeting() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    g.extend_from_slice(b"NULL");
    g.resize(64, 0);
    g
}

/// A READY command announcing `socket_type`, as a short command frame.
pub fn zmtp_ready(socket_type: &str) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// `Some("python3")` when python3 has pyzmq with a libzmq of 4.3 or later (built with
/// CURVE too, if `curve`). Otherwise the test cannot run: under `CI=true` that is a
/// failure; elsewhere it says so and returns `None`, and the test passes without checking.
pub fn python_with_pyzmq(curve: bool) -> Option<&'static str> {
    let check = if curve {
        "import zmq; assert zmq.zmq_version_info() >= (4, 3) and zmq.has('curve')"
    } else {
        "import zmq; assert zmq.zmq_version_info() >= (4, 3)"
    };
    let ok = std::process::Command::new("python3")
        .args(["-c", check])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some("python3");
    }
    let what = if curve { "pyzmq with CURVE" } else { "pyzmq" };
    assert!(
        std::env::var("CI").is_err(),
        "{what} is needed for this test (pip install pyzmq)"
    );
    eprintln!("skipped: {what} is not installed (pip install pyzmq)");
    None
}

/// Sends 1,000 messages PUSH → PULL over tcp in `ctx`, so that every spin is at its
/// longest, then asserts that the quiet after them costs (almost) no CPU: two threads of
/// this process wait then, the I/O thread in its loop and this one in a receive that can
/// only time out. A thread that kept looking would use about 60 ticks here.
pub fn assert_quiet_after_traffic_uses_no_cpu(ctx: &ferromq::Context) {
    const WAIT: Duration = Duration::from_secs(10);
    let mut pull = ctx.pull().unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(WAIT));
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    assert!(eventually(WAIT, || push.peer_count() == 1));
    for i in 0..1000u32 {
        push.send(i.to_be_bytes().to_vec()).unwrap();
        assert_eq!(
            &pull.recv_timeout(WAIT).unwrap()[0][..],
            &i.to_be_bytes()[..]
        );
    }

    let before = cpu_ticks("/proc/self/stat");
    let err = pull.recv_timeout(Duration::from_millis(600)).unwrap_err();
    assert!(matches!(err, ferromq::Error::TimedOut), "{err:?}");
    let used = cpu_ticks("/proc/self/stat") - before;
    assert!(used <= 10, "waiting used {used} ticks of CPU");
}
