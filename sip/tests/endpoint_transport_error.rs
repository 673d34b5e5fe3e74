//! `Endpoint::transport_error`: the driver reports that the transport toward a destination
//! failed (on UDP, an ICMP error such as port unreachable). RFC 3261 §18.4 / §8.1.3.1: the
//! client transactions sent there fail at once (a local 408), and nothing else does.

mod events;
mod net;

use std::net::SocketAddr;
use std::time::Duration;

use events::first_incoming;
use net::{ua_config, Net, Registrar};
use sip::auth::Credentials;
use sip::endpoint::{
    Body, NextHop, RegistrationFailure, SipEvent, TerminationReason, TransportFailure,
    TransportKind,
};

const DEAD: &str = "127.0.0.1:5099";
const SILENT: &str = "127.0.0.1:5098";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn icmp_unreachable(dest: &str) -> TransportFailure {
    TransportFailure {
        transport: TransportKind::Udp,
        dest: addr(dest),
        detail: "ICMP port unreachable".into(),
    }
}

fn count(net: &Net, prefix: &str, dest: &str) -> usize {
    net.sent_matching(prefix)
        .iter()
        .filter(|s| s.transmit.dest == addr(dest))
        .count()
}

#[test]
fn udp_transport_error_fails_only_the_client_transactions_sent_there() {
    let mut net = Net::new();
    net.add_ua(ua_config("sip:alice@127.0.0.1", 5070), 1);
    net.add_ua(ua_config("sip:bob@127.0.0.1", 5080), 2);
    let now = net.now;
    // Bob calls Alice: Alice holds a server transaction (and dialog) toward Bob.
    net.ua(1)
        .invite(
            now,
            "sip:alice@127.0.0.1:5070",
            Some(Body::new("application/sdp", "v=0")),
        )
        .unwrap();
    net.deliver();
    let incoming = first_incoming!(net.events[0], IncomingCall).unwrap();
    // Alice sends an INVITE where nothing listens and an OPTIONS where nobody answers.
    let dead = net
        .ua(0)
        .invite(now, &format!("sip:carol@{DEAD}"), None)
        .unwrap();
    net.ua(0)
        .options(now, &format!("sip:dan@{SILENT}"))
        .unwrap();
    net.deliver();

    // The same address over TCP is another transport: the UDP transactions stay.
    net.ua(0)
        .transport_error(now, TransportKind::Tcp, addr(DEAD), "connection refused");
    // A destination nothing was sent to: nothing happens.
    net.ua(0)
        .transport_error(now, TransportKind::Udp, addr("127.0.0.1:5097"), "x");
    net.deliver();
    assert!(
        !net.events[0]
            .iter()
            .any(|e| matches!(e, SipEvent::DialogTerminated { .. })),
        "{:?}",
        net.events[0]
    );

    net.ua(0)
        .transport_error(now, TransportKind::Udp, addr(DEAD), "ICMP port unreachable");
    net.deliver();
    let ended: Vec<_> = net.events[0]
        .iter()
        .filter_map(|e| match e {
            SipEvent::DialogTerminated { dialog, reason } => Some((*dialog, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        vec![(
            dead,
            TerminationReason::TransportError(icmp_unreachable(DEAD))
        )],
        "the INVITE to {DEAD} fails at once, and only it"
    );
    assert!(!net.events[0]
        .iter()
        .any(|e| matches!(e, SipEvent::OptionsResponse { .. })));

    // Bob's call is still there to answer, and the OPTIONS elsewhere keeps retransmitting;
    // the failed INVITE is never sent again.
    let invites_before = count(&net, "INVITE", DEAD);
    let options_before = count(&net, "OPTIONS", SILENT);
    let now = net.now;
    net.ua(0)
        .respond(
            now,
            incoming,
            200,
            Some(Body::new("application/sdp", "v=0")),
        )
        .unwrap();
    net.run_for(Duration::from_secs(4));
    assert!(net.events[1]
        .iter()
        .any(|e| matches!(e, SipEvent::CallAnswered { .. })));
    assert_eq!(count(&net, "INVITE", DEAD), invites_before);
    assert!(count(&net, "OPTIONS", SILENT) > options_before);
}

#[test]
fn udp_transport_error_fails_the_register_at_once() {
    let mut net = Net::new();
    let mut config = ua_config("sip:alice@test.invalid", 5070);
    config.outbound_proxy = Some(NextHop {
        transport: TransportKind::Udp,
        addr: addr(DEAD),
    });
    net.add_ua(config, 3);
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    net.ua(0)
        .transport_error(now, TransportKind::Udp, addr(DEAD), "ICMP port unreachable");
    net.deliver();
    assert_eq!(
        net.events[0],
        vec![SipEvent::RegistrationFailed {
            reason: RegistrationFailure::Transport(icmp_unreachable(DEAD))
        }]
    );
    assert_eq!(net.now, net.t0, "no waiting for Timer F");
}

#[test]
fn transport_error_after_the_final_response_changes_nothing() {
    let mut net = Net::new();
    let registrar = addr("127.0.0.1:5060");
    let mut config = ua_config("sip:alice@test.invalid", 5070);
    config.outbound_proxy = Some(NextHop {
        transport: TransportKind::Udp,
        addr: registrar,
    });
    config.credentials = Some(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    net.add_ua(config, 4);
    net.add_registrar(Registrar::new(registrar));
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    assert!(
        matches!(net.events[0].as_slice(), [SipEvent::Registered { .. }]),
        "{:?}",
        net.events[0]
    );
    // The REGISTER transaction is Completed (Timer K absorbs retransmitted 200s): an ICMP
    // error toward the registrar now is about some other datagram, not this request.
    let now = net.now;
    net.ua(0)
        .transport_error(now, TransportKind::Udp, registrar, "ICMP port unreachable");
    net.deliver();
    assert_eq!(net.events[0].len(), 1, "{:?}", net.events[0]);
}
