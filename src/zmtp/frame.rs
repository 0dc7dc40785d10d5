//! ZMTP frames: `flags (1 byte) | size (1 or 8 bytes, big-endian) | body`.
//!
//! The decoding half ([`FrameDecoder`]) cuts frames out of the connection's input buffer with
//! `split_to(..).freeze()`, so every received frame shares the read buffer instead of being
//! copied. It checks each frame's declared size against the limits as soon as the header is
//! in, before a single body byte is waited for, and never reserves memory for a declared size.
//! It assembles multipart messages and hands command frames up on their own, without
//! disturbing a message under assembly.
//!
//! The encoding half ([`FrameEncoder`]) is a queue of [`Bytes`] chunks ready for
//! `write_vectored`: headers and small bodies are copied into a staging buffer, large bodies
//! are queued as their own chunk, a cheap clone of the caller's [`Bytes`].

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::message::Frames;
use crate::options::{MAX_FRAMES_PER_MESSAGE, MIN_FRAME_COST};

/// Flag bit: more frames of this message follow.
pub(crate) const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size field is 8 bytes rather than 1.
pub(crate) const FLAG_LONG: u8 = 0x02;
/// Flag bit: this is a command frame, not a message frame.
pub(crate) const FLAG_COMMAND: u8 = 0x04;

/// Largest frame header: one flags byte and an 8-byte size.
pub(crate) const MAX_HEADER_LEN: usize = 9;

/// Bodies at least this large are queued as their own output chunk (zero copy); smaller ones
/// are copied into the staging buffer so many small frames go out in one system call.
pub(crate) const ZERO_COPY_THRESHOLD: usize = 8 * 1024;

/// Command frames may always be at least this large, even when the message size limit is
/// smaller, so a tiny `max_msg_size` cannot make the peer's READY unacceptable.
pub(crate) const MIN_COMMAND_LIMIT: usize = 64 * 1024;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// The flags byte as received; reserved bits are kept but never interpreted.
    pub(crate) flags: u8,
    /// The body size the header declares.
    pub(crate) size: usize,
    /// How many bytes the header itself takes: 2 or 9.
    pub(crate) header_len: usize,
}

impl FrameHeader {
    /// True when more frames of the same message follow.
    pub(crate) fn more(&self) -> bool {
        self.flags & FLAG_MORE != 0
    }

    /// True for a command frame.
    pub(crate) fn is_command(&self) -> bool {
        self.flags & FLAG_COMMAND != 0
    }

    /// Header plus body length, saturating (a saturated total can never be complete).
    pub(crate) fn total_len(&self) -> usize {
        self.header_len.saturating_add(self.size)
    }
}

/// How many bytes [`encode_header`] writes for a body of `size` bytes: 2 up to 255 bytes,
/// [`MAX_HEADER_LEN`] above.
pub(crate) fn header_len(size: usize) -> usize {
    if u8::try_from(size).is_ok() {
        2
    } else {
        MAX_HEADER_LEN
    }
}

/// The bytes `msg` takes on the wire in plain ZMTP framing: each frame's body and its
/// header (over CURVE, each frame's box adds to it).
pub(crate) fn message_wire_len(msg: &crate::message::Message) -> usize {
    msg.iter().fold(0usize, |sum, f| {
        sum.saturating_add(f.len())
            .saturating_add(header_len(f.len()))
    })
}

/// Appends a frame header for a body of `size` bytes.
///
/// Only the MORE and COMMAND bits of `flags` are used; LONG is chosen from the size: the
/// 1-byte form for up to 255 bytes, the 8-byte form above, as libzmq does.
pub(crate) fn encode_header(dst: &mut BytesMut, flags: u8, size: usize) {
    let flags = flags & (FLAG_MORE | FLAG_COMMAND);
    match u8::try_from(size) {
        Ok(short) => {
            dst.put_u8(flags);
            dst.put_u8(short);
        }
        Err(_) => {
            dst.put_u8(flags | FLAG_LONG);
            dst.put_u64(size as u64);
        }
    }
}

/// Decodes the frame header at the start of `buf`.
///
/// Returns `Ok(None)` while the header is incomplete. Leniently accepts the 8-byte form for
/// small sizes and ignores the reserved bits, like libzmq.
///
/// # Errors
///
/// [`Error::Protocol`] when an 8-byte size has its top bit set (sizes are at most 2^63 − 1)
/// or does not fit in this platform's `usize`.
pub(crate) fn decode_header(buf: &[u8]) -> Result<Option<FrameHeader>> {
    let Some(&flags) = buf.first() else {
        return Ok(None);
    };
    if flags & FLAG_LONG == 0 {
        return Ok(buf.get(1).map(|&size| FrameHeader {
            flags,
            size: usize::from(size),
            header_len: 2,
        }));
    }
    let Some(raw) = buf.get(1..MAX_HEADER_LEN) else {
        return Ok(None);
    };
    let mut be = [0u8; 8];
    be.copy_from_slice(raw);
    let size = u64::from_be_bytes(be);
    if size >> 63 != 0 {
        return Err(Error::Protocol(format!(
            "frame size {size:#x} has its top bit set"
        )));
    }
    let size = usize::try_from(size)
        .map_err(|_| Error::Protocol(format!("frame size {size} does not fit in memory")))?;
    Ok(Some(FrameHeader {
        flags,
        size,
        header_len: MAX_HEADER_LEN,
    }))
}

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A command frame's body (name length, name, data), not yet parsed.
    Command(Bytes),
    /// All frames of one message.
    Message(Frames),
}

/// What a message of `frames` frames and `bytes` body bytes counts toward the message size
/// limit: its bytes, or [`MIN_FRAME_COST`] per frame (the memory a frame takes even when
/// empty), whichever is more. So a message of many empty frames is limited by what it costs
/// to hold, and a message of exactly the limit's bytes still fits with its delimiter or
/// envelope frames, as with libzmq.
pub(crate) fn message_cost(frames: usize, bytes: usize) -> usize {
    bytes.max(frames.saturating_mul(MIN_FRAME_COST))
}

/// Cuts frames out of an input buffer and assembles multipart messages, enforcing limits.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    /// Cap on the cost of one message (see [`message_cost`]); `None` is unlimited.
    max_msg_size: Option<usize>,
    /// Cap on one command frame's body; `None` is unlimited.
    max_command_size: Option<usize>,
    /// Cap on the number of frames in one message.
    max_frames: usize,
    /// Frames of the message under assembly.
    partial: Frames,
    /// Sum of the body sizes of `partial`.
    partial_size: usize,
    /// While set, a command frame at the front of the input is left there: `decode` returns
    /// `Ok(None)` instead (the connection owes its peer too much output to take more
    /// commands that could add to it).
    pub(crate) hold_commands: bool,
}

impl FrameDecoder {
    /// A decoder with the given message size limit (on a message's [`message_cost`]).
    ///
    /// Command frames get the same limit but never less than [`MIN_COMMAND_LIMIT`]; the
    /// frame count is capped at [`MAX_FRAMES_PER_MESSAGE`].
    pub(crate) fn new(max_msg_size: Option<usize>) -> Self {
        FrameDecoder {
            max_msg_size,
            max_command_size: max_msg_size.map(|m| m.max(MIN_COMMAND_LIMIT)),
            max_frames: MAX_FRAMES_PER_MESSAGE,
            partial: Frames::new(),
            partial_size: 0,
            hold_commands: false,
        }
    }

    /// What the frames of the message under assembly cost (see [`message_cost`]).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn partial_cost(&self) -> usize {
        message_cost(self.partial.len(), self.partial_size)
    }

    /// True while some frames of a message have arrived but not its last one.
    #[cfg(test)]
    pub(crate) fn in_message(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Decodes the next command or complete message from the front of `buf`.
    ///
    /// Consumed bytes are removed from `buf`; bodies are split off it without copying.
    /// Returns `Ok(None)` when more bytes are needed. A command frame that arrives between
    /// the frames of a message is returned at once and the message keeps assembling; while
    /// [`FrameDecoder::hold_commands`] is set, decoding stops in front of it instead.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a malformed header, a message whose declared frame costs add
    /// up to more than the limit, a command frame over its limit, or a message with too many
    /// frames. Limits are checked on the header, before the body is waited for.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>> {
        loop {
            let Some(header) = decode_header(buf)? else {
                return Ok(None);
            };
            if header.is_command() {
                if self.hold_commands {
                    return Ok(None);
                }
                if let Some(max) = self.max_command_size {
                    if header.size > max {
                        return Err(Error::Protocol(format!(
                            "command of {} bytes is larger than the maximum of {max} bytes",
                            header.size
                        )));
                    }
                }
                return Ok(take_body(buf, &header).map(Decoded::Command));
            }

            if self.partial.len() >= self.max_frames {
                return Err(Error::Protocol(format!(
                    "message has more than the maximum of {} frames",
                    self.max_frames
                )));
            }
            let total = self.partial_size.saturating_add(header.size);
            if let Some(max) = self.max_msg_size {
                let cost = message_cost(self.partial.len() + 1, total);
                if cost > max {
                    return Err(Error::Protocol(format!(
                        "message larger than the maximum of {max} bytes \
                         (at least {cost} bytes announced, each frame counting at least \
                         {MIN_FRAME_COST})"
                    )));
                }
            }
            if buf.len() < header.total_len() {
                return Ok(None);
            }
            buf.advance(header.header_len);
            let Some(body) = Frame::split_from(buf, header.size) else {
                // Not reached: the length was checked above.
                return Err(Error::Protocol("frame body shorter than its header".into()));
            };
            self.partial.push(body);
            self.partial_size = total;
            if !header.more() {
                self.partial_size = 0;
                return Ok(Some(Decoded::Message(std::mem::take(&mut self.partial))));
            }
        }
    }
}

/// Removes the frame described by `header` from the front of `buf` and returns its body,
/// or `None` (touching nothing) while the body is incomplete.
fn take_body(buf: &mut BytesMut, header: &FrameHeader) -> Option<Bytes> {
    if buf.len() < header.total_len() {
        return None;
    }
    buf.advance(header.header_len);
    Some(buf.split_to(header.size).freeze())
}

/// Outgoing bytes: a queue of chunks to hand to `write_vectored`, in order.
///
/// The logical output is every chunk of `chunks` followed by `staging`. Small pieces are
/// appended to `staging`; a large body first seals the staged bytes into a chunk of their
/// own, then goes into the queue as a clone of the caller's [`Bytes`].
#[derive(Debug, Default)]
pub(crate) struct FrameEncoder {
    /// Sealed chunks, oldest first. The front one may have been partly written already
    /// (the written part is advanced away).
    chunks: VecDeque<Bytes>,
    /// Total length of `chunks`.
    chunks_len: usize,
    /// Bytes staged after the last chunk.
    staging: BytesMut,
}

impl FrameEncoder {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        FrameEncoder::default()
    }

    /// The staging buffer, for writing small things (greetings, commands) straight into it.
    pub(crate) fn staging(&mut self) -> &mut BytesMut {
        &mut self.staging
    }

    /// Queues one message frame: its header, then its body (copied when small, shared when
    /// at least [`ZERO_COPY_THRESHOLD`] bytes).
    pub(crate) fn push_frame(&mut self, more: bool, body: &Frame) {
        let flags = if more { FLAG_MORE } else { 0 };
        encode_header(&mut self.staging, flags, body.len());
        match body.shared() {
            Some(shared) => self.push_body(shared),
            None => self.staging.extend_from_slice(body),
        }
    }

    /// Queues body bytes after a header already staged.
    pub(crate) fn push_body(&mut self, body: &Bytes) {
        if body.len() < ZERO_COPY_THRESHOLD {
            self.staging.extend_from_slice(body);
            return;
        }
        if !self.staging.is_empty() {
            let staged = self.staging.split().freeze();
            self.chunks_len += staged.len();
            self.chunks.push_back(staged);
        }
        self.chunks_len += body.len();
        self.chunks.push_back(body.clone());
    }

    /// Number of bytes queued and not yet written.
    pub(crate) fn len(&self) -> usize {
        self.chunks_len + self.staging.len()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `out` with up to `out.len()` slices of pending output, in order, and returns
    /// how many it filled.
    pub(crate) fn slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let staged = (!self.staging.is_empty()).then_some(&self.staging[..]);
        let pending = self
            .chunks
            .iter()
            .map(|c| &c[..])
            .filter(|c| !c.is_empty())
            .chain(staged);
        let mut filled = 0;
        for (slot, chunk) in out.iter_mut().zip(pending) {
            *slot = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }

    /// Drops the first `n` bytes of pending output, which were written. Handles a write that
    /// ended inside a chunk; `n` larger than [`FrameEncoder::len`] drops everything.
    pub(crate) fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                let k = n.min(self.staging.len());
                self.staging.advance(k);
                return;
            };
            if n < front.len() {
                front.advance(n);
                self.chunks_len -= n;
                return;
            }
            n -= front.len();
            self.chunks_len -= front.len();
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(flags: u8, size: usize) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode_header(&mut b, flags, size);
        b.to_vec()
    }

    #[test]
    fn header_len_is_what_encode_header_writes() {
        for size in [0, 1, 255, 256, 65_536, usize::MAX] {
            let mut dst = BytesMut::new();
            encode_header(&mut dst, 0, size);
            assert_eq!(header_len(size), dst.len(), "size {size}");
        }
    }

    #[test]
    fn headers_are_byte_exact() {
        // A 300-byte last frame (the notes' example).
        assert_eq!(header_bytes(0, 300), [0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x2c]);
        // An empty frame with MORE: the REQ/REP delimiter.
        assert_eq!(header_bytes(FLAG_MORE, 0), [0x01, 0x00]);
        assert_eq!(header_bytes(0, 255), [0x00, 0xff]);
        assert_eq!(header_bytes(FLAG_MORE, 256), [0x03, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(header_bytes(FLAG_COMMAND, 7), [0x04, 0x07]);
        assert_eq!(
            header_bytes(FLAG_COMMAND, 1000),
            [0x06, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]
        );
        // LONG and reserved bits given by the caller are not trusted.
        assert_eq!(header_bytes(0xfa, 1), [0x00, 0x01]);
    }

    #[test]
    fn headers_decode_incrementally() {
        let long = [0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x2c];
        for cut in 0..long.len() {
            assert_eq!(decode_header(&long[..cut]).unwrap(), None);
        }
        let h = decode_header(&long).unwrap().unwrap();
        assert_eq!(
            (h.size, h.header_len, h.more(), h.is_command()),
            (300, 9, true, false)
        );
        assert_eq!(decode_header(&[0x04]).unwrap(), None);
        let h = decode_header(&[0x04, 0x05]).unwrap().unwrap();
        assert_eq!((h.size, h.header_len, h.is_command()), (5, 2, true));
    }

    #[test]
    fn long_sizes_with_the_top_bit_are_rejected() {
        let bad = [0x02, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(decode_header(&bad), Err(Error::Protocol(_))));
        let max = [0x02, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(decode_header(&max).is_ok());
    }

    fn decode_all(dec: &mut FrameDecoder, bytes: &[u8]) -> Result<Vec<Decoded>> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(d) = dec.decode(&mut buf)? {
            out.push(d);
        }
        Ok(out)
    }

    fn msg(frames: &[&'static [u8]]) -> Decoded {
        Decoded::Message(frames.iter().map(|f| Frame::from_static(f)).collect())
    }

    #[test]
    fn decoder_accepts_long_encoded_small_frames_and_ignores_reserved_bits() {
        let mut dec = FrameDecoder::new(None);
        let bytes = [
            0x03, 0, 0, 0, 0, 0, 0, 0, 1, b'a', // long-encoded, MORE
            0xf0, 1, b'b', // reserved bits set, last frame
        ];
        assert_eq!(decode_all(&mut dec, &bytes).unwrap(), [msg(&[b"a", b"b"])]);
    }

    #[test]
    fn command_between_frames_leaves_the_message_alone() {
        let mut dec = FrameDecoder::new(None);
        let bytes = [
            0x01, 1, b'a', // first frame
            0x05, 2, 1, b'X', // command, with a (meaningless) MORE bit
            0x00, 1, b'b', // last frame
        ];
        let mut buf = BytesMut::from(&bytes[..]);
        let first = dec.decode(&mut buf).unwrap();
        assert_eq!(
            first,
            Some(Decoded::Command(Bytes::from_static(&[1, b'X'])))
        );
        assert!(dec.in_message());
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(msg(&[b"a", b"b"])));
        assert!(!dec.in_message());
        assert!(buf.is_empty());
    }

    #[test]
    fn large_bodies_are_split_from_the_input_buffer_and_small_ones_copied() {
        let mut dec = FrameDecoder::new(None);
        let mut wire = vec![0x01, 3, b'x', b'y', b'z', 0x00, 100];
        wire.extend_from_slice(&[7; 100]);
        let mut buf = BytesMut::from(&wire[..]);
        let base = buf.as_ptr() as usize;
        let Some(Decoded::Message(frames)) = dec.decode(&mut buf).unwrap() else {
            panic!("expected a message");
        };
        assert!(frames[0].is_inline());
        assert_eq!(frames[0], "xyz");
        assert_eq!(frames[1].as_ptr() as usize, base + 7);
        assert!(buf.is_empty());
    }

    #[test]
    fn size_limits_apply_to_the_header_before_the_body() {
        // Only the header of a 1001-byte frame: rejected at once.
        let mut dec = FrameDecoder::new(Some(1000));
        let mut buf = BytesMut::from(&[0x02, 0, 0, 0, 0, 0, 0, 0x03, 0xe9][..]);
        let err = dec.decode(&mut buf).unwrap_err().to_string();
        assert!(err.contains("message larger than the maximum"), "{err}");

        // The limit is on the sum over the frames of a message.
        let mut dec = FrameDecoder::new(Some(100));
        let mut bytes = vec![0x01, 60];
        bytes.extend_from_slice(&[b'a'; 60]);
        bytes.extend_from_slice(&[0x00, 41]);
        assert!(decode_all(&mut dec, &bytes).is_err());

        // Exactly at the limit is fine, and the count restarts with each message.
        let mut dec = FrameDecoder::new(Some(100));
        let mut bytes = vec![0x01, 60];
        bytes.extend_from_slice(&[b'a'; 60]);
        bytes.extend_from_slice(&[0x00, 40]);
        bytes.extend_from_slice(&[b'b'; 40]);
        bytes.extend_from_slice(&[0x00, 100]);
        bytes.extend_from_slice(&[b'c'; 100]);
        assert_eq!(decode_all(&mut dec, &bytes).unwrap().len(), 2);
    }

    #[test]
    fn every_frame_costs_at_least_what_holding_it_takes() {
        assert_eq!(MIN_FRAME_COST, std::mem::size_of::<Frame>());
        // 1024 empty frames are 2 KiB on the wire but cost 32 KiB to hold.
        let mut wire = [0x01u8, 0x00].repeat(1023);
        wire.extend_from_slice(&[0x00, 0x00]);
        let mut dec = FrameDecoder::new(Some(1024 * MIN_FRAME_COST));
        assert_eq!(decode_all(&mut dec, &wire).unwrap().len(), 1);
        let mut dec = FrameDecoder::new(Some(1024 * MIN_FRAME_COST - 1));
        let err = decode_all(&mut dec, &wire).unwrap_err().to_string();
        assert!(err.contains("each frame counting at least 32"), "{err}");
        // A frame larger than the minimum counts its size only.
        let mut wire = vec![0x00, 100];
        wire.extend_from_slice(&[1; 100]);
        assert_eq!(
            decode_all(&mut FrameDecoder::new(Some(100)), &wire)
                .unwrap()
                .len(),
            1
        );
        // A body of exactly the limit still fits behind its empty delimiter (a REP's
        // request), as with libzmq; one byte more does not.
        let mut wire = vec![0x01, 0x00, 0x00, 100];
        wire.extend_from_slice(&[1; 100]);
        assert_eq!(
            decode_all(&mut FrameDecoder::new(Some(100)), &wire)
                .unwrap()
                .len(),
            1
        );
        assert!(decode_all(&mut FrameDecoder::new(Some(99)), &wire).is_err());
    }

    #[test]
    fn held_commands_stay_in_the_input() {
        let mut dec = FrameDecoder::new(None);
        dec.hold_commands = true;
        let wire = b"\x01\x01a\x04\x02\x01X\x00\x01b";
        let mut buf = BytesMut::from(&wire[..]);
        // The first frame is taken, then decoding stops in front of the command.
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], &wire[3..]);
        dec.hold_commands = false;
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(Decoded::Command(Bytes::from_static(b"\x01X")))
        );
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(msg(&[b"a", b"b"])));
    }

    #[test]
    fn command_limit_is_never_below_the_minimum() {
        let mut dec = FrameDecoder::new(Some(4));
        let mut bytes = vec![0x04, 41];
        bytes.extend_from_slice(&[0u8; 41]);
        assert_eq!(decode_all(&mut dec, &bytes).unwrap().len(), 1);
        let mut too_big = vec![0x06, 0, 0, 0, 0, 0, 1, 0, 1];
        too_big.truncate(MAX_HEADER_LEN);
        let err = decode_all(&mut dec, &too_big).unwrap_err().to_string();
        assert!(err.contains("command of 65537 bytes"), "{err}");
    }

    #[test]
    fn frame_count_is_capped() {
        let mut dec = FrameDecoder::new(None);
        dec.max_frames = 3;
        assert_eq!(
            decode_all(&mut dec, &[1, 0, 1, 0, 0, 0]).unwrap(),
            [msg(&[b"", b"", b""])]
        );
        let err = decode_all(&mut dec, &[1, 0, 1, 0, 1, 0, 0, 0])
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than the maximum of 3 frames"), "{err}");
    }

    fn pending(enc: &FrameEncoder) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 16];
        let n = enc.slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn encoder_stages_small_frames_and_shares_large_bodies() {
        let mut enc = FrameEncoder::new();
        assert!(enc.is_empty());
        let small = Frame::from("hello");
        let large = Frame::from(vec![7u8; ZERO_COPY_THRESHOLD]);
        enc.push_frame(true, &small);
        enc.push_frame(true, &large);
        enc.push_frame(false, &small);

        let mut slices = [IoSlice::new(&[]); 8];
        let n = enc.slices(&mut slices);
        assert_eq!(n, 3);
        assert_eq!(&slices[0][..], b"\x01\x05hello\x03\0\0\0\0\0\0\x20\0");
        assert_eq!(slices[1].as_ptr(), large.as_ptr());
        assert_eq!(&slices[2][..], b"\x00\x05hello");
        assert_eq!(enc.len(), 2 + 5 + 9 + ZERO_COPY_THRESHOLD + 2 + 5);

        // Fewer slots than chunks: the first ones, in order.
        let mut one = [IoSlice::new(&[])];
        assert_eq!(enc.slices(&mut one), 1);
        assert_eq!(&one[0][..2], b"\x01\x05");
    }

    #[test]
    fn partial_writes_inside_chunks_are_handled() {
        let mut enc = FrameEncoder::new();
        let large = Frame::from((0..20_000u32).map(|i| i as u8).collect::<Vec<_>>());
        enc.push_frame(true, &Frame::from("head"));
        enc.push_frame(false, &large);
        enc.push_frame(false, &Frame::from("tail"));
        let all = pending(&enc);
        assert_eq!(all.len(), enc.len());

        let mut written = Vec::new();
        for step in [1, 5, 3, 9_000, 11_000, 1, 4, 100] {
            let now = pending(&enc);
            let k = step.min(now.len());
            written.extend_from_slice(&now[..k]);
            enc.advance(step);
            assert_eq!(enc.len(), all.len() - written.len());
        }
        assert_eq!(written, all);
        assert!(enc.is_empty());
        enc.advance(10);
        assert!(enc.is_empty());
    }
}
