//! Calls with each codec between two `CallCore`s in virtual time (`virtual_net`): both tones
//! heard both ways, the payload type and RTP timestamp step on the wire, SR timestamps on the
//! codec's clock, DTMF with each codec, Opus under 10 % loss, and codec agreement between
//! phones with different lists.

use sdp::offer_answer::SrtpPolicy;

use super::virtual_net::{run, Net, Run, World};
use super::virtual_srtp_tests::{rtp_on_wire, tone_pair, CALLEE_TONE, CALLER_TONE};
use crate::events::Event;
use crate::exit;
use crate::media::codec::CodecKind;
use crate::media::codec_path::tests::syllables;
use crate::media::dtmf::EventPayload;
use crate::media::goertzel::tone_ratio;
use crate::media::rtcp::Report;
use crate::media::rtp::{is_rtcp, RtpPacket};
use crate::media::source::Source;

/// A 2 s call, tones both ways, where both sides have only `codecs` (the caller also sends
/// DTMF `digits`).
fn codec_call(codecs: &[CodecKind], seconds: u64, digits: &str, net: Net) -> Run {
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Off, SrtpPolicy::Off, seconds);
    caller.codecs = codecs.to_vec();
    callee.codecs = codecs.to_vec();
    caller.dtmf = (!digits.is_empty()).then(|| digits.to_string());
    World::new(caller, callee, net).finish()
}

/// The RTP packets one side sent, parsed.
fn rtp_sent(run: &Run, from_caller: bool) -> Vec<RtpPacket> {
    rtp_on_wire(run, from_caller)
        .into_iter()
        .map(|d| RtpPacket::parse(d).expect("clear RTP"))
        .collect()
}

/// Both sides heard the other's tone at the given strength, on 8 kHz recordings.
fn assert_heard(run: &Run, min_ratio: f64) {
    for (name, outcome, tone) in [
        ("caller", &run.caller, CALLEE_TONE),
        ("callee", &run.callee, CALLER_TONE),
    ] {
        assert_eq!(outcome.exit, exit::OK, "{name}: {}", outcome.reason);
        assert!(
            outcome.media.rtp_received >= 40,
            "{name}: {}",
            outcome.media.rtp_received
        );
        let heard = tone_ratio(&outcome.recorded, tone, 8000.0);
        assert!(
            heard > min_ratio,
            "{name} heard the peer's tone: ratio {heard}"
        );
        assert!(outcome.media.rtcp_received > 0, "{name} received RTCP");
    }
}

#[test]
fn each_codec_carries_both_tones_with_its_payload_type_and_clock() {
    // (codec, payload type on the wire, RTP timestamp step per 20 ms, audio octets per
    // packet if fixed, the media event's name)
    for (kind, pt, step, octets, name) in [
        (CodecKind::Pcmu, 0, 160, Some(160), "PCMU"),
        (CodecKind::Pcma, 8, 160, Some(160), "PCMA"),
        // RFC 3551 §4.5.2: 320 samples at 16 kHz, but 160 timestamp units.
        (CodecKind::G722, 9, 160, Some(160), "G722"),
        // RFC 7587 §4.1: 48 kHz clock; our offer's dynamic payload type.
        (CodecKind::Opus, 111, 960, None, "opus"),
    ] {
        let run = codec_call(&[kind], 2, "4", Net::default());
        assert_heard(&run, 0.5);
        for (from_caller, outcome, events) in [
            (true, &run.caller, &run.caller_events),
            (false, &run.callee, &run.callee_events),
        ] {
            assert_eq!(outcome.media.codec, name);
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, Event::Media { stats, .. } if stats.codec == name)),
                "{name}: the media event names the codec"
            );
            let packets = rtp_sent(&run, from_caller);
            let audio: Vec<&RtpPacket> = packets.iter().filter(|p| p.payload_type == pt).collect();
            assert!(audio.len() >= 40, "{name}: {} audio packets", audio.len());
            if let Some(octets) = octets {
                assert!(audio.iter().all(|p| p.payload.len() == octets), "{name}");
            }
            // Consecutive audio packets (no DTMF between) are one step apart.
            let steps: Vec<u32> = audio
                .windows(2)
                .filter(|w| w[1].sequence == w[0].sequence.wrapping_add(1))
                .map(|w| w[1].timestamp.wrapping_sub(w[0].timestamp))
                .collect();
            assert!(steps.len() >= 30, "{name}");
            assert!(steps.iter().all(|s| *s == step), "{name}: steps {steps:?}");
            assert!(
                packets.iter().all(|p| p.payload_type == pt
                    || p.payload_type == 101
                    || p.payload_type == 110),
                "{name}: only the codec and telephone-event"
            );
        }
        // RFC 4733 with each codec: the digit arrived.
        assert_eq!(run.callee.media.dtmf_received, "4", "{name}");
    }
}

#[test]
fn dtmf_with_opus_uses_the_48k_event_clock() {
    let run = codec_call(&[CodecKind::Opus], 2, "1", Net::default());
    assert_eq!(run.callee.media.dtmf_received, "1");
    let events: Vec<EventPayload> = rtp_sent(&run, true)
        .iter()
        .filter(|p| p.payload_type == 110)
        .map(|p| EventPayload::parse(&p.payload).unwrap())
        .collect();
    assert!(
        !events.is_empty(),
        "telephone-event/48000 on payload type 110"
    );
    // RFC 4733 §2.5.1.3: durations in the event's clock: 960 per 20 ms at 48 kHz.
    assert_eq!(events[0].duration, 960);
    assert_eq!(events.iter().map(|e| e.duration).max(), Some(4800));
}

#[test]
fn sender_reports_count_in_the_codecs_clock() {
    let run = codec_call(&[CodecKind::Opus], 4, "", Net::default());
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    // On the wire in send order: each SR's RTP timestamp is the next frame's, one 960 step
    // after the last RTP packet before it (RFC 3550 §6.4.1: the same clock as the RTP).
    let mut last_rtp_ts = None;
    let mut checked = 0;
    for (from_caller, d) in &run.wire {
        if !from_caller {
            continue;
        }
        if !is_rtcp(d) {
            if let Some(p) = RtpPacket::parse(d).ok().filter(|p| p.payload_type == 111) {
                last_rtp_ts = Some(p.timestamp);
            }
        } else if let (Ok(report), Some(ts)) = (Report::parse(d), last_rtp_ts) {
            if let Some(sender) = report.sender {
                let ahead = sender.rtp_timestamp.wrapping_sub(ts);
                assert!(
                    ahead > 0 && ahead <= 2 * 960,
                    "SR {ahead} units after the last RTP"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 1, "an SR was sent");
}

#[test]
fn opus_at_ten_percent_loss_keeps_the_audio_going() {
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Off, SrtpPolicy::Off, 6);
    caller.codecs = vec![CodecKind::Opus];
    callee.codecs = vec![CodecKind::Opus];
    // Speech-like level changes: SILK puts FEC into active frames only.
    caller.source = Source::samples(syllables(CALLER_TONE, 8));
    callee.source = Source::samples(syllables(CALLEE_TONE, 8));
    let net = Net {
        loss: 0.10,
        seed: 18,
        ..Net::default()
    };
    let run = World::new(caller, callee, net).finish();
    for (name, outcome, tone) in [
        ("caller", &run.caller, CALLEE_TONE),
        ("callee", &run.callee, CALLER_TONE),
    ] {
        let m = &outcome.media;
        assert_eq!(outcome.exit, exit::OK, "{name}: {}", outcome.reason);
        assert!(m.lost >= 10, "{name}: the loss happened ({} lost)", m.lost);
        // Every lost packet came back as FEC or PLC (one lost at the very end aside), so
        // the timeline has no holes: a 20 ms frame per packet sent.
        let made_up = m.concealed_frames + m.fec_frames;
        assert!(
            made_up + 2 >= m.lost,
            "{name}: {made_up} frames for {} lost",
            m.lost
        );
        assert!(
            m.fec_frames > m.concealed_frames,
            "{name}: mostly single losses, recovered from FEC ({} FEC, {} PLC)",
            m.fec_frames,
            m.concealed_frames
        );
        let frames = (outcome.recorded.len() / 160) as u64;
        assert!(
            frames + 2 >= m.rtp_received + m.lost,
            "{name}: {frames} frames recorded"
        );
        let heard = tone_ratio(&outcome.recorded, tone, 8000.0);
        assert!(heard > 0.6, "{name} heard the peer's tone: ratio {heard}");
        // The tone is there in (nearly) every 100 ms window past the first second.
        let windows: Vec<f64> = outcome.recorded[8000..]
            .chunks(800)
            .map(|w| tone_ratio(w, tone, 8000.0))
            .collect();
        let held = windows.iter().filter(|r| **r > 0.5).count() as f64 / windows.len() as f64;
        assert!(
            held > 0.9,
            "{name}: tone in {:.0} % of windows",
            held * 100.0
        );
    }
}

#[test]
fn opus_caller_and_pcmu_only_callee_agree_on_pcmu() {
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Off, SrtpPolicy::Off, 2);
    caller.codecs = vec![CodecKind::Opus, CodecKind::G722, CodecKind::Pcmu];
    callee.codecs = vec![CodecKind::Pcmu];
    let run = run(caller, callee);
    assert_heard(&run, 0.5);
    assert_eq!(run.caller.media.codec, "PCMU");
    assert_eq!(run.callee.media.codec, "PCMU");
    for from_caller in [true, false] {
        assert!(rtp_sent(&run, from_caller)
            .iter()
            .all(|p| p.payload_type == 0));
    }
}

#[test]
fn both_sides_send_the_answerers_first_choice() {
    // The caller prefers PCMA; the callee answers in its own order (G.722 first), and both
    // send G.722.
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Off, SrtpPolicy::Off, 2);
    caller.codecs = vec![CodecKind::Pcma, CodecKind::G722];
    callee.codecs = vec![CodecKind::G722, CodecKind::Pcma];
    let run = run(caller, callee);
    assert_heard(&run, 0.5);
    assert_eq!(run.caller.media.codec, "G722");
    assert_eq!(run.callee.media.codec, "G722");
}

#[test]
fn echo_through_opus_sends_back_the_callers_tone() {
    // The callee echoes what it decodes (8 kHz) back through its Opus encoder.
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Off, SrtpPolicy::Off, 2);
    caller.codecs = vec![CodecKind::Opus];
    callee.codecs = vec![CodecKind::Opus];
    callee.echo = true;
    let run = run(caller, callee);
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    let own = tone_ratio(&run.caller.recorded, CALLER_TONE, 8000.0);
    let theirs = tone_ratio(&run.caller.recorded, CALLEE_TONE, 8000.0);
    assert!(own > 0.5, "the caller hears itself: ratio {own}");
    assert!(theirs < 0.05, "not the callee's source: ratio {theirs}");
}
