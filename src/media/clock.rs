//! The send timeline of one media stream: frame `n` is due at `start + n · ptime`, whatever
//! time the task actually wakes up. A late wake-up (a busy host, a slow scheduler) sends the
//! frames that became due meanwhile, back to back, so the stream keeps its rate and never
//! drifts from the wall clock; frames more than [`MAX_CATCH_UP`] late are skipped instead
//! (their RTP timestamps still advance, RFC 3550 §5.1, so the receiver sees the gap as time,
//! not as a shifted stream). An interval timer that skips or delays missed ticks does neither.

use std::time::{Duration, Instant};

/// How many late frames one wake-up may send back to back: 500 ms of 20 ms frames covers
/// the 324–472 ms stalls measured under host load; older frames would arrive too late for
/// a receiver's jitter buffer anyway.
pub const MAX_CATCH_UP: u64 = 25;

/// What is due at a wake-up: frames to send now, oldest first, after skipping `skip` frames
/// that are too late to be worth sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Due {
    pub skip: u64,
    pub send: u64,
}

#[derive(Debug, Clone)]
pub struct MediaClock {
    start: Instant,
    ptime: Duration,
    /// The number of the next frame not yet sent or skipped.
    next: u64,
}

impl MediaClock {
    /// A timeline whose first frame is due at `start`.
    pub fn new(start: Instant, ptime: Duration) -> MediaClock {
        MediaClock {
            start,
            ptime,
            next: 0,
        }
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Instant {
        self.start + self.ptime * self.next as u32
    }

    /// Frames due by `now` and not yet handled; marks them handled.
    pub fn take_due(&mut self, now: Instant) -> Due {
        if now < self.next_due() {
            return Due::default();
        }
        let elapsed = now.duration_since(self.start);
        // Frame n is due at n · ptime: frames 0..=elapsed/ptime are due now.
        let due_through = (elapsed.as_nanos() / self.ptime.as_nanos().max(1)) as u64;
        let owed = due_through + 1 - self.next;
        self.next = due_through + 1;
        let send = owed.min(MAX_CATCH_UP);
        Due {
            skip: owed - send,
            send,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTIME: Duration = Duration::from_millis(20);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn on_time_wake_ups_send_one_frame_each() {
        let t0 = Instant::now();
        let mut clock = MediaClock::new(t0, PTIME);
        for n in 0..50u64 {
            let at = clock.next_due();
            assert_eq!(at, t0 + ms(20 * n));
            assert_eq!(clock.take_due(at), Due { skip: 0, send: 1 });
            // A second wake-up in the same slot owes nothing.
            assert_eq!(clock.take_due(at + ms(5)), Due::default());
        }
    }

    #[test]
    fn a_late_wake_up_sends_every_frame_due_and_keeps_the_timeline() {
        let t0 = Instant::now();
        let mut clock = MediaClock::new(t0, PTIME);
        assert_eq!(clock.take_due(t0).send, 1);
        // 400 ms stall: frames 1..=20 are due at once.
        assert_eq!(clock.take_due(t0 + ms(400)), Due { skip: 0, send: 20 });
        // The next frame is due on the original timeline, not 20 ms after the wake-up.
        assert_eq!(clock.next_due(), t0 + ms(420));
        // Over 10 s of slightly late wake-ups, exactly 500 frames: no drift.
        // Frames 0..=499 are due in the first 10 s.
        let mut sent = 21;
        while clock.next_due() < t0 + ms(10_000) {
            let now = clock.next_due() + ms(3);
            sent += clock.take_due(now).send;
        }
        assert_eq!(sent, 500);
    }

    #[test]
    fn frames_beyond_the_catch_up_limit_are_skipped_not_sent() {
        let t0 = Instant::now();
        let mut clock = MediaClock::new(t0, PTIME);
        // 2 s asleep: 101 frames due (0..=100), the newest MAX_CATCH_UP sent.
        let due = clock.take_due(t0 + ms(2_000));
        assert_eq!(due.send, MAX_CATCH_UP);
        assert_eq!(due.skip + due.send, 101);
        assert_eq!(clock.next_due(), t0 + ms(2_020));
    }
}
