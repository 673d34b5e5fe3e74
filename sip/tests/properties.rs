//! Property tests: generated messages survive serialize→parse, stream framing does not
//! depend on how bytes are split, and arbitrary bytes never panic either parser.

use proptest::prelude::*;
use sip::message::{
    parse_datagram, HeaderName, Host, Message, Method, NameAddr, Request, Response, SipUri,
    StreamDecoder, StreamEvent, Transport, Uri, Via,
};

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Register),
        Just(Method::Options),
        Just(Method::Update),
        Just(Method::Info),
        Just(Method::Prack),
        Just(Method::Subscribe),
        Just(Method::Notify),
        Just(Method::Refer),
        Just(Method::Message),
        "[A-Z][A-Z0-9_.!%*+~-]{0,11}".prop_map(|m| m.parse::<Method>().unwrap()),
    ]
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}".prop_map(Host::Domain),
        any::<[u8; 4]>().prop_map(|o| Host::Ipv4(o.into())),
        any::<[u16; 8]>().prop_map(|s| Host::Ipv6(s.into())),
    ]
}

fn sip_uri() -> impl Strategy<Value = Uri> {
    (
        proptest::option::of("[a-zA-Z0-9._+-]{1,12}"),
        host(),
        proptest::option::of(any::<u16>()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(user, host, port, lr, secure)| {
            let mut u = SipUri::new(user.as_deref(), host);
            u.port = port;
            u.secure = secure;
            if lr {
                u.params.set("lr", None);
            }
            Uri::Sip(u)
        })
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    (
        sip_uri(),
        proptest::option::of("[ -~]{0,16}"),
        proptest::option::of("[a-zA-Z0-9]{1,10}"),
    )
        .prop_map(|(uri, display, tag)| {
            let mut a = NameAddr::new(uri);
            a.display_name = display;
            if let Some(t) = tag {
                a.params.set("tag", Some(&t));
            }
            a
        })
}

fn via() -> impl Strategy<Value = Via> {
    (
        host(),
        proptest::option::of(1u16..),
        "[a-zA-Z0-9]{1,12}",
        any::<bool>(),
    )
        .prop_map(|(host, port, branch, rport)| {
            let mut v = Via::new(Transport::Udp, host, port, &format!("z9hG4bK{branch}"));
            if rport {
                v.params.set("rport", None);
            }
            v
        })
}

prop_compose! {
    fn request()(
        method in method(),
        uri in sip_uri(),
        vias in proptest::collection::vec(via(), 1..4),
        from in name_addr(),
        to in name_addr(),
        call_id in "[a-zA-Z0-9.@-]{1,30}",
        seq in any::<u32>(),
        extra in proptest::collection::vec(("X-[A-Za-z]{1,8}", "[!-~]([ -~]{0,20}[!-~])?"), 0..3),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) -> Request {
        let mut b = Request::builder(method, uri)
            .from(&from)
            .to(&to)
            .call_id(&call_id)
            .cseq(seq)
            .max_forwards(70);
        for v in vias.iter().rev() {
            b = b.via(v);
        }
        for (n, v) in extra {
            b = b.header(n.as_str(), v);
        }
        if !body.is_empty() {
            b = b.body("application/octet-stream", body);
        }
        b.build()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn request_round_trips(req in request()) {
        let parsed = parse_datagram(&req.to_bytes()).unwrap();
        let Message::Request(back) = parsed else { panic!("became a response") };
        prop_assert_eq!(&back.method, &req.method);
        prop_assert_eq!(&back.uri, &req.uri);
        prop_assert_eq!(&back.body, &req.body);
        prop_assert_eq!(back.headers.vias().unwrap(), req.headers.vias().unwrap());
        prop_assert_eq!(back.headers.from_addr().unwrap(), req.headers.from_addr().unwrap());
        prop_assert_eq!(back.headers.to_addr().unwrap(), req.headers.to_addr().unwrap());
        prop_assert_eq!(back.headers.cseq().unwrap(), req.headers.cseq().unwrap());
        prop_assert_eq!(back.headers.content_length().unwrap(), Some(req.body.len()));
        let without_cl = |r: &Request| r.headers.iter().filter(|h| h.name != HeaderName::ContentLength).cloned().collect::<Vec<_>>();
        prop_assert_eq!(without_cl(&back), without_cl(&req));
    }

    #[test]
    fn response_round_trips(req in request(), status in 100u16..700, reason in "[ -~]{0,20}") {
        let resp = Response::for_request(&req, status, &reason).with_to_tag("t1");
        let Message::Response(back) = parse_datagram(&resp.to_bytes()).unwrap() else { panic!("became a request") };
        prop_assert_eq!(back.status, status);
        prop_assert_eq!(&back.reason, &reason);
        let mut expected = resp.headers.clone();
        expected.push(HeaderName::ContentLength, resp.body.len().to_string());
        prop_assert_eq!(back.headers, expected);
    }

    #[test]
    fn stream_framing_ignores_split_points(
        reqs in proptest::collection::vec(request(), 1..4),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for r in &reqs {
            r.encode_into(&mut wire);
            wire.extend_from_slice(b"\r\n\r\n");
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len())).collect();
        points.sort_unstable();
        let mut decoder = StreamDecoder::new(1 << 20);
        let mut events = Vec::new();
        let mut start = 0;
        for p in points.into_iter().chain([wire.len()]) {
            decoder.push(&wire[start..p]);
            start = p;
            while let Some(e) = decoder.next_event().unwrap() {
                events.push(e);
            }
        }
        let expected: Vec<StreamEvent> = reqs
            .iter()
            .flat_map(|r| [StreamEvent::Message(Message::Request(r.clone())), StreamEvent::KeepalivePing])
            .collect();
        // A ping split in two CRLFs is reported as a pong then a ping (see StreamDecoder);
        // drop those pongs, no other pong was sent.
        let events: Vec<StreamEvent> = events.into_iter().filter(|e| *e != StreamEvent::KeepalivePong).collect();
        // Content-Length was added on output; compare ignoring it.
        prop_assert_eq!(events.len(), expected.len());
        for (got, want) in events.iter().zip(&expected) {
            match (got, want) {
                (StreamEvent::Message(Message::Request(g)), StreamEvent::Message(Message::Request(w))) => {
                    prop_assert_eq!(&g.body, &w.body);
                    prop_assert_eq!(&g.method, &w.method);
                    prop_assert_eq!(g.headers.len(), w.headers.len() + 1);
                }
                (g, w) => prop_assert_eq!(g, w),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(msg) = parse_datagram(&bytes) {
            // Whatever parsed can be written and read again.
            let _ = parse_datagram(&msg.to_bytes());
            let h = msg.headers();
            let _ = (h.vias(), h.from_addr(), h.to_addr(), h.cseq(), h.contacts(), h.content_type(), h.retry_after());
        }
        let _ = sip::message::salvage_headers(&bytes);
        let mut d = StreamDecoder::new(512);
        for chunk in bytes.chunks(13) {
            d.push(chunk);
            while let Ok(Some(_)) = d.next_event() {}
        }
        prop_assert!(d.buffered() <= 512 + 13);
    }

    #[test]
    fn sip_like_garbage_never_panics(
        lines in proptest::collection::vec("[A-Za-z:;,<>\"@ \\[\\]0-9./=%-]{0,40}", 0..12),
        start in prop_oneof![Just("INVITE sip:a@b SIP/2.0"), Just("SIP/2.0 200 OK"), Just("X y z")],
    ) {
        let text = format!("{start}\r\n{}\r\n\r\n", lines.join("\r\n"));
        if let Ok(msg) = parse_datagram(text.as_bytes()) {
            let h = msg.headers();
            let _ = (h.vias(), h.from_addr(), h.to_addr(), h.cseq(), h.contacts(), h.routes(), h.accept(), h.allow());
            if let Some(req) = msg.as_request() {
                let _ = sip::message::validate_request(req, &Default::default());
            }
        }
    }
}
