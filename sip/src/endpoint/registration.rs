//! REGISTER (RFC 3261 §10.2) with digest, refresh and 423; RFC 3581 address learning with
//! the re-registration loop guard; RFC 5626 outbound: instance-id, reg-id, keepalives
//! and flow recovery.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{
    learned_public_address, Contacts, HeaderName, Method, NameAddr, Response, Uri,
};
use crate::timers::outbound::keepalive_interval;
use crate::timers::registration::{
    expires_after_interval_too_brief, granted_expires, refresh_delay,
};

use super::client::{Purpose, Sent};
use super::config::NextHop;
use super::hop::{Arrival, Hop};
use super::types::{
    EndpointError, FlowFailure, FlowId, RegistrationFailure, SipEvent, TransportFailure,
    TransportKind,
};
use super::Endpoint;

/// How long we wait for the driver's STUN keepalive result before calling it a timeout
/// (RFC 8489 §6.2.1: 39.5 s is the full UDP retransmission schedule).
pub const STUN_RESULT_TIMEOUT: Duration = Duration::from_millis(39_500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegState {
    Registering,
    Registered,
    Unregistering,
    Idle,
    Failed,
}

#[derive(Debug)]
pub(crate) struct Registration {
    pub registrar: NextHop,
    /// RFC 3263 §4.3: the registrar name's further targets, tried in turn on timeout,
    /// transport error or 503.
    pub alternates: std::collections::VecDeque<NextHop>,
    pub call_id: String,
    pub local_tag: String,
    pub cseq: u32,
    pub expires_requested: u32,
    pub state: RegState,
    pub refresh_at: Option<Instant>,
    /// The flow the last successful REGISTER used (RFC 5626 §4.2).
    pub flow: Option<Hop>,
    pub flow_id: FlowId,
    pub learned: Option<SocketAddr>,
    /// Loop guard: the learned address we already re-registered for.
    pub relearned_for: Option<SocketAddr>,
    /// A Contact to remove (expires=0) in the next REGISTER, after the Contact changed.
    pub stale_contact: Option<String>,
    pub outbound: bool,
    pub flow_timer: Option<Duration>,
    pub keepalive_at: Option<Instant>,
    pub pong_deadline: Option<Instant>,
    pub stun_deadline: Option<Instant>,
    pub stun_mapping: Option<SocketAddr>,
    pub recovery_at: Option<Instant>,
    pub failures: u32,
}

impl Registration {
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.refresh_at,
            self.keepalive_at,
            self.pong_deadline,
            self.stun_deadline,
            self.recovery_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The registration's flow, while registered (RFC 5626 §4.3: requests reuse it).
    pub fn flow_hop(&self) -> Option<Hop> {
        match self.state {
            RegState::Registered | RegState::Registering => self.flow,
            _ => None,
        }
    }

    pub(crate) fn clear_keepalive(&mut self) {
        self.keepalive_at = None;
        self.pong_deadline = None;
        self.stun_deadline = None;
    }
}

impl Endpoint {
    /// Registers the AOR with the configured outbound proxy (registrar) and keeps the
    /// binding refreshed until [`Endpoint::unregister`].
    pub fn register(&mut self, now: Instant) -> Result<(), EndpointError> {
        let registrar = self
            .config
            .outbound_proxy
            .ok_or(EndpointError::NoRegistration)?;
        if self.registration.is_none() {
            let call_id = self.random_token(24);
            let local_tag = self.random_token(12);
            let flow_id = FlowId(self.next_id());
            self.registration = Some(Registration {
                registrar,
                alternates: self.config.proxy_alternates.iter().copied().collect(),
                call_id,
                local_tag,
                cseq: 0,
                expires_requested: self.config.register_expires,
                state: RegState::Idle,
                refresh_at: None,
                flow: None,
                flow_id,
                learned: None,
                relearned_for: None,
                stale_contact: None,
                outbound: false,
                flow_timer: None,
                keepalive_at: None,
                pong_deadline: None,
                stun_deadline: None,
                stun_mapping: None,
                recovery_at: None,
                failures: 0,
            });
        }
        self.send_register(now, false)
    }

    /// Whether a REGISTER succeeded and its binding is current.
    pub fn is_registered(&self) -> bool {
        self.registration
            .as_ref()
            .is_some_and(|r| r.state == RegState::Registered)
    }

    /// Removes our binding (Expires: 0), e.g. on shutdown.
    pub fn unregister(&mut self, now: Instant) -> Result<(), EndpointError> {
        if self.registration.is_none() {
            return Err(EndpointError::NoRegistration);
        }
        self.send_register(now, true)
    }

    /// Ends every call (BYE/CANCEL/603) and removes the registration.
    pub fn shutdown(&mut self, now: Instant) {
        for id in self.dialog_ids() {
            if let Err(e) = self.bye(now, id) {
                tracing::debug!(error = %e, "shutdown: dialog not ended cleanly");
            }
        }
        if self
            .registration
            .as_ref()
            .is_some_and(|r| r.state == RegState::Registered || r.state == RegState::Registering)
        {
            let _ = self.unregister(now);
        }
    }

    pub(crate) fn send_register(
        &mut self,
        now: Instant,
        remove: bool,
    ) -> Result<(), EndpointError> {
        let aor = self.aor_uri()?;
        let instance = self.config.instance_id.clone();
        let reg_id = self.config.reg_id;
        let Some(reg) = self.registration.as_mut() else {
            return Err(EndpointError::NoRegistration);
        };
        reg.cseq = reg.cseq.saturating_add(1);
        reg.state = if remove {
            RegState::Unregistering
        } else {
            RegState::Registering
        };
        reg.refresh_at = None;
        reg.recovery_at = None;
        if remove {
            reg.clear_keepalive();
        }
        let expires = if remove { 0 } else { reg.expires_requested };
        let (call_id, tag, cseq, registrar) = (
            reg.call_id.clone(),
            reg.local_tag.clone(),
            reg.cseq,
            reg.registrar,
        );
        let stale = reg.stale_contact.take();
        let flow = reg.flow;
        // RFC 3261 §10.2: Request-URI = the registrar's domain, no user part.
        let mut ruri = aor.clone();
        ruri.user = None;
        ruri.password = None;
        let from = self.local_name_addr(Some(&tag))?;
        let to = self.local_name_addr(None)?;
        let mut request =
            self.base_request(Method::Register, Uri::Sip(ruri), &from, &to, &call_id, cseq);
        // RFC 3261 §8.1.1.8: a sips: AOR (so Request-URI) makes the Contact sips: too.
        let mut contact = self.contact(registrar.transport, aor.secure)?;
        if let Some(instance) = &instance {
            // RFC 5626 §4.2: +sip.instance and reg-id on the REGISTER Contact.
            contact
                .params
                .set("+sip.instance", Some(&format!("\"<{instance}>\"")));
            contact.params.set("reg-id", Some(&reg_id.to_string()));
        }
        request
            .headers
            .push(HeaderName::Contact, contact.to_string());
        if let Some(stale) = stale {
            request
                .headers
                .push(HeaderName::Contact, format!("{stale};expires=0"));
        }
        request
            .headers
            .push(HeaderName::Expires, expires.to_string());
        if instance.is_some() {
            // RFC 5626 §4.2.1: Supported: path, outbound.
            request
                .headers
                .push(HeaderName::Supported, "path, outbound");
        }
        // Known realms (a refresh): answer with the remembered nonce up front.
        if let Some(digest) = self.digest.as_mut().filter(|d| d.realms().next().is_some()) {
            let uri = request.uri.to_string();
            if let Ok(headers) = digest.authorization_headers("REGISTER", &uri, &[]) {
                for h in headers {
                    request.headers.push(h.name, h.value);
                }
            }
        }
        // RFC 5626 §4.2: refreshes go over the same flow.
        let hop = flow
            .filter(|f| {
                !f.transport.is_stream() || f.conn.is_some_and(|c| self.conns.contains_key(&c))
            })
            .unwrap_or_else(|| Hop {
                transport: registrar.transport,
                dest: registrar.addr,
                conn: None,
                local: self
                    .config
                    .local_addr(registrar.transport)
                    .filter(|_| registrar.transport == TransportKind::Udp),
            });
        self.send_request(now, request, hop, Purpose::Register)?;
        Ok(())
    }

    pub(crate) fn on_register_response(
        &mut self,
        now: Instant,
        sent: Sent<'_>,
        response: &Response,
        arrival: Arrival,
    ) {
        let request = sent.request;
        if response.is_provisional() {
            return;
        }
        let status = response.status;
        let requested = request.headers.expires().ok().flatten().unwrap_or(0);
        match status {
            200..=299 => self.on_register_success(now, requested, response, arrival),
            401 | 407 => {
                match self.retry_with_credentials(now, sent, response, Purpose::Register) {
                    Ok((_, cseq)) => {
                        if let Some(reg) = self.registration.as_mut() {
                            reg.cseq = cseq;
                        }
                    }
                    Err(why) => {
                        let detail = format!("{status} {}: {why}", response.reason);
                        self.registration_failed(now, RegistrationFailure::Auth(detail));
                    }
                }
            }
            423 => {
                // RFC 3261 §10.2.8: retry with at least Min-Expires.
                let min = response.headers.min_expires().ok().flatten();
                match expires_after_interval_too_brief(requested, min) {
                    Ok(expires) => {
                        if let Some(reg) = self.registration.as_mut() {
                            reg.expires_requested = expires;
                        }
                        if let Err(e) = self.send_register(now, false) {
                            tracing::info!(error = %e, "REGISTER after 423 not sent");
                        }
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "423 cannot be honoured");
                        self.registration_failed(now, RegistrationFailure::IntervalTooBrief);
                    }
                }
            }
            // RFC 3263 §4.3: a 503 moves on to the registrar's next DNS target.
            503 if self.register_failover(now, status) => {}
            _ => self.registration_failed(
                now,
                RegistrationFailure::Status {
                    status,
                    reason: response.reason.clone(),
                },
            ),
        }
    }

    /// Sends the REGISTER to the registrar's next DNS target, if one is left (RFC 3263
    /// §4.3); the flow starts over there. Returns whether it went out.
    fn register_failover(&mut self, now: Instant, status: u16) -> bool {
        let Some(reg) = self.registration.as_mut() else {
            return false;
        };
        let Some(next) = reg.alternates.pop_front() else {
            return false;
        };
        let from = reg.registrar.addr;
        reg.registrar = next;
        reg.flow = None;
        reg.clear_keepalive();
        tracing::info!(status, %from, to = %next.addr, "REGISTER failed over to the next DNS target");
        self.emit(SipEvent::FailedOver {
            status,
            from,
            to: next.addr,
        });
        match self.send_register(now, false) {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(error = %e, "REGISTER to the next DNS target not sent");
                false
            }
        }
    }

    pub(crate) fn on_register_success(
        &mut self,
        now: Instant,
        requested: u32,
        response: &Response,
        arrival: Arrival,
    ) {
        if let Some(digest) = self.digest.as_mut() {
            digest.on_success();
        }
        let secure = self.aor_uri().is_ok_and(|a| a.secure);
        let our_contact = self.contact(arrival.transport, secure).ok();
        let Some(reg) = self.registration.as_mut() else {
            return;
        };
        if reg.state == RegState::Unregistering || requested == 0 {
            reg.state = RegState::Idle;
            reg.flow = None;
            reg.clear_keepalive();
            self.emit(SipEvent::Unregistered);
            return;
        }
        // RFC 3581 §3: the registrar tells us our public address.
        let learned = learned_public_address(response);
        reg.learned = learned;
        // RFC 3261 §10.2.4: the expiry is our Contact's expires param, else Expires.
        let contact_expires = match (response.headers.contacts(), &our_contact) {
            (Ok(Contacts::List(list)), Some(ours)) => list
                .iter()
                .find(|c| same_contact(c, ours))
                .and_then(NameAddr::expires),
            _ => None,
        };
        let expires = granted_expires(
            contact_expires,
            response.headers.expires().ok().flatten(),
            requested,
        );
        // RFC 5626 §4.2.1: `Require: outbound` in the 2xx means outbound is in force.
        reg.outbound = response
            .headers
            .require()
            .map(|r| r.iter().any(|t| t.eq_ignore_ascii_case("outbound")))
            .unwrap_or(false);
        reg.flow_timer = response
            .headers
            .get(HeaderName::FlowTimer)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let new_flow = arrival.hop();
        if reg.flow.is_some_and(|f| f != new_flow) {
            reg.stun_mapping = None;
        }
        reg.flow = Some(new_flow);
        reg.state = RegState::Registered;
        reg.failures = 0;
        reg.recovery_at = None;
        reg.refresh_at = refresh_delay(Duration::from_secs(u64::from(expires))).map(|d| now + d);
        reg.clear_keepalive();
        let keepalives = reg.outbound && self.config.instance_id.is_some();
        if keepalives {
            // RFC 5626 §4.4: keepalives on the flow, Flow-Timer or the defaults.
            let interval =
                keepalive_interval(reg.flow_timer, new_flow.reliability(), &mut self.rng);
            if let Some(reg) = self.registration.as_mut() {
                reg.keepalive_at = Some(now + interval);
            }
        } else if let Some(interval) = self.config.keepalive {
            // No outbound at the registrar: plain CRLFCRLF keepalives keep the NAT binding
            // that incoming requests use (see `keepalive.rs`).
            if let Some(reg) = self.registration.as_mut() {
                reg.keepalive_at = Some(now + interval);
            }
        }
        let (flow, outbound) = self
            .registration
            .as_ref()
            .map(|r| (r.flow_id, r.outbound))
            .unwrap_or((FlowId(0), false));
        let contact = our_contact.map(|c| c.to_string()).unwrap_or_default();
        self.emit(SipEvent::Registered {
            expires,
            public_address: learned,
            contact: contact.clone(),
            outbound,
            flow,
        });
        // Contact learning with a loop guard: re-register once per learned change.
        if self.config.use_learned_contact {
            if let Some(learned) = learned {
                let already =
                    self.registration.as_ref().and_then(|r| r.relearned_for) == Some(learned);
                if self.learned_contact != Some(learned) && !already {
                    tracing::info!(%learned, "public address differs from Contact: re-registering with it");
                    self.learned_contact = Some(learned);
                    if let Some(reg) = self.registration.as_mut() {
                        reg.relearned_for = Some(learned);
                        reg.stale_contact = Some(contact);
                    }
                    if let Err(e) = self.send_register(now, false) {
                        tracing::info!(error = %e, "re-REGISTER with learned Contact not sent");
                    }
                }
            }
        }
    }

    /// Timer F (`failure: None`) or a transport error on our REGISTER (RFC 3261 §8.1.3.1).
    pub(crate) fn on_register_failure(&mut self, now: Instant, failure: Option<TransportFailure>) {
        let unregistering = self
            .registration
            .as_ref()
            .is_some_and(|r| r.state == RegState::Unregistering);
        if unregistering {
            if let Some(reg) = self.registration.as_mut() {
                reg.state = RegState::Idle;
            }
            self.emit(SipEvent::Unregistered);
            return;
        }
        if self.register_failover(now, 408) {
            return;
        }
        let reason = match failure {
            Some(failure) => RegistrationFailure::Transport(failure),
            None => RegistrationFailure::Timeout,
        };
        self.registration_failed(now, reason);
    }

    pub(crate) fn registration_failed(&mut self, now: Instant, reason: RegistrationFailure) {
        let outbound = self.config.instance_id.is_some();
        if let Some(reg) = self.registration.as_mut() {
            reg.state = RegState::Failed;
            reg.refresh_at = None;
            reg.clear_keepalive();
            if outbound {
                // RFC 5626 §4.5: keep trying with back-off.
                reg.failures = reg.failures.saturating_add(1);
                let delay =
                    self.config
                        .flow_recovery
                        .retry_delay(reg.failures, true, &mut self.rng);
                reg.recovery_at = Some(now + delay);
            }
        }
        self.emit(SipEvent::RegistrationFailed { reason });
    }

    pub(crate) fn registration_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        let Some(reg) = self.registration.as_ref() else {
            return;
        };
        if due(reg.pong_deadline) {
            self.flow_failed(now, FlowFailure::PongTimeout);
            return;
        }
        if due(reg.stun_deadline) {
            self.flow_failed(now, FlowFailure::StunTimeout);
            return;
        }
        if due(reg.refresh_at) || due(reg.recovery_at) {
            if let Err(e) = self.send_register(now, false) {
                tracing::info!(error = %e, "REGISTER refresh not sent");
                if let Some(reg) = self.registration.as_mut() {
                    reg.refresh_at = None;
                    reg.recovery_at = None;
                }
            }
            return;
        }
        if due(reg.keepalive_at) {
            self.send_keepalive(now);
        }
    }
}

/// Whether a Contact from a REGISTER 2xx is ours (same user, host and port).
fn same_contact(listed: &NameAddr, ours: &NameAddr) -> bool {
    match (listed.uri.as_sip(), ours.uri.as_sip()) {
        (Some(a), Some(b)) => a.user == b.user && a.host == b.host && a.port == b.port,
        _ => false,
    }
}
