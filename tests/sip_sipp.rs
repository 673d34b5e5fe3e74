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

    fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default()
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
    }
}

/// Answers every call with 200 and a dummy opaque body; collects events until the call
/// ends (bounded).
async fn auto_answer(mut bob: SipDriver) -> (SipDriver, Vec<SipEvent>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(event) = bob.next_event_timeout(left).await else {
            break;
        };
        if let SipEvent::IncomingCall { incoming, .. } = &event {
            let incoming = *incoming;
            bob.command(move |ep, now| ep.respond(now, incoming, 200, Some(body("icephone"))))
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
    let bob = driver("sip:service@127.0.0.1", transport, |_| {}).await;
    let ours = match transport {
        TransportKind::Udp => bob.udp_local().unwrap(),
        TransportKind::Tcp => bob.tcp_local().unwrap(),
    };
    let answering = tokio::spawn(auto_answer(bob));
    let port = free_port();
    let args: Vec<String> = vec![
        "-sn".into(),
        "uac".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-t".into(),
        transport_flag(transport).into(),
        "-s".into(),
        "service".into(),
        ours.to_string(),
    ];
    let mut sipp = spawn_sipp(&args, &format!("uac-{transport:?}"));
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
    assert!(
        seen.iter()
            .any(|e| matches!(e, SipEvent::IncomingCall { body: Some(_), .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, SipEvent::AckReceived { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, SipEvent::ByeReceived { .. })),
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| matches!(
        e,
        SipEvent::DialogTerminated {
            reason: TerminationReason::RemoteBye,
            ..
        }
    )));
    bob.shutdown(Duration::from_millis(50)).await;
}

async fn we_call_sipp(transport: TransportKind) {
    let port = free_port();
    let args: Vec<String> = vec![
        "-sn".into(),
        "uas".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-t".into(),
        transport_flag(transport).into(),
    ];
    let mut sipp = spawn_sipp(&args, &format!("uas-{transport:?}"));
    // Ready once sipp holds the port (bounded).
    let mut ready = false;
    for _ in 0..100 {
        let busy = match transport {
            TransportKind::Udp => UdpSocket::bind(("127.0.0.1", port)).is_err(),
            TransportKind::Tcp => TcpListener::bind(("127.0.0.1", port)).is_err(),
        };
        if busy {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ready,
        "sipp uas did not bind 127.0.0.1:{port}: {}",
        sipp.errors()
    );
    let mut alice = driver("sip:alice@127.0.0.1", transport, |_| {}).await;
    let target = match transport {
        TransportKind::Udp => format!("sip:service@127.0.0.1:{port}"),
        TransportKind::Tcp => format!("sip:service@127.0.0.1:{port};transport=tcp"),
    };
    let a = alice
        .command(move |ep, now| ep.invite(now, &target, Some(body("alice"))))
        .await
        .unwrap()
        .unwrap();
    let (event, before) = wait_for(&mut alice, "sipp's 200", |e| {
        matches!(
            e,
            SipEvent::CallAnswered { .. } | SipEvent::DialogTerminated { .. }
        )
    })
    .await;
    assert!(
        matches!(event, SipEvent::CallAnswered { dialog, status: 200, .. } if dialog == a),
        "{event:?}"
    );
    assert!(
        before
            .iter()
            .any(|e| matches!(e, SipEvent::CallProgress { status: 180, .. })),
        "{before:?}"
    );
    alice
        .command(move |ep, now| ep.bye(now, a))
        .await
        .unwrap()
        .unwrap();
    wait_for(&mut alice, "BYE answered", |e| {
        matches!(
            e,
            SipEvent::DialogTerminated {
                reason: TerminationReason::LocalBye,
                ..
            }
        )
    })
    .await;
    let (code, errors) = sipp.finish().await;
    assert_eq!(
        code,
        Some(0),
        "sipp uas failed over {transport:?}: {errors}"
    );
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
