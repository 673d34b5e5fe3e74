//! RFC 5769 test vectors: decode, expected values, MESSAGE-INTEGRITY and FINGERPRINT, and
//! every single-bit flip rejected.

use std::net::SocketAddr;

use ice::stun::{
    verify_integrity, Attribute, Class, IntegrityKey, Message, Method, StunError, TransactionId,
};

const REQUEST: &[u8] = include_bytes!("data/sample-request.bin");
const IPV4_RESPONSE: &[u8] = include_bytes!("data/sample-ipv4-response.bin");
const IPV6_RESPONSE: &[u8] = include_bytes!("data/sample-ipv6-response.bin");
const LONG_TERM_REQUEST: &[u8] = include_bytes!("data/sample-request-long-term-auth.bin");

const SHORT_TERM_PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
const TID_2_1: TransactionId = TransactionId([
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
]);

fn short_term_key() -> IntegrityKey {
    IntegrityKey::short_term(SHORT_TERM_PASSWORD)
}

/// RFC 5769 §2.4: the password before SASLprep; our SASLprep subset maps it to "TheMatrIX".
fn long_term_key() -> IntegrityKey {
    IntegrityKey::long_term(
        "マトリックス",
        "example.org",
        "The\u{00AD}M\u{00AA}tr\u{2168}",
    )
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn mi(s: &str) -> [u8; 20] {
    hex(s).try_into().unwrap()
}

#[test]
fn sample_request_2_1_decodes_to_the_rfc_values() {
    let msg = Message::decode(REQUEST).unwrap();
    assert_eq!(msg.class, Class::Request);
    assert_eq!(msg.method, Method::Binding);
    assert_eq!(msg.transaction_id, TID_2_1);
    assert_eq!(
        msg.attributes,
        vec![
            Attribute::Software("STUN test client".into()),
            Attribute::Priority(0x6e0001ff),
            Attribute::IceControlled(0x932ff9b151263b36),
            Attribute::Username("evtj:h6vY".into()),
            Attribute::MessageIntegrity(mi("9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2")),
            Attribute::Fingerprint(0xe57a3bcf),
        ]
    );
    assert!(msg.unknown_comprehension_required.is_empty());
    assert_eq!(msg.username(), Some("evtj:h6vY"));
    assert_eq!(msg.priority(), Some(1845494271));
    assert_eq!(msg.ice_controlled(), Some(0x932ff9b151263b36));
    assert_eq!(msg.ice_controlling(), None);
    assert_eq!(msg.mapped_address(), None);
    assert!(msg.has_integrity());
    assert_eq!(verify_integrity(REQUEST, &short_term_key()), Ok(()));
}

#[test]
fn sample_ipv4_response_2_2_decodes_to_the_rfc_values() {
    let msg = Message::decode(IPV4_RESPONSE).unwrap();
    assert_eq!((msg.class, msg.method), (Class::Success, Method::Binding));
    assert_eq!(msg.transaction_id, TID_2_1);
    assert_eq!(msg.software(), Some("test vector"));
    assert_eq!(
        msg.mapped_address(),
        Some("192.0.2.1:32853".parse().unwrap())
    );
    assert_eq!(msg.attributes.len(), 4);
    assert_eq!(
        msg.attributes[2],
        Attribute::MessageIntegrity(mi("2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7"))
    );
    assert_eq!(msg.attributes[3], Attribute::Fingerprint(0xc07d4c96));
    assert_eq!(verify_integrity(IPV4_RESPONSE, &short_term_key()), Ok(()));
}

#[test]
fn sample_ipv6_response_2_3_decodes_to_the_rfc_values() {
    let msg = Message::decode(IPV6_RESPONSE).unwrap();
    assert_eq!((msg.class, msg.method), (Class::Success, Method::Binding));
    assert_eq!(msg.software(), Some("test vector"));
    let expected: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .unwrap();
    assert_eq!(msg.mapped_address(), Some(expected));
    assert_eq!(
        msg.attributes[2],
        Attribute::MessageIntegrity(mi("a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41"))
    );
    assert_eq!(msg.attributes[3], Attribute::Fingerprint(0xc8fb0b4c));
    assert_eq!(verify_integrity(IPV6_RESPONSE, &short_term_key()), Ok(()));
}

#[test]
fn sample_long_term_request_2_4_decodes_and_verifies_with_saslprep_password() {
    let key = long_term_key();
    // RFC 5769 §2.4: MD5("マトリックス:example.org:TheMatrIX").
    assert_eq!(
        key.as_bytes(),
        hex("e8ca7ad59d5eb0518e312911d2dab2a9").as_slice()
    );
    assert_eq!(
        key,
        IntegrityKey::long_term("マトリックス", "example.org", "TheMatrIX")
    );

    let msg = Message::decode(LONG_TERM_REQUEST).unwrap();
    assert_eq!((msg.class, msg.method), (Class::Request, Method::Binding));
    assert_eq!(
        msg.transaction_id,
        TransactionId([0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e])
    );
    assert_eq!(
        msg.attributes,
        vec![
            Attribute::Username("マトリックス".into()),
            Attribute::Nonce("f//499k954d6OL34oL9FSTvy64sA".into()),
            Attribute::Realm("example.org".into()),
            Attribute::MessageIntegrity(mi("f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666")),
        ]
    );
    assert_eq!(msg.realm(), Some("example.org"));
    assert_eq!(msg.nonce(), Some("f//499k954d6OL34oL9FSTvy64sA"));
    assert_eq!(verify_integrity(LONG_TERM_REQUEST, &key), Ok(()));
}

#[test]
fn wrong_keys_are_rejected() {
    let wrong = IntegrityKey::short_term("VOkJxbRl1RmTxUk/WvJxBu");
    for vector in [REQUEST, IPV4_RESPONSE, IPV6_RESPONSE] {
        assert_eq!(
            verify_integrity(vector, &wrong),
            Err(StunError::IntegrityMismatch)
        );
    }
    // Without SASLprep the long-term key would differ.
    let unprepared = IntegrityKey::from_bytes({
        use md5::Digest;
        md5::Md5::digest("マトリックス:example.org:The\u{00AD}M\u{00AA}tr\u{2168}".as_bytes())
            .to_vec()
    });
    assert_eq!(
        verify_integrity(LONG_TERM_REQUEST, &unprepared),
        Err(StunError::IntegrityMismatch)
    );
}

/// Flipping any bit of any vector must be detected: decoding fails, MESSAGE-INTEGRITY fails
/// (it covers every byte before it, padding included), or FINGERPRINT fails.
///
/// One case cannot fail decoding, by design: a flip in the FINGERPRINT attribute's *type*
/// turns it into an unknown attribute after MESSAGE-INTEGRITY, which RFC 8489 §14.5 says to
/// ignore. The message then decodes without FINGERPRINT, so a receiver that requires it
/// (`has_fingerprint`, as ICE does) still rejects it. The test checks that this is the only
/// such case and that nothing else about the message changes.
#[test]
fn every_single_bit_flip_is_detected() {
    let cases = [
        (REQUEST, short_term_key()),
        (IPV4_RESPONSE, short_term_key()),
        (IPV6_RESPONSE, short_term_key()),
        (LONG_TERM_REQUEST, long_term_key()),
    ];
    let mut flips = 0;
    let mut fingerprint_type_flips = 0;
    for (vector, key) in &cases {
        let original = Message::decode(vector).unwrap();
        for position in 0..vector.len() {
            for bit in 0..8 {
                let mut altered = vector.to_vec();
                altered[position] ^= 1 << bit;
                flips += 1;
                let Ok(decoded) = Message::decode(&altered) else {
                    continue;
                };
                if verify_integrity(&altered, key).is_err() {
                    continue;
                }
                let in_fingerprint_type = original.has_fingerprint()
                    && (vector.len() - 8..vector.len() - 6).contains(&position);
                assert!(
                    in_fingerprint_type,
                    "flipping bit {bit} of byte {position} went unnoticed ({} bytes)",
                    vector.len()
                );
                assert!(!decoded.has_fingerprint());
                let mut without_fingerprint = original.clone();
                without_fingerprint
                    .attributes
                    .retain(|a| !matches!(a, Attribute::Fingerprint(_)));
                assert_eq!(decoded, without_fingerprint);
                fingerprint_type_flips += 1;
            }
        }
    }
    assert_eq!(flips, (108 + 80 + 92 + 116) * 8);
    // 16 bits of FINGERPRINT type in each of the three vectors that carry one.
    assert_eq!(fingerprint_type_flips, 3 * 16);
}

/// Re-encoding §2.2 with the password. The vector pads SOFTWARE ("test vector", 11 bytes)
/// with 0x20; we pad with 0x00 (RFC 8489 §14). So the bytes before MESSAGE-INTEGRITY match
/// except that one padding byte, and MI and FINGERPRINT, which cover it, differ. What is
/// comparable: an independent reference computation of MI and FINGERPRINT (HMAC-SHA1 and
/// CRC-32 written out in this test) gives the RFC's bytes on the RFC's prefix and our bytes on
/// our prefix, so `encode` computes exactly what the RFC computes.
#[test]
fn reencoding_ipv4_response_reproduces_integrity_and_fingerprint() {
    let decoded = Message::decode(IPV4_RESPONSE).unwrap();
    let ours = decoded.encode(Some(&short_term_key()), true);
    assert_eq!(ours.len(), IPV4_RESPONSE.len());

    // SOFTWARE's padding byte is at 20 (header) + 4 (attribute header) + 11 = 35.
    let padding_at = 35;
    assert_eq!(IPV4_RESPONSE[padding_at], 0x20);
    assert_eq!(ours[padding_at], 0x00);
    // MESSAGE-INTEGRITY starts at 80 - 8 (FINGERPRINT) - 24 = 48.
    let mi_at = 48;
    for i in (0..mi_at).filter(|&i| i != padding_at) {
        assert_eq!(ours[i], IPV4_RESPONSE[i], "byte {i} differs");
    }
    assert_eq!(
        ours[mi_at..mi_at + 4],
        IPV4_RESPONSE[mi_at..mi_at + 4],
        "MI attribute header"
    );

    let (rfc_mi, rfc_fp) = reference_mi_and_fingerprint(&IPV4_RESPONSE[..mi_at], &short_term_key());
    assert_eq!(rfc_mi.as_slice(), &IPV4_RESPONSE[52..72]);
    assert_eq!(rfc_fp.to_be_bytes(), IPV4_RESPONSE[76..80]);
    let (our_mi, our_fp) = reference_mi_and_fingerprint(&ours[..mi_at], &short_term_key());
    assert_eq!(our_mi.as_slice(), &ours[52..72]);
    assert_eq!(our_fp.to_be_bytes(), ours[76..80]);

    assert_eq!(verify_integrity(&ours, &short_term_key()), Ok(()));
    let mut expected = decoded.clone();
    expected.attributes[2] = Attribute::MessageIntegrity(our_mi);
    expected.attributes[3] = Attribute::Fingerprint(our_fp);
    assert_eq!(Message::decode(&ours), Ok(expected));
}

/// §2.4 pads with zeros, as we do, so re-encoding it with the long-term key reproduces the
/// vector byte for byte, MESSAGE-INTEGRITY included.
#[test]
fn reencoding_long_term_request_reproduces_the_vector_exactly() {
    let decoded = Message::decode(LONG_TERM_REQUEST).unwrap();
    assert_eq!(
        decoded.encode(Some(&long_term_key()), false),
        LONG_TERM_REQUEST
    );
}

/// RFC 8489 §14.5 and §14.7 spelled out independently of the crate: MI is HMAC-SHA1 over the
/// prefix with the length counting MI; FINGERPRINT is CRC-32 XOR 0x5354554E over the prefix
/// plus MI with the length counting FINGERPRINT.
fn reference_mi_and_fingerprint(prefix: &[u8], key: &IntegrityKey) -> ([u8; 20], u32) {
    use hmac::{Hmac, Mac};
    let mut bytes = prefix.to_vec();
    let mi_len = (prefix.len() - 20 + 24) as u16;
    bytes[2..4].copy_from_slice(&mi_len.to_be_bytes());
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&bytes);
    let mi: [u8; 20] = mac.finalize().into_bytes().into();
    bytes.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
    bytes.extend_from_slice(&mi);
    let fp_len = (bytes.len() - 20 + 8) as u16;
    bytes[2..4].copy_from_slice(&fp_len.to_be_bytes());
    (mi, crc32fast::hash(&bytes) ^ 0x5354_554E)
}
