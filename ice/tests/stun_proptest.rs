//! Property tests: any message we can build survives encode → decode unchanged, and no byte
//! string makes the decoders panic.

use std::net::{IpAddr, SocketAddr};

use ice::stun::{
    decode_channel_data, is_stun, verify_integrity, Attribute, Class, IntegrityKey, Message,
    Method, TransactionId,
};
use proptest::prelude::*;

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    // SocketAddr::new: no IPv6 flow info or scope id, which STUN does not carry.
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

/// Every attribute `encode` writes as given (integrity and fingerprint are computed instead).
fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        socket_addr().prop_map(Attribute::MappedAddress),
        socket_addr().prop_map(Attribute::XorMappedAddress),
        text().prop_map(Attribute::Username),
        (300u16..700, text()).prop_map(|(code, reason)| Attribute::ErrorCode { code, reason }),
        prop::collection::vec(any::<u16>(), 0..6).prop_map(Attribute::UnknownAttributes),
        text().prop_map(Attribute::Realm),
        text().prop_map(Attribute::Nonce),
        text().prop_map(Attribute::Software),
        socket_addr().prop_map(Attribute::AlternateServer),
        any::<u32>().prop_map(Attribute::Priority),
        Just(Attribute::UseCandidate),
        any::<u64>().prop_map(Attribute::IceControlled),
        any::<u64>().prop_map(Attribute::IceControlling),
        any::<u16>().prop_map(Attribute::ChannelNumber),
        any::<u32>().prop_map(Attribute::Lifetime),
        socket_addr().prop_map(Attribute::XorPeerAddress),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Attribute::Data),
        socket_addr().prop_map(Attribute::XorRelayedAddress),
        any::<u8>().prop_map(Attribute::RequestedAddressFamily),
        any::<bool>().prop_map(Attribute::EvenPort),
        any::<u8>().prop_map(Attribute::RequestedTransport),
        Just(Attribute::DontFragment),
        any::<[u8; 8]>().prop_map(Attribute::ReservationToken),
        // Unknown comprehension-optional types, avoiding the ones we know.
        (
            0x8000u16..=0xFFFF,
            prop::collection::vec(any::<u8>(), 0..12)
        )
            .prop_filter("known type", |(typ, _)| !matches!(
                typ,
                0x8022 | 0x8023 | 0x8028 | 0x8029 | 0x802A
            ))
            .prop_map(|(typ, value)| Attribute::Unknown { typ, value }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let class = prop_oneof![
        Just(Class::Request),
        Just(Class::Indication),
        Just(Class::Success),
        Just(Class::Error)
    ];
    let method = (0u16..0x1000).prop_map(Method::from_number);
    (
        class,
        method,
        any::<[u8; 12]>(),
        prop::collection::vec(attribute(), 0..8),
    )
        .prop_map(|(class, method, id, attributes)| {
            let mut msg = Message::new(class, method, TransactionId(id));
            attributes.into_iter().for_each(|a| msg.push(a));
            msg
        })
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_same_message(msg in message()) {
        let bytes = msg.encode(None, false);
        prop_assert_eq!(Message::decode(&bytes), Ok(msg));
    }

    #[test]
    fn signed_messages_decode_verify_and_keep_their_attributes(
        msg in message(), password in "[ -~]{0,20}", fingerprint in any::<bool>()
    ) {
        let key = IntegrityKey::short_term(&password);
        let bytes = msg.encode(Some(&key), fingerprint);
        let decoded = Message::decode(&bytes).unwrap();
        let n = msg.attributes.len();
        prop_assert_eq!(&decoded.attributes[..n], &msg.attributes[..]);
        prop_assert!(matches!(decoded.attributes.get(n), Some(Attribute::MessageIntegrity(_))));
        prop_assert_eq!(decoded.has_fingerprint(), fingerprint);
        prop_assert_eq!(decoded.attributes.len(), n + 1 + usize::from(fingerprint));
        prop_assert_eq!(verify_integrity(&bytes, &key), Ok(()));
        let other = IntegrityKey::short_term(&format!("{password}!"));
        prop_assert!(verify_integrity(&bytes, &other).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let key = IntegrityKey::short_term("pw");
        let _ = Message::decode(&bytes);
        let _ = verify_integrity(&bytes, &key);
        let _ = decode_channel_data(&bytes);
        let _ = is_stun(&bytes);
    }

    /// Random attribute bytes behind a valid header reach the attribute decoders.
    #[test]
    fn arbitrary_attributes_behind_a_valid_header_never_panic(
        typ in any::<u16>(), id in any::<[u8; 12]>(), words in prop::collection::vec(any::<[u8; 4]>(), 0..40)
    ) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(typ & 0x3FFF).to_be_bytes());
        bytes.extend_from_slice(&((words.len() * 4) as u16).to_be_bytes());
        bytes.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        bytes.extend_from_slice(&id);
        words.iter().for_each(|w| bytes.extend_from_slice(w));
        let _ = Message::decode(&bytes);
        let _ = verify_integrity(&bytes, &IntegrityKey::short_term("pw"));
    }

    /// Mutations of valid signed messages: decode and verify never panic, and a mutation that
    /// still decodes and verifies leaves the attributes before MESSAGE-INTEGRITY unchanged.
    #[test]
    fn mutated_messages_never_panic_and_never_forge(
        msg in message(), position in any::<prop::sample::Index>(), xor in 1u8..=255
    ) {
        let key = IntegrityKey::short_term("pw");
        let mut bytes = msg.encode(Some(&key), true);
        let i = position.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(decoded) = Message::decode(&bytes) {
            if verify_integrity(&bytes, &key).is_ok() {
                prop_assert_eq!(&decoded.attributes[..msg.attributes.len()], &msg.attributes[..]);
            }
        }
    }
}
