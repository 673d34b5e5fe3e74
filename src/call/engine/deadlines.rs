//! When the call next has something to do on its own: the next media frame on the audio
//! timeline (`media::clock`), or one of the call's timers. The driver sleeps until then (or
//! until a packet, a SIP event or a command arrives) instead of waking every 20 ms in every
//! phase; `timers` runs after every input (`handle_input`), so a deadline only has to be
//! listed here to be met, and state changes (an answer arriving) are handled by the input
//! that causes them.

use super::*;

impl CallCore {
    /// The earliest of the call's own deadlines; `None` when only an outside event can
    /// move the call on.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let media = self
            .media_clock
            .as_ref()
            .filter(|_| self.media_phase())
            .map(|c| c.next_due());
        let duration = match (self.opts.duration, self.media_started_at) {
            (Some(d), Some(start)) if self.phase == Phase::Established => Some(start + d),
            _ => None,
        };
        let ice_timeout = self
            .remote_known_at
            .filter(|_| {
                self.media_phase() && self.agent.is_some() && self.outcome.selected.is_none()
            })
            .map(|t| t + self.opts.ice_timeout);
        // The deadline of the phase itself: gathering ends, the callee answers, the BYE
        // has waited long enough.
        let phase = match &self.phase {
            Phase::Gathering(g) => Some(g.until),
            Phase::Alerting(a) => a.answer_at,
            Phase::Ending { since } => Some(*since + BYE_WAIT),
            _ => None,
        };
        [
            phase,
            media,
            duration,
            ice_timeout,
            self.ice_failed_bye_at,
            self.hold_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends the media frames the audio timeline says are due (none outside the media
    /// phase). The timeline itself is started by `handle_input` when the media phase begins.
    pub(super) fn media_due(&mut self, now: Instant) {
        if !self.media_phase() {
            return;
        }
        let Some(clock) = self.media_clock.as_mut() else {
            return;
        };
        let due = clock.take_due(now);
        if due.skip > 0 {
            tracing::debug!(skipped = due.skip, "media frames too late to send");
            if let Some(media) = self.media.as_mut() {
                for _ in 0..due.skip {
                    media.skip_frame();
                }
            }
        }
        for _ in 0..due.send {
            self.media_tick(now);
        }
    }
}
