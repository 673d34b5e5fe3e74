//! A call as a sans-IO core (`CallCore`: SIP dialog side, SDP, ICE agent, media, timers)
//! and its tokio driver (`driver.rs`: sockets, user agent, commands, Ctrl-C, the clock).
//! Caller and callee share both; they differ in how the dialog starts.

mod codec_choice;
mod control;
mod deadlines;
mod driver;
mod dtls;
mod dtls_flow;
mod gathering;
mod hold;
mod ice_flow;
mod inputs;
mod media_path;
mod negotiation;
mod outbox;
mod restart;
mod sip_events;
mod srtp;
#[cfg(test)]
mod virtual_call_tests;
#[cfg(test)]
mod virtual_codec_tests;
#[cfg(test)]
mod virtual_dtls_tests;
#[cfg(test)]
mod virtual_loopback_tests;
#[cfg(test)]
pub(crate) mod virtual_net;
#[cfg(test)]
mod virtual_session_tests;
#[cfg(test)]
mod virtual_srtp_tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{IceConfig, NominationMode, ServerKind};
use ice::{Candidate, Handled, IceAgent, IceEvent};
use sdp::audio::Direction;
use sdp::candidate_attr::RemoteCandidate;
use sdp::offer_answer::{
    default_candidate, IceSettings, LocalIce, LocalStream, RemoteIce, SdpSession, Selected,
    StreamResult, UpdatedOfferResponse,
};
use sdp::SessionDescription;

use super::ice_view::AgentPairs;
use super::net::Inbound;
use super::{CallOptions, CallOutcome};
use crate::events::{CandidateInfo, Event, PairFailureInfo};
use crate::exit;
use crate::media::clock::MediaClock;
use crate::media::codec::{CodecKind, CodecSpec};
use crate::media::session::{MediaConfig, MediaSession, Received};

use crate::signalling::{OfferMethod, UaCommand, UaEvent};
use codec_choice::{codecs_for_sdp, StreamCodecs};
pub use driver::{
    run_callee, run_callee_keeping_ua, run_caller, run_caller_keeping_ua, STOPPED_WAITING,
};
use gathering::{AfterGathering, Gathering};
pub use inputs::Input;
pub use outbox::Output;
use outbox::{first_base, Outbox};
use restart::IceRestart;
use srtp::CallSrtp;

/// RFC 3551 §4.5: 20 ms packets.
const FRAME: Duration = Duration::from_millis(20);
/// Without ICE: how long after media starts (or an offer/answer names a new address) a
/// source other than the signalled address may be latched (a peer behind a NAT).
const PLAIN_LATCH_WINDOW: Duration = Duration::from_secs(5);
/// How long we wait for the answer to our BYE before leaving anyway.
const BYE_WAIT: Duration = Duration::from_secs(2);
/// How long a controlled agent whose checks all failed leaves the call to the controlling
/// side before hanging up itself (RFC 8445 §8: the controlling agent concludes ICE). When
/// neither side's checks get through, both run the same schedule offset only by the
/// signalling delay, so the controlling agent fails within milliseconds and its BYE carries
/// the decision; without the wait the two BYEs crossed and which side reported "ICE failed"
/// was a race (seen in the lab). When our checks reach the peer but nothing comes back, they
/// restart its checks as triggered ones and it fails up to one transaction timeout later;
/// past the wait we hang up ourselves.
const CONTROLLED_ICE_FAIL_GRACE: Duration = Duration::from_secs(5);

/// Where the call is. What a phase needs (the gathering deadline and what follows it, when
/// the BYE went) lives in its variant, not in flags beside it.
#[derive(Debug, PartialEq)]
enum Phase {
    /// Gathering candidates for the offer or the answer (`gathering.rs`).
    Gathering(Gathering),
    /// Caller: INVITE sent, no final response yet.
    Inviting,
    /// Callee: offer received, not answered yet.
    Alerting(Alerting),
    /// Callee: the 200 with our answer is sent, its ACK has not arrived. RFC 3264 §6.1:
    /// media may flow once the answer is sent (with ICE, still gated on a selected pair,
    /// RFC 8445 §12.1), so a lost ACK does not hold the media hostage.
    Answered,
    Established,
    /// BYE (or CANCEL) sent at `since`, waiting for it to finish (at most `BYE_WAIT`).
    Ending {
        since: Instant,
    },
    Done,
}

/// A call without IO: all its state and logic (SIP dialog side, SDP, ICE agent, media),
/// fed inputs with their time (`handle_input`) and polled for what goes out
/// (`poll_output`) and when it next wants the time (`poll_timeout`), in the shape of
/// str0m's `Rtc` or quinn-proto's `Connection`. It reads no clock and owns no socket;
/// `driver.rs` moves bytes and time in and out.
pub struct CallCore {
    opts: CallOptions,
    agent: Option<IceAgent>,
    sdp: SdpSession,
    media: Option<MediaSession>,
    phase: Phase,
    started: Instant,
    outcome: CallOutcome,
    /// Our last offer, to read its answer.
    last_offer: Option<SessionDescription>,
    /// Without ICE: the peer's signalled RTP and RTCP addresses (c=/m=, a=rtcp).
    plain_destination: Option<SocketAddr>,
    plain_rtcp_destination: Option<SocketAddr>,
    /// Without ICE: the one RTP source (address, SSRC) we accept and send to, latched once
    /// (symmetric RTP, RFC 4961); reset only by an offer/answer with a new address.
    /// The SSRC is None after an offer/answer that kept the address, until the next packet.
    plain_latch: Option<(SocketAddr, Option<u32>)>,
    /// Without ICE: until when a source other than the signalled address may be latched.
    plain_latch_until: Option<Instant>,
    /// Without ICE and without rtcp-mux: the peer's RTCP source, latched once.
    plain_rtcp_latch: Option<SocketAddr>,
    /// RTP/RTCP dropped because it came from nobody we talk to (the `media` event's
    /// `rtp_dropped_unknown_source`).
    rtp_dropped_unknown_source: u64,
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
    /// The codecs negotiated (before any negotiation: our first codec, nothing else).
    codecs: StreamCodecs,
    rtcp_mux: bool,
    hold_state: HoldState,
    media_started_at: Option<Instant>,
    /// The audio timeline media frames are sent on, from the start of the media phase.
    media_clock: Option<MediaClock>,
    /// The default (c=/m=, a=rtcp) we signalled per component.
    signalled_defaults: Vec<(u16, SocketAddr)>,
    /// Our agent restarted; the new credentials go out in an offer (RFC 8445 §9).
    restart_offer_pending: bool,
    /// The ICE restart in progress, until its new session selects a pair on every component.
    restart: Option<IceRestart>,
    /// The last RTP packet received (for the longest gap across restarts and holds).
    last_rtp_at: Option<Instant>,
    /// Controlled side: ICE failed, our BYE is due then unless the peer's comes first.
    ice_failed_bye_at: Option<Instant>,
    /// A control command that has to wait (an offer is in flight).
    deferred_command: Option<crate::call::control::CallCommand>,
    /// Server failures reported (server, reason): the allocations of both components fail
    /// alike, and the user needs to hear it once.
    servers_failed: Vec<(SocketAddr, String)>,
    /// The call could not be set up at all (no offer or answer could be built): the entry
    /// function returns this as its error.
    setup_error: Option<String>,
    /// What the handlers want sent or said, in order; the driver drains it (`poll_output`)
    /// after each input, so no handler waits on a socket.
    outbox: Outbox,
    /// (component, local address) of the media sockets, in binding order.
    bases: Vec<(u16, SocketAddr)>,
    /// SRTP (SDES or DTLS keyed): our keys, the agreed contexts, the no-clear-RTP gate.
    srtp: CallSrtp,
}

/// Callee, not answered yet: the answer our 200 will carry, whether the 180 went out, and
/// when to answer (None: when told to, `Input::AnswerNow` or `CallCommand::Answer`).
#[derive(Debug, PartialEq)]
struct Alerting {
    answer: String,
    ringing: bool,
    answer_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldState {
    Active,
    HoldSent,
    Held,
    ResumeSent,
    Resumed,
}

/// Milliseconds from `from` to `now` (0 if `now` is earlier).
fn ms_between(from: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(from).as_millis() as u64
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
        ice_restarts: 0,
        local_ufrags: Vec::new(),
        longest_rtp_gap_ms: None,
    }
}

impl CallCore {
    /// A call on the media sockets `bases` ((component, address), one per host address and
    /// component), with its ICE agent when `opts.ice`, gathering until `then`; not started
    /// yet (`caller`, `callee`).
    fn new(
        opts: CallOptions,
        bases: Vec<(u16, SocketAddr)>,
        components: u16,
        then: AfterGathering,
        now: Instant,
    ) -> anyhow::Result<CallCore> {
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
                turn_servers: opts.turn.iter().map(|t| t.server.clone()).collect(),
                check_retransmit: opts
                    .check_retransmit
                    .unwrap_or(ice::agent::DEFAULT_CHECK_RETRANSMIT),
                consent: opts.consent.unwrap_or_default(),
                ..IceConfig::default()
            };
            let mut agent = IceAgent::new(config, now);
            for (component, base) in &bases {
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
        let gather_until = now + opts.gather_timeout;
        let first = CodecSpec::new(
            opts.codecs.first().copied().unwrap_or(CodecKind::Pcmu),
            sdp::audio::OPUS_PAYLOAD_TYPE,
        );
        let codecs = StreamCodecs {
            receive: vec![first.clone()],
            send: first,
            dtmf: None,
            dtmf_receive: Vec::new(),
        };
        let rtcp_mux = opts.rtcp_mux;
        let srtp = CallSrtp::new(opts.srtp, &opts.srtp_suites, opts.dtls_setup)?;
        Ok(CallCore {
            sdp: SdpSession::new(origin, session_id, IceSettings::default()).with_srtp(opts.srtp),
            srtp,
            opts,
            agent,
            media: None,
            phase: Phase::Gathering(Gathering {
                until: gather_until,
                then,
            }),
            started: now,
            outcome: empty_outcome(),
            last_offer: None,
            plain_destination: None,
            plain_rtcp_destination: None,
            plain_latch: None,
            plain_latch_until: None,
            plain_rtcp_latch: None,
            rtp_dropped_unknown_source: 0,
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
            codecs,
            rtcp_mux,
            hold_state: HoldState::Active,
            media_started_at: None,
            media_clock: None,
            restart_offer_pending: false,
            restart: None,
            last_rtp_at: None,
            signalled_defaults: Vec::new(),
            ice_failed_bye_at: None,
            deferred_command: None,
            servers_failed: Vec::new(),
            setup_error: None,
            outbox: Outbox::default(),
            bases,
        })
    }

    pub(super) fn emit(&mut self, event: Event) {
        self.outbox.push(Output::Event(event));
    }

    pub(super) fn send_sip(&mut self, command: UaCommand) {
        self.outbox.push(Output::Sip(command));
    }

    pub(super) fn label(&self) -> String {
        self.opts.label.clone()
    }

    /// Local hang-up: CANCEL while ringing, BYE once established (RFC 3261 §9, §15).
    pub(super) fn hang_up(&mut self, why: &str, now: Instant) {
        if self.outcome.reason.is_empty() {
            self.outcome.reason = why.into();
        }
        match self.phase {
            Phase::Gathering(Gathering { ref then, .. }) => {
                // Nothing was sent yet; a callee declines the call it was about to answer.
                if matches!(then, AfterGathering::Answer { .. }) {
                    self.send_sip(UaCommand::Respond {
                        status: 603,
                        reason: "Decline".into(),
                        sdp: None,
                    });
                }
                self.phase = Phase::Done;
            }
            Phase::Inviting => {
                self.send_sip(UaCommand::Cancel);
                self.outcome.exit = exit::CALL;
                self.begin_ending(now);
            }
            Phase::Alerting(_) => {
                self.send_sip(UaCommand::Respond {
                    status: 603,
                    reason: "Decline".into(),
                    sdp: None,
                });
                self.phase = Phase::Done;
            }
            Phase::Answered | Phase::Established => {
                self.send_sip(UaCommand::Bye);
                self.begin_ending(now);
            }
            Phase::Ending { .. } | Phase::Done => {}
        }
    }

    /// Media may flow: the call is established, or (callee) our answer is out (RFC 3264 §6.1).
    pub(super) fn media_phase(&self) -> bool {
        matches!(self.phase, Phase::Answered | Phase::Established)
    }

    pub(super) fn timers(&mut self, now: Instant) {
        // Callee: answer when the time comes.
        if matches!(&self.phase, Phase::Alerting(a) if a.answer_at.is_some_and(|t| now >= t)) {
            if let Phase::Alerting(a) = std::mem::replace(&mut self.phase, Phase::Answered) {
                self.send_sip(UaCommand::Respond {
                    status: 200,
                    reason: "OK".into(),
                    sdp: Some(a.answer),
                });
                self.start_media(now);
            }
        }
        // `--duration`: seconds of media, counted from the first packet sent.
        if let (Some(d), Some(start)) = (self.opts.duration, self.media_started_at) {
            if self.phase == Phase::Established && now >= start + d {
                self.hang_up("duration reached", now);
            }
        }
        // RFC 8445 §12.1 gate: a call whose ICE never selects gives up.
        if self.media_phase()
            && self.agent.is_some()
            && self.outcome.selected.is_none()
            && self
                .remote_known_at
                .is_some_and(|t| now >= t + self.opts.ice_timeout)
        {
            // Every pair with its state, so the report never claims no pair could be formed.
            let pairs = self.agent.as_ref().map_or_else(Vec::new, |agent| {
                agent
                    .pairs()
                    .into_iter()
                    .map(|(local, remote, state, failure)| PairFailureInfo {
                        local: CandidateInfo::from(&local),
                        remote: CandidateInfo::from(&remote),
                        reason: failure.map_or_else(
                            || format!("{state:?} when the call's ICE timeout expired"),
                            |f| f.to_string(),
                        ),
                    })
                    .collect()
            });
            self.emit(Event::IceFailed {
                agent: self.label(),
                pairs,
            });
            self.fail_ice("no pair selected in time", now);
        }
        if let Some(at) = self.ice_failed_bye_at {
            if now >= at {
                self.ice_failed_bye_at = None;
                if self.media_phase() {
                    self.send_sip(UaCommand::Bye);
                    self.begin_ending(now);
                }
            }
        }
        self.drive_hold(now);
        if self.restart_offer_pending && !self.offer_in_flight && self.phase == Phase::Established {
            self.restart_offer_pending = false;
            self.send_restart_offer(
                "ICE restart: every losing pair of the peer's updated offer failed (RFC 8839 §4.4.2)",
                now,
            );
        }
        self.maybe_send_updated_offer();
        if matches!(self.phase, Phase::Ending { since } if now >= since + BYE_WAIT) {
            self.phase = Phase::Done;
        }
    }

    /// Ends the call at `now`: the agent frees its TURN allocations (RFC 8656 §8: Refresh
    /// with LIFETIME 0, queued as transmits), the media and the call report their end. The
    /// driver sends what this queued, then takes `outcome`.
    pub fn close(&mut self, now: Instant) {
        self.phase = Phase::Done;
        if let Some(mut agent) = self.agent.take() {
            agent.close(now);
            while let Some(t) = agent.poll_transmit() {
                self.outbox.push_transmit(t);
            }
        }
        if let Some(mut media) = self.media.take() {
            let mut summary = media.finish();
            summary.rtp_dropped_unknown_source = self.rtp_dropped_unknown_source;
            self.srtp.fill_summary(&mut summary);
            self.outcome.recorded = media.recorded().to_vec();
            if let Some(recorder) = media.take_recorder() {
                let path = recorder.path().to_path_buf();
                match recorder.finish() {
                    Ok(samples) => {
                        tracing::info!("recorded {samples} samples to {}", path.display())
                    }
                    Err(e) => tracing::warn!("cannot finish {}: {e}", path.display()),
                }
            }
            self.outcome.media = summary.clone();
            self.emit(Event::Media {
                agent: self.label(),
                stats: Box::new(summary),
            });
        }
        self.outcome.media_datagrams_sent = self.outbox.media_queued;
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
            origin: None,
        });
    }

    /// How the call ended (after `close`).
    pub fn into_outcome(self) -> CallOutcome {
        self.outcome
    }
}
