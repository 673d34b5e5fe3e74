//! G.711 PCMU (µ-law) and PCMA (A-law) companding (ITU-T G.711), our own code: the segment
//! search is done with bit arithmetic, not tables copied from elsewhere.

/// µ-law bias added before the segment search (ITU-T G.711, 33 in 14-bit units = 0x84 in 16-bit).
const MU_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent after biasing (16-bit input).
const MU_CLIP: i32 = 32635;

/// One 16-bit linear sample to a µ-law byte.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign: u8 = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.unsigned_abs().min(MU_CLIP as u32) as i32 + MU_BIAS;
    // The segment is the position of the highest set bit above bit 7 (0..=7).
    let exponent = (31 - (magnitude as u32).leading_zeros())
        .saturating_sub(7)
        .min(7) as i32;
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    // G.711: all bits are inverted on the wire.
    !(sign | ((exponent as u8) << 4) | mantissa as u8)
}

/// One µ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + MU_BIAS) << exponent) - MU_BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// One 16-bit linear sample to an A-law byte.
pub fn linear_to_alaw(sample: i16) -> u8 {
    // A-law works on 13-bit magnitudes.
    let s = i32::from(sample) >> 3;
    let (sign, magnitude) = if s >= 0 {
        (0x80u8, s)
    } else {
        (0x00u8, (-s - 1).max(0))
    };
    let magnitude = magnitude.min(0x0FFF);
    let byte = if magnitude < 32 {
        (magnitude >> 1) as u8
    } else {
        let exponent = (31 - (magnitude as u32).leading_zeros()) as i32 - 4; // 1..=7
        let mantissa = (magnitude >> exponent) & 0x0F;
        ((exponent as u8) << 4) | mantissa as u8
    };
    // G.711: even bits are inverted on the wire (XOR 0x55).
    (byte | sign) ^ 0x55
}

/// One A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let positive = b & 0x80 != 0;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if positive {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// The two G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711 {
    /// PCMU, RTP payload type 0 (RFC 3551 §6).
    Ulaw,
    /// PCMA, RTP payload type 8 (RFC 3551 §6).
    Alaw,
}

impl G711 {
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Ulaw => 0,
            G711::Alaw => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            G711::Ulaw => "PCMU",
            G711::Alaw => "PCMA",
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<G711> {
        match pt {
            0 => Some(G711::Ulaw),
            8 => Some(G711::Alaw),
            _ => None,
        }
    }

    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            G711::Ulaw => samples.iter().map(|s| linear_to_ulaw(*s)).collect(),
            G711::Alaw => samples.iter().map(|s| linear_to_alaw(*s)).collect(),
        }
    }

    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            G711::Ulaw => bytes.iter().map(|b| ulaw_to_linear(*b)).collect(),
            G711::Alaw => bytes.iter().map(|b| alaw_to_linear(*b)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_code_points() {
        // G.711: zero encodes to 0xFF, full-scale negative to 0x00, full-scale positive to 0x80.
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
    }

    #[test]
    fn alaw_known_code_points() {
        // G.711 A-law: the smallest positive step is 0xD5, the smallest negative 0x55.
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-8), 0x55);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn every_code_decodes_and_reencodes_to_itself() {
        for b in 0..=255u8 {
            // µ-law has two zeros (0xFF and 0x7F); both decode to 0, which encodes as 0xFF.
            let expected = if b == 0x7F { 0xFF } else { b };
            assert_eq!(linear_to_ulaw(ulaw_to_linear(b)), expected, "ulaw {b:#x}");
            // A-law has no negative zero ambiguity: every code round-trips too.
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "alaw {b:#x}");
        }
    }

    #[test]
    fn quantisation_error_is_bounded() {
        for s in (-32000i32..32000).step_by(97) {
            let s = s as i16;
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(s)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(s)));
            // Relative error of a logarithmic code stays within about 1/16 of the value.
            let bound = (i32::from(s).abs() / 16).max(16);
            assert!((u - i32::from(s)).abs() <= bound, "ulaw {s} -> {u}");
            assert!((a - i32::from(s)).abs() <= bound, "alaw {s} -> {a}");
        }
    }
}
