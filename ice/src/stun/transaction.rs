//! Sans-IO STUN client transaction: retransmissions and timeout (RFC 8489 §6.2).
//!
//! The caller owns the socket and the clock: it sends what `poll_transmit` returns, calls
//! `handle_timeout` at `poll_timeout`, feeds decoded responses to `handle_response` and reads
//! the result from `poll_outcome`.

use std::time::{Duration, Instant};

use super::header::{Method, TransactionId};
use super::message::Message;

/// Retransmission parameters (RFC 8489 §6.2.1).
#[derive(Clone, Copy, Debug)]
pub struct RetransmitConfig {
    /// Initial retransmission timeout; RFC 8489 §6.2.1 recommends 500 ms (and no less).
    pub rto: Duration,
    /// Rc: how many times the request is sent in all, the first send included (7).
    pub max_sends: u32,
    /// Rm: after the last send, wait `last_wait_multiplier × rto` for a response (16).
    pub last_wait_multiplier: u32,
}

impl Default for RetransmitConfig {
    /// RFC 8489 §6.2.1: RTO 500 ms, Rc 7, Rm 16; sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and
    /// 31.5 s, failure at 39.5 s.
    fn default() -> Self {
        RetransmitConfig {
            rto: Duration::from_millis(500),
            max_sends: 7,
            last_wait_multiplier: 16,
        }
    }
}

impl RetransmitConfig {
    /// Rc, at least one send.
    fn sends(&self) -> u32 {
        self.max_sends.max(1)
    }

    /// The wait after the last send: Rm × the initial RTO (RFC 8489 §6.2.1).
    fn last_wait(&self) -> Duration {
        self.rto.saturating_mul(self.last_wait_multiplier)
    }

    /// The whole UDP schedule: the doubling waits between sends plus the last wait. RFC 8489
    /// §6.2.2 sets the reliable-transport timeout Ti to 39.5 s, which is exactly this with the
    /// defaults; deriving it keeps it proportional when the schedule is configured.
    pub fn total_duration(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut wait = self.rto;
        for _ in 1..self.sends() {
            total = total.saturating_add(wait);
            wait = wait.saturating_mul(2);
        }
        total.saturating_add(self.last_wait())
    }
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A success or error response with the transaction's ID and method.
    Response(Message),
    /// No response within the schedule (RFC 8489 §6.2.1: the transaction has failed).
    TimedOut,
}

#[derive(Debug)]
enum State {
    Running,
    /// Finished; the outcome until `poll_outcome` takes it.
    Done(Option<Outcome>),
}

/// One STUN request in flight, with its retransmission timer.
#[derive(Debug)]
pub struct ClientTransaction {
    id: TransactionId,
    method: Method,
    encoded: Vec<u8>,
    config: RetransmitConfig,
    reliable: bool,
    /// Sends scheduled so far, the first included; may run ahead of `sends` when the caller
    /// is late and several retransmission times pass at once (they collapse into one send).
    scheduled: u32,
    /// Sends handed out by `poll_transmit`.
    sends: u32,
    transmit_pending: bool,
    /// The wait between the latest scheduled send and the next one (doubles each time).
    interval: Duration,
    /// When the next retransmission is due or the transaction fails. `None` when finished, or
    /// when the configured schedule overflows `Instant` (then it never times out).
    deadline: Option<Instant>,
    state: State,
}

impl ClientTransaction {
    /// `reliable`: over TCP there is no retransmission, only Ti = 39.5 s (RFC 8489 §6.2.2).
    ///
    /// `encoded` is what goes on the wire (normally `request.encode(..)`); the first send is
    /// due at `now`. Ti is [`RetransmitConfig::total_duration`] (39.5 s with the defaults).
    pub fn new(
        request: &Message,
        encoded: Vec<u8>,
        now: Instant,
        config: RetransmitConfig,
        reliable: bool,
    ) -> Self {
        let first_wait = if reliable {
            config.total_duration()
        } else if config.sends() > 1 {
            config.rto
        } else {
            config.last_wait()
        };
        ClientTransaction {
            id: request.transaction_id,
            method: request.method,
            encoded,
            config,
            reliable,
            scheduled: 1,
            sends: 0,
            transmit_pending: true,
            interval: config.rto,
            deadline: now.checked_add(first_wait),
            state: State::Running,
        }
    }

    /// The request's transaction ID, which its response must carry.
    pub fn id(&self) -> TransactionId {
        self.id
    }

    /// The bytes to send now (the first send, then each retransmission), once each.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if !self.transmit_pending || !matches!(self.state, State::Running) {
            return None;
        }
        self.transmit_pending = false;
        self.sends += 1;
        Some(self.encoded.clone())
    }

    /// When `handle_timeout` must be called next; `None` once the transaction is finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Running => self.deadline,
            State::Done(_) => None,
        }
    }

    /// Advance the timers to `now`: schedule a retransmission, or fail the transaction.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let (State::Running, Some(deadline)) = (&self.state, self.deadline) {
            if now < deadline {
                return;
            }
            if !self.reliable && self.scheduled < self.config.sends() {
                // RFC 8489 §6.2.1: retransmit, doubling the RTO after each send; after the
                // last send wait Rm × RTO. Deadlines count from the previous deadline, not
                // from `now`, so a late caller does not stretch the schedule.
                self.scheduled += 1;
                self.transmit_pending = true;
                self.interval = self.interval.saturating_mul(2);
                let wait = if self.scheduled < self.config.sends() {
                    self.interval
                } else {
                    self.config.last_wait()
                };
                self.deadline = deadline.checked_add(wait);
                tracing::trace!(id = ?self.id, send = self.scheduled, "STUN retransmission due");
            } else {
                tracing::debug!(id = ?self.id, sends = self.sends, "STUN transaction timed out");
                self.finish(Outcome::TimedOut);
            }
        }
    }

    /// Ok(()) if the response's transaction id matches (it becomes the outcome);
    /// Err(response) handed back, unchanged, if it does not (RFC 8489 §6.3: drop it).
    ///
    /// A message that is not a response (request or indication) or whose method differs is
    /// handed back too. A matching response after the transaction finished (a duplicate, or
    /// one arriving after the timeout) is accepted and ignored: the outcome does not change.
    pub fn handle_response(&mut self, response: Message) -> Result<(), Message> {
        if response.transaction_id != self.id
            || !response.class.is_response()
            || response.method != self.method
        {
            return Err(response);
        }
        match self.state {
            State::Running => self.finish(Outcome::Response(response)),
            State::Done(_) => {
                tracing::debug!(id = ?self.id, "late or duplicate STUN response ignored");
            }
        }
        Ok(())
    }

    /// The outcome, once: Some after a matching response or after the final timeout.
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        match &mut self.state {
            State::Done(outcome) => outcome.take(),
            State::Running => None,
        }
    }

    /// Whether the transaction has finished (response matched, or timed out), whether or
    /// not `poll_outcome` has taken the outcome yet.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// How many times the request was sent so far.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    fn finish(&mut self, outcome: Outcome) {
        self.state = State::Done(Some(outcome));
        self.transmit_pending = false;
        self.deadline = None;
    }
}
