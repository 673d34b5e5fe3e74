//! Header validation and the walk over attribute TLVs (RFC 8489 §5, §14). Shared by
//! `Message::decode` and `verify_integrity`, which both need attribute offsets in the raw bytes.

use super::error::StunError;
use super::header::{HEADER_LEN, MAGIC_COOKIE};

/// RFC 8489 §14: each attribute starts with a 2-byte type and a 2-byte value length.
pub const ATTRIBUTE_HEADER_LEN: usize = 4;

/// RFC 8489 §14: values are padded to a multiple of 4 bytes.
pub fn padded(len: usize) -> usize {
    (len + 3) & !3
}

/// Check the fixed header of a datagram (RFC 8489 §5) and return its message type.
pub fn check_header(bytes: &[u8]) -> Result<u16, StunError> {
    let header = bytes.get(..HEADER_LEN).ok_or(StunError::TooShort)?;
    let typ = u16::from_be_bytes([header[0], header[1]]);
    // RFC 8489 §5: the most significant 2 bits of every STUN message are zero.
    if typ & 0xC000 != 0 {
        return Err(StunError::NotStun);
    }
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if cookie != MAGIC_COOKIE {
        tracing::debug!(
            cookie = format_args!("{cookie:#010x}"),
            "STUN: wrong magic cookie"
        );
        return Err(StunError::BadCookie);
    }
    // RFC 8489 §5: the length excludes the header, is a multiple of 4 (attributes are padded)
    // and, over UDP, describes exactly the datagram.
    let declared = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let actual = bytes.len() - HEADER_LEN;
    if !declared.is_multiple_of(4) || declared != actual {
        tracing::debug!(declared, actual, "STUN: bad message length");
        return Err(StunError::BadLength);
    }
    Ok(typ)
}

/// One attribute as it sits in the datagram.
#[derive(Debug, Clone, Copy)]
pub struct RawAttribute<'a> {
    /// Offset of the attribute's type field from the start of the message.
    pub offset: usize,
    pub typ: u16,
    /// The value without padding.
    pub value: &'a [u8],
}

impl RawAttribute<'_> {
    /// Offset just past this attribute's padding.
    pub fn end(&self) -> usize {
        self.offset + ATTRIBUTE_HEADER_LEN + padded(self.value.len())
    }
}

/// Iterate over the attributes of a message whose header `check_header` accepted. Stops at
/// the first framing error (after yielding it).
pub fn attributes(bytes: &[u8]) -> Attributes<'_> {
    Attributes {
        bytes,
        pos: HEADER_LEN,
        failed: false,
    }
}

pub struct Attributes<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<RawAttribute<'a>, StunError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let rest = self.bytes.get(self.pos..)?;
        let typ = match rest {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        let truncated = StunError::TruncatedAttribute { typ };
        let len = match rest {
            [_, _, a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => {
                self.failed = true;
                return Some(Err(truncated));
            }
        };
        // RFC 8489 §14: the value and its padding must fit in the message. The padding's
        // content is not checked: RFC 5769 vectors pad with 0x20 and receivers ignore it.
        let value = rest.get(ATTRIBUTE_HEADER_LEN..ATTRIBUTE_HEADER_LEN + len);
        let fits = ATTRIBUTE_HEADER_LEN + padded(len) <= rest.len();
        match value {
            Some(value) if fits => {
                let attr = RawAttribute {
                    offset: self.pos,
                    typ,
                    value,
                };
                self.pos = attr.end();
                Some(Ok(attr))
            }
            _ => {
                self.failed = true;
                Some(Err(truncated))
            }
        }
    }
}
