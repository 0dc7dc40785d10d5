//! Proxy throughput, ferromq's [`ferromq::Proxy`] and libzmq's `zmq_proxy_steerable` side by
//! side in one criterion group: a streamer, PUSH → [PULL | proxy | PUSH] → PULL, 64 B and
//! 1 KiB messages over loopback tcp (both hops).
//!
//! Equal settings on both sides: one I/O thread per context, high-water marks 1000 on every
//! socket (both libraries' default), default kernel socket buffers; producer, proxy and
//! consumer in three threads of one process. The consumer thread is timed from asking the
//! producer for `n` messages until the `n`-th has arrived through the proxy. Beside
//! criterion's figures every row prints its CPU time (user + system, all threads of the
//! process, over the timed calls) per million messages, as a line `cpu: <row>: ...`. Full
//! run: `cargo bench --bench proxy`.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

mod common;

use common::{CpuMeter, Per, Sender};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 2] = [64, 1024];

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn bench_ferromq(group: &mut Group<'_>, size: usize) {
    let ctx = ferromq::Context::new();
    // The proxy borrows its sockets, so they live in the proxy's thread; it hands back
    // its control handle and the endpoints it bound.
    let (ready, endpoints) = mpsc::channel();
    let proxy_ctx = ctx.clone();
    let proxy_thread = thread::spawn(move || {
        let mut frontend = proxy_ctx.pull().unwrap();
        frontend.bind("tcp://127.0.0.1:*").unwrap();
        let mut backend = proxy_ctx.push().unwrap();
        backend.bind("tcp://127.0.0.1:*").unwrap();
        let front = frontend.last_endpoint().unwrap().to_owned();
        let back = backend.last_endpoint().unwrap().to_owned();
        let proxy = ferromq::Proxy::new(&mut frontend, &mut backend);
        ready.send((proxy.control(), front, back)).unwrap();
        proxy.run().unwrap()
    });
    let (control, front, back) = endpoints.recv().unwrap();
    let mut push = ctx.push().unwrap();
    push.connect(&front).unwrap();
    let mut pull = ctx.pull().unwrap();
    pull.connect(&back).unwrap();
    let payload = vec![0u8; size];
    let producer = Sender::spawn(move || push.send(&payload[..]).unwrap());
    let mut cpu = CpuMeter::new();
    group.bench_function(BenchmarkId::new("ferromq", size), |b| {
        b.iter_custom(|n| {
            cpu.measure(n, || {
                producer.run(n, || {
                    pull.recv().unwrap();
                })
            })
        })
    });
    cpu.report(
        &format!("proxy_streamer_tcp/ferromq/{size}"),
        Per::MillionMessages,
    );
    drop(producer);
    control.stop();
    proxy_thread.join().unwrap();
}

fn bench_libzmq(group: &mut Group<'_>, size: usize) {
    let ctx = zmq::Context::new();
    let frontend = ctx.socket(zmq::PULL).unwrap();
    frontend.bind("tcp://127.0.0.1:*").unwrap();
    let backend = ctx.socket(zmq::PUSH).unwrap();
    backend.bind("tcp://127.0.0.1:*").unwrap();
    let front = frontend.get_last_endpoint().unwrap().unwrap();
    let back = backend.get_last_endpoint().unwrap().unwrap();
    // zmq_proxy_steerable stops on "TERMINATE" from its control socket.
    let control = ctx.socket(zmq::PAIR).unwrap();
    control.bind("inproc://proxy-bench-control").unwrap();
    let steer = ctx.socket(zmq::PAIR).unwrap();
    steer.connect("inproc://proxy-bench-control").unwrap();
    let proxy_thread = thread::spawn(move || {
        let (mut frontend, mut backend, mut steer) = (frontend, backend, steer);
        let _ = zmq::proxy_steerable(&mut frontend, &mut backend, &mut steer);
    });
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.connect(&front).unwrap();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.connect(&back).unwrap();
    let payload = vec![0u8; size];
    let producer = Sender::spawn(move || push.send(&payload[..], 0).unwrap());
    let mut buf = zmq::Message::new();
    let mut cpu = CpuMeter::new();
    group.bench_function(BenchmarkId::new("libzmq", size), |b| {
        b.iter_custom(|n| cpu.measure(n, || producer.run(n, || pull.recv(&mut buf, 0).unwrap())))
    });
    cpu.report(
        &format!("proxy_streamer_tcp/libzmq/{size}"),
        Per::MillionMessages,
    );
    drop(producer);
    control.send("TERMINATE", 0).unwrap();
    proxy_thread.join().unwrap();
}

fn proxy(c: &mut Criterion) {
    let mut group = c.benchmark_group("proxy_streamer_tcp");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(10);
    for size in SIZES {
        group.throughput(Throughput::Elements(1));
        bench_ferromq(&mut group, size);
        bench_libzmq(&mut group, size);
    }
    group.finish();
}

criterion_group!(benches, proxy);
criterion_main!(benches);
