//! The phone: its accounts (one SIP user agent each), its calls, and the loop that takes
//! commands from the front ends, incoming calls, transfer events and every call's events.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};

use super::calls::{Calls, PhoneCall, Transferee};
use super::output::Output;
use super::{Command, Reply, Request};
use crate::call::control::{CallCommand, CallControl};
use crate::call::{run_callee, run_caller, CallOptions, CallOutcome};
use crate::events::{Emitter, Event};
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
        // The console's `level` command reads the call's levels.
        opts.level_meter = true;
        let call = PhoneCall::new(
            n,
            account,
            incoming,
            peer.to_owned(),
            handle.call_slot(),
            commands,
        );
        (opts, call)
    }
}
