//! The session description as data (RFC 8866 §5): a session section and media sections, every
//! line kept, attributes in their original order, each with the line it came from.

use std::fmt;
use std::net::IpAddr;

/// `<addrtype>` of `o=` and `c=` (RFC 8866 §5.2, §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrType {
    Ip4,
    Ip6,
    /// An address type this crate does not know, kept verbatim.
    Other(String),
}

impl AddrType {
    pub fn from_token(s: &str) -> Self {
        match s {
            "IP4" => AddrType::Ip4,
            "IP6" => AddrType::Ip6,
            other => AddrType::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
            AddrType::Other(s) => s,
        }
    }

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
    Ip(IpAddr),
    Name(String),
}

impl Address {
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
    pub username: String,
    /// Kept as text: only ever echoed back, and some stacks send more digits than a u64 holds.
    pub session_id: String,
    /// RFC 3264 §8: increased by one on every change of the description.
    pub session_version: u64,
    pub nettype: String,
    pub addrtype: AddrType,
    pub address: Address,
}

/// `c=` (RFC 8866 §5.7). `suffix` holds a multicast `/ttl/count` tail verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub nettype: String,
    pub addrtype: AddrType,
    pub address: Address,
    pub suffix: Option<String>,
    pub line: usize,
}

impl Connection {
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
    pub name: String,
    pub value: Option<String>,
    pub line: usize,
}

impl Attribute {
    pub fn flag(name: &str) -> Self {
        Attribute {
            name: name.to_string(),
            value: None,
            line: 0,
        }
    }

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
    pub letter: char,
    pub value: String,
    pub line: usize,
}

impl OtherLine {
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
    pub media: String,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<Connection>,
    pub other_lines: Vec<OtherLine>,
    pub attributes: Vec<Attribute>,
    pub line: usize,
}

/// A whole SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    /// RFC 8866 §5.3 says it must not be empty; RFC 8839's own examples send `s=` bare, so we
    /// accept an empty one and write `-` for ours.
    pub session_name: String,
    pub connection: Option<Connection>,
    pub other_lines: Vec<OtherLine>,
    pub attributes: Vec<Attribute>,
    pub media: Vec<MediaDescription>,
}

/// Looking attributes up by name, shared by both sections.
pub trait HasAttributes {
    fn attributes(&self) -> &[Attribute];

    /// The first attribute with this name (names compare case-sensitively, RFC 8866 §5.13).
    fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes().iter().find(|a| a.name == name)
    }

    fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

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
