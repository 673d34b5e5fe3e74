//! Non-INVITE client transaction (RFC 3261 §17.1.2).

use std::time::Instant;

use bytes::Bytes;
use tracing::debug;

use super::backoff::Backoff;
use super::{earliest, status_class, Action, TimeoutKind, TransactionError};
use crate::timers::{Reliability, TimerConfig};

/// Public view of the non-INVITE client state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    /// Request sent, no response yet (Timers E and F run).
    Trying,
    /// A provisional response arrived (Timer E runs at T2, F keeps running).
    Proceeding,
    /// A final response arrived; absorbing retransmissions (Timer K).
    Completed,
    /// Done.
    Terminated,
}

#[derive(Debug)]
enum State {
    Trying {
        timer_e: Option<Backoff>,
        timer_f: Instant,
    },
    Proceeding {
        timer_e: Option<Backoff>,
        timer_f: Instant,
    },
    Completed {
        timer_k: Instant,
    },
    Terminated,
}

/// A non-INVITE client transaction (REGISTER, BYE, UPDATE, OPTIONS, CANCEL, …).
#[derive(Debug)]
pub struct NonInviteClient {
    config: TimerConfig,
    transport: Reliability,
    request: Bytes,
    state: State,
}

impl NonInviteClient {
    /// Create the transaction and send the request (RFC 3261 §17.1.2.2: Trying state,
    /// Timer E = T1 on unreliable transports, Timer F = 64·T1).
    pub fn start(
        now: Instant,
        request: Bytes,
        transport: Reliability,
        config: TimerConfig,
    ) -> (Self, Vec<Action>) {
        let timer_e = transport
            .is_unreliable()
            // RFC 3261 §17.1.2.2: E doubles up to T2.
            .then(|| Backoff::start(now, config.timer_e(), Some(config.t2)));
        let state = State::Trying {
            timer_e,
            timer_f: now + config.timer_f(),
        };
        let actions = vec![Action::Transmit(request.clone())];
        (
            NonInviteClient {
                config,
                transport,
                request,
                state,
            },
            actions,
        )
    }

    /// Current state.
    pub fn state(&self) -> NonInviteClientState {
        match self.state {
            State::Trying { .. } => NonInviteClientState::Trying,
            State::Proceeding { .. } => NonInviteClientState::Proceeding,
            State::Completed { .. } => NonInviteClientState::Completed,
            State::Terminated => NonInviteClientState::Terminated,
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
            (
                State::Trying {
                    mut timer_e,
                    timer_f,
                }
                | State::Proceeding {
                    mut timer_e,
                    timer_f,
                },
                1,
            ) => {
                // RFC 3261 §17.1.2.2: after a provisional response, Timer E is reset to T2
                // each time it fires.
                if let Some(e) = timer_e.as_mut() {
                    e.pin_interval(self.config.t2);
                }
                (
                    State::Proceeding { timer_e, timer_f },
                    vec![Action::PassToTu],
                )
            }
            (State::Trying { .. } | State::Proceeding { .. }, _) => {
                // RFC 3261 §17.1.2.2: a final response → Completed, pass up, Timer K
                // (T4 on UDP, zero on reliable transports).
                let k = self.config.timer_k(self.transport);
                if k.is_zero() {
                    (
                        State::Terminated,
                        vec![Action::PassToTu, Action::Terminated],
                    )
                } else {
                    (
                        State::Completed { timer_k: now + k },
                        vec![Action::PassToTu],
                    )
                }
            }
            (other, _) => {
                // RFC 3261 §17.1.2.2: retransmitted finals in Completed are absorbed.
                debug!(status, state = ?other, "non-INVITE client absorbs response");
                (other, Vec::new())
            }
        };
        self.state = next;
        Ok(actions)
    }

    /// The transport failed to send the request (RFC 3261 §17.1.4).
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
            State::Trying { timer_e, timer_f } | State::Proceeding { timer_e, timer_f } => {
                earliest(&[timer_e.map(|e| e.deadline()), Some(*timer_f)])
            }
            State::Completed { timer_k } => Some(*timer_k),
            State::Terminated => None,
        }
    }

    /// Handle the timer that is due at `now` (call whenever `poll_timeout` has passed).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        match &mut self.state {
            State::Trying { timer_f, .. } | State::Proceeding { timer_f, .. }
                if *timer_f <= now =>
            {
                // RFC 3261 §17.1.2.2: Timer F → timeout to the TU (408), Terminated.
                self.state = State::Terminated;
                vec![Action::Timeout(TimeoutKind::TimerF), Action::Terminated]
            }
            State::Trying {
                timer_e: Some(timer_e),
                ..
            }
            | State::Proceeding {
                timer_e: Some(timer_e),
                ..
            } if timer_e.deadline() <= now => {
                // RFC 3261 §17.1.2.2: Timer E → retransmit, min(2·E, T2) (T2 in Proceeding).
                timer_e.fire(now);
                vec![Action::Transmit(self.request.clone())]
            }
            State::Completed { timer_k } if *timer_k <= now => {
                self.state = State::Terminated;
                vec![Action::Terminated]
            }
            _ => Vec::new(),
        }
    }
}
