//! icephone and baresip across the NAT cells where real peers broke us (issue 12): address-
//! restricted ↔ symmetric, symmetric ↔ symmetric through TURN, and symmetric ↔ address-
//! restricted with baresip controlling. One call per direction per cell, through Kamailio.
//!
//! What each cell must show, from icephone's `--json` events and baresip's ctrl_tcp events:
//! two-way media, no ICE restart (fault 2: a restart 0.3 ms after answering baresip's
//! re-INVITE), media still flowing after baresip's re-INVITE (fault 1: our answer's default was
//! our private host address), and — where baresip never nominates — an `ice_failed` within
//! seconds that says so (fault 4). Needs root, Kamailio, coturn and baresip: fails (never
//! skips) without them.

mod lab;

use std::time::Duration;

use lab::peer::{assert_baresip_connected, control, control_events, start_baresip, stop};
use lab::phone::{
    account, event_lines as lines, expect, find, media_count, stun, stun_turn, Phone,
};
use lab::{Lab, LabConfig, NatKind, B1, KAMAILIO};
use serde_json::Value;

/// Seconds of media in each call. baresip checks its pairs one after another and sends no
/// media before both of its components connected (rtcp_mux off), which takes it up to ~8 s
/// in these cells; the calls must outlast that.
const MEDIA_SECONDS: &str = "10";
/// Three seconds of 20 ms packets at least, each way.
const MIN_RTP: u64 = 150;

fn lab(nat_a: NatKind, nat_b: NatKind) -> Lab {
    Lab::up(&LabConfig {
        nat_a,
        nat_b,
        servers: true,
        ..LabConfig::default()
    })
}

/// icephone's side of a good call: established, a pair selected, media both ways, and no ICE
/// restart of any kind.
fn assert_two_way_without_restart(events: &[Value], who: &str) {
    expect(events, "call", Some("established"), who);
    expect(events, "ice", Some("selected"), who);
    let sent = media_count(events, "rtp_sent", who);
    let received = media_count(events, "rtp_received", who);
    assert!(
        sent >= MIN_RTP && received >= MIN_RTP,
        "{who}: RTP sent {sent}, received {received} (want >= {MIN_RTP} each):\n{}",
        lines(events)
    );
    assert!(
        find(events, "ice", Some("restarted")).is_none()
            && !events.iter().any(|e| e["event"] == "updated_offer"
                && e["reason"].as_str().is_some_and(|r| r.contains("restart"))),
        "{who}: no ICE restart:\n{}",
        lines(events)
    );
}

/// alice (a1) calls baresip; returns alice's events after checking baresip connected.
fn alice_calls_baresip(lab: &Lab, name: &str, ice: Vec<String>) -> Vec<Value> {
    let ctl = control(lab, "b1", &format!("{name}-baresipctl"), &[]);
    let mut args: Vec<String> = vec![
        "call".into(),
        "sip:baresip@icephone.test".into(),
        "--tone".into(),
        "440".into(),
        "--duration".into(),
        MEDIA_SECONDS.into(),
    ];
    args.extend(account("alice", "alicepw"));
    args.extend(ice);
    let alice = Phone::start(lab, "a1", name, &args, Duration::from_secs(40));
    let (code, events) = alice.finish(Duration::from_secs(45));
    assert_eq!(code, 0, "{name}: alice's call:\n{}", lines(&events));
    let baresip = control_events(lab, ctl, &format!("{name}-baresipctl"));
    assert_baresip_connected(&baresip, name);
    events
}

/// baresip calls alice (a1, `answer --register`); returns alice's exit code and events.
fn baresip_calls_alice(lab: &Lab, name: &str, ice: Vec<String>) -> (i32, Vec<Value>) {
    let mut args: Vec<String> = vec![
        "answer".into(),
        "--register".into(),
        "--calls".into(),
        "1".into(),
    ];
    args.extend(account("alice", "alicepw"));
    args.extend(ice);
    let mut alice = Phone::start(lab, "a1", name, &args, Duration::from_secs(40));
    alice.wait_event(Duration::from_secs(10), |e| e["event"] == "registered");
    let ctl = control(
        lab,
        "b1",
        &format!("{name}-baresipctl"),
        &[
            "--dial",
            &format!("sip:alice@{KAMAILIO}"),
            "--hangup-after",
            MEDIA_SECONDS,
        ],
    );
    let _ = control_events(lab, ctl, &format!("{name}-baresipctl"));
    alice.finish(Duration::from_secs(40))
}

/// Runs both directions of a cell even when the first fails, then fails with every failure.
fn both_directions(cell: &str, out: impl FnOnce(), incoming: impl FnOnce()) {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let failures: Vec<String> = [
        ("we call baresip", catch_unwind(AssertUnwindSafe(out))),
        ("baresip calls us", catch_unwind(AssertUnwindSafe(incoming))),
    ]
    .into_iter()
    .filter_map(|(what, r)| {
        r.err().map(|e| {
            let text = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("{cell}, {what}: {text}")
        })
    })
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Fault 1: when baresip's re-INVITE named our candidates, the default we answered with is
/// never our private host address (the peer's RTP would never reach us there).
fn assert_answered_with_a_public_default(events: &[Value], who: &str) {
    for e in events
        .iter()
        .filter(|e| e["event"] == "updated_offer" || e["event"] == "remote_candidate_ignored")
    {
        eprintln!("{who}: {e}");
    }
    for e in events
        .iter()
        .filter(|e| e["event"] == "updated_offer" && e["direction"] == "received")
    {
        let reason = e["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("answered with default") && !reason.contains("192.0.2."),
            "{who}: the updated offer's answer must name our selected, public candidate: {e}"
        );
    }
    for e in events
        .iter()
        .filter(|e| e["event"] == "remote_candidate_ignored")
    {
        assert!(
            e["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{who}: ignored entry with its reason: {e}"
        );
    }
}

/// Fault 1: baresip (symmetric NAT) calls us (address-restricted NAT); its re-INVITE lists our
/// host and srflx for both components. Our answer's default must be the srflx of our selected
/// pair, so its RTP keeps reaching us; the extra entries are reported.
#[test]
fn address_restricted_and_symmetric_both_directions() {
    let lab = lab(NatKind::AddressRestricted, NatKind::Symmetric);
    let baresip = start_baresip(&lab, "b1", B1, "baresip", "baresippw");
    both_directions(
        "arc-sym",
        || {
            let out = alice_calls_baresip(&lab, "arc-sym-out", stun());
            assert_two_way_without_restart(&out, "alice (arc) calling baresip (sym)");
        },
        || {
            let (code, incoming) = baresip_calls_alice(&lab, "arc-sym-in", stun());
            assert_eq!(code, 0, "alice answering:\n{}", lines(&incoming));
            assert_two_way_without_restart(&incoming, "alice (arc) answering baresip (sym)");
            assert_answered_with_a_public_default(&incoming, "alice (arc) answering");
        },
    );
    stop(baresip);
}

/// Fault 2: symmetric NATs on both sides, alice with TURN. baresip's re-INVITE lists many
/// remote-candidates, some none of ours: no restart, media on the relay both ways.
#[test]
fn symmetric_and_symmetric_through_turn_both_directions() {
    let lab = lab(NatKind::Symmetric, NatKind::Symmetric);
    let baresip = start_baresip(&lab, "b1", B1, "baresip", "baresippw");
    both_directions(
        "sym-sym+TURN",
        || {
            let out = alice_calls_baresip(&lab, "sym-sym-out", stun_turn("alice", "alicepw"));
            assert_two_way_without_restart(&out, "alice (sym, TURN) calling baresip (sym)");
        },
        || {
            let (code, incoming) =
                baresip_calls_alice(&lab, "sym-sym-in", stun_turn("alice", "alicepw"));
            assert_eq!(code, 0, "alice answering:\n{}", lines(&incoming));
            assert_two_way_without_restart(&incoming, "alice (sym, TURN) answering baresip (sym)");
            assert_answered_with_a_public_default(&incoming, "alice (sym, TURN) answering");
        },
    );
    stop(baresip);
}

/// Fault 4: baresip (controlling, address-restricted) calls us (symmetric). Its checks fail
/// and it never nominates: we must not sit in `checking` for the whole call, but report
/// `ice_failed` saying the peer never nominated, within the controlled side's wait (10 s after
/// our first valid pair at most). If baresip does nominate, the call must have two-way media.
#[test]
fn baresip_controlling_behind_address_restricted_calls_us_behind_symmetric() {
    let lab = lab(NatKind::Symmetric, NatKind::AddressRestricted);
    let baresip = start_baresip(&lab, "b1", B1, "baresip", "baresippw");
    let (code, events) = baresip_calls_alice(&lab, "sym-arc-in", stun());
    match find(&events, "ice", Some("failed")) {
        Some(failed) => {
            let ms = failed["ms"].as_u64().unwrap_or(u64::MAX);
            let valid_ms = find(&events, "ice", Some("valid_pair"))
                .and_then(|v| v["ms"].as_u64())
                .unwrap_or(0);
            assert!(
                ms <= valid_ms + 10_500,
                "ICE failure reported {ms} ms after the remote candidates, the first valid pair \
                 at {valid_ms} ms:\n{}",
                lines(&events)
            );
            assert!(
                failed["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("never nominated") || r.contains("failed")),
                "{failed}"
            );
            assert_eq!(code, 5, "ICE failure exits 5:\n{}", lines(&events));
        }
        None => {
            assert_eq!(code, 0, "alice answering:\n{}", lines(&events));
            assert_two_way_without_restart(&events, "alice (sym) answering baresip (arc)");
        }
    }
    stop(baresip);
}
