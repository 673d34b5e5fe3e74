//! MESSAGE-INTEGRITY (RFC 8489 §14.5, HMAC-SHA1) and MESSAGE-INTEGRITY-SHA256 (§14.6), and
//! the keys for short-term (§9.1) and long-term (§9.2) credentials.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::attribute::types;
use super::error::StunError;
use super::framing::{self, ATTRIBUTE_HEADER_LEN};
use super::header::HEADER_LEN;
use super::saslprep;

/// Length of the HMAC-SHA1 value in MESSAGE-INTEGRITY (RFC 8489 §14.5).
pub const MESSAGE_INTEGRITY_LEN: usize = 20;

/// HMAC key for MESSAGE-INTEGRITY.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IntegrityKey(Vec<u8>);

impl IntegrityKey {
    /// RFC 8489 §9.1.1: the key is the password after OpaqueString preparation (here the
    /// SASLprep subset of `saslprep.rs`; ICE passwords are ASCII and pass unchanged).
    pub fn short_term(password: &str) -> Self {
        IntegrityKey(saslprep::prepare(password).as_bytes().to_vec())
    }

    /// RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password), realm and password
    /// prepared (SASLprep subset, as RFC 5769 §2.4 expects). The username is used as given:
    /// it is sent in USERNAME exactly so.
    pub fn long_term(username: &str, realm: &str, password: &str) -> Self {
        let mut md5 = Md5::new();
        md5.update(username.as_bytes());
        md5.update(b":");
        md5.update(saslprep::prepare(realm).as_bytes());
        md5.update(b":");
        md5.update(saslprep::prepare(password).as_bytes());
        IntegrityKey(md5.finalize().to_vec())
    }

    /// A key given as raw bytes (e.g. a long-term key derived with another password algorithm).
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Self {
        IntegrityKey(key.into())
    }

    /// The raw key bytes, as fed to HMAC.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn hmac_sha1(key: &IntegrityKey) -> Hmac<Sha1> {
    // HMAC takes keys of any length (RFC 2104 hashes long ones), so this cannot fail.
    Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length")
}

fn hmac_sha256(key: &IntegrityKey) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length")
}

/// Feed `before` (header plus the attributes preceding an integrity attribute) into `mac`,
/// with the header's length field replaced by `adjusted_len` (RFC 8489 §14.5: the length
/// counts up to the end of the integrity attribute, as if it were last).
fn update_adjusted<M: Mac>(mac: &mut M, before: &[u8], adjusted_len: usize) {
    let len = u16::try_from(adjusted_len).unwrap_or(u16::MAX);
    mac.update(before.get(..2).unwrap_or_default());
    mac.update(&len.to_be_bytes());
    mac.update(before.get(4..).unwrap_or_default());
}

/// RFC 8489 §14.5: the HMAC-SHA1 for a MESSAGE-INTEGRITY attribute appended to `before`.
pub fn message_integrity(key: &IntegrityKey, before: &[u8]) -> [u8; MESSAGE_INTEGRITY_LEN] {
    let mut mac = hmac_sha1(key);
    let adjusted =
        before.len().saturating_sub(HEADER_LEN) + ATTRIBUTE_HEADER_LEN + MESSAGE_INTEGRITY_LEN;
    update_adjusted(&mut mac, before, adjusted);
    mac.finalize().into_bytes().into()
}

/// RFC 8489 §14.6: the full 32-byte HMAC-SHA256 for a MESSAGE-INTEGRITY-SHA256 attribute of
/// `value_len` bytes appended to `before`.
pub fn message_integrity_sha256(key: &IntegrityKey, before: &[u8], value_len: usize) -> [u8; 32] {
    let mut mac = hmac_sha256(key);
    let adjusted = before.len().saturating_sub(HEADER_LEN) + ATTRIBUTE_HEADER_LEN + value_len;
    update_adjusted(&mut mac, before, adjusted);
    mac.finalize().into_bytes().into()
}

/// Append MESSAGE-INTEGRITY-SHA256 (full 32 bytes) to an encoded message and fix its length.
/// `Message::encode` does not write this attribute; this exists for tests and for peers that
/// negotiate SHA-256.
pub fn append_message_integrity_sha256(encoded: &mut Vec<u8>, key: &IntegrityKey) {
    let mac = message_integrity_sha256(key, encoded, 32);
    encoded.extend_from_slice(&types::MESSAGE_INTEGRITY_SHA256.to_be_bytes());
    encoded.extend_from_slice(&32u16.to_be_bytes());
    encoded.extend_from_slice(&mac);
    super::message::set_length(encoded);
}

/// Verify MESSAGE-INTEGRITY (or MESSAGE-INTEGRITY-SHA256 when only that is present) over the raw
/// datagram that `Message::decode` accepted. Err(StunError::MissingIntegrity) when absent,
/// Err(StunError::IntegrityMismatch) when wrong.
///
/// When both are present, both must match. Only the first of each counts (RFC 8489 §14.5:
/// attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are
/// ignored). The comparison is constant-time.
pub fn verify_integrity(raw: &[u8], key: &IntegrityKey) -> Result<(), StunError> {
    framing::check_header(raw)?;
    let mut sha1_attr = None;
    let mut sha256_attr = None;
    for attr in framing::attributes(raw) {
        let attr = attr?;
        match attr.typ {
            types::MESSAGE_INTEGRITY if sha1_attr.is_none() && sha256_attr.is_none() => {
                sha1_attr = Some(attr)
            }
            types::MESSAGE_INTEGRITY_SHA256 if sha256_attr.is_none() => sha256_attr = Some(attr),
            _ => {}
        }
    }
    if sha1_attr.is_none() && sha256_attr.is_none() {
        return Err(StunError::MissingIntegrity);
    }
    if let Some(attr) = sha1_attr {
        if attr.value.len() != MESSAGE_INTEGRITY_LEN {
            return Err(StunError::BadAttributeValue {
                typ: attr.typ,
                reason: "HMAC-SHA1 value must be 20 bytes",
            });
        }
        let before = raw.get(..attr.offset).unwrap_or_default();
        let mut mac = hmac_sha1(key);
        update_adjusted(&mut mac, before, attr.end() - HEADER_LEN);
        mac.verify_slice(attr.value)
            .map_err(|_| StunError::IntegrityMismatch)?;
    }
    if let Some(attr) = sha256_attr {
        // RFC 8489 §14.6: 16 to 32 bytes, a multiple of 4; the HMAC is truncated to that.
        let len = attr.value.len();
        if !(16..=32).contains(&len) || !len.is_multiple_of(4) {
            return Err(StunError::BadAttributeValue {
                typ: attr.typ,
                reason: "HMAC-SHA256 value must be 16 to 32 bytes, a multiple of 4",
            });
        }
        let before = raw.get(..attr.offset).unwrap_or_default();
        let mut mac = hmac_sha256(key);
        update_adjusted(&mut mac, before, attr.end() - HEADER_LEN);
        mac.verify_truncated_left(attr.value)
            .map_err(|_| StunError::IntegrityMismatch)?;
    }
    Ok(())
}
