//! The `call`, `answer` and `register` commands as processes, over loopback.

use std::net::UdpSocket;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[path = "support/process.rs"]
mod process;

use icephone::media::goertzel::tone_ratio;
use icephone::media::wav;
use sip::message::{parse_datagram, Message, Request, Response};

use process::{assert_exit, free_udp_port, json_lines, spawn_captured};

/// `answer --json --register` as dave on `port`, registering with the registrar on
/// `reg_port` for `expires` seconds.
fn answer_registering_dave(port: u16, reg_port: u16, expires: &str) -> Child {
    answer_registering_dave_with(port, reg_port, expires, &[])
}

/// As [`answer_registering_dave`], with `extra` flags.
fn answer_registering_dave_with(port: u16, reg_port: u16, expires: &str, extra: &[&str]) -> Child {
    spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args([
                "answer",
                "--calls",
                "1",
                "--json",
                "--register",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--aor", &format!("sip:dave@127.0.0.1:{reg_port}")])
            .args(["--password", "pw", "--expires", expires])
            .args(extra),
    )
}

/// `call` to dave on `port` for `duration` seconds, run to its end.
fn call_dave(port: u16, duration: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", &format!("sip:dave@127.0.0.1:{port}")])
        .args(["--bind", "127.0.0.1:0", "--duration", duration])
        .output()
        .unwrap()
}

#[test]
fn call_and_answer_commands_talk_to_each_other() {
    let dir = std::env::temp_dir().join(format!("icephone-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("answer.wav");
    let port = free_udp_port();
    let answer = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--calls", "1", "--json"])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--aor", "sip:bob@127.0.0.1", "--dtmf", "7"])
            .arg("--record")
            .arg(&record),
    );
    process::wait_listening(port);
    let call = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
        .args(["--bind", "127.0.0.1:0", "--aor", "sip:alice@127.0.0.1"])
        .args(["--tone", "500", "--duration", "1.5"])
        .output()
        .unwrap();
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&call, 0);
    assert_exit(&answer, 0);
    let call_events = json_lines(&call.stdout);
    assert!(call_events
        .iter()
        .any(|e| e["event"] == "ice" && e["state"] == "selected"));
    assert!(call_events
        .iter()
        .any(|e| e["event"] == "dtmf" && e["digit"] == "7" && e["direction"] == "received"));
    let answer_events = json_lines(&answer.stdout);
    assert!(answer_events
        .iter()
        .any(|e| e["event"] == "call" && e["state"] == "ended"));
    let recorded = wav::read(&record).unwrap().samples;
    assert!(tone_ratio(&recorded, 500.0, 8000.0) > 0.5);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A registrar that challenges once (401) and then accepts, or always refuses.
fn registrar(accept: bool) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    udp_registrar(Duration::from_secs(10), move |req, _| {
        let authorized = req.headers.get("Authorization").is_some();
        let response = match (accept, authorized) {
            (false, _) => Response::for_request(req, 403, "Forbidden").with_to_tag("r1"),
            (true, false) => challenge(req),
            (true, true) => grant(req, 120),
        };
        (response, !accept || authorized)
    })
}

/// A loopback UDP registrar thread: it logs the text of every request, answers with what
/// `answer` makes of it (and the number logged so far) and stops when `answer` says so or
/// after `idle` without a request; the thread returns the log.
fn udp_registrar(
    idle: Duration,
    mut answer: impl FnMut(&Request, usize) -> (Response, bool) + Send + 'static,
) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(idle)).unwrap();
    let port = socket.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 65535];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(Message::Request(req)) = parse_datagram(&buf[..n]) else {
                continue;
            };
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let (response, done) = answer(&req, seen.len());
            socket.send_to(&response.to_bytes(), from).unwrap();
            if done {
                break;
            }
        }
        seen
    });
    (port, handle)
}

/// RFC 3261 §22.2: the 401 with a digest challenge.
fn challenge(req: &Request) -> Response {
    Response::for_request(req, 401, "Unauthorized")
        .with_to_tag("r1")
        .with_header(
            "WWW-Authenticate",
            "Digest realm=\"test\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5",
        )
}

/// The 200 granting the request's Contact for `expires` seconds.
fn grant(req: &Request, expires: u32) -> Response {
    let contact = req.headers.get("Contact").unwrap_or("<sip:x@127.0.0.1>");
    Response::for_request(req, 200, "OK")
        .with_to_tag("r1")
        .with_header("Contact", format!("{contact};expires={expires}"))
}

/// `--codecs` on both commands: an Opus-first caller and a G.722-first callee without Opus
/// agree on G.722 (the answerer's order), and the media events name it on both sides.
#[test]
fn call_and_answer_agree_on_a_codec_from_their_flags() {
    let port = free_udp_port();
    let answer = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--calls", "1", "--json", "--codecs", "G722,pcmu"])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--aor", "sip:bob@127.0.0.1"]),
    );
    process::wait_listening(port);
    let call = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
        .args(["--bind", "127.0.0.1:0", "--aor", "sip:alice@127.0.0.1"])
        .args(["--codecs", "opus,g722,pcmu", "--dtmf", "5"])
        .args(["--tone", "500", "--duration", "1.5"])
        .output()
        .unwrap();
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&call, 0);
    assert_exit(&answer, 0);
    for (who, out) in [("call", &call), ("answer", &answer)] {
        let media: Vec<serde_json::Value> = json_lines(&out.stdout)
            .into_iter()
            .filter(|e| e["event"] == "media")
            .collect();
        assert_eq!(media.len(), 1, "{who}");
        assert_eq!(media[0]["codec"], "G722", "{who}");
        assert!(media[0]["rtp_received"].as_u64().unwrap() >= 40, "{who}");
    }
    assert!(json_lines(&answer.stdout)
        .iter()
        .any(|e| e["event"] == "dtmf" && e["digit"] == "5" && e["direction"] == "received"));
}

#[test]
fn register_answers_the_digest_challenge() {
    let (port, registrar) = registrar(true);
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["register", "--once", "--json", "--bind", "127.0.0.1:0"])
        .args(["--aor", &format!("sip:alice@127.0.0.1:{port}")])
        .env("ICEPHONE_PASSWORD", "secret")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let events = json_lines(&out.stdout);
    assert!(events
        .iter()
        .any(|e| e["event"] == "registered" && e["expires"] == 120));
    let seen = registrar.join().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].contains("username=\"alice\""), "{}", seen[1]);
    assert!(seen[1].contains("realm=\"test\""));
}

#[test]
fn refused_registration_exits_with_its_own_code() {
    let (port, registrar) = registrar(false);
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["register", "--once", "--bind", "127.0.0.1:0"])
        .args(["--aor", &format!("sip:alice@127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(icephone::exit::REGISTRATION.into()));
    registrar.join().unwrap();
}

/// Ctrl-C (SIGINT) while the call rings sends CANCEL: the callee sees the call cancelled and
/// the caller exits with the call-failure code.
#[test]
fn ctrl_c_while_ringing_cancels() {
    let port = free_udp_port();
    let answer = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args([
                "answer",
                "--calls",
                "1",
                "--json",
                "--manual",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .stdin(Stdio::piped()),
    );
    process::wait_listening(port);
    let call = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
            .args(["--bind", "127.0.0.1:0"]),
    );
    std::thread::sleep(Duration::from_millis(1200));
    // SIGINT to exactly the process this test started.
    let status = Command::new("kill")
        .args(["-INT", &call.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let call = call.wait_with_output().unwrap();
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&call, icephone::exit::CALL.into());
    let events = json_lines(&call.stdout);
    assert!(events
        .iter()
        .any(|e| e["event"] == "call" && e["state"] == "ringing"));
    let answer_events = json_lines(&answer.stdout);
    assert!(
        answer_events.iter().any(|e| e["event"] == "call"
            && e["state"] == "ended"
            && e["reason"] == "caller cancelled"),
        "{answer_events:?}\n{}",
        String::from_utf8_lossy(&answer.stderr)
    );
}

/// Settings from a TOML file (`--config`), password included.
#[test]
fn register_with_a_config_file() {
    let (port, registrar) = registrar(true);
    let dir = std::env::temp_dir().join(format!("icephone-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("phone.toml");
    std::fs::write(
        &conf,
        format!(
            "aor = \"sip:carol@127.0.0.1:{port}\"\npassword = \"from-file\"\nbind = \"127.0.0.1:0\"\nexpires = 300\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["register", "--once", "--json", "--config"])
        .arg(&conf)
        .env_remove("ICEPHONE_PASSWORD")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let seen = registrar.join().unwrap();
    assert!(
        seen[0].contains("Expires: 300") || seen[0].contains("expires=300"),
        "{}",
        seen[0]
    );
    assert!(seen[1].contains("username=\"carol\""), "{}", seen[1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `answer --register`: registers (answering the challenge), reports it, then takes a call.
#[test]
fn answer_registers_first_then_takes_a_call() {
    let (reg_port, registrar) = registrar(true);
    let port = free_udp_port();
    let answer = answer_registering_dave(port, reg_port, "120");
    let seen = registrar.join().unwrap();
    assert_eq!(seen.len(), 2);
    let call = call_dave(port, "0.5");
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&call, 0);
    assert_exit(&answer, 0);
    let events = json_lines(&answer.stdout);
    let registered = events
        .iter()
        .position(|e| e["event"] == "registered")
        .expect("registered");
    let established = events
        .iter()
        .position(|e| e["event"] == "call" && e["state"] == "established")
        .expect("established");
    assert!(registered < established);
}

/// A registrar that challenges the first REGISTER, then grants every one `expires` seconds
/// (echoing Expires 0 for a removal) until it has been idle for 3 s.
fn serving_registrar(expires: u32) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    udp_registrar(Duration::from_secs(3), move |req, seen| {
        let removal = req.headers.get("Expires").map(str::trim) == Some("0");
        let response = if seen == 1 {
            challenge(req)
        } else {
            grant(req, if removal { 0 } else { expires })
        };
        (response, false)
    })
}

/// `answer --register` reports every refresh in `--json` (not only the first
/// registration), and removes its binding (Expires: 0) when it exits.
#[test]
fn answer_reports_refreshes_and_unregisters_on_exit() {
    let events = refreshes_and_unregistration(&[]);
    assert!(events.iter().all(|e| e.get("call").is_none()), "{events:?}");
}

/// The same with `--max-calls 2`: registration lives on the user agent's main handle
/// while the call runs on its own; only the call's events carry `call`.
#[test]
fn a_multi_call_answer_reports_refreshes_and_unregisters_on_exit() {
    let events = refreshes_and_unregistration(&["--max-calls", "2"]);
    for e in &events {
        if e["event"] == "registered" {
            assert!(e.get("call").is_none(), "{e}");
        } else {
            assert_eq!(e["call"], 1, "{e}");
        }
    }
}

/// `answer --register --expires 2` (with `extra` flags) takes a 2.5 s call: refreshes are
/// reported, the binding is removed on exit. Returns the answerer's events.
fn refreshes_and_unregistration(extra: &[&str]) -> Vec<serde_json::Value> {
    let (reg_port, registrar) = serving_registrar(2);
    let port = free_udp_port();
    let answer = answer_registering_dave_with(port, reg_port, "2", extra);
    process::wait_listening(port);
    let call = call_dave(port, "2.5");
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&call, 0);
    assert_exit(&answer, 0);
    let events = json_lines(&answer.stdout);
    let expiries: Vec<i64> = events
        .iter()
        .filter(|e| e["event"] == "registered")
        .filter_map(|e| e["expires"].as_i64())
        .collect();
    // The first registration, at least one refresh (every ~1 s), and the removal last.
    assert!(
        expiries.iter().filter(|e| **e == 2).count() >= 2,
        "{expiries:?}"
    );
    assert_eq!(expiries.last(), Some(&0), "{expiries:?}");
    let seen = registrar.join().unwrap();
    assert!(
        seen.last().is_some_and(|r| r
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("expires: 0"))),
        "{:?}",
        seen.last()
    );
    events
}

/// `call` from `user` to bob on `port` with `--json`, started (not waited for).
fn call_bob_from(user: &str, port: u16, duration: &str) -> Child {
    spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
            .args(["--bind", "127.0.0.1:0", "--aor"])
            .arg(format!("sip:{user}@127.0.0.1"))
            .args(["--tone", "500", "--duration", duration]),
    )
}

/// A caller of a concurrent call: exit 0, ICE selected a pair, media came back.
#[track_caller]
fn assert_call_with_media(out: &Output, who: &str) {
    assert_exit(out, 0);
    let events = json_lines(&out.stdout);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "ice" && e["state"] == "selected"),
        "{who}: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "media" && e["rtp_received"].as_u64().unwrap_or(0) > 10),
        "{who}: {events:?}"
    );
}

/// `answer --max-calls 2`: two calls at once, each with its own ICE and media, told apart by
/// the `call` field; a third INVITE while both are up gets 486 Busy Here (RFC 3261
/// §21.4.24); once they end, a later call is answered again (`--calls 3` counts the three
/// answered calls).
#[test]
fn answer_takes_two_calls_at_once_and_turns_a_third_away_busy() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("icephone-multicall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_udp_port();
    let mut answer = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--json", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--aor", "sip:bob@127.0.0.1", "--tone", "700"])
            .args(["--max-calls", "2", "--calls", "3", "--record"])
            .arg(dir.join("answer.wav")),
    );
    // The answerer's events as they come, so the third call starts while two are up.
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    let stdout = answer.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = line_tx.send(line);
        }
    });
    let mut answer_lines = Vec::new();
    process::wait_listening(port);
    let alice = call_bob_from("alice", port, "4");
    let carol = call_bob_from("carol", port, "4");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let established = |lines: &[String]| {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "call" && e["state"] == "established")
            .count()
    };
    while established(&answer_lines) < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match line_rx.recv_timeout(left) {
            Ok(line) => answer_lines.push(line),
            Err(_) => panic!("two calls were not established: {answer_lines:?}"),
        }
    }
    let busy = call_bob_from("mallory", port, "1")
        .wait_with_output()
        .unwrap();
    assert_exit(&busy, 4);
    let busy_events = json_lines(&busy.stdout);
    assert!(
        busy_events
            .iter()
            .any(|e| e["event"] == "call" && e["state"] == "failed" && e["status"] == 486),
        "{busy_events:?}"
    );
    let alice = alice.wait_with_output().unwrap();
    let carol = carol.wait_with_output().unwrap();
    assert_call_with_media(&alice, "alice");
    assert_call_with_media(&carol, "carol");
    // Both slots are free again: the third answered call.
    let dave = call_bob_from("dave", port, "1").wait_with_output().unwrap();
    assert_call_with_media(&dave, "dave");
    let answer = answer.wait_with_output().unwrap();
    reader.join().unwrap();
    answer_lines.extend(line_rx.try_iter());
    assert_exit(&answer, 0);
    let events: Vec<serde_json::Value> = answer_lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let position = |call: u64, state: &str| {
        events
            .iter()
            .position(|e| e["event"] == "call" && e["state"] == state && e["call"] == call)
            .unwrap_or_else(|| panic!("no {state} for call {call}: {events:?}"))
    };
    // Overlap: both calls established before either ended.
    let last_established = position(1, "established").max(position(2, "established"));
    let first_ended = position(1, "ended").min(position(2, "ended"));
    assert!(last_established < first_ended, "{events:?}");
    // Call 3 (dave) came after both ended; the 486'd INVITE never became a call.
    assert!(
        position(3, "established")
            > first_ended.max(position(2, "ended").max(position(1, "ended")))
    );
    for call in 1..=3u64 {
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "ice" && e["state"] == "selected" && e["call"] == call),
            "call {call}: {events:?}"
        );
        assert!(
            events.iter().any(|e| e["event"] == "media"
                && e["call"] == call
                && e["rtp_received"].as_u64().unwrap_or(0) > 10),
            "call {call}: {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .all(|e| e["call"].as_u64().is_some_and(|c| (1..=3).contains(&c))),
        "{events:?}"
    );
    // Each call's own media sockets: the selected local candidates differ.
    let local_of = |call: u64| {
        events
            .iter()
            .find(|e| e["event"] == "ice" && e["state"] == "selected" && e["call"] == call)
            .map(|e| e["local"]["address"].clone())
    };
    assert_ne!(local_of(1), local_of(2));
    // `--record` keeps one file per call, each with its caller's tone.
    for call in 1..=3 {
        let recorded = wav::read(&dir.join(format!("answer-{call}.wav")))
            .unwrap()
            .samples;
        assert!(tone_ratio(&recorded, 500.0, 8000.0) > 0.5, "call {call}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `answer --max-calls 2`, Ctrl-C with two calls up: both calls hang up (BYE), no further
/// call is awaited (`--calls 3` is not reached), and the answerer exits 0.
#[test]
fn ctrl_c_hangs_up_every_concurrent_call() {
    use std::io::BufRead;
    let port = free_udp_port();
    let mut answer = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--json"])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args([
                "--aor",
                "sip:bob@127.0.0.1",
                "--max-calls",
                "2",
                "--calls",
                "3",
            ]),
    );
    let stdout = answer.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    process::wait_listening(port);
    let alice = call_bob_from("alice", port, "30");
    let carol = call_bob_from("carol", port, "30");
    let mut seen = Vec::new();
    let mut established = 0;
    while established < 2 {
        let line = lines.next().expect("answerer output").unwrap();
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        if e["event"] == "call" && e["state"] == "established" {
            established += 1;
        }
        seen.push(e);
    }
    // SIGINT to exactly the process this test started.
    let status = Command::new("kill")
        .args(["-INT", &answer.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    seen.extend(lines.map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap()));
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&answer, 0);
    for call in [1, 2] {
        assert!(
            seen.iter().any(|e| e["event"] == "call"
                && e["state"] == "ended"
                && e["call"] == call
                && e["reason"] == "hung up (Ctrl-C)"),
            "call {call}: {seen:?}"
        );
    }
    for (who, caller) in [("alice", alice), ("carol", carol)] {
        let out = caller.wait_with_output().unwrap();
        let events = json_lines(&out.stdout);
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "call" && e["state"] == "ended"),
            "{who}: {events:?}"
        );
    }
}

/// Issue 14 item 4, the voice hammer (RFC 5245 §18.5.1): an unauthenticated INVITE without
/// ICE whose c=/m= names a third party, never ACKed, gets no media sent to that third party,
/// and the call ends when the 2xx retransmissions time out (64·T1).
#[test]
fn an_unacked_invite_without_ice_sends_no_media_to_its_c_line() {
    const T1_MS: u64 = 50;
    let port = free_udp_port();
    let answer = spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--json", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--aor", "sip:bob@127.0.0.1", "--tone", "500"])
            .args(["--calls", "1"])
            .args(["--t1-ms", &T1_MS.to_string()]),
    );
    process::wait_listening(port);
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sip_port = sip.local_addr().unwrap().port();
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    let victim_port = victim.local_addr().unwrap().port();
    let body = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {victim_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let invite = format!(
        "INVITE sip:bob@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK-hammer-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:mallory@127.0.0.1>;tag=m1\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: hammer-1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:mallory@127.0.0.1:{sip_port}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let sent_at = std::time::Instant::now();
    sip.send_to(invite.as_bytes(), ("127.0.0.1", port)).unwrap();
    // Watch both sockets for 64·T1 and a margin; answer a BYE, never ACK the 200.
    let window = Duration::from_millis(64 * T1_MS + 1500);
    sip.set_nonblocking(true).unwrap();
    victim.set_nonblocking(true).unwrap();
    let (mut victim_bytes, mut oks, mut last_ok) = (0usize, 0, None);
    let mut buf = [0u8; 65535];
    while sent_at.elapsed() < window {
        while let Ok((n, _)) = victim.recv_from(&mut buf) {
            victim_bytes += n;
        }
        while let Ok((n, from)) = sip.recv_from(&mut buf) {
            match parse_datagram(&buf[..n]) {
                Ok(Message::Response(r)) if r.status == 200 => {
                    oks += 1;
                    last_ok = Some(sent_at.elapsed());
                }
                Ok(Message::Request(req)) if req.method.as_str() == "BYE" => {
                    let ok = Response::for_request(&req, 200, "OK");
                    let _ = sip.send_to(&ok.to_bytes(), from);
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut answer = answer;
    let exited = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        answer.try_wait().unwrap().is_some()
    });
    if !exited {
        let _ = answer.kill();
    }
    let out = answer.wait_with_output().unwrap();
    assert!(oks >= 2, "the 200 was sent {oks} time(s)");
    assert!(
        victim_bytes <= invite.len(),
        "{victim_bytes} bytes of media reached the third party for a {}-byte INVITE",
        invite.len()
    );
    let last_ok = last_ok.unwrap();
    assert!(
        last_ok <= Duration::from_millis(64 * T1_MS),
        "200 retransmitted until {last_ok:?}"
    );
    assert!(
        exited,
        "answer still running after {window:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    assert!(
        events.iter().any(|e| e["event"] == "call"
            && e["state"] == "ended"
            && e["reason"].as_str().is_some_and(|r| r.contains("ACK"))),
        "{events:?}"
    );
}
