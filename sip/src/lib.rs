//! # sip — SIP signalling that survives NAT
//!
//! This crate will own SIP (RFC 3261): message parsing and writing on top of `rsip` with the
//! project's own code where rsip fails on real traffic, TCP framing, NAT-safe transport
//! (rport RFC 3581, connection reuse, outbound RFC 5626), transactions (RFC 3261 §17,
//! RFC 6026), dialogs, UPDATE (RFC 3311), REGISTER and digest authentication. It carries
//! message bodies without looking inside them.
//!
//! Nothing is implemented yet.

pub mod auth;
pub mod timers;
pub mod transaction;
