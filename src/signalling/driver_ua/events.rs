//! Endpoint events, routed to the slot owning their dialog as [`UaEvent`]s; new INVITEs
//! get a slot or 486.

use std::net::SocketAddr;

use sip::endpoint::{Body, DialogId, IncomingId, SipEvent, TerminationReason};
use tokio::sync::mpsc;

use super::failure::{self, LOCAL_TIMEOUT};
use super::{sdp_of, Bridge, Slot, SlotId, MAIN};
use crate::signalling::{OfferMethod, UaEvent, UaHandle};

impl Bridge {
    /// The slot a new incoming call goes to, or None when we are busy (RFC 3261 §21.4.24:
    /// 486 beyond `max_calls`).
    fn slot_for_incoming(&mut self) -> Option<SlotId> {
        // A handle opened to wait for a call takes it (a load run's callee); their number
        // bounds these calls.
        while let Some(id) = self.waiting_for_calls.pop_front() {
            if self
                .slots
                .get(&id)
                .is_some_and(|s| !s.is_gone() && s.dialog.is_none())
            {
                return Some(id);
            }
        }
        if self.incoming.is_none() {
            // A plain UA: its one slot, when free.
            let free = self.slots.get(&MAIN).is_some_and(|s| s.dialog.is_none());
            return (free && self.max_calls > 0).then_some(MAIN);
        }
        self.sweep_gone_slots();
        let incoming = self.incoming.as_ref()?;
        if self.busy_calls() >= self.max_calls {
            return None;
        }
        let id = self
            .slot_ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (ev_tx, ev_rx) = mpsc::channel(super::CALL_EVENT_QUEUE);
        let handle = UaHandle {
            local: self.local,
            slot: id,
            slot_ids: self.slot_ids.clone(),
            commands: self.commands.clone(),
            events: ev_rx,
            stopped: None,
        };
        // A full queue of handles nobody took is a UA at its limit: 486 like any other.
        if incoming.try_send(handle).is_err() {
            return None;
        }
        self.slots.insert(id, Slot::new(ev_tx, &self.backlogged));
        Some(id)
    }

    pub(super) async fn on_event(&mut self, event: SipEvent) {
        match event {
            SipEvent::IncomingCall {
                incoming,
                dialog,
                from,
                body,
                peer_allows_update,
                ..
            } => {
                let Some(slot) = self.slot_for_incoming() else {
                    // RFC 3261 §21.4.24: busy beyond --max-calls.
                    let _ = self.respond(incoming, 486, None, None).await;
                    return;
                };
                self.bind_dialog(slot, dialog);
                if let Some(s) = self.slot_mut(slot) {
                    s.incoming_call = Some(incoming);
                    s.emit(UaEvent::Incoming {
                        from,
                        sdp: sdp_of(body).unwrap_or_default(),
                        peer_allows_update,
                    });
                }
            }
            SipEvent::CallProgress { status, dialog, .. } => {
                self.emit(self.slot_of(dialog), UaEvent::Provisional { status })
            }
            SipEvent::CallRedirected {
                status,
                from,
                to,
                dialog,
            } => self.emit(
                self.slot_of(dialog),
                UaEvent::Redirected { status, from, to },
            ),
            SipEvent::CallAnswered {
                body,
                peer_allows_update,
                dialog,
                ..
            } => {
                let slot = self.slot_of(dialog);
                if let Some(s) = self.slot_mut(slot) {
                    s.our_invite_pending = false;
                    s.emit(UaEvent::Answered {
                        sdp: sdp_of(body).unwrap_or_default(),
                        peer_allows_update,
                    });
                }
            }
            SipEvent::AckReceived { dialog, .. } => self.emit(self.slot_of(dialog), UaEvent::Acked),
            SipEvent::IncomingReinvite {
                incoming,
                body,
                dialog,
            } => self.offer_received(dialog, incoming, OfferMethod::Invite, body),
            SipEvent::IncomingUpdate {
                incoming,
                body,
                dialog,
            } => self.offer_received(dialog, incoming, OfferMethod::Update, body),
            SipEvent::ReinviteResponse {
                status,
                body,
                dialog,
            } => self.offer_answered(dialog, OfferMethod::Invite, status, body),
            SipEvent::UpdateResponse {
                status,
                body,
                dialog,
            } => self.offer_answered(dialog, OfferMethod::Update, status, body),
            SipEvent::CancelReceived { dialog } => {
                let slot = self.slot_of(dialog);
                match self.owner(dialog) {
                    Some(_) => {
                        if let Some(s) = self.unbind_dialog(dialog) {
                            s.emit(UaEvent::RemoteHangup { cancelled: true });
                        }
                    }
                    // A plain UA reports every dialog event to its one call.
                    None => self.emit(slot, UaEvent::RemoteHangup { cancelled: true }),
                }
            }
            SipEvent::ByeReceived { dialog } => self.emit(
                self.slot_of(dialog),
                UaEvent::RemoteHangup { cancelled: false },
            ),
            SipEvent::DialogTerminated { reason, dialog } => self.dialog_terminated(dialog, reason),
            SipEvent::Registered {
                expires,
                public_address,
                ..
            } => self.emit(
                MAIN,
                UaEvent::Registered {
                    expires,
                    public_address: public_address.map(|a: SocketAddr| a),
                },
            ),
            SipEvent::FlowFailed {
                reason,
                retry_after,
                ..
            } => {
                // RFC 5626 §4.5: said on stderr, the endpoint re-registers on its own.
                eprintln!(
                    "icephone: registration flow failed ({reason:?}); re-registering in {:.1} s (RFC 5626 §4.5)",
                    retry_after.as_secs_f64()
                );
            }
            SipEvent::Unregistered => self.emit(
                MAIN,
                UaEvent::Registered {
                    expires: 0,
                    public_address: None,
                },
            ),
            SipEvent::RegistrationFailed { reason } => {
                let (status, reason, local) = failure::registration(&reason);
                self.emit(
                    MAIN,
                    UaEvent::RegisterFailed {
                        status,
                        reason,
                        local,
                    },
                )
            }
            SipEvent::FailedOver { status, from, to } => {
                let why = if status == 503 {
                    "503 Service Unavailable"
                } else {
                    "no answer (timeout or transport error)"
                };
                eprintln!(
                    "icephone: {why} from {from}; trying the next DNS target {to} (RFC 3263 §4.3)"
                );
            }
            SipEvent::Traced {
                outgoing,
                transport,
                local,
                remote,
                bytes,
            } => {
                if let Some(control) = &self.control {
                    let _ = control.traced.send(crate::signalling::control::Traced {
                        at: std::time::SystemTime::now(),
                        outgoing,
                        transport,
                        local,
                        remote,
                        bytes,
                    });
                }
            }
            e @ (SipEvent::IncomingRefer { .. }
            | SipEvent::ReferResponse { .. }
            | SipEvent::TransferProgress { .. }
            | SipEvent::BadTransferNotify { .. }
            | SipEvent::TransferNotifyFailed { .. }) => self.on_refer_event(e).await,
            other => tracing::debug!("SIP event not used by calls: {other:?}"),
        }
    }

    /// The final response to the in-dialog offer of `dialog`'s call.
    fn offer_answered(
        &mut self,
        dialog: DialogId,
        method: OfferMethod,
        status: u16,
        body: Option<Body>,
    ) {
        let slot = self.slot_of(dialog);
        self.emit(
            slot,
            UaEvent::OfferAnswered {
                method,
                status,
                sdp: sdp_of(body),
            },
        );
    }

    fn offer_received(
        &mut self,
        dialog: DialogId,
        incoming: IncomingId,
        method: OfferMethod,
        body: Option<Body>,
    ) {
        let slot = self.slot_of(dialog);
        if let Some(s) = self.slot_mut(slot) {
            s.incoming_offer = Some(incoming);
            s.emit(UaEvent::OfferReceived {
                method,
                sdp: sdp_of(body).unwrap_or_default(),
            });
        }
    }

    fn dialog_terminated(&mut self, dialog: DialogId, reason: TerminationReason) {
        // Only a dialog a call owns (a 486'd INVITE's dialog, say, belongs to none).
        let Some(s) = self.unbind_dialog(dialog) else {
            return;
        };
        let pending = std::mem::take(&mut s.our_invite_pending);
        match reason {
            TerminationReason::LocalBye | TerminationReason::Shutdown => {
                s.emit(UaEvent::HangupDone)
            }
            TerminationReason::Rejected { status, reason } if pending => s.emit(UaEvent::Failed {
                status,
                reason,
                local: false,
            }),
            TerminationReason::Cancelled if pending => s.emit(UaEvent::Failed {
                status: 487,
                reason: "Request Terminated (cancelled)".into(),
                local: false,
            }),
            // RFC 3261 §8.1.3.1: Timer B or a transport error is a 408 nobody sent.
            TerminationReason::Timeout if pending => s.emit(UaEvent::Failed {
                status: LOCAL_TIMEOUT,
                reason: "Request Timeout (no response within 64*T1, Timer B)".into(),
                local: true,
            }),
            TerminationReason::TransportError(f) if pending => s.emit(UaEvent::Failed {
                status: LOCAL_TIMEOUT,
                reason: failure::transport(&f),
                local: true,
            }),
            // RemoteBye and CancelReceived were reported already.
            TerminationReason::RemoteBye | TerminationReason::Cancelled => {}
            TerminationReason::NoAck => s.emit(UaEvent::DialogEnded {
                reason: "no ACK for our 200 within 64*T1 (RFC 3261 §13.3.1.4): BYE sent".into(),
            }),
            TerminationReason::DialogGone { status } => s.emit(UaEvent::DialogEnded {
                reason: format!(
                    "the dialog is gone: in-dialog request got {status} (RFC 5057 §5.1)"
                ),
            }),
            _ => s.emit(UaEvent::RemoteHangup { cancelled: false }),
        }
    }
}
