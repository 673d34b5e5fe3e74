//! Timeline of one ICE run over the simulated NAT network, to see where the selection latency
//! of `ice_matrix` goes: every datagram each agent sent and received after signalling (checks
//! with their transaction id, USE-CANDIDATE, first transmission or retransmission, responses,
//! TURN wrapping), and every agent event, in virtual milliseconds since "remote candidates
//! known". A check's first transmission is one pacer slot (RFC 8445 §14.2); a check on a pair
//! whose request arrived earlier from the same address is marked as a triggered check
//! (§7.3.1.4). Same network and settings as `ice_matrix` (20 ms per hop, Ta 50 ms, no loss).
//!
//! Run: `cargo bench -p ice --bench ice_timeline` (the worst cases), or pick cases with
//! `ICE_TIMELINE=public:symmetric:regular,full-cone:public:aggressive cargo bench -p ice --bench
//! ice_timeline`. It prints; it is not a test.

#[path = "../tests/harness/mod.rs"]
mod harness;
#[path = "../tests/sim/mod.rs"]
mod sim;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::{build, Case, Side};
use ice::agent::{IceEvent, NominationMode};
use ice::stun::{decode_channel_data, Class, Message, Method};
use sim::NatKind;

const HOP: Duration = Duration::from_millis(20);

fn parse_kind(s: &str) -> Option<Option<NatKind>> {
    Some(match s {
        "public" => None,
        "full-cone" => Some(NatKind::FullCone),
        "addr-restr" => Some(NatKind::AddressRestricted),
        "port-restr" => Some(NatKind::PortRestricted),
        "symmetric" => Some(NatKind::Symmetric),
        _ => return None,
    })
}

fn needs_turn(a: Option<NatKind>, b: Option<NatKind>) -> bool {
    let blocks =
        |x: Option<NatKind>| matches!(x, Some(NatKind::Symmetric | NatKind::PortRestricted));
    (a == Some(NatKind::Symmetric) && blocks(b)) || (b == Some(NatKind::Symmetric) && blocks(a))
}

/// A short description of a STUN message (or a TURN-wrapped one), None for media/other.
fn describe(data: &[u8]) -> String {
    if let Ok((channel, inner)) = decode_channel_data(data) {
        return format!("ChannelData ch {channel:#x} [{}]", describe(inner));
    }
    let Ok(m) = Message::decode(data) else {
        return format!("{} bytes (not STUN)", data.len());
    };
    let tid: String = m.transaction_id.0[..3]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    match (m.class, m.method) {
        (Class::Indication, Method::Send) => format!(
            "Send ind → {} [{}]",
            m.xor_peer_address().map_or("?".into(), |a| a.to_string()),
            m.data().map_or("-".into(), describe)
        ),
        (Class::Indication, Method::Data) => format!(
            "Data ind ← {} [{}]",
            m.xor_peer_address().map_or("?".into(), |a| a.to_string()),
            m.data().map_or("-".into(), describe)
        ),
        (Class::Request, Method::Binding) if m.username().is_some() => format!(
            "check {tid}{}{}",
            if m.use_candidate() {
                " USE-CANDIDATE"
            } else {
                ""
            },
            if m.ice_controlling().is_some() {
                " (ctl)"
            } else {
                ""
            }
        ),
        (Class::Success, Method::Binding) => format!(
            "success {tid} mapped {}",
            m.mapped_address().map_or("?".into(), |a| a.to_string())
        ),
        (Class::Error, _) => format!(
            "error {tid} {:?} {:?}",
            m.method,
            m.error_code().map(|(c, _)| c)
        ),
        (class, method) => format!("{class:?} {method:?} {tid}"),
    }
}

/// The Binding request inside `data` (plain or TURN-wrapped) and where it goes.
fn inner_request(data: &[u8], to: SocketAddr) -> Option<(Message, SocketAddr)> {
    let m = Message::decode(data).ok()?;
    if m.class == Class::Request && m.method == Method::Binding && m.username().is_some() {
        return Some((m, to));
    }
    if m.class == Class::Indication && m.method == Method::Send {
        let peer = m.xor_peer_address()?;
        let inner = Message::decode(m.data()?).ok()?;
        if inner.class == Class::Request && inner.method == Method::Binding {
            return Some((inner, peer));
        }
    }
    None
}

/// The peer address a received datagram really came from (unwrapping a Data indication).
fn inner_source(data: &[u8], from: SocketAddr) -> Option<(Message, SocketAddr)> {
    let m = Message::decode(data).ok()?;
    if m.class == Class::Indication && m.method == Method::Data {
        let peer = m.xor_peer_address()?;
        return Some((Message::decode(m.data()?).ok()?, peer));
    }
    Some((m, from))
}

fn ms(t: Instant, origin: Instant) -> String {
    if t >= origin {
        format!("{:>7.1}", (t - origin).as_secs_f64() * 1000.0)
    } else {
        format!("{:>7.1}", -((origin - t).as_secs_f64() * 1000.0))
    }
}

enum Line {
    Sent(SocketAddr, SocketAddr, Vec<u8>),
    Received(SocketAddr, SocketAddr, Vec<u8>),
    Event(IceEvent),
}

fn lines(side: &Side, origin: Instant) -> Vec<(Instant, Line)> {
    let mut out = Vec::new();
    for (t, tx) in side.sent.iter().filter(|(t, _)| *t >= origin) {
        out.push((*t, Line::Sent(tx.from, tx.to, tx.data.clone())));
    }
    for (t, from, to, data) in side.received.iter().filter(|r| r.0 >= origin) {
        out.push((*t, Line::Received(*from, *to, data.clone())));
    }
    for (t, e) in side.events.iter().filter(|(t, _)| *t >= origin) {
        out.push((*t, Line::Event(e.clone())));
    }
    out
}

fn timeline(a: Option<NatKind>, b: Option<NatKind>, nomination: NominationMode, label: &str) {
    let case = Case {
        a_nat: a,
        b_nat: b,
        turn: needs_turn(a, b),
        loss: 0.0,
        hop_delay: HOP,
        seed: 1000,
        nomination,
        relay_nomination_wait: ice::agent::IceConfig::default().relay_nomination_wait,
        nomination_wait: Duration::ZERO,
        consent: true,
    };
    let mut duo = build(&case, Instant::now());
    let ok = duo.run_until(Duration::from_secs(60), |d| d.both_completed());
    println!("\n=== {label} ({nomination:?}), completed: {ok} ===");
    let Some(origin) = duo.signalled_at else {
        println!("never signalled");
        return;
    };
    let mut all: Vec<(Instant, &str, Line)> = Vec::new();
    for (name, side) in [("A", &duo.a), ("B", &duo.b)] {
        for (t, l) in lines(side, origin) {
            all.push((t, name, l));
        }
    }
    // Stable: by time, A before B, sends before receives in insertion order.
    all.sort_by_key(|(t, _, _)| *t);
    // Which (side, base, peer) got a request before sending one: triggered checks.
    let mut requested: HashSet<(&str, SocketAddr)> = HashSet::new();
    let mut seen_tids: HashSet<[u8; 12]> = HashSet::new();
    let end = duo
        .a
        .events
        .iter()
        .chain(duo.b.events.iter())
        .filter(|(_, e)| matches!(e, IceEvent::Selected { .. }))
        .map(|(t, _)| *t)
        .max()
        .unwrap_or(duo.now);
    for (t, side, line) in all {
        if t > end + Duration::from_millis(1) {
            break;
        }
        match line {
            Line::Sent(from, to, data) => {
                let mut note = String::new();
                if let Some((req, peer)) = inner_request(&data, to) {
                    let first = seen_tids.insert(req.transaction_id.0);
                    note = if !first {
                        "  (retransmission)".into()
                    } else if requested.contains(&(side, peer)) {
                        "  [pacer slot, triggered]".into()
                    } else {
                        "  [pacer slot, ordinary]".into()
                    };
                }
                println!(
                    "{} {side} send {from} → {to}: {}{note}",
                    ms(t, origin),
                    describe(&data)
                );
            }
            Line::Received(from, to, data) => {
                if let Some((m, peer)) = inner_source(&data, from) {
                    if m.class == Class::Request && m.method == Method::Binding {
                        requested.insert((side, peer));
                    }
                }
                println!(
                    "{} {side} recv {from} → {to}: {}",
                    ms(t, origin),
                    describe(&data)
                );
            }
            Line::Event(e) => {
                let text = match e {
                    IceEvent::PairStateChanged {
                        local,
                        remote,
                        state,
                    } => format!(
                        "pair {} {} → {} {}: {state:?}",
                        local.kind, local.address, remote.kind, remote.address
                    ),
                    IceEvent::ValidPair { local, remote } => format!(
                        "valid pair {} {} → {} {}",
                        local.kind, local.address, remote.kind, remote.address
                    ),
                    IceEvent::LocalCandidate(c) => {
                        format!("local candidate {} {}", c.kind, c.address)
                    }
                    IceEvent::Selected { local, remote, .. } => format!(
                        "SELECTED {}/{} {} → {}",
                        local.kind, remote.kind, local.address, remote.address
                    ),
                    other => format!("{other:?}"),
                };
                println!("{} {side} event {text}", ms(t, origin));
            }
        }
    }
}

fn main() {
    let spec = std::env::var("ICE_TIMELINE").unwrap_or_else(|_| {
        "public:symmetric:regular,full-cone:public:aggressive,symmetric:full-cone:aggressive,\
         symmetric:symmetric:regular"
            .into()
    });
    for item in spec.split(',') {
        let parts: Vec<&str> = item.trim().split(':').collect();
        let (Some(a), Some(b), Some(mode)) = (
            parts.first().and_then(|s| parse_kind(s)),
            parts.get(1).and_then(|s| parse_kind(s)),
            parts.get(2),
        ) else {
            println!("bad case {item:?}: want A:B:regular|aggressive");
            continue;
        };
        let nomination = match *mode {
            "aggressive" => NominationMode::Aggressive,
            _ => NominationMode::Regular,
        };
        timeline(a, b, nomination, item.trim());
    }
}
