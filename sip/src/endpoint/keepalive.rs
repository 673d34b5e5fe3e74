//! CRLFCRLF keepalives on flows that RFC 5626 outbound does not cover: every dialog's flow,
//! registered or not (the registration's flow without outbound is in `outbound.rs`).
//!
//! A NAT drops a UDP binding after ~30 s without outbound traffic; with it go the peer's
//! in-dialog requests (its BYE) and, for a registration, every incoming INVITE. RFC 5626
//! §3.5.1 defines CRLFCRLF as the keepalive of connection-oriented flows; on UDP, Asterisk,
//! Kamailio and pjsip accept and ignore it too (pjsua's --ka-interval sends it), and it is
//! smaller than a STUN request a server without outbound would not answer.

use std::time::Instant;

use super::types::DialogId;
use super::Endpoint;

/// The keepalive payload (RFC 5626 §3.5.1: the "ping").
pub(crate) const CRLFCRLF: &[u8] = b"\r\n\r\n";

impl Endpoint {
    /// Sends the dialog's keepalive if it is due, and schedules the next.
    pub(crate) fn dialog_keepalive(&mut self, now: Instant, dialog: DialogId) {
        let Some(interval) = self.config.keepalive else {
            return;
        };
        let hop = {
            let Some(d) = self.dialogs.get(&dialog) else {
                return;
            };
            if d.keepalive_at.is_none_or(|t| t > now) {
                return;
            }
            d.next_hop(|transport, dest| self.hop_to(transport, dest))
        };
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.keepalive_at = Some(now + interval);
        }
        tracing::trace!(dest = %hop.dest, "dialog keepalive");
        self.send_on(&hop, CRLFCRLF.to_vec());
    }
}
