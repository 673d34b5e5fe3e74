//! Issue 16: TURN over TCP and over TLS in the lab (RFC 8656 §3.1). Both phones sit behind
//! symmetric NATs, so only relayed candidates can connect them; alice reaches coturn over
//! TCP (`turn:…?transport=tcp`), bob over TLS (`turns:`, coturn's certificate from the
//! lab's CA, `--tls-ca`). The call through Kamailio sets up, ICE selects a relayed pair,
//! media flows both ways, and on the public segment the phones' TURN traffic is TCP to 3478
//! and TLS to 5349, never a TURN datagram.
//!
//! Needs root and network namespaces: fails (never skips) without them.

mod lab;

use std::time::Duration;

use lab::phone::{account, candidates, joined, media_count, selected_pair, Phone, EXIT_OK};
use lab::wire::count_frames;
use lab::{Capture, Lab, LabConfig, NatKind, NAT_A_WAN, NAT_B_WAN, TURN};

const PHONE_LIMIT: Duration = Duration::from_secs(60);

fn args(parts: &[&str], more: Vec<String>) -> Vec<String> {
    let mut v: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    v.extend(more);
    v
}

#[test]
fn relayed_calls_over_turn_tcp_and_turn_tls_between_symmetric_nats() {
    let lab = Lab::up(&LabConfig {
        nat_a: NatKind::Symmetric,
        nat_b: NatKind::Symmetric,
        servers: true,
        tls: true,
        ..LabConfig::default()
    });
    let cap = Capture::start(&lab, "turn-stream");
    let ca = lab.tls_ca().display().to_string();

    let mut alice_args = args(
        &["answer", "--register", "--calls", "1"],
        account("alice", "alicepw"),
    );
    alice_args.extend(args(
        &[
            "--turn",
            &format!("turn:{TURN}?transport=tcp"),
            "--turn-user",
            "alice",
            "--turn-password",
            "alicepw",
        ],
        vec![],
    ));
    let mut alice = Phone::start(&lab, "a1", "alice", &alice_args, PHONE_LIMIT);
    alice.wait_event(Duration::from_secs(10), |e| {
        e["event"] == "registered" && e["expires"].as_u64().unwrap_or(0) > 0
    });
    let mut bob_args = args(
        &["call", "sip:alice@icephone.test", "--duration", "3"],
        account("bob", "bobpw"),
    );
    bob_args.extend(args(
        &[
            "--turn",
            &format!("turns:{TURN}"),
            "--turn-user",
            "bob",
            "--turn-password",
            "bobpw",
            "--tls-ca",
            &ca,
        ],
        vec![],
    ));
    let bob = Phone::start(&lab, "b1", "bob", &bob_args, PHONE_LIMIT);
    let (bob_code, bob_events) = bob.finish(PHONE_LIMIT);
    let (alice_code, alice_events) = alice.finish(PHONE_LIMIT);
    let pcap = cap.stop();
    let context = format!(
        "bob:\n{}\nalice:\n{}",
        joined(&bob_events),
        joined(&alice_events)
    );
    assert_eq!(bob_code, EXIT_OK, "{context}");
    assert_eq!(alice_code, EXIT_OK, "{context}");

    for (who, events) in [("alice", &alice_events), ("bob", &bob_events)] {
        // Relayed candidates came from the stream allocation; relayed candidates are UDP.
        let (list, _) = candidates(events, who);
        assert!(
            list.iter()
                .any(|(kind, addr)| kind == "relay" && addr.starts_with(TURN)),
            "{who} has a relayed candidate: {list:?}\n{context}"
        );
        assert!(
            !events.iter().any(|e| e["event"] == "server_failed"),
            "{who}: {context}"
        );
        let (local_kind, _, remote_kind, _) = selected_pair(events, who);
        assert!(
            local_kind == "relay" || remote_kind == "relay",
            "{who} selected a relayed pair ({local_kind} -> {remote_kind}): {context}"
        );
        assert!(
            media_count(events, "rtp_sent", who) > 50
                && media_count(events, "rtp_received", who) > 50,
            "{who}: media both ways: {context}"
        );
    }
    // The wire: alice's NAT talks TCP to coturn's 3478, bob's TLS to 5349; neither sends a
    // TURN datagram to coturn.
    let tcp_a = count_frames(
        &pcap,
        &format!("ip.src=={NAT_A_WAN} && ip.dst=={TURN} && tcp.dstport==3478 && tcp.len>0"),
    );
    let tls_b = count_frames(
        &pcap,
        &format!("ip.src=={NAT_B_WAN} && ip.dst=={TURN} && tcp.dstport==5349 && tls"),
    );
    let udp_turn = count_frames(
        &pcap,
        &format!(
            "(ip.src=={NAT_A_WAN} || ip.src=={NAT_B_WAN}) && ip.dst=={TURN} && udp.dstport==3478"
        ),
    );
    assert!(tcp_a > 0, "alice's TURN over TCP on the wire");
    assert!(tls_b > 0, "bob's TURN over TLS on the wire");
    assert_eq!(udp_turn, 0, "no TURN datagram from either phone");
}
