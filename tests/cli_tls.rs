//! SIP over TLS on loopback, fast enough for every CI run: a tiny registrar (tokio-rustls,
//! certificate from a CA made with openssl at test time) that answers REGISTER with 200.
//! `register --transport tls --tls-ca` succeeds with TLS in Via and Contact; a wrong CA or a
//! certificate for another name fails the registration with rustls' reason and exit code 3,
//! and nothing reaches the server in clear; a sips: call never goes out over UDP.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "support/certs.rs"]
mod certs;
#[path = "support/dnsmasq.rs"]
mod dnsmasq;
#[path = "support/process.rs"]
mod process;

use process::assert_exit;
use sip::message::{Message, Response, StreamDecoder, StreamEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icephone-cli-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the server saw: requests (as text) received over completed TLS handshakes, and the
/// handshakes that failed.
#[derive(Default)]
struct Seen {
    requests: Vec<String>,
    failed_handshakes: usize,
}

/// A TLS registrar on 127.0.0.1 (a thread with its own runtime) presenting `cert`; answers
/// every request 200 (REGISTER with its Contact). Runs until the test process ends.
fn tls_registrar(cert: &certs::ServerCert) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let chain: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&cert.cert).unwrap(),
    ))
    .collect::<Result<_, _>>()
    .unwrap();
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&cert.key).unwrap(),
    ))
    .unwrap()
    .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen_by_server = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, seen) = (acceptor.clone(), seen_by_server.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        seen.lock().unwrap().failed_handshakes += 1;
                        return;
                    };
                    let mut decoder = StreamDecoder::default();
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        decoder.push(&buf[..n]);
                        while let Ok(Some(event)) = decoder.next_event() {
                            let StreamEvent::Message(Message::Request(request)) = event else {
                                continue;
                            };
                            seen.lock()
                                .unwrap()
                                .requests
                                .push(String::from_utf8_lossy(&request.to_bytes()).into());
                            let mut ok =
                                Response::for_request(&request, 200, "OK").with_to_tag("registrar");
                            if let Some(contact) = request.headers.get("Contact") {
                                let contact = format!("{contact};expires=60");
                                ok.headers.push("Contact", contact);
                            }
                            if tls.write_all(&ok.to_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
    });
    (addr, seen)
}

fn icephone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_icephone"))
        .args(args)
        .output()
        .unwrap()
}

fn register_once(registrar: SocketAddr, ca: &Path) -> Output {
    icephone(&[
        "register",
        "--once",
        "--bind",
        "127.0.0.1:0",
        "--aor",
        "sip:alice@127.0.0.1",
        "--proxy",
        &registrar.to_string(),
        "--transport",
        "tls",
        "--tls-ca",
        ca.to_str().unwrap(),
        "--outbound",
        "false",
    ])
}

#[test]
fn register_over_tls_verifies_the_registrar_and_says_tls() {
    let dir = scratch("ok");
    let ca = certs::make_ca(&dir, "ca");
    let cert = certs::make_server_cert(&dir, &ca, "registrar", &["IP:127.0.0.1"]);
    let (registrar, seen) = tls_registrar(&cert);
    let out = register_once(registrar, &ca.cert);
    assert_exit(&out, 0);
    let seen = seen.lock().unwrap();
    let register = seen
        .requests
        .iter()
        .find(|r| r.starts_with("REGISTER "))
        .expect("a REGISTER arrived over TLS");
    let via = register.lines().find(|l| l.starts_with("Via: ")).unwrap();
    assert!(via.starts_with("Via: SIP/2.0/TLS 127.0.0.1:"), "{register}");
    let contact = register
        .lines()
        .find(|l| l.starts_with("Contact: "))
        .unwrap();
    assert!(contact.contains(";transport=tls"), "{register}");
    assert_eq!(seen.failed_handshakes, 0);
}

#[test]
fn a_certificate_from_another_ca_fails_the_registration_with_the_reason() {
    let dir = scratch("wrong-ca");
    let ca = certs::make_ca(&dir, "ca");
    let other = certs::make_ca(&dir, "other-ca");
    let cert = certs::make_server_cert(&dir, &ca, "registrar", &["IP:127.0.0.1"]);
    let (registrar, seen) = tls_registrar(&cert);
    let out = register_once(registrar, &other.cert);
    assert_exit(&out, icephone::exit::REGISTRATION.into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("TLS to {registrar} (127.0.0.1): certificate not valid: UnknownIssuer");
    assert!(stderr.contains(&expected), "stderr:\n{stderr}");
    // The server's side of the refused handshake ends on its own thread, maybe after
    // icephone has already exited: wait for it (bounded), never holding the lock while
    // asserting (a panic would poison it for the server thread).
    let failed = wait_for(Duration::from_secs(5), || {
        seen.lock().map(|s| s.failed_handshakes).unwrap_or(0) >= 1
    });
    let (requests, failed_handshakes) = {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.requests.len(), s.failed_handshakes)
    };
    assert_eq!(requests, 0, "nothing readable reached the server");
    assert!(
        failed,
        "the server saw the handshake fail ({failed_handshakes})"
    );
}

/// Polls `done` every 10 ms until it holds or `limit` passes; whether it held.
fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = scratch("wrong-name");
    let ca = certs::make_ca(&dir, "ca");
    // RFC 5922 §7.2: the proxy was given as 127.0.0.1, so the certificate must name that IP.
    let cert = certs::make_server_cert(&dir, &ca, "registrar", &["DNS:pbx.test"]);
    let (registrar, seen) = tls_registrar(&cert);
    let out = register_once(registrar, &ca.cert);
    assert_exit(&out, icephone::exit::REGISTRATION.into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certificate not valid: NotValidForName"),
        "stderr:\n{stderr}"
    );
    assert!(seen.lock().unwrap().requests.is_empty());
}

#[test]
fn an_unreadable_ca_file_stops_before_anything_is_sent() {
    let out = icephone(&[
        "register",
        "--once",
        "--bind",
        "127.0.0.1:0",
        "--aor",
        "sip:alice@127.0.0.1",
        "--transport",
        "tls",
        "--tls-ca",
        "/nonexistent/ca.pem",
    ]);
    assert_exit(&out, icephone::exit::FAILURE.into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/ca.pem"), "stderr:\n{stderr}");
}

#[test]
fn a_sips_call_through_a_udp_proxy_fails_and_sends_nothing() {
    // The "proxy" is a UDP socket we read: nothing may arrive there.
    let proxy = UdpSocket::bind("127.0.0.1:0").unwrap();
    proxy
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let out = icephone(&[
        "call",
        "sips:bob@example.com",
        "--bind",
        "127.0.0.1:0",
        "--aor",
        "sip:alice@127.0.0.1",
        "--proxy",
        &proxy.local_addr().unwrap().to_string(),
        "--transport",
        "udp",
        "--no-ice",
        "--json",
    ]);
    assert_exit(&out, icephone::exit::CALL.into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sips:bob@example.com needs TLS on every hop (RFC 3261 §26.2.2)"),
        "stderr:\n{stderr}"
    );
    assert!(stderr.contains("reached over UDP"), "stderr:\n{stderr}");
    let mut buf = [0u8; 2048];
    assert!(
        proxy.recv_from(&mut buf).is_err(),
        "a datagram reached the UDP proxy"
    );
}

#[test]
fn a_sips_call_to_a_port_without_tls_fails_at_once() {
    // Something listens on TCP but never completes a handshake: a plain SIP-over-TCP peer.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = plain.accept().unwrap();
        use std::io::{Read, Write};
        let mut first = [0u8; 5];
        let _ = stream.read_exact(&mut first);
        // Answer as a plain SIP peer would, which is no TLS record.
        let _ = stream.write_all(b"SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        first
    });
    let out = icephone(&[
        "call",
        &format!("sips:bob@127.0.0.1:{port}"),
        "--bind",
        "127.0.0.1:0",
        "--aor",
        "sip:alice@127.0.0.1",
        "--no-ice",
    ]);
    assert_exit(&out, icephone::exit::CALL.into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("TLS to 127.0.0.1:{port} (127.0.0.1): handshake failed");
    assert!(stderr.contains(&expected), "stderr:\n{stderr}");
    // What reached the peer was a TLS handshake record (0x16), not clear SIP.
    let first = peer.join().unwrap();
    assert_eq!(first[0], 0x16, "{first:?}");
}

#[test]
fn a_scenario_agent_registers_over_tls() {
    let dir = scratch("scenario");
    let ca = certs::make_ca(&dir, "ca");
    let cert = certs::make_server_cert(&dir, &ca, "registrar", &["IP:127.0.0.1"]);
    let (registrar, seen) = tls_registrar(&cert);
    let scenario = dir.join("tls.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"tls register\"\n\n[agents.alice]\ntransport = \"tls\"\n\
             tls_ca = \"{}\"\nproxy = \"{registrar}\"\noutbound = false\n\
             steps = [\n  {{ register = 60 }},\n]\n",
            ca.cert.display()
        ),
    )
    .unwrap();
    let out = icephone(&["run", scenario.to_str().unwrap()]);
    assert_exit(&out, 0);
    let seen = seen.lock().unwrap();
    assert!(
        seen.requests
            .iter()
            .any(|r| r.starts_with("REGISTER ") && r.contains("Via: SIP/2.0/TLS ")),
        "{:?}",
        seen.requests
    );
}

/// RFC 5922: a registrar found through `_sips._tcp` SRV is checked against the SIP domain
/// the lookup started from (the AOR's), not against the SRV target a DNS answer named.
#[test]
fn a_registrar_found_by_srv_is_checked_against_the_sip_domain_not_the_srv_target() {
    let dir = scratch("srv-name");
    let ca = certs::make_ca(&dir, "ca");
    for (sans, expected) in [(["DNS:pbx.test"], 0), (["DNS:tls1.pbx.test"], 3)] {
        let cert = certs::make_server_cert(&dir, &ca, "registrar", &sans);
        let (registrar, seen) = tls_registrar(&cert);
        let dns = dnsmasq::Dnsmasq::start(&[
            format!(
                "--srv-host=_sips._tcp.pbx.test,tls1.pbx.test,{},10,10",
                registrar.port()
            ),
            "--host-record=tls1.pbx.test,127.0.0.1".into(),
        ]);
        let out = icephone(&[
            "register",
            "--once",
            "--bind",
            "127.0.0.1:0",
            "--aor",
            "sip:alice@pbx.test",
            "--dns",
            &dns.flag(),
            "--transport",
            "tls",
            "--tls-ca",
            ca.cert.to_str().unwrap(),
            "--outbound",
            "false",
        ]);
        assert_exit(&out, expected);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if expected == 0 {
            let seen = seen.lock().unwrap();
            assert!(
                seen.requests
                    .iter()
                    .any(|r| r.starts_with("REGISTER sip:pbx.test ")),
                "{:?}",
                seen.requests
            );
        } else {
            assert!(
                stderr.contains("(pbx.test): certificate not valid: NotValidForName"),
                "a certificate for the SRV target only is refused:\n{stderr}"
            );
            assert!(seen.lock().unwrap().requests.is_empty());
        }
    }
}
