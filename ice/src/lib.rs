#![warn(missing_docs)]

//! # ice — STUN/TURN codec and a sans-IO ICE agent
//!
//! This crate decides which network path a call's media takes. It owns no socket, reads no
//! clock and spawns no task: callers feed it datagrams and the current time, and poll it for
//! datagrams to send, events and the next timeout (see `../shared/DESIGN.md`).
//!
//! It knows nothing of SIP or SDP: its API speaks of [`Candidate`]s and [`Credentials`], so any
//! signalling protocol can drive it.
//!
//! - [`stun`]: the STUN message codec (RFC 8489) with the TURN (RFC 8656) and ICE (RFC 8445)
//!   attributes, and a sans-IO client transaction with the RFC's retransmission schedule.
//! - [`agent`]: the sans-IO ICE agent (RFC 8445) with consent freshness (RFC 7675).
//! - [`candidate`]: candidates, priorities and credentials.
//! - [`turn`]: a sans-IO TURN client (RFC 8656): allocation, permissions, channels.

pub mod agent;
pub mod candidate;
pub mod stun;
pub mod turn;

pub use agent::{
    Handled, IceAgent, IceConfig, IceEvent, IceState, IceStreams, NominationMode, Transmit,
};
pub use candidate::{Candidate, CandidateKind, Credentials, TcpType, Transport};
