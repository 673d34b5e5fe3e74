//! INVITE client transaction: RFC 3261 §17.1.1 schedules and RFC 6026 Accepted state.

mod common;

use std::time::{Duration, Instant};

use common::{bytes, ms, other_actions, run_until, transmit_offsets_ms};
use sip::transaction::{
    Action, InviteClient, InviteClientState, Reliability, TimeoutKind, TimerConfig,
    TransactionError,
};

fn start(transport: Reliability) -> (Instant, InviteClient, Vec<Action>) {
    let t0 = Instant::now();
    let (txn, actions) =
        InviteClient::start(t0, bytes("INVITE"), transport, TimerConfig::default());
    (t0, txn, actions)
}

#[test]
fn udp_total_loss_retransmits_with_timer_a_doubling_then_timer_b() {
    let (t0, mut txn, first) = start(Reliability::Unreliable);
    assert_eq!(first, vec![Action::Transmit(bytes("INVITE"))]);
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    // RFC 3261 §17.1.1.2: A = 500 ms doubling with no cap: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(
        transmit_offsets_ms(&log),
        vec![500, 1500, 3500, 7500, 15500, 31500]
    );
    assert!(log
        .iter()
        .all(|(_, a)| !matches!(a, Action::Transmit(b) if b != &bytes("INVITE"))));
    // Timer B = 64·T1 = 32 s → timeout to the TU (408) and Terminated.
    assert_eq!(
        other_actions(&log),
        vec![
            (32_000, Action::Timeout(TimeoutKind::TimerB)),
            (32_000, Action::Terminated)
        ]
    );
    assert_eq!(txn.state(), InviteClientState::Terminated);
    assert_eq!(txn.poll_timeout(), None);
}

#[test]
fn custom_t1_scales_the_schedule() {
    let t0 = Instant::now();
    let config = TimerConfig {
        t1: ms(100),
        ..TimerConfig::default()
    };
    let (mut txn, _) = InviteClient::start(t0, bytes("INVITE"), Reliability::Unreliable, config);
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(
        transmit_offsets_ms(&log),
        vec![100, 300, 700, 1500, 3100, 6300]
    );
    assert_eq!(
        other_actions(&log)[0],
        (6400, Action::Timeout(TimeoutKind::TimerB))
    );
}

#[test]
fn reliable_transport_never_retransmits_and_still_times_out() {
    let (t0, mut txn, first) = start(Reliability::Reliable);
    assert_eq!(first.len(), 1);
    assert_eq!(txn.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert!(transmit_offsets_ms(&log).is_empty());
    assert_eq!(
        log[0],
        (
            Duration::from_secs(32),
            Action::Timeout(TimeoutKind::TimerB)
        )
    );
}

#[test]
fn provisional_stops_retransmissions_and_timer_b() {
    let (t0, mut txn, _) = start(Reliability::Unreliable);
    let log = run_until(&mut txn, t0, t0 + ms(2000));
    assert_eq!(transmit_offsets_ms(&log), vec![500, 1500]);
    let actions = txn.on_response(t0 + ms(2000), 180).unwrap();
    assert_eq!(actions, vec![Action::PassToTu]);
    assert_eq!(txn.state(), InviteClientState::Proceeding);
    // RFC 3261 §17.1.1.2: in Proceeding neither A nor B runs; the TU decides (CANCEL).
    assert_eq!(txn.poll_timeout(), None);
    assert_eq!(
        txn.on_response(t0 + ms(2100), 183).unwrap(),
        vec![Action::PassToTu]
    );
}

#[test]
fn non_2xx_final_is_acked_in_the_transaction_and_ack_resent_on_retransmission() {
    let (t0, mut txn, _) = start(Reliability::Unreliable);
    let _ = txn.on_response(t0 + ms(100), 180).unwrap();
    let actions = txn.on_response(t0 + ms(1000), 486).unwrap();
    assert_eq!(actions, vec![Action::PassToTu, Action::SendAckForNon2xx]);
    assert_eq!(txn.state(), InviteClientState::Completed);
    // A retransmitted 486 before the TU handed the ACK in asks for it again.
    assert_eq!(
        txn.on_response(t0 + ms(1100), 486).unwrap(),
        vec![Action::SendAckForNon2xx]
    );
    assert_eq!(
        txn.send_ack(bytes("ACK")).unwrap(),
        vec![Action::Transmit(bytes("ACK"))]
    );
    // Our ACK is lost, so the server retransmits the 486 (Timer G); each copy is answered
    // with the same ACK and never passed to the TU again.
    for at in [1500, 2500, 4500] {
        assert_eq!(
            txn.on_response(t0 + ms(at), 486).unwrap(),
            vec![Action::Transmit(bytes("ACK"))]
        );
    }
    // Timer D = 32 s from the final response.
    assert_eq!(txn.poll_timeout(), Some(t0 + ms(33_000)));
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(log, vec![(ms(33_000), Action::Terminated)]);
}

#[test]
fn final_response_in_calling_stops_timer_a() {
    let (t0, mut txn, _) = start(Reliability::Unreliable);
    let _ = txn.on_response(t0 + ms(600), 503).unwrap();
    let _ = txn.send_ack(bytes("ACK")).unwrap();
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert!(transmit_offsets_ms(&log).is_empty());
    assert_eq!(log, vec![(ms(32_600), Action::Terminated)]);
}

#[test]
fn reliable_non_2xx_terminates_once_the_ack_is_sent() {
    let (t0, mut txn, _) = start(Reliability::Reliable);
    let actions = txn.on_response(t0 + ms(300), 404).unwrap();
    assert_eq!(actions, vec![Action::PassToTu, Action::SendAckForNon2xx]);
    // RFC 3261 §17.1.1.2: Timer D = 0 on reliable transports.
    assert_eq!(
        txn.send_ack(bytes("ACK")).unwrap(),
        vec![Action::Transmit(bytes("ACK")), Action::Terminated]
    );
    assert_eq!(txn.state(), InviteClientState::Terminated);
}

#[test]
fn rfc6026_2xx_enters_accepted_and_every_2xx_goes_to_the_tu() {
    let (t0, mut txn, _) = start(Reliability::Unreliable);
    assert_eq!(
        txn.on_response(t0 + ms(700), 200).unwrap(),
        vec![Action::PassToTu]
    );
    assert_eq!(txn.state(), InviteClientState::Accepted);
    // Retransmissions of the 2xx and 2xx from other forks all reach the TU so it can ACK.
    assert_eq!(
        txn.on_response(t0 + ms(1200), 200).unwrap(),
        vec![Action::PassToTu]
    );
    assert_eq!(
        txn.on_response(t0 + ms(1300), 202).unwrap(),
        vec![Action::PassToTu]
    );
    // Anything else is absorbed; no ACK from the transaction for a 2xx.
    assert!(txn.on_response(t0 + ms(1400), 180).unwrap().is_empty());
    assert!(txn.on_response(t0 + ms(1500), 486).unwrap().is_empty());
    // Timer A stopped: only Timer M (64·T1 from the first 2xx) remains.
    assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_700)));
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(log, vec![(ms(32_700), Action::Terminated)]);
    assert!(txn.on_response(t0 + ms(40_000), 200).unwrap().is_empty());
}

#[test]
fn transport_error_is_reported_and_terminates() {
    let (_, mut txn, _) = start(Reliability::Unreliable);
    assert_eq!(
        txn.on_transport_error(),
        vec![Action::TransportError, Action::Terminated]
    );
    assert_eq!(txn.poll_timeout(), None);
    assert!(txn.on_transport_error().is_empty());
}

#[test]
fn invalid_status_and_misplaced_ack_are_typed_errors() {
    let (t0, mut txn, _) = start(Reliability::Unreliable);
    assert_eq!(
        txn.on_response(t0, 99),
        Err(TransactionError::InvalidStatus(99))
    );
    assert_eq!(
        txn.on_response(t0, 700),
        Err(TransactionError::InvalidStatus(700))
    );
    assert_eq!(
        txn.send_ack(bytes("ACK")),
        Err(TransactionError::InvalidState {
            operation: "send_ack",
            state: "Calling"
        })
    );
    assert_eq!(txn.state(), InviteClientState::Calling);
}

#[test]
fn late_handle_timeout_does_not_burst() {
    let (t0, mut txn, _) = start(Reliability::Unreliable);
    // The driver oversleeps to 10 s: one retransmission, then the timer is rearmed from now.
    let actions = txn.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(actions, vec![Action::Transmit(bytes("INVITE"))]);
    assert_eq!(txn.poll_timeout(), Some(t0 + ms(11_000)));
}

#[test]
fn transport_error_in_accepted_is_not_the_transactions() {
    let (t0, mut txn, _) = start(Reliability::Reliable);
    let _ = txn.on_response(t0 + ms(100), 200).unwrap();
    assert!(txn.on_transport_error().is_empty());
    assert_eq!(txn.state(), InviteClientState::Accepted);
}
