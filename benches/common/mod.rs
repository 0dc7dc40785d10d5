//! What the throughput benches share.

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
