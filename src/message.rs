//! Multipart messages made of [`Frame`]s.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::frame::Frame;
use crate::socket_type::SocketType;

/// Frames of one message. Two fit inline: a body, or a REQ/REP delimiter plus a body.
pub(crate) type Frames = SmallVec<[Frame; 2]>;

/// A message: one or more frames of bytes, delivered all together or not at all.
///
/// Small frames (up to [`Frame::INLINE_CAPACITY`] bytes) are stored inside the message, so
/// a small message costs no allocation from the sender's `send` to the receiver's drop.
/// Larger frames share their buffer: cloning a message copies none of their payload, and a
/// received message's large frames are slices of the buffer the connection decoded them
/// from. Building a frame from a slice or `&str` copies it, as `zmq_send` does (into a
/// buffer shared with the thread's other copies: see [`Frame`]); from [`Bytes`] or a large
/// `Vec` it does not.
///
/// # Examples
///
/// ```
/// use ferromq::Message;
///
/// let single = Message::from("hello");
/// assert_eq!(single.len(), 1);
/// assert_eq!(single, "hello");
///
/// let multi = Message::from(["topic", "payload"]);
/// assert_eq!(multi.len(), 2);
/// assert_eq!(&multi[1][..], b"payload");
///
/// let built: Message = vec![b"a".to_vec(), b"b".to_vec()].into_iter().collect();
/// assert_eq!(built.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Message {
    frames: Frames,
    meta: Option<Arc<Metadata>>,
}

impl Message {
    /// An empty message with no frames; push frames with [`Message::push`].
    pub fn new() -> Self {
        Message::default()
    }

    /// A message built from any sequence of frames.
    pub fn multipart<I, T>(frames: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Frame>,
    {
        frames.into_iter().collect()
    }

    pub(crate) fn from_frames(frames: Frames) -> Self {
        Message { frames, meta: None }
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl Into<Frame>) {
        self.frames.push(frame.into());
    }

    /// Puts a frame in front of the others.
    pub fn push_front(&mut self, frame: impl Into<Frame>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Frame> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frames, in order.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// An iterator over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Frame> {
        self.frames.iter()
    }

    /// The first frame, if any.
    pub fn first(&self) -> Option<&Frame> {
        self.frames.first()
    }

    /// The total payload size in bytes, over all frames.
    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(|f| f.len()).sum()
    }

    /// Takes the frames out as a `Vec`.
    pub fn into_frames(self) -> Vec<Frame> {
        self.frames.into_vec()
    }

    /// What is known of the connection this message arrived on: the peer's socket type,
    /// identity and addresses. `None` for a message built locally.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.meta.as_deref()
    }

    /// The remote address of the connection the message arrived on, as libzmq's
    /// `Peer-Address` property: an IP address for tcp, the path for ipc.
    pub fn peer_address(&self) -> Option<&str> {
        self.meta.as_deref().and_then(|m| m.peer_address.as_deref())
    }

    pub(crate) fn set_metadata(&mut self, meta: Option<Arc<Metadata>>) {
        self.meta = meta;
    }

    /// Takes the shared metadata out, to hand it on to another message without copying it.
    pub(crate) fn take_metadata(&mut self) -> Option<Arc<Metadata>> {
        self.meta.take()
    }

    /// The shared metadata itself, so tests can tell it is shared rather than copied.
    #[cfg(test)]
    pub(crate) fn metadata_arc(&self) -> Option<&Arc<Metadata>> {
        self.meta.as_ref()
    }

    /// A subscription in ZMTP 3.0's message form, one frame: `01` + topic to subscribe,
    /// `00` + topic to cancel. This is how subscriptions travel through pipes in both
    /// directions: a SUB writes them toward its peers, and the engine turns SUBSCRIBE and
    /// CANCEL commands from the wire into them for a PUB.
    pub(crate) fn subscription(subscribe: bool, topic: &[u8]) -> Message {
        let mut body = Vec::with_capacity(topic.len() + 1);
        body.push(u8::from(subscribe));
        body.extend_from_slice(topic);
        Message::from(body)
    }
}

impl std::ops::Index<usize> for Message {
    type Output = Frame;
    fn index(&self, i: usize) -> &Frame {
        &self.frames[i]
    }
}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Frame;
    type IntoIter = std::slice::Iter<'a, Frame>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl IntoIterator for Message {
    type Item = Frame;
    type IntoIter = smallvec::IntoIter<[Frame; 2]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<T: Into<Frame>> FromIterator<T> for Message {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Message::from_frames(iter.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Frame>> Extend<T> for Message {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.frames.extend(iter.into_iter().map(Into::into));
    }
}

macro_rules! single_frame_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Message {
            fn from(frame: $t) -> Self {
                let mut frames = Frames::new();
                frames.push(Frame::from(frame));
                Message::from_frames(frames)
            }
        }
    )*};
}
single_frame_from!(Frame, Bytes, Vec<u8>, String, &String, &str, &[u8]);

impl<const N: usize> From<&[u8; N]> for Message {
    fn from(frame: &[u8; N]) -> Self {
        Message::from(&frame[..])
    }
}

macro_rules! multi_frame_from {
    ($($t:ty),*) => {$(
        impl From<Vec<$t>> for Message {
            fn from(frames: Vec<$t>) -> Self {
                frames.into_iter().collect()
            }
        }
    )*};
}
multi_frame_from!(Frame, Bytes, Vec<u8>, String, &str, &[u8]);

impl<T: Into<Frame>, const N: usize> From<[T; N]> for Message {
    fn from(frames: [T; N]) -> Self {
        frames.into_iter().collect()
    }
}

impl PartialEq for Message {
    /// Messages are equal when their frames are; metadata is not compared.
    fn eq(&self, other: &Self) -> bool {
        self.frames == other.frames
    }
}

impl Eq for Message {}

impl PartialEq<[u8]> for Message {
    /// True for a one-frame message with exactly these bytes.
    fn eq(&self, other: &[u8]) -> bool {
        self.frames.len() == 1 && self.frames[0] == *other
    }
}

impl PartialEq<str> for Message {
    /// True for a one-frame message with exactly these bytes.
    fn eq(&self, other: &str) -> bool {
        self == other.as_bytes()
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self == other.as_bytes()
    }
}

impl PartialEq<&[u8]> for Message {
    fn eq(&self, other: &&[u8]) -> bool {
        self == *other
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.frames.iter()).finish()
    }
}

/// What is known of the connection a message arrived on.
///
/// Mirrors the properties libzmq exposes through `zmq_msg_gets`: `Socket-Type`, `Identity`,
/// `Peer-Address`, and any other property the peer sent in its READY command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub(crate) socket_type: Option<SocketType>,
    pub(crate) identity: Bytes,
    pub(crate) peer_address: Option<String>,
    pub(crate) peer_socket_addr: Option<SocketAddr>,
    pub(crate) local_address: Option<String>,
    pub(crate) properties: Vec<(String, Bytes)>,
}

impl Metadata {
    /// The socket type the peer announced.
    pub fn socket_type(&self) -> Option<SocketType> {
        self.socket_type
    }

    /// The identity the peer announced (empty when it sent none).
    pub fn identity(&self) -> &[u8] {
        &self.identity
    }

    /// The remote address: `ip` for tcp (as libzmq's `Peer-Address`), the path for ipc,
    /// `None` for inproc.
    pub fn peer_address(&self) -> Option<&str> {
        self.peer_address.as_deref()
    }

    /// The remote tcp address with its port, when the connection is tcp.
    pub fn peer_socket_addr(&self) -> Option<SocketAddr> {
        self.peer_socket_addr
    }

    /// The local end of the connection: `ip:port` for tcp, the path for ipc.
    pub fn local_address(&self) -> Option<&str> {
        self.local_address.as_deref()
    }

    /// A property by name, the way `zmq_msg_gets` looks it up. Names are matched without
    /// regard to case, as the RFC asks. `Socket-Type`, `Identity`, `Peer-Address` and
    /// `Local-Address` are always answered from the connection; other names from the
    /// peer's READY metadata.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        if name.eq_ignore_ascii_case("Socket-Type") {
            return self.socket_type.map(|t| t.as_str().as_bytes());
        }
        if name.eq_ignore_ascii_case("Identity") {
            return Some(&self.identity);
        }
        if name.eq_ignore_ascii_case("Peer-Address") {
            return self.peer_address.as_deref().map(str::as_bytes);
        }
        if name.eq_ignore_ascii_case("Local-Address") {
            return self.local_address.as_deref().map(str::as_bytes);
        }
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_make_the_frames_they_name() {
        assert_eq!(Message::from("a").frames(), &[Bytes::from_static(b"a")]);
        assert_eq!(Message::from(String::from("b")), "b");
        assert_eq!(Message::from(vec![1u8, 2]), &[1u8, 2][..]);
        assert_eq!(Message::from(&b"xy"[..]), "xy");
        assert_eq!(Message::from(b"xy"), "xy");
        assert_eq!(Message::from(Bytes::from_static(b"z")), "z");
        let m = Message::from(vec!["a", "", "c"]);
        assert_eq!(m.len(), 3);
        assert!(m[1].is_empty());
        assert_eq!(
            Message::from(vec![String::from("a"), String::from("b")]).len(),
            2
        );
        assert_eq!(Message::from(vec![vec![1u8], vec![2u8]]).len(), 2);
        assert_eq!(Message::from(vec![Bytes::new()]).len(), 1);
        assert_eq!(Message::multipart(["x", "y"]).byte_len(), 2);
    }

    #[test]
    fn push_and_pop_keep_order() {
        let mut m = Message::new();
        assert!(m.is_empty());
        m.push("b");
        m.push_front("a");
        m.extend(["c"]);
        assert_eq!(m, Message::from(["a", "b", "c"]));
        assert_eq!(m.pop_front().as_deref(), Some(&b"a"[..]));
        assert_eq!(m.into_frames().len(), 2);
    }

    #[test]
    fn clone_shares_payload() {
        let m = Message::from(vec![0u8; 4096]);
        let c = m.clone();
        assert_eq!(m[0].as_ptr(), c[0].as_ptr());
    }

    #[test]
    fn metadata_lookup_ignores_case() {
        let meta = Metadata {
            socket_type: Some(SocketType::Push),
            identity: Bytes::from_static(b"id"),
            peer_address: Some("127.0.0.1".into()),
            properties: vec![("X-Custom".into(), Bytes::from_static(b"v"))],
            ..Metadata::default()
        };
        assert_eq!(meta.get("socket-type"), Some(&b"PUSH"[..]));
        assert_eq!(meta.get("IDENTITY"), Some(&b"id"[..]));
        assert_eq!(meta.get("Peer-Address"), Some(&b"127.0.0.1"[..]));
        assert_eq!(meta.get("x-custom"), Some(&b"v"[..]));
        assert_eq!(meta.get("missing"), None);
    }
}
