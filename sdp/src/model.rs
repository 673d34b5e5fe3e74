//! The session description as data (RFC 8866 §5): a session section and media sections, every
//! line kept, attributes in their original order, each with the line it came from.

use std::fmt;
use std::net::IpAddr;

/// `<addrtype>` of `o=` and `c=` (RFC 8866 §5.2, §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`: the address is an IPv4 literal or a domain name.
    Ip4,
    /// `IP6`: the address is an IPv6 literal or a domain name.
    Ip6,
    /// An address type this crate does not know, kept verbatim.
    Other(String),
}

impl AddrType {
    /// Reads an `<addrtype>` token; `IP4` and `IP6` are matched exactly (upper case, as
    /// RFC 8866 §5.2 registers them), anything else is kept as [`AddrType::Other`].
    pub fn from_token(s: &str) -> Self {
        match s {
            "IP4" => AddrType::Ip4,
            "IP6" => AddrType::Ip6,
            other => AddrType::Other(other.to_string()),
        }
    }

    /// The token as written in `o=`/`c=`.
    pub fn as_str(&self) -> &str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
            AddrType::Other(s) => s,
        }
    }

    /// `IP4` for an IPv4 address, `IP6` for an IPv6 one.
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() {
            AddrType::Ip4
        } else {
            AddrType::Ip6
        }
    }
}

/// An address in `o=` or `c=`: an IP literal or, as RFC 8866 §5.7 allows, a domain name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IP literal of the family `<addrtype>` names.
    Ip(IpAddr),
    /// A domain name, kept unresolved (letters, digits, `-`, `.`, `_`).
    Name(String),
}

impl Address {
    /// The IP literal; `None` for a domain name, which the caller must resolve.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::Ip(ip) => Some(*ip),
            Address::Name(_) => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(ip) => write!(f, "{ip}"),
            Address::Name(n) => f.write_str(n),
        }
    }
}

/// `o=` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The originator's login, `-` when there is none (RFC 8866 §5.2).
    pub username: String,
    /// Kept as text: only ever echoed back, and some stacks send more digits than a u64 holds.
    pub session_id: String,
    /// RFC 3264 §8: increased by one on every change of the description.
    pub session_version: u64,
    /// Network type, `IN` (Internet) in practice; kept verbatim.
    pub nettype: String,
    /// Address type of `address`.
    pub addrtype: AddrType,
    /// The originating host's address; only identifies the session, never used for media.
    pub address: Address,
}

/// `c=` (RFC 8866 §5.7). `suffix` holds a multicast `/ttl/count` tail verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, `IN` in practice; kept verbatim.
    pub nettype: String,
    /// Address type of `address`.
    pub addrtype: AddrType,
    /// Where media for the section(s) it applies to is sent (RFC 3264 §5: an offer's `c=`
    /// says where the offerer wants to receive).
    pub address: Address,
    /// The multicast `/ttl[/count]` tail, without its leading `/`; `None` for unicast.
    pub suffix: Option<String>,
    /// 1-based input line it came from; 0 when this crate built it.
    pub line: usize,
}

impl Connection {
    /// `c=IN IP4 <ip>` or `c=IN IP6 <ip>`, built by this crate (`line` 0).
    pub fn new(ip: IpAddr) -> Self {
        Connection {
            nettype: "IN".into(),
            addrtype: AddrType::of(ip),
            address: Address::Ip(ip),
            suffix: None,
            line: 0,
        }
    }
}

/// `a=<name>[:<value>]` (RFC 8866 §5.13). `line` is 0 for attributes this crate built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The name before the first `:` (case-sensitive, RFC 8866 §5.13).
    pub name: String,
    /// Everything after the first `:`, verbatim; `None` for a property attribute (`a=<flag>`).
    pub value: Option<String>,
    /// 1-based input line it came from; 0 when this crate built it.
    pub line: usize,
}

impl Attribute {
    /// A property attribute without a value, e.g. `a=rtcp-mux` or `a=sendonly`.
    pub fn flag(name: &str) -> Self {
        Attribute {
            name: name.to_string(),
            value: None,
            line: 0,
        }
    }

    /// A value attribute, `a=<name>:<value>`.
    pub fn value(name: &str, value: impl Into<String>) -> Self {
        Attribute {
            name: name.to_string(),
            value: Some(value.into()),
            line: 0,
        }
    }
}

/// Any other line this crate does not interpret (`i= u= e= p= b= t= r= z= k=`), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherLine {
    /// The type letter before `=`.
    pub letter: char,
    /// Everything after `=`, verbatim.
    pub value: String,
    /// 1-based input line it came from; 0 when this crate built it.
    pub line: usize,
}

impl OtherLine {
    /// A line built by this crate (`line` 0), e.g. `OtherLine::new('t', "0 0")`.
    pub fn new(letter: char, value: impl Into<String>) -> Self {
        OtherLine {
            letter,
            value: value.into(),
            line: 0,
        }
    }
}

/// One `m=` section (RFC 8866 §5.14) with everything under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: `audio`, `video`, `application`… kept verbatim.
    pub media: String,
    /// Transport port; 0 rejects or disables the stream (RFC 3264 §6, §8.2).
    pub port: u16,
    /// The `/<number of ports>` after the port, if present.
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP` or `RTP/SAVP`; kept verbatim.
    pub proto: String,
    /// The `<fmt>` list: RTP payload type numbers for RTP protocols, in preference order.
    /// Never empty after parsing.
    pub formats: Vec<String>,
    /// The section's own `c=`; when `None` the session's applies (see
    /// [`MediaDescription::effective_connection`]).
    pub connection: Option<Connection>,
    /// `i=`, `b=` and `k=` lines of the section, kept verbatim.
    pub other_lines: Vec<OtherLine>,
    /// The section's `a=` lines in input order.
    pub attributes: Vec<Attribute>,
    /// 1-based input line of the `m=` line; 0 when this crate built it.
    pub line: usize,
}

/// A whole SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`: who made the description, and its version.
    pub origin: Origin,
    /// RFC 8866 §5.3 says it must not be empty; RFC 8839's own examples send `s=` bare, so we
    /// accept an empty one and write `-` for ours.
    pub session_name: String,
    /// Session-level `c=`, the default for media sections without their own.
    pub connection: Option<Connection>,
    /// Session-level `i= u= e= p= b= t= r= z= k=` lines, kept verbatim and in order. Parsing
    /// requires at least one `t=`.
    pub other_lines: Vec<OtherLine>,
    /// Session-level `a=` lines in input order.
    pub attributes: Vec<Attribute>,
    /// The `m=` sections in order; their index is the RFC 3264 stream position that offer
    /// and answer match on.
    pub media: Vec<MediaDescription>,
}

/// Looking attributes up by name, shared by both sections.
pub trait HasAttributes {
    /// Every `a=` line of the section, in input order.
    fn attributes(&self) -> &[Attribute];

    /// The first attribute with this name (names compare case-sensitively, RFC 8866 §5.13).
    fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes().iter().find(|a| a.name == name)
    }

    /// Whether an attribute with this name is present (with or without a value).
    fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// Every attribute with this name, in input order (e.g. all `a=candidate` lines).
    fn attributes_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Attribute> + 'a {
        self.attributes().iter().filter(move |a| a.name == name)
    }
}

impl HasAttributes for SessionDescription {
    fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }
}

impl HasAttributes for MediaDescription {
    fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }
}

impl MediaDescription {
    /// The connection that applies to this stream: its own `c=`, else the session's
    /// (RFC 8866 §5.7).
    pub fn effective_connection<'a>(
        &'a self,
        session: &'a SessionDescription,
    ) -> Option<&'a Connection> {
        self.connection.as_ref().or(session.connection.as_ref())
    }

    /// RFC 3264 §6: a stream with port 0 is rejected or disabled.
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }
}
