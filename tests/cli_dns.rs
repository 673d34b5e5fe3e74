//! Names through a real DNS server (dnsmasq on loopback, `--dns`): RFC 3263 NAPTR → SRV →
//! A for the registrar with failover past a dead first target (§4.3), a call to a domain,
//! STUN by SRV (RFC 8489 §8), and the errors for NXDOMAIN and a name without records.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[path = "support/dnsmasq.rs"]
mod dnsmasq;
#[path = "support/process.rs"]
mod process;

use dnsmasq::Dnsmasq;
use process::{assert_exit, json_lines, spawn_captured, wait_listening};

const ICEPHONE: &str = env!("CARGO_BIN_EXE_icephone");

/// A loopback UDP port nobody listens on (an INVITE or REGISTER there meets ICMP port
/// unreachable, a transport error: RFC 3263 §4.3 moves on at once).
fn closed_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// A registrar that answers every REGISTER 200, echoing the Contact; keeps the request
/// lines it saw.
struct Registrar {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Registrar {
    fn start() -> Registrar {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 65535];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let first = text.lines().next().unwrap_or_default().to_string();
                if !first.starts_with("REGISTER ") {
                    continue;
                }
                seen2.lock().unwrap().push(first);
                let header = |name: &str| {
                    text.lines()
                        .filter(|l| {
                            l.to_ascii_lowercase()
                                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
                        })
                        .map(|l| format!("{l}\r\n"))
                        .collect::<String>()
                };
                let contact = header("Contact").trim_end().to_string();
                let response = format!(
                    "SIP/2.0 200 OK\r\n{}{}{};tag=reg1\r\n{}{}{};expires=600\r\nContent-Length: 0\r\n\r\n",
                    header("Via"),
                    header("From"),
                    header("To").trim_end(),
                    header("Call-ID"),
                    header("CSeq"),
                    contact,
                );
                let _ = socket.send_to(response.as_bytes(), from);
            }
        });
        Registrar {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn icephone(args: &[&str]) -> Output {
    let mut command = Command::new(ICEPHONE);
    command.args(args);
    let child = spawn_captured(&mut command);
    child.wait_with_output().unwrap()
}

#[test]
fn registration_by_name_follows_naptr_and_srv_and_fails_over_past_a_dead_target() {
    let registrar = Registrar::start();
    let dead = closed_port();
    let dns = Dnsmasq::start(&[
        "--naptr-record=pbx.test,10,10,s,SIP+D2U,,_sip._udp.pbx.test".into(),
        format!("--srv-host=_sip._udp.pbx.test,dead.pbx.test,{dead},10,60"),
        format!(
            "--srv-host=_sip._udp.pbx.test,sip1.pbx.test,{},20,60",
            registrar.addr.port()
        ),
        "--host-record=dead.pbx.test,127.0.0.1".into(),
        "--host-record=sip1.pbx.test,127.0.0.1".into(),
    ]);
    let out = icephone(&[
        "register",
        "--aor",
        "sip:alice@pbx.test",
        "--password",
        "x",
        "--dns",
        &dns.flag(),
        "--bind",
        "127.0.0.1:0",
        "--once",
        "--json",
    ]);
    assert_exit(&out, 0);
    let events = json_lines(&out.stdout);
    let resolved = events
        .iter()
        .find(|e| e["event"] == "resolved")
        .expect("a resolved event");
    assert_eq!(resolved["role"], "registrar");
    assert_eq!(resolved["name"], "pbx.test");
    // RFC 2782: priority 10 (the dead one) first, then 20.
    assert_eq!(
        resolved["targets"],
        serde_json::json!([
            format!("udp 127.0.0.1:{dead}"),
            format!("udp {}", registrar.addr)
        ])
    );
    let records = resolved["records"].to_string();
    assert!(records.contains("NAPTR pbx.test"), "{records}");
    assert!(records.contains("SRV _sip._udp.pbx.test"), "{records}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "trying the next DNS target {} (RFC 3263 §4.3)",
            registrar.addr
        )),
        "{stderr}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "registered" && e["expires"].as_u64().unwrap_or(0) > 0));
    // RFC 3261 §10.2: the Request-URI is the AOR's domain, not the SRV target.
    let seen = registrar.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l.starts_with("REGISTER sip:pbx.test ")),
        "{seen:?}"
    );
}

#[test]
fn a_call_to_a_domain_goes_to_its_srv_target() {
    let port = process::free_udp_port();
    let dns = Dnsmasq::start(&[
        format!("--srv-host=_sip._udp.bob.test,phone.bob.test,{port},10,10"),
        "--host-record=phone.bob.test,127.0.0.1".into(),
    ]);
    let mut answer = Command::new(ICEPHONE);
    answer.args([
        "answer",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--calls",
        "1",
        "--json",
    ]);
    let answerer = spawn_captured(&mut answer);
    wait_listening(port);
    let out = icephone(&[
        "call",
        "sip:bob@bob.test",
        "--dns",
        &dns.flag(),
        "--bind",
        "127.0.0.1:0",
        "--duration",
        "1",
        "--json",
    ]);
    let answered = answerer.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert_exit(&answered, 0);
    let events = json_lines(&out.stdout);
    let resolved = events.iter().find(|e| e["event"] == "resolved").unwrap();
    assert_eq!(resolved["role"], "target");
    assert_eq!(
        resolved["targets"],
        serde_json::json!([format!("udp 127.0.0.1:{port}")])
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "call" && e["state"] == "established"));
}

#[test]
fn unknown_names_and_names_without_records_exit_6_saying_why() {
    let dns = Dnsmasq::start(&["--txt-record=empty.test,nothing".into()]);
    let out = icephone(&[
        "call",
        "sip:bob@nowhere.test",
        "--dns",
        &dns.flag(),
        "--bind",
        "127.0.0.1:0",
    ]);
    assert_exit(&out, 6);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nowhere.test does not exist (NXDOMAIN)"),
        "{stderr}"
    );

    let out = icephone(&[
        "call",
        "sip:bob@empty.test",
        "--dns",
        &dns.flag(),
        "--bind",
        "127.0.0.1:0",
    ]);
    assert_exit(&out, 6);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("empty.test has no usable records"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SRV _sip._udp.empty.test: none"),
        "{stderr}"
    );

    let out = icephone(&[
        "register",
        "--aor",
        "sip:alice@127.0.0.1",
        "--proxy",
        "nowhere.test",
        "--dns",
        &dns.flag(),
        "--bind",
        "127.0.0.1:0",
        "--once",
    ]);
    assert_exit(&out, 6);
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxy `nowhere.test`"));
}

#[test]
fn stun_and_turn_servers_are_found_by_srv() {
    let dns = Dnsmasq::start(&[
        "--srv-host=_stun._udp.example.test,stun1.example.test,3479,10,10".into(),
        "--srv-host=_turn._udp.example.test,turn1.example.test,3480,10,10".into(),
        "--host-record=stun1.example.test,127.0.0.1".into(),
        "--host-record=turn1.example.test,127.0.0.2".into(),
        "--host-record=plain.example.test,127.0.0.3".into(),
    ]);
    let names = icephone::names::Names {
        dns: Some(dns.addr),
        family: icephone::dns::Family::V4,
    };
    let mut resolutions = Vec::new();
    let stun = names
        .server("example.test", "stun", "_stun._udp", 3478, &mut resolutions)
        .unwrap();
    assert_eq!(stun, "127.0.0.1:3479".parse().unwrap());
    let turn = names
        .server("example.test", "turn", "_turn._udp", 3478, &mut resolutions)
        .unwrap();
    assert_eq!(turn, "127.0.0.2:3480".parse().unwrap());
    // No SRV: A at the default port; an explicit port skips SRV.
    let plain = names
        .server(
            "plain.example.test",
            "stun",
            "_stun._udp",
            3478,
            &mut resolutions,
        )
        .unwrap();
    assert_eq!(plain, "127.0.0.3:3478".parse().unwrap());
    let explicit = names
        .server(
            "example.test:9999",
            "stun",
            "_stun._udp",
            3478,
            &mut resolutions,
        )
        .unwrap_err();
    assert!(
        explicit.to_string().contains("example.test"),
        "no A record for the bare domain: {explicit}"
    );
    assert_eq!(resolutions.len(), 3);
    assert_eq!(resolutions[0].role, "stun");
}
