//! The call tests of `tests/call_loopback.rs` that test the call, not sockets, in virtual
//! time (`virtual_net`): each asserts what its real-socket original did, in milliseconds.
//! ICE, offers and media here; the session over time (restart, consent, hold, RTCP) in
//! `virtual_session_tests`.

use std::time::Duration;

use super::virtual_net::{
    ip, pair, run, Net, Run, World, CALLEE, CALLEE_IP, CALLER, CALLER_IP, CALLER_IP2,
};
use crate::call::CallOutcome;
use crate::events::Event;
use crate::exit;
use crate::media::goertzel::tone_ratio;
use crate::media::source::Source;

fn selected_components(events: &[Event]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Ice {
                state,
                component: Some(c),
                ..
            } if state == "selected" => Some(*c),
            _ => None,
        })
        .collect()
}

/// At least one RTCP report left the caller and reached the callee, and the callee
/// received more than 100 RTP packets (a 3 s call sends 150).
#[track_caller]
fn assert_rtcp_and_rtp_reached_the_callee(caller: &CallOutcome, callee: &CallOutcome) {
    assert!(
        caller.media.rtcp_sent >= 1 && callee.media.rtcp_received >= 1,
        "{:?} {:?}",
        caller.media,
        callee.media
    );
    assert!(callee.media.rtp_received > 100);
}

#[test]
fn virtual_ice_selects_a_pair_and_media_waits_for_it() {
    let (mut caller, callee) = pair(Duration::from_millis(1200));
    caller.source = Source::tone(600.0);
    let run = run(caller, callee);
    let (caller, callee) = (&run.caller, &run.callee);
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(callee.exit, exit::OK, "{}", callee.reason);
    let (local, remote) = caller.selected.clone().expect("caller selected a pair");
    assert_eq!(local.address.ip(), ip(CALLER_IP));
    assert_eq!(remote.address.ip(), ip(CALLEE_IP));
    assert!(callee.selected.is_some());
    assert!(caller.ice_used && callee.ice_used);
    // RFC 8445 §12.1: nothing RTP-like left either side before the pair was selected.
    assert_eq!(caller.media_sent_before_selection, 0);
    assert_eq!(callee.media_sent_before_selection, 0);
    assert!(caller.media.rtp_sent > 30, "{:?}", caller.media);
    assert!(callee.media.rtp_received > 30, "{:?}", callee.media);
    assert!(caller.media.rtp_received > 30, "{:?}", caller.media);
    // Events: candidates, ice selected with types, call established with setup time, media.
    let events = run.events(CALLER);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Candidates { candidates, .. } if !candidates.is_empty())));
    assert!(
        events.iter().any(|e| matches!(e,
        Event::Ice { state, local: Some(l), remote: Some(r), ms: Some(_), .. }
            if state == "selected" && l.kind == "host" && r.kind == "host" && l.protocol == "udp"))
    );
    assert!(events.iter().any(
        |e| matches!(e, Event::Call { state, setup_ms: Some(_), .. } if state == "established")
    ));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Media { stats, .. } if stats.codec == "PCMU")));
    // One default, and it is the only base: no updated offer needed, and we say so.
    assert!(caller.updated_offer_sent.is_none());
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::UpdatedOffer { direction, .. } if direction == "skipped")));
}

/// The caller's default (CALLER_IP2, firewalled: its inbound traffic is dropped) differs
/// from what ICE selects (CALLER_IP), so it sends an updated offer; the callee answers it
/// with the losing-pair rules.
fn updated_offer_case(callee_allows_update: bool) -> Run {
    let (mut caller, callee) = pair(Duration::from_millis(1200));
    caller.host_ips = vec![ip(CALLER_IP2), ip(CALLER_IP)];
    caller.blocked_ips = vec![ip(CALLER_IP2)];
    let net = Net {
        callee_allows_update,
        ..Net::default()
    };
    let run = World::new(caller, callee, net).finish();
    let caller = &run.caller;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let default = caller.signalled_default.expect("a default was signalled");
    assert_eq!(default.ip(), ip(CALLER_IP2));
    let (local, _) = caller.selected.clone().expect("selected");
    assert_eq!(local.address.ip(), ip(CALLER_IP));
    assert_ne!(local.address, default);
    let answered = run.events(CALLER).iter().any(|e| {
        matches!(e, Event::UpdatedOffer { direction, reason, .. }
            if direction == "answered" && reason.starts_with("200"))
    });
    assert!(answered, "the updated offer got a 200");
    run
}

#[test]
fn virtual_updated_offer_by_update_when_the_peer_allows_it() {
    let run = updated_offer_case(true);
    assert_eq!(run.caller.updated_offer_sent.as_deref(), Some("UPDATE"));
    assert_eq!(run.callee.updated_offer_received.as_deref(), Some("UPDATE"));
    assert!(run.callee.media.rtp_received > 20);
}

#[test]
fn virtual_updated_offer_by_reinvite_when_update_is_not_allowed() {
    let run = updated_offer_case(false);
    assert_eq!(run.caller.updated_offer_sent.as_deref(), Some("INVITE"));
    assert_eq!(run.callee.updated_offer_received.as_deref(), Some("INVITE"));
    assert!(run.callee.media.rtp_received > 20);
}

#[test]
fn virtual_a_peer_without_ice_gets_media_at_its_c_line() {
    let (mut caller, mut callee) = pair(Duration::from_millis(1200));
    callee.ice = false;
    callee.keep_audio = true;
    caller.source = Source::tone(700.0);
    let run = run(caller, callee);
    let (caller, callee) = (&run.caller, &run.callee);
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(!caller.ice_used);
    assert!(caller
        .ice_not_used_reason
        .as_deref()
        .is_some_and(|r| r.contains("no ICE attributes")));
    assert!(callee
        .ice_not_used_reason
        .as_deref()
        .is_some_and(|r| r.contains("--no-ice")));
    assert!(callee.media.rtp_received > 30, "{:?}", callee.media);
    assert!(caller.media.rtp_received > 30, "{:?}", caller.media);
    assert!(tone_ratio(&callee.recorded, 700.0, 8000.0) > 0.5);
    assert!(run.events(CALLER).iter().any(|e| matches!(e,
        Event::Ice { state, reason: Some(_), .. } if state == "not_used")));
}

#[test]
fn virtual_dtmf_both_ways() {
    let (mut caller, mut callee) = pair(Duration::from_millis(1500));
    caller.dtmf = Some("12#".into());
    callee.dtmf = Some("*9".into());
    let run = run(caller, callee);
    let (caller, callee) = (&run.caller, &run.callee);
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(caller.media.dtmf_sent, "12#");
    assert_eq!(callee.media.dtmf_received, "12#");
    assert_eq!(callee.media.dtmf_sent, "*9");
    assert_eq!(caller.media.dtmf_received, "*9");
    assert!(run.events(CALLEE).iter().any(|e| matches!(e,
        Event::Dtmf { digit, direction, .. } if digit == "#" && direction == "received")));
}

#[test]
fn virtual_alert_after_ice_sends_180_only_after_a_valid_pair() {
    let (caller, mut callee) = pair(Duration::from_millis(400));
    callee.alert_after_ice = true;
    let run = run(caller, callee);
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    let callee = run.events(CALLEE);
    let ringing = callee
        .iter()
        .position(|e| matches!(e, Event::Call { state, .. } if state == "ringing"))
        .expect("ringing");
    let valid = callee
        .iter()
        .position(|e| matches!(e, Event::Ice { state, .. } if state == "valid_pair"))
        .expect("valid pair");
    // RFC 8839 §7.1: no alerting before connectivity is proved.
    assert!(
        valid < ringing,
        "valid pair at {valid}, ringing at {ringing}"
    );
}

fn retransmit(
    rto_ms: u64,
    max_sends: u32,
    last_wait_multiplier: u32,
) -> ice::stun::RetransmitConfig {
    ice::stun::RetransmitConfig {
        rto: Duration::from_millis(rto_ms),
        max_sends,
        last_wait_multiplier,
    }
}

#[test]
fn virtual_ice_failure_ends_the_call_with_the_ice_exit_code_and_reasons() {
    let (mut caller, mut callee) = pair(Duration::from_secs(20));
    // Everything arriving at the caller's media address is dropped: no pair can work.
    caller.blocked_ips = vec![ip(CALLER_IP)];
    caller.check_retransmit = Some(retransmit(500, 2, 2));
    callee.check_retransmit = Some(retransmit(500, 2, 2));
    let run = run(caller, callee);
    let caller = &run.caller;
    assert_eq!(caller.exit, exit::ICE, "{}", caller.reason);
    assert!(caller.selected.is_none());
    // The gate held: not one RTP packet left.
    assert_eq!(caller.media_datagrams_sent, 0);
    assert_eq!(caller.media.rtp_sent, 0);
    assert!(caller.media.frames_held_before_selection > 0);
    let failed = run
        .events(CALLER)
        .iter()
        .find_map(|e| match e {
            Event::IceFailed { pairs, .. } => Some(pairs.clone()),
            _ => None,
        })
        .expect("an ice_failed event");
    assert!(!failed.is_empty());
    assert!(
        failed.iter().all(|p| p.reason.contains("timeout")),
        "{failed:?}"
    );
}

/// Both check lists fail, the callee's (controlled) first: it reports the failure but leaves
/// the BYE to the controlling caller, whose own failure follows; both end with exit code 5
/// and "ICE failed".
#[test]
fn virtual_a_controlled_ice_failure_leaves_the_bye_to_the_controlling_side() {
    let (mut caller, mut callee) = pair(Duration::from_secs(20));
    // Everything arriving at the callee's media address is dropped. The callee fails at
    // ≈0.5 s; the caller's triggered checks run 1.5 s more: inside the 5 s grace.
    callee.blocked_ips = vec![ip(CALLEE_IP)];
    callee.check_retransmit = Some(retransmit(500, 1, 1));
    caller.check_retransmit = Some(retransmit(500, 2, 2));
    let run = run(caller, callee);
    for (who, o) in [("caller", &run.caller), ("callee", &run.callee)] {
        assert_eq!(o.exit, exit::ICE, "{who}: {}", o.reason);
        assert!(o.reason.starts_with("ICE failed"), "{who}: {}", o.reason);
    }
    for who in [CALLER, CALLEE] {
        assert!(
            run.events(who)
                .iter()
                .any(|e| matches!(e, Event::IceFailed { .. })),
            "{who} reports its own ICE failure"
        );
    }
}

/// Without rtcp-mux each side has a second component: both must be selected before media,
/// and RTCP reports travel on component 2.
#[test]
fn virtual_without_rtcp_mux_both_components_are_selected_and_rtcp_flows() {
    let (mut caller, mut callee) = pair(Duration::from_secs(3));
    caller.rtcp_mux = false;
    callee.rtcp_mux = false;
    let run = run(caller, callee);
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    assert_eq!(run.caller.media_sent_before_selection, 0);
    assert_eq!(run.callee.media_sent_before_selection, 0);
    for who in [CALLER, CALLEE] {
        let selected = selected_components(run.events(who));
        for component in [1u16, 2] {
            assert!(selected.contains(&component), "{who} component {component}");
        }
    }
    assert_rtcp_and_rtp_reached_the_callee(&run.caller, &run.callee);
}

/// RFC 8445 §5.1.1.1 / RFC 5761 §5.1.3: the default offer proposes rtcp-mux AND carries
/// component 2; a callee that refuses mux gets ICE on both components.
#[test]
fn virtual_a_mux_offer_to_a_callee_without_mux_runs_ice_on_two_components() {
    let (caller, mut callee) = pair(Duration::from_secs(3));
    assert!(
        caller.rtcp_mux && !caller.rtcp_mux_only,
        "the default offer"
    );
    callee.rtcp_mux = false;
    let run = run(caller, callee);
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    assert_eq!(run.callee.exit, exit::OK, "{}", run.callee.reason);
    for who in [CALLER, CALLEE] {
        let mut comps = selected_components(run.events(who));
        comps.sort_unstable();
        comps.dedup();
        assert_eq!(comps, vec![1, 2], "{who}");
    }
    assert_rtcp_and_rtp_reached_the_callee(&run.caller, &run.callee);
    assert_eq!(run.caller.media_sent_before_selection, 0);
}

/// The same default offer to a callee that accepts mux: component 2 is dropped, ICE
/// completes on component 1 alone and RTCP shares it.
#[test]
fn virtual_a_mux_offer_accepted_drops_component_2() {
    let (caller, callee) = pair(Duration::from_secs(3));
    let run = run(caller, callee);
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    let offered_rtcp = run.events(CALLER).iter().any(|e| {
        matches!(e, Event::Candidates { candidates, .. } if candidates.iter().any(|c| c.component == 2))
    });
    assert!(
        offered_rtcp,
        "the caller gathered component 2 for the offer"
    );
    for who in [CALLER, CALLEE] {
        let twos = selected_components(run.events(who))
            .into_iter()
            .filter(|c| *c == 2)
            .count();
        assert_eq!(twos, 0, "{who}");
    }
    assert!(run
        .caller
        .selected
        .as_ref()
        .is_some_and(|(l, _)| l.component == 1));
    assert_rtcp_and_rtp_reached_the_callee(&run.caller, &run.callee);
}
