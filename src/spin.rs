//! The adaptive spin both kinds of waiting thread do before they sleep: a socket's caller
//! (`Signal::wait` in `pipe`) and an I/O thread (its event loop).
//!
//! Being woken from a sleep costs the waking thread a system call and the sleeper a trip
//! through the scheduler, and in request-reply traffic the awaited event often comes
//! within microseconds. So a waiter first yields the CPU and looks again, up to
//! [`SPIN_MAX`] times, and sleeps only then. The count adapts, so a thread that waits long
//! (an idle socket, or more busy threads than cores) stops spending time on it: a spin
//! that found nothing halves the next one, and a sleep that ended with work within
//! [`SPIN_WORTH`] puts it back to the most.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Most times a waiter yields and looks again before it sleeps.
pub(crate) const SPIN_MAX: usize = 20;

/// A sleep that ended sooner than this would probably have been caught by a spin.
pub(crate) const SPIN_WORTH: Duration = Duration::from_micros(50);

/// How long the next spin of one waiting thread is. An atomic only so that it can sit in
/// shared state; one thread at a time uses it.
#[derive(Debug)]
pub(crate) struct Spin(AtomicUsize);

impl Spin {
    pub(crate) fn new() -> Self {
        Spin(AtomicUsize::new(SPIN_MAX))
    }

    /// How many times to yield and look before sleeping.
    pub(crate) fn rounds(&self) -> usize {
        self.0.load(Relaxed)
    }

    /// A spin found nothing: the next one is half as long.
    pub(crate) fn missed(&self) {
        self.0.store(self.rounds() / 2, Relaxed);
    }

    /// A sleep begun at `since` ended with work to do: if it was short, a spin would have
    /// caught the work, so the next spin is the longest again.
    pub(crate) fn woke_with_work(&self, since: Instant) {
        if since.elapsed() < SPIN_WORTH {
            self.0.store(SPIN_MAX, Relaxed);
        }
    }
}
