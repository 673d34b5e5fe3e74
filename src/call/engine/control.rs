//! Commands from outside a running call (`CallOptions::control`, the scenario runner).

use super::*;
use crate::call::control::CallCommand;

impl CallCore {
    pub(super) fn on_command(&mut self, command: CallCommand, now: Instant) {
        match command {
            CallCommand::Answer { status } => match &mut self.phase {
                Phase::Alerting(alerting) if (200..300).contains(&status) => {
                    alerting.answer_at = Some(now);
                }
                Phase::Alerting(_) => self.reject(status),
                _ => tracing::warn!("answer {status}: no call is ringing"),
            },
            CallCommand::HangUp => self.hang_up("hung up on command", now),
            CallCommand::Hold
            | CallCommand::Resume
            | CallCommand::Update
            | CallCommand::RestartIce
                if matches!(self.phase, Phase::Ending { .. } | Phase::Done) => {}
            CallCommand::Hold
            | CallCommand::Resume
            | CallCommand::Update
            | CallCommand::RestartIce
                if self.phase != Phase::Established || self.offer_in_flight =>
            {
                // One offer at a time (RFC 3264 §4): send it when the current one is answered.
                self.deferred_command = Some(command);
            }
            CallCommand::Hold | CallCommand::Resume => {
                let hold = matches!(command, CallCommand::Hold);
                self.direction = if hold {
                    Direction::SendOnly
                } else {
                    Direction::SendRecv
                };
                let selection = self.current_selection();
                self.send_offer(OfferMethod::Invite, selection, "");
                self.hold_state = if hold {
                    HoldState::HoldSent
                } else {
                    HoldState::ResumeSent
                };
                self.emit(Event::Call {
                    agent: self.label(),
                    state: if hold { "hold" } else { "resumed" }.into(),
                    setup_ms: None,
                    status: None,
                    reason: Some(format!(
                        "re-INVITE a={}",
                        if hold { "sendonly" } else { "sendrecv" }
                    )),
                    origin: None,
                });
            }
            CallCommand::Update => {
                let selection = self.current_selection();
                self.send_offer(OfferMethod::Update, selection, "UPDATE on command");
            }
            CallCommand::RestartIce => self.restart_ice_on_command(now),
            CallCommand::Dtmf(digits) => match self.media.as_mut() {
                Some(media) => {
                    if !media.send_dtmf(&digits) {
                        tracing::warn!("DTMF {digits}: the peer did not negotiate telephone-event");
                    }
                }
                None => self.opts.dtmf = Some(digits),
            },
            CallCommand::Play(source) => match self.media.as_mut() {
                Some(media) => media.set_source(source),
                None => self.opts.source = source,
            },
            CallCommand::ReportPairs(reply) => {
                let lines = self.agent.as_ref().map_or_else(Vec::new, |agent| {
                    agent
                        .pairs()
                        .iter()
                        .map(|(local, remote, state, failure)| {
                            let mut line = format!(
                                "{state:?} {} {} -> {} {} (component {})",
                                local.kind.as_str(),
                                local.address,
                                remote.kind.as_str(),
                                remote.address,
                                local.component
                            );
                            if let Some(why) = failure {
                                line.push_str(&format!(": {why}"));
                            }
                            line
                        })
                        .collect()
                });
                let _ = reply.send(lines);
            }
            CallCommand::ReportLevels(reply) => {
                let levels = self.media.as_ref().map(|m| m.levels()).unwrap_or_default();
                let _ = reply.send(levels);
            }
        }
    }

    /// RFC 3261 §13.3.1.3: a final non-2xx rejects the INVITE.
    fn reject(&mut self, status: u16) {
        self.send_sip(UaCommand::Respond {
            status,
            reason: reason_phrase(status).into(),
            sdp: None,
        });
        self.emit(Event::Call {
            agent: self.label(),
            state: "failed".into(),
            setup_ms: None,
            status: Some(status),
            reason: Some("rejected on command".into()),
            origin: None,
        });
        self.outcome.exit = exit::CALL;
        self.outcome.reason = format!("rejected with {status}");
        self.phase = Phase::Done;
    }

    pub(super) fn run_deferred_command(&mut self, now: Instant) {
        if let Some(command) = self.deferred_command.take() {
            self.on_command(command, now);
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        486 => "Busy Here",
        480 => "Temporarily Unavailable",
        603 => "Decline",
        404 => "Not Found",
        488 => "Not Acceptable Here",
        _ => "Rejected",
    }
}
