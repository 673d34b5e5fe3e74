//! The TURN client (ice::turn) against the simulated TURN server, through NATs, in virtual time.

mod sim;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ice::stun::{verify_integrity, Class, IntegrityKey, Message, Method};
use ice::turn::{TurnClient, TurnCredentials, TurnError, TurnEvent, TurnReceived};
use sim::{Delivery, LinkConditions, NatKind, Network, TurnServerConfig, TurnStats};

const REALM: &str = "sim.example";
const MAX_STEPS: usize = 200_000;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn server_addr() -> SocketAddr {
    SocketAddr::new(v4(198, 51, 100, 1), 3478)
}
fn relay_ip() -> IpAddr {
    v4(198, 51, 100, 2)
}
fn nat_ip() -> IpAddr {
    v4(203, 0, 113, 1)
}
fn client_local() -> SocketAddr {
    SocketAddr::new(v4(192, 0, 2, 10), 5000)
}
fn peer_addr() -> SocketAddr {
    SocketAddr::new(v4(203, 0, 113, 77), 7000)
}

fn creds(password: &str) -> TurnCredentials {
    TurnCredentials {
        username: "alice".into(),
        password: password.into(),
    }
}

/// A TURN client behind a NAT, a public peer, a TURN server; the loop that drives them.
struct Harness {
    t0: Instant,
    net: Network,
    client: TurnClient,
    events: Vec<(Instant, TurnEvent)>,
    received: Vec<TurnReceived>,
    /// Everything the client sent: (time, bytes).
    sent: Vec<(Instant, Vec<u8>)>,
    /// Everything delivered to the client.
    client_inbox: Vec<Delivery>,
    peer_inbox: Vec<Delivery>,
}

impl Harness {
    fn new(kind: NatKind, link: LinkConditions, password: &str, config: TurnServerConfig) -> Self {
        let t0 = Instant::now();
        let mut net = Network::new(17, t0);
        let nat = net.add_nat(kind, nat_ip());
        net.add_host(client_local().ip(), Some(nat), link);
        net.add_host(peer_addr().ip(), None, LinkConditions::ideal());
        net.add_turn_server_with(
            server_addr(),
            relay_ip(),
            REALM,
            &[("alice", "secret")],
            config,
        );
        let client = TurnClient::new(client_local(), server_addr(), creds(password), t0, 99);
        Self {
            t0,
            net,
            client,
            events: Vec::new(),
            received: Vec::new(),
            sent: Vec::new(),
            client_inbox: Vec::new(),
            peer_inbox: Vec::new(),
        }
    }

    fn standard() -> Self {
        Self::new(
            NatKind::PortRestricted,
            LinkConditions::with_delay(Duration::from_millis(20)),
            "secret",
            TurnServerConfig::default(),
        )
    }

    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn flush(&mut self) {
        let now = self.net.now();
        while let Some((to, bytes)) = self.client.poll_transmit() {
            assert_eq!(to, server_addr(), "the client only talks to its server");
            self.sent.push((now, bytes.clone()));
            self.net.send(client_local(), to, bytes);
        }
        while let Some(event) = self.client.poll_event() {
            self.events.push((now, event));
        }
    }

    /// Drive everything until `deadline` (virtual time), with a step limit against livelock.
    fn run_until(&mut self, deadline: Instant) {
        for _ in 0..MAX_STEPS {
            self.flush();
            let next = [self.client.poll_timeout(), self.net.next_delivery()]
                .into_iter()
                .flatten()
                .min();
            let target = match next {
                Some(t) if t <= deadline => t.max(self.net.now()),
                _ => deadline.max(self.net.now()),
            };
            for delivery in self.net.advance(target) {
                if delivery.to == client_local() {
                    if let Some(got) =
                        self.client
                            .handle_packet(delivery.at, delivery.from, &delivery.data)
                    {
                        self.received.push(got);
                    }
                    self.client_inbox.push(delivery);
                } else {
                    self.peer_inbox.push(delivery);
                }
            }
            if self.client.poll_timeout().is_some_and(|t| t <= target) {
                self.client.handle_timeout(target);
            }
            self.flush();
            let pending = [self.client.poll_timeout(), self.net.next_delivery()]
                .into_iter()
                .flatten()
                .any(|t| t <= deadline);
            if target >= deadline && !pending {
                return;
            }
        }
        panic!("livelock: more than {MAX_STEPS} steps");
    }

    fn run_for(&mut self, secs: f64) {
        let deadline = self.net.now() + Duration::from_secs_f64(secs);
        self.run_until(deadline);
    }

    fn allocated(&mut self) -> (SocketAddr, SocketAddr) {
        self.allocated_within(1.0)
    }

    fn allocated_within(&mut self, secs: f64) -> (SocketAddr, SocketAddr) {
        self.run_for(secs);
        self.events
            .iter()
            .find_map(|(_, e)| match e {
                TurnEvent::Allocated {
                    relayed, mapped, ..
                } => Some((*relayed, *mapped)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Allocated event: {:?}", self.events))
    }

    fn turn_stats(&self) -> TurnStats {
        self.net.stats().turn_servers[&server_addr()].clone()
    }

    fn has_event(&self, wanted: &TurnEvent) -> bool {
        self.events.iter().any(|(_, e)| e == wanted)
    }

    fn sent_requests(&self, method: Method) -> Vec<(Instant, Message)> {
        self.sent
            .iter()
            .filter_map(|(at, bytes)| Message::decode(bytes).ok().map(|m| (*at, m)))
            .filter(|(_, m)| m.class == Class::Request && m.method == method)
            .collect()
    }

    fn peer_send(&mut self, to: SocketAddr, data: &[u8]) {
        self.net.send(peer_addr(), to, data.to_vec());
        self.run_for(0.5);
    }
}

#[test]
fn allocates_through_a_nat_after_the_401_challenge() {
    let mut h = Harness::standard();
    let (relayed, mapped) = h.allocated();
    assert_eq!(
        relayed.ip(),
        relay_ip(),
        "relayed address comes from the relay IP"
    );
    assert_eq!(
        mapped.ip(),
        nat_ip(),
        "mapped address is the NAT's public side"
    );
    assert_eq!(h.client.relayed_address(), Some(relayed));
    let stats = h.turn_stats();
    assert_eq!(stats.unauthorized_responses, 1, "exactly one 401 challenge");
    assert_eq!(
        (stats.allocations_created, stats.allocations_active),
        (1, 1)
    );
    let lifetime = h.events.iter().find_map(|(_, e)| match e {
        TurnEvent::Allocated { lifetime, .. } => Some(*lifetime),
        _ => None,
    });
    assert_eq!(lifetime, Some(Duration::from_secs(600)));
}

#[test]
fn first_allocate_is_bare_second_carries_long_term_credentials() {
    let mut h = Harness::standard();
    h.allocated();
    let allocates = h.sent_requests(Method::Allocate);
    assert_eq!(allocates.len(), 2);
    let (_, first) = &allocates[0];
    assert!(!first.has_integrity() && first.username().is_none());
    let (_, second) = &allocates[1];
    assert_eq!(second.username(), Some("alice"));
    assert_eq!(second.realm(), Some(REALM));
    assert!(second.nonce().is_some());
    let raw = second.encode(None, false);
    assert!(raw.len() > 20, "sanity");
    // Verify on the bytes actually sent.
    let sent_raw = &h
        .sent
        .iter()
        .filter(|(_, b)| Message::decode(b).is_ok_and(|m| m.method == Method::Allocate))
        .nth(1)
        .expect("second Allocate")
        .1;
    let key = IntegrityKey::long_term("alice", REALM, "secret");
    assert_eq!(verify_integrity(sent_raw, &key), Ok(()));
    assert!(
        second
            .attributes
            .contains(&ice::stun::Attribute::RequestedTransport(17)),
        "RFC 8656 §7.1: REQUESTED-TRANSPORT UDP"
    );
}

#[test]
fn wrong_password_fails_with_401_without_looping() {
    let mut h = Harness::new(
        NatKind::FullCone,
        LinkConditions::ideal(),
        "not-the-password",
        TurnServerConfig::default(),
    );
    h.run_for(60.0);
    let reasons: Vec<&String> = h
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            TurnEvent::AllocationFailed { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{:?}", h.events);
    assert!(reasons[0].starts_with("401"), "{}", reasons[0]);
    assert_eq!(
        h.sent_requests(Method::Allocate).len(),
        2,
        "bare + one authenticated"
    );
    assert_eq!(h.turn_stats().allocations_created, 0);
    assert_eq!(h.client.relayed_address(), None);
    assert_eq!(
        h.client.send_to(h.net.now(), peer_addr(), b"x"),
        Err(TurnError::NotAllocated)
    );
}

#[test]
fn stale_nonce_on_refresh_is_retried_with_the_new_nonce() {
    let config = TurnServerConfig {
        nonce_lifetime: Some(Duration::from_secs(100)),
        ..TurnServerConfig::default()
    };
    let mut h = Harness::new(
        NatKind::Symmetric,
        LinkConditions::with_delay(Duration::from_millis(10)),
        "secret",
        config,
    );
    let (_, mapped) = h.allocated();
    let deadline = h.at(700.0);
    h.run_until(deadline);
    let stats = h.turn_stats();
    assert!(stats.stale_nonce_responses >= 1, "{stats:?}");
    assert!(stats.refreshes >= 1, "{stats:?}");
    assert!(
        !h.events
            .iter()
            .any(|(_, e)| matches!(e, TurnEvent::AllocationFailed { .. })),
        "{:?}",
        h.events
    );
    let expiry = h
        .net
        .turn_server_mut(server_addr())
        .and_then(|s| s.allocation_expiry(mapped))
        .expect("allocation alive");
    assert!(expiry > h.at(1000.0), "refreshed to a new 600 s lifetime");
    // The request after the 438 carries the nonce the 438 gave.
    let refreshes = h.sent_requests(Method::Refresh);
    assert_eq!(refreshes.len(), 2, "stale one + retry");
    assert_ne!(refreshes[0].1.nonce(), refreshes[1].1.nonce());
}

#[test]
fn stale_nonce_on_create_permission_is_retried() {
    let mut h = Harness::standard();
    h.allocated();
    if let Some(server) = h.net.turn_server_mut(server_addr()) {
        server.invalidate_nonces();
    }
    let now = h.net.now();
    h.client.create_permission(now, peer_addr().ip());
    h.run_for(1.0);
    assert!(h.has_event(&TurnEvent::PermissionCreated(peer_addr().ip())));
    assert_eq!(h.turn_stats().stale_nonce_responses, 1);
    assert_eq!(h.sent_requests(Method::CreatePermission).len(), 2);
}

#[test]
fn refresh_goes_out_a_minute_before_expiry_and_keeps_the_allocation() {
    let mut h = Harness::standard();
    let (_, mapped) = h.allocated();
    let allocated_at = h
        .events
        .iter()
        .find(|(_, e)| matches!(e, TurnEvent::Allocated { .. }))
        .map(|(t, _)| *t)
        .expect("allocated");
    let deadline = h.at(2000.0);
    h.run_until(deadline);
    let refreshes = h.sent_requests(Method::Refresh);
    assert!(refreshes.len() >= 3, "{}", refreshes.len());
    // RFC 8656 §8 [R]: 540 s after the 600 s grant, then every ~540 s.
    let first_delay = refreshes[0].0 - allocated_at;
    assert_eq!(first_delay, Duration::from_secs(540));
    for pair in refreshes.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_secs(540) && gap < Duration::from_secs(541),
            "{gap:?}"
        );
    }
    assert!(refreshes.iter().all(|(_, m)| m.lifetime() == Some(600)));
    let expiry = h
        .net
        .turn_server_mut(server_addr())
        .and_then(|s| s.allocation_expiry(mapped))
        .expect("allocation still alive after 2000 s");
    assert!(expiry > h.at(2000.0));
    assert_eq!(h.turn_stats().allocations_expired, 0);
}

#[test]
fn permissions_are_refreshed_before_their_300_s_run_out() {
    let mut h = Harness::standard();
    let (relayed, mapped) = h.allocated();
    let now = h.net.now();
    h.client.create_permission(now, peer_addr().ip());
    let deadline = h.at(1000.0);
    h.run_until(deadline);
    let perms = h.sent_requests(Method::CreatePermission);
    assert!(
        perms.len() >= 4,
        "initial + refreshes every 240 s: {}",
        perms.len()
    );
    let now = h.net.now();
    let has = h
        .net
        .turn_server_mut(server_addr())
        .is_some_and(|s| s.has_permission(mapped, peer_addr().ip(), now));
    assert!(has, "permission still installed at 1000 s");
    h.peer_send(relayed, b"still here");
    assert_eq!(
        h.received.last().map(|r| r.data.as_slice()),
        Some(&b"still here"[..])
    );
}

#[test]
fn inbound_peer_data_needs_a_permission() {
    let mut h = Harness::standard();
    let (relayed, _) = h.allocated();
    let now = h.net.now();
    assert_eq!(
        h.client.send_to(now, peer_addr(), b"x"),
        Err(TurnError::NoPermission(peer_addr().ip()))
    );
    h.peer_send(relayed, b"unsolicited");
    assert!(h.received.is_empty());
    assert_eq!(h.turn_stats().dropped_no_permission, 1);

    h.client.create_permission(now, peer_addr().ip());
    h.run_for(1.0);
    assert!(h.client.has_permission(peer_addr().ip()));
    assert!(h.has_event(&TurnEvent::PermissionCreated(peer_addr().ip())));

    let now = h.net.now();
    h.client
        .send_to(now, peer_addr(), b"hello peer")
        .expect("permission installed");
    h.run_for(1.0);
    let at_peer = h.peer_inbox.last().expect("relayed to the peer");
    assert_eq!(
        (at_peer.from, at_peer.data.as_slice()),
        (relayed, &b"hello peer"[..])
    );

    h.peer_send(relayed, b"hello client");
    assert_eq!(
        h.received.last(),
        Some(&TurnReceived {
            peer: peer_addr(),
            data: b"hello client".to_vec()
        })
    );
    let last_in = h.client_inbox.last().expect("delivered");
    let m = Message::decode(&last_in.data).expect("a Data indication");
    assert_eq!((m.class, m.method), (Class::Indication, Method::Data));
}

#[test]
fn channel_bind_then_channel_data_both_ways() {
    let mut h = Harness::standard();
    let (relayed, _) = h.allocated();
    let now = h.net.now();
    h.client.bind_channel(now, peer_addr());
    h.run_for(1.0);
    assert!(h.has_event(&TurnEvent::ChannelBound {
        peer: peer_addr(),
        channel: 0x4000
    }));
    assert!(h.client.has_permission(peer_addr().ip()), "RFC 8656 §12.2");

    let now = h.net.now();
    h.client
        .send_to(now, peer_addr(), b"over channel")
        .expect("bound");
    h.run_for(1.0);
    let (_, last_sent) = h.sent.last().expect("sent");
    assert_eq!(
        last_sent.first().map(|b| b & 0xC0),
        Some(0x40),
        "ChannelData"
    );
    assert_eq!(&last_sent[..2], &[0x40, 0x00]);
    let at_peer = h.peer_inbox.last().expect("relayed");
    assert_eq!(
        (at_peer.from, at_peer.data.as_slice()),
        (relayed, &b"over channel"[..])
    );

    h.peer_send(relayed, b"channel reply");
    let last_in = h.client_inbox.last().expect("delivered");
    assert_eq!(&last_in.data[..2], &[0x40, 0x00], "server used the channel");
    assert_eq!(
        h.received.last(),
        Some(&TurnReceived {
            peer: peer_addr(),
            data: b"channel reply".to_vec()
        })
    );
    // Refreshed before 600 s: still a channel at 1500 s.
    let deadline = h.at(1500.0);
    h.run_until(deadline);
    assert!(h.sent_requests(Method::ChannelBind).len() >= 3);
    h.peer_send(relayed, b"late");
    assert_eq!(
        &h.client_inbox.last().expect("delivered").data[..2],
        &[0x40, 0x00]
    );
    assert_eq!(
        h.received.last().map(|r| r.data.as_slice()),
        Some(&b"late"[..])
    );
}

#[test]
fn close_deletes_the_allocation_on_the_server() {
    let mut h = Harness::standard();
    h.allocated();
    let now = h.net.now();
    h.client.create_permission(now, peer_addr().ip());
    h.run_for(1.0);
    let now = h.net.now();
    h.client.close(now);
    h.run_for(5.0);
    assert!(h.has_event(&TurnEvent::Deallocated));
    assert!(h.client.is_closed());
    let stats = h.turn_stats();
    assert_eq!((stats.allocations_active, stats.allocations_freed), (0, 1));
    let last_refresh = h.sent_requests(Method::Refresh);
    assert_eq!(last_refresh.last().and_then(|(_, m)| m.lifetime()), Some(0));
    assert_eq!(h.client.poll_timeout(), None, "nothing left to do");
}

#[test]
fn close_while_allocating_deletes_once_allocated() {
    let mut h = Harness::standard();
    h.client.close(h.t0);
    h.run_for(5.0);
    assert!(h.client.is_closed());
    assert!(h.has_event(&TurnEvent::Deallocated));
    assert_eq!(h.turn_stats().allocations_active, 0);
}

#[test]
fn a_lossy_uplink_is_repaired_by_retransmission() {
    let link = LinkConditions {
        delay: Duration::from_millis(30),
        jitter: Duration::from_millis(10),
        loss: 0.5,
        duplicate: 0.1,
        reorder: 0.1,
    };
    let mut h = Harness::new(
        NatKind::AddressRestricted,
        link,
        "secret",
        TurnServerConfig::default(),
    );
    let (_, mapped) = h.allocated_within(40.0);
    let now = h.net.now();
    h.client.bind_channel(now, peer_addr());
    let deadline = h.at(1300.0);
    h.run_until(deadline);
    assert!(h.has_event(&TurnEvent::ChannelBound {
        peer: peer_addr(),
        channel: 0x4000
    }));
    assert!(
        !h.events
            .iter()
            .any(|(_, e)| matches!(e, TurnEvent::AllocationFailed { .. })),
        "{:?}",
        h.events
    );
    assert!(
        h.net.stats().dropped_loss > 0,
        "the seed does lose datagrams"
    );
    let requests: Vec<Message> = h
        .sent
        .iter()
        .filter_map(|(_, b)| Message::decode(b).ok())
        .filter(|m| m.class == Class::Request)
        .collect();
    let mut ids: Vec<_> = requests.iter().map(|m| m.transaction_id).collect();
    ids.sort_by_key(|id| id.0);
    ids.dedup();
    assert!(
        requests.len() > ids.len(),
        "some requests were retransmitted"
    );
    let alive = h
        .net
        .turn_server_mut(server_addr())
        .and_then(|s| s.allocation_expiry(mapped))
        .is_some();
    assert!(alive, "refreshes got through");
}

#[test]
fn unreachable_server_times_out() {
    let t0 = Instant::now();
    let mut h = Harness::standard();
    // A client pointed at an address where nothing listens.
    let nowhere = SocketAddr::new(v4(198, 51, 100, 99), 3478);
    let mut client = TurnClient::new(client_local(), nowhere, creds("secret"), t0, 1);
    let mut sends = 0;
    let mut now = t0;
    for _ in 0..100 {
        while let Some((to, bytes)) = client.poll_transmit() {
            h.net.send(client_local(), to, bytes);
            sends += 1;
        }
        let Some(next) = client.poll_timeout() else {
            break;
        };
        now = next;
        h.net.advance(now);
        client.handle_timeout(now);
    }
    assert_eq!(sends, 7, "RFC 8489 §6.2.1: Rc = 7");
    assert_eq!(now - t0, Duration::from_millis(39_500), "Rc, Rm: 39.5 s");
    assert_eq!(
        client.poll_event(),
        Some(TurnEvent::AllocationFailed {
            reason: "timeout".into()
        })
    );
}

#[test]
fn second_client_on_the_same_five_tuple_gets_437_and_gives_up() {
    let mut h = Harness::standard();
    h.allocated();
    let now = h.net.now();
    // A second client on the same local socket: the server sees the same 5-tuple.
    let mut second = TurnClient::new(client_local(), server_addr(), creds("secret"), now, 5);
    std::mem::swap(&mut h.client, &mut second);
    h.events.clear();
    h.run_for(5.0);
    let failed = h.events.iter().find_map(|(_, e)| match e {
        TurnEvent::AllocationFailed { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        failed.as_deref().is_some_and(|r| r.starts_with("437")),
        "{failed:?}"
    );
    assert_eq!(h.turn_stats().allocations_created, 1);
}

// ---- Scripted server: exact responses, no network ----

struct Scripted {
    t0: Instant,
    client: TurnClient,
    key: IntegrityKey,
}

impl Scripted {
    fn new() -> Self {
        let t0 = Instant::now();
        let client = TurnClient::new(client_local(), server_addr(), creds("secret"), t0, 3);
        Self {
            t0,
            client,
            key: IntegrityKey::long_term("alice", REALM, "secret"),
        }
    }

    fn next_request(&mut self) -> Message {
        let (to, bytes) = self.client.poll_transmit().expect("a request to send");
        assert_eq!(to, server_addr());
        Message::decode(&bytes).expect("valid STUN")
    }

    fn reply(&mut self, response: Message, key: Option<&IntegrityKey>) {
        let bytes = response.encode(key, true);
        let got = self.client.handle_packet(self.t0, server_addr(), &bytes);
        assert_eq!(got, None, "responses carry no peer data");
    }

    fn error(request: &Message, code: u16, reason: &str) -> Message {
        Message::new(Class::Error, request.method, request.transaction_id).with(
            ice::stun::Attribute::ErrorCode {
                code,
                reason: reason.into(),
            },
        )
    }

    /// Answer the bare Allocate with 401 and return the authenticated retry.
    fn challenge(&mut self, nonce: &str) -> Message {
        let bare = self.next_request();
        assert!(!bare.has_integrity());
        let challenge = Self::error(&bare, 401, "Unauthorized")
            .with(ice::stun::Attribute::Realm(REALM.into()))
            .with(ice::stun::Attribute::Nonce(nonce.into()));
        self.reply(challenge, None);
        let retry = self.next_request();
        assert_eq!(retry.nonce(), Some(nonce));
        retry
    }

    fn events(&mut self) -> Vec<TurnEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }
}

#[test]
fn allocate_errors_fail_with_their_code_and_no_retry() {
    let cases = [
        (437, "Allocation Mismatch"),
        (441, "Wrong Credentials"),
        (442, "Unsupported Transport Protocol"),
        (486, "Allocation Quota Reached"),
        (508, "Insufficient Capacity"),
        (300, "Try Alternate"),
    ];
    for (code, phrase) in cases {
        let mut s = Scripted::new();
        let request = s.challenge("n1");
        let key = s.key.clone();
        s.reply(Scripted::error(&request, code, phrase), Some(&key));
        let events = s.events();
        assert_eq!(
            events,
            vec![TurnEvent::AllocationFailed {
                reason: format!("{code} {phrase}")
            }],
            "{code}"
        );
        assert!(s.client.poll_transmit().is_none(), "{code}: no retry");
        let later = s.t0 + Duration::from_secs(60);
        s.client.handle_timeout(later);
        assert!(
            s.client.poll_transmit().is_none(),
            "{code}: nothing later either"
        );
        assert_eq!(s.client.poll_timeout(), None, "{code}: no timers left");
    }
}

#[test]
fn try_alternate_names_the_alternate_server() {
    let mut s = Scripted::new();
    let request = s.challenge("n1");
    let alternate = SocketAddr::new(v4(198, 51, 100, 44), 3478);
    let key = s.key.clone();
    s.reply(
        Scripted::error(&request, 300, "Try Alternate")
            .with(ice::stun::Attribute::AlternateServer(alternate)),
        Some(&key),
    );
    assert_eq!(
        s.events(),
        vec![TurnEvent::AllocationFailed {
            reason: format!("300 Try Alternate (ALTERNATE-SERVER {alternate})")
        }]
    );
}

#[test]
fn endless_stale_nonces_give_up_after_the_retry_limit() {
    let mut s = Scripted::new();
    let mut request = s.challenge("n0");
    let mut authenticated_sends = 1;
    for round in 1..=10 {
        let stale = Scripted::error(&request, 438, "Stale Nonce")
            .with(ice::stun::Attribute::Realm(REALM.into()))
            .with(ice::stun::Attribute::Nonce(format!("n{round}")));
        s.reply(stale, None);
        match s.client.poll_transmit() {
            Some((_, bytes)) => {
                request = Message::decode(&bytes).expect("retry");
                assert_eq!(request.nonce(), Some(format!("n{round}").as_str()));
                authenticated_sends += 1;
            }
            None => break,
        }
    }
    assert_eq!(
        authenticated_sends,
        1 + usize::from(ice::turn::MAX_STALE_NONCE_RETRIES)
    );
    assert_eq!(
        s.events(),
        vec![TurnEvent::AllocationFailed {
            reason: "438 Stale Nonce".into()
        }]
    );
}

#[test]
fn success_with_a_bad_message_integrity_is_discarded() {
    let mut s = Scripted::new();
    let request = s.challenge("n1");
    let success = Message::new(Class::Success, Method::Allocate, request.transaction_id)
        .with(ice::stun::Attribute::XorRelayedAddress(SocketAddr::new(
            relay_ip(),
            50_000,
        )))
        .with(ice::stun::Attribute::XorMappedAddress(client_local()))
        .with(ice::stun::Attribute::Lifetime(600));
    let wrong = IntegrityKey::long_term("alice", REALM, "forged");
    s.reply(success.clone(), Some(&wrong));
    assert!(s.events().is_empty(), "RFC 8489 §9.2.5: discarded");
    s.reply(success.clone(), None);
    assert!(
        s.events().is_empty(),
        "no MESSAGE-INTEGRITY at all: discarded too"
    );
    // The transaction is still alive and retransmits at RTO (500 ms).
    assert_eq!(
        s.client.poll_timeout(),
        Some(s.t0 + Duration::from_millis(500))
    );
    s.client.handle_timeout(s.t0 + Duration::from_millis(500));
    let again = s.next_request();
    assert_eq!(again.transaction_id, request.transaction_id);
    let key = s.key.clone();
    s.reply(success, Some(&key));
    assert!(matches!(
        s.events().as_slice(),
        [TurnEvent::Allocated { lifetime, .. }] if *lifetime == Duration::from_secs(600)
    ));
}

#[test]
fn datagrams_not_from_the_server_and_unbound_channels_are_ignored() {
    let mut h = Harness::standard();
    h.allocated();
    let stranger = SocketAddr::new(v4(198, 51, 100, 66), 3478);
    let data = ice::stun::encode_channel_data(0x4000, b"x", false);
    let now = h.net.now();
    assert_eq!(h.client.handle_packet(now, stranger, &data), None);
    assert_eq!(
        h.client.handle_packet(now, server_addr(), &data),
        None,
        "unbound"
    );
    assert_eq!(
        h.client.handle_packet(now, server_addr(), b"\x40\x00"),
        None,
        "short"
    );
    assert_eq!(
        h.client.handle_packet(now, server_addr(), b"garbage!"),
        None
    );
    // RFC 8656 §11.4: a Data indication from a peer without permission is discarded.
    let data_indication = Message::new(
        Class::Indication,
        Method::Data,
        ice::stun::TransactionId([9; 12]),
    )
    .with(ice::stun::Attribute::XorPeerAddress(peer_addr()))
    .with(ice::stun::Attribute::Data(b"sneaky".to_vec()))
    .encode(None, true);
    assert_eq!(
        h.client.handle_packet(now, server_addr(), &data_indication),
        None
    );
}

#[test]
fn relays_to_a_peer_behind_its_own_nat_once_the_peer_opened_a_pinhole() {
    let mut h = Harness::standard();
    let peer_nat = h.net.add_nat(NatKind::PortRestricted, v4(203, 0, 113, 200));
    let natted_peer = SocketAddr::new(v4(192, 0, 2, 200), 9000);
    h.net
        .add_host(natted_peer.ip(), Some(peer_nat), LinkConditions::ideal());
    let (relayed, _) = h.allocated();

    // The peer sends towards the relay first (as an ICE check would): the server drops it for
    // lack of permission, but the peer's NAT now has a mapping that accepts the relay.
    h.net.send(natted_peer, relayed, b"opening".to_vec());
    h.run_for(0.5);
    let drops = h.turn_stats().dropped_no_permission;
    assert_eq!(drops, 1);
    // The NAT hands out ports sequentially: the first mapping gets the first port.
    let peer_public = SocketAddr::new(v4(203, 0, 113, 200), sim::nat::FIRST_EXTERNAL_PORT);

    let now = h.net.now();
    h.client.create_permission(now, peer_public.ip());
    h.run_for(1.0);
    let now = h.net.now();
    h.client
        .send_to(now, peer_public, b"through two NATs")
        .expect("permission");
    h.run_for(1.0);
    let got = h
        .peer_inbox
        .last()
        .expect("delivered behind the peer's NAT");
    assert_eq!(got.to, natted_peer);
    assert_eq!(
        (got.from, got.data.as_slice()),
        (relayed, &b"through two NATs"[..])
    );

    h.net.send(natted_peer, relayed, b"back".to_vec());
    h.run_for(0.5);
    assert_eq!(
        h.received.last(),
        Some(&TurnReceived {
            peer: peer_public,
            data: b"back".to_vec()
        })
    );
}
