//! Fuzz bodies for the PLAIN and CURVE handshakes, one per mechanism and role.
//!
//! Random bytes almost never get past a CURVE box, so the body does not feed them raw: it
//! runs our connection in the role under test (the victim) against an honest peer of the
//! other role, carries bytes between them as the engine would, and lets the input tamper
//! with the peer's stream: its first two bytes (little-endian) pick an offset in what the
//! peer sends, the third is XORed into the byte there, and the rest is appended raw once
//! the honest exchange is over (a hostile tail after the handshake, or in its middle when
//! the handshake stalls). ZAP requests are answered at once: accepted, or refused with 400
//! when the XOR byte is `ff`. The honest peer sends a multipart message and a PING once it
//! is ready, so MESSAGE decoding runs too.
//!
//! After every round the victim's bounds are asserted, and a broken one is a panic for the
//! fuzzer to report: undecoded input of at most one frame within the limits plus one read;
//! output of at most what an honest handshake and the owed commands take.

use bytes::Bytes;
use zeroize::Zeroizing;

use super::connection::{Connection, ConnectionConfig, Event};
use super::frame;
use super::mechanism::{MechanismConfig, ZapReply};
use crate::keys::CurveSecretKey;
use crate::message::Message;
use crate::socket_type::SocketType;

/// The role the fuzz body plays our connection in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// PLAIN server, against a PLAIN client.
    PlainServer,
    /// PLAIN client, against a PLAIN server.
    PlainClient,
    /// CURVE server (asking ZAP), against a CURVE client.
    CurveServer,
    /// CURVE client, against a CURVE server.
    CurveClient,
}

/// Message size limit of the victim.
const MAX_MSG: usize = 1 << 20;
/// Bytes handed to the victim at a time, as a read would.
const READ: usize = 4096;
/// Rounds of carrying bytes before the body gives up (an honest exchange takes 4).
const ROUNDS: usize = 32;

fn secret(fill: u8) -> [u8; 32] {
    [fill; 32]
}

fn public(fill: u8) -> [u8; 32] {
    *CurveSecretKey::from_bytes(secret(fill))
        .public_key()
        .as_bytes()
}

fn configs(role: Role) -> (ConnectionConfig, ConnectionConfig) {
    let (server_secret, client_secret) = (0x53, 0x43);
    let plain_client = || MechanismConfig::PlainClient {
        username: Bytes::from_static(b"fuzzer"),
        password: Zeroizing::new(b"secret".to_vec()),
    };
    let curve_client = || MechanismConfig::CurveClient {
        server_public: public(server_secret),
        public: public(client_secret),
        secret: Zeroizing::new(secret(client_secret)),
    };
    let curve_server = || MechanismConfig::CurveServer {
        secret: Zeroizing::new(secret(server_secret)),
    };
    let make = |t: SocketType, mechanism: MechanismConfig, zap: bool| ConnectionConfig {
        mechanism,
        zap,
        max_msg_size: Some(MAX_MSG),
        ..ConnectionConfig::new(t)
    };
    let server = |m| make(SocketType::Router, m, true);
    let client = |m| make(SocketType::Dealer, m, false);
    match role {
        Role::PlainServer => (server(MechanismConfig::PlainServer), client(plain_client())),
        Role::PlainClient => (client(plain_client()), server(MechanismConfig::PlainServer)),
        Role::CurveServer => (server(curve_server()), client(curve_client())),
        Role::CurveClient => (client(curve_client()), server(curve_server())),
    }
}

/// All of a connection's pending output.
fn drain_output(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.has_output() {
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = conn.output_slices(&mut slices);
        let before = out.len();
        for s in slices.iter().take(n) {
            out.extend_from_slice(s);
        }
        conn.advance_output(out.len() - before);
    }
    out
}

/// Polls every event; answers ZAP; returns false once the connection failed. `ready`
/// is set when the handshake finished.
fn poll(conn: &mut Connection, refuse: bool, ready: &mut bool) -> bool {
    loop {
        match conn.poll_event() {
            Ok(None) => return true,
            Ok(Some(Event::Zap(_))) => {
                let reply = ZapReply {
                    status_code: if refuse { 400 } else { 200 },
                    user_id: Bytes::from_static(b"fuzz-user"),
                    metadata: Bytes::new(),
                };
                if conn.zap_reply(reply).is_err() {
                    return false;
                }
            }
            Ok(Some(Event::Ready(_))) => *ready = true,
            Ok(Some(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Asserts the victim's bounds.
fn check_bounds(victim: &Connection) {
    let max_frame = MAX_MSG.max(frame::MIN_COMMAND_LIMIT)
        + frame::MAX_HEADER_LEN
        + super::mechanism::MESSAGE_OVERHEAD;
    assert!(
        victim.input_len() <= max_frame + READ,
        "undecoded input of {} bytes",
        victim.input_len()
    );
}

/// Feeds `bytes` to the victim as reads of at most [`READ`] bytes while it wants input,
/// polling after each; what it does not take is dropped (the engine would stop reading).
fn feed(victim: &mut Connection, bytes: &[u8], refuse: bool, ready: &mut bool) -> bool {
    for chunk in bytes.chunks(READ) {
        if !victim.wants_read() {
            return false;
        }
        victim.feed(chunk);
        let alive = poll(victim, refuse, ready);
        check_bounds(victim);
        if !alive {
            return false;
        }
    }
    true
}

/// The fuzz body: see the module documentation.
pub(crate) fn fuzz_mechanism(role: Role, data: &[u8]) {
    let (flip_at, xor, tail) = match data {
        [lo, hi, x, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), *x, rest),
        _ => (usize::MAX, 0, data),
    };
    let refuse = xor == 0xff;
    let (victim_config, peer_config) = configs(role);
    let mut victim = Connection::new(victim_config);
    let mut peer = Connection::new(peer_config);
    let (mut victim_ready, mut peer_ready, mut peer_sent) = (false, false, false);
    let mut offset = 0usize;
    let mut tail_fed = false;
    for _ in 0..ROUNDS {
        let mut to_victim = drain_output(&mut peer);
        if let Some(b) = flip_at
            .checked_sub(offset)
            .and_then(|at| to_victim.get_mut(at))
        {
            *b ^= xor;
        }
        offset = offset.saturating_add(to_victim.len());
        let to_peer = drain_output(&mut victim);
        let moved = !to_victim.is_empty() || !to_peer.is_empty();
        if !feed(&mut victim, &to_victim, refuse, &mut victim_ready) {
            return;
        }
        peer.feed(&to_peer);
        if !poll(&mut peer, false, &mut peer_ready) {
            // The peer gave up (it saw our tampering reflected back): the victim gets the
            // rest of the input anyway.
            let _ = feed(&mut victim, tail, refuse, &mut victim_ready);
            return;
        }
        if peer_ready && !peer_sent {
            peer.send_message(&Message::from(["fuzz", "", "frames"]));
            peer.send_ping(10, b"fuzz");
            peer_sent = true;
            continue;
        }
        if !moved && !peer.has_output() {
            if tail_fed {
                return;
            }
            tail_fed = true;
            if !feed(&mut victim, tail, refuse, &mut victim_ready) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untampered_runs_complete_the_handshake_in_every_role() {
        for role in [
            Role::PlainServer,
            Role::PlainClient,
            Role::CurveServer,
            Role::CurveClient,
        ] {
            let (victim_config, peer_config) = configs(role);
            let mut victim = Connection::new(victim_config);
            let mut peer = Connection::new(peer_config);
            let (mut a, mut b) = (false, false);
            for _ in 0..8 {
                let v = drain_output(&mut victim);
                let p = drain_output(&mut peer);
                victim.feed(&p);
                peer.feed(&v);
                assert!(poll(&mut victim, false, &mut a), "{role:?}");
                assert!(poll(&mut peer, false, &mut b), "{role:?}");
            }
            assert!(a && b, "{role:?}: handshake done on both sides");
            fuzz_mechanism(role, &[]);
            fuzz_mechanism(role, &[0xff, 0xff, 0, 1, 2, 3]);
        }
    }

    #[test]
    fn the_fuzz_corpus_replays_without_panics() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        for (target, role) in [
            ("plain_server", Role::PlainServer),
            ("plain_client", Role::PlainClient),
            ("curve_server", Role::CurveServer),
            ("curve_client", Role::CurveClient),
        ] {
            let files: Vec<_> = std::fs::read_dir(dir.join(target))
                .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
                .map(|entry| entry.unwrap().path())
                .collect();
            assert!(files.len() >= 8, "{target} has a seed corpus");
            for file in files {
                fuzz_mechanism(role, &std::fs::read(&file).unwrap());
            }
        }
    }

    #[test]
    fn every_single_byte_flip_of_the_peer_stream_is_survived() {
        for role in [Role::PlainServer, Role::CurveServer, Role::CurveClient] {
            for at in 0u16..700 {
                let [lo, hi] = at.to_le_bytes();
                fuzz_mechanism(role, &[lo, hi, 0x41, 0x04, 0x05, b'E', b'R', b'R']);
            }
        }
    }
}
