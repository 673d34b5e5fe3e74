//! Codec offer/answer: Opus (RFC 7587) and G.722 (RFC 3551) next to G.711, our order in the
//! offer, the offer's payload types and our preference in the answer, and a baresip offer.

use std::net::SocketAddr;

use crate::audio::{read_formats, AudioCodec, AudioFormat};
use crate::error::SdpError;
use crate::offer_answer::{LocalStream, SdpSession, StreamResult};
use crate::parse;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn stream(codecs: &[AudioCodec]) -> LocalStream {
    let mut s = LocalStream::audio(addr("192.0.2.1:5000"), None);
    s.codecs = codecs.to_vec();
    s
}

fn session() -> SdpSession {
    SdpSession::new("192.0.2.1".parse().unwrap(), 7, Default::default())
}

fn formats(r: &[StreamResult]) -> Vec<AudioFormat> {
    r[0].active().expect("stream accepted").formats.clone()
}

/// An offer from a peer with `m=audio 4000 RTP/AVP <fmts>` and the attribute lines.
fn peer_offer(fmts: &str, attrs: &str) -> crate::SessionDescription {
    let text = format!(
        "v=0\no=- 1 1 IN IP4 198.51.100.9\ns=-\nc=IN IP4 198.51.100.9\nt=0 0\n\
         m=audio 4000 RTP/AVP {fmts}\n{attrs}"
    );
    parse(&text).expect("test offer parses")
}

/// What baresip 1.x offers with `audio_codecs opus/48000/2,G722,PCMU` and its telev module.
const BARESIP_ATTRS: &str = "a=rtpmap:96 opus/48000/2\na=fmtp:96 stereo=1;sprop-stereo=1\n\
    a=rtpmap:9 G722/8000\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n\
    a=fmtp:101 0-15\na=sendrecv\n";

#[test]
fn offer_lists_codecs_in_our_order_with_opus_fmtp_and_both_event_clocks() {
    use AudioCodec::*;
    let offer = session()
        .create_offer(&[stream(&[Opus, G722, Pcmu, Pcma, TelephoneEvent])])
        .unwrap()
        .to_string();
    assert!(
        offer.contains("m=audio 5000 RTP/AVP 111 9 0 8 110 101\r\n"),
        "{offer}"
    );
    // RFC 7587 §7: opus/48000/2 whatever the channels; RFC 3551 §4.5.2: G722/8000.
    assert!(offer.contains("a=rtpmap:111 opus/48000/2\r\n"));
    assert!(offer.contains("a=fmtp:111 useinbandfec=1\r\n"));
    assert!(offer.contains("a=rtpmap:9 G722/8000\r\n"));
    assert!(offer.contains("a=rtpmap:110 telephone-event/48000\r\n"));
    assert!(offer.contains("a=rtpmap:101 telephone-event/8000\r\n"));

    // Another order, and no Opus: no 48 kHz events.
    let offer = session()
        .create_offer(&[stream(&[Pcma, G722, TelephoneEvent])])
        .unwrap()
        .to_string();
    assert!(
        offer.contains("m=audio 5000 RTP/AVP 8 9 101\r\n"),
        "{offer}"
    );
    assert!(!offer.contains("opus") && !offer.contains("/48000"));
}

#[test]
fn answer_to_a_baresip_opus_offer_keeps_its_payload_type_and_writes_our_fmtp() {
    use AudioCodec::*;
    let offer = peer_offer("96 9 0 101", BARESIP_ATTRS);
    let answer = session()
        .create_answer(&offer, &[stream(&[Opus, Pcmu, TelephoneEvent])])
        .unwrap();
    let text = answer.sdp.to_string();
    // RFC 3264 §6.1: the offer's dynamic number 96, not our 111; G722 is not ours here.
    assert!(text.contains("m=audio 5000 RTP/AVP 96 0 101\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:96 opus/48000/2\r\n"));
    // RFC 7587 §7: our own receive wishes, not the offerer's stereo parameters.
    assert!(text.contains("a=fmtp:96 useinbandfec=1\r\n"), "{text}");
    assert!(!text.contains("stereo"));
    assert!(text.contains("a=fmtp:101 0-15\r\n"));
    let f = formats(&answer.streams);
    assert_eq!(f[0].codec(), Some(Opus));
    // The peer's own fmtp stays available: what it wants from our encoder.
    let peer = &answer.streams[0].active().unwrap().peer_formats;
    let opus = peer.iter().find(|f| f.codec() == Some(Opus)).unwrap();
    assert_eq!(opus.fmtp.as_deref(), Some("stereo=1;sprop-stereo=1"));

    // The answer read back by an offerer session: Opus on 96 first.
    let mut baresip = session();
    let (streams, _) = baresip.process_answer(&offer, &answer.sdp).unwrap();
    let f = formats(&streams);
    assert_eq!((f[0].payload_type, f[0].codec()), (96, Some(Opus)));
}

#[test]
fn answer_follows_our_preference_among_what_the_offer_has() {
    use AudioCodec::*;
    let offer = peer_offer("96 9 0 101", BARESIP_ATTRS);
    // We prefer G.722 then PCMU: the answer lists them so, although the offer put Opus and
    // G.722 first (pjsua and baresip answer in their own order too).
    let answer = session()
        .create_answer(&offer, &[stream(&[Pcmu, G722, TelephoneEvent])])
        .unwrap();
    let text = answer.sdp.to_string();
    assert!(text.contains("m=audio 5000 RTP/AVP 0 9 101\r\n"), "{text}");
    // Only PCMA: nothing in common, the stream is rejected.
    let answer = session()
        .create_answer(&offer, &[stream(&[Pcma, TelephoneEvent])])
        .unwrap();
    assert!(matches!(answer.streams[0], StreamResult::Rejected { .. }));
}

#[test]
fn opus_caller_and_pcmu_only_callee_agree_on_pcmu() {
    use AudioCodec::*;
    let mut alice = session();
    let offer = alice
        .create_offer(&[stream(&[Opus, G722, Pcmu, TelephoneEvent])])
        .unwrap();
    let offer = parse(&offer.to_string()).unwrap();
    let answer = session()
        .create_answer(&offer, &[stream(&[Pcmu, TelephoneEvent])])
        .unwrap();
    let text = answer.sdp.to_string();
    // The 48 kHz events go with Opus only.
    assert!(text.contains("m=audio 5000 RTP/AVP 0 101\r\n"), "{text}");
    let (streams, _) = alice.process_answer(&offer, &answer.sdp).unwrap();
    assert_eq!(formats(&streams)[0].codec(), Some(Pcmu));
}

#[test]
fn opus_answer_keeps_48k_events_and_g722_is_read_without_rtpmap() {
    use AudioCodec::*;
    let mut alice = session();
    let offer = alice
        .create_offer(&[stream(&[Opus, Pcmu, TelephoneEvent])])
        .unwrap();
    let offer = parse(&offer.to_string()).unwrap();
    let answer = session()
        .create_answer(&offer, &[stream(&[Opus, TelephoneEvent])])
        .unwrap();
    let f = formats(&answer.streams);
    let clocks: Vec<(u8, u32)> = f.iter().map(|f| (f.payload_type, f.clock_rate)).collect();
    assert_eq!(clocks, [(111, 48000), (110, 48000), (101, 8000)]);

    // RFC 3551 §6: static 9 needs no rtpmap.
    let bare = peer_offer("9", "");
    let f = read_formats(&bare.media[0]).unwrap();
    assert_eq!((f[0].codec(), f[0].clock_rate), (Some(G722), 8000));
}

#[test]
fn formats_are_matched_by_clock_and_channels() {
    let offer = peer_offer(
        "9 97 98",
        "a=rtpmap:9 G722/16000\na=rtpmap:97 opus/48000/1\na=rtpmap:98 OPUS/48000/2\n",
    );
    let f = read_formats(&offer.media[0]).unwrap();
    // G722/16000 would mistime our packets (RFC 3551 §4.5.2); opus is always /2 (RFC 7587 §7).
    assert_eq!(f[0].codec(), None);
    assert_eq!(f[1].codec(), None);
    assert_eq!(f[2].codec(), Some(AudioCodec::Opus));
}

fn invalid_line(e: SdpError) -> (usize, String) {
    match e {
        SdpError::InvalidAttribute {
            line, attribute, ..
        } => (line, attribute),
        other => panic!("expected an invalid attribute, got {other:?}"),
    }
}

#[test]
fn bad_rtpmap_and_fmtp_are_typed_errors_naming_the_line() {
    // Line 6 is m=, 7 the first attribute.
    for (attrs, line, attribute) in [
        ("a=rtpmap:96 opus\n", 7, "rtpmap"),
        ("a=rtpmap:200 opus/48000/2\n", 7, "rtpmap"),
        (
            "a=rtpmap:96 opus/48000/2\na=fmtp:x useinbandfec=1\n",
            8,
            "fmtp",
        ),
        (
            "a=rtpmap:96 opus/48000/2\na=fmtp:96 useinbandfec=yes\n",
            8,
            "fmtp",
        ),
        (
            "a=rtpmap:96 opus/48000/2\na=fmtp:96 maxplaybackrate=fast\n",
            8,
            "fmtp",
        ),
        ("a=rtpmap:96 opus/48000/2\na=fmtp:96 stereo\n", 8, "fmtp"),
    ] {
        let offer = peer_offer("96", attrs);
        let err = read_formats(&offer.media[0]).expect_err(attrs);
        assert_eq!(invalid_line(err), (line, attribute.to_string()), "{attrs}");
    }
    // An unknown Opus parameter is ignored (RFC 7587 §6.1).
    let offer = peer_offer("96", "a=rtpmap:96 opus/48000/2\na=fmtp:96 x-custom=what\n");
    assert!(read_formats(&offer.media[0]).is_ok());
    // And a bad offer fails the answer with the same error, not a panic.
    let offer = peer_offer("96", "a=rtpmap:96 opus/48000/2\na=fmtp:96 usedtx=2\n");
    assert!(session()
        .create_answer(&offer, &[stream(&[AudioCodec::Opus])])
        .is_err());
}

#[test]
fn our_opus_fmtp_asks_for_fec_and_dtx_as_configured() {
    use crate::audio::OpusWants;
    let opus_fmtp = |sd: &crate::SessionDescription| {
        read_formats(&sd.media[0])
            .unwrap()
            .into_iter()
            .find(|f| f.codec() == Some(AudioCodec::Opus))
            .and_then(|f| f.fmtp)
    };
    let mut s = stream(&[AudioCodec::Opus, AudioCodec::Pcmu]);
    let offer = session().create_offer(&[s.clone()]).unwrap();
    assert_eq!(
        opus_fmtp(&offer).as_deref(),
        Some("useinbandfec=1"),
        "default"
    );
    s.opus = OpusWants {
        inband_fec: false,
        dtx: true,
    };
    let offer = session().create_offer(&[s.clone()]).unwrap();
    assert_eq!(opus_fmtp(&offer).as_deref(), Some("usedtx=1"));
    // Answering, the fmtp says what we want to receive (RFC 7587 §7), not the offer's.
    let answer = session()
        .create_answer(&peer_offer("96 0", BARESIP_ATTRS), &[s])
        .unwrap();
    assert_eq!(opus_fmtp(&answer.sdp).as_deref(), Some("usedtx=1"));
    let neither = OpusWants {
        inband_fec: false,
        dtx: false,
    };
    assert_eq!(neither.fmtp(), "useinbandfec=0", "never an empty fmtp line");
}
