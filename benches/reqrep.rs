//! REQ ↔ REP round-trip latency with 16-byte messages, ferromq and libzmq side by side.
//!
//! One group, `req_rep_16B`, with ids `<library>/<transport>`; each sample is the time of
//! one full round trip (request out, reply back). libzmq's `remote_lat` prints half of
//! that as its "average latency".
//!
//! - `inproc`: the REP echoes from a second thread of the bench, both sockets in one
//!   context (libzmq requires it).
//! - `tcp` (loopback) and `ipc`: the REP echoes from a second *process*, as libzmq's
//!   `local_lat`/`remote_lat` pair does. The bench binds its REQ and re-executes itself
//!   with `FERROMQ_BENCH_ECHO=<library> <endpoint>` set; the child connects a REP of the
//!   same library and echoes until the bench kills it (a drop guard does, even when the
//!   bench panics) or its stdin closes (when the bench dies outright).
//!
//! Equal settings on both sides: one I/O thread per context, high-water marks 1000 (both
//! libraries' default), default kernel socket buffers; a 10 s send/receive timeout on the
//! REQ so that a lost echo side fails the bench instead of hanging it.
//!
//! A third column, `ferromq-nospin`, is ferromq with the spin before a wait turned off
//! (`Context::builder().spin(false)`) on both sides: the REQ's context and the echo's.
//! Beside criterion's figures every row prints its CPU time per thousand round trips, as a
//! line `cpu: <row>: ...`: user + system of all threads of the bench process over the
//! timed calls, plus, for tcp and ipc, the echo process's over the same calls (from
//! `/proc/<pid>/stat`, in 10 ms ticks). Full run: `cargo bench --bench reqrep`; the CPU
//! lines alone: `cargo bench --bench reqrep | grep '^cpu:'`.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};

mod common;

use common::{CpuMeter, Per};

const SIZE: usize = 16;
const ECHO_ENV: &str = "FERROMQ_BENCH_ECHO";
const TIMEOUT: Duration = Duration::from_secs(10);

/// The echo side in another process, killed and reaped when dropped.
struct EchoProcess(Child);

impl EchoProcess {
    fn spawn(library: &str, endpoint: &str) -> EchoProcess {
        let exe = std::env::current_exe().expect("path of the bench binary");
        let child = Command::new(exe)
            .env(ECHO_ENV, format!("{library} {endpoint}"))
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

/// The child's side: echo every request until killed or until stdin closes.
fn echo_child(spec: &str) {
    thread::spawn(|| {
        // The bench holds our stdin open; when it is gone, so are we.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let (library, endpoint) = spec.split_once(' ').expect("<library> <endpoint>");
    match library {
        "ferromq" | "ferromq-nospin" => {
            let ctx = ferromq::Context::builder()
                .spin(library == "ferromq")
                .build();
            let mut rep = ctx.rep().unwrap();
            rep.connect(endpoint).unwrap();
            loop {
                let mut request = rep.recv().unwrap();
                let body = request.take_body();
                request.reply(body).unwrap();
            }
        }
        "libzmq" => {
            let ctx = zmq::Context::new();
            let rep = ctx.socket(zmq::REP).unwrap();
            rep.connect(endpoint).unwrap();
            let mut msg = zmq::Message::new();
            loop {
                rep.recv(&mut msg, 0).unwrap();
                rep.send(&msg[..], 0).unwrap();
            }
        }
        other => panic!("unknown library {other}"),
    }
}

/// The socket file of the ipc endpoint for `library`'s run.
fn ipc_path(library: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "ferromq-bench-lat-{library}-{}.sock",
        std::process::id()
    ))
}

fn ipc_endpoint(library: &str) -> String {
    let path = ipc_path(library);
    let _ = std::fs::remove_file(&path);
    format!("ipc://{}", path.display())
}

/// ferromq's row, as `library` "ferromq" (the spin on) or "ferromq-nospin" (off).
fn bench_ferromq(c: &mut Criterion, library: &str, transport: &str) {
    let ctx = ferromq::Context::builder()
        .spin(library == "ferromq")
        .build();
    let mut req = ctx.req().unwrap();
    req.set_send_timeout(Some(TIMEOUT));
    req.set_recv_timeout(Some(TIMEOUT));
    let mut echo_thread = None;
    let mut _echo_process = None;
    match transport {
        "inproc" => {
            let mut rep = ctx.rep().unwrap();
            rep.bind("inproc://lat").unwrap();
            req.connect("inproc://lat").unwrap();
            echo_thread = Some(thread::spawn(move || loop {
                let mut request = rep.recv().unwrap();
                let body = request.take_body();
                let last = body.byte_len() != SIZE;
                request.reply(body).unwrap();
                if last {
                    break;
                }
            }));
        }
        "tcp" => {
            req.bind("tcp://127.0.0.1:*").unwrap();
            _echo_process = Some(EchoProcess::spawn(library, req.last_endpoint().unwrap()));
        }
        _ => {
            let endpoint = ipc_endpoint(library);
            req.bind(&endpoint).unwrap();
            _echo_process = Some(EchoProcess::spawn(library, &endpoint));
        }
    }
    let msg = ferromq::Message::from(vec![0u8; SIZE]);
    req.request(msg.clone()).unwrap(); // the connection is up
    let mut group = c.benchmark_group("req_rep_16B");
    configure(&mut group);
    let mut cpu = meter(&_echo_process);
    group.bench_function(BenchmarkId::new(library, transport), |b| {
        b.iter_custom(|n| {
            cpu.measure(n, || {
                let start = Instant::now();
                for _ in 0..n {
                    req.request(msg.clone()).unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    cpu.report(
        &format!("req_rep_16B/{library}/{transport}"),
        Per::ThousandRoundTrips,
    );
    if let Some(thread) = echo_thread {
        req.request("stop").unwrap();
        thread.join().unwrap();
    }
    if transport == "ipc" {
        let _ = std::fs::remove_file(ipc_path(library));
    }
}

fn bench_libzmq(c: &mut Criterion, transport: &str) {
    let ctx = zmq::Context::new();
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_sndtimeo(TIMEOUT.as_millis() as i32).unwrap();
    req.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
    let mut echo_thread = None;
    let mut _echo_process = None;
    match transport {
        "inproc" => {
            let rep = ctx.socket(zmq::REP).unwrap();
            rep.bind("inproc://lat").unwrap();
            req.connect("inproc://lat").unwrap();
            echo_thread = Some(thread::spawn(move || {
                let mut msg = zmq::Message::new();
                loop {
                    rep.recv(&mut msg, 0).unwrap();
                    rep.send(&msg[..], 0).unwrap();
                    if msg.len() != SIZE {
                        break;
                    }
                }
            }));
        }
        "tcp" => {
            req.bind("tcp://127.0.0.1:*").unwrap();
            let endpoint = req.get_last_endpoint().unwrap().unwrap();
            _echo_process = Some(EchoProcess::spawn("libzmq", &endpoint));
        }
        _ => {
            let endpoint = ipc_endpoint("libzmq");
            req.bind(&endpoint).unwrap();
            _echo_process = Some(EchoProcess::spawn("libzmq", &endpoint));
        }
    }
    let payload = [0u8; SIZE];
    let mut reply = zmq::Message::new();
    let mut round_trip = |req: &zmq::Socket, body: &[u8]| {
        req.send(body, 0).unwrap();
        req.recv(&mut reply, 0).unwrap();
    };
    round_trip(&req, &payload); // the connection is up
    let mut group = c.benchmark_group("req_rep_16B");
    configure(&mut group);
    let mut cpu = meter(&_echo_process);
    group.bench_function(BenchmarkId::new("libzmq", transport), |b| {
        b.iter_custom(|n| {
            cpu.measure(n, || {
                let start = Instant::now();
                for _ in 0..n {
                    round_trip(&req, &payload);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    cpu.report(
        &format!("req_rep_16B/libzmq/{transport}"),
        Per::ThousandRoundTrips,
    );
    if let Some(thread) = echo_thread {
        round_trip(&req, b"stop");
        thread.join().unwrap();
    }
    if transport == "ipc" {
        let _ = std::fs::remove_file(ipc_path("libzmq"));
    }
}

/// A CPU meter of this process, and of the echo process if there is one.
fn meter(echo: &Option<EchoProcess>) -> CpuMeter {
    match echo {
        Some(EchoProcess(child)) => CpuMeter::with_peer(child.id()),
        None => CpuMeter::new(),
    }
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(10);
}

fn req_rep(c: &mut Criterion) {
    for transport in ["inproc", "ipc", "tcp"] {
        bench_ferromq(c, "ferromq", transport);
        bench_ferromq(c, "ferromq-nospin", transport);
        bench_libzmq(c, transport);
    }
}

criterion_group!(benches, req_rep);

fn main() {
    if let Ok(spec) = std::env::var(ECHO_ENV) {
        echo_child(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
