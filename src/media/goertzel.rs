//! Goertzel filter: how much of a signal's energy sits at one frequency. Used to check that
//! recorded audio carries the tone that was played.

/// The power of `samples` at `freq` Hz (sample rate `rate`), normalised by the signal's total
/// energy: about 0.5·N for a pure sine at that frequency scaled to unit energy per sample…
/// in practice: the fraction of the energy at `freq`, between 0 and 1.
pub fn tone_ratio(samples: &[i16], freq: f64, rate: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let n = samples.len() as f64;
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / rate).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        return 0.0;
    }
    // For a pure sine, power ≈ (N·A/2)² and energy ≈ N·A²/2, so power / (energy·N/2) ≈ 1.
    (power / (energy * n / 2.0)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn finds_the_tone_and_only_it() {
        let s = sine(440.0, 8000);
        assert!(tone_ratio(&s, 440.0, 8000.0) > 0.9);
        assert!(tone_ratio(&s, 1000.0, 8000.0) < 0.01);
        assert_eq!(tone_ratio(&[0; 100], 440.0, 8000.0), 0.0);
        assert_eq!(tone_ratio(&[], 440.0, 8000.0), 0.0);
    }

    #[test]
    fn survives_g711() {
        let s = sine(1000.0, 4000);
        let coded =
            super::super::g711::G711::Ulaw.decode(&super::super::g711::G711::Ulaw.encode(&s));
        assert!(tone_ratio(&coded, 1000.0, 8000.0) > 0.9);
    }
}
