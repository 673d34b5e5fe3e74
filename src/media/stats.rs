//! Receive statistics per RFC 3550 Appendix A.1 (sequence validation and wrap), A.3 (the
//! loss figures of a report block) and A.8 (interarrival jitter).

use serde::Serialize;

/// RFC 3550 A.1: a jump of fewer than this many sequence numbers is "in order, with a
/// permissible gap".
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: packets up to this far behind `max_seq` are duplicates or reordered.
const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1 `RTP_SEQ_MOD`.
const SEQ_MOD: u32 = 1 << 16;

/// RFC 3550 §6.4.1: the cumulative number of packets lost is a 24-bit signed integer.
const CUMULATIVE_LOST_MAX: i64 = 0x7F_FFFF;
const CUMULATIVE_LOST_MIN: i64 = -0x80_0000;

#[derive(Debug, Clone)]
pub struct ReceiveStats {
    /// Sequence number the current (possibly re-synchronised) stream started at.
    base_seq: Option<u16>,
    max_seq: u16,
    /// Count of sequence-number wraps (A.1 keeps it shifted; we shift on use).
    cycles: u32,
    /// A.1: after a very large jump, the next sequence number that would confirm a restart.
    bad_seq: Option<u16>,
    /// Packets accepted since the stream (re)started, duplicates included (A.3).
    pub received: u64,
    /// A.3: figures at the previous report, for the fraction lost of the next interval.
    expected_prior: u64,
    received_prior: u64,
    /// RFC 3550 A.8 interarrival jitter, in timestamp units.
    jitter: f64,
    last_transit: Option<u32>,
}

impl Default for ReceiveStats {
    fn default() -> Self {
        ReceiveStats {
            base_seq: None,
            max_seq: 0,
            cycles: 0,
            bad_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter: 0.0,
            last_transit: None,
        }
    }
}

/// How a packet's sequence number was judged (RFC 3550 A.1 `update_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// Counted (in order, a permissible gap, a duplicate or a reordered packet).
    Accepted,
    /// A very large jump, not counted until the next packet confirms it as a restart.
    Rejected,
}

impl ReceiveStats {
    /// One RTP packet with sequence `seq`; `timing` is its RTP timestamp and its arrival time
    /// in the same clock's units (8 kHz ticks since some origin), or None for a packet that
    /// must not feed the jitter estimate (an RFC 4733 event repeats its start timestamp).
    pub fn on_packet(&mut self, seq: u16, timing: Option<(u32, u32)>) -> SeqVerdict {
        let verdict = self.update_seq(seq);
        if verdict == SeqVerdict::Accepted {
            if let Some((ts, arrival)) = timing {
                self.update_jitter(ts, arrival);
            }
        }
        verdict
    }

    /// RFC 3550 A.1 `update_seq`. The source is valid from its first packet (no probation,
    /// see README "Deviations": one peer, on a path ICE has proved).
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        if self.base_seq.is_none() {
            self.init_seq(seq);
            self.received = 1;
            return SeqVerdict::Accepted;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap; a smaller number means it wrapped: one more
            // 64K cycle.
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            // A very large jump: two sequential packets mean the sender restarted without
            // telling us, so re-synchronise as if this were the first packet.
            if self.bad_seq == Some(seq) {
                let received_before = self.received;
                self.init_seq(seq);
                // Keep the call's running count (the `media` event's rtp_received).
                self.received = received_before;
                self.expected_prior = 0;
                self.received_prior = received_before;
                self.last_transit = None;
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                return SeqVerdict::Rejected;
            }
        }
        // else: a duplicate or reordered packet, counted but max_seq stays.
        self.received += 1;
        SeqVerdict::Accepted
    }

    /// RFC 3550 A.1 `init_seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = Some(seq);
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
    }

    /// RFC 3550 A.8: D = (Rj − Ri) − (Sj − Si), J += (|D| − J) / 16, in timestamp units.
    /// Both clocks wrap at 2^32, so the transit difference is taken modulo 2^32 and read as
    /// signed.
    fn update_jitter(&mut self, ts: u32, arrival: u32) {
        let transit = arrival.wrapping_sub(ts);
        if let Some(last) = self.last_transit {
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// RFC 3550 §6.4.1: extended highest sequence number received, cycles << 16 | max_seq.
    pub fn extended_max(&self) -> u32 {
        (self.cycles << 16) | u32::from(self.max_seq)
    }

    /// RFC 3550 A.3: extended_max − base_seq + 1.
    pub fn expected(&self) -> u64 {
        match self.base_seq {
            None => 0,
            Some(base) => {
                let extended_max = (u64::from(self.cycles) << 16) + u64::from(self.max_seq);
                (extended_max + 1).saturating_sub(u64::from(base))
            }
        }
    }

    /// RFC 3550 A.3: expected minus received; negative when duplicates arrived.
    pub fn cumulative_lost(&self) -> i64 {
        let expected = i64::try_from(self.expected()).unwrap_or(i64::MAX);
        let received = i64::try_from(self.received).unwrap_or(i64::MAX);
        expected.saturating_sub(received)
    }

    /// RFC 3550 §6.4.1 / A.3: the cumulative loss as the report block carries it, clamped to
    /// a 24-bit signed integer.
    pub fn cumulative_lost_24(&self) -> i32 {
        self.cumulative_lost()
            .clamp(CUMULATIVE_LOST_MIN, CUMULATIVE_LOST_MAX) as i32
    }

    /// Packets lost, never negative (the `media` event's `lost`).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// RFC 3550 A.3: the fraction lost since the previous call, in 1/256 (8-bit fixed
    /// point), 0 when nothing was expected or more arrived than expected (duplicates). Starts
    /// the next interval.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval ≤ expected_interval, so the quotient is at most 256: clamp 256.
            ((lost_interval as u64 * 256) / expected_interval).min(255) as u8
        }
    }

    /// Packets received since the previous `take_fraction_lost` (RFC 3550 §6.4: a report
    /// block is only about sources heard from since the last report).
    pub fn received_since_last_report(&self) -> u64 {
        self.received.saturating_sub(self.received_prior)
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
    /// Audio RTP packets sent and received; RFC 4733 packets are counted apart below.
    pub rtp_sent: u64,
    pub rtp_received: u64,
    /// RFC 4733 telephone-event packets sent and received (each digit takes several).
    pub dtmf_packets_sent: u64,
    pub dtmf_packets_received: u64,
    /// Packets of the peer's stream that never arrived (audio and RFC 4733 alike: one
    /// sequence space, RFC 3550 A.3).
    pub lost: u64,
    /// Interarrival jitter in milliseconds (RFC 3550 A.8, in the received codec's clock).
    pub jitter_ms: f64,
    /// 20 ms frames of lost packets made up by the decoder's packet-loss concealment (Opus
    /// PLC; G.711 and G.722: the last frame repeated and faded).
    pub concealed_frames: u64,
    /// Frames of lost packets decoded from the next packet's Opus in-band FEC (RFC 7587
    /// §3.1.2); libopus falls back to its PLC when that packet carries no FEC data.
    pub fec_frames: u64,
    pub rtcp_sent: u64,
    pub rtcp_received: u64,
    /// Frames the source produced while ICE had not selected component 1's pair yet: never
    /// sent (RFC 8445 §12.1; RTCP's component 2 does not hold RTP back).
    pub frames_held_before_selection: u64,
    /// RTP and RTCP packets dropped because they came from nobody we talk to: with ICE, not
    /// from the remote of a valid pair on its local base; without ICE, not from the source
    /// (address and SSRC) latched at the start of the call.
    pub rtp_dropped_unknown_source: u64,
    pub dtmf_sent: String,
    pub dtmf_received: String,
    /// Mean round-trip time from the peer's report blocks (RFC 3550 §6.4.1: A − LSR − DLSR);
    /// null until one report block echoed one of our SRs.
    pub rtt_ms: Option<f64>,
    /// Smallest and latest round-trip time samples; null like `rtt_ms`.
    pub rtt_min_ms: Option<f64>,
    pub rtt_last_ms: Option<f64>,
    /// What the peer last reported about our stream: fraction lost in its last interval
    /// (0.0–1.0, from the 8-bit fixed point), cumulative packets lost, and interarrival
    /// jitter in ms. Null until a report block about our SSRC arrived.
    pub remote_fraction_lost: Option<f64>,
    pub remote_lost: Option<i64>,
    pub remote_jitter_ms: Option<f64>,
    /// How the media was keyed: `"sdes"` (SRTP, RFC 4568) or `"none"` (clear RTP).
    pub keying: String,
    /// The SRTP suite in use (`AES_CM_128_HMAC_SHA1_80`…), null for clear RTP.
    pub srtp_suite: Option<String>,
    /// SRTP/SRTCP packets dropped because authentication failed (RFC 3711 §3.3 step 5).
    pub srtp_auth_failures: u64,
    /// SRTP/SRTCP packets dropped as replays (RFC 3711 §3.3.2).
    pub srtp_replays: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut ReceiveStats, seqs: &[u16]) {
        for (i, seq) in seqs.iter().enumerate() {
            let t = i as u32 * 160;
            s.on_packet(*seq, Some((t, t)));
        }
    }

    #[test]
    fn loss_counts_gaps_and_wraparound() {
        let mut s = ReceiveStats::default();
        feed(&mut s, &[65533, 65534, 0, 1, 3]);
        assert_eq!(s.expected(), 7);
        assert_eq!(s.received, 5);
        assert_eq!(s.lost(), 2);
        assert_eq!(s.cumulative_lost_24(), 2);
        assert_eq!(s.jitter(), 0);
    }

    #[test]
    fn wrap_from_65535_to_0_counts_a_cycle_in_the_extended_sequence() {
        let mut s = ReceiveStats::default();
        feed(&mut s, &[65534, 65535]);
        assert_eq!(s.extended_max(), 65535);
        feed(&mut s, &[0]);
        // RFC 3550 §6.4.1: cycles (1) in the high 16 bits, max_seq (0) in the low ones.
        assert_eq!(s.extended_max(), 0x0001_0000);
        feed(&mut s, &[1]);
        assert_eq!(s.extended_max(), 0x0001_0001);
        assert_eq!(s.expected(), 4);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn reordered_and_duplicate_packets_do_not_move_the_maximum() {
        let mut s = ReceiveStats::default();
        feed(&mut s, &[10, 12, 11, 12]);
        assert_eq!(s.extended_max(), 12);
        assert_eq!(s.expected(), 3);
        assert_eq!(s.received, 4);
        // A.3: duplicates make the cumulative loss negative; `lost` stays at 0.
        assert_eq!(s.cumulative_lost(), -1);
        assert_eq!(s.cumulative_lost_24(), -1);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn a_large_jump_is_rejected_once_then_resynchronises() {
        let mut s = ReceiveStats::default();
        feed(&mut s, &[100, 101]);
        assert_eq!(s.on_packet(20_000, None), SeqVerdict::Rejected);
        assert_eq!(s.extended_max(), 101);
        // The next packet in sequence confirms a restart (A.1 bad_seq).
        assert_eq!(s.on_packet(20_001, None), SeqVerdict::Accepted);
        assert_eq!(s.extended_max(), 20_001);
        assert_eq!(s.expected(), 1);
        // The call's running count keeps the packets from before the restart.
        assert_eq!(s.received, 3);
        assert_eq!(s.cumulative_lost(), -2);
    }

    #[test]
    fn cumulative_loss_is_clamped_to_24_bits() {
        let mut s = ReceiveStats::default();
        s.on_packet(0, None);
        // 2^24 packets lost: in steps below MAX_DROPOUT, 256 wraps and a bit.
        let mut seq = 0u16;
        for _ in 0..6000 {
            seq = seq.wrapping_add(2999);
            s.on_packet(seq, None);
        }
        assert!(s.cumulative_lost() > CUMULATIVE_LOST_MAX);
        assert_eq!(s.cumulative_lost_24(), 0x7F_FFFF);
    }

    #[test]
    fn fraction_lost_is_per_interval_in_eighth_bit_fixed_point() {
        let mut s = ReceiveStats::default();
        // Interval 1: 100 expected (0..=99), 75 received: every fourth packet missing.
        let seqs: Vec<u16> = (0..100u16).filter(|n| n % 4 != 1).collect();
        assert_eq!(seqs.len(), 75);
        feed(&mut s, &seqs);
        assert_eq!(s.expected(), 100);
        assert_eq!(s.received_since_last_report(), 75);
        // RFC 3550 A.3: (25 << 8) / 100 = 64.
        assert_eq!(s.take_fraction_lost(), 64);
        assert_eq!(s.received_since_last_report(), 0);
        // Interval 2: 10 packets, none lost.
        let seqs: Vec<u16> = (100..110u16).collect();
        feed(&mut s, &seqs);
        assert_eq!(s.take_fraction_lost(), 0);
        // Interval 3: nothing expected.
        assert_eq!(s.take_fraction_lost(), 0);
        // Interval 4: duplicates only (lost_interval negative) → 0.
        feed(&mut s, &[109, 109]);
        assert_eq!(s.take_fraction_lost(), 0);
        // The cumulative figure keeps everything: 25 lost, 2 duplicates.
        assert_eq!(s.cumulative_lost(), 23);
    }

    #[test]
    fn jitter_follows_arrival_variation() {
        let mut s = ReceiveStats::default();
        for i in 0..200u32 {
            // Every other packet 40 ticks (5 ms) late.
            let late = if i % 2 == 1 { 40 } else { 0 };
            s.on_packet(i as u16, Some((i * 160, i * 160 + late)));
        }
        // |D| is always 40, so J converges to 40.
        assert!((35..=40).contains(&s.jitter()), "{}", s.jitter());
    }

    #[test]
    fn jitter_is_one_sixteenth_step_and_survives_timestamp_wrap() {
        let mut s = ReceiveStats::default();
        // RTP timestamps cross 2^32 between packets; arrival is steady except one 32-tick
        // delay: D = 32, J = 32/16 = 2.
        let ts0 = u32::MAX - 100;
        s.on_packet(1, Some((ts0, 1000)));
        s.on_packet(2, Some((ts0.wrapping_add(160), 1160 + 32)));
        assert_eq!(s.jitter(), 2);
        // Packets without timing (RFC 4733 events) leave it alone.
        s.on_packet(3, None);
        assert_eq!(s.jitter(), 2);
    }
}
