//! SDES-SRTP calls between two in-process phones over real loopback sockets and real SIP
//! (issue 17): with each suite, the callee's recording has the caller's tone while the
//! capture of what went on the wire has no clear RTP. The call's SRTP behaviour in detail is
//! tested in virtual time (`src/call/engine/virtual_srtp_tests.rs`).

use std::net::IpAddr;
use std::time::Duration;

use icephone::call::{run_callee, run_caller, CallOptions, CallOutcome};
use icephone::events::Emitter;
use icephone::exit;
use icephone::media::g711::ulaw_to_linear;
use icephone::media::goertzel::tone_ratio;
use icephone::media::source::Source;
use icephone::media::srtp::SrtpSuite;
use icephone::media::wav;
use icephone::pcap::Capture;
use icephone::signalling::{spawn as spawn_ua, UaConfig};
use sdp::offer_answer::SrtpPolicy;

const LO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const TONE: f64 = 700.0;
/// RFC 3551: a 20 ms PCMU packet is a 12-octet header and 160 octets of audio.
const CLEAR_RTP_LEN: usize = 12 + 160;

async fn call(suite: SrtpSuite, capture: Capture, record: std::path::PathBuf) -> CallOutcome {
    let emitter = Emitter::new(false, true);
    let mut caller = CallOptions::new("caller", vec![LO], emitter.clone());
    caller.allow_loopback = true;
    caller.duration = Some(Duration::from_millis(1200));
    caller.source = Source::tone(TONE);
    caller.srtp = SrtpPolicy::Sdes;
    caller.capture = Some(capture.clone());
    let mut callee = CallOptions::new("callee", vec![LO], emitter);
    callee.allow_loopback = true;
    callee.srtp = SrtpPolicy::Sdes;
    // The caller offers every suite; the callee takes the one it has (RFC 4568 §7.1.2).
    callee.srtp_suites = vec![suite];
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
    callee
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_suite_carries_the_tone_and_the_wire_shows_no_clear_rtp() {
    let dir = std::env::temp_dir().join(format!("icephone-srtp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (suite, tag_len) in [
        (SrtpSuite::AesCm128HmacSha1_80, 10),
        (SrtpSuite::AesCm128HmacSha1_32, 4),
        (SrtpSuite::AeadAes128Gcm, 16),
    ] {
        let pcap = dir.join(format!("{suite}.pcap"));
        let record = dir.join(format!("{suite}.wav"));
        let callee = call(suite, Capture::create(&pcap).unwrap(), record.clone()).await;
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

        // RTP and RTCP by their first byte (RFC 7983: 128..=191), RTP by payload type 0.
        let payloads = pcap_udp_payloads(&std::fs::read(&pcap).unwrap());
        let rtp: Vec<&Vec<u8>> = payloads
            .iter()
            .filter(|p| {
                matches!(p.first(), Some(128..=191)) && p.get(1).is_some_and(|b| b & 0x7F == 0)
            })
            .collect();
        assert!(rtp.len() >= 40, "{suite}: {} RTP datagrams", rtp.len());
        assert!(
            rtp.iter().all(|p| p.len() == CLEAR_RTP_LEN + tag_len),
            "{suite}: every RTP datagram carries its {tag_len}-octet tag"
        );
        let samples: Vec<i16> = rtp
            .iter()
            .filter_map(|p| p.get(12..CLEAR_RTP_LEN))
            .flatten()
            .map(|b| ulaw_to_linear(*b))
            .collect();
        let on_wire = tone_ratio(&samples, TONE, 8000.0);
        assert!(
            on_wire < 0.05,
            "{suite}: clear tone on the wire ({on_wire})"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
