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

/// RFC 3264 §6.1: the offered formats we support, with the offer's payload types, in **our**
/// order of preference (as pjsua and baresip answer), not the offer's: the answer lists what
/// we would rather receive first, and both sides send the first voice codec of the answer. A
/// stream needs a voice codec; telephone-event alone is not enough.
pub(super) fn common_formats(
    offered: &[AudioFormat],
    ours: &[AudioCodec],
    opus: crate::audio::OpusWants,
) -> Option<Vec<AudioFormat>> {
    let mut out: Vec<AudioFormat> = Vec::new();
    for want in ours.iter().filter(|c| c.is_voice()) {
        // The first format of each codec: a second Opus line is the same codec again.
        let Some(f) = offered.iter().find(|f| f.codec() == Some(*want)) else {
            continue;
        };
        let mut f = f.clone();
        if *want == AudioCodec::Opus {
            // RFC 7587 §7: the fmtp in an answer says what the answerer wants to receive
            // (stereo, FEC, DTX); the offer's parameters described the offerer.
            f.fmtp = Some(opus.fmtp());
        }
        out.push(f);
    }
    if out.is_empty() {
        return None;
    }
    if ours.contains(&AudioCodec::TelephoneEvent) {
        let opus = out.iter().any(|f| f.codec() == Some(AudioCodec::Opus));
        for f in offered
            .iter()
            .filter(|f| f.codec() == Some(AudioCodec::TelephoneEvent))
        {
            // RFC 4733 §2.1: events at 48000 Hz go with Opus only; 8000 Hz always.
            let useful = f.clock_rate == 8000 || (f.clock_rate == 48000 && opus);
            if !useful
                || out
                    .iter()
                    .any(|x| x.codec() == f.codec() && x.clock_rate == f.clock_rate)
            {
                continue;
            }
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
            let mut f = f.clone();
            f.fmtp = Some(format_events(&common));
            out.push(f);
        }
    }
    Some(out)
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
