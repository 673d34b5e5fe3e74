//! Opus (RFC 6716) in RTP (RFC 7587) through the `Codec` interface, on libopus via the `opus`
//! crate: mono 48 kHz, 20 ms frames, in-band FEC and DTX as the peer asks in its `fmtp`.

use super::{AudioDecoder, AudioEncoder, CodecError};
use ::opus::{Application, Bandwidth, Bitrate, Channels, Signal};

/// Samples in a 20 ms frame at 48 kHz.
const FRAME: usize = 960;
/// Largest Opus packet we let the encoder write (RFC 6716 §3.2.1 caps a frame at 1275 bytes).
const MAX_PACKET: usize = 1275;

/// Opus `fmtp` parameters (RFC 7587 §6.1). In our offer they say what we want the peer's
/// encoder to do; in the peer's answer, what it wants from ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusParams {
    /// `useinbandfec`: the receiver can use in-band FEC, so the sender should add it.
    pub inband_fec: bool,
    /// `usedtx`: the receiver accepts discontinuous transmission (nothing sent in silence).
    pub dtx: bool,
    /// `maxplaybackrate`: the highest audio rate the receiver renders; the sender need not
    /// code a wider band.
    pub max_playback_rate: u32,
    /// The packet loss (percent) the encoder plans its FEC for: libopus only adds FEC when
    /// this is above zero. Local tuning, not signalled.
    pub expected_loss_percent: u8,
}

impl Default for OpusParams {
    /// FEC on (RFC 7587 §3.1.2: it costs a little bitrate and saves lost speech), no DTX
    /// (some peers treat silence without packets as a dead stream), full band.
    fn default() -> Self {
        OpusParams {
            inband_fec: true,
            dtx: false,
            max_playback_rate: 48000,
            expected_loss_percent: 10,
        }
    }
}

impl OpusParams {
    /// The parameter list of `a=fmtp` (without the payload type).
    pub fn fmtp(&self) -> String {
        format!(
            "maxplaybackrate={};useinbandfec={};usedtx={}",
            self.max_playback_rate,
            u8::from(self.inband_fec),
            u8::from(self.dtx)
        )
    }

    /// Parameters from a peer's `a=fmtp` list. Absent parameters take the RFC 7587 §6.1
    /// defaults (no FEC, no DTX, 48000); unknown ones are ignored, as §6.1 requires.
    pub fn parse_fmtp(params: &str) -> OpusParams {
        let mut p = OpusParams {
            inband_fec: false,
            dtx: false,
            max_playback_rate: 48000,
            expected_loss_percent: OpusParams::default().expected_loss_percent,
        };
        for item in params.split(';') {
            let Some((key, value)) = item.trim().split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "useinbandfec" => p.inband_fec = value == "1",
                "usedtx" => p.dtx = value == "1",
                "maxplaybackrate" => {
                    if let Ok(rate) = value.parse::<u32>() {
                        p.max_playback_rate = rate.clamp(8000, 48000);
                    }
                }
                _ => {}
            }
        }
        p
    }

    /// The narrowest Opus bandwidth that covers `max_playback_rate` (RFC 7587 §7.1 maps the
    /// rate to NB/MB/WB/SWB/FB).
    fn bandwidth(&self) -> Bandwidth {
        match self.max_playback_rate {
            0..=8000 => Bandwidth::Narrowband,
            8001..=12000 => Bandwidth::Mediumband,
            12001..=16000 => Bandwidth::Wideband,
            16001..=24000 => Bandwidth::Superwideband,
            _ => Bandwidth::Fullband,
        }
    }
}

/// Opus encoder, mono at 48 kHz.
pub(super) struct Encoder(::opus::Encoder);

impl Encoder {
    pub(super) fn new(params: &OpusParams) -> Result<Encoder, CodecError> {
        let mut enc = ::opus::Encoder::new(48000, Channels::Mono, Application::Voip)?;
        // 32 kbit/s: wideband speech in SILK/hybrid mode, where in-band FEC works (FEC is a
        // SILK feature: CELT-only packets carry none).
        enc.set_bitrate(Bitrate::Bits(32000))?;
        // Speech: keeps libopus in SILK/hybrid (with FEC) even for tonal sounds, which its
        // signal classifier would otherwise take for music and code with CELT.
        enc.set_signal(Signal::Voice)?;
        enc.set_inband_fec(params.inband_fec)?;
        enc.set_packet_loss_perc(if params.inband_fec {
            i32::from(params.expected_loss_percent)
        } else {
            0
        })?;
        enc.set_dtx(params.dtx)?;
        // At most wideband (SILK only): 7 kHz is what speech needs, and at this bitrate
        // libopus drops in-band FEC in the wider hybrid modes (tested: with fullband, FEC
        // stopped helping after a second).
        let bandwidth = match params.bandwidth() {
            Bandwidth::Narrowband => Bandwidth::Narrowband,
            Bandwidth::Mediumband => Bandwidth::Mediumband,
            _ => Bandwidth::Wideband,
        };
        enc.set_max_bandwidth(bandwidth)?;
        Ok(Encoder(enc))
    }
}

impl AudioEncoder for Encoder {
    fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, CodecError> {
        super::check_frame(frame, FRAME)?;
        let packet = self.0.encode_vec(frame, MAX_PACKET)?;
        // With DTX, libopus writes 1–2 byte packets in silence; those need not be sent
        // (RFC 7587 §3.1.3), so say "nothing" and let the receiver conceal.
        if packet.len() <= 2 && self.0.get_dtx()? {
            return Ok(Vec::new());
        }
        Ok(packet)
    }
}

/// Opus decoder, mono at 48 kHz (a stereo stream is downmixed by libopus).
pub(super) struct Decoder(::opus::Decoder);

impl Decoder {
    pub(super) fn new() -> Result<Decoder, CodecError> {
        Ok(Decoder(::opus::Decoder::new(48000, Channels::Mono)?))
    }
}

impl AudioDecoder for Decoder {
    fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, CodecError> {
        // Up to 120 ms per packet (RFC 6716 §3.2.5), though we send 20 ms.
        let mut out = vec![0i16; FRAME * 6];
        let n = self.0.decode(payload, &mut out, false)?;
        out.truncate(n);
        Ok(out)
    }

    fn conceal(&mut self, next: Option<&[u8]>) -> Result<Vec<i16>, CodecError> {
        let mut out = vec![0i16; FRAME];
        match next {
            // The next packet's LBRR data is a coarse copy of this one (RFC 7587 §3.1.2);
            // decode_fec with exactly one frame of output asks libopus for it. A packet with
            // no FEC in it makes libopus fall back to PLC by itself.
            Some(next) => self.0.decode(next, &mut out, true)?,
            // Nothing to recover from: libopus extrapolates (its PLC).
            None => self.0.decode(&[], &mut out, false)?,
        };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::tests::tone_frames;
    use crate::media::goertzel::tone_ratio;
    use rand::{Rng, SeedableRng};

    #[test]
    fn fmtp_round_trip_and_defaults() {
        let ours = OpusParams::default();
        assert_eq!(
            OpusParams::parse_fmtp(&ours.fmtp()),
            ours,
            "what we write parses back"
        );
        // RFC 7587 §6.1: absent means no FEC, no DTX, 48 kHz.
        let empty = OpusParams::parse_fmtp("");
        assert!(!empty.inband_fec && !empty.dtx);
        assert_eq!(empty.max_playback_rate, 48000);
        let p =
            OpusParams::parse_fmtp("minptime=10; useinbandfec=1;usedtx=1;maxplaybackrate=16000");
        assert!(p.inband_fec && p.dtx);
        assert_eq!(p.max_playback_rate, 16000);
        assert_eq!(p.bandwidth(), Bandwidth::Wideband);
    }

    #[test]
    fn dtx_sends_nothing_in_silence() {
        let params = OpusParams {
            dtx: true,
            ..OpusParams::default()
        };
        let mut enc = Encoder::new(&params).unwrap();
        let silent = (0..50)
            .filter(|_| enc.encode(&[0; FRAME]).unwrap().is_empty())
            .count();
        assert!(silent > 30, "only {silent} of 50 silent frames suppressed");
        let mut plain = Encoder::new(&OpusParams::default()).unwrap();
        assert!((0..50).all(|_| !plain.encode(&[0; FRAME]).unwrap().is_empty()));
    }

    /// A 1 kHz tone whose level rises and falls four times a second, like syllables. A
    /// steady tone will not do: SILK's voice activity detector learns it as background
    /// noise within a second, and SILK adds FEC only to active (speech) frames.
    fn syllable_tone(frames: usize) -> Vec<Vec<i16>> {
        let step = 2.0 * std::f64::consts::PI * 1000.0 / 48000.0;
        let syllable = 2.0 * std::f64::consts::PI * 4.0 / 48000.0;
        (0..frames)
            .map(|f| {
                (f * FRAME..(f + 1) * FRAME)
                    .map(|n| {
                        let level = 0.6 + 0.4 * (syllable * n as f64).sin();
                        (12000.0 * level * (step * n as f64).sin()) as i16
                    })
                    .collect()
            })
            .collect()
    }

    /// Sends 10 s of `syllable_tone` with 10 % seeded random loss; returns the share of
    /// 100 ms windows in which the tone is still detected (Goertzel ratio > 0.5) and the
    /// mean ratio.
    fn tone_under_loss(use_fec: bool) -> (f64, f64) {
        let mut enc = Encoder::new(&OpusParams::default()).unwrap();
        let mut dec = Decoder::new().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(18);
        let packets: Vec<Vec<u8>> = syllable_tone(500)
            .iter()
            .map(|f| enc.encode(f).unwrap())
            .collect();
        let lost: Vec<bool> = (0..packets.len()).map(|_| rng.random_bool(0.1)).collect();
        assert!(
            lost.iter().filter(|l| **l).count() > 35,
            "the loss really happens"
        );
        let mut out = Vec::new();
        for i in 0..packets.len() {
            if lost[i] {
                // What a jitter buffer gives: the next packet, if it arrived.
                let next = match lost.get(i + 1) {
                    Some(false) if use_fec => Some(packets[i + 1].as_slice()),
                    _ => None,
                };
                out.extend(dec.conceal(next).unwrap());
            } else {
                out.extend(dec.decode(&packets[i]).unwrap());
            }
        }
        let windows: Vec<f64> = out
            .chunks(4800)
            .skip(1)
            .map(|w| tone_ratio(w, 1000.0, 48000.0))
            .collect();
        let detected = windows.iter().filter(|r| **r > 0.5).count() as f64;
        let mean = windows.iter().sum::<f64>() / windows.len() as f64;
        (detected / windows.len() as f64, mean)
    }

    #[test]
    fn fec_and_plc_keep_the_tone_at_ten_percent_loss() {
        let (with_fec, fec_mean) = tone_under_loss(true);
        let (plc_only, plc_mean) = tone_under_loss(false);
        assert!(
            with_fec >= 0.9,
            "tone in {:.0} % of windows",
            with_fec * 100.0
        );
        assert!(
            with_fec >= plc_only && fec_mean > plc_mean,
            "FEC {with_fec:.2}/{fec_mean:.3} should beat PLC alone {plc_only:.2}/{plc_mean:.3}"
        );
    }

    #[test]
    fn fec_recovers_the_lost_frame_better_than_plc() {
        // Measured on the lost frame itself: FEC's copy of a 1 kHz tone is the tone, PLC's
        // guess after a loss is weaker. Compare energy error against the original frame.
        let mut enc = Encoder::new(&OpusParams::default()).unwrap();
        let frames = tone_frames(1000.0, 48000, FRAME, 60);
        let packets: Vec<Vec<u8>> = frames.iter().map(|f| enc.encode(f).unwrap()).collect();
        let run = |fec: bool| {
            let mut dec = Decoder::new().unwrap();
            let mut err = 0.0f64;
            for (i, p) in packets.iter().enumerate() {
                if i % 10 == 5 && i > 10 {
                    let next = fec.then(|| packets[i + 1].as_slice());
                    let got = dec.conceal(next).unwrap();
                    // Opus delays its output a little; compare energy, not samples.
                    let e_got: f64 = got.iter().map(|s| f64::from(*s).powi(2)).sum();
                    let e_ref: f64 = frames[i].iter().map(|s| f64::from(*s).powi(2)).sum();
                    err += ((e_got - e_ref) / e_ref).abs();
                } else {
                    dec.decode(p).unwrap();
                }
            }
            err
        };
        let (fec, plc) = (run(true), run(false));
        assert!(fec < plc, "FEC energy error {fec:.3} vs PLC {plc:.3}");
    }
}
