//! A retransmission timer whose interval doubles on every firing, optionally capped.

use std::time::{Duration, Instant};

/// Retransmission timer (RFC 3261 Timers A, E, G and the §13.3.1.4 2xx timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    next_at: Instant,
    interval: Duration,
    cap: Option<Duration>,
}

impl Backoff {
    /// Armed to fire `initial` after `now`.
    pub(crate) fn start(now: Instant, initial: Duration, cap: Option<Duration>) -> Self {
        Backoff {
            next_at: now + initial,
            interval: initial,
            cap,
        }
    }

    /// When the timer fires next.
    pub(crate) fn deadline(&self) -> Instant {
        self.next_at
    }

    /// Rearm after a firing at `now`: double the interval, clamp to the cap.
    pub(crate) fn fire(&mut self, now: Instant) {
        let doubled = self.interval.saturating_mul(2);
        self.interval = match self.cap {
            Some(cap) => doubled.min(cap),
            None => doubled,
        };
        self.next_at = now + self.interval;
    }

    /// From the next firing on, rearm with exactly `interval` (non-INVITE client after a
    /// 1xx: T2). The pending deadline is kept.
    pub(crate) fn pin_interval(&mut self, interval: Duration) {
        // `fire` doubles and then clamps to the cap, so interval = cap keeps it constant.
        self.interval = interval;
        self.cap = Some(interval);
    }
}
