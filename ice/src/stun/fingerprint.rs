//! FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message before the attribute, XOR 0x5354554E.

/// RFC 8489 §14.7: the CRC is XOR-ed with this constant ("STUN" in ASCII) so that a CRC
/// computed by another protocol over the same bytes does not look like a STUN fingerprint.
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// The FINGERPRINT value for `before`: the message up to (not including) the FINGERPRINT
/// attribute, with the header's length field already counting the 8-byte attribute.
pub fn compute(before: &[u8]) -> u32 {
    crc32fast::hash(before) ^ FINGERPRINT_XOR
}
