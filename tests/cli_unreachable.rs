//! `call` and `register` toward a loopback port where nothing listens: the ICMP port
//! unreachable is a transport error (RFC 3261 §18.4, §8.1.3.1), so each command fails within
//! a few seconds, saying why, instead of waiting 32 s for Timer B/F in silence.

use std::net::UdpSocket;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

#[path = "support/process.rs"]
mod process;

use process::{assert_exit, json_lines, spawn_captured};

/// Well under Timer B/F (32 s): the failure must come from the ICMP error.
const LIMIT: Duration = Duration::from_secs(3);

/// A loopback UDP port nobody listens on: bound, read and dropped.
fn closed_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    port
}

/// Waits for `child` at most `LIMIT` plus a margin, killing it (and failing) if it runs on;
/// returns its output and how long it ran.
fn finish_within_limit(mut child: Child, started: Instant) -> (Output, Duration) {
    let hard_stop = started + LIMIT + Duration::from_secs(2);
    loop {
        if child.try_wait().unwrap().is_some() {
            let elapsed = started.elapsed();
            return (child.wait_with_output().unwrap(), elapsed);
        }
        if Instant::now() > hard_stop {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {:?}; stderr:\n{}",
                started.elapsed(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_says_nothing_listens(out: &Output, port: u16, elapsed: Duration) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("nothing is listening at 127.0.0.1:{port} (ICMP port unreachable)");
    assert!(stderr.contains(&expected), "stderr:\n{stderr}");
    assert!(elapsed < LIMIT, "took {elapsed:?}; stderr:\n{stderr}");
}

#[test]
fn call_to_a_closed_port_fails_at_once_saying_nothing_listens() {
    let port = closed_port();
    let started = Instant::now();
    let child = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
            .args(["--bind", "127.0.0.1:0", "--aor", "sip:alice@127.0.0.1"]),
    );
    let (out, elapsed) = finish_within_limit(child, started);
    assert_exit(&out, icephone::exit::CALL.into());
    assert_says_nothing_listens(&out, port, elapsed);
    // The failure is ours, not a status the peer sent.
    let events = json_lines(&out.stdout);
    let failed = events
        .iter()
        .find(|e| e["event"] == "call" && e["state"] == "failed")
        .unwrap_or_else(|| panic!("no failed call event in {events:?}"));
    assert_eq!(failed["origin"], "local", "{failed}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("nothing is listening"), "{failed}");
}

#[test]
fn register_to_a_closed_port_fails_at_once_saying_nothing_listens() {
    let port = closed_port();
    let started = Instant::now();
    let child = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["register", "--once", "--bind", "127.0.0.1:0"])
            .args(["--aor", &format!("sip:alice@127.0.0.1:{port}")]),
    );
    let (out, elapsed) = finish_within_limit(child, started);
    assert_exit(&out, icephone::exit::REGISTRATION.into());
    assert_says_nothing_listens(&out, port, elapsed);
}
