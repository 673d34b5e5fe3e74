//! Errors for calls that do not fit the transaction's state.

use thiserror::Error;

/// A transaction input that cannot be applied; the transaction is unchanged.
///
/// New errors may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The status code is outside 100..=699 (RFC 3261 §7.2).
    #[error("status code {0} is outside 100..=699")]
    InvalidStatus(u16),
    /// The input makes no sense in the current state (e.g. a final response sent twice).
    #[error("{operation} is not allowed in state {state}")]
    InvalidState {
        /// What the caller tried.
        operation: &'static str,
        /// The state the transaction was in.
        state: &'static str,
    },
}
