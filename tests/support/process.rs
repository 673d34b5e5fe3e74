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
