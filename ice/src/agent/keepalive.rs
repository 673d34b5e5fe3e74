//! Keepalives (RFC 8445 §11): a STUN Binding Indication on a selected pair when no data was
//! sent on it for Tr (≥ 15 s), so NAT bindings stay open while media is idle.

use std::time::Instant;

use super::IceAgent;
use crate::stun::{Class, Message, Method};

impl IceAgent {
    pub(super) fn drive_keepalives(&mut self, now: Instant) {
        let tr = self.config.keepalive_interval;
        for index in 0..self.components.len() {
            let Some(c) = self.components.get(index) else {
                continue;
            };
            let (Some(due), Some(path)) = (c.next_keepalive, c.selected.clone()) else {
                continue;
            };
            // Data sent since the keepalive was scheduled pushes it back (only while no data
            // flows does the agent send keepalives).
            let due = c.last_data_sent.map_or(due, |sent| due.max(sent + tr));
            if now < due {
                if let Some(c) = self.components.get_mut(index) {
                    c.next_keepalive = Some(due);
                }
                continue;
            }
            // RFC 8445 §11: a Binding Indication, unauthenticated, FINGERPRINT only.
            let tid = self.next_transaction_id();
            let bytes = Message::new(Class::Indication, Method::Binding, tid).encode(None, true);
            tracing::trace!(component = index + 1, to = %path.remote.address, "keepalive");
            self.send_queued(now, path.base, path.remote.address, bytes);
            if let Some(c) = self.components.get_mut(index) {
                c.next_keepalive = Some(now + tr);
            }
        }
    }
}
