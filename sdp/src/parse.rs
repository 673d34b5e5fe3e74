//! Line-oriented SDP reader (RFC 8866 §5, §9 grammar).
//!
//! Liberal where real traffic demands it: CRLF or bare LF, a missing final line end, lines in
//! any order inside a section, domain names in `o=`/`c=`, an empty `s=`. Strict where a
//! silent guess would be worse than an error: an unknown line type, a second `c=` in one
//! section, a malformed `o=`/`c=`/`m=` — each a typed [`SdpError`] naming the line.

use std::net::IpAddr;

use crate::error::SdpError;
use crate::model::{
    AddrType, Address, Attribute, Connection, MediaDescription, Origin, OtherLine,
    SessionDescription,
};

/// Parses a complete SDP.
pub fn parse(input: &str) -> Result<SessionDescription, SdpError> {
    let mut lines = numbered_lines(input).peekable();
    let Some((first_no, first)) = lines.next() else {
        return Err(SdpError::Empty);
    };
    // RFC 8866 §5: the description starts with `v=`.
    let version = first
        .strip_prefix("v=")
        .ok_or_else(|| SdpError::MissingVersion {
            found: first.chars().take(40).collect(),
        })?;
    if version.trim() != "0" {
        return Err(SdpError::UnsupportedVersion {
            line: first_no,
            value: version.to_string(),
        });
    }

    let mut origin = None;
    let mut session_name = None;
    let mut connection = None;
    let mut other_lines = Vec::new();
    let mut attributes = Vec::new();
    let mut media: Vec<MediaDescription> = Vec::new();

    for (no, text) in lines {
        let (letter, value) = split_type_value(no, text)?;
        if letter == 'm' {
            media.push(parse_media_line(no, value)?);
            continue;
        }
        if let Some(current) = media.last_mut() {
            add_media_line(current, no, letter, value)?;
            continue;
        }
        match letter {
            'v' => return Err(SdpError::DuplicateLine { line: no, letter }),
            'o' => set_once(&mut origin, no, letter, parse_origin(no, value)?)?,
            's' => set_once(&mut session_name, no, letter, value.to_string())?,
            'c' => set_once(&mut connection, no, letter, parse_connection(no, value)?)?,
            'a' => attributes.push(parse_attribute(no, value)),
            'i' | 'u' | 'e' | 'p' | 'b' | 't' | 'r' | 'z' | 'k' => other_lines.push(OtherLine {
                letter,
                value: value.to_string(),
                line: no,
            }),
            _ => return Err(SdpError::UnknownLineType { line: no, letter }),
        }
    }

    let origin = origin.ok_or(SdpError::MissingLine { letter: 'o' })?;
    let session_name = session_name.ok_or(SdpError::MissingLine { letter: 's' })?;
    // RFC 8866 §5: at least one `t=` line.
    if !other_lines.iter().any(|l| l.letter == 't') {
        return Err(SdpError::MissingLine { letter: 't' });
    }
    Ok(SessionDescription {
        origin,
        session_name,
        connection,
        other_lines,
        attributes,
        media,
    })
}

/// Lines numbered from 1, with CRLF or LF endings removed. Blank lines are skipped (a
/// trailing blank line is common) but still counted, so numbers match an editor's.
fn numbered_lines(input: &str) -> impl Iterator<Item = (usize, &str)> {
    input
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

fn split_type_value(no: usize, text: &str) -> Result<(char, &str), SdpError> {
    let mut chars = text.chars();
    let letter = chars
        .next()
        .ok_or(SdpError::NotATypeValueLine { line: no })?;
    let rest = chars.as_str();
    match rest.strip_prefix('=') {
        Some(value) if letter.is_ascii_lowercase() => Ok((letter, value)),
        _ => Err(SdpError::NotATypeValueLine { line: no }),
    }
}

fn set_once<T>(slot: &mut Option<T>, no: usize, letter: char, value: T) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(SdpError::DuplicateLine { line: no, letter });
    }
    *slot = Some(value);
    Ok(())
}

fn add_media_line(
    m: &mut MediaDescription,
    no: usize,
    letter: char,
    value: &str,
) -> Result<(), SdpError> {
    match letter {
        'c' => set_once(&mut m.connection, no, letter, parse_connection(no, value)?),
        'a' => {
            m.attributes.push(parse_attribute(no, value));
            Ok(())
        }
        'i' | 'b' | 'k' => {
            m.other_lines.push(OtherLine {
                letter,
                value: value.to_string(),
                line: no,
            });
            Ok(())
        }
        // RFC 8866 §5: these belong to the session section only.
        'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => {
            Err(SdpError::NotAllowedInMedia { line: no, letter })
        }
        _ => Err(SdpError::UnknownLineType { line: no, letter }),
    }
}

/// `a=<name>` or `a=<name>:<value>` (RFC 8866 §5.13). Never fails: interpretation, and its
/// errors, belong to the modules that know each attribute.
fn parse_attribute(no: usize, value: &str) -> Attribute {
    match value.split_once(':') {
        Some((name, v)) => Attribute {
            name: name.to_string(),
            value: Some(v.to_string()),
            line: no,
        },
        None => Attribute {
            name: value.to_string(),
            value: None,
            line: no,
        },
    }
}

fn invalid(no: usize, field: &'static str, value: &str) -> SdpError {
    SdpError::InvalidField {
        line: no,
        field,
        value: value.to_string(),
    }
}

/// RFC 8866 §5.2: `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
fn parse_origin(no: usize, value: &str) -> Result<Origin, SdpError> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, session_id, version, nettype, addrtype, address] = parts[..] else {
        return Err(invalid(no, "o=", value));
    };
    if !session_id.bytes().all(|b| b.is_ascii_digit()) || session_id.is_empty() {
        return Err(invalid(no, "o= sess-id", session_id));
    }
    let session_version = version
        .parse()
        .map_err(|_| invalid(no, "o= sess-version", version))?;
    let addrtype = AddrType::from_token(addrtype);
    Ok(Origin {
        username: username.to_string(),
        session_id: session_id.to_string(),
        session_version,
        nettype: nettype.to_string(),
        address: parse_address(no, "o= unicast-address", &addrtype, address)?,
        addrtype,
    })
}

/// RFC 8866 §5.7: `c=<nettype> <addrtype> <connection-address>`.
fn parse_connection(no: usize, value: &str) -> Result<Connection, SdpError> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [nettype, addrtype, address] = parts[..] else {
        return Err(invalid(no, "c=", value));
    };
    // RFC 8866 §5.7: a multicast address may carry `/<ttl>[/<number of addresses>]`.
    let (address, suffix) = match address.split_once('/') {
        Some((a, s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'/') => {
            (a, Some(s.to_string()))
        }
        Some(_) => return Err(invalid(no, "c= connection-address", address)),
        None => (address, None),
    };
    let addrtype = AddrType::from_token(addrtype);
    Ok(Connection {
        nettype: nettype.to_string(),
        address: parse_address(no, "c= connection-address", &addrtype, address)?,
        addrtype,
        suffix,
        line: no,
    })
}

/// An IP literal of the announced family, or a domain name (RFC 8866 §5.7 allows an FQDN).
fn parse_address(
    no: usize,
    field: &'static str,
    addrtype: &AddrType,
    text: &str,
) -> Result<Address, SdpError> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        let family_matches = match addrtype {
            AddrType::Ip4 => ip.is_ipv4(),
            AddrType::Ip6 => ip.is_ipv6(),
            AddrType::Other(_) => true,
        };
        return if family_matches {
            Ok(Address::Ip(ip))
        } else {
            Err(invalid(no, field, text))
        };
    }
    if is_domain_name(text) {
        Ok(Address::Name(text.to_string()))
    } else {
        Err(invalid(no, field, text))
    }
}

/// Letters, digits, `-`, `.` and `_`, not starting with a dot: enough to tell a host name
/// from garbage without resolving it.
pub(crate) fn is_domain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// RFC 8866 §5.14: `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`.
fn parse_media_line(no: usize, value: &str) -> Result<MediaDescription, SdpError> {
    let mut parts = value.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(no, "m=", value));
    };
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n.parse().map_err(|_| invalid(no, "m= port", n))?)),
        None => (port, None),
    };
    let port = port.parse().map_err(|_| invalid(no, "m= port", port))?;
    let formats: Vec<String> = parts.map(str::to_string).collect();
    if formats.is_empty() {
        return Err(invalid(no, "m= fmt", value));
    }
    Ok(MediaDescription {
        media: media.to_string(),
        port,
        port_count,
        proto: proto.to_string(),
        formats,
        connection: None,
        other_lines: Vec::new(),
        attributes: Vec::new(),
        line: no,
    })
}
