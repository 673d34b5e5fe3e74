//! The audio between a call's 8 kHz world (sources, `--record`, `CallOutcome::recorded`,
//! `--echo`) and the negotiated codec: resampling to and from the codec's rate, encoding,
//! decoding, and concealment of lost packets.
//!
//! Sources and recordings stay at 8 kHz (the WAV files and the tone checks of the tests are
//! 8 kHz mono): a wideband codec carries them unchanged, and what arrives is resampled back
//! to 8 kHz, losing the band above 4 kHz that G.722 and Opus could carry.

use super::codec::{AudioDecoder, AudioEncoder, CodecError, CodecKind, CodecSpec};
use super::resample::{ResampleError, Resampler};

/// The rate of sources and recordings.
pub const LOCAL_RATE: u32 = 8000;

/// Longest run of missing packets that is concealed frame by frame; a longer gap (a peer
/// that paused, a sequence jump) is skipped: after 100 ms the fade-out is silence anyway.
const MAX_CONCEALED_RUN: u16 = 5;

/// A codec could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CodecPathError {
    /// The codec refused to start.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// No resampler between 8 kHz and the codec's rate.
    #[error(transparent)]
    Resample(#[from] ResampleError),
}

/// 8 kHz frames in, RTP payloads out.
pub struct SendPath {
    spec: CodecSpec,
    encoder: Box<dyn AudioEncoder>,
    up: Resampler,
}

impl std::fmt::Debug for SendPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendPath")
            .field("spec", &self.spec)
            .finish()
    }
}

impl SendPath {
    /// An encoder for `spec` (whose Opus parameters are the peer's wishes, RFC 7587 §7).
    pub fn new(spec: &CodecSpec) -> Result<SendPath, CodecPathError> {
        Ok(SendPath {
            spec: spec.clone(),
            encoder: spec.build()?.encoder,
            up: Resampler::new(LOCAL_RATE, spec.kind.sample_rate())?,
        })
    }

    /// The codec and payload type sent.
    pub fn spec(&self) -> &CodecSpec {
        &self.spec
    }

    /// One 20 ms frame at 8 kHz to a payload. Empty: nothing to send (Opus DTX), or the
    /// resampler is still filling (never with whole 20 ms frames).
    pub fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, CodecError> {
        let samples = self.up.process(frame);
        if samples.len() != self.spec.kind.frame_samples() {
            return Ok(Vec::new());
        }
        self.encoder.encode(&samples)
    }
}

/// What one received packet gave: 8 kHz audio (concealed frames first) and how many frames
/// were made up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// 8 kHz samples to record or echo.
    pub samples: Vec<i16>,
    /// Frames of lost packets made up by packet-loss concealment.
    pub concealed: u64,
    /// Frames of lost packets recovered from Opus in-band FEC in this packet.
    pub fec: u64,
}

/// The decoder of the payload type that arrives, with its way back to 8 kHz.
struct Active {
    payload_type: u8,
    kind: CodecKind,
    decoder: Box<dyn AudioDecoder>,
    down: Resampler,
}

/// RTP payloads in, 8 kHz audio out, with concealment of sequence gaps.
pub struct ReceivePath {
    /// Every audio format the stream negotiated: RFC 3264 §6.1 lets the peer send any of
    /// them, so the decoder follows the payload type that arrives.
    formats: Vec<CodecSpec>,
    active: Option<Active>,
    /// The last sequence number seen (audio or RFC 4733: one sequence space).
    last_seq: Option<u16>,
}

impl std::fmt::Debug for ReceivePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivePath")
            .field("formats", &self.formats)
            .field("last_seq", &self.last_seq)
            .finish()
    }
}

impl ReceivePath {
    /// A receiver of `formats` (payload type and codec each).
    pub fn new(formats: Vec<CodecSpec>) -> ReceivePath {
        ReceivePath {
            formats,
            active: None,
            last_seq: None,
        }
    }

    /// The formats of a new offer/answer. The running decoder stays while its payload type
    /// keeps its codec; otherwise the next packet starts another.
    pub fn set_formats(&mut self, formats: Vec<CodecSpec>) {
        let keep = self.active.as_ref().is_some_and(|a| {
            formats
                .iter()
                .any(|f| f.payload_type == a.payload_type && f.kind == a.kind)
        });
        if !keep {
            self.active = None;
        }
        self.formats = formats;
    }

    /// The RTP clock rate of the codec last received, if audio arrived.
    pub fn clock_rate(&self) -> Option<u32> {
        self.active.as_ref().map(|a| a.kind.clock_rate())
    }

    /// A telephone-event packet: it takes its place in the sequence, so the gap check of
    /// the next audio packet does not count it as lost.
    pub fn on_event_sequence(&mut self, seq: u16) {
        if self.is_new(seq).is_some() {
            self.last_seq = Some(seq);
        }
    }

    /// Packets missing before `seq`: `Some(n)` for a packet ahead of the last one (n lost in
    /// between, RFC 3550 A.1's modular arithmetic), `None` for a duplicate or a late one.
    fn is_new(&self, seq: u16) -> Option<u16> {
        let Some(last) = self.last_seq else {
            return Some(0);
        };
        let delta = seq.wrapping_sub(last);
        // Half the sequence space ahead counts as ahead; behind is late or duplicate.
        (delta != 0 && delta < 0x8000).then(|| delta - 1)
    }

    /// One audio packet. `None`: a payload type that is not one of the stream's codecs, a
    /// duplicate or a late packet (played out of turn it would only be noise), or a codec
    /// error (the packet is dropped, the stream goes on).
    pub fn on_packet(&mut self, payload_type: u8, seq: u16, payload: &[u8]) -> Option<Decoded> {
        let spec = self
            .formats
            .iter()
            .find(|f| f.payload_type == payload_type)?;
        let missing = self.is_new(seq)?;
        self.last_seq = Some(seq);
        if self
            .active
            .as_ref()
            .is_none_or(|a| a.payload_type != payload_type)
        {
            // A new codec (or the first packet): its own decoder state; no concealment
            // across a switch.
            match Self::start(spec) {
                Ok(active) => self.active = Some(active),
                Err(e) => {
                    tracing::warn!("cannot decode {}: {e}", spec.kind);
                    return None;
                }
            }
        }
        let active = self.active.as_mut()?;
        let mut out = Decoded::default();
        let mut codec_rate = Vec::new();
        if missing > 0 && missing <= MAX_CONCEALED_RUN {
            for i in 0..missing {
                // RFC 7587 §3.1.2: the frame just before this packet can come back from the
                // in-band FEC this packet carries (our fmtp asked for it); earlier ones, or
                // codecs without FEC, are concealed.
                let next = (i + 1 == missing && active.kind == CodecKind::Opus).then_some(payload);
                match active.decoder.conceal(next) {
                    Ok(frame) => codec_rate.extend(frame),
                    Err(e) => tracing::debug!("concealment failed: {e}"),
                }
                if next.is_some() {
                    out.fec += 1;
                } else {
                    out.concealed += 1;
                }
            }
        }
        match active.decoder.decode(payload) {
            Ok(frame) => codec_rate.extend(frame),
            Err(e) => {
                tracing::debug!("undecodable {} packet: {e}", active.kind);
                return None;
            }
        }
        out.samples = active.down.process(&codec_rate);
        Some(out)
    }

    fn start(spec: &CodecSpec) -> Result<Active, CodecPathError> {
        Ok(Active {
            payload_type: spec.payload_type,
            kind: spec.kind,
            decoder: spec.build()?.decoder,
            down: Resampler::new(spec.kind.sample_rate(), LOCAL_RATE)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::goertzel::tone_ratio;
    use crate::media::source::Source;

    fn round_trip(kind: CodecKind, lose: impl Fn(u16) -> bool) -> (Vec<i16>, u64, u64) {
        let spec = CodecSpec::new(kind, 111);
        let mut tx = SendPath::new(&spec).unwrap();
        let mut rx = ReceivePath::new(vec![spec]);
        let mut src = Source::tone(1000.0);
        let (mut out, mut concealed, mut fec) = (Vec::new(), 0, 0);
        for seq in 0..100u16 {
            let payload = tx.encode(&src.next_frame()).unwrap();
            assert!(
                !payload.is_empty(),
                "{kind}: whole frames always give a payload"
            );
            if lose(seq) {
                continue;
            }
            let d = rx.on_packet(spec_pt(kind), seq, &payload).unwrap();
            out.extend(d.samples);
            concealed += d.concealed;
            fec += d.fec;
        }
        (out, concealed, fec)
    }

    fn spec_pt(kind: CodecKind) -> u8 {
        kind.static_payload_type().unwrap_or(111)
    }

    #[test]
    fn every_codec_carries_an_8k_tone_back_to_8k() {
        for kind in CodecKind::ALL {
            let (out, concealed, fec) = round_trip(kind, |_| false);
            // 100 frames in, 100 out (the resamplers' delay is inside the stream).
            assert_eq!(out.len(), 100 * 160, "{kind}");
            assert_eq!((concealed, fec), (0, 0));
            let ratio = tone_ratio(&out[1600..], 1000.0, 8000.0);
            assert!(ratio > 0.9, "{kind}: {ratio}");
        }
    }

    #[test]
    fn gaps_are_concealed_and_opus_recovers_the_last_frame_from_fec() {
        // Every tenth packet lost: each gap is one frame.
        let (out, concealed, fec) = round_trip(CodecKind::G722, |s| s % 10 == 5);
        assert_eq!((concealed, fec), (10, 0));
        assert_eq!(out.len(), 100 * 160, "concealed frames keep the timeline");
        let (out, concealed, fec) = round_trip(CodecKind::Opus, |s| s % 10 == 5);
        assert_eq!((concealed, fec), (0, 10), "one-packet gaps come from FEC");
        assert_eq!(out.len(), 100 * 160);
        assert!(tone_ratio(&out[1600..], 1000.0, 8000.0) > 0.8);
        // Two in a row: the first is concealed, the second recovered.
        let (_, concealed, fec) = round_trip(CodecKind::Opus, |s| s == 40 || s == 41);
        assert_eq!((concealed, fec), (1, 1));
    }

    #[test]
    fn duplicates_late_packets_and_unknown_types_are_dropped() {
        let spec = CodecSpec::new(CodecKind::Pcmu, 0);
        let mut tx = SendPath::new(&spec).unwrap();
        let mut rx = ReceivePath::new(vec![spec]);
        let p = tx.encode(&[0; 160]).unwrap();
        assert!(rx.on_packet(0, 10, &p).is_some());
        assert!(rx.on_packet(0, 10, &p).is_none(), "duplicate");
        assert!(rx.on_packet(0, 9, &p).is_none(), "late");
        assert!(rx.on_packet(8, 11, &p).is_none(), "PCMA was not negotiated");
        // An event packet in between is no loss; the wrap from 65535 to 0 is no loss.
        rx.on_event_sequence(11);
        assert_eq!(rx.on_packet(0, 12, &p).unwrap().concealed, 0);
        let mut rx = ReceivePath::new(vec![CodecSpec::new(CodecKind::Pcmu, 0)]);
        rx.on_packet(0, 65535, &p).unwrap();
        assert_eq!(rx.on_packet(0, 0, &p).unwrap().concealed, 0);
        // A long jump is skipped, not concealed for seconds.
        assert_eq!(rx.on_packet(0, 1000, &p).unwrap().concealed, 0);
    }

    #[test]
    fn the_decoder_follows_the_payload_type_that_arrives() {
        let pcmu = CodecSpec::new(CodecKind::Pcmu, 0);
        let g722 = CodecSpec::new(CodecKind::G722, 0);
        let mut rx = ReceivePath::new(vec![pcmu.clone(), g722.clone()]);
        let mut tx_u = SendPath::new(&pcmu).unwrap();
        let mut tx_g = SendPath::new(&g722).unwrap();
        rx.on_packet(0, 1, &tx_u.encode(&[0; 160]).unwrap())
            .unwrap();
        assert_eq!(rx.clock_rate(), Some(8000));
        let d = rx
            .on_packet(9, 2, &tx_g.encode(&[0; 160]).unwrap())
            .unwrap();
        assert_eq!(d.samples.len(), 160);
    }

    /// A tone whose level rises and falls four times a second, like syllables, at 8 kHz:
    /// SILK adds in-band FEC to active (speech-like) frames only, and learns a steady tone
    /// as background noise within a second.
    pub(crate) fn syllables(freq: f64, seconds: u32) -> Vec<i16> {
        use std::f64::consts::PI;
        (0..8000 * seconds)
            .map(|n| {
                let t = f64::from(n) / 8000.0;
                let level = 0.6 + 0.4 * (2.0 * PI * 4.0 * t).sin();
                (10000.0 * level * (2.0 * PI * freq * t).sin()) as i16
            })
            .collect()
    }

    /// Squared error of the received audio against the same stream without loss, every
    /// tenth packet lost, with the peer's encoder adding FEC or not.
    fn error_under_loss(peer_fec: bool) -> (f64, u64, u64) {
        let mut spec = CodecSpec::new(CodecKind::Opus, 111);
        spec.opus.inband_fec = peer_fec;
        let mut tx = SendPath::new(&spec).unwrap();
        let mut clean = ReceivePath::new(vec![spec.clone()]);
        let mut lossy = ReceivePath::new(vec![spec]);
        let mut src = Source::samples(syllables(500.0, 6));
        let (mut reference, mut out, mut concealed, mut fec) = (Vec::new(), Vec::new(), 0, 0);
        for seq in 0..300u16 {
            let payload = tx.encode(&src.next_frame()).unwrap();
            reference.extend(clean.on_packet(111, seq, &payload).unwrap().samples);
            if seq % 10 == 5 {
                continue;
            }
            let d = lossy.on_packet(111, seq, &payload).unwrap();
            out.extend(d.samples);
            concealed += d.concealed;
            fec += d.fec;
        }
        assert_eq!(out.len(), reference.len(), "the timeline is kept");
        let err = reference
            .iter()
            .zip(&out)
            .map(|(r, o)| (f64::from(*r) - f64::from(*o)).powi(2))
            .sum();
        (err, concealed, fec)
    }

    #[test]
    fn in_band_fec_brings_lost_frames_closer_than_plc() {
        let (with_fec, concealed, fec) = error_under_loss(true);
        // Every gap is one packet: decoded from the next packet's FEC data.
        assert_eq!((concealed, fec), (0, 30));
        // A peer that adds no FEC: libopus falls back to its PLC for those frames.
        let (plc_only, _, _) = error_under_loss(false);
        assert!(
            with_fec < plc_only * 0.5,
            "FEC error {with_fec:.3e} vs PLC {plc_only:.3e}"
        );
    }
}
