//! STUN attributes (RFC 8489 §14, RFC 8445 §16.1, RFC 8656 §18): the typed enum and the
//! encoding of each value. Framing (type, length, padding) lives in `message.rs`.

use std::net::SocketAddr;

use super::address;
use super::error::StunError;
use super::header::TransactionId;

/// Attribute type numbers (RFC 8489 §18.3, RFC 8445 §16.1, RFC 8656 §18).
///
/// Each constant is the 16-bit type of the [`Attribute`](super::Attribute) variant of the same
/// name; see the variant for the value's format. Types below 0x8000 are
/// comprehension-required (RFC 8489 §14).
pub mod types {
    /// MAPPED-ADDRESS, RFC 8489 §14.1: the reflexive address, not XOR-ed (RFC 3489 servers).
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// USERNAME, RFC 8489 §14.3: ICE's `ufrag:ufrag`, or a TURN long-term username.
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY, RFC 8489 §14.5: HMAC-SHA1 over the message up to this attribute.
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE, RFC 8489 §14.8: code 300-699 and reason phrase of an error response.
    pub const ERROR_CODE: u16 = 0x0009;
    /// UNKNOWN-ATTRIBUTES, RFC 8489 §14.13: the types a 420 response did not understand.
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    /// CHANNEL-NUMBER, RFC 8656 §18.1: a TURN channel, 0x4000-0x4FFF.
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    /// LIFETIME, RFC 8656 §18.2: seconds an allocation should live (0 deletes it).
    pub const LIFETIME: u16 = 0x000D;
    /// XOR-PEER-ADDRESS, RFC 8656 §18.3: a peer of a TURN allocation.
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    /// DATA, RFC 8656 §18.4: the payload of a Send or Data indication.
    pub const DATA: u16 = 0x0013;
    /// REALM, RFC 8489 §14.9: the long-term credential realm.
    pub const REALM: u16 = 0x0014;
    /// NONCE, RFC 8489 §14.10: the server's nonce for long-term credentials.
    pub const NONCE: u16 = 0x0015;
    /// XOR-RELAYED-ADDRESS, RFC 8656 §18.5: the relayed address of an allocation.
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    /// REQUESTED-ADDRESS-FAMILY, RFC 8656 §18.6: IPv4 or IPv6 relayed address.
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    /// EVEN-PORT, RFC 8656 §18.7: ask for an even relayed port (and to reserve the next).
    pub const EVEN_PORT: u16 = 0x0018;
    /// REQUESTED-TRANSPORT, RFC 8656 §18.8: the relayed protocol (17 = UDP).
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    /// DONT-FRAGMENT, RFC 8656 §18.9: set DF on relayed datagrams.
    pub const DONT_FRAGMENT: u16 = 0x001A;
    /// MESSAGE-INTEGRITY-SHA256, RFC 8489 §14.6: HMAC-SHA256, 16 to 32 bytes.
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    /// XOR-MAPPED-ADDRESS, RFC 8489 §14.2: the reflexive address, XOR-ed with the cookie
    /// (and transaction ID for IPv6).
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// RESERVATION-TOKEN, RFC 8656 §18.10: 8 bytes naming a port reserved by EVEN-PORT.
    pub const RESERVATION_TOKEN: u16 = 0x0022;
    /// PRIORITY, RFC 8445 §16.1: the priority a peer-reflexive candidate would get.
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE, RFC 8445 §16.1: the controlling agent nominates this pair.
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// SOFTWARE, RFC 8489 §14.14: the sender's software, for diagnostics.
    pub const SOFTWARE: u16 = 0x8022;
    /// ALTERNATE-SERVER, RFC 8489 §14.15: where a 300 response redirects to.
    pub const ALTERNATE_SERVER: u16 = 0x8023;
    /// FINGERPRINT, RFC 8489 §14.7: CRC-32 of the message XOR 0x5354554E; always last.
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED, RFC 8445 §16.1: the sender is controlled; carries its tie-breaker.
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING, RFC 8445 §16.1: the sender is controlling; carries its tie-breaker.
    pub const ICE_CONTROLLING: u16 = 0x802A;
}

/// RFC 8489 §14: types 0x0000-0x7FFF are comprehension-required, 0x8000-0xFFFF optional.
pub fn is_comprehension_required(typ: u16) -> bool {
    typ < 0x8000
}

/// One STUN attribute.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Attribute {
    /// 0x0001, RFC 8489 §14.1. Decoded for RFC 3489 servers; prefer XOR-MAPPED-ADDRESS.
    MappedAddress(SocketAddr),
    /// 0x0020, RFC 8489 §14.2.
    XorMappedAddress(SocketAddr),
    /// 0x0006, RFC 8489 §14.3.
    Username(String),
    /// 0x0008, RFC 8489 §14.5. `Message::encode` computes it; a value here is not written.
    MessageIntegrity([u8; 20]),
    /// 0x001C, RFC 8489 §14.6: 16 to 32 bytes, a multiple of 4. Decoded and verified only.
    MessageIntegritySha256(Vec<u8>),
    /// 0x8028, RFC 8489 §14.7. `Message::encode` computes it; a value here is not written.
    Fingerprint(u32),
    /// 0x0009, RFC 8489 §14.8: code 300-699 and a reason phrase.
    ErrorCode {
        /// The error code, 300-699 (e.g. 401 Unauthorized, 438 Stale Nonce, 487 Role
        /// Conflict).
        code: u16,
        /// The UTF-8 reason phrase, for humans.
        reason: String,
    },
    /// 0x000A, RFC 8489 §14.13.
    UnknownAttributes(Vec<u16>),
    /// 0x0014, RFC 8489 §14.9.
    Realm(String),
    /// 0x0015, RFC 8489 §14.10.
    Nonce(String),
    /// 0x8022, RFC 8489 §14.14.
    Software(String),
    /// 0x8023, RFC 8489 §14.15.
    AlternateServer(SocketAddr),
    /// 0x0024, RFC 8445 §16.1.
    Priority(u32),
    /// 0x0025, RFC 8445 §16.1 (no value).
    UseCandidate,
    /// 0x8029, RFC 8445 §16.1: the tie-breaker.
    IceControlled(u64),
    /// 0x802A, RFC 8445 §16.1: the tie-breaker.
    IceControlling(u64),
    /// 0x000C, RFC 8656 §18.1.
    ChannelNumber(u16),
    /// 0x000D, RFC 8656 §18.2: seconds.
    Lifetime(u32),
    /// 0x0012, RFC 8656 §18.3.
    XorPeerAddress(SocketAddr),
    /// 0x0013, RFC 8656 §18.4.
    Data(Vec<u8>),
    /// 0x0016, RFC 8656 §18.5.
    XorRelayedAddress(SocketAddr),
    /// 0x0017, RFC 8656 §18.6: 0x01 IPv4, 0x02 IPv6 (not checked here; the server answers 440).
    RequestedAddressFamily(u8),
    /// 0x0018, RFC 8656 §18.7: the R bit.
    EvenPort(bool),
    /// 0x0019, RFC 8656 §18.8: an IANA protocol number (17 = UDP).
    RequestedTransport(u8),
    /// 0x001A, RFC 8656 §18.9 (no value).
    DontFragment,
    /// 0x0022, RFC 8656 §18.10.
    ReservationToken([u8; 8]),
    /// Unknown comprehension-optional attribute (0x8000-0xFFFF), kept only for re-encoding tests.
    Unknown {
        /// The attribute type number.
        typ: u16,
        /// The raw value, without padding.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// The attribute's type number.
    pub fn typ(&self) -> u16 {
        use types::*;
        match self {
            Attribute::MappedAddress(_) => MAPPED_ADDRESS,
            Attribute::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            Attribute::Username(_) => USERNAME,
            Attribute::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            Attribute::MessageIntegritySha256(_) => MESSAGE_INTEGRITY_SHA256,
            Attribute::Fingerprint(_) => FINGERPRINT,
            Attribute::ErrorCode { .. } => ERROR_CODE,
            Attribute::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            Attribute::Realm(_) => REALM,
            Attribute::Nonce(_) => NONCE,
            Attribute::Software(_) => SOFTWARE,
            Attribute::AlternateServer(_) => ALTERNATE_SERVER,
            Attribute::Priority(_) => PRIORITY,
            Attribute::UseCandidate => USE_CANDIDATE,
            Attribute::IceControlled(_) => ICE_CONTROLLED,
            Attribute::IceControlling(_) => ICE_CONTROLLING,
            Attribute::ChannelNumber(_) => CHANNEL_NUMBER,
            Attribute::Lifetime(_) => LIFETIME,
            Attribute::XorPeerAddress(_) => XOR_PEER_ADDRESS,
            Attribute::Data(_) => DATA,
            Attribute::XorRelayedAddress(_) => XOR_RELAYED_ADDRESS,
            Attribute::RequestedAddressFamily(_) => REQUESTED_ADDRESS_FAMILY,
            Attribute::EvenPort(_) => EVEN_PORT,
            Attribute::RequestedTransport(_) => REQUESTED_TRANSPORT,
            Attribute::DontFragment => DONT_FRAGMENT,
            Attribute::ReservationToken(_) => RESERVATION_TOKEN,
            Attribute::Unknown { typ, .. } => *typ,
        }
    }

    /// Append the value bytes (no header, no padding). XOR-ed addresses need the transaction ID.
    pub fn write_value(&self, out: &mut Vec<u8>, transaction_id: &TransactionId) {
        match self {
            Attribute::MappedAddress(addr) | Attribute::AlternateServer(addr) => {
                address::write(out, *addr, None)
            }
            Attribute::XorMappedAddress(addr)
            | Attribute::XorPeerAddress(addr)
            | Attribute::XorRelayedAddress(addr) => {
                address::write(out, *addr, Some(transaction_id))
            }
            Attribute::Username(s)
            | Attribute::Realm(s)
            | Attribute::Nonce(s)
            | Attribute::Software(s) => out.extend_from_slice(s.as_bytes()),
            Attribute::MessageIntegrity(mac) => out.extend_from_slice(mac),
            Attribute::MessageIntegritySha256(mac) => out.extend_from_slice(mac),
            Attribute::Fingerprint(crc) => out.extend_from_slice(&crc.to_be_bytes()),
            Attribute::ErrorCode { code, reason } => {
                // RFC 8489 §14.8: 21 reserved zero bits, 3-bit class (hundreds), 8-bit number.
                out.extend_from_slice(&[0, 0, ((code / 100) & 0x07) as u8, (code % 100) as u8]);
                out.extend_from_slice(reason.as_bytes());
            }
            Attribute::UnknownAttributes(list) => {
                for typ in list {
                    out.extend_from_slice(&typ.to_be_bytes());
                }
            }
            Attribute::Priority(v) | Attribute::Lifetime(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            Attribute::IceControlled(v) | Attribute::IceControlling(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            Attribute::UseCandidate | Attribute::DontFragment => {}
            // RFC 8656 §18.1: channel number then 16 RFFU bits.
            Attribute::ChannelNumber(ch) => {
                out.extend_from_slice(&ch.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            Attribute::Data(data) => out.extend_from_slice(data),
            // RFC 8656 §18.6 and §18.8: one byte then 24 RFFU bits.
            Attribute::RequestedAddressFamily(v) | Attribute::RequestedTransport(v) => {
                out.extend_from_slice(&[*v, 0, 0, 0])
            }
            // RFC 8656 §18.7: a single byte, R is its top bit.
            Attribute::EvenPort(reserve) => out.push(if *reserve { 0x80 } else { 0 }),
            Attribute::ReservationToken(token) => out.extend_from_slice(token),
            Attribute::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }

    /// Decode the value of an attribute of type `typ`. Unknown types become
    /// [`Attribute::Unknown`]; the caller decides what comprehension-required ones mean.
    pub fn read_value(
        typ: u16,
        value: &[u8],
        transaction_id: &TransactionId,
    ) -> Result<Attribute, StunError> {
        use types::*;
        let bad = |reason| StunError::BadAttributeValue { typ, reason };
        let text = || String::from_utf8(value.to_vec()).map_err(|_| bad("text is not valid UTF-8"));
        let address = |xor: bool| address::read(value, xor.then_some(transaction_id)).map_err(bad);
        let attr = match typ {
            MAPPED_ADDRESS => Attribute::MappedAddress(address(false)?),
            ALTERNATE_SERVER => Attribute::AlternateServer(address(false)?),
            XOR_MAPPED_ADDRESS => Attribute::XorMappedAddress(address(true)?),
            XOR_PEER_ADDRESS => Attribute::XorPeerAddress(address(true)?),
            XOR_RELAYED_ADDRESS => Attribute::XorRelayedAddress(address(true)?),
            USERNAME => Attribute::Username(text()?),
            REALM => Attribute::Realm(text()?),
            NONCE => Attribute::Nonce(text()?),
            SOFTWARE => Attribute::Software(text()?),
            MESSAGE_INTEGRITY => Attribute::MessageIntegrity(
                fixed::<20>(value).ok_or(bad("HMAC-SHA1 value must be 20 bytes"))?,
            ),
            MESSAGE_INTEGRITY_SHA256 => {
                // RFC 8489 §14.6: at least 16 bytes, at most 32, a multiple of 4.
                if !(16..=32).contains(&value.len()) || !value.len().is_multiple_of(4) {
                    return Err(bad(
                        "HMAC-SHA256 value must be 16 to 32 bytes, a multiple of 4",
                    ));
                }
                Attribute::MessageIntegritySha256(value.to_vec())
            }
            FINGERPRINT => Attribute::Fingerprint(u32::from_be_bytes(
                fixed::<4>(value).ok_or(bad("CRC-32 value must be 4 bytes"))?,
            )),
            ERROR_CODE => read_error_code(value).map_err(bad)?,
            UNKNOWN_ATTRIBUTES => {
                if !value.len().is_multiple_of(2) {
                    return Err(bad("list of 16-bit types has an odd length"));
                }
                Attribute::UnknownAttributes(
                    value
                        .chunks_exact(2)
                        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                        .collect(),
                )
            }
            PRIORITY => Attribute::Priority(u32::from_be_bytes(
                fixed::<4>(value).ok_or(bad("must be 4 bytes"))?,
            )),
            LIFETIME => Attribute::Lifetime(u32::from_be_bytes(
                fixed::<4>(value).ok_or(bad("must be 4 bytes"))?,
            )),
            ICE_CONTROLLED => Attribute::IceControlled(u64::from_be_bytes(
                fixed::<8>(value).ok_or(bad("tie-breaker must be 8 bytes"))?,
            )),
            ICE_CONTROLLING => Attribute::IceControlling(u64::from_be_bytes(
                fixed::<8>(value).ok_or(bad("tie-breaker must be 8 bytes"))?,
            )),
            USE_CANDIDATE => {
                empty(value).ok_or(bad("must be empty"))?;
                Attribute::UseCandidate
            }
            DONT_FRAGMENT => {
                empty(value).ok_or(bad("must be empty"))?;
                Attribute::DontFragment
            }
            CHANNEL_NUMBER => {
                let [hi, lo, _, _] = fixed::<4>(value).ok_or(bad("must be 4 bytes"))?;
                Attribute::ChannelNumber(u16::from_be_bytes([hi, lo]))
            }
            DATA => Attribute::Data(value.to_vec()),
            REQUESTED_ADDRESS_FAMILY => {
                let [family, ..] = fixed::<4>(value).ok_or(bad("must be 4 bytes"))?;
                Attribute::RequestedAddressFamily(family)
            }
            REQUESTED_TRANSPORT => {
                let [protocol, ..] = fixed::<4>(value).ok_or(bad("must be 4 bytes"))?;
                Attribute::RequestedTransport(protocol)
            }
            EVEN_PORT => {
                let [flags] = fixed::<1>(value).ok_or(bad("must be 1 byte"))?;
                Attribute::EvenPort(flags & 0x80 != 0)
            }
            RESERVATION_TOKEN => {
                Attribute::ReservationToken(fixed::<8>(value).ok_or(bad("token must be 8 bytes"))?)
            }
            other => Attribute::Unknown {
                typ: other,
                value: value.to_vec(),
            },
        };
        Ok(attr)
    }
}

/// RFC 8489 §14.8: class must be 3-6 and number 0-99; the reserved bits are ignored.
fn read_error_code(value: &[u8]) -> Result<Attribute, &'static str> {
    let (class, number, reason) = match value {
        [_, _, class, number, reason @ ..] => (class & 0x07, *number, reason),
        _ => return Err("shorter than the 4-byte class and number"),
    };
    if !(3..=6).contains(&class) {
        return Err("error class must be 3 to 6");
    }
    if number > 99 {
        return Err("error number must be 0 to 99");
    }
    let reason =
        String::from_utf8(reason.to_vec()).map_err(|_| "reason phrase is not valid UTF-8")?;
    Ok(Attribute::ErrorCode {
        code: u16::from(class) * 100 + u16::from(number),
        reason,
    })
}

fn fixed<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    value.try_into().ok()
}

fn empty(value: &[u8]) -> Option<()> {
    value.is_empty().then_some(())
}
