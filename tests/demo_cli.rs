//! `icephone demo --json` as a user runs it: exit 0 and the NDJSON events on stdout.

use std::process::Command;

#[test]
fn demo_exits_0_and_prints_ndjson_events() {
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["demo", "--json", "--seconds", "1"])
        .output()
        .expect("icephone runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let has = |f: &dyn Fn(&serde_json::Value) -> bool| events.iter().any(f);
    assert!(has(
        &|e| e["event"] == "candidates" && e["agent"] == "caller"
    ));
    assert!(has(&|e| e["event"] == "ice"
        && e["state"] == "selected"
        && e["local"]["type"] == "host"
        && e["local"]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))));
    assert!(has(&|e| e["event"] == "updated_offer"
        && e["direction"] == "sent"
        && e["method"] == "UPDATE"));
    assert!(has(
        &|e| e["event"] == "updated_offer" && e["direction"] == "received"
    ));
    assert!(has(&|e| e["event"] == "call" && e["state"] == "ringing"));
    assert!(has(&|e| e["event"] == "call"
        && e["state"] == "established"
        && e["setup_ms"].is_u64()));
    assert!(has(&|e| e["event"] == "call" && e["state"] == "ended"));
    assert!(has(&|e| e["event"] == "media"
        && e["agent"] == "callee"
        && e["rtp_received"].as_u64().is_some_and(|n| n > 20)));
    // The human summary goes to stderr in --json mode.
    assert!(stderr.contains("selected pair (caller)"), "{stderr}");
    assert!(stderr.contains("result: ok"), "{stderr}");
}

#[test]
fn bad_config_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", "sip:bob@127.0.0.1", "--transport", "sctp"])
        .output()
        .expect("icephone runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("transport"));
}
