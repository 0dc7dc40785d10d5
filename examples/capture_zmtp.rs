//! Captures real ZMTP 3.1 traffic from libzmq (the `zmq` crate, vendored libzmq 4.3.4) and
//! writes it as fuzz seeds.
//!
//! For each case a plain `std::net::TcpListener` on loopback accepts one libzmq socket, plays
//! the peer's side of the NULL handshake from fixed bytes (a greeting and a READY naming a
//! compatible socket type; no ferromq code is involved), makes the libzmq socket send
//! messages or commands, answers where the pattern needs it (a REP's reply, a SUB's
//! SUBSCRIBE, a PING) and records exactly the bytes libzmq sent, from the first greeting
//! byte on. Each case writes two files:
//!
//! - `fuzz/corpus/handshake/live-<case>`: one byte that picks the socket type the
//!   `handshake` target plays (an index into `SocketType::ALL`), then the whole stream;
//! - `fuzz/corpus/decode/live-<case>`: the part after libzmq's greeting and READY.
//!
//! ```sh
//! cargo run --example capture_zmtp                 # writes into fuzz/corpus/
//! cargo run --example capture_zmtp -- /tmp/seeds   # writes into /tmp/seeds/{handshake,decode}/
//! ```

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long one step of a capture may take before the case fails.
const STEP: Duration = Duration::from_secs(10);

// Indices into `SocketType::ALL` (Pair, Pub, Sub, Req, Rep, Dealer, Router, Pull, Push, XPub,
// XSub): the first byte of a `handshake` seed picks the type the target plays.
const PICK_PUB: u8 = 1;
const PICK_SUB: u8 = 2;
const PICK_REP: u8 = 4;
const PICK_DEALER: u8 = 5;
const PICK_ROUTER: u8 = 6;
const PICK_PULL: u8 = 7;

fn main() -> ExitCode {
    let out = match std::env::args().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"),
    };
    let ctx = zmq::Context::new();
    let cases: [(&str, u8, Case); 8] = [
        ("libzmq-push-to-pull", PICK_PULL, push),
        ("libzmq-req-to-rep", PICK_REP, req),
        ("libzmq-dealer-identity-to-router", PICK_ROUTER, dealer),
        ("libzmq-sub-to-pub", PICK_PUB, sub),
        ("libzmq-sub-to-zmtp30-pub", PICK_PUB, sub_zmtp30),
        ("libzmq-pub-to-sub", PICK_SUB, publisher),
        ("libzmq-router-to-dealer", PICK_DEALER, router),
        ("libzmq-push-heartbeat-to-pull", PICK_PULL, heartbeat),
    ];
    for (name, pick, case) in cases {
        match run(&ctx, case) {
            Ok(capture) => {
                if let Err(e) = save(&out, name, pick, &capture) {
                    eprintln!("{name}: cannot write the seeds: {e}");
                    return ExitCode::FAILURE;
                }
                println!("{name}: {}", capture.summary());
            }
            Err(e) => {
                eprintln!("{name}: capture failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "seeds written to {}/{{handshake,decode}}/live-*",
        out.display()
    );
    ExitCode::SUCCESS
}

type Case = fn(&zmq::Context, &str, &mut Capture) -> Result<(), String>;

/// Runs one case: listen, let the libzmq socket the case creates connect, record.
fn run(ctx: &zmq::Context, case: Case) -> Result<Capture, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    let endpoint = format!("tcp://{addr}");
    let mut capture = Capture::accepting(listener);
    case(ctx, &endpoint, &mut capture)?;
    Ok(capture)
}

fn save(out: &Path, name: &str, pick: u8, capture: &Capture) -> std::io::Result<()> {
    let handshake_dir = out.join("handshake");
    let decode_dir = out.join("decode");
    std::fs::create_dir_all(&handshake_dir)?;
    std::fs::create_dir_all(&decode_dir)?;
    let mut whole = vec![pick];
    whole.extend_from_slice(&capture.bytes);
    std::fs::write(handshake_dir.join(format!("live-{name}")), whole)?;
    std::fs::write(
        decode_dir.join(format!("live-{name}")),
        &capture.bytes[capture.after_ready()..],
    )
}

// ---- the cases -------------------------------------------------------------------------------

/// PUSH: single-part, multipart, a long (300-byte) frame and an empty message.
fn push(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    let s = socket(ctx, zmq::PUSH)?;
    z(s.connect(ep), "connect")?;
    cap.handshake(3, b"PULL", None)?;
    z(s.send("hello", 0), "send")?;
    z(s.send_multipart(["a", "bb", "ccc"], 0), "send")?;
    z(s.send(vec![0x5a; 300], 0), "send")?;
    z(s.send("", 0), "send")?;
    cap.wait_for("4 messages", |p| p.messages >= 4)
}

/// REQ: a request, our reply as a REP would send it, a second request.
fn req(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    let s = socket(ctx, zmq::REQ)?;
    z(s.connect(ep), "connect")?;
    cap.handshake(3, b"REP", None)?;
    z(s.send("hello", 0), "send")?;
    cap.wait_for("the first request", |p| p.messages >= 1)?;
    cap.send(&[0x01, 0x00, 0x00, 0x05, b'w', b'o', b'r', b'l', b'd'])?;
    z(s.recv_bytes(0), "receive the reply")?;
    z(s.send("again", 0), "send")?;
    cap.wait_for("the second request", |p| p.messages >= 2)
}

/// DEALER with a routing id (greeting padding `identity length + 1`, Identity in READY).
fn dealer(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    let s = socket(ctx, zmq::DEALER)?;
    z(s.set_identity(b"dealer-1"), "identity")?;
    z(s.connect(ep), "connect")?;
    cap.handshake(3, b"ROUTER", None)?;
    z(s.send_multipart(["", "job 1"], 0), "send")?;
    z(s.send("job 2", 0), "send")?;
    z(s.send_multipart(["x", "", "job 3"], 0), "send")?;
    cap.wait_for("3 messages", |p| p.messages >= 3)
}

/// SUB toward a ZMTP 3.1 peer: subscriptions at connect, then a new one and a cancel, all as
/// SUBSCRIBE/CANCEL commands.
fn sub(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    subscriber(ctx, ep, cap, 1)
}

/// SUB toward a peer that announces ZMTP 3.0: libzmq sends its subscriptions as `01`/`00`
/// messages instead.
fn sub_zmtp30(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    subscriber(ctx, ep, cap, 0)
}

fn subscriber(ctx: &zmq::Context, ep: &str, cap: &mut Capture, minor: u8) -> Result<(), String> {
    let s = socket(ctx, zmq::SUB)?;
    z(s.set_subscribe(b"weather."), "subscribe")?;
    z(s.set_subscribe(b""), "subscribe")?;
    z(s.connect(ep), "connect")?;
    cap.handshake(minor, b"PUB", None)?;
    cap.wait_for("the first 2 subscriptions", |p| p.subscriptions() >= 2)?;
    z(s.set_subscribe(b"news"), "subscribe")?;
    z(s.set_unsubscribe(b""), "unsubscribe")?;
    cap.wait_for("4 subscription changes", |p| p.subscriptions() >= 4)
}

/// PUB: we subscribe to `weather.`; the PUB publishes matching and non-matching topics.
fn publisher(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    let s = socket(ctx, zmq::PUB)?;
    z(s.connect(ep), "connect")?;
    cap.handshake(3, b"SUB", None)?;
    let mut subscribe = vec![0x04, 18, 9];
    subscribe.extend_from_slice(b"SUBSCRIBEweather.");
    cap.send(&subscribe)?;
    // The subscription reaches the PUB asynchronously: give it time, then publish; publish
    // again only if nothing came within 2 s (which would record a second copy).
    cap.read_for(Duration::from_millis(300))?;
    let deadline = Instant::now() + STEP;
    while cap.parse().messages == 0 {
        if Instant::now() > deadline {
            return Err("no message published to us".into());
        }
        z(s.send("sports.football 2-1", 0), "send")?;
        z(s.send("weather.paris 12C", 0), "send")?;
        let wait = Instant::now() + Duration::from_secs(2);
        while cap.parse().messages == 0 && Instant::now() < wait {
            cap.read_for(Duration::from_millis(20))?;
        }
    }
    z(s.send_multipart(["weather.oslo", "-3C"], 0), "send")?;
    let first = cap.parse().messages;
    cap.wait_for("the multipart message", |p| p.messages > first)
}

/// ROUTER: we connect as a DEALER named `peer-A`; the ROUTER routes to us by that name.
fn router(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    let s = socket(ctx, zmq::ROUTER)?;
    z(s.set_router_mandatory(true), "router mandatory")?;
    z(s.connect(ep), "connect")?;
    cap.handshake(3, b"DEALER", Some(b"peer-A"))?;
    let deadline = Instant::now() + STEP;
    // Until the ROUTER has attached us, a send fails with EHOSTUNREACH.
    while s.send_multipart(["peer-A", "", "hello"], 0).is_err() {
        if Instant::now() > deadline {
            return Err("the ROUTER never attached us".into());
        }
        cap.read_for(Duration::from_millis(20))?;
    }
    z(s.send_multipart(["peer-A", "job"], 0), "send")?;
    cap.wait_for("2 messages", |p| p.messages >= 2)
}

/// Heartbeats: a PUSH with `ZMQ_HEARTBEAT_IVL` 100 ms and TTL 2 s sends PINGs; our PING gets
/// a PONG echoing its context.
fn heartbeat(ctx: &zmq::Context, ep: &str, cap: &mut Capture) -> Result<(), String> {
    let s = socket(ctx, zmq::PUSH)?;
    z(s.set_heartbeat_ivl(100), "heartbeat interval")?;
    z(s.set_heartbeat_ttl(2000), "heartbeat ttl")?;
    z(s.set_heartbeat_timeout(5000), "heartbeat timeout")?;
    z(s.connect(ep), "connect")?;
    cap.handshake(3, b"PULL", None)?;
    // PING, TTL 0, context "ctx-1".
    let mut ping = vec![0x04, 12, 4];
    ping.extend_from_slice(b"PING\x00\x00ctx-1");
    cap.send(&ping)?;
    z(s.send("between pings", 0), "send")?;
    cap.wait_for("3 PINGs, a PONG and a message", |p| {
        p.count("PING") >= 3 && p.count("PONG") >= 1 && p.messages >= 1
    })
}

// ---- the recording peer ----------------------------------------------------------------------

/// The peer side of one connection: accepts it, sends fixed handshake bytes and records
/// everything libzmq sends.
struct Capture {
    listener: TcpListener,
    stream: Option<TcpStream>,
    bytes: Vec<u8>,
}

/// What the recorded bytes hold so far (complete frames only).
#[derive(Default)]
struct Parsed {
    /// The greeting and the READY command have arrived.
    ready: bool,
    /// Complete messages (multipart counted once).
    messages: usize,
    /// Names of the commands after READY, in order, plus `01`/`00` subscription messages
    /// as "sub-message".
    commands: Vec<String>,
    frames: usize,
}

impl Parsed {
    fn count(&self, name: &str) -> usize {
        self.commands.iter().filter(|c| *c == name).count()
    }

    fn subscriptions(&self) -> usize {
        self.count("SUBSCRIBE") + self.count("CANCEL") + self.count("sub-message")
    }
}

impl Capture {
    fn accepting(listener: TcpListener) -> Capture {
        Capture {
            listener,
            stream: None,
            bytes: Vec::new(),
        }
    }

    /// Accepts libzmq's connection and sends our greeting (ZMTP 3.`minor`, NULL) and READY.
    fn handshake(
        &mut self,
        minor: u8,
        socket_type: &[u8],
        identity: Option<&[u8]>,
    ) -> Result<(), String> {
        let (stream, _) = self.listener.accept().map_err(|e| format!("accept: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|e| format!("read timeout: {e}"))?;
        self.stream = Some(stream);
        let mut greeting = [0u8; 64];
        greeting[0] = 0xff;
        greeting[8] = 0x01;
        greeting[9] = 0x7f;
        greeting[10] = 3;
        greeting[11] = minor;
        greeting[12..16].copy_from_slice(b"NULL");
        let mut body = vec![5];
        body.extend_from_slice(b"READY");
        property(&mut body, b"Socket-Type", socket_type);
        if let Some(id) = identity {
            property(&mut body, b"Identity", id);
        }
        let mut bytes = greeting.to_vec();
        bytes.push(0x04);
        bytes.push(u8::try_from(body.len()).map_err(|_| "READY too long")?);
        bytes.extend_from_slice(&body);
        self.send(&bytes)?;
        self.wait_for("libzmq's greeting and READY", |p| p.ready)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stream = self.stream.as_mut().ok_or("not connected")?;
        stream.write_all(bytes).map_err(|e| format!("write: {e}"))
    }

    /// Reads whatever arrives during `d`.
    fn read_for(&mut self, d: Duration) -> Result<(), String> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.read_some()?;
        }
        Ok(())
    }

    /// Reads until `done` holds for what was recorded, for at most [`STEP`].
    fn wait_for(&mut self, what: &str, done: impl Fn(&Parsed) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + STEP;
        while !done(&self.parse()) {
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            if !self.read_some()? {
                return Err(format!("libzmq closed the connection before {what}"));
            }
        }
        Ok(())
    }

    /// One read with the short timeout; false at end of stream.
    fn read_some(&mut self) -> Result<bool, String> {
        let stream = self.stream.as_mut().ok_or("not connected")?;
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.bytes.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(true),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Offset of the first byte after libzmq's greeting and READY.
    fn after_ready(&self) -> usize {
        frames(&self.bytes)
            .first()
            .map_or(self.bytes.len(), |&(_, _, end)| end)
    }

    fn parse(&self) -> Parsed {
        let mut p = Parsed::default();
        let frames = frames(&self.bytes);
        p.frames = frames.len();
        let mut rest = frames.iter();
        match rest.next() {
            Some((flags, body, _)) if flags & 0x04 != 0 && body.starts_with(b"\x05READY") => {
                p.ready = true;
            }
            _ => return p,
        }
        let mut first_frame = true;
        for (flags, body, _) in rest {
            if flags & 0x04 != 0 {
                let len = body.first().map_or(0, |&l| usize::from(l));
                let name = body.get(1..1 + len).unwrap_or_default();
                p.commands.push(String::from_utf8_lossy(name).into_owned());
                continue;
            }
            let last = flags & 0x01 == 0;
            if first_frame && last && matches!(body.first(), Some(0 | 1)) && p.ready {
                // A ZMTP 3.0 subscription message (only SUBs send these to us).
                p.commands.push("sub-message".into());
            }
            if last {
                p.messages += 1;
            }
            first_frame = last;
        }
        p
    }

    fn summary(&self) -> String {
        let p = self.parse();
        let padding: Vec<String> = self
            .bytes
            .get(1..9)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let ready = self.bytes.get(64..self.after_ready()).unwrap_or_default();
        format!(
            "{} bytes; greeting padding {}, minor {}; READY {:?}; {} frames after READY: {} messages, commands {:?}",
            self.bytes.len(),
            padding.join(" "),
            self.bytes.get(11).copied().unwrap_or_default(),
            String::from_utf8_lossy(ready.get(2..).unwrap_or_default()),
            p.frames.saturating_sub(1),
            p.messages,
            p.commands,
        )
    }
}

/// The complete frames after the 64-byte greeting: flags, body, end offset.
fn frames(bytes: &[u8]) -> Vec<(u8, &[u8], usize)> {
    let mut out = Vec::new();
    let mut at = 64;
    while let Some(&flags) = bytes.get(at) {
        let (size, header) = if flags & 0x02 != 0 {
            match bytes.get(at + 1..at + 9) {
                Some(b) => {
                    let mut size = [0u8; 8];
                    size.copy_from_slice(b);
                    (u64::from_be_bytes(size), 9)
                }
                None => break,
            }
        } else {
            match bytes.get(at + 1) {
                Some(&b) => (u64::from(b), 2),
                None => break,
            }
        };
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        let start = at + header;
        let Some(body) = bytes.get(start..start.saturating_add(size)) else {
            break;
        };
        at = start + size;
        out.push((flags, body, at));
    }
    out
}

/// Appends one READY property: name length, name, 32-bit value length, value.
fn property(body: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    body.push(name.len() as u8);
    body.extend_from_slice(name);
    body.extend_from_slice(&(value.len() as u32).to_be_bytes());
    body.extend_from_slice(value);
}

fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> Result<zmq::Socket, String> {
    let s = z(ctx.socket(kind), "create a libzmq socket")?;
    z(s.set_linger(0), "linger")?;
    z(s.set_sndtimeo(10_000), "send timeout")?;
    z(s.set_rcvtimeo(10_000), "receive timeout")?;
    Ok(s)
}

fn z<T>(r: zmq::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}
