//! ferromq's async face against its own blocking calls, side by side in one run: PUSH →
//! PULL throughput and REQ ↔ REP round trips.
//!
//! - `async_push_pull_<transport>`: messages of 16 B, 256 B, 4 KiB and 64 KiB over tcp
//!   (loopback), ipc and inproc; ids `<face>/<size>`, `face` being `blocking` (the
//!   `send`/`recv` loop of `benches/pipeline.rs`) or `async` (`send_async`/`recv_async`,
//!   each side on a tokio current-thread runtime of its own thread). Messages per second.
//! - `async_req_rep_16B`: one round trip per sample, ids `<face>/<transport>`, the REP
//!   echoing from a second thread (blocking `recv`/`reply`, or `recv_async`/`reply_async`
//!   on its own runtime).
//!
//! Equal settings for both faces: one I/O thread per context, high-water marks 1000,
//! default kernel buffers, a fresh copy of the payload per message. Full run:
//! `cargo bench --bench async_pipeline`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};

const SIZES: [usize; 4] = [16, 256, 4096, 65536];
const TRANSPORTS: [&str; 3] = ["tcp", "ipc", "inproc"];

fn endpoint(transport: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        "ipc" => {
            let path = std::env::temp_dir().join(format!("ferromq-abench-{pid}-{n}.sock"));
            let _ = std::fs::remove_file(&path);
            format!("ipc://{}", path.display())
        }
        "inproc" => format!("inproc://abench-{n}"),
        other => unreachable!("unknown transport {other}"),
    }
}

fn remove_ipc_file(endpoint: &str) {
    if let Some(path) = endpoint.strip_prefix("ipc://") {
        let _ = std::fs::remove_file(path);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A sender thread that sends `n` messages whenever asked (blocking or async), joined on
/// drop.
struct Sender {
    ask: Option<mpsc::Sender<u64>>,
    done: mpsc::Receiver<()>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sender {
    fn spawn(mut push: ferromq::Push, payload: Vec<u8>, async_face: bool) -> Sender {
        let (ask, asked) = mpsc::channel::<u64>();
        let (finished, done) = mpsc::channel();
        let thread = thread::spawn(move || {
            let rt = runtime();
            for n in asked {
                if async_face {
                    rt.block_on(async {
                        for _ in 0..n {
                            push.send_async(&payload[..]).await.unwrap();
                        }
                    });
                } else {
                    for _ in 0..n {
                        push.send(&payload[..]).unwrap();
                    }
                }
                let _ = finished.send(());
            }
        });
        Sender {
            ask: Some(ask),
            done,
            thread: Some(thread),
        }
    }

    fn run(&self, n: u64, recv: impl FnOnce(u64)) -> Duration {
        let start = Instant::now();
        self.ask.as_ref().unwrap().send(n).unwrap();
        recv(n);
        let elapsed = start.elapsed();
        self.done.recv().unwrap();
        elapsed
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.ask = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bench_push_pull(
    group: &mut BenchmarkGroup<'_, WallTime>,
    transport: &str,
    size: usize,
    async_face: bool,
) {
    let ctx = ferromq::Context::new();
    let mut pull = ctx.pull().unwrap();
    let bound = endpoint(transport);
    pull.bind(&bound).unwrap();
    let mut push = ctx.push().unwrap();
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    let sender = Sender::spawn(push, vec![0u8; size], async_face);
    let rt = runtime();
    let face = if async_face { "async" } else { "blocking" };
    group.bench_function(BenchmarkId::new(face, size), |b| {
        b.iter_custom(|n| {
            sender.run(n, |n| {
                if async_face {
                    rt.block_on(async {
                        for _ in 0..n {
                            pull.recv_async().await.unwrap();
                        }
                    });
                } else {
                    for _ in 0..n {
                        pull.recv().unwrap();
                    }
                }
            })
        })
    });
    drop(sender);
    remove_ipc_file(&bound);
}

fn push_pull(c: &mut Criterion) {
    for transport in TRANSPORTS {
        let mut group = c.benchmark_group(format!("async_push_pull_{transport}"));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));
        group.sample_size(10);
        group.throughput(Throughput::Elements(1));
        for size in SIZES {
            bench_push_pull(&mut group, transport, size, false);
            bench_push_pull(&mut group, transport, size, true);
        }
        group.finish();
    }
}

fn req_rep(c: &mut Criterion) {
    let mut group = c.benchmark_group("async_req_rep_16B");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(10);
    for transport in TRANSPORTS {
        for async_face in [false, true] {
            let ctx = ferromq::Context::new();
            let mut rep = ctx.rep().unwrap();
            let bound = endpoint(transport);
            rep.bind(&bound).unwrap();
            let mut req = ctx.req().unwrap();
            req.connect(rep.last_endpoint().unwrap()).unwrap();
            let (stop_tx, stop) = mpsc::channel::<()>();
            let echo = thread::spawn(move || {
                rep.set_recv_timeout(Some(Duration::from_millis(200)));
                let rt = runtime();
                while stop.try_recv().is_err() {
                    if async_face {
                        rt.block_on(async {
                            // Bounded so the stop request is seen.
                            let got =
                                tokio::time::timeout(Duration::from_millis(200), rep.recv_async());
                            if let Ok(Ok(request)) = got.await {
                                let body = request.body().clone();
                                request.reply_async(body).await.unwrap();
                            }
                        });
                    } else if let Ok(request) = rep.recv() {
                        let body = request.body().clone();
                        request.reply(body).unwrap();
                    }
                }
            });
            let rt = runtime();
            let payload = [0u8; 16];
            let face = if async_face { "async" } else { "blocking" };
            req.set_recv_timeout(Some(Duration::from_secs(10)));
            group.bench_function(BenchmarkId::new(face, transport), |b| {
                b.iter(|| {
                    if async_face {
                        rt.block_on(async { req.request_async(&payload[..]).await.unwrap() })
                    } else {
                        req.request(&payload[..]).unwrap()
                    }
                })
            });
            let _ = stop_tx.send(());
            echo.join().unwrap();
            remove_ipc_file(&bound);
        }
    }
    group.finish();
}

criterion_group!(benches, push_pull, req_rep);
criterion_main!(benches);
