//! One 64 MiB message PUSH → PULL over loopback tcp, ferromq and libzmq side by side in one
//! criterion group (`large_message_tcp`, ids `<library>/64MiB`, reported in bytes per
//! second).
//!
//! This is the case where receiving must cost linear time: the message arrives in one
//! frame, read by read, and each read must not copy what came before. Settings are equal on
//! both sides: one I/O thread per context, default high-water marks and kernel buffers,
//! sender and receiver in two threads of one process, a fresh copy of the payload per
//! message on both sides (libzmq copies it into a new `zmq_msg_t`, ferromq into a new
//! buffer). The receiver thread is timed from asking the sender for `n` messages until the
//! `n`-th has arrived. ferromq's default `max_msg_size` is exactly 64 MiB, so the message
//! is at the limit. Run: `cargo bench --bench large_message`.

use std::time::Duration;

mod common;

use common::Sender;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZE: usize = 64 << 20;

fn large_message(c: &mut Criterion) {
    let mut group = c.benchmark_group("large_message_tcp");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(SIZE as u64));

    {
        let ctx = ferromq::Context::new();
        let mut pull = ctx.pull().unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let mut push = ctx.push().unwrap();
        push.connect(pull.last_endpoint().unwrap()).unwrap();
        let payload = vec![7u8; SIZE];
        let sender = Sender::spawn(move || push.send(&payload[..]).unwrap());
        group.bench_function(BenchmarkId::new("ferromq", "64MiB"), |b| {
            b.iter_custom(|n| {
                sender.run(n, || {
                    let msg = pull.recv().unwrap();
                    assert_eq!(msg.byte_len(), SIZE);
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
        let payload = vec![7u8; SIZE];
        let sender = Sender::spawn(move || push.send(&payload[..], 0).unwrap());
        let mut buf = zmq::Message::new();
        group.bench_function(BenchmarkId::new("libzmq", "64MiB"), |b| {
            b.iter_custom(|n| {
                sender.run(n, || {
                    pull.recv(&mut buf, 0).unwrap();
                    assert_eq!(buf.len(), SIZE);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, large_message);
criterion_main!(benches);
