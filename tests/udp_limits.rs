//! Bounded UDP (issue 14 item 2), against a real `icephone answer` on 127.0.0.1: requests
//! over the server transaction cap get 503 with Retry-After (RFC 3261 §21.5.4), and an
//! OPTIONS sent right after a 300 KB burst (the RFC 4475 torture set plus hostile
//! datagrams) is answered: the receive buffer is large enough and drained fast enough.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

#[path = "support/attack.rs"]
mod attack;
use attack::{options, status_of, udp_options, Answerer};

const BIN: &str = env!("CARGO_BIN_EXE_icephone");

#[test]
fn requests_over_the_transaction_cap_get_503_with_retry_after() {
    let answerer = Answerer::start(
        BIN,
        &[
            "--sip-max-transactions",
            "50",
            "--sip-max-transactions-per-source",
            "20",
            "--sip-retry-after",
            "9",
        ],
        None,
    );
    // Start's own probe made one transaction (Timer J keeps it 32 s): 19 left.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    for n in 0..30 {
        socket
            .send_to(
                &options("UDP", local, answerer.port, 100 + n),
                answerer.addr(),
            )
            .unwrap();
    }
    let mut statuses = Vec::new();
    let mut buf = vec![0u8; 65_535];
    let deadline = Instant::now() + Duration::from_secs(5);
    while statuses.len() < 30 && Instant::now() < deadline {
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let Ok((len, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let response = String::from_utf8_lossy(&buf[..len]).to_string();
        let status = status_of(response.as_bytes()).unwrap_or_default();
        if status == 503 {
            assert!(response.contains("\r\nRetry-After: 9\r\n"), "{response}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses.len(), 30, "every request answered: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        11,
        "{statuses:?}"
    );
}

/// The RFC 4475 messages that fit a datagram.
fn torture_set() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sip/tests/data/rfc4475");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() < 60_000)
        .collect()
}

/// A mutated INVITE of about 1.4 KB: a parseable head with a hostile twist per `n`.
fn hostile(n: usize) -> Vec<u8> {
    let pad = "x".repeat(1000);
    let twist = match n % 4 {
        0 => "Content-Length: 99999\r\n".to_string(),
        1 => format!("Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{pad}\r\n"),
        2 => format!("X-{pad}: {n}\r\n"),
        _ => "CSeq: 4294967296 INVITE\r\n".to_string(),
    };
    format!(
        "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-h{n}\r\n\
Max-Forwards: 70\r\nFrom: <sip:h@127.0.0.1>;tag=h{n}\r\nTo: <sip:bob@127.0.0.1>\r\n\
Call-ID: hostile-{n}\r\nCSeq: 1 INVITE\r\n{twist}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn an_options_sent_right_after_a_300_kb_burst_is_answered() {
    // The torture set holds valid INVITEs: stay up across the calls they start.
    let answerer = Answerer::start(BIN, &["--calls", "1000"], None);
    let mut burst = torture_set();
    let mut n = 0;
    while burst.iter().map(Vec::len).sum::<usize>() < 300_000 && n < 1000 {
        burst.push(hostile(n));
        n += 1;
    }
    let total: usize = burst.iter().map(Vec::len).sum();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let probe_local = probe.local_addr().unwrap();
    for round in 0..3u64 {
        for datagram in &burst {
            let _ = attacker.send_to(datagram, answerer.addr());
        }
        probe
            .send_to(
                &options("UDP", probe_local, answerer.port, round),
                answerer.addr(),
            )
            .unwrap();
        probe
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut buf = vec![0u8; 65_535];
        let answered = probe
            .recv_from(&mut buf)
            .ok()
            .and_then(|(len, _)| status_of(&buf[..len]));
        assert_eq!(
            answered,
            Some(200),
            "round {round}: the OPTIONS after a burst of {} datagrams ({total} bytes) went unanswered",
            burst.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(udp_options(answerer.port, 99, Duration::from_secs(2)).is_some());
}
