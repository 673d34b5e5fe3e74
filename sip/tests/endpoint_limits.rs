//! Server transaction caps (issue 14 item 2), in virtual time: a request over the total or
//! per-source cap gets a stateless 503 with Retry-After (RFC 3261 §21.5.4), retransmissions
//! of transactions already held are still answered from them, and capacity comes back when
//! the transactions end (Timer J).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::endpoint::{Endpoint, EndpointConfig, ServerLimits};

const LOCAL: &str = "127.0.0.1:5080";

fn endpoint(limits: ServerLimits) -> Endpoint {
    let mut c = EndpointConfig::new("sip:bob@127.0.0.1");
    c.udp_local = Some(LOCAL.parse().unwrap());
    c.server_limits = limits;
    Endpoint::with_seed(c, 7)
}

fn limits(total: usize, per_source: usize) -> ServerLimits {
    ServerLimits {
        max_transactions: total,
        max_per_source: per_source,
        retry_after: 7,
    }
}

fn options(from: SocketAddr, n: usize) -> Vec<u8> {
    format!(
        "OPTIONS sip:bob@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP {from};branch=z9hG4bK-cap-{n};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@{from}>;tag=t{n}\r\nTo: <sip:bob@127.0.0.1>\r\n\
Call-ID: cap-{n}@{from}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The status line of every transmit queued so far.
fn statuses(ep: &mut Endpoint) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        let text = String::from_utf8_lossy(&t.bytes).to_string();
        let status = text
            .get(8..11)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        out.push((status, text));
    }
    while ep.poll_event().is_some() {}
    out
}

fn send(ep: &mut Endpoint, now: Instant, from: &str, n: usize) {
    let from: SocketAddr = from.parse().unwrap();
    ep.handle_datagram(now, LOCAL.parse().unwrap(), from, &options(from, n));
}

#[test]
fn per_source_cap_answers_503_with_retry_after() {
    let t0 = Instant::now();
    let mut ep = endpoint(limits(100, 20));
    for n in 0..30 {
        send(&mut ep, t0, "10.0.0.1:5070", n);
    }
    let sent = statuses(&mut ep);
    assert_eq!(sent.len(), 30);
    assert!(sent[..20].iter().all(|(s, _)| *s == 200), "{sent:?}");
    for (status, text) in &sent[20..] {
        assert_eq!(*status, 503, "{text}");
        assert!(text.contains("\r\nRetry-After: 7\r\n"), "{text}");
        assert!(text.contains("Call-ID: cap-"), "{text}");
    }
    assert_eq!(ep.server_transaction_count(), 20);
    // Another source still has room.
    send(&mut ep, t0, "10.0.0.2:5070", 99);
    assert_eq!(statuses(&mut ep)[0].0, 200);
}

#[test]
fn total_cap_holds_across_sources() {
    let t0 = Instant::now();
    let mut ep = endpoint(limits(25, 20));
    for n in 0..60 {
        let from = format!("10.0.0.{}:5070", 1 + n % 3);
        send(&mut ep, t0, &from, n);
    }
    let sent = statuses(&mut ep);
    assert_eq!(sent.iter().filter(|(s, _)| *s == 200).count(), 25);
    assert_eq!(sent.iter().filter(|(s, _)| *s == 503).count(), 35);
    assert_eq!(ep.server_transaction_count(), 25);
}

#[test]
fn retransmission_of_a_held_transaction_is_answered_from_it() {
    let t0 = Instant::now();
    let mut ep = endpoint(limits(5, 5));
    for n in 0..5 {
        send(&mut ep, t0, "10.0.0.1:5070", n);
    }
    statuses(&mut ep);
    // RFC 3261 §17.2.2: the retransmission gets the last response again, not a 503.
    send(&mut ep, t0 + Duration::from_millis(500), "10.0.0.1:5070", 3);
    let again = statuses(&mut ep);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0, 200);
}

#[test]
fn capacity_returns_when_transactions_end() {
    let t0 = Instant::now();
    let mut ep = endpoint(limits(10, 10));
    for n in 0..20 {
        send(&mut ep, t0, "10.0.0.1:5070", n);
    }
    assert_eq!(
        statuses(&mut ep).iter().filter(|(s, _)| *s == 503).count(),
        10
    );
    // RFC 3261 §17.2.2: Timer J (64·T1 over UDP) ends the completed transactions.
    let mut now = t0;
    for _ in 0..100 {
        match ep.poll_timeout() {
            Some(t) if t <= t0 + Duration::from_secs(40) => {
                now = t;
                ep.handle_timeout(t);
            }
            _ => break,
        }
    }
    assert_eq!(ep.server_transaction_count(), 0);
    send(&mut ep, now, "10.0.0.1:5070", 100);
    assert_eq!(statuses(&mut ep)[0].0, 200);
}

#[test]
fn a_flood_of_mutated_requests_stays_under_the_cap() {
    let t0 = Instant::now();
    let mut ep = endpoint(ServerLimits::default());
    let from: SocketAddr = "10.0.0.9:5070".parse().unwrap();
    let base = options(from, 0);
    for n in 0..20_000usize {
        let mut bytes = options(from, n);
        // Mutate one byte after the branch, as a fuzzer would.
        let at = 60 + n % (base.len() - 60);
        if let Some(b) = bytes.get_mut(at) {
            *b = b'a' + (n % 26) as u8;
        }
        ep.handle_datagram(t0, LOCAL.parse().unwrap(), from, &bytes);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
        assert!(ep.server_transaction_count() <= ServerLimits::default().max_per_source);
    }
    assert!(ep.server_transaction_count() > 0);
}
