//! The device ends wired into a call's media session, without a sound card: a queue stands
//! for the capture callback, `Player::tick` for the playback callback.

use std::time::{Duration, Instant};

use super::handoff::frame_queue;
use super::playback::playback;
use super::DeviceSource;
use crate::media::codec::{CodecKind, CodecSpec};
use crate::media::goertzel::tone_ratio;
use crate::media::session::{MediaConfig, MediaSession, SessionCodecs};
use crate::media::source::Source;

fn config(kind: CodecKind, pt: u8, source: Source) -> MediaConfig {
    MediaConfig {
        codecs: SessionCodecs::single(CodecSpec::new(kind, pt), None),
        source,
        dtmf: None,
        echo: false,
        record: false,
        meter: false,
    }
}

/// 48 kHz microphone frames → caller's session → packets (one in ten lost) → callee's
/// session → jitter buffer → 48 kHz speaker frames: the tone comes through, the losses are
/// concealed rather than silent.
#[test]
fn microphone_to_speaker_through_two_sessions() {
    for (kind, pt) in [
        (CodecKind::Pcmu, 0),
        (CodecKind::G722, 9),
        (CodecKind::Opus, 111),
    ] {
        let (mic_tx, mic_rx) = frame_queue(8);
        let mic = DeviceSource::new("mic", mic_rx, 48000, None).unwrap();
        let (sink, mut player) = playback(8000, None).unwrap();
        let t0 = Instant::now();
        let mut caller = MediaSession::new(config(kind, pt, Source::Device(mic.clone())), t0);
        let mut callee = MediaSession::new(config(kind, pt, Source::Silence), t0);
        callee.set_playback(sink.clone());
        let mut heard = Vec::new();
        for i in 0..100u64 {
            let now = t0 + Duration::from_millis(20 * i);
            let frame: Vec<i16> = (0..960)
                .map(|n| {
                    let t = (i as usize * 960 + n) as f64 / 48000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 700.0 * t).sin()) as i16
                })
                .collect();
            mic_tx.push(frame);
            if let Some(p) = caller.next_packet() {
                if i % 10 != 5 {
                    callee.on_datagram(now + Duration::from_millis(3), &p);
                }
            }
            heard.extend(player.tick(now + Duration::from_millis(10)));
        }
        let ratio = tone_ratio(&heard[4000..], 700.0, 8000.0);
        assert!(ratio > 0.5, "{kind}: 700 Hz ratio {ratio:.2}");
        let silent_frames = heard[4000..]
            .chunks(160)
            .filter(|f| f.iter().all(|s| s.abs() < 100))
            .count();
        assert_eq!(silent_frames, 0, "{kind}: losses left gaps");
        assert_eq!(mic.counters(), (0, 0), "{kind}: the mic queue kept pace");
    }
}
