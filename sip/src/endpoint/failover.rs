//! RFC 3263 §4.3: when a request to one DNS target times out, meets a transport error or
//! gets 503, the same request goes to the next target as a new transaction.

use std::time::Instant;

use super::client::Purpose;
use super::dialog::DialogState;
use super::redirect::redirected_invite;
use super::types::{DialogId, SipEvent};
use super::Endpoint;

impl Endpoint {
    /// Sends our unanswered INVITE to the dialog's next hop, if any is left: the same
    /// Request-URI and body, a new branch, CSeq + 1 (as for a redirect, RFC 3261
    /// §8.1.3.4). Returns whether it went out.
    pub(crate) fn invite_failover(&mut self, now: Instant, dialog: DialogId, status: u16) -> bool {
        loop {
            let Some(d) = self.dialogs.get_mut(&dialog) else {
                return false;
            };
            if d.cancel_requested || d.state == DialogState::Confirmed {
                return false;
            }
            let Some(previous) = d.invite.clone() else {
                return false;
            };
            let Some(hop) = d.failover.pop_front() else {
                return false;
            };
            let Some(cseq) = d.local_cseq.checked_add(1) else {
                return false;
            };
            let from = d.hop.dest;
            let request = redirected_invite(&previous, &previous.uri, &d.remote_uri, cseq);
            match self.send_request(now, request, hop, Purpose::Invite(dialog)) {
                Ok(key) => {
                    self.invite_restarted(dialog, key, cseq);
                    tracing::info!(status, %from, to = %hop.dest, "INVITE failed over to the next DNS target");
                    self.emit(SipEvent::FailedOver {
                        status,
                        from,
                        to: hop.dest,
                    });
                    return true;
                }
                Err(e) => {
                    tracing::info!(dest = %hop.dest, error = %e, "failover target not usable");
                }
            }
        }
    }
}
