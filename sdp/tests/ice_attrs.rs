//! RFC 8839 §5 attributes: grammar limits, ignored candidates, precedence.

mod common;

use common::addr;
use ice::{CandidateKind, TcpType, Transport};
use sdp::candidate_attr::{format_candidate, parse_candidate, CandidateRead, RemoteCandidate};
use sdp::ice_attrs::{read_ice, RtcpAttr};
use sdp::{parse, Address};

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";
const PWD22: &str = "abcdefghijklmnopqrstuv";

fn sdp(session_attrs: &str, media_attrs: &str) -> sdp::SessionDescription {
    parse(&format!(
        "{HEAD}{session_attrs}m=audio 4000 RTP/AVP 0\r\n{media_attrs}"
    ))
    .unwrap()
}

#[test]
fn ufrag_limits_4_to_256_on_receive_pwd_22_to_256() {
    let u4 = "a+/4";
    let u256 = "u".repeat(256);
    for ufrag in [u4.to_string(), u256] {
        let view = read_ice(&sdp(
            "",
            &format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{PWD22}\r\n"),
        ))
        .unwrap();
        let c = view.streams[0].credentials.clone().unwrap();
        assert_eq!((c.ufrag.len(), c.pwd.as_str()), (ufrag.len(), PWD22));
    }
    for bad in [
        "abc".to_string(),
        "u".repeat(257),
        "ab cd".into(),
        "ab_cd".into(),
    ] {
        assert!(
            read_ice(&sdp(
                "",
                &format!("a=ice-ufrag:{bad}\r\na=ice-pwd:{PWD22}\r\n")
            ))
            .is_err(),
            "{bad}"
        );
    }
    assert!(read_ice(&sdp(
        "",
        &format!("a=ice-ufrag:abcd\r\na=ice-pwd:{}\r\n", &PWD22[1..])
    ))
    .is_err());
    assert!(read_ice(&sdp(
        "",
        &format!("a=ice-ufrag:abcd\r\na=ice-pwd:{}\r\n", "p".repeat(257))
    ))
    .is_err());
    assert!(read_ice(&sdp(
        "",
        &format!("a=ice-ufrag:abcd\r\na=ice-pwd:{}\r\n", "p".repeat(256))
    ))
    .is_ok());
}

#[test]
fn media_level_credentials_win_over_session_level() {
    let view = read_ice(&sdp(
        &format!("a=ice-ufrag:sess\r\na=ice-pwd:{PWD22}\r\n"),
        "a=ice-ufrag:media\r\n",
    ))
    .unwrap();
    let c = view.streams[0].credentials.clone().unwrap();
    assert_eq!((c.ufrag.as_str(), c.pwd.as_str()), ("media", PWD22));
}

#[test]
fn ufrag_without_pwd_is_unusable_and_warned() {
    let view = read_ice(&sdp("", "a=ice-ufrag:only\r\n")).unwrap();
    assert_eq!(view.streams[0].credentials, None);
    assert_eq!(view.warnings.len(), 1);
}

#[test]
fn fqdn_and_unknown_family_candidates_are_ignored_with_warnings() {
    let view = read_ice(&sdp(
        "",
        "a=candidate:1 1 UDP 2130706431 host.example.com 8998 typ host\r\n\
         a=candidate:2 1 UDP 2130706431 192.0.2.7 8998 typ host\r\n\
         a=candidate:3 1 UDP 2130706431 abcd$ 8998 typ host\r\n\
         a=candidate:4 1 DCCP 2130706431 192.0.2.8 8998 typ host\r\n\
         a=candidate:5 1 UDP 2130706431 192.0.2.9 8998 typ newtype\r\n",
    ))
    .unwrap();
    let s = &view.streams[0];
    assert_eq!(s.candidates.len(), 1);
    assert_eq!(s.candidates[0].address, addr("192.0.2.7:8998"));
    let lines: Vec<usize> = view.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [7, 9, 10, 11]);
}

#[test]
fn full_grammar_raddr_rport_tcptype_and_extensions_are_kept() {
    let text = "7 2 tcp 1518280447 2001:db8::5 9 typ relay raddr 203.0.113.4 rport 3478 tcptype active generation 0 network-id 1";
    let CandidateRead::Candidate(c) = parse_candidate(1, text).unwrap() else {
        panic!("ignored")
    };
    assert_eq!(c.foundation, "7");
    assert_eq!(c.component, 2);
    assert_eq!(c.transport, Transport::Tcp);
    assert_eq!(c.kind, CandidateKind::Relayed);
    assert_eq!(c.address, addr("[2001:db8::5]:9"));
    assert_eq!(c.related, Some(addr("203.0.113.4:3478")));
    assert_eq!(c.tcp_type, Some(TcpType::Active));
    assert_eq!(
        c.extensions,
        [
            ("generation".into(), "0".into()),
            ("network-id".into(), "1".into())
        ]
    );
    // Written back: same tokens, transport in upper case.
    assert_eq!(format_candidate(&c), text.replace(" tcp ", " TCP "));
}

#[test]
fn foundation_of_32_chars_is_accepted_33_is_not() {
    let ok = format!("{} 1 UDP 1 192.0.2.1 1 typ host", "f".repeat(32));
    assert!(matches!(
        parse_candidate(1, &ok),
        Ok(CandidateRead::Candidate(_))
    ));
    let bad = format!("{} 1 UDP 1 192.0.2.1 1 typ host", "f".repeat(33));
    assert!(parse_candidate(1, &bad).is_err());
}

#[test]
fn session_attributes_lite_options_pacing() {
    let view = read_ice(&sdp(
        "a=ice-lite\r\na=ice-options:ice2 trickle\r\na=ice-pacing:20\r\n",
        "",
    ))
    .unwrap();
    assert!(view.session.lite);
    assert!(view.session.options.ice2() && view.session.options.trickle());
    assert_eq!(view.session.pacing_ms, Some(20));
    // Session options apply to the stream unless it has its own.
    assert!(view.streams[0].options.trickle());
    let view = read_ice(&sdp("a=ice-options:ice2\r\n", "a=ice-options:trickle\r\n")).unwrap();
    assert!(view.streams[0].options.trickle() && !view.streams[0].options.ice2());
}

#[test]
fn ice_lite_at_media_level_is_not_lite_and_is_warned() {
    let view = read_ice(&sdp("", "a=ice-lite\r\n")).unwrap();
    assert!(!view.session.lite);
    assert_eq!(view.warnings[0].line, 7);
}

#[test]
fn remote_candidates_full_list_mismatch_end_of_candidates() {
    let view = read_ice(&sdp(
        "",
        "a=remote-candidates:1 192.0.2.1 5000 2 192.0.2.1 5001\r\na=ice-mismatch\r\na=end-of-candidates\r\n",
    ))
    .unwrap();
    let s = &view.streams[0];
    assert_eq!(
        s.remote_candidates.as_deref().unwrap(),
        [
            RemoteCandidate {
                component: 1,
                address: addr("192.0.2.1:5000")
            },
            RemoteCandidate {
                component: 2,
                address: addr("192.0.2.1:5001")
            }
        ]
    );
    assert!(s.mismatch && s.end_of_candidates);
}

#[test]
fn rtcp_attribute_and_mux_give_the_rtcp_default() {
    let rtp = addr("192.0.2.1:4000");
    let view = read_ice(&sdp("", "a=rtcp:4444 IN IP4 198.51.100.2\r\n")).unwrap();
    let s = &view.streams[0];
    assert_eq!(
        s.rtcp,
        Some(RtcpAttr {
            port: 4444,
            address: Some(Address::Ip("198.51.100.2".parse().unwrap()))
        })
    );
    assert_eq!(s.default_rtcp(rtp), addr("198.51.100.2:4444"));
    let port_only = read_ice(&sdp("", "a=rtcp:4444\r\n")).unwrap();
    assert_eq!(
        port_only.streams[0].default_rtcp(rtp),
        addr("192.0.2.1:4444")
    );
    let none = read_ice(&sdp("", "")).unwrap();
    assert_eq!(
        none.streams[0].default_rtcp(rtp),
        addr("192.0.2.1:4001"),
        "RFC 8839 §3: port + 1"
    );
    let mux = read_ice(&sdp("", "a=rtcp-mux\r\n")).unwrap();
    assert_eq!(mux.streams[0].default_rtcp(rtp), rtp);
}

#[test]
fn same_ufrag_with_two_passwords_is_warned() {
    let text = format!(
        "{HEAD}m=audio 4000 RTP/AVP 0\r\na=ice-ufrag:same\r\na=ice-pwd:{PWD22}\r\nm=audio 4002 RTP/AVP 0\r\na=ice-ufrag:same\r\na=ice-pwd:{}\r\n",
        "x".repeat(22)
    );
    let view = read_ice(&parse(&text).unwrap()).unwrap();
    assert!(view
        .warnings
        .iter()
        .any(|w| w.message.contains("two passwords")));
}
