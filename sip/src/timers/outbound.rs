//! SIP Outbound timing (RFC 5626 §4.4, §4.5).

use std::time::Duration;

use rand::Rng;

use crate::timers::Reliability;

/// RFC 5626 §4.4.1: no CRLF pong within 10 s → the flow has failed.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// RFC 5626 §4.5 parameters for re-registering a failed flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRecoveryConfig {
    /// base-time when every flow has failed (default 30 s).
    pub base_all_failed: Duration,
    /// base-time when at least one flow still works (default 90 s).
    pub base_some_ok: Duration,
    /// max-time (default 1800 s).
    pub max: Duration,
}

impl Default for FlowRecoveryConfig {
    fn default() -> Self {
        // RFC 5626 §4.5: default base-time 30 s (all failed) / 90 s, max-time 1800 s.
        FlowRecoveryConfig {
            base_all_failed: Duration::from_secs(30),
            base_some_ok: Duration::from_secs(90),
            max: Duration::from_secs(1800),
        }
    }
}

impl FlowRecoveryConfig {
    /// RFC 5626 §4.5: wait-time = min(max-time, base-time · 2^consecutive-failures), the
    /// upper bound before randomisation.
    pub fn wait_time(&self, consecutive_failures: u32, all_flows_failed: bool) -> Duration {
        let base = if all_flows_failed {
            self.base_all_failed
        } else {
            self.base_some_ok
        };
        let factor = 2u32.checked_pow(consecutive_failures).unwrap_or(u32::MAX);
        base.saturating_mul(factor).min(self.max)
    }

    /// RFC 5626 §4.5: the actual delay is uniformly random between 50 % and 100 % of
    /// wait-time.
    pub fn retry_delay<R: Rng + ?Sized>(
        &self,
        consecutive_failures: u32,
        all_flows_failed: bool,
        rng: &mut R,
    ) -> Duration {
        let wait = self.wait_time(consecutive_failures, all_flows_failed);
        wait.mul_f64(rng.random_range(0.5..=1.0))
    }
}

/// RFC 5626 §4.4: how long to wait before the next keepalive on a flow. With a
/// `Flow-Timer` from the REGISTER 2xx: uniformly 80-100 % of it. Without: 95-120 s on
/// connection-oriented transports, 24-29 s on UDP.
pub fn keepalive_interval<R: Rng + ?Sized>(
    flow_timer: Option<Duration>,
    transport: Reliability,
    rng: &mut R,
) -> Duration {
    match flow_timer {
        Some(flow_timer) => flow_timer.mul_f64(rng.random_range(0.8..=1.0)),
        None => {
            let (low, high) = match transport {
                Reliability::Reliable => (95_000u64, 120_000u64),
                Reliability::Unreliable => (24_000u64, 29_000u64),
            };
            Duration::from_millis(rng.random_range(low..=high))
        }
    }
}
