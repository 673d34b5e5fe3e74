//! The playback side: received audio (decoded to 8 kHz by the call) goes through the
//! adaptive jitter buffer (`media::jitter`), and the sound device's own clock pulls one
//! 20 ms frame at a time from it. A frame that is not there is concealed by repeating the
//! last one with a fading gain (in the spirit of ITU-T G.711 Appendix I) rather than a
//! click or a gap; the codec's own PLC has already filled sequence gaps before (see
//! `codec_path::ReceivePath`).
//!
//! Two ends: [`PlaybackSink`] (cloned into the call, `push` from the media path) and
//! [`Player`] (moved into the device callback). They share the jitter buffer behind a mutex
//! that the callback only ever `try_lock`s: contention costs one concealed frame, never a
//! wait in the audio thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::media::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::media::resample::{ResampleError, Resampler};
use crate::media::source::FRAME_SAMPLES;

/// Frames buffered at most (2 s): beyond, the player is not pulling (device stalled) and
/// new audio is dropped, counted as overruns.
const MAX_BUFFERED: usize = 100;
/// Gain applied per consecutive concealed frame: after five frames (100 ms) it is silence.
const FADE: f32 = 0.6;
const MAX_CONCEALED_RUN: u32 = 5;

struct Shared {
    jitter: JitterBuffer,
    /// RTP clock of the stream the buffer times (a codec change starts a new buffer).
    clock_rate: u32,
}

/// Counters of the playback side.
#[derive(Debug, Default)]
struct Counts {
    /// Frames dropped: buffer full.
    overruns: AtomicU64,
    /// Frames the device wanted that were not there (concealed or silence).
    underruns: AtomicU64,
}

/// The call's end of a playback device.
#[derive(Clone)]
pub struct PlaybackSink {
    shared: Arc<Mutex<Shared>>,
    counts: Arc<Counts>,
    /// Keeps the device streams open while the call uses this sink.
    _keep: Option<Arc<dyn Send + Sync>>,
}

impl std::fmt::Debug for PlaybackSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackSink").finish_non_exhaustive()
    }
}

/// The device callback's end.
pub struct Player {
    shared: Arc<Mutex<Shared>>,
    counts: Arc<Counts>,
    up: Resampler,
    /// The last frame played (8 kHz), repeated with fading gain to conceal.
    last: Vec<i16>,
    gain: f32,
    concealed_run: u32,
    /// The current frame at the device rate, and how far it is played.
    frame: Vec<i16>,
    pos: usize,
}

/// A connected sink and player; the player's frames are 20 ms at `device_rate`.
pub fn playback(
    device_rate: u32,
    keep: Option<Arc<dyn Send + Sync>>,
) -> Result<(PlaybackSink, Player), ResampleError> {
    let shared = Arc::new(Mutex::new(Shared {
        jitter: JitterBuffer::new(JitterConfig::new(8000)),
        clock_rate: 8000,
    }));
    let counts = Arc::new(Counts::default());
    Ok((
        PlaybackSink {
            shared: shared.clone(),
            counts: counts.clone(),
            _keep: keep,
        },
        Player {
            shared,
            counts,
            up: Resampler::new(8000, device_rate)?,
            last: vec![0; FRAME_SAMPLES],
            gain: 0.0,
            concealed_run: MAX_CONCEALED_RUN,
            frame: Vec::new(),
            pos: 0,
        },
    ))
}

impl PlaybackSink {
    /// One received packet's decoded 8 kHz audio: `samples` is one or more 20 ms frames
    /// (frames the codec concealed before this packet come first), `seq`/`timestamp` are
    /// the packet's RTP sequence number and timestamp in its `clock_rate`.
    pub fn push(
        &self,
        arrival: Instant,
        clock_rate: u32,
        seq: u16,
        timestamp: u32,
        samples: &[i16],
    ) {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if shared.clock_rate != clock_rate {
            shared.jitter = JitterBuffer::new(JitterConfig::new(clock_rate));
            shared.clock_rate = clock_rate;
        }
        let step = clock_rate / 50;
        let frames: Vec<&[i16]> = samples.chunks(FRAME_SAMPLES).collect();
        let n = frames.len();
        for (i, frame) in frames.into_iter().enumerate() {
            if shared.jitter.len() >= MAX_BUFFERED {
                self.counts.overruns.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let back = (n - 1 - i) as u32;
            let bytes = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
            shared.jitter.push(
                arrival,
                seq.wrapping_sub(back as u16),
                timestamp.wrapping_sub(back * step),
                bytes,
            );
        }
    }

    /// Holds `keep` (the open device) as long as this sink lives.
    pub(super) fn keep(&mut self, keep: Arc<dyn Send + Sync>) {
        self._keep = Some(keep);
    }

    /// (overruns, underruns): frames dropped for a full buffer or skipped to shrink the
    /// delay; frames the device wanted and got concealment or silence for.
    pub fn counters(&self) -> (u64, u64) {
        let stats = self.jitter_stats();
        (
            self.counts.overruns.load(Ordering::Relaxed) + stats.discarded + stats.late,
            self.counts.underruns.load(Ordering::Relaxed),
        )
    }

    /// The jitter buffer's figures (delay, target, concealment).
    pub fn jitter_stats(&self) -> JitterStats {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.jitter.stats().clone()
    }
}

impl Player {
    /// The next mono sample at the device rate; a new 20 ms tick of the jitter buffer when
    /// the current frame is used up. `now` is the tick's time.
    pub fn next_sample(&mut self, now: Instant) -> i16 {
        if self.pos >= self.frame.len() {
            let narrow = self.tick(now);
            self.frame = self.up.process(&narrow);
            self.pos = 0;
            if self.frame.is_empty() {
                return 0;
            }
        }
        self.pos += 1;
        self.frame[self.pos - 1]
    }

    /// One 20 ms frame at 8 kHz from the jitter buffer, or concealment.
    pub fn tick(&mut self, now: Instant) -> Vec<i16> {
        let playout = match self.shared.try_lock() {
            Ok(mut shared) => shared.jitter.poll(now),
            // The media path holds the lock this instant: conceal rather than wait.
            Err(_) => Playout::Empty,
        };
        match playout {
            Playout::Waiting => vec![0; FRAME_SAMPLES],
            Playout::Frame { payload, .. } => {
                let frame: Vec<i16> = payload
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                self.last.clone_from(&frame);
                self.gain = 1.0;
                self.concealed_run = 0;
                frame
            }
            Playout::Lost { .. } | Playout::Stretch | Playout::Empty => {
                self.counts.underruns.fetch_add(1, Ordering::Relaxed);
                self.conceal()
            }
        }
    }

    /// Repeat-and-fade: the last frame again, quieter each time, then silence.
    fn conceal(&mut self) -> Vec<i16> {
        if self.concealed_run >= MAX_CONCEALED_RUN {
            return vec![0; FRAME_SAMPLES];
        }
        self.concealed_run += 1;
        self.gain *= FADE;
        let gain = self.gain;
        self.last
            .iter()
            .map(|s| (f32::from(*s) * gain) as i16)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::tone_ratio;
    use crate::media::source::Source;
    use std::time::Duration;

    fn peak(frame: &[i16]) -> i16 {
        frame.iter().map(|s| s.saturating_abs()).max().unwrap_or(0)
    }

    #[test]
    fn frames_play_in_order_and_a_gap_fades_out() {
        let (sink, mut player) = playback(8000, None).unwrap();
        let t0 = Instant::now();
        let mut tone = Source::tone(500.0);
        let mut played = Vec::new();
        // 20 packets on time, then nothing for 10 ticks.
        for i in 0..30u32 {
            let now = t0 + Duration::from_millis(u64::from(i) * 20);
            if i < 20 {
                sink.push(
                    now,
                    8000,
                    100 + i as u16,
                    5000 + i * 160,
                    &tone.next_frame(),
                );
            }
            played.push(player.tick(now + Duration::from_millis(1)));
        }
        let audio: Vec<i16> = played[..19].concat();
        assert!(tone_ratio(&audio[800..], 500.0, 8000.0) > 0.9);
        let (_, underruns) = sink.counters();
        assert!(
            underruns >= 5,
            "the silent ticks are underruns: {underruns}"
        );
        // The first frames after the stream stops fade rather than cut.
        let after: Vec<i16> = played.iter().rev().take(12).map(|f| peak(f)).collect();
        let last_real = peak(&played[19]);
        assert!(after.iter().any(|p| *p > 0 && *p < last_real), "{after:?}");
        assert_eq!(peak(played.last().unwrap()), 0, "silence after the fade");
    }

    #[test]
    fn concealed_frames_before_a_packet_are_timed_in_order() {
        let (sink, mut player) = playback(8000, None).unwrap();
        let t0 = Instant::now();
        // One packet carrying two frames (one concealed before it): seq 10 and 11.
        let mut two = vec![1i16; FRAME_SAMPLES];
        two.extend(vec![2i16; FRAME_SAMPLES]);
        sink.push(t0, 8000, 11, 1760, &two);
        let first = player.tick(t0 + Duration::from_millis(40));
        let second = player.tick(t0 + Duration::from_millis(60));
        assert_eq!((first[0], second[0]), (1, 2));
    }

    #[test]
    fn device_rate_samples_come_from_8k_frames() {
        let (sink, mut player) = playback(48000, None).unwrap();
        let t0 = Instant::now();
        let mut tone = Source::tone(1000.0);
        let mut out = Vec::new();
        for i in 0..25u32 {
            let now = t0 + Duration::from_millis(u64::from(i) * 20);
            sink.push(now, 8000, i as u16, i * 160, &tone.next_frame());
            for _ in 0..960 {
                out.push(player.next_sample(now + Duration::from_millis(5)));
            }
        }
        assert!(tone_ratio(&out[9600..], 1000.0, 48000.0) > 0.9);
    }
}
