//! Issue 7, test 7: with 10 % loss and 50 ms delay each way on both NAT uplinks, registration
//! and the calls of test 2 (icephone A <-> icephone B, both port-restricted) still complete:
//! ICE completes with a reflexive pair, media flows both ways, and the updated offer goes out
//! and is answered when the default candidate differs from the selected one (or, rarely, the
//! direct checks are all lost and the relayed default is kept: see `assert_call_two`).
//!
//! Loss makes exact counts meaningless, so media is checked against thresholds: each
//! direction crosses two lossy uplinks (~19 % loss expected), and the thresholds are about
//! half of what a loss-free call sends.
//!
//! Needs root and network namespaces: fails (never skips) without them.

mod lab;

use std::time::Duration;

use lab::phone::{
    account, assert_reflexive_call, candidates, expect, joined, media_count, selected_pair, stun,
    stun_turn, Phone, EXIT_OK,
};
use lab::wire::{assert_wire_clean, ladder_text, rtp_packets, sip_ladder};
use lab::{Capture, Lab, LabConfig, NatKind, KAMAILIO, NAT_A_WAN, NAT_B_WAN, TURN};
use serde_json::Value;

/// Bound on one icephone process; retransmissions under loss make calls slower.
const PHONE_LIMIT: Duration = Duration::from_secs(90);
/// Seconds of media per call: 500 packets at 20 ms ptime. Loss makes every SIP round trip
/// fail about a third of the time (10 % on each of two uplinks, each way), so the call must
/// outlast enough retransmissions (RFC 3261 §17.1.2.2 Timer E: 0, 0.5, 1.5, 3.5, 7.5 s) for
/// the callee's ACK and for call 2's updated offer (sent when ICE selects, answered while the
/// media runs). With 6 s calls the UPDATE had four tries, all lost ~1.4 % of the time (seen
/// once in 20 runs: "the updated offer was not answered"); with 10 s it has five (~0.5 %),
/// and a 3 s call left ~4 % of callees without any ACK before the BYE.
const CALL_SECONDS: &str = "10";
/// RTP each way a phone must count: well below the ~81 % of 500 that survive two uplinks.
const MIN_RTP_PER_PHONE: u64 = 75;

fn with(parts: &[&str], more: &[Vec<String>]) -> Vec<String> {
    let mut v: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    for m in more {
        v.extend(m.iter().cloned());
    }
    v
}

fn done(phone: Phone, who: &str) -> Vec<Value> {
    let (code, events) = phone.finish(PHONE_LIMIT);
    assert_eq!(
        code,
        EXIT_OK,
        "{who} exit code; events:\n{}",
        joined(&events)
    );
    events
}

/// One call of bob (b1) to alice; `extra` are bob's STUN/TURN flags.
fn call_alice(lab: &Lab, name: &str, extra: Vec<String>) -> Vec<Value> {
    let bob = Phone::start(
        lab,
        "b1",
        name,
        &with(
            &[
                "call",
                "sip:alice@icephone.test",
                "--tone",
                "440",
                "--duration",
                CALL_SECONDS,
            ],
            &[account("bob", "bobpw"), extra],
        ),
        PHONE_LIMIT,
    );
    done(bob, name)
}

#[test]
fn port_restricted_calls_complete_with_ten_percent_loss_and_fifty_ms_delay_on_both_uplinks() {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        loss_a: 0.1,
        loss_b: 0.1,
        delay_a_ms: 50,
        delay_b_ms: 50,
        servers: true,
        ..LabConfig::default()
    });
    let cap = Capture::start(&lab, "impaired");

    // Registration: alice answers two calls; her REGISTER may need retransmissions.
    let mut alice = Phone::start(
        &lab,
        "a1",
        "alice",
        &with(
            &["answer", "--register", "--calls", "2"],
            &[account("alice", "alicepw"), stun()],
        ),
        PHONE_LIMIT * 2,
    );
    let registered = alice.wait_event(Duration::from_secs(30), |e| {
        e["event"] == "registered" && e["expires"].as_u64().unwrap_or(0) > 0
    });
    assert!(
        registered["public_address"]
            .as_str()
            .is_some_and(|a| a.starts_with(NAT_A_WAN)),
        "alice learned NAT A's address: {registered}"
    );

    // Call 1: STUN only (default = selected). Call 2: bob has TURN too, his default is the
    // relayed candidate, so the updated offer must go out (RFC 8445 §8.1.2).
    let bob1 = call_alice(&lab, "bob-1", stun());
    // alice answers one call at a time: let call 1 end on her side before call 2 (a lost BYE
    // is retransmitted by Kamailio for up to 32 s, RFC 3261 §17.1.2.2 Timer F, after bob has
    // given up waiting for its 200).
    alice.wait_event(Duration::from_secs(35), |e| {
        e["event"] == "call" && e["state"] == "ended"
    });
    let bob2 = call_alice(&lab, "bob-2", stun_turn("bob", "bobpw"));
    let alice_events = done(alice, "alice");

    // The capture ends here so that a failure below can show the SIP ladder (which UPDATE,
    // 200 or ACK was lost, or whether alice held her answer back).
    let pcap = cap.stop();
    let rows = sip_ladder(&pcap);
    let context = || {
        format!(
            "bob call 1:\n{}\nbob call 2:\n{}\nalice:\n{}\nladder:\n{}",
            joined(&bob1),
            joined(&bob2),
            joined(&alice_events),
            ladder_text(&rows)
        )
    };
    assert_reflexive_call(
        &bob1,
        "bob call 1",
        (NAT_B_WAN, NAT_A_WAN),
        MIN_RTP_PER_PHONE,
    );
    // Alice answered both calls and bob hung both up. "established" (200 sent and ACK
    // received) is not required of each: every SIP message crosses both lossy NATs twice
    // (P = 0.81 each way), so a 200/ACK round fails with P ≈ 0.34 and all five rounds of a
    // 10 s call (RFC 3261 §13.3.1.4 retransmissions at 0.5, 1.5, 3.5, 7.5 s) with ≈ 0.5 %;
    // seen once in CI. The media summaries below show the call was up either way.
    let answered_calls = alice_events
        .iter()
        .filter(|e| {
            e["event"] == "call" && e["state"] == "ended" && e["reason"] == "remote hung up"
        })
        .count();
    assert_eq!(
        answered_calls,
        2,
        "alice answered both calls:\n{}",
        context()
    );
    let established = alice_events
        .iter()
        .filter(|e| e["event"] == "call" && e["state"] == "established")
        .count();
    assert!(
        established >= 1,
        "no ACK reached alice in either call:\n{}",
        context()
    );
    let alice_media: Vec<&Value> = alice_events
        .iter()
        .filter(|e| e["event"] == "media")
        .collect();
    assert_eq!(alice_media.len(), 2, "alice's media summaries");
    for m in alice_media {
        let n = |f: &str| m[f].as_u64().unwrap_or(0);
        assert!(
            n("rtp_sent") >= MIN_RTP_PER_PHONE && n("rtp_received") >= MIN_RTP_PER_PHONE,
            "alice: {m}"
        );
    }
    let (_, default2) = candidates(&bob2, "bob call 2");
    assert!(
        default2.starts_with(TURN),
        "call 2 default is relayed: {default2}"
    );
    assert_call_two(&bob2, &default2, &context);

    // The wire: registration answered 200, RTP both ways between the NATs, a clean decode.
    assert!(
        rows.iter()
            .any(|r| r.src == KAMAILIO && r.dst == NAT_A_WAN && r.is_response("200", "REGISTER")),
        "alice's registration was accepted on the wire:\n{}",
        ladder_text(&rows)
    );
    let summary = assert_wire_clean(&pcap);
    let ab = rtp_packets(&summary.rtp_streams, NAT_A_WAN, NAT_B_WAN);
    let ba = rtp_packets(&summary.rtp_streams, NAT_B_WAN, NAT_A_WAN);
    // Two calls of 500 packets each way, seen on br0 after one lossy uplink (~90 %); call 1
    // alone clears the bar should call 2 have gone through the relay.
    assert!(
        ab >= 2 * MIN_RTP_PER_PHONE && ba >= 2 * MIN_RTP_PER_PHONE,
        "RTP on the wire A->B {ab}, B->A {ba}: {:?}",
        summary.rtp_streams
    );
}

/// Call 2 (bob has TURN, his default is the relayed candidate). The usual outcome: ICE selects
/// the reflexive pair, so the updated offer goes out and is answered (RFC 8445 §8.1.2).
///
/// Under this loss a relayed selection is also correct ICE: every check crosses two lossy
/// uplinks each way (a round trip fails with P ≈ 0.34), and the controlling agent holds a
/// relayed pair for a pending direct one only a bounded time (`relay_nomination_wait`, then
/// the answer to the direct check's second retransmission). In the ICE simulation with this
/// delay about 1 seed in 100 ends relayed (`ice/tests/agent_relay_hold.rs`); seen once in CI.
/// Then the selected local candidate is the signalled default and the updated offer must be
/// skipped for that reason, with media flowing through the relay.
fn assert_call_two(bob2: &[Value], default2: &str, context: &dyn Fn() -> String) {
    expect(bob2, "call", Some("established"), "bob call 2");
    expect(bob2, "ice", Some("completed"), "bob call 2");
    let (lt, la, rt, ra) = selected_pair(bob2, "bob call 2");
    if lt == "relay" {
        eprintln!(
            "NOTE bob call 2 selected the relay {la} -> {rt} {ra}: the direct checks were lost \
             within the relay hold; checking the relayed outcome instead of the updated offer"
        );
        assert_eq!(
            la,
            default2,
            "a relayed selection is the default:\n{}",
            context()
        );
        let skipped = bob2
            .iter()
            .find(|e| e["event"] == "updated_offer")
            .unwrap_or_else(|| panic!("call 2: no updated_offer event:\n{}", context()));
        assert_eq!(skipped["direction"], "skipped", "{skipped}");
        assert!(
            ra.starts_with(NAT_A_WAN),
            "the relay reaches alice's NAT: {ra}"
        );
        for field in ["rtp_sent", "rtp_received"] {
            let n = media_count(bob2, field, "bob call 2");
            assert!(n >= MIN_RTP_PER_PHONE, "bob call 2 {field} {n}");
        }
        return;
    }
    assert_reflexive_call(
        bob2,
        "bob call 2",
        (NAT_B_WAN, NAT_A_WAN),
        MIN_RTP_PER_PHONE,
    );
    let answered = bob2
        .iter()
        .find(|e| e["event"] == "updated_offer" && e["direction"] == "answered")
        .unwrap_or_else(|| panic!("call 2: the updated offer was not answered:\n{}", context()));
    assert!(
        answered["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("200")),
        "{answered}"
    );
}
