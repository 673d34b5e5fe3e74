//! Whole-agent behaviour over the simulated network in virtual time: gathering, keepalives,
//! consent freshness, restart, TURN teardown, two components, role conflicts between two
//! agents, aggressive peers, wrong credentials.

mod harness;
mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::{build, Case, Duo, Side};
use ice::agent::{
    FailureReason, IceAgent, IceConfig, IceEvent, IceState, NominationMode, SendError,
};
use ice::stun::{Class, Message};
use ice::CandidateKind;
use sim::{LinkConditions, NatKind, Network};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn case(a: Option<NatKind>, b: Option<NatKind>, turn: bool) -> Case {
    Case {
        a_nat: a,
        b_nat: b,
        turn,
        loss: 0.0,
        hop_delay: Duration::from_millis(20),
        seed: 42,
        nomination: NominationMode::Regular,
        relay_nomination_wait: ice::agent::IceConfig::default().relay_nomination_wait,
        nomination_wait: Duration::ZERO,
        consent: true,
    }
}

fn completed(c: &Case) -> Duo {
    let mut duo = build(c, Instant::now());
    assert!(
        duo.run_until(Duration::from_secs(20), |d| d.both_completed()),
        "not completed"
    );
    duo
}

fn indications(side: &Side, after: Instant, before: Instant) -> Vec<Instant> {
    side.sent
        .iter()
        .filter(|(t, tx)| {
            *t > after
                && *t <= before
                && Message::decode(&tx.data).is_ok_and(|m| m.class == Class::Indication)
        })
        .map(|(t, _)| *t)
        .collect()
}

/// Two hosts without NAT, 192.0.2.1 and 192.0.2.2, 20 ms from the network.
fn two_open_hosts(seed: u64, t0: Instant) -> Network {
    let mut net = Network::new(seed, t0);
    let link = LinkConditions::with_delay(Duration::from_millis(20));
    net.add_host(sa("192.0.2.1:0").ip(), None, link);
    net.add_host(sa("192.0.2.2:0").ip(), None, link);
    net
}

/// A controlling agent (seed 1) and a controlled one (seed 2), configured by `extra`.
fn controlling_and_controlled(t0: Instant, extra: impl Fn(IceConfig) -> IceConfig) -> (Side, Side) {
    let cfg = |controlling, seed| {
        extra(IceConfig {
            controlling,
            seed: Some(seed),
            ..IceConfig::default()
        })
    };
    (
        Side::new(IceAgent::new(cfg(true, 1), t0)),
        Side::new(IceAgent::new(cfg(false, 2), t0)),
    )
}

/// Both agents selected the same pair, each from its own side.
fn assert_mirrored_selection(duo: &Duo) {
    let (la, ra) = duo.a.agent.selected_pair(1).unwrap();
    let (lb, rb) = duo.b.agent.selected_pair(1).unwrap();
    assert_eq!((la.address, ra.address), (rb.address, lb.address));
}

/// Run `duo` for `span` of virtual time from its current instant.
fn run_for(duo: &mut Duo, span: Duration) {
    let until = duo.now + span - duo.t0;
    duo.run_until(until, |_| false);
}

#[test]
fn keepalives_every_tr_only_while_no_data_flows() {
    let mut c = case(Some(NatKind::PortRestricted), None, false);
    c.consent = false;
    let mut duo = completed(&c);
    let done = duo.now;
    // Idle media: a Binding Indication every Tr = 15 s (RFC 8445 §11).
    run_for(&mut duo, Duration::from_secs(50));
    let idle = indications(&duo.a, done, duo.now);
    assert_eq!(
        idle.len(),
        3,
        "{:?}",
        idle.iter().map(|t| *t - done).collect::<Vec<_>>()
    );
    assert!(idle[0] - done >= Duration::from_secs(15));
    for w in idle.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_secs(15));
        assert!(w[1] - w[0] < Duration::from_secs(16));
    }
    // Media every second: no keepalive at all.
    let busy_from = duo.now;
    for _ in 0..40 {
        let t = duo.a.agent.send_data(duo.now, 1, b"\x80\x00rtp").unwrap();
        duo.net.send(t.from, t.to, t.data);
        run_for(&mut duo, Duration::from_secs(1));
    }
    assert!(indications(&duo.a, busy_from, duo.now).is_empty());
    // And the indications are unauthenticated with FINGERPRINT only.
    let (_, tx) = duo.a.sent.iter().find(|(t, _)| *t == idle[0]).unwrap();
    let m = Message::decode(&tx.data).unwrap();
    assert!(!m.has_integrity());
    assert!(m
        .attributes
        .iter()
        .any(|a| matches!(a, ice::stun::Attribute::Fingerprint(_))));
}

#[test]
fn consent_is_kept_while_the_peer_answers_and_lost_30_s_after_it_stops() {
    let mut duo = completed(&case(
        Some(NatKind::FullCone),
        Some(NatKind::AddressRestricted),
        false,
    ));
    run_for(&mut duo, Duration::from_secs(120));
    assert_eq!(
        duo.a.count(|e| matches!(e, IceEvent::ConsentLost { .. })),
        0
    );
    assert!(duo.exchange_media(Duration::from_secs(1)));
    // B vanishes: its uplink drops everything.
    let cut = duo.now;
    duo.net.set_host_link(
        sa("192.0.2.20:0").ip(),
        LinkConditions {
            loss: 1.0,
            ..LinkConditions::default()
        },
    );
    duo.run_until(duo.now + Duration::from_secs(60) - duo.t0, |d| {
        d.a.events
            .iter()
            .any(|(_, e)| matches!(e, IceEvent::ConsentLost { component: 1 }))
    });
    let lost_at = duo
        .a
        .events
        .iter()
        .find(|(_, e)| matches!(e, IceEvent::ConsentLost { component: 1 }))
        .map(|(t, _)| *t)
        .expect("consent lost");
    // RFC 7675 §5.1: 30 s after the last response, which came at most ~6 s before the cut.
    assert!(
        lost_at - cut <= Duration::from_secs(31),
        "{:?}",
        lost_at - cut
    );
    assert!(
        lost_at - cut >= Duration::from_secs(23),
        "{:?}",
        lost_at - cut
    );
    assert_eq!(duo.a.agent.state(), IceState::Disconnected);
    assert_eq!(
        duo.a.agent.send_data(duo.now, 1, b"\x80x"),
        Err(SendError::ConsentLost(1))
    );
}

/// Offer/answer of a restart initiated by A.
fn signal_restart(duo: &mut Duo) {
    let a_creds = duo.a.agent.local_credentials().clone();
    let a_cands = duo.a.agent.local_candidates();
    duo.b.agent.set_remote_credentials(a_creds);
    for c in a_cands {
        duo.b.agent.add_remote_candidate(c);
    }
    let b_creds = duo.b.agent.local_credentials().clone();
    duo.a.agent.set_remote_credentials(b_creds);
    for c in duo.b.agent.local_candidates() {
        duo.a.agent.add_remote_candidate(c);
    }
}

#[test]
fn restart_changes_credentials_keeps_media_on_the_old_pair_and_selects_again() {
    let mut duo = completed(&case(
        Some(NatKind::AddressRestricted),
        Some(NatKind::FullCone),
        false,
    ));
    let old_a = duo.a.agent.local_credentials().clone();
    let old_b = duo.b.agent.local_credentials().clone();
    let old_pair = duo.a.agent.selected_pair(1).unwrap();
    let was_controlling = duo.a.agent.is_controlling();
    duo.a.agent.restart(duo.now);
    let new_a = duo.a.agent.local_credentials().clone();
    // RFC 8445 §9: both ufrag and password change; roles stay.
    assert_ne!(new_a.ufrag, old_a.ufrag);
    assert_ne!(new_a.pwd, old_a.pwd);
    assert_eq!(duo.a.agent.is_controlling(), was_controlling);
    assert!(std::iter::from_fn(|| duo.a.agent.poll_event()).any(|e| e
        == IceEvent::Restarted {
            credentials: new_a.clone()
        }));
    // Media still flows on the old pair until a new one is selected.
    assert_eq!(duo.a.agent.selected_pair(1), Some(old_pair));
    assert!(duo.exchange_media(Duration::from_secs(1)));
    let restart_at = duo.now;
    signal_restart(&mut duo);
    let new_b = duo.b.agent.local_credentials().clone();
    assert_ne!(new_b, old_b, "the peer restarted too");
    // A second session completes on both sides.
    assert!(duo.run_until(Duration::from_secs(60), |d| {
        d.a.count(|e| *e == IceEvent::Completed) == 2
            && d.b.count(|e| *e == IceEvent::Completed) == 2
    }));
    // B restarted because A's credentials changed (peer-initiated restart).
    assert_eq!(duo.b.count(|e| matches!(e, IceEvent::Restarted { .. })), 1);
    assert_eq!(duo.a.agent.state(), IceState::Completed);
    assert_eq!(duo.b.agent.state(), IceState::Completed);
    // New checks use the new credentials.
    let expected = format!("{}:{}", new_b.ufrag, new_a.ufrag);
    assert!(duo.a.sent.iter().any(|(t, tx)| {
        *t >= restart_at
            && Message::decode(&tx.data).is_ok_and(|m| m.username() == Some(expected.as_str()))
    }));
    assert!(duo.exchange_media(Duration::from_secs(1)));
}

/// Run one agent alone on the network until `limit`.
fn run_alone(net: &mut Network, side: &mut Side, t0: Instant, limit: Duration) {
    let mut now = t0;
    for _ in 0..100_000 {
        while let Some(t) = side.agent.poll_transmit() {
            side.sent.push((now, t.clone()));
            net.send(t.from, t.to, t.data);
        }
        while let Some(e) = side.agent.poll_event() {
            side.events.push((now, e));
        }
        let next = [side.agent.poll_timeout(), net.next_delivery()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { return };
        if next > t0 + limit {
            return;
        }
        now = next.max(now);
        for d in net.advance(now) {
            side.agent.handle_packet(d.at, d.to, d.from, &d.data);
        }
        if side.agent.poll_timeout().is_some_and(|t| t <= now) {
            side.agent.handle_timeout(now);
        }
    }
    panic!("step limit");
}

#[test]
fn two_stun_servers_give_two_foundations_and_a_dead_server_holds_nothing_back() {
    let t0 = Instant::now();
    let mut net = Network::new(3, t0);
    let nat = net.add_nat(NatKind::Symmetric, sa("203.0.113.1:0").ip());
    net.set_nat_wan_link(nat, LinkConditions::with_delay(Duration::from_millis(20)));
    net.add_host(
        sa("192.0.2.10:0").ip(),
        Some(nat),
        LinkConditions::with_delay(Duration::from_millis(20)),
    );
    net.add_stun_server(sa("198.51.100.1:3478"));
    net.add_stun_server(sa("198.51.100.4:3478"));
    let dead = sa("198.51.100.99:3478");
    let config = IceConfig {
        seed: Some(1),
        stun_servers: vec![dead, sa("198.51.100.1:3478"), sa("198.51.100.4:3478")],
        ..IceConfig::default()
    };
    let mut side = Side::new(IceAgent::new(config, t0));
    side.add_host(1, sa("192.0.2.10:5000"));
    run_alone(&mut net, &mut side, t0, Duration::from_secs(10));
    let srflx: Vec<_> = side
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            IceEvent::LocalCandidate(c) if c.kind == CandidateKind::ServerReflexive => {
                Some((*t, c.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(srflx.len(), 2);
    // RFC 8445 §5.1.1.3: different servers, different foundations.
    assert_ne!(srflx[0].1.foundation, srflx[1].1.foundation);
    // Paced at Ta, answered after 2 × 40 ms: both well before the dead server is given up.
    assert!(srflx
        .iter()
        .all(|(t, _)| *t - t0 < Duration::from_millis(500)));
    let failed_at = side
        .events
        .iter()
        .find(|(_, e)| matches!(e, IceEvent::ServerFailed { server, .. } if *server == dead))
        .map(|(t, _)| *t)
        .expect("dead server given up");
    let complete_at = side
        .events
        .iter()
        .find(|(_, e)| *e == IceEvent::GatheringComplete)
        .map(|(t, _)| *t)
        .expect("gathering complete");
    // Sent at 0, 0.5, 1.5 and 3.5 s, given up 1 s after the last send: within a 5 s cap.
    assert!(failed_at - t0 >= Duration::from_millis(4500));
    assert!(failed_at - t0 < Duration::from_secs(5));
    assert!(complete_at >= failed_at);
    let dead_sends = side.sent.iter().filter(|(_, tx)| tx.to == dead).count();
    assert_eq!(dead_sends, 4);
    // The three Binding requests went out one Ta apart.
    let first_sends: Vec<_> = side
        .sent
        .iter()
        .filter(|(_, tx)| tx.to.port() == 3478)
        .map(|(t, tx)| (*t, tx.to))
        .collect();
    let mut starts: Vec<Instant> = Vec::new();
    for server in [dead, sa("198.51.100.1:3478"), sa("198.51.100.4:3478")] {
        starts.push(first_sends.iter().find(|(_, to)| *to == server).unwrap().0);
    }
    assert!(starts
        .windows(2)
        .all(|w| w[1] - w[0] >= Duration::from_millis(50)));
}

#[test]
fn relayed_candidates_are_gathered_and_close_frees_the_allocations() {
    let mut duo = completed(&case(
        Some(NatKind::Symmetric),
        Some(NatKind::Symmetric),
        true,
    ));
    assert!(duo
        .a
        .agent
        .local_candidates()
        .iter()
        .any(|c| c.kind == CandidateKind::Relayed));
    // The relayed candidate is the default for an offer (RFC 8839: relay > srflx > host).
    assert_eq!(
        duo.a.agent.default_candidate(1).unwrap().kind,
        CandidateKind::Relayed
    );
    assert!(duo.exchange_media(Duration::from_secs(1)));
    let turn = sa(harness::TURN_SERVER);
    assert_eq!(duo.net.stats().turn_servers[&turn].allocations_active, 2);
    assert!(
        duo.net.stats().turn_servers[&turn].channels_bound >= 1,
        "ChannelBind once selected"
    );
    let now = duo.now;
    duo.a.agent.close(now);
    duo.b.agent.close(now);
    run_for(&mut duo, Duration::from_secs(5));
    let stats = &duo.net.stats().turn_servers[&turn];
    assert_eq!(stats.allocations_active, 0);
    assert_eq!(stats.allocations_freed, 2);
    assert_eq!(duo.a.agent.state(), IceState::Closed);
    assert_eq!(
        duo.a.agent.send_data(duo.now, 1, b"x"),
        Err(SendError::Closed)
    );
}

#[test]
fn two_components_each_get_a_selected_pair() {
    let t0 = Instant::now();
    let net = two_open_hosts(8, t0);
    let (mut a, mut b) = controlling_and_controlled(t0, |c| IceConfig { components: 2, ..c });
    a.add_host(1, sa("192.0.2.1:5000"));
    a.add_host(2, sa("192.0.2.1:5001"));
    b.add_host(1, sa("192.0.2.2:6000"));
    b.add_host(2, sa("192.0.2.2:6001"));
    let mut duo = Duo::new(net, a, b);
    assert!(duo.run_until(Duration::from_secs(10), |d| d.both_completed()));
    for comp in [1, 2] {
        let (l, r) = duo.a.agent.selected_pair(comp).unwrap();
        assert_eq!((l.component, r.component), (comp, comp));
        assert_eq!(
            duo.b.agent.selected_pair(comp).unwrap().1.address,
            l.address
        );
    }
    let t = duo.a.agent.send_data(duo.now, 2, b"\x81\xc8rtcp").unwrap();
    assert_eq!(t.from, sa("192.0.2.1:5001"));
    assert_eq!(t.to, sa("192.0.2.2:6001"));
}

/// RFC 5761 §5.1.3: the offerer gathered component 2 for a peer without rtcp-mux; the
/// answer accepted mux, so component 2 is dropped and ICE completes on component 1 alone.
#[test]
fn dropping_the_rtcp_component_after_a_mux_answer_completes_on_one() {
    let t0 = Instant::now();
    let mut net = Network::new(8, t0);
    let link = LinkConditions::with_delay(Duration::from_millis(20));
    net.add_host(sa("192.0.2.1:0").ip(), None, link);
    net.add_host(sa("192.0.2.2:0").ip(), None, link);
    let cfg = |controlling, seed, components| IceConfig {
        controlling,
        seed: Some(seed),
        components,
        ..IceConfig::default()
    };
    let mut a = Side::new(IceAgent::new(cfg(true, 1, 2), t0));
    let mut b = Side::new(IceAgent::new(cfg(false, 2, 1), t0));
    a.add_host(1, sa("192.0.2.1:5000"));
    a.add_host(2, sa("192.0.2.1:5001"));
    b.add_host(1, sa("192.0.2.2:6000"));
    assert!(a.agent.local_candidates().iter().any(|c| c.component == 2));
    assert!(a.agent.drop_rtcp_component());
    assert!(!a.agent.drop_rtcp_component(), "only once");
    assert_eq!(a.agent.config().components, 1);
    assert!(a.agent.local_candidates().iter().all(|c| c.component == 1));
    let mut duo = Duo::new(net, a, b);
    assert!(duo.run_until(Duration::from_secs(10), |d| d.both_completed()));
    assert!(duo.a.agent.selected_pair(1).is_some());
    assert!(duo.a.agent.selected_pair(2).is_none());
    assert!(duo.exchange_media(Duration::from_secs(1)));
}

#[test]
fn two_controlling_agents_resolve_the_conflict_and_complete() {
    let mut duo = build(&case(Some(NatKind::FullCone), None, false), Instant::now());
    duo.b.agent.set_role(true);
    assert!(duo.run_until(Duration::from_secs(20), |d| d.both_completed()));
    assert_ne!(duo.a.agent.is_controlling(), duo.b.agent.is_controlling());
    assert_mirrored_selection(&duo);
    assert!(duo.exchange_media(Duration::from_secs(1)));
}

#[test]
fn an_aggressive_rfc_5245_peer_is_accepted_and_is_one_rtt_faster() {
    let regular = completed(&case(
        Some(NatKind::FullCone),
        Some(NatKind::FullCone),
        false,
    ));
    let mut c = case(Some(NatKind::FullCone), Some(NatKind::FullCone), false);
    c.nomination = NominationMode::Aggressive;
    let mut aggressive = completed(&c);
    assert_mirrored_selection(&aggressive);
    assert!(aggressive.exchange_media(Duration::from_secs(1)));
    let t_reg = regular.a.completed_at().unwrap() - regular.signalled_at.unwrap();
    let t_agg = aggressive.a.completed_at().unwrap() - aggressive.signalled_at.unwrap();
    assert!(t_agg < t_reg, "aggressive {t_agg:?} vs regular {t_reg:?}");
}

#[test]
fn wrong_remote_password_fails_with_401_reasons() {
    let mut duo = build(&case(None, None, false), Instant::now());
    duo.auto_signal = false;
    duo.run_until(Duration::from_secs(1), |d| {
        d.a.agent.is_gathering_complete() && d.b.agent.is_gathering_complete()
    });
    let mut wrong = duo.b.agent.local_credentials().clone();
    wrong.pwd = "not-the-password-of-b-at-all".into();
    duo.a.agent.set_remote_credentials(wrong);
    for c in duo.b.agent.local_candidates() {
        duo.a.agent.add_remote_candidate(c);
    }
    assert!(duo.run_until(Duration::from_secs(60), |d| d.a.failed().is_some()));
    let Some(IceEvent::Failed { reasons }) = duo.a.failed() else {
        unreachable!()
    };
    assert!(!reasons.is_empty());
    assert!(
        reasons
            .iter()
            .all(|r| r.reason == FailureReason::Unauthorized),
        "{reasons:?}"
    );
}

#[test]
fn trickled_candidates_are_checked_as_they_come_and_failure_waits_for_end_of_candidates() {
    let t0 = Instant::now();
    let net = two_open_hosts(12, t0);
    let (mut a, mut b) = controlling_and_controlled(t0, |c| IceConfig { trickle: true, ..c });
    a.add_host(1, sa("192.0.2.1:5000"));
    b.add_host(1, sa("192.0.2.2:6000"));
    let mut duo = Duo::new(net, a, b);
    duo.auto_signal = false;
    // Credentials first, with a candidate of B that leads nowhere.
    let (ca, cb) = (
        duo.a.agent.local_credentials().clone(),
        duo.b.agent.local_credentials().clone(),
    );
    duo.a.agent.set_remote_credentials(cb);
    duo.b.agent.set_remote_credentials(ca);
    duo.a
        .agent
        .add_remote_candidate(ice::Candidate::host("z", 1, sa("198.51.100.99:9"), 1));
    // Long after that pair failed, ICE has not failed: more candidates may come.
    duo.run_until(Duration::from_secs(60), |_| false);
    assert_eq!(duo.a.agent.state(), IceState::Checking);
    assert!(duo.a.failed().is_none());
    // The real candidates trickle in; checks resume and complete.
    for c in duo.b.agent.local_candidates() {
        duo.a.agent.add_remote_candidate(c);
    }
    for c in duo.a.agent.local_candidates() {
        duo.b.agent.add_remote_candidate(c);
    }
    duo.a.agent.end_of_remote_candidates();
    duo.b.agent.end_of_remote_candidates();
    assert!(duo.run_until(Duration::from_secs(70), |d| d.both_completed()));
    assert_eq!(
        duo.a.agent.selected_pair(1).unwrap().1.address,
        sa("192.0.2.2:6000")
    );
}

#[test]
fn the_agent_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<IceAgent>();
    // Its Debug form is a summary without secrets.
    let agent = IceAgent::new(
        IceConfig {
            seed: Some(1),
            ..IceConfig::default()
        },
        Instant::now(),
    );
    let text = format!("{agent:?}");
    assert!(text.contains(&agent.local_credentials().ufrag));
    assert!(!text.contains(&agent.local_credentials().pwd));
}
