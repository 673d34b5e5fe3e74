//! NAT survival in the softphone itself (issue 13), in the lab, with a registrar that does not
//! ping its contacts (Kamailio without natping, like Asterisk's default) and NAT mappings that
//! die after 20 s idle (Linux's UDP default is 30 s one way):
//!
//! - `answer --register` behind a port-restricted and behind a symmetric NAT, over UDP and
//!   TCP, with keepalives every 10 s: after 90 s idle a call arrives through Kamailio and is
//!   answered with ICE media. The same phones with `--keepalive 0` never ring: that proves the
//!   test.
//! - an unregistered caller in a 60 s call: the peer hangs up and our side gets the BYE
//!   (dialog keepalives); without keepalives the BYE is lost at the NAT.
//! - Contact learning: Kamailio's location table holds alice's public address, learned from
//!   received/rport and registered once more (one extra REGISTER).
//!
//! Needs root, Kamailio and coturn: fails (never skips) without them.

mod lab;

use std::thread;
use std::time::{Duration, Instant};

use lab::phone::{account, event_lines as lines, find, media_count, stun_turn, Phone};
use lab::{Capture, Lab, LabConfig, NatKind, NAT_A_WAN};
use serde_json::Value;

/// How long the registered phones stay idle before they are called.
const IDLE: Duration = Duration::from_secs(90);
/// The NATs drop a mapping idle this long (set in both NAT namespaces).
const NAT_TIMEOUT_S: u32 = 20;
/// Keepalive interval of the phones that keep their flows alive (< the NAT timeout).
const KEEPALIVE: &str = "10";
/// Seconds of media in the unregistered call, after which the callee hangs up.
const LONG_CALL: &str = "60";

/// `answer --register --calls 1` as `user` in `role`, with TURN (a symmetric NAT needs it).
fn answerer(lab: &Lab, role: &str, user: &str, keepalive: &str, extra: &[&str]) -> Phone {
    let pw = format!("{user}pw");
    let mut args: Vec<String> = [
        "answer",
        "--register",
        "--calls",
        "1",
        "--keepalive",
        keepalive,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(account(user, &pw));
    args.extend(stun_turn(user, &pw));
    let limit = IDLE + Duration::from_secs(60);
    let mut phone = Phone::start(lab, role, &format!("{user}-answers"), &args, limit);
    phone.wait_event(Duration::from_secs(10), |e| {
        e["event"] == "registered" && e["expires"].as_u64().is_some_and(|x| x > 0)
    });
    phone
}

/// `icephone call` as the `icephone` account from `role` to `user`, `duration` seconds of
/// media (or until the peer hangs up when `None`).
fn caller(
    lab: &Lab,
    role: &str,
    name: &str,
    user: &str,
    duration: Option<&str>,
    keepalive: &str,
) -> Phone {
    let mut args: Vec<String> = vec![
        "call".into(),
        format!("sip:{user}@icephone.test"),
        "--keepalive".into(),
        keepalive.into(),
    ];
    if let Some(d) = duration {
        args.extend(["--duration".into(), d.into()]);
    }
    args.extend(account("icephone", "icephonepw"));
    args.extend(stun_turn("icephone", "icephonepw"));
    Phone::start(lab, role, name, &args, IDLE + Duration::from_secs(60))
}

#[test]
fn registered_phones_behind_nat_stay_reachable_and_calls_keep_their_flow() {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::Symmetric,
        servers: true,
        natping: false,
        nat_timeout_s: NAT_TIMEOUT_S,
        ..LabConfig::default()
    });
    let cap = Capture::start(&lab, "nat-survival");

    // --- registered phones: with keepalives, and without (the control) -------------------
    let alice = answerer(&lab, "a1", "alice", KEEPALIVE, &[]);
    let carol = answerer(&lab, "a2", "carol", "0", &[]);
    let bob = answerer(&lab, "b1", "bob", KEEPALIVE, &[]);
    let icephone2 = answerer(&lab, "b2", "icephone2", "0", &[]);
    let sipp_tcp = answerer(&lab, "a1", "sipp", KEEPALIVE, &["--transport", "tcp"]);
    let sipp2_tcp = answerer(&lab, "b1", "sipp2", KEEPALIVE, &["--transport", "tcp"]);
    let registered_at = Instant::now();

    // --- an unregistered caller in a long call: the peer hangs up after 60 s ------------
    let hangs_up =
        |role: &str, user: &str| answerer(&lab, role, user, KEEPALIVE, &["--duration", LONG_CALL]);
    let baresip = hangs_up("b2", "baresip");
    let baresip2 = hangs_up("b2", "baresip2");
    let kept = caller(&lab, "a2", "long-call-kept", "baresip", None, KEEPALIVE);
    let lost = caller(&lab, "a2", "long-call-no-keepalive", "baresip2", None, "0");

    // --- Contact learning: alice's binding is her public address --------------------------
    let location = lab.kamcmd(&["ul.dump"]);
    let mut in_alice = false;
    let mut alice_contacts = Vec::new();
    for line in location.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("AoR: ") {
            in_alice = name == "alice";
        } else if let (true, Some(address)) = (in_alice, line.strip_prefix("Address: ")) {
            alice_contacts.push(address.to_string());
        }
    }
    // One binding, on the public address: the private one was removed in the same extra
    // REGISTER (one per learned change).
    assert!(
        alice_contacts.len() == 1 && alice_contacts[0].contains(NAT_A_WAN),
        "alice's bindings: {alice_contacts:?}\n{location}"
    );

    // --- the long calls end: the kept flow hears the peer's BYE ---------------------------
    let (code, kept_events) = kept.finish(Duration::from_secs(100));
    let ended = find(&kept_events, "call", Some("ended"));
    assert!(
        code == 0 && ended.is_some_and(|e| e["reason"] == "remote hung up"),
        "the unregistered caller with keepalives got the peer's BYE after {LONG_CALL} s (exit {code}):\n{}",
        lines(&kept_events)
    );
    // Without keepalives the BYE died at the NAT: the caller is still in its call.
    thread::sleep(Duration::from_secs(3));
    let lost_events = lost.events();
    assert!(
        find(&lost_events, "call", Some("ended")).is_none(),
        "without keepalives the BYE cannot reach the caller through a 20 s NAT:\n{}",
        lines(&lost_events)
    );
    drop(lost);
    drop((baresip, baresip2));

    // --- after 90 s idle: call every registered phone ------------------------------------
    let idle_left = IDLE.saturating_sub(registered_at.elapsed());
    thread::sleep(idle_left);
    let calls = [
        ("b1", "to-alice", "alice"),
        ("b1", "to-carol", "carol"),
        ("a1", "to-bob", "bob"),
        ("a1", "to-icephone2", "icephone2"),
        ("b1", "to-sipp-tcp", "sipp"),
        ("a1", "to-sipp2-tcp", "sipp2"),
    ]
    .map(|(role, name, user)| caller(&lab, role, name, user, Some("2"), KEEPALIVE));
    let reached: Vec<(String, i32, Vec<Value>)> = [
        ("alice (port-restricted, UDP)", alice),
        ("bob (symmetric, UDP)", bob),
        ("sipp (port-restricted, TCP)", sipp_tcp),
        ("sipp2 (symmetric, TCP)", sipp2_tcp),
    ]
    .into_iter()
    .map(|(who, phone)| {
        let (code, events) = phone.finish(Duration::from_secs(40));
        (who.to_string(), code, events)
    })
    .collect();
    for (who, code, events) in &reached {
        assert_eq!(
            *code,
            0,
            "{who}: reachable after {IDLE:?} idle thanks to keepalives:\n{}",
            lines(events)
        );
        assert!(
            find(events, "ice", Some("selected")).is_some(),
            "{who}: ICE"
        );
        assert!(
            media_count(events, "rtp_received", who) > 0,
            "{who}: media:\n{}",
            lines(events)
        );
    }
    // The control: without keepalives the binding died and the INVITE never got through.
    for (who, phone) in [
        ("carol (no keepalive)", carol),
        ("icephone2 (no keepalive)", icephone2),
    ] {
        let events = phone.events();
        assert!(
            find(&events, "call", Some("incoming")).is_none(),
            "{who} must not ring through a dead NAT binding (else the test proves nothing):\n{}",
            lines(&events)
        );
    }
    for c in calls {
        drop(c);
    }

    drop(cap);
}

/// The registrar's log lines of `kind` (`register`, `stun`, `ping`) from `src_ip`, each with
/// its time (seconds since the epoch) and source address.
fn registrar_log(lab: &Lab, kind: &str, src_ip: &str) -> Vec<(f64, String)> {
    std::fs::read_to_string(lab.run_dir().join("outbound-registrar.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == kind)
        .filter_map(|v| Some((v["t"].as_f64()?, v["src"].as_str()?.to_string())))
        .filter(|(_, src)| src.starts_with(&format!("{src_ip}:")))
        .collect()
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// RFC 5626 with a registrar that supports outbound (`Require: outbound`, `Flow-Timer: 5`):
/// STUN keepalives on UDP and CRLF pings on TCP every 4–5 s; after the NAT's mappings are
/// flushed (`conntrack -F`, a symmetric NAT: the next mapping gets a new port), the UDP flow's
/// STUN keepalive sees the changed mapping and the TCP flow loses its connection, and both
/// register again after the §4.5 back-off (30–60 s after a first failure).
#[test]
fn an_outbound_registrar_gets_keepalives_and_a_flushed_mapping_is_registered_again() {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::Symmetric,
        servers: true,
        ..LabConfig::default()
    });
    let script = lab::lab_dir().join("outbound_registrar.py");
    let script = script.display().to_string();
    let mut registrar = lab.spawn(
        "kam",
        &["/usr/bin/python3", &script, lab::KAMAILIO, "5070", "5"],
        "outbound-registrar",
        Duration::from_secs(240),
    );
    assert!(
        lab::wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(lab.run_dir().join("outbound-registrar.log"))
                .is_ok_and(|t| t.contains("\"ready\""))
        }),
        "the outbound registrar did not start"
    );
    let register = |role: &str, user: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "register",
            "--aor",
            &format!("sip:{user}@icephone.test"),
            "--proxy",
            &format!("{}:5070", lab::KAMAILIO),
            "--expires",
            "600",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut phone = Phone::start(
            &lab,
            role,
            &format!("{user}-outbound"),
            &args,
            Duration::from_secs(200),
        );
        phone.wait_event(Duration::from_secs(10), |e| e["event"] == "registered");
        phone
    };
    let udp = register("b1", "bob", &[]);
    let tcp = register("b2", "icephone2", &["--transport", "tcp"]);
    thread::sleep(Duration::from_secs(12));
    let nat_b = lab::NAT_B_WAN;
    let stun = registrar_log(&lab, "stun", nat_b);
    let pings = registrar_log(&lab, "ping", nat_b);
    assert!(
        stun.len() >= 2,
        "STUN keepalives on the UDP flow every 80-100 % of Flow-Timer 5 s: {stun:?}"
    );
    assert!(!pings.is_empty(), "CRLF pings on the TCP flow: {pings:?}");
    let before: Vec<String> = registrar_log(&lab, "register", nat_b)
        .into_iter()
        .map(|(_, src)| src)
        .collect();

    lab.run_ok("natb", &["conntrack", "-F"], Duration::from_secs(10));
    let flushed = epoch_now();
    let mut recovered: Vec<(String, f64)> = Vec::new();
    let transport_of = |src: &str| {
        std::fs::read_to_string(lab.run_dir().join("outbound-registrar.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["kind"] == "register" && v["src"] == src)
            .and_then(|v| v["transport"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let done = lab::wait_until(Duration::from_secs(90), || {
        recovered = registrar_log(&lab, "register", nat_b)
            .into_iter()
            .filter(|(t, _)| *t > flushed)
            .map(|(t, src)| (src, t - flushed))
            .collect();
        let transports: Vec<String> = recovered.iter().map(|(src, _)| transport_of(src)).collect();
        transports.iter().any(|t| t == "udp") && transports.iter().any(|t| t == "tcp")
    });
    for (src, secs) in &recovered {
        eprintln!(
            "re-registered {} from {src} {secs:.1} s after the flush (RFC 5626 §4.5 back-off)",
            transport_of(src)
        );
    }
    assert!(
        done,
        "both flows registered again within 90 s of the flush: {recovered:?}\nUDP phone:\n{}\nTCP phone:\n{}",
        udp.stderr(),
        tcp.stderr()
    );
    for (src, _) in &recovered {
        assert!(
            !before.contains(src),
            "a new flow (new NAT mapping) for the re-registration: {src} was used before ({before:?})"
        );
    }
    for (who, phone) in [("UDP", &udp), ("TCP", &tcp)] {
        assert!(
            phone.stderr().contains("registration flow failed"),
            "{who}: the flow failure is said: {}",
            phone.stderr()
        );
    }
    // Our own child, by PID (the lab's teardown would end it too).
    let _ = registrar.kill();
    let _ = registrar.wait();
}
