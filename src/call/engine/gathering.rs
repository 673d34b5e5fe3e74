//! The first phase of every call: gathering candidates before the offer (caller) or the
//! answer (callee). RFC 8839 §7.1: gather before the INVITE, but never wait longer than the
//! servers' own timeout (`gather_timeout`). It runs in the call's one loop: STUN/TURN answers
//! arrive as inputs like any datagram, and the gathering deadline is one of the call's
//! deadlines (`next_deadline`).

use super::*;

/// What the call does once its candidates are gathered.
#[derive(Debug, PartialEq)]
pub(super) enum AfterGathering {
    /// Caller: send the INVITE with our offer to `target`.
    Invite { target: String },
    /// Callee: build the answer to `offer` and ring.
    Answer { offer: Box<SessionDescription> },
}

/// The gathering phase: until when it may last, and what follows it.
#[derive(Debug, PartialEq)]
pub(super) struct Gathering {
    pub(super) until: Instant,
    pub(super) then: AfterGathering,
}

impl CallCore {
    /// Starts the gathering phase the core was made in (the agent's host candidates are
    /// known; server candidates follow). Ends it at once when there is nothing to wait for.
    fn start_gathering(&mut self, now: Instant) {
        self.drain_agent(now);
        self.check_gathering(now);
    }

    /// Ends the gathering phase when every server answered or its time is up.
    pub(super) fn check_gathering(&mut self, now: Instant) {
        let Phase::Gathering(gathering) = &self.phase else {
            return;
        };
        let complete = self
            .agent
            .as_ref()
            .is_none_or(|a| a.is_gathering_complete());
        if !complete && now < gathering.until {
            return;
        }
        // The next phase is set by what follows (the INVITE, the answer, or Done on error).
        let Phase::Gathering(gathering) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return;
        };
        self.report_candidates();
        match gathering.then {
            AfterGathering::Invite { target } => self.send_invite(target, now),
            AfterGathering::Answer { offer } => self.prepare_answer(&offer, now),
        }
    }

    /// The candidates we signal, and the default per component (RFC 8839 §3).
    fn report_candidates(&mut self) {
        let Some(agent) = &self.agent else { return };
        self.outcome
            .local_ufrags
            .push(agent.local_credentials().ufrag.clone());
        let candidates = agent.local_candidates();
        let default = default_candidate(&candidates, 1).map(|c| c.address);
        self.outcome.signalled_default = default;
        // RFC 8839 §3: the default per component (RTCP's is component 2's).
        self.signalled_defaults = (1..=agent.config().components)
            .filter_map(|c| default_candidate(&candidates, c).map(|d| (c, d.address)))
            .collect();
        self.emit(Event::Candidates {
            agent: self.label(),
            candidates: candidates.iter().map(CandidateInfo::from).collect(),
            default: default.map(|d| d.to_string()),
        });
    }

    /// Caller: the INVITE with our offer; the call's setup time counts from here.
    fn send_invite(&mut self, target: String, now: Instant) {
        let stream = self.local_stream(None);
        match self.sdp.create_offer(&[stream]) {
            Ok(offer) => {
                let text = offer.to_string();
                self.last_offer = Some(offer);
                self.started = now;
                self.phase = Phase::Inviting;
                self.send_sip(UaCommand::Invite { target, sdp: text });
            }
            Err(e) => {
                self.setup_error = Some(format!("cannot build the offer: {e}"));
                self.phase = Phase::Done;
            }
        }
    }

    /// Callee: the answer waits for the 200 (`Phase::Alerting`); the phone rings now, or with
    /// `alert_after_ice` once a valid pair exists (RFC 8839 §7.1).
    fn prepare_answer(&mut self, offer: &SessionDescription, now: Instant) {
        let stream = self.local_stream(None);
        let answer = match self.sdp.create_answer(offer, &[stream]) {
            Ok(a) => a,
            Err(e @ sdp::offer_answer::OfferAnswerError::Srtp { .. }) => {
                // An offer our SRTP policy cannot satisfy is how this call ends, not a fault
                // of the phone: 488 (RFC 3261 §21.4.26), and `answer` takes the next call.
                let why = format!("cannot answer the offer: {e}");
                self.send_sip(UaCommand::Respond {
                    status: 488,
                    reason: format!("Not Acceptable Here ({e})"),
                    sdp: None,
                });
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "failed".into(),
                    setup_ms: None,
                    status: Some(488),
                    reason: Some(why.clone()),
                    origin: Some("local".into()),
                });
                self.outcome.exit = exit::CALL;
                self.outcome.reason = why;
                self.phase = Phase::Done;
                return;
            }
            Err(e) => {
                self.send_sip(UaCommand::Respond {
                    status: 488,
                    reason: format!("Not Acceptable Here ({e})"),
                    sdp: None,
                });
                self.setup_error = Some(format!("cannot answer the offer: {e}"));
                self.phase = Phase::Done;
                return;
            }
        };
        self.apply_stream(answer.streams.first(), now);
        self.phase = Phase::Alerting(Alerting {
            answer: answer.sdp.to_string(),
            ringing: false,
            answer_at: None,
        });
        self.drain_agent(now);
        if !self.opts.alert_after_ice || self.agent.is_none() {
            self.send_ringing(now);
        }
    }
}

impl CallCore {
    /// RFC 8445 §5.1.1.1 / RFC 5761 §5.1.3: unless mux-only, a caller offers a separate RTCP
    /// component with the mux offer; the answer decides whether it stays.
    pub fn caller_components(opts: &CallOptions) -> u16 {
        if opts.rtcp_mux && opts.rtcp_mux_only {
            1
        } else {
            2
        }
    }

    /// A callee needs the RTCP component only when mux is not both offered and wanted.
    pub fn callee_components(opts: &CallOptions, offer: &SessionDescription) -> u16 {
        let offered_mux = sdp::ice_attrs::read_ice(offer)
            .ok()
            .and_then(|v| v.streams.first().map(|s| s.rtcp_mux))
            .unwrap_or(false);
        if opts.rtcp_mux && offered_mux {
            1
        } else {
            2
        }
    }

    /// A caller on `bases` (`caller_components` per host address): gathers, then invites
    /// `target`.
    pub fn caller(
        opts: CallOptions,
        bases: Vec<(u16, SocketAddr)>,
        target: &str,
        now: Instant,
    ) -> anyhow::Result<CallCore> {
        let components = CallCore::caller_components(&opts);
        let then = AfterGathering::Invite {
            target: target.to_string(),
        };
        let mut core = CallCore::new(opts, bases, components, then, now)?;
        core.start_gathering(now);
        Ok(core)
    }

    /// A callee for `offer` (an INVITE that arrived at `started`), on `bases`
    /// (`callee_components` per host address): gathers, then answers and rings.
    pub fn callee(
        opts: CallOptions,
        bases: Vec<(u16, SocketAddr)>,
        offer: SessionDescription,
        peer_allows_update: bool,
        started: Instant,
        now: Instant,
    ) -> anyhow::Result<CallCore> {
        let components = CallCore::callee_components(&opts, &offer);
        let then = AfterGathering::Answer {
            offer: Box::new(offer),
        };
        let mut core = CallCore::new(opts, bases, components, then, now)?;
        core.started = started;
        core.peer_allows_update = peer_allows_update;
        core.rtcp_mux = components == 1;
        if let Some(agent) = core.agent.as_mut() {
            // RFC 8445 §6.1.1: the answerer of a full-full session is controlled.
            agent.set_role(false);
        }
        core.start_gathering(now);
        Ok(core)
    }

    /// The call could not be set up (no offer or answer could be built): why.
    pub fn take_setup_error(&mut self) -> Option<String> {
        self.setup_error.take()
    }
}
