//! # sip — SIP signalling that survives NAT
//!
//! This crate owns SIP (RFC 3261): message parsing and writing (the project's own code,
//! see `ASSUMPTIONS.md` "Why not rsip"), TCP framing, NAT-safe transport (rport RFC 3581,
//! connection reuse, outbound RFC 5626), transactions (RFC 3261 §17, RFC 6026), dialogs,
//! UPDATE (RFC 3311), REGISTER and digest authentication. It carries message bodies
//! without looking inside them.

pub mod message;
