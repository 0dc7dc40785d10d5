//! Wake-ups: how one end of a queue tells the other that something changed.
//!
//! Below the pipes, the mailbox and the engine, so that all of them can name a wake-up
//! without knowing each other: a [`Signal`] is the doorbell a socket's caller waits on,
//! and anything else that waits (an I/O thread, about one connection) implements [`Wake`].

use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::spin::Spin;

/// Something to wake when the other end of a pipe changes state. Waking must never block.
pub(crate) trait Wake: Send + Sync {
    /// Wakes whoever waits; it will look again.
    fn wake(&self);
}

/// A doorbell for one socket: any of its pipes, or its mailbox, rings it; the caller
/// waits on it when nothing can be done. A ring that comes while nobody waits is kept,
/// so the next wait returns at once and the caller looks again.
#[derive(Debug)]
pub(crate) struct Signal {
    tx: Sender<()>,
    rx: Receiver<()>,
    /// How long [`Signal::wait`] spins before it blocks.
    spin: Spin,
}

impl Signal {
    pub(crate) fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        Signal {
            tx,
            rx,
            spin: Spin::new(),
        }
    }

    /// Rings the bell. Never blocks.
    pub(crate) fn notify(&self) {
        let _ = self.tx.try_send(());
    }

    /// The bell's receiving side, for waiting on several bells at once (the poller).
    /// Taking a ring from it has the same meaning as [`Signal::wait`] returning true.
    pub(crate) fn receiver(&self) -> &Receiver<()> {
        &self.rx
    }

    /// Waits for a ring until `deadline` (`None`: forever). Returns false on timeout.
    ///
    /// Looks for the ring a few times, yielding the CPU in between, before it blocks:
    /// the adaptive spin of [`crate::spin`], so a reply that comes within microseconds
    /// costs neither thread a futex call.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        for _ in 0..self.spin.rounds() {
            if self.rx.try_recv().is_ok() {
                return true;
            }
            std::thread::yield_now();
        }
        self.spin.missed();
        let blocked = Instant::now();
        let rung = match deadline {
            None => self.rx.recv().is_ok(),
            Some(d) => self.rx.recv_deadline(d).is_ok(),
        };
        if rung {
            self.spin.woke_with_work(blocked);
        }
        rung
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_wait() -> Option<Instant> {
        Some(Instant::now())
    }

    #[test]
    fn a_wait_that_spins_in_vain_spins_less_next_time() {
        use crate::spin::SPIN_MAX;
        let sig = Signal::new();
        assert_eq!(sig.spin.rounds(), SPIN_MAX);
        assert!(!sig.wait(no_wait()));
        assert_eq!(sig.spin.rounds(), SPIN_MAX / 2);
        // A ring that came while nobody waited is found by the spin at once.
        sig.notify();
        assert!(sig.wait(no_wait()));
        assert_eq!(sig.spin.rounds(), SPIN_MAX / 2);
        for _ in 0..8 {
            assert!(!sig.wait(no_wait()));
        }
        assert_eq!(sig.spin.rounds(), 0, "an idle wait ends up not spinning");
    }
}
