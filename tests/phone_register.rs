//! `icephone phone --accounts` registers every account (digest, RFC 3261 §22.2) with a
//! loopback registrar, reports it on the control socket, and removes both bindings at
//! `quit` (RFC 3261 §10.2.2: Expires 0).

mod phone_support;

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::json;
use sip::message::{parse_datagram, Message, Response};

use phone_support::{free_port, scratch, Control, Proc};

const T: Duration = Duration::from_secs(15);

/// A registrar thread: 401 with a challenge, then 200 granting 120 s; a removal (Expires
/// 0) gets a plain 200. It stops after `removals` removals or 20 s without a request, and
/// returns every request's text.
fn registrar(removals: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut removed = 0;
        let mut buf = [0u8; 65535];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(Message::Request(req)) = parse_datagram(&buf[..n]) else {
                continue;
            };
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let removal = req.headers.get("Expires").map(str::trim) == Some("0");
            let response = if req.headers.get("Authorization").is_none() {
                Response::for_request(&req, 401, "Unauthorized")
                    .with_to_tag("r1")
                    .with_header(
                        "WWW-Authenticate",
                        "Digest realm=\"test\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5",
                    )
            } else if removal {
                removed += 1;
                Response::for_request(&req, 200, "OK").with_to_tag("r1")
            } else {
                let contact = req.headers.get("Contact").unwrap_or("<sip:x@127.0.0.1>");
                Response::for_request(&req, 200, "OK")
                    .with_to_tag("r1")
                    .with_header("Contact", format!("{contact};expires=120"))
            };
            socket.send_to(&response.to_bytes(), from).unwrap();
            if removed >= removals {
                break;
            }
        }
        seen
    });
    (port, thread)
}

#[test]
fn every_account_registers_and_quit_removes_the_bindings() {
    let dir = scratch("phone-register");
    let (reg, registrar) = registrar(2);
    let accounts = dir.join("accounts.toml");
    std::fs::write(
        &accounts,
        format!(
            "[[account]]\nname = \"home\"\naor = \"sip:alice@127.0.0.1:{reg}\"\npassword = \"one\"\nbind = \"127.0.0.1:{}\"\n\n\
             [[account]]\nname = \"work\"\naor = \"sip:bob2@127.0.0.1:{reg}\"\npassword = \"two\"\nbind = \"127.0.0.1:{}\"\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let control = format!("tcp:127.0.0.1:{}", free_port());
    let accounts_arg = accounts.display().to_string();
    let mut a = Proc::start(
        &dir,
        "a",
        &[
            "phone",
            "--accounts",
            &accounts_arg,
            "--control",
            &control,
            "--outbound",
            "false",
        ],
    );
    let mut ctl = Control::connect(&control);
    // Both accounts register (the events may come before we connect: `accounts` says).
    let deadline = std::time::Instant::now() + T;
    loop {
        let r = ctl.command(json!({"command": "accounts"}));
        let text = r["text"].as_str().unwrap().to_owned();
        if text.matches("registered (120 s)").count() == 2 {
            assert!(
                text.contains("home sip:alice@") && text.contains("work sip:bob2@"),
                "{text}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not both registered: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ctl.command(json!({"command": "quit"}))["response"], "ok");
    assert_eq!(
        a.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        a.stderr()
    );
    let seen = registrar.join().unwrap();
    for user in ["alice", "bob2"] {
        let with_user: Vec<&String> = seen
            .iter()
            .filter(|r| r.contains(&format!("username=\"{user}\"")))
            .collect();
        assert!(
            with_user.iter().any(|r| !r.contains("Expires: 0")),
            "{user} registered: {seen:#?}"
        );
        assert!(
            with_user.iter().any(|r| r.contains("Expires: 0")),
            "{user}'s binding removed at quit: {seen:#?}"
        );
    }
}
