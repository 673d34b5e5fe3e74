//! Running `icephone` (or any command) as a child process in integration tests: free
//! loopback ports, captured output, exit codes, `--json` event lines.
//!
//! Included by each test crate with `#[path = "support/process.rs"] mod process;` (every file
//! in tests/ is its own crate).

#![allow(dead_code)] // each test crate uses a different subset of these helpers

use std::net::UdpSocket;
use std::process::{Child, Command, Output, Stdio};

/// A loopback UDP port that was free a moment ago (the socket is closed on return).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `--json` events a process wrote, one JSON object a line; fails on a line that is not
/// JSON.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Fails the test, showing the process's stderr, unless it exited with `code`.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `command` with its stdout and stderr captured.
pub fn spawn_captured(command: &mut Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded by 10 s) until something listens on 127.0.0.1:`port` (UDP or TCP), as `ss`
/// sees it: a request sent earlier would fail at once on the ICMP port unreachable (RFC 3261
/// §18.4) instead of being retransmitted until the peer is up.
pub fn wait_listening(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let listening = std::process::Command::new("ss")
            .args(["-Hlutn", &format!("sport = :{port}")])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty());
        if listening {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("nothing listens on port {port} after 10 s");
}
