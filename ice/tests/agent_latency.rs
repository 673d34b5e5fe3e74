//! Selection latency in virtual time (deterministic, no wall clock): from "remote candidates
//! known" to "selected on both sides", 20 ms one-way delay per hop, Ta 50 ms, no loss, the
//! same network as the `ice_matrix` bench. Guards against regressions that add latency outside
//! the steps RFC 8445 mandates.
//!
//! - Where the target is reachable: at most 1.2 × its floor (regular = 2 RTT + slot,
//!   aggressive = 1 RTT + slot, slot = when the controlling agent's first check of the pair
//!   it selected left after signalling).
//! - Where it is not: the RFC-mandated step is all that is added (at most one Ta of pacing
//!   for the USE-CANDIDATE check, §8.1.1 with §6.1.4.2; the controlled agent's own check,
//!   §7.3.1.5), and the controlled agent never selects before its own check of the pair could
//!   have succeeded.

mod harness;
mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::{build, Case, Duo, Side};
use ice::agent::{IceEvent, NominationMode, DEFAULT_TA};
use ice::stun::{Class, Message, Method};
use sim::NatKind;

const HOP: Duration = Duration::from_millis(20);

/// What one run measured.
struct Run {
    duo: Duo,
    signalled: Instant,
    /// "Selected on both sides" after signalling.
    latency: Duration,
    /// The controlling agent's first check of its selected pair, after signalling.
    slot: Duration,
}

fn run(a_nat: Option<NatKind>, b_nat: Option<NatKind>, nomination: NominationMode) -> Run {
    let case = Case {
        a_nat,
        b_nat,
        turn: false,
        loss: 0.0,
        hop_delay: HOP,
        seed: 1000,
        nomination,
        relay_nomination_wait: ice::agent::IceConfig::default().relay_nomination_wait,
        nomination_wait: Duration::ZERO,
        consent: true,
    };
    let mut duo = build(&case, Instant::now());
    assert!(
        duo.run_until(Duration::from_secs(10), |d| d.both_completed()),
        "{a_nat:?} ↔ {b_nat:?} {nomination:?}: not completed"
    );
    let signalled = duo.signalled_at.expect("signalled");
    let done = selected_at(&duo.a).max(selected_at(&duo.b));
    let (_, remote) = duo.a.agent.selected_pair(1).expect("A selected");
    let first = first_check_to(&duo.a, remote.address, signalled).expect("A checked the pair");
    Run {
        latency: done - signalled,
        slot: first - signalled,
        signalled,
        duo,
    }
}

fn selected_at(side: &Side) -> Instant {
    side.events
        .iter()
        .find(|(_, e)| matches!(e, IceEvent::Selected { .. }))
        .map(|(t, _)| *t)
        .expect("a Selected event")
}

/// When `side` first sent a connectivity check to `remote` at or after `from`.
fn first_check_to(side: &Side, remote: SocketAddr, from: Instant) -> Option<Instant> {
    side.sent
        .iter()
        .filter(|(t, tx)| *t >= from && tx.to == remote)
        .find(|(_, tx)| {
            Message::decode(&tx.data).is_ok_and(|m| {
                m.class == Class::Request && m.method == Method::Binding && m.username().is_some()
            })
        })
        .map(|(t, _)| *t)
}

/// RTT between the two hosts of the simulator: each direction costs the sender's uplink hop
/// plus, behind a NAT, the NAT's wan hop.
fn rtt(a: Option<NatKind>, b: Option<NatKind>) -> Duration {
    let one_way = |x: Option<NatKind>| if x.is_some() { HOP * 2 } else { HOP };
    one_way(a) + one_way(b)
}

fn within(latency: Duration, floor: Duration, factor: f64) -> bool {
    latency.as_secs_f64() <= floor.as_secs_f64() * factor + 1e-9
}

#[test]
fn regular_nomination_public_to_full_cone_within_1_2_of_the_floor() {
    let (a, b) = (None, Some(NatKind::FullCone));
    let r = run(a, b, NominationMode::Regular);
    let floor = r.slot + rtt(a, b) * 2;
    assert!(r.latency >= floor, "faster than physics: {:?}", r.latency);
    assert!(
        within(r.latency, floor, 1.2),
        "regular public ↔ full-cone took {:?}, floor {floor:?}",
        r.latency
    );
}

#[test]
fn aggressive_nomination_public_to_full_cone_within_1_2_of_the_floor() {
    let (a, b) = (None, Some(NatKind::FullCone));
    let r = run(a, b, NominationMode::Aggressive);
    let floor = r.slot + rtt(a, b);
    assert!(r.latency >= floor, "faster than physics: {:?}", r.latency);
    assert!(
        within(r.latency, floor, 1.2),
        "aggressive public ↔ full-cone took {:?}, floor {floor:?}",
        r.latency
    );
}

/// Public ↔ symmetric, regular: the selected pair is the peer-reflexive one learned from the
/// peer's check. The USE-CANDIDATE check goes out on the next Ta tick after the pair became
/// valid (RFC 8445 §8.1.1, §6.1.4.2): at most one Ta more than the floor.
#[test]
fn regular_nomination_to_a_peer_reflexive_pair_waits_at_most_one_ta() {
    let (a, b) = (None, Some(NatKind::Symmetric));
    let r = run(a, b, NominationMode::Regular);
    let floor = r.slot + rtt(a, b) * 2;
    assert!(r.latency >= floor, "faster than physics: {:?}", r.latency);
    assert!(
        r.latency <= floor + DEFAULT_TA,
        "public ↔ symmetric regular took {:?}, floor {floor:?} + Ta",
        r.latency
    );
}

/// NATed controlling ↔ public, aggressive: the controlling agent selects one RTT after its
/// check (the floor), but the controlled agent selects only once its own check of the
/// pair succeeded (RFC 8445 §7.3.1.5), which it sends at its next Ta tick after the request
/// arrived (§7.3.1.4) or earlier as an ordinary check.
#[test]
fn aggressive_controlled_side_selects_after_its_own_check_within_the_rfc_bound() {
    let (a, b) = (Some(NatKind::FullCone), None);
    let r = run(a, b, NominationMode::Aggressive);
    let rtt = rtt(a, b);
    // The controlling agent itself meets the floor.
    let a_latency = selected_at(&r.duo.a) - r.signalled;
    assert!(
        within(a_latency, r.slot + rtt, 1.0),
        "controlling side took {a_latency:?}, floor {:?}",
        r.slot + rtt
    );
    // The controlled side: never before its own check of the selected pair succeeded…
    let (_, b_remote) = r.duo.b.agent.selected_pair(1).expect("B selected");
    let b_first = first_check_to(&r.duo.b, b_remote.address, r.signalled).expect("B checked");
    let b_selected = selected_at(&r.duo.b);
    assert!(
        b_selected >= b_first + rtt,
        "B selected before its check returned"
    );
    // …and no later than: nomination arrives (slot + A→B one way), next Ta tick, one RTT.
    let a_to_b = HOP * 2;
    let rfc_bound = r.slot + a_to_b + DEFAULT_TA + rtt;
    assert!(
        r.latency <= rfc_bound,
        "full-cone ↔ public aggressive took {:?}, RFC bound {rfc_bound:?}",
        r.latency
    );
}

/// Symmetric ↔ full-cone, aggressive: the controlled agent learns A's peer-reflexive address
/// from the nominating request (RFC 8445 §7.3.1.3) and its triggered check (§7.3.1.4) leaves
/// at the very next pacer opportunity: the request's arrival, or its previous new check + Ta
/// (§6.1.4.2, §14.2), whichever is later — the pacer and the harness add nothing.
#[test]
fn triggered_check_leaves_at_the_next_pacer_opportunity() {
    let (a, b) = (Some(NatKind::Symmetric), Some(NatKind::FullCone));
    let r = run(a, b, NominationMode::Aggressive);
    let (_, b_remote) = r.duo.b.agent.selected_pair(1).expect("B selected");
    assert_eq!(b_remote.kind, ice::CandidateKind::PeerReflexive);
    let arrival = r
        .duo
        .b
        .received
        .iter()
        .find(|(t, from, _, data)| {
            *t >= r.signalled
                && *from == b_remote.address
                && Message::decode(data).is_ok_and(|m| m.class == Class::Request)
        })
        .map(|(t, ..)| *t)
        .expect("A's check reached B");
    let previous = r
        .duo
        .b
        .sent
        .iter()
        .filter(|(t, tx)| {
            *t >= r.signalled
                && *t < arrival
                && Message::decode(&tx.data).is_ok_and(|m| {
                    m.class == Class::Request
                        && m.method == Method::Binding
                        && m.username().is_some()
                })
        })
        .map(|(t, _)| *t)
        .max();
    let opportunity = previous.map_or(arrival, |p| arrival.max(p + DEFAULT_TA));
    let triggered = first_check_to(&r.duo.b, b_remote.address, r.signalled).expect("B checked");
    assert_eq!(
        triggered,
        opportunity,
        "triggered check late by {:?}",
        triggered - opportunity
    );
    // And B selects exactly one RTT later (its check's response), not a tick later.
    assert_eq!(selected_at(&r.duo.b), triggered + rtt(a, b));
}
