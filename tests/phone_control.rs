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

    // ICE restart (RFC 8445 §9): new credentials, and a pair is selected again.
    let r = ctl.command(json!({"command": "restart-ice"}));
    assert_eq!(r["response"], "ok", "{r}");
    ctl.until(T, "ICE restarted", |v| {
        v["event"] == "ice" && v["call"] == 1 && v["state"] == "restarted"
    });
    ctl.until(T, "ICE selected after the restart", |v| ice_selected(v, 1));

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

/// Two accounts from `--accounts`, a call from the second, and a call that comes in during
/// it: announced, `answer` takes it, `switch` picks which call `hangup` goes to.
#[test]
fn accounts_and_a_second_call_while_talking() {
    let dir = scratch("phone-control-accounts");
    let (home, work, b_port, ctl_port) = (free_port(), free_port(), free_port(), free_port());
    let accounts = dir.join("accounts.toml");
    std::fs::write(
        &accounts,
        format!(
            "[[account]]\nname = \"home\"\naor = \"sip:alice@127.0.0.1\"\nbind = \"127.0.0.1:{home}\"\nregister = false\n\n\
             [[account]]\nname = \"work\"\naor = \"sip:alicework@127.0.0.1\"\nbind = \"127.0.0.1:{work}\"\nregister = false\n"
        ),
    )
    .unwrap();
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
    let control = format!("tcp:127.0.0.1:{ctl_port}");
    let accounts_arg = accounts.display().to_string();
    let mut a = Proc::start(
        &dir,
        "a",
        &["phone", "--accounts", &accounts_arg, "--control", &control],
    );
    let mut ctl = Control::connect(&control);
    let r = ctl.command(json!({"command": "accounts"}));
    assert_eq!(
        r["text"], "*1 home sip:alice@127.0.0.1 not registering\n 2 work sip:alicework@127.0.0.1 not registering",
        "{r}"
    );
    let r = ctl.command(json!({"command": "call", "uri": "sip:bob@127.0.0.1:1", "from": "nobody"}));
    assert_eq!(
        r["reason"], "no account named `nobody` (see `accounts`)",
        "{r}"
    );

    let uri = format!("sip:bob@127.0.0.1:{b_port}");
    let r = ctl.command(json!({"command": "call", "uri": uri, "from": "work"}));
    assert_eq!(r["call"], 1, "{r}");
    ctl.until(T, "call 1 established", |v| call_state(v, 1, "established"));
    // B was called from the work account.
    let incoming = b.wait_event(T, "B's incoming call", |v| {
        v["event"] == "call" && v["state"] == "incoming"
    });
    assert!(
        incoming["reason"]
            .as_str()
            .unwrap()
            .contains("sip:alicework@127.0.0.1"),
        "{incoming}"
    );

    // E calls the home account while call 1 is up, and is rejected (486 Busy Here).
    let e_bind = format!("127.0.0.1:{}", free_port());
    let home_uri = format!("sip:alice@127.0.0.1:{home}");
    let mut e = Proc::start(
        &dir,
        "e",
        &[
            "call",
            &home_uri,
            "--json",
            "--bind",
            &e_bind,
            "--duration",
            "30",
        ],
    );
    ctl.until(T, "call 2 incoming", |v| call_state(v, 2, "incoming"));
    let r = ctl.command(json!({"command": "reject"}));
    assert_eq!(r["call"], 2, "reject takes the ringing call: {r}");
    e.wait_event(T, "E's call refused with 486", |v| {
        v["event"] == "call" && v["state"] == "failed" && v["status"] == 486
    });
    assert_ne!(
        e.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        e.stderr()
    );
    ctl.seen_or_until(T, "call 2 failed", |v| call_state(v, 2, "failed"));

    // D calls the home account while call 1 is up.
    let d_bind = format!("127.0.0.1:{}", free_port());
    let mut d = Proc::start(
        &dir,
        "d",
        &[
            "call",
            &home_uri,
            "--json",
            "--bind",
            &d_bind,
            "--duration",
            "30",
        ],
    );
    ctl.until(T, "call 3 incoming", |v| call_state(v, 3, "incoming"));
    let r = ctl.command(json!({"command": "answer"}));
    assert_eq!(r["call"], 3, "answer takes the ringing call: {r}");
    ctl.until(T, "call 3 established", |v| call_state(v, 3, "established"));
    let r = ctl.command(json!({"command": "calls"}));
    let text = r["text"].as_str().unwrap();
    assert!(
        text.contains(" 1 established") && text.contains("*3 established"),
        "{text}"
    );

    let r = ctl.command(json!({"command": "switch", "call": 1}));
    assert_eq!(r["response"], "ok", "{r}");
    let r = ctl.command(json!({"command": "hangup"}));
    assert_eq!(r["call"], 1, "{r}");
    ctl.seen_or_until(T, "call 1 ended", |v| call_state(v, 1, "ended"));
    b.wait_event(T, "B's call ended", |v| {
        v["event"] == "call" && v["state"] == "ended"
    });
    // Call 3 is still up; now it gets the commands.
    let r = ctl.command(json!({"command": "hangup"}));
    assert_eq!(r["call"], 3, "{r}");
    ctl.seen_or_until(T, "call 3 ended", |v| call_state(v, 3, "ended"));
    assert_eq!(
        d.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        d.stderr()
    );

    assert_eq!(ctl.command(json!({"command": "quit"}))["response"], "ok");
    assert_eq!(
        a.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        a.stderr()
    );
}

/// A transfer whose target does not answer fails: A says so and keeps the call (RFC 3515
/// §2.4.5: the final NOTIFY carries the failure); `transfer` before the call is up is an
/// error.
#[test]
fn a_failed_transfer_keeps_the_call() {
    let dir = scratch("phone-control-xfer-fail");
    let (a_port, b_port, a_ctl, b_ctl_port) = (free_port(), free_port(), free_port(), free_port());
    let b_control = format!("tcp:127.0.0.1:{b_ctl_port}");
    let b_bind = format!("127.0.0.1:{b_port}");
    let mut b = Proc::start(
        &dir,
        "b",
        &[
            "phone",
            "--bind",
            &b_bind,
            "--aor",
            "sip:bob@127.0.0.1",
            "--control",
            &b_control,
        ],
    );
    let a_control = format!("tcp:127.0.0.1:{a_ctl}");
    let a_bind = format!("127.0.0.1:{a_port}");
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
            &a_control,
        ],
    );
    let mut actl = Control::connect(&a_control);
    let mut bctl = Control::connect(&b_control);
    let r = actl.command(json!({"command": "transfer", "uri": "sip:carol@127.0.0.1:1"}));
    assert_eq!(r["reason"], "no call (place one with `call URI`)", "{r}");

    let r = actl.command(json!({"command": "call", "uri": format!("sip:bob@127.0.0.1:{b_port}")}));
    assert_eq!(r["call"], 1, "{r}");
    bctl.until(T, "B's incoming call", |v| call_state(v, 1, "incoming"));
    assert_eq!(bctl.command(json!({"command": "answer"}))["call"], 1);
    actl.until(T, "A established", |v| call_state(v, 1, "established"));
    actl.until(T, "ICE selected at A", |v| ice_selected(v, 1));

    // Nothing listens on the target's port: B's new call fails (ICMP port unreachable).
    let nobody = free_port();
    let r = actl
        .command(json!({"command": "transfer", "uri": format!("sip:carol@127.0.0.1:{nobody}")}));
    assert_eq!(r["response"], "ok", "{r}");
    let failed = actl.until(T, "the transfer failed", |v| {
        v["event"] == "transfer" && matches!(v["state"].as_str(), Some("failed" | "succeeded"))
    });
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["status"].as_u64().unwrap() >= 300, "{failed}");
    bctl.seen_or_until(T, "B's call 2 failed", |v| call_state(v, 2, "failed"));
    // The call goes on: still established, and commands still reach it.
    let r = actl.command(json!({"command": "calls"}));
    assert!(
        r["text"].as_str().unwrap().starts_with("*1 established"),
        "{r}"
    );
    assert!(!actl.saw(|v| call_state(v, 1, "ended")), "{:#?}", actl.seen);
    assert_eq!(actl.command(json!({"command": "hangup"}))["response"], "ok");
    bctl.seen_or_until(T, "B's call 1 ended", |v| call_state(v, 1, "ended"));

    assert_eq!(actl.command(json!({"command": "quit"}))["response"], "ok");
    assert_eq!(bctl.command(json!({"command": "quit"}))["response"], "ok");
    assert_eq!(
        a.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        a.stderr()
    );
    assert_eq!(
        b.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        b.stderr()
    );
}
