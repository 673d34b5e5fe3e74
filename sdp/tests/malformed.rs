//! Malformed SDP gives a typed error naming its line (and field or attribute); never a panic.

use sdp::ice_attrs::read_ice;
use sdp::{parse, SdpError};

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";

fn err(text: &str) -> SdpError {
    parse(text).unwrap_err()
}

#[test]
fn empty_and_missing_version() {
    assert_eq!(err(""), SdpError::Empty);
    assert_eq!(err("\r\n\r\n"), SdpError::Empty);
    assert!(matches!(
        err("o=- 1 1 IN IP4 192.0.2.1\r\n"),
        SdpError::MissingVersion { .. }
    ));
    assert_eq!(
        err("v=1\r\n"),
        SdpError::UnsupportedVersion {
            line: 1,
            value: "1".into()
        }
    );
}

#[test]
fn missing_mandatory_lines() {
    assert_eq!(
        err("v=0\r\ns=-\r\nt=0 0\r\n"),
        SdpError::MissingLine { letter: 'o' }
    );
    assert_eq!(
        err("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n"),
        SdpError::MissingLine { letter: 's' }
    );
    assert_eq!(
        err("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"),
        SdpError::MissingLine { letter: 't' }
    );
}

#[test]
fn line_without_equals_sign() {
    assert_eq!(
        err(&format!("{HEAD}garbage\r\n")),
        SdpError::NotATypeValueLine { line: 6 }
    );
    assert_eq!(
        err(&format!("{HEAD}A=x\r\n")),
        SdpError::NotATypeValueLine { line: 6 }
    );
}

#[test]
fn duplicate_and_misplaced_lines() {
    assert_eq!(
        err(&format!("{HEAD}c=IN IP4 192.0.2.2\r\n")),
        SdpError::DuplicateLine {
            line: 6,
            letter: 'c'
        }
    );
    assert_eq!(
        err(&format!("{HEAD}v=0\r\n")),
        SdpError::DuplicateLine {
            line: 6,
            letter: 'v'
        }
    );
    assert_eq!(
        err(&format!("{HEAD}m=audio 1 RTP/AVP 0\r\nt=0 0\r\n")),
        SdpError::NotAllowedInMedia {
            line: 7,
            letter: 't'
        }
    );
    assert_eq!(
        err(&format!(
            "{HEAD}m=audio 1 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n"
        )),
        SdpError::DuplicateLine {
            line: 8,
            letter: 'c'
        }
    );
}

#[test]
fn bad_origin_connection_and_media_fields() {
    let o = err("v=0\r\no=- 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n");
    assert!(
        matches!(
            o,
            SdpError::InvalidField {
                line: 2,
                field: "o=",
                ..
            }
        ),
        "{o:?}"
    );
    let v = err("v=0\r\no=- 1 x IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n");
    assert!(matches!(
        v,
        SdpError::InvalidField {
            line: 2,
            field: "o= sess-version",
            ..
        }
    ));
    let family = err(&HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP6 192.0.2.1"));
    assert!(matches!(
        family,
        SdpError::InvalidField {
            line: 4,
            field: "c= connection-address",
            ..
        }
    ));
    let junk = err(&HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP4 bad/addr!"));
    assert!(
        matches!(junk, SdpError::InvalidField { line: 4, .. }),
        "{junk:?}"
    );
    let port = err(&format!("{HEAD}m=audio 70000 RTP/AVP 0\r\n"));
    assert!(matches!(
        port,
        SdpError::InvalidField {
            line: 6,
            field: "m= port",
            ..
        }
    ));
    let fmt = err(&format!("{HEAD}m=audio 4000 RTP/AVP\r\n"));
    assert!(matches!(
        fmt,
        SdpError::InvalidField {
            line: 6,
            field: "m= fmt",
            ..
        }
    ));
}

fn ice_err(attrs: &str) -> SdpError {
    let sd = parse(&format!("{HEAD}m=audio 4000 RTP/AVP 0\r\n{attrs}")).unwrap();
    read_ice(&sd).unwrap_err()
}

fn attr_of(e: &SdpError) -> (usize, &str) {
    match e {
        SdpError::InvalidAttribute {
            line, attribute, ..
        } => (*line, attribute.as_str()),
        other => panic!("not an attribute error: {other:?}"),
    }
}

#[test]
fn bad_ice_attributes_name_line_and_attribute() {
    let cases = [
        ("a=ice-ufrag:abc\r\n", "ice-ufrag"),
        ("a=ice-ufrag:ab-cd\r\n", "ice-ufrag"),
        ("a=ice-pwd:tooshort\r\n", "ice-pwd"),
        ("a=remote-candidates:1 192.0.2.1\r\n", "remote-candidates"),
        ("a=rtcp:notaport\r\n", "rtcp"),
        ("a=ice-options:\r\n", "ice-options"),
        // Conflicting credentials at one level (issue 14): the second line is named.
        ("a=ice-ufrag:abcd\r\na=ice-ufrag:wxyz\r\n", "ice-ufrag"),
        (
            "a=ice-pwd:abcdefghijklmnopqrstuv\r\na=ice-pwd:ABCDEFGHIJKLMNOPQRSTUV\r\n",
            "ice-pwd",
        ),
    ];
    for (attr, name) in cases {
        let e = ice_err(attr);
        let line = 7 + attr.matches("\r\n").count() - 1;
        assert_eq!(attr_of(&e), (line, name), "{attr}");
        assert!(
            e.to_string()
                .starts_with(&format!("line {line}: invalid a=")),
            "{e}"
        );
    }
}

#[test]
fn bad_session_level_pacing_names_its_line() {
    let sd = parse(&format!("{HEAD}a=ice-pacing:fast\r\n")).unwrap();
    assert_eq!(attr_of(&read_ice(&sd).unwrap_err()), (6, "ice-pacing"));
}

#[test]
fn bad_rtpmap_and_ptime_name_their_line() {
    use sdp::audio::{read_formats, read_ptime};
    let sd = parse(&format!(
        "{HEAD}m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\na=ptime:abc\r\n"
    ))
    .unwrap();
    assert_eq!(
        attr_of(&read_formats(&sd.media[0]).unwrap_err()),
        (7, "rtpmap")
    );
    assert_eq!(
        attr_of(&read_ptime(&sd.media[0]).unwrap_err()),
        (8, "ptime")
    );
}

#[test]
fn binary_junk_never_panics() {
    for text in [
        "v=0\r\n\u{0}=\u{1}",
        "v=0\r\no=\r\n",
        "v=0\r\nm=\r\n",
        "v=0\r\n=\r\n",
        "v=0\r\né=x\r\n",
    ] {
        assert!(parse(text).is_err(), "{text:?}");
    }
}
