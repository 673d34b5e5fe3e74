//! Message control in `icephone run` (issue 20): `--trace-msg` logs, content expectations
//! and `expect_not` that fail with their line, and edits that do not parse (exit 2).
//! Loopback only.

mod scenario_support;

use scenario_support::*;

/// The first message of `log` (a `--trace-msg` file) whose first line starts with `start`.
fn message<'a>(log: &'a str, start: &str) -> &'a str {
    log.split("----------------------------------------------- ")
        .filter_map(|entry| entry.split_once(":\n\n").map(|(_, m)| m))
        .find(|m| m.starts_with(start))
        .unwrap_or_else(|| panic!("no `{start}` message in:\n{log}"))
}

#[test]
fn trace_msg_writes_one_log_per_agent_with_the_edited_messages() {
    let dir = temp_path("trace", "d");
    let out = icephone(&[
        "run",
        "scenarios/message-edits.toml",
        "--trace-msg",
        s(&dir),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let read = |agent: &str| {
        let path = dir.join(format!("message_edits-0-{agent}.log"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let (alice, bob) = (read("alice"), read("bob"));
    let _ = std::fs::remove_dir_all(&dir);
    // Time, direction, transport and remote address before each message, as sipp's.
    let header = alice.lines().nth(1).unwrap_or_default();
    assert!(
        header.starts_with("UDP message sent (") && header.contains(" bytes) to 127.0.0.1:"),
        "{alice}"
    );
    assert!(alice.starts_with("----------------------------------------------- 20"));
    assert!(alice.lines().next().unwrap_or_default().ends_with(" UTC"));
    assert!(alice.contains("UDP message received ("), "{alice}");
    let invite = message(&alice, "INVITE sip:bob@127.0.0.1:");
    assert!(invite.contains("\nX-Test: 0\n"), "{invite}");
    assert!(invite.contains("\nSupported: 100rel\n"), "{invite}");
    assert!(invite.contains("\nUser-Agent: custom\n"), "{invite}");
    assert!(!invite.contains("\nAllow:"), "{invite}");
    assert!(invite.contains("\na=x-test:1\n"), "{invite}");
    assert!(!invite.contains("a=ptime"), "{invite}");
    let ok = message(&alice, "SIP/2.0 200 OK");
    assert!(ok.contains("\nX-Answer: yes\n"), "{ok}");
    assert!(ok.contains("\nX-Agent: bob\n"), "{ok}");
    // `response_headers`: on every response bob sent (180, 200s to INVITE, re-INVITEs,
    // UPDATE and BYE).
    let responses: Vec<&str> = bob
        .split("----------------------------------------------- ")
        .filter(|e| e.contains(" message sent ("))
        .filter_map(|e| e.split_once(":\n\n").map(|(_, m)| m))
        .filter(|m| m.starts_with("SIP/2.0 "))
        .collect();
    assert!(responses.len() >= 5, "{bob}");
    for r in &responses {
        assert!(r.contains("\nX-Agent: bob\n"), "{r}");
    }
    assert!(responses
        .iter()
        .any(|r| r.contains("\nCSeq: ") && r.contains(" BYE\n")));
    // Bob's log has the same INVITE, received.
    assert!(bob.contains("UDP message received ("), "{bob}");
    assert!(message(&bob, "INVITE sip:bob@").contains("\nX-Test: 0\n"));
    assert!(message(&bob, "SIP/2.0 200 OK").contains("\nX-Answer: yes\n"));
}

const CALL: &str = r#"
[agents.alice]
steps = [
  { call = "${bob.uri}" },
  STEP
  { hangup = true },
]

[agents.bob]
steps = [
  { answer = true, delay_ms = 200 },
  { expect_hangup = true, timeout_ms = 5000 },
]
"#;

fn run_with(stem: &str, step: &str) -> (Option<i32>, String, String) {
    let file = write_temp(stem, &CALL.replace("STEP", step));
    let out = icephone(&["run", s(&file)]);
    let _ = std::fs::remove_file(&file);
    (out.status.code(), text(&out.stderr), s(&file).to_owned())
}

#[test]
fn expect_not_fails_when_the_message_arrives() {
    let (code, err, file) = run_with(
        "expect-not",
        r#"{ expect_not = "response", status = 180, timeout_ms = 2000 },"#,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("({file}:5) `expect_not response 180 within 2000 ms`: received `SIP/2.0 180 Ringing` from 127.0.0.1:")),
        "{err}"
    );
}

#[test]
fn a_content_expectation_that_is_not_met_fails_with_what_arrived() {
    let (code, err, file) = run_with(
        "content",
        r#"{ expect = "response", status = 200, header = "Supported", match = "100rel", timeout_ms = 1500 },"#,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("({file}:5)")), "{err}");
    assert!(
        err.contains(
            "not received within 1500 ms; received since the previous match: `SIP/2.0 100 Trying`"
        ) || err.contains(
            "not received within 1500 ms; received since the previous match: `SIP/2.0 180 Ringing`"
        ),
        "{err}"
    );
    assert!(
        err.contains("`SIP/2.0 200 OK`"),
        "the 200 arrived without the header:\n{err}"
    );
    // The same expectation on a header the 200 has passes.
    let (code, err, _) = run_with(
        "content-ok",
        r#"{ expect = "response", status = 200, header = "Supported", match = "outbound", timeout_ms = 3000 },"#,
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn edits_that_do_not_parse_are_usage_errors_with_their_line() {
    let (code, err, file) = run_with(
        "bad-header",
        r#"{ wait_ms = 1, headers = { add = ["X: 1"] } },"#,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`headers` does not go with `wait_ms`"),
        "{err}"
    );
    assert!(err.contains(&format!("{file}:5:")), "{err}");
    let (code, err, file) = run_with(
        "no-colon",
        r#"{ update = true, headers = { replace = ["no colon"] } },"#,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{file}:5: agent `alice`, step 2: bad header line `no colon`: no colon"
        )),
        "{err}"
    );
    let file = write_temp(
        "bad-response-headers",
        "[agents.a]\nsteps = []\nresponse_headers = { add = [\"X-Ok: 1\", \"no colon\"] }\n",
    );
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:3: agent `a`: response_headers: bad header line `no colon`",
            s(&file)
        )),
        "{err}"
    );
}

#[test]
fn a_trace_directory_that_cannot_be_made_is_a_usage_error() {
    let file = write_temp("not-a-dir", "x");
    let under = file.join("sub");
    let out = icephone(&["run", "scenarios/busy.toml", "--trace-msg", s(&under)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--trace-msg"), "{err}");
}

#[test]
fn sdp_edits_drop_candidates_by_type_on_the_wire() {
    // Alice's offer loses its host candidates and gains a relay one; bob sees exactly that
    // and turns the call down, so ICE never has to cope with it.
    let file = write_temp(
        "candidates",
        r#"
name = "candidates"
[agents.alice]
steps = [
  { call = "${bob.uri}", sdp = { remove_candidates = ["host"], add = ["a=candidate:9 1 UDP 16777215 192.0.2.9 3478 typ relay raddr 0.0.0.0 rport 9"] } },
  { expect = "response", status = 486, timeout_ms = 3000 },
]
[agents.bob]
steps = [
  { expect = "request", method = "INVITE", body = ["^a=candidate:9 1 UDP 16777215 192\\.0\\.2\\.9 3478 typ relay", "^a=ice-ufrag:"], timeout_ms = 3000 },
  { answer = 486 },
]
"#,
    );
    let dir = temp_path("candidates-trace", "d");
    let out = icephone(&["run", s(&file), "--trace-msg", s(&dir)]);
    let err = text(&out.stderr);
    let log = std::fs::read_to_string(dir.join("candidates-0-bob.log")).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let invite = message(&log, "INVITE sip:bob@");
    assert!(invite.contains("typ relay"), "{invite}");
    assert!(!invite.contains("typ host"), "{invite}");
    assert!(
        invite.contains("\na=rtpmap:0 PCMU/8000\n"),
        "the rest is kept:\n{invite}"
    );
}

/// A REFER (RFC 3515) in an established call, hand-written by alice from the 200's dialog
/// identifiers: bob's user agent cannot transfer calls yet, so it declines at once with 603
/// instead of leaving the REFER unanswered (the transferor would wait 32 s for a 408).
#[test]
fn an_incoming_refer_is_declined_at_once() {
    let scenario = r#"
[agents.alice]
steps = [
  { call = "${bob.uri}" },
  { expect = "response", status = 200, header = "CSeq", match = "INVITE$", timeout_ms = 3000 },
  { send = """
REFER sip:bob@${bob.address} SIP/2.0
Via: SIP/2.0/UDP ${local_ip}:${local_port};branch=${branch};rport
Max-Forwards: 70
From: ${last.From}
To: ${last.To}
Call-ID: ${last.Call-ID}
CSeq: 99 REFER
Contact: <sip:alice@${local_ip}:${local_port}>
Refer-To: <sip:carol@127.0.0.1>
Content-Length: 0

""", to = "${bob.address}" },
  { expect = "response", status = 603, header = "CSeq", match = "^99 REFER$", timeout_ms = 2000 },
  { expect_hangup = true, timeout_ms = 5000 },
]

# Bob hangs up: alice's own BYE would carry CSeq 2, below the hand-written REFER's 99, and
# be refused as out of order (RFC 3261 §12.2.2).
[agents.bob]
steps = [
  { answer = true },
  { expect = "request", method = "REFER", header = "Refer-To", match = "carol", timeout_ms = 3000 },
  { wait_ms = 200 },
  { hangup = true },
]
"#;
    let file = write_temp("refer", scenario);
    let out = icephone(&["run", s(&file)]);
    let _ = std::fs::remove_file(&file);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("expect response 603"), "{err}");
}
