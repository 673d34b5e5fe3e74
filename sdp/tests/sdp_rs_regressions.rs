//! The inputs that sdp-rs 0.2.1 got wrong (see ASSUMPTIONS.md, "Why not sdp-rs"). Each now
//! parses with every line kept, or fails with a typed error naming the line.

use sdp::audio::{read_direction, Direction};
use sdp::{parse, Address, HasAttributes, SdpError};

const BASE: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

#[test]
fn hostname_in_origin_is_kept_as_a_name() {
    let sd =
        parse(&BASE.replace("IN IP4 192.0.2.1\r\ns=", "IN IP4 host.example.com\r\ns=")).unwrap();
    assert_eq!(sd.origin.address, Address::Name("host.example.com".into()));
    assert_eq!(sd.media.len(), 1);
}

#[test]
fn hostname_in_connection_is_kept_as_a_name() {
    let sd = parse(&BASE.replace("c=IN IP4 192.0.2.1", "c=IN IP4 media.example.com")).unwrap();
    assert_eq!(
        sd.connection.unwrap().address,
        Address::Name("media.example.com".into())
    );
    assert!(sd.media[0].has_attribute("sendrecv"));
}

#[test]
fn missing_final_crlf_keeps_the_last_line() {
    let sd = parse(BASE.trim_end_matches("\r\n")).unwrap();
    assert!(
        sd.media[0].has_attribute("sendrecv"),
        "sdp-rs dropped this line"
    );
}

#[test]
fn lf_only_endings_with_or_without_final_newline() {
    let lf = BASE.replace("\r\n", "\n");
    for text in [lf.as_str(), lf.trim_end()] {
        let sd = parse(text).unwrap();
        assert_eq!(sd.media[0].attributes.len(), 2);
        assert!(sd.media[0].has_attribute("sendrecv"));
        assert!(!sd.media[0].attributes[0]
            .value
            .as_deref()
            .unwrap()
            .ends_with('\r'));
    }
}

#[test]
fn session_lines_out_of_order_are_accepted() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n";
    let sd = parse(text).unwrap();
    assert_eq!(sd.session_name, "-");
    assert!(sd.connection.is_some());
    // Written back in the RFC's order.
    assert!(sd
        .to_string()
        .starts_with("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"));
}

#[test]
fn media_connection_after_attributes_is_kept_with_what_follows() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nc=IN IP4 192.0.2.9\r\na=sendrecv\r\n";
    let sd = parse(text).unwrap();
    let m = &sd.media[0];
    assert_eq!(
        m.connection.as_ref().unwrap().address,
        Address::Ip("192.0.2.9".parse().unwrap())
    );
    assert!(
        m.has_attribute("sendrecv"),
        "sdp-rs silently dropped c= and everything after it"
    );
}

#[test]
fn unknown_line_type_is_a_typed_error_with_its_line() {
    let err = parse(&BASE.replace("t=0 0\r\n", "t=0 0\r\ny=whatever\r\n")).unwrap_err();
    assert_eq!(
        err,
        SdpError::UnknownLineType {
            line: 6,
            letter: 'y'
        }
    );
    assert_eq!(err.line(), Some(6));
}

#[test]
fn inactive_is_a_direction() {
    let sd = parse(&BASE.replace("a=sendrecv", "a=inactive")).unwrap();
    assert_eq!(read_direction(&sd, &sd.media[0]), Direction::Inactive);
}
