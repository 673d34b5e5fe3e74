//! Interop with an independent SIP stack: SIPp's built-in UAS answers without ICE and echoes
//! RTP (`-rtp_echo`), so our caller must fall back to plain RFC 3264 media at its c=/m=.
//! Needs the `sip-tester` package (test.sh installs it); fails loudly without it.
//! Scenarios under tests/sipp/ whose peer does ICE get their checks answered by
//! tests/support/ice_peer.rs.

#[path = "support/ice_peer.rs"]
mod ice_peer;

use std::net::{IpAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use icephone::call::{run_caller, CallOptions, CallOutcome};
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

/// A sipp UAS running a scenario file; killed (by its PID) if the test ends first.
struct SippUas {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for SippUas {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SippUas {
    /// Starts `tests/sipp/{file}` on a free port with `-key NAME VALUE` for each key.
    fn start(file: &str, keys: &[(&str, String)]) -> SippUas {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("icephone-sipp-{}-{file}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new("sipp");
        command
            .arg("-sf")
            .arg(format!("{}/tests/sipp/{file}", env!("CARGO_MANIFEST_DIR")))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error"])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.join("errors.log"))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in keys {
            command.args(["-key", name, value]);
        }
        let child = command
            .spawn()
            .expect("sipp (package sip-tester) is installed");
        std::thread::sleep(Duration::from_millis(500));
        SippUas { child, port, dir }
    }

    /// Waits (bounded, 30 s) for sipp to end; its exit code and error log.
    async fn finish(&mut self) -> (Option<i32>, String) {
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let errors =
                    std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default();
                return (status.code(), errors);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sipp did not exit within 30 s");
    }
}

/// Our caller (UDP, loopback, `t1` for SIP) calls the sipp UAS; the outcome and the events.
async fn call_sipp(
    sipp: &SippUas,
    opts: impl FnOnce(&mut CallOptions),
    t1: Duration,
) -> (CallOutcome, Vec<Event>) {
    let emitter = Emitter::new(false, true);
    let lo = IpAddr::from([127, 0, 0, 1]);
    let mut o = CallOptions::new("caller", vec![lo], emitter.clone());
    o.allow_loopback = true;
    o.source = Source::tone(800.0);
    opts(&mut o);
    let ua = spawn_ua(UaConfig {
        t1,
        ..UaConfig::new((lo, 0).into(), "sip:caller@127.0.0.1")
    })
    .await
    .unwrap();
    let target = format!("sip:service@127.0.0.1:{}", sipp.port);
    let outcome = tokio::time::timeout(Duration::from_secs(25), run_caller(o, ua, &target))
        .await
        .expect("the call finished")
        .unwrap();
    (outcome, emitter.events())
}

/// Issue 12, fault 3: the peer never answers our UPDATE (linphone holding its answer while
/// its own checks run, then losing it). Its timeout (Timer F = 64·T1 = 3.2 s here; 32 s
/// behind a proxy that answers 408) is reported as a failed updated offer and the call,
/// whose media flows, goes on; it ends when `duration` says, with our BYE, which sipp
/// requires. Before the fix the call ended at the timeout, exit 4, with no BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_update_keeps_the_call_and_it_ends_with_our_bye() {
    let peer = ice_peer::IcePeerSocket::start(Duration::ZERO).await;
    let mut sipp = SippUas::start(
        "uas_ice_update_unanswered.xml",
        &[("rtp_port", peer.addr.port().to_string())],
    );
    let t1 = Duration::from_millis(50);
    let started = Instant::now();
    let (outcome, events) = call_sipp(
        &sipp,
        |o| {
            // The signalled default (127.0.0.2) drops what arrives, so ICE selects
            // 127.0.0.1 and we send an updated offer (RFC 8839 §4.3.4), by UPDATE.
            o.host_ips = vec![IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 1])];
            o.blocked_ips = vec![IpAddr::from([127, 0, 0, 2])];
            o.duration = Some(Duration::from_secs(5));
        },
        t1,
    )
    .await;
    let lasted = started.elapsed();
    assert_eq!(outcome.exit, exit::OK, "{}", outcome.reason);
    assert_eq!(outcome.reason, "duration reached");
    assert_eq!(outcome.updated_offer_sent.as_deref(), Some("UPDATE"));
    // The UPDATE's failure is reported, and the call went on past it.
    let failed_at = events
        .iter()
        .position(|e| {
            matches!(e, Event::UpdatedOffer { method, direction, reason, .. }
                if method == "UPDATE" && direction == "answered" && reason.contains("408"))
        })
        .unwrap_or_else(|| panic!("no updated_offer event with the 408: {events:?}"));
    let ended_at = events
        .iter()
        .position(|e| matches!(e, Event::Call { state, .. } if state == "ended"))
        .expect("call ended");
    assert!(failed_at < ended_at, "{events:?}");
    assert!(lasted > 64 * t1, "{lasted:?}");
    assert!(outcome.media.rtp_sent > 200, "{:?}", outcome.media);
    // sipp got our BYE (it fails without one).
    let (code, errors) = sipp.finish().await;
    assert_eq!(code, Some(0), "sipp: {errors}");
}

/// The `ms` of our caller's first `selected` event for `component`.
fn selected_ms(events: &[Event], component: u16) -> Option<u64> {
    events.iter().find_map(|e| match e {
        Event::Ice {
            agent,
            state,
            component: Some(c),
            ms,
            ..
        } if agent == "caller" && state == "selected" && *c == component => *ms,
        _ => None,
    })
}

/// Issue 12, fault 6: a peer that refuses rtcp-mux (baresip, many PBXs) and whose RTCP
/// component's checks get through only later (its socket ignores them for 1 s). RFC 8445
/// §12.1: selected pairs are per component, so RTP starts when component 1 is selected and
/// RTCP when component 2 is; before the fix RTP waited for component 2 (232 frames held in
/// the field).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rtcp_mux_rtp_starts_before_the_rtcp_component_is_selected() {
    let rtp = ice_peer::IcePeerSocket::start(Duration::ZERO).await;
    let rtcp = ice_peer::IcePeerSocket::start(Duration::from_secs(1)).await;
    let mut sipp = SippUas::start(
        "uas_ice_no_mux.xml",
        &[
            ("rtp_port", rtp.addr.port().to_string()),
            ("rtcp_port", rtcp.addr.port().to_string()),
        ],
    );
    let (outcome, events) = call_sipp(
        &sipp,
        |o| o.duration = Some(Duration::from_secs(4)),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(outcome.exit, exit::OK, "{}", outcome.reason);
    let first = selected_ms(&events, 1).expect("component 1 selected");
    let second = selected_ms(&events, 2).expect("component 2 selected");
    assert!(
        second > first + 1000,
        "component 2 at {second} ms, 1 at {first} ms"
    );
    // Frames were held only until component 1's selection (20 ms each; a tick of slack).
    let held_ms = outcome.media.frames_held_before_selection * 20;
    assert!(
        held_ms <= first + 100,
        "{held_ms} ms of frames held; component 1 selected at {first} ms, 2 at {second} ms"
    );
    assert_eq!(outcome.media_sent_before_selection, 0);
    // The peer's view: RTP arrived before its RTCP socket answered any check, and RTCP
    // only on the RTCP socket, only after that (no RTCP before component 2 could be
    // selected), and every report we counted as sent arrived.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rtcp_ready = rtcp
        .first(ice_peer::Arrival::Check { answered: true })
        .expect("component 2 checks answered");
    let first_rtp = rtp.first(ice_peer::Arrival::Rtp).expect("RTP arrived");
    assert!(
        first_rtp < rtcp_ready,
        "RTP first at {:?}, RTCP socket answered at {:?}; {:?}",
        first_rtp.duration_since(rtp.started),
        rtcp_ready.duration_since(rtcp.started),
        rtcp.log()
            .iter()
            .map(|l| (l.at.duration_since(rtcp.started), l.what))
            .collect::<Vec<_>>()
    );
    assert_eq!(rtp.count(ice_peer::Arrival::Rtcp), 0);
    assert!(
        rtcp.count(ice_peer::Arrival::Rtcp) >= 1,
        "{:?}",
        outcome.media
    );
    assert!(rtcp
        .log()
        .iter()
        .filter(|l| l.what == ice_peer::Arrival::Rtcp)
        .all(|l| l.at > rtcp_ready));
    assert_eq!(
        rtcp.count(ice_peer::Arrival::Rtcp) as u64,
        outcome.media.rtcp_sent,
        "{:?}",
        outcome.media
    );
    assert!(rtp.count(ice_peer::Arrival::Rtp) as u64 >= outcome.media.rtp_sent - 1);
    let (code, errors) = sipp.finish().await;
    assert_eq!(code, Some(0), "sipp: {errors}");
}

/// Issue 17: sipp offers RTP/SAVP with an SDES key to `icephone answer`, whose SRTP is off:
/// the answer is 488 Not Acceptable Here (sipp's scenario fails on anything else), icephone
/// says why, and it goes on to the next call. With `--calls 2` it exits after the second,
/// and that 488 still goes out first (the UA is closed, not cut off, at exit).
#[test]
fn a_savp_offer_to_a_phone_with_srtp_off_gets_488() {
    let sip_port = free_port();
    let mut answer = Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(["answer", "--bind", &format!("127.0.0.1:{sip_port}")])
        .args(["--calls", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let sipp = Command::new("sipp")
        .arg("-sf")
        .arg(format!(
            "{}/tests/sipp/uac_savp_offer.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-m", "2", "-nostdin", "-timeout", "20s", "-timeout_error"])
        .arg(format!("127.0.0.1:{sip_port}"))
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sipp (package sip-tester) is installed");
    // Its two calls done, answer exits by itself (bounded: killed if it does not).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while answer.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let exited = answer.try_wait().unwrap();
    if exited.is_none() {
        let _ = answer.kill();
    }
    let out = answer.wait_with_output().unwrap();
    assert!(
        exited.is_some(),
        "answer --calls 2 did not exit after two calls"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        sipp.success(),
        "sipp did not get its 488: {sipp:?}; icephone: {stderr}"
    );
    assert_eq!(
        stderr
            .matches("call failed: cannot answer the offer: m= line 0: the offer requires SRTP (RTP/SAVP) and SRTP is off here")
            .count(),
        2,
        "{stderr}"
    );
}
