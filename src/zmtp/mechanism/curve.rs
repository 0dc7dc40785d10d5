//! CURVE (ZeroMQ RFC 25, with the CurveZMQ handshake of RFC 26): Curve25519 key agreement
//! and XSalsa20-Poly1305 boxes, from `dryoc`'s libsodium-compatible `crypto_box` functions.
//!
//! ```text
//!   client (C, c; C', c')                          server (S, s; S', s')
//!   HELLO    C', Box[64 zeros](C'→S)      ──────▶  opens it: the client knows S
//!            ◀──────  WELCOME  Box[S', cookie](S→C'); cookie = SecretBox[C', s'](K)
//!   INITIATE cookie, Box[C, vouch, metadata](C'→S'); vouch = Box[C', S](C→S')
//!                                         ──────▶  opens the cookie with K, then the box,
//!                                                  then the vouch: C holds c; asks ZAP
//!            ◀──────  READY    Box[metadata](S'→C')
//!   MESSAGE  Box[flags, frame] both ways, short nonces strictly increasing
//! ```
//!
//! Layouts and nonce prefixes follow libzmq byte for byte (`curve_client_tools.hpp`,
//! `curve_server.cpp`, `curve_mechanism_base.cpp`): HELLO has 72 bytes of padding; a box is
//! the 16-byte tag followed by the ciphertext; a MESSAGE goes out as a ZMTP frame with no
//! flags, and its plaintext starts with a flags byte where `0x01` is MORE and `0x02` marks
//! a command (SUBSCRIBE, CANCEL, PING and PONG travel inside MESSAGE too).
//!
//! The server keeps no secret of the client's between WELCOME and INITIATE: C' and s' go
//! into the cookie, sealed with a key made fresh for each WELCOME, and come back out of it.
//! An INITIATE with another connection's cookie does not open.

use bytes::{BufMut, Bytes, BytesMut};
use dryoc::classic::crypto_box::{
    crypto_box_beforenm, crypto_box_detached_afternm_inplace,
    crypto_box_open_detached_afternm_inplace,
};
use zeroize::Zeroizing;

use super::plain::{unexpected, HELLO, INITIATE, WELCOME};
use super::{Progress, ZapRequest, KEY_LEN};
use crate::error::{Error, Result};
use crate::keys::public_of;
use crate::zmtp::command::{encode_command, READY};
use crate::zmtp::frame::encode_header;

/// Bytes of a box beyond its plaintext: the Poly1305 tag.
const TAG_LEN: usize = 16;
/// Bytes of a short nonce on the wire (the counter).
const SHORT_NONCE_LEN: usize = 8;
/// Bytes of a long nonce on the wire (random).
const LONG_NONCE_LEN: usize = 16;
/// HELLO's data after its name: version, padding, C', short nonce, box of 64 zeros.
const HELLO_DATA_LEN: usize = 2 + HELLO_PADDING + KEY_LEN + SHORT_NONCE_LEN + 64 + TAG_LEN;
/// Zero bytes in HELLO that make it as large as WELCOME (RFC 26's grammar and libzmq).
const HELLO_PADDING: usize = 72;
/// WELCOME's data after its name: long nonce and box of S' and the cookie.
const WELCOME_DATA_LEN: usize = LONG_NONCE_LEN + KEY_LEN + COOKIE_LEN + TAG_LEN;
/// The cookie: its long nonce and a secret box of C' and s'.
const COOKIE_LEN: usize = LONG_NONCE_LEN + 2 * KEY_LEN + TAG_LEN;
/// The vouch inside INITIATE: its long nonce and a box of C' and S.
const VOUCH_LEN: usize = LONG_NONCE_LEN + 2 * KEY_LEN + TAG_LEN;
/// INITIATE's smallest data after its name: cookie, short nonce, box of C and the vouch.
const MIN_INITIATE_DATA_LEN: usize = COOKIE_LEN + SHORT_NONCE_LEN + TAG_LEN + KEY_LEN + VOUCH_LEN;
/// READY's smallest data after its name: short nonce and an empty box.
const MIN_READY_DATA_LEN: usize = SHORT_NONCE_LEN + TAG_LEN;
/// MESSAGE's name as it starts the frame body.
const MESSAGE_NAME: &[u8] = b"\x07MESSAGE";
/// Bytes of a MESSAGE frame body beyond the frame it carries: name, short nonce, tag and
/// the flags byte.
pub(crate) const MESSAGE_OVERHEAD: usize = MESSAGE_NAME.len() + SHORT_NONCE_LEN + TAG_LEN + 1;
/// Flag in a MESSAGE's plaintext: more frames follow.
pub(crate) const MESSAGE_MORE: u8 = 0x01;
/// Flag in a MESSAGE's plaintext: the frame is a command.
pub(crate) const MESSAGE_COMMAND: u8 = 0x02;

const HELLO_PREFIX: &[u8; 16] = b"CurveZMQHELLO---";
const WELCOME_PREFIX: &[u8; 8] = b"WELCOME-";
const COOKIE_PREFIX: &[u8; 8] = b"COOKIE--";
const INITIATE_PREFIX: &[u8; 16] = b"CurveZMQINITIATE";
const VOUCH_PREFIX: &[u8; 8] = b"VOUCH---";
const READY_PREFIX: &[u8; 16] = b"CurveZMQREADY---";
const CLIENT_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGEC";
const SERVER_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGES";

/// The 24-byte nonce of one box.
type Nonce = [u8; 24];

/// A Curve25519 public key as raw bytes.
type PublicKey = [u8; KEY_LEN];

/// A Curve25519 secret key, wiped when dropped.
type SecretKey = Zeroizing<[u8; KEY_LEN]>;

/// A nonce of a 16-byte prefix and an 8-byte big-endian counter.
fn short_nonce(prefix: &[u8; 16], counter: u64) -> Nonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(prefix);
    n[16..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// A nonce of an 8-byte prefix and 16 bytes from the wire.
fn long_nonce(prefix: &[u8; 8], tail: &[u8; LONG_NONCE_LEN]) -> Nonce {
    let mut n = [0u8; 24];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(tail);
    n
}

/// `N` bytes from the operating system's random source.
fn random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|e| Error::Io(std::io::Error::other(format!("random source: {e}"))))?;
    Ok(out)
}

/// A fresh short-term secret key.
fn ephemeral() -> Result<SecretKey> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(&mut key[..])
        .map_err(|e| Error::Io(std::io::Error::other(format!("random source: {e}"))))?;
    Ok(key)
}

/// The fixed-size array at `at` in `data`, or a protocol error naming `what`.
fn array<const N: usize>(data: &[u8], at: usize, what: &str) -> Result<[u8; N]> {
    data.get(at..at.saturating_add(N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or_else(|| Error::Protocol(format!("malformed CURVE {what}")))
}

/// An XSalsa20-Poly1305 key, wiped when dropped: either the key `crypto_box` precomputes
/// from one side's public and the other's secret Curve25519 key (libsodium's
/// `crypto_box_beforenm`), or a secret-box key used as it is. libsodium's
/// `crypto_box_afternm` and `crypto_secretbox` are the same construction, so both kinds
/// seal and open through the same two calls.
struct BoxKey(Zeroizing<[u8; KEY_LEN]>);

impl BoxKey {
    /// The precomputed key of `public` and `secret`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] naming `what` when `public` is a low-order point, whose shared
    /// secret would be all zeros (libsodium refuses it too).
    fn between(public: &PublicKey, secret: &[u8; KEY_LEN], what: &str) -> Result<Self> {
        let key = crypto_box_beforenm(public, secret)
            .map_err(|_| Error::Protocol(format!("CURVE {what}: unusable peer key")))?;
        Ok(BoxKey(Zeroizing::new(key)))
    }

    /// A secret-box key.
    fn secret(key: &[u8; KEY_LEN]) -> Self {
        BoxKey(Zeroizing::new(*key))
    }

    /// Encrypts `data` in place and returns its tag.
    fn seal(&self, nonce: &Nonce, data: &mut [u8]) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        crypto_box_detached_afternm_inplace(data, &mut tag, nonce, &self.0);
        tag
    }

    /// Checks `tag` and decrypts `data` in place; false (and `data` unusable) if the box
    /// does not open.
    fn open(&self, nonce: &Nonce, data: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        crypto_box_open_detached_afternm_inplace(data, tag, nonce, &self.0).is_ok()
    }
}

/// Appends Box[plaintext] (tag, then ciphertext) made with `key` and `nonce`.
fn seal_into<B: BufMut + AsMut<[u8]>>(out: &mut B, key: &BoxKey, nonce: &Nonce, plaintext: &[u8]) {
    let start = out.as_mut().len();
    out.put_bytes(0, TAG_LEN);
    out.put_slice(plaintext);
    seal_in_place(out.as_mut(), start, key, nonce);
}

/// Encrypts `out[start + 16..]` in place and writes the tag at `out[start..start + 16]`.
fn seal_in_place(out: &mut [u8], start: usize, key: &BoxKey, nonce: &Nonce) {
    let body = start.saturating_add(TAG_LEN);
    let Some(region) = out.get_mut(body..) else {
        return;
    };
    let tag = key.seal(nonce, region);
    if let Some(slot) = out.get_mut(start..body) {
        slot.copy_from_slice(&tag);
    }
}

/// Opens Box[...] (`boxed` is tag, then ciphertext) into a buffer wiped when dropped.
fn open(key: &BoxKey, nonce: &Nonce, boxed: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let failed = || Error::Protocol(format!("CURVE {what} box does not open"));
    let (tag, ciphertext) = boxed.split_at_checked(TAG_LEN).ok_or_else(failed)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| failed())?;
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    if !key.open(nonce, &mut plain, tag) {
        return Err(failed());
    }
    Ok(plain)
}

/// The keys and nonce counters of an established CURVE connection: every frame after the
/// handshake goes through [`CurveCipher::seal_frame`] and [`CurveCipher::open_frame`].
pub(crate) struct CurveCipher {
    /// The precomputed box key of the two short-term keys.
    key: BoxKey,
    /// Nonce prefix of what we send (`...MESSAGEC` for a client).
    ours: &'static [u8; 16],
    /// Nonce prefix of what the peer sends.
    theirs: &'static [u8; 16],
    /// The short nonce our next MESSAGE uses.
    next: u64,
    /// The highest short nonce the peer used so far (HELLO, INITIATE or READY included).
    peer: u64,
}

impl std::fmt::Debug for CurveCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveCipher")
            .field("next", &self.next)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl CurveCipher {
    /// Appends one MESSAGE frame carrying a frame made of `parts` (joined) with `flags`
    /// ([`MESSAGE_MORE`], [`MESSAGE_COMMAND`]): a ZMTP frame header without flags, the name,
    /// the short nonce, the tag and the ciphertext, encrypted in place in `out`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] once 2^64 − 1 nonces are used up (nothing is appended).
    pub(crate) fn seal_frame(
        &mut self,
        out: &mut BytesMut,
        flags: u8,
        parts: &[&[u8]],
    ) -> Result<()> {
        let nonce = self.next;
        self.next = nonce
            .checked_add(1)
            .ok_or_else(|| Error::Protocol("CURVE nonces exhausted".into()))?;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let size = MESSAGE_OVERHEAD.saturating_add(len);
        out.reserve(size.saturating_add(crate::zmtp::frame::MAX_HEADER_LEN));
        encode_header(out, 0, size);
        out.put_slice(MESSAGE_NAME);
        out.put_u64(nonce);
        let start = out.len();
        out.put_bytes(0, TAG_LEN);
        out.put_u8(flags);
        for part in parts {
            out.put_slice(part);
        }
        seal_in_place(out, start, &self.key, &short_nonce(self.ours, nonce));
        Ok(())
    }

    /// Opens a MESSAGE frame's body in place: returns the flags byte and the frame it
    /// carries (a slice of `body`).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the body is not a MESSAGE, is shorter than 33 bytes, reuses
    /// a nonce or goes back (its nonce is not above every earlier one), or fails to open.
    pub(crate) fn open_frame(&mut self, mut body: BytesMut) -> Result<(u8, Bytes)> {
        if !body.starts_with(MESSAGE_NAME) {
            return Err(Error::Protocol(
                "expected a CURVE MESSAGE from the peer".into(),
            ));
        }
        if body.len() < MESSAGE_OVERHEAD {
            return Err(Error::Protocol("malformed CURVE MESSAGE".into()));
        }
        let nonce = u64::from_be_bytes(array(&body, MESSAGE_NAME.len(), "MESSAGE")?);
        if nonce <= self.peer {
            return Err(Error::Protocol(format!(
                "CURVE MESSAGE nonce {nonce} is not above the last one, {}",
                self.peer
            )));
        }
        let tag_at = MESSAGE_NAME.len() + SHORT_NONCE_LEN;
        let tag: [u8; TAG_LEN] = array(&body, tag_at, "MESSAGE")?;
        let region = body
            .get_mut(tag_at + TAG_LEN..)
            .ok_or_else(|| Error::Protocol("malformed CURVE MESSAGE".into()))?;
        if !self
            .key
            .open(&short_nonce(self.theirs, nonce), region, &tag)
        {
            return Err(Error::Protocol("CURVE MESSAGE box does not open".into()));
        }
        self.peer = nonce;
        let body = body.freeze();
        let flags = body.get(tag_at + TAG_LEN).copied().unwrap_or_default();
        Ok((flags, body.slice(MESSAGE_OVERHEAD..)))
    }
}

/// Where a CURVE client stands.
enum ClientState {
    /// HELLO is out; WELCOME is awaited.
    ExpectWelcome,
    /// INITIATE is out; READY is awaited. Holds the short-term box key.
    ExpectReady(BoxKey),
    /// The handshake finished or failed.
    Done,
}

/// The client side of CURVE.
pub(crate) struct CurveClient {
    server: PublicKey,
    public: [u8; KEY_LEN],
    secret: SecretKey,
    /// Our short-term secret key (c').
    short: SecretKey,
    /// Our short-term public key (C').
    short_public: PublicKey,
    /// The short nonce our next command uses; HELLO takes 1, as in libzmq.
    next: u64,
    state: ClientState,
}

impl std::fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveClient")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    /// Makes a short-term key pair and queues HELLO.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the random source fails.
    pub(crate) fn start(
        out: &mut BytesMut,
        server_public: &[u8; KEY_LEN],
        public: &[u8; KEY_LEN],
        secret: &[u8; KEY_LEN],
    ) -> Result<Self> {
        let short = ephemeral()?;
        let mut client = CurveClient {
            server: *server_public,
            public: *public,
            secret: Zeroizing::new(*secret),
            short_public: public_of(&short),
            short,
            next: 1,
            state: ClientState::ExpectWelcome,
        };
        let nonce = client.take_nonce()?;
        let mut data = BytesMut::with_capacity(HELLO_DATA_LEN);
        data.put_slice(&[1, 0]);
        data.put_bytes(0, HELLO_PADDING);
        data.put_slice(&client.short_public);
        data.put_u64(nonce);
        let key = BoxKey::between(&client.server, &client.short, "server key")?;
        seal_into(
            &mut data,
            &key,
            &short_nonce(HELLO_PREFIX, nonce),
            &[0u8; 64],
        );
        encode_command(out, HELLO, &[&data]);
        Ok(client)
    }

    fn take_nonce(&mut self) -> Result<u64> {
        let n = self.next;
        self.next = n
            .checked_add(1)
            .ok_or_else(|| Error::Protocol("CURVE nonces exhausted".into()))?;
        Ok(n)
    }

    /// Handles one command from the server.
    pub(crate) fn on_command(
        &mut self,
        name: &[u8],
        data: Bytes,
        out: &mut BytesMut,
        metadata: &[u8],
    ) -> Result<Progress> {
        match std::mem::replace(&mut self.state, ClientState::Done) {
            ClientState::ExpectWelcome if name == WELCOME => {
                let key = self.on_welcome(&data, out, metadata)?;
                self.state = ClientState::ExpectReady(key);
                Ok(Progress::Pending)
            }
            ClientState::ExpectWelcome => Err(unexpected(name, "WELCOME")),
            ClientState::ExpectReady(key) if name == READY => {
                if data.len() < MIN_READY_DATA_LEN {
                    return Err(Error::Protocol("malformed CURVE READY".into()));
                }
                let nonce = u64::from_be_bytes(array(&data, 0, "READY")?);
                let boxed = data.get(SHORT_NONCE_LEN..).unwrap_or_default();
                let plain = open(&key, &short_nonce(READY_PREFIX, nonce), boxed, "READY")?;
                Ok(Progress::Done {
                    metadata: Bytes::copy_from_slice(&plain),
                    cipher: Some(CurveCipher {
                        key,
                        ours: CLIENT_MESSAGE_PREFIX,
                        theirs: SERVER_MESSAGE_PREFIX,
                        next: self.next,
                        peer: nonce,
                    }),
                })
            }
            ClientState::ExpectReady(_) => Err(unexpected(name, "READY")),
            ClientState::Done => Err(unexpected(name, "nothing")),
        }
    }

    /// Opens WELCOME, queues INITIATE, and returns the short-term box key.
    fn on_welcome(&mut self, data: &[u8], out: &mut BytesMut, metadata: &[u8]) -> Result<BoxKey> {
        if data.len() != WELCOME_DATA_LEN {
            return Err(Error::Protocol(format!(
                "malformed CURVE WELCOME of {} bytes (must be 168)",
                data.len() + 8
            )));
        }
        let welcome_nonce: [u8; LONG_NONCE_LEN] = array(data, 0, "WELCOME")?;
        let boxed = data.get(LONG_NONCE_LEN..).unwrap_or_default();
        let long_term = BoxKey::between(&self.server, &self.short, "server key")?;
        let plain = open(
            &long_term,
            &long_nonce(WELCOME_PREFIX, &welcome_nonce),
            boxed,
            "WELCOME",
        )?;
        let server_short: PublicKey = array(&plain, 0, "WELCOME")?;
        let cookie = plain.get(KEY_LEN..KEY_LEN + COOKIE_LEN).unwrap_or_default();

        // The vouch: C' and S, boxed from our long-term key to S'.
        let vouch_nonce: [u8; LONG_NONCE_LEN] = random()?;
        let mut vouch_plain = [0u8; 2 * KEY_LEN];
        vouch_plain[..KEY_LEN].copy_from_slice(&self.short_public);
        vouch_plain[KEY_LEN..].copy_from_slice(&self.server);
        let mut initiate_plain: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(
            KEY_LEN + VOUCH_LEN + metadata.len() + TAG_LEN,
        ));
        initiate_plain.put_slice(&self.public);
        initiate_plain.put_slice(&vouch_nonce);
        seal_into(
            &mut *initiate_plain,
            &BoxKey::between(&server_short, &self.secret, "WELCOME")?,
            &long_nonce(VOUCH_PREFIX, &vouch_nonce),
            &vouch_plain,
        );
        initiate_plain.put_slice(metadata);

        let key = BoxKey::between(&server_short, &self.short, "WELCOME")?;
        let nonce = self.take_nonce()?;
        let mut initiate = BytesMut::with_capacity(MIN_INITIATE_DATA_LEN + metadata.len());
        initiate.put_slice(cookie);
        initiate.put_u64(nonce);
        seal_into(
            &mut initiate,
            &key,
            &short_nonce(INITIATE_PREFIX, nonce),
            &initiate_plain,
        );
        encode_command(out, INITIATE, &[&initiate]);
        Ok(key)
    }
}

/// Where a CURVE server stands.
enum ServerState {
    /// Nothing from the client yet.
    ExpectHello,
    /// WELCOME is out. Only the cookie key and the HELLO's nonce are kept; C' and s' are
    /// inside the cookie.
    ExpectInitiate {
        cookie_key: Zeroizing<[u8; KEY_LEN]>,
        hello_nonce: u64,
    },
    /// INITIATE was good and ZAP was asked about the client; its answer is awaited.
    WaitZap {
        key: BoxKey,
        peer_nonce: u64,
        metadata: Bytes,
    },
    /// The handshake finished or failed.
    Done,
}

/// The server side of CURVE.
pub(crate) struct CurveServer {
    secret: SecretKey,
    public: PublicKey,
    /// Whether an accepted INITIATE goes to ZAP before READY.
    zap: bool,
    /// The short nonce our next command uses; READY takes 1, as in libzmq.
    next: u64,
    state: ServerState,
}

impl std::fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveServer")
            .field("zap", &self.zap)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl CurveServer {
    /// A server waiting for HELLO; with `zap`, it asks ZAP about each client's key.
    pub(crate) fn new(secret: &[u8; KEY_LEN], zap: bool) -> Self {
        CurveServer {
            public: public_of(secret),
            secret: Zeroizing::new(*secret),
            zap,
            next: 1,
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
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::ExpectHello if name == HELLO => {
                let (cookie_key, hello_nonce) = self.on_hello(&data, out)?;
                self.state = ServerState::ExpectInitiate {
                    cookie_key,
                    hello_nonce,
                };
                Ok(Progress::Pending)
            }
            ServerState::ExpectHello => Err(unexpected(name, "HELLO")),
            ServerState::ExpectInitiate {
                cookie_key,
                hello_nonce,
            } if name == INITIATE => {
                let (key, client, peer_nonce, peer_metadata) =
                    self.on_initiate(&data, &cookie_key, hello_nonce)?;
                if self.zap {
                    self.state = ServerState::WaitZap {
                        key,
                        peer_nonce,
                        metadata: peer_metadata,
                    };
                    return Ok(Progress::Zap(ZapRequest {
                        mechanism: "CURVE",
                        credentials: vec![Bytes::copy_from_slice(&client)],
                    }));
                }
                self.ready(out, key, peer_nonce, peer_metadata, metadata)
            }
            ServerState::ExpectInitiate { .. } => Err(unexpected(name, "INITIATE")),
            ServerState::WaitZap { .. } => Err(Error::Protocol(
                "CURVE command decoded while a ZAP answer is awaited".into(),
            )),
            ServerState::Done => Err(unexpected(name, "nothing")),
        }
    }

    /// ZAP accepted the client: queue READY and finish.
    pub(crate) fn on_zap_accepted(
        &mut self,
        out: &mut BytesMut,
        metadata: &[u8],
    ) -> Result<Progress> {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::WaitZap {
                key,
                peer_nonce,
                metadata: peer_metadata,
            } => self.ready(out, key, peer_nonce, peer_metadata, metadata),
            _ => Err(Error::Protocol(
                "ZAP answer without a pending request".into(),
            )),
        }
    }

    /// Opens HELLO and queues WELCOME; returns the cookie key and HELLO's nonce.
    fn on_hello(&self, data: &[u8], out: &mut BytesMut) -> Result<(Zeroizing<[u8; KEY_LEN]>, u64)> {
        if data.len() != HELLO_DATA_LEN {
            return Err(Error::Protocol(format!(
                "malformed CURVE HELLO of {} bytes (must be 200)",
                data.len() + 6
            )));
        }
        if data.get(..2) != Some(&[1, 0][..]) {
            return Err(Error::Protocol(
                "CURVE HELLO of a version other than 1.0".into(),
            ));
        }
        let at = 2 + HELLO_PADDING;
        let client_short: PublicKey = array(data, at, "HELLO")?;
        let nonce = u64::from_be_bytes(array(data, at + KEY_LEN, "HELLO")?);
        let boxed = data
            .get(at + KEY_LEN + SHORT_NONCE_LEN..)
            .unwrap_or_default();
        let long_term = BoxKey::between(&client_short, &self.secret, "HELLO")?;
        open(
            &long_term,
            &short_nonce(HELLO_PREFIX, nonce),
            boxed,
            "HELLO",
        )?;

        let short = ephemeral()?;
        let cookie_key = Zeroizing::new(random::<KEY_LEN>()?);
        let cookie_nonce: [u8; LONG_NONCE_LEN] = random()?;
        let mut cookie_plain = Zeroizing::new([0u8; 2 * KEY_LEN]);
        cookie_plain[..KEY_LEN].copy_from_slice(&client_short);
        cookie_plain[KEY_LEN..].copy_from_slice(&short[..]);
        let mut welcome_plain: Zeroizing<Vec<u8>> =
            Zeroizing::new(Vec::with_capacity(KEY_LEN + COOKIE_LEN));
        welcome_plain.put_slice(&public_of(&short));
        welcome_plain.put_slice(&cookie_nonce);
        seal_into(
            &mut *welcome_plain,
            &BoxKey::secret(&cookie_key),
            &long_nonce(COOKIE_PREFIX, &cookie_nonce),
            &cookie_plain[..],
        );
        let welcome_nonce: [u8; LONG_NONCE_LEN] = random()?;
        let mut welcome = BytesMut::with_capacity(WELCOME_DATA_LEN);
        welcome.put_slice(&welcome_nonce);
        seal_into(
            &mut welcome,
            &long_term,
            &long_nonce(WELCOME_PREFIX, &welcome_nonce),
            &welcome_plain,
        );
        encode_command(out, WELCOME, &[&welcome]);
        Ok((cookie_key, nonce))
    }

    /// Opens INITIATE (cookie, box, vouch); returns the short-term box key, the client's
    /// long-term key, INITIATE's nonce and the client's metadata.
    fn on_initiate(
        &self,
        data: &[u8],
        cookie_key: &[u8; KEY_LEN],
        hello_nonce: u64,
    ) -> Result<(BoxKey, [u8; KEY_LEN], u64, Bytes)> {
        if data.len() < MIN_INITIATE_DATA_LEN {
            return Err(Error::Protocol(format!(
                "malformed CURVE INITIATE of {} bytes (at least 257)",
                data.len() + 9
            )));
        }
        let cookie_nonce: [u8; LONG_NONCE_LEN] = array(data, 0, "INITIATE")?;
        let cookie_box = data.get(LONG_NONCE_LEN..COOKIE_LEN).unwrap_or_default();
        let cookie = open(
            &BoxKey::secret(cookie_key),
            &long_nonce(COOKIE_PREFIX, &cookie_nonce),
            cookie_box,
            "cookie",
        )?;
        let client_short: PublicKey = array(&cookie, 0, "cookie")?;
        let short: SecretKey = Zeroizing::new(array(&cookie, KEY_LEN, "cookie")?);
        let nonce = u64::from_be_bytes(array(data, COOKIE_LEN, "INITIATE")?);
        if nonce <= hello_nonce {
            return Err(Error::Protocol(format!(
                "CURVE INITIATE nonce {nonce} is not above HELLO's, {hello_nonce}"
            )));
        }
        let key = BoxKey::between(&client_short, &short, "INITIATE")?;
        let boxed = data.get(COOKIE_LEN + SHORT_NONCE_LEN..).unwrap_or_default();
        let plain = open(
            &key,
            &short_nonce(INITIATE_PREFIX, nonce),
            boxed,
            "INITIATE",
        )?;
        let client: [u8; KEY_LEN] = array(&plain, 0, "INITIATE")?;
        let vouch_nonce: [u8; LONG_NONCE_LEN] = array(&plain, KEY_LEN, "INITIATE")?;
        let vouch_box = plain
            .get(KEY_LEN + LONG_NONCE_LEN..KEY_LEN + VOUCH_LEN)
            .unwrap_or_default();
        let vouch = open(
            &BoxKey::between(&client, &short, "vouch")?,
            &long_nonce(VOUCH_PREFIX, &vouch_nonce),
            vouch_box,
            "vouch",
        )?;
        if vouch.get(..KEY_LEN) != Some(&client_short[..])
            || vouch.get(KEY_LEN..) != Some(&self.public[..])
        {
            return Err(Error::Protocol(
                "CURVE vouch is not for this connection".into(),
            ));
        }
        let metadata = Bytes::copy_from_slice(plain.get(KEY_LEN + VOUCH_LEN..).unwrap_or_default());
        Ok((key, client, nonce, metadata))
    }

    /// Queues READY with our metadata and finishes the handshake.
    fn ready(
        &mut self,
        out: &mut BytesMut,
        key: BoxKey,
        peer_nonce: u64,
        peer_metadata: Bytes,
        metadata: &[u8],
    ) -> Result<Progress> {
        let nonce = self.next;
        let mut ready = BytesMut::with_capacity(MIN_READY_DATA_LEN + metadata.len());
        ready.put_u64(nonce);
        seal_into(
            &mut ready,
            &key,
            &short_nonce(READY_PREFIX, nonce),
            metadata,
        );
        encode_command(out, READY, &[&ready]);
        Ok(Progress::Done {
            metadata: peer_metadata,
            cipher: Some(CurveCipher {
                key,
                ours: SERVER_MESSAGE_PREFIX,
                theirs: CLIENT_MESSAGE_PREFIX,
                next: nonce.saturating_add(1),
                peer: peer_nonce,
            }),
        })
    }
}
