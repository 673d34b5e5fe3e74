//! More call_loopback tests in virtual time (`virtual_net`): the session over time, ICE
//! restart, consent, hold, answering on command, RTCP, a lossy network.

use std::time::Duration;

use super::virtual_net::{pair, run, Net, Run, World, CALLEE, CALLER, VIRTUAL_LIMIT};
use super::Input;
use crate::call::control::CallCommand;
use crate::events::Event;
use crate::exit;
use crate::signalling::UaCommand;

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
