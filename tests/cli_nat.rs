//! NAT survival in the softphone itself (issue 13), as processes on loopback: `register` stays
//! registered with keepalives and un-registers on Ctrl-C, outbound is on by default, `answer`
//! answers until Ctrl-C, `--calls 0` is a usage error, and a wildcard `--bind` answers on every
//! address.

use std::net::UdpSocket;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[path = "support/process.rs"]
mod process;

use process::{free_udp_port, json_lines, spawn_captured};
use sip::message::{parse_datagram, Message, Response};

/// What the registrar saw.
#[derive(Debug, Default)]
struct Seen {
    registers: Vec<String>,
    keepalives: Vec<Instant>,
}

/// A loopback registrar without outbound: grants every REGISTER what it asked for (echoing
/// Expires 0 for a removal) and counts CRLFCRLF keepalives, until idle for `idle`.
fn registrar(idle: Duration) -> (u16, std::thread::JoinHandle<Seen>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(idle)).unwrap();
    let port = socket.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut seen = Seen::default();
        let mut buf = [0u8; 65535];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let data = &buf[..n];
            if data == b"\r\n\r\n" {
                seen.keepalives.push(Instant::now());
                continue;
            }
            let Ok(Message::Request(req)) = parse_datagram(data) else {
                continue;
            };
            seen.registers
                .push(String::from_utf8_lossy(data).into_owned());
            let expires = req
                .headers
                .get("Expires")
                .map(str::trim)
                .unwrap_or("60")
                .to_string();
            let contact = req.headers.get("Contact").unwrap_or("<sip:x@127.0.0.1>");
            let response = Response::for_request(&req, 200, "OK")
                .with_to_tag("r1")
                .with_header("Contact", format!("{contact};expires={expires}"));
            socket.send_to(&response.to_bytes(), from).unwrap();
        }
        seen
    });
    (port, handle)
}

/// `icephone ARGS` with its outbound instance-id state in a directory of its own.
fn icephone(args: &[&str]) -> Child {
    let state = std::env::temp_dir().join(format!("icephone-state-{}", std::process::id()));
    spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .env("XDG_STATE_HOME", &state)
            .args(args),
    )
}

/// SIGINT to a child we started (by its PID), as Ctrl-C would.
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `child` at most `limit`; kills it (by PID) and fails if it is still running.
fn finish(mut child: Child, limit: Duration, who: &str) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "{who} still running after {limit:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn register_stays_registered_keeps_the_flow_alive_and_unregisters_on_ctrl_c() {
    let (reg_port, registrar) = registrar(Duration::from_secs(3));
    let aor = format!("sip:dave@127.0.0.1:{reg_port}");
    let child = icephone(&[
        "register",
        "--json",
        "--bind",
        "127.0.0.1:0",
        "--aor",
        &aor,
        "--expires",
        "2",
        "--keepalive",
        "1",
    ]);
    std::thread::sleep(Duration::from_millis(3500));
    interrupt(&child);
    let out = finish(child, Duration::from_secs(5), "register");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let expiries: Vec<i64> = json_lines(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "registered")
        .filter_map(|e| e["expires"].as_i64())
        .collect();
    // Registered, refreshed before expiry (2 s: about every second), removed on Ctrl-C.
    assert!(
        expiries.iter().filter(|e| **e == 2).count() >= 3,
        "{expiries:?}\n{stderr}"
    );
    assert_eq!(expiries.last(), Some(&0), "{expiries:?}");
    assert!(
        stderr.contains("refreshed"),
        "each refresh is said: {stderr}"
    );
    let seen = registrar.join().unwrap();
    // RFC 5626 §4.2: outbound is on by default (the state file gives the instance).
    let first = &seen.registers[0];
    assert!(
        first.contains("+sip.instance=") && first.contains("reg-id=1") && first.contains(";ob"),
        "{first}"
    );
    assert!(
        first
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("supported:") && l.contains("outbound")),
        "{first}"
    );
    // This registrar has no outbound (no Require: outbound): plain CRLFCRLF every second.
    assert!(
        seen.keepalives.len() >= 2,
        "keepalives seen: {}",
        seen.keepalives.len()
    );
}

#[test]
fn keepalive_zero_turns_the_keepalives_off() {
    let (reg_port, registrar) = registrar(Duration::from_secs(3));
    let aor = format!("sip:dave@127.0.0.1:{reg_port}");
    let child = icephone(&[
        "register",
        "--bind",
        "127.0.0.1:0",
        "--aor",
        &aor,
        "--expires",
        "60",
        "--keepalive",
        "0",
        "--outbound",
        "false",
    ]);
    std::thread::sleep(Duration::from_millis(2500));
    interrupt(&child);
    let out = finish(child, Duration::from_secs(5), "register");
    assert_eq!(out.status.code(), Some(0));
    let seen = registrar.join().unwrap();
    assert!(seen.keepalives.is_empty(), "{:?}", seen.keepalives);
    assert!(
        !seen.registers[0].contains("+sip.instance"),
        "--outbound false: {}",
        seen.registers[0]
    );
}

#[test]
fn answer_keeps_answering_until_ctrl_c() {
    let port = free_udp_port();
    let answer = icephone(&[
        "answer",
        "--json",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--aor",
        "sip:bob@127.0.0.1",
    ]);
    process::wait_listening(port);
    for n in 1..=2 {
        let call = Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["call", &format!("sip:bob@127.0.0.1:{port}")])
            .args(["--bind", "127.0.0.1:0", "--duration", "1"])
            .output()
            .unwrap();
        assert_eq!(
            call.status.code(),
            Some(0),
            "call {n}: {}",
            String::from_utf8_lossy(&call.stderr)
        );
    }
    interrupt(&answer);
    let out = finish(answer, Duration::from_secs(5), "answer");
    assert_eq!(out.status.code(), Some(0));
    let established = json_lines(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "call" && e["state"] == "established")
        .count();
    assert_eq!(established, 2);
}

#[test]
fn calls_zero_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["answer", "--calls", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--calls"));
}

#[test]
fn a_wildcard_bind_answers_on_every_address() {
    let port = free_udp_port();
    let answer = icephone(&[
        "answer",
        "--bind",
        &format!("0.0.0.0:{port}"),
        "--aor",
        "sip:bob@127.0.0.1",
    ]);
    process::wait_listening(port);
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let me = probe.local_addr().unwrap();
    for (n, ip) in ["127.0.0.1", "127.0.0.2"].into_iter().enumerate() {
        let options = format!(
            "OPTIONS sip:bob@{ip}:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-wild{n};rport\r\n\
             Max-Forwards: 70\r\nTo: <sip:bob@{ip}>\r\nFrom: <sip:probe@{me}>;tag=p{n}\r\n\
             Call-ID: wildcard-{n}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        probe
            .send_to(options.as_bytes(), format!("{ip}:{port}"))
            .unwrap();
        let mut buf = [0u8; 4096];
        let (len, _) = probe
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no answer to OPTIONS sent to {ip}:{port}: {e}"));
        let text = String::from_utf8_lossy(&buf[..len]);
        assert!(text.starts_with("SIP/2.0 200"), "{ip}: {text}");
        assert!(
            !text.contains("0.0.0.0"),
            "no wildcard address in what we say: {text}"
        );
    }
    interrupt(&answer);
    let out = finish(answer, Duration::from_secs(5), "answer");
    assert_eq!(out.status.code(), Some(0));
}
