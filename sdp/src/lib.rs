//! # sdp — SDP offer/answer for audio with typed ICE attributes
//!
//! This crate will own the session description: parsing and writing SDP (RFC 8866) on top of
//! `sdp-rs` where it is correct and with the project's own code where it is not, RFC 3264
//! offer/answer for audio (PCMU, PCMA, telephone-event), and the RFC 8839 ICE attributes
//! (`a=candidate`, `a=ice-ufrag`, `a=ice-pwd`, `a=ice-lite`, `a=ice-options`,
//! `a=remote-candidates`, `a=ice-mismatch`) mapped to and from the `ice` crate's typed values.
//!
//! Nothing is implemented yet.
