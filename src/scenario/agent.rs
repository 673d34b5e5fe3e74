//! One agent's ordered steps against its SIP user agent and its calls. Calls run in the call
//! engine as tasks; steps talk to them through `CallControl` and wait on their events.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::format::{Action, Assertion, Expectation, Step};
use super::report::{AgentReport, Failure, Printer, StepRecord};
use super::vars::Vars;
use crate::call::control::{CallCommand, CallControl};
use crate::call::{run_callee_keeping_ua, run_caller_keeping_ua, CallOptions, CallOutcome};
use crate::events::{Emitter, Event};
use crate::media::source::Source;
use crate::signalling::{UaCommand, UaEvent, UaHandle};

/// How long an assertion waits for the call to end, and a failing agent for its hang-up.
const CALL_END_WAIT: Duration = Duration::from_secs(15);
const HANGUP_WAIT: Duration = Duration::from_secs(3);
const REGISTER_WAIT: Duration = Duration::from_secs(5);
/// The failure message of a step cut short by a graceful stop (Ctrl-C in load mode).
pub const STOPPED: &str = "stopped (interrupted)";

type CallTask = JoinHandle<anyhow::Result<(CallOutcome, UaHandle)>>;

struct RunningCall {
    commands: mpsc::UnboundedSender<CallCommand>,
    task: CallTask,
}

/// What an agent starts with: its steps, its bound user agent and its call options.
pub struct AgentSetup {
    pub name: String,
    /// Address of record, for the `registered` event.
    pub aor: String,
    /// The scenario file, for failure messages.
    pub file: String,
    pub steps: Vec<Step>,
    pub vars: Vars,
    pub emitter: Emitter,
    pub ua: UaHandle,
    pub template: CallOptions,
    pub printer: Printer,
    /// Turns true on a graceful stop: the running step ends, the call is hung up.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

pub struct AgentRun {
    name: String,
    aor: String,
    file: String,
    steps: Vec<Step>,
    vars: Vars,
    emitter: Emitter,
    events: mpsc::UnboundedReceiver<Event>,
    ua: Option<UaHandle>,
    template: CallOptions,
    printer: Printer,
    seen: Vec<Event>,
    cursor: usize,
    call: Option<RunningCall>,
    outcomes: Vec<CallOutcome>,
    placed_calls: bool,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl AgentRun {
    pub fn new(setup: AgentSetup) -> AgentRun {
        let events = setup.emitter.subscribe();
        AgentRun {
            name: setup.name,
            aor: setup.aor,
            file: setup.file,
            steps: setup.steps,
            vars: setup.vars,
            emitter: setup.emitter,
            events,
            ua: Some(setup.ua),
            template: setup.template,
            printer: setup.printer,
            seen: Vec::new(),
            cursor: 0,
            call: None,
            outcomes: Vec::new(),
            placed_calls: false,
            stop: setup.stop,
        }
    }

    /// Runs every step in order; stops at the first failure (and hangs up its call).
    pub async fn run(mut self) -> AgentReport {
        let mut records = Vec::new();
        let mut failure = None;
        let steps = std::mem::take(&mut self.steps);
        let mut stop = self.stop.take();
        for step in &steps {
            let what = match self.describe(&step.action) {
                Ok(w) => w,
                Err(e) => step.action.describe() + &format!(" ({e})"),
            };
            let started = Instant::now();
            let result = match stop.as_mut() {
                Some(stop) => tokio::select! {
                    r = self.step(&step.action) => r,
                    () = stopped(stop) => Err(STOPPED.to_string()),
                },
                None => self.step(&step.action).await,
            };
            let record = StepRecord {
                agent: self.name.clone(),
                index: step.index,
                line: step.line,
                what: what.clone(),
                started_ms: started.duration_since(self.printer.origin).as_millis() as u64,
                duration_ms: started.elapsed().as_millis() as u64,
                error: result.clone().err(),
            };
            self.printer.step(&record);
            records.push(record);
            if let Err(message) = result {
                failure = Some(Failure {
                    file: self.file.clone(),
                    agent: self.name.clone(),
                    index: step.index,
                    line: step.line,
                    what,
                    message,
                });
                if let Some(call) = &self.call {
                    let _ = call.commands.send(CallCommand::HangUp);
                }
                let _ = self.wait_call_end(HANGUP_WAIT).await;
                break;
            }
        }
        if failure.is_none() {
            // The script is over; the call ends on the peer's or the scenario's terms (or
            // is hung up on a graceful stop).
            let ended = match stop.as_mut() {
                Some(stop) => tokio::select! {
                    r = self.wait_call_end(CALL_END_WAIT * 4) => Some(r),
                    () = stopped(stop) => None,
                },
                None => Some(self.wait_call_end(CALL_END_WAIT * 4).await),
            };
            if ended.is_none() {
                if let Some(call) = &self.call {
                    let _ = call.commands.send(CallCommand::HangUp);
                }
                let _ = self.wait_call_end(HANGUP_WAIT).await;
            }
        } else if let Some(call) = self.call.take() {
            call.task.abort();
        }
        while let Ok(ev) = self.events.try_recv() {
            self.seen.push(ev);
        }
        // The last final status of a failed call (486, 408…), for counting by response code.
        let final_status = self.seen.iter().rev().find_map(|ev| match ev {
            Event::Call {
                status: Some(s), ..
            } if *s >= 300 => Some(*s),
            _ => None,
        });
        AgentReport {
            name: self.name,
            steps: records,
            failure,
            outcomes: self.outcomes,
            placed_calls: self.placed_calls,
            final_status,
        }
    }

    fn describe(&self, action: &Action) -> Result<String, String> {
        Ok(match action {
            Action::Call { target } => format!("call {}", self.vars.substitute(target)?),
            other => other.describe(),
        })
    }

    async fn step(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Register { expires } => self.register(*expires).await,
            Action::Call { target } => {
                let target = self.vars.substitute(target)?;
                let ua = self.take_idle_ua().await?;
                let (tx, control) = CallControl::channel();
                let mut opts = self.template.clone();
                opts.control = Some(control);
                self.placed_calls = true;
                let task =
                    tokio::spawn(async move { run_caller_keeping_ua(opts, ua, &target).await });
                self.call = Some(RunningCall { commands: tx, task });
                Ok(())
            }
            Action::Answer { status, delay_ms } => {
                self.ensure_call().await?;
                self.expect(&Expectation {
                    what: "call.ringing".into(),
                    status: None,
                    digit: None,
                    reason: None,
                    timeout_ms: 10_000,
                })
                .await?;
                tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
                self.command(CallCommand::Answer { status: *status })
            }
            Action::Expect(e) => {
                if self.call.is_none()
                    && !matches!(e.what.as_str(), "hangup" | "call.ended")
                    && !self.already_seen(e)
                {
                    self.ensure_call().await?;
                }
                self.expect(e).await
            }
            Action::Dtmf { digits } => self.command(CallCommand::Dtmf(digits.clone())),
            Action::Play { file } => {
                let path = self.vars.substitute(file)?;
                let wav = crate::media::wav::read(std::path::Path::new(&path))
                    .map_err(|e| format!("cannot play {path}: {e}"))?;
                self.command(CallCommand::Play(Source::samples(wav.samples)))
            }
            Action::Tone { hz } => self.command(CallCommand::Play(Source::tone(*hz))),
            Action::Wait { ms } => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(())
            }
            Action::Hold => self.command(CallCommand::Hold),
            Action::Resume => self.command(CallCommand::Resume),
            Action::Update => self.command(CallCommand::Update),
            Action::IceRestart => self.command(CallCommand::RestartIce),
            Action::HangUp => self.command(CallCommand::HangUp),
            Action::Assert(a) => {
                self.wait_call_end(CALL_END_WAIT).await?;
                let outcome = self.outcomes.last().ok_or("no call has run to assert on")?;
                check(a, outcome)
            }
        }
    }

    fn command(&self, command: CallCommand) -> Result<(), String> {
        let call = self.call.as_ref().ok_or("no call in progress")?;
        call.commands
            .send(command)
            .map_err(|_| "the call has already ended".to_string())
    }

    /// The user agent when no call holds it (after the previous call ended).
    async fn take_idle_ua(&mut self) -> Result<UaHandle, String> {
        if self.call.is_some() {
            self.wait_call_end(CALL_END_WAIT).await?;
        }
        self.ua
            .take()
            .ok_or_else(|| "the SIP user agent is gone".to_string())
    }

    /// Starts answering: the callee's call task waits for the INVITE.
    async fn ensure_call(&mut self) -> Result<(), String> {
        if self.call.is_some() {
            return Ok(());
        }
        let ua = self.take_idle_ua().await?;
        let (tx, control) = CallControl::channel();
        let mut opts = self.template.clone();
        opts.control = Some(control);
        // Never answered by timer: the `answer` step sends the command.
        opts.answer_on_command = Some(std::sync::Arc::new(tokio::sync::Notify::new()));
        let task = tokio::spawn(run_callee_keeping_ua(opts, ua));
        self.call = Some(RunningCall { commands: tx, task });
        Ok(())
    }

    /// Waits (bounded) for the running call to finish and keeps its outcome.
    async fn wait_call_end(&mut self, limit: Duration) -> Result<(), String> {
        let Some(call) = self.call.as_mut() else {
            return Ok(());
        };
        match tokio::time::timeout(limit, &mut call.task).await {
            Err(_) => Err(format!(
                "the call did not end within {} ms",
                limit.as_millis()
            )),
            Ok(joined) => {
                self.call = None;
                match joined {
                    Ok(Ok((outcome, ua))) => {
                        self.outcomes.push(outcome);
                        self.ua = Some(ua);
                        Ok(())
                    }
                    Ok(Err(e)) => Err(format!("the call stopped: {e:#}")),
                    Err(e) => Err(format!("the call task failed: {e}")),
                }
            }
        }
    }

    async fn register(&mut self, expires: u32) -> Result<(), String> {
        if self.call.is_some() {
            return Err("cannot register while a call holds the user agent".into());
        }
        let ua = self.ua.as_mut().ok_or("the SIP user agent is gone")?;
        ua.send(UaCommand::Register { expires });
        let deadline = tokio::time::Instant::now() + REGISTER_WAIT;
        loop {
            match tokio::time::timeout_at(deadline, ua.next()).await {
                Err(_) => return Err("no answer to REGISTER within 5 s".into()),
                Ok(None) => return Err("the SIP user agent stopped".into()),
                Ok(Some(UaEvent::Registered {
                    expires,
                    public_address,
                })) => {
                    self.emitter.emit(Event::Registered {
                        agent: self.name.clone(),
                        aor: self.aor.clone(),
                        expires,
                        public_address: public_address.map(|a| a.to_string()),
                    });
                    return Ok(());
                }
                Ok(Some(UaEvent::RegisterFailed {
                    status,
                    reason,
                    local,
                })) => {
                    let why = crate::signalling::failure_text(status, &reason, local);
                    return Err(format!("registration failed: {why}"));
                }
                Ok(Some(other)) => tracing::debug!("while registering: {other:?}"),
            }
        }
    }

    fn already_seen(&mut self, e: &Expectation) -> bool {
        while let Ok(ev) = self.events.try_recv() {
            self.seen.push(ev);
        }
        self.seen
            .get(self.cursor..)
            .is_some_and(|rest| rest.iter().any(|ev| matches(e, ev)))
    }

    /// Waits for an event matching `e` after the last matched one.
    async fn expect(&mut self, e: &Expectation) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(e.timeout_ms);
        let mut scanned = self.cursor;
        loop {
            while let Some(ev) = self.seen.get(scanned) {
                if matches(e, ev) {
                    self.cursor = scanned + 1;
                    return Ok(());
                }
                if ends_hope(e, ev) {
                    return Err(format!(
                        "the call ended first ({}); since the previous match: {}",
                        ev.human(),
                        self.recent()
                    ));
                }
                scanned += 1;
            }
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => self.seen.push(ev),
                Ok(None) => return Err("no more events".into()),
                Err(_) => {
                    return Err(format!(
                        "not seen within {} ms; since the previous match: {}",
                        e.timeout_ms,
                        self.recent()
                    ))
                }
            }
        }
    }

    fn recent(&self) -> String {
        let list: Vec<String> = self
            .seen
            .get(self.cursor..)
            .unwrap_or(&[])
            .iter()
            .map(short)
            .collect();
        if list.is_empty() {
            "no events".into()
        } else {
            list.join(", ")
        }
    }
}

/// Resolves once `stop` turns true; never when nobody can stop it any more.
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    if stop.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `call.established`-style name of an event.
fn short(ev: &Event) -> String {
    match ev {
        Event::Resolved { role, .. } => format!("resolved.{role}"),
        Event::Registered { .. } => "registered".into(),
        Event::Candidates { .. } => "candidates".into(),
        Event::Ice { state, .. } => format!("ice.{state}"),
        Event::RemoteCandidateIgnored { .. } => "remote_candidate_ignored".into(),
        Event::UpdatedOffer { direction, .. } => format!("updated_offer.{direction}"),
        Event::Call { state, status, .. } => match status {
            Some(s) => format!("call.{state}[{s}]"),
            None => format!("call.{state}"),
        },
        Event::Dtmf {
            direction, digit, ..
        } => format!("dtmf.{direction}[{digit}]"),
        Event::Media { .. } => "media".into(),
        Event::IceFailed { .. } => "ice_failed".into(),
        Event::ServerFailed { kind, .. } => format!("server_failed.{kind}"),
    }
}

fn matches(e: &Expectation, ev: &Event) -> bool {
    let reason_ok = |r: &Option<String>| match (&e.reason, r) {
        (None, _) => true,
        (Some(want), Some(have)) => have.contains(want.as_str()),
        (Some(_), None) => false,
    };
    match (e.what.as_str(), ev) {
        ("response", Event::Call { status, .. }) => *status == e.status,
        (
            "hangup",
            Event::Call {
                state, reason: r, ..
            },
        ) => {
            state == "ended"
                && r.as_deref()
                    .is_some_and(|r| r == "remote hung up" || r == "caller cancelled")
        }
        (
            what,
            Event::Call {
                state,
                status,
                reason,
                ..
            },
        ) => {
            what.strip_prefix("call.") == Some(state.as_str())
                && (e.status.is_none() || *status == e.status)
                && reason_ok(reason)
        }
        (what, Event::Ice { state, reason, .. }) => {
            what.strip_prefix("ice.") == Some(state.as_str()) && reason_ok(reason)
        }
        (what, Event::UpdatedOffer { direction, .. }) => {
            what.strip_prefix("updated_offer.") == Some(direction.as_str())
        }
        (
            what,
            Event::Dtmf {
                direction, digit, ..
            },
        ) => {
            what.strip_prefix("dtmf.") == Some(direction.as_str())
                && e.digit.as_ref().is_none_or(|d| d == digit)
        }
        _ => false,
    }
}

/// An `ended` call event means a wait for anything the call would have produced is over.
fn ends_hope(e: &Expectation, ev: &Event) -> bool {
    matches!(ev, Event::Call { state, .. } if state == "ended")
        && !matches!(
            e.what.as_str(),
            "call.ended" | "hangup" | "call.incoming" | "call.ringing"
        )
}

/// One assertion on a finished call.
pub fn check(a: &Assertion, o: &CallOutcome) -> Result<(), String> {
    match a {
        Assertion::SelectedPair { local, remote } => {
            let (l, r) = o
                .selected
                .as_ref()
                .ok_or("no pair was selected (ICE not used or failed)")?;
            let (lk, rk) = (l.kind.as_str(), r.kind.as_str());
            if local.as_deref().is_some_and(|w| w != lk)
                || remote.as_deref().is_some_and(|w| w != rk)
            {
                return Err(format!(
                    "selected pair is {lk} {} <-> {rk} {}",
                    l.address, r.address
                ));
            }
            Ok(())
        }
        Assertion::UpdatedOffer { method } => {
            let seen = o
                .updated_offer_sent
                .clone()
                .or_else(|| o.updated_offer_received.clone())
                .unwrap_or_else(|| "none".into());
            if &seen == method {
                Ok(())
            } else {
                Err(format!("the updated offer went as {seen}"))
            }
        }
        Assertion::RemoteCandidates => {
            // Our updated offers carry a=remote-candidates (RFC 8839 §4.4.1.2.2); a received
            // one is only counted as such when it had the attribute.
            if o.updated_offer_sent.is_some() || o.updated_offer_received.is_some() {
                Ok(())
            } else {
                Err("no offer with a=remote-candidates was sent or received".into())
            }
        }
        Assertion::IceUsed(want) => {
            if o.ice_used == *want {
                Ok(())
            } else {
                Err(format!(
                    "ICE used: {}{}",
                    o.ice_used,
                    o.ice_not_used_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ))
            }
        }
        Assertion::RtpReceived { min } => {
            if o.media.rtp_received >= *min {
                Ok(())
            } else {
                Err(format!("{} RTP packets received", o.media.rtp_received))
            }
        }
        Assertion::LossPercent { max } => {
            let expected = o.media.rtp_received + o.media.dtmf_packets_received + o.media.lost;
            let loss = if expected == 0 {
                100.0
            } else {
                o.media.lost as f64 * 100.0 / expected as f64
            };
            if loss <= *max {
                Ok(())
            } else {
                Err(format!(
                    "loss {loss:.2}% ({} lost of {expected})",
                    o.media.lost
                ))
            }
        }
        Assertion::SetupMs { max } => match o.setup_ms {
            Some(ms) if ms <= *max => Ok(()),
            Some(ms) => Err(format!("setup took {ms} ms")),
            None => Err("the call was never set up".into()),
        },
        Assertion::IceMs { max } => match o.ice_ms {
            Some(ms) if ms <= *max => Ok(()),
            Some(ms) => Err(format!("ICE took {ms} ms")),
            None => Err("ICE never selected a pair".into()),
        },
        Assertion::IceRestarts { min } => {
            if o.ice_restarts >= *min {
                Ok(())
            } else {
                Err(format!(
                    "{} ICE restart(s) selected a pair again (local ufrags {})",
                    o.ice_restarts,
                    o.local_ufrags.join(", ")
                ))
            }
        }
        Assertion::DtmfReceived { digits } => {
            if &o.media.dtmf_received == digits {
                Ok(())
            } else {
                Err(format!("received DTMF `{}`", o.media.dtmf_received))
            }
        }
    }
}
