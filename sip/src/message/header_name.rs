//! Header names: the one alias table for compact forms, canonical spelling, and which
//! headers are comma-separated lists.

use std::fmt;

/// A header field name. Known names compare by variant; others case-insensitively
/// (RFC 3261 §7.3.1: field names are case-insensitive).
#[derive(Debug, Clone, Eq)]
pub enum HeaderName {
    /// `Accept`: body types the sender accepts (RFC 3261 §20.1).
    Accept,
    /// `Accept-Contact`, compact `a`: caller preferences (RFC 3841 §9.2).
    AcceptContact,
    /// `Accept-Encoding`: content codings the sender accepts (RFC 3261 §20.2).
    AcceptEncoding,
    /// `Accept-Language`: languages preferred for reason phrases and bodies (RFC 3261 §20.3).
    AcceptLanguage,
    /// `Alert-Info`: an alternative ring tone (RFC 3261 §20.4).
    AlertInfo,
    /// `Allow`: methods the sender supports (RFC 3261 §20.5).
    Allow,
    /// `Allow-Events`, compact `u`: event packages supported (RFC 6665 §8.2.2).
    AllowEvents,
    /// `Authentication-Info`: digest mutual authentication and next nonce (RFC 3261 §20.6).
    AuthenticationInfo,
    /// `Authorization`: UA credentials for a 401 challenge (RFC 3261 §20.7, §22.2).
    Authorization,
    /// `Call-ID`, compact `i`: identifies the dialog or registration (RFC 3261 §20.8).
    CallId,
    /// `Call-Info`: additional information about the caller or callee (RFC 3261 §20.9).
    CallInfo,
    /// `Contact`, compact `m`: where to reach the sender, or the bindings of a REGISTER
    /// (RFC 3261 §20.10).
    Contact,
    /// `Content-Disposition`: how to interpret the body (RFC 3261 §20.11).
    ContentDisposition,
    /// `Content-Encoding`, compact `e`: codings applied to the body (RFC 3261 §20.12).
    ContentEncoding,
    /// `Content-Language`: language of the body (RFC 3261 §20.13).
    ContentLanguage,
    /// `Content-Length`, compact `l`: body size in bytes; mandatory on streams
    /// (RFC 3261 §20.14, §18.3).
    ContentLength,
    /// `Content-Type`, compact `c`: media type of the body (RFC 3261 §20.15).
    ContentType,
    /// `CSeq`: sequence number and method of a request (RFC 3261 §20.16).
    CSeq,
    /// `Date`: date and time in RFC 1123 format (RFC 3261 §20.17).
    Date,
    /// `Error-Info`: pointer to more information about an error response (RFC 3261 §20.18).
    ErrorInfo,
    /// `Event`, compact `o`: the event package of a SUBSCRIBE or NOTIFY (RFC 6665 §8.2.1).
    Event,
    /// `Expires`: relative lifetime in seconds of a message or registration (RFC 3261 §20.19).
    Expires,
    /// `Flow-Timer`: seconds the registrar/edge proxy expects between keepalives on a flow
    /// (RFC 5626 §4.4).
    FlowTimer,
    /// `From`, compact `f`: the request's initiator, with the local tag (RFC 3261 §20.20).
    From,
    /// `Identity`, compact `y`: authenticated identity signature (RFC 8224; RFC 4474 before it).
    Identity,
    /// `Identity-Info`, compact `n`: where to fetch the `Identity` certificate
    /// (RFC 4474; dropped by RFC 8224).
    IdentityInfo,
    /// `In-Reply-To`: Call-IDs this call returns (RFC 3261 §20.21).
    InReplyTo,
    /// `Max-Forwards`: hop limit of a request (RFC 3261 §20.22).
    MaxForwards,
    /// `Min-Expires`: shortest registration interval the registrar accepts, in 423
    /// (RFC 3261 §20.23).
    MinExpires,
    /// `Min-SE`: minimum session timer interval in seconds (RFC 4028 §5).
    MinSe,
    /// `Path`: proxies on the path of a REGISTER, for requests toward the UA (RFC 3327).
    Path,
    /// `Priority`: urgency of the request (RFC 3261 §20.26).
    Priority,
    /// `Proxy-Authenticate`: a proxy's digest challenge, in 407 (RFC 3261 §20.27, §22.3).
    ProxyAuthenticate,
    /// `Proxy-Authorization`: UA credentials for a 407 challenge (RFC 3261 §20.28).
    ProxyAuthorization,
    /// `Proxy-Require`: extensions proxies must support (RFC 3261 §20.29).
    ProxyRequire,
    /// `RAck`: acknowledges a reliable provisional response in PRACK (RFC 3262 §7.2).
    RAck,
    /// `Reason`: why a request (e.g. CANCEL, BYE) was sent (RFC 3326).
    Reason,
    /// `Record-Route`: proxies that stay on the dialog's path (RFC 3261 §20.30).
    RecordRoute,
    /// `Referred-By`, compact `b`: who sent a REFER (RFC 3892).
    ReferredBy,
    /// `Refer-To`, compact `r`: the target of a REFER (RFC 3515 §2.1).
    ReferTo,
    /// `Reject-Contact`, compact `j`: caller preferences to avoid (RFC 3841 §9.3).
    RejectContact,
    /// `Replaces`: the dialog an INVITE replaces (RFC 3891).
    Replaces,
    /// `Reply-To`: a logical return URI (RFC 3261 §20.31).
    ReplyTo,
    /// `Request-Disposition`, compact `d`: caller preferences for proxy handling (RFC 3841 §9.1).
    RequestDisposition,
    /// `Require`: extensions the recipient must support (RFC 3261 §20.32).
    Require,
    /// `Retry-After`: seconds before retrying, in 503, 500, 404, 413, 480, 486, 600 or 603
    /// (RFC 3261 §20.33).
    RetryAfter,
    /// `Route`: the route set a request must follow (RFC 3261 §20.34).
    Route,
    /// `RSeq`: sequence number of a reliable provisional response (RFC 3262 §7.1).
    RSeq,
    /// `Server`: software of the UAS (RFC 3261 §20.35).
    Server,
    /// `Service-Route`: route a registrar returns for the UA's later requests (RFC 3608).
    ServiceRoute,
    /// `Session-Expires`, compact `x`: session timer interval (RFC 4028 §4).
    SessionExpires,
    /// `Subject`, compact `s`: summary of the call (RFC 3261 §20.36).
    Subject,
    /// `Subscription-State`: state of a subscription, in NOTIFY (RFC 6665 §8.2.3).
    SubscriptionState,
    /// `Supported`, compact `k`: option tags the sender supports (RFC 3261 §20.37).
    Supported,
    /// `Timestamp`: when the UAC sent the request, for RTT estimates (RFC 3261 §20.38).
    Timestamp,
    /// `To`, compact `t`: the request's logical recipient, with the remote tag (RFC 3261 §20.39).
    To,
    /// `Unsupported`: option tags of `Require` the UAS lacks, in 420 (RFC 3261 §20.40).
    Unsupported,
    /// `User-Agent`: software of the UAC (RFC 3261 §20.41).
    UserAgent,
    /// `Via`, compact `v`: the path taken so far, where responses go back (RFC 3261 §20.42).
    Via,
    /// `Warning`: extra information about a response's status (RFC 3261 §20.43).
    Warning,
    /// `WWW-Authenticate`: a UAS's or registrar's digest challenge, in 401
    /// (RFC 3261 §20.44, §22.2).
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
