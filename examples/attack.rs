//! A measurement tool, not a test: runs a server (ferromq or libzmq, REP like the guide's
//! hwserver or PUB) as a child process, attacks it with raw ZMTP over loopback tcp, and
//! reports how the server's memory (VmRSS and VmHWM from /proc/<pid>/status) and time
//! respond, as a markdown table, ferromq beside libzmq.
//!
//! ```text
//! cargo run --release --example attack -- all        # every row, both servers
//! cargo run --release --example attack -- 2 4        # some rows
//! cargo run --release --example attack -- serve ferromq rep   # (the child's role)
//! ```
//!
//! Rows:
//! 1. after the handshake, 256 MiB of PINGs, never reading the PONGs;
//! 2. one 64 MiB message (time until the REP replies);
//! 3. 200 messages of 65,536 empty frames each, the REQ delimiter included (25 MiB);
//! 4. a READY with 1,000,000 tiny properties (5.7 MiB);
//! 5. 1,000,000 distinct SUBSCRIBEs to a PUB.
//!
//! The attacker writes with a timeout: a server that stops reading (what a server should
//! do when a peer sends faster than it can or should take in) is reported as "stopped
//! reading after N MiB", N counting what the kernel buffers took too. Linux only (/proc).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A write making no progress for this long means the server stopped reading.
const STALL: Duration = Duration::from_secs(3);
/// Longest wait for a reply after the attack's bytes are in.
const REPLY_WAIT: Duration = Duration::from_secs(60);
const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        serve(&args[1], &args[2]);
        return;
    }
    let rows: Vec<u32> = if args.is_empty() || args.iter().any(|a| a == "all") {
        (1..=5).collect()
    } else {
        args.iter()
            .map(|a| a.parse().expect("rows are 1..=5 or `all`"))
            .collect()
    };
    let mut table = vec![
        "| attack | ferromq | libzmq |".to_owned(),
        "|---|---|---|".to_owned(),
    ];
    for row in rows {
        let mut cells = Vec::new();
        for lib in ["ferromq", "libzmq"] {
            eprintln!("row {row}, {lib} ...");
            let cell = run_row(row, lib);
            eprintln!("  {cell}");
            cells.push(cell);
        }
        table.push(format!("| {} | {} | {} |", title(row), cells[0], cells[1]));
    }
    println!();
    for line in table {
        println!("{line}");
    }
}

fn title(row: u32) -> &'static str {
    match row {
        1 => "1. 256 MiB of PINGs, PONGs never read",
        2 => "2. one 64 MiB message",
        3 => "3. 200 messages × 65,536 empty frames (25 MiB)",
        4 => "4. READY with 1,000,000 properties (5.7 MiB)",
        5 => "5. 1,000,000 distinct SUBSCRIBEs to a PUB",
        _ => panic!("no row {row}"),
    }
}

// ---------------------------------------------------------------------------------------
// The server (child process).

fn serve(lib: &str, mode: &str) {
    thread::spawn(|| {
        // The attacker holds our stdin; when it closes, we are done.
        let _ = io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let say = |ep: &str| {
        println!("BOUND {ep}");
        io::stdout().flush().unwrap();
    };
    match (lib, mode) {
        ("ferromq", "rep") => {
            let ctx = ferromq::Context::new();
            let mut rep = ctx.rep().unwrap();
            rep.bind("tcp://127.0.0.1:*").unwrap();
            say(rep.last_endpoint().unwrap());
            loop {
                if let Ok(request) = rep.recv() {
                    let _ = request.reply("ok");
                }
            }
        }
        ("ferromq", "pub") => {
            let ctx = ferromq::Context::new();
            let mut publisher = ctx.publisher().unwrap();
            publisher.bind("tcp://127.0.0.1:*").unwrap();
            say(publisher.last_endpoint().unwrap());
            loop {
                let _ = publisher.send("zz-last");
                thread::sleep(Duration::from_millis(10));
            }
        }
        ("libzmq", "rep") => {
            let ctx = zmq::Context::new();
            let rep = ctx.socket(zmq::REP).unwrap();
            rep.bind("tcp://127.0.0.1:*").unwrap();
            say(&rep.get_last_endpoint().unwrap().unwrap());
            loop {
                if rep.recv_multipart(0).is_ok() {
                    let _ = rep.send("ok", 0);
                }
            }
        }
        ("libzmq", "pub") => {
            let ctx = zmq::Context::new();
            let publisher = ctx.socket(zmq::PUB).unwrap();
            publisher.bind("tcp://127.0.0.1:*").unwrap();
            say(&publisher.get_last_endpoint().unwrap().unwrap());
            loop {
                let _ = publisher.send("zz-last", 0);
                thread::sleep(Duration::from_millis(10));
            }
        }
        _ => panic!("serve ferromq|libzmq rep|pub"),
    }
}

/// The server process, killed when dropped.
struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start(lib: &str, mode: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["serve", lib, mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("BOUND tcp://")
            .expect("server did not bind")
            .to_owned();
        Server { child, endpoint }
    }

    /// (VmRSS, VmHWM) in MiB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Raw ZMTP.

fn greeting() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 1];
    g.extend_from_slice(b"NULL");
    g.resize(32, 0);
    g.push(0); // as-server
    g.resize(64, 0);
    g
}

/// A frame: flags (plus LONG when needed), size, body.
fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + 9);
    if body.len() > 255 {
        f.push(flags | 0x02);
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
    } else {
        f.push(flags);
        f.push(body.len() as u8);
    }
    f.extend_from_slice(body);
    f
}

/// A READY command announcing `socket_type`, with `extra` property bytes after it.
fn ready(socket_type: &str, extra: &[u8]) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    body.extend_from_slice(extra);
    frame(0x04, &body)
}

/// Reads one frame: (flags, body).
fn read_frame(s: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head)?;
    let size = if head[0] & 0x02 != 0 {
        let mut long = [0u8; 8];
        long[0] = head[1];
        s.read_exact(&mut long[1..])?;
        u64::from_be_bytes(long) as usize
    } else {
        head[1] as usize
    };
    if size > 1 << 20 {
        // Nothing we wait for is this big: skip it without holding it.
        io::copy(&mut s.take(size as u64), &mut io::sink())?;
        return Ok((head[0], Vec::new()));
    }
    let mut body = vec![0u8; size];
    s.read_exact(&mut body)?;
    Ok((head[0], body))
}

/// Connects, sends our greeting and reads the server's; with `send_ready`, sends a plain
/// READY as `socket_type` and reads the server's READY too.
fn handshake(endpoint: &str, socket_type: &str, send_ready: bool) -> TcpStream {
    let mut s = TcpStream::connect(endpoint).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(REPLY_WAIT)).unwrap();
    s.set_write_timeout(Some(STALL)).unwrap();
    s.write_all(&greeting()).unwrap();
    let mut theirs = [0u8; 64];
    s.read_exact(&mut theirs).unwrap();
    if send_ready {
        s.write_all(&ready(socket_type, b"")).unwrap();
        let (flags, body) = read_frame(&mut s).unwrap();
        assert!(
            flags & 0x04 != 0 && body.starts_with(b"\x05READY"),
            "no READY"
        );
    }
    s
}

/// How pumping bytes into the server ended.
enum Pumped {
    /// Every byte was written.
    All { bytes: u64, took: Duration },
    /// A write made no progress for [`STALL`]: the server stopped reading.
    Stalled { bytes: u64, took: Duration },
    /// The server closed or reset the connection.
    Closed {
        bytes: u64,
        took: Duration,
        error: io::Error,
    },
}

impl Pumped {
    fn describe(&self) -> String {
        match self {
            Pumped::All { bytes, took } => {
                format!(
                    "took all {:.1} MiB in {:.2} s",
                    *bytes as f64 / MIB,
                    secs(*took)
                )
            }
            Pumped::Stalled { bytes, took } => format!(
                "stopped reading after {:.1} MiB ({:.2} s)",
                *bytes as f64 / MIB,
                secs(*took)
            ),
            Pumped::Closed { bytes, took, error } => format!(
                "closed the connection after {:.1} MiB ({:.2} s, {})",
                *bytes as f64 / MIB,
                secs(*took),
                error.kind()
            ),
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Writes `pieces` in order, stopping when the server stops reading or closes.
fn pump<'a>(s: &mut TcpStream, pieces: impl IntoIterator<Item = &'a [u8]>) -> Pumped {
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut last = start;
    for piece in pieces {
        let mut at = 0;
        while at < piece.len() {
            match s.write(&piece[at..]) {
                Ok(0) => {
                    return Pumped::Closed {
                        bytes,
                        took: last - start,
                        error: io::ErrorKind::WriteZero.into(),
                    }
                }
                Ok(n) => {
                    at += n;
                    bytes += n as u64;
                    last = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Pumped::Stalled {
                        bytes,
                        took: last - start,
                    }
                }
                Err(error) => {
                    return Pumped::Closed {
                        bytes,
                        took: last - start,
                        error,
                    }
                }
            }
        }
    }
    Pumped::All {
        bytes,
        took: last - start,
    }
}

/// What the server sent back, read on a thread of its own.
enum Heard {
    /// A whole message; its first frame's body.
    Message(Vec<u8>),
    /// An ERROR command, with its reason.
    Error(String),
    /// The connection ended.
    End(io::Error),
}

/// Reads messages from the server on a thread until the connection ends.
fn listen(s: &TcpStream) -> mpsc::Receiver<(Instant, Heard)> {
    let mut s = s.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut first: Option<Vec<u8>> = None;
        loop {
            match read_frame(&mut s) {
                Ok((flags, body)) if flags & 0x04 != 0 => {
                    if body.starts_with(b"\x05ERROR") {
                        let reason = String::from_utf8_lossy(body.get(7..).unwrap_or(b""));
                        let _ = tx.send((Instant::now(), Heard::Error(reason.into_owned())));
                    }
                }
                Ok((flags, body)) => {
                    // For REP replies, skip the empty delimiter: keep the first non-empty.
                    if first.as_ref().is_none_or(|f| f.is_empty()) {
                        first = Some(body);
                    }
                    if flags & 0x01 == 0 {
                        let m = first.take().unwrap_or_default();
                        if tx.send((Instant::now(), Heard::Message(m))).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send((Instant::now(), Heard::End(e)));
                    return;
                }
            }
        }
    });
    rx
}

/// Waits until `want` messages whose body starts with `prefix` came in. Returns when the
/// last came, or what ended the wait.
fn await_messages(
    heard: &mpsc::Receiver<(Instant, Heard)>,
    want: usize,
    prefix: &[u8],
) -> Result<Instant, String> {
    let deadline = Instant::now() + REPLY_WAIT;
    let mut got = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match heard.recv_timeout(left) {
            Ok((at, Heard::Message(m))) if m.starts_with(prefix) => {
                got += 1;
                if got == want {
                    return Ok(at);
                }
            }
            Ok((_, Heard::Message(_))) => {}
            Ok((_, Heard::Error(reason))) => return Err(format!("sent ERROR \"{reason}\"")),
            Ok((_, Heard::End(e))) => {
                return Err(format!(
                    "dropped the connection ({}) after {got} of {want} replies",
                    e.kind()
                ))
            }
            Err(_) => {
                return Err(format!(
                    "no reply within {} s ({got} of {want})",
                    REPLY_WAIT.as_secs()
                ))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rows.

fn run_row(row: u32, lib: &str) -> String {
    let mode = if row == 5 { "pub" } else { "rep" };
    let server = Server::start(lib, mode);
    let ep = server.endpoint.clone();
    // Let the server settle before the baseline.
    thread::sleep(Duration::from_millis(200));
    let (rss0, _) = server.memory();
    let start = Instant::now();
    let outcome = match row {
        1 => {
            let mut s = handshake(&ep, "REQ", true);
            // PING, TTL 0, a 16-byte context the PONG must echo: 25 bytes a frame.
            let ping = frame(0x04, b"\x04PING\x00\x00context-16-bytes");
            let chunk: Vec<u8> = ping.repeat((1 << 20) / ping.len());
            let n = (256 << 20) / chunk.len();
            pump(&mut s, std::iter::repeat_n(&chunk[..], n)).describe()
        }
        2 => {
            let mut s = handshake(&ep, "REQ", true);
            let heard = listen(&s);
            let size: usize = 64 << 20;
            let mut head = vec![0x01, 0x00, 0x02];
            head.extend_from_slice(&(size as u64).to_be_bytes());
            let zeros = vec![0u8; 1 << 20];
            let pieces =
                std::iter::once(&head[..]).chain(std::iter::repeat_n(&zeros[..], size >> 20));
            let pumped = pump(&mut s, pieces);
            let reply = match &pumped {
                Pumped::All { .. } => match await_messages(&heard, 1, b"ok") {
                    Ok(at) => format!("replied {:.2} s after the start", secs(at - start)),
                    Err(e) => e,
                },
                _ => String::new(),
            };
            format!("{}; {reply}", pumped.describe())
        }
        3 => {
            let mut s = handshake(&ep, "REQ", true);
            let heard = listen(&s);
            // 65,536 empty frames (ferromq's MAX_FRAMES_PER_MESSAGE, not over it): the
            // envelope's delimiter, then 65,534 with MORE and the last without.
            let mut msg = [0x01, 0x00].repeat(65_535);
            msg.extend_from_slice(&[0x00, 0x00]);
            let pumped = pump(&mut s, std::iter::repeat_n(&msg[..], 200));
            let reply = match await_messages(&heard, 200, b"ok") {
                Ok(at) => format!("200 replies {:.2} s after the start", secs(at - start)),
                Err(e) => e,
            };
            format!("{}; {reply}", pumped.describe())
        }
        4 => {
            // 1,000,000 properties: a one-letter name, an empty value (6 bytes each).
            let mut props = Vec::with_capacity(6_000_000);
            for i in 0..1_000_000u32 {
                props.push(1);
                props.push(b'a' + (i % 26) as u8);
                props.extend_from_slice(&0u32.to_be_bytes());
            }
            let big = ready("REQ", &props);
            let mut s = handshake(&ep, "REQ", false);
            let heard = listen(&s);
            let pumped = pump(&mut s, [&big[..]]);
            let request = [frame(0x01, b""), frame(0x00, b"hello")].concat();
            let reply = match pump(&mut s, [&request[..]]) {
                Pumped::All { .. } => match await_messages(&heard, 1, b"ok") {
                    Ok(at) => format!(
                        "handshake accepted, replied {:.2} s after the start",
                        secs(at - start)
                    ),
                    Err(e) => e,
                },
                other => format!("request: {}", other.describe()),
            };
            format!("{}; {reply}", pumped.describe())
        }
        5 => {
            let mut s = handshake(&ep, "SUB", true);
            let heard = listen(&s);
            let mut batches = Vec::new();
            for b in 0..20u32 {
                let mut batch = Vec::with_capacity(50_000 * 20);
                for i in 0..50_000u32 {
                    let topic = format!("t{:07}", b * 50_000 + i);
                    let mut body = b"\x09SUBSCRIBE".to_vec();
                    body.extend_from_slice(topic.as_bytes());
                    batch.extend_from_slice(&frame(0x04, &body));
                }
                batches.push(batch);
            }
            let last = frame(0x04, b"\x09SUBSCRIBEzz");
            batches.push(last);
            let pumped = pump(&mut s, batches.iter().map(|b| &b[..]));
            // The PUB publishes "zz-last" every 10 ms: once one comes, every
            // subscription before it was taken in.
            let reply = match &pumped {
                Pumped::All { .. } => match await_messages(&heard, 1, b"zz-last") {
                    Ok(at) => format!(
                        "all subscriptions in effect {:.2} s after the start",
                        secs(at - start)
                    ),
                    Err(e) => e,
                },
                _ => String::new(),
            };
            format!("{}; {reply}", pumped.describe())
        }
        _ => panic!("no row {row}"),
    };
    let (rss1, hwm) = server.memory();
    format!("RSS {rss0:.1} → {rss1:.1} MiB, peak {hwm:.1} MiB; {outcome}",)
}
