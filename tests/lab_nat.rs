//! The lab's NATs behave as their kind says (RFC 4787 mapping and filtering), checked with a
//! socket probe from LAN hosts before any test relies on them; loss and delay on an uplink are
//! real; a lab left behind by a killed run is cleaned up by the next one.
//!
//! Needs root and network namespaces: fails (never skips) without them.

mod lab;

use std::process::Command;
use std::thread;
use std::time::Duration;

use lab::{Lab, LabConfig, NatKind, NAT_A_WAN, NAT_B_WAN};

/// What `natprobe.py client` found from one LAN host.
#[derive(Debug)]
struct ProbeResult {
    mapping: String,
    filtering: String,
    /// (server ip, server port, mapped ip, mapped port) per destination.
    mapped: Vec<(String, u64, String, u64)>,
}

fn probe(lab: &Lab, host: &str) -> ProbeResult {
    let script = lab::lab_dir().join("natprobe.py").display().to_string();
    let out = lab.run_ok(
        host,
        &["/usr/bin/python3", &script, "client"],
        Duration::from_secs(15),
    );
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("probe from {host} printed no JSON ({e}): {out}"));
    let text = |k: &str| v[k].as_str().unwrap_or("none").to_owned();
    let mapped = v["mapped"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap_or_default().to_owned(),
                        r[1].as_u64().unwrap_or_default(),
                        r[2].as_str().unwrap_or_default().to_owned(),
                        r[3].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ProbeResult {
        mapping: text("mapping"),
        filtering: text("filtering"),
        mapped,
    }
}

/// RFC 4787 §4.1 (mapping) and §5 (filtering) behaviour each kind must show.
fn expected(kind: NatKind) -> (&'static str, &'static str) {
    match kind {
        NatKind::PortRestricted => ("EIM", "APDF"),
        NatKind::Symmetric => ("APDM", "APDF"),
        NatKind::AddressRestricted => ("EIM", "ADF"),
        NatKind::FullCone => ("EIM", "EIF"),
    }
}

fn assert_behaviour(result: &ProbeResult, host: &str, wan: &str, want: (&str, &str)) {
    assert_eq!(
        (result.mapping.as_str(), result.filtering.as_str()),
        want,
        "NAT behaviour seen from {host}: {result:?}"
    );
    assert_eq!(
        result.mapped.len(),
        4,
        "four destinations probed: {result:?}"
    );
    for (_, _, ip, port) in &result.mapped {
        assert_eq!(
            ip, wan,
            "mapped address is the NAT's wan address: {result:?}"
        );
        assert!(*port > 0, "mapped port present: {result:?}");
    }
}

/// Builds a lab with both NATs of `kind` and probes the exposed host (.10) of each LAN in
/// parallel, then the second host (.11) of LAN A.
fn check_kind(kind: NatKind) {
    let lab = Lab::up(&LabConfig {
        nat_a: kind,
        nat_b: kind,
        ..LabConfig::default()
    });
    let (a1, b1) = thread::scope(|s| {
        let a = s.spawn(|| probe(&lab, "a1"));
        let b = s.spawn(|| probe(&lab, "b1"));
        (
            a.join().expect("probe a1 panicked"),
            b.join().expect("probe b1 panicked"),
        )
    });
    assert_behaviour(&a1, "a1", NAT_A_WAN, expected(kind));
    assert_behaviour(&b1, "b1", NAT_B_WAN, expected(kind));

    // Full cone and address-restricted forward unsolicited packets to the LAN's .10 host
    // only; any other LAN host sees port-restricted filtering.
    let a2 = probe(&lab, "a2");
    let a2_want = match kind {
        NatKind::FullCone | NatKind::AddressRestricted => ("EIM", "APDF"),
        other => expected(other),
    };
    assert_behaviour(&a2, "a2", NAT_A_WAN, a2_want);
}

#[test]
fn port_restricted_cone_nat_has_eim_and_apdf() {
    check_kind(NatKind::PortRestricted);
}

#[test]
fn symmetric_nat_has_apdm_and_apdf() {
    check_kind(NatKind::Symmetric);
}

#[test]
fn address_restricted_cone_nat_has_eim_and_adf() {
    check_kind(NatKind::AddressRestricted);
}

#[test]
fn full_cone_nat_has_eim_and_eif() {
    check_kind(NatKind::FullCone);
}

#[test]
fn nat_kind_changes_on_a_running_lab() {
    let lab = Lab::up(&LabConfig::default());
    for kind in [NatKind::Symmetric, NatKind::FullCone] {
        lab.set_nat('a', kind);
        assert_behaviour(&probe(&lab, "a1"), "a1", NAT_A_WAN, expected(kind));
    }
}

/// Percentage of lost pings, from ping's summary line.
fn ping_loss_percent(lab: &Lab, host: &str, target: &str, count: u32) -> f64 {
    let out = lab.run(
        host,
        &[
            "ping",
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.005",
            "-W",
            "1",
            target,
        ],
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = text
        .split(',')
        .find(|f| f.contains("packet loss"))
        .unwrap_or_else(|| panic!("no loss figure in ping output: {text}"));
    let number = field.trim().split('%').next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|e| panic!("cannot read loss from {field:?}: {e}"))
}

#[test]
fn loss_on_nat_a_uplink_drops_packets_and_nat_b_stays_clean() {
    let lab = Lab::up(&LabConfig {
        loss_a: 0.3,
        ..LabConfig::default()
    });
    let (lossy, clean) = thread::scope(|s| {
        let a = s.spawn(|| ping_loss_percent(&lab, "a1", lab::PROBE, 300));
        let b = s.spawn(|| ping_loss_percent(&lab, "b1", lab::PROBE, 300));
        (
            a.join().expect("ping a1 panicked"),
            b.join().expect("ping b1 panicked"),
        )
    });
    // 30 % each way loses 1 - 0.7² = 51 % of round trips; 300 pings put the observed
    // figure within 30–72 % with overwhelming probability.
    assert!(
        (30.0..=72.0).contains(&lossy),
        "30 % loss each way on NAT A's uplink, ping loss seen {lossy} %"
    );
    assert_eq!(clean, 0.0, "no loss configured on NAT B's uplink");
}

/// Average round-trip time in ms, from ping's `rtt min/avg/max/mdev = a/b/c/d ms` line.
fn ping_avg_rtt_ms(lab: &Lab, host: &str, target: &str) -> f64 {
    let out = lab.run(
        host,
        &[
            "ping", "-n", "-q", "-c", "20", "-i", "0.02", "-W", "1", target,
        ],
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let figures = text
        .lines()
        .find_map(|l| l.split(" = ").nth(1).filter(|_| l.starts_with("rtt")))
        .unwrap_or_else(|| panic!("no rtt line in ping output: {text}"));
    let avg = figures.split('/').nth(1).unwrap_or_default();
    avg.parse()
        .unwrap_or_else(|e| panic!("cannot read average rtt from {figures:?}: {e}"))
}

#[test]
fn delay_on_nat_a_uplink_adds_round_trip_time_and_nat_b_stays_fast() {
    let lab = Lab::up(&LabConfig {
        delay_a_ms: 50,
        ..LabConfig::default()
    });
    let slow = ping_avg_rtt_ms(&lab, "a1", lab::PROBE);
    let fast = ping_avg_rtt_ms(&lab, "b1", lab::PROBE);
    // 50 ms each way on NAT A's wan link: a round trip waits twice.
    assert!(
        (95.0..=160.0).contains(&slow),
        "50 ms each way on NAT A's uplink, average rtt seen {slow} ms"
    );
    assert!(
        fast < 20.0,
        "no delay on NAT B's uplink, average rtt seen {fast} ms"
    );
}

fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn next_lab_removes_a_lab_whose_owner_was_killed() {
    // A stand-in owner we start and kill ourselves, by PID.
    let mut owner = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("start sleep");
    let stale_id = format!("icl{}", owner.id());
    let up = Command::new("bash")
        .arg(lab::lab_dir().join("lab.sh"))
        .args(["up", "--id", &stale_id])
        .output()
        .expect("run lab.sh up");
    let prefix = format!("{stale_id}-");
    let built = namespaces_with_prefix(&prefix);
    assert!(
        up.status.success() && built.len() == 10,
        "the would-be stale lab came up with 10 namespaces: {built:?} {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let probe_pid =
        std::fs::read_to_string(lab::run_base().join(&stale_id).join("natprobe-server.pid"))
            .unwrap_or_default()
            .trim()
            .to_owned();
    assert!(!probe_pid.is_empty(), "the stale lab ran a probe server");

    owner.kill().expect("kill our own sleep");
    owner.wait().expect("reap our own sleep");

    // The next lab cleans up the dead owner's lab before building its own.
    let lab = Lab::up(&LabConfig::default());
    assert!(
        namespaces_with_prefix(&prefix).is_empty(),
        "stale namespaces left: {:?}",
        namespaces_with_prefix(&prefix)
    );
    // Ended: gone, or a zombie its adoptive parent has not reaped yet.
    let status = std::fs::read_to_string(format!("/proc/{probe_pid}/status")).unwrap_or_default();
    let running = status
        .lines()
        .any(|l| l.starts_with("State:") && !l.contains('Z'));
    assert!(
        !running,
        "the stale lab's probe server (pid {probe_pid}) was ended: {status}"
    );
    // And the new lab works.
    assert_behaviour(
        &probe(&lab, "a1"),
        "a1",
        NAT_A_WAN,
        expected(NatKind::PortRestricted),
    );
}
