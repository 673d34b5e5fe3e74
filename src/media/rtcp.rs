//! RTCP sender and receiver reports (RFC 3550 §6.4): what we send and what we read back.

use thiserror::Error;

/// RFC 3550 §6.4.1 / §6.4.2 packet types.
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
/// RFC 3550 §6.5 source description.
pub const PT_SDES: u8 = 202;
/// RFC 3550 §6.5.1 SDES item type CNAME.
const SDES_CNAME: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtcpError {
    #[error("RTCP packet of {0} bytes is too short")]
    TooShort(usize),
    #[error("RTCP version {0}, expected 2")]
    Version(u8),
    #[error("RTCP packet type {0} is neither SR nor RR")]
    NotAReport(u8),
}

/// One report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// 24-bit signed cumulative loss.
    pub cumulative_lost: i32,
    pub highest_sequence: u32,
    pub jitter: u32,
    pub last_sr: u32,
    pub delay_since_last_sr: u32,
}

/// The sender part of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    pub ntp_timestamp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub ssrc: u32,
    /// Present in an SR, absent in an RR.
    pub sender: Option<SenderInfo>,
    pub blocks: Vec<ReportBlock>,
}

impl Report {
    pub fn encode(&self) -> Vec<u8> {
        let blocks = self.blocks.len().min(31);
        let words = 1 + if self.sender.is_some() { 5 } else { 0 } + 6 * blocks;
        let mut out = Vec::with_capacity(4 * (words + 1));
        out.push(0x80 | blocks as u8);
        out.push(if self.sender.is_some() { PT_SR } else { PT_RR });
        // RFC 3550 §6.4.1: length in 32-bit words minus one.
        out.extend_from_slice(&(words as u16).to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        if let Some(s) = &self.sender {
            out.extend_from_slice(&s.ntp_timestamp.to_be_bytes());
            out.extend_from_slice(&s.rtp_timestamp.to_be_bytes());
            out.extend_from_slice(&s.packet_count.to_be_bytes());
            out.extend_from_slice(&s.octet_count.to_be_bytes());
        }
        for b in self.blocks.iter().take(blocks) {
            out.extend_from_slice(&b.ssrc.to_be_bytes());
            let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
            out.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
            out.extend_from_slice(&b.highest_sequence.to_be_bytes());
            out.extend_from_slice(&b.jitter.to_be_bytes());
            out.extend_from_slice(&b.last_sr.to_be_bytes());
            out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
        }
        out
    }

    /// The compound packet we send: this report followed by an SDES with our CNAME (RFC 3550
    /// §6.1: every compound packet MUST carry the CNAME item).
    pub fn encode_compound(&self, cname: &str) -> Vec<u8> {
        let mut out = self.encode();
        out.extend_from_slice(&sdes_cname(self.ssrc, cname));
        out
    }

    /// Reads the first packet of a compound RTCP packet if it is an SR or RR.
    pub fn parse(data: &[u8]) -> Result<Report, RtcpError> {
        let word = |i: usize| -> Result<u32, RtcpError> {
            let b = data.get(i..i + 4).ok_or(RtcpError::TooShort(data.len()))?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let first = *data.first().ok_or(RtcpError::TooShort(0))?;
        if first >> 6 != 2 {
            return Err(RtcpError::Version(first >> 6));
        }
        let pt = *data.get(1).ok_or(RtcpError::TooShort(data.len()))?;
        let count = usize::from(first & 0x1F);
        let ssrc = word(4)?;
        let (sender, mut offset) = match pt {
            PT_SR => (
                Some(SenderInfo {
                    ntp_timestamp: (u64::from(word(8)?) << 32) | u64::from(word(12)?),
                    rtp_timestamp: word(16)?,
                    packet_count: word(20)?,
                    octet_count: word(24)?,
                }),
                28,
            ),
            PT_RR => (None, 8),
            other => return Err(RtcpError::NotAReport(other)),
        };
        let mut blocks = Vec::with_capacity(count);
        for _ in 0..count {
            let lost_word = word(offset + 4)?;
            // Sign-extend the 24-bit cumulative loss.
            let lost = ((lost_word << 8) as i32) >> 8;
            blocks.push(ReportBlock {
                ssrc: word(offset)?,
                fraction_lost: (lost_word >> 24) as u8,
                cumulative_lost: lost,
                highest_sequence: word(offset + 8)?,
                jitter: word(offset + 12)?,
                last_sr: word(offset + 16)?,
                delay_since_last_sr: word(offset + 20)?,
            });
            offset += 24;
        }
        Ok(Report {
            ssrc,
            sender,
            blocks,
        })
    }
}

/// A CNAME as RFC 7022 §4.2 recommends for a short-term identifier: 96 random bits,
/// base64-encoded (12 octets give exactly 16 characters, no padding).
pub fn random_cname(rng: &mut impl rand::Rng) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: [u8; 12] = rng.random();
    bytes
        .chunks(3)
        .flat_map(|c| {
            let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
            [18, 12, 6, 0].map(|shift| char::from(ALPHABET[((n >> shift) & 63) as usize]))
        })
        .collect()
}

/// An SDES packet with one chunk: `ssrc` and its CNAME (RFC 3550 §6.5, §6.5.1). The item
/// list ends with a null octet and is padded with nulls to a 32-bit boundary; the text is
/// cut to the 255 octets an item can hold.
pub fn sdes_cname(ssrc: u32, cname: &str) -> Vec<u8> {
    let text = &cname.as_bytes()[..cname.len().min(255)];
    let mut chunk = Vec::with_capacity(8 + text.len());
    chunk.extend_from_slice(&ssrc.to_be_bytes());
    chunk.push(SDES_CNAME);
    chunk.push(text.len() as u8);
    chunk.extend_from_slice(text);
    // RFC 3550 §6.5: at least one null octet (END), then nulls up to a word boundary.
    chunk.push(0);
    while chunk.len() % 4 != 0 {
        chunk.push(0);
    }
    let mut out = Vec::with_capacity(4 + chunk.len());
    out.push(0x80 | 1); // V=2, P=0, SC=1
    out.push(PT_SDES);
    out.extend_from_slice(&((chunk.len() / 4) as u16).to_be_bytes());
    out.extend_from_slice(&chunk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_round_trip() {
        let r = Report {
            ssrc: 7,
            sender: Some(SenderInfo {
                ntp_timestamp: 0x0102030405060708,
                rtp_timestamp: 160,
                packet_count: 50,
                octet_count: 8000,
            }),
            blocks: vec![ReportBlock {
                ssrc: 9,
                fraction_lost: 12,
                cumulative_lost: -3,
                highest_sequence: 70000,
                jitter: 5,
                last_sr: 1,
                delay_since_last_sr: 2,
            }],
        };
        let bytes = r.encode();
        assert_eq!(bytes.len(), 52);
        assert_eq!(&bytes[..4], &[0x81, 200, 0, 12]);
        assert_eq!(Report::parse(&bytes).unwrap(), r);
        assert!(super::super::rtp::is_rtcp(&bytes));
    }

    #[test]
    fn receiver_report_and_errors() {
        let r = Report {
            ssrc: 1,
            sender: None,
            blocks: vec![],
        };
        let bytes = r.encode();
        assert_eq!(bytes, vec![0x80, 201, 0, 1, 0, 0, 0, 1]);
        assert_eq!(Report::parse(&bytes).unwrap(), r);
        assert_eq!(
            Report::parse(&[0x80, 202, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::NotAReport(202))
        );
        assert!(matches!(
            Report::parse(&[0x81, 201, 0, 7, 0, 0, 0, 1]),
            Err(RtcpError::TooShort(_))
        ));
    }

    #[test]
    fn random_cname_is_96_bits_of_base64() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let a = random_cname(&mut rng);
        let b = random_cname(&mut rng);
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/'));
        assert_ne!(a, b);
    }

    #[test]
    fn sdes_cname_is_word_aligned_and_null_terminated() {
        // 4-octet header, SSRC, type, length, 5 octets of text, END: 4 + 12 = 16 octets.
        let p = sdes_cname(0x0102_0304, "abcde");
        assert_eq!(
            p,
            [0x81, 202, 0, 3, 1, 2, 3, 4, SDES_CNAME, 5, b'a', b'b', b'c', b'd', b'e', 0]
        );
        // A text that fills the word exactly still gets a null octet: a whole null word.
        let p = sdes_cname(1, "abcdef");
        assert_eq!(p.len(), 4 + 4 + 2 + 6 + 4);
        assert_eq!(&p[16..], [0, 0, 0, 0]);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len() / 4 - 1);
    }

    #[test]
    fn compound_packet_starts_with_the_report_and_still_parses() {
        let r = Report {
            ssrc: 9,
            sender: None,
            blocks: vec![],
        };
        let compound = r.encode_compound("cname");
        let report_len = r.encode().len();
        assert_eq!(compound[report_len + 1], PT_SDES);
        assert_eq!(Report::parse(&compound).unwrap(), r);
    }
}
