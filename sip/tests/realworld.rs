//! Fixtures named after inputs that real peers send and that rsip 0.4 failed on
//! (see ASSUMPTIONS.md "Why not rsip"). Each is parsed both as a datagram and through
//! the stream decoder, and checked for the values that matter.

use std::path::PathBuf;

use sip::message::{
    learned_public_address, parse_datagram, validate_request, Contacts, HeaderName, Host, Message,
    Method, Request, Response, StreamDecoder, StreamEvent, Transport, UasPolicy,
};

fn read(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/realworld")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses as a datagram and over a stream split into 7-byte chunks; both must agree.
fn parse_both_ways(name: &str) -> Message {
    let bytes = read(name);
    let datagram = parse_datagram(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut decoder = StreamDecoder::default();
    let mut from_stream = Vec::new();
    for chunk in bytes.chunks(7) {
        decoder.push(chunk);
        while let Some(event) = decoder
            .next_event()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        {
            from_stream.push(event);
        }
    }
    assert_eq!(
        from_stream,
        vec![StreamEvent::Message(datagram.clone())],
        "{name}"
    );
    datagram
}

fn request(name: &str) -> Request {
    match parse_both_ways(name) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("{name} is a response"),
    }
}

fn response(name: &str) -> Response {
    match parse_both_ways(name) {
        Message::Response(r) => r,
        Message::Request(_) => panic!("{name} is a request"),
    }
}

#[test]
fn compact_headers() {
    let r = request("compact-headers.sip");
    let h = &r.headers;
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bKcompact1"));
    assert_eq!(
        h.from_addr().unwrap().display_name.as_deref(),
        Some("Alice")
    );
    assert_eq!(h.to_addr().unwrap().uri.to_string(), "sip:bob@example.com");
    assert_eq!(h.call_id().unwrap(), "compact-1@192.0.2.10");
    assert_eq!(h.supported().unwrap(), vec!["replaces", "timer"]);
    assert_eq!(
        h.content_type().unwrap().unwrap().essence(),
        "application/sdp"
    );
    assert_eq!(r.body, b"v=0\n");
    // Output uses full names.
    let out = String::from_utf8(r.to_bytes()).unwrap();
    assert!(out.contains("\r\nCall-ID: compact-1@192.0.2.10\r\n"));
    assert!(out.contains("\r\nContact: <sip:alice@192.0.2.10:5060>\r\n"));
    assert!(!out.contains("\r\ni:"));
    assert_eq!(validate_request(&r, &UasPolicy::default()), Ok(()));
}

#[test]
fn folded_lines() {
    let r = request("folded-lines.sip");
    let h = &r.headers;
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bKfold1"));
    assert_eq!(h.from_addr().unwrap().tag(), Some("f1"));
    assert_eq!(h.cseq().unwrap().seq, 7);
    assert_eq!(h.cseq().unwrap().method, Method::Options);
    assert_eq!(h.get("Subject"), Some("a subject folded over three lines"));
    assert_eq!(validate_request(&r, &UasPolicy::default()), Ok(()));
}

#[test]
fn multi_value_lists() {
    let resp = response("multi-value-lists.sip");
    let h = &resp.headers;
    let vias = h.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport, Transport::Tcp);
    assert_eq!(vias[2].host, Host::Ipv6("2001:db8::7".parse().unwrap()));
    assert_eq!(vias[2].port, Some(5070));
    assert_eq!(
        learned_public_address(&resp),
        Some("203.0.113.5:40123".parse().unwrap())
    );
    let rr = h.record_routes().unwrap();
    assert_eq!(rr.len(), 2);
    assert_eq!(
        rr[1].uri.as_sip().unwrap().transport().as_deref(),
        Some("tcp")
    );
    let Contacts::List(contacts) = h.contacts().unwrap() else {
        panic!("star")
    };
    assert_eq!(
        contacts.len(),
        2,
        "the comma inside the quoted name does not split"
    );
    assert_eq!(contacts[0].display_name.as_deref(), Some("Bob, Jr."));
    assert_eq!(contacts[0].expires(), Some(60));
    assert!(contacts[1].uri.as_sip().unwrap().has_ob());
    assert_eq!(
        contacts[1].sip_instance().as_deref(),
        Some("<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>")
    );
    assert_eq!(contacts[1].reg_id(), Some(1));
    assert_eq!(h.allow().unwrap().len(), 6);
    assert!(h.allow().unwrap().contains(&Method::Update));
}

#[test]
fn ipv6_via_with_rport() {
    let mut r = request("ipv6-via-rport.sip");
    let v6: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    assert_eq!(r.uri.as_sip().unwrap().host, Host::Ipv6(v6));
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.host, Host::Ipv6("2001:db8::42".parse().unwrap()));
    assert_eq!(via.port, Some(5060));
    assert!(via.has_rport() && via.rport().is_none());
    let Contacts::List(c) = r.headers.contacts().unwrap() else {
        panic!("star")
    };
    assert_eq!(c[0].uri.as_sip().unwrap().port, Some(5060));
    assert_eq!(r.headers.expires().unwrap(), Some(600));
    let source = "[2001:db8::99]:61000".parse().unwrap();
    sip::message::fill_received_rport(&mut r, source).unwrap();
    let filled = r.headers.get(HeaderName::Via).unwrap();
    assert_eq!(
        filled,
        "SIP/2.0/UDP [2001:db8::42]:5060;rport=61000;branch=z9hG4bKv6reg;received=2001:db8::99"
    );
    let ok = Response::for_request(&r, 200, "OK");
    assert_eq!(learned_public_address(&ok), Some(source));
}

#[test]
fn unknown_method_is_answered_501_with_allow() {
    let r = request("unknown-method.sip");
    assert_eq!(r.method, Method::Extension("PUBLISHX".into()));
    let rejection = validate_request(&r, &UasPolicy::default()).unwrap_err();
    assert_eq!(rejection.status, 501);
    let resp = rejection.to_response(&r);
    assert!(resp
        .headers
        .get("Allow")
        .is_some_and(|a| a.contains("INVITE")));
    assert_eq!(
        resp.headers.cseq().unwrap().method,
        Method::Extension("PUBLISHX".into())
    );
    assert!(resp
        .to_bytes()
        .starts_with(b"SIP/2.0 501 Not Implemented\r\n"));
}

#[test]
fn lws_around_colon_and_semicolon() {
    let r = request("lws-around-colon-semicolon.sip");
    let h = &r.headers;
    let via = h.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bKlws1"));
    assert!(via.has_rport());
    assert_eq!(via.port, Some(5060));
    assert_eq!(h.max_forwards().unwrap(), Some(70));
    assert_eq!(h.from_addr().unwrap().tag(), Some("a1"));
    assert_eq!(h.call_id().unwrap(), "lws-1@192.0.2.10");
    assert_eq!(h.cseq().unwrap().seq, 2);
    assert_eq!(h.content_length().unwrap(), Some(0));
    assert_eq!(validate_request(&r, &UasPolicy::default()), Ok(()));
}
