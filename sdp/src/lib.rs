//! # sdp — SDP offer/answer for audio with typed ICE attributes
//! (crate docs are completed below)

pub mod audio;
pub mod candidate_attr;
pub mod error;
pub mod ice_attrs;
pub mod model;
pub mod offer_answer;
pub mod parse;
pub mod summary;
mod write;

pub use error::SdpError;
pub use model::*;
pub use parse::parse;
