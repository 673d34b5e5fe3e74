//! RFC 4475 torture messages: every one of the 49 gets the outcome the RFC calls for
//! (see tests/data/rfc4475/INDEX.md), and valid ones parse with the right values.

use std::path::PathBuf;

use sip::message::{
    error_response_for_unparsable, parse_datagram, validate_request, validate_response, Contacts,
    HeaderName, Host, Message, Method, ParseError, ResponseDiscard, Transport, UasPolicy, Uri,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Parses and passes validation.
    Accept,
    /// Parses; the UAS answers this status.
    Reject(u16),
    /// Does not parse; the UAS still answers this status from the salvaged headers.
    Unparsable(u16),
    /// A response that does not parse at all: dropped.
    UnparsableResponse,
    /// A response that parses but a UAC discards.
    DiscardResponse,
}
use Outcome::*;

/// File, outcome at a softphone endpoint (default policy), outcome at a registrar.
const TABLE: &[(&str, Outcome, Outcome)] = &[
    // §3.1.1 valid
    ("wsinv.dat", Accept, Accept),
    ("intmeth.dat", Reject(501), Reject(501)),
    ("esc01.dat", Accept, Accept),
    ("escnull.dat", Reject(405), Accept),
    ("esc02.dat", Reject(501), Reject(501)),
    ("lwsdisp.dat", Accept, Accept),
    ("longreq.dat", Accept, Accept),
    ("dblreq.dat", Reject(405), Accept),
    ("semiuri.dat", Accept, Accept),
    ("transports.dat", Accept, Accept),
    // Well formed; a softphone does not take multipart bodies, so 415 (parser accepts).
    ("mpart01.dat", Reject(415), Reject(415)),
    ("unreason.dat", Accept, Accept),
    ("noreason.dat", Accept, Accept),
    // §3.1.2 invalid
    ("badinv01.dat", Reject(400), Reject(400)),
    ("clerr.dat", Unparsable(400), Unparsable(400)),
    ("ncl.dat", Unparsable(400), Unparsable(400)),
    ("scalar02.dat", Reject(400), Reject(400)),
    ("scalarlg.dat", DiscardResponse, DiscardResponse),
    ("quotbal.dat", Reject(400), Reject(400)),
    ("ltgtruri.dat", Unparsable(400), Unparsable(400)),
    ("lwsruri.dat", Unparsable(400), Unparsable(400)),
    ("lwsstart.dat", Unparsable(400), Unparsable(400)),
    ("trws.dat", Unparsable(400), Unparsable(400)),
    ("escruri.dat", Reject(400), Reject(400)),
    // Date does not matter to this element: ignored (RFC 4475 §3.1.2.12).
    ("baddate.dat", Accept, Accept),
    ("regbadct.dat", Reject(400), Reject(400)),
    ("badaspec.dat", Reject(400), Reject(400)),
    ("baddn.dat", Unparsable(400), Unparsable(400)),
    ("badvers.dat", Reject(505), Reject(505)),
    ("mismatch01.dat", Reject(400), Reject(400)),
    ("mismatch02.dat", Reject(501), Reject(501)),
    ("bigcode.dat", UnparsableResponse, UnparsableResponse),
    // §3.2 transaction layer: a branch that is only the magic cookie is well formed; the
    // element falls back to RFC 2543 transaction matching and processes it normally.
    ("badbranch.dat", Accept, Accept),
    // §3.3 application layer
    ("insuf.dat", Reject(400), Reject(400)),
    ("unkscm.dat", Reject(416), Reject(416)),
    ("novelsc.dat", Reject(416), Reject(416)),
    ("unksm2.dat", Reject(405), Reject(400)),
    ("bext01.dat", Reject(420), Reject(420)),
    ("invut.dat", Reject(415), Reject(415)),
    ("regaut01.dat", Reject(405), Accept),
    ("multi01.dat", Reject(400), Reject(400)),
    ("mcl01.dat", Unparsable(400), Unparsable(400)),
    ("bcast.dat", DiscardResponse, DiscardResponse),
    ("zeromf.dat", Accept, Accept),
    ("cparam01.dat", Reject(405), Accept),
    ("cparam02.dat", Reject(405), Accept),
    ("regescrt.dat", Reject(405), Accept),
    ("sdp01.dat", Reject(406), Reject(406)),
    // §3.4 RFC 2543 compatibility
    ("inv2543.dat", Accept, Accept),
];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse(name: &str) -> Message {
    parse_datagram(&read(name)).unwrap_or_else(|e| panic!("{name} should parse: {e}"))
}

fn outcome(bytes: &[u8], policy: &UasPolicy) -> Outcome {
    match parse_datagram(bytes) {
        Err(e) => match error_response_for_unparsable(bytes, &e) {
            Some(resp) => Unparsable(resp.status),
            None => UnparsableResponse,
        },
        Ok(Message::Request(req)) => match validate_request(&req, policy) {
            Ok(()) => Accept,
            Err(rej) => {
                let resp = rej.to_response(&req);
                assert_eq!(resp.status, rej.status);
                Reject(rej.status)
            }
        },
        Ok(Message::Response(resp)) => match validate_response(&resp) {
            Ok(()) => Accept,
            Err(_) => DiscardResponse,
        },
    }
}

#[test]
fn table_covers_all_49_files_exactly() {
    let mut on_disk: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dat"))
        .collect();
    on_disk.sort();
    let mut in_table: Vec<String> = TABLE.iter().map(|(n, _, _)| n.to_string()).collect();
    in_table.sort();
    assert_eq!(on_disk.len(), 49);
    assert_eq!(on_disk, in_table);
}

#[test]
fn every_message_gets_the_rfc_outcome_at_an_endpoint_and_a_registrar() {
    let endpoint = UasPolicy::default();
    let registrar = UasPolicy {
        registrar: true,
        ..UasPolicy::default()
    };
    let mut wrong = Vec::new();
    for (name, at_endpoint, at_registrar) in TABLE {
        let bytes = read(name);
        let got = outcome(&bytes, &endpoint);
        if got != *at_endpoint {
            wrong.push(format!(
                "{name} endpoint: expected {at_endpoint:?}, got {got:?}"
            ));
        }
        let got = outcome(&bytes, &registrar);
        if got != *at_registrar {
            wrong.push(format!(
                "{name} registrar: expected {at_registrar:?}, got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn parse_err(name: &str) -> ParseError {
    parse_datagram(&read(name)).expect_err(name)
}

fn request(name: &str) -> sip::message::Request {
    match parse(name) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("{name} is a response"),
    }
}

fn reject_detail(name: &str, policy: &UasPolicy) -> sip::message::Rejection {
    validate_request(&request(name), policy).expect_err(name)
}

#[test]
fn parse_failures_name_the_right_cause() {
    assert!(matches!(
        parse_err("clerr.dat"),
        ParseError::BodyTruncated { declared: 9999, .. }
    ));
    assert!(matches!(parse_err("ncl.dat"), ParseError::ContentLength(v) if v == "-999"));
    assert_eq!(parse_err("mcl01.dat"), ParseError::ConflictingContentLength);
    assert!(matches!(parse_err("ltgtruri.dat"), ParseError::Uri { .. }));
    assert!(matches!(parse_err("lwsruri.dat"), ParseError::StartLine(_)));
    assert!(matches!(
        parse_err("lwsstart.dat"),
        ParseError::StartLine(_)
    ));
    assert!(matches!(parse_err("trws.dat"), ParseError::StartLine(_)));
    assert_eq!(parse_err("baddn.dat"), ParseError::UnterminatedHeaders);
    assert!(matches!(parse_err("bigcode.dat"), ParseError::StatusCode(c) if c == "4294967301"));
}

#[test]
fn rejections_name_the_right_cause() {
    let endpoint = UasPolicy::default();
    let why = |name: &str| reject_detail(name, &endpoint).detail;
    assert!(
        why("badinv01.dat").contains("Via"),
        "{}",
        why("badinv01.dat")
    );
    assert!(
        why("scalar02.dat").contains("CSeq"),
        "{}",
        why("scalar02.dat")
    );
    assert!(
        why("quotbal.dat").contains("quoted"),
        "{}",
        why("quotbal.dat")
    );
    assert!(why("escruri.dat").contains("Request-URI"));
    assert!(
        why("regbadct.dat").contains("<>"),
        "{}",
        why("regbadct.dat")
    );
    assert!(why("badaspec.dat").contains("Uri") || why("badaspec.dat").contains("URI"));
    assert!(why("mismatch01.dat").contains("CSeq"));
    assert!(why("insuf.dat").contains("missing"), "{}", why("insuf.dat"));
    assert!(
        why("multi01.dat").contains("more than once"),
        "{}",
        why("multi01.dat")
    );

    let intmeth = reject_detail("intmeth.dat", &endpoint);
    assert!(intmeth
        .headers
        .iter()
        .any(|(n, v)| *n == HeaderName::Allow && v.contains("INVITE")));
    let bext = reject_detail("bext01.dat", &endpoint);
    assert_eq!(
        bext.headers,
        vec![(
            HeaderName::Unsupported,
            "nothingSupportsThis, nothingSupportsThisEither".to_string()
        )]
    );
    let bext_response = bext.to_response(&request("bext01.dat"));
    assert_eq!(
        bext_response.headers.get("Unsupported"),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
    assert_eq!(
        bext_response.headers.call_id().unwrap(),
        "bext01.0ha0isndaksdj"
    );
    let invut = reject_detail("invut.dat", &endpoint);
    assert!(invut.headers.iter().any(|(n, _)| *n == HeaderName::Accept));

    let scalarlg = match parse("scalarlg.dat") {
        Message::Response(r) => r,
        Message::Request(_) => panic!("scalarlg is a response"),
    };
    assert!(matches!(
        validate_response(&scalarlg),
        Err(ResponseDiscard::Malformed(_))
    ));
    let bcast = match parse("bcast.dat") {
        Message::Response(r) => r,
        Message::Request(_) => panic!("bcast is a response"),
    };
    assert_eq!(validate_response(&bcast), Err(ResponseDiscard::ExtraVia));
    let vias = bcast.headers.vias().unwrap();
    assert_eq!(vias[1].host, Host::Ipv4("255.255.255.255".parse().unwrap()));
}

#[test]
fn unparsable_requests_still_get_an_addressed_response() {
    let bytes = read("clerr.dat");
    let err = parse_datagram(&bytes).unwrap_err();
    let resp = error_response_for_unparsable(&bytes, &err).unwrap();
    assert_eq!(resp.status, 400);
    assert!(resp
        .headers
        .get("Call-ID")
        .is_some_and(|c| c.starts_with("clerr")));
    assert!(resp.headers.contains("Via") && resp.headers.contains("CSeq"));
}

#[test]
fn wsinv_values() {
    let r = request("wsinv.dat");
    assert_eq!(r.method, Method::Invite);
    assert!(r.uri.as_sip().unwrap().params.has("unknownparam"));
    let h = &r.headers;
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    assert_eq!(h.cseq().unwrap().seq, 9);
    assert_eq!(h.cseq().unwrap().method, Method::Invite);
    assert_eq!(h.get("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    assert_eq!(
        h.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(h.get("Subject"), Some(""));
    // One Via line plus a folded, compact, comma-separated pair.
    let vias = h.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, Transport::Tcp);
    assert_eq!(vias[1].host, Host::Domain("spindle.example.com".into()));
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host, Host::Ipv4("192.168.255.111".parse().unwrap()));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(h.to_addr().unwrap().tag(), Some("1918181833n"));
    let from = h.from_addr().unwrap();
    assert_eq!(from.display_name.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    let Contacts::List(contacts) = h.contacts().unwrap() else {
        panic!("wsinv contact")
    };
    assert_eq!(contacts.len(), 1);
    assert_eq!(
        contacts[0].display_name.as_deref(),
        Some("Quoted string \"\"")
    );
    assert_eq!(contacts[0].params.get("newparam"), Some("newvalue"));
    assert!(contacts[0].params.has("secondparam"));
    assert_eq!(contacts[0].params.get("q"), Some("0.33"));
    assert_eq!(h.routes().unwrap().len(), 1);
    assert_eq!(h.content_length().unwrap(), Some(r.body.len()));
}

#[test]
fn intmeth_values() {
    let r = request("intmeth.dat");
    assert_eq!(
        r.method,
        Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    let to = r.headers.to_addr().unwrap();
    let name = to.display_name.unwrap();
    assert!(
        name.contains('\0') && name.contains('\u{7}') && name.contains('\u{7f}'),
        "{name:?}"
    );
    assert_eq!(r.headers.cseq().unwrap().method, r.method);
}

#[test]
fn escape_handling() {
    let r = request("esc01.dat");
    let ruri = r.uri.as_sip().unwrap();
    assert_eq!(ruri.user_decoded().unwrap(), b"sips:user@example.com");
    let to = r.headers.to_addr().unwrap();
    assert_eq!(to.uri.as_sip().unwrap().user_decoded().unwrap(), b"user");
    let Contacts::List(contacts) = r.headers.contacts().unwrap() else {
        panic!("esc01 contact is not *")
    };
    let c = contacts[0].uri.as_sip().unwrap();
    assert_eq!(c.user_decoded().unwrap(), b"caller");
    // RFC 4475 §3.1.1.3: no recursive unescaping.
    assert_eq!(c.params.get_decoded("name").unwrap(), b"value%41");
    assert!(c.params.has("lr"));

    let null = request("escnull.dat");
    let Contacts::List(contacts) = null.headers.contacts().unwrap() else {
        panic!("escnull contact is not *")
    };
    let users: Vec<Vec<u8>> = contacts
        .iter()
        .map(|c| c.uri.as_sip().unwrap().user_decoded().unwrap())
        .collect();
    assert_eq!(users, vec![vec![0u8], vec![0u8, 0u8]]);
    let aor = null
        .headers
        .to_addr()
        .unwrap()
        .uri
        .as_sip()
        .unwrap()
        .user_decoded()
        .unwrap();
    assert_eq!(aor, b"null-\0-null");

    let e2 = request("esc02.dat");
    assert_eq!(e2.method, Method::Extension("RE%47IST%45R".into()));
    assert_eq!(
        e2.headers.to_addr().unwrap().display_name.as_deref(),
        Some("%Z%45")
    );
    assert_eq!(e2.headers.count(HeaderName::Contact), 2);
    assert_eq!(
        e2.headers.get("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
}

#[test]
fn other_valid_messages() {
    let semi = request("semiuri.dat");
    assert_eq!(
        semi.uri.as_sip().unwrap().user.as_deref(),
        Some("user;par=u%40example.net")
    );
    assert_eq!(
        semi.uri.as_sip().unwrap().host,
        Host::Domain("example.com".into())
    );
    assert_eq!(semi.headers.accept().unwrap().len(), 6);

    let transports = request("transports.dat");
    let kinds: Vec<Transport> = transports
        .headers
        .vias()
        .unwrap()
        .into_iter()
        .map(|v| v.transport)
        .collect();
    assert_eq!(
        kinds,
        vec![
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other("UNKNOWN".into()),
            Transport::Tcp
        ]
    );

    let dbl = request("dblreq.dat");
    assert_eq!(dbl.method, Method::Register);
    assert!(dbl.body.is_empty());

    let mpart = request("mpart01.dat");
    assert_eq!(
        mpart.headers.content_length().unwrap(),
        Some(mpart.body.len())
    );
    assert!(mpart.body.contains(&0));
    assert_eq!(
        mpart.headers.content_type().unwrap().unwrap().essence(),
        "multipart/mixed"
    );

    let lwsdisp = request("lwsdisp.dat");
    assert_eq!(
        lwsdisp.headers.from_addr().unwrap().display_name.as_deref(),
        Some("caller")
    );

    let long = request("longreq.dat");
    assert!(long.headers.call_id().unwrap().len() > 100);
    assert!(long.headers.to_addr().unwrap().display_name.unwrap().len() > 100);
    assert!(long.headers.from_addr().unwrap().tag().unwrap().len() > 100);
    assert_eq!(long.headers.vias().unwrap().len(), 34);

    for (name, reason) in [
        ("unreason.dat", "= 2**3 * 5**2 \u{43d}\u{43e} \u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{43d}\u{43e}\u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{442}\u{44c} - \u{43f}\u{440}\u{43e}\u{441}\u{442}\u{43e}\u{435}"),
        ("noreason.dat", ""),
    ] {
        let Message::Response(resp) = parse(name) else {
            panic!("{name}")
        };
        assert_eq!(resp.reason, reason, "{name}");
        assert_eq!(validate_response(&resp), Ok(()), "{name}");
    }

    let inv = request("inv2543.dat");
    assert_eq!(inv.headers.max_forwards().unwrap(), None);
    assert_eq!(inv.headers.top_via().unwrap().branch(), None);
    assert!(!inv.body.is_empty());

    let zero = request("zeromf.dat");
    assert_eq!(zero.headers.max_forwards().unwrap(), Some(0));

    let unk = request("unkscm.dat");
    assert!(matches!(&unk.uri, Uri::Other { scheme, .. } if scheme == "nobodyKnowsThisScheme"));
}

#[test]
fn contact_params_versus_uri_params() {
    let one = request("cparam01.dat");
    let Contacts::List(c1) = one.headers.contacts().unwrap() else {
        panic!()
    };
    assert!(c1[0].params.has("unknownparam"));
    assert!(!c1[0].uri.as_sip().unwrap().params.has("unknownparam"));
    let two = request("cparam02.dat");
    let Contacts::List(c2) = two.headers.contacts().unwrap() else {
        panic!()
    };
    assert!(!c2[0].params.has("unknownparam"));
    assert!(c2[0].uri.as_sip().unwrap().params.has("unknownparam"));
    let esc = request("regescrt.dat");
    let Contacts::List(c3) = esc.headers.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(
        c3[0].uri.as_sip().unwrap().headers,
        vec![("Route".to_string(), "%3Csip:sip.example.com%3E".to_string())]
    );
    // Re-serialised, the escaped header stays in the URI.
    assert!(c3[0]
        .to_string()
        .contains("?Route=%3Csip:sip.example.com%3E"));
}

#[test]
fn valid_messages_survive_a_serialize_parse_round_trip() {
    for (name, _, _) in TABLE {
        let Ok(first) = parse_datagram(&read(name)) else {
            continue;
        };
        let again =
            parse_datagram(&first.to_bytes()).unwrap_or_else(|e| panic!("{name} reparse: {e}"));
        assert_eq!(first.body(), again.body(), "{name}");
        let names = |m: &Message| {
            m.headers()
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .filter(|(n, _)| *n != HeaderName::ContentLength)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&first), names(&again), "{name}");
    }
}

/// Endpoint-level: what a peer actually gets back on the wire for `name`, sent over UDP.
fn endpoint_answers(datagrams: &[Vec<u8>]) -> Vec<sip::message::Response> {
    use sip::endpoint::{Endpoint, EndpointConfig};
    let mut c = EndpointConfig::new("sip:user@example.com");
    c.udp_local = Some("127.0.0.1:5080".parse().unwrap());
    let mut ep = Endpoint::with_seed(c, 3);
    let now = std::time::Instant::now();
    let from: std::net::SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let mut out = Vec::new();
    for bytes in datagrams {
        ep.handle_datagram(now, "127.0.0.1:5080".parse().unwrap(), from, bytes);
        while let Some(t) = ep.poll_transmit() {
            match parse_datagram(&t.bytes) {
                Ok(Message::Response(r)) => out.push(r),
                other => panic!("not a response: {other:?}"),
            }
        }
    }
    out
}

/// RFC 4475 §3.1.2.16 / RFC 3261 §21.5.6: SIP/7.0 (in the request line and the Via) gets a
/// 505 on the wire, not silence.
#[test]
fn endpoint_answers_an_unknown_version_with_505() {
    let answers = endpoint_answers(&[read("badvers.dat")]);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].status, 505);
    assert_eq!(answers[0].reason, "Version Not Supported");
    assert_eq!(
        answers[0].headers.call_id().unwrap(),
        "badvers.31417@c.example.com"
    );
}

/// RFC 4475 §3.2.1: a branch of only the magic cookie is answered normally, with RFC 2543
/// matching: a retransmission is absorbed (same answer), another request is a new
/// transaction.
#[test]
fn endpoint_processes_a_bare_magic_cookie_branch_normally() {
    let first = read("badbranch.dat");
    let text = String::from_utf8(first.clone()).unwrap();
    let second = text
        .replace("CSeq: 8 OPTIONS", "CSeq: 9 OPTIONS")
        .into_bytes();
    let answers = endpoint_answers(&[first.clone(), first, second]);
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 200], "{answers:?}");
    let cseqs: Vec<u32> = answers
        .iter()
        .map(|r| r.headers.cseq().unwrap().seq)
        .collect();
    assert_eq!(cseqs, vec![8, 8, 9]);
    // The retransmission got the very same response (same To tag): one transaction.
    let tag = |r: &sip::message::Response| r.headers.to_addr().unwrap().tag().map(str::to_owned);
    assert_eq!(tag(&answers[0]), tag(&answers[1]));
}
