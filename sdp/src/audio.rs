//! Audio formats (RFC 3551 PCMU 0, PCMA 8 and G722 9, RFC 7587 Opus, RFC 4733
//! telephone-event), `a=ptime` and the direction attributes (RFC 3264 §5.1, §6.1).

use serde::Serialize;

use crate::error::SdpError;
use crate::model::{Attribute, HasAttributes, MediaDescription, SessionDescription};

/// The codecs this crate negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum AudioCodec {
    /// G.711 µ-law, 8000 Hz mono, static payload type 0 (RFC 3551 §4.5.14).
    Pcmu,
    /// G.711 A-law, 8000 Hz mono, static payload type 8 (RFC 3551 §4.5.14).
    Pcma,
    /// G.722 wideband, static payload type 9, written `G722/8000` although it samples at
    /// 16 kHz (RFC 3551 §4.5.2).
    G722,
    /// Opus (RFC 7587), a dynamic payload type, always `opus/48000/2` (RFC 7587 §7).
    Opus,
    /// DTMF events (RFC 4733), a dynamic payload type; 8000 Hz, and also 48000 Hz next to
    /// Opus in our offers (see [`offer_formats`]).
    TelephoneEvent,
}

/// Our dynamic payload type for Opus (any of 96–127 would do; 111 is what browsers use).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// Our dynamic payload type for telephone-event/8000.
pub const TELEPHONE_EVENT_PAYLOAD_TYPE: u8 = 101;
/// Our dynamic payload type for telephone-event/48000, offered with Opus.
pub const TELEPHONE_EVENT_48K_PAYLOAD_TYPE: u8 = 110;
/// The Opus `fmtp` we offer and answer: what we want from the peer's encoder (RFC 7587
/// §6.1): in-band FEC, which our decoder uses to recover a lost packet from the next one.
/// No `usedtx` (absent means 0) and no `stereo` (absent means mono is preferred).
pub const OUR_OPUS_FMTP: &str = "useinbandfec=1";

/// What we ask of the peer's Opus encoder in our `fmtp` (RFC 7587 §6.1): in-band FEC
/// (`useinbandfec`, on by default) and DTX (`usedtx`, off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusWants {
    /// `useinbandfec=1`: our decoder recovers a lost packet from the next one's FEC.
    pub inband_fec: bool,
    /// `usedtx=1`: the peer may send nothing in silence (our decoder conceals the gap).
    pub dtx: bool,
}

impl Default for OpusWants {
    fn default() -> Self {
        OpusWants {
            inband_fec: true,
            dtx: false,
        }
    }
}

impl OpusWants {
    /// The `fmtp` parameters (absent ones mean 0, RFC 7587 §6.1, so only what is on).
    pub fn fmtp(self) -> String {
        let mut params = Vec::new();
        if self.inband_fec {
            params.push("useinbandfec=1");
        }
        if self.dtx {
            params.push("usedtx=1");
        }
        if params.is_empty() {
            // An empty fmtp line is not valid SDP: say the default explicitly.
            params.push("useinbandfec=0");
        }
        params.join(";")
    }
}

impl AudioCodec {
    /// The encoding name written in `a=rtpmap` (`PCMU`, `PCMA`, `G722`, `opus`,
    /// `telephone-event`).
    pub fn encoding_name(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
            AudioCodec::G722 => "G722",
            AudioCodec::Opus => "opus",
            AudioCodec::TelephoneEvent => "telephone-event",
        }
    }

    /// RFC 3551 §6: PCMU is static type 0, PCMA 8, G722 9; Opus and telephone-event are
    /// dynamic (we pick 111 and 101).
    pub fn default_payload_type(self) -> u8 {
        match self {
            AudioCodec::Pcmu => 0,
            AudioCodec::Pcma => 8,
            AudioCodec::G722 => 9,
            AudioCodec::Opus => OPUS_PAYLOAD_TYPE,
            AudioCodec::TelephoneEvent => TELEPHONE_EVENT_PAYLOAD_TYPE,
        }
    }

    /// Whether this is a voice codec (not telephone-event): a stream needs one.
    pub fn is_voice(self) -> bool {
        self != AudioCodec::TelephoneEvent
    }

    /// The format this crate offers for the codec.
    pub fn format(self) -> AudioFormat {
        let (clock_rate, channels, fmtp) = match self {
            // RFC 7587 §7: "opus/48000/2" whatever the stream's channel count.
            AudioCodec::Opus => (48000, Some(2), Some(OUR_OPUS_FMTP.to_string())),
            // RFC 4733 §2.4.1: DTMF events 0-15 plus flash (16).
            AudioCodec::TelephoneEvent => (8000, None, Some("0-16".to_string())),
            // RFC 3551 §4.5.2: G.722's RTP clock is 8000 although it samples at 16 kHz.
            AudioCodec::Pcmu | AudioCodec::Pcma | AudioCodec::G722 => (8000, None, None),
        };
        AudioFormat {
            payload_type: self.default_payload_type(),
            encoding_name: self.encoding_name().to_string(),
            clock_rate,
            channels,
            fmtp,
        }
    }
}

/// The formats of our offer for `codecs`, in that order. With Opus among them,
/// telephone-event is offered at 48000 Hz as well as 8000 Hz: RFC 4733 §2.1 wants events on
/// the audio's clock, and a peer that has only the 8000 Hz one still finds it.
pub fn offer_formats(codecs: &[AudioCodec]) -> Vec<AudioFormat> {
    offer_formats_with(codecs, OpusWants::default())
}

/// [`offer_formats`] with our Opus `fmtp` from `opus`.
pub fn offer_formats_with(codecs: &[AudioCodec], opus: OpusWants) -> Vec<AudioFormat> {
    let mut out = Vec::new();
    for codec in codecs {
        if *codec == AudioCodec::TelephoneEvent && codecs.contains(&AudioCodec::Opus) {
            out.push(AudioFormat {
                payload_type: TELEPHONE_EVENT_48K_PAYLOAD_TYPE,
                clock_rate: 48000,
                ..codec.format()
            });
        }
        let mut format = codec.format();
        if *codec == AudioCodec::Opus {
            format.fmtp = Some(opus.fmtp());
        }
        out.push(format);
    }
    out
}

/// One payload format of an `m=audio` line with its `a=rtpmap` and `a=fmtp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudioFormat {
    /// RTP payload type, 0-127: the number in the `m=` format list.
    pub payload_type: u8,
    /// Encoding name as written in `a=rtpmap` (compare case-insensitively).
    pub encoding_name: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels from `a=rtpmap`'s third part; `None` when absent, which means 1.
    pub channels: Option<u8>,
    /// The format parameters of its `a=fmtp` (after the payload type), e.g. `0-16` for
    /// telephone-event; `None` without one.
    pub fmtp: Option<String>,
}

impl AudioFormat {
    /// Which of our codecs this is (encoding names compare case-insensitively, RFC 4855 §3).
    /// Matched by clock rate too: `G722/16000` would be a peer that "fixed" RFC 3551
    /// §4.5.2's clock and would mistime our packets.
    pub fn codec(&self) -> Option<AudioCodec> {
        let name = self.encoding_name.to_ascii_lowercase();
        let mono = self.channels.unwrap_or(1) == 1;
        match (name.as_str(), self.clock_rate) {
            ("pcmu", 8000) if mono => Some(AudioCodec::Pcmu),
            ("pcma", 8000) if mono => Some(AudioCodec::Pcma),
            ("g722", 8000) if mono => Some(AudioCodec::G722),
            // RFC 7587 §7: always written with 2 channels; a missing count is tolerated.
            ("opus", 48000) if matches!(self.channels, Some(2) | None) => Some(AudioCodec::Opus),
            ("telephone-event", 8000 | 48000) => Some(AudioCodec::TelephoneEvent),
            _ => None,
        }
    }

    fn rtpmap_value(&self) -> String {
        match self.channels {
            Some(ch) => format!(
                "{} {}/{}/{}",
                self.payload_type, self.encoding_name, self.clock_rate, ch
            ),
            None => format!(
                "{} {}/{}",
                self.payload_type, self.encoding_name, self.clock_rate
            ),
        }
    }
}

/// The formats of an `m=` line in preference order. Static types 0, 8 and 9 are understood
/// without `a=rtpmap` (RFC 3551 §6); other formats without one, and non-numeric format
/// tokens, are skipped.
///
/// # Errors
///
/// [`SdpError::InvalidAttribute`] naming the line if any `a=rtpmap` or `a=fmtp` of the
/// section is malformed, or an Opus `a=fmtp` has a parameter value outside RFC 7587 §6.1's
/// grammar.
pub fn read_formats(m: &MediaDescription) -> Result<Vec<AudioFormat>, SdpError> {
    let mut out = Vec::new();
    for fmt in &m.formats {
        let Ok(pt) = fmt.parse::<u8>() else {
            continue; // a non-RTP format token; not audio we can use
        };
        let rtpmap = m
            .attributes_named("rtpmap")
            .map(|a| parse_rtpmap(a).map(|r| (a, r)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .find(|(_, r)| r.payload_type == pt)
            .map(|(_, r)| r);
        let mut format = match (rtpmap, pt) {
            (Some(r), _) => r,
            (None, 0) => AudioCodec::Pcmu.format(),
            (None, 8) => AudioCodec::Pcma.format(),
            (None, 9) => AudioCodec::G722.format(),
            (None, _) => continue,
        };
        let fmtp = m
            .attributes_named("fmtp")
            .map(|a| parse_fmtp(a).map(|f| (a, f)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .find(|(_, (p, _))| *p == pt);
        if let Some((a, (_, params))) = fmtp {
            if format.codec() == Some(AudioCodec::Opus) {
                check_opus_fmtp(params)
                    .map_err(|why| SdpError::attr(a.line, "fmtp", format!("{params:?}: {why}")))?;
            }
            format.fmtp = Some(params.to_string());
        }
        out.push(format);
    }
    Ok(out)
}

/// RFC 8866 §6.15: `a=fmtp:<format> <format specific parameters>`; for RTP the format is a
/// payload type number. Returns the number and the parameters.
fn parse_fmtp(a: &Attribute) -> Result<(u8, &str), SdpError> {
    let v = a.value.as_deref().unwrap_or("");
    let (pt, params) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
    let pt = pt
        .parse::<u8>()
        .ok()
        .filter(|pt| *pt <= 127)
        .ok_or_else(|| SdpError::attr(a.line, "fmtp", format!("{v:?}: no payload type")))?;
    Ok((pt, params.trim()))
}

/// RFC 7587 §6.1: the Opus parameters we act on must carry values of their grammar: the
/// flags 0 or 1, the rates and bitrates numbers. Unknown parameters are ignored (§6.1).
fn check_opus_fmtp(params: &str) -> Result<(), String> {
    for item in params.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("`{item}` is not name=value"))?;
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        let flag = matches!(
            key.as_str(),
            "useinbandfec" | "usedtx" | "stereo" | "sprop-stereo" | "cbr"
        );
        let number = matches!(
            key.as_str(),
            "maxplaybackrate"
                | "sprop-maxcapturerate"
                | "maxaveragebitrate"
                | "ptime"
                | "minptime"
                | "maxptime"
        );
        if flag && value != "0" && value != "1" {
            return Err(format!("{key} must be 0 or 1, not `{value}`"));
        }
        if number && value.parse::<u32>().is_err() {
            return Err(format!("{key} must be a number, not `{value}`"));
        }
    }
    Ok(())
}

/// RFC 8866 §6.6: `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>]`.
fn parse_rtpmap(a: &Attribute) -> Result<AudioFormat, SdpError> {
    let v = a.value.as_deref().unwrap_or("");
    let err = || SdpError::attr(a.line, "rtpmap", format!("{v:?}"));
    let (pt, rest) = v.trim().split_once(' ').ok_or_else(err)?;
    let mut parts = rest.trim().split('/');
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(err)?;
    let clock_rate = parts.next().and_then(|c| c.parse().ok()).ok_or_else(err)?;
    let channels = match parts.next() {
        Some(c) => Some(c.parse().map_err(|_| err())?),
        None => None,
    };
    Ok(AudioFormat {
        // RFC 3551 §3: payload types are 7 bits.
        payload_type: pt.parse().ok().filter(|pt| *pt <= 127).ok_or_else(err)?,
        encoding_name: name.to_string(),
        clock_rate,
        channels,
        fmtp: None,
    })
}

/// `a=ptime` in milliseconds (RFC 8866 §6.4), rounded to a whole number; `None` without
/// one.
///
/// # Errors
///
/// [`SdpError::InvalidAttribute`] if the value is not a number above 0 and below 10 000.
pub fn read_ptime(m: &MediaDescription) -> Result<Option<u32>, SdpError> {
    m.attribute("ptime")
        .map(|a| {
            let v = a.value.as_deref().unwrap_or("");
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p > 0.0 && *p < 10_000.0)
                .map(|p| p.round() as u32)
                .ok_or_else(|| SdpError::attr(a.line, "ptime", format!("{v:?}")))
        })
        .transpose()
}

/// Adds the `m=` formats and their `a=rtpmap`/`a=fmtp` lines.
pub fn write_formats(m: &mut MediaDescription, formats: &[AudioFormat]) {
    m.formats = formats.iter().map(|f| f.payload_type.to_string()).collect();
    for f in formats {
        m.attributes
            .push(Attribute::value("rtpmap", f.rtpmap_value()));
        if let Some(p) = &f.fmtp {
            m.attributes.push(Attribute::value(
                "fmtp",
                format!("{} {}", f.payload_type, p),
            ));
        }
    }
}

/// RFC 4733 §2.4.1: the events of a telephone-event fmtp (`0-15,16`), as a set.
pub fn parse_events(fmtp: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for part in fmtp.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?),
            None => {
                let v = part.parse::<u8>().ok()?;
                (v, v)
            }
        };
        if lo > hi {
            return None;
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// The inverse of [`parse_events`], with runs written as ranges.
pub fn format_events(events: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&start) = events.get(i) {
        let mut end = start;
        while events.get(i + 1) == Some(&end.wrapping_add(1)) && end < u8::MAX {
            end += 1;
            i += 1;
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Media direction (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// `a=sendrecv`: media both ways (the default).
    SendRecv,
    /// `a=sendonly`: the describing side only sends (e.g. it puts the peer on hold).
    SendOnly,
    /// `a=recvonly`: the describing side only receives.
    RecvOnly,
    /// `a=inactive`: no media either way (RTCP still flows).
    Inactive,
}

impl Direction {
    /// The attribute name: `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attr(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The direction that sends iff `send` and receives iff `recv`.
    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the side this direction describes sends media (sendrecv, sendonly).
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side this direction describes receives media (sendrecv, recvonly).
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// RFC 3264 §6.1: the answer's direction given the offer's and what we want: we send
    /// only if we want to and the offerer receives, and receive only if we want to and the
    /// offerer sends (sendonly → recvonly/inactive, recvonly → sendonly/inactive,
    /// inactive → inactive).
    pub fn answer_to(offered: Direction, wanted: Direction) -> Direction {
        Direction::from_flags(
            wanted.sends() && offered.receives(),
            wanted.receives() && offered.sends(),
        )
    }

    /// The direction as an `a=` property attribute, to write into a section.
    pub fn attribute(self) -> Attribute {
        Attribute::flag(self.as_str())
    }
}

/// The direction of a stream: its own attribute, else the session's, else sendrecv
/// (RFC 8866 §6.7).
pub fn read_direction(sd: &SessionDescription, m: &MediaDescription) -> Direction {
    let find = |attrs: &[Attribute]| attrs.iter().find_map(|a| Direction::from_attr(&a.name));
    find(&m.attributes)
        .or_else(|| find(&sd.attributes))
        .unwrap_or(Direction::SendRecv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_parse_and_format_as_ranges() {
        assert_eq!(parse_events("0-15"), Some((0..=15).collect()));
        assert_eq!(
            parse_events("0-11, 16,13"),
            Some(vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 16])
        );
        assert_eq!(parse_events("5-3"), None);
        assert_eq!(parse_events("x"), None);
        assert_eq!(format_events(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_events(&[]), "");
    }

    #[test]
    fn codec_names_compare_case_insensitively_and_need_8000_mono() {
        let mut f = AudioCodec::Pcmu.format();
        f.encoding_name = "pcmu".into();
        assert_eq!(f.codec(), Some(AudioCodec::Pcmu));
        f.clock_rate = 16000;
        assert_eq!(f.codec(), None);
        let mut stereo = AudioCodec::Pcma.format();
        stereo.channels = Some(2);
        assert_eq!(stereo.codec(), None);
    }
}
