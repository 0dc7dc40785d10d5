//! PUB fan-out to 10 SUBs over loopback tcp with 64-byte messages, ferromq and libzmq
//! side by side in the group `pub_sub_tcp_64B_10subs` (ids `ferromq`, `libzmq`).
//!
//! One element is one message published *and received by all ten subscribers*. A PUB drops
//! what a subscriber's full queue cannot take, so the publisher sends in windows of 100
//! messages (a tenth of the high-water mark) and waits for every subscriber to have
//! received a window before it sends the next: nothing is dropped and every message is
//! counted. (Windows of 500 and of 250 were tried first: on the quiet machine libzmq's
//! publisher then lost part of a window now and then — its view of a subscriber's pipe
//! is credited back only every half mark's worth of messages — and the bench stalled
//! waiting for an acknowledgement that could not come. The window's round of
//! acknowledgements is part of what is timed, for both libraries.) Each
//! subscriber runs in its own thread; before measuring, the publisher sends warm-up
//! messages until all ten have received one, the same way for both libraries.
//!
//! Equal settings on both sides: one I/O thread per context (the publisher's and the ten
//! subscribers' contexts are separate, as they would be in separate processes), high-water
//! marks 1000 (both libraries' default), default kernel socket buffers, all subscribers
//! subscribed to everything. Full run: `cargo bench --bench pubsub`.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SUBSCRIBERS: usize = 10;
const SIZE: usize = 64;
const WINDOW: u64 = 100;
/// First byte of a warm-up message, of a measured one, and of the last one of a window.
const WARM_UP: u8 = b'w';
const DATA: u8 = b'd';
const END_OF_WINDOW: u8 = b'e';
const QUIT: u8 = b'q';

/// What a subscriber thread does with each message it receives; answers whether to go on.
fn on_message(
    first: u8,
    warmed: &mpsc::Sender<()>,
    acks: &mpsc::Sender<()>,
    seen_warm_up: &mut bool,
) -> bool {
    match first {
        WARM_UP if !*seen_warm_up => {
            *seen_warm_up = true;
            let _ = warmed.send(());
        }
        END_OF_WINDOW => {
            let _ = acks.send(());
        }
        QUIT => return false,
        _ => {}
    }
    true
}

/// The publisher's side of one measurement: sends `n` messages in windows, each window
/// waiting for all subscribers' acknowledgements.
fn publish(n: u64, acks: &mpsc::Receiver<()>, mut send: impl FnMut(u8)) -> Duration {
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let window = WINDOW.min(n - sent);
        for i in 0..window {
            send(if i + 1 == window { END_OF_WINDOW } else { DATA });
        }
        for _ in 0..SUBSCRIBERS {
            acks.recv_timeout(Duration::from_secs(10))
                .expect("a subscriber stalled");
        }
        sent += window;
    }
    start.elapsed()
}

/// Sends warm-up messages until every subscriber has received one.
fn warm_up(warmed: &mpsc::Receiver<()>, mut send: impl FnMut(u8)) {
    let mut ready = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready < SUBSCRIBERS {
        assert!(Instant::now() < deadline, "subscribers did not join");
        send(WARM_UP);
        thread::sleep(Duration::from_millis(1));
        while warmed.try_recv().is_ok() {
            ready += 1;
        }
    }
}

fn bench_ferromq(c: &mut Criterion) {
    let ctx = ferromq::Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publisher.last_endpoint().unwrap().to_owned();
    let (warmed_tx, warmed) = mpsc::channel();
    let (acks_tx, acks) = mpsc::channel();
    let sub_ctx = ferromq::Context::new();
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut sub = sub_ctx.subscriber().unwrap();
            sub.connect(&endpoint).unwrap();
            sub.subscribe("");
            let (warmed, acks) = (warmed_tx.clone(), acks_tx.clone());
            thread::spawn(move || {
                let mut seen = false;
                loop {
                    let msg = sub.recv().unwrap();
                    if !on_message(msg[0][0], &warmed, &acks, &mut seen) {
                        break;
                    }
                }
            })
        })
        .collect();
    let mut payload = [0u8; SIZE];
    let mut send = |first: u8| {
        payload[0] = first;
        publisher.send(&payload[..]).unwrap();
    };
    warm_up(&warmed, &mut send);
    let mut group = c.benchmark_group("pub_sub_tcp_64B_10subs");
    configure(&mut group);
    group.bench_function("ferromq", |b| {
        b.iter_custom(|n| publish(n, &acks, &mut send))
    });
    group.finish();
    send(QUIT);
    for sub in subscribers {
        sub.join().unwrap();
    }
}

fn bench_libzmq(c: &mut Criterion) {
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::PUB).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publisher.get_last_endpoint().unwrap().unwrap();
    let (warmed_tx, warmed) = mpsc::channel();
    let (acks_tx, acks) = mpsc::channel();
    let sub_ctx = zmq::Context::new();
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let sub = sub_ctx.socket(zmq::SUB).unwrap();
            sub.connect(&endpoint).unwrap();
            sub.set_subscribe(b"").unwrap();
            let (warmed, acks) = (warmed_tx.clone(), acks_tx.clone());
            thread::spawn(move || {
                let mut seen = false;
                let mut msg = zmq::Message::new();
                loop {
                    sub.recv(&mut msg, 0).unwrap();
                    if !on_message(msg[0], &warmed, &acks, &mut seen) {
                        break;
                    }
                }
            })
        })
        .collect();
    let mut payload = [0u8; SIZE];
    let mut send = |first: u8| {
        payload[0] = first;
        publisher.send(&payload[..], 0).unwrap();
    };
    warm_up(&warmed, &mut send);
    let mut group = c.benchmark_group("pub_sub_tcp_64B_10subs");
    configure(&mut group);
    group.bench_function("libzmq", |b| {
        b.iter_custom(|n| publish(n, &acks, &mut send))
    });
    group.finish();
    send(QUIT);
    for sub in subscribers {
        sub.join().unwrap();
    }
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(10);
}

fn pub_sub(c: &mut Criterion) {
    bench_libzmq(c);
    bench_ferromq(c);
}

criterion_group!(benches, pub_sub);
criterion_main!(benches);
