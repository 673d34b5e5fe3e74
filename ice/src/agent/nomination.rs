//! Nomination and selection (RFC 8445 §8): the controlling agent picks one valid pair per
//! component and repeats its check with USE-CANDIDATE (regular) or nominates with every check
//! (aggressive, RFC 5245 §8.1.1.2); the controlled agent selects what it is told, taking the
//! highest-priority nominated pair when an RFC 5245 peer nominates several.

use std::time::Instant;

use super::checklist::PairId;
use super::config::{NominationMode, MIN_RTO};
use super::events::{IceEvent, IceState, PairState};
use super::{IceAgent, SelectedPath};
use crate::candidate::CandidateKind;

impl IceAgent {
    /// The local candidate of `component`'s best valid pair as the peer sees it (the valid
    /// pair's local, e.g. our srflx or prflx address, not the host base its check left from),
    /// whether or not it has been nominated yet.
    pub fn best_valid_local(&self, component: u16) -> Option<crate::Candidate> {
        let (best, _) = self.best_valid(component)?;
        let local = self.checklist.get(best)?.valid_local?;
        self.local_candidate(local)
    }

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

    /// Until when `component` may wait for a better pair before nominating its best valid
    /// one; `None` when nothing better is worth waiting for.
    ///
    /// RFC 8445 §8.1.1 leaves the stopping criterion to the controlling agent. Any
    /// higher-priority pair still Frozen/Waiting/In-Progress is waited for `nomination_wait`
    /// after the first valid pair. A relayed best pair is also held for a higher-priority
    /// direct pair (a relay costs the TURN server and a longer path), but only as long as that
    /// pair can still be expected to answer (`direct_pair_expected_until`), and never beyond
    /// `relay_nomination_wait`. The hold ends as soon as every such pair has failed.
    fn nomination_hold_until(&self, component: u16) -> Option<Instant> {
        let (best, best_priority) = self.best_valid(component)?;
        let first_valid_at = self.component(component)?.first_valid_at?;
        let best_relayed = self.is_relayed(best);
        let pending: Vec<(PairId, &super::checklist::Pair)> = self
            .checklist
            .live()
            .filter(|(_, p)| {
                p.component == component
                    && p.priority > best_priority
                    && matches!(
                        p.state,
                        PairState::Frozen | PairState::Waiting | PairState::InProgress
                    )
            })
            .collect();
        if pending.is_empty() {
            return None;
        }
        let mut until = first_valid_at + self.config.nomination_wait;
        if best_relayed {
            let cap = first_valid_at + self.config.relay_nomination_wait;
            // Once per evaluation, not per pair: this runs after every input while checking.
            let symmetric = self.symmetric_nat_seen();
            // Pairs not sent yet leave one per Ta (RFC 8445 §6.1.4.2), in priority order.
            let mut unsent = 0u32;
            for (id, p) in pending.iter().rev() {
                if self.is_relayed(*id) {
                    continue;
                }
                if p.check_started.is_none() {
                    unsent += 1;
                }
                let expected =
                    self.direct_pair_expected_until(p, first_valid_at, unsent, symmetric);
                until = until.max(expected.min(cap));
            }
        }
        Some(until)
    }

    /// How long a higher-priority direct pair is worth waiting for while a relayed pair is
    /// valid, never beyond `relay_nomination_wait` after the first valid pair (the caller caps).
    ///
    /// - A pair the peer's checks already reached (`peer_checked`) works toward us; if a send
    ///   was lost it answers on a retransmission: it is waited for up to the cap.
    /// - When neither side's NAT is seen to map endpoint-dependently (`symmetric_nat_seen`),
    ///   two reflexive addresses can always reach each other once both sides have sent
    ///   (RFC 4787 §4.1), so a silent check was most likely lost: it is given the answer to
    ///   its second retransmission (sends at 0, RTO and 3 RTO, RFC 8489 §6.2.1) plus a round
    ///   trip — under 10 % loss a relay otherwise wins that race in about one call in five.
    /// - Otherwise the direct path is most likely blocked (a symmetric NAT), so the pair is
    ///   expected to answer one measured round trip (plus a Ta of slack) after its check left,
    ///   or, if its check has not left yet, after its turn in the pacing order; one RTO more
    ///   on a network seen losing datagrams (`loss_seen`).
    fn direct_pair_expected_until(
        &self,
        p: &super::checklist::Pair,
        first_valid_at: Instant,
        unsent_rank: u32,
        symmetric_nat_seen: bool,
    ) -> Instant {
        if p.peer_checked {
            return first_valid_at + self.config.relay_nomination_wait;
        }
        let rto = self.config.check_retransmit.rto.max(MIN_RTO);
        let rtt = self.check_rtt.unwrap_or(MIN_RTO);
        let slack = self.config.ta;
        let retransmissions = if !symmetric_nat_seen {
            rto * 3
        } else if self.loss_seen {
            rto
        } else {
            std::time::Duration::ZERO
        };
        let sent = p
            .check_started
            .unwrap_or(first_valid_at + self.config.ta * unsent_rank);
        sent + retransmissions + rtt + slack
    }

    /// Whether our NAT or the peer's maps endpoint-dependently (RFC 4787 §4.1, "symmetric"):
    /// see `endpoint_dependent_mapping`.
    fn symmetric_nat_seen(&self) -> bool {
        // Every local candidate, peer-reflexive ones included (learned from our checks'
        // XOR-MAPPED-ADDRESS, RFC 8445 §7.2.5.3.1).
        endpoint_dependent_mapping(|| self.locals.iter().map(|(_, l)| &l.cand))
            || endpoint_dependent_mapping(|| self.remotes.iter())
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
            let Some((best, _)) = self.best_valid(component) else {
                continue;
            };
            if self
                .nomination_hold_until(component)
                .is_some_and(|until| now < until)
            {
                continue;
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
            .filter(|(c, _)| c.first_valid_at.is_some())
            .filter_map(|(_, component)| self.nomination_hold_until(component))
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

/// See `IceAgent::symmetric_nat_seen`: one side's candidates show two mappings of one NAT
/// for one base: a relayed candidate's mapped address (its raddr), or a peer-reflexive
/// candidate (the address a check came from, or was seen from, RFC 8445 §7.2.5.3.1,
/// §7.3.1.3), on the IP of a server-reflexive candidate of the same component, with another
/// port. With coturn as STUN and TURN server on one address only the peer-reflexive case shows.
fn endpoint_dependent_mapping<'a, I: Iterator<Item = &'a crate::Candidate>>(
    candidates: impl Fn() -> I,
) -> bool {
    candidates()
        .filter_map(|c| match c.kind {
            CandidateKind::Relayed => c.related.map(|m| (c.component, m)),
            CandidateKind::PeerReflexive => Some((c.component, c.address)),
            _ => None,
        })
        .any(|(component, mapped)| {
            candidates().any(|s| {
                s.kind == CandidateKind::ServerReflexive
                    && s.component == component
                    && s.address.ip() == mapped.ip()
                    && s.address.port() != mapped.port()
            })
        })
}
