//! SRTP known answers, round trips, tampering and replay; DTLS-SRTP between two in-memory
//! endpoints in virtual time.

use std::time::{Duration, Instant};

use sdp::security::{
    answer_crypto, answer_setup, choose_offered_crypto, match_answer_crypto, offerer_role,
    parse_crypto, role_of, DtlsRole, Setup, OFFER_SETUP,
};

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// libsrtp's reference packets (test/srtp_driver.c, srtp_validate and srtp_validate_gcm):
// SSRC 0xcafebabe, sequence 0x1234, 16 octets of 0xab payload; SRTCP index 1.
const RTP_PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";
const RTCP_PLAIN: &str = "81c8000bcafebabe abababababababababababababababab";
const CM_KEY: &str = "e1f97a0d3e018be0d64fa32c06de4139";
const CM_SALT: &str = "0ec675ad498afeebb6960b3aabe6";
const CM_SRTP_80: &str =
    "800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb";
const CM_SRTCP: &str =
    "81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798";
const GCM_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const GCM_SALT: &str = "a0a1a2a3a4a5a6a7a8a9aaab";
const GCM_SRTP: &str =
    "800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392";
const GCM_SRTCP: &str =
    "81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001";

fn reference_context(suite: SrtpSuite) -> SrtpContext {
    let (k, s) = match suite {
        SrtpSuite::AeadAes128Gcm => (GCM_KEY, GCM_SALT),
        _ => (CM_KEY, CM_SALT),
    };
    let key = SrtpKey::new(suite, &hex(k), &hex(s)).unwrap();
    SrtpContext::new(&key, &key).unwrap()
}

#[test]
fn aes_cm_80_matches_libsrtp_reference_packets() {
    let mut c = reference_context(SrtpSuite::AesCm128HmacSha1_80);
    assert_eq!(c.protect_rtp(&hex(RTP_PLAIN)).unwrap(), hex(CM_SRTP_80));
    assert_eq!(c.protect_rtcp(&hex(RTCP_PLAIN)).unwrap(), hex(CM_SRTCP));
    assert_eq!(c.unprotect_rtp(&hex(CM_SRTP_80)).unwrap(), hex(RTP_PLAIN));
    assert_eq!(c.unprotect_rtcp(&hex(CM_SRTCP)).unwrap(), hex(RTCP_PLAIN));
}

#[test]
fn aes_cm_32_matches_libsrtp_reference_packets() {
    // The same key stream, the RTP tag cut to 4 octets; SRTCP keeps 80 bits (RFC 4568 §6.2.2).
    let mut c = reference_context(SrtpSuite::AesCm128HmacSha1_32);
    let srtp_32 = hex(CM_SRTP_80)[..32].to_vec();
    assert_eq!(c.protect_rtp(&hex(RTP_PLAIN)).unwrap(), srtp_32);
    assert_eq!(c.protect_rtcp(&hex(RTCP_PLAIN)).unwrap(), hex(CM_SRTCP));
    assert_eq!(c.unprotect_rtp(&srtp_32).unwrap(), hex(RTP_PLAIN));
}

#[test]
fn aead_aes_128_gcm_matches_libsrtp_reference_packets() {
    let mut c = reference_context(SrtpSuite::AeadAes128Gcm);
    assert_eq!(c.protect_rtp(&hex(RTP_PLAIN)).unwrap(), hex(GCM_SRTP));
    assert_eq!(c.protect_rtcp(&hex(RTCP_PLAIN)).unwrap(), hex(GCM_SRTCP));
    assert_eq!(c.unprotect_rtp(&hex(GCM_SRTP)).unwrap(), hex(RTP_PLAIN));
    assert_eq!(c.unprotect_rtcp(&hex(GCM_SRTCP)).unwrap(), hex(RTCP_PLAIN));
    assert_eq!(c.stats().rtp_unprotected, 1);
    assert_eq!(c.stats().rtcp_unprotected, 1);
}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

fn pair(suite: SrtpSuite) -> (SrtpContext, SrtpContext) {
    let a = SrtpKey::random(suite).unwrap();
    let b = SrtpKey::random(suite).unwrap();
    assert_ne!(a, b);
    (
        SrtpContext::new(&a, &b).unwrap(),
        SrtpContext::new(&b, &a).unwrap(),
    )
}

#[test]
fn every_suite_round_trips_both_ways() {
    for suite in SrtpSuite::ALL {
        let (mut alice, mut bob) = pair(suite);
        for seq in [1u16, 2, 3, 65535, 0] {
            let plain = rtp(seq, 0x1111, &[seq as u8; 160]);
            let wire = alice.protect_rtp(&plain).unwrap();
            assert_ne!(wire[12..172], plain[12..], "{suite}: payload encrypted");
            assert_eq!(bob.unprotect_rtp(&wire).unwrap(), plain, "{suite}");
            let back = rtp(seq, 0x2222, b"pong");
            let wire = bob.protect_rtp(&back).unwrap();
            assert_eq!(alice.unprotect_rtp(&wire).unwrap(), back, "{suite}");
        }
        let rr = rtcp_rr(0x1111);
        let wire = alice.protect_rtcp(&rr).unwrap();
        assert_eq!(bob.unprotect_rtcp(&wire).unwrap(), rr, "{suite}");
        let wire = bob.protect_rtcp(&rtcp_rr(0x2222)).unwrap();
        assert_eq!(alice.unprotect_rtcp(&wire).unwrap(), rtcp_rr(0x2222));
        assert_eq!(bob.stats().rtp_unprotected, 5);
        assert_eq!(bob.stats().rtcp_unprotected, 1);
        assert_eq!(alice.stats().rtp_protected, 5);
    }
}

#[test]
fn tampered_packets_fail_authentication_and_are_counted() {
    for suite in SrtpSuite::ALL {
        let (mut alice, mut bob) = pair(suite);
        let wire = alice.protect_rtp(&rtp(7, 0x1111, &[0x55; 160])).unwrap();
        for at in [1, 20, wire.len() - 1] {
            let mut bad = wire.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                bob.unprotect_rtp(&bad),
                Err(SrtpError::Authentication { rtcp: false }),
                "{suite}: flipped octet {at}"
            );
        }
        assert_eq!(bob.stats().auth_failures, 3);
        // A forgery does not move the replay window: the real packet still gets through.
        assert!(bob.unprotect_rtp(&wire).is_ok(), "{suite}");
        let mut bad = alice.protect_rtcp(&rtcp_rr(0x1111)).unwrap();
        bad[9] ^= 0x80;
        assert_eq!(
            bob.unprotect_rtcp(&bad),
            Err(SrtpError::Authentication { rtcp: true })
        );
        assert_eq!(bob.stats().auth_failures, 4);
    }
}

#[test]
fn wrong_key_fails_authentication() {
    for suite in SrtpSuite::ALL {
        let (mut alice, _) = pair(suite);
        let (_, mut stranger) = pair(suite);
        let wire = alice.protect_rtp(&rtp(1, 9, b"hello")).unwrap();
        assert!(matches!(
            stranger.unprotect_rtp(&wire),
            Err(SrtpError::Authentication { .. })
        ));
    }
}

#[test]
fn replays_are_rejected_and_counted() {
    for suite in SrtpSuite::ALL {
        let (mut alice, mut bob) = pair(suite);
        let first = alice.protect_rtp(&rtp(100, 0xabc, b"one")).unwrap();
        let second = alice.protect_rtp(&rtp(101, 0xabc, b"two")).unwrap();
        bob.unprotect_rtp(&first).unwrap();
        bob.unprotect_rtp(&second).unwrap();
        assert_eq!(
            bob.unprotect_rtp(&first),
            Err(SrtpError::Replay {
                rtcp: false,
                ssrc: 0xabc,
                index: 100
            }),
            "{suite}"
        );
        let rtcp = alice.protect_rtcp(&rtcp_rr(0xabc)).unwrap();
        bob.unprotect_rtcp(&rtcp).unwrap();
        assert!(matches!(
            bob.unprotect_rtcp(&rtcp),
            Err(SrtpError::Replay { rtcp: true, .. })
        ));
        assert_eq!(bob.stats().replays, 2);
        // Far behind the window is a replay too, even though never seen.
        for seq in 102..(102 + REPLAY_WINDOW as u16 + 10) {
            let p = alice.protect_rtp(&rtp(seq, 0xabc, b"x")).unwrap();
            bob.unprotect_rtp(&p).unwrap();
        }
        assert!(matches!(
            bob.unprotect_rtp(&second),
            Err(SrtpError::Replay { .. })
        ));
    }
}

#[test]
fn garbage_is_malformed_and_counted() {
    let (_, mut bob) = pair(SrtpSuite::AesCm128HmacSha1_80);
    assert!(matches!(
        bob.unprotect_rtp(&[0x80, 0, 1]),
        Err(SrtpError::Malformed(_))
    ));
    assert_eq!(bob.stats().malformed, 1);
}

#[test]
fn keys_are_checked() {
    assert!(matches!(
        SrtpKey::new(SrtpSuite::AeadAes128Gcm, &[0; 16], &[0; 14]),
        Err(SrtpError::BadKey(_))
    ));
    let a = SrtpKey::random(SrtpSuite::AeadAes128Gcm).unwrap();
    let b = SrtpKey::random(SrtpSuite::AesCm128HmacSha1_80).unwrap();
    assert!(matches!(
        SrtpContext::new(&a, &b),
        Err(SrtpError::BadKey(_))
    ));
    assert!(!format!("{a:?}").contains(&format!("{:?}", a.master_key)));
}

#[test]
fn sdes_offer_answer_keys_a_working_stream() {
    // Offerer: one line per suite, in our preference order.
    let offer_keys: Vec<SrtpKey> = SrtpSuite::ALL
        .iter()
        .map(|s| SrtpKey::random(*s).unwrap())
        .collect();
    let offered: Vec<_> = offer_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let text = k.to_crypto(i as u32 + 1).to_string();
            parse_crypto(10 + i, &text).unwrap() // through the wire format
        })
        .collect();
    // Answerer supports only the 80-bit suite: picks tag 2 and answers with its own key.
    let only80 = [sdp::security::CryptoSuite::AesCm128HmacSha1_80];
    let chosen = choose_offered_crypto(&offered, &only80).unwrap();
    assert_eq!(chosen.tag, 2);
    let answer_key = SrtpKey::random(SrtpSuite::from_sdes(&chosen.suite).unwrap()).unwrap();
    let answered = vec![answer_crypto(chosen, answer_key.key_salt())];
    let mut answerer =
        SrtpContext::new(&answer_key, &SrtpKey::from_crypto(chosen).unwrap()).unwrap();
    // Offerer matches the answer to its offer.
    let (ours, theirs) = match_answer_crypto(&offered, &answered).unwrap();
    assert_eq!(SrtpKey::from_crypto(ours).unwrap(), offer_keys[1]);
    let mut offerer =
        SrtpContext::new(&offer_keys[1], &SrtpKey::from_crypto(theirs).unwrap()).unwrap();
    assert_eq!(offerer.suite(), SrtpSuite::AesCm128HmacSha1_80);
    let p = rtp(1, 5, b"sdes");
    let w = offerer.protect_rtp(&p).unwrap();
    assert_eq!(answerer.unprotect_rtp(&w).unwrap(), p);
    let w = answerer.protect_rtp(&p).unwrap();
    assert_eq!(offerer.unprotect_rtp(&w).unwrap(), p);
}

// ---- DTLS-SRTP ----

/// Moves datagrams between the two endpoints until neither has anything to send; the
/// clock only advances by a fixed one-way delay per hop.
fn pump(a: &mut DtlsEndpoint, b: &mut DtlsEndpoint, now: &mut Instant) -> usize {
    let mut hops = 0;
    loop {
        let mut moved = false;
        while let Some(d) = a.poll_transmit() {
            assert!(is_dtls(&d), "only DTLS on the wire");
            *now += Duration::from_millis(10);
            let _ = b.handle_datagram(&d, *now);
            moved = true;
        }
        while let Some(d) = b.poll_transmit() {
            assert!(is_dtls(&d));
            *now += Duration::from_millis(10);
            let _ = a.handle_datagram(&d, *now);
            moved = true;
        }
        if !moved {
            return hops;
        }
        hops += 1;
        assert!(hops < 20, "handshake does not settle");
    }
}

fn connected(ep: &mut DtlsEndpoint) -> DtlsSrtpKeys {
    match ep.poll_event() {
        Some(DtlsEvent::Connected(keys)) => *keys,
        None => panic!("not connected: {:?} {:?}", ep, ep.error()),
    }
}

#[test]
fn dtls_handshake_in_virtual_time_derives_matching_srtp_keys() {
    // Roles from SDP: the offerer says actpass, the answerer active (RFC 5763 §5).
    let answer = answer_setup(Some(OFFER_SETUP)).unwrap();
    assert_eq!(answer, Setup::Active);
    let answerer_role = role_of(answer).unwrap();
    let offerer_role = offerer_role(Some(answer)).unwrap();
    assert_eq!(
        (answerer_role, offerer_role),
        (DtlsRole::Client, DtlsRole::Server)
    );

    let offerer_cert = DtlsCertificate::generate().unwrap();
    let answerer_cert = DtlsCertificate::generate().unwrap();
    assert_ne!(offerer_cert.fingerprint(), answerer_cert.fingerprint());
    assert_eq!(offerer_cert.fingerprint().hash, "sha-256");
    assert_eq!(offerer_cert.fingerprint().value.len(), 32);

    let start = Instant::now();
    let mut now = start;
    // Each side gets the other's fingerprint as the SDP carries it.
    let via_sdp = |c: &DtlsCertificate| {
        sdp::security::parse_fingerprint(1, &c.fingerprint().to_string()).unwrap()
    };
    let mut server = DtlsEndpoint::new(
        &offerer_cert,
        offerer_role,
        vec![via_sdp(&answerer_cert)],
        now,
    )
    .unwrap();
    let mut client = DtlsEndpoint::new(
        &answerer_cert,
        answerer_role,
        vec![via_sdp(&offerer_cert)],
        now,
    )
    .unwrap();
    assert!(
        client.poll_timeout().is_some(),
        "client waits for the server's flight"
    );
    let hops = pump(&mut client, &mut server, &mut now);
    assert!(hops >= 2, "a full handshake takes at least two round trips");
    assert!(client.is_connected() && server.is_connected());
    assert!(
        now - start < Duration::from_secs(1),
        "no retransmission needed"
    );
    assert_eq!(client.poll_timeout(), None);

    let ck = connected(&mut client);
    let sk = connected(&mut server);
    assert!(client.poll_event().is_none(), "Connected is reported once");
    assert_eq!(ck.suite, SrtpSuite::AeadAes128Gcm, "our first preference");
    assert_eq!(ck.suite, sk.suite);
    assert_eq!(ck.local, sk.remote, "client write key");
    assert_eq!(ck.remote, sk.local, "server write key");
    assert_ne!(ck.local, ck.remote);
    assert_eq!(&ck.peer_fingerprint, offerer_cert.fingerprint());
    assert_eq!(&sk.peer_fingerprint, answerer_cert.fingerprint());

    let mut c = ck.context().unwrap();
    let mut s = sk.context().unwrap();
    let p = rtp(1, 0x77, &[1; 160]);
    assert_eq!(s.unprotect_rtp(&c.protect_rtp(&p).unwrap()).unwrap(), p);
    assert_eq!(c.unprotect_rtp(&s.protect_rtp(&p).unwrap()).unwrap(), p);
    let r = rtcp_rr(0x77);
    assert_eq!(c.unprotect_rtcp(&s.protect_rtcp(&r).unwrap()).unwrap(), r);
}

#[test]
fn wrong_fingerprint_fails_with_both_fingerprints_named() {
    let server_cert = DtlsCertificate::generate().unwrap();
    let client_cert = DtlsCertificate::generate().unwrap();
    let impostor = DtlsCertificate::generate().unwrap();
    let mut now = Instant::now();
    // The client was told (by SDP) to expect the impostor's certificate.
    let mut client = DtlsEndpoint::new(
        &client_cert,
        DtlsRole::Client,
        vec![impostor.fingerprint().clone()],
        now,
    )
    .unwrap();
    let mut server = DtlsEndpoint::new(
        &server_cert,
        DtlsRole::Server,
        vec![client_cert.fingerprint().clone()],
        now,
    )
    .unwrap();
    pump(&mut client, &mut server, &mut now);
    assert!(!client.is_connected());
    match client.error() {
        Some(DtlsError::FingerprintMismatch { expected, actual }) => {
            assert_eq!(*expected, impostor.fingerprint().to_string());
            assert_eq!(*actual, server_cert.fingerprint().to_string());
            let text = client.error().unwrap().to_string();
            assert!(text.contains(expected) && text.contains(actual), "{text}");
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    assert!(client.poll_event().is_none(), "no keys for a wrong peer");
    assert!(
        !server.is_connected(),
        "the client's alert stops the server"
    );
    assert!(server.poll_event().is_none());
}

#[test]
fn server_checks_the_client_fingerprint_too() {
    let server_cert = DtlsCertificate::generate().unwrap();
    let client_cert = DtlsCertificate::generate().unwrap();
    let impostor = DtlsCertificate::generate().unwrap();
    let mut now = Instant::now();
    let mut client = DtlsEndpoint::new(
        &client_cert,
        DtlsRole::Client,
        vec![server_cert.fingerprint().clone()],
        now,
    )
    .unwrap();
    let mut server = DtlsEndpoint::new(
        &server_cert,
        DtlsRole::Server,
        vec![impostor.fingerprint().clone()],
        now,
    )
    .unwrap();
    pump(&mut client, &mut server, &mut now);
    assert!(matches!(
        server.error(),
        Some(DtlsError::FingerprintMismatch { .. })
    ));
    assert!(server.poll_event().is_none());
}

#[test]
fn dtls_needs_a_fingerprint() {
    let cert = DtlsCertificate::generate().unwrap();
    let e = DtlsEndpoint::new(&cert, DtlsRole::Client, vec![], Instant::now()).unwrap_err();
    assert_eq!(e, DtlsError::NoFingerprint);
    let odd = sdp::security::Fingerprint::new("md-17", vec![1, 2]);
    let e = DtlsEndpoint::new(&cert, DtlsRole::Client, vec![odd], Instant::now()).unwrap_err();
    assert_eq!(e, DtlsError::UnsupportedHash("md-17".into()));
}

#[test]
fn demultiplexing_by_first_octet() {
    assert!(is_dtls(&[22, 0xfe, 0xfd]));
    assert!(!is_dtls(&[0x80, 0]));
    assert!(!is_dtls(&[0, 1]));
    assert!(!is_dtls(&[]));
}

#[test]
fn lost_first_flight_is_retransmitted_on_timeout() {
    let server_cert = DtlsCertificate::generate().unwrap();
    let client_cert = DtlsCertificate::generate().unwrap();
    let start = Instant::now();
    let mut client = DtlsEndpoint::new(
        &client_cert,
        DtlsRole::Client,
        vec![server_cert.fingerprint().clone()],
        start,
    )
    .unwrap();
    let mut server = DtlsEndpoint::new(
        &server_cert,
        DtlsRole::Server,
        vec![client_cert.fingerprint().clone()],
        start,
    )
    .unwrap();
    // The ClientHello is lost.
    let lost = client.poll_transmit().expect("ClientHello");
    assert!(client.poll_transmit().is_none());
    let due = client.poll_timeout().expect("retransmission timer");
    assert!(due > start && due <= start + Duration::from_secs(1));
    // Before the deadline nothing is resent.
    client.handle_timeout(start).unwrap();
    assert!(client.poll_transmit().is_none());
    // OpenSSL's timer runs on the real clock (module doc): let it run out.
    std::thread::sleep(due - start + Duration::from_millis(50));
    client.handle_timeout(due).unwrap();
    let again = client.poll_transmit().expect("ClientHello retransmitted");
    assert_eq!(again[0], lost[0], "a handshake record again");
    let next = client.poll_timeout().expect("timer rearmed");
    assert!(next > due, "backed off");
    let mut now = due;
    server.handle_datagram(&again, now).unwrap();
    pump(&mut client, &mut server, &mut now);
    assert!(client.is_connected() && server.is_connected());
}

#[test]
fn contexts_and_endpoints_can_move_between_tasks() {
    fn send<T: Send + 'static>() {}
    send::<SrtpContext>();
    send::<DtlsEndpoint>();
    send::<DtlsSrtpKeys>();
    // One certificate per run, shared by every call (Arc).
    fn shared<T: Send + Sync>() {}
    shared::<DtlsCertificate>();
}
