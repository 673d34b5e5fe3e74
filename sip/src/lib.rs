//! # sip — SIP signalling that survives NAT
//!
//! This crate owns SIP (RFC 3261): message parsing and writing (the project's own code,
//! see `ASSUMPTIONS.md` "Why not rsip"), TCP framing, transactions (RFC 3261 §17, RFC 6026),
//! digest authentication (RFC 2617, RFC 7616, RFC 8760) and registration/outbound timing.
//! It carries message bodies without looking inside them.
//!
//! - [`message`]: the message model, parser, serializer, stream framing, rport helpers and
//!   UAS validation (RFC 4475 torture set).
//! - [`transaction`]: sans-IO client and server transactions, timers A–M.
//! - [`auth`]: digest challenges and credentials.
//! - [`timers`]: T1/T2/T4, registration refresh, outbound back-off, glare back-off.
//!
//! Dialogs, the NAT-safe transport rules (connection reuse, outbound flows) and REGISTER
//! are not built yet.

pub mod auth;
pub mod endpoint;
pub mod message;
pub mod timers;
pub mod transaction;
