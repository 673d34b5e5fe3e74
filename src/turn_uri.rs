//! What `--turn` and `--turn-transport` say about the TURN server: a `turn:`/`turns:` URI
//! (RFC 7065) or a plain `HOST[:PORT]`, and the transport to reach it over.

use ice::agent::TurnTransport;

/// RFC 8656 §17 / RFC 7065 §3: TURN over UDP and TCP listens on 3478, over TLS on 5349.
pub const TURN_PORT: u16 = 3478;
pub const TURNS_PORT: u16 = 5349;

/// A `--turn` value taken apart (the host is not resolved here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnTarget {
    /// The host as written, without brackets around an IPv6 literal: what a TLS certificate
    /// is checked against (RFC 8656 §3.1 with RFC 6125).
    pub host: String,
    pub port: Option<u16>,
    /// Given by the URI (`turns:`, `?transport=`); None for a plain `HOST[:PORT]`.
    pub transport: Option<TurnTransport>,
}

impl TurnTarget {
    /// `HOST:PORT` for the resolver, with the default port of `transport`.
    pub fn host_port(&self, transport: TurnTransport) -> String {
        let port = self.port.unwrap_or(default_port(transport));
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

/// The port a TURN server listens on over `transport` when none is given.
pub fn default_port(transport: TurnTransport) -> u16 {
    match transport {
        TurnTransport::Tls => TURNS_PORT,
        TurnTransport::Udp | TurnTransport::Tcp => TURN_PORT,
    }
}

/// `udp`, `tcp` or `tls` (any case).
pub fn parse_transport(value: &str) -> Result<TurnTransport, String> {
    match value.to_ascii_lowercase().as_str() {
        "udp" => Ok(TurnTransport::Udp),
        "tcp" => Ok(TurnTransport::Tcp),
        "tls" => Ok(TurnTransport::Tls),
        _ => Err("udp, tcp or tls".into()),
    }
}

/// Parses `turn:HOST[:PORT][?transport=udp|tcp]`, `turns:HOST[:PORT][?transport=tcp]` or a
/// plain `HOST[:PORT]` (`[IPV6]:PORT` for IPv6 with a port).
pub fn parse(value: &str) -> Result<TurnTarget, String> {
    let lower = value.to_ascii_lowercase();
    let (secure, rest) = if lower.starts_with("turns:") {
        (true, value.get("turns:".len()..).unwrap_or_default())
    } else if lower.starts_with("turn:") {
        (false, value.get("turn:".len()..).unwrap_or_default())
    } else {
        let (host, port) = split_host_port(value)?;
        return Ok(TurnTarget {
            host,
            port,
            transport: None,
        });
    };
    // RFC 7065 §3: turnURI = scheme ":" host [ ":" port ] [ "?transport=" transport ]
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let named = match query {
        None => None,
        Some(q) => match q.split_once('=') {
            Some((key, t)) if key.eq_ignore_ascii_case("transport") => Some(t.to_ascii_lowercase()),
            _ => {
                return Err(format!(
                    "unknown URI parameter `{q}` (only ?transport=udp|tcp)"
                ))
            }
        },
    };
    // RFC 7065 §3: turn: over UDP unless ?transport=tcp; turns: is TLS over TCP (turns: with
    // udp would be DTLS, which icephone does not do).
    let transport = match (secure, named.as_deref()) {
        (false, None | Some("udp")) => TurnTransport::Udp,
        (false, Some("tcp")) => TurnTransport::Tcp,
        (true, None | Some("tcp")) => TurnTransport::Tls,
        (true, Some("udp")) => {
            return Err(
                "turns: with transport=udp is TURN over DTLS, which is not supported; \
                 use turns: (TLS) or turn: (UDP)"
                    .into(),
            )
        }
        (_, Some(other)) => return Err(format!("unknown transport `{other}` (udp or tcp)")),
    };
    if authority.contains('@') || authority.contains('/') {
        return Err("a TURN URI is scheme:host[:port][?transport=…] (RFC 7065 §3)".into());
    }
    let (host, port) = split_host_port(authority)?;
    Ok(TurnTarget {
        host,
        port,
        transport: Some(transport),
    })
}

/// `HOST`, `HOST:PORT`, `IPV6`, `[IPV6]` or `[IPV6]:PORT`.
fn split_host_port(value: &str) -> Result<(String, Option<u16>), String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port `{p}`"))
    };
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or("missing `]`")?;
        let port = match after {
            "" => None,
            _ => Some(port(after.strip_prefix(':').ok_or("text after `]`")?)?),
        };
        return Ok((ip.to_owned(), port));
    }
    if value.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((value.to_owned(), None));
    }
    match value.rsplit_once(':') {
        Some(("", _)) => Err("missing host".into()),
        Some((host, p)) => Ok((host.to_owned(), Some(port(p)?))),
        None if value.is_empty() => Err("missing host".into()),
        None => Ok((value.to_owned(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: Option<u16>, transport: Option<TurnTransport>) -> TurnTarget {
        TurnTarget {
            host: host.into(),
            port,
            transport,
        }
    }

    #[test]
    fn plain_host_port_names_no_transport() {
        assert_eq!(
            parse("192.0.2.1:3479"),
            Ok(target("192.0.2.1", Some(3479), None))
        );
        assert_eq!(
            parse("turn.example.com"),
            Ok(target("turn.example.com", None, None))
        );
        assert_eq!(
            parse("[2001:db8::1]:80"),
            Ok(target("2001:db8::1", Some(80), None))
        );
        assert_eq!(parse("2001:db8::1"), Ok(target("2001:db8::1", None, None)));
    }

    #[test]
    fn rfc_7065_uris() {
        use TurnTransport::*;
        assert_eq!(
            parse("turn:turn.example.com"),
            Ok(target("turn.example.com", None, Some(Udp)))
        );
        assert_eq!(
            parse("turn:192.0.2.1:3480?transport=tcp"),
            Ok(target("192.0.2.1", Some(3480), Some(Tcp)))
        );
        assert_eq!(
            parse("TURN:host?Transport=UDP"),
            Ok(target("host", None, Some(Udp)))
        );
        assert_eq!(
            parse("turns:turn.example.com"),
            Ok(target("turn.example.com", None, Some(Tls)))
        );
        assert_eq!(
            parse("turns:[2001:db8::1]:443?transport=tcp"),
            Ok(target("2001:db8::1", Some(443), Some(Tls)))
        );
    }

    #[test]
    fn bad_uris_say_what_is_wrong() {
        assert!(parse("turns:host?transport=udp")
            .unwrap_err()
            .contains("DTLS"));
        assert!(parse("turn:host?transport=sctp")
            .unwrap_err()
            .contains("sctp"));
        assert!(parse("turn:host?foo=bar").unwrap_err().contains("foo"));
        assert!(parse("turn:user@host").is_err());
        assert!(parse("turn:").unwrap_err().contains("host"));
        assert!(parse("host:0").unwrap_err().contains("port"));
        assert!(parse("host:x").unwrap_err().contains("port"));
        assert!(parse("[::1").unwrap_err().contains("]"));
    }

    #[test]
    fn default_ports_follow_the_transport() {
        let t = target("192.0.2.1", None, None);
        assert_eq!(t.host_port(TurnTransport::Udp), "192.0.2.1:3478");
        assert_eq!(t.host_port(TurnTransport::Tcp), "192.0.2.1:3478");
        assert_eq!(t.host_port(TurnTransport::Tls), "192.0.2.1:5349");
        let v6 = target("2001:db8::1", Some(80), None);
        assert_eq!(v6.host_port(TurnTransport::Tls), "[2001:db8::1]:80");
    }

    #[test]
    fn transports_parse_in_any_case() {
        assert_eq!(parse_transport("TLS"), Ok(TurnTransport::Tls));
        assert_eq!(parse_transport("tcp"), Ok(TurnTransport::Tcp));
        assert!(parse_transport("dtls").is_err());
    }
}
