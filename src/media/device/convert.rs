//! Between a device's stream format and our 8 kHz mono frames: channel mixing, sample
//! conversion, cutting into 20 ms frames, and the choice of the device rate.
//!
//! Rates: `resample::Resampler` converts exactly between 8, 16 and 48 kHz (whole ratios, no
//! drift), so the device is asked for one of those, best first (48 kHz, then 16, then 8).
//! A device that offers none of them (a bare 44.1 kHz card) is refused with a clear error;
//! through PulseAudio or PipeWire (their ALSA plugin) every rate is offered, the sound
//! server converts.

use crate::media::resample::RATES;

/// Device rates we ask for, in order of preference.
pub const PREFERRED_RATES: [u32; 3] = [48000, 16000, 8000];

/// Samples in 20 ms at `rate` (RFC 3551 §4.5: 20 ms is our packet time).
pub fn frame_len(rate: u32) -> usize {
    (rate / 50) as usize
}

/// The first of `PREFERRED_RATES` that one of `ranges` (min, max Hz) contains.
pub fn pick_rate(ranges: &[(u32, u32)]) -> Option<u32> {
    debug_assert!(PREFERRED_RATES.iter().all(|r| RATES.contains(r)));
    PREFERRED_RATES
        .into_iter()
        .find(|r| ranges.iter().any(|(lo, hi)| lo <= r && r <= hi))
}

/// Interleaved frames of `channels` samples to mono: the mean of the channels.
pub fn to_mono(interleaved: &[i16], channels: usize) -> impl Iterator<Item = i16> + '_ {
    let channels = channels.max(1);
    interleaved.chunks(channels).map(move |frame| {
        let sum: i32 = frame.iter().map(|s| i32::from(*s)).sum();
        (sum / frame.len() as i32) as i16
    })
}

/// Mono to interleaved: every channel gets the same sample.
pub fn fill_interleaved<T: Copy>(out: &mut [T], channels: usize, mut next: impl FnMut() -> T) {
    for frame in out.chunks_mut(channels.max(1)) {
        let s = next();
        frame.iter_mut().for_each(|o| *o = s);
    }
}

/// Collects mono samples into frames of a fixed length.
#[derive(Debug)]
pub struct Framer {
    len: usize,
    partial: Vec<i16>,
}

impl Framer {
    /// Frames of `len` samples.
    pub fn new(len: usize) -> Framer {
        Framer {
            len,
            partial: Vec::with_capacity(len),
        }
    }

    /// Adds `samples`; `emit` gets each frame completed.
    pub fn push(&mut self, samples: impl Iterator<Item = i16>, mut emit: impl FnMut(Vec<i16>)) {
        for s in samples {
            self.partial.push(s);
            if self.partial.len() == self.len {
                let frame = std::mem::replace(&mut self.partial, Vec::with_capacity(self.len));
                emit(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_48k_then_16k_and_refuses_44_1k_only() {
        assert_eq!(pick_rate(&[(8000, 96000)]), Some(48000));
        assert_eq!(pick_rate(&[(44100, 44100), (16000, 16000)]), Some(16000));
        assert_eq!(pick_rate(&[(44100, 44100)]), None);
        assert_eq!(frame_len(48000), 960);
        assert_eq!(frame_len(8000), 160);
    }

    #[test]
    fn stereo_mixes_to_mono_and_back() {
        let mono: Vec<i16> = to_mono(&[100, 300, -4, -6, i16::MAX, i16::MAX], 2).collect();
        assert_eq!(mono, vec![200, -5, i16::MAX]);
        let mut out = [0i16; 6];
        let mut it = mono.into_iter();
        fill_interleaved(&mut out, 2, || it.next().unwrap());
        assert_eq!(out, [200, 200, -5, -5, i16::MAX, i16::MAX]);
    }

    #[test]
    fn framer_cuts_exact_frames_across_pushes() {
        let mut f = Framer::new(4);
        let mut frames = Vec::new();
        f.push([1, 2, 3].into_iter(), |fr| frames.push(fr));
        assert!(frames.is_empty());
        f.push([4, 5, 6, 7, 8, 9].into_iter(), |fr| frames.push(fr));
        assert_eq!(frames, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
    }
}
