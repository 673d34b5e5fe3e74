//! RFC 3264 offer/answer for audio with the RFC 8839 ICE rules.

mod common;

use std::net::SocketAddr;

use common::{addr, candidate, credentials, gathered, ice_stream, session};
use ice::{CandidateKind, Transport};
use sdp::audio::{read_direction, Direction};
use sdp::candidate_attr::RemoteCandidate;
use sdp::ice_attrs::read_ice;
use sdp::offer_answer::{
    credential_change, CredentialChange, DefaultMismatchPolicy, IceSettings, LocalStream,
    OfferAnswerError, PairState, PairView, RemoteIce, SdpSession, Selected, StreamResult,
    UpdatedOfferResponse,
};
use sdp::{parse, Address, HasAttributes, SessionDescription};

fn reparse(sd: &SessionDescription) -> SessionDescription {
    parse(&sd.to_string()).expect("our own output parses")
}

fn default_of(sd: &SessionDescription, index: usize) -> SocketAddr {
    sdp::offer_answer::remote_default(sd, &sd.media[index]).expect("default")
}

#[test]
fn initial_offer_default_is_relay_then_srflx_then_host() {
    let all = gathered();
    let no_relay: Vec<_> = all
        .iter()
        .filter(|c| c.kind != CandidateKind::Relayed)
        .cloned()
        .collect();
    let host_only: Vec<_> = all
        .iter()
        .filter(|c| c.kind == CandidateKind::Host)
        .cloned()
        .collect();
    for (cands, expected) in [
        (all, "192.0.2.100:7000"),
        (no_relay, "203.0.113.1:6000"),
        (host_only, "198.51.100.1:5000"),
    ] {
        let n = cands.len();
        let offer = reparse(
            &session("198.51.100.1")
                .create_offer(&[ice_stream("a", cands)])
                .unwrap(),
        );
        assert_eq!(default_of(&offer, 0), addr(expected));
        let view = read_ice(&offer).unwrap();
        // RFC 8839 §4.2.1.2: every candidate, the default included.
        assert_eq!(view.streams[0].candidates.len(), n);
        assert!(view.session.options.ice2(), "RFC 8839 §4.2.1.5");
        assert_eq!(view.session.pacing_ms, Some(50));
        assert!(!view.session.lite);
        // Component 2 is on default port + 1 here, so no a=rtcp is needed.
        assert!(!offer.media[0].has_attribute("rtcp"));
        assert_eq!(
            sdp::offer_answer::verify_ice_support(&offer, &offer.media[0], &view.streams[0]),
            sdp::offer_answer::IceSupport::Supported
        );
    }
}

#[test]
fn offer_carries_codecs_ptime_direction() {
    let offer = reparse(
        &session("198.51.100.1")
            .create_offer(&[ice_stream("a", gathered())])
            .unwrap(),
    );
    let m = &offer.media[0];
    assert_eq!(m.formats, ["0", "8", "101"]);
    let values: Vec<_> = m
        .attributes
        .iter()
        .filter_map(|a| a.value.clone())
        .collect();
    for expected in [
        "0 PCMU/8000",
        "8 PCMA/8000",
        "101 telephone-event/8000",
        "101 0-16",
        "20",
    ] {
        assert!(
            values.iter().any(|v| v == expected),
            "{expected} missing in {values:?}"
        );
    }
    assert_eq!(read_direction(&offer, m), Direction::SendRecv);
    assert!(offer.to_string().ends_with("\r\n"));
}

#[test]
fn offer_answer_round_trip_with_ice() {
    let mut alice = session("198.51.100.1");
    let mut bob = session("198.51.100.2");
    let offer = reparse(
        &alice
            .create_offer(&[ice_stream("alice", gathered())])
            .unwrap(),
    );
    let bob_cands = vec![candidate(
        "b",
        1,
        CandidateKind::Host,
        "198.51.100.2:9000",
        None,
    )];
    let answer = bob
        .create_answer(&offer, &[ice_stream("bob0", bob_cands)])
        .unwrap();
    let StreamResult::Active(b) = &answer.streams[0] else {
        panic!("rejected")
    };
    let RemoteIce::Ice(alice_ice) = &b.ice else {
        panic!("no ICE: {:?}", b.ice)
    };
    assert_eq!(alice_ice.credentials, credentials("alice"));
    assert_eq!(alice_ice.candidates.len(), 6);
    assert_eq!(b.remote_rtp, Some(addr("192.0.2.100:7000")));
    let answer_sdp = reparse(&answer.sdp);
    assert_eq!(default_of(&answer_sdp, 0), addr("198.51.100.2:9000"));
    // No component 2 candidates and no mux: RFC 8839 §4.2.2 says b=RS:0/b=RR:0.
    let b_lines: Vec<&str> = answer_sdp.media[0]
        .other_lines
        .iter()
        .map(|l| l.value.as_str())
        .collect();
    assert_eq!(b_lines, ["RS:0", "RR:0"]);

    let (streams, _) = alice.process_answer(&offer, &answer_sdp).unwrap();
    let a = streams[0].active().unwrap();
    let RemoteIce::Ice(bob_ice) = &a.ice else {
        panic!("no ICE")
    };
    assert_eq!(bob_ice.credentials, credentials("bob0"));
    assert!(!bob_ice.restart);
    let codecs: Vec<u8> = a.formats.iter().map(|f| f.payload_type).collect();
    assert_eq!(codecs, [0, 8, 101]);
    assert_eq!(a.direction, Direction::SendRecv);
    assert_eq!(a.remote_rtp, Some(addr("198.51.100.2:9000")));
}

#[test]
fn hold_is_sendonly_or_inactive_and_never_zero_address() {
    for (ours, theirs) in [
        (Direction::SendOnly, Direction::RecvOnly),
        (Direction::Inactive, Direction::Inactive),
    ] {
        let mut alice = session("198.51.100.1");
        let mut stream = ice_stream("alice", gathered());
        stream.direction = ours;
        let offer = reparse(&alice.create_offer(&[stream]).unwrap());
        assert!(
            !offer.to_string().contains("0.0.0.0"),
            "RFC 8839 §4.4.1.1.1"
        );
        assert_eq!(read_direction(&offer, &offer.media[0]), ours);
        // ICE attributes stay on a held stream (RFC 8839 §4.2.1.6).
        assert_eq!(read_ice(&offer).unwrap().streams[0].candidates.len(), 6);
        let answer = session("198.51.100.2")
            .create_answer(&offer, &[ice_stream("bob0", gathered())])
            .unwrap();
        let answer_sdp = reparse(&answer.sdp);
        assert_eq!(read_direction(&answer_sdp, &answer_sdp.media[0]), theirs);
        assert!(!answer_sdp.to_string().contains("c=IN IP4 0.0.0.0"));
        let (streams, _) = alice.process_answer(&offer, &answer_sdp).unwrap();
        assert_eq!(streams[0].active().unwrap().direction, ours);
    }
}

#[test]
fn answer_direction_follows_rfc_3264_table() {
    use Direction::*;
    assert_eq!(Direction::answer_to(SendOnly, SendRecv), RecvOnly);
    assert_eq!(Direction::answer_to(RecvOnly, SendRecv), SendOnly);
    assert_eq!(Direction::answer_to(Inactive, SendRecv), Inactive);
    assert_eq!(Direction::answer_to(SendRecv, SendOnly), SendOnly);
    assert_eq!(Direction::answer_to(SendOnly, SendOnly), Inactive);
}

#[test]
fn version_increases_on_every_change_and_only_then() {
    let mut alice = session("198.51.100.1");
    let stream = ice_stream("alice", gathered());
    let v0 = alice
        .create_offer(std::slice::from_ref(&stream))
        .unwrap()
        .origin
        .session_version;
    let v_same = alice
        .create_offer(std::slice::from_ref(&stream))
        .unwrap()
        .origin
        .session_version;
    assert_eq!(
        v_same, v0,
        "RFC 3264 §8: unchanged description keeps its version"
    );
    let mut held = stream.clone();
    held.direction = Direction::SendOnly;
    let v1 = alice.create_offer(&[held]).unwrap().origin.session_version;
    assert_eq!(v1, v0 + 1);
    let v2 = alice
        .create_offer(&[stream])
        .unwrap()
        .origin
        .session_version;
    assert_eq!(v2, v1 + 1);
    assert_eq!(alice.version(), v2);
}

const MULTI_OFFER: &str =
    "v=0\r\no=- 5 5 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n\
m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
m=audio 6002 RTP/AVP 9 0\r\na=rtpmap:9 G722/8000\r\n\
m=audio 6004 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n\
m=audio 6006 RTP/SAVP 0\r\n\
m=audio 0 RTP/AVP 0\r\n\
m=audio 6008 RTP/AVP 8\r\n";

#[test]
fn unsupported_m_lines_are_rejected_with_port_0_and_order_is_kept() {
    let mut bob = session("198.51.100.2");
    let offer = parse(MULTI_OFFER).unwrap();
    let answer = bob
        .create_answer(
            &offer,
            &[LocalStream::audio(addr("198.51.100.2:7000"), None)],
        )
        .unwrap();
    let sd = reparse(&answer.sdp);
    assert_eq!(sd.media.len(), offer.media.len());
    let ports: Vec<u16> = sd.media.iter().map(|m| m.port).collect();
    // Video, G722-only, SAVP and the port-0 stream rejected; the first usable audio gets our
    // only local stream; the last audio has no local stream left.
    assert_eq!(ports, [0, 7000, 0, 0, 0, 0]);
    let kinds: Vec<&str> = sd.media.iter().map(|m| m.media.as_str()).collect();
    assert_eq!(
        kinds,
        ["video", "audio", "audio", "audio", "audio", "audio"]
    );
    assert_eq!(
        sd.media[1].formats,
        ["0"],
        "only the common codec, with the offer's type"
    );
    assert!(
        !sd.to_string().contains("ice-"),
        "RFC 8839 §4.3.2: no ICE attributes when the offer had none"
    );
    assert!(matches!(answer.streams[1], StreamResult::Active(_)));
    assert_eq!(
        answer
            .streams
            .iter()
            .filter(|s| s.active().is_none())
            .count(),
        5
    );
}

#[test]
fn two_local_streams_answer_two_audio_m_lines() {
    let offer = parse(MULTI_OFFER).unwrap();
    let answer = session("198.51.100.2")
        .create_answer(
            &offer,
            &[
                LocalStream::audio(addr("198.51.100.2:7000"), None),
                LocalStream::audio(addr("198.51.100.2:7002"), None),
            ],
        )
        .unwrap();
    let ports: Vec<u16> = answer.sdp.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [0, 7000, 0, 0, 0, 7002]);
}

#[test]
fn telephone_event_events_are_intersected() {
    let offer = "v=0\r\no=- 5 5 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-11,16,32\r\n";
    let answer = session("198.51.100.2")
        .create_answer(
            &parse(offer).unwrap(),
            &[LocalStream::audio(addr("198.51.100.2:7000"), None)],
        )
        .unwrap();
    let m = &answer.sdp.media[0];
    assert_eq!(m.formats, ["8", "96"]);
    assert!(m
        .attributes
        .iter()
        .any(|a| a.value.as_deref() == Some("96 0-11,16")));
}

fn offer_with_default(c_line: &str, port: u16) -> SessionDescription {
    parse(&format!(
        "v=0\r\no=- 5 5 IN IP4 192.0.2.50\r\ns=-\r\n{c_line}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n\
         a=ice-ufrag:peer\r\na=ice-pwd:peerpasswordpasswordpw\r\n\
         a=candidate:1 1 UDP 2130706431 192.0.2.50 6000 typ host\r\n"
    ))
    .unwrap()
}

#[test]
fn ice_mismatch_answer_when_default_is_not_a_candidate_under_the_strict_policy() {
    let settings = IceSettings {
        on_default_mismatch: DefaultMismatchPolicy::IceMismatch,
        ..IceSettings::default()
    };
    let mut bob = SdpSession::new("198.51.100.2".parse().unwrap(), 7, settings);
    let offer = offer_with_default("c=IN IP4 192.0.2.99", 6000);
    let answer = bob
        .create_answer(&offer, &[ice_stream("bob0", gathered())])
        .unwrap();
    let m = &answer.sdp.media[0];
    assert!(m.has_attribute("ice-mismatch"));
    // RFC 8839 §4.2.5: no candidates with the mismatch; plain RFC 3264 for the stream.
    assert!(!m.has_attribute("candidate") && !m.has_attribute("ice-ufrag"));
    assert!(!answer.sdp.has_attribute("ice-options"));
    assert_eq!(answer.streams[0].active().unwrap().ice, RemoteIce::Mismatch);
    // The offerer reading that answer stops ICE for the stream.
    let mut alice = session("192.0.2.50");
    let (streams, _) = alice.process_answer(&offer, &reparse(&answer.sdp)).unwrap();
    assert_eq!(streams[0].active().unwrap().ice, RemoteIce::Mismatch);
}

#[test]
fn default_policy_keeps_ice_and_takes_the_default_as_a_candidate() {
    let offer = offer_with_default("c=IN IP4 192.0.2.99", 6000);
    let answer = session("198.51.100.2")
        .create_answer(&offer, &[ice_stream("bob0", gathered())])
        .unwrap();
    assert!(!answer.sdp.media[0].has_attribute("ice-mismatch"));
    let RemoteIce::Ice(data) = &answer.streams[0].active().unwrap().ice else {
        panic!("ICE dropped")
    };
    assert_eq!(data.candidates.len(), 2);
    assert_eq!(data.candidates[1].address, addr("192.0.2.99:6000"));
    assert!(
        data.candidates[1].priority < data.candidates[0].priority,
        "tried last"
    );
    assert_eq!(answer.warnings.len(), 1);
}

#[test]
fn unspecified_port_9_and_fqdn_defaults_are_not_failures() {
    let settings = IceSettings {
        on_default_mismatch: DefaultMismatchPolicy::IceMismatch,
        ..IceSettings::default()
    };
    for (c, port) in [
        ("c=IN IP4 0.0.0.0", 9),
        ("c=IN IP6 ::", 9),
        ("c=IN IP4 media.example.com", 6000),
    ] {
        let offer = offer_with_default(c, port);
        let mut bob = SdpSession::new("198.51.100.2".parse().unwrap(), 7, settings.clone());
        let answer = bob
            .create_answer(&offer, &[ice_stream("bob0", gathered())])
            .unwrap();
        assert!(!answer.sdp.media[0].has_attribute("ice-mismatch"), "{c}");
        assert!(
            matches!(answer.streams[0].active().unwrap().ice, RemoteIce::Ice(_)),
            "{c}"
        );
    }
}

#[test]
fn offer_without_udp_candidates_uses_the_discard_default() {
    let mut tcp = candidate("t", 1, CandidateKind::Host, "198.51.100.1:5000", None);
    tcp.transport = Transport::Tcp;
    let offer = reparse(
        &session("198.51.100.1")
            .create_offer(&[ice_stream("a", vec![tcp])])
            .unwrap(),
    );
    assert_eq!(default_of(&offer, 0), addr("0.0.0.0:9"));
    let empty = reparse(
        &session("198.51.100.1")
            .create_offer(&[ice_stream("a", vec![])])
            .unwrap(),
    );
    assert_eq!(default_of(&empty, 0), addr("0.0.0.0:9"));
}

fn nominated(controlling: bool) -> LocalStream {
    let mut s = ice_stream("alice", gathered());
    let all = gathered();
    let host: Vec<_> = all
        .iter()
        .filter(|c| c.kind == CandidateKind::Host)
        .cloned()
        .collect();
    if let Some(ice) = &mut s.ice {
        ice.selected = Some(Selected {
            local: host,
            remote: vec![
                RemoteCandidate {
                    component: 1,
                    address: addr("198.51.100.2:9000"),
                },
                RemoteCandidate {
                    component: 2,
                    address: addr("198.51.100.2:9001"),
                },
            ],
            controlling,
        });
    }
    s
}

#[test]
fn updated_offer_after_nomination_holds_only_the_selected_candidates() {
    let mut alice = session("198.51.100.1");
    let initial = alice
        .create_offer(&[ice_stream("alice", gathered())])
        .unwrap();
    let updated = reparse(&alice.create_offer(&[nominated(true)]).unwrap());
    assert_eq!(
        updated.origin.session_version,
        initial.origin.session_version + 1
    );
    assert_eq!(
        default_of(&updated, 0),
        addr("198.51.100.1:5000"),
        "RFC 8839 §4.4.1.2.2: c=/m= = nominated"
    );
    let view = read_ice(&updated).unwrap();
    let s = &view.streams[0];
    assert_eq!(s.candidates.len(), 2);
    assert!(s.candidates.iter().all(|c| c.kind == CandidateKind::Host));
    assert_eq!(s.remote_candidates.as_ref().unwrap().len(), 2);
    assert_eq!(s.credentials, Some(credentials("alice")), "no restart");
    // The controlled side never sends remote-candidates (RFC 8839 §5.2).
    let controlled = reparse(
        &session("198.51.100.1")
            .create_offer(&[nominated(false)])
            .unwrap(),
    );
    assert!(read_ice(&controlled).unwrap().streams[0]
        .remote_candidates
        .is_none());
}

struct Pairs(PairState);
impl PairView for Pairs {
    fn pair_state(
        &self,
        stream: usize,
        _component: u16,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> PairState {
        assert_eq!(stream, 0);
        // The pair is (our srflx named in remote-candidates, the offerer's default).
        assert!(
            local == addr("203.0.113.1:6000") || local == addr("203.0.113.1:6001"),
            "{local}"
        );
        assert!(
            remote == addr("192.0.2.60:4000") || remote == addr("192.0.2.60:4001"),
            "{remote}"
        );
        self.0
    }
}

fn updated_offer_naming_our_srflx() -> SessionDescription {
    parse(
        "v=0\r\no=- 5 6 IN IP4 192.0.2.60\r\ns=-\r\nc=IN IP4 192.0.2.60\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n\
         a=ice-ufrag:peer\r\na=ice-pwd:peerpasswordpasswordpw\r\n\
         a=candidate:1 1 UDP 2130706431 192.0.2.60 4000 typ host\r\n\
         a=candidate:1 2 UDP 2130706430 192.0.2.60 4001 typ host\r\n\
         a=remote-candidates:1 203.0.113.1 6000 2 203.0.113.1 6001\r\n",
    )
    .unwrap()
}

#[test]
fn losing_pair_rules_answer_wait_or_restart() {
    let offer = updated_offer_naming_our_srflx();
    let ours = [ice_stream("bob0", gathered())];

    let UpdatedOfferResponse::Answer(answer) = session("198.51.100.2")
        .answer_updated_offer(&offer, &ours, &Pairs(PairState::Valid))
        .unwrap()
    else {
        panic!("expected an answer")
    };
    let sd = reparse(&answer.sdp);
    // RFC 8839 §4.4.2: default = the remote-candidates values, a candidate line for each,
    // and no remote-candidates in the answer.
    assert_eq!(default_of(&sd, 0), addr("203.0.113.1:6000"));
    let view = read_ice(&sd).unwrap();
    let addrs: Vec<SocketAddr> = view.streams[0]
        .candidates
        .iter()
        .map(|c| c.address)
        .collect();
    assert_eq!(addrs, [addr("203.0.113.1:6000"), addr("203.0.113.1:6001")]);
    assert!(view.streams[0].remote_candidates.is_none());

    assert_eq!(
        session("198.51.100.2")
            .answer_updated_offer(&offer, &ours, &Pairs(PairState::InProgress))
            .unwrap(),
        UpdatedOfferResponse::Wait
    );

    let UpdatedOfferResponse::RestartNeeded(answer) = session("198.51.100.2")
        .answer_updated_offer(&offer, &ours, &Pairs(PairState::Failed))
        .unwrap()
    else {
        panic!("expected restart")
    };
    // Answered as if the attribute were absent: all our candidates, our usual default.
    let sd = reparse(&answer.sdp);
    assert_eq!(read_ice(&sd).unwrap().streams[0].candidates.len(), 6);
    assert_eq!(default_of(&sd, 0), addr("192.0.2.100:7000"));
}

#[test]
fn remote_candidates_naming_an_unknown_address_is_an_error() {
    let offer = updated_offer_naming_our_srflx();
    let ours = [ice_stream(
        "bob0",
        vec![candidate(
            "h",
            1,
            CandidateKind::Host,
            "198.51.100.2:9000",
            None,
        )],
    )];
    struct AllValid;
    impl PairView for AllValid {
        fn pair_state(&self, _: usize, _: u16, _: SocketAddr, _: SocketAddr) -> PairState {
            PairState::Valid
        }
    }
    let err = session("198.51.100.2")
        .answer_updated_offer(&offer, &ours, &AllValid)
        .unwrap_err();
    assert!(
        matches!(
            err,
            OfferAnswerError::UnknownRemoteCandidate { index: 0, .. }
        ),
        "{err:?}"
    );
}

#[test]
fn restart_is_detected_when_ufrag_and_pwd_change() {
    let offer1 = offer_with_default("c=IN IP4 192.0.2.50", 6000);
    let text2 = offer1
        .to_string()
        .replace("ice-ufrag:peer", "ice-ufrag:peer2")
        .replace("peerpasswordpasswordpw", "newpasswordpasswordpw2");
    let offer2 = parse(&text2).unwrap();
    let mut bob = session("198.51.100.2");
    let ours = [ice_stream("bob0", gathered())];
    let first = bob.create_answer(&offer1, &ours).unwrap();
    let RemoteIce::Ice(d) = &first.streams[0].active().unwrap().ice else {
        panic!()
    };
    assert!(!d.restart);
    let again = bob.create_answer(&offer1, &ours).unwrap();
    let RemoteIce::Ice(d) = &again.streams[0].active().unwrap().ice else {
        panic!()
    };
    assert!(!d.restart, "same credentials: no restart");
    let second = bob.create_answer(&offer2, &ours).unwrap();
    let RemoteIce::Ice(d) = &second.streams[0].active().unwrap().ice else {
        panic!()
    };
    assert!(d.restart);

    let a = credentials("a");
    let mut half = a.clone();
    half.ufrag = "zzzz".into();
    assert_eq!(credential_change(&a, &a), CredentialChange::Same);
    assert_eq!(
        credential_change(&a, &credentials("b")),
        CredentialChange::Restart
    );
    assert_eq!(credential_change(&a, &half), CredentialChange::Inconsistent);
}

#[test]
fn ice_options_change_without_restart_is_refused() {
    let offer1 = offer_with_default("c=IN IP4 192.0.2.50", 6000);
    let offer2 = parse(
        &offer1
            .to_string()
            .replace("t=0 0\r\n", "t=0 0\r\na=ice-options:ice2\r\n"),
    )
    .unwrap();
    let mut bob = session("198.51.100.2");
    let ours = [ice_stream("bob0", gathered())];
    bob.create_answer(&offer1, &ours).unwrap();
    assert_eq!(
        bob.create_answer(&offer2, &ours).unwrap_err(),
        OfferAnswerError::IceParametersChangedWithoutRestart
    );
}

#[test]
fn answer_without_ice_falls_back_to_rfc_3264_for_the_stream() {
    let mut alice = session("198.51.100.1");
    let offer = reparse(
        &alice
            .create_offer(&[ice_stream("alice", gathered())])
            .unwrap(),
    );
    let mut bob = session("198.51.100.2");
    let answer = bob
        .create_answer(
            &offer,
            &[LocalStream::audio(addr("198.51.100.2:7000"), None)],
        )
        .unwrap();
    assert!(
        !answer.sdp.to_string().contains("a=ice"),
        "no ICE attributes from a peer without ICE"
    );
    let (streams, _) = alice.process_answer(&offer, &reparse(&answer.sdp)).unwrap();
    let s = streams[0].active().unwrap();
    assert_eq!(s.ice, RemoteIce::None);
    assert_eq!(s.remote_rtp, Some(addr("198.51.100.2:7000")));
}

#[test]
fn answer_with_a_different_m_line_count_is_refused() {
    let mut alice = session("198.51.100.1");
    let offer = alice
        .create_offer(&[ice_stream("alice", gathered())])
        .unwrap();
    let mut bad = offer.clone();
    bad.media.push(offer.media[0].clone());
    assert_eq!(
        alice.process_answer(&offer, &bad).unwrap_err(),
        OfferAnswerError::MediaCountMismatch {
            offer: 1,
            answer: 2
        }
    );
}

#[test]
fn sent_ufrag_longer_than_32_is_refused() {
    let mut s = ice_stream("alice", gathered());
    if let Some(ice) = &mut s.ice {
        ice.credentials.ufrag = "u".repeat(33);
    }
    assert!(matches!(
        session("198.51.100.1").create_offer(&[s]),
        Err(OfferAnswerError::LocalCredentials(_))
    ));
}

#[test]
fn rtcp_mux_agreed_drops_component_2_and_a_rtcp() {
    let mut alice_stream = ice_stream("alice", gathered());
    alice_stream.rtcp_mux = true;
    let offer = reparse(
        &session("198.51.100.1")
            .create_offer(&[alice_stream])
            .unwrap(),
    );
    assert!(offer.media[0].has_attribute("rtcp-mux"));
    // The offer keeps component 2 in case the answerer does not mux.
    assert_eq!(read_ice(&offer).unwrap().streams[0].candidates.len(), 6);
    let mut bob_stream = ice_stream("bob0", gathered());
    bob_stream.rtcp_mux = true;
    let answer = session("198.51.100.2")
        .create_answer(&offer, &[bob_stream])
        .unwrap();
    let sd = reparse(&answer.sdp);
    assert!(sd.media[0].has_attribute("rtcp-mux"));
    assert!(read_ice(&sd).unwrap().streams[0]
        .candidates
        .iter()
        .all(|c| c.component == 1));
    assert!(answer.streams[0].active().unwrap().rtcp_mux);
}

#[test]
fn separate_rtcp_address_is_signalled_with_a_rtcp() {
    let mut cands = gathered();
    // Component 2's relay is not on port + 1 of component 1's.
    for c in cands
        .iter_mut()
        .filter(|c| c.component == 2 && c.kind == CandidateKind::Relayed)
    {
        c.address = addr("192.0.2.100:7100");
    }
    let offer = reparse(
        &session("198.51.100.1")
            .create_offer(&[ice_stream("a", cands)])
            .unwrap(),
    );
    let rtcp = offer.media[0].attribute("rtcp").unwrap();
    assert_eq!(rtcp.value.as_deref(), Some("7100 IN IP4 192.0.2.100"));
}

/// RFC 5761 §5.1.3 / RFC 8839 §4.2.2: an offer proposing rtcp-mux still carries component
/// 2 with its a=rtcp, for an answerer that does not mux; the answer accepting mux has none.
#[test]
fn mux_offer_also_signals_a_rtcp_for_component_2() {
    let mut cands = gathered();
    for c in cands
        .iter_mut()
        .filter(|c| c.component == 2 && c.kind == CandidateKind::Relayed)
    {
        c.address = addr("192.0.2.100:7100");
    }
    let mut stream = ice_stream("a", cands);
    stream.rtcp_mux = true;
    let offer = reparse(&session("198.51.100.1").create_offer(&[stream]).unwrap());
    assert!(offer.media[0].has_attribute("rtcp-mux"));
    let rtcp = offer.media[0].attribute("rtcp").unwrap();
    assert_eq!(rtcp.value.as_deref(), Some("7100 IN IP4 192.0.2.100"));
    let mut bob_stream = ice_stream("bob0", gathered());
    bob_stream.rtcp_mux = true;
    let answer = session("198.51.100.2")
        .create_answer(&offer, &[bob_stream])
        .unwrap();
    let sd = reparse(&answer.sdp);
    assert!(sd.media[0].has_attribute("rtcp-mux"));
    assert!(!sd.media[0].has_attribute("rtcp"));
}

#[test]
fn lite_agent_says_ice_lite_and_no_pacing() {
    let settings = IceSettings {
        lite: true,
        ..IceSettings::default()
    };
    let mut lite = SdpSession::new("198.51.100.1".parse().unwrap(), 3, settings);
    let offer = reparse(&lite.create_offer(&[ice_stream("a", gathered())]).unwrap());
    assert!(offer.has_attribute("ice-lite"));
    assert!(!offer.has_attribute("ice-pacing"), "RFC 8839 §4.3.1");
    assert!(offer.media.iter().all(|m| !m.has_attribute("ice-lite")));
    let view = read_ice(&offer).unwrap();
    assert!(view.session.lite);
    assert_eq!(
        offer.origin.address,
        Address::Ip("198.51.100.1".parse().unwrap())
    );
}
