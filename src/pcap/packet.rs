//! Synthesized IP packets for the capture: an IPv4 (RFC 791) or IPv6 (RFC 8200) header around
//! a UDP datagram (RFC 768) or TCP segment (RFC 9293), with every checksum filled in so
//! Wireshark's checksum validation passes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// IP protocol numbers.
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;
const TTL: u8 = 64;

/// The addresses as one family. Mixed families (never on one socket) are written as the
/// source's family: an IPv4 source with an unspecified destination, or an IPv4 destination
/// mapped into IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addrs {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl Addrs {
    pub(crate) fn of(from: SocketAddr, to: SocketAddr) -> Addrs {
        match (from.ip(), to.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Addrs::V4(s, d),
            (IpAddr::V4(s), IpAddr::V6(_)) => Addrs::V4(s, Ipv4Addr::UNSPECIFIED),
            (IpAddr::V6(s), IpAddr::V6(d)) => Addrs::V6(s, d),
            (IpAddr::V6(s), IpAddr::V4(d)) => Addrs::V6(s, d.to_ipv6_mapped()),
        }
    }

    /// The largest transport payload (header included) one packet of this family carries.
    pub(crate) fn max_transport_len(self) -> usize {
        match self {
            Addrs::V4(..) => 0xFFFF - 20,
            Addrs::V6(..) => 0xFFFF,
        }
    }

    /// The one's-complement sum of the pseudo-header the UDP and TCP checksums cover
    /// (RFC 768; RFC 9293 §3.1 for IPv4; RFC 8200 §8.1 for IPv6), unfolded.
    fn pseudo_header_sum(self, proto: u8, transport_len: usize) -> u32 {
        let mut pseudo = Vec::with_capacity(40);
        match self {
            Addrs::V4(s, d) => {
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, proto]);
                pseudo.extend_from_slice(&(transport_len as u16).to_be_bytes());
            }
            Addrs::V6(s, d) => {
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&(transport_len as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, proto]);
            }
        }
        sum_words(&pseudo)
    }
}

/// Fills in the transport checksum at `checksum_at` (which must hold zero) over the
/// pseudo-header and `transport`, then wraps it in an IP header.
pub(crate) fn ip_packet(
    addrs: Addrs,
    proto: u8,
    mut transport: Vec<u8>,
    checksum_at: usize,
) -> Vec<u8> {
    let sum = addrs.pseudo_header_sum(proto, transport.len()) + sum_words(&transport);
    let mut checksum = !fold(sum);
    // RFC 768: a computed UDP checksum of zero is sent as all ones (zero means "none").
    if proto == PROTO_UDP && checksum == 0 {
        checksum = 0xFFFF;
    }
    if let Some(field) = transport.get_mut(checksum_at..checksum_at + 2) {
        field.copy_from_slice(&checksum.to_be_bytes());
    }
    let mut ip = match addrs {
        Addrs::V4(s, d) => {
            let total = (20 + transport.len()).min(0xFFFF) as u16;
            let mut ip = Vec::with_capacity(usize::from(total));
            ip.extend_from_slice(&[0x45, 0]);
            ip.extend_from_slice(&total.to_be_bytes());
            // Identification 0, DF (RFC 6864 §4.1 allows any ID on atomic datagrams).
            ip.extend_from_slice(&[0, 0, 0x40, 0, TTL, proto, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            // RFC 791 §3.1: the header checksum covers the header only.
            let sum = !fold(sum_words(&ip));
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            ip
        }
        Addrs::V6(s, d) => {
            let payload = transport.len().min(0xFFFF) as u16;
            let mut ip = Vec::with_capacity(40 + transport.len());
            ip.extend_from_slice(&[0x60, 0, 0, 0]);
            ip.extend_from_slice(&payload.to_be_bytes());
            ip.extend_from_slice(&[proto, TTL]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip
        }
    };
    ip.extend_from_slice(&transport);
    ip
}

/// An IP packet carrying one UDP datagram, checksummed (RFC 768). Payloads too big for one
/// packet are cut at the largest size the family allows.
pub fn ip_udp_packet(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let addrs = Addrs::of(from, to);
    let payload = payload
        .get(..addrs.max_transport_len() - 8)
        .unwrap_or(payload);
    let udp_len = (8 + payload.len()) as u16;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&0u16.to_be_bytes());
    udp.extend_from_slice(payload);
    ip_packet(addrs, PROTO_UDP, udp, 6)
}

/// The one's-complement sum of big-endian 16-bit words (RFC 1071), an odd last byte padded
/// with zero; not yet folded to 16 bits.
pub(crate) fn sum_words(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .fold(0u32, |acc, w| {
            let s = acc.wrapping_add(w);
            // Fold early so a 64 KiB packet never overflows.
            (s & 0xFFFF) + (s >> 16)
        })
}

/// Folds the carries back in (RFC 1071 §4.1).
pub(crate) fn fold(mut sum: u32) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Verifies an IPv4 or IPv6 packet's IP and transport checksums by recomputing them the
    /// way a receiver does: the sum over the checksummed bytes, checksum included, is 0xFFFF.
    /// Returns the offset of the transport header.
    pub(crate) fn assert_checksums_valid(packet: &[u8]) -> usize {
        let (addrs, proto, l4_at) = match packet[0] >> 4 {
            4 => {
                let hl = usize::from(packet[0] & 0x0F) * 4;
                assert_eq!(
                    fold(sum_words(&packet[..hl])),
                    0xFFFF,
                    "IPv4 header checksum"
                );
                let total = u16::from_be_bytes([packet[2], packet[3]]);
                assert_eq!(usize::from(total), packet.len(), "IPv4 total length");
                let s: [u8; 4] = packet[12..16].try_into().unwrap();
                let d: [u8; 4] = packet[16..20].try_into().unwrap();
                (Addrs::V4(s.into(), d.into()), packet[9], hl)
            }
            6 => {
                let len = u16::from_be_bytes([packet[4], packet[5]]);
                assert_eq!(usize::from(len) + 40, packet.len(), "IPv6 payload length");
                let s: [u8; 16] = packet[8..24].try_into().unwrap();
                let d: [u8; 16] = packet[24..40].try_into().unwrap();
                (Addrs::V6(s.into(), d.into()), packet[6], 40)
            }
            v => panic!("IP version {v}"),
        };
        let l4 = &packet[l4_at..];
        let sum = addrs.pseudo_header_sum(proto, l4.len()) + sum_words(l4);
        assert_eq!(fold(sum), 0xFFFF, "transport checksum (protocol {proto})");
        l4_at
    }

    #[test]
    fn ipv4_udp_packet_is_valid() {
        let p = ip_udp_packet(
            "192.0.2.1:5060".parse().unwrap(),
            "192.0.2.2:5062".parse().unwrap(),
            b"hello",
        );
        assert_eq!(p.len(), 20 + 8 + 5);
        assert_eq!(&p[2..4], &[0, 33]);
        assert_eq!(p[9], PROTO_UDP);
        assert_eq!(assert_checksums_valid(&p), 20);
        assert_ne!(&p[26..28], &[0, 0], "UDP checksum present");
        assert_eq!(&p[20..22], &5060u16.to_be_bytes());
        assert_eq!(&p[24..26], &13u16.to_be_bytes());
        assert_eq!(&p[28..], b"hello");
    }

    #[test]
    fn ipv6_udp_packet_is_valid() {
        let p = ip_udp_packet(
            "[2001:db8::1]:5060".parse().unwrap(),
            "[2001:db8::2]:5062".parse().unwrap(),
            b"odd",
        );
        assert_eq!(p.len(), 40 + 8 + 3);
        assert_eq!(p[6], PROTO_UDP);
        assert_eq!(assert_checksums_valid(&p), 40);
        assert_eq!(&p[48..], b"odd");
    }

    #[test]
    fn mixed_families_keep_the_source_family() {
        let p = ip_udp_packet(
            "[2001:db8::1]:1".parse().unwrap(),
            "192.0.2.2:2".parse().unwrap(),
            b"x",
        );
        assert_eq!(p[0] >> 4, 6);
        let mapped: Ipv6Addr = "::ffff:192.0.2.2".parse().unwrap();
        assert_eq!(&p[24..40], &mapped.octets());
        assert_checksums_valid(&p);
    }

    #[test]
    fn oversized_udp_payload_is_cut_to_one_packet() {
        let big = vec![0xAB; 70_000];
        let p = ip_udp_packet(
            "192.0.2.1:1".parse().unwrap(),
            "192.0.2.2:2".parse().unwrap(),
            &big,
        );
        assert_eq!(p.len(), 0xFFFF);
        assert_checksums_valid(&p);
    }

    #[test]
    fn checksum_sum_matches_rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 0x220d (folded 0xddf2).
        assert_eq!(
            fold(sum_words(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
    }
}
