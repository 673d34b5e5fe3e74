//! The server side of connectivity checks, one agent fed crafted STUN messages (RFC 8445 §7.3):
//! answering before the answer arrives, authentication failures that change nothing, the
//! amplification bound, and all four role-conflict branches of §7.3.1.1.

use std::net::SocketAddr;
use std::time::Instant;

use ice::agent::{Handled, IceAgent, IceConfig, IceEvent, IceState};
use ice::stun::{verify_integrity, Attribute, Class, IntegrityKey, Message, Method, TransactionId};
use ice::{CandidateKind, Credentials};

const LOCAL: &str = "192.0.2.1:5000";
const PEER: &str = "203.0.113.7:40000";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn creds(ufrag: &str, pwd: &str) -> Credentials {
    Credentials {
        ufrag: ufrag.into(),
        pwd: pwd.into(),
    }
}

fn agent(controlling: bool, tie_breaker: u64, t0: Instant) -> IceAgent {
    let mut a = IceAgent::new(
        IceConfig {
            controlling,
            tie_breaker: Some(tie_breaker),
            seed: Some(9),
            credentials: Some(creds("LOCALUFRAG", "localpasswordlocalpassword")),
            ..IceConfig::default()
        },
        t0,
    );
    a.add_local_host(sa(LOCAL)).unwrap();
    a
}

enum Role {
    Controlling(u64),
    Controlled(u64),
}

fn request(tid: u8, username: &str, pwd: &str, role: Role, use_candidate: bool) -> Vec<u8> {
    let mut m = Message::new(Class::Request, Method::Binding, TransactionId([tid; 12]))
        .with(Attribute::Username(username.into()))
        .with(Attribute::Priority(1_853_824_767))
        .with(match role {
            Role::Controlling(t) => Attribute::IceControlling(t),
            Role::Controlled(t) => Attribute::IceControlled(t),
        });
    if use_candidate {
        m.push(Attribute::UseCandidate);
    }
    m.encode(Some(&IntegrityKey::short_term(pwd)), true)
}

fn drain_events(a: &mut IceAgent) -> Vec<IceEvent> {
    std::iter::from_fn(|| a.poll_event()).collect()
}

/// A decoded response and its raw bytes.
type Response = (Message, Vec<u8>);

fn responses(a: &mut IceAgent) -> Vec<Response> {
    std::iter::from_fn(|| a.poll_transmit())
        .filter_map(|t| {
            let m = Message::decode(&t.data).ok()?;
            (m.class == Class::Success || m.class == Class::Error).then_some((m, t.data))
        })
        .collect()
}

#[test]
fn checks_are_answered_before_the_answer_and_the_remote_ufrag_is_learned() {
    let t0 = Instant::now();
    let mut a = agent(false, 1, t0);
    assert_eq!(a.state(), IceState::New);
    let req = request(
        1,
        "LOCALUFRAG:PEERUFRAG",
        "localpasswordlocalpassword",
        Role::Controlling(5),
        false,
    );
    assert_eq!(
        a.handle_packet(t0, sa(LOCAL), sa(PEER), &req),
        Handled::Consumed
    );
    let out = responses(&mut a);
    assert_eq!(out.len(), 1);
    let (msg, raw) = &out[0];
    assert_eq!(msg.class, Class::Success);
    assert_eq!(msg.transaction_id, TransactionId([1; 12]));
    // RFC 8445 §7.3.1.2: XOR-MAPPED-ADDRESS is the source; MI with our password.
    assert_eq!(msg.mapped_address(), Some(sa(PEER)));
    verify_integrity(raw, &IntegrityKey::short_term("localpasswordlocalpassword")).unwrap();
    assert!(msg
        .attributes
        .iter()
        .any(|a| matches!(a, Attribute::Fingerprint(_))));
    assert_eq!(a.learned_remote_ufrag(), Some("PEERUFRAG"));
    // RFC 8445 §7.3.1.3: the source became a peer-reflexive remote candidate.
    let remotes = a.remote_candidates();
    assert_eq!(remotes.len(), 1);
    assert_eq!(remotes[0].kind, CandidateKind::PeerReflexive);
    assert_eq!(remotes[0].priority, 1_853_824_767);
    assert_eq!(remotes[0].address, sa(PEER));
}

fn assert_refused_without_state_change(a: &mut IceAgent, req: &[u8], code: u16) {
    let t0 = Instant::now();
    // Settle what the agent does by itself (GatheringComplete) before the request.
    a.handle_timeout(t0);
    drain_events(a);
    while a.poll_transmit().is_some() {}
    let handled = a.handle_packet(t0, sa(LOCAL), sa(PEER), req);
    assert!(matches!(handled, Handled::Dropped(_)), "{handled:?}");
    let out = responses(a);
    assert_eq!(out.len(), 1, "one refusal");
    assert_eq!(out[0].0.class, Class::Error);
    assert_eq!(out[0].0.error_code().map(|(c, _)| c), Some(code));
    // No state changed: nothing learned, no candidate, no pair, no event, same role.
    assert!(a.remote_candidates().is_empty());
    assert!(a.pairs().is_empty());
    assert_eq!(a.learned_remote_ufrag(), None);
    assert!(drain_events(a).is_empty());
    assert_eq!(a.state(), IceState::New);
    assert!(out[0].1.len() <= req.len(), "no amplification");
}

#[test]
fn wrong_ufrag_gets_401_and_changes_nothing() {
    let mut a = agent(false, 1, Instant::now());
    drain_events(&mut a);
    let req = request(
        2,
        "SOMEONEELSE:PEER",
        "localpasswordlocalpassword",
        Role::Controlling(5),
        false,
    );
    assert_refused_without_state_change(&mut a, &req, 401);
}

#[test]
fn wrong_message_integrity_gets_401_and_changes_nothing() {
    let mut a = agent(false, 1, Instant::now());
    drain_events(&mut a);
    let req = request(
        3,
        "LOCALUFRAG:PEER",
        "not-the-password",
        Role::Controlling(u64::MAX),
        true,
    );
    assert_refused_without_state_change(&mut a, &req, 401);
    assert!(
        !a.is_controlling(),
        "an unauthenticated ICE-CONTROLLING changes no role"
    );
}

#[test]
fn missing_integrity_gets_400_and_changes_nothing() {
    let mut a = agent(false, 1, Instant::now());
    drain_events(&mut a);
    let req = Message::new(Class::Request, Method::Binding, TransactionId([4; 12]))
        .with(Attribute::Username("LOCALUFRAG:PEER".into()))
        .with(Attribute::Priority(1))
        .with(Attribute::IceControlling(1))
        .with(Attribute::Software("a long enough software name".into()))
        .encode(None, true);
    assert_refused_without_state_change(&mut a, &req, 400);
}

#[test]
fn an_unauthenticated_sender_never_gets_more_bytes_than_it_sent() {
    let t0 = Instant::now();
    let mut a = agent(false, 1, t0);
    // A minimal request: header + a 4-byte USERNAME "a:b1" and nothing else (28 bytes).
    for (i, username) in [
        "a:b1",
        "LOCALUFRAG:x",
        "x:LOCALUFRAG-with-a-long-tail-to-grow",
    ]
    .iter()
    .enumerate()
    {
        let req = Message::new(
            Class::Request,
            Method::Binding,
            TransactionId([10 + i as u8; 12]),
        )
        .with(Attribute::Username((*username).into()))
        .encode(None, false);
        a.handle_packet(t0, sa(LOCAL), sa(PEER), &req);
        let sent: usize = std::iter::from_fn(|| a.poll_transmit())
            .map(|t| t.data.len())
            .sum();
        assert!(
            sent <= req.len(),
            "sent {sent} bytes for a {}-byte request",
            req.len()
        );
    }
    // A tiny one gets nothing at all (a 400 cannot fit in 28 bytes with an ERROR-CODE).
    let tiny =
        Message::new(Class::Request, Method::Binding, TransactionId([20; 12])).encode(None, false);
    a.handle_packet(t0, sa(LOCAL), sa(PEER), &tiny);
    assert!(a.poll_transmit().is_none());
    assert!(a.remote_candidates().is_empty());
}

fn role_case(
    we_control: bool,
    ours: u64,
    theirs: Role,
) -> (IceAgent, Vec<Response>, Vec<IceEvent>) {
    let t0 = Instant::now();
    let mut a = agent(we_control, ours, t0);
    drain_events(&mut a);
    let req = request(
        30,
        "LOCALUFRAG:PEER",
        "localpasswordlocalpassword",
        theirs,
        false,
    );
    a.handle_packet(t0, sa(LOCAL), sa(PEER), &req);
    let out = responses(&mut a);
    let events = drain_events(&mut a);
    (a, out, events)
}

#[test]
fn role_conflict_controlling_vs_controlling_ours_larger_answers_487_and_keeps_role() {
    let (a, out, events) = role_case(true, 100, Role::Controlling(50));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.error_code().map(|(c, _)| c), Some(487));
    // Authenticated error: MI with our password.
    verify_integrity(
        &out[0].1,
        &IntegrityKey::short_term("localpasswordlocalpassword"),
    )
    .unwrap();
    assert!(a.is_controlling());
    assert!(!events
        .iter()
        .any(|e| matches!(e, IceEvent::RoleChanged { .. })));
    assert!(a.remote_candidates().is_empty(), "a 487 learns nothing");
}

#[test]
fn role_conflict_controlling_vs_controlling_ours_smaller_switches_to_controlled() {
    let (a, out, events) = role_case(true, 50, Role::Controlling(100));
    assert_eq!(out[0].0.class, Class::Success);
    assert!(!a.is_controlling());
    assert!(events.contains(&IceEvent::RoleChanged { controlling: false }));
    assert_eq!(a.tie_breaker(), 50, "the server side keeps its tie-breaker");
}

#[test]
fn role_conflict_controlled_vs_controlled_ours_larger_switches_to_controlling() {
    let (a, out, events) = role_case(false, 100, Role::Controlled(50));
    assert_eq!(out[0].0.class, Class::Success);
    assert!(a.is_controlling());
    assert!(events.contains(&IceEvent::RoleChanged { controlling: true }));
}

#[test]
fn role_conflict_controlled_vs_controlled_ours_smaller_answers_487_and_keeps_role() {
    let (a, out, events) = role_case(false, 50, Role::Controlled(100));
    assert_eq!(out[0].0.error_code().map(|(c, _)| c), Some(487));
    assert!(!a.is_controlling());
    assert!(!events
        .iter()
        .any(|e| matches!(e, IceEvent::RoleChanged { .. })));
}

#[test]
fn no_conflict_when_the_roles_differ() {
    let (a, out, _) = role_case(true, 1, Role::Controlled(u64::MAX));
    assert_eq!(out[0].0.class, Class::Success);
    assert!(a.is_controlling());
}

#[test]
fn media_is_handed_back_with_its_component_and_garbage_is_dropped() {
    let t0 = Instant::now();
    let mut a = agent(true, 1, t0);
    let rtp = [0x80u8, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
    match a.handle_packet(t0, sa(LOCAL), sa(PEER), &rtp) {
        Handled::Media {
            component,
            from,
            data,
            ..
        } => {
            assert_eq!(component, 1);
            assert_eq!(from, sa(PEER));
            assert_eq!(data, rtp);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.handle_packet(t0, sa(LOCAL), sa(PEER), &[0xff, 1, 2]),
        Handled::Dropped(_)
    ));
    assert!(matches!(
        a.handle_packet(t0, sa("192.0.2.99:1"), sa(PEER), &rtp),
        Handled::Dropped(_)
    ));
    // A malformed STUN message (cookie right, length wrong) is a typed drop, not a panic.
    let mut bad = request(40, "LOCALUFRAG:P", "x", Role::Controlled(1), false);
    bad.truncate(bad.len() - 3);
    assert!(matches!(
        a.handle_packet(t0, sa(LOCAL), sa(PEER), &bad),
        Handled::Dropped(_)
    ));
}

#[test]
fn use_candidate_before_success_nominates_once_the_triggered_check_succeeds() {
    let t0 = Instant::now();
    let mut a = agent(false, 1, t0);
    a.set_remote_credentials(creds("PEER", "peerpasswordpeerpassword"));
    drain_events(&mut a);
    // The controlling peer nominates with USE-CANDIDATE on a pair we have not checked yet.
    let req = request(
        50,
        "LOCALUFRAG:PEER",
        "localpasswordlocalpassword",
        Role::Controlling(9),
        true,
    );
    a.handle_packet(t0, sa(LOCAL), sa(PEER), &req);
    let out: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
    // The success response, and (pacer free) the triggered check toward the peer.
    let check = out
        .iter()
        .filter_map(|t| Some((t, Message::decode(&t.data).ok()?)))
        .find(|(_, m)| m.class == Class::Request)
        .map(|(t, m)| (t.clone(), m))
        .expect("triggered check sent");
    assert_eq!(check.0.to, sa(PEER));
    assert_eq!(check.1.username(), Some("PEER:LOCALUFRAG"));
    assert!(check.1.ice_controlled().is_some());
    assert!(
        !check.1.use_candidate(),
        "only the controlling agent sends USE-CANDIDATE"
    );
    assert!(a.selected_pair(1).is_none());
    // Its success selects the pair (RFC 8445 §7.3.1.5).
    let resp = Message::new(Class::Success, Method::Binding, check.1.transaction_id)
        .with(Attribute::XorMappedAddress(sa("198.51.100.50:6000")))
        .encode(
            Some(&IntegrityKey::short_term("peerpasswordpeerpassword")),
            true,
        );
    a.handle_packet(t0, sa(LOCAL), sa(PEER), &resp);
    let (local, remote) = a.selected_pair(1).expect("selected");
    assert_eq!(local.kind, CandidateKind::PeerReflexive);
    assert_eq!(local.address, sa("198.51.100.50:6000"));
    assert_eq!(remote.address, sa(PEER));
    assert_eq!(a.state(), IceState::Completed);
    assert!(drain_events(&mut a).contains(&IceEvent::Completed));
}

#[test]
fn media_on_a_component_as_soon_as_that_component_has_a_selected_pair() {
    let t0 = Instant::now();
    let mut a = IceAgent::new(
        IceConfig {
            controlling: false,
            seed: Some(9),
            components: 2,
            credentials: Some(creds("LOCALUFRAG", "localpasswordlocalpassword")),
            ..IceConfig::default()
        },
        t0,
    );
    a.add_local_host_for(1, sa(LOCAL)).unwrap();
    a.add_local_host_for(2, sa("192.0.2.1:5001")).unwrap();
    a.set_remote_credentials(creds("PEER", "peerpasswordpeerpassword"));
    // Component 1 gets nominated and its triggered check succeeds; component 2 does not.
    let req = request(
        60,
        "LOCALUFRAG:PEER",
        "localpasswordlocalpassword",
        Role::Controlling(9),
        true,
    );
    a.handle_packet(t0, sa(LOCAL), sa(PEER), &req);
    let check = std::iter::from_fn(|| a.poll_transmit())
        .filter_map(|t| Message::decode(&t.data).ok())
        .find(|m| m.class == Class::Request)
        .expect("triggered check");
    let resp = Message::new(Class::Success, Method::Binding, check.transaction_id)
        .with(Attribute::XorMappedAddress(sa(LOCAL)))
        .encode(
            Some(&IntegrityKey::short_term("peerpasswordpeerpassword")),
            true,
        );
    a.handle_packet(t0, sa(LOCAL), sa(PEER), &resp);
    assert!(a.selected_pair(1).is_some());
    assert!(a.selected_pair(2).is_none());
    // RFC 8445 §12.1: selected pairs are per component; RTP goes as soon as component 1 has
    // one (issue 12, fault 6: it used to wait for RTCP's), RTCP waits for component 2's.
    assert!(a.send_data(t0, 1, b"\x80x").is_ok());
    assert_eq!(
        a.send_data(t0, 2, b"\x80x"),
        Err(ice::agent::SendError::NotSelected(2))
    );
    assert_ne!(a.state(), IceState::Completed);
}
