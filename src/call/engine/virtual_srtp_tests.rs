//! SDES-SRTP calls between two `CallCore`s in virtual time (`virtual_net`): every suite
//! carries audio both ways while the wire shows no clear RTP, forged packets are dropped and
//! counted, and the policies that cannot meet end the call with 488 or a BYE and the reason.

use std::time::Duration;

use sdp::offer_answer::SrtpPolicy;

use super::virtual_net::{ip, options, run, Net, Run, World, CALLEE_IP, CALLER_IP, CALLER_IP2};
use crate::call::CallOptions;
use crate::events::Event;
use crate::exit;
use crate::media::g711::ulaw_to_linear;
use crate::media::goertzel::tone_ratio;
use crate::media::source::Source;
use crate::media::srtp::SrtpSuite;

pub(super) const CALLER_TONE: f64 = 700.0;
pub(super) const CALLEE_TONE: f64 = 500.0;
/// RFC 3551: a 20 ms PCMU packet is a 12-octet header and 160 octets of audio.
pub(super) const CLEAR_RTP_LEN: usize = 12 + 160;

/// A caller playing a tone for `seconds` and a callee playing another, both recording, with
/// SRTP policies `caller` and `callee`.
pub(super) fn tone_pair(
    caller: SrtpPolicy,
    callee: SrtpPolicy,
    seconds: u64,
) -> (CallOptions, CallOptions) {
    let mut a = options("caller", CALLER_IP);
    a.duration = Some(Duration::from_secs(seconds));
    a.source = Source::tone(CALLER_TONE);
    a.keep_audio = true;
    a.srtp = caller;
    let mut b = options("callee", CALLEE_IP);
    b.source = Source::tone(CALLEE_TONE);
    b.keep_audio = true;
    b.srtp = callee;
    (a, b)
}

/// The RTP datagrams one side put on the wire (RTCP and DTLS left out).
pub(super) fn rtp_on_wire(run: &Run, from_caller: bool) -> Vec<&[u8]> {
    run.wire
        .iter()
        .filter(|(c, d)| {
            *c == from_caller && ice::agent::classify(d) == ice::agent::PacketKind::Rtp
        })
        .map(|(_, d)| d.as_slice())
        .collect()
}

/// How much of `tone` the first 160 octets after the RTP header carry when read as PCMU:
/// high for clear RTP of that tone, near nothing for ciphertext.
pub(super) fn wire_tone(packets: &[&[u8]], tone: f64) -> f64 {
    let samples: Vec<i16> = packets
        .iter()
        .filter_map(|p| p.get(12..CLEAR_RTP_LEN))
        .flatten()
        .map(|b| ulaw_to_linear(*b))
        .collect();
    tone_ratio(&samples, tone, 8000.0)
}

/// Both sides heard each other's tone, and neither dropped anything as forged.
pub(super) fn assert_tones_both_ways(run: &Run) {
    for (name, outcome, tone) in [
        ("caller", &run.caller, CALLEE_TONE),
        ("callee", &run.callee, CALLER_TONE),
    ] {
        assert_eq!(outcome.exit, exit::OK, "{name}: {}", outcome.reason);
        assert!(
            outcome.media.rtp_received >= 40,
            "{name} received {}",
            outcome.media.rtp_received
        );
        let heard = tone_ratio(&outcome.recorded, tone, 8000.0);
        assert!(heard > 0.5, "{name} heard the peer's tone: ratio {heard}");
        // RTCP went both ways and authenticated: it was SRTCP when SRTP is on (clear RTCP
        // would have failed authentication and been counted here).
        assert!(outcome.media.rtcp_received > 0, "{name} received RTCP");
        assert_eq!(outcome.media.srtp_auth_failures, 0, "{name}");
    }
}

#[test]
fn sdes_calls_with_each_suite_carry_both_tones_and_no_clear_rtp_goes_on_the_wire() {
    for (suite, tag_len) in [
        (SrtpSuite::AesCm128HmacSha1_80, 10),
        (SrtpSuite::AesCm128HmacSha1_32, 4),
        (SrtpSuite::AeadAes128Gcm, 16),
    ] {
        let (caller, mut callee) = tone_pair(SrtpPolicy::Sdes, SrtpPolicy::Sdes, 2);
        // The caller offers all three; the callee takes the one it has (RFC 4568 §7.1.2).
        callee.srtp_suites = vec![suite];
        let run = run(caller, callee);
        assert_tones_both_ways(&run);
        for (name, outcome) in [("caller", &run.caller), ("callee", &run.callee)] {
            assert_eq!(outcome.media.keying, "sdes", "{name}");
            assert_eq!(
                outcome.media.srtp_suite.as_deref(),
                Some(suite.sdes().name()),
                "{name}"
            );
        }
        for (from_caller, tone) in [(true, CALLER_TONE), (false, CALLEE_TONE)] {
            let packets = rtp_on_wire(&run, from_caller);
            assert!(packets.len() >= 40, "{suite}: {} packets", packets.len());
            // RFC 3711 §3.1: the payload is encrypted and the tag follows it.
            assert!(
                packets.iter().all(|p| p.len() == CLEAR_RTP_LEN + tag_len),
                "{suite}: every RTP datagram carries a {tag_len}-octet tag"
            );
            let on_wire = wire_tone(&packets, tone);
            assert!(
                on_wire < 0.05,
                "{suite}: the wire must not carry the tone in clear (ratio {on_wire})"
            );
        }
    }
}

#[test]
fn optional_caller_and_off_callee_talk_in_clear_rtp() {
    let (caller, callee) = tone_pair(SrtpPolicy::Optional, SrtpPolicy::Off, 2);
    let run = run(caller, callee);
    assert_tones_both_ways(&run);
    for outcome in [&run.caller, &run.callee] {
        assert_eq!(outcome.media.keying, "none");
        assert_eq!(outcome.media.srtp_suite, None);
    }
    // The control for the test above: clear RTP of the tone is what the wire check sees.
    let packets = rtp_on_wire(&run, true);
    assert!(packets.iter().all(|p| p.len() == CLEAR_RTP_LEN));
    let on_wire = wire_tone(&packets, CALLER_TONE);
    assert!(on_wire > 0.5, "clear RTP on the wire: ratio {on_wire}");
}

#[test]
fn optional_caller_and_sdes_callee_agree_on_srtp() {
    let (caller, callee) = tone_pair(SrtpPolicy::Optional, SrtpPolicy::Sdes, 2);
    let run = run(caller, callee);
    assert_tones_both_ways(&run);
    assert_eq!(run.caller.media.keying, "sdes");
    assert!(wire_tone(&rtp_on_wire(&run, true), CALLER_TONE) < 0.05);
}

/// Flips a payload bit of every tenth RTP packet the caller sends: a forgery the callee's
/// SRTP authentication must catch (RFC 3711 §3.3 step 5).
fn forge_every_tenth(from_caller: bool, data: &mut [u8]) {
    let is_rtp = ice::agent::classify(data) == ice::agent::PacketKind::Rtp
        && !crate::media::rtp::is_rtcp(data);
    let seq = data.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if from_caller && is_rtp && seq.is_some_and(|s| s.is_multiple_of(10)) {
        if let Some(b) = data.get_mut(20) {
            *b ^= 0x01;
        }
    }
}

#[test]
fn tampered_srtp_packets_are_dropped_and_counted() {
    let (caller, callee) = tone_pair(SrtpPolicy::Sdes, SrtpPolicy::Sdes, 2);
    let net = Net {
        tamper: forge_every_tenth,
        ..Net::default()
    };
    let run = World::new(caller, callee, net).finish();
    assert_eq!(run.callee.exit, exit::OK, "{}", run.callee.reason);
    let forged = run
        .wire
        .iter()
        .filter(|(c, d)| {
            *c && !crate::media::rtp::is_rtcp(d)
                && u16::from_be_bytes([d[2], d[3]]).is_multiple_of(10)
        })
        .count() as u64;
    assert!(forged >= 5, "{forged} forged packets");
    let callee = &run.callee.media;
    assert!(
        callee.srtp_auth_failures >= forged.saturating_sub(1)
            && callee.srtp_auth_failures <= forged,
        "{} authentication failures for {forged} forged packets",
        callee.srtp_auth_failures
    );
    // The forged packets never reached the audio: what was received is what authenticated.
    assert!(
        callee.rtp_received + callee.srtp_auth_failures <= run.caller.media.rtp_sent,
        "received {} + dropped {} > sent {}",
        callee.rtp_received,
        callee.srtp_auth_failures,
        run.caller.media.rtp_sent
    );
    assert!(tone_ratio(&run.callee.recorded, CALLER_TONE, 8000.0) > 0.5);
}

#[test]
fn savp_offer_to_an_off_callee_gets_488_and_the_caller_says_why() {
    let (caller, callee) = tone_pair(SrtpPolicy::Sdes, SrtpPolicy::Off, 2);
    let run = run(caller, callee);
    assert_eq!(run.caller.exit, exit::CALL);
    assert!(
        run.caller.reason.starts_with("488 Not Acceptable Here")
            && run.caller.reason.contains("SRTP is off"),
        "{}",
        run.caller.reason
    );
    assert!(run.caller_events.iter().any(|e| matches!(
        e,
        Event::Call { state, status: Some(488), .. } if state == "failed"
    )));
    assert!(run.wire.is_empty(), "no media at all");
    // The callee's call failed with its reason; that is no setup error of the phone.
    assert_eq!(run.callee.exit, exit::CALL);
    assert!(
        run.callee.reason.contains("SRTP is off"),
        "{}",
        run.callee.reason
    );
    assert!(run.callee_events.iter().any(|e| matches!(
        e,
        Event::Call { state, status: Some(488), .. } if state == "failed"
    )));
}

#[test]
fn sdes_caller_ends_the_call_when_the_answer_drops_the_crypto() {
    let (caller, callee) = tone_pair(SrtpPolicy::Sdes, SrtpPolicy::Sdes, 2);
    let net = Net {
        // A peer answering RTP/SAVP without a=crypto.
        edit_answer: |sdp| {
            sdp.lines()
                .filter(|l| !l.starts_with("a=crypto:"))
                .map(|l| format!("{l}\r\n"))
                .collect()
        },
        ..Net::default()
    };
    let run = World::new(caller, callee, net).finish();
    assert_eq!(run.caller.exit, exit::CALL);
    assert!(
        run.caller.reason.contains("SRTP") && run.caller.reason.contains("no a=crypto"),
        "{}",
        run.caller.reason
    );
    assert_eq!(run.callee.reason, "remote hung up", "the caller sent BYE");
    // Never clear RTP: the caller sent no media at all.
    assert!(rtp_on_wire(&run, true).is_empty());
}

#[test]
fn sdes_without_ice_authenticates_before_latching() {
    let (mut caller, mut callee) = tone_pair(SrtpPolicy::Sdes, SrtpPolicy::Sdes, 2);
    caller.ice = false;
    callee.ice = false;
    let run = run(caller, callee);
    assert_tones_both_ways(&run);
    assert_eq!(run.callee.media.keying, "sdes");
    assert!(wire_tone(&rtp_on_wire(&run, false), CALLEE_TONE) < 0.05);
}

#[test]
fn hold_and_resume_keep_the_srtp_context() {
    // The re-INVITEs carry the same keys: no rekey, so nothing fails authentication or
    // counts as a replay across the hold (RFC 3711 §3.3.2 windows kept).
    let (mut caller, callee) = tone_pair(SrtpPolicy::Sdes, SrtpPolicy::Sdes, 4);
    caller.hold_after = Some(Duration::from_secs(1));
    caller.hold_for = Duration::from_secs(1);
    let run = run(caller, callee);
    assert_tones_both_ways(&run);
    assert_eq!(run.callee.hold_cycles, 1, "the callee was held once");
    for outcome in [&run.caller, &run.callee] {
        assert_eq!(outcome.media.keying, "sdes");
        assert_eq!(outcome.media.srtp_replays, 0);
    }
}

#[test]
fn the_updated_offer_after_nomination_keeps_srtp() {
    // RFC 8839 §4.3.4: ICE selects another address than the signalled default, so the
    // caller sends an UPDATE; it carries the same crypto lines and the media stays SRTP.
    let (mut caller, callee) = tone_pair(SrtpPolicy::Sdes, SrtpPolicy::Sdes, 2);
    caller.host_ips = vec![ip(CALLER_IP2), ip(CALLER_IP)];
    caller.blocked_ips = vec![ip(CALLER_IP2)];
    let run = run(caller, callee);
    assert_eq!(run.caller.updated_offer_sent.as_deref(), Some("UPDATE"));
    assert_tones_both_ways(&run);
    assert!(wire_tone(&rtp_on_wire(&run, true), CALLER_TONE) < 0.05);
}
