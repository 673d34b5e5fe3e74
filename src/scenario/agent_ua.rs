//! The SIP user agent of a scenario agent: its configuration from the spec, and for load
//! mode one user agent per agent shared by every run ([`SharedAgents`]), as sipp runs all
//! its calls on one socket, instead of a user agent (socket, driver task, channels) per run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::format::{Action, Agent, Scenario};
use super::instance::{addr, user_of};
use super::vars::Vars;
use crate::signalling::{UaConfig, UaHandle};

/// The SIP user agent of `agent` as its spec and `vars` say, and the network namespace it
/// lives in.
pub(super) async fn ua_config(
    agent: &Agent,
    vars: &Vars,
) -> Result<(UaConfig, Option<String>), String> {
    let spec = &agent.spec;
    let who = format!("agent `{}`", agent.name);
    let transport = match spec.transport.as_str() {
        "udp" => sip::endpoint::TransportKind::Udp,
        "tcp" => sip::endpoint::TransportKind::Tcp,
        "tls" => sip::endpoint::TransportKind::Tls,
        other => {
            return Err(format!(
                "{who}: transport `{other}`: expected udp, tcp or tls"
            ))
        }
    };
    let mut bind = addr(vars, "bind", &spec.bind).map_err(|e| format!("{who}: {e}"))?;
    let proxy = spec
        .proxy
        .as_ref()
        .map(|p| addr(vars, "proxy", p))
        .transpose()
        .map_err(|e| format!("{who}: {e}"))?;
    let netns = spec
        .netns
        .as_ref()
        .map(|n| vars.substitute(n))
        .transpose()?;
    if let (Some(ns), true) = (&netns, bind.ip().is_unspecified()) {
        // Inside a namespace, the address is the one its routing table uses toward the
        // proxy (else a documentation address standing for "the default route").
        let toward = proxy.unwrap_or(SocketAddr::from(([192, 0, 2, 1], 9)));
        let ip = crate::netns::route_source(Some(ns), toward)
            .await
            .map_err(|e| format!("{who}: no local address toward {toward}: {e}"))?;
        bind.set_ip(ip);
    }
    let aor = match &spec.aor {
        Some(a) => vars.substitute(a)?,
        None => format!("sip:{}@{}", agent.name, bind.ip()),
    };
    let password = spec
        .password
        .as_ref()
        .map(|p| vars.substitute(p))
        .transpose()?;
    let credentials = password.map(|password| sip::auth::Credentials {
        username: spec.auth_user.clone().unwrap_or_else(|| user_of(&aor)),
        password,
    });
    let register_step = agent.steps.iter().find_map(|s| match s.action {
        Action::Register { expires } => Some(expires),
        _ => None,
    });
    let mut tls = crate::sip_driver::SipTls::default();
    if let Some(ca) = &spec.tls_ca {
        tls.settings.ca_file = Some(vars.substitute(ca)?.into());
    }
    if transport == sip::endpoint::TransportKind::Tls || spec.tls_ca.is_some() {
        let config = crate::tls::client_config(&tls.settings)
            .map_err(|e| format!("{who}: SIP over TLS: {e}"))?;
        tls.config = Some(config);
    }
    if let (Some(text), Some(addr)) = (&spec.proxy, proxy) {
        // RFC 5922 §7.3: the proxy's certificate names the host as written.
        let (host, _) = crate::dns::split_host_port(&vars.substitute(text)?)
            .map_err(|e| format!("{who}: proxy: {e}"))?;
        tls.names.insert(addr, host);
    }
    let config = UaConfig {
        bind,
        aor: aor.clone(),
        proxy,
        proxy_alternates: Vec::new(),
        resolved_hosts: Vec::new(),
        credentials,
        t1: Duration::from_millis(500),
        max_calls: 1,
        capture: None,
        allow_update: spec.allow_update,
        register: register_step.is_some(),
        register_expires: register_step.unwrap_or(3600),
        transport,
        tls: Some(tls),
        netns: netns.clone(),
        follow_redirects: true,
        keepalive: (spec.keepalive > 0).then(|| Duration::from_secs(spec.keepalive)),
        instance_id: spec.outbound.then(crate::sip_driver::new_instance_urn),
        contact_rewrite: spec.contact_rewrite,
        advertise: None,
        port_fallback: false,
        limits: crate::sip_driver::Limits::default(),
    };
    Ok((config, netns))
}

/// Above this many calls at once a shared user agent answers 486 (RFC 3261 §21.4.24).
const SHARED_MAX_CALLS: usize = 100_000;
/// Server transactions a shared user agent keeps at once (each a few hundred bytes).
const SHARED_MAX_TRANSACTIONS: usize = 1 << 20;

/// Can every run of `scenario` share one user agent per agent? Only when nothing about a
/// user agent differs between runs or belongs to one run: no registrar or registration, no
/// CSV data, no message tap, edits or raw sends, plain UDP in our own namespace, and no
/// `${…}` in what configures the user agent. Otherwise each run binds its own.
pub fn shareable(scenario: &Scenario) -> bool {
    scenario.registrar.is_none()
        && scenario.data.is_none()
        && scenario.trace_msg.is_none()
        && scenario.agents.iter().all(agent_shareable)
}

fn agent_shareable(agent: &Agent) -> bool {
    let spec = &agent.spec;
    let per_run = |text: &Option<String>| text.as_deref().is_some_and(|t| t.contains("${"));
    let steps_ok = agent.steps.iter().all(|s| {
        !matches!(
            s.action,
            Action::Register { .. } | Action::ExpectMessage(_) | Action::Send { .. }
        )
    });
    steps_ok
        && spec.transport == "udp"
        && spec.netns.is_none()
        && spec.response_headers.is_none()
        && spec.tls_ca.is_none()
        && !spec.bind.contains("${")
        && ![&spec.aor, &spec.password, &spec.auth_user, &spec.proxy]
            .into_iter()
            .any(per_run)
}

/// One user agent per agent for a whole load run. Each run opens a call handle on its
/// agents' user agents ([`UaHandle::open_call`]); a callee's handle is given the next
/// incoming INVITE. The main handles' events (none expected: no registration) are drained.
pub struct SharedAgents {
    openers: HashMap<String, UaHandle>,
    drains: Vec<tokio::task::JoinHandle<()>>,
}

impl SharedAgents {
    /// Binds one user agent per agent of `scenario` (its variables as for run 0).
    pub async fn bind(scenario: &Scenario) -> Result<SharedAgents, String> {
        let vars = Vars::for_call(&scenario.variables, 0);
        let mut shared = SharedAgents {
            openers: HashMap::new(),
            drains: Vec::new(),
        };
        for agent in &scenario.agents {
            let (mut config, _) = ua_config(agent, &vars).await?;
            config.max_calls = SHARED_MAX_CALLS;
            // All of a load's calls come from one source, the other agents' user agents,
            // and every call leaves server transactions absorbing retransmissions for 32 s
            // (RFC 3261 §17.2.2 Timer J, RFC 6026 §8.7 Timer L): the per-source cap meant
            // for one peer among many would refuse the load after ~500 calls.
            config.limits.server.max_transactions = SHARED_MAX_TRANSACTIONS;
            config.limits.server.max_per_source = SHARED_MAX_TRANSACTIONS;
            let bind = config.bind;
            // The incoming-handle queue is dropped: INVITEs go to the runs' waiting handles.
            let (mut main, _) = crate::signalling::spawn_multi(config)
                .await
                .map_err(|e| format!("agent `{}`: cannot bind SIP to {bind}: {e}", agent.name))?;
            let opener = main
                .open_call(false)
                .await
                .ok_or_else(|| format!("agent `{}`: SIP user agent stopped", agent.name))?;
            shared.drains.push(tokio::spawn(async move {
                while let Some(event) = main.next().await {
                    tracing::debug!("shared user agent, not about a run's call: {event:?}");
                }
            }));
            shared.openers.insert(agent.name.clone(), opener);
        }
        Ok(shared)
    }

    /// The handle that opens calls on `agent`'s user agent.
    pub fn opener(&self, agent: &str) -> Option<&UaHandle> {
        self.openers.get(agent)
    }

    /// Where `agent`'s user agent listens.
    pub fn local(&self, agent: &str) -> Option<SocketAddr> {
        self.openers.get(agent).map(|o| o.local)
    }
}

impl Drop for SharedAgents {
    fn drop(&mut self) {
        // Dropping the main handles stops the user agents.
        for d in &self.drains {
            d.abort();
        }
    }
}
