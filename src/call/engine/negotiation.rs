//! Offer/answer inside the call: applying negotiated streams, answering the
//! peer's offers (updated offers with the losing-pair rules, RFC 8839 §4.4.2).

use super::*;
use crate::media::session::SessionCodecs;
use crate::media::wav_writer::WavWriter;

/// The negotiated codecs as the media session takes them.
fn media_codecs(c: &StreamCodecs) -> SessionCodecs {
    SessionCodecs {
        send: c.send.clone(),
        receive: c.receive.clone(),
        dtmf_payload_type: c.dtmf.map(|(pt, _)| pt),
        dtmf_clock_rate: c.dtmf.map_or(8000, |(_, clock)| clock),
        dtmf_receive_payload_types: c.dtmf_receive.clone(),
    }
}

impl CallCore {
    // ----- offer/answer results ----------------------------------------------------------

    /// Applies a negotiated stream: codec, direction, remote ICE data or the plain fallback.
    pub(super) fn apply_stream(&mut self, result: Option<&StreamResult>, now: Instant) {
        let Some(stream) = result.and_then(|r| r.active()) else {
            self.outcome.reason = "the peer rejected the audio stream".into();
            return;
        };
        // The stream's ICE components: 1, and 2 for RTCP without rtcp-mux. DTLS-SRTP runs
        // one association on each (RFC 5764 §4.1).
        let components: Vec<u16> = if stream.rtcp_mux {
            vec![1]
        } else {
            (1..=self.agent.as_ref().map_or(1, |a| a.config().components)).collect()
        };
        let dtls_without_ice = stream.dtls.is_some()
            && !(self.agent.is_some() && matches!(stream.ice, RemoteIce::Ice(_)));
        let applied = if dtls_without_ice {
            Err("DTLS-SRTP runs over the path ICE selects here, and this stream has no ICE (see the README's SRTP section)".to_string())
        } else {
            self.srtp
                .apply(stream.srtp.as_ref(), stream.dtls.as_ref(), &components, now)
        };
        if let Err(why) = applied {
            // The SDP layer refuses clear RTP when SRTP is required, so this is a guard: the
            // gate already sends nothing; a call with media under way ends, with the reason.
            tracing::warn!("{why}");
            if self.media_phase() {
                self.fail_call(exit::CALL, &why, now);
            } else {
                self.outcome.reason = why;
            }
        }
        if let Some(codecs) = codec_choice::stream_codecs(stream, &self.opts.codecs) {
            if codecs != self.codecs {
                // A re-offer may change the codec mid-call: the running session follows.
                if let Some(media) = &mut self.media {
                    media.set_codecs(media_codecs(&codecs));
                }
                self.codecs = codecs;
            }
        }
        self.direction = stream.direction;
        self.rtcp_mux = stream.rtcp_mux;
        if stream.rtcp_mux {
            // RFC 5761 §5.1.3: mux accepted, RTCP shares component 1; the RTCP component we
            // offered for a peer without mux goes (before the answer's candidates are added).
            if let Some(agent) = self.agent.as_mut() {
                if agent.drop_rtcp_component() {
                    self.signalled_defaults.retain(|(c, _)| *c == 1);
                }
            }
        }
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
                if self.plain_destination != stream.remote_rtp {
                    // A new address: latch again, early in its media as at the start.
                    self.plain_latch = None;
                    self.plain_rtcp_latch = None;
                    if self.media.is_some() {
                        self.plain_latch_until = Some(now + PLAIN_LATCH_WINDOW);
                    }
                } else if let Some((addr, _)) = self.plain_latch {
                    // The same address: keep it, but the peer may start a new SSRC.
                    self.plain_latch = Some((addr, None));
                }
                self.plain_destination = stream.remote_rtp;
                self.plain_rtcp_destination = stream.remote_rtcp;
            }
        }
    }

    pub(super) fn start_media(&mut self, now: Instant) {
        if self.media.is_some() {
            return;
        }
        let mut media = MediaSession::new(
            MediaConfig {
                codecs: media_codecs(&self.codecs),
                source: self.opts.source.clone(),
                dtmf: self.opts.dtmf.clone(),
                echo: self.opts.echo,
                record: self.opts.keep_audio,
                meter: self.opts.level_meter,
            },
            now,
        );
        if let Some(path) = &self.opts.record {
            // The command already created the file before the call (`phone::call_options`);
            // a failure here (the directory vanished) costs the recording, not the call.
            match WavWriter::create(path, 8000) {
                Ok(writer) => media.set_recorder(writer),
                Err(e) => tracing::warn!("cannot record to {}: {e}", path.display()),
            }
        }
        if let Some(sink) = &self.opts.playback {
            media.set_playback(sink.clone());
        }
        media.sending = self.direction.sends();
        self.media = Some(media);
        if self.agent.is_none() {
            self.plain_latch_until = Some(now + PLAIN_LATCH_WINDOW);
        }
    }

    pub(super) fn mark_established(&mut self, now: Instant) {
        self.phase = Phase::Established;
        self.established_at = Some(now);
        let setup = ms_between(self.started, now);
        self.outcome.setup_ms = Some(setup);
        self.emit(Event::Call {
            agent: self.label(),
            state: "established".into(),
            setup_ms: Some(setup),
            status: Some(200),
            reason: None,
            origin: None,
        });
        self.start_media(now);
        self.maybe_send_updated_offer();
    }

    pub(super) fn send_ringing(&mut self, now: Instant) {
        // Answered by command: no timer, the driver waits for the notification.
        let answer_at = self
            .opts
            .answer_on_command
            .is_none()
            .then(|| now + self.opts.answer_after);
        if let Phase::Alerting(alerting) = &mut self.phase {
            alerting.ringing = true;
            if answer_at.is_some() {
                alerting.answer_at = answer_at;
            }
        }
        self.send_sip(UaCommand::Respond {
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
            origin: None,
        });
    }

    pub(super) fn on_offer_answered(
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

    pub(super) fn current_selection(&self) -> Option<Selected> {
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
    pub(super) fn answer_offer(
        &mut self,
        method: OfferMethod,
        offer: SessionDescription,
        now: Instant,
    ) {
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
                    // The peer restarted: our answer carries every candidate and no selection.
                    self.forget_ice_session(now);
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
                let response = self.sdp.answer_updated_offer(
                    &offer,
                    std::slice::from_ref(&stream),
                    &AgentPairs(agent),
                );
                if let Ok(
                    UpdatedOfferResponse::Answer(a) | UpdatedOfferResponse::RestartNeeded(a),
                ) = &response
                {
                    self.report_ignored_remote_candidates(a);
                }
                match response {
                    Ok(UpdatedOfferResponse::Answer(a)) => Ok(a),
                    Ok(UpdatedOfferResponse::RestartNeeded(a)) => {
                        // RFC 8839 §4.4.2: every losing pair failed: answer as if there were
                        // no remote-candidates, then restart ICE with an offer of our own.
                        if let Some(agent) = self.agent.as_mut() {
                            agent.restart(now);
                        }
                        self.restart_offer_pending = true;
                        Ok(a)
                    }
                    Ok(UpdatedOfferResponse::Wait) => {
                        // RFC 8839 §4.4.2: answer once the In-Progress checks finish.
                        self.waiting_offer = Some((method, offer));
                        return;
                    }
                    Err(e) => Err(e),
                    // UpdatedOfferResponse is non_exhaustive: for an outcome this code does
                    // not know, answer as if the offer had no remote-candidates.
                    Ok(other) => {
                        tracing::debug!(?other, "unknown updated-offer outcome; plain answer");
                        self.sdp.create_answer(&offer, &[stream])
                    }
                }
            }
            _ => self.sdp.create_answer(&offer, &[stream]),
        };
        match answer {
            Ok(a) => {
                let was_sending = self.direction.sends();
                self.apply_stream(a.streams.first(), now);
                let text = a.sdp.to_string();
                self.send_sip(UaCommand::AnswerOffer {
                    status: 200,
                    reason: "OK".into(),
                    sdp: Some(text),
                });
                if has_remote_candidates {
                    self.outcome.updated_offer_received = Some(method.as_str().into());
                    // Name the default we answered with: the peer sends its media there.
                    let default = a
                        .sdp
                        .media
                        .first()
                        .and_then(|m| sdp::offer_answer::remote_default(&a.sdp, m))
                        .map_or_else(|| "none".to_string(), |d| d.to_string());
                    self.emit(Event::UpdatedOffer {
                        agent: self.label(),
                        method: method.as_str().into(),
                        direction: "received".into(),
                        reason: format!(
                            "answered with default {default}, our selected pair's local candidate from the remote-candidates (RFC 8839 §4.4.2)"
                        ),
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
                        origin: None,
                    });
                } else if !was_sending && sending {
                    self.emit(Event::Call {
                        agent: self.label(),
                        state: "resumed".into(),
                        setup_ms: None,
                        status: None,
                        reason: None,
                        origin: None,
                    });
                }
            }
            Err(e) => self.send_sip(UaCommand::AnswerOffer {
                status: 488,
                reason: format!("Not Acceptable Here ({e})"),
                sdp: None,
            }),
        }
    }

    /// Entries of the peer's `a=remote-candidates` our answer left out, one event each.
    fn report_ignored_remote_candidates(&mut self, answer: &sdp::offer_answer::Answer) {
        for ignored in &answer.ignored_remote_candidates {
            self.emit(Event::RemoteCandidateIgnored {
                agent: self.label(),
                component: ignored.component,
                address: ignored.address.to_string(),
                reason: ignored.reason.to_string(),
            });
        }
    }

    pub(super) fn retry_waiting_offer(&mut self, now: Instant) {
        if let Some((method, offer)) = self.waiting_offer.take() {
            self.answer_offer(method, offer, now);
        }
    }
}
