//! Hold and resume by re-INVITE (RFC 3264 §8.4; never c=0.0.0.0, RFC 8839 §4.4.1.1.1).

use super::*;

impl CallCore {
    /// Caller-side hold/resume by re-INVITE (RFC 3264 §8.4: sendonly, never c=0.0.0.0 —
    /// RFC 8839 §4.4.1.1.1).
    pub(super) fn drive_hold(&mut self, now: Instant) {
        let (Some(after), Some(est)) = (self.opts.hold_after, self.established_at) else {
            return;
        };
        if self.offer_in_flight || self.phase != Phase::Established {
            return;
        }
        match self.hold_state {
            HoldState::Active if now >= est + after => {
                self.direction = Direction::SendOnly;
                let sel = self.current_selection();
                self.send_offer(OfferMethod::Invite, sel, "");
                self.hold_state = HoldState::HoldSent;
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "hold".into(),
                    setup_ms: None,
                    status: None,
                    reason: Some("re-INVITE a=sendonly".into()),
                    origin: None,
                });
            }
            HoldState::Held if now >= est + after + self.opts.hold_for => {
                self.direction = Direction::SendRecv;
                let sel = self.current_selection();
                self.send_offer(OfferMethod::Invite, sel, "");
                self.hold_state = HoldState::ResumeSent;
                self.emit(Event::Call {
                    agent: self.label(),
                    state: "resumed".into(),
                    setup_ms: None,
                    status: None,
                    reason: Some("re-INVITE a=sendrecv".into()),
                    origin: None,
                });
            }
            _ => {}
        }
    }

    /// When `drive_hold` next acts: the hold, then the resume (`--hold-after`, `--hold-for`).
    pub(super) fn hold_deadline(&self) -> Option<Instant> {
        let (Some(after), Some(est)) = (self.opts.hold_after, self.established_at) else {
            return None;
        };
        match self.hold_state {
            HoldState::Active => Some(est + after),
            HoldState::Held => Some(est + after + self.opts.hold_for),
            _ => None,
        }
    }

    pub(super) fn advance_hold(&mut self) {
        self.hold_state = match self.hold_state {
            HoldState::HoldSent => {
                self.outcome.hold_cycles += 1;
                HoldState::Held
            }
            HoldState::ResumeSent => HoldState::Resumed,
            s => s,
        };
    }
}
