//! Sample-rate conversion between the rates our codecs and devices use (8, 16 and 48 kHz),
//! mono i16, streaming in 20 ms frames, on `rubato`'s synchronous FFT resampler.
//!
//! Every ratio between these rates is exact (1:2, 1:3, 1:6 and back), so a fixed-in,
//! fixed-out resampler turns each 20 ms frame in into exactly one 20 ms frame out: no
//! fractional remainder to carry, hence no drift however long the call.
//!
//! rubato 0.16 rather than a newer major: from 1.0 on its buffers go through the
//! `audioadapter` crates; 0.16 takes plain slices per channel and has the same FFT
//! resampler, which is all a mono 20 ms stream needs.

use rubato::{FftFixedInOut, Resampler as _};

/// Converts a stream of mono frames from one rate to another.
pub struct Resampler {
    from: u32,
    to: u32,
    /// `None` when `from == to`: frames pass through untouched.
    inner: Option<FftFixedInOut<f32>>,
    /// Input not yet converted (when callers hand in other than whole chunks).
    pending: Vec<f32>,
    out: Vec<Vec<f32>>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

/// The rates `Resampler` accepts.
pub const RATES: [u32; 3] = [8000, 16000, 48000];

/// A rate outside `RATES`, or rubato refused the setup.
#[derive(Debug, thiserror::Error)]
#[error("cannot resample {from} Hz to {to} Hz")]
pub struct ResampleError {
    /// Input rate asked for.
    pub from: u32,
    /// Output rate asked for.
    pub to: u32,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz, both in `RATES`.
    pub fn new(from: u32, to: u32) -> Result<Resampler, ResampleError> {
        let err = ResampleError { from, to };
        if !RATES.contains(&from) || !RATES.contains(&to) {
            return Err(err);
        }
        let inner = if from == to {
            None
        } else {
            // One 20 ms frame per chunk: rubato rounds the chunk to a multiple of the
            // rates' ratio, which 20 ms at these rates always is.
            let chunk = (from / 50) as usize;
            let r = FftFixedInOut::<f32>::new(from as usize, to as usize, chunk, 1)
                .map_err(|_| ResampleError { from, to })?;
            debug_assert_eq!(r.input_frames_next(), chunk);
            Some(r)
        };
        let out = inner
            .as_ref()
            .map(|r| r.output_buffer_allocate(true))
            .unwrap_or_default();
        Ok(Resampler {
            from,
            to,
            inner,
            pending: Vec::new(),
            out,
        })
    }

    /// Input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Samples of delay the conversion adds, at the output rate (the FFT overlap). The first
    /// output is that much silence; later audio comes out that much late.
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Converts `input` (any length) and returns what is ready. Given whole 20 ms frames,
    /// each call returns exactly one 20 ms frame per input frame.
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        let Some(r) = self.inner.as_mut() else {
            return input.to_vec();
        };
        self.pending
            .extend(input.iter().map(|s| f32::from(*s) / 32768.0));
        let mut result = Vec::new();
        loop {
            let need = r.input_frames_next();
            if self.pending.len() < need {
                break;
            }
            let (used, made) = r
                .process_into_buffer(&[&self.pending[..need]], &mut self.out, None)
                .expect("buffers sized by rubato itself");
            self.pending.drain(..used);
            result.extend(
                self.out[0][..made]
                    .iter()
                    .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
            );
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::tests::tone_frames;
    use crate::media::goertzel::tone_ratio;

    #[test]
    fn every_pair_keeps_a_tone_and_the_frame_count() {
        for from in RATES {
            for to in RATES {
                let mut r = Resampler::new(from, to).unwrap();
                let frames = tone_frames(1000.0, from, (from / 50) as usize, 500);
                let mut out = Vec::new();
                for frame in &frames {
                    let got = r.process(frame);
                    // Exactly one 20 ms frame out per frame in: no drift, ever.
                    assert_eq!(got.len(), (to / 50) as usize, "{from}->{to}");
                    out.extend(got);
                }
                assert_eq!(out.len(), (to * 10) as usize);
                let settled = &out[r.delay() + (to / 10) as usize..];
                let ratio = tone_ratio(settled, 1000.0, f64::from(to));
                assert!(ratio > 0.98, "{from}->{to}: ratio {ratio}");
                // The level is kept too (about −10 dBFS: RMS ≈ 7071).
                let rms = (settled.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>()
                    / settled.len() as f64)
                    .sqrt();
                assert!((6800.0..7300.0).contains(&rms), "{from}->{to}: rms {rms}");
            }
        }
    }

    #[test]
    fn downsampling_removes_what_the_lower_rate_cannot_hold() {
        // A 6 kHz tone fits 16 kHz but not 8 kHz (Nyquist 4 kHz): it must be filtered out,
        // not folded back to 2 kHz.
        let mut r = Resampler::new(16000, 8000).unwrap();
        let mut out = Vec::new();
        for frame in tone_frames(6000.0, 16000, 320, 50) {
            out.extend(r.process(&frame));
        }
        let rms = (out[800..]
            .iter()
            .map(|s| f64::from(*s).powi(2))
            .sum::<f64>()
            / (out.len() - 800) as f64)
            .sqrt();
        assert!(rms < 100.0, "6 kHz leaked through as rms {rms}");
    }

    #[test]
    fn round_trip_8k_48k_8k() {
        let mut up = Resampler::new(8000, 48000).unwrap();
        let mut down = Resampler::new(48000, 8000).unwrap();
        let mut out = Vec::new();
        for frame in tone_frames(440.0, 8000, 160, 200) {
            out.extend(down.process(&up.process(&frame)));
        }
        assert_eq!(out.len(), 200 * 160);
        assert!(tone_ratio(&out[1600..], 440.0, 8000.0) > 0.98);
    }

    #[test]
    fn odd_sized_input_is_buffered_and_rates_are_checked() {
        let mut r = Resampler::new(8000, 16000).unwrap();
        assert!(r.process(&[0; 100]).is_empty(), "less than a chunk waits");
        assert_eq!(r.process(&[0; 60]).len(), 320, "the rest completes it");
        assert!(Resampler::new(44100, 8000).is_err());
        let mut same = Resampler::new(16000, 16000).unwrap();
        assert_eq!(same.process(&[1, 2, 3]), vec![1, 2, 3]);
        assert_eq!(same.delay(), 0);
    }
}
