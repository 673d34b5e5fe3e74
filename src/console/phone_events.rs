//! What the phone does with its calls' events: announce incoming calls, show state changes
//! and the selected ICE path, keep what `pairs` and `stats` show, and forget ended calls.

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
                    call.established = Some(std::time::Instant::now());
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
                } else if matches!(state.as_str(), "failed" | "disconnected") {
                    self.out.say(&format!("call {n}: ICE {state}"));
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
            _ => {}
        }
    }

    /// Call `n`'s engine has finished: say how, finish a transfer it carried out, forget it.
    pub(super) async fn call_done(&mut self, n: u32, result: anyhow::Result<CallOutcome>) {
        let reason = match &result {
            Ok(outcome) => outcome.reason.clone(),
            Err(e) => format!("{e:#}"),
        };
        self.out.say(&format!("call {n}: over ({reason})"));
        // The call's last events may still be on their way: take them first.
        self.transferee_finished(n).await;
        self.calls.remove(n);
        if let Some(current) = self.calls.current {
            self.out.say(&format!(
                "commands go to call {current} (`calls` lists them)"
            ));
        }
    }
}
