//! RFC 2617 §3.5 and RFC 7616 §3.9.1 test vectors (tests/data/digest/README.md) and the
//! independently computed extra vectors (tests/data/digest/extra_vectors.txt).

use sip::auth::{
    compute_response, parse_challenge, Algorithm, Credentials, DigestClient, DigestInput, Qop,
};

const README: &str = include_str!("data/digest/README.md");
const EXTRA: &str = include_str!("data/digest/extra_vectors.txt");

fn fixed_cnonce(cnonce: &'static str) -> Box<dyn FnMut() -> String + Send> {
    Box::new(move || cnonce.to_owned())
}

#[test]
fn rfc2617_section_3_5_full_exchange() {
    let expected = "6629fae49393a05397450978507c4ef1";
    assert!(README.contains(expected), "vector file and test disagree");
    let challenge = "Digest\r\n        realm=\"testrealm@host.com\",\r\n        qop=\"auth,auth-int\",\r\n        nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n        opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    let mut client = DigestClient::with_cnonce_source(
        Credentials {
            username: "Mufasa".into(),
            password: "Circle Of Life".into(),
        },
        fixed_cnonce("0a4f113b"),
    );
    client.on_challenge(401, &[challenge]).unwrap();
    let headers = client
        .authorization_headers("GET", "/dir/index.html", b"")
        .unwrap();
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].name, "Authorization");
    assert_eq!(
        headers[0].value,
        "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
         response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001"
    );
}

fn rfc7616_input(algorithm: Algorithm) -> DigestInput<'static> {
    DigestInput {
        algorithm,
        username: "Mufasa",
        realm: "http-auth@example.org",
        password: "Circle of Life",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc: 1,
        qop: Some(Qop::Auth),
        method: "GET",
        uri: "/dir/index.html",
        body: b"",
    }
}

#[test]
fn rfc7616_section_3_9_1_md5_and_sha256_intermediates() {
    for (algorithm, ha1, ha2, response) in [
        (
            Algorithm::Md5,
            "3d78807defe7de2157e2b0b6573a855f",
            "39aff3a2bab6126f332b942af96d3366",
            "8ca523f5e9506fed4657c9700eebdbec",
        ),
        (
            Algorithm::Sha256,
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232",
            "9a3fdae9a622fe8de177c24fa9c070f2b181ec85e15dcbdc32e10c82ad450b04",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        assert!(README.contains(response), "vector file and test disagree");
        let input = rfc7616_input(algorithm);
        assert_eq!(input.ha1(), ha1);
        assert_eq!(input.ha2(), ha2);
        assert_eq!(compute_response(&input), response);
    }
}

#[test]
fn rfc7616_two_challenges_pick_sha256_and_echo_opaque() {
    let sha = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    let md5 = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    // The strongest algorithm wins whatever the order (RFC 8760).
    for order in [[sha, md5], [md5, sha]] {
        let mut client = DigestClient::with_cnonce_source(
            Credentials {
                username: "Mufasa".into(),
                password: "Circle of Life".into(),
            },
            fixed_cnonce("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
        );
        client.on_challenge(401, &order).unwrap();
        let headers = client
            .authorization_headers("GET", "/dir/index.html", b"")
            .unwrap();
        assert_eq!(headers.len(), 1);
        let value = &headers[0].value;
        assert!(value.contains(
            "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
        ));
        assert!(value.contains("algorithm=SHA-256,"));
        assert!(value.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
        assert!(value.contains("qop=auth,"));
        assert!(value.ends_with("nc=00000001"));
    }
    // And the MD5 challenge alone gives the RFC's MD5 response.
    let parsed = parse_challenge(md5).unwrap();
    assert_eq!(parsed.algorithm, Algorithm::Md5);
    assert_eq!(parsed.qop, vec![Qop::Auth, Qop::AuthInt]);
}

#[test]
fn extra_vectors_auth_int_sess_no_qop_nc2_sha512_256() {
    let mut checked = 0;
    for line in EXTRA.lines().filter(|l| !l.trim().is_empty()) {
        let (label, expected) = line.rsplit_once(' ').unwrap();
        let (algorithm_name, case) = label.split_once(' ').unwrap();
        let base = match algorithm_name {
            "MD5" => Algorithm::Md5,
            "SHA-256" => Algorithm::Sha256,
            "SHA-512-256" => Algorithm::Sha512_256,
            other => panic!("unknown algorithm {other}"),
        };
        let session = match base {
            Algorithm::Md5 => Algorithm::Md5Sess,
            Algorithm::Sha256 => Algorithm::Sha256Sess,
            _ => Algorithm::Sha512_256Sess,
        };
        let mut input = DigestInput {
            algorithm: base,
            username: "bob",
            realm: "atlanta.example.com",
            password: "zanzibar",
            nonce: "ea9c8e88df84f1cec4341ae6cbe5a359",
            cnonce: "0a4f113b",
            nc: 1,
            qop: Some(Qop::Auth),
            method: "INVITE",
            uri: "sip:bob@biloxi.example.com",
            body: b"v=0\r\n",
        };
        match case {
            "auth" => {}
            "auth nc=2" => input.nc = 2,
            "auth-int" => input.qop = Some(Qop::AuthInt),
            "-sess auth" => input.algorithm = session,
            "no qop" => input.qop = None,
            other => panic!("unknown case {other}"),
        }
        assert_eq!(compute_response(&input), expected, "{line}");
        checked += 1;
    }
    assert_eq!(checked, 15);
}
