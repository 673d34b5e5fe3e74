//! Tests of the simulated network itself: RFC 4787 NAT mapping and filtering per kind,
//! hairpinning, mapping timeouts, routing, link loss/duplication/reordering statistics at fixed
//! seeds, determinism, and the STUN server.

mod sim;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ice::stun::{Attribute, Class, Message, Method, TransactionId};
use sim::{LinkConditions, NatKind, Network};

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

const NAT_PUBLIC: [u8; 4] = [203, 0, 113, 1];
const PRIVATE: [u8; 4] = [192, 0, 2, 10];
const PEER_A: [u8; 4] = [198, 51, 100, 10];
const PEER_B: [u8; 4] = [198, 51, 100, 20];

fn v4(o: [u8; 4]) -> IpAddr {
    ip(o[0], o[1], o[2], o[3])
}

/// One host behind a NAT of `kind`, two public hosts.
fn nat_setup(kind: NatKind) -> (Network, Instant) {
    let t0 = Instant::now();
    let mut net = Network::new(1, t0);
    let nat = net.add_nat(kind, v4(NAT_PUBLIC));
    net.add_host(v4(PRIVATE), Some(nat), LinkConditions::ideal());
    net.add_host(v4(PEER_A), None, LinkConditions::ideal());
    net.add_host(v4(PEER_B), None, LinkConditions::ideal());
    (net, t0)
}

/// Send one datagram and return the single delivery it causes (or None).
fn one_hop(net: &mut Network, from: SocketAddr, to: SocketAddr) -> Option<sim::Delivery> {
    net.send(from, to, b"probe".to_vec());
    let now = net.now();
    let mut got = net.advance(now);
    assert!(got.len() <= 1, "one datagram in, at most one out");
    got.pop()
}

#[test]
fn mapping_is_endpoint_independent_except_for_symmetric_nats() {
    for kind in NatKind::ALL {
        let (mut net, _) = nat_setup(kind);
        let local = sa(v4(PRIVATE), 5000);
        let to_a = one_hop(&mut net, local, sa(v4(PEER_A), 3478)).expect("outbound passes");
        let to_b = one_hop(&mut net, local, sa(v4(PEER_B), 3478)).expect("outbound passes");
        let to_a_other_port =
            one_hop(&mut net, local, sa(v4(PEER_A), 3479)).expect("outbound passes");
        assert_eq!(
            to_a.from.ip(),
            v4(NAT_PUBLIC),
            "{kind:?} translates the source IP"
        );
        assert_ne!(to_a.from, local);
        if kind.endpoint_independent_mapping() {
            assert_eq!(
                to_a.from, to_b.from,
                "{kind:?}: same mapping for every remote"
            );
            assert_eq!(to_a.from, to_a_other_port.from);
        } else {
            assert_ne!(to_a.from, to_b.from, "{kind:?}: a new mapping per remote");
            assert_ne!(
                to_a.from, to_a_other_port.from,
                "{kind:?}: per remote port too"
            );
        }
    }
}

#[test]
fn filtering_follows_rfc4787_per_kind() {
    // (kind, reply from same addr, same IP other port, other IP)
    let expected = [
        (NatKind::FullCone, true, true, true),
        (NatKind::AddressRestricted, true, true, false),
        (NatKind::PortRestricted, true, false, false),
        (NatKind::Symmetric, true, false, false),
    ];
    for (kind, same, other_port, other_ip) in expected {
        let (mut net, _) = nat_setup(kind);
        let local = sa(v4(PRIVATE), 5000);
        let server = sa(v4(PEER_A), 3478);
        let mapped = one_hop(&mut net, local, server).expect("outbound").from;
        let cases = [
            (server, same),
            (sa(v4(PEER_A), 4000), other_port),
            (sa(v4(PEER_B), 3478), other_ip),
        ];
        for (from, passes) in cases {
            let before = net.stats().dropped_nat_filter;
            let got = one_hop(&mut net, from, mapped);
            if passes {
                let d = got.unwrap_or_else(|| panic!("{kind:?}: inbound from {from} must pass"));
                assert_eq!(d.to, local, "delivered to the internal address");
                assert_eq!(d.from, from, "source is the remote as sent");
            } else {
                assert!(
                    got.is_none(),
                    "{kind:?}: inbound from {from} must be dropped"
                );
                assert_eq!(net.stats().dropped_nat_filter, before + 1);
            }
        }
    }
}

#[test]
fn unsolicited_inbound_without_mapping_is_dropped_for_every_kind() {
    for kind in NatKind::ALL {
        let (mut net, _) = nat_setup(kind);
        let got = one_hop(&mut net, sa(v4(PEER_A), 3478), sa(v4(NAT_PUBLIC), 40_000));
        assert!(got.is_none(), "{kind:?}");
        assert_eq!(net.stats().dropped_nat_filter, 1);
    }
}

#[test]
fn hosts_behind_the_same_nat_reach_each_other_directly_and_by_hairpin() {
    let t0 = Instant::now();
    let mut net = Network::new(7, t0);
    let nat = net.add_nat(NatKind::FullCone, v4(NAT_PUBLIC));
    let h1 = sa(ip(192, 0, 2, 11), 5000);
    let h2 = sa(ip(192, 0, 2, 12), 6000);
    net.add_host(h1.ip(), Some(nat), LinkConditions::ideal());
    net.add_host(h2.ip(), Some(nat), LinkConditions::ideal());
    net.add_host(v4(PEER_A), None, LinkConditions::ideal());

    let direct = one_hop(&mut net, h1, h2).expect("LAN delivery");
    assert_eq!(
        (direct.from, direct.to),
        (h1, h2),
        "no translation on the LAN"
    );

    let h1_mapped = one_hop(&mut net, h1, sa(v4(PEER_A), 3478))
        .expect("out")
        .from;
    let hairpin = one_hop(&mut net, h2, h1_mapped).expect("RFC 4787 REQ-9 hairpinning");
    assert_eq!(hairpin.to, h1);
    assert_eq!(
        hairpin.from.ip(),
        v4(NAT_PUBLIC),
        "source is h2's external address"
    );
    assert_ne!(hairpin.from, h1_mapped);
}

#[test]
fn idle_mappings_expire_after_the_configured_timeout() {
    let (mut net, t0) = nat_setup(NatKind::PortRestricted);
    let nat = sim::NatId(0);
    net.set_nat_mapping_timeout(nat, Some(Duration::from_secs(120)));
    let local = sa(v4(PRIVATE), 5000);
    let server = sa(v4(PEER_A), 3478);
    let first = one_hop(&mut net, local, server).expect("out").from;
    net.advance(t0 + Duration::from_secs(119));
    assert!(
        one_hop(&mut net, server, first).is_some(),
        "still mapped at 119 s"
    );
    net.advance(t0 + Duration::from_secs(120));
    assert!(
        one_hop(&mut net, server, first).is_none(),
        "expired at 120 s"
    );
    assert_eq!(net.nat(nat).map(|n| n.mapping_count()), Some(0));
    let second = one_hop(&mut net, local, server).expect("out").from;
    assert_ne!(first, second, "a fresh mapping gets a new port");
}

#[test]
fn private_addresses_behind_another_nat_and_unknown_ips_are_unroutable() {
    let t0 = Instant::now();
    let mut net = Network::new(3, t0);
    let nat1 = net.add_nat(NatKind::FullCone, ip(203, 0, 113, 1));
    let nat2 = net.add_nat(NatKind::FullCone, ip(203, 0, 113, 2));
    let h1 = sa(ip(192, 0, 2, 11), 5000);
    let h2 = sa(ip(192, 0, 2, 99), 5000);
    net.add_host(h1.ip(), Some(nat1), LinkConditions::ideal());
    net.add_host(h2.ip(), Some(nat2), LinkConditions::ideal());
    assert!(one_hop(&mut net, h1, h2).is_none());
    assert!(one_hop(&mut net, h1, sa(ip(198, 51, 100, 77), 9)).is_none());
    net.send(sa(ip(198, 51, 100, 250), 1), h1, b"x".to_vec());
    net.advance(t0);
    assert_eq!(net.stats().dropped_no_route, 3);
    assert_eq!(net.stats().delivered, 0);
}

fn blast(seed: u64, link: LinkConditions, count: u32) -> (Network, Vec<sim::Delivery>) {
    blast_from(Instant::now(), seed, link, count)
}

fn blast_from(
    t0: Instant,
    seed: u64,
    link: LinkConditions,
    count: u32,
) -> (Network, Vec<sim::Delivery>) {
    let mut net = Network::new(seed, t0);
    let a = sa(v4(PEER_A), 1000);
    let b = sa(v4(PEER_B), 2000);
    net.add_host(a.ip(), None, link);
    net.add_host(b.ip(), None, LinkConditions::ideal());
    let mut got = Vec::new();
    for i in 0..count {
        let now = t0 + Duration::from_millis(u64::from(i));
        got.extend(net.advance(now));
        net.send(a, b, i.to_be_bytes().to_vec());
    }
    got.extend(net.advance(t0 + Duration::from_secs(3600)));
    (net, got)
}

fn seq_of(d: &sim::Delivery) -> u32 {
    let bytes: [u8; 4] = d.data.as_slice().try_into().expect("4-byte payload");
    u32::from_be_bytes(bytes)
}

#[test]
fn delay_and_jitter_bound_every_arrival() {
    let link = LinkConditions {
        delay: Duration::from_millis(40),
        jitter: Duration::from_millis(10),
        ..LinkConditions::default()
    };
    let t0 = Instant::now();
    let mut net = Network::new(11, t0);
    net.add_host(v4(PEER_A), None, link);
    net.add_host(v4(PEER_B), None, LinkConditions::ideal());
    for _ in 0..1000 {
        net.send(sa(v4(PEER_A), 1), sa(v4(PEER_B), 2), vec![0]);
    }
    assert!(net.advance(t0 + Duration::from_millis(39)).is_empty());
    let got = net.advance(t0 + Duration::from_millis(50));
    assert_eq!(got.len(), 1000);
    assert!(got
        .iter()
        .all(|d| d.at >= t0 + Duration::from_millis(40) && d.at <= t0 + Duration::from_millis(50)));
    let distinct: std::collections::HashSet<_> = got.iter().map(|d| d.at).collect();
    assert!(
        distinct.len() > 500,
        "jitter spreads arrivals: {}",
        distinct.len()
    );
    assert!(got.windows(2).all(|w| w[0].at <= w[1].at), "arrival order");
}

#[test]
fn loss_rate_matches_the_probability_at_a_fixed_seed() {
    let link = LinkConditions {
        loss: 0.2,
        ..LinkConditions::default()
    };
    let (net, got) = blast(42, link, 10_000);
    let stats = net.stats();
    assert_eq!(stats.sent, 10_000);
    assert_eq!(stats.delivered + stats.dropped_loss, 10_000);
    assert_eq!(got.len() as u64, stats.delivered);
    assert!(
        (1_850..=2_150).contains(&stats.dropped_loss),
        "20 % ± 1.5 %: {}",
        stats.dropped_loss
    );
}

#[test]
fn duplication_adds_copies_at_the_configured_rate() {
    let link = LinkConditions {
        duplicate: 0.1,
        ..LinkConditions::default()
    };
    let (net, got) = blast(43, link, 10_000);
    let stats = net.stats();
    assert!(
        (900..=1_100).contains(&stats.duplicated),
        "{}",
        stats.duplicated
    );
    assert_eq!(stats.delivered, 10_000 + stats.duplicated);
    let mut seqs: Vec<u32> = got.iter().map(seq_of).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 10_000, "every datagram arrives at least once");
}

#[test]
fn reordering_lets_later_datagrams_overtake() {
    let link = LinkConditions {
        reorder: 0.1,
        ..LinkConditions::default()
    };
    // One datagram per millisecond, hold-back 5 ms: a held-back datagram is overtaken.
    let (net, got) = blast(44, link, 10_000);
    let stats = net.stats();
    assert!(
        (900..=1_100).contains(&stats.held_back),
        "{}",
        stats.held_back
    );
    assert_eq!(got.len(), 10_000);
    let out_of_order = got
        .windows(2)
        .filter(|w| seq_of(&w[1]) < seq_of(&w[0]))
        .count();
    assert!(out_of_order > 500, "out-of-order arrivals: {out_of_order}");
}

#[test]
fn same_seed_same_fates_other_seed_other_fates() {
    let link = LinkConditions {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(30),
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.05,
    };
    let t0 = Instant::now();
    let (_, a) = blast_from(t0, 5, link, 2_000);
    let (_, b) = blast_from(t0, 5, link, 2_000);
    let (_, c) = blast_from(t0, 6, link, 2_000);
    assert!(a == b, "same seed, same deliveries");
    assert!(a != c, "another seed, other deliveries");
}

#[test]
fn nat_wan_link_conditions_apply_to_forwarded_datagrams() {
    let (mut net, t0) = nat_setup(NatKind::FullCone);
    net.set_nat_wan_link(
        sim::NatId(0),
        LinkConditions::with_delay(Duration::from_millis(30)),
    );
    net.send(sa(v4(PRIVATE), 5000), sa(v4(PEER_A), 1), b"x".to_vec());
    assert!(net.advance(t0 + Duration::from_millis(29)).is_empty());
    let got = net.advance(t0 + Duration::from_millis(30));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].at, t0 + Duration::from_millis(30));
}

// ---- STUN server ----

const STUN_1: ([u8; 4], u16) = ([198, 51, 100, 1], 3478);
const STUN_2: ([u8; 4], u16) = ([198, 51, 100, 2], 3478);

fn binding_request(seed: u8) -> Message {
    Message::new(Class::Request, Method::Binding, TransactionId([seed; 12]))
}

/// A STUN server at STUN_1 and a public client host at PEER_A:5000 (network seed 9).
fn stun_server_and_client() -> (Network, Instant, SocketAddr, SocketAddr) {
    let t0 = Instant::now();
    let mut net = Network::new(9, t0);
    let server = sa(v4(STUN_1.0), STUN_1.1);
    net.add_stun_server(server);
    let client = sa(v4(PEER_A), 5000);
    net.add_host(client.ip(), None, LinkConditions::ideal());
    (net, t0, server, client)
}

/// The lab's probe: one host asks two STUN servers and compares the mapped addresses.
fn probe(kind: NatKind) -> (SocketAddr, SocketAddr, Vec<sim::Delivery>) {
    let (mut net, t0) = nat_setup(kind);
    let s1 = sa(v4(STUN_1.0), STUN_1.1);
    let s2 = sa(v4(STUN_2.0), STUN_2.1);
    net.add_stun_server(s1);
    net.add_stun_server(s2);
    let local = sa(v4(PRIVATE), 5000);
    net.send(local, s1, binding_request(1).encode(None, true));
    net.send(local, s2, binding_request(2).encode(None, true));
    let got = net.advance(t0);
    assert_eq!(got.len(), 2);
    let mapped: Vec<SocketAddr> = got
        .iter()
        .map(|d| {
            let m = Message::decode(&d.data).expect("valid STUN with a valid FINGERPRINT");
            assert_eq!((m.class, m.method), (Class::Success, Method::Binding));
            m.mapped_address().expect("XOR-MAPPED-ADDRESS")
        })
        .collect();
    assert_eq!(
        net.stats()
            .stun_servers
            .get(&s1)
            .map(|s| s.binding_requests),
        Some(1)
    );
    (mapped[0], mapped[1], got)
}

#[test]
fn stun_probe_tells_symmetric_from_cone_nats() {
    for kind in NatKind::ALL {
        let (m1, m2, _) = probe(kind);
        assert_eq!(m1.ip(), v4(NAT_PUBLIC), "{kind:?}");
        assert_eq!(m1 == m2, kind.endpoint_independent_mapping(), "{kind:?}");
    }
}

#[test]
fn stun_response_matches_the_transaction_and_carries_software_and_fingerprint() {
    let (_, _, got) = probe(NatKind::FullCone);
    let first = &got[0];
    assert_eq!(first.from, sa(v4(STUN_1.0), STUN_1.1));
    assert_eq!(first.to, sa(v4(PRIVATE), 5000));
    let m = Message::decode(&first.data).expect("decode");
    assert_eq!(m.transaction_id, TransactionId([1; 12]));
    assert!(m.software().is_some_and(|s| !s.is_empty()));
    // RFC 8489 §14.7: FINGERPRINT is the last attribute (type 0x8028).
    let len = first.data.len();
    assert_eq!(first.data.get(len - 8..len - 6), Some(&[0x80, 0x28][..]));
}

#[test]
fn stun_server_rejects_other_methods_and_ignores_indications_and_garbage() {
    let (mut net, t0, server, client) = stun_server_and_client();
    let allocate = Message::new(Class::Request, Method::Allocate, TransactionId([3; 12]));
    net.send(client, server, allocate.encode(None, true));
    let indication = Message::new(Class::Indication, Method::Binding, TransactionId([4; 12]));
    net.send(client, server, indication.encode(None, true));
    net.send(client, server, b"not stun at all".to_vec());
    let got = net.advance(t0);
    assert_eq!(got.len(), 1, "only the request is answered");
    let m = Message::decode(&got[0].data).expect("decode");
    assert_eq!(m.class, Class::Error);
    assert_eq!(m.error_code().map(|(c, _)| c), Some(400));
    let stats = net.stats().stun_servers[&server].clone();
    assert_eq!((stats.error_responses, stats.ignored), (1, 2));
}

#[test]
fn stun_server_answers_unknown_comprehension_required_attributes_with_420() {
    let (mut net, t0, server, client) = stun_server_and_client();
    // A Binding request with an unknown comprehension-required attribute 0x7F01 (hand-made).
    let mut raw = binding_request(5).encode(None, false);
    raw.extend_from_slice(&[0x7F, 0x01, 0x00, 0x04, 1, 2, 3, 4]);
    let len = u16::try_from(raw.len() - 20).expect("small");
    raw[2..4].copy_from_slice(&len.to_be_bytes());
    net.send(client, server, raw);
    let got = net.advance(t0);
    assert_eq!(got.len(), 1);
    let m = Message::decode(&got[0].data).expect("decode");
    assert_eq!(m.error_code().map(|(c, _)| c), Some(420));
    assert!(m
        .attributes
        .contains(&Attribute::UnknownAttributes(vec![0x7F01])));
}
