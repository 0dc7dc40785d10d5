//! The authenticator's decisions: a ZAP request (RFC 27) in, a reply out, no sockets.
//!
//! [`Policy::answer`] takes the frames a ROUTER received and returns the frames to send
//! back (or nothing, for a request too broken to answer), so every rule is tested here
//! without threads.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::frame::Frame;
use crate::keys::CurvePublicKey;

/// The ZAP version this handler speaks (RFC 27).
pub(crate) const VERSION: &[u8] = b"1.0";

/// The domain whose settings apply to every domain that has none of its own.
pub(crate) const ANY_DOMAIN: &str = "*";

/// RFC 27: "All string fields are at most 255 characters".
const MAX_STRING: usize = 255;

/// A peer address as the allow and deny lists hold it: an IP address when the text is
/// one (so `::1` and `0:0::1` match, and an IPv4-mapped IPv6 address matches its IPv4
/// form), or the text as given otherwise (an ipc peer's address, for example).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Address {
    Ip(IpAddr),
    Text(String),
}

impl Address {
    pub(crate) fn parse(text: &str) -> Address {
        let trimmed = text.trim();
        match trimmed.parse::<IpAddr>() {
            Ok(ip) => Address::Ip(ip.to_canonical()),
            // Lenient: `ip:port` (or `[v6]:port`) counts as its IP address.
            Err(_) => match trimmed.parse::<std::net::SocketAddr>() {
                Ok(addr) => Address::Ip(addr.ip().to_canonical()),
                Err(_) => Address::Text(text.to_owned()),
            },
        }
    }
}

/// Everything the authenticator checks requests against.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    pub(crate) allowed: HashSet<Address>,
    pub(crate) denied: HashSet<Address>,
    /// Domain → user name → password.
    pub(crate) passwords: HashMap<String, HashMap<String, String>>,
    /// Domain → allowed client public keys.
    pub(crate) curve_keys: HashMap<String, HashSet<CurvePublicKey>>,
    /// Any CURVE client that completed the handshake (so knows the server key) is in.
    pub(crate) curve_any: bool,
}

/// What the handler decided, before it becomes frames.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) code: &'static str,
    pub(crate) text: &'static str,
    pub(crate) user_id: String,
}

impl Decision {
    fn ok(user_id: String) -> Decision {
        Decision {
            code: "200",
            text: "OK",
            user_id,
        }
    }

    fn denied(text: &'static str) -> Decision {
        Decision {
            code: "400",
            text,
            user_id: String::new(),
        }
    }

    fn malformed(text: &'static str) -> Decision {
        Decision {
            code: "500",
            text,
            user_id: String::new(),
        }
    }
}

/// The reply to one request, and a line for the log.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Frames to send on the ROUTER: envelope, then the RFC 27 reply. `None`: drop.
    pub(crate) reply: Option<Vec<Frame>>,
    pub(crate) log: String,
}

/// Compares two byte strings in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Policy {
    /// Looks up `domain`'s entry, falling back to the `"*"` entry.
    fn for_domain<'a, T>(map: &'a HashMap<String, T>, domain: &str) -> Option<&'a T> {
        map.get(domain).or_else(|| map.get(ANY_DOMAIN))
    }

    /// Answers the frames a ROUTER received: routing ids, the empty delimiter, then the
    /// request.
    pub(crate) fn answer(&self, frames: &[Frame]) -> Answer {
        // RFC 27: any number of routing ids, then an empty delimiter. Without one there
        // is no envelope to send a reply along.
        let Some(delimiter) = frames.iter().position(|f| f.is_empty()) else {
            return Answer {
                reply: None,
                log: "dropped a request without an empty delimiter frame".into(),
            };
        };
        let (envelope, body) = frames.split_at(delimiter.saturating_add(1));
        if body.len() < 2 {
            return Answer {
                reply: None,
                log: format!(
                    "dropped a request of {} frames: no request id to answer",
                    body.len()
                ),
            };
        }
        let request_id = &body[1];
        let (decision, detail) = self.decide(body);
        let log = format!(
            "{} {}{}{}",
            decision.code,
            decision.text,
            if detail.is_empty() { "" } else { ": " },
            detail
        );
        let mut reply = Vec::with_capacity(envelope.len() + 6);
        reply.extend(envelope.iter().cloned());
        reply.push(Frame::from_static(VERSION));
        reply.push(request_id.clone());
        reply.push(Frame::from(decision.code));
        reply.push(Frame::from(decision.text));
        reply.push(Frame::from(decision.user_id));
        reply.push(Frame::default()); // metadata: none
        Answer {
            reply: Some(reply),
            log,
        }
    }

    /// The decision for a request body (version, request id, domain, address, identity,
    /// mechanism, credentials), and a detail for the log (never a password).
    fn decide(&self, body: &[Frame]) -> (Decision, String) {
        if body.len() < 6 {
            return (
                Decision::malformed("Malformed request"),
                format!("{} frames, at least 6 needed", body.len()),
            );
        }
        if &body[0][..] != VERSION {
            return (
                Decision::malformed("Unsupported ZAP version"),
                format!("version {:?}", String::from_utf8_lossy(&body[0])),
            );
        }
        let (domain, address, identity, mechanism) = (&body[2], &body[3], &body[4], &body[5]);
        if [domain, address, identity, mechanism]
            .iter()
            .any(|f| f.len() > MAX_STRING)
        {
            return (
                Decision::malformed("Malformed request"),
                "a field is longer than 255 bytes".into(),
            );
        }
        let (Ok(domain), Ok(address_text)) =
            (std::str::from_utf8(domain), std::str::from_utf8(address))
        else {
            return (
                Decision::malformed("Malformed request"),
                "domain or address is not text".into(),
            );
        };
        let credentials = &body[6..];
        let mechanism = &mechanism[..];
        let detail = format!(
            "domain {domain:?}, address {address_text:?}, mechanism {}",
            String::from_utf8_lossy(mechanism)
        );

        // The shape of the credentials first: a bad shape is a broken server, not a
        // client to refuse.
        let expected = match mechanism {
            b"NULL" => 0,
            b"PLAIN" => 2,
            b"CURVE" => 1,
            _ => return (Decision::denied("Unsupported mechanism"), detail),
        };
        let bad_shape = match mechanism {
            b"CURVE" => credentials.len() != 1 || credentials[0].len() != 32,
            // A user name becomes the reply's user id, a string of at most 255 bytes; PLAIN
            // itself carries each in a 1-byte length (RFC 24).
            _ => credentials.len() != expected || credentials.iter().any(|c| c.len() > MAX_STRING),
        };
        if bad_shape {
            return (
                Decision::malformed("Malformed credentials"),
                format!("{detail}, {} credential frames", credentials.len()),
            );
        }

        // Address rules (pyzmq's and CZMQ's): a non-empty allow list admits only its
        // addresses; the deny list refuses its addresses.
        let address = Address::parse(address_text);
        // NULL is admitted once not refused; PLAIN and CURVE must still pass their check.
        if !self.allowed.is_empty() && !self.allowed.contains(&address) {
            return (Decision::denied("Address not allowed"), detail);
        }
        if self.denied.contains(&address) {
            return (Decision::denied("Address denied"), detail);
        }

        match mechanism {
            b"NULL" => (Decision::ok(String::new()), detail),
            b"PLAIN" => {
                let (user, password) = (&credentials[0], &credentials[1]);
                let user_text = String::from_utf8_lossy(user);
                let detail = format!("{detail}, user {user_text:?}");
                let Some(users) = Self::for_domain(&self.passwords, domain) else {
                    let text = if self.passwords.is_empty() {
                        "No passwords defined"
                    } else {
                        "Invalid domain"
                    };
                    return (Decision::denied(text), detail);
                };
                let Some(expected) = std::str::from_utf8(user).ok().and_then(|u| users.get(u))
                else {
                    return (Decision::denied("Invalid username"), detail);
                };
                if !same_secret(expected.as_bytes(), password) {
                    return (Decision::denied("Invalid password"), detail);
                }
                (Decision::ok(user_text.into_owned()), detail)
            }
            _ => {
                // CURVE; the frame is 32 bytes, checked above.
                let Ok(key) = CurvePublicKey::from_slice(&credentials[0]) else {
                    return (Decision::malformed("Malformed credentials"), detail);
                };
                let detail = format!("{detail}, key {key}");
                if self.curve_any {
                    return (Decision::ok(key.to_z85()), detail);
                }
                match Self::for_domain(&self.curve_keys, domain) {
                    None => (Decision::denied("Unknown domain"), detail),
                    Some(keys) if keys.contains(&key) => (Decision::ok(key.to_z85()), detail),
                    Some(_) => (Decision::denied("Unknown key"), detail),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

    fn request(domain: &str, address: &str, mechanism: &str, credentials: &[&[u8]]) -> Vec<Frame> {
        let mut frames: Vec<Frame> = vec![
            Frame::from("peer-id"),
            Frame::default(),
            Frame::from("1.0"),
            Frame::from("7"),
            Frame::from(domain),
            Frame::from(address),
            Frame::from("ident"),
            Frame::from(mechanism),
        ];
        frames.extend(credentials.iter().map(|c| Frame::copy_from_slice(c)));
        frames
    }

    fn reply(policy: &Policy, frames: &[Frame]) -> Vec<Vec<u8>> {
        policy
            .answer(frames)
            .reply
            .expect("a reply")
            .into_iter()
            .map(Vec::from)
            .collect()
    }

    fn status(policy: &Policy, frames: &[Frame]) -> (String, String, String) {
        let r = reply(policy, frames);
        let s = |i: usize| String::from_utf8(r[i].clone()).unwrap();
        (s(4), s(5), s(6))
    }

    fn key() -> CurvePublicKey {
        CURVE_PUBLIC_PARSED.with(|k| *k)
    }

    thread_local! {
        static CURVE_PUBLIC_PARSED: CurvePublicKey = CurvePublicKey::from_z85(CLIENT_PUBLIC).unwrap();
    }

    #[test]
    fn reply_frames_are_exactly_rfc27() {
        let policy = Policy::default();
        let r = reply(&policy, &request("", "10.0.0.1", "NULL", &[]));
        let expected: Vec<&[u8]> = vec![b"peer-id", b"", b"1.0", b"7", b"200", b"OK", b"", b""];
        assert_eq!(r, expected);
    }

    #[test]
    fn envelope_of_several_routing_ids_is_echoed() {
        let policy = Policy::default();
        let mut frames = request("", "10.0.0.1", "NULL", &[]);
        frames.insert(0, Frame::from("hop"));
        let r = reply(&policy, &frames);
        assert_eq!(&r[..3], &[b"hop".to_vec(), b"peer-id".to_vec(), vec![]]);
        assert_eq!(r[5], b"200");
    }

    #[test]
    fn null_is_admitted_unless_the_address_is_refused() {
        let mut policy = Policy::default();
        assert_eq!(
            status(&policy, &request("", "1.2.3.4", "NULL", &[])).0,
            "200"
        );
        policy.denied.insert(Address::parse("1.2.3.4"));
        let (code, text, user) = status(&policy, &request("", "1.2.3.4", "NULL", &[]));
        assert_eq!(
            (code.as_str(), text.as_str(), user.as_str()),
            ("400", "Address denied", "")
        );
        assert_eq!(
            status(&policy, &request("", "1.2.3.5", "NULL", &[])).0,
            "200"
        );
        policy.allowed.insert(Address::parse("1.2.3.5"));
        let (code, text, _) = status(&policy, &request("", "1.2.3.6", "NULL", &[]));
        assert_eq!(
            (code.as_str(), text.as_str()),
            ("400", "Address not allowed")
        );
        assert_eq!(
            status(&policy, &request("", "1.2.3.5", "NULL", &[])).0,
            "200"
        );
    }

    #[test]
    fn addresses_compare_as_ip_addresses() {
        let mut policy = Policy::default();
        policy.allowed.insert(Address::parse("::1"));
        policy.allowed.insert(Address::parse("127.0.0.1"));
        for ok in [
            "0:0::1",
            "::ffff:127.0.0.1",
            "127.0.0.1",
            "127.0.0.1:5555",
            "[::1]:80",
        ] {
            assert_eq!(
                status(&policy, &request("", ok, "NULL", &[])).0,
                "200",
                "{ok}"
            );
        }
        assert_eq!(
            status(&policy, &request("", "127.0.0.2", "NULL", &[])).0,
            "400"
        );
        // Not an IP address: compared as text (an ipc peer, say).
        policy.allowed.insert(Address::parse("/tmp/sock"));
        assert_eq!(
            status(&policy, &request("", "/tmp/sock", "NULL", &[])).0,
            "200"
        );
        assert_eq!(
            status(&policy, &request("", "/tmp/other", "NULL", &[])).0,
            "400"
        );
    }

    #[test]
    fn plain_users_by_domain_with_star_fallback() {
        let mut policy = Policy::default();
        let plain =
            |u: &str, p: &str| request("", "1.1.1.1", "PLAIN", &[u.as_bytes(), p.as_bytes()]);
        let (code, text, _) = status(&policy, &plain("admin", "secret"));
        assert_eq!(
            (code.as_str(), text.as_str()),
            ("400", "No passwords defined")
        );

        policy.passwords.insert(
            ANY_DOMAIN.into(),
            HashMap::from([("admin".to_owned(), "secret".to_owned())]),
        );
        assert_eq!(
            status(&policy, &plain("admin", "secret")),
            ("200".into(), "OK".into(), "admin".into())
        );
        let (code, text, user) = status(&policy, &plain("admin", "secreT"));
        assert_eq!(
            (code.as_str(), text.as_str(), user.as_str()),
            ("400", "Invalid password", "")
        );
        assert_eq!(
            status(&policy, &plain("admin", "secre")).1,
            "Invalid password"
        );
        assert_eq!(
            status(&policy, &plain("root", "secret")).1,
            "Invalid username"
        );

        // A domain of its own replaces "*" for that domain only.
        policy.passwords.insert(
            "billing".into(),
            HashMap::from([("bob".to_owned(), "pw".to_owned())]),
        );
        let in_billing = |u: &str, p: &str| {
            request("billing", "1.1.1.1", "PLAIN", &[u.as_bytes(), p.as_bytes()])
        };
        assert_eq!(status(&policy, &in_billing("bob", "pw")).0, "200");
        assert_eq!(status(&policy, &in_billing("admin", "secret")).0, "400");
        let other = request("other", "1.1.1.1", "PLAIN", &[b"admin", b"secret"]);
        assert_eq!(status(&policy, &other).0, "200");

        policy.passwords.remove(ANY_DOMAIN);
        assert_eq!(status(&policy, &other).1, "Invalid domain");
    }

    #[test]
    fn plain_must_pass_even_from_an_allowed_address() {
        let mut policy = Policy::default();
        policy.allowed.insert(Address::parse("1.1.1.1"));
        let r = request("", "1.1.1.1", "PLAIN", &[b"admin", b"secret"]);
        assert_eq!(status(&policy, &r).0, "400");
    }

    #[test]
    fn curve_keys_any_and_domains() {
        let mut policy = Policy::default();
        let curve = |domain: &str, k: &[u8]| request(domain, "1.1.1.1", "CURVE", &[k]);
        let k = key();
        assert_eq!(
            status(&policy, &curve("", k.as_bytes())).1,
            "Unknown domain"
        );
        policy
            .curve_keys
            .insert(ANY_DOMAIN.into(), HashSet::from([k]));
        assert_eq!(
            status(&policy, &curve("", k.as_bytes())),
            ("200".into(), "OK".into(), CLIENT_PUBLIC.into())
        );
        let other = [9u8; 32];
        let (code, text, user) = status(&policy, &curve("", &other));
        assert_eq!(
            (code.as_str(), text.as_str(), user.as_str()),
            ("400", "Unknown key", "")
        );
        policy.curve_any = true;
        let (code, _, user) = status(&policy, &curve("x", &other));
        assert_eq!(
            (code.as_str(), user),
            ("200", CurvePublicKey::from_bytes(other).to_z85())
        );
        // An address refusal still wins over CURVE_ALLOW_ANY.
        policy.denied.insert(Address::parse("1.1.1.1"));
        assert_eq!(status(&policy, &curve("x", &other)).1, "Address denied");
    }

    #[test]
    fn malformed_requests_get_500_or_are_dropped() {
        let policy = Policy::default();
        // Bad version.
        let mut r = request("", "1.1.1.1", "NULL", &[]);
        r[2] = Frame::from("2.0");
        let out = reply(&policy, &r);
        assert_eq!(out[2], b"1.0");
        assert_eq!(out[3], b"7");
        assert_eq!(
            (&out[4][..], &out[5][..]),
            (&b"500"[..], &b"Unsupported ZAP version"[..])
        );
        // Too few frames, but a request id to echo.
        let short: Vec<Frame> = request("", "1.1.1.1", "NULL", &[])[..5].to_vec();
        assert_eq!(status(&policy, &short).0, "500");
        // Wrong credential counts or sizes.
        for r in [
            request("", "1.1.1.1", "NULL", &[b"extra"]),
            request("", "1.1.1.1", "PLAIN", &[b"admin"]),
            request("", "1.1.1.1", "PLAIN", &[b"a", b"b", b"c"]),
            request("", "1.1.1.1", "CURVE", &[&[0u8; 31]]),
            request("", "1.1.1.1", "CURVE", &[]),
            request("", "1.1.1.1", "PLAIN", &[&[b'u'; 256], b"p"]),
        ] {
            assert_eq!(
                status(&policy, &r),
                ("500".into(), "Malformed credentials".into(), String::new())
            );
        }
        // A field over 255 bytes.
        let long = "d".repeat(256);
        assert_eq!(
            status(&policy, &request(&long, "1.1.1.1", "NULL", &[])).0,
            "500"
        );
        // An unknown mechanism is refused.
        assert_eq!(
            status(&policy, &request("", "1.1.1.1", "GSSAPI", &[b"x"])).1,
            "Unsupported mechanism"
        );
        // No delimiter, or no request id: nothing to answer.
        assert!(policy
            .answer(&[Frame::from("id"), Frame::from("1.0")])
            .reply
            .is_none());
        assert!(policy
            .answer(&[Frame::from("id"), Frame::default(), Frame::from("1.0")])
            .reply
            .is_none());
        assert!(policy.answer(&[]).reply.is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_frames_get_a_well_formed_answer_or_none(
            frames in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                    proptest::prelude::Just(Vec::new()),
                    proptest::prelude::Just(b"1.0".to_vec()),
                    proptest::prelude::Just(b"PLAIN".to_vec()),
                    proptest::prelude::Just(b"CURVE".to_vec()),
                    proptest::prelude::Just(b"NULL".to_vec()),
                ],
                0..12,
            )
        ) {
            let mut policy = Policy {
                curve_any: true,
                ..Policy::default()
            };
            policy.passwords.insert(ANY_DOMAIN.into(), HashMap::from([(String::new(), String::new())]));
            let frames: Vec<Frame> = frames.into_iter().map(Frame::from).collect();
            let answer = policy.answer(&frames);
            if let Some(reply) = answer.reply {
                let delimiter = frames.iter().position(|f| f.is_empty()).unwrap();
                proptest::prop_assert_eq!(reply.len(), delimiter + 7);
                proptest::prop_assert_eq!(&reply[..=delimiter], &frames[..=delimiter]);
                proptest::prop_assert_eq!(&reply[delimiter + 1][..], VERSION);
                proptest::prop_assert_eq!(&reply[delimiter + 2], &frames[delimiter + 2]);
                let code = &reply[delimiter + 3][..];
                proptest::prop_assert!(matches!(code, b"200" | b"400" | b"500"));
                if code != b"200" {
                    proptest::prop_assert!(reply[delimiter + 5].is_empty());
                }
                proptest::prop_assert!(reply[delimiter + 5].len() <= MAX_STRING);
                proptest::prop_assert!(reply[delimiter + 6].is_empty());
            }
        }
    }

    #[test]
    fn log_never_shows_a_password() {
        let mut policy = Policy::default();
        policy.passwords.insert(
            ANY_DOMAIN.into(),
            HashMap::from([("admin".to_owned(), "hunter2".to_owned())]),
        );
        for pw in ["hunter2", "hunter3"] {
            let a = policy.answer(&request("", "1.1.1.1", "PLAIN", &[b"admin", pw.as_bytes()]));
            assert!(!a.log.contains("hunter"), "{}", a.log);
            assert!(a.log.contains("admin"), "{}", a.log);
        }
    }
}
