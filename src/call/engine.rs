//! The call loop: SIP events, media sockets, ICE timers and the 20 ms media clock in one
//! `select!`. Caller and callee share it; they differ in how the dialog starts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{IceConfig, NominationMode, TurnServer};
use ice::{Candidate, Handled, IceAgent, IceEvent};
use sdp::audio::{AudioCodec, Direction};
use sdp::candidate_attr::RemoteCandidate;
use sdp::offer_answer::{
    default_candidate, IceSettings, LocalIce, LocalStream, RemoteIce, SdpSession, Selected,
    StreamResult, UpdatedOfferResponse,
};
use sdp::SessionDescription;

use super::ice_view::AgentPairs;
use super::net::MediaSockets;
use super::{CallOptions, CallOutcome};
use crate::events::{CandidateInfo, Event, PairFailureInfo};
use crate::exit;
use crate::media::g711::G711;
use crate::media::session::{MediaConfig, MediaSession, Received};
use crate::media::wav;
use crate::signalling::{OfferMethod, UaCommand, UaEvent, UaHandle};

/// RFC 3551 §4.5: 20 ms packets.
const FRAME: Duration = Duration::from_millis(20);
/// How long we wait for the answer to our BYE before leaving anyway.
const BYE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Caller: INVITE sent, no final response yet.
    Inviting,
    /// Callee: offer received, not answered yet.
    Alerting,
    Established,
    /// BYE (or CANCEL) sent, waiting for it to finish.
    Ending,
    Done,
}

struct Call {
    opts: CallOptions,
    ua: UaHandle,
    sockets: MediaSockets,
    agent: Option<IceAgent>,
    sdp: SdpSession,
    media: Option<MediaSession>,
    phase: Phase,
    started: Instant,
    outcome: CallOutcome,
    /// Our last offer, to read its answer.
    last_offer: Option<SessionDescription>,
    /// Without ICE: where media goes (latched to the source of what arrives, symmetric RTP).
    plain_destination: Option<SocketAddr>,
    plain_rtcp_destination: Option<SocketAddr>,
    peer_allows_update: bool,
    remote_known_at: Option<Instant>,
    established_at: Option<Instant>,
    /// Selected pairs reported, per component.
    selected_components: Vec<u16>,
    ice_completed: bool,
    valid_pair_seen: bool,
    updated_offer_done: bool,
    offer_in_flight: bool,
    /// An updated offer we have to answer once In-Progress checks finish (RFC 8839 §4.4.2).
    waiting_offer: Option<(OfferMethod, SessionDescription)>,
    direction: Direction,
    codec: G711,
    dtmf_pt: Option<u8>,
    rtcp_mux: bool,
    /// Callee: the answer to send in the 200, and when to send it.
    pending_answer: Option<String>,
    ringing_sent: bool,
    answer_at: Option<Instant>,
    hold_state: HoldState,
    media_started_at: Option<Instant>,
    ending_since: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldState {
    Active,
    HoldSent,
    Held,
    ResumeSent,
    Resumed,
}

fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

fn codecs_for_sdp(codecs: &[G711]) -> Vec<AudioCodec> {
    let mut out: Vec<AudioCodec> = codecs
        .iter()
        .map(|c| match c {
            G711::Ulaw => AudioCodec::Pcmu,
            G711::Alaw => AudioCodec::Pcma,
        })
        .collect();
    out.push(AudioCodec::TelephoneEvent);
    out
}

fn empty_outcome() -> CallOutcome {
    CallOutcome {
        exit: exit::OK,
        reason: String::new(),
        media: Default::default(),
        recorded: Vec::new(),
        selected: None,
        signalled_default: None,
        updated_offer_sent: None,
        updated_offer_received: None,
        setup_ms: None,
        ice_ms: None,
        ice_used: false,
        ice_not_used_reason: None,
        media_sent_before_selection: 0,
        media_datagrams_sent: 0,
        hold_cycles: 0,
    }
}

impl Call {
    async fn new(opts: CallOptions, ua: UaHandle, components: u16) -> anyhow::Result<Call> {
        let now = Instant::now();
        let sockets = MediaSockets::bind(
            &opts.host_ips,
            components,
            &opts.blocked_ips,
            opts.capture.clone(),
        )
        .await?;
        let agent = if opts.ice {
            let config = IceConfig {
                controlling: true,
                components,
                allow_loopback: opts.allow_loopback,
                nomination: if opts.aggressive_nomination {
                    NominationMode::Aggressive
                } else {
                    NominationMode::Regular
                },
                stun_servers: opts.stun.into_iter().collect(),
                turn_servers: opts
                    .turn
                    .iter()
                    .map(|t| TurnServer {
                        addr: t.server,
                        username: t.user.clone(),
                        password: t.password.clone(),
                    })
                    .collect(),
                ..IceConfig::default()
            };
            let mut config = config;
            if let Some(r) = opts.check_retransmit {
                config.check_retransmit = r;
            }
            let mut agent = IceAgent::new(config, now);
            for (component, base) in &sockets.bases {
                agent
                    .add_local_host_for(*component, *base)
                    .map_err(|e| anyhow::anyhow!("host candidate {base}: {e}"))?;
            }
            Some(agent)
        } else {
            None
        };
        let origin = opts
            .host_ips
            .first()
            .copied()
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let session_id = rand::random::<u32>() as u64;
        let codec = opts.codecs.first().copied().unwrap_or(G711::Ulaw);
        let rtcp_mux = opts.rtcp_mux;
        Ok(Call {
            sdp: SdpSession::new(origin, session_id, IceSettings::default()),
            opts,
            ua,
            sockets,
            agent,
            media: None,
            phase: Phase::Inviting,
            started: now,
            outcome: empty_outcome(),
            last_offer: None,
            plain_destination: None,
            plain_rtcp_destination: None,
            peer_allows_update: false,
            remote_known_at: None,
            established_at: None,
            selected_components: Vec::new(),
            ice_completed: false,
            valid_pair_seen: false,
            updated_offer_done: false,
            offer_in_flight: false,
            waiting_offer: None,
            direction: Direction::SendRecv,
            codec,
            dtmf_pt: None,
            rtcp_mux,
            pending_answer: None,
            ringing_sent: false,
            answer_at: None,
            hold_state: HoldState::Active,
            media_started_at: None,
            ending_since: None,
        })
    }

    fn emit(&self, event: Event) {
        self.opts.emitter.emit(event);
    }

    fn label(&self) -> String {
        self.opts.label.clone()
    }

    // ----- ICE plumbing ------------------------------------------------------------------

    /// Sends what the agent wants sent and handles its events.
    async fn drain_agent(&mut self) {
        loop {
            let Some(agent) = self.agent.as_mut() else {
                return;
            };
            let transmit = agent.poll_transmit();
            let event = if transmit.is_none() {
                agent.poll_event()
            } else {
                None
            };
            match (transmit, event) {
                (Some(t), _) => self.sockets.send(t.from, t.to, &t.data).await,
                (None, Some(e)) => self.on_ice_event(e).await,
                (None, None) => return,
            }
        }
    }

    /// Gathers until every server answered or `gather_timeout` (RFC 8839 §7.1: gather before
    /// the INVITE, but never wait longer than the servers' own timeout).
    async fn gather(&mut self) {
        let deadline = Instant::now() + self.opts.gather_timeout;
        self.drain_agent().await;
        while self
            .agent
            .as_ref()
            .is_some_and(|a| !a.is_gathering_complete())
            && Instant::now() < deadline
        {
            let wake = self
                .agent
                .as_ref()
                .and_then(|a| a.poll_timeout())
                .unwrap_or(deadline)
                .min(deadline);
            tokio::select! {
                d = self.sockets.recv() => {
                    if let (Some(d), Some(agent)) = (d, self.agent.as_mut()) {
                        agent.handle_packet(Instant::now(), d.local, d.from, &d.data);
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    if let Some(agent) = self.agent.as_mut() {
                        agent.handle_timeout(Instant::now());
                    }
                }
            }
            self.drain_agent().await;
        }
        if let Some(agent) = &self.agent {
            let candidates = agent.local_candidates();
            let default = default_candidate(&candidates, 1).map(|c| c.address);
            self.outcome.signalled_default = default;
            self.emit(Event::Candidates {
                agent: self.label(),
                candidates: candidates.iter().map(CandidateInfo::from).collect(),
                default: default.map(|d| d.to_string()),
            });
        }
    }

    fn local_stream(&self, selected: Option<Selected>) -> LocalStream {
        let fallback = self
            .sockets
            .first_base(1)
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9)));
        let ice = self.agent.as_ref().map(|a| LocalIce {
            credentials: a.local_credentials().clone(),
            candidates: a.local_candidates(),
            selected,
        });
        LocalStream {
            codecs: codecs_for_sdp(&self.opts.codecs),
            ptime: Some(20),
            direction: self.direction,
            rtcp_mux: self.rtcp_mux,
            ice,
            fallback_address: fallback,
        }
    }

    async fn on_ice_event(&mut self, event: IceEvent) {
        let label = self.label();
        match event {
            IceEvent::ValidPair { local, remote } => {
                if !self.valid_pair_seen {
                    self.valid_pair_seen = true;
                    self.emit(Event::Ice {
                        agent: label.clone(),
                        state: "valid_pair".into(),
                        component: Some(local.component),
                        local: Some(CandidateInfo::from(&local)),
                        remote: Some(CandidateInfo::from(&remote)),
                        ms: self.remote_known_at.map(ms_since),
                        reason: None,
                    });
                }
                // RFC 8839 §7.1: the callee alerts once a valid pair exists.
                if self.phase == Phase::Alerting && self.opts.alert_after_ice && !self.ringing_sent
                {
                    self.send_ringing();
                }
            }
            IceEvent::Selected {
                component,
                local,
                remote,
            } => {
                let ms = self.remote_known_at.map(ms_since);
                if component == 1 {
                    self.outcome.selected = Some((local.clone(), remote.clone()));
                    self.outcome.ice_ms = ms;
                }
                if !self.selected_components.contains(&component) {
                    self.selected_components.push(component);
                    let all = self.agent.as_ref().is_some_and(|a| {
                        self.selected_components.len() == usize::from(a.config().components)
                    });
                    if all {
                        // Independent of the gate's own logic: what the sockets saw leave.
                        self.outcome.media_sent_before_selection =
                            self.sockets.media_datagrams_sent;
                    }
                }
                self.emit(Event::Ice {
                    agent: label,
                    state: "selected".into(),
                    component: Some(component),
                    local: Some(CandidateInfo::from(&local)),
                    remote: Some(CandidateInfo::from(&remote)),
                    ms,
                    reason: None,
                });
            }
            IceEvent::Completed => {
                self.ice_completed = true;
                self.emit(Event::Ice {
                    agent: label,
                    state: "completed".into(),
                    component: None,
                    local: None,
                    remote: None,
                    ms: self.remote_known_at.map(ms_since),
                    reason: None,
                });
                self.maybe_send_updated_offer();
                self.retry_waiting_offer();
            }
            IceEvent::Failed { reasons } => {
                self.emit(Event::IceFailed {
                    agent: label.clone(),
                    pairs: reasons
                        .iter()
                        .map(|p| PairFailureInfo {
                            local: CandidateInfo::from(&p.local),
                            remote: CandidateInfo::from(&p.remote),
                            reason: p.reason.to_string(),
                        })
                        .collect(),
                });
                self.emit(Event::Ice {
                    agent: label,
                    state: "failed".into(),
                    component: None,
                    local: None,
                    remote: None,
                    ms: self.remote_known_at.map(ms_since),
                    reason: Some(format!("{} pair(s) failed", reasons.len())),
                });
                self.fail_ice("every candidate pair failed");
            }
            IceEvent::ConsentLost { component } => {
                self.emit(Event::Ice {
                    agent: label,
                    state: "disconnected".into(),
                    component: Some(component),
                    local: None,
                    remote: None,
                    ms: None,
                    reason: Some("consent lost (RFC 7675)".into()),
                });
            }
            IceEvent::PairStateChanged { .. } => self.retry_waiting_offer(),
            IceEvent::ServerFailed { server, reason } => {
                tracing::warn!(%server, "STUN/TURN server gave nothing: {reason}");
            }
            _ => {}
        }
    }

    fn fail_ice(&mut self, why: &str) {
        if matches!(self.phase, Phase::Ending | Phase::Done) {
            return;
        }
        self.outcome.exit = exit::ICE;
        self.outcome.reason = format!("ICE failed: {why}");
        match self.phase {
            Phase::Alerting => {
                // RFC 3261 §21.4.26: we cannot accept the session as offered.
                self.ua.send(UaCommand::Respond {
                    status: 488,
                    reason: "Not Acceptable Here (ICE failed)".into(),
                    sdp: None,
                });
                self.phase = Phase::Done;
            }
            Phase::Inviting => {
                self.ua.send(UaCommand::Cancel);
                self.begin_ending();
            }
            _ => {
                self.ua.send(UaCommand::Bye);
                self.begin_ending();
            }
        }
    }

    fn begin_ending(&mut self) {
        self.phase = Phase::Ending;
        self.ending_since = Some(Instant::now());
    }

    /// RFC 8839 §4.3.4 / DESIGN.md step 5: when the controlling side's selected local
    /// candidate differs from the default it signalled, send an updated offer with the
    /// selected candidate in c=/m= and a=remote-candidates.
    fn maybe_send_updated_offer(&mut self) {
        if self.updated_offer_done || self.phase != Phase::Established || !self.ice_completed {
            return;
        }
        let Some(agent) = &self.agent else { return };
        if !agent.is_controlling() {
            self.updated_offer_done = true;
            return;
        }
        if self.offer_in_flight {
            return;
        }
        self.updated_offer_done = true;
        let components: Vec<u16> = (1..=agent.config().components).collect();
        let pairs: Vec<(Candidate, Candidate)> = components
            .iter()
            .filter_map(|c| agent.selected_pair(*c))
            .collect();
        let selected_local = pairs.first().map(|(l, _)| l.address);
        let default = self.outcome.signalled_default;
        if selected_local == default {
            self.emit(Event::UpdatedOffer {
                agent: self.label(),
                method: "none".into(),
                direction: "skipped".into(),
                reason: format!(
                    "selected local candidate {} is the signalled default",
                    selected_local.map(|a| a.to_string()).unwrap_or_default()
                ),
            });
            return;
        }
        let selected = Selected {
            local: pairs.iter().map(|(l, _)| l.clone()).collect(),
            remote: pairs
                .iter()
                .map(|(_, r)| RemoteCandidate {
                    component: r.component,
                    address: r.address,
                })
                .collect(),
            controlling: true,
        };
        let method = if self.peer_allows_update {
            OfferMethod::Update
        } else {
            OfferMethod::Invite
        };
        let reason = format!(
            "selected local {} differs from the signalled default {}; peer {} UPDATE",
            selected_local.map(|a| a.to_string()).unwrap_or_default(),
            default.map(|a| a.to_string()).unwrap_or_default(),
            if self.peer_allows_update {
                "allows"
            } else {
                "does not allow"
            }
        );
        self.send_offer(method, Some(selected), &reason);
    }

    fn send_offer(&mut self, method: OfferMethod, selected: Option<Selected>, reason: &str) {
        let stream = self.local_stream(selected);
        match self.sdp.create_offer(&[stream]) {
            Ok(offer) => {
                let text = offer.to_string();
                self.last_offer = Some(offer);
                self.offer_in_flight = true;
                self.ua.send(UaCommand::Offer { method, sdp: text });
                if !reason.is_empty() {
                    self.outcome.updated_offer_sent = Some(method.as_str().into());
                    self.emit(Event::UpdatedOffer {
                        agent: self.label(),
                        method: method.as_str().into(),
                        direction: "sent".into(),
                        reason: reason.into(),
                    });
                }
            }
            Err(e) => tracing::warn!("cannot build the offer: {e}"),
        }
    }

    // ----- offer/answer results ----------------------------------------------------------

    /// Applies a negotiated stream: codec, direction, remote ICE data or the plain fallback.
    fn apply_stream(&mut self, result: Option<&StreamResult>, now: Instant) {
        let Some(stream) = result.and_then(|r| r.active()) else {
            self.outcome.reason = "the peer rejected the audio stream".into();
            return;
        };
        if let Some(codec) = stream
            .formats
            .iter()
            .find_map(|f| G711::from_payload_type(f.payload_type).filter(|_| f.codec().is_some()))
        {
            self.codec = codec;
        }
        self.dtmf_pt = stream
            .formats
            .iter()
            .find(|f| f.encoding_name.eq_ignore_ascii_case("telephone-event"))
            .map(|f| f.payload_type);
        self.direction = stream.direction;
        self.rtcp_mux = stream.rtcp_mux;
        if let Some(media) = &mut self.media {
            media.sending = stream.direction.sends();
        }
        match &stream.ice {
            RemoteIce::Ice(data) if self.agent.is_some() => {
                if let Some(agent) = self.agent.as_mut() {
                    agent.set_remote_lite(data.lite);
                    agent.set_remote_credentials(data.credentials.clone());
                    for c in &data.candidates {
                        agent.add_remote_candidate(c.clone());
                    }
                    agent.handle_timeout(now);
                }
                if self.remote_known_at.is_none() {
                    self.remote_known_at = Some(now);
                    self.outcome.ice_used = true;
                    self.emit(Event::Ice {
                        agent: self.label(),
                        state: "checking".into(),
                        component: None,
                        local: None,
                        remote: None,
                        ms: None,
                        reason: Some(format!(
                            "{} remote candidate(s){}",
                            data.candidates.len(),
                            if data.options.ice2() {
                                ", peer does ice2"
                            } else {
                                ""
                            }
                        )),
                    });
                }
            }
            other => {
                let why = match other {
                    RemoteIce::Mismatch => "ice-mismatch: the default address is none of the candidates (RFC 8839 §4.2.5)",
                    RemoteIce::None if self.agent.is_none() => "ICE is turned off here (--no-ice)",
                    _ => "the peer's SDP has no ICE attributes (plain RFC 3264)",
                };
                if self.plain_destination.is_none() || self.agent.is_some() {
                    if let Some(mut agent) = self.agent.take() {
                        agent.close(now);
                    }
                    self.outcome.ice_used = false;
                    self.outcome.ice_not_used_reason = Some(why.into());
                    self.emit(Event::Ice {
                        agent: self.label(),
                        state: "not_used".into(),
                        component: None,
                        local: None,
                        remote: None,
                        ms: None,
                        reason: Some(format!(
                            "{why}; media goes to {} with symmetric-RTP latching",
                            stream
                                .remote_rtp
                                .map(|a| a.to_string())
                                .unwrap_or_else(|| "nowhere".into())
                        )),
                    });
                }
                self.plain_destination = stream.remote_rtp;
                self.plain_rtcp_destination = stream.remote_rtcp;
            }
        }
    }

    fn start_media(&mut self, now: Instant) {
        if self.media.is_some() {
            return;
        }
        let mut media = MediaSession::new(
            MediaConfig {
                codec: self.codec,
                dtmf_payload_type: self.dtmf_pt,
                source: self.opts.source.clone(),
                dtmf: self.opts.dtmf.clone(),
                echo: self.opts.echo,
                record: self.opts.record.is_some() || self.opts.keep_audio,
            },
            now,
        );
        media.sending = self.direction.sends();
        self.media = Some(media);
    }

    fn mark_established(&mut self, now: Instant) {
        self.phase = Phase::Established;
        self.established_at = Some(now);
        let setup = ms_since(self.started);
        self.outcome.setup_ms = Some(setup);
        self.emit(Event::Call {
            agent: self.label(),
            state: "established".into(),
            setup_ms: Some(setup),
            status: Some(200),
            reason: None,
        });
        self.start_media(now);
        self.maybe_send_updated_offer();
    }

    fn send_ringing(&mut self) {
        self.ringing_sent = true;
        self.ua.send(UaCommand::Respond {
            status: 180,
            reason: "Ringing".into(),
            sdp: None,
        });
        self.emit(Event::Call {
            agent: self.label(),
            state: "ringing".into(),
            setup_ms: None,
            status: Some(180),
            reason: None,
        });
        self.answer_at = Some(Instant::now() + self.opts.answer_after);
    }

    // ----- SIP events --------------------------------------------------------------------

    async fn on_ua_event(&mut self, event: UaEvent) {
        let now = Instant::now();
        match event {
            UaEvent::Provisional { status } => {
                if status == 180 || status == 183 {
                    self.emit(Event::Call {
                        agent: self.label(),
                        state: "ringing".into(),
                        setup_ms: Some(ms_since(self.started)),
                        status: Some(status),
                        reason: None,
                    });
                }
            }
            UaEvent::Answered {
                sdp,
                peer_allows_update,
            } => {
                self.peer_allows_update = peer_allows_update;
                let parsed = sdp::parse(&sdp);
                let offer = self.last_offer.clone();
                match (parsed, offer) {
                    (Ok(answer), Some(offer)) => match self.sdp.process_answer(&offer, &answer) {
                        Ok((streams, _)) => {
                            self.apply_stream(streams.first(), now);
                            self.offer_in_flight = false;
                            self.mark_established(now);
                        }
                        Err(e) => self.fail_call(exit::CALL, &format!("bad answer: {e}")),
                    },
                    (Err(e), _) => {
                        self.fail_call(exit::CALL, &format!("unparseable answer SDP: {e}"))
                    }
                    (_, None) => self.fail_call(exit::CALL, "answer without an offer"),
                }
            }
            UaEvent::Failed { status, reason } => {
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "failed".into(),
                    setup_ms: None,
                    status: Some(status),
                    reason: Some(reason.clone()),
                });
                if self.outcome.exit == exit::OK {
                    self.outcome.exit = exit::CALL;
                    self.outcome.reason = format!("{status} {reason}");
                }
                self.phase = Phase::Done;
            }
            UaEvent::Acked => {
                if self.phase == Phase::Alerting {
                    self.mark_established(now);
                }
            }
            UaEvent::OfferReceived { method, sdp } => match sdp::parse(&sdp) {
                Ok(offer) => self.answer_offer(method, offer, now),
                Err(e) => self.ua.send(UaCommand::AnswerOffer {
                    status: 400,
                    reason: format!("Bad SDP: {e}"),
                    sdp: None,
                }),
            },
            UaEvent::OfferAnswered {
                method,
                status,
                sdp,
            } => self.on_offer_answered(method, status, sdp, now),
            UaEvent::RemoteHangup { cancelled } => {
                self.outcome.reason = if cancelled {
                    "caller cancelled".into()
                } else {
                    "remote hung up".into()
                };
                self.phase = Phase::Done;
            }
            UaEvent::HangupDone => {
                if self.phase == Phase::Ending {
                    self.phase = Phase::Done;
                }
            }
            UaEvent::Incoming { .. } => {
                // A second call while busy: the UA answers 486 itself (RFC 3261 §21.4.24).
            }
            UaEvent::Registered { .. } | UaEvent::RegisterFailed { .. } => {}
        }
    }

    fn fail_call(&mut self, code: u8, why: &str) {
        self.outcome.exit = code;
        self.outcome.reason = why.into();
        self.ua.send(UaCommand::Bye);
        self.begin_ending();
    }

    fn on_offer_answered(
        &mut self,
        method: OfferMethod,
        status: u16,
        sdp: Option<String>,
        now: Instant,
    ) {
        self.offer_in_flight = false;
        if (200..300).contains(&status) {
            if let (Some(text), Some(offer)) = (sdp, self.last_offer.clone()) {
                if let Ok(answer) = sdp::parse(&text) {
                    match self.sdp.process_answer(&offer, &answer) {
                        Ok((streams, _)) => self.apply_stream(streams.first(), now),
                        Err(e) => tracing::warn!("bad answer to our {}: {e}", method.as_str()),
                    }
                }
            }
            self.emit(Event::UpdatedOffer {
                agent: self.label(),
                method: method.as_str().into(),
                direction: "answered".into(),
                reason: format!("{status}; direction now {}", self.direction.as_str()),
            });
            self.advance_hold();
        } else if method == OfferMethod::Update && (status == 501 || status == 405) {
            // Some peers answer UPDATE with 501 (baresip): fall back to a re-INVITE.
            let selected = self.current_selection();
            self.send_offer(
                OfferMethod::Invite,
                selected,
                &format!("UPDATE refused with {status}; re-INVITE instead"),
            );
        } else {
            self.emit(Event::UpdatedOffer {
                agent: self.label(),
                method: method.as_str().into(),
                direction: "answered".into(),
                reason: format!("refused with {status}; the previous offer/answer stays"),
            });
        }
    }

    fn current_selection(&self) -> Option<Selected> {
        let agent = self.agent.as_ref()?;
        let pairs: Vec<(Candidate, Candidate)> = (1..=agent.config().components)
            .filter_map(|c| agent.selected_pair(c))
            .collect();
        if pairs.is_empty() || !self.ice_completed {
            return None;
        }
        Some(Selected {
            local: pairs.iter().map(|(l, _)| l.clone()).collect(),
            remote: pairs
                .iter()
                .map(|(_, r)| RemoteCandidate {
                    component: r.component,
                    address: r.address,
                })
                .collect(),
            controlling: agent.is_controlling(),
        })
    }

    /// An offer inside the dialog: an updated offer after nomination (answered with the
    /// losing-pair rules, RFC 8839 §4.4.2), hold/resume, or a restart.
    fn answer_offer(&mut self, method: OfferMethod, offer: SessionDescription, now: Instant) {
        let has_remote_candidates = offer
            .media
            .first()
            .is_some_and(|m| m.attributes.iter().any(|a| a.name == "remote-candidates"));
        // RFC 8445 §9 / RFC 8839 §4.4.1.1.1: new peer credentials are an ICE restart; the
        // agent restarts (new local credentials) before our answer is built from it.
        if let (Some(agent), Ok(view)) = (self.agent.as_mut(), sdp::ice_attrs::read_ice(&offer)) {
            if let Some(credentials) = view.streams.first().and_then(|s| s.credentials.clone()) {
                if agent
                    .remote_credentials()
                    .is_some_and(|c| *c != credentials)
                {
                    agent.set_remote_credentials(credentials);
                }
            }
        }
        let wanted = Direction::SendRecv;
        let saved = self.direction;
        self.direction = wanted;
        let stream = self.local_stream(self.current_selection());
        self.direction = saved;
        let answer = match (&self.agent, has_remote_candidates) {
            (Some(agent), true) => {
                match self
                    .sdp
                    .answer_updated_offer(&offer, &[stream], &AgentPairs(agent))
                {
                    Ok(UpdatedOfferResponse::Answer(a)) => Ok(a),
                    Ok(UpdatedOfferResponse::RestartNeeded(a)) => {
                        if let Some(agent) = self.agent.as_mut() {
                            agent.restart(now);
                        }
                        Ok(a)
                    }
                    Ok(UpdatedOfferResponse::Wait) => {
                        // RFC 8839 §4.4.2: answer once the In-Progress checks finish.
                        self.waiting_offer = Some((method, offer));
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
            _ => self.sdp.create_answer(&offer, &[stream]),
        };
        match answer {
            Ok(a) => {
                let was_sending = self.direction.sends();
                self.apply_stream(a.streams.first(), now);
                let text = a.sdp.to_string();
                self.ua.send(UaCommand::AnswerOffer {
                    status: 200,
                    reason: "OK".into(),
                    sdp: Some(text),
                });
                if has_remote_candidates {
                    self.outcome.updated_offer_received = Some(method.as_str().into());
                    self.emit(Event::UpdatedOffer {
                        agent: self.label(),
                        method: method.as_str().into(),
                        direction: "received".into(),
                        reason:
                            "answered with the remote-candidates as our default (RFC 8839 §4.4.2)"
                                .into(),
                    });
                }
                let sending = self.direction.sends();
                if was_sending && !sending {
                    self.outcome.hold_cycles += 1;
                    self.emit(Event::Call {
                        agent: self.label(),
                        state: "hold".into(),
                        setup_ms: None,
                        status: None,
                        reason: Some(format!("peer offered {}", self.direction.as_str())),
                    });
                } else if !was_sending && sending {
                    self.emit(Event::Call {
                        agent: self.label(),
                        state: "resumed".into(),
                        setup_ms: None,
                        status: None,
                        reason: None,
                    });
                }
            }
            Err(e) => self.ua.send(UaCommand::AnswerOffer {
                status: 488,
                reason: format!("Not Acceptable Here ({e})"),
                sdp: None,
            }),
        }
    }

    fn retry_waiting_offer(&mut self) {
        if let Some((method, offer)) = self.waiting_offer.take() {
            self.answer_offer(method, offer, Instant::now());
        }
    }

    /// Caller-side hold/resume by re-INVITE (RFC 3264 §8.4: sendonly, never c=0.0.0.0 —
    /// RFC 8839 §4.4.1.1.1).
    fn drive_hold(&mut self, now: Instant) {
        let (Some(after), Some(est)) = (self.opts.hold_after, self.established_at) else {
            return;
        };
        if self.offer_in_flight || self.phase != Phase::Established {
            return;
        }
        match self.hold_state {
            HoldState::Active if now >= est + after => {
                self.direction = Direction::SendOnly;
                let sel = self.current_selection();
                self.send_offer(OfferMethod::Invite, sel, "");
                self.hold_state = HoldState::HoldSent;
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "hold".into(),
                    setup_ms: None,
                    status: None,
                    reason: Some("re-INVITE a=sendonly".into()),
                });
            }
            HoldState::Held if now >= est + after + self.opts.hold_for => {
                self.direction = Direction::SendRecv;
                let sel = self.current_selection();
                self.send_offer(OfferMethod::Invite, sel, "");
                self.hold_state = HoldState::ResumeSent;
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "resumed".into(),
                    setup_ms: None,
                    status: None,
                    reason: Some("re-INVITE a=sendrecv".into()),
                });
            }
            _ => {}
        }
    }

    fn advance_hold(&mut self) {
        self.hold_state = match self.hold_state {
            HoldState::HoldSent => {
                self.outcome.hold_cycles += 1;
                HoldState::Held
            }
            HoldState::ResumeSent => HoldState::Resumed,
            s => s,
        };
    }

    // ----- media -------------------------------------------------------------------------

    async fn on_datagram(&mut self, local: SocketAddr, from: SocketAddr, data: Vec<u8>) {
        let now = Instant::now();
        let media_bytes = match self.agent.as_mut() {
            Some(agent) => match agent.handle_packet(now, local, from, &data) {
                Handled::Media { data, .. } => Some(data),
                _ => None,
            },
            None => {
                // Symmetric RTP (RFC 4961): latch onto where the peer's media comes from.
                if matches!(data.first(), Some(128..=191)) {
                    if crate::media::rtp::is_rtcp(&data) {
                        self.plain_rtcp_destination = Some(from);
                    } else if self.plain_destination != Some(from) {
                        tracing::debug!(%from, "latching media destination");
                        self.plain_destination = Some(from);
                    }
                    Some(data)
                } else {
                    None
                }
            }
        };
        let Some(bytes) = media_bytes else { return };
        let label = self.label();
        if let Some(media) = self.media.as_mut() {
            if let Received::Dtmf(d) = media.on_datagram(now, &bytes) {
                self.opts.emitter.emit(Event::Dtmf {
                    agent: label,
                    digit: d.to_string(),
                    direction: "received".into(),
                });
            }
        }
    }

    /// One 20 ms media slot: send a frame if the gate is open.
    async fn media_tick(&mut self, now: Instant) {
        if self.phase != Phase::Established {
            return;
        }
        let sent_before = self.media.as_ref().map_or(0, |m| m.summary.rtp_sent);
        self.media_slot(now).await;
        let sent_after = self.media.as_ref().map_or(0, |m| m.summary.rtp_sent);
        if sent_after > sent_before && self.media_started_at.is_none() {
            self.media_started_at = Some(now);
        }
    }

    async fn media_slot(&mut self, now: Instant) {
        let Some(media) = self.media.as_mut() else {
            return;
        };
        match self.agent.as_mut() {
            Some(agent) => {
                // RFC 8445 §12.1: no media until every component has a selected pair; the
                // agent refuses send_data until then, and we do not even build the packet.
                let all_selected =
                    (1..=agent.config().components).all(|c| agent.selected_pair(c).is_some());
                if !all_selected {
                    media.hold_frame();
                    return;
                }
                let sent_before = media.summary.dtmf_sent.len();
                if let Some(packet) = media.next_packet() {
                    match agent.send_data(now, 1, &packet) {
                        Ok(t) => {
                            let dtmf_now = media.summary.dtmf_sent.len() > sent_before;
                            let digit = media.summary.dtmf_sent.chars().last();
                            self.sockets.send(t.from, t.to, &t.data).await;
                            if dtmf_now {
                                if let Some(d) = digit {
                                    self.emit(Event::Dtmf {
                                        agent: self.label(),
                                        digit: d.to_string(),
                                        direction: "sent".into(),
                                    });
                                }
                            }
                        }
                        Err(e) => tracing::debug!("media not sent: {e}"),
                    }
                }
                let component = if self.rtcp_mux { 1 } else { 2 };
                if let Some(media) = self.media.as_mut() {
                    if let Some(report) = media.poll_rtcp(now) {
                        if let Some(agent) = self.agent.as_mut() {
                            if let Ok(t) = agent.send_data(now, component, &report) {
                                self.sockets.send(t.from, t.to, &t.data).await;
                            }
                        }
                    }
                }
            }
            None => {
                let Some(dest) = self.plain_destination else {
                    media.hold_frame();
                    return;
                };
                let Some(from) = self.sockets.first_base(1) else {
                    return;
                };
                if let Some(packet) = media.next_packet() {
                    self.sockets.send(from, dest, &packet).await;
                }
                if let Some(report) = media.poll_rtcp(now) {
                    let (rtcp_from, rtcp_to) = if self.rtcp_mux {
                        (Some(from), Some(dest))
                    } else {
                        (self.sockets.first_base(2), self.plain_rtcp_destination)
                    };
                    if let (Some(f), Some(t)) = (rtcp_from, rtcp_to) {
                        self.sockets.send(f, t, &report).await;
                    }
                }
            }
        }
    }

    // ----- the loop ----------------------------------------------------------------------

    async fn run_loop(&mut self) {
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let far = Duration::from_secs(3600);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut ctrl_c_seen = !self.opts.handle_ctrl_c;
        while self.phase != Phase::Done {
            let now = Instant::now();
            let wake = self
                .agent
                .as_ref()
                .and_then(|a| a.poll_timeout())
                .unwrap_or(now + far);
            tokio::select! {
                event = self.ua.next() => match event {
                    Some(e) => self.on_ua_event(e).await,
                    None => {
                        self.outcome.reason = "SIP user agent stopped".into();
                        self.phase = Phase::Done;
                    }
                },
                d = self.sockets.recv() => {
                    if let Some(d) = d {
                        self.on_datagram(d.local, d.from, d.data).await;
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake.max(now))) => {
                    if let Some(agent) = self.agent.as_mut() {
                        agent.handle_timeout(Instant::now());
                    }
                }
                _ = tick.tick() => self.media_tick(Instant::now()).await,
                r = &mut ctrl_c, if !ctrl_c_seen => {
                    ctrl_c_seen = true;
                    if r.is_ok() {
                        self.hang_up("hung up (Ctrl-C)");
                    }
                }
            }
            self.drain_agent().await;
            self.timers(Instant::now());
        }
    }

    /// Local hang-up: CANCEL while ringing, BYE once established (RFC 3261 §9, §15).
    fn hang_up(&mut self, why: &str) {
        if self.outcome.reason.is_empty() {
            self.outcome.reason = why.into();
        }
        match self.phase {
            Phase::Inviting => {
                self.ua.send(UaCommand::Cancel);
                self.outcome.exit = exit::CALL;
                self.begin_ending();
            }
            Phase::Alerting => {
                self.ua.send(UaCommand::Respond {
                    status: 603,
                    reason: "Decline".into(),
                    sdp: None,
                });
                self.phase = Phase::Done;
            }
            Phase::Established => {
                self.ua.send(UaCommand::Bye);
                self.begin_ending();
            }
            Phase::Ending | Phase::Done => {}
        }
    }

    fn timers(&mut self, now: Instant) {
        // Callee: answer when the time comes.
        if self.phase == Phase::Alerting {
            if let Some(at) = self.answer_at {
                if now >= at {
                    if let Some(sdp) = self.pending_answer.take() {
                        self.ua.send(UaCommand::Respond {
                            status: 200,
                            reason: "OK".into(),
                            sdp: Some(sdp),
                        });
                        self.answer_at = None;
                    }
                }
            }
        }
        // `--duration`: seconds of media, counted from the first packet sent.
        if let (Some(d), Some(start)) = (self.opts.duration, self.media_started_at) {
            if self.phase == Phase::Established && now >= start + d {
                self.hang_up("duration reached");
            }
        }
        // RFC 8445 §12.1 gate: a call whose ICE never selects gives up.
        if self.phase == Phase::Established
            && self.agent.is_some()
            && self.outcome.selected.is_none()
            && self
                .remote_known_at
                .is_some_and(|t| now >= t + self.opts.ice_timeout)
        {
            self.emit(Event::IceFailed {
                agent: self.label(),
                pairs: Vec::new(),
            });
            self.fail_ice("no pair selected in time");
        }
        self.drive_hold(now);
        self.maybe_send_updated_offer();
        if self.phase == Phase::Ending && self.ending_since.is_some_and(|t| now >= t + BYE_WAIT) {
            self.phase = Phase::Done;
        }
    }

    async fn finish(mut self) -> (CallOutcome, UaHandle) {
        let now = Instant::now();
        if let Some(mut agent) = self.agent.take() {
            // RFC 8656 §8: free TURN allocations (Refresh with LIFETIME 0).
            agent.close(now);
            while let Some(t) = agent.poll_transmit() {
                self.sockets.send(t.from, t.to, &t.data).await;
            }
        }
        if let Some(mut media) = self.media.take() {
            let summary = media.finish();
            self.outcome.recorded = media.recorded().to_vec();
            self.outcome.media = summary.clone();
            self.emit(Event::Media {
                agent: self.label(),
                stats: summary,
            });
        }
        if let Some(path) = &self.opts.record {
            if let Err(e) = wav::write(path, &self.outcome.recorded, 8000) {
                tracing::warn!("cannot write {}: {e}", path.display());
            }
        }
        self.outcome.media_datagrams_sent = self.sockets.media_datagrams_sent;
        self.emit(Event::Call {
            agent: self.label(),
            state: "ended".into(),
            setup_ms: None,
            status: None,
            reason: Some(if self.outcome.reason.is_empty() {
                "done".into()
            } else {
                self.outcome.reason.clone()
            }),
        });
        self.sockets.close();
        (self.outcome, self.ua)
    }
}

/// Places a call to `target` and runs it to the end.
pub async fn run_caller(
    opts: CallOptions,
    ua: UaHandle,
    target: &str,
) -> anyhow::Result<CallOutcome> {
    let components = if opts.rtcp_mux { 1 } else { 2 };
    let mut call = Call::new(opts, ua, components).await?;
    call.gather().await;
    let stream = call.local_stream(None);
    let offer = call.sdp.create_offer(&[stream])?;
    let text = offer.to_string();
    call.last_offer = Some(offer);
    call.started = Instant::now();
    call.ua.send(UaCommand::Invite {
        target: target.to_string(),
        sdp: text,
    });
    call.run_loop().await;
    Ok(call.finish().await.0)
}

/// Waits for one incoming call, answers it, and runs it to the end.
pub async fn run_callee(opts: CallOptions, ua: UaHandle) -> anyhow::Result<CallOutcome> {
    Ok(run_callee_keeping_ua(opts, ua).await?.0)
}

/// As [`run_callee`], and gives the user agent back for the next call (`answer --calls N`).
pub async fn run_callee_keeping_ua(
    opts: CallOptions,
    mut ua: UaHandle,
) -> anyhow::Result<(CallOutcome, UaHandle)> {
    let (offer_text, peer_allows_update, from) = loop {
        match ua.next().await {
            Some(UaEvent::Incoming {
                sdp,
                peer_allows_update,
                from,
            }) => break (sdp, peer_allows_update, from),
            Some(other) => tracing::debug!("before a call: {other:?}"),
            None => anyhow::bail!("SIP user agent stopped before a call arrived"),
        }
    };
    let started = Instant::now();
    opts.emitter.emit(Event::Call {
        agent: opts.label.clone(),
        state: "incoming".into(),
        setup_ms: None,
        status: None,
        reason: Some(format!("from {from}")),
    });
    let offer = match sdp::parse(&offer_text) {
        Ok(o) => o,
        Err(e) => {
            ua.send(UaCommand::Respond {
                status: 488,
                reason: "Not Acceptable Here (bad SDP)".into(),
                sdp: None,
            });
            anyhow::bail!("unparseable offer: {e}");
        }
    };
    let offered_mux = sdp::ice_attrs::read_ice(&offer)
        .ok()
        .and_then(|v| v.streams.first().map(|s| s.rtcp_mux))
        .unwrap_or(false);
    let components = if opts.rtcp_mux && offered_mux { 1 } else { 2 };
    let mut call = Call::new(opts, ua, components).await?;
    call.started = started;
    call.phase = Phase::Alerting;
    call.peer_allows_update = peer_allows_update;
    call.rtcp_mux = components == 1;
    if let Some(agent) = call.agent.as_mut() {
        // RFC 8445 §6.1.1: the answerer of a full-full session is controlled.
        agent.set_role(false);
    }
    call.gather().await;
    let stream = call.local_stream(None);
    let answer = match call.sdp.create_answer(&offer, &[stream]) {
        Ok(a) => a,
        Err(e) => {
            call.ua.send(UaCommand::Respond {
                status: 488,
                reason: format!("Not Acceptable Here ({e})"),
                sdp: None,
            });
            anyhow::bail!("cannot answer the offer: {e}");
        }
    };
    call.apply_stream(answer.streams.first(), Instant::now());
    call.pending_answer = Some(answer.sdp.to_string());
    call.drain_agent().await;
    if !call.opts.alert_after_ice || call.agent.is_none() {
        call.send_ringing();
    }
    call.run_loop().await;
    Ok(call.finish().await)
}
