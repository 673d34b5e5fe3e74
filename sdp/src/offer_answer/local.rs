//! What we put into one `m=audio` section: our side of a stream.

use std::net::SocketAddr;

use ice::{Candidate, CandidateKind, Credentials, Transport};

use crate::audio::{AudioCodec, Direction};
use crate::candidate_attr::RemoteCandidate;

use super::dtls::LocalDtls;
use super::srtp::SdesKey;

/// Our ICE data for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIce {
    /// Our ufrag and pwd for the stream (`IceAgent::local_credentials`); checked against
    /// RFC 8839 §5.4 before they are written.
    pub credentials: Credentials,
    /// Every gathered candidate (RFC 8839 §4.3.1: the offer carries them all).
    pub candidates: Vec<Candidate>,
    /// Set once ICE has nominated a pair for every component of this stream.
    pub selected: Option<Selected>,
}

/// The nominated pairs of a stream (RFC 8839 §4.4.1.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The local candidate of the nominated pair, one per component.
    pub local: Vec<Candidate>,
    /// The remote candidate of the nominated pair, one per component.
    pub remote: Vec<RemoteCandidate>,
    /// RFC 8839 §5.2: only the controlling agent sends `a=remote-candidates`.
    pub controlling: bool,
}

/// One audio stream as we want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalStream {
    /// Our codecs in preference order; at least one of PCMU/PCMA for a usable stream.
    pub codecs: Vec<AudioCodec>,
    /// `a=ptime` to announce, in ms (the packet duration we want to receive); `None` writes
    /// none.
    pub ptime: Option<u32>,
    /// RFC 8839 §4.4.1.1.1: hold is `sendonly`/`inactive`, never `c=0.0.0.0`.
    pub direction: Direction,
    /// RFC 5761: offer/accept RTP and RTCP on one port.
    pub rtcp_mux: bool,
    /// `None`: a stream without ICE (plain RFC 3264).
    pub ice: Option<LocalIce>,
    /// The RTP address to announce when there is no usable candidate.
    pub fallback_address: SocketAddr,
    /// Our SDES keys, one per suite in our order of preference: offered as `a=crypto` tags
    /// 1..n, and the one of the chosen suite answered (RFC 4568 §5.1). Used only when the
    /// session's [`super::SrtpPolicy`] is not off.
    pub sdes_keys: Vec<SdesKey>,
    /// Our DTLS-SRTP fingerprint and tls-id; used only when the session's policy is `dtls`.
    pub dtls: Option<LocalDtls>,
    /// What our Opus `fmtp` asks of the peer's encoder (FEC, DTX), offering or answering.
    pub opus: crate::audio::OpusWants,
}

impl LocalStream {
    /// A sendrecv PCMU/PCMA/telephone-event stream with 20 ms packets.
    pub fn audio(fallback_address: SocketAddr, ice: Option<LocalIce>) -> Self {
        LocalStream {
            codecs: vec![
                AudioCodec::Pcmu,
                AudioCodec::Pcma,
                AudioCodec::TelephoneEvent,
            ],
            ptime: Some(20),
            direction: Direction::SendRecv,
            rtcp_mux: false,
            ice,
            fallback_address,
            sdes_keys: Vec::new(),
            opus: crate::audio::OpusWants::default(),
            dtls: None,
        }
    }
}

/// RFC 8839 §4.2.1.2 / §4.3.1: before nomination the default is the candidate most likely to
/// work with a peer that does not do ICE: relayed, then server-reflexive, then host
/// (peer-reflexive last: it is never gathered locally). Ties go to the higher priority.
/// Only UDP candidates qualify, since `m=` says RTP/AVP over UDP (RFC 8839 §4.3.2).
pub fn default_candidate(candidates: &[Candidate], component: u16) -> Option<&Candidate> {
    fn rank(kind: CandidateKind) -> u8 {
        match kind {
            CandidateKind::Relayed => 3,
            CandidateKind::ServerReflexive => 2,
            CandidateKind::Host => 1,
            CandidateKind::PeerReflexive => 0,
        }
    }
    candidates
        .iter()
        .filter(|c| c.component == component && c.transport == Transport::Udp)
        .max_by_key(|c| (rank(c.kind), c.priority))
}

impl LocalIce {
    /// The candidates to signal and the default per component: after nomination only the
    /// selected local candidates (RFC 8839 §4.4.1.2.2), else all of them.
    pub fn signalled(&self) -> (Vec<Candidate>, Option<Candidate>, Option<Candidate>) {
        match &self.selected {
            Some(sel) => {
                let pick = |comp| sel.local.iter().find(|c| c.component == comp).cloned();
                (sel.local.clone(), pick(1), pick(2))
            }
            None => (
                self.candidates.clone(),
                default_candidate(&self.candidates, 1).cloned(),
                default_candidate(&self.candidates, 2).cloned(),
            ),
        }
    }
}
