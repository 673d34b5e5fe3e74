//! Forming pairs as candidates appear, their state changes (with events) and failures.

use super::candidates::{self, LocalId, Origin};
use super::checklist::PairId;
use super::events::{FailureReason, IceEvent, PairState};
use super::{IceAgent, RemoteIdx};
use crate::candidate::{Candidate, CandidateKind};

impl IceAgent {
    pub(super) fn set_pair_state(&mut self, id: PairId, state: PairState) {
        let Some(p) = self.checklist.get_mut(id) else {
            return;
        };
        if p.state == state {
            return;
        }
        p.state = state;
        let (l, r) = (p.local, p.remote);
        if let (Some(local), Some(remote)) = (self.local_candidate(l), self.remotes.get(r).cloned())
        {
            self.events.push_back(IceEvent::PairStateChanged {
                local,
                remote,
                state,
            });
        }
    }

    pub(super) fn emit_pair_states(&mut self, ids: Vec<PairId>) {
        for id in ids {
            let Some(p) = self.checklist.get(id) else {
                continue;
            };
            let (l, r, state) = (p.local, p.remote, p.state);
            if let (Some(local), Some(remote)) =
                (self.local_candidate(l), self.remotes.get(r).cloned())
            {
                self.events.push_back(IceEvent::PairStateChanged {
                    local,
                    remote,
                    state,
                });
            }
        }
    }

    /// Pair a new local candidate with every remote candidate (RFC 8445 §6.1.2.2).
    pub(super) fn pair_new_local(&mut self, lid: LocalId) {
        let Some(local) = self.locals.get(lid).cloned() else {
            return;
        };
        for rid in 0..self.remotes.len() {
            let Some(remote) = self.remotes.get(rid) else {
                continue;
            };
            if remote.kind == CandidateKind::PeerReflexive {
                // RFC 8445 §7.3.1.3: a remote prflx candidate is not paired with other locals.
                continue;
            }
            let remote = remote.clone();
            self.add_pair(lid, &local, rid, &remote);
        }
    }

    pub(super) fn pair_new_remote(&mut self, rid: RemoteIdx) {
        let Some(remote) = self.remotes.get(rid).cloned() else {
            return;
        };
        let locals: Vec<(LocalId, candidates::LocalCandidate)> =
            self.locals.iter().map(|(i, c)| (i, c.clone())).collect();
        for (lid, local) in locals {
            self.add_pair(lid, &local, rid, &remote);
        }
    }

    pub(super) fn add_pair(
        &mut self,
        lid: LocalId,
        local: &candidates::LocalCandidate,
        rid: RemoteIdx,
        remote: &Candidate,
    ) -> Option<PairId> {
        let id = self.checklist.add_pair(
            lid,
            local,
            rid,
            remote,
            self.controlling,
            self.config.max_pairs,
        )?;
        // RFC 8445 §7.2.1 / RFC 8656 §9: a permission for the peer's IP before checking from
        // a relayed candidate.
        if let Origin::Relay { turn } = local.origin {
            self.gathering.ensure_permission(turn, remote.address.ip());
        }
        Some(id)
    }

    /// Fail a pair (RFC 8445 §7.2.5.2) and forget its transaction.
    pub(super) fn fail_pair(&mut self, id: PairId, reason: FailureReason) {
        let Some(p) = self.checklist.get_mut(id) else {
            return;
        };
        if p.removed {
            return;
        }
        if let Some(tid) = p.transaction.take() {
            self.transactions.remove(&tid);
        }
        p.failure = Some(reason);
        let was_nominating = p.use_candidate;
        p.use_candidate = false;
        let component = p.component;
        tracing::debug!(pair = id, %reason, "pair failed");
        self.set_pair_state(id, PairState::Failed);
        if was_nominating {
            if let Some(c) = self.component_mut(component) {
                if c.nominating == Some(id) {
                    c.nominating = None;
                }
            }
        }
    }
}
