//! RFC 3264 offer/answer for audio with the RFC 8839 ICE rules.

mod dtls;
mod local;
mod losing_pair;
mod negotiated;
mod plan;
mod session;
mod settings;
mod srtp;
mod stream_writer;
mod verify;

pub use dtls::{LocalDtls, NegotiatedDtls};
pub use local::{default_candidate, LocalIce, LocalStream, Selected};
pub use negotiated::{
    Answer, IgnoredBecause, IgnoredRemoteCandidate, NegotiatedStream, OfferAnswerError, PairState,
    PairView, RemoteIce, RemoteIceData, StreamResult, UpdatedOfferResponse,
};
pub use session::SdpSession;
pub use settings::{credential_change, CredentialChange, DefaultMismatchPolicy, IceSettings};
pub use srtp::{NegotiatedSrtp, SdesKey, SrtpPolicy, SrtpRefusal};
pub use stream_writer::DISCARD_DEFAULT;
pub use verify::{remote_default, verify_ice_support, IceSupport};

#[cfg(test)]
mod codec_tests;
