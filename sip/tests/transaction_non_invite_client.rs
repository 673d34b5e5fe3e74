//! Non-INVITE client transaction: RFC 3261 §17.1.2 schedules.

mod common;

use std::time::{Duration, Instant};

use common::{bytes, ms, other_actions, run_until, transmit_offsets_ms};
use sip::transaction::{
    Action, NonInviteClient, NonInviteClientState, Reliability, TimeoutKind, TimerConfig,
    TransactionError,
};

fn start(transport: Reliability) -> (Instant, NonInviteClient) {
    let t0 = Instant::now();
    let (txn, first) =
        NonInviteClient::start(t0, bytes("REGISTER"), transport, TimerConfig::default());
    assert_eq!(first, vec![Action::Transmit(bytes("REGISTER"))]);
    (t0, txn)
}

#[test]
fn udp_total_loss_doubles_timer_e_up_to_t2_then_timer_f() {
    let (t0, mut txn) = start(Reliability::Unreliable);
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    // RFC 3261 §17.1.2.2: E = 0.5, 1, 2, 4, 4, 4 … s (capped at T2 = 4 s).
    assert_eq!(
        transmit_offsets_ms(&log),
        vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert_eq!(
        other_actions(&log),
        vec![
            (32_000, Action::Timeout(TimeoutKind::TimerF)),
            (32_000, Action::Terminated)
        ]
    );
    assert_eq!(txn.state(), NonInviteClientState::Terminated);
}

#[test]
fn provisional_pins_timer_e_to_t2() {
    let (t0, mut txn) = start(Reliability::Unreliable);
    let log = run_until(&mut txn, t0, t0 + ms(1000));
    assert_eq!(transmit_offsets_ms(&log), vec![500]);
    assert_eq!(
        txn.on_response(t0 + ms(1000), 100).unwrap(),
        vec![Action::PassToTu]
    );
    assert_eq!(txn.state(), NonInviteClientState::Proceeding);
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    // The pending E (due at 1.5 s) still fires; from then on E = T2 = 4 s. F keeps running.
    assert_eq!(
        transmit_offsets_ms(&log),
        vec![1500, 5500, 9500, 13_500, 17_500, 21_500, 25_500, 29_500]
    );
    assert_eq!(
        other_actions(&log)[0],
        (32_000, Action::Timeout(TimeoutKind::TimerF))
    );
}

#[test]
fn final_response_completes_absorbs_retransmissions_and_waits_timer_k() {
    let (t0, mut txn) = start(Reliability::Unreliable);
    let _ = run_until(&mut txn, t0, t0 + ms(2000));
    assert_eq!(
        txn.on_response(t0 + ms(2000), 200).unwrap(),
        vec![Action::PassToTu]
    );
    assert_eq!(txn.state(), NonInviteClientState::Completed);
    // RFC 3261 §17.1.2.2: retransmitted finals are absorbed in Completed.
    assert!(txn.on_response(t0 + ms(2500), 200).unwrap().is_empty());
    assert!(txn.on_response(t0 + ms(2600), 180).unwrap().is_empty());
    // Timer K = T4 = 5 s; no more retransmissions.
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(log, vec![(ms(7000), Action::Terminated)]);
}

#[test]
fn reliable_transport_has_no_timer_e_and_zero_timer_k() {
    let (t0, mut txn) = start(Reliability::Reliable);
    assert_eq!(txn.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    assert_eq!(
        txn.on_response(t0 + ms(80), 401).unwrap(),
        vec![Action::PassToTu, Action::Terminated]
    );
    assert_eq!(txn.poll_timeout(), None);
}

#[test]
fn reliable_timeout_is_timer_f_without_retransmissions() {
    let (t0, mut txn) = start(Reliability::Reliable);
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(
        log,
        vec![
            (ms(32_000), Action::Timeout(TimeoutKind::TimerF)),
            (ms(32_000), Action::Terminated)
        ]
    );
}

#[test]
fn transport_error_and_bad_status() {
    let (t0, mut txn) = start(Reliability::Unreliable);
    assert_eq!(
        txn.on_response(t0, 1000),
        Err(TransactionError::InvalidStatus(1000))
    );
    assert_eq!(
        txn.on_transport_error(),
        vec![Action::TransportError, Action::Terminated]
    );
    assert!(txn.on_response(t0, 200).unwrap().is_empty());
}
