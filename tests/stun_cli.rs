//! `icephone stun` against a real coturn on loopback, against a closed port, against a
//! server that never answers, and the "not built yet" exit code of `icephone demo`.

use std::fs;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ice::stun::{Class, Message, Method, TransactionId};

const ICEPHONE: &str = env!("CARGO_BIN_EXE_icephone");
const TURNSERVER: &str = "/usr/bin/turnserver";

/// A port free on 127.0.0.1 for both UDP and TCP at the time of the call.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on loopback");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port; // both released here
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("icephone-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A coturn process, killed by its PID when dropped (also when a test fails).
struct Coturn {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Coturn {
    fn start() -> Self {
        assert!(
            std::path::Path::new(TURNSERVER).exists(),
            "{TURNSERVER} is missing: coturn is needed for this test. Run ./test.sh, which installs it \
             (Debian package `coturn`)."
        );
        let dir = TempDir::new("coturn");
        let port = free_port();
        let config = dir.0.join("turnserver.conf");
        let conf = format!(
            "listening-ip=127.0.0.1\nlistening-port={port}\nno-tls\nno-dtls\nno-cli\nsimple-log\n\
             no-rfc5780\nrealm=icephone.test\nuserdb={db}\nlog-file={log}\npidfile={pid}\n",
            db = dir.0.join("turndb").display(),
            log = dir.0.join("turn.log").display(),
            pid = dir.0.join("turnserver.pid").display(),
        );
        fs::write(&config, conf).expect("write coturn config");
        let stdout = fs::File::create(dir.0.join("stdout.log")).expect("create coturn stdout log");
        let stderr = stdout.try_clone().unwrap();
        let child = Command::new(TURNSERVER)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn { child, port, dir };
        coturn.wait_until_answering();
        coturn
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.0.join(name)).unwrap_or_default();
        format!(
            "--- coturn stdout ---\n{}\n--- coturn log ---\n{}",
            read("stdout.log"),
            read("turn.log")
        )
    }

    /// Send Binding requests from the test itself until coturn answers (10 s at most).
    fn wait_until_answering(&self) {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let request = Message::new(Class::Request, Method::Binding, TransactionId([0x42; 12]));
        let bytes = request.encode(None, true);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            let _ = probe.send_to(&bytes, self.addr());
            if let Ok((n, _)) = probe.recv_from(&mut buf) {
                if Message::decode(&buf[..n]).is_ok_and(|m| m.class == Class::Success) {
                    return;
                }
            }
        }
        panic!(
            "coturn did not answer on {} within 10 s\n{}",
            self.addr(),
            self.logs()
        );
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn icephone(args: &[&str]) -> Output {
    Command::new(ICEPHONE)
        .args(args)
        .output()
        .expect("run icephone")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn stun_against_coturn_prints_the_mapped_address_and_software() {
    let coturn = Coturn::start();
    let server = coturn.addr().to_string();

    // Text output, bound to a port we chose so the mapped address is known.
    let local = format!("127.0.0.1:{}", free_port());
    let out = icephone(&["stun", &server, "--bind", &local]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}\n{}",
        out.status,
        text(&out.stderr),
        coturn.logs()
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
    };
    assert_eq!(field("mapped"), local);
    assert_eq!(field("local"), local);
    assert_eq!(field("server"), server);
    assert!(field("software").contains("Coturn"), "{stdout}");
    assert!(
        field("rtt").ends_with("ms (first send to response)"),
        "{stdout}"
    );

    // JSON output on an ephemeral port: mapped equals the reported local address.
    let out = icephone(&["stun", &server, "--json"]);
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status,
        text(&out.stderr),
        coturn.logs()
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object on stdout: {stdout}");
    let json: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!(json["event"], "stun");
    assert_eq!(json["server"], server.as_str());
    let local = json["local"].as_str().expect("local is a string");
    assert!(
        local.starts_with("127.0.0.1:") && !local.ends_with(":0"),
        "{json}"
    );
    assert_eq!(json["mapped"], local);
    let rtt = json["rtt_ms"].as_f64().expect("rtt_ms is a number");
    assert!((0.0..5000.0).contains(&rtt), "{json}");
    assert!(
        json["software"]
            .as_str()
            .is_some_and(|s| s.contains("Coturn")),
        "{json}"
    );
}

#[test]
fn stun_to_a_closed_port_fails_fast_with_a_human_message() {
    let started = Instant::now();
    let out = icephone(&["stun", "127.0.0.1:9", "--timeout", "2"]);
    let elapsed = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    assert!(
        stderr.contains("not listening") || stderr.contains("no STUN response"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn stun_to_a_silent_server_times_out_after_retransmitting() {
    // A socket that receives and never answers: the overall deadline ends the command.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let out = icephone(&["stun", &addr, "--timeout", "1"]);
    let elapsed = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    // RFC 8489 §6.2.1 schedule: sends at 0 and 500 ms fit in 1 s, the next (1500 ms) does not.
    assert!(
        stderr.contains(&format!(
            "no STUN response from {addr} within 1 s (2 sends)"
        )),
        "{stderr}"
    );

    silent.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1500];
    let mut requests = Vec::new();
    while let Ok((n, _)) = silent.recv_from(&mut buf) {
        requests.push(Message::decode(&buf[..n]).expect("icephone sends valid STUN"));
    }
    assert_eq!(requests.len(), 2, "one send and one retransmission");
    assert_eq!(
        requests[0], requests[1],
        "a retransmission repeats the request exactly"
    );
    assert_eq!(
        (requests[0].class, requests[0].method),
        (Class::Request, Method::Binding)
    );
    assert!(requests[0]
        .software()
        .is_some_and(|s| s.starts_with("icephone")));
    assert!(requests[0].has_fingerprint());
}

#[test]
fn run_without_a_scenario_is_a_usage_error() {
    // `run` is built (tests/scenario_examples.rs); without a file it is a usage error.
    let out = icephone(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("<FILES>"),
        "{}",
        text(&out.stderr)
    );
}
