//! What a UAS checks before handing a request to its application, and what a UAC checks
//! before accepting a response. The outcomes follow RFC 3261 §8.2 and RFC 4475.

use super::error::ParseError;
use super::header_name::HeaderName;
use super::method::Method;
use super::model::{Request, Response, Version};
use super::parse::salvage_headers;
use super::uri::Uri;

/// What this UAS implements, used to pick 405/415/420/501.
#[derive(Debug, Clone)]
pub struct UasPolicy {
    /// Methods the application handles; others known to the parser get 405.
    pub allowed_methods: Vec<Method>,
    /// Option tags understood in Require (RFC 3261 §8.2.2.3).
    pub supported_extensions: Vec<String>,
    /// Body types understood (lowercase `type/subtype`).
    pub accepted_content_types: Vec<String>,
    /// Act as a registrar: REGISTER is handled and its To must be a SIP/SIPS AOR.
    pub registrar: bool,
}

impl Default for UasPolicy {
    /// A softphone endpoint: no REGISTER, SDP bodies, no extensions required.
    fn default() -> Self {
        UasPolicy {
            allowed_methods: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Update,
                Method::Info,
                Method::Notify,
                Method::Message,
            ],
            supported_extensions: Vec::new(),
            accepted_content_types: vec!["application/sdp".into(), "text/plain".into()],
            registrar: false,
        }
    }
}

/// A request the UAS must refuse: the status to send and extra headers it needs
/// (Allow for 405/501, Unsupported for 420, Accept for 415).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status to answer with: 400, 405, 406, 415, 416, 420, 501 or 505.
    pub status: u16,
    /// Its standard reason phrase.
    pub reason: &'static str,
    /// Why, for logs.
    pub detail: String,
    /// Headers the response must carry (Allow, Unsupported, Accept), in order.
    pub headers: Vec<(HeaderName, String)>,
}

impl Rejection {
    fn new(status: u16, reason: &'static str, detail: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    fn bad_request(err: &ParseError) -> Rejection {
        Rejection::new(400, "Bad Request", err.to_string())
    }

    /// The response to send (RFC 3261 §8.2.6). Never answer an ACK (§17.2.3).
    pub fn to_response(&self, request: &Request) -> Response {
        let mut response = Response::for_request(request, self.status, self.reason);
        for (name, value) in &self.headers {
            response.headers.push(name.clone(), value.clone());
        }
        response
    }
}

fn allow_header(policy: &UasPolicy) -> (HeaderName, String) {
    let list: Vec<&str> = policy.allowed_methods.iter().map(Method::as_str).collect();
    (HeaderName::Allow, list.join(", "))
}

/// Checks a parsed request the way a UAS core must before acting on it (RFC 3261 §8.2).
/// The order is the RFC's: version, syntax of the headers the stack relies on,
/// method, URI scheme, extensions, content.
pub fn validate_request(request: &Request, policy: &UasPolicy) -> Result<(), Rejection> {
    // RFC 3261 §21.5.6 / RFC 4475 §3.1.2.16: unknown version → 505.
    if request.version != Version::SIP_2_0 {
        return Err(Rejection::new(
            505,
            "Version Not Supported",
            request.version.to_string(),
        ));
    }
    check_syntax(request).map_err(|e| Rejection::bad_request(&e))?;

    // RFC 3261 §8.2.1: unknown method → 501, known but unhandled → 405, both with Allow.
    let handled = policy.allowed_methods.contains(&request.method)
        || (policy.registrar && request.method == Method::Register);
    if !handled {
        let (status, reason) = match request.method {
            Method::Extension(_) => (501, "Not Implemented"),
            _ => (405, "Method Not Allowed"),
        };
        let mut r = Rejection::new(status, reason, request.method.to_string());
        r.headers.push(allow_header(policy));
        return Err(r);
    }
    // RFC 4475 §3.1.2.17: CSeq method must match the request method.
    let cseq = request
        .headers
        .cseq()
        .map_err(|e| Rejection::bad_request(&e))?;
    if cseq.method != request.method {
        return Err(Rejection::new(
            400,
            "Bad Request",
            "CSeq method differs from request method",
        ));
    }
    // RFC 3261 §8.2.2.1: a Request-URI scheme we do not understand → 416.
    let Uri::Sip(ruri) = &request.uri else {
        return Err(Rejection::new(
            416,
            "Unsupported URI Scheme",
            request.uri.scheme().to_owned(),
        ));
    };
    // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
    if !ruri.headers.is_empty() {
        return Err(Rejection::new(400, "Bad Request", "headers in Request-URI"));
    }
    // RFC 3261 §10.3 step 5 / RFC 4475 §3.3.4: a registrar needs a SIP/SIPS AOR in To.
    if policy.registrar && request.method == Method::Register {
        let to = request
            .headers
            .to_addr()
            .map_err(|e| Rejection::bad_request(&e))?;
        if to.uri.as_sip().is_none() {
            return Err(Rejection::new(
                400,
                "Bad Request",
                "To is not a SIP or SIPS URI",
            ));
        }
    }
    // RFC 3261 §8.2.2.3: Require with unknown option tags → 420 listing them in
    // Unsupported; not applied to ACK and CANCEL.
    if !matches!(request.method, Method::Ack | Method::Cancel) {
        let required = request
            .headers
            .require()
            .map_err(|e| Rejection::bad_request(&e))?;
        let unknown: Vec<String> = required
            .into_iter()
            .filter(|tag| {
                !policy
                    .supported_extensions
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(tag))
            })
            .collect();
        if !unknown.is_empty() {
            let mut r = Rejection::new(420, "Bad Extension", unknown.join(", "));
            r.headers
                .push((HeaderName::Unsupported, unknown.join(", ")));
            return Err(r);
        }
    }
    check_content(request, policy)
}

/// RFC 3261 §8.2.3: a body type the UAS does not understand → 415 with Accept. RFC 4475
/// §3.3.15: an INVITE whose Accept excludes SDP cannot be answered → 406.
fn check_content(request: &Request, policy: &UasPolicy) -> Result<(), Rejection> {
    let headers = &request.headers;
    if !request.body.is_empty() {
        let content_type = headers
            .content_type()
            .map_err(|e| Rejection::bad_request(&e))?;
        // RFC 3261 §20.15: a non-empty body needs a Content-Type; treat a missing one
        // like an unknown type.
        let essence = content_type.map(|c| c.essence()).unwrap_or_default();
        if !policy.accepted_content_types.contains(&essence) {
            let mut r = Rejection::new(415, "Unsupported Media Type", essence);
            r.headers
                .push((HeaderName::Accept, policy.accepted_content_types.join(", ")));
            return Err(r);
        }
    }
    if request.method == Method::Invite {
        let accept = headers.accept().map_err(|e| Rejection::bad_request(&e))?;
        if !accept.is_empty() && !accept.iter().any(|a| a.matches("application/sdp")) {
            return Err(Rejection::new(
                406,
                "Not Acceptable",
                "Accept excludes application/sdp",
            ));
        }
    }
    Ok(())
}

/// The headers every request must carry, each parsed (RFC 3261 §8.1.1, §8.2.2).
fn check_syntax(request: &Request) -> Result<(), ParseError> {
    let h = &request.headers;
    // RFC 3261 §8.1.1: To, From, CSeq, Call-ID, Via mandatory; single-valued ones once
    // (RFC 4475 §3.3.8).
    h.to_addr()?;
    h.from_addr()?;
    h.call_id()?;
    h.cseq()?;
    // Max-Forwards may be absent (RFC 2543 peers, RFC 4475 §3.4.1).
    h.max_forwards()?;
    let vias = h.vias()?;
    // RFC 4475 §3.2.1: a branch that is only the magic cookie is well formed; the
    // transaction layer falls back to RFC 2543 matching for it (`transaction_id`).
    vias.first().ok_or(ParseError::MissingHeader("Via"))?;
    h.contacts()?;
    h.routes()?;
    h.record_routes()?;
    h.content_length()?;
    h.content_type()?;
    Ok(())
}

/// Why a UAC drops a response instead of passing it to a transaction.
///
/// New reasons may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseDiscard {
    /// A header a UAC relies on (To, From, Call-ID, CSeq, Via) is missing or malformed,
    /// or the version is not SIP/2.0.
    #[error("malformed response: {0}")]
    Malformed(#[from] ParseError),
    /// RFC 3261 §8.1.3.3: more than one Via in a response at a UAC.
    #[error("response has more than one Via")]
    ExtraVia,
}

/// Checks a response arriving at a UAC (RFC 3261 §8.1.3.3, RFC 4475 §3.1.2.5, §3.3.10).
pub fn validate_response(response: &Response) -> Result<(), ResponseDiscard> {
    if response.version != Version::SIP_2_0 {
        return Err(ParseError::Version(response.version.to_string()).into());
    }
    let h = &response.headers;
    h.to_addr()?;
    h.from_addr()?;
    h.call_id()?;
    h.cseq()?;
    let vias = h.vias()?;
    if vias.is_empty() {
        return Err(ParseError::MissingHeader("Via").into());
    }
    if vias.len() > 1 {
        return Err(ResponseDiscard::ExtraVia);
    }
    Ok(())
}

/// The error response for bytes that failed to parse as a request, when enough headers
/// can be read to address one (RFC 3261 §8.2, RFC 4475 §3.1.2: answer 400 or 505).
/// `None` for responses and for requests too broken to answer.
pub fn error_response_for_unparsable(bytes: &[u8], error: &ParseError) -> Option<Response> {
    let headers = salvage_headers(bytes)?;
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        if !headers.contains(name) {
            return None;
        }
    }
    let reason = match error.status() {
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Bad Request",
    };
    let mut response = Response::new(error.status(), reason);
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in headers.get_all(name.clone()) {
            response.headers.push(name.clone(), v);
        }
    }
    Some(response)
}
