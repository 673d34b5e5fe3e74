//! Challenge parsing edge cases (RFC 7616 §3.3, RFC 3261 §25.1 grammar).

use sip::auth::{parse_challenge, Algorithm, ChallengeError, Qop};

#[test]
fn full_challenge_with_every_known_parameter() {
    let c = parse_challenge(
        "Digest realm=\"atlanta.example.com\", nonce=\"84a4cc6f\", opaque=\"0123\", \
         algorithm=SHA-256, qop=\"auth,auth-int\", stale=TRUE, domain=\"sip:ss1.example.com\", \
         userhash=true",
    )
    .unwrap();
    assert_eq!(c.realm, "atlanta.example.com");
    assert_eq!(c.nonce, "84a4cc6f");
    assert_eq!(c.opaque.as_deref(), Some("0123"));
    assert_eq!(c.algorithm, Algorithm::Sha256);
    assert_eq!(c.qop, vec![Qop::Auth, Qop::AuthInt]);
    assert!(c.stale);
    assert!(c.userhash);
    assert_eq!(c.domain.as_deref(), Some("sip:ss1.example.com"));
}

#[test]
fn minimal_challenge_defaults_to_md5_without_qop() {
    let c = parse_challenge("Digest realm=\"r\",nonce=\"n\"").unwrap();
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert!(c.qop.is_empty());
    assert!(!c.stale);
    assert_eq!(c.opaque, None);
}

#[test]
fn names_and_scheme_are_case_insensitive_and_lws_is_allowed() {
    let c = parse_challenge(
        "  dIgEsT\tREALM = \"r\" ,\r\n  Nonce\t=\t\"n\" , ALGORITHM = md5-SESS , QoP = AUTH  ",
    )
    .unwrap();
    assert_eq!(c.realm, "r");
    assert_eq!(c.nonce, "n");
    assert_eq!(c.algorithm, Algorithm::Md5Sess);
    // Unquoted qop, as some servers send it.
    assert_eq!(c.qop, vec![Qop::Auth]);
}

#[test]
fn quoted_strings_keep_commas_and_unescape_pairs() {
    let c =
        parse_challenge(r#"Digest realm="a \"quoted\" realm, with comma", nonce="x\\y""#).unwrap();
    assert_eq!(c.realm, "a \"quoted\" realm, with comma");
    assert_eq!(c.nonce, "x\\y");
}

#[test]
fn unknown_parameters_and_empty_list_elements_are_ignored() {
    let c = parse_challenge(
        "Digest ,realm=\"r\",, charset=UTF-8, x-vendor=\"a,b\", nonce=\"n\", qop=\"auth,token\",",
    )
    .unwrap();
    assert_eq!(c.realm, "r");
    assert_eq!(c.qop, vec![Qop::Auth]);
}

#[test]
fn stale_false_and_odd_case_values() {
    assert!(
        !parse_challenge("Digest realm=r, nonce=n, stale=false")
            .unwrap()
            .stale
    );
    assert!(
        parse_challenge("Digest realm=r, nonce=n, stale=\"True\"")
            .unwrap()
            .stale
    );
}

#[test]
fn utf8_in_quoted_strings_survives() {
    let c = parse_challenge("Digest realm=\"bureau Zürich\", nonce=\"n\"").unwrap();
    assert_eq!(c.realm, "bureau Zürich");
}

#[test]
fn typed_errors_name_the_problem() {
    let cases: [(&str, ChallengeError); 11] = [
        ("", ChallengeError::Empty),
        ("   \r\n ", ChallengeError::Empty),
        (
            "Basic realm=\"r\"",
            ChallengeError::UnsupportedScheme("Basic".into()),
        ),
        (
            "Digest nonce=\"n\"",
            ChallengeError::MissingParameter("realm"),
        ),
        (
            "Digest realm=\"r\"",
            ChallengeError::MissingParameter("nonce"),
        ),
        (
            "Digest realm=\"r\", nonce=\"n",
            ChallengeError::UnterminatedQuotedString("nonce".into()),
        ),
        (
            "Digest realm=\"r\", realm=\"s\", nonce=\"n\"",
            ChallengeError::DuplicateParameter("realm".into()),
        ),
        (
            "Digest realm \"r\"",
            ChallengeError::ExpectedEquals("realm".into()),
        ),
        (
            "Digest realm=, nonce=\"n\"",
            ChallengeError::MissingValue("realm".into()),
        ),
        (
            "Digest realm=r, nonce=n, algorithm=SHA-1",
            ChallengeError::UnsupportedAlgorithm("SHA-1".into()),
        ),
        (
            "Digest realm=r, nonce=n, qop=\"auth-conf\"",
            ChallengeError::UnsupportedQop("auth-conf".into()),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_challenge(input), Err(expected), "input {input:?}");
    }
}

#[test]
fn junk_characters_report_their_position() {
    assert_eq!(
        parse_challenge("Digest realm=\"r\" nonce=\"n\""),
        Err(ChallengeError::UnexpectedChar {
            position: 17,
            found: 'n'
        })
    );
    assert_eq!(
        parse_challenge("@Digest"),
        Err(ChallengeError::UnexpectedChar {
            position: 0,
            found: '@'
        })
    );
    assert_eq!(
        parse_challenge("Digest realm=\"r\", {=x"),
        Err(ChallengeError::UnexpectedChar {
            position: 18,
            found: '{'
        })
    );
}

#[test]
fn backslash_at_the_end_is_unterminated() {
    assert_eq!(
        parse_challenge("Digest realm=\"r\\"),
        Err(ChallengeError::UnterminatedQuotedString("realm".into()))
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_input_never_panics(input in ".{0,200}") {
        let _ = parse_challenge(&input);
    }

    #[test]
    fn quoted_values_round_trip_through_escaping(realm in "[ -~]{0,40}") {
        let escaped: String = realm
            .chars()
            .flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] })
            .collect();
        let parsed = parse_challenge(&format!("Digest realm=\"{escaped}\", nonce=\"n\"")).unwrap();
        proptest::prop_assert_eq!(parsed.realm, realm);
    }
}

#[test]
fn several_challenges_in_one_value_are_split() {
    use sip::auth::parse_challenges;
    let parsed = parse_challenges(
        "Basic realm=\"legacy, old\", Digest realm=\"a\", nonce=\"x, y\", qop=auth, \
         algorithm=SHA-256,\r\n Digest realm=\"a\", nonce=\"z\"",
    );
    assert_eq!(parsed.len(), 3);
    assert_eq!(
        parsed[0],
        Err(ChallengeError::UnsupportedScheme("Basic".into()))
    );
    let second = parsed[1].as_ref().unwrap();
    assert_eq!(second.nonce, "x, y");
    assert_eq!(second.algorithm, Algorithm::Sha256);
    let third = parsed[2].as_ref().unwrap();
    assert_eq!(
        (third.nonce.as_str(), third.algorithm),
        ("z", Algorithm::Md5)
    );
    // A single ordinary challenge stays one piece.
    assert_eq!(
        parse_challenges("Digest realm=r, nonce=n, stale = true").len(),
        1
    );
}
