//! Interop with sipp (Debian package sip-tester, installed by ./test.sh), over UDP and TCP:
//! sipp's built-in `uac` calls our auto-answering UAS, and sipp's built-in `uas` answers
//! our UAC. sipp's exit code must be 0 and our endpoint must see the whole call.

mod sip_support;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use icephone::sip_driver::SipDriver;
use sip::endpoint::{SipEvent, TerminationReason, TransportKind};
use sip_support::{body, driver, wait_for};

const SIPP: &str = "/usr/bin/sipp";

/// Kills sipp by PID if it is still running when the test ends.
struct SippGuard {
    child: Child,
    dir: PathBuf,
}

impl Drop for SippGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SippGuard {
    /// Waits (bounded by 30 s) for sipp to exit; returns its code and error log.
    async fn finish(&mut self) -> (Option<i32>, String) {
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status.code(), self.errors());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sipp did not exit within 30 s; errors: {}", self.errors());
    }

    /// sipp's error log and message trace, for failure messages.
    fn errors(&self) -> String {
        let errors = std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default();
        let messages = std::fs::read_to_string(self.dir.join("messages.log")).unwrap_or_default();
        format!("errors:\n{errors}\nmessages:\n{messages}")
    }
}

fn require_sipp() {
    assert!(
        Path::new(SIPP).exists(),
        "sipp is missing at {SIPP}: run ./test.sh (it installs the sip-tester package)"
    );
}

/// A port free for both UDP and TCP on 127.0.0.1 (checked, then released for sipp).
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

fn spawn_sipp(args: &[String], tag: &str) -> SippGuard {
    require_sipp();
    let dir = std::env::temp_dir().join(format!("icephone-sipp-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let error_file = dir.join("errors.log");
    let message_file = dir.join("messages.log");
    let child = Command::new(SIPP)
        .args(args)
        .args([
            "-nostdin",
            "-m",
            "1",
            "-timeout",
            "20s",
            "-timeout_error",
            "-trace_err",
            "-error_file",
        ])
        .arg(&error_file)
        .args(["-trace_msg", "-message_file"])
        .arg(&message_file)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp");
    SippGuard { child, dir }
}

fn transport_flag(transport: TransportKind) -> &'static str {
    match transport {
        TransportKind::Udp => "u1",
        TransportKind::Tcp => "t1",
        TransportKind::Tls => unreachable!("sipp runs over UDP and TCP here"),
    }
}

/// `-sf` with a scenario file under tests/sipp/.
fn scenario_file_args(file: &str) -> Vec<String> {
    vec![
        "-sf".into(),
        format!("{}/tests/sipp/{file}", env!("CARGO_MANIFEST_DIR")),
    ]
}

/// The scenario arguments followed by sipp's own address, port and transport.
fn sipp_args(scenario_args: Vec<String>, transport: TransportKind, port: u16) -> Vec<String> {
    scenario_args
        .into_iter()
        .chain([
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-t".into(),
            transport_flag(transport).into(),
        ])
        .collect()
}

/// Starts a sipp UAS on a free port and waits until it holds that port.
async fn start_sipp_uas(
    transport: TransportKind,
    scenario_args: Vec<String>,
    tag: &str,
) -> (SippGuard, u16) {
    let port = free_port();
    let sipp = spawn_sipp(&sipp_args(scenario_args, transport, port), tag);
    wait_until_bound(transport, port, &sipp).await;
    (sipp, port)
}

/// The request URI of the sipp UAS on `port`.
fn sipp_target(transport: TransportKind, port: u16) -> String {
    match transport {
        TransportKind::Udp => format!("sip:service@127.0.0.1:{port}"),
        TransportKind::Tcp => format!("sip:service@127.0.0.1:{port};transport=tcp"),
        TransportKind::Tls => unreachable!("sipp runs over UDP and TCP here"),
    }
}

/// Waits for sipp to exit and asserts its exit code is 0.
async fn assert_sipp_succeeds(sipp: &mut SippGuard, what: &str, transport: TransportKind) {
    let (code, errors) = sipp.finish().await;
    assert_eq!(
        code,
        Some(0),
        "sipp {what} failed over {transport:?}: {errors}"
    );
}

/// Waits until our dialog ends for `reason`.
async fn wait_terminated(d: &mut SipDriver, what: &str, reason: TerminationReason) {
    wait_for(
        d,
        what,
        |e| matches!(e, SipEvent::DialogTerminated { reason: r, .. } if *r == reason),
    )
    .await;
}

/// Asserts that one of the events `seen` matches `pattern`.
macro_rules! assert_seen {
    ($seen:expr, $pattern:pat) => {
        assert!($seen.iter().any(|e| matches!(e, $pattern)), "{:?}", $seen)
    };
}

/// Answers every call with 200 and a dummy opaque body; collects events until the call
/// ends (bounded).
async fn auto_answer(mut bob: SipDriver, call_status: u16) -> (SipDriver, Vec<SipEvent>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(event) = bob.next_event_timeout(left).await else {
            break;
        };
        let answer = match &event {
            SipEvent::IncomingCall { incoming, .. } => Some((*incoming, call_status)),
            SipEvent::IncomingReinvite { incoming, .. }
            | SipEvent::IncomingUpdate { incoming, .. } => Some((*incoming, 200)),
            _ => None,
        };
        if let Some((incoming, status)) = answer {
            let body = (status == 200).then(|| body("icephone"));
            bob.command(move |ep, now| ep.respond(now, incoming, status, body))
                .await
                .unwrap()
                .unwrap();
        }
        let done = matches!(event, SipEvent::DialogTerminated { .. });
        seen.push(event);
        if done {
            break;
        }
    }
    (bob, seen)
}

async fn sipp_calls_us(transport: TransportKind) {
    let seen = sipp_calls_us_with(transport, None, 200).await;
    assert_call_then_remote_bye(&seen);
}

fn assert_call_then_remote_bye(seen: &[SipEvent]) {
    assert_seen!(seen, SipEvent::IncomingCall { body: Some(_), .. });
    assert_seen!(seen, SipEvent::AckReceived { .. });
    assert_seen!(seen, SipEvent::ByeReceived { .. });
    assert_seen!(
        seen,
        SipEvent::DialogTerminated {
            reason: TerminationReason::RemoteBye,
            ..
        }
    );
}

/// sipp as UAC (the built-in `uac`, or a scenario file under tests/sipp/) against our
/// UAS, which answers new calls with `call_status`. Asserts sipp's exit code 0 and
/// returns our events.
async fn sipp_calls_us_with(
    transport: TransportKind,
    scenario_file: Option<&str>,
    call_status: u16,
) -> Vec<SipEvent> {
    let bob = driver("sip:service@127.0.0.1", transport, |_| {}).await;
    let ours = match transport {
        TransportKind::Udp => bob.udp_local().unwrap(),
        TransportKind::Tcp => bob.tcp_local().unwrap(),
        TransportKind::Tls => unreachable!("sipp runs over UDP and TCP here"),
    };
    let answering = tokio::spawn(auto_answer(bob, call_status));
    let port = free_port();
    let scenario: Vec<String> = match scenario_file {
        None => vec!["-sn".into(), "uac".into()],
        Some(file) => scenario_file_args(file),
    };
    let mut args = sipp_args(scenario, transport, port);
    args.extend(["-s".into(), "service".into(), ours.to_string()]);
    let mut sipp = spawn_sipp(
        &args,
        &format!("uac-{}-{transport:?}", scenario_file.unwrap_or("builtin")),
    );
    let (code, errors) = sipp.finish().await;
    let (bob, seen) = tokio::time::timeout(Duration::from_secs(30), answering)
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(
        code,
        Some(0),
        "sipp uac failed over {transport:?}: {errors}\nour events: {seen:?}"
    );
    bob.shutdown(Duration::from_millis(50)).await;
    seen
}

async fn we_call_sipp(transport: TransportKind) {
    we_call_sipp_scenario(transport, Scenario::BuiltInUas).await;
}

/// Which sipp UAS answers our call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// `-sn uas`: 180, 200, wait for BYE.
    BuiltInUas,
    /// `-sn uas` called with an INVITE without SDP: its 200 carries the offer and our
    /// ACK the answer.
    BuiltInUasOfferless,
    /// `tests/sipp/uas_digest.xml`: 401 first, 200 only for valid credentials.
    Digest,
    /// `tests/sipp/uas_cancel.xml`: rings and expects our CANCEL.
    Cancel,
}

async fn we_call_sipp_scenario(transport: TransportKind, scenario: Scenario) {
    let scenario_args: Vec<String> = match scenario {
        Scenario::BuiltInUas | Scenario::BuiltInUasOfferless => vec!["-sn".into(), "uas".into()],
        Scenario::Digest => scenario_file_args("uas_digest.xml"),
        Scenario::Cancel => scenario_file_args("uas_cancel.xml"),
    };
    if scenario == Scenario::Cancel {
        return cancel_sipp(transport, scenario_args).await;
    }
    let (mut sipp, port) = start_sipp_uas(
        transport,
        scenario_args,
        &format!("uas-{scenario:?}-{transport:?}"),
    )
    .await;
    let mut alice = driver("sip:alice@127.0.0.1", transport, |c| {
        c.credentials = Some(sip::auth::Credentials {
            username: "alice".into(),
            password: "secret".into(),
        });
    })
    .await;
    let target = sipp_target(transport, port);
    let a = alice
        .command(move |ep, now| {
            let offer = (scenario != Scenario::BuiltInUasOfferless).then(|| body("alice"));
            ep.invite(now, &target, offer)
        })
        .await
        .unwrap()
        .unwrap();
    // Shorter than wait_for's own bound, so a silent sipp shows its trace.
    let (event, before) = match tokio::time::timeout(
        Duration::from_secs(8),
        wait_for(&mut alice, "sipp's 200", |e| {
            matches!(
                e,
                SipEvent::CallAnswered { .. } | SipEvent::DialogTerminated { .. }
            )
        }),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => panic!("no answer from sipp; {}", sipp.errors()),
    };
    assert!(
        matches!(event, SipEvent::CallAnswered { dialog, status: 200, .. } if dialog == a),
        "{event:?}; sipp {}",
        sipp.errors()
    );
    if scenario == Scenario::BuiltInUasOfferless {
        assert!(
            matches!(event, SipEvent::CallAnswered { body: Some(_), .. }),
            "{event:?}"
        );
        alice
            .command(move |ep, now| ep.ack_with_body(now, a, body("answer")))
            .await
            .unwrap()
            .unwrap();
    }
    if scenario == Scenario::BuiltInUas {
        assert!(
            before
                .iter()
                .any(|e| matches!(e, SipEvent::CallProgress { status: 180, .. })),
            "{before:?}"
        );
    }
    alice
        .command(move |ep, now| ep.bye(now, a))
        .await
        .unwrap()
        .unwrap();
    wait_terminated(&mut alice, "BYE answered", TerminationReason::LocalBye).await;
    assert_sipp_succeeds(&mut sipp, "uas", transport).await;
    alice.shutdown(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn sipp_uac_calls_our_uas_over_udp() {
    sipp_calls_us(TransportKind::Udp).await;
}

#[tokio::test]
async fn sipp_uac_calls_our_uas_over_tcp() {
    sipp_calls_us(TransportKind::Tcp).await;
}

#[tokio::test]
async fn our_uac_calls_sipp_uas_over_udp() {
    we_call_sipp(TransportKind::Udp).await;
}

#[tokio::test]
async fn our_uac_calls_sipp_uas_over_tcp() {
    we_call_sipp(TransportKind::Tcp).await;
}

#[tokio::test]
async fn our_uac_answers_sipp_digest_challenge_over_udp() {
    we_call_sipp_scenario(TransportKind::Udp, Scenario::Digest).await;
}

#[tokio::test]
async fn our_uac_answers_sipp_digest_challenge_over_tcp() {
    we_call_sipp_scenario(TransportKind::Tcp, Scenario::Digest).await;
}

async fn sipp_reinvites_and_updates_us(transport: TransportKind) {
    let seen = sipp_calls_us_with(transport, Some("uac_reinvite_update.xml"), 200).await;
    assert_call_then_remote_bye(&seen);
    assert_seen!(seen, SipEvent::IncomingReinvite { body: Some(_), .. });
    assert_seen!(seen, SipEvent::IncomingUpdate { body: Some(_), .. });
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, SipEvent::AckReceived { .. }))
            .count(),
        2,
        "{seen:?}"
    );
}

async fn sipp_cancels_our_ringing_uas(transport: TransportKind) {
    let seen = sipp_calls_us_with(transport, Some("uac_cancel.xml"), 180).await;
    assert_seen!(seen, SipEvent::CancelReceived { .. });
    assert_seen!(
        seen,
        SipEvent::DialogTerminated {
            reason: TerminationReason::Cancelled,
            ..
        }
    );
}

#[tokio::test]
async fn sipp_uac_cancels_our_uas_over_udp() {
    sipp_cancels_our_ringing_uas(TransportKind::Udp).await;
}

#[tokio::test]
async fn sipp_uac_cancels_our_uas_over_tcp() {
    sipp_cancels_our_ringing_uas(TransportKind::Tcp).await;
}

#[tokio::test]
async fn sipp_uac_reinvite_and_update_over_udp() {
    sipp_reinvites_and_updates_us(TransportKind::Udp).await;
}

#[tokio::test]
async fn sipp_uac_reinvite_and_update_over_tcp() {
    sipp_reinvites_and_updates_us(TransportKind::Tcp).await;
}

/// Our UAC calls a ringing sipp UAS and cancels once it rings.
async fn cancel_sipp(transport: TransportKind, scenario_args: Vec<String>) {
    let (mut sipp, port) = start_sipp_uas(
        transport,
        scenario_args,
        &format!("uas-cancel-{transport:?}"),
    )
    .await;
    let mut alice = driver("sip:alice@127.0.0.1", transport, |_| {}).await;
    let target = sipp_target(transport, port);
    let a = alice
        .command(move |ep, now| ep.invite(now, &target, Some(body("alice"))))
        .await
        .unwrap()
        .unwrap();
    wait_for(&mut alice, "180 from sipp", |e| {
        matches!(e, SipEvent::CallProgress { status: 180, .. })
    })
    .await;
    alice
        .command(move |ep, now| ep.cancel(now, a))
        .await
        .unwrap()
        .unwrap();
    wait_terminated(&mut alice, "487 after CANCEL", TerminationReason::Cancelled).await;
    assert_sipp_succeeds(&mut sipp, "uas_cancel", transport).await;
    alice.shutdown(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn our_uac_cancels_ringing_sipp_over_udp() {
    we_call_sipp_scenario(TransportKind::Udp, Scenario::Cancel).await;
}

#[tokio::test]
async fn our_uac_cancels_ringing_sipp_over_tcp() {
    we_call_sipp_scenario(TransportKind::Tcp, Scenario::Cancel).await;
}

/// Waits (bounded, 5 s) until sipp holds `port`.
async fn wait_until_bound(transport: TransportKind, port: u16, sipp: &SippGuard) {
    // The port must be held by *this* sipp (`ss -p` names the owner): a port that is merely
    // busy may be another test's probe socket, and an INVITE sent before sipp listens now
    // fails at once on the ICMP port unreachable (RFC 3261 §18.4) instead of being resent.
    let pid = format!("pid={},", sipp.child.id());
    let flags = match transport {
        TransportKind::Udp => "-Hlunp",
        TransportKind::Tcp => "-Hltnp",
        TransportKind::Tls => unreachable!("sipp runs over UDP and TCP here"),
    };
    for _ in 0..100 {
        let held = std::process::Command::new("ss")
            .args([flags, &format!("sport = :{port}")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(&pid))
            .unwrap_or(false);
        if held {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sipp did not bind 127.0.0.1:{port}: {}", sipp.errors());
}

#[tokio::test]
async fn our_offerless_invite_to_sipp_uas_over_udp() {
    we_call_sipp_scenario(TransportKind::Udp, Scenario::BuiltInUasOfferless).await;
}

#[tokio::test]
async fn our_offerless_invite_to_sipp_uas_over_tcp() {
    we_call_sipp_scenario(TransportKind::Tcp, Scenario::BuiltInUasOfferless).await;
}
