//! The raw mode of a connection, for STREAM sockets (libzmq's raw engine): no greeting, no
//! handshake, no framing. Sans-IO like [`crate::zmtp::Connection`], with the part of its
//! interface the connection driver uses, so [`super::conn`] drives either the same way.
//!
//! - The peer counts as attached at once: the first event is [`Event::Ready`].
//! - Whatever bytes are buffered become one message of one frame. The driver decodes after
//!   every read, so a message holds what one read took: at most the read size, which is
//!   at most 128 KiB. A peer that sends without end fills the inbound pipe to its
//!   high-water mark, then the driver stops reading it, as for ZMTP.
//! - Each frame of a message the socket sends is written out as it is, with nothing
//!   around it; an empty frame writes nothing.
//! - There are no commands: heartbeats do not apply, and nothing is ever owed to the peer.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::message::{Message, Properties};
use crate::socket_type::SocketType;
use crate::zmtp::{Event, PeerInfo};

/// One raw connection's buffers.
#[derive(Debug, Default)]
pub(super) struct Raw {
    input: BytesMut,
    /// The [`Event::Ready`] was returned.
    announced: bool,
    /// Bytes to write, oldest first; none is empty.
    output: VecDeque<Bytes>,
    /// Their total length.
    output_len: usize,
}

impl Raw {
    pub(super) fn new() -> Raw {
        Raw::default()
    }

    /// The input buffer, for the driver to read into.
    pub(super) fn input(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Appends bytes to the input (tests).
    #[cfg(test)]
    pub(super) fn feed(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// How much spare room a read wants beyond `room`: none, there are no frames to await.
    pub(super) fn read_hint(&self, room: usize) -> usize {
        room
    }

    /// True once the peer was announced (at once: there is no handshake).
    pub(super) fn is_ready(&self) -> bool {
        self.announced
    }

    /// The next event: the peer's arrival first, then what input is buffered, as one
    /// message of one frame.
    pub(super) fn poll_event(&mut self) -> Option<Event> {
        if !self.announced {
            self.announced = true;
            return Some(Event::Ready(PeerInfo {
                socket_type: SocketType::Stream,
                identity: Bytes::new(),
                minor: 0,
                properties: Properties::default(),
            }));
        }
        if self.input.is_empty() {
            return None;
        }
        Some(Event::Message(Message::from(self.input.split().freeze())))
    }

    /// Queues the frames of `msg` to be written as they are.
    pub(super) fn send_message(&mut self, msg: &Message) {
        for frame in msg.iter().filter(|f| !f.is_empty()) {
            self.output_len = self.output_len.saturating_add(frame.len());
            self.output.push_back(Bytes::from(frame.clone()));
        }
    }

    pub(super) fn has_output(&self) -> bool {
        self.output_len > 0
    }

    pub(super) fn output_len(&self) -> usize {
        self.output_len
    }

    /// Fills `out` with the output, oldest first; returns how many slices it filled.
    pub(super) fn output_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, bytes) in out.iter_mut().zip(&self.output) {
            *slot = IoSlice::new(bytes);
            n += 1;
        }
        n
    }

    /// `n` bytes of output were written.
    pub(super) fn advance_output(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.output.front_mut() else {
                break;
            };
            let take = n.min(front.len());
            front.advance(take);
            n -= take;
            self.output_len = self.output_len.saturating_sub(take);
            if front.is_empty() {
                self.output.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_announced_first_then_bytes_come_as_one_frame() {
        let mut raw = Raw::new();
        raw.feed(b"GET /");
        assert!(!raw.is_ready());
        assert!(matches!(
            raw.poll_event(),
            Some(Event::Ready(PeerInfo {
                socket_type: SocketType::Stream,
                ..
            }))
        ));
        assert!(raw.is_ready());
        let Some(Event::Message(m)) = raw.poll_event() else {
            panic!("the buffered bytes")
        };
        assert_eq!(m, "GET /");
        assert_eq!(m.len(), 1);
        assert!(raw.poll_event().is_none());
    }

    #[test]
    fn frames_are_written_bare_and_output_advances_across_them() {
        let mut raw = Raw::new();
        raw.send_message(&Message::from(vec!["HTTP/1.0 ", "", "200 OK"]));
        assert_eq!(raw.output_len(), 15);
        for split in 0..=15 {
            let mut r = Raw::new();
            r.send_message(&Message::from(vec!["HTTP/1.0 ", "", "200 OK"]));
            r.advance_output(split);
            let mut slices = [IoSlice::new(&[]); 4];
            let n = r.output_slices(&mut slices);
            let rest: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
            assert_eq!(rest, b"HTTP/1.0 200 OK"[split..], "split {split}");
            assert_eq!(r.output_len(), 15 - split);
            assert_eq!(r.has_output(), split < 15);
        }
        raw.advance_output(usize::MAX);
        assert!(!raw.has_output());
    }
}
