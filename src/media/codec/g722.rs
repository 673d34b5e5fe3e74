//! G.722 (ITU-T G.722, 64 kbit/s mode 1) through the `Codec` interface, using the pure-Rust
//! coder of the `audio-codec` crate. 16 kHz audio, 320 samples → 160 bytes per 20 ms; the RTP
//! clock still counts 8000 per second (RFC 3551 §4.5.2, handled by `CodecKind`).

use super::{AudioDecoder, AudioEncoder, CodecError, RepeatFade};
use audio_codec::g722::{G722Decoder, G722Encoder};
// The crate's traits, renamed so they do not clash with ours.
use audio_codec::{Decoder as _, Encoder as _};

/// Samples in a 20 ms G.722 frame (16 kHz).
const FRAME: usize = 320;

/// G.722 encoder (64 kbit/s, unpacked: one byte per pair of samples, RFC 3551 §4.5.2).
pub(super) struct Encoder(G722Encoder);

impl Encoder {
    pub(super) fn new() -> Encoder {
        Encoder(G722Encoder::new())
    }
}

impl AudioEncoder for Encoder {
    fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, CodecError> {
        super::check_frame(frame, FRAME)?;
        Ok(self.0.encode(frame))
    }
}

/// G.722 decoder. G.722 itself has no PLC (its Appendix III/IV ones are separate
/// algorithms), so losses are repeated and faded; the ADPCM state then resynchronises by
/// itself within a few milliseconds of good data.
pub(super) struct Decoder {
    inner: G722Decoder,
    plc: RepeatFade,
}

impl Decoder {
    pub(super) fn new() -> Decoder {
        Decoder {
            inner: G722Decoder::new(),
            plc: RepeatFade::default(),
        }
    }
}

impl AudioDecoder for Decoder {
    fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, CodecError> {
        let samples = self.inner.decode(payload);
        self.plc.good(&samples);
        Ok(samples)
    }

    fn conceal(&mut self, _next: Option<&[u8]>) -> Result<Vec<i16>, CodecError> {
        Ok(self.plc.conceal(FRAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::tests::tone_frames;
    use crate::media::goertzel::tone_ratio;

    /// Signal-to-noise ratio in dB of `decoded` against `reference`, best alignment over the
    /// codec's delay (the QMF filter banks delay the signal by a few tens of samples).
    fn snr_db(reference: &[i16], decoded: &[i16]) -> f64 {
        (0..64)
            .map(|delay| {
                let (mut sig, mut noise) = (0.0f64, 0.0f64);
                for (r, d) in reference.iter().zip(&decoded[delay..]) {
                    let (r, d) = (f64::from(*r), f64::from(*d));
                    sig += r * r;
                    noise += (r - d) * (r - d);
                }
                10.0 * (sig / noise.max(1.0)).log10()
            })
            .fold(f64::MIN, f64::max)
    }

    #[test]
    fn wideband_tones_round_trip_with_good_snr() {
        // G.722 codes 50–7000 Hz: a 440 Hz tone (lower band) and a 5 kHz tone (upper band,
        // which G.711 at 8 kHz cannot carry at all) both come back clean.
        for freq in [440.0, 5000.0] {
            let mut enc = Encoder::new();
            let mut dec = Decoder::new();
            let frames = tone_frames(freq, 16000, FRAME, 50);
            let mut input = Vec::new();
            let mut output = Vec::new();
            for frame in &frames {
                let payload = enc.encode(frame).unwrap();
                assert_eq!(payload.len(), 160, "64 kbit/s: 160 bytes per 20 ms");
                input.extend_from_slice(frame);
                output.extend(dec.decode(&payload).unwrap());
            }
            // Past the first 100 ms of ADPCM adaptation.
            let (input, output) = (&input[1600..15000], &output[1600..]);
            let snr = snr_db(input, output);
            assert!(snr > 20.0, "{freq} Hz: SNR {snr:.1} dB");
            assert!(tone_ratio(output, freq, 16000.0) > 0.95, "{freq} Hz");
        }
    }

    #[test]
    fn loss_is_repeated_then_decoding_recovers() {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let frames = tone_frames(1000.0, 16000, FRAME, 30);
        let mut out = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let payload = enc.encode(frame).unwrap();
            if i == 15 {
                let concealed = dec.conceal(None).unwrap();
                assert_eq!(concealed.len(), FRAME);
                assert!(
                    concealed.iter().any(|s| *s != 0),
                    "the last frame is repeated"
                );
                out.extend(concealed);
            } else {
                out.extend(dec.decode(&payload).unwrap());
            }
        }
        // The frames after the loss still carry the tone.
        assert!(tone_ratio(&out[16 * FRAME..], 1000.0, 16000.0) > 0.9);
    }
}
