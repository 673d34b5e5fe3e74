//! Hosts and host:port pairs (RFC 3261 §25.1 `host`, `hostport`; IPv6 references in
//! brackets per RFC 5118 / RFC 3986).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host as written in a URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, kept as received.
    Domain(String),
    /// An IPv4 address in dotted-decimal form.
    Ipv4(Ipv4Addr),
    /// Written `[2001:db8::1]` on the wire.
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Parses `hostname / IPv4address / IPv6reference` (RFC 3261 §25.1). Errors, saying
    /// why, on an empty host, an IPv6 address without brackets, or a character outside the
    /// hostname grammar.
    pub fn parse(s: &str) -> Result<Host, &'static str> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or("IPv6 reference lacks ]")?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::Ipv6)
                .map_err(|_| "invalid IPv6 address");
        }
        if s.is_empty() {
            return Err("empty host");
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            if let Ok(v4) = s.parse::<Ipv4Addr>() {
                return Ok(Host::Ipv4(v4));
            }
        }
        if s.contains(':') {
            // A bare IPv6 address: RFC 3261 §19.1.1 requires brackets.
            return Err("IPv6 address must be in brackets");
        }
        // RFC 3261 §25.1 hostname = *( domainlabel "." ) toplabel [ "." ]
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            || s.starts_with('.')
            || s.starts_with('-')
        {
            return Err("invalid character in host name");
        }
        Ok(Host::Domain(s.to_owned()))
    }

    /// The address when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            Host::Domain(_) => None,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Host::Ipv4(a),
            IpAddr::V6(a) => Host::Ipv6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parses `host [ ":" port ]`, allowing LWS around the colon (RFC 3261 §25.1 COLON).
pub fn parse_host_port(s: &str) -> Result<(Host, Option<u16>), &'static str> {
    let s = super::text::trim_lws(s);
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or("IPv6 reference lacks ]")?;
        let host = s.get(..=close).ok_or("IPv6 reference lacks ]")?;
        let rest = super::text::trim_lws(s.get(close + 1..).unwrap_or(""));
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err("unexpected text after IPv6 reference"),
        };
        (host, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (super::text::trim_lws(h), Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => {
            let p = super::text::trim_lws(p);
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err("invalid port");
            }
            Some(p.parse::<u16>().map_err(|_| "port out of range")?)
        }
        None => None,
    };
    Ok((Host::parse(host)?, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_every_kind() {
        assert_eq!(
            parse_host_port("[2001:db8::1]:5060").unwrap(),
            (Host::Ipv6("2001:db8::1".parse().unwrap()), Some(5060))
        );
        assert_eq!(
            parse_host_port("192.0.2.1 : 5070").unwrap(),
            (Host::Ipv4("192.0.2.1".parse().unwrap()), Some(5070))
        );
        assert_eq!(
            parse_host_port("example.com").unwrap(),
            (Host::Domain("example.com".into()), None)
        );
        assert!(parse_host_port("2001:db8::1").is_err());
        assert!(parse_host_port("[2001:db8::1").is_err());
        assert!(parse_host_port("host:99999").is_err());
        assert!(parse_host_port("host:").is_err());
        assert_eq!(
            Host::Ipv6("2001:db8::1".parse().unwrap()).to_string(),
            "[2001:db8::1]"
        );
    }
}
