//! icephone and baresip (its ice module), both behind port-restricted NATs, calling each
//! other in both directions through Kamailio (issue 7, test 5).
//!
//! Asserts from icephone's `--json` events, from baresip's own account of the call (its
//! ctrl_tcp events: CALL_RTPESTAB is raised when its ICE has connected; its log: the
//! completed check list) and from tshark's decode of the public segment (SIP ladder, RTP
//! streams). Needs root and the baresip package: fails (never skips) without them.

mod lab;

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use lab::peer::{
    assert_baresip_connected, control, control_events, rtp_between, start_baresip, stop,
};
use lab::phone::{account, assert_reflexive_call, expect, stun, stun_turn, Phone};
use lab::wire::{assert_wire_clean, ladder_text, rtp_streams, sip_ladder};
use lab::{Capture, Lab, LabConfig, NatKind, B1, KAMAILIO, NAT_A_WAN, NAT_B_WAN};

/// Seconds of media in each call. Our RTP starts when our component 1 is selected; baresip
/// sends none before both of its components connected (rtcp_mux off), a second or two later.
const MEDIA_SECONDS: &str = "6";
/// 20 ms packets over most of the media time.
const MIN_RTP: u64 = 100;

#[test]
fn icephone_and_baresip_call_each_other_across_port_restricted_nats() {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        servers: true,
        ..LabConfig::default()
    });
    let cap = Capture::start(&lab, "baresip");
    let baresip = start_baresip(&lab, "b1", B1, "baresip", "baresippw");

    // --- icephone (alice, a1) calls baresip -------------------------------------------------
    // alice has TURN, so her default is relayed while ICE selects a reflexive pair: she must
    // send the updated offer. baresip's Allow has no UPDATE, so it is a re-INVITE.
    let ctl = control(&lab, "b1", "baresipctl-incoming", &[]);
    let mut args: Vec<String> = vec![
        "call".into(),
        "sip:baresip@icephone.test".into(),
        "--tone".into(),
        "440".into(),
        "--duration".into(),
        MEDIA_SECONDS.into(),
    ];
    args.extend(account("alice", "alicepw"));
    args.extend(stun_turn("alice", "alicepw"));
    let alice = Phone::start(&lab, "a1", "alice-calls", &args, Duration::from_secs(40));
    let (code, out_events) = alice.finish(Duration::from_secs(45));
    assert_eq!(code, 0, "alice's call to baresip: {out_events:?}");
    let (out_local, out_remote) = assert_reflexive_call(
        &out_events,
        "alice calling baresip",
        (NAT_A_WAN, NAT_B_WAN),
        MIN_RTP,
    );
    let sent = out_events
        .iter()
        .find(|e| e["event"] == "updated_offer" && e["direction"] == "sent")
        .unwrap_or_else(|| panic!("no updated offer sent: {out_events:?}"));
    assert_eq!(
        sent["method"], "INVITE",
        "re-INVITE, as baresip does not allow UPDATE: {sent}"
    );
    let answered = out_events
        .iter()
        .find(|e| e["event"] == "updated_offer" && e["direction"] == "answered")
        .unwrap_or_else(|| panic!("the re-INVITE was not answered: {out_events:?}"));
    assert!(
        answered["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("200")),
        "baresip accepted the re-INVITE: {answered}"
    );
    let incoming = control_events(&lab, ctl, "baresipctl-incoming");
    assert_baresip_connected(&incoming, "baresip called by icephone");

    // --- baresip calls icephone (alice answering, a1) ---------------------------------------
    let mut args: Vec<String> = vec![
        "answer".into(),
        "--register".into(),
        "--calls".into(),
        "1".into(),
    ];
    args.extend(account("alice", "alicepw"));
    args.extend(stun());
    let mut alice = Phone::start(&lab, "a1", "alice-answers", &args, Duration::from_secs(40));
    alice.wait_event(Duration::from_secs(10), |e| e["event"] == "registered");
    let ctl = control(
        &lab,
        "b1",
        "baresipctl-outgoing",
        &[
            "--dial",
            &format!("sip:alice@{KAMAILIO}"),
            "--hangup-after",
            MEDIA_SECONDS,
        ],
    );
    let outgoing = control_events(&lab, ctl, "baresipctl-outgoing");
    assert_baresip_connected(&outgoing, "baresip calling icephone");
    let (code, in_events) = alice.finish(Duration::from_secs(25));
    assert_eq!(code, 0, "alice answering baresip: {in_events:?}");
    let (in_local, in_remote) = assert_reflexive_call(
        &in_events,
        "alice answering baresip",
        (NAT_A_WAN, NAT_B_WAN),
        MIN_RTP,
    );
    let ended = expect(&in_events, "call", Some("ended"), "alice answering baresip");
    assert_eq!(
        ended["reason"], "remote hung up",
        "baresip hung up: {ended}"
    );
    stop(baresip);

    // baresip's own log: its check list completed both times.
    let log = fs::read_to_string(lab.run_dir().join("baresip-baresip.log")).unwrap_or_default();
    assert_eq!(
        log.matches("connectivity check is complete").count(),
        2,
        "baresip's ICE completed in both calls (its log)"
    );

    // --- the wire ---------------------------------------------------------------------------
    let pcap = cap.stop();
    let streams = rtp_streams(&pcap);
    for (what, local, remote) in [
        ("icephone -> baresip call", &out_local, &out_remote),
        ("baresip -> icephone call", &in_local, &in_remote),
    ] {
        let a_to_b = rtp_between(&streams, local, remote);
        let b_to_a = rtp_between(&streams, remote, local);
        assert!(
            a_to_b >= MIN_RTP && b_to_a >= MIN_RTP,
            "{what}: RTP on the selected path {local} -> {remote}: {a_to_b}, back: {b_to_a}; {streams:?}"
        );
    }
    let rows = sip_ladder(&pcap);
    let ladder = ladder_text(&rows);
    // baresip's 200 for the INVITE lists what it allows: no UPDATE.
    let baresip_ok = rows
        .iter()
        .find(|r| r.src == NAT_B_WAN && r.is_response("200", "INVITE") && !r.allow.is_empty())
        .unwrap_or_else(|| panic!("baresip's 200 with Allow:\n{ladder}"));
    assert!(
        !baresip_ok.allow.to_ascii_uppercase().contains("UPDATE"),
        "baresip's Allow: {}",
        baresip_ok.allow
    );
    assert!(
        !rows.iter().any(|r| r.is_request("UPDATE")),
        "no UPDATE was sent to a peer that does not allow it:\n{ladder}"
    );
    // alice's re-INVITE: a second INVITE transaction in her dialog with baresip, relayed by
    // Kamailio to NAT B and answered with 200.
    let call_id = &baresip_ok.call_id;
    let invite_cseqs: BTreeSet<u64> = rows
        .iter()
        .filter(|r| r.call_id == *call_id && r.src == NAT_A_WAN && r.is_request("INVITE"))
        .filter_map(|r| r.cseq_number.parse().ok())
        .collect();
    let reinvite = *invite_cseqs
        .iter()
        .max()
        .unwrap_or_else(|| panic!("alice's INVITEs:\n{ladder}"));
    let initial_ok: u64 = baresip_ok.cseq_number.parse().unwrap_or(0);
    assert!(
        reinvite > initial_ok,
        "a re-INVITE (CSeq {reinvite}) after the initial INVITE's 200 (CSeq {initial_ok}):\n{ladder}"
    );
    assert!(
        rows.iter().any(|r| r.call_id == *call_id
            && r.src == KAMAILIO
            && r.dst == NAT_B_WAN
            && r.is_request("INVITE")
            && r.cseq_number == reinvite.to_string()),
        "Kamailio relayed the re-INVITE to baresip:\n{ladder}"
    );
    assert!(
        rows.iter().any(|r| r.call_id == *call_id
            && r.src == KAMAILIO
            && r.dst == NAT_A_WAN
            && r.is_response("200", "INVITE")
            && r.cseq_number == reinvite.to_string()),
        "baresip's 200 for the re-INVITE reached alice:\n{ladder}"
    );
    assert_wire_clean(&pcap);
}
