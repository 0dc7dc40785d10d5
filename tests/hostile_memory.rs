//! Peers that try to make a ferromq PULL (bound on loopback tcp, in this process) hold
//! memory: PINGs sent without ever reading the PONGs, messages of many empty frames, a READY
//! with a million properties. Each attack is held to a small bound, measured as the growth
//! of the resident memory (VmRSS in /proc/self/status) of a process that runs only that
//! attack, and a well-behaved ferromq PUSH is still served afterwards. Each test runs its
//! attack in a child process (this test binary again, filtered to that test), so memory
//! another attack freed to the allocator cannot hide its growth. Every wait is bounded.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferromq::{Context, Pull};

/// Longest any single wait in this file may take.
const LIMIT: Duration = Duration::from_secs(20);
const MIB: usize = 1 << 20;

/// Set in the child process that runs one attack.
const CHILD: &str = "FERROMQ_HOSTILE_MEMORY_CHILD";

/// Runs `attack` here when this is the child process for `test`; otherwise runs this test
/// binary again for `test` alone and checks that it passed.
fn in_own_process(test: &str, attack: fn()) {
    if std::env::var_os(CHILD).is_some() {
        attack();
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + 3 * LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{test} did not finish within {:?}", 3 * LIMIT);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{test} failed in its own process: {status}"
    );
}

/// This process's resident memory in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a VmRSS figure");
    kib * 1024
}

/// Samples the resident memory every few milliseconds while it runs; `stop` returns the
/// highest sample.
struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl RssPeak {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(rss()));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        RssPeak { stop, peak, thread }
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.peak.load(Ordering::Relaxed).max(rss())
    }
}

/// A PULL with this message size limit bound on an ephemeral loopback port, and the address
/// to connect to.
fn pull(ctx: &Context, max_msg_size: usize) -> (Pull, String) {
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_timeout(Some(LIMIT));
    pull.set_max_message_size(Some(max_msg_size));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let addr = pull
        .last_endpoint()
        .unwrap()
        .trim_start_matches("tcp://")
        .to_owned();
    (pull, addr)
}

/// A raw peer that has done a NULL handshake as a PUSH, with the PULL's greeting and READY
/// read.
fn handshaken(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut out = util::zmtp_greeting();
    out.extend_from_slice(&util::zmtp_ready("PUSH"));
    s.write_all(&out).unwrap();
    let mut head = [0u8; 64 + 28];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[64 + 20..], b"\0\0\0\x04PULL");
    s
}

/// Writes `data` over and over until `total` bytes went out or a write has waited `stall`
/// (the PULL stopped reading); returns how many bytes went out.
fn write_until_stalled(s: &mut TcpStream, data: &[u8], total: usize, stall: Duration) -> usize {
    s.set_write_timeout(Some(stall)).unwrap();
    let mut sent = 0;
    while sent < total {
        match s.write(data) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("write failed after {sent} bytes: {e}"),
        }
    }
    sent
}

/// A ferromq PUSH connected to the PULL delivers `n` messages through it.
fn a_good_peer_is_served(ctx: &Context, pull: &mut Pull, addr: &str, n: usize) {
    let mut push = ctx.push().unwrap();
    push.set_send_timeout(Some(LIMIT));
    push.connect(&format!("tcp://{addr}")).unwrap();
    for i in 0..n {
        push.send(format!("good {i}").as_str()).unwrap();
    }
    for i in 0..n {
        let msg = pull
            .recv()
            .expect("the good peer's messages stopped arriving");
        assert_eq!(msg, format!("good {i}").as_str());
    }
}

/// 64 MiB of PINGs (with 16 bytes of context, so each PONG owed is 23 bytes), the PONGs
/// never read. ferromq owes at most 64 PONGs, then stops reading: the peer's writes stall
/// once the kernel buffers are full, and the PULL holds about nothing. (Before the bound,
/// every PING was read and answered, and the PONGs piled up in the output: +59 MiB here,
/// +235 MiB for 256 MiB of PINGs.)
#[test]
fn pings_from_a_peer_that_never_reads_are_held_to_a_few_pongs() {
    in_own_process(
        "pings_from_a_peer_that_never_reads_are_held_to_a_few_pongs",
        pings_from_a_peer_that_never_reads_are_held_to_a_few_pongs_attack,
    );
}

fn pings_from_a_peer_that_never_reads_are_held_to_a_few_pongs_attack() {
    let ctx = Context::new();
    let (mut pull, addr) = pull(&ctx, ferromq::DEFAULT_MAX_MSG_SIZE);
    let mut hostile = handshaken(&addr);

    let mut ping = b"\x04\x17\x04PING\x00\x00".to_vec();
    ping.extend_from_slice(b"0123456789abcdef");
    let chunk = ping.repeat(64 * 1024 / ping.len());

    let base = rss();
    let peak = RssPeak::start();
    let sent = write_until_stalled(&mut hostile, &chunk, 64 * MIB, Duration::from_secs(2));
    // Whatever was sent has had time to be read (or not) by now.
    std::thread::sleep(Duration::from_millis(200));
    let grown = peak.stop().saturating_sub(base);

    eprintln!(
        "PINGs: {} KiB sent, +{} KiB resident",
        sent / 1024,
        grown / 1024
    );
    assert!(
        sent < 64 * MIB,
        "the PULL read all 64 MiB of PINGs from a peer that reads none of its PONGs"
    );
    assert!(
        grown < 16 * MIB,
        "resident memory grew by {} KiB for {} KiB of PINGs",
        grown / 1024,
        sent / 1024
    );
    a_good_peer_is_served(&ctx, &mut pull, &addr, 100);
    drop(hostile);
}

/// 200 messages of 65,536 empty frames each: 128 KiB apiece on the wire (25 MiB in all),
/// 2 MiB apiece to hold (32 bytes a frame). A message counts 32 bytes a frame toward the
/// message size limit when that is more than its bytes, so a PULL with a 1 MiB limit refuses the first such message from its
/// headers and drops the peer: it holds at most one message's cost (1 MiB) for it. (Before,
/// empty frames counted nothing: all 200 were accepted, and with nobody receiving, the pipe
/// held them all, +400 MiB.) Messages of empty frames within the limit still arrive whole.
#[test]
fn messages_of_empty_frames_count_what_they_cost_to_hold() {
    in_own_process(
        "messages_of_empty_frames_count_what_they_cost_to_hold",
        messages_of_empty_frames_count_what_they_cost_to_hold_attack,
    );
}

/// A message of `frames` empty frames.
fn empty_frames(frames: usize) -> Vec<u8> {
    let mut message = [0x01u8, 0x00].repeat(frames - 1);
    message.extend_from_slice(&[0x00, 0x00]);
    message
}

fn messages_of_empty_frames_count_what_they_cost_to_hold_attack() {
    const MESSAGES: usize = 200;
    let ctx = Context::new();
    let (mut pull, addr) = pull(&ctx, MIB);
    let mut hostile = handshaken(&addr);
    let message = empty_frames(65_536);

    let base = rss();
    let peak = RssPeak::start();
    let writer = {
        let mut hostile = hostile.try_clone().unwrap();
        std::thread::spawn(move || {
            hostile.set_write_timeout(Some(LIMIT)).unwrap();
            for _ in 0..MESSAGES {
                // The PULL drops the peer early on: writes fail from then on.
                if hostile.write_all(&message).is_err() {
                    return;
                }
            }
        })
    };
    // Nobody receives: whatever the PULL accepts stays in its pipe.
    let since = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match hostile.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the peer sending 2 MiB messages was not dropped: {e}"),
        }
        assert!(since.elapsed() < LIMIT, "not dropped");
    }
    writer.join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let grown = peak.stop().saturating_sub(base);
    eprintln!("empty frames: dropped, +{} KiB resident", grown / 1024);
    assert!(
        grown < 16 * MIB,
        "resident memory grew by {} MiB while nobody received",
        grown / MIB
    );
    assert!(pull.try_recv().is_err(), "a 2 MiB message was accepted");

    // 16,000 empty frames cost 500 KiB: within the limit, and delivered whole.
    let mut fair = handshaken(&addr);
    fair.set_write_timeout(Some(LIMIT)).unwrap();
    for _ in 0..10 {
        fair.write_all(&empty_frames(16_000)).unwrap();
    }
    for _ in 0..10 {
        let msg = pull.recv().expect("a message of empty frames");
        assert_eq!((msg.len(), msg.byte_len()), (16_000, 0));
    }
    a_good_peer_is_served(&ctx, &mut pull, &addr, 10);
}

/// A READY with 1,000,000 tiny properties (5.7 MiB) is refused on its header, over the
/// 64 KiB metadata limit: the connection is closed (after an ERROR, which the reset of a
/// close with unread input may destroy), and nothing is kept. (Before the limits it was accepted, and kept as 1,000,000 `(String, Bytes)` pairs:
/// +174 MiB for the connection's life.)
#[test]
fn a_ready_with_a_million_properties_is_refused() {
    in_own_process(
        "a_ready_with_a_million_properties_is_refused",
        a_ready_with_a_million_properties_is_refused_attack,
    );
}

fn a_ready_with_a_million_properties_is_refused_attack() {
    let ctx = Context::new();
    let (mut pull, addr) = pull(&ctx, ferromq::DEFAULT_MAX_MSG_SIZE);

    let mut body = b"\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH".to_vec();
    for i in 0..1_000_000u32 {
        let name = format!("{:x}", i % 4096);
        body.push(name.len() as u8);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
    }
    let mut ready = vec![0x06];
    ready.extend_from_slice(&(body.len() as u64).to_be_bytes());
    ready.extend_from_slice(&body);
    assert!(ready.len() > 5 * MIB);

    let base = rss();
    let peak = RssPeak::start();
    let mut hostile = TcpStream::connect(&addr).unwrap();
    hostile.set_read_timeout(Some(LIMIT)).unwrap();
    let writer = {
        let mut hostile = hostile.try_clone().unwrap();
        let mut stream = util::zmtp_greeting();
        stream.extend_from_slice(&ready);
        std::thread::spawn(move || {
            hostile.set_write_timeout(Some(LIMIT)).unwrap();
            // The PULL may close while this is still writing.
            let _ = hostile.write_all(&stream);
        })
    };
    // Our side: the PULL's greeting, its READY, an ERROR, then the end of the stream.
    let mut got = Vec::new();
    let since = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match hostile.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the READY with a million properties was not refused: {e}"),
        }
        assert!(since.elapsed() < LIMIT, "not dropped");
    }
    writer.join().unwrap();
    let grown = peak.stop().saturating_sub(base);
    // Our greeting at least; the READY and ERROR that follow may be lost to the reset that
    // closing with unread input sends.
    assert!(got.len() >= 64, "{}", got.escape_ascii());
    eprintln!(
        "READY of {} KiB: refused, +{} KiB resident",
        ready.len() / 1024,
        grown / 1024
    );
    // The 6 MiB the test itself holds (`ready` and the writer's copy) count too.
    assert!(
        grown < ready.len() * 2 + 8 * MIB,
        "resident memory grew by {} MiB",
        grown / MIB
    );
    a_good_peer_is_served(&ctx, &mut pull, &addr, 10);
}
