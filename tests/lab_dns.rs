//! Issue 16: names in the lab. dnsmasq runs in Kamailio's namespace and serves the lab's
//! domain; the phones use it through /etc/netns/<ns>/resolv.conf (the system's resolver
//! configuration, as `ip netns exec` mounts it), without --proxy, --dns or IP addresses:
//! - alice registers by her AOR's domain (RFC 3263 NAPTR → SRV → A) and finds STUN by
//!   `_stun._udp` SRV (RFC 8489 §8);
//! - bob calls `sip:alice@icephone.test` by name; the domain's first SRV target is dead (a
//!   closed port: ICMP port unreachable), so both the REGISTER and the INVITE fail over to
//!   the next target (RFC 3263 §4.3); the call sets up with ICE media.
//!
//! Needs root and network namespaces: fails (never skips) without them.

mod lab;

#[path = "support/dnsmasq.rs"]
mod dnsmasq;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use lab::phone::{joined, Phone, EXIT_OK};
use lab::{Lab, LabConfig, KAMAILIO, TURN};
use serde_json::Value;

const PHONE_LIMIT: Duration = Duration::from_secs(60);
use dnsmasq::DNSMASQ;

/// /etc/netns/<ns>/resolv.conf files made for the test, removed when dropped (also when the
/// test fails).
struct Resolvconfs(Vec<PathBuf>);

impl Resolvconfs {
    fn point_at(lab: &Lab, roles: &[&str], nameserver: &str) -> Resolvconfs {
        let mut made = Vec::new();
        for role in roles {
            let dir = PathBuf::from("/etc/netns").join(lab.ns(role));
            fs::create_dir_all(&dir).expect("cannot create /etc/netns/<ns> (needs root)");
            fs::write(
                dir.join("resolv.conf"),
                format!("nameserver {nameserver}\n"),
            )
            .expect("cannot write the namespace's resolv.conf");
            made.push(dir);
        }
        Resolvconfs(made)
    }
}

impl Drop for Resolvconfs {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn registration_and_calls_by_name_fail_over_past_a_dead_srv_target() {
    assert!(
        std::path::Path::new(DNSMASQ).exists(),
        "{DNSMASQ} is missing: install dnsmasq-base (./test.sh does)"
    );
    let lab = Lab::up(&LabConfig {
        servers: true,
        ..LabConfig::default()
    });
    let records = [
        "--naptr-record=icephone.test,10,10,s,SIP+D2U,,_sip._udp.icephone.test".to_string(),
        // Priority 10: Kamailio's host on a port nobody listens on.
        "--srv-host=_sip._udp.icephone.test,dead.icephone.test,5099,10,0".into(),
        "--srv-host=_sip._udp.icephone.test,sip.icephone.test,5060,20,0".into(),
        "--srv-host=_stun._udp.icephone.test,stun.icephone.test,3478,10,0".into(),
        format!("--host-record=dead.icephone.test,{KAMAILIO}"),
        format!("--host-record=sip.icephone.test,{KAMAILIO}"),
        format!("--host-record=stun.icephone.test,{TURN}"),
    ];
    let mut args = vec![DNSMASQ.to_string()];
    args.extend(dnsmasq::args(KAMAILIO, 53, &records));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut dns = lab.spawn("kam", &argv, "dnsmasq", PHONE_LIMIT * 2);
    let _resolv = Resolvconfs::point_at(&lab, &["a1", "b1"], KAMAILIO);
    assert!(
        lab::wait_until(Duration::from_secs(5), || fs::read_to_string(
            lab.run_dir().join("dnsmasq.log")
        )
        .is_ok_and(|l| l.contains("started"))),
        "dnsmasq did not start"
    );

    let mut alice = Phone::start(
        &lab,
        "a1",
        "alice",
        &[
            "answer",
            "--register",
            "--calls",
            "1",
            "--aor",
            "sip:alice@icephone.test",
            "--password",
            "alicepw",
            "--stun",
            "icephone.test",
        ]
        .map(String::from),
        PHONE_LIMIT,
    );
    let registered = alice.wait_event(Duration::from_secs(20), |e| {
        e["event"] == "registered" && e["expires"].as_u64().unwrap_or(0) > 0
    });
    assert!(registered["public_address"].is_string(), "{registered}");

    let bob = Phone::start(
        &lab,
        "b1",
        "bob",
        &[
            "call",
            "sip:alice@icephone.test",
            "--aor",
            "sip:bob@icephone.test",
            "--password",
            "bobpw",
            "--stun",
            "icephone.test",
            "--duration",
            "3",
        ]
        .map(String::from),
        PHONE_LIMIT,
    );
    let (bob_code, bob_events) = bob.finish(PHONE_LIMIT);
    let bob_err = fs::read_to_string(lab.run_dir().join("bob.err")).unwrap_or_default();
    let (alice_code, alice_events) = alice.finish(PHONE_LIMIT);
    let alice_err = fs::read_to_string(lab.run_dir().join("alice.err")).unwrap_or_default();
    let _ = dns.kill();
    let _ = dns.wait();
    let context = format!(
        "bob:\n{}\n{bob_err}\nalice:\n{}\n{alice_err}",
        joined(&bob_events),
        joined(&alice_events)
    );
    assert_eq!(bob_code, EXIT_OK, "{context}");
    assert_eq!(alice_code, EXIT_OK, "{context}");

    // Both looked the names up, in RFC 2782 order: the dead target first.
    let resolved = |events: &[Value], role: &str| -> Value {
        events
            .iter()
            .find(|e| e["event"] == "resolved" && e["role"] == role)
            .cloned()
            .unwrap_or_else(|| panic!("no resolved event for {role}:\n{context}"))
    };
    let registrar = resolved(&alice_events, "registrar");
    assert_eq!(
        registrar["targets"],
        serde_json::json!([
            format!("udp {KAMAILIO}:5099"),
            format!("udp {KAMAILIO}:5060")
        ]),
        "{context}"
    );
    let target = resolved(&bob_events, "target");
    assert_eq!(registrar["targets"], target["targets"], "{context}");
    let stun = resolved(&alice_events, "stun");
    assert_eq!(stun["targets"][0], format!("udp {TURN}:3478"), "{context}");
    // RFC 3263 §4.3: each moved on past the dead target.
    let failover = format!("trying the next DNS target {KAMAILIO}:5060");
    assert!(alice_err.contains(&failover), "{context}");
    assert!(bob_err.contains(&failover), "{context}");
    // The call: established, with a server-reflexive candidate from the STUN server found by
    // SRV, and media both ways.
    for (who, events) in [("bob", &bob_events), ("alice", &alice_events)] {
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "call" && e["state"] == "established"),
            "{who}: {context}"
        );
        let srflx = events.iter().any(|e| {
            e["event"] == "candidates"
                && e["candidates"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "srflx"))
        });
        assert!(
            srflx,
            "{who} gathered srflx via the SRV-found STUN server: {context}"
        );
        let media = events
            .iter()
            .find(|e| e["event"] == "media")
            .unwrap_or_else(|| panic!("{who}: no media summary: {context}"));
        assert!(
            media["rtp_sent"].as_u64().unwrap_or(0) > 50
                && media["rtp_received"].as_u64().unwrap_or(0) > 50,
            "{who}: {media}"
        );
    }
}
