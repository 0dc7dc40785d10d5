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

use std::ops::Range;

#[cfg(test)]
use bytes::Bytes;
use bytes::{BufMut, BytesMut};

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

/// Where one property lies in its metadata: the name's and the value's byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    /// The name (1 to 255 bytes).
    pub(crate) name: Range<usize>,
    /// The value.
    pub(crate) value: Range<usize>,
}

/// Parses a property list that fills all of `data`, of at most `max_properties` properties,
/// into where each property lies; nothing is copied or allocated per property but its span.
///
/// Names are not checked for their characters (libzmq does not check them either).
///
/// # Errors
///
/// [`Error::Protocol`] for a zero-length name, a property cut short by the end of the data,
/// a value length with its top bit set, or more than `max_properties` properties.
pub(crate) fn parse(data: &[u8], max_properties: usize) -> Result<Vec<Span>> {
    let truncated = || Error::Protocol("metadata ends in the middle of a property".into());
    let mut spans = Vec::new();
    let mut pos = 0usize;
    while let Some(&name_len) = data.get(pos) {
        if spans.len() >= max_properties {
            return Err(Error::Protocol(format!(
                "metadata has more than the maximum of {max_properties} properties"
            )));
        }
        let name_len = usize::from(name_len);
        if name_len == 0 {
            return Err(Error::Protocol(
                "metadata has a property with an empty name".into(),
            ));
        }
        let name_start = pos + 1;
        let name_end = name_start + name_len;
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
        spans.push(Span {
            name: name_start..name_end,
            value: value_start..value_end,
        });
        pos = value_end;
    }
    Ok(spans)
}

/// Parses metadata without a limit on the property count, into owned names and shared
/// values (for tests).
#[cfg(test)]
pub(crate) fn parse_owned(data: &Bytes) -> Result<Vec<(String, Bytes)>> {
    Ok(parse(data, usize::MAX)?
        .into_iter()
        .map(|s| {
            (
                String::from_utf8_lossy(&data[s.name]).into_owned(),
                data.slice(s.value),
            )
        })
        .collect())
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
        let parsed = parse_owned(&data).unwrap();
        assert_eq!(parsed.len(), 3);
        for ((n, v), (pn, pv)) in props.iter().zip(&parsed) {
            assert_eq!((*n, *v), (pn.as_str(), &pv[..]));
        }
        let base = data.as_ptr() as usize;
        assert_eq!(parsed[0].1.as_ptr() as usize, base + 1 + 11 + 4);
        assert_eq!(parse(&[], 0).unwrap(), []);
    }

    #[test]
    fn malformed_metadata_is_rejected() {
        let full = encoded(&[("Socket-Type", b"PUB")]);
        // Every proper prefix ends inside the property.
        for cut in 1..full.len() {
            let data = Bytes::copy_from_slice(&full[..cut]);
            let err = parse(&data, 9).unwrap_err().to_string();
            assert!(err.contains("middle of a property"), "cut {cut}: {err}");
        }
        let empty_name = Bytes::from_static(b"\x00\x00\x00\x00\x00");
        assert!(parse(&empty_name, 9)
            .unwrap_err()
            .to_string()
            .contains("empty name"));
        let huge = Bytes::from_static(b"\x01A\x80\x00\x00\x00");
        assert!(parse(&huge, 9).unwrap_err().to_string().contains("top bit"));
        let huge = Bytes::from_static(b"\x01A\x7f\xff\xff\xff");
        assert!(parse(&huge, 9).is_err());
    }

    #[test]
    fn the_property_count_is_capped_before_anything_is_kept() {
        let one: [(&str, &[u8]); 1] = [("A", b"")];
        let data = encoded(&one).repeat(10);
        assert_eq!(parse(&data, 10).unwrap().len(), 10);
        let err = parse(&data, 9).unwrap_err().to_string();
        assert!(
            err.contains("more than the maximum of 9 properties"),
            "{err}"
        );
    }

    #[test]
    fn non_utf8_names_are_kept_lossily() {
        let data = Bytes::from_static(b"\x02\xffA\x00\x00\x00\x01v");
        let parsed = parse_owned(&data).unwrap();
        assert_eq!(parsed[0].0, "\u{fffd}A");
        assert_eq!(&parsed[0].1[..], b"v");
    }
}
