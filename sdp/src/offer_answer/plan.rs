//! Deciding what one of our m= sections holds: formats, defaults, ICE lines.

use std::net::SocketAddr;

use ice::Candidate;

use crate::audio::{format_events, parse_events, AudioCodec, AudioFormat, Direction};
use crate::candidate_attr::RemoteCandidate;
use crate::ice_attrs::check_local_credentials;
use crate::security::TransportProfile;

use super::local::LocalStream;
use super::negotiated::OfferAnswerError;
use super::session::SdpSession;
use super::stream_writer::{IceLines, StreamPlan, DISCARD_DEFAULT};

impl SdpSession {
    pub(super) fn plan(
        &self,
        s: &LocalStream,
        formats: Vec<AudioFormat>,
        direction: Direction,
        rtcp_mux: bool,
        use_ice: bool,
        forced: Option<(usize, &[RemoteCandidate])>,
    ) -> Result<StreamPlan, OfferAnswerError> {
        let (ice, default_rtp, default_rtcp) = match (&s.ice, use_ice) {
            (Some(ice), true) => {
                // RFC 8839 §5.4: we send a ufrag of at most 32 characters.
                check_local_credentials(&ice.credentials)
                    .map_err(OfferAnswerError::LocalCredentials)?;
                let (mut candidates, mut rtp, mut rtcp) = ice.signalled();
                let mut remote_candidates = ice
                    .selected
                    .as_ref()
                    .filter(|sel| sel.controlling)
                    .map(|sel| sel.remote.clone());
                if let Some((index, list)) = forced {
                    // RFC 8839 §4.4.2: the defaults are the remote-candidates values, with a
                    // candidate line for each.
                    let known = ice
                        .candidates
                        .iter()
                        .chain(ice.selected.iter().flat_map(|sel| sel.local.iter()));
                    let known: Vec<&Candidate> = known.collect();
                    candidates = list
                        .iter()
                        .map(|rc| {
                            known
                                .iter()
                                .find(|c| c.component == rc.component && c.address == rc.address)
                                .map(|c| (*c).clone())
                                .ok_or(OfferAnswerError::UnknownRemoteCandidate {
                                    index,
                                    address: rc.address,
                                })
                        })
                        .collect::<Result<_, _>>()?;
                    // A component without an entry keeps our own default (and its line).
                    for (component, default) in [(1, &mut rtp), (2, &mut rtcp)] {
                        match candidates.iter().find(|c| c.component == component) {
                            Some(c) => *default = Some(c.clone()),
                            None => candidates.extend(default.iter().cloned()),
                        }
                    }
                    remote_candidates = None;
                }
                let lines = IceLines {
                    credentials: ice.credentials.clone(),
                    candidates,
                    remote_candidates,
                };
                // RFC 8839 §4.3.1: with no usable candidate the default is 0.0.0.0:9.
                (
                    Some(lines),
                    rtp.map_or(DISCARD_DEFAULT, |c| c.address),
                    rtcp.map(|c| c.address),
                )
            }
            (Some(ice), false) => {
                // Plain RFC 3264 for this stream: the same default, no ICE attributes.
                let (_, rtp, rtcp) = ice.signalled();
                (
                    None,
                    rtp.map_or(s.fallback_address, |c| c.address),
                    rtcp.map(|c| c.address),
                )
            }
            (None, _) => (None, s.fallback_address, None),
        };
        Ok(StreamPlan {
            formats,
            direction,
            ptime: s.ptime,
            rtcp_mux,
            default_rtp,
            default_rtcp,
            ice,
            mismatch: false,
            // Plain RTP; the offer and answer paths set SRTP from the policy.
            profile: TransportProfile::RtpAvp,
            crypto: Vec::new(),
            dtls: None,
        })
    }
}

/// RFC 3264 §6.1: the offered formats we support, with the offer's payload types. A stream
/// needs a voice codec; telephone-event alone is not enough.
pub(super) fn common_formats(
    offered: &[AudioFormat],
    ours: &[AudioCodec],
) -> Option<Vec<AudioFormat>> {
    let mut out: Vec<AudioFormat> = Vec::new();
    for f in offered {
        let Some(codec) = f.codec().filter(|c| ours.contains(c)) else {
            continue;
        };
        if out.iter().any(|x| x.codec() == Some(codec)) {
            continue;
        }
        let mut f = f.clone();
        if codec == AudioCodec::TelephoneEvent {
            // RFC 4733 §2.4.1: no fmtp means events 0-15; we handle 0-16.
            let offered_events = f
                .fmtp
                .as_deref()
                .map_or(Some((0..=15).collect()), parse_events);
            let common: Vec<u8> = offered_events
                .unwrap_or_default()
                .into_iter()
                .filter(|e| *e <= 16)
                .collect();
            if common.is_empty() {
                continue;
            }
            f.fmtp = Some(format_events(&common));
        }
        out.push(f);
    }
    out.iter()
        .any(|f| matches!(f.codec(), Some(AudioCodec::Pcmu | AudioCodec::Pcma)))
        .then_some(out)
}

/// RFC 8839 §4.2.5: a default destination that is none of the candidates, taken as one more
/// candidate with the lowest priority (type and local preference 0), so it is tried last.
pub(super) fn default_as_candidate(component: u16, address: SocketAddr) -> Candidate {
    Candidate {
        foundation: "default".into(),
        component,
        transport: ice::Transport::Udp,
        priority: 256 - u32::from(component.clamp(1, 255)),
        address,
        kind: ice::CandidateKind::Host,
        related: None,
        tcp_type: None,
        extensions: Vec::new(),
    }
}
