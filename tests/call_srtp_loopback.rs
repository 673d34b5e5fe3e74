//! SRTP calls between two in-process phones over real loopback sockets and real SIP
//! (issue 17): SDES with each suite, and DTLS-SRTP with the caller as DTLS server and as
//! client. The callee's recording has the caller's tone while the capture of what went on
//! the wire has no clear RTP; tshark finds the DTLS handshake there. The call's SRTP
//! behaviour in detail is tested in virtual time (`src/call/engine/virtual_srtp_tests.rs`,
//! `virtual_dtls_tests.rs`).

#[path = "support/tshark.rs"]
mod tshark;

use std::net::IpAddr;
use std::time::Duration;

use icephone::call::{run_callee, run_caller, CallOptions, CallOutcome};
use icephone::events::{Emitter, Event};
use icephone::exit;
use icephone::media::g711::ulaw_to_linear;
use icephone::media::goertzel::tone_ratio;
use icephone::media::source::Source;
use icephone::media::srtp::SrtpSuite;
use icephone::media::wav;
use icephone::pcap::Capture;
use icephone::signalling::{spawn as spawn_ua, UaConfig};
use sdp::offer_answer::SrtpPolicy;
use sdp::security::DtlsRole;

const LO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const TONE: f64 = 700.0;
/// RFC 3551: a 20 ms PCMU packet is a 12-octet header and 160 octets of audio.
const CLEAR_RTP_LEN: usize = 12 + 160;

/// How the call is keyed.
#[derive(Debug, Clone, Copy)]
enum Keying {
    /// SDES: the caller offers every suite, the callee takes this one (RFC 4568 §7.1.2).
    Sdes(SrtpSuite),
    /// DTLS-SRTP, the caller offering this role (`None`: actpass, the callee is client).
    Dtls(Option<DtlsRole>),
}

/// A call keyed by `keying`: the callee's outcome and every event of both sides.
async fn call(
    keying: Keying,
    capture: Capture,
    record: std::path::PathBuf,
) -> (CallOutcome, Vec<Event>) {
    let emitter = Emitter::new(false, true);
    let mut caller = CallOptions::new("caller", vec![LO], emitter.clone());
    caller.allow_loopback = true;
    caller.duration = Some(Duration::from_millis(1200));
    caller.source = Source::tone(TONE);
    caller.capture = Some(capture.clone());
    let mut callee = CallOptions::new("callee", vec![LO], emitter.clone());
    callee.allow_loopback = true;
    match keying {
        Keying::Sdes(suite) => {
            caller.srtp = SrtpPolicy::Sdes;
            callee.srtp = SrtpPolicy::Sdes;
            callee.srtp_suites = vec![suite];
        }
        Keying::Dtls(role) => {
            caller.srtp = SrtpPolicy::Dtls;
            caller.dtls_setup = role;
            callee.srtp = SrtpPolicy::Dtls;
        }
    }
    callee.record = Some(record);
    callee.capture = Some(capture.clone());
    let ua = |aor: &str| UaConfig {
        capture: Some(capture.clone()),
        ..UaConfig::new((LO, 0).into(), aor)
    };
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1")).await.unwrap();
    let callee = tokio::spawn(run_callee(callee, callee_ua));
    let caller = tokio::time::timeout(
        Duration::from_secs(15),
        run_caller(caller, caller_ua, &target),
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
    (callee, emitter.events())
}

/// UDP payloads of a LINKTYPE_RAW IPv4 capture, in order (`get` throughout: a short file
/// ends the list rather than the test).
fn pcap_udp_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 24;
    while let Some(header) = bytes.get(i..i + 16) {
        let len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let Some(packet) = bytes.get(i + 16..i + 16 + len) else {
            break;
        };
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0F)) * 4;
        out.extend(packet.get(ihl + 8..).map(<[u8]>::to_vec));
        i += 16 + len;
    }
    out
}

/// The RTP datagrams of a capture (RFC 7983: first byte 128..=191, payload type 0).
fn rtp_datagrams(pcap: &std::path::Path) -> Vec<Vec<u8>> {
    pcap_udp_payloads(&std::fs::read(pcap).unwrap())
        .into_iter()
        .filter(|p| matches!(p.first(), Some(128..=191)) && p.get(1).is_some_and(|b| b & 0x7F == 0))
        .collect()
}

/// How much of the tone the captured RTP payloads carry when read as clear PCMU.
fn clear_tone_on_wire(rtp: &[Vec<u8>]) -> f64 {
    let samples: Vec<i16> = rtp
        .iter()
        .filter_map(|p| p.get(12..CLEAR_RTP_LEN))
        .flatten()
        .map(|b| ulaw_to_linear(*b))
        .collect();
    tone_ratio(&samples, TONE, 8000.0)
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("icephone-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_suite_carries_the_tone_and_the_wire_shows_no_clear_rtp() {
    let dir = scratch_dir("srtp");
    for (suite, tag_len) in [
        (SrtpSuite::AesCm128HmacSha1_80, 10),
        (SrtpSuite::AesCm128HmacSha1_32, 4),
        (SrtpSuite::AeadAes128Gcm, 16),
    ] {
        let pcap = dir.join(format!("{suite}.pcap"));
        let record = dir.join(format!("{suite}.wav"));
        let (callee, _) = call(
            Keying::Sdes(suite),
            Capture::create(&pcap).unwrap(),
            record.clone(),
        )
        .await;
        assert_eq!(callee.media.keying, "sdes");
        assert_eq!(
            callee.media.srtp_suite.as_deref(),
            Some(suite.sdes().name())
        );
        let recorded = wav::read(&record).unwrap().samples;
        assert!(
            tone_ratio(&recorded, TONE, 8000.0) > 0.5,
            "{suite}: the tone"
        );
        let rtp = rtp_datagrams(&pcap);
        assert!(rtp.len() >= 40, "{suite}: {} RTP datagrams", rtp.len());
        assert!(
            rtp.iter().all(|p| p.len() == CLEAR_RTP_LEN + tag_len),
            "{suite}: every RTP datagram carries its {tag_len}-octet tag"
        );
        let on_wire = clear_tone_on_wire(&rtp);
        assert!(
            on_wire < 0.05,
            "{suite}: clear tone on the wire ({on_wire})"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtls_in_both_roles_carries_the_tone_and_tshark_sees_the_handshake_not_clear_rtp() {
    let dir = scratch_dir("dtls");
    for (caller_setup, caller_role) in [(None, "server"), (Some(DtlsRole::Client), "client")] {
        let case = format!("caller {caller_role}");
        let pcap = dir.join(format!("{caller_role}.pcap"));
        let record = dir.join(format!("{caller_role}.wav"));
        let (callee, events) = call(
            Keying::Dtls(caller_setup),
            Capture::create(&pcap).unwrap(),
            record.clone(),
        )
        .await;
        assert_eq!(callee.media.keying, "dtls", "{case}");
        assert!(callee.media.srtp_suite.is_some(), "{case}");
        assert_eq!(callee.media.srtp_auth_failures, 0, "{case}");
        // Each side reports its association connected, in the role a=setup gave it.
        let callee_role = if caller_role == "client" {
            "server"
        } else {
            "client"
        };
        for (agent, role) in [("caller", caller_role), ("callee", callee_role)] {
            assert!(
                events.iter().any(|e| matches!(
                    e,
                    Event::Dtls { agent: a, state, role: r, component: 1, .. }
                        if a == agent && state == "connected" && r == role
                )),
                "{case}: {agent} connected as {role}: {events:?}"
            );
        }
        let recorded = wav::read(&record).unwrap().samples;
        assert!(
            tone_ratio(&recorded, TONE, 8000.0) > 0.5,
            "{case}: the tone"
        );
        let rtp = rtp_datagrams(&pcap);
        assert!(rtp.len() >= 40, "{case}: {} RTP datagrams", rtp.len());
        assert!(
            rtp.iter().all(|p| p.len() > CLEAR_RTP_LEN),
            "{case}: every RTP datagram carries an authentication tag"
        );
        let on_wire = clear_tone_on_wire(&rtp);
        assert!(on_wire < 0.05, "{case}: clear tone on the wire ({on_wire})");
        // An independent decoder: tshark finds the DTLS 1.2 handshake (ClientHello type 1,
        // ServerHello type 2) with the use_srtp extension (RFC 5764 §4.1.1, type 14).
        let hellos = tshark::tshark_fields(
            &pcap,
            &["-d", "udp.port==1-65535,dtls"],
            "dtls.handshake.type == 1 || dtls.handshake.type == 2",
            &["dtls.handshake.type", "dtls.handshake.extension.type"],
        );
        for hello in ["1", "2"] {
            let found = hellos
                .iter()
                .find(|row| row[0].split(',').any(|t| t == hello));
            let row =
                found.unwrap_or_else(|| panic!("{case}: no handshake type {hello}: {hellos:?}"));
            assert!(
                row[1].split(',').any(|t| t == "14"),
                "{case}: use_srtp in handshake type {hello}: {row:?}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
