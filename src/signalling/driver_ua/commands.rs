//! The calls' commands, as endpoint calls on the driver (one slot's dialog at a time).

use sip::endpoint::{Body, HeaderEdits, IncomingId};
use sip::message::Method;

use super::{flatten, Bridge, SlotId, MAIN, SDP};
use crate::signalling::control::Outgoing;
use crate::signalling::{OfferMethod, UaCommand, UaEvent};

impl Bridge {
    pub(super) async fn on_command(&mut self, slot: SlotId, command: UaCommand) {
        let Some(state) = self.slots.get(&slot) else {
            return;
        };
        let dialog = state.dialog;
        let incoming_call = state.incoming_call;
        let result: Result<(), String> = match command {
            UaCommand::Invite { target, sdp } => {
                let edits = self.take_edits(Outgoing::Invite);
                let sdp = edits.sdp.apply(&sdp);
                let r = self
                    .driver
                    .command(move |ep, now| {
                        ep.edit_next_request(Method::Invite, edits.headers);
                        let r = ep.invite(now, &target, Some(Body::new(SDP, sdp)));
                        ep.clear_next_edits();
                        r
                    })
                    .await;
                match r {
                    Ok(Ok(d)) => {
                        self.bind_dialog(slot, d);
                        if let Some(s) = self.slot_mut(slot) {
                            s.our_invite_pending = true;
                        }
                        Ok(())
                    }
                    Ok(Err(e)) => {
                        self.emit(
                            slot,
                            UaEvent::Failed {
                                status: 400,
                                reason: e.to_string(),
                                local: true,
                            },
                        );
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            UaCommand::Respond { status, sdp, .. } => match incoming_call {
                Some(incoming) => {
                    let mut headers = None;
                    let mut sdp = sdp;
                    if status >= 200 {
                        if let Some(s) = self.slot_mut(slot) {
                            s.incoming_call = None;
                        }
                        let edits = self.take_edits(Outgoing::Answer);
                        sdp = sdp.map(|s| edits.sdp.apply(&s));
                        headers = Some(edits.headers);
                    }
                    self.respond(incoming, status, sdp, headers).await
                }
                None => Err("no incoming INVITE to answer".into()),
            },
            UaCommand::AnswerOffer { status, sdp, .. } => {
                match self.slot_mut(slot).and_then(|s| s.incoming_offer.take()) {
                    Some(incoming) => self.respond(incoming, status, sdp, None).await,
                    None => Err("no incoming offer to answer".into()),
                }
            }
            UaCommand::Offer { method, sdp } => match dialog {
                Some(d) => {
                    let edits = self.take_edits(Outgoing::Offer);
                    let sdp = edits.sdp.apply(&sdp);
                    flatten(
                        self.driver
                            .command(move |ep, now| {
                                let body = Some(Body::new(SDP, sdp));
                                let r = match method {
                                    OfferMethod::Update => {
                                        ep.edit_next_request(Method::Update, edits.headers);
                                        ep.update(now, d, body)
                                    }
                                    OfferMethod::Invite => {
                                        ep.edit_next_request(Method::Invite, edits.headers);
                                        ep.reinvite(now, d, body)
                                    }
                                };
                                ep.clear_next_edits();
                                r
                            })
                            .await,
                    )
                }
                None => Err("no dialog for the offer".into()),
            },
            UaCommand::Cancel => match dialog {
                Some(d) => flatten(self.driver.command(move |ep, now| ep.cancel(now, d)).await),
                None => Ok(()),
            },
            UaCommand::Bye => match dialog {
                Some(d) => {
                    let edits = self.take_edits(Outgoing::Bye).headers;
                    flatten(
                        self.driver
                            .command(move |ep, now| {
                                // A BYE deferred until the ACK of our 2xx (RFC 3261 §15)
                                // goes out later, without the edits.
                                ep.edit_next_request(Method::Bye, edits);
                                let r = ep.bye(now, d);
                                ep.clear_next_edits();
                                r
                            })
                            .await,
                    )
                }
                None => {
                    self.emit(slot, UaEvent::HangupDone);
                    Ok(())
                }
            },
            UaCommand::Register { expires } => {
                let r = flatten(
                    self.driver
                        .command(move |ep, now| {
                            if expires == 0 {
                                ep.unregister(now)
                            } else {
                                ep.register(now)
                            }
                        })
                        .await,
                );
                if let Err(reason) = &r {
                    self.emit(
                        MAIN,
                        UaEvent::RegisterFailed {
                            status: 400,
                            reason: reason.clone(),
                            local: true,
                        },
                    );
                }
                r
            }
        };
        if let Err(e) = result {
            tracing::warn!("SIP command refused: {e}");
        }
    }

    pub(super) async fn respond(
        &self,
        incoming: IncomingId,
        status: u16,
        sdp: Option<String>,
        headers: Option<HeaderEdits>,
    ) -> Result<(), String> {
        flatten(
            self.driver
                .command(move |ep, now| {
                    if let Some(h) = headers {
                        ep.edit_next_response(h);
                    }
                    let r = ep.respond(now, incoming, status, sdp.map(|s| Body::new(SDP, s)));
                    ep.clear_next_edits();
                    r
                })
                .await,
        )
    }
}
