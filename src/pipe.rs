//! Pipes: the bounded queues between a socket and each of its peers.
//!
//! A pipe carries whole [`Message`]s one way, from one writer to one reader, so a
//! multipart message is queued or refused as a unit and the high-water mark counts
//! messages, as libzmq's does. Each end belongs to one thread at a time: the socket's
//! caller, or an I/O thread.
//!
//! The queue is a `VecDeque` behind a mutex that the two ends take briefly. The writer
//! takes it once per message; the reader takes it only when its own batch runs out, and
//! then swaps the whole queue for its empty batch, so a burst of messages costs the reader
//! one lock, and the two deques trade places without allocating. Nothing is preallocated:
//! an idle pipe is two empty deques.
//!
//! The high-water mark counts the messages in the queue plus those the reader took in its
//! batch and has not yet given back. The reader gives them back (credits the writer) when
//! it has read its whole batch, or after every read while the writer is parked on a full
//! pipe; so a writer never waits for room the reader has made, and a reader that keeps up
//! takes the lock about once per batch.
//!
//! Waking is the costly part of a queue, so a pipe wakes the other end only on the two
//! transitions that matter: a message arriving while the reader is parked on an empty
//! pipe, and room appearing while the writer is parked on a full one. An end parks, under
//! the lock, when an operation fails; the other end checks the flag under the same lock,
//! so no wake-up can be lost between the check and the park. A steady stream of messages
//! costs no wake-ups at all.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::message::Message;
use crate::spin::Spin;

/// Who to wake when the other end of a pipe changes state.
#[derive(Clone)]
pub(crate) enum Notify {
    /// A socket's caller, blocked in send or receive.
    Signal(Arc<Signal>),
    /// An I/O thread, about one connection.
    Io(crate::engine::IoWake),
    /// Nobody (tests).
    #[cfg(test)]
    Nobody,
}

impl Notify {
    fn notify(&self) {
        match self {
            Notify::Signal(s) => s.notify(),
            Notify::Io(w) => w.wake(),
            #[cfg(test)]
            Notify::Nobody => {}
        }
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notify::Signal(_) => f.write_str("Notify::Signal"),
            Notify::Io(_) => f.write_str("Notify::Io"),
            #[cfg(test)]
            Notify::Nobody => f.write_str("Notify::Nobody"),
        }
    }
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

/// What both ends change, under the pipe's lock.
#[derive(Default)]
struct State {
    queue: VecDeque<Message>,
    /// Messages the reader took in its last batch and has not yet given back.
    held: usize,
    reader_parked: bool,
    writer_parked: bool,
    writer_gone: bool,
    reader_gone: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Most messages the pipe holds; 0 means no limit.
    capacity: usize,
    /// A copy of `State::writer_parked`, so the reader learns without the lock that the
    /// writer waits for room. Written only under the lock; a stale read only delays the
    /// credit until the reader's next batch, it never loses it.
    writer_waits: AtomicBool,
    /// A copy of `!State::queue.is_empty()`, kept under the lock, for a reader that wants
    /// to skip an empty pipe without taking the lock.
    has_queued: AtomicBool,
    /// A copy of `State::writer_gone`, for the same reason.
    writer_closed: AtomicBool,
    wake_reader: Notify,
    wake_writer: Notify,
}

/// The writing end of a pipe.
pub(crate) struct PipeWriter {
    shared: Arc<Shared>,
}

/// The reading end of a pipe. It keeps the batch it took from the queue; the cells make
/// it usable through `&self` by the one thread that owns it (it is `Send`, not `Sync`).
pub(crate) struct PipeReader {
    shared: Arc<Shared>,
    batch: Cell<VecDeque<Message>>,
    /// Messages of the batch read since the last credit.
    consumed: Cell<usize>,
}

/// Why a message could not be written; the message comes back.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The pipe is at its high-water mark.
    Full(Message),
    /// The reader is gone.
    Closed(Message),
}

/// Why nothing could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued, and the writer is gone: nothing ever will be.
    Closed,
}

/// Starts a new pipe, before its writer is handed to the socket, with the probe of
/// libzmq's `ZMQ_PROBE_ROUTER`: one empty frame, so a ROUTER peer learns the routing id of
/// a socket that has sent nothing yet. Written by whoever makes the pipe (the I/O thread or
/// the inproc registry), so it goes out without waiting for the socket's next call.
pub(crate) fn write_probe(writer: &PipeWriter) {
    // A fresh pipe has room; a closed one has nobody to probe.
    let _ = writer.try_write(Message::from(vec![crate::Frame::new()]));
}

/// Makes a pipe holding at most `capacity` messages (0: no limit). `wake_reader` is rung
/// when a message arrives for a parked reader, `wake_writer` when room appears for a parked
/// writer or when either end closes.
pub(crate) fn pipe(
    capacity: usize,
    wake_reader: Notify,
    wake_writer: Notify,
) -> (PipeWriter, PipeReader) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        capacity,
        writer_waits: AtomicBool::new(false),
        has_queued: AtomicBool::new(false),
        writer_closed: AtomicBool::new(false),
        wake_reader,
        wake_writer,
    });
    (
        PipeWriter {
            shared: shared.clone(),
        },
        PipeReader {
            shared,
            batch: Cell::new(VecDeque::new()),
            consumed: Cell::new(0),
        },
    )
}

impl Shared {
    /// Takes the lock. Nothing that holds it can panic (it only moves messages and flags),
    /// but should a poisoned lock ever be seen, its state is still consistent: use it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_full(&self, st: &State) -> bool {
        self.capacity != 0 && st.queue.len() + st.held >= self.capacity
    }

    /// Parks the writer when the pipe is full; true when it is.
    fn park_writer_if_full(&self, st: &mut State) -> bool {
        if self.is_full(st) {
            st.writer_parked = true;
            self.writer_waits.store(true, SeqCst);
            true
        } else {
            false
        }
    }

    /// Gives back `n` messages the reader has consumed. True when the parked writer must
    /// be woken, after the lock is released.
    fn credit(&self, st: &mut State, n: usize) -> bool {
        st.held = st.held.saturating_sub(n);
        if st.writer_parked && !self.is_full(st) {
            st.writer_parked = false;
            self.writer_waits.store(false, SeqCst);
            true
        } else {
            false
        }
    }
}

impl PipeWriter {
    /// Queues a message without blocking.
    pub(crate) fn try_write(&self, msg: Message) -> Result<(), WriteError> {
        let s = &*self.shared;
        let mut st = s.lock();
        if st.reader_gone {
            return Err(WriteError::Closed(msg));
        }
        if s.park_writer_if_full(&mut st) {
            return Err(WriteError::Full(msg));
        }
        if st.queue.is_empty() {
            s.has_queued.store(true, Relaxed);
        }
        st.queue.push_back(msg);
        let wake = std::mem::take(&mut st.reader_parked);
        drop(st);
        if wake {
            s.wake_reader.notify();
        }
        Ok(())
    }

    /// Queues messages from the front of `batch` under one lock, as many as there is room
    /// for; those that do not fit stay in `batch`, and the writer parks so the reader's
    /// next read wakes it. False when the reader is gone (then nothing is taken).
    pub(crate) fn write_batch(&self, batch: &mut VecDeque<Message>) -> bool {
        let s = &*self.shared;
        let mut st = s.lock();
        if st.reader_gone {
            return false;
        }
        let room = if s.capacity == 0 {
            batch.len()
        } else {
            s.capacity.saturating_sub(st.queue.len() + st.held)
        };
        let n = room.min(batch.len());
        if n > 0 && st.queue.is_empty() {
            s.has_queued.store(true, Relaxed);
        }
        st.queue.extend(batch.drain(..n));
        if !batch.is_empty() {
            s.park_writer_if_full(&mut st);
        }
        let wake = n > 0 && std::mem::take(&mut st.reader_parked);
        drop(st);
        if wake {
            s.wake_reader.notify();
        }
        true
    }

    /// True when a write would be refused for lack of room. Parks the writer when it is, so
    /// the reader's next read wakes it (what a poller needs before it waits).
    pub(crate) fn is_full(&self) -> bool {
        let s = &*self.shared;
        s.park_writer_if_full(&mut s.lock())
    }

    /// True when the reader has gone away.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().reader_gone
    }
}

impl PipeReader {
    /// Takes the next message without blocking.
    pub(crate) fn try_read(&self) -> Result<Message, ReadError> {
        let mut batch = self.batch.take();
        let result = self.read_from(&mut batch);
        self.batch.set(batch);
        result
    }

    fn read_from(&self, batch: &mut VecDeque<Message>) -> Result<Message, ReadError> {
        if batch.is_empty() {
            let writer_gone = self.refill(batch, true);
            if batch.is_empty() {
                // Empty now and the writer gone means nothing more will come: the writer
                // marks itself gone, under the lock, after its last message is queued.
                return Err(if writer_gone {
                    ReadError::Closed
                } else {
                    ReadError::Empty
                });
            }
        }
        let Some(msg) = batch.pop_front() else {
            return Err(ReadError::Empty);
        };
        self.consumed.set(self.consumed.get() + 1);
        // Give the consumed messages back when the batch is done (taking the next one in
        // the same lock), or at once when the writer waits for room.
        if batch.is_empty() || self.shared.writer_waits.load(SeqCst) {
            self.refill(batch, false);
        }
        Ok(msg)
    }

    /// Under one lock: gives the consumed messages back to the writer (waking it if it
    /// waits for room), and, when `batch` is empty, takes the whole queue into it; when
    /// there is nothing to take and `park` is set, parks the reader, so the next write
    /// rings it. Returns whether the writer is gone.
    fn refill(&self, batch: &mut VecDeque<Message>, park: bool) -> bool {
        let s = &*self.shared;
        let mut st = s.lock();
        let wake_writer = s.credit(&mut st, self.consumed.replace(0));
        if batch.is_empty() {
            if !st.queue.is_empty() {
                std::mem::swap(&mut st.queue, batch);
                st.held += batch.len();
                s.has_queued.store(false, Relaxed);
            } else if park && !st.writer_gone {
                st.reader_parked = true;
            }
        }
        let writer_gone = st.writer_gone;
        drop(st);
        if wake_writer {
            s.wake_writer.notify();
        }
        writer_gone
    }

    /// True when a message is queued. When none is, parks the reader first, so the next
    /// write rings the reader's signal (what a poller needs before it waits).
    pub(crate) fn poll_readable(&self) -> bool {
        let batch = self.batch.take();
        let ready = !batch.is_empty() || {
            let mut st = self.shared.lock();
            if st.queue.is_empty() {
                st.reader_parked = true;
                false
            } else {
                true
            }
        };
        self.batch.set(batch);
        ready
    }

    /// How many messages are queued.
    pub(crate) fn len(&self) -> usize {
        let batch = self.batch.take();
        let n = batch.len() + self.shared.lock().queue.len();
        self.batch.set(batch);
        n
    }

    /// True when no message is queued, judged without the lock: for skipping an empty
    /// pipe cheaply. A message written at this moment may not be seen; a caller about to
    /// wait must use [`PipeReader::try_read`] or [`PipeReader::poll_readable`], which park.
    pub(crate) fn seems_empty(&self) -> bool {
        let batch = self.batch.take();
        let empty = batch.is_empty() && !self.shared.has_queued.load(Relaxed);
        self.batch.set(batch);
        empty
    }

    /// True when the writer has gone away (messages may still be queued).
    pub(crate) fn is_writer_closed(&self) -> bool {
        self.shared.writer_closed.load(SeqCst)
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.shared.lock().writer_gone = true;
        self.shared.writer_closed.store(true, SeqCst);
        // A spurious ring (the reader was not parked) is harmless.
        self.shared.wake_reader.notify();
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.shared.lock().reader_gone = true;
        self.shared.wake_writer.notify();
    }
}

impl std::fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("PipeWriter")
            .field("queued", &(st.queue.len() + st.held))
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

impl std::fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeReader")
            .field("queued", &self.len())
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn signal_pipe(capacity: usize) -> (PipeWriter, PipeReader, Arc<Signal>, Arc<Signal>) {
        let reader_sig = Arc::new(Signal::new());
        let writer_sig = Arc::new(Signal::new());
        let (w, r) = pipe(
            capacity,
            Notify::Signal(reader_sig.clone()),
            Notify::Signal(writer_sig.clone()),
        );
        (w, r, reader_sig, writer_sig)
    }

    fn no_wait() -> Option<Instant> {
        Some(Instant::now())
    }

    #[test]
    fn messages_arrive_in_order_and_whole() {
        let (w, r) = pipe(0, Notify::Nobody, Notify::Nobody);
        for i in 0..100u8 {
            w.try_write(Message::from(vec![vec![i], vec![i, i]]))
                .unwrap();
        }
        assert_eq!(r.len(), 100);
        for i in 0..100u8 {
            let m = r.try_read().unwrap();
            assert_eq!(m, Message::from(vec![vec![i], vec![i, i]]));
        }
        assert_eq!(r.try_read().unwrap_err(), ReadError::Empty);
    }

    #[test]
    fn high_water_mark_refuses_and_hands_back() {
        let (w, r) = pipe(3, Notify::Nobody, Notify::Nobody);
        for _ in 0..3 {
            w.try_write(Message::from("x")).unwrap();
        }
        assert!(w.is_full());
        match w.try_write(Message::from("over")) {
            Err(WriteError::Full(m)) => assert_eq!(m, "over"),
            other => panic!("expected Full, got {other:?}"),
        }
        r.try_read().unwrap();
        assert!(!w.is_full());
        w.try_write(Message::from("fits")).unwrap();
    }

    #[test]
    fn a_parked_reader_is_woken_once_per_transition() {
        let (w, r, reader_sig, _) = signal_pipe(0);
        assert_eq!(r.try_read().unwrap_err(), ReadError::Empty); // parks
        w.try_write(Message::from("a")).unwrap();
        assert!(reader_sig.wait(no_wait()), "reader must be rung");
        w.try_write(Message::from("b")).unwrap();
        assert!(
            !reader_sig.wait(no_wait()),
            "no ring while the reader is not parked"
        );
        r.try_read().unwrap();
        r.try_read().unwrap();
    }

    #[test]
    fn a_parked_writer_is_woken_when_room_appears() {
        let (w, r, _, writer_sig) = signal_pipe(1);
        w.try_write(Message::from("a")).unwrap();
        assert!(matches!(
            w.try_write(Message::from("b")),
            Err(WriteError::Full(_))
        ));
        assert!(!writer_sig.wait(no_wait()));
        r.try_read().unwrap();
        assert!(writer_sig.wait(no_wait()), "writer must be rung");
        w.try_write(Message::from("b")).unwrap();
    }

    #[test]
    fn a_batch_write_moves_what_fits_and_parks_the_writer() {
        let (w, r, _, writer_sig) = signal_pipe(3);
        let mut batch: VecDeque<Message> = (0..5u8).map(|i| Message::from(vec![i])).collect();
        assert!(w.write_batch(&mut batch), "the reader is there");
        assert_eq!(
            batch.len(),
            2,
            "the two that did not fit stay with the writer"
        );
        assert_eq!(r.len(), 3);
        assert_eq!(&r.try_read().unwrap()[0][..], &[0]);
        assert!(writer_sig.wait(no_wait()), "the parked writer must be rung");
        assert!(w.write_batch(&mut batch));
        assert_eq!(batch.len(), 1, "one slot was freed, one message moved");
        for i in 1..4u8 {
            assert_eq!(&r.try_read().unwrap()[0][..], &[i]);
        }
        assert!(w.write_batch(&mut batch));
        assert!(batch.is_empty());
        assert_eq!(&r.try_read().unwrap()[0][..], &[4]);
        drop(r);
        batch.push_back(Message::from("late"));
        assert!(!w.write_batch(&mut batch), "the reader is gone");
        assert_eq!(batch.len(), 1, "nothing is taken for a reader that is gone");
    }

    #[test]
    fn a_reader_that_read_its_whole_batch_gives_the_room_back() {
        // The writer never parked, so the credit must come from the batch running out.
        let (w, r) = pipe(2, Notify::Nobody, Notify::Nobody);
        w.try_write(Message::from("a")).unwrap();
        w.try_write(Message::from("b")).unwrap();
        r.try_read().unwrap();
        r.try_read().unwrap();
        w.try_write(Message::from("c")).unwrap();
        w.try_write(Message::from("d")).unwrap();
        assert!(w.is_full());
    }

    #[test]
    fn seems_empty_follows_writes_and_reads() {
        let (w, r) = pipe(0, Notify::Nobody, Notify::Nobody);
        assert!(r.seems_empty());
        w.try_write(Message::from("a")).unwrap();
        w.try_write(Message::from("b")).unwrap();
        assert!(!r.seems_empty());
        r.try_read().unwrap();
        assert!(!r.seems_empty(), "one is still in the reader's batch");
        r.try_read().unwrap();
        assert!(r.seems_empty());
        assert!(!r.is_writer_closed());
        drop(w);
        assert!(r.is_writer_closed());
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

    #[test]
    fn closing_either_end_is_seen_by_the_other() {
        let (w, r, reader_sig, writer_sig) = signal_pipe(0);
        w.try_write(Message::from("last")).unwrap();
        drop(w);
        assert!(reader_sig.wait(no_wait()));
        assert!(r.is_writer_closed());
        assert_eq!(
            r.try_read().unwrap(),
            "last",
            "queued messages survive the writer"
        );
        assert_eq!(r.try_read().unwrap_err(), ReadError::Closed);

        let (w, r, _, _) = signal_pipe(0);
        drop(r);
        assert!(w.is_closed());
        assert!(matches!(
            w.try_write(Message::from("x")),
            Err(WriteError::Closed(_))
        ));
        let _ = writer_sig;
    }

    #[test]
    fn an_end_woken_by_the_other_closing_sees_the_close() {
        // The ring comes from inside the closing end's `Drop`, before its channel half is
        // gone: whoever wakes must already see the pipe as closed, or it sleeps for good.
        let (w, r, reader_sig, writer_sig) = signal_pipe(0);
        assert_eq!(r.try_read().unwrap_err(), ReadError::Empty); // parks
        let reader = std::thread::spawn(move || {
            assert!(reader_sig.wait(Some(Instant::now() + Duration::from_secs(10))));
            r.try_read()
        });
        drop(w);
        assert_eq!(reader.join().unwrap().unwrap_err(), ReadError::Closed);
        drop(writer_sig);
    }

    #[test]
    fn the_reader_never_sees_a_negative_count() {
        // The writer counts just after queueing, so a fast reader can subtract first.
        const N: u32 = 200_000;
        let (w, r) = pipe(0, Notify::Nobody, Notify::Nobody);
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                w.try_write(Message::from(i.to_be_bytes().to_vec()))
                    .unwrap();
            }
        });
        let mut got = 0;
        while got < N {
            // Wrapped below zero, this would be near usize::MAX (and `+ 1` would overflow).
            assert!(r.len() <= N as usize + 1);
            if r.try_read().is_ok() {
                got += 1;
            }
        }
        producer.join().unwrap();
    }

    #[test]
    fn no_message_is_lost_or_reordered_across_threads() {
        const N: u32 = 20_000;
        let (w, r, reader_sig, writer_sig) = signal_pipe(16);
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                let mut m = Message::from(i.to_be_bytes().to_vec());
                loop {
                    match w.try_write(m) {
                        Ok(()) => break,
                        Err(WriteError::Full(back)) => {
                            m = back;
                            assert!(writer_sig.wait(Some(Instant::now() + Duration::from_secs(10))));
                        }
                        Err(WriteError::Closed(_)) => panic!("reader closed"),
                    }
                }
            }
        });
        let mut next = 0u32;
        while next < N {
            match r.try_read() {
                Ok(m) => {
                    assert_eq!(&m[0][..], &next.to_be_bytes()[..]);
                    next += 1;
                }
                Err(ReadError::Empty) => {
                    assert!(
                        reader_sig.wait(Some(Instant::now() + Duration::from_secs(10))),
                        "lost wake-up"
                    );
                }
                Err(ReadError::Closed) => panic!("writer closed early"),
            }
        }
        producer.join().unwrap();
    }
}
