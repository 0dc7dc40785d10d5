//! PUSH → PULL throughput, ferromq and libzmq side by side in one criterion group.
//!
//! Scenarios: message sizes 16 B, 256 B, 4 KiB and 64 KiB over `tcp` (loopback), `ipc` and
//! `inproc`. Each transport has two groups measuring the same thing and reporting it two
//! ways: `push_pull_<transport>` in messages per second (`Throughput::Elements`) and
//! `push_pull_<transport>_bytes` in bytes per second (`Throughput::Bytes`). Benchmark ids
//! are `<library>/<size>`, so both libraries sit next to each other in every report.
//!
//! Equal settings on both sides: one I/O thread per context, high-water marks 1000 on both
//! sockets (both libraries' default), default kernel socket buffers, sender and receiver in
//! two threads of one process; for inproc both sockets share one context (libzmq requires
//! it). The receiver thread is timed from asking the sender for `n` messages until the
//! `n`-th has arrived. Every message is built from a fresh copy of the payload on both
//! sides (libzmq copies it into a new `zmq_msg_t`; ferromq into a new `Vec`), so neither
//! library gets to share one buffer between messages.
//!
//! The message-rate groups also have a row `ferromq-nospin/<size>`: ferromq with the spin
//! before a wait turned off (`Context::builder().spin(false)`), everything else the same.
//! Beside criterion's figures every row prints its CPU time (user + system, all threads of
//! the process, over the timed calls) per million messages, as a line `cpu: <row>: ...`.
//! Full run: `cargo bench --bench pipeline`; the CPU lines alone:
//! `cargo bench --bench pipeline | grep '^cpu:'`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{CpuMeter, Per, Sender};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};

const SIZES: [usize; 4] = [16, 256, 4096, 65536];
const TRANSPORTS: [&str; 3] = ["tcp", "ipc", "inproc"];

/// A fresh endpoint of `transport` for the receiver to bind.
fn endpoint(transport: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        "ipc" => {
            let path = std::env::temp_dir().join(format!("ferromq-bench-{pid}-{n}.sock"));
            let _ = std::fs::remove_file(&path);
            format!("ipc://{}", path.display())
        }
        "inproc" => format!("inproc://bench-{n}"),
        other => unreachable!("unknown transport {other}"),
    }
}

fn bench_ferromq(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    transport: &str,
    size: usize,
    spin: bool,
) {
    let ctx = ferromq::Context::builder().spin(spin).build();
    let mut pull = ctx.pull().unwrap();
    let bound = endpoint(transport);
    pull.bind(&bound).unwrap();
    let mut push = ctx.push().unwrap();
    push.connect(pull.last_endpoint().unwrap()).unwrap();
    let payload = vec![0u8; size];
    // A fresh copy of the payload per message, as libzmq's `send(&[u8])` makes: both keep
    // a small one inside the message (ferromq up to 23 bytes, libzmq up to 33) and copy a
    // larger one into a new buffer. Cloning one `Message` would share its payload and
    // measure no copy at all.
    let sender = Sender::spawn(move || push.send(&payload[..]).unwrap());
    let library = if spin { "ferromq" } else { "ferromq-nospin" };
    let mut cpu = CpuMeter::new();
    group.bench_function(BenchmarkId::new(library, size), |b| {
        b.iter_custom(|n| {
            cpu.measure(n, || {
                sender.run(n, || {
                    pull.recv().unwrap();
                })
            })
        })
    });
    cpu.report(&row(group_name, library, size), Per::MillionMessages);
    remove_ipc_file(&bound);
}

fn bench_libzmq(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    transport: &str,
    size: usize,
) {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).unwrap();
    let bound = endpoint(transport);
    pull.bind(&bound).unwrap();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.connect(&pull.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    let payload = vec![0u8; size];
    let sender = Sender::spawn(move || push.send(&payload[..], 0).unwrap());
    let mut buf = zmq::Message::new();
    let mut cpu = CpuMeter::new();
    group.bench_function(BenchmarkId::new("libzmq", size), |b| {
        b.iter_custom(|n| cpu.measure(n, || sender.run(n, || pull.recv(&mut buf, 0).unwrap())))
    });
    cpu.report(&row(group_name, "libzmq", size), Per::MillionMessages);
    remove_ipc_file(&bound);
}

/// A row's name in the CPU lines, as criterion names it: `<group>/<library>/<size>`.
fn row(group: &str, library: &str, size: usize) -> String {
    format!("{group}/{library}/{size}")
}

/// Removes the socket file an `ipc://` endpoint left behind; other endpoints have none.
fn remove_ipc_file(endpoint: &str) {
    if let Some(path) = endpoint.strip_prefix("ipc://") {
        let _ = std::fs::remove_file(path);
    }
}

fn push_pull(c: &mut Criterion) {
    for transport in TRANSPORTS {
        for bytes in [false, true] {
            let name = if bytes {
                format!("push_pull_{transport}_bytes")
            } else {
                format!("push_pull_{transport}")
            };
            let mut group = c.benchmark_group(&name);
            group.measurement_time(Duration::from_secs(2));
            group.warm_up_time(Duration::from_millis(500));
            group.sample_size(10);
            for size in SIZES {
                group.throughput(if bytes {
                    Throughput::Bytes(size as u64)
                } else {
                    Throughput::Elements(1)
                });
                bench_ferromq(&mut group, &name, transport, size, true);
                if !bytes {
                    // The spin-off row once per transport and size, not again in bytes.
                    bench_ferromq(&mut group, &name, transport, size, false);
                }
                bench_libzmq(&mut group, &name, transport, size);
            }
            group.finish();
        }
    }
}

criterion_group!(benches, push_pull);
criterion_main!(benches);
