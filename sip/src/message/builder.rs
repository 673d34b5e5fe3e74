//! Building requests and responses for UAC/UAS code.

use super::header_name::HeaderName;
use super::method::Method;
use super::model::{Request, Response};
use super::name_addr::NameAddr;
use super::typed::CSeq;
use super::uri::Uri;
use super::via::Via;

/// Fluent construction of a request. Header order follows the calls.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    request: Request,
}

impl RequestBuilder {
    /// A request of `method` to Request-URI `uri`, version SIP/2.0, no headers yet.
    pub fn new(method: Method, uri: Uri) -> RequestBuilder {
        RequestBuilder {
            request: Request::new(method, uri),
        }
    }

    /// Adds a Via on top of any existing ones.
    pub fn via(mut self, via: &Via) -> Self {
        self.request
            .headers
            .push_front(HeaderName::Via, via.to_string());
        self
    }

    /// Sets From (RFC 3261 §8.1.1.3); a UAC puts its new tag in `from`'s params.
    pub fn from(mut self, from: &NameAddr) -> Self {
        self.request.headers.set(HeaderName::From, from.to_string());
        self
    }

    /// Sets To (RFC 3261 §8.1.1.2): no tag outside a dialog, the remote tag inside one.
    pub fn to(mut self, to: &NameAddr) -> Self {
        self.request.headers.set(HeaderName::To, to.to_string());
        self
    }

    /// Sets Call-ID (RFC 3261 §8.1.1.4): a globally unique `word[@word]`, the same for
    /// every request of a dialog or registration.
    pub fn call_id(mut self, call_id: &str) -> Self {
        self.request.headers.set(HeaderName::CallId, call_id);
        self
    }

    /// CSeq with this request's method (RFC 3261 §8.1.1.5).
    pub fn cseq(mut self, seq: u32) -> Self {
        let cseq = CSeq {
            seq,
            method: self.request.method.clone(),
        };
        self.request.headers.set(HeaderName::CSeq, cseq.to_string());
        self
    }

    /// Sets Max-Forwards (RFC 3261 §8.1.1.6; a UAC starts at 70).
    pub fn max_forwards(mut self, hops: u8) -> Self {
        self.request
            .headers
            .set(HeaderName::MaxForwards, hops.to_string());
        self
    }

    /// Appends a Contact (RFC 3261 §8.1.1.8): where the peer sends later requests; required
    /// in an INVITE.
    pub fn contact(mut self, contact: &NameAddr) -> Self {
        self.request
            .headers
            .push(HeaderName::Contact, contact.to_string());
        self
    }

    /// Appends a Route (RFC 3261 §8.1.1.1, §12.2.1.1); call in route-set order.
    pub fn route(mut self, route: &NameAddr) -> Self {
        self.request
            .headers
            .push(HeaderName::Route, route.to_string());
        self
    }

    /// Any other header, appended.
    pub fn header(mut self, name: impl Into<HeaderName>, value: impl Into<String>) -> Self {
        self.request.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.request
            .headers
            .set(HeaderName::ContentType, content_type);
        self.request.body = body.into();
        self
    }

    /// The request. Nothing is checked: missing mandatory headers are the caller's
    /// concern ([`super::validate_request`] tells what a UAS would reject).
    pub fn build(self) -> Request {
        self.request
    }
}

impl Request {
    /// A [`RequestBuilder`] for a request of `method` to `uri`.
    pub fn builder(method: Method, uri: Uri) -> RequestBuilder {
        RequestBuilder::new(method, uri)
    }

    /// Headers every request derived from `self` keeps: Request-URI, the top Via only,
    /// From, Call-ID, the CSeq number with `method`, Route and Max-Forwards.
    fn derived(&self, method: Method, to: Option<&str>) -> Request {
        let mut r = Request::new(method.clone(), self.uri.clone());
        let h = &self.headers;
        if let Some(via) = h.get(HeaderName::Via) {
            r.headers.push(HeaderName::Via, via);
        }
        if let Some(mf) = h.get(HeaderName::MaxForwards) {
            r.headers.push(HeaderName::MaxForwards, mf);
        }
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            let value = match (&name, to) {
                (HeaderName::To, Some(to)) => Some(to),
                _ => h.get(name.clone()),
            };
            if let Some(v) = value {
                r.headers.push(name, v);
            }
        }
        if let Ok(cseq) = h.cseq() {
            let cseq = CSeq {
                seq: cseq.seq,
                method,
            };
            r.headers.push(HeaderName::CSeq, cseq.to_string());
        }
        for route in h.get_all(HeaderName::Route) {
            r.headers.push(HeaderName::Route, route);
        }
        // RFC 3261 §22.1 (RFC-CHECKLIST 10.12): the ACK for a non-2xx and the CANCEL carry
        // the INVITE's credentials unchanged (CANCEL is never challenged itself).
        for name in [HeaderName::Authorization, HeaderName::ProxyAuthorization] {
            for v in h.get_all(name.clone()) {
                r.headers.push(name.clone(), v);
            }
        }
        r
    }

    /// The CANCEL for this request (RFC 3261 §9.1): same Request-URI, Call-ID, To, From,
    /// CSeq number and Route; one Via equal to the request's top Via.
    pub fn cancel(&self) -> Request {
        self.derived(Method::Cancel, None)
    }

    /// The ACK the INVITE client transaction sends for a non-2xx final `response`
    /// (RFC 3261 §17.1.1.3): as the INVITE, but To taken from the response (it carries
    /// the tag) and CSeq method ACK. (An ACK for a 2xx is a new transaction built by the
    /// dialog, §13.2.2.4.)
    pub fn ack_for_non_2xx(&self, response: &Response) -> Request {
        self.derived(Method::Ack, response.headers.get(HeaderName::To))
    }
}

impl Response {
    /// A response to `request` per RFC 3261 §8.2.6.2: Via (all, in order), From, To,
    /// Call-ID and CSeq copied; for 100 also Timestamp (§8.2.6.1). Add the To tag with
    /// [`Response::with_to_tag`].
    pub fn for_request(request: &Request, status: u16, reason: &str) -> Response {
        let mut response = Response::new(status, reason);
        let mut copy = |name: HeaderName| {
            for v in request.headers.get_all(name.clone()) {
                response.headers.push(name.clone(), v);
            }
        };
        copy(HeaderName::Via);
        copy(HeaderName::From);
        copy(HeaderName::To);
        copy(HeaderName::CallId);
        copy(HeaderName::CSeq);
        if status == 100 {
            copy(HeaderName::Timestamp);
        }
        response
    }

    /// Adds `;tag=` to To when it has none (RFC 3261 §8.2.6.2: a UAS adds a tag to every
    /// response except 100; an existing tag is kept, §12.2.2 in-dialog requests).
    pub fn with_to_tag(mut self, tag: &str) -> Response {
        if let Some(to) = self.headers.get_mut(HeaderName::To) {
            if let Ok(mut addr) = to.parse::<NameAddr>() {
                if addr.tag().is_none() {
                    addr.params.set("tag", Some(tag));
                    *to = addr.to_string();
                }
            }
        }
        self
    }

    /// Copies the request's Record-Route values in order: a UAS does this in every
    /// response that creates a dialog (RFC 3261 §12.1.1).
    pub fn with_record_routes_from(mut self, request: &Request) -> Response {
        for v in request.headers.get_all(HeaderName::RecordRoute) {
            self.headers.push(HeaderName::RecordRoute, v);
        }
        self
    }

    /// Appends any header.
    pub fn with_header(
        mut self,
        name: impl Into<HeaderName>,
        value: impl Into<String>,
    ) -> Response {
        self.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::host::Host;
    use super::super::via::Transport;
    use super::*;

    fn invite() -> Request {
        let via = Via::new(
            Transport::Udp,
            Host::Ipv4("192.0.2.10".parse().unwrap()),
            Some(5060),
            "z9hG4bKabc",
        );
        Request::builder(Method::Invite, "sip:bob@example.com".parse().unwrap())
            .via(&via)
            .max_forwards(70)
            .from(&"<sip:alice@example.com>;tag=a1".parse().unwrap())
            .to(&"<sip:bob@example.com>".parse().unwrap())
            .call_id("call-1@192.0.2.10")
            .cseq(1)
            .route(&"<sip:edge.example.com;lr>".parse().unwrap())
            .header("Timestamp", "54")
            .header("Proxy-Authorization", "Digest username=\"a\", realm=\"r\"")
            .header("Record-Route", "<sip:p1.example.com;lr>")
            .header("Record-Route", "<sip:p2.example.com;lr>")
            .body("application/sdp", b"v=0\r\n".to_vec())
            .build()
    }

    #[test]
    fn builder_and_response_copy_rules() {
        let req = invite();
        assert_eq!(req.headers.cseq().unwrap().method, Method::Invite);
        let ringing = Response::for_request(&req, 180, "Ringing").with_to_tag("b2");
        assert_eq!(ringing.headers.to_addr().unwrap().tag(), Some("b2"));
        assert_eq!(ringing.headers.get("Via"), req.headers.get("Via"));
        assert_eq!(ringing.headers.call_id().unwrap(), "call-1@192.0.2.10");
        assert!(!ringing.headers.contains("Timestamp"));
        assert!(!ringing.headers.contains("Record-Route"));
        let ok = Response::for_request(&req, 200, "OK").with_record_routes_from(&req);
        let rr: Vec<&str> = ok.headers.get_all("Record-Route").collect();
        assert_eq!(
            rr,
            vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert!(!ringing.headers.contains("Content-Type"));
        let trying = Response::for_request(&req, 100, "Trying");
        assert_eq!(trying.headers.get("Timestamp"), Some("54"));
        let cancel = req.cancel();
        assert_eq!(cancel.uri, req.uri);
        assert_eq!(
            cancel.headers.cseq().unwrap(),
            CSeq {
                seq: 1,
                method: Method::Cancel
            }
        );
        assert_eq!(cancel.headers.count(HeaderName::Via), 1);
        assert_eq!(cancel.headers.get("Via"), req.headers.get("Via"));
        assert_eq!(cancel.headers.get("To"), req.headers.get("To"));
        assert!(cancel.body.is_empty() && !cancel.headers.contains("Content-Type"));
        assert_eq!(
            cancel.headers.get("Route"),
            Some("<sip:edge.example.com;lr>")
        );
        assert!(!cancel.headers.contains("Record-Route"));
        assert_eq!(
            cancel.headers.get("Proxy-Authorization"),
            req.headers.get("Proxy-Authorization")
        );
        let busy = Response::for_request(&req, 486, "Busy Here").with_to_tag("t9");
        let ack = req.ack_for_non_2xx(&busy);
        assert_eq!(ack.headers.to_addr().unwrap().tag(), Some("t9"));
        assert_eq!(
            ack.headers.cseq().unwrap(),
            CSeq {
                seq: 1,
                method: Method::Ack
            }
        );
        assert_eq!(ack.headers.top_via().unwrap().branch(), Some("z9hG4bKabc"));
        assert_eq!(
            ack.headers.get("Proxy-Authorization"),
            Some("Digest username=\"a\", realm=\"r\"")
        );
        let tagged = ringing.clone().with_to_tag("other");
        assert_eq!(tagged.headers.to_addr().unwrap().tag(), Some("b2"));
    }
}
