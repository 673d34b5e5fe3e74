//! Audio codecs behind one interface (issue 18): PCMU and PCMA (our `g711` module), G.722 and
//! Opus, each with its RTP clock rate, audio sample rate, 20 ms frame, payload type and SDP
//! `rtpmap`/`fmtp` text, plus codec choice against a peer's list (`negotiate`).
//!
//! Crates, and why:
//! - Opus: the `opus` crate (0.3), safe bindings to the reference libopus, linked to Debian's
//!   `libopus-dev` through pkg-config (audiopus_sys). Version 0.4 bundles and builds its own
//!   libopus with CMake instead; the system library is patched by the distribution and builds
//!   in no time.
//! - G.722: `audio-codec` (pure Rust, MIT, actively released), only its G.722 part is used
//!   (default features off, so its Opus and G.729 code is not built). `ezk-g722` drags in the
//!   ezk media framework, and `spandsp` needs the spandsp C library built from source.
//!
//! Calls use them through `media::session` (the codec the offer/answer chose).

mod g711;
mod g722;
pub mod negotiate;
mod opus;

pub use self::opus::OpusParams;
pub use negotiate::{negotiate, RemoteCodec};

use std::fmt;

/// Every codec is packetised in 20 ms frames (RFC 3551 §4.5 default `ptime`; RFC 7587 §4.1
/// recommends 20 ms for Opus too).
pub const FRAME_MS: u32 = 20;

/// The codecs we can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// G.711 µ-law, static payload type 0 (RFC 3551 §6).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551 §6).
    Pcma,
    /// G.722 wideband ADPCM, static payload type 9 (RFC 3551 §4.5.2).
    G722,
    /// Opus (RFC 7587), always a dynamic payload type.
    Opus,
}

impl CodecKind {
    /// All codecs, in a sensible default preference: wideband first, G.711 as the fallback
    /// every SIP peer has.
    pub const ALL: [CodecKind; 4] = [
        CodecKind::Opus,
        CodecKind::G722,
        CodecKind::Pcmu,
        CodecKind::Pcma,
    ];

    /// What a call offers without `--codecs`: G.711 only, as before codecs came in, so that
    /// a plain phone keeps its behaviour.
    pub const DEFAULT_CALL: [CodecKind; 2] = [CodecKind::Pcmu, CodecKind::Pcma];

    /// The encoding name as written in `a=rtpmap` (compared case-insensitively, RFC 4566 §6).
    pub fn encoding_name(self) -> &'static str {
        match self {
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
            CodecKind::G722 => "G722",
            CodecKind::Opus => "opus",
        }
    }

    /// The name a user types in `--codecs` (lower case).
    pub fn from_name(name: &str) -> Option<CodecKind> {
        CodecKind::ALL
            .into_iter()
            .find(|k| k.encoding_name().eq_ignore_ascii_case(name))
    }

    /// The static payload type from RFC 3551 §6, or `None` for a dynamic one (96–127).
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
            CodecKind::G722 => Some(9),
            CodecKind::Opus => None,
        }
    }

    /// The RTP timestamp rate. G.722 says 8000 although it samples at 16 kHz, an error in
    /// the original RFC 1890 kept for compatibility (RFC 3551 §4.5.2); Opus always says 48000
    /// whatever its internal rate (RFC 7587 §4.1).
    pub fn clock_rate(self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => 8000,
            CodecKind::Opus => 48000,
        }
    }

    /// The rate of the audio samples the encoder takes and the decoder gives.
    pub fn sample_rate(self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma => 8000,
            CodecKind::G722 => 16000,
            CodecKind::Opus => 48000,
        }
    }

    /// The channel count written in `a=rtpmap`: Opus always says 2 (RFC 7587 §7), even for
    /// mono streams; the others write none.
    pub fn rtpmap_channels(self) -> Option<u8> {
        match self {
            CodecKind::Opus => Some(2),
            _ => None,
        }
    }

    /// Samples per 20 ms frame at `sample_rate()` (mono).
    pub fn frame_samples(self) -> usize {
        (self.sample_rate() * FRAME_MS / 1000) as usize
    }

    /// RTP timestamp increment per 20 ms frame, at `clock_rate()`: 160 for G.722 although a
    /// frame holds 320 samples (RFC 3551 §4.5.2).
    pub fn timestamp_step(self) -> u32 {
        self.clock_rate() * FRAME_MS / 1000
    }
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding_name())
    }
}

/// One codec as used on one RTP stream: which codec, under which payload type, with which
/// Opus parameters (for an offer: what we ask of the peer's sender; once negotiated: what the
/// peer asked of ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecSpec {
    /// The codec.
    pub kind: CodecKind,
    /// RTP payload type: the static one, or a dynamic one (96–127) named in the SDP.
    pub payload_type: u8,
    /// Opus `fmtp` parameters; ignored by the other codecs.
    pub opus: OpusParams,
}

impl CodecSpec {
    /// A codec under its static payload type, or `dynamic_pt` when it has none.
    pub fn new(kind: CodecKind, dynamic_pt: u8) -> CodecSpec {
        CodecSpec {
            kind,
            payload_type: kind.static_payload_type().unwrap_or(dynamic_pt),
            opus: OpusParams::default(),
        }
    }

    /// The value of `a=rtpmap:` (RFC 4566 §6): `0 PCMU/8000`, `9 G722/8000`,
    /// `111 opus/48000/2`.
    pub fn rtpmap(&self) -> String {
        let k = self.kind;
        match k.rtpmap_channels() {
            Some(ch) => format!(
                "{} {}/{}/{}",
                self.payload_type,
                k.encoding_name(),
                k.clock_rate(),
                ch
            ),
            None => format!(
                "{} {}/{}",
                self.payload_type,
                k.encoding_name(),
                k.clock_rate()
            ),
        }
    }

    /// The value of `a=fmtp:`, if the codec has parameters (only Opus, RFC 7587 §6.1).
    pub fn fmtp(&self) -> Option<String> {
        match self.kind {
            CodecKind::Opus => Some(format!("{} {}", self.payload_type, self.opus.fmtp())),
            _ => None,
        }
    }

    /// A fresh encoder/decoder pair for this stream.
    pub fn build(&self) -> Result<Codec, CodecError> {
        let (encoder, decoder): (Box<dyn AudioEncoder>, Box<dyn AudioDecoder>) = match self.kind {
            CodecKind::Pcmu => (
                Box::new(g711::Encoder(crate::media::g711::G711::Ulaw)),
                Box::new(g711::Decoder::new(crate::media::g711::G711::Ulaw)),
            ),
            CodecKind::Pcma => (
                Box::new(g711::Encoder(crate::media::g711::G711::Alaw)),
                Box::new(g711::Decoder::new(crate::media::g711::G711::Alaw)),
            ),
            CodecKind::G722 => (
                Box::new(g722::Encoder::new()),
                Box::new(g722::Decoder::new()),
            ),
            CodecKind::Opus => (
                Box::new(opus::Encoder::new(&self.opus)?),
                Box::new(opus::Decoder::new()?),
            ),
        };
        Ok(Codec {
            spec: self.clone(),
            encoder,
            decoder,
        })
    }
}

/// A codec failed to start or to code a frame (only libopus reports errors).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// libopus refused a call.
    #[error("opus: {0}")]
    Opus(#[from] ::opus::Error),
    /// A frame of the wrong length was given to an encoder.
    #[error("frame of {got} samples, the codec takes {want}")]
    FrameLength {
        /// Samples given.
        got: usize,
        /// Samples per frame the codec takes.
        want: usize,
    },
}

/// Every encoder takes exactly one 20 ms frame of `want` samples.
pub(super) fn check_frame(frame: &[i16], want: usize) -> Result<(), CodecError> {
    if frame.len() == want {
        Ok(())
    } else {
        Err(CodecError::FrameLength {
            got: frame.len(),
            want,
        })
    }
}

/// Turns 20 ms frames of mono samples (at the codec's `sample_rate`) into RTP payloads.
pub trait AudioEncoder: Send {
    /// One frame of `CodecKind::frame_samples()` samples to one payload. An empty payload
    /// means "send nothing" (Opus DTX during silence, RFC 7587 §3.1.3).
    fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, CodecError>;
}

/// Turns RTP payloads back into 20 ms frames, and conceals frames that did not arrive.
pub trait AudioDecoder: Send {
    /// One received payload to samples (one frame for our 20 ms packets).
    fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, CodecError>;

    /// One frame for a packet that never arrived (or arrived too late). `next` is the payload
    /// after the gap when the jitter buffer already holds it: Opus recovers the lost frame
    /// from the in-band FEC data it carries (RFC 7587 §3.1.2); without it, or for the other
    /// codecs, the decoder makes something up (packet-loss concealment). The caller still
    /// decodes `next` normally on its own turn.
    fn conceal(&mut self, next: Option<&[u8]>) -> Result<Vec<i16>, CodecError>;
}

/// An encoder/decoder pair with its description.
pub struct Codec {
    /// What this codec is and how it is signalled.
    pub spec: CodecSpec,
    /// The sending half.
    pub encoder: Box<dyn AudioEncoder>,
    /// The receiving half.
    pub decoder: Box<dyn AudioDecoder>,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec").field("spec", &self.spec).finish()
    }
}

/// Repeat-and-fade concealment for codecs with no PLC of their own (G.711 Appendix I does
/// better with pitch repetition; this is the simple form): the last good frame is replayed,
/// each further loss at half the previous level, then silence, so a burst fades out instead
/// of buzzing.
#[derive(Debug, Clone, Default)]
pub(crate) struct RepeatFade {
    last: Vec<i16>,
    losses: u32,
}

impl RepeatFade {
    /// After this many consecutive losses the output is silence.
    const MAX_REPEATS: u32 = 4;

    /// Remember a good frame (and end any fade).
    pub(crate) fn good(&mut self, frame: &[i16]) {
        self.last.clear();
        self.last.extend_from_slice(frame);
        self.losses = 0;
    }

    /// The frame to play for a loss, `frame_samples` long.
    pub(crate) fn conceal(&mut self, frame_samples: usize) -> Vec<i16> {
        self.losses += 1;
        if self.last.len() != frame_samples || self.losses > Self::MAX_REPEATS {
            return vec![0; frame_samples];
        }
        let shift = self.losses - 1;
        self.last.iter().map(|s| s >> shift).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::goertzel::tone_ratio;

    /// `frames` frames of a `freq` Hz tone at `rate`, about −10 dBFS, continuous across frames.
    pub(crate) fn tone_frames(freq: f64, rate: u32, frame: usize, frames: usize) -> Vec<Vec<i16>> {
        let step = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        (0..frames)
            .map(|f| {
                (0..frame)
                    .map(|i| (10000.0 * (step * (f * frame + i) as f64).sin()) as i16)
                    .collect()
            })
            .collect()
    }

    /// Encode and decode a 1 kHz tone through `kind`; the decoded tone (past the codec's
    /// start-up) must hold most of the energy at 1 kHz.
    fn tone_survives(kind: CodecKind) -> f64 {
        let mut codec = CodecSpec::new(kind, 111).build().unwrap();
        let rate = kind.sample_rate();
        let mut out = Vec::new();
        for frame in tone_frames(1000.0, rate, kind.frame_samples(), 50) {
            assert_eq!(frame.len(), kind.frame_samples());
            let payload = codec.encoder.encode(&frame).unwrap();
            assert!(!payload.is_empty(), "{kind}: a tone is never DTX");
            let decoded = codec.decoder.decode(&payload).unwrap();
            assert_eq!(decoded.len(), kind.frame_samples(), "{kind}");
            out.extend(decoded);
        }
        // Skip the first 100 ms: codec delay and adaptation.
        let skip = kind.frame_samples() * 5;
        tone_ratio(&out[skip..], 1000.0, f64::from(rate))
    }

    #[test]
    fn every_codec_carries_a_tone() {
        for kind in CodecKind::ALL {
            let ratio = tone_survives(kind);
            assert!(ratio > 0.9, "{kind}: 1 kHz ratio {ratio}");
        }
    }

    #[test]
    fn frame_sizes_and_rtp_clocks() {
        // RFC 3551 §4.5.2: G.722 frames hold 320 samples at 16 kHz but advance RTP by 160.
        assert_eq!(CodecKind::G722.frame_samples(), 320);
        assert_eq!(CodecKind::G722.timestamp_step(), 160);
        assert_eq!(CodecKind::G722.clock_rate(), 8000);
        assert_eq!(CodecKind::Pcmu.frame_samples(), 160);
        assert_eq!(CodecKind::Pcmu.timestamp_step(), 160);
        // RFC 7587 §4.1: 48 kHz RTP clock.
        assert_eq!(CodecKind::Opus.frame_samples(), 960);
        assert_eq!(CodecKind::Opus.timestamp_step(), 960);
    }

    #[test]
    fn sdp_text() {
        let g722 = CodecSpec::new(CodecKind::G722, 100);
        assert_eq!(g722.payload_type, 9, "static payload type wins");
        assert_eq!(g722.rtpmap(), "9 G722/8000");
        assert_eq!(g722.fmtp(), None);
        assert_eq!(CodecSpec::new(CodecKind::Pcma, 100).rtpmap(), "8 PCMA/8000");
        let opus = CodecSpec::new(CodecKind::Opus, 111);
        assert_eq!(opus.rtpmap(), "111 opus/48000/2");
        assert_eq!(
            opus.fmtp().as_deref(),
            Some("111 maxplaybackrate=48000;useinbandfec=1;usedtx=0")
        );
        assert_eq!(CodecKind::from_name("g722"), Some(CodecKind::G722));
        assert_eq!(CodecKind::from_name("OPUS"), Some(CodecKind::Opus));
        assert_eq!(CodecKind::from_name("gsm"), None);
    }

    #[test]
    fn wrong_frame_length_is_refused() {
        for kind in CodecKind::ALL {
            let mut codec = CodecSpec::new(kind, 111).build().unwrap();
            assert!(
                matches!(
                    codec.encoder.encode(&[0; 7]),
                    Err(CodecError::FrameLength { got: 7, .. })
                ),
                "{kind}"
            );
        }
    }

    #[test]
    fn repeat_and_fade() {
        let mut plc = RepeatFade::default();
        assert_eq!(plc.conceal(4), vec![0; 4], "nothing to repeat yet");
        plc.good(&[800, -800, 400, 0]);
        assert_eq!(plc.conceal(4), vec![800, -800, 400, 0]);
        assert_eq!(plc.conceal(4), vec![400, -400, 200, 0]);
        assert_eq!(plc.conceal(4), vec![200, -200, 100, 0]);
        assert_eq!(plc.conceal(4), vec![100, -100, 50, 0]);
        assert_eq!(plc.conceal(4), vec![0; 4], "a long burst goes silent");
        plc.good(&[8, 8, 8, 8]);
        assert_eq!(plc.conceal(4), vec![8; 4], "a good frame ends the fade");
    }
}
