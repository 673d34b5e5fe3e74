//! Following 3xx responses to our INVITE (RFC 3261 §8.1.3.4), sans-IO: one endpoint,
//! responses written by hand, virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::endpoint::{Body, DialogId, Endpoint, EndpointConfig, SipEvent, TerminationReason};
use sip::message::{parse_datagram, HeaderName, Message, Request};

const ALICE: &str = "127.0.0.1:5070";
const BOB: &str = "sip:bob@127.0.0.1:5080";
/// Where `BOB` is reached: the first INVITE goes there.
const BOB_ADDR: &str = "127.0.0.1:5080";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn offer() -> Body {
    Body::new(
        "application/sdp",
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n".to_vec(),
    )
}

fn alice(max_redirects: u8) -> Endpoint {
    let mut config = EndpointConfig::new("sip:alice@127.0.0.1");
    config.udp_local = Some(addr(ALICE));
    config.max_redirects = max_redirects;
    Endpoint::with_seed(config, 7)
}

/// Every transmit queued now, parsed as requests, with their destinations.
fn sent_requests(ep: &mut Endpoint) -> Vec<(SocketAddr, Request)> {
    let mut out = Vec::new();
    while let Some(tx) = ep.poll_transmit() {
        match parse_datagram(&tx.bytes).expect("we send parseable messages") {
            Message::Request(r) => out.push((tx.dest, r)),
            Message::Response(r) => panic!("unexpected response {}", r.status),
        }
    }
    out
}

fn events(ep: &mut Endpoint) -> Vec<SipEvent> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

/// A response to `request` with a To tag and the given extra header lines.
fn response(request: &Request, status: u16, reason: &str, extra: &[&str]) -> Vec<u8> {
    let h = &request.headers;
    let mut text = format!("SIP/2.0 {status} {reason}\r\n");
    for via in h.get_all(HeaderName::Via) {
        text += &format!("Via: {via}\r\n");
    }
    text += &format!("From: {}\r\n", h.get(HeaderName::From).unwrap());
    text += &format!("To: {};tag=uas{status}\r\n", h.get(HeaderName::To).unwrap());
    text += &format!("Call-ID: {}\r\n", h.get(HeaderName::CallId).unwrap());
    text += &format!("CSeq: {}\r\n", h.get(HeaderName::CSeq).unwrap());
    for line in extra {
        text += line;
        text += "\r\n";
    }
    text += "Content-Length: 0\r\n\r\n";
    text.into_bytes()
}

fn deliver(ep: &mut Endpoint, now: Instant, from: SocketAddr, bytes: &[u8]) {
    ep.handle_datagram(now, addr(ALICE), from, bytes);
}

/// The peer at `from` answers `request` with `status` and the given extra header lines.
fn respond(
    ep: &mut Endpoint,
    now: Instant,
    from: SocketAddr,
    request: &Request,
    (status, reason): (u16, &str),
    extra: &[&str],
) {
    deliver(ep, now, from, &response(request, status, reason, extra));
}

/// Alice (following at most `max_redirects`) calls Bob, who answers the INVITE with
/// `status` and the given extra header lines; returns Alice, the time and the INVITE.
fn call_bob_who_answers(
    max_redirects: u8,
    status: (u16, &str),
    extra: &[&str],
) -> (Endpoint, Instant, Request) {
    let t0 = Instant::now();
    let mut ep = alice(max_redirects);
    let (_, invite) = start(&mut ep, t0);
    respond(&mut ep, t0, addr(BOB_ADDR), &invite, status, extra);
    (ep, t0, invite)
}

/// The methods of every request queued now, in order.
fn sent_methods(ep: &mut Endpoint) -> Vec<String> {
    sent_requests(ep)
        .iter()
        .map(|(_, r)| r.method.to_string())
        .collect()
}

fn branch(request: &Request) -> String {
    request
        .headers
        .top_via()
        .unwrap()
        .branch()
        .unwrap()
        .to_owned()
}

fn cseq(request: &Request) -> u32 {
    request.headers.cseq().unwrap().seq
}

/// Alice calls Bob; returns the call and the INVITE as sent.
fn start(ep: &mut Endpoint, now: Instant) -> (DialogId, Request) {
    let call = ep.invite(now, BOB, Some(offer())).unwrap();
    let mut sent = sent_requests(ep);
    assert_eq!(sent.len(), 1);
    let (dest, invite) = sent.remove(0);
    assert_eq!(dest, addr(BOB_ADDR));
    (call, invite)
}

/// The only INVITE among `sent`, after the ACK for the previous final response.
fn ack_then_invite(sent: Vec<(SocketAddr, Request)>, acked: &Request) -> (SocketAddr, Request) {
    let methods: Vec<&str> = sent.iter().map(|(_, r)| r.method.as_str()).collect();
    assert_eq!(methods, ["ACK", "INVITE"], "ACK for the non-2xx goes first");
    // RFC 3261 §17.1.1.3: the ACK for a non-2xx has the INVITE's branch.
    assert_eq!(branch(&sent[0].1), branch(acked));
    sent.into_iter().nth(1).unwrap()
}

fn redirected(events: &[SipEvent]) -> Vec<(u16, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            SipEvent::CallRedirected {
                status, from, to, ..
            } => Some((*status, from.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

fn terminated(events: &[SipEvent]) -> Option<TerminationReason> {
    events.iter().find_map(|e| match e {
        SipEvent::DialogTerminated { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// The status and reason the call was rejected with; fails unless it was rejected.
fn rejection(events: &[SipEvent]) -> (u16, String) {
    match terminated(events) {
        Some(TerminationReason::Rejected { status, reason }) => (status, reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_302_goes_to_the_highest_q_contact_then_the_next_after_a_404() {
    let t0 = Instant::now();
    let mut ep = alice(5);
    let (call, invite) = start(&mut ep, t0);
    let bob = addr(BOB_ADDR);
    let moved = response(
        &invite,
        302,
        "Moved Temporarily",
        &[
            "Contact: <sip:carol@127.0.0.1:5090>;q=0.5",
            "Contact: <sip:dave@127.0.0.1:5091;method=INVITE?Subject=hi>;q=0.9, <sip:erin@127.0.0.1:5092>;q=0.5",
        ],
    );
    deliver(&mut ep, t0, bob, &moved);
    let (dest, second) = ack_then_invite(sent_requests(&mut ep), &invite);
    // Highest q first; method-param and headers are not copied (RFC 3261 §8.1.3.4).
    assert_eq!(dest, addr("127.0.0.1:5091"));
    assert_eq!(second.uri.to_string(), "sip:dave@127.0.0.1:5091");
    // A new transaction: new branch, CSeq higher, same Call-ID and From tag, To without
    // tag, the same offer.
    assert_ne!(branch(&second), branch(&invite));
    assert!(cseq(&second) > cseq(&invite));
    assert_eq!(
        second.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_eq!(
        second.headers.from_addr().unwrap(),
        invite.headers.from_addr().unwrap()
    );
    let to = second.headers.to_addr().unwrap();
    assert_eq!(to.tag(), None);
    assert_eq!(to.uri, invite.headers.to_addr().unwrap().uri);
    assert_eq!(second.body, invite.body);
    assert_eq!(
        redirected(&events(&mut ep)),
        [(302, BOB.to_owned(), "sip:dave@127.0.0.1:5091".to_owned())]
    );

    // Dave is not there: the next contact (q=0.5, Carol before Erin as listed).
    let t1 = t0 + Duration::from_millis(100);
    respond(&mut ep, t1, dest, &second, (404, "Not Found"), &[]);
    let (dest, third) = ack_then_invite(sent_requests(&mut ep), &second);
    assert_eq!(dest, addr("127.0.0.1:5090"));
    assert_eq!(third.uri.to_string(), "sip:carol@127.0.0.1:5090");
    assert!(cseq(&third) > cseq(&second));
    assert_ne!(branch(&third), branch(&second));
    let evs = events(&mut ep);
    assert_eq!(
        redirected(&evs),
        [(
            404,
            "sip:dave@127.0.0.1:5091".to_owned(),
            "sip:carol@127.0.0.1:5090".to_owned()
        )]
    );
    assert_eq!(terminated(&evs), None, "the call goes on");

    // Carol answers: the call is answered under the same dialog id.
    let mut ok = response(&third, 200, "OK", &["Contact: <sip:carol@127.0.0.1:5090>"]);
    let ok_text = String::from_utf8(ok.clone()).unwrap().replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n",
    );
    ok = ok_text.into_bytes();
    deliver(&mut ep, t1, dest, &ok);
    let evs = events(&mut ep);
    assert!(evs
        .iter()
        .any(|e| matches!(e, SipEvent::CallAnswered { dialog, .. } if *dialog == call)));
    let acks = sent_requests(&mut ep);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].1.method.as_str(), "ACK");
    assert_eq!(acks[0].0, addr("127.0.0.1:5090"));
    assert_eq!(cseq(&acks[0].1), cseq(&third));
}

#[test]
fn a_redirect_back_to_a_tried_target_is_a_loop_and_fails() {
    let (mut ep, t0, invite) = call_bob_who_answers(
        5,
        (302, "Moved Temporarily"),
        &["Contact: <sip:carol@127.0.0.1:5090>"],
    );
    let (dest, second) = ack_then_invite(sent_requests(&mut ep), &invite);
    events(&mut ep);
    // Carol sends us back to Bob (the same target, spelled with an explicit transport):
    // never the same target twice.
    respond(
        &mut ep,
        t0,
        dest,
        &second,
        (301, "Moved Permanently"),
        &["Contact: <sip:bob@127.0.0.1:5080;transport=UDP>"],
    );
    assert_eq!(sent_methods(&mut ep), ["ACK"], "no INVITE back to Bob");
    let evs = events(&mut ep);
    assert!(redirected(&evs).is_empty());
    let (status, reason) = rejection(&evs);
    assert_eq!(status, 301);
    assert!(reason.contains("redirect loop"), "{reason}");
}

#[test]
fn a_chain_of_redirects_stops_at_the_limit() {
    let t0 = Instant::now();
    let mut ep = alice(5);
    let (_, mut current) = start(&mut ep, t0);
    let mut dest = addr(BOB_ADDR);
    for hop in 0..5u16 {
        let contact = format!("Contact: <sip:u{hop}@127.0.0.1:{}>", 6000 + hop);
        let moved = (302, "Moved Temporarily");
        respond(&mut ep, t0, dest, &current, moved, &[&contact]);
        let (d, next) = ack_then_invite(sent_requests(&mut ep), &current);
        assert_eq!(d.port(), 6000 + hop);
        assert_eq!(redirected(&events(&mut ep)).len(), 1);
        dest = d;
        current = next;
    }
    // The sixth 3xx: five redirects were followed already.
    respond(
        &mut ep,
        t0,
        dest,
        &current,
        (302, "Moved Temporarily"),
        &["Contact: <sip:last@127.0.0.1:7000>"],
    );
    assert_eq!(sent_methods(&mut ep), ["ACK"]);
    let (status, reason) = rejection(&events(&mut ep));
    assert_eq!(status, 302);
    assert!(reason.contains("5 redirect(s) already"), "{reason}");
}

#[test]
fn the_limit_also_bounds_contacts_tried_after_failures() {
    let (mut ep, t0, invite) = call_bob_who_answers(
        2,
        (300, "Multiple Choices"),
        &["Contact: <sip:a@127.0.0.1:6001>, <sip:b@127.0.0.1:6002>, <sip:c@127.0.0.1:6003>"],
    );
    let (dest, second) = ack_then_invite(sent_requests(&mut ep), &invite);
    respond(&mut ep, t0, dest, &second, (486, "Busy Here"), &[]);
    let (dest, third) = ack_then_invite(sent_requests(&mut ep), &second);
    assert_eq!(dest.port(), 6002);
    respond(&mut ep, t0, dest, &third, (480, "Unavailable"), &[]);
    assert_eq!(
        sent_methods(&mut ep),
        ["ACK"],
        "no third redirect with a limit of 2"
    );
    assert_eq!(rejection(&events(&mut ep)).0, 480);
}

#[test]
fn a_3xx_without_a_usable_contact_fails_with_the_reason() {
    for (contacts, expected) in [
        (vec![], "no usable Contact"),
        (vec!["Contact: <tel:+15551234>"], "not a sip:/sips: URI"),
    ] {
        let moved = (302, "Moved Temporarily");
        let (mut ep, _, _) = call_bob_who_answers(5, moved, &contacts);
        assert_eq!(sent_methods(&mut ep), ["ACK"]);
        let (status, reason) = rejection(&events(&mut ep));
        assert_eq!(status, 302);
        assert!(reason.contains("no usable Contact"), "{reason}");
        assert!(reason.contains(expected), "{reason}");
    }
}

#[test]
fn a_sips_call_is_never_redirected_to_sip() {
    let t0 = Instant::now();
    let mut ep = alice(5);
    // The 3xx handling is reached through an outbound proxy over TLS (RFC 3261 §26.2.2: a
    // sips: call goes nowhere else).
    let proxy = addr("127.0.0.1:5061");
    let mut config = ep.config().clone();
    config.tls_local = Some(addr(ALICE));
    config.outbound_proxy = Some(sip::endpoint::NextHop {
        transport: sip::endpoint::TransportKind::Tls,
        addr: proxy,
    });
    ep = Endpoint::with_seed(config, 7);
    let conn = sip::endpoint::ConnId(1);
    ep.stream_opened(
        conn,
        sip::endpoint::TransportKind::Tls,
        addr("127.0.0.1:40000"),
        proxy,
    );
    ep.invite(t0, "sips:bob@example.com", Some(offer()))
        .unwrap();
    let (_, invite) = sent_requests(&mut ep).remove(0);
    let moved = response(
        &invite,
        302,
        "Moved Temporarily",
        &["Contact: <sip:bob@192.0.2.7>, <sips:bob@192.0.2.8>;q=0.1"],
    );
    ep.handle_stream(t0, conn, &moved);
    let (_, second) = ack_then_invite(sent_requests(&mut ep), &invite);
    assert_eq!(second.uri.to_string(), "sips:bob@192.0.2.8");
}

#[test]
fn use_proxy_and_disabled_following_fail_naming_the_contact() {
    for (max, status, expected) in [
        (5, 305, "RFC 3261 §21.3.6"),
        (0, 302, "redirect not followed"),
    ] {
        let (mut ep, _, _) = call_bob_who_answers(
            max,
            (status, "Moved"),
            &["Contact: <sip:proxy@127.0.0.1:5099>"],
        );
        let sent = sent_requests(&mut ep);
        assert_eq!(sent.len(), 1, "only the ACK");
        let (s, reason) = rejection(&events(&mut ep));
        assert_eq!(s, status);
        assert!(reason.contains(expected), "{reason}");
        assert!(reason.contains("sip:proxy@127.0.0.1:5099"), "{reason}");
    }
}

#[test]
fn a_silent_redirect_target_times_out_and_the_next_is_tried() {
    let (mut ep, t0, invite) = call_bob_who_answers(
        5,
        (302, "Moved Temporarily"),
        &["Contact: <sip:a@127.0.0.1:6001>, <sip:b@127.0.0.1:6002>"],
    );
    let (dest, _) = ack_then_invite(sent_requests(&mut ep), &invite);
    assert_eq!(dest.port(), 6001);
    events(&mut ep);
    // Nobody answers at 6001: retransmissions, then Timer B (64·T1 = 32 s).
    let mut next = None;
    let mut now = t0;
    for _ in 0..100 {
        let Some(t) = ep.poll_timeout() else { break };
        now = t;
        ep.handle_timeout(now);
        let invites: Vec<(SocketAddr, Request)> = sent_requests(&mut ep)
            .into_iter()
            .filter(|(d, _)| d.port() == 6002)
            .collect();
        if let Some(first) = invites.into_iter().next() {
            next = Some(first);
            break;
        }
    }
    let (_, third) = next.expect("an INVITE to the next contact");
    assert_eq!(third.uri.to_string(), "sip:b@127.0.0.1:6002");
    assert!(now >= t0 + Duration::from_secs(32));
    let evs = events(&mut ep);
    assert_eq!(redirected(&evs)[0].0, 408);
}
