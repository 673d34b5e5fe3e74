//! What the phone does with its calls' events: announce incoming calls, show state changes
//! and the selected ICE path, keep what `pairs` and `stats` show, and forget ended calls.

use std::time::{Duration, Instant};

use super::calls::{path_words, ICE_HISTORY};
use super::phone::Phone;
use crate::call::CallOutcome;
use crate::events::Event;

impl Phone {
    pub(super) async fn on_event(&mut self, n: u32, event: Event) {
        self.out.event(n, &event);
        let Some(call) = self.calls.calls.get_mut(&n) else {
            return;
        };
        match &event {
            Event::Call {
                state,
                reason,
                status,
                ..
            } => {
                call.state = state.clone();
                if state == "incoming" {
                    if let Some(from) = reason.as_deref().and_then(|r| r.strip_prefix("from ")) {
                        // `<sip:alice@host>;tag=…`: the URI is what people recognise.
                        call.peer = from
                            .strip_prefix('<')
                            .and_then(|f| f.split('>').next())
                            .unwrap_or(from)
                            .to_owned();
                    }
                }
                if state == "established" && call.established.is_none() {
                    call.established = Some(Instant::now());
                }
                let line = match state.as_str() {
                    "incoming" => format!(
                        "call {n}: incoming call from {} (type `answer` or `reject`)",
                        call.peer
                    ),
                    _ => {
                        let mut line = format!("call {n}: {state}");
                        if let Some(status) = status {
                            line.push_str(&format!(" {status}"));
                        }
                        if let Some(reason) = reason {
                            line.push_str(&format!(" ({reason})"));
                        }
                        line
                    }
                };
                self.out.say(&line);
                if matches!(state.as_str(), "ended" | "failed") {
                    self.calls.retire(n);
                }
                let status = *status;
                let state = state.clone();
                self.transferee_progress(n, &state, status).await;
            }
            Event::Ice {
                state,
                component,
                local,
                remote,
                ..
            } => {
                if call.ice.len() >= ICE_HISTORY {
                    call.ice.remove(0);
                }
                call.ice.push(event.clone());
                if let (Some(l), Some(r), "selected", Some(1) | None) =
                    (local, remote, state.as_str(), component)
                {
                    call.selected = Some((l.clone(), r.clone()));
                    self.out
                        .say(&format!("call {n}: media path {}", path_words(l, r)));
                } else {
                    self.out.say(&format!("call {n}: {}", event.human()));
                }
            }
            Event::Dtmf {
                digit, direction, ..
            } => {
                if direction == "received" {
                    call.dtmf_received.push_str(digit);
                    self.out.say(&format!("call {n}: DTMF {digit} received"));
                } else {
                    call.dtmf_sent.push_str(digit);
                }
            }
            other => self.out.say(&format!("call {n}: {}", other.human())),
        }
    }

    /// Call `n`'s engine has finished. Its last events (the `media` summary, `ended`) may
    /// still be on their way: the call is forgotten once they are in, or after
    /// [`LAST_EVENTS_WAIT`].
    pub(super) async fn call_done(&mut self, n: u32, result: anyhow::Result<CallOutcome>) {
        let reason = match &result {
            Ok(outcome) => outcome.reason.clone(),
            Err(e) => format!("{e:#}"),
        };
        let Some(call) = self.calls.calls.get_mut(&n) else {
            return;
        };
        call.finished = Some((reason, Instant::now()));
        if call.events_done {
            self.forget(n).await;
        }
    }

    /// Every event of call `n` has been delivered.
    pub(super) async fn events_closed(&mut self, n: u32) {
        let Some(call) = self.calls.calls.get_mut(&n) else {
            return;
        };
        call.events_done = true;
        if call.finished.is_some() {
            self.forget(n).await;
        }
    }

    /// Calls finished for longer than [`LAST_EVENTS_WAIT`] whose events never closed.
    pub(super) async fn finish_late_calls(&mut self) {
        let late: Vec<u32> = self
            .calls
            .calls
            .values()
            .filter(|c| {
                c.finished
                    .as_ref()
                    .is_some_and(|(_, at)| at.elapsed() > LAST_EVENTS_WAIT)
            })
            .map(|c| c.number)
            .collect();
        for n in late {
            self.forget(n).await;
        }
    }

    /// Says how call `n` ended, finishes a transfer it carried out, and forgets it.
    async fn forget(&mut self, n: u32) {
        let reason = self
            .calls
            .calls
            .get(&n)
            .and_then(|c| c.finished.as_ref())
            .map(|(r, _)| r.clone())
            .unwrap_or_default();
        self.out.say(&format!("call {n}: over ({reason})"));
        self.transferee_finished(n).await;
        self.calls.remove(n);
        if let Some(current) = self.calls.current {
            self.out.say(&format!(
                "commands go to call {current} (`calls` lists them)"
            ));
        }
    }
}

/// How long a finished call's last events may take to come in.
const LAST_EVENTS_WAIT: Duration = Duration::from_secs(1);
