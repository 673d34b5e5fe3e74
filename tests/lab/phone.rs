//! icephone as a process inside the lab: started with `--json`, its NDJSON events read from
//! its stdout file, waited for with a bound, killed (by PID) when a test gives up.

use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Lab, KAMAILIO, TURN};

/// The binary under test.
pub const ICEPHONE: &str = env!("CARGO_BIN_EXE_icephone");

/// Exit codes (README "Exit codes").
pub const EXIT_OK: i32 = 0;
pub const EXIT_ICE_FAILED: i32 = 5;

/// Account flags for a lab user: AOR in the proxy's domain, digest password, Kamailio as
/// the outbound proxy and registrar.
pub fn account(user: &str, password: &str) -> Vec<String> {
    vec![
        "--aor".into(),
        format!("sip:{user}@icephone.test"),
        "--password".into(),
        password.into(),
        "--proxy".into(),
        format!("{KAMAILIO}:5060"),
    ]
}

/// coturn as the STUN server.
pub fn stun() -> Vec<String> {
    vec!["--stun".into(), format!("{TURN}:3478")]
}

/// coturn as STUN and TURN server with a lab user's long-term credentials.
pub fn stun_turn(user: &str, password: &str) -> Vec<String> {
    let mut v = stun();
    v.extend([
        "--turn".into(),
        format!("{TURN}:3478"),
        "--turn-user".into(),
        user.into(),
        "--turn-password".into(),
        password.into(),
    ]);
    v
}

/// A running icephone.
pub struct Phone {
    name: String,
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Phone {
    /// Starts `icephone ARGS --json` in `role`'s namespace; killed after `limit` at the latest.
    pub fn start(lab: &Lab, role: &str, name: &str, args: &[String], limit: Duration) -> Phone {
        let mut argv: Vec<&str> = vec![ICEPHONE];
        argv.extend(args.iter().map(String::as_str));
        argv.push("--json");
        let child = lab.spawn_split(role, &argv, name, limit);
        Phone {
            name: name.into(),
            child,
            out: lab.run_dir().join(format!("{name}.out")),
            err: lab.run_dir().join(format!("{name}.err")),
        }
    }

    /// Every complete event line written so far.
    pub fn events(&self) -> Vec<Value> {
        parse_events(&fs::read_to_string(&self.out).unwrap_or_default())
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits (bounded) for an event that `pred` accepts; panics with the phone's output if
    /// none comes or the phone exits first.
    pub fn wait_event(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited {
                // One last look: the event may have been written just before exiting.
                if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                    return e;
                }
            }
            assert!(
                !exited && Instant::now() < deadline,
                "{}: the awaited event did not come ({}); events:\n{}\nstderr:\n{}",
                self.name,
                if exited { "it exited" } else { "timed out" },
                self.events()
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) for the process to exit; returns its exit code and events. On
    /// timeout the process is killed (by PID) and the test fails.
    pub fn finish(mut self, limit: Duration) -> (i32, Vec<Value>) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // `timeout` (our parent wrapper) reports 124 when it had to kill.
                let code = status.code().unwrap_or(-1);
                return (code, self.events());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not finish within {limit:?}; events:\n{}\nstderr:\n{}",
                    self.name,
                    self.events()
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        // A phone a failing test left behind: end it (our own child, by PID).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn parse_events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// The first event of `kind` (and `state`, when given).
pub fn find<'a>(events: &'a [Value], kind: &str, state: Option<&str>) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["event"] == kind && state.is_none_or(|s| e["state"] == s))
}

/// The first event of `kind`/`state`, or a panic that shows all events.
pub fn expect<'a>(events: &'a [Value], kind: &str, state: Option<&str>, who: &str) -> &'a Value {
    find(events, kind, state).unwrap_or_else(|| {
        panic!(
            "{who}: no `{kind}` event{}; events:\n{}",
            state
                .map(|s| format!(" with state {s}"))
                .unwrap_or_default(),
            events
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// (local type, local address, remote type, remote address) of the selected pair.
pub fn selected_pair(events: &[Value], who: &str) -> (String, String, String, String) {
    let e = expect(events, "ice", Some("selected"), who);
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&e["local"]["type"]),
        s(&e["local"]["address"]),
        s(&e["remote"]["type"]),
        s(&e["remote"]["address"]),
    )
}

/// The `media` summary's counter `field`.
pub fn media_count(events: &[Value], field: &str, who: &str) -> u64 {
    expect(events, "media", None, who)[field]
        .as_u64()
        .unwrap_or_default()
}

/// The candidates the phone gathered: (type, address), and its signalled default.
pub fn candidates(events: &[Value], who: &str) -> (Vec<(String, String)>, String) {
    let e = expect(events, "candidates", None, who);
    let list = e["candidates"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["type"].as_str().unwrap_or_default().to_owned(),
                        c["address"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (list, e["default"].as_str().unwrap_or_default().to_owned())
}

/// Splits "IP:port".
pub fn ip_port(addr: &str) -> (String, u16) {
    let (ip, port) = addr
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("not an IP:port: {addr:?}"));
    (
        ip.to_owned(),
        port.parse()
            .unwrap_or_else(|e| panic!("bad port in {addr:?}: {e}")),
    )
}

/// One icephone call across two port-restricted NATs, by its own events: established, ICE
/// completed on a reflexive pair from `local_wan` to `remote_wan`, and at least `min_rtp`
/// RTP packets sent and received. Returns the selected pair's (local, remote) addresses.
pub fn assert_reflexive_call(
    events: &[Value],
    who: &str,
    (local_wan, remote_wan): (&str, &str),
    min_rtp: u64,
) -> (String, String) {
    expect(events, "call", Some("established"), who);
    expect(events, "ice", Some("completed"), who);
    let (lt, la, rt, ra) = selected_pair(events, who);
    assert!(
        matches!(lt.as_str(), "srflx" | "prflx") && matches!(rt.as_str(), "srflx" | "prflx"),
        "{who}: a reflexive pair across two port-restricted NATs: {lt} {la} -> {rt} {ra}"
    );
    assert!(
        la.starts_with(local_wan) && ra.starts_with(remote_wan),
        "{who}: {la} -> {ra}"
    );
    let sent = media_count(events, "rtp_sent", who);
    let received = media_count(events, "rtp_received", who);
    assert!(
        sent >= min_rtp && received >= min_rtp,
        "{who}: RTP sent {sent}, received {received} (want >= {min_rtp} each)"
    );
    (la, ra)
}

/// Events one per line, for failure messages.
pub fn event_lines(events: &[Value]) -> String {
    events
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Events one JSON object a line, for failure messages.
pub fn joined(events: &[Value]) -> String {
    events
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The median energy fraction of `freq` over 100 ms windows of 8 kHz audio that is not
/// silent (RMS above 100): near 1 for a clear tone, near 0 for noise or ciphertext read as
/// audio; 0 when fewer than ten windows carry sound.
pub fn median_tone(samples: &[i16], freq: f64) -> f64 {
    let mut ratios: Vec<f64> = samples
        .chunks_exact(800)
        .filter(|w| {
            let energy: f64 = w.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            (energy / w.len() as f64).sqrt() > 100.0
        })
        .map(|w| icephone::media::goertzel::tone_ratio(w, freq, 8000.0))
        .collect();
    if ratios.len() < 10 {
        return 0.0;
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}
