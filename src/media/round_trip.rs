//! RFC 3550 §6.4.1 LSR/DLSR and the round-trip time they give: our NTP clock, the last SR
//! heard from the peer, and the round-trip samples read back from its report blocks.

use std::time::{Duration, Instant};

/// RFC 3550 §4: seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// A wall-clock NTP timestamp taken once, advanced by the monotonic clock: every timestamp
/// we put in an SR and every arrival time we compare against it come from the same
/// `Instant`s, so round trips are exact in virtual time and immune to wall-clock steps.
#[derive(Debug, Clone, Copy)]
pub struct NtpClock {
    origin: Instant,
    origin_ntp: u64,
}

impl NtpClock {
    pub fn new(origin: Instant, origin_ntp: u64) -> NtpClock {
        NtpClock { origin, origin_ntp }
    }

    /// Starts at the system's wall clock.
    pub fn from_system_time(origin: Instant) -> NtpClock {
        let since_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        NtpClock::new(origin, ntp_from_unix(since_unix))
    }

    /// RFC 3550 §4: 64-bit NTP timestamp, seconds in the upper 32 bits.
    pub fn at(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin);
        self.origin_ntp.wrapping_add(ntp_duration(elapsed))
    }
}

/// A duration as a 32.32 fixed-point NTP value.
fn ntp_duration(d: Duration) -> u64 {
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (d.as_secs() << 32).wrapping_add(frac)
}

fn ntp_from_unix(since_unix: Duration) -> u64 {
    ntp_duration(since_unix).wrapping_add(NTP_UNIX_OFFSET_SECS << 32)
}

/// RFC 3550 §6.4.1: the middle 32 bits of a 64-bit NTP timestamp (16.16 fixed point), the
/// form LSR, DLSR and the round-trip arithmetic use.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in 1/65536 s units (DLSR), saturating at the 32-bit field.
pub fn to_ntp_short(d: Duration) -> u32 {
    let units = d.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// 1/65536 s units to milliseconds.
pub fn ntp_short_to_ms(units: u32) -> f64 {
    f64::from(units) * 1000.0 / 65_536.0
}

/// To the microsecond: the 16.16 unit is 15.26 µs, more digits would be noise in the events.
fn to_micros_precision(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The last SR the peer sent us, for the LSR and DLSR of our next report block.
#[derive(Debug, Clone, Copy, Default)]
pub struct LastSenderReport {
    heard: Option<(u32, Instant)>,
}

impl LastSenderReport {
    /// An SR with this NTP timestamp arrived now.
    pub fn on_sender_report(&mut self, ntp_timestamp: u64, now: Instant) {
        self.heard = Some((ntp_middle(ntp_timestamp), now));
    }

    /// RFC 3550 §6.4.1: (LSR, DLSR): the middle 32 bits of the last SR's NTP timestamp and
    /// the delay since it arrived in 1/65536 s; both 0 when no SR has been received.
    pub fn lsr_dlsr(&self, now: Instant) -> (u32, u32) {
        match self.heard {
            None => (0, 0),
            Some((lsr, at)) => (lsr, to_ntp_short(now.saturating_duration_since(at))),
        }
    }
}

/// RFC 3550 §6.4.1: the round-trip time a report block gives, A − LSR − DLSR with A the
/// middle 32 bits of the NTP time the block arrived. None when the block carries no LSR (the
/// peer has had no SR from us) or the result is negative (a bogus DLSR).
pub fn round_trip(arrival_ntp: u64, lsr: u32, dlsr: u32) -> Option<u32> {
    if lsr == 0 {
        return None;
    }
    let rtt = ntp_middle(arrival_ntp).wrapping_sub(lsr).wrapping_sub(dlsr);
    // Modulo-2^32 arithmetic: a "negative" result lands in the upper half.
    (rtt < 0x8000_0000).then_some(rtt)
}

/// Round-trip samples in 1/65536 s units: latest, smallest and mean.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundTripStats {
    last: Option<u32>,
    min: Option<u32>,
    sum: u64,
    count: u64,
}

impl RoundTripStats {
    pub fn add(&mut self, rtt: u32) {
        self.last = Some(rtt);
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        self.sum = self.sum.saturating_add(u64::from(rtt));
        self.count += 1;
    }

    pub fn last_ms(&self) -> Option<f64> {
        self.last.map(|u| to_micros_precision(ntp_short_to_ms(u)))
    }

    pub fn min_ms(&self) -> Option<f64> {
        self.min.map(|u| to_micros_precision(ntp_short_to_ms(u)))
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0)
            .then(|| to_micros_precision(self.sum as f64 / self.count as f64 * 1000.0 / 65_536.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_clock_follows_the_instants_it_is_given() {
        let t0 = Instant::now();
        let clock = NtpClock::new(t0, 0x0000_1000_8000_0000);
        assert_eq!(clock.at(t0), 0x0000_1000_8000_0000);
        // 1.5 s later: one more second, and the half second carries into it.
        assert_eq!(
            clock.at(t0 + Duration::from_millis(1500)),
            0x0000_1002_0000_0000
        );
        // Before the origin: the origin (no panic).
        if let Some(earlier) = t0.checked_sub(Duration::from_secs(1)) {
            assert_eq!(clock.at(earlier), clock.at(t0));
        }
    }

    #[test]
    fn unix_time_maps_to_the_ntp_era() {
        // RFC 3550 §4: 1970-01-01 is 2 208 988 800 s after 1900-01-01.
        assert_eq!(ntp_from_unix(Duration::ZERO), 2_208_988_800u64 << 32);
        assert_eq!(
            ntp_from_unix(Duration::from_millis(250)),
            (2_208_988_800u64 << 32) | 0x4000_0000
        );
    }

    #[test]
    fn lsr_is_the_middle_32_bits_and_dlsr_counts_1_65536_seconds() {
        let t0 = Instant::now();
        let mut last = LastSenderReport::default();
        assert_eq!(last.lsr_dlsr(t0), (0, 0), "no SR received: both zero");
        // NTP 0xAABBCCDD_EEFF0011 → LSR 0xCCDDEEFF (low 16 bits of the seconds, high 16 of
        // the fraction).
        last.on_sender_report(0xAABB_CCDD_EEFF_0011, t0);
        assert_eq!(last.lsr_dlsr(t0), (0xCCDD_EEFF, 0));
        // 1.25 s later: DLSR = 1.25 × 65536 = 81920.
        assert_eq!(
            last.lsr_dlsr(t0 + Duration::from_millis(1250)),
            (0xCCDD_EEFF, 81_920)
        );
        // A second SR replaces the first.
        last.on_sender_report(0x0000_0001_0002_0000, t0 + Duration::from_secs(2));
        assert_eq!(
            last.lsr_dlsr(t0 + Duration::from_millis(2500)),
            (0x0001_0002, 32_768)
        );
    }

    #[test]
    fn round_trip_is_arrival_minus_lsr_minus_dlsr() {
        // Our SR left at 100 s (LSR), the peer held it 5 s (DLSR), its block arrives at
        // 105.25 s → RTT 0.25 s = 16384 units of 1/65536 s.
        let lsr = 100 << 16;
        let dlsr = 5 << 16;
        let arrival = (105u64 << 32) | 0x4000_0000;
        assert_eq!(round_trip(arrival, lsr, dlsr), Some(16_384));
        assert_eq!(ntp_short_to_ms(16_384), 250.0);
        // No LSR: unknown.
        assert_eq!(round_trip(arrival, 0, 0), None);
        // DLSR larger than the elapsed time: negative, rejected.
        assert_eq!(round_trip(arrival, lsr, 6 << 16), None);
        // Wrap of the 16-bit seconds between LSR and arrival still works.
        let lsr_wrap = 0xFFFF_0000;
        let arrival_wrap = 1u64 << 32; // 0x1_0000 s: middle 32 bits 0x0001_0000
        assert_eq!(round_trip(arrival_wrap, lsr_wrap, 0), Some(2 << 16));
    }

    #[test]
    fn round_trip_stats_keep_latest_min_and_mean() {
        let mut s = RoundTripStats::default();
        assert_eq!((s.last_ms(), s.min_ms(), s.mean_ms()), (None, None, None));
        for units in [6_554u32, 1_311, 3_277] {
            s.add(units);
        }
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 0.01);
        assert!(close(s.last_ms(), 50.0), "{:?}", s.last_ms());
        assert!(close(s.min_ms(), 20.0), "{:?}", s.min_ms());
        assert!(close(
            s.mean_ms(),
            (6_554.0 + 1_311.0 + 3_277.0) / 3.0 * 1000.0 / 65_536.0
        ));
        assert!(to_ntp_short(Duration::from_secs(1 << 20)) == u32::MAX);
    }
}
