//! RFC 5626 §4.4.2 STUN keepalives on the UDP flow, with the ice crate's codec.

use std::net::SocketAddr;
use std::time::Duration;

use ice::stun::{Class, Message, Method, TransactionId};
use sip::endpoint::FlowId;
use tokio::time::Instant;

/// RFC 8489 §6.2.1 style schedule, shortened: sends at 0, 0.5, 1.5 and 3.5 s, gives up
/// at 7.5 s (a keepalive that needs longer has failed for NAT purposes).
const RESEND_AFTER: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_millis(1500),
    Duration::from_millis(3500),
];
const GIVE_UP_AFTER: Duration = Duration::from_millis(7500);

/// One Binding request in flight.
#[derive(Debug)]
pub(crate) struct StunProbe {
    pub flow: FlowId,
    pub dest: SocketAddr,
    pub id: TransactionId,
    pub started: Instant,
    pub sent: usize,
}

impl StunProbe {
    /// A probe on `flow` towards `dest` (the driver has one UDP socket, so the endpoint's
    /// `local` is that socket).
    pub fn new(flow: FlowId, dest: SocketAddr, now: Instant) -> StunProbe {
        StunProbe {
            flow,
            dest,
            id: TransactionId::random(&mut rand::rng()),
            started: now,
            sent: 0,
        }
    }

    /// The request bytes (FINGERPRINT added so the server can tell STUN from SIP).
    pub fn request(&self) -> Vec<u8> {
        Message::new(Class::Request, Method::Binding, self.id).encode(None, true)
    }

    /// When the next resend or the give-up is due.
    pub fn deadline(&self) -> Instant {
        match RESEND_AFTER.get(self.sent.saturating_sub(1)) {
            Some(after) => self.started + *after,
            None => self.started + GIVE_UP_AFTER,
        }
    }

    pub fn gave_up(&self, now: Instant) -> bool {
        self.sent > RESEND_AFTER.len() && now >= self.started + GIVE_UP_AFTER
    }

    /// The mapped address when `bytes` is the success response to this probe.
    pub fn answer(&self, bytes: &[u8]) -> Option<Option<SocketAddr>> {
        let message = Message::decode(bytes).ok()?;
        if message.transaction_id != self.id || message.method != Method::Binding {
            return None;
        }
        match message.class {
            Class::Success => Some(message.mapped_address()),
            Class::Error => Some(None),
            _ => None,
        }
    }
}
