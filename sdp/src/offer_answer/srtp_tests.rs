//! SDES-SRTP offer/answer between two `SdpSession`s and against written offers.

use std::net::SocketAddr;

use super::*;
use crate::offer_answer::{LocalStream, OfferAnswerError, SdpSession, StreamResult};
use crate::parse;
use crate::security::read_security;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// A distinct key per suite, so a test can tell whose key a line carries.
fn key(suite: CryptoSuite, fill: u8) -> SdesKey {
    let len = suite.key_len().unwrap_or(16) + suite.salt_len().unwrap_or(14);
    SdesKey::new(suite, vec![fill; len])
}

fn all_keys(fill: u8) -> Vec<SdesKey> {
    CryptoSuite::KNOWN
        .iter()
        .cloned()
        .map(|s| key(s, fill))
        .collect()
}

fn stream(port: u16, keys: Vec<SdesKey>) -> LocalStream {
    let mut s = LocalStream::audio(addr(&format!("192.0.2.1:{port}")), None);
    s.sdes_keys = keys;
    s
}

fn session(policy: SrtpPolicy) -> SdpSession {
    SdpSession::new("192.0.2.1".parse().unwrap(), 7, Default::default()).with_srtp(policy)
}

fn active(r: &StreamResult) -> &crate::offer_answer::NegotiatedStream {
    r.active().expect("stream accepted")
}

fn refusal(e: OfferAnswerError) -> SrtpRefusal {
    match e {
        OfferAnswerError::Srtp { index: 0, reason } => reason,
        other => panic!("expected an SRTP refusal of stream 0, got {other:?}"),
    }
}

/// An offer from a peer, with `proto` and the given extra media attribute lines.
fn peer_offer(proto: &str, extra: &str) -> crate::SessionDescription {
    let text = format!(
        "v=0\no=- 1 1 IN IP4 198.51.100.9\ns=-\nc=IN IP4 198.51.100.9\nt=0 0\n\
         m=audio 4000 {proto} 0 8\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n{extra}"
    );
    parse(&text).expect("test offer parses")
}

const CRYPTO_80: &str =
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n";

#[test]
fn sdes_offer_is_savp_with_one_crypto_line_per_suite_tags_1_to_3() {
    let offer = session(SrtpPolicy::Sdes)
        .create_offer(&[stream(5000, all_keys(1))])
        .unwrap();
    assert_eq!(offer.media[0].proto, "RTP/SAVP", "RFC 3711 §12");
    let sec = read_security(&parse(&offer.to_string()).unwrap()).unwrap();
    let tags: Vec<u32> = sec[0].crypto.iter().map(|c| c.tag).collect();
    assert_eq!(tags, [1, 2, 3], "RFC 4568 §5.1: one line per suite");
    let suites: Vec<&CryptoSuite> = sec[0].crypto.iter().map(|c| &c.suite).collect();
    assert_eq!(suites, CryptoSuite::KNOWN.iter().collect::<Vec<_>>());
}

#[test]
fn sdes_answer_takes_the_first_offered_suite_we_support_with_our_own_key() {
    let mut alice = session(SrtpPolicy::Sdes);
    let offer = alice.create_offer(&[stream(5000, all_keys(1))]).unwrap();
    // Bob has no GCM: the first offered suite he supports is tag 2, _80.
    let bob_keys = vec![
        key(CryptoSuite::AesCm128HmacSha1_32, 2),
        key(CryptoSuite::AesCm128HmacSha1_80, 3),
    ];
    let answer = session(SrtpPolicy::Sdes)
        .create_answer(
            &parse(&offer.to_string()).unwrap(),
            &[stream(6000, bob_keys)],
        )
        .unwrap();
    let bob = active(&answer.streams[0])
        .srtp
        .clone()
        .expect("SRTP agreed");
    assert_eq!(bob.suite(), &CryptoSuite::AesCm128HmacSha1_80);
    assert_eq!(bob.local.tag, 2, "RFC 4568 §7.1.2: the accepted tag");
    assert_eq!(bob.local.keys[0].key_salt, vec![3; 30], "our own key");
    assert_eq!(
        bob.remote.keys[0].key_salt,
        vec![1; 30],
        "the offerer's key"
    );
    let text = answer.sdp.to_string();
    assert!(text.contains("m=audio 6000 RTP/SAVP "), "{text}");
    assert_eq!(text.matches("a=crypto:").count(), 1, "{text}");

    let (streams, _) = alice
        .process_answer(&offer, &parse(&text).unwrap())
        .unwrap();
    let a = active(&streams[0]).srtp.clone().expect("SRTP agreed");
    assert_eq!(a.local.tag, 2);
    assert_eq!(a.local.keys[0].key_salt, vec![1; 30]);
    assert_eq!(a.remote.keys[0].key_salt, vec![3; 30]);
}

#[test]
fn savp_offer_to_an_off_answerer_is_a_typed_refusal_not_port_0() {
    let offer = peer_offer("RTP/SAVP", CRYPTO_80);
    let e = session(SrtpPolicy::Off)
        .create_answer(&offer, &[stream(6000, Vec::new())])
        .unwrap_err();
    assert!(
        matches!(refusal(e.clone()), SrtpRefusal::SrtpOfferedButOff { ref profile } if profile == "RTP/SAVP"),
        "{e}"
    );
    assert!(e.to_string().contains("SRTP is off"), "{e}");
}

#[test]
fn plain_offer_without_crypto_to_a_required_answerer_is_refused() {
    let e = session(SrtpPolicy::Sdes)
        .create_answer(&peer_offer("RTP/AVP", ""), &[stream(6000, all_keys(2))])
        .unwrap_err();
    assert!(matches!(refusal(e), SrtpRefusal::NoCryptoOffered { .. }));
}

#[test]
fn an_offer_with_no_supported_suite_is_refused_naming_the_suites() {
    let offer = peer_offer(
        "RTP/SAVP",
        "a=crypto:1 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm\n",
    );
    let e = session(SrtpPolicy::Sdes)
        .create_answer(&offer, &[stream(6000, all_keys(2))])
        .unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(refusal(e), SrtpRefusal::NoSupportedSuite { ref offered, .. } if offered == "F8_128_HMAC_SHA1_80"),
        "{text}"
    );
}

#[test]
fn optional_offer_is_plain_avp_with_crypto_and_an_off_answerer_answers_clear() {
    let mut alice = session(SrtpPolicy::Optional);
    let offer = alice.create_offer(&[stream(5000, all_keys(1))]).unwrap();
    assert_eq!(offer.media[0].proto, "RTP/AVP");
    assert_eq!(offer.to_string().matches("a=crypto:").count(), 3);
    let answer = session(SrtpPolicy::Off)
        .create_answer(
            &parse(&offer.to_string()).unwrap(),
            &[stream(6000, Vec::new())],
        )
        .unwrap();
    assert_eq!(active(&answer.streams[0]).srtp, None);
    let text = answer.sdp.to_string();
    assert!(!text.contains("a=crypto"), "{text}");
    assert!(text.contains("RTP/AVP"), "{text}");
    let (streams, _) = alice
        .process_answer(&offer, &parse(&text).unwrap())
        .unwrap();
    assert_eq!(active(&streams[0]).srtp, None, "best effort: clear RTP");
}

#[test]
fn optional_offer_to_an_sdes_answerer_is_srtp_on_rtp_avp() {
    let mut alice = session(SrtpPolicy::Optional);
    let offer = alice.create_offer(&[stream(5000, all_keys(1))]).unwrap();
    let answer = session(SrtpPolicy::Sdes)
        .create_answer(
            &parse(&offer.to_string()).unwrap(),
            &[stream(6000, all_keys(2))],
        )
        .unwrap();
    let text = answer.sdp.to_string();
    assert!(
        text.contains("RTP/AVP"),
        "RFC 3264 §6: the offer's profile; {text}"
    );
    let (streams, _) = alice
        .process_answer(&offer, &parse(&text).unwrap())
        .unwrap();
    let s = active(&streams[0]).srtp.clone().expect("SRTP agreed");
    assert_eq!(s.suite(), &CryptoSuite::AeadAes128Gcm, "the first offered");
}

#[test]
fn a_required_offerer_refuses_an_answer_without_crypto() {
    let mut alice = session(SrtpPolicy::Sdes);
    let offer = alice.create_offer(&[stream(5000, all_keys(1))]).unwrap();
    let plain = peer_offer("RTP/SAVP", "");
    let e = alice.process_answer(&offer, &plain).unwrap_err();
    assert!(matches!(refusal(e), SrtpRefusal::AnswerWithoutCrypto));
}

#[test]
fn an_answer_with_an_unknown_tag_is_refused() {
    let mut alice = session(SrtpPolicy::Sdes);
    let offer = alice.create_offer(&[stream(5000, all_keys(1))]).unwrap();
    let answer = peer_offer("RTP/SAVP", &CRYPTO_80.replace("crypto:1 ", "crypto:9 "));
    let e = alice.process_answer(&offer, &answer).unwrap_err();
    assert!(matches!(
        refusal(e),
        SrtpRefusal::AnswerCrypto(crate::security::CryptoAnswerError::UnknownTag(9))
    ));
}

#[test]
fn sdes_and_off_refuse_a_dtls_offer_by_name() {
    let offer = peer_offer(
        "UDP/TLS/RTP/SAVP",
        "a=fingerprint:sha-256 AB:CD\na=setup:actpass\n",
    );
    let e = session(SrtpPolicy::Sdes)
        .create_answer(&offer, &[stream(6000, all_keys(2))])
        .unwrap_err();
    assert!(matches!(
        refusal(e),
        SrtpRefusal::DtlsNotEnabled(SrtpPolicy::Sdes)
    ));
    let e = session(SrtpPolicy::Off)
        .create_answer(&offer, &[stream(6000, Vec::new())])
        .unwrap_err();
    assert!(matches!(refusal(e), SrtpRefusal::SrtpOfferedButOff { .. }));
}

#[test]
fn an_off_answerer_takes_the_plain_stream_of_a_savp_plus_avp_offer() {
    // The pre-RFC 5939 best-effort trick: the same audio twice, SAVP then AVP.
    let text = format!(
        "v=0\no=- 1 1 IN IP4 198.51.100.9\ns=-\nc=IN IP4 198.51.100.9\nt=0 0\n\
         m=audio 4000 RTP/SAVP 0\n{CRYPTO_80}m=audio 4002 RTP/AVP 0\n"
    );
    let answer = session(SrtpPolicy::Off)
        .create_answer(&parse(&text).unwrap(), &[stream(6000, Vec::new())])
        .unwrap();
    let ports: Vec<u16> = answer.sdp.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [0, 6000]);
}

#[test]
fn srtp_off_ignores_a_malformed_crypto_line_it_does_not_use() {
    let offer = peer_offer("RTP/AVP", "a=crypto:x nonsense\n");
    let answer = session(SrtpPolicy::Off)
        .create_answer(&offer, &[stream(6000, Vec::new())])
        .unwrap();
    assert!(answer.streams[0].active().is_some());
}

#[test]
fn policy_names_round_trip() {
    for p in [
        SrtpPolicy::Off,
        SrtpPolicy::Sdes,
        SrtpPolicy::Optional,
        SrtpPolicy::Dtls,
    ] {
        assert_eq!(SrtpPolicy::from_name(p.as_str()), Some(p));
    }
    assert_eq!(SrtpPolicy::from_name("mandatory"), None);
}

#[test]
fn feedback_profiles_are_answered_in_their_own_profile() {
    // RFC 4585 / RFC 5124 peers (baresip's srtp-mandf): no rtcp-fb is agreed, the profile
    // is kept (RFC 3264 §6).
    let avpf = peer_offer("RTP/AVPF", "");
    let answer = session(SrtpPolicy::Off)
        .create_answer(&avpf, &[stream(6000, Vec::new())])
        .unwrap();
    assert_eq!(answer.sdp.media[0].proto, "RTP/AVPF");
    let savpf = peer_offer("RTP/SAVPF", CRYPTO_80);
    let answer = session(SrtpPolicy::Sdes)
        .create_answer(&savpf, &[stream(6000, all_keys(2))])
        .unwrap();
    assert_eq!(answer.sdp.media[0].proto, "RTP/SAVPF");
    assert!(active(&answer.streams[0]).srtp.is_some());
}
