//! The core's interface: what moves a call on, as one type (the driver waits for any of
//! these, reads the clock once and hands both to `handle_input`, which reads no clock and
//! awaits nothing), what it has to send (`poll_output`) and when it next wants the time
//! (`poll_timeout`).

use super::*;
use crate::call::control::CallCommand;

/// One input to the call.
#[derive(Debug)]
pub enum Input {
    /// An event of the SIP user agent (the dialog).
    Sip(UaEvent),
    /// The SIP user agent stopped: no more events will come.
    SipStopped,
    /// A datagram, a TURN stream message or a path failure from the media sockets.
    Net(Inbound),
    /// The time `poll_timeout` asked for (or later) has come.
    Timeout,
    /// Callee: the user said to answer (`CallOptions::answer_on_command`).
    AnswerNow,
    /// A command from outside (`CallOptions::control`).
    Command(CallCommand),
    /// Ctrl-C: hang up.
    Interrupt,
}

impl CallCore {
    /// Handles one input at `now`, then whatever became due with it: the agent's events,
    /// the call's timers, a command that had to wait.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Sip(e) => self.on_ua_event(e, now),
            Input::SipStopped => {
                self.outcome.reason = "SIP user agent stopped".into();
                self.phase = Phase::Done;
            }
            Input::Net(inbound) => self.on_inbound(inbound, now),
            Input::Timeout => {
                if let Some(agent) = self.agent.as_mut() {
                    if agent.poll_timeout().is_some_and(|t| t <= now) {
                        agent.handle_timeout(now);
                    }
                }
                if let Some(dtls) = self.srtp.dtls_mut() {
                    dtls.handle_timeout(now);
                }
                self.media_due(now);
            }
            Input::AnswerNow => {
                if let Phase::Alerting(alerting) = &mut self.phase {
                    if alerting.ringing {
                        alerting.answer_at = Some(now);
                    }
                }
            }
            Input::Command(c) => self.on_command(c, now),
            Input::Interrupt => self.hang_up("hung up (Ctrl-C)", now),
        }
        self.drain_agent(now);
        self.drive_dtls(now);
        self.check_gathering(now);
        self.timers(now);
        self.run_deferred_command(now);
        // The audio timeline starts with the media phase (the first frame is due at once).
        if self.media_phase() && self.media_clock.is_none() {
            self.media_clock = Some(MediaClock::new(now, FRAME));
        }
    }

    /// When the call next wants `Input::Timeout`: the agent's timer or one of the call's own
    /// deadlines; `None` when only an outside input can move it on.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let agent = self.agent.as_ref().and_then(|a| a.poll_timeout());
        let dtls = self.srtp.dtls_timeout();
        agent
            .into_iter()
            .chain(dtls)
            .chain(self.next_deadline())
            .min()
    }

    /// The next output, in the order the handlers queued them.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    /// The call is over: nothing more to drive but `close`.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Still gathering candidates: the dialog has not started (caller) or is not answered
    /// (callee), so SIP events and commands may wait.
    pub fn is_gathering(&self) -> bool {
        matches!(self.phase, Phase::Gathering(_))
    }

    /// Callee: ringing and waiting to be told to answer (`Input::AnswerNow`).
    pub fn awaits_answer(&self) -> bool {
        matches!(&self.phase, Phase::Alerting(a) if a.ringing)
    }
}
