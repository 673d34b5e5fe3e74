//! The STUN message (RFC 8489 §5-§6): builder, accessors, `encode` and `decode`.

use std::net::SocketAddr;

use super::attribute::{is_comprehension_required, types, Attribute};
use super::error::StunError;
use super::fingerprint;
use super::framing::{self, ATTRIBUTE_HEADER_LEN};
use super::header::{
    message_type, split_message_type, Class, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE,
};
use super::integrity::{self, IntegrityKey};

/// Largest value the 16-bit length field of an attribute can describe and still be padded.
const MAX_VALUE_LEN: usize = 0xFFFC;

/// A decoded (or to-be-encoded) STUN message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    pub class: Class,
    pub method: Method,
    pub transaction_id: TransactionId,
    pub attributes: Vec<Attribute>,
    /// RFC 8489 §6.3: unknown comprehension-required types (0x0000-0x7FFF) seen on decode.
    /// A server answers 420 with UNKNOWN-ATTRIBUTES; a client treats the response as failed.
    pub unknown_comprehension_required: Vec<u16>,
}

impl Message {
    pub fn new(class: Class, method: Method, transaction_id: TransactionId) -> Self {
        Message {
            class,
            method,
            transaction_id,
            attributes: Vec::new(),
            unknown_comprehension_required: Vec::new(),
        }
    }

    /// Builder form of [`Message::push`].
    pub fn with(mut self, attr: Attribute) -> Self {
        self.push(attr);
        self
    }

    pub fn push(&mut self, attr: Attribute) {
        self.attributes.push(attr);
    }

    fn find<'a, T>(&'a self, pick: impl Fn(&'a Attribute) -> Option<T>) -> Option<T> {
        self.attributes.iter().find_map(pick)
    }

    /// XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS (RFC 8489 §14.1: for RFC 3489 servers).
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        self.find(|a| match a {
            Attribute::XorMappedAddress(addr) => Some(*addr),
            _ => None,
        })
        .or_else(|| {
            self.find(|a| match a {
                Attribute::MappedAddress(addr) => Some(*addr),
                _ => None,
            })
        })
    }

    pub fn username(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Username(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn error_code(&self) -> Option<(u16, &str)> {
        self.find(|a| match a {
            Attribute::ErrorCode { code, reason } => Some((*code, reason.as_str())),
            _ => None,
        })
    }

    pub fn realm(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Realm(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn nonce(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Nonce(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn software(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Software(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn priority(&self) -> Option<u32> {
        self.find(|a| match a {
            Attribute::Priority(p) => Some(*p),
            _ => None,
        })
    }

    pub fn use_candidate(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, Attribute::UseCandidate))
    }

    pub fn ice_controlling(&self) -> Option<u64> {
        self.find(|a| match a {
            Attribute::IceControlling(t) => Some(*t),
            _ => None,
        })
    }

    pub fn ice_controlled(&self) -> Option<u64> {
        self.find(|a| match a {
            Attribute::IceControlled(t) => Some(*t),
            _ => None,
        })
    }

    pub fn lifetime(&self) -> Option<u32> {
        self.find(|a| match a {
            Attribute::Lifetime(s) => Some(*s),
            _ => None,
        })
    }

    pub fn xor_peer_address(&self) -> Option<SocketAddr> {
        self.find(|a| match a {
            Attribute::XorPeerAddress(addr) => Some(*addr),
            _ => None,
        })
    }

    pub fn xor_relayed_address(&self) -> Option<SocketAddr> {
        self.find(|a| match a {
            Attribute::XorRelayedAddress(addr) => Some(*addr),
            _ => None,
        })
    }

    pub fn data(&self) -> Option<&[u8]> {
        self.find(|a| match a {
            Attribute::Data(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    pub fn channel_number(&self) -> Option<u16> {
        self.find(|a| match a {
            Attribute::ChannelNumber(c) => Some(*c),
            _ => None,
        })
    }

    /// True if MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 is present (not verified).
    pub fn has_integrity(&self) -> bool {
        self.attributes.iter().any(|a| {
            matches!(
                a,
                Attribute::MessageIntegrity(_) | Attribute::MessageIntegritySha256(_)
            )
        })
    }

    /// True if a FINGERPRINT attribute is present. `decode` has already checked its value;
    /// ICE (RFC 8445 §7) uses it on every connectivity check, so receivers can insist.
    pub fn has_fingerprint(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, Attribute::Fingerprint(_)))
    }

    /// Encode. Attributes are written in order, except that any MessageIntegrity,
    /// MessageIntegritySha256 and Fingerprint in `attributes` are skipped; then, if `key` is
    /// Some, MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) is computed and appended; then, if
    /// `fingerprint`, FINGERPRINT (RFC 8489 §14.7) is appended last. Padding bytes are zero.
    ///
    /// A value longer than 65532 bytes is cut to 65532 (a warning is logged): the 16-bit
    /// length fields cannot describe more, and no STUN message over UDP comes near that.
    pub fn encode(&self, key: Option<&IntegrityKey>, fingerprint: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&message_type(self.method, self.class).to_be_bytes());
        out.extend_from_slice(&[0, 0]); // length, set below
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction_id.0);

        let mut value = Vec::new();
        for attr in &self.attributes {
            if matches!(
                attr,
                Attribute::MessageIntegrity(_)
                    | Attribute::MessageIntegritySha256(_)
                    | Attribute::Fingerprint(_)
            ) {
                continue;
            }
            value.clear();
            attr.write_value(&mut value, &self.transaction_id);
            write_attribute(&mut out, attr.typ(), &value);
        }
        if let Some(key) = key {
            // RFC 8489 §14.5: HMAC over everything before MI, with the header length already
            // counting MI (message_integrity adjusts it).
            let mac = integrity::message_integrity(key, &out);
            write_attribute(&mut out, types::MESSAGE_INTEGRITY, &mac);
        }
        if fingerprint {
            // RFC 8489 §14.7: FINGERPRINT is last; the CRC covers the header with a length
            // that already includes the 8-byte FINGERPRINT attribute.
            set_length_plus(&mut out, ATTRIBUTE_HEADER_LEN + 4);
            let crc = fingerprint::compute(&out);
            write_attribute(&mut out, types::FINGERPRINT, &crc.to_be_bytes());
        }
        set_length(&mut out);
        out
    }

    /// Decode. Checks header (leading zero bits, cookie, length multiple of 4 and equal to the
    /// datagram), each attribute's length and value, and FINGERPRINT if present (must be last,
    /// must match). Does NOT check MESSAGE-INTEGRITY (needs the key): see verify_integrity.
    /// Never panics on any input.
    ///
    /// RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256
    /// and FINGERPRINT are ignored (framing checked, value neither decoded nor kept); after
    /// MESSAGE-INTEGRITY-SHA256 only FINGERPRINT counts (§14.6). Of repeated integrity
    /// attributes, only the first is kept.
    pub fn decode(bytes: &[u8]) -> Result<Message, StunError> {
        let typ = framing::check_header(bytes)?;
        let (method, class) = split_message_type(typ);
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(bytes.get(8..HEADER_LEN).unwrap_or(&[0; 12]));
        let transaction_id = TransactionId(transaction_id);
        let mut message = Message::new(class, method, transaction_id);

        let mut after_sha1 = false;
        let mut after_sha256 = false;
        for raw in framing::attributes(bytes) {
            let raw = raw?;
            match raw.typ {
                types::FINGERPRINT => {
                    // RFC 8489 §14.7: FINGERPRINT must be the last attribute.
                    if raw.end() != bytes.len() {
                        return Err(StunError::FingerprintNotLast);
                    }
                    let attr = Attribute::read_value(raw.typ, raw.value, &transaction_id)?;
                    if let Attribute::Fingerprint(found) = attr {
                        let computed =
                            fingerprint::compute(bytes.get(..raw.offset).unwrap_or_default());
                        if found != computed {
                            tracing::debug!(found, computed, "STUN: FINGERPRINT mismatch");
                            return Err(StunError::FingerprintMismatch);
                        }
                    }
                    message.push(attr);
                }
                types::MESSAGE_INTEGRITY if !after_sha1 && !after_sha256 => {
                    message.push(Attribute::read_value(raw.typ, raw.value, &transaction_id)?);
                    after_sha1 = true;
                }
                types::MESSAGE_INTEGRITY_SHA256 if !after_sha256 => {
                    message.push(Attribute::read_value(raw.typ, raw.value, &transaction_id)?);
                    after_sha256 = true;
                }
                _ if after_sha1 || after_sha256 => {
                    tracing::trace!(typ = raw.typ, "ignoring attribute after MESSAGE-INTEGRITY");
                }
                typ => match Attribute::read_value(typ, raw.value, &transaction_id)? {
                    // RFC 8489 §6.3 / §14: unknown comprehension-required types are reported,
                    // unknown comprehension-optional ones are skipped (kept for re-encoding).
                    Attribute::Unknown { typ, .. } if is_comprehension_required(typ) => {
                        if !message.unknown_comprehension_required.contains(&typ) {
                            message.unknown_comprehension_required.push(typ);
                        }
                    }
                    attr => message.push(attr),
                },
            }
        }
        Ok(message)
    }
}

/// Append one attribute TLV with zero padding (RFC 8489 §14: padding is zero on send).
fn write_attribute(out: &mut Vec<u8>, typ: u16, value: &[u8]) {
    let value = match value.get(..MAX_VALUE_LEN) {
        Some(cut) if value.len() > MAX_VALUE_LEN => {
            tracing::warn!(
                typ,
                len = value.len(),
                "STUN attribute value too long, cut to 65532 bytes"
            );
            cut
        }
        _ => value,
    };
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + framing::padded(value.len()) - value.len(), 0);
}

/// Set the header's length field to the current attribute bytes.
pub(crate) fn set_length(out: &mut [u8]) {
    set_length_plus(out, 0);
}

/// Set the header's length field to the current attribute bytes plus `extra`.
fn set_length_plus(out: &mut [u8], extra: usize) {
    let len = out.len().saturating_sub(HEADER_LEN) + extra;
    let len = u16::try_from(len).unwrap_or_else(|_| {
        tracing::warn!(
            len,
            "STUN message longer than 65535 bytes; its length field is wrong"
        );
        u16::MAX
    });
    if let Some(field) = out.get_mut(2..4) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}
