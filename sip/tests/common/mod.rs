//! Virtual-time helpers shared by the transaction tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::transaction::{
    Action, InviteClient, InviteServer, NonInviteClient, NonInviteServer, TwoXxRetransmitter,
};

/// Anything with the sans-IO timer interface.
pub trait Timed {
    fn next_timeout(&self) -> Option<Instant>;
    fn fire(&mut self, now: Instant) -> Vec<Action>;
}

macro_rules! timed {
    ($($t:ty),*) => {$(
        impl Timed for $t {
            fn next_timeout(&self) -> Option<Instant> { self.poll_timeout() }
            fn fire(&mut self, now: Instant) -> Vec<Action> { self.handle_timeout(now) }
        }
    )*};
}
timed!(
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
    TwoXxRetransmitter
);

/// Fire every timeout up to and including `until`, exactly at the instant the machine asks
/// for, and record `(offset from t0, action)`.
pub fn run_until<T: Timed>(txn: &mut T, t0: Instant, until: Instant) -> Vec<(Duration, Action)> {
    let mut log = Vec::new();
    // A step limit guards against a machine that never advances its deadline.
    for _ in 0..10_000 {
        let Some(at) = txn.next_timeout() else { break };
        if at > until {
            break;
        }
        for action in txn.fire(at) {
            log.push((at - t0, action));
        }
    }
    log
}

/// Offsets (in ms) of every `Transmit` in a log.
pub fn transmit_offsets_ms(log: &[(Duration, Action)]) -> Vec<u128> {
    log.iter()
        .filter(|(_, a)| matches!(a, Action::Transmit(_)))
        .map(|(at, _)| at.as_millis())
        .collect()
}

/// Non-transmit actions with their offsets in ms.
pub fn other_actions(log: &[(Duration, Action)]) -> Vec<(u128, Action)> {
    log.iter()
        .filter(|(_, a)| !matches!(a, Action::Transmit(_)))
        .map(|(at, a)| (at.as_millis(), a.clone()))
        .collect()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn bytes(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}
