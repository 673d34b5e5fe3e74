//! The TURN client's handling of what the server sends, after an Allocate: no input panics.
//!
//! Input: packets separated by `@@@@`; each packet's first byte steers how the rest is fed:
//! bit 0 writes the transaction id of one of the client's last 4 requests (bits 6-7 pick
//! which) so the packet answers it; bit 1 shapes a STUN header (cookie, length); bit 2 appends
//! a correct long-term MESSAGE-INTEGRITY (user `alice`, password `secret`, the REALM of the
//! packet or of an earlier one); bit 3 appends a correct FINGERPRINT; bits 4-5 advance virtual
//! time (0, 1 s, 60 s, 700 s) first. A packet whose control byte is 0xFF comes from another
//! address. Once allocated, the client is asked for a permission, a channel and to send.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ice::stun::{IntegrityKey, Message};
use ice::turn::{TurnClient, TurnCredentials};
use icephone_fuzz::{packets, set_transaction_id, sign_stun, stun_header};
use libfuzzer_sys::fuzz_target;

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn server() -> SocketAddr {
    "198.51.100.1:3478".parse().unwrap()
}

fn peer() -> SocketAddr {
    "203.0.113.77:7000".parse().unwrap()
}

/// Sends (remembering request transaction ids) and events; bounded.
fn drain(client: &mut TurnClient, tids: &mut Vec<[u8; 12]>) {
    for _ in 0..64 {
        let Some((_, bytes)) = client.poll_transmit() else {
            break;
        };
        if let Ok(m) = Message::decode(&bytes) {
            tids.push(m.transaction_id.0);
            if tids.len() > 4 {
                tids.remove(0);
            }
        }
    }
    while client.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let mut now = t0();
    let credentials = TurnCredentials {
        username: "alice".into(),
        password: "secret".into(),
    };
    let mut client = TurnClient::new(
        "192.0.2.10:5000".parse().unwrap(),
        server(),
        credentials,
        now,
        99,
    );
    let mut tids = Vec::new();
    let mut realm = String::from("example.org");
    let mut asked = false;
    drain(&mut client, &mut tids);

    for packet in packets(data) {
        let Some((&control, rest)) = packet.split_first() else {
            continue;
        };
        now += match control >> 4 & 3 {
            0 => Duration::ZERO,
            1 => Duration::from_secs(1),
            2 => Duration::from_secs(60),
            _ => Duration::from_secs(700),
        };
        client.handle_timeout(now);
        drain(&mut client, &mut tids);

        let mut bytes = rest.to_vec();
        if control & 2 != 0 {
            stun_header(&mut bytes);
        }
        if control & 1 != 0 && !tids.is_empty() {
            let pick = usize::from(control >> 6) % tids.len();
            set_transaction_id(&mut bytes, &tids[tids.len() - 1 - pick]);
        }
        if let Some(r) = Message::decode(&bytes)
            .ok()
            .and_then(|m| m.realm().map(str::to_owned))
        {
            realm = r;
        }
        let key = IntegrityKey::long_term("alice", &realm, "secret");
        let bytes = sign_stun(
            &bytes,
            (control & 4 != 0).then(|| key.as_bytes()),
            control & 8 != 0,
        );
        let from = if control == 0xFF { peer() } else { server() };
        let _ = client.handle_packet(now, from, &bytes);
        drain(&mut client, &mut tids);

        if !asked && client.relayed_address().is_some() {
            asked = true;
            client.create_permission(now, peer().ip());
            client.bind_channel(now, peer());
            drain(&mut client, &mut tids);
        }
        let _ = client.send_to(now, peer(), b"hello");
        let _ = client.has_permission(peer().ip());
        let _ = (client.poll_timeout(), client.is_closed());
    }

    // Ten minutes of timers (retransmissions, refreshes, give-ups), then the same after close.
    run_timers(&mut client, now, &mut tids);
    client.close(now);
    drain(&mut client, &mut tids);
    run_timers(&mut client, now, &mut tids);
});

fn run_timers(client: &mut TurnClient, now: Instant, tids: &mut Vec<[u8; 12]>) {
    for _ in 0..200 {
        match client.poll_timeout() {
            Some(t) if t <= now + Duration::from_secs(600) => {
                client.handle_timeout(t.max(now));
                drain(client, tids);
            }
            _ => break,
        }
    }
}
