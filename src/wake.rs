//! Wake-ups: how one end of a queue tells the other that something changed.
//!
//! Below the pipes, the mailbox and the engine, so that all of them can name a wake-up
//! without knowing each other: a [`Signal`] is the doorbell a socket's caller waits on,
//! and anything else that waits (an I/O thread, about one connection) implements [`Wake`].
//!
//! A caller waits in one of two ways, both on the same ring: a blocked thread in
//! [`Signal::wait`], or a future whose task's `Waker` sits in the signal's slot
//! ([`Signal::register`]). Every ring goes to both, so the pipes and the mailbox need not
//! know which face of the socket is waiting.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::Instant;

use atomic_waker::AtomicWaker;
use crossbeam_channel::{Receiver, Sender};

use crate::spin::Spin;

/// Something to wake when the other end of a pipe changes state. Waking must never block.
pub(crate) trait Wake: Send + Sync {
    /// Wakes whoever waits; it will look again.
    fn wake(&self);
}

/// A [`Wake`] whose target changes: held by a pipe that outlives whoever waits on its
/// other end. An I/O thread's connection sets itself here when it takes the pipe over
/// and clears itself when it ends (a pipe made at connect under `ZMQ_IMMEDIATE=0`, kept
/// across reconnects); a pending inproc connect's pipe gets the binding socket's signal
/// once the bind comes. A wake while nobody is set is dropped: whoever is set next
/// looks at the pipe before it waits.
#[derive(Default)]
pub(crate) struct WakeSlot {
    target: std::sync::Mutex<Option<Arc<dyn Wake>>>,
}

impl WakeSlot {
    /// Sets (or, with `None`, clears) whom the next wakes reach.
    pub(crate) fn set(&self, target: Option<Arc<dyn Wake>>) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }
}

impl Wake for WakeSlot {
    fn wake(&self) {
        let target = self
            .target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(target) = target {
            target.wake();
        }
    }
}

impl std::fmt::Debug for WakeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WakeSlot")
    }
}

impl Wake for Signal {
    fn wake(&self) {
        self.notify();
    }
}

/// A doorbell for one socket: any of its pipes, or its mailbox, rings it; the caller
/// waits on it when nothing can be done. A ring that comes while nobody waits is kept,
/// so the next wait returns at once and the caller looks again.
#[derive(Debug)]
pub(crate) struct Signal {
    tx: Sender<()>,
    rx: Receiver<()>,
    /// How long [`Signal::wait`] (or a future, [`Signal::spin_for_ring`]) spins before it
    /// blocks (returns `Pending`). One for both faces: only one caller waits at a time.
    spin: Spin,
    /// When a future last returned `Pending` on this signal, in nanoseconds after `born`,
    /// plus one; 0 once a ring has woken the task it registered (see
    /// [`Signal::async_sleeps`]).
    async_slept: AtomicU64,
    /// The origin of `async_slept`'s clock.
    born: Instant,
    /// The file descriptor behind `ZMQ_FD`, made on first use ([`Signal::fd`]).
    fd: OnceLock<FdBell>,
    /// The task an async call of the socket's waits in, if any: taken and woken by the
    /// next ring. One slot is enough, because every async call borrows its socket
    /// mutably, so at most one task waits on a socket at a time (a later registration
    /// replaces an earlier one, whose future is gone or being polled anew).
    task: AtomicWaker,
}

/// A doorbell for event loops outside Rust: a socket pair whose reading end becomes
/// readable when the signal rings. At most one byte waits in it: a ring while one waits
/// writes nothing, and [`FdBell::clear`] reads it away before the caller looks.
#[derive(Debug)]
struct FdBell {
    reader: UnixStream,
    writer: UnixStream,
    /// A byte was written and not yet cleared.
    pending: AtomicBool,
}

impl FdBell {
    fn new() -> std::io::Result<FdBell> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(FdBell {
            reader,
            writer,
            pending: AtomicBool::new(false),
        })
    }

    fn ring(&self) {
        if !self.pending.swap(true, SeqCst) {
            // Never blocks; a full buffer already holds a byte, which is all it needs.
            let _ = (&self.writer).write(&[1]);
        }
    }

    /// Reads the waiting byte away, then lets the next ring write one. In this order a
    /// ring in between is not lost: it finds `pending` still set and writes nothing, but
    /// came after the change it announces, which the caller's look (after this) sees.
    fn clear(&self) {
        let mut buf = [0u8; 16];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
        self.pending.store(false, SeqCst);
    }
}

impl Signal {
    /// A doorbell whose [`Signal::wait`] spins before it blocks if `spin`, and otherwise
    /// blocks at once (the context's [`spin`](crate::Context::spin) setting).
    pub(crate) fn new(spin: bool) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        Signal {
            tx,
            rx,
            spin: Spin::new(spin),
            async_slept: AtomicU64::new(0),
            born: Instant::now(),
            fd: OnceLock::new(),
            task: AtomicWaker::new(),
        }
    }

    /// Rings the bell. Never blocks.
    ///
    /// The ring is kept in the channel before the registered task is woken, so a future
    /// that registers and then looks for a ring ([`Signal::register`], then
    /// [`Signal::take_ring`]) either finds this ring or is woken by it.
    pub(crate) fn notify(&self) {
        let _ = self.tx.try_send(());
        if let Some(bell) = self.fd.get() {
            bell.ring();
        }
        if let Some(task) = self.task.take() {
            self.async_woken();
            task.wake();
        }
    }

    /// Puts `waker` in the slot the next ring wakes (replacing what was there). Call it
    /// after the look that found nothing, and then [`Signal::take_ring`]: a ring between
    /// the look and the registration is found there, one after it wakes the task.
    pub(crate) fn register(&self, waker: &Waker) {
        self.task.register(waker);
    }

    /// Takes a ring that came and nobody waited for; true if there was one (the caller
    /// should look again). Never blocks.
    pub(crate) fn take_ring(&self) -> bool {
        self.rx.try_recv().is_ok()
    }

    /// The spin before a wait: [`Signal::wait`]'s before it blocks, and a future's (whose
    /// step found nothing) before it registers and returns `Pending`. Looks for a ring, yielding the
    /// CPU in between, as many times as the adaptive spin allows (never with the spin off).
    /// True if a ring came (it is taken: look again). A spin that finds nothing halves the
    /// next one, so an idle socket soon stops spinning at all.
    pub(crate) fn spin_for_ring(&self) -> bool {
        let rounds = self.spin.rounds();
        for _ in 0..rounds {
            if self.rx.try_recv().is_ok() {
                return true;
            }
            std::thread::yield_now();
        }
        if rounds > 0 {
            self.spin.missed();
        }
        false
    }

    /// A future is about to register and return `Pending`: notes the time, so that the
    /// ring that wakes it can tell whether the wait was short enough for a spin to have
    /// caught it ([`Signal::notify`]).
    pub(crate) fn async_sleeps(&self) {
        let since = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.async_slept.store(since + 1, Relaxed);
    }

    /// A ring wakes a registered task: as a blocking wait woken with work, a short wait
    /// puts the spin back to its longest. Here, on the ringing thread, rather than in the
    /// woken future's next poll, so that a poll that finds work costs nothing more than
    /// the step (the spin's count is a hint, and a race on it is harmless).
    fn async_woken(&self) {
        let slept = self.async_slept.swap(0, Relaxed);
        if slept != 0 {
            let at = self.born + std::time::Duration::from_nanos(slept - 1);
            self.spin.woke_with_work(at);
        }
    }

    /// The reading end of a file descriptor that becomes readable when the bell rings
    /// (libzmq's `ZMQ_FD`), made on first use. It starts readable, so a first wait on it
    /// returns at once and the caller looks.
    pub(crate) fn fd(&self) -> std::io::Result<BorrowedFd<'_>> {
        if self.fd.get().is_none() {
            let bell = FdBell::new()?;
            bell.ring();
            // Another thread may have set one first: either does.
            let _ = self.fd.set(bell);
        }
        match self.fd.get() {
            Some(bell) => Ok(bell.reader.as_fd()),
            None => Err(std::io::Error::other("no file descriptor")),
        }
    }

    /// Makes the file descriptor of [`Signal::fd`] not readable until the next ring.
    /// Call before looking at what changed.
    pub(crate) fn clear_fd(&self) {
        if let Some(bell) = self.fd.get() {
            bell.clear();
        }
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
        if self.spin_for_ring() {
            return true;
        }
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

    /// True when `fd` would return a byte now (a zero-timeout poll through mio).
    fn readable(fd: BorrowedFd<'_>) -> bool {
        use std::os::fd::AsRawFd;
        let mut poll = mio::Poll::new().unwrap();
        let raw = fd.as_raw_fd();
        poll.registry()
            .register(
                &mut mio::unix::SourceFd(&raw),
                mio::Token(0),
                mio::Interest::READABLE,
            )
            .unwrap();
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(std::time::Duration::ZERO))
            .unwrap();
        !events.is_empty()
    }

    #[test]
    fn the_fd_is_readable_after_a_ring_until_cleared() {
        let sig = Signal::new(true);
        let fd = sig.fd().unwrap();
        assert!(readable(fd), "starts readable: look first");
        sig.clear_fd();
        assert!(!readable(fd));
        sig.notify();
        sig.notify();
        assert!(readable(fd));
        sig.clear_fd();
        assert!(!readable(fd), "one clear for any number of rings");
        sig.notify();
        assert!(readable(fd), "the next ring after a clear is seen");
    }

    fn no_wait() -> Option<Instant> {
        Some(Instant::now())
    }

    /// Counts the wakes of a task.
    struct CountWakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountWakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn a_ring_wakes_the_registered_task_once_and_is_kept_for_a_look() {
        let sig = Signal::new(true);
        let count = std::sync::Arc::new(CountWakes(Default::default()));
        let waker = Waker::from(count.clone());
        assert!(!sig.take_ring());
        sig.register(&waker);
        sig.notify();
        assert_eq!(count.0.load(SeqCst), 1);
        sig.notify();
        assert_eq!(
            count.0.load(SeqCst),
            1,
            "the slot is emptied by the first ring"
        );
        assert!(sig.take_ring(), "the ring is kept for the task's next look");
        assert!(!sig.take_ring(), "one ring at most is kept");
        // A ring that came before the registration is found by the look after it.
        sig.notify();
        sig.register(&waker);
        assert!(sig.take_ring());
    }

    #[test]
    fn a_wait_that_spins_in_vain_spins_less_next_time() {
        use crate::spin::SPIN_MAX;
        let sig = Signal::new(true);
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

    #[test]
    fn an_async_spin_takes_a_ring_and_halves_when_it_finds_none() {
        use crate::spin::SPIN_MAX;
        let sig = Signal::new(true);
        sig.notify();
        assert!(sig.spin_for_ring(), "a kept ring is found");
        assert!(!sig.take_ring(), "and taken");
        assert_eq!(sig.spin.rounds(), SPIN_MAX);
        assert!(!sig.spin_for_ring());
        assert_eq!(sig.spin.rounds(), SPIN_MAX / 2);
        for _ in 0..8 {
            assert!(!sig.spin_for_ring());
        }
        assert_eq!(sig.spin.rounds(), 0, "an idle future ends up not spinning");
        // A ring with no task registered leaves the spin as it was; one that wakes a task
        // soon after its `Pending` puts it back (a thread preempted for longer than a
        // short wait between the two calls would not, hence the retries).
        let count = std::sync::Arc::new(CountWakes(Default::default()));
        let waker = Waker::from(count.clone());
        sig.async_sleeps();
        sig.notify();
        assert_eq!(sig.spin.rounds(), 0, "no task was registered");
        assert!(sig.take_ring());
        for _ in 0..100 {
            sig.async_sleeps();
            sig.register(&waker);
            sig.notify();
            assert!(sig.take_ring());
            if sig.spin.rounds() == SPIN_MAX {
                break;
            }
        }
        assert_eq!(sig.spin.rounds(), SPIN_MAX);
    }

    #[test]
    fn an_async_spin_with_the_spin_off_never_looks() {
        let sig = Signal::new(false);
        sig.notify();
        assert!(
            !sig.spin_for_ring(),
            "no spin: the ring is left for the look"
        );
        assert!(sig.take_ring());
        let count = std::sync::Arc::new(CountWakes(Default::default()));
        sig.async_sleeps();
        sig.register(&Waker::from(count.clone()));
        sig.notify();
        assert_eq!(count.0.load(SeqCst), 1, "the task is woken");
        assert_eq!(sig.spin.rounds(), 0, "a short wait does not turn it on");
    }

    #[test]
    fn a_wait_with_the_spin_off_never_spins_and_still_sees_rings() {
        let sig = Signal::new(false);
        assert_eq!(sig.spin.rounds(), 0);
        assert!(!sig.wait(no_wait()), "no ring: times out");
        // A ring kept from before the wait is found by the blocking receive.
        sig.notify();
        assert!(sig.wait(no_wait()));
        // A ring from another thread wakes a blocked wait, and a quick wake-up does not
        // turn the spin on.
        let sig = std::sync::Arc::new(sig);
        let ringer = {
            let sig = sig.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                sig.notify();
            })
        };
        let limit = Instant::now() + std::time::Duration::from_secs(10);
        assert!(sig.wait(Some(limit)), "the ring wakes the wait");
        ringer.join().unwrap();
        assert_eq!(sig.spin.rounds(), 0);
    }
}
