//! Symmetric response routing (RFC 3581) and `received` (RFC 3261 §18.2.1).

use std::net::SocketAddr;

use super::error::ParseError;
use super::header_name::HeaderName;
use super::model::{Request, Response};
use super::via::Via;

/// Server side, on receipt of a request from `source`: RFC 3581 §4 — when the top Via
/// has `rport`, fill it with the source port and always add `received` with the source
/// IP. Without `rport`, RFC 3261 §18.2.1 adds `received` only when sent-by differs
/// from the source address.
pub fn fill_received_rport(request: &mut Request, source: SocketAddr) -> Result<(), ParseError> {
    let mut via = request.headers.top_via()?;
    let ip = source.ip().to_string();
    if via.has_rport() {
        via.params.set("rport", Some(&source.port().to_string()));
        via.params.set("received", Some(&ip));
    } else if via.host.ip() != Some(source.ip()) {
        via.params.set("received", Some(&ip));
    }
    if let Some(top) = request.headers.get_mut(HeaderName::Via) {
        *top = via.to_string();
    }
    Ok(())
}

/// Where a server sends the response to a request (RFC 3581 §4, RFC 3261 §18.2.2 for
/// unreliable transports): `received`:`rport` when rport was filled, else `received`
/// (or sent-by when it is an IP) with the sent-by port.
pub fn response_destination(top_via: &Via) -> Option<SocketAddr> {
    let ip = top_via.received().or_else(|| top_via.host.ip())?;
    let port = top_via.rport().unwrap_or_else(|| top_via.port_or_default());
    Some(SocketAddr::new(ip, port))
}

/// Client side, RFC 3581 §3: the public address the server saw for us, read from the
/// top Via of a response. `None` when the server did not fill `received` and `rport`.
pub fn learned_public_address(response: &Response) -> Option<SocketAddr> {
    response.headers.top_via().ok()?.learned_address()
}

#[cfg(test)]
mod tests {
    use super::super::method::Method;
    use super::*;

    fn request(via: &str) -> Request {
        let mut r = Request::new(Method::Options, "sip:a@example.com".parse().unwrap());
        r.headers.push("Via", via);
        r.headers
            .push("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp");
        r
    }

    #[test]
    fn rport_filled_and_received_always_added() {
        let mut r = request("SIP/2.0/UDP [2001:db8::5]:5060;rport;branch=z9hG4bK1");
        let src: SocketAddr = "[2001:db8::5]:41000".parse().unwrap();
        fill_received_rport(&mut r, src).unwrap();
        let via = r.headers.top_via().unwrap();
        assert_eq!(via.rport(), Some(41000));
        assert_eq!(via.received(), Some(src.ip()));
        assert_eq!(response_destination(&via), Some(src));
        assert_eq!(r.headers.count("Via"), 2);
        let resp = Response::for_request(&r, 200, "OK");
        assert_eq!(learned_public_address(&resp), Some(src));
    }

    #[test]
    fn without_rport_received_only_when_different() {
        let mut same = request("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");
        fill_received_rport(&mut same, "192.0.2.1:5060".parse().unwrap()).unwrap();
        assert!(same.headers.top_via().unwrap().received().is_none());
        let mut natted = request("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");
        fill_received_rport(&mut natted, "203.0.113.9:7000".parse().unwrap()).unwrap();
        let via = natted.headers.top_via().unwrap();
        assert_eq!(via.received(), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(via.rport(), None);
        assert_eq!(
            response_destination(&via),
            Some("203.0.113.9:5060".parse().unwrap())
        );
    }
}
