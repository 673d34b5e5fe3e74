//! RFC 5626 outbound flow maintenance: keepalives (CRLF ping/pong on TCP and TLS §4.4.1, STUN on
//! UDP §4.4.2 via the driver), flow failure and recovery back-off (§4.5).

use std::net::SocketAddr;
use std::time::Instant;

use crate::timers::outbound::{keepalive_interval, PONG_TIMEOUT};

use super::registration::{RegState, STUN_RESULT_TIMEOUT};
use super::types::{ConnId, FlowFailure, FlowId, SipEvent, TransportKind};
use super::Endpoint;

impl Endpoint {
    /// RFC 5626 §4.4.1 (CRLFCRLF ping on TCP and TLS) / §4.4.2 (STUN Binding on UDP, sent by the
    /// driver, which owns the STUN codec).
    pub(crate) fn send_keepalive(&mut self, now: Instant) {
        let Some(reg) = self.registration.as_mut() else {
            return;
        };
        let Some(flow) = reg.flow else {
            reg.keepalive_at = None;
            return;
        };
        if !(reg.outbound && self.config.instance_id.is_some()) {
            // The registrar lacks outbound: a plain CRLFCRLF, no answer expected.
            reg.keepalive_at = self.config.keepalive.map(|k| now + k);
            self.send_on(&flow, super::keepalive::CRLFCRLF.to_vec());
            return;
        }
        let interval = keepalive_interval(reg.flow_timer, flow.reliability(), &mut self.rng);
        reg.keepalive_at = Some(now + interval);
        match flow.transport {
            TransportKind::Tcp | TransportKind::Tls => {
                reg.pong_deadline = Some(now + PONG_TIMEOUT);
                self.send_on(&flow, b"\r\n\r\n".to_vec());
            }
            TransportKind::Udp => {
                reg.stun_deadline = Some(now + STUN_RESULT_TIMEOUT);
                let event = SipEvent::StunKeepaliveDue {
                    flow: reg.flow_id,
                    local: flow.local.or(self.config.udp_local).unwrap_or(flow.dest),
                    dest: flow.dest,
                };
                self.emit(event);
            }
        }
    }

    /// The driver's STUN keepalive finished: `mapped` is the XOR-MAPPED-ADDRESS, or
    /// `None` on timeout. RFC 5626 §4.4.2: a changed mapping or no answer fails the flow.
    pub fn stun_keepalive_result(
        &mut self,
        now: Instant,
        flow: FlowId,
        mapped: Option<SocketAddr>,
    ) {
        let Some(reg) = self.registration.as_mut() else {
            return;
        };
        if reg.flow_id != flow || reg.stun_deadline.is_none() {
            return;
        }
        reg.stun_deadline = None;
        match (mapped, reg.stun_mapping) {
            (None, _) => self.flow_failed(now, FlowFailure::StunTimeout),
            (Some(now_seen), Some(was)) if now_seen != was => {
                self.flow_failed(now, FlowFailure::MappingChanged { was, now: now_seen })
            }
            (Some(seen), _) => reg.stun_mapping = Some(seen),
        }
    }

    /// A CRLF pong arrived on `conn`.
    pub(crate) fn on_pong(&mut self, conn: ConnId) {
        if let Some(reg) = self.registration.as_mut() {
            if reg.flow.and_then(|f| f.conn) == Some(conn) {
                reg.pong_deadline = None;
            }
        }
    }

    /// The registration's connection closed: the flow failed (RFC 5626 §4.4.1).
    pub(crate) fn flow_connection_closed(&mut self, now: Instant, conn: ConnId) {
        let ours = self.registration.as_ref().is_some_and(|r| {
            r.flow.and_then(|f| f.conn) == Some(conn)
                && matches!(r.state, RegState::Registered | RegState::Registering)
        });
        if ours {
            self.flow_failed(now, FlowFailure::ConnectionClosed);
        }
    }

    /// RFC 5626 §4.5: a failed flow is re-registered after
    /// `min(max-time, base-time · 2^failures)` scaled by a random 50-100 %.
    pub(crate) fn flow_failed(&mut self, now: Instant, reason: FlowFailure) {
        let Some(reg) = self.registration.as_mut() else {
            return;
        };
        reg.failures = reg.failures.saturating_add(1);
        // One flow per registration: when it fails, every flow has failed.
        let retry_after = self
            .config
            .flow_recovery
            .retry_delay(reg.failures, true, &mut self.rng);
        reg.state = RegState::Failed;
        reg.flow = None;
        reg.stun_mapping = None;
        reg.refresh_at = None;
        reg.clear_keepalive();
        reg.recovery_at = Some(now + retry_after);
        let flow = reg.flow_id;
        reg.flow_id = FlowId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        tracing::info!(?reason, ?retry_after, "outbound flow failed");
        self.emit(SipEvent::FlowFailed {
            flow,
            reason,
            retry_after,
        });
    }
}
