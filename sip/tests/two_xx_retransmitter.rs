//! UAS 2xx retransmission (RFC 3261 §13.3.1.4).

mod common;

use std::time::{Duration, Instant};

use common::{bytes, ms, other_actions, run_until, transmit_offsets_ms};
use sip::transaction::{Action, TimeoutKind, TimerConfig, TwoXxRetransmitter};

#[test]
fn retransmits_t1_doubling_to_t2_then_gives_up_after_64_t1() {
    let t0 = Instant::now();
    let mut r = TwoXxRetransmitter::new(t0, bytes("200"), TimerConfig::default());
    let log = run_until(&mut r, t0, t0 + Duration::from_secs(60));
    assert_eq!(
        transmit_offsets_ms(&log),
        vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    // No ACK within 64·T1 → the TU should send BYE.
    assert_eq!(
        other_actions(&log),
        vec![
            (32_000, Action::Timeout(TimeoutKind::NoAckFor2xx)),
            (32_000, Action::Terminated)
        ]
    );
    assert!(r.is_done());
}

#[test]
fn ack_stops_retransmissions() {
    let t0 = Instant::now();
    let mut r = TwoXxRetransmitter::new(t0, bytes("200"), TimerConfig::default());
    let log = run_until(&mut r, t0, t0 + ms(2000));
    assert_eq!(transmit_offsets_ms(&log), vec![500, 1500]);
    assert_eq!(r.on_ack(), vec![Action::Terminated]);
    assert_eq!(r.poll_timeout(), None);
    assert!(r.handle_timeout(t0 + Duration::from_secs(40)).is_empty());
    assert!(r.on_ack().is_empty());
}
