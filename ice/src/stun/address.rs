//! Address attribute values: MAPPED-ADDRESS (RFC 8489 §14.1) and the XOR-ed form used by
//! XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS (RFC 8489 §14.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::header::{TransactionId, MAGIC_COOKIE};

/// RFC 8489 §14.1: family 0x01 is IPv4, 0x02 is IPv6.
const FAMILY_IPV4: u8 = 0x01;
const FAMILY_IPV6: u8 = 0x02;

/// Why an address value is rejected; the caller adds the attribute type.
pub type Reason = &'static str;

/// The 16 bytes an address is XOR-ed with: the magic cookie, then (for IPv6) the transaction
/// ID (RFC 8489 §14.2).
fn xor_pad(transaction_id: &TransactionId) -> [u8; 16] {
    let mut pad = [0u8; 16];
    pad[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    pad[4..].copy_from_slice(&transaction_id.0);
    pad
}

/// Write an address value (without the attribute header). With `xor`, port and address are
/// XOR-ed as RFC 8489 §14.2 requires.
pub fn write(out: &mut Vec<u8>, addr: SocketAddr, xor: Option<&TransactionId>) {
    let pad = xor.map(xor_pad);
    // RFC 8489 §14.2: X-Port is the port XOR the most significant 16 bits of the cookie.
    let port_mask = if pad.is_some() {
        (MAGIC_COOKIE >> 16) as u16
    } else {
        0
    };
    out.push(0); // RFC 8489 §14.1: the first byte is zero and ignored.
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(FAMILY_IPV4);
            out.extend_from_slice(&(addr.port() ^ port_mask).to_be_bytes());
            let octets = ip.octets();
            for (i, byte) in octets.iter().enumerate() {
                out.push(byte ^ pad.map_or(0, |p| p[i]));
            }
        }
        IpAddr::V6(ip) => {
            out.push(FAMILY_IPV6);
            out.extend_from_slice(&(addr.port() ^ port_mask).to_be_bytes());
            let octets = ip.octets();
            for (i, byte) in octets.iter().enumerate() {
                out.push(byte ^ pad.map_or(0, |p| p[i]));
            }
        }
    }
}

/// Read an address value; the inverse of [`write`].
pub fn read(value: &[u8], xor: Option<&TransactionId>) -> Result<SocketAddr, Reason> {
    let (family, port_bytes, address) = match value {
        [_reserved, family, p0, p1, address @ ..] => (*family, [*p0, *p1], address),
        _ => return Err("shorter than the 4-byte family and port"),
    };
    let pad = xor.map(xor_pad).unwrap_or([0u8; 16]);
    let port_mask = if xor.is_some() {
        (MAGIC_COOKIE >> 16) as u16
    } else {
        0
    };
    let port = u16::from_be_bytes(port_bytes) ^ port_mask;
    let ip = match family {
        FAMILY_IPV4 => {
            let bytes: [u8; 4] = address
                .try_into()
                .map_err(|_| "IPv4 address value must be 8 bytes long")?;
            let mut octets = [0u8; 4];
            for (i, byte) in bytes.iter().enumerate() {
                octets[i] = byte ^ pad[i];
            }
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        FAMILY_IPV6 => {
            let bytes: [u8; 16] = address
                .try_into()
                .map_err(|_| "IPv6 address value must be 20 bytes long")?;
            let mut octets = [0u8; 16];
            for (i, byte) in bytes.iter().enumerate() {
                octets[i] = byte ^ pad[i];
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Err("address family must be 0x01 (IPv4) or 0x02 (IPv6)"),
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId([
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ]);

    #[test]
    fn xor_ipv4_matches_rfc_5769_wire_bytes() {
        // RFC 5769 §2.2: 192.0.2.1:32853 is sent as port 0xa147, address e1 12 a6 43.
        let mut out = Vec::new();
        write(&mut out, "192.0.2.1:32853".parse().unwrap(), Some(&TID));
        assert_eq!(out, [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]);
        assert_eq!(
            read(&out, Some(&TID)),
            Ok("192.0.2.1:32853".parse().unwrap())
        );
    }

    #[test]
    fn plain_ipv6_round_trips_without_xor() {
        let addr: SocketAddr = "[2001:db8::7]:5060".parse().unwrap();
        let mut out = Vec::new();
        write(&mut out, addr, None);
        assert_eq!(out.len(), 20);
        assert_eq!(&out[4..6], &[0x20, 0x01]);
        assert_eq!(read(&out, None), Ok(addr));
    }

    #[test]
    fn wrong_family_or_length_is_rejected() {
        assert!(read(&[0, 3, 0, 1, 1, 2, 3, 4], None).is_err());
        assert!(read(&[0, 1, 0, 1, 1, 2, 3], None).is_err());
        assert!(read(&[0, 2, 0, 1, 1, 2, 3, 4], None).is_err());
        assert!(read(&[0, 1, 0], None).is_err());
    }
}
