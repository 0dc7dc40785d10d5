//! Metadata properties, as carried by READY (and PLAIN/CURVE's INITIATE).
//!
//! ```text
//! metadata = *property
//! property = name value
//! name     = OCTET 1*255name-char          ; 1-byte length, then the name
//! value    = 4OCTET *OCTET                 ; 32-bit big-endian length, then raw bytes
//! ```
//!
//! Names are case-insensitive by the RFC; this module keeps them as received and leaves the
//! comparison to its callers.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Largest value length the 32-bit field may carry (the grammar allows 0 .. 2^31 − 1).
pub(crate) const MAX_VALUE_LEN: usize = i32::MAX as usize;

/// True when a property with this name and value can be encoded: a name of 1 to 255 bytes
/// and a value of at most [`MAX_VALUE_LEN`] bytes.
pub(crate) fn is_encodable(name: &str, value: &[u8]) -> bool {
    (1..=255).contains(&name.len()) && value.len() <= MAX_VALUE_LEN
}

/// Encoded size of a property list. Properties that cannot be encoded (see
/// [`is_encodable`]) are skipped, exactly as [`encode`] skips them.
pub(crate) fn encoded_len(properties: &[(&str, &[u8])]) -> usize {
    properties
        .iter()
        .filter(|(n, v)| is_encodable(n, v))
        .map(|(n, v)| 1 + n.len() + 4 + v.len())
        .sum()
}

/// Appends a property list in wire form.
///
/// A property whose name is empty or longer than 255 bytes, or whose value is longer than
/// [`MAX_VALUE_LEN`], cannot be represented and is skipped; options are expected to refuse
/// such properties before they get here.
pub(crate) fn encode(dst: &mut BytesMut, properties: &[(&str, &[u8])]) {
    for (name, value) in properties.iter().filter(|(n, v)| is_encodable(n, v)) {
        // Both lengths were range-checked by `is_encodable`.
        dst.put_u8(name.len() as u8);
        dst.put_slice(name.as_bytes());
        dst.put_u32(value.len() as u32);
        dst.put_slice(value);
    }
}

/// Parses a property list that fills all of `data`.
///
/// Values are slices of `data` (no copy). Names that are not UTF-8 are converted lossily;
/// their characters are not otherwise checked, as libzmq does not check them either.
///
/// # Errors
///
/// [`Error::Protocol`] for a zero-length name, a property cut short by the end of the data,
/// or a value length with its top bit set.
pub(crate) fn parse(data: &Bytes) -> Result<Vec<(String, Bytes)>> {
    let truncated = || Error::Protocol("metadata ends in the middle of a property".into());
    let mut properties = Vec::new();
    let mut pos = 0usize;
    while let Some(&name_len) = data.get(pos) {
        let name_len = usize::from(name_len);
        if name_len == 0 {
            return Err(Error::Protocol(
                "metadata has a property with an empty name".into(),
            ));
        }
        let name_start = pos + 1;
        let name_end = name_start + name_len;
        let name = data.get(name_start..name_end).ok_or_else(truncated)?;
        let len_bytes = data.get(name_end..name_end + 4).ok_or_else(truncated)?;
        let mut be = [0u8; 4];
        be.copy_from_slice(len_bytes);
        let value_len = u32::from_be_bytes(be);
        if value_len > i32::MAX as u32 {
            return Err(Error::Protocol(format!(
                "metadata value length {value_len:#x} has its top bit set"
            )));
        }
        let value_start = name_end + 4;
        let value_end = value_start.saturating_add(value_len as usize);
        if value_end > data.len() {
            return Err(truncated());
        }
        properties.push((
            String::from_utf8_lossy(name).into_owned(),
            data.slice(value_start..value_end),
        ));
        pos = value_end;
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(properties: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode(&mut b, properties);
        assert_eq!(b.len(), encoded_len(properties));
        b.to_vec()
    }

    #[test]
    fn properties_are_byte_exact() {
        assert_eq!(
            encoded(&[("Socket-Type", b"PUB")]),
            b"\x0bSocket-Type\x00\x00\x00\x03PUB"
        );
        assert_eq!(
            encoded(&[("Identity", b"")]),
            b"\x08Identity\x00\x00\x00\x00"
        );
        assert_eq!(encoded(&[]), b"");
    }

    #[test]
    fn unencodable_properties_are_skipped() {
        let long = "N".repeat(256);
        let props: [(&str, &[u8]); 3] = [("", b"x"), (&long, b"x"), ("A", b"v")];
        assert_eq!(encoded(&props), b"\x01A\x00\x00\x00\x01v");
        assert!(is_encodable(&long[..255], b""));
    }

    #[test]
    fn parse_round_trips_and_shares_the_buffer() {
        let props: [(&str, &[u8]); 3] = [
            ("Socket-Type", b"DEALER"),
            ("Identity", b""),
            ("X-Big", &[9u8; 300]),
        ];
        let data = Bytes::from(encoded(&props));
        let parsed = parse(&data).unwrap();
        assert_eq!(parsed.len(), 3);
        for ((n, v), (pn, pv)) in props.iter().zip(&parsed) {
            assert_eq!((*n, *v), (pn.as_str(), &pv[..]));
        }
        let base = data.as_ptr() as usize;
        assert_eq!(parsed[0].1.as_ptr() as usize, base + 1 + 11 + 4);
        assert_eq!(parse(&Bytes::new()).unwrap(), []);
    }

    #[test]
    fn malformed_metadata_is_rejected() {
        let full = encoded(&[("Socket-Type", b"PUB")]);
        // Every proper prefix ends inside the property.
        for cut in 1..full.len() {
            let data = Bytes::copy_from_slice(&full[..cut]);
            let err = parse(&data).unwrap_err().to_string();
            assert!(err.contains("middle of a property"), "cut {cut}: {err}");
        }
        let empty_name = Bytes::from_static(b"\x00\x00\x00\x00\x00");
        assert!(parse(&empty_name)
            .unwrap_err()
            .to_string()
            .contains("empty name"));
        let huge = Bytes::from_static(b"\x01A\x80\x00\x00\x00");
        assert!(parse(&huge).unwrap_err().to_string().contains("top bit"));
        let huge = Bytes::from_static(b"\x01A\x7f\xff\xff\xff");
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn non_utf8_names_are_kept_lossily() {
        let data = Bytes::from_static(b"\x02\xffA\x00\x00\x00\x01v");
        let parsed = parse(&data).unwrap();
        assert_eq!(parsed[0].0, "\u{fffd}A");
        assert_eq!(&parsed[0].1[..], b"v");
    }
}
