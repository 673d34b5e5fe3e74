//! Blind transfer (RFC 3515) on the bridge: the phone's [`TransferCommand`]s become endpoint
//! calls in the slot's dialog; the endpoint's REFER/NOTIFY events go back to the phone as
//! [`TransferEvent`]s tagged with the slot. Without a phone (`transfers` is None) an
//! incoming REFER is declined at once, as before.

use sip::endpoint::{ReferId, SipEvent};

use super::{flatten, Bridge, SlotId};
use crate::signalling::transfer::{TransferCommand, TransferEvent};

impl Bridge {
    pub(super) async fn on_transfer_command(&mut self, slot: SlotId, command: TransferCommand) {
        let dialog = self.slots.get(&slot).and_then(|s| s.dialog);
        let Some(dialog) = dialog else {
            self.transfer_event(TransferEvent::Refused {
                slot,
                reason: "the call has no dialog (not established, or ended)".into(),
            });
            return;
        };
        let result = match command {
            TransferCommand::Refer { target } => flatten(
                self.driver
                    .command(move |ep, now| ep.refer(now, dialog, &target).map(|_| ()))
                    .await,
            ),
            TransferCommand::Accept { id } => flatten(
                self.driver
                    .command(move |ep, now| ep.accept_refer(now, ReferId(id)))
                    .await,
            ),
            TransferCommand::Reject { id, status } => flatten(
                self.driver
                    .command(move |ep, now| ep.reject_refer(now, ReferId(id), status))
                    .await,
            ),
            TransferCommand::Notify {
                id,
                status,
                terminated,
            } => flatten(
                self.driver
                    .command(move |ep, now| {
                        ep.notify_transfer(now, dialog, ReferId(id), status, terminated)
                    })
                    .await,
            ),
        };
        if let Err(reason) = result {
            self.transfer_event(TransferEvent::Refused { slot, reason });
        }
    }

    pub(super) async fn on_refer_event(&mut self, event: SipEvent) {
        let transfer = match event {
            SipEvent::IncomingRefer {
                dialog,
                id,
                refer_to,
                referred_by,
            } => {
                if self.transfers.is_none() {
                    // Calls outside the phone console do not perform transfers: decline at
                    // once rather than leave the peer waiting 32 s for a 408 (RFC 3515
                    // §2.4.2: a refusal is any final error).
                    tracing::info!(%refer_to, "transfer requested by the peer: declined");
                    let _ = self
                        .driver
                        .command(move |ep, now| ep.reject_refer(now, id, 603))
                        .await;
                    return;
                }
                TransferEvent::Incoming {
                    slot: self.slot_of(dialog),
                    id: id.0,
                    refer_to,
                    referred_by,
                }
            }
            SipEvent::ReferResponse { dialog, status, .. } => TransferEvent::ReferAnswered {
                slot: self.slot_of(dialog),
                status,
            },
            SipEvent::TransferProgress {
                dialog,
                status,
                reason,
                terminated,
                ..
            } => TransferEvent::Progress {
                slot: self.slot_of(dialog),
                status,
                reason,
                terminated,
            },
            SipEvent::BadTransferNotify { dialog, detail, .. } => TransferEvent::BadNotify {
                slot: self.slot_of(dialog),
                detail,
            },
            SipEvent::TransferNotifyFailed { dialog, status, .. } => TransferEvent::NotifyFailed {
                slot: self.slot_of(dialog),
                status,
            },
            other => {
                tracing::debug!("not a transfer event: {other:?}");
                return;
            }
        };
        self.transfer_event(transfer);
    }

    fn transfer_event(&self, event: TransferEvent) {
        match &self.transfers {
            Some(tx) => {
                let _ = tx.send(event);
            }
            None => tracing::debug!("transfer event without a phone: {event:?}"),
        }
    }
}
