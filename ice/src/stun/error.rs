//! Everything that can be wrong with a STUN message or a ChannelData frame.

/// Why a datagram was rejected. Each variant names what is wrong so a log line is enough to
/// find the bad byte.
#[derive(thiserror::Error, Clone, PartialEq, Eq, Debug)]
pub enum StunError {
    /// Fewer than the 20 bytes of a STUN header.
    #[error("too short for a STUN header: {len} bytes, need at least 20")]
    TooShort { len: usize },

    /// The first two bits are not zero (RFC 8489 §5), so this is not STUN at all.
    #[error("not a STUN message: the two leading bits of the type are not zero")]
    NotStun,

    /// The magic cookie at bytes 4..8 is not 0x2112A442 (RFC 8489 §5).
    #[error("wrong magic cookie {found:#010x}, expected 0x2112a442")]
    BadCookie { found: u32 },

    /// The header's length field does not describe the datagram (RFC 8489 §5).
    #[error("bad message length: header says {declared} bytes of attributes, datagram has {actual}{}",
        if !declared.is_multiple_of(4) { " (and it is not a multiple of 4)" } else { "" })]
    BadLength { declared: usize, actual: usize },

    /// An attribute's header or value (with its padding) runs past the end of the message.
    #[error(
        "attribute {typ:#06x} is truncated: its header or value runs past the end of the message"
    )]
    TruncatedAttribute { typ: u16 },

    /// An attribute of a known type has a value that its RFC does not allow.
    #[error("bad value in attribute {typ:#06x}: {reason}")]
    BadAttributeValue { typ: u16, reason: &'static str },

    /// RFC 8489 §14.7: FINGERPRINT must be the last attribute.
    #[error("FINGERPRINT is not the last attribute")]
    FingerprintNotLast,

    /// RFC 8489 §14.7: the CRC-32 in FINGERPRINT does not match the message.
    #[error("FINGERPRINT mismatch: attribute says {found:#010x}, message gives {computed:#010x}")]
    FingerprintMismatch { found: u32, computed: u32 },

    /// Neither MESSAGE-INTEGRITY nor MESSAGE-INTEGRITY-SHA256 is present.
    #[error("no MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 attribute to verify")]
    MissingIntegrity,

    /// The HMAC in MESSAGE-INTEGRITY(-SHA256) does not match the key and the message.
    #[error("MESSAGE-INTEGRITY mismatch: wrong key or altered message")]
    IntegrityMismatch,

    /// A ChannelData frame (RFC 8656 §12.4) is malformed.
    #[error("bad ChannelData frame: {reason}")]
    BadChannelData { reason: &'static str },
}
