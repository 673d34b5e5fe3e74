//! The media-path end of a capture device: a call's [`Source`](crate::media::source::Source)
//! that yields 8 kHz 20 ms frames from what the microphone's audio thread queued.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::handoff::FrameRx;
use crate::media::resample::Resampler;
use crate::media::source::FRAME_SAMPLES;

/// Frames kept queued at most when reading: more means the device clock runs ahead of the
/// call's 20 ms timer; the oldest are dropped (counted as overruns) so the mouth-to-ear
/// delay stays bounded.
const MAX_BACKLOG: usize = 3;

struct Inner {
    rx: FrameRx,
    /// Device rate to 8 kHz.
    down: Resampler,
    device_frame: usize,
    /// Keeps the device streams open while the call uses this source.
    _keep: Option<Arc<dyn Send + Sync>>,
}

/// A capture device as a call's audio source. Cheap to clone (all clones read one queue).
#[derive(Clone)]
pub struct DeviceSource {
    inner: Arc<Mutex<Inner>>,
    muted: Arc<AtomicBool>,
    name: Arc<str>,
}

impl std::fmt::Debug for DeviceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSource")
            .field("name", &self.name)
            .field("muted", &self.is_muted())
            .finish()
    }
}

impl DeviceSource {
    /// A source reading `rx`, whose frames are 20 ms at `rate` Hz (8, 16 or 48 kHz).
    /// `keep` is held as long as the source lives (the open device).
    pub fn new(
        name: &str,
        rx: FrameRx,
        rate: u32,
        keep: Option<Arc<dyn Send + Sync>>,
    ) -> Result<DeviceSource, crate::media::resample::ResampleError> {
        Ok(DeviceSource {
            inner: Arc::new(Mutex::new(Inner {
                rx,
                down: Resampler::new(rate, 8000)?,
                device_frame: super::convert::frame_len(rate),
                _keep: keep,
            })),
            muted: Arc::new(AtomicBool::new(false)),
            name: name.into(),
        })
    }

    /// Mute (true) or unmute the microphone: while muted the call sends silence (the
    /// device keeps running and its frames are dropped, so unmuting sends current audio,
    /// not what was said while muted). For the console's `mute` command.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// Whether the microphone is muted.
    pub fn is_muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// Holds `keep` (the open device) as long as this source lives.
    pub(super) fn keep(&self, keep: Arc<dyn Send + Sync>) {
        self.lock()._keep = Some(keep);
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Overruns (frames dropped: queue full or backlog) and underruns (no frame when the
    /// call wanted one: silence sent).
    pub fn counters(&self) -> (u64, u64) {
        self.lock().rx.counters().snapshot()
    }

    /// The queue's counters, to report them after the call.
    pub(super) fn shared_counters(&self) -> Arc<super::handoff::Counters> {
        self.lock().rx.counters().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Only media-path threads take this lock, never the audio callback; a panic while
        // holding it leaves plain data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next 20 ms at 8 kHz: the oldest queued frame, or silence on an underrun.
    pub fn next_frame(&self) -> [i16; FRAME_SAMPLES] {
        let mut inner = self.lock();
        let inner = &mut *inner;
        while inner.rx.len() > MAX_BACKLOG {
            if inner.rx.pop().is_some() {
                inner.rx.counters().overruns.fetch_add(1, Ordering::Relaxed);
            }
        }
        let frame = inner.rx.pop().unwrap_or_else(|| {
            inner.rx.counters().underrun();
            vec![0; inner.device_frame]
        });
        // Through the resampler even when muted or missing, so its state stays continuous.
        let narrow = inner.down.process(&frame);
        let mut out = [0i16; FRAME_SAMPLES];
        if !self.is_muted() {
            let n = narrow.len().min(FRAME_SAMPLES);
            out[..n].copy_from_slice(&narrow[..n]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::device::handoff::frame_queue;
    use crate::media::goertzel::tone_ratio;

    fn tone(rate: u32, freq: f64, n: usize, start: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn a_48k_tone_comes_out_at_8k_and_mute_silences_it() {
        let (tx, rx) = frame_queue(8);
        let src = DeviceSource::new("test", rx, 48000, None).unwrap();
        let mut out = Vec::new();
        for i in 0..20 {
            tx.push(tone(48000, 1000.0, 960, i * 960));
            out.extend_from_slice(&src.next_frame());
        }
        // Past the resampler's start-up delay, the 1 kHz tone is there.
        assert!(tone_ratio(&out[800..], 1000.0, 8000.0) > 0.9);
        src.set_muted(true);
        assert!(src.is_muted());
        tx.push(tone(48000, 1000.0, 960, 0));
        assert_eq!(src.next_frame(), [0; FRAME_SAMPLES]);
        assert_eq!(src.counters(), (0, 0));
    }

    #[test]
    fn underruns_give_silence_and_backlog_is_trimmed() {
        let (tx, rx) = frame_queue(16);
        let src = DeviceSource::new("test", rx, 8000, None).unwrap();
        assert_eq!(src.next_frame(), [0; FRAME_SAMPLES]);
        assert_eq!(src.counters(), (0, 1));
        for i in 0..6 {
            tx.push(vec![i; FRAME_SAMPLES]);
        }
        // 6 queued, 3 kept: frames 0..=2 dropped, frame 3 played.
        assert_eq!(src.next_frame(), [3; FRAME_SAMPLES]);
        assert_eq!(src.counters(), (3, 1));
    }
}
