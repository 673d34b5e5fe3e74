//! The names in the settings (proxy, registrar, request targets, STUN, TURN) resolved with
//! [`crate::dns`]: IP literals pass through; names go through RFC 3263 (SIP) or the
//! `_stun._udp` / `_turn._udp` SRV records (RFC 8489 §8, RFC 8656 §4), and each resolution
//! is kept for the `resolved` event.

use std::net::SocketAddr;

use crate::config::{ConfigError, Resolved, Settings, TransportKind};
use crate::dns::{self, Family, Service, UriTarget};

/// Ordered SIP targets (transport, address), best first.
pub type SipTargets = Vec<(TransportKind, SocketAddr)>;

/// A name's targets and, when DNS was used, the resolution to report.
pub type Routed = (SipTargets, Option<Resolved>);

/// How names are resolved: the DNS server (`--dns`, else resolv.conf) and our family.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub dns: Option<SocketAddr>,
    pub family: Family,
}

fn transport_of(service: Service) -> TransportKind {
    match service {
        Service::SipUdp => TransportKind::Udp,
        Service::SipTcp => TransportKind::Tcp,
        // SIPS+D2T, `_sips._tcp`: TLS over TCP (RFC 3263 §4.1).
        Service::SipsTcp => TransportKind::Tls,
    }
}

fn service_of(transport: TransportKind) -> Service {
    match transport {
        TransportKind::Udp => Service::SipUdp,
        TransportKind::Tcp => Service::SipTcp,
        TransportKind::Tls => Service::SipsTcp,
    }
}

impl Names {
    /// `--proxy`: `HOST[:PORT]` or a sip:/sips: URI, resolved by RFC 3263: with a
    /// `transport` given (`--transport`), SRV for it, else NAPTR. The targets are ordered;
    /// they all use the first target's transport.
    pub fn proxy(
        &self,
        value: &str,
        transport: Option<TransportKind>,
        field: &'static str,
    ) -> Result<Routed, ConfigError> {
        let target = if value.starts_with("sip:") || value.starts_with("sips:") {
            let uri: sip::message::Uri = value.parse().map_err(|e| ConfigError::Invalid {
                field,
                value: value.into(),
                why: format!("not a SIP URI: {e}"),
            })?;
            dns::uri_target(&uri).ok_or_else(|| ConfigError::Invalid {
                field,
                value: value.into(),
                why: "not a SIP URI".into(),
            })?
        } else {
            let (host, port) = dns::split_host_port(value).map_err(|why| ConfigError::Invalid {
                field,
                value: value.into(),
                why: format!("{why}; expected HOST[:PORT] or a sip: URI"),
            })?;
            UriTarget {
                host,
                port,
                transport: transport.map(|t| service_of(t).transport_param().into()),
                secure: false,
            }
        };
        self.sip_target(&target, value, field, "proxy")
    }

    /// A request target or registrar domain as an RFC 3263 target.
    pub fn sip_target(
        &self,
        target: &UriTarget,
        value: &str,
        field: &'static str,
        role: &'static str,
    ) -> Result<Routed, ConfigError> {
        // An IP literal needs no DNS (RFC 3263 §4.1), and is not reported as resolved.
        if let Ok(dns::Plan::Literal { ip, port, service }) = dns::Plan::for_target(target, value) {
            return Ok((
                vec![(transport_of(service), SocketAddr::new(ip, port))],
                None,
            ));
        }
        let resolution = dns::blocking(self.dns, self.family, async |r| {
            r.resolve_uri(target, value).await
        })
        .map_err(|source| ConfigError::Dns {
            field,
            value: value.into(),
            source,
        })?;
        let mut targets: SipTargets = resolution
            .targets
            .iter()
            .map(|t| (transport_of(t.service), t.addr))
            .collect();
        if let Some(first) = targets.first().map(|(t, _)| *t) {
            targets.retain(|(t, _)| *t == first);
        }
        if targets.is_empty() {
            return Err(ConfigError::Dns {
                field,
                value: value.into(),
                source: dns::DnsError::NoRecords {
                    name: resolution.name.clone(),
                    tried: resolution.records.clone(),
                },
            });
        }
        Ok((targets, Some(Resolved { role, resolution })))
    }

    /// `--stun` / `--turn`: `HOST[:PORT]`; a bare name looks up `srv_prefix` SRV first.
    pub fn server(
        &self,
        value: &str,
        field: &'static str,
        srv_prefix: &str,
        default_port: u16,
        resolutions: &mut Vec<Resolved>,
    ) -> Result<SocketAddr, ConfigError> {
        let (host, port) = dns::split_host_port(value).map_err(|why| ConfigError::Invalid {
            field,
            value: value.into(),
            why: format!("{why}; expected HOST[:PORT]"),
        })?;
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, port.unwrap_or(default_port)));
        }
        let resolution = dns::blocking(self.dns, self.family, async |r| {
            r.resolve_server(&host, port, srv_prefix, default_port)
                .await
        })
        .map_err(|source| ConfigError::Dns {
            field,
            value: value.into(),
            source,
        })?;
        let first = resolution.targets[0].addr;
        resolutions.push(Resolved {
            role: field,
            resolution,
        });
        Ok(first)
    }
}

/// The routes a command needs beyond the settings: without a proxy, a registering command
/// registers at its AOR's domain (RFC 3261 §10.2.6, found by RFC 3263) and a call goes to
/// its target's domain (RFC 3263 §4). IP literals need no DNS.
pub fn complete_routes(
    settings: &mut Settings,
    register: bool,
    target: Option<&str>,
) -> Result<(), ConfigError> {
    if settings.proxy.is_some() {
        return Ok(());
    }
    let names = Names {
        dns: settings.dns,
        family: Family::of(&settings.bind),
    };
    if register {
        let Some(aor) = settings.aor.clone() else {
            return Ok(());
        };
        let given = settings.transport_given.then_some(settings.transport);
        let Some(domain) = registrar_target(&aor, given) else {
            return Ok(());
        };
        if domain.host.parse::<std::net::IpAddr>().is_ok() {
            return Ok(()); // the driver registers at an IP literal itself
        }
        let (targets, resolved) = names.sip_target(&domain, &aor, "aor", "registrar")?;
        settings.transport = targets[0].0;
        settings.proxy = Some(targets[0].1);
        settings.proxy_alternates = targets.iter().skip(1).map(|(_, a)| *a).collect();
        settings.resolutions.extend(resolved);
        return Ok(());
    }
    let Some(uri) = target.and_then(|t| t.parse::<sip::message::Uri>().ok()) else {
        return Ok(());
    };
    let Some(target) = dns::uri_target(&uri) else {
        return Ok(());
    };
    if target.host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let text = uri.to_string();
    let (targets, resolved) = names.sip_target(&target, &text, "target", "target")?;
    settings.resolved_hosts.push((target.host.clone(), targets));
    settings.resolutions.extend(resolved);
    Ok(())
}

/// The registrar of an AOR: its domain (RFC 3261 §10.2.6: the Request-URI of REGISTER is
/// the AOR's domain), with the configured transport when one was given.
fn registrar_target(aor: &str, transport: Option<TransportKind>) -> Option<UriTarget> {
    let uri: sip::message::Uri = aor.parse().ok()?;
    let mut target = dns::uri_target(&uri)?;
    if target.transport.is_none() && !target.secure {
        target.transport = transport.map(|t| service_of(t).transport_param().into());
    }
    Some(target)
}
