//! One run of a scenario: the registrar (if any), every agent's SIP user agent, then every
//! agent's steps concurrently, bounded by the scenario's `timeout_ms`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::agent::{AgentRun, AgentSetup};
use super::agent_ua::SharedAgents;
use super::format::{Action, Agent, Scenario};
use super::registrar;
use super::report::{AgentReport, Printer, RunReport};
use super::vars::Vars;
use crate::call::CallOptions;
use crate::events::Emitter;
use crate::media::source::Source;
use crate::signalling::control::{message_control, ControlLink};

/// Runs scenario instance number `call` (its `${call}`).
pub async fn run_once(scenario: &Scenario, call: u64, printer: Printer) -> RunReport {
    run_once_until(scenario, call, printer, None, None).await
}

/// [`run_once`] that a graceful stop (`stop` turning true) cuts short: running steps end and
/// the agents hang up their calls. With `shared`, the agents' calls run on those user
/// agents (load mode) instead of each binding its own.
pub async fn run_once_until(
    scenario: &Scenario,
    call: u64,
    printer: Printer,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    shared: Option<&SharedAgents>,
) -> RunReport {
    let started = Instant::now();
    let mut report = RunReport {
        scenario: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        call,
        agents: Vec::new(),
        elapsed_ms: 0,
        error: None,
    };
    match set_up_and_run(scenario, call, printer, stop, shared).await {
        Ok(agents) => report.agents = agents,
        Err(e) => report.error = Some(e),
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report
}

async fn set_up_and_run(
    scenario: &Scenario,
    call: u64,
    printer: Printer,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    shared: Option<&SharedAgents>,
) -> Result<Vec<AgentReport>, String> {
    let file = scenario.path.display().to_string();
    let mut vars = Vars::for_call(&scenario.variables, call);
    // Kept alive until every agent is done.
    let _registrar = match &scenario.registrar {
        Some(spec) => {
            let bind: SocketAddr = vars
                .substitute(&spec.bind)?
                .parse()
                .map_err(|e| format!("[registrar] bind: {e}"))?;
            let r = registrar::start(bind)
                .await
                .map_err(|e| format!("registrar cannot bind {bind}: {e}"))?;
            vars.set("registrar", r.addr.to_string());
            Some(r)
        }
        None => None,
    };
    // `[data]`: every agent's CSV row as `${NAME.csv.COLUMN}`; its own as `${csv.COLUMN}`.
    let agents = scenario.agents.len();
    if let Some(data) = &scenario.data {
        for (i, agent) in scenario.agents.iter().enumerate() {
            for (column, value) in data.fields(call, i, agents) {
                vars.set(&format!("{}.csv.{column}", agent.name), value);
            }
        }
    }
    // Bind every agent first so each one's address can be named by the others' steps.
    let mut prepared = Vec::new();
    for (i, agent) in scenario.agents.iter().enumerate() {
        let own = own_vars(scenario, &vars, call, i);
        let trace_log =
            match &scenario.trace_msg {
                Some(dir) => {
                    let path = dir.join(format!(
                        "{}-{call}-{}.log",
                        file_safe(&scenario.name),
                        file_safe(&agent.name)
                    ));
                    Some(std::fs::File::create(&path).map_err(|e| {
                        format!("--trace-msg: cannot write {}: {e}", path.display())
                    })?)
                }
                None => None,
            };
        let tap = trace_log.is_some()
            || agent
                .steps
                .iter()
                .any(|s| matches!(s.action, Action::ExpectMessage(_) | Action::Send { .. }));
        let mut response_edits = agent.response_edits.clone();
        for (_, value) in response_edits
            .add
            .iter_mut()
            .chain(&mut response_edits.replace)
        {
            *value = own.substitute(value)?;
        }
        let (control, link) = message_control(response_edits, tap);
        let opener = shared.and_then(|s| s.opener(&agent.name));
        let (ua, template, emitter) = prepare(agent, &own, &printer, link, opener).await?;
        let aor = template_aor(agent, &own, ua.local)?;
        let user = user_of(&aor);
        vars.set(&format!("{}.address", agent.name), ua.local.to_string());
        vars.set(
            &format!("{}.uri", agent.name),
            format!("sip:{user}@{}", ua.local),
        );
        prepared.push((i, agent, aor, ua, template, emitter, control, trace_log));
    }
    let mut tasks = Vec::new();
    for (i, agent, aor, ua, template, emitter, control, trace_log) in prepared {
        // The agent's own view: every address (set above) plus its own CSV row.
        let vars = own_vars(scenario, &vars, call, i);
        let run = AgentRun::new(AgentSetup {
            name: agent.name.clone(),
            aor,
            file: file.clone(),
            steps: agent.steps.clone(),
            vars,
            emitter,
            ua,
            template,
            printer: printer.clone(),
            stop: stop.clone(),
            control,
            trace_log,
        });
        tasks.push((agent.name.clone(), tokio::spawn(run.run())));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(scenario.timeout_ms);
    let mut reports = Vec::new();
    let mut timed_out = Vec::new();
    for (name, mut task) in tasks {
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => return Err(format!("agent `{name}` crashed: {e}")),
            Err(_) => {
                task.abort();
                timed_out.push(name);
            }
        }
    }
    if !timed_out.is_empty() {
        return Err(format!(
            "{file}: scenario timeout ({} ms) reached; still running: {}",
            scenario.timeout_ms,
            timed_out.join(", ")
        ));
    }
    Ok(reports)
}

/// `vars` plus agent number `index`'s own CSV row as `${csv.COLUMN}`.
fn own_vars(scenario: &Scenario, vars: &Vars, call: u64, index: usize) -> Vars {
    let mut own = vars.clone();
    if let Some(data) = &scenario.data {
        for (column, value) in data.fields(call, index, scenario.agents.len()) {
            own.set(&format!("csv.{column}"), value);
        }
    }
    own
}

/// A name as a file name part: letters, digits, `-` and `_`; anything else becomes `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn template_aor(agent: &Agent, vars: &Vars, local: SocketAddr) -> Result<String, String> {
    Ok(match &agent.spec.aor {
        Some(a) => vars.substitute(a)?,
        None => format!("sip:{}@{}", agent.name, local.ip()),
    })
}

pub(super) fn user_of(aor: &str) -> String {
    aor.trim_start_matches("sips:")
        .trim_start_matches("sip:")
        .split('@')
        .next()
        .unwrap_or("")
        .to_string()
}

pub(super) fn addr(vars: &Vars, what: &str, text: &str) -> Result<SocketAddr, String> {
    let s = vars.substitute(text)?;
    s.parse()
        .or_else(|_| {
            std::net::ToSocketAddrs::to_socket_addrs(s.as_str())
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| format!("{what} `{s}` is not HOST:PORT"))
}

/// The agent's SIP user agent, call options and emitter. With `shared` (load mode over one
/// UA per agent, [`super::agent_ua::SharedAgents`]) the run gets a call handle on that UA
/// instead of a UA of its own.
async fn prepare(
    agent: &Agent,
    vars: &Vars,
    printer: &Printer,
    link: ControlLink,
    shared: Option<&crate::signalling::UaHandle>,
) -> Result<(crate::signalling::UaHandle, CallOptions, Emitter), String> {
    let spec = &agent.spec;
    let who = format!("agent `{}`", agent.name);
    let (ua, netns) = match shared {
        Some(opener) => {
            let takes_calls = agent
                .steps
                .iter()
                .any(|s| matches!(s.action, Action::Answer { .. }));
            let ua = opener
                .open_call(takes_calls)
                .await
                .ok_or_else(|| format!("{who}: the shared SIP user agent has stopped"))?;
            (ua, None)
        }
        None => {
            let (config, netns) = super::agent_ua::ua_config(agent, vars).await?;
            let bind = config.bind;
            let ua = crate::signalling::spawn_controlled(config, link)
                .await
                .map_err(|e| format!("{who}: cannot bind SIP to {bind}: {e}"))?;
            (ua, netns)
        }
    };
    let ips = |list: &[String], what: &str| -> Result<Vec<IpAddr>, String> {
        list.iter()
            .map(|h| {
                vars.substitute(h)?
                    .parse::<IpAddr>()
                    .map_err(|e| format!("{who}: {what} `{h}`: {e}"))
            })
            .collect()
    };
    let mut hosts = ips(&spec.hosts, "hosts")?;
    if hosts.is_empty() {
        hosts.push(ua.local.ip());
    }
    let emitter = Emitter::new(printer.json && !printer.quiet, true);
    let mut o = CallOptions::new(&agent.name, hosts.clone(), emitter.clone());
    o.ice = spec.ice;
    // RFC 8445 §5.1.1.1 excludes loopback candidates; scenarios on loopback need them.
    o.allow_loopback = hosts.iter().any(|h| h.is_loopback());
    o.blocked_ips = ips(&spec.blocked, "blocked")?;
    o.netns = netns;
    o.stun = spec
        .stun
        .as_ref()
        .map(|s| addr(vars, "stun", s))
        .transpose()?;
    o.turn = match &spec.turn {
        Some(t) => {
            let transport = spec
                .turn_transport
                .as_deref()
                .map(crate::turn_uri::parse_transport)
                .transpose()
                .map_err(|why| format!("{who}: turn_transport: {why}"))?;
            Some(
                crate::config::turn_settings(
                    &vars.substitute(t)?,
                    transport,
                    vars.substitute(spec.turn_user.as_deref().unwrap_or(""))?,
                    vars.substitute(spec.turn_password.as_deref().unwrap_or(""))?,
                    crate::tls::TlsSettings::default(),
                    &crate::names::Names {
                        dns: None,
                        family: crate::dns::Family::of(&ua.local),
                    },
                    &mut Vec::new(),
                )
                .map_err(|e| format!("{who}: {e}"))?,
            )
        }
        None => None,
    };
    o.aggressive_nomination = match spec.nomination.as_str() {
        "regular" => false,
        "aggressive" => true,
        other => {
            return Err(format!(
                "{who}: nomination `{other}`: expected regular or aggressive"
            ))
        }
    };
    o.rtcp_mux = spec.rtcp_mux;
    o.srtp = crate::cli_values::parse_srtp(&spec.srtp)
        .map_err(|why| format!("{who}: srtp `{}`: {why}", spec.srtp))?;
    o.dtls_setup = crate::cli_values::parse_dtls_setup(&spec.dtls_setup)
        .map_err(|why| format!("{who}: dtls_setup `{}`: {why}", spec.dtls_setup))?;
    if let Some(names) = &spec.codecs {
        o.codecs = crate::cli_values::parse_codecs(names.iter().map(String::as_str))
            .map_err(|why| format!("{who}: codecs `{}`: {why}", names.join(",")))?;
    }
    o.ice_timeout = Duration::from_millis(spec.ice_timeout_ms);
    o.gather_timeout = Duration::from_secs(2);
    o.source = match (&spec.play, spec.tone) {
        (Some(file), _) => {
            let path = vars.substitute(file)?;
            Source::samples(
                crate::media::wav::read(std::path::Path::new(&path))
                    .map_err(|e| format!("{who}: play {path}: {e}"))?
                    .samples,
            )
        }
        (None, Some(hz)) => Source::tone(hz),
        (None, None) => Source::Silence,
    };
    Ok((ua, o, emitter))
}
