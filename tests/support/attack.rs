//! Attacking a running `icephone answer` on loopback (issue 14 items 1 and 2): SIP requests
//! to send, answers to wait for, and the process's memory and CPU from /proc.
//!
//! Included by the limit tests and the flood benchmark with
//! `#[path = "support/attack.rs"] mod attack;`.

#![allow(dead_code)] // each user takes a different subset

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `icephone answer`, killed when dropped.
pub struct Answerer {
    pub child: Child,
    pub port: u16,
}

impl Answerer {
    /// `icephone answer` over UDP and TCP on 127.0.0.1:`port`, with `extra` flags; run
    /// through `sh -c 'ulimit -n N; exec ...'` when `nofile` is set. Waits until it answers an
    /// OPTIONS over UDP.
    pub fn start(binary: &str, extra: &[&str], nofile: Option<u32>) -> Answerer {
        let port = port_free_for_both();
        let mut args: Vec<String> = ["answer", "--transport", "tcp", "--aor", "sip:bob@127.0.0.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push("--bind".into());
        args.push(format!("127.0.0.1:{port}"));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut command = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(binary)
                    .args(&args);
                c
            }
            None => {
                let mut c = Command::new(binary);
                c.args(&args);
                c
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("icephone starts");
        let answerer = Answerer { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if udp_options(port, 0, Duration::from_millis(200)).is_some() {
                return answerer;
            }
        }
        panic!("icephone answer on port {port} never answered an OPTIONS");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// User + system CPU time used so far.
    pub fn cpu(&self) -> Duration {
        cpu_time(self.pid())
    }
}

impl Drop for Answerer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free for both UDP and TCP.
pub fn port_free_for_both() -> u16 {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// utime + stime from /proc/PID/stat (fields 14 and 15, in clock ticks).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11usize, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// An OPTIONS from `local` (in Via and Contact) over `transport` ("UDP" or "TCP"); `n`
/// makes the branch and Call-ID unique.
pub fn options(transport: &str, local: SocketAddr, port: u16, n: u64) -> Vec<u8> {
    format!(
        "OPTIONS sip:bob@127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/{transport} {local};branch=z9hG4bK-probe-{n};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:bob@127.0.0.1>\r\n\
Call-ID: probe-{n}-{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The status code of a response's first line.
pub fn status_of(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..12)?).ok()?;
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// Sends an OPTIONS over UDP from a fresh socket; the response, if one comes in `wait`.
pub fn udp_options(port: u16, n: u64, wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    let local = socket.local_addr().ok()?;
    socket
        .send_to(&options("UDP", local, port, n), ("127.0.0.1", port))
        .ok()?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65_535];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let (len, _) = socket.recv_from(&mut buf).ok()?;
        let got = buf.get(..len)?.to_vec();
        // A 100 Trying never answers an OPTIONS; anything final does.
        if status_of(&got).is_some_and(|s| s >= 200) {
            return Some(got);
        }
    }
    None
}

/// Sends an OPTIONS on a new TCP connection; the response, if one comes in `wait`.
pub fn tcp_options(port: u16, n: u64, wait: Duration) -> Option<Vec<u8>> {
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), wait).ok()?;
    let local = stream.local_addr().ok()?;
    stream.write_all(&options("TCP", local, port, n)).ok()?;
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(len) => got.extend_from_slice(buf.get(..len)?),
        }
        if got.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(got);
        }
    }
    None
}

/// Whether the peer has closed `stream` (EOF or reset), looking for up to `wait`; bytes it
/// sent meanwhile are read and dropped.
pub fn closed_by_peer(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_default()
            .max(Duration::from_millis(1));
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}
