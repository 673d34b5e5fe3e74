//! `a=candidate` (RFC 8839 §5.1) to and from [`ice::Candidate`].
//!
//! ```text
//! candidate-attribute = "candidate" ":" foundation SP component-id SP transport SP priority SP
//!                       connection-address SP port SP cand-type [SP rel-addr] [SP rel-port]
//!                       *(SP cand-extension)
//! ```

use std::net::{IpAddr, SocketAddr};

use ice::candidate::is_ice_string;
use ice::{Candidate, CandidateKind, TcpType, Transport};

use crate::error::SdpError;

/// What reading one remote `a=candidate` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CandidateRead {
    /// A well-formed candidate with an IP literal, a known transport and a known type.
    Candidate(Candidate),
    /// RFC 8839 §5.1: a candidate with an FQDN or an address family we do not know (or, by
    /// the same reasoning, a transport or type we cannot use) is ignored, not an error.
    Ignored {
        /// Why, for a warning; not meant to be parsed.
        reason: String,
    },
}

const ATTR: &str = "candidate";

/// Reads the value of one `a=candidate` attribute (the part after `candidate:`); `line` is
/// the 1-based line number errors name.
///
/// # Errors
///
/// [`SdpError::InvalidAttribute`] when the value breaks the RFC 8839 §5.1 grammar: a missing
/// field, a foundation that is not 1-32 ice-chars, a component outside 1..=256, a priority
/// outside 1..=2^31-1, a bad port, no `typ`, an extension without a value, a bad `tcptype`,
/// or `raddr` without `rport` (or the reverse).
pub fn parse_candidate(line: usize, value: &str) -> Result<CandidateRead, SdpError> {
    let err = |reason: String| SdpError::attr(line, ATTR, reason);
    let mut t = value.split_ascii_whitespace();
    let mut next = |what: &str| t.next().ok_or_else(|| err(format!("missing {what}")));

    let foundation = next("foundation")?;
    // RFC 8839 §5.1: foundation = 1*32 ice-char.
    if foundation.is_empty() || foundation.len() > 32 || !is_ice_string(foundation) {
        return Err(err(format!("bad foundation {foundation:?}")));
    }
    let component_text = next("component-id")?;
    // RFC 8839 §5.1: component-id = 1*3 DIGIT; RFC 8445 §5.1.2.1: 1..256.
    let component: u16 = parse_digits(component_text, 3)
        .filter(|c| (1..=256).contains(c))
        .ok_or_else(|| err(format!("bad component-id {component_text:?}")))?;
    let transport_text = next("transport")?;
    let priority_text = next("priority")?;
    // RFC 8839 §5.1: priority = 1*10 DIGIT; RFC 8445 §5.1.2: 1..2^31-1.
    let priority: u32 = parse_digits(priority_text, 10)
        .filter(|p| (1..=0x7fff_ffff).contains(p))
        .ok_or_else(|| err(format!("bad priority {priority_text:?}")))?;
    let address_text = next("connection-address")?;
    let port_text = next("port")?;
    let port: u16 =
        parse_digits(port_text, 5).ok_or_else(|| err(format!("bad port {port_text:?}")))?;
    if next("typ")? != "typ" {
        return Err(err("expected `typ`".into()));
    }
    let kind_text = next("cand-type")?;

    let mut related_addr: Option<&str> = None;
    let mut related_port: Option<u16> = None;
    let mut tcp_type = None;
    let mut extensions = Vec::new();
    let rest: Vec<&str> = t.collect();
    let mut pairs = rest.chunks(2);
    for pair in pairs.by_ref() {
        let [name, value] = pair else {
            return Err(err(format!("extension {:?} has no value", pair.first())));
        };
        match *name {
            "raddr" => related_addr = Some(value),
            "rport" => {
                related_port = Some(
                    parse_digits(value, 5).ok_or_else(|| err(format!("bad rport {value:?}")))?,
                )
            }
            // RFC 6544 §4.5: TCP candidates carry `tcptype`.
            "tcptype" => {
                tcp_type = Some(
                    TcpType::from_token(value)
                        .ok_or_else(|| err(format!("bad tcptype {value:?}")))?,
                )
            }
            // RFC 8839 §5.1: unknown extensions are ignored by ICE but kept, in order.
            _ => extensions.push((name.to_string(), value.to_string())),
        }
    }

    let Ok(ip) = address_text.parse::<IpAddr>() else {
        // RFC 8839 §5.1: an FQDN or an unknown address family is ignored.
        return Ok(CandidateRead::Ignored {
            reason: format!(
                "address {address_text:?} is not an IP literal (FQDN or unknown family)"
            ),
        });
    };
    let Some(transport) = Transport::from_token(transport_text) else {
        return Ok(CandidateRead::Ignored {
            reason: format!("transport {transport_text:?} is not supported"),
        });
    };
    let Some(kind) = CandidateKind::from_token(kind_text) else {
        return Ok(CandidateRead::Ignored {
            reason: format!("candidate type {kind_text:?} is not known"),
        });
    };
    let related = match (related_addr, related_port) {
        (None, None) => None,
        (Some(a), Some(p)) => {
            let ip: IpAddr = a
                .parse()
                .map_err(|_| err(format!("raddr {a:?} is not an IP address")))?;
            Some(SocketAddr::new(ip, p))
        }
        _ => return Err(err("raddr and rport must come together".into())),
    };
    Ok(CandidateRead::Candidate(Candidate {
        foundation: foundation.to_string(),
        component,
        transport,
        priority,
        address: SocketAddr::new(ip, port),
        kind,
        related,
        tcp_type,
        extensions,
    }))
}

/// At most `max_len` ASCII digits, as a number.
fn parse_digits<T: std::str::FromStr>(s: &str, max_len: usize) -> Option<T> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Writes the value of `a=candidate` for a local candidate.
pub fn format_candidate(c: &Candidate) -> String {
    let mut out = format!(
        "{} {} {} {} {} {} typ {}",
        c.foundation,
        c.component,
        c.transport.as_str(),
        c.priority,
        c.address.ip(),
        c.address.port(),
        c.kind.as_str()
    );
    if let Some(r) = c.related {
        out.push_str(&format!(" raddr {} rport {}", r.ip(), r.port()));
    }
    if let Some(tt) = c.tcp_type {
        out.push_str(&format!(" tcptype {}", tt.as_str()));
    }
    for (name, value) in &c.extensions {
        out.push_str(&format!(" {name} {value}"));
    }
    out
}

/// One entry of `a=remote-candidates` (RFC 8839 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteCandidate {
    /// The component ID of the pair's remote candidate.
    pub component: u16,
    /// The remote candidate's transport address (the one the controlling agent selected).
    pub address: SocketAddr,
}

/// `remote-candidates = "remote-candidates:" remote-candidate *(SP remote-candidate)`,
/// `remote-candidate = component-id SP connection-address SP port` (RFC 8839 §5.2).
pub fn parse_remote_candidates(line: usize, value: &str) -> Result<Vec<RemoteCandidate>, SdpError> {
    let err = |reason: String| SdpError::attr(line, "remote-candidates", reason);
    let tokens: Vec<&str> = value.split_ascii_whitespace().collect();
    if tokens.is_empty() || !tokens.chunks_exact(3).remainder().is_empty() {
        return Err(err(format!("{} tokens, expected triples", tokens.len())));
    }
    tokens
        .chunks(3)
        .map(|t| {
            let [comp, addr, port] = t else {
                return Err(err("incomplete entry".into()));
            };
            let component =
                parse_digits(comp, 3).ok_or_else(|| err(format!("bad component {comp:?}")))?;
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| err(format!("bad address {addr:?}")))?;
            let port = parse_digits(port, 5).ok_or_else(|| err(format!("bad port {port:?}")))?;
            Ok(RemoteCandidate {
                component,
                address: SocketAddr::new(ip, port),
            })
        })
        .collect()
}

/// Writes the value of `a=remote-candidates` (after `remote-candidates:`), entries in the
/// order given: `<component> <ip> <port>` separated by spaces (RFC 8839 §5.2).
pub fn format_remote_candidates(list: &[RemoteCandidate]) -> String {
    list.iter()
        .map(|r| format!("{} {} {}", r.component, r.address.ip(), r.address.port()))
        .collect::<Vec<_>>()
        .join(" ")
}
