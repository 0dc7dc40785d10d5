//! The adaptive spin every kind of waiter does before it sleeps: a socket's blocked caller
//! (`Signal::wait` in `wake`), an I/O thread (its event loop), and a socket's future before
//! it returns `Pending` (`Signal::spin_for_ring`, the same count as the blocked caller's,
//! since one caller at a time waits on a socket).
//!
//! Being woken from a sleep costs the waking thread a system call and the sleeper a trip
//! through the scheduler, and in request-reply traffic the awaited event often comes
//! within microseconds. So a waiter first yields the CPU and looks again, up to
//! [`SPIN_MAX`] times, and sleeps only then. The count adapts, so a thread that waits long
//! (an idle socket, or more busy threads than cores) stops spending time on it: a spin
//! that found nothing halves the next one, and a sleep that ended with work within
//! [`SPIN_WORTH`] puts it back to the most.
//!
//! A context built with the spin off (`ContextBuilder::spin(false)`) gives every waiter
//! a [`Spin::new`]`(false)`, whose most is zero: its waiters always sleep at once.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Most times a waiter yields and looks again before it sleeps.
pub(crate) const SPIN_MAX: usize = 20;

/// A sleep that ended sooner than this would probably have been caught by a spin.
pub(crate) const SPIN_WORTH: Duration = Duration::from_micros(50);

/// How long the next spin of one waiting thread is. An atomic only so that it can sit in
/// shared state; one thread at a time uses it.
#[derive(Debug)]
pub(crate) struct Spin {
    next: AtomicUsize,
    /// What a short sleep puts `next` back to: [`SPIN_MAX`], or 0 with the spin off.
    most: usize,
}

impl Spin {
    /// A spin at its longest if `on`; if not, one that never spins.
    pub(crate) fn new(on: bool) -> Self {
        let most = if on { SPIN_MAX } else { 0 };
        Spin {
            next: AtomicUsize::new(most),
            most,
        }
    }

    /// How many times to yield and look before sleeping.
    pub(crate) fn rounds(&self) -> usize {
        self.next.load(Relaxed)
    }

    /// A spin found nothing: the next one is half as long.
    pub(crate) fn missed(&self) {
        self.next.store(self.rounds() / 2, Relaxed);
    }

    /// A sleep begun at `since` ended with work to do: if it was short, a spin would have
    /// caught the work, so the next spin is the longest again (none with the spin off).
    pub(crate) fn woke_with_work(&self, since: Instant) {
        if since.elapsed() < SPIN_WORTH {
            self.next.store(self.most, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spin_halves_when_it_misses_and_comes_back_after_a_short_sleep() {
        let spin = Spin::new(true);
        assert_eq!(spin.rounds(), SPIN_MAX);
        spin.missed();
        assert_eq!(spin.rounds(), SPIN_MAX / 2);
        for _ in 0..8 {
            spin.missed();
        }
        assert_eq!(spin.rounds(), 0);
        spin.woke_with_work(Instant::now());
        assert_eq!(spin.rounds(), SPIN_MAX, "a short sleep restores the spin");
    }

    #[test]
    fn a_long_sleep_leaves_the_spin_as_it_was() {
        let spin = Spin::new(true);
        spin.missed();
        let long_ago = Instant::now() - SPIN_WORTH * 4;
        spin.woke_with_work(long_ago);
        assert_eq!(spin.rounds(), SPIN_MAX / 2);
    }

    #[test]
    fn a_spin_that_is_off_never_spins() {
        let spin = Spin::new(false);
        assert_eq!(spin.rounds(), 0);
        spin.missed();
        assert_eq!(spin.rounds(), 0);
        spin.woke_with_work(Instant::now());
        assert_eq!(spin.rounds(), 0, "a short sleep does not turn it on");
    }
}
