//! PLAIN (ZeroMQ RFC 24): a user name and password sent in clear, checked by the server
//! through ZAP.
//!
//! ```text
//!   client                                 server
//!   HELLO username password  ───────────▶  (asks ZAP)
//!                            ◀───────────  WELCOME        or ERROR "400"
//!   INITIATE metadata        ───────────▶
//!                            ◀───────────  READY metadata
//! ```
//!
//! As libzmq does, the server sends WELCOME only once ZAP accepted the credentials, and
//! it answers INITIATE with READY; the client may send messages once READY is in.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Progress, ZapRequest};
use crate::error::{Error, Result};
use crate::zmtp::command::{encode_command, READY};

/// Name of the client's first command.
pub(crate) const HELLO: &[u8] = b"HELLO";
/// Name of the server's answer to an accepted HELLO.
pub(crate) const WELCOME: &[u8] = b"WELCOME";
/// Name of the client's command that carries its metadata.
pub(crate) const INITIATE: &[u8] = b"INITIATE";

/// Longest user name or password PLAIN can carry (one length byte).
pub(crate) const MAX_CREDENTIAL_LEN: usize = 255;

/// An error for a command that does not belong where it came.
pub(super) fn unexpected(name: &[u8], expected: &str) -> Error {
    Error::Protocol(format!(
        "expected {expected} from the peer, got {}",
        name.escape_ascii()
    ))
}

/// Appends the PLAIN HELLO for `username` and `password` (each cut to 255 bytes).
pub(crate) fn encode_hello(out: &mut BytesMut, username: &[u8], password: &[u8]) {
    let username = username.get(..MAX_CREDENTIAL_LEN).unwrap_or(username);
    let password = password.get(..MAX_CREDENTIAL_LEN).unwrap_or(password);
    let mut data = BytesMut::with_capacity(2 + username.len() + password.len());
    data.put_u8(username.len() as u8);
    data.put_slice(username);
    data.put_u8(password.len() as u8);
    data.put_slice(password);
    encode_command(out, HELLO, &[&data]);
    // The buffer held the password: wipe it before it is freed.
    zeroize::Zeroize::zeroize(&mut data[..]);
}

/// Parses HELLO's data into user name and password, as strictly as libzmq: each is a
/// length byte and that many bytes, and nothing may follow the password.
fn parse_hello(data: &Bytes) -> Result<(Bytes, Bytes)> {
    let malformed = || Error::Protocol("malformed PLAIN HELLO".into());
    let user_len = usize::from(*data.first().ok_or_else(malformed)?);
    let user_end = 1 + user_len;
    let pass_len = usize::from(*data.get(user_end).ok_or_else(malformed)?);
    let pass_start = user_end + 1;
    if data.len() != pass_start + pass_len {
        return Err(malformed());
    }
    Ok((data.slice(1..user_end), data.slice(pass_start..)))
}

/// Where a PLAIN client stands.
#[derive(Debug)]
enum ClientState {
    /// HELLO is out; the server's WELCOME is awaited.
    ExpectWelcome,
    /// INITIATE is out; the server's READY is awaited.
    ExpectReady,
}

/// The client side of PLAIN.
#[derive(Debug)]
pub(crate) struct PlainClient {
    state: ClientState,
}

impl PlainClient {
    /// Queues HELLO with the credentials.
    pub(crate) fn start(out: &mut BytesMut, username: &[u8], password: &[u8]) -> Self {
        encode_hello(out, username, password);
        PlainClient {
            state: ClientState::ExpectWelcome,
        }
    }

    /// Handles one command from the server.
    pub(crate) fn on_command(
        &mut self,
        name: &[u8],
        data: Bytes,
        out: &mut BytesMut,
        metadata: &[u8],
    ) -> Result<Progress> {
        match self.state {
            ClientState::ExpectWelcome if name == WELCOME => {
                if !data.is_empty() {
                    return Err(Error::Protocol("malformed PLAIN WELCOME".into()));
                }
                encode_command(out, INITIATE, &[metadata]);
                self.state = ClientState::ExpectReady;
                Ok(Progress::Pending)
            }
            ClientState::ExpectWelcome => Err(unexpected(name, "WELCOME")),
            ClientState::ExpectReady if name == READY => Ok(Progress::Done {
                metadata: data,
                cipher: None,
            }),
            ClientState::ExpectReady => Err(unexpected(name, "READY")),
        }
    }
}

/// Where a PLAIN server stands.
#[derive(Debug)]
enum ServerState {
    /// Nothing from the client yet.
    ExpectHello,
    /// HELLO was handed to ZAP; its answer is awaited.
    WaitZap,
    /// WELCOME is out; the client's INITIATE is awaited.
    ExpectInitiate,
}

/// The server side of PLAIN.
#[derive(Debug)]
pub(crate) struct PlainServer {
    state: ServerState,
}

impl PlainServer {
    /// A server waiting for HELLO.
    pub(crate) fn new() -> Self {
        PlainServer {
            state: ServerState::ExpectHello,
        }
    }

    /// Handles one command from the client.
    pub(crate) fn on_command(
        &mut self,
        name: &[u8],
        data: Bytes,
        out: &mut BytesMut,
        metadata: &[u8],
    ) -> Result<Progress> {
        match self.state {
            ServerState::ExpectHello if name == HELLO => {
                let (username, password) = parse_hello(&data)?;
                self.state = ServerState::WaitZap;
                Ok(Progress::Zap(ZapRequest {
                    mechanism: "PLAIN",
                    credentials: vec![username, password],
                }))
            }
            ServerState::ExpectHello => Err(unexpected(name, "HELLO")),
            ServerState::WaitZap => Err(Error::Protocol(
                "PLAIN command decoded while a ZAP answer is awaited".into(),
            )),
            ServerState::ExpectInitiate if name == INITIATE => {
                encode_command(out, READY, &[metadata]);
                Ok(Progress::Done {
                    metadata: data,
                    cipher: None,
                })
            }
            ServerState::ExpectInitiate => Err(unexpected(name, "INITIATE")),
        }
    }

    /// ZAP accepted the credentials: queue WELCOME.
    pub(crate) fn on_zap_accepted(&mut self, out: &mut BytesMut) -> Result<Progress> {
        if !matches!(self.state, ServerState::WaitZap) {
            return Err(Error::Protocol(
                "ZAP answer without a pending request".into(),
            ));
        }
        encode_command(out, WELCOME, &[]);
        self.state = ServerState::ExpectInitiate;
        Ok(Progress::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(frame: &[u8]) -> Bytes {
        // Short command frames only: flags, size, body.
        assert_eq!(frame[0], 0x04);
        assert_eq!(usize::from(frame[1]), frame.len() - 2);
        Bytes::copy_from_slice(&frame[2..])
    }

    #[test]
    fn hello_and_welcome_are_byte_exact() {
        let mut out = BytesMut::new();
        let _client = PlainClient::start(&mut out, b"admin", b"secret");
        assert_eq!(
            &out[..],
            b"\x04\x13\x05HELLO\x05admin\x06secret",
            "RFC 24 / ZMTP-NOTES example"
        );
        let mut server = PlainServer::new();
        let body = body_of(&out);
        let (name, data) = crate::zmtp::command::split(&body).unwrap();
        let mut reply = BytesMut::new();
        let progress = server.on_command(&name, data, &mut reply, b"").unwrap();
        let Progress::Zap(request) = progress else {
            panic!("expected a ZAP request, got {progress:?}");
        };
        assert_eq!(request.mechanism, "PLAIN");
        assert_eq!(
            request.credentials,
            vec![Bytes::from("admin"), Bytes::from("secret")]
        );
        assert!(reply.is_empty(), "nothing is sent before ZAP answers");
        server.on_zap_accepted(&mut reply).unwrap();
        assert_eq!(&reply[..], b"\x04\x08\x07WELCOME");
    }

    #[test]
    fn hello_lengths_must_match_exactly() {
        for bad in [
            &b""[..],
            b"\x05adm",
            b"\x05admin",
            b"\x05admin\x06secre",
            b"\x05admin\x06secrets",
        ] {
            assert!(
                parse_hello(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
        let (u, p) = parse_hello(&Bytes::from_static(b"\x00\x00")).unwrap();
        assert!(u.is_empty() && p.is_empty());
    }

    #[test]
    fn a_welcome_with_data_is_refused() {
        let mut out = BytesMut::new();
        let mut client = PlainClient::start(&mut out, b"u", b"p");
        let err = client
            .on_command(WELCOME, Bytes::from_static(b"x"), &mut out, b"")
            .unwrap_err();
        assert!(matches!(err, Error::Protocol(_)));
    }

    #[test]
    fn commands_out_of_order_are_refused() {
        let mut out = BytesMut::new();
        let mut client = PlainClient::start(&mut out, b"u", b"p");
        assert!(client
            .on_command(READY, Bytes::new(), &mut out, b"")
            .is_err());
        let mut server = PlainServer::new();
        assert!(server
            .on_command(INITIATE, Bytes::new(), &mut out, b"")
            .is_err());
        assert!(server.on_zap_accepted(&mut out).is_err());
    }
}
