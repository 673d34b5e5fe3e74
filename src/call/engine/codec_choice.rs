//! Which codecs a negotiated stream runs with: what we send, what we may receive, and the
//! telephone-event format for DTMF.

use sdp::audio::{AudioCodec, AudioFormat};
use sdp::offer_answer::NegotiatedStream;

use crate::media::codec::{CodecKind, CodecSpec, OpusParams};

/// The codecs of one negotiated stream, as the media session takes them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StreamCodecs {
    /// What we send: the first voice codec of the negotiated list.
    pub send: CodecSpec,
    /// Every voice format of the negotiated list: the peer may send any (RFC 3264 §6.1).
    pub receive: Vec<CodecSpec>,
    /// The telephone-event payload type we send and its clock rate.
    pub dtmf: Option<(u8, u32)>,
    /// Every telephone-event payload type of the negotiated list.
    pub dtmf_receive: Vec<u8>,
}

/// The SDP codec for one of ours.
pub(super) fn sdp_codec(kind: CodecKind) -> AudioCodec {
    match kind {
        CodecKind::Pcmu => AudioCodec::Pcmu,
        CodecKind::Pcma => AudioCodec::Pcma,
        CodecKind::G722 => AudioCodec::G722,
        CodecKind::Opus => AudioCodec::Opus,
    }
}

/// Our codecs for the SDP layer, in preference order, with telephone-event last.
pub(super) fn codecs_for_sdp(codecs: &[CodecKind]) -> Vec<AudioCodec> {
    let mut out: Vec<AudioCodec> = codecs.iter().map(|c| sdp_codec(*c)).collect();
    out.push(AudioCodec::TelephoneEvent);
    out
}

fn kind_of(format: &AudioFormat, ours: &[CodecKind]) -> Option<CodecKind> {
    let codec = format.codec()?;
    ours.iter().copied().find(|k| sdp_codec(*k) == codec)
}

/// The codecs of `stream` among `ours`. The negotiated list is in the answer's order (the
/// answerer's preference), so caller and callee both send its first voice codec. `None`
/// when it holds none of ours.
pub(super) fn stream_codecs(stream: &NegotiatedStream, ours: &[CodecKind]) -> Option<StreamCodecs> {
    let receive: Vec<CodecSpec> = stream
        .formats
        .iter()
        .filter_map(|f| {
            let kind = kind_of(f, ours)?;
            // RFC 7587 §7: the peer's fmtp says what it wants from our encoder (FEC, DTX,
            // bandwidth); its own line, not ours when we answered.
            let peer_fmtp = stream
                .peer_formats
                .iter()
                .find(|p| p.payload_type == f.payload_type)
                .and_then(|p| p.fmtp.as_deref());
            Some(CodecSpec {
                kind,
                payload_type: f.payload_type,
                opus: OpusParams::parse_fmtp(peer_fmtp.unwrap_or("")),
            })
        })
        .collect();
    let send = receive.first()?.clone();
    let events: Vec<&AudioFormat> = stream
        .formats
        .iter()
        .filter(|f| f.codec() == Some(AudioCodec::TelephoneEvent))
        .collect();
    // RFC 4733 §2.1: events on the audio's clock when the peer has that rate (48000 with
    // Opus); else the one it has (8000), whose durations count in 8000 Hz while the
    // timestamps stay on the audio's timeline (see the README's Codecs section).
    let dtmf = events
        .iter()
        .find(|f| f.clock_rate == send.kind.clock_rate())
        .or_else(|| events.first())
        .map(|f| (f.payload_type, f.clock_rate));
    Some(StreamCodecs {
        send,
        receive,
        dtmf,
        dtmf_receive: events.iter().map(|f| f.payload_type).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdp::offer_answer::RemoteIce;

    fn format(pt: u8, name: &str, rate: u32, fmtp: Option<&str>) -> AudioFormat {
        AudioFormat {
            payload_type: pt,
            encoding_name: name.into(),
            clock_rate: rate,
            channels: (name == "opus").then_some(2),
            fmtp: fmtp.map(str::to_string),
        }
    }

    fn stream(formats: Vec<AudioFormat>, peer: Vec<AudioFormat>) -> NegotiatedStream {
        NegotiatedStream {
            index: 0,
            formats,
            peer_formats: peer,
            direction: sdp::audio::Direction::SendRecv,
            remote_ptime: None,
            remote_rtp: None,
            remote_rtcp: None,
            rtcp_mux: true,
            ice: RemoteIce::None,
            srtp: None,
            dtls: None,
        }
    }

    #[test]
    fn first_voice_codec_with_the_peers_opus_wishes_and_events_on_its_clock() {
        use CodecKind::*;
        let s = stream(
            vec![
                format(96, "opus", 48000, Some("useinbandfec=1")),
                format(0, "PCMU", 8000, None),
                format(101, "telephone-event", 8000, Some("0-15")),
                format(110, "telephone-event", 48000, Some("0-15")),
            ],
            vec![format(96, "opus", 48000, Some("usedtx=1"))],
        );
        let c = stream_codecs(&s, &[Pcmu, Opus]).unwrap();
        assert_eq!((c.send.kind, c.send.payload_type), (Opus, 96));
        // The peer's line, not ours: DTX asked, FEC not.
        assert!(c.send.opus.dtx && !c.send.opus.inband_fec);
        assert_eq!(c.receive.len(), 2);
        assert_eq!(
            c.dtmf,
            Some((110, 48000)),
            "RFC 4733 §2.1: the audio's clock"
        );
        assert_eq!(c.dtmf_receive, [101, 110]);
        // Without 48 kHz events, the 8 kHz ones still carry DTMF.
        let s = stream(
            vec![
                format(96, "opus", 48000, None),
                format(101, "telephone-event", 8000, None),
            ],
            Vec::new(),
        );
        assert_eq!(stream_codecs(&s, &[Opus]).unwrap().dtmf, Some((101, 8000)));
        // Nothing of ours.
        assert_eq!(stream_codecs(&s, &[Pcmu]), None);
    }
}
