//! Roles and role conflicts (RFC 8445 §6.1.1, §7.2.5.1, §7.3.1.1).

use rand::Rng;

use super::{IceAgent, IceEvent};

/// The role a received check announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnnouncedRole {
    Controlling(u64),
    Controlled(u64),
    /// Neither attribute (not a conformant ICE peer); no conflict can be detected.
    Unknown,
}

/// What the server side does about a role conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConflictAction {
    /// No conflict.
    Proceed,
    /// Answer 487 (Role Conflict) and keep our role.
    Reject487,
    /// Switch to this role (true = controlling) and answer the check normally.
    SwitchTo(bool),
}

/// RFC 8445 §7.3.1.1, all four branches.
pub(crate) fn resolve_conflict(
    we_control: bool,
    our_tie_breaker: u64,
    theirs: AnnouncedRole,
) -> ConflictAction {
    match theirs {
        AnnouncedRole::Controlling(their_tb) if we_control => {
            if our_tie_breaker >= their_tb {
                // Controlling vs controlling, ours ≥ theirs: 487, we stay controlling.
                ConflictAction::Reject487
            } else {
                // Controlling vs controlling, ours < theirs: we become controlled.
                ConflictAction::SwitchTo(false)
            }
        }
        AnnouncedRole::Controlled(their_tb) if !we_control => {
            if our_tie_breaker >= their_tb {
                // Controlled vs controlled, ours ≥ theirs: we become controlling.
                ConflictAction::SwitchTo(true)
            } else {
                // Controlled vs controlled, ours < theirs: 487, we stay controlled.
                ConflictAction::Reject487
            }
        }
        _ => ConflictAction::Proceed,
    }
}

impl IceAgent {
    /// Take the other role: pair priorities depend on it (RFC 8445 §6.1.2.3), so they are
    /// recomputed. `new_tie_breaker` after a 487 as a client (see ASSUMPTIONS.md).
    pub(super) fn switch_role(&mut self, controlling: bool, new_tie_breaker: bool) {
        self.controlling = controlling;
        if new_tie_breaker {
            self.tie_breaker = self.rng.random();
        }
        let locals = &self.locals;
        let remotes = &self.remotes;
        self.checklist.recompute_priorities(
            controlling,
            |l| locals.get(l).map_or(0, |c| c.cand.priority),
            |r| remotes.get(r).map_or(0, |c| c.priority),
        );
        for c in &mut self.components {
            c.nominating = None;
        }
        for p in &mut self.checklist.pairs {
            p.use_candidate = false;
        }
        self.nomination_queue.clear();
        tracing::info!(controlling, "ICE role changed");
        self.events.push_back(IceEvent::RoleChanged { controlling });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controlling_meets_controlling_with_a_smaller_tie_breaker_answers_487() {
        assert_eq!(
            resolve_conflict(true, 10, AnnouncedRole::Controlling(5)),
            ConflictAction::Reject487
        );
        assert_eq!(
            resolve_conflict(true, 10, AnnouncedRole::Controlling(10)),
            ConflictAction::Reject487
        );
    }

    #[test]
    fn controlling_meets_controlling_with_a_larger_tie_breaker_becomes_controlled() {
        assert_eq!(
            resolve_conflict(true, 5, AnnouncedRole::Controlling(10)),
            ConflictAction::SwitchTo(false)
        );
    }

    #[test]
    fn controlled_meets_controlled_with_a_smaller_tie_breaker_becomes_controlling() {
        assert_eq!(
            resolve_conflict(false, 10, AnnouncedRole::Controlled(5)),
            ConflictAction::SwitchTo(true)
        );
        assert_eq!(
            resolve_conflict(false, 10, AnnouncedRole::Controlled(10)),
            ConflictAction::SwitchTo(true)
        );
    }

    #[test]
    fn controlled_meets_controlled_with_a_larger_tie_breaker_answers_487() {
        assert_eq!(
            resolve_conflict(false, 5, AnnouncedRole::Controlled(10)),
            ConflictAction::Reject487
        );
    }

    #[test]
    fn no_conflict_when_roles_differ() {
        assert_eq!(
            resolve_conflict(true, 1, AnnouncedRole::Controlled(9)),
            ConflictAction::Proceed
        );
        assert_eq!(
            resolve_conflict(false, 1, AnnouncedRole::Controlling(9)),
            ConflictAction::Proceed
        );
        assert_eq!(
            resolve_conflict(false, 1, AnnouncedRole::Unknown),
            ConflictAction::Proceed
        );
    }
}
