//! `name-addr / addr-spec` followed by header parameters: From, To, Contact, Route,
//! Record-Route, Refer-To... (RFC 3261 §20.10, §25.1).

use std::fmt;
use std::str::FromStr;

use super::error::ParseError;
use super::params::Params;
use super::text::{is_token, quote, take_quoted, trim_lws};
use super::uri::Uri;

/// An address with optional display name and header parameters (`tag`, `expires`,
/// `+sip.instance`, `reg-id`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped.
    pub display_name: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address (`tag`, `expires`, `q`, `+sip.instance`, ...),
    /// not the URI's own parameters.
    pub params: Params,
}

fn err(value: &str, reason: &'static str) -> ParseError {
    ParseError::header("address", value, reason)
}

impl NameAddr {
    /// `uri` with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display_name: None,
            uri,
            params: Params::new(),
        }
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag")
    }

    /// The `expires` Contact parameter in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.params
            .get("expires")
            .and_then(super::text::parse_u32_digits)
    }

    /// RFC 5626 §4.1 `+sip.instance`, without its quotes.
    pub fn sip_instance(&self) -> Option<String> {
        self.params.get_unquoted("+sip.instance")
    }

    /// RFC 5626 §4.2 `reg-id`.
    pub fn reg_id(&self) -> Option<u32> {
        self.params
            .get("reg-id")
            .and_then(super::text::parse_u32_digits)
    }
}

impl FromStr for NameAddr {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = trim_lws(input);
        if s.is_empty() {
            return Err(err(input, "empty address"));
        }
        let (display_name, after_display) = if s.starts_with('"') {
            let (name, rest) = take_quoted(s).map_err(|r| err(input, r))?;
            // RFC 4475 §3.1.1.6: accept no LWS between the quoted name and '<'.
            let rest = trim_lws(rest);
            if !rest.starts_with('<') {
                return Err(err(input, "quoted display name not followed by <"));
            }
            (Some(name), rest)
        } else if let Some(lt) = s.find('<') {
            let name = trim_lws(s.get(..lt).unwrap_or(""));
            // RFC 3261 §25.1 display-name = *(token LWS) / quoted-string
            if !name.is_empty() && !name.split_ascii_whitespace().all(is_token) {
                return Err(err(input, "unquoted display name has non-token characters"));
            }
            let name = name.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
            (
                (!name.is_empty()).then_some(name),
                s.get(lt..).unwrap_or(""),
            )
        } else {
            (None, s)
        };

        let (uri_text, params_text) = if let Some(bracketed) = after_display.strip_prefix('<') {
            let close = bracketed.find('>').ok_or_else(|| err(input, "missing >"))?;
            let uri_text = bracketed.get(..close).unwrap_or("");
            let rest = trim_lws(bracketed.get(close + 1..).unwrap_or(""));
            let params = match rest.strip_prefix(';') {
                Some(p) => Some(p),
                None if rest.is_empty() => None,
                None => return Err(err(input, "unexpected text after >")),
            };
            (uri_text, params)
        } else {
            // addr-spec: RFC 3261 §20: a URI with ',', '?' or ';' must be in <>, so the
            // first ';' starts header parameters and '?' is an error (RFC 4475 §3.1.2.13).
            let (uri_text, params) = match after_display.split_once(';') {
                Some((u, p)) => (trim_lws(u), Some(p)),
                None => (after_display, None),
            };
            if uri_text.contains('?') || uri_text.contains(',') {
                return Err(err(input, "URI with ? or , must be enclosed in <>"));
            }
            (uri_text, params)
        };
        let uri = uri_text.parse::<Uri>()?;
        let params = match params_text {
            Some(p) => Params::parse(p).map_err(|r| err(input, r))?,
            None => Params::new(),
        };
        Ok(NameAddr {
            display_name,
            uri,
            params,
        })
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            write!(f, "{} ", quote(name))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_address() {
        let a: NameAddr = r#""Bob \"B\"" <sip:bob@example.com>;tag=abc"#.parse().unwrap();
        assert_eq!(a.display_name.as_deref(), Some("Bob \"B\""));
        assert_eq!(a.tag(), Some("abc"));
        let b: NameAddr = "sip:caller@example.net;tag=93334".parse().unwrap();
        assert_eq!(b.tag(), Some("93334"));
        assert!(b.uri.as_sip().unwrap().params.is_empty());
        let c: NameAddr = "Joe  User <sip:joe@example.org>".parse().unwrap();
        assert_eq!(c.display_name.as_deref(), Some("Joe User"));
        let d: NameAddr = r#""caller"<sip:caller@example.com>;tag=3"#.parse().unwrap();
        assert_eq!(d.display_name.as_deref(), Some("caller"));
        let e: NameAddr =
            r#"<sip:a@192.0.2.4;ob>;+sip.instance="<urn:uuid:1>";reg-id=2;expires=60"#
                .parse()
                .unwrap();
        assert_eq!(e.sip_instance().as_deref(), Some("<urn:uuid:1>"));
        assert_eq!(e.reg_id(), Some(2));
        assert_eq!(e.expires(), Some(60));
    }

    #[test]
    fn malformed_addresses() {
        assert!(r#""Mr. J. User <sip:j.user@example.com>"#.parse::<NameAddr>().is_err());
        assert!("Bell, Alexander <sip:a.g.bell@example.com>;tag=43"
            .parse::<NameAddr>()
            .is_err());
        assert!(r#""Watson, Thomas" < sip:t.watson@example.org >"#.parse::<NameAddr>().is_err());
        assert!("sip:user@example.com?Route=%3Csip:sip.example.com%3E"
            .parse::<NameAddr>()
            .is_err());
        assert!(r#""Joe" <sip:joe@example.org>;;;;"#.parse::<NameAddr>().is_err());
    }
}
