//! The call tests of `tests/call_loopback.rs` that test the call, not sockets, in virtual
//! time (`virtual_net`): each asserts what its real-socket original did, in milliseconds.

use std::time::Duration;

use super::virtual_net::{
    ip, pair, run, Net, Run, World, CALLEE_IP, CALLER_IP, CALLER_IP2, VIRTUAL_LIMIT,
};
use super::Input;
use crate::call::control::CallCommand;
use crate::call::CallOutcome;
use crate::events::Event;
use crate::exit;
use crate::media::goertzel::tone_ratio;
use crate::media::source::Source;
use crate::signalling::UaCommand;

const CALLER: bool = true;
const CALLEE: bool = false;

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

/// The caller's BYE is lost and the caller is gone: the callee's consent checks go
/// unanswered, consent expires (RFC 7675 §5.1, shortened here) and the callee ends the call
/// with a reason naming it.
#[test]
fn virtual_a_lost_bye_ends_the_callee_call_when_consent_expires() {
    let (caller, mut callee) = pair(Duration::from_millis(1200));
    callee.consent = Some(ice::agent::ConsentConfig {
        enabled: true,
        interval: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
    });
    let net = Net {
        lose_sip: |c| matches!(c, UaCommand::Bye),
        ..Net::default()
    };
    let run = World::new(caller, callee, net).finish();
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    assert_eq!(run.callee.exit, exit::ICE, "{}", run.callee.reason);
    assert!(
        run.callee.reason.contains("consent lost"),
        "{}",
        run.callee.reason
    );
    assert!(run
        .events(CALLEE)
        .iter()
        .any(|e| matches!(e, Event::Call { state, .. } if state == "established")));
}

/// `CallCommand::RestartIce` from the caller 600 ms after its pair was selected, the peer
/// allowing UPDATE or not.
fn ice_restart_case(callee_allows_update: bool, rtcp_mux: bool) -> Run {
    let (mut caller, mut callee) = pair(Duration::from_millis(2500));
    caller.rtcp_mux = rtcp_mux;
    callee.rtcp_mux = rtcp_mux;
    let net = Net {
        callee_allows_update,
        ..Net::default()
    };
    let mut world = World::new(caller, callee, net);
    let selected = |w: &World| {
        w.events(CALLER)
            .iter()
            .any(|e| matches!(e, Event::Ice { state, .. } if state == "selected"))
    };
    assert!(
        world.run_until(selected, Duration::from_secs(5)),
        "selected"
    );
    world.advance(Duration::from_millis(600));
    world.input(CALLER, Input::Command(CallCommand::RestartIce));
    world.finish()
}

fn ice_states(events: &[Event]) -> Vec<(&str, Option<&str>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Ice { state, reason, .. } => Some((state.as_str(), reason.as_deref())),
            _ => None,
        })
        .collect()
}

fn assert_restarted_and_media_kept_flowing(run: &Run) {
    for (who, o) in [(CALLER, &run.caller), (CALLEE, &run.callee)] {
        let name = if who { "caller" } else { "callee" };
        assert_eq!(o.exit, exit::OK, "{name}: {}", o.reason);
        // RFC 8445 §9: both sides took new credentials.
        assert_eq!(o.local_ufrags.len(), 2, "{name}: {:?}", o.local_ufrags);
        assert_ne!(o.local_ufrags[0], o.local_ufrags[1], "{name}");
        assert_eq!(o.ice_restarts, 1, "{name}: the new session selected a pair");
        let states = ice_states(run.events(who));
        let restarted = states
            .iter()
            .position(|(s, _)| *s == "restarted")
            .unwrap_or_else(|| panic!("{name}: no restarted event in {states:?}"));
        let selected: Vec<usize> = states
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| *s == "selected")
            .map(|(i, _)| i)
            .collect();
        assert!(selected.len() >= 2, "{name}: {states:?}");
        assert!(selected[0] < restarted, "{name}: {states:?}");
        let again = *selected.last().expect("selected");
        assert!(
            again > restarted,
            "{name}: selected again after the restart"
        );
        assert!(
            states[again].1.is_some_and(|r| r.contains("ICE restart")),
            "{name}: {states:?}"
        );
        // Media kept flowing on the old pair while the new checks ran: no gap, no loss.
        let gap = o.longest_rtp_gap_ms.expect("RTP received");
        assert!(gap < 1000, "{name}: a {gap} ms gap in the RTP received");
        assert!(o.media.rtp_received > 80, "{name}: {:?}", o.media);
        assert_eq!(o.media.lost, 0, "{name}: {:?}", o.media);
        assert_eq!(o.media_sent_before_selection, 0, "{name}");
    }
    // The two sides' ufrags are distinct too (the peer's restart is its own, not ours).
    assert_ne!(run.caller.local_ufrags[1], run.callee.local_ufrags[1]);
}

/// The method of the caller's ICE-restart offer (`updated_offer` sent with that reason).
fn restart_offer_method(run: &Run) -> Option<String> {
    run.events(CALLER).iter().find_map(|e| match e {
        Event::UpdatedOffer {
            method,
            direction,
            reason,
            ..
        } if direction == "sent" && reason.contains("ICE restart") => Some(method.clone()),
        _ => None,
    })
}

#[test]
fn virtual_ice_restart_on_command_by_update_reselects_and_media_keeps_flowing() {
    let run = ice_restart_case(true, true);
    assert_restarted_and_media_kept_flowing(&run);
    assert_eq!(restart_offer_method(&run).as_deref(), Some("UPDATE"));
}

#[test]
fn virtual_ice_restart_on_command_by_reinvite_when_update_is_not_allowed() {
    let run = ice_restart_case(false, true);
    assert_restarted_and_media_kept_flowing(&run);
    assert_eq!(restart_offer_method(&run).as_deref(), Some("INVITE"));
}

/// Without RTCP mux both components restart: each is selected again, RTCP goes on.
#[test]
fn virtual_ice_restart_without_rtcp_mux_reselects_both_components() {
    let run = ice_restart_case(true, false);
    assert_restarted_and_media_kept_flowing(&run);
    for who in [CALLER, CALLEE] {
        let mut again: Vec<u16> = run
            .events(who)
            .iter()
            .filter_map(|e| match e {
                Event::Ice {
                    state,
                    component,
                    reason: Some(r),
                    ..
                } if state == "selected" && r.contains("ICE restart") => *component,
                _ => None,
            })
            .collect();
        again.sort_unstable();
        again.dedup();
        assert_eq!(again, [1, 2], "{who}");
    }
    assert!(run.caller.media.rtcp_received > 0 && run.callee.media.rtcp_received > 0);
}

/// The whole virtual world is deterministic and quick: a lossy network (5 %, seeded) still
/// carries a call, within the virtual limit.
#[test]
fn virtual_a_lossy_network_still_carries_the_call() {
    let (caller, callee) = pair(Duration::from_secs(2));
    let net = Net {
        loss: 0.05,
        seed: 7,
        ..Net::default()
    };
    let run = World::new(caller, callee, net).finish();
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    assert!(run.callee.media.rtp_received > 50, "{:?}", run.callee.media);
    assert!(run.virtual_time < VIRTUAL_LIMIT);
}

#[test]
fn virtual_hold_and_resume_by_reinvite() {
    let (mut caller, callee) = pair(Duration::from_millis(2500));
    caller.hold_after = Some(Duration::from_millis(600));
    caller.hold_for = Duration::from_millis(800);
    let run = run(caller, callee);
    let (caller, callee) = (&run.caller, &run.callee);
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(caller.hold_cycles, 1);
    assert_eq!(callee.hold_cycles, 1);
    let states: Vec<&str> = run
        .events(CALLEE)
        .iter()
        .filter_map(|e| match e {
            Event::Call { state, .. } => Some(state.as_str()),
            _ => None,
        })
        .collect();
    let hold = states.iter().position(|s| *s == "hold").expect("hold");
    let resumed = states
        .iter()
        .position(|s| *s == "resumed")
        .expect("resumed");
    assert!(hold < resumed, "{states:?}");
    // While held (sendonly from the caller, recvonly here) the callee sent nothing for
    // 0.8 s: about 40 frames fewer than the caller sent.
    assert!(
        callee.media.rtp_sent + 25 < caller.media.rtp_sent,
        "callee {} caller {}",
        callee.media.rtp_sent,
        caller.media.rtp_sent
    );
    assert!(callee.media.rtp_sent > 40);
}

/// `answer --manual`: the callee rings until told to answer (800 ms in).
#[test]
fn virtual_the_callee_answers_on_command() {
    let (caller, mut callee) = pair(Duration::from_millis(300));
    callee.answer_on_command = Some(std::sync::Arc::new(tokio::sync::Notify::new()));
    let mut world = World::new(caller, callee, Net::default());
    world.advance(Duration::from_millis(800));
    world.input(CALLEE, Input::AnswerNow);
    let run = world.finish();
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    let setup = run.caller.setup_ms.expect("established");
    assert!(
        setup >= 700,
        "answered after {setup} ms, before the command"
    );
}

/// RFC 3550 §6.4.1: each side's SR is echoed in the other's report block (LSR/DLSR), so
/// both learn the round-trip time (20 ms here), and both hear that the other lost nothing.
#[test]
fn virtual_rtcp_gives_the_round_trip_and_no_remote_loss() {
    let (caller, callee) = pair(Duration::from_secs(9));
    let run = run(caller, callee);
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    for (who, media) in [("caller", &run.caller.media), ("callee", &run.callee.media)] {
        assert!(media.rtcp_sent >= 2, "{who} {media:?}");
        let rtt = media
            .rtt_ms
            .unwrap_or_else(|| panic!("{who}: no RTT {media:?}"));
        assert!((15.0..30.0).contains(&rtt), "{who} rtt {rtt}");
        assert!(
            media.rtt_min_ms.is_some_and(|m| m <= rtt),
            "{who} {media:?}"
        );
        assert_eq!(media.remote_fraction_lost, Some(0.0), "{who} {media:?}");
        assert_eq!(media.remote_lost, Some(0), "{who} {media:?}");
    }
    // The `media` NDJSON event carries them as fields.
    let media_event = run
        .events(CALLER)
        .iter()
        .find(|e| matches!(e, Event::Media { .. }))
        .expect("caller's media event");
    let v = serde_json::to_value(media_event).expect("serializes");
    assert!(v["rtt_ms"].as_f64().is_some_and(|ms| ms < 100.0), "{v}");
    assert_eq!(v["remote_fraction_lost"], 0.0, "{v}");
    assert_eq!(v["remote_lost"], 0, "{v}");
}
