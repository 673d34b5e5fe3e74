//! Blind transfer (RFC 3515) in the phone, both ways. As transferor (`transfer URI`): REFER
//! in the selected call's dialog, then its NOTIFYs; a final 2xx sipfrag hangs the call up, a
//! failure keeps it. As transferee: a REFER is accepted (202), the new call to the Refer-To
//! target reports its progress in NOTIFYs, and the transferor ends the old call.

use std::time::{Duration, Instant};

use serde_json::json;

use super::calls::Transferee;
use super::phone::Phone;
use super::Reply;
use crate::call::control::CallCommand;
use crate::signalling::transfer::{TransferCommand, TransferEvent};

/// How long a transfer may wait for its final NOTIFY. RFC 3515 §2.4.4 leaves the implicit
/// subscription's life to the notifier, and the sip crate keeps it until a `terminated`
/// NOTIFY: the phone bounds the wait, so a transferee that never reports cannot leave the
/// transfer pending for ever.
const FINAL_NOTIFY_WAIT: Duration = Duration::from_secs(60);

impl Phone {
    /// `transfer URI`: REFER in the selected call's dialog (RFC 3515 §2.4.1).
    pub(super) async fn transfer(&mut self, uri: String) -> Result<Reply, String> {
        let call = self.calls.selected_mut()?;
        if call.established.is_none() || matches!(call.state.as_str(), "ended" | "failed") {
            return Err(format!(
                "call {}: only an established call can be transferred",
                call.number
            ));
        }
        if call.transfer_since.is_some() {
            return Err(format!(
                "call {}: a transfer is already under way",
                call.number
            ));
        }
        call.transfer_since = Some(Instant::now());
        let (n, account, slot) = (call.number, call.account, call.slot);
        self.accounts[account]
            .dialer
            .transfer(
                slot,
                TransferCommand::Refer {
                    target: uri.clone(),
                },
            )
            .await;
        Ok(Reply {
            call: Some(n),
            text: format!("call {n}: REFER to {uri} sent"),
        })
    }

    pub(super) async fn on_transfer(&mut self, account: usize, event: TransferEvent) {
        let slot = match &event {
            TransferEvent::ReferAnswered { slot, .. }
            | TransferEvent::Progress { slot, .. }
            | TransferEvent::BadNotify { slot, .. }
            | TransferEvent::Incoming { slot, .. }
            | TransferEvent::NotifyFailed { slot, .. }
            | TransferEvent::Refused { slot, .. } => *slot,
        };
        let Some(n) = self.calls.by_slot(account, slot) else {
            tracing::info!("transfer event for no call: {event:?}");
            if let TransferEvent::Incoming { id, .. } = event {
                let dialer = &self.accounts[account].dialer;
                dialer
                    .transfer(slot, TransferCommand::Reject { id, status: 603 })
                    .await;
            }
            return;
        };
        match event {
            TransferEvent::ReferAnswered { status, .. } if (200..300).contains(&status) => {
                self.say_transfer(
                    n,
                    "accepted",
                    Some(status),
                    "the peer is calling the target",
                );
            }
            TransferEvent::ReferAnswered { status, .. } => {
                self.end_transfer(n);
                self.say_transfer(n, "failed", Some(status), "REFER refused; the call goes on");
            }
            // RFC 3515 §2.4.5: the sipfrag status line of the transferee's new call.
            TransferEvent::Progress {
                status,
                reason,
                terminated,
                ..
            } => {
                if !terminated {
                    self.say_transfer(n, "progress", Some(status), &reason);
                } else if (200..300).contains(&status) {
                    self.end_transfer(n);
                    self.say_transfer(n, "succeeded", Some(status), "hanging up our call");
                    let _ = self.send_to(n, CallCommand::HangUp);
                } else {
                    self.end_transfer(n);
                    let why = format!("{reason}; the call goes on");
                    self.say_transfer(n, "failed", Some(status), &why);
                }
            }
            TransferEvent::BadNotify { detail, .. } => {
                self.say_transfer(n, "bad_notify", None, &detail);
            }
            TransferEvent::NotifyFailed { status, .. } => {
                self.say_transfer(n, "notify_failed", Some(status), "our NOTIFY was refused");
            }
            TransferEvent::Refused { reason, .. } => {
                self.end_transfer(n);
                self.say_transfer(n, "failed", None, &reason);
            }
            TransferEvent::Incoming { id, refer_to, .. } => {
                self.transferred(account, n, slot, id, &refer_to).await;
            }
        }
    }

    /// The peer of call `n` asks us to call `refer_to` (RFC 3515 §2.4.2).
    async fn transferred(&mut self, account: usize, n: u32, slot: u64, id: u64, refer_to: &str) {
        // A blind transfer: URI headers (`?Replaces=…`, RFC 3891) are not taken.
        let target = refer_to.split('?').next().unwrap_or(refer_to).to_owned();
        let dialer_refuse = |status| TransferCommand::Reject { id, status };
        if target.parse::<sip::message::Uri>().is_err() {
            let d = &self.accounts[account].dialer;
            d.transfer(slot, dialer_refuse(400)).await;
            self.say_transfer(n, "refused", Some(400), &format!("bad Refer-To {refer_to}"));
            return;
        }
        let dialer = &self.accounts[account].dialer;
        dialer.transfer(slot, TransferCommand::Accept { id }).await;
        // RFC 3515 §2.4.4: the first NOTIFY right after the 202.
        dialer
            .transfer(
                slot,
                TransferCommand::Notify {
                    id,
                    status: 100,
                    terminated: false,
                },
            )
            .await;
        let transferee = Transferee {
            old_call: n,
            old_slot: slot,
            refer_id: id,
            last_status: 100,
        };
        match self.place_call(account, &target, Some(transferee)).await {
            Ok(m) => {
                self.calls.current = Some(m);
                let what = format!("the peer transfers us to {target}: calling it as call {m}");
                self.say_transfer(n, "requested", None, &what);
            }
            Err(e) => {
                self.notify(account, slot, id, 503, true).await;
                self.say_transfer(n, "failed", Some(503), &e);
            }
        }
    }

    /// The new call `m` of a transfer we carry out changed state: tell the transferor
    /// (RFC 3515 §2.4.5: 180 while ringing, 200 once answered, the failure otherwise).
    pub(super) async fn transferee_progress(&mut self, m: u32, state: &str, status: Option<u16>) {
        let Some(call) = self.calls.calls.get(&m) else {
            return;
        };
        let Some(t) = call.transferee else {
            return;
        };
        let (status, terminated) = match state {
            "ringing" => (status.unwrap_or(180), false),
            "established" => (200, true),
            "failed" => (status.unwrap_or(500), true),
            _ => return,
        };
        if status == t.last_status {
            return;
        }
        let account = call.account;
        if let Some(c) = self.calls.calls.get_mut(&m) {
            c.transferee = (!terminated).then_some(Transferee {
                last_status: status,
                ..t
            });
        }
        self.notify(account, t.old_slot, t.refer_id, status, terminated)
            .await;
        let what = format!("NOTIFY SIP/2.0 {status} sent about call {m}");
        self.say_transfer(t.old_call, "notified", Some(status), &what);
    }

    /// Call `m` ended before its transfer was reported as done: the final NOTIFY says it
    /// failed (487 Request Terminated).
    pub(super) async fn transferee_finished(&mut self, m: u32) {
        let Some(call) = self.calls.calls.get_mut(&m) else {
            return;
        };
        let Some(t) = call.transferee.take() else {
            return;
        };
        let account = call.account;
        self.notify(account, t.old_slot, t.refer_id, 487, true)
            .await;
    }

    async fn notify(&self, account: usize, slot: u64, id: u64, status: u16, terminated: bool) {
        let command = TransferCommand::Notify {
            id,
            status,
            terminated,
        };
        self.accounts[account].dialer.transfer(slot, command).await;
    }

    fn end_transfer(&mut self, n: u32) {
        if let Some(c) = self.calls.calls.get_mut(&n) {
            c.transfer_since = None;
        }
    }

    /// A transfer without its final NOTIFY for [`FINAL_NOTIFY_WAIT`] is given up.
    pub(super) fn check_transfer_timeouts(&mut self) {
        let late: Vec<u32> = self
            .calls
            .calls
            .values()
            .filter(|c| {
                c.transfer_since
                    .is_some_and(|t| t.elapsed() > FINAL_NOTIFY_WAIT)
            })
            .map(|c| c.number)
            .collect();
        for n in late {
            self.end_transfer(n);
            let why = format!(
                "no final NOTIFY within {} s; the call goes on",
                FINAL_NOTIFY_WAIT.as_secs()
            );
            self.say_transfer(n, "failed", None, &why);
        }
    }

    /// A transfer line for the console and a `transfer` event for the control clients.
    fn say_transfer(&self, n: u32, state: &str, status: Option<u16>, detail: &str) {
        let status_text = status.map(|s| format!(" {s}")).unwrap_or_default();
        self.out.say(&format!(
            "call {n}: transfer {state}{status_text}: {detail}"
        ));
        self.out.phone_event(json!({
            "event": "transfer",
            "call": n,
            "state": state,
            "status": status,
            "detail": detail,
        }));
    }
}
