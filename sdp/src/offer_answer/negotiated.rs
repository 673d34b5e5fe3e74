//! What offer/answer agreed on, stream by stream, and the errors it can end in.

use std::net::SocketAddr;

use ice::{Candidate, Credentials};
use thiserror::Error;

use crate::audio::{AudioFormat, Direction};
use crate::candidate_attr::RemoteCandidate;
use crate::error::SdpError;
use crate::ice_attrs::{IceOptions, Warning};
use crate::model::SessionDescription;

/// The peer's ICE state for one stream, as the agent needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteIce {
    /// Plain RFC 3264: the peer did not do ICE on this stream (or we did not), so media goes
    /// to its `c=`/`m=` address. RFC 8839 §4.4.3: after an ICE-less answer, restart ICE in
    /// the next offer.
    None,
    /// RFC 8839 §4.2.5: ICE verification failed (we answered `a=ice-mismatch`) or the peer
    /// answered `a=ice-mismatch`: stop ICE for this stream.
    Mismatch,
    Ice(RemoteIceData),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteIceData {
    pub credentials: Credentials,
    pub candidates: Vec<Candidate>,
    pub lite: bool,
    pub options: IceOptions,
    pub pacing_ms: Option<u32>,
    /// RFC 8839 §4.4.1.1.1: both ufrag and pwd changed since the last description.
    pub restart: bool,
    pub remote_candidates: Option<Vec<RemoteCandidate>>,
}

/// One accepted stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// Index of the `m=` line.
    pub index: usize,
    /// Formats both sides support, with the payload types the offer used (RFC 3264 §6.1).
    pub formats: Vec<AudioFormat>,
    /// Our direction for this stream.
    pub direction: Direction,
    pub remote_ptime: Option<u32>,
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub rtcp_mux: bool,
    pub ice: RemoteIce,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamResult {
    /// Port 0 in the offer or the answer (RFC 3264 §6, §8.2).
    Rejected {
        index: usize,
    },
    Active(Box<NegotiatedStream>),
}

impl StreamResult {
    pub fn active(&self) -> Option<&NegotiatedStream> {
        match self {
            StreamResult::Active(s) => Some(s),
            StreamResult::Rejected { .. } => None,
        }
    }
}

/// Our answer and what it agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub sdp: SessionDescription,
    pub streams: Vec<StreamResult>,
    pub warnings: Vec<Warning>,
}

/// RFC 8839 §4.4.2: how an updated offer carrying `a=remote-candidates` is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdatedOfferResponse {
    /// No losing pair: the answer uses the remote-candidates values as its defaults.
    Answer(Answer),
    /// RFC 8839 §4.4.2: a losing pair is still In-Progress; call again when it finishes.
    Wait,
    /// RFC 8839 §4.4.2: every losing pair failed. The answer is built as if the offer had no
    /// remote-candidates; the caller then restarts ICE.
    RestartNeeded(Answer),
}

/// A pair's state as the ICE agent sees it, for the losing-pair rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairState {
    /// In the valid list.
    Valid,
    InProgress,
    /// Failed, or not in any check list.
    Failed,
}

/// The caller's view of its ICE agent: the state of the pair (local, remote) of a component.
pub trait PairView {
    fn pair_state(
        &self,
        stream: usize,
        component: u16,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> PairState;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OfferAnswerError {
    #[error(transparent)]
    Sdp(#[from] SdpError),
    #[error("local ICE credentials are invalid: {0}")]
    LocalCredentials(String),
    #[error("the answer has {answer} m= lines but the offer had {offer} (RFC 3264 §6)")]
    MediaCountMismatch { offer: usize, answer: usize },
    #[error("m= line {index}: the answer's media type or transport differs from the offer's")]
    MediaLineMismatch { index: usize },
    /// RFC 8839 §4.4.1.1.1: ice-lite, ice-options and ice-pacing change only with a restart.
    #[error("the offer changes ice-lite, ice-options or ice-pacing without an ICE restart")]
    IceParametersChangedWithoutRestart,
    #[error(
        "stream {index}: a=remote-candidates names {address}, which is none of our candidates"
    )]
    UnknownRemoteCandidate { index: usize, address: SocketAddr },
}
