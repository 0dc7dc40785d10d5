//! PUSH → PULL throughput, ferromq and libzmq side by side in one criterion group.
//!
//! Equal settings on both sides: one I/O thread per context, high-water marks 1000
//! (both libraries' default), default kernel socket buffers, sender and receiver in two
//! threads of one process over loopback tcp. Full run: `cargo bench --bench pipeline`.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SIZES: [usize; 1] = [16];

/// A sender thread that sends `n` messages whenever asked.
struct Sender {
    ask: mpsc::Sender<u64>,
    done: mpsc::Receiver<()>,
}

impl Sender {
    fn spawn(mut send: impl FnMut() + Send + 'static) -> Sender {
        let (ask, asked) = mpsc::channel::<u64>();
        let (finished, done) = mpsc::channel();
        thread::spawn(move || {
            for n in asked {
                for _ in 0..n {
                    send();
                }
                let _ = finished.send(());
            }
        });
        Sender { ask, done }
    }

    fn run(&self, n: u64, mut recv: impl FnMut()) -> Duration {
        let start = Instant::now();
        self.ask.send(n).unwrap();
        for _ in 0..n {
            recv();
        }
        let elapsed = start.elapsed();
        self.done.recv().unwrap();
        elapsed
    }
}

fn push_pull_tcp(c: &mut Criterion) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("push_pull_tcp_{size}B"));
        group.throughput(Throughput::Elements(1));
        group.measurement_time(Duration::from_secs(3));

        {
            let ctx = ferromq::Context::new();
            let mut pull = ctx.pull().unwrap();
            pull.bind("tcp://127.0.0.1:*").unwrap();
            let mut push = ctx.push().unwrap();
            push.connect(pull.last_endpoint().unwrap()).unwrap();
            let msg = ferromq::Message::from(vec![0u8; size]);
            let sender = Sender::spawn(move || push.send(msg.clone()).unwrap());
            group.bench_function("ferromq", |b| {
                b.iter_custom(|n| {
                    sender.run(n, || {
                        pull.recv().unwrap();
                    })
                })
            });
        }
        {
            let ctx = zmq::Context::new();
            let pull = ctx.socket(zmq::PULL).unwrap();
            pull.bind("tcp://127.0.0.1:*").unwrap();
            let push = ctx.socket(zmq::PUSH).unwrap();
            push.connect(&pull.get_last_endpoint().unwrap().unwrap())
                .unwrap();
            let payload = vec![0u8; size];
            let sender = Sender::spawn(move || push.send(&payload[..], 0).unwrap());
            let mut buf = zmq::Message::new();
            group.bench_function("libzmq", |b| {
                b.iter_custom(|n| sender.run(n, || pull.recv(&mut buf, 0).unwrap()))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, push_pull_tcp);
criterion_main!(benches);
