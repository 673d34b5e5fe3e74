//! WAV (RIFF, 16-bit PCM, mono) reading and writing, our own code. Reading converts 16 kHz
//! to the 8 kHz G.711 needs.

use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum WavError {
    #[error("cannot read or write the WAV file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("WAV chunk `{0}` is truncated")]
    Truncated(String),
    #[error("no `fmt ` chunk before `data`")]
    NoFormat,
    #[error("unsupported WAV format: {0} (need 16-bit PCM, mono, 8000 or 16000 Hz)")]
    Unsupported(String),
}

/// Audio at 8 kHz, the rate G.711 carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio8k {
    pub samples: Vec<i16>,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
        *b.get(i + 2)?,
        *b.get(i + 3)?,
    ]))
}

/// Parses WAV bytes: 16-bit PCM mono at 8 or 16 kHz (16 kHz is halved by averaging pairs, a
/// crude low-pass that keeps telephone-band tones).
pub fn parse(bytes: &[u8]) -> Result<Audio8k, WavError> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(WavError::NotWave);
    }
    let mut offset = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while offset + 8 <= bytes.len() {
        let id = String::from_utf8_lossy(&bytes[offset..offset + 4]).into_owned();
        let size = u32_at(bytes, offset + 4).ok_or_else(|| WavError::Truncated(id.clone()))?;
        let start = offset + 8;
        let end = start
            .checked_add(size as usize)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| WavError::Truncated(id.clone()))?;
        let body = &bytes[start..end];
        match id.as_str() {
            "fmt " => {
                let tag = u16_at(body, 0).ok_or_else(|| WavError::Truncated(id.clone()))?;
                let channels = u16_at(body, 2).ok_or_else(|| WavError::Truncated(id.clone()))?;
                let rate = u32_at(body, 4).ok_or_else(|| WavError::Truncated(id.clone()))?;
                let bits = u16_at(body, 14).ok_or_else(|| WavError::Truncated(id.clone()))?;
                format = Some((tag, channels, rate, bits));
            }
            "data" => {
                let (tag, channels, rate, bits) = format.ok_or(WavError::NoFormat)?;
                // 1 = PCM; 0xFFFE = WAVE_FORMAT_EXTENSIBLE (assumed PCM here).
                if !(tag == 1 || tag == 0xFFFE) || channels != 1 || bits != 16 {
                    return Err(WavError::Unsupported(format!(
                        "format tag {tag}, {channels} channels, {bits} bits"
                    )));
                }
                let samples: Vec<i16> = body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
                let samples = match rate {
                    8000 => samples,
                    16000 => samples
                        .chunks(2)
                        .map(|p| {
                            let sum: i32 = p.iter().map(|s| i32::from(*s)).sum();
                            (sum / p.len() as i32) as i16
                        })
                        .collect(),
                    other => return Err(WavError::Unsupported(format!("{other} Hz"))),
                };
                return Ok(Audio8k { samples });
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        offset = end + (size as usize & 1);
    }
    Err(WavError::Truncated("data".into()))
}

pub fn read(path: &Path) -> Result<Audio8k, WavError> {
    parse(&std::fs::read(path)?)
}

/// WAV bytes for 16-bit mono PCM at `rate`.
pub fn encode(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

pub fn write(path: &Path, samples: &[i16], rate: u32) -> Result<(), WavError> {
    std::fs::write(path, encode(samples, rate))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_8k() {
        let samples: Vec<i16> = (0..400).map(|i| (i * 37 - 5000) as i16).collect();
        let bytes = encode(&samples, 8000);
        assert_eq!(bytes.len(), 44 + 800);
        assert_eq!(parse(&bytes).unwrap().samples, samples);
    }

    #[test]
    fn sixteen_k_is_halved() {
        let bytes = encode(&[100, 300, -10, -30, 7], 16000);
        assert_eq!(parse(&bytes).unwrap().samples, vec![200, -20, 7]);
    }

    #[test]
    fn unsupported_and_broken_files_are_typed_errors() {
        assert!(matches!(parse(b"RIFX...."), Err(WavError::NotWave)));
        let mut stereo = encode(&[1, 2], 8000);
        stereo[22] = 2;
        assert!(matches!(parse(&stereo), Err(WavError::Unsupported(_))));
        let rate = encode(&[1, 2], 44100);
        assert!(matches!(parse(&rate), Err(WavError::Unsupported(_))));
        let mut cut = encode(&[1, 2, 3], 8000);
        cut.truncate(46);
        assert!(matches!(parse(&cut), Err(WavError::Truncated(_))));
    }
}
