//! Z85, ZeroMQ's text encoding for binary data (ZeroMQ RFC 32).
//!
//! Z85 turns every 4 bytes into 5 printable characters, read as one big-endian 32-bit value
//! written in base 85. It is how CURVE keys travel in configuration files and on command
//! lines: a 32-byte key is 40 characters. The alphabet avoids the quote, the backslash and
//! the space, so a Z85 string can sit inside quotes in a shell or a source file.
//!
//! As RFC 32 says, the input to [`encode`] must be a multiple of 4 bytes and the input to
//! [`decode`] a multiple of 5 characters; anything else is an
//! [`Error::InvalidZ85`](crate::Error::InvalidZ85), never padded silently.
//!
//! # Examples
//!
//! ```
//! use ferromq::z85;
//!
//! let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
//! assert_eq!(z85::encode(&data)?, "HelloWorld");
//! assert_eq!(z85::decode("HelloWorld")?, data);
//! # Ok::<(), ferromq::Error>(())
//! ```

use crate::error::{Error, Result};

/// The 85 characters of Z85, in value order (RFC 32).
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Marks a byte that is not a Z85 character in [`DECODE`].
const INVALID: u8 = 0xff;

/// Character value for every byte; [`INVALID`] for bytes outside the alphabet.
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Encodes `data` as Z85 text: 5 characters for every 4 bytes.
///
/// # Errors
///
/// [`Error::InvalidZ85`] if `data.len()` is not a multiple of 4.
///
/// # Examples
///
/// ```
/// assert_eq!(ferromq::z85::encode(&[0x86, 0x4F, 0xD2, 0x6F])?, "Hello");
/// assert!(ferromq::z85::encode(&[1, 2, 3]).is_err());
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn encode(data: &[u8]) -> Result<String> {
    if !data.len().is_multiple_of(4) {
        return Err(Error::InvalidZ85(format!(
            "cannot encode {} bytes: the length must be a multiple of 4",
            data.len()
        )));
    }
    let mut text = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        text.extend(digits.iter().map(|&d| char::from(d)));
    }
    Ok(text)
}

/// Decodes Z85 text: 4 bytes for every 5 characters.
///
/// # Errors
///
/// [`Error::InvalidZ85`] if the length is not a multiple of 5, if a character is not one of
/// Z85's 85, or if a group of 5 characters is worth more than 2^32 − 1 (such as `#####`).
///
/// # Examples
///
/// ```
/// assert_eq!(ferromq::z85::decode("Hello")?, [0x86, 0x4F, 0xD2, 0x6F]);
/// assert!(ferromq::z85::decode("Hell").is_err());      // not 5 characters
/// assert!(ferromq::z85::decode("Hell\"").is_err());    // `"` is not in the alphabet
/// assert!(ferromq::z85::decode("#####").is_err());     // past 2^32 - 1
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn decode(text: &str) -> Result<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(5) {
        return Err(Error::InvalidZ85(format!(
            "cannot decode {} characters: the length must be a multiple of 5",
            bytes.len()
        )));
    }
    let mut data = Vec::with_capacity(bytes.len() / 5 * 4);
    for (group, chunk) in bytes.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let digit = DECODE[usize::from(c)];
            if digit == INVALID {
                return Err(Error::InvalidZ85(format!(
                    "byte 0x{c:02x} at offset {} is not a Z85 character",
                    group * 5 + i
                )));
            }
            // At most 85^5 - 1 < 2^33: no overflow in u64.
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| {
            Error::InvalidZ85(format!(
                "characters {}..{} are worth more than 2^32 - 1",
                group * 5,
                group * 5 + 5
            ))
        })?;
        data.extend_from_slice(&value.to_be_bytes());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc32_test_vector() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), data);
    }

    #[test]
    fn empty_is_empty() {
        assert_eq!(encode(&[]).unwrap(), "");
        assert!(decode("").unwrap().is_empty());
    }

    #[test]
    fn extremes() {
        assert_eq!(encode(&[0; 4]).unwrap(), "00000");
        // 2^32 - 1 is the largest value a group may hold.
        assert_eq!(encode(&[0xff; 4]).unwrap(), "%nSc0");
        assert_eq!(decode("%nSc0").unwrap(), [0xff; 4]);
        assert!(matches!(decode("%nSc1"), Err(Error::InvalidZ85(_))));
        assert!(matches!(decode("#####"), Err(Error::InvalidZ85(_))));
    }

    #[test]
    fn encode_rejects_lengths_not_multiple_of_4() {
        for n in [1usize, 2, 3, 5, 31, 33] {
            assert!(
                matches!(encode(&vec![0; n]), Err(Error::InvalidZ85(_))),
                "{n}"
            );
        }
    }

    #[test]
    fn decode_rejects_bad_length_and_characters() {
        for text in ["H", "Hell", "HelloW", "HelloWorl"] {
            assert!(matches!(decode(text), Err(Error::InvalidZ85(_))), "{text}");
        }
        for text in [
            "Hell ", "Hell\"", "Hell'", "Hell\\", "Hell,", "Hell;", "Hell~",
        ] {
            assert!(matches!(decode(text), Err(Error::InvalidZ85(_))), "{text}");
        }
        // A multi-byte character is never a Z85 character (and five bytes of it are not
        // five characters of the alphabet).
        assert!(matches!(decode("Hé11"), Err(Error::InvalidZ85(_))));
        let err = decode("HelloWor\u{7f}d").unwrap_err().to_string();
        assert!(err.contains("offset 8"), "{err}");
    }

    #[test]
    fn alphabet_is_85_distinct_printable_characters() {
        let mut seen = [false; 256];
        for &c in ALPHABET {
            assert!(c.is_ascii_graphic());
            assert!(!matches!(
                c,
                b'"' | b'\'' | b'\\' | b',' | b';' | b'`' | b'~'
            ));
            assert!(!seen[usize::from(c)]);
            seen[usize::from(c)] = true;
        }
    }

    proptest! {
        #[test]
        fn round_trip_bytes(words in proptest::collection::vec(any::<[u8; 4]>(), 0..64)) {
            let data: Vec<u8> = words.concat();
            let text = encode(&data).unwrap();
            prop_assert_eq!(text.len(), data.len() / 4 * 5);
            prop_assert_eq!(decode(&text).unwrap(), data);
        }

        #[test]
        fn round_trip_text(groups in proptest::collection::vec(
            proptest::collection::vec(0usize..85, 5), 0..32)) {
            // Every valid group of 5 (value below 2^32) decodes and re-encodes to itself.
            let text: String = groups
                .iter()
                .flatten()
                .map(|&i| char::from(ALPHABET[i]))
                .collect();
            match decode(&text) {
                Ok(data) => prop_assert_eq!(encode(&data).unwrap(), text),
                Err(Error::InvalidZ85(reason)) => prop_assert!(reason.contains("2^32")),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }

        #[test]
        fn decode_never_panics(text in "\\PC{0,50}") {
            let _ = decode(&text);
        }
    }
}
