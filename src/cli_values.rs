//! Value parsers for flags that take a number or a list: a bad value is a usage error (exit
//! 2) that clap reports naming the flag, before any socket is opened.

use std::time::Duration;

use crate::media::codec::CodecKind;

/// A positive, finite number of seconds (`--duration`, `--seconds`, `--timeout`, …).
pub fn positive_seconds(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && Duration::try_from_secs_f64(v).is_ok() {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a positive number of seconds"))
    }
}

/// Zero or more seconds, finite (`--answer-after`, `--hold-after`).
pub fn non_negative_seconds(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v >= 0.0 && Duration::try_from_secs_f64(v).is_ok() {
        Ok(v)
    } else {
        Err(format!("`{s}` is not zero or a positive number of seconds"))
    }
}

/// A tone frequency: above 0 and below the 4 kHz Nyquist limit of 8 kHz audio.
pub fn tone_hz(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v < 4000.0 {
        Ok(v)
    } else {
        Err(format!(
            "`{s}` Hz is not a frequency above 0 and below 4000"
        ))
    }
}

/// A positive, finite rate (`run --rate`, calls per second).
pub fn positive_rate(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a positive rate"))
    }
}

/// RFC 4733 digits to send: 0-9, *, #, A-D, at least one.
pub fn dtmf_digits(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("no digits (0-9, *, #, A-D)".into());
    }
    crate::media::dtmf::DtmfSender::new(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

/// `--codecs`: a comma-separated, non-empty list of known codec names, kept as written.
pub fn codec_list(s: &str) -> Result<String, String> {
    parse_codecs(s.split(',')).map(|_| s.to_string())
}

/// `--srtp`: a known policy name, kept as written (`config::load` turns it into the policy).
pub fn srtp_name(s: &str) -> Result<String, String> {
    parse_srtp(s).map(|_| s.to_string())
}

/// `off`, `sdes`, `optional` or `dtls` (case-insensitive).
pub fn parse_srtp(s: &str) -> Result<sdp::offer_answer::SrtpPolicy, String> {
    use sdp::offer_answer::SrtpPolicy;
    SrtpPolicy::from_name(&s.trim().to_ascii_lowercase())
        .ok_or_else(|| format!("unknown SRTP mode `{s}` (off, sdes, optional or dtls)"))
}

/// `--dtls-setup`: `active` (we are the DTLS client) or `passive` (the server), as the
/// `a=setup` values say (RFC 4145 §4); `actpass` leaves it to the peer (the default).
pub fn parse_dtls_setup(s: &str) -> Result<Option<sdp::security::DtlsRole>, String> {
    use sdp::security::DtlsRole;
    match s.trim().to_ascii_lowercase().as_str() {
        "active" => Ok(Some(DtlsRole::Client)),
        "passive" => Ok(Some(DtlsRole::Server)),
        "actpass" => Ok(None),
        _ => Err(format!(
            "unknown DTLS setup `{s}` (active, passive or actpass)"
        )),
    }
}

/// `--dtls-setup`: a known value, kept as written.
pub fn dtls_setup_name(s: &str) -> Result<String, String> {
    parse_dtls_setup(s).map(|_| s.to_string())
}

/// The codec names `--codecs` takes, for messages.
const CODEC_NAMES: &str = "opus, g722, pcmu, pcma";

/// Codec names to codecs, in the order given (our preference): every name known
/// (case-insensitive), none twice, at least one.
pub fn parse_codecs<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<CodecKind>, String> {
    let mut codecs = Vec::new();
    for name in names {
        let name = name.trim();
        let codec = match CodecKind::from_name(name) {
            Some(c) => c,
            None if name.is_empty() => {
                return Err(format!("an empty codec name (supported: {CODEC_NAMES})"))
            }
            None => return Err(format!("unknown codec `{name}` (supported: {CODEC_NAMES})")),
        };
        if codecs.contains(&codec) {
            return Err(format!("codec `{name}` is listed twice"));
        }
        codecs.push(codec);
    }
    if codecs.is_empty() {
        return Err(format!("at least one codec is needed ({CODEC_NAMES})"));
    }
    Ok(codecs)
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("`{s}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(positive_seconds("0").is_err());
        assert!(positive_seconds("-1").is_err());
        assert!(positive_seconds("nan").is_err());
        assert!(positive_seconds("inf").is_err());
        assert_eq!(positive_seconds("1.5"), Ok(1.5));
        assert_eq!(non_negative_seconds("0"), Ok(0.0));
        assert!(tone_hz("4000").is_err());
        assert!(dtmf_digits("12X").is_err());
        assert!(dtmf_digits("").is_err());
        assert!(codec_list("").is_err());
        assert!(codec_list("pcmu,,pcma").is_err());
        assert_eq!(parse_codecs(["PCMA"]), Ok(vec![CodecKind::Pcma]));
        assert_eq!(
            parse_codecs("opus,G722,pcmu".split(',')),
            Ok(vec![CodecKind::Opus, CodecKind::G722, CodecKind::Pcmu])
        );
        assert!(parse_codecs("pcmu,PCMU".split(','))
            .unwrap_err()
            .contains("twice"));
        assert!(parse_codecs(["gsm"]).unwrap_err().contains("opus, g722"));
    }
}
