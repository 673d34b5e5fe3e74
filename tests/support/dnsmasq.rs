//! A real DNS server for tests: dnsmasq (Debian dnsmasq-base) on 127.0.0.1, authoritative
//! for the `.test` names given as its record options, forwarding nothing (no lookup leaves
//! the machine). Stopped by PID when dropped.
//!
//! Included with `#[path = "support/dnsmasq.rs"] mod dnsmasq;`.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// dnsmasq's arguments: in the foreground, on `listen`:`port` only, serving `records` and
/// nothing else (no resolv.conf, no /etc/hosts, no upstream).
pub fn args(listen: &str, port: u16, records: &[String]) -> Vec<String> {
    let mut args = vec![
        "--no-daemon".to_string(),
        format!("--port={port}"),
        format!("--listen-address={listen}"),
        "--bind-interfaces".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-poll".into(),
        "--conf-file=/dev/null".into(),
        "--pid-file=".into(),
        // Authoritative for .test: a name we have no record for is NXDOMAIN here, never
        // forwarded.
        "--local=/test/".into(),
        "--log-queries".into(),
    ];
    args.extend(records.iter().cloned());
    args
}

pub struct Dnsmasq {
    child: Child,
    pub addr: SocketAddr,
}

impl Dnsmasq {
    /// Starts dnsmasq with `records` (dnsmasq options such as `--srv-host=...`). Fails the
    /// test loudly when dnsmasq is missing (test.sh installs dnsmasq-base).
    pub fn start(records: &[String]) -> Dnsmasq {
        assert!(
            std::path::Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is missing: install dnsmasq-base (./test.sh does)"
        );
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(DNSMASQ)
            .args(args("127.0.0.1", port, records))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dnsmasq starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let server = Dnsmasq { child, addr };
        server.wait_ready();
        server
    }

    /// Until dnsmasq answers a query (bounded by 5 s).
    fn wait_ready(&self) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        // A minimal query for "test." type SOA.
        let query: [u8; 23] = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b't', b'e', b's', b't', 0, 0, 6, 0, 1, 0,
        ];
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let _ = socket.send_to(&query[..22], self.addr);
            let mut buf = [0u8; 512];
            if socket.recv_from(&mut buf).is_ok() {
                return;
            }
        }
        panic!("dnsmasq on {} did not answer within 5 s", self.addr);
    }

    /// The `--dns` value for icephone.
    pub fn flag(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        // Our own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
