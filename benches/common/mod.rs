//! What the throughput benches share.
//!
//! Each bench uses a part of it.
#![allow(dead_code)]

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A sender thread that sends `n` messages whenever asked, and is joined when dropped.
pub struct Sender {
    ask: Option<mpsc::Sender<u64>>,
    done: mpsc::Receiver<()>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sender {
    pub fn spawn(mut send: impl FnMut() + Send + 'static) -> Sender {
        let (ask, asked) = mpsc::channel::<u64>();
        let (finished, done) = mpsc::channel();
        let thread = thread::spawn(move || {
            for n in asked {
                for _ in 0..n {
                    send();
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

    /// Has the sender send `n` messages, calls `recv` `n` times, and returns how long that took.
    pub fn run(&self, n: u64, mut recv: impl FnMut()) -> Duration {
        let start = Instant::now();
        self.ask.as_ref().unwrap().send(n).unwrap();
        for _ in 0..n {
            recv();
        }
        let elapsed = start.elapsed();
        self.done.recv().unwrap();
        elapsed
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.ask = None; // ends the thread's loop, which drops the sending socket
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// CPU seconds (user + system, every thread) this process has used so far, from
/// `getrusage(RUSAGE_SELF)`: microsecond figures, where `/proc/self/stat` counts 10 ms ticks.
#[allow(unsafe_code)]
pub fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `getrusage` only writes the struct it is given, and on success it has written
    // all of it. The bench calls it, not the library (whose `forbid(unsafe_code)` covers
    // `src/`).
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return 0.0;
        }
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds (user + system, every thread) another process has used so far, from
/// `/proc/<pid>/stat` (fields 14 and 15, in ticks of 1/100 s, Linux's USER_HZ).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // fields 3..=13
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// What a CPU figure is given per.
#[derive(Clone, Copy)]
pub enum Per {
    /// CPU seconds per million messages.
    MillionMessages,
    /// CPU seconds per thousand round trips.
    ThousandRoundTrips,
}

/// The CPU time of one bench row: summed over every timed call of its `iter_custom`
/// (criterion's warm-up included), with what those calls moved. Optionally also the CPU
/// of a peer process over the same calls (the echo side of a two-process round trip).
#[derive(Default)]
pub struct CpuMeter {
    count: u64,
    cpu: f64,
    peer: Option<u32>,
    peer_cpu: f64,
}

impl CpuMeter {
    /// A meter of this process only.
    pub fn new() -> CpuMeter {
        CpuMeter::default()
    }

    /// A meter of this process and of the process `pid` beside it.
    pub fn with_peer(pid: u32) -> CpuMeter {
        CpuMeter {
            peer: Some(pid),
            ..CpuMeter::default()
        }
    }

    /// Runs `f`, which moves `count` messages (or makes `count` round trips), and adds its
    /// CPU time to the row's.
    pub fn measure<R>(&mut self, count: u64, f: impl FnOnce() -> R) -> R {
        let peer_before = self.peer.and_then(process_cpu_seconds);
        let before = cpu_seconds();
        let result = f();
        self.cpu += cpu_seconds() - before;
        if let (Some(pid), Some(peer_before)) = (self.peer, peer_before) {
            if let Some(peer_after) = process_cpu_seconds(pid) {
                self.peer_cpu += peer_after - peer_before;
            }
        }
        self.count += count;
        result
    }

    /// Prints the row's CPU as one line starting `cpu: <row>:`, for a script to collect
    /// (`cargo bench ... | grep '^cpu:'`). Prints nothing after too few messages to mean
    /// anything (criterion's test mode, `cargo test --benches`, runs each row once).
    pub fn report(&self, row: &str, per: Per) {
        let (scale, unit, least) = match per {
            Per::MillionMessages => (1e6, "s per 1M messages", 10_000),
            Per::ThousandRoundTrips => (1e3, "s per 1k round trips", 1_000),
        };
        if self.count < least {
            return;
        }
        let per_unit = |cpu: f64| cpu / self.count as f64 * scale;
        match self.peer {
            None => println!(
                "cpu: {row}: {:.3} {unit} (user + system, all threads; {} counted)",
                per_unit(self.cpu),
                self.count
            ),
            Some(_) => println!(
                "cpu: {row}: {:.3} {unit} (this process {:.3} + echo process {:.3}; {} counted)",
                per_unit(self.cpu + self.peer_cpu),
                per_unit(self.cpu),
                per_unit(self.peer_cpu),
                self.count
            ),
        }
    }
}
