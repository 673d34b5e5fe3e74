//! The calls' commands, as endpoint calls on the driver (one slot's dialog at a time).

use sip::endpoint::{Body, IncomingId};

use super::{flatten, Bridge, SlotId, MAIN, SDP};
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
                let r = self
                    .driver
                    .command(move |ep, now| ep.invite(now, &target, Some(Body::new(SDP, sdp))))
                    .await;
                match r {
                    Ok(Ok(d)) => {
                        if let Some(s) = self.slot_mut(slot) {
                            s.dialog = Some(d);
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
                    if status >= 200 {
                        if let Some(s) = self.slot_mut(slot) {
                            s.incoming_call = None;
                        }
                    }
                    self.respond(incoming, status, sdp).await
                }
                None => Err("no incoming INVITE to answer".into()),
            },
            UaCommand::AnswerOffer { status, sdp, .. } => {
                match self.slot_mut(slot).and_then(|s| s.incoming_offer.take()) {
                    Some(incoming) => self.respond(incoming, status, sdp).await,
                    None => Err("no incoming offer to answer".into()),
                }
            }
            UaCommand::Offer { method, sdp } => match dialog {
                Some(d) => flatten(
                    self.driver
                        .command(move |ep, now| {
                            let body = Some(Body::new(SDP, sdp));
                            match method {
                                OfferMethod::Update => ep.update(now, d, body),
                                OfferMethod::Invite => ep.reinvite(now, d, body),
                            }
                        })
                        .await,
                ),
                None => Err("no dialog for the offer".into()),
            },
            UaCommand::Cancel => match dialog {
                Some(d) => flatten(self.driver.command(move |ep, now| ep.cancel(now, d)).await),
                None => Ok(()),
            },
            UaCommand::Bye => match dialog {
                Some(d) => flatten(self.driver.command(move |ep, now| ep.bye(now, d)).await),
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
    ) -> Result<(), String> {
        flatten(
            self.driver
                .command(move |ep, now| {
                    ep.respond(now, incoming, status, sdp.map(|s| Body::new(SDP, s)))
                })
                .await,
        )
    }
}
