//! Helpers shared by the integration tests: local streams built from documentation addresses.
#![allow(dead_code)]

use std::net::SocketAddr;

use ice::candidate::candidate_priority;
use ice::{Candidate, CandidateKind, Credentials, Transport};
use sdp::offer_answer::{IceSettings, LocalIce, LocalStream, SdpSession};

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

pub fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn candidate(
    foundation: &str,
    component: u16,
    kind: CandidateKind,
    address: &str,
    related: Option<&str>,
) -> Candidate {
    Candidate {
        foundation: foundation.into(),
        component,
        transport: Transport::Udp,
        priority: candidate_priority(kind, 65535, component),
        address: addr(address),
        kind,
        related: related.map(addr),
        tcp_type: None,
        extensions: Vec::new(),
    }
}

pub fn credentials(tag: &str) -> Credentials {
    Credentials {
        ufrag: format!("{tag}ufrag"),
        pwd: format!("{tag}passwordpasswordpassword"),
    }
}

/// host 198.51.100.1:5000/5001, srflx 203.0.113.1:6000/6001, relay 192.0.2.100:7000/7001.
pub fn gathered() -> Vec<Candidate> {
    let mut v = Vec::new();
    for comp in [1u16, 2] {
        let off = comp - 1;
        v.push(candidate(
            "h1",
            comp,
            CandidateKind::Host,
            &format!("198.51.100.1:{}", 5000 + off),
            None,
        ));
        v.push(candidate(
            "s1",
            comp,
            CandidateKind::ServerReflexive,
            &format!("203.0.113.1:{}", 6000 + off),
            Some(&format!("198.51.100.1:{}", 5000 + off)),
        ));
        v.push(candidate(
            "r1",
            comp,
            CandidateKind::Relayed,
            &format!("192.0.2.100:{}", 7000 + off),
            Some(&format!("203.0.113.1:{}", 6000 + off)),
        ));
    }
    v
}

pub fn ice_stream(tag: &str, candidates: Vec<Candidate>) -> LocalStream {
    LocalStream::audio(
        addr("198.51.100.1:5000"),
        Some(LocalIce {
            credentials: credentials(tag),
            candidates,
            selected: None,
        }),
    )
}

pub fn session(host: &str) -> SdpSession {
    SdpSession::new(host.parse().expect("ip"), 1000, IceSettings::default())
}
