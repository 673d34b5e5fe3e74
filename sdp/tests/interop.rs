//! How we handle SDPs shaped like Asterisk's, pjsua's and baresip's (fixtures in
//! tests/data/interop/, see its README and ../shared/INTEROP-NOTES.md).

mod common;

use std::net::SocketAddr;

use common::{addr, data, gathered, ice_stream, session};
use ice::{CandidateKind, Transport};
use sdp::ice_attrs::read_ice;
use sdp::offer_answer::{
    verify_ice_support, DefaultMismatchPolicy, IceSettings, IceSupport, PairState, PairView,
    RemoteIce, SdpSession, UpdatedOfferResponse,
};
use sdp::{parse, HasAttributes};

#[test]
fn asterisk_offer_parses_with_media_level_hex_credentials_and_no_options() {
    let sd = parse(&data("interop/asterisk-offer.sdp")).unwrap();
    let view = read_ice(&sd).unwrap();
    assert!(
        view.session.ufrag.is_none(),
        "Asterisk puts credentials at media level only"
    );
    let s = &view.streams[0];
    let c = s.credentials.as_ref().unwrap();
    assert_eq!((c.ufrag.len(), c.pwd.len()), (32, 32));
    assert!(
        !s.options.ice2(),
        "no ice2: the peer follows RFC 5245, so the updated offer is mandatory"
    );
    assert_eq!(s.candidates.len(), 6);
    // Two host candidates of a component with the same priority are both kept.
    let same_priority = s
        .candidates
        .iter()
        .filter(|c| c.component == 1 && c.priority == 2130706431)
        .count();
    assert_eq!(same_priority, 2);
    assert_eq!(s.candidates[0].foundation, "Hc6336410");
    // Component 2 is RTP port + 1 without a=rtcp.
    assert!(s.rtcp.is_none());
    assert_eq!(
        s.default_rtcp(addr("198.51.100.10:17010")),
        addr("198.51.100.10:17011")
    );
}

#[test]
fn asterisk_c_line_is_not_among_its_candidates() {
    let sd = parse(&data("interop/asterisk-offer.sdp")).unwrap();
    let view = read_ice(&sd).unwrap();
    assert_eq!(
        verify_ice_support(&sd, &sd.media[0], &view.streams[0]),
        IceSupport::DefaultNotACandidate {
            component: 1,
            default: addr("198.51.100.10:17010")
        }
    );
}

/// Deliberate decision (ASSUMPTIONS.md): by default we keep ICE with Asterisk and take its
/// `c=` address as one more, lowest-priority candidate, instead of answering ice-mismatch
/// (which would turn ICE off, and with it the guarantee that media only uses proved paths).
#[test]
fn asterisk_offer_keeps_ice_under_the_default_policy() {
    let offer = parse(&data("interop/asterisk-offer.sdp")).unwrap();
    let answer = session("198.51.100.1")
        .create_answer(&offer, &[ice_stream("ours", gathered())])
        .unwrap();
    let m = &answer.sdp.media[0];
    assert!(!m.has_attribute("ice-mismatch"));
    assert_eq!(m.attributes_named("candidate").count(), 6);
    assert!(!m.has_attribute("remote-candidates"));
    let RemoteIce::Ice(data) = &answer.streams[0].active().unwrap().ice else {
        panic!("ICE dropped")
    };
    assert_eq!(data.candidates.len(), 7);
    assert_eq!(data.candidates[6].address, addr("198.51.100.10:17010"));
    assert!(!data.options.ice2());
    assert_eq!(answer.warnings.len(), 1);
    assert_eq!(answer.warnings[0].line, 6, "the m= line of the stream");
    let formats: Vec<u8> = answer.streams[0]
        .active()
        .unwrap()
        .formats
        .iter()
        .map(|f| f.payload_type)
        .collect();
    assert_eq!(formats, [0, 8, 101]);
}

#[test]
fn asterisk_offer_gets_ice_mismatch_under_the_strict_policy() {
    let offer = parse(&data("interop/asterisk-offer.sdp")).unwrap();
    let strict = IceSettings {
        on_default_mismatch: DefaultMismatchPolicy::IceMismatch,
        ..IceSettings::default()
    };
    let answer = SdpSession::new("198.51.100.1".parse().unwrap(), 1, strict)
        .create_answer(&offer, &[ice_stream("ours", gathered())])
        .unwrap();
    assert!(answer.sdp.media[0].has_attribute("ice-mismatch"));
    assert_eq!(answer.streams[0].active().unwrap().ice, RemoteIce::Mismatch);
}

#[test]
fn pjsua_offer_keeps_unknown_lines_and_verifies() {
    let text = data("interop/pjsua-offer.sdp");
    let sd = parse(&text).unwrap();
    assert_eq!(sd.session_name, "pjmedia");
    assert!(sd.has_attribute("X-nat"));
    let view = read_ice(&sd).unwrap();
    let s = &view.streams[0];
    assert_eq!(s.candidates.len(), 4);
    assert_eq!(
        s.default_rtcp(addr("203.0.113.20:4000")),
        addr("203.0.113.20:4001")
    );
    assert_eq!(
        verify_ice_support(&sd, &sd.media[0], s),
        IceSupport::Supported
    );
    // Written back byte for byte: pjsua already uses RFC order.
    assert_eq!(sd.to_string(), text);
}

struct AllValid;
impl PairView for AllValid {
    fn pair_state(&self, _: usize, _: u16, _: SocketAddr, _: SocketAddr) -> PairState {
        PairState::Valid
    }
}

#[test]
fn pjsua_updated_offer_with_remote_candidates_is_answered_by_the_losing_pair_rules() {
    let mut ours = session("198.51.100.1");
    let local = [ice_stream("ours", gathered())];
    let first = ours
        .create_answer(&parse(&data("interop/pjsua-offer.sdp")).unwrap(), &local)
        .unwrap();
    let v1 = first.sdp.origin.session_version;
    let updated = parse(&data("interop/pjsua-updated-offer.sdp")).unwrap();
    let UpdatedOfferResponse::Answer(answer) = ours
        .answer_updated_offer(&updated, &local, &AllValid)
        .unwrap()
    else {
        panic!("expected an answer")
    };
    let sd = parse(&answer.sdp.to_string()).unwrap();
    assert_eq!(
        sdp::offer_answer::remote_default(&sd, &sd.media[0]),
        Some(addr("198.51.100.1:5000"))
    );
    let view = read_ice(&sd).unwrap();
    assert_eq!(view.streams[0].candidates.len(), 2);
    assert_eq!(sd.origin.session_version, v1 + 1, "our answer changed");
    // Same credentials: not a restart; pjsua regenerates nothing.
    let RemoteIce::Ice(d) = &answer.streams[0].active().unwrap().ice else {
        panic!()
    };
    assert!(!d.restart);
}

#[test]
fn baresip_offer_with_lf_endings_session_credentials_and_mux() {
    let text = data("interop/baresip-offer.sdp");
    assert!(!text.contains('\r'));
    let sd = parse(&text).unwrap();
    assert!(sd.has_attribute("tool"));
    let view = read_ice(&sd).unwrap();
    let s = &view.streams[0];
    assert_eq!(
        s.credentials.as_ref().unwrap().ufrag,
        "rQ3x",
        "session-level credentials apply"
    );
    assert!(s.rtcp_mux);
    assert!(
        s.candidates.iter().all(|c| c.transport == Transport::Udp),
        "lower-case udp accepted"
    );
    assert_eq!(s.candidates[1].kind, CandidateKind::ServerReflexive);
    assert_eq!(
        verify_ice_support(&sd, &sd.media[0], s),
        IceSupport::Supported
    );

    let mut local = ice_stream("ours", gathered());
    local.rtcp_mux = true;
    let answer = session("198.51.100.1")
        .create_answer(&sd, &[local])
        .unwrap();
    let m = &answer.sdp.media[0];
    assert!(m.has_attribute("rtcp-mux"));
    assert!(m
        .attributes
        .iter()
        .any(|a| a.name == "fmtp" && a.value.as_deref() == Some("101 0-15")));
    let stream = answer.streams[0].active().unwrap();
    assert_eq!(stream.remote_rtp, Some(addr("203.0.113.30:10002")));
    assert_eq!(stream.remote_ptime, Some(20));
}
