//! INVITE server transaction: RFC 3261 §17.2.1 and RFC 6026 Accepted state.

mod common;

use std::time::{Duration, Instant};

use common::{bytes, ms, other_actions, run_until, transmit_offsets_ms};
use sip::transaction::{
    Action, InviteServer, InviteServerState, Reliability, TimeoutKind, TimerConfig,
    TransactionError, TRYING_DELAY,
};

fn new(transport: Reliability) -> (Instant, InviteServer) {
    let t0 = Instant::now();
    (t0, InviteServer::new(t0, transport, TimerConfig::default()))
}

#[test]
fn silent_tu_gets_a_100_trying_request_after_200_ms() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    assert_eq!(txn.poll_timeout(), Some(t0 + TRYING_DELAY));
    assert!(txn.handle_timeout(t0 + ms(199)).is_empty());
    assert_eq!(
        txn.handle_timeout(t0 + ms(200)),
        vec![Action::Send100Trying]
    );
    assert_eq!(txn.poll_timeout(), None);
    assert_eq!(
        txn.send_response(t0 + ms(201), 100, bytes("100")).unwrap(),
        vec![Action::Transmit(bytes("100"))]
    );
}

#[test]
fn a_prompt_tu_response_cancels_the_100_trying() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    let _ = txn.send_response(t0 + ms(50), 180, bytes("180")).unwrap();
    assert_eq!(txn.poll_timeout(), None);
    assert!(txn.handle_timeout(t0 + ms(300)).is_empty());
}

#[test]
fn retransmitted_invite_resends_the_last_provisional() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    // Before any response there is nothing to resend.
    assert!(txn.on_request_retransmission(t0 + ms(100)).is_empty());
    let _ = txn.send_response(t0 + ms(150), 100, bytes("100")).unwrap();
    assert_eq!(
        txn.on_request_retransmission(t0 + ms(500)),
        vec![Action::Transmit(bytes("100"))]
    );
    let _ = txn.send_response(t0 + ms(600), 180, bytes("180")).unwrap();
    assert_eq!(
        txn.on_request_retransmission(t0 + ms(1500)),
        vec![Action::Transmit(bytes("180"))]
    );
}

#[test]
fn non_2xx_final_is_retransmitted_by_timer_g_until_timer_h() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    let first = txn.send_response(t0 + ms(1000), 486, bytes("486")).unwrap();
    assert_eq!(first, vec![Action::Transmit(bytes("486"))]);
    assert_eq!(txn.state(), InviteServerState::Completed);
    // The ACK never arrives (lost).
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    // RFC 3261 §17.2.1: G = T1 doubling to T2: +0.5, +1, +2, +4, +4 … from 1 s.
    assert_eq!(
        transmit_offsets_ms(&log),
        vec![1500, 2500, 4500, 8500, 12_500, 16_500, 20_500, 24_500, 28_500, 32_500]
    );
    // Timer H = 64·T1 after the final response.
    assert_eq!(
        other_actions(&log),
        vec![
            (33_000, Action::Timeout(TimeoutKind::TimerH)),
            (33_000, Action::Terminated)
        ]
    );
}

#[test]
fn retransmitted_invite_in_completed_resends_the_final() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    let _ = txn.send_response(t0, 603, bytes("603")).unwrap();
    assert_eq!(
        txn.on_request_retransmission(t0 + ms(100)),
        vec![Action::Transmit(bytes("603"))]
    );
}

#[test]
fn ack_stops_timer_g_and_timer_i_absorbs_then_terminates() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    let _ = txn.send_response(t0, 486, bytes("486")).unwrap();
    let log = run_until(&mut txn, t0, t0 + ms(2000));
    assert_eq!(transmit_offsets_ms(&log), vec![500, 1500]);
    // The ACK for a non-2xx is absorbed by the transaction (not passed to the TU).
    assert!(txn.on_ack(t0 + ms(2000)).is_empty());
    assert_eq!(txn.state(), InviteServerState::Confirmed);
    assert!(txn.on_ack(t0 + ms(2100)).is_empty());
    assert!(txn.on_request_retransmission(t0 + ms(2200)).is_empty());
    // Timer I = T4 = 5 s.
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(log, vec![(ms(7000), Action::Terminated)]);
}

#[test]
fn reliable_transport_no_timer_g_and_zero_timer_i() {
    let (t0, mut txn) = new(Reliability::Reliable);
    let _ = txn.send_response(t0, 486, bytes("486")).unwrap();
    // Only Timer H remains.
    assert_eq!(txn.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    assert_eq!(txn.on_ack(t0 + ms(40)), vec![Action::Terminated]);
}

#[test]
fn rfc6026_2xx_enters_accepted_absorbs_invites_and_passes_ack() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    let _ = txn.send_response(t0 + ms(100), 180, bytes("180")).unwrap();
    assert_eq!(
        txn.send_response(t0 + ms(1000), 200, bytes("200")).unwrap(),
        vec![Action::Transmit(bytes("200"))]
    );
    assert_eq!(txn.state(), InviteServerState::Accepted);
    // Retransmitted INVITEs are absorbed (the TU's 2xx retransmitter owns resending).
    assert!(txn.on_request_retransmission(t0 + ms(1500)).is_empty());
    // 2xx retransmissions from the TU pass through.
    assert_eq!(
        txn.send_response(t0 + ms(1500), 200, bytes("200")).unwrap(),
        vec![Action::Transmit(bytes("200"))]
    );
    // The ACK for the 2xx goes to the TU, every copy of it.
    assert_eq!(txn.on_ack(t0 + ms(1600)), vec![Action::PassToTu]);
    assert_eq!(txn.on_ack(t0 + ms(1700)), vec![Action::PassToTu]);
    // A non-2xx after the 2xx is refused.
    assert_eq!(
        txn.send_response(t0 + ms(1800), 500, bytes("500")),
        Err(TransactionError::InvalidState {
            operation: "send_response",
            state: "Accepted"
        })
    );
    // Timer L = 64·T1 after the 2xx.
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(log, vec![(ms(33_000), Action::Terminated)]);
}

#[test]
fn transport_error_in_accepted_keeps_the_transaction() {
    let (t0, mut txn) = new(Reliability::Reliable);
    let _ = txn.send_response(t0, 200, bytes("200")).unwrap();
    assert_eq!(txn.on_transport_error(), vec![Action::TransportError]);
    assert_eq!(txn.state(), InviteServerState::Accepted);
    let (_, mut other) = new(Reliability::Reliable);
    assert_eq!(
        other.on_transport_error(),
        vec![Action::TransportError, Action::Terminated]
    );
}

#[test]
fn responses_after_the_final_are_typed_errors() {
    let (t0, mut txn) = new(Reliability::Unreliable);
    let _ = txn.send_response(t0, 404, bytes("404")).unwrap();
    assert!(matches!(
        txn.send_response(t0, 180, bytes("180")),
        Err(TransactionError::InvalidState {
            state: "Completed",
            ..
        })
    ));
    assert_eq!(
        txn.send_response(t0, 42, bytes("x")),
        Err(TransactionError::InvalidStatus(42))
    );
    // The failed calls did not disturb the state.
    assert_eq!(txn.state(), InviteServerState::Completed);
    assert_eq!(
        txn.on_request_retransmission(t0),
        vec![Action::Transmit(bytes("404"))]
    );
}
