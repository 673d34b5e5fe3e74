//! Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).
//!
//! Works on header VALUE strings only, so it is independent of the message model:
//! [`parse_challenge`] reads a `WWW-Authenticate` / `Proxy-Authenticate` value,
//! [`compute_response`] does the hashing, [`Authorization`] writes the
//! `Authorization` / `Proxy-Authorization` value, and [`DigestClient`] keeps per-realm
//! nonce state across requests (nonce count, stale nonces, wrong-password detection).

mod algorithm;
mod authorization;
mod challenge;
mod client;
mod digest;
mod error;

pub use algorithm::{Algorithm, Qop};
pub use authorization::Authorization;
pub use challenge::{parse_challenge, parse_challenges, Challenge};
pub use client::{AuthHeader, ChallengeKind, Credentials, DigestClient};
pub use digest::{compute_response, random_cnonce, DigestInput};
pub use error::{AuthError, ChallengeError};
