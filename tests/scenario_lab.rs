//! `icephone run` with agents placed in the lab's namespaces (the scenario `netns` key,
//! issue 8): one process in the root namespace, alice behind port-restricted NAT A and bob
//! behind port-restricted NAT B, both registered at Kamailio with digest auth and using
//! coturn for STUN. Alice calls bob through Kamailio; ICE must select a reflexive pair and
//! media must flow both ways.
//!
//! Needs root and network namespaces: fails (never skips) without them.

mod lab;

use std::process::Command;
use std::time::Duration;

use lab::{Lab, LabConfig, NatKind, KAMAILIO, NAT_A_WAN, NAT_B_WAN, TURN};
use serde_json::Value;

/// Bound on the whole `icephone run` (the scenario's own timeout is lower).
const RUN_LIMIT: Duration = Duration::from_secs(40);

fn scenario(lab: &Lab) -> String {
    let (ns_a, ns_b) = (lab.ns("a1"), lab.ns("b1"));
    format!(
        r#"name = "calls across the lab's NATs"
timeout_ms = 25000

[agents.alice]
netns = "{ns_a}"
bind = "0.0.0.0:0"
aor = "sip:alice@icephone.test"
password = "alicepw"
proxy = "{KAMAILIO}:5060"
stun = "{TURN}:3478"
tone = 440
steps = [
  {{ register = 300 }},
  {{ wait_ms = 1000 }},
  {{ call = "sip:bob@icephone.test" }},
  {{ expect = "call.established", timeout_ms = 8000 }},
  {{ expect = "ice.selected", timeout_ms = 8000 }},
  {{ wait_ms = 2500 }},
  {{ hangup = true }},
  {{ expect = "call.ended", timeout_ms = 5000 }},
  {{ assert = "rtp_received", min = 50 }},
]

[agents.bob]
netns = "{ns_b}"
bind = "0.0.0.0:0"
aor = "sip:bob@icephone.test"
password = "bobpw"
proxy = "{KAMAILIO}:5060"
stun = "{TURN}:3478"
tone = 880
steps = [
  {{ register = 300 }},
  {{ expect = "call.incoming", timeout_ms = 10000 }},
  {{ answer = true }},
  {{ expect = "call.established", timeout_ms = 8000 }},
  {{ expect_hangup = true, timeout_ms = 15000 }},
  {{ assert = "rtp_received", min = 50 }},
]
"#
    )
}

/// The JSON events of `who` (one object per stdout line).
fn events_of<'a>(events: &'a [Value], who: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["agent"] == who).collect()
}

#[test]
fn agents_in_the_labs_namespaces_call_through_kamailio_over_a_reflexive_pair() {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        servers: true,
        ..LabConfig::default()
    });
    let file = lab.run_dir().join("netns-call.toml");
    std::fs::write(&file, scenario(&lab)).expect("scenario file");

    // The binary runs in the root namespace; it enters each agent's namespace itself.
    let out = Command::new("timeout")
        .args(["-k", "2", &RUN_LIMIT.as_secs().to_string()])
        .arg(env!("CARGO_BIN_EXE_icephone"))
        .args(["run", file.to_str().expect("utf-8 path"), "--json"])
        .output()
        .expect("icephone runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{err}\nstdout:\n{stdout}"
    );
    assert!(err.contains("PASS "), "{err}");
    assert!(!err.contains("FAILED"), "{err}");
    for phrase in [
        "register (expires 300)",
        "call sip:bob@icephone.test",
        "expect ice.selected",
        "assert rtp_received >= 50",
    ] {
        assert!(err.contains(phrase), "`{phrase}` missing:\n{err}");
    }

    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // Each side registered from its own namespace and saw the other's NAT: a reflexive
    // pair between the two NATs' public addresses was selected.
    for (who, ours, theirs) in [
        ("alice", NAT_A_WAN, NAT_B_WAN),
        ("bob", NAT_B_WAN, NAT_A_WAN),
    ] {
        let mine = events_of(&events, who);
        // Kamailio saw the REGISTER come from the agent's NAT: the SIP socket is in the
        // agent's namespace, not the root namespace the process runs in.
        let registered = mine
            .iter()
            .find(|e| e["event"] == "registered")
            .unwrap_or_else(|| panic!("{who}: not registered:\n{stdout}"));
        assert!(
            registered["public_address"]
                .as_str()
                .is_some_and(|a| a.starts_with(&format!("{ours}:"))),
            "{who}: {registered}"
        );
        let selected = mine
            .iter()
            .rev()
            .find(|e| e["event"] == "ice" && e["state"] == "selected")
            .unwrap_or_else(|| panic!("{who}: no ice selected event in:\n{stdout}"));
        let (lt, la) = (
            selected["local"]["type"].as_str().unwrap_or(""),
            selected["local"]["address"].as_str().unwrap_or(""),
        );
        let (rt, ra) = (
            selected["remote"]["type"].as_str().unwrap_or(""),
            selected["remote"]["address"].as_str().unwrap_or(""),
        );
        assert!(
            matches!(lt, "srflx" | "prflx") && matches!(rt, "srflx" | "prflx"),
            "{who}: a reflexive pair across two port-restricted NATs: {selected}"
        );
        assert!(
            la.starts_with(ours) && ra.starts_with(theirs),
            "{who}: {la} -> {ra}"
        );
        let received = mine
            .iter()
            .filter(|e| e["event"] == "media")
            .filter_map(|e| e["rtp_received"].as_u64())
            .max()
            .unwrap_or(0);
        let sent = mine
            .iter()
            .filter(|e| e["event"] == "media")
            .filter_map(|e| e["rtp_sent"].as_u64())
            .max()
            .unwrap_or(0);
        assert!(
            sent >= 50 && received >= 50,
            "{who}: RTP sent {sent}, received {received}"
        );
    }
    drop(lab);
}

/// Eight CSV users known to the lab's Kamailio (load1:load1pw … load8:load8pw).
fn users_csv() -> String {
    let mut csv = String::from("user,password\n");
    for i in 1..=8 {
        csv += &format!("load{i},load{i}pw\n");
    }
    csv
}

/// Load mode with `[data]`: each run's callee (agent index 0) behind NAT B and caller
/// (index 1) behind NAT A take their own CSV row (per_agent), register at Kamailio with
/// that user's digest credentials, and the caller calls the callee's user through Kamailio
/// with ICE (STUN from coturn).
fn load_scenario(lab: &Lab) -> String {
    let (ns_a, ns_b) = (lab.ns("a1"), lab.ns("b1"));
    format!(
        r#"name = "CSV users through Kamailio"
timeout_ms = 30000

[data]
csv = "users.csv"
order = "per_agent"

[agents.callee]
netns = "{ns_b}"
bind = "0.0.0.0:0"
aor = "sip:${{csv.user}}@icephone.test"
password = "${{csv.password}}"
proxy = "{KAMAILIO}:5060"
stun = "{TURN}:3478"
tone = 880
steps = [
  {{ register = 300 }},
  {{ expect = "call.incoming", timeout_ms = 15000 }},
  {{ answer = true }},
  {{ expect = "call.established", timeout_ms = 8000 }},
  {{ expect_hangup = true, timeout_ms = 15000 }},
  {{ assert = "rtp_received", min = 20 }},
]

[agents.caller]
netns = "{ns_a}"
bind = "0.0.0.0:0"
aor = "sip:${{csv.user}}@icephone.test"
password = "${{csv.password}}"
proxy = "{KAMAILIO}:5060"
stun = "{TURN}:3478"
tone = 440
steps = [
  {{ register = 300 }},
  {{ wait_ms = 1000 }},
  {{ call = "sip:${{callee.csv.user}}@icephone.test" }},
  {{ expect = "call.established", timeout_ms = 8000 }},
  {{ expect = "ice.selected", timeout_ms = 8000 }},
  {{ wait_ms = 1500 }},
  {{ hangup = true }},
  {{ expect = "call.ended", timeout_ms = 5000 }},
  {{ assert = "ice_used", value = true }},
  {{ assert = "rtp_received", min = 20 }},
]
"#
    )
}

#[test]
fn csv_users_register_at_kamailio_and_call_each_other_in_load_mode() {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        servers: true,
        ..LabConfig::default()
    });
    std::fs::write(lab.run_dir().join("users.csv"), users_csv()).expect("users.csv");
    let file = lab.run_dir().join("csv-load.toml");
    std::fs::write(&file, load_scenario(&lab)).expect("scenario file");
    let stats = lab.run_dir().join("stats.csv");

    // 4 runs, 2 at once: runs 0..3 take rows (0,1) (2,3) (4,5) (6,7), every user once.
    let out = Command::new("timeout")
        .args(["-k", "2", "90"])
        .arg(env!("CARGO_BIN_EXE_icephone"))
        .args(["run", file.to_str().expect("utf-8 path"), "--json"])
        .args(["--calls", "4", "--rate", "2", "--concurrency", "2"])
        .args(["--stats", stats.to_str().expect("utf-8 path")])
        .output()
        .expect("icephone runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{err}\nstdout:\n{stdout}"
    );
    assert!(err.contains("attempted 4, succeeded 4, failed 0"), "{err}");
    assert!(
        err.contains("ICE time ms: p50 ") && err.contains("(n=4)"),
        "{err}"
    );
    let load: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "load_stats")
        .unwrap_or_else(|| panic!("no load_stats in:\n{stdout}"));
    assert_eq!(load["attempted"], 4, "{load}");
    assert_eq!(load["succeeded"], 4, "{load}");
    assert!(load["setup_ms"]["p99"].as_u64().is_some(), "{load}");
    assert!(load["ice_ms"]["p50"].as_u64().is_some(), "{load}");
    let stats_text = std::fs::read_to_string(&stats).expect("stats written");
    let last = stats_text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("CSV users through Kamailio,") && last.contains(",4,4,0,0,"),
        "final row attempted 4, succeeded 4, failed 0, interrupted 0:\n{stats_text}"
    );

    // Every register step passed, so each of the eight users authenticated with its own
    // CSV password (Kamailio answers 403 to an unknown user). Kamailio routed each INVITE
    // to the callee user's contact registered from behind NAT B (callees take rows 0, 2, 4,
    // 6: load1, load3, load5, load7). The agents unregister as they end, so the location
    // table is empty by now; Kamailio's log keeps the routing.
    let log = std::fs::read_to_string(lab.run_dir().join("kamailio.log")).expect("kamailio.log");
    for i in [1, 3, 5, 7] {
        let routed = format!("of INVITE to sip:load{i}@{NAT_B_WAN}:");
        assert!(
            log.contains(&routed),
            "`{routed}` not in kamailio.log:\n{log}"
        );
    }
    for i in [2, 4, 6, 8] {
        assert!(
            !log.contains(&format!("of INVITE to sip:load{i}@")),
            "load{i} was a caller:\n{log}"
        );
    }
    drop(lab);
}
