//! The Via header (RFC 3261 §20.42, §18.2.1 received; RFC 3581 rport).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::error::ParseError;
use super::host::{parse_host_port, Host};
use super::params::Params;
use super::text::{is_token, split_top_level, trim_lws};

/// RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this cookie.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// The transport in `SIP/2.0/<transport>` (RFC 3261 §20.42, §25.1); case-insensitive on
/// input, upper case on output. Wider than [`crate::endpoint::TransportKind`], which names
/// only the transports the endpoint speaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `UDP` (RFC 3261 §18).
    Udp,
    /// `TCP` (RFC 3261 §18).
    Tcp,
    /// `TLS` (RFC 3261 §26.2).
    Tls,
    /// `SCTP` (RFC 4168).
    Sctp,
    /// `WS`, SIP over WebSocket (RFC 7118).
    Ws,
    /// `WSS`, SIP over secure WebSocket (RFC 7118).
    Wss,
    /// Any other token (RFC 4475 §3.1.1.10: unknown transports parse).
    Other(String),
}

impl Transport {
    /// The token written in a Via: `UDP`, `TCP`, ..., or an unknown one as received.
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(t) => t,
        }
    }

    fn parse(s: &str) -> Transport {
        match s.to_ascii_uppercase().as_str() {
            "UDP" => Transport::Udp,
            "TCP" => Transport::Tcp,
            "TLS" => Transport::Tls,
            "SCTP" => Transport::Sctp,
            "WS" => Transport::Ws,
            "WSS" => Transport::Wss,
            _ => Transport::Other(s.to_owned()),
        }
    }

    /// RFC 3261 §19.1.2 default ports: 5061 for TLS (and WSS), 5060 otherwise.
    pub fn default_port(&self) -> u16 {
        match self {
            Transport::Tls | Transport::Wss => 5061,
            _ => 5060,
        }
    }
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...;rport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport the message was (or will be) sent over.
    pub transport: Transport,
    /// The sent-by host: where the sender wants responses (RFC 3261 §18.2.2).
    pub host: Host,
    /// The sent-by port; `None` means the transport's default
    /// ([`Via::port_or_default`]).
    pub port: Option<u16>,
    /// The parameters in order: `branch`, `received`, `rport`, `maddr`, `ttl`, others.
    pub params: Params,
}

fn err(value: &str, reason: &'static str) -> ParseError {
    ParseError::header("Via", value, reason)
}

impl Via {
    /// A Via for a request we send, with a branch.
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Via {
            transport,
            host,
            port,
            params,
        }
    }

    /// The `branch` parameter: the transaction id (RFC 3261 §8.1.1.7, §17.2.3), which
    /// starts with [`BRANCH_MAGIC_COOKIE`] from RFC 3261 elements.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }

    /// RFC 3261 §18.2.1 `received`.
    pub fn received(&self) -> Option<IpAddr> {
        self.params.get("received").and_then(|r| {
            let r = r.trim_start_matches('[').trim_end_matches(']');
            r.parse().ok()
        })
    }

    /// RFC 3581 §3: `rport` present (with or without a value).
    pub fn has_rport(&self) -> bool {
        self.params.has("rport")
    }

    /// RFC 3581 §4: the port the server filled in, if any.
    pub fn rport(&self) -> Option<u16> {
        self.params.get("rport").and_then(|p| p.parse().ok())
    }

    /// The sent-by port, or the transport default.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or_else(|| self.transport.default_port())
    }

    /// RFC 3581 §3 (client): the public address a server saw, from `received` and a
    /// filled `rport` of a response's top Via.
    pub fn learned_address(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.received()?, self.rport()?))
    }
}

impl FromStr for Via {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let parts = split_top_level(input, b';').map_err(|r| err(input, r))?;
        let (head, param_parts) = parts.split_first().ok_or_else(|| err(input, "empty"))?;
        // RFC 3261 §25.1 sent-protocol = protocol-name SLASH protocol-version SLASH transport,
        // SLASH = SWS "/" SWS; then LWS sent-by.
        let mut pieces = head.splitn(3, '/');
        let name = trim_lws(pieces.next().unwrap_or(""));
        let version = trim_lws(pieces.next().unwrap_or(""));
        let rest = trim_lws(pieces.next().unwrap_or(""));
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(err(input, "sent-protocol is not SIP/2.0"));
        }
        let split_at = rest
            .find([' ', '\t'])
            .ok_or_else(|| err(input, "no sent-by after transport"))?;
        let transport = rest.get(..split_at).unwrap_or("");
        if !is_token(transport) {
            return Err(err(input, "transport is not a token"));
        }
        let (host, port) =
            parse_host_port(rest.get(split_at..).unwrap_or("")).map_err(|r| err(input, r))?;
        let params = if param_parts.is_empty() {
            Params::new()
        } else {
            Params::parse(&param_parts.join(";")).map_err(|r| err(input, r))?
        };
        Ok(Via {
            transport: Transport::parse(transport),
            host,
            port,
            params,
        })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport.as_str(), self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_via_with_rport_and_lws() {
        let v: Via = "SIP / 2.0 / UDP [2001:db8::9]:5062 ; rport ; branch = z9hG4bK77"
            .parse()
            .unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.host, Host::Ipv6("2001:db8::9".parse().unwrap()));
        assert_eq!(v.port, Some(5062));
        assert!(v.has_rport());
        assert_eq!(v.rport(), None);
        assert_eq!(v.branch(), Some("z9hG4bK77"));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP [2001:db8::9]:5062;rport;branch=z9hG4bK77"
        );
    }

    #[test]
    fn learned_address_needs_received_and_rport() {
        let v: Via = "SIP/2.0/UDP 192.0.2.1:5060;rport=40000;received=203.0.113.7;branch=z9hG4bK1"
            .parse()
            .unwrap();
        assert_eq!(
            v.learned_address(),
            Some("203.0.113.7:40000".parse().unwrap())
        );
        let no_rport: Via = "SIP/2.0/UDP 192.0.2.1;received=203.0.113.7"
            .parse()
            .unwrap();
        assert_eq!(no_rport.learned_address(), None);
    }

    #[test]
    fn malformed_vias() {
        assert!("SIP/2.0/UDP 192.0.2.15;;".parse::<Via>().is_err());
        assert!(";".parse::<Via>().is_err());
        assert!("".parse::<Via>().is_err());
        assert!("SIP/3.0/UDP host".parse::<Via>().is_err());
        assert!("SIP/2.0/UDP".parse::<Via>().is_err());
        let unknown: Via = "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en"
            .parse()
            .unwrap();
        assert_eq!(unknown.transport, Transport::Other("UNKNOWN".into()));
    }
}
