//! icephone and baresip 1.0.0 (its opus and g722 modules) across port-restricted NATs with
//! ICE, talking Opus (RFC 7587) one way round and G.722 (RFC 3551 §4.5.2) the other (issue
//! 18: "a call with baresip using Opus and G.722").
//!
//! Asserts from icephone's `--json` events (the codec it sent, RTP both ways), from its
//! recording (baresip's 440 Hz tone, decoded from that codec), from baresip's own account of
//! the call (established, RTP up) and from tshark's decode of the public segment (the
//! payload type both sides used). Needs root and baresip: fails (never skips) without them.

mod lab;

use icephone::media::wav;
use lab::peer::{assert_baresip_connected, call_with_baresip, start_baresip_codecs, stop, Caller};
use lab::phone::{assert_reflexive_call, expect, median_tone};
use lab::{Capture, Lab, LabConfig, NatKind, B1, NAT_A_WAN, NAT_B_WAN};

/// baresip's ausine source.
const TONE: f64 = 440.0;
const MEDIA_SECONDS: &str = "6";
/// 20 ms packets over most of the media time.
const MIN_RTP: u64 = 100;
/// What baresip offers and accepts, in its order of preference.
const BARESIP_CODECS: &str = "opus/48000/2,G722/16000/1,PCMU";

/// The `m=` lines and media attributes of every INVITE-transaction SDP `src` sent.
fn sdp_media_lines(pcap: &std::path::Path, src: &str) -> String {
    let out = std::process::Command::new("timeout")
        .args(["30", "tshark", "-n", "-r"])
        .arg(pcap)
        .args(lab::TSHARK_DECODE)
        .args([
            "-Y",
            &format!("sdp && ip.src == {src} && sip.CSeq.method == \"INVITE\""),
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
            "-e",
            "sdp.media",
            "-e",
            "sdp.media_attr",
        ])
        .output()
        .expect("could not run tshark");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    IcephoneCalls,
    BaresipCalls,
}

/// One call with icephone's `--codecs icephone_codecs`: icephone must send `expected`
/// (the `media` event's name) with RTP payload type `pt` on the wire, and hear the tone.
fn codec_call(direction: Direction, icephone_codecs: &str, expected: &str, pt: u8) {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        servers: true,
        ..LabConfig::default()
    });
    let cap = Capture::start(&lab, "baresip-codecs");
    let baresip = start_baresip_codecs(&lab, "b1", B1, "baresip", "baresippw", BARESIP_CODECS);
    let record = lab.run_dir().join("alice-received.wav");
    let record_arg = record.display().to_string();
    let who = format!("{expected} {direction:?}");
    let caller = match direction {
        Direction::IcephoneCalls => Caller::Icephone,
        Direction::BaresipCalls => Caller::Baresip,
    };
    let extra: Vec<String> = ["--codecs", icephone_codecs, "--tone", "700", "--record"]
        .into_iter()
        .map(String::from)
        .chain([record_arg])
        .collect();
    let (code, events, baresip_events) = call_with_baresip(&lab, caller, &extra, MEDIA_SECONDS);
    stop(baresip);
    let pcap = cap.stop();
    // Both sides' SDP m= lines and media attributes, for the record (--nocapture).
    for side in [NAT_A_WAN, NAT_B_WAN] {
        eprintln!("{who}: SDP from {side}:\n{}", sdp_media_lines(&pcap, side));
    }

    assert_eq!(code, 0, "{who}: icephone's exit code; events: {events:?}");
    let (local, remote) = assert_reflexive_call(&events, &who, (NAT_A_WAN, NAT_B_WAN), MIN_RTP);
    let media = expect(&events, "media", None, &who);
    assert_eq!(media["codec"], expected, "{who}: the codec sent: {media}");
    let recorded = wav::read(&record)
        .unwrap_or_else(|e| panic!("{who}: icephone's recording {}: {e}", record.display()))
        .samples;
    let heard = median_tone(&recorded, TONE);
    eprintln!(
        "{who}: icephone sent {} RTP, received {}, concealed {}; {TONE} Hz in its recording: {heard:.3}",
        media["rtp_sent"], media["rtp_received"], media["concealed_frames"]
    );
    assert!(
        heard > 0.5,
        "{who}: icephone decoded baresip's {TONE} Hz tone (ratio {heard}, {} samples)",
        recorded.len()
    );
    assert_baresip_connected(&baresip_events, &who);

    // The wire: RTP both ways between the NATs' public addresses carries the codec's
    // payload type (ours is the answer's number; G.722 is static 9, RFC 3551 §6). tshark
    // names static types (`g722`) and prints dynamic ones as numbers.
    let streams = lab::wire::rtp_streams(&pcap);
    for (from, to) in [(NAT_A_WAN, NAT_B_WAN), (NAT_B_WAN, NAT_A_WAN)] {
        let of_codec: u64 = streams
            .iter()
            .filter(|s| s.src == from && s.dst == to)
            .filter(|s| {
                let p = s.payload.to_ascii_lowercase();
                p == pt.to_string()
                    || p.ends_with(&format!("-{pt}"))
                    || p.contains(&expected.to_ascii_lowercase())
            })
            .map(|s| s.packets)
            .sum();
        assert!(
            of_codec >= MIN_RTP,
            "{who}: {of_codec} RTP packets {from} -> {to} with payload type {pt}; local {local}, remote {remote}; streams: {streams:?}"
        );
    }
}

#[test]
fn icephone_calls_baresip_with_opus_across_port_restricted_nats() {
    // Our offer's Opus is payload type 111; the answer keeps it (RFC 3264 §6.1).
    codec_call(Direction::IcephoneCalls, "opus,pcmu", "opus", 111);
}

#[test]
fn baresip_calls_icephone_with_g722_across_port_restricted_nats() {
    // baresip offers opus first; icephone prefers G.722, so answers with it.
    codec_call(Direction::BaresipCalls, "g722,pcmu", "G722", 9);
}
