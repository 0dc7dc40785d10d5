//! CURVE keys: the long-term key pairs of CurveZMQ (ZeroMQ RFC 26), as libzmq's
//! `zmq_curve_keypair` and `zmq_curve_public` make them.
//!
//! A key is 32 bytes, or 40 characters of [Z85](crate::z85) text. A server publishes its
//! [`CurvePublicKey`] and keeps its [`CurveSecretKey`]; a client needs the server's public
//! key and a [`CurveKeyPair`] of its own. Secret keys are wiped from memory when dropped
//! and never show in `Debug` output.
//!
//! # Examples
//!
//! ```
//! use ferromq::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
//!
//! // A fresh pair from the operating system's random source.
//! let pair = CurveKeyPair::generate()?;
//! let text = pair.public().to_z85();
//! assert_eq!(text.len(), 40);
//! assert_eq!(text.parse::<CurvePublicKey>()?, *pair.public());
//!
//! // The public key follows from the secret one.
//! let secret = CurveSecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6")?;
//! assert_eq!(secret.public_key().to_z85(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
//! # Ok::<(), ferromq::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::z85;

/// Length of a CURVE key in bytes.
pub(crate) const CURVE_KEY_LEN: usize = 32;

/// Length of a CURVE key in Z85 characters.
pub(crate) const CURVE_KEY_Z85_LEN: usize = 40;

/// The Curve25519 public key of `secret` (X25519 with the base point, the scalar clamped
/// as libsodium's `crypto_scalarmult_base` does).
pub(crate) fn public_of(secret: &[u8; CURVE_KEY_LEN]) -> [u8; CURVE_KEY_LEN] {
    let mut public = [0u8; CURVE_KEY_LEN];
    dryoc::classic::crypto_core::crypto_scalarmult_base(&mut public, secret);
    public
}

/// Decodes a 40-character Z85 key into `out`, keeping the decoded bytes wiped.
fn decode_key(text: &str, what: &str) -> Result<Zeroizing<[u8; CURVE_KEY_LEN]>> {
    if text.len() != CURVE_KEY_Z85_LEN {
        return Err(Error::InvalidKey(format!(
            "a {what} in Z85 is {CURVE_KEY_Z85_LEN} characters, got {}",
            text.len()
        )));
    }
    let decoded =
        Zeroizing::new(z85::decode(text).map_err(|e| Error::InvalidKey(format!("{what}: {e}")))?);
    let mut key = Zeroizing::new([0u8; CURVE_KEY_LEN]);
    if decoded.len() != CURVE_KEY_LEN {
        // Unreachable: 40 valid characters are 32 bytes. Kept as an error, not a panic.
        return Err(Error::InvalidKey(format!(
            "a {what} is {CURVE_KEY_LEN} bytes, got {}",
            decoded.len()
        )));
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

/// Encodes a key as Z85; 32 bytes always encode, so this cannot fail.
fn encode_key(bytes: &[u8; CURVE_KEY_LEN]) -> String {
    z85::encode(bytes).unwrap_or_default()
}

/// A CURVE public key: 32 bytes, printed as 40 Z85 characters.
///
/// `Display`, `Debug` and [`to_z85`](Self::to_z85) all give the Z85 text; `FromStr` and
/// [`from_z85`](Self::from_z85) read it back.
///
/// # Examples
///
/// ```
/// use ferromq::CurvePublicKey;
///
/// let key: CurvePublicKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".parse()?;
/// assert_eq!(key.to_string(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
/// assert_eq!(CurvePublicKey::from_bytes(*key.as_bytes()), key);
/// assert!("too short".parse::<CurvePublicKey>().is_err());
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurvePublicKey([u8; CURVE_KEY_LEN]);

impl CurvePublicKey {
    /// Makes a key from its 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; CURVE_KEY_LEN]) -> Self {
        CurvePublicKey(bytes)
    }

    /// Makes a key from a slice of raw bytes (for example a ZAP request's CURVE frame).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] if the slice is not 32 bytes long.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferromq::CurvePublicKey;
    /// assert!(CurvePublicKey::from_slice(&[7; 32]).is_ok());
    /// assert!(CurvePublicKey::from_slice(&[7; 31]).is_err());
    /// ```
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        <[u8; CURVE_KEY_LEN]>::try_from(bytes)
            .map(CurvePublicKey)
            .map_err(|_| {
                Error::InvalidKey(format!(
                    "a public key is {CURVE_KEY_LEN} bytes, got {}",
                    bytes.len()
                ))
            })
    }

    /// Reads a key from its 40 Z85 characters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] if the text is not 40 characters of valid Z85.
    pub fn from_z85(text: &str) -> Result<Self> {
        decode_key(text, "public key").map(|bytes| CurvePublicKey(*bytes))
    }

    /// The 32 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; CURVE_KEY_LEN] {
        &self.0
    }

    /// The key as 40 Z85 characters.
    pub fn to_z85(&self) -> String {
        encode_key(&self.0)
    }
}

impl fmt::Display for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CurvePublicKey")
            .field(&self.to_z85())
            .finish()
    }
}

impl FromStr for CurvePublicKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::from_z85(text)
    }
}

impl From<[u8; CURVE_KEY_LEN]> for CurvePublicKey {
    fn from(bytes: [u8; CURVE_KEY_LEN]) -> Self {
        CurvePublicKey(bytes)
    }
}

/// A CURVE secret key: 32 bytes, wiped from memory when dropped.
///
/// It has no `Display`, and its `Debug` shows only the matching public key, so a secret
/// cannot reach a log by accident. [`to_z85`](Self::to_z85) gives the text when you mean
/// to write it out (to a key file, say), in a string that is wiped on drop as well.
///
/// # Examples
///
/// ```
/// use ferromq::CurveSecretKey;
///
/// let secret = CurveSecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6")?;
/// let shown = format!("{secret:?}");
/// assert!(!shown.contains("JTKVSB"));
/// assert_eq!(secret.to_z85().as_str(), "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6");
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Clone)]
pub struct CurveSecretKey(Zeroizing<[u8; CURVE_KEY_LEN]>);

impl CurveSecretKey {
    /// Makes a key from its 32 raw bytes. The array passed in is a copy the caller still
    /// owns: wipe it yourself (for example with `zeroize`) if it must not linger.
    pub fn from_bytes(bytes: [u8; CURVE_KEY_LEN]) -> Self {
        CurveSecretKey(Zeroizing::new(bytes))
    }

    /// Makes a key from a slice of raw bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] if the slice is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; CURVE_KEY_LEN]);
        if bytes.len() != CURVE_KEY_LEN {
            return Err(Error::InvalidKey(format!(
                "a secret key is {CURVE_KEY_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        key.copy_from_slice(bytes);
        Ok(CurveSecretKey(key))
    }

    /// Reads a key from its 40 Z85 characters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] if the text is not 40 characters of valid Z85. The message
    /// never quotes the text.
    pub fn from_z85(text: &str) -> Result<Self> {
        decode_key(text, "secret key").map(CurveSecretKey)
    }

    /// The 32 raw bytes. Treat them as the secret they are.
    pub fn as_bytes(&self) -> &[u8; CURVE_KEY_LEN] {
        &self.0
    }

    /// The key as 40 Z85 characters, in a string wiped when dropped.
    pub fn to_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_key(&self.0))
    }

    /// The public key that belongs to this secret key (X25519 multiplication of the base
    /// point, as libzmq's `zmq_curve_public`).
    pub fn public_key(&self) -> CurvePublicKey {
        CurvePublicKey(public_of(&self.0))
    }
}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveSecretKey")
            .field("public_key", &self.public_key().to_z85())
            .finish_non_exhaustive()
    }
}

/// A CURVE key pair: a secret key and the public key that goes with it.
///
/// [`generate`](Self::generate) makes a fresh pair from the operating system's random
/// source (as libzmq's `zmq_curve_keypair`); [`from_secret`](Self::from_secret) rebuilds
/// the pair from a stored secret key (as `zmq_curve_public`).
///
/// # Examples
///
/// ```
/// use ferromq::CurveKeyPair;
///
/// let pair = CurveKeyPair::generate()?;
/// let again = CurveKeyPair::from_secret(pair.secret().clone());
/// assert_eq!(again.public(), pair.public());
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CurveKeyPair {
    public: CurvePublicKey,
    secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// Generates a new pair from the operating system's random source.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the random source fails.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; CURVE_KEY_LEN]);
        getrandom::fill(&mut bytes[..])
            .map_err(|e| Error::Io(std::io::Error::other(format!("random source: {e}"))))?;
        Ok(Self::from_secret(CurveSecretKey(bytes)))
    }

    /// Builds the pair from a secret key, deriving its public key.
    pub fn from_secret(secret: CurveSecretKey) -> Self {
        CurveKeyPair {
            public: secret.public_key(),
            secret,
        }
    }

    /// The public key.
    pub fn public(&self) -> &CurvePublicKey {
        &self.public
    }

    /// The secret key.
    pub fn secret(&self) -> &CurveSecretKey {
        &self.secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // libzmq's tests/testutil_security.cpp keys; the public halves were checked with
    // pyzmq 27 (libzmq 4.3.5): `zmq.curve_public(b"<secret>")`.
    const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
    const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

    #[test]
    fn public_key_of_known_secrets() {
        for (secret, public) in [
            (SERVER_SECRET, SERVER_PUBLIC),
            (CLIENT_SECRET, CLIENT_PUBLIC),
        ] {
            let secret = CurveSecretKey::from_z85(secret).unwrap();
            assert_eq!(secret.public_key().to_z85(), public);
            let pair = CurveKeyPair::from_secret(secret);
            assert_eq!(pair.public().to_string(), public);
        }
    }

    #[test]
    fn secret_debug_shows_nothing_of_it() {
        let secret = CurveSecretKey::from_z85(SERVER_SECRET).unwrap();
        let bytes = *secret.as_bytes();
        for shown in [
            format!("{secret:?}"),
            format!("{secret:#?}"),
            format!("{:?}", CurveKeyPair::from_secret(secret.clone())),
        ] {
            assert!(shown.contains(SERVER_PUBLIC), "{shown}");
            // No run of 5 secret characters (one Z85 group), nor the bytes in decimal/hex.
            for i in 0..=(SERVER_SECRET.len() - 5) {
                assert!(!shown.contains(&SERVER_SECRET[i..i + 5]), "{shown}");
            }
            assert!(!shown.contains(&format!("{:?}", &bytes[..4])), "{shown}");
            assert!(!shown.contains(&format!("{:02x}{:02x}", bytes[0], bytes[1])));
        }
    }

    #[test]
    fn z85_round_trips() {
        let public = CurvePublicKey::from_z85(SERVER_PUBLIC).unwrap();
        assert_eq!(public.to_z85(), SERVER_PUBLIC);
        assert_eq!(
            format!("{public:?}"),
            format!("CurvePublicKey({SERVER_PUBLIC:?})")
        );
        assert_eq!(SERVER_PUBLIC.parse::<CurvePublicKey>().unwrap(), public);
        let secret = CurveSecretKey::from_z85(SERVER_SECRET).unwrap();
        assert_eq!(secret.to_z85().as_str(), SERVER_SECRET);
        assert_eq!(
            CurveSecretKey::from_bytes(*secret.as_bytes()).as_bytes(),
            secret.as_bytes()
        );
        assert_eq!(CurvePublicKey::from_bytes(*public.as_bytes()), public);
    }

    #[test]
    fn bad_lengths_and_text_are_errors() {
        for text in [
            "",
            "rq:rM",
            &SERVER_PUBLIC[..35],
            &format!("{SERVER_PUBLIC}00000"),
        ] {
            assert!(matches!(
                CurvePublicKey::from_z85(text),
                Err(Error::InvalidKey(_))
            ));
            assert!(matches!(
                CurveSecretKey::from_z85(text),
                Err(Error::InvalidKey(_))
            ));
        }
        let bad_char = format!("{}\"", &SERVER_PUBLIC[..39]);
        assert!(matches!(
            CurvePublicKey::from_z85(&bad_char),
            Err(Error::InvalidKey(_))
        ));
        // 40 characters of which one group overflows 2^32 - 1.
        let overflow = format!("#####{}", &SERVER_PUBLIC[5..]);
        assert!(matches!(
            CurvePublicKey::from_z85(&overflow),
            Err(Error::InvalidKey(_))
        ));
        assert!(CurvePublicKey::from_slice(&[0; 33]).is_err());
        assert!(CurveSecretKey::from_slice(&[0; 31]).is_err());
        assert!(CurveSecretKey::from_slice(&[0; 32]).is_ok());
        // A secret key's error message never quotes the text it was given.
        let secret_ish = format!("{}\"", &SERVER_SECRET[..39]);
        let err = CurveSecretKey::from_z85(&secret_ish)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("JTKVSB"), "{err}");
    }

    #[test]
    fn generated_pairs_differ_and_match() {
        let a = CurveKeyPair::generate().unwrap();
        let b = CurveKeyPair::generate().unwrap();
        assert_ne!(a.public(), b.public());
        assert_ne!(a.secret().as_bytes(), b.secret().as_bytes());
        assert_eq!(a.secret().public_key(), *a.public());
    }

    #[test]
    fn generated_pair_agrees_with_libzmq() {
        // pyzmq's libzmq derives the same public key from our secret. Needs python3 with
        // pyzmq; it fails under CI=true when that is missing, and is skipped otherwise.
        let pair = CurveKeyPair::generate().unwrap();
        let script = format!(
            "import zmq; print(zmq.curve_public(b'{}').decode())",
            pair.secret().to_z85().as_str()
        );
        match std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
        {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                assert_eq!(text.trim(), pair.public().to_z85());
            }
            other => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "python3 with pyzmq is needed for this test: {other:?}"
                );
            }
        }
    }
}
