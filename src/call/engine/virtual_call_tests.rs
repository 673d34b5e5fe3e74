//! Two `CallCore`s against each other in virtual time (`virtual_net`): a call with ICE and
//! two seconds of media takes milliseconds of wall time.

use std::time::{Duration, Instant};

use super::virtual_net::{options, run, CALLEE_IP, CALLER_IP};
use crate::call::{CallOptions, CallOutcome};
use crate::events::Event;

fn selected(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Ice { state, component: Some(1), .. } if state == "selected"))
}

/// The caller hangs up after `media` of media.
fn caller_for(media: Duration) -> CallOptions {
    let mut opts = options("caller", CALLER_IP);
    opts.duration = Some(media);
    opts
}

fn assert_rtp_both_ways(name: &str, outcome: &CallOutcome, at_least: u64) {
    assert_eq!(outcome.exit, crate::exit::OK, "{name}: {}", outcome.reason);
    assert!(
        outcome.media.rtp_sent >= at_least && outcome.media.rtp_received >= at_least,
        "{name}: RTP both ways, sent {} received {}",
        outcome.media.rtp_sent,
        outcome.media.rtp_received
    );
}

#[test]
fn two_cores_set_up_a_call_select_a_pair_and_carry_rtp_both_ways_in_virtual_time() {
    let wall = Instant::now();
    let run = run(
        caller_for(Duration::from_secs(2)),
        options("callee", CALLEE_IP),
    );
    for (name, outcome, events) in [
        ("caller", &run.caller, &run.caller_events),
        ("callee", &run.callee, &run.callee_events),
    ] {
        assert_rtp_both_ways(name, outcome, 50);
        assert!(outcome.ice_used, "{name} used ICE");
        assert!(outcome.selected.is_some(), "{name} selected a pair");
        assert!(selected(events), "{name} reported its selected pair");
        // RFC 8445 §12.1: no media before the selection.
        assert_eq!(outcome.media_sent_before_selection, 0, "{name}");
    }
    assert_eq!(run.caller.reason, "duration reached");
    assert_eq!(run.callee.reason, "remote hung up");
    assert!(
        run.caller.setup_ms.is_some_and(|ms| ms < 200),
        "{:?}",
        run.caller.setup_ms
    );
    // Two seconds of media and the setup around it, in virtual time ...
    assert!(run.virtual_time >= Duration::from_secs(2));
    // ... and a small part of that in wall time (generous: debug build, shared machine).
    let took = wall.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?} of wall time");
    assert!(run.datagrams > 200, "{} datagrams", run.datagrams);
}

#[test]
fn without_ice_plain_rtp_flows_both_ways_in_virtual_time() {
    let mut caller = caller_for(Duration::from_secs(1));
    caller.ice = false;
    let mut callee = options("callee", CALLEE_IP);
    callee.ice = false;
    let run = run(caller, callee);
    for (name, outcome) in [("caller", &run.caller), ("callee", &run.callee)] {
        assert_rtp_both_ways(name, outcome, 25);
        assert!(!outcome.ice_used, "{name} did not use ICE");
        assert_eq!(outcome.media.rtp_dropped_unknown_source, 0, "{name}");
    }
}

#[test]
fn hold_and_resume_by_reinvite_in_virtual_time() {
    // RFC 3264 §8.4: the caller holds (a=sendonly) after 1 s, resumes 1 s later, and hangs
    // up after 4 s of media.
    let mut caller = caller_for(Duration::from_secs(4));
    caller.hold_after = Some(Duration::from_secs(1));
    caller.hold_for = Duration::from_secs(1);
    let run = run(caller, options("callee", CALLEE_IP));
    assert_rtp_both_ways("caller", &run.caller, 100);
    assert_rtp_both_ways("callee", &run.callee, 100);
    assert_eq!(run.caller.hold_cycles, 1, "the caller's hold was answered");
    assert_eq!(run.callee.hold_cycles, 1, "the callee was held once");
    // While held, the callee sent nothing: about a second less audio than the caller.
    assert!(
        run.callee.media.rtp_sent + 30 < run.caller.media.rtp_sent,
        "callee sent {}, caller sent {}",
        run.callee.media.rtp_sent,
        run.caller.media.rtp_sent
    );
}
