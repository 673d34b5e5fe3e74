//! Connectivity checks, server side (RFC 8445 §7.3): demultiplexing what arrives, answering
//! Binding requests on every base (even before the peer's answer), authentication, role
//! conflicts, peer-reflexive remote candidates, triggered checks and USE-CANDIDATE.

use std::net::SocketAddr;
use std::time::Instant;

use super::demux::{classify, PacketKind};
use super::events::{DropReason, Handled, PairState};
use super::role::{resolve_conflict, AnnouncedRole, ConflictAction};
use super::{IceAgent, TxnKind};
use crate::candidate::{random_ice_string, Candidate, CandidateKind, Credentials, Transport};
use crate::stun::{verify_integrity, Attribute, Class, IntegrityKey, Message, Method, Outcome};

/// How an unauthenticated request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    Unauthorized,
    UnknownAttributes,
}

impl IceAgent {
    /// A datagram on a base (or arriving through a relay at its relayed address).
    pub(super) fn handle_inbound(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> Handled {
        let Some(component) = self.locals.component_of_base(local) else {
            return Handled::Dropped(DropReason::UnknownLocal(local));
        };
        match classify(data) {
            PacketKind::Stun => {}
            // RFC 7983: ChannelData only comes from a TURN server (handled by the client), and
            // unknown first bytes are dropped.
            PacketKind::Other | PacketKind::ChannelData => {
                return Handled::Dropped(DropReason::NotDemultiplexable);
            }
            PacketKind::Rtp | PacketKind::Rtcp | PacketKind::Dtls | PacketKind::Zrtp => {
                // RFC 8445 §12.2: data is accepted on any candidate of the component.
                return Handled::Media {
                    component,
                    local,
                    from,
                    data: data.to_vec(),
                };
            }
        }
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => return Handled::Dropped(DropReason::MalformedStun(e)),
        };
        match msg.class {
            Class::Request => self.handle_request(now, local, component, from, msg, data),
            // RFC 8445 §11: keepalive Binding Indications need no answer.
            Class::Indication => Handled::Consumed,
            Class::Success | Class::Error => self.handle_response(now, local, from, msg, data),
        }
    }

    fn handle_response(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        msg: Message,
        raw: &[u8],
    ) -> Handled {
        let kind = match self.transactions.get(&msg.transaction_id) {
            Some(t) => t.kind.clone(),
            // RFC 8489 §6.3: a response matching no transaction is dropped.
            None => return Handled::Dropped(DropReason::UnknownTransaction),
        };
        match kind {
            TxnKind::Check { .. } => self.on_check_response(now, local, from, msg, raw),
            TxnKind::Consent { component } => {
                self.on_consent_response(now, component, from, msg, raw)
            }
            TxnKind::Gather { server, base, rank } => {
                if from != server {
                    return Handled::Dropped(DropReason::UnknownTransaction);
                }
                if let Some(mut txn) = self.transactions.remove(&msg.transaction_id) {
                    // Answered only after a retransmission: this network loses datagrams.
                    self.loss_seen |= txn.client.sends() > 1;
                    let _ = txn.client.handle_response(msg.clone());
                }
                self.on_gather_outcome(server, base, rank, Outcome::Response(msg));
                Handled::Consumed
            }
        }
    }

    /// RFC 8445 §7.3: a Binding request on base `local`.
    fn handle_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        component: u16,
        from: SocketAddr,
        msg: Message,
        raw: &[u8],
    ) -> Handled {
        if msg.method != Method::Binding {
            self.stats.requests_rejected += 1;
            return Handled::Dropped(DropReason::UnexpectedMethod(msg.method));
        }
        // RFC 8489 §6.3.1: unknown comprehension-required attributes → 420.
        if !msg.unknown_comprehension_required.is_empty() {
            self.refuse(
                now,
                local,
                from,
                &msg,
                raw.len(),
                Refusal::UnknownAttributes,
            );
            return Handled::Dropped(DropReason::Rejected(
                "unknown comprehension-required attribute",
            ));
        }
        // RFC 8489 §9.1.3: no USERNAME or no MESSAGE-INTEGRITY → 400.
        let Some(username) = msg.username().map(str::to_owned) else {
            self.refuse(now, local, from, &msg, raw.len(), Refusal::BadRequest);
            return Handled::Dropped(DropReason::Rejected("no USERNAME"));
        };
        if !msg.has_integrity() {
            self.refuse(now, local, from, &msg, raw.len(), Refusal::BadRequest);
            return Handled::Dropped(DropReason::Rejected("no MESSAGE-INTEGRITY"));
        }
        // RFC 8445 §7.3: USERNAME = our ufrag ":" their ufrag. Before a restart's new session
        // is selected, the previous credentials are still answered (RFC 8445 §9).
        let Some((ours, theirs)) = username.split_once(':') else {
            self.refuse(now, local, from, &msg, raw.len(), Refusal::Unauthorized);
            return Handled::Dropped(DropReason::Rejected("USERNAME is not ufrag:ufrag"));
        };
        let (credentials, previous): (Credentials, bool) = if ours == self.local_credentials.ufrag {
            (self.local_credentials.clone(), false)
        } else if let Some(prev) = self
            .previous_local_credentials
            .as_ref()
            .filter(|p| p.ufrag == ours)
        {
            (prev.clone(), true)
        } else {
            self.refuse(now, local, from, &msg, raw.len(), Refusal::Unauthorized);
            return Handled::Dropped(DropReason::Rejected("USERNAME names another ufrag"));
        };
        let key = IntegrityKey::short_term(&credentials.pwd);
        if verify_integrity(raw, &key).is_err() {
            // RFC 8489 §9.1.3: wrong MESSAGE-INTEGRITY → 401, and no state changes.
            self.refuse(now, local, from, &msg, raw.len(), Refusal::Unauthorized);
            return Handled::Dropped(DropReason::Rejected("MESSAGE-INTEGRITY does not verify"));
        }
        // RFC 8445 §7.1.1: a check carries PRIORITY.
        let Some(priority) = msg.priority() else {
            self.respond_error(now, (local, from), &msg, (400, "Missing PRIORITY"), &key);
            self.stats.requests_rejected += 1;
            return Handled::Dropped(DropReason::Rejected("no PRIORITY"));
        };
        self.stats.requests_received += 1;
        let theirs = theirs.to_owned();

        // RFC 8445 §7.3.1.1: role conflicts.
        let announced = match (msg.ice_controlling(), msg.ice_controlled()) {
            (Some(tb), _) => AnnouncedRole::Controlling(tb),
            (None, Some(tb)) => AnnouncedRole::Controlled(tb),
            (None, None) => AnnouncedRole::Unknown,
        };
        if !previous {
            match resolve_conflict(self.controlling, self.tie_breaker, announced) {
                ConflictAction::Proceed => {}
                ConflictAction::Reject487 => {
                    self.respond_error(now, (local, from), &msg, (487, "Role Conflict"), &key);
                    return Handled::Consumed;
                }
                ConflictAction::SwitchTo(controlling) => self.switch_role(controlling, false),
            }
        }

        // RFC 8445 §7.3.1.2: success with XOR-MAPPED-ADDRESS = the source (for a relayed base,
        // the peer address TURN reported); MESSAGE-INTEGRITY with our password; FINGERPRINT.
        let response = Message::new(Class::Success, Method::Binding, msg.transaction_id)
            .with(Attribute::XorMappedAddress(from))
            .encode(Some(&key), true);
        self.send_queued(now, local, from, response);
        if previous || self.state == super::IceState::Closed {
            return Handled::Consumed;
        }

        // RFC 8445 §7.3: the peer's ufrag may be learned here, before its answer arrives.
        if self.remote_credentials.is_none() {
            self.learned_remote_ufrag = Some(theirs);
        }

        // RFC 8445 §7.3.1.3: an unknown source is a peer-reflexive remote candidate.
        let rid = match self
            .remotes
            .iter()
            .position(|r| r.address == from && r.component == component)
        {
            Some(r) => r,
            None => {
                self.prflx_counter += 1;
                let foundation = format!(
                    "x{}{}",
                    self.prflx_counter,
                    random_ice_string(&mut self.rng, 6)
                );
                self.remotes.push(Candidate {
                    foundation,
                    component,
                    transport: Transport::Udp,
                    priority,
                    address: from,
                    kind: CandidateKind::PeerReflexive,
                    related: None,
                    tcp_type: None,
                    extensions: Vec::new(),
                });
                tracing::debug!(%from, "remote peer-reflexive candidate learned");
                self.remotes.len() - 1
            }
        };
        let Some(lid) = self.locals.base_candidate(local) else {
            return Handled::Consumed;
        };
        let pid = match self.checklist.find(lid, rid) {
            Some(p) => p,
            None => {
                let (Some(lc), Some(rc)) = (
                    self.locals.get(lid).cloned(),
                    self.remotes.get(rid).cloned(),
                ) else {
                    return Handled::Consumed;
                };
                match self.add_pair(lid, &lc, rid, &rc) {
                    Some(p) => p,
                    None => return Handled::Consumed,
                }
            }
        };
        if let Some(p) = self.checklist.get_mut(pid) {
            p.peer_checked = true;
        }
        // RFC 8445 §7.3.1.5: USE-CANDIDATE from the controlling agent, seen by the controlled.
        let nominate = msg.use_candidate() && !self.controlling;
        let Some(pair) = self.checklist.get(pid).cloned() else {
            return Handled::Consumed;
        };
        if pair.state == PairState::Succeeded {
            if nominate && pair.valid_local.is_some() {
                if let Some(p) = self.checklist.get_mut(pid) {
                    p.nominated = true;
                }
                self.select(now, pid);
            }
        } else {
            if nominate {
                if let Some(p) = self.checklist.get_mut(pid) {
                    p.nominate_on_success = true;
                }
            }
            // RFC 8445 §7.3.1.4: a triggered check (not for a component already settled).
            let settled = self
                .component(component)
                .is_some_and(|c| c.selected_this_session);
            if !settled {
                let old_state = pair.state;
                if let Some(old) = pair.transaction {
                    if let Some(t) = self.transactions.get_mut(&old) {
                        t.cancelled = true;
                    }
                }
                if self.checklist.trigger(pid) {
                    if let Some(p) = self.checklist.get_mut(pid) {
                        p.state = old_state;
                    }
                    self.set_pair_state(pid, PairState::Waiting);
                }
            }
        }
        Handled::Consumed
    }

    /// An authenticated error response (MESSAGE-INTEGRITY with our password, FINGERPRINT).
    fn respond_error(
        &mut self,
        now: Instant,
        (local, to): (SocketAddr, SocketAddr),
        req: &Message,
        (code, reason): (u16, &str),
        key: &IntegrityKey,
    ) {
        let bytes = Message::new(Class::Error, Method::Binding, req.transaction_id)
            .with(Attribute::ErrorCode {
                code,
                reason: reason.into(),
            })
            .encode(Some(key), true);
        self.send_queued(now, local, to, bytes);
    }

    /// An unauthenticated refusal (400, 401, 420). It changes no state, and is never larger
    /// than the request (no amplification toward a sender we could not authenticate): the
    /// reason phrase, then FINGERPRINT, are left out if needed, and if it still does not fit
    /// nothing is sent.
    fn refuse(
        &mut self,
        now: Instant,
        local: SocketAddr,
        to: SocketAddr,
        req: &Message,
        request_len: usize,
        why: Refusal,
    ) {
        self.stats.requests_rejected += 1;
        let (code, reason) = match why {
            Refusal::BadRequest => (400, "Bad Request"),
            Refusal::Unauthorized => (401, "Unauthorized"),
            Refusal::UnknownAttributes => (420, "Unknown Attribute"),
        };
        let build = |reason: &str, unknown: bool, fingerprint: bool| {
            let mut m = Message::new(Class::Error, Method::Binding, req.transaction_id).with(
                Attribute::ErrorCode {
                    code,
                    reason: reason.into(),
                },
            );
            if unknown {
                m.push(Attribute::UnknownAttributes(
                    req.unknown_comprehension_required.clone(),
                ));
            }
            m.encode(None, fingerprint)
        };
        let unknown = why == Refusal::UnknownAttributes;
        let attempts = [
            build(reason, unknown, true),
            build("", unknown, true),
            build("", unknown, false),
            build("", false, false),
        ];
        match attempts
            .into_iter()
            .find(|bytes| bytes.len() <= request_len)
        {
            Some(bytes) => {
                tracing::debug!(code, %to, "check refused");
                self.send_queued(now, local, to, bytes);
            }
            None => tracing::debug!(code, %to, "refusal larger than the request: not sent"),
        }
    }
}
