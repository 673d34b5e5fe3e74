//! icephone with a non-ICE peer (issue 7, test 6): sipp on the public segment, through
//! Kamailio, calling icephone behind NAT A (which registered) and answering icephone's
//! calls. sipp's SDP has no ICE attributes, so icephone must fall back to plain RFC 3264
//! media at the peer's c=/m= with symmetric-RTP latching; sipp echoes the RTP it gets
//! (`-rtp_echo`), so media shows up in both directions.
//!
//! Asserts from icephone's `--json` events, sipp's exit code (0 = every call passed its
//! scenario) and tshark's decode of the public segment. Needs root: fails without it.

mod lab;

use std::time::Duration;

use lab::phone::{account, expect, stun, Phone, EXIT_OK};
use lab::wire::{assert_wire_clean, ladder_text, rtp_packets, rtp_streams, sip_ladder, SipRow};
use lab::{wait_until, Capture, Lab, LabConfig, NatKind, KAMAILIO, NAT_A_WAN, PROBE};
use serde_json::Value;

const CALLS: usize = 2;

fn scenario(name: &str) -> String {
    lab::lab_dir().join("sipp").join(name).display().to_string()
}

fn sipp_lab() -> Lab {
    Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        servers: true,
        ..LabConfig::default()
    })
}

fn count(events: &[Value], kind: &str, state: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == kind && e["state"] == state)
        .count()
}

/// Every call of icephone's events: ICE not used (with its reason), media both ways.
fn assert_plain_media_calls(events: &[Value], who: &str) {
    assert_eq!(count(events, "call", "established"), CALLS, "{who}: calls");
    let not_used: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "ice" && e["state"] == "not_used")
        .collect();
    assert_eq!(not_used.len(), CALLS, "{who}: ICE not used in each call");
    for e in not_used {
        assert!(
            e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no ICE attributes")),
            "{who}: says why ICE is not used: {e}"
        );
    }
    let media: Vec<&Value> = events.iter().filter(|e| e["event"] == "media").collect();
    assert_eq!(media.len(), CALLS, "{who}: one media summary per call");
    for m in media {
        let sent = m["rtp_sent"].as_u64().unwrap_or(0);
        let received = m["rtp_received"].as_u64().unwrap_or(0);
        assert!(
            sent >= 60 && received >= 60,
            "{who}: media both ways with sipp's echo: {m}"
        );
    }
}

/// The ladder of each call through Kamailio: INVITE to the callee, 200 back to the caller,
/// ACK and BYE relayed, BYE answered.
fn assert_calls_through_kamailio(rows: &[SipRow], caller: &str, callee: &str) {
    let ladder = ladder_text(rows);
    let n = |pred: &dyn Fn(&SipRow) -> bool| rows.iter().filter(|r| pred(r)).count();
    let hop = |r: &SipRow, from: &str, to: &str| r.src == from && r.dst == to;
    for (what, count) in [
        (
            "INVITE challenged by the proxy (407)",
            n(&|r| hop(r, KAMAILIO, caller) && r.is_response("407", "INVITE")),
        ),
        (
            "INVITE relayed to the callee",
            n(&|r| hop(r, KAMAILIO, callee) && r.is_request("INVITE")),
        ),
        (
            "200 for INVITE back to the caller",
            n(&|r| hop(r, KAMAILIO, caller) && r.is_response("200", "INVITE")),
        ),
        (
            "ACK relayed to the callee",
            n(&|r| hop(r, KAMAILIO, callee) && r.is_request("ACK") && r.cseq_number == "2"),
        ),
        (
            "BYE relayed to the callee",
            n(&|r| hop(r, KAMAILIO, callee) && r.is_request("BYE")),
        ),
        (
            "200 for BYE back to the caller",
            n(&|r| hop(r, KAMAILIO, caller) && r.is_response("200", "BYE")),
        ),
    ] {
        assert!(count >= CALLS, "{what}: {count} of {CALLS}:\n{ladder}");
    }
}

#[test]
fn sipp_uac_calls_icephone_through_kamailio_and_sipp_uas_answers_icephone() {
    let lab = sipp_lab();
    let cap = Capture::start(&lab, "sipp");

    // --- sipp (public, no ICE) -> Kamailio -> icephone answering behind NAT A -----------
    let mut alice_args: Vec<String> = vec!["answer".into(), "--register".into()];
    alice_args.extend(account("alice", "alicepw"));
    alice_args.extend(stun());
    alice_args.extend(["--calls".into(), CALLS.to_string()]);
    let mut alice = Phone::start(&lab, "a1", "alice", &alice_args, Duration::from_secs(40));
    alice.wait_event(Duration::from_secs(10), |e| e["event"] == "registered");
    let uac = lab.run(
        "probe",
        &[
            "sipp",
            "-sf",
            &scenario("uac_invite.xml"),
            "-s",
            "alice",
            "-au",
            "sipp",
            "-ap",
            "sipppw",
            "-m",
            &CALLS.to_string(),
            "-l",
            "1",
            "-d",
            "2000",
            "-rtp_echo",
            "-mi",
            PROBE,
            "-mp",
            "6000",
            "-i",
            PROBE,
            "-p",
            "5060",
            "-nostdin",
            "-timeout",
            "25s",
            KAMAILIO,
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        uac.status.code(),
        Some(0),
        "sipp UAC: every call passes its scenario:\n{}\n{}",
        String::from_utf8_lossy(&uac.stdout),
        String::from_utf8_lossy(&uac.stderr)
    );
    let (code, alice_events) = alice.finish(Duration::from_secs(15));
    assert_eq!(code, EXIT_OK, "alice's exit code");
    assert_plain_media_calls(&alice_events, "alice answering sipp");
    assert_eq!(
        count(&alice_events, "call", "ended"),
        CALLS,
        "alice saw every call end"
    );
    assert!(alice_events
        .iter()
        .filter(|e| e["event"] == "call" && e["state"] == "ended")
        .all(|e| e["reason"] == "remote hung up"));

    // --- icephone behind NAT A -> Kamailio -> sipp UAS (registered as sipp2) -------------
    lab.run_ok(
        "probe",
        &[
            "sipp",
            "-sf",
            &scenario("register.xml"),
            "-s",
            "sipp2",
            "-au",
            "sipp2",
            "-ap",
            "sipp2pw",
            "-m",
            "1",
            "-i",
            PROBE,
            "-p",
            "5062",
            "-nostdin",
            "-timeout",
            "5s",
            KAMAILIO,
        ],
        Duration::from_secs(10),
    );
    let mut uas = lab.spawn(
        "probe",
        &[
            "sipp",
            "-sf",
            &scenario("uas_answer.xml"),
            "-m",
            &CALLS.to_string(),
            "-rtp_echo",
            "-mi",
            PROBE,
            "-mp",
            "6100",
            "-i",
            PROBE,
            "-p",
            "5062",
            "-nostdin",
            "-timeout",
            "25s",
        ],
        "sipp-uas",
        Duration::from_secs(30),
    );
    let mut callers = Vec::new();
    for i in 0..CALLS {
        let mut a: Vec<String> = vec![
            "call".into(),
            "sip:sipp2@icephone.test".into(),
            "--tone".into(),
            "440".into(),
            "--duration".into(),
            "2".into(),
        ];
        a.extend(account("alice", "alicepw"));
        a.extend(stun());
        let phone = Phone::start(
            &lab,
            "a1",
            &format!("alice-call-{i}"),
            &a,
            Duration::from_secs(20),
        );
        let (code, events) = phone.finish(Duration::from_secs(25));
        assert_eq!(code, EXIT_OK, "alice's call {i} to sipp's UAS");
        expect(&events, "call", Some("ended"), "alice calling sipp");
        callers.extend(events);
    }
    assert_plain_media_calls(&callers, "alice calling sipp");
    assert!(
        wait_until(Duration::from_secs(10), || matches!(
            uas.try_wait(),
            Ok(Some(_))
        )),
        "sipp UAS did not finish its {CALLS} calls"
    );
    let status = uas.wait().expect("reap sipp UAS");
    assert!(
        status.success(),
        "sipp UAS: every call passes its scenario ({status})"
    );

    // --- the wire ---------------------------------------------------------------------------
    let pcap = cap.stop();
    let rows = sip_ladder(&pcap);
    // The two halves of the run: before sipp2 registers, sipp calls alice; after, alice
    // calls sipp2.
    let split = rows
        .iter()
        .position(|r| r.src == PROBE && r.sport == "5062" && r.is_request("REGISTER"))
        .unwrap_or_else(|| panic!("sipp2's REGISTER:\n{}", ladder_text(&rows)));
    let (sipp_calls, alice_calls) = rows.split_at(split);
    assert_calls_through_kamailio(sipp_calls, PROBE, NAT_A_WAN);
    assert_calls_through_kamailio(alice_calls, NAT_A_WAN, PROBE);
    let streams = rtp_streams(&pcap);
    let out = rtp_packets(&streams, NAT_A_WAN, PROBE);
    let back = rtp_packets(&streams, PROBE, NAT_A_WAN);
    assert!(
        out >= 4 * 60 && back >= 4 * 60,
        "RTP between icephone and sipp over 4 calls: out {out}, back {back}: {streams:?}"
    );
    assert_wire_clean(&pcap);
}
