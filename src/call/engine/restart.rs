//! ICE restart inside a call (RFC 8445 §9, RFC 8839 §4.4.1.1.1): ours on command or after a
//! failed losing pair, and the peer's (new credentials in its offer). Media stays on the
//! previously selected pairs until the new session selects again.

use super::*;

/// An ICE restart in progress (RFC 8445 §9): when it began, and the components its new session
/// has selected a pair on so far.
#[derive(Debug)]
pub(super) struct IceRestart {
    started_at: Instant,
    reselected: Vec<u16>,
}

impl CallCore {
    /// `CallCommand::RestartIce`: new local credentials, then an offer carrying them.
    pub(super) fn restart_ice_on_command(&mut self, now: Instant) {
        let Some(agent) = self.agent.as_mut() else {
            tracing::warn!("ICE restart: this call does not use ICE");
            return;
        };
        // RFC 8445 §9: new ufrag and password; the agent keeps the selected pairs for media
        // and answers the old session's checks until the new one selects.
        agent.restart(now);
        let ufrag = agent.local_credentials().ufrag.clone();
        // Reported before the offer goes, in the order things happen.
        self.on_ice_restarted(ufrag, now);
        self.send_restart_offer("ICE restart on command (RFC 8445 §9)", now);
    }

    /// The offer of a restart we started: every candidate, the new credentials and no
    /// a=remote-candidates (RFC 8839 §4.4.1.1.1); UPDATE when the peer allows it (RFC 3311),
    /// else a re-INVITE.
    pub(super) fn send_restart_offer(&mut self, reason: &str, now: Instant) {
        self.forget_ice_session(now);
        let method = if self.peer_allows_update {
            OfferMethod::Update
        } else {
            OfferMethod::Invite
        };
        self.send_offer(method, None, reason);
    }

    /// The session before the restart is over for signalling: no selection to put in
    /// offers until the new one completes, and its own updated offer (RFC 8839 §4.3.4) may
    /// follow then.
    pub(super) fn forget_ice_session(&mut self, now: Instant) {
        self.ice_completed = false;
        self.updated_offer_done = false;
        self.note_restart(now);
    }

    /// A restart began (ours, or the agent's `Restarted` event after the peer's): the new
    /// ufrag is noted once.
    pub(super) fn on_ice_restarted(&mut self, ufrag: String, now: Instant) {
        if self.outcome.local_ufrags.last() == Some(&ufrag) {
            // Our own restart, already reported when it began.
            return;
        }
        self.outcome.local_ufrags.push(ufrag.clone());
        self.note_restart(now);
        self.emit(Event::Ice {
            agent: self.label(),
            state: "restarted".into(),
            component: None,
            local: None,
            remote: None,
            ms: None,
            reason: Some(format!(
                "new local ice-ufrag {ufrag}; media stays on the selected pair (RFC 8445 §9)"
            )),
        });
    }

    /// A restart begins at `now` unless one is already in progress (the peer's offer and
    /// our agent's `Restarted` event report the same one).
    fn note_restart(&mut self, now: Instant) {
        self.restart.get_or_insert_with(|| IceRestart {
            started_at: now,
            reselected: Vec::new(),
        });
    }

    /// A pair selected on `component`: the selection on the last component ends the
    /// restart. Returns how long the restart took, when this selection is its result.
    pub(super) fn restart_selected(&mut self, component: u16, now: Instant) -> Option<u64> {
        let components = self.agent.as_ref().map_or(1, |a| a.config().components);
        let restart = self.restart.as_mut()?;
        let ms = ms_between(restart.started_at, now);
        if !restart.reselected.contains(&component) {
            restart.reselected.push(component);
        }
        // Every component selected again in the new session: the restart is done.
        if restart.reselected.len() >= usize::from(components) {
            self.restart = None;
            self.outcome.ice_restarts += 1;
        }
        Some(ms)
    }

    /// Longest gap between RTP packets received (RTCP, on its own clock, is not counted).
    pub(super) fn note_rtp_received(&mut self, now: Instant, bytes: &[u8]) {
        if ice::agent::classify(bytes) != ice::agent::PacketKind::Rtp {
            return;
        }
        if let Some(last) = self.last_rtp_at {
            let gap = now.saturating_duration_since(last).as_millis() as u64;
            if self.outcome.longest_rtp_gap_ms.is_none_or(|g| gap > g) {
                self.outcome.longest_rtp_gap_ms = Some(gap);
            }
        }
        self.last_rtp_at = Some(now);
    }
}
