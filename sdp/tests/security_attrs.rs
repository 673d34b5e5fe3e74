//! The typed SRTP / DTLS-SRTP attributes (`sdp::security`): parse and write round trips,
//! errors naming the attribute and line, and the offer/answer helpers.

use sdp::security::{
    answer_crypto, answer_setup, check_roles, choose_offered_crypto, match_answer_crypto,
    offerer_role, parse_crypto, parse_fingerprint, parse_setup, parse_tls_id, read_security,
    role_of, CryptoAnswerError, CryptoAttr, CryptoSuite, DtlsRole, Fingerprint, KeyLifetime, Mki,
    Setup, SetupError, TlsId, TransportProfile, OFFER_SETUP,
};
use sdp::SdpError;

/// RFC 4568 §4's example key (30 octets: AES-CM key + salt).
const RFC4568_KEY: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";

fn err_attr(e: SdpError) -> (usize, String) {
    match e {
        SdpError::InvalidAttribute {
            line, attribute, ..
        } => (line, attribute),
        other => panic!("expected InvalidAttribute, got {other:?}"),
    }
}

#[test]
fn crypto_rfc4568_example_round_trips() {
    let v = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}|2^20|1:4");
    let c = parse_crypto(7, &v).unwrap();
    assert_eq!(c.tag, 1);
    assert_eq!(c.suite, CryptoSuite::AesCm128HmacSha1_80);
    assert_eq!(c.keys.len(), 1);
    assert_eq!(c.keys[0].key_salt.len(), 30);
    assert_eq!(c.keys[0].lifetime, Some(KeyLifetime::PowerOfTwo(20)));
    assert_eq!(c.keys[0].lifetime.unwrap().packets(), 1 << 20);
    assert_eq!(
        c.keys[0].mki,
        Some(Mki {
            value: 1,
            length: 4
        })
    );
    assert_eq!(c.line, 7);
    assert_eq!(c.to_string(), v);
    let (key, salt) = c.master_key_and_salt().unwrap();
    assert_eq!((key.len(), salt.len()), (16, 14));
}

#[test]
fn crypto_each_suite_round_trips_with_session_params() {
    let gcm_key = base64_of(&[7u8; 28]);
    for (suite, key) in [
        ("AES_CM_128_HMAC_SHA1_80", RFC4568_KEY.to_string()),
        ("AES_CM_128_HMAC_SHA1_32", RFC4568_KEY.to_string()),
        ("AEAD_AES_128_GCM", gcm_key.clone()),
    ] {
        let v = format!("42 {suite} inline:{key} KDR=1 UNENCRYPTED_SRTCP");
        let c = parse_crypto(3, &v).unwrap();
        assert_eq!(c.suite.name(), suite);
        assert!(!matches!(c.suite, CryptoSuite::Other(_)), "{suite} known");
        assert_eq!(c.session_params, vec!["KDR=1", "UNENCRYPTED_SRTCP"]);
        assert_eq!(c.to_string(), v);
        assert_eq!(parse_crypto(3, &c.to_string()).unwrap(), c);
    }
    let c = parse_crypto(1, &format!("1 AEAD_AES_128_GCM inline:{gcm_key}")).unwrap();
    let (k, s) = c.master_key_and_salt().unwrap();
    assert_eq!((k.len(), s.len()), (16, 12));
}

#[test]
fn crypto_with_two_keys_and_plain_lifetime() {
    let v = format!("2 AES_CM_128_HMAC_SHA1_32 inline:{RFC4568_KEY}|1000;inline:{RFC4568_KEY}|2:1");
    let c = parse_crypto(1, &v).unwrap();
    assert_eq!(c.keys.len(), 2);
    assert_eq!(c.keys[0].lifetime, Some(KeyLifetime::Packets(1000)));
    assert_eq!(c.keys[1].lifetime, None);
    assert_eq!(c.keys[1].mki.unwrap().value, 2);
    assert_eq!(c.to_string(), v);
}

#[test]
fn unknown_suite_is_kept_and_its_key_not_checked() {
    let c = parse_crypto(1, "3 F8_128_HMAC_SHA1_80 inline:AAAA").unwrap();
    assert_eq!(c.suite, CryptoSuite::Other("F8_128_HMAC_SHA1_80".into()));
    assert_eq!(c.master_key_and_salt(), None);
    assert_eq!(c.to_string(), "3 F8_128_HMAC_SHA1_80 inline:AAAA");
}

#[test]
fn bad_crypto_lines_are_errors_naming_crypto_and_line() {
    let cases = [
        "".to_string(),
        "x AES_CM_128_HMAC_SHA1_80 inline:AAAA".into(),
        "1234567890 AES_CM_128_HMAC_SHA1_80 inline:AAAA".into(),
        "1".into(),
        "1 AES_CM_128_HMAC_SHA1_80".into(),
        format!("1 AES_CM_128_HMAC_SHA1_80 uri:{RFC4568_KEY}"),
        "1 AES_CM_128_HMAC_SHA1_80 inline:!!notbase64!!".into(),
        // 28 octets: right for GCM, wrong for AES-CM.
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", base64_of(&[1u8; 28])),
        format!("1 AEAD_AES_128_GCM inline:{RFC4568_KEY}"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}|2^x"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}|1:0"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}|1:200"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}|20|1:4|9"),
    ];
    for v in cases {
        let e = parse_crypto(12, &v).expect_err(&v);
        assert!(e.to_string().contains("a=crypto"), "{e}");
        assert_eq!(err_attr(e), (12, "crypto".into()), "{v}");
    }
}

#[test]
fn fingerprint_round_trips_and_accepts_lower_case() {
    let hex = (0..32)
        .map(|i| format!("{:02X}", i * 7))
        .collect::<Vec<_>>()
        .join(":");
    let v = format!("sha-256 {hex}");
    let f = parse_fingerprint(4, &v).unwrap();
    assert_eq!(f.hash, "sha-256");
    assert_eq!(f.value.len(), 32);
    assert_eq!(f.value[1], 7);
    assert_eq!(f.to_string(), v);
    let lower = parse_fingerprint(4, &format!("SHA-256 {}", hex.to_lowercase())).unwrap();
    assert_eq!(lower, f);
    assert_eq!(f.to_attribute().name, "fingerprint");
    assert_eq!(
        Fingerprint::new("SHA-1", vec![0xab, 0x01]).to_string(),
        "sha-1 AB:01"
    );
}

#[test]
fn bad_fingerprints_are_errors() {
    for v in [
        "",
        "sha-256",
        "sha-256 AB:CD:E",
        "sha-256 ABCD",
        "sha-256 AB:GG",
        "sha 256 AB",
    ] {
        let e = parse_fingerprint(9, v).expect_err(v);
        assert_eq!(err_attr(e), (9, "fingerprint".into()), "{v}");
    }
}

#[test]
fn setup_round_trips_and_rejects_others() {
    for s in [
        Setup::Active,
        Setup::Passive,
        Setup::ActPass,
        Setup::HoldConn,
    ] {
        assert_eq!(parse_setup(1, s.as_str()).unwrap(), s);
        assert_eq!(s.to_attribute().value.as_deref(), Some(s.as_str()));
    }
    assert_eq!(parse_setup(1, "ACTPASS").unwrap(), Setup::ActPass);
    let e = parse_setup(5, "both").unwrap_err();
    assert_eq!(err_attr(e), (5, "setup".into()));
}

#[test]
fn tls_id_round_trips_and_checks_length_and_chars() {
    let id = "abcdefghij0123456789+/-_";
    assert_eq!(parse_tls_id(1, id).unwrap(), TlsId(id.into()));
    assert_eq!(TlsId(id.into()).to_attribute().value.as_deref(), Some(id));
    let made = TlsId::from_random(&[0xfb; 18]);
    assert_eq!(made.0.len(), 24);
    assert_eq!(
        parse_tls_id(1, &made.0).unwrap(),
        made,
        "valid by construction"
    );
    for bad in ["short", "abcdefghij0123456789!", &"a".repeat(256)] {
        let e = parse_tls_id(8, bad).expect_err(bad);
        assert_eq!(err_attr(e), (8, "tls-id".into()));
    }
}

#[test]
fn profiles_are_recognised() {
    for (text, srtp, dtls) in [
        ("RTP/AVP", false, false),
        ("RTP/AVPF", false, false),
        ("RTP/SAVP", true, false),
        ("RTP/SAVPF", true, false),
        ("UDP/TLS/RTP/SAVP", true, true),
        ("UDP/TLS/RTP/SAVPF", true, true),
        ("TCP/MRCPv2", false, false),
    ] {
        let p = TransportProfile::from_proto(text);
        assert_eq!(p.as_str(), text);
        assert_eq!((p.is_srtp(), p.is_dtls()), (srtp, dtls), "{text}");
    }
    assert_eq!(
        TransportProfile::from_proto("RTP/SAVP"),
        TransportProfile::RtpSavp
    );
    assert_eq!(
        TransportProfile::from_proto("UDP/TLS/RTP/SAVP"),
        TransportProfile::UdpTlsRtpSavp
    );
}

fn sdp_text(media_attrs: &str, session_attrs: &str, proto: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n{session_attrs}m=audio 4000 {proto} 0\r\n{media_attrs}"
    )
}

#[test]
fn read_security_from_a_whole_sdes_offer_and_write_back() {
    let text = sdp_text(
        &format!(
            "a=crypto:1 AEAD_AES_128_GCM inline:{}\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}\r\n",
            base64_of(&[9u8; 28])
        ),
        "",
        "RTP/SAVP",
    );
    let sd = sdp::parse(&text).unwrap();
    assert_eq!(sd.to_string(), text, "written back unchanged");
    let sec = read_security(&sd).unwrap();
    assert_eq!(sec.len(), 1);
    assert_eq!(sec[0].profile, TransportProfile::RtpSavp);
    assert_eq!(sec[0].crypto.len(), 2);
    assert_eq!(sec[0].crypto[1].line, 8);
    assert_eq!(sd.media[0].transport_profile(), TransportProfile::RtpSavp);
}

#[test]
fn read_security_dtls_session_level_defaults_and_media_wins() {
    let fp_s = "sha-256 AA:BB";
    let fp_m = "sha-1 CC:DD";
    let id = "0123456789abcdefghijKLMN";
    // Session-level fingerprint and setup apply to a stream without its own.
    let text = sdp_text(
        &format!("a=tls-id:{id}\r\n"),
        &format!("a=fingerprint:{fp_s}\r\na=setup:actpass\r\n"),
        "UDP/TLS/RTP/SAVP",
    );
    let sd = sdp::parse(&text).unwrap();
    assert_eq!(sd.to_string(), text, "written back unchanged");
    let sec = read_security(&sd).unwrap();
    assert_eq!(sec[0].fingerprints[0].to_string(), fp_s);
    assert_eq!(sec[0].setup, Some(Setup::ActPass));
    assert_eq!(sec[0].tls_id, Some(TlsId(id.into())));
    assert!(sec[0].profile.is_dtls());
    // Media-level ones win.
    let text = sdp_text(
        &format!("a=fingerprint:{fp_m}\r\na=setup:passive\r\n"),
        &format!("a=fingerprint:{fp_s}\r\na=setup:actpass\r\n"),
        "UDP/TLS/RTP/SAVP",
    );
    let sec = read_security(&sdp::parse(&text).unwrap()).unwrap();
    assert_eq!(sec[0].fingerprints.len(), 1);
    assert_eq!(sec[0].fingerprints[0].to_string(), fp_m);
    assert_eq!(sec[0].setup, Some(Setup::Passive));
}

#[test]
fn read_security_errors_name_attribute_and_line() {
    let cases = [
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short\r\n",
            "crypto",
        ),
        ("a=fingerprint:sha-256\r\n", "fingerprint"),
        ("a=setup:sideways\r\n", "setup"),
        ("a=tls-id:tooshort\r\n", "tls-id"),
        ("a=setup\r\n", "setup"),
        ("a=setup:active\r\na=setup:passive\r\n", "setup"),
    ];
    for (attrs, name) in cases {
        let text = sdp_text(attrs, "", "RTP/SAVP");
        let e = read_security(&sdp::parse(&text).unwrap()).expect_err(attrs);
        let (line, attribute) = err_attr(e);
        assert_eq!(attribute, name);
        assert!(line >= 7, "{attrs}: line {line} is a media attribute line");
    }
    // Duplicate crypto tag names the first line.
    let text = sdp_text(
        &format!(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}\r\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{RFC4568_KEY}\r\n"
        ),
        "",
        "RTP/SAVP",
    );
    let e = read_security(&sdp::parse(&text).unwrap()).unwrap_err();
    assert!(e.to_string().contains("line 7"), "{e}");
    assert_eq!(e.line(), Some(8));
}

fn crypto(tag: u32, suite: CryptoSuite) -> CryptoAttr {
    let n = suite.key_len().unwrap() + suite.salt_len().unwrap();
    CryptoAttr::new(tag, suite, vec![tag as u8; n])
}

#[test]
fn answerer_picks_first_supported_line_in_offer_order() {
    let mut with_param = crypto(1, CryptoSuite::AeadAes128Gcm);
    with_param.session_params.push("KDR=3".into());
    let offered = vec![
        CryptoAttr {
            suite: CryptoSuite::Other("F8_128_HMAC_SHA1_80".into()),
            ..crypto(5, CryptoSuite::AesCm128HmacSha1_80)
        },
        with_param,
        crypto(2, CryptoSuite::AesCm128HmacSha1_32),
        crypto(3, CryptoSuite::AesCm128HmacSha1_80),
    ];
    let all = CryptoSuite::KNOWN;
    assert_eq!(choose_offered_crypto(&offered, &all).unwrap().tag, 2);
    let only80 = [CryptoSuite::AesCm128HmacSha1_80];
    assert_eq!(choose_offered_crypto(&offered, &only80).unwrap().tag, 3);
    assert!(choose_offered_crypto(&offered, &[CryptoSuite::AeadAes128Gcm]).is_none());

    let chosen = choose_offered_crypto(&offered, &all).unwrap();
    let ours = answer_crypto(chosen, vec![0xee; 30]);
    assert_eq!(
        (ours.tag, &ours.suite),
        (2, &CryptoSuite::AesCm128HmacSha1_32)
    );
    assert_eq!(ours.keys[0].key_salt, vec![0xee; 30]);
    // The offerer accepts it back.
    let answered = [ours];
    let (o, t) = match_answer_crypto(&offered, &answered).unwrap();
    assert_eq!((o.tag, t.tag), (2, 2));
    assert_eq!(o.keys[0].key_salt, vec![2u8; 30]);
}

#[test]
fn offerer_refuses_mismatching_answers() {
    let offered = vec![
        crypto(1, CryptoSuite::AesCm128HmacSha1_80),
        crypto(2, CryptoSuite::AesCm128HmacSha1_32),
    ];
    assert_eq!(
        match_answer_crypto(&offered, &[]).unwrap_err(),
        CryptoAnswerError::NotExactlyOne(0)
    );
    assert_eq!(
        match_answer_crypto(&offered, &[crypto(9, CryptoSuite::AesCm128HmacSha1_80)]).unwrap_err(),
        CryptoAnswerError::UnknownTag(9)
    );
    // Also when the suite was offered under another tag (baresip 1.0.0's mislabelled
    // answer: it runs tag 1's suite whatever it names).
    let e =
        match_answer_crypto(&offered, &[crypto(1, CryptoSuite::AesCm128HmacSha1_32)]).unwrap_err();
    assert!(
        matches!(e, CryptoAnswerError::SuiteChanged { tag: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("AES_CM_128_HMAC_SHA1_80"));
}

#[test]
fn dtls_roles_from_setup() {
    assert_eq!(OFFER_SETUP, Setup::ActPass);
    // RFC 5763 §5: the answerer to actpass is active, i.e. the DTLS client.
    let ans = answer_setup(Some(Setup::ActPass)).unwrap();
    assert_eq!(ans, Setup::Active);
    assert_eq!(role_of(ans).unwrap(), DtlsRole::Client);
    assert_eq!(offerer_role(Some(ans)).unwrap(), DtlsRole::Server);
    assert_eq!(answer_setup(Some(Setup::Active)).unwrap(), Setup::Passive);
    assert_eq!(answer_setup(Some(Setup::Passive)).unwrap(), Setup::Active);
    assert_eq!(answer_setup(None).unwrap(), Setup::Passive);
    assert_eq!(
        answer_setup(Some(Setup::HoldConn)),
        Err(SetupError::HoldConn)
    );
    assert_eq!(
        offerer_role(Some(Setup::Passive)).unwrap(),
        DtlsRole::Client
    );
    assert_eq!(offerer_role(None).unwrap(), DtlsRole::Server);
    assert_eq!(
        offerer_role(Some(Setup::ActPass)),
        Err(SetupError::ActPassInAnswer)
    );
    assert_eq!(role_of(Setup::HoldConn), Err(SetupError::HoldConn));
    assert_eq!(
        check_roles(Setup::Active, Setup::Active),
        Err(SetupError::SameRole(Setup::Active))
    );
    assert!(check_roles(Setup::Active, Setup::Passive).is_ok());
}

fn base64_of(bytes: &[u8]) -> String {
    sdp::security::KeyParams::inline(bytes.to_vec()).to_string()["inline:".len()..].to_string()
}

mod properties {
    use proptest::prelude::*;
    use sdp::security::{parse_crypto, CryptoAttr, CryptoSuite, KeyLifetime, KeyParams, Mki};

    fn suite() -> impl Strategy<Value = CryptoSuite> {
        prop_oneof![
            Just(CryptoSuite::AesCm128HmacSha1_80),
            Just(CryptoSuite::AesCm128HmacSha1_32),
            Just(CryptoSuite::AeadAes128Gcm),
        ]
    }

    fn lifetime() -> impl Strategy<Value = Option<KeyLifetime>> {
        prop_oneof![
            Just(None),
            (1u8..=63).prop_map(|n| Some(KeyLifetime::PowerOfTwo(n))),
            any::<u64>().prop_map(|p| Some(KeyLifetime::Packets(p))),
        ]
    }

    fn mki() -> impl Strategy<Value = Option<Mki>> {
        prop_oneof![
            Just(None),
            (any::<u64>(), 1u8..=128).prop_map(|(value, length)| Some(Mki { value, length })),
        ]
    }

    proptest! {
        /// Whatever we write, we read back identically (RFC 4568 §9.1 grammar both ways).
        #[test]
        fn crypto_lines_round_trip(
            tag in 0u32..=999_999_999,
            suite in suite(),
            seed in any::<u8>(),
            lifetime in lifetime(),
            mki in mki(),
            params in proptest::collection::vec("[A-Z_]{1,8}(=[0-9]{1,3})?", 0..3),
        ) {
            let n = suite.key_len().unwrap() + suite.salt_len().unwrap();
            let key_salt: Vec<u8> = (0..n).map(|i| seed.wrapping_mul(31).wrapping_add(i as u8)).collect();
            let c = CryptoAttr {
                tag,
                suite,
                keys: vec![KeyParams { key_salt, lifetime, mki }],
                session_params: params,
                line: 5,
            };
            let back = parse_crypto(5, &c.to_string()).unwrap();
            prop_assert_eq!(back, c);
        }
    }
}
