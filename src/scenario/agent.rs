//! One agent's ordered steps against its SIP user agent and its calls. Calls run in the call
//! engine as tasks; steps talk to them through `CallControl` and wait on their events.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::format::{Action, Assertion, Expectation, MessageExpectation, Step};
use super::messages;
use super::report::{AgentReport, Failure, Printer, StepRecord};
use super::vars::Vars;
use crate::call::control::{CallCommand, CallControl};
use crate::call::{run_callee_keeping_ua, run_caller_keeping_ua, CallOptions, CallOutcome};
use crate::events::{Emitter, Event};
use crate::media::source::Source;
use crate::signalling::control::{MessageControl, MessageEdits, Outgoing, Traced};
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
    /// The user agent's message control (edits, tap, raw sends).
    pub control: MessageControl,
    /// `--trace-msg`: this agent's message log for this run.
    pub trace_log: Option<std::fs::File>,
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
    control: MessageControl,
    /// Messages received (from the tap), in order, and where the last match was.
    received: Vec<Traced>,
    received_rx: mpsc::UnboundedReceiver<Traced>,
    received_cursor: usize,
    /// `send` keywords: fixed per run, but a fresh branch per message.
    send_call_id: String,
    send_tag: String,
    send_cseq: u32,
    local: std::net::SocketAddr,
}

impl AgentRun {
    pub fn new(mut setup: AgentSetup) -> AgentRun {
        let events = setup.emitter.subscribe();
        let (received_tx, received_rx) = mpsc::unbounded_channel();
        if let Some(mut traced) = setup.control.traced.take() {
            let mut log = setup.trace_log.take();
            // Writes the log and hands received messages to the steps, while the UA runs.
            tokio::spawn(async move {
                while let Some(t) = traced.recv().await {
                    if let Some(file) = log.as_mut() {
                        use std::io::Write;
                        let _ = file.write_all(messages::log_entry(&t).as_bytes());
                    }
                    if !t.outgoing {
                        let _ = received_tx.send(t);
                    }
                }
            });
        }
        let local = setup.ua.local;
        AgentRun {
            control: setup.control,
            received: Vec::new(),
            received_rx,
            received_cursor: 0,
            send_call_id: format!("{:016x}@icephone", rand::random::<u64>()),
            send_tag: format!("{:08x}", rand::random::<u32>()),
            send_cseq: 0,
            local,
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
            let result = match self.arm_edits(step) {
                Err(e) => Err(e),
                Ok(()) => match stop.as_mut() {
                    Some(stop) => tokio::select! {
                        r = self.step(&step.action) => r,
                        () = stopped(stop) => Err(STOPPED.to_string()),
                    },
                    None => self.step(&step.action).await,
                },
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
            Action::Send { to, transport, .. } => {
                format!("send to {} over {transport}", self.vars.substitute(to)?)
            }
            other => other.describe(),
        })
    }

    /// A step's `headers`/`sdp` edits, handed to the user agent for the message the step
    /// sends (values may use `${variables}`).
    fn arm_edits(&self, step: &Step) -> Result<(), String> {
        if step.edits == MessageEdits::default() {
            return Ok(());
        }
        let kind = match step.action {
            Action::Call { .. } => Outgoing::Invite,
            Action::Answer { .. } => Outgoing::Answer,
            Action::Hold | Action::Resume | Action::Update => Outgoing::Offer,
            Action::HangUp => Outgoing::Bye,
            _ => return Ok(()),
        };
        let mut edits = step.edits.clone();
        for (_, value) in edits
            .headers
            .add
            .iter_mut()
            .chain(&mut edits.headers.replace)
        {
            *value = self.vars.substitute(value)?;
        }
        for line in &mut edits.sdp.add {
            *line = self.vars.substitute(line)?;
        }
        self.control.edit_next(kind, edits);
        Ok(())
    }

    fn drain_received(&mut self) {
        while let Ok(t) = self.received_rx.try_recv() {
            self.received.push(t);
        }
    }

    /// Waits for a received message matching `e` after the last matched one; negated,
    /// fails if one arrives before the timeout.
    async fn expect_message(&mut self, e: &MessageExpectation) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(e.timeout_ms);
        let mut scanned = self.received_cursor;
        loop {
            self.drain_received();
            while let Some(t) = self.received.get(scanned) {
                if messages::matches(e, &String::from_utf8_lossy(&t.bytes)) {
                    if e.negate {
                        return Err(format!(
                            "received `{}` from {}",
                            messages::first_line(&t.bytes),
                            t.remote
                        ));
                    }
                    self.received_cursor = scanned + 1;
                    return Ok(());
                }
                scanned += 1;
            }
            match tokio::time::timeout_at(deadline, self.received_rx.recv()).await {
                Ok(Some(t)) => self.received.push(t),
                Ok(None) => {
                    // The user agent stopped: nothing more can arrive.
                    tokio::time::sleep_until(deadline).await;
                    return if e.negate {
                        Ok(())
                    } else {
                        Err("the SIP user agent stopped".into())
                    };
                }
                Err(_) if e.negate => return Ok(()),
                Err(_) => {
                    let seen: Vec<String> = self
                        .received
                        .get(self.received_cursor..)
                        .unwrap_or(&[])
                        .iter()
                        .map(|t| format!("`{}`", messages::first_line(&t.bytes)))
                        .collect();
                    return Err(format!(
                        "not received within {} ms; received since the previous match: {}",
                        e.timeout_ms,
                        if seen.is_empty() {
                            "nothing".into()
                        } else {
                            seen.join(", ")
                        }
                    ));
                }
            }
        }
    }

    /// A `send` step: the template with its keywords, from the agent's SIP socket.
    async fn send_raw(&mut self, template: &str, to: &str, transport: &str) -> Result<(), String> {
        let to = self.vars.substitute(to)?;
        let dest: std::net::SocketAddr = to
            .parse()
            .map_err(|_| format!("`to` `{to}` is not IP:PORT"))?;
        let transport = match transport {
            "tcp" => sip::endpoint::TransportKind::Tcp,
            _ => sip::endpoint::TransportKind::Udp,
        };
        self.drain_received();
        self.send_cseq += 1;
        let branch = messages::fresh_branch();
        let bytes = messages::render(
            template,
            &self.vars,
            &messages::SendContext {
                call_id: &self.send_call_id,
                tag: &self.send_tag,
                branch: &branch,
                cseq: self.send_cseq,
                local: self.local,
                remote: dest,
                last: self.received.last().map(|t| t.bytes.as_slice()),
            },
        )?;
        self.control.send_raw(transport, dest, bytes).await
    }

    async fn step(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::ExpectMessage(e) => self.expect_message(e).await,
            Action::Send {
                template,
                to,
                transport,
            } => self.send_raw(template, to, transport).await,
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
        ua.send(UaCommand::Register { expires }).await;
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
        Event::Dtls { state, .. } => format!("dtls.{state}"),
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
        (what, Event::Dtls { state, reason, .. }) => {
            what.strip_prefix("dtls.") == Some(state.as_str()) && reason_ok(reason)
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
        Assertion::Keying { keying, suite } => {
            let got_suite = o.media.srtp_suite.as_deref();
            if o.media.keying == *keying && suite.as_deref().is_none_or(|s| Some(s) == got_suite) {
                Ok(())
            } else {
                Err(format!(
                    "keying {} ({})",
                    o.media.keying,
                    got_suite.unwrap_or("clear RTP")
                ))
            }
        }
        Assertion::Codec(want) => {
            if o.media.codec.eq_ignore_ascii_case(want) {
                Ok(())
            } else {
                Err(format!("codec {}", o.media.codec))
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
