//! What offer/answer agreed on, stream by stream, and the errors it can end in.

use std::net::SocketAddr;

use ice::{Candidate, Credentials};
use thiserror::Error;

use crate::audio::{AudioFormat, Direction};
use crate::candidate_attr::RemoteCandidate;
use crate::error::SdpError;
use crate::ice_attrs::{IceOptions, Warning};
use crate::model::SessionDescription;

use super::dtls::NegotiatedDtls;
use super::srtp::{NegotiatedSrtp, SrtpRefusal};

/// The peer's ICE state for one stream, as the agent needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteIce {
    /// Plain RFC 3264: the peer did not do ICE on this stream (or we did not), so media goes
    /// to its `c=`/`m=` address. RFC 8839 §4.4.3: after an ICE-less answer, restart ICE in
    /// the next offer.
    None,
    /// RFC 8839 §4.2.5: ICE verification failed (we answered `a=ice-mismatch`) or the peer
    /// answered `a=ice-mismatch`: stop ICE for this stream.
    Mismatch,
    /// ICE is in use for the stream: give this data to the stream's agent.
    Ice(RemoteIceData),
}

/// The peer's ICE data for one stream: what `IceAgent::set_remote_credentials`,
/// `add_remote_candidate` and `set_remote_lite` need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteIceData {
    /// The peer's ufrag and pwd (media level, else session level, RFC 8839 §5.4).
    pub credentials: Credentials,
    /// The peer's usable candidates; with `DefaultMismatchPolicy::AcceptAsCandidate` the
    /// offer's default destination may have been added as one.
    pub candidates: Vec<Candidate>,
    /// The peer is an ICE lite agent (`a=ice-lite`, RFC 8839 §5.3): we must be controlling.
    pub lite: bool,
    /// The peer's `a=ice-options` for the stream (RFC 8839 §5.6).
    pub options: IceOptions,
    /// The peer's `a=ice-pacing` in ms (RFC 8839 §5.5); see
    /// [`crate::ice_attrs::effective_pacing_ms`].
    pub pacing_ms: Option<u32>,
    /// RFC 8839 §4.4.1.1.1: both ufrag and pwd changed since the last description.
    pub restart: bool,
    /// The peer's `a=remote-candidates` (RFC 8839 §5.2), present in a controlling peer's
    /// updated offer after nomination.
    pub remote_candidates: Option<Vec<RemoteCandidate>>,
}

/// One accepted stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// Index of the `m=` line.
    pub index: usize,
    /// Formats both sides support, with the payload types the offer used (RFC 3264 §6.1),
    /// in the answer's order (the answerer's preference): as written in the answer.
    pub formats: Vec<AudioFormat>,
    /// The peer's own formats with its `fmtp` (the offer's when we answered, the answer's
    /// when we offered): what the peer asks of our encoder (RFC 7587 §7: Opus FEC, DTX).
    pub peer_formats: Vec<AudioFormat>,
    /// Our direction for this stream.
    pub direction: Direction,
    /// The peer's `a=ptime` in ms, if it sent one: the packet duration it wants to receive.
    pub remote_ptime: Option<u32>,
    /// The peer's RTP default destination (`c=` and `m=` port, RFC 8839 §3): where media
    /// goes without ICE. `None` when `c=` is a domain name or missing.
    pub remote_rtp: Option<SocketAddr>,
    /// The peer's RTCP default destination: `a=rtcp` (RFC 3605), RTP port + 1, or the RTP
    /// address itself under rtcp-mux. `None` when `remote_rtp` is.
    pub remote_rtcp: Option<SocketAddr>,
    /// Both sides agreed on `a=rtcp-mux` (RFC 5761): one component, RTCP on the RTP port.
    pub rtcp_mux: bool,
    /// What ICE does for this stream.
    pub ice: RemoteIce,
    /// SDES-SRTP agreed for the stream (both crypto lines); `None`: clear RTP.
    pub srtp: Option<NegotiatedSrtp>,
    /// DTLS-SRTP agreed for the stream (our role, the peer's fingerprints and tls-id);
    /// the keys come from the handshake on the media path.
    pub dtls: Option<NegotiatedDtls>,
}

/// The outcome of offer/answer for one `m=` line, in `m=` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamResult {
    /// Port 0 in the offer or the answer (RFC 3264 §6, §8.2).
    Rejected {
        /// Index of the `m=` line.
        index: usize,
    },
    /// Accepted: formats, direction, addresses and ICE data to run the stream with.
    Active(Box<NegotiatedStream>),
}

impl StreamResult {
    /// The negotiated stream, `None` when it was rejected.
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
    /// The answer to send (`to_string()` writes it with CRLF).
    pub sdp: SessionDescription,
    /// One result per `m=` line of the offer, in order.
    pub streams: Vec<StreamResult>,
    /// What was ignored in the offer rather than refused.
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
    /// Index of the `m=` line.
    pub stream: usize,
    /// The entry's component ID.
    pub component: u16,
    /// The entry's address (meant to be one of our candidates).
    pub address: SocketAddr,
    /// Why it was left out.
    pub reason: IgnoredBecause,
}

/// Why an `a=remote-candidates` entry was left out of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// Not decided yet: the pair is Frozen, Waiting or In-Progress (RFC 8445 §6.1.2.6).
    /// `answer_updated_offer` then returns `UpdatedOfferResponse::Wait`.
    InProgress,
    /// Checked, and the checks failed.
    Failed,
    /// Not in any check list: no check of it ever ran (RFC 8839 §4.4.2 losing pairs are pairs
    /// whose checks ran; a restart may only follow checks that failed).
    NotChecked,
}

/// The caller's view of its ICE agent: the state of the pair (local, remote) of a component.
pub trait PairView {
    /// The state of the pair (`local`, `remote`) of `component` in stream `stream`: `local`
    /// is the address the peer named in `a=remote-candidates`, `remote` the offer's default
    /// destination for the component.
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

/// Why an offer or answer could not be made or processed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OfferAnswerError {
    /// The peer's description has an invalid attribute (ICE attributes, `a=rtpmap`,
    /// `a=ptime`…).
    #[error(transparent)]
    Sdp(#[from] SdpError),
    /// Our own credentials break RFC 8839 §5.4 (ufrag 4..32, pwd 22..256 ice-chars).
    #[error("local ICE credentials are invalid: {0}")]
    LocalCredentials(String),
    /// RFC 3264 §6: an answer has exactly as many `m=` lines as the offer.
    #[error("the answer has {answer} m= lines but the offer had {offer} (RFC 3264 §6)")]
    MediaCountMismatch {
        /// `m=` lines in our offer.
        offer: usize,
        /// `m=` lines in the answer.
        answer: usize,
    },
    /// RFC 3264 §6: the answer's `m=` line at `index` has another media type than the
    /// offer's.
    #[error("m= line {index}: the answer's media type differs from the offer's")]
    MediaLineMismatch {
        /// Index of the `m=` line.
        index: usize,
    },
    /// The SRTP policy and the offer or answer of stream `index` do not fit (RFC 4568 §7,
    /// RFC 3711 §12). For an offer, the answerer responds 488 (RFC 3261 §21.4.26).
    #[error("m= line {index}: {reason}")]
    Srtp {
        /// Index of the `m=` line.
        index: usize,
        /// What does not fit.
        reason: SrtpRefusal,
    },
    /// RFC 8839 §4.4.1.1.1: ice-lite, ice-options and ice-pacing change only with a restart.
    #[error("the offer changes ice-lite, ice-options or ice-pacing without an ICE restart")]
    IceParametersChangedWithoutRestart,
    /// RFC 8839 §4.4.2: the `a=remote-candidates` entry chosen as the answer's default is
    /// none of the candidates in the `LocalStream`s given (the `PairView` said it was ours,
    /// the streams disagree).
    #[error(
        "stream {index}: a=remote-candidates names {address}, which is none of our candidates"
    )]
    UnknownRemoteCandidate {
        /// Index of the `m=` line.
        index: usize,
        /// The address the entry named.
        address: SocketAddr,
    },
}
