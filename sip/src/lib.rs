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
//! - [`endpoint`]: the sans-IO user agent core on top of the above: NAT-safe transport
//!   rules (rport as client and server, responses on the request's connection, requests
//!   over the registration's flow, MTU − 200 → TCP), transaction matching, dialogs (UAC and
//!   UAS, route sets, target refresh, 481, 491 glare back-off), re-INVITE and UPDATE
//!   offer/answer bookkeeping, CANCEL, 3xx redirects (RFC 3261 §8.1.3.4), OPTIONS, 501, REGISTER with digest, refresh and 423,
//!   RFC 5626 outbound (instance-id, reg-id, `;ob`, keepalives, flow recovery).
//!
//! Nothing here owns a socket or reads the clock: the program's tokio driver
//! (`icephone::sip_driver`) moves bytes and time in and out. Deviations from the RFCs
//! are listed in `sip/ASSUMPTIONS.md`.

#![warn(missing_docs)]

pub mod auth;
pub mod endpoint;
pub mod message;
pub mod timers;
pub mod transaction;
