//! REGISTER against the in-test registrar: digest, refresh, 423, unregister, rport
//! learning with its loop guard, outbound keepalives, pong timeout and flow recovery
//! (virtual time).

mod net;

use std::net::SocketAddr;
use std::time::Duration;

use net::{ua_config, Net, Registrar};
use sip::auth::Credentials;
use sip::endpoint::{FlowFailure, NextHop, RegistrationFailure, SipEvent, TransportKind};

const UUID: &str = "urn:uuid:00000000-0000-4000-8000-000000000001";

fn registrar_addr() -> SocketAddr {
    "127.0.0.1:5060".parse().unwrap()
}

/// Alice (node 0) registering with the registrar (node 1).
fn setup(transport: TransportKind, outbound: bool, tweak: impl FnOnce(&mut Registrar)) -> Net {
    setup_with(transport, outbound, |_| {}, tweak)
}

/// As `setup`, with a change to alice's configuration.
fn setup_with(
    transport: TransportKind,
    outbound: bool,
    configure: impl FnOnce(&mut sip::endpoint::EndpointConfig),
    tweak: impl FnOnce(&mut Registrar),
) -> Net {
    let mut net = Net::new();
    let mut config = ua_config("sip:alice@test.invalid", 5070);
    config.credentials = Some(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    config.outbound_proxy = Some(NextHop {
        transport,
        addr: registrar_addr(),
    });
    config.register_expires = 600;
    if outbound {
        config.instance_id = Some(UUID.into());
    }
    configure(&mut config);
    net.add_ua(config, 7);
    let mut registrar = Registrar::new(registrar_addr());
    registrar.outbound = outbound;
    tweak(&mut registrar);
    net.add_registrar(registrar);
    net
}

fn registered(events: &[SipEvent]) -> Vec<(u32, Option<SocketAddr>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            SipEvent::Registered {
                expires,
                public_address,
                outbound,
                ..
            } => Some((*expires, *public_address, *outbound)),
            _ => None,
        })
        .collect()
}

#[test]
fn register_with_digest_over_udp_and_tcp() {
    for transport in [TransportKind::Udp, TransportKind::Tcp] {
        let mut net = setup(transport, false, |_| {});
        let now = net.now;
        net.ua(0).register(now).unwrap();
        net.deliver();
        let regs = registered(&net.events[0]);
        assert_eq!(regs.len(), 1, "{:?}", net.events[0]);
        assert_eq!(regs[0].0, 600);
        let registers = &net.registrar(1).registers;
        assert_eq!(registers.len(), 2, "challenge then credentials");
        let first = &registers[0].0;
        let second = &registers[1].0;
        // RFC 3261 §22.1: the retry increments CSeq, same Call-ID.
        assert_eq!(
            second.headers.cseq().unwrap().seq,
            first.headers.cseq().unwrap().seq + 1
        );
        assert_eq!(
            second.headers.call_id().unwrap(),
            first.headers.call_id().unwrap()
        );
        assert!(second
            .headers
            .get("Authorization")
            .unwrap()
            .contains("nc=00000001"));
        // RFC 3581 §3: every request carries rport.
        assert!(first.headers.top_via().unwrap().has_rport());
        assert_eq!(registers[0].1, transport);
        assert_eq!(first.uri.to_string(), "sip:test.invalid");
    }
}

#[test]
fn register_answers_a_407_with_proxy_authorization() {
    let mut net = setup(TransportKind::Udp, false, |r| r.challenge_status = 407);
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    assert_eq!(registered(&net.events[0]).len(), 1, "{:?}", net.events[0]);
    let second = &net.registrar(1).registers[1].0;
    assert!(second.headers.get("Proxy-Authorization").is_some());
    assert!(second.headers.get("Authorization").is_none());
}

#[test]
fn wrong_password_fails_without_looping() {
    let mut net = setup(TransportKind::Udp, false, |r| r.password = "other".into());
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::RegistrationFailed {
            reason: RegistrationFailure::Auth(_)
        }
    )));
    assert_eq!(net.registrar(1).registers.len(), 2);
}

#[test]
fn refresh_before_expiry_and_423() {
    let mut net = setup(TransportKind::Udp, false, |r| r.min_expires = Some(900));
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    // 401, then 423 (600 < 900), then 200 with 900.
    assert_eq!(
        registered(&net.events[0]),
        vec![(900, Some("127.0.0.1:5070".parse().unwrap()), false)]
    );
    let last = &net.registrar(1).registers.last().unwrap().0;
    assert_eq!(last.headers.expires().unwrap(), Some(900));
    let t_registered = net.now;
    net.take_events(0);
    // RFC 3261 §10.2.1 refresh: 900 s binding → refresh 64 s before expiry.
    assert!(net.run_until(Duration::from_secs(900), |e| !registered(e).is_empty(), 0));
    assert_eq!(net.now - t_registered, Duration::from_secs(900 - 64));
    // The refresh answered the known realm up front: no new 401.
    let n = net.registrar(1).registers.len();
    assert_eq!(n, 4, "401, 423, 200, refresh 200");
}

#[test]
fn unregister_sends_expires_zero() {
    let mut net = setup(TransportKind::Tcp, false, |_| {});
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    let now = net.now;
    net.ua(0).shutdown(now);
    net.deliver();
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, SipEvent::Unregistered)));
    let last = &net.registrar(1).registers.last().unwrap().0;
    assert_eq!(last.headers.expires().unwrap(), Some(0));
    // Same flow (connection) as the registration.
    let conns: Vec<_> = net
        .sent_matching("REGISTER")
        .iter()
        .map(|s| s.transmit.conn)
        .collect();
    assert!(conns.windows(2).all(|w| w[0] == w[1]), "{conns:?}");
}

#[test]
fn learned_public_address_goes_into_contact_once() {
    let mut net = setup(TransportKind::Udp, false, |_| {});
    let public: SocketAddr = "203.0.113.7:41000".parse().unwrap();
    net.udp_nat.insert(0, public);
    if let net::Node::Ua(e) = &mut net.nodes[0] {
        // Rebuild with the learned-contact option on.
        let mut c = e.config().clone();
        c.use_learned_contact = true;
        **e = sip::endpoint::Endpoint::with_seed(c, 9);
    }
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    let regs = registered(&net.events[0]);
    assert_eq!(
        regs.len(),
        2,
        "registered, then once more with the learned Contact"
    );
    assert!(regs.iter().all(|r| r.1 == Some(public)));
    let registers = &net.registrar(1).registers;
    let last = &registers.last().unwrap().0;
    let contacts: Vec<&str> = last.headers.get_all("Contact").collect();
    assert!(contacts[0].contains("203.0.113.7:41000"), "{contacts:?}");
    assert!(contacts
        .iter()
        .any(|c| c.contains("127.0.0.1:5070") && c.contains("expires=0")));
    assert_eq!(net.ua(0).learned_public_address(), Some(public));
    // Loop guard: a refresh with the same learned address does not re-register again.
    let before = net.registrar(1).registers.len();
    net.run_for(Duration::from_secs(600));
    let after = net.registrar(1).registers.len();
    assert_eq!(
        after - before,
        1,
        "exactly one refresh, no learned-address loop"
    );
}

#[test]
fn outbound_register_carries_instance_reg_id_and_ob() {
    let mut net = setup(TransportKind::Tcp, true, |r| r.flow_timer = Some(30));
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    let regs = registered(&net.events[0]);
    assert_eq!(regs.len(), 1);
    assert!(regs[0].2, "Require: outbound seen");
    let reg = &net.registrar(1).registers.last().unwrap().0;
    let contact = reg.headers.get("Contact").unwrap();
    assert!(
        contact.contains(&format!("+sip.instance=\"<{UUID}>\"")),
        "{contact}"
    );
    assert!(contact.contains("reg-id=1"));
    assert!(contact.contains(";ob"));
    assert_eq!(reg.headers.supported().unwrap(), vec!["path", "outbound"]);
}

#[test]
fn tcp_keepalive_pong_timeout_and_flow_recovery_timing() {
    let mut net = setup(TransportKind::Tcp, true, |r| r.flow_timer = Some(30));
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    let t_reg = net.now;
    // RFC 5626 §4.4: keepalive at 80-100 % of Flow-Timer; the registrar answers pongs.
    net.run_for(Duration::from_secs(31));
    assert_eq!(net.registrar(1).pings, 1);
    let ping_at = net
        .sent_matching("")
        .iter()
        .find(|s| s.transmit.bytes == b"\r\n\r\n")
        .unwrap()
        .at;
    let offset = ping_at - t_reg;
    assert!(
        offset >= Duration::from_secs(24) && offset <= Duration::from_secs(30),
        "{offset:?}"
    );
    assert!(!net.events[0]
        .iter()
        .any(|e| matches!(e, SipEvent::FlowFailed { .. })));
    // Now the registrar stops answering: no pong within 10 s → flow failed.
    net.registrar(1).answer_pings = false;
    assert!(net.run_until(
        Duration::from_secs(45),
        |e| e.iter().any(|e| matches!(e, SipEvent::FlowFailed { .. })),
        0
    ));
    let (reason, retry_after) = net.events[0]
        .iter()
        .find_map(|e| match e {
            SipEvent::FlowFailed {
                reason,
                retry_after,
                ..
            } => Some((reason.clone(), *retry_after)),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason, FlowFailure::PongTimeout);
    let second_ping = net
        .wire
        .iter()
        .filter(|s| s.transmit.bytes == b"\r\n\r\n")
        .nth(1)
        .unwrap()
        .at;
    assert_eq!(net.now - second_ping, Duration::from_secs(10));
    // RFC 5626 §4.5: first failure, all flows failed → 50-100 % of 30·2¹ = 30-60 s.
    assert!(
        retry_after >= Duration::from_secs(30) && retry_after <= Duration::from_secs(60),
        "{retry_after:?}"
    );
    let failed_at = net.now;
    let before = net.registrar(1).registers.len();
    net.take_events(0);
    assert!(net.run_until(Duration::from_secs(61), |e| !registered(e).is_empty(), 0));
    assert_eq!(net.now - failed_at, retry_after);
    assert!(net.registrar(1).registers.len() > before);
}

#[test]
fn tcp_connection_loss_fails_the_flow() {
    let mut net = setup(TransportKind::Tcp, true, |_| {});
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    net.close_conns_of(1);
    net.deliver();
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::FlowFailed {
            reason: FlowFailure::ConnectionClosed,
            ..
        }
    )));
}

#[test]
fn udp_stun_keepalive_detects_mapping_change() {
    let mut net = setup(TransportKind::Udp, true, |_| {});
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    // No Flow-Timer: UDP keepalives every 24-29 s (RFC 5626 §4.4).
    let t_reg = net.now;
    assert!(net.run_until(
        Duration::from_secs(30),
        |e| e
            .iter()
            .any(|e| matches!(e, SipEvent::StunKeepaliveDue { .. })),
        0
    ));
    let due = net.now - t_reg;
    assert!(
        due >= Duration::from_secs(24) && due <= Duration::from_secs(29),
        "{due:?}"
    );
    let flow = net.events[0]
        .iter()
        .find_map(|e| match e {
            SipEvent::StunKeepaliveDue { flow, dest, .. } => {
                assert_eq!(*dest, registrar_addr());
                Some(*flow)
            }
            _ => None,
        })
        .unwrap();
    let mapped: SocketAddr = "203.0.113.7:41000".parse().unwrap();
    let now = net.now;
    net.ua(0).stun_keepalive_result(now, flow, Some(mapped));
    net.deliver();
    assert!(!net.events[0]
        .iter()
        .any(|e| matches!(e, SipEvent::FlowFailed { .. })));
    net.take_events(0);
    assert!(net.run_until(
        Duration::from_secs(30),
        |e| e
            .iter()
            .any(|e| matches!(e, SipEvent::StunKeepaliveDue { .. })),
        0
    ));
    let rebound: SocketAddr = "203.0.113.7:52000".parse().unwrap();
    let now = net.now;
    net.ua(0).stun_keepalive_result(now, flow, Some(rebound));
    net.deliver();
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::FlowFailed { reason: FlowFailure::MappingChanged { was, now }, .. } if *was == mapped && *now == rebound
    )));
}

fn auth_failure(events: &[SipEvent]) -> Option<String> {
    events.iter().find_map(|e| match e {
        SipEvent::RegistrationFailed {
            reason: RegistrationFailure::Auth(detail),
        } => Some(detail.clone()),
        _ => None,
    })
}

/// Issue 14 item 5: a registrar naming a new realm in every 401 once got 255 REGISTERs in
/// 10 s, the last with 254 Authorization headers. Now: a few rounds, then a failure that
/// says why.
#[test]
fn a_new_realm_in_every_challenge_stops_after_a_few_rounds() {
    let mut net = setup(TransportKind::Udp, false, |r| {
        r.new_realm_each_challenge = true
    });
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.run_for(Duration::from_secs(10));
    let registers = &net.registrar(1).registers;
    assert!(
        registers.len() <= 5,
        "{} REGISTERs sent to a realm-cycling registrar",
        registers.len()
    );
    let most_credentials = registers
        .iter()
        .map(|(r, _, _)| r.headers.get_all("Authorization").count())
        .max()
        .unwrap_or(0);
    assert!(
        most_credentials <= 4,
        "{most_credentials} Authorization headers"
    );
    let detail =
        auth_failure(&net.events[0]).unwrap_or_else(|| panic!("no failure: {:?}", net.events[0]));
    assert!(detail.contains("challenge rounds"), "{detail}");
    assert!(registered(&net.events[0]).is_empty());
    // A later attempt does not carry the abandoned realms' credentials up front.
    net.take_events(0);
    let before = net.registrar(1).registers.len();
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    let first_again = &net.registrar(1).registers[before].0;
    assert_eq!(first_again.headers.get_all("Authorization").count(), 0);
}

/// Issue 14 item 5: after a SHA-256 registration, a refresh answered by `stale=true` with
/// only MD5 must not weaken the algorithm for the realm.
#[test]
fn a_stale_md5_challenge_after_sha256_is_refused_as_a_downgrade() {
    let mut net = setup(TransportKind::Udp, false, |r| {
        r.algorithm = sip::auth::Algorithm::Sha256
    });
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    assert_eq!(registered(&net.events[0]).len(), 1, "{:?}", net.events[0]);
    let sha = &net.registrar(1).registers[1].0;
    assert!(sha
        .headers
        .get("Authorization")
        .unwrap()
        .contains("SHA-256"));
    net.take_events(0);
    {
        let r = net.registrar(1);
        r.algorithm = sip::auth::Algorithm::Md5;
        r.stale = true;
        r.nonce = "nonce-2".into();
    }
    let n = net.registrar(1).registers.len();
    assert!(net.run_until(Duration::from_secs(600), |e| auth_failure(e).is_some(), 0));
    let detail = auth_failure(&net.events[0]).unwrap();
    assert!(detail.contains("downgrade"), "{detail}");
    assert!(
        detail.contains("SHA-256") && detail.contains("MD5"),
        "{detail}"
    );
    // The refresh was sent once (with SHA-256 credentials) and never retried with MD5.
    let after: Vec<_> = net.registrar(1).registers[n..].iter().collect();
    assert_eq!(after.len(), 1);
    assert!(after.iter().all(|(r, _, _)| !r
        .headers
        .get("Authorization")
        .unwrap_or("")
        .contains("MD5")));
}

/// Issue 13: a registrar without outbound gets a CRLFCRLF on the registration's flow every
/// `keepalive` (pjsua's --ka-interval), over UDP and TCP; with `keepalive: None`, nothing.
#[test]
fn without_outbound_the_flow_gets_crlf_keepalives_at_the_configured_interval() {
    for (transport, keepalive) in [
        (TransportKind::Udp, Some(Duration::from_secs(25))),
        (TransportKind::Tcp, Some(Duration::from_secs(25))),
        (TransportKind::Udp, None),
    ] {
        let mut net = setup_with(transport, false, |c| c.keepalive = keepalive, |_| {});
        let t0 = net.now;
        net.ua(0).register(t0).unwrap();
        net.deliver();
        assert_eq!(registered(&net.events[0]).len(), 1, "{transport:?}");
        net.run_for(Duration::from_secs(80));
        let pings: Vec<_> = net
            .wire
            .iter()
            .filter(|s| s.from_node == 0 && s.transmit.bytes == b"\r\n\r\n")
            .collect();
        match keepalive {
            Some(_) => {
                assert_eq!(pings.len(), 3, "{transport:?}: at 25, 50 and 75 s");
                assert!(pings.iter().all(|s| s.transmit.dest == registrar_addr()));
                let first = pings[0].at - t0;
                assert!(
                    first >= Duration::from_secs(25) && first < Duration::from_secs(26),
                    "{first:?}"
                );
            }
            None => assert!(pings.is_empty(), "no keepalive when turned off"),
        }
    }
}
