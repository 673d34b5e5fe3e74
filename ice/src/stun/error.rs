//! Everything that can be wrong with a STUN message or a ChannelData frame.

/// Why a datagram was rejected. Each variant names what is wrong so a log line is enough to
/// find the bad byte.
#[derive(thiserror::Error, Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum StunError {
    /// Fewer than the 20 bytes of a STUN header.
    #[error("too short for a STUN message: fewer than the 20 bytes of a STUN header")]
    TooShort,

    /// The first two bits are not zero (RFC 8489 §5), so this is not STUN at all.
    #[error("not a STUN message: the two leading bits of the type are not zero")]
    NotStun,

    /// The magic cookie at bytes 4..8 is not 0x2112A442 (RFC 8489 §5).
    #[error("wrong magic cookie: bytes 4..8 are not 0x2112A442")]
    BadCookie,

    /// The header's length field is not a multiple of 4 or does not match the datagram's size
    /// (RFC 8489 §5). The two numbers are logged at debug level.
    #[error("bad message length: the header's length field is not a multiple of 4 or does not match the datagram")]
    BadLength,

    /// An attribute's header or value (with its padding) runs past the end of the message.
    #[error(
        "attribute {typ:#06x} is truncated: its header or value runs past the end of the message"
    )]
    TruncatedAttribute {
        /// The type of the truncated attribute.
        typ: u16,
    },

    /// An attribute of a known type has a value that its RFC does not allow.
    #[error("bad value in attribute {typ:#06x}: {reason}")]
    BadAttributeValue {
        /// The attribute type.
        typ: u16,
        /// Which rule the value broke (e.g. a wrong length or address family).
        reason: &'static str,
    },

    /// RFC 8489 §14.7: FINGERPRINT must be the last attribute.
    #[error("FINGERPRINT is not the last attribute")]
    FingerprintNotLast,

    /// RFC 8489 §14.7: the CRC-32 in FINGERPRINT does not match the message.
    #[error("FINGERPRINT mismatch: the CRC-32 does not match the message")]
    FingerprintMismatch,

    /// Neither MESSAGE-INTEGRITY nor MESSAGE-INTEGRITY-SHA256 is present.
    #[error("no MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 attribute to verify")]
    MissingIntegrity,

    /// The HMAC in MESSAGE-INTEGRITY(-SHA256) does not match the key and the message.
    #[error("MESSAGE-INTEGRITY mismatch: wrong key or altered message")]
    IntegrityMismatch,

    /// A ChannelData frame (RFC 8656 §12.4) is malformed: shorter than its header or than its
    /// length field says, a channel number outside 0x4000-0x4FFF, or more than padding after
    /// the data. Which one is logged at debug level.
    #[error(
        "bad ChannelData frame: too short, channel number outside 0x4000-0x4FFF, or trailing bytes"
    )]
    BadChannelData,
}
