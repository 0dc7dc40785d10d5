//! Resident memory (VmRSS from /proc/self/status, Linux only) of two loads, for ferromq and
//! for libzmq (through the `zmq` crate):
//!
//! - `peers`: a PULL socket bound on loopback tcp with 1,000 idle peers connected. The peers
//!   are plain TCP streams of this process that do the ZMTP 3.1 NULL handshake as a PUSH and
//!   then stay silent, so what grows is the PULL side's per-connection state (the kernel's
//!   socket buffers are not in VmRSS).
//! - `queue`: 100,000 messages of 16 bytes queued from a PUSH to a PULL over inproc, with
//!   both high-water marks raised to 100,000, nobody receiving. Each message is built from
//!   its own buffer, as an application's messages would be.
//!
//! Each figure is the growth of VmRSS over a baseline taken once the sockets exist (and, for
//! tcp, the I/O thread runs), measured in a fresh process so that no load reuses memory
//! another freed. With no arguments the example runs all four cases as child processes:
//!
//! ```sh
//! cargo run --release --example memory
//! cargo run --release --example memory -- ferromq peers   # one case
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const PEERS: usize = 1000;
const MESSAGES: usize = 100_000;
const MESSAGE_SIZE: usize = 16;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match &args[..] {
        [] => {
            let exe = std::env::current_exe().expect("path of this example");
            for library in ["ferromq", "libzmq"] {
                for case in ["peers", "queue"] {
                    let out = Command::new(&exe)
                        .args([library, case])
                        .output()
                        .expect("run a case");
                    print!("{}", String::from_utf8_lossy(&out.stdout));
                    eprint!("{}", String::from_utf8_lossy(&out.stderr));
                    if !out.status.success() {
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
        [library, case] => {
            match (library.as_str(), case.as_str()) {
                ("ferromq", "peers") => ferromq_peers(),
                ("ferromq", "queue") => ferromq_queue(),
                ("libzmq", "peers") => libzmq_peers(),
                ("libzmq", "queue") => libzmq_queue(),
                _ => {
                    eprintln!("usage: memory [ferromq|libzmq peers|queue]");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: memory [ferromq|libzmq peers|queue]");
            ExitCode::FAILURE
        }
    }
}

/// This process's resident set, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn report_peers(library: &str, before: u64, after: u64) {
    let grown = after.saturating_sub(before);
    println!(
        "{library:8} PULL with {PEERS} idle tcp peers: VmRSS {before} KiB -> {after} KiB, \
         +{grown} KiB, {:.1} KiB per peer",
        grown as f64 / PEERS as f64
    );
}

fn report_queue(library: &str, before: u64, after: u64) {
    let grown = after.saturating_sub(before);
    let per_message = grown as f64 * 1024.0 / MESSAGES as f64;
    println!(
        "{library:8} {MESSAGES} queued {MESSAGE_SIZE} B messages: VmRSS {before} KiB -> {after} KiB, \
         +{grown} KiB, {per_message:.0} B per message ({:.0} B over the payload)",
        per_message - MESSAGE_SIZE as f64
    );
}

/// Opens `PEERS` connections to `addr`, each doing the ZMTP 3.1 NULL handshake as a PUSH,
/// and returns them once every one has received the other side's READY.
fn idle_peers(addr: &str) -> Vec<TcpStream> {
    let mut greeting = [0u8; 64];
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3; // version 3.1
    greeting[11] = 1;
    greeting[12..16].copy_from_slice(b"NULL");
    let mut ready = vec![0x04, 26, 5];
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&4u32.to_be_bytes());
    ready.extend_from_slice(b"PUSH");

    let mut peers = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        let mut stream = TcpStream::connect(addr).expect("connect a peer");
        stream.write_all(&greeting).unwrap();
        stream.write_all(&ready).unwrap();
        peers.push(stream);
    }
    for stream in &mut peers {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut their_greeting = [0u8; 64];
        stream.read_exact(&mut their_greeting).expect("greeting");
        let mut flags = [0u8; 1];
        stream.read_exact(&mut flags).expect("READY");
        let size = if flags[0] & 0x02 != 0 {
            let mut size = [0u8; 8];
            stream.read_exact(&mut size).unwrap();
            u64::from_be_bytes(size) as usize
        } else {
            let mut size = [0u8; 1];
            stream.read_exact(&mut size).unwrap();
            size[0] as usize
        };
        let mut body = vec![0u8; size];
        stream.read_exact(&mut body).expect("READY body");
    }
    peers
}

fn ferromq_peers() {
    let ctx = ferromq::Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let addr = pull
        .last_endpoint()
        .unwrap()
        .trim_start_matches("tcp://")
        .to_owned();
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let _peers = idle_peers(&addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pull.peer_count() < PEERS {
        assert!(
            Instant::now() < deadline,
            "only {} peers attached",
            pull.peer_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    report_peers("ferromq", before, rss_kib());
}

fn libzmq_peers() {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.get_last_endpoint().unwrap().unwrap();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let _peers = idle_peers(&addr);
    // libzmq has no peer count; every peer has had its READY answered, so give the I/O
    // thread a moment to attach the last sessions.
    std::thread::sleep(Duration::from_millis(500));
    report_peers("libzmq", before, rss_kib());
}

fn ferromq_queue() {
    let ctx = ferromq::Context::new();
    let mut pull = ctx.pull().unwrap();
    pull.set_recv_hwm(MESSAGES);
    pull.bind("inproc://queue").unwrap();
    let mut push = ctx.push().unwrap();
    push.set_send_hwm(MESSAGES);
    push.connect("inproc://queue").unwrap();
    let before = rss_kib();
    for i in 0..MESSAGES {
        if let Err(e) = push.try_send(vec![0u8; MESSAGE_SIZE]) {
            panic!("message {i} not queued: {}", e.error());
        }
    }
    report_queue("ferromq", before, rss_kib());
    assert_eq!(pull.recv().unwrap().byte_len(), MESSAGE_SIZE);
}

fn libzmq_queue() {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.set_rcvhwm(MESSAGES as i32).unwrap();
    pull.set_linger(0).unwrap();
    pull.bind("inproc://queue").unwrap();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_sndhwm(MESSAGES as i32).unwrap();
    push.set_linger(0).unwrap();
    push.connect("inproc://queue").unwrap();
    let before = rss_kib();
    for i in 0..MESSAGES {
        let msg = [0u8; MESSAGE_SIZE]; // libzmq copies it into its own message
        if let Err(e) = push.send(&msg[..], zmq::DONTWAIT) {
            panic!("message {i} not queued: {e}");
        }
    }
    report_queue("libzmq", before, rss_kib());
    let mut msg = zmq::Message::new();
    pull.recv(&mut msg, 0).unwrap();
    assert_eq!(msg.len(), MESSAGE_SIZE);
}
