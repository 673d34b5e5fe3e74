//! Every example in `scenarios/` run through the binary as a user runs it, and scenarios
//! whose expectations fail: non-zero exit naming the step and its line. Loopback only.

mod scenario_support;

use scenario_support::*;

/// The examples and a phrase each one's output must contain besides PASS.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "basic-call.toml",
        "assert selected_pair local=host remote=host",
    ),
    ("registrar-call.toml", "register (expires 300)"),
    ("cancel-while-ringing.toml", "expect response 487"),
    ("busy.toml", "answer 486"),
    ("hold-resume.toml", "line 20  update"),
    ("dtmf.toml", "assert dtmf_received = 123#"),
    ("updated-offer.toml", "assert updated_offer method=UPDATE"),
    ("non-ice-peer.toml", "assert ice_used=false"),
    ("load-small.toml", "assert setup_ms <= 3000"),
    ("ice-restart.toml", "assert ice_restarts >= 1"),
    ("csv-users.toml", "call sip:erin@127.0.0.1:"),
    ("load-long-call.toml", "assert rtp_received >= 50"),
    (
        "message-edits.toml",
        "expect request BYE header Reason =~ /text=\"done\"/",
    ),
    (
        "raw-send.toml",
        "expect response 400 header Call-ID =~ /^bad-/",
    ),
    ("srtp-dtls.toml", "assert keying = dtls"),
    ("codecs.toml", "assert codec = G722"),
    (
        "srtp-sdes.toml",
        "assert keying = sdes suite = AES_CM_128_HMAC_SHA1_80",
    ),
];

#[test]
fn every_example_in_scenarios_is_listed_here() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXAMPLES.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn every_example_passes() {
    for (file, phrase) in EXAMPLES {
        let path = format!("scenarios/{file}");
        let out = icephone(&["run", &path]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{file}:\n{err}");
        assert!(err.contains("PASS "), "{file}:\n{err}");
        assert!(!err.contains("FAILED"), "{file}:\n{err}");
        assert!(err.contains(phrase), "{file}: `{phrase}` missing:\n{err}");
        // Each step is printed with its line and its timing.
        assert!(
            err.lines()
                .any(|l| l.contains(" line ") && l.trim_end().ends_with(" ms)")),
            "{file}:\n{err}"
        );
    }
}

#[test]
fn the_small_load_run_completes_with_stats() {
    let out = icephone(&[
        "run",
        "scenarios/load-small.toml",
        "--calls",
        "20",
        "--rate",
        "20",
        "--concurrency",
        "5",
        "--json",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("attempted 20, succeeded 20, failed 0"),
        "{err}"
    );
    assert!(err.contains("setup time ms: p50 "), "{err}");
    assert!(err.contains("ICE time ms: p50 "), "{err}");
    assert!(err.contains("peak memory (VmHWM): "), "{err}");
    // Not a terminal: plain progress lines.
    assert!(err.contains("progress: "), "{err}");
    let stdout = text(&out.stdout);
    let stats: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "load_stats")
        .unwrap_or_else(|| panic!("no load_stats line in:\n{stdout}"));
    assert_eq!(stats["attempted"], 20);
    assert_eq!(stats["succeeded"], 20);
    assert!(stats["setup_ms"]["p99"].as_u64().is_some());
    assert!(stats["ice_ms"]["p50"].as_u64().is_some());
    assert!(stats["cpu_user_s"].as_f64().is_some_and(|c| c > 0.0));
}

#[test]
fn json_events_and_a_well_formed_junit_report() {
    let junit = temp_path("junit", "xml");
    let out = icephone(&[
        "run",
        "scenarios/busy.toml",
        "scenarios/dtmf.toml",
        "--json",
        "--junit",
        s(&junit),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(lines.iter().any(|v| v["event"] == "step"
        && v["agent"] == "bob"
        && v["line"] == 13
        && v["result"] == "ok"));
    assert!(lines
        .iter()
        .any(|v| v["event"] == "dtmf" && v["direction"] == "received"));
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let _ = std::fs::remove_file(&junit);
    let names = check_xml(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    assert_eq!(names.first().map(String::as_str), Some("testsuites"));
    assert_eq!(names.iter().filter(|n| *n == "testsuite").count(), 2);
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 4);
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

const FAILING: &str = r#"# alice expects an answer; bob is busy
[agents.alice]
steps = [
  { call = "${bob.uri}" },

  { expect = "call.established", timeout_ms = 2000 },
]

[agents.bob]
steps = [{ answer = 486 }]
"#;

#[test]
fn a_failed_expectation_exits_non_zero_naming_step_and_line() {
    let file = write_temp("failing", FAILING);
    let junit = temp_path("failing-junit", "xml");
    let out = icephone(&["run", s(&file), "--junit", s(&junit)]);
    let err = text(&out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&junit);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let expected = format!(
        "agent `alice` step 2 ({}:6) `expect call.established within 2000 ms`",
        file.display()
    );
    assert!(err.contains(&expected), "`{expected}` not in:\n{err}");
    // It fails as soon as the call ends, with what was seen instead.
    assert!(err.contains("call.failed[486]"), "{err}");
    check_xml(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(
        xml.contains("<failure message=\"agent `alice` step 2"),
        "{xml}"
    );
}

#[test]
fn a_failed_assertion_names_its_line() {
    let file = write_temp(
        "assert",
        r#"[agents.alice]
steps = [
  { call = "${bob.uri}" },
  { expect = "call.established", timeout_ms = 3000 },
  { wait_ms = 200 },
  { hangup = true },
  { assert = "rtp_received", min = 100000 },
]
[agents.bob]
steps = [{ answer = true }, { expect_hangup = true, timeout_ms = 5000 }]
"#,
    );
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "agent `alice` step 5 ({}:7) `assert rtp_received >= 100000`",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("RTP packets received"), "{err}");
}

#[test]
fn an_agent_in_a_missing_network_namespace_fails_naming_it() {
    let file = write_temp(
        "netns",
        r#"[agents.alice]
netns = "icephone-no-such-namespace"
steps = [{ wait_ms = 10 }]
"#,
    );
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot enter network namespace `icephone-no-such-namespace`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_scenario_is_a_usage_error_with_its_line() {
    let file = write_temp(
        "bad",
        "[agents.a]\nsteps = [\n  { wait_ms = 10 },\n  { expect = \"call.sideways\" },\n]\n",
    );
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:4: agent `a`, step 2", file.display())),
        "{err}"
    );
}

#[test]
fn the_scenario_timeout_bounds_a_run() {
    let file = write_temp(
        "timeout",
        "timeout_ms = 300\n[agents.a]\nsteps = [{ wait_ms = 5000 }]\n",
    );
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("scenario timeout (300 ms) reached; still running: a"),
        "{err}"
    );
}

#[test]
fn repeats_substitute_per_call_variables() {
    let file = write_temp(
        "repeat",
        r#"repeat = 2
[variables]
user = ["first", "second"]
[agents.alice]
steps = [
  { call = "sip:${user}@${bob.address}" },
  { expect = "call.established", timeout_ms = 3000 },
  { hangup = true },
]
[agents.bob]
aor = "sip:${user}-${call}@127.0.0.1"
steps = [{ answer = true }, { expect_hangup = true, timeout_ms = 5000 }]
"#,
    );
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("run 1/2") && err.contains("run 2/2"), "{err}");
    assert!(err.contains("call sip:first@127.0.0.1:"), "{err}");
    assert!(err.contains("call sip:second@127.0.0.1:"), "{err}");
    assert_eq!(err.matches("PASS ").count(), 2, "{err}");
}

#[test]
fn play_sends_a_wav_file_and_a_missing_file_fails_its_step() {
    let wav = temp_path("play", "wav");
    let samples: Vec<i16> = (0..8000).map(|i| ((i % 40) as i16 - 20) * 500).collect();
    icephone::media::wav::write(&wav, &samples, 8000).expect("wav written");
    let scenario = |file: &str| {
        format!(
            r#"[agents.alice]
steps = [
  {{ call = "${{bob.uri}}" }},
  {{ expect = "ice.selected", timeout_ms = 3000 }},
  {{ play = "{file}" }},
  {{ wait_ms = 400 }},
  {{ hangup = true }},
]
[agents.bob]
steps = [{{ answer = true }}, {{ expect_hangup = true, timeout_ms = 5000 }}, {{ assert = "rtp_received", min = 10 }}]
"#
        )
    };
    let good = write_temp("play-good", &scenario(s(&wav)));
    let out = icephone(&["run", s(&good)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&good);
    let _ = std::fs::remove_file(&wav);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("play {}", wav.display())), "{err}");

    let missing = temp_path("missing", "wav");
    let bad = write_temp("play-bad", &scenario(s(&missing)));
    let out = icephone(&["run", s(&bad)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("agent `alice` step 3 ({}:5)", bad.display())),
        "{err}"
    );
    assert!(err.contains("cannot play"), "{err}");
}

#[test]
fn the_registrar_example_routes_the_call_through_the_registrar() {
    let out = icephone(&["run", "scenarios/registrar-call.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let registered = events
        .iter()
        .find(|v| v["event"] == "registered")
        .expect("a registered event");
    assert_eq!(registered["aor"], "sip:bob@127.0.0.1");
    assert_eq!(registered["expires"], 300);
    let bob_sip = registered["public_address"]
        .as_str()
        .expect("bob's address");
    let call_step = events
        .iter()
        .find(|v| v["event"] == "step" && v["agent"] == "alice" && v["line"] == 14)
        .expect("alice's call step");
    let target = call_step["step"].as_str().unwrap_or_default();
    // Alice calls the registrar's address, not Bob's: only the proxy can have taken it there.
    assert!(target.starts_with("call sip:bob@127.0.0.1:"), "{target}");
    assert!(!target.ends_with(bob_sip), "{target} vs {bob_sip}");
    assert!(events
        .iter()
        .any(|v| v["event"] == "call" && v["agent"] == "bob" && v["state"] == "established"));
}

#[test]
fn a_failing_load_run_counts_failures_by_reason_and_exits_non_zero() {
    let file = write_temp("load-fail", FAILING);
    let junit = temp_path("load-junit", "xml");
    let out = icephone(&[
        "run",
        s(&file),
        "--calls",
        "3",
        "--rate",
        "50",
        "--concurrency",
        "3",
        "--junit",
        s(&junit),
    ]);
    let err = text(&out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&junit);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("attempted 3, succeeded 0, failed 3"), "{err}");
    assert!(
        err.contains(
            "failed 3x: agent `alice` step 2 (line 6) `expect call.established within 2000 ms`"
        ),
        "{err}"
    );
    check_xml(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    assert!(
        xml.contains("<failure message=\"3 call(s) failed\" type=\"load\"/>"),
        "{xml}"
    );
}

#[test]
fn agents_can_call_over_tcp() {
    let file = write_temp(
        "tcp",
        r#"[agents.alice]
transport = "tcp"
steps = [
  { call = "${bob.uri}" },
  { expect = "call.established", timeout_ms = 3000 },
  { expect = "ice.selected", timeout_ms = 3000 },
  { hangup = true },
  { assert = "selected_pair", local = "host", remote = "host" },
]
[agents.bob]
transport = "tcp"
steps = [{ answer = true }, { expect_hangup = true, timeout_ms = 5000 }]
"#,
    );
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("PASS "), "{err}");
}
