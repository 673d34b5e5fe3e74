//! The check list of one stream: candidate pairs, their states and priorities, pruning, the
//! pair limit, unfreezing and the triggered-check queue (RFC 8445 §6.1.2, §6.1.4, §7.3.1.4).

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use super::candidates::{LocalCandidate, LocalId, Origin};
use super::events::{FailureReason, PairState};
use crate::candidate::{pair_priority, Candidate, Transport};
use crate::stun::TransactionId;

pub(crate) type PairId = usize;
pub(crate) type RemoteId = usize;

#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub local: LocalId,
    pub remote: RemoteId,
    pub component: u16,
    /// RFC 8445 §6.1.2.6: the pair foundation is the local and remote foundations together.
    pub foundation: (String, String),
    pub priority: u64,
    pub state: PairState,
    /// Once the check succeeded: the local candidate of the valid pair it produced (the
    /// candidate whose address equals XOR-MAPPED-ADDRESS, RFC 8445 §7.2.5.3.2).
    pub valid_local: Option<LocalId>,
    /// Priority of the valid pair (differs from `priority` when the valid local is reflexive).
    pub valid_priority: u64,
    pub nominated: bool,
    /// Controlled side: USE-CANDIDATE arrived before the pair succeeded (RFC 8445 §7.3.1.5).
    pub nominate_on_success: bool,
    /// Controlling side: the next check of this pair carries USE-CANDIDATE.
    pub use_candidate: bool,
    pub failure: Option<FailureReason>,
    /// 487s received on this pair; a second one fails the pair instead of looping.
    pub role_conflicts: u8,
    /// Controlling: USE-CANDIDATE checks of this pair that timed out (see `MAX_NOMINATION_ROUNDS`).
    pub nomination_rounds: u8,
    /// An authenticated check from the peer arrived on this pair: the path works at least
    /// toward us, so a timeout of our own check earns one more round (see ASSUMPTIONS.md).
    pub peer_checked: bool,
    /// Extra rounds of our check granted because `peer_checked`.
    pub retry_rounds: u8,
    pub transaction: Option<TransactionId>,
    /// When the current transaction of this pair's check was first sent.
    pub check_started: Option<Instant>,
    /// Removed from the check list after nomination (RFC 8445 §8.1.2) or by the pair limit.
    pub removed: bool,
}

/// Pair priority from the agent's point of view (RFC 8445 §6.1.2.3): G is the controlling
/// agent's candidate priority, D the controlled agent's.
pub(crate) fn priority_for(local: u32, remote: u32, controlling: bool) -> u64 {
    if controlling {
        pair_priority(local, remote)
    } else {
        pair_priority(remote, local)
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(v4) => v4.is_link_local(),
    }
}

/// RFC 8445 §6.1.2.2: pair only same component, same transport and same address family;
/// an IPv6 link-local address only with another link-local one.
pub(crate) fn can_pair(local: &Candidate, remote: &Candidate) -> bool {
    local.component == remote.component
        && local.transport == Transport::Udp
        && remote.transport == Transport::Udp
        && local.address.is_ipv4() == remote.address.is_ipv4()
        && (!local.address.is_ipv6()
            || is_link_local(local.address.ip()) == is_link_local(remote.address.ip()))
}

#[derive(Debug, Default)]
pub(crate) struct CheckList {
    pub pairs: Vec<Pair>,
    pub triggered: VecDeque<PairId>,
    /// Foundations with a Waiting or In-Progress pair in *other* streams' check lists
    /// (RFC 8445 §6.1.4.2 step 2 looks at the whole check-list set); kept by `IceStreams`.
    pub external_active: HashSet<(String, String)>,
}

impl CheckList {
    pub fn clear(&mut self) {
        self.pairs.clear();
        self.triggered.clear();
        self.external_active.clear();
    }

    pub fn get(&self, id: PairId) -> Option<&Pair> {
        self.pairs.get(id)
    }

    pub fn get_mut(&mut self, id: PairId) -> Option<&mut Pair> {
        self.pairs.get_mut(id)
    }

    pub fn live(&self) -> impl Iterator<Item = (PairId, &Pair)> {
        self.pairs.iter().enumerate().filter(|(_, p)| !p.removed)
    }

    pub fn find(&self, local: LocalId, remote: RemoteId) -> Option<PairId> {
        self.pairs
            .iter()
            .position(|p| !p.removed && p.local == local && p.remote == remote)
    }

    /// Form the pair `local`–`remote` if RFC 8445 §6.1.2 allows it. Pruning (§6.1.2.4):
    /// reflexive locals are replaced by their base, which is the host candidate already paired,
    /// so only host and relayed locals form pairs; a pair with the same base and remote as an
    /// existing one is redundant. The pair limit (§6.1.2.5) drops the lowest-priority Frozen
    /// pair when full, or refuses the new pair when it would be that pair.
    pub fn add_pair(
        &mut self,
        local_id: LocalId,
        local: &LocalCandidate,
        remote_id: RemoteId,
        remote: &Candidate,
        controlling: bool,
        max_pairs: usize,
    ) -> Option<PairId> {
        if !matches!(local.origin, Origin::Host | Origin::Relay { .. })
            || !can_pair(&local.cand, remote)
        {
            return None;
        }
        if self.find(local_id, remote_id).is_some() {
            return None;
        }
        let priority = priority_for(local.cand.priority, remote.priority, controlling);
        let live = self.pairs.iter().filter(|p| !p.removed).count();
        if live >= max_pairs {
            let lowest = self
                .pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.removed && p.state == PairState::Frozen)
                .min_by_key(|(_, p)| p.priority)
                .map(|(i, p)| (i, p.priority));
            match lowest {
                Some((i, prio)) if prio < priority => {
                    if let Some(p) = self.pairs.get_mut(i) {
                        p.removed = true;
                    }
                }
                _ => return None,
            }
        }
        self.pairs.push(Pair {
            local: local_id,
            remote: remote_id,
            component: remote.component,
            foundation: (local.cand.foundation.clone(), remote.foundation.clone()),
            priority,
            state: PairState::Frozen,
            valid_local: None,
            valid_priority: 0,
            nominated: false,
            nominate_on_success: false,
            use_candidate: false,
            failure: None,
            role_conflicts: 0,
            nomination_rounds: 0,
            peer_checked: false,
            retry_rounds: 0,
            check_started: None,
            transaction: None,
            removed: false,
        });
        Some(self.pairs.len() - 1)
    }

    /// RFC 8445 §7.2.5.1 / §7.3.1.1: pair priorities depend on the role; recompute after a
    /// role change.
    pub fn recompute_priorities<L, R>(&mut self, controlling: bool, local_prio: L, remote_prio: R)
    where
        L: Fn(LocalId) -> u32,
        R: Fn(RemoteId) -> u32,
    {
        for p in &mut self.pairs {
            p.priority = priority_for(local_prio(p.local), remote_prio(p.remote), controlling);
            if let Some(v) = p.valid_local {
                p.valid_priority = priority_for(local_prio(v), remote_prio(p.remote), controlling);
            }
        }
    }

    /// RFC 8445 §6.1.2.6: for each foundation, the pair with the lowest component ID and then
    /// the highest priority becomes Waiting. Returns the pairs whose state changed.
    pub fn initial_unfreeze(&mut self) -> Vec<PairId> {
        let mut chosen: Vec<PairId> = Vec::new();
        for (i, p) in self.pairs.iter().enumerate() {
            if p.removed || p.state != PairState::Frozen {
                continue;
            }
            let same = chosen.iter().position(|&c| {
                self.pairs
                    .get(c)
                    .is_some_and(|q| q.foundation == p.foundation)
            });
            match same {
                None => chosen.push(i),
                Some(pos) => {
                    let Some(&c) = chosen.get(pos) else { continue };
                    let Some(q) = self.pairs.get(c) else { continue };
                    if (p.component, std::cmp::Reverse(p.priority))
                        < (q.component, std::cmp::Reverse(q.priority))
                    {
                        if let Some(slot) = chosen.get_mut(pos) {
                            *slot = i;
                        }
                    }
                }
            }
        }
        for &i in &chosen {
            if let Some(p) = self.pairs.get_mut(i) {
                p.state = PairState::Waiting;
            }
        }
        chosen
    }

    fn foundation_active(&self, foundation: &(String, String)) -> bool {
        self.external_active.contains(foundation)
            || self.live().any(|(_, p)| {
                &p.foundation == foundation
                    && matches!(p.state, PairState::Waiting | PairState::InProgress)
            })
    }

    /// RFC 8445 §7.2.5.3.3: after a success, Frozen pairs with the same foundation become
    /// Waiting. Returns the pairs whose state changed.
    pub fn unfreeze_foundation(&mut self, foundation: &(String, String)) -> Vec<PairId> {
        let mut changed = Vec::new();
        for (i, p) in self.pairs.iter_mut().enumerate() {
            if !p.removed && p.state == PairState::Frozen && &p.foundation == foundation {
                p.state = PairState::Waiting;
                changed.push(i);
            }
        }
        changed
    }

    /// RFC 8445 §6.1.4.2 steps 2 and 3 for an ordinary check: with no Waiting pair, unfreeze
    /// the highest-priority Frozen pair whose foundation has nothing Waiting or In-Progress;
    /// then pick the highest-priority Waiting pair that `sendable` allows (a relayed pair waits
    /// for its TURN permission). Returns (pair, pairs whose state changed to Waiting).
    pub fn next_ordinary<F: Fn(PairId, &Pair) -> bool>(
        &mut self,
        sendable: F,
    ) -> (Option<PairId>, Vec<PairId>) {
        let mut changed = Vec::new();
        let any_waiting = self
            .live()
            .any(|(i, p)| p.state == PairState::Waiting && sendable(i, p));
        if !any_waiting {
            let candidate = self
                .live()
                .filter(|(_, p)| {
                    p.state == PairState::Frozen && !self.foundation_active(&p.foundation)
                })
                .max_by_key(|(_, p)| p.priority)
                .map(|(i, _)| i);
            if let Some(i) = candidate {
                if let Some(p) = self.pairs.get_mut(i) {
                    p.state = PairState::Waiting;
                    changed.push(i);
                }
            }
        }
        let next = self
            .live()
            .filter(|(i, p)| p.state == PairState::Waiting && sendable(*i, p))
            .max_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i);
        (next, changed)
    }

    /// Pop the first triggered check that still needs sending.
    pub fn pop_triggered<F: Fn(PairId, &Pair) -> bool>(&mut self, sendable: F) -> Option<PairId> {
        let pos = self.triggered.iter().position(|&id| {
            self.pairs
                .get(id)
                .is_some_and(|p| !p.removed && p.state == PairState::Waiting && sendable(id, p))
        })?;
        self.triggered.remove(pos)
    }

    /// RFC 8445 §7.3.1.4: a triggered check for `id`. Succeeded: nothing (returns false).
    /// In-Progress: the running check is dropped and the pair requeued. Waiting, Frozen or
    /// Failed: Waiting and queued. Returns whether a check was queued.
    pub fn trigger(&mut self, id: PairId) -> bool {
        let Some(p) = self.pairs.get_mut(id) else {
            return false;
        };
        if p.removed || p.state == PairState::Succeeded {
            return false;
        }
        p.state = PairState::Waiting;
        p.failure = None;
        if !self.triggered.contains(&id) {
            self.triggered.push_back(id);
        }
        true
    }

    /// Whether any pair can still make progress.
    pub fn has_pending(&self) -> bool {
        self.live().any(|(_, p)| {
            matches!(
                p.state,
                PairState::Frozen | PairState::Waiting | PairState::InProgress
            )
        })
    }

    /// Number of Waiting and In-Progress pairs (RFC 8445 §14.3 RTO formula).
    pub fn active_count(&self) -> usize {
        self.live()
            .filter(|(_, p)| matches!(p.state, PairState::Waiting | PairState::InProgress))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::candidates::LocalCandidates;
    use crate::candidate::{candidate_priority, CandidateKind};
    use std::net::SocketAddr;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn remote(
        foundation: &str,
        component: u16,
        addr: &str,
        kind: CandidateKind,
        pref: u16,
    ) -> Candidate {
        Candidate {
            foundation: foundation.into(),
            component,
            transport: Transport::Udp,
            priority: candidate_priority(kind, pref, component),
            address: sa(addr),
            kind,
            related: None,
            tcp_type: None,
            extensions: vec![],
        }
    }

    #[test]
    fn pair_priority_both_ways_per_rfc_formula() {
        // G = controlling, D = controlled (RFC 8445 §6.1.2.3).
        let (g, d) = (2130706431u32, 1694498815u32);
        let expected = (1u64 << 32) * d as u64 + 2 * g as u64 + 1;
        assert_eq!(priority_for(g, d, true), expected);
        assert_eq!(priority_for(d, g, false), expected);
        assert_eq!(
            priority_for(d, g, true),
            (1u64 << 32) * d as u64 + 2 * g as u64
        );
    }

    #[test]
    fn pairing_respects_component_family_and_link_local() {
        let l4 = remote("1", 1, "192.0.2.1:1000", CandidateKind::Host, 1);
        let l6ll = remote("1", 1, "[fe80::1]:1000", CandidateKind::Host, 1);
        let r6g = remote("1", 1, "[2001:db8::2]:1000", CandidateKind::Host, 1);
        let r6ll = remote("1", 1, "[fe80::2]:1000", CandidateKind::Host, 1);
        let r4c2 = remote("1", 2, "192.0.2.2:1001", CandidateKind::Host, 1);
        assert!(!can_pair(&l4, &r6g));
        assert!(!can_pair(&l4, &r4c2));
        assert!(!can_pair(&l6ll, &r6g));
        assert!(can_pair(&l6ll, &r6ll));
        let mut tcp = remote("1", 1, "192.0.2.3:1000", CandidateKind::Host, 1);
        tcp.transport = Transport::Tcp;
        assert!(!can_pair(&l4, &tcp));
    }

    fn setup() -> (LocalCandidates, Vec<Candidate>, CheckList) {
        let mut locals = LocalCandidates::default();
        let base = sa("192.0.2.1:5000");
        locals.add_host(1, base, 1, false).unwrap();
        locals
            .add_server_reflexive(base, sa("203.0.113.1:6000"), sa("198.51.100.9:3478"), 0)
            .unwrap();
        let remotes = vec![
            remote("a", 1, "192.0.2.50:7000", CandidateKind::Host, 65535),
            remote(
                "b",
                1,
                "203.0.113.50:8000",
                CandidateKind::ServerReflexive,
                65535,
            ),
            remote(
                "b",
                1,
                "203.0.113.50:8001",
                CandidateKind::ServerReflexive,
                65000,
            ),
        ];
        let mut cl = CheckList::default();
        for (lid, l) in locals.iter() {
            for (rid, r) in remotes.iter().enumerate() {
                cl.add_pair(lid, l, rid, r, true, 100);
            }
        }
        (locals, remotes, cl)
    }

    #[test]
    fn reflexive_locals_are_pruned_to_their_base() {
        let (_, _, cl) = setup();
        // 1 host local × 3 remotes; the srflx local forms no pair of its own.
        assert_eq!(cl.pairs.len(), 3);
        assert!(cl.pairs.iter().all(|p| p.local == 0));
    }

    #[test]
    fn initial_unfreeze_picks_one_pair_per_foundation_and_success_unfreezes_the_rest() {
        let (_, _, mut cl) = setup();
        let waiting = cl.initial_unfreeze();
        assert_eq!(waiting.len(), 2);
        // Foundation (1,b) has two pairs; the higher-priority one (remote pref 65535) won.
        assert_eq!(cl.pairs[1].state, PairState::Waiting);
        assert_eq!(cl.pairs[2].state, PairState::Frozen);
        let f = cl.pairs[1].foundation.clone();
        assert_eq!(cl.unfreeze_foundation(&f), vec![2]);
        assert_eq!(cl.pairs[2].state, PairState::Waiting);
    }

    #[test]
    fn ordinary_checks_go_by_priority_then_unfreeze_idle_foundations() {
        let (_, _, mut cl) = setup();
        let (first, changed) = cl.next_ordinary(|_, _| true);
        // Nothing Waiting yet: the highest Frozen pair of an idle foundation is unfrozen.
        assert_eq!(first, Some(0));
        assert_eq!(changed, vec![0]);
        cl.pairs[0].state = PairState::InProgress;
        let (second, _) = cl.next_ordinary(|_, _| true);
        assert_eq!(second, Some(1));
        cl.pairs[1].state = PairState::InProgress;
        // Pair 2 shares pair 1's foundation, which is In-Progress: it stays Frozen.
        assert_eq!(cl.next_ordinary(|_, _| true), (None, vec![]));
        // A sendable filter skips pairs (e.g. relay without permission).
        cl.pairs[1].state = PairState::Failed;
        assert_eq!(cl.next_ordinary(|_, p| p.remote != 2).0, None);
        assert_eq!(cl.pairs[2].state, PairState::Waiting);
    }

    #[test]
    fn triggered_queue_follows_rfc_8445_7_3_1_4() {
        let (_, _, mut cl) = setup();
        cl.pairs[0].state = PairState::Succeeded;
        assert!(!cl.trigger(0));
        cl.pairs[1].state = PairState::InProgress;
        assert!(cl.trigger(1));
        assert_eq!(cl.pairs[1].state, PairState::Waiting);
        cl.pairs[2].state = PairState::Failed;
        assert!(cl.trigger(2));
        assert!(cl.trigger(2)); // queued once only
        assert_eq!(cl.triggered.len(), 2);
        assert_eq!(cl.pop_triggered(|_, _| true), Some(1));
        assert_eq!(cl.pop_triggered(|_, _| true), Some(2));
        assert_eq!(cl.pop_triggered(|_, _| true), None);
    }

    #[test]
    fn pair_limit_drops_the_lowest_frozen_pair() {
        let mut locals = LocalCandidates::default();
        locals.add_host(1, sa("192.0.2.1:5000"), 1, false).unwrap();
        let (lid, l) = locals.iter().next().map(|(i, l)| (i, l.clone())).unwrap();
        let mut cl = CheckList::default();
        let low = remote("x", 1, "192.0.2.60:1", CandidateKind::Relayed, 10);
        let mid = remote("y", 1, "192.0.2.61:1", CandidateKind::ServerReflexive, 10);
        let high = remote("z", 1, "192.0.2.62:1", CandidateKind::Host, 10);
        assert!(cl.add_pair(lid, &l, 0, &mid, true, 1).is_some());
        assert!(cl.add_pair(lid, &l, 1, &low, true, 1).is_none());
        assert!(cl.add_pair(lid, &l, 2, &high, true, 1).is_some());
        assert_eq!(cl.live().count(), 1);
        assert!(cl.pairs[0].removed);
    }

    #[test]
    fn role_change_recomputes_priorities() {
        let (locals, remotes, mut cl) = setup();
        let before = cl.pairs[0].priority;
        cl.recompute_priorities(
            false,
            |l| locals.get(l).unwrap().cand.priority,
            |r| remotes[r].priority,
        );
        assert_ne!(cl.pairs[0].priority, before);
        let (lp, rp) = (locals.get(0).unwrap().cand.priority, remotes[0].priority);
        assert_eq!(cl.pairs[0].priority, pair_priority(rp, lp));
    }
}
