//! The phone's commands (`call`, `answer`, `hold`, `pairs`…): what each does to the calls,
//! and the reply the front end shows.

use std::time::Duration;

use tokio::sync::mpsc;

use super::phone::Phone;
use super::{Command, Reply};
use crate::call::control::CallCommand;
use crate::media::source::Source;

/// How long `pairs` waits for the call to report its check list.
const PAIRS_WAIT: Duration = Duration::from_secs(2);

impl Phone {
    pub(super) async fn on_command(&mut self, command: Command) -> Result<Reply, String> {
        let ok = |text: String| Ok(Reply { call: None, text });
        match command {
            Command::Call { uri, from } => {
                let account = match from {
                    Some(name) => self.account_named(&name)?,
                    None => self.account,
                };
                let n = self.place_call(account, &uri, None).await?;
                self.calls.current = Some(n);
                Ok(Reply {
                    call: Some(n),
                    text: format!("call {n}: calling {uri}"),
                })
            }
            Command::Answer | Command::Reject => {
                let n = self.calls.newest_ringing()?;
                let answer = command == Command::Answer;
                let status = if answer { 200 } else { 486 };
                self.send_to(n, CallCommand::Answer { status })?;
                if answer {
                    self.calls.current = Some(n);
                }
                Ok(Reply {
                    call: Some(n),
                    text: format!(
                        "call {n}: {}",
                        if answer {
                            "answering"
                        } else {
                            "rejected (486 Busy Here)"
                        }
                    ),
                })
            }
            Command::HangUp => self.command_selected(CallCommand::HangUp, "hanging up"),
            Command::Hold => {
                self.command_selected(CallCommand::Hold, "holding (re-INVITE a=sendonly)")
            }
            Command::Resume => {
                self.command_selected(CallCommand::Resume, "resuming (re-INVITE a=sendrecv)")
            }
            Command::RestartIce => self.command_selected(CallCommand::RestartIce, "restarting ICE"),
            Command::Dtmf(digits) => {
                let text = format!("sending DTMF {digits}");
                self.command_selected(CallCommand::Dtmf(digits), &text)
            }
            Command::Mute(mute) => {
                let call = self.calls.selected()?;
                // Muted: silence frames, so RTP keeps its timing (RFC 3550 timestamps go on).
                let source = if mute {
                    Source::Silence
                } else {
                    self.accounts[call.account].opts.source.clone()
                };
                let n = call.number;
                self.send_to(n, CallCommand::Play(source))?;
                if let Some(c) = self.calls.calls.get_mut(&n) {
                    c.muted = mute;
                }
                Ok(Reply {
                    call: Some(n),
                    text: format!("call {n}: {}", if mute { "muted" } else { "unmuted" }),
                })
            }
            Command::Pairs => ok(self.pairs().await?),
            Command::Level => ok(self.level().await?),
            Command::Stats => ok(self.stats()?),
            Command::Transfer(uri) => self.transfer(uri).await,
            Command::Switch(n) => {
                self.calls.switch(n)?;
                Ok(Reply {
                    call: Some(n),
                    text: format!("commands go to call {n}"),
                })
            }
            Command::Calls => ok(self.calls.list()),
            Command::Account(n) => {
                let i = usize::try_from(n - 1).unwrap_or(usize::MAX);
                let account = self
                    .accounts
                    .get(i)
                    .ok_or_else(|| format!("no account {n} (see `accounts`)"))?;
                let text = format!("calls go out from {} ({})", account.name, account.aor);
                self.account = i;
                ok(text)
            }
            Command::Accounts => ok(self
                .accounts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let mark = if i == self.account { "*" } else { " " };
                    let status = a.status.lock().map(|s| s.clone()).unwrap_or_default();
                    format!("{mark}{} {} {} {status}", i + 1, a.name, a.aor)
                })
                .collect::<Vec<_>>()
                .join("\n")),
            Command::Help => ok(super::command::HELP.into()),
            Command::Quit => ok("bye".into()),
        }
    }

    fn account_named(&self, name: &str) -> Result<usize, String> {
        self.accounts
            .iter()
            .position(|a| a.name == name)
            .ok_or_else(|| format!("no account named `{name}` (see `accounts`)"))
    }

    fn command_selected(&mut self, command: CallCommand, what: &str) -> Result<Reply, String> {
        let n = self.calls.selected()?.number;
        self.send_to(n, command)?;
        Ok(Reply {
            call: Some(n),
            text: format!("call {n}: {what}"),
        })
    }

    pub(super) fn send_to(&self, n: u32, command: CallCommand) -> Result<(), String> {
        let call = self
            .calls
            .calls
            .get(&n)
            .ok_or_else(|| format!("no call {n}"))?;
        call.commands
            .send(command)
            .map_err(|_| format!("call {n} has ended"))
    }

    /// `level`: the meter of the selected call, from the last 20 ms frame each way.
    async fn level(&self) -> Result<String, String> {
        use crate::media::level::meter;
        let call = self.calls.selected()?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _ = call.commands.send(CallCommand::ReportLevels(tx));
        let levels = tokio::time::timeout(PAIRS_WAIT, rx.recv())
            .await
            .ok()
            .flatten()
            .ok_or_else(|| format!("call {}: no media to measure", call.number))?;
        let side = |name: &str, level: Option<f32>| match level {
            Some(db) => format!("{name} {} {db:6.1} dBFS", meter(db, 20)),
            None => format!("{name} (nothing yet)"),
        };
        Ok(format!(
            "call {}: {}  {}",
            call.number,
            side("ours", levels.sent_dbfs),
            side("peer", levels.received_dbfs)
        ))
    }

    /// `pairs`: the check list from the call's ICE agent, with the ICE events seen; the
    /// events alone when the call cannot answer (gathering, or ended).
    async fn pairs(&self) -> Result<String, String> {
        let call = self.calls.selected()?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _ = call.commands.send(CallCommand::ReportPairs(tx));
        let checklist = tokio::time::timeout(PAIRS_WAIT, rx.recv())
            .await
            .ok()
            .flatten();
        let mut lines = Vec::new();
        match checklist {
            Some(pairs) if pairs.is_empty() => lines.push("check list: no pairs".to_owned()),
            Some(pairs) => {
                lines.push(format!("check list ({} pairs):", pairs.len()));
                lines.extend(pairs.into_iter().map(|p| format!("  {p}")));
            }
            None => lines.push("check list: not available now (gathering, or ended)".into()),
        }
        lines.push("ICE events:".into());
        if call.ice.is_empty() {
            lines.push("  none yet".into());
        }
        lines.extend(call.ice.iter().map(|e| format!("  {}", e.human())));
        if let Some(path) = call.path() {
            lines.push(format!("selected: {path}"));
        }
        Ok(lines.join("\n"))
    }

    fn stats(&self) -> Result<String, String> {
        let call = self.calls.selected()?;
        let mut lines = vec![call.summary(true)];
        lines.push(format!(
            "  up {:.1} s, established {}",
            call.started.elapsed().as_secs_f64(),
            call.established
                .map(|t| format!("{:.1} s ago", t.elapsed().as_secs_f64()))
                .unwrap_or_else(|| "not yet".into())
        ));
        lines.push(format!(
            "  DTMF sent `{}` received `{}`",
            call.dtmf_sent, call.dtmf_received
        ));
        lines.push("  RTP counts and jitter come in the `media` event at hang-up".into());
        Ok(lines.join("\n"))
    }
}
