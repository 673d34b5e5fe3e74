//! Where a message goes: transport, address and (for TCP and TLS) the connection to reuse.

use std::net::SocketAddr;

use crate::message::{Host, Uri};
use crate::timers::Reliability;

use super::config::NextHop;
use super::types::{ConnId, EndpointError, Transmit, TransportKind};
use super::Endpoint;

/// One hop: a transport association to a peer. For TCP/TLS `conn` pins the connection
/// (responses go back on the connection the request came on, RFC 3261 §18.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hop {
    pub transport: TransportKind,
    pub dest: SocketAddr,
    pub conn: Option<ConnId>,
    /// For UDP: the local socket to send from (symmetric, RFC 3581 §3).
    pub local: Option<SocketAddr>,
}

impl Hop {
    pub fn reliability(&self) -> Reliability {
        if self.transport.is_stream() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        }
    }
}

/// Whether a URI may only be reached over TLS: RFC 3261 §26.2.2 (sips:) and §19.1.1
/// (`;transport=tls`, RFC 5630 §3.1.3 keeps it meaning TLS).
pub(crate) fn needs_tls(uri: &Uri) -> bool {
    uri.as_sip()
        .is_some_and(|u| u.secure || u.transport().as_deref() == Some("tls"))
}

/// The transport a SIP URI asks for: TLS for sips: whatever its transport parameter
/// (RFC 5630 §3.1.3: `sips:…;transport=tcp` is TLS over TCP), else its `transport`
/// parameter, else `default`.
pub(crate) fn uri_transport(uri: &Uri, default: TransportKind) -> TransportKind {
    let Some(sip) = uri.as_sip() else {
        return default;
    };
    if needs_tls(uri) {
        return TransportKind::Tls;
    }
    match sip.transport().as_deref() {
        Some("tcp") => TransportKind::Tcp,
        Some("udp") => TransportKind::Udp,
        _ => default,
    }
}

/// The address and transport a SIP URI points at, without DNS (the endpoint is sans-IO:
/// hosts must be IP literals, else the outbound proxy is used). RFC 3261 §19.1.2: the
/// default port is 5061 for TLS, 5060 otherwise.
pub(crate) fn uri_target(uri: &Uri, default: TransportKind) -> Option<(TransportKind, SocketAddr)> {
    let sip = uri.as_sip()?;
    let transport = uri_transport(uri, default);
    let ip = match &sip.host {
        Host::Domain(_) => return None,
        host => host.ip()?,
    };
    let port = sip.port.unwrap_or(transport.default_port());
    Some((transport, SocketAddr::new(ip, port)))
}

impl Endpoint {
    /// Queues `bytes` for `hop`, reusing an open connection of the hop's transport (TCP or
    /// TLS) to the destination when the hop does not pin one (RFC 3261 §18.1.1 / RFC 5626
    /// flow reuse).
    pub(crate) fn send_on(&mut self, hop: &Hop, bytes: Vec<u8>) {
        let transmit = match hop.transport {
            TransportKind::Udp => Transmit {
                transport: TransportKind::Udp,
                local: hop.local.or(self.config.udp_local),
                dest: hop.dest,
                conn: None,
                bytes,
            },
            TransportKind::Tcp | TransportKind::Tls => {
                let conn = hop
                    .conn
                    .filter(|c| {
                        self.conns
                            .get(c)
                            .is_some_and(|open| open.transport == hop.transport)
                    })
                    .or_else(|| self.conn_to(hop.transport, hop.dest));
                Transmit {
                    transport: hop.transport,
                    local: conn.and_then(|c| self.conns.get(&c)).map(|c| c.local),
                    dest: hop.dest,
                    conn,
                    bytes,
                }
            }
        };
        if self.config.trace_messages && !transmit.bytes.iter().all(|b| matches!(b, b'\r' | b'\n'))
        {
            self.trace(
                true,
                transmit.transport,
                transmit.local,
                transmit.dest,
                transmit.bytes.clone(),
            );
        }
        tracing::trace!(
            transport = ?transmit.transport,
            dest = %transmit.dest,
            conn = ?transmit.conn,
            len = transmit.bytes.len(),
            "sip transmit"
        );
        self.transmits.push_back(transmit);
    }

    /// An open connection of `transport` whose peer is `dest`, lowest id first
    /// (deterministic). A TCP connection never carries TLS traffic, nor the reverse.
    pub(crate) fn conn_to(&self, transport: TransportKind, dest: SocketAddr) -> Option<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.remote == dest && c.transport == transport)
            .map(|(id, _)| *id)
            .min()
    }

    /// The hop for a new out-of-dialog request to `uri`. RFC 3261 §8.1.2: a configured
    /// outbound proxy is the first hop of every out-of-dialog request, whatever the URI
    /// (reusing the registration's flow when it goes there, RFC 5626 §4.3); without one,
    /// the URI itself when its host is an IP literal (§8.1.2 / RFC 3263 without DNS).
    /// Refused when `uri` needs TLS and the hop is not TLS (RFC 3261 §26.2.2).
    pub(crate) fn hop_for_uri(&self, uri: &Uri) -> Result<Hop, EndpointError> {
        let mut hops = self.hops_for_uri(uri)?;
        Ok(hops.remove(0))
    }

    /// Every hop a new out-of-dialog request to `uri` may use, best first (never empty):
    /// the outbound proxy and its RFC 3263 alternates, else the registration's flow, else
    /// the URI's IP literal or the targets the TU resolved for its domain
    /// ([`Endpoint::set_resolved`]). RFC 3261 §26.2.2: for a `uri` that needs TLS the first
    /// hop must be TLS (else the request is refused) and failover never leaves TLS.
    pub(crate) fn hops_for_uri(&self, uri: &Uri) -> Result<Vec<Hop>, EndpointError> {
        let mut hops = self.candidate_hops(uri)?;
        if let Some(first) = hops.first() {
            self.require_tls(uri, first)?;
        }
        if needs_tls(uri) {
            hops.retain(|h| h.transport == TransportKind::Tls);
        }
        Ok(hops)
    }

    fn candidate_hops(&self, uri: &Uri) -> Result<Vec<Hop>, EndpointError> {
        if let Some(proxy) = self.config.outbound_proxy {
            // After a REGISTER failed over, the target that answered leads (RFC 3263 §4.3).
            let (first, rest): (NextHop, Vec<NextHop>) = match self.registration.as_ref() {
                Some(reg) => (reg.registrar, reg.alternates.iter().copied().collect()),
                None => (proxy, self.config.proxy_alternates.clone()),
            };
            let mut hops = vec![self.hop_to(first.transport, first.addr)];
            hops.extend(rest.iter().map(|alt| self.hop_to(alt.transport, alt.addr)));
            return Ok(hops);
        }
        if let Some(flow) = self.registration.as_ref().and_then(|r| r.flow_hop()) {
            return Ok(vec![flow]);
        }
        if let Some(host) = uri.as_sip().and_then(|s| match &s.host {
            Host::Domain(name) => Some(name.to_ascii_lowercase()),
            _ => None,
        }) {
            return match self.resolved.get(&host) {
                Some(targets) if !targets.is_empty() => Ok(targets
                    .iter()
                    .map(|t| self.hop_to(t.transport, t.addr))
                    .collect()),
                _ => Err(EndpointError::NoRoute(uri.to_string())),
            };
        }
        match uri_target(uri, self.config.default_transport) {
            Some((transport, dest)) => Ok(vec![self.hop_to(transport, dest)]),
            None => Err(EndpointError::NoRoute(uri.to_string())),
        }
    }

    /// RFC 3261 §26.2.2 / §19.1.1: `uri` (sips:, or `;transport=tls`) may only be reached
    /// over TLS; `hop` is the first hop we would send it on. Never a silent downgrade: the
    /// request is refused, saying why.
    pub(crate) fn require_tls(&self, uri: &Uri, hop: &Hop) -> Result<(), EndpointError> {
        if !needs_tls(uri) {
            return Ok(());
        }
        let detail = if self.config.tls_local.is_none() {
            "no TLS transport is configured".to_owned()
        } else if hop.transport != TransportKind::Tls {
            format!(
                "its first hop {} is reached over {}",
                hop.dest,
                hop.transport.as_str()
            )
        } else {
            return Ok(());
        };
        Err(EndpointError::TlsRequired {
            uri: uri.to_string(),
            detail,
        })
    }

    /// The RFC 3263 targets of a domain name, best first, as the TU resolved them: requests
    /// to URIs with that host go to the first, and fail over to the next (§4.3).
    pub fn set_resolved(&mut self, host: &str, targets: Vec<NextHop>) {
        self.resolved.insert(host.to_ascii_lowercase(), targets);
    }

    /// A hop to `dest`: over the registration's flow when it goes there (RFC 5626 §4.3),
    /// else a plain hop (TCP reuses any open connection at send time).
    pub(crate) fn hop_to(&self, transport: TransportKind, dest: SocketAddr) -> Hop {
        if let Some(flow) = self.registration.as_ref().and_then(|r| r.flow_hop()) {
            if flow.dest == dest && flow.transport == transport {
                return flow;
            }
        }
        Hop {
            transport,
            dest,
            conn: None,
            local: match transport {
                TransportKind::Udp => self.config.udp_local,
                TransportKind::Tcp | TransportKind::Tls => None,
            },
        }
    }
}

/// How a message reached us: the flow to answer on and to reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrival {
    pub transport: TransportKind,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub conn: Option<ConnId>,
}

impl Arrival {
    /// The hop back to the sender over the same flow.
    pub fn hop(&self) -> Hop {
        Hop {
            transport: self.transport,
            dest: self.remote,
            conn: self.conn,
            local: Some(self.local),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str, default: TransportKind) -> Option<(TransportKind, SocketAddr)> {
        uri_target(&uri.parse().unwrap(), default)
    }

    #[test]
    fn sips_and_transport_tls_select_tls_on_port_5061() {
        let tls = |port: u16| Some((TransportKind::Tls, SocketAddr::from(([192, 0, 2, 1], port))));
        assert_eq!(target("sips:bob@192.0.2.1", TransportKind::Udp), tls(5061));
        // RFC 5630 §3.1.3: sips: with transport=tcp is TLS over TCP.
        assert_eq!(
            target("sips:bob@192.0.2.1;transport=tcp", TransportKind::Udp),
            tls(5061)
        );
        assert_eq!(
            target("sip:bob@192.0.2.1;transport=TLS", TransportKind::Udp),
            tls(5061)
        );
        assert_eq!(
            target("sip:bob@192.0.2.1:5070;transport=tls", TransportKind::Udp),
            tls(5070)
        );
        assert_eq!(target("sip:bob@192.0.2.1", TransportKind::Tls), tls(5061));
        assert_eq!(
            target("sip:bob@192.0.2.1;transport=tcp", TransportKind::Tls),
            Some((TransportKind::Tcp, SocketAddr::from(([192, 0, 2, 1], 5060))))
        );
        assert!(needs_tls(&"sips:bob@example.com".parse().unwrap()));
        assert!(!needs_tls(&"sip:bob@example.com".parse().unwrap()));
    }
}
