//! SIP over TCP in the capture: what the process writes to or reads from a TCP stream is
//! recorded as synthesized TCP segments (RFC 9293 §3.1) with PSH|ACK, per-direction sequence
//! numbers advanced by each payload, and acknowledgements of everything the other direction
//! has recorded, so Wireshark reassembles the stream and dissects SIP on it. A three-way
//! handshake is written when the connection is tapped and a FIN when either side closes.

use std::net::SocketAddr;

use super::packet::{ip_packet, Addrs, PROTO_TCP};
use super::Capture;

/// TCP flags (RFC 9293 §3.1).
pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const PSH: u8 = 0x08;
pub(crate) const ACK: u8 = 0x10;

/// A header without options.
const HEADER_LEN: usize = 20;
/// The window we advertise: the largest one without window scaling, so no zero- or
/// full-window warnings.
const WINDOW: u16 = 0xFFFF;
/// The largest payload per synthesized segment; bigger writes become several segments.
pub(crate) const MAX_SEGMENT: usize = 32 * 1024;

/// One connection's state in the capture. Side 0 is the client (sent the SYN), side 1 the
/// server.
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    ends: [SocketAddr; 2],
    /// The sequence number of each side's next byte.
    next_seq: [u32; 2],
}

/// One segment to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
}

impl Flow {
    /// A connection from `client` to `server` with these initial sequence numbers, and its
    /// three-way handshake (RFC 9293 §3.5): SYN, SYN-ACK, ACK.
    pub(crate) fn open(
        client: SocketAddr,
        server: SocketAddr,
        isn: [u32; 2],
    ) -> (Flow, Vec<Segment>) {
        let [c, s] = isn;
        let handshake = vec![
            segment(client, server, c, 0, SYN, &[]),
            segment(server, client, s, c.wrapping_add(1), SYN | ACK, &[]),
            segment(
                client,
                server,
                c.wrapping_add(1),
                s.wrapping_add(1),
                ACK,
                &[],
            ),
        ];
        let flow = Flow {
            ends: [client, server],
            next_seq: [c.wrapping_add(1), s.wrapping_add(1)],
        };
        (flow, handshake)
    }

    /// The side `from` is, if it is an end of this flow.
    fn side(&self, from: SocketAddr) -> Option<usize> {
        self.ends.iter().position(|e| *e == from)
    }

    /// `payload` sent by `from`: one PSH|ACK segment per [`MAX_SEGMENT`] bytes.
    pub(crate) fn data(&mut self, from: SocketAddr, payload: &[u8]) -> Vec<Segment> {
        let Some(side) = self.side(from) else {
            return Vec::new();
        };
        payload
            .chunks(MAX_SEGMENT)
            .map(|chunk| {
                // Chunks are at most MAX_SEGMENT bytes, so the length fits in u32.
                self.advance(side, PSH | ACK, chunk, chunk.len() as u32)
            })
            .collect()
    }

    /// `from` closed its sending direction: a FIN|ACK, which takes one sequence number
    /// (RFC 9293 §3.4).
    pub(crate) fn fin(&mut self, from: SocketAddr) -> Option<Segment> {
        let side = self.side(from)?;
        Some(self.advance(side, FIN | ACK, &[], 1))
    }

    fn advance(&mut self, side: usize, flags: u8, payload: &[u8], consumes: u32) -> Segment {
        let other = 1 - side;
        let seg = segment(
            self.ends[side],
            self.ends[other],
            self.next_seq[side],
            // Acknowledge everything the other side has been recorded sending.
            self.next_seq[other],
            flags,
            payload,
        );
        self.next_seq[side] = self.next_seq[side].wrapping_add(consumes);
        seg
    }
}

fn segment(
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Segment {
    Segment {
        from,
        to,
        seq,
        ack,
        flags,
        payload: payload.to_vec(),
    }
}

impl Segment {
    /// The IP packet carrying this segment, with the TCP checksum over the pseudo-header
    /// (RFC 9293 §3.1) and the IP header checksum.
    pub(crate) fn packet(&self) -> Vec<u8> {
        let mut tcp = Vec::with_capacity(HEADER_LEN + self.payload.len());
        tcp.extend_from_slice(&self.from.port().to_be_bytes());
        tcp.extend_from_slice(&self.to.port().to_be_bytes());
        tcp.extend_from_slice(&self.seq.to_be_bytes());
        // RFC 9293 §3.1: the acknowledgment number is zero unless ACK is set.
        let ack = if self.flags & ACK != 0 { self.ack } else { 0 };
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.push(((HEADER_LEN / 4) as u8) << 4); // data offset in 32-bit words
        tcp.push(self.flags);
        tcp.extend_from_slice(&WINDOW.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum (filled in below), urgent pointer
        tcp.extend_from_slice(&self.payload);
        ip_packet(Addrs::of(self.from, self.to), PROTO_TCP, tcp, 16)
    }
}

/// The capture's view of one TCP connection of the SIP driver. Shared by the connection's
/// reader and writer; dropping the last clone forgets the connection.
///
/// When two endpoints of one process share a capture and talk to each other (the demo), both
/// ends of one connection are tapped; only the first records, so each byte appears once.
#[derive(Debug)]
pub struct TcpTap {
    capture: Capture,
    local: SocketAddr,
    remote: SocketAddr,
    recording: bool,
}

impl TcpTap {
    /// Taps the connection `local`↔`remote`, writing its handshake; `we_connected` says
    /// which side sent the SYN.
    pub fn open(
        capture: &Capture,
        local: SocketAddr,
        remote: SocketAddr,
        we_connected: bool,
    ) -> TcpTap {
        let (client, server) = if we_connected {
            (local, remote)
        } else {
            (remote, local)
        };
        let isn = [rand::random::<u32>(), rand::random::<u32>()];
        let recording = capture.with_flows(|flows| {
            let key = flow_key(local, remote);
            if flows.contains_key(&key) {
                return (false, Vec::new());
            }
            let (flow, handshake) = Flow::open(client, server, isn);
            flows.insert(key, flow);
            (true, handshake)
        });
        TcpTap {
            capture: capture.clone(),
            local,
            remote,
            recording,
        }
    }

    /// We wrote `bytes` to the stream.
    pub fn sent(&self, bytes: &[u8]) {
        self.data(self.local, bytes);
    }

    /// We read `bytes` from the stream.
    pub fn received(&self, bytes: &[u8]) {
        self.data(self.remote, bytes);
    }

    /// We shut down our sending direction.
    pub fn closed_by_us(&self) {
        self.fin(self.local);
    }

    /// The peer shut down its sending direction (we read end-of-stream).
    pub fn closed_by_peer(&self) {
        self.fin(self.remote);
    }

    fn data(&self, from: SocketAddr, bytes: &[u8]) {
        if !self.recording || bytes.is_empty() {
            return;
        }
        let key = flow_key(self.local, self.remote);
        self.capture.with_flows(|flows| match flows.get_mut(&key) {
            Some(flow) => ((), flow.data(from, bytes)),
            None => ((), Vec::new()),
        });
    }

    fn fin(&self, from: SocketAddr) {
        if !self.recording {
            return;
        }
        let key = flow_key(self.local, self.remote);
        self.capture.with_flows(|flows| {
            let fin = flows.get_mut(&key).and_then(|flow| flow.fin(from));
            ((), fin.into_iter().collect())
        });
    }
}

impl Drop for TcpTap {
    fn drop(&mut self) {
        if self.recording {
            let key = flow_key(self.local, self.remote);
            self.capture.with_flows(|flows| {
                flows.remove(&key);
                ((), Vec::new())
            });
        }
    }
}

/// Both ends of a connection, in a fixed order, so either end finds the same flow.
pub(crate) type FlowKey = (SocketAddr, SocketAddr);

fn flow_key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::tests::assert_checksums_valid;
    use super::*;

    fn client() -> SocketAddr {
        "192.0.2.1:40000".parse().unwrap()
    }
    fn server() -> SocketAddr {
        "192.0.2.2:5060".parse().unwrap()
    }

    /// Parses what a TCP receiver needs from a packet: ports, seq, ack, header length,
    /// flags, window, payload; checksums verified.
    fn parse(packet: &[u8]) -> (u16, u16, u32, u32, usize, u8, u16, Vec<u8>) {
        let at = assert_checksums_valid(packet);
        let tcp = &packet[at..];
        let u16_at = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes(tcp[i..i + 4].try_into().unwrap());
        let header_len = usize::from(tcp[12] >> 4) * 4;
        (
            u16_at(0),
            u16_at(2),
            u32_at(4),
            u32_at(8),
            header_len,
            tcp[13],
            u16_at(14),
            tcp[header_len..].to_vec(),
        )
    }

    #[test]
    fn handshake_then_data_advances_seq_and_acks_the_other_side() {
        let (mut flow, handshake) = Flow::open(client(), server(), [1000, 5000]);
        let flags: Vec<u8> = handshake.iter().map(|s| s.flags).collect();
        assert_eq!(flags, [SYN, SYN | ACK, ACK]);
        assert_eq!((handshake[0].seq, handshake[1].seq), (1000, 5000));
        assert_eq!((handshake[1].ack, handshake[2].ack), (1001, 5001));
        assert_eq!(handshake[2].seq, 1001);

        let invite = flow.data(client(), b"INVITE sip:b@x SIP/2.0\r\n\r\n");
        assert_eq!(invite.len(), 1);
        assert_eq!((invite[0].seq, invite[0].ack), (1001, 5001));
        assert_eq!(invite[0].flags, PSH | ACK);
        let ok = flow.data(server(), b"SIP/2.0 200 OK\r\n\r\n");
        assert_eq!((ok[0].seq, ok[0].ack), (5001, 1001 + 26));
        let ack = flow.data(client(), b"ACK");
        assert_eq!((ack[0].seq, ack[0].ack), (1027, 5001 + 18));

        let fin = flow.fin(server()).unwrap();
        assert_eq!((fin.seq, fin.ack, fin.flags), (5019, 1030, FIN | ACK));
        let last = flow.fin(client()).unwrap();
        assert_eq!(
            (last.seq, last.ack),
            (1030, 5020),
            "the FIN took one number"
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let (mut flow, _) = Flow::open(client(), server(), [u32::MAX - 1, 7]);
        let a = flow.data(client(), b"abcd");
        assert_eq!(a[0].seq, u32::MAX);
        let b = flow.data(client(), b"e");
        assert_eq!(b[0].seq, 3);
    }

    #[test]
    fn big_writes_become_several_segments() {
        let (mut flow, _) = Flow::open(client(), server(), [0, 0]);
        let segs = flow.data(client(), &vec![b'x'; MAX_SEGMENT + 10]);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[1].seq, 1 + MAX_SEGMENT as u32);
        assert_eq!(segs[1].payload.len(), 10);
        assert_checksums_valid(&segs[0].packet());
    }

    #[test]
    fn strangers_are_not_recorded() {
        let (mut flow, _) = Flow::open(client(), server(), [0, 0]);
        let other: SocketAddr = "192.0.2.9:1".parse().unwrap();
        assert!(flow.data(other, b"x").is_empty());
        assert!(flow.fin(other).is_none());
    }

    #[test]
    fn ipv4_segment_header_fields_and_checksums() {
        let seg = segment(
            client(),
            server(),
            0x0102_0304,
            0xA0B0_C0D0,
            PSH | ACK,
            b"odd",
        );
        let p = seg.packet();
        assert_eq!(p.len(), 20 + 20 + 3);
        assert_eq!(p[9], PROTO_TCP);
        let (sport, dport, seq, ack, hl, flags, window, payload) = parse(&p);
        assert_eq!((sport, dport), (40000, 5060));
        assert_eq!((seq, ack), (0x0102_0304, 0xA0B0_C0D0));
        assert_eq!((hl, flags, window), (20, PSH | ACK, WINDOW));
        assert_eq!(payload, b"odd");
    }

    #[test]
    fn ipv6_segment_header_fields_and_checksums() {
        let from: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        let to: SocketAddr = "[2001:db8::2]:41000".parse().unwrap();
        let p = segment(from, to, 9, 10, PSH | ACK, b"SIP/2.0 200 OK\r\n\r\n").packet();
        assert_eq!(p.len(), 40 + 20 + 18);
        assert_eq!(p[6], PROTO_TCP);
        let (sport, dport, seq, ack, hl, flags, _, payload) = parse(&p);
        assert_eq!(
            (sport, dport, seq, ack, hl, flags),
            (5060, 41000, 9, 10, 20, PSH | ACK)
        );
        assert_eq!(payload, b"SIP/2.0 200 OK\r\n\r\n");
    }

    #[test]
    fn syn_carries_no_acknowledgment_number() {
        let p = segment(client(), server(), 1, 99, SYN, &[]).packet();
        let (_, _, seq, ack, _, flags, _, payload) = parse(&p);
        assert_eq!((seq, ack, flags), (1, 0, SYN));
        assert!(payload.is_empty());
    }
}
