//! `icephone call` and a redirect server on loopback (RFC 3261 §8.1.3.4): the 302's
//! Contact is a real `icephone answer`, reached with the same ICE offer.

use std::net::UdpSocket;
use std::process::{Child, Command, Output};
use std::time::Duration;

use sip::message::{parse_datagram, Message, Response};

#[path = "support/process.rs"]
mod process;
use process::{assert_exit, free_udp_port, json_lines, spawn_captured};

/// A redirect server: every INVITE gets `302 Moved Temporarily` with `contact`; it stops
/// after the ACK for its 302 (or 10 s without a request) and returns the methods seen.
fn redirect_server(contact: String) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut methods = Vec::new();
        let mut buf = [0u8; 65535];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(Message::Request(req)) = parse_datagram(&buf[..n]) else {
                continue;
            };
            let method = req.method.to_string();
            methods.push(method.clone());
            match method.as_str() {
                "INVITE" => {
                    let moved = Response::for_request(&req, 302, "Moved Temporarily")
                        .with_to_tag("redir1")
                        .with_header("Contact", contact.clone());
                    socket.send_to(&moved.to_bytes(), from).unwrap();
                }
                "ACK" => break,
                _ => {}
            }
        }
        methods
    });
    (port, handle)
}

fn answer_bob(port: u16) -> Child {
    spawn_captured(
        Command::new(env!("CARGO_BIN_EXE_icephone"))
            .args(["answer", "--calls", "1", "--json"])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--aor", "sip:bob@127.0.0.1"]),
    )
}

fn call(redirector: u16, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["call", &format!("sip:bob@127.0.0.1:{redirector}"), "--json"])
        .args(["--bind", "127.0.0.1:0", "--aor", "sip:alice@127.0.0.1"])
        .args(["--tone", "500", "--duration", "1.5"])
        .args(extra)
        .output()
        .unwrap()
}

fn call_states(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "call")
        .map(|e| e["state"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_302_is_followed_to_the_answering_phone_and_media_flows() {
    let answer_port = free_udp_port();
    let answer = answer_bob(answer_port);
    let contact = format!("<sip:bob@127.0.0.1:{answer_port}>");
    let (redirector, server) = redirect_server(contact);
    process::wait_listening(answer_port);
    let out = call(redirector, &[]);
    let answer = answer.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert_exit(&answer, 0);
    // The redirect server got our INVITE and the ACK for its 302 (RFC 3261 §17.1.1.3).
    assert_eq!(server.join().unwrap(), ["INVITE", "ACK"]);

    let events = json_lines(&out.stdout);
    let states = call_states(&events);
    let redirected = states.iter().position(|s| s == "redirected");
    let established = states.iter().position(|s| s == "established");
    assert!(
        matches!((redirected, established), (Some(r), Some(e)) if r < e),
        "{states:?}"
    );
    let redirect = events
        .iter()
        .find(|e| e["event"] == "call" && e["state"] == "redirected")
        .unwrap();
    assert_eq!(redirect["status"], 302);
    let reason = redirect["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("sip:bob@127.0.0.1:{redirector}"))
            && reason.contains(&format!("sip:bob@127.0.0.1:{answer_port}")),
        "{reason}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "ice" && e["state"] == "selected"));
    let media = events
        .iter()
        .find(|e| e["event"] == "media")
        .expect("a media summary");
    assert!(media["rtp_received"].as_u64().unwrap() > 10, "{media}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("call redirected") && l.contains("[302]")),
        "a human line on stderr:\n{stderr}"
    );
    // The callee got the very offer the redirect server saw and answered it.
    let answer_events = json_lines(&answer.stdout);
    assert!(answer_events
        .iter()
        .any(|e| e["event"] == "media" && e["rtp_received"].as_u64().unwrap_or(0) > 10));
}

#[test]
fn with_no_follow_redirects_a_302_fails_the_call_naming_the_contact() {
    // Nobody listens at the Contact: the call must not go there.
    let unused = free_udp_port();
    let contact = format!("<sip:bob@127.0.0.1:{unused}>");
    let (redirector, server) = redirect_server(contact);
    let out = call(redirector, &["--no-follow-redirects"]);
    assert_exit(&out, icephone::exit::CALL.into());
    assert_eq!(server.join().unwrap(), ["INVITE", "ACK"]);
    let events = json_lines(&out.stdout);
    let states = call_states(&events);
    assert_eq!(
        states.first().map(String::as_str),
        Some("failed"),
        "{states:?}"
    );
    assert!(
        !states
            .iter()
            .any(|s| s == "redirected" || s == "established"),
        "{states:?}"
    );
    let failed = events.iter().find(|e| e["event"] == "call").unwrap();
    assert_eq!(failed["status"], 302);
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.contains("not followed") && reason.contains(&format!("127.0.0.1:{unused}")),
        "{reason}"
    );
}
