//! The ICE agent's handle_packet, fed anything from a remote address: no input panics.
//!
//! An agent with one host candidate, remote credentials and one remote host candidate.
//! Input: one mode byte (bit 0 controlling, bit 1 two components, bit 2 aggressive
//! nomination, bit 3 remote is ICE-lite, bit 4 no remote candidate: peer-reflexive only), then
//! packets separated by `@@@@`, each led by a control byte: bit 0 writes the transaction id of
//! one of the agent's last 4 checks (so the packet answers it); bit 1 shapes a STUN header;
//! bit 2 appends a correct MESSAGE-INTEGRITY, with the local password if bit 6 is set (a check
//! to us) else the remote one (a response to our check); bit 3 appends a correct FINGERPRINT;
//! bits 4-5 advance virtual time (0, 50 ms, 1 s, 30 s); bit 7 sends from an unknown address.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ice::agent::{IceAgent, IceConfig, NominationMode};
use ice::stun::{IntegrityKey, Message};
use ice::{Candidate, Credentials};
use icephone_fuzz::{packets, set_transaction_id, sign_stun, stun_header};
use libfuzzer_sys::fuzz_target;

const LOCAL_PWD: &str = "localpasswordlocalpassword";
const REMOTE_PWD: &str = "remotepasswordremotepassword";

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn drain(agent: &mut IceAgent, tids: &mut Vec<[u8; 12]>) {
    for _ in 0..256 {
        let Some(transmit) = agent.poll_transmit() else {
            break;
        };
        if let Ok(m) = Message::decode(&transmit.data) {
            tids.push(m.transaction_id.0);
            if tids.len() > 4 {
                tids.remove(0);
            }
        }
    }
    while agent.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now0 = t0();
    let mut now = now0;
    let components = if mode & 2 != 0 { 2 } else { 1 };
    let mut agent = IceAgent::new(
        IceConfig {
            seed: Some(1),
            controlling: mode & 1 != 0,
            components,
            nomination: if mode & 4 != 0 {
                NominationMode::Aggressive
            } else {
                NominationMode::Regular
            },
            credentials: Some(Credentials {
                ufrag: "LU".into(),
                pwd: LOCAL_PWD.into(),
            }),
            ..IceConfig::default()
        },
        now,
    );
    let local = sa("192.0.2.1:5000");
    let _ = agent.add_local_host(local);
    agent.set_remote_credentials(Credentials {
        ufrag: "RU".into(),
        pwd: REMOTE_PWD.into(),
    });
    if mode & 8 != 0 {
        agent.set_remote_lite(true);
    }
    if mode & 16 == 0 {
        for component in 1..=components {
            let addr = SocketAddr::new(sa("198.51.100.7:7000").ip(), 7000 + component - 1);
            agent.add_remote_candidate(Candidate::host("r", component, addr, 65535));
        }
    }
    agent.handle_timeout(now);
    let mut tids = Vec::new();
    drain(&mut agent, &mut tids);

    let local_key = IntegrityKey::short_term(LOCAL_PWD);
    let remote_key = IntegrityKey::short_term(REMOTE_PWD);
    for packet in packets(rest) {
        let Some((&control, payload)) = packet.split_first() else {
            continue;
        };
        let step = match control >> 4 & 3 {
            0 => Duration::ZERO,
            1 => Duration::from_millis(50),
            2 => Duration::from_secs(1),
            _ => Duration::from_secs(30),
        };
        if !step.is_zero() {
            now += step;
            agent.handle_timeout(now);
            drain(&mut agent, &mut tids);
        }
        let mut bytes = payload.to_vec();
        if control & 2 != 0 {
            stun_header(&mut bytes);
        }
        if control & 1 != 0 && !tids.is_empty() {
            let pick = bytes.len() % tids.len();
            set_transaction_id(&mut bytes, &tids[tids.len() - 1 - pick]);
        }
        let key = if control & 64 != 0 {
            &local_key
        } else {
            &remote_key
        };
        let bytes = sign_stun(
            &bytes,
            (control & 4 != 0).then(|| key.as_bytes()),
            control & 8 != 0,
        );
        let from = if control & 128 != 0 {
            sa("203.0.113.9:9999")
        } else {
            sa("198.51.100.7:7000")
        };
        let _ = agent.handle_packet(now, local, from, &bytes);
        drain(&mut agent, &mut tids);
        for component in 1..=components {
            let _ = agent.send_data(now, component, b"rtp");
            let _ = agent.selected_pair(component);
        }
    }
    let _ = (agent.state(), agent.pairs(), agent.stats());
    // A minute of timers (checks, nomination, consent, keepalives), then close; bounded.
    for _ in 0..500 {
        match agent.poll_timeout() {
            Some(t) if t <= now + Duration::from_secs(60) => {
                agent.handle_timeout(t.max(now));
                drain(&mut agent, &mut tids);
            }
            _ => break,
        }
    }
    agent.close(now + Duration::from_secs(60));
    drain(&mut agent, &mut tids);
    let _ = now0;
});
