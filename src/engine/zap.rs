//! The engine's ZAP client (RFC 27): how a server connection asks the context's ZAP
//! handler about its peer without ever blocking the I/O thread.
//!
//! The context keeps, in a [`ZapHub`] its I/O threads share, the socket bound at
//! [`ZAP_ENDPOINT`](crate::engine::ZAP_ENDPOINT) (a REP or ROUTER: a hand-written handler or
//! the built-in [`Authenticator`](crate::Authenticator)). When a connection's handshake
//! emits a ZAP request, the connection makes a pair of pipes to that socket and hands the
//! socket its ends as a new peer, as libzmq's `session_base_t::zap_connect` does, so the
//! handler sees an ordinary peer. The request goes into the pipe at once; the handler's
//! reply rings the I/O thread about that one connection ([`IoWake`]), whose next drive
//! reads it, checks it and passes it to the sans-IO connection. The pipes are dropped
//! with the answer (or with the connection), and the handler forgets the peer.
//!
//! Each connection has its own pipes, so replies need no routing by request id: the id
//! libzmq sends (`"1"`) comes back and is checked. At most
//! [`MAX_PENDING_ZAP_REQUESTS`] requests wait for an answer in a context at once; a
//! handshake that would ask one more fails (the peer reconnects later), so a flood of
//! handshakes cannot pile up requests in front of a slow handler.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::mailbox::{next_id, Peer, SocketShared};
use crate::message::{Message, Metadata};
use crate::pipe::{pipe, Notify, PipeReader, PipeWriter, ReadError};
use crate::socket_type::SocketType;

use super::IoWake;

/// The endpoint a ZAP handler binds and server sockets ask (RFC 27).
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// Most ZAP requests the server sockets of one context may have waiting for the handler's
/// answer at once. A handshake that would ask one more fails, as if the handler had
/// refused the peer without a word (the monitor shows `HandshakeFailed` with the reason;
/// the peer may reconnect), so a flood of handshakes against a slow handler holds at most
/// this many requests. Each request also waits under the socket's handshake timeout.
pub const MAX_PENDING_ZAP_REQUESTS: usize = 1024;

/// The ZAP version both frames carry.
const ZAP_VERSION: &[u8] = b"1.0";
/// The request id libzmq sends, and expects back.
const REQUEST_ID: &[u8] = b"1";
/// Messages each of a request's two pipes holds: one request, one reply, and room for a
/// handler that answers twice (the second answer is ignored).
const ZAP_PIPE_HWM: usize = 2;

/// What the I/O threads of one context share about its ZAP handler.
#[derive(Debug, Default)]
pub(crate) struct ZapHub {
    /// The socket bound at `inproc://zeromq.zap.01`, if any.
    handler: Mutex<Option<Arc<SocketShared>>>,
    /// Requests sent and not yet answered (or abandoned).
    pending: Arc<AtomicUsize>,
}

impl ZapHub {
    /// Records the socket now bound at the ZAP endpoint (`None`: nothing is).
    pub(crate) fn set_handler(&self, handler: Option<Arc<SocketShared>>) {
        *self.handler.lock().unwrap_or_else(|p| p.into_inner()) = handler;
    }

    /// The bound handler, if any and still open.
    fn handler(&self) -> Option<Arc<SocketShared>> {
        let handler = self.handler.lock().unwrap_or_else(|p| p.into_inner());
        handler.as_ref().filter(|h| !h.is_closed()).cloned()
    }

    /// Sends `request` to the handler on a fresh pair of pipes; the reply will ring `wake`.
    /// `Ok(None)` when no handler is bound.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when [`MAX_PENDING_ZAP_REQUESTS`] requests already wait, or the
    /// socket bound at the ZAP endpoint is neither a REP nor a ROUTER.
    pub(crate) fn call(&self, request: Message, wake: IoWake) -> Result<Option<ZapCall>> {
        let Some(handler) = self.handler() else {
            return Ok(None);
        };
        if !matches!(handler.socket_type, SocketType::Rep | SocketType::Router) {
            return Err(Error::Protocol(format!(
                "the ZAP handler is a {} socket, not a REP or ROUTER",
                handler.socket_type.as_str()
            )));
        }
        let slot = Slot::take(&self.pending).ok_or_else(|| {
            Error::Protocol(format!(
                "{MAX_PENDING_ZAP_REQUESTS} ZAP requests already wait for an answer"
            ))
        })?;
        let wake = Arc::new(wake);
        // Request: we write, the handler reads. Reply: the handler writes, we read.
        let (req_w, req_r) = pipe(
            ZAP_PIPE_HWM,
            Notify::Signal(handler.signal.clone()),
            Notify::Io(wake.clone()),
        );
        let (rep_w, rep_r) = pipe(
            ZAP_PIPE_HWM,
            Notify::Io(wake),
            Notify::Signal(handler.signal.clone()),
        );
        // A fresh pipe has room for the request.
        let _ = req_w.try_write(request);
        handler.attach(Peer {
            id: next_id(),
            tx: rep_w,
            rx: req_r,
            meta: Arc::new(Metadata {
                // libzmq's session talks to the handler as a DEALER would.
                socket_type: Some(SocketType::Dealer),
                ..Metadata::default()
            }),
            endpoint: None,
            routing_id: None,
            partner: None,
            link: None,
        });
        Ok(Some(ZapCall {
            _tx: req_w,
            rx: rep_r,
            _slot: slot,
        }))
    }
}

/// One request under way: the connection's ends of its pipes to the handler. Dropping it
/// closes them, so the handler forgets this peer, and frees its slot.
#[derive(Debug)]
pub(crate) struct ZapCall {
    /// Kept open until the answer is in: a REP handler drops a peer whose pipe closed.
    _tx: PipeWriter,
    rx: PipeReader,
    _slot: Slot,
}

impl ZapCall {
    /// The handler's checked answer, once it came (`Ok(None)` while it has not).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a malformed reply (see [`parse_reply`]) or a handler that
    /// went away without answering.
    pub(crate) fn poll(&self) -> Result<Option<crate::zmtp::ZapReply>> {
        match self.rx.try_read() {
            Ok(msg) => parse_reply(&msg).map(Some),
            Err(ReadError::Empty) => Ok(None),
            Err(ReadError::Closed) => Err(Error::Protocol(
                "the ZAP handler went away without answering".into(),
            )),
        }
    }
}

/// One of the context's [`MAX_PENDING_ZAP_REQUESTS`] request slots, freed when dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(pending: &Arc<AtomicUsize>) -> Option<Slot> {
        pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PENDING_ZAP_REQUESTS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(pending.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The ZAP request frames, as libzmq's `zap_client_t::send_zap_request` writes them: an
/// empty delimiter, the version, the request id, the domain, the peer's address, the
/// server socket's own routing id, the mechanism, then its credentials.
pub(crate) fn request(
    domain: &str,
    address: &str,
    routing_id: &Bytes,
    zap: crate::zmtp::ZapRequest,
) -> Message {
    let mut msg = Message::new();
    msg.push(Bytes::new());
    msg.push(Bytes::from_static(ZAP_VERSION));
    msg.push(Bytes::from_static(REQUEST_ID));
    msg.push(Bytes::copy_from_slice(domain.as_bytes()));
    msg.push(Bytes::copy_from_slice(address.as_bytes()));
    msg.push(routing_id.clone());
    msg.push(Bytes::from_static(zap.mechanism.as_bytes()));
    for credential in zap.credentials {
        msg.push(credential);
    }
    msg
}

/// Checks a ZAP reply as libzmq's `zap_client_t::receive_and_process_zap_reply` does:
/// exactly seven frames — an empty delimiter, version `1.0`, request id `1`, a status code
/// of 200, 300, 400 or 500, a status text, a user id and metadata in ZMTP property form.
///
/// # Errors
///
/// [`Error::Protocol`] naming what is wrong; the handshake then fails.
pub(crate) fn parse_reply(msg: &Message) -> Result<crate::zmtp::ZapReply> {
    let bad = |why: &str| Err(Error::Protocol(format!("malformed ZAP reply: {why}")));
    let frames = msg.frames();
    if frames.len() != 7 {
        return bad(&format!("{} frames, not 7", frames.len()));
    }
    if !frames[0].is_empty() {
        return bad("the first frame is not an empty delimiter");
    }
    if &frames[1][..] != ZAP_VERSION {
        return bad("the version is not 1.0");
    }
    if &frames[2][..] != REQUEST_ID {
        return bad("the request id is not the one sent");
    }
    let status_code = match &frames[3][..] {
        b"200" => 200,
        b"300" => 300,
        b"400" => 400,
        b"500" => 500,
        _ => return bad("the status code is not 200, 300, 400 or 500"),
    };
    if frames[5].len() > 255 {
        return bad("the user id is longer than 255 bytes");
    }
    let metadata = Bytes::copy_from_slice(&frames[6]);
    if !properties_well_formed(&metadata) {
        return bad("the metadata is not in ZMTP property form");
    }
    Ok(crate::zmtp::ZapReply {
        status_code,
        user_id: Bytes::copy_from_slice(&frames[5]),
        metadata,
    })
}

/// True when `data` is a sequence of ZMTP properties: a 1-byte name length, a non-empty
/// name, a 4-byte big-endian value length and the value, to the last byte.
fn properties_well_formed(mut data: &[u8]) -> bool {
    while let Some((&name_len, rest)) = data.split_first() {
        let name_len = usize::from(name_len);
        if name_len == 0 || rest.len() < name_len + 4 {
            return false;
        }
        let (len, rest) = rest[name_len..].split_at(4);
        let value_len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let Ok(value_len) = usize::try_from(value_len) else {
            return false;
        };
        if rest.len() < value_len {
            return false;
        }
        data = &rest[value_len..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(frames: &[&[u8]]) -> Message {
        Message::multipart(frames.iter().map(|f| Bytes::copy_from_slice(f)))
    }

    #[test]
    fn a_good_reply_gives_its_code_user_and_metadata() {
        let meta = b"\x05Hello\x00\x00\x00\x05World";
        let got = parse_reply(&reply(&[b"", b"1.0", b"1", b"200", b"OK", b"admin", meta])).unwrap();
        assert_eq!(got.status_code, 200);
        assert_eq!(&got.user_id[..], b"admin");
        assert_eq!(&got.metadata[..], meta);
        for code in [300, 400, 500] {
            let text = code.to_string();
            let got = parse_reply(&reply(&[b"", b"1.0", b"1", text.as_bytes(), b"", b"", b""]));
            assert_eq!(got.unwrap().status_code, code);
        }
    }

    #[test]
    fn malformed_replies_are_refused() {
        let ok: [&[u8]; 7] = [b"", b"1.0", b"1", b"200", b"OK", b"", b""];
        let long_user = vec![b'u'; 256];
        let cases: Vec<(Vec<&[u8]>, &str)> = vec![
            (ok[..6].to_vec(), "6 frames"),
            ([&ok[..], &[b"extra".as_slice()]].concat(), "8 frames"),
            (vec![b"x", b"1.0", b"1", b"200", b"", b"", b""], "delimiter"),
            (vec![b"", b"2.0", b"1", b"200", b"", b"", b""], "version"),
            (vec![b"", b"1.0", b"2", b"200", b"", b"", b""], "request id"),
            (
                vec![b"", b"1.0", b"1", b"201", b"", b"", b""],
                "status code",
            ),
            (
                vec![b"", b"1.0", b"1", b"600", b"", b"", b""],
                "status code",
            ),
            (vec![b"", b"1.0", b"1", b"20", b"", b"", b""], "status code"),
            (
                vec![b"", b"1.0", b"1", b"200", b"", &long_user, b""],
                "user id",
            ),
            (
                vec![b"", b"1.0", b"1", b"200", b"", b"", b"\x05Hel"],
                "metadata",
            ),
            (
                vec![b"", b"1.0", b"1", b"200", b"", b"", b"\x00\x00\x00\x00\x00"],
                "metadata",
            ),
            (
                vec![
                    b"",
                    b"1.0",
                    b"1",
                    b"200",
                    b"",
                    b"",
                    b"\x01a\x00\x00\x00\x09v",
                ],
                "metadata",
            ),
        ];
        for (frames, what) in cases {
            let err = parse_reply(&reply(&frames)).unwrap_err().to_string();
            assert!(err.contains("malformed ZAP reply"), "{what}: {err}");
        }
    }

    #[test]
    fn the_request_has_libzmqs_frames() {
        let msg = request(
            "global",
            "127.0.0.1",
            &Bytes::from_static(b"server-id"),
            crate::zmtp::ZapRequest {
                mechanism: "PLAIN",
                credentials: vec![Bytes::from_static(b"admin"), Bytes::from_static(b"secret")],
            },
        );
        let frames: Vec<&[u8]> = msg.iter().map(|f| &f[..]).collect();
        assert_eq!(
            frames,
            [
                &b""[..],
                b"1.0",
                b"1",
                b"global",
                b"127.0.0.1",
                b"server-id",
                b"PLAIN",
                b"admin",
                b"secret"
            ]
        );
    }

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let pending = Arc::new(AtomicUsize::new(0));
        let slots: Vec<Slot> = (0..MAX_PENDING_ZAP_REQUESTS)
            .map(|_| Slot::take(&pending).unwrap())
            .collect();
        assert!(Slot::take(&pending).is_none());
        drop(slots);
        assert_eq!(pending.load(Ordering::Acquire), 0);
        assert!(Slot::take(&pending).is_some());
    }
}
