//! Registration refresh, 423, outbound flow recovery and keepalives, glare back-off.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sip::timers::glare::{glare_retry_delay, pending_offer_retry_after};
use sip::timers::outbound::{keepalive_interval, FlowRecoveryConfig, PONG_TIMEOUT};
use sip::timers::registration::{
    expires_after_interval_too_brief, granted_expires, refresh_delay, IntervalTooBriefError,
};
use sip::timers::{Reliability, TimerConfig};

/// An RNG that returns the same bits forever: all zeros gives the bottom of every range.
struct ConstRng(u64);

impl RngCore for ConstRng {
    fn next_u32(&mut self) -> u32 {
        self.0 as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(self.0 as u8);
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn timer_table_matches_rfc3261() {
    let c = TimerConfig::default();
    assert_eq!(c.timer_a(), Duration::from_millis(500));
    assert_eq!(c.timer_b(), secs(32));
    assert_eq!(c.timer_d(Reliability::Unreliable), secs(32));
    assert_eq!(c.timer_d(Reliability::Reliable), Duration::ZERO);
    assert_eq!(c.timer_f(), secs(32));
    assert_eq!(c.timer_h(), secs(32));
    assert_eq!(c.timer_i(Reliability::Unreliable), secs(5));
    assert_eq!(c.timer_i(Reliability::Reliable), Duration::ZERO);
    assert_eq!(c.timer_j(Reliability::Unreliable), secs(32));
    assert_eq!(c.timer_j(Reliability::Reliable), Duration::ZERO);
    assert_eq!(c.timer_k(Reliability::Unreliable), secs(5));
    assert_eq!(c.timer_k(Reliability::Reliable), Duration::ZERO);
    assert_eq!(c.timer_l(), secs(32));
    assert_eq!(c.timer_m(), secs(32));
    // Timer D stays ≥ 32 s even with a tiny T1.
    let fast = TimerConfig {
        t1: Duration::from_millis(50),
        ..c
    };
    assert_eq!(fast.timer_d(Reliability::Unreliable), secs(32));
    assert_eq!(fast.timer_b(), Duration::from_millis(3200));
}

#[test]
fn refresh_is_64_s_early_for_long_bindings_and_at_half_time_for_short_ones() {
    assert_eq!(refresh_delay(secs(3600)), Some(secs(3536)));
    assert_eq!(refresh_delay(secs(600)), Some(secs(536)));
    assert_eq!(refresh_delay(secs(128)), Some(secs(64)));
    assert_eq!(refresh_delay(secs(60)), Some(secs(30)));
    assert_eq!(refresh_delay(secs(1)), Some(Duration::from_millis(500)));
    assert_eq!(refresh_delay(Duration::ZERO), None);
}

#[test]
fn granted_expiry_prefers_the_contact_parameter() {
    assert_eq!(granted_expires(Some(120), Some(3600), 600), 120);
    assert_eq!(granted_expires(None, Some(3600), 600), 3600);
    assert_eq!(granted_expires(None, None, 600), 600);
}

#[test]
fn interval_too_brief_retries_with_min_expires_once() {
    assert_eq!(expires_after_interval_too_brief(60, Some(3600)), Ok(3600));
    assert_eq!(
        expires_after_interval_too_brief(60, None),
        Err(IntervalTooBriefError::MissingMinExpires)
    );
    assert_eq!(
        expires_after_interval_too_brief(3600, Some(3600)),
        Err(IntervalTooBriefError::NotLarger {
            requested: 3600,
            min_expires: 3600
        })
    );
}

#[test]
fn flow_recovery_wait_time_doubles_to_the_cap() {
    let c = FlowRecoveryConfig::default();
    let all: Vec<u64> = (0..8).map(|n| c.wait_time(n, true).as_secs()).collect();
    assert_eq!(all, vec![30, 60, 120, 240, 480, 960, 1800, 1800]);
    let some: Vec<u64> = (0..6).map(|n| c.wait_time(n, false).as_secs()).collect();
    assert_eq!(some, vec![90, 180, 360, 720, 1440, 1800]);
    // No overflow for absurd failure counts.
    assert_eq!(c.wait_time(u32::MAX, true), secs(1800));
}

#[test]
fn flow_recovery_delay_is_50_to_100_percent() {
    let c = FlowRecoveryConfig::default();
    // Lowest draw → exactly half of wait-time.
    assert_eq!(c.retry_delay(2, true, &mut ConstRng(0)), secs(60));
    let mut rng = StdRng::seed_from_u64(1);
    let samples: Vec<Duration> = (0..2000)
        .map(|_| c.retry_delay(2, true, &mut rng))
        .collect();
    assert!(samples.iter().all(|d| *d >= secs(60) && *d <= secs(120)));
    // The draws spread over the range rather than sitting at one end.
    assert!(samples.iter().any(|d| *d < secs(66)));
    assert!(samples.iter().any(|d| *d > secs(114)));
}

#[test]
fn keepalive_from_flow_timer_is_80_to_100_percent() {
    assert_eq!(
        keepalive_interval(Some(secs(100)), Reliability::Reliable, &mut ConstRng(0)),
        secs(80)
    );
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..1000 {
        let d = keepalive_interval(Some(secs(30)), Reliability::Unreliable, &mut rng);
        assert!(d >= secs(24) && d <= secs(30), "{d:?}");
    }
}

#[test]
fn keepalive_defaults_per_transport() {
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..1000 {
        let tcp = keepalive_interval(None, Reliability::Reliable, &mut rng);
        assert!(tcp >= secs(95) && tcp <= secs(120), "{tcp:?}");
        let udp = keepalive_interval(None, Reliability::Unreliable, &mut rng);
        assert!(udp >= secs(24) && udp <= secs(29), "{udp:?}");
    }
    assert_eq!(
        keepalive_interval(None, Reliability::Unreliable, &mut ConstRng(0)),
        secs(24)
    );
    assert_eq!(PONG_TIMEOUT, secs(10));
}

#[test]
fn glare_owner_waits_2_1_to_4_s_in_10_ms_steps() {
    assert_eq!(
        glare_retry_delay(true, &mut ConstRng(0)),
        Duration::from_millis(2100)
    );
    let mut rng = StdRng::seed_from_u64(4);
    let mut seen_low = false;
    let mut seen_high = false;
    for _ in 0..5000 {
        let d = glare_retry_delay(true, &mut rng);
        assert!(d >= Duration::from_millis(2100) && d <= secs(4), "{d:?}");
        assert_eq!(d.as_millis() % 10, 0);
        seen_low |= d < Duration::from_millis(2300);
        seen_high |= d > Duration::from_millis(3800);
    }
    assert!(seen_low && seen_high);
}

#[test]
fn glare_non_owner_waits_0_to_2_s_in_10_ms_steps() {
    assert_eq!(glare_retry_delay(false, &mut ConstRng(0)), Duration::ZERO);
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..5000 {
        let d = glare_retry_delay(false, &mut rng);
        assert!(d <= secs(2), "{d:?}");
        assert_eq!(d.as_millis() % 10, 0);
    }
}

#[test]
fn pending_offer_retry_after_covers_0_to_10_s() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut seen = [false; 11];
    for _ in 0..2000 {
        let v = pending_offer_retry_after(&mut rng);
        assert!(v <= 10);
        seen[v as usize] = true;
    }
    assert!(seen.iter().all(|s| *s), "{seen:?}");
}
