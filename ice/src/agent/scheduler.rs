//! Which transaction goes out in the next Ta slot (RFC 8445 §6.1.4.2), and the driving of
//! every outstanding client transaction (retransmissions and timeouts).

use std::time::Instant;

use super::checklist::Pair;
use super::events::{FailureReason, IceState};
use super::{IceAgent, TxnKind};
use crate::stun::Outcome;

/// A valid pair whose USE-CANDIDATE check timed out is nominated again, up to this many rounds
/// of RFC 8489 retransmissions, before it fails (see ASSUMPTIONS.md).
pub(crate) const MAX_NOMINATION_ROUNDS: u8 = 3;

impl IceAgent {
    /// Checks need the peer's password (RFC 8445 §7.2.2) and a running session.
    pub(super) fn checks_allowed(&self) -> bool {
        self.remote_credentials.is_some()
            && matches!(self.state, IceState::Checking | IceState::Completed)
    }

    /// A relayed pair can be checked once the TURN permission for the peer exists
    /// (RFC 8445 §7.2.1); a pair of an already-selected component is not checked again.
    fn pair_sendable(&self, p: &Pair) -> bool {
        if self
            .component(p.component)
            .is_some_and(|c| c.selected_this_session)
        {
            return false;
        }
        let Some(local) = self.locals.get(p.local) else {
            return false;
        };
        match local.origin {
            super::candidates::Origin::Relay { turn } => self
                .remotes
                .get(p.remote)
                .is_some_and(|r| self.gathering.has_permission(turn, r.address.ip())),
            _ => true,
        }
    }

    fn sendable_ids(&self) -> Vec<bool> {
        self.checklist
            .pairs
            .iter()
            .map(|p| self.pair_sendable(p))
            .collect()
    }

    /// One new transaction per Ta: nomination and triggered checks first, then gathering,
    /// then an ordinary check (RFC 8445 §6.1.4.2, §14.2).
    pub(super) fn pace(&mut self, now: Instant) {
        if self.state == IceState::Closed || !self.pacer.ready(now) {
            return;
        }
        if self.checks_allowed() {
            while let Some(id) = self.nomination_queue.pop_front() {
                if self
                    .checklist
                    .get(id)
                    .is_some_and(|p| !p.removed && p.use_candidate)
                {
                    self.pacer.consume(now);
                    self.start_check(now, id);
                    return;
                }
            }
            let ok = self.sendable_ids();
            if let Some(id) = self
                .checklist
                .pop_triggered(|i, _| ok.get(i).copied().unwrap_or(false))
            {
                self.pacer.consume(now);
                self.start_check(now, id);
                return;
            }
        }
        if let Some(job) = self.gathering.pop_job() {
            self.pacer.consume(now);
            self.start_gather_job(now, job);
            return;
        }
        if !self.checks_allowed() {
            return;
        }
        if !self.initial_unfreeze_done && self.checklist.live().next().is_some() {
            self.initial_unfreeze_done = true;
            // RFC 8445 §6.1.2.6: only the first check list of a set is unfrozen initially.
            if !self.defer_initial_unfreeze {
                let changed = self.checklist.initial_unfreeze();
                self.emit_pair_states(changed);
            }
        }
        let ok = self.sendable_ids();
        let (next, changed) = self
            .checklist
            .next_ordinary(|i, _| ok.get(i).copied().unwrap_or(false));
        self.emit_pair_states(changed);
        if let Some(id) = next {
            self.pacer.consume(now);
            self.start_check(now, id);
        }
    }

    /// Let the pacer send now if a slot is free (after another stream changed our pairs).
    pub(super) fn pace_if_ready(&mut self, now: Instant) {
        if self.state != IceState::Closed {
            self.pace(now);
        }
    }

    /// When the pacer next has something to send.
    pub(super) fn pacer_wake(&self) -> Option<Instant> {
        let mut has_work = self.gathering.has_jobs();
        if self.checks_allowed() {
            has_work = has_work
                || self
                    .nomination_queue
                    .iter()
                    .any(|&id| self.checklist.get(id).is_some_and(|p| p.use_candidate))
                || self.checklist.triggered.iter().any(|&id| {
                    self.checklist.get(id).is_some_and(|p| {
                        !p.removed && p.state == super::PairState::Waiting && self.pair_sendable(p)
                    })
                })
                || self.checklist.live().any(|(_, p)| {
                    self.pair_sendable(p)
                        && match p.state {
                            super::PairState::Waiting => true,
                            super::PairState::Frozen => {
                                !self.checklist.external_active.contains(&p.foundation)
                                    && !self.checklist.live().any(|(_, q)| {
                                        q.foundation == p.foundation
                                            && matches!(
                                                q.state,
                                                super::PairState::Waiting
                                                    | super::PairState::InProgress
                                            )
                                    })
                            }
                            _ => false,
                        }
                });
        }
        self.pacer.wake_at(self.last_now, has_work)
    }

    /// Retransmit what is due and act on transactions that timed out.
    pub(super) fn drive_transactions(&mut self, now: Instant) {
        let ids: Vec<_> = self.transactions.keys().copied().collect();
        for tid in ids {
            let Some(txn) = self.transactions.get_mut(&tid) else {
                continue;
            };
            txn.client.handle_timeout(now);
            if txn.cancelled {
                // RFC 8445 §7.3.1.4: a cancelled check is not retransmitted, and its lack of
                // response is no failure; a late response is still accepted.
                while txn.client.poll_transmit().is_some() {}
            } else {
                self.flush_transaction(now, tid);
            }
            let Some(txn) = self.transactions.get_mut(&tid) else {
                continue;
            };
            let Some(outcome) = txn.client.poll_outcome() else {
                continue;
            };
            let Some(txn) = self.transactions.remove(&tid) else {
                continue;
            };
            match (txn.kind, outcome) {
                (
                    TxnKind::Check {
                        pair,
                        use_candidate: true,
                        ..
                    },
                    Outcome::TimedOut,
                ) if self.controlling
                    && self.checklist.get(pair).is_some_and(|p| {
                        p.transaction == Some(tid)
                            && p.state == super::PairState::Succeeded
                            && p.nomination_rounds + 1 < MAX_NOMINATION_ROUNDS
                    }) =>
                {
                    // The peer may have seen the USE-CANDIDATE and selected this pair: nominating
                    // another one could split the two sides, so the same nomination is repeated.
                    if let Some(p) = self.checklist.get_mut(pair) {
                        p.nomination_rounds += 1;
                        p.transaction = None;
                    }
                    self.nomination_queue.push_back(pair);
                }
                (TxnKind::Check { pair, .. }, Outcome::TimedOut)
                    if !txn.cancelled
                        && self.checklist.get(pair).is_some_and(|p| {
                            p.transaction == Some(tid)
                                && p.peer_checked
                                && p.retry_rounds == 0
                                && p.state == super::PairState::InProgress
                        }) =>
                {
                    // The peer reached us on this pair, so the path exists: one more round of
                    // our own check before calling it failed (lossy paths).
                    if let Some(p) = self.checklist.get_mut(pair) {
                        p.retry_rounds = 1;
                        p.transaction = None;
                    }
                    if self.checklist.trigger(pair) {
                        self.emit_pair_states(vec![pair]);
                    }
                }
                (TxnKind::Check { pair, .. }, Outcome::TimedOut)
                    if !txn.cancelled
                        && self
                            .checklist
                            .get(pair)
                            .is_some_and(|p| p.transaction == Some(tid)) =>
                {
                    // RFC 8445 §7.2.5.2.2 (via RFC 8489 §6.2.1): no response → Failed.
                    self.fail_pair(pair, FailureReason::Timeout);
                }
                (TxnKind::Gather { server, base, rank }, outcome) => {
                    self.on_gather_outcome(server, base, rank, outcome);
                }
                // Consent: expiry is tracked per component (RFC 7675 §5.1), not per request.
                _ => {}
            }
        }
    }
}
