//! The 64-byte ZMTP 3.x greeting.
//!
//! ```text
//! offset  0      ff          signature start
//!         1..9   padding     never interpreted (libzmq puts identity length + 1 there)
//!         9      7f          signature end (only its low bit is checked, as libzmq does)
//!         10     major       3 or more
//!         11     minor       0 = ZMTP 3.0, 1 = ZMTP 3.1
//!         12..32 mechanism   ASCII name, right-padded with zeros
//!         32     as-server   ignored (libzmq neither sets nor reads it)
//!         33..64 filler      ignored
//! ```
//!
//! We send the whole greeting at once, advertising 3.1 and NULL. We accept any major version
//! of 3 or more, and fail as soon as the received prefix shows a peer we cannot talk to,
//! without waiting for all 64 bytes.

use crate::error::{Error, Result};

/// Length of a ZMTP 3.x greeting.
pub(crate) const GREETING_LEN: usize = 64;

/// Length of the mechanism field.
pub(crate) const MECHANISM_LEN: usize = 20;

/// Offset of the major version byte.
const MAJOR_OFFSET: usize = 10;
/// Offset of the minor version byte.
const MINOR_OFFSET: usize = 11;
/// Offset of the mechanism field.
const MECHANISM_OFFSET: usize = 12;
/// Offset of the as-server byte.
const AS_SERVER_OFFSET: usize = 32;

/// The ZMTP major version we speak.
pub(crate) const OUR_MAJOR: u8 = 3;
/// The ZMTP minor version we speak (3.1).
pub(crate) const OUR_MINOR: u8 = 1;

/// The NULL mechanism as it appears in the greeting.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) const NULL_MECHANISM: [u8; MECHANISM_LEN] = mechanism(b"NULL");

/// A mechanism name padded with zeros to the greeting's 20 bytes.
pub(crate) const fn mechanism(name: &[u8]) -> [u8; MECHANISM_LEN] {
    let mut out = [0u8; MECHANISM_LEN];
    let mut i = 0;
    while i < name.len() && i < MECHANISM_LEN {
        out[i] = name[i];
        i += 1;
    }
    out
}

/// A greeting: ours to send, or the peer's as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Greeting {
    /// Major version (3 for ZMTP 3.x).
    pub(crate) major: u8,
    /// Minor version (0 for ZMTP 3.0, 1 for 3.1).
    pub(crate) minor: u8,
    /// Mechanism name, right-padded with zeros.
    pub(crate) mechanism: [u8; MECHANISM_LEN],
    /// The as-server byte, kept for completeness; nothing depends on it.
    pub(crate) as_server: bool,
}

impl Greeting {
    /// The greeting we send with the NULL mechanism: ZMTP 3.1, not as-server.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn ours() -> Self {
        Self::ours_with(NULL_MECHANISM, false)
    }

    /// The greeting we send: ZMTP 3.1 with `mechanism` (padded), and the as-server byte set
    /// for the server role of PLAIN and CURVE.
    pub(crate) fn ours_with(mechanism: [u8; MECHANISM_LEN], as_server: bool) -> Self {
        Greeting {
            major: OUR_MAJOR,
            minor: OUR_MINOR,
            mechanism,
            as_server,
        }
    }

    /// The 64 bytes on the wire, with zero padding and filler.
    pub(crate) fn to_bytes(self) -> [u8; GREETING_LEN] {
        let mut out = [0u8; GREETING_LEN];
        out[0] = 0xff;
        out[9] = 0x7f;
        out[MAJOR_OFFSET] = self.major;
        out[MINOR_OFFSET] = self.minor;
        out[MECHANISM_OFFSET..AS_SERVER_OFFSET].copy_from_slice(&self.mechanism);
        out[AS_SERVER_OFFSET] = u8::from(self.as_server);
        out
    }

    /// The minor version to act on: the one received for major 3, and 1 for any later
    /// major version (libzmq's rule: a newer peer gets the 3.1 behaviour).
    pub(crate) fn effective_minor(&self) -> u8 {
        if self.major > OUR_MAJOR {
            OUR_MINOR
        } else {
            self.minor
        }
    }

    /// Checks the peer's greeting as far as `buf` goes and parses it once complete.
    ///
    /// Returns `Ok(None)` while fewer than 64 bytes are in and nothing seen so far is wrong.
    /// Checks run in wire order, each as soon as its byte is in, so the outcome does not
    /// depend on how the bytes were chunked. The padding, as-server and filler are never
    /// looked at.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when byte 0 is not `ff` or byte 9 has its low bit clear (a ZMTP
    /// 1.0 peer), when the major version is below 3 (ZMTP 2.0 and older are not supported),
    /// or when the mechanism is not exactly `expected`.
    pub(crate) fn parse(buf: &[u8], expected: &[u8; MECHANISM_LEN]) -> Result<Option<Greeting>> {
        let not_3x = || Error::Protocol("peer does not speak ZMTP 3.x".into());
        match buf.first() {
            None => return Ok(None),
            Some(&0xff) => {}
            Some(_) => return Err(not_3x()),
        }
        match buf.get(9) {
            None => return Ok(None),
            Some(b) if b & 0x01 == 1 => {}
            Some(_) => return Err(not_3x()),
        }
        let Some(&major) = buf.get(MAJOR_OFFSET) else {
            return Ok(None);
        };
        if major < OUR_MAJOR {
            return Err(Error::Protocol(format!(
                "peer does not speak ZMTP 3.x (it announced major version {major})"
            )));
        }
        let Some(name) = buf.get(MECHANISM_OFFSET..AS_SERVER_OFFSET) else {
            return Ok(None);
        };
        if name != expected {
            return Err(Error::Protocol(format!(
                "security mechanism mismatch: we use {}, the peer uses {}",
                display_mechanism(expected),
                display_mechanism(name)
            )));
        }
        let Some(full) = buf.get(..GREETING_LEN) else {
            return Ok(None);
        };
        let mut mechanism = [0u8; MECHANISM_LEN];
        mechanism.copy_from_slice(name);
        Ok(Some(Greeting {
            major,
            minor: full.get(MINOR_OFFSET).copied().unwrap_or_default(),
            mechanism,
            as_server: full.get(AS_SERVER_OFFSET).is_some_and(|&b| b != 0),
        }))
    }
}

/// A mechanism field for error messages: the name without its zero padding, escaped.
fn display_mechanism(field: &[u8]) -> String {
    let end = field.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let name = field.get(..end).unwrap_or(field);
    if name.is_empty() {
        "an empty mechanism".into()
    } else {
        format!("{}", name.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libzmq's greeting for NULL, ZMTP 3.1, empty routing id: padding `00 .. 01`.
    fn libzmq_greeting() -> [u8; GREETING_LEN] {
        let mut g = Greeting::ours().to_bytes();
        g[8] = 0x01;
        g
    }

    fn parse(buf: &[u8]) -> Result<Option<Greeting>> {
        Greeting::parse(buf, &NULL_MECHANISM)
    }

    #[test]
    fn our_greeting_is_byte_exact() {
        let mut expected = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0x03, 0x01];
        expected.extend_from_slice(b"NULL");
        expected.extend_from_slice(&[0; 16]);
        expected.push(0x00);
        expected.extend_from_slice(&[0; 31]);
        assert_eq!(expected.len(), GREETING_LEN);
        assert_eq!(Greeting::ours().to_bytes().to_vec(), expected);
    }

    #[test]
    fn libzmq_greeting_is_accepted_at_64_bytes_only() {
        let g = libzmq_greeting();
        for cut in 0..GREETING_LEN {
            assert_eq!(parse(&g[..cut]).unwrap(), None, "cut at {cut}");
        }
        let parsed = parse(&g).unwrap().unwrap();
        assert_eq!(parsed, Greeting::ours());
        assert_eq!(parsed.effective_minor(), 1);
        // Extra bytes after the greeting are none of its business.
        let mut more = g.to_vec();
        more.extend_from_slice(&[0x04, 0x19]);
        assert!(parse(&more).unwrap().is_some());
    }

    #[test]
    fn padding_filler_and_as_server_are_never_checked() {
        let mut g = Greeting::ours().to_bytes();
        g[1..9].copy_from_slice(b"garbage!");
        g[32] = 0x01;
        g[33..].fill(0xaa);
        let parsed = parse(&g).unwrap().unwrap();
        assert!(parsed.as_server);
        // Byte 9 only needs its low bit set.
        g[9] = 0x01;
        assert!(parse(&g).unwrap().is_some());
    }

    #[test]
    fn bad_signature_is_rejected_early() {
        assert!(matches!(parse(&[0x00]), Err(Error::Protocol(_))));
        let mut g = Greeting::ours().to_bytes();
        g[9] = 0x7e; // a ZMTP 1.0 flags byte
        assert_eq!(parse(&g[..9]).unwrap(), None);
        let err = parse(&g[..10]).unwrap_err().to_string();
        assert!(err.contains("does not speak ZMTP 3.x"), "{err}");
    }

    #[test]
    fn old_major_versions_are_rejected_after_eleven_bytes() {
        for major in [0u8, 1, 2] {
            let mut g = Greeting::ours().to_bytes();
            g[10] = major;
            assert_eq!(parse(&g[..10]).unwrap(), None);
            let err = parse(&g[..11]).unwrap_err().to_string();
            assert!(err.contains("does not speak ZMTP 3.x"), "{err}");
        }
    }

    #[test]
    fn newer_versions_are_accepted() {
        let mut g = Greeting::ours().to_bytes();
        g[10] = 4;
        g[11] = 0;
        let parsed = parse(&g).unwrap().unwrap();
        assert_eq!(
            (parsed.major, parsed.minor, parsed.effective_minor()),
            (4, 0, 1)
        );
        g[10] = 3;
        assert_eq!(parse(&g).unwrap().unwrap().effective_minor(), 0);
    }

    #[test]
    fn other_mechanisms_are_rejected_naming_both() {
        let mut g = Greeting::ours().to_bytes();
        g[12..32].copy_from_slice(&mechanism(b"PLAIN"));
        assert_eq!(parse(&g[..31]).unwrap(), None);
        let err = parse(&g[..32]).unwrap_err().to_string();
        assert!(err.contains("NULL") && err.contains("PLAIN"), "{err}");
        // "NULL" followed by anything but zeros is not NULL.
        g[12..32].copy_from_slice(&mechanism(b"NULLX"));
        assert!(parse(&g).is_err());
        g[12..32].fill(0);
        let err = parse(&g).unwrap_err().to_string();
        assert!(err.contains("empty mechanism"), "{err}");
    }
}
