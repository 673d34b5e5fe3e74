//! Deciding that ICE failed (RFC 8445 §7.2.5.4, §8.1.2), with a reason for every pair.

use std::time::Instant;

use super::checklist::PairId;
use super::events::{FailureReason, IceEvent, IceState, PairFailure, PairState};
use super::{ComponentState, IceAgent};

/// Why a component of the stream cannot be selected any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// No valid pair, and none of its pairs can still succeed.
    NoPath,
    /// Controlled side: valid pairs, but the controlling peer never nominated one.
    NotNominated,
}

impl IceAgent {
    /// Failure detection: the stream fails as soon as one component can no longer be
    /// selected. RFC 8445 §7.2.5.4 waits until *every* pair of the check list has failed or
    /// succeeded; we stop at the first lost component, because the stream is unusable without
    /// it, and the other components' Frozen pairs would otherwise wait for their foundations'
    /// checks to time out one after the other (see ASSUMPTIONS.md). Pairs not finished then get
    /// `FailureReason::Cancelled`, so every pair is reported with a reason.
    pub(super) fn check_failure(&mut self) {
        if !matches!(self.state, IceState::Checking) || self.remote_credentials.is_none() {
            return;
        }
        if self.config.trickle && !self.end_of_remote_candidates {
            return;
        }
        if !self.gathering.is_complete() {
            return;
        }
        let now = self.last_now;
        if self.checklist.has_pending() || !self.nomination_queue.is_empty() {
            self.checks_idle_since = None;
        } else {
            self.checks_idle_since.get_or_insert(now);
        }
        let Some(loss) = (1..=self.config.components).find_map(|comp| self.component_loss(comp))
        else {
            return;
        };
        let cancelled = self.cancel_pending_pairs();
        let reasons: Vec<PairFailure> = self
            .checklist
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.removed || p.failure.is_some())
            .filter_map(|(id, p)| {
                let reason = match (p.failure, p.state) {
                    (Some(reason), _) => reason,
                    (None, PairState::Succeeded) if loss == Loss::NotNominated => {
                        FailureReason::NotNominated
                    }
                    (None, PairState::Succeeded) => return None,
                    _ if cancelled.contains(&id) => FailureReason::Cancelled,
                    _ => return None,
                };
                Some(PairFailure {
                    local: self.locals.get(p.local)?.cand.clone(),
                    remote: self.remotes.get(p.remote)?.clone(),
                    reason,
                })
            })
            .collect();
        tracing::info!(pairs = reasons.len(), ?loss, "ICE failed");
        self.state = IceState::Failed;
        self.events.push_back(IceEvent::Failed { reasons });
    }

    /// Whether component `comp` is lost, and why.
    fn component_loss(&self, comp: u16) -> Option<Loss> {
        let c = self.component(comp)?;
        if c.selected_this_session {
            return None;
        }
        if c.nominating.is_some() {
            return None;
        }
        let has_valid = self.checklist.live().any(|(_, p)| {
            p.component == comp && p.valid_local.is_some() && p.state == PairState::Succeeded
        });
        if has_valid {
            return self.nomination_overdue(c).then_some(Loss::NotNominated);
        }
        let pending = self.checklist.live().any(|(_, p)| {
            p.component == comp
                && matches!(
                    p.state,
                    PairState::Frozen | PairState::Waiting | PairState::InProgress
                )
        });
        // A component none of whose pairs was ever checked (no pair formed yet) may still be
        // reached by the peer's checks (peer-reflexive, RFC 8445 §7.3.1.3) while others run;
        // it is lost only once nothing at all is pending.
        let checked = self
            .checklist
            .pairs
            .iter()
            .any(|p| p.component == comp && p.state == PairState::Failed);
        let nothing_pending = self.checks_idle_since.is_some();
        (!pending && (checked || nothing_pending)).then_some(Loss::NoPath)
    }

    /// Controlled side: a valid pair is waiting for the controlling peer's nomination. The
    /// wait ends `nomination_grace` after our checks went idle (the peer has had every answer
    /// we could give it), or at the latest `nomination_timeout` after the first valid pair.
    fn nomination_overdue(&self, c: &ComponentState) -> bool {
        if self.controlling {
            return false;
        }
        self.nomination_deadline_controlled(c)
            .is_some_and(|deadline| self.last_now >= deadline)
    }

    /// When the controlled side stops waiting for a nomination of component `c`.
    pub(super) fn nomination_deadline_controlled(&self, c: &ComponentState) -> Option<Instant> {
        let first_valid = c.first_valid_at?;
        let cap = first_valid + self.config.nomination_timeout;
        let grace = self
            .checks_idle_since
            .map(|idle| idle.max(first_valid) + self.config.nomination_grace);
        Some(grace.map_or(cap, |g| g.min(cap)))
    }

    /// Ends every check that is not finished (the stream failed); returns those pairs.
    fn cancel_pending_pairs(&mut self) -> Vec<PairId> {
        let pending: Vec<PairId> = self
            .checklist
            .live()
            .filter(|(_, p)| {
                matches!(
                    p.state,
                    PairState::Frozen | PairState::Waiting | PairState::InProgress
                )
            })
            .map(|(id, _)| id)
            .collect();
        for &id in &pending {
            if let Some(p) = self.checklist.get_mut(id) {
                p.state = PairState::Failed;
                if let Some(tid) = p.transaction.take() {
                    self.transactions.remove(&tid);
                }
            }
        }
        self.checklist.triggered.clear();
        pending
    }
}
