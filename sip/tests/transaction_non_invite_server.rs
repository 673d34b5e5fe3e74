//! Non-INVITE server transaction: RFC 3261 §17.2.2.

mod common;

use std::time::{Duration, Instant};

use common::{bytes, ms, run_until};
use sip::transaction::{
    Action, NonInviteServer, NonInviteServerState, Reliability, TimerConfig, TransactionError,
};

#[test]
fn trying_absorbs_proceeding_and_completed_resend_last_response() {
    let t0 = Instant::now();
    let mut txn = NonInviteServer::new(Reliability::Unreliable, TimerConfig::default());
    assert_eq!(txn.state(), NonInviteServerState::Trying);
    assert!(txn.on_request_retransmission(t0 + ms(500)).is_empty());
    let _ = txn.send_response(t0 + ms(600), 100, bytes("100")).unwrap();
    assert_eq!(txn.state(), NonInviteServerState::Proceeding);
    assert_eq!(
        txn.on_request_retransmission(t0 + ms(1500)),
        vec![Action::Transmit(bytes("100"))]
    );
    assert_eq!(
        txn.send_response(t0 + ms(2000), 200, bytes("200")).unwrap(),
        vec![Action::Transmit(bytes("200"))]
    );
    assert_eq!(txn.state(), NonInviteServerState::Completed);
    assert_eq!(
        txn.on_request_retransmission(t0 + ms(3500)),
        vec![Action::Transmit(bytes("200"))]
    );
    // RFC 3261 §17.2.2: Timer J = 64·T1 on UDP.
    let log = run_until(&mut txn, t0, t0 + Duration::from_secs(60));
    assert_eq!(log, vec![(ms(34_000), Action::Terminated)]);
}

#[test]
fn reliable_final_terminates_at_once() {
    let t0 = Instant::now();
    let mut txn = NonInviteServer::new(Reliability::Reliable, TimerConfig::default());
    assert_eq!(
        txn.send_response(t0, 200, bytes("200")).unwrap(),
        vec![Action::Transmit(bytes("200")), Action::Terminated]
    );
    assert_eq!(txn.poll_timeout(), None);
}

#[test]
fn a_second_final_is_refused() {
    let t0 = Instant::now();
    let mut txn = NonInviteServer::new(Reliability::Unreliable, TimerConfig::default());
    let _ = txn.send_response(t0, 200, bytes("200")).unwrap();
    assert_eq!(
        txn.send_response(t0, 500, bytes("500")),
        Err(TransactionError::InvalidState {
            operation: "send_response",
            state: "Completed"
        })
    );
    assert_eq!(
        txn.on_transport_error(),
        vec![Action::TransportError, Action::Terminated]
    );
}
