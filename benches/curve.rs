//! CURVE speed: PUSH → PULL throughput and REQ ↔ REP round trips over tcp, ferromq's CURVE
//! beside libzmq's CURVE and both libraries' NULL, in one run.
//!
//! Groups:
//! - `curve_push_pull` (msg/s) and `curve_push_pull_bytes` (bytes/s): sizes 16 B, 256 B,
//!   4 KiB, 64 KiB; ids `<library>-<mechanism>/<size>`, the four rows of one size run one
//!   after another so that they share the machine's mood.
//! - `curve_req_rep_16B`: one sample is one round trip of 16 bytes; ids
//!   `<library>-<mechanism>`.
//!
//! The libzmq side is `benches/curve_peer.c`, compiled by this bench at run time with `cc`
//! against the system's libzmq (Debian's `libzmq3-dev`, built with libsodium), because the
//! `zmq` crate's vendored libzmq has no CURVE. It runs as child processes driven over
//! stdin/stdout: for throughput one process holds both sockets (a sender thread, the main
//! thread timed until the `n`-th message arrives, as ferromq's side here); for round trips
//! the REQ and the echoing REP are two processes, as ferromq's are (the bench's REQ and a
//! re-executed copy of the bench as REP). Without `cc`, the headers or a libzmq with CURVE,
//! the libzmq rows are skipped with a message and the ferromq rows still run.
//!
//! Equal settings: loopback tcp, one I/O thread per context, high-water marks 1000 (both
//! libraries' default), default kernel socket buffers; every message is a fresh copy of its
//! payload; the PULL / REP is the CURVE server, the PUSH / REQ the client; keys are made
//! fresh per run. Full run: `cargo bench --bench curve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::Sender;
use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use ferromq::CurveKeyPair;

const SIZES: [usize; 4] = [16, 256, 4096, 65536];
const RTT_SIZE: usize = 16;
const ECHO_ENV: &str = "FERROMQ_BENCH_CURVE_ECHO";
const TIMEOUT: Duration = Duration::from_secs(10);
const PEER_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/curve_peer.c");

/// The keys of one run: the server's pair (PULL, REP) and the client's (PUSH, REQ).
struct Keys {
    server: CurveKeyPair,
    client: CurveKeyPair,
}

impl Keys {
    fn generate() -> Keys {
        Keys {
            server: CurveKeyPair::generate().unwrap(),
            client: CurveKeyPair::generate().unwrap(),
        }
    }
}

/// The compiled libzmq peer, or `None` (said once) when it cannot be built here.
fn libzmq_peer() -> Option<&'static PathBuf> {
    static PEER: OnceLock<Option<PathBuf>> = OnceLock::new();
    PEER.get_or_init(|| {
        let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("curve_peer");
        let built = Command::new("cc")
            .args(["-O2", PEER_SOURCE, "-o"])
            .arg(&exe)
            .args(["-lzmq", "-lpthread"])
            .stderr(Stdio::piped())
            .output();
        let why = match built {
            Err(e) => format!("cannot run cc ({e})"),
            Ok(out) if !out.status.success() => format!(
                "cc failed (is libzmq3-dev installed?):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Ok(_) => match Command::new(&exe).arg("has-curve").status() {
                Ok(s) if s.success() => return Some(exe),
                _ => "the system's libzmq has no CURVE".to_owned(),
            },
        };
        eprintln!(
            "curve bench: libzmq rows skipped: {why}\n  \
             (install gcc and libzmq3-dev, e.g. `apt-get install -y gcc libzmq3-dev`)"
        );
        None
    })
    .as_ref()
}

/// A child process of the libzmq peer, killed and reaped when dropped.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(args: &[&str]) -> Option<Peer> {
        let mut child = Command::new(libzmq_peer()?)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the libzmq peer");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Peer {
            child,
            stdin,
            stdout,
        })
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the libzmq peer ended early");
        line.trim_end().to_owned()
    }

    /// Asks for `n` messages or round trips; the peer's own clock times them.
    fn run(&mut self, n: u64) -> Duration {
        writeln!(self.stdin, "{n}").unwrap();
        self.stdin.flush().unwrap();
        Duration::from_nanos(self.line().parse().expect("nanoseconds from the peer"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ferromq echo side in another process (this bench re-executed), killed when dropped.
struct EchoProcess(Child);

impl EchoProcess {
    fn spawn(endpoint: &str, server_secret: &str) -> EchoProcess {
        let exe = std::env::current_exe().expect("path of the bench binary");
        let child = Command::new(exe)
            .env(ECHO_ENV, format!("{endpoint} {server_secret}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the echo process");
        EchoProcess(child)
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The re-executed bench: a ferromq REP that echoes until killed or its stdin closes.
fn echo_child(spec: &str) {
    thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let (endpoint, secret) = spec.split_once(' ').expect("<endpoint> <secret>");
    let ctx = ferromq::Context::new();
    let mut rep = ctx.rep().unwrap();
    if secret != "-" {
        rep.set_curve_server(&ferromq::CurveSecretKey::from_z85(secret).unwrap());
    }
    rep.connect(endpoint).unwrap();
    loop {
        let mut request = rep.recv().unwrap();
        let body = request.take_body();
        request.reply(body).unwrap();
    }
}

fn id(library: &str, curve: bool) -> String {
    format!("{library}-{}", if curve { "curve" } else { "null" })
}

fn push_pull_ferromq(
    group: &mut BenchmarkGroup<'_, WallTime>,
    keys: &Keys,
    curve: bool,
    size: usize,
) {
    let ctx = ferromq::Context::new();
    let mut pull = ctx.pull().unwrap();
    let mut push = ctx.push().unwrap();
    if curve {
        pull.set_curve_server(keys.server.secret());
        push.set_curve_client(keys.server.public(), &keys.client);
    }
    pull.bind("tcp://127.0.0.1:*").unwrap();
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    let payload = vec![0u8; size];
    let sender = Sender::spawn(move || push.send(&payload[..]).unwrap());
    group.bench_function(BenchmarkId::new(id("ferromq", curve), size), |b| {
        b.iter_custom(|n| {
            sender.run(n, || {
                pull.recv().unwrap();
            })
        })
    });
}

fn push_pull_libzmq(
    group: &mut BenchmarkGroup<'_, WallTime>,
    keys: &Keys,
    curve: bool,
    size: usize,
) {
    let size_arg = size.to_string();
    let (server_secret, server_public) =
        (keys.server.secret().to_z85(), keys.server.public().to_z85());
    let (client_public, client_secret) =
        (keys.client.public().to_z85(), keys.client.secret().to_z85());
    let mut args = vec!["pushpull", &size_arg, "-", "-", "-", "-"];
    if curve {
        args = vec![
            "pushpull",
            &size_arg,
            server_secret.as_str(),
            &server_public,
            &client_public,
            client_secret.as_str(),
        ];
    }
    let Some(mut peer) = Peer::spawn(&args) else {
        return;
    };
    group.bench_function(BenchmarkId::new(id("libzmq", curve), size), |b| {
        b.iter_custom(|n| peer.run(n))
    });
}

fn push_pull(c: &mut Criterion) {
    let keys = Keys::generate();
    for bytes in [false, true] {
        let name = if bytes {
            "curve_push_pull_bytes"
        } else {
            "curve_push_pull"
        };
        let mut group = c.benchmark_group(name);
        configure(&mut group);
        for size in SIZES {
            group.throughput(if bytes {
                Throughput::Bytes(size as u64)
            } else {
                Throughput::Elements(1)
            });
            push_pull_ferromq(&mut group, &keys, true, size);
            push_pull_libzmq(&mut group, &keys, true, size);
            push_pull_ferromq(&mut group, &keys, false, size);
            push_pull_libzmq(&mut group, &keys, false, size);
        }
        group.finish();
    }
}

fn req_rep_ferromq(group: &mut BenchmarkGroup<'_, WallTime>, keys: &Keys, curve: bool) {
    let ctx = ferromq::Context::new();
    let mut req = ctx.req().unwrap();
    req.set_send_timeout(Some(TIMEOUT));
    req.set_recv_timeout(Some(TIMEOUT));
    let secret = if curve {
        req.set_curve_client(keys.server.public(), &keys.client);
        keys.server.secret().to_z85().as_str().to_owned()
    } else {
        "-".to_owned()
    };
    req.bind("tcp://127.0.0.1:*").unwrap();
    let _echo = EchoProcess::spawn(req.last_endpoint().unwrap(), &secret);
    let msg = ferromq::Message::from(vec![0u8; RTT_SIZE]);
    req.request(msg.clone()).unwrap(); // the connection is up
    group.bench_function(id("ferromq", curve), |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                req.request(msg.clone()).unwrap();
            }
            start.elapsed()
        })
    });
}

fn req_rep_libzmq(group: &mut BenchmarkGroup<'_, WallTime>, keys: &Keys, curve: bool) {
    let size = RTT_SIZE.to_string();
    let (server_public, client_public) =
        (keys.server.public().to_z85(), keys.client.public().to_z85());
    let client_secret = keys.client.secret().to_z85();
    let server_secret = keys.server.secret().to_z85();
    let (req_args, rep_secret): (Vec<&str>, &str) = if curve {
        (
            vec![
                "req",
                &size,
                &server_public,
                &client_public,
                client_secret.as_str(),
            ],
            server_secret.as_str(),
        )
    } else {
        (vec!["req", &size, "-", "-", "-"], "-")
    };
    let Some(mut req) = Peer::spawn(&req_args) else {
        return;
    };
    let line = req.line();
    let endpoint = line.strip_prefix("endpoint ").expect("the REQ's endpoint");
    let Some(_rep) = Peer::spawn(&["rep", endpoint, rep_secret]) else {
        return;
    };
    req.run(1); // the connection is up
    group.bench_function(id("libzmq", curve), |b| b.iter_custom(|n| req.run(n)));
}

fn req_rep(c: &mut Criterion) {
    let keys = Keys::generate();
    let mut group = c.benchmark_group("curve_req_rep_16B");
    configure(&mut group);
    req_rep_ferromq(&mut group, &keys, true);
    req_rep_libzmq(&mut group, &keys, true);
    req_rep_ferromq(&mut group, &keys, false);
    req_rep_libzmq(&mut group, &keys, false);
    group.finish();
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(10);
}

criterion_group!(benches, push_pull, req_rep);

fn main() {
    if let Ok(spec) = std::env::var(ECHO_ENV) {
        echo_child(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
