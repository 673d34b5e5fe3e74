//! `--pcap FILE`: every SIP, STUN and RTP packet the process sends or receives, in a classic
//! pcap file (LINKTYPE_RAW: each record is an IP packet) that Wireshark and tshark open.
//! Datagrams get synthesized IPv4/IPv6 and UDP headers ([`packet`]); SIP over TCP gets
//! synthesized TCP segments with a consistent sequence space per connection ([`tcp`]).

mod packet;
mod tcp;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use packet::ip_udp_packet;
pub use tcp::TcpTap;

use tcp::{Flow, FlowKey, Segment};

/// pcap magic (microsecond timestamps), version 2.4.
const MAGIC: u32 = 0xA1B2_C3D4;
/// LINKTYPE_RAW: the packet begins with an IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65535;

/// A shared capture; cloning shares the file. Writes after an I/O error are dropped with a
/// warning (a capture must never break a call).
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    file: Option<BufWriter<File>>,
    /// The tapped TCP connections. Sequence numbers are handed out under the same lock the
    /// records are written under, so the file is in sequence order.
    flows: HashMap<FlowKey, Flow>,
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
            inner: Arc::new(Mutex::new(Inner {
                file: Some(w),
                flows: HashMap::new(),
            })),
        })
    }

    /// Records one UDP datagram.
    pub fn record(&self, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        let packet = ip_udp_packet(from, to, payload);
        self.lock().write_packets(&[packet]);
    }

    /// Runs `f` on the TCP flows and records the segments it returns, under one lock.
    fn with_flows<R>(&self, f: impl FnOnce(&mut HashMap<FlowKey, Flow>) -> (R, Vec<Segment>)) -> R {
        let mut inner = self.lock();
        let (result, segments) = f(&mut inner.flows);
        let packets: Vec<Vec<u8>> = segments.iter().map(Segment::packet).collect();
        inner.write_packets(&packets);
        result
    }
}

impl Capture {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A recorder panicked mid-record: at worst one record is torn; a capture must never
        // break a call, so go on.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn write_packets(&mut self, packets: &[Vec<u8>]) {
        if packets.is_empty() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let Some(w) = self.file.as_mut() else {
            return;
        };
        let written = packets
            .iter()
            .try_for_each(|p| w.write_all(&record(now, p)))
            .and_then(|_| w.flush());
        if let Err(e) = written {
            tracing::warn!("pcap write failed, capture stopped: {e}");
            self.file = None;
        }
    }
}

/// One pcap record: timestamp, captured and original length, the packet.
fn record(at: std::time::Duration, packet: &[u8]) -> Vec<u8> {
    let len = packet.len().min(SNAPLEN as usize);
    let mut rec = Vec::with_capacity(16 + len);
    rec.extend_from_slice(&(at.as_secs() as u32).to_le_bytes());
    rec.extend_from_slice(&at.subsec_micros().to_le_bytes());
    rec.extend_from_slice(&(len as u32).to_le_bytes());
    rec.extend_from_slice(&(packet.len() as u32).to_le_bytes());
    rec.extend_from_slice(packet.get(..len).unwrap_or(packet));
    rec
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

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("icephone-pcap-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The packets of a pcap file written by [`Capture`].
    fn packets(bytes: &[u8]) -> Vec<Vec<u8>> {
        assert_eq!(&bytes[..4], &MAGIC.to_le_bytes());
        assert_eq!(&bytes[20..24], &LINKTYPE_RAW.to_le_bytes());
        let mut at = 24;
        let mut out = Vec::new();
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            out.push(bytes[at + 16..at + 16 + len].to_vec());
            at += 16 + len;
        }
        out
    }

    #[test]
    fn file_has_global_header_and_records() {
        let dir = TempDir::new("udp");
        let path = dir.0.join("t.pcap");
        let c = Capture::create(&path).unwrap();
        c.record(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            b"x",
        );
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24 + 16 + 29);
        assert_eq!(
            packets(&bytes),
            vec![ip_udp_packet(
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
                b"x",
            )]
        );
    }

    /// TCP flags and sequence numbers of every packet, in file order.
    fn tcp_summary(packets: &[Vec<u8>]) -> Vec<(u16, u8, u32, u32, usize)> {
        packets
            .iter()
            .map(|p| {
                let at = packet::tests::assert_checksums_valid(p);
                let t = &p[at..];
                (
                    u16::from_be_bytes([t[0], t[1]]),
                    t[13],
                    u32::from_be_bytes(t[4..8].try_into().unwrap()),
                    u32::from_be_bytes(t[8..12].try_into().unwrap()),
                    t.len() - 20,
                )
            })
            .collect()
    }

    #[test]
    fn tcp_tap_records_handshake_data_and_fins_in_order() {
        let dir = TempDir::new("tcp");
        let path = dir.0.join("t.pcap");
        let c = Capture::create(&path).unwrap();
        let local: SocketAddr = "127.0.0.1:41000".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let tap = TcpTap::open(&c, local, remote, true);
        tap.sent(b"INVITE");
        tap.received(b"SIP/2.0 200");
        tap.sent(b"");
        tap.closed_by_peer();
        tap.closed_by_us();
        let rows = tcp_summary(&packets(&std::fs::read(&path).unwrap()));
        assert_eq!(rows.len(), 3 + 2 + 2, "{rows:?}");
        let (ports, flags): (Vec<u16>, Vec<u8>) = rows.iter().map(|r| (r.0, r.1)).unzip();
        assert_eq!(ports, [41000, 5060, 41000, 41000, 5060, 5060, 41000]);
        use tcp::{ACK, FIN, PSH, SYN};
        assert_eq!(
            flags,
            [
                SYN,
                SYN | ACK,
                ACK,
                PSH | ACK,
                PSH | ACK,
                FIN | ACK,
                FIN | ACK
            ]
        );
        // The initial sequence numbers are random: compare offsets from them.
        let (c0, s0) = (rows[0].2, rows[1].2);
        let c = |n: u32| c0.wrapping_add(n);
        let s = |n: u32| s0.wrapping_add(n);
        // INVITE: seq c0+1; the answer acks its 6 bytes; the peer's FIN acks the same.
        assert_eq!((rows[3].2, rows[3].3, rows[3].4), (c(1), s(1), 6));
        assert_eq!((rows[4].2, rows[4].3, rows[4].4), (s(1), c(7), 11));
        assert_eq!((rows[5].2, rows[5].3), (s(12), c(7)));
        assert_eq!((rows[6].2, rows[6].3), (c(7), s(13)));
    }

    #[test]
    fn both_ends_in_one_process_record_each_byte_once() {
        let dir = TempDir::new("twice");
        let path = dir.0.join("t.pcap");
        let c = Capture::create(&path).unwrap();
        let a: SocketAddr = "127.0.0.1:41000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let caller = TcpTap::open(&c, a, b, true);
        let callee = TcpTap::open(&c, b, a, false);
        caller.sent(b"INVITE");
        callee.received(b"INVITE");
        callee.sent(b"200");
        caller.received(b"200");
        let rows = tcp_summary(&packets(&std::fs::read(&path).unwrap()));
        assert_eq!(rows.len(), 3 + 2, "{rows:?}");
        drop(caller);
        // The recording end is gone: a new connection on the same ports is recorded afresh.
        let again = TcpTap::open(&c, a, b, true);
        again.sent(b"x");
        let rows = tcp_summary(&packets(&std::fs::read(&path).unwrap()));
        assert_eq!(rows.len(), 5 + 3 + 1);
    }
}
