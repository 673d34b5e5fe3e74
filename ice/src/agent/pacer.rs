//! Pacing of new STUN transactions at Ta (RFC 8445 §14.2): gathering requests and
//! connectivity checks share one pacer, one new transaction per Ta. Retransmissions follow
//! their own RTO and are not paced.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    ta: Duration,
    last: Option<Instant>,
}

impl Pacer {
    pub fn new(ta: Duration) -> Self {
        Pacer { ta, last: None }
    }

    /// The earliest time the next new transaction may start.
    pub fn next_slot(&self) -> Option<Instant> {
        self.last.map(|l| l + self.ta)
    }

    /// Whether a new transaction may start at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        match self.next_slot() {
            Some(slot) => now >= slot,
            None => true,
        }
    }

    /// A new transaction started at `now`.
    pub fn consume(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// When to wake up to start the next transaction, if there is work waiting.
    pub fn wake_at(&self, now: Instant, has_work: bool) -> Option<Instant> {
        if !has_work {
            return None;
        }
        Some(self.next_slot().map_or(now, |slot| slot.max(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transaction_per_ta() {
        let t0 = Instant::now();
        let ta = Duration::from_millis(50);
        let mut p = Pacer::new(ta);
        assert!(p.ready(t0));
        p.consume(t0);
        assert!(!p.ready(t0 + Duration::from_millis(49)));
        assert!(p.ready(t0 + ta));
        assert_eq!(
            p.wake_at(t0 + Duration::from_millis(10), true),
            Some(t0 + ta)
        );
        assert_eq!(
            p.wake_at(t0 + Duration::from_millis(80), true),
            Some(t0 + Duration::from_millis(80))
        );
        assert_eq!(p.wake_at(t0, false), None);
    }
}
