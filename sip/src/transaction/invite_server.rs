//! INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::debug;

use super::backoff::Backoff;
use super::{earliest, status_class, Action, TimeoutKind, TransactionError};
use crate::timers::{Reliability, TimerConfig};

/// RFC 3261 §17.2.1: a 100 (Trying) is due unless the TU responds within 200 ms.
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

/// Public view of the INVITE server state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    /// INVITE received, no final response yet.
    Proceeding,
    /// A non-2xx final was sent; waiting for the ACK (Timers G and H).
    Completed,
    /// The ACK for the non-2xx arrived; absorbing ACK retransmissions (Timer I).
    Confirmed,
    /// RFC 6026: a 2xx was sent; absorbing INVITE retransmissions (Timer L).
    Accepted,
    /// Done.
    Terminated,
}

#[derive(Debug)]
enum State {
    Proceeding {
        last_provisional: Option<Bytes>,
        trying_due: Option<Instant>,
    },
    Completed {
        response: Bytes,
        timer_g: Option<Backoff>,
        timer_h: Instant,
    },
    Confirmed {
        timer_i: Instant,
    },
    Accepted {
        timer_l: Instant,
    },
    Terminated,
}

/// An INVITE server transaction. The TU hands in encoded responses; the transaction
/// retransmits the last one as RFC 3261 §17.2.1 requires.
#[derive(Debug)]
pub struct InviteServer {
    config: TimerConfig,
    transport: Reliability,
    state: State,
}

impl InviteServer {
    /// Create the transaction for a new INVITE received at `now` (RFC 3261 §17.2.1:
    /// Proceeding state). The caller passes the INVITE to the TU.
    pub fn new(now: Instant, transport: Reliability, config: TimerConfig) -> Self {
        InviteServer {
            config,
            transport,
            state: State::Proceeding {
                last_provisional: None,
                trying_due: Some(now + TRYING_DELAY),
            },
        }
    }

    /// Current state.
    pub fn state(&self) -> InviteServerState {
        match self.state {
            State::Proceeding { .. } => InviteServerState::Proceeding,
            State::Completed { .. } => InviteServerState::Completed,
            State::Confirmed { .. } => InviteServerState::Confirmed,
            State::Accepted { .. } => InviteServerState::Accepted,
            State::Terminated => InviteServerState::Terminated,
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
        let state = std::mem::replace(&mut self.state, State::Terminated);
        let (next, result) = match (state, class) {
            // RFC 3261 §17.2.1: provisional responses are sent and remembered for
            // retransmitted INVITEs; any response cancels the pending 100 Trying.
            (State::Proceeding { .. }, 1) => (
                State::Proceeding {
                    last_provisional: Some(bytes.clone()),
                    trying_due: None,
                },
                Ok(vec![Action::Transmit(bytes)]),
            ),
            // RFC 6026 §7.1: a 2xx moves Proceeding to Accepted, Timer L = 64·T1.
            (State::Proceeding { .. }, 2) => (
                State::Accepted {
                    timer_l: now + self.config.timer_l(),
                },
                Ok(vec![Action::Transmit(bytes)]),
            ),
            // RFC 3261 §17.2.1: a 300-699 → Completed; Timer G (UDP) and Timer H.
            (State::Proceeding { .. }, _) => {
                let timer_g = self
                    .transport
                    .is_unreliable()
                    .then(|| Backoff::start(now, self.config.timer_g(), Some(self.config.t2)));
                (
                    State::Completed {
                        response: bytes.clone(),
                        timer_g,
                        timer_h: now + self.config.timer_h(),
                    },
                    Ok(vec![Action::Transmit(bytes)]),
                )
            }
            // RFC 6026 §7.1: in Accepted, 2xx retransmissions from the TU go to the
            // transport.
            (State::Accepted { timer_l }, 2) => (
                State::Accepted { timer_l },
                Ok(vec![Action::Transmit(bytes)]),
            ),
            (other, _) => {
                let state = state_name(&other);
                (
                    other,
                    Err(TransactionError::InvalidState {
                        operation: "send_response",
                        state,
                    }),
                )
            }
        };
        self.state = next;
        result
    }

    /// A retransmission of the INVITE arrived. RFC 3261 §17.2.1: resend the last
    /// provisional (Proceeding) or final (Completed) response; RFC 6026 §7.1: absorb it
    /// in Accepted. It is never passed to the TU.
    pub fn on_request_retransmission(&mut self, _now: Instant) -> Vec<Action> {
        match &self.state {
            State::Proceeding {
                last_provisional: Some(response),
                ..
            }
            | State::Completed { response, .. } => vec![Action::Transmit(response.clone())],
            other => {
                debug!(state = ?other, "INVITE server absorbs INVITE retransmission");
                Vec::new()
            }
        }
    }

    /// An ACK matching this transaction arrived.
    pub fn on_ack(&mut self, now: Instant) -> Vec<Action> {
        match &self.state {
            State::Completed { .. } => {
                // RFC 3261 §17.2.1: ACK → Confirmed, stop G, Timer I (T4 UDP, 0 reliable).
                let timer_i = self.config.timer_i(self.transport);
                if timer_i.is_zero() {
                    self.state = State::Terminated;
                    vec![Action::Terminated]
                } else {
                    self.state = State::Confirmed {
                        timer_i: now + timer_i,
                    };
                    Vec::new()
                }
            }
            // RFC 6026 §7.1: the ACK for a 2xx is passed to the TU in Accepted.
            State::Accepted { .. } => vec![Action::PassToTu],
            other => {
                debug!(state = ?other, "INVITE server absorbs ACK");
                Vec::new()
            }
        }
    }

    /// The transport failed to send a response (RFC 3261 §17.2.4).
    pub fn on_transport_error(&mut self) -> Vec<Action> {
        match self.state {
            State::Terminated => Vec::new(),
            // RFC 6026 §7.1: a failed 2xx send in Accepted is reported, the transaction
            // stays to absorb retransmissions until Timer L.
            State::Accepted { .. } => vec![Action::TransportError],
            _ => {
                self.state = State::Terminated;
                vec![Action::TransportError, Action::Terminated]
            }
        }
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Proceeding { trying_due, .. } => *trying_due,
            State::Completed {
                timer_g, timer_h, ..
            } => earliest(&[timer_g.map(|g| g.deadline()), Some(*timer_h)]),
            State::Confirmed { timer_i } => Some(*timer_i),
            State::Accepted { timer_l } => Some(*timer_l),
            State::Terminated => None,
        }
    }

    /// Handle the timer that is due at `now` (call whenever `poll_timeout` has passed).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        match &mut self.state {
            State::Proceeding { trying_due, .. } if trying_due.is_some_and(|at| at <= now) => {
                // RFC 3261 §17.2.1: the TU was silent for 200 ms; a 100 Trying is due.
                *trying_due = None;
                vec![Action::Send100Trying]
            }
            State::Completed { timer_h, .. } if *timer_h <= now => {
                // RFC 3261 §17.2.1: Timer H → no ACK; Terminated, tell the TU.
                self.state = State::Terminated;
                vec![Action::Timeout(TimeoutKind::TimerH), Action::Terminated]
            }
            State::Completed {
                response,
                timer_g: Some(timer_g),
                ..
            } if timer_g.deadline() <= now => {
                // RFC 3261 §17.2.1: Timer G → retransmit, min(2·G, T2).
                timer_g.fire(now);
                vec![Action::Transmit(response.clone())]
            }
            State::Confirmed { timer_i } if *timer_i <= now => {
                self.state = State::Terminated;
                vec![Action::Terminated]
            }
            State::Accepted { timer_l } if *timer_l <= now => {
                // RFC 6026 §7.1: Timer L ends the Accepted state.
                self.state = State::Terminated;
                vec![Action::Terminated]
            }
            _ => Vec::new(),
        }
    }
}

fn state_name(state: &State) -> &'static str {
    match state {
        State::Proceeding { .. } => "Proceeding",
        State::Completed { .. } => "Completed",
        State::Confirmed { .. } => "Confirmed",
        State::Accepted { .. } => "Accepted",
        State::Terminated => "Terminated",
    }
}
