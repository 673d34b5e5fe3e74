#![warn(missing_docs)]

//! # sdp — SDP offer/answer for audio with typed ICE attributes
//!
//! Turns the `ice` crate's typed values ([`ice::Candidate`], [`ice::Credentials`]) into SDP and
//! back, and runs RFC 3264 offer/answer for audio with the RFC 8839 ICE rules. Sans-IO: no
//! socket, no clock; every function takes and returns values.
//!
//! - [`parse()`] reads SDP text into a [`SessionDescription`] (RFC 8866): CRLF or LF, missing
//!   final line end, lines out of order and domain names in `o=`/`c=` are accepted; anything
//!   malformed is an [`SdpError`] naming the line and the field or attribute. `Display` writes
//!   it back in RFC order with CRLF. Unknown attributes are kept in order.
//! - [`ice_attrs::read_ice`] gives the typed ICE view ([`ice_attrs::IceView`]): session-level
//!   lite/options/pacing, and per stream the credentials (media level wins), candidates,
//!   remote-candidates, ice-mismatch, end-of-candidates, rtcp and rtcp-mux. Candidates RFC 8839
//!   says to ignore (FQDN, unknown family), malformed or truncated ones and host candidates on
//!   port 0 become [`ice_attrs::Warning`]s naming their line; conflicting ufrag/pwd lines at
//!   one level are an error.
//!   [`candidate_attr`] holds the `a=candidate` and `a=remote-candidates` grammar.
//! - [`audio`]: PCMU/PCMA/G722/Opus/telephone-event formats (with their `rtpmap`/`fmtp`
//!   checks), ptime, direction and its RFC 3264 answer rule.
//! - [`offer_answer::SdpSession`] is one call's SDP state: `create_offer` (initial, hold,
//!   updated after nomination), `create_answer`, `answer_updated_offer` (losing-pair rules,
//!   with a caller-supplied [`offer_answer::PairView`]) and `process_answer`. It keeps the o=
//!   version (incremented on every change) and the peer's ICE data (restart detection).
//!   Results come back as [`offer_answer::StreamResult`]s carrying [`offer_answer::RemoteIce`]:
//!   ICE data for the agent, `Mismatch`, or `None` (plain RFC 3264 for that stream).
//! - [`security`]: SRTP and DTLS-SRTP attributes typed (`a=crypto`, `a=fingerprint`,
//!   `a=setup`, `a=tls-id`), the `RTP/SAVP` family of profiles, and the offer/answer choices
//!   of RFC 4568 §7 and RFC 5763 §5 ([`security::read_security`]).
//! - [`summary::summarize`] is what `icephone sdp check` prints.
//!
//! ```
//! use sdp::offer_answer::{IceSettings, LocalIce, LocalStream, SdpSession};
//! use ice::{Candidate, Credentials};
//!
//! let host = Candidate::host("1", 1, "192.0.2.10:4000".parse().unwrap(), 65535);
//! let ice = LocalIce {
//!     credentials: Credentials { ufrag: "abcd".into(), pwd: "abcdefghijklmnopqrstuv".into() },
//!     candidates: vec![host],
//!     selected: None,
//! };
//! let mut session = SdpSession::new("192.0.2.10".parse().unwrap(), 1, IceSettings::default());
//! let offer = session
//!     .create_offer(&[LocalStream::audio("192.0.2.10:4000".parse().unwrap(), Some(ice))])
//!     .unwrap();
//! let text = offer.to_string();
//! assert!(text.contains("m=audio 4000 RTP/AVP 0 8 101\r\n"));
//! assert!(text.contains("a=candidate:1 1 UDP 2130706431 192.0.2.10 4000 typ host\r\n"));
//! let again = sdp::parse(&text).unwrap();
//! assert_eq!(sdp::ice_attrs::read_ice(&again).unwrap().streams[0].candidates.len(), 1);
//! ```
//!
//! Deviations from the RFCs, and why sdp-rs is not used, are in `ASSUMPTIONS.md`.

pub mod audio;
pub mod candidate_attr;
pub mod error;
pub mod ice_attrs;
pub mod model;
pub mod offer_answer;
pub mod parse;
pub mod security;
pub mod summary;
mod write;

pub use error::SdpError;
pub use model::*;
pub use parse::parse;
