//! `--pcap FILE`: every SIP, STUN and RTP datagram the process sends or receives, in a classic
//! pcap file (LINKTYPE_RAW: each record is an IP packet; we synthesize the IPv4/IPv6 and UDP
//! headers around the payload) that Wireshark and tshark open.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// pcap magic (microsecond timestamps), version 2.4.
const MAGIC: u32 = 0xA1B2_C3D4;
/// LINKTYPE_RAW: the packet begins with an IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65535;

/// A shared capture; cloning shares the file. Writes after an I/O error are dropped with a
/// warning (a capture must never break a call).
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Mutex<Option<BufWriter<File>>>>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

impl Capture {
    pub fn create(path: &Path) -> std::io::Result<Capture> {
        let mut w = BufWriter::new(File::create(path)?);
        w.write_all(&header())?;
        w.flush()?;
        Ok(Capture {
            inner: Arc::new(Mutex::new(Some(w))),
        })
    }

    /// Records one UDP datagram.
    pub fn record(&self, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        let packet = ip_udp_packet(from, to, payload);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut rec = Vec::with_capacity(16 + packet.len());
        rec.extend_from_slice(&(now.as_secs() as u32).to_le_bytes());
        rec.extend_from_slice(&now.subsec_micros().to_le_bytes());
        let len = packet.len().min(SNAPLEN as usize) as u32;
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        rec.extend_from_slice(&packet[..len as usize]);
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        if let Some(w) = guard.as_mut() {
            if let Err(e) = w.write_all(&rec).and_then(|_| w.flush()) {
                tracing::warn!("pcap write failed, capture stopped: {e}");
                *guard = None;
            }
        }
    }
}

/// The pcap global header (little-endian).
pub fn header() -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&MAGIC.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&SNAPLEN.to_le_bytes());
    h.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// An IP packet carrying one UDP datagram. Mixed families (never on one socket) fall back to
/// the source's family with an unspecified destination.
pub fn ip_udp_packet(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let udp_len = (8 + payload.len()).min(0xFFFF) as u16;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    // RFC 768: checksum 0 = none (allowed for IPv4; tools accept it for our synthetic v6 too).
    udp.extend_from_slice(&0u16.to_be_bytes());
    udp.extend_from_slice(payload);
    match (from.ip(), to.ip()) {
        (IpAddr::V4(s), d) => {
            let d = match d {
                IpAddr::V4(d) => d,
                IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
            };
            let total = (20 + udp.len()).min(0xFFFF) as u16;
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]); // id, DF, TTL 64, UDP
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let sum = ipv4_checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            ip.extend_from_slice(&udp);
            ip
        }
        (IpAddr::V6(s), d) => {
            let d = match d {
                IpAddr::V6(d) => d,
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            };
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&udp_len.to_be_bytes());
            ip.extend_from_slice(&[17, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip.extend_from_slice(&udp);
            ip
        }
    }
}

/// RFC 791 header checksum: one's complement of the one's-complement sum of 16-bit words.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_is_valid() {
        let p = ip_udp_packet(
            "127.0.0.1:5060".parse().unwrap(),
            "127.0.0.2:5062".parse().unwrap(),
            b"hello",
        );
        assert_eq!(p.len(), 20 + 8 + 5);
        assert_eq!(&p[2..4], &[0, 33]);
        // Summing a header that includes its checksum gives 0xFFFF.
        assert_eq!(ipv4_checksum(&p[..20]), 0);
        assert_eq!(&p[20..22], &5060u16.to_be_bytes());
        assert_eq!(&p[28..], b"hello");
    }

    #[test]
    fn file_has_global_header_and_records() {
        let dir = std::env::temp_dir().join(format!("icephone-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcap");
        let c = Capture::create(&path).unwrap();
        c.record(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            b"x",
        );
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], &MAGIC.to_le_bytes());
        assert_eq!(&bytes[20..24], &LINKTYPE_RAW.to_le_bytes());
        assert_eq!(bytes.len(), 24 + 16 + 29);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
