//! Malformed input gets a typed error naming what is wrong; edge rules of RFC 8489 §14
//! (padding, unknown attributes, attributes after MESSAGE-INTEGRITY) are applied on decode.

use ice::stun::{
    append_message_integrity_sha256, verify_integrity, Attribute, Class, IntegrityKey, Message,
    Method, StunError, TransactionId, MAGIC_COOKIE,
};

const TID: TransactionId = TransactionId([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

/// A Binding request with the given raw attributes, each zero padded, and a correct length.
fn raw(attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut out = vec![0x00, 0x01, 0, 0];
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&TID.0);
    for (typ, value) in attrs {
        out.extend_from_slice(&typ.to_be_bytes());
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
        out.resize(out.len() + (4 - value.len() % 4) % 4, 0);
    }
    fix_length(&mut out);
    out
}

fn fix_length(out: &mut [u8]) {
    let len = (out.len() - 20) as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
}

fn bad_value(bytes: &[u8]) -> (u16, &'static str) {
    match Message::decode(bytes) {
        Err(StunError::BadAttributeValue { typ, reason }) => (typ, reason),
        other => panic!("expected BadAttributeValue, got {other:?}"),
    }
}

#[test]
fn too_short_not_stun_and_bad_cookie() {
    let ok = raw(&[]);
    assert_eq!(Message::decode(&ok[..19]), Err(StunError::TooShort));
    assert_eq!(Message::decode(&[]), Err(StunError::TooShort));

    let mut rtp = ok.clone();
    rtp[0] = 0x80;
    assert_eq!(Message::decode(&rtp), Err(StunError::NotStun));

    let mut cookie = ok.clone();
    cookie[4] = 0x21 ^ 0xFF;
    assert_eq!(Message::decode(&cookie), Err(StunError::BadCookie));
}

#[test]
fn length_field_must_be_a_multiple_of_4_and_match_the_datagram() {
    let mut msg = raw(&[(0x0024, &[0, 0, 0, 1])]);
    msg[3] = 6;
    assert_eq!(Message::decode(&msg), Err(StunError::BadLength));
    msg[3] = 4;
    assert_eq!(Message::decode(&msg), Err(StunError::BadLength));
    msg[3] = 12;
    assert_eq!(Message::decode(&msg), Err(StunError::BadLength));
    // Trailing garbage after a correct message is a length mismatch too.
    let mut long = raw(&[]);
    long.extend_from_slice(&[0; 4]);
    assert_eq!(Message::decode(&long), Err(StunError::BadLength));
    let err = Message::decode(&msg).unwrap_err().to_string();
    assert!(err.contains("bad message length"), "{err}");
}

#[test]
fn truncated_attributes_are_reported_with_their_type() {
    // Value length 8 but only 4 bytes follow.
    let mut msg = raw(&[(0x0024, &[0, 0, 0, 1])]);
    msg[23] = 8;
    assert_eq!(
        Message::decode(&msg),
        Err(StunError::TruncatedAttribute { typ: 0x0024 })
    );
    // Value of 5 bytes whose padding would run past the end.
    let mut msg = raw(&[(0x8022, b"abcd")]);
    msg[23] = 5;
    assert_eq!(
        Message::decode(&msg),
        Err(StunError::TruncatedAttribute { typ: 0x8022 })
    );
    let err = Message::decode(&msg).unwrap_err().to_string();
    assert!(err.contains("0x8022") && err.contains("truncated"), "{err}");
}

#[test]
fn padding_content_is_ignored() {
    // RFC 8489 §14: receivers ignore padding; RFC 5769 uses 0x20, we also try 0xFF.
    let mut msg = raw(&[(0x0006, b"user1"), (0x0024, &[0, 0, 1, 0])]);
    msg[20 + 4 + 5..20 + 8 + 4].fill(0xFF);
    let decoded = Message::decode(&msg).unwrap();
    assert_eq!(decoded.username(), Some("user1"));
    assert_eq!(decoded.priority(), Some(256));
}

#[test]
fn bad_attribute_values_name_the_attribute() {
    assert_eq!(
        bad_value(&raw(&[(0x0020, &[0, 3, 0, 1, 1, 2, 3, 4])])).0,
        0x0020
    );
    assert_eq!(
        bad_value(&raw(&[(0x0020, &[0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8])])),
        (0x0020, "IPv4 address value must be 8 bytes long")
    );
    assert_eq!(
        bad_value(&raw(&[(0x0024, &[0, 0, 1])])),
        (0x0024, "must be 4 bytes")
    );
    assert_eq!(
        bad_value(&raw(&[(0x0006, &[0xC3, 0x28])])),
        (0x0006, "text is not valid UTF-8")
    );
    assert_eq!(
        bad_value(&raw(&[(0x0009, &[0, 0, 7, 0])])),
        (0x0009, "error class must be 3 to 6")
    );
    assert_eq!(
        bad_value(&raw(&[(0x0009, &[0, 0, 4, 100])])),
        (0x0009, "error number must be 0 to 99")
    );
    assert_eq!(
        bad_value(&raw(&[(0x0008, &[0; 19])])),
        (0x0008, "HMAC-SHA1 value must be 20 bytes")
    );
    assert_eq!(bad_value(&raw(&[(0x001C, &[0; 12])])).0, 0x001C);
    assert_eq!(bad_value(&raw(&[(0x001C, &[0; 18])])).0, 0x001C);
    assert_eq!(
        bad_value(&raw(&[(0x0025, &[0])])),
        (0x0025, "must be empty")
    );
    assert_eq!(
        bad_value(&raw(&[(0x802A, &[0; 4])])),
        (0x802A, "tie-breaker must be 8 bytes")
    );
    assert_eq!(bad_value(&raw(&[(0x000A, &[0; 3])])).0, 0x000A);
    assert_eq!(
        bad_value(&raw(&[(0x0018, &[0, 0])])),
        (0x0018, "must be 1 byte")
    );
    assert_eq!(
        bad_value(&raw(&[(0x8028, &[0; 8])])),
        (0x8028, "CRC-32 value must be 4 bytes")
    );
    let text = Message::decode(&raw(&[(0x0020, &[0, 3, 0, 1, 1, 2, 3, 4])]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "bad value in attribute 0x0020: address family must be 0x01 (IPv4) or 0x02 (IPv6)"
    );
}

#[test]
fn fingerprint_must_be_last_and_must_match() {
    let msg = Message::new(Class::Request, Method::Binding, TID).with(Attribute::Priority(7));
    let mut bytes = msg.encode(None, true);
    assert!(Message::decode(&bytes).unwrap().has_fingerprint());

    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(matches!(
        Message::decode(&bytes),
        Err(StunError::FingerprintMismatch)
    ));
    bytes[last] ^= 1;

    bytes.extend_from_slice(&[0x00, 0x25, 0x00, 0x00]); // USE-CANDIDATE after FINGERPRINT
    fix_length(&mut bytes);
    assert_eq!(Message::decode(&bytes), Err(StunError::FingerprintNotLast));
}

#[test]
fn unknown_attributes_optional_kept_required_reported() {
    let bytes = raw(&[
        (0x8123, b"opt"),
        (0x0042, b"req"),
        (0x0024, &[0, 0, 0, 9]),
        (0x0042, b"again"),
    ]);
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(
        msg.attributes,
        vec![
            Attribute::Unknown {
                typ: 0x8123,
                value: b"opt".to_vec()
            },
            Attribute::Priority(9)
        ]
    );
    assert_eq!(msg.unknown_comprehension_required, vec![0x0042]);
}

#[test]
fn attributes_after_message_integrity_are_ignored_except_fingerprint() {
    let key = IntegrityKey::short_term("pass");
    let msg =
        Message::new(Class::Request, Method::Binding, TID).with(Attribute::Username("u".into()));
    let signed = msg.encode(Some(&key), false);
    // RFC 8489 §14.5: an attacker may append attributes after MI; receivers ignore them.
    let mut appended = signed.clone();
    appended.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 0, 0, 0, 5]); // PRIORITY
    appended.extend_from_slice(&[0x00, 0x42, 0x00, 0x00]); // unknown comprehension-required
    fix_length(&mut appended);
    let decoded = Message::decode(&appended).unwrap();
    assert_eq!(decoded.priority(), None);
    assert!(decoded.unknown_comprehension_required.is_empty());
    assert_eq!(decoded.attributes.len(), 2);
    assert_eq!(verify_integrity(&appended, &key), Ok(()));

    // FINGERPRINT after MI is processed.
    let both = msg.encode(Some(&key), true);
    let decoded = Message::decode(&both).unwrap();
    assert!(decoded.has_integrity() && decoded.has_fingerprint());
    assert_eq!(verify_integrity(&both, &key), Ok(()));
}

#[test]
fn missing_integrity_is_its_own_error() {
    let bytes = Message::new(Class::Request, Method::Binding, TID).encode(None, true);
    assert_eq!(
        verify_integrity(&bytes, &IntegrityKey::short_term("x")),
        Err(StunError::MissingIntegrity)
    );
    assert_eq!(
        verify_integrity(&bytes[..10], &IntegrityKey::short_term("x")),
        Err(StunError::TooShort)
    );
}

#[test]
fn message_integrity_sha256_alone_full_and_truncated_and_together_with_sha1() {
    let key = IntegrityKey::long_term("alice", "example.org", "secret");
    let msg =
        Message::new(Class::Request, Method::Allocate, TID).with(Attribute::RequestedTransport(17));

    // Only MI-SHA256 (32 bytes).
    let mut only = msg.encode(None, false);
    append_message_integrity_sha256(&mut only, &key);
    assert_eq!(verify_integrity(&only, &key), Ok(()));
    assert_eq!(
        verify_integrity(&only, &IntegrityKey::short_term("x")),
        Err(StunError::IntegrityMismatch)
    );
    let decoded = Message::decode(&only).unwrap();
    assert!(decoded.has_integrity());
    assert!(
        matches!(decoded.attributes.last(), Some(Attribute::MessageIntegritySha256(v)) if v.len() == 32)
    );

    // RFC 8489 §14.6: truncated to 16 bytes; the HMAC input's length counts only those 16.
    // Built by hand, since `append_message_integrity_sha256` always writes 32 bytes.
    let mut truncated = msg.encode(None, false);
    {
        use hmac::{Hmac, Mac};
        let mut prefix = truncated.clone();
        let len = (prefix.len() - 20 + 4 + 16) as u16;
        prefix[2..4].copy_from_slice(&len.to_be_bytes());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(&prefix);
        let value = mac.finalize().into_bytes();
        truncated.extend_from_slice(&[0x00, 0x1C, 0x00, 0x10]);
        truncated.extend_from_slice(&value[..16]);
        fix_length(&mut truncated);
    }
    assert_eq!(verify_integrity(&truncated, &key), Ok(()));
    let last = truncated.len() - 1;
    truncated[last] ^= 0x80;
    assert_eq!(
        verify_integrity(&truncated, &key),
        Err(StunError::IntegrityMismatch)
    );

    // MI then MI-SHA256: both are checked.
    let mut both = msg.encode(Some(&key), false);
    append_message_integrity_sha256(&mut both, &key);
    assert_eq!(verify_integrity(&both, &key), Ok(()));
    let last = both.len() - 1;
    both[last] ^= 1;
    assert_eq!(
        verify_integrity(&both, &key),
        Err(StunError::IntegrityMismatch)
    );
}

#[test]
fn encode_computes_integrity_and_fingerprint_itself_and_writes_zero_padding() {
    let key = IntegrityKey::short_term("pw");
    let msg = Message::new(Class::Request, Method::Binding, TID)
        .with(Attribute::Fingerprint(0xDEAD_BEEF)) // stale values are not written
        .with(Attribute::MessageIntegrity([9; 20]))
        .with(Attribute::Username("abc".into()));
    let bytes = msg.encode(Some(&key), true);
    // header 20 + USERNAME 8 + MI 24 + FINGERPRINT 8
    assert_eq!(bytes.len(), 60);
    assert_eq!(&bytes[24..28], b"abc\0");
    assert_eq!(&bytes[28..32], &[0x00, 0x08, 0x00, 0x14]);
    assert_eq!(&bytes[52..56], &[0x80, 0x28, 0x00, 0x04]);
    let decoded = Message::decode(&bytes).unwrap();
    assert_eq!(decoded.attributes[0], Attribute::Username("abc".into()));
    assert_ne!(decoded.attributes[1], Attribute::MessageIntegrity([9; 20]));
    assert_ne!(decoded.attributes[2], Attribute::Fingerprint(0xDEAD_BEEF));
    assert_eq!(verify_integrity(&bytes, &key), Ok(()));
}

#[test]
fn accessors_return_the_first_matching_attribute() {
    let msg = Message::new(Class::Error, Method::Allocate, TID)
        .with(Attribute::MappedAddress("192.0.2.1:1".parse().unwrap()))
        .with(Attribute::XorMappedAddress("192.0.2.2:2".parse().unwrap()))
        .with(Attribute::ErrorCode {
            code: 401,
            reason: "Unauthorized".into(),
        })
        .with(Attribute::ErrorCode {
            code: 438,
            reason: "Stale Nonce".into(),
        })
        .with(Attribute::Lifetime(600))
        .with(Attribute::XorPeerAddress(
            "[2001:db8::1]:3".parse().unwrap(),
        ))
        .with(Attribute::XorRelayedAddress(
            "203.0.113.4:4".parse().unwrap(),
        ))
        .with(Attribute::Data(vec![1, 2, 3]))
        .with(Attribute::ChannelNumber(0x4001))
        .with(Attribute::UseCandidate)
        .with(Attribute::IceControlling(42));
    let msg = Message::decode(&msg.encode(None, false)).unwrap();
    assert_eq!(
        msg.mapped_address(),
        Some("192.0.2.2:2".parse().unwrap()),
        "XOR form preferred"
    );
    assert_eq!(msg.error_code(), Some((401, "Unauthorized")));
    assert_eq!(msg.lifetime(), Some(600));
    assert_eq!(
        msg.xor_peer_address(),
        Some("[2001:db8::1]:3".parse().unwrap())
    );
    assert_eq!(
        msg.xor_relayed_address(),
        Some("203.0.113.4:4".parse().unwrap())
    );
    assert_eq!(msg.data(), Some(&[1u8, 2, 3][..]));
    assert_eq!(msg.channel_number(), Some(0x4001));
    assert!(msg.use_candidate());
    assert_eq!(msg.ice_controlling(), Some(42));
    assert!(!msg.has_integrity());
    assert_eq!((msg.class, msg.method), (Class::Error, Method::Allocate));
    let only_mapped = Message::new(Class::Success, Method::Binding, TID)
        .with(Attribute::MappedAddress("192.0.2.1:1".parse().unwrap()));
    assert_eq!(
        only_mapped.mapped_address(),
        Some("192.0.2.1:1".parse().unwrap())
    );
}
