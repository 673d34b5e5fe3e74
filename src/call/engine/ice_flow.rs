//! The call and its ICE agent: moving bytes and events, gathering, and the updated offer
//! after nomination (RFC 8839 §4.3.4).

use super::*;

impl CallCore {
    // ----- ICE plumbing ------------------------------------------------------------------

    /// Queues what the agent wants sent and handles its events.
    pub(super) fn drain_agent(&mut self, now: Instant) {
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
                (Some(t), _) => self.outbox.push_transmit(t),
                (None, Some(e)) => self.on_ice_event(e, now),
                (None, None) => return,
            }
        }
    }

    pub(super) fn local_stream(&self, selected: Option<Selected>) -> LocalStream {
        let fallback = first_base(&self.bases, 1).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9)));
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
            sdes_keys: self.srtp.sdes_keys(),
            dtls: self.srtp.local_dtls(),
            opus: self.opts.opus,
        }
    }

    pub(super) fn on_ice_event(&mut self, event: IceEvent, now: Instant) {
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
                        ms: self.remote_known_at.map(|t| ms_between(t, now)),
                        reason: None,
                    });
                }
                // RFC 8839 §7.1: the callee alerts once a valid pair exists.
                if matches!(&self.phase, Phase::Alerting(a) if !a.ringing)
                    && self.opts.alert_after_ice
                {
                    self.send_ringing(now);
                }
            }
            IceEvent::Selected {
                component,
                local,
                remote,
            } => {
                // After a restart: the time since it began, and ice_ms keeps the first
                // session's figure.
                let after_restart = self.restart_selected(component, now);
                let ms = after_restart.or_else(|| self.remote_known_at.map(|t| ms_between(t, now)));
                if component == 1 {
                    self.outcome.selected = Some((local.clone(), remote.clone()));
                    if after_restart.is_none() {
                        self.outcome.ice_ms = ms;
                    }
                }
                if !self.selected_components.contains(&component) {
                    self.selected_components.push(component);
                    // RFC 8445 §12.1: media starts with component 1's pair (RTCP on component
                    // 2 has its own gate). Independent of the gate's own logic: what the
                    // sockets saw leave before it.
                    if component == 1 {
                        self.outcome.media_sent_before_selection = self.outbox.media_queued;
                    }
                }
                self.emit(Event::Ice {
                    agent: label,
                    state: "selected".into(),
                    component: Some(component),
                    local: Some(CandidateInfo::from(&local)),
                    remote: Some(CandidateInfo::from(&remote)),
                    ms,
                    reason: after_restart.map(|_| "after ICE restart (RFC 8445 §9)".into()),
                });
            }
            IceEvent::Restarted { credentials } => self.on_ice_restarted(credentials.ufrag, now),
            IceEvent::Completed => {
                self.ice_completed = true;
                self.emit(Event::Ice {
                    agent: label,
                    state: "completed".into(),
                    component: None,
                    local: None,
                    remote: None,
                    ms: self.remote_known_at.map(|t| ms_between(t, now)),
                    reason: None,
                });
                self.maybe_send_updated_offer();
                self.retry_waiting_offer(now);
            }
            IceEvent::Failed { reasons } => {
                let not_nominated = reasons
                    .iter()
                    .filter(|p| p.reason == ice::agent::FailureReason::NotNominated)
                    .count();
                // The controlled side with valid pairs that were never nominated says so: the
                // peer's ICE, not the path, is what failed (issue 12, fault 4).
                let summary = if not_nominated > 0 {
                    format!(
                        "peer never nominated: {not_nominated} valid pair(s), no USE-CANDIDATE (RFC 8445 §8.1.1)"
                    )
                } else {
                    format!("every candidate pair failed: {} pair(s)", reasons.len())
                };
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
                    ms: self.remote_known_at.map(|t| ms_between(t, now)),
                    reason: Some(summary.clone()),
                });
                self.fail_ice(&summary, now);
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
                // RFC 7675 §5.1: consent expired (30 s without an answer to our checks);
                // media stops, and a call that can carry none is over: BYE with the reason.
                if self.media_phase() {
                    self.outcome.exit = exit::ICE;
                    self.outcome.reason = format!(
                        "consent lost on component {component} (RFC 7675): the peer stopped answering"
                    );
                    self.send_sip(UaCommand::Bye);
                    self.begin_ending(now);
                }
            }
            IceEvent::PairStateChanged { .. } => self.retry_waiting_offer(now),
            IceEvent::ServerFailed {
                server,
                kind,
                reason,
            } => {
                let key = (server, reason.clone());
                if self.servers_failed.contains(&key) {
                    return;
                }
                self.servers_failed.push(key);
                let (kind, transport) = match kind {
                    ServerKind::Stun => ("stun", "udp"),
                    ServerKind::Turn(t) => ("turn", t.as_str()),
                };
                self.emit(Event::ServerFailed {
                    agent: label,
                    kind: kind.into(),
                    server: server.to_string(),
                    transport: transport.into(),
                    reason,
                });
            }
            _ => {}
        }
    }

    pub(super) fn fail_ice(&mut self, why: &str, now: Instant) {
        if matches!(self.phase, Phase::Ending { .. } | Phase::Done) {
            return;
        }
        self.outcome.exit = exit::ICE;
        self.outcome.reason = format!("ICE failed: {why}");
        match self.phase {
            Phase::Alerting(_) => {
                // RFC 3261 §21.4.26: we cannot accept the session as offered.
                self.send_sip(UaCommand::Respond {
                    status: 488,
                    reason: "Not Acceptable Here (ICE failed)".into(),
                    sdp: None,
                });
                self.phase = Phase::Done;
            }
            Phase::Inviting => {
                self.send_sip(UaCommand::Cancel);
                self.begin_ending(now);
            }
            _ if self.agent.as_ref().is_some_and(|a| !a.is_controlling()) => {
                // The controlling side fails at the same moment and ends the call; ours
                // follows only if its BYE does not come (CONTROLLED_ICE_FAIL_GRACE).
                self.ice_failed_bye_at = Some(now + CONTROLLED_ICE_FAIL_GRACE);
            }
            _ => {
                self.send_sip(UaCommand::Bye);
                self.begin_ending(now);
            }
        }
    }

    pub(super) fn begin_ending(&mut self, now: Instant) {
        self.phase = Phase::Ending { since: now };
    }

    /// RFC 8839 §4.3.4 / DESIGN.md step 5: when the controlling side's selected local
    /// candidate differs from the default it signalled, send an updated offer with the
    /// selected candidate in c=/m= and a=remote-candidates.
    pub(super) fn maybe_send_updated_offer(&mut self) {
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
        // RFC 8839 §4.3.4: any component whose nominated local candidate is not its default.
        let differs = pairs.iter().any(|(l, _)| {
            !self
                .signalled_defaults
                .iter()
                .any(|(c, d)| *c == l.component && *d == l.address)
        });
        if !differs {
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

    pub(super) fn send_offer(
        &mut self,
        method: OfferMethod,
        selected: Option<Selected>,
        reason: &str,
    ) {
        let stream = self.local_stream(selected);
        match self.sdp.create_offer(&[stream]) {
            Ok(offer) => {
                let text = offer.to_string();
                self.last_offer = Some(offer);
                self.offer_in_flight = true;
                self.send_sip(UaCommand::Offer { method, sdp: text });
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
}
