//! RTP fixed header (RFC 3550 §5.1): encode and parse, no extensions sent.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("RTP packet shorter than its {0}-byte header")]
    TooShort(usize),
    #[error("RTP version {0}, expected 2 (RFC 3550 §5.1)")]
    Version(u8),
    #[error("RTP padding length {0} exceeds the payload")]
    Padding(usize),
}

/// One RTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl RtpPacket {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        // RFC 3550 §5.1: V=2, P=0, X=0, CC=0.
        out.push(0x80);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn parse(data: &[u8]) -> Result<RtpPacket, RtpError> {
        let header = data.get(..12).ok_or(RtpError::TooShort(12))?;
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = header[0] & 0x20 != 0;
        let extension = header[0] & 0x10 != 0;
        let csrc_count = usize::from(header[0] & 0x0F);
        let mut offset = 12 + 4 * csrc_count;
        if extension {
            // RFC 3550 §5.3.1: 4-byte extension header, length in 32-bit words.
            let ext = data
                .get(offset..offset + 4)
                .ok_or(RtpError::TooShort(offset + 4))?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            offset += 4 + 4 * words;
        }
        let mut end = data.len();
        if padding {
            let pad = usize::from(*data.last().ok_or(RtpError::TooShort(offset))?);
            end = end
                .checked_sub(pad)
                .filter(|e| *e >= offset)
                .ok_or(RtpError::Padding(pad))?;
        }
        let payload = data.get(offset..end).ok_or(RtpError::TooShort(offset))?;
        Ok(RtpPacket {
            marker: header[1] & 0x80 != 0,
            payload_type: header[1] & 0x7F,
            sequence: u16::from_be_bytes([header[2], header[3]]),
            timestamp: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
            ssrc: u32::from_be_bytes([header[8], header[9], header[10], header[11]]),
            payload: payload.to_vec(),
        })
    }
}

/// RFC 5761 §4: with rtcp-mux, RTCP packet types 200..=204 sit where RTP payload types
/// 72..=76 would be (second byte 192..=223 is RTCP).
pub fn is_rtcp(data: &[u8]) -> bool {
    // One RFC 7983 / RFC 5761 §4 classification for the whole program: the ICE agent's.
    ice::agent::classify(data) == ice::agent::PacketKind::Rtcp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = RtpPacket {
            marker: true,
            payload_type: 8,
            sequence: 65535,
            timestamp: 0xDEADBEEF,
            ssrc: 0x01020304,
            payload: vec![1, 2, 3],
        };
        let bytes = p.encode();
        assert_eq!(&bytes[..2], &[0x80, 0x88]);
        assert_eq!(RtpPacket::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        let mut b = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // extension, 1 word
        b.extend_from_slice(&[42, 43]); // payload
        b.extend_from_slice(&[0, 2]); // 2 bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.payload, vec![42, 43]);
        assert_eq!(p.sequence, 1);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::TooShort(12)));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        let mut pad = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        pad.push(200);
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::Padding(200)));
    }

    #[test]
    fn rtcp_is_told_apart_from_rtp() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x81, 201]));
        assert!(!is_rtcp(&[0x80, 0]));
        assert!(!is_rtcp(&[0x80, 101]));
    }
}
