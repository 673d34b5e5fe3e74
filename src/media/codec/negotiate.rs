//! Codec choice: our preference order against what the peer offered (RFC 3264 §6.1: the
//! answer uses the offer's payload type numbers for dynamic codecs).

use super::{CodecKind, CodecSpec, OpusParams};

/// One format from a peer's `m=audio` line, with its `rtpmap` and `fmtp` if it had them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCodec {
    /// The payload type number in the `m=` line.
    pub payload_type: u8,
    /// The `rtpmap` encoding name, clock rate and channel count; `None` when the peer gave
    /// no `rtpmap`, which is allowed only for static payload types (RFC 4566 §6).
    pub rtpmap: Option<(String, u32, Option<u8>)>,
    /// The `fmtp` parameter list (after the payload type), if any.
    pub fmtp: Option<String>,
}

impl RemoteCodec {
    /// A format described by an `rtpmap` value such as `111 opus/48000/2`, with an optional
    /// `fmtp` parameter list. `None` if the text is not `PT name/rate[/channels]`.
    pub fn from_rtpmap(rtpmap: &str, fmtp: Option<&str>) -> Option<RemoteCodec> {
        let (pt, encoding) = rtpmap.trim().split_once(' ')?;
        let mut parts = encoding.trim().split('/');
        let name = parts.next()?.to_string();
        let rate = parts.next()?.parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.parse().ok()?),
            None => None,
        };
        Some(RemoteCodec {
            payload_type: pt.parse().ok()?,
            rtpmap: Some((name, rate, channels)),
            fmtp: fmtp.map(str::to_string),
        })
    }

    /// A bare static payload type from the `m=` line with no `rtpmap`.
    pub fn bare(payload_type: u8) -> RemoteCodec {
        RemoteCodec {
            payload_type,
            rtpmap: None,
            fmtp: None,
        }
    }

    /// Which of our codecs this format is, if any.
    fn kind(&self) -> Option<CodecKind> {
        match &self.rtpmap {
            // Matched by name (case-insensitive, RFC 4566 §6) and clock rate: G722/16000
            // would be a peer that "fixed" the RFC 3551 quirk and would mistime our packets.
            Some((name, rate, channels)) => CodecKind::ALL.into_iter().find(|k| {
                k.encoding_name().eq_ignore_ascii_case(name)
                    && k.clock_rate() == *rate
                    // RFC 7587 §7: opus is always written /2; tolerate a missing count.
                    && (k.rtpmap_channels().is_none() || channels.is_none() || k.rtpmap_channels() == *channels)
            }),
            None => CodecKind::ALL
                .into_iter()
                .find(|k| k.static_payload_type() == Some(self.payload_type)),
        }
    }
}

/// The first codec in `preference` that the peer offers, under the peer's payload type
/// number, with the peer's Opus parameters (which our encoder must honour). `None` when there
/// is nothing in common. `telephone-event` and unknown formats are skipped: they are not
/// audio codecs for this choice.
pub fn negotiate(preference: &[CodecKind], remote: &[RemoteCodec]) -> Option<CodecSpec> {
    preference.iter().find_map(|want| {
        remote
            .iter()
            .find(|r| r.kind() == Some(*want))
            .map(|r| CodecSpec {
                kind: *want,
                payload_type: r.payload_type,
                opus: r
                    .fmtp
                    .as_deref()
                    .map(OpusParams::parse_fmtp)
                    .unwrap_or_else(|| OpusParams::parse_fmtp("")),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> Vec<RemoteCodec> {
        vec![
            RemoteCodec::from_rtpmap("107 opus/48000/2", Some("useinbandfec=1;usedtx=1")).unwrap(),
            RemoteCodec::from_rtpmap("9 G722/8000", None).unwrap(),
            RemoteCodec::bare(0),
            RemoteCodec::from_rtpmap("101 telephone-event/8000", Some("0-16")).unwrap(),
        ]
    }

    #[test]
    fn our_preference_among_the_offer() {
        use CodecKind::*;
        let chosen = negotiate(&[Opus, G722, Pcmu], &offer()).unwrap();
        assert_eq!(chosen.kind, Opus);
        assert_eq!(chosen.payload_type, 107, "dynamic PT taken from the offer");
        assert!(
            chosen.opus.inband_fec && chosen.opus.dtx,
            "peer's fmtp kept"
        );
        assert_eq!(chosen.rtpmap(), "107 opus/48000/2");

        // Our order wins over the peer's.
        let chosen = negotiate(&[Pcmu, Opus], &offer()).unwrap();
        assert_eq!((chosen.kind, chosen.payload_type), (Pcmu, 0));
        let chosen = negotiate(&[G722, Opus], &offer()).unwrap();
        assert_eq!((chosen.kind, chosen.payload_type), (G722, 9));

        // Nothing in common.
        assert_eq!(negotiate(&[Pcma], &offer()), None);
        assert_eq!(negotiate(&[], &offer()), None);
        assert_eq!(negotiate(&[Opus], &[]), None);
    }

    #[test]
    fn formats_are_matched_by_name_and_rate() {
        use CodecKind::*;
        let odd = vec![
            // Wrong clock rates: not our codecs.
            RemoteCodec::from_rtpmap("9 G722/16000", None).unwrap(),
            RemoteCodec::from_rtpmap("96 opus/16000/1", None).unwrap(),
            // Case-insensitive name, and a dynamic number for a static codec.
            RemoteCodec::from_rtpmap("98 pcma/8000", None).unwrap(),
        ];
        assert_eq!(negotiate(&[G722, Opus], &odd), None);
        let chosen = negotiate(&[Opus, Pcma], &odd).unwrap();
        assert_eq!((chosen.kind, chosen.payload_type), (Pcma, 98));
        // Opus without fmtp: RFC 7587 defaults, no FEC or DTX from us.
        let plain = [RemoteCodec::from_rtpmap("111 OPUS/48000/2", None).unwrap()];
        let chosen = negotiate(&[Opus], &plain).unwrap();
        assert!(!chosen.opus.inband_fec && !chosen.opus.dtx);
    }

    #[test]
    fn rtpmap_parsing() {
        assert_eq!(RemoteCodec::from_rtpmap("nonsense", None), None);
        assert_eq!(RemoteCodec::from_rtpmap("x PCMU/8000", None), None);
        assert_eq!(RemoteCodec::from_rtpmap("0 PCMU", None), None);
        let r = RemoteCodec::from_rtpmap("111 opus/48000/2", None).unwrap();
        assert_eq!(r.rtpmap, Some(("opus".into(), 48000, Some(2))));
        // A bare unknown static PT is nothing we know.
        assert_eq!(negotiate(&CodecKind::ALL, &[RemoteCodec::bare(3)]), None);
        assert_eq!(
            negotiate(&CodecKind::ALL, &[RemoteCodec::bare(8)]).map(|c| c.kind),
            Some(CodecKind::Pcma)
        );
    }
}
