//! Throughput with more than one I/O thread: ferromq's `Context::with_io_threads(n)`
//! against libzmq's `ZMQ_IO_THREADS = n`, n = 1, 2 and 4, side by side in one criterion
//! group per message size (issue 15 point 5).
//!
//! Scenario: [`PAIRS`] independent PUSH → PULL pairs in one context, each over its own
//! loopback tcp connection, each sender and each receiver in a thread of its own, all
//! running at once. One element is one message through every pair, so the reported rate
//! is messages per second per pair; multiply by [`PAIRS`] for the total. High-water marks
//! 1000 on both sides (both libraries' default), a fresh copy of the payload per message,
//! as in `benches/pipeline.rs`.
//!
//! How each library spreads the work: ferromq gives each socket to an I/O thread in turn
//! (socket id modulo the count), so a pair's PUSH and PULL may sit on different threads;
//! libzmq gives each new connection's session to its least-loaded I/O thread.
//!
//! Beside criterion's figures, the bench prints the process's CPU time (user + system, all
//! threads, from `getrusage`) per million messages for each row: more I/O threads can
//! raise the rate and also the CPU a message costs.
//!
//! Full run: `cargo bench --bench io_threads`. On a 2-core machine 2 · [`PAIRS`] busy
//! application threads already outnumber the cores, so the figures say what extra I/O
//! threads cost there, not how the libraries scale on a larger machine.

use std::time::{Duration, Instant};

mod common;

use common::{CpuMeter, Per};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};

/// How many PUSH → PULL pairs run at once.
const PAIRS: usize = 4;
const SIZES: [usize; 2] = [256, 4096];
const IO_THREADS: [usize; 3] = [1, 2, 4];

fn bench_ferromq(group: &mut BenchmarkGroup<'_, WallTime>, io: usize, size: usize) {
    let ctx = ferromq::Context::with_io_threads(io);
    let mut pairs: Vec<(ferromq::Push, ferromq::Pull)> = (0..PAIRS)
        .map(|_| {
            let mut pull = ctx.pull().unwrap();
            pull.set_recv_timeout(Some(Duration::from_secs(30)));
            pull.bind("tcp://127.0.0.1:*").unwrap();
            let mut push = ctx.push().unwrap();
            push.set_send_timeout(Some(Duration::from_secs(30)));
            push.connect(pull.last_endpoint().unwrap()).unwrap();
            (push, pull)
        })
        .collect();
    let payload = vec![0u8; size];
    let mut cost = CpuMeter::new();
    group.bench_function(BenchmarkId::new(format!("ferromq/io{io}"), size), |b| {
        b.iter_custom(|n| {
            cost.measure(n * PAIRS as u64, || {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for (push, pull) in pairs.iter_mut() {
                        let payload = &payload;
                        s.spawn(move || {
                            for _ in 0..n {
                                push.send(&payload[..]).unwrap();
                            }
                        });
                        s.spawn(move || {
                            for _ in 0..n {
                                pull.recv().unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            })
        })
    });
    cost.report(
        &format!("io_threads_{size}/ferromq/io{io}"),
        Per::MillionMessages,
    );
}

fn bench_libzmq(group: &mut BenchmarkGroup<'_, WallTime>, io: usize, size: usize) {
    let ctx = zmq::Context::new();
    ctx.set_io_threads(io as i32).unwrap();
    let mut pairs: Vec<(zmq::Socket, zmq::Socket)> = (0..PAIRS)
        .map(|_| {
            let pull = ctx.socket(zmq::PULL).unwrap();
            pull.set_rcvtimeo(30_000).unwrap();
            pull.bind("tcp://127.0.0.1:*").unwrap();
            let push = ctx.socket(zmq::PUSH).unwrap();
            push.set_sndtimeo(30_000).unwrap();
            push.connect(&pull.get_last_endpoint().unwrap().unwrap())
                .unwrap();
            (push, pull)
        })
        .collect();
    let payload = vec![0u8; size];
    let mut cost = CpuMeter::new();
    group.bench_function(BenchmarkId::new(format!("libzmq/io{io}"), size), |b| {
        b.iter_custom(|n| {
            cost.measure(n * PAIRS as u64, || {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for (push, pull) in pairs.iter_mut() {
                        let payload = &payload;
                        s.spawn(move || {
                            for _ in 0..n {
                                push.send(&payload[..], 0).unwrap();
                            }
                        });
                        s.spawn(move || {
                            let mut buf = zmq::Message::new();
                            for _ in 0..n {
                                pull.recv(&mut buf, 0).unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            })
        })
    });
    cost.report(
        &format!("io_threads_{size}/libzmq/io{io}"),
        Per::MillionMessages,
    );
}

fn io_threads(c: &mut Criterion) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("io_threads_{size}"));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));
        group.sample_size(10);
        group.throughput(Throughput::Elements(1));
        for io in IO_THREADS {
            bench_ferromq(&mut group, io, size);
            bench_libzmq(&mut group, io, size);
        }
        group.finish();
    }
}

criterion_group!(benches, io_threads);
criterion_main!(benches);
