//! Where a message goes: transport, address and (for TCP) the connection to reuse.

use std::net::SocketAddr;

use crate::message::{Host, Uri};
use crate::timers::Reliability;

use super::config::NextHop;
use super::types::{ConnId, EndpointError, Transmit, TransportKind};
use super::Endpoint;

/// One hop: a transport association to a peer. For TCP `conn` pins the connection
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
        match self.transport {
            TransportKind::Udp => Reliability::Unreliable,
            TransportKind::Tcp => Reliability::Reliable,
        }
    }
}

/// The address and transport a SIP URI points at, without DNS (the endpoint is sans-IO:
/// hosts must be IP literals, else the outbound proxy is used).
pub(crate) fn uri_target(uri: &Uri, default: TransportKind) -> Option<(TransportKind, SocketAddr)> {
    let sip = uri.as_sip()?;
    let transport = match sip.transport().as_deref() {
        Some("tcp") => TransportKind::Tcp,
        Some("udp") => TransportKind::Udp,
        _ => default,
    };
    let ip = match &sip.host {
        Host::Domain(_) => return None,
        host => host.ip()?,
    };
    Some((transport, SocketAddr::new(ip, sip.port.unwrap_or(5060))))
}

impl Endpoint {
    /// Queues `bytes` for `hop`, reusing an open TCP connection to the destination when
    /// the hop does not pin one (RFC 3261 §18.1.1 / RFC 5626 flow reuse).
    pub(crate) fn send_on(&mut self, hop: &Hop, bytes: Vec<u8>) {
        let transmit = match hop.transport {
            TransportKind::Udp => Transmit {
                transport: TransportKind::Udp,
                local: hop.local.or(self.config.udp_local),
                dest: hop.dest,
                conn: None,
                bytes,
            },
            TransportKind::Tcp => {
                let conn = hop
                    .conn
                    .filter(|c| self.conns.contains_key(c))
                    .or_else(|| self.conn_to(hop.dest));
                Transmit {
                    transport: TransportKind::Tcp,
                    local: conn.and_then(|c| self.conns.get(&c)).map(|c| c.local),
                    dest: hop.dest,
                    conn,
                    bytes,
                }
            }
        };
        tracing::trace!(
            transport = ?transmit.transport,
            dest = %transmit.dest,
            conn = ?transmit.conn,
            len = transmit.bytes.len(),
            "sip transmit"
        );
        self.transmits.push_back(transmit);
    }

    /// An open connection whose peer is `dest`, lowest id first (deterministic).
    pub(crate) fn conn_to(&self, dest: SocketAddr) -> Option<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.remote == dest)
            .map(|(id, _)| *id)
            .min()
    }

    /// The hop for a new out-of-dialog request to `uri`. RFC 3261 §8.1.2: a configured
    /// outbound proxy is the first hop of every out-of-dialog request, whatever the URI
    /// (reusing the registration's flow when it goes there, RFC 5626 §4.3); without one,
    /// the URI itself when its host is an IP literal (§8.1.2 / RFC 3263 without DNS).
    pub(crate) fn hop_for_uri(&self, uri: &Uri) -> Result<Hop, EndpointError> {
        let mut hops = self.hops_for_uri(uri)?;
        Ok(hops.remove(0))
    }

    /// Every hop a new out-of-dialog request to `uri` may use, best first (never empty):
    /// the outbound proxy and its RFC 3263 alternates, else the registration's flow, else
    /// the URI's IP literal or the targets the TU resolved for its domain
    /// ([`Endpoint::set_resolved`]).
    pub(crate) fn hops_for_uri(&self, uri: &Uri) -> Result<Vec<Hop>, EndpointError> {
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
                TransportKind::Tcp => None,
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
