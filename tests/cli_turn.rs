//! `--turn` and `--turn-transport` from the command line: a TURN server reached over TCP that
//! is not there is reported (JSON `server_failed` and a line on stderr) without holding the
//! call for the 5 s gathering cap, and settings that disagree are usage errors.

use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/process.rs"]
mod process;

use process::{assert_exit, json_lines};

/// A loopback port nobody listens on, for UDP (the SIP peer) or TCP (the TURN server).
fn closed_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    port
}

fn closed_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[test]
fn an_absent_turn_server_over_tcp_is_reported_and_costs_no_gathering_wait() {
    let sip_port = closed_port();
    let turn_port = closed_tcp_port();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", &format!("sip:bob@127.0.0.1:{sip_port}"), "--json"])
        .args(["--bind", "127.0.0.1:0", "--aor", "sip:alice@127.0.0.1"])
        .args([
            "--turn",
            &format!("turn:127.0.0.1:{turn_port}?transport=tcp"),
        ])
        .args(["--turn-user", "alice", "--turn-password", "secret"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The call itself fails (nothing listens for SIP either); the point is what came before.
    assert_exit(&out, icephone::exit::CALL.into());
    let events = json_lines(&out.stdout);
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "server_failed")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "one report for both components: {events:?}"
    );
    let failed = failed[0];
    assert_eq!(failed["kind"], "turn", "{failed}");
    assert_eq!(failed["transport"], "tcp", "{failed}");
    assert_eq!(
        failed["server"],
        format!("127.0.0.1:{turn_port}"),
        "{failed}"
    );
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("Connection refused"), "{failed}");
    // Reported before the candidates were signalled, and no relay among them.
    let position = |name: &str| events.iter().position(|e| e["event"] == name);
    assert!(
        position("server_failed") < position("candidates"),
        "{events:?}"
    );
    let candidates = &events[position("candidates").expect("candidates")]["candidates"];
    assert!(
        candidates
            .as_array()
            .is_some_and(|list| list.iter().all(|c| c["type"] != "relay")),
        "{candidates}"
    );
    assert!(
        stderr.contains(&format!("TURN server 127.0.0.1:{turn_port} (tcp) failed:")),
        "stderr:\n{stderr}"
    );
    // Without the report the call waited the 5 s gathering cap before its INVITE.
    assert!(
        elapsed < Duration::from_secs(4),
        "took {elapsed:?}; stderr:\n{stderr}"
    );
}

#[test]
fn a_turns_uri_is_never_reached_over_udp() {
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", "sip:bob@127.0.0.1:9", "--bind", "127.0.0.1:0"])
        .args(["--turn", "turns:127.0.0.1", "--turn-transport", "udp"])
        .output()
        .unwrap();
    assert_exit(&out, icephone::exit::USAGE.into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("turns:127.0.0.1") && stderr.contains("the URI says tls"),
        "stderr:\n{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", "sip:bob@127.0.0.1:9", "--bind", "127.0.0.1:0"])
        .args(["--turn", "127.0.0.1", "--turn-transport", "sctp"])
        .output()
        .unwrap();
    assert_exit(&out, icephone::exit::USAGE.into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("turn_transport") && stderr.contains("udp, tcp or tls"),
        "stderr:\n{stderr}"
    );
}
