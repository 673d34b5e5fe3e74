//! Deciding that ICE failed (RFC 8445 §8.1.2), with a reason for every pair.

use super::events::{FailureReason, IceEvent, IceState, PairFailure, PairState};
use super::{ComponentState, IceAgent};

impl IceAgent {
    /// RFC 8445 §8.1.2: the check list fails when no pair can succeed any more for some
    /// component that has no selected pair.
    pub(super) fn check_failure(&mut self) {
        if !matches!(self.state, IceState::Checking) || self.remote_credentials.is_none() {
            return;
        }
        if self.config.trickle && !self.end_of_remote_candidates {
            return;
        }
        if !self.gathering.is_complete()
            || self.checklist.has_pending()
            || !self.nomination_queue.is_empty()
        {
            return;
        }
        if self.components.iter().any(|c| c.nominating.is_some()) {
            return;
        }
        // A component is lost when it has no pair selected in this session and no valid pair
        // left. A valid pair waiting for the peer's nomination is not a failure, until the
        // controlled side has waited `nomination_timeout` for it (the peer never nominated).
        let deadline_passed = |c: &ComponentState| {
            !self.controlling
                && c.first_valid_at
                    .is_some_and(|t| self.last_now >= t + self.config.nomination_timeout)
        };
        let mut not_nominated = false;
        let lost = (1..=self.config.components).any(|comp| {
            let Some(c) = self.component(comp) else {
                return false;
            };
            if c.selected_this_session {
                return false;
            }
            let has_valid = self.checklist.live().any(|(_, p)| {
                p.component == comp && p.valid_local.is_some() && p.state == PairState::Succeeded
            });
            if has_valid && deadline_passed(c) {
                not_nominated = true;
                return true;
            }
            !has_valid
        });
        if !lost {
            return;
        }
        let reasons: Vec<PairFailure> = self
            .checklist
            .pairs
            .iter()
            .filter(|p| !p.removed || p.failure.is_some())
            .filter_map(|p| {
                let reason = match (p.failure, p.state) {
                    (Some(reason), _) => reason,
                    (None, PairState::Succeeded) if not_nominated => FailureReason::NotNominated,
                    _ => return None,
                };
                Some(PairFailure {
                    local: self.locals.get(p.local)?.cand.clone(),
                    remote: self.remotes.get(p.remote)?.clone(),
                    reason,
                })
            })
            .collect();
        tracing::info!(pairs = reasons.len(), "ICE failed");
        self.state = IceState::Failed;
        self.events.push_back(IceEvent::Failed { reasons });
    }
}
