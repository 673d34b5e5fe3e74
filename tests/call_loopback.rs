//! In-process calls over loopback sockets: two phones, real SIP over UDP, ICE, RTP.

#[path = "support/tshark.rs"]
mod tshark;

use std::net::IpAddr;
use std::time::Duration;

use icephone::call::{run_callee, run_caller, CallOptions, CallOutcome};
use icephone::events::{Emitter, Event};
use icephone::exit;
use icephone::media::goertzel::tone_ratio;
use icephone::media::source::Source;
use icephone::media::wav;
use icephone::pcap::Capture;
use icephone::signalling::{spawn as spawn_ua, UaConfig};

const LO: [u8; 4] = [127, 0, 0, 1];
const LO2: [u8; 4] = [127, 0, 0, 2];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

struct Pair {
    caller: CallOptions,
    callee: CallOptions,
    callee_allows_update: bool,
    capture: Option<Capture>,
}

fn pair(emitter: &Emitter) -> Pair {
    let mut caller = CallOptions::new("caller", vec![ip(LO)], emitter.clone());
    caller.allow_loopback = true;
    caller.duration = Some(Duration::from_millis(1200));
    let mut callee = CallOptions::new("callee", vec![ip(LO)], emitter.clone());
    callee.allow_loopback = true;
    Pair {
        caller,
        callee,
        callee_allows_update: true,
        capture: None,
    }
}

async fn run(p: Pair) -> (CallOutcome, CallOutcome) {
    let ua = |aor: &str, allow_update: bool| UaConfig {
        capture: p.capture.clone(),
        allow_update,
        ..UaConfig::new((ip(LO), 0).into(), aor)
    };
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1", p.callee_allows_update))
        .await
        .unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1", true)).await.unwrap();
    let callee = tokio::spawn(run_callee(p.callee, callee_ua));
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(p.caller, caller_ua, &target),
    )
    .await
    .expect("caller finished")
    .unwrap();
    let callee = tokio::time::timeout(Duration::from_secs(10), callee)
        .await
        .expect("callee finished")
        .unwrap()
        .unwrap();
    (caller, callee)
}

fn events_of<'a>(events: &'a [Event], agent: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.agent() == agent).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_selects_a_pair_and_media_waits_for_it() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.source = Source::tone(600.0);
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(callee.exit, exit::OK, "{}", callee.reason);
    let (local, remote) = caller.selected.clone().expect("caller selected a pair");
    assert_eq!(local.address.ip(), ip(LO));
    assert_eq!(remote.address.ip(), ip(LO));
    assert!(callee.selected.is_some());
    assert!(caller.ice_used && callee.ice_used);
    // RFC 8445 §12.1: nothing RTP-like left either socket before the pair was selected.
    assert_eq!(caller.media_sent_before_selection, 0);
    assert_eq!(callee.media_sent_before_selection, 0);
    assert!(caller.media.rtp_sent > 30, "{:?}", caller.media);
    assert!(callee.media.rtp_received > 30, "{:?}", callee.media);
    assert!(caller.media.rtp_received > 30, "{:?}", caller.media);
    // Events: candidates, ice selected with types, call established with setup time, media.
    let events = emitter.events();
    let caller_events = events_of(&events, "caller");
    assert!(caller_events
        .iter()
        .any(|e| matches!(e, Event::Candidates { candidates, .. } if !candidates.is_empty())));
    assert!(
        caller_events.iter().any(|e| matches!(e,
        Event::Ice { state, local: Some(l), remote: Some(r), ms: Some(_), .. }
            if state == "selected" && l.kind == "host" && r.kind == "host" && l.protocol == "udp"))
    );
    assert!(caller_events.iter().any(
        |e| matches!(e, Event::Call { state, setup_ms: Some(_), .. } if state == "established")
    ));
    assert!(caller_events
        .iter()
        .any(|e| matches!(e, Event::Media { stats, .. } if stats.codec == "PCMU")));
    // One default, and it is the only base: no updated offer needed, and we say so.
    assert!(caller.updated_offer_sent.is_none());
    assert!(caller_events
        .iter()
        .any(|e| matches!(e, Event::UpdatedOffer { direction, .. } if direction == "skipped")));
}

/// The caller's default (127.0.0.2, firewalled: its inbound traffic is dropped) differs
/// from what ICE selects (127.0.0.1), so it sends an updated offer; the callee answers it
/// with the losing-pair rules.
async fn updated_offer_case(callee_allows_update: bool) -> (CallOutcome, CallOutcome) {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.host_ips = vec![ip(LO2), ip(LO)];
    p.caller.blocked_ips = vec![ip(LO2)];
    // The driver engine both ways: `allow_update: false` leaves UPDATE out of its Allow.
    p.callee_allows_update = callee_allows_update;
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let default = caller.signalled_default.expect("a default was signalled");
    assert_eq!(default.ip(), ip(LO2));
    let (local, _) = caller.selected.clone().expect("selected");
    assert_eq!(local.address.ip(), ip(LO));
    assert_ne!(local.address, default);
    let answered = events_of(&emitter.events(), "caller").iter().any(|e| {
        matches!(e, Event::UpdatedOffer { direction, reason, .. }
            if direction == "answered" && reason.starts_with("200"))
    });
    assert!(answered, "the updated offer got a 200");
    (caller, callee)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updated_offer_by_update_when_the_peer_allows_it() {
    let (caller, callee) = updated_offer_case(true).await;
    assert_eq!(caller.updated_offer_sent.as_deref(), Some("UPDATE"));
    assert_eq!(callee.updated_offer_received.as_deref(), Some("UPDATE"));
    assert!(callee.media.rtp_received > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updated_offer_by_reinvite_when_update_is_not_allowed() {
    let (caller, callee) = updated_offer_case(false).await;
    assert_eq!(caller.updated_offer_sent.as_deref(), Some("INVITE"));
    assert_eq!(callee.updated_offer_received.as_deref(), Some("INVITE"));
    assert!(callee.media.rtp_received > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_ice_gets_media_at_its_c_line() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.callee.ice = false;
    p.callee.keep_audio = true;
    p.caller.source = Source::tone(700.0);
    let (caller, callee) = run(p).await;
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
    assert!(emitter.events().iter().any(|e| matches!(e,
        Event::Ice { agent, state, reason: Some(_), .. } if agent == "caller" && state == "not_used")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_by_reinvite() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.duration = Some(Duration::from_millis(2500));
    p.caller.hold_after = Some(Duration::from_millis(600));
    p.caller.hold_for = Duration::from_millis(800);
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(caller.hold_cycles, 1);
    assert_eq!(callee.hold_cycles, 1);
    let callee_events = emitter.events();
    let states: Vec<&str> = events_of(&callee_events, "callee")
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
    // ~0.8 s: about 40 frames fewer than the caller sent.
    assert!(
        callee.media.rtp_sent + 25 < caller.media.rtp_sent,
        "callee {} caller {}",
        callee.media.rtp_sent,
        caller.media.rtp_sent
    );
    assert!(callee.media.rtp_sent > 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_both_ways() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.dtmf = Some("12#".into());
    p.callee.dtmf = Some("*9".into());
    p.caller.duration = Some(Duration::from_millis(1500));
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(caller.media.dtmf_sent, "12#");
    assert_eq!(callee.media.dtmf_received, "12#");
    assert_eq!(callee.media.dtmf_sent, "*9");
    assert_eq!(caller.media.dtmf_received, "*9");
    assert!(emitter.events().iter().any(|e| matches!(e,
        Event::Dtmf { agent, digit, direction } if agent == "callee" && digit == "#" && direction == "received")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wav_round_trip_carries_the_tone() {
    let dir = std::env::temp_dir().join(format!("icephone-wav-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.wav");
    let output = dir.join("out.wav");
    // 16 kHz input exercises the conversion to 8 kHz.
    let samples: Vec<i16> = (0..32000)
        .map(|i| (9000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 16000.0).sin()) as i16)
        .collect();
    wav::write(&input, &samples, 16000).unwrap();
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.source = Source::samples(wav::read(&input).unwrap().samples);
    p.callee.record = Some(output.clone());
    let (caller, _callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let recorded = wav::read(&output).unwrap().samples;
    assert!(recorded.len() > 8000 / 2, "{} samples", recorded.len());
    assert!(tone_ratio(&recorded, 1000.0, 8000.0) > 0.5);
    assert!(tone_ratio(&recorded, 440.0, 8000.0) < 0.05);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_after_ice_sends_180_only_after_a_valid_pair() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.callee.alert_after_ice = true;
    p.caller.duration = Some(Duration::from_millis(400));
    let (caller, _callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let events = emitter.events();
    let callee = events_of(&events, "callee");
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

/// The capture shows the gate: every RTP datagram comes after a STUN Binding success
/// response, and tshark reads the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcap_shows_no_rtp_before_ice_and_opens_in_tshark() {
    let dir = std::env::temp_dir().join(format!("icephone-pcap-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("call.pcap");
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    let capture = Capture::create(&path).unwrap();
    p.caller.capture = Some(capture.clone());
    p.callee.capture = Some(capture.clone());
    p.capture = Some(capture);
    p.caller.duration = Some(Duration::from_millis(500));
    let (caller, _) = run(p).await;
    assert_eq!(caller.exit, exit::OK);
    let bytes = std::fs::read(&path).unwrap();
    let payloads = pcap_udp_payloads(&bytes);
    assert!(payloads.iter().any(|p| p.starts_with(b"INVITE ")));
    let first_success = payloads
        .iter()
        .position(|p| p.len() >= 20 && p[0] == 0x01 && p[1] == 0x01)
        .expect("a STUN Binding success response");
    let first_rtp = payloads
        .iter()
        .position(|p| matches!(p.first(), Some(128..=191)))
        .expect("RTP");
    assert!(first_success < first_rtp, "{first_success} < {first_rtp}");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(tshark::BY_CONTENT)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SIP"), "{text}");
    assert!(text.contains("STUN"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// UDP payloads of a LINKTYPE_RAW IPv4 capture, in order.
fn pcap_udp_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap()) as usize;
        let packet = &bytes[i + 16..i + 16 + len];
        let ihl = usize::from(packet[0] & 0x0F) * 4;
        out.push(packet[ihl + 8..].to_vec());
        i += 16 + len;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_failure_ends_the_call_with_the_ice_exit_code_and_reasons() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    // Everything arriving at the caller's media socket is dropped: no pair can work.
    p.caller.blocked_ips = vec![ip(LO)];
    let quick = ice::stun::RetransmitConfig {
        rto: Duration::from_millis(500),
        max_sends: 2,
        last_wait_multiplier: 2,
    };
    p.caller.check_retransmit = Some(quick);
    p.callee.check_retransmit = Some(quick);
    p.caller.duration = Some(Duration::from_secs(20));
    let (caller, _callee) = run(p).await;
    assert_eq!(caller.exit, exit::ICE, "{}", caller.reason);
    assert!(caller.selected.is_none());
    // The gate held: not one RTP packet left.
    assert_eq!(caller.media_datagrams_sent, 0);
    assert_eq!(caller.media.rtp_sent, 0);
    assert!(caller.media.frames_held_before_selection > 0);
    let events = emitter.events();
    let failed = events_of(&events, "caller")
        .into_iter()
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
/// the BYE to the controlling caller, whose own failure follows; so the caller, too, ends
/// with exit code 5 and "ICE failed" instead of a race deciding whether it saw a BYE first
/// (a lab run saw the BYEs cross). The callee keeps its cause as well (exit 5, "ICE failed").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controlled_ice_failure_leaves_the_bye_to_the_controlling_side() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    // Everything arriving at the callee's media socket is dropped, so no pair works. The
    // callee gives each check one send and 0.5 s: it fails at ≈0.5 s. Its checks reach the
    // caller and restart the caller's check as a triggered one (RFC 8445 §7.3.1.4), two sends
    // over 1.5 s: the caller fails at ≈2.5 s, inside CONTROLLED_ICE_FAIL_GRACE (5 s).
    p.callee.blocked_ips = vec![ip(LO)];
    let retransmit = |max_sends, last_wait_multiplier| ice::stun::RetransmitConfig {
        rto: Duration::from_millis(500),
        max_sends,
        last_wait_multiplier,
    };
    p.callee.check_retransmit = Some(retransmit(1, 1));
    p.caller.check_retransmit = Some(retransmit(2, 2));
    p.caller.duration = Some(Duration::from_secs(20));
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::ICE, "{}", caller.reason);
    assert!(caller.reason.starts_with("ICE failed"), "{}", caller.reason);
    assert_eq!(callee.exit, exit::ICE, "{}", callee.reason);
    assert!(callee.reason.starts_with("ICE failed"), "{}", callee.reason);
    let events = emitter.events();
    for who in ["caller", "callee"] {
        assert!(
            events_of(&events, who)
                .iter()
                .any(|e| matches!(e, Event::IceFailed { .. })),
            "{who} reports its own ICE failure"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_stun_server_delays_the_call_by_at_most_its_timeout() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    // A port nobody listens on: the server is given up after its retransmissions.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    p.caller.stun = Some(silent.local_addr().unwrap());
    p.caller.duration = Some(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let (caller, _) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(caller.selected.is_some());
    // ice's gathering gives a server 3.5 s (3 sends); the call's own cap is 5 s.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    // …and it did wait for the server (nothing answers, no ICMP on a bound port).
    assert!(waited > Duration::from_secs(2), "{waited:?}");
    drop(silent);
}

/// Without rtcp-mux each side has a second component (its own socket): both components must
/// be selected before media, and RTCP reports travel on component 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rtcp_mux_both_components_are_selected_and_rtcp_flows() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.rtcp_mux = false;
    p.callee.rtcp_mux = false;
    p.caller.duration = Some(Duration::from_millis(3000));
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(caller.media_sent_before_selection, 0);
    assert_eq!(callee.media_sent_before_selection, 0);
    let events = emitter.events();
    for agent in ["caller", "callee"] {
        let selected = selected_components(&events, agent);
        for component in [1u16, 2] {
            assert!(
                selected.contains(&component),
                "{agent} component {component}"
            );
        }
    }
    assert_rtcp_and_rtp_reached_the_callee(&caller, &callee);
}

/// RFC 3550 §6.4.1: over loopback each side's SR is echoed in the other's report block
/// (LSR/DLSR), so both learn a small round-trip time, and both hear that the other lost
/// nothing. 9 s: the first reports come within 1.5 s, the next within 6.2 s of them, so by
/// then each side has had a peer report sent after its own first SR arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_gives_a_small_round_trip_and_no_remote_loss_on_loopback() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.duration = Some(Duration::from_millis(9000));
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    for (agent, media) in [("caller", &caller.media), ("callee", &callee.media)] {
        assert!(media.rtcp_sent >= 2, "{agent} {media:?}");
        let rtt = media
            .rtt_ms
            .unwrap_or_else(|| panic!("{agent}: no RTT {media:?}"));
        // Loopback: well under a scheduling hiccup on a loaded machine.
        assert!((0.0..100.0).contains(&rtt), "{agent} rtt {rtt}");
        assert!(
            media.rtt_min_ms.is_some_and(|m| m <= rtt),
            "{agent} {media:?}"
        );
        assert_eq!(media.remote_fraction_lost, Some(0.0), "{agent} {media:?}");
        assert_eq!(media.remote_lost, Some(0), "{agent} {media:?}");
    }
    // The `media` NDJSON event carries them as fields.
    let events = emitter.events();
    let media_event = events_of(&events, "caller")
        .into_iter()
        .find(|e| matches!(e, Event::Media { .. }))
        .expect("caller's media event");
    let v = serde_json::to_value(media_event).unwrap();
    assert!(v["rtt_ms"].as_f64().is_some_and(|ms| ms < 100.0), "{v}");
    assert_eq!(v["remote_fraction_lost"], 0.0, "{v}");
    assert_eq!(v["remote_lost"], 0, "{v}");
}

/// RFC 3261 §21.4.24: beyond `max_calls` (1) a second INVITE gets 486 Busy Here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_call_while_busy_gets_486() {
    let emitter = Emitter::new(false, true);
    let ua = |aor: &str| UaConfig::new((ip(LO), 0).into(), aor);
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let mut callee = CallOptions::new("callee", vec![ip(LO)], emitter.clone());
    callee.allow_loopback = true;
    let callee_task = tokio::spawn(run_callee(callee, callee_ua));
    let first = {
        let mut o = CallOptions::new("first", vec![ip(LO)], emitter.clone());
        o.allow_loopback = true;
        o.duration = Some(Duration::from_millis(1500));
        let ua1 = spawn_ua(ua("sip:first@127.0.0.1")).await.unwrap();
        let target = target.clone();
        tokio::spawn(async move { run_caller(o, ua1, &target).await })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut second = CallOptions::new("second", vec![ip(LO)], emitter.clone());
    second.allow_loopback = true;
    let ua2 = spawn_ua(ua("sip:second@127.0.0.1")).await.unwrap();
    let busy = run_caller(second, ua2, &target).await.unwrap();
    assert_eq!(busy.exit, exit::CALL, "{}", busy.reason);
    assert!(busy.reason.starts_with("486"), "{}", busy.reason);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.exit, exit::OK, "{}", first.reason);
    callee_task.await.unwrap().unwrap();
    assert!(emitter.events().iter().any(|e| matches!(e,
        Event::Call { agent, state, status: Some(486), .. } if agent == "second" && state == "failed")));
}

/// A multi-call user agent (`answer --max-calls 2`): two calls at once, each on its own
/// handle; the first caller's hold (an in-dialog offer) reaches only the first call's engine,
/// so the bridge routes by dialog, not to "the" call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_calls_keep_their_in_dialog_offers_apart() {
    let emitter = Emitter::new(false, true);
    let ua = |aor: &str| UaConfig::new((ip(LO), 0).into(), aor);
    let (callee_ua, mut incoming) = icephone::signalling::spawn_multi(UaConfig {
        max_calls: 2,
        ..ua("sip:callee@127.0.0.1")
    })
    .await
    .unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let callees = {
        let emitter = emitter.clone();
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for n in 1..=2 {
                let handle = incoming.recv().await.expect("an incoming call");
                let mut o = CallOptions::new(&format!("callee-{n}"), vec![ip(LO)], emitter.clone());
                o.allow_loopback = true;
                tasks.push(tokio::spawn(run_callee(o, handle)));
            }
            let mut outcomes = Vec::new();
            for t in tasks {
                outcomes.push(t.await.unwrap().unwrap());
            }
            outcomes
        })
    };
    let caller = |name: &str, hold: bool| {
        let mut o = CallOptions::new(name, vec![ip(LO)], emitter.clone());
        o.allow_loopback = true;
        o.duration = Some(Duration::from_millis(2500));
        if hold {
            o.hold_after = Some(Duration::from_millis(600));
            o.hold_for = Duration::from_millis(800);
        }
        let target = target.clone();
        let aor = format!("sip:{name}@127.0.0.1");
        async move {
            let ua = spawn_ua(ua(&aor)).await.unwrap();
            run_caller(o, ua, &target).await.unwrap()
        }
    };
    let holder = tokio::spawn(caller("holder", true));
    // The holder's INVITE is the first call, so its engine is callee-1.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let plain = tokio::spawn(caller("plain", false));
    let holder = holder.await.unwrap();
    let plain = plain.await.unwrap();
    let callees = tokio::time::timeout(Duration::from_secs(15), callees)
        .await
        .expect("both callees finished")
        .unwrap();
    drop(callee_ua);
    for outcome in [&holder, &plain, &callees[0], &callees[1]] {
        assert_eq!(outcome.exit, exit::OK, "{}", outcome.reason);
        assert!(outcome.selected.is_some(), "ICE selected a pair");
        assert!(outcome.media.rtp_received > 20, "{:?}", outcome.media);
    }
    assert_eq!(holder.hold_cycles, 1);
    assert_eq!(
        callees[0].hold_cycles, 1,
        "the held call's engine saw the hold"
    );
    assert_eq!(
        callees[1].hold_cycles, 0,
        "the other call was not put on hold"
    );
    assert_eq!(plain.hold_cycles, 0);
    // Two engines, two sets of media sockets.
    let local = |o: &CallOutcome| o.selected.as_ref().map(|(l, _)| l.address);
    assert_ne!(local(&callees[0]), local(&callees[1]));
    // They overlapped: both callees were established before either ended.
    let events = emitter.events();
    let at = |agent: &str, state: &str| {
        events
            .iter()
            .position(
                |e| matches!(e, Event::Call { agent: a, state: s, .. } if a == agent && s == state),
            )
            .unwrap_or_else(|| panic!("{agent} {state}"))
    };
    assert!(
        at("callee-1", "established").max(at("callee-2", "established"))
            < at("callee-1", "ended").min(at("callee-2", "ended"))
    );
}

/// `answer --manual`: the callee rings until told to answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callee_answers_on_command() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    p.callee.answer_on_command = Some(notify.clone());
    p.caller.duration = Some(Duration::from_millis(300));
    let answerer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        notify.notify_one();
    });
    let (caller, _) = run(p).await;
    answerer.await.unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let setup = caller.setup_ms.expect("established");
    assert!(
        setup >= 700,
        "answered after {setup} ms, before the command"
    );
}

/// SIP over TCP through the driver (`--transport tcp`): same call, same ICE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_sip_over_tcp() {
    let emitter = Emitter::new(false, true);
    let cfg = |aor: &str| UaConfig {
        transport: sip::endpoint::TransportKind::Tcp,
        ..UaConfig::new((ip(LO), 0).into(), aor)
    };
    let callee_ua = spawn_ua(cfg("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{};transport=tcp", callee_ua.local);
    let p = pair(&emitter);
    let callee = tokio::spawn(run_callee(p.callee, callee_ua));
    let caller_ua = spawn_ua(cfg("sip:caller@127.0.0.1")).await.unwrap();
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(p.caller, caller_ua, &target),
    )
    .await
    .expect("caller finished")
    .unwrap();
    let callee = tokio::time::timeout(Duration::from_secs(10), callee)
        .await
        .expect("callee finished")
        .unwrap()
        .unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(caller.selected.is_some());
    assert!(callee.media.rtp_received > 20);
}

/// `--echo`: the callee sends back what it receives, so the caller hears its own tone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_sends_back_what_arrives() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.source = Source::tone(900.0);
    p.caller.keep_audio = true;
    p.callee.echo = true;
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(callee.media.rtp_sent > 30);
    assert!(caller.recorded.len() > 8000 / 2);
    assert!(tone_ratio(&caller.recorded, 900.0, 8000.0) > 0.5);
}

/// A caller (offering ICE or not) calling a bare SIP user agent that answers 200 with a
/// plain RFC 3264 SDP naming 127.0.0.1:`answer_port`, and runs no media of its own. Returns
/// the running caller, the caller's RTP address from its offer, and the answering user agent
/// (kept alive for the call).
async fn call_a_plain_answerer(
    emitter: &Emitter,
    caller_ice: bool,
    answer_port: u16,
) -> (
    tokio::task::JoinHandle<anyhow::Result<CallOutcome>>,
    std::net::SocketAddr,
    icephone::signalling::UaHandle,
) {
    use icephone::signalling::{UaCommand, UaEvent};
    let mut callee_ua = spawn_ua(UaConfig::new((ip(LO), 0).into(), "sip:plain@127.0.0.1"))
        .await
        .unwrap();
    let target = format!("sip:plain@{}", callee_ua.local);
    let mut p = pair(emitter);
    p.caller.ice = caller_ice;
    p.caller.duration = Some(Duration::from_millis(1200));
    let caller_ua = spawn_ua(UaConfig::new((ip(LO), 0).into(), "sip:caller@127.0.0.1"))
        .await
        .unwrap();
    let caller = tokio::spawn(async move { run_caller(p.caller, caller_ua, &target).await });
    let offer = loop {
        match callee_ua.next().await.expect("UA running") {
            UaEvent::Incoming { sdp, .. } => break sdp,
            _ => continue,
        }
    };
    let offer = sdp::parse(&offer).unwrap();
    let m = &offer.media[0];
    let c = m.connection.as_ref().or(offer.connection.as_ref()).unwrap();
    let caller_rtp = std::net::SocketAddr::new(c.address.ip().unwrap(), m.port);
    let answer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {answer_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    callee_ua.send(UaCommand::Respond {
        status: 200,
        reason: "OK".into(),
        sdp: Some(answer),
    });
    (caller, caller_rtp, callee_ua)
}

/// Symmetric RTP (RFC 4961) toward a peer without ICE whose media comes from another port
/// than its m= line says (a NAT, say): the caller latches onto the source and sends there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_media_latches_onto_where_the_peer_sends_from() {
    use icephone::media::rtp::RtpPacket;
    let emitter = Emitter::new(false, true);
    let signalled = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let actual = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = signalled.local_addr().unwrap().port();
    let (caller, caller_rtp, _callee_ua) = call_a_plain_answerer(&emitter, true, port).await;
    // RTP from the port the SDP did not mention, 20 ms apart, while counting what arrives.
    let mut at_actual = 0;
    let mut buf = [0u8; 2048];
    for seq in 0..50u16 {
        let packet = RtpPacket {
            marker: seq == 0,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 0x1234,
            payload: vec![0xFF; 160],
        };
        actual.send_to(&packet.encode(), caller_rtp).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        while actual.try_recv_from(&mut buf).is_ok() {
            at_actual += 1;
        }
    }
    let caller = caller.await.unwrap().unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(!caller.ice_used);
    assert!(caller.media.rtp_received >= 40, "{:?}", caller.media);
    assert!(
        at_actual >= 20,
        "only {at_actual} packets reached the latched port"
    );
}

/// `--no-ice` on the caller: its offer has no ICE attributes, so the ICE callee answers
/// plain RFC 3264 (RFC 8839 §4.3.2: no ICE attributes in the answer) and both send media.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_ice_gets_a_plain_answer() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.ice = false;
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(!caller.ice_used && !callee.ice_used);
    assert!(callee
        .ice_not_used_reason
        .as_deref()
        .is_some_and(|r| r.contains("no ICE attributes")));
    assert!(callee.media.rtp_received > 30 && caller.media.rtp_received > 30);
}

/// After selection media goes only on the selected pair (RFC 8445 §12.1): with two caller
/// bases, every RTP datagram the caller sends leaves from the selected local candidate to
/// the selected remote one, as the capture shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_only_on_the_selected_pair_in_the_capture() {
    let dir = std::env::temp_dir().join(format!("icephone-pcap-pair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pair.pcap");
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    let capture = Capture::create(&path).unwrap();
    p.caller.capture = Some(capture.clone());
    p.caller.host_ips = vec![ip(LO2), ip(LO)];
    p.caller.blocked_ips = vec![ip(LO2)];
    p.caller.duration = Some(Duration::from_millis(600));
    p.capture = Some(capture);
    let (caller, _) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let (local, remote) = caller.selected.clone().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let rtp_from_caller_bases: Vec<(std::net::SocketAddr, std::net::SocketAddr)> =
        pcap_udp_datagrams(&bytes)
            .into_iter()
            .filter(|(src, _, payload)| {
                matches!(payload.first(), Some(128..=191))
                    && (src.ip() == ip(LO2) || *src == local.address)
            })
            .map(|(src, dst, _)| (src, dst))
            .collect();
    assert!(rtp_from_caller_bases.len() > 20);
    assert!(rtp_from_caller_bases
        .iter()
        .all(|(src, dst)| *src == local.address && *dst == remote.address));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// (source, destination, UDP payload) of a LINKTYPE_RAW IPv4 capture, in order.
fn pcap_udp_datagrams(bytes: &[u8]) -> Vec<(std::net::SocketAddr, std::net::SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap()) as usize;
        let packet = &bytes[i + 16..i + 16 + len];
        let ihl = usize::from(packet[0] & 0x0F) * 4;
        let addr = |ip_at: usize, port_at: usize| {
            let ip: [u8; 4] = packet[ip_at..ip_at + 4].try_into().unwrap();
            let port = u16::from_be_bytes([packet[port_at], packet[port_at + 1]]);
            std::net::SocketAddr::from((ip, port))
        };
        out.push((addr(12, ihl), addr(16, ihl + 2), packet[ihl + 8..].to_vec()));
        i += 16 + len;
    }
    out
}

/// A SIP relay between caller and callee that loses the caller's requests whose method is
/// in `lose` (e.g. ACK and BYE). The
/// callee's Contact in its responses is rewritten to the relay so the caller's in-dialog
/// requests (ACK, BYE) pass through it too; the callee's own requests go straight to the
/// caller.
async fn lossy_sip_relay(
    callee_sip: std::net::SocketAddr,
    lose: &'static [&'static str],
) -> std::net::SocketAddr {
    let relay = tokio::net::UdpSocket::bind((ip(LO), 0)).await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    tokio::spawn(async move {
        let mut caller = None;
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = relay.recv_from(&mut buf).await {
            let data = &buf[..n];
            if from == callee_sip {
                let Some(to) = caller else { continue };
                let text = String::from_utf8_lossy(data).into_owned();
                let (head, body) = text.split_at(text.find("\r\n\r\n").unwrap_or(text.len()));
                let head = head.replace(&callee_sip.to_string(), &relay_addr.to_string());
                let _ = relay.send_to(format!("{head}{body}").as_bytes(), to).await;
            } else {
                caller = Some(from);
                if lose
                    .iter()
                    .any(|m| data.starts_with(format!("{m} ").as_bytes()))
                {
                    continue;
                }
                let _ = relay.send_to(data, callee_sip).await;
            }
        }
    });
    relay_addr
}

/// RFC 3264 §6.1: the callee's media starts once its answer is sent (still gated on ICE),
/// not when the ACK arrives; and a 2xx never ACKed ends the call after 64·T1 with BYE
/// (RFC 3261 §13.3.1.4) and a reason naming it, instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_media_does_not_wait_for_a_lost_ack_and_the_unacked_call_ends() {
    let emitter = Emitter::new(false, true);
    let p = pair(&emitter);
    let ua = |aor: &str| UaConfig {
        // 64·T1 = 3.2 s.
        t1: Duration::from_millis(50),
        ..UaConfig::new((ip(LO), 0).into(), aor)
    };
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let relay = lossy_sip_relay(callee_ua.local, &["ACK", "BYE"]).await;
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1")).await.unwrap();
    let callee = tokio::spawn(run_callee(p.callee, callee_ua));
    let target = format!("sip:callee@{relay}");
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(p.caller, caller_ua, &target),
    )
    .await
    .expect("caller finished")
    .unwrap();
    let callee = tokio::time::timeout(Duration::from_secs(15), callee)
        .await
        .expect("the un-ACKed callee ends by itself")
        .unwrap()
        .unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(caller.media.rtp_received > 10, "{:?}", caller.media);
    assert!(callee.media.rtp_sent > 10, "{:?}", callee.media);
    assert_eq!(callee.media_sent_before_selection, 0);
    assert_eq!(callee.exit, exit::CALL, "{}", callee.reason);
    assert!(callee.reason.contains("no ACK"), "{}", callee.reason);
    // Established needs the ACK: the callee never claimed it.
    assert!(!events_of(&emitter.events(), "callee")
        .iter()
        .any(|e| matches!(e, Event::Call { state, .. } if state == "established")));
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

fn selected_components(events: &[Event], agent: &str) -> Vec<u16> {
    events_of(events, agent)
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

/// RFC 8445 §5.1.1.1 / RFC 5761 §5.1.3: the caller's default offer proposes rtcp-mux AND
/// carries component 2; a callee that refuses mux (baresip's `rtcp_mux no`) gets ICE on
/// both components, and RTCP flows on component 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mux_offer_to_a_callee_without_mux_runs_ice_on_two_components() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    assert!(
        p.caller.rtcp_mux && !p.caller.rtcp_mux_only,
        "the default offer"
    );
    p.callee.rtcp_mux = false;
    p.caller.duration = Some(Duration::from_millis(3000));
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(callee.exit, exit::OK, "{}", callee.reason);
    let events = emitter.events();
    for agent in ["caller", "callee"] {
        let mut comps = selected_components(&events, agent);
        comps.sort_unstable();
        comps.dedup();
        assert_eq!(comps, vec![1, 2], "{agent}");
    }
    assert_rtcp_and_rtp_reached_the_callee(&caller, &callee);
    assert_eq!(caller.media_sent_before_selection, 0);
}

/// The same default offer to a callee that accepts mux: component 2 is dropped, ICE
/// completes on component 1 alone and RTCP shares it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mux_offer_accepted_drops_component_2() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.duration = Some(Duration::from_millis(3000));
    let (caller, callee) = run(p).await;
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    let events = emitter.events();
    // The offer carried component 2 ...
    let offered_rtcp = events_of(&events, "caller").iter().any(|e| {
        matches!(e, Event::Candidates { candidates, .. } if candidates.iter().any(|c| c.component == 2))
    });
    assert!(
        offered_rtcp,
        "the caller gathered component 2 for the offer"
    );
    // ... and after the answer only component 1 was checked and selected.
    for agent in ["caller", "callee"] {
        assert_eq!(
            selected_components(&events, agent)
                .into_iter()
                .filter(|c| *c == 2)
                .count(),
            0,
            "{agent}"
        );
    }
    assert!(caller
        .selected
        .as_ref()
        .is_some_and(|(l, _)| l.component == 1));
    assert_rtcp_and_rtp_reached_the_callee(&caller, &callee);
}

/// The caller's BYE is lost and the caller is gone: the callee's consent checks go
/// unanswered, consent expires (RFC 7675 §5.1, shortened here) and the callee ends the call
/// with a BYE and a reason naming it instead of staying in the call until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_bye_ends_the_callee_call_when_consent_expires() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.callee.consent = Some(icephone_consent(
        Duration::from_millis(300),
        Duration::from_secs(2),
    ));
    let ua = |aor: &str| UaConfig::new((ip(LO), 0).into(), aor);
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let relay = lossy_sip_relay(callee_ua.local, &["BYE"]).await;
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1")).await.unwrap();
    let callee = tokio::spawn(run_callee(p.callee, callee_ua));
    let target = format!("sip:callee@{relay}");
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(p.caller, caller_ua, &target),
    )
    .await
    .expect("caller finished")
    .unwrap();
    let callee = tokio::time::timeout(Duration::from_secs(15), callee)
        .await
        .expect("the callee ends on consent loss")
        .unwrap()
        .unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert_eq!(callee.exit, exit::ICE, "{}", callee.reason);
    assert!(callee.reason.contains("consent lost"), "{}", callee.reason);
    assert!(events_of(&emitter.events(), "callee")
        .iter()
        .any(|e| matches!(e, Event::Call { state, .. } if state == "established")));
}

fn icephone_consent(interval: Duration, timeout: Duration) -> ice::agent::ConsentConfig {
    ice::agent::ConsentConfig {
        enabled: true,
        interval,
        timeout,
    }
}

/// `CallCommand::RestartIce` from the caller once media flows, the peer allowing UPDATE or
/// not; returns both outcomes and every event.
async fn ice_restart_case(
    callee_allows_update: bool,
    rtcp_mux: bool,
) -> (CallOutcome, CallOutcome, Vec<Event>) {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.callee_allows_update = callee_allows_update;
    p.caller.rtcp_mux = rtcp_mux;
    p.callee.rtcp_mux = rtcp_mux;
    p.caller.duration = Some(Duration::from_millis(2500));
    let (commands, control) = icephone::call::control::CallControl::channel();
    p.caller.control = Some(control);
    let restarter = {
        let emitter = emitter.clone();
        tokio::spawn(async move {
            let selected = |events: &[Event]| {
                events.iter().any(
                    |e| matches!(e, Event::Ice { agent, state, .. } if agent == "caller" && state == "selected"),
                )
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while !selected(&emitter.events()) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Media flows for a while on the first pair, then the restart.
            tokio::time::sleep(Duration::from_millis(600)).await;
            commands
                .send(icephone::call::control::CallCommand::RestartIce)
                .expect("the call is running");
            commands
        })
    };
    let (caller, callee) = run(p).await;
    drop(restarter.await.unwrap());
    (caller, callee, emitter.events())
}

fn ice_states<'a>(events: &'a [Event], agent: &str) -> Vec<(&'a str, Option<&'a str>)> {
    events_of(events, agent)
        .into_iter()
        .filter_map(|e| match e {
            Event::Ice { state, reason, .. } => Some((state.as_str(), reason.as_deref())),
            _ => None,
        })
        .collect()
}

fn assert_restarted_and_media_kept_flowing(
    caller: &CallOutcome,
    callee: &CallOutcome,
    events: &[Event],
) {
    for (name, o) in [("caller", caller), ("callee", callee)] {
        assert_eq!(o.exit, exit::OK, "{name}: {}", o.reason);
        // RFC 8445 §9: both sides took new credentials (what their later SDP carries).
        assert_eq!(o.local_ufrags.len(), 2, "{name}: {:?}", o.local_ufrags);
        assert_ne!(o.local_ufrags[0], o.local_ufrags[1], "{name}");
        assert_eq!(o.ice_restarts, 1, "{name}: the new session selected a pair");
        let states = ice_states(events, name);
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
        let again = *selected.last().unwrap();
        assert!(
            again > restarted,
            "{name}: selected again after the restart"
        );
        assert!(
            states[again].1.is_some_and(|r| r.contains("ICE restart")),
            "{name}: {states:?}"
        );
        // Media kept flowing on the old pair while the new checks ran: no gap on loopback
        // (20 ms packets; a stall across the restart would show as a gap of its length).
        let gap = o.longest_rtp_gap_ms.expect("RTP received");
        assert!(gap < 1000, "{name}: a {gap} ms gap in the RTP received");
        assert!(o.media.rtp_received > 80, "{name}: {:?}", o.media);
        // A packet built but refused by the agent, or dropped on arrival, during the restart
        // would be a sequence gap (RFC 3550 A.3) at the receiver: none on loopback.
        assert_eq!(o.media.lost, 0, "{name}: {:?}", o.media);
        assert_eq!(o.media_sent_before_selection, 0, "{name}");
    }
    // The two sides' ufrags are distinct too (the peer's restart is its own, not ours).
    assert_ne!(caller.local_ufrags[1], callee.local_ufrags[1]);
}

/// The method of the caller's ICE-restart offer (`updated_offer` sent with that reason).
fn restart_offer_method(events: &[Event]) -> Option<String> {
    events_of(events, "caller")
        .into_iter()
        .find_map(|e| match e {
            Event::UpdatedOffer {
                method,
                direction,
                reason,
                ..
            } if direction == "sent" && reason.contains("ICE restart") => Some(method.clone()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_on_command_by_update_reselects_and_media_keeps_flowing() {
    let (caller, callee, events) = ice_restart_case(true, true).await;
    assert_restarted_and_media_kept_flowing(&caller, &callee, &events);
    let sent = restart_offer_method(&events);
    assert_eq!(sent.as_deref(), Some("UPDATE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_on_command_by_reinvite_when_update_is_not_allowed() {
    let (caller, callee, events) = ice_restart_case(false, true).await;
    assert_restarted_and_media_kept_flowing(&caller, &callee, &events);
    let sent = restart_offer_method(&events);
    assert_eq!(sent.as_deref(), Some("INVITE"));
}

/// Without RTCP mux both components restart: each is selected again, RTCP goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_without_rtcp_mux_reselects_both_components() {
    let (caller, callee, events) = ice_restart_case(true, false).await;
    assert_restarted_and_media_kept_flowing(&caller, &callee, &events);
    for agent in ["caller", "callee"] {
        let mut again: Vec<u16> = events_of(&events, agent)
            .into_iter()
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
        assert_eq!(again, [1, 2], "{agent}");
    }
    assert!(caller.media.rtcp_received > 0 && callee.media.rtcp_received > 0);
}

/// A stranger's RTP from a third socket at `target` (20 ms apart, at most `max` packets, until
/// `stop` is set): a 1500 Hz PCMU tone with its own SSRC, and every 5th packet an RFC 4733
/// "9" (payload type 101) ending a new event. Returns how many packets it sent.
async fn spray_stranger(
    target: std::net::SocketAddr,
    max: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u16 {
    use icephone::media::dtmf::EventPayload;
    use icephone::media::g711::G711;
    use icephone::media::rtp::RtpPacket;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut tone = Source::tone(1500.0);
    let mut sent = 0;
    for seq in 0..max {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let timestamp = u32::from(seq) * 160;
        let (payload_type, payload) = if seq % 5 == 4 {
            let event = EventPayload {
                event: 9,
                end: true,
                volume: 10,
                duration: 800,
            };
            (101, event.encode().to_vec())
        } else {
            (0, G711::Ulaw.encode(&tone.next_frame()))
        };
        let packet = RtpPacket {
            marker: false,
            payload_type,
            sequence: 1000 + seq,
            timestamp,
            ssrc: 0x5742_A9E0,
            payload,
        };
        let _ = socket.send_to(&packet.encode(), target).await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sent
}

/// 100 ms frames of `samples` where `theirs` carries more energy than `ours`.
fn frames_dominated_by(samples: &[i16], theirs: f64, ours: f64) -> usize {
    samples
        .chunks(800)
        .filter(|f| f.len() == 800)
        .filter(|f| tone_ratio(f, theirs, 8000.0) > tone_ratio(f, ours, 8000.0))
        .count()
}

/// Issue 14 item 3: during an ICE call, RTP from an address that is the remote of no valid
/// pair is neither played, nor reported as digits, nor counted in the RTP statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_drops_media_from_a_stranger() {
    let emitter = Emitter::new(false, true);
    let mut p = pair(&emitter);
    p.caller.source = Source::tone(600.0);
    p.caller.duration = Some(Duration::from_millis(1500));
    p.callee.keep_audio = true;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stranger = {
        let emitter = emitter.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            // The callee's RTP socket, from its candidates event.
            let target = loop {
                let found = emitter.events().iter().find_map(|e| match e {
                    Event::Candidates {
                        agent, candidates, ..
                    } if agent == "callee" => candidates
                        .iter()
                        .find(|c| c.component == 1)
                        .and_then(|c| c.address.parse::<std::net::SocketAddr>().ok()),
                    _ => None,
                });
                if let Some(t) = found {
                    break t;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            spray_stranger(target, 100, stop).await
        })
    };
    let (caller, callee) = run(p).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let sprayed = stranger.await.unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(sprayed > 20, "the stranger sent only {sprayed} packets");
    let dominated = frames_dominated_by(&callee.recorded, 1500.0, 600.0);
    assert_eq!(
        dominated,
        0,
        "{dominated} of {} 100-ms frames carry the stranger's tone",
        callee.recorded.len() / 800
    );
    assert!(tone_ratio(&callee.recorded, 600.0, 8000.0) > 0.5);
    assert_eq!(callee.media.dtmf_received, "", "{:?}", callee.media);
    // Only the caller's packets are counted; the stranger's are dropped and counted apart.
    assert!(
        callee.media.rtp_received <= caller.media.rtp_sent,
        "{:?}",
        callee.media
    );
    assert!(
        callee.media.rtp_dropped_unknown_source > 0,
        "{:?}",
        callee.media
    );
    assert_eq!(
        caller.media.rtp_dropped_unknown_source, 0,
        "{:?}",
        caller.media
    );
}

/// Issue 14 item 3 without ICE: the caller latches once onto the peer's first source and
/// SSRC; a stranger's RTP mid-call neither moves our media to it nor gets counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_media_does_not_relatch_to_a_stranger() {
    use icephone::media::rtp::RtpPacket;
    let emitter = Emitter::new(false, true);
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = peer.local_addr().unwrap().port();
    let (caller, caller_rtp, _callee_ua) = call_a_plain_answerer(&emitter, false, port).await;
    // The peer sends from its signalled port throughout; from the 15th packet on, a stranger
    // sprays RTP with another SSRC, twice as often.
    let (mut at_peer, mut at_stranger) = (0, 0);
    let mut buf = [0u8; 2048];
    for seq in 0..50u16 {
        let packet = |ssrc: u32, seq: u16| RtpPacket {
            marker: seq == 0,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
            payload: vec![0xFF; 160],
        };
        peer.send_to(&packet(0x1234, seq).encode(), caller_rtp)
            .await
            .unwrap();
        if seq >= 15 {
            for k in 0..2 {
                let s = 5000 + 2 * seq + k;
                stranger
                    .send_to(&packet(0xBAD, s).encode(), caller_rtp)
                    .await
                    .unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        while peer.try_recv_from(&mut buf).is_ok() {
            at_peer += 1;
        }
        while stranger.try_recv_from(&mut buf).is_ok() {
            at_stranger += 1;
        }
    }
    let caller = caller.await.unwrap().unwrap();
    assert_eq!(caller.exit, exit::OK, "{}", caller.reason);
    assert!(!caller.ice_used);
    assert_eq!(at_stranger, 0, "our media went to the stranger");
    assert!(at_peer >= 20, "only {at_peer} packets reached the peer");
    assert!(caller.media.rtp_received <= 50, "{:?}", caller.media);
    assert!(
        caller.media.rtp_dropped_unknown_source >= 60,
        "{:?}",
        caller.media
    );
}
