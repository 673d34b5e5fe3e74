//! RFC 3263 §4.3 failover (virtual time): a request whose DNS target times out, fails to
//! connect or answers 503 goes to the next target as a new transaction.

mod events;
mod net;

use std::net::SocketAddr;
use std::time::Duration;

use net::{ua_config, Net, Registrar};
use sip::auth::Credentials;
use sip::endpoint::{NextHop, SipEvent, TransportKind};

const DEAD: &str = "127.0.0.1:5999";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn udp(s: &str) -> NextHop {
    NextHop {
        transport: TransportKind::Udp,
        addr: addr(s),
    }
}

fn failed_over(events: &[SipEvent]) -> Vec<(u16, SocketAddr, SocketAddr)> {
    events
        .iter()
        .filter_map(|e| match e {
            SipEvent::FailedOver { status, from, to } => Some((*status, *from, *to)),
            _ => None,
        })
        .collect()
}

fn incoming_invites(events: &[SipEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, SipEvent::IncomingCall { .. }))
        .count()
}

#[test]
fn an_invite_to_a_silent_first_target_goes_to_the_next_after_timer_b() {
    let mut net = Net::new();
    net.add_ua(ua_config("sip:alice@example.test", 5070), 1);
    net.add_ua(ua_config("sip:bob@example.test", 5080), 2);
    net.ua(0)
        .set_resolved("Example.TEST", vec![udp(DEAD), udp("127.0.0.1:5080")]);
    let now = net.now;
    net.ua(0).invite(now, "sip:bob@example.test", None).unwrap();
    net.deliver();
    assert_eq!(incoming_invites(&net.events[1]), 0);
    // Timer B (64·T1 = 32 s) ends the first transaction; the INVITE goes to bob.
    net.run_for(Duration::from_secs(33));
    assert_eq!(
        failed_over(&net.events[0]),
        vec![(408, addr(DEAD), addr("127.0.0.1:5080"))]
    );
    assert_eq!(incoming_invites(&net.events[1]), 1, "{:?}", net.events[1]);
    let invites = net.sent_matching("INVITE ");
    let branches: Vec<String> = invites
        .iter()
        .filter_map(|s| {
            s.text()
                .lines()
                .find(|l| l.starts_with("Via:"))
                .map(str::to_owned)
        })
        .collect();
    let last = branches.last().unwrap();
    assert!(
        branches.iter().filter(|b| *b == last).count() == 1
            || invites.last().unwrap().transmit.dest == addr("127.0.0.1:5080"),
        "the failover INVITE is a new transaction: {branches:?}"
    );
    assert!(invites
        .iter()
        .any(|s| s.transmit.dest == addr(DEAD) && s.text().contains("CSeq: 1 INVITE")));
    assert!(invites
        .iter()
        .any(|s| s.transmit.dest == addr("127.0.0.1:5080") && s.text().contains("CSeq: 2 INVITE")));
}

#[test]
fn a_503_moves_the_invite_on_and_the_last_failure_ends_the_call() {
    let mut net = Net::new();
    net.add_ua(ua_config("sip:alice@example.test", 5070), 1);
    net.add_ua(ua_config("sip:carol@example.test", 5090), 3);
    net.add_ua(ua_config("sip:bob@example.test", 5080), 2);
    net.ua(0).set_resolved(
        "example.test",
        vec![udp("127.0.0.1:5090"), udp("127.0.0.1:5080")],
    );
    let now = net.now;
    let call = net.ua(0).invite(now, "sip:bob@example.test", None).unwrap();
    net.deliver();
    let carol_incoming = events::first_incoming!(net.events[1], IncomingCall).unwrap();
    let now = net.now;
    net.ua(1).respond(now, carol_incoming, 503, None).unwrap();
    net.deliver();
    assert_eq!(
        failed_over(&net.events[0]),
        vec![(503, addr("127.0.0.1:5090"), addr("127.0.0.1:5080"))]
    );
    // Bob, the last target, answers 503 too: no target is left, the call fails with it.
    let bob_incoming = events::first_incoming!(net.events[2], IncomingCall).unwrap();
    let now = net.now;
    net.ua(2).respond(now, bob_incoming, 503, None).unwrap();
    net.deliver();
    assert_eq!(failed_over(&net.events[0]).len(), 1);
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        SipEvent::DialogTerminated { dialog, .. } if *dialog == call
    )));
}

#[test]
fn a_domain_without_resolved_targets_has_no_route() {
    let mut net = Net::new();
    net.add_ua(ua_config("sip:alice@example.test", 5070), 1);
    let now = net.now;
    let err = net
        .ua(0)
        .invite(now, "sip:bob@unresolved.test", None)
        .unwrap_err();
    assert!(err.to_string().contains("unresolved.test"), "{err}");
}

#[test]
fn register_fails_over_to_the_next_registrar_target() {
    let mut net = Net::new();
    let mut config = ua_config("sip:alice@test.invalid", 5070);
    config.credentials = Some(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    config.outbound_proxy = Some(udp(DEAD));
    config.proxy_alternates = vec![udp("127.0.0.1:5060")];
    net.add_ua(config, 7);
    net.add_registrar(Registrar::new(addr("127.0.0.1:5060")));
    let now = net.now;
    net.ua(0).register(now).unwrap();
    net.deliver();
    net.run_for(Duration::from_secs(33));
    assert_eq!(
        failed_over(&net.events[0]),
        vec![(408, addr(DEAD), addr("127.0.0.1:5060"))]
    );
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, SipEvent::Registered { .. })),
        "{:?}",
        net.events[0]
    );
    // Out-of-dialog requests now take the registration's flow, not the dead target.
    let now = net.now;
    net.ua(0).options(now, "sip:bob@test.invalid").unwrap();
    net.deliver();
    let options = net.sent_matching("OPTIONS ");
    assert_eq!(
        options.last().unwrap().transmit.dest,
        addr("127.0.0.1:5060")
    );
}
