//! Pipes: the bounded queues between a socket and each of its peers.
//!
//! A pipe carries whole [`Message`]s one way, from one writer to one reader, so a
//! multipart message is queued or refused as a unit and the high-water mark counts
//! messages, as libzmq's does. Each end belongs to one thread at a time: the socket's
//! caller, or an I/O thread.
//!
//! The queue is crossbeam's lock-free `SegQueue`: blocks of 31 slots, allocated as
//! messages come and freed as they are read, so nothing is preallocated and an idle pipe
//! holds no slots. Neither end ever waits for the other: with a mutex (the design before
//! this one) the writer, taking the lock for every message, kept finding it held by the
//! reader, or worse by a reader the scheduler had preempted while holding it (three
//! threads on two cores), and throughput swung by 2-4x from run to run.
//!
//! The high-water mark counts messages written and not yet given back. The writer counts
//! what it wrote; the reader publishes what it has consumed (credits the writer) every
//! quarter of the capacity (at most every 64 messages) and whenever it runs dry; a writer
//! parked on a full pipe is woken by such a credit, so it wakes to room for a burst. So
//! the mark is never exceeded, and a reader that keeps up writes to memory the writer
//! reads only every few dozen messages.
//!
//! Waking is the costly part of a queue, so a pipe wakes the other end only on the two
//! transitions that matter: a message arriving while the reader is parked on an empty
//! pipe, and room appearing while the writer is parked on a full one. An end parks by
//! raising its flag and then looking once more (for a message, or for room); the other
//! end acts first (pushes, or credits) and then looks at the flag. All four steps are
//! `SeqCst`, so one of the two always sees the other and no wake-up is lost. A steady
//! stream of messages costs no wake-ups at all.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;

use crossbeam_queue::SegQueue;

use crate::message::Message;
pub(crate) use crate::wake::Signal;
use crate::wake::Wake;

/// Who to wake when the other end of a pipe changes state.
#[derive(Clone)]
pub(crate) enum Notify {
    /// A socket's caller, blocked in send or receive.
    Signal(Arc<Signal>),
    /// Anything else that waits on the other end (an I/O thread, about one connection).
    Io(Arc<dyn Wake>),
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

/// One slot of a pipe's queue: a message, or a batch of them written at once.
///
/// An I/O thread hands over what it decoded from one read in a batch (up to 64
/// messages): queued as one item, the batch costs one push and one pop of the lock-free
/// queue, whose slots the two ends' cores hand back and forth, instead of one per
/// message. (Profiled in PUB fan-out, those pushes and pops were the largest item of the
/// subscribers' side.) The high-water mark still counts messages.
enum Item {
    One(Message),
    Many(VecDeque<Message>),
}

/// The state both ends share. Only atomics: neither end ever waits for the other.
struct Shared {
    /// The messages, oldest first: a lock-free queue of blocks of slots, allocated as
    /// messages come and freed as they are read, so an idle pipe holds no slots.
    queue: SegQueue<Item>,
    /// How many messages more than items the queue holds: each [`Item::Many`] of `n`
    /// messages counts `n - 1` here from just before its push until its pop, so that
    /// [`PipeReader::len`] counts messages.
    batched: AtomicUsize,
    /// Most messages the pipe holds; 0 means no limit. Changed by either end when the
    /// socket's high-water mark changes ([`PipeWriter::set_capacity`]).
    capacity: AtomicUsize,
    /// `ZMQ_CONFLATE`: a write replaces whatever is still queued, so the pipe holds the
    /// newest message only, whatever the capacity. Set before the pipe is handed out.
    conflate: AtomicBool,
    /// How many messages the reader has consumed in all, as far as it has told the writer
    /// (it tells every [`Shared::credit_step`] messages and when it runs dry). The writer
    /// counts what it wrote; the difference is what the high-water mark limits.
    credited: AtomicUsize,
    /// How many messages the reader consumes between two credits: a quarter of the
    /// capacity, at least 1 and at most [`CREDIT_STEP_MAX`].
    credit_step: AtomicUsize,
    /// The reader found the pipe empty and waits to be rung by the next write.
    reader_parked: AtomicBool,
    /// The writer found the pipe full and waits to be rung when room appears.
    writer_parked: AtomicBool,
    writer_gone: AtomicBool,
    reader_gone: AtomicBool,
    wake_reader: Notify,
    wake_writer: Notify,
}

/// The writing end of a pipe.
pub(crate) struct PipeWriter {
    shared: Arc<Shared>,
    /// Messages written in all.
    written: Cell<usize>,
}

/// The reading end of a pipe. The cells make it usable through `&self` by the one thread
/// that owns it (it is `Send`, not `Sync`).
pub(crate) struct PipeReader {
    shared: Arc<Shared>,
    /// Messages read in all.
    consumed: Cell<usize>,
    /// The rest of the batch whose first message was read last, oldest first.
    unpacked: RefCell<VecDeque<Message>>,
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
        queue: SegQueue::new(),
        batched: AtomicUsize::new(0),
        capacity: AtomicUsize::new(capacity),
        conflate: AtomicBool::new(false),
        credited: AtomicUsize::new(0),
        credit_step: AtomicUsize::new(credit_step(capacity)),
        reader_parked: AtomicBool::new(false),
        writer_parked: AtomicBool::new(false),
        writer_gone: AtomicBool::new(false),
        reader_gone: AtomicBool::new(false),
        wake_reader,
        wake_writer,
    });
    (
        PipeWriter {
            shared: shared.clone(),
            written: Cell::new(0),
        },
        PipeReader {
            shared,
            consumed: Cell::new(0),
            unpacked: RefCell::new(VecDeque::new()),
        },
    )
}

/// The most messages a reader consumes before it tells the writer, when the pipe is large
/// enough; smaller pipes are told every quarter of their capacity.
const CREDIT_STEP_MAX: usize = 64;

/// The credit step of a pipe of `capacity` messages.
fn credit_step(capacity: usize) -> usize {
    (capacity / 4).clamp(1, CREDIT_STEP_MAX)
}

/// An inproc pipe holds the sender's SNDHWM plus the receiver's RCVHWM, as in libzmq;
/// 0 on either side means no limit.
pub(crate) fn combined_hwm(send: usize, recv: usize) -> usize {
    if send == 0 || recv == 0 {
        0
    } else {
        send.saturating_add(recv)
    }
}

impl Shared {
    /// Sets the capacity (0: no limit), and rings a writer parked on a full pipe, which
    /// may have room now. Either end may call it; the writer sees the new limit at its
    /// next write, the reader credits by the new step from its next read.
    fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, SeqCst);
        self.credit_step.store(credit_step(capacity), Relaxed);
        if take_flag(&self.writer_parked) {
            self.wake_writer.notify();
        }
    }
}

/// Clears `flag` if it is set; true when this call cleared it. The plain load first keeps
/// the common case (not set) from writing to a line the other end reads.
fn take_flag(flag: &AtomicBool) -> bool {
    flag.load(SeqCst) && flag.swap(false, SeqCst)
}

impl PipeWriter {
    /// Messages in the pipe as the writer sees them: written and not yet credited.
    fn occupied(&self) -> usize {
        self.written
            .get()
            .wrapping_sub(self.shared.credited.load(SeqCst))
    }

    /// How many more messages fit.
    fn room(&self) -> usize {
        if self.shared.conflate.load(Relaxed) {
            return usize::MAX;
        }
        match self.shared.capacity.load(SeqCst) {
            0 => usize::MAX,
            cap => cap.saturating_sub(self.occupied()),
        }
    }

    /// Makes the pipe conflate (`ZMQ_CONFLATE`): each write replaces what is still
    /// queued. Called by whoever makes the pipe, before either end is handed out.
    pub(crate) fn set_conflate(&self) {
        self.shared.conflate.store(true, SeqCst);
    }

    /// Sets the most messages the pipe holds (0: no limit), for a high-water mark that
    /// changed while the peer is connected. What is queued past a lowered mark stays.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.shared.set_capacity(capacity);
    }

    /// For a conflating pipe: drops what the reader has not taken yet, so the next push
    /// is all it holds. What is dropped counts as never written, for the mark.
    fn drop_unread(&self) {
        while let Some(item) = self.shared.queue.pop() {
            // A pipe that conflates is written one message at a time, but one switched
            // to conflating may still hold batches from before.
            let n = match item {
                Item::One(_) => 1,
                Item::Many(many) => {
                    let n = many.len();
                    self.shared.batched.fetch_sub(n.saturating_sub(1), SeqCst);
                    n
                }
            };
            self.written.set(self.written.get().wrapping_sub(n));
        }
    }

    /// Parks the writer when the pipe is full; true when it is (and stays parked).
    ///
    /// The flag is raised first and the room checked after, while the reader credits
    /// first and checks the flag after (all `SeqCst`): whatever the interleaving, either
    /// this check sees the credit or the reader sees the flag and rings.
    fn park_if_full(&self) -> bool {
        let s = &*self.shared;
        if self.room() > 0 {
            return false;
        }
        s.writer_parked.store(true, SeqCst);
        if self.room() > 0 {
            // Room appeared meanwhile. A ring the reader may still send is harmless: a
            // waiter that wakes for nothing looks again.
            s.writer_parked.store(false, SeqCst);
            return false;
        }
        true
    }

    /// Rings the reader if it is parked. Called after pushing: the push's `SeqCst` swap of
    /// the queue's tail comes before this `SeqCst` load, and the reader raises its flag
    /// before it looks at the queue, so a message is never left unseen by a parked reader.
    fn wake_reader_if_parked(&self) {
        if take_flag(&self.shared.reader_parked) {
            self.shared.wake_reader.notify();
        }
    }

    /// Queues a message without blocking.
    pub(crate) fn try_write(&self, msg: Message) -> Result<(), WriteError> {
        let s = &*self.shared;
        if s.reader_gone.load(SeqCst) {
            return Err(WriteError::Closed(msg));
        }
        if self.park_if_full() {
            return Err(WriteError::Full(msg));
        }
        if s.conflate.load(Relaxed) {
            self.drop_unread();
        }
        s.queue.push(Item::One(msg));
        self.written.set(self.written.get().wrapping_add(1));
        self.wake_reader_if_parked();
        Ok(())
    }

    /// Queues one message whatever the room, as libzmq writes its disconnect and hiccup
    /// messages: one message past the high-water mark, once per connection. False when
    /// the reader is gone.
    pub(crate) fn write_past_mark(&self, msg: Message) -> bool {
        let s = &*self.shared;
        if s.reader_gone.load(SeqCst) {
            return false;
        }
        if s.conflate.load(Relaxed) {
            self.drop_unread();
        }
        s.queue.push(Item::One(msg));
        self.written.set(self.written.get().wrapping_add(1));
        self.wake_reader_if_parked();
        true
    }

    /// Queues messages from the front of `batch`, as many as there is room for; those that
    /// do not fit stay in `batch`, and the writer parks so the reader's next read wakes it.
    /// False when the reader is gone (then nothing is taken).
    pub(crate) fn write_batch(&self, batch: &mut VecDeque<Message>) -> bool {
        let s = &*self.shared;
        if s.reader_gone.load(SeqCst) {
            return false;
        }
        if s.conflate.load(Relaxed) {
            // Only the newest of the batch would survive its own writes.
            if let Some(last) = batch.pop_back() {
                batch.clear();
                self.drop_unread();
                s.queue.push(Item::One(last));
                self.written.set(self.written.get().wrapping_add(1));
                self.wake_reader_if_parked();
            }
            return true;
        }
        loop {
            let n = self.room().min(batch.len());
            match n {
                0 => {}
                1 => {
                    if let Some(msg) = batch.pop_front() {
                        s.queue.push(Item::One(msg));
                    }
                }
                _ => {
                    let many = if n == batch.len() {
                        std::mem::replace(batch, VecDeque::with_capacity(n))
                    } else {
                        batch.drain(..n).collect()
                    };
                    // Counted before the push, so the reader's pop never takes away
                    // more than was added.
                    s.batched.fetch_add(n - 1, SeqCst);
                    s.queue.push(Item::Many(many));
                }
            }
            self.written.set(self.written.get().wrapping_add(n));
            if n > 0 {
                self.wake_reader_if_parked();
            }
            if batch.is_empty() || self.park_if_full() {
                return true;
            }
        }
    }

    /// True when a write would be refused for lack of room. Parks the writer when it is, so
    /// the reader's next read wakes it (what a poller needs before it waits).
    pub(crate) fn is_full(&self) -> bool {
        self.park_if_full()
    }

    /// True when the reader has gone away.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.reader_gone.load(SeqCst)
    }
}

impl PipeReader {
    /// Takes the next message without blocking. When there is none, parks the reader, so
    /// the next write rings it.
    pub(crate) fn try_read(&self) -> Result<Message, ReadError> {
        let s = &*self.shared;
        if let Some(msg) = self.unpacked.borrow_mut().pop_front() {
            self.consumed_one();
            return Ok(msg);
        }
        if let Some(msg) = s.queue.pop().and_then(|item| self.unpack(item)) {
            self.consumed_one();
            return Ok(msg);
        }
        // Dry: give all room back, then park and look once more (see `wake_reader_if_parked`).
        // `writer_gone` is read before that last look: the writer raises it after its last
        // push, so if it was up, that look sees every message.
        self.credit();
        s.reader_parked.store(true, SeqCst);
        let writer_gone = s.writer_gone.load(SeqCst);
        match s.queue.pop().and_then(|item| self.unpack(item)) {
            Some(msg) => {
                s.reader_parked.store(false, SeqCst);
                self.consumed_one();
                Ok(msg)
            }
            None if writer_gone => Err(ReadError::Closed),
            None => Err(ReadError::Empty),
        }
    }

    /// The first message of a popped item; the rest of a batch waits in `unpacked`
    /// (which is empty whenever the queue is popped).
    fn unpack(&self, item: Item) -> Option<Message> {
        match item {
            Item::One(msg) => Some(msg),
            Item::Many(mut many) => {
                self.shared
                    .batched
                    .fetch_sub(many.len().saturating_sub(1), SeqCst);
                let first = many.pop_front();
                *self.unpacked.borrow_mut() = many;
                first
            }
        }
    }

    /// Counts a message read, and credits the writer every `credit_step` messages. A
    /// writer parked on a full pipe is woken by such a credit too, not by every read: woken
    /// for one free slot, it would write one message and park again, a futex wake-up per
    /// message (libzmq's low-water mark avoids the same).
    fn consumed_one(&self) {
        let consumed = self.consumed.get().wrapping_add(1);
        self.consumed.set(consumed);
        let s = &*self.shared;
        if consumed.wrapping_sub(s.credited.load(Relaxed)) >= s.credit_step.load(Relaxed) {
            self.credit();
        }
    }

    /// Tells the writer everything consumed so far, and rings it if it waits for room.
    fn credit(&self) {
        let s = &*self.shared;
        let consumed = self.consumed.get();
        if s.credited.load(Relaxed) != consumed {
            s.credited.store(consumed, SeqCst);
        }
        if take_flag(&s.writer_parked) {
            s.wake_writer.notify();
        }
    }

    /// True when a message is queued. When none is, parks the reader first, so the next
    /// write rings the reader's signal (what a poller needs before it waits).
    pub(crate) fn poll_readable(&self) -> bool {
        let s = &*self.shared;
        if !s.queue.is_empty() || !self.unpacked.borrow().is_empty() {
            return true;
        }
        self.credit();
        s.reader_parked.store(true, SeqCst);
        if s.queue.is_empty() {
            false
        } else {
            s.reader_parked.store(false, SeqCst);
            true
        }
    }

    /// How many messages are queued.
    pub(crate) fn len(&self) -> usize {
        let s = &*self.shared;
        self.unpacked.borrow().len() + s.queue.len() + s.batched.load(SeqCst)
    }

    /// True when no message is queued, judged without parking: for skipping an empty pipe
    /// cheaply. A message written at this moment may not be seen; a caller about to wait
    /// must use [`PipeReader::try_read`] or [`PipeReader::poll_readable`], which park.
    pub(crate) fn seems_empty(&self) -> bool {
        self.unpacked.borrow().is_empty() && self.shared.queue.is_empty()
    }

    /// True when the writer has gone away (messages may still be queued).
    pub(crate) fn is_writer_closed(&self) -> bool {
        self.shared.writer_gone.load(SeqCst)
    }

    /// Sets the most messages the pipe holds (0: no limit), for a high-water mark that
    /// changed while the peer is connected; a writer waiting for room is rung.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.shared.set_capacity(capacity);
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.shared.writer_gone.store(true, SeqCst);
        // A spurious ring (the reader was not parked) is harmless.
        self.shared.wake_reader.notify();
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.shared.reader_gone.store(true, SeqCst);
        self.shared.wake_writer.notify();
    }
}

impl std::fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWriter")
            .field("queued", &self.occupied())
            .field("capacity", &self.shared.capacity.load(Relaxed))
            .finish()
    }
}

impl std::fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeReader")
            .field("queued", &self.len())
            .field("capacity", &self.shared.capacity.load(Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn signal_pipe(capacity: usize) -> (PipeWriter, PipeReader, Arc<Signal>, Arc<Signal>) {
        let reader_sig = Arc::new(Signal::new(true));
        let writer_sig = Arc::new(Signal::new(true));
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
    fn batches_and_single_messages_are_read_in_order_and_counted_as_messages() {
        let (w, r, reader_sig, _) = signal_pipe(0);
        assert_eq!(r.try_read().unwrap_err(), ReadError::Empty); // parks
        let mut batch: VecDeque<Message> = (0..4u8).map(|i| Message::from(vec![i])).collect();
        assert!(w.write_batch(&mut batch));
        assert!(
            reader_sig.wait(no_wait()),
            "a batch rings a parked reader once"
        );
        w.try_write(Message::from(vec![4u8])).unwrap();
        let mut batch: VecDeque<Message> = (5..7u8).map(|i| Message::from(vec![i])).collect();
        assert!(w.write_batch(&mut batch));
        assert_eq!(r.len(), 7);
        for i in 0..7u8 {
            assert!(r.poll_readable());
            assert!(!r.seems_empty());
            assert_eq!(&r.try_read().unwrap()[0][..], &[i]);
            assert_eq!(r.len(), usize::from(6 - i));
        }
        assert!(r.seems_empty());
        assert!(!r.poll_readable());
        // Half a batch read, then the writer goes: the rest is still read, then Closed.
        let mut batch: VecDeque<Message> = (0..3u8).map(|i| Message::from(vec![i])).collect();
        assert!(w.write_batch(&mut batch));
        assert_eq!(&r.try_read().unwrap()[0][..], &[0]);
        drop(w);
        assert_eq!(&r.try_read().unwrap()[0][..], &[1]);
        assert_eq!(&r.try_read().unwrap()[0][..], &[2]);
        assert_eq!(r.try_read().unwrap_err(), ReadError::Closed);
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
        // Small capacities make both ends park and wake each other all the time; odd
        // messages go through `write_batch`, as the I/O thread writes them.
        for capacity in [1, 3, 16, 1000] {
            relay_across_threads(capacity, 20_000);
        }
    }

    fn relay_across_threads(capacity: usize, n: u32) {
        let (w, r, reader_sig, writer_sig) = signal_pipe(capacity);
        let producer = std::thread::spawn(move || {
            let mut batch = VecDeque::new();
            for i in 0..n {
                let m = Message::from(i.to_be_bytes().to_vec());
                if i % 2 == 1 {
                    batch.push_back(m);
                    while !batch.is_empty() {
                        assert!(w.write_batch(&mut batch), "reader closed");
                        if !batch.is_empty() {
                            assert!(writer_sig.wait(Some(Instant::now() + Duration::from_secs(10))));
                        }
                    }
                    continue;
                }
                let mut m = m;
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
        while next < n {
            match r.try_read() {
                Ok(m) => {
                    assert_eq!(&m[0][..], &next.to_be_bytes()[..], "capacity {capacity}");
                    next += 1;
                }
                Err(ReadError::Empty) => {
                    assert!(
                        reader_sig.wait(Some(Instant::now() + Duration::from_secs(10))),
                        "lost wake-up, capacity {capacity}"
                    );
                }
                Err(ReadError::Closed) => panic!("writer closed early"),
            }
        }
        producer.join().unwrap();
        assert_eq!(r.try_read().unwrap_err(), ReadError::Closed);
    }

    #[test]
    fn a_conflating_pipe_keeps_the_newest_message_only() {
        let (w, r) = pipe(2, Notify::Nobody, Notify::Nobody);
        w.set_conflate();
        for i in 0..10u8 {
            w.try_write(Message::from(vec![vec![i], vec![i, i]]))
                .unwrap();
        }
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.try_read().unwrap(),
            Message::from(vec![vec![9], vec![9, 9]])
        );
        assert_eq!(r.try_read().unwrap_err(), ReadError::Empty);
        // A batch leaves its newest; what was queued before goes too.
        w.try_write(Message::from("old")).unwrap();
        let mut batch: VecDeque<Message> = ["a", "b", "c"].into_iter().map(Message::from).collect();
        assert!(w.write_batch(&mut batch));
        assert!(batch.is_empty());
        assert!(w.write_past_mark(Message::from("d")));
        assert_eq!(r.try_read().unwrap(), "d");
        assert_eq!(r.try_read().unwrap_err(), ReadError::Empty);
        // Never full, whatever the capacity.
        assert!(!w.is_full());
    }

    #[test]
    fn conflating_across_threads_never_loses_the_last_message() {
        let (w, r, reader_sig, _) = signal_pipe(1);
        w.set_conflate();
        let producer = std::thread::spawn(move || {
            for i in 0..50_000u32 {
                w.try_write(Message::from(i.to_be_bytes().to_vec()))
                    .unwrap();
            }
        });
        let mut last = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match r.try_read() {
                Ok(m) => {
                    let v = u32::from_be_bytes(m[0][..].try_into().unwrap());
                    assert!(last.is_none_or(|l| v > l), "order kept");
                    last = Some(v);
                }
                Err(ReadError::Closed) => break,
                Err(ReadError::Empty) => {
                    assert!(reader_sig.wait(Some(deadline)), "lost wake-up");
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(last, Some(49_999));
    }

    #[test]
    fn a_raised_capacity_rings_the_parked_writer_and_a_lowered_one_refuses() {
        let (w, r, _, writer_sig) = signal_pipe(1);
        w.try_write(Message::from("a")).unwrap();
        assert!(matches!(
            w.try_write(Message::from("b")),
            Err(WriteError::Full(_))
        ));
        // The reader's end raises the mark (the socket's recv_hwm changed).
        r.set_capacity(3);
        assert!(writer_sig.wait(no_wait()), "the parked writer must be rung");
        w.try_write(Message::from("b")).unwrap();
        w.try_write(Message::from("c")).unwrap();
        assert!(w.is_full());
        // Lowered below what is queued: nothing is lost, new writes wait.
        w.set_capacity(1);
        assert!(matches!(
            w.try_write(Message::from("d")),
            Err(WriteError::Full(_))
        ));
        for expect in ["a", "b", "c"] {
            assert_eq!(r.try_read().unwrap(), expect);
        }
        w.try_write(Message::from("d")).unwrap();
        // 0 lifts the mark.
        w.set_capacity(0);
        for _ in 0..100 {
            w.try_write(Message::from("x")).unwrap();
        }
    }

    #[test]
    fn combined_hwm_is_the_sum_or_unlimited() {
        assert_eq!(combined_hwm(1, 2), 3);
        assert_eq!(combined_hwm(0, 2), 0);
        assert_eq!(combined_hwm(5, 0), 0);
        assert_eq!(combined_hwm(usize::MAX, 1), usize::MAX);
    }
}
