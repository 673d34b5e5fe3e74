//! Transport rules and retransmission on the virtual network: loss schedules, 2xx/ACK
//! retransmission (RFC 6026), rport through a NAT, requests over the registration's
//! flow, the MTU − 200 switch to TCP, TCP framing.

mod events;
mod net;

use std::net::SocketAddr;
use std::time::Duration;

use events::first_incoming;
use net::{ua_config, Net, Registrar};
use sip::auth::Credentials;
use sip::endpoint::{
    Body, ConnId, DialogId, IncomingId, NextHop, SipEvent, TerminationReason, TransportKind,
};

fn pair() -> Net {
    let mut net = Net::new();
    net.add_ua(ua_config("sip:alice@127.0.0.1", 5070), 1);
    net.add_ua(ua_config("sip:bob@127.0.0.1", 5080), 2);
    net
}

fn sdp(n: usize) -> Body {
    Body::new("application/sdp", vec![b'a'; n])
}

fn offsets(net: &Net, prefix: &str, from_node: usize) -> Vec<Duration> {
    net.wire
        .iter()
        .filter(|s| s.from_node == from_node && s.start_line().starts_with(prefix))
        .map(|s| s.at - net.t0)
        .collect()
}

fn ms(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|m| Duration::from_millis(*m)).collect()
}

/// Alice INVITEs Bob with a 10-byte offer and the network delivers it: Alice's dialog and
/// Bob's incoming call.
fn alice_calls_bob(net: &mut Net) -> (DialogId, IncomingId) {
    let (now, bob) = (net.now, "sip:bob@127.0.0.1:5080");
    let a = net.ua(0).invite(now, bob, Some(sdp(10))).unwrap();
    net.deliver();
    let incoming = first_incoming!(net.events[1], IncomingCall).unwrap();
    (a, incoming)
}

#[test]
fn invite_retransmits_on_timer_a_until_a_response_passes() {
    let mut net = pair();
    // Bob's responses are lost for the first 3 s.
    let t0 = net.t0;
    net.set_drop(move |s| s.from_node == 1 && s.at < t0 + Duration::from_secs(3));
    let now = net.now;
    net.ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080", Some(sdp(10)))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    // RFC 3261 §17.1.1.2: Timer A = T1 doubling: 0, 0.5, 1.5, 3.5 s; the 100 Trying sent
    // for the 3.5 s copy passes, so retransmission stops.
    assert_eq!(offsets(&net, "INVITE", 0), ms(&[0, 500, 1500, 3500]));
}

#[test]
fn invite_timeout_after_64_t1_is_reported() {
    let mut net = pair();
    net.set_drop(|s| s.from_node == 0);
    let now = net.now;
    let d = net
        .ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080", None)
        .unwrap();
    net.run_for(Duration::from_secs(40));
    assert_eq!(
        offsets(&net, "INVITE", 0),
        ms(&[0, 500, 1500, 3500, 7500, 15500, 31500])
    );
    assert!(net.events[0].iter().any(|e| matches!(e, SipEvent::DialogTerminated { dialog, reason: TerminationReason::Timeout } if *dialog == d)));
}

#[test]
fn two_xx_retransmitted_until_ack_and_ack_resent_for_each_2xx() {
    let mut net = pair();
    let (_, incoming) = alice_calls_bob(&mut net);
    // Alice's ACKs are lost until 2 s.
    let t0 = net.t0;
    net.set_drop(move |s| {
        s.from_node == 0 && s.start_line().starts_with("ACK") && s.at < t0 + Duration::from_secs(2)
    });
    let now = net.now;
    net.ua(1).respond(now, incoming, 200, Some(sdp(5))).unwrap();
    net.run_for(Duration::from_secs(10));
    // RFC 3261 §13.3.1.4: 2xx at 0, 0.5, 1.5, 3.5 s (T1 doubling); the ACK answering the
    // 3.5 s copy passes and stops it.
    assert_eq!(offsets(&net, "SIP/2.0 200", 1), ms(&[0, 500, 1500, 3500]));
    // RFC 6026 §7.2: every 2xx copy got an ACK, all with the same (new) branch.
    let acks: Vec<String> = net.sent_matching("ACK").iter().map(|s| s.text()).collect();
    assert_eq!(acks.len(), 4);
    assert!(acks.windows(2).all(|w| w[0] == w[1]));
    let invite = net.sent_matching("INVITE")[0].text();
    let branch = |t: &str| {
        t.split("branch=")
            .nth(1)
            .unwrap()
            .split([';', '\r'])
            .next()
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        branch(&acks[0]),
        branch(&invite),
        "RFC 3261 §13.2.2.4: new branch for the 2xx ACK"
    );
    assert_eq!(
        net.events[1]
            .iter()
            .filter(|e| matches!(e, SipEvent::AckReceived { .. }))
            .count(),
        1
    );
}

#[test]
fn no_ack_for_2xx_ends_with_bye() {
    let mut net = pair();
    let (_, incoming) = alice_calls_bob(&mut net);
    net.set_drop(|s| s.from_node == 0 && s.start_line().starts_with("ACK"));
    let now = net.now;
    net.ua(1).respond(now, incoming, 200, Some(sdp(5))).unwrap();
    net.run_for(Duration::from_secs(40));
    // T1 doubling capped at T2 = 4 s, for 64·T1 = 32 s.
    assert_eq!(
        offsets(&net, "SIP/2.0 200", 1)
            .into_iter()
            .filter(|t| *t < Duration::from_secs(32))
            .collect::<Vec<_>>(),
        ms(&[0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500])
    );
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        SipEvent::DialogTerminated {
            reason: TerminationReason::NoAck,
            ..
        }
    )));
    assert_eq!(offsets(&net, "BYE", 1), ms(&[32000]));
}

#[test]
fn bye_retransmits_on_timer_e_capped_at_t2() {
    let mut net = pair();
    let (a, incoming) = alice_calls_bob(&mut net);
    let now = net.now;
    net.ua(1).respond(now, incoming, 200, Some(sdp(5))).unwrap();
    net.deliver();
    net.set_drop(|s| s.start_line().starts_with("BYE"));
    let start = net.now;
    net.ua(0).bye(start, a).unwrap();
    net.run_for(Duration::from_secs(33));
    let byes: Vec<Duration> = offsets(&net, "BYE", 0)
        .into_iter()
        .map(|t| t - (start - net.t0))
        .collect();
    // RFC 3261 §17.1.2.2: E = T1 doubling up to T2: 0, .5, 1.5, 3.5, 7.5, 11.5, ...
    assert_eq!(
        byes,
        ms(&[0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500])
    );
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::DialogTerminated {
            reason: TerminationReason::LocalBye,
            ..
        }
    )));
}

#[test]
fn server_answers_to_the_nat_binding_and_adds_received() {
    let mut net = pair();
    let bob_public: SocketAddr = "198.51.100.20:62000".parse().unwrap();
    net.udp_nat.insert(1, bob_public);
    let now = net.now;
    net.ua(1)
        .invite(now, "sip:alice@127.0.0.1:5070", Some(sdp(10)))
        .unwrap();
    net.deliver();
    let incoming = first_incoming!(net.events[0], IncomingCall).unwrap();
    let now = net.now;
    net.ua(0).respond(now, incoming, 200, Some(sdp(3))).unwrap();
    net.deliver();
    let ok = net.sent_matching("SIP/2.0 200")[0];
    // RFC 3581 §4: to the source IP:port, with received and rport filled.
    assert_eq!(ok.transmit.dest, bob_public);
    let text = ok.text();
    assert!(
        text.contains("rport=62000;received=198.51.100.20")
            || text.contains("received=198.51.100.20"),
        "{text}"
    );
    assert!(text.contains("rport=62000"));
    // Bob, as client, learned nothing he must act on but got the answer through the NAT.
    assert!(net.events[1]
        .iter()
        .any(|e| matches!(e, SipEvent::CallAnswered { .. })));
}

fn registered_alice(transport: TransportKind) -> Net {
    let mut net = Net::new();
    let mut config = ua_config("sip:alice@test.invalid", 5070);
    config.credentials = Some(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    config.outbound_proxy = Some(NextHop {
        transport,
        addr: "127.0.0.1:5060".parse().unwrap(),
    });
    config.instance_id = Some("urn:uuid:00000000-0000-4000-8000-000000000002".into());
    // Alice's TCP listener is unreachable: only the registration's flow works.
    config.tcp_local = Some("127.0.0.1:5071".parse().unwrap());
    net.add_ua(config, 3);
    let mut registrar = Registrar::new("127.0.0.1:5060".parse().unwrap());
    registrar.outbound = true;
    net.add_registrar(registrar);
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, SipEvent::Registered { .. })));
    net
}

fn proxied_invite(transport: &str) -> Vec<u8> {
    let body = "v=0\r\n";
    format!(
        "INVITE sip:alice@127.0.0.1:5070 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:5060;branch=z9hG4bKproxy1;rport\r\n\
         Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKcaller1\r\n\
         Record-Route: <sip:127.0.0.1:5060;lr;transport={t}>\r\n\
         Max-Forwards: 69\r\nFrom: <sip:carol@test.invalid>;tag=c1\r\nTo: <sip:alice@test.invalid>\r\n\
         Call-ID: flow-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@192.0.2.50:5060>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len(),
        t = transport.to_ascii_lowercase()
    )
    .into_bytes()
}

/// The caller's ACK for Alice's 2xx to `proxied_invite`, sent by the proxy on the flow.
fn ack_for(ok: &str, transport: &str) -> Vec<u8> {
    let to = ok.lines().find(|l| l.starts_with("To: ")).unwrap();
    format!(
        "ACK sip:alice@127.0.0.1:5070 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:5060;branch=z9hG4bKproxyack;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:carol@test.invalid>;tag=c1\r\n{to}\r\n\
         Call-ID: flow-call-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn requests_over_the_tcp_registration_flow_are_answered_on_it() {
    let mut net = registered_alice(TransportKind::Tcp);
    let register_conn: Option<ConnId> = net.sent_matching("REGISTER")[0].transmit.conn;
    net.registrar(1).send_on_flow(proxied_invite("TCP"));
    net.deliver();
    let (incoming, dialog) = net.events[0]
        .iter()
        .find_map(|e| match e {
            SipEvent::IncomingCall {
                incoming, dialog, ..
            } => Some((*incoming, *dialog)),
            _ => None,
        })
        .expect("INVITE over the flow accepted");
    let now = net.now;
    net.ua(0).respond(now, incoming, 200, Some(sdp(4))).unwrap();
    net.deliver();
    let ok = net
        .sent_matching("SIP/2.0 200")
        .into_iter()
        .find(|s| s.from_node == 0)
        .unwrap();
    assert_eq!(
        ok.transmit.conn, register_conn,
        "answered on the registration's connection"
    );
    let ack = ack_for(&ok.text(), "TCP");
    net.registrar(1).send_on_flow(ack);
    net.deliver();
    // An in-dialog BYE from Alice follows the Record-Route, i.e. the same flow.
    let now = net.now;
    net.ua(0).bye(now, dialog).unwrap();
    net.deliver();
    let bye = net.sent_matching("BYE")[0];
    assert_eq!(bye.transmit.conn, register_conn);
    assert!(bye
        .text()
        .contains("Route: <sip:127.0.0.1:5060;lr;transport=tcp>"));
    assert_eq!(
        bye.text().lines().next().unwrap(),
        "BYE sip:carol@192.0.2.50:5060 SIP/2.0"
    );
}

#[test]
fn requests_over_the_udp_registration_flow_are_answered_on_it() {
    let mut net = registered_alice(TransportKind::Udp);
    net.registrar(1).send_on_flow(proxied_invite("UDP"));
    net.deliver();
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, SipEvent::IncomingCall { .. })));
    // The 100 Trying (at 200 ms) goes back to the registrar's address.
    net.run_for(Duration::from_millis(300));
    let trying = net.sent_matching("SIP/2.0 100")[0];
    assert_eq!(
        trying.transmit.dest,
        "127.0.0.1:5060".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        trying.transmit.local,
        Some("127.0.0.1:5070".parse().unwrap())
    );
}

#[test]
fn request_above_mtu_minus_200_goes_over_tcp() {
    let mut net = pair();
    let now = net.now;
    // 1500 − 200 = 1300: a 1400-byte body cannot go over UDP.
    net.ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080", Some(sdp(1400)))
        .unwrap();
    net.deliver();
    let invite = net.sent_matching("INVITE")[0];
    assert_eq!(invite.transmit.transport, TransportKind::Tcp);
    assert!(invite.text().contains("Via: SIP/2.0/TCP 127.0.0.1:5070;"));
    let incoming = first_incoming!(net.events[1], IncomingCall).unwrap();
    let now = net.now;
    net.ua(1)
        .respond(now, incoming, 200, Some(sdp(10)))
        .unwrap();
    net.deliver();
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, SipEvent::CallAnswered { .. })));
    // A small INVITE stays on UDP.
    let now = net.now;
    net.ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080", Some(sdp(500)))
        .unwrap();
    net.deliver();
    assert_eq!(
        net.sent_matching("INVITE")[1].transmit.transport,
        TransportKind::Udp
    );
}

#[test]
fn mtu_is_configurable() {
    let mut net = Net::new();
    let mut a = ua_config("sip:alice@127.0.0.1", 5070);
    a.mtu = 9000;
    net.add_ua(a, 1);
    net.add_ua(ua_config("sip:bob@127.0.0.1", 5080), 2);
    let now = net.now;
    net.ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080", Some(sdp(1400)))
        .unwrap();
    net.deliver();
    assert_eq!(
        net.sent_matching("INVITE")[0].transmit.transport,
        TransportKind::Udp
    );
}

#[test]
fn tcp_framing_split_and_coalesced_segments() {
    let mut net = pair();
    let conn = net.open_conn(1, "127.0.0.1:5070".parse().unwrap()).unwrap();
    let _ = conn;
    // Find Alice's side of the connection: it is the one Alice was told about.
    let alice_conn = ConnId(2);
    let options = |n: u32| {
        format!(
            "OPTIONS sip:alice@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bKopt{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=b{n}\r\nTo: <sip:alice@127.0.0.1>\r\n\
             Call-ID: opt-{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let now = net.now;
    // One message byte by byte...
    for b in options(1).as_bytes() {
        net.ua(0)
            .handle_stream(now, alice_conn, std::slice::from_ref(b));
    }
    // ...then two messages and a keepalive ping in one segment.
    let coalesced = format!("{}{}\r\n\r\n", options(2), options(3));
    net.ua(0)
        .handle_stream(now, alice_conn, coalesced.as_bytes());
    net.deliver();
    let answers: Vec<String> = net
        .wire
        .iter()
        .filter(|s| s.from_node == 0)
        .map(|s| s.text())
        .collect();
    assert_eq!(
        answers
            .iter()
            .filter(|t| t.starts_with("SIP/2.0 200 OK"))
            .count(),
        3,
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|t| t == "\r\n"),
        "CRLF pong for the ping"
    );
    assert!(net
        .wire
        .iter()
        .filter(|s| s.from_node == 0)
        .all(|s| s.transmit.conn == Some(alice_conn)));
}

#[test]
fn retransmitted_2xx_to_reinvite_gets_the_same_ack_and_one_event() {
    let mut net = pair();
    let (a, incoming) = alice_calls_bob(&mut net);
    let now = net.now;
    net.ua(1).respond(now, incoming, 200, Some(sdp(5))).unwrap();
    net.deliver();
    net.take_events(0);
    let now = net.now;
    net.ua(0).reinvite(now, a, Some(sdp(11))).unwrap();
    net.deliver();
    let incoming = first_incoming!(net.events[1], IncomingReinvite).unwrap();
    // The first ACK of the re-INVITE's 2xx is lost.
    let acks_before = net.sent_matching("ACK").len();
    let mut first = true;
    net.set_drop(move |s| {
        let lose = first && s.start_line().starts_with("ACK");
        if lose {
            first = false;
        }
        lose
    });
    let now = net.now;
    net.ua(1).respond(now, incoming, 200, Some(sdp(6))).unwrap();
    net.run_for(Duration::from_secs(5));
    let acks: Vec<String> = net.sent_matching("ACK")[acks_before..]
        .iter()
        .map(|s| s.text())
        .collect();
    assert_eq!(acks.len(), 2, "ACK re-sent for the retransmitted 2xx");
    assert_eq!(acks[0], acks[1]);
    assert!(acks[0].contains("CSeq: 2 ACK"));
    assert_eq!(
        net.events[0]
            .iter()
            .filter(|e| matches!(e, SipEvent::ReinviteResponse { .. }))
            .count(),
        1
    );
}

#[test]
fn ob_contact_keeps_in_dialog_requests_on_the_incoming_flow() {
    let mut net = registered_alice(TransportKind::Tcp);
    let register_conn = net.sent_matching("REGISTER")[0].transmit.conn;
    // An INVITE without Record-Route whose Contact is an unreachable address with `ob`.
    let invite = String::from_utf8(proxied_invite("TCP"))
        .unwrap()
        .replace(
            "Record-Route: <sip:127.0.0.1:5060;lr;transport=tcp>\r\n",
            "",
        )
        .replace(
            "<sip:carol@192.0.2.50:5060>",
            "<sip:carol@192.0.2.50:5060;transport=tcp;ob>",
        );
    net.registrar(1).send_on_flow(invite.into_bytes());
    net.deliver();
    let (incoming, dialog) = net.events[0]
        .iter()
        .find_map(|e| match e {
            SipEvent::IncomingCall {
                incoming, dialog, ..
            } => Some((*incoming, *dialog)),
            _ => None,
        })
        .unwrap();
    let now = net.now;
    net.ua(0).respond(now, incoming, 200, Some(sdp(4))).unwrap();
    net.deliver();
    let ok = net
        .sent_matching("SIP/2.0 200")
        .into_iter()
        .find(|s| s.from_node == 0)
        .unwrap()
        .text();
    net.registrar(1).send_on_flow(ack_for(&ok, "TCP"));
    net.deliver();
    let now = net.now;
    net.ua(0).bye(now, dialog).unwrap();
    net.deliver();
    let bye = net.sent_matching("BYE")[0];
    // RFC 5626 §5.3: not to 192.0.2.50 but over the flow the INVITE came in on.
    assert_eq!(bye.transmit.conn, register_conn);
    assert_eq!(
        bye.transmit.dest,
        "127.0.0.1:5060".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn closed_connection_fails_the_pending_invite_at_once() {
    let mut net = pair();
    let now = net.now;
    let d = net
        .ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080;transport=tcp", Some(sdp(3)))
        .unwrap();
    net.deliver();
    net.close_conns_of(1);
    net.deliver();
    assert!(net.events[0].iter().any(|e| matches!(e, SipEvent::DialogTerminated { dialog, reason: TerminationReason::TransportError(f) } if *dialog == d && f.transport == TransportKind::Tcp)));
    assert_eq!(net.now, net.t0, "no waiting for Timer B");
}

#[test]
fn uas_bye_waits_for_the_ack_of_its_2xx() {
    let mut net = pair();
    let now = net.now;
    net.ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080", Some(sdp(10)))
        .unwrap();
    net.deliver();
    let (incoming, b) = net.events[1]
        .iter()
        .find_map(|e| match e {
            SipEvent::IncomingCall {
                incoming, dialog, ..
            } => Some((*incoming, *dialog)),
            _ => None,
        })
        .unwrap();
    // The first ACK is lost; Bob hangs up right after answering.
    let mut first = true;
    net.set_drop(move |s| {
        let lose = first && s.start_line().starts_with("ACK");
        if lose {
            first = false;
        }
        lose
    });
    let now = net.now;
    net.ua(1).respond(now, incoming, 200, Some(sdp(5))).unwrap();
    net.ua(1).bye(now, b).unwrap();
    net.deliver();
    // RFC 3261 §15: no BYE before the ACK.
    assert!(net.sent_matching("BYE").is_empty());
    net.run_for(Duration::from_secs(1));
    // The 2xx retransmitted at 500 ms brought the ACK again; the BYE followed it.
    assert_eq!(offsets(&net, "BYE", 1), ms(&[500]));
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::DialogTerminated {
            reason: TerminationReason::RemoteBye,
            ..
        }
    )));
}

#[test]
fn ack_for_a_challenge_goes_out_before_the_authenticated_retry() {
    let mut net = Net::new();
    let mut config = ua_config("sip:alice@test.invalid", 5070);
    config.credentials = Some(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    net.add_ua(config, 4);
    let challenger: SocketAddr = "127.0.0.1:5090".parse().unwrap();
    let now = net.now;
    net.ua(0)
        .invite(now, "sip:carol@127.0.0.1:5090", Some(sdp(3)))
        .unwrap();
    let invite = String::from_utf8(net.ua(0).poll_transmit().unwrap().bytes).unwrap();
    let mut challenge = String::new();
    for line in invite.lines() {
        if line.is_empty() {
            break;
        }
        if ["Via:", "From:", "Call-ID:", "CSeq:"]
            .iter()
            .any(|h| line.starts_with(h))
        {
            challenge.push_str(line);
            challenge.push_str("\r\n");
        } else if line.starts_with("To:") {
            challenge.push_str(&format!("{line};tag=ch\r\n"));
        }
    }
    let challenge = format!(
        "SIP/2.0 401 Unauthorized\r\n{challenge}WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\nContent-Length: 0\r\n\r\n"
    );
    net.ua(0).handle_datagram(
        now,
        "127.0.0.1:5070".parse().unwrap(),
        challenger,
        challenge.as_bytes(),
    );
    let first = String::from_utf8(net.ua(0).poll_transmit().unwrap().bytes).unwrap();
    let second = String::from_utf8(net.ua(0).poll_transmit().unwrap().bytes).unwrap();
    assert!(first.starts_with("ACK "), "{first}");
    assert!(first.contains("CSeq: 1 ACK"));
    assert!(
        second.starts_with("INVITE ")
            && second.contains("CSeq: 2 INVITE")
            && second.contains("Authorization: Digest")
    );
}

/// RFC 3261 §8.1.2: with an outbound proxy configured, out-of-dialog requests go to it even
/// when the target URI names an IP address (the CLI's `--proxy` promise).
#[test]
fn outbound_proxy_gets_out_of_dialog_requests_to_ip_targets() {
    let proxy: SocketAddr = "127.0.0.1:5099".parse().unwrap();
    for transport in [TransportKind::Udp, TransportKind::Tcp] {
        let mut config = ua_config("sip:alice@127.0.0.1", 5070);
        config.outbound_proxy = Some(NextHop {
            transport,
            addr: proxy,
        });
        let mut alice = sip::endpoint::Endpoint::with_seed(config, 5);
        let now = std::time::Instant::now();
        alice
            .invite(now, "sip:bob@127.0.0.1:5080", Some(sdp(10)))
            .unwrap();
        alice.options(now, "sip:carol@127.0.0.1:5090").unwrap();
        let sent: Vec<_> = std::iter::from_fn(|| alice.poll_transmit()).collect();
        assert_eq!(sent.len(), 2, "{sent:?}");
        for t in &sent {
            assert_eq!((t.dest, t.transport), (proxy, transport));
        }
        // The Request-URI still names the target: the proxy routes on it.
        let first = String::from_utf8_lossy(&sent[0].bytes).into_owned();
        assert!(
            first.starts_with("INVITE sip:bob@127.0.0.1:5080 SIP/2.0"),
            "{first}"
        );
    }
}

#[test]
fn the_endpoint_counts_what_its_timers_send_again() {
    // Timer A: Bob's responses are lost for 3 s, so Alice sends the INVITE again at 0.5,
    // 1.5 and 3.5 s; Bob's answers to those copies (100 Trying again) are not counted.
    let mut net = pair();
    let t0 = net.t0;
    net.set_drop(move |s| s.from_node == 1 && s.at < t0 + Duration::from_secs(3));
    let now = net.now;
    net.ua(0)
        .invite(now, "sip:bob@127.0.0.1:5080", Some(sdp(10)))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(offsets(&net, "INVITE", 0).len(), 4);
    assert_eq!(net.ua(0).retransmissions(), 3);
    assert_eq!(net.ua(1).retransmissions(), 0);

    // The UAS 2xx (RFC 3261 §13.3.1.4): ACKs lost until 2 s, the 200 goes again 3 times.
    let mut net = pair();
    let (_, incoming) = alice_calls_bob(&mut net);
    let t0 = net.t0;
    net.set_drop(move |s| {
        s.from_node == 0 && s.start_line().starts_with("ACK") && s.at < t0 + Duration::from_secs(2)
    });
    let now = net.now;
    net.ua(1).respond(now, incoming, 200, Some(sdp(5))).unwrap();
    net.run_for(Duration::from_secs(10));
    assert_eq!(offsets(&net, "SIP/2.0 200", 1).len(), 4);
    assert_eq!(net.ua(1).retransmissions(), 3);
    // Alice's ACKs answer each 2xx copy: not timer-driven, not counted.
    assert_eq!(net.ua(0).retransmissions(), 0);
}
