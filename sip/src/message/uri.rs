//! Request-URIs and header URIs: SIP/SIPS URIs in full (RFC 3261 §19.1), any other
//! scheme kept opaque (RFC 3261 §19.1: other schemes are carried, RFC 4475 §3.3.2).

use std::fmt;
use std::str::FromStr;

use super::error::ParseError;
use super::host::{parse_host_port, Host};
use super::params::Params;
use super::text::{escapes_are_valid, percent_decode};

/// A URI: SIP/SIPS parsed into parts, other schemes opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// A `sip:` or `sips:` URI, parsed.
    Sip(SipUri),
    /// `scheme:opaque` for any scheme other than sip/sips (tel, urn, http, ...).
    Other {
        /// The scheme as received, without the colon.
        scheme: String,
        /// Everything after the colon, unparsed.
        opaque: String,
    },
}

/// A `sip:` or `sips:` URI. User, password, parameters and headers are kept escaped as
/// received so that output is faithful; decoding helpers are provided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` (RFC 3261 §19.1: TLS on every hop, §26.2.2) rather than `sip:`.
    pub secure: bool,
    /// The user part, still escaped; `None` when there is no `@`.
    pub user: Option<String>,
    /// The password after `user:`, still escaped (RFC 3261 §19.1.1 advises against it).
    pub password: Option<String>,
    /// The host: a domain name, IPv4 or IPv6 address.
    pub host: Host,
    /// The port; `None` means the transport's default (5060, 5061 for TLS; RFC 3261
    /// §19.1.2), or RFC 3263 SRV lookup for a domain name.
    pub port: Option<u16>,
    /// URI parameters (`transport`, `lr`, `maddr`, `ob`, ...), still escaped.
    pub params: Params,
    /// `?name=value&...` headers, still escaped.
    pub headers: Vec<(String, String)>,
}

fn uri_error(uri: &str, reason: &'static str) -> ParseError {
    ParseError::Uri {
        uri: uri.to_owned(),
        reason,
    }
}

impl SipUri {
    /// A plain `sip:user@host` URI.
    pub fn new(user: Option<&str>, host: Host) -> SipUri {
        SipUri {
            secure: false,
            user: user.map(str::to_owned),
            password: None,
            host,
            port: None,
            params: Params::new(),
            headers: Vec::new(),
        }
    }

    /// The user part with escapes decoded once; may contain NUL (RFC 4475 §3.1.1.4).
    pub fn user_decoded(&self) -> Option<Vec<u8>> {
        self.user.as_deref().map(percent_decode)
    }

    /// The `transport` URI parameter, lowercased.
    pub fn transport(&self) -> Option<String> {
        self.params.get("transport").map(str::to_ascii_lowercase)
    }

    /// RFC 3261 §19.1.1 `lr`: the next hop is a loose router.
    pub fn is_loose_router(&self) -> bool {
        self.params.has("lr")
    }

    /// RFC 5626 §5.4 `ob`: the Contact asks for an outbound flow.
    pub fn has_ob(&self) -> bool {
        self.params.has("ob")
    }

    fn parse(full: &str, secure: bool, rest: &str) -> Result<SipUri, ParseError> {
        // RFC 3261 §25.1: a SIP URI never contains LWS, quotes or angle brackets.
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
        {
            return Err(uri_error(
                full,
                "forbidden character (space, control, <, > or \")",
            ));
        }
        if !escapes_are_valid(rest) {
            return Err(uri_error(full, "% not followed by two hex digits"));
        }
        // '@' cannot appear unescaped after the userinfo (user/password/params/headers
        // grammars exclude it), so the first '@' ends the userinfo.
        let (userinfo, after_user) = match rest.split_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, rest),
        };
        if after_user.contains('@') {
            return Err(uri_error(full, "more than one @"));
        }
        let (user, password) = match userinfo {
            Some(u) => {
                let (user, password) = match u.split_once(':') {
                    Some((user, pw)) => (user, Some(pw.to_owned())),
                    None => (u, None),
                };
                if user.is_empty() {
                    return Err(uri_error(full, "empty user before @"));
                }
                (Some(user.to_owned()), password)
            }
            None => (None, None),
        };
        let (before_headers, headers_text) = match after_user.split_once('?') {
            Some((b, h)) => (b, Some(h)),
            None => (after_user, None),
        };
        let (hostport, params_text) = match before_headers.split_once(';') {
            Some((h, p)) => (h, Some(p)),
            None => (before_headers, None),
        };
        let (host, port) = parse_host_port(hostport).map_err(|r| uri_error(full, r))?;
        let params = match params_text {
            Some(p) => Params::parse(p).map_err(|r| uri_error(full, r))?,
            None => Params::new(),
        };
        let mut headers = Vec::new();
        if let Some(h) = headers_text {
            for pair in h.split('&') {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| uri_error(full, "URI header without ="))?;
                if name.is_empty() {
                    return Err(uri_error(full, "empty URI header name"));
                }
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }
}

impl Uri {
    /// The scheme, lowercased for sip/sips.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    /// The SIP URI, when this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }

    /// The SIP URI, when this is one, to change.
    pub fn as_sip_mut(&mut self) -> Option<&mut SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }
}

impl FromStr for Uri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s.split_once(':').ok_or_else(|| uri_error(s, "no scheme"))?;
        // RFC 3986 §3.1 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        let mut scheme_bytes = scheme.bytes();
        let scheme_ok = scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(uri_error(s, "invalid scheme"));
        }
        if scheme.eq_ignore_ascii_case("sip") {
            return SipUri::parse(s, false, rest).map(Uri::Sip);
        }
        if scheme.eq_ignore_ascii_case("sips") {
            return SipUri::parse(s, true, rest).map(Uri::Sip);
        }
        if rest.is_empty()
            || rest
                .bytes()
                .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
        {
            return Err(uri_error(s, "invalid opaque part"));
        }
        Ok(Uri::Other {
            scheme: scheme.to_owned(),
            opaque: rest.to_owned(),
        })
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        for (i, (name, value)) in self.headers.iter().enumerate() {
            write!(f, "{}{name}={value}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Other { scheme, opaque } => write!(f, "{scheme}:{opaque}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match s.parse::<Uri>().unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn full_sip_uri() {
        let u = sip(
            "sips:alice:secret@[2001:db8::1]:5061;transport=TCP;lr;ob?Subject=hi&Priority=urgent",
        );
        assert!(u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::Ipv6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport().as_deref(), Some("tcp"));
        assert!(u.is_loose_router() && u.has_ob());
        assert_eq!(u.headers.len(), 2);
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@[2001:db8::1]:5061;transport=TCP;lr;ob?Subject=hi&Priority=urgent"
        );
    }

    #[test]
    fn user_with_semicolon_and_escapes() {
        // RFC 4475 §3.1.1.9: the user part is `user;par=u%40example.net`.
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, Host::Domain("example.com".into()));
        let n = sip("sip:%00%00@host5.example.com");
        assert_eq!(n.user_decoded(), Some(vec![0, 0]));
    }

    #[test]
    fn other_schemes_are_opaque_and_bad_ones_fail() {
        let u: Uri = "nobodyknowsthisscheme:totallyopaquecontent"
            .parse()
            .unwrap();
        assert_eq!(u.scheme(), "nobodyknowsthisscheme");
        assert!(u.as_sip().is_none());
        assert!("<sip:a@b>".parse::<Uri>().is_err());
        assert!("sip:a@b c".parse::<Uri>().is_err());
        assert!("sip:a@b;%zz".parse::<Uri>().is_err());
        assert!("sip:@host".parse::<Uri>().is_err());
    }
}
