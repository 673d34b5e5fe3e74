//! Header names: the one alias table for compact forms, canonical spelling, and which
//! headers are comma-separated lists.

use std::fmt;

/// A header field name. Known names compare by variant; others case-insensitively
/// (RFC 3261 §7.3.1: field names are case-insensitive).
#[derive(Debug, Clone, Eq)]
pub enum HeaderName {
    Accept,
    AcceptContact,
    AcceptEncoding,
    AcceptLanguage,
    AlertInfo,
    Allow,
    AllowEvents,
    AuthenticationInfo,
    Authorization,
    CallId,
    CallInfo,
    Contact,
    ContentDisposition,
    ContentEncoding,
    ContentLanguage,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    ErrorInfo,
    Event,
    Expires,
    FlowTimer,
    From,
    Identity,
    IdentityInfo,
    InReplyTo,
    MaxForwards,
    MinExpires,
    MinSe,
    Path,
    Priority,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RAck,
    Reason,
    RecordRoute,
    ReferredBy,
    ReferTo,
    RejectContact,
    Replaces,
    ReplyTo,
    RequestDisposition,
    Require,
    RetryAfter,
    Route,
    RSeq,
    Server,
    ServiceRoute,
    SessionExpires,
    Subject,
    SubscriptionState,
    Supported,
    Timestamp,
    To,
    Unsupported,
    UserAgent,
    Via,
    Warning,
    WwwAuthenticate,
    /// Any other name, spelled as received.
    Other(String),
}

/// Canonical spelling of every known name. Kept in one table so lookup and output agree.
const KNOWN: &[(HeaderName, &str)] = &[
    (HeaderName::Accept, "Accept"),
    (HeaderName::AcceptContact, "Accept-Contact"),
    (HeaderName::AcceptEncoding, "Accept-Encoding"),
    (HeaderName::AcceptLanguage, "Accept-Language"),
    (HeaderName::AlertInfo, "Alert-Info"),
    (HeaderName::Allow, "Allow"),
    (HeaderName::AllowEvents, "Allow-Events"),
    (HeaderName::AuthenticationInfo, "Authentication-Info"),
    (HeaderName::Authorization, "Authorization"),
    (HeaderName::CallId, "Call-ID"),
    (HeaderName::CallInfo, "Call-Info"),
    (HeaderName::Contact, "Contact"),
    (HeaderName::ContentDisposition, "Content-Disposition"),
    (HeaderName::ContentEncoding, "Content-Encoding"),
    (HeaderName::ContentLanguage, "Content-Language"),
    (HeaderName::ContentLength, "Content-Length"),
    (HeaderName::ContentType, "Content-Type"),
    (HeaderName::CSeq, "CSeq"),
    (HeaderName::Date, "Date"),
    (HeaderName::ErrorInfo, "Error-Info"),
    (HeaderName::Event, "Event"),
    (HeaderName::Expires, "Expires"),
    (HeaderName::FlowTimer, "Flow-Timer"),
    (HeaderName::From, "From"),
    (HeaderName::Identity, "Identity"),
    (HeaderName::IdentityInfo, "Identity-Info"),
    (HeaderName::InReplyTo, "In-Reply-To"),
    (HeaderName::MaxForwards, "Max-Forwards"),
    (HeaderName::MinExpires, "Min-Expires"),
    (HeaderName::MinSe, "Min-SE"),
    (HeaderName::Path, "Path"),
    (HeaderName::Priority, "Priority"),
    (HeaderName::ProxyAuthenticate, "Proxy-Authenticate"),
    (HeaderName::ProxyAuthorization, "Proxy-Authorization"),
    (HeaderName::ProxyRequire, "Proxy-Require"),
    (HeaderName::RAck, "RAck"),
    (HeaderName::Reason, "Reason"),
    (HeaderName::RecordRoute, "Record-Route"),
    (HeaderName::ReferredBy, "Referred-By"),
    (HeaderName::ReferTo, "Refer-To"),
    (HeaderName::RejectContact, "Reject-Contact"),
    (HeaderName::Replaces, "Replaces"),
    (HeaderName::ReplyTo, "Reply-To"),
    (HeaderName::RequestDisposition, "Request-Disposition"),
    (HeaderName::Require, "Require"),
    (HeaderName::RetryAfter, "Retry-After"),
    (HeaderName::Route, "Route"),
    (HeaderName::RSeq, "RSeq"),
    (HeaderName::Server, "Server"),
    (HeaderName::ServiceRoute, "Service-Route"),
    (HeaderName::SessionExpires, "Session-Expires"),
    (HeaderName::Subject, "Subject"),
    (HeaderName::SubscriptionState, "Subscription-State"),
    (HeaderName::Supported, "Supported"),
    (HeaderName::Timestamp, "Timestamp"),
    (HeaderName::To, "To"),
    (HeaderName::Unsupported, "Unsupported"),
    (HeaderName::UserAgent, "User-Agent"),
    (HeaderName::Via, "Via"),
    (HeaderName::Warning, "Warning"),
    (HeaderName::WwwAuthenticate, "WWW-Authenticate"),
];

/// The single compact-form alias table (RFC 3261 §7.3.3 and §20; RFC 3265 `o`/`u`,
/// RFC 3515 `r`, RFC 3892 `b`, RFC 4028 `x`, RFC 3841 `a`/`j`/`d`, RFC 4474 `y`/`n`).
const COMPACT: &[(u8, HeaderName)] = &[
    (b'a', HeaderName::AcceptContact),
    (b'b', HeaderName::ReferredBy),
    (b'c', HeaderName::ContentType),
    (b'd', HeaderName::RequestDisposition),
    (b'e', HeaderName::ContentEncoding),
    (b'f', HeaderName::From),
    (b'i', HeaderName::CallId),
    (b'j', HeaderName::RejectContact),
    (b'k', HeaderName::Supported),
    (b'l', HeaderName::ContentLength),
    (b'm', HeaderName::Contact),
    (b'n', HeaderName::IdentityInfo),
    (b'o', HeaderName::Event),
    (b'r', HeaderName::ReferTo),
    (b's', HeaderName::Subject),
    (b't', HeaderName::To),
    (b'u', HeaderName::AllowEvents),
    (b'v', HeaderName::Via),
    (b'x', HeaderName::SessionExpires),
    (b'y', HeaderName::Identity),
];

impl HeaderName {
    /// Resolves a name as received: compact forms expand, known names get their
    /// canonical variant, anything else is kept verbatim.
    pub fn new(name: &str) -> HeaderName {
        if let [single] = name.as_bytes() {
            let lower = single.to_ascii_lowercase();
            if let Some((_, full)) = COMPACT.iter().find(|(c, _)| *c == lower) {
                return full.clone();
            }
        }
        KNOWN
            .iter()
            .find(|(_, canonical)| canonical.eq_ignore_ascii_case(name))
            .map(|(known, _)| known.clone())
            .unwrap_or_else(|| HeaderName::Other(name.to_owned()))
    }

    /// The canonical spelling written on output.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::FlowTimer => "Flow-Timer",
            HeaderName::From => "From",
            HeaderName::Identity => "Identity",
            HeaderName::IdentityInfo => "Identity-Info",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Path => "Path",
            HeaderName::Priority => "Priority",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::Replaces => "Replaces",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::ServiceRoute => "Service-Route",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other(name) => name,
        }
    }

    /// Headers whose grammar is a comma-separated list, so `A: x, y` equals two lines
    /// (RFC 3261 §7.3.1). Authentication headers are not: their params contain commas.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptContact
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::ErrorInfo
                | HeaderName::InReplyTo
                | HeaderName::Path
                | HeaderName::ProxyRequire
                | HeaderName::Reason
                | HeaderName::RecordRoute
                | HeaderName::RejectContact
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::ServiceRoute
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            // `Other("via")` built by hand still equals `Via`.
            (HeaderName::Other(name), known) | (known, HeaderName::Other(name)) => {
                name.eq_ignore_ascii_case(known.as_str())
            }
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl From<&str> for HeaderName {
    fn from(name: &str) -> Self {
        HeaderName::new(name)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compact_form_expands() {
        let expected = [
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("e", "Content-Encoding"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("f", "From"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("t", "To"),
            ("v", "Via"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("u", "Allow-Events"),
            ("b", "Referred-By"),
            ("x", "Session-Expires"),
            ("a", "Accept-Contact"),
            ("j", "Reject-Contact"),
            ("d", "Request-Disposition"),
            ("y", "Identity"),
            ("n", "Identity-Info"),
        ];
        for (compact, full) in expected {
            assert_eq!(HeaderName::new(compact).as_str(), full, "{compact}");
            assert_eq!(
                HeaderName::new(&compact.to_uppercase()).as_str(),
                full,
                "{compact}"
            );
        }
        assert_eq!(HeaderName::new("q"), HeaderName::Other("q".into()));
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(HeaderName::new("cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::new("X-Foo"), HeaderName::new("x-foo"));
        assert_eq!(HeaderName::new("X-Foo").as_str(), "X-Foo");
        assert_ne!(HeaderName::new("C%6Fntact"), HeaderName::Contact);
        assert_eq!(HeaderName::Other("via".into()), HeaderName::Via);
        for (known, canonical) in KNOWN {
            assert_eq!(known.as_str(), *canonical);
            assert_eq!(HeaderName::new(&canonical.to_ascii_uppercase()), *known);
        }
    }
}
