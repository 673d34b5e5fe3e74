//! SIP over TLS on the virtual network (the driver does the handshake; the endpoint sees a
//! stream): calls by sips: and `;transport=tls`, Via and Contact, connection reuse,
//! registration flows with CRLF keepalives (RFC 5626 §4.4.1), and the rule that a sips:
//! target never goes out over anything but TLS (RFC 3261 §26.2.2).

mod events;
mod net;

use std::net::SocketAddr;
use std::time::Duration;

use events::first_incoming;
use net::{ua_config, ua_config_tls, Net, Registrar};
use sip::auth::Credentials;
use sip::endpoint::{
    Body, EndpointConfig, EndpointError, FlowFailure, NextHop, SipEvent, TerminationReason,
    TransportKind,
};

const ALICE: u16 = 5070;
const BOB: u16 = 5061;

fn offer(tag: &str) -> Body {
    Body::new(
        "application/sdp",
        format!("v=0\r\no=- {tag}\r\n").into_bytes(),
    )
}

/// Alice (node 0) and Bob (node 1, TLS on 5061, the sips: default port).
fn pair(alice: EndpointConfig) -> Net {
    let mut net = Net::new();
    net.add_ua(alice, 1);
    net.add_ua(ua_config_tls("sip:bob@127.0.0.1", BOB), 2);
    net
}

/// Alice calls `target`, Bob answers 200; returns both dialogs after the ACK.
fn call(net: &mut Net, target: &str) -> (sip::endpoint::DialogId, sip::endpoint::DialogId) {
    net.take_events(0);
    net.take_events(1);
    let now = net.now;
    let a = net.ua(0).invite(now, target, Some(offer("a1"))).unwrap();
    net.deliver();
    let incoming = first_incoming!(net.events[1], IncomingCall).expect("Bob sees the INVITE");
    let b = net.events[1]
        .iter()
        .find_map(|e| match e {
            SipEvent::IncomingCall { dialog, .. } => Some(*dialog),
            _ => None,
        })
        .unwrap();
    let now = net.now;
    net.ua(1)
        .respond(now, incoming, 200, Some(offer("b1")))
        .unwrap();
    net.deliver();
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, SipEvent::CallAnswered { dialog, .. } if *dialog == a)),
        "{:?}",
        net.events[0]
    );
    assert!(net.events[1]
        .iter()
        .any(|e| matches!(e, SipEvent::AckReceived { dialog, .. } if *dialog == b)));
    (a, b)
}

fn header<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn a_sips_call_goes_over_tls_with_sips_contacts_on_one_connection() {
    let mut net = pair(ua_config_tls("sip:alice@127.0.0.1", ALICE));
    // RFC 3261 §19.1.2: no port in a sips: URI means 5061.
    let (a, b) = call(&mut net, "sips:bob@127.0.0.1");
    let invite = net.sent_matching("INVITE")[0].clone();
    assert_eq!(invite.transmit.transport, TransportKind::Tls);
    assert_eq!(invite.transmit.dest, "127.0.0.1:5061".parse().unwrap());
    let text = invite.text();
    assert!(
        header(&text, "Via").starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{ALICE};")),
        "{text}"
    );
    // RFC 3261 §8.1.1.8: a sips: Request-URI makes the Contact sips: (no transport param).
    assert_eq!(
        header(&text, "Contact"),
        format!("<sips:alice@127.0.0.1:{ALICE}>")
    );
    let ok = net.sent_matching("SIP/2.0 200")[0].text();
    assert_eq!(
        header(&ok, "Contact"),
        format!("<sips:bob@127.0.0.1:{BOB}>")
    );
    // In-dialog requests stay on TLS: Bob's BYE to Alice's sips: Contact, Alice's to Bob's.
    let now = net.now;
    net.ua(1).bye(now, b).unwrap();
    net.deliver();
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::DialogTerminated { dialog, reason: TerminationReason::RemoteBye } if *dialog == a
    )));
    let (a2, _) = call(&mut net, "sips:bob@127.0.0.1");
    let now = net.now;
    net.ua(0).bye(now, a2).unwrap();
    net.deliver();
    assert!(
        net.wire
            .iter()
            .all(|s| s.transmit.transport == TransportKind::Tls),
        "every message over TLS"
    );
    // Connection reuse (RFC 3261 §18.1.1): Alice's INVITEs, ACKs and BYE share one
    // connection to Bob.
    let conns: std::collections::HashSet<_> = net
        .wire
        .iter()
        .filter(|s| s.from_node == 0 && s.transmit.dest.port() == BOB)
        .map(|s| s.transmit.conn)
        .collect();
    assert_eq!(conns.len(), 1, "one connection: {conns:?}");
    // Reliable transport: no retransmission.
    net.run_for(Duration::from_secs(40));
    assert_eq!(net.sent_matching("INVITE").len(), 2);
}

#[test]
fn transport_tls_selects_tls_and_a_plain_contact_says_so() {
    let mut net = pair(ua_config_tls("sip:alice@127.0.0.1", ALICE));
    call(&mut net, &format!("sip:bob@127.0.0.1:{BOB};transport=tls"));
    let invite = net.sent_matching("INVITE")[0].clone();
    assert_eq!(invite.transmit.transport, TransportKind::Tls);
    let text = invite.text();
    assert!(header(&text, "Via").starts_with("SIP/2.0/TLS "), "{text}");
    assert_eq!(
        header(&text, "Contact"),
        format!("<sip:alice@127.0.0.1:{ALICE};transport=tls>")
    );
}

#[test]
fn tls_as_default_transport_and_tcp_connections_are_never_reused_for_tls() {
    let mut alice = ua_config_tls("sip:alice@127.0.0.1", ALICE);
    alice.default_transport = TransportKind::Tls;
    let mut net = Net::new();
    net.add_ua(alice, 1);
    // Bob listens for TCP and TLS on one address.
    net.add_ua(ua_config_tls("sip:bob@127.0.0.1", 5080), 2);
    // A TCP connection to Bob exists already.
    let tcp = net.open_conn(0, "127.0.0.1:5080".parse().unwrap()).unwrap();
    call(&mut net, "sip:bob@127.0.0.1:5080");
    let invite = net.sent_matching("INVITE")[0].clone();
    assert_eq!(invite.transmit.transport, TransportKind::Tls);
    assert_ne!(
        invite.transmit.conn,
        Some(tcp),
        "TLS never rides a TCP connection"
    );
}

#[test]
fn a_sips_target_with_only_udp_fails_with_a_typed_error_and_sends_nothing() {
    let mut alice = ua_config("sip:alice@127.0.0.1", ALICE);
    alice.tcp_local = None;
    let mut net = pair(alice);
    let now = net.now;
    for target in [
        "sips:bob@127.0.0.1".to_owned(),
        format!("sip:bob@127.0.0.1:{BOB};transport=tls"),
    ] {
        let err = net
            .ua(0)
            .invite(now, &target, Some(offer("a1")))
            .unwrap_err();
        match &err {
            EndpointError::TlsRequired { uri, detail } => {
                assert_eq!(uri, &target);
                assert_eq!(detail, "no TLS transport is configured");
            }
            other => panic!("expected TlsRequired, got {other:?}"),
        }
        assert!(err.to_string().contains("RFC 3261 §26.2.2"), "{err}");
        let err = net.ua(0).options(now, &target).unwrap_err();
        assert!(matches!(err, EndpointError::TlsRequired { .. }), "{err:?}");
    }
    net.deliver();
    assert!(net.wire.is_empty(), "nothing sent: {:?}", net.wire);
    assert!(net.ua(0).dialog_ids().is_empty());
}

#[test]
fn a_sips_target_behind_a_udp_proxy_is_refused_not_downgraded() {
    let mut alice = ua_config_tls("sip:alice@127.0.0.1", ALICE);
    alice.outbound_proxy = Some(NextHop {
        transport: TransportKind::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
    });
    let mut net = pair(alice);
    net.add_registrar(Registrar::new("127.0.0.1:5060".parse().unwrap()));
    let now = net.now;
    let err = net
        .ua(0)
        .invite(now, "sips:bob@example.com", Some(offer("a1")))
        .unwrap_err();
    assert_eq!(
        err,
        EndpointError::TlsRequired {
            uri: "sips:bob@example.com".into(),
            detail: "its first hop 127.0.0.1:5060 is reached over UDP".into(),
        }
    );
    // A sip: target goes through the same proxy as before.
    net.ua(0)
        .invite(now, "sip:bob@example.com", Some(offer("a1")))
        .unwrap();
    net.deliver();
    assert!(net
        .wire
        .iter()
        .all(|s| !s.text().contains("sips:") && s.transmit.transport == TransportKind::Udp));
    assert_eq!(net.sent_matching("INVITE").len(), 1);
}

#[test]
fn a_failed_tls_handshake_fails_the_call_with_its_reason() {
    let mut net = pair(ua_config_tls("sip:alice@127.0.0.1", ALICE));
    // Nobody answers the INVITE (as when the handshake never completes).
    net.set_drop(|_| true);
    let now = net.now;
    let a = net
        .ua(0)
        .invite(now, "sips:bob@127.0.0.1", Some(offer("a1")))
        .unwrap();
    net.deliver();
    let reason = "TLS to 127.0.0.1:5061 (127.0.0.1): certificate not valid: UnknownIssuer";
    let dest: SocketAddr = "127.0.0.1:5061".parse().unwrap();
    let now = net.now;
    // A TCP failure toward the same address is not this transaction's.
    net.ua(0)
        .transport_error(now, TransportKind::Tcp, dest, "refused");
    assert!(net.ua(0).poll_event().is_none());
    net.ua(0)
        .transport_error(now, TransportKind::Tls, dest, reason);
    net.deliver();
    let failure = net.events[0]
        .iter()
        .find_map(|e| match e {
            SipEvent::DialogTerminated {
                dialog,
                reason: TerminationReason::TransportError(f),
            } if *dialog == a => Some(f.clone()),
            _ => None,
        })
        .expect("the call failed at once");
    assert_eq!(failure.transport, TransportKind::Tls);
    assert_eq!(failure.detail, reason);
    assert!(failure
        .to_string()
        .starts_with("TLS toward 127.0.0.1:5061 failed: TLS to"));
}

/// Alice registering over TLS with the registrar at 127.0.0.1:5061.
fn tls_registration(
    outbound: bool,
    keepalive: Option<Duration>,
    tweak: impl FnOnce(&mut Registrar),
) -> Net {
    let mut net = Net::new();
    let mut config = ua_config_tls("sip:alice@test.invalid", ALICE);
    config.credentials = Some(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    config.outbound_proxy = Some(NextHop {
        transport: TransportKind::Tls,
        addr: "127.0.0.1:5061".parse().unwrap(),
    });
    config.keepalive = keepalive;
    if outbound {
        config.instance_id = Some("urn:uuid:00000000-0000-4000-8000-000000000003".into());
    }
    net.add_ua(config, 7);
    let mut registrar = Registrar::new("127.0.0.1:5061".parse().unwrap());
    registrar.outbound = outbound;
    tweak(&mut registrar);
    net.add_registrar(registrar);
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, SipEvent::Registered { .. })),
        "{:?}",
        net.events[0]
    );
    net
}

#[test]
fn register_over_tls_says_tls_in_via_and_contact() {
    let mut net = tls_registration(false, None, |_| {});
    let registers = &net.registrar(1).registers;
    assert_eq!(registers.len(), 2, "challenge, then credentials");
    for (request, transport, _) in registers {
        assert_eq!(*transport, TransportKind::Tls);
        let via = request.headers.top_via().unwrap();
        assert_eq!(via.transport, sip::message::Transport::Tls);
        let contact = request.headers.get("Contact").unwrap();
        assert!(contact.contains(";transport=tls"), "{contact}");
    }
    assert!(net
        .wire
        .iter()
        .all(|s| s.transmit.transport == TransportKind::Tls));
}

#[test]
fn outbound_tls_flow_is_kept_alive_with_crlf_and_a_lost_pong_fails_it() {
    let mut net = tls_registration(true, None, |r| r.flow_timer = Some(30));
    // RFC 5626 §4.4.1: CRLFCRLF within 80-100 % of Flow-Timer, on the TLS connection.
    net.run_for(Duration::from_secs(31));
    assert_eq!(net.registrar(1).pings, 1);
    let ping = net
        .wire
        .iter()
        .find(|s| s.transmit.bytes == b"\r\n\r\n")
        .unwrap()
        .clone();
    assert_eq!(ping.transmit.transport, TransportKind::Tls);
    let register_conn = net.sent_matching("REGISTER")[0].transmit.conn;
    assert_eq!(ping.transmit.conn, register_conn);
    net.registrar(1).answer_pings = false;
    assert!(net.run_until(
        Duration::from_secs(45),
        |e| e.iter().any(|e| matches!(
            e,
            SipEvent::FlowFailed {
                reason: FlowFailure::PongTimeout,
                ..
            }
        )),
        0
    ));
}

#[test]
fn a_tls_registration_without_outbound_gets_plain_crlf_keepalives() {
    let mut net = tls_registration(false, Some(Duration::from_secs(10)), |_| {});
    net.run_for(Duration::from_secs(35));
    let pings: Vec<_> = net
        .wire
        .iter()
        .filter(|s| s.transmit.bytes == b"\r\n\r\n")
        .collect();
    assert_eq!(pings.len(), 3, "one every 10 s");
    assert!(pings
        .iter()
        .all(|p| p.transmit.transport == TransportKind::Tls && p.transmit.conn.is_some()));
}

#[test]
fn requests_over_the_tls_registration_flow_are_answered_on_it() {
    let mut net = tls_registration(true, None, |_| {});
    let register_conn = net.sent_matching("REGISTER")[0].transmit.conn;
    let invite = "INVITE sip:alice@127.0.0.1:5070;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKproxy1;rport\r\n\
         Record-Route: <sip:127.0.0.1:5061;lr;transport=tls>\r\n\
         Max-Forwards: 69\r\nFrom: <sip:carol@test.invalid>;tag=c1\r\nTo: <sip:alice@test.invalid>\r\n\
         Call-ID: tls-flow-1\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@192.0.2.50:5061;transport=tls>\r\n\
         Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n";
    net.registrar(1).send_on_flow(invite.as_bytes().to_vec());
    net.deliver();
    let incoming = first_incoming!(net.events[0], IncomingCall).expect("INVITE accepted");
    let now = net.now;
    net.ua(0)
        .respond(now, incoming, 200, Some(offer("a2")))
        .unwrap();
    net.deliver();
    let ok = net
        .sent_matching("SIP/2.0 200")
        .into_iter()
        .find(|s| s.from_node == 0)
        .unwrap()
        .clone();
    assert_eq!(ok.transmit.transport, TransportKind::Tls);
    assert_eq!(ok.transmit.conn, register_conn, "answered on the flow");
    assert!(header(&ok.text(), "Contact").contains(";transport=tls"));
}

#[test]
fn a_secure_dialog_never_leaves_tls_even_for_a_plain_contact() {
    let mut net = pair(ua_config_tls("sip:alice@127.0.0.1", ALICE));
    let now = net.now;
    let a = net
        .ua(0)
        .invite(now, "sips:bob@127.0.0.1", Some(offer("a1")))
        .unwrap();
    net.deliver();
    assert!(first_incoming!(net.events[1], IncomingCall).is_some());
    // A broken peer answers a sips: INVITE with a UDP Contact: Bob's own 200 is rewritten
    // on the wire as that peer would send it.
    let invite = net.sent_matching("INVITE")[0].text();
    let via = header(&invite, "Via");
    let from = header(&invite, "From");
    let to = header(&invite, "To");
    let call_id = header(&invite, "Call-ID");
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to};tag=b9\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1:{BOB};transport=udp>\r\n\
         Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"
    );
    let conn = net.sent_matching("INVITE")[0].transmit.conn.unwrap();
    let now = net.now;
    net.ua(0).handle_stream(now, conn, ok.as_bytes());
    net.deliver();
    let now = net.now;
    net.ua(0).bye(now, a).unwrap();
    net.deliver();
    let from_alice: Vec<_> = net.wire.iter().filter(|s| s.from_node == 0).collect();
    assert!(from_alice.len() >= 3, "INVITE, ACK, BYE: {from_alice:?}");
    assert!(
        from_alice
            .iter()
            .all(|s| s.transmit.transport == TransportKind::Tls && s.transmit.conn == Some(conn)),
        "{from_alice:?}"
    );
}
