//! Helpers shared by the fuzz targets: splitting one input into several packets, and fixing up
//! STUN integrity/fingerprint so the fuzzer gets past checks it cannot compute itself.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Separates packets inside one fuzz input (also in the seed files and `dict`).
pub const SEPARATOR: &[u8] = b"@@@@";

/// At most this many packets are fed per input, so one input stays fast.
pub const MAX_PACKETS: usize = 32;

/// Splits `data` at every [`SEPARATOR`]; at most [`MAX_PACKETS`] pieces (the last keeps the rest).
pub fn packets(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < MAX_PACKETS {
        match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + SEPARATOR.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// Replaces every occurrence of `from` in `data` by `to`.
pub fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

fn set_length(msg: &mut [u8], len: usize) {
    if msg.len() >= 4 {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        msg[2..4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Treats `msg` as a STUN header plus attributes (whatever they are): pads it to a multiple of
/// 4, then appends a correct MESSAGE-INTEGRITY (HMAC-SHA1 with `key`) if `key` is given, and a
/// correct FINGERPRINT if `fingerprint`, fixing the header's length field as RFC 8489 §14.5 and
/// §14.7 say. Inputs shorter than a header are returned unchanged.
pub fn sign_stun(msg: &[u8], key: Option<&[u8]>, fingerprint: bool) -> Vec<u8> {
    let mut out = msg.to_vec();
    if out.len() < 20 {
        return out;
    }
    out.resize(out.len().div_ceil(4) * 4, 0);
    if let Some(key) = key {
        let len = out.len() - 20 + 24;
        set_length(&mut out, len);
        let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&out);
        let tag = mac.finalize().into_bytes();
        out.extend_from_slice(&ATTR_MESSAGE_INTEGRITY.to_be_bytes());
        out.extend_from_slice(&20u16.to_be_bytes());
        out.extend_from_slice(&tag);
    }
    if fingerprint {
        let len = out.len() - 20 + 8;
        set_length(&mut out, len);
        let crc = crc32fast::hash(&out) ^ FINGERPRINT_XOR;
        out.extend_from_slice(&ATTR_FINGERPRINT.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let len = out.len() - 20;
    set_length(&mut out, len);
    out
}

/// Makes the first 20 bytes look like a STUN header (leading bits 00, magic cookie, length
/// matching the datagram) without touching the rest.
pub fn stun_header(msg: &mut [u8]) {
    if msg.len() >= 20 {
        msg[0] &= 0x3f;
        msg[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        let len = msg.len() - 20;
        set_length(msg, len);
    }
}

/// Writes `tid` into bytes 8..20 (the STUN transaction id) if the message is long enough.
pub fn set_transaction_id(msg: &mut [u8], tid: &[u8; 12]) {
    if msg.len() >= 20 {
        msg[8..20].copy_from_slice(tid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_signs() {
        assert_eq!(packets(b"a@@@@b@@@@"), vec![&b"a"[..], b"b", b""]);
        let request = ice::stun::Message::new(
            ice::stun::Class::Request,
            ice::stun::Method::Binding,
            ice::stun::TransactionId([3; 12]),
        )
        .encode(None, false);
        let signed = sign_stun(&request, Some(b"pw"), true);
        let decoded = ice::stun::Message::decode(&signed).unwrap();
        assert!(decoded.has_fingerprint());
        ice::stun::verify_integrity(
            &signed,
            &ice::stun::IntegrityKey::from_bytes(b"pw".to_vec()),
        )
        .unwrap();
    }
}
