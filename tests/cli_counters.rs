//! The `media` event counts audio and RFC 4733 packets apart (issue 21 item 5): a call with
//! DTMF between two processes on loopback.

use std::process::Command;

#[path = "support/process.rs"]
mod process;

use process::{assert_exit, free_udp_port, json_lines, spawn_captured};

fn media(events: &[serde_json::Value]) -> serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "media")
        .cloned()
        .unwrap_or_else(|| panic!("no media event in {events:?}"))
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no `{key}` count in {v}"))
}

#[test]
fn audio_and_dtmf_packets_are_counted_apart() {
    let port = free_udp_port();
    let answer = spawn_captured(
        Command::new("timeout")
            .arg("30")
            .arg(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--calls", "1", "--json"])
            .args(["--bind", &format!("127.0.0.1:{port}")]),
    );
    process::wait_listening(port);
    let call = Command::new("timeout")
        .arg("30")
        .arg(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
        .args(["--bind", "127.0.0.1:0", "--dtmf", "12", "--duration", "2"])
        .output()
        .unwrap();
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&call, 0);
    assert_exit(&answer, 0);
    let sent = media(&json_lines(&call.stdout));
    let received = media(&json_lines(&answer.stdout));
    let dtmf_sent = count(&sent, "dtmf_packets_sent");
    assert!(
        dtmf_sent >= 6,
        "two digits take several packets each: {sent}"
    );
    assert_eq!(
        count(&received, "dtmf_packets_received"),
        dtmf_sent,
        "{received}"
    );
    assert_eq!(count(&sent, "dtmf_packets_received"), 0, "{sent}");
    // Audio alone: what the caller sent is what the callee heard (loopback, a packet or two
    // in flight at the BYE), and the DTMF packets are not in it.
    let audio_sent = count(&sent, "rtp_sent");
    let audio_received = count(&received, "rtp_received");
    assert!(
        audio_sent.abs_diff(audio_received) <= 3,
        "{sent}\n{received}"
    );
    // 2 s of 20 ms slots, less the ones DTMF took.
    assert!(audio_sent + dtmf_sent <= 2 * 50 + 10, "{sent}");
}
