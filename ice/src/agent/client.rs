//! Connectivity checks, client side: sending a check (RFC 8445 §7.2.2) and processing its
//! response (§7.2.5): symmetry, role conflict, failure, success with peer-reflexive discovery
//! and the valid pair.

use std::net::SocketAddr;
use std::time::Instant;

use super::checklist::{priority_for, PairId};
use super::config::{NominationMode, MIN_RTO};
use super::events::{DropReason, FailureReason, Handled, IceEvent, PairState};
use super::{IceAgent, Txn, TxnKind};
use crate::stun::{
    verify_integrity, Attribute, Class, ClientTransaction, IntegrityKey, Message, Method,
    RetransmitConfig, StunError,
};

impl IceAgent {
    /// Send a check on `id` now (the pacer chose it).
    pub(super) fn start_check(&mut self, now: Instant, id: PairId) {
        let Some(remote_creds) = self.remote_credentials.clone() else {
            return;
        };
        let Some(pair) = self.checklist.get(id).cloned() else {
            return;
        };
        let (Some(local), Some(remote)) = (
            self.locals.get(pair.local).cloned(),
            self.remotes.get(pair.remote).cloned(),
        ) else {
            return;
        };
        if let Some(old) = pair.transaction {
            if let Some(t) = self.transactions.get_mut(&old) {
                t.cancelled = true;
            }
        }
        let base = local.base;
        // RFC 8445 §7.1.1: PRIORITY carries the priority a prflx candidate would get.
        let priority = self.locals.prflx_priority(base, pair.component);
        // RFC 8445 §7.1.2: only the controlling agent sends USE-CANDIDATE; in aggressive mode
        // (RFC 5245 §8.1.1.2) on every check.
        let use_candidate = self.controlling
            && (pair.use_candidate || self.config.nomination == NominationMode::Aggressive);
        let tid = self.next_transaction_id();
        // RFC 8445 §7.2.2: USERNAME = remote ufrag ":" local ufrag; key = remote password.
        let mut request = Message::new(Class::Request, Method::Binding, tid)
            .with(Attribute::Username(format!(
                "{}:{}",
                remote_creds.ufrag, self.local_credentials.ufrag
            )))
            .with(Attribute::Priority(priority))
            // RFC 8445 §7.1.3: the role and tie-breaker in every check.
            .with(if self.controlling {
                Attribute::IceControlling(self.tie_breaker)
            } else {
                Attribute::IceControlled(self.tie_breaker)
            });
        if use_candidate {
            request.push(Attribute::UseCandidate);
        }
        let key = IntegrityKey::short_term(&remote_creds.pwd);
        // RFC 8445 §7.2.4: checks carry FINGERPRINT.
        let encoded = request.encode(Some(&key), true);
        // RFC 8445 §14.3: RTO = MAX(500 ms, Ta × N × (Waiting + In-Progress)), N = 1 stream.
        let active = self.checklist.active_count().max(1) as u32;
        let rto = (self.config.ta * active)
            .max(MIN_RTO)
            .max(self.config.check_retransmit.rto);
        let cfg = RetransmitConfig {
            rto,
            ..self.config.check_retransmit
        };
        let client = ClientTransaction::new(&request, encoded, now, cfg, false);
        self.transactions.insert(
            tid,
            Txn {
                kind: TxnKind::Check {
                    pair: id,
                    use_candidate,
                    controlling: self.controlling,
                    priority,
                },
                client,
                from: base,
                to: remote.address,
                key: Some(key),
                cancelled: false,
            },
        );
        if let Some(p) = self.checklist.get_mut(id) {
            p.transaction = Some(tid);
            p.check_started = Some(now);
        }
        if pair.state != PairState::Succeeded {
            self.set_pair_state(id, PairState::InProgress);
        }
        tracing::trace!(pair = id, from = %base, to = %remote.address, use_candidate, "check sent");
        self.flush_transaction(now, tid);
    }

    /// A response to one of our checks (RFC 8445 §7.2.5).
    pub(super) fn on_check_response(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        msg: Message,
        raw: &[u8],
    ) -> Handled {
        let tid = msg.transaction_id;
        let Some(txn) = self.transactions.get(&tid) else {
            return Handled::Dropped(DropReason::UnknownTransaction);
        };
        // RFC 8489 §9.1.4: a response that fails integrity is discarded. Only the refusals a
        // server sends when it could not authenticate us (400, 401, 420) come without
        // MESSAGE-INTEGRITY; anything else unauthenticated (a 487 that would flip our role, a
        // success) is dropped.
        if let Some(key) = &txn.key {
            let unauthenticated_refusal =
                msg.class == Class::Error && matches!(msg.error_code(), Some((400 | 401 | 420, _)));
            match verify_integrity(raw, key) {
                Ok(()) => {}
                Err(StunError::MissingIntegrity) if unauthenticated_refusal => {}
                Err(_) => return Handled::Dropped(DropReason::BadIntegrity),
            }
        }
        let Some(mut txn) = self.transactions.remove(&tid) else {
            return Handled::Dropped(DropReason::UnknownTransaction);
        };
        // Karn's rule: only a check answered on its first send measures the round trip.
        let first_send_answer = txn.client.sends() == 1;
        // Answered only after a retransmission: this network loses datagrams (or holds them
        // longer than an RTO), so a silent check may still be a working path.
        self.loss_seen |= !first_send_answer;
        let _ = txn.client.handle_response(msg.clone());
        self.stats.responses_received += 1;
        let TxnKind::Check {
            pair: id,
            use_candidate,
            controlling,
            priority,
        } = txn.kind
        else {
            return Handled::Consumed;
        };
        let current = self
            .checklist
            .get(id)
            .is_some_and(|p| p.transaction == Some(tid));
        if current {
            if let Some(p) = self.checklist.get_mut(id) {
                p.transaction = None;
                if first_send_answer && msg.class == Class::Success {
                    if let Some(started) = p.check_started {
                        let rtt = now.saturating_duration_since(started);
                        self.check_rtt = Some(self.check_rtt.map_or(rtt, |r| r.max(rtt)));
                    }
                }
            }
        }
        if self.checklist.get(id).is_none_or(|p| p.removed) {
            return Handled::Consumed;
        }
        // RFC 8445 §7.2.5.2.1: the response must come from where the request went, to the
        // base it left from.
        if from != txn.to || local != txn.from {
            if current || !txn.cancelled {
                self.fail_pair(id, FailureReason::NonSymmetric);
            }
            return Handled::Consumed;
        }
        if msg.class == Class::Error {
            if txn.cancelled && !current {
                return Handled::Consumed;
            }
            let code = msg.error_code().map_or(0, |(c, _)| c);
            match code {
                487 => self.on_role_conflict(id, controlling),
                401 => self.fail_pair(id, FailureReason::Unauthorized),
                _ => self.fail_pair(id, FailureReason::Error(code)),
            }
            return Handled::Consumed;
        }
        if !msg.unknown_comprehension_required.is_empty() {
            // RFC 8489 §6.3.3: unknown comprehension-required attributes fail the transaction.
            self.fail_pair(id, FailureReason::Error(420));
            return Handled::Consumed;
        }
        let Some(mapped) = msg.mapped_address() else {
            self.fail_pair(id, FailureReason::Error(400));
            return Handled::Consumed;
        };
        self.on_check_success(now, id, mapped, priority, use_candidate && controlling);
        Handled::Consumed
    }

    /// RFC 8445 §7.2.5.3: success.
    fn on_check_success(
        &mut self,
        now: Instant,
        id: PairId,
        mapped: SocketAddr,
        priority: u32,
        nominating: bool,
    ) {
        let Some(pair) = self.checklist.get(id).cloned() else {
            return;
        };
        let Some(base) = self.locals.get(pair.local).map(|l| l.base) else {
            return;
        };
        // RFC 8445 §7.2.5.3.1: the mapped address names the valid pair's local candidate; an
        // unknown one is a peer-reflexive candidate whose priority is the PRIORITY we sent.
        let valid_local = match self.locals.find(pair.component, mapped) {
            Some(l) => l,
            None => match self.locals.add_peer_reflexive(base, mapped, priority) {
                Some(l) => {
                    tracing::debug!(%mapped, "local peer-reflexive candidate discovered");
                    l
                }
                None => pair.local,
            },
        };
        let local_prio = self.locals.get(valid_local).map_or(0, |l| l.cand.priority);
        let remote_prio = self.remotes.get(pair.remote).map_or(0, |r| r.priority);
        let newly_valid = pair.valid_local.is_none();
        if let Some(p) = self.checklist.get_mut(id) {
            p.valid_local = Some(valid_local);
            // RFC 8445 §7.2.5.3.2: the valid pair's priority uses its own candidates.
            p.valid_priority = priority_for(local_prio, remote_prio, self.controlling);
            p.failure = None;
        }
        self.set_pair_state(id, PairState::Succeeded);
        if newly_valid {
            if let (Some(local), Some(remote)) = (
                self.local_candidate(valid_local),
                self.remotes.get(pair.remote).cloned(),
            ) {
                self.events.push_back(IceEvent::ValidPair { local, remote });
            }
            if let Some(c) = self.component_mut(pair.component) {
                c.first_valid_at.get_or_insert(now);
            }
        }
        // RFC 8445 §7.2.5.3.3: Frozen pairs with the same foundation become Waiting, in every
        // check list (other streams through `IceStreams`).
        if let Some(list) = self.succeeded_foundations.as_mut() {
            list.push(pair.foundation.clone());
        }
        let changed = self.checklist.unfreeze_foundation(&pair.foundation);
        self.emit_pair_states(changed);
        // RFC 8445 §7.2.5.3.4: the nominated flag: our USE-CANDIDATE check succeeded
        // (controlling), or the peer's USE-CANDIDATE arrived before this success (controlled).
        let controlled_nominated =
            !self.controlling && (pair.nominate_on_success || pair.nominated);
        if (nominating && self.controlling) || controlled_nominated {
            if let Some(p) = self.checklist.get_mut(id) {
                p.nominated = true;
            }
            self.select(now, id);
        }
    }

    /// RFC 8445 §7.2.5.1: a 487 to our check. Switch role per the attribute we sent (unless
    /// done already) and retry the pair as a triggered check.
    fn on_role_conflict(&mut self, id: PairId, sent_controlling: bool) {
        let conflicts = match self.checklist.get_mut(id) {
            Some(p) => {
                p.role_conflicts = p.role_conflicts.saturating_add(1);
                p.role_conflicts
            }
            None => return,
        };
        if conflicts > 2 {
            self.fail_pair(id, FailureReason::RoleConflict);
            return;
        }
        if sent_controlling == self.controlling {
            // The brief asks for a new tie-breaker here (see ASSUMPTIONS.md).
            self.switch_role(!sent_controlling, true);
        }
        if self.checklist.trigger(id) {
            if let Some(p) = self.checklist.get(id) {
                let state = p.state;
                // trigger() set Waiting; announce it.
                if let Some(p) = self.checklist.get_mut(id) {
                    p.state = PairState::InProgress;
                }
                self.set_pair_state(id, state);
            }
        }
    }
}
