//! When the next RTCP report is due: RFC 3550 §6.2 / §6.3.1 and the `rtcp_interval` of
//! Appendix A.7, with the randomness passed in so tests are deterministic.

use std::time::Duration;

use rand::Rng;

/// RFC 3550 §6.2: the recommended minimum report interval.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 3550 §6.2 lets the first report use half the minimum (2.5 s), which randomised and
/// compensated falls anywhere in 1.03–3.08 s: too late for the short calls we run (a 2 s call
/// must carry a report each way). Deviation (README): the first report uses 1.2 s instead,
/// i.e. 0.49–1.48 s after media starts.
pub const INITIAL_MIN_INTERVAL: Duration = Duration::from_millis(1200);
/// RFC 3550 §6.3.1: randomised interval divided by e − 3/2 to compensate for timer
/// reconsideration converging below the intended rate.
const COMPENSATION: f64 = std::f64::consts::E - 1.5;
/// RFC 3550 §6.2: senders get a quarter of the RTCP bandwidth when they are at most a quarter
/// of the members.
const SENDER_BW_FRACTION: f64 = 0.25;

/// G.711 at 50 packets a second: 64 kbit/s payload plus 40 bytes of IPv4/UDP/RTP header per
/// packet, i.e. 80 kbit/s; RFC 3550 §6.2: RTCP gets 5 % of it, in octets per second.
pub const G711_RTCP_BANDWIDTH: f64 = 0.05 * 80_000.0 / 8.0;

/// RFC 3550 §6.3.2: the initial average RTCP packet size, that of our first report: an SR
/// with one report block (52 octets) plus IPv4 and UDP headers (28).
pub const INITIAL_AVG_RTCP_SIZE: f64 = 80.0;

/// What the interval depends on (RFC 3550 A.7 arguments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalInputs {
    pub members: u32,
    pub senders: u32,
    /// Octets per second available to RTCP.
    pub rtcp_bandwidth: f64,
    pub we_sent: bool,
    /// RFC 3550 §6.3.3 average compound RTCP packet size, octets including UDP/IP.
    pub avg_rtcp_size: f64,
    /// No report sent yet.
    pub initial: bool,
}

impl IntervalInputs {
    /// RFC 3550 §6.3.1 steps 1–3 (A.7 before the randomisation): the deterministic
    /// interval Td = max(Tmin, n × C).
    pub fn deterministic(&self) -> Duration {
        let min = if self.initial {
            INITIAL_MIN_INTERVAL
        } else {
            MIN_INTERVAL
        };
        let mut bandwidth = self.rtcp_bandwidth;
        let mut n = f64::from(self.members.max(1));
        if f64::from(self.senders) <= f64::from(self.members) * SENDER_BW_FRACTION {
            if self.we_sent {
                bandwidth *= SENDER_BW_FRACTION;
                n = f64::from(self.senders.max(1));
            } else {
                bandwidth *= 1.0 - SENDER_BW_FRACTION;
                n = f64::from(self.members.saturating_sub(self.senders).max(1));
            }
        }
        let seconds = if bandwidth > 0.0 {
            self.avg_rtcp_size * n / bandwidth
        } else {
            0.0
        };
        let calculated = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        calculated.max(min)
    }

    /// RFC 3550 §6.3.1 step 4–5: T = Td × U[0.5, 1.5] / (e − 3/2).
    pub fn randomised(&self, rng: &mut impl Rng) -> Duration {
        let factor: f64 = rng.random_range(0.5..1.5);
        self.deterministic().mul_f64(factor / COMPENSATION)
    }
}

/// RFC 3550 §6.3.3: avg_rtcp_size = 1/16 × packet_size + 15/16 × avg_rtcp_size, for every
/// RTCP packet sent or received; `packet_size` is the RTCP payload, UDP/IP headers added.
pub fn update_avg_rtcp_size(avg: f64, rtcp_payload_len: usize) -> f64 {
    const UDP_IPV4_HEADERS: f64 = 28.0;
    let size = rtcp_payload_len as f64 + UDP_IPV4_HEADERS;
    size / 16.0 + avg * 15.0 / 16.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn two_party(initial: bool) -> IntervalInputs {
        IntervalInputs {
            members: 2,
            senders: 2,
            rtcp_bandwidth: G711_RTCP_BANDWIDTH,
            we_sent: true,
            avg_rtcp_size: INITIAL_AVG_RTCP_SIZE,
            initial,
        }
    }

    #[test]
    fn a_two_party_call_uses_the_minimum() {
        assert_eq!(two_party(false).deterministic(), MIN_INTERVAL);
        assert_eq!(two_party(true).deterministic(), INITIAL_MIN_INTERVAL);
    }

    #[test]
    fn a_large_session_is_limited_by_bandwidth() {
        // 100 members, all senders: n = 100, C = 80 / 500 s → Td = 16 s.
        let big = IntervalInputs {
            members: 100,
            senders: 100,
            ..two_party(false)
        };
        assert_eq!(big.deterministic(), Duration::from_secs(16));
        // 100 members, 1 sender (us): senders share a quarter of the bandwidth:
        // n = 1, C = 80 / 125 s = 0.64 s → the minimum wins.
        let one_sender = IntervalInputs { senders: 1, ..big };
        assert_eq!(one_sender.deterministic(), MIN_INTERVAL);
        // ... and 99 receivers share three quarters: n = 99, 99 × 80 / 375 = 21.12 s.
        let receiver = IntervalInputs {
            we_sent: false,
            ..one_sender
        };
        let td = receiver.deterministic().as_secs_f64();
        assert!((td - 21.12).abs() < 1e-9, "{td}");
    }

    #[test]
    fn randomised_intervals_stay_in_the_rfc_bounds_over_many_draws() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for (initial, td) in [(false, 5.0), (true, 1.2)] {
            let (low, high) = (td * 0.5 / COMPENSATION, td * 1.5 / COMPENSATION);
            if initial {
                // The first report at most 1.48 s after media starts (README deviation).
                assert!(high < 1.48, "{high}");
            } else {
                // Regular reports: 2.05–6.16 s.
                assert!((low - 2.052).abs() < 0.001 && (high - 6.157).abs() < 0.001);
            }
            let (mut min, mut max, mut sum) = (f64::MAX, 0.0f64, 0.0);
            let draws = 10_000;
            for _ in 0..draws {
                let t = two_party(initial).randomised(&mut rng).as_secs_f64();
                assert!(
                    t >= low - 1e-9 && t < high + 1e-9,
                    "{t} not in {low}..{high}"
                );
                min = min.min(t);
                max = max.max(t);
                sum += t;
            }
            // The draws spread over the whole range, centred on Td / (e − 3/2).
            assert!(
                min < low + 0.05 * td && max > high - 0.05 * td,
                "{min} {max}"
            );
            let mean = sum / f64::from(draws);
            assert!((mean - td / COMPENSATION).abs() < 0.02 * td, "{mean}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_intervals() {
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..5)
                .map(|_| two_party(false).randomised(&mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn average_size_moves_a_sixteenth_towards_each_packet() {
        // 52-octet SR + 28 = 80: unchanged; a 212-octet packet (240 with headers) adds 10.
        assert_eq!(update_avg_rtcp_size(80.0, 52), 80.0);
        assert_eq!(update_avg_rtcp_size(80.0, 212), 90.0);
    }
}
