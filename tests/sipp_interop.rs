//! Interop with an independent SIP stack: SIPp's built-in UAS answers without ICE and echoes
//! RTP (`-rtp_echo`), so our caller must fall back to plain RFC 3264 media at its c=/m=.
//! Needs the `sip-tester` package (test.sh installs it); fails loudly without it.

use std::net::{IpAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use icephone::call::{run_caller, CallOptions};
use icephone::events::{Emitter, Event};
use icephone::exit;
use icephone::media::source::Source;
use icephone::signalling::{spawn as spawn_ua, UaConfig};

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uas_without_ice_gets_media_at_its_c_line() {
    let sip_port = free_port();
    let media_port = free_port();
    let mut sipp = Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-m", "1", "-rtp_echo", "-mi", "127.0.0.1"])
        .args([
            "-mp",
            &media_port.to_string(),
            "-nostdin",
            "-timeout",
            "20s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp (package sip-tester) is installed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let emitter = Emitter::new(false, true);
    let lo = IpAddr::from([127, 0, 0, 1]);
    let mut opts = CallOptions::new("caller", vec![lo], emitter.clone());
    opts.allow_loopback = true;
    opts.source = Source::tone(800.0);
    opts.duration = Some(Duration::from_millis(1500));
    let ua = spawn_ua(UaConfig::new((lo, 0).into(), "sip:caller@127.0.0.1"))
        .await
        .unwrap();
    let target = format!("sip:service@127.0.0.1:{sip_port}");
    let outcome = tokio::time::timeout(Duration::from_secs(20), run_caller(opts, ua, &target))
        .await
        .expect("the call finished")
        .unwrap();
    let status = sipp.wait().unwrap();
    assert_eq!(outcome.exit, exit::OK, "{}", outcome.reason);
    assert!(!outcome.ice_used);
    assert!(outcome
        .ice_not_used_reason
        .as_deref()
        .is_some_and(|r| r.contains("no ICE attributes")));
    // SIPp echoed our RTP back: media went to its c=/m= address.
    assert!(outcome.media.rtp_sent > 30, "{:?}", outcome.media);
    assert!(outcome.media.rtp_received > 30, "{:?}", outcome.media);
    assert!(status.success(), "sipp exit {status:?}");
    assert!(emitter.events().iter().any(|e| matches!(e,
        Event::Ice { state, .. } if state == "not_used")));
}

/// `icephone call` answers a digest challenge to its INVITE (SIPp verifies the credentials,
/// `tests/sipp/uas_digest.xml`) and the call completes with a BYE.
#[test]
fn call_command_answers_an_invite_challenge() {
    let sip_port = free_port();
    let mut sipp = Command::new("sipp")
        .arg("-sf")
        .arg(format!(
            "{}/tests/sipp/uas_digest.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "20s"])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp (package sip-tester) is installed");
    std::thread::sleep(Duration::from_millis(500));
    let out = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args([
            "call",
            &format!("sip:service@127.0.0.1:{sip_port}"),
            "--json",
        ])
        .args(["--bind", "127.0.0.1:0", "--aor", "sip:alice@127.0.0.1"])
        .args(["--password", "secret", "--duration", "0.5"])
        .output()
        .unwrap();
    let status = sipp.wait().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(status.success(), "sipp judged the call failed: {status:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"state\":\"not_used\""), "{stdout}");
    assert!(stdout.contains("\"state\":\"established\""), "{stdout}");
}
