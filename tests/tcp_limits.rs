//! Bounded TCP (issue 14 item 1), against a real `icephone answer` on 127.0.0.1: a client
//! that pipelines requests and never reads is disconnected while memory stays bounded;
//! connections over the per-IP cap close the oldest first; idle and slowloris connections
//! close after their timeouts; at the file-descriptor limit the accept loop backs off
//! instead of spinning, and a request is answered again once descriptors are free.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[path = "support/attack.rs"]
mod attack;
use attack::{closed_by_peer, options, status_of, tcp_options, udp_options, Answerer};

const BIN: &str = env!("CARGO_BIN_EXE_icephone");
/// RSS bound under attack (the goal).
const RSS_LIMIT_KIB: u64 = 50 * 1024;

fn connect(answerer: &Answerer) -> TcpStream {
    TcpStream::connect_timeout(&answerer.addr(), Duration::from_secs(2)).unwrap()
}

#[test]
fn a_client_that_never_reads_is_disconnected_and_memory_stays_bounded() {
    let answerer = Answerer::start(BIN, &[], None);
    let mut attacker = connect(&answerer);
    attacker
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = attacker.local_addr().unwrap();
    let batch: Vec<u8> = (0..50)
        .flat_map(|n| options("TCP", local, answerer.port, n))
        .collect();
    let start = Instant::now();
    let mut max_rss = 0;
    let mut disconnected = None;
    let mut probes_answered = 0;
    // Bounded: 15 s, or until the process grows past twice the goal.
    while start.elapsed() < Duration::from_secs(15) && max_rss < 2 * RSS_LIMIT_KIB {
        match attacker.write(&batch) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                disconnected = Some(start.elapsed());
                break;
            }
        }
        max_rss = max_rss.max(answerer.rss_kib());
        if start.elapsed() > Duration::from_millis(300) * (probes_answered + 1) {
            // A legitimate peer is still served during the attack.
            if udp_options(
                answerer.port,
                1000 + u64::from(probes_answered),
                Duration::from_secs(2),
            )
            .is_some()
            {
                probes_answered += 1;
            }
        }
    }
    max_rss = max_rss.max(answerer.rss_kib());
    assert!(
        max_rss < RSS_LIMIT_KIB,
        "RSS reached {max_rss} KiB under a non-reading pipeliner (limit {RSS_LIMIT_KIB})"
    );
    assert!(
        disconnected.is_some(),
        "the non-reading client was never disconnected (RSS {max_rss} KiB)"
    );
    assert!(probes_answered > 0, "no OPTIONS answered during the attack");
    drop(attacker);
    std::thread::sleep(Duration::from_millis(300));
    let after = answerer.rss_kib();
    assert!(
        after < RSS_LIMIT_KIB,
        "RSS {after} KiB after the attacker left"
    );
    assert!(tcp_options(answerer.port, 1, Duration::from_secs(3)).is_some());
}

#[test]
fn connections_over_the_per_ip_cap_close_the_oldest_idle_first() {
    let answerer = Answerer::start(
        BIN,
        &[
            "--tcp-max-connections",
            "100",
            "--tcp-max-connections-per-ip",
            "20",
        ],
        None,
    );
    let mut conns: Vec<TcpStream> = (0..30)
        .map(|_| {
            let c = connect(&answerer);
            // Distinct arrival times, so "oldest" is well defined.
            std::thread::sleep(Duration::from_millis(20));
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed: Vec<bool> = conns
        .iter_mut()
        .map(|c| closed_by_peer(c, Duration::from_millis(20)))
        .collect();
    assert!(
        closed[..10].iter().all(|c| *c),
        "the 10 oldest should be closed: {closed:?}"
    );
    assert!(
        closed[10..].iter().all(|c| !*c),
        "the 20 newest should stay open: {closed:?}"
    );
    // A new connection with a request still gets its answer (another idle one makes room).
    let answer = tcp_options(answerer.port, 7, Duration::from_secs(3)).expect("answered");
    assert_eq!(status_of(&answer), Some(200));
}

#[test]
fn idle_and_slowloris_connections_are_closed_after_their_timeouts() {
    let answerer = Answerer::start(
        BIN,
        &[
            "--tcp-idle-timeout-ms",
            "1000",
            "--tcp-header-timeout-ms",
            "1000",
        ],
        None,
    );
    let mut idle = connect(&answerer);
    let mut slow = connect(&answerer);
    let mut pinger = connect(&answerer);
    let request = options("TCP", slow.local_addr().unwrap(), answerer.port, 1);
    let start = Instant::now();
    let mut sent = 0;
    let mut open_early = None;
    // Slowloris: one byte of headers every 100 ms (never idle, never complete); the pinger
    // sends an RFC 5626 keepalive every 300 ms. Bounded: 3 s.
    while start.elapsed() < Duration::from_secs(3) {
        if slow.write_all(&request[sent..sent + 1]).is_ok() {
            sent += 1;
        }
        if sent % 3 == 0 {
            let _ = pinger.write_all(b"\r\n\r\n");
        }
        if open_early.is_none() && start.elapsed() > Duration::from_millis(400) {
            open_early = Some((
                !closed_by_peer(&mut idle, Duration::from_millis(1)),
                !closed_by_peer(&mut slow, Duration::from_millis(1)),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(open_early, Some((true, true)), "closed before the timeout");
    assert!(
        closed_by_peer(&mut idle, Duration::from_millis(500)),
        "idle connection still open after 3 s (timeout 1 s)"
    );
    assert!(
        closed_by_peer(&mut slow, Duration::from_millis(500)),
        "slowloris connection still open after 3 s and {sent} bytes (header timeout 1 s)"
    );
    assert!(
        !closed_by_peer(&mut pinger, Duration::from_millis(100)),
        "a connection with keepalives was closed"
    );
}

#[test]
fn accept_at_the_fd_limit_backs_off_and_recovers() {
    let answerer = Answerer::start(BIN, &[], Some(64));
    // Far more connections than descriptors: the rest wait in the listen backlog.
    let holders: Vec<TcpStream> = (0..120).map(|_| connect(&answerer)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let cpu_before = answerer.cpu();
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let used = answerer.cpu() - cpu_before;
    let share = used.as_secs_f64() / window.elapsed().as_secs_f64();
    assert!(
        share < 0.2,
        "icephone used {:.0} % CPU while out of descriptors",
        share * 100.0
    );
    // UDP is still served while TCP is out of descriptors.
    assert!(udp_options(answerer.port, 3, Duration::from_secs(2)).is_some());
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut answered = None;
    let mut n = 10;
    while answered.is_none() && Instant::now() < deadline {
        answered = tcp_options(answerer.port, n, Duration::from_secs(1));
        n += 1;
    }
    let answered = answered.expect("no TCP OPTIONS answered after the descriptors were freed");
    assert_eq!(status_of(&answered), Some(200));
}
