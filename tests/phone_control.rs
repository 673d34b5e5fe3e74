//! `icephone phone --control`: the control socket driven by a script, on loopback. Phone A
//! calls `icephone answer` B through JSON commands, sends DTMF that B receives, hangs up;
//! the events come back as NDJSON and bad commands get error responses.

mod phone_support;

use std::time::Duration;

use serde_json::json;

use phone_support::{call_state, free_port, ice_selected, scratch, Control, Proc};

const T: Duration = Duration::from_secs(15);

#[test]
fn a_script_calls_sends_dtmf_and_hangs_up_over_tcp() {
    let dir = scratch("phone-control-tcp");
    let (a_port, b_port, ctl_port) = (free_port(), free_port(), free_port());
    let b_bind = format!("127.0.0.1:{b_port}");
    let b = Proc::start(
        &dir,
        "b",
        &[
            "answer",
            "--json",
            "--bind",
            &b_bind,
            "--aor",
            "sip:bob@127.0.0.1",
        ],
    );
    let a_bind = format!("127.0.0.1:{a_port}");
    let control = format!("tcp:127.0.0.1:{ctl_port}");
    let mut a = Proc::start(
        &dir,
        "a",
        &[
            "phone",
            "--bind",
            &a_bind,
            "--aor",
            "sip:alice@127.0.0.1",
            "--control",
            &control,
        ],
    );
    let mut ctl = Control::connect(&control);

    // Bad input: an error response with a reason, and the connection stays usable.
    let r = ctl.command(json!({"command": "frobnicate"}));
    assert_eq!(r["response"], "error");
    assert!(
        r["reason"].as_str().unwrap().contains("unknown command"),
        "{r}"
    );
    ctl.send(json!("not an object"));
    let r = ctl.until(T, "error for a non-object", |v| v.get("response").is_some());
    assert_eq!(r["response"], "error", "{r}");
    let r = ctl.command(json!({"command": "hangup"}));
    assert_eq!(r["response"], "error");
    assert!(r["reason"].as_str().unwrap().contains("no call"), "{r}");

    let uri = format!("sip:bob@127.0.0.1:{b_port}");
    let r = ctl.command(json!({"command": "call", "uri": uri}));
    assert_eq!(
        r,
        json!({"response": "ok", "call": 1, "text": format!("call 1: calling {uri}")})
    );
    ctl.until(T, "call 1 established", |v| call_state(v, 1, "established"));
    let selected = ctl.until(T, "ICE selected for call 1", |v| ice_selected(v, 1));
    assert_eq!(selected["local"]["type"], "host", "{selected}");

    let r = ctl.command(json!({"command": "dtmf", "digits": "12#"}));
    assert_eq!(r["response"], "ok", "{r}");
    // RFC 4733 digits arrive at B, in order.
    for digit in ["1", "2", "#"] {
        b.wait_event(T, &format!("DTMF {digit} at B"), |v| {
            v["event"] == "dtmf" && v["direction"] == "received" && v["digit"] == digit
        });
    }
    let received: Vec<String> = b
        .events()
        .iter()
        .filter(|v| v["event"] == "dtmf" && v["direction"] == "received")
        .map(|v| v["digit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received, ["1", "2", "#"]);

    let r = ctl.command(json!({"command": "calls"}));
    assert!(
        r["text"].as_str().unwrap().starts_with("*1 established"),
        "{r}"
    );
    let r = ctl.command(json!({"command": "hangup"}));
    assert_eq!(r["response"], "ok", "{r}");
    ctl.until(T, "call 1 ended", |v| call_state(v, 1, "ended"));
    b.wait_event(T, "B's call ended", |v| {
        v["event"] == "call" && v["state"] == "ended"
    });

    let r = ctl.command(json!({"command": "quit"}));
    assert_eq!(r, json!({"response": "ok", "text": "bye"}));
    assert_eq!(
        a.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        a.stderr()
    );
}

#[test]
fn the_unix_socket_takes_the_same_commands_and_tcp_must_be_loopback() {
    let dir = scratch("phone-control-unix");
    let sock = dir.join("phone.sock");
    let control = format!("unix:{}", sock.display());
    let a_bind = format!("127.0.0.1:{}", free_port());
    let mut a = Proc::start(
        &dir,
        "a",
        &[
            "phone",
            "--bind",
            &a_bind,
            "--aor",
            "sip:alice@127.0.0.1",
            "--control",
            &control,
        ],
    );
    let mut ctl = Control::connect(&control);
    assert_eq!(
        ctl.command(json!({"command": "calls"})),
        json!({"response": "ok", "text": "no calls"})
    );
    let r = ctl.command(json!({"command": "switch", "call": 3}));
    assert_eq!(r["reason"], "no call 3 (see `calls`)", "{r}");
    let r = ctl.command(json!({"command": "dtmf", "digits": "12x"}));
    assert!(r["reason"].as_str().unwrap().starts_with("dtmf:"), "{r}");
    let r = ctl.command(json!({"command": "quit"}));
    assert_eq!(r["response"], "ok");
    assert_eq!(
        a.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        a.stderr()
    );

    // No authentication on the socket: a non-loopback TCP address is a usage error.
    let mut bad = Proc::start(
        &dir,
        "bad",
        &[
            "phone",
            "--bind",
            "127.0.0.1:0",
            "--control",
            "tcp:0.0.0.0:5555",
        ],
    );
    assert_eq!(bad.wait_exit(Duration::from_secs(10)), Some(2));
    assert!(
        bad.stderr().contains("no authentication"),
        "{}",
        bad.stderr()
    );
}
