//! No option value or call can break a context: every `Duration` setting takes values up
//! to `Duration::MAX` (huge means "as long as possible", never a panic), a socket with an
//! infinite linger is dropped in bounded time when its peer is gone, `poll` with no items
//! waits instead of panicking, and a dead I/O thread is reported by every socket instead
//! of `bind` answering Ok while nothing can connect.
//!
//! Every test body runs under a watchdog: a hang fails the test instead of stalling CI.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ferromq::{poll, Context, Error, Message};
use util::eventually;

/// Longest any single wait may take.
const LIMIT: Duration = Duration::from_secs(10);
/// Longest a whole test body may take before it counts as hung.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `body` on its own thread and fails if it does not finish within [`WATCHDOG`]
/// (the hung thread is left behind: the failing test ends the process's interest in it).
fn within_watchdog(what: &str, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: show its message.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: hung for {WATCHDOG:?}"),
    }
}

/// Every `Duration` setting at its largest value on both ends of a tcp PUSH/PULL pair:
/// the connection still works, and dropping the sockets and the context returns.
#[test]
fn every_duration_setting_takes_duration_max() {
    within_watchdog("Duration::MAX everywhere", || {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        let mut push = ctx.push().unwrap();
        macro_rules! max_out {
            ($s:expr) => {
                $s.set_linger(Duration::MAX);
                $s.set_send_timeout(Some(Duration::MAX));
                $s.set_recv_timeout(Some(Duration::MAX));
                $s.set_reconnect_interval(Some(Duration::MAX));
                $s.set_reconnect_interval_max(Duration::MAX);
                $s.set_handshake_timeout(Some(Duration::MAX));
                $s.set_heartbeat_interval(Some(Duration::MAX));
                $s.set_heartbeat_ttl(Some(Duration::MAX));
                $s.set_heartbeat_timeout(Some(Duration::MAX));
                $s.set_tcp_keepalive(Some(true));
                $s.set_tcp_keepalive_idle(Some(Duration::MAX));
                $s.set_tcp_keepalive_interval(Some(Duration::MAX));
            };
        }
        max_out!(pull);
        max_out!(push);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap().to_owned();
        push.connect(&endpoint).unwrap();
        // With the handshake timeout at its maximum the I/O thread used to panic on the
        // first connection, and this send and receive (no timeout: `Duration::MAX`) hung.
        push.send("over the longest timers").unwrap();
        assert_eq!(pull.recv().unwrap(), "over the longest timers");
        let mut dynamic = ctx.socket(ferromq::SocketType::Dealer).unwrap();
        max_out!(dynamic);
        drop((push, pull, dynamic));
        drop(ctx);
    });
}

/// A connect whose first attempt is refused schedules the next one after the reconnect
/// interval, and doubles it. At `Duration::MAX` that doubling used to panic the I/O
/// thread, after which no other socket of the context could connect.
#[test]
fn a_huge_reconnect_interval_leaves_the_io_thread_working() {
    within_watchdog("reconnect at Duration::MAX", || {
        let ctx = Context::new();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut lost = ctx.push().unwrap();
        lost.set_reconnect_interval(Some(Duration::MAX));
        lost.set_reconnect_interval_max(Duration::MAX);
        lost.connect(&format!("tcp://{refused}")).unwrap();
        // A second, ordinary pair on the same I/O thread still connects.
        let mut pull = ctx.pull().unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let mut push = ctx.push().unwrap();
        push.connect(pull.last_endpoint().unwrap()).unwrap();
        push.send_timeout("still alive", LIMIT).unwrap();
        assert_eq!(pull.recv_timeout(LIMIT).unwrap(), "still alive");
    });
}

/// A hand-driven tcp peer: completes the ZMTP handshake as `socket_type` and never reads.
fn raw_peer(endpoint: &str, socket_type: &str) -> TcpStream {
    let addr = endpoint.strip_prefix("tcp://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready(socket_type));
    stream.write_all(&out).unwrap();
    stream
}

/// Resets a connection (linger 0 with unread data sends RST).
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// A PUSH with an infinite linger whose only peer took nothing and then died: the
/// messages handed back have no peer to go to. Dropping the socket and its context must
/// still return (within `MAX_LINGER_WITHOUT_PEER`); it used to wait for ever.
#[test]
fn infinite_linger_with_a_dead_peer_does_not_hang_the_drop() {
    within_watchdog("linger Duration::MAX, dead peer", || {
        let ctx = Context::new();
        let mut push = ctx.push().unwrap();
        push.set_linger(Duration::MAX);
        push.set_send_hwm(100);
        push.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = push.last_endpoint().unwrap().to_owned();
        let peer = raw_peer(&endpoint, "PULL");
        assert!(eventually(LIMIT, || push.peer_count() == 1));
        let body = vec![7u8; 64 * 1024];
        let mut queued = 0;
        while push
            .send_timeout(Message::from(body.clone()), Duration::from_millis(200))
            .is_ok()
        {
            queued += 1;
        }
        assert!(queued > 0, "nothing could be queued");
        reset(peer);
        // The socket takes back what the dead connection had not sent.
        assert!(eventually(LIMIT, || push.peer_count() == 0));
        drop(push);
        drop(ctx);
    });
}

/// An infinite linger with no peer at all (a connect nobody answers), and one with a
/// connection whose handshake never finished: nothing to wait for, so the drop returns.
#[test]
fn infinite_linger_with_no_peer_does_not_hang_the_drop() {
    within_watchdog("linger Duration::MAX, no peer", || {
        let ctx = Context::new();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut push = ctx.push().unwrap();
        push.set_linger(Duration::MAX);
        push.connect(&format!("tcp://{refused}")).unwrap();
        // Queued for the connect (`IMMEDIATE=0`), which never comes up: the close drops
        // it rather than wait for ever.
        push.try_send("nobody").unwrap();
        // A listener that accepts but never answers the greeting.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut dealer = ctx.dealer().unwrap();
        dealer.set_linger(Duration::MAX);
        dealer
            .connect(&format!("tcp://{}", silent.local_addr().unwrap()))
            .unwrap();
        let _held = silent.accept().unwrap();
        drop((push, dealer));
        drop(ctx);
    });
}

/// An infinite linger is libzmq's: a live peer that reads gets everything that was
/// queued when the socket was dropped, however long that takes. (At `Duration::MAX` the
/// I/O thread used to panic on the linger deadline and drop the queue.)
#[test]
fn infinite_linger_delivers_everything_to_a_live_peer() {
    const N: usize = 2000;
    within_watchdog("linger Duration::MAX, live peer", || {
        let receiving = Context::new();
        let mut pull = receiving.pull().unwrap();
        pull.set_recv_hwm(10);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap().to_owned();

        let sending = Context::new();
        let mut push = sending.push().unwrap();
        push.set_linger(Duration::MAX);
        push.set_send_hwm(N);
        push.connect(&endpoint).unwrap();
        for i in 0..N {
            push.send_timeout(format!("{i}"), LIMIT).unwrap();
        }
        // Most are still queued: the reader takes them only now, after the drop.
        let dropper = thread::spawn(move || {
            drop(push);
            drop(sending);
        });
        for i in 0..N {
            assert_eq!(pull.recv_timeout(LIMIT).unwrap(), format!("{i}").as_str());
        }
        dropper.join().unwrap();
    });
}

/// `poll` with nothing to poll sleeps for its timeout (libzmq's `zmq_poll` with no items),
/// and with no timeout blocks as `zmq_poll(NULL, 0, -1)` does, instead of panicking in an
/// empty select.
#[test]
fn poll_with_no_items_waits_instead_of_panicking() {
    within_watchdog("poll with no items", || {
        let ready = poll(&mut [], Some(Duration::from_millis(20)));
        assert!(ready.is_empty());
        assert_eq!(ready.count(), 0);
        let (tx, rx) = mpsc::channel();
        // Left blocked for the rest of the process: nothing can end that wait, by design.
        thread::spawn(move || {
            poll(&mut [], None);
            let _ = tx.send(());
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(200)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "poll(&mut [], None) returned or panicked"
        );
    });
}

/// When an I/O thread dies (here by the test hook that makes it panic, as a bug would),
/// every socket of the context says so: `bind` and `connect` fail with
/// `IoThreadStopped` rather than answering Ok for endpoints nobody serves, a receive
/// blocked without a timeout returns the same error, and the context still drops.
#[test]
fn a_dead_io_thread_is_reported_by_every_socket() {
    within_watchdog("dead I/O thread", || {
        let ctx = Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let mut inproc = ctx.pull().unwrap();
        inproc.bind("inproc://still-works").unwrap();
        let blocked = thread::spawn(move || {
            let got = pull.recv();
            (pull, got)
        });
        thread::sleep(Duration::from_millis(50));
        ctx.test_hook_panic_io_threads();

        let (mut pull, got) = blocked.join().unwrap();
        assert!(
            matches!(got, Err(Error::IoThreadStopped)),
            "a blocked receive: {got:?}"
        );
        let mut other = ctx.pull().unwrap();
        let bound = other.bind("tcp://127.0.0.1:*");
        assert!(
            matches!(bound, Err(Error::IoThreadStopped)),
            "bind: {bound:?}"
        );
        let mut push = ctx.push().unwrap();
        let connected = push.connect("tcp://127.0.0.1:9");
        assert!(
            matches!(connected, Err(Error::IoThreadStopped)),
            "connect: {connected:?}"
        );
        let timed = pull.recv_timeout(Duration::from_secs(5));
        assert!(matches!(timed, Err(Error::IoThreadStopped)), "{timed:?}");
        // What does not need the I/O thread still works, until it would have to wait.
        push.connect("inproc://still-works").unwrap();
        push.send_timeout("inproc", LIMIT).unwrap();
        assert_eq!(inproc.recv_timeout(LIMIT).unwrap(), "inproc");
        drop((pull, other, push, inproc));
        drop(ctx);
    });
}
