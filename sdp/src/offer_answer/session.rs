//! The SDP side of one call: builds our offers and answers, reads the peer's, and keeps what
//! RFC 3264 §8 and RFC 8839 §4.4 need between exchanges (o= version, the peer's ICE data).

use std::net::IpAddr;

use ice::Credentials;

use crate::audio::{
    offer_formats_with, read_direction, read_formats, read_ptime, AudioFormat, Direction,
};
use crate::candidate_attr::RemoteCandidate;
use crate::ice_attrs::{read_ice, SessionIce, StreamIce, Warning};
use crate::model::{
    AddrType, Address, Attribute, Connection, HasAttributes, MediaDescription, Origin, OtherLine,
    SessionDescription,
};
use crate::security::{read_security, TransportProfile};

use super::dtls::{answer_dtls, offer_dtls, read_answer_dtls};
use super::local::LocalStream;
use super::negotiated::{
    Answer, NegotiatedStream, OfferAnswerError, RemoteIce, RemoteIceData, StreamResult,
};
use super::plan::{common_formats, default_as_candidate};
use super::settings::{credential_change, CredentialChange, DefaultMismatchPolicy, IceSettings};
use super::srtp::{answer_srtp, offer_crypto, read_answer_srtp, read_security_for, SrtpPolicy};
use super::stream_writer::{rejected_copy, write_stream, StreamPlan};
use super::verify::{remote_default, verify_ice_support, IceSupport};

/// The SDP state of one call.
#[derive(Debug, Clone)]
pub struct SdpSession {
    origin: Origin,
    settings: IceSettings,
    /// Whether our streams are SRTP (SDES), plain RTP, or either.
    srtp: SrtpPolicy,
    /// Our last description, without its o= line, to tell whether the next one changed.
    last_body: Option<String>,
    /// The peer's session-level ICE data and per-stream credentials from its last description.
    remote_session: Option<SessionIce>,
    remote_credentials: Vec<Option<Credentials>>,
}

impl SdpSession {
    /// A session whose descriptions carry `o=- <session_id> <version> IN IP4|IP6
    /// <origin_address>`; the version starts at `session_id` and grows by one whenever a
    /// description differs from the previous one (RFC 3264 §8). RFC 3264 §5: the initial
    /// version must be below 2^62 - 1, so pick `session_id` below that.
    pub fn new(origin_address: IpAddr, session_id: u64, settings: IceSettings) -> Self {
        SdpSession {
            origin: Origin {
                username: "-".into(),
                session_id: session_id.to_string(),
                session_version: session_id,
                nettype: "IN".into(),
                addrtype: AddrType::of(origin_address),
                address: Address::Ip(origin_address),
            },
            settings,
            srtp: SrtpPolicy::Off,
            last_body: None,
            remote_session: None,
            remote_credentials: Vec::new(),
        }
    }

    /// The same session with SRTP policy `srtp` for every offer and answer it makes.
    pub fn with_srtp(mut self, srtp: SrtpPolicy) -> Self {
        self.srtp = srtp;
        self
    }

    /// The SRTP policy of our offers and answers.
    pub fn srtp_policy(&self) -> SrtpPolicy {
        self.srtp
    }

    /// The o= version of the last description we produced.
    pub fn version(&self) -> u64 {
        self.origin.session_version
    }

    /// An offer (initial or updated) with one `m=audio` per local stream. After nomination
    /// (`LocalIce::selected`), only the selected candidates and, controlling side only,
    /// `a=remote-candidates` are signalled (RFC 8839 §4.4.1.2.2).
    pub fn create_offer(
        &mut self,
        streams: &[LocalStream],
    ) -> Result<SessionDescription, OfferAnswerError> {
        let mut plans = Vec::new();
        for (index, s) in streams.iter().enumerate() {
            let formats = offer_formats_with(&s.codecs, s.opus);
            let mut plan = self.plan(s, formats, s.direction, s.rtcp_mux, true, None)?;
            (plan.profile, plan.crypto) = offer_crypto(self.srtp, &s.sdes_keys)
                .map_err(|reason| OfferAnswerError::Srtp { index, reason })?;
            plan.dtls = offer_dtls(self.srtp, s.dtls.as_ref())
                .map_err(|reason| OfferAnswerError::Srtp { index, reason })?;
            plans.push(plan);
        }
        let media = plans.iter().map(write_stream).collect();
        Ok(self.finish(media, &plans))
    }

    /// Answers an offer (RFC 3264 §6) with `streams` for its acceptable audio m= lines, in
    /// order; the other m= lines are rejected with port 0. An offer carrying
    /// `a=remote-candidates` is answered as if it had none: use
    /// [`SdpSession::answer_updated_offer`] to apply the losing-pair rules.
    pub fn create_answer(
        &mut self,
        offer: &SessionDescription,
        streams: &[LocalStream],
    ) -> Result<Answer, OfferAnswerError> {
        self.answer(offer, streams, &[])
    }

    pub(super) fn answer(
        &mut self,
        offer: &SessionDescription,
        streams: &[LocalStream],
        remote_candidate_defaults: &[(usize, Vec<RemoteCandidate>)],
    ) -> Result<Answer, OfferAnswerError> {
        let view = read_ice(offer)?;
        let security = read_security_for(self.srtp, offer)?;
        let mut warnings = view.warnings.clone();
        let restarting = self.note_remote(&view.session, &view.streams, true)?;
        let mut media = Vec::new();
        let mut plans = Vec::new();
        let mut results = Vec::new();
        let mut locals = streams.iter();
        // The first stream refused for SRTP reasons: if no stream is accepted, the offer
        // cannot be satisfied and the caller answers 488, not 200 with port 0 (issue 17).
        let mut refusal = None;
        for (index, ((m, ice), sec)) in offer
            .media
            .iter()
            .zip(&view.streams)
            .zip(&security)
            .enumerate()
        {
            // RTP/AVP and RTP/AVPF (RFC 4585), and their SRTP forms. We send no RTCP
            // feedback messages and offer no a=rtcp-fb, which an AVPF peer allows (RFC 4585
            // §4.2: the feedback types are negotiated per rtcp-fb line), so an AVPF offer is
            // answered in its own profile (RFC 3264 §6).
            let plain_or_srtp = matches!(
                sec.profile,
                TransportProfile::RtpAvp | TransportProfile::RtpAvpf
            ) || sec.profile.is_srtp();
            let accepted = if m.is_rejected() || m.media != "audio" || !plain_or_srtp {
                None
            } else if let Some(local) = locals.clone().next() {
                // DTLS-SRTP (the dtls policy or a UDP/TLS offer) or SDES / clear RTP.
                let security =
                    answer_dtls(self.srtp, sec, local.dtls.as_ref()).and_then(|d| match d {
                        Some(dtls) => Ok((None, Some(dtls))),
                        None => answer_srtp(self.srtp, sec, &local.sdes_keys).map(|s| (s, None)),
                    });
                match security {
                    Ok(srtp) => {
                        let offered = read_formats(m)?;
                        common_formats(&offered, &local.codecs, local.opus)
                            .map(|f| (local, f, srtp, offered))
                    }
                    Err(reason) => {
                        refusal.get_or_insert(OfferAnswerError::Srtp { index, reason });
                        None
                    }
                }
            } else {
                None
            };
            let Some((local, formats, (srtp, dtls), peer_formats)) = accepted else {
                // RFC 3264 §6: reject with port 0.
                media.push(rejected_copy(m));
                results.push(StreamResult::Rejected { index });
                continue;
            };
            locals.next();
            let offered_direction = read_direction(offer, m);
            let direction = Direction::answer_to(offered_direction, local.direction);
            let rtcp_mux = local.rtcp_mux && ice.rtcp_mux;
            let remote_rtp = remote_default(offer, m);
            let mut remote_ice = remote_ice(
                &view.session,
                ice,
                restarting.get(index).copied().unwrap_or(false),
            );
            let mut mismatch = false;
            if let (RemoteIce::Ice(data), Some(_)) = (&mut remote_ice, &local.ice) {
                if let IceSupport::DefaultNotACandidate { component, default } =
                    verify_ice_support(offer, m, ice)
                {
                    match self.settings.on_default_mismatch {
                        DefaultMismatchPolicy::IceMismatch => mismatch = true,
                        DefaultMismatchPolicy::AcceptAsCandidate => {
                            let message = format!(
                                "m= line {index}: default {default} (component {component}) is none of the candidates; kept as a candidate (RFC 8839 §4.2.5)"
                            );
                            tracing::warn!("{message}");
                            warnings.push(Warning {
                                line: m.line,
                                message,
                            });
                            data.candidates
                                .push(default_as_candidate(component, default));
                        }
                    }
                }
            }
            if mismatch || local.ice.is_none() {
                remote_ice = if mismatch {
                    RemoteIce::Mismatch
                } else {
                    RemoteIce::None
                };
            }
            let use_ice = matches!(remote_ice, RemoteIce::Ice(_));
            let forced = remote_candidate_defaults
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, l)| l.as_slice());
            let mut plan = self.plan(
                local,
                formats.clone(),
                direction,
                rtcp_mux,
                use_ice,
                forced.map(|l| (index, l)),
            )?;
            plan.mismatch = mismatch;
            // RFC 3264 §6: the answer keeps the offer's profile.
            plan.profile = sec.profile.clone();
            if let Some(s) = &srtp {
                // RFC 4568 §7.1.2: one crypto line, the accepted tag and suite with our key.
                plan.crypto = vec![s.local.clone()];
            }
            let dtls = dtls.map(|(lines, agreed)| {
                plan.profile = sec.profile.clone();
                plan.dtls = Some(lines);
                agreed
            });
            if rtcp_mux {
                // RFC 5761 §5.1.3: with mux agreed, RTCP needs no candidates of its own.
                if let Some(lines) = &mut plan.ice {
                    lines.candidates.retain(|c| c.component == 1);
                }
                plan.default_rtcp = None;
            }
            if let Some(ice_lines) = &mut plan.ice {
                // RFC 8839 §4.4.2: an answer never carries remote-candidates.
                ice_lines.remote_candidates = None;
            }
            media.push(write_stream(&plan));
            plans.push(plan);
            results.push(StreamResult::Active(Box::new(NegotiatedStream {
                index,
                formats,
                peer_formats,
                direction,
                remote_ptime: read_ptime(m)?,
                remote_rtp,
                remote_rtcp: remote_rtp.map(|r| ice.default_rtcp(r)),
                rtcp_mux,
                ice: remote_ice,
                srtp,
                dtls,
            })));
        }
        if let (Some(refused), true) = (refusal, plans.is_empty()) {
            return Err(refused);
        }
        let sdp = self.finish(media, &plans);
        Ok(Answer {
            sdp,
            streams: results,
            warnings,
            ignored_remote_candidates: Vec::new(),
        })
    }

    /// Reads the answer to our `offer` (RFC 3264 §7, RFC 8839 §4.3.3).
    pub fn process_answer(
        &mut self,
        offer: &SessionDescription,
        answer: &SessionDescription,
    ) -> Result<(Vec<StreamResult>, Vec<Warning>), OfferAnswerError> {
        if offer.media.len() != answer.media.len() {
            return Err(OfferAnswerError::MediaCountMismatch {
                offer: offer.media.len(),
                answer: answer.media.len(),
            });
        }
        let view = read_ice(answer)?;
        // Our own offer's crypto lines; the answer's are read only when we offered some, so
        // an a=crypto we did not ask for cannot fail a plain call.
        let our_security = read_security(offer)?;
        let wanted = our_security
            .iter()
            .any(|s| !s.crypto.is_empty() || s.profile.is_dtls());
        let policy = if wanted { self.srtp } else { SrtpPolicy::Off };
        let their_security = read_security_for(policy, answer)?;
        let restarting = self.note_remote(&view.session, &view.streams, false)?;
        let mut results = Vec::new();
        for (index, ((o, a), ice)) in offer
            .media
            .iter()
            .zip(&answer.media)
            .zip(&view.streams)
            .enumerate()
        {
            if o.media != a.media {
                return Err(OfferAnswerError::MediaLineMismatch { index });
            }
            if o.is_rejected() || a.is_rejected() {
                results.push(StreamResult::Rejected { index });
                continue;
            }
            let ours = read_formats(o)?;
            let formats: Vec<AudioFormat> = read_formats(a)?
                .into_iter()
                .filter(|f| ours.iter().any(|x| x.payload_type == f.payload_type))
                .collect();
            let peer_formats = formats.clone();
            let offered = read_direction(offer, o);
            let answered = read_direction(answer, a);
            let direction = Direction::from_flags(
                offered.sends() && answered.receives(),
                offered.receives() && answered.sends(),
            );
            let offered_ice = o.has_attribute("ice-ufrag") || offer.has_attribute("ice-ufrag");
            let remote_ice = if ice.mismatch {
                // RFC 8839 §4.2.5: an ice-mismatch answer stops ICE for the stream.
                RemoteIce::Mismatch
            } else if offered_ice {
                remote_ice(
                    &view.session,
                    ice,
                    restarting.get(index).copied().unwrap_or(false),
                )
            } else {
                RemoteIce::None
            };
            let remote_rtp = remote_default(answer, a);
            let srtp = match (our_security.get(index), their_security.get(index)) {
                (Some(o_sec), Some(a_sec)) => read_answer_srtp(o, o_sec, a_sec)
                    .map_err(|reason| OfferAnswerError::Srtp { index, reason })?,
                _ => None,
            };
            let dtls = match (our_security.get(index), their_security.get(index)) {
                (Some(o_sec), Some(a_sec)) => read_answer_dtls(o_sec, a_sec)
                    .map_err(|reason| OfferAnswerError::Srtp { index, reason })?,
                _ => None,
            };
            results.push(StreamResult::Active(Box::new(NegotiatedStream {
                index,
                formats,
                peer_formats,
                direction,
                remote_ptime: read_ptime(a)?,
                remote_rtp,
                remote_rtcp: remote_rtp.map(|r| ice.default_rtcp(r)),
                rtcp_mux: o.has_attribute("rtcp-mux") && ice.rtcp_mux,
                ice: remote_ice,
                srtp,
                dtls,
            })));
        }
        Ok((results, view.warnings))
    }

    /// Records the peer's ICE data; returns whether any stream restarted. RFC 8839
    /// §4.4.1.1.1: an offer that changes ice-lite/options/pacing without a restart is refused.
    fn note_remote(
        &mut self,
        session: &SessionIce,
        streams: &[StreamIce],
        is_offer: bool,
    ) -> Result<Vec<bool>, OfferAnswerError> {
        let restarts: Vec<bool> = streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                match (
                    self.remote_credentials.get(i).and_then(Option::as_ref),
                    &s.credentials,
                ) {
                    (Some(prev), Some(new)) => {
                        credential_change(prev, new) == CredentialChange::Restart
                    }
                    _ => false,
                }
            })
            .collect();
        if let Some(prev) = &self.remote_session {
            let changed = prev.lite != session.lite
                || prev.options != session.options
                || prev.pacing_ms != session.pacing_ms;
            if is_offer && changed && !restarts.iter().any(|r| *r) {
                return Err(OfferAnswerError::IceParametersChangedWithoutRestart);
            }
        }
        self.remote_session = Some(session.clone());
        self.remote_credentials = streams.iter().map(|s| s.credentials.clone()).collect();
        Ok(restarts)
    }

    /// Wraps the media sections in a session section and stamps the o= version.
    fn finish(&mut self, media: Vec<MediaDescription>, plans: &[StreamPlan]) -> SessionDescription {
        let mut attributes = Vec::new();
        if plans.iter().any(|p| p.ice.is_some()) {
            // RFC 8839 §4.2.1.4: ice-lite at session level, lite agents only.
            if self.settings.lite {
                attributes.push(Attribute::flag("ice-lite"));
            }
            // RFC 8839 §4.2.1.5: advertise ice2.
            attributes.push(Attribute::value("ice-options", "ice2"));
            // RFC 8839 §4.3.1: a full agent should send ice-pacing; a lite agent must not.
            if !self.settings.lite {
                attributes.push(Attribute::value(
                    "ice-pacing",
                    self.settings.pacing_ms.to_string(),
                ));
            }
        }
        let session_ip = plans
            .first()
            .map(|p| p.default_rtp.ip())
            .or_else(|| self.origin.address.ip());
        let mut sd = SessionDescription {
            origin: self.origin.clone(),
            session_name: "-".into(),
            // Session-level c= so that rejected (port 0) m= lines are still well formed.
            connection: session_ip.map(Connection::new),
            other_lines: vec![OtherLine::new('t', "0 0")],
            attributes,
            media,
        };
        // RFC 3264 §8: the version increases by one on every change, and only then.
        sd.origin.session_version = 0;
        let body = sd.to_string();
        if self.last_body.as_ref().is_some_and(|last| *last != body) {
            self.origin.session_version = self.origin.session_version.wrapping_add(1);
        }
        self.last_body = Some(body);
        sd.origin.session_version = self.origin.session_version;
        sd
    }
}

fn remote_ice(session: &SessionIce, ice: &StreamIce, restart: bool) -> RemoteIce {
    match &ice.credentials {
        None => RemoteIce::None,
        Some(credentials) => RemoteIce::Ice(RemoteIceData {
            credentials: credentials.clone(),
            candidates: ice.candidates.clone(),
            lite: session.lite,
            options: ice.options.clone(),
            pacing_ms: session.pacing_ms,
            restart,
            remote_candidates: ice.remote_candidates.clone(),
        }),
    }
}
