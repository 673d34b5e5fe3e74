//! DTLS-SRTP offer/answer (RFC 5763 §5, RFC 8842 §5) between two `SdpSession`s and
//! against written offers and answers.

use std::net::SocketAddr;

use super::*;
use crate::offer_answer::{
    LocalDtls, LocalStream, NegotiatedDtls, OfferAnswerError, SdpSession, StreamResult,
};
use crate::parse;
use crate::security::{read_security, DtlsRole, Fingerprint, Setup, SetupError, TlsId};

fn fingerprint(fill: u8) -> Fingerprint {
    Fingerprint::new("sha-256", vec![fill; 32])
}

fn tls_id(fill: u8) -> TlsId {
    TlsId::from_random(&[fill; 15])
}

fn local(fill: u8, association: Option<(DtlsRole, Option<TlsId>)>) -> LocalDtls {
    LocalDtls {
        fingerprint: fingerprint(fill),
        tls_id: tls_id(fill),
        association,
        preferred: None,
    }
}

fn stream(port: u16, dtls: LocalDtls) -> LocalStream {
    let addr: SocketAddr = format!("192.0.2.1:{port}").parse().unwrap();
    let mut s = LocalStream::audio(addr, None);
    s.dtls = Some(dtls);
    s
}

fn session(policy: SrtpPolicy) -> SdpSession {
    SdpSession::new("192.0.2.1".parse().unwrap(), 7, Default::default()).with_srtp(policy)
}

fn agreed(r: &StreamResult) -> &NegotiatedDtls {
    r.active()
        .expect("stream accepted")
        .dtls
        .as_ref()
        .expect("DTLS agreed")
}

fn refusal(e: OfferAnswerError) -> SrtpRefusal {
    match e {
        OfferAnswerError::Srtp { index: 0, reason } => reason,
        other => panic!("expected an SRTP refusal of stream 0, got {other:?}"),
    }
}

fn peer_sdp(proto: &str, extra: &str) -> crate::SessionDescription {
    let text = format!(
        "v=0\no=- 1 1 IN IP4 198.51.100.9\ns=-\nc=IN IP4 198.51.100.9\nt=0 0\n\
         m=audio 4000 {proto} 0\na=rtpmap:0 PCMU/8000\n{extra}"
    );
    parse(&text).expect("test SDP parses")
}

fn fp_line(fill: u8) -> String {
    format!("a=fingerprint:{}\n", fingerprint(fill))
}

#[test]
fn a_first_offer_is_actpass_and_the_answerer_becomes_the_client() {
    let mut alice = session(SrtpPolicy::Dtls);
    let mut bob = session(SrtpPolicy::Dtls);
    let offer = alice.create_offer(&[stream(5000, local(1, None))]).unwrap();
    let m = &offer.media[0];
    assert_eq!(m.proto, "UDP/TLS/RTP/SAVP", "RFC 5764 §8");
    let sec = &read_security(&offer).unwrap()[0];
    assert_eq!(sec.setup, Some(Setup::ActPass), "RFC 5763 §5");
    assert_eq!(sec.fingerprints, [fingerprint(1)]);
    assert_eq!(sec.tls_id, Some(tls_id(1)), "RFC 8842 §5");
    assert!(sec.crypto.is_empty(), "no SDES keys with DTLS");

    let answer = bob
        .create_answer(&offer, &[stream(6000, local(2, None))])
        .unwrap();
    let theirs = agreed(&answer.streams[0]);
    assert_eq!(
        theirs.role,
        DtlsRole::Client,
        "RFC 5763 §5: answerer active"
    );
    assert_eq!(theirs.remote_fingerprints, [fingerprint(1)]);
    assert_eq!(theirs.remote_tls_id, Some(tls_id(1)));
    let a_sec = &read_security(&answer.sdp).unwrap()[0];
    assert_eq!(answer.sdp.media[0].proto, "UDP/TLS/RTP/SAVP");
    assert_eq!(a_sec.setup, Some(Setup::Active));

    let (streams, _) = alice.process_answer(&offer, &answer.sdp).unwrap();
    let ours = agreed(&streams[0]);
    assert_eq!(ours.role, DtlsRole::Server);
    assert_eq!(ours.remote_fingerprints, [fingerprint(2)]);
    assert_eq!(ours.remote_tls_id, Some(tls_id(2)));
}

#[test]
fn the_answer_takes_the_role_the_offer_leaves() {
    for (offered, ours) in [
        ("passive", DtlsRole::Client),
        ("active", DtlsRole::Server),
        ("actpass", DtlsRole::Client),
    ] {
        let offer = peer_sdp(
            "UDP/TLS/RTP/SAVP",
            &format!("{}a=setup:{offered}\n", fp_line(9)),
        );
        let answer = session(SrtpPolicy::Dtls)
            .create_answer(&offer, &[stream(6000, local(2, None))])
            .unwrap();
        assert_eq!(agreed(&answer.streams[0]).role, ours, "offer {offered}");
    }
    // RFC 4145 §4: no a=setup counts as active.
    let offer = peer_sdp("UDP/TLS/RTP/SAVP", &fp_line(9));
    let answer = session(SrtpPolicy::Dtls)
        .create_answer(&offer, &[stream(6000, local(2, None))])
        .unwrap();
    assert_eq!(agreed(&answer.streams[0]).role, DtlsRole::Server);
}

#[test]
fn offers_the_dtls_policy_cannot_take_are_refused_by_name() {
    let dtls = || session(SrtpPolicy::Dtls);
    let plain = peer_sdp("RTP/AVP", "");
    let e = dtls()
        .create_answer(&plain, &[stream(6000, local(2, None))])
        .unwrap_err();
    assert!(matches!(refusal(e), SrtpRefusal::DtlsRequired { .. }));
    let no_fp = peer_sdp("UDP/TLS/RTP/SAVP", "a=setup:actpass\n");
    let e = dtls()
        .create_answer(&no_fp, &[stream(6000, local(2, None))])
        .unwrap_err();
    assert!(matches!(refusal(e), SrtpRefusal::NoFingerprint));
    let holdconn = peer_sdp(
        "UDP/TLS/RTP/SAVP",
        &format!("{}a=setup:holdconn\n", fp_line(9)),
    );
    let e = dtls()
        .create_answer(&holdconn, &[stream(6000, local(2, None))])
        .unwrap_err();
    assert!(matches!(
        refusal(e),
        SrtpRefusal::Setup(SetupError::HoldConn)
    ));
}

#[test]
fn a_savpf_offer_is_answered_in_its_profile() {
    // baresip 1.0.0's dtls_srtp offers UDP/TLS/RTP/SAVPF.
    let feedback = peer_sdp(
        "UDP/TLS/RTP/SAVPF",
        &format!("{}a=setup:actpass\n", fp_line(9)),
    );
    let answer = session(SrtpPolicy::Dtls)
        .create_answer(&feedback, &[stream(6000, local(2, None))])
        .unwrap();
    assert_eq!(answer.sdp.media[0].proto, "UDP/TLS/RTP/SAVPF");
    assert_eq!(agreed(&answer.streams[0]).role, DtlsRole::Client);
}

#[test]
fn answers_the_offerer_cannot_use_are_refused_by_name() {
    let mut alice = session(SrtpPolicy::Dtls);
    let offer = alice.create_offer(&[stream(5000, local(1, None))]).unwrap();
    let cases = [
        (peer_sdp("RTP/AVP", ""), "profile"),
        (
            peer_sdp("UDP/TLS/RTP/SAVP", "a=setup:active\n"),
            "fingerprint",
        ),
        (
            peer_sdp(
                "UDP/TLS/RTP/SAVP",
                &format!("{}a=setup:actpass\n", fp_line(9)),
            ),
            "actpass",
        ),
    ];
    for (answer, case) in cases {
        let e = alice.process_answer(&offer, &answer).unwrap_err();
        let reason = refusal(e);
        let expected = match case {
            "profile" => matches!(reason, SrtpRefusal::AnswerProfile { .. }),
            "fingerprint" => matches!(reason, SrtpRefusal::NoFingerprint),
            _ => matches!(reason, SrtpRefusal::Setup(SetupError::ActPassInAnswer)),
        };
        assert!(expected, "{case}: {reason:?}");
    }
    let no_local = session(SrtpPolicy::Dtls)
        .create_offer(&[LocalStream::audio("192.0.2.1:5000".parse().unwrap(), None)])
        .unwrap_err();
    assert!(matches!(refusal(no_local), SrtpRefusal::NoLocalDtls));
}

#[test]
fn a_re_offer_keeps_the_association_and_a_new_tls_id_starts_another() {
    // RFC 8842 §5.5: the offerer, server of the running association, re-offers passive.
    let mut alice = session(SrtpPolicy::Dtls);
    let reoffer = alice
        .create_offer(&[stream(
            5000,
            local(1, Some((DtlsRole::Server, Some(tls_id(2))))),
        )])
        .unwrap();
    assert_eq!(
        read_security(&reoffer).unwrap()[0].setup,
        Some(Setup::Passive)
    );
    // The answerer was the server of an association whose peer tls-id the offer repeats:
    // an actpass re-offer with that tls-id keeps it the server (RFC 8842 §5.3).
    let same = peer_sdp(
        "UDP/TLS/RTP/SAVP",
        &format!("{}a=setup:actpass\na=tls-id:{}\n", fp_line(9), tls_id(9)),
    );
    let kept = local(2, Some((DtlsRole::Server, Some(tls_id(9)))));
    let answer = session(SrtpPolicy::Dtls)
        .create_answer(&same, &[stream(6000, kept.clone())])
        .unwrap();
    assert_eq!(agreed(&answer.streams[0]).role, DtlsRole::Server);
    // A new tls-id is a new association: the roles come from a=setup again.
    let new = peer_sdp(
        "UDP/TLS/RTP/SAVP",
        &format!("{}a=setup:actpass\na=tls-id:{}\n", fp_line(9), tls_id(8)),
    );
    let answer = session(SrtpPolicy::Dtls)
        .create_answer(&new, &[stream(6000, kept)])
        .unwrap();
    let agreed = agreed(&answer.streams[0]);
    assert_eq!(agreed.role, DtlsRole::Client);
    assert_eq!(agreed.remote_tls_id, Some(tls_id(8)));
}

#[test]
fn a_preferred_role_is_offered_and_taken_when_answering_actpass() {
    let mut alice = session(SrtpPolicy::Dtls);
    let mut client = local(1, None);
    client.preferred = Some(DtlsRole::Client);
    let offer = alice.create_offer(&[stream(5000, client)]).unwrap();
    assert_eq!(read_security(&offer).unwrap()[0].setup, Some(Setup::Active));
    let answer = session(SrtpPolicy::Dtls)
        .create_answer(&offer, &[stream(6000, local(2, None))])
        .unwrap();
    assert_eq!(agreed(&answer.streams[0]).role, DtlsRole::Server);
    let (streams, _) = alice.process_answer(&offer, &answer.sdp).unwrap();
    assert_eq!(agreed(&streams[0]).role, DtlsRole::Client);
    // Answering: the preference applies to an actpass offer; an active one leaves passive.
    let mut server = local(2, None);
    server.preferred = Some(DtlsRole::Server);
    for (offered, ours) in [("actpass", DtlsRole::Server), ("passive", DtlsRole::Client)] {
        let offer = peer_sdp(
            "UDP/TLS/RTP/SAVP",
            &format!("{}a=setup:{offered}\n", fp_line(9)),
        );
        let answer = session(SrtpPolicy::Dtls)
            .create_answer(&offer, &[stream(6000, server.clone())])
            .unwrap();
        assert_eq!(agreed(&answer.streams[0]).role, ours, "offer {offered}");
    }
}

#[test]
fn a_peer_without_tls_id_keeps_the_roles_across_re_offers() {
    // The answerer became the server when the peer offered active; the peer (pre-RFC 8842,
    // no tls-id) re-offers actpass: the association and our role go on.
    let reoffer = peer_sdp(
        "UDP/TLS/RTP/SAVP",
        &format!("{}a=setup:actpass\n", fp_line(9)),
    );
    let answer = session(SrtpPolicy::Dtls)
        .create_answer(
            &reoffer,
            &[stream(6000, local(2, Some((DtlsRole::Server, None))))],
        )
        .unwrap();
    assert_eq!(agreed(&answer.streams[0]).role, DtlsRole::Server);
}
