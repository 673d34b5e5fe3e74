//! TURN over TCP and over TLS (RFC 8656 §3.1) against a real coturn on 127.0.0.1, in calls
//! between two phones of this process, and how a TURN server that refuses, is absent, or
//! shows a certificate we do not trust is reported.
//!
//! To make the media take the relay, the caller's only host address is 127.0.0.2 and every
//! datagram to it is dropped (`blocked_ips`, a firewalled interface): what reaches the caller
//! can only come over its TCP/TLS connection to coturn. The TLS certificate comes from a CA
//! made at test time; the caller trusts it through `TurnSettings::tls` (what `--tls-ca` sets).

#[path = "support/certs.rs"]
mod certs;
#[path = "support/coturn.rs"]
mod coturn;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use coturn::{free_port, Coturn, CoturnOptions};
use ice::agent::TurnTransport;
use ice::CandidateKind;
use icephone::call::{run_callee, run_caller, CallOptions, CallOutcome};
use icephone::config::TurnSettings;
use icephone::events::{Emitter, Event};
use icephone::exit;
use icephone::signalling::{spawn as spawn_ua, UaConfig};
use icephone::tls::TlsSettings;

/// A CA that signed coturn's certificate (for 127.0.0.1 and localhost), an unrelated CA
/// ("the wrong CA"), in a directory removed on drop.
struct TestPki {
    dir: std::path::PathBuf,
    ca: std::path::PathBuf,
    other_ca: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
}

impl TestPki {
    fn new() -> TestPki {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("icephone-pki-{}-{nanos}", std::process::id()));
        let ca = certs::make_ca(&dir, "ca");
        let other = certs::make_ca(&dir, "other-ca");
        let server =
            certs::make_server_cert(&dir, &ca, "server", &["IP:127.0.0.1", "DNS:localhost"]);
        TestPki {
            ca: ca.cert,
            other_ca: other.cert,
            server_cert: server.cert,
            server_key: server.key,
            dir,
        }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];
/// The caller's firewalled host address.
const CALLER_HOST: [u8; 4] = [127, 0, 0, 2];
/// A failure must be reported well before the 5 s gathering cap.
const QUICK: Duration = Duration::from_secs(2);

fn turn(server: SocketAddr, transport: TurnTransport, password: &str) -> TurnSettings {
    let mut settings = TurnSettings::udp(server, "alice", password);
    settings.server.transport = transport;
    settings
}

fn trusting(mut t: TurnSettings, ca: &std::path::Path) -> TurnSettings {
    t.tls = TlsSettings {
        ca_file: Some(ca.to_path_buf()),
        ..TlsSettings::default()
    };
    t
}

struct Run {
    caller: CallOutcome,
    callee: CallOutcome,
    /// The caller's events, with the time since the call began.
    events: Vec<(Duration, Event)>,
}

impl Run {
    fn server_failed(&self) -> Option<(Duration, String, String, String)> {
        self.events.iter().find_map(|(at, e)| match e {
            Event::ServerFailed {
                kind,
                transport,
                reason,
                ..
            } => Some((*at, kind.clone(), transport.clone(), reason.clone())),
            _ => None,
        })
    }

    fn candidates(&self) -> (Duration, Vec<icephone::events::CandidateInfo>) {
        self.events
            .iter()
            .find_map(|(at, e)| match e {
                Event::Candidates { candidates, .. } => Some((*at, candidates.clone())),
                _ => None,
            })
            .expect("the caller reported its candidates")
    }
}

/// A call from a caller using `turn` to a callee on 127.0.0.1 with 1 s of media. With
/// `relay_only`, the caller's host address is firewalled.
async fn call(turn: TurnSettings, relay_only: bool) -> Run {
    let lo = IpAddr::from(LOOPBACK);
    let callee_emitter = Emitter::new(false, true);
    let caller_emitter = Emitter::new(false, true);
    let mut events = caller_emitter.subscribe();
    let ua = |aor: &str| UaConfig::new((lo, 0).into(), aor);
    let callee_ua = spawn_ua(ua("sip:callee@127.0.0.1")).await.unwrap();
    let target = format!("sip:callee@{}", callee_ua.local);
    let mut callee = CallOptions::new("callee", vec![lo], callee_emitter);
    callee.allow_loopback = true;
    let callee_task = tokio::spawn(run_callee(callee, callee_ua));
    let mut caller = CallOptions::new("caller", vec![lo], caller_emitter);
    caller.allow_loopback = true;
    if relay_only {
        let host = IpAddr::from(CALLER_HOST);
        caller.host_ips = vec![host];
        caller.blocked_ips = vec![host];
    }
    caller.turn = Some(turn);
    caller.duration = Some(Duration::from_millis(1000));
    let caller_ua = spawn_ua(ua("sip:caller@127.0.0.1")).await.unwrap();
    let started = Instant::now();
    let stamp = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(e) = events.recv().await {
            let ended = matches!(&e, Event::Call { state, .. } if state == "ended");
            seen.push((started.elapsed(), e));
            if ended {
                break;
            }
        }
        seen
    });
    let caller = tokio::time::timeout(
        Duration::from_secs(30),
        run_caller(caller, caller_ua, &target),
    )
    .await
    .expect("the call finished within 30 s")
    .unwrap();
    let callee = callee_task.await.unwrap().unwrap();
    let events = tokio::time::timeout(Duration::from_secs(5), stamp)
        .await
        .expect("the caller's call ended")
        .unwrap();
    Run {
        caller,
        callee,
        events,
    }
}

/// Media both ways through a relay that the caller reaches over `transport`.
fn assert_media_through_the_relay(run: &Run, transport: TurnTransport, coturn: &Coturn) {
    let logs = || coturn.logs();
    assert_eq!(
        run.caller.exit,
        exit::OK,
        "{}; events: {:?}\n{}",
        run.caller.reason,
        run.events,
        logs()
    );
    assert!(run.server_failed().is_none(), "{:?}", run.server_failed());
    let (_, candidates) = run.candidates();
    let relays: Vec<_> = candidates.iter().filter(|c| c.kind == "relay").collect();
    assert!(
        !relays.is_empty(),
        "no relayed candidate over {transport}: {candidates:?}"
    );
    // RFC 8656 §7.1: the relay is UDP whatever the transport to the server, and over a
    // stream the allocation's mapped address is no srflx candidate.
    assert!(relays.iter().all(|c| c.protocol == "udp"), "{relays:?}");
    assert!(
        candidates.iter().all(|c| c.kind != "srflx"),
        "{candidates:?}"
    );
    let (local, remote) = run.caller.selected.clone().expect("a selected pair");
    assert_eq!(local.kind, CandidateKind::Relayed, "{local:?}");
    assert_eq!(remote.address.ip(), IpAddr::from(LOOPBACK));
    // Whatever the caller received came over its TCP/TLS connection: its host is firewalled.
    assert!(
        run.caller.media.rtp_received > 10,
        "caller received {} RTP packets through the relay",
        run.caller.media.rtp_received
    );
    assert!(
        run.callee.media.rtp_received > 10,
        "callee received {} RTP packets from the relay",
        run.callee.media.rtp_received
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_media_goes_through_a_relay_reached_over_tcp() {
    let coturn = Coturn::start(&CoturnOptions::turn_alice_tcp());
    let run = call(turn(coturn.addr, TurnTransport::Tcp, "secret"), true).await;
    assert_media_through_the_relay(&run, TurnTransport::Tcp, &coturn);
    // What the TLS test's "nothing in clear" check relies on: coturn logs each Allocate.
    assert!(
        coturn.log_text().contains("ALLOCATE"),
        "{}",
        coturn.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_media_goes_through_a_relay_reached_over_tls() {
    let pki = TestPki::new();
    let coturn = Coturn::start(&CoturnOptions::turn_alice_tls(
        pki.server_cert.clone(),
        pki.server_key.clone(),
    ));
    let server = coturn.tls_addr.expect("TLS listener");
    let settings = trusting(turn(server, TurnTransport::Tls, "secret"), &pki.ca);
    let run = call(settings, true).await;
    assert_media_through_the_relay(&run, TurnTransport::Tls, &coturn);
}

/// The caller's TURN failure: reported once, quickly, and gathering did not wait for the cap.
fn assert_reported_quickly(run: &Run, transport: &str, reason_has: &[&str]) -> String {
    let (at, kind, how, reason) = run
        .server_failed()
        .unwrap_or_else(|| panic!("no server_failed event: {:?}", run.events));
    assert_eq!((kind.as_str(), how.as_str()), ("turn", transport));
    for part in reason_has {
        assert!(reason.contains(part), "reason `{reason}` lacks `{part}`");
    }
    assert!(at < QUICK, "reported after {at:?}");
    let (gathered_at, candidates) = run.candidates();
    assert!(gathered_at < QUICK, "gathering took {gathered_at:?}");
    // No relay, and the call went on over the host pair.
    assert!(
        candidates.iter().all(|c| c.kind != "relay"),
        "{candidates:?}"
    );
    assert_eq!(run.caller.exit, exit::OK, "{}", run.caller.reason);
    let failures = run
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::ServerFailed { .. }))
        .count();
    // Both components' allocations failed alike: said once.
    assert_eq!(failures, 1, "{:?}", run.events);
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_reported_over_udp_tcp_and_tls() {
    let pki = TestPki::new();
    let coturn = Coturn::start(&CoturnOptions::turn_alice_tls(
        pki.server_cert.clone(),
        pki.server_key.clone(),
    ));
    let tls = coturn.tls_addr.expect("TLS listener");
    for (server, transport) in [
        (coturn.addr, TurnTransport::Udp),
        (coturn.addr, TurnTransport::Tcp),
        (tls, TurnTransport::Tls),
    ] {
        let settings = trusting(turn(server, transport, "wrong-password"), &pki.ca);
        let run = call(settings, false).await;
        // RFC 8489 §9.2: the second 401, to the request with credentials, is a refusal.
        assert_reported_quickly(&run, transport.as_str(), &["401"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_server_that_is_not_there_is_reported_at_once() {
    // Nothing listens on this port, for UDP or TCP.
    let absent = SocketAddr::from((LOOPBACK, free_port()));
    let run = call(turn(absent, TurnTransport::Tcp, "secret"), false).await;
    assert_reported_quickly(&run, "tcp", &["cannot connect over TCP", "refused"]);
    // Over UDP the ICMP port unreachable says the same, instead of 4.5 s of retransmissions.
    let run = call(turn(absent, TurnTransport::Udp, "secret"), false).await;
    assert_reported_quickly(&run, "udp", &["unreachable"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_does_not_verify_is_reported_and_nothing_goes_in_clear() {
    let pki = TestPki::new();
    let coturn = Coturn::start(&CoturnOptions::turn_alice_tls(
        pki.server_cert.clone(),
        pki.server_key.clone(),
    ));
    let server = coturn.tls_addr.expect("TLS listener");
    // Trusting another CA: the chain does not verify.
    let settings = trusting(turn(server, TurnTransport::Tls, "secret"), &pki.other_ca);
    let run = call(settings, false).await;
    let reason =
        assert_reported_quickly(&run, "tls", &["TLS handshake", "invalid peer certificate"]);
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    // The right CA, but the certificate does not name the host we asked for (RFC 6125).
    let mut settings = trusting(turn(server, TurnTransport::Tls, "secret"), &pki.ca);
    settings.host = "turn.example.com".into();
    let run = call(settings, false).await;
    let reason = assert_reported_quickly(&run, "tls", &["invalid peer certificate"]);
    assert!(reason.contains("not valid for name"), "{reason}");
    // coturn never saw a TURN request: no allocation was tried in clear instead.
    let log = coturn.log_text();
    assert!(
        !log.contains("ALLOCATE"),
        "an allocation reached coturn:\n{log}"
    );
}
