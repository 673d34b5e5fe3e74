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
    /// `a=remote-candidates` entries of an updated offer that the answer did not use, and why
    /// (see [`IgnoredRemoteCandidate`]); empty for any other answer.
    pub ignored_remote_candidates: Vec<IgnoredRemoteCandidate>,
}

/// An `a=remote-candidates` entry the answer left out. RFC 8839 §5.2 allows one entry per
/// component, naming the local candidate of the offerer's selected pair; some peers (baresip)
/// list several per component, or addresses that are none of our candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredRemoteCandidate {
    pub stream: usize,
    pub component: u16,
    pub address: SocketAddr,
    pub reason: IgnoredBecause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredBecause {
    /// The address is none of our candidates for that component.
    NotOurCandidate,
    /// Another entry of the same component matches our selected pair and was used.
    NotTheSelectedPair,
    /// Another entry of the same component was listed first and used.
    ExtraEntry,
    /// Ours, but no check of (offer default, it) ever ran, so it is no losing pair either.
    NeverChecked,
}

impl std::fmt::Display for IgnoredBecause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IgnoredBecause::NotOurCandidate => "not one of our candidates",
            IgnoredBecause::NotTheSelectedPair => {
                "another entry of this component matches our selected pair"
            }
            IgnoredBecause::ExtraEntry => "more than one entry for this component",
            IgnoredBecause::NeverChecked => "no check of this pair ever ran",
        })
    }
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
    /// Checked, and the checks failed.
    Failed,
    /// Not in any check list: no check of it ever ran (RFC 8839 §4.4.2 losing pairs are pairs
    /// whose checks ran; a restart may only follow checks that failed).
    NotChecked,
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

    /// Whether `address` is one of our candidates of `component` (any kind, as the peer may
    /// have learned it: host, server- or peer-reflexive, relayed).
    fn is_local_candidate(&self, _stream: usize, _component: u16, _address: SocketAddr) -> bool {
        true
    }

    /// The local candidate of our selected pair of `component`, as the peer sees it (for a
    /// pair through a NAT: our server- or peer-reflexive address, not its host base).
    fn selected_local(&self, _stream: usize, _component: u16) -> Option<SocketAddr> {
        None
    }
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
