//! Nomination and selection (RFC 8445 §8): the controlling agent picks one valid pair per
//! component and repeats its check with USE-CANDIDATE (regular) or nominates with every check
//! (aggressive, RFC 5245 §8.1.1.2); the controlled agent selects what it is told, taking the
//! highest-priority nominated pair when an RFC 5245 peer nominates several.

use std::time::Instant;

use super::checklist::PairId;
use super::config::NominationMode;
use super::events::{IceEvent, IceState, PairState};
use super::{IceAgent, SelectedPath};
use crate::candidate::CandidateKind;

impl IceAgent {
    /// The best valid pair of `component` (highest valid-pair priority).
    fn best_valid(&self, component: u16) -> Option<(PairId, u64)> {
        self.checklist
            .live()
            .filter(|(_, p)| {
                p.component == component
                    && p.state == PairState::Succeeded
                    && p.valid_local.is_some()
            })
            .max_by_key(|(_, p)| p.valid_priority)
            .map(|(i, p)| (i, p.valid_priority))
    }

    /// Whether pair `id` goes through a TURN relay on either side.
    fn is_relayed(&self, id: PairId) -> bool {
        self.checklist.get(id).is_some_and(|p| {
            self.locals
                .get(p.local)
                .is_some_and(|l| l.cand.kind == CandidateKind::Relayed)
                || self
                    .remotes
                    .get(p.remote)
                    .is_some_and(|r| r.kind == CandidateKind::Relayed)
        })
    }

    /// How long after its first valid pair `component` may wait for a better pair before
    /// nominating its best valid one; `None` when nothing better is still being checked.
    ///
    /// RFC 8445 §8.1.1 leaves the stopping criterion to the controlling agent. Any
    /// higher-priority pair still Frozen/Waiting/In-Progress is waited for `nomination_wait`.
    /// A relayed best pair is also held `relay_nomination_wait` for a higher-priority direct
    /// pair: a direct check whose first send was lost succeeds on its retransmission 0.5 s or
    /// 1.5 s later (RFC 8489 §6.2.1), and a relay costs the TURN server and a longer path. A
    /// direct best pair is nominated at once unless `nomination_wait` says otherwise.
    fn nomination_hold(&self, component: u16) -> Option<std::time::Duration> {
        let (best, best_priority) = self.best_valid(component)?;
        let best_relayed = self.is_relayed(best);
        let mut hold: Option<std::time::Duration> = None;
        for (id, p) in self.checklist.live() {
            if p.component != component
                || p.priority <= best_priority
                || !matches!(
                    p.state,
                    PairState::Frozen | PairState::Waiting | PairState::InProgress
                )
            {
                continue;
            }
            let mut wait = self.config.nomination_wait;
            if best_relayed && !self.is_relayed(id) {
                wait = wait.max(self.config.relay_nomination_wait);
            }
            hold = Some(hold.map_or(wait, |h| h.max(wait)));
        }
        hold
    }

    /// Controlling, regular nomination: nominate a component's best valid pair once no
    /// higher-priority pair worth waiting for is still being checked, or once the wait
    /// (`nomination_hold`) after its first valid pair is over.
    pub(super) fn evaluate_nomination(&mut self, now: Instant) {
        if !self.controlling
            || self.config.nomination == NominationMode::Aggressive
            || !matches!(self.state, IceState::Checking | IceState::Completed)
        {
            return;
        }
        for component in 1..=self.config.components {
            let Some(state) = self.component(component) else {
                continue;
            };
            if state.selected_this_session || state.nominating.is_some() {
                continue;
            }
            let first_valid_at = state.first_valid_at;
            let Some((best, _)) = self.best_valid(component) else {
                continue;
            };
            if let Some(hold) = self.nomination_hold(component) {
                if first_valid_at.is_none_or(|t| now < t + hold) {
                    continue;
                }
            }
            tracing::debug!(component, pair = best, "nominating");
            if let Some(p) = self.checklist.get_mut(best) {
                p.use_candidate = true;
            }
            if let Some(c) = self.component_mut(component) {
                c.nominating = Some(best);
            }
            // RFC 8445 §8.1.1: a new check with USE-CANDIDATE, sent in the next pacing slot.
            self.nomination_queue.push_back(best);
        }
    }

    /// When a regular nomination's wait for better pairs ends.
    pub(super) fn nomination_deadline(&self) -> Option<Instant> {
        if !self.controlling || self.config.nomination == NominationMode::Aggressive {
            return None;
        }
        self.components
            .iter()
            .zip(1u16..)
            .filter(|(c, _)| !c.selected_this_session && c.nominating.is_none())
            .filter_map(|(c, component)| {
                let hold = self.nomination_hold(component)?;
                Some(c.first_valid_at? + hold)
            })
            .min()
    }

    /// `id` is nominated and valid: it carries the component's media from now on.
    pub(super) fn select(&mut self, now: Instant, id: PairId) {
        let Some(pair) = self.checklist.get(id).cloned() else {
            return;
        };
        let component = pair.component;
        let Some(valid_local) = pair.valid_local else {
            return;
        };
        let (Some(local), Some(base), Some(remote)) = (
            self.locals.get(valid_local).map(|l| l.cand.clone()),
            self.locals.get(pair.local).map(|l| l.base),
            self.remotes.get(pair.remote).cloned(),
        ) else {
            return;
        };
        let Some(remote_credentials) = self.remote_credentials.clone() else {
            return;
        };
        let local_credentials = self.local_credentials.clone();
        if let Some(current) = self.component(component) {
            if current.selected_this_session {
                let current_priority = current.selected.as_ref().map_or(0, |s| s.pair_priority);
                // RFC 8445 §8.1.1: one nomination per component. The controlling agent never
                // changes it; the controlled agent accepts a higher-priority nomination from
                // an aggressive RFC 5245 peer (RFC 5245 §8.1.1.2).
                if self.controlling || pair.valid_priority <= current_priority {
                    return;
                }
            }
        }
        tracing::info!(component, local = %local.address, remote = %remote.address, kind_l = %local.kind, kind_r = %remote.kind, "pair selected");
        let tr = self.config.keepalive_interval;
        let consent = self.config.consent;
        let jitter = self.consent_jitter();
        if let Some(c) = self.component_mut(component) {
            c.selected = Some(SelectedPath {
                local: local.clone(),
                remote: remote.clone(),
                base,
                pair_priority: pair.valid_priority,
                local_credentials,
                remote_credentials,
            });
            c.selected_this_session = true;
            c.nominating = None;
            c.next_keepalive = Some(now + tr);
            c.consent_lost = false;
            if consent.enabled {
                c.next_consent = Some(now + jitter);
                c.consent_expires = Some(now + consent.timeout);
            }
        }
        self.events.push_back(IceEvent::Selected {
            component,
            local,
            remote: remote.clone(),
        });

        // RFC 8445 §8.1.2: the component's other pairs leave the check list and the triggered
        // queue; checks in flight stop. The controlled agent keeps succeeded pairs so that a
        // later, higher-priority nomination from an aggressive peer can still be honoured.
        let others: Vec<PairId> = self
            .checklist
            .live()
            .filter(|(i, p)| {
                *i != id
                    && p.component == component
                    && (self.controlling || p.state != PairState::Succeeded)
            })
            .map(|(i, _)| i)
            .collect();
        for other in others {
            if let Some(p) = self.checklist.get_mut(other) {
                p.removed = true;
                if let Some(tid) = p.transaction.take() {
                    self.transactions.remove(&tid);
                }
            }
        }
        let pairs = &self.checklist.pairs;
        let keep = |t: &PairId| pairs.get(*t).is_some_and(|p| !p.removed);
        let triggered: std::collections::VecDeque<PairId> = self
            .checklist
            .triggered
            .iter()
            .copied()
            .filter(keep)
            .collect();
        self.checklist.triggered = triggered;
        self.nomination_queue.retain(|&t| t != id);

        // RFC 8445 §7.2.1 and RFC 8656 §12: a TURN channel for the selected relayed pair.
        if let Some(turn) = self.relay_of_base(base) {
            self.gathering.bind_channel(now, turn, remote.address);
        }

        if self.components.iter().all(|c| c.selected_this_session)
            && self.state != IceState::Completed
        {
            // RFC 8445 §9: the previous session's credentials are no longer needed.
            self.previous_local_credentials = None;
            self.state = IceState::Completed;
            tracing::info!("ICE completed");
            self.events.push_back(IceEvent::Completed);
        }
    }
}
