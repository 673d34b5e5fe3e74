//! Consent freshness (RFC 7675): on each selected pair an authenticated Binding request every
//! 5 s on average (randomised 0.8–1.2, §5.1); without a response for 30 s consent is lost,
//! `ConsentLost` is emitted and `send_data` refuses for that component.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::events::{DropReason, Handled, IceEvent, IceState};
use super::{IceAgent, Txn, TxnKind};
use crate::stun::{
    verify_integrity, Attribute, Class, ClientTransaction, IntegrityKey, Message, Method,
    RetransmitConfig,
};

impl IceAgent {
    /// RFC 7675 §5.1: the interval, uniformly randomised in [0.8, 1.2] × the configured one.
    pub(super) fn consent_jitter(&mut self) -> Duration {
        let factor: f64 = self.rng.random_range(0.8..=1.2);
        self.config.consent.interval.mul_f64(factor)
    }

    pub(super) fn drive_consent(&mut self, now: Instant) {
        if !self.config.consent.enabled {
            return;
        }
        for index in 0..self.components.len() {
            let component = (index + 1) as u16;
            let Some(c) = self.components.get(index) else {
                continue;
            };
            if c.consent_lost {
                continue;
            }
            let (Some(path), Some(expires), Some(next)) =
                (c.selected.clone(), c.consent_expires, c.next_consent)
            else {
                continue;
            };
            if now >= expires {
                // RFC 7675 §5.1: consent expired: stop sending on this pair.
                tracing::warn!(component, "consent lost");
                if let Some(c) = self.components.get_mut(index) {
                    c.consent_lost = true;
                }
                self.events.push_back(IceEvent::ConsentLost { component });
                if self.state != IceState::Closed {
                    self.state = IceState::Disconnected;
                }
                continue;
            }
            if now < next {
                continue;
            }
            let tid = self.next_transaction_id();
            let request = Message::new(Class::Request, Method::Binding, tid)
                .with(Attribute::Username(format!(
                    "{}:{}",
                    path.remote_credentials.ufrag, path.local_credentials.ufrag
                )))
                .with(Attribute::Priority(
                    self.locals.prflx_priority(path.base, component),
                ))
                .with(if self.controlling {
                    Attribute::IceControlling(self.tie_breaker)
                } else {
                    Attribute::IceControlled(self.tie_breaker)
                });
            let key = IntegrityKey::short_term(&path.remote_credentials.pwd);
            let encoded = request.encode(Some(&key), true);
            // Retransmitted at 0.5, 1.5 and 3.5 s (RFC 8489 §6.2.1 doubling, cut short): a lossy
            // path must not lose consent because one request was dropped.
            let cfg = RetransmitConfig {
                rto: Duration::from_millis(500),
                max_sends: 4,
                last_wait_multiplier: 2,
            };
            let client = ClientTransaction::new(&request, encoded, now, cfg, false);
            self.transactions.insert(
                tid,
                Txn {
                    kind: TxnKind::Consent { component },
                    client,
                    from: path.base,
                    to: path.remote.address,
                    key: Some(key),
                    cancelled: false,
                },
            );
            self.flush_transaction(now, tid);
            let jitter = self.consent_jitter();
            if let Some(c) = self.components.get_mut(index) {
                c.next_consent = Some(now + jitter);
            }
        }
    }

    /// A response to a consent request: an authenticated success from the pair's remote
    /// address renews consent (RFC 7675 §5.1).
    pub(super) fn on_consent_response(
        &mut self,
        now: Instant,
        component: u16,
        from: SocketAddr,
        msg: Message,
        raw: &[u8],
    ) -> Handled {
        let Some(txn) = self.transactions.get(&msg.transaction_id) else {
            return Handled::Dropped(DropReason::UnknownTransaction);
        };
        let authentic = txn
            .key
            .as_ref()
            .is_some_and(|k| verify_integrity(raw, k).is_ok());
        if !authentic || from != txn.to {
            return Handled::Dropped(DropReason::BadIntegrity);
        }
        self.transactions.remove(&msg.transaction_id);
        if msg.class == Class::Success {
            let timeout = self.config.consent.timeout;
            if let Some(c) = self.component_mut(component) {
                if !c.consent_lost {
                    c.consent_expires = Some(now + timeout);
                }
            }
        }
        Handled::Consumed
    }
}
