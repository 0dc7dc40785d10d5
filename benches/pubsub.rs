//! PUB fan-out over loopback tcp with 64-byte messages to 10, 100 and 1,000 subscribers,
//! ferromq and libzmq side by side in the groups `pub_sub_tcp_64B_<n>subs`.
//!
//! One element is one message published *and received by every subscriber*: criterion's
//! elements per second are messages published per second, and the messages delivered
//! per second are that times the number of subscribers. A PUB drops what a subscriber's
//! full queue cannot take, so the publisher sends in windows of 100 messages (a tenth of
//! the high-water mark) and waits for every subscriber to have received a window before
//! it sends the next: nothing is dropped and every message is counted. (Windows of 500
//! and of 250 were tried first: on the quiet machine libzmq's publisher then lost part of
//! a window now and then — its view of a subscriber's pipe is credited back only every
//! half mark's worth of messages — and the bench stalled waiting for an acknowledgement
//! that could not come. The window's round of acknowledgements is part of what is timed,
//! for both libraries.) Before measuring, the publisher sends warm-up messages until
//! every subscriber has received one, the same way for both libraries.
//!
//! How the subscribers run, the id's second part:
//! - `thread_per_sub`: each SUB in its own thread, blocking in `recv` (10 SUBs only:
//!   a thousand OS threads on two cores would measure the scheduler);
//! - `2_threads`: two threads, each owning half the SUBs, taking what each has without
//!   blocking and polling all of its SUBs when none had anything (`ferromq::poll`,
//!   `zmq::poll`);
//! - `async` (ferromq only; libzmq has no async API): each SUB a task on a tokio runtime
//!   with 2 worker threads, awaiting `recv_async`.
//!
//! Equal settings on both sides: one I/O thread per context (the publisher's and the
//! subscribers' contexts are separate, as they would be in separate processes), high-water
//! marks 1000 (both libraries' default), a listen backlog of 1024, default kernel socket buffers, all subscribers
//! subscribed to everything. After each id the bench prints the CPU time it cost
//! (user + system, all threads of the process, from `getrusage`) per message published
//! and per delivery: unlike the wall time, that is not inflated by other processes on
//! the machine (only by the cost of sharing its caches). The file-descriptor limit is raised to its hard limit first
//! (1,000 subscribers over tcp need two sockets each in this one process, and libzmq a
//! mailbox per socket besides). Full run: `cargo bench --bench pubsub`; one group:
//! `cargo bench --bench pubsub -- 1000subs`. Under `cargo test --benches` (criterion's
//! test mode: each bench runs once) the 100 and 1,000 groups run with 20 and 50
//! subscribers, to stay quick.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod common;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};

const SIZE: usize = 64;
const WINDOW: u64 = 100;
/// First byte of a warm-up message, of a measured one, and of the last one of a window.
const WARM_UP: u8 = b'w';
const DATA: u8 = b'd';
const END_OF_WINDOW: u8 = b'e';
const QUIT: u8 = b'q';
/// How many threads own the SUBs in the `2_threads` variant.
const POOL_THREADS: usize = 2;
/// The publisher's listen backlog: both libraries' default of 100 makes most of a
/// thousand simultaneous connects wait for the kernel's SYN retries (seconds).
const BACKLOG: i32 = 1024;
/// How long any wait for the other side may take before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(20);

/// What a subscriber does with each message it receives; answers whether to go on.
struct Tally {
    warmed: mpsc::Sender<()>,
    acks: mpsc::Sender<()>,
    seen_warm_up: bool,
}

impl Tally {
    fn on_message(&mut self, first: u8) -> bool {
        match first {
            WARM_UP if !self.seen_warm_up => {
                self.seen_warm_up = true;
                let _ = self.warmed.send(());
            }
            END_OF_WINDOW => {
                let _ = self.acks.send(());
            }
            QUIT => return false,
            _ => {}
        }
        true
    }
}

/// The channels the subscribers report on, and the publisher's ends of them.
struct Reports {
    warmed_tx: mpsc::Sender<()>,
    acks_tx: mpsc::Sender<()>,
    warmed: mpsc::Receiver<()>,
    acks: mpsc::Receiver<()>,
}

impl Reports {
    fn new() -> Reports {
        let (warmed_tx, warmed) = mpsc::channel();
        let (acks_tx, acks) = mpsc::channel();
        Reports {
            warmed_tx,
            acks_tx,
            warmed,
            acks,
        }
    }

    fn tally(&self) -> Tally {
        Tally {
            warmed: self.warmed_tx.clone(),
            acks: self.acks_tx.clone(),
            seen_warm_up: false,
        }
    }
}

/// The publisher's side of one measurement: sends `n` messages in windows, each window
/// waiting for all `subscribers`' acknowledgements.
fn publish(
    id: &str,
    n: u64,
    subscribers: usize,
    acks: &mpsc::Receiver<()>,
    send: &mut dyn FnMut(u8),
) -> Duration {
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let window = WINDOW.min(n - sent);
        for i in 0..window {
            send(if i + 1 == window { END_OF_WINDOW } else { DATA });
        }
        for _ in 0..subscribers {
            if acks.recv_timeout(PATIENCE).is_err() {
                panic!("{id}: a subscriber stalled after {sent} messages");
            }
        }
        sent += window;
    }
    start.elapsed()
}

/// Sends warm-up messages until every one of `subscribers` has received one.
fn warm_up(subscribers: usize, warmed: &mpsc::Receiver<()>, send: &mut dyn FnMut(u8)) {
    let mut ready = 0;
    let deadline = Instant::now() + PATIENCE;
    while ready < subscribers {
        assert!(Instant::now() < deadline, "subscribers did not join");
        send(WARM_UP);
        thread::sleep(Duration::from_millis(1));
        while warmed.try_recv().is_ok() {
            ready += 1;
        }
    }
}

/// How the subscribers run (see the crate doc).
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    ThreadPerSub,
    Pool,
    Async,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::ThreadPerSub => "thread_per_sub",
            Shape::Pool => "2_threads",
            Shape::Async => "async",
        }
    }
}

/// A publisher with its subscribers running, warmed up: what one bench id measures.
struct Fanout {
    subscribers: usize,
    reports: Reports,
    send: Box<dyn FnMut(u8)>,
    /// Ends the subscribers once QUIT is sent (joins their threads, or the runtime).
    finish: Box<dyn FnOnce()>,
}

impl Fanout {
    fn measure(mut self, group: &mut BenchmarkGroup<'_, WallTime>, id: &str) {
        warm_up(self.subscribers, &self.reports.warmed, &mut self.send);
        let (subscribers, acks, send) = (self.subscribers, &self.reports.acks, &mut self.send);
        let (mut messages, mut cpu) = (0u64, 0.0f64);
        group.bench_function(id, |b| {
            b.iter_custom(|n| {
                let before = common::cpu_seconds();
                let elapsed = publish(id, n, subscribers, acks, send);
                cpu += (common::cpu_seconds() - before).max(0.0);
                messages += n;
                elapsed
            })
        });
        if messages > 0 {
            // Only this id's threads are busy now: the other fan-outs are torn down.
            let per_message = cpu * 1e6 / messages as f64;
            println!(
                "{id}: CPU {per_message:.2} µs per message published, {:.3} µs per delivery \
                 (user + system, all threads, {messages} messages)",
                per_message / subscribers as f64
            );
        }
        (self.send)(QUIT);
        (self.finish)();
    }
}

fn join_all(threads: Vec<thread::JoinHandle<()>>) -> Box<dyn FnOnce()> {
    Box::new(move || {
        for t in threads {
            t.join().unwrap();
        }
    })
}

fn ferromq_fanout(subscribers: usize, shape: Shape) -> Fanout {
    let ctx = ferromq::Context::new();
    let mut publisher = ctx.publisher().unwrap();
    publisher.set_backlog(BACKLOG);
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publisher.last_endpoint().unwrap().to_owned();
    let reports = Reports::new();
    let sub_ctx = ferromq::Context::new();
    let subs: Vec<_> = (0..subscribers)
        .map(|_| {
            let mut sub = sub_ctx.subscriber().unwrap();
            sub.connect(&endpoint).unwrap();
            sub.subscribe("");
            sub
        })
        .collect();
    let finish = match shape {
        Shape::ThreadPerSub => join_all(
            subs.into_iter()
                .map(|mut sub| {
                    let mut tally = reports.tally();
                    thread::spawn(move || while tally.on_message(sub.recv().unwrap()[0][0]) {})
                })
                .collect(),
        ),
        Shape::Pool => join_all(
            split(subs)
                .into_iter()
                .map(|subs| {
                    let tallies = (0..subs.len()).map(|_| reports.tally()).collect();
                    thread::spawn(move || ferromq_pool(subs, tallies))
                })
                .collect(),
        ),
        Shape::Async => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let tasks: Vec<_> = subs
                .into_iter()
                .map(|mut sub| {
                    let mut tally = reports.tally();
                    runtime.spawn(async move {
                        while tally.on_message(sub.recv_async().await.unwrap()[0][0]) {}
                    })
                })
                .collect();
            Box::new(move || {
                runtime.block_on(async {
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
            })
        }
    };
    let mut payload = [0u8; SIZE];
    let send = Box::new(move |first: u8| {
        payload[0] = first;
        publisher.send(&payload[..]).unwrap();
    });
    Fanout {
        subscribers,
        reports,
        send,
        finish: Box::new(move || {
            finish();
            drop(sub_ctx);
            drop(ctx);
        }),
    }
}

/// One pool thread's loop over its ferromq SUBs, until each has received QUIT.
fn ferromq_pool(mut subs: Vec<ferromq::Sub>, mut tallies: Vec<Tally>) {
    let mut live = vec![true; subs.len()];
    let mut left = subs.len();
    while left > 0 {
        let mut got = false;
        for (i, sub) in subs.iter_mut().enumerate() {
            while live[i] {
                match sub.try_recv() {
                    Ok(msg) => {
                        got = true;
                        if !tallies[i].on_message(msg[0][0]) {
                            live[i] = false;
                            left -= 1;
                        }
                    }
                    Err(ferromq::Error::WouldBlock) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        if !got && left > 0 {
            let mut items: Vec<_> = subs.iter_mut().map(ferromq::PollItem::readable).collect();
            ferromq::poll(&mut items, Some(PATIENCE));
        }
    }
}

fn libzmq_fanout(subscribers: usize, shape: Shape) -> Fanout {
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::PUB).unwrap();
    publisher.set_backlog(BACKLOG).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publisher.get_last_endpoint().unwrap().unwrap();
    let reports = Reports::new();
    let sub_ctx = zmq::Context::new();
    let subs: Vec<_> = (0..subscribers)
        .map(|_| {
            let sub = sub_ctx.socket(zmq::SUB).unwrap();
            sub.connect(&endpoint).unwrap();
            sub.set_subscribe(b"").unwrap();
            sub
        })
        .collect();
    let threads = match shape {
        Shape::ThreadPerSub => subs
            .into_iter()
            .map(|sub| {
                let mut tally = reports.tally();
                thread::spawn(move || {
                    let mut msg = zmq::Message::new();
                    loop {
                        sub.recv(&mut msg, 0).unwrap();
                        if !tally.on_message(msg[0]) {
                            break;
                        }
                    }
                })
            })
            .collect(),
        Shape::Pool => split(subs)
            .into_iter()
            .map(|subs| {
                let tallies = (0..subs.len()).map(|_| reports.tally()).collect();
                thread::spawn(move || libzmq_pool(subs, tallies))
            })
            .collect(),
        Shape::Async => unreachable!("libzmq has no async API"),
    };
    let finish = join_all(threads);
    let mut payload = [0u8; SIZE];
    let send = Box::new(move |first: u8| {
        payload[0] = first;
        publisher.send(&payload[..], 0).unwrap();
    });
    Fanout {
        subscribers,
        reports,
        send,
        finish: Box::new(move || {
            finish();
            drop(sub_ctx);
            drop(ctx);
        }),
    }
}

/// One pool thread's loop over its libzmq SUBs, until each has received QUIT.
fn libzmq_pool(subs: Vec<zmq::Socket>, mut tallies: Vec<Tally>) {
    let mut live = vec![true; subs.len()];
    let mut left = subs.len();
    let mut msg = zmq::Message::new();
    while left > 0 {
        let mut got = false;
        for (i, sub) in subs.iter().enumerate() {
            while live[i] {
                match sub.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => {
                        got = true;
                        if !tallies[i].on_message(msg[0]) {
                            live[i] = false;
                            left -= 1;
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        if !got && left > 0 {
            let mut items: Vec<_> = subs.iter().map(|s| s.as_poll_item(zmq::POLLIN)).collect();
            zmq::poll(&mut items, PATIENCE.as_millis() as i64).unwrap();
        }
    }
}

/// Deals `subs` out to [`POOL_THREADS`] owners.
fn split<T>(subs: Vec<T>) -> Vec<Vec<T>> {
    let mut owners: Vec<Vec<T>> = (0..POOL_THREADS).map(|_| Vec::new()).collect();
    for (i, sub) in subs.into_iter().enumerate() {
        owners[i % POOL_THREADS].push(sub);
    }
    owners
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(10);
}

/// Criterion's test mode (`cargo test --benches`): no `--bench` argument.
fn test_mode() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// False when a plain filter was given on the command line and `id` does not contain it,
/// so that a filtered run does not set up a thousand subscribers it will not measure. A
/// filter that looks like a regular expression lets everything through (criterion
/// filters again).
fn wanted(id: &str) -> bool {
    const TAKES_VALUE: [&str; 16] = [
        "--profile-time",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--output-format",
        "--plotting-backend",
        "--color",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--format",
        "--logfile",
    ];
    let mut filter = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if TAKES_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filter = Some(arg);
            break;
        }
    }
    match filter {
        Some(filter) if !filter.contains(|c: char| "^$.*+?()[]{}|\\".contains(c)) => {
            id.contains(&filter)
        }
        _ => true,
    }
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
#[allow(unsafe_code)]
fn raise_fd_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

fn pub_sub(c: &mut Criterion) {
    let fd_limit = raise_fd_limit();
    let counts: [usize; 3] = if test_mode() {
        [10, 20, 50]
    } else {
        [10, 100, 1000]
    };
    for (label, subscribers) in [10, 100, 1000].into_iter().zip(counts) {
        // Each subscriber: a tcp socket at each end, and libzmq's mailbox per socket.
        if (subscribers as libc::rlim_t) * 4 + 256 > fd_limit {
            eprintln!("pub_sub_tcp_64B_{label}subs skipped: open-file limit {fd_limit}");
            continue;
        }
        let group_name = format!("pub_sub_tcp_64B_{label}subs");
        let mut shapes = vec![Shape::Pool];
        if label == 10 {
            shapes.insert(0, Shape::ThreadPerSub);
        }
        let mut group = c.benchmark_group(&group_name);
        configure(&mut group);
        for &shape in &shapes {
            let id = format!("libzmq/{}", shape.name());
            if wanted(&format!("{group_name}/{id}")) {
                libzmq_fanout(subscribers, shape).measure(&mut group, &id);
            }
            let id = format!("ferromq/{}", shape.name());
            if wanted(&format!("{group_name}/{id}")) {
                ferromq_fanout(subscribers, shape).measure(&mut group, &id);
            }
        }
        let id = format!("ferromq/{}", Shape::Async.name());
        if wanted(&format!("{group_name}/{id}")) {
            ferromq_fanout(subscribers, Shape::Async).measure(&mut group, &id);
        }
        group.finish();
    }
}

criterion::criterion_group!(benches, pub_sub);
criterion::criterion_main!(benches);
