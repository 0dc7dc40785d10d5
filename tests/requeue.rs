//! Nothing queued in ferromq is lost when a PUSH or REQ peer goes away: a connection that
//! breaks hands back every message it had not wholly written to the kernel, and the socket
//! sends them again (PUSH: to the other peers or the reconnection, in order, ahead of newer
//! ones; REQ: the request, to the next peer, and the wait goes on).
//!
//! Over tcp and ipc the peer that goes away is a raw socket driven by hand: it completes the
//! ZMTP handshake, reads nothing, then resets the connection. What the kernel buffers held
//! at that moment is lost, as it must be; each test bounds that from the buffer sizes and
//! asserts that everything else arrives. Over inproc nothing at all may be lost. Every wait
//! is bounded.

mod util;

use std::collections::HashSet;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ferromq::{Context, Message};
use socket2::{Domain, SockAddr, Socket, Type};
use util::{eventually, ipc_endpoint, unique, Transport};

/// Longest any single wait may take.
const LIMIT: Duration = Duration::from_secs(10);
/// Bytes per PUSH message: its sequence number, then padding.
const SIZE: usize = 4096;
/// The receive buffer asked for on the raw peer (Linux doubles it).
const RAW_RCVBUF: usize = 64 * 1024;

/// The socket address and domain of a tcp or ipc endpoint.
fn sock_addr(endpoint: &str) -> (Domain, SockAddr) {
    if let Some(addr) = endpoint.strip_prefix("tcp://") {
        let addr: SocketAddr = addr.parse().unwrap();
        (Domain::IPV4, SockAddr::from(addr))
    } else {
        let path = endpoint.strip_prefix("ipc://").unwrap();
        (Domain::UNIX, SockAddr::unix(path).unwrap())
    }
}

/// A hand-driven peer: handshakes as `socket_type`, reads nothing, and resets on
/// [`Raw::reset`].
struct Raw {
    socket: Socket,
}

impl Raw {
    /// Connects to a ferromq socket bound at `endpoint`.
    fn connect(endpoint: &str, socket_type: &str) -> Raw {
        let (domain, addr) = sock_addr(endpoint);
        let socket = Socket::new(domain, Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(RAW_RCVBUF).unwrap();
        socket.connect(&addr).unwrap();
        Raw::handshake(socket, socket_type)
    }

    fn handshake(mut socket: Socket, socket_type: &str) -> Raw {
        socket.set_write_timeout(Some(LIMIT)).unwrap();
        let mut out = util::zmtp_greeting();
        out.extend_from_slice(&util::zmtp_ready(socket_type));
        socket.write_all(&out).unwrap();
        Raw { socket }
    }

    /// Most bytes of ours the kernel can hold for this dead peer: its receive buffer plus
    /// the ferromq side's send buffer (tcp autotunes it up to `tcp_wmem`'s maximum; a unix
    /// socket's is `wmem_default`, charged for what waits in the peer's queue), plus one
    /// 64 KiB buffer of slack for each, since the kernel checks a limit before it adds
    /// the next buffer, not after.
    fn kernel_bytes(&self, transport: Transport) -> usize {
        let rcv = self.socket.recv_buffer_size().unwrap();
        let snd = match transport {
            Transport::Tcp => proc_number("/proc/sys/net/ipv4/tcp_wmem", 2),
            _ => proc_number("/proc/sys/net/core/wmem_default", 0),
        };
        rcv + snd + 2 * 64 * 1024
    }

    /// Resets the connection: with unread data and linger 0 the kernel sends RST, and
    /// whatever it buffered for us is gone.
    fn reset(self) {
        self.socket.set_linger(Some(Duration::ZERO)).unwrap();
        drop(self.socket);
    }
}

/// A hand-driven listener that accepts one ferromq connecter.
struct RawListener {
    socket: Socket,
    endpoint: String,
}

impl RawListener {
    fn bind(transport: Transport) -> RawListener {
        let endpoint = match transport {
            Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
            _ => ipc_endpoint("requeue-raw"),
        };
        let (domain, addr) = sock_addr(&endpoint);
        let socket = Socket::new(domain, Type::STREAM, None).unwrap();
        if transport == Transport::Tcp {
            socket.set_reuse_address(true).unwrap();
        }
        // Accepted sockets inherit it.
        socket.set_recv_buffer_size(RAW_RCVBUF).unwrap();
        socket.bind(&addr).unwrap();
        socket.listen(8).unwrap();
        let endpoint = match transport {
            Transport::Tcp => format!(
                "tcp://{}",
                socket.local_addr().unwrap().as_socket().unwrap()
            ),
            _ => endpoint,
        };
        RawListener { socket, endpoint }
    }

    fn accept(&self, socket_type: &str) -> Raw {
        self.socket.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + LIMIT;
        loop {
            match self.socket.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    return Raw::handshake(s, socket_type);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "nobody connected");
                    thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

fn proc_number(path: &str, field: usize) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .split_whitespace()
        .nth(field)
        .unwrap()
        .parse()
        .unwrap()
}

fn numbered(seq: u32) -> Message {
    let mut body = vec![0u8; SIZE];
    body[..4].copy_from_slice(&seq.to_be_bytes());
    Message::from(body)
}

fn seq_of(msg: &Message) -> u32 {
    u32::from_be_bytes(msg[0][..4].try_into().unwrap())
}

/// Receives sequence numbers on a PULL until `done` is set and nothing came for 300 ms.
fn collect(mut pull: ferromq::Pull, done: Arc<AtomicBool>) -> thread::JoinHandle<Vec<u32>> {
    thread::spawn(move || {
        let mut got = Vec::new();
        let deadline = Instant::now() + 2 * LIMIT;
        while Instant::now() < deadline {
            match pull.recv_timeout(Duration::from_millis(300)) {
                Ok(m) => got.push(seq_of(&m)),
                Err(_) if done.load(Ordering::SeqCst) => break,
                Err(_) => {}
            }
        }
        got
    })
}

/// Every number appears at most once; returns them as a set.
fn distinct(got: &[u32], what: &str) -> HashSet<u32> {
    let set: HashSet<u32> = got.iter().copied().collect();
    assert_eq!(set.len(), got.len(), "{what}: a message arrived twice");
    set
}

/// A PUSH with two PULL peers; one goes away while thousands of messages are queued for
/// it. Every message reaches the survivor exactly once, except (tcp/ipc) what the dead
/// connection's kernel buffers held.
#[test]
fn push_requeues_a_dead_peers_queue_to_the_survivor() {
    const N: u32 = 8000;
    const HWM: usize = 3000;
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(HWM);
        push.set_linger(LIMIT);
        push.bind(&t.fresh_endpoint("requeue-push")).unwrap();
        let endpoint = push.last_endpoint().unwrap().to_owned();

        let mut survivor = ctx.pull().unwrap();
        survivor.connect(&endpoint).unwrap();
        assert!(eventually(LIMIT, || push.peer_count() == 1));
        // The peer that goes away: a ferromq PULL that never reads (inproc), or a raw peer
        // that completes the handshake and never reads (tcp, ipc).
        let mut inproc_victim = None;
        let mut raw_victim = None;
        match t {
            Transport::Inproc => {
                let mut v = ctx.pull().unwrap();
                v.connect(&endpoint).unwrap();
                inproc_victim = Some(v);
            }
            _ => raw_victim = Some(Raw::connect(&endpoint, "PULL")),
        }
        assert!(eventually(LIMIT, || push.peer_count() == 2));

        let done = Arc::new(AtomicBool::new(false));
        let receiver = collect(survivor, done.clone());
        for i in 0..N {
            push.send_timeout(numbered(i), LIMIT).unwrap();
        }
        // Thousands now wait for the victim in its pipe, the encoder and the kernel.
        let bound = match raw_victim.take() {
            Some(raw) => {
                let bytes = raw.kernel_bytes(t);
                raw.reset();
                bytes / SIZE
            }
            None => {
                drop(inproc_victim.take());
                0
            }
        };
        // Any call on the socket takes the handed-back messages in and moves them on;
        // closing gives what is still held the linger time.
        assert!(eventually(LIMIT, || push.peer_count() == 1));
        let closing = Instant::now();
        drop(push);
        assert!(closing.elapsed() < LIMIT, "{t:?}: close hung");
        done.store(true, Ordering::SeqCst);
        let got = receiver.join().unwrap();
        let set = distinct(&got, &format!("{t:?}"));
        let lost = N as usize - set.len();
        println!(
            "{t:?}: sent {N}, survivor received {}, lost {lost} (bound {bound})",
            set.len()
        );
        assert!(
            lost <= bound,
            "{t:?}: {lost} lost, more than the kernel could hold ({bound})"
        );
        assert!(set.iter().all(|&s| s < N));
    }
}

/// A PUSH with one PULL peer that goes away and comes back on the same endpoint: nothing
/// queued in ferromq is lost and the order is kept. Over tcp/ipc the messages the dead
/// connection's kernel buffers held were the oldest ones, so what arrives is exactly
/// `first..N` with `first` within the kernel bound.
#[test]
fn push_keeps_order_across_a_peer_that_goes_and_comes_back() {
    const K: u32 = 2500;
    const N: u32 = 5000;
    const HWM: usize = 3000;
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut push = ctx.push().unwrap();
        push.set_send_hwm(HWM);
        push.set_linger(LIMIT);
        push.set_reconnect_interval(Some(Duration::from_millis(20)));

        let mut raw_listener = None;
        let mut old_pull = None;
        let endpoint = match t {
            Transport::Inproc => {
                let endpoint = format!("inproc://{}", unique("requeue-back"));
                let mut pull = ctx.pull().unwrap();
                pull.bind(&endpoint).unwrap();
                old_pull = Some(pull);
                endpoint
            }
            _ => {
                let l = RawListener::bind(t);
                let endpoint = l.endpoint.clone();
                raw_listener = Some(l);
                endpoint
            }
        };
        push.connect(&endpoint).unwrap();
        let raw = raw_listener.as_ref().map(|l| l.accept("PULL"));
        assert!(eventually(LIMIT, || push.peer_count() == 1));
        for i in 0..K {
            push.send_timeout(numbered(i), LIMIT).unwrap();
        }

        // The peer goes away with everything unread.
        let bound = match raw {
            Some(raw) => {
                let bytes = raw.kernel_bytes(t);
                raw.reset();
                drop(raw_listener.take());
                bytes / SIZE
            }
            None => {
                drop(old_pull.take());
                0
            }
        };
        // The rest is sent while the peer is away and after it is back.
        let sender = thread::spawn(move || {
            for i in K..N {
                push.send_timeout(numbered(i), LIMIT).unwrap();
            }
            drop(push);
        });
        thread::sleep(Duration::from_millis(50));
        let mut pull = ctx.pull().unwrap();
        let deadline = Instant::now() + LIMIT;
        while let Err(e) = pull.bind(&endpoint) {
            assert!(Instant::now() < deadline, "{t:?}: rebind: {e}");
            thread::sleep(Duration::from_millis(10));
        }
        let mut got = Vec::new();
        while got.last() != Some(&(N - 1)) {
            match pull.recv_timeout(LIMIT) {
                Ok(m) => got.push(seq_of(&m)),
                Err(e) => panic!("{t:?}: after {} messages: {e}", got.len()),
            }
        }
        sender.join().unwrap();
        let first = got[0];
        println!(
            "{t:?}: sent {N} ({K} before the peer went), received {} in order from {first}, lost {first} (bound {bound})",
            got.len()
        );
        assert_eq!(
            got,
            (first..N).collect::<Vec<_>>(),
            "{t:?}: order or completeness"
        );
        assert!(
            first as usize <= bound,
            "{t:?}: {first} lost, more than the kernel could hold ({bound})"
        );
    }
}

/// A REQ whose peer goes away before the request reached it gets its answer from another
/// REP, transparently. Over tcp/ipc the request is larger than the kernel buffers of the
/// dead connection can hold, so it was only partly written when the connection broke: it
/// comes back whole.
#[test]
fn req_resends_a_request_its_dead_peer_never_got() {
    for t in Transport::ALL {
        let ctx = Context::new();
        let mut good = ctx.rep().unwrap();
        good.bind(&t.fresh_endpoint("requeue-good")).unwrap();
        let good_ep = good.last_endpoint().unwrap().to_owned();
        let server = thread::spawn(move || {
            let request = good.recv_timeout(LIMIT).unwrap();
            let size = request.body().byte_len();
            request.reply(format!("good {size}")).unwrap();
        });

        let mut req = ctx.req().unwrap();
        req.set_recv_timeout(Some(LIMIT));
        req.set_send_timeout(Some(LIMIT));
        let mut inproc_victim = None;
        let (raw, size) = match t {
            Transport::Inproc => {
                let name = format!("inproc://{}", unique("requeue-victim"));
                let mut v = ctx.rep().unwrap();
                v.bind(&name).unwrap();
                req.connect(&name).unwrap();
                inproc_victim = Some(v);
                (None, 10)
            }
            _ => {
                let l = RawListener::bind(t);
                req.connect(&l.endpoint).unwrap();
                let raw = l.accept("REP");
                // Twice what the kernel can hold, and more: the write must stop partway.
                let size = 2 * raw.kernel_bytes(t) + (1 << 20);
                (Some(raw), size)
            }
        };
        // The victim attaches first, so the request goes to it.
        assert!(eventually(LIMIT, || req.peer_count() == 1));
        req.connect(&good_ep).unwrap();
        assert!(eventually(LIMIT, || req.peer_count() == 2));

        let pending = req.send(vec![7u8; size]).unwrap();
        thread::sleep(Duration::from_millis(100));
        match raw {
            Some(raw) => raw.reset(),
            None => drop(inproc_victim.take()),
        }
        let reply = pending.recv().unwrap();
        println!("{t:?}: a {size}-byte request was answered by {reply:?}");
        assert_eq!(reply, format!("good {size}").as_str());
        server.join().unwrap();
    }
}

/// A DEALER hands a dead peer's queue on like a PUSH (inproc, where nothing may be lost).
#[test]
fn dealer_requeues_like_push() {
    const N: u32 = 3000;
    let ctx = Context::new();
    let endpoint = format!("inproc://{}", unique("requeue-dealer"));
    let mut dealer = ctx.dealer().unwrap();
    dealer.set_send_hwm(N as usize);
    dealer.bind(&endpoint).unwrap();
    let mut victim = ctx.dealer().unwrap();
    victim.connect(&endpoint).unwrap();
    assert!(eventually(LIMIT, || dealer.peer_count() == 1));
    let mut survivor = ctx.dealer().unwrap();
    survivor.connect(&endpoint).unwrap();
    assert!(eventually(LIMIT, || dealer.peer_count() == 2));
    for i in 0..N {
        dealer.send_timeout(numbered(i), LIMIT).unwrap();
    }
    drop(victim);
    // The next send takes the handed-back messages in first, so they come before it.
    dealer.send_timeout(numbered(N), LIMIT).unwrap();
    let mut got = Vec::new();
    for _ in 0..=N {
        got.push(seq_of(&survivor.recv_timeout(LIMIT).unwrap()));
    }
    let set = distinct(&got, "dealer");
    assert_eq!(set.len(), N as usize + 1);
    assert_eq!(got.last(), Some(&N), "held messages go ahead of newer ones");
}

/// Handed-back messages count toward the send high-water mark: while any is held, a new
/// message waits, and the held ones go out first, in their original order.
#[test]
fn held_messages_go_first_and_make_sends_wait() {
    let ctx = Context::new();
    let endpoint = format!("inproc://{}", unique("requeue-hwm"));
    let mut push = ctx.push().unwrap();
    push.set_send_hwm(5);
    push.bind(&endpoint).unwrap();
    let victim = {
        let mut v = ctx.pull().unwrap();
        v.set_recv_hwm(1);
        v.connect(&endpoint).unwrap();
        v
    };
    assert!(eventually(LIMIT, || push.peer_count() == 1));
    let mut survivor = ctx.pull().unwrap();
    // Its pipe holds 5 + 1 messages (an inproc pipe holds both high-water marks).
    survivor.set_recv_hwm(1);
    survivor.connect(&endpoint).unwrap();
    assert!(eventually(LIMIT, || push.peer_count() == 2));
    for i in 0..10 {
        push.try_send(numbered(i)).unwrap();
    }
    // The victim had 0, 2, 4, 6, 8; the survivor 1, 3, 5, 7, 9 and room for one more.
    drop(victim);
    let refused = push.try_send(numbered(10)).unwrap_err();
    assert!(matches!(refused.error(), ferromq::Error::WouldBlock));
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(seq_of(&survivor.recv_timeout(LIMIT).unwrap()));
    }
    assert_eq!(
        got,
        [1, 3, 5, 7, 9, 0],
        "the first held message took the free slot"
    );
    push.try_send(numbered(10)).unwrap();
    let mut rest = Vec::new();
    for _ in 0..5 {
        rest.push(seq_of(&survivor.recv_timeout(LIMIT).unwrap()));
    }
    assert_eq!(
        rest,
        [2, 4, 6, 8, 10],
        "held ones first, in order, then the new one"
    );
}
