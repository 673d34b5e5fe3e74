//! What the SIP user agent reports about the dialog (`UaEvent`): responses to our INVITE,
//! the ACK, in-dialog offers and their answers, the end of the dialog.

use super::*;
use sdp::offer_answer::OfferAnswerError;

impl CallCore {
    pub(super) fn on_ua_event(&mut self, event: UaEvent, now: Instant) {
        match event {
            UaEvent::Provisional { status } => {
                if status == 180 || status == 183 {
                    self.emit(Event::Call {
                        agent: self.label(),
                        state: "ringing".into(),
                        setup_ms: Some(ms_between(self.started, now)),
                        status: Some(status),
                        reason: None,
                        origin: None,
                    });
                }
            }
            UaEvent::Redirected { status, from, to } => {
                // RFC 3261 §8.1.3.4: the same offer (candidates, credentials) went to the
                // new target; the call goes on.
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "redirected".into(),
                    setup_ms: Some(ms_between(self.started, now)),
                    status: Some(status),
                    reason: Some(format!("{from} -> {to}")),
                    origin: None,
                });
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
                        Err(e @ OfferAnswerError::Srtp { .. }) => {
                            // Never fall back to clear RTP when SRTP is required: end the
                            // call (BYE), saying why.
                            let why = format!(
                                "SRTP (--srtp {}): the answer cannot be used: {e}",
                                self.opts.srtp
                            );
                            self.fail_call(exit::CALL, &why, now)
                        }
                        Err(e) => self.fail_call(exit::CALL, &format!("bad answer: {e}"), now),
                    },
                    (Err(e), _) => {
                        self.fail_call(exit::CALL, &format!("unparseable answer SDP: {e}"), now)
                    }
                    (_, None) => self.fail_call(exit::CALL, "answer without an offer", now),
                }
            }
            UaEvent::Failed {
                status,
                reason,
                local,
            } => {
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "failed".into(),
                    setup_ms: None,
                    // A local failure (no response, transport error, no route) has no SIP
                    // status: nobody sent one, and it must not read as the peer's answer.
                    status: (!local).then_some(status),
                    reason: Some(reason.clone()),
                    origin: Some(if local { "local" } else { "remote" }.into()),
                });
                if self.outcome.exit == exit::OK {
                    self.outcome.exit = exit::CALL;
                    self.outcome.reason = crate::signalling::failure_text(status, &reason, local);
                }
                self.phase = Phase::Done;
            }
            UaEvent::Acked => {
                // Established = 200 sent + ACK received; media already started with the 200.
                if matches!(self.phase, Phase::Alerting(_) | Phase::Answered) {
                    self.mark_established(now);
                }
            }
            UaEvent::OfferReceived { method, sdp } => match sdp::parse(&sdp) {
                Ok(offer) => self.answer_offer(method, offer, now),
                Err(e) => self.send_sip(UaCommand::AnswerOffer {
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
                // A call we were already ending, or that had already failed (ICE), keeps
                // its first cause: the reason matches the exit code.
                let ours_first =
                    matches!(self.phase, Phase::Ending { .. }) || self.outcome.exit != exit::OK;
                if !ours_first || self.outcome.reason.is_empty() {
                    self.outcome.reason = if cancelled {
                        "caller cancelled".into()
                    } else {
                        "remote hung up".into()
                    };
                }
                self.phase = Phase::Done;
            }
            UaEvent::DialogEnded { reason } => {
                if !matches!(self.phase, Phase::Ending { .. } | Phase::Done) {
                    self.outcome.exit = exit::CALL;
                }
                self.outcome.reason = reason;
                self.phase = Phase::Done;
            }
            UaEvent::HangupDone => {
                if matches!(self.phase, Phase::Ending { .. }) {
                    self.phase = Phase::Done;
                }
            }
            UaEvent::Incoming { .. } => {
                // A second call while busy: the UA answers 486 itself (RFC 3261 §21.4.24).
            }
            e @ (UaEvent::Registered { .. } | UaEvent::RegisterFailed { .. }) => {
                if let Some(event) = self.opts.registration_event(&e) {
                    self.emit(event);
                }
            }
        }
    }

    pub(super) fn fail_call(&mut self, code: u8, why: &str, now: Instant) {
        self.outcome.exit = code;
        self.outcome.reason = why.into();
        self.send_sip(UaCommand::Bye);
        self.begin_ending(now);
    }
}
