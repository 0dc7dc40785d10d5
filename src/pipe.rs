//! Pipes: the bounded queues between a socket and each of its peers.
//!
//! A pipe carries whole [`Message`]s one way, from one writer to one reader, so a
//! multipart message is queued or refused as a unit and the high-water mark counts
//! messages, as libzmq's does. Each end belongs to one thread at a time: the socket's
//! caller, or an I/O thread.
//!
//! Waking is the costly part of a queue, so a pipe wakes the other end only on the two
//! transitions that matter: an empty pipe receiving a message while its reader is parked,
//! and a full pipe losing one while its writer is parked. An end "parks" when an operation
//! fails (empty or full); it then re-checks once, so a wake-up is never lost between the
//! check and the park (a Dekker-style handshake over two SeqCst atomics). A steady stream
//! of messages therefore costs no wake-ups at all.

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use crate::message::Message;

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
}

impl Signal {
    pub(crate) fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        Signal { tx, rx }
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
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        match deadline {
            None => self.rx.recv().is_ok(),
            Some(d) => self.rx.recv_deadline(d).is_ok(),
        }
    }
}

struct Shared {
    /// Messages in the pipe, counted by the writer on push and the reader on pop.
    count: AtomicUsize,
    /// Most messages the pipe holds; 0 means no limit.
    capacity: usize,
    reader_parked: AtomicBool,
    writer_parked: AtomicBool,
    /// Set by each end's `Drop` *before* it rings the other end: the channel itself only
    /// disconnects after `Drop::drop` returns, so an end woken by the ring must learn of
    /// the close from these, or it would look, find the channel still open, and sleep.
    writer_gone: AtomicBool,
    reader_gone: AtomicBool,
    wake_reader: Notify,
    wake_writer: Notify,
}

/// The writing end of a pipe.
pub(crate) struct PipeWriter {
    tx: Sender<Message>,
    shared: Arc<Shared>,
}

/// The reading end of a pipe.
pub(crate) struct PipeReader {
    rx: Receiver<Message>,
    shared: Arc<Shared>,
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
    let _ = writer.try_write(Message::from(vec![bytes::Bytes::new()]));
}

/// Makes a pipe holding at most `capacity` messages (0: no limit). `wake_reader` is rung
/// when a message arrives for a parked reader, `wake_writer` when room appears for a parked
/// writer or when either end closes.
pub(crate) fn pipe(
    capacity: usize,
    wake_reader: Notify,
    wake_writer: Notify,
) -> (PipeWriter, PipeReader) {
    // The queue itself is unbounded and grows in small blocks: the high-water mark is kept by
    // the count, so an idle pipe costs no preallocated slots.
    let (tx, rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        count: AtomicUsize::new(0),
        capacity,
        reader_parked: AtomicBool::new(false),
        writer_parked: AtomicBool::new(false),
        writer_gone: AtomicBool::new(false),
        reader_gone: AtomicBool::new(false),
        wake_reader,
        wake_writer,
    });
    (
        PipeWriter {
            tx,
            shared: shared.clone(),
        },
        PipeReader { rx, shared },
    )
}

impl Shared {
    /// Messages in the pipe. The writer counts a message just after queueing it, so the
    /// reader can take it (and subtract it) first: for that moment the count is one below
    /// zero, wrapped. Whoever looks then sees an empty pipe, which it is about to stop
    /// being.
    fn queued(&self) -> usize {
        let n = self.count.load(SeqCst);
        if n > usize::MAX / 2 {
            0
        } else {
            n
        }
    }

    fn is_full(&self) -> bool {
        self.capacity != 0 && self.queued() >= self.capacity
    }
}

impl PipeWriter {
    /// Queues a message without blocking.
    pub(crate) fn try_write(&self, msg: Message) -> Result<(), WriteError> {
        let s = &*self.shared;
        if s.reader_gone.load(SeqCst) {
            return Err(WriteError::Closed(msg));
        }
        if s.is_full() {
            s.writer_parked.store(true, SeqCst);
            fence(SeqCst);
            if s.is_full() {
                return Err(WriteError::Full(msg));
            }
            s.writer_parked.store(false, SeqCst);
        }
        match self.tx.try_send(msg) {
            Ok(()) => {
                s.count.fetch_add(1, SeqCst);
                if s.reader_parked.load(SeqCst) && s.reader_parked.swap(false, SeqCst) {
                    s.wake_reader.notify();
                }
                Ok(())
            }
            Err(TrySendError::Disconnected(m)) | Err(TrySendError::Full(m)) => {
                Err(WriteError::Closed(m))
            }
        }
    }

    /// True when a write would be refused for lack of room. Parks the writer when it is, so
    /// the reader's next read wakes it (what a poller needs before it waits).
    pub(crate) fn is_full(&self) -> bool {
        let s = &*self.shared;
        if !s.is_full() {
            return false;
        }
        s.writer_parked.store(true, SeqCst);
        fence(SeqCst);
        s.is_full()
    }

    /// True when the reader has gone away.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.reader_gone.load(SeqCst)
    }
}

impl PipeReader {
    /// Takes the next message without blocking.
    pub(crate) fn try_read(&self) -> Result<Message, ReadError> {
        let s = &*self.shared;
        let msg = match self.rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Disconnected) => return Err(ReadError::Closed),
            Err(TryRecvError::Empty) => {
                s.reader_parked.store(true, SeqCst);
                fence(SeqCst);
                match self.rx.try_recv() {
                    Ok(m) => {
                        s.reader_parked.store(false, SeqCst);
                        m
                    }
                    Err(TryRecvError::Disconnected) => return Err(ReadError::Closed),
                    Err(TryRecvError::Empty) => {
                        // The writer marks itself gone after its last message is queued,
                        // so empty now and gone means nothing more will come.
                        if s.writer_gone.load(SeqCst) {
                            return match self.rx.try_recv() {
                                Ok(m) => {
                                    s.reader_parked.store(false, SeqCst);
                                    s.count.fetch_sub(1, SeqCst);
                                    Ok(m)
                                }
                                Err(_) => Err(ReadError::Closed),
                            };
                        }
                        return Err(ReadError::Empty);
                    }
                }
            }
        };
        s.count.fetch_sub(1, SeqCst);
        if s.writer_parked.load(SeqCst) && s.writer_parked.swap(false, SeqCst) {
            s.wake_writer.notify();
        }
        Ok(msg)
    }

    /// True when a message is queued. When none is, parks the reader first, so the next
    /// write rings the reader's signal (what a poller needs before it waits).
    pub(crate) fn poll_readable(&self) -> bool {
        let s = &*self.shared;
        if s.queued() > 0 {
            return true;
        }
        s.reader_parked.store(true, SeqCst);
        fence(SeqCst);
        s.queued() > 0
    }

    /// How many messages are queued.
    pub(crate) fn len(&self) -> usize {
        self.shared.queued()
    }

    /// True when the writer has gone away (messages may still be queued).
    pub(crate) fn is_writer_closed(&self) -> bool {
        self.shared.writer_gone.load(SeqCst)
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        // The channel disconnects only when `tx` drops, after this returns: mark the end
        // first, so the reader this ring wakes sees it. A spurious ring is harmless.
        self.shared.writer_gone.store(true, SeqCst);
        self.shared.wake_reader.notify();
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        // As for the writer: mark the end before ringing, since `rx` disconnects later.
        self.shared.reader_gone.store(true, SeqCst);
        self.shared.wake_writer.notify();
    }
}

impl std::fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWriter")
            .field("queued", &self.shared.queued())
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

impl std::fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeReader")
            .field("queued", &self.shared.queued())
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
