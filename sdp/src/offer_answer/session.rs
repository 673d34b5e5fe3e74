//! The SDP side of one call: builds our offers and answers, reads the peer's, and keeps what
//! RFC 3264 §8 and RFC 8839 §4.4 need between exchanges (o= version, the peer's ICE data).

use std::net::{IpAddr, SocketAddr};

use ice::{Candidate, Credentials};

use crate::audio::{
    format_events, parse_events, read_direction, read_formats, read_ptime, AudioCodec, AudioFormat,
    Direction,
};
use crate::candidate_attr::RemoteCandidate;
use crate::ice_attrs::{
    check_local_credentials, read_ice, SessionIce, StreamIce, Warning, DEFAULT_PACING_MS,
};
use crate::model::{
    AddrType, Address, Attribute, Connection, HasAttributes, MediaDescription, Origin, OtherLine,
    SessionDescription,
};

use super::local::LocalStream;
use super::negotiated::{
    Answer, NegotiatedStream, OfferAnswerError, PairState, PairView, RemoteIce, RemoteIceData,
    StreamResult, UpdatedOfferResponse,
};
use super::stream_writer::{rejected_copy, write_stream, IceLines, StreamPlan, DISCARD_DEFAULT};
use super::verify::{remote_default, verify_ice_support, IceSupport};

/// What to do when the peer's default destination is none of its candidates
/// (RFC 8839 §4.2.5 leaves the answerer the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultMismatchPolicy {
    /// Answer `a=ice-mismatch` and fall back to RFC 3264 for the stream.
    IceMismatch,
    /// Keep ICE and treat the default as one more remote candidate (with a warning).
    /// Default, because Asterisk puts its SIP address in `c=` (INTEROP-NOTES.md) and a
    /// mismatch answer would turn ICE off for every call with it.
    #[default]
    AcceptAsCandidate,
}

/// Our agent's session-wide ICE settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceSettings {
    /// RFC 8839 §4.2.1.4: a lite agent says `a=ice-lite`.
    pub lite: bool,
    /// RFC 8839 §5.5: Ta in ms; a full agent should send it, a lite one must not.
    pub pacing_ms: u32,
    pub on_default_mismatch: DefaultMismatchPolicy,
}

impl Default for IceSettings {
    fn default() -> Self {
        IceSettings {
            lite: false,
            pacing_ms: DEFAULT_PACING_MS,
            on_default_mismatch: DefaultMismatchPolicy::default(),
        }
    }
}

/// How a credential pair changed between two descriptions (RFC 8839 §4.4.1.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialChange {
    Same,
    /// Both ufrag and pwd changed: an ICE restart.
    Restart,
    /// Only one changed: not a restart, and not valid either.
    Inconsistent,
}

pub fn credential_change(previous: &Credentials, new: &Credentials) -> CredentialChange {
    match (previous.ufrag != new.ufrag, previous.pwd != new.pwd) {
        (false, false) => CredentialChange::Same,
        (true, true) => CredentialChange::Restart,
        _ => CredentialChange::Inconsistent,
    }
}

/// The SDP state of one call.
#[derive(Debug, Clone)]
pub struct SdpSession {
    origin: Origin,
    settings: IceSettings,
    /// Our last description, without its o= line, to tell whether the next one changed.
    last_body: Option<String>,
    /// The peer's session-level ICE data and per-stream credentials from its last description.
    remote_session: Option<SessionIce>,
    remote_credentials: Vec<Option<Credentials>>,
}

impl SdpSession {
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
            last_body: None,
            remote_session: None,
            remote_credentials: Vec::new(),
        }
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
        for s in streams {
            let formats = s.codecs.iter().map(|c| c.format()).collect();
            plans.push(self.plan(s, formats, s.direction, s.rtcp_mux, true, None)?);
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

    /// RFC 8839 §4.4.2: answers an updated offer, applying the losing-pair rules to the
    /// streams that carry `a=remote-candidates`.
    pub fn answer_updated_offer(
        &mut self,
        offer: &SessionDescription,
        streams: &[LocalStream],
        pairs: &dyn PairView,
    ) -> Result<UpdatedOfferResponse, OfferAnswerError> {
        let view = read_ice(offer)?;
        let mut overrides = Vec::new();
        let mut any_in_progress = false;
        let mut any_losing = false;
        for (index, (m, ice)) in offer.media.iter().zip(&view.streams).enumerate() {
            let Some(list) = &ice.remote_candidates else {
                continue;
            };
            let Some(rtp) = remote_default(offer, m) else {
                continue;
            };
            let mut losing = false;
            for rc in list {
                let remote = if rc.component == 1 {
                    rtp
                } else {
                    ice.default_rtcp(rtp)
                };
                // RFC 8839 §4.4.2: the pair (offer default, remote-candidates entry); if it
                // is not in the valid list it is a losing pair.
                match pairs.pair_state(index, rc.component, rc.address, remote) {
                    PairState::Valid => {}
                    PairState::InProgress => {
                        losing = true;
                        any_in_progress = true;
                    }
                    PairState::Failed => losing = true,
                }
            }
            any_losing |= losing;
            if !losing {
                overrides.push((index, list.clone()));
            }
        }
        if any_in_progress {
            // RFC 8839 §4.4.2: wait for the In-Progress checks before answering.
            return Ok(UpdatedOfferResponse::Wait);
        }
        if any_losing {
            // RFC 8839 §4.4.2: all losing pairs failed: answer as if there were no
            // remote-candidates, then restart ICE.
            return Ok(UpdatedOfferResponse::RestartNeeded(self.answer(
                offer,
                streams,
                &[],
            )?));
        }
        Ok(UpdatedOfferResponse::Answer(
            self.answer(offer, streams, &overrides)?,
        ))
    }

    fn answer(
        &mut self,
        offer: &SessionDescription,
        streams: &[LocalStream],
        remote_candidate_defaults: &[(usize, Vec<RemoteCandidate>)],
    ) -> Result<Answer, OfferAnswerError> {
        let view = read_ice(offer)?;
        let mut warnings = view.warnings.clone();
        let restarting = self.note_remote(&view.session, &view.streams, true)?;
        let mut media = Vec::new();
        let mut plans = Vec::new();
        let mut results = Vec::new();
        let mut locals = streams.iter();
        for (index, (m, ice)) in offer.media.iter().zip(&view.streams).enumerate() {
            let accepted = if m.is_rejected() || m.media != "audio" || m.proto != "RTP/AVP" {
                None
            } else {
                let formats = read_formats(m)?;
                locals
                    .clone()
                    .next()
                    .and_then(|l| common_formats(&formats, &l.codecs).map(|f| (l, f)))
            };
            let Some((local, formats)) = accepted else {
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
                direction,
                remote_ptime: read_ptime(m)?,
                remote_rtp,
                remote_rtcp: remote_rtp.map(|r| ice.default_rtcp(r)),
                rtcp_mux,
                ice: remote_ice,
            })));
        }
        let sdp = self.finish(media, &plans);
        Ok(Answer {
            sdp,
            streams: results,
            warnings,
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
            results.push(StreamResult::Active(Box::new(NegotiatedStream {
                index,
                formats,
                direction,
                remote_ptime: read_ptime(a)?,
                remote_rtp,
                remote_rtcp: remote_rtp.map(|r| ice.default_rtcp(r)),
                rtcp_mux: o.has_attribute("rtcp-mux") && ice.rtcp_mux,
                ice: remote_ice,
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

    fn plan(
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
                    rtp = candidates.iter().find(|c| c.component == 1).cloned();
                    rtcp = candidates.iter().find(|c| c.component == 2).cloned();
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
        })
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

/// RFC 3264 §6.1: the offered formats we support, with the offer's payload types. A stream
/// needs a voice codec; telephone-event alone is not enough.
fn common_formats(offered: &[AudioFormat], ours: &[AudioCodec]) -> Option<Vec<AudioFormat>> {
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
fn default_as_candidate(component: u16, address: SocketAddr) -> Candidate {
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
