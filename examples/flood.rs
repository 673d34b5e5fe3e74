//! Flood benchmark for issue 14 items 1 and 2 (not a test: it prints figures). Runs each
//! attack against a fresh release `icephone answer` on 127.0.0.1 and prints the peak RSS,
//! the CPU used and the outcome beside the goal.
//!
//! ```text
//! cargo build --release --bin icephone
//! cargo run --release --example flood -- target/release/icephone
//! ```

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/attack.rs"]
mod attack;
use attack::{closed_by_peer, options, status_of, tcp_options, udp_options, Answerer};

struct Row {
    attack: &'static str,
    goal: &'static str,
    rss_mib: f64,
    cpu: Duration,
    wall: Duration,
    outcome: String,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A real call (`icephone call` over TCP, 1 s of media) to the answerer: did it complete?
fn legit_call(bin: &str, port: u16) -> std::process::Child {
    Command::new(bin)
        .args(["call", &format!("sip:bob@127.0.0.1:{port}")])
        .args(["--transport", "tcp", "--bind", "127.0.0.1:0"])
        .args(["--aor", "sip:alice@127.0.0.1", "--duration", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("icephone call starts")
}

fn call_result(mut call: std::process::Child) -> &'static str {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = call.try_wait() {
            return if status.success() {
                "call ok"
            } else {
                "CALL FAILED"
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = call.kill();
    "CALL TIMED OUT"
}

fn start(bin: &str, extra: &[&str], nofile: Option<u32>) -> Answerer {
    let mut args = vec!["--calls", "1000", "--max-calls", "1"];
    args.extend_from_slice(extra);
    Answerer::start(bin, &args, nofile)
}

fn pipeliner(bin: &str) -> Row {
    let a = start(bin, &[], None);
    let cpu0 = a.cpu();
    let t0 = Instant::now();
    let call = legit_call(bin, a.port);
    let mut s = TcpStream::connect(a.addr()).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = s.local_addr().unwrap();
    let batch: Vec<u8> = (0..50)
        .flat_map(|n| options("TCP", local, a.port, n))
        .collect();
    let mut rss = 0;
    let mut cut = None;
    while t0.elapsed() < Duration::from_secs(10) {
        match s.write(&batch) {
            Err(e)
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                cut = Some(t0.elapsed());
                break;
            }
            _ => {}
        }
        rss = rss.max(a.rss_kib());
    }
    let call = call_result(call);
    Row {
        attack: "TCP pipeliner that never reads",
        goal: "disconnected, RSS <= 50 MB, call ok",
        rss_mib: mib(rss.max(a.rss_kib())),
        cpu: a.cpu() - cpu0,
        wall: t0.elapsed(),
        outcome: format!("disconnected after {cut:?}; {call}"),
    }
}

fn idle_connections(bin: &str) -> Row {
    let a = start(bin, &[], None);
    let cpu0 = a.cpu();
    let t0 = Instant::now();
    let mut conns: Vec<TcpStream> = (0..2000)
        .filter_map(|_| TcpStream::connect(a.addr()).ok())
        .collect();
    let call = legit_call(bin, a.port);
    std::thread::sleep(Duration::from_secs(1));
    let rss = a.rss_kib();
    let open = conns
        .iter_mut()
        .map(|c| closed_by_peer(c, Duration::from_millis(1)))
        .filter(|closed| !closed)
        .count();
    let call = call_result(call);
    Row {
        attack: "2000 idle TCP connections",
        goal: "at most the per-IP cap kept, RSS <= 50 MB, call ok",
        rss_mib: mib(rss),
        cpu: a.cpu() - cpu0,
        wall: t0.elapsed(),
        outcome: format!("{open} of {} still open; {call}", conns.len()),
    }
}

fn slowloris(bin: &str) -> Row {
    let a = start(bin, &[], None);
    let cpu0 = a.cpu();
    let t0 = Instant::now();
    let mut conns: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(a.addr()).ok())
        .collect();
    let call = legit_call(bin, a.port);
    let head = b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9\r\nX: ";
    let mut rss = 0;
    for second in 0..13 {
        for c in &mut conns {
            let _ = c.write_all(&head[second..second + 1]);
        }
        rss = rss.max(a.rss_kib());
        std::thread::sleep(Duration::from_secs(1));
    }
    let closed = conns
        .iter_mut()
        .map(|c| closed_by_peer(c, Duration::from_millis(1)))
        .filter(|closed| *closed)
        .count();
    let call = call_result(call);
    Row {
        attack: "100 slowloris connections, 1 byte/s for 13 s",
        goal: "closed at the 10 s header timeout, call ok",
        rss_mib: mib(rss),
        cpu: a.cpu() - cpu0,
        wall: t0.elapsed(),
        outcome: format!("{closed} of {} closed; {call}", conns.len()),
    }
}

fn fd_limit(bin: &str) -> Row {
    let a = start(bin, &[], Some(64));
    let t0 = Instant::now();
    let holders: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(a.addr()).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = a.cpu();
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let cpu = a.cpu() - cpu0;
    let share = cpu.as_secs_f64() / w0.elapsed().as_secs_f64() * 100.0;
    let rss = a.rss_kib();
    drop(holders);
    let answered = (0..8).any(|n| tcp_options(a.port, n, Duration::from_secs(1)).is_some());
    Row {
        attack: "200 connections at ulimit -n 64 (3 s)",
        goal: "accept does not spin; answered after",
        rss_mib: mib(rss),
        cpu,
        wall: t0.elapsed(),
        outcome: format!("{share:.1} % CPU while out of fds; TCP OPTIONS after: {answered}"),
    }
}

fn mutated_batch(bin: &str) -> Row {
    let a = start(bin, &[], None);
    let cpu0 = a.cpu();
    let t0 = Instant::now();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(true).unwrap();
    let local = s.local_addr().unwrap();
    let mut buf = vec![0u8; 65_535];
    let (mut ok, mut busy) = (0u64, 0u64);
    let mut drain = |s: &UdpSocket| {
        while let Ok((len, _)) = s.recv_from(&mut buf) {
            match status_of(&buf[..len]) {
                Some(503) => busy += 1,
                Some(_) => ok += 1,
                None => {}
            }
        }
    };
    let mut rss = 0;
    for n in 0..60_000u64 {
        let mut d = options("UDP", local, a.port, n);
        let at = 40 + (n as usize * 7) % (d.len() - 60);
        d[at] = b'a' + (n % 26) as u8;
        let _ = s.send_to(&d, a.addr());
        if n % 500 == 0 {
            drain(&s);
            rss = rss.max(a.rss_kib());
            // ~20k/s: a burst the kernel buffer holds, not a loss test.
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    drain(&s);
    let after = a.rss_kib();
    Row {
        attack: "60k mutated UDP requests",
        goal: "RSS <= 50 MB after",
        rss_mib: mib(rss.max(after)),
        cpu: a.cpu() - cpu0,
        wall: t0.elapsed(),
        outcome: format!("RSS after {:.1} MiB; answered {ok}, 503 {busy}", mib(after)),
    }
}

fn garbage_flood(bin: &str) -> Row {
    let a = start(bin, &[], None);
    let cpu0 = a.cpu();
    let t0 = Instant::now();
    let addr: SocketAddr = a.addr();
    let port = a.port;
    let flooder = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(6600) {
            // 10k/s in slices of 100 per 10 ms.
            for _ in 0..100 {
                let junk = format!("GARBAGE {n} \x01\x02 not sip at all\r\n\r\n");
                let _ = s.send_to(junk.as_bytes(), addr);
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        n
    });
    let mut unanswered = 0;
    let mut rss = 0;
    for n in 0..66 {
        if udp_options(port, 5000 + n, Duration::from_millis(100)).is_none() {
            unanswered += 1;
        }
        rss = rss.max(a.rss_kib());
    }
    let sent = flooder.join().unwrap_or(0);
    Row {
        attack: "10k/s UDP garbage flood, 66 OPTIONS probes",
        goal: "no probe unanswered",
        rss_mib: mib(rss),
        cpu: a.cpu() - cpu0,
        wall: t0.elapsed(),
        outcome: format!("{unanswered} of 66 unanswered (within 100 ms); {sent} garbage sent"),
    }
}

fn burst(bin: &str) -> Row {
    let a = start(bin, &[], None);
    let cpu0 = a.cpu();
    let t0 = Instant::now();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sip/tests/data/rfc4475");
    let mut datagrams: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() < 60_000)
        .collect();
    let mut n = 0;
    while datagrams.iter().map(Vec::len).sum::<usize>() < 300_000 {
        let pad = "y".repeat(1200);
        datagrams.push(format!("INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-b{n}\r\nX-{pad}: 1\r\n\r\n").into_bytes());
        n += 1;
    }
    let total: usize = datagrams.iter().map(Vec::len).sum();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut answered = 0;
    for round in 0..5 {
        for d in &datagrams {
            let _ = s.send_to(d, a.addr());
        }
        if udp_options(a.port, 7000 + round, Duration::from_secs(2)).is_some() {
            answered += 1;
        }
    }
    Row {
        attack: "300 KB burst (RFC 4475 set + hostile), then OPTIONS, x5",
        goal: "every OPTIONS answered",
        rss_mib: mib(a.rss_kib()),
        cpu: a.cpu() - cpu0,
        wall: t0.elapsed(),
        outcome: format!(
            "{answered} of 5 answered ({} datagrams, {total} bytes)",
            datagrams.len()
        ),
    }
}

fn main() {
    let bin = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/icephone".into());
    let attacks: [fn(&str) -> Row; 7] = [
        pipeliner,
        idle_connections,
        slowloris,
        fd_limit,
        mutated_batch,
        garbage_flood,
        burst,
    ];
    let only = std::env::args().nth(2);
    println!("| attack | goal | peak RSS | CPU / wall | outcome |");
    println!("|---|---|---|---|---|");
    for (i, attack) in attacks.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != i.to_string()) {
            continue;
        }
        let r = attack(&bin);
        println!(
            "| {} | {} | {:.1} MiB | {:.2} s / {:.1} s | {} |",
            r.attack,
            r.goal,
            r.rss_mib,
            r.cpu.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.outcome
        );
    }
}
