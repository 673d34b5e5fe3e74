//! Untrusted input never panics the endpoint: random bytes and mutated real messages on
//! UDP and TCP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sip::endpoint::{ConnId, Endpoint, EndpointConfig};

const INVITE: &str = "INVITE sip:bob@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKfuzz1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n\
Call-ID: fuzz-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5070>\r\n\
Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n";

fn endpoint() -> Endpoint {
    let mut c = EndpointConfig::new("sip:bob@127.0.0.1");
    c.udp_local = Some("127.0.0.1:5080".parse().unwrap());
    c.tcp_local = Some("127.0.0.1:5080".parse().unwrap());
    Endpoint::with_seed(c, 11)
}

fn drain(ep: &mut Endpoint, t0: Instant) -> usize {
    let mut n = 0;
    // Run every timer for a minute of virtual time; bounded.
    for _ in 0..1000 {
        while ep.poll_transmit().is_some() {
            n += 1;
        }
        while ep.poll_event().is_some() {}
        match ep.poll_timeout() {
            Some(t) if t <= t0 + Duration::from_secs(60) => ep.handle_timeout(t),
            _ => break,
        }
    }
    n
}

proptest! {
    #[test]
    fn random_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let t0 = Instant::now();
        let mut ep = endpoint();
        let from: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        ep.handle_datagram(t0, "127.0.0.1:5080".parse().unwrap(), from, &bytes);
        drain(&mut ep, t0);
    }

    #[test]
    fn mutated_invites_never_panic(at in 0usize..INVITE.len(), byte in any::<u8>(), cut in 0usize..INVITE.len()) {
        let t0 = Instant::now();
        let mut ep = endpoint();
        let mut bytes = INVITE.as_bytes().to_vec();
        bytes[at] = byte;
        let from: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        ep.handle_datagram(t0, "127.0.0.1:5080".parse().unwrap(), from, &bytes);
        ep.handle_datagram(t0, "127.0.0.1:5080".parse().unwrap(), from, &bytes[..cut]);
        let sent = drain(&mut ep, t0);
        // Whatever happens, the endpoint stays bounded (retransmissions of one response).
        prop_assert!(sent < 100);
    }

    #[test]
    fn random_stream_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8)) {
        let t0 = Instant::now();
        let mut ep = endpoint();
        let conn = ConnId(1);
        ep.connection_opened(conn, "127.0.0.1:5080".parse().unwrap(), "127.0.0.1:40000".parse().unwrap());
        ep.handle_stream(t0, conn, INVITE.replace("UDP", "TCP").as_bytes());
        for chunk in &chunks {
            ep.handle_stream(t0, conn, chunk);
        }
        drain(&mut ep, t0);
        ep.connection_closed(t0, conn);
        drain(&mut ep, t0);
    }
}
