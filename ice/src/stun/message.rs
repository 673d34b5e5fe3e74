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
    /// Request, indication, success or error response.
    pub class: Class,
    /// Binding (ICE, STUN) or one of the TURN methods.
    pub method: Method,
    /// Pairs a response with its request (RFC 8489 §5); XOR-ed addresses depend on it.
    pub transaction_id: TransactionId,
    /// The attributes in wire order. On decode, MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT
    /// are included and unknown comprehension-optional ones kept as `Attribute::Unknown`;
    /// on encode, integrity and fingerprint entries are skipped (see [`Message::encode`]).
    pub attributes: Vec<Attribute>,
    /// RFC 8489 §6.3: unknown comprehension-required types (0x0000-0x7FFF) seen on decode.
    /// A server answers 420 with UNKNOWN-ATTRIBUTES; a client treats the response as failed.
    pub unknown_comprehension_required: Vec<u16>,
}

impl Message {
    /// A message with no attributes; add them with [`Message::push`] or [`Message::with`].
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

    /// Append an attribute; attributes are encoded in the order pushed.
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

    /// USERNAME (RFC 8489 §14.3): `ufrag:ufrag` in ICE checks, the long-term username in TURN. The
    /// first such attribute; `None` if absent.
    pub fn username(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Username(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// ERROR-CODE (RFC 8489 §14.8) of an error response: the code (300-699) and reason phrase. The
    /// first such attribute; `None` if absent.
    pub fn error_code(&self) -> Option<(u16, &str)> {
        self.find(|a| match a {
            Attribute::ErrorCode { code, reason } => Some((*code, reason.as_str())),
            _ => None,
        })
    }

    /// REALM (RFC 8489 §14.9): the long-term credential realm a server's 401 names. The first such
    /// attribute; `None` if absent.
    pub fn realm(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Realm(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// NONCE (RFC 8489 §14.10): the server's nonce, to repeat in the next request. The first such
    /// attribute; `None` if absent.
    pub fn nonce(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Nonce(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// SOFTWARE (RFC 8489 §14.14): a description of the sender's software. The first such
    /// attribute; `None` if absent.
    pub fn software(&self) -> Option<&str> {
        self.find(|a| match a {
            Attribute::Software(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// PRIORITY (RFC 8445 §7.1.1): the priority a peer-reflexive candidate learned from this check
    /// gets. The first such attribute; `None` if absent.
    pub fn priority(&self) -> Option<u32> {
        self.find(|a| match a {
            Attribute::Priority(p) => Some(*p),
            _ => None,
        })
    }

    /// Whether USE-CANDIDATE is present (RFC 8445 §7.1.2): the controlling agent nominates the
    /// pair.
    pub fn use_candidate(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, Attribute::UseCandidate))
    }

    /// ICE-CONTROLLING (RFC 8445 §7.1.3): the sender claims the controlling role; the value is its
    /// tie-breaker. The first such attribute; `None` if absent.
    pub fn ice_controlling(&self) -> Option<u64> {
        self.find(|a| match a {
            Attribute::IceControlling(t) => Some(*t),
            _ => None,
        })
    }

    /// ICE-CONTROLLED (RFC 8445 §7.1.3): the sender claims the controlled role; the value is its
    /// tie-breaker. The first such attribute; `None` if absent.
    pub fn ice_controlled(&self) -> Option<u64> {
        self.find(|a| match a {
            Attribute::IceControlled(t) => Some(*t),
            _ => None,
        })
    }

    /// LIFETIME (RFC 8656 §18.2) in seconds: how long the allocation lives. The first such
    /// attribute; `None` if absent.
    pub fn lifetime(&self) -> Option<u32> {
        self.find(|a| match a {
            Attribute::Lifetime(s) => Some(*s),
            _ => None,
        })
    }

    /// XOR-PEER-ADDRESS (RFC 8656 §18.3), decoded: the peer of a permission, channel or Send/Data
    /// indication. The first such attribute; `None` if absent.
    pub fn xor_peer_address(&self) -> Option<SocketAddr> {
        self.find(|a| match a {
            Attribute::XorPeerAddress(addr) => Some(*addr),
            _ => None,
        })
    }

    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5), decoded: the relayed address of an Allocate success
    /// response. The first such attribute; `None` if absent.
    pub fn xor_relayed_address(&self) -> Option<SocketAddr> {
        self.find(|a| match a {
            Attribute::XorRelayedAddress(addr) => Some(*addr),
            _ => None,
        })
    }

    /// DATA (RFC 8656 §18.4): the payload of a Send or Data indication. The first such attribute;
    /// `None` if absent.
    pub fn data(&self) -> Option<&[u8]> {
        self.find(|a| match a {
            Attribute::Data(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// CHANNEL-NUMBER (RFC 8656 §18.1): the channel of a ChannelBind request. The first such
    /// attribute; `None` if absent.
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
