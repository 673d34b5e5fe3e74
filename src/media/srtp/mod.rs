//! SRTP building blocks for issue 17: [`SrtpContext`] protects and unprotects RTP and RTCP
//! (RFC 3711) for `AES_CM_128_HMAC_SHA1_80`, `AES_CM_128_HMAC_SHA1_32` and
//! `AEAD_AES_128_GCM` (RFC 7714), keyed either by SDES `a=crypto` (RFC 4568, via
//! [`SrtpKey::from_crypto`]) or by DTLS-SRTP ([`DtlsEndpoint`], RFC 5763/5764). The SDP side
//! (typed attributes, offer/answer choices, DTLS role from `a=setup`) is in
//! [`sdp::security`]. SDES keying is wired into calls (`call::engine`'s SRTP module, `--srtp`);
//! DTLS-SRTP is not yet.
//!
//! # Why these libraries
//!
//! - **SRTP: `rtc-srtp`** (webrtc-rs, pure Rust, sans-IO). Candidates were libsrtp2 (Debian
//!   `libsrtp2-dev`) through the `srtp` crate, and pure-Rust crates. The `srtp` crate's last
//!   release (0.7, built on `bytes` 0.6) dates from 2020: its `srtp2-sys` runs bindgen 0.55
//!   (needs libclang at build time) against libsrtp headers it bundles rather than the
//!   system's, and it only exposes the GCM policies under its OpenSSL build feature, while
//!   Debian's libsrtp2 is built on NSS. That is not a maintained binding. `rtc-srtp` is
//!   released with the webrtc-rs `rtc` stack (the sans-IO rewrite, 0.21 in 2026), implements
//!   exactly the three suites with RFC 3711 replay windows, takes its primitives from `ring`,
//!   which rustls already puts in our build, and has no C build step. Its packet output is
//!   checked against libsrtp's own reference packets in the tests below.
//! - **DTLS: OpenSSL** through the `openssl` crate (Debian `libssl-dev`), the DTLS 1.2
//!   implementation most SIP and WebRTC stacks interoperate with, driven over in-memory
//!   datagram queues the way str0m does. It has the `use_srtp` extension, the RFC 5705
//!   exporter and certificate generation built in. rustls has no DTLS.
//!
//! # Use
//!
//! SDES: [`sdp::security::choose_offered_crypto`] (answerer) or
//! [`sdp::security::match_answer_crypto`] (offerer) gives the peer's line;
//! `SrtpContext::new(&our_key, &SrtpKey::from_crypto(peer_line)?)`; our key is
//! [`SrtpKey::random`], sent with [`SrtpKey::to_crypto`].
//!
//! DTLS-SRTP: one [`DtlsCertificate::generate`] per run, its fingerprint in every SDP;
//! [`DtlsEndpoint::new`] with the role from `a=setup` and the peer's fingerprints; feed it
//! the datagrams [`is_dtls`] picks out, send what [`DtlsEndpoint::poll_transmit`] gives,
//! and on [`DtlsEvent::Connected`] build the stream's context with
//! [`DtlsSrtpKeys::context`].

mod context;
mod dtls;

pub use context::{SrtpContext, SrtpError, SrtpKey, SrtpStats, SrtpSuite, REPLAY_WINDOW};
pub use dtls::{is_dtls, DtlsCertificate, DtlsEndpoint, DtlsError, DtlsEvent, DtlsSrtpKeys};

#[cfg(test)]
mod tests;
