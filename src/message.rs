//! Multipart messages made of [`Frame`]s.

use std::cmp::Ordering;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
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
    pub(crate) properties: Properties,
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
        self.properties.get(name.as_bytes())
    }
}

/// A peer's READY properties (other than those [`Metadata`] answers itself), kept compactly:
/// the metadata as received in one buffer, and an index of where each property lies, sorted
/// by name without regard to ASCII case. So a connection keeps what the peer sent plus 16
/// bytes per property, and a lookup is a binary search.
#[derive(Clone, Default)]
pub(crate) struct Properties {
    /// The metadata in wire form (or any buffer the spans point into).
    raw: Bytes,
    /// One entry per property, sorted by name in ASCII lower case; properties of the same
    /// name keep their order of arrival.
    index: Box<[Entry]>,
}

/// Where one property lies in [`Properties::raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    name_at: u32,
    name_len: u8,
    value_at: u32,
    value_len: u32,
}

impl Properties {
    /// The properties at `spans` (name and value byte ranges) of `raw`, in order of arrival.
    /// Spans that do not fit in `raw`, names that are empty or over 255 bytes, and offsets
    /// over 4 GiB are skipped.
    pub(crate) fn new(
        raw: Bytes,
        spans: impl IntoIterator<Item = (Range<usize>, Range<usize>)>,
    ) -> Self {
        let fits = |r: &Range<usize>| r.start <= r.end && r.end <= raw.len();
        let mut index: Vec<Entry> = spans
            .into_iter()
            .filter(|(n, v)| fits(n) && fits(v))
            .filter_map(|(n, v)| {
                Some(Entry {
                    name_at: u32::try_from(n.start).ok()?,
                    name_len: u8::try_from(n.len()).ok().filter(|&l| l > 0)?,
                    value_at: u32::try_from(v.start).ok()?,
                    value_len: u32::try_from(v.len()).ok()?,
                })
            })
            .collect();
        // A stable sort: the first of several properties with one name stays first.
        index.sort_by(|a, b| compare_names(name_of(&raw, a), name_of(&raw, b)));
        Properties {
            raw,
            index: index.into_boxed_slice(),
        }
    }

    /// The value of the first property called `name` (ASCII case ignored), if any.
    pub(crate) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        let at = self
            .index
            .partition_point(|e| compare_names(name_of(&self.raw, e), name) == Ordering::Less);
        let entry = self.index.get(at)?;
        name_of(&self.raw, entry)
            .eq_ignore_ascii_case(name)
            .then(|| value_of(&self.raw, entry))
    }

    /// How many properties there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there are none.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Every property as `(name, value)`, sorted by name (ASCII case ignored).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.index
            .iter()
            .map(|e| (name_of(&self.raw, e), value_of(&self.raw, e)))
    }

    /// Bytes this table keeps alive: the buffer and the index.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn held_bytes(&self) -> usize {
        self.raw.len() + std::mem::size_of_val(&*self.index)
    }
}

impl PartialEq for Properties {
    /// Equal when they hold the same properties (in the same order), wherever they lie.
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Properties {}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(n, v)| (n.escape_ascii().to_string(), v.escape_ascii().to_string())),
            )
            .finish()
    }
}

fn name_of<'a>(raw: &'a [u8], e: &Entry) -> &'a [u8] {
    let start = e.name_at as usize;
    raw.get(start..start + usize::from(e.name_len))
        .unwrap_or_default()
}

fn value_of<'a>(raw: &'a [u8], e: &Entry) -> &'a [u8] {
    let start = e.value_at as usize;
    raw.get(start..start.saturating_add(e.value_len as usize))
        .unwrap_or_default()
}

/// Orders names as their ASCII lower-case forms would be.
fn compare_names(a: &[u8], b: &[u8]) -> Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
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

    /// Properties over `name=value` pairs laid out in one buffer.
    fn properties(pairs: &[(&str, &str)]) -> Properties {
        let mut raw = Vec::new();
        let mut spans = Vec::new();
        for (n, v) in pairs {
            let n_at = raw.len();
            raw.extend_from_slice(n.as_bytes());
            let v_at = raw.len();
            raw.extend_from_slice(v.as_bytes());
            spans.push((n_at..v_at, v_at..raw.len()));
        }
        Properties::new(Bytes::from(raw), spans)
    }

    #[test]
    fn metadata_lookup_ignores_case() {
        let meta = Metadata {
            socket_type: Some(SocketType::Push),
            identity: Bytes::from_static(b"id"),
            peer_address: Some("127.0.0.1".into()),
            properties: properties(&[("X-Custom", "v")]),
            ..Metadata::default()
        };
        assert_eq!(meta.get("socket-type"), Some(&b"PUSH"[..]));
        assert_eq!(meta.get("IDENTITY"), Some(&b"id"[..]));
        assert_eq!(meta.get("Peer-Address"), Some(&b"127.0.0.1"[..]));
        assert_eq!(meta.get("x-custom"), Some(&b"v"[..]));
        assert_eq!(meta.get("missing"), None);
    }

    #[test]
    fn property_lookup_is_a_search_that_ignores_case_and_keeps_the_first() {
        let names: Vec<String> = (0..1000).map(|i| format!("X-Prop-{i:04}")).collect();
        let mut pairs: Vec<(&str, &str)> =
            names.iter().rev().map(|n| (n.as_str(), &n[7..])).collect();
        pairs.push(("x-PROP-0500", "later"));
        pairs.push(("Z", ""));
        pairs.push(("a", "first-a"));
        pairs.push(("A", "second-a"));
        let props = properties(&pairs);
        assert_eq!(props.len(), 1004);
        assert_eq!(props.get(b"x-prop-0500"), Some(&b"0500"[..]));
        assert_eq!(props.get(b"X-PROP-0999"), Some(&b"0999"[..]));
        assert_eq!(props.get(b"X-Prop-0000"), Some(&b"0000"[..]));
        assert_eq!(props.get(b"z"), Some(&b""[..]));
        assert_eq!(props.get(b"A"), Some(&b"first-a"[..]));
        assert_eq!(props.get(b"X-Prop-1000"), None);
        assert_eq!(props.get(b"X-Prop-"), None);
        assert_eq!(props.get(b""), None);
        // Sorted without regard to case.
        let sorted: Vec<&[u8]> = props.iter().map(|(n, _)| n).take(3).collect();
        assert_eq!(sorted, [&b"a"[..], b"A", b"X-Prop-0000"]);
        // What is kept: the buffer and 16 bytes per property.
        assert_eq!(std::mem::size_of::<Entry>(), 16);
        let raw_len: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
        assert_eq!(props.held_bytes(), raw_len + 16 * 1004);
        // Spans that do not fit are skipped, not trusted.
        let bad = Properties::new(
            Bytes::from_static(b"ab"),
            [(0..1, 1..3), (0..0, 1..2), (0..1, 1..2)],
        );
        assert_eq!(bad.len(), 1);
        assert_eq!(bad.get(b"A"), Some(&b"b"[..]));
        assert!(Properties::default().is_empty());
    }
}
