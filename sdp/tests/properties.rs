//! Property tests: candidates survive encoding, and offer/answer keeps RFC 3264's invariants.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use common::addr;
use ice::{Candidate, CandidateKind, Credentials, TcpType, Transport};
use proptest::prelude::*;
use sdp::audio::{read_direction, read_formats, AudioCodec, Direction};
use sdp::candidate_attr::{format_candidate, parse_candidate, CandidateRead};
use sdp::ice_attrs::read_ice;
use sdp::offer_answer::{IceSettings, LocalIce, LocalStream, OfferAnswerError, SdpSession};
use sdp::parse;

fn ice_string(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9+/]{{{min},{max}}}")).unwrap()
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    let ip = prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ];
    (ip, any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn kind() -> impl Strategy<Value = CandidateKind> {
    prop_oneof![
        Just(CandidateKind::Host),
        Just(CandidateKind::ServerReflexive),
        Just(CandidateKind::PeerReflexive),
        Just(CandidateKind::Relayed)
    ]
}

fn extension() -> impl Strategy<Value = (String, String)> {
    ("[a-z][a-z0-9-]{0,10}", "[A-Za-z0-9.]{1,8}").prop_filter("reserved names", |(n, _)| {
        !["raddr", "rport", "tcptype", "typ"].contains(&n.as_str())
    })
}

prop_compose! {
    fn candidate()(
        foundation in ice_string(1, 32),
        component in 1u16..=256,
        tcp in any::<bool>(),
        priority in 1u32..=0x7fff_ffff,
        address in socket_addr(),
        kind in kind(),
        related in proptest::option::of(socket_addr()),
        tcp_type in proptest::option::of(prop_oneof![Just(TcpType::Active), Just(TcpType::Passive), Just(TcpType::SimultaneousOpen)]),
        extensions in proptest::collection::vec(extension(), 0..3),
    ) -> Candidate {
        Candidate {
            foundation,
            component,
            transport: if tcp { Transport::Tcp } else { Transport::Udp },
            priority,
            address,
            kind,
            related,
            tcp_type,
            extensions,
        }
    }
}

proptest! {
    #[test]
    fn one_candidate_encodes_and_parses_back_equal(c in candidate()) {
        let text = format_candidate(&c);
        prop_assert_eq!(parse_candidate(1, &text).unwrap(), CandidateRead::Candidate(c));
    }

    #[test]
    fn any_set_of_candidates_survives_an_sdp(
        cands in proptest::collection::vec(candidate(), 0..12),
        ufrag in ice_string(4, 32),
        pwd in ice_string(22, 64),
    ) {
        let credentials = Credentials { ufrag, pwd };
        let stream = LocalStream::audio(
            addr("192.0.2.1:4000"),
            Some(LocalIce { credentials: credentials.clone(), candidates: cands.clone(), selected: None }),
        );
        let mut session = SdpSession::new("192.0.2.1".parse().unwrap(), 1, IceSettings::default());
        let text = session.create_offer(&[stream]).unwrap().to_string();
        let view = read_ice(&parse(&text).unwrap()).unwrap();
        prop_assert_eq!(&view.streams[0].candidates, &cands);
        prop_assert_eq!(view.streams[0].credentials.as_ref(), Some(&credentials));
        prop_assert!(view.warnings.is_empty());
    }
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive)
    ]
}

/// A random offered m= section: any media type, proto, port and a subset of formats.
fn offered_media() -> impl Strategy<Value = String> {
    let formats = proptest::sample::subsequence(vec!["0", "8", "9", "18", "96", "101"], 1..=6);
    (
        prop_oneof![Just("audio"), Just("audio"), Just("video")],
        prop_oneof![Just("RTP/AVP"), Just("RTP/AVP"), Just("RTP/SAVP")],
        prop_oneof![Just(0u16), 1024u16..60000],
        formats,
        direction(),
        any::<bool>(),
    )
        .prop_map(|(media, proto, port, formats, dir, ice)| {
            let mut s = format!("m={media} {port} {proto} {}\r\n", formats.join(" "));
            for f in &formats {
                match *f {
                    "9" => s.push_str("a=rtpmap:9 G722/8000\r\n"),
                    "18" => s.push_str("a=rtpmap:18 G729/8000\r\n"),
                    "96" => s.push_str("a=rtpmap:96 opus/48000/2\r\n"),
                    "101" => s.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"),
                    _ => {}
                }
            }
            s.push_str(&format!("a={}\r\n", dir.as_str()));
            if ice {
                s.push_str(&format!(
                    "a=ice-ufrag:peer\r\na=ice-pwd:peerpasswordpasswordpw\r\na=candidate:1 1 UDP 2130706431 192.0.2.9 {port} typ host\r\n"
                ));
            }
            s
        })
}

fn local_stream() -> impl Strategy<Value = LocalStream> {
    let codecs = proptest::sample::subsequence(
        vec![
            AudioCodec::Pcmu,
            AudioCodec::Pcma,
            AudioCodec::TelephoneEvent,
        ],
        1..=3,
    );
    (codecs, direction(), any::<bool>(), 1u16..100).prop_map(|(codecs, dir, ice, n)| {
        let address = SocketAddr::new("198.51.100.7".parse().unwrap(), 20000 + 2 * n);
        let mut s = LocalStream::audio(address, None);
        s.codecs = codecs;
        s.direction = dir;
        if ice {
            s.ice = Some(LocalIce {
                credentials: Credentials {
                    ufrag: "mine".into(),
                    pwd: "minepasswordpasswordpw".into(),
                },
                candidates: vec![Candidate::host("1", 1, address, 65535)],
                selected: None,
            });
        }
        s
    })
}

proptest! {
    #[test]
    fn offer_then_answer_keeps_the_rfc_3264_invariants(
        media in proptest::collection::vec(offered_media(), 1..5),
        locals in proptest::collection::vec(local_stream(), 0..3),
    ) {
        let offer_text = format!("v=0\r\no=- 9 9 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n{}", media.concat());
        let offer = parse(&offer_text).unwrap();
        let mut answerer = SdpSession::new("198.51.100.7".parse().unwrap(), 2, IceSettings::default());
        let answer = match answerer.create_answer(&offer, &locals) {
            Ok(a) => a,
            // SRTP is off by default: an offer whose only usable stream is RTP/SAVP cannot
            // be satisfied, and that is an error (a 488), not a port-0 answer (issue 17).
            Err(OfferAnswerError::Srtp { index, .. }) => {
                prop_assert_eq!(&offer.media[index].proto, "RTP/SAVP");
                return Ok(());
            }
            Err(e) => panic!("{e}"),
        };
        let answer_sdp = parse(&answer.sdp.to_string()).unwrap();
        check_invariants(&offer, &answer_sdp)?;
        let mut offerer = SdpSession::new("192.0.2.9".parse().unwrap(), 3, IceSettings::default());
        let (streams, _) = offerer.process_answer(&offer, &answer_sdp).unwrap();
        prop_assert_eq!(streams.iter().filter(|s| s.active().is_some()).count(),
            answer_sdp.media.iter().filter(|m| m.port != 0).count());
    }

    #[test]
    fn our_own_offers_answered_by_ourselves_keep_the_invariants(
        offered in proptest::collection::vec(local_stream(), 1..3),
        answering in proptest::collection::vec(local_stream(), 0..3),
    ) {
        let mut offerer = SdpSession::new("192.0.2.9".parse().unwrap(), 3, IceSettings::default());
        let offer = parse(&offerer.create_offer(&offered).unwrap().to_string()).unwrap();
        let mut answerer = SdpSession::new("198.51.100.7".parse().unwrap(), 2, IceSettings::default());
        let answer = parse(&answerer.create_answer(&offer, &answering).unwrap().sdp.to_string()).unwrap();
        check_invariants(&offer, &answer)?;
        let (streams, _) = offerer.process_answer(&offer, &answer).unwrap();
        for s in streams.iter().filter_map(|s| s.active()) {
            let ours = offered.get(s.index).map(|l| l.direction).unwrap();
            prop_assert!(!s.direction.sends() || ours.sends());
            prop_assert!(!s.direction.receives() || ours.receives());
        }
    }
}

fn check_invariants(
    offer: &sdp::SessionDescription,
    answer: &sdp::SessionDescription,
) -> Result<(), TestCaseError> {
    // RFC 3264 §6: same number of m= lines, same order.
    prop_assert_eq!(offer.media.len(), answer.media.len());
    for (o, a) in offer.media.iter().zip(&answer.media) {
        prop_assert_eq!(&o.media, &a.media);
        if o.port == 0 {
            prop_assert_eq!(a.port, 0);
        }
        if a.port == 0 {
            continue;
        }
        // A non-empty intersection holding a voice codec, in the offer's payload types.
        let answered = read_formats(a).unwrap();
        prop_assert!(answered
            .iter()
            .any(|f| matches!(f.codec(), Some(AudioCodec::Pcmu | AudioCodec::Pcma))));
        for f in &answered {
            prop_assert!(o.formats.contains(&f.payload_type.to_string()));
        }
        // RFC 3264 §6.1: the answer sends only if the offer receives, and vice versa.
        let od = read_direction(offer, o);
        let ad = read_direction(answer, a);
        prop_assert!(
            !ad.sends() || od.receives(),
            "offer {:?} answer {:?}",
            od,
            ad
        );
        prop_assert!(
            !ad.receives() || od.sends(),
            "offer {:?} answer {:?}",
            od,
            ad
        );
        prop_assert!(!answer.to_string().contains("c=IN IP4 0.0.0.0") || a.port == 9);
    }
    Ok(())
}
