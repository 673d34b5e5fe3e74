//! The phone: its accounts (one SIP user agent each), its calls, and the loop that takes
//! commands from the front ends, incoming calls, transfer events and every call's events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};

use super::calls::{Calls, PhoneCall, Transferee};
use super::output::Output;
use super::{Command, Reply, Request};
use crate::call::control::{CallCommand, CallControl};
use crate::call::{run_callee, run_caller, CallOptions, CallOutcome};
use crate::events::{Emitter, Event};
use crate::media::source::Source;
use crate::signalling::transfer::TransferEvent;
use crate::signalling::UaHandle;

/// One registered identity: its user agent (through a handle that places calls and sends
/// transfer commands; the main handle lives in the account's registration task) and the
/// options its calls start from.
pub struct Account {
    pub name: String,
    pub aor: String,
    pub dialer: UaHandle,
    pub opts: CallOptions,
    /// Registration state, as the registration task last saw it (`accounts` shows it).
    pub status: Arc<std::sync::Mutex<String>>,
    /// Tells the registration task to unregister and stop the user agent.
    pub stop: Option<oneshot::Sender<()>>,
    /// Done when the user agent has stopped.
    pub stopped: Option<tokio::task::JoinHandle<()>>,
}

/// What the loop hears besides commands: tagged with the account's index.
pub enum Happening {
    Incoming(usize, UaHandle),
    Transfer(usize, TransferEvent),
}

/// How long hanging up every call may take at `quit` before the phone exits anyway.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// How long `pairs` waits for the call to report its check list.
const PAIRS_WAIT: Duration = Duration::from_secs(2);

pub struct Phone {
    pub(super) accounts: Vec<Account>,
    /// The account `call` uses without `from` (`account N`).
    pub(super) account: usize,
    pub(super) calls: Calls,
    pub(super) out: Output,
    json: bool,
    /// Each call's events; `None` once its emitter is gone (every event delivered).
    events_tx: mpsc::UnboundedSender<(u32, Option<Event>)>,
    events_rx: mpsc::UnboundedReceiver<(u32, Option<Event>)>,
    done_tx: mpsc::UnboundedSender<(u32, anyhow::Result<CallOutcome>)>,
    done_rx: mpsc::UnboundedReceiver<(u32, anyhow::Result<CallOutcome>)>,
}

impl Phone {
    pub fn new(accounts: Vec<Account>, out: Output, json: bool) -> Phone {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Phone {
            accounts,
            account: 0,
            calls: Calls::default(),
            out,
            json,
            events_tx,
            events_rx,
            done_tx,
            done_rx,
        }
    }

    /// Runs until `quit`, Ctrl-C, or every front end is gone; then hangs up, unregisters and
    /// stops the user agents.
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut happenings: mpsc::Receiver<Happening>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(Request { command: Command::Quit, reply }) => {
                        let _ = reply.send(Ok(Reply { call: None, text: "bye".into() }));
                        break;
                    }
                    Some(Request { command, reply }) => {
                        let result = self.on_command(command).await;
                        let _ = reply.send(result);
                    }
                    None => break,
                },
                Some(happening) = happenings.recv() => match happening {
                    Happening::Incoming(account, handle) => self.incoming(account, handle),
                    Happening::Transfer(account, event) => self.on_transfer(account, event).await,
                },
                Some((n, event)) = self.events_rx.recv() => match event {
                    Some(event) => self.on_event(n, event).await,
                    None => self.events_closed(n).await,
                },
                Some((n, result)) = self.done_rx.recv() => self.call_done(n, result).await,
                _ = tick.tick() => {
                    self.check_transfer_timeouts();
                    self.finish_late_calls().await;
                }
                _ = &mut ctrl_c => {
                    self.out.say("Ctrl-C: hanging up and exiting");
                    break;
                }
            }
        }
        self.shut_down().await;
    }

    async fn shut_down(mut self) {
        for call in self.calls.calls.values() {
            let _ = call.commands.send(CallCommand::HangUp);
        }
        let deadline = tokio::time::Instant::now() + QUIT_GRACE;
        while !self.calls.calls.is_empty() {
            tokio::select! {
                Some((n, result)) = self.done_rx.recv() => self.call_done(n, result).await,
                Some((n, event)) = self.events_rx.recv() => match event {
                    Some(event) => self.on_event(n, event).await,
                    None => self.events_closed(n).await,
                },
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                    self.finish_late_calls().await
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        for account in &mut self.accounts {
            if let Some(stop) = account.stop.take() {
                let _ = stop.send(());
            }
        }
        for account in &mut self.accounts {
            if let Some(task) = account.stopped.take() {
                let _ = tokio::time::timeout(QUIT_GRACE, task).await;
            }
        }
    }

    async fn on_command(&mut self, command: Command) -> Result<Reply, String> {
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

    /// Starts an outgoing call on `account`'s user agent; `transferee` when it carries out
    /// a REFER we accepted.
    pub(super) async fn place_call(
        &mut self,
        account: usize,
        uri: &str,
        transferee: Option<Transferee>,
    ) -> Result<u32, String> {
        let a = self
            .accounts
            .get(account)
            .ok_or_else(|| format!("no account {}", account + 1))?;
        let handle = a
            .dialer
            .open_call(false)
            .await
            .ok_or("the SIP user agent has stopped")?;
        let opts = a.opts.clone();
        let n = self.calls.next_number();
        let (opts, call) = self.new_call(n, account, opts, &handle, false, uri);
        let mut call = call;
        call.transferee = transferee;
        self.calls.add(call);
        let done = self.done_tx.clone();
        let target = uri.to_owned();
        tokio::spawn(async move {
            let result = run_caller(opts, handle, &target).await;
            let _ = done.send((n, result));
        });
        Ok(n)
    }

    /// An incoming call on `account`: it rings until `answer` (or `reject`).
    fn incoming(&mut self, account: usize, handle: UaHandle) {
        let Some(a) = self.accounts.get(account) else {
            return;
        };
        let mut opts = a.opts.clone();
        // Never notified: the call is answered by `CallCommand::Answer` (the `answer` command).
        opts.answer_on_command = Some(Arc::new(Notify::new()));
        let n = self.calls.next_number();
        let (opts, call) = self.new_call(n, account, opts, &handle, true, "?");
        self.calls.add(call);
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let result = run_callee(opts, handle).await;
            let _ = done.send((n, result));
        });
    }

    /// Call `n`'s options (its command channel and its own emitter, whose events come back
    /// to the loop tagged with `n`) and its entry.
    fn new_call(
        &self,
        n: u32,
        account: usize,
        mut opts: CallOptions,
        handle: &UaHandle,
        incoming: bool,
        peer: &str,
    ) -> (CallOptions, PhoneCall) {
        let (commands, control) = CallControl::channel();
        opts.control = Some(control);
        opts.handle_ctrl_c = false;
        // Quiet: the console prints each event itself (`phone_events.rs`), through the
        // line editor, so no line lands in the middle of the prompt.
        let emitter = Emitter::new(self.json, true);
        let mut events = emitter.subscribe();
        let tx = self.events_tx.clone();
        // Ends when the call's last emitter clone goes (the call is over).
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((n, Some(event))).is_err() {
                    return;
                }
            }
            let _ = tx.send((n, None));
        });
        opts.emitter = emitter.for_call(n);
        let call = PhoneCall {
            number: n,
            account,
            incoming,
            peer: peer.to_owned(),
            state: if incoming { "incoming" } else { "calling" }.into(),
            slot: handle.call_slot(),
            commands,
            started: Instant::now(),
            established: None,
            selected: None,
            ice: Vec::new(),
            muted: false,
            dtmf_sent: String::new(),
            dtmf_received: String::new(),
            transfer_since: None,
            transferee: None,
            finished: None,
            events_done: false,
        };
        (opts, call)
    }
}
