//! The client side of checks, one agent fed crafted responses: Ta pacing, the RTO floor,
//! 487 recovery (switch role, new tie-breaker, retry), failure reasons, send gating.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{
    FailureReason, IceAgent, IceConfig, IceEvent, NominationMode, PairFailure, SendError, Transmit,
};
use ice::stun::{Attribute, Class, IntegrityKey, Message, Method, TransactionId};
use ice::{Candidate, CandidateKind, Credentials};

const LOCAL: &str = "192.0.2.1:5000";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn peer_creds() -> Credentials {
    Credentials {
        ufrag: "PEER".into(),
        pwd: "peerpasswordpeerpassword".into(),
    }
}

fn remote(i: u16) -> Candidate {
    let mut c = Candidate::host(
        format!("r{i}"),
        1,
        SocketAddr::new(sa("198.51.100.1:1").ip(), 7000 + i),
        65535 - i,
    );
    c.kind = CandidateKind::Host;
    c
}

/// The short-term key of the peer's password: what its answers are signed with.
fn peer_key() -> IntegrityKey {
    IntegrityKey::short_term("peerpasswordpeerpassword")
}

/// A Binding error response with ERROR-CODE, signed with `key` when given.
fn error_response(
    id: TransactionId,
    code: u16,
    reason: &str,
    key: Option<&IntegrityKey>,
) -> Vec<u8> {
    Message::new(Class::Error, Method::Binding, id)
        .with(Attribute::ErrorCode {
            code,
            reason: reason.into(),
        })
        .encode(key, true)
}

/// A Binding success response with XOR-MAPPED-ADDRESS, signed with `key`.
fn success_response(id: TransactionId, mapped: SocketAddr, key: &IntegrityKey) -> Vec<u8> {
    Message::new(Class::Success, Method::Binding, id)
        .with(Attribute::XorMappedAddress(mapped))
        .encode(Some(key), true)
}

/// The reasons of the first `Failed` event queued on the agent.
fn failure_reasons(a: &mut IceAgent) -> Option<Vec<PairFailure>> {
    std::iter::from_fn(|| a.poll_event()).find_map(|e| match e {
        IceEvent::Failed { reasons } => Some(reasons),
        _ => None,
    })
}

/// `agent` with the default config but for the role.
fn agent_in_role(controlling: bool, t0: Instant, remotes: u16) -> IceAgent {
    agent(
        IceConfig {
            controlling,
            ..IceConfig::default()
        },
        t0,
        remotes,
    )
}

fn agent(config: IceConfig, t0: Instant, remotes: u16) -> IceAgent {
    let mut a = IceAgent::new(
        IceConfig {
            seed: Some(3),
            tie_breaker: Some(1000),
            ..config
        },
        t0,
    );
    a.add_local_host(sa(LOCAL)).unwrap();
    a.set_remote_credentials(peer_creds());
    for i in 0..remotes {
        a.add_remote_candidate(remote(i));
    }
    a
}

/// Drive the agent alone until `until`, collecting every transmit with its time.
fn run(a: &mut IceAgent, from: Instant, until: Instant) -> Vec<(Instant, Transmit)> {
    let mut out = Vec::new();
    let mut now = from;
    a.handle_timeout(now);
    loop {
        while let Some(t) = a.poll_transmit() {
            out.push((now, t));
        }
        match a.poll_timeout() {
            Some(t) if t <= until => {
                now = t.max(now);
                a.handle_timeout(now);
            }
            _ => break,
        }
    }
    out
}

fn requests(out: &[(Instant, Transmit)]) -> Vec<(Instant, Transmit, Message)> {
    out.iter()
        .filter_map(|(t, tx)| {
            let m = Message::decode(&tx.data).ok()?;
            (m.class == Class::Request).then(|| (*t, tx.clone(), m))
        })
        .collect()
}

#[test]
fn new_checks_are_paced_at_ta_and_carry_the_mandatory_attributes() {
    let t0 = Instant::now();
    let mut a = agent(IceConfig::default(), t0, 5);
    let out = run(&mut a, t0, t0 + Duration::from_millis(400));
    let reqs = requests(&out);
    // Five pairs, five distinct first checks (retransmissions come only after 500 ms).
    let firsts: Vec<_> = reqs.iter().collect();
    assert_eq!(firsts.len(), 5, "{firsts:?}");
    for w in firsts.windows(2) {
        assert!(w[1].0 - w[0].0 >= Duration::from_millis(50), "Ta pacing");
    }
    // In priority order (remote 0 has the highest priority).
    assert_eq!(firsts[0].1.to, remote(0).address);
    for (_, tx, m) in &firsts {
        assert_eq!(tx.from, sa(LOCAL));
        assert_eq!(
            m.username(),
            Some(format!("PEER:{}", a.local_credentials().ufrag).as_str())
        );
        // RFC 8445 §7.1.1: PRIORITY with the prflx type preference.
        assert_eq!(m.priority().map(|p| p >> 24), Some(110));
        assert_eq!(m.ice_controlling(), Some(1000));
        assert!(!m.use_candidate(), "regular nomination checks first");
        assert!(m.has_integrity());
        assert!(ice::stun::verify_integrity(&tx.data, &peer_key()).is_ok());
    }
}

#[test]
fn a_configured_ta_is_used_and_the_rto_never_drops_below_500_ms() {
    let t0 = Instant::now();
    let mut config = IceConfig {
        ta: Duration::from_millis(20),
        ..IceConfig::default()
    };
    config.check_retransmit.rto = Duration::from_millis(100);
    let mut a = agent(config, t0, 1);
    let out = run(&mut a, t0, t0 + Duration::from_millis(1600));
    let reqs = requests(&out);
    assert!(
        reqs.len() >= 2,
        "first send and at least one retransmission"
    );
    assert_eq!(reqs[0].2.transaction_id, reqs[1].2.transaction_id);
    assert!(
        reqs[1].0 - reqs[0].0 >= Duration::from_millis(500),
        "RFC 8445 §14.3: RTO ≥ 500 ms"
    );
}

#[test]
fn aggressive_nomination_puts_use_candidate_on_every_check() {
    let t0 = Instant::now();
    let mut a = agent(
        IceConfig {
            nomination: NominationMode::Aggressive,
            ..IceConfig::default()
        },
        t0,
        2,
    );
    let reqs = requests(&run(&mut a, t0, t0 + Duration::from_millis(120)));
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|(_, _, m)| m.use_candidate()));
}

#[test]
fn a_487_switches_role_with_a_new_tie_breaker_and_retries_the_pair() {
    let t0 = Instant::now();
    let mut a = agent_in_role(true, t0, 1);
    let reqs = requests(&run(&mut a, t0, t0));
    let (_, tx, first) = reqs.first().cloned().expect("a check");
    assert!(first.ice_controlling().is_some());
    let conflict = error_response(
        first.transaction_id,
        487,
        "Role Conflict",
        Some(&peer_key()),
    );
    let t1 = t0 + Duration::from_millis(60);
    a.handle_packet(t1, tx.from, tx.to, &conflict);
    // RFC 8445 §7.2.5.1: switch to the other role than the one in the request.
    assert!(!a.is_controlling());
    assert_ne!(
        a.tie_breaker(),
        1000,
        "a new tie-breaker (as the brief asks)"
    );
    let events: Vec<_> = std::iter::from_fn(|| a.poll_event()).collect();
    assert!(events.contains(&IceEvent::RoleChanged { controlling: false }));
    // The pair is retried as a triggered check, now with ICE-CONTROLLED.
    let retry = requests(&run(&mut a, t1, t1 + Duration::from_millis(100)));
    let (_, tx2, m2) = retry
        .iter()
        .find(|(_, _, m)| m.transaction_id != first.transaction_id)
        .cloned()
        .expect("retry");
    assert_eq!(tx2.to, tx.to);
    assert_eq!(m2.ice_controlled(), Some(a.tie_breaker()));
    assert!(m2.ice_controlling().is_none());
}

#[test]
fn error_responses_and_timeouts_fail_pairs_with_their_reason() {
    let t0 = Instant::now();
    let mut a = agent(IceConfig::default(), t0, 3);
    let out = run(&mut a, t0, t0 + Duration::from_millis(150));
    let reqs = requests(&out);
    assert_eq!(reqs.len(), 3);
    let key = peer_key();
    let t1 = t0 + Duration::from_millis(200);
    // 401 without integrity (the peer could not authenticate us), a 500 with integrity.
    let unauthorized = error_response(reqs[0].2.transaction_id, 401, "Unauthorized", None);
    a.handle_packet(t1, reqs[0].1.from, reqs[0].1.to, &unauthorized);
    let server_error = error_response(reqs[1].2.transaction_id, 500, "Oops", Some(&key));
    a.handle_packet(t1, reqs[1].1.from, reqs[1].1.to, &server_error);
    // A success from another address than the check went to is non-symmetric.
    let wrong_source = success_response(reqs[2].2.transaction_id, sa(LOCAL), &key);
    a.handle_packet(t1, reqs[2].1.from, sa("198.51.100.200:9"), &wrong_source);
    let reasons = failure_reasons(&mut a).expect("all pairs failed: ICE failed");
    let mut got: Vec<_> = reasons
        .iter()
        .map(|r| (r.remote.address, r.reason))
        .collect();
    got.sort_by_key(|(a, _)| *a);
    assert_eq!(
        got,
        vec![
            (remote(0).address, FailureReason::Unauthorized),
            (remote(1).address, FailureReason::Error(500)),
            (remote(2).address, FailureReason::NonSymmetric),
        ]
    );
    assert_eq!(FailureReason::Unauthorized.code(), Some(401));
    assert_eq!(FailureReason::RoleConflict.code(), Some(487));
}

#[test]
fn unanswered_checks_fail_with_timeout_after_the_rfc_8489_schedule() {
    let t0 = Instant::now();
    let mut a = agent(IceConfig::default(), t0, 1);
    run(&mut a, t0, t0 + Duration::from_secs(60));
    let reasons = failure_reasons(&mut a).expect("failed");
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].reason, FailureReason::Timeout);
    assert_eq!(
        format!("{}", reasons[0]),
        format!(
            "host {LOCAL} -> host {}: no response (timeout)",
            remote(0).address
        )
    );
}

#[test]
fn an_unauthenticated_487_cannot_flip_our_role() {
    let t0 = Instant::now();
    let mut a = agent_in_role(true, t0, 1);
    let reqs = requests(&run(&mut a, t0, t0));
    let spoofed = error_response(reqs[0].2.transaction_id, 487, "Role Conflict", None);
    let handled = a.handle_packet(t0, reqs[0].1.from, reqs[0].1.to, &spoofed);
    assert!(matches!(handled, ice::agent::Handled::Dropped(_)));
    assert!(a.is_controlling());
    assert_eq!(a.tie_breaker(), 1000);
}

#[test]
fn responses_with_a_bad_integrity_are_ignored() {
    let t0 = Instant::now();
    let mut a = agent(IceConfig::default(), t0, 1);
    let reqs = requests(&run(&mut a, t0, t0));
    let forged = success_response(
        reqs[0].2.transaction_id,
        sa(LOCAL),
        &IntegrityKey::short_term("wrong"),
    );
    let handled = a.handle_packet(t0, reqs[0].1.from, reqs[0].1.to, &forged);
    assert!(matches!(handled, ice::agent::Handled::Dropped(_)));
    assert!(a
        .pairs()
        .iter()
        .all(|p| p.2 != ice::agent::PairState::Succeeded));
}

#[test]
fn no_media_before_selection() {
    let t0 = Instant::now();
    let mut a = agent(IceConfig::default(), t0, 1);
    assert_eq!(a.send_data(t0, 1, b"x"), Err(SendError::NotSelected(1)));
    assert_eq!(a.send_data(t0, 3, b"x"), Err(SendError::NotSelected(3)));
}

#[test]
fn remote_lite_makes_us_controlling() {
    let t0 = Instant::now();
    let mut a = agent_in_role(false, t0, 1);
    a.set_remote_lite(true);
    assert!(a.is_controlling());
    assert!(std::iter::from_fn(|| a.poll_event())
        .any(|e| e == IceEvent::RoleChanged { controlling: true }));
}

#[test]
fn local_credentials_are_random_ice_chars_and_seedable() {
    let t0 = Instant::now();
    let a = IceAgent::new(IceConfig::default(), t0);
    let b = IceAgent::new(IceConfig::default(), t0);
    // RFC 8445 §5.3: ufrag ≥ 24 bits (4+ ice-chars), pwd ≥ 128 bits (22+ ice-chars).
    assert!(a.local_credentials().ufrag.len() >= 4 && a.local_credentials().pwd.len() >= 22);
    assert!(ice::candidate::is_ice_string(&a.local_credentials().pwd));
    assert_ne!(
        a.local_credentials(),
        b.local_credentials(),
        "OS-seeded CSPRNG"
    );
    assert_ne!(a.tie_breaker(), b.tie_breaker());
    let s1 = IceAgent::new(
        IceConfig {
            seed: Some(5),
            ..IceConfig::default()
        },
        t0,
    );
    let s2 = IceAgent::new(
        IceConfig {
            seed: Some(5),
            ..IceConfig::default()
        },
        t0,
    );
    assert_eq!(s1.local_credentials(), s2.local_credentials());
    assert_eq!(s1.tie_breaker(), s2.tie_breaker());
}

#[test]
fn host_addresses_are_checked_and_tr_is_at_least_15_s() {
    let t0 = Instant::now();
    let mut a = IceAgent::new(
        IceConfig {
            keepalive_interval: Duration::from_secs(1),
            components: 2,
            ..IceConfig::default()
        },
        t0,
    );
    assert_eq!(a.config().keepalive_interval, Duration::from_secs(15));
    assert!(a.add_local_host(sa("127.0.0.1:5000")).is_err());
    assert!(a.add_local_host_for(3, sa(LOCAL)).is_err());
    let c2 = a.add_local_host_for(2, sa("192.0.2.1:5001")).unwrap();
    assert_eq!(c2.component, 2);
    let mut lo = IceAgent::new(
        IceConfig {
            allow_loopback: true,
            ..IceConfig::default()
        },
        t0,
    );
    assert!(lo.add_local_host(sa("127.0.0.1:5000")).is_ok());
    assert!(lo.add_local_host(sa("[::1]:5000")).is_ok());
}

#[test]
fn a_lite_peer_that_only_answers_is_nominated_by_us() {
    // RFC 8445 §6.1.1: facing a lite peer we control; the peer never checks, it only answers.
    let t0 = Instant::now();
    let mut a = agent_in_role(false, t0, 1);
    a.set_remote_lite(true);
    let key = peer_key();
    let mut now = t0;
    let mut answered_use_candidate = false;
    for _ in 0..10 {
        let reqs = requests(&run(&mut a, now, now + Duration::from_millis(100)));
        now += Duration::from_millis(100);
        for (_, tx, m) in reqs {
            assert!(m.ice_controlling().is_some(), "we are controlling");
            answered_use_candidate |= m.use_candidate();
            let ok = success_response(m.transaction_id, tx.from, &key);
            a.handle_packet(now, tx.from, tx.to, &ok);
        }
        if a.state() == ice::agent::IceState::Completed {
            break;
        }
    }
    assert!(answered_use_candidate);
    assert_eq!(a.state(), ice::agent::IceState::Completed);
    assert_eq!(a.selected_pair(1).unwrap().1.address, remote(0).address);
    assert!(a.send_data(now, 1, b"\x80\x00x").is_ok());
}

#[test]
fn icmp_unreachable_reported_by_the_caller_fails_the_path() {
    let t0 = Instant::now();
    let mut a = agent(IceConfig::default(), t0, 1);
    let reqs = requests(&run(&mut a, t0, t0));
    a.handle_unreachable(t0, reqs[0].1.from, reqs[0].1.to);
    let reasons = failure_reasons(&mut a).expect("failed");
    assert_eq!(reasons[0].reason, FailureReason::Unreachable);
}

#[test]
fn a_controlled_agent_never_nominated_fails_with_not_nominated_instead_of_hanging() {
    let t0 = Instant::now();
    let mut a = agent_in_role(false, t0, 1);
    let reqs = requests(&run(&mut a, t0, t0));
    let ok = success_response(reqs[0].2.transaction_id, reqs[0].1.from, &peer_key());
    let t1 = t0 + Duration::from_millis(40);
    a.handle_packet(t1, reqs[0].1.from, reqs[0].1.to, &ok);
    // Valid, waiting for the controlling peer's USE-CANDIDATE, which never comes. Every check
    // is done, so the peer gets the grace and no more (issue 12, fault 4: not 15 s or 45 s).
    let grace = ice::agent::DEFAULT_NOMINATION_GRACE;
    run(&mut a, t1, t1 + grace - Duration::from_millis(10));
    assert_eq!(a.state(), ice::agent::IceState::Checking);
    run(
        &mut a,
        t1 + grace - Duration::from_millis(10),
        t1 + grace + Duration::from_millis(10),
    );
    assert_eq!(a.state(), ice::agent::IceState::Failed);
    let reasons = failure_reasons(&mut a).expect("failed");
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].reason, FailureReason::NotNominated);
}
