//! Non-INVITE server transaction (RFC 3261 §17.2.2).

use std::time::Instant;

use bytes::Bytes;
use tracing::debug;

use super::{status_class, Action, TransactionError};
use crate::timers::{Reliability, TimerConfig};

/// Public view of the non-INVITE server state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    /// Request received, the TU has not responded.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; absorbing retransmissions (Timer J).
    Completed,
    /// Done.
    Terminated,
}

#[derive(Debug)]
enum State {
    Trying,
    Proceeding { last_provisional: Bytes },
    Completed { response: Bytes, timer_j: Instant },
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub struct NonInviteServer {
    config: TimerConfig,
    transport: Reliability,
    state: State,
}

impl NonInviteServer {
    /// Create the transaction for a new request (RFC 3261 §17.2.2: Trying state). The
    /// caller passes the request to the TU.
    pub fn new(transport: Reliability, config: TimerConfig) -> Self {
        NonInviteServer {
            config,
            transport,
            state: State::Trying,
        }
    }

    /// Current state.
    pub fn state(&self) -> NonInviteServerState {
        match self.state {
            State::Trying => NonInviteServerState::Trying,
            State::Proceeding { .. } => NonInviteServerState::Proceeding,
            State::Completed { .. } => NonInviteServerState::Completed,
            State::Terminated => NonInviteServerState::Terminated,
        }
    }

    /// The TU sends a response (encoded as `bytes`) with `status`.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
    ) -> Result<Vec<Action>, TransactionError> {
        let class = status_class(status)?;
        match (&self.state, class) {
            // RFC 3261 §17.2.2: a provisional response → Proceeding.
            (State::Trying | State::Proceeding { .. }, 1) => {
                self.state = State::Proceeding {
                    last_provisional: bytes.clone(),
                };
                Ok(vec![Action::Transmit(bytes)])
            }
            // RFC 3261 §17.2.2: a final response → Completed, Timer J (64·T1 UDP, 0
            // reliable).
            (State::Trying | State::Proceeding { .. }, _) => {
                let j = self.config.timer_j(self.transport);
                if j.is_zero() {
                    self.state = State::Terminated;
                    Ok(vec![Action::Transmit(bytes), Action::Terminated])
                } else {
                    self.state = State::Completed {
                        response: bytes.clone(),
                        timer_j: now + j,
                    };
                    Ok(vec![Action::Transmit(bytes)])
                }
            }
            (State::Completed { .. }, _) => Err(TransactionError::InvalidState {
                operation: "send_response",
                state: "Completed",
            }),
            (State::Terminated, _) => Err(TransactionError::InvalidState {
                operation: "send_response",
                state: "Terminated",
            }),
        }
    }

    /// A retransmission of the request arrived. RFC 3261 §17.2.2: absorbed in Trying,
    /// answered with the last response in Proceeding and Completed.
    pub fn on_request_retransmission(&mut self, _now: Instant) -> Vec<Action> {
        match &self.state {
            State::Proceeding { last_provisional } => {
                vec![Action::Transmit(last_provisional.clone())]
            }
            State::Completed { response, .. } => vec![Action::Transmit(response.clone())],
            other => {
                debug!(state = ?other, "non-INVITE server absorbs request retransmission");
                Vec::new()
            }
        }
    }

    /// The transport failed to send a response (RFC 3261 §17.2.4).
    pub fn on_transport_error(&mut self) -> Vec<Action> {
        if matches!(self.state, State::Terminated) {
            return Vec::new();
        }
        self.state = State::Terminated;
        vec![Action::TransportError, Action::Terminated]
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Completed { timer_j, .. } => Some(*timer_j),
            _ => None,
        }
    }

    /// Handle the timer that is due at `now` (call whenever `poll_timeout` has passed).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        match &self.state {
            State::Completed { timer_j, .. } if *timer_j <= now => {
                self.state = State::Terminated;
                vec![Action::Terminated]
            }
            _ => Vec::new(),
        }
    }
}
