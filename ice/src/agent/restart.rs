//! ICE restart (RFC 8445 §9): new credentials, a fresh check list, the same role, and media
//! on the previous selected pairs until new ones are selected.

use super::events::{IceEvent, IceState};
use super::{IceAgent, TxnKind};
use crate::candidate::Credentials;

impl IceAgent {
    pub(super) fn do_restart(&mut self) {
        // RFC 8445 §9: both ufrag and password change.
        let mut fresh = Credentials::random(&mut self.rng);
        while fresh.ufrag == self.local_credentials.ufrag {
            fresh = Credentials::random(&mut self.rng);
        }
        let old = std::mem::replace(&mut self.local_credentials, fresh);
        // The old session's checks are still answered while media uses its pairs.
        if self.components.iter().any(|c| c.selected.is_some()) {
            self.previous_local_credentials = Some(old);
        }
        self.remote_credentials = None;
        self.learned_remote_ufrag = None;
        self.remotes.clear();
        self.checklist.clear();
        self.nomination_queue.clear();
        self.transactions
            .retain(|_, t| !matches!(t.kind, TxnKind::Check { .. }));
        for c in &mut self.components {
            c.selected_this_session = false;
            c.nominating = None;
            c.first_valid_at = None;
        }
        self.initial_unfreeze_done = false;
        self.checks_idle_since = None;
        self.end_of_remote_candidates = false;
        if self.state != IceState::Closed {
            self.state = IceState::New;
        }
        tracing::info!("ICE restart");
        self.events.push_back(IceEvent::Restarted {
            credentials: self.local_credentials.clone(),
        });
    }
}
