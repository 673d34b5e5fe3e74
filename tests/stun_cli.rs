//! `icephone stun` against a real coturn on loopback, against a closed port, against a
//! server that never answers, and the "not built yet" exit code of `icephone demo`.

#[path = "support/coturn.rs"]
mod coturn;

use std::net::UdpSocket;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use coturn::{free_port, Coturn, CoturnOptions};
use ice::stun::{Class, Message, Method};

const ICEPHONE: &str = env!("CARGO_BIN_EXE_icephone");

fn icephone(args: &[&str]) -> Output {
    Command::new(ICEPHONE)
        .args(args)
        .output()
        .expect("run icephone")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn stun_against_coturn_prints_the_mapped_address_and_software() {
    // A plain STUN server: no credentials, UDP and TCP.
    let coturn = Coturn::start(&CoturnOptions::default());
    let server = coturn.addr.to_string();

    // Text output, bound to a port we chose so the mapped address is known.
    let local = format!("127.0.0.1:{}", free_port());
    let out = icephone(&["stun", &server, "--bind", &local]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}\n{}",
        out.status,
        text(&out.stderr),
        coturn.logs()
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
    };
    assert_eq!(field("mapped"), local);
    assert_eq!(field("local"), local);
    assert_eq!(field("server"), server);
    assert!(field("software").contains("Coturn"), "{stdout}");
    assert!(
        field("rtt").ends_with("ms (first send to response)"),
        "{stdout}"
    );

    // JSON output on an ephemeral port: mapped equals the reported local address.
    let out = icephone(&["stun", &server, "--json"]);
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status,
        text(&out.stderr),
        coturn.logs()
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object on stdout: {stdout}");
    let json: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!(json["event"], "stun");
    assert_eq!(json["server"], server.as_str());
    let local = json["local"].as_str().expect("local is a string");
    assert!(
        local.starts_with("127.0.0.1:") && !local.ends_with(":0"),
        "{json}"
    );
    assert_eq!(json["mapped"], local);
    let rtt = json["rtt_ms"].as_f64().expect("rtt_ms is a number");
    assert!((0.0..5000.0).contains(&rtt), "{json}");
    assert!(
        json["software"]
            .as_str()
            .is_some_and(|s| s.contains("Coturn")),
        "{json}"
    );
}

#[test]
fn stun_to_a_closed_port_fails_fast_with_a_human_message() {
    let started = Instant::now();
    let out = icephone(&["stun", "127.0.0.1:9", "--timeout", "2"]);
    let elapsed = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    assert!(
        stderr.contains("not listening") || stderr.contains("no STUN response"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn stun_to_a_silent_server_times_out_after_retransmitting() {
    // A socket that receives and never answers: the overall deadline ends the command.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let out = icephone(&["stun", &addr, "--timeout", "1"]);
    let elapsed = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    // RFC 8489 §6.2.1 schedule: sends at 0 and 500 ms fit in 1 s, the next (1500 ms) does not.
    assert!(
        stderr.contains(&format!(
            "no STUN response from {addr} within 1 s (2 sends)"
        )),
        "{stderr}"
    );

    silent.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1500];
    let mut requests = Vec::new();
    while let Ok((n, _)) = silent.recv_from(&mut buf) {
        requests.push(Message::decode(&buf[..n]).expect("icephone sends valid STUN"));
    }
    assert_eq!(requests.len(), 2, "one send and one retransmission");
    assert_eq!(
        requests[0], requests[1],
        "a retransmission repeats the request exactly"
    );
    assert_eq!(
        (requests[0].class, requests[0].method),
        (Class::Request, Method::Binding)
    );
    assert!(requests[0]
        .software()
        .is_some_and(|s| s.starts_with("icephone")));
    assert!(requests[0].has_fingerprint());
}

#[test]
fn run_without_a_scenario_is_a_usage_error() {
    // `run` is built (tests/scenario_examples.rs); without a file it is a usage error.
    let out = icephone(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("<FILES>"),
        "{}",
        text(&out.stderr)
    );
}
