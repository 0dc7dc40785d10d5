//! Command frames: `name-length (1 byte, 1..255) | name | data`.
//!
//! The commands of the NULL mechanism and of ZMTP 3.1's steady state:
//!
//! ```text
//! READY     = %d5 "READY" metadata
//! ERROR     = %d5 "ERROR" OCTET 0*255VCHAR      ; 1-byte length + reason
//! SUBSCRIBE = %d9 "SUBSCRIBE" topic
//! CANCEL    = %d6 "CANCEL" topic
//! PING      = %d4 "PING" 2OCTET 0*16OCTET        ; TTL in tenths of a second (BE) + context
//! PONG      = %d4 "PONG" 0*16OCTET               ; the PING's context
//! ```
//!
//! Command names are compared exactly, as libzmq does. Unknown names decode to
//! [`Command::Unknown`] so the caller can ignore them.

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::{encode_header, FLAG_COMMAND};
#[cfg(any(test, feature = "fuzzing"))]
use super::metadata;
use crate::error::{Error, Result};

/// READY: ends the NULL handshake, carries metadata.
pub(crate) const READY: &[u8] = b"READY";
/// ERROR: a fatal error reported by the peer.
pub(crate) const ERROR: &[u8] = b"ERROR";
/// SUBSCRIBE: a ZMTP 3.1 subscription.
pub(crate) const SUBSCRIBE: &[u8] = b"SUBSCRIBE";
/// CANCEL: a ZMTP 3.1 unsubscription.
pub(crate) const CANCEL: &[u8] = b"CANCEL";
/// PING: a heartbeat request.
pub(crate) const PING: &[u8] = b"PING";
/// PONG: a heartbeat answer.
pub(crate) const PONG: &[u8] = b"PONG";

/// Longest ERROR reason: its length is one byte.
pub(crate) const MAX_ERROR_REASON: usize = 255;
/// Longest heartbeat context sent or echoed.
pub(crate) const MAX_PING_CONTEXT: usize = 16;

/// A decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// READY with its metadata in wire form, not yet parsed (the connection parses it
    /// within its limits: see [`metadata::parse`]).
    Ready(Bytes),
    /// ERROR with its reason (converted lossily to text).
    Error(String),
    /// SUBSCRIBE with its topic.
    Subscribe(Bytes),
    /// CANCEL with its topic.
    Cancel(Bytes),
    /// PING with its TTL in deciseconds and its context (as received, possibly over 16
    /// bytes).
    Ping {
        /// Time to live, in tenths of a second; 0 means none.
        ttl: u16,
        /// Context to echo in the PONG.
        context: Bytes,
    },
    /// PONG with the context it echoes.
    Pong(Bytes),
    /// A command this implementation does not know, by name.
    Unknown(Bytes),
}

impl Command {
    /// Parses a command frame's body.
    ///
    /// Data is split from `body` without copying.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for an empty body, a name length of 0 or one that runs past the
    /// body, or a PING without its 2-byte TTL.
    pub(crate) fn decode(body: Bytes) -> Result<Command> {
        let (name, data) = split(&body)?;
        Ok(match &name[..] {
            READY => Command::Ready(data),
            ERROR => Command::Error(decode_error_reason(&data)),
            SUBSCRIBE => Command::Subscribe(data),
            CANCEL => Command::Cancel(data),
            PING => {
                let Some(ttl) = data.get(..2).and_then(|t| <[u8; 2]>::try_from(t).ok()) else {
                    return Err(Error::Protocol("PING without its TTL".into()));
                };
                Command::Ping {
                    ttl: u16::from_be_bytes(ttl),
                    context: data.slice(2..),
                }
            }
            PONG => Command::Pong(data),
            _ => Command::Unknown(name),
        })
    }

    /// The command's name, for messages.
    #[cfg(test)]
    pub(crate) fn name(&self) -> String {
        let name: &[u8] = match self {
            Command::Ready(_) => READY,
            Command::Error(_) => ERROR,
            Command::Subscribe(_) => SUBSCRIBE,
            Command::Cancel(_) => CANCEL,
            Command::Ping { .. } => PING,
            Command::Pong(_) => PONG,
            Command::Unknown(name) => name,
        };
        name.escape_ascii().to_string()
    }

    /// Appends the command as a complete frame. Sending truncates as the `encode_*`
    /// functions do.
    #[cfg(test)]
    pub(crate) fn encode(&self, dst: &mut BytesMut) {
        match self {
            Command::Ready(metadata) => encode_command(dst, READY, &[metadata]),
            Command::Error(reason) => encode_error(dst, reason),
            Command::Subscribe(topic) => encode_subscribe(dst, topic),
            Command::Cancel(topic) => encode_cancel(dst, topic),
            Command::Ping { ttl, context } => encode_ping(dst, *ttl, context),
            Command::Pong(context) => encode_pong(dst, context),
            Command::Unknown(name) => encode_command(dst, name, &[]),
        }
    }
}

/// Reads an ERROR reason leniently: a length byte that runs past the data takes what is
/// there, so a sloppy peer's reason still reaches the user.
pub(crate) fn decode_error_reason(data: &[u8]) -> String {
    let Some((&len, rest)) = data.split_first() else {
        return String::new();
    };
    let reason = rest.get(..usize::from(len)).unwrap_or(rest);
    String::from_utf8_lossy(reason).into_owned()
}

/// Splits a command frame's body into its name and its data, without copying.
///
/// # Errors
///
/// [`Error::Protocol`] for an empty body, or a name length of 0 or one that runs past the
/// body.
pub(crate) fn split(body: &Bytes) -> Result<(Bytes, Bytes)> {
    let Some(&name_len) = body.first() else {
        return Err(Error::Protocol("empty command frame".into()));
    };
    let name_end = 1 + usize::from(name_len);
    if name_len == 0 || name_end > body.len() {
        return Err(Error::Protocol(format!(
            "malformed command: name length {name_len} in a {}-byte command",
            body.len()
        )));
    }
    Ok((body.slice(1..name_end), body.slice(name_end..)))
}

/// Appends a command frame: header, name length, name, then each data part in order.
/// `name` must be 1 to 255 bytes (all callers pass constants).
pub(crate) fn encode_command(dst: &mut BytesMut, name: &[u8], data: &[&[u8]]) {
    let name = name.get(..255).unwrap_or(name);
    let size = 1 + name.len() + data.iter().map(|d| d.len()).sum::<usize>();
    dst.reserve(size + super::frame::MAX_HEADER_LEN);
    encode_header(dst, FLAG_COMMAND, size);
    dst.put_u8(name.len() as u8);
    dst.put_slice(name);
    for part in data {
        dst.put_slice(part);
    }
}

/// Appends READY with the given properties, in order (see [`metadata::encode`] for the
/// properties it skips).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn encode_ready(dst: &mut BytesMut, properties: &[(&str, &[u8])]) {
    let size = 1 + READY.len() + metadata::encoded_len(properties);
    dst.reserve(size + super::frame::MAX_HEADER_LEN);
    encode_header(dst, FLAG_COMMAND, size);
    dst.put_u8(READY.len() as u8);
    dst.put_slice(READY);
    metadata::encode(dst, properties);
}

/// Appends ERROR. A reason over 255 bytes is cut at the last character boundary that fits.
pub(crate) fn encode_error(dst: &mut BytesMut, reason: &str) {
    let mut end = reason.len().min(MAX_ERROR_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = reason.as_bytes().get(..end).unwrap_or_default();
    encode_command(dst, ERROR, &[&[reason.len() as u8], reason]);
}

/// Appends SUBSCRIBE for `topic`.
pub(crate) fn encode_subscribe(dst: &mut BytesMut, topic: &[u8]) {
    encode_command(dst, SUBSCRIBE, &[topic]);
}

/// Appends CANCEL for `topic`.
pub(crate) fn encode_cancel(dst: &mut BytesMut, topic: &[u8]) {
    encode_command(dst, CANCEL, &[topic]);
}

/// Appends PING with a TTL in deciseconds and at most the first 16 bytes of `context`.
pub(crate) fn encode_ping(dst: &mut BytesMut, ttl_deciseconds: u16, context: &[u8]) {
    let context = context.get(..MAX_PING_CONTEXT).unwrap_or(context);
    encode_command(dst, PING, &[&ttl_deciseconds.to_be_bytes(), context]);
}

/// Appends PONG echoing at most the first 16 bytes of `context` (libzmq truncates too).
pub(crate) fn encode_pong(dst: &mut BytesMut, context: &[u8]) {
    let context = context.get(..MAX_PING_CONTEXT).unwrap_or(context);
    encode_command(dst, PONG, &[context]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    /// Decodes a complete command frame (short or long header).
    fn decode_frame(frame: &[u8]) -> Command {
        let header = super::super::frame::decode_header(frame).unwrap().unwrap();
        assert!(header.is_command());
        assert_eq!(header.header_len + header.size, frame.len());
        Command::decode(Bytes::copy_from_slice(&frame[header.header_len..])).unwrap()
    }

    #[test]
    fn ready_is_byte_exact_for_pub() {
        let got = bytes(|b| encode_ready(b, &[("Socket-Type", b"PUB")]));
        let expected = [
            0x04, 0x19, 0x05, 0x52, 0x45, 0x41, 0x44, 0x59, 0x0b, 0x53, 0x6f, 0x63, 0x6b, 0x65,
            0x74, 0x2d, 0x54, 0x79, 0x70, 0x65, 0x00, 0x00, 0x00, 0x03, 0x50, 0x55, 0x42,
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn ready_is_byte_exact_for_req_with_empty_identity() {
        let got = bytes(|b| encode_ready(b, &[("Socket-Type", b"REQ"), ("Identity", b"")]));
        let mut expected = vec![0x04, 0x26, 0x05];
        expected.extend_from_slice(b"READY\x0bSocket-Type\x00\x00\x00\x03REQ");
        expected.extend_from_slice(b"\x08Identity\x00\x00\x00\x00");
        assert_eq!(got, expected);
    }

    #[test]
    fn dealer_ready_is_the_rfc_worked_example() {
        let got = bytes(|b| encode_ready(b, &[("Socket-Type", b"DEALER"), ("Identity", b"")]));
        assert_eq!(&got[..2], [0x04, 0x29]);
        assert_eq!(got.len() - 2, 41);
        let Command::Ready(data) = decode_frame(&got) else {
            panic!("not READY");
        };
        assert_eq!(
            metadata::parse_owned(&data).unwrap(),
            [
                ("Socket-Type".into(), Bytes::from_static(b"DEALER")),
                ("Identity".into(), Bytes::new()),
            ]
        );
    }

    #[test]
    fn subscription_commands_are_byte_exact() {
        assert_eq!(
            bytes(|b| encode_subscribe(b, b"A")),
            b"\x04\x0b\x09SUBSCRIBE\x41"
        );
        assert_eq!(bytes(|b| encode_cancel(b, b"A")), b"\x04\x08\x06CANCEL\x41");
        assert_eq!(
            decode_frame(b"\x04\x0b\x09SUBSCRIBE\x41"),
            Command::Subscribe(Bytes::from_static(b"A"))
        );
        assert_eq!(
            decode_frame(b"\x04\x08\x06CANCEL\x41"),
            Command::Cancel(Bytes::from_static(b"A"))
        );
        assert_eq!(
            decode_frame(b"\x04\x0a\x09SUBSCRIBE"),
            Command::Subscribe(Bytes::new())
        );
    }

    #[test]
    fn heartbeats_are_byte_exact() {
        assert_eq!(
            bytes(|b| encode_ping(b, 100, b"")),
            [0x04, 0x07, 0x04, 0x50, 0x49, 0x4e, 0x47, 0x00, 0x64]
        );
        assert_eq!(
            bytes(|b| encode_pong(b, b"")),
            [0x04, 0x05, 0x04, 0x50, 0x4f, 0x4e, 0x47]
        );
        assert_eq!(
            decode_frame(&[0x04, 0x07, 0x04, 0x50, 0x49, 0x4e, 0x47, 0x00, 0x64]),
            Command::Ping {
                ttl: 100,
                context: Bytes::new()
            }
        );
        // Context is cut to 16 bytes on the way out.
        let long = [7u8; 40];
        let ping = bytes(|b| encode_ping(b, 0xabcd, &long));
        assert_eq!(ping.len(), 2 + 5 + 2 + 16);
        assert_eq!(
            decode_frame(&ping),
            Command::Ping {
                ttl: 0xabcd,
                context: Bytes::copy_from_slice(&long[..16])
            }
        );
        let pong = bytes(|b| encode_pong(b, &long));
        assert_eq!(
            decode_frame(&pong),
            Command::Pong(Bytes::copy_from_slice(&long[..16]))
        );
    }

    #[test]
    fn error_reason_is_length_prefixed_and_truncated() {
        assert_eq!(
            bytes(|b| encode_error(b, "400")),
            b"\x04\x0a\x05ERROR\x03400"
        );
        let long = "x".repeat(300);
        let frame = bytes(|b| encode_error(b, &long));
        assert_eq!(decode_frame(&frame), Command::Error("x".repeat(255)));
        // Truncation never splits a character.
        let accents = "é".repeat(200); // 400 bytes
        let frame = bytes(|b| encode_error(b, &accents));
        assert_eq!(decode_frame(&frame), Command::Error("é".repeat(127)));
        // Lenient decoding of sloppy reasons.
        assert_eq!(
            decode_frame(b"\x04\x09\x05ERROR\x09ab"),
            Command::Error("ab".into())
        );
        assert_eq!(
            decode_frame(b"\x04\x06\x05ERROR"),
            Command::Error("".into())
        );
    }

    #[test]
    fn every_command_round_trips() {
        let all = [
            Command::Ready(Bytes::from_static(b"\x03X-A\x00\x00\x00\x011")),
            Command::Error("bad".into()),
            Command::Subscribe(Bytes::from(vec![1u8; 300])),
            Command::Cancel(Bytes::from_static(b"topic")),
            Command::Ping {
                ttl: 7,
                context: Bytes::from_static(b"ctx"),
            },
            Command::Pong(Bytes::from_static(b"ctx")),
            Command::Unknown(Bytes::from_static(b"JOIN")),
        ];
        for cmd in all {
            let frame = bytes(|b| cmd.encode(b));
            assert_eq!(decode_frame(&frame), cmd, "{}", cmd.name());
        }
    }

    #[test]
    fn malformed_commands_are_rejected() {
        for body in [
            &b""[..],
            b"\x00",
            b"\x00READY",
            b"\x06READY",
            b"\x04PIN",
            b"\x04PING",
            b"\x04PING\x01",
        ] {
            let got = Command::decode(Bytes::copy_from_slice(body));
            assert!(matches!(got, Err(Error::Protocol(_))), "{body:?}: {got:?}");
        }
    }

    #[test]
    fn unknown_and_wrong_case_names_are_unknown() {
        assert_eq!(
            Command::decode(Bytes::from_static(b"\x05ready")).unwrap(),
            Command::Unknown(Bytes::from_static(b"ready"))
        );
        let cmd = Command::decode(Bytes::from_static(b"\x04JOIN\x01\x02")).unwrap();
        assert_eq!(cmd.name(), "JOIN");
    }
}
