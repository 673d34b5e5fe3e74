//! The tokio driver of a `CallCore`: binds the media sockets, waits for whatever comes
//! first (a SIP event, a datagram, the core's next timeout, a command, the user's Enter or
//! Ctrl-C), reads the clock once, hands both to the core and moves its outputs to the
//! sockets, the SIP user agent and the emitter. The only part of a call that awaits or reads
//! the clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::{empty_outcome, CallCore, Input, Output};
use crate::call::control::CallCommand;
use crate::call::net::MediaSockets;
use crate::call::{CallOptions, CallOutcome};
use crate::events::{Emitter, Event};
use crate::signalling::{UaCommand, UaEvent, UaHandle};

/// The outcome's reason when Ctrl-C ended the wait for a call (no call took place).
pub const STOPPED_WAITING: &str = "stopped waiting for calls (Ctrl-C)";

/// The IO side of one call.
struct Driver {
    ua: UaHandle,
    sockets: MediaSockets,
    emitter: Emitter,
    handle_ctrl_c: bool,
    /// Never notified when answering is timed (`answer_after`).
    answer_signal: Arc<Notify>,
    commands: Option<mpsc::UnboundedReceiver<CallCommand>>,
}

impl Driver {
    /// Binds the media sockets for `components` per host address.
    async fn bind(opts: &CallOptions, ua: UaHandle, components: u16) -> anyhow::Result<Driver> {
        let sockets = MediaSockets::bind(
            &opts.host_ips,
            components,
            &opts.blocked_ips,
            opts.capture.clone(),
            opts.netns.as_deref(),
            opts.turn.as_ref(),
        )
        .await?;
        Ok(Driver {
            ua,
            sockets,
            emitter: opts.emitter.clone(),
            handle_ctrl_c: opts.handle_ctrl_c,
            answer_signal: opts
                .answer_on_command
                .clone()
                .unwrap_or_else(|| Arc::new(Notify::new())),
            commands: opts.control.as_ref().and_then(|c| c.take()),
        })
    }

    /// Moves everything the core has queued out, in order.
    async fn flush(&mut self, core: &mut CallCore) {
        while let Some(output) = core.poll_output() {
            match output {
                Output::Transmit(t) => self.sockets.transmit(t).await,
                Output::Sip(command) => self.ua.send(command).await,
                Output::Event(event) => self.emitter.emit(event),
            }
        }
    }

    /// Runs the core to its end; its setup error (no offer or answer could be built) is
    /// this call's error.
    async fn run(mut self, mut core: CallCore) -> anyhow::Result<(CallOutcome, UaHandle)> {
        let far = Duration::from_secs(3600);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut ctrl_c_seen = !self.handle_ctrl_c;
        self.flush(&mut core).await;
        while !core.is_done() {
            let wake = core.poll_timeout().unwrap_or_else(|| Instant::now() + far);
            // While gathering, SIP events and commands wait in their channels: the dialog has
            // not started (caller) or is not ours to answer yet (callee).
            let signalling = !core.is_gathering();
            let input = tokio::select! {
                event = self.ua.next(), if signalling => Some(match event {
                    Some(e) => Input::Sip(e),
                    None => Input::SipStopped,
                }),
                inbound = self.sockets.recv() => inbound.map(Input::Net),
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    Some(Input::Timeout)
                }
                _ = self.answer_signal.notified(), if core.awaits_answer() => {
                    Some(Input::AnswerNow)
                }
                command = next_command(&mut self.commands), if signalling => match command {
                    Some(c) => Some(Input::Command(c)),
                    None => {
                        self.commands = None;
                        None
                    }
                },
                r = &mut ctrl_c, if !ctrl_c_seen => {
                    ctrl_c_seen = true;
                    r.is_ok().then_some(Input::Interrupt)
                }
            };
            if let Some(input) = input {
                core.handle_input(Instant::now(), input);
            }
            self.flush(&mut core).await;
        }
        if let Some(e) = core.take_setup_error() {
            anyhow::bail!(e);
        }
        core.close(Instant::now());
        self.flush(&mut core).await;
        Ok((core.into_outcome(), self.ua))
    }
}

/// The next command, or never when the call has no control channel.
async fn next_command(
    commands: &mut Option<mpsc::UnboundedReceiver<CallCommand>>,
) -> Option<CallCommand> {
    match commands.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Places a call to `target` and runs it to the end.
pub async fn run_caller(
    opts: CallOptions,
    ua: UaHandle,
    target: &str,
) -> anyhow::Result<CallOutcome> {
    Ok(run_caller_keeping_ua(opts, ua, target).await?.0)
}

/// As [`run_caller`], and gives the user agent back for the next call (scenario repeats).
pub async fn run_caller_keeping_ua(
    opts: CallOptions,
    ua: UaHandle,
    target: &str,
) -> anyhow::Result<(CallOutcome, UaHandle)> {
    let driver = Driver::bind(&opts, ua, CallCore::caller_components(&opts)).await?;
    let bases = driver.sockets.bases.clone();
    let core = CallCore::caller(opts, bases, target, Instant::now())?;
    driver.run(core).await
}

/// Waits for one incoming call, answers it, and runs it to the end.
pub async fn run_callee(opts: CallOptions, ua: UaHandle) -> anyhow::Result<CallOutcome> {
    Ok(run_callee_keeping_ua(opts, ua).await?.0)
}

/// As [`run_callee`], and gives the user agent back for the next call (`answer --calls N`).
pub async fn run_callee_keeping_ua(
    opts: CallOptions,
    mut ua: UaHandle,
) -> anyhow::Result<(CallOutcome, UaHandle)> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_done = !opts.handle_ctrl_c;
    let (offer_text, peer_allows_update, from) = loop {
        let event = tokio::select! {
            event = ua.next() => event,
            r = &mut ctrl_c, if !ctrl_c_done => {
                ctrl_c_done = true;
                if r.is_ok() {
                    let mut outcome = empty_outcome();
                    outcome.reason = STOPPED_WAITING.into();
                    return Ok((outcome, ua));
                }
                continue;
            }
        };
        match event {
            Some(UaEvent::Incoming {
                sdp,
                peer_allows_update,
                from,
            }) => break (sdp, peer_allows_update, from),
            Some(e @ (UaEvent::Registered { .. } | UaEvent::RegisterFailed { .. })) => {
                opts.report_registration(&e)
            }
            Some(other) => tracing::debug!("before a call: {other:?}"),
            None => anyhow::bail!("SIP user agent stopped before a call arrived"),
        }
    };
    let started = Instant::now();
    opts.emitter.emit(Event::Call {
        agent: opts.label.clone(),
        state: "incoming".into(),
        setup_ms: None,
        status: None,
        reason: Some(format!("from {from}")),
        origin: None,
    });
    let offer = match sdp::parse(&offer_text) {
        Ok(o) => o,
        Err(e) => {
            ua.send(UaCommand::Respond {
                status: 488,
                reason: "Not Acceptable Here (bad SDP)".into(),
                sdp: None,
            })
            .await;
            anyhow::bail!("unparseable offer: {e}");
        }
    };
    let driver = Driver::bind(&opts, ua, CallCore::callee_components(&opts, &offer)).await?;
    let bases = driver.sockets.bases.clone();
    let core = CallCore::callee(
        opts,
        bases,
        offer,
        peer_allows_update,
        started,
        Instant::now(),
    )?;
    driver.run(core).await
}
