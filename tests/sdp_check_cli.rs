//! `icephone sdp check FILE|-`: summaries for valid SDP, exit 1 with the line for invalid.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn icephone() -> Command {
    Command::new(env!("CARGO_BIN_EXE_icephone"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sdp/tests/data")
        .join(name)
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = icephone()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn icephone");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn text_summary_of_the_rfc_example() {
    let out = icephone()
        .args(["sdp", "check"])
        .arg(fixture("rfc8839-4.2.6-example.sdp"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for expected in [
        "media 0: audio port 45664 RTP/AVP sendrecv",
        "codecs: 0 PCMU/8000",
        "default address: 192.0.2.3:45664",
        "ice-ufrag: 8hhY  ice-pwd: asd88fgpdd777uzjYhagZg",
        "candidates: 2 (host 1, srflx 1)",
        "ice-options: ice2",
        "ice-lite: no",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn json_summary_is_one_object_with_the_values() {
    let out = icephone()
        .args(["sdp", "check", "--json"])
        .arg(fixture("rfc8839-A-offer.sdp"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert_eq!(text.trim().lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ice_lite"], false);
    assert_eq!(v["ice2"], true);
    assert_eq!(v["ice_pacing_ms"], 50);
    let m = &v["media"][0];
    assert_eq!(m["media"], "audio");
    assert_eq!(m["port"], 45664);
    assert_eq!(m["proto"], "RTP/AVP");
    assert_eq!(m["direction"], "sendrecv");
    assert_eq!(m["codecs"][0]["encoding_name"], "PCMU");
    assert_eq!(
        m["default_address"],
        "[2001:db8:8101:3a55:4858:a2a9:22ff:99b9]:45664"
    );
    assert_eq!(m["ice"]["ufrag"], "8hhY");
    assert_eq!(m["ice"]["candidates_by_type"]["host"], 1);
    assert_eq!(m["ice"]["candidates_by_type"]["srflx"], 1);
    assert_eq!(m["ice"]["candidates"].as_array().unwrap().len(), 2);
    assert_eq!(m["ice"]["support"]["result"], "supported");
}

#[test]
fn stdin_with_lf_endings_and_warnings() {
    let sdp = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0 8\na=inactive\na=ice-ufrag:abcd\na=ice-pwd:abcdefghijklmnopqrstuv\na=candidate:1 1 UDP 1 peer.example.com 4000 typ host\n";
    let out = run_stdin(&["sdp", "check", "--json", "-"], sdp);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["media"][0]["direction"], "inactive");
    assert_eq!(v["media"][0]["codecs"][1]["encoding_name"], "PCMA");
    assert_eq!(v["warnings"][0]["line"], 10);
    assert_eq!(
        v["media"][0]["ice"]["candidates"].as_array().unwrap().len(),
        0
    );
}

#[test]
fn invalid_input_exits_1_with_the_line_on_stderr() {
    let out = run_stdin(
        &["sdp", "check", "-"],
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nx=1\r\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("unknown line type `x=`"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn invalid_ice_attribute_in_a_file_names_line_and_attribute() {
    let dir = std::env::temp_dir().join(format!("icephone-sdp-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.sdp");
    std::fs::write(
        &path,
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=ice-ufrag:ab\r\n",
    )
    .unwrap();
    let out = icephone()
        .args(["sdp", "check"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 6: invalid a=ice-ufrag"), "{err}");
}

#[test]
fn missing_file_exits_1() {
    let out = icephone()
        .args(["sdp", "check", "/nonexistent/icephone/none.sdp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.sdp"));
}
