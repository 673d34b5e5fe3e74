//! INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2).

use std::time::Instant;

use bytes::Bytes;
use tracing::debug;

use super::backoff::Backoff;
use super::{earliest, expired, status_class, Action, TimeoutKind, TransactionError};
use crate::timers::{Reliability, TimerConfig};

/// Public view of the INVITE client state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    /// INVITE sent, no response yet (Timers A and B run).
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A non-2xx final arrived and is being ACKed (Timer D runs).
    Completed,
    /// RFC 6026: a 2xx arrived; later 2xx go to the TU (Timer M runs).
    Accepted,
    /// Done.
    Terminated,
}

#[derive(Debug)]
enum State {
    Calling {
        timer_a: Option<Backoff>,
        timer_b: Instant,
    },
    Proceeding,
    Completed {
        ack: Option<Bytes>,
        timer_d: Instant,
    },
    Accepted {
        timer_m: Instant,
    },
    Terminated,
}

/// An INVITE client transaction. It owns the encoded INVITE and retransmits it.
#[derive(Debug)]
pub struct InviteClient {
    config: TimerConfig,
    transport: Reliability,
    request: Bytes,
    state: State,
}

impl InviteClient {
    /// Create the transaction and send the INVITE (RFC 3261 §17.1.1.2: Calling state,
    /// Timer A = T1 on unreliable transports, Timer B = 64·T1).
    pub fn start(
        now: Instant,
        request: Bytes,
        transport: Reliability,
        config: TimerConfig,
    ) -> (Self, Vec<Action>) {
        let timer_a = transport
            .is_unreliable()
            // RFC 3261 §17.1.1.2: Timer A doubles without a cap (unlike E and G).
            .then(|| Backoff::start(now, config.timer_a(), None));
        let state = State::Calling {
            timer_a,
            timer_b: now + config.timer_b(),
        };
        let actions = vec![Action::Transmit(request.clone())];
        (
            InviteClient {
                config,
                transport,
                request,
                state,
            },
            actions,
        )
    }

    /// Current state.
    pub fn state(&self) -> InviteClientState {
        match self.state {
            State::Calling { .. } => InviteClientState::Calling,
            State::Proceeding => InviteClientState::Proceeding,
            State::Completed { .. } => InviteClientState::Completed,
            State::Accepted { .. } => InviteClientState::Accepted,
            State::Terminated => InviteClientState::Terminated,
        }
    }

    /// A response matching this transaction arrived with `status`.
    pub fn on_response(
        &mut self,
        now: Instant,
        status: u16,
    ) -> Result<Vec<Action>, TransactionError> {
        let class = status_class(status)?;
        let state = std::mem::replace(&mut self.state, State::Terminated);
        let (next, actions) = match (state, class) {
            // RFC 3261 §17.1.1.2: a provisional response moves Calling to Proceeding, stops
            // retransmissions, and is passed to the TU.
            (State::Calling { .. } | State::Proceeding, 1) => {
                (State::Proceeding, vec![Action::PassToTu])
            }
            // RFC 6026 §7.2: a 2xx moves Calling/Proceeding to Accepted with Timer M.
            (State::Calling { .. } | State::Proceeding, 2) => (
                State::Accepted {
                    timer_m: now + self.config.timer_m(),
                },
                vec![Action::PassToTu],
            ),
            // RFC 3261 §17.1.1.2: 300-699 → Completed, pass up, ACK in this transaction,
            // Timer D (≥ 32 s on UDP, 0 on reliable transports).
            (State::Calling { .. } | State::Proceeding, _) => (
                State::Completed {
                    ack: None,
                    timer_d: self.timer_d_start(now),
                },
                vec![Action::PassToTu, Action::SendAckForNon2xx],
            ),
            // RFC 3261 §17.1.1.2: a retransmitted final response in Completed is answered
            // with the same ACK and not passed up.
            (State::Completed { ack, timer_d }, 3..=6) => {
                let actions = match &ack {
                    Some(ack) => vec![Action::Transmit(ack.clone())],
                    None => vec![Action::SendAckForNon2xx],
                };
                (State::Completed { ack, timer_d }, actions)
            }
            // RFC 6026 §7.2: every 2xx in Accepted (retransmission or another fork) goes up
            // so the TU can ACK it.
            (State::Accepted { timer_m }, 2) => {
                (State::Accepted { timer_m }, vec![Action::PassToTu])
            }
            (other, _) => {
                debug!(status, state = ?other, "INVITE client absorbs response");
                (other, Vec::new())
            }
        };
        self.state = next;
        Ok(actions)
    }

    /// The TU built the ACK for the non-2xx final response (after
    /// [`Action::SendAckForNon2xx`]). It is transmitted now and on every retransmission of
    /// the final response.
    pub fn send_ack(&mut self, ack: Bytes) -> Result<Vec<Action>, TransactionError> {
        match &mut self.state {
            State::Completed { ack: slot, .. } => {
                *slot = Some(ack.clone());
                let mut actions = vec![Action::Transmit(ack)];
                if !self.transport.is_unreliable() {
                    // RFC 3261 §17.1.1.2: Timer D is zero on reliable transports, so the
                    // transaction ends as soon as its ACK is on the wire.
                    self.state = State::Terminated;
                    actions.push(Action::Terminated);
                }
                Ok(actions)
            }
            _ => Err(TransactionError::InvalidState {
                operation: "send_ack",
                state: self.state_name(),
            }),
        }
    }

    /// The transport failed to send the INVITE or the ACK (RFC 3261 §17.1.4).
    pub fn on_transport_error(&mut self) -> Vec<Action> {
        // RFC 6026 §7.2: in Accepted the transaction sends nothing (the TU sends the ACK
        // for a 2xx itself), so a transport error there is not the transaction's.
        if matches!(self.state, State::Terminated | State::Accepted { .. }) {
            return Vec::new();
        }
        self.state = State::Terminated;
        vec![Action::TransportError, Action::Terminated]
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Calling { timer_a, timer_b } => {
                earliest(&[timer_a.map(|a| a.deadline()), Some(*timer_b)])
            }
            State::Completed { timer_d, .. } => Some(*timer_d),
            State::Accepted { timer_m } => Some(*timer_m),
            State::Proceeding | State::Terminated => None,
        }
    }

    /// Handle the timer that is due at `now` (call whenever `poll_timeout` has passed).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        match &mut self.state {
            State::Calling { timer_b, .. } if *timer_b <= now => {
                // RFC 3261 §17.1.1.2: Timer B → inform the TU of the timeout (408) and end.
                self.state = State::Terminated;
                vec![Action::Timeout(TimeoutKind::TimerB), Action::Terminated]
            }
            State::Calling {
                timer_a: Some(timer_a),
                ..
            } if timer_a.deadline() <= now => {
                // RFC 3261 §17.1.1.2: Timer A → retransmit, reset to twice the interval.
                timer_a.fire(now);
                vec![Action::Transmit(self.request.clone())]
            }
            State::Completed { timer_d, .. } if expired(Some(*timer_d), now) => {
                self.state = State::Terminated;
                vec![Action::Terminated]
            }
            State::Accepted { timer_m } if *timer_m <= now => {
                // RFC 6026 §7.2: Timer M ends the Accepted state.
                self.state = State::Terminated;
                vec![Action::Terminated]
            }
            _ => Vec::new(),
        }
    }

    fn timer_d_start(&self, now: Instant) -> Instant {
        match self.transport {
            Reliability::Unreliable => now + self.config.timer_d(self.transport),
            // Reliable: Timer D is zero but the transaction must first send its ACK, which
            // ends it (see `send_ack`). If the TU never hands one in, 64·T1 reclaims it.
            Reliability::Reliable => now + self.config.sixty_four_t1(),
        }
    }

    fn state_name(&self) -> &'static str {
        match self.state() {
            InviteClientState::Calling => "Calling",
            InviteClientState::Proceeding => "Proceeding",
            InviteClientState::Completed => "Completed",
            InviteClientState::Accepted => "Accepted",
            InviteClientState::Terminated => "Terminated",
        }
    }
}
