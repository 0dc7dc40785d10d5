//! One frame of a message: its bytes kept inline when small, shared when not.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// The most bytes a frame keeps inline; see [`Frame::INLINE_CAPACITY`].
const INLINE_CAPACITY: usize = 23;

impl Frame {
    /// The most bytes a frame keeps inline, without an allocation of its own.
    ///
    /// 23 bytes plus a length byte take the room of the [`Bytes`] handle the frame
    /// otherwise holds, so a frame is 32 bytes either way. libzmq keeps messages of up to
    /// 33 bytes inside `zmq_msg_t` for the same reason: most messages on a busy socket are
    /// small, and an allocation made on one thread and freed on another costs more than
    /// the message.
    pub const INLINE_CAPACITY: usize = INLINE_CAPACITY;
}

/// One frame of a [`Message`](crate::Message): a sequence of bytes.
///
/// A frame of at most [`Frame::INLINE_CAPACITY`] bytes that was copied in (from a slice, a `Vec`,
/// a `String`, or off the wire) is stored inline: making, sending, receiving and dropping it
/// allocates nothing. Larger frames, and any frame made from [`Bytes`], share their buffer,
/// so cloning a frame never copies more than [`Frame::INLINE_CAPACITY`] bytes, and a received large
/// frame is a slice of the buffer it was decoded from.
///
/// A copy of up to 16 KiB ([`Frame::copy_from_slice`], `From<&[u8]>`, `From<&str>`) is cut
/// from a 128 KiB buffer the copying thread shares among its copies, rather than allocated
/// on its own: a message is usually dropped on another thread than the one that made it,
/// and an allocation per message made there and freed here costs more than the copy. So a
/// frame kept alive for long keeps that buffer alive too, as a received frame keeps the
/// buffer it was read into; to own exactly its bytes, build it from a `Vec` or [`Bytes`].
/// A thread also keeps the buffers its copies had in flight, up to 64 (8 MiB), to cut
/// them again once their frames are dropped, instead of freeing and faulting in new
/// memory for every 128 KiB it copies.
///
/// A frame dereferences to `[u8]`, so slicing, `len()`, `is_empty()`, `starts_with()` and
/// comparisons with byte strings work as on a slice.
///
/// # Examples
///
/// ```
/// use ferromq::Frame;
///
/// let small = Frame::from("hello");
/// assert_eq!(small, "hello");
/// assert_eq!(&small[1..3], b"el");
/// assert!(small.is_inline());
///
/// let large = Frame::from(vec![7u8; 4096]);
/// assert!(!large.is_inline());
/// let shared = large.clone(); // no copy of the 4096 bytes
/// assert_eq!(shared.as_ptr(), large.as_ptr());
/// ```
#[derive(Clone)]
pub struct Frame(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        data: [u8; INLINE_CAPACITY],
    },
    Shared(Bytes),
}

impl Frame {
    /// An empty frame.
    pub const fn new() -> Self {
        Frame(Repr::Inline {
            len: 0,
            data: [0; INLINE_CAPACITY],
        })
    }

    /// A frame holding a copy of `bytes`: inline when it fits, in a new buffer otherwise.
    pub fn copy_from_slice(bytes: &[u8]) -> Self {
        Frame::inline(bytes).unwrap_or_else(|| Frame(Repr::Shared(slab::copy(bytes))))
    }

    /// A frame over static bytes: small ones are copied inline, larger ones are referenced
    /// without copying.
    pub fn from_static(bytes: &'static [u8]) -> Self {
        Frame::inline(bytes).unwrap_or_else(|| Frame(Repr::Shared(Bytes::from_static(bytes))))
    }

    /// True when the bytes are stored inside the frame itself.
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The bytes as a [`Bytes`]: the shared buffer itself, or a new one for an inline frame.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Shared(bytes) => bytes,
            Repr::Inline { .. } => Bytes::copy_from_slice(&self),
        }
    }

    /// The shared buffer behind a frame that is not inline.
    pub(crate) fn shared(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Shared(bytes) => Some(bytes),
            Repr::Inline { .. } => None,
        }
    }

    /// A frame for the first `len` bytes of `buf`, which are removed from it: copied inline
    /// when they fit (the buffer's remaining bytes keep their storage), split off without
    /// copying otherwise. `None`, touching nothing, when `buf` is shorter than `len`.
    pub(crate) fn split_from(buf: &mut bytes::BytesMut, len: usize) -> Option<Self> {
        let frame = match Frame::inline(buf.get(..len)?) {
            Some(frame) => {
                bytes::Buf::advance(buf, len);
                frame
            }
            None => Frame(Repr::Shared(buf.split_to(len).freeze())),
        };
        Some(frame)
    }

    fn inline(bytes: &[u8]) -> Option<Self> {
        let len = u8::try_from(bytes.len())
            .ok()
            .filter(|&n| usize::from(n) <= INLINE_CAPACITY)?;
        let mut data = [0; INLINE_CAPACITY];
        data[..bytes.len()].copy_from_slice(bytes);
        Some(Frame(Repr::Inline { len, data }))
    }
}

impl Default for Frame {
    fn default() -> Self {
        Frame::new()
    }
}

impl Deref for Frame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => data.get(..usize::from(*len)).unwrap_or(&[]),
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Borrow<[u8]> for Frame {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl From<Bytes> for Frame {
    /// Keeps the buffer: no copy, whatever the size.
    fn from(bytes: Bytes) -> Self {
        Frame(Repr::Shared(bytes))
    }
}

impl From<Vec<u8>> for Frame {
    /// Copies a small vector inline (and frees it here, on the caller's thread); takes a
    /// larger one over without copying.
    fn from(bytes: Vec<u8>) -> Self {
        Frame::inline(&bytes).unwrap_or_else(|| Frame(Repr::Shared(Bytes::from(bytes))))
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Self {
        Frame::from(s.into_bytes())
    }
}

impl From<&String> for Frame {
    fn from(s: &String) -> Self {
        Frame::copy_from_slice(s.as_bytes())
    }
}

impl From<&[u8]> for Frame {
    /// Copies the bytes, as libzmq's `zmq_send` does.
    fn from(bytes: &[u8]) -> Self {
        Frame::copy_from_slice(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for Frame {
    fn from(bytes: &[u8; N]) -> Self {
        Frame::copy_from_slice(bytes)
    }
}

impl From<&str> for Frame {
    /// Copies the bytes, as libzmq's `zmq_send` does.
    fn from(s: &str) -> Self {
        Frame::copy_from_slice(s.as_bytes())
    }
}

impl From<Frame> for Bytes {
    fn from(frame: Frame) -> Self {
        frame.into_bytes()
    }
}

impl From<Frame> for Vec<u8> {
    fn from(frame: Frame) -> Self {
        frame.to_vec()
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self[..] == other[..]
    }
}

impl Eq for Frame {}

impl PartialOrd for Frame {
    fn partial_cmp(&self, other: &Frame) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Frame {
    fn cmp(&self, other: &Frame) -> std::cmp::Ordering {
        self[..].cmp(&other[..])
    }
}

impl Hash for Frame {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self[..].hash(state);
    }
}

macro_rules! eq_with {
    ($($t:ty => $as:expr),* $(,)?) => {$(
        impl PartialEq<$t> for Frame {
            fn eq(&self, other: &$t) -> bool {
                let as_bytes: for<'x> fn(&'x $t) -> &'x [u8] = $as;
                self[..] == *as_bytes(other)
            }
        }
        impl PartialEq<Frame> for $t {
            fn eq(&self, other: &Frame) -> bool {
                other == self
            }
        }
    )*};
}

eq_with! {
    [u8] => |o: &[u8]| o,
    str => |o: &str| o.as_bytes(),
    Bytes => |o: &Bytes| &o[..],
    Vec<u8> => |o: &Vec<u8>| &o[..],
    &[u8] => |o: &&[u8]| *o,
    &str => |o: &&str| o.as_bytes(),
}

impl<const N: usize> PartialEq<[u8; N]> for Frame {
    fn eq(&self, other: &[u8; N]) -> bool {
        self[..] == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Frame {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self[..] == other[..]
    }
}

impl fmt::Debug for Frame {
    /// As a byte string literal, the way [`Bytes`] prints: `b"hello\x00"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.iter() {
            for c in std::ascii::escape_default(b) {
                fmt::Write::write_char(f, char::from(c))?;
            }
        }
        f.write_str("\"")
    }
}

/// Copies of mid-sized payloads, carved out of a per-thread slab instead of allocated one
/// by one.
///
/// A message is usually built on one thread and dropped on another (the receiver, or the
/// I/O thread once it has encoded it). With glibc, a buffer of a few KiB is not served
/// from the per-thread cache, so every such allocation and free takes the sending thread's
/// arena lock, and the two threads fight over it. Copies of up to [`slab::PIECE_MAX`] bytes
/// are appended to a [`slab::SLAB`]-byte buffer of the copying thread instead, and split
/// off it as `Bytes` that share the buffer: one allocation per slab, freed when its last
/// piece is dropped. The price: a piece kept alive keeps its whole slab (128 KiB), as a
/// received frame keeps the read buffer it was cut from.
///
/// Measured (PUSH to PULL, one sender thread, alternating runs against per-copy
/// allocation): inproc 256 B 3.2 → 6.7 M msg/s, inproc 4 KiB 0.74 → 2.0 M, ipc 4 KiB
/// 0.65 → 0.85 M, tcp 256 B 2.0 → 2.6 M. Slabs of 32 KiB and 64 KiB gained less at 4 KiB
/// (1.1 M inproc).
mod slab {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use bytes::{Bytes, BytesMut};

    /// Size of a slab.
    pub(super) const SLAB: usize = 128 * 1024;
    /// Largest copy carved out of a slab; larger ones get an allocation of their own.
    pub(super) const PIECE_MAX: usize = 16 * 1024;
    /// How many spent slabs a thread keeps, to take one back once all its pieces are gone:
    /// at most 8 MiB per thread, enough for two full pipes of 4 KiB messages at the
    /// default high-water marks (2 × 1000 messages, 63 slabs).
    pub(super) const KEPT: usize = 64;

    /// One thread's slabs: the one being cut, and the last few spent ones, oldest first.
    ///
    /// A spent slab is freed when its last piece is dropped, and glibc hands freed memory
    /// at the top of its heap back to the system, which zeroes it and faults it in again
    /// page by page when the next slab is allocated there. That is what happens when the
    /// receiver keeps up with the sender: every piece of a slab is dropped soon after it
    /// is cut, the slab is freed at once, and the next one is new memory. Profiled
    /// (inproc PUSH to PULL at 4 KiB), page faults then took over a tenth of the time
    /// (up to 200,000 a second). So the thread keeps its last [`KEPT`] spent slabs and
    /// takes the oldest back when every piece cut from it has been dropped: a pair that
    /// keeps up reuses a few slabs over and over.
    ///
    /// The count has to cover the queue, not only a receiver that keeps up: with the
    /// queue full, every slab still in it holds a live piece, and the oldest kept one is
    /// free again only if more slabs are kept than the queue holds. With 4 kept, an async
    /// PUSH to PULL at 4 KiB (a full inproc pipe holds 63 slabs) took 50,000–160,000 page
    /// faults a second and ran at 1.6–1.8 M msg/s; with 64, 4,500 and 1.8–2.2 M; ipc
    /// 4 KiB async 0.55–0.63 → 0.76–0.83 M msg/s. Slabs are kept only as the thread
    /// needed them: one whose pieces are all dropped in time is taken back instead of a
    /// new one, so a thread keeps about as many as it ever had in flight at once, at most
    /// [`KEPT`], until it exits.
    struct Slabs {
        current: BytesMut,
        /// `current` is a slab (false before the thread's first copy: it has no buffer).
        started: bool,
        spent: VecDeque<BytesMut>,
    }

    impl Slabs {
        /// Makes `current` hold at least `need` more bytes: the oldest spent slab taken
        /// back if nothing cut from it is alive, a new one otherwise.
        fn make_room(&mut self, need: usize) {
            if self.current.capacity() - self.current.len() >= need {
                return;
            }
            let spent = std::mem::take(&mut self.current);
            let reusable = self
                .spent
                .front_mut()
                .is_some_and(|oldest| oldest.try_reclaim(SLAB));
            self.current = match reusable.then(|| self.spent.pop_front()).flatten() {
                Some(oldest) => oldest,
                None => BytesMut::with_capacity(SLAB),
            };
            // Empty, but holding its buffer until taken back or let go; the thread's
            // first `current` has no buffer to keep.
            if self.started {
                self.spent.push_back(spent);
            }
            self.started = true;
            // The oldest beyond the count is let go: its memory is freed with its last piece.
            while self.spent.len() > KEPT {
                self.spent.pop_front();
            }
        }
    }

    thread_local! {
        static CURRENT: RefCell<Slabs> = RefCell::new(Slabs {
            current: BytesMut::new(),
            started: false,
            spent: VecDeque::new(),
        });
    }

    /// How many spent slabs this thread keeps now.
    #[cfg(test)]
    pub(super) fn kept() -> usize {
        CURRENT.with(|slabs| slabs.borrow().spent.len())
    }

    /// A copy of `bytes` as `Bytes`: out of this thread's slab when small enough.
    pub(super) fn copy(bytes: &[u8]) -> Bytes {
        if bytes.len() > PIECE_MAX {
            return Bytes::copy_from_slice(bytes);
        }
        CURRENT
            .try_with(|slabs| {
                let mut slabs = slabs.try_borrow_mut().ok()?;
                slabs.make_room(bytes.len());
                slabs.current.extend_from_slice(bytes);
                Some(slabs.current.split().freeze())
            })
            .ok()
            .flatten()
            // The thread is exiting (its slab is gone): an allocation of its own.
            .unwrap_or_else(|| Bytes::copy_from_slice(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_takes_the_room_of_a_bytes_handle() {
        assert_eq!(std::mem::size_of::<Frame>(), std::mem::size_of::<Bytes>());
    }

    #[test]
    fn small_copies_are_inline_and_large_ones_shared() {
        for n in [0, 1, 16, INLINE_CAPACITY] {
            let bytes = vec![9u8; n];
            for frame in [
                Frame::copy_from_slice(&bytes),
                Frame::from(bytes.clone()),
                Frame::from(&bytes[..]),
            ] {
                assert!(frame.is_inline(), "{n} bytes");
                assert_eq!(frame, bytes);
            }
        }
        let n = INLINE_CAPACITY + 1;
        let bytes = vec![9u8; n];
        assert!(!Frame::from(bytes.clone()).is_inline());
        assert!(!Frame::copy_from_slice(&bytes).is_inline());
        assert_eq!(Frame::from(bytes.clone()).len(), n);
        // Bytes are always kept, even when small: the caller asked to share them.
        assert!(!Frame::from(Bytes::from_static(b"x")).is_inline());
    }

    #[test]
    fn mid_sized_copies_share_a_slab_and_large_ones_do_not() {
        let a = Frame::copy_from_slice(&[1; 100]);
        let b = Frame::copy_from_slice(&[2; 100]);
        assert_eq!(a, [1u8; 100][..]);
        assert_eq!(b, [2u8; 100][..]);
        let gap = (b.as_ptr() as usize).wrapping_sub(a.as_ptr() as usize);
        assert!(gap < slab::SLAB, "consecutive copies come from one slab");
        let big = Frame::copy_from_slice(&vec![3; slab::PIECE_MAX + 1]);
        assert_eq!(big.len(), slab::PIECE_MAX + 1);
        // Many copies in a row fill slab after slab, each byte intact.
        let frames: Vec<Frame> = (0..1000u32)
            .map(|i| Frame::copy_from_slice(&[i as u8; 1000]))
            .collect();
        for (i, f) in frames.iter().enumerate() {
            assert!(f.iter().all(|&x| x == i as u8));
        }
    }

    #[test]
    fn a_spent_slab_is_taken_back_once_its_pieces_are_dropped() {
        // On a thread of its own, so that the slabs start fresh.
        std::thread::spawn(|| {
            const PIECE: usize = 1024;
            let per_slab = slab::SLAB / PIECE;
            let in_slab = |f: &Frame, first: &Frame| {
                let start = first.as_ptr() as usize;
                (start..start + slab::SLAB).contains(&(f.as_ptr() as usize))
            };
            let first: Vec<Frame> = (0..per_slab)
                .map(|i| Frame::copy_from_slice(&[i as u8; PIECE]))
                .collect();
            let first_piece = first[0].clone();
            drop(first);
            // The next slab is new: a piece of the first one is still alive.
            let second: Vec<Frame> = (0..per_slab)
                .map(|_| Frame::copy_from_slice(&[7; PIECE]))
                .collect();
            assert!(second.iter().all(|f| !in_slab(f, &first_piece)));
            let third = Frame::copy_from_slice(&[8; PIECE]);
            assert!(!in_slab(&third, &first_piece), "still alive: not reused");
            drop(third);
            // Once every piece of the first slab is gone, it is cut again.
            let keep = first_piece.as_ptr() as usize;
            drop(first_piece);
            let rest: Vec<Frame> = (0..2 * per_slab)
                .map(|_| Frame::copy_from_slice(&[9; PIECE]))
                .collect();
            assert!(
                rest.iter()
                    .any(|f| (keep..keep + slab::SLAB).contains(&(f.as_ptr() as usize))),
                "the first slab is used again"
            );
            assert!(rest.iter().all(|f| f.iter().all(|&b| b == 9)));
            assert!(second.iter().all(|f| f.iter().all(|&b| b == 7)));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_long_queue_still_gets_its_slabs_back_and_the_kept_count_is_bounded() {
        std::thread::spawn(|| {
            const PIECE: usize = 4096;
            let per_slab = slab::SLAB / PIECE;
            // A queue as long as a full inproc pipe of 4 KiB messages: 2000 in flight,
            // every piece dropped in order, long after it was cut.
            let mut queue = std::collections::VecDeque::new();
            let mut starts = std::collections::HashSet::new();
            for i in 0..40 * 2000usize {
                let frame = Frame::copy_from_slice(&[i as u8; PIECE]);
                if i % per_slab == 0 {
                    starts.insert(frame.as_ptr() as usize);
                }
                queue.push_back(frame);
                if queue.len() > 2000 {
                    let oldest = queue.pop_front().unwrap();
                    assert!(oldest.iter().all(|&b| b == oldest[0]));
                }
            }
            // 2,500 slabs were cut; only about as many as were in flight were new.
            assert!(
                starts.len() <= slab::KEPT + 2,
                "{} distinct slabs",
                starts.len()
            );
            assert!(slab::kept() <= slab::KEPT);
            // More in flight than are kept: the count stays at its bound.
            let held: Vec<Frame> = (0..(slab::KEPT + 10) * per_slab)
                .map(|_| Frame::copy_from_slice(&[1; PIECE]))
                .collect();
            assert_eq!(slab::kept(), slab::KEPT);
            drop(held);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn splitting_off_a_buffer_copies_small_frames_and_shares_large_ones() {
        let mut buf = bytes::BytesMut::from(&[1u8; 100][..]);
        let small = Frame::split_from(&mut buf, 3).unwrap();
        assert!(small.is_inline());
        assert_eq!(buf.len(), 97);
        let large = Frame::split_from(&mut buf, 50).unwrap();
        assert!(!large.is_inline());
        assert_eq!(large.len(), 50);
        assert_eq!(buf.len(), 47);
        assert!(Frame::split_from(&mut buf, 48).is_none());
        assert_eq!(buf.len(), 47, "a short buffer is left as it was");
    }

    #[test]
    fn conversions_and_comparisons_see_the_bytes() {
        let f = Frame::from("ab");
        assert_eq!(f, *"ab");
        assert_eq!(f, "ab");
        assert_eq!(f, b"ab");
        assert_eq!(f, &b"ab"[..]);
        assert_eq!(f, Bytes::from_static(b"ab"));
        assert_eq!(Bytes::from(f.clone()), Bytes::from_static(b"ab"));
        assert_eq!(Vec::from(f.clone()), b"ab".to_vec());
        assert_eq!(Frame::from(String::from("ab")), f);
        assert_eq!(Frame::from_static(b"ab"), f);
        assert_eq!(format!("{:?}", Frame::from(&b"a\x00"[..])), "b\"a\\x00\"");
        assert!(Frame::new().is_empty());
        let (a, b) = (Frame::from("a"), Frame::from("b"));
        assert!(a < b);
        assert_eq!(a.cmp(&a), std::cmp::Ordering::Equal);
    }
}
