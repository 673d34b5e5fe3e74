//! Issue 14 item 6: one bad `a=candidate` no longer fails the whole SDP, port-0 host
//! candidates are ignored, conflicting credentials are an error, and big SDPs are read
//! correctly (the speed is measured by `cargo run --release -p sdp --example check_scaling`).

use sdp::ice_attrs::read_ice;
use sdp::{parse, SdpError};

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";
const CREDS: &str = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n";
const GOOD: &str = "a=candidate:1 1 UDP 2130706431 192.0.2.1 4000 typ host\r\n";

/// The SDP with `bad` as line 10, between two good candidates (lines 9 and 11).
fn with_bad_candidate(bad: &str) -> String {
    format!(
        "{HEAD}{CREDS}m=audio 4000 RTP/AVP 0\r\n{GOOD}{bad}a=candidate:2 1 UDP 1694498815 198.51.100.7 4000 typ srflx raddr 192.0.2.1 rport 4000\r\n"
    )
}

#[test]
fn a_malformed_candidate_is_ignored_with_a_warning_naming_its_line() {
    let bad_lines = [
        // Truncated at every field.
        "a=candidate:1 1 UDP 2130706431 192.0.2.1 8998\r\n",
        "a=candidate:1 1 UDP 2130706431 192.0.2.1\r\n",
        "a=candidate:1 1 UDP\r\n",
        "a=candidate:1\r\n",
        "a=candidate:\r\n",
        "a=candidate\r\n",
        // Malformed.
        "a=candidate:1 1 UDP 2130706431 192.0.2.1 8998 host\r\n",
        "a=candidate:1 x UDP 2130706431 192.0.2.1 8998 typ host\r\n",
        "a=candidate:1 1 UDP 99999999999 192.0.2.1 8998 typ host\r\n",
        "a=candidate:1 1 UDP 1 192.0.2.1 8998 typ srflx raddr 192.0.2.2\r\n",
        "a=candidate:1 1 UDP 1 192.0.2.1 8998 typ host dangling\r\n",
        "a=candidate:f@o 1 UDP 1 192.0.2.1 8998 typ host\r\n",
        "a=candidate:1 1 UDP 1 192.0.2.1 99999 typ host\r\n",
    ];
    for bad in bad_lines {
        let sd = parse(&with_bad_candidate(bad)).unwrap();
        let view = read_ice(&sd).unwrap_or_else(|e| panic!("{bad:?} failed the SDP: {e}"));
        let stream = &view.streams[0];
        assert_eq!(stream.candidates.len(), 2, "{bad:?}: the good ones stay");
        assert!(stream.credentials.is_some());
        let warning = view
            .warnings
            .iter()
            .find(|w| w.line == 10)
            .unwrap_or_else(|| panic!("{bad:?}: no warning on line 10: {:?}", view.warnings));
        assert!(warning.message.contains("candidate"), "{warning:?}");
        // The summary `icephone sdp check` prints works too.
        let summary = sdp::summary::summarize(&sd).unwrap();
        assert_eq!(summary.media[0].ice.as_ref().unwrap().candidates.len(), 2);
    }
}

#[test]
fn a_host_candidate_with_port_0_is_ignored_with_a_warning() {
    let sd = parse(&with_bad_candidate(
        "a=candidate:3 1 UDP 2130706430 192.0.2.9 0 typ host\r\n",
    ))
    .unwrap();
    let view = read_ice(&sd).unwrap();
    let ports: Vec<u16> = view.streams[0]
        .candidates
        .iter()
        .map(|c| c.address.port())
        .collect();
    assert_eq!(ports, vec![4000, 4000]);
    let w = view
        .warnings
        .iter()
        .find(|w| w.line == 10)
        .expect("warning");
    assert!(w.message.contains("port 0"), "{w:?}");
}

#[test]
fn conflicting_ufrag_or_pwd_at_one_level_is_an_error_naming_the_line() {
    // Session level: lines 6 and 7.
    let text = format!(
        "{HEAD}a=ice-ufrag:abcd\r\na=ice-ufrag:efgh\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\nm=audio 4000 RTP/AVP 0\r\n"
    );
    let e = read_ice(&parse(&text).unwrap()).unwrap_err();
    match &e {
        SdpError::InvalidAttribute {
            line, attribute, ..
        } => {
            assert_eq!((*line, attribute.as_str()), (7, "ice-ufrag"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("line 6"),
        "names the first line: {e}"
    );
    // Media level pwd.
    let text = format!(
        "{HEAD}m=audio 4000 RTP/AVP 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\na=ice-pwd:abcdefghijklmnopqrstuw\r\n"
    );
    let e = read_ice(&parse(&text).unwrap()).unwrap_err();
    assert!(
        matches!(&e, SdpError::InvalidAttribute { line: 9, attribute, .. } if attribute == "ice-pwd"),
        "{e:?}"
    );
    // The same value twice is harmless; session and media level may differ (media wins).
    let text = format!(
        "{HEAD}a=ice-ufrag:sess\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\nm=audio 4000 RTP/AVP 0\r\n{CREDS}a=ice-ufrag:abcd\r\n"
    );
    let view = read_ice(&parse(&text).unwrap()).unwrap();
    assert_eq!(view.streams[0].credentials.as_ref().unwrap().ufrag, "abcd");
}

/// A big SDP (16k m= lines) is read completely and correctly; one bad candidate in the
/// middle is one warning, not a failure.
#[test]
fn a_big_sdp_is_read_completely() {
    use std::fmt::Write;
    let n = 16_384;
    let mut text = format!("{HEAD}{CREDS}");
    for i in 0..n {
        let port = 10_000 + i as u16 % 50_000;
        let _ = write!(
            text,
            "m=audio {port} RTP/AVP 0\r\na=candidate:1 1 UDP 2130706431 192.0.2.1 {port} typ host\r\n"
        );
        if i == n / 2 {
            text.push_str("a=candidate:1 1 UDP\r\n");
        }
    }
    let sd = parse(&text).unwrap();
    assert_eq!(sd.media.len(), n);
    let view = read_ice(&sd).unwrap();
    assert_eq!(view.streams.len(), n);
    for (i, s) in view.streams.iter().enumerate() {
        assert_eq!(s.candidates.len(), 1, "stream {i}");
        assert_eq!(s.candidates[0].address.port(), 10_000 + i as u16 % 50_000);
        assert_eq!(s.credentials.as_ref().unwrap().ufrag, "abcd");
    }
    // Lines: 7 head+creds, then 2 per stream (m= at 8 + 2i, candidate at 9 + 2i); the bad
    // one follows stream n/2's candidate.
    let bad_line = 9 + 2 * (n / 2) + 1;
    assert_eq!(
        view.warnings.iter().map(|w| w.line).collect::<Vec<_>>(),
        vec![bad_line]
    );
    let summary = sdp::summary::summarize(&sd).unwrap();
    assert_eq!(summary.media.len(), n);
}
