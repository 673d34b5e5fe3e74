//! Receive statistics per RFC 3550 Appendix A.1 (sequence/loss) and A.8 (interarrival jitter).

use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    base_seq: Option<u16>,
    max_seq: u16,
    cycles: u32,
    pub received: u64,
    /// RFC 3550 A.8 interarrival jitter, in timestamp units.
    jitter: f64,
    last_transit: Option<i64>,
}

impl ReceiveStats {
    /// One RTP packet with sequence `seq` and timestamp `ts`, arriving at `arrival` (in
    /// timestamp units, i.e. 8 kHz ticks since some origin).
    pub fn on_packet(&mut self, seq: u16, ts: u32, arrival: u32) {
        self.received += 1;
        match self.base_seq {
            None => {
                self.base_seq = Some(seq);
                self.max_seq = seq;
            }
            Some(_) => {
                let delta = seq.wrapping_sub(self.max_seq);
                // RFC 3550 A.1: in order with a permissible gap; wraparound counts a cycle.
                if delta != 0 && delta < 0x8000 {
                    if seq < self.max_seq {
                        self.cycles += 1;
                    }
                    self.max_seq = seq;
                }
            }
        }
        // RFC 3550 A.8: J += (|D| − J) / 16.
        let transit = i64::from(arrival) - i64::from(ts);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    pub fn expected(&self) -> u64 {
        match self.base_seq {
            None => 0,
            Some(base) => {
                let extended_max = (u64::from(self.cycles) << 16) + u64::from(self.max_seq);
                extended_max + 1 - u64::from(base)
            }
        }
    }

    /// RFC 3550 A.3: expected minus received (may be negative with duplicates; clamped).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter.round() as u32
    }
}

/// End-of-call media figures (the `media` event).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MediaSummary {
    pub codec: String,
    pub rtp_sent: u64,
    pub rtp_received: u64,
    pub lost: u64,
    /// Interarrival jitter in milliseconds (RFC 3550 A.8, 8 kHz clock).
    pub jitter_ms: f64,
    pub rtcp_sent: u64,
    pub rtcp_received: u64,
    /// Frames the source produced while ICE had not selected a pair yet: never sent
    /// (RFC 8445 §12.1).
    pub frames_held_before_selection: u64,
    pub dtmf_sent: String,
    pub dtmf_received: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_counts_gaps_and_wraparound() {
        let mut s = ReceiveStats::default();
        for (i, seq) in [65533u16, 65534, 0, 1, 3].iter().enumerate() {
            s.on_packet(*seq, i as u32 * 160, i as u32 * 160);
        }
        assert_eq!(s.expected(), 7);
        assert_eq!(s.received, 5);
        assert_eq!(s.lost(), 2);
        assert_eq!(s.jitter(), 0);
    }

    #[test]
    fn jitter_follows_arrival_variation() {
        let mut s = ReceiveStats::default();
        for i in 0..200u32 {
            // Every other packet 40 ticks (5 ms) late.
            let late = if i % 2 == 1 { 40 } else { 0 };
            s.on_packet(i as u16, i * 160, i * 160 + late);
        }
        // |D| is always 40, so J converges to 40.
        assert!((35..=40).contains(&s.jitter()), "{}", s.jitter());
    }
}
