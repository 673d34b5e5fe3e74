//! RFC 5626 §4.4.2 STUN keepalives on the UDP flow: the ice crate's Binding request and its
//! client transaction (RFC 8489 §6.2.1 retransmissions), with a shortened schedule.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::stun::{
    Class, ClientTransaction, Message, Method, Outcome, RetransmitConfig, TransactionId,
};
use sip::endpoint::FlowId;

/// RFC 8489 §6.2.1 schedule, shortened: sends at 0, 0.5, 1.5 and 3.5 s (Rc = 4), gives up
/// at 7.5 s (Rm = 8): a keepalive that needs longer has failed for NAT purposes.
const KEEPALIVE_SCHEDULE: RetransmitConfig = RetransmitConfig {
    rto: Duration::from_millis(500),
    max_sends: 4,
    last_wait_multiplier: 8,
};

/// One Binding request in flight on a registration flow.
#[derive(Debug)]
pub(crate) struct StunProbe {
    pub flow: FlowId,
    pub dest: SocketAddr,
    transaction: ClientTransaction,
}

/// What a probe came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ProbeResult {
    /// A response: the mapped address of a success, `None` for an error response.
    Answered(Option<SocketAddr>),
    /// No response within the schedule.
    GaveUp,
}

impl StunProbe {
    /// A probe on `flow` towards `dest` (the driver has one UDP socket, so the endpoint's
    /// `local` is that socket); its first send is due at `now`.
    pub fn new(flow: FlowId, dest: SocketAddr, now: Instant) -> StunProbe {
        let request = Message::new(
            Class::Request,
            Method::Binding,
            TransactionId::random(&mut rand::rng()),
        );
        // FINGERPRINT, so that the server can tell STUN from SIP on its port.
        let encoded = request.encode(None, true);
        StunProbe {
            flow,
            dest,
            transaction: ClientTransaction::new(&request, encoded, now, KEEPALIVE_SCHEDULE, false),
        }
    }

    /// The request bytes to send now (first send or a due retransmission).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transaction.poll_transmit()
    }

    /// When the next resend or the give-up is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.transaction.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.transaction.handle_timeout(now);
    }

    /// Whether `bytes` answer this probe; feeds them to the transaction when they do.
    pub fn handle_datagram(&mut self, bytes: &[u8]) -> bool {
        match Message::decode(bytes) {
            Ok(message) => self.transaction.handle_response(message).is_ok(),
            Err(_) => false,
        }
    }

    /// The outcome, once the transaction has ended (taken once).
    pub fn poll_result(&mut self) -> Option<ProbeResult> {
        match self.transaction.poll_outcome()? {
            Outcome::Response(m) if m.class == Class::Success => {
                Some(ProbeResult::Answered(m.mapped_address()))
            }
            Outcome::Response(_) => Some(ProbeResult::Answered(None)),
            _ => Some(ProbeResult::GaveUp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(now: Instant) -> StunProbe {
        StunProbe::new(FlowId(1), "192.0.2.1:5060".parse().unwrap(), now)
    }

    #[test]
    fn sends_at_0_05_15_35_and_gives_up_at_75_seconds() {
        let t0 = Instant::now();
        let mut p = probe(t0);
        let mut sends = Vec::new();
        let mut now = t0;
        loop {
            while p.poll_transmit().is_some() {
                sends.push(now.duration_since(t0).as_millis());
            }
            if let Some(result) = p.poll_result() {
                assert_eq!(result, ProbeResult::GaveUp);
                break;
            }
            now = p.deadline().expect("a running probe has a deadline");
            p.handle_timeout(now);
        }
        assert_eq!(sends, [0, 500, 1500, 3500]);
        assert_eq!(now.duration_since(t0), Duration::from_millis(7500));
    }

    #[test]
    fn a_success_gives_the_mapped_address_and_a_stranger_is_ignored() {
        let t0 = Instant::now();
        let mut p = probe(t0);
        let request = Message::decode(&p.poll_transmit().unwrap()).unwrap();
        let stranger = Message::new(
            Class::Success,
            Method::Binding,
            TransactionId::random(&mut rand::rng()),
        );
        assert!(!p.handle_datagram(&stranger.encode(None, true)));
        let mapped: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let response = Message::new(Class::Success, Method::Binding, request.transaction_id)
            .with(ice::stun::Attribute::XorMappedAddress(mapped));
        assert!(p.handle_datagram(&response.encode(None, true)));
        assert_eq!(p.poll_result(), Some(ProbeResult::Answered(Some(mapped))));
    }
}
