//! Every SDP of `tests/data/` (copied from ../shared/testdata/sdp, bytes exact) parses with
//! the values its README lists.

mod common;

use common::{addr, data};
use ice::CandidateKind;
use sdp::audio::{read_formats, AudioCodec};
use sdp::ice_attrs::read_ice;
use sdp::offer_answer::{remote_default, verify_ice_support, IceSupport};
use sdp::{parse, Address, HasAttributes};

#[test]
fn section_4_2_6_example_has_the_readme_values() {
    let sd = parse(&data("rfc8839-4.2.6-example.sdp")).unwrap();
    // Decided on purpose: the RFC prints `s=` empty; we accept it (and write `-` for ours).
    assert_eq!(sd.session_name, "");
    assert_eq!(sd.origin.username, "jdoe");
    assert_eq!(sd.origin.session_version, 2890842807);
    let ice = read_ice(&sd).unwrap();
    assert!(ice.session.options.ice2());
    assert_eq!(ice.session.pacing_ms, Some(50));
    assert!(!ice.session.lite);
    let stream = &ice.streams[0];
    let creds = stream.credentials.as_ref().unwrap();
    assert_eq!(
        (creds.ufrag.as_str(), creds.pwd.as_str()),
        ("8hhY", "asd88fgpdd777uzjYhagZg")
    );
    assert_eq!(stream.candidates.len(), 2);
    let host = &stream.candidates[0];
    assert_eq!(
        (host.foundation.as_str(), host.component, host.priority),
        ("1", 1, 2130706431)
    );
    assert_eq!(host.address, addr("203.0.113.141:8998"));
    assert_eq!(host.kind, CandidateKind::Host);
    assert_eq!(host.related, None);
    let srflx = &stream.candidates[1];
    assert_eq!(srflx.priority, 1694498815);
    assert_eq!(srflx.kind, CandidateKind::ServerReflexive);
    assert_eq!(srflx.address, addr("192.0.2.3:45664"));
    assert_eq!(srflx.related, Some(addr("203.0.113.141:8998")));
    let m = &sd.media[0];
    assert_eq!(remote_default(&sd, m), Some(addr("192.0.2.3:45664")));
    assert_eq!(verify_ice_support(&sd, m, stream), IceSupport::Supported);
    let formats = read_formats(m).unwrap();
    assert_eq!(formats.len(), 1);
    assert_eq!(formats[0].codec(), Some(AudioCodec::Pcmu));
    let b: Vec<&str> = m.other_lines.iter().map(|l| l.value.as_str()).collect();
    assert_eq!(b, ["RS:0", "RR:0"]);
}

#[test]
fn appendix_a_offer_is_ipv6_with_srflx_default() {
    let sd = parse(&data("rfc8839-A-offer.sdp")).unwrap();
    assert_eq!(
        sd.origin.address,
        Address::Ip("fe80::6676:baff:fe9c:ee4a".parse().unwrap())
    );
    let ice = read_ice(&sd).unwrap();
    let s = &ice.streams[0];
    assert_eq!(s.credentials.as_ref().unwrap().ufrag, "8hhY");
    assert_eq!(
        s.candidates[0].address,
        addr("[fe80::6676:baff:fe9c:ee4a]:8998")
    );
    assert_eq!(s.candidates[0].kind, CandidateKind::Host);
    assert_eq!(
        s.candidates[1].address,
        addr("[2001:db8:8101:3a55:4858:a2a9:22ff:99b9]:45664")
    );
    assert_eq!(
        s.candidates[1].related,
        Some(addr("[fe80::6676:baff:fe9c:ee4a]:8998"))
    );
    assert_eq!(
        remote_default(&sd, &sd.media[0]),
        Some(addr("[2001:db8:8101:3a55:4858:a2a9:22ff:99b9]:45664"))
    );
    assert_eq!(
        verify_ice_support(&sd, &sd.media[0], s),
        IceSupport::Supported
    );
}

#[test]
fn appendix_a_answer_has_one_host_candidate_that_is_the_default() {
    let sd = parse(&data("rfc8839-A-answer.sdp")).unwrap();
    let ice = read_ice(&sd).unwrap();
    let s = &ice.streams[0];
    let c = s.credentials.as_ref().unwrap();
    assert_eq!(
        (c.ufrag.as_str(), c.pwd.as_str()),
        ("9uB6", "YH75Fviy6338Vbrhrlp8Yh")
    );
    assert_eq!(s.candidates.len(), 1);
    assert_eq!(s.candidates[0].address, addr("192.0.2.1:3478"));
    assert_eq!(
        remote_default(&sd, &sd.media[0]),
        Some(addr("192.0.2.1:3478"))
    );
    assert_eq!(ice.session.pacing_ms, Some(50));
    assert!(sd.has_attribute("ice-options"));
}

#[test]
fn every_example_survives_write_then_parse() {
    for name in [
        "rfc8839-4.2.6-example.sdp",
        "rfc8839-A-offer.sdp",
        "rfc8839-A-answer.sdp",
    ] {
        let sd = parse(&data(name)).unwrap();
        let written = sd.to_string();
        assert!(written.ends_with("\r\n"), "{name}");
        assert!(
            written.contains("\r\ns=-\r\n"),
            "{name}: we write `-` for an empty s="
        );
        let again = parse(&written).unwrap();
        assert_eq!(
            read_ice(&again).unwrap().streams,
            read_ice(&sd).unwrap().streams,
            "{name}"
        );
        assert_eq!(again.media.len(), sd.media.len());
        assert_eq!(again.origin, sd.origin);
    }
}

#[test]
fn the_examples_lines_are_written_back_in_their_original_order() {
    let text = data("rfc8839-4.2.6-example.sdp");
    let written = parse(&text).unwrap().to_string();
    // Only s= differs (empty in the RFC, `-` from us).
    assert_eq!(written.replace("s=-\r\n", "s=\r\n"), text);
}
