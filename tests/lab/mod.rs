//! Test support for the network lab (`tests/lab/lab.sh`): bring a lab up, run tools inside
//! its namespaces, capture on the public segment and decode with tshark, tear it down.
//!
//! The lab needs root and network namespaces. Without them every lab test FAILS with a message
//! saying so; nothing is skipped. Lab tests run one at a time per process (a lab is heavy on a
//! 2-core machine); cargo runs test binaries one after another.
//!
//! Shared by several test binaries, each using a different part of it.
#![allow(dead_code)]

pub mod peer;
pub mod phone;
#[path = "../support/tshark.rs"]
mod tshark;
pub mod wire;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// One lab at a time in this process.
static LAB_LOCK: Mutex<()> = Mutex::new(());
/// Distinguishes successive labs of one process in their namespace names.
static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

/// Public addresses of the lab (RFC 5737 documentation ranges only).
pub const KAMAILIO: &str = "203.0.113.10";
pub const TURN: &str = "203.0.113.20";
pub const TURN_ALT: &str = "203.0.113.21";
pub const PROBE: &str = "203.0.113.50";
pub const PROBE_ALT: &str = "203.0.113.51";
pub const NAT_A_WAN: &str = "203.0.113.101";
pub const NAT_B_WAN: &str = "203.0.113.102";
pub const A1: &str = "192.0.2.10";
pub const A2: &str = "192.0.2.11";
pub const B1: &str = "198.51.100.10";
pub const B2: &str = "198.51.100.11";

/// The NAT behaviours the lab can build (RFC 4787 terms in the comments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    PortRestricted,
    /// Address-and-port-dependent mapping and filtering.
    Symmetric,
    /// Endpoint-independent mapping, address-dependent filtering (for the LAN's .10 host).
    AddressRestricted,
    /// Endpoint-independent mapping and filtering (for the LAN's .10 host).
    FullCone,
}

impl NatKind {
    pub const ALL: [NatKind; 4] = [
        NatKind::PortRestricted,
        NatKind::Symmetric,
        NatKind::AddressRestricted,
        NatKind::FullCone,
    ];

    /// The name `lab.sh` takes.
    pub fn arg(self) -> &'static str {
        match self {
            NatKind::PortRestricted => "prc",
            NatKind::Symmetric => "sym",
            NatKind::AddressRestricted => "arc",
            NatKind::FullCone => "fc",
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct LabConfig {
    pub nat_a: NatKind,
    pub nat_b: NatKind,
    /// Drop probability on NAT A's / NAT B's wan link, each direction.
    pub loss_a: f64,
    pub loss_b: f64,
    /// Delay in milliseconds on NAT A's / NAT B's wan link, each direction.
    pub delay_a_ms: u32,
    pub delay_b_ms: u32,
    /// Start Kamailio and coturn.
    pub servers: bool,
    /// Kamailio pings registered NATed contacts every 30 s (false: a registrar that does not).
    pub natping: bool,
    /// Seconds after which both NATs drop an idle UDP or TCP mapping (0: the kernel's).
    pub nat_timeout_s: u32,
    /// Kamailio also takes SIP over TLS on 5061 (needs `servers`); clients trust
    /// [`Lab::tls_ca`].
    pub tls: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            nat_a: NatKind::PortRestricted,
            nat_b: NatKind::PortRestricted,
            loss_a: 0.0,
            loss_b: 0.0,
            delay_a_ms: 0,
            delay_b_ms: 0,
            servers: false,
            natping: true,
            nat_timeout_s: 0,
            tls: false,
        }
    }
}

/// A running lab. Dropping it tears the lab down (also when a test panics).
pub struct Lab {
    id: String,
    run_dir: PathBuf,
    _one_at_a_time: MutexGuard<'static, ()>,
}

pub fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab")
}

fn script() -> PathBuf {
    lab_dir().join("lab.sh")
}

/// Where labs keep their run directories (`LAB_RUN_BASE`, as lab.sh reads it).
pub fn run_base() -> PathBuf {
    std::env::var_os("LAB_RUN_BASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/icephone-lab"))
}

/// Fails (panics) with a clear message when the lab cannot run here.
fn preflight() {
    let uid = Command::new("id").arg("-u").output();
    let is_root = matches!(&uid, Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "0");
    assert!(
        is_root,
        "the network lab tests need root (network namespaces, iptables); run them as root, \
         e.g. in CI or with sudo"
    );
    for tool in [
        "ip",
        "iptables-restore",
        "conntrack",
        "ss",
        "timeout",
        "tcpdump",
        "tshark",
        "sipp",
        "kamailio",
        "kamcmd",
        "turnserver",
        "turnutils_stunclient",
        "turnutils_natdiscovery",
        "baresip",
        "/usr/bin/python3",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "the network lab needs `{tool}`; ./test.sh installs the lab's Debian packages"
        );
    }
}

/// Kamailio's TLS module (Debian `kamailio-tls-modules`) and openssl for the certificates.
fn preflight_tls() {
    let module = Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so");
    assert!(
        module.exists(),
        "a TLS lab needs Kamailio's TLS module {}: ./test.sh installs the Debian package \
         kamailio-tls-modules",
        module.display()
    );
    let openssl = Command::new("openssl").arg("version").output();
    assert!(
        openssl.is_ok_and(|o| o.status.success()),
        "a TLS lab makes its certificates with the openssl CLI (Debian package openssl)"
    );
}

impl Lab {
    /// Builds a lab (namespaces, NATs, probe server, optionally Kamailio and coturn).
    pub fn up(cfg: &LabConfig) -> Lab {
        let guard = LAB_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        preflight();
        if cfg.tls {
            preflight_tls();
        }
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("icl{}x{}", std::process::id(), seq);
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(["up", "--id", &id])
            .args(["--nat-a", cfg.nat_a.arg(), "--nat-b", cfg.nat_b.arg()])
            .args(["--loss-a", &cfg.loss_a.to_string()])
            .args(["--loss-b", &cfg.loss_b.to_string()])
            .args(["--delay-a", &cfg.delay_a_ms.to_string()])
            .args(["--delay-b", &cfg.delay_b_ms.to_string()]);
        if cfg.servers {
            cmd.arg("--servers");
        }
        if !cfg.natping {
            cmd.arg("--no-natping");
        }
        cmd.args(["--nat-timeout", &cfg.nat_timeout_s.to_string()]);
        if cfg.tls {
            cmd.arg("--tls");
        }
        let out = cmd
            .output()
            .expect("could not run tests/lab/lab.sh with bash");
        assert!(
            out.status.success(),
            "bringing the lab up failed (needs root and `ip netns`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Lab {
            run_dir: run_base().join(&id),
            id,
            _one_at_a_time: guard,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where this lab keeps configs, logs and captures.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The CA that signed Kamailio's TLS certificate (a lab made with `tls`).
    pub fn tls_ca(&self) -> PathBuf {
        self.run_dir.join("tls/ca.pem")
    }

    /// The namespace of a role (sw kam turn probe nata natb a1 a2 b1 b2).
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{}", self.id, role)
    }

    /// Runs a command inside a role's namespace, killed after `limit`.
    pub fn run(&self, role: &str, args: &[&str], limit: Duration) -> Output {
        self.command(role, args, limit)
            .current_dir(&self.run_dir)
            .output()
            .unwrap_or_else(|e| panic!("could not run {args:?} in {role}: {e}"))
    }

    /// Like `run`, and the command must succeed; returns its stdout.
    pub fn run_ok(&self, role: &str, args: &[&str], limit: Duration) -> String {
        let out = self.run(role, args, limit);
        assert!(
            out.status.success(),
            "{args:?} in {role} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a command inside a role's namespace in the background, output to
    /// `<run dir>/<log>.log`, killed after `limit` at the latest.
    pub fn spawn(&self, role: &str, args: &[&str], log: &str, limit: Duration) -> Child {
        let file = fs::File::create(self.run_dir.join(format!("{log}.log")))
            .expect("cannot create a log file in the lab's run dir");
        let err = file.try_clone().expect("cannot clone a log file handle");
        self.command(role, args, limit)
            .current_dir(&self.run_dir)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {args:?} in {role}: {e}"))
    }

    /// Like `spawn`, with stdout and stderr in separate files of the run dir
    /// (`<name>.out`, `<name>.err`): stdout carries a program's machine-readable output.
    pub fn spawn_split(&self, role: &str, args: &[&str], name: &str, limit: Duration) -> Child {
        let out = fs::File::create(self.run_dir.join(format!("{name}.out")))
            .expect("cannot create an output file in the lab's run dir");
        let err = fs::File::create(self.run_dir.join(format!("{name}.err")))
            .expect("cannot create an error file in the lab's run dir");
        self.command(role, args, limit)
            .current_dir(&self.run_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {args:?} in {role}: {e}"))
    }

    fn command(&self, role: &str, args: &[&str], limit: Duration) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(role)])
            .args(["timeout", "-k", "2", &format!("{}", limit.as_secs_f64())])
            .args(args);
        cmd
    }

    /// Asks Kamailio over its control socket (kamcmd runs in the root namespace; the socket
    /// is a file in the run dir).
    pub fn kamcmd(&self, args: &[&str]) -> String {
        let sock = format!(
            "unix:{}",
            self.run_dir.join("kamailio-run/kamailio_ctl").display()
        );
        let out = Command::new("timeout")
            .args(["5", "kamcmd", "-s", &sock])
            .args(args)
            .output()
            .expect("could not run kamcmd");
        assert!(
            out.status.success(),
            "kamcmd {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Changes the kind of a running NAT (`side` is 'a' or 'b'); its mappings are flushed.
    pub fn set_nat(&self, side: char, kind: NatKind) {
        let out = Command::new("bash")
            .arg(script())
            .args(["nat", "--id", &self.id, &side.to_string(), kind.arg()])
            .output()
            .expect("could not run lab.sh nat");
        assert!(
            out.status.success(),
            "lab.sh nat failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Prints the end of every log in the run dir (used when a test fails).
    fn dump_logs(&self) {
        let Ok(entries) = fs::read_dir(&self.run_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path
                .extension()
                .is_some_and(|e| e == "log" || e == "err" || e == "out")
            {
                let text = fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(25)..];
                eprintln!("---- {} ----\n{}", path.display(), tail.join("\n"));
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump_logs();
        }
        let out = Command::new("bash")
            .arg(script())
            .args(["down", "--id", &self.id])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "lab teardown of {} reported: {}",
                self.id,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("lab teardown of {} could not run: {e}", self.id),
        }
    }
}

/// A tcpdump capture on the public bridge, inside the switch namespace.
pub struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    /// Starts capturing and waits (bounded) until tcpdump is listening.
    pub fn start(lab: &Lab, name: &str) -> Capture {
        let file = lab.run_dir().join(format!("{name}.pcap"));
        let log = format!("tcpdump-{name}");
        let file_arg = file.display().to_string();
        let child = lab.spawn(
            "sw",
            &[
                "tcpdump",
                "-i",
                "br0",
                "-U",
                "--immediate-mode",
                "-s0",
                "-n",
                "-w",
                &file_arg,
            ],
            &log,
            Duration::from_secs(120),
        );
        let log_path = lab.run_dir().join(format!("{log}.log"));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("listening on") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "tcpdump did not start listening on the public bridge: {text}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        Capture { child, file }
    }

    /// Stops the capture (SIGTERM to our tcpdump, by PID) and returns the pcap file.
    pub fn stop(mut self) -> PathBuf {
        // -U writes every packet as it comes; give the last ones a moment to arrive.
        thread::sleep(Duration::from_millis(200));
        // `ip netns exec` and `timeout` both exec or forward signals: our child's PID is
        // timeout's, which passes SIGTERM on to tcpdump.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.file.clone()
    }
}

/// How every lab tshark run decodes: by content, not by port ([`tshark::BY_CONTENT`]).
pub const TSHARK_DECODE: &[&str] = tshark::BY_CONTENT;

/// Decodes a capture with tshark (decoded as [`TSHARK_DECODE`] says): one row per packet
/// matching `filter`, one column per field.
pub fn tshark_fields(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    tshark::tshark_fields(pcap, TSHARK_DECODE, filter, fields)
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}
