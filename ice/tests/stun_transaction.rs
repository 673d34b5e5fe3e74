//! The client transaction's schedule (RFC 8489 §6.2), run entirely in virtual time.

use std::time::{Duration, Instant};

use ice::stun::{
    Attribute, Class, ClientTransaction, Message, Method, Outcome, RetransmitConfig, TransactionId,
};

const ID: TransactionId = TransactionId([7; 12]);

fn request() -> Message {
    Message::new(Class::Request, Method::Binding, ID).with(Attribute::Software("test".into()))
}

fn start(now: Instant, config: RetransmitConfig, reliable: bool) -> ClientTransaction {
    let req = request();
    let bytes = req.encode(None, true);
    ClientTransaction::new(&req, bytes, now, config, reliable)
}

fn success(id: TransactionId) -> Message {
    Message::new(Class::Success, Method::Binding, id).with(Attribute::XorMappedAddress(
        "192.0.2.1:4000".parse().unwrap(),
    ))
}

/// Drive a transaction with no response: jump to each timeout, record the times of sends,
/// and return them with the time of the final outcome (all in ms after `t0`).
fn run_without_response(t0: Instant, tx: &mut ClientTransaction) -> (Vec<u64>, u64) {
    let ms = |t: Instant| t.duration_since(t0).as_millis() as u64;
    let mut sends = Vec::new();
    let mut now = t0;
    for _ in 0..100 {
        while let Some(bytes) = tx.poll_transmit() {
            assert_eq!(bytes, request().encode(None, true));
            sends.push(ms(now));
        }
        if let Some(outcome) = tx.poll_outcome() {
            assert_eq!(outcome, Outcome::TimedOut);
            return (sends, ms(now));
        }
        now = tx
            .poll_timeout()
            .expect("a running transaction always has a timeout");
        // Just before the deadline nothing happens.
        tx.handle_timeout(now - Duration::from_millis(1));
        assert_eq!(tx.poll_transmit(), None);
        assert!(!tx.is_done());
        tx.handle_timeout(now);
    }
    panic!("transaction never finished");
}

#[test]
fn default_udp_schedule_matches_rfc_8489() {
    let t0 = Instant::now();
    let mut tx = start(t0, RetransmitConfig::default(), false);
    assert_eq!(tx.id(), ID);
    let (sends, timed_out_at) = run_without_response(t0, &mut tx);
    // RFC 8489 §6.2.1: 0, 500, 1500, 3500, 7500, 15500, 31500 ms, failure at 39500 ms.
    assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(timed_out_at, 39500);
    assert_eq!(tx.sends(), 7);
    assert!(tx.is_done());
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.poll_outcome(), None, "the outcome is reported once");
    assert_eq!(
        RetransmitConfig::default().total_duration(),
        Duration::from_millis(39500)
    );
}

#[test]
fn configured_schedule_is_followed() {
    let t0 = Instant::now();
    let config = RetransmitConfig {
        rto: Duration::from_millis(100),
        max_sends: 3,
        last_wait_multiplier: 4,
    };
    let mut tx = start(t0, config, false);
    let (sends, timed_out_at) = run_without_response(t0, &mut tx);
    assert_eq!(sends, [0, 100, 300]);
    assert_eq!(timed_out_at, 300 + 400);
}

#[test]
fn single_send_configuration_waits_rm_times_rto() {
    let t0 = Instant::now();
    let config = RetransmitConfig {
        rto: Duration::from_millis(200),
        max_sends: 1,
        last_wait_multiplier: 3,
    };
    let mut tx = start(t0, config, false);
    let (sends, timed_out_at) = run_without_response(t0, &mut tx);
    assert_eq!(sends, [0]);
    assert_eq!(timed_out_at, 600);
}

#[test]
fn reliable_transport_sends_once_and_times_out_after_ti() {
    let t0 = Instant::now();
    let mut tx = start(t0, RetransmitConfig::default(), true);
    let (sends, timed_out_at) = run_without_response(t0, &mut tx);
    // RFC 8489 §6.2.2: no retransmission over TCP; Ti = 39.5 s.
    assert_eq!(sends, [0]);
    assert_eq!(timed_out_at, 39500);
    assert_eq!(tx.sends(), 1);
}

#[test]
fn matching_response_ends_the_transaction() {
    let t0 = Instant::now();
    let mut tx = start(t0, RetransmitConfig::default(), false);
    assert!(tx.poll_transmit().is_some());
    tx.handle_timeout(t0 + Duration::from_millis(500));
    assert!(tx.poll_transmit().is_some());
    assert_eq!(tx.handle_response(success(ID)), Ok(()));
    assert!(tx.is_done());
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.poll_transmit(), None);
    assert_eq!(tx.poll_outcome(), Some(Outcome::Response(success(ID))));
    assert_eq!(tx.poll_outcome(), None);
    assert_eq!(tx.sends(), 2);
    // Later timers do nothing.
    tx.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(tx.poll_transmit(), None);
    assert_eq!(tx.poll_outcome(), None);
}

#[test]
fn error_response_is_an_outcome_too() {
    let t0 = Instant::now();
    let mut tx = start(t0, RetransmitConfig::default(), false);
    let error = Message::new(Class::Error, Method::Binding, ID).with(Attribute::ErrorCode {
        code: 401,
        reason: "Unauthorized".into(),
    });
    assert_eq!(tx.handle_response(error.clone()), Ok(()));
    assert_eq!(tx.poll_outcome(), Some(Outcome::Response(error)));
}

#[test]
fn mismatched_messages_are_handed_back_unchanged() {
    let t0 = Instant::now();
    let mut tx = start(t0, RetransmitConfig::default(), false);
    assert!(tx.poll_transmit().is_some());

    let other_id = success(TransactionId([8; 12]));
    assert_eq!(tx.handle_response(other_id.clone()), Err(other_id));
    // Same ID but a request (e.g. our own request reflected back) is not a response.
    let reflected = request();
    assert_eq!(tx.handle_response(reflected.clone()), Err(reflected));
    let wrong_method = Message::new(Class::Success, Method::Allocate, ID);
    assert_eq!(tx.handle_response(wrong_method.clone()), Err(wrong_method));

    assert!(!tx.is_done());
    assert_eq!(tx.poll_outcome(), None);
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(500)));
}

#[test]
fn response_after_timeout_is_ignored() {
    let t0 = Instant::now();
    let mut tx = start(t0, RetransmitConfig::default(), false);
    let (_, timed_out_at) = run_without_response(t0, &mut tx);
    assert_eq!(timed_out_at, 39500);
    assert_eq!(tx.handle_response(success(ID)), Ok(()));
    assert_eq!(
        tx.poll_outcome(),
        None,
        "TimedOut was already reported; the response changes nothing"
    );
    assert!(tx.is_done());

    // Before the outcome is polled, a late response does not replace TimedOut either.
    let mut tx = start(t0, RetransmitConfig::default(), false);
    tx.handle_timeout(t0 + Duration::from_secs(40));
    assert_eq!(tx.handle_response(success(ID)), Ok(()));
    assert_eq!(tx.poll_outcome(), Some(Outcome::TimedOut));
}

#[test]
fn late_caller_gets_one_send_and_the_schedule_does_not_drift() {
    let t0 = Instant::now();
    let mut tx = start(t0, RetransmitConfig::default(), false);
    assert!(tx.poll_transmit().is_some());
    // Called only at 4 s: the 500, 1500 and 3500 ms sends collapse into one.
    tx.handle_timeout(t0 + Duration::from_millis(4000));
    assert!(tx.poll_transmit().is_some());
    assert_eq!(tx.poll_transmit(), None);
    assert_eq!(tx.sends(), 2);
    // The next send stays at 7500 ms, and failure at 39.5 s.
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(7500)));
    tx.handle_timeout(t0 + Duration::from_millis(39500));
    assert_eq!(tx.poll_outcome(), Some(Outcome::TimedOut));
}
