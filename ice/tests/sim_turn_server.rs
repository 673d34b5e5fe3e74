//! Tests of the simulated TURN server with hand-built messages (no TURN client involved):
//! the RFC 8489 §9.2 long-term credential exchange, RFC 8656 Allocate / Refresh /
//! CreatePermission / ChannelBind, permission enforcement and lifetimes.

mod sim;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ice::stun::{
    decode_channel_data, encode_channel_data, verify_integrity, Attribute, Class, IntegrityKey,
    Message, Method, TransactionId,
};
use sim::{LinkConditions, Network, TurnServerConfig};

const REALM: &str = "sim.example";

fn addr(o: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])), port)
}

struct Setup {
    net: Network,
    t0: Instant,
    server: SocketAddr,
    relay_ip: IpAddr,
    client: SocketAddr,
    peer: SocketAddr,
}

fn setup(config: TurnServerConfig) -> Setup {
    let t0 = Instant::now();
    let mut net = Network::new(1, t0);
    let server = addr([198, 51, 100, 1], 3478);
    let relay_ip = addr([198, 51, 100, 2], 0).ip();
    net.add_turn_server_with(server, relay_ip, REALM, &[("alice", "secret")], config);
    let client = addr([203, 0, 113, 5], 5000);
    let peer = addr([203, 0, 113, 9], 7000);
    net.add_host(client.ip(), None, LinkConditions::ideal());
    net.add_host(peer.ip(), None, LinkConditions::ideal());
    Setup {
        net,
        t0,
        server,
        relay_ip,
        client,
        peer,
    }
}

fn key(password: &str) -> IntegrityKey {
    IntegrityKey::long_term("alice", REALM, password)
}

fn tid(n: u8) -> TransactionId {
    TransactionId([n; 12])
}

fn authed(msg: Message, nonce: &str) -> Message {
    msg.with(Attribute::Username("alice".into()))
        .with(Attribute::Realm(REALM.into()))
        .with(Attribute::Nonce(nonce.into()))
}

/// Send bytes from `from` to `to` and return what comes back to `from` (raw, decoded).
fn exchange(s: &mut Setup, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) -> Vec<Vec<u8>> {
    s.net.send(from, to, bytes);
    let now = s.net.now();
    s.net
        .advance(now)
        .into_iter()
        .filter(|d| d.to == from)
        .map(|d| d.data)
        .collect()
}

fn request(s: &mut Setup, msg: &Message, k: Option<&IntegrityKey>) -> (Message, Vec<u8>) {
    let (client, server) = (s.client, s.server);
    let mut got = exchange(s, client, server, msg.encode(k, true));
    assert_eq!(got.len(), 1, "one response");
    let raw = got.remove(0);
    (Message::decode(&raw).expect("valid response"), raw)
}

fn allocate_msg(n: u8) -> Message {
    Message::new(Class::Request, Method::Allocate, tid(n)).with(Attribute::RequestedTransport(17))
}

/// Run the 401 exchange and an authenticated Allocate; returns (nonce, relayed address).
fn allocate(s: &mut Setup) -> (String, SocketAddr) {
    let (challenge, _) = request(s, &allocate_msg(1), None);
    let nonce = challenge.nonce().expect("nonce").to_owned();
    let (ok, raw) = request(s, &authed(allocate_msg(2), &nonce), Some(&key("secret")));
    assert_eq!(ok.class, Class::Success, "{ok:?}");
    verify_integrity(&raw, &key("secret")).expect("RFC 8489 §9.2.4: response carries MI");
    (nonce, ok.xor_relayed_address().expect("relayed"))
}

#[test]
fn unauthenticated_allocate_gets_401_with_realm_and_nonce() {
    let mut s = setup(TurnServerConfig::default());
    let (m, _) = request(&mut s, &allocate_msg(1), None);
    assert_eq!(m.class, Class::Error);
    assert_eq!(m.error_code().map(|(c, _)| c), Some(401));
    assert_eq!(m.realm(), Some(REALM));
    assert!(m.nonce().is_some_and(|n| !n.is_empty()));
    assert_eq!(m.transaction_id, tid(1));
}

#[test]
fn authenticated_allocate_returns_relay_mapped_and_lifetime() {
    let mut s = setup(TurnServerConfig::default());
    let (nonce, relayed) = allocate(&mut s);
    assert_eq!(relayed.ip(), s.relay_ip);
    let (m, _) = request(
        &mut s,
        &authed(allocate_msg(3), &nonce),
        Some(&key("secret")),
    );
    assert_eq!(
        m.error_code().map(|(c, _)| c),
        Some(437),
        "second Allocate: mismatch"
    );
    let stats = s.net.stats().turn_servers[&s.server].clone();
    assert_eq!(
        (stats.allocations_active, stats.allocations_created),
        (1, 1)
    );
}

#[test]
fn allocate_success_reports_client_address_and_default_lifetime() {
    let mut s = setup(TurnServerConfig::default());
    let (challenge, _) = request(&mut s, &allocate_msg(1), None);
    let nonce = challenge.nonce().expect("nonce").to_owned();
    let msg = authed(allocate_msg(2).with(Attribute::Lifetime(30)), &nonce);
    let (ok, _) = request(&mut s, &msg, Some(&key("secret")));
    assert_eq!(ok.mapped_address(), Some(s.client));
    assert_eq!(
        ok.lifetime(),
        Some(600),
        "RFC 8656 §7.2: never below the default"
    );
}

#[test]
fn wrong_password_gets_401_and_no_allocation() {
    let mut s = setup(TurnServerConfig::default());
    let (challenge, _) = request(&mut s, &allocate_msg(1), None);
    let nonce = challenge.nonce().expect("nonce").to_owned();
    let (m, _) = request(
        &mut s,
        &authed(allocate_msg(2), &nonce),
        Some(&key("wrong")),
    );
    assert_eq!(m.error_code().map(|(c, _)| c), Some(401));
    assert_eq!(s.net.stats().turn_servers[&s.server].allocations_created, 0);
}

#[test]
fn expired_nonce_gets_438_with_a_new_nonce() {
    let config = TurnServerConfig {
        nonce_lifetime: Some(Duration::from_secs(30)),
        ..TurnServerConfig::default()
    };
    let mut s = setup(config);
    let (challenge, _) = request(&mut s, &allocate_msg(1), None);
    let nonce = challenge.nonce().expect("nonce").to_owned();
    s.net.advance(s.t0 + Duration::from_secs(30));
    let (m, _) = request(
        &mut s,
        &authed(allocate_msg(2), &nonce),
        Some(&key("secret")),
    );
    assert_eq!(m.error_code().map(|(c, _)| c), Some(438));
    let fresh = m.nonce().expect("new nonce").to_owned();
    assert_ne!(fresh, nonce);
    let (ok, _) = request(
        &mut s,
        &authed(allocate_msg(3), &fresh),
        Some(&key("secret")),
    );
    assert_eq!(ok.class, Class::Success);
}

#[test]
fn unsupported_transport_gets_442() {
    let mut s = setup(TurnServerConfig::default());
    let (challenge, _) = request(&mut s, &allocate_msg(1), None);
    let nonce = challenge.nonce().expect("nonce").to_owned();
    let tcp = Message::new(Class::Request, Method::Allocate, tid(2))
        .with(Attribute::RequestedTransport(6));
    let (m, _) = request(&mut s, &authed(tcp, &nonce), Some(&key("secret")));
    assert_eq!(m.error_code().map(|(c, _)| c), Some(442));
}

#[test]
fn peer_traffic_needs_a_permission_then_arrives_as_data_indication() {
    let mut s = setup(TurnServerConfig::default());
    let (nonce, relayed) = allocate(&mut s);
    let (peer, client) = (s.peer, s.client);
    assert!(exchange(&mut s, peer, relayed, b"early".to_vec()).is_empty());
    s.net.send(peer, relayed, b"early".to_vec());
    let now = s.net.now();
    assert!(s.net.advance(now).is_empty(), "no permission: dropped");
    assert_eq!(
        s.net.stats().turn_servers[&s.server].dropped_no_permission,
        2
    );

    let perm = Message::new(Class::Request, Method::CreatePermission, tid(4))
        .with(Attribute::XorPeerAddress(peer));
    let (ok, _) = request(&mut s, &authed(perm, &nonce), Some(&key("secret")));
    assert_eq!(ok.class, Class::Success);

    s.net.send(peer, relayed, b"hello".to_vec());
    let now = s.net.now();
    let got = s.net.advance(now);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].from, got[0].to), (s.server, client));
    let data = Message::decode(&got[0].data).expect("Data indication");
    assert_eq!((data.class, data.method), (Class::Indication, Method::Data));
    assert_eq!(data.xor_peer_address(), Some(peer));
    assert_eq!(data.data(), Some(&b"hello"[..]));

    // Send indication out to the peer, from the relayed address.
    let send = Message::new(Class::Indication, Method::Send, tid(5))
        .with(Attribute::XorPeerAddress(peer))
        .with(Attribute::Data(b"out".to_vec()));
    s.net.send(client, s.server, send.encode(None, true));
    let now = s.net.now();
    let got = s.net.advance(now);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].from, got[0].to, &got[0].data[..]),
        (relayed, peer, &b"out"[..])
    );

    // RFC 8656 §9: the permission lasts 300 s.
    s.net.advance(s.t0 + Duration::from_secs(300));
    s.net.send(peer, relayed, b"late".to_vec());
    let now = s.net.now();
    assert!(s.net.advance(now).is_empty(), "permission expired");
}

#[test]
fn channel_bind_switches_both_directions_to_channel_data() {
    let mut s = setup(TurnServerConfig::default());
    let (nonce, relayed) = allocate(&mut s);
    let (peer, client, server) = (s.peer, s.client, s.server);
    let bad = Message::new(Class::Request, Method::ChannelBind, tid(6))
        .with(Attribute::ChannelNumber(0x3FFF))
        .with(Attribute::XorPeerAddress(peer));
    let (m, _) = request(&mut s, &authed(bad, &nonce), Some(&key("secret")));
    assert_eq!(
        m.error_code().map(|(c, _)| c),
        Some(400),
        "RFC 8656 §12: 0x4000..=0x4FFF"
    );
    let bind = Message::new(Class::Request, Method::ChannelBind, tid(7))
        .with(Attribute::ChannelNumber(0x4000))
        .with(Attribute::XorPeerAddress(peer));
    let (ok, _) = request(&mut s, &authed(bind, &nonce), Some(&key("secret")));
    assert_eq!(ok.class, Class::Success);

    s.net.send(peer, relayed, b"ping".to_vec());
    let now = s.net.now();
    let got = s.net.advance(now);
    assert_eq!(got.len(), 1);
    assert_eq!(
        decode_channel_data(&got[0].data),
        Ok((0x4000, &b"ping"[..]))
    );

    s.net
        .send(client, server, encode_channel_data(0x4000, b"pong", false));
    let now = s.net.now();
    let got = s.net.advance(now);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].from, got[0].to, &got[0].data[..]),
        (relayed, peer, &b"pong"[..])
    );
}

#[test]
fn refresh_zero_frees_and_expiry_removes_allocations() {
    let mut s = setup(TurnServerConfig::default());
    let (nonce, _) = allocate(&mut s);
    let refresh =
        Message::new(Class::Request, Method::Refresh, tid(8)).with(Attribute::Lifetime(0));
    let (ok, _) = request(&mut s, &authed(refresh, &nonce), Some(&key("secret")));
    assert_eq!((ok.class, ok.lifetime()), (Class::Success, Some(0)));
    let stats = s.net.stats().turn_servers[&s.server].clone();
    assert_eq!((stats.allocations_active, stats.allocations_freed), (0, 1));

    let again = authed(allocate_msg(9), &nonce);
    let (ok, _) = request(&mut s, &again, Some(&key("secret")));
    assert_eq!(
        ok.class,
        Class::Success,
        "a new allocation on the same 5-tuple"
    );
    s.net.advance(s.t0 + Duration::from_secs(600));
    let stats = s.net.stats().turn_servers[&s.server].clone();
    assert_eq!(
        (stats.allocations_active, stats.allocations_expired),
        (0, 1)
    );
}
