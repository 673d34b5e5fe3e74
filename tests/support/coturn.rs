//! A real coturn (`/usr/bin/turnserver`) on 127.0.0.1 for integration tests.
//!
//! Started on a free port with a temporary config, waited for until it answers a STUN Binding
//! request, and killed by its PID (and its directory removed) on drop, also when a test fails.
//! A missing coturn is a loud failure, never a skip. Included by each test crate with
//! `#[path = "support/coturn.rs"] mod coturn;` (every file in tests/ is its own crate).

#![allow(dead_code)] // each test crate uses a different part of this module

use std::fs;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ice::stun::{Class, Message, Method, TransactionId};

pub const TURNSERVER: &str = "/usr/bin/turnserver";
pub const REALM: &str = "icephone.test";
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// What differs between the tests' coturn configs.
#[derive(Debug, Clone, Default)]
pub struct CoturnOptions {
    /// `lt-cred-mech` with this one `user=name:password`; `None` for a plain STUN server.
    pub user: Option<(&'static str, &'static str)>,
    /// A relay range of its own (`relay-ip`, `min-port`, `max-port`) for TURN allocations.
    pub relay_range: bool,
    /// `allow-loopback-peers`, so relayed data may go to 127.0.0.1.
    pub allow_loopback_peers: bool,
    /// UDP only: `no-tcp` and `no-tcp-relay`.
    pub udp_only: bool,
    /// A TLS listener (`tls-listening-port`) with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `verbose`: each request processed is logged (what a test reads with `log_text`).
    pub verbose: bool,
}

impl CoturnOptions {
    /// The TURN server the TURN tests use: `alice:secret`, a relay range, loopback peers, UDP.
    pub fn turn_alice() -> Self {
        CoturnOptions {
            user: Some(("alice", "secret")),
            relay_range: true,
            allow_loopback_peers: true,
            udp_only: true,
            tls: None,
            verbose: false,
        }
    }

    /// `turn_alice` with its TCP listener on the same port (TURN over TCP, RFC 8656 §3.1);
    /// relays stay UDP (`no-tcp-relay`).
    pub fn turn_alice_tcp() -> Self {
        CoturnOptions {
            udp_only: false,
            verbose: true,
            ..Self::turn_alice()
        }
    }

    /// `turn_alice_tcp` plus a TLS listener with `cert` (chain) and `key`.
    pub fn turn_alice_tls(cert: PathBuf, key: PathBuf) -> Self {
        CoturnOptions {
            tls: Some((cert, key)),
            ..Self::turn_alice_tcp()
        }
    }
}

/// A running coturn, killed (by PID) and cleaned up on drop.
pub struct Coturn {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
    /// The TLS listener, when asked for.
    pub tls_addr: Option<SocketAddr>,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        // Child::kill signals exactly this process id.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of the call.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on loopback");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port; // both released here
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

fn unique_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("icephone-{tag}-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn config_text(options: &CoturnOptions, port: u16, tls_port: u16, dir: &Path) -> String {
    let mut conf = format!("listening-ip=127.0.0.1\nlistening-port={port}\n");
    if options.relay_range {
        // A relay range of its own near an ephemeral port (40 ports is plenty for a test).
        let relay_min = free_port().clamp(1024, 65_000);
        let relay_max = relay_min + 40;
        conf.push_str(&format!(
            "relay-ip=127.0.0.1\nmin-port={relay_min}\nmax-port={relay_max}\n"
        ));
    }
    if let Some((name, password)) = options.user {
        conf.push_str(&format!("lt-cred-mech\nuser={name}:{password}\n"));
    }
    conf.push_str(&format!(
        "realm={REALM}\nuserdb={}\npidfile={}\nlog-file={}\n\
         simple-log\nno-stdout-log\nno-dtls\nno-cli\nno-rfc5780\n",
        dir.join("turndb").display(),
        dir.join("turnserver.pid").display(),
        dir.join("turnserver.log").display(),
    ));
    if options.udp_only {
        conf.push_str("no-tcp\nno-tcp-relay\n");
    } else {
        conf.push_str("no-tcp-relay\n");
    }
    match &options.tls {
        Some((cert, key)) => conf.push_str(&format!(
            "tls-listening-port={tls_port}\ncert={}\npkey={}\n",
            cert.display(),
            key.display()
        )),
        None => conf.push_str("no-tls\n"),
    }
    if options.verbose {
        conf.push_str("verbose\n");
    }
    if options.allow_loopback_peers {
        conf.push_str("allow-loopback-peers\n");
    }
    conf
}

impl Coturn {
    /// Start coturn and wait until it answers a Binding request (10 s at most).
    pub fn start(options: &CoturnOptions) -> Self {
        assert!(
            Path::new(TURNSERVER).exists(),
            "coturn is not installed ({TURNSERVER} missing): run ./test.sh, which installs it \
             (Debian package `coturn`)"
        );
        let dir = unique_dir("coturn");
        let port = free_port();
        let tls_port = free_port();
        let conf_path = dir.join("turnserver.conf");
        fs::write(&conf_path, config_text(options, port, tls_port, &dir))
            .expect("write coturn config");
        // Output before coturn's own log is open (bad config, port in use) lands here.
        let stdout = fs::File::create(dir.join("stdout.log")).expect("create coturn stdout log");
        let stderr = stdout.try_clone().expect("clone coturn stdout log");
        let child = Command::new(TURNSERVER)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {TURNSERVER}: {e} (run ./test.sh)"));
        let mut coturn = Coturn {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls_addr: options
                .tls
                .as_ref()
                .map(|_| SocketAddr::from(([127, 0, 0, 1], tls_port))),
        };
        coturn.wait_ready();
        // The stream listeners too, so a test's first connection is not refused.
        let mut streams = Vec::new();
        if !options.udp_only {
            streams.push(coturn.addr);
        }
        streams.extend(coturn.tls_addr);
        for addr in streams {
            coturn.wait_listening(addr);
        }
        coturn
    }

    /// coturn's whole log file (with `verbose`, a line per request processed).
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.join("turnserver.log")).unwrap_or_default()
    }

    /// coturn's captured stdout and the tail of its log file, for failure messages.
    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let log = read("turnserver.log");
        let start = log.len().saturating_sub(3000);
        format!(
            "--- coturn stdout ---\n{}\n--- coturn log (tail) ---\n{}",
            read("stdout.log"),
            log.get(start..).unwrap_or("")
        )
    }

    /// Poll with TCP connects until `addr` accepts.
    fn wait_listening(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "coturn does not accept TCP on {addr} within {STARTUP_DEADLINE:?}\n{}",
            self.logs()
        );
    }

    /// Poll with STUN Binding requests until coturn answers.
    fn wait_ready(&mut self) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut n = 0u8;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("coturn exited at startup ({status})\n{}", self.logs());
            }
            n = n.wrapping_add(1);
            let probe = Message::new(Class::Request, Method::Binding, TransactionId([n; 12]));
            let _ = socket.send_to(&probe.encode(None, true), self.addr);
            let mut buf = [0u8; 1500];
            if let Ok((len, from)) = socket.recv_from(&mut buf) {
                let ok = buf
                    .get(..len)
                    .and_then(|b| Message::decode(b).ok())
                    .is_some_and(|m| m.class == Class::Success);
                if from == self.addr && ok {
                    return;
                }
            }
        }
        panic!(
            "coturn did not answer on {} within {STARTUP_DEADLINE:?}\n{}",
            self.addr,
            self.logs()
        );
    }
}
