//! The NAT matrix: every ordered pair of {no NAT, full cone, address-restricted,
//! port-restricted, symmetric} × {without TURN, with TURN} × {0 %, 10 %, 30 % loss}, two
//! agents over the simulated network in virtual time.
//!
//! For each case: the candidate types of the selected pair, that both sides agree on it, that
//! both are media-ready (data crosses the network both ways through `send_data`), and where no
//! path can exist (symmetric ↔ symmetric without TURN) a failure with a reason for every pair.
//!
//! Seeds are fixed; `SEED_BASE=<n> cargo test -p ice --test agent_matrix` runs the matrix with
//! other seeds (a soak over many bases is how the lossy cases were hardened).

mod harness;
mod sim;

use std::time::{Duration, Instant};

use harness::{build, Case};
use ice::agent::{FailureReason, IceEvent, NominationMode};
use ice::CandidateKind;
use sim::NatKind;

const KINDS: [Option<NatKind>; 5] = [
    None,
    Some(NatKind::FullCone),
    Some(NatKind::AddressRestricted),
    Some(NatKind::PortRestricted),
    Some(NatKind::Symmetric),
];

/// The type a side's candidate has in the selected pair when the path is direct: a public host
/// is itself, a symmetric NAT hands out a new mapping per destination (peer-reflexive), a cone
/// NAT keeps the server-reflexive mapping.
/// A cone NAT side whose server-reflexive gathering was lost (under loss) is discovered as
/// peer-reflexive instead.
fn direct_kind(nat: Option<NatKind>, has_srflx: bool) -> CandidateKind {
    match nat {
        None => CandidateKind::Host,
        Some(NatKind::Symmetric) => CandidateKind::PeerReflexive,
        Some(_) if has_srflx => CandidateKind::ServerReflexive,
        Some(_) => CandidateKind::PeerReflexive,
    }
}

/// RFC 4787: a symmetric NAT gives the peer a mapping it never saw, so the other side's NAT must
/// accept a new port from the symmetric side's IP: only no NAT, full cone or address-restricted
/// do. Symmetric ↔ symmetric and port-restricted ↔ symmetric need a relay.
fn direct_possible(a: Option<NatKind>, b: Option<NatKind>) -> bool {
    let blocks =
        |x: Option<NatKind>| matches!(x, Some(NatKind::Symmetric | NatKind::PortRestricted));
    !((a == Some(NatKind::Symmetric) && blocks(b)) || (b == Some(NatKind::Symmetric) && blocks(a)))
}

fn name(k: Option<NatKind>) -> &'static str {
    match k {
        None => "public",
        Some(NatKind::FullCone) => "full-cone",
        Some(NatKind::AddressRestricted) => "addr-restricted",
        Some(NatKind::PortRestricted) => "port-restricted",
        Some(NatKind::Symmetric) => "symmetric",
    }
}

pub fn run_case(
    a_nat: Option<NatKind>,
    b_nat: Option<NatKind>,
    turn: bool,
    loss: f64,
    seed: u64,
) -> Result<(), String> {
    let t0 = Instant::now();
    let case = Case {
        a_nat,
        b_nat,
        turn,
        loss,
        hop_delay: Duration::from_millis(20),
        seed,
        nomination: NominationMode::Regular,
        relay_nomination_wait: ice::agent::IceConfig::default().relay_nomination_wait,
        // Under loss a direct check may need retransmissions; give the higher-priority direct
        // pairs time before a relayed pair is nominated.
        nomination_wait: if loss > 0.0 {
            Duration::from_millis(2500)
        } else {
            Duration::ZERO
        },
        consent: true,
    };
    let label = format!(
        "{} <-> {} turn={} loss={}",
        name(a_nat),
        name(b_nat),
        turn,
        loss
    );
    let mut duo = build(&case, t0);
    let settled = duo.run_until(Duration::from_secs(120), |d| {
        (d.both_completed()) || (d.a.failed().is_some() && d.b.failed().is_some())
    });
    if std::env::var("ICE_DEBUG").is_ok() {
        for (t, e) in duo.a.events.iter() {
            eprintln!("A {:?} {}", *t - t0, short(e));
        }
        for (t, e) in duo.b.events.iter() {
            eprintln!("B {:?} {}", *t - t0, short(e));
        }
    }
    if !settled {
        return Err(format!(
            "{label}: neither completed nor failed: A {:?}, B {:?}",
            duo.a.agent.state(),
            duo.b.agent.state()
        ));
    }
    if !turn && !direct_possible(a_nat, b_nat) {
        // No path can exist: a clear failure with a reason per pair.
        for (side, s) in [("A", &duo.a), ("B", &duo.b)] {
            let Some(IceEvent::Failed { reasons }) = s.failed() else {
                return Err(format!("{label}: {side} did not fail"));
            };
            if reasons.is_empty() {
                return Err(format!("{label}: {side} failed without reasons"));
            }
            if !reasons.iter().all(|r| {
                matches!(
                    r.reason,
                    FailureReason::Timeout | FailureReason::Unreachable
                )
            }) {
                return Err(format!("{label}: {side} unexpected reasons {reasons:?}"));
            }
        }
        return Ok(());
    }
    if !duo.both_completed() {
        let reasons = duo.a.failed().cloned().or_else(|| duo.b.failed().cloned());
        return Err(format!("{label}: failed: {reasons:?}"));
    }
    let (la, ra) = duo
        .a
        .agent
        .selected_pair(1)
        .ok_or("A has no selected pair")?;
    let (lb, rb) = duo
        .b
        .agent
        .selected_pair(1)
        .ok_or("B has no selected pair")?;
    if la.address != rb.address || ra.address != lb.address {
        return Err(format!(
            "{label}: sides disagree: A {}->{}, B {}->{}",
            la.address, ra.address, lb.address, rb.address
        ));
    }
    if direct_possible(a_nat, b_nat) {
        let has_srflx = |agent: &ice::IceAgent| {
            agent
                .local_candidates()
                .iter()
                .any(|c| c.kind == CandidateKind::ServerReflexive)
        };
        let expected = (
            direct_kind(a_nat, has_srflx(&duo.a.agent)),
            direct_kind(b_nat, has_srflx(&duo.b.agent)),
        );
        let direct =
            (la.kind, ra.kind) == expected && (lb.kind, rb.kind) == (expected.1, expected.0);
        // Under loss the direct checks may still be retransmitting when `nomination_wait`
        // runs out; the controlling agent then settles for a relayed pair, which is correct
        // ICE behaviour (a working pair), so it is allowed there.
        let relayed = la.kind == CandidateKind::Relayed || ra.kind == CandidateKind::Relayed;
        if !(direct || (loss > 0.0 && turn && relayed)) {
            return Err(format!(
                "{label}: selected A {}/{} B {}/{}, expected {}/{}",
                la.kind, ra.kind, lb.kind, rb.kind, expected.0, expected.1
            ));
        }
    } else if la.kind != CandidateKind::Relayed && ra.kind != CandidateKind::Relayed {
        return Err(format!(
            "{label}: symmetric pair without a relay selected: {}/{}",
            la.kind, ra.kind
        ));
    }
    if !duo.exchange_media_retrying(Duration::from_secs(1), 20) {
        return Err(format!("{label}: media did not cross both ways"));
    }
    Ok(())
}

fn run_matrix(turn: bool, loss: f64) {
    let mut failures = Vec::new();
    let mut seed: u64 = std::env::var("SEED_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    for a in KINDS {
        for b in KINDS {
            seed += 1;
            if let Err(e) = run_case(a, b, turn, loss, seed) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn matrix_without_turn_no_loss() {
    run_matrix(false, 0.0);
}

#[test]
fn matrix_with_turn_no_loss() {
    run_matrix(true, 0.0);
}

#[test]
fn matrix_without_turn_10_percent_loss() {
    run_matrix(false, 0.1);
}

#[test]
fn matrix_with_turn_10_percent_loss() {
    run_matrix(true, 0.1);
}

#[test]
fn matrix_without_turn_30_percent_loss() {
    run_matrix(false, 0.3);
}

#[test]
fn matrix_with_turn_30_percent_loss() {
    run_matrix(true, 0.3);
}

#[test]
fn address_restricted_to_symmetric_needs_and_gets_a_peer_reflexive_path() {
    for (a, b) in [
        (Some(NatKind::AddressRestricted), Some(NatKind::Symmetric)),
        (Some(NatKind::Symmetric), Some(NatKind::AddressRestricted)),
    ] {
        run_case(a, b, false, 0.0, 7).unwrap();
    }
}

fn short(e: &IceEvent) -> String {
    match e {
        IceEvent::PairStateChanged {
            local,
            remote,
            state,
        } => format!(
            "pair {} {} -> {} {} {:?}",
            local.kind, local.address, remote.kind, remote.address, state
        ),
        IceEvent::ValidPair { local, remote } => format!(
            "VALID {} {} -> {} {}",
            local.kind, local.address, remote.kind, remote.address
        ),
        IceEvent::Selected { local, remote, .. } => format!(
            "SELECTED {} {} -> {} {}",
            local.kind, local.address, remote.kind, remote.address
        ),
        IceEvent::LocalCandidate(c) => format!("local {} {}", c.kind, c.address),
        other => format!("{other:?}"),
    }
}
