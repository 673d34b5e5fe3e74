//! SIP timer values (RFC 3261 §17, Table 4) and the pure timing rules that sit above the
//! transaction layer: registration refresh, outbound flow recovery and keepalives
//! (RFC 5626), glare back-off (RFC 3261 §14.1, RFC 3311).
//!
//! Everything here is data in, durations out: no clock and no sleeping.

pub mod glare;
pub mod outbound;
pub mod registration;

use std::time::Duration;

/// RFC 3261 §17.1.1.2: Timer D is "at least 32 seconds" on unreliable transports, whatever T1 is.
pub const TIMER_D_UNRELIABLE: Duration = Duration::from_secs(32);

/// Whether the transport that carries a transaction retransmits for us (TCP, TLS, SCTP) or
/// not (UDP). RFC 3261 §17: retransmission timers only run on unreliable transports and the
/// "wait for retransmissions" timers (D, I, J, K) are zero on reliable ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// UDP: the transaction retransmits and absorbs retransmissions.
    Unreliable,
    /// TCP / TLS / SCTP: the transport delivers or reports an error.
    Reliable,
}

impl Reliability {
    /// True for UDP-like transports.
    pub fn is_unreliable(self) -> bool {
        self == Reliability::Unreliable
    }
}

/// The three base timer values of RFC 3261 §17 (Table 4). Every other timer derives from
/// them, so tests can shrink them and a deployment can tune them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        // RFC 3261 §17.1.1.1: T1 500 ms, T2 4 s, T4 5 s.
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1, the common transaction timeout (Timers B, F, H, J, L, M).
    pub fn sixty_four_t1(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer A: initial INVITE retransmission interval = T1 (UDP only).
    pub fn timer_a(&self) -> Duration {
        self.t1
    }

    /// Timer B: INVITE transaction timeout = 64·T1.
    pub fn timer_b(&self) -> Duration {
        self.sixty_four_t1()
    }

    /// Timer D: wait for response retransmissions = ≥32 s on UDP, 0 on reliable.
    pub fn timer_d(&self, transport: Reliability) -> Duration {
        match transport {
            Reliability::Unreliable => TIMER_D_UNRELIABLE,
            Reliability::Reliable => Duration::ZERO,
        }
    }

    /// Timer E: initial non-INVITE retransmission interval = T1 (UDP only).
    pub fn timer_e(&self) -> Duration {
        self.t1
    }

    /// Timer F: non-INVITE transaction timeout = 64·T1.
    pub fn timer_f(&self) -> Duration {
        self.sixty_four_t1()
    }

    /// Timer G: initial INVITE final-response retransmission interval = T1 (UDP only).
    pub fn timer_g(&self) -> Duration {
        self.t1
    }

    /// Timer H: wait for the ACK = 64·T1.
    pub fn timer_h(&self) -> Duration {
        self.sixty_four_t1()
    }

    /// Timer I: wait for ACK retransmissions = T4 on UDP, 0 on reliable.
    pub fn timer_i(&self, transport: Reliability) -> Duration {
        self.t4_or_zero(transport)
    }

    /// Timer J: wait for non-INVITE request retransmissions = 64·T1 on UDP, 0 on reliable.
    pub fn timer_j(&self, transport: Reliability) -> Duration {
        match transport {
            Reliability::Unreliable => self.sixty_four_t1(),
            Reliability::Reliable => Duration::ZERO,
        }
    }

    /// Timer K: wait for response retransmissions = T4 on UDP, 0 on reliable.
    pub fn timer_k(&self, transport: Reliability) -> Duration {
        self.t4_or_zero(transport)
    }

    /// Timer L (RFC 6026 §7.1): INVITE server waits in Accepted = 64·T1.
    pub fn timer_l(&self) -> Duration {
        self.sixty_four_t1()
    }

    /// Timer M (RFC 6026 §7.2): INVITE client waits in Accepted = 64·T1.
    pub fn timer_m(&self) -> Duration {
        self.sixty_four_t1()
    }

    fn t4_or_zero(&self, transport: Reliability) -> Duration {
        match transport {
            Reliability::Unreliable => self.t4,
            Reliability::Reliable => Duration::ZERO,
        }
    }
}
