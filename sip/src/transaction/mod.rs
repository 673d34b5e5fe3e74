//! SIP transactions (RFC 3261 §17 with the RFC 6026 "Accepted" states), sans-IO.
//!
//! Each transaction is a state machine that never touches a socket or a clock. The layer
//! above feeds it abstract inputs (a response status arrived, a retransmitted request
//! arrived, the TU wants to send a response, `now` passed a deadline) and receives
//! [`Action`]s back. The encoded messages are opaque [`bytes::Bytes`]: the transaction
//! only stores them for retransmission, so it does not depend on the message model.
//!
//! Driving loop, for every transaction:
//! 1. call an input method (`on_response`, `on_ack`, `send_response`, …) and execute the
//!    returned actions in order;
//! 2. sleep until [`poll_timeout`](InviteClient::poll_timeout) and call `handle_timeout(now)`;
//! 3. drop the transaction after [`Action::Terminated`].

mod action;
mod backoff;
mod branch;
mod error;
mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;
mod two_xx;

pub use action::{Action, TimeoutKind};
pub use branch::{generate_branch, is_rfc3261_branch, MAGIC_COOKIE};
pub use error::TransactionError;
pub use invite_client::{InviteClient, InviteClientState};
pub use invite_server::{InviteServer, InviteServerState, TRYING_DELAY};
pub use key::{ClientTransactionKey, ServerTransactionKey};
pub use non_invite_client::{NonInviteClient, NonInviteClientState};
pub use non_invite_server::{NonInviteServer, NonInviteServerState};
pub use two_xx::TwoXxRetransmitter;

pub use crate::timers::{Reliability, TimerConfig};

/// Status classes that drive transitions.
pub(crate) fn status_class(status: u16) -> Result<u16, TransactionError> {
    // RFC 3261 §7.2: the status code is a 3-digit integer, 100-699 are defined classes.
    if (100..=699).contains(&status) {
        Ok(status / 100)
    } else {
        Err(TransactionError::InvalidStatus(status))
    }
}

/// Earliest of a set of optional deadlines.
pub(crate) fn earliest(deadlines: &[Option<std::time::Instant>]) -> Option<std::time::Instant> {
    deadlines.iter().flatten().min().copied()
}

/// True when the deadline exists and has passed.
pub(crate) fn expired(deadline: Option<std::time::Instant>, now: std::time::Instant) -> bool {
    deadline.is_some_and(|at| at <= now)
}
