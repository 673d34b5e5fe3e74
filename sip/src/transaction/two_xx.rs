//! UAS core retransmission of a 2xx to INVITE (RFC 3261 §13.3.1.4).

use std::time::Instant;

use bytes::Bytes;

use super::backoff::Backoff;
use super::{Action, TimeoutKind};
use crate::timers::TimerConfig;

/// Retransmits a 2xx to an INVITE until the ACK arrives. RFC 3261 §13.3.1.4: the interval
/// starts at T1 and doubles up to T2, whatever the transport; after 64·T1 without an ACK
/// the TU should end the session (BYE).
#[derive(Debug)]
pub struct TwoXxRetransmitter {
    response: Bytes,
    timer: Backoff,
    give_up_at: Instant,
    done: bool,
}

impl TwoXxRetransmitter {
    /// Start after the 2xx was first sent at `now` (through the server transaction).
    pub fn new(now: Instant, response: Bytes, config: TimerConfig) -> Self {
        TwoXxRetransmitter {
            response,
            timer: Backoff::start(now, config.t1, Some(config.t2)),
            give_up_at: now + config.sixty_four_t1(),
            done: false,
        }
    }

    /// True once the ACK arrived or the retransmitter gave up.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The ACK for the 2xx arrived: stop (RFC 3261 §13.3.1.4).
    pub fn on_ack(&mut self) -> Vec<Action> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        vec![Action::Terminated]
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            None
        } else {
            Some(self.timer.deadline().min(self.give_up_at))
        }
    }

    /// Handle the timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        if self.done {
            return Vec::new();
        }
        if self.give_up_at <= now {
            // RFC 3261 §13.3.1.4: no ACK within 64·T1 → the TU SHOULD send a BYE.
            self.done = true;
            return vec![
                Action::Timeout(TimeoutKind::NoAckFor2xx),
                Action::Terminated,
            ];
        }
        if self.timer.deadline() <= now {
            self.timer.fire(now);
            return vec![Action::Transmit(self.response.clone())];
        }
        Vec::new()
    }
}
