//! The message model: requests, responses, and the version they carry.

use std::fmt;

use super::headers::Headers;
use super::method::Method;
use super::uri::Uri;

/// `SIP/major.minor`. Any version parses so a UAS can answer 505 (RFC 3261 §21.5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// The number before the dot (2 for SIP/2.0).
    pub major: u32,
    /// The number after the dot (0 for SIP/2.0).
    pub minor: u32,
}

impl Version {
    /// `SIP/2.0`, the only version RFC 3261 defines (§7.1) and the only one a UAS accepts.
    pub const SIP_2_0: Version = Version { major: 2, minor: 0 };
}

impl Default for Version {
    fn default() -> Self {
        Version::SIP_2_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/{}.{}", self.major, self.minor)
    }
}

/// A SIP request. The body is opaque bytes (the crate never looks inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method of the Request-Line (RFC 3261 §7.1).
    pub method: Method,
    /// The Request-URI: the target of this hop (RFC 3261 §8.1.1.1).
    pub uri: Uri,
    /// The version of the Request-Line; parsed whatever it is, see [`Version`].
    pub version: Version,
    /// The header fields in order, as text; read them with the typed accessors.
    pub headers: Headers,
    /// The body: exactly Content-Length bytes when parsed; on output Content-Length is
    /// written from its length, whatever `headers` say.
    pub body: Vec<u8>,
}

/// A SIP response. The body is opaque bytes, as in [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100–699 when parsed (RFC 3261 §7.2, §21).
    pub status: u16,
    /// The reason phrase (free text; meaningless to the protocol, RFC 3261 §7.2).
    pub reason: String,
    /// The version of the Status-Line; parsed whatever it is, see [`Version`].
    pub version: Version,
    /// The header fields in order, as text; read them with the typed accessors.
    pub headers: Headers,
    /// The body: exactly Content-Length bytes when parsed; on output Content-Length is
    /// written from its length, whatever `headers` say.
    pub body: Vec<u8>,
}

/// Either kind of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request (start line `METHOD uri SIP/2.0`).
    Request(Request),
    /// A response (start line `SIP/2.0 status reason`).
    Response(Response),
}

impl Request {
    /// An empty request with version SIP/2.0.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            version: Version::SIP_2_0,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }
}

impl Response {
    /// An empty response with version SIP/2.0.
    pub fn new(status: u16, reason: impl Into<String>) -> Response {
        Response {
            status,
            reason: reason.into(),
            version: Version::SIP_2_0,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// 1xx (RFC 3261 §7.2).
    pub fn is_provisional(&self) -> bool {
        (100..200).contains(&self.status)
    }

    /// 2xx (RFC 3261 §21.2).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// 200–699: ends the transaction (RFC 3261 §7.2).
    pub fn is_final(&self) -> bool {
        self.status >= 200
    }
}

impl Message {
    /// The headers of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The headers of either kind, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body of either kind (empty when there is none).
    pub fn body(&self) -> &[u8] {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}
