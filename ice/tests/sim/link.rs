//! What a link does to a datagram: delay, jitter, loss, duplication and reordering.
//!
//! Conditions apply to the uplink of a host (datagrams it sends) and to the wan side of a NAT
//! (datagrams it forwards to the internet). Every random choice comes from the network's seeded
//! RNG, so one seed always gives the same fates in the same order.

use std::time::Duration;

use rand::Rng;

/// Extra hold-back for a datagram picked for reordering: later datagrams sent within this window
/// (plus the link's delay and jitter) overtake it.
pub const REORDER_HOLD_BACK: Duration = Duration::from_millis(5);

/// Conditions of one link direction. `loss`, `duplicate` and `reorder` are probabilities in
/// `0.0..=1.0`; `jitter` is a uniform extra delay in `0..=jitter`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkConditions {
    pub delay: Duration,
    pub jitter: Duration,
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
}

impl LinkConditions {
    /// No delay, no loss: datagrams arrive at the instant they are sent, in order.
    pub fn ideal() -> Self {
        Self::default()
    }

    /// A fixed one-way delay and nothing else.
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    fn is_ideal(&self) -> bool {
        *self == Self::default()
    }
}

/// The fate of one datagram on a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkFate {
    /// One entry per copy that arrives: its delay after the send. Empty when lost.
    pub arrivals: Vec<Duration>,
    pub lost: bool,
    pub duplicated: bool,
    /// Held back by [`REORDER_HOLD_BACK`] so that later datagrams overtake it.
    pub held_back: bool,
}

/// Decide the fate of one datagram. An ideal link draws nothing from the RNG, so adding an
/// ideal link never changes the fates drawn for the others.
pub fn sample_fate<R: Rng + ?Sized>(link: &LinkConditions, rng: &mut R) -> LinkFate {
    if link.is_ideal() {
        return LinkFate {
            arrivals: vec![Duration::ZERO],
            ..LinkFate::default()
        };
    }
    let mut fate = LinkFate::default();
    if link.loss > 0.0 && rng.random::<f64>() < link.loss {
        fate.lost = true;
        return fate;
    }
    let copies = if link.duplicate > 0.0 && rng.random::<f64>() < link.duplicate {
        fate.duplicated = true;
        2
    } else {
        1
    };
    for _ in 0..copies {
        let mut delay = link.delay + jitter(link.jitter, rng);
        if link.reorder > 0.0 && rng.random::<f64>() < link.reorder {
            fate.held_back = true;
            delay += REORDER_HOLD_BACK;
        }
        fate.arrivals.push(delay);
    }
    fate
}

fn jitter<R: Rng + ?Sized>(max: Duration, rng: &mut R) -> Duration {
    let max_micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    if max_micros == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(rng.random_range(0..=max_micros))
}
