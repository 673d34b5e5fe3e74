//! Where the audio we send comes from: a tone, a WAV file, a sound device, or silence. 20 ms
//! frames at 8 kHz.

/// Samples in one 20 ms frame at 8 kHz (RFC 3551 §4.5: G.711 ptime 20 → 160 samples).
pub const FRAME_SAMPLES: usize = 160;

#[derive(Debug, Clone)]
pub enum Source {
    Silence,
    Tone {
        freq: f64,
        phase: f64,
    },
    Samples {
        samples: Vec<i16>,
        pos: usize,
    },
    /// A microphone (`media::device`): what it captured since the last frame.
    Device(super::device::DeviceSource),
}

impl Source {
    pub fn tone(freq: f64) -> Source {
        Source::Tone { freq, phase: 0.0 }
    }

    pub fn samples(samples: Vec<i16>) -> Source {
        Source::Samples { samples, pos: 0 }
    }

    /// The next 20 ms. A WAV source pads its end with silence.
    pub fn next_frame(&mut self) -> [i16; FRAME_SAMPLES] {
        let mut frame = [0i16; FRAME_SAMPLES];
        match self {
            Source::Silence => {}
            Source::Tone { freq, phase } => {
                let step = 2.0 * std::f64::consts::PI * *freq / 8000.0;
                for s in frame.iter_mut() {
                    // About −10 dBFS: loud enough to detect, far from clipping.
                    *s = (10000.0 * phase.sin()) as i16;
                    *phase = (*phase + step) % (2.0 * std::f64::consts::PI);
                }
            }
            Source::Device(device) => return device.next_frame(),
            Source::Samples { samples, pos } => {
                for s in frame.iter_mut() {
                    *s = samples.get(*pos).copied().unwrap_or(0);
                    *pos += 1;
                }
            }
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_is_continuous_across_frames() {
        let mut t = Source::tone(1000.0);
        let mut all = Vec::new();
        for _ in 0..10 {
            all.extend_from_slice(&t.next_frame());
        }
        assert!(super::super::goertzel::tone_ratio(&all, 1000.0, 8000.0) > 0.95);
        assert_eq!(Source::Silence.next_frame(), [0; FRAME_SAMPLES]);
    }

    #[test]
    fn samples_pad_with_silence() {
        let mut s = Source::samples(vec![5; 200]);
        assert_eq!(s.next_frame(), [5; FRAME_SAMPLES]);
        let second = s.next_frame();
        assert_eq!(second[39], 5);
        assert_eq!(second[40], 0);
    }
}
