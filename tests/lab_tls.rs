//! SIP over TLS in the lab (issue 16): Kamailio with its TLS module on 203.0.113.10:5061 and
//! a certificate for `icephone.test` from a CA made at test time (`lab.sh up --tls`).
//!
//! - Calls both ways between two icephones behind port-restricted NATs, registered over TLS
//!   with `--tls-ca`, through Kamailio: established, ICE media both ways; on the public
//!   segment no SIP is readable and nothing uses port 5060, the TLS handshakes name
//!   `icephone.test` (SNI: the name verified, RFC 5922 §7.2).
//! - A second CA: the registration fails with exit 3 and rustls' reason.
//! - A sips: call without TLS to its first hop fails (exit 4) and nothing goes out in clear:
//!   through the UDP proxy nothing is sent at all, and to a UDP-only host only a TLS connection
//!   attempt (refused) — never a datagram.
//!
//! Needs root and network namespaces: fails (never skips) without them.

mod lab;

#[path = "support/certs.rs"]
mod certs;

use std::time::Duration;

use lab::phone::{assert_reflexive_call, event_lines, stun, Phone, EXIT_OK};
use lab::wire::{count_frames, rtp_packets, rtp_streams};
use lab::{Capture, Lab, LabConfig, NatKind, KAMAILIO, NAT_A_WAN, NAT_B_WAN, PROBE};
use serde_json::Value;

const PHONE_LIMIT: Duration = Duration::from_secs(60);
const EXIT_REGISTRATION: i32 = 3;
const EXIT_CALL: i32 = 4;

fn tls_lab() -> Lab {
    Lab::up(&LabConfig {
        nat_a: NatKind::PortRestricted,
        nat_b: NatKind::PortRestricted,
        servers: true,
        tls: true,
        ..LabConfig::default()
    })
}

/// A lab user registering over TLS with Kamailio by name, trusting `ca`. The port makes it
/// an A lookup only (RFC 3263 §4.2), which the namespace's /etc/hosts answers: the lab has
/// no DNS server for SRV.
fn tls_account(user: &str, password: &str, ca: &std::path::Path) -> Vec<String> {
    [
        "--aor",
        &format!("sip:{user}@icephone.test"),
        "--password",
        password,
        "--proxy",
        "icephone.test:5061",
        "--transport",
        "tls",
        "--tls-ca",
        &ca.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `answer --register --calls 1` over TLS; returns once registered.
fn answering(lab: &Lab, role: &str, user: &str, password: &str) -> Phone {
    let mut args: Vec<String> = ["answer", "--register", "--calls", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(tls_account(user, password, &lab.tls_ca()));
    args.extend(stun());
    let mut phone = Phone::start(lab, role, user, &args, PHONE_LIMIT);
    phone.wait_event(Duration::from_secs(10), |e| {
        e["event"] == "registered" && e["expires"].as_u64().unwrap_or(0) > 0
    });
    phone
}

/// `call TARGET` over TLS for 3 s of media.
fn calling(
    lab: &Lab,
    role: &str,
    name: &str,
    (user, password): (&str, &str),
    target: &str,
) -> Phone {
    let mut args: Vec<String> = ["call", target, "--tone", "440", "--duration", "3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(tls_account(user, password, &lab.tls_ca()));
    args.extend(stun());
    Phone::start(lab, role, name, &args, PHONE_LIMIT)
}

fn done(phone: Phone, who: &str, code: i32) -> Vec<Value> {
    let (got, events) = phone.finish(PHONE_LIMIT);
    assert_eq!(
        got,
        code,
        "{who} exit code; events:\n{}",
        event_lines(&events)
    );
    events
}

#[test]
fn calls_over_tls_both_ways_with_ice_media_and_no_clear_sip_on_the_wire() {
    let lab = tls_lab();
    let cap = Capture::start(&lab, "tls-calls");

    // bob (LAN B) calls alice (LAN A) by her sips: URI (RFC 3261 §26.2.2: TLS all the way we
    // control), then alice calls bob by a plain sip: URI, still over TLS to the proxy.
    let alice = answering(&lab, "a1", "alice", "alicepw");
    let bob = calling(
        &lab,
        "b1",
        "bob-call",
        ("bob", "bobpw"),
        "sips:alice@icephone.test",
    );
    let bob_calls = done(bob, "bob calling", EXIT_OK);
    let alice_answers = done(alice, "alice answering", EXIT_OK);

    let bob = answering(&lab, "b1", "bob", "bobpw");
    let alice = calling(
        &lab,
        "a1",
        "alice-call",
        ("alice", "alicepw"),
        "sip:bob@icephone.test",
    );
    let alice_calls = done(alice, "alice calling", EXIT_OK);
    let bob_answers = done(bob, "bob answering", EXIT_OK);
    let pcap = cap.stop();

    // Established, ICE completed on a reflexive pair between the NATs, media both ways.
    let mut paths = Vec::new();
    for (who, events, wans) in [
        ("bob calling", &bob_calls, (NAT_B_WAN, NAT_A_WAN)),
        ("alice answering", &alice_answers, (NAT_A_WAN, NAT_B_WAN)),
        ("alice calling", &alice_calls, (NAT_A_WAN, NAT_B_WAN)),
        ("bob answering", &bob_answers, (NAT_B_WAN, NAT_A_WAN)),
    ] {
        paths.push(assert_reflexive_call(events, who, wans, 80));
    }

    // The wire: RTP both ways between the NATs' public addresses...
    let streams = rtp_streams(&pcap);
    for (src, dst) in [(NAT_A_WAN, NAT_B_WAN), (NAT_B_WAN, NAT_A_WAN)] {
        let n = rtp_packets(&streams, src, dst);
        assert!(
            n >= 2 * 100,
            "RTP {src} -> {dst} on the wire: {n}; {streams:?}"
        );
    }
    // ...and SIP only inside TLS: not one readable SIP message, nothing on port 5060.
    let clear_sip = count_frames(&pcap, "sip");
    assert_eq!(
        clear_sip,
        0,
        "SIP readable on the wire in {}",
        pcap.display()
    );
    let port_5060 = count_frames(&pcap, "udp.port == 5060 || tcp.port == 5060");
    assert_eq!(port_5060, 0, "traffic on port 5060 in {}", pcap.display());
    // Four phone processes, four TLS connections to Kamailio, each asking for the name the
    // certificate was verified against.
    let hellos = count_frames(
        &pcap,
        &format!("tls.handshake.type == 1 && ip.dst == {KAMAILIO} && tcp.dstport == 5061"),
    );
    assert!(hellos >= 4, "{hellos} TLS ClientHellos to Kamailio:5061");
    let sni = count_frames(
        &pcap,
        "tls.handshake.type == 1 && tls.handshake.extensions_server_name == \"icephone.test\"",
    );
    assert_eq!(sni, hellos, "every ClientHello names icephone.test");
    let records = count_frames(&pcap, "tls.app_data && tcp.port == 5061");
    assert!(
        records >= 20,
        "{records} TLS application-data records on 5061"
    );
}

#[test]
fn a_wrong_ca_and_a_sips_call_without_tls_fail_clearly_and_never_in_clear() {
    let lab = tls_lab();
    let cap = Capture::start(&lab, "tls-failures");

    // (b) A CA that did not sign Kamailio's certificate.
    let other = certs::make_ca(&lab.run_dir().join("other-ca"), "other-ca");
    let mut args: Vec<String> = vec!["register".into(), "--once".into()];
    args.extend(tls_account("alice", "alicepw", &other.cert));
    let alice = Phone::start(&lab, "a1", "alice-wrong-ca", &args, PHONE_LIMIT);
    let (code, events) = alice.finish(PHONE_LIMIT);
    let stderr = std::fs::read_to_string(lab.run_dir().join("alice-wrong-ca.err")).unwrap();
    assert_eq!(code, EXIT_REGISTRATION, "stderr:\n{stderr}");
    let expected =
        format!("TLS to {KAMAILIO}:5061 (icephone.test): certificate not valid: UnknownIssuer");
    assert!(stderr.contains(&expected), "stderr:\n{stderr}");
    assert!(
        !events.iter().any(|e| e["event"] == "registered"),
        "{}",
        event_lines(&events)
    );

    // (c) carol has UDP only toward Kamailio: a sips: call must not go there.
    let carol_args: Vec<String> = [
        "call",
        "sips:alice@icephone.test",
        "--aor",
        "sip:carol@icephone.test",
        "--password",
        "carolpw",
        "--proxy",
        &format!("{KAMAILIO}:5060"),
        "--transport",
        "udp",
        "--duration",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let carol = Phone::start(&lab, "a2", "carol-sips-udp", &carol_args, PHONE_LIMIT);
    let (code, events) = carol.finish(PHONE_LIMIT);
    let stderr = std::fs::read_to_string(lab.run_dir().join("carol-sips-udp.err")).unwrap();
    assert_eq!(code, EXIT_CALL, "stderr:\n{stderr}");
    assert!(
        stderr.contains("sips:alice@icephone.test needs TLS on every hop (RFC 3261 §26.2.2)")
            && stderr.contains("reached over UDP"),
        "stderr:\n{stderr}"
    );
    let failed = events
        .iter()
        .find(|e| e["event"] == "call" && e["state"] == "failed")
        .unwrap_or_else(|| panic!("no failed call: {}", event_lines(&events)));
    assert_eq!(failed["origin"], "local", "{failed}");

    // (c) A sips: call straight to a host that has no TLS (the probe host): a TLS
    // connection is tried (to 5061, RFC 3261 §19.1.2) and refused; no datagram goes there.
    let direct_args: Vec<String> = [
        "call",
        &format!("sips:bob@{PROBE}"),
        "--aor",
        "sip:carol@icephone.test",
        "--transport",
        "udp",
        "--duration",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let direct = Phone::start(&lab, "a2", "carol-sips-direct", &direct_args, PHONE_LIMIT);
    let (code, _) = direct.finish(PHONE_LIMIT);
    let stderr = std::fs::read_to_string(lab.run_dir().join("carol-sips-direct.err")).unwrap();
    assert_eq!(code, EXIT_CALL, "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("TLS to {PROBE}:5061 ({PROBE}): connect failed")),
        "stderr:\n{stderr}"
    );
    let pcap = cap.stop();

    // Nothing readable, and nothing toward Kamailio's SIP port 5060 or the probe but the
    // refused TLS connection attempt.
    assert_eq!(
        count_frames(&pcap, "sip"),
        0,
        "SIP in clear in {}",
        pcap.display()
    );
    assert_eq!(
        count_frames(
            &pcap,
            &format!("ip.dst == {KAMAILIO} && (udp.port == 5060 || tcp.port == 5060)")
        ),
        0,
        "carol's call reached Kamailio's 5060"
    );
    assert_eq!(
        count_frames(&pcap, &format!("udp && ip.dst == {PROBE}")),
        0,
        "a datagram went to the UDP-only host"
    );
    assert!(
        count_frames(
            &pcap,
            &format!("tcp.flags.syn == 1 && ip.dst == {PROBE} && tcp.dstport == 5061")
        ) >= 1,
        "the sips: call tried TLS on 5061"
    );
    // The wrong-CA handshake reached Kamailio and stopped there: from alice's NAT, no TLS
    // record large enough to hold a request (TLS 1.3 encrypts her bad_certificate alert
    // too: 19 bytes), and Kamailio has no binding for her.
    assert!(
        count_frames(
            &pcap,
            &format!("tls.handshake.type == 1 && ip.src == {NAT_A_WAN}")
        ) >= 1,
        "alice's ClientHello"
    );
    assert_eq!(
        count_frames(
            &pcap,
            &format!("tls.app_data && ip.src == {NAT_A_WAN} && tls.record.length > 100")
        ),
        0,
        "alice sent a request after a certificate that did not verify"
    );
    let dump = lab.kamcmd(&["ul.dump"]);
    assert!(!dump.contains("alice@icephone.test"), "{dump}");
}
