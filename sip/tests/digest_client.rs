//! DigestClient behaviour: nonce counts, stale nonces, wrong passwords, several realms,
//! 401 vs 407, quoting.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sip::auth::{AuthError, ChallengeError, ChallengeKind, Credentials, DigestClient};

fn client() -> DigestClient {
    // cnonce "c1", "c2", … so tests can see when a new one is drawn.
    let counter = Arc::new(AtomicU32::new(0));
    DigestClient::with_cnonce_source(
        Credentials {
            username: "alice".into(),
            password: "secret".into(),
        },
        Box::new(move || format!("c{}", counter.fetch_add(1, Ordering::Relaxed) + 1)),
    )
}

fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value
        .trim_start_matches("Digest ")
        .split(", ")
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
}

const CH: &str = "Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\", algorithm=MD5";

#[test]
fn nc_increments_per_request_with_the_same_nonce_and_cnonce() {
    let mut c = client();
    c.on_challenge(401, &[CH]).unwrap();
    let first = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    assert_eq!(param(&first[0].value, "nc"), Some("00000001"));
    assert_eq!(param(&first[0].value, "cnonce"), Some("\"c1\""));
    c.on_success();
    let second = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    assert_eq!(param(&second[0].value, "nc"), Some("00000002"));
    assert_eq!(param(&second[0].value, "cnonce"), Some("\"c1\""));
    // The response changes with nc.
    assert_ne!(
        param(&first[0].value, "response"),
        param(&second[0].value, "response")
    );
}

#[test]
fn stale_nonce_retries_without_user_and_restarts_nc() {
    let mut c = client();
    c.on_challenge(401, &[CH]).unwrap();
    let _ = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    let _ = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    let stale = "Digest realm=\"example.com\", nonce=\"n2\", qop=\"auth\", stale=true";
    c.on_challenge(401, &[stale]).unwrap();
    let h = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    assert_eq!(param(&h[0].value, "nonce"), Some("\"n2\""));
    assert_eq!(param(&h[0].value, "nc"), Some("00000001"));
    assert_eq!(param(&h[0].value, "cnonce"), Some("\"c2\""));
}

#[test]
fn non_stale_challenge_after_our_answer_is_a_wrong_password() {
    let mut c = client();
    c.on_challenge(401, &[CH]).unwrap();
    let _ = c
        .authorization_headers("INVITE", "sip:bob@example.com", b"")
        .unwrap();
    let again = "Digest realm=\"example.com\", nonce=\"n3\", qop=\"auth\"";
    assert_eq!(
        c.on_challenge(401, &[again]),
        Err(AuthError::WrongCredentials {
            realm: "example.com".into()
        })
    );
}

#[test]
fn a_challenge_after_success_is_answered_again() {
    let mut c = client();
    c.on_challenge(401, &[CH]).unwrap();
    let _ = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    c.on_success();
    // An hour later the registrar expired the nonce without saying stale.
    let fresh = "Digest realm=\"example.com\", nonce=\"n9\", qop=\"auth\"";
    c.on_challenge(401, &[fresh]).unwrap();
    let h = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    assert_eq!(param(&h[0].value, "nonce"), Some("\"n9\""));
    // …but if that answer is rejected too, the password is wrong.
    assert!(matches!(
        c.on_challenge(401, &[fresh]),
        Err(AuthError::WrongCredentials { .. })
    ));
}

#[test]
fn endless_stale_answers_stop() {
    let mut c = client();
    c.on_challenge(401, &[CH]).unwrap();
    let stale = "Digest realm=\"example.com\", nonce=\"s\", qop=\"auth\", stale=true";
    let mut outcome = Ok(());
    for _ in 0..10 {
        let _ = c
            .authorization_headers("REGISTER", "sip:example.com", b"")
            .unwrap();
        outcome = c.on_challenge(401, &[stale]);
        if outcome.is_err() {
            break;
        }
    }
    assert_eq!(
        outcome,
        Err(AuthError::TooManyStaleNonces {
            realm: "example.com".into()
        })
    );
}

#[test]
fn proxy_challenge_gives_proxy_authorization() {
    let mut c = client();
    c.on_challenge(407, &[CH]).unwrap();
    let h = c
        .authorization_headers("INVITE", "sip:bob@example.com", b"")
        .unwrap();
    assert_eq!(h[0].name, "Proxy-Authorization");
    assert_eq!(
        ChallengeKind::Proxy.challenge_header(),
        "Proxy-Authenticate"
    );
    assert_eq!(ChallengeKind::Www.challenge_header(), "WWW-Authenticate");
}

#[test]
fn every_realm_is_answered_and_www_and_proxy_are_kept_apart() {
    let mut c = client();
    c.on_challenge(
        407,
        &[
            "Digest realm=\"proxy.example.com\", nonce=\"p\", qop=\"auth\"",
            "Digest realm=\"edge.example.net\", nonce=\"e\", qop=\"auth\"",
        ],
    )
    .unwrap();
    c.on_challenge(
        401,
        &["Digest realm=\"proxy.example.com\", nonce=\"w\", qop=\"auth\""],
    )
    .unwrap();
    let h = c
        .authorization_headers("INVITE", "sip:bob@example.com", b"")
        .unwrap();
    let summary: Vec<(&str, Option<&str>)> = h
        .iter()
        .map(|h| (h.name, param(&h.value, "nonce")))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Proxy-Authorization", Some("\"p\"")),
            ("Proxy-Authorization", Some("\"e\"")),
            ("Authorization", Some("\"w\"")),
        ]
    );
}

#[test]
fn strongest_supported_algorithm_wins_and_unknown_ones_are_skipped() {
    let mut c = client();
    c.on_challenge(
        401,
        &[
            "Digest realm=\"r\", nonce=\"a\", algorithm=MD5, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"b\", algorithm=SHA-512-256, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"c\", algorithm=SHA-256, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"d\", algorithm=SHA3-512, qop=\"auth\"",
        ],
    )
    .unwrap();
    let h = c.authorization_headers("INVITE", "sip:b@r", b"").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(param(&h[0].value, "algorithm"), Some("SHA-512-256"));
    assert_eq!(param(&h[0].value, "nonce"), Some("\"b\""));
}

#[test]
fn nothing_usable_is_a_typed_error() {
    let mut c = client();
    assert_eq!(
        c.on_challenge(
            401,
            &["Digest realm=\"r\", nonce=\"d\", algorithm=SHA3-512"]
        ),
        Err(AuthError::NoUsableChallenge(
            ChallengeError::UnsupportedAlgorithm("SHA3-512".into())
        ))
    );
    assert_eq!(c.on_challenge(401, &[]), Err(AuthError::NoChallenge));
    assert_eq!(
        c.on_challenge(403, &[CH]),
        Err(AuthError::NotAChallengeStatus(403))
    );
}

#[test]
fn rfc2069_challenge_sends_no_qop_nc_or_cnonce() {
    let mut c = client();
    c.on_challenge(401, &["Digest realm=\"r\", nonce=\"n\""])
        .unwrap();
    let h = c.authorization_headers("BYE", "sip:b@r", b"").unwrap();
    let v = &h[0].value;
    assert!(!v.contains("qop="));
    assert!(!v.contains("nc="));
    assert!(!v.contains("cnonce="));
    assert_eq!(param(v, "algorithm"), Some("MD5"));
}

#[test]
fn auth_int_only_challenge_hashes_the_body() {
    let mut c = client();
    c.on_challenge(401, &["Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""])
        .unwrap();
    let a = c
        .authorization_headers("INVITE", "sip:b@r", b"v=0\r\n")
        .unwrap();
    assert_eq!(param(&a[0].value, "qop"), Some("auth-int"));
    let mut d = client();
    d.on_challenge(401, &["Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""])
        .unwrap();
    let b = d
        .authorization_headers("INVITE", "sip:b@r", b"v=1\r\n")
        .unwrap();
    // Same everything except the body → different response.
    assert_ne!(
        param(&a[0].value, "response"),
        param(&b[0].value, "response")
    );
}

#[test]
fn session_algorithm_without_qop_still_sends_its_cnonce() {
    let mut c = client();
    c.on_challenge(
        401,
        &["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256-sess"],
    )
    .unwrap();
    let h = c.authorization_headers("INVITE", "sip:b@r", b"").unwrap();
    assert_eq!(param(&h[0].value, "cnonce"), Some("\"c1\""));
    assert_eq!(param(&h[0].value, "algorithm"), Some("SHA-256-sess"));
}

#[test]
fn user_names_are_escaped_and_tokens_unquoted() {
    let mut c = DigestClient::with_cnonce_source(
        Credentials {
            username: "ali\"ce\\".into(),
            password: "p".into(),
        },
        Box::new(|| "cn".to_owned()),
    );
    c.on_challenge(
        401,
        &["Digest realm=\"r\", nonce=\"n\", qop=\"auth\", opaque=\"o\""],
    )
    .unwrap();
    let v = &c.authorization_headers("INVITE", "sip:b@r", b"").unwrap()[0].value;
    assert!(v.starts_with("Digest username=\"ali\\\"ce\\\\\", realm=\"r\""));
    assert!(v.contains(", algorithm=MD5, "));
    assert!(v.contains(", qop=auth, "));
    assert!(v.ends_with(", nc=00000001"));
    assert!(v.contains(", opaque=\"o\""));
}

#[test]
fn debug_output_hides_the_password() {
    let c = client();
    let text = format!("{c:?}");
    assert!(text.contains("alice"));
    assert!(!text.contains("secret"));
}

#[test]
fn combined_header_value_with_basic_and_two_digests_picks_the_strongest() {
    let mut c = client();
    c.on_challenge(401, &[
        "Basic realm=\"r\", Digest realm=\"r\", nonce=\"m\", qop=\"auth\", Digest realm=\"r\", nonce=\"s\", algorithm=SHA-256, qop=\"auth\"",
    ])
    .unwrap();
    let h = c.authorization_headers("REGISTER", "sip:r", b"").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(param(&h[0].value, "nonce"), Some("\"s\""));
}

const SHA: &str = "Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256";

#[test]
fn a_stale_md5_only_challenge_after_sha256_is_a_downgrade() {
    let mut c = client();
    c.on_challenge(401, &[SHA]).unwrap();
    let h = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    assert!(h[0].value.contains("algorithm=SHA-256"));
    let stale_md5 =
        "Digest realm=\"example.com\", nonce=\"n2\", qop=\"auth\", algorithm=MD5, stale=true";
    let refused = c.on_challenge(401, &[stale_md5]).unwrap_err();
    assert!(
        matches!(&refused, AuthError::AlgorithmDowngrade { realm, .. } if realm == "example.com"),
        "{refused:?}"
    );
    let text = refused.to_string();
    assert!(text.contains("SHA-256") && text.contains("MD5"), "{text}");
    // The SHA-256 state is untouched: the next request still uses it.
    let h = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    assert!(h[0].value.contains("algorithm=SHA-256"));
    assert!(h[0].value.contains("nonce=\"n1\""));
    // Offering SHA-256 next to MD5 is fine: the strongest is chosen.
    let both = "Digest realm=\"example.com\", nonce=\"n3\", qop=\"auth\", algorithm=MD5, stale=true, Digest realm=\"example.com\", nonce=\"n3\", qop=\"auth\", algorithm=SHA-256, stale=true";
    c.on_challenge(401, &[both]).unwrap();
}

#[test]
fn forgetting_unproven_realms_keeps_the_algorithm_floor() {
    let mut c = client();
    c.on_challenge(401, &[SHA]).unwrap();
    let _ = c
        .authorization_headers("REGISTER", "sip:example.com", b"")
        .unwrap();
    c.forget_unproven();
    assert_eq!(c.realms().count(), 0);
    let md5 = "Digest realm=\"example.com\", nonce=\"n2\", qop=\"auth\", algorithm=MD5";
    assert!(matches!(
        c.on_challenge(401, &[md5]),
        Err(AuthError::AlgorithmDowngrade { .. })
    ));
}
