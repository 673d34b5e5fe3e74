//! Audio level of 20 ms frames in dBFS, for the console's level meter: the RMS of the
//! samples against a full-scale 16-bit sine's, so a full-scale square wave reads +3 dBFS and
//! a full-scale sine 0 dBFS.

/// The quietest level reported; digital silence reads this.
pub const FLOOR_DBFS: f32 = -90.0;

/// The level of one frame in dBFS (`FLOOR_DBFS` for silence or an empty frame).
pub fn dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return FLOOR_DBFS;
    }
    let mean_square = frame
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / frame.len() as f64;
    // A full-scale sine has an RMS of 32767/√2.
    let full_scale_sine = 32767.0 / std::f64::consts::SQRT_2;
    let rms = mean_square.sqrt();
    if rms < 1e-9 {
        return FLOOR_DBFS;
    }
    ((20.0 * (rms / full_scale_sine).log10()) as f32).max(FLOOR_DBFS)
}

/// A text meter: `width` cells, filled from `FLOOR_DBFS` … 0 dBFS, e.g. `[######----]`.
pub fn meter(level_dbfs: f32, width: usize) -> String {
    let fraction = ((level_dbfs - FLOOR_DBFS) / -FLOOR_DBFS).clamp(0.0, 1.0);
    let filled = (fraction * width as f32).round() as usize;
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scale_sine_is_0_dbfs_half_scale_minus_6_and_silence_the_floor() {
        let sine = |amp: f64| -> Vec<i16> {
            (0..160)
                .map(|i| {
                    (amp * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin()) as i16
                })
                .collect()
        };
        assert!((dbfs(&sine(32767.0)) - 0.0).abs() < 0.1);
        assert!((dbfs(&sine(16383.0)) + 6.02).abs() < 0.1);
        assert_eq!(dbfs(&[0; 160]), FLOOR_DBFS);
        assert_eq!(dbfs(&[]), FLOOR_DBFS);
        assert_eq!(meter(0.0, 10), "[##########]");
        assert_eq!(meter(FLOOR_DBFS, 4), "[----]");
        assert_eq!(meter(-45.0, 4), "[##--]");
    }
}
