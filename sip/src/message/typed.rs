//! Typed readers for the headers the stack acts on. Values stay text in [`Headers`];
//! these parse on demand, so a bad header only fails when someone needs it.

use std::fmt;
use std::str::FromStr;

use super::error::ParseError;
use super::header_name::HeaderName;
use super::headers::Headers;
use super::method::Method;
use super::name_addr::NameAddr;
use super::params::Params;
use super::text::{is_token, parse_u32_digits, parse_usize_digits, trim_lws};
use super::via::Via;

/// CSeq: sequence number and method (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number, a 32-bit unsigned integer (RFC 3261 §8.1.1.5); it orders
    /// requests within a dialog; the first one in a dialog is below 2**31.
    pub seq: u32,
    /// The method; equals the request's method (a CANCEL's and an ACK's are their own,
    /// with the INVITE's number).
    pub method: Method,
}

impl FromStr for CSeq {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split_ascii_whitespace();
        let (Some(num), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::header("CSeq", s, "expected `number METHOD`"));
        };
        // RFC 3261 §8.1.1.5: the number is a 32-bit unsigned integer (RFC 4475 §3.1.2.4).
        let seq = parse_u32_digits(num)
            .ok_or_else(|| ParseError::header("CSeq", s, "number is not a 32-bit integer"))?;
        Ok(CSeq {
            seq,
            method: method.parse()?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A media type `type/subtype;params` (Content-Type, Accept elements; RFC 3261 §20.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// The top-level type, e.g. `application`, or `*` in an Accept range. Case as
    /// received; compare case-insensitively.
    pub kind: String,
    /// The subtype, e.g. `sdp`, or `*` in an Accept range.
    pub subtype: String,
    /// Parameters after the type, e.g. `charset`.
    pub params: Params,
}

impl MediaType {
    /// `type/subtype` lowercased, e.g. `application/sdp`.
    pub fn essence(&self) -> String {
        format!("{}/{}", self.kind, self.subtype).to_ascii_lowercase()
    }

    /// Whether this (possibly wildcard) range matches a concrete `type/subtype`.
    pub fn matches(&self, essence: &str) -> bool {
        let Some((kind, sub)) = essence.split_once('/') else {
            return false;
        };
        (self.kind == "*" || self.kind.eq_ignore_ascii_case(kind))
            && (self.subtype == "*" || self.subtype.eq_ignore_ascii_case(sub))
    }
}

impl FromStr for MediaType {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (essence, params) = match s.split_once(';') {
            Some((e, p)) => (
                e,
                Params::parse(p).map_err(|r| ParseError::header("media type", s, r))?,
            ),
            None => (s, Params::new()),
        };
        let (kind, subtype) = essence
            .split_once('/')
            .ok_or_else(|| ParseError::header("media type", s, "missing /"))?;
        let (kind, subtype) = (trim_lws(kind), trim_lws(subtype));
        if !is_token(kind) || !is_token(subtype) {
            return Err(ParseError::header(
                "media type",
                s,
                "type and subtype must be tokens",
            ));
        }
        Ok(MediaType {
            kind: kind.to_owned(),
            subtype: subtype.to_owned(),
            params,
        })
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.kind, self.subtype, self.params)
    }
}

/// Retry-After: seconds, optional comment, params (RFC 3261 §20.33). The comment is
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds to wait before retrying.
    pub seconds: u32,
    /// The `duration` parameter: seconds the callee stays reachable once available, if
    /// given.
    pub duration: Option<u32>,
}

/// Contact header contents: `*` (RFC 3261 §10.2.2 remove all bindings) or addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *`, valid only in a REGISTER with `Expires: 0`: remove every binding of
    /// the AOR.
    Star,
    /// The contact addresses in header order, each with its params (`expires`, `q`, ...).
    /// Empty when the message has no Contact.
    List(Vec<NameAddr>),
}

fn single<'a>(
    headers: &'a Headers,
    name: HeaderName,
    label: &'static str,
) -> Result<Option<&'a str>, ParseError> {
    let mut values = headers.get_all(name);
    let first = values.next();
    if values.next().is_some() {
        return Err(ParseError::DuplicateHeader(label));
    }
    Ok(first)
}

fn required<'a>(
    headers: &'a Headers,
    name: HeaderName,
    label: &'static str,
) -> Result<&'a str, ParseError> {
    single(headers, name, label)?.ok_or(ParseError::MissingHeader(label))
}

fn delta_seconds(
    headers: &Headers,
    name: HeaderName,
    label: &'static str,
) -> Result<Option<u32>, ParseError> {
    single(headers, name, label)?
        .map(|v| {
            parse_u32_digits(trim_lws(v))
                .ok_or_else(|| ParseError::header(label, v, "not a 32-bit delta-seconds"))
        })
        .transpose()
}

fn token_list(
    headers: &Headers,
    name: HeaderName,
    label: &'static str,
) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    for v in headers.get_all(name) {
        let v = trim_lws(v);
        // An empty Supported/Allow header means "nothing" (RFC 3261 §20.37).
        if v.is_empty() {
            continue;
        }
        if !is_token(v) {
            return Err(ParseError::header(label, v, "not a token"));
        }
        out.push(v.to_owned());
    }
    Ok(out)
}

fn addresses(headers: &Headers, name: HeaderName) -> Result<Vec<NameAddr>, ParseError> {
    headers.get_all(name).map(str::parse).collect()
}

impl Headers {
    /// Every Via, top first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.get_all(HeaderName::Via).map(str::parse).collect()
    }

    /// The top Via (RFC 3261 §8.1.1.7 / §18.1.2).
    pub fn top_via(&self) -> Result<Via, ParseError> {
        self.get(HeaderName::Via)
            .ok_or(ParseError::MissingHeader("Via"))?
            .parse()
    }

    /// The From address with its tag (RFC 3261 §20.20). Errors when From is missing,
    /// repeated or malformed.
    pub fn from_addr(&self) -> Result<NameAddr, ParseError> {
        required(self, HeaderName::From, "From")?.parse()
    }

    /// The To address with its tag, if any (RFC 3261 §20.39). Errors when To is missing,
    /// repeated or malformed.
    pub fn to_addr(&self) -> Result<NameAddr, ParseError> {
        required(self, HeaderName::To, "To")?.parse()
    }

    /// Call-ID (RFC 3261 §25.1 `callid = word [ "@" word ]`).
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = trim_lws(required(self, HeaderName::CallId, "Call-ID")?);
        if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(ParseError::header("Call-ID", v, "not a word[@word]"));
        }
        Ok(v)
    }

    /// The CSeq (RFC 3261 §20.16). Errors when it is missing, repeated or malformed.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        required(self, HeaderName::CSeq, "CSeq")?.parse()
    }

    /// Max-Forwards 0-255 (RFC 3261 §20.22), `None` when absent (RFC 2543 peers).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        single(self, HeaderName::MaxForwards, "Max-Forwards")?
            .map(|v| {
                parse_u32_digits(trim_lws(v))
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| ParseError::header("Max-Forwards", v, "not 0-255"))
            })
            .transpose()
    }

    /// Content-Length; several equal values are accepted, differing ones are an error
    /// (RFC 4475 §3.3.9).
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        let mut found: Option<usize> = None;
        for v in self.get_all(HeaderName::ContentLength) {
            let n = parse_usize_digits(trim_lws(v))
                .ok_or_else(|| ParseError::ContentLength(v.to_owned()))?;
            if found.is_some_and(|f| f != n) {
                return Err(ParseError::ConflictingContentLength);
            }
            found = Some(n);
        }
        Ok(found)
    }

    /// Content-Type (RFC 3261 §20.15), `None` when absent. Errors when repeated or not a
    /// media type.
    pub fn content_type(&self) -> Result<Option<MediaType>, ParseError> {
        single(self, HeaderName::ContentType, "Content-Type")?
            .map(str::parse)
            .transpose()
    }

    /// Accept ranges (RFC 3261 §20.1); empty when absent.
    pub fn accept(&self) -> Result<Vec<MediaType>, ParseError> {
        self.get_all(HeaderName::Accept)
            .filter(|v| !trim_lws(v).is_empty())
            .map(str::parse)
            .collect()
    }

    /// Expires in seconds (RFC 3261 §20.19), `None` when absent. Errors when repeated or
    /// not a 32-bit delta-seconds.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        delta_seconds(self, HeaderName::Expires, "Expires")
    }

    /// Min-Expires in seconds, from a 423 (RFC 3261 §20.23, §10.2.8), `None` when absent.
    /// Errors when repeated or not a 32-bit delta-seconds.
    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        delta_seconds(self, HeaderName::MinExpires, "Min-Expires")
    }

    /// Retry-After (RFC 3261 §20.33), `None` when absent. Errors when repeated or when the
    /// seconds are not a 32-bit delta-seconds.
    pub fn retry_after(&self) -> Result<Option<RetryAfter>, ParseError> {
        let Some(v) = single(self, HeaderName::RetryAfter, "Retry-After")? else {
            return Ok(None);
        };
        let without_comment = v.split('(').next().unwrap_or("");
        let (secs, params) = match without_comment.split_once(';') {
            Some((s, p)) => (
                s,
                Params::parse(p).map_err(|r| ParseError::header("Retry-After", v, r))?,
            ),
            None => (without_comment, Params::new()),
        };
        let seconds = parse_u32_digits(trim_lws(secs))
            .ok_or_else(|| ParseError::header("Retry-After", v, "not a 32-bit delta-seconds"))?;
        Ok(Some(RetryAfter {
            seconds,
            duration: params.get("duration").and_then(parse_u32_digits),
        }))
    }

    /// Contacts, or `*` (only valid alone, RFC 3261 §10.2.2).
    pub fn contacts(&self) -> Result<Contacts, ParseError> {
        let values: Vec<&str> = self.get_all(HeaderName::Contact).collect();
        if values.iter().any(|v| trim_lws(v) == "*") {
            if values.len() != 1 {
                return Err(ParseError::header(
                    "Contact",
                    "*",
                    "* must be the only Contact",
                ));
            }
            return Ok(Contacts::Star);
        }
        values
            .into_iter()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(Contacts::List)
    }

    /// Every Route entry in order (RFC 3261 §20.34): the route set the request follows.
    pub fn routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        addresses(self, HeaderName::Route)
    }

    /// Every Record-Route entry in order, top first (RFC 3261 §20.30). A UAS uses them as
    /// its route set as is, a UAC reversed (§12.1.1, §12.1.2).
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        addresses(self, HeaderName::RecordRoute)
    }

    /// The methods in Allow (RFC 3261 §20.5); empty when absent or empty. Errors when an
    /// element is not a token.
    pub fn allow(&self) -> Result<Vec<Method>, ParseError> {
        token_list(self, HeaderName::Allow, "Allow")?
            .iter()
            .map(|m| m.parse())
            .collect()
    }

    /// The option tags in Supported (RFC 3261 §20.37); empty when absent. Errors when an
    /// element is not a token.
    pub fn supported(&self) -> Result<Vec<String>, ParseError> {
        token_list(self, HeaderName::Supported, "Supported")
    }

    /// The option tags in Require (RFC 3261 §20.32): extensions the recipient must
    /// support, else answer 420. Errors when an element is not a token.
    pub fn require(&self) -> Result<Vec<String>, ParseError> {
        token_list(self, HeaderName::Require, "Require")
    }

    /// The option tags in Proxy-Require (RFC 3261 §20.29). Errors when an element is not a
    /// token.
    pub fn proxy_require(&self) -> Result<Vec<String>, ParseError> {
        token_list(self, HeaderName::ProxyRequire, "Proxy-Require")
    }

    /// Raw WWW-Authenticate challenges; the auth module parses them.
    pub fn www_authenticate(&self) -> impl Iterator<Item = &str> {
        self.get_all(HeaderName::WwwAuthenticate)
    }

    /// Raw Proxy-Authenticate challenges; the auth module parses them.
    pub fn proxy_authenticate(&self) -> impl Iterator<Item = &str> {
        self.get_all(HeaderName::ProxyAuthenticate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_headers() {
        let mut h = Headers::new();
        h.push("CSeq", "0009 INVITE");
        h.push("Max-Forwards", "0068");
        h.push("l", "12");
        h.push("Content-Length", "12");
        h.push("c", "application/sdp");
        h.push("Retry-After", "18000;duration=3600");
        h.push("Allow", "INVITE");
        h.push("Allow", "ACK");
        h.push("Supported", "");
        h.push("m", "*");
        assert_eq!(
            h.cseq().unwrap(),
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert_eq!(h.max_forwards().unwrap(), Some(68));
        assert_eq!(h.content_length().unwrap(), Some(12));
        assert_eq!(
            h.content_type().unwrap().unwrap().essence(),
            "application/sdp"
        );
        assert_eq!(
            h.retry_after().unwrap(),
            Some(RetryAfter {
                seconds: 18000,
                duration: Some(3600)
            })
        );
        assert_eq!(h.allow().unwrap(), vec![Method::Invite, Method::Ack]);
        assert!(h.supported().unwrap().is_empty());
        assert_eq!(h.contacts().unwrap(), Contacts::Star);
        assert_eq!(h.call_id(), Err(ParseError::MissingHeader("Call-ID")));
    }

    #[test]
    fn overlarge_and_conflicting_scalars() {
        let mut h = Headers::new();
        h.push("CSeq", "36893488147419103232 REGISTER");
        h.push("Max-Forwards", "300");
        h.push("Content-Length", "13");
        h.push("Content-Length", "5");
        h.push("Expires", "10000000000000000");
        assert!(h.cseq().is_err());
        assert!(h.max_forwards().is_err());
        assert_eq!(
            h.content_length(),
            Err(ParseError::ConflictingContentLength)
        );
        assert!(h.expires().is_err());
        let mut neg = Headers::new();
        neg.push("Content-Length", "-999");
        assert!(matches!(
            neg.content_length(),
            Err(ParseError::ContentLength(_))
        ));
    }
}
