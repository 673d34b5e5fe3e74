//! Untrusted input never panics the agent: random datagrams, and mutated real checks, on a
//! running agent (property tests).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::agent::{IceAgent, IceConfig};
use ice::stun::{Attribute, Class, IntegrityKey, Message, Method, TransactionId};
use ice::{Candidate, Credentials};
use proptest::prelude::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn running_agent(t0: Instant) -> IceAgent {
    let mut a = IceAgent::new(
        IceConfig {
            seed: Some(1),
            credentials: Some(Credentials {
                ufrag: "LU".into(),
                pwd: "localpasswordlocalpassword".into(),
            }),
            ..IceConfig::default()
        },
        t0,
    );
    a.add_local_host(sa("192.0.2.1:5000")).unwrap();
    a.set_remote_credentials(Credentials {
        ufrag: "RU".into(),
        pwd: "remotepasswordremotepassword".into(),
    });
    a.add_remote_candidate(Candidate::host("r", 1, sa("198.51.100.7:7000"), 65535));
    a.handle_timeout(t0);
    a
}

fn valid_check() -> Vec<u8> {
    Message::new(Class::Request, Method::Binding, TransactionId([7; 12]))
        .with(Attribute::Username("LU:RU".into()))
        .with(Attribute::Priority(1_862_270_975))
        .with(Attribute::IceControlled(42))
        .with(Attribute::UseCandidate)
        .encode(
            Some(&IntegrityKey::short_term("localpasswordlocalpassword")),
            true,
        )
}

proptest! {
    #[test]
    fn random_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), cookie in any::<bool>()) {
        let t0 = Instant::now();
        let mut a = running_agent(t0);
        let mut data = data;
        if cookie && data.len() >= 20 {
            // Make the header look like STUN so the decoder and handlers get exercised.
            data[0] &= 0x3f;
            data[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
            let len = (data.len() - 20) as u16;
            data[2..4].copy_from_slice(&len.to_be_bytes());
        }
        let _ = a.handle_packet(t0, sa("192.0.2.1:5000"), sa("198.51.100.7:7000"), &data);
        a.handle_timeout(t0 + Duration::from_millis(60));
        let sent: usize = std::iter::from_fn(|| a.poll_transmit()).filter(|t| t.to == sa("198.51.100.7:7000")).count();
        prop_assert!(sent <= 3);
    }

    #[test]
    fn mutated_checks_never_panic(pos in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
        let t0 = Instant::now();
        let mut a = running_agent(t0);
        let mut data = valid_check();
        if let Some(b) = data.get_mut(pos) {
            *b ^= byte | 1;
        }
        data.truncate(data.len().saturating_sub(cut % 8));
        let _ = a.handle_packet(t0, sa("192.0.2.1:5000"), sa("198.51.100.7:7000"), &data);
        // A corrupted check is refused or dropped; it never selects anything.
        prop_assert!(a.selected_pair(1).is_none());
    }
}
